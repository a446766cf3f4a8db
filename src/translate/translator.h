// Translators: one per (endpoint, client dialect, backend schema). They turn the client's
// request into the provider's, and the provider's answer (buffered or streamed) back into the
// client's dialect. They own their streaming state, hold bounded memory, never sign and never
// do I/O: the pipeline signs the final request and the drivers move the bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "http/headers.h"
#include "http/sse.h"
#include "json/json.h"


namespace sluice::translate {

enum class Endpoint { kChatCompletions, kCompletions, kEmbeddings, kMessages, kCountTokens };
// The API dialect a client speaks.
enum class Dialect { kOpenAI, kAnthropic };

std::string_view EndpointName(Endpoint e);

struct ClientRequest {
  Endpoint endpoint;
  std::string_view raw_body;       // the client's bytes, valid for the call
  const json::Value& doc;          // the parsed body
  const http::HeaderMap& headers;  // the client's headers
  std::string_view model;          // the model to ask the backend for (after modelNameOverride)
  bool stream = false;
  std::string_view client_model;   // the model the client asked for (before override)
  // json::ScanObject(raw_body), done by the pipeline to route (raw_body is then known to be a
  // valid JSON object): json::Reader::Adopt reads with it without validating again. Null
  // when the caller did not scan.
  const std::vector<json::TopLevelMember>* top_members = nullptr;
  // The driver needs token usage even from a stream whose client did not ask for it (ext_proc
  // emits usage as metadata for rate limits): same-dialect OpenAI chat streams then ask the
  // upstream for stream_options.include_usage, and the usage-only chunk the client did not
  // ask for is read and kept from the client.
  bool want_usage = false;
};

struct UpstreamRequest {
  std::string path;                 // with query
  http::HeaderMutation headers;     // e.g. content-type, anthropic-version
  std::optional<std::string> body;  // nullopt = the client's bytes unchanged
};

// Token usage as reported by the provider, in neutral terms.
struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t cache_creation_input_tokens = 0;
  int64_t reasoning_tokens = 0;
};

// A provider's own error inside a stream: the HTTP status it stands for (as the same error
// answered before the stream began would have) and the provider's name for it.
struct ProviderError {
  int status = 502;
  std::string name;
};

// One per request. Not thread-safe. Call order: TranslateRequest, then either
// TranslateResponseHeaders + TranslateResponseBody* (2xx) or TranslateError (non-2xx).
class Translator {
 public:
  virtual ~Translator() = default;

  // InvalidArgument (a 400 naming the field) when the request cannot be expressed.
  virtual absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) = 0;

  // For a 2xx answer: header edits before the headers go to the client (e.g. content-type
  // of a re-framed stream). content-length is always recomputed by the driver.
  virtual http::HeaderMutation TranslateResponseHeaders(int status, const http::HeaderMap& headers) = 0;

  // Appends the client's bytes for `chunk` to `out`. Chunks may split anywhere; output must
  // not depend on how. A buffered answer arrives as one chunk with end_of_stream. An error
  // status means the upstream data is malformed: the driver then ends the client's response
  // with StreamError() (streams) or a 502 (buffered).
  virtual absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream,
                                             std::string* out) = 0;

  // A complete non-2xx answer, turned into the client's dialect. May change the status
  // (e.g. a provider's throttling to 429).
  virtual void TranslateError(int status, const http::HeaderMap& headers, std::string_view body,
                              int* client_status, std::string* out) = 0;

  // Bytes that end a stream that broke mid-way, in the client's dialect.
  virtual std::string StreamError(std::string_view message) = 0;
  // The same for a provider that reported an error of its own mid-stream (e.g. Bedrock's
  // throttlingException): `e` says which (ProviderStreamErrorOf), so the client's error event
  // can carry its kind (rate limit, overloaded, invalid request). Default: StreamError.
  virtual std::string ProviderStreamError(std::string_view message, const ProviderError& e) {
    return StreamError(message);
  }

  // Embeddings: how many inputs one upstream call takes for `model` (0 = no limit of the
  // translator's own). A driver that can make several upstream calls for one client request
  // (`sluice run`) splits a larger batch into calls of at most this many, each translated by a
  // translator of its own, and merges the answers; others send the batch, which the translator
  // refuses with a 400 naming `input`.
  virtual size_t MaxInputsPerCall(std::string_view model) const { return 0; }

  virtual const Usage& usage() const = 0;
  // The model the provider says answered, when it says.
  virtual std::string_view response_model() const { return {}; }
  // Each piece of streamed output ends at an event boundary, so a driver may send a keep-alive
  // event between two pieces. False for translators that relay the upstream's bytes as they
  // come (their pieces may end mid-event), or that leave keep-alives to the provider.
  virtual bool WholeEvents() const { return true; }
};

