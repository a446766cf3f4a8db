#include "auth/aws_sigv4/aws_sigv4.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>

#include "absl/container/inlined_vector.h"
#include "common/strings.h"
#include "crypto/crypto.h"

namespace sluice::auth {
namespace aws_sigv4_internal {
namespace {

constexpr size_t kAmzDateSize = 16;  // "YYYYMMDDTHHMMSSZ"

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendEncoded(std::string* out, std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  size_t i = 0;
  while (i < s.size()) {
    // Runs of bytes that stay as they are are appended whole.
    size_t run = i;
    while (run < s.size() && (Unreserved(static_cast<unsigned char>(s[run])) || (keep_slash && s[run] == '/'))) ++run;
    out->append(s.data() + i, run - i);
    if (run == s.size()) break;
    auto c = static_cast<unsigned char>(s[run]);
    const char escaped[3] = {'%', kHex[c >> 4], kHex[c & 15]};
    out->append(escaped, 3);
    i = run + 1;
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

// Appends a header value trimmed, with inner runs of spaces and tabs collapsed to one space.
void AppendCanonicalHeaderValue(std::string* out, std::string_view v) {
  v = StripWhitespace(v);
  // The usual value (a host, a date, a hash, a media type) has no blank to collapse.
  if (std::memchr(v.data(), ' ', v.size()) == nullptr && std::memchr(v.data(), '\t', v.size()) == nullptr) {
    out->append(v);
    return;
  }
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < v.size()) {
    size_t run = i;
    while (run < v.size() && !blank(v[run])) ++run;
    out->append(v.data() + i, run - i);
    if (run == v.size()) break;
    while (run < v.size() && blank(v[run])) ++run;
    if (run < v.size()) out->push_back(' ');  // never true at the end: v is stripped
    i = run;
  }
}

bool HasUpperAscii(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// True when CanonicalUri(path) is just path percent-encoded: it starts with '/' and has no
// empty, "." or ".." segment (but for an empty last one: a trailing slash, kept).
bool IsNormalPath(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    bool last = slash == std::string_view::npos;
    std::string_view seg = path.substr(start, last ? std::string_view::npos : slash - start);
    if (seg == "." || seg == "..") return false;
    if (last) return true;
    if (seg.empty()) return false;
    start = slash + 1;
  }
}

// CanonicalUri for any path: dot and empty segments removed, the rest encoded.
std::string NormalizedUri(std::string_view path) {
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

void AppendCanonicalUri(std::string* out, std::string_view path) {
  if (IsNormalPath(path)) {
    AppendEncoded(out, path, true);  // the common case: no segment list, no temporary
    return;
  }
  out->append(NormalizedUri(path));
}

}  // namespace

std::string CanonicalUri(std::string_view path) {
  // Remove "." and ".." segments and empty segments (duplicate slashes), as AWS SDKs do for
  // every service but S3.
  std::string out;
  out.reserve(path.size() + 1);
  AppendCanonicalUri(&out, path);
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

namespace {

// "YYYYMMDDTHHMMSSZ" into `buf` without the C library's time zone machinery (gmtime_r and
// strftime take a lock and parse a format per call). False for years outside 1000..9999, which
// the caller formats with strftime as before.
bool FormatAmzDate(int64_t unix_seconds, char (&buf)[kAmzDateSize]) {
  // Days to civil date: Howard Hinnant's days_from_civil inverse (proleptic Gregorian).
  int64_t days = unix_seconds / 86400;
  int64_t secs = unix_seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    days -= 1;
  }
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) return false;
  auto put = [&](size_t at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  put(4, month, 2);
  put(6, day, 2);
  buf[8] = 'T';
  put(9, secs / 3600, 2);
  put(11, secs / 60 % 60, 2);
  put(13, secs % 60, 2);
  buf[15] = 'Z';
  return true;
}

}  // namespace

std::string AmzDate(int64_t unix_seconds) {
  char fast[kAmzDateSize];
  if (FormatAmzDate(unix_seconds, fast)) return std::string(fast, kAmzDateSize);
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

struct CanonicalHeader {
  std::string_view name;   // lower case
  std::string_view value;  // as given
};

// Sign() into `out`, whose strings are overwritten (their capacity is reused: a signer signs
// into one Signature per thread), with the two inputs a signer can reuse: the body's hex
// SHA-256 (empty: computed here and kept in payload_hash; given: used, and payload_hash left
// empty) and the signing key for the date (null: derived here).
void SignInto(const Request& request, const Credentials& credentials, std::string_view region,
              std::string_view service, std::string_view amz_date, std::string_view payload_hash,
              const crypto::HmacSha256Key* signing_key, Signature* out) {
  Signature& s = *out;
  s.canonical_request.clear();
  s.string_to_sign.clear();
  s.signed_headers.clear();
  s.payload_hash.clear();
  s.signature.clear();
  s.authorization.clear();
  std::string_view path = request.path_and_query;
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }

  // Headers by lower-case name, sorted by insertion so that repeated names keep their order.
  const size_t n = request.headers.size();
  std::vector<std::string> lowered;  // names that had upper case; reserved, so views stay valid
  absl::InlinedVector<CanonicalHeader, 8> sorted;
  size_t header_bytes = 0;
  size_t name_bytes = 0;
  for (const auto& [name, value] : request.headers) {
    std::string_view lower = name;
    if (HasUpperAscii(name)) {
      if (lowered.empty()) lowered.reserve(n);
      lower = lowered.emplace_back(ToLowerAscii(name));
    }
    CanonicalHeader h{lower, value};
    if (sorted.empty() || !(lower < sorted.back().name)) {
      sorted.push_back(h);  // in order already (the signer adds its headers sorted)
    } else {
      auto at = std::upper_bound(sorted.begin(), sorted.end(), h,
                                 [](const CanonicalHeader& a, const CanonicalHeader& b) { return a.name < b.name; });
      sorted.insert(at, h);
    }
    header_bytes += name.size() + value.size() + 2;
    name_bytes += name.size() + 1;
  }

  if (payload_hash.empty()) {
    s.payload_hash = crypto::Sha256Hex(request.body);
    payload_hash = s.payload_hash;
  }

  std::string& cr = s.canonical_request;
  cr.reserve(request.method.size() + 3 * (path.size() + query.size()) + header_bytes + name_bytes +
             payload_hash.size() + 8);
  cr.append(request.method);
  cr.push_back('\n');
  AppendCanonicalUri(&cr, path);
  cr.push_back('\n');
  if (!query.empty()) cr.append(CanonicalQuery(query));
  cr.push_back('\n');
  s.signed_headers.reserve(name_bytes);
  for (size_t i = 0; i < sorted.size();) {
    std::string_view name = sorted[i].name;
    cr.append(name);
    cr.push_back(':');
    size_t value_start = cr.size();
    for (; i < sorted.size() && sorted[i].name == name; ++i) {
      if (cr.size() > value_start) cr.push_back(',');
      AppendCanonicalHeaderValue(&cr, sorted[i].value);
    }
    cr.push_back('\n');
    if (!s.signed_headers.empty()) s.signed_headers.push_back(';');
    s.signed_headers.append(name);
  }
  cr.push_back('\n');
  cr.append(s.signed_headers);
  cr.push_back('\n');
  cr.append(payload_hash);

  static constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
  static constexpr std::string_view kTerminator = "/aws4_request";
  std::string_view date = amz_date.substr(0, 8);
  std::string& sts = s.string_to_sign;
  sts.reserve(kAlgorithm.size() + amz_date.size() + date.size() + region.size() + service.size() +
              kTerminator.size() + 64 + 5);
  StrAppend(&sts, kAlgorithm, "\n", amz_date, "\n");
  size_t scope_start = sts.size();
  StrAppend(&sts, date, "/", region, "/", service, kTerminator);
  size_t scope_end = sts.size();
  sts.push_back('\n');
  crypto::AppendSha256Hex(&sts, cr);
  std::string_view scope = std::string_view(sts).substr(scope_start, scope_end - scope_start);

  std::optional<crypto::HmacSha256Key> derived;
  if (signing_key == nullptr) {
    derived.emplace(DeriveSigningKey(credentials.secret_access_key, date, region, service));
    signing_key = &*derived;
  }
  s.signature.reserve(64);
  signing_key->AppendMacHex(&s.signature, sts);
  static constexpr std::string_view kCredential = " Credential=";
  static constexpr std::string_view kSignedHeaders = ", SignedHeaders=";
  static constexpr std::string_view kSignature = ", Signature=";
  s.authorization.reserve(kAlgorithm.size() + kCredential.size() + credentials.access_key_id.size() + 1 +
                          scope.size() + kSignedHeaders.size() + s.signed_headers.size() + kSignature.size() +
                          s.signature.size());
  StrAppend(&s.authorization, kAlgorithm, kCredential, credentials.access_key_id, "/", scope, kSignedHeaders,
            s.signed_headers, kSignature, s.signature);
}

}  // namespace

Signature Sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view amz_date) {
  Signature s;
  SignInto(request, credentials, region, service, amz_date, {}, nullptr, &s);
  return s;
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
    std::string_view access_key_id = access_key_id_, secret = secret_access_key_, session_token = session_token_;
    AwsCredentials current;
    if (options_.source) {
      auto c = options_.source(now);
      if (!c.ok()) return c.status();
      current = std::move(*c);
      access_key_id = current.access_key_id;
      secret = current.secret_access_key;
      session_token = current.session_token;
    }

    // Views into these buffers are signed; they are reused by this thread's next signature.
    thread_local Request req;
    thread_local Signature sig;
    thread_local std::string payload_hash_buf;
    payload_hash_buf.clear();
    crypto::AppendSha256Hex(&payload_hash_buf, r.body);
    const std::string_view payload_hash = payload_hash_buf;
    req.method = r.method;
    req.path_and_query = r.path_and_query;
    req.body = r.body;
    // In canonical (sorted) order already, so SignInto's ordering moves nothing.
    req.headers.clear();
    r.ForEachValue("content-type", [&](std::string_view value) { req.headers.emplace_back("content-type", value); });
    req.headers.emplace_back("host", r.host);
    if (options_.send_content_sha256) req.headers.emplace_back("x-amz-content-sha256", payload_hash);
    req.headers.emplace_back("x-amz-date", amz_date);
    if (!session_token.empty()) req.headers.emplace_back("x-amz-security-token", session_token);
    for (const std::string& name : options_.extra_signed_headers) {
      r.ForEachValue(name, [&](std::string_view value) { req.headers.emplace_back(name, value); });
    }

    crypto::HmacSha256Key key = SigningKey(std::string_view(amz_date).substr(0, 8), secret);
    SignInto(req, Credentials{access_key_id, secret}, region_, options_.service, amz_date, payload_hash, &key, &sig);
    // Distinct lower-case names: appended directly; the date is moved, the authorization and
    // hash copied out of the reused buffers.
    http::HeaderMutation m;
    m.set.reserve(4);
    m.set.emplace_back("authorization", sig.authorization);
    m.set.emplace_back("x-amz-date", std::move(amz_date));
    if (options_.send_content_sha256) m.set.emplace_back("x-amz-content-sha256", payload_hash);
    if (!session_token.empty()) m.set.emplace_back("x-amz-security-token", session_token);
    return m;
  }

