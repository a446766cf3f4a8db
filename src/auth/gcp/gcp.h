// GCP service-account keys: Google's OAuth2 JWT-bearer flow (RFC 7523). BuildGcpJwtAssertion()
// makes the signed assertion whose GcpTokenRequestBody() the credential source (auth/signer.cc,
// auth/gcp_credentials.cc) posts to the key's token_uri off the request path.
// Reference: shared/reference/provider-apis.md §5.7;
// https://developers.google.com/identity/protocols/oauth2/service-account#httprest
//
// Threading: every function here is reentrant. Secrets: private keys and tokens never appear
// in error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice::auth {

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
// ParseGcpServiceAccountKey, then one probe signature: InvalidArgument when the private key is
// not a usable RSA key.
absl::StatusOr<GcpServiceAccountKey> LoadGcpServiceAccountKey(std::string_view key_json);

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
// ({"error":"invalid_grant",...}); Internal when the answer is malformed. Google's STS and
// metadata server answer in the same shape.
// `default_lifetime` (seconds) stands in for a missing expires_in (Google's STS may omit it);
// 0: expires_in is required. Lifetimes are capped at kGcpMaxTokenLifetimeSeconds.
absl::StatusOr<GcpAccessToken> ParseGcpTokenResponse(std::string_view body, int64_t now_unix_seconds,
                                                     int64_t default_lifetime = 0);
inline constexpr int64_t kGcpMaxTokenLifetimeSeconds = 12 * 3600;

}  // namespace sluice::auth
