#include "auth/gcp_credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "auth/credential_test_util.h"
#include "auth/gcp/testdata.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "crypto/test_cert.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::auth {
namespace {

using credtest::Env;
using credtest::FakeHttp;
using credtest::TempDir;

constexpr int64_t kNow = 1794990000;  // 2026-11-18T08:20:00Z
constexpr std::string_view kMetadataPath =
    "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform";

using gcptest::ReadTestdata;

HttpResponse TokenAnswer(std::string_view token, int expires_in = 3599) {
  return HttpResponse{200, StrCat(R"({"access_token":")", token, R"(","expires_in":)", expires_in,
                                  R"(,"token_type":"Bearer"})")};
}
// What Google's metadata server answers: with its Metadata-Flavor header.
HttpResponse MetadataAnswer(HttpResponse r) {
  r.headers.emplace_back("metadata-flavor", "Google");
  return r;
}

// The form fields of an x-www-form-urlencoded body, decoded.
std::map<std::string, std::string> Form(std::string_view body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        r.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        r.push_back(s[i] == '+' ? ' ' : s[i]);
      }
    }
    return r;
  };
  while (!body.empty()) {
    std::string_view pair = body.substr(0, body.find('&'));
    body.remove_prefix(std::min(body.size(), pair.size() + 1));
    size_t eq = pair.find('=');
    out[decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
  }
  return out;
}

std::string Msg(const absl::Status& s) { return std::string(ToStd(s.message())); }

