// The per-request pipeline: transport-agnostic, no I/O. A driver (standalone HTTP server or
// Envoy ext_proc) feeds it the client's request and the upstream's answer and applies the
// mutations it returns, as data.
//
// Lifetime: one Pipeline per client request, owned by the driver's stream; not thread-safe.
// It holds the runtime snapshot it started with for its whole life, so a reload never changes
// a request mid-flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/errors.h"
#include "gateway/runtime.h"
#include "http/headers.h"

namespace sluice::json {
class Value;
}

namespace sluice::gateway {

enum class Endpoint { kUnknown, kChatCompletions, kCompletions, kEmbeddings, kMessages, kCountTokens,
                      kModels, kHealth };

// An answer the gateway gives itself, without going upstream.
struct ImmediateResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  http::HeaderMutation headers;  // extra headers (e.g. allow on 405)
};

// One upstream call of a split request (see UpstreamRequest::parts).
struct UpstreamPart {
  std::string path;              // with query
  http::HeaderMutation headers;  // applied to the client's headers; not signed yet (SignPart)
  std::string body;
};

// What to send upstream for one attempt.
struct UpstreamRequest {
  const config::Backend* backend = nullptr;  // points into the pipeline's runtime snapshot
  std::string method;
  std::string host;                // Host header value (also what was signed)
  std::string path;                // with query
  http::HeaderMutation headers;    // applied to the client's headers (which the driver keeps)
  std::optional<std::string> body; // replacement body; nullopt = the client's body unchanged
  std::chrono::milliseconds timeout{0};  // until response headers; 0 = none
  std::string model;               // model asked of the backend (after override)
  // Non-empty when the client's embeddings batch is larger than one upstream call takes (only
  // with set_split_batches): the driver sends every part instead of path/headers/body (same
  // method, host, timeout), each signed by SignPart just before it goes (a long batch must not
  // send stale signatures), each buffered, and hands the answers to OnSplitResponses.
  std::vector<UpstreamPart> parts;
};

// A split part's complete answer, as the driver received it.
struct PartAnswer {
  int status = 0;
  const http::HeaderMap* headers = nullptr;
  std::string_view body;
};

using Decision = std::variant<ImmediateResponse, UpstreamRequest>;

// Randomness for weighted backend choice, injected for deterministic tests.
using RandomFn = std::function<uint64_t()>;

class Pipeline {
 public:
  Pipeline(std::shared_ptr<const Runtime> runtime, RandomFn random);
  ~Pipeline();

  // The driver reports token usage for every request (ext_proc's metadata), so same-dialect
  // chat streams ask the upstream for their usage chunk even when the client did not (and
  // the client does not see it). See translate::ClientRequest::want_usage. Before step 2.
  void set_want_usage(bool v) { want_usage_ = v; }
  // The driver can make several upstream calls for one request (`sluice run`): an embeddings
  // batch larger than the backend takes per call is split (UpstreamRequest::parts). Before
  // step 2.
  void set_split_batches(bool v) { split_batches_ = v; }
  // Envoy dynamic metadata the request came with (ext_proc's metadata_context), for
  // credentialOverride's metadata source: "namespace\nkey" -> a string value, and
  // "namespace\nkey\nfield" -> a string field of a struct value. Before OnRequestBody.
  using DynamicMetadata = std::map<std::string, std::string, std::less<>>;
  void set_dynamic_metadata(DynamicMetadata md) { metadata_ = std::move(md); }
  // Only the answer will be translated (the request went upstream through another stream):
  // per-request credentials are not looked for.
  void set_translate_only(bool v) { translate_only_ = v; }

  // Step 1. Returns an ImmediateResponse when the request is answered locally (/v1/models,
  // /health, unknown path, wrong method); otherwise nullopt and the driver reads the body.
  // `headers` must stay valid until the pipeline is destroyed.
  std::optional<ImmediateResponse> OnRequestHeaders(std::string_view method,
                                                    std::string_view path,
                                                    const http::HeaderMap& headers);
  // Step 2. The whole client body, which must stay valid until the pipeline is destroyed
  // (fallback attempts re-translate it). Parses, routes, picks a backend, translates, signs.
  Decision OnRequestBody(std::string_view body);
  // When an attempt failed before anything reached the client (connect error), returns the
  // request for the next fallback backend (next priority level), if any.
  std::optional<Decision> OnAttemptFailed();

