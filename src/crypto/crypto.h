// Hashes, MACs, encodings and signatures over OpenSSL's EVP API: the only code in sluice that
// includes OpenSSL's crypto headers. Plain functions on byte strings (std::string holds bytes).
//
// Threading: every function is reentrant and thread-safe (the SHA-256 algorithm is fetched once
// and immutable; hashing reuses a per-thread context).
// Secrets: keys passed in are never copied into error messages.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice::crypto {

// SHA-256 of `data`: 32 raw bytes, or 64 lower-case hex characters.
std::string Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
// Appends the 64 hex characters of SHA-256(data) to `out` (no temporary string).
void AppendSha256Hex(std::string* out, std::string_view data);

// HMAC-SHA256(key, data): 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
// Appends the 64 hex characters of HMAC-SHA256(key, data) to `out`.
void AppendHmacSha256Hex(std::string* out, std::string_view key, std::string_view data);

// Lower-case hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);
void AppendHex(std::string* out, std::string_view bytes);

// RFC 4648 §4 base64 with padding.
std::string Base64Encode(std::string_view bytes);
// RFC 4648 §5 base64url without padding (JWT segments).
std::string Base64UrlEncode(std::string_view bytes);
// Decodes standard base64. Padding is optional; whitespace is not allowed. InvalidArgument on
// any other character, bad length or non-zero trailing bits.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

// RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") over `data`, with a PEM private key (PKCS#8
// "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY"). Returns the raw signature.
// InvalidArgument when the key cannot be read or is not RSA; Internal when signing fails.
absl::StatusOr<std::string> RsaSha256Sign(std::string_view pem_private_key, std::string_view data);
// Verifies an RS256 signature against a PEM public key ("BEGIN PUBLIC KEY"). False on any
// failure, including an unreadable key.
bool RsaSha256Verify(std::string_view pem_public_key, std::string_view data, std::string_view signature);

}  // namespace sluice::crypto
