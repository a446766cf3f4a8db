#include "auth/signer.h"

#include <cstdlib>
#include <string>

#include "auth/aws_credentials.h"
#include "auth/aws_sigv4/aws_sigv4.h"
#include "auth/gcp_credentials.h"
#include "auth/token_source.h"
#include "common/strings.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

// Sets one header to a fixed credential: API keys of every flavour.
class HeaderSigner final : public BackendSigner {
 public:
  HeaderSigner(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest&) const override {
    http::HeaderMutation m;
    if (!name_.empty()) m.Set(name_, value_);
    return m;
  }
  bool NeedsRequest() const override { return false; }

 private:
  std::string name_;
  std::string value_;  // secret
};

// The token scope for Azure OpenAI in the cloud whose Entra authority is `authority`: the
// sovereign clouds have their own Cognitive Services audience (a commercial-cloud token is
// refused there).
namespace {
std::string_view AzureCognitiveServicesScope(std::string_view authority) {
  if (authority.ends_with(".microsoftonline.us")) return "https://cognitiveservices.azure.us/.default";
  if (authority.ends_with(".chinacloudapi.cn")) return "https://cognitiveservices.azure.cn/.default";
  return "https://cognitiveservices.azure.com/.default";
}
}  // namespace

// Azure Entra ID client credentials: a client secret, or without one Azure workload identity
// (AKS): the federated token in AZURE_FEDERATED_TOKEN_FILE, read at every refresh (the kubelet
// rotates it), is the client assertion. AZURE_AUTHORITY_HOST (as in Azure's SDKs; the AKS
// webhook sets it too) overrides https://login.microsoftonline.com, e.g. for sovereign clouds
// or a local test issuer.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAzureClientCredentialSigner(const config::BackendAuth& auth) {
  std::string authority = "https://login.microsoftonline.com";
  if (const char* h = std::getenv("AZURE_AUTHORITY_HOST"); h && *h) authority = h;
  while (!authority.empty() && authority.back() == '/') authority.pop_back();
  std::string url = StrCat(authority, "/", auth.azure_tenant_id, "/oauth2/v2.0/token");
  std::string form = StrCat("grant_type=client_credentials&client_id=", FormEncode(auth.azure_client_id),
                            "&scope=", FormEncode(AzureCognitiveServicesScope(authority)));
  std::string federated_file;  // workload identity
  if (auth.azure_client_secret.empty()) {
    const char* f = std::getenv("AZURE_FEDERATED_TOKEN_FILE");
    if (f == nullptr || *f == '\0') {
      return absl::InvalidArgumentError(
          "azure: AzureCredentials without clientSecretRef uses workload identity, which needs "
          "AZURE_FEDERATED_TOKEN_FILE (set by AKS for pods with azure.workload.identity/use)");
    }
    federated_file = f;
  } else {
    StrAppend(&form, "&client_secret=", FormEncode(auth.azure_client_secret));
  }
  auto minter = [url, form, federated_file](HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
    std::string body = form;
    if (!federated_file.empty()) {
      auto text = ReadCredentialFile(federated_file, "AZURE_FEDERATED_TOKEN_FILE");
      std::string assertion(StripWhitespace(text.ok() ? *text : std::string()));  // secret
      if (assertion.empty()) {
        return absl::UnauthenticatedError(StrCat("AZURE_FEDERATED_TOKEN_FILE ", federated_file, " cannot be read"));
      }
      StrAppend(&body, "&client_assertion_type=", FormEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                "&client_assertion=", FormEncode(assertion));
    }
    auto resp = http.PostForm(url, body);
    if (!resp.ok()) return resp.status();
    auto doc = json::Parse(resp->body);
    if (resp->status != 200 || !doc.ok()) {
      // error plus the first line of error_description, whose AADSTS code says what is wrong
      // (it names the app and tenant, never the secret).
      std::string why = doc.ok() ? std::string(doc->GetString("error")) : std::string("malformed answer");
      if (doc.ok()) {
        std::string_view desc = doc->GetString("error_description");
        desc = desc.substr(0, std::min(desc.find_first_of("\r\n"), size_t{300}));
        if (!desc.empty()) StrAppend(&why, why.empty() ? "" : " (", desc, why.empty() ? "" : ")");
      }
      return absl::UnauthenticatedError(StrCat("Entra ID token request failed with status ", resp->status,
                                               why.empty() ? "" : ": ", why));
    }
    std::string_view tok = doc->GetString("access_token");
    const json::Value* exp = doc->Find("expires_in");
    if (tok.empty()) return absl::InternalError("Entra ID answer has no access_token");
    int64_t ttl = 3600;
    if (exp && exp->is_number()) ttl = exp->as_int();
    else if (exp && exp->is_string()) ParseInt(exp->as_string(), &ttl);
    return Token{std::string(tok), now + ttl};
  };
  auto token = std::make_shared<RefreshingToken>(StrCat("azure:", auth.azure_client_id), std::move(minter));
  TokenRefresher::Get().Register(token);
  return NewBearerTokenSigner(std::move(token));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackendSigner>> NewSigner(const config::BackendAuth& auth) {
  using T = config::BackendAuth::Type;
  switch (auth.type) {
    case T::kNone: return std::make_unique<HeaderSigner>("", "");
    case T::kAPIKey: return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", auth.key));
    case T::kAzureAPIKey: return std::make_unique<HeaderSigner>("api-key", auth.key);
    case T::kAnthropicAPIKey: return std::make_unique<HeaderSigner>("x-api-key", auth.key);
    case T::kAzureToken:
      if (auth.azure_access_token.empty()) return NewAzureClientCredentialSigner(auth);
      return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", auth.azure_access_token));
    case T::kAWS: return auth.aws_credential_chain ? NewAwsCredentialChainSigner(auth) : NewAwsSigV4Signer(auth);
    case T::kGCP:
      if (std::string_view token = StripWhitespace(auth.gcp_access_token); !token.empty())
        return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", token));
      return NewGcpTokenSigner(auth);
  }
  return absl::InvalidArgumentError("unknown auth type");
}

}  // namespace sluice::auth
