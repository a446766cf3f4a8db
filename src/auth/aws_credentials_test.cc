#include "auth/aws_credentials.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "auth/credential_test_util.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::auth {
namespace {

using credtest::Env;
using credtest::FakeHttp;
using credtest::Seen;
using credtest::TempDir;

AwsCredentials Decoded(const absl::StatusOr<Token>& t) {
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  auto c = DecodeAwsCredentials(t->value);
  EXPECT_TRUE(c.ok());
  return c.ok() ? *c : AwsCredentials{};
}

constexpr int64_t kNow = 1794990000;  // 2026-11-18T08:20:00Z

// Credentials go into request headers: any holding a line break are refused, never used.
TEST(AwsCredentialChainTest, CredentialsWithControlCharactersAreRefused) {
  FakeHttp http;
  auto t = NewAwsCredentialChainMinter(
      Env({{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s"}, {"AWS_SESSION_TOKEN", "tok\r\nx-injected: 1"}}),
      "us-east-1")(http, kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(ToStd(t.status().message())).find("control characters"), std::string::npos) << t.status();
  EXPECT_EQ(std::string(ToStd(t.status().message())).find("tok"), std::string::npos) << t.status();
}

TEST(AwsCredentialChainTest, EnvironmentComesFirst) {
  FakeHttp http;
  auto mint = NewAwsCredentialChainMinter(
      Env({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}, {"AWS_SESSION_TOKEN", "env-session"},
           {"AWS_WEB_IDENTITY_TOKEN_FILE", "/also/set"}, {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}}),
      "us-east-1");
  auto t = mint(http, kNow);
  AwsCredentials c = Decoded(t);
  EXPECT_EQ(c.access_key_id, "AKIDENV");
  EXPECT_EQ(c.secret_access_key, "env-secret");
  EXPECT_EQ(c.session_token, "env-session");
  EXPECT_GT(t->expires_at, kNow);  // looked at again later
  EXPECT_TRUE(http.seen.empty());
}

constexpr const char* kStsAnswer = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:gw</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>arn:aws:sts::123:assumed-role/bedrock/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <SessionToken>IQoJb3JpZ2luX2VjE+/session&amp;token=</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2026-11-18T09:46:40Z</Expiration>
      <AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

TEST(AwsCredentialChainTest, WebIdentityAssumesTheRoleAtSts) {
  TempDir dir;
  std::string jwt_file = dir.Write("token", "eyJhbGciOiJSUzI1NiJ9.payload.sig\n");
  FakeHttp http;
  http.answers["POST https://sts.eu-west-1.amazonaws.com/"] = {200, kStsAnswer};
  auto mint = NewAwsCredentialChainMinter(Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file},
                                               {"AWS_ROLE_ARN", "arn:aws:iam::123:role/bedrock"},
                                               {"AWS_ROLE_SESSION_NAME", "gw session"}}),
                                          "eu-west-1");
  auto t = mint(http, kNow);
  AwsCredentials c = Decoded(t);
  EXPECT_EQ(c.access_key_id, "ASIAWEBIDENTITY");
  EXPECT_EQ(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(c.session_token, "IQoJb3JpZ2luX2VjE+/session&token=");  // entities decoded
  EXPECT_EQ(t->expires_at, 1794995200);                                // 2026-11-18T09:46:40Z
  ASSERT_EQ(http.seen.size(), 1u);
  Seen s = http.seen[0];
  EXPECT_EQ(s.method, "POST");
  EXPECT_EQ(s.headers["content-type"], "application/x-www-form-urlencoded; charset=utf-8");
  // The token from the file (trimmed), form-encoded; the role and session name.
  EXPECT_EQ(s.body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123%3Arole%2Fbedrock"
            "&RoleSessionName=gw%20session&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.payload.sig");
}

TEST(AwsCredentialChainTest, WebIdentityEndpointAndRegionOverrides) {
  TempDir dir;
  std::string jwt_file = dir.Write("token", "jwt");
  FakeHttp http;
  http.answers["POST http://127.0.0.1:4566/"] = {200, kStsAnswer};
  http.answers["POST https://sts.ap-south-1.amazonaws.com/"] = {200, kStsAnswer};
  std::map<std::string, std::string> env = {{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file}, {"AWS_ROLE_ARN", "arn:r"},
                                            {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566/"}};
  EXPECT_TRUE(NewAwsCredentialChainMinter(Env(env), "us-east-1")(http, kNow).ok());
  env.erase("AWS_ENDPOINT_URL_STS");
  env["AWS_REGION"] = "ap-south-1";
  EXPECT_TRUE(NewAwsCredentialChainMinter(Env(env), "us-east-1")(http, kNow).ok());
  ASSERT_EQ(http.seen.size(), 2u);
  EXPECT_EQ(http.seen[0].url, "http://127.0.0.1:4566/");
  EXPECT_EQ(http.seen[1].url, "https://sts.ap-south-1.amazonaws.com/");
  EXPECT_NE(http.seen[1].body.find("RoleSessionName=sluice-"), std::string::npos);
}

TEST(AwsCredentialChainTest, WebIdentityFailuresSayWhyWithoutTheToken) {
  TempDir dir;
  std::string jwt_file = dir.Write("token", "the-secret-jwt");
  FakeHttp http;
  http.answers["POST https://sts.us-east-1.amazonaws.com/"] = {
      400, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
           "<Message>Couldn't retrieve verification key from your identity provider</Message></Error></ErrorResponse>"};
  auto t = NewAwsCredentialChainMinter(Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file}, {"AWS_ROLE_ARN", "arn:r"}}),
                                       "us-east-1")(http, kNow);
  ASSERT_FALSE(t.ok());
  std::string msg(t.status().message());
  EXPECT_NE(msg.find("InvalidIdentityToken"), std::string::npos) << msg;
  EXPECT_NE(msg.find("verification key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("status 400"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("the-secret-jwt"), std::string::npos) << msg;

  // Configured but unusable: an answer, not a fall-through to later sources.
  auto no_role = NewAwsCredentialChainMinter(Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file}}), "us-east-1")(http, kNow);
  ASSERT_FALSE(no_role.ok());
  EXPECT_NE(std::string(no_role.status().message()).find("AWS_ROLE_ARN"), std::string::npos);
  auto no_file = NewAwsCredentialChainMinter(
      Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", dir.path() + "/missing"}, {"AWS_ROLE_ARN", "arn:r"}}), "us-east-1")(http, kNow);
  ASSERT_FALSE(no_file.ok());
  EXPECT_NE(std::string(no_file.status().message()).find("cannot be read"), std::string::npos);
  auto incomplete = [&] {
    FakeHttp h;
    h.answers["POST https://sts.us-east-1.amazonaws.com/"] = {
        200, "<X><Credentials><AccessKeyId>A</AccessKeyId><Expiration>2026-11-18T09:46:40Z</Expiration></Credentials></X>"};
    return NewAwsCredentialChainMinter(Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file}, {"AWS_ROLE_ARN", "arn:r"}}),
                                       "us-east-1")(h, kNow);
  }();
  EXPECT_FALSE(incomplete.ok());
}

