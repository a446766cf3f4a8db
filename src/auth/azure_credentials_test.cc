#include "auth/azure_credentials.h"

#include "auth/credential_test_util.h"
#include "common/strings.h"
#include "gtest/gtest.h"

namespace sluice::auth {
namespace {

using credtest::Env;
using credtest::FakeHttp;

constexpr int64_t kNow = 1794990000;
constexpr std::string_view kResource = "https://cognitiveservices.azure.com";
constexpr std::string_view kImdsUrl =
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
    "https%3A%2F%2Fcognitiveservices.azure.com";

std::string Msg(const absl::Status& s) { return std::string(ToStd(s.message())); }

// VMs, scale sets and AKS nodes: the instance metadata service, with `Metadata: true` and the
// user-assigned identity's client_id.
TEST(AzureManagedIdentityTest, InstanceMetadataServiceForAUserAssignedIdentity) {
  FakeHttp http;
  http.answers[StrCat("GET ", kImdsUrl, "&client_id=11111111-2222")] = HttpResponse{
      200, R"({"access_token":"eyJ0eXAi.imds","client_id":"11111111-2222","expires_in":"86399",)"
           R"("expires_on":"1795076399","resource":"https://cognitiveservices.azure.com","token_type":"Bearer"})"};
  auto t = NewAzureManagedIdentityMinter(Env({}), "11111111-2222", std::string(kResource))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "eyJ0eXAi.imds");
  EXPECT_EQ(t->expires_at, 1795076399);
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(http.seen[0].headers["metadata"], "true");

  // The system-assigned identity: no client_id. AZURE_POD_IDENTITY_AUTHORITY_HOST moves the
  // endpoint; a number for expires_in works too.
  FakeHttp custom;
  custom.answers["GET http://127.0.0.1:2377/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                 "https%3A%2F%2Fcognitiveservices.azure.com"] =
      HttpResponse{200, R"({"access_token":"sys","expires_in":3600})"};
  auto sys = NewAzureManagedIdentityMinter(Env({{"AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:2377/"}}), "",
                                           std::string(kResource))(custom, kNow);
  ASSERT_TRUE(sys.ok()) << sys.status();
  EXPECT_EQ(sys->value, "sys");
  EXPECT_EQ(sys->expires_at, kNow + 3600);
}

// App Service, Functions and Container Apps: IDENTITY_ENDPOINT with the IDENTITY_HEADER secret.
TEST(AzureManagedIdentityTest, AppServiceEndpointWithItsHeader) {
  FakeHttp http;
  http.answers["GET http://localhost:42356/msi/token?api-version=2019-08-01&resource="
               "https%3A%2F%2Fcognitiveservices.azure.com&client_id=abc"] =
      HttpResponse{200, R"({"access_token":"app-service-token","expires_on":"1794993600","resource":"r","token_type":"Bearer"})"};
  auto t = NewAzureManagedIdentityMinter(
      Env({{"IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"}, {"IDENTITY_HEADER", "HEADER-SECRET"}}), "abc",
      std::string(kResource))(http, kNow);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->value, "app-service-token");
  EXPECT_EQ(t->expires_at, 1794993600);
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(http.seen[0].headers["x-identity-header"], "HEADER-SECRET");
  EXPECT_EQ(http.seen[0].headers.count("metadata"), 0u);
}

TEST(AzureManagedIdentityTest, FailuresSayWhichEndpointAndWhyWithoutSecrets) {
  // Not on Azure: nothing answers.
  FakeHttp nothing;
  auto off = NewAzureManagedIdentityMinter(Env({}), "cid", std::string(kResource))(nothing, kNow);
  ASSERT_FALSE(off.ok());
  EXPECT_NE(Msg(off.status()).find("instance metadata service did not answer"), std::string::npos) << off.status();
  EXPECT_NE(Msg(off.status()).find("AZURE_FEDERATED_TOKEN_FILE"), std::string::npos) << off.status();

  // IMDS knows no such identity.
  FakeHttp unknown;
  unknown.answers[StrCat("GET ", kImdsUrl, "&client_id=cid")] =
      HttpResponse{400, R"({"error":"invalid_request","error_description":"Identity not found"})"};
  auto nf = NewAzureManagedIdentityMinter(Env({}), "cid", std::string(kResource))(unknown, kNow);
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(Msg(nf.status()).find("status 400: invalid_request (Identity not found) (client_id cid)"), std::string::npos)
      << nf.status();

  // App Service refuses: its message, not the header secret.
  FakeHttp app;
  app.answers["GET http://localhost:1/t?api-version=2019-08-01&resource=https%3A%2F%2Fcognitiveservices.azure.com"] =
      HttpResponse{401, R"({"statusCode":401,"message":"Unauthorized: X-IDENTITY-HEADER mismatch"})"};
  auto bad = NewAzureManagedIdentityMinter(Env({{"IDENTITY_ENDPOINT", "http://localhost:1/t"}, {"IDENTITY_HEADER", "HDRSECRET"}}),
                                           "", std::string(kResource))(app, kNow);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(Msg(bad.status()).find("App Service managed identity endpoint answered status 401"), std::string::npos)
      << bad.status();
  EXPECT_NE(Msg(bad.status()).find("mismatch"), std::string::npos) << bad.status();
  EXPECT_EQ(Msg(bad.status()).find("HDRSECRET"), std::string::npos) << bad.status();

  // A 200 without a token.
  FakeHttp empty;
  empty.answers[StrCat("GET ", kImdsUrl)] = HttpResponse{200, R"({"token_type":"Bearer"})"};
  auto e = NewAzureManagedIdentityMinter(Env({}), "", std::string(kResource))(empty, kNow);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(Msg(e.status()).find("without an access_token"), std::string::npos) << e.status();
}

}  // namespace
}  // namespace sluice::auth
