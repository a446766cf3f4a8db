#include "translate/openai_to_bedrock/openai_to_bedrock.h"

#include <chrono>
#include <cstring>
#include <map>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/bedrock_common.h"
#include "translate/openai_to_bedrock/request.h"

// Response facts: shared/reference/provider-apis.md §1.2-1.3 (OpenAI), §3.1-3.3 (Converse,
// ConverseStream, event-stream), §7.6-7.8 (finish reasons, usage, stream framing).
namespace sluice::translate {
namespace {

using json::Value;
namespace internal = openai_to_bedrock_internal;

// A buffered (non-streamed) answer larger than this is refused rather than held.
constexpr size_t kMaxBufferedBytes = 32u << 20;

Value Str(std::string_view s) { return Value::String(std::string(s)); }

int64_t SystemUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t IntMember(const Value* obj, std::string_view key) {
  if (obj == nullptr) return 0;
  const Value* v = obj->Find(key);
  return v != nullptr && v->is_number() ? v->as_int() : 0;
}

// Bedrock usage -> OpenAI usage. inputTokens excludes cached input, so prompt_tokens adds the
// cache reads and writes back (as the AWS prompt-caching docs define total input).
Value OpenAIUsage(const Value* u, Usage* usage) {
  int64_t input = IntMember(u, "inputTokens");
  int64_t output = IntMember(u, "outputTokens");
  int64_t cache_read = IntMember(u, "cacheReadInputTokens");
  int64_t cache_write = IntMember(u, "cacheWriteInputTokens");
  int64_t total = IntMember(u, "totalTokens");
  usage->input_tokens = input + cache_read + cache_write;
  usage->output_tokens = output;
  usage->total_tokens = total > 0 ? total : usage->input_tokens + output;
  usage->cached_input_tokens = cache_read;
  usage->cache_creation_input_tokens = cache_write;
  Value out = Value::Object();
  out.Set("prompt_tokens", Value::Int(usage->input_tokens));
  out.Set("completion_tokens", Value::Int(usage->output_tokens));
  out.Set("total_tokens", Value::Int(usage->total_tokens));
  Value details = Value::Object();
  details.Set("cached_tokens", Value::Int(cache_read));
  if (cache_write > 0) details.Set("cache_creation_input_tokens", Value::Int(cache_write));  // ai-gateway's extension
  out.Set("prompt_tokens_details", std::move(details));
  return out;
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed AWSBedrock answer: ", what));
}

class BedrockChatTranslator final : public Translator {
 public:
  explicit BedrockChatTranslator(std::function<int64_t()> now) : now_(std::move(now)) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    ASSIGN_OR_RETURN(internal::MappedChat mapped, internal::MapChatRequest(req.doc, req.model));
    model_ = std::string(req.model);
    stream_ = req.stream;
    include_usage_ = mapped.include_usage;
    created_ = now_ ? now_() : SystemUnixSeconds();
    UpstreamRequest up;
    up.path = internal::ModelPath(req.model, stream_ ? "/converse-stream" : "/converse");
    up.body = json::Serialize(mapped.body);
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", stream_ ? "application/vnd.amazon.eventstream" : "application/json");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    std::string_view request_id = headers.Get("x-amzn-requestid").value_or("");
    id_ = request_id.empty() ? StrCat("chatcmpl-bedrock-", created_) : StrCat("chatcmpl-", request_id);
    http::HeaderMutation m;
    m.Set("content-type", stream_ ? "text/event-stream" : "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (!error_.ok()) return error_;
    if (id_.empty()) id_ = StrCat("chatcmpl-bedrock-", created_);
    error_ = stream_ ? StreamBody(chunk, end_of_stream, out) : BufferedBody(chunk, end_of_stream, out);
    return error_;
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    bedrock_internal::ErrorToOpenAI(status, headers, body, client_status, out);
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return model_; }

 private:
  // ---- buffered: one Converse JSON answer -> one chat.completion ----

  absl::Status BufferedBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    if (buffer_.size() + chunk.size() > kMaxBufferedBytes) {
      return absl::ResourceExhaustedError("AWSBedrock answer exceeds the buffered size limit");
    }
    buffer_.append(chunk);
    if (!end_of_stream) return absl::OkStatus();
    auto doc = json::Parse(buffer_);
    buffer_.clear();
    if (!doc.ok()) return Malformed(StrCat("body is not JSON: ", doc.status().message()));
    if (!doc->is_object()) return Malformed("body is not an object");
    const Value* message = doc->Find("output") ? doc->Find("output")->Find("message") : nullptr;
    const Value* content = message ? message->Find("content") : nullptr;
    if (content == nullptr || !content->is_array()) return Malformed("output.message.content is missing");

