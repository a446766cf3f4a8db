// GCP Vertex AI credentials: Authorization: Bearer <OAuth2 access token>.
//
// Two sources, per the backend's GCP auth config:
// - gcp_access_token: a static token, sent as is (whitespace trimmed). It wins when both are set.
// - gcp_service_account_json: a service-account key. Tokens come from Google's OAuth2
//   JWT-bearer flow (RFC 7523): BuildJwtAssertion() below makes the signed assertion, and a
//   credential source (not wired yet) posts TokenRequestBody() to the key's token_uri off the
//   request path. Until then Sign() answers Unavailable.
// Reference: shared/reference/provider-apis.md §5.7;
// https://developers.google.com/identity/protocols/oauth2/service-account#httprest
//
// Threading: every function here is reentrant; signers are immutable and thread-safe.
// Secrets: private keys and tokens never appear in error messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "auth/signer.h"

namespace sluice::auth {

// InvalidArgument when neither credential is set, or when the service-account key is not a
// usable RSA service_account key (the check signs a probe assertion once).
absl::StatusOr<std::unique_ptr<BackendSigner>> NewGcpSigner(const config::BackendAuth& auth);

inline constexpr std::string_view kGcpCloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform";
inline constexpr std::string_view kGcpDefaultTokenUri = "https://oauth2.googleapis.com/token";
// Google accepts assertions valid for at most an hour.
inline constexpr int64_t kGcpAssertionLifetimeSeconds = 3600;

// The fields of a service-account key file that the JWT-bearer flow uses.
struct GcpServiceAccountKey {
  std::string client_email;
  std::string private_key;     // PEM (PKCS#8); secret
  std::string private_key_id;  // JWT "kid"; optional
  std::string token_uri;       // defaults to kGcpDefaultTokenUri
};

// Parses a key file. InvalidArgument naming the missing/invalid field (never its value), or
// when `type` is present and is not "service_account".
absl::StatusOr<GcpServiceAccountKey> ParseGcpServiceAccountKey(std::string_view key_json);

// The signed JWT assertion: base64url(header) "." base64url(claims) "." base64url(RS256 sig),
// header {"alg":"RS256","typ":"JWT"[,"kid"]}, claims {"iss": client_email, "scope", "aud":
// token_uri, "iat": now, "exp": now + 3600}. Deterministic for fixed inputs (PKCS#1 v1.5).
// InvalidArgument when the private key cannot be used.
absl::StatusOr<std::string> BuildGcpJwtAssertion(const GcpServiceAccountKey& key, int64_t now_unix_seconds,
                                                 std::string_view scope = kGcpCloudPlatformScope);

// The application/x-www-form-urlencoded body to POST to token_uri for `assertion`.
std::string GcpTokenRequestBody(std::string_view assertion);

struct GcpAccessToken {
  std::string token;  // secret
  int64_t expires_at = 0;  // Unix seconds
};
// Reads the token endpoint's JSON answer {"access_token","expires_in","token_type"}.
// Unauthenticated with the endpoint's error/error_description when it refused
// ({"error":"invalid_grant",...}); Internal when the answer is malformed.
absl::StatusOr<GcpAccessToken> ParseGcpTokenResponse(std::string_view body, int64_t now_unix_seconds);

}  // namespace sluice::auth
