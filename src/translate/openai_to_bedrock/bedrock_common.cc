#include "translate/openai_to_bedrock/bedrock_common.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate::bedrock_internal {
namespace {

struct Mapping {
  std::string_view name;
  int status;
};
// provider-apis.md §3.5. Statuses differ from Bedrock's own where an OpenAI client should
// react differently: quota and model-not-ready are "try later", a rejected key is 401.
constexpr Mapping kErrors[] = {
    {"ValidationException", 400},
    {"AccessDeniedException", 403},
    {"UnrecognizedClientException", 401},
    {"InvalidClientTokenId", 401},
    {"ExpiredTokenException", 401},
    {"ResourceNotFoundException", 404},
    {"ThrottlingException", 429},
    {"ServiceQuotaExceededException", 429},
    {"ModelNotReadyException", 503},
    {"ServiceUnavailableException", 503},
    {"InternalServerException", 500},
};

// The message of a Bedrock error payload, or "".
std::string PayloadMessage(std::string_view body) {
  auto doc = json::Parse(body);
  if (!doc.ok() || !doc->is_object()) return "";
  for (std::string_view key : {"message", "Message"}) {
    if (const json::Value* m = doc->Find(key); m != nullptr && m->is_string()) return m->as_string();
  }
  return "";
}

}  // namespace

void ErrorToOpenAI(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                   std::string* out) {
  std::string_view name = headers.Get("x-amzn-errortype").value_or("");
  name = name.substr(0, name.find(':'));
  *client_status = status;
  for (const Mapping& m : kErrors) {
    if (m.name == name) *client_status = m.status;
  }
  std::string message = PayloadMessage(body);
  if (message.empty()) {
    std::string_view raw = StripWhitespace(body);
    constexpr size_t kMaxRaw = 1024;
    message = raw.empty() ? StrCat("the AWSBedrock backend answered HTTP ", status)
                          : ValidUtf8(Utf8Prefix(raw, kMaxRaw));
  }
  out->append(OpenAIErrorBody(message, translate::OpenAIErrorType(*client_status), name));
}

std::optional<absl::Status> StreamException(const http::EventStreamMessageView& m) {
  std::string_view type = m.StringHeader(":message-type").value_or("event");
  if (type == "event") return std::nullopt;
  if (type == "exception") {
    // A documented exception event (throttlingException, validationException,
    // serviceUnavailableException, modelStreamErrorException, internalServerException): the
    // provider's own error, with the status the same exception has before a stream begins
    // (the event names are the HTTP ones with a lower-case first letter).
    std::string_view name = m.StringHeader(":exception-type").value_or("exception");
    std::string message = PayloadMessage(m.payload);
    int status = 502;
    for (const Mapping& e : kErrors) {
      if (!name.empty() && e.name.size() == name.size() && e.name.substr(1) == name.substr(1) &&
          (e.name[0] | 0x20) == (name[0] | 0x20)) {
        status = e.status;
      }
    }
    return ProviderStreamFailure(status, name, StrCat("bedrock ", name, message.empty() ? "" : ": ", message));
  }
  // :message-type "error": :error-code and :error-message headers, no payload.
  std::string_view code = m.StringHeader(":error-code").value_or("error");
  return ProviderStreamFailure(
      502, code, StrCat("bedrock ", code, ": ", m.StringHeader(":error-message").value_or("stream error")));
}

std::string_view FinishReason(std::string_view r) {
  if (r == "max_tokens" || r == "model_context_window_exceeded") return "length";
  if (r == "tool_use") return "tool_calls";
  if (r == "content_filtered" || r == "guardrail_intervened") return "content_filter";
  return "stop";  // end_turn, stop_sequence, malformed_*, and values added later
}

namespace {
constexpr std::string_view kBedrockBetas[] = {
    "interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14",
    "token-efficient-tools-2025-02-19", "output-128k-2025-02-19", "computer-use-2025-01-24",
};

absl::Status MalformedInvoke(std::string_view what) {
  return absl::DataLossError(StrCat("malformed AWSAnthropic answer: ", what));
}
}  // namespace

