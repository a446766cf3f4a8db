// EnvoySim: a stand-in for Envoy's ext_proc HTTP filter, for tests and for trying an ext_proc
// server by hand (sluice-extproc-client). Over a real gRPC channel it sends what the filter
// sends for one HTTP request (headers, body per the processing mode, trailers; then the same
// for the upstream's answer), applies the server's replies the way Envoy does (mutation
// rules, CONTINUE_AND_REPLACE, mode_override, dynamic metadata namespaces), and records every
// reply that breaks the protocol rules of docs reference §4 as a violation.
//
// It models Envoy's router-level filter with the options sluice's examples use; it is not a
// full reimplementation (no timeouts, no observability mode). FULL_DUPLEX_STREAMED (body mode
// 4, Envoy >= 1.34; kFullDuplexStreamed) is played as Envoy does it: the headers and every
// body chunk (and the trailers) are sent without waiting, while the replies are read on a
// second thread; then they are checked: the headers reply first, body replies only as
// streamed_response, end_of_stream exactly once and last (never when trailers end the body),
// the trailers reply after the body, nothing after the end.
// Not thread-safe; one Run() at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"

namespace sluice::extproc::testing {

namespace pb = ::envoy::service::ext_proc::v3;
using ProcessingMode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;

// Ordered header list, names lower-case; pseudo-headers first, as Envoy sends them.
using Headers = std::vector<std::pair<std::string, std::string>>;

std::optional<std::string> Get(const Headers& h, std::string_view name);

// ProcessingMode.BodySendMode FULL_DUPLEX_STREAMED (newer than the vendored API).
inline constexpr ProcessingMode::BodySendMode kFullDuplexStreamed = static_cast<ProcessingMode::BodySendMode>(4);

struct FilterConfig {
  FilterConfig();  // request/response headers SEND, bodies BUFFERED, trailers SKIP
  ProcessingMode processing_mode;
  bool allow_mode_override = true;
  bool allow_all_routing = true;  // mutation_rules {allow_all_routing: true}
  std::vector<std::string> receiving_namespaces{"io.envoy.ai_gateway"};
  bool cancel_at_end = false;  // end the stream like Envoy does by default (a reset)
  bool header_values_in_value = false;  // send `value` instead of `raw_value` (Envoy < 1.27)
  // Send ProcessingRequest.protocol_config (the configured body modes) with the first message,
  // as Envoy >= 1.34 does.
  bool send_protocol_config = true;
  // request_attributes, as Envoy evaluated them: sent once, with the request_headers message,
  // as ProcessingRequest.attributes["envoy.filters.http.ext_proc"]. Empty = none configured.
  google::protobuf::Struct request_attributes;
  // metadata_context, sent with every message when not empty (metadata_options
  // forwarding_namespaces / cluster_metadata_forwarding_namespaces, as Envoy evaluated them).
  ::envoy::config::core::v3::Metadata metadata_context;
};

struct HttpMessage {
  Headers headers;                // request: :method :path :authority :scheme; response: :status
  std::vector<std::string> body;  // chunks as they would reach Envoy; none = no body
  Headers trailers;
  std::string Body() const;
};

struct Result {
  // An ImmediateResponse, or Envoy's own local reply after a stream error (status_on_error).
  bool local_reply = false;
  int local_status = 0;
  Headers local_headers;
  std::string local_body;

  bool forwarded = false;     // the request was sent upstream
  HttpMessage upstream_request;
  bool route_cache_cleared = false;
  bool answered = false;      // the upstream answered and the answer reached the client
  HttpMessage client_response;
  bool response_body_streamed = false;  // the answer's body went to the server as STREAMED
                                        // (or FULL_DUPLEX_STREAMED)
  bool request_body_full_duplex = false;   // ... as FULL_DUPLEX_STREAMED
  bool response_body_full_duplex = false;

  google::protobuf::Struct metadata;  // dynamic metadata Envoy accepted, merged
  std::vector<std::string> sent;      // message kinds sent, in order
  std::vector<std::string> replies;   // reply kinds received, in order
  std::vector<std::string> violations;
  int rejected_mutations = 0;  // header mutations Envoy's rules would ignore
  grpc::Status status;         // how the server ended the stream
};

// The upstream: gets the request as Envoy would send it, returns its answer; nullopt stops
// after the request path (as if the upstream reset).
using Upstream = std::function<std::optional<HttpMessage>(const HttpMessage& request)>;

// Envoy AI Gateway's two-filter layout (RunTwoFilter): the router-level filter's stream, then
// Envoy's routing, then one upstream-filter stream per attempt.
struct Attempt {
  std::string backend;     // the name the upstream filter's attributes carried
  Result upstream_filter;  // its upstream_request went to the provider; client_response came back
};
struct TwoFilterResult {
  Result router;  // what the client got: router.client_response (or router.local_reply)
  std::vector<Attempt> attempts;
};
struct TwoFilterOptions {
  TwoFilterOptions();  // upstream filter: request headers SEND, request body BUFFERED, response
                       // headers SEND, response body BUFFERED; router: requests only
  FilterConfig upstream;
  // The attribute the upstream filter is configured with; its value is the backend's name.
  std::string backend_attribute =
      "xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']";
  std::vector<int> retry_on_status{503};  // retriable-status-codes; resets retry too
};
// Envoy's route table after the router filter: the request headers as the router forwards
// them -> the backends to try, in order (one per attempt: endpoint priorities / retries).
using RouteTable = std::function<std::vector<std::string>(const Headers& headers)>;
// A provider: gets the attempt's request as Envoy sends it.
using BackendUpstream =
    std::function<std::optional<HttpMessage>(const std::string& backend, const HttpMessage& request)>;

class EnvoySim {
 public:
  EnvoySim(std::shared_ptr<grpc::Channel> channel, FilterConfig config);
  ~EnvoySim();
  Result Run(const HttpMessage& request, const Upstream& upstream);
  // The configured FilterConfig plays the router-level filter (for this layout: request
  // headers SEND, body BUFFERED, response SKIP/NONE, no attributes). Every attempt runs its own
  // upstream-filter stream with the backend's attribute; an answer whose :status is in
  // retry_on_status, or a reset, moves to the next backend while there is one. An attempt's
  // local reply (immediate_response) is the answer, as in Envoy.
  TwoFilterResult RunTwoFilter(const HttpMessage& request, const RouteTable& routes,
                               const BackendUpstream& upstream,
                               const TwoFilterOptions& options = TwoFilterOptions());

 private:
  class Stream;
  std::unique_ptr<pb::ExternalProcessor::Stub> stub_;
  FilterConfig config_;
};

// A request as a client would send it through Envoy.
HttpMessage Request(std::string_view method, std::string_view path, std::string_view body,
                    Headers extra = {}, std::string_view authority = "gateway.local");
// An upstream answer, its body split into `chunks` pieces of about equal size (>= 1).
HttpMessage Response(int status, std::string_view content_type, std::string_view body,
                     size_t chunks = 1, Headers extra = {});

// Human-readable forms for the client tool and test failure messages.
std::string Describe(const HttpMessage& m);
std::string Describe(const Result& r);

}  // namespace sluice::extproc::testing
