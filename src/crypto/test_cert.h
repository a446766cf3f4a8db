// Test helper: X.509 certificates made in-process with OpenSSL (EC P-256, valid from an hour
// ago for a day), self-signed or issued by another test certificate. For tests only.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <functional>
#include <string>

namespace sluice::crypto::testing {

struct TestCert {
  std::string cert, key;  // PEM
};

// A certificate for `cn` and its key: self-signed, or issued by `issuer`.
inline TestCert MakeCert(const std::string& cn, const TestCert* issuer = nullptr) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(std::hash<std::string>()(cn) & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  EVP_PKEY* signer = key;
  X509* issuer_cert = nullptr;
  if (issuer != nullptr) {
    BIO* cb = BIO_new_mem_buf(issuer->cert.data(), static_cast<int>(issuer->cert.size()));
    issuer_cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(issuer->key.data(), static_cast<int>(issuer->key.size()));
    signer = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  } else {
    X509_set_issuer_name(x, name);
  }
  X509_sign(x, signer, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  };
  TestCert out{pem([&](BIO* b) { PEM_write_bio_X509(b, x); }),
               pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); })};
  if (issuer_cert != nullptr) {
    X509_free(issuer_cert);
    EVP_PKEY_free(signer);
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace sluice::crypto::testing