TEST(AwsCredentialChainTest, SharedCredentialsFileAndProfile) {
  TempDir dir;
  std::string file = dir.Write("credentials",
                               "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d-secret\n\n"
                               "[profile prod]\naws_access_key_id=AKIDPROD\naws_secret_access_key=p-secret\n"
                               "aws_session_token = p-session\n");
  FakeHttp http;
  auto d = Decoded(NewAwsCredentialChainMinter(Env({{"AWS_SHARED_CREDENTIALS_FILE", file}}), "r")(http, kNow));
  EXPECT_EQ(d.access_key_id, "AKIDDEFAULT");
  EXPECT_EQ(d.session_token, "");
  auto p = Decoded(
      NewAwsCredentialChainMinter(Env({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "prod"}}), "r")(http, kNow));
  EXPECT_EQ(p.access_key_id, "AKIDPROD");
  EXPECT_EQ(p.secret_access_key, "p-secret");
  EXPECT_EQ(p.session_token, "p-session");
  // ~/.aws/credentials by default.
  std::filesystem::create_directories(dir.path() + "/home/.aws");
  dir.Write("home/.aws/credentials", "[default]\naws_access_key_id=AKIDHOME\naws_secret_access_key=h\n");
  auto h = Decoded(NewAwsCredentialChainMinter(Env({{"HOME", dir.path() + "/home"}}), "r")(http, kNow));
  EXPECT_EQ(h.access_key_id, "AKIDHOME");
  // A named profile that is not there is an error, not someone else's keys.
  auto missing =
      NewAwsCredentialChainMinter(Env({{"AWS_SHARED_CREDENTIALS_FILE", file}, {"AWS_PROFILE", "stage"}}), "r")(http, kNow);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("AWS_PROFILE stage"), std::string::npos);
  EXPECT_TRUE(http.seen.empty());
}

TEST(AwsCredentialChainTest, ContainerCredentialsWithTheAgentsToken) {
  TempDir dir;
  std::string token_file = dir.Write("eks-pod-identity-token", "pod-identity-jwt\n");
  FakeHttp http;
  http.answers["GET http://169.254.170.23/v1/credentials"] = {
      200, R"({"AccessKeyId":"ASIAPOD","SecretAccessKey":"pod-secret","Token":"pod-session","AccountId":"1",)"
           R"("Expiration":"2026-11-18T10:00:00.000Z"})"};
  auto t = NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"},
                                            {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}}),
                                       "r")(http, kNow);
  AwsCredentials c = Decoded(t);
  EXPECT_EQ(c.access_key_id, "ASIAPOD");
  EXPECT_EQ(c.session_token, "pod-session");
  EXPECT_EQ(t->expires_at, 1794996000);
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(http.seen[0].headers["authorization"], "pod-identity-jwt");

  // ECS: a relative URI on the task metadata endpoint.
  FakeHttp ecs;
  ecs.answers["GET http://169.254.170.2/v2/credentials/abc"] = {
      200, R"({"AccessKeyId":"ASIAECS","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-18T10:00:00Z"})"};
  EXPECT_EQ(Decoded(NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}}),
                                                "r")(ecs, kNow))
                .access_key_id,
            "ASIAECS");

  // The token never goes in clear text to anything but the local agent.
  FakeHttp far;
  auto refused = NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example.com/x"},
                                                  {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}}),
                                             "r")(far, kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(far.seen.empty());
  // An error answer is reported.
  FakeHttp denied;
  denied.answers["GET http://127.0.0.1:9000/c"] = {403, R"({"Message":"denied"})"};
  auto d = NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9000/c"}}), "r")(denied, kNow);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("status 403"), std::string::npos);
}

