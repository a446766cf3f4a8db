// The one `sluice` binary: main() and its subcommands only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/strings.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/file_watcher.h"
#include "common/log.h"
#include "compiler/resources/autoconfig.h"
#include "compiler/resources/resources.h"
#include "config/config.h"
#include "extproc/extproc_command.h"
#include "auth/token_source.h"
#include "standalone/server.h"
#include "standalone/token_client.h"

namespace sluice {
namespace {

constexpr const char* kVersion = "0.1.0";

struct LoadResult {
  std::shared_ptr<const config::Config> config;
  bool ok = false;
};

// Loads resources (files, or the environment when none) and reports every diagnostic.
LoadResult LoadConfig(const std::vector<std::string>& files, int default_port,
                      bool allow_unsupported, std::string* description) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  if (files.empty()) {
    auto ac = compiler::GenerateAutoConfig(&compiler::ProcessEnv, default_port);
    if (!ac.ok()) {
      log::Error(ac.status().message());
      return {};
    }
    *description = ac->configured ? ac->description : "";
    compiler::ParseResources(ac->yaml, "<environment>", &set, &diags);
  } else {
    for (const auto& f : files) compiler::LoadResourceFile(f, &set, &diags);
  }
  compiler::BuildOptions opts;
  opts.now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, opts, &diags));
  cfg->source = files.empty() ? "<environment>" : absl::StrJoin(files, ",");
  for (const auto& d : diags.items) {
    std::string line = compiler::Format(d);
    switch (d.severity) {
      case compiler::Diagnostic::Severity::kNotice: log::Info(line); break;
      case compiler::Diagnostic::Severity::kWarning: log::Warn(line); break;
      default: log::Error(line);
    }
  }
  if (diags.HasErrors()) {
    log::Error("the configuration has errors; not starting");
    return {};
  }
  if (diags.HasUnsupported() && !allow_unsupported) {
    log::Error(
        "the configuration uses features sluice does not support yet (listed above); "
        "pass --allow-unsupported to start anyway without them");
    return {};
  }
  return {std::move(cfg), true};
}

