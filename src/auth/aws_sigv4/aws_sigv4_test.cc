#include "auth/aws_sigv4/aws_sigv4.h"

#include <ctime>

#include "crypto/crypto.h"
#include "gtest/gtest.h"

namespace sluice::auth {
namespace {

using aws_sigv4_internal::CanonicalQuery;
using aws_sigv4_internal::CanonicalUri;
using aws_sigv4_internal::Credentials;
using aws_sigv4_internal::Request;

// AWS's published SigV4 test suite (aws-sig-v4-test-suite) parameters.
constexpr char kAccessKeyId[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kAmzDate[] = "20150830T123600Z";
constexpr int64_t kSuiteTime = 1440938160;  // 2015-08-30T12:36:00Z
constexpr char kStsToken[] =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRq"
    "TflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp7"
    "5YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn"
    "9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

struct SuiteCase {
  const char* name;
  const char* method;
  const char* path;
  std::vector<std::pair<std::string, std::string>> extra_headers;  // besides Host, X-Amz-Date
  const char* body;
  const char* signed_headers;
  const char* signature;
};

const std::vector<SuiteCase>& SuiteCases() {
  static const auto* cases = new std::vector<SuiteCase>{
      {"get-vanilla", "GET", "/", {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"post-vanilla", "POST", "/", {}, "", "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", {}, "", "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-key", "GET", "/?Param1=value2&Param1=Value1", {}, "", "host;x-amz-date",
       "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
      {"get-vanilla-query-order-value", "GET", "/?Param1=value2&Param1=value1", {}, "", "host;x-amz-date",
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-query-unreserved", "GET",
       "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {}, "", "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query", "GET", "/?\xE1\x88\xB4=bar", {}, "", "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-vanilla-empty-query-key", "GET", "/?Param1=value1", {}, "", "host;x-amz-date",
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"post-vanilla-empty-query-value", "POST", "/?Param1=value1", {}, "", "host;x-amz-date",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"get-header-key-duplicate", "GET", "/",
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, "",
       "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order", "GET", "/",
       {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}},
       "", "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim", "GET", "/", {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}}, "",
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, "",
       "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8", "GET", "/\xE1\x88\xB4", {}, "", "host;x-amz-date",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"post-header-key-sort", "POST", "/", {{"My-Header1", "value1"}}, "", "host;my-header1;x-amz-date",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case", "POST", "/", {{"My-Header1", "VALUE1"}}, "", "host;my-header1;x-amz-date",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"post-x-www-form-urlencoded", "POST", "/", {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1", "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"post-x-www-form-urlencoded-parameters", "POST", "/",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}}, "Param1=value1",
       "content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
      {"post-sts-header-before", "POST", "/", {{"X-Amz-Security-Token", kStsToken}}, "",
       "host;x-amz-date;x-amz-security-token",
       "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
      // normalize-path/
      {"get-relative", "GET", "/example/..", {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-relative-relative", "GET", "/example1/example2/../..", {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash", "GET", "//", {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash-dot-slash", "GET", "/./", {}, "", "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash-pointless-dot", "GET", "/./example", {}, "", "host;x-amz-date",
       "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {"get-slashes", "GET", "//example//", {}, "", "host;x-amz-date",
       "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-space", "GET", "/example space/", {}, "", "host;x-amz-date",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
  };
  return *cases;
}

TEST(AwsSigV4SuiteTest, PublishedVectors) {
  for (const SuiteCase& c : SuiteCases()) {
    Request req;
    req.method = c.method;
    req.path_and_query = c.path;
    req.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kAmzDate}};
    for (const auto& h : c.extra_headers) req.headers.push_back(h);
    req.body = c.body;
    auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "service", kAmzDate);
    EXPECT_EQ(sig.signed_headers, c.signed_headers) << c.name;
    EXPECT_EQ(sig.signature, c.signature) << c.name << "\n" << sig.canonical_request;
    EXPECT_EQ(sig.authorization,
              std::string("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                          "SignedHeaders=") + c.signed_headers + ", Signature=" + c.signature)
        << c.name;
  }
}

TEST(AwsSigV4SuiteTest, CanonicalRequestOfFormPost) {  // post-x-www-form-urlencoded.creq
  Request req;
  req.method = "POST";
  req.path_and_query = "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Host", "example.amazonaws.com"},
                 {"X-Amz-Date", kAmzDate}};
  req.body = "Param1=value1";
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "service", kAmzDate);
  EXPECT_EQ(sig.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
}

// The IAM user-guide worked example (ListUsers), service "iam".
TEST(AwsSigV4SuiteTest, IamWorkedExample) {
  Request req;
  req.method = "GET";
  req.path_and_query = "/?Action=ListUsers&Version=2010-05-08";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"Host", "iam.amazonaws.com"},
                 {"X-Amz-Date", kAmzDate}};
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "iam", kAmzDate);
  EXPECT_EQ(crypto::Sha256Hex(sig.canonical_request),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(sig.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
  // The documented signing key, as a cross-check of the HMAC chain.
  std::string k = crypto::HmacSha256(std::string("AWS4") + kSecret, "20150830");
  k = crypto::HmacSha256(crypto::HmacSha256(crypto::HmacSha256(k, "us-east-1"), "iam"), "aws4_request");
  EXPECT_EQ(crypto::HexEncode(k), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

config::BackendAuth SuiteAuth(std::string session_token = "") {
  config::BackendAuth a;
  a.type = config::BackendAuth::Type::kAWS;
  a.aws_access_key_id = kAccessKeyId;
  a.aws_secret_access_key = kSecret;
  a.aws_session_token = std::move(session_token);
  a.aws_region = "us-east-1";
  return a;
}

std::unique_ptr<BackendSigner> SuiteSigner(std::string session_token = "") {
  aws_sigv4_internal::SignerOptions o;
  o.service = "service";
  o.send_content_sha256 = false;
  o.clock = [] { return kSuiteTime; };
  auto s = aws_sigv4_internal::NewAwsSigV4SignerWithOptions(SuiteAuth(std::move(session_token)), o);
  EXPECT_TRUE(s.ok());
  return std::move(*s);
}

std::string Header(const http::HeaderMutation& m, std::string_view name) {
  for (const auto& [n, v] : m.set)
    if (n == name) return v;
  return "<absent>";
}

// The whole signer (clock, header choice) against the suite.
TEST(AwsSigV4SignerTest, SuiteThroughTheSigner) {
  http::HeaderMap none;
  auto m = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", none, ""});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Header(*m, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  EXPECT_EQ(Header(*m, "x-amz-date"), kAmzDate);
  EXPECT_EQ(Header(*m, "x-amz-security-token"), "<absent>");
  EXPECT_EQ(Header(*m, "x-amz-content-sha256"), "<absent>");

  http::HeaderMap form;
  form.Add("content-type", "application/x-www-form-urlencoded");
  form.Add("x-unsigned", "ignored");  // only content-type is taken from the request
  m = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", form, "Param1=value1"});
  ASSERT_TRUE(m.ok());
  EXPECT_NE(Header(*m, "authorization")
                .find("SignedHeaders=content-type;host;x-amz-date, "
                      "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
            std::string::npos);

  m = SuiteSigner(kStsToken)->Sign({"POST", "example.amazonaws.com", "/", none, ""});
  ASSERT_TRUE(m.ok());
  EXPECT_NE(Header(*m, "authorization")
                .find("SignedHeaders=host;x-amz-date;x-amz-security-token, "
                      "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
            std::string::npos);
  EXPECT_EQ(Header(*m, "x-amz-security-token"), kStsToken);
}

// The pipeline hands the signer the client's headers plus the mutation still to be applied:
// the signature must cover the headers as sent, not as received.
TEST(AwsSigV4SignerTest, SignsHeadersAsTheyWillBeSentWithAPendingMutation) {
  http::HeaderMap final_form;
  final_form.Add("content-type", "application/x-www-form-urlencoded");
  auto want = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", final_form, "Param1=value1"});
  ASSERT_TRUE(want.ok());

  http::HeaderMap client;  // what the client sent: another content type, twice
  client.Add("content-type", "text/plain");
  client.Add("content-type", "text/html");
  http::HeaderMutation replace;
  replace.Set("Content-Type", "application/x-www-form-urlencoded");
  auto got = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", client, "Param1=value1", &replace});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Header(*got, "authorization"), Header(*want, "authorization"));

  http::HeaderMutation drop;  // removed and not set again: not signed at all
  drop.Remove("content-type");
  got = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", client, "", &drop});
  ASSERT_TRUE(got.ok());
  EXPECT_NE(Header(*got, "authorization").find("SignedHeaders=host;x-amz-date, "), std::string::npos);

  http::HeaderMutation unrelated;  // untouched by the mutation: every client value is signed
  unrelated.Set("x-other", "1");
  got = SuiteSigner()->Sign({"POST", "example.amazonaws.com", "/", client, "", &unrelated});
  ASSERT_TRUE(got.ok());
  aws_sigv4_internal::Request req;
  req.method = "POST";
  req.path_and_query = "/";
  req.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", kAmzDate}, {"content-type", "text/plain"},
                 {"content-type", "text/html"}};
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "service", kAmzDate);
  EXPECT_EQ(Header(*got, "authorization"), sig.authorization);
}

TEST(AwsSigV4Test, CanonicalUriDoubleEncodesBedrockModelIds) {
  EXPECT_EQ(CanonicalUri("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse");
  EXPECT_EQ(CanonicalUri("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/invoke"),
            "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Ainference-profile%252Fus.x/invoke");
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/a/b/"), "/a/b/");
}

// Paths that need normalising and paths that do not (which skip building a segment list).
TEST(AwsSigV4Test, CanonicalUriNormalisesDotAndEmptySegments) {
  const std::pair<const char*, const char*> cases[] = {
      {"/", "/"},
      {"//", "/"},
      {"/./", "/"},
      {"/..", "/"},
      {"/a//b", "/a/b"},
      {"/a/./b", "/a/b"},
      {"/a/../b", "/b"},
      {"/a/b/.", "/a/b"},
      {"/a/b/..", "/a"},
      {"/a/b/../", "/a/"},
      {"/../a", "/a"},
      {"a/b", "/a/b"},
      {"a", "/a"},
      {"/a/b/", "/a/b/"},
      {"/a/b//", "/a/b/"},
      {"/.a/..b/...", "/.a/..b/..."},
      {"/a b/c:d/~x_y-z.", "/a%20b/c%3Ad/~x_y-z."},
  };
  for (const auto& [path, want] : cases) EXPECT_EQ(CanonicalUri(path), want) << path;
}

// Names lower-cased and sorted stably; values trimmed with inner blank runs collapsed;
// repeated names joined with ',' (none before a value when everything before it was empty).
TEST(AwsSigV4Test, CanonicalHeaders) {
  Request req;
  req.method = "GET";
  req.path_and_query = "/";
  req.headers = {{"X-B", "  a \t b\t\tc  "}, {"x-a", ""}, {"Host", "h"}, {"X-A", "one"}, {"x-A", " two "},
                 {"X-C", "\t"}, {"x-d", "x\r\ny"}};
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "service", kAmzDate);
  EXPECT_EQ(sig.canonical_request,
            "GET\n/\n\nhost:h\nx-a:one,two\nx-b:a b c\nx-c:\nx-d:x\r\ny\n\nhost;x-a;x-b;x-c;x-d\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AwsSigV4Test, CanonicalQuery) {
  EXPECT_EQ(CanonicalQuery(""), "");
  EXPECT_EQ(CanonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(CanonicalQuery("flag&x=a%3Ab"), "flag=&x=a%3Ab");  // decoded once, encoded once
  EXPECT_EQ(CanonicalQuery("k=a b"), "k=a%20b");
}

TEST(AwsSigV4Test, AmzDate) {
  EXPECT_EQ(aws_sigv4_internal::AmzDate(kSuiteTime), kAmzDate);
  EXPECT_EQ(aws_sigv4_internal::AmzDate(0), "19700101T000000Z");
  EXPECT_EQ(aws_sigv4_internal::AmzDate(951782400), "20000229T000000Z");
  EXPECT_EQ(aws_sigv4_internal::AmzDate(4102444799), "20991231T235959Z");
  EXPECT_EQ(aws_sigv4_internal::AmzDate(-1), "19691231T235959Z");
}

// The arithmetic formatter against the C library, every 7919 s (a prime, so every time of
// day comes up) from 1900 to 2200, plus the edges where it hands over to strftime.
TEST(AwsSigV4Test, AmzDateMatchesStrftime) {
  auto reference = [](int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    return std::string(buf, std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm));
  };
  for (int64_t t = -2208988800; t < 7258118400; t += 7919) {
    ASSERT_EQ(aws_sigv4_internal::AmzDate(t), reference(t)) << t;
  }
  for (int64_t t : {int64_t{-30610224001}, int64_t{-30610224000}, int64_t{253402300799}, int64_t{253402300800}}) {
    EXPECT_EQ(aws_sigv4_internal::AmzDate(t), reference(t)) << t;
  }
}

TEST(AwsSigV4SignerTest, BedrockRequest) {
  config::BackendAuth auth = SuiteAuth("session-token");
  auth.aws_region = "us-west-2";
  auto signer = NewAwsSigV4Signer(auth, [] { return kSuiteTime; });
  ASSERT_TRUE(signer.ok()) << signer.status();
  http::HeaderMap h;
  h.Add("content-type", "application/json");
  h.Add("x-ai-eg-model", "claude");
  std::string body = R"({"messages":[]})";
  std::string path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";
  auto m = (*signer)->Sign({"POST", "bedrock-runtime.us-west-2.amazonaws.com", path, h, body});
  ASSERT_TRUE(m.ok()) << m.status();
  // As Envoy AI Gateway signs for Bedrock: authorization, x-amz-date, x-amz-security-token.
  EXPECT_EQ(m->set.size(), 3u);
  EXPECT_EQ(Header(*m, "x-amz-content-sha256"), "<absent>");
  EXPECT_EQ(Header(*m, "x-amz-security-token"), "session-token");
  EXPECT_EQ(Header(*m, "x-amz-date"), kAmzDate);

  // The same signature from the pure function, with the canonical request spelled out.
  Request req;
  req.method = "POST";
  req.path_and_query = path;
  req.body = body;
  req.headers = {{"content-type", "application/json"},
                 {"host", "bedrock-runtime.us-west-2.amazonaws.com"},
                 {"x-amz-date", kAmzDate},
                 {"x-amz-security-token", "session-token"}};
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-west-2", "bedrock", kAmzDate);
  EXPECT_EQ(sig.canonical_request,
            "POST\n/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse\n\n"
            "content-type:application/json\nhost:bedrock-runtime.us-west-2.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\nx-amz-security-token:session-token\n\n"
            "content-type;host;x-amz-date;x-amz-security-token\n" + crypto::Sha256Hex(body));
  EXPECT_EQ(Header(*m, "authorization"), sig.authorization);
  EXPECT_NE(sig.authorization.find("Credential=AKIDEXAMPLE/20150830/us-west-2/bedrock/aws4_request"),
            std::string::npos);
}

// With send_content_sha256 (S3-style), the body's hash is sent and signed as well.
TEST(AwsSigV4SignerTest, ContentSha256WhenAskedFor) {
  aws_sigv4_internal::SignerOptions o;
  o.send_content_sha256 = true;
  o.clock = [] { return kSuiteTime; };
  auto signer = aws_sigv4_internal::NewAwsSigV4SignerWithOptions(SuiteAuth(""), o);
  ASSERT_TRUE(signer.ok());
  http::HeaderMap none;
  std::string body = "{}";
  auto m = (*signer)->Sign({"POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", none, body});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Header(*m, "x-amz-content-sha256"), crypto::Sha256Hex(body));
  Request req;
  req.method = "POST";
  req.path_and_query = "/model/m/converse";
  req.body = body;
  req.headers = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
                 {"x-amz-content-sha256", crypto::Sha256Hex(body)},
                 {"x-amz-date", kAmzDate}};
  auto sig = aws_sigv4_internal::Sign(req, Credentials{kAccessKeyId, kSecret}, "us-east-1", "bedrock", kAmzDate);
  EXPECT_EQ(Header(*m, "authorization"), sig.authorization);
  EXPECT_NE(sig.authorization.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"), std::string::npos);
}

TEST(AwsSigV4SignerTest, ClockDrivesTheDate) {
  int64_t now = kSuiteTime;
  auto signer = NewAwsSigV4Signer(SuiteAuth(), [&now] { return now; });
  ASSERT_TRUE(signer.ok());
  http::HeaderMap h;
  auto a = (*signer)->Sign({"POST", "h", "/", h, ""});
  now += 86400;
  auto b = (*signer)->Sign({"POST", "h", "/", h, ""});
  EXPECT_EQ(Header(*a, "x-amz-date"), "20150830T123600Z");
  EXPECT_EQ(Header(*b, "x-amz-date"), "20150831T123600Z");
  EXPECT_NE(Header(*a, "authorization"), Header(*b, "authorization"));
}

TEST(AwsSigV4SignerTest, DefaultClockIsNow) {
  auto signer = NewAwsSigV4Signer(SuiteAuth());
  ASSERT_TRUE(signer.ok());
  http::HeaderMap h;
  auto m = (*signer)->Sign({"POST", "h", "/", h, ""});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Header(*m, "x-amz-date").size(), 16u);
  EXPECT_GT(Header(*m, "x-amz-date"), "2024");
}

TEST(AwsSigV4SignerTest, MissingFieldsAreRejectedWithoutSecrets) {
  config::BackendAuth a = SuiteAuth("tok");
  a.aws_region.clear();
  auto s = NewAwsSigV4Signer(a);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find("region"), std::string::npos);
  a = SuiteAuth();
  a.aws_access_key_id.clear();
  EXPECT_EQ(NewAwsSigV4Signer(a).status().code(), absl::StatusCode::kInvalidArgument);
  a = SuiteAuth();
  a.aws_secret_access_key.clear();
  s = NewAwsSigV4Signer(a);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  for (const config::BackendAuth& bad : {SuiteAuth()}) {
    config::BackendAuth b = bad;
    b.aws_region.clear();
    std::string msg(NewAwsSigV4Signer(b).status().message());
    EXPECT_EQ(msg.find(kSecret), std::string::npos);
    EXPECT_EQ(msg.find(kAccessKeyId), std::string::npos);
  }
}

}  // namespace
}  // namespace sluice::auth