TEST(AwsCredentialChainTest, InstanceMetadataV2) {
  FakeHttp http;
  http.answers["PUT http://169.254.169.254/latest/api/token"] = {200, "imds-session-token"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"] = {200, "bedrock-role\n"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/bedrock-role"] = {
      200, R"({"Code":"Success","LastUpdated":"2026-11-18T08:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAEC2",)"
           R"("SecretAccessKey":"ec2-secret","Token":"ec2-session","Expiration":"2026-11-18T14:00:00Z"})"};
  auto t = NewAwsCredentialChainMinter(Env({}), "r")(http, kNow);
  AwsCredentials c = Decoded(t);
  EXPECT_EQ(c.access_key_id, "ASIAEC2");
  EXPECT_EQ(c.session_token, "ec2-session");
  ASSERT_EQ(http.seen.size(), 3u);
  EXPECT_EQ(http.seen[0].headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
  EXPECT_EQ(http.seen[1].headers["x-aws-ec2-metadata-token"], "imds-session-token");
  EXPECT_EQ(http.seen[2].headers["x-aws-ec2-metadata-token"], "imds-session-token");

  // Nothing anywhere: one error that lists what was tried.
  FakeHttp none;
  auto n = NewAwsCredentialChainMinter(Env({}), "r")(none, kNow);
  ASSERT_FALSE(n.ok());
  std::string msg(n.status().message());
  for (const char* want : {"AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "shared credentials file",
                           "container credentials", "instance metadata", "connection refused"})
    EXPECT_NE(msg.find(want), std::string::npos) << want << " in " << msg;
  FakeHttp off;
  EXPECT_FALSE(NewAwsCredentialChainMinter(Env({{"AWS_EC2_METADATA_DISABLED", "true"}}), "r")(off, kNow).ok());
  EXPECT_TRUE(off.seen.empty());
}

TEST(AwsCredentialChainTest, ConfigFileProfilesAndWhatIsNotSupported) {
  TempDir dir;
  std::string ok_script = dir.Write("creds.sh",
                                    "#!/bin/sh\necho 'a prompt on stderr' >&2\n"
                                    "printf '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"PROCSECRET\", "
                                    "\"SessionToken\": \"proc-session\", \"Expiration\": \"2026-11-18T09:20:00Z\"}'\n");
  std::string config = dir.Write(
      "config",
      StrCat("[default]\nregion = us-east-1\n\n[profile static]\naws_access_key_id = AKIDCONFIG\n"
             "aws_secret_access_key = c\n\n[profile sso]\nsso_session = corp\nsso_account_id = 1\n\n"
             "[profile process]\ncredential_process = sh ", ok_script, "\n\n"
             "[profile failing]\ncredential_process = sh -c 'echo nope; exit 3'\n\n"
             "[profile garbage]\ncredential_process = echo not json\n\n"
             "[profile orphan]\nrole_arn = arn:aws:iam::1:role/r\n"));
  FakeHttp http;
  auto from_config = NewAwsCredentialChainMinter(
      Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "static"}, {"HOME", dir.path()}}), "r")(http, kNow);
  EXPECT_EQ(Decoded(from_config).access_key_id, "AKIDCONFIG");

  // credential_process: run through the shell; its JSON, with the Expiration it gives.
  auto proc = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "process"}}), "r")(http, kNow);
  ASSERT_TRUE(proc.ok()) << proc.status();
  AwsCredentials pc = Decoded(proc);
  EXPECT_EQ(pc.access_key_id, "ASIAPROCESS");
  EXPECT_EQ(pc.session_token, "proc-session");
  EXPECT_EQ(proc->expires_at, kNow + 3600);
  for (auto [kind, want] : {std::pair{"failing", "exited with status 3"}, {"garbage", "did not print a JSON object"},
                            {"sso", "no [sso-session corp] section"}, {"orphan", "role_arn needs source_profile"},
                            {"nope", "no such profile"}}) {
    auto t = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", kind}}), "r")(http, kNow);
    ASSERT_FALSE(t.ok()) << kind;
    std::string msg(t.status().message());
    EXPECT_NE(msg.find(want), std::string::npos) << kind << ": " << msg;
  }
  // A helper that leaves a child holding its output open, and one that never ends, are cut off
  // at the time limit along with everything they started (not waited on for ever).
  std::string slow = dir.Write("slow.sh", "#!/bin/sh\nsleep 3001 &\necho started\nsleep 3001\n");
  auto quick = RunCredentialHelper({"sh", slow}, {}, 300, 1024);
  ASSERT_FALSE(quick.ok());
  EXPECT_NE(std::string(quick.status().message()).find("did not finish"), std::string::npos) << quick.status();
  usleep(100 * 1000);
  // No process left whose command line is `sleep 3001` (read from /proc: no procps needed).
  bool survivor = false;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline == std::string("sleep\0" "3001\0", 11)) survivor = true;
  }
  EXPECT_FALSE(survivor) << "a child of the helper survived";

  // The default profile without keys (region only) is no source: the chain goes on.
  FakeHttp imds_off;
  auto next = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_EC2_METADATA_DISABLED", "true"}}), "r")(
      imds_off, kNow);
  ASSERT_FALSE(next.ok());
  EXPECT_NE(std::string(next.status().message()).find("instance metadata is disabled"), std::string::npos);
  EXPECT_TRUE(http.seen.empty());
}

