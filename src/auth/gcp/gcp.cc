#include "auth/gcp/gcp.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace sluice::auth {


absl::StatusOr<GcpServiceAccountKey> ParseGcpServiceAccountKey(std::string_view key_json) {
  auto doc = json::Parse(key_json);
  if (!doc.ok() || !doc->is_object()) {
    // The parser's message may quote the input, which holds the private key: not repeated.
    return absl::InvalidArgumentError("gcp_service_account_json: not a JSON object");
  }
  if (const json::Value* type = doc->Find("type"); type && type->is_string() && type->as_string() != "service_account") {
    return absl::InvalidArgumentError(StrCat("gcp_service_account_json: type \"", type->as_string(),
                                             "\" is not supported; use a service_account key"));
  }
  GcpServiceAccountKey key;
  key.client_email = std::string(doc->GetString("client_email"));
  key.private_key = std::string(doc->GetString("private_key"));
  key.private_key_id = std::string(doc->GetString("private_key_id"));
  key.token_uri = std::string(doc->GetString("token_uri"));
  if (key.client_email.empty()) return absl::InvalidArgumentError("gcp_service_account_json.client_email: missing");
  if (key.private_key.empty()) return absl::InvalidArgumentError("gcp_service_account_json.private_key: missing");
  if (key.token_uri.empty()) key.token_uri = std::string(kGcpDefaultTokenUri);
  return key;
}

absl::StatusOr<std::string> BuildGcpJwtAssertion(const GcpServiceAccountKey& key, int64_t now,
                                                 std::string_view scope) {
  json::Value header = json::Value::Object();
  header.Set("alg", json::Value::String("RS256"));
  header.Set("typ", json::Value::String("JWT"));
  if (!key.private_key_id.empty()) header.Set("kid", json::Value::String(key.private_key_id));
  json::Value claims = json::Value::Object();
  claims.Set("iss", json::Value::String(key.client_email));
  claims.Set("scope", json::Value::String(std::string(scope)));
  claims.Set("aud", json::Value::String(key.token_uri));
  claims.Set("iat", json::Value::Int(now));
  claims.Set("exp", json::Value::Int(now + kGcpAssertionLifetimeSeconds));
  std::string signing_input = StrCat(crypto::Base64UrlEncode(json::Serialize(header)), ".",
                                     crypto::Base64UrlEncode(json::Serialize(claims)));
  auto sig = crypto::RsaSha256Sign(key.private_key, signing_input);
  if (!sig.ok()) {
    return absl::Status(sig.status().code(),
                        StrCat("gcp_service_account_json.private_key: ", ToStd(sig.status().message())));
  }
  StrAppend(&signing_input, ".", crypto::Base64UrlEncode(*sig));
  return signing_input;
}

std::string GcpTokenRequestBody(std::string_view assertion) {
  return StrCat("grant_type=", FormEncode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                "&assertion=", FormEncode(assertion));
}

absl::StatusOr<GcpAccessToken> ParseGcpTokenResponse(std::string_view body, int64_t now, int64_t default_lifetime) {
  auto doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return absl::InternalError("gcp token endpoint: answer is not a JSON object");
  if (std::string_view err = doc->GetString("error"); !err.empty()) {
    std::string desc = FirstLine(doc->GetString("error_description"));
    return absl::UnauthenticatedError(
        StrCat("gcp token endpoint refused the request: ", FirstLine(err, 100), desc.empty() ? "" : ": ", desc));
  }
  GcpAccessToken t;
  t.token = std::string(doc->GetString("access_token"));
  if (t.token.empty()) return absl::InternalError("gcp token endpoint: answer has no access_token");
  // It goes into an Authorization header: a line break would inject headers upstream.
  if (!HeaderSafe(t.token)) return absl::InternalError("gcp token endpoint: answer has an unusable access_token");
  const json::Value* expires = doc->Find("expires_in");
  int64_t lifetime = default_lifetime;
  if (expires != nullptr && expires->is_number()) lifetime = expires->as_int();
  if (lifetime <= 0) return absl::InternalError("gcp token endpoint: answer has no positive expires_in");
  t.expires_at = now + std::min<int64_t>(lifetime, kGcpMaxTokenLifetimeSeconds);
  return t;
}

absl::StatusOr<GcpServiceAccountKey> LoadGcpServiceAccountKey(std::string_view key_json) {
  ASSIGN_OR_RETURN(GcpServiceAccountKey key, ParseGcpServiceAccountKey(key_json));
  // Fail at config load, not at the first token fetch, when the private key cannot sign.
  auto probe = BuildGcpJwtAssertion(key, 0);
  if (!probe.ok()) return absl::InvalidArgumentError(probe.status().message());
  return key;
}

}  // namespace sluice::auth
