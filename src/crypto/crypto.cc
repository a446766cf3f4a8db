#include "crypto/crypto.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, which costs an
// allocation and a provider dispatch per digest (see crypto.h); they remain supported in 3.x.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <array>
#include <cstring>
#include <memory>

namespace sluice::crypto {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Never prompt on a terminal for an encrypted PEM's passphrase: there is none.
int NoPassphrase(char*, int, int, void*) { return 0; }

BioPtr MemBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64With(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    if (pad) out.push_back('=');
  }
  return out;
}

constexpr size_t kSha256Size = 32;
constexpr size_t kSha256Block = 64;
static_assert(sizeof(SHA256_CTX) == HmacSha256Key::kStateSize, "HmacSha256Key::kStateSize");

// The low-level SHA256_* functions cannot fail on a valid context (they return 1); their
// results are not checked.
void Absorb(SHA256_CTX* ctx, std::string_view data) { SHA256_Update(ctx, data.data(), data.size()); }

// SHA-256 of a || b into `md` (kSha256Size bytes).
void Digest(std::string_view a, std::string_view b, unsigned char* md) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  Absorb(&ctx, a);
  if (!b.empty()) Absorb(&ctx, b);
  SHA256_Final(md, &ctx);
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Sha256(std::string_view data) {
  unsigned char md[kSha256Size];
  Digest(data, {}, md);
  return std::string(reinterpret_cast<char*>(md), kSha256Size);
}

std::string Sha256Hex(std::string_view data) {
  std::string out;
  AppendSha256Hex(&out, data);
  return out;
}

void AppendSha256Hex(std::string* out, std::string_view data) {
  unsigned char md[kSha256Size];
  Digest(data, {}, md);
  AppendHex(out, std::string_view(reinterpret_cast<char*>(md), kSha256Size));
}

std::string Sha1Hex(std::string_view data) {
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), sizeof(md)));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  return HmacSha256Key(key).Mac(data);
}

void AppendHmacSha256Hex(std::string* out, std::string_view key, std::string_view data) {
  HmacSha256Key(key).AppendMacHex(out, data);
}

// RFC 2104: the key (hashed first when longer than a block) zero-padded to one block, XORed
// with 0x36 for the inner hash and 0x5c for the outer one; each state absorbs its block here.
HmacSha256Key::HmacSha256Key(std::string_view key) {
  unsigned char block[kSha256Block] = {};
  if (key.size() > kSha256Block) {
    Digest(key, {}, block);
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char pad[kSha256Block];
  SHA256_CTX ctx;  // hashed here, then copied into the byte arrays (no aliasing of them)
  for (size_t i = 0; i < kSha256Block; ++i) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, pad, kSha256Block);
  std::memcpy(inner_, &ctx, sizeof(ctx));
  for (size_t i = 0; i < kSha256Block; ++i) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, pad, kSha256Block);
  std::memcpy(outer_, &ctx, sizeof(ctx));
  OPENSSL_cleanse(&ctx, sizeof(ctx));
  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
}

HmacSha256Key::~HmacSha256Key() {
  OPENSSL_cleanse(inner_, sizeof(inner_));
  OPENSSL_cleanse(outer_, sizeof(outer_));
}

namespace {
// HMAC with the key's saved states: the inner state absorbs the message, the outer one the
// inner digest. The copies live on the stack and are wiped.
void MacInto(const unsigned char* inner_state, const unsigned char* outer_state, std::string_view data,
             unsigned char* md) {
  SHA256_CTX ctx;
  std::memcpy(&ctx, inner_state, sizeof(ctx));
  Absorb(&ctx, data);
  unsigned char inner[kSha256Size];
  SHA256_Final(inner, &ctx);
  std::memcpy(&ctx, outer_state, sizeof(ctx));
  SHA256_Update(&ctx, inner, kSha256Size);
  SHA256_Final(md, &ctx);
  OPENSSL_cleanse(&ctx, sizeof(ctx));
}
}  // namespace

std::string HmacSha256Key::Mac(std::string_view data) const {
  unsigned char md[kSha256Size];
  MacInto(inner_, outer_, data, md);
  return std::string(reinterpret_cast<char*>(md), kSha256Size);
}