// A role profile: STS AssumeRole, signed (SigV4, service sts) with the source profile's keys.
TEST(AwsCredentialChainTest, RoleProfileAssumesTheRoleWithTheSourceProfilesKeys) {
  TempDir dir;
  std::string creds = dir.Write("credentials", "[base]\naws_access_key_id = AKIDSOURCE\naws_secret_access_key = SRCSECRET\n");
  std::string config = dir.Write("config",
                                 "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/bedrock-caller\n"
                                 "source_profile = base\nexternal_id = ext-42\nrole_session_name = gw\n\n"
                                 "[profile loop]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop2\n\n"
                                 "[profile loop2]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop\n");
  std::string answer = kStsAnswer;
  answer.replace(answer.find("AssumeRoleWithWebIdentityResponse"), 33, "AssumeRoleResponse");
  FakeHttp http;
  http.answers["POST https://sts.eu-central-1.amazonaws.com/"] = {200, answer};
  auto t = NewAwsCredentialChainMinter(Env({{"AWS_SHARED_CREDENTIALS_FILE", creds}, {"AWS_CONFIG_FILE", config},
                                            {"AWS_PROFILE", "deploy"}}),
                                       "eu-central-1")(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Decoded(t).access_key_id, "ASIAWEBIDENTITY");  // kStsAnswer's keys
  ASSERT_EQ(http.seen.size(), 1u);
  const auto& req = http.seen[0];
  EXPECT_NE(req.body.find("Action=AssumeRole&"), std::string::npos) << req.body;
  EXPECT_NE(req.body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbedrock-caller"), std::string::npos) << req.body;
  EXPECT_NE(req.body.find("ExternalId=ext-42"), std::string::npos) << req.body;
  EXPECT_NE(req.body.find("RoleSessionName=gw"), std::string::npos) << req.body;
  EXPECT_EQ(req.headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=AKIDSOURCE/20261118/eu-central-1/sts/aws4_request", 0), 0u)
      << req.headers.at("authorization");
  EXPECT_EQ(req.headers.at("x-amz-date"), "20261118T082000Z");

  auto loop = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "loop"}}), "r")(http, kNow);
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(std::string(loop.status().message()).find("chain is circular"), std::string::npos) << loop.status();

  // A source profile with keys and a role of its own lends its keys (the SDKs' rule); a role
  // that wants an MFA code is refused by name.
  std::string config2 = dir.Write("config2",
                                  "[profile top]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = mid\n\n"
                                  "[profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = nowhere\n"
                                  "aws_access_key_id = AKIDMID\naws_secret_access_key = midsecret\n\n"
                                  "[profile mfa]\nrole_arn = arn:aws:iam::1:role/m\nsource_profile = mid\n"
                                  "mfa_serial = arn:aws:iam::1:mfa/me\n");
  FakeHttp http2;
  http2.answers["POST https://sts.eu-central-1.amazonaws.com/"] = {200, answer};
  auto top = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config2}, {"AWS_PROFILE", "top"}}), "eu-central-1")(http2, kNow);
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_EQ(http2.seen.size(), 1u) << "one AssumeRole, with mid's own keys";
  EXPECT_NE(http2.seen[0].body.find("role%2Ftop"), std::string::npos) << http2.seen[0].body;
  EXPECT_EQ(http2.seen[0].headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=AKIDMID/", 0), 0u);
  auto mfa = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config2}, {"AWS_PROFILE", "mfa"}}), "r")(http2, kNow);
  ASSERT_FALSE(mfa.ok());
  EXPECT_NE(std::string(mfa.status().message()).find("mfa_serial"), std::string::npos) << mfa.status();
}

// IAM Identity Center: the token `aws sso login` cached, traded at SSO GetRoleCredentials for
// the role's keys; refreshed through SSO OIDC and written back when it is about to expire.
class SsoProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path() + "/.aws/sso/cache");
    config_ = dir_.Write(".aws/config",
                         "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Bedrock User\n"
                         "region = us-east-1\n\n"
                         "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
                         "sso_registration_scopes = sso:account:access\n\n"
                         "[profile legacy]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-west-2\n"
                         "sso_account_id = 444455556666\nsso_role_name = Reader\n\n"
                         "[profile incomplete]\nsso_session = corp\nsso_account_id = 1\n\n"
                         "[profile lost]\nsso_session = gone\nsso_account_id = 1\nsso_role_name = r\n\n"
                         "[profile odd-region]\nsso_start_url = https://x\nsso_region = evil.test/x?\nsso_account_id = 1\n"
                         "sso_role_name = r\n\n"
                         "[profile assumer]\nrole_arn = arn:aws:iam::111122223333:role/bedrock\nsource_profile = dev\n");
    // The CLI names the cache file after the SHA-1 of the session name (of the start URL for
    // a legacy profile).
    session_cache_ = dir_.path() + "/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json";  // sha1("corp")
  }
  void WriteSessionCache(int64_t expires_at, bool refreshable = true) const {
    std::string doc = StrCat(R"({"startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1", "accessToken": "sso-access-1", )",
                             R"("expiresAt": ")", FormatIso8601Utc(expires_at), "\"");
    if (refreshable) {
      StrAppend(&doc, R"(, "clientId": "client-1", "clientSecret": "client-secret-1", "refreshToken": "refresh-1", )",
                R"("registrationExpiresAt": ")", FormatIso8601Utc(kNow + 86400 * 30), "\"");
    }
    std::ofstream(session_cache_) << doc << "}";
  }
  absl::StatusOr<Token> Mint(const std::string& profile, FakeHttp& http, std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env{{"HOME", dir_.path()}, {"AWS_PROFILE", profile}};
    env.insert(extra.begin(), extra.end());
    return NewAwsCredentialChainMinter(Env(env), "us-east-1")(http, kNow);
  }
  static HttpResponse RoleCredentials(const char* key_id) {
    return {200, StrCat(R"({"roleCredentials":{"accessKeyId":")", key_id,
                        R"(","secretAccessKey":"sso-secret","sessionToken":"sso-session-token","expiration":)",
                        (kNow + 3600) * 1000, "}}")};
  }
  static constexpr const char* kPortal =
      "GET https://portal.sso.eu-west-1.amazonaws.com/federation/credentials?account_id=111122223333&role_name=Bedrock%20User";
  TempDir dir_;
  std::string config_, session_cache_;
};

