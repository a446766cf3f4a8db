// Hashes, MACs, encodings and signatures over OpenSSL: the only code in sluice that includes
// OpenSSL's crypto headers. Plain functions on byte strings (std::string holds bytes).
//
// SHA-256 and HMAC-SHA256 use OpenSSL's SHA256_* block functions directly (the same assembly,
// SHA-NI where the CPU has it, that its EVP provider calls): per digest EVP costs about as
// much again as hashing a small request body, and a request signed with SigV4 takes four.
//
// Threading: every function is reentrant and thread-safe.
// Secrets: keys passed in are never copied into error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::crypto {

// SHA-256 of `data`: 32 raw bytes, or 64 lower-case hex characters.
std::string Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
// Appends the 64 hex characters of SHA-256(data) to `out` (no temporary string).
void AppendSha256Hex(std::string* out, std::string_view data);

// SHA-1 of `data` as 40 lower-case hex characters. Not for security: only where a file name
// is defined by it (the AWS CLI's SSO token cache).
std::string Sha1Hex(std::string_view data);

// HMAC-SHA256(key, data): 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
// Appends the 64 hex characters of HMAC-SHA256(key, data) to `out`.
void AppendHmacSha256Hex(std::string* out, std::string_view key, std::string_view data);

// An HMAC-SHA256 key with its two padded key blocks hashed once (RFC 2104's inner and outer
// states). Each MAC then hashes only the message and the inner digest: two fewer block
// compressions than HmacSha256, for a key that signs many messages (SigV4's key of the day).
// Copyable; the states are wiped on destruction.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);
  HmacSha256Key(const HmacSha256Key&) = default;
  HmacSha256Key& operator=(const HmacSha256Key&) = default;
  ~HmacSha256Key();

  // HMAC-SHA256(key, data): 32 raw bytes; AppendMacHex appends its 64 hex characters.
  std::string Mac(std::string_view data) const;
  void AppendMacHex(std::string* out, std::string_view data) const;

  static constexpr size_t kStateSize = 112;  // sizeof(SHA256_CTX), checked in crypto.cc

 private:
  alignas(8) unsigned char inner_[kStateSize];
  alignas(8) unsigned char outer_[kStateSize];
};

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

// The DER bytes of each X.509 certificate in `pem` ("BEGIN CERTIFICATE" blocks), in order.
// InvalidArgument when `pem` holds none or one does not parse.
absl::StatusOr<std::vector<std::string>> PemCertificatesToDer(std::string_view pem);
// Whether `pem_private_key` (unencrypted PEM) is the private key of the first certificate in
// `pem_certificate`: OK, InvalidArgument "does not match", or InvalidArgument saying which of
// the two cannot be read (an encrypted key cannot: no passphrase is ever asked for).
absl::Status CertificateMatchesKey(std::string_view pem_certificate, std::string_view pem_private_key);

}  // namespace sluice::crypto