    std::string text;
    std::string reasoning;
    Value tool_calls = Value::Array();
    for (const Value& block : content->items()) {
      if (const Value* t = block.Find("text"); t != nullptr && t->is_string()) {
        text.append(t->as_string());
      } else if (const Value* use = block.Find("toolUse"); use != nullptr && use->is_object()) {
        Value fn = Value::Object();
        fn.Set("name", Str(use->GetString("name")));
        const Value* input = use->Find("input");
        fn.Set("arguments", Str(input != nullptr ? json::Serialize(*input) : "{}"));
        Value call = Value::Object();
        call.Set("id", Str(use->GetString("toolUseId")));
        call.Set("type", Str("function"));
        call.Set("function", std::move(fn));
        tool_calls.Append(std::move(call));
      } else if (const Value* rc = block.Find("reasoningContent"); rc != nullptr) {
        if (const Value* rt = rc->Find("reasoningText"); rt != nullptr) reasoning.append(rt->GetString("text"));
      }
    }
    Value msg = Value::Object();
    msg.Set("role", Str("assistant"));
    msg.Set("content", text.empty() && tool_calls.size() > 0 ? Value() : Str(text));
    if (!reasoning.empty()) msg.Set("reasoning_content", Str(reasoning));
    if (tool_calls.size() > 0) msg.Set("tool_calls", std::move(tool_calls));
    Value choice = Value::Object();
    choice.Set("index", Value::Int(0));
    choice.Set("message", std::move(msg));
    choice.Set("logprobs", Value());
    choice.Set("finish_reason", Str(bedrock_internal::FinishReason(doc->GetString("stopReason"))));
    Value choices = Value::Array();
    choices.Append(std::move(choice));

    Value root = Value::Object();
    root.Set("id", Str(id_));
    root.Set("object", Str("chat.completion"));
    root.Set("created", Value::Int(created_));
    root.Set("model", Str(model_));
    root.Set("choices", std::move(choices));
    root.Set("usage", OpenAIUsage(doc->Find("usage"), &usage_));
    json::SerializeTo(root, out);
    return absl::OkStatus();
  }

  // ---- streamed: ConverseStream event-stream -> chat.completion.chunk SSE ----

  absl::Status StreamBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    messages_.clear();
    absl::Status framing = decoder_.Feed(chunk, &messages_);
    for (const http::EventStreamMessage& m : messages_) RETURN_IF_ERROR(OnEvent(m, out));
    RETURN_IF_ERROR(framing);
    if (!end_of_stream) return absl::OkStatus();
    if (decoder_.HasPartial()) return absl::DataLossError("AWSBedrock stream ended in the middle of a message");
    if (!stopped_) return absl::DataLossError("AWSBedrock stream ended before messageStop");
    out->append("data: [DONE]\n\n");
    return absl::OkStatus();
  }