TEST(GcpDefaultCredentialsTest, ServiceAccountKeyNamedByTheEnvironment) {
  TempDir dir;
  json::Value key = json::Value::Object();
  key.Set("type", json::Value::String("service_account"));
  key.Set("client_email", json::Value::String("sa@p.iam.gserviceaccount.com"));
  key.Set("private_key", json::Value::String(ReadTestdata("test_key.pem")));
  key.Set("token_uri", json::Value::String("https://oauth2.test/token"));
  std::string file = dir.Write("sa.json", json::Serialize(key));
  FakeHttp http;
  http.answers["POST https://oauth2.test/token"] = TokenAnswer("ya29.from-key");
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.from-key");
  EXPECT_EQ(t->expires_at, kNow + 3599);
  ASSERT_EQ(http.seen.size(), 1u);
  auto form = Form(http.seen[0].body);
  EXPECT_EQ(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
  // The assertion is signed by the key's private key and names the key's account.
  std::string jwt = form["assertion"];
  size_t dot2 = jwt.rfind('.');
  ASSERT_NE(dot2, std::string::npos);
  std::string sig = jwt.substr(dot2 + 1);
  for (char& c : sig) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (sig.size() % 4) sig.push_back('=');
  auto raw = crypto::Base64Decode(sig);
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(crypto::RsaSha256Verify(ReadTestdata("test_key.pub.pem"), jwt.substr(0, dot2), *raw));
}

// What `gcloud auth application-default login` writes: a refresh token, exchanged at Google's
// token endpoint. Found in gcloud's config directory when GOOGLE_APPLICATION_CREDENTIALS is unset.
TEST(GcpDefaultCredentialsTest, GcloudUserLoginUsesTheRefreshTokenGrant) {
  TempDir dir;
  dir.Write("application_default_credentials.json",
            R"({"type":"authorized_user","client_id":"cid.apps.googleusercontent.com","client_secret":"d-SECRET",)"
            R"("refresh_token":"1//REFRESH","quota_project_id":"qp"})");
  FakeHttp http;
  http.answers["POST https://oauth2.googleapis.com/token"] = TokenAnswer("ya29.user", 3000);
  auto t = NewGcpDefaultCredentialsMinter(Env({{"CLOUDSDK_CONFIG", dir.path()}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  // The token, then the login's quota project (sent as x-goog-user-project), as Google's
  // libraries do; GOOGLE_CLOUD_QUOTA_PROJECT overrides it.
  EXPECT_EQ(t->value, "ya29.user\nqp");
  auto env_quota = NewGcpDefaultCredentialsMinter(
      Env({{"CLOUDSDK_CONFIG", dir.path()}, {"GOOGLE_CLOUD_QUOTA_PROJECT", "billing-proj"}}))(http, kNow);
  ASSERT_TRUE(env_quota.ok()) << env_quota.status();
  EXPECT_EQ(env_quota->value, "ya29.user\nbilling-proj");
  EXPECT_EQ(t->expires_at, kNow + 3000);
  ASSERT_EQ(http.seen.size(), 2u);  // one refresh grant per mint
  auto form = Form(http.seen[0].body);
  EXPECT_EQ(form["grant_type"], "refresh_token");
  EXPECT_EQ(form["client_id"], "cid.apps.googleusercontent.com");
  EXPECT_EQ(form["client_secret"], "d-SECRET");
  EXPECT_EQ(form["refresh_token"], "1//REFRESH");

  // Under HOME when CLOUDSDK_CONFIG is unset; a revoked login is an error naming Google's reason
  // and never the refresh token or client secret.
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.config/gcloud");
  std::filesystem::copy_file(dir.path() + "/application_default_credentials.json",
                             home.path() + "/.config/gcloud/application_default_credentials.json");
  http.answers["POST https://oauth2.googleapis.com/token"] =
      HttpResponse{400, R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})"};
  auto bad = NewGcpDefaultCredentialsMinter(Env({{"HOME", home.path()}}))(http, kNow);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(Msg(bad.status()).find("invalid_grant"), std::string::npos) << bad.status();
  EXPECT_NE(Msg(bad.status()).find("expired or revoked"), std::string::npos) << bad.status();
  EXPECT_EQ(Msg(bad.status()).find("REFRESH"), std::string::npos) << bad.status();
  EXPECT_EQ(Msg(bad.status()).find("SECRET"), std::string::npos) << bad.status();
}

// Workload identity federation (e.g. from EKS or AKS): a projected token from a file, exchanged
// at Google's STS, then for the impersonated service account's token.
TEST(GcpDefaultCredentialsTest, ExternalAccountExchangesTheSubjectTokenAndImpersonates) {
  TempDir dir;
  std::string subject = dir.Write("token", "eyJ.SUBJECT.sig\n");
  std::string file = dir.Write(
      "wif.json",
      StrCat(R"({"type":"external_account","audience":"//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",)"
             R"("subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"https://sts.test/v1/token",)"
             R"("service_account_impersonation_url":"https://iamcredentials.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",)"
             R"("service_account_impersonation":{"token_lifetime_seconds":1800},)"
             R"("credential_source":{"file":")", subject, R"(","format":{"type":"text"}}})"));
  FakeHttp http;
  http.answers["POST https://sts.test/v1/token"] = HttpResponse{
      200, R"({"access_token":"sts.FEDERATED","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600})"};
  http.answers["POST https://iamcredentials.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"] =
      HttpResponse{200, R"({"accessToken":"ya29.impersonated","expireTime":"2026-11-18T08:50:00Z"})"};
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.impersonated");
  EXPECT_EQ(t->expires_at, kNow + 1800);
  ASSERT_EQ(http.seen.size(), 2u);
  auto form = Form(http.seen[0].body);
  EXPECT_EQ(form["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
  EXPECT_EQ(form["audience"], "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov");
  EXPECT_EQ(form["subject_token"], "eyJ.SUBJECT.sig");
  EXPECT_EQ(form["subject_token_type"], "urn:ietf:params:oauth:token-type:jwt");
  EXPECT_EQ(form["requested_token_type"], "urn:ietf:params:oauth:token-type:access_token");
  EXPECT_EQ(form["scope"], "https://www.googleapis.com/auth/cloud-platform");
  EXPECT_EQ(http.seen[1].headers["authorization"], "Bearer sts.FEDERATED");
  auto body = json::Parse(http.seen[1].body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("lifetime"), "1800s");
  ASSERT_NE(body->Find("scope"), nullptr);
  ASSERT_EQ(body->Find("scope")->size(), 1u);

  // Impersonation refused: Google's message, not the federated token.
  http.answers["POST https://iamcredentials.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"] =
      HttpResponse{403, R"({"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED"}})"};
  auto denied = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(Msg(denied.status()).find("status 403"), std::string::npos) << denied.status();
  EXPECT_NE(Msg(denied.status()).find("getAccessToken' denied"), std::string::npos) << denied.status();
  EXPECT_EQ(Msg(denied.status()).find("FEDERATED"), std::string::npos) << denied.status();
}

// The base64 DER of each PEM certificate in `pem`, as the subject token lists them.
std::vector<std::string> DerBase64(const std::string& pem) {
  auto ders = crypto::PemCertificatesToDer(pem);
  EXPECT_TRUE(ders.ok()) << ders.status();
  std::vector<std::string> out;
  for (const auto& d : ders.value_or(std::vector<std::string>{})) out.push_back(crypto::Base64Encode(d));
  return out;
}

// Workload identity federation with X.509 certificates: the certificate configuration names the
// workload's certificate and key; the subject token is the JSON list of base64 DER certificates
// (the leaf, then the trust chain, the leaf not repeated); the STS exchange and the
// impersonation go over mutual TLS with that certificate.
TEST(GcpDefaultCredentialsTest, ExternalAccountFromAnX509Certificate) {
  TempDir dir;
  crypto::testing::TestCert ca = crypto::testing::MakeCert("test root");
  crypto::testing::TestCert intermediate = crypto::testing::MakeCert("test intermediate", &ca);
  crypto::testing::TestCert leaf = crypto::testing::MakeCert("workload", &intermediate);
  std::string cert_path = dir.Write("workload.pem", leaf.cert);
  std::string key_path = dir.Write("workload.key", leaf.key);
  std::string config = dir.Write(
      "certificate_config.json",
      StrCat(R"({"version":1,"cert_configs":{"workload":{"cert_path":")", cert_path, R"(","key_path":")", key_path, R"("}}})"));
  std::string chain_with_leaf = dir.Write("chain.pem", leaf.cert + intermediate.cert);
  auto creds = [&](std::string_view certificate) {
    return dir.Write(
        "x509.json",
        StrCat(R"({"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x509",)"
               R"("subject_token_type":"urn:ietf:params:oauth:token-type:mtls","token_url":"https://sts.mtls.test/v1/token",)"
               R"("service_account_impersonation_url":"https://iamcredentials.mtls.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",)"
               R"("credential_source":{"certificate":)", certificate, "}}"));
  };
  FakeHttp http;
  http.answers["POST https://sts.mtls.test/v1/token"] = HttpResponse{200, R"({"access_token":"sts.FEDERATED","expires_in":3600})"};
  http.answers["POST https://iamcredentials.mtls.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"] =
      HttpResponse{200, R"({"accessToken":"ya29.x509","expireTime":"2026-11-18T08:50:00Z"})"};

  // The configuration named in the file; a trust chain that starts with the leaf.
  std::string file = creds(StrCat(R"({"certificate_config_location":")", config, R"(","trust_chain_path":")", chain_with_leaf, R"("})"));
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.x509");
  ASSERT_EQ(http.seen.size(), 2u);
  auto form = Form(http.seen[0].body);
  EXPECT_EQ(form["subject_token_type"], "urn:ietf:params:oauth:token-type:mtls");
  auto list = json::Parse(form["subject_token"]);
  ASSERT_TRUE(list.ok()) << form["subject_token"];
  std::vector<std::string> got;
  for (const auto& v : list->items()) got.emplace_back(v.as_string());
  std::vector<std::string> want = DerBase64(leaf.cert);
  want.push_back(DerBase64(intermediate.cert)[0]);
  EXPECT_EQ(got, want) << "the leaf once, first, then the intermediate";
  for (const credtest::Seen& s : http.seen) {
    EXPECT_EQ(s.client_cert, leaf.cert) << s.url;  // both calls over mTLS
    EXPECT_EQ(s.client_key, leaf.key) << s.url;
  }
  EXPECT_EQ(http.seen[1].headers["authorization"], "Bearer sts.FEDERATED");

  // use_default_certificate_config: GOOGLE_API_CERTIFICATE_CONFIG, else gcloud's directory; no
  // trust chain: the leaf alone.
  http.seen.clear();
  file = creds(R"({"use_default_certificate_config":true})");
  t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}, {"GOOGLE_API_CERTIFICATE_CONFIG", config}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Form(http.seen[0].body)["subject_token"], StrCat(R"([")", DerBase64(leaf.cert)[0], R"("])"));
  std::filesystem::create_directories(dir.path() + "/gcloud");
  std::filesystem::copy_file(config, dir.path() + "/gcloud/certificate_config.json");
  http.seen.clear();
  t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}, {"CLOUDSDK_CONFIG", dir.path() + "/gcloud"}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(http.seen[0].client_cert, leaf.cert);

  // Refusals, naming what is wrong and never the key.
  struct Bad {
    std::string certificate, want;
  } bad[] = {
      {StrCat(R"({"certificate_config_location":")", config, R"(","trust_chain_path":")",
              dir.Write("late.pem", intermediate.cert + leaf.cert), R"("})"),
       "holds the workload certificate, but not first"},
      {StrCat(R"({"certificate_config_location":")",
              dir.Write("wrongkey.json", StrCat(R"({"cert_configs":{"workload":{"cert_path":")", cert_path, R"(","key_path":")",
                                                dir.Write("other.key", intermediate.key), R"("}}})")),
              R"("})"),
       "the workload certificate and key: the private key does not belong to the certificate"},
      {StrCat(R"({"certificate_config_location":")", dir.Write("nopaths.json", R"({"cert_configs":{}})"), R"("})"),
       "needs cert_configs.workload.cert_path and key_path"},
      {StrCat(R"({"certificate_config_location":")",
              dir.Write("notpem.json", StrCat(R"({"cert_configs":{"workload":{"cert_path":")", key_path, R"(","key_path":")", key_path, R"("}}})")),
              R"("})"),
       "the workload certificate: x509: no readable PEM certificate"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.want);
    FakeHttp none;
    auto r = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", creds(b.certificate)}}))(none, kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(Msg(r.status()).find(b.want), std::string::npos) << r.status();
    EXPECT_EQ(Msg(r.status()).find("PRIVATE KEY"), std::string::npos) << r.status();
    EXPECT_TRUE(none.seen.empty()) << "nothing is sent before the identity is whole";
  }
}

