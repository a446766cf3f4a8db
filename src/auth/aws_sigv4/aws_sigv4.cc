#include "auth/aws_sigv4/aws_sigv4.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <mutex>


#include "common/strings.h"
#include "crypto/crypto.h"

namespace sluice::auth {
namespace aws_sigv4_internal {
namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendEncoded(std::string* out, std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; a '%' not followed by two hex digits stays literal.
std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < s.size() && (hi = HexValue(s[i + 1])) >= 0 && (lo = HexValue(s[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Header values: trimmed, inner runs of spaces collapsed to one.
std::string CanonicalHeaderValue(std::string_view v) {
  v = StripWhitespace(v);
  std::string out;
  out.reserve(v.size());
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::string CanonicalUri(std::string_view path) {
  // Remove "." and ".." segments and empty segments (duplicate slashes), as AWS SDKs do for
  // every service but S3.
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(start, slash - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = slash + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    AppendEncoded(&out, segments[i], false);
  }
  if (!segments.empty() && !path.empty() && path.back() == '/') out.push_back('/');
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start < query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string n, v;
    AppendEncoded(&n, PercentDecode(name), false);
    AppendEncoded(&v, PercentDecode(value), false);
    params.emplace_back(std::move(n), std::move(v));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [n, v] : params) {
    if (!out.empty()) out.push_back('&');
    StrAppend(&out, n, "=", v);
  }
  return out;
}

std::string AmzDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return std::string(buf, n);
}

namespace {

// kSigning = HMAC chain over "AWS4" + secret, date, region, service, "aws4_request".
std::string DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                             std::string_view service) {
  std::string key = crypto::HmacSha256(StrCat("AWS4", secret), date);
  key = crypto::HmacSha256(key, region);
  key = crypto::HmacSha256(key, service);
  return crypto::HmacSha256(key, "aws4_request");
}

// Sign() with the two inputs a signer can reuse: the body's hex SHA-256 (empty: computed
// here) and the signing key for the date (nullptr: derived here).
Signature SignImpl(const Request& request, const Credentials& credentials, std::string_view region,
                   std::string_view service, std::string_view amz_date, std::string payload_hash,
                   const std::string* signing_key) {
  Signature s;
  std::string_view path = request.path_and_query;
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }

  // Headers by lower-case name (sorted, stable so repeated names keep their order), joined
  // by ','.
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) sorted.emplace_back(ToLowerAscii(name), CanonicalHeaderValue(value));
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  for (size_t i = 0; i < sorted.size();) {
    const std::string& name = sorted[i].first;
    StrAppend(&canonical_headers, name, ":");
    size_t value_start = canonical_headers.size();
    for (; i < sorted.size() && sorted[i].first == name; ++i) {
      if (canonical_headers.size() > value_start) canonical_headers.push_back(',');
      canonical_headers.append(sorted[i].second);
    }
    canonical_headers.push_back('\n');
    if (!s.signed_headers.empty()) s.signed_headers.push_back(';');
    s.signed_headers.append(name);
  }

  s.payload_hash = payload_hash.empty() ? crypto::Sha256Hex(request.body) : std::move(payload_hash);
  s.canonical_request = StrCat(request.method, "\n", CanonicalUri(path), "\n", CanonicalQuery(query), "\n",
                               canonical_headers, "\n", s.signed_headers, "\n", s.payload_hash);

  std::string_view date = amz_date.substr(0, 8);
  std::string scope = StrCat(date, "/", region, "/", service, "/aws4_request");
  s.string_to_sign = StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n",
                            crypto::Sha256Hex(s.canonical_request));

  std::string derived;
  if (signing_key == nullptr) {
    derived = DeriveSigningKey(credentials.secret_access_key, date, region, service);
    signing_key = &derived;
  }
  s.signature = crypto::HexEncode(crypto::HmacSha256(*signing_key, s.string_to_sign));
  s.authorization = StrCat("AWS4-HMAC-SHA256 Credential=", credentials.access_key_id, "/", scope,
                           ", SignedHeaders=", s.signed_headers, ", Signature=", s.signature);
  return s;
}

}  // namespace

Signature Sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view amz_date) {
  return SignImpl(request, credentials, region, service, amz_date, std::string(), nullptr);
}