  absl::Status OnEvent(const http::EventStreamMessage& m, std::string* out) {
    if (auto exception = bedrock_internal::StreamException(m)) return *exception;
    std::string_view type = m.StringHeader(":event-type").value_or("");
    auto doc = json::Parse(m.payload);
    if (!doc.ok() || !doc->is_object()) return Malformed(StrCat(type, " event payload is not a JSON object"));
    if (type == "messageStart") {
      if (!role_sent_) {
        Value delta = Value::Object();
        delta.Set("role", Str("assistant"));
        delta.Set("content", Str(""));
        role_sent_ = true;
        EmitChunk(std::move(delta), nullptr, out);
      }
    } else if (type == "contentBlockStart") {
      const Value* start = doc->Find("start");
      const Value* use = start ? start->Find("toolUse") : nullptr;
      if (use != nullptr && use->is_object()) {
        int index = ToolIndex(IntMember(&*doc, "contentBlockIndex"));
        Value fn = Value::Object();
        fn.Set("name", Str(use->GetString("name")));
        fn.Set("arguments", Str(""));
        Value call = Value::Object();
        call.Set("index", Value::Int(index));
        call.Set("id", Str(use->GetString("toolUseId")));
        call.Set("type", Str("function"));
        call.Set("function", std::move(fn));
        EmitToolCall(std::move(call), out);
      }
    } else if (type == "contentBlockDelta") {
      const Value* delta = doc->Find("delta");
      if (delta == nullptr || !delta->is_object()) return Malformed("contentBlockDelta without delta");
      if (const Value* t = delta->Find("text"); t != nullptr && t->is_string()) {
        Value d = Value::Object();
        d.Set("content", *t);
        EmitChunk(std::move(d), nullptr, out);
      } else if (const Value* use = delta->Find("toolUse"); use != nullptr && use->is_object()) {
        Value fn = Value::Object();
        fn.Set("arguments", Str(use->GetString("input")));
        Value call = Value::Object();
        call.Set("index", Value::Int(ToolIndex(IntMember(&*doc, "contentBlockIndex"))));
        call.Set("function", std::move(fn));
        EmitToolCall(std::move(call), out);
      } else if (const Value* rc = delta->Find("reasoningContent"); rc != nullptr && rc->is_object()) {
        // Only the visible reasoning text has an OpenAI-side home (the common
        // `reasoning_content` extension); signatures and redacted bytes are dropped.
        if (const Value* t = rc->Find("text"); t != nullptr && t->is_string()) {
          Value d = Value::Object();
          d.Set("reasoning_content", *t);
          EmitChunk(std::move(d), nullptr, out);
        }
      }
    } else if (type == "messageStop") {
      std::string_view reason = bedrock_internal::FinishReason(doc->GetString("stopReason"));
      stopped_ = true;
      EmitChunk(Value::Object(), &reason, out);
    } else if (type == "metadata") {
      Value usage = OpenAIUsage(doc->Find("usage"), &usage_);
      if (include_usage_) {
        Value root = ChunkRoot();
        root.Set("choices", Value::Array());
        root.Set("usage", std::move(usage));
        AppendEvent(root, out);
      }
    }
    // contentBlockStop and unknown events carry nothing for the client.
    return absl::OkStatus();
  }

  // OpenAI numbers tool calls 0, 1, 2... within the message; Bedrock numbers content blocks.
  int ToolIndex(int64_t block) {
    auto [it, inserted] = tool_index_.try_emplace(block, next_tool_);
    if (inserted) ++next_tool_;
    return it->second;
  }

  Value ChunkRoot() const {
    Value root = Value::Object();
    root.Set("id", Str(id_));
    root.Set("object", Str("chat.completion.chunk"));
    root.Set("created", Value::Int(created_));
    root.Set("model", Str(model_));
    return root;
  }

  static void AppendEvent(const Value& v, std::string* out) {
    out->append("data: ");
    json::SerializeTo(v, out);
    out->append("\n\n");
  }

  void EmitToolCall(Value&& call, std::string* out) {
    Value calls = Value::Array();
    calls.Append(std::move(call));
    Value d = Value::Object();
    d.Set("tool_calls", std::move(calls));
    EmitChunk(std::move(d), nullptr, out);
  }

  void EmitChunk(Value&& delta, const std::string_view* finish_reason, std::string* out) {
    if (!role_sent_ && delta.Find("role") == nullptr) {
      // Content before messageStart: the first chunk still names the role.
      Value with_role = Value::Object();
      with_role.Set("role", Str("assistant"));
      for (auto& [k, v] : delta.members()) with_role.Set(k, std::move(v));
      delta = std::move(with_role);
      role_sent_ = true;
    }
    // The bytes of ChunkRoot() + choices: [{index, delta, logprobs, finish_reason}], written
    // directly since a stream emits one chunk per event.
    out->append("data: {\"id\":");
    json::AppendQuoted(out, id_);
    out->append(",\"object\":\"chat.completion.chunk\",\"created\":");
    out->append(std::to_string(created_));
    out->append(",\"model\":");
    json::AppendQuoted(out, model_);
    out->append(",\"choices\":[{\"index\":0,\"delta\":");
    json::SerializeTo(delta, out);
    out->append(",\"logprobs\":null,\"finish_reason\":");
    if (finish_reason != nullptr) {
      json::AppendQuoted(out, *finish_reason);
    } else {
      out->append("null");
    }
    out->append("}]}\n\n");
  }

