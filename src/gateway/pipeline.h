// The per-request pipeline: transport-agnostic, no I/O. A driver (standalone HTTP server or
// Envoy ext_proc) feeds it the client's request and the upstream's answer and applies the
// mutations it returns, as data.
//
// Lifetime: one Pipeline per client request, owned by the driver's stream; not thread-safe.
// It holds the config snapshot it started with for its whole life, so a reload never changes
// a request mid-flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.h"
#include "gateway/errors.h"
#include "http/headers.h"

namespace sluice::gateway {

enum class Endpoint { kUnknown, kChatCompletions, kCompletions, kEmbeddings, kModels, kHealth };

// An answer the gateway gives itself, without going upstream.
struct ImmediateResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  http::HeaderMutation headers;  // extra headers (e.g. allow on 405)
};

// What to send upstream for one attempt.
struct UpstreamRequest {
  const config::Backend* backend = nullptr;  // points into the pipeline's config snapshot
  std::string method;
  std::string path;               // with query
  http::HeaderMutation headers;   // applied to the client's headers (which the driver keeps)
  std::optional<std::string> body;  // replacement body; nullopt = the client's body unchanged
  std::chrono::milliseconds timeout{0};  // until response headers; 0 = none
  std::string model;  // model sent upstream (after override)
};

using Decision = std::variant<ImmediateResponse, UpstreamRequest>;

// Randomness for weighted backend choice, injected for deterministic tests.
using RandomFn = std::function<uint64_t()>;

class Pipeline {
 public:
  Pipeline(std::shared_ptr<const config::Config> config, RandomFn random);

  // Step 1. Returns an ImmediateResponse when the request is answered locally (/v1/models,
  // /health, unknown path, wrong method); otherwise nullopt and the driver reads the body.
  std::optional<ImmediateResponse> OnRequestHeaders(std::string_view method,
                                                    std::string_view path,
                                                    const http::HeaderMap& headers);
  // Step 2. The whole client body. Parses, routes, picks a backend, builds the upstream
  // request (mutations + credentials), or an error in the client's dialect.
  Decision OnRequestBody(std::string_view body);
  // When an attempt failed before anything reached the client (connect error, timeout,
  // 5xx), returns the request for the next fallback backend (next priority level), if any.
  std::optional<UpstreamRequest> OnAttemptFailed();

  // Response side. Headers: which to drop before they go to the client.
  http::HeaderMutation OnResponseHeaders(int status, const http::HeaderMap& headers);
  // Body chunks are passed through unchanged on the same-dialect path; appends to `out`.
  void OnResponseBody(std::string_view chunk, bool end_of_stream, std::string* out);

  // Errors the driver itself detects, shaped for this client.
  ImmediateResponse Error(int status, std::string_view message, std::string_view code = {},
                          std::string_view param = {}) const;

  Endpoint endpoint() const { return endpoint_; }
  bool stream() const { return stream_; }
  const std::string& model() const { return model_; }
  const config::Rule* rule() const { return rule_; }

 private:
  std::optional<UpstreamRequest> BuildAttempt();
  const config::Rule* Route(const http::HeaderMap& headers) const;

  std::shared_ptr<const config::Config> config_;
  RandomFn random_;
  Dialect dialect_ = Dialect::kOpenAI;
  Endpoint endpoint_ = Endpoint::kUnknown;
  std::string method_;
  std::string path_;   // as received, with query
  std::string query_;  // "?..." or ""
  const http::HeaderMap* headers_ = nullptr;  // valid until OnRequestBody returns
  std::string host_;   // lower-case, without port
  std::string model_;
  bool stream_ = false;
  std::string_view body_;  // valid during OnRequestBody
  std::vector<std::pair<size_t, size_t>> model_span_;  // raw span of "model" value
  const config::Rule* rule_ = nullptr;
  uint32_t tried_priority_ = 0;
  bool tried_any_ = false;
  std::string client_body_copy_;  // kept for fallback attempts that re-splice the body
};

// Builds the /v1/models answer from the config (OpenAI list shape).
std::string ModelsJson(const config::Config& config);

}  // namespace sluice::gateway
