#include "extproc/extproc_command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/file_watcher.h"
#include "common/log.h"
#include "common/strings.h"
#include "compiler/resources/resources.h"
#include "config/config.h"
#include "config/filterapi.h"
#include "extproc/processor.h"
#include "extproc/server.h"
#include "gateway/runtime.h"

namespace sluice::extproc {
namespace {

// Signals reach the main thread through a pipe: the handler only write(2)s the number, which
// is async-signal-safe, and works whichever thread the kernel picks (gRPC's threads, or ones
// other code started before us).
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &b, 1);
  errno = saved;
}

class SignalPipe {
 public:
  SignalPipe() {
    if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalPipe() {
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  bool ok() const { return g_signal_pipe[0] >= 0; }
  // Blocks until a signal (or kFilesChanged) arrives, or `timeout_ms` passes (-1: forever;
  // returns kTimeout then); returns its number.
  int Next(int timeout_ms = -1) {
    unsigned char b = 0;
    while (true) {
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      int r = poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return kTimeout;
      ssize_t n = read(g_signal_pipe[0], &b, 1);
      if (n == 1) return b;
      if (n < 0 && errno == EINTR) continue;
      return SIGTERM;  // the pipe broke: stop
    }
  }
  // Pseudo-signals: the file watcher's notification, and Next()'s timeout.
  static constexpr int kFilesChanged = 0;
  static constexpr int kTimeout = 255;

 private:
  static constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGHUP};
  struct sigaction old_[3];
};

// What one configuration version serves: the runtime and its LLM request costs, swapped
// together.
struct Loaded {
  std::shared_ptr<const gateway::Runtime> runtime;
  std::shared_ptr<const config::LlmRequestCosts> costs;  // nullptr: none configured
  bool retryable = false;  // a failed bundle read (partial update): worth retrying soon
};

// Resources -> config -> runtime, as `sluice run` builds them. Logs every diagnostic; returns
// a null runtime when the set cannot be served.
Loaded LoadResources(const ExtprocOptions& opts) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  for (const auto& f : opts.resource_files) compiler::LoadResourceFile(f, &set, &diags);
  compiler::BuildOptions build;
  build.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, build, &diags));
  std::string source;
  for (const auto& f : opts.resource_files) StrAppend(&source, source.empty() ? "" : ",", f);
  cfg->source = source;
  for (const auto& d : diags.items) {
    std::string line = compiler::Format(d);
    switch (d.severity) {
      case compiler::Diagnostic::Severity::kNotice: log::Info(line); break;
      case compiler::Diagnostic::Severity::kWarning: log::Warn(line); break;
      default: log::Error(line);
    }
  }
  if (diags.HasErrors()) {
    log::Error("the configuration has errors");
    return {};
  }
  if (diags.HasUnsupported() && !opts.allow_unsupported) {
    log::Error("the configuration uses features sluice does not support yet (listed above); "
               "pass --allow-unsupported to serve without them");
    return {};
  }
  auto rt = gateway::Runtime::Build(cfg);
  if (!rt.ok()) {
    log::Error(rt.status().message());
    return {};
  }
  log::Info(config::DescribeForLog(*cfg));
  // The AIGatewayRoutes' spec.llmRequestCosts, emitted as dynamic metadata per answer.
  auto costs = std::make_shared<config::LlmRequestCosts>();
  for (const auto& r : cfg->routes) costs->route.insert(costs->route.end(), r.costs.begin(), r.costs.end());
  if (costs->empty()) return {*rt, nullptr};
  return {*rt, std::move(costs)};
}

// Envoy AI Gateway's filterapi config (file or bundle directory) -> runtime + costs.
Loaded LoadFilterApi(const ExtprocOptions& opts) {
  auto fc = config::LoadFilterConfig(opts.config_file, opts.config_version);
  if (!fc.ok()) {
    log::Error(fc.status().message());
    Loaded l;
    l.retryable = fc.status().code() == absl::StatusCode::kDataLoss ||
                  fc.status().code() == absl::StatusCode::kNotFound;
    return l;
  }
  for (const auto& w : fc->warnings) {
    if (opts.allow_unsupported) log::Warn(opts.config_file, ": ", w);
    else log::Info(opts.config_file, ": ", w);
  }
  auto cfg = std::make_shared<config::Config>(std::move(fc->config));
  auto rt = gateway::Runtime::Build(cfg);
  if (!rt.ok()) {
    log::Error(opts.config_file, ": ", rt.status().message());
    return {};
  }
  log::Info("filterapi config version ", fc->version.empty() ? "(none)" : fc->version, ", uuid ",
            fc->uuid.empty() ? "(none)" : fc->uuid, ": ", cfg->backends.size(), " backends, ",
            cfg->models.size(), " models, ", fc->costs.global.size() + fc->costs.route.size(),
            " request costs; the backend comes from the ", config::kBackendHeader, " request header");
  log::Info(config::DescribeForLog(*cfg));
  return {*rt, std::make_shared<const config::LlmRequestCosts>(std::move(fc->costs))};
}

