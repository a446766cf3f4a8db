#include "auth/azure_credentials.h"

#include <algorithm>
#include <utility>

#include "auth/oidc_exchange.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

constexpr int kImdsTimeoutMs = 3000;

// An integer that Azure sends as a JSON number or as a string of digits.
bool IntField(const json::Value& doc, std::string_view key, int64_t* out) {
  const json::Value* v = doc.Find(key);
  if (v == nullptr) return false;
  if (v->is_number()) {
    *out = v->as_int();
    return true;
  }
  return v->is_string() && ParseInt(v->as_string(), out);
}

// {"access_token", "expires_on" (Unix seconds) or "expires_in"}: Entra's and the managed
// identity endpoints' answer.
absl::StatusOr<Token> TokenFromAnswer(const json::Value& doc, std::string_view who, int64_t now) {
  std::string_view tok = doc.GetString("access_token");
  if (tok.empty()) return absl::UnauthenticatedError(StrCat(who, " answered without an access_token"));
  if (!HeaderSafe(tok)) return absl::UnauthenticatedError(StrCat(who, " answered an unusable access_token"));
  int64_t at = 0;
  if (int64_t on = 0; IntField(doc, "expires_on", &on) && on > now) at = on;
  else if (int64_t in = 0; IntField(doc, "expires_in", &in) && in > 0) at = now + in;
  else at = now + 3600;
  return Token{std::string(tok), at};
}

// The reason in an error answer: Entra's and IMDS's {"error","error_description"}, App
// Service's {"message"} or {"error":{"code","message"}}; first line, clipped.
std::string ErrorReason(const absl::StatusOr<json::Value>& doc) {
  if (!doc.ok() || !doc->is_object()) return "malformed answer";
  std::string why;
  const json::Value* e = doc->Find("error");
  if (e && e->is_object()) {
    why = StrCat(FirstLine(e->GetString("code"), 100), e->GetString("code").empty() ? "" : ": ", FirstLine(e->GetString("message")));
  } else {
    why = FirstLine(doc->GetString("error"), 100);
    std::string_view desc = doc->GetString("error_description");
    if (desc.empty()) desc = doc->GetString("message");
    std::string line = FirstLine(desc);
    if (!line.empty()) StrAppend(&why, why.empty() ? "" : " (", line, why.empty() ? "" : ")");
  }
  return why;
}

// The Cognitive Services audience (resource) of the cloud whose Entra authority is `authority`:
// the sovereign clouds have their own (a commercial-cloud token is refused there).
std::string_view CognitiveServicesResource(std::string_view authority) {
  if (authority.ends_with(".microsoftonline.us")) return "https://cognitiveservices.azure.us";
  if (authority.ends_with(".chinacloudapi.cn")) return "https://cognitiveservices.azure.cn";
  return "https://cognitiveservices.azure.com";
}