// One per (endpoint, from, to); immutable and thread-safe.
class TranslatorFactory {
 public:
  virtual ~TranslatorFactory() = default;
  virtual Endpoint endpoint() const = 0;
  virtual Dialect from() const = 0;
  virtual config::ApiSchema to() const = 0;
  virtual std::unique_ptr<Translator> Create(const config::Backend& backend) const = 0;
  // False when the translator reads only raw_body (same-dialect pass-through): the pipeline
  // then skips building the JSON document and ClientRequest::doc is an empty object.
  virtual bool NeedsDocument() const { return true; }
};

// Filled at startup, then read-only (thread-safe for Find).
class Registry {
 public:
  // AlreadyExists when the triple is taken.
  absl::Status Register(std::unique_ptr<TranslatorFactory>&& f);
  // nullptr when the combination is not supported.
  const TranslatorFactory* Find(Endpoint e, Dialect from, config::ApiSchema to) const;

 private:
  std::map<std::tuple<int, int, int>, std::unique_ptr<TranslatorFactory>> factories_;
};

// Registers every translator sluice ships (builtin.cc). A new direction is one folder plus
// one line there.
void RegisterBuiltinTranslators(Registry& r);
// The process-wide registry with the builtins, built on first use.
const Registry& BuiltinRegistry();

// Helpers shared by translators.
// A request the target cannot express: InvalidArgument "field: what", carrying `field` so the
// client's OpenAI error names it in `param`, as OpenAI's own errors do ("messages[0].content").
absl::Status InvalidField(std::string_view field, std::string_view what);
// The field an InvalidField status names; empty for any other status.
std::string InvalidFieldOf(const absl::Status& status);
// An embedding vector (a JSON array of numbers, checked by the caller) in OpenAI's
// encoding_format "base64": the values as little-endian float32, base64-encoded.
std::string OpenAIEmbeddingBase64(const json::Value& numbers);
// The OpenAI error body {"error":{"message","type","param","code"}}.
std::string OpenAIErrorBody(std::string_view message, std::string_view type,
                            std::string_view code = {}, std::string_view param = {});
// An OpenAI-style SSE event carrying an error, then nothing (the stream ends).
std::string OpenAIStreamError(std::string_view message);

// OpenAI's usage object -> neutral counts (prompt_tokens_details.cached_tokens and the
// envoyproxy/ai-gateway extension cache_creation_input_tokens; total = input + output when
// the total is missing). False, and nothing changed, when `u` is not an object.
bool ReadOpenAIUsage(const json::Value* u, Usage* out);

// For same-dialect OpenAI chat translators: when the driver wants usage (want_usage) and the
// client streams a chat completion without asking for it, `up`'s body (else the client's)
// gets stream_options.include_usage. True when it did: the translator then keeps the
// usage-only chunk from the client (UsageChunkHider).
absl::StatusOr<bool> AskForStreamUsage(const ClientRequest& req, UpstreamRequest* up);

// An OpenAI chat request body (a JSON object) with stream_options.include_usage set to true,
// other stream_options kept; nullopt when it is true already.
absl::StatusOr<std::optional<std::string>> WithStreamUsage(std::string_view body);

// Passes an OpenAI chat stream through byte for byte (comments, id: and retry: lines
// included), but for the usage-only chunk (`"choices":[]` with a `usage` object), whose usage
// it keeps instead (see want_usage). Events are handed on whole, as soon as they end.
class UsageChunkHider {
 public:
  absl::Status Feed(std::string_view chunk, bool end_of_stream, std::string* out);
  const Usage& usage() const { return usage_; }
  const std::string& model() const { return model_; }

  static constexpr size_t kMaxEventBytes = 16u << 20;

 private:
  void OnEvent(std::string_view raw, std::string* out);
  std::string pending_;       // bytes after the last complete event
  size_t scanned_ = 0;        // of pending_
  bool at_line_start_ = true;
  bool prev_cr_ = false;
  Usage usage_;
  std::string model_;
};

// Token counts are the provider's numbers, anything an int64 holds (json's as_int gives
// INT64_MAX for a huge one): sums and differences of them saturate instead of overflowing.
int64_t AddTokens(int64_t a, int64_t b);
int64_t SubTokens(int64_t a, int64_t b);

// `s` with every byte that does not begin a valid UTF-8 character replaced by U+FFFD.
std::string ValidUtf8(std::string_view s);

