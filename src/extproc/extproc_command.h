// `sluice extproc`: serves Envoy's External Processing protocol (ext_proc) with the gateway
// pipeline, for the router-level filter layout (see examples/envoy/README.md).
//
// This header is what src/exe needs to wire the subcommand; it exposes no gRPC type.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace sluice::extproc {

struct ExtprocOptions {
  // Where to listen, repeatable: "host:port" ("127.0.0.1:1063", "[::1]:1063", "0.0.0.0:0")
  // or "unix:PATH" (a Unix domain socket; a stale socket file is replaced). Empty means
  // kDefaultListen. Anyone who can reach the socket receives the backends' credentials in
  // header mutations: keep it on loopback or a UDS unless the network is trusted.
  std::vector<std::string> listen;
  // Envoy AI Gateway resource files or directories (-f), loaded exactly as `sluice run` does.
  std::vector<std::string> resource_files;
  // Envoy AI Gateway's filterapi data-plane config (--config): its single YAML file, or its
  // bundle directory (index.yaml + parts/NNN, sha256-verified). The backend is the one named by
  // the request header x-ai-eg-backend (config/filterapi.h). Mutually exclusive with
  // resource_files.
  std::string config_file;
  // --config-version: a filterapi config whose `version` differs is rejected (at start, or
  // on reload while the previous one keeps serving), as Envoy AI Gateway's ext_proc does
  // during rolling updates. Empty: any version (its binary version is not sluice's).
  std::string config_version;
  std::string log_level = "info";  // debug|info|warn|error
  // --layout: "router" (one router-level filter does everything; upstream-filter streams are
  // passed through) or "two-filter" (Envoy AI Gateway's: the router-level filter only sets
  // x-ai-eg-model, the upstream filter translates and signs per attempt). See
  // examples/envoy/README.md.
  std::string layout = "router";
  bool allow_unsupported = false;  // start even when resources use unsupported features

  // Request bodies above this get a 413 in the client's API dialect.
  size_t max_request_body_bytes = 32u << 20;
  // Non-2xx answers are buffered to translate them; a larger one fails the stream.
  size_t max_error_body_bytes = 4u << 20;
  // gRPC's receive limit. A BUFFERED body arrives as one message, so keep it above
  // max_request_body_bytes (gRPC's own default is only 4 MiB).
  size_t max_grpc_message_bytes = 64u << 20;
  // Switch streamed answers to FULL_DUPLEX_STREAMED (not STREAMED) with mode_override; needs
  // Envoy >= 1.34 (server.h).
  bool full_duplex_response_override = false;
  // Time in-flight streams get to finish after SIGTERM/SIGINT before they are cancelled.
  int shutdown_grace_ms = 15000;
};

inline constexpr const char* kDefaultListen = "127.0.0.1:1063";

// Loads the resources, starts the gRPC server (ext_proc service plus grpc.health.v1.Health)
// and serves until SIGTERM/SIGINT. The configuration is reloaded when its files change
// (common/file_watcher.h: inotify on their directories, so atomic renames and Kubernetes'
// symlink swaps are seen, plus a content-hash poll every 2 s) and on SIGHUP; a new valid
// version is swapped in whole for streams that start afterwards, an invalid one is logged and
// the old one keeps serving (a bundle caught mid-update is retried every second). Prints "sluice extproc listening on ADDR" per
// address to stdout once serving. Returns the process exit code: 0 after a clean shutdown,
// 1 on configuration or listen errors, 2 on bad options.
// It installs handlers for those three signals for its duration (restoring the previous ones
// on return); call it once per process, from the main thread.
int RunExtprocCommand(const ExtprocOptions& opts);

}  // namespace sluice::extproc
