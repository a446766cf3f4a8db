#include "crypto/crypto.h"

#include "crypto/test_cert.h"
#include "gtest/gtest.h"

namespace sluice::crypto {
namespace {

TEST(CryptoTest, Sha256KnownVectors) {  // FIPS 180-2 examples
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  EXPECT_EQ(HexEncode(Sha256("abc")), Sha256Hex("abc"));
}

TEST(CryptoTest, Sha1KnownVectors) {  // FIPS 180-1 examples
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(CryptoTest, HmacSha256Rfc4231) {
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Empty key is legal.
  EXPECT_EQ(HexEncode(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(CryptoTest, Sha256SpansManyBlocks) {  // FIPS 180-2: one million 'a'
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::string out = "x";
  AppendSha256Hex(&out, "abc");
  EXPECT_EQ(out, "xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, HmacSha256KeyMatchesRfc4231) {
  HmacSha256Key jefe("Jefe");
  EXPECT_EQ(HexEncode(jefe.Mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 case 7: a key longer than the block, a message longer than the block.
  HmacSha256Key long_key(std::string(131, '\xaa'));
  std::string out = "mac=";
  long_key.AppendMacHex(&out,
                        "This is a test using a larger than block-size key and a larger than block-size data. "
                        "The key needs to be hashed before being used by the HMAC algorithm.");
  EXPECT_EQ(out, "mac=9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

// RFC 2104 spelled out over Sha256 alone: independent of the saved-state code under test.
std::string ReferenceHmac(std::string key, std::string_view message) {
  if (key.size() > 64) key = Sha256(key);
  key.resize(64, '\0');
  std::string inner_pad(64, '\0'), outer_pad(64, '\0');
  for (size_t i = 0; i < 64; ++i) {
    inner_pad[i] = static_cast<char>(key[i] ^ 0x36);
    outer_pad[i] = static_cast<char>(key[i] ^ 0x5c);
  }
  return Sha256(outer_pad + Sha256(inner_pad + std::string(message)));
}

// The saved states give RFC 2104's MAC for every key length around the block size and message
// lengths across block boundaries, used many times and after copying.
TEST(CryptoTest, HmacSha256KeyEqualsReferenceForAllLengths) {
  std::string message;
  for (int i = 0; i < 200; ++i) message.push_back(static_cast<char>(i * 7 + 3));
  for (size_t key_len : {0, 1, 32, 63, 64, 65, 100, 200}) {
    std::string key(key_len, '\0');
    for (size_t i = 0; i < key_len; ++i) key[i] = static_cast<char>(255 - i);
    HmacSha256Key k(key);
    HmacSha256Key copy = k;
    for (size_t n : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200}) {
      std::string_view m(message.data(), n);
      std::string expected = ReferenceHmac(key, m);
      EXPECT_EQ(HmacSha256(key, m), expected) << key_len << "/" << n;
      EXPECT_EQ(k.Mac(m), expected) << key_len << "/" << n;
      EXPECT_EQ(copy.Mac(m), expected) << key_len << "/" << n;
      std::string hex;
      k.AppendMacHex(&hex, m);
      EXPECT_EQ(hex, HexEncode(expected));
    }
  }
  // Different keys give different MACs (the states are really keyed).
  EXPECT_NE(HmacSha256Key("a").Mac("m"), HmacSha256Key("b").Mac("m"));
}

TEST(CryptoTest, HexEncode) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(CryptoTest, Base64Rfc4648) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, enc] : cases) {
    EXPECT_EQ(Base64Encode(plain), enc);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.ok()) << enc;
    EXPECT_EQ(*dec, plain);
  }
  // Unpadded input decodes too.
  EXPECT_EQ(*Base64Decode("Zm9vYg"), "foob");
  EXPECT_EQ(*Base64Decode("Zm8"), "fo");
  // All byte values round-trip.
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(*Base64Decode(Base64Encode(all)), all);
}

TEST(CryptoTest, Base64UrlNoPadding) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
}

TEST(CryptoTest, Base64DecodeRejectsMalformed) {
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());        // impossible length
  EXPECT_FALSE(Base64Decode("Zm9=").ok());     // non-zero trailing bits
  EXPECT_FALSE(Base64Decode("Zh==").ok());     // non-zero trailing bits
  EXPECT_FALSE(Base64Decode("Zg===").ok());    // too much padding
  EXPECT_FALSE(Base64Decode("Zm 9v").ok());    // whitespace
  EXPECT_FALSE(Base64Decode("-_8").ok());      // url alphabet is not standard base64
}

// A throwaway 1024-bit test key (generated for this test; protects nothing). The expected
// signature was produced with `openssl dgst -sha256 -sign` over "sluice".
constexpr char kRsaPkcs1[] = R"(
-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQC/ZnYyVyp+uiShrXB9cZc/wNjYy3d0atNkQJypuY/d97oKQQDK
G2QRoB6Ta892Z/Jz8zF4oIKpAApkodliudphF4LspU5WxHJLkTcSUSuPwnnq1LzR
bdVBJOLfDyIyCJs2YV514/68X3zFHavIC3OrUIXcZoM56gPRegFYE8pBNQIDAQAB
AoGBAK8EKzp2+DWvUoXAiac7cjlqxx7eVpnOgQQgDOEp/ALVXnm33NfyWfu/9ZWK
NMep30rlayxJYZDVp6tDT/t1xNgA0DlXbwi0e91wGtNZOChmnxJlePJe3PLCrafa
AQnYCOmLVmlyNDNShnsvkRSKruxR6XXJR1sBe89VelIQuNcVAkEA/YmEOoOGg5EO
00PrRCQyia4rnGbuPbBVNO8hKz2ubGhq4ht8m2mxpz8Iki7zhlmzWxxxNvGu+POs
19M4hfFRswJBAMFCbRrXuyPBj83jE1lPLQGbDDFEs9Fz5a49kwt8F+LgoJ11qQ0P
Pq32waZIrKxJBwWdrGWdlGMus1V69pY0HXcCQQCyEXyCUFAQZbgg34oEgNvR4TcW
ESDwyMD/fZgxM5Am6atwBNgemzw/98CAU2OMj8Gtkytc6J/4j8RsjRgc0uGLAkBO
4EmfdwUOJuYGZfNzs/juetWTFjM9/Ut0vfTR7yfglUV4fpksl1hBsECBGZBAEN4o
0J2YK6RwhpLzBGi4DTUpAkEA8BpkLqB8/I5N0OX6wBr61eUelAeC/KDLfiREj/Oc
pDH/ZPLmCt1UL1QTzR/kq18kSdV+Plt/bhFixy5tC3M6qQ==
-----END RSA PRIVATE KEY-----
)";
constexpr char kRsaPkcs8[] = R"(
-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAL9mdjJXKn66JKGt
cH1xlz/A2NjLd3Rq02RAnKm5j933ugpBAMobZBGgHpNrz3Zn8nPzMXiggqkACmSh
2WK52mEXguylTlbEckuRNxJRK4/CeerUvNFt1UEk4t8PIjIImzZhXnXj/rxffMUd
q8gLc6tQhdxmgznqA9F6AVgTykE1AgMBAAECgYEArwQrOnb4Na9ShcCJpztyOWrH
Ht5Wmc6BBCAM4Sn8AtVeebfc1/JZ+7/1lYo0x6nfSuVrLElhkNWnq0NP+3XE2ADQ
OVdvCLR73XAa01k4KGafEmV48l7c8sKtp9oBCdgI6YtWaXI0M1KGey+RFIqu7FHp
dclHWwF7z1V6UhC41xUCQQD9iYQ6g4aDkQ7TQ+tEJDKJriucZu49sFU07yErPa5s
aGriG3ybabGnPwiSLvOGWbNbHHE28a7486zX0ziF8VGzAkEAwUJtGte7I8GPzeMT
WU8tAZsMMUSz0XPlrj2TC3wX4uCgnXWpDQ8+rfbBpkisrEkHBZ2sZZ2UYy6zVXr2
ljQddwJBALIRfIJQUBBluCDfigSA29HhNxYRIPDIwP99mDEzkCbpq3AE2B6bPD/3
wIBTY4yPwa2TK1zon/iPxGyNGBzS4YsCQE7gSZ93BQ4m5gZl83Oz+O561ZMWMz39
S3S99NHvJ+CVRXh+mSyXWEGwQIEZkEAQ3ijQnZgrpHCGkvMEaLgNNSkCQQDwGmQu
oHz8jk3Q5frAGvrV5R6UB4L8oMt+JESP85ykMf9k8uYK3VQvVBPNH+SrXyRJ1X4+
W39uEWLHLm0Lczqp
-----END PRIVATE KEY-----
)";
constexpr char kRsaPublic[] = R"(
-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/ZnYyVyp+uiShrXB9cZc/wNjY
y3d0atNkQJypuY/d97oKQQDKG2QRoB6Ta892Z/Jz8zF4oIKpAApkodliudphF4Ls
pU5WxHJLkTcSUSuPwnnq1LzRbdVBJOLfDyIyCJs2YV514/68X3zFHavIC3OrUIXc
ZoM56gPRegFYE8pBNQIDAQAB
-----END PUBLIC KEY-----
)";
constexpr char kSignatureHex[] = "1bd15e870bf4e0ca67e5e4e5f705ce173c342c8182f573f0c3d0aafe1210386828ff3dc096cee78aa4a77a5e2f8f06c884f2327ef7e2c68d688aaa3362b0bccf482447360c5042317431deb4a33aa1fd745b981f017fd85abb62324bf1c0470d8fc6aeafc4301b16dae9567ba396ed65b30e39369c22f6fb8ba99b165dccd7b7";

TEST(CryptoTest, RsaSha256SignMatchesOpenSslCli) {
  for (const char* pem : {kRsaPkcs1, kRsaPkcs8}) {
    auto sig = RsaSha256Sign(pem, "sluice");
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(HexEncode(*sig), kSignatureHex);  // PKCS#1 v1.5 is deterministic
    EXPECT_TRUE(RsaSha256Verify(kRsaPublic, "sluice", *sig));
    EXPECT_FALSE(RsaSha256Verify(kRsaPublic, "sluicE", *sig));
  }
}

TEST(CryptoTest, RsaSha256SignRejectsBadKeys) {
  auto r = RsaSha256Sign("not a key", "x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  // The error never echoes key material.
  EXPECT_EQ(std::string(r.status().message()).find("not a key"), std::string::npos);
  EXPECT_FALSE(RsaSha256Sign(kRsaPublic, "x").ok());  // a public key cannot sign
  EXPECT_FALSE(RsaSha256Verify("junk", "x", "y"));
}

// Certificates in a PEM file come out as DER in order, whatever else the file holds (a key
// block, comments, trailing text); a file with none, or a broken block, is an error.
TEST(X509Test, PemCertificatesToDer) {
  testing::TestCert a = testing::MakeCert("a"), b = testing::MakeCert("b", &a);
  auto two = PemCertificatesToDer("leading comment\n" + b.cert + b.key + a.cert + "trailing text\n");
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->size(), 2u);
  auto only_b = PemCertificatesToDer(b.cert);
  auto only_a = PemCertificatesToDer(a.cert);
  ASSERT_TRUE(only_a.ok() && only_b.ok());
  EXPECT_EQ((*two)[0], (*only_b)[0]);
  EXPECT_EQ((*two)[1], (*only_a)[0]);
  EXPECT_EQ((*two)[0][0], '\x30');  // DER: a SEQUENCE
  EXPECT_FALSE(PemCertificatesToDer(a.key).ok());
  EXPECT_FALSE(PemCertificatesToDer("").ok());
  std::string broken = a.cert;
  broken.replace(broken.find('\n') + 5, 20, "!!!!!!!!!!!!!!!!!!!!");
  EXPECT_FALSE(PemCertificatesToDer(b.cert + broken).ok()) << "a broken second block is not the end of the file";
}

TEST(X509Test, CertificateMatchesKey) {
  testing::TestCert a = testing::MakeCert("a"), b = testing::MakeCert("b");
  EXPECT_TRUE(CertificateMatchesKey(a.cert, a.key).ok());
  absl::Status other = CertificateMatchesKey(a.cert, b.key);
  EXPECT_NE(std::string(other.message()).find("does not belong"), std::string::npos) << other;
  absl::Status no_key = CertificateMatchesKey(a.cert, "not a key");
  EXPECT_NE(std::string(no_key.message()).find("not a readable unencrypted PEM key"), std::string::npos) << no_key;
  // An encrypted key is refused without asking for a passphrase.
  EVP_PKEY* pkey = nullptr;
  {
    BIO* kb = BIO_new_mem_buf(a.key.data(), static_cast<int>(a.key.size()));
    pkey = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
  }
  ASSERT_NE(pkey, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  static const char kPass[] = "secret-pass";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, pkey, EVP_aes_128_cbc(), nullptr, 0, nullptr, const_cast<char*>(kPass)), 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string encrypted(data, static_cast<size_t>(n));
  BIO_free(out);
  EVP_PKEY_free(pkey);
  ASSERT_NE(encrypted.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  absl::Status enc = CertificateMatchesKey(a.cert, encrypted);
  EXPECT_NE(std::string(enc.message()).find("unencrypted"), std::string::npos) << enc;
  EXPECT_FALSE(CertificateMatchesKey("junk", a.key).ok());
}

}  // namespace
}  // namespace sluice::crypto