// The first bytes of `s`, at most `max_bytes`, not cutting a UTF-8 sequence in two: for
// echoing an upstream's non-JSON error body in a bounded message (a cut sequence would make
// the client's JSON invalid UTF-8).
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

// The error `type` each dialect gives an HTTP status.
std::string_view OpenAIErrorType(int status);
std::string_view AnthropicErrorType(int status);

// A translation failure that is the provider's error, not malformed data; ProviderStreamErrorOf
// finds the ProviderError again (nullopt for any other status).
absl::Status ProviderStreamFailure(int status, std::string_view name, std::string_view message);
std::optional<ProviderError> ProviderStreamErrorOf(const absl::Status& st);
// OpenAI's error event for it: type from the status, code the provider's name.
std::string OpenAIProviderStreamError(std::string_view message, const ProviderError& e);
// The client's end-of-stream error for a TranslateResponseBody failure `st`, shown as
// `message`: ProviderStreamError when `st` is the provider's own error, else StreamError.
std::string StreamErrorFor(Translator& t, const absl::Status& st, std::string_view message);

// OpenAI's usage object for `u`: {"prompt_tokens","completion_tokens","total_tokens",
// "prompt_tokens_details":{"cached_tokens"[,"cache_creation_input_tokens" when non-zero,
// Envoy AI Gateway's extension]}}, appended as compact JSON.
// One Anthropic content_block_delta SSE event, written in place: the bytes of
//   event: content_block_delta
//   data: {"type":"content_block_delta","index":N,"delta":{"type":T,<field>:<value>}}
// (compact, as the JSON serializer writes it; this runs once per streamed delta).
void AppendAnthropicDeltaEvent(int64_t index, std::string_view type, std::string_view field, std::string_view value,
                               std::string* out);

void AppendOpenAIUsage(const Usage& u, std::string* out);

// One OpenAI tool_calls entry {"id","type":"function","function":{"name","arguments"}}
// (`arguments`: the JSON text, written as a string).
void AppendOpenAIToolCall(std::string_view id, std::string_view name, std::string_view arguments, std::string* out);

// A whole OpenAI chat.completion with one choice, written directly by the translators that
// answer in the OpenAI dialect. The list members are comma-separated JSON already.
struct OpenAIChatCompletion {
  std::string_view id;
  int64_t created = 0;
  std::string_view model;
  std::string_view text;             // content; null when empty and there are tool calls
  std::string_view reasoning;        // reasoning_content, left out when empty
  std::string_view thinking_blocks;  // thinking_blocks entries, left out when empty
  std::string_view tool_calls;       // AppendOpenAIToolCall entries, left out when empty
  std::string_view finish_reason;
  const Usage* usage = nullptr;
};
void AppendOpenAIChatCompletion(const OpenAIChatCompletion& c, std::string* out);

// OpenAI chat.completion.chunk events, written directly by the translators that stream into
// the OpenAI dialect. A chunk is AppendOpenAIChunkStart (`data: {"id","object","created",
// "model","choices":[{"index":0,"delta":`), the delta object, then AppendOpenAIChunkEnd
// (`,"logprobs":null,"finish_reason":...}]}` and the blank line; `finish_reason` empty =
// null). AppendOpenAIUsageChunk is the include_usage chunk (empty choices, usage).
// (The prefix depends only on id, created and model, which stay the same for a whole stream:
// it is formatted once and kept per thread until a chunk of another stream asks.)
void AppendOpenAIChunkStart(std::string_view id, int64_t created, std::string_view model, std::string* out);
inline void AppendOpenAIChunkEnd(std::string_view finish_reason, std::string* out) {
  out->append(",\"logprobs\":null,\"finish_reason\":");
  if (finish_reason.empty()) {
    out->append("null");
  } else {
    json::AppendQuoted(out, finish_reason);
  }
  out->append("}]}\n\n");
}
void AppendOpenAIUsageChunk(std::string_view id, int64_t created, std::string_view model, const Usage& u,
                            std::string* out);
// Whole chunks for the two deltas every provider stream produces: {field: text} (content,
// reasoning_content) and one tool call's arguments fragment. `with_role` opens the delta
// with "role":"assistant" (the first chunk of a stream).
void AppendOpenAITextChunk(std::string_view id, int64_t created, std::string_view model, bool with_role,
                           std::string_view field, std::string_view text, std::string* out);
void AppendOpenAIArgumentsChunk(std::string_view id, int64_t created, std::string_view model, bool with_role,
                                int64_t tool_index, std::string_view fragment, std::string* out);

}  // namespace sluice::translate