// Entra's answer to a client-credentials grant.
absl::StatusOr<Token> EntraAnswer(const absl::StatusOr<HttpResponse>& resp, int64_t now) {
  if (!resp.ok()) return resp.status();
  auto doc = json::Parse(resp->body);
  if (resp->status != 200 || !doc.ok() || !doc->is_object()) {
    // error plus the first line of error_description, whose AADSTS code says what is wrong
    // (it names the app and tenant, never the secret).
    std::string why = ErrorReason(doc);
    return absl::UnauthenticatedError(StrCat("Entra ID token request failed with status ", resp->status,
                                             why.empty() ? "" : ": ", why));
  }
  return TokenFromAnswer(*doc, "Entra ID", now);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAzureEntraSigner(const config::BackendAuth& auth) {
  EnvLookup env = ProcessEnv();
  std::string authority = env("AZURE_AUTHORITY_HOST");
  if (authority.empty()) authority = "https://login.microsoftonline.com";
  while (!authority.empty() && authority.back() == '/') authority.pop_back();
  const std::string resource(CognitiveServicesResource(authority));
  std::string url = StrCat(authority, "/", auth.azure_tenant_id, "/oauth2/v2.0/token");
  std::string form = StrCat("grant_type=client_credentials&client_id=", FormEncode(auth.azure_client_id),
                            "&scope=", FormEncode(StrCat(resource, "/.default")));
  std::string federated_file;  // workload identity
  if (auth.oidc.enabled()) {
    // oidcExchangeToken: the OIDC provider's token is the client assertion (a federated
    // credential on the app registration), fetched anew at every refresh.
    auto minter = [url, form, oidc = auth.oidc](HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
      ASSIGN_OR_RETURN(Token assertion, FetchOidcToken(http, oidc, now));
      std::string body = StrCat(form, "&client_assertion_type=", FormEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                                "&client_assertion=", FormEncode(assertion.value));
      return EntraAnswer(http.PostForm(url, body), now);
    };
    auto token = std::make_shared<RefreshingToken>(StrCat("azure:oidc:", auth.azure_client_id), std::move(minter));
    TokenRefresher::Get().Register(token);
    return NewBearerTokenSigner(std::move(token));
  }
  if (auth.azure_client_secret.empty()) {
    federated_file = env("AZURE_FEDERATED_TOKEN_FILE");
    if (federated_file.empty()) {
      // Neither a secret nor a federated token: the managed identity the policy's clientID names.
      auto token = std::make_shared<RefreshingToken>(
          StrCat("azure:managed-identity:", auth.azure_client_id),
          NewAzureManagedIdentityMinter(std::move(env), auth.azure_client_id, resource));
      TokenRefresher::Get().Register(token);
      return NewBearerTokenSigner(std::move(token));
    }
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
    return EntraAnswer(http.PostForm(url, body), now);
  };
  auto token = std::make_shared<RefreshingToken>(StrCat("azure:", auth.azure_client_id), std::move(minter));
  TokenRefresher::Get().Register(token);
  return NewBearerTokenSigner(std::move(token));
}

TokenMinter NewAzureManagedIdentityMinter(EnvLookup env, std::string client_id, std::string resource) {
  return [env = std::move(env), client_id = std::move(client_id), resource = std::move(resource)](
             HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
    HttpRequest r;
    std::string url, secret_header;  // secret_header: secret
    std::string_view who;
    std::string endpoint = env("IDENTITY_ENDPOINT");
    secret_header = env("IDENTITY_HEADER");
    if (!endpoint.empty() && !secret_header.empty()) {
      // App Service, Functions, Container Apps.
      who = "the App Service managed identity endpoint";
      url = StrCat(endpoint, endpoint.find('?') == std::string::npos ? "?" : "&", "api-version=2019-08-01&resource=",
                   FormEncode(resource));
      if (!HeaderSafe(secret_header)) return absl::UnauthenticatedError("IDENTITY_HEADER holds control characters");
      r.headers = {{"x-identity-header", secret_header}};
    } else {
      // The instance metadata service (VMs, scale sets, AKS nodes).
      who = "the Azure instance metadata service";
      std::string host = env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
      if (host.empty()) host = "http://169.254.169.254";
      while (!host.empty() && host.back() == '/') host.pop_back();
      url = StrCat(host, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=", FormEncode(resource));
      r.headers = {{"metadata", "true"}};
      r.timeout_ms = kImdsTimeoutMs;
    }
    if (!client_id.empty()) StrAppend(&url, "&client_id=", FormEncode(client_id));
    r.headers.emplace_back("accept", "application/json");
    r.url = url;
    auto resp = http.Send(r);
    if (!resp.ok()) {
      return absl::UnavailableError(StrCat("no managed identity: ", who, " did not answer (",
                                           ToStd(resp.status().message()), "); AzureCredentials without "
                                           "clientSecretRef needs AZURE_FEDERATED_TOKEN_FILE (AKS workload "
                                           "identity) or a managed identity"));
    }
    auto doc = json::Parse(resp->body);
    if (resp->status != 200 || !doc.ok() || !doc->is_object()) {
      std::string why = ErrorReason(doc);
      return absl::UnauthenticatedError(StrCat(who, " answered status ", resp->status, why.empty() ? "" : ": ", why,
                                               client_id.empty() ? "" : StrCat(" (client_id ", client_id, ")")));
    }
    return TokenFromAnswer(*doc, who, now);
  };
}

}  // namespace sluice::auth
