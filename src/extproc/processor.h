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
// Either body mode may instead be FULL_DUPLEX_STREAMED (Envoy >= 1.34; that direction's
// trailer mode must then be SEND, and allow_mode_override has no effect): sluice learns it from
// the protocol_config Envoy sends with the first message (extproc/newer_api.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/filterapi.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "gateway/pipeline.h"
#include "gateway/runtime.h"
#include "extproc/server.h"
#include "extproc/usage_observer.h"
#include "http/headers.h"

namespace sluice::extproc {

struct SavedRequest;  // processor.cc

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

// Router-level filter, filterapi config (`--config`, where Envoy's route table picks the
// backend): the backend name Envoy's chosen route carries, from
//   - request attributes kClusterBackendAttribute or kRouteBackendAttribute (or the whole
//     `xds.cluster_metadata` / `xds.route_metadata` objects), then
//   - metadata_context.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']
//     (forwarded stream metadata, or cluster metadata via
//     cluster_metadata_forwarding_namespaces).
// nullopt when there is none, and for a stream whose attributes name the upstream host
// (`xds.upstream_host_metadata...`, which only an upstream filter can evaluate): those stay
// upstream-filter streams. The router layout routes such a request to that backend, falling
// back to the request header config::kBackendHeader when nothing is found.
inline constexpr const char* kRouteBackendAttribute =
    "xds.route_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
std::optional<std::string> RouterBackendFromRequest(const pb::ProcessingRequest& in);

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
  // How a streamed (SSE / event-stream) answer is switched to streaming when Envoy's filter is
  // configured with a buffered response body: mode_override to STREAMED (false, the default;
  // one reply per chunk), or to FULL_DUPLEX_STREAMED with response_trailer_mode SEND (true;
  // replies only when there are translated bytes). Envoy >= 1.34 only; Envoy ignores any
  // override when either configured body mode is FULL_DUPLEX_STREAMED.
  bool full_duplex_response_override = false;
};

// The replies to one ProcessingRequest, in order: none, one, or (FULL_DUPLEX_STREAMED) more.
// Reused across messages: Clear() keeps the protos and their memory for the next one.
class Replies {
 public:
  pb::ProcessingResponse* Add();
  void PopBack() { --n_; }
  void Clear() { n_ = 0; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  pb::ProcessingResponse& operator[](size_t i) { return *items_[i]; }
  pb::ProcessingResponse& back() { return *items_[n_ - 1]; }

 private:
  std::vector<std::unique_ptr<pb::ProcessingResponse>> items_;
  size_t n_ = 0;
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

  // Handles one message from Envoy: `out` is cleared, then filled with the replies due, in
  // order. In the BUFFERED / STREAMED modes that is exactly one reply (of the matching kind, or
  // an immediate_response), or none (observability mode; request body chunks still in flight
  // when we answered locally). With FULL_DUPLEX_STREAMED (Envoy's protocol_config says so, or
  // we switched the response to it), replies follow the data instead of the messages:
  //   request:  headers and body chunks get no reply until the body ends (end_of_stream, or
  //             request trailers); then one request_headers reply (routing, translation's
  //             header mutations, clear_route_cache), the translated body as request_body
  //             replies carrying streamed_response (<= 62,000 bytes each; end_of_stream on the
  //             last unless trailers ended the body), then the request_trailers reply if any;
  //   response: the headers reply at once for a 2xx (an error's waits for its whole body, which
  //             is translated whole), then a response_body streamed_response only when there are
  //             translated bytes, and always one with end_of_stream at the end of the body.
  // Errors as for the single-reply form below. The rvalue form may take the bytes of `in`'s
  // body instead of copying them.
  absl::Status Process(pb::ProcessingRequest&& in, Replies* out);
  absl::Status Process(const pb::ProcessingRequest& in, Replies* out) {
    pb::ProcessingRequest copy = in;
    return Process(std::move(copy), out);
  }

  // The single-reply form, for the BUFFERED / STREAMED modes (tests; `out` is the reply as
  // Envoy parses it, dynamic metadata included). Returns true after
  // filling `out` with the one reply the message needs (of the matching kind, or an immediate_response); false when no reply is
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
    kEarlyResponse,      // began with response messages: an earlier filter (jwt_authn,
                         // ext_authz, CORS, ...) answered locally; every message passes
  };

  // Where a request decision goes: the request_headers reply (no body follows), the BUFFERED
  // body's reply, or FULL_DUPLEX_STREAMED's request_headers reply (the body follows in
  // streamed_response replies, from full_duplex_body_ or request_body_).
  enum class Where { kHeadersReply, kBodyReply, kFullDuplex };