TEST_F(SsoProfileTest, CachedTokenIsTradedForTheRolesKeys) {
  WriteSessionCache(kNow + 3600);
  FakeHttp http;
  http.answers[kPortal] = RoleCredentials("ASIASSO1");
  auto t = Mint("dev", http);
  ASSERT_TRUE(t.ok()) << t.status();
  AwsCredentials c = Decoded(t);
  EXPECT_EQ(c.access_key_id, "ASIASSO1");
  EXPECT_EQ(c.secret_access_key, "sso-secret");
  EXPECT_EQ(c.session_token, "sso-session-token");
  EXPECT_EQ(t->expires_at, kNow + 3600);  // from the answer's milliseconds
  ASSERT_EQ(http.seen.size(), 1u) << "no refresh for a token an hour from expiry";
  EXPECT_EQ(http.seen[0].headers.at("x-amz-sso_bearer_token"), "sso-access-1");
  EXPECT_EQ(http.seen[0].body, "");

  // Keys in the environment still come first, AWS_PROFILE or not (botocore and the Go SDK).
  FakeHttp again;
  auto env_first = Mint("dev", again, {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "e"}});
  EXPECT_EQ(Decoded(env_first).access_key_id, "AKIDENV");
  EXPECT_TRUE(again.seen.empty());

  // Role credentials with a line break never reach STS as a role's source.
  FakeHttp poisoned;
  poisoned.answers[kPortal] = {200, StrCat(R"({"roleCredentials":{"accessKeyId":"ASIAX","secretAccessKey":"s",)",
                                           R"("sessionToken":"tok\r\nx-injected: 1","expiration":)", (kNow + 3600) * 1000, "}}")};
  auto bad = Mint("assumer", poisoned);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("control characters"), std::string::npos) << bad.status();
  EXPECT_EQ(poisoned.seen.size(), 1u) << "STS was called with them";

  // A role whose source profile is an SSO profile: assumed with the SSO keys.
  FakeHttp chained;
  chained.answers[kPortal] = RoleCredentials("ASIASSO3");
  std::string answer = kStsAnswer;
  answer.replace(answer.find("AssumeRoleWithWebIdentityResponse"), 33, "AssumeRoleResponse");
  chained.answers["POST https://sts.us-east-1.amazonaws.com/"] = {200, answer};
  auto role = Mint("assumer", chained);
  ASSERT_TRUE(role.ok()) << role.status();
  ASSERT_EQ(chained.seen.size(), 2u);
  EXPECT_EQ(chained.seen[1].headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=ASIASSO3/", 0), 0u);
  EXPECT_EQ(chained.seen[1].headers.at("x-amz-security-token"), "sso-session-token");

  // Endpoint overrides, as the SDKs read them.
  FakeHttp local;
  local.answers["GET http://127.0.0.1:9/federation/credentials?account_id=111122223333&role_name=Bedrock%20User"] =
      RoleCredentials("ASIALOCAL");
  EXPECT_EQ(Decoded(Mint("dev", local, {{"AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:9/"}})).access_key_id, "ASIALOCAL");
}

