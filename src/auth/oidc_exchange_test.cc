#include "auth/oidc_exchange.h"

#include "auth/aws_credentials.h"
#include "auth/credential_test_util.h"
#include "auth/gcp_credentials.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::auth {
namespace {

using credtest::Env;
using credtest::FakeHttp;

constexpr int64_t kNow = 1794990000;  // 2026-11-18T08:20:00Z

config::OidcExchange Oidc() {
  config::OidcExchange o;
  o.issuer = "https://idp.test/realms/ai";
  o.client_id = "gw client";
  o.client_secret = "s3cr:et/+";
  o.scopes = {"openid", "bedrock"};
  o.audience = "sts.amazonaws.com";
  return o;
}

HttpResponse Discovery(std::string_view issuer = "https://idp.test/realms/ai") {
  return {200, StrCat(R"({"issuer":")", issuer, R"(","token_endpoint":"https://idp.test/realms/ai/protocol/openid-connect/token"})")};
}

constexpr const char* kTokenUrl = "POST https://idp.test/realms/ai/protocol/openid-connect/token";

TEST(OidcExchangeTest, DiscoversTheTokenEndpointAndAuthenticatesWithBasic) {
  FakeHttp http;
  http.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = Discovery();
  http.answers[kTokenUrl] = {200, R"({"access_token":"eyJ.oidc.sig","token_type":"Bearer","expires_in":"600"})"};
  auto t = FetchOidcToken(http, Oidc(), kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "eyJ.oidc.sig");
  EXPECT_EQ(t->expires_at, kNow + 600);  // expires_in as a string, as some providers send it
  ASSERT_EQ(http.seen.size(), 2u);
  const auto& grant = http.seen[1];
  EXPECT_EQ(grant.body, "grant_type=client_credentials&scope=openid%20bedrock&audience=sts.amazonaws.com");
  // RFC 6749 2.3.1: id and secret form-encoded, then base64.
  EXPECT_EQ(grant.headers.at("authorization"), StrCat("Basic ", crypto::Base64Encode("gw%20client:s3cr%3Aet%2F%2B")));
  EXPECT_EQ(grant.headers.at("content-type"), "application/x-www-form-urlencoded");

  // A configured token endpoint: no discovery.
  FakeHttp direct;
  auto o = Oidc();
  o.token_endpoint = "https://idp.test/token";
  direct.answers["POST https://idp.test/token"] = {200, R"({"access_token":"eyJ.direct.sig"})"};
  auto d = FetchOidcToken(direct, o, kNow);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->expires_at, kNow + 3600);
  EXPECT_EQ(direct.seen.size(), 1u);
}

TEST(OidcExchangeTest, FallsBackToFormCredentialsWhenBasicIsRefused) {
  FakeHttp http;
  http.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = Discovery();
  http.answers[kTokenUrl] = {401, R"({"error":"invalid_client"})"};
  auto t = FetchOidcToken(http, Oidc(), kNow);
  ASSERT_FALSE(t.ok());
  ASSERT_EQ(http.seen.size(), 3u) << "Basic, then the form";
  EXPECT_EQ(http.seen[2].headers.count("authorization"), 0u);
  EXPECT_NE(http.seen[2].body.find("&client_id=gw%20client&client_secret=s3cr%3Aet%2F%2B"), std::string::npos) << http.seen[2].body;
  std::string msg(t.status().message());
  EXPECT_NE(msg.find("status 401: invalid_client"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("s3cr"), std::string::npos) << msg;

  // Another refusal (a bad scope) is not retried.
  FakeHttp scope;
  scope.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = Discovery();
  scope.answers[kTokenUrl] = {400, R"({"error":"invalid_scope","error_description":"scope bedrock is not allowed"})"};
  auto s = FetchOidcToken(scope, Oidc(), kNow);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(scope.seen.size(), 2u);
  EXPECT_NE(std::string(s.status().message()).find("invalid_scope (scope bedrock is not allowed)"), std::string::npos) << s.status();
}

TEST(OidcExchangeTest, RefusesADiscoveryDocumentForAnotherIssuer) {
  FakeHttp http;
  http.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = Discovery("https://evil.test");
  auto t = FetchOidcToken(http, Oidc(), kNow);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.status().message()).find("not the configured one"), std::string::npos) << t.status();
  EXPECT_EQ(http.seen.size(), 1u) << "the secret went nowhere";

  // The client secret goes to https only (plain http to loopback): a discovered or configured
  // http endpoint elsewhere is refused before anything is sent.
  FakeHttp plain;
  plain.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = {
      200, R"({"issuer":"https://idp.test/realms/ai","token_endpoint":"http://idp.test/token"})"};
  auto clear = FetchOidcToken(plain, Oidc(), kNow);
  ASSERT_FALSE(clear.ok());
  EXPECT_NE(std::string(clear.status().message()).find("no https token_endpoint"), std::string::npos) << clear.status();
  EXPECT_EQ(plain.seen.size(), 1u);
  auto o = Oidc();
  o.token_endpoint = "http://idp.test/token";
  FakeHttp none;
  EXPECT_FALSE(FetchOidcToken(none, o, kNow).ok());
  EXPECT_TRUE(none.seen.empty());

  FakeHttp bad;
  bad.answers["GET https://idp.test/realms/ai/.well-known/openid-configuration"] = Discovery();
  bad.answers[kTokenUrl] = {200, "{\"access_token\":\"a\\r\\nx-injected: 1\"}"};
  auto injected = FetchOidcToken(bad, Oidc(), kNow);
  ASSERT_FALSE(injected.ok());
  EXPECT_NE(std::string(injected.status().message()).find("no usable access_token"), std::string::npos);
}

constexpr const char* kStsAnswer = R"(<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>
<AccessKeyId>ASIAOIDC</AccessKeyId><SecretAccessKey>oidc-secret</SecretAccessKey><SessionToken>oidc-session</SessionToken>
<Expiration>2026-11-18T09:20:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>)";

TEST(OidcExchangeTest, AwsAssumesTheRoleWithTheProvidersToken) {
  auto o = Oidc();
  o.token_endpoint = "https://idp.test/token";
  o.aws_role_arn = "arn:aws:iam::1:role/gw";
  o.session_name = "ai-gateway-policy";
  FakeHttp http;
  http.answers["POST https://idp.test/token"] = {200, R"({"access_token":"eyJ.for-sts.sig","expires_in":300})"};
  http.answers["POST https://sts.eu-west-1.amazonaws.com/"] = {200, kStsAnswer};
  auto t = NewAwsOidcExchangeMinter(Env({}), o, "eu-west-1")(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  auto c = DecodeAwsCredentials(t->value);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "ASIAOIDC");
  EXPECT_EQ(t->expires_at, kNow + 3600);  // the role's expiry, not the OIDC token's
  ASSERT_EQ(http.seen.size(), 2u);
  EXPECT_EQ(http.seen[1].body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fgw"
            "&RoleSessionName=ai-gateway-policy&WebIdentityToken=eyJ.for-sts.sig");
}

TEST(OidcExchangeTest, GcpExchangesAtStsAndImpersonates) {
  auto o = Oidc();
  o.token_endpoint = "https://idp.test/token";
  o.gcp_sts_audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/idp";
  o.gcp_service_account = "vertex@p.iam.gserviceaccount.com";
  FakeHttp http;
  http.answers["POST https://idp.test/token"] = {200, R"({"access_token":"eyJ.for-google.sig"})"};
  http.answers["POST https://sts.test/v1/token"] = {200, R"({"access_token":"sts.FEDERATED","token_type":"Bearer","expires_in":3600})"};
  http.answers["POST https://iam.test/v1/projects/-/serviceAccounts/vertex@p.iam.gserviceaccount.com:generateAccessToken"] = {
      200, R"({"accessToken":"ya29.vertex","expireTime":"2026-11-18T09:20:00Z"})"};
  auto t = NewGcpOidcExchangeMinter(o, "https://sts.test/v1/token", "https://iam.test")(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "ya29.vertex");
  ASSERT_EQ(http.seen.size(), 3u);
  EXPECT_NE(http.seen[1].body.find("subject_token=eyJ.for-google.sig"), std::string::npos) << http.seen[1].body;
  EXPECT_NE(http.seen[1].body.find("subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt"), std::string::npos);
  EXPECT_NE(http.seen[1].body.find("audience=%2F%2Fiam.googleapis.com%2Fprojects%2F123%2Flocations%2Fglobal%2FworkloadIdentityPools%2Fpool%2Fproviders%2Fidp"),
            std::string::npos) << http.seen[1].body;
  EXPECT_NE(http.seen[1].body.find("scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"), std::string::npos);
  EXPECT_NE(http.seen[1].body.find("requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"),
            std::string::npos);
  EXPECT_NE(http.seen[1].body.find("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"), std::string::npos);
  EXPECT_EQ(http.seen[2].headers.at("authorization"), "Bearer sts.FEDERATED");
  auto body = json::Parse(http.seen[2].body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("lifetime"), "3600s");
  EXPECT_EQ(body->Find("delegates"), nullptr);

  // Without impersonation the federated token is the answer.
  o.gcp_service_account.clear();
  FakeHttp direct;
  direct.answers = http.answers;
  auto f = NewGcpOidcExchangeMinter(o, "https://sts.test/v1/token", "https://iam.test")(direct, kNow);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->value, "sts.FEDERATED");
  EXPECT_EQ(direct.seen.size(), 2u);
}

}  // namespace
}  // namespace sluice::auth