Loaded Load(const ExtprocOptions& opts) {
  return opts.config_file.empty() ? LoadResources(opts) : LoadFilterApi(opts);
}

// The files whose changes trigger a reload: the -f paths, or the --config file, or a
// bundle's index.yaml and its parts.
std::vector<std::string> WatchedPaths(const ExtprocOptions& opts) {
  if (opts.config_file.empty()) return opts.resource_files;
  std::error_code ec;
  if (!std::filesystem::is_directory(opts.config_file, ec)) return {opts.config_file};
  std::vector<std::string> paths{opts.config_file + "/index.yaml"};
  for (const auto& e : std::filesystem::directory_iterator(opts.config_file + "/parts", ec)) {
    paths.push_back(e.path().string());
  }
  return paths;
}

}  // namespace

int RunExtprocCommand(const ExtprocOptions& opts) {
  log::Level level;
  if (!log::ParseLevel(opts.log_level, &level)) {
    log::Error("invalid log level ", opts.log_level, " (debug|info|warn|error)");
    return 2;
  }
  log::SetLevel(level);
  Layout layout;
  if (!ParseLayout(opts.layout, &layout)) {
    log::Error("invalid --layout ", opts.layout, " (router|two-filter)");
    return 2;
  }
  if (!opts.config_file.empty() && !opts.resource_files.empty()) {
    log::Error("pass resource files (-f) or a data-plane config (--config), not both");
    return 2;
  }
  if (opts.resource_files.empty() && opts.config_file.empty()) {
    log::Error("sluice extproc needs resource files: -f FILE (repeatable; files or directories), "
               "or Envoy AI Gateway's filter config: --config FILE|BUNDLE_DIR");
    return 2;
  }

  SignalPipe signals;
  if (!signals.ok()) {
    log::Error("cannot create the signal pipe: ", std::strerror(errno));
    return 1;
  }

  // Taken before the files are read: a change between this read and the watcher's start
  // (e.g. a ConfigMap update while we start) still triggers a reload.
  std::string watch_baseline = FileWatcher::FingerprintOf(WatchedPaths(opts));
  Loaded initial = Load(opts);
  if (!initial.runtime) return 1;

  ServerOptions so;
  so.listen = opts.listen.empty() ? std::vector<std::string>{kDefaultListen} : opts.listen;
  so.max_grpc_message_bytes = opts.max_grpc_message_bytes;
  so.max_request_body_bytes = opts.max_request_body_bytes;
  so.max_error_body_bytes = opts.max_error_body_bytes;
  so.full_duplex_response_override = opts.full_duplex_response_override;
  so.costs = initial.costs;
  if (so.max_grpc_message_bytes < so.max_request_body_bytes + (64u << 10)) {
    log::Warn("the gRPC message limit (", so.max_grpc_message_bytes,
              " bytes) is below the request body limit: larger bodies fail the stream instead of "
              "getting a 413");
  }
  auto server = StartServer(so, initial.runtime, layout);
  if (!server.ok()) {
    log::Error(server.status().message());
    return 1;
  }
  log::Info("filter layout: ", LayoutName(layout));
  for (const auto& a : (*server)->addresses()) std::printf("sluice extproc listening on %s\n", a.c_str());
  std::fflush(stdout);

  // File changes (inotify on the files' directories, so Kubernetes' symlink swaps are seen,
  // plus a content-hash poll) reach this loop through the signal pipe, like SIGHUP. Reloads
  // run here, one at a time; a new version is swapped in whole between streams.
  FileWatcher watcher(WatchedPaths(opts), [] {
    unsigned char b = SignalPipe::kFilesChanged;
    [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &b, 1);
  }, std::chrono::milliseconds(2000), std::move(watch_baseline));
  std::string what = opts.config_file.empty() ? StrCat(opts.resource_files.size(), " resource path(s)")
                                               : opts.config_file;
  bool retry_pending = false;  // a bundle was caught mid-update: try again shortly
  while (true) {
    int sig = signals.Next(retry_pending ? 1000 : -1);
    if (sig == SIGHUP || sig == SignalPipe::kFilesChanged || sig == SignalPipe::kTimeout) {
      if (sig == SignalPipe::kTimeout && !retry_pending) continue;
      log::Info(sig == SIGHUP ? "SIGHUP" : sig == SignalPipe::kTimeout ? "retry" : "files changed",
                ": reloading ", what);
      Loaded next = Load(opts);
      retry_pending = !next.runtime && next.retryable;
      if (next.runtime) {
        (*server)->Reload(std::move(next.runtime), std::move(next.costs));
        log::Info("reloaded; new streams use the new configuration");
      } else {
        log::Error("reload rejected; the previous configuration keeps serving");
      }
      continue;
    }
    log::Info("signal ", sig, ": shutting down (", (*server)->active_streams(), " open streams, grace ",
              opts.shutdown_grace_ms, " ms)");
    break;
  }
  watcher.Stop();
  (*server)->Shutdown(std::chrono::milliseconds(opts.shutdown_grace_ms));
  log::Info("stopped");
  return 0;
}

}  // namespace sluice::extproc