// Executable-sourced credentials: the command runs without a shell, with the
// GOOGLE_EXTERNAL_ACCOUNT_* variables, only when allowed; a fresh cached response in
// output_file is used instead of running it.
TEST(GcpDefaultCredentialsTest, ExternalAccountFromAnExecutable) {
  TempDir dir;
  const std::string marker = dir.path() + "/ran";
  std::string script = dir.Write(
      "idp.sh", StrCat("#!/bin/sh\necho ran >> ", marker, "\n",
                       R"(if [ "$GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE" = "//iam/aud" ] && [ "$GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE" = 0 ] && )"
                       R"([ "$GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL" = "sa@p.iam.gserviceaccount.com" ] && [ "$1" = "--flag=a;b" ]; then)"
                       "\n  tok=eyJ.from-exe.sig\nelse\n  tok=wrong-env\nfi\n"
                       R"(printf '{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:id_token","id_token":"%s","expiration_time":4102444800}' "$tok")"
                       "\n"));
  auto file_for = [&](const std::string& extra) {
    return dir.Write("exe.json", StrCat(R"({"type":"external_account","audience":"//iam/aud","subject_token_type":"urn:ietf:params:oauth:token-type:id_token",)",
                                        R"("token_url":"https://sts.test/v1/token",)",
                                        R"("service_account_impersonation_url":"https://iam.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",)",
                                        R"("credential_source":{"executable":{"command":"sh )", script, R"( --flag=a;b")", extra, "}}}"));
  };
  FakeHttp http;
  http.answers["POST https://sts.test/v1/token"] = {200, R"({"access_token":"sts.EXE","token_type":"Bearer","expires_in":3600})"};
  http.answers["POST https://iam.test/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"] = {
      200, R"({"accessToken":"ya29.exe","expireTime":"2026-11-18T09:20:00Z"})"};
  std::string file = file_for("");
  auto refused = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_FALSE(std::filesystem::exists(marker)) << "ran without GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";

  auto env = Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}, {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1"}});
  auto t = NewGcpDefaultCredentialsMinter(env)(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.exe");
  ASSERT_GE(http.seen.size(), 1u);
  EXPECT_EQ(Form(http.seen[0].body)["subject_token"], "eyJ.from-exe.sig") << "the helper saw the wrong environment or arguments";

  // A fresh response in output_file: the executable is not run.
  std::filesystem::remove(marker);
  std::string cache = dir.Write("cache.json", R"({"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"eyJ.cached.sig","expiration_time":4102444800})");
  file = file_for(StrCat(R"(,"output_file":")", cache, R"(","timeout_millis":5000)"));
  FakeHttp http2;
  http2.answers = http.answers;
  auto c = NewGcpDefaultCredentialsMinter(env)(http2, kNow);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(Form(http2.seen[0].body)["subject_token"], "eyJ.cached.sig");
  EXPECT_FALSE(std::filesystem::exists(marker));
  // An expired one: it is.
  dir.Write("cache.json", R"({"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"eyJ.old.sig","expiration_time":1})");
  FakeHttp http3;
  http3.answers = http.answers;
  auto e = NewGcpDefaultCredentialsMinter(env)(http3, kNow);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(Form(http3.seen[0].body)["subject_token"], "eyJ.from-exe.sig");
  EXPECT_TRUE(std::filesystem::exists(marker));

  // The helper reports a failure: its code and message, nothing sent to STS.
  std::string failing = dir.Write("fail.sh", "#!/bin/sh\nprintf '{\"version\":1,\"success\":false,\"code\":\"401\",\"message\":\"login required\"}'\n");
  std::string f2 = dir.Write("fail.json", StrCat(R"({"type":"external_account","audience":"a","subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"https://sts.test/v1/token","credential_source":{"executable":{"command":"sh )",
                                                 failing, R"("}}})"));
  FakeHttp http4;
  auto f = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", f2}, {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1"}}))(http4, kNow);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(Msg(f.status()).find("the executable failed (code 401): login required"), std::string::npos) << f.status();
  EXPECT_TRUE(http4.seen.empty());
}

