// The standalone driver: an HTTP/1.1 keep-alive server that runs the gateway pipeline and
// proxies to providers with a pooled upstream client (TLS verified by default). One event
// loop per thread (SO_REUSEPORT listeners), no locks on the request path.
//
// The only includer of the HTTP library (Boost.Beast/Asio); this header exposes none of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace sluice::standalone {

struct ServerOptions {
  std::string address = "0.0.0.0";
  int port = 1975;  // 0 = ephemeral (see Server::port())
  int threads = 0;  // 0 = one per core
  size_t max_request_body_bytes = 32u << 20;
  size_t max_response_body_bytes = 256u << 20;  // buffered (non-streamed) answers only
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds upstream_idle_timeout{300000};  // between body reads
  // A streamed answer whose upstream stays silent this long gets a keep-alive event (Anthropic
  // `ping`, or an SSE comment), then again after each such silence; 0 = never. See
  // gateway::Pipeline::StreamKeepAlive.
  std::chrono::milliseconds stream_keepalive{15000};
  std::chrono::milliseconds client_idle_timeout{60000};     // keep-alive idle
  std::chrono::milliseconds shutdown_grace{30000};
  std::string extra_ca_file;  // PEM trusted in addition to each backend's CAs (tests, private CAs)
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds the listeners. InvalidArgument for a bad address, Unavailable when the port is taken.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options,
                                                        std::shared_ptr<const config::Config> cfg);
  // The bound port (useful with port 0).
  virtual int port() const = 0;
  // Serves until SIGTERM/SIGINT or Shutdown(): then stops accepting, lets in-flight requests
  // finish within shutdown_grace, and returns.
  virtual void Run() = 0;
  // Thread-safe. Starts the graceful shutdown.
  virtual void Shutdown() = 0;
  // Thread-safe. New requests use `cfg`; in-flight ones keep theirs.
  virtual void Reload(std::shared_ptr<const config::Config> cfg) = 0;
};

}  // namespace sluice::standalone