  std::function<int64_t()> now_;
  std::string model_;
  bool stream_ = false;
  bool include_usage_ = false;
  int64_t created_ = 0;
  std::string id_;
  Usage usage_;
  absl::Status error_;  // sticky: the upstream data was malformed
  std::string buffer_;  // buffered answer
  http::EventStreamDecoder decoder_;
  std::vector<http::EventStreamMessage> messages_;
  bool role_sent_ = false;
  bool stopped_ = false;
  std::map<int64_t, int> tool_index_;  // content block index -> OpenAI tool_calls index
  int next_tool_ = 0;
};

class BedrockEmbeddingsTranslator final : public Translator {
 public:
  BedrockEmbeddingsTranslator() = default;

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    ASSIGN_OR_RETURN(internal::MappedEmbeddings mapped, internal::MapEmbeddingsRequest(req.doc));
    model_ = std::string(req.model);
    base64_ = mapped.base64;
    UpstreamRequest up;
    up.path = internal::ModelPath(req.model, "/invoke");
    up.body = json::Serialize(mapped.body);
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", "application/json");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap&) override {
    http::HeaderMutation m;
    m.Set("content-type", "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (buffer_.size() + chunk.size() > kMaxBufferedBytes) {
      return absl::ResourceExhaustedError("AWSBedrock answer exceeds the buffered size limit");
    }
    buffer_.append(chunk);
    if (!end_of_stream) return absl::OkStatus();
    auto doc = json::Parse(buffer_);
    buffer_.clear();
    if (!doc.ok() || !doc->is_object()) return Malformed("embeddings body is not a JSON object");
    const Value* embedding = doc->Find("embedding");
    if (embedding == nullptr || !embedding->is_array()) {
      const Value* by_type = doc->Find("embeddingsByType");
      embedding = by_type ? by_type->Find("float") : nullptr;
    }
    if (embedding == nullptr || !embedding->is_array()) return Malformed("embedding is missing");
    Value vector;
    if (base64_) {
      // OpenAI's base64 format: little-endian float32s.
      std::string bytes;
      bytes.reserve(embedding->items().size() * 4);
      for (const Value& x : embedding->items()) {
        if (!x.is_number()) return Malformed("embedding holds a non-number");
        float f = static_cast<float>(x.as_double());
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof(bits));
        for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(bits >> (8 * i)));
      }
      vector = Str(crypto::Base64Encode(bytes));
    } else {
      vector = *embedding;
    }
    int64_t tokens = IntMember(&*doc, "inputTextTokenCount");
    usage_.input_tokens = tokens;
    usage_.total_tokens = tokens;

    Value item = Value::Object();
    item.Set("object", Str("embedding"));
    item.Set("index", Value::Int(0));
    item.Set("embedding", std::move(vector));
    Value data = Value::Array();
    data.Append(std::move(item));
    Value usage = Value::Object();
    usage.Set("prompt_tokens", Value::Int(tokens));
    usage.Set("total_tokens", Value::Int(tokens));
    Value root = Value::Object();
    root.Set("object", Str("list"));
    root.Set("data", std::move(data));
    root.Set("model", Str(model_));
    root.Set("usage", std::move(usage));
    json::SerializeTo(root, out);
    return absl::OkStatus();
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    bedrock_internal::ErrorToOpenAI(status, headers, body, client_status, out);
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return model_; }

 private:
  std::string model_;
  bool base64_ = false;
  std::string buffer_;
  Usage usage_;
};

class ChatFactory final : public TranslatorFactory {
 public:
  explicit ChatFactory(std::function<int64_t()> now) : now_(std::move(now)) {}
  Endpoint endpoint() const override { return Endpoint::kChatCompletions; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kAWSBedrock; }
  std::unique_ptr<Translator> Create(const config::Backend&) const override {
    return std::make_unique<BedrockChatTranslator>(now_);
  }

 private:
  std::function<int64_t()> now_;
};

class EmbeddingsFactory final : public TranslatorFactory {
 public:
  Endpoint endpoint() const override { return Endpoint::kEmbeddings; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kAWSBedrock; }
  std::unique_ptr<Translator> Create(const config::Backend&) const override {
    return std::make_unique<BedrockEmbeddingsTranslator>();
  }
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIToBedrockChatFactory(std::function<int64_t()> now) {
  return std::make_unique<ChatFactory>(std::move(now));
}

std::unique_ptr<TranslatorFactory> NewOpenAIToBedrockEmbeddingsFactory() {
  return std::make_unique<EmbeddingsFactory>();
}

}  // namespace sluice::translate