// Workload identity federation from AWS (environment_id aws1) on EC2: region and role
// credentials from instance metadata (IMDSv2), the subject token a signed GetCallerIdentity.
TEST(GcpDefaultCredentialsTest, ExternalAccountFromAwsSignsGetCallerIdentity) {
  TempDir dir;
  constexpr std::string_view kAudience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/aws/providers/acct";
  std::string file = dir.Write(
      "aws.json",
      StrCat(R"({"type":"external_account","audience":")", kAudience,
             R"(","subject_token_type":"urn:ietf:params:aws:token-type:aws4_request","token_url":"https://sts.test/v1/token",)"
             R"("credential_source":{"environment_id":"aws1",)"
             R"("region_url":"http://169.254.169.254/latest/meta-data/placement/availability-zone",)"
             R"("url":"http://169.254.169.254/latest/meta-data/iam/security-credentials",)"
             R"("imdsv2_session_token_url":"http://169.254.169.254/latest/api/token",)"
             R"("regional_cred_verification_url":"https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}})"));
  FakeHttp http;
  http.answers["PUT http://169.254.169.254/latest/api/token"] = {200, "imds-session"};
  http.answers["GET http://169.254.169.254/latest/meta-data/placement/availability-zone"] = {200, "ap-south-1b"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials"] = {200, "ec2-role\n"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/ec2-role"] = {
      200, R"({"Code":"Success","AccessKeyId":"ASIAEC2","SecretAccessKey":"ec2-secret","Token":"ec2-session"})"};
  http.answers["POST https://sts.test/v1/token"] = {200, R"({"access_token":"sts.FROM-AWS","token_type":"Bearer","expires_in":3600})"};
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "sts.FROM-AWS");
  ASSERT_EQ(http.seen.size(), 5u);
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(http.seen[i].headers["x-aws-ec2-metadata-token"], "imds-session") << http.seen[i].url;
  auto form = Form(http.seen[4].body);
  EXPECT_EQ(form["subject_token_type"], "urn:ietf:params:aws:token-type:aws4_request");
  // The subject token: the percent-encoded JSON of the signed request.
  auto req = json::Parse(Form(StrCat("t=", form["subject_token"]))["t"]);  // percent-encoded once more
  ASSERT_TRUE(req.ok()) << form["subject_token"];
  EXPECT_EQ(req->GetString("url"), "https://sts.ap-south-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_EQ(req->GetString("method"), "POST");
  std::map<std::string, std::string> headers;
  for (const auto& h : req->Find("headers")->items()) headers[std::string(h.GetString("key"))] = std::string(h.GetString("value"));
  EXPECT_EQ(headers["host"], "sts.ap-south-1.amazonaws.com");
  EXPECT_EQ(headers["x-amz-security-token"], "ec2-session");
  EXPECT_EQ(headers["x-amz-date"], "20261118T082000Z");
  EXPECT_EQ(headers["x-goog-cloud-target-resource"], kAudience);
  EXPECT_EQ(headers["Authorization"].rfind("AWS4-HMAC-SHA256 Credential=ASIAEC2/20261118/ap-south-1/sts/aws4_request, "
                                           "SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource, Signature=",
                                           0),
            0u)
      << headers["Authorization"];
  EXPECT_EQ(form["subject_token"].find("ec2-secret"), std::string::npos);

  // Keys and region from the environment: no metadata calls.
  FakeHttp env_only;
  env_only.answers["POST https://sts.test/v1/token"] = http.answers["POST https://sts.test/v1/token"];
  auto e = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}, {"AWS_REGION", "us-west-2"},
                                               {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "s"}}))(env_only, kNow);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(env_only.seen.size(), 1u);
  std::string subject = Form(StrCat("t=", Form(env_only.seen[0].body)["subject_token"]))["t"];
  EXPECT_NE(subject.find("Credential=AKIDENV/20261118/us-west-2/sts/"), std::string::npos) << subject;
}