  absl::Status OnRequestHeaders(const pb::ProcessingRequest& in, Replies* out);
  absl::Status OnRequestBody(pb::HttpBody* body, Replies* out);
  // A stream that began with response messages (State::kEarlyResponse): each one answered
  // unchanged.
  absl::Status PassThrough(pb::ProcessingRequest&& in, Replies* replies);
  absl::Status OnRequestTrailers(Replies* out);
  absl::Status OnResponseHeaders(const pb::HttpHeaders& headers, Replies* out);
  absl::Status OnResponseBody(const pb::HttpBody& body, Replies* out);
  absl::Status OnResponseTrailers(Replies* out);
  // FULL_DUPLEX_STREAMED: the request body is complete (`trailers`: ended by trailers).
  void FinishFullDuplexRequest(bool trailers, Replies* out);
  absl::Status OnFullDuplexResponseBody(std::string_view chunk, bool end_of_stream, Replies* out);
  // FULL_DUPLEX_STREAMED, non-2xx: the deferred headers reply and the translated error.
  void FinishFullDuplexError(bool end_of_stream, Replies* out);
  // Appends `body` as streamed_response replies (none for an empty, unfinished body). Returns
  // the last reply added, or nullptr.
  pb::ProcessingResponse* AddStreamed(bool request, std::string_view body, bool end_of_stream, Replies* out);
  void Decide(gateway::Decision&& decision, Where where, pb::ProcessingResponse* out);
  // kTwoFilter, router-level stream: the model only (x-ai-eg-model, clear_route_cache).
  void RouteByModel(std::string_view body, Where where, pb::ProcessingResponse* out);
  // kTwoFilter, upstream filter stream: request headers (the attempt's backend from attributes).
  absl::Status OnUpstreamRequestHeaders(const pb::ProcessingRequest& in, std::string backend,
                                        pb::ProcessingResponse* out);
  // Router layout: routes to `backend` (RouterBackendFromRequest). Internal when the config
  // routes on config::kBackendHeader and has no such backend.
  absl::Status UseEnvoyBackend(const std::string& backend);
  // Reads :method/:path/:authority and the other headers into request_headers_.
  absl::Status ReadRequestHeaders(const pb::HttpHeaders& h, std::string* method, std::string* path);
  void Immediate(const gateway::ImmediateResponse& r, pb::ProcessingResponse* out);
  // kTwoFilter router-level stream under Envoy AI Gateway's modes (the answer comes here, not to
  // the upstream filter): routes the kept request to the backend the last attempt took, so the
  // answer is translated by the same translator. Leaves routed_ false when no attempt ran.
  void TranslateForLastAttempt();
  // kTwoFilter: builds pinned_ (every backend reachable by name) on first use.
  absl::Status EnsurePinnedRuntime();
  // A new pipeline_ on pinned_, routed to `backend` (a local-only request header).
  void PinPipeline(const std::string& backend);
  // At the end of a 2xx answer: backend, models and token usage as dynamic metadata.
  void EmitUsage(pb::ProcessingResponse* out);

  std::shared_ptr<const gateway::Runtime> runtime_;
  gateway::RandomFn random_;
  std::shared_ptr<const config::LlmRequestCosts> costs_;
  Layout layout_ = Layout::kRouter;
  std::shared_ptr<const gateway::Runtime> pinned_;
  bool upstream_filter_ = false;  // kTwoFilter: this stream is an upstream filter's (one attempt)
  std::string request_path_;      // the client's :path
  std::string request_method_;    // the client's :method
  bool request_body_none_ = false;  // protocol_config: request_body_mode NONE (no body comes)
  // kTwoFilter router-level stream: the request kept for the upstream filter's streams.
  std::shared_ptr<SavedRequest> saved_;
  std::string request_model_;  // the model asked of the backend (after the override)
  bool usage_emitted_ = false;
  std::unique_ptr<OpenAIUsageObserver> usage_observer_;  // 2xx answers to OpenAI-dialect clients
  ProcessorLimits limits_;
  State state_ = State::kRequestHeaders;
  bool first_message_ = true;
  // From Envoy's protocol_config (Envoy >= 1.34; absent = not FULL_DUPLEX_STREAMED).
  bool request_full_duplex_ = false;        // request_body_mode FULL_DUPLEX_STREAMED
  bool response_full_duplex_config_ = false;  // response_body_mode FULL_DUPLEX_STREAMED
  bool response_full_duplex_ = false;       // this answer's body is FULL_DUPLEX_STREAMED
  std::optional<std::string> full_duplex_body_;  // the translated request body; nullopt = unchanged
  bool response_headers_deferred_ = false;  // FULL_DUPLEX_STREAMED error: headers answered at its end
  http::HeaderMutation deferred_response_mutation_;
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
  // token_latency_ttft / _itl: from request_headers to the first streamed bytes for the client,
  // and on to the end.
  std::chrono::steady_clock::time_point request_start_;
  std::optional<std::chrono::steady_clock::time_point> first_output_;
  void NoteOutput(std::string_view translated) {
    if (response_streamed_ && !first_output_ && !translated.empty()) first_output_ = std::chrono::steady_clock::now();
  }
  std::string error_body_;           // a non-2xx answer, until its end
};

}  // namespace sluice::extproc