 private:
  // The signing key depends only on the date and the secret (region and service are fixed):
  // derived once a day (or when temporary credentials rotate) instead of four HMACs per
  // request, and kept as HMAC states (two fewer SHA-256 blocks per signature). Returned as a
  // copy on the stack: no allocation, no lock while hashing.
  crypto::HmacSha256Key SigningKey(std::string_view date, std::string_view secret) const {
    {
      std::lock_guard<std::mutex> lock(key_mu_);
      if (key_ && key_date_ == date && key_secret_ == secret) return *key_;
    }
    crypto::HmacSha256Key key(DeriveSigningKey(secret, date, region_, options_.service));
    std::lock_guard<std::mutex> lock(key_mu_);
    key_date_ = std::string(date);
    key_secret_ = std::string(secret);
    key_.emplace(key);
    return key;
  }

  std::string access_key_id_;
  std::string secret_access_key_;  // secret: never logged or put in a Status
  std::string session_token_;      // secret
  std::string region_;
  SignerOptions options_;
  mutable std::mutex key_mu_;
  mutable std::string key_date_;                         // guarded by key_mu_: "YYYYMMDD" of key_
  mutable std::string key_secret_;                       // guarded by key_mu_: the secret of key_
  mutable std::optional<crypto::HmacSha256Key> key_;  // guarded by key_mu_; secret: never logged
};

}  // namespace

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4SignerWithOptions(
    const config::BackendAuth& auth, SignerOptions options) {
  if (!options.source) {
    if (auth.aws_access_key_id.empty()) return absl::InvalidArgumentError("aws: access key id is missing");
    if (auth.aws_secret_access_key.empty()) return absl::InvalidArgumentError("aws: secret access key is missing");
  }
  if (auth.aws_region.empty()) return absl::InvalidArgumentError("aws: region is missing");
  return std::make_unique<AwsSigV4Signer>(auth, std::move(options));
}