// `gcloud auth application-default login --impersonate-service-account SA`: the user's login
// (refresh-token grant) buys the service account's token at IAM Credentials, through the
// delegates; the file's quota project goes along.
TEST(GcpDefaultCredentialsTest, ImpersonatedServiceAccountFromAUserLogin) {
  TempDir dir;
  constexpr std::string_view kUrl =
      "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/vertex@p.iam.gserviceaccount.com:generateAccessToken";
  std::string file = dir.Write(
      "adc.json",
      StrCat(R"({"type":"impersonated_service_account","service_account_impersonation_url":")", kUrl, R"(",)",
             R"("delegates":["projects/-/serviceAccounts/hop@p.iam.gserviceaccount.com"],"quota_project_id":"qp-imp",)",
             R"("source_credentials":{"type":"authorized_user","client_id":"cid","client_secret":"d-SECRET","refresh_token":"1//REFRESH"}})"));
  FakeHttp http;
  http.answers["POST https://oauth2.googleapis.com/token"] = TokenAnswer("ya29.user-login");
  http.answers[StrCat("POST ", kUrl)] = HttpResponse{200, R"({"accessToken":"ya29.as-vertex-sa","expireTime":"2026-11-18T09:20:00Z"})"};
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.as-vertex-sa\nqp-imp");
  EXPECT_EQ(t->expires_at, kNow + 3600);
  ASSERT_EQ(http.seen.size(), 2u);
  EXPECT_EQ(Form(http.seen[0].body)["refresh_token"], "1//REFRESH");
  EXPECT_EQ(http.seen[1].headers["authorization"], "Bearer ya29.user-login");
  auto body = json::Parse(http.seen[1].body);
  ASSERT_TRUE(body.ok()) << http.seen[1].body;
  EXPECT_EQ(body->GetString("lifetime"), "3600s");
  ASSERT_NE(body->Find("delegates"), nullptr);
  ASSERT_EQ(body->Find("delegates")->size(), 1u);
  EXPECT_EQ(body->Find("delegates")->items()[0].as_string(), "projects/-/serviceAccounts/hop@p.iam.gserviceaccount.com");
  ASSERT_NE(body->Find("scope"), nullptr);
  EXPECT_EQ(body->Find("scope")->items()[0].as_string(), "https://www.googleapis.com/auth/cloud-platform");

  // A service-account key as the source: its JWT-bearer token is the one presented.
  json::Value key = json::Value::Object();
  key.Set("type", json::Value::String("service_account"));
  key.Set("client_email", json::Value::String("source@p.iam.gserviceaccount.com"));
  key.Set("private_key", json::Value::String(ReadTestdata("test_key.pem")));
  key.Set("token_uri", json::Value::String("https://oauth2.test/token"));
  std::string with_key = dir.Write(
      "adc-key.json", StrCat(R"({"type":"impersonated_service_account","service_account_impersonation_url":")", kUrl,
                             R"(","source_credentials":)", json::Serialize(key), "}"));
  FakeHttp http2;
  http2.answers["POST https://oauth2.test/token"] = TokenAnswer("ya29.key-token");
  http2.answers[StrCat("POST ", kUrl)] = HttpResponse{200, R"({"accessToken":"ya29.as-sa-2","expireTime":"2026-11-18T09:20:00Z"})"};
  auto k = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", with_key}}))(http2, kNow);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->value, "ya29.as-sa-2");
  ASSERT_EQ(http2.seen.size(), 2u);
  EXPECT_EQ(http2.seen[1].headers["authorization"], "Bearer ya29.key-token");
  auto body2 = json::Parse(http2.seen[1].body);
  ASSERT_TRUE(body2.ok());
  EXPECT_EQ(body2->Find("delegates"), nullptr) << "no delegates in the file, none sent";
}

// A URL source (Azure's instance metadata, say) answering JSON, without impersonation: the STS
// token is the access token.
TEST(GcpDefaultCredentialsTest, ExternalAccountFromAUrlWithAJsonField) {
  TempDir dir;
  std::string file = dir.Write(
      "wif.json",
      R"({"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/az",)"
      R"("subject_token_type":"urn:ietf:params:oauth:token-type:jwt",)"
      R"("credential_source":{"url":"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01","headers":{"Metadata":"True"},)"
      R"("format":{"type":"json","subject_token_field_name":"access_token"}}})");
  FakeHttp http;
  http.answers["GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"] =
      HttpResponse{200, R"({"access_token":"eyJ.AZURE.sig","expires_in":"3599"})"};
  http.answers["POST https://sts.googleapis.com/v1/token"] = TokenAnswer("sts.only", 3600);
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "sts.only");
  ASSERT_EQ(http.seen.size(), 2u);
  EXPECT_EQ(http.seen[0].headers["metadata"], "True");
  EXPECT_EQ(Form(http.seen[1].body)["subject_token"], "eyJ.AZURE.sig");
}

