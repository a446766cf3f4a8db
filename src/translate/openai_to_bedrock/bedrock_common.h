// Internal to the Bedrock directions (openai_to_bedrock, openai_to_awsanthropic): what every
// Bedrock Runtime answer shares, whatever the body inside: error answers (x-amzn-errortype)
// and event-stream exception messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "http/eventstream.h"
#include "http/headers.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate::bedrock_internal {

// A non-2xx Bedrock answer (x-amzn-errortype "Name:namespace" + {"message"|"Message"}) as an
// OpenAI error body. The exception name picks the status (ThrottlingException 429,
// ValidationException 400, AccessDeniedException 403, UnrecognizedClientException 401,
// ModelNotReady/ServiceUnavailable 503, ...) and becomes error.code. Upstream headers such as
// retry-after are forwarded by the driver, not here.
void ErrorToOpenAI(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                   std::string* out);

// For a message whose :message-type is "exception" or "error": the Status that ends the
// stream, with a message naming the exception. nullopt for ordinary events.
std::optional<absl::Status> StreamException(const http::EventStreamMessageView& m);

// Bedrock stopReason -> OpenAI finish_reason (provider-apis.md §7.6, sluice column).
std::string_view FinishReason(std::string_view stop_reason);

// The anthropic-beta flags Bedrock accepts (it rejects a whole request naming any other),
// from a comma-separated header: in order, deduplicated.
std::vector<std::string_view> BedrockAnthropicBetas(std::string_view header);

// Unwraps an InvokeModel response stream (an AWS event stream whose "chunk" messages each
// carry {"bytes": base64 of one Anthropic event}) into Anthropic SSE text, incrementally.
// Shared by the OpenAI and Anthropic clients' AWSAnthropic translators.
class InvokeStreamUnwrapper {
 public:
  // event_lines: also write "event: <type>" lines (Anthropic clients see them).
  explicit InvokeStreamUnwrapper(bool event_lines) : event_lines_(event_lines) {}
  // Appends one SSE event per complete chunk to *sse. Returns the first error (an exception
  // frame, a malformed chunk, broken framing, or at end_of_stream a partial message); the SSE
  // of the messages before it is still appended.
  absl::Status Feed(std::string_view bytes, bool end_of_stream, std::string* sse);

 private:
  bool event_lines_;
  absl::Status OnMessage(const http::EventStreamMessageView& m, std::string* sse);

  http::EventStreamDecoder decoder_;
  json::Reader reader_;  // the current chunk's payload, then its event
};

// An InvokeModel response stream relayed through the Anthropic translator that the AWSAnthropic
// wrappers hold: each chunk is unwrapped into Anthropic SSE and fed to `inner`. Once `inner`
// has ended the client's stream (message_stop, or an error event), an exception or broken
// frame that Bedrock sends after it is ignored rather than turned into a second terminal event.
class InvokeStreamRelay {
 public:
  explicit InvokeStreamRelay(bool event_lines) : unwrap_(event_lines) {}
  absl::Status Feed(Translator& inner, std::string_view chunk, bool end_of_stream, std::string* out);

 private:
  InvokeStreamUnwrapper unwrap_;
  std::string sse_;     // the current chunk's SSE, reused
  bool ended_ = false;  // `inner` ended the client's stream; the rest is ignored
};

// Most ConverseStream events of a long answer are contentBlockDelta, which Bedrock writes in
// one shape:
//   {"contentBlockIndex":N,"delta":{"text":"..."},"p":"..."}
// (or {"toolUse":{"input":"..."}} / {"reasoningContent":{"text":"..."}} as the delta; "p" is
// padding against traffic analysis and may be missing). MatchCompactDelta matches such a
// payload byte for byte, its strings validated as the JSON parser would; any other spelling
// answers false and takes the translator's general path. `value` views into the payload or
// into `m`, which must outlive it.
struct CompactDelta {
  enum class Kind { kText, kToolInput, kReasoningText };
  Kind kind = Kind::kText;
  int64_t block = 0;  // contentBlockIndex
  std::string_view value;
};
bool MatchCompactDelta(json::CompactMatcher& m, CompactDelta* d);

}  // namespace sluice::translate::bedrock_internal
