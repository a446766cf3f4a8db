#include "auth/token_source.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"

extern char** environ;

namespace sluice::auth {

EnvLookup ProcessEnv() {
  return [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
}

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(StrCat(what, " ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<int64_t> ParseIso8601Utc(std::string_view s) {
  auto bad = [&] { return absl::InvalidArgumentError("not an ISO 8601 UTC time"); };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return bad();
  auto num = [&](size_t at, size_t n, int* out) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  struct tm tm = {};
  int year, mon, day, hour, min, sec;
  if (!num(0, 4, &year) || !num(5, 2, &mon) || !num(8, 2, &day) || !num(11, 2, &hour) || !num(14, 2, &min) ||
      !num(17, 2, &sec))
    return bad();
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    if (i == 1) return bad();
    rest.remove_prefix(i);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return bad();
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

std::string FormatIso8601Utc(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm = {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<std::string> RunCredentialHelper(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& extra_env, int timeout_ms,
                                                size_t max_output) {
  if (argv.empty() || argv[0].empty()) return absl::InvalidArgumentError("no command");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("cannot create a pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  // Nothing of the gateway's (listening and connected sockets, files other threads opened)
  // reaches the helper: a socket it held would keep connections and the port alive.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  // Its own process group, so that a timeout kills whatever the shell started too.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The gateway's environment, with `extra_env` ("NAME=value") replacing what it names.
  std::vector<char*> envp;
  for (const std::string& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const std::string& x : extra_env) {
      replaced = replaced || entry.substr(0, entry.find('=') + 1) == std::string_view(x).substr(0, x.find('=') + 1);
    }
    if (!replaced) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::InternalError(StrCat("could not be started (", strerror(rc), ")"));
  }
  std::string out;
  bool too_long = false, timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_output) {
      too_long = true;
      break;
    }
  }
  close(fds[0]);
  // The output is complete; the shell still has until the deadline to exit.
  int status = 0;
  bool reaped = false;
  while (!timed_out && !too_long) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) {
      reaped = w == pid;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!reaped) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    kill(-pid, SIGKILL);  // anything the shell left behind
  }
  if (timed_out) return absl::DeadlineExceededError(StrCat("did not finish within ", timeout_ms / 1000, " s"));
  if (too_long) return absl::InternalError(StrCat("printed more than ", max_output, " bytes"));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(WIFEXITED(status) ? StrCat("exited with status ", WEXITSTATUS(status))
                                                 : std::string("was killed by a signal"));
  }
  return out;
}


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

}  // namespace sluice::auth