// GCE, Cloud Run and GKE Workload Identity: the metadata server, asked with Metadata-Flavor.
TEST(GcpDefaultCredentialsTest, MetadataServerWhenNoFileIsThere) {
  FakeHttp http;
  http.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.gke", 2500));
  auto t = NewGcpDefaultCredentialsMinter(Env({}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.gke");
  EXPECT_EQ(t->expires_at, kNow + 2500);
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(http.seen[0].headers["metadata-flavor"], "Google");

  // The name does not resolve: its address next. GCE_METADATA_HOST replaces both.
  FakeHttp fallback;
  fallback.answers[StrCat("GET http://169.254.169.254", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.by-ip"));
  auto by_ip = NewGcpDefaultCredentialsMinter(Env({}))(fallback, kNow);
  ASSERT_TRUE(by_ip.ok()) << by_ip.status();
  EXPECT_EQ(by_ip->value, "ya29.by-ip");
  FakeHttp custom;
  custom.answers[StrCat("GET http://127.0.0.1:8089", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.custom"));
  auto c = NewGcpDefaultCredentialsMinter(Env({{"GCE_METADATA_HOST", "127.0.0.1:8089"}}))(custom, kNow);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->value, "ya29.custom");
  EXPECT_EQ(custom.seen.size(), 1u);

  // A metadata server without a service account.
  FakeHttp no_sa;
  no_sa.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] = MetadataAnswer(HttpResponse{404, "not found"});
  auto missing = NewGcpDefaultCredentialsMinter(Env({}))(no_sa, kNow);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(Msg(missing.status()).find("no default service account"), std::string::npos) << missing.status();
}

TEST(GcpDefaultCredentialsTest, TheFileNamedByTheEnvironmentWins) {
  TempDir gcloud, other;
  gcloud.Write("application_default_credentials.json",
               R"({"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"})");
  std::string named = other.Write("user.json", R"({"type":"authorized_user","client_id":"c2","client_secret":"s2",)"
                                               R"("refresh_token":"r2","token_uri":"https://oauth2.test/token"})");
  FakeHttp http;
  http.answers["POST https://oauth2.test/token"] = TokenAnswer("ya29.named");
  http.answers["POST https://oauth2.googleapis.com/token"] = TokenAnswer("ya29.gcloud");
  http.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.metadata"));
  auto t = NewGcpDefaultCredentialsMinter(
      Env({{"GOOGLE_APPLICATION_CREDENTIALS", named}, {"CLOUDSDK_CONFIG", gcloud.path()}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.named");
  ASSERT_EQ(http.seen.size(), 1u);
  // gcloud's file comes before the metadata server.
  auto g = NewGcpDefaultCredentialsMinter(Env({{"CLOUDSDK_CONFIG", gcloud.path()}}))(http, kNow);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->value, "ya29.gcloud");
}

TEST(GcpDefaultCredentialsTest, ErrorsSayWhatIsMissingAndNeverQuoteSecrets) {
  TempDir dir;
  struct Case {
    std::string file_text;  // "" = GOOGLE_APPLICATION_CREDENTIALS names a missing file
    std::string want;
  } cases[] = {
      {"", "cannot be read"},
      {R"({"type":"authorized_user","client_secret":"TOPSECRET", "refresh_token": "r")", "is not a JSON object"},
      {R"({"type":"authorized_user","client_secret":"TOPSECRET"})", "need client_id, client_secret and refresh_token"},
      {R"({"type":"impersonated_service_account","source_credentials":{"refresh_token":"TOPSECRET"}})",
       "need service_account_impersonation_url and source_credentials"},
      {R"({"type":"impersonated_service_account","service_account_impersonation_url":"https://x","source_credentials":{"type":"impersonated_service_account","refresh_token":"TOPSECRET"}})",
       "source_credentials of type \"impersonated_service_account\" cannot be used"},
      {R"({"type":"impersonated_service_account","service_account_impersonation_url":"https://x","source_credentials":{"type":"authorized_user","client_id":"c","client_secret":"TOPSECRET","refresh_token":"TOPSECRET"}})",
       "invalid_grant"},
      {R"({"type":"gdch_service_account"})", "type \"gdch_service_account\" are not supported"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"executable":{"command":"TOPSECRET"}}})",
       "need GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"environment_id":"aws1"}})",
       "credential_source needs regional_cred_verification_url"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"environment_id":"aws2"}})",
       "environment_id \"aws2\" is not supported"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"environment_id":"aws1","regional_cred_verification_url":"https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15","url":"http://evil.test/creds"}})",
       "credential_source.url must be the instance metadata service"},
      {R"({"type":"external_account","audience":"a","credential_source":{"file":"/x"}})", "need audience and subject_token_type"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"certificate":{"use_default_certificate_config":true}}})",
       "credential_source.certificate: the certificate configuration /nonexistent-home/.config/gcloud/certificate_config.json cannot be read"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"certificate":{}}})",
       "needs certificate_config_location or use_default_certificate_config"},
      {R"({"type":"external_account","audience":"a","subject_token_type":"t","credential_source":{"certificate":{"use_default_certificate_config":true,"certificate_config_location":"/x"}}})",
       "not both"},
      {R"({"type":"service_account","client_email":"a@b","private_key":"TOPSECRET"})", "private_key"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file_text);
    std::string path = c.file_text.empty() ? dir.path() + "/missing.json" : dir.Write("creds.json", c.file_text);
    FakeHttp http;
    http.answers["POST https://oauth2.googleapis.com/token"] = HttpResponse{400, R"({"error":"invalid_grant"})"};
    auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", path}}))(http, kNow);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_NE(Msg(t.status()).find(c.want), std::string::npos) << t.status();
    EXPECT_EQ(Msg(t.status()).find("TOPSECRET"), std::string::npos) << t.status();
  }

  // Nothing anywhere: the error lists where it looked.
  FakeHttp nothing;
  auto none = NewGcpDefaultCredentialsMinter(Env({{"HOME", dir.path()}}))(nothing, kNow);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  for (const char* part : {"GOOGLE_APPLICATION_CREDENTIALS is not set", "/.config/gcloud/application_default_credentials.json",
                           "no metadata server answered", "169.254.169.254"}) {
    EXPECT_NE(Msg(none.status()).find(part), std::string::npos) << part << ": " << none.status();
  }
  // NO_GCE_CHECK: the metadata server is not even asked.
  FakeHttp unasked;
  auto off = NewGcpDefaultCredentialsMinter(Env({{"NO_GCE_CHECK", "true"}}))(unasked, kNow);
  ASSERT_FALSE(off.ok());
  EXPECT_NE(Msg(off.status()).find("NO_GCE_CHECK"), std::string::npos) << off.status();
  EXPECT_TRUE(unasked.seen.empty());
}

