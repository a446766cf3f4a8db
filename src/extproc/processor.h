// The ext_proc protocol for one HTTP request (one gRPC stream), router-level filter layout:
// turns Envoy's ProcessingRequests into gateway::Pipeline calls and the pipeline's decisions
// into ProcessingResponses. Transport-free: the gRPC server (server.cc) feeds it, and tests
// call it directly.
//
// Private to src/extproc (it exposes generated protobuf types).
//
// What Envoy must be configured with (examples/envoy/router-level.yaml):
//   processing_mode {request_header_mode: SEND, request_body_mode: BUFFERED,
//                    response_header_mode: SEND, response_body_mode: BUFFERED}
//   allow_mode_override: true          (streamed answers switch the response body to STREAMED)
//   mutation_rules {allow_all_routing: true}   (to set :authority to the provider's host)
//   metadata_options.receiving_namespaces.untyped: [io.envoy.ai_gateway]
// and routes that match the header kSelectedBackendHeader to pick each backend's cluster.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "config/filterapi.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "gateway/pipeline.h"
#include "gateway/runtime.h"
#include "extproc/server.h"
#include "extproc/usage_observer.h"
#include "http/headers.h"

namespace sluice::extproc {

namespace pb = ::envoy::service::ext_proc::v3;

// Request header set on the upstream request to the chosen backend's name (the
// AIServiceBackend's "namespace/name"), so Envoy's route table can send the request to that
// backend's cluster after the route cache is cleared.
inline constexpr const char* kSelectedBackendHeader = "x-ai-eg-selected-backend";
// Dynamic metadata namespace, the same as Envoy AI Gateway's.
inline constexpr const char* kMetadataNamespace = "io.envoy.ai_gateway";

// Which filter layout the server is configured for (`sluice extproc --layout`).
//   kRouter     one router-level filter does everything (examples/envoy/router-level.yaml).
//               A stream whose first message carries request attributes (an upstream
//               filter's) is passed through unchanged.
//   kTwoFilter  Envoy AI Gateway's layout (examples/envoy/two-filter.yaml). The router-level
//               stream (no attributes) only reads the model from the buffered body: it sets
//               x-ai-eg-model and x-ai-eg-original-path and clears the route cache, so Envoy's
//               route table picks the cluster. The upstream filter's stream (attributes, one per
//               attempt, retries included) names the backend Envoy chose; it translates the
//               request body (the upstream filter's request_body_mode must be BUFFERED: Envoy
//               replays the router's buffered body to every attempt), signs, and translates the
//               answer for that backend. So a retry fails over across providers.
enum class Layout { kRouter, kTwoFilter };
// "router" | "two-filter".
bool ParseLayout(std::string_view text, Layout* out);
std::string_view LayoutName(Layout l);

// The request attributes the upstream filter must be configured with (Envoy AI Gateway's;
// Envoy sends ProcessingRequest.attributes["envoy.filters.http.ext_proc"] keyed by the
// expression text). The endpoint's metadata wins over the cluster's.
inline constexpr const char* kAttributesKey = "envoy.filters.http.ext_proc";
inline constexpr const char* kHostBackendAttribute =
    "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
inline constexpr const char* kClusterBackendAttribute =
    "xds.cluster_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
// The backend name an upstream filter's first message carries, if any.
std::optional<std::string> BackendFromAttributes(const pb::ProcessingRequest& in);

// The runtime the upstream filter's pipelines use: the same backends (and credentials), with
// routes rewritten so that the backend is the one Envoy chose. Every backendRef of every rule
// becomes a rule of its own that also matches the local-only header kPinnedBackendHeader (set
// from the attributes, never sent to Envoy) on the backend's name, keeping the ref's
// modelNameOverride and mutations; route hostnames and matches on config::kBackendHeader
// are dropped (Envoy routed already). Last, one catch-all rule per backend.
inline constexpr const char* kPinnedBackendHeader = "x-sluice-pinned-backend";
absl::StatusOr<std::shared_ptr<const gateway::Runtime>> BuildPinnedRuntime(
    std::shared_ptr<const config::Config> config);

// Server::Start with a filter layout. (Here rather than in server.h for now: server.h was not
// part of this change; ServerOptions is the natural home of the layout.) Under kTwoFilter the
// server builds the pinned runtime with every (re)load.
absl::StatusOr<std::unique_ptr<Server>> StartServer(const ServerOptions& options,
                                                    std::shared_ptr<const gateway::Runtime> runtime,
                                                    Layout layout);

struct ProcessorLimits {
  size_t max_request_body_bytes = 32u << 20;
  size_t max_error_body_bytes = 4u << 20;
};

class StreamProcessor {
 public:
  // `costs`: Envoy AI Gateway's LLM request costs for the snapshot (filterapi configs); null
  // or empty = emit the standard llm_input_token / llm_output_token / llm_total_token keys.
  // `layout`: see Layout. `pinned`: BuildPinnedRuntime(runtime's config), used by upstream
  // filter streams under kTwoFilter; null = built by the stream itself when needed (tests).
  StreamProcessor(std::shared_ptr<const gateway::Runtime> runtime, gateway::RandomFn random,
                  const ProcessorLimits& limits,
                  std::shared_ptr<const config::LlmRequestCosts> costs = nullptr,
                  Layout layout = Layout::kRouter,
                  std::shared_ptr<const gateway::Runtime> pinned = nullptr);
  ~StreamProcessor();
  StreamProcessor(const StreamProcessor&) = delete;
  StreamProcessor& operator=(const StreamProcessor&) = delete;