std::vector<std::string_view> BedrockAnthropicBetas(std::string_view header) {
  std::vector<std::string_view> flags;
  size_t start = 0;
  while (start <= header.size()) {
    size_t comma = header.find(',', start);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view flag = StripWhitespace(header.substr(start, comma - start));
    for (std::string_view ok : kBedrockBetas) {
      if (flag != ok) continue;
      bool seen = false;
      for (std::string_view f : flags) seen = seen || f == flag;
      if (!seen) flags.push_back(flag);
    }
    start = comma + 1;
  }
  return flags;
}

absl::Status InvokeStreamUnwrapper::Feed(std::string_view bytes, bool end_of_stream, std::string* sse) {
  RETURN_IF_ERROR(decoder_.Feed(bytes, [&](const http::EventStreamMessageView& m) { return OnMessage(m, sse); }));
  if (end_of_stream && decoder_.HasPartial()) {
    return absl::DataLossError("AWSAnthropic stream ended in the middle of a message");
  }
  return absl::OkStatus();
}

absl::Status InvokeStreamUnwrapper::OnMessage(const http::EventStreamMessageView& m, std::string* sse) {
  if (auto exception = StreamException(m)) return *exception;
  if (m.StringHeader(":event-type").value_or("") != "chunk") return absl::OkStatus();
  auto doc = reader_.Parse(m.payload);
  if (!doc.ok() || !doc->is_object()) return MalformedInvoke("chunk payload is not a JSON object");
  json::View b = doc->Find("bytes");
  if (!b.is_string()) return MalformedInvoke("chunk without bytes");
  auto event = crypto::Base64Decode(b.as_string());
  if (!event.ok()) return MalformedInvoke("chunk bytes are not base64");
  if (event_lines_) {
    auto ev = reader_.Parse(*event);
    if (!ev.ok() || !ev->is_object()) return MalformedInvoke("chunk bytes are not a JSON object");
    std::string_view type = ev->GetString("type");
    if (type.empty()) return MalformedInvoke("chunk event without a type");
    for (char c : type) {
      if (c == '\n' || c == '\r') return MalformedInvoke("chunk event type holds a line break");
    }
    sse->append("event: ").append(type).append("\n");
  }
  // JSON has no raw line breaks inside strings, so any outside them are whitespace.
  sse->append("data: ");
  for (char c : *event) sse->push_back(c == '\n' || c == '\r' ? ' ' : c);
  sse->append("\n\n");
  return absl::OkStatus();
}

bool MatchCompactDelta(json::CompactMatcher& m, CompactDelta* d) {
  if (!m.Literal(R"({"contentBlockIndex":)") || !m.Index(&d->block) || !m.Literal(R"(,"delta":{")")) return false;
  if (m.Literal(R"(text":)")) d->kind = CompactDelta::Kind::kText;
  else if (m.Literal(R"(toolUse":{"input":)")) d->kind = CompactDelta::Kind::kToolInput;
  else if (m.Literal(R"(reasoningContent":{"text":)")) d->kind = CompactDelta::Kind::kReasoningText;
  else return false;
  if (!m.String(&d->value) || !m.Literal(d->kind == CompactDelta::Kind::kText ? "}" : "}}")) return false;
  if (m.Literal(R"(,"p":)") && !m.SkipString()) return false;
  return m.Literal("}") && m.AtEnd();
}

absl::Status InvokeStreamRelay::Feed(Translator& inner, std::string_view chunk, bool end_of_stream, std::string* out) {
  if (ended_) return absl::OkStatus();
  sse_.clear();
  absl::Status unwrapped = unwrap_.Feed(chunk, end_of_stream, &sse_);
  if (!sse_.empty()) {
    if (absl::Status st = inner.TranslateResponseBody(sse_, false, out); !st.ok()) return st;
  }
  if (!unwrapped.ok()) {
    // `inner` accepts the end only when the client's stream is already whole.
    std::string none;
    if (inner.TranslateResponseBody("", true, &none).ok()) {
      ended_ = true;
      return absl::OkStatus();
    }
    return unwrapped;
  }
  if (!end_of_stream) return absl::OkStatus();
  return inner.TranslateResponseBody("", true, out);
}

}  // namespace sluice::translate::bedrock_internal