// Another cloud's metadata service also answers on 169.254.169.254: without Google's
// Metadata-Flavor header it is not a metadata server. A miss is remembered, so the shared
// refresher thread does not wait on timeouts at every refresh.
TEST(GcpDefaultCredentialsTest, OnlyGooglesMetadataServerCountsAndAMissIsRemembered) {
  FakeHttp http;
  http.answers[StrCat("GET http://169.254.169.254", kMetadataPath)] = HttpResponse{404, "aws imds: not found"};
  auto mint = NewGcpDefaultCredentialsMinter(Env({}));
  auto t = mint(http, kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(Msg(t.status()).find("no Application Default Credentials"), std::string::npos) << t.status();
  EXPECT_NE(Msg(t.status()).find("not as Google's metadata server"), std::string::npos) << t.status();
  size_t asked = http.seen.size();
  EXPECT_EQ(asked, 2u);  // the name (unresolved here), then the address
  auto again = mint(http, kNow + 60);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Msg(again.status()), Msg(t.status()));
  EXPECT_EQ(http.seen.size(), asked) << "asked again within the recheck interval";
  http.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.later"));
  auto later = mint(http, kNow + 301);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->value, "ya29.later");
}

// Tokens go into an Authorization header: one with a line break is refused, never sent.
TEST(GcpDefaultCredentialsTest, TokensWithControlCharactersAreRefused) {
  FakeHttp http;
  http.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] =
      MetadataAnswer(HttpResponse{200, R"({"access_token":"ya29.x\r\nx-injected: 1","expires_in":3599})"});
  auto t = NewGcpDefaultCredentialsMinter(Env({}))(http, kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(Msg(t.status()).find("unusable access_token"), std::string::npos) << t.status();
}

