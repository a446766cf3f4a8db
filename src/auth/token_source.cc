#include "auth/token_source.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "common/strings.h"

namespace sluice::auth {

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

absl::StatusOr<std::string> RefreshingToken::Current(int64_t now) const {
  std::lock_guard<std::mutex> l(mu_);
  if (token_.value.empty() || now >= token_.expires_at) {
    return absl::UnavailableError(StrCat(name_, ": token not available: ", last_error_));
  }
  return token_.value;
}

bool RefreshingToken::Due(int64_t now) const {
  std::lock_guard<std::mutex> l(mu_);
  if (refreshing_ || now < retry_at_) return false;
  if (token_.value.empty()) return true;
  // kRefreshAhead before expiry, but never more than half the token's lifetime ahead (a
  // 60-second token would otherwise be due again at once, on every pass). A token that was
  // expired on arrival is fetched again only kMinRefreshInterval later.
  int64_t lifetime = token_.expires_at - fetched_at_;
  if (lifetime <= 0) return now >= fetched_at_ + kMinRefreshInterval;
  return now >= token_.expires_at - std::min(kRefreshAhead, lifetime / 2);
}

void RefreshingToken::Refresh(HttpClient& http, int64_t now) {
  {
    // One fetch at a time: Register's first fetch and the refresher's loop can both find a
    // new token due.
    std::lock_guard<std::mutex> l(mu_);
    if (refreshing_) return;
    refreshing_ = true;
  }
  auto t = minter_(http, now);
  std::lock_guard<std::mutex> l(mu_);
  refreshing_ = false;
  if (t.ok()) {
    token_ = std::move(*t);
    fetched_at_ = now;
    failures_ = 0;
    retry_at_ = 0;
    last_error_.clear();
    return;
  }
  // Exponential backoff 1s, 2s, 4s ... 60s; the message never contains the secret.
  last_error_ = std::string(ToStd(t.status().message()));
  failures_ = std::min(failures_ + 1, 7);
  retry_at_ = now + std::min<int64_t>(60, int64_t{1} << (failures_ - 1));
  log::Warn("credentials ", name_, ": refresh failed: ", last_error_);
}

TokenRefresher& TokenRefresher::Get() {
  static TokenRefresher* r = new TokenRefresher();  // lives until exit; thread detached there
  return *r;
}

TokenRefresher::~TokenRefresher() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TokenRefresher::SetHttpClient(std::shared_ptr<HttpClient> http) {
  std::lock_guard<std::mutex> l(mu_);
  http_ = std::move(http);
}

void TokenRefresher::Register(const std::shared_ptr<RefreshingToken>& t) {
  std::shared_ptr<HttpClient> http;
  {
    std::lock_guard<std::mutex> l(mu_);
    tokens_.push_back(t);
    http = http_;
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  if (http) t->Refresh(*http, NowUnix());
  cv_.notify_all();
}

void TokenRefresher::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, std::chrono::seconds(1));
    if (stop_ || !http_) continue;
    std::vector<std::shared_ptr<RefreshingToken>> due;
    int64_t now = NowUnix();
    for (auto it = tokens_.begin(); it != tokens_.end();) {
      auto t = it->lock();
      if (!t) {
        it = tokens_.erase(it);
        continue;
      }
      if (t->Due(now)) due.push_back(std::move(t));
      ++it;
    }
    auto http = http_;
    l.unlock();
    for (auto& t : due) t->Refresh(*http, NowUnix());
    l.lock();
  }
}

namespace {
class BearerTokenSigner final : public BackendSigner {
 public:
  explicit BearerTokenSigner(std::shared_ptr<RefreshingToken> t) : token_(std::move(t)) {}
  absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest&) const override {
    auto v = token_->Current(NowUnix());
    if (!v.ok()) return v.status();
    http::HeaderMutation m;
    m.Set("authorization", StrCat("Bearer ", *v));
    return m;
  }
  bool NeedsRequest() const override { return false; }

 private:
  std::shared_ptr<RefreshingToken> token_;
};
}  // namespace

std::unique_ptr<BackendSigner> NewBearerTokenSigner(std::shared_ptr<RefreshingToken> token) {
  return std::make_unique<BearerTokenSigner>(std::move(token));
}

std::string FormEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace sluice::auth