void HmacSha256Key::AppendMacHex(std::string* out, std::string_view data) const {
  unsigned char md[kSha256Size];
  MacInto(inner_, outer_, data, md);
  AppendHex(out, std::string_view(reinterpret_cast<char*>(md), kSha256Size));
}

std::string HexEncode(std::string_view bytes) {
  std::string out;
  AppendHex(&out, bytes);
  return out;
}

namespace {
// "000102...feff": the two hex digits of every byte value, copied two at a time.
constexpr auto kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    t[2 * b] = kHex[b >> 4];
    t[2 * b + 1] = kHex[b & 15];
  }
  return t;
}();
}  // namespace

void AppendHex(std::string* out, std::string_view bytes) {
  size_t at = out->size();
  out->resize(at + bytes.size() * 2);
  char* p = out->data() + at;
  for (unsigned char b : bytes) {
    std::memcpy(p, &kHexPairs[2 * size_t{b}], 2);
    p += 2;
  }
}

std::string Base64Encode(std::string_view bytes) { return Base64With(bytes, kB64, true); }
std::string Base64UrlEncode(std::string_view bytes) { return Base64With(bytes, kB64Url, false); }

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  size_t n = text.size();
  size_t pad = 0;
  while (pad < 2 && n > 0 && text[n - 1] == '=') {
    --n;
    ++pad;
  }
  if (pad > 0 && (n + pad) % 4 != 0) return absl::InvalidArgumentError("base64: bad padding");
  if (n % 4 == 1) return absl::InvalidArgumentError("base64: bad length");
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    int v = B64Value(text[i]);
    if (v < 0) return absl::InvalidArgumentError("base64: invalid character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return absl::InvalidArgumentError("base64: non-zero trailing bits");
  }
  return out;
}

absl::StatusOr<std::string> RsaSha256Sign(std::string_view pem_private_key, std::string_view data) {
  BioPtr bio = MemBio(pem_private_key);
  if (!bio) return absl::InternalError("rsa: out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    return absl::InvalidArgumentError("rsa: the private key is not a readable unencrypted PEM key");
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError("rsa: the private key is not an RSA key");
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    ERR_clear_error();
    return absl::InternalError("rsa: signing failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    ERR_clear_error();
    return absl::InternalError("rsa: signing failed");
  }
  sig.resize(len);
  return sig;
}

bool RsaSha256Verify(std::string_view pem_public_key, std::string_view data, std::string_view signature) {
  BioPtr bio = MemBio(pem_public_key);
  if (!bio) return false;
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = key && ctx && EVP_PKEY_base_id(key.get()) == EVP_PKEY_RSA &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  ERR_clear_error();
  return ok;
}

absl::StatusOr<std::vector<std::string>> PemCertificatesToDer(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  if (!bio) return absl::InternalError("x509: out of memory");
  std::vector<std::string> out;
  while (true) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
    if (cert == nullptr) {
      // The end of the PEM text, or a block that does not parse.
      unsigned long err = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE && !out.empty()) break;
      return absl::InvalidArgumentError(out.empty() ? "x509: no readable PEM certificate"
                                                    : "x509: a PEM certificate block does not parse");
    }
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    X509_free(cert);
    if (len <= 0) {
      ERR_clear_error();
      return absl::InternalError("x509: cannot encode a certificate");
    }
    out.emplace_back(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
  }
  return out;
}

absl::Status CertificateMatchesKey(std::string_view pem_certificate, std::string_view pem_private_key) {
  BioPtr cert_bio = MemBio(pem_certificate);
  BioPtr key_bio = MemBio(pem_private_key);
  if (!cert_bio || !key_bio) return absl::InternalError("x509: out of memory");
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr),
                                                   &X509_free);
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  absl::Status st = absl::OkStatus();
  if (!cert) st = absl::InvalidArgumentError("the certificate is not a readable PEM certificate");
  else if (!key) st = absl::InvalidArgumentError("the private key is not a readable unencrypted PEM key");
  else if (X509_check_private_key(cert.get(), key.get()) != 1) {
    st = absl::InvalidArgumentError("the private key does not belong to the certificate");
  }
  ERR_clear_error();
  return st;
}

}  // namespace sluice::crypto
