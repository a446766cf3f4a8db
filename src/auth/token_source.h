// Tokens that must be fetched (GCP OAuth2, Azure Entra ID) are minted and refreshed off the
// request path: one background thread refreshes every registered token some minutes before it
// expires, and signers only read the current value (never block).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/signer.h"

namespace sluice::auth {

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {})
      : status(status), body(std::move(body)), headers(std::move(headers)) {}
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  // The first value of header `lower_name` ("" when absent).
  std::string_view Header(std::string_view lower_name) const {
    for (const auto& [n, v] : headers)
      if (n == lower_name) return v;
    return {};
  }
};

struct HttpRequest {
  std::string_view method = "GET";
  std::string_view url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names; may hold secrets
  std::string_view body;
  int timeout_ms = 10000;  // the whole exchange, connect included
  // Mutual TLS (an https URL only): the client's certificate chain and its private key, PEM.
  // Secrets (the key); empty for none.
  std::string_view client_cert_pem;
  std::string_view client_key_pem;
};

// A blocking HTTP(S) client for credential endpoints, provided by the driver (it owns the
// network code). Called only from the refresher thread. Must verify TLS certificates.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
  // POST application/x-www-form-urlencoded, accepting JSON (OAuth2 token endpoints).
  absl::StatusOr<HttpResponse> PostForm(std::string_view url, std::string_view body) {
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
    r.body = body;
    return Send(r);
  }
};

struct Token {
  std::string value;       // secret
  int64_t expires_at = 0;  // Unix seconds
};

// Mints a new token (e.g. JWT-bearer exchange). Runs on the refresher thread.
using TokenMinter = std::function<absl::StatusOr<Token>(HttpClient& http, int64_t now_unix)>;

// One refreshable token. Thread-safe.
class RefreshingToken {
 public:
  RefreshingToken(std::string name, TokenMinter minter) : name_(std::move(name)), minter_(std::move(minter)) {}
  // The current token; Unavailable (with the last error) before the first success or after
  // expiry.
  absl::StatusOr<std::string> Current(int64_t now_unix) const;
  // Due when never fetched, within `kRefreshAhead` (at most half the token's lifetime) of
  // expiry, or after a failure's backoff.
  bool Due(int64_t now_unix) const;
  void Refresh(HttpClient& http, int64_t now_unix);
  const std::string& name() const { return name_; }

  static constexpr int64_t kRefreshAhead = 300;  // seconds, as Envoy AI Gateway's rotators
  static constexpr int64_t kMinRefreshInterval = 10;  // seconds, after a token expired on arrival

 private:
  std::string name_;
  TokenMinter minter_;
  mutable std::mutex mu_;
  Token token_;
  int64_t fetched_at_ = 0;  // when token_ was minted (Unix seconds)
  bool refreshing_ = false;  // a fetch is in flight
  std::string last_error_ = "not fetched yet";
  int64_t retry_at_ = 0;
  int failures_ = 0;
};

// The process-wide refresher. Tokens are held weakly: a token dies with the config snapshot
// (runtime) that created it.
class TokenRefresher {
 public:
  static TokenRefresher& Get();
  // Installs the HTTP client (the driver does this at startup).
  void SetHttpClient(std::shared_ptr<HttpClient> http);
  // Registers `t` and fetches it once now (bounded by the client's timeouts), so a fresh
  // config is usually ready before it serves.
  void Register(const std::shared_ptr<RefreshingToken>& t);
  ~TokenRefresher();

 private:
  TokenRefresher() = default;
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<HttpClient> http_;
  std::vector<std::weak_ptr<RefreshingToken>> tokens_;
  std::thread thread_;
  bool stop_ = false;
};

// Signs with "Authorization: Bearer <current token>".
std::unique_ptr<BackendSigner> NewBearerTokenSigner(std::shared_ptr<RefreshingToken> token);

// Helpers for credential sources (AWS default chain, GCP Application Default Credentials).
// Reads one environment variable ("" when unset). Tests pass a map.
using EnvLookup = std::function<std::string(const char* name)>;
EnvLookup ProcessEnv();
// A whole file; FailedPrecondition "<what> <path> cannot be read" (never its content).
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, std::string_view what);
// "2026-11-30T21:15:00Z" (fractional seconds and a +00:00 offset allowed) -> Unix seconds.
absl::StatusOr<int64_t> ParseIso8601Utc(std::string_view s);
// Unix seconds -> "2026-11-30T21:15:00Z".
std::string FormatIso8601Utc(int64_t unix_seconds);

// Runs a credential helper (AWS credential_process, Google's executable-sourced credentials):
// argv[0] looked up in PATH, stdin /dev/null, stderr the gateway's, stdout read; the gateway's
// environment plus `extra_env` ("NAME=value"); its own process group, no descriptor of the
// gateway's but stdout (Asio's sockets are not close-on-exec). Its stdout when it exits 0
// within `timeout_ms` having printed at most `max_output` bytes; on a timeout everything it
// started is killed.
absl::StatusOr<std::string> RunCredentialHelper(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& extra_env, int timeout_ms,
                                                size_t max_output);

int64_t NowUnix();

}  // namespace sluice::auth