// Workforce pools: the user project goes to STS in `options`; an OAuth client in the file
// authenticates the exchange (HTTP Basic); an STS answer without expires_in is taken as an hour.
TEST(GcpDefaultCredentialsTest, ExternalAccountWorkforcePoolAndClientAuthentication) {
  TempDir dir;
  std::string subject = dir.Write("token", "oidc-id-token");
  std::string file = dir.Write(
      "wf.json",
      StrCat(R"({"type":"external_account","audience":"//iam.googleapis.com/locations/global/workforcePools/wf/providers/p",)"
             R"("subject_token_type":"urn:ietf:params:oauth:token-type:id_token","token_url":"https://sts.test/v1/token",)"
             R"("workforce_pool_user_project":"billing-proj","client_id":"cid","client_secret":"csecret",)"
             R"("credential_source":{"file":")", subject, R"("}})"));
  FakeHttp http;
  http.answers["POST https://sts.test/v1/token"] = HttpResponse{200, R"({"access_token":"sts.wf","token_type":"Bearer"})"};
  auto t = NewGcpDefaultCredentialsMinter(Env({{"GOOGLE_APPLICATION_CREDENTIALS", file}}))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "sts.wf");
  EXPECT_EQ(t->expires_at, kNow + 3600);
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(Form(http.seen[0].body)["options"], R"({"userProject":"billing-proj"})");
  EXPECT_EQ(http.seen[0].headers["authorization"], "Basic " + crypto::Base64Encode("cid:csecret"));
}

// A gcloud file that is there but cannot be read is the answer, not a reason to look further.
TEST(GcpDefaultCredentialsTest, AnUnreadableGcloudFileIsAnError) {
  // A directory where the file should be: unreadable for root too (tests run as root in CI).
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/application_default_credentials.json");
  FakeHttp http;
  http.answers[StrCat("GET http://metadata.google.internal", kMetadataPath)] = MetadataAnswer(TokenAnswer("ya29.md"));
  auto t = NewGcpDefaultCredentialsMinter(Env({{"CLOUDSDK_CONFIG", dir.path()}}))(http, kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(Msg(t.status()).find("application_default_credentials.json"), std::string::npos) << t.status();
  EXPECT_TRUE(http.seen.empty()) << "looked further after a file it could not read";
}

// The signers NewSigner makes for GCP: a static token as it is; a key or Application Default
// Credentials through the refresher; nothing at all is a config error.
TEST(GcpSignerTest, StaticTokenKeyOrDefaultCredentials) {
  http::HeaderMap no_headers;
  SigningRequest req{"POST", "aiplatform.googleapis.com", "/v1/x", no_headers, "{}"};
  config::BackendAuth a;
  a.type = config::BackendAuth::Type::kGCP;
  a.gcp_access_token = "  ya29.token\n";
  a.gcp_service_account_json = "not even json";  // the static token wins
  auto s = NewSigner(a);
  ASSERT_TRUE(s.ok()) << s.status();
  auto m = (*s)->Sign(req);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->set.size(), 1u);
  EXPECT_EQ(m->set[0].first, "authorization");
  EXPECT_EQ(m->set[0].second, "Bearer ya29.token");

  config::BackendAuth bad_key;
  bad_key.type = config::BackendAuth::Type::kGCP;
  bad_key.gcp_service_account_json = R"({"type":"service_account","client_email":"a@b","private_key":"TOPSECRET"})";
  auto k = NewSigner(bad_key);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(k.status()).find("TOPSECRET"), std::string::npos);

  config::BackendAuth none;
  none.type = config::BackendAuth::Type::kGCP;
  EXPECT_EQ(NewSigner(none).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice::auth