TEST_F(SsoProfileTest, TokenAboutToExpireIsRefreshedAndWrittenBack) {
  WriteSessionCache(kNow + 60);
  FakeHttp http;
  http.answers["POST https://oidc.eu-west-1.amazonaws.com/token"] = {
      200, R"({"accessToken":"sso-access-2","tokenType":"Bearer","expiresIn":28800,"refreshToken":"refresh-2"})"};
  http.answers[kPortal] = RoleCredentials("ASIAREFRESHED");
  auto t = Mint("dev", http);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Decoded(t).access_key_id, "ASIAREFRESHED");
  ASSERT_EQ(http.seen.size(), 2u);
  auto body = json::Parse(http.seen[0].body);
  ASSERT_TRUE(body.ok()) << http.seen[0].body;
  EXPECT_EQ(body->GetString("grantType"), "refresh_token");
  EXPECT_EQ(body->GetString("refreshToken"), "refresh-1");
  EXPECT_EQ(body->GetString("clientId"), "client-1");
  EXPECT_EQ(body->GetString("clientSecret"), "client-secret-1");
  EXPECT_EQ(http.seen[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(http.seen[1].headers.at("x-amz-sso_bearer_token"), "sso-access-2");
  // The cache now holds the new token, its expiry and the rotated refresh token; the rest is
  // kept, and only the owner can read it.
  std::ifstream in(session_cache_);
  auto cached = json::Parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->GetString("accessToken"), "sso-access-2");
  EXPECT_EQ(cached->GetString("refreshToken"), "refresh-2");
  EXPECT_EQ(cached->GetString("expiresAt"), FormatIso8601Utc(kNow + 28800));
  EXPECT_EQ(cached->GetString("startUrl"), "https://corp.awsapps.com/start");
  EXPECT_EQ(cached->GetString("clientSecret"), "client-secret-1");
  EXPECT_EQ(std::filesystem::status(session_cache_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // A refresh that fails: the old token serves while it lasts...
  WriteSessionCache(kNow + 60);
  FakeHttp refused;
  refused.answers["POST https://oidc.eu-west-1.amazonaws.com/token"] = {400, R"({"error":"invalid_grant"})"};
  refused.answers[kPortal] = RoleCredentials("ASIAOLDTOKEN");
  auto old = Mint("dev", refused);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(refused.seen.back().headers.at("x-amz-sso_bearer_token"), "sso-access-1");
  // A client registration that has expired is not used to refresh.
  WriteSessionCache(kNow + 60);
  {
    std::ifstream in(session_cache_);
    auto d = json::Parse(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    ASSERT_TRUE(d.ok());
    d->Set("registrationExpiresAt", json::Value::String(FormatIso8601Utc(kNow - 1)));
    std::ofstream(session_cache_) << json::Serialize(*d);
  }
  FakeHttp unregistered;
  unregistered.answers[kPortal] = RoleCredentials("ASIAUNREG");
  EXPECT_EQ(Decoded(Mint("dev", unregistered)).access_key_id, "ASIAUNREG");
  ASSERT_EQ(unregistered.seen.size(), 1u) << "a refresh with an expired registration was tried";
  // ... and once it has expired, the error says to log in again.
  WriteSessionCache(kNow - 10);
  FakeHttp expired;
  expired.answers["POST https://oidc.eu-west-1.amazonaws.com/token"] = {400, R"({"error":"invalid_grant"})"};
  auto gone = Mint("dev", expired);
  ASSERT_FALSE(gone.ok());
  std::string msg(gone.status().message());
  EXPECT_NE(msg.find("invalid_grant"), std::string::npos) << msg;
  EXPECT_NE(msg.find("aws sso login --sso-session corp"), std::string::npos) << msg;
  EXPECT_EQ(expired.seen.size(), 1u) << "no GetRoleCredentials with an expired token";
}

TEST_F(SsoProfileTest, FailuresSayWhatToDoWithoutTheToken) {
  FakeHttp http;
  // No login cached yet.
  auto none = Mint("dev", http);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(std::string(none.status().message()).find("run `aws sso login --sso-session corp`"), std::string::npos)
      << none.status();
  for (auto [profile, want] : {std::pair{"incomplete", "without sso_role_name"},
                               {"lost", "no [sso-session gone] section"},
                               {"odd-region", "sso_region is not a region name"}}) {
    auto t = Mint(profile, http);
    ASSERT_FALSE(t.ok()) << profile;
    EXPECT_NE(std::string(t.status().message()).find(want), std::string::npos) << profile << ": " << t.status();
  }
  // The portal refuses the token: the error names the role and says to log in, never the token.
  WriteSessionCache(kNow + 3600);
  http.answers[kPortal] = {401, R"({"message":"Session token not found or invalid"})"};
  auto refused = Mint("dev", http);
  ASSERT_FALSE(refused.ok());
  std::string msg(refused.status().message());
  EXPECT_NE(msg.find("status 401 (Session token not found or invalid)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Bedrock User"), std::string::npos) << msg;
  EXPECT_NE(msg.find("aws sso login"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("sso-access-1"), std::string::npos) << msg;
  EXPECT_EQ(http.seen.size(), 1u);
}

TEST_F(SsoProfileTest, LegacyProfileUsesTheStartUrlsCacheAndCannotRefresh) {
  std::string cache = StrCat(dir_.path(), "/.aws/sso/cache/", crypto::Sha1Hex("https://old.awsapps.com/start"), ".json");
  // Older CLIs wrote "...UTC" instead of "...Z".
  std::string at = FormatIso8601Utc(kNow + 600);
  std::ofstream(cache) << R"({"startUrl":"https://old.awsapps.com/start","region":"us-west-2","accessToken":"legacy-token",)"
                       << R"("expiresAt":")" << at.substr(0, at.size() - 1) << "UTC\"}";
  FakeHttp http;
  http.answers["GET https://portal.sso.us-west-2.amazonaws.com/federation/credentials?account_id=444455556666&role_name=Reader"] =
      RoleCredentials("ASIALEGACY");
  EXPECT_EQ(Decoded(Mint("legacy", http)).access_key_id, "ASIALEGACY");
  EXPECT_EQ(http.seen[0].headers.at("x-amz-sso_bearer_token"), "legacy-token");

  std::ofstream(cache) << R"({"accessToken":"legacy-token","expiresAt":")" << FormatIso8601Utc(kNow - 1) << "\"}";
  FakeHttp none;
  auto expired = Mint("legacy", none);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(std::string(expired.status().message()).find("run `aws sso login --profile legacy`"), std::string::npos)
      << expired.status();
  EXPECT_TRUE(none.seen.empty());
}

// credential_source: the keys that assume a role come from the environment, the container
// endpoint or instance metadata instead of a profile.
TEST(AwsCredentialChainTest, RoleWithCredentialSource) {
  TempDir dir;
  std::string config = dir.Write("config",
                                 "[profile env]\nrole_arn = arn:aws:iam::1:role/from-env\ncredential_source = Environment\n\n"
                                 "[profile ecs]\nrole_arn = arn:aws:iam::1:role/from-ecs\ncredential_source = EcsContainer\n\n"
                                 "[profile both]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Environment\n"
                                 "source_profile = env\n\n"
                                 "[profile odd]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Ec2\n\n"
                                 "[profile ec2]\nrole_arn = arn:aws:iam::1:role/from-ec2\ncredential_source = Ec2InstanceMetadata\n");
  std::string answer = kStsAnswer;
  answer.replace(answer.find("AssumeRoleWithWebIdentityResponse"), 33, "AssumeRoleResponse");
  FakeHttp http;
  http.answers["POST https://sts.us-east-1.amazonaws.com/"] = {200, answer};
  // Ec2InstanceMetadata: the instance role's keys assume the profile's role.
  http.answers["PUT http://169.254.169.254/latest/api/token"] = {200, "imds"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"] = {200, "ec2-role"};
  http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/ec2-role"] = {
      200, R"({"Code":"Success","AccessKeyId":"ASIAEC2SRC","SecretAccessKey":"e","Token":"ec2-tok","Expiration":"2026-11-18T09:20:00Z"})"};
  auto ec2 = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "ec2"}}), "us-east-1")(http, kNow);
  ASSERT_TRUE(ec2.ok()) << ec2.status();
  EXPECT_EQ(Decoded(ec2).access_key_id, "ASIAWEBIDENTITY");
  ASSERT_EQ(http.seen.size(), 4u);
  EXPECT_NE(http.seen[3].body.find("role%2Ffrom-ec2"), std::string::npos) << http.seen[3].body;
  EXPECT_EQ(http.seen[3].headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=ASIAEC2SRC/", 0), 0u);
  http.seen.clear();

  http.answers["GET http://169.254.170.2/v2/creds"] = {
      200, R"({"AccessKeyId":"ASIATASK","SecretAccessKey":"t","Token":"task-token","Expiration":"2026-11-18T09:20:00Z"})"};
  auto ecs = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "ecs"},
                                              {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"}}),
                                         "us-east-1")(http, kNow);
  ASSERT_TRUE(ecs.ok()) << ecs.status();
  ASSERT_EQ(http.seen.size(), 2u);
  EXPECT_EQ(http.seen[1].headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=ASIATASK/", 0), 0u);
  EXPECT_EQ(http.seen[1].headers.at("x-amz-security-token"), "task-token");

  for (auto [profile, want] : {std::pair{"both", "both source_profile and credential_source"},
                               {"odd", "credential_source Ec2 is not one of"},
                               {"ecs", "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}}) {
    auto t = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", profile}}), "us-east-1")(http, kNow);
    ASSERT_FALSE(t.ok()) << profile;
    EXPECT_NE(std::string(t.status().message()).find(want), std::string::npos) << profile << ": " << t.status();
  }
  auto no_env = NewAwsCredentialChainMinter(Env({{"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "env"}}), "us-east-1")(http, kNow);
  ASSERT_FALSE(no_env.ok());
  EXPECT_NE(std::string(no_env.status().message()).find("credential_source Environment, but AWS_ACCESS_KEY_ID"),
            std::string::npos) << no_env.status();
}

TEST(AwsCredentialChainTest, StsInChinaAndIpv6ContainerAgents) {
  TempDir dir;
  std::string jwt_file = dir.Write("token", "jwt");
  FakeHttp sts;
  sts.answers["POST https://sts.cn-north-1.amazonaws.com.cn/"] = {200, kStsAnswer};
  EXPECT_TRUE(NewAwsCredentialChainMinter(Env({{"AWS_WEB_IDENTITY_TOKEN_FILE", jwt_file}, {"AWS_ROLE_ARN", "arn:aws-cn:r"}}),
                                          "cn-north-1")(sts, kNow)
                  .ok());
  // EKS Pod Identity on an IPv6 cluster: the agent's link-local IPv6 address, with or without a port.
  for (const char* uri : {"http://[fd00:ec2::23]/v1/credentials", "http://[fd00:ec2::23]:80/v1/credentials",
                          "http://[::1]:8080/v1/credentials"}) {
    FakeHttp http;
    http.answers[std::string("GET ") + uri] = {
        200, R"({"AccessKeyId":"ASIAV6","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-18T10:00:00Z"})"};
    auto t = NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                                              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}}),
                                         "r")(http, kNow);
    EXPECT_EQ(Decoded(t).access_key_id, "ASIAV6") << uri;
  }
  // A token that would add header lines is refused, not sent.
  FakeHttp http;
  auto bad = NewAwsCredentialChainMinter(Env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"},
                                              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok\r\nx-evil: 1"}}),
                                         "r")(http, kNow);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(http.seen.empty());
}

TEST(AwsCredentialChainTest, InstanceMetadataFallsBackToV1) {
  const std::string roles = "GET http://169.254.169.254/latest/meta-data/iam/security-credentials/";
  auto answers = [&](FakeHttp* h) {
    h->answers[roles] = {200, "r1"};
    h->answers[roles + "r1"] = {200, R"({"Code":"Success","AccessKeyId":"ASIAV1","SecretAccessKey":"s","Token":"t",)"
                                     R"("Expiration":"2026-11-18T14:00:00Z"})"};
  };
  // IMDSv1-only instance: the token PUT is refused; the GETs go without a token.
  FakeHttp v1;
  answers(&v1);
  v1.answers["PUT http://169.254.169.254/latest/api/token"] = {403, ""};
  EXPECT_EQ(Decoded(NewAwsCredentialChainMinter(Env({}), "r")(v1, kNow)).access_key_id, "ASIAV1");
  ASSERT_EQ(v1.seen.size(), 3u);
  EXPECT_EQ(v1.seen[1].headers.count("x-aws-ec2-metadata-token"), 0u);
  // A container behind the hop limit never sees the PUT's answer: the same fallback.
  FakeHttp hop;
  answers(&hop);
  hop.silent.insert("PUT http://169.254.169.254/latest/api/token");
  EXPECT_EQ(Decoded(NewAwsCredentialChainMinter(Env({}), "r")(hop, kNow)).access_key_id, "ASIAV1");
  // ... unless IMDSv1 is disabled.
  FakeHttp off;
  answers(&off);
  off.answers["PUT http://169.254.169.254/latest/api/token"] = {403, ""};
  auto refused = NewAwsCredentialChainMinter(Env({{"AWS_EC2_METADATA_V1_DISABLED", "true"}}), "r")(off, kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("IMDSv1 is disabled"), std::string::npos);
  EXPECT_EQ(off.seen.size(), 1u);
}

TEST(AwsCredentialChainTest, Iso8601) {
  EXPECT_EQ(*ParseIso8601Utc("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseIso8601Utc("2026-11-18T09:46:40Z"), 1794995200);
  EXPECT_EQ(*ParseIso8601Utc("2026-11-18T09:46:40.123Z"), 1794995200);
  EXPECT_EQ(*ParseIso8601Utc("2026-11-18T09:46:40+00:00"), 1794995200);
  for (const char* bad : {"", "2026-11-18", "2026-11-18T09:46:40", "2026-13-18T09:46:40Z", "2026-11-18T09:46:40+02:00",
                          "2026-11-18T09:4x:40Z", "2026-11-18T09:46:40.Z"})
    EXPECT_FALSE(ParseIso8601Utc(bad).ok()) << bad;
}

TEST(AwsCredentialChainTest, EncodingRoundTrips) {
  AwsCredentials c{"AKID", "se/cr+et=", ""};
  auto d = DecodeAwsCredentials(EncodeAwsCredentials(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->access_key_id, "AKID");
  EXPECT_EQ(d->secret_access_key, "se/cr+et=");
  EXPECT_EQ(d->session_token, "");
  EXPECT_FALSE(DecodeAwsCredentials("no-separators").ok());
}

// The signer reads the source at every signature: rotated credentials sign the next request,
// with the signature a static signer over the same keys computes.
TEST(AwsCredentialChainTest, SignerFollowsRotatingCredentials) {
  config::BackendAuth auth;
  auth.type = config::BackendAuth::Type::kAWS;
  auth.aws_region = "us-east-1";
  AwsCredentials current{"ASIAONE", "secret-one", "session-one"};
  bool fail = false;
  auto clock = [] { return int64_t{1795000000}; };
  auto signer = NewAwsSigV4SignerWithSource(
      auth,
      [&](int64_t) -> absl::StatusOr<AwsCredentials> {
        if (fail) return absl::UnavailableError("aws:default-chain: token not available: STS down");
        return current;
      },
      clock);
  ASSERT_TRUE(signer.ok());
  http::HeaderMap headers;
  headers.Add("content-type", "application/json");
  SigningRequest req{"POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", headers, R"({"a":1})"};
  auto expect_like_static = [&](const AwsCredentials& c) {
    config::BackendAuth fixed = auth;
    fixed.aws_access_key_id = c.access_key_id;
    fixed.aws_secret_access_key = c.secret_access_key;
    fixed.aws_session_token = c.session_token;
    auto reference = NewAwsSigV4Signer(fixed, clock);
    ASSERT_TRUE(reference.ok());
    auto want = (*reference)->Sign(req);
    auto got = (*signer)->Sign(req);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_EQ(got->set, want->set);
    bool has_token = false;
    for (const auto& [k, v] : got->set) has_token |= k == "x-amz-security-token" && v == c.session_token;
    EXPECT_TRUE(has_token);
  };
  expect_like_static(current);
  current = {"ASIATWO", "secret-two", "session-two"};  // rotated: the signing key is derived again
  expect_like_static(current);
  fail = true;
  auto down = (*signer)->Sign(req);
  ASSERT_FALSE(down.ok());
  EXPECT_NE(std::string(down.status().message()).find("STS down"), std::string::npos);
}

}  // namespace
}  // namespace sluice::auth
