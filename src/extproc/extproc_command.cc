#include "extproc/extproc_command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/log.h"
#include "common/strings.h"
#include "compiler/resources/resources.h"
#include "config/config.h"
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
  // Blocks until a signal arrives; returns its number.
  int Next() {
    unsigned char b = 0;
    while (true) {
      ssize_t n = read(g_signal_pipe[0], &b, 1);
      if (n == 1) return b;
      if (n < 0 && errno == EINTR) continue;
      return SIGTERM;  // the pipe broke: stop
    }
  }

 private:
  static constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGHUP};
  struct sigaction old_[3];
};

// Resources -> config -> runtime, as `sluice run` builds them. Logs every diagnostic; returns
// null when the set cannot be served.
std::shared_ptr<const gateway::Runtime> LoadRuntime(const ExtprocOptions& opts) {
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
    return nullptr;
  }
  if (diags.HasUnsupported() && !opts.allow_unsupported) {
    log::Error("the configuration uses features sluice does not support yet (listed above); "
               "pass --allow-unsupported to serve without them");
    return nullptr;
  }
  auto rt = gateway::Runtime::Build(cfg);
  if (!rt.ok()) {
    log::Error(rt.status().message());
    return nullptr;
  }
  log::Info(config::DescribeForLog(*cfg));
  return *rt;
}

}  // namespace

int RunExtprocCommand(const ExtprocOptions& opts) {
  log::Level level;
  if (!log::ParseLevel(opts.log_level, &level)) {
    log::Error("invalid log level ", opts.log_level, " (debug|info|warn|error)");
    return 2;
  }
  log::SetLevel(level);
  if (!opts.config_file.empty()) {
    if (!opts.resource_files.empty()) {
      log::Error("pass resource files (-f) or a data-plane config (--config), not both");
      return 2;
    }
    log::Error("--config ", opts.config_file,
               ": Envoy AI Gateway's filterapi config is not supported yet (unimplemented); "
               "pass the resources it was generated from with -f instead");
    return 2;
  }
  if (opts.resource_files.empty()) {
    log::Error("sluice extproc needs resource files: -f FILE (repeatable; files or directories)");
    return 2;
  }

  SignalPipe signals;
  if (!signals.ok()) {
    log::Error("cannot create the signal pipe: ", std::strerror(errno));
    return 1;
  }

  std::shared_ptr<const gateway::Runtime> runtime = LoadRuntime(opts);
  if (!runtime) return 1;

  ServerOptions so;
  so.listen = opts.listen.empty() ? std::vector<std::string>{kDefaultListen} : opts.listen;
  so.max_grpc_message_bytes = opts.max_grpc_message_bytes;
  so.max_request_body_bytes = opts.max_request_body_bytes;
  so.max_error_body_bytes = opts.max_error_body_bytes;
  if (so.max_grpc_message_bytes < so.max_request_body_bytes + (64u << 10)) {
    log::Warn("the gRPC message limit (", so.max_grpc_message_bytes,
              " bytes) is below the request body limit: larger bodies fail the stream instead of "
              "getting a 413");
  }
  auto server = Server::Start(so, runtime);
  if (!server.ok()) {
    log::Error(server.status().message());
    return 1;
  }
  for (const auto& a : (*server)->addresses()) std::printf("sluice extproc listening on %s\n", a.c_str());
  std::fflush(stdout);

  while (true) {
    int sig = signals.Next();
    if (sig == SIGHUP) {
      log::Info("SIGHUP: reloading ", opts.resource_files.size(), " resource path(s)");
      if (auto next = LoadRuntime(opts)) {
        (*server)->Reload(std::move(next));
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
  (*server)->Shutdown(std::chrono::milliseconds(opts.shutdown_grace_ms));
  log::Info("stopped");
  return 0;
}

}  // namespace sluice::extproc