  // Response side, for the last attempt. 2xx: header edits (hop-by-hop and content-length
  // always removed; the driver recomputes framing).
  http::HeaderMutation OnResponseHeaders(int status, const http::HeaderMap& headers);
  // 2xx body chunks, translated into the client's dialect and appended to `out`. An error
  // means the upstream data was malformed; end the client's stream with StreamError().
  absl::Status OnResponseBody(std::string_view chunk, bool end_of_stream, std::string* out);
  // A complete non-2xx answer, in the client's dialect.
  ImmediateResponse OnResponseError(int status, const http::HeaderMap& headers, std::string_view body);
  // The answers to every part of a split request, in order: one response for the client (the
  // first failed part's error, or the merged embeddings list, indexes renumbered and usage
  // summed).
  ImmediateResponse OnSplitResponses(const std::vector<PartAnswer>& answers);
  // The credentials for one part of `up` (added to a copy of part.headers); a 503 answer when
  // they are not available.
  std::variant<http::HeaderMutation, ImmediateResponse> SignPart(const UpstreamRequest& up,
                                                                const UpstreamPart& part) const;
  // Bytes a driver may send to a streaming client while the upstream is silent, between two
  // OnResponseBody outputs, once the response head is known (OnResponseHeaders): Anthropic's
  // `ping` event for Anthropic clients, an SSE comment for OpenAI clients. Clients abort
  // streams that stay silent too long (Claude Code after 300 s) and Bedrock's event stream,
  // unlike Anthropic's SSE, has no pings of its own during long thinking. Empty when the
  // client asked for no stream, or when the translator's WholeEvents() is false (a
  // pass-through of the provider's own stream, or a JSON answer to a stream request).
  std::string_view StreamKeepAlive() const;
  // Bytes that end a broken stream in the client's dialect.
  std::string StreamError(std::string_view message);
  // The same for a failed OnResponseBody: a provider's own mid-stream error keeps its kind
  // (rate limit, overloaded, ...); anything else is reported as a malformed stream.
  std::string StreamError(const absl::Status& translate_failure);

  // Errors the driver itself detects, shaped for this client.
  ImmediateResponse Error(int status, std::string_view message, std::string_view code = {},
                          std::string_view param = {}) const;

  // Token usage and the model the provider says answered, as the translator reported them
  // so far (complete after the last response chunk). nullptr / empty before a backend is
  // chosen.
  const translate::Usage* usage() const {
    if (split_usage_) return &*split_usage_;
    return translator_ ? &translator_->usage() : nullptr;
  }
  std::string_view response_model() const {
    if (!split_.empty()) return split_[0].translator->response_model();
    return translator_ ? translator_->response_model() : std::string_view();
  }
  // The backend of the current attempt (nullptr before OnRequestBody routed).
  const config::Backend* backend() const { return backend_; }
  // The route whose rule matched (nullptr before OnRequestBody routed).
  const config::Route* route() const { return route_; }

  Endpoint endpoint() const { return endpoint_; }
  Dialect dialect() const { return dialect_; }
  bool stream() const { return stream_; }
  const std::string& model() const { return model_; }

 private:
  Decision BuildAttempt();
  // A translator's or the split's error status as the client's answer (400 naming the field).
  ImmediateResponse StatusResponse(const absl::Status& status) const;
  // Path (with the client's query for pass-through), body mutations, headers and signature
  // for `treq`, into `up`; an error answer when the request cannot be completed.
  // Without `sign`, the credentials are left to SignPart.
  std::optional<ImmediateResponse> FinishRequest(const config::BackendRef& chosen, translate::UpstreamRequest&& treq,
                                                 std::string_view client_body, UpstreamRequest* up,
                                                 bool sign = true) const;
  // The client's embeddings request, `input` cut into batches of at most `max` inputs (one
  // document per batch); empty when the input fits one call.
  absl::StatusOr<std::vector<json::Value>> SplitInputs(size_t max) const;
  // The credential the request carries for `backend` (credentialOverride), as a signer; nullptr
  // when it carries none.
  absl::StatusOr<std::unique_ptr<auth::BackendSigner>> OverrideSigner(const config::Backend& backend) const;
  // The first matching rule, and its route in `*route`.
  const config::Rule* Route(const config::Route** route) const;

  std::shared_ptr<const Runtime> runtime_;
  RandomFn random_;
  Dialect dialect_ = Dialect::kOpenAI;
  Endpoint endpoint_ = Endpoint::kUnknown;
  std::string query_;  // "?..." or ""
  const http::HeaderMap* headers_ = nullptr;
  std::string host_;   // client's Host, lower-case, without port
  std::string model_;
  bool stream_ = false;
  bool want_usage_ = false;
  std::string_view body_;
  std::unique_ptr<json::Value> doc_;
  std::vector<json::TopLevelMember> top_members_;  // the routing scan of body_
  const config::Rule* rule_ = nullptr;
  const config::Route* route_ = nullptr;
  uint32_t tried_priority_ = 0;
  bool tried_any_ = false;
  std::unique_ptr<translate::Translator> translator_;
  const config::Backend* backend_ = nullptr;
  bool split_batches_ = false;
  // A split request: each part's translator and the index of its first input.
  struct SplitPart {
    std::unique_ptr<translate::Translator> translator;
    size_t first_index = 0;
  };
  std::vector<SplitPart> split_;
  size_t split_signer_ = 0;  // runtime_->signers index of the split request's backend
  DynamicMetadata metadata_;
  bool translate_only_ = false;
  // This attempt's per-request credential (credentialOverride), when the request carried one.
  std::unique_ptr<auth::BackendSigner> override_signer_;
  std::optional<translate::Usage> split_usage_;
};

// Builds the /v1/models answer from the config (OpenAI list shape).
std::string ModelsJson(const config::Config& config);

}  // namespace sluice::gateway
