#include "auth/gcp/gcp.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "auth/gcp/testdata.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::auth {
namespace {

using gcptest::ReadTestdata;

std::string KeyJson(std::string_view pem, std::string_view type = "service_account") {
  json::Value v = json::Value::Object();
  v.Set("type", json::Value::String(std::string(type)));
  v.Set("project_id", json::Value::String("example-project"));
  v.Set("private_key_id", json::Value::String("key-1"));
  v.Set("private_key", json::Value::String(std::string(pem)));
  v.Set("client_email", json::Value::String("sluice-test@example-project.iam.gserviceaccount.com"));
  v.Set("token_uri", json::Value::String("https://oauth2.googleapis.com/token"));
  return json::Serialize(v);
}

std::string B64UrlDecode(std::string_view s) {
  std::string t(s);
  for (char& c : t) c = c == '-' ? '+' : c == '_' ? '/' : c;
  auto d = crypto::Base64Decode(t);
  EXPECT_TRUE(d.ok()) << s;
  return d.ok() ? *d : "";
}

TEST(GcpKeyTest, LoadRejectsUnusableKeysWithoutQuotingThem) {
  ASSERT_TRUE(LoadGcpServiceAccountKey(KeyJson(ReadTestdata("test_key.pem"))).ok());
  const std::string secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETBYTES\n-----END PRIVATE KEY-----\n";
  struct Case {
    std::string json;
    std::string want;
  } cases[] = {
      {"{not json " + secret, "not a JSON object"},
      {KeyJson(secret, "external_account"), "type \"external_account\" is not supported"},
      {R"({"type":"service_account","private_key":"x"})", "client_email: missing"},
      {R"({"type":"service_account","client_email":"a@b"})", "private_key: missing"},
      {KeyJson(secret), "private_key: rsa:"},
  };
  for (const auto& c : cases) {
    auto s = LoadGcpServiceAccountKey(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    std::string msg(ToStd(s.status().message()));
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_EQ(msg.find("TOPSECRET"), std::string::npos) << "secret leaked: " << msg;
  }
}

TEST(GcpJwtTest, AssertionMatchesOpensslAndVerifies) {
  auto key = ParseGcpServiceAccountKey(KeyJson(ReadTestdata("test_key.pem")));
  ASSERT_TRUE(key.ok()) << key.status();
  auto jwt = BuildGcpJwtAssertion(*key, 1700000000);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  // Produced independently with `openssl dgst -sha256 -sign` over the same header and claims
  // (RS256 / PKCS#1 v1.5 is deterministic).
  EXPECT_EQ(*jwt, ReadTestdata("assertion.openssl.txt"));

  size_t d1 = jwt->find('.'), d2 = jwt->rfind('.');
  ASSERT_NE(d1, d2);
  auto header = json::Parse(B64UrlDecode(jwt->substr(0, d1)));
  auto claims = json::Parse(B64UrlDecode(jwt->substr(d1 + 1, d2 - d1 - 1)));
  ASSERT_TRUE(header.ok() && claims.ok());
  EXPECT_EQ(header->GetString("alg"), "RS256");
  EXPECT_EQ(header->GetString("typ"), "JWT");
  EXPECT_EQ(header->GetString("kid"), "key-1");
  EXPECT_EQ(claims->GetString("iss"), "sluice-test@example-project.iam.gserviceaccount.com");
  EXPECT_EQ(claims->GetString("scope"), "https://www.googleapis.com/auth/cloud-platform");
  EXPECT_EQ(claims->GetString("aud"), "https://oauth2.googleapis.com/token");
  EXPECT_EQ(claims->Find("iat")->as_int(), 1700000000);
  EXPECT_EQ(claims->Find("exp")->as_int(), 1700003600);
  EXPECT_TRUE(crypto::RsaSha256Verify(ReadTestdata("test_key.pub.pem"), jwt->substr(0, d2),
                                      B64UrlDecode(jwt->substr(d2 + 1))));
  // base64url without padding: no '+', '/', '='.
  EXPECT_EQ(jwt->find_first_of("+/="), std::string::npos);
}

TEST(GcpJwtTest, DefaultsAndOptionalFields) {
  auto key = ParseGcpServiceAccountKey(
      R"({"client_email":"e@x","private_key":"k"})");  // no type, token_uri or key id
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->token_uri, "https://oauth2.googleapis.com/token");
  key->private_key = ReadTestdata("test_key.pem");
  auto jwt = BuildGcpJwtAssertion(*key, 10, "scope-a scope-b");
  ASSERT_TRUE(jwt.ok());
  auto header = json::Parse(B64UrlDecode(jwt->substr(0, jwt->find('.'))));
  EXPECT_EQ(header->Find("kid"), nullptr);
  size_t d1 = jwt->find('.'), d2 = jwt->rfind('.');
  auto claims = json::Parse(B64UrlDecode(jwt->substr(d1 + 1, d2 - d1 - 1)));
  EXPECT_EQ(claims->GetString("scope"), "scope-a scope-b");
  EXPECT_EQ(claims->Find("exp")->as_int(), 3610);
}

TEST(GcpJwtTest, TokenRequestBody) {
  EXPECT_EQ(GcpTokenRequestBody("aa.bb.c-_"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=aa.bb.c-_");
}

TEST(GcpJwtTest, TokenResponse) {
  auto t = ParseGcpTokenResponse(R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})", 100);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->token, "ya29.x");
  EXPECT_EQ(t->expires_at, 3699);
  auto refused = ParseGcpTokenResponse(R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})", 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(ToStd(refused.status().message()).find("invalid_grant: Invalid JWT Signature."), std::string::npos);
  EXPECT_EQ(ParseGcpTokenResponse("<html>", 0).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ParseGcpTokenResponse(R"({"access_token":"x"})", 0).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace sluice::auth