  // Handles one message from Envoy. Returns true after filling `out` with the one reply the
  // message needs (of the matching kind, or an immediate_response); false when no reply is
  // due (observability mode; request body chunks still in flight when we answered locally). Errors end the stream with that status, which Envoy turns into
  // a local reply (status_on_error, default 500):
  //   InvalidArgument    a message with no request kind, or headers without :method/:path
  //                      (request) or a valid :status (response);
  //   FailedPrecondition a message out of order (a body before its headers, headers twice, a
  //                      second request body message: request_body_mode must be BUFFERED);
  //   ResourceExhausted  a non-2xx answer larger than max_error_body_bytes.
  // A request body over max_request_body_bytes is answered with an immediate 413 instead.
  absl::StatusOr<bool> Process(const pb::ProcessingRequest& in, pb::ProcessingResponse* out);

  // True when nothing more will be changed on this stream: the server may close it with OK
  // after the last reply, which tells Envoy to continue unmodified (e.g. the streams of an
  // upstream-level filter, which this router-level driver passes through).
  bool finished() const { return state_ == State::kPassThroughClosed; }

 private:
  enum class State {
    kRequestHeaders,     // nothing received yet
    kRequestBody,        // headers answered CONTINUE; the buffered body is due
    kForwarded,          // the request went upstream (or on without a body)
    kResponseBody,       // response headers answered; body chunks may follow
    kLocalReply,         // an immediate_response was sent; nothing more is expected
    kPassThroughClosed,  // not ours to process (upstream filter); close with OK
  };

  absl::Status OnRequestHeaders(const pb::ProcessingRequest& in, pb::ProcessingResponse* out);
  absl::Status OnRequestBody(const pb::HttpBody& body, pb::ProcessingResponse* out);
  absl::Status OnResponseHeaders(const pb::HttpHeaders& headers, pb::ProcessingResponse* out);
  absl::Status OnResponseBody(const pb::HttpBody& body, pb::ProcessingResponse* out);
  void Decide(gateway::Decision&& decision, bool in_headers_reply, pb::ProcessingResponse* out);
  // kTwoFilter, router-level stream: the model only (x-ai-eg-model, clear_route_cache).
  void RouteByModel(std::string_view body, bool in_headers_reply, pb::ProcessingResponse* out);
  // kTwoFilter, upstream filter stream: request headers (the attempt's backend from attributes).
  absl::Status OnUpstreamRequestHeaders(const pb::ProcessingRequest& in, std::string backend,
                                        pb::ProcessingResponse* out);
  // Reads :method/:path/:authority and the other headers into request_headers_.
  absl::Status ReadRequestHeaders(const pb::HttpHeaders& h, std::string* method, std::string* path);
  void Immediate(const gateway::ImmediateResponse& r, pb::ProcessingResponse* out);
  // At the end of a 2xx answer: backend, models and token usage as dynamic metadata.
  void EmitUsage(pb::ProcessingResponse* out);

  std::shared_ptr<const gateway::Runtime> runtime_;
  gateway::RandomFn random_;
  std::shared_ptr<const config::LlmRequestCosts> costs_;
  Layout layout_ = Layout::kRouter;
  std::shared_ptr<const gateway::Runtime> pinned_;
  bool upstream_filter_ = false;  // kTwoFilter: this stream is an upstream filter's (one attempt)
  std::string request_path_;      // the client's :path
  std::string request_model_;  // the model asked of the backend (after the override)
  bool usage_emitted_ = false;
  std::unique_ptr<OpenAIUsageObserver> usage_observer_;  // 2xx answers to OpenAI-dialect clients
  ProcessorLimits limits_;
  State state_ = State::kRequestHeaders;
  // The pipeline keeps pointers to the client's headers and body: they live here, beside it.
  http::HeaderMap request_headers_;
  std::string request_body_;
  std::unique_ptr<gateway::Pipeline> pipeline_;
  bool routed_ = false;  // the pipeline chose a backend and translated the request

  int response_status_ = 0;
  http::HeaderMap response_headers_;
  bool response_streamed_ = false;   // we asked for STREAMED response bodies
  bool response_first_chunk_ = true;
  bool response_ended_ = false;      // the translator has seen end_of_stream
  bool response_broken_ = false;     // a streamed answer failed; later chunks are dropped
  std::string error_body_;           // a non-2xx answer, until its end
};

}  // namespace sluice::extproc
