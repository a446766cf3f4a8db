#include "auth/oidc_exchange.h"

#include <algorithm>
#include <charconv>

#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

constexpr int kOidcTimeoutMs = 10000;
constexpr int64_t kDefaultLifetimeSeconds = 3600;  // a token answer without expires_in
constexpr int64_t kMaxLifetimeSeconds = 24 * 3600;

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// The provider's token endpoint: configured, else from its discovery document.
absl::StatusOr<std::string> TokenEndpoint(HttpClient& http, const config::OidcExchange& oidc) {
  if (!oidc.token_endpoint.empty()) return oidc.token_endpoint;
  const std::string issuer = TrimSlash(oidc.issuer);
  std::string url = StrCat(issuer, "/.well-known/openid-configuration");
  HttpRequest r;
  r.url = url;
  r.headers = {{"accept", "application/json"}};
  r.timeout_ms = kOidcTimeoutMs;
  auto resp = http.Send(r);
  if (!resp.ok()) return absl::UnavailableError(StrCat("OIDC discovery at ", url, ": ", resp.status().message()));
  if (resp->status != 200) {
    return absl::UnauthenticatedError(StrCat("OIDC discovery at ", url, " answered status ", resp->status));
  }
  auto doc = json::Parse(resp->body);
  if (!doc.ok() || !doc->is_object()) {
    return absl::UnauthenticatedError(StrCat("OIDC discovery at ", url, " answered no JSON object"));
  }
  if (TrimSlash(std::string(doc->GetString("issuer"))) != issuer) {
    return absl::UnauthenticatedError(StrCat("OIDC discovery at ", url, " names issuer \"",
                                             FirstLine(doc->GetString("issuer"), 200), "\", not the configured one"));
  }
  std::string endpoint(doc->GetString("token_endpoint"));
  if (!HttpsOrLoopbackUrl(endpoint)) {
    return absl::UnauthenticatedError(StrCat("OIDC discovery at ", url, " names no https token_endpoint (\"",
                                             FirstLine(endpoint, 200), "\")"));
  }
  return endpoint;
}

}  // namespace

absl::StatusOr<Token> FetchOidcToken(HttpClient& http, const config::OidcExchange& oidc, int64_t now) {
  for (const std::string* u : {&oidc.issuer, &oidc.token_endpoint}) {
    if (!u->empty() && !HttpsOrLoopbackUrl(*u)) {
      return absl::InvalidArgumentError(StrCat("OIDC: ", FirstLine(*u, 200), " is not an https URL (or loopback)"));
    }
  }
  ASSIGN_OR_RETURN(std::string endpoint, TokenEndpoint(http, oidc));
  std::string form = "grant_type=client_credentials";
  if (!oidc.scopes.empty()) {
    std::string scope;
    for (const auto& s : oidc.scopes) StrAppend(&scope, scope.empty() ? "" : " ", s);
    StrAppend(&form, "&scope=", FormEncode(scope));
  }
  if (!oidc.audience.empty()) StrAppend(&form, "&audience=", FormEncode(oidc.audience));
  absl::StatusOr<HttpResponse> resp = absl::UnknownError("");
  for (bool basic : {true, false}) {
    HttpRequest r;
    r.method = "POST";
    r.url = endpoint;
    r.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
    std::string body = form;  // may hold the client secret
    if (basic) {
      r.headers.emplace_back("authorization", StrCat("Basic ", crypto::Base64Encode(StrCat(
                                                                   FormEncode(oidc.client_id), ":", FormEncode(oidc.client_secret)))));
    } else {
      StrAppend(&body, "&client_id=", FormEncode(oidc.client_id), "&client_secret=", FormEncode(oidc.client_secret));
    }
    r.body = body;
    r.timeout_ms = kOidcTimeoutMs;
    resp = http.Send(r);
    if (!resp.ok()) return absl::UnavailableError(StrCat("the OIDC token endpoint ", endpoint, ": ", resp.status().message()));
    // A provider that takes the client's credentials only in the form refuses Basic with
    // invalid_client (400 or 401): try once more that way.
    if (!basic || (resp->status != 400 && resp->status != 401)) break;
    auto err = json::Parse(resp->body);
    if (!err.ok() || err->GetString("error") != "invalid_client") break;
  }
  auto doc = json::Parse(resp->body);
  if (resp->status != 200 || !doc.ok() || !doc->is_object()) {
    std::string why = doc.ok() && doc->is_object() ? std::string(doc->GetString("error")) : std::string();
    std::string detail = doc.ok() && doc->is_object() ? FirstLine(doc->GetString("error_description")) : std::string();
    return absl::UnauthenticatedError(StrCat("the OIDC token endpoint ", endpoint, " answered status ", resp->status,
                                             why.empty() ? "" : ": ", FirstLine(why, 100), detail.empty() ? "" : " (",
                                             detail, detail.empty() ? "" : ")"));
  }
  std::string token(doc->GetString("access_token"));  // secret
  if (token.empty() || !HeaderSafe(token)) {
    return absl::UnauthenticatedError(StrCat("the OIDC token endpoint ", endpoint, " answered no usable access_token"));
  }
  int64_t lifetime = kDefaultLifetimeSeconds;
  if (const json::Value* e = doc->Find("expires_in"); e != nullptr && (e->is_number() || e->is_string())) {
    int64_t v = 0;
    if (e->is_number()) {
      v = e->as_int();
    } else {
      const std::string& text = e->as_string();
      if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc()) v = 0;
    }
    if (v > 0) lifetime = std::min(v, kMaxLifetimeSeconds);
  }
  return Token{std::move(token), now + lifetime};
}

}  // namespace sluice::auth