namespace {

class AwsSigV4Signer final : public BackendSigner {
 public:
  AwsSigV4Signer(const config::BackendAuth& auth, SignerOptions options)
      : access_key_id_(auth.aws_access_key_id),
        secret_access_key_(auth.aws_secret_access_key),
        session_token_(auth.aws_session_token),
        region_(auth.aws_region),
        options_(std::move(options)) {}

  absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest& r) const override {
    int64_t now = options_.clock
                      ? options_.clock()
                      : std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::string amz_date = AmzDate(now);
    std::string payload_hash = crypto::Sha256Hex(r.body);

    Request req;
    req.method = r.method;
    req.path_and_query = r.path_and_query;
    req.body = r.body;
    req.headers.reserve(5);
    req.headers.emplace_back("host", std::string(r.host));
    req.headers.emplace_back("x-amz-date", amz_date);
    if (options_.send_content_sha256) req.headers.emplace_back("x-amz-content-sha256", payload_hash);
    if (!session_token_.empty()) req.headers.emplace_back("x-amz-security-token", session_token_);
    for (const auto& [name, value] : r.headers.entries()) {
      if (name == "content-type") req.headers.emplace_back(name, value);
    }

    std::string signing_key = SigningKey(std::string_view(amz_date).substr(0, 8));
    Signature sig = SignImpl(req, Credentials{access_key_id_, secret_access_key_}, region_, options_.service,
                             amz_date, payload_hash, &signing_key);
    http::HeaderMutation m;
    m.Set("authorization", sig.authorization);
    m.Set("x-amz-date", amz_date);
    if (options_.send_content_sha256) m.Set("x-amz-content-sha256", payload_hash);
    if (!session_token_.empty()) m.Set("x-amz-security-token", session_token_);
    return m;
  }

 private:
  // The signing key depends only on the date (region and service are fixed): derived once a
  // day instead of four HMACs per request.
  std::string SigningKey(std::string_view date) const {
    {
      std::lock_guard<std::mutex> lock(key_mu_);
      if (key_date_ == date) return key_;
    }
    std::string key = DeriveSigningKey(secret_access_key_, date, region_, options_.service);
    std::lock_guard<std::mutex> lock(key_mu_);
    key_date_ = std::string(date);
    key_ = key;
    return key;
  }

  std::string access_key_id_;
  std::string secret_access_key_;  // secret: never logged or put in a Status
  std::string session_token_;      // secret
  std::string region_;
  SignerOptions options_;
  mutable std::mutex key_mu_;
  mutable std::string key_date_;  // guarded by key_mu_: "YYYYMMDD" of key_
  mutable std::string key_;       // guarded by key_mu_; secret: never logged
};

}  // namespace

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4SignerWithOptions(
    const config::BackendAuth& auth, SignerOptions options) {
  if (auth.aws_access_key_id.empty()) return absl::InvalidArgumentError("aws: access key id is missing");
  if (auth.aws_secret_access_key.empty())
    return absl::InvalidArgumentError("aws: secret access key is missing");
  if (auth.aws_region.empty()) return absl::InvalidArgumentError("aws: region is missing");
  return std::make_unique<AwsSigV4Signer>(auth, std::move(options));
}

}  // namespace aws_sigv4_internal

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4Signer(const config::BackendAuth& auth,
                                                                 UnixClock clock) {
  aws_sigv4_internal::SignerOptions options;
  options.clock = std::move(clock);
  return aws_sigv4_internal::NewAwsSigV4SignerWithOptions(auth, std::move(options));
}

}  // namespace sluice::auth
