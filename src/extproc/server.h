// The ext_proc gRPC server: envoy.service.ext_proc.v3.ExternalProcessor/Process, one
// bidirectional stream per HTTP request, each driven by a StreamProcessor (processor.h), plus
// the standard grpc.health.v1.Health service. Uses gRPC's callback API: streams do not hold
// threads while Envoy waits for the upstream, which for LLM answers is seconds to minutes.
//
// This header exposes no gRPC type.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/filterapi.h"
#include "gateway/pipeline.h"
#include "gateway/runtime.h"

namespace sluice::extproc {

struct ServerOptions {
  // "host:port" or "unix:PATH"; at least one. Port 0 picks a free port (see addresses()).
  std::vector<std::string> listen;
  size_t max_grpc_message_bytes = 64u << 20;
  size_t max_request_body_bytes = 32u << 20;
  size_t max_error_body_bytes = 4u << 20;
  // Streamed answers under a buffered response body mode: switch them to FULL_DUPLEX_STREAMED
  // instead of STREAMED (processor.h, ProcessorLimits::full_duplex_response_override).
  bool full_duplex_response_override = false;
  // Weighted backend choice; null = a per-thread PRNG seeded from std::random_device.
  gateway::RandomFn random;
  // LLM request costs of the initial runtime (filterapi configs); null = standard token keys.
  std::shared_ptr<const config::LlmRequestCosts> costs;
};

// Health service names reported SERVING while the server runs (besides ""): the ext_proc
// service name and the GIE endpoint-picker convention's "liveness" and "readiness".
inline constexpr const char* kHealthServices[] = {"envoy.service.ext_proc.v3.ExternalProcessor",
                                                  "liveness", "readiness"};

class Server {
 public:
  virtual ~Server() = default;

  // Binds every address and starts serving. InvalidArgument for a malformed address,
  // Unavailable when an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, std::shared_ptr<const gateway::Runtime> runtime);

  // The listen addresses as bound: a port 0 is replaced by the chosen port.
  virtual const std::vector<std::string>& addresses() const = 0;

  // Thread-safe. Streams that start afterwards use `runtime` (and `costs`, swapped together
  // with it as one snapshot); open ones keep theirs.
  virtual void Reload(std::shared_ptr<const gateway::Runtime> runtime,
                      std::shared_ptr<const config::LlmRequestCosts> costs = nullptr) = 0;

  // Thread-safe; call once. Reports NOT_SERVING on the health service, stops accepting
  // streams, lets open ones finish for up to `grace`, then cancels the rest and returns.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;

  // Streams currently open (for tests and logs).
  virtual int active_streams() const = 0;
};

}  // namespace sluice::extproc