absl::StatusOr<std::unique_ptr<BackendSigner>> NewCallSigner(const AwsCredentials& credentials, std::string region,
                                                            std::string service, int64_t now,
                                                            std::vector<std::string> extra_signed_headers) {
  config::BackendAuth a;
  a.aws_access_key_id = credentials.access_key_id;
  a.aws_secret_access_key = credentials.secret_access_key;
  a.aws_session_token = credentials.session_token;
  a.aws_region = std::move(region);
  SignerOptions opts;
  opts.service = std::move(service);
  opts.clock = [now] { return now; };
  opts.extra_signed_headers = std::move(extra_signed_headers);
  return NewAwsSigV4SignerWithOptions(a, std::move(opts));
}

}  // namespace aws_sigv4_internal

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4Signer(const config::BackendAuth& auth,
                                                                 UnixClock clock) {
  aws_sigv4_internal::SignerOptions options;
  options.clock = std::move(clock);
  return aws_sigv4_internal::NewAwsSigV4SignerWithOptions(auth, std::move(options));
}

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4SignerWithSource(const config::BackendAuth& auth,
                                                                           AwsCredentialSource source,
                                                                           UnixClock clock) {
  if (!source) return absl::InvalidArgumentError("aws: no credential source");
  aws_sigv4_internal::SignerOptions options;
  options.clock = std::move(clock);
  options.source = std::move(source);
  return aws_sigv4_internal::NewAwsSigV4SignerWithOptions(auth, std::move(options));
}

}  // namespace sluice::auth