int Validate(const std::vector<std::string>& files) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  for (const auto& f : files) compiler::LoadResourceFile(f, &set, &diags);
  compiler::BuildOptions opts;
  compiler::BuildConfig(set, opts, &diags);
  for (const auto& d : diags.items) std::cout << compiler::Format(d) << "\n";
  std::cout << (diags.HasErrors() ? "invalid" : diags.HasUnsupported() ? "unsupported features" : "valid")
            << "\n";
  return diags.HasErrors() ? 1 : diags.HasUnsupported() ? 2 : 0;
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  using namespace sluice;
  using standalone::Server;
  CLI::App app{"sluice: an AI gateway (OpenAI and Anthropic clients to every major provider)"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug|info|warn|error");
  app.fallthrough();  // global options may also follow the subcommand: `sluice run --log-level debug`

  // sluice run
  auto* run = app.add_subcommand("run", "serve the gateway standalone (the embedded default)");
  std::vector<std::string> files;
  standalone::ServerOptions so;
  int port = -1;
  bool allow_unsupported = false;
  size_t max_body = so.max_request_body_bytes;
  int threads = 0;
  double connect_timeout_s = 5, idle_timeout_s = 300, grace_s = 30, keepalive_s = 15;
  run->add_option("files", files, "resource files or directories (Envoy AI Gateway YAML); none: "
                                  "configure from OPENAI_API_KEY / OPENAI_BASE_URL");
  run->add_option("--address", so.address, "listen address")->capture_default_str();
  run->add_option("--port", port, "listen port (overrides the Gateway listener; 0 = ephemeral)");
  run->add_option("--threads", threads, "event loops (default: one per core)");
  run->add_flag("--allow-unsupported", allow_unsupported,
                "start even when resources use features sluice does not support yet");
  run->add_option("--max-request-body-bytes", max_body, "413 above this")->capture_default_str();
  run->add_option("--ca-file", so.extra_ca_file, "extra PEM trust anchors for upstream TLS");
  run->add_option("--connect-timeout", connect_timeout_s, "upstream connect timeout, seconds")->capture_default_str();
  run->add_option("--upstream-idle-timeout", idle_timeout_s, "max seconds between upstream body reads")->capture_default_str();
  run->add_option("--stream-keepalive", keepalive_s,
                  "seconds of upstream silence before a translated stream gets a keep-alive event "
                  "(Anthropic ping / SSE comment); 0 = never")
      ->capture_default_str();
  run->add_option("--shutdown-grace", grace_s, "seconds to finish in-flight requests on SIGTERM")->capture_default_str();

  auto* validate = app.add_subcommand("validate", "check resource files and print diagnostics");
  std::vector<std::string> vfiles;
  validate->add_option("files", vfiles, "resource files or directories")->required();

  // sluice extproc
  auto* ext = app.add_subcommand("extproc", "serve Envoy's ext_proc protocol (Envoy, Envoy Gateway, Istio)");
  extproc::ExtprocOptions eo;
  ext->add_option("--listen", eo.listen, "host:port or unix:PATH (repeatable; default 127.0.0.1:1063)");
  ext->add_option("-f,--resources", eo.resource_files, "Envoy AI Gateway resource files or directories");
  ext->add_option("--config", eo.config_file, "Envoy AI Gateway filter config (filterapi YAML)");
  ext->add_flag("--allow-unsupported", eo.allow_unsupported, "start even when resources use unsupported features");
  ext->add_option("--config-version", eo.config_version,
                  "reject a --config whose `version` differs (rolling updates); default: any");
  ext->add_option("--max-request-body-bytes", eo.max_request_body_bytes, "413 above this")->capture_default_str();
  ext->add_option("--layout", eo.layout,
                  "router (one router-level filter does everything) or two-filter (router filter "
                  "extracts the model, upstream filter translates and signs per attempt)")
      ->capture_default_str();
  ext->add_flag("--full-duplex-responses", eo.full_duplex_response_override,
                "switch streamed answers to FULL_DUPLEX_STREAMED with mode_override (default: "
                "STREAMED; needs an Envoy that accepts the override, >= 1.34)");

  app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);
  // Debian's abseil checks every absl::Mutex acquisition for lock-order cycles (gRPC locks
  // them on every ext_proc message): ~6% of sluice extproc's CPU in a profile. Production
  // servers do not pay for a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  log::Level level;
  if (!log::ParseLevel(log_level, &level)) {
    std::cerr << "invalid --log-level " << log_level << "\n";
    return 2;
  }
  log::SetLevel(level);

  if (app.got_subcommand("version")) {
    std::cout << "sluice " << kVersion << "\n";
    return 0;
  }
  if (app.got_subcommand("validate")) return Validate(vfiles);
  if (app.got_subcommand("extproc")) {
    eo.log_level = log_level;
    auth::TokenRefresher::Get().SetHttpClient(standalone::NewTokenHttpClient(""));
    return extproc::RunExtprocCommand(eo);
  }

  // Token endpoints (GCP OAuth2, Azure Entra ID) are reached by the credential refresher with
  // the same trust anchors as providers.
  auto extra_ca = standalone::ReadCaFile(so.extra_ca_file);
  if (!extra_ca.ok()) {
    log::Error(extra_ca.status().message());
    return 1;
  }
  auth::TokenRefresher::Get().SetHttpClient(standalone::NewTokenHttpClient(*extra_ca));

  std::string description;
  // Taken before the files are read, so a change made while we start is reloaded too.
  std::string watch_baseline = files.empty() ? std::string() : FileWatcher::FingerprintOf(files);
  auto loaded = LoadConfig(files, port > 0 ? port : 1975, allow_unsupported, &description);
  if (!loaded.ok) return 1;
  so.port = port >= 0 ? port : loaded.config->listener.port;
  so.threads = threads;
  so.max_request_body_bytes = max_body;
  so.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(connect_timeout_s * 1000));
  so.upstream_idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(idle_timeout_s * 1000));
  // A day is "never" in practice; larger values would overflow the clock's nanoseconds.
  so.stream_keepalive = std::chrono::milliseconds(static_cast<int64_t>(std::clamp(keepalive_s, 0.0, 86400.0) * 1000));
  so.shutdown_grace = std::chrono::milliseconds(static_cast<int64_t>(grace_s * 1000));
  auto server = standalone::Server::Create(so, loaded.config);
  if (!server.ok()) {
    log::Error(server.status().message());
    return 1;
  }
  std::vector<std::string> models;
  for (const auto& m : loaded.config->models) models.push_back(m.id);
  std::string what = !models.empty() ? StrCat("models: ", absl::StrJoin(models, ", "))
                     : !loaded.config->routes.empty() ? "models: any matching the configured routes"
                                                      : "no models";
  std::printf("sluice listening on http://%s:%d (%s)\n", so.address.c_str(), (*server)->port(),
              what.c_str());
  if (!description.empty()) std::printf("sluice serving %s\n", description.c_str());
  if (loaded.config->routes.empty()) {
    std::printf(
        "sluice: nothing is configured. Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL) and "
        "restart, or run `sluice run resources.yaml` with Envoy AI Gateway resources.\n");
  }
  std::fflush(stdout);
  log::Info(config::DescribeForLog(*loaded.config));
  // Envoy's dynamic metadata exists only under `sluice extproc`.
  for (const auto& b : loaded.config->backends) {
    const config::CredentialOverride& ov = b.auth.credential_override;
    if (!ov.metadata_key.empty()) {
      log::Warn("backend ", b.name, ": credentialOverride.fromDynamicMetadata never finds a credential under `sluice run` ",
                "(there is no Envoy dynamic metadata): requests ",
                ov.fallback_to_configured ? "use the configured credential" : "are answered 401");
    }
  }
  // Hot reload: a changed, valid file set is swapped in between requests (in-flight requests
  // keep the config they started with); an invalid one is logged and the old one keeps serving.
  std::unique_ptr<FileWatcher> watcher;
  if (!files.empty()) {
    Server* srv = server->get();
    watcher = std::make_unique<FileWatcher>(files, [&files, srv, allow_unsupported, &so] {
      std::string ignored;
      log::Info("configuration changed; reloading");
      auto next = LoadConfig(files, so.port, allow_unsupported, &ignored);
      if (!next.ok) {
        log::Error("reload rejected; the previous configuration keeps serving");
        return;
      }
      if (next.config->listener.port != so.port && so.port != 0) {
        log::Warn("the listener port changed to ", next.config->listener.port,
                  "; a restart is needed to listen there (still serving on ", so.port, ")");
      }
      srv->Reload(next.config);
      log::Info("configuration reloaded");
    }, std::chrono::milliseconds(2000), std::move(watch_baseline));
  }
  (*server)->Run();
  if (watcher) watcher->Stop();
  log::Info("stopped");
  return 0;
}
