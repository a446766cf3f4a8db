#include "translate/openai_to_bedrock/openai_to_bedrock.h"

#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <utility>
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

// Bedrock usage -> neutral usage. inputTokens excludes cached input, so prompt_tokens adds
// the cache reads and writes back (as the AWS prompt-caching docs define total input).
void ReadUsage(json::View u, Usage* usage) {
  int64_t input = 0, output = 0, cache_read = 0, cache_write = 0, total = 0;
  std::string_view key;
  json::View v;
  for (auto it = u.members(); it.Next(&key, &v);) {
    if (!v.is_number()) continue;
    if (key == "inputTokens") input = v.as_int();
    else if (key == "outputTokens") output = v.as_int();
    else if (key == "cacheReadInputTokens") cache_read = v.as_int();
    else if (key == "cacheWriteInputTokens") cache_write = v.as_int();
    else if (key == "totalTokens") total = v.as_int();
  }
  usage->input_tokens = AddTokens(AddTokens(input, cache_read), cache_write);
  usage->output_tokens = output;
  usage->total_tokens = total > 0 ? total : AddTokens(usage->input_tokens, output);
  usage->cached_input_tokens = cache_read;
  usage->cache_creation_input_tokens = cache_write;
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed AWSBedrock answer: ", what));
}

class BedrockChatTranslator final : public Translator {
 public:
  explicit BedrockChatTranslator(std::function<int64_t()> now) : now_(std::move(now)) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    // The client's bytes, read with json::Reader (the factory asks for no document).
    ASSIGN_OR_RETURN(internal::MappedChat mapped, internal::MapChatRequest(req.raw_body, req.model, req.top_members));
    model_ = std::string(req.model);
    stream_ = req.stream;
    include_usage_ = mapped.include_usage;
    created_ = now_ ? now_() : SystemUnixSeconds();
    UpstreamRequest up;
    up.path = internal::ModelPath(req.model, stream_ ? "/converse-stream" : "/converse");
    up.body = std::move(mapped.body);
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
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return OpenAIProviderStreamError(message, e);
  }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return model_; }

 private:
  // ---- buffered: one Converse JSON answer -> one chat.completion ----

  absl::Status BufferedBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    if (buffer_.size() + chunk.size() > kMaxBufferedBytes) {
      return absl::ResourceExhaustedError("AWSBedrock answer exceeds the buffered size limit");
    }
    std::string body;  // the answer when it came in pieces; the views below point into it
    std::string_view whole = chunk;
    if (!end_of_stream || !buffer_.empty()) {
      buffer_.append(chunk);
      if (!end_of_stream) return absl::OkStatus();
      body = std::move(buffer_);
      buffer_.clear();
      whole = body;
    }
    auto parsed = reader_.Parse(whole);
    if (!parsed.ok()) return Malformed(StrCat("body is not JSON: ", parsed.status().message()));
    const json::View doc = *parsed;
    if (!doc.is_object()) return Malformed("body is not an object");
    json::View output, stop_reason, usage;
    doc.FindAll({{"output", &output}, {"stopReason", &stop_reason}, {"usage", &usage}});
    json::View content = output.Find("message").Find("content");
    if (!content.is_array()) return Malformed("output.message.content is missing");

    std::string text;
    std::string reasoning;
    std::string thinking_blocks;  // as the Anthropic translator returns them, comma-separated
    std::string tool_calls;       // OpenAI tool_calls entries, comma-separated
    bool any_tool = false;
    json::View block;
    for (auto it = content.items(); it.Next(&block);) {
      json::View t, use, rc;
      block.FindAll({{"text", &t}, {"toolUse", &use}, {"reasoningContent", &rc}});
      if (t.is_string()) {
        text.append(t.as_string());
      } else if (use.is_object()) {
        if (any_tool) tool_calls.push_back(',');
        any_tool = true;
        json::View input = use.Find("input");
        AppendOpenAIToolCall(use.GetString("toolUseId"), use.GetString("name"),
                             input.exists() ? input.Compact() : std::string("{}"), &tool_calls);
      } else if (rc.exists()) {
        json::View rt, redacted;
        rc.FindAll({{"reasoningText", &rt}, {"redactedContent", &redacted}});
        if (!thinking_blocks.empty()) thinking_blocks.push_back(',');
        if (redacted.is_string()) {
          AppendThinkingBlock({}, {}, redacted.as_string(), &thinking_blocks);
        } else {
          std::string_view t = rt.GetString("text");
          reasoning.append(t);
          AppendThinkingBlock(t, rt.GetString("signature"), {}, &thinking_blocks);
        }
      }
    }
    ReadUsage(usage, &usage_);
    std::string_view finish =
        bedrock_internal::FinishReason(stop_reason.is_string() ? stop_reason.as_string() : std::string_view());

    AppendOpenAIChatCompletion({id_, created_, model_, text, reasoning, thinking_blocks, tool_calls, finish, &usage_}, out);
    return absl::OkStatus();
  }

  // ---- streamed: ConverseStream event-stream -> chat.completion.chunk SSE ----

  absl::Status StreamBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    RETURN_IF_ERROR(decoder_.Feed(chunk, [&](const http::EventStreamMessageView& m) { return OnEvent(m, out); }));
    if (!end_of_stream) return absl::OkStatus();
    if (decoder_.HasPartial()) return absl::DataLossError("AWSBedrock stream ended in the middle of a message");
    if (!stopped_) return absl::DataLossError("AWSBedrock stream ended before messageStop");
    out->append("data: [DONE]\n\n");
    return absl::OkStatus();
  }

  absl::Status OnEvent(const http::EventStreamMessageView& m, std::string* out) {
    if (auto exception = bedrock_internal::StreamException(m)) return *exception;
    std::string_view type = m.StringHeader(":event-type").value_or("");
    if (type == "contentBlockDelta" && FastDelta(m.payload, out)) return absl::OkStatus();
    auto parsed = reader_.Parse(m.payload);
    if (!parsed.ok() || !parsed->is_object()) return Malformed(StrCat(type, " event payload is not a JSON object"));
    const json::View doc = *parsed;
    if (type == "messageStart") {
      if (!role_sent_) EmitChunk(R"({"role":"assistant","content":""})", {}, out);
    } else if (type == "contentBlockStart") {
      json::View index, start;
      doc.FindAll({{"contentBlockIndex", &index}, {"start", &start}});
      json::View use = start.Find("toolUse");
      if (use.is_object()) {
        std::string delta = StrCat(R"({"tool_calls":[{"index":)", ToolIndex(index.as_int()), R"(,"id":)");
        json::AppendQuoted(&delta, use.GetString("toolUseId"));
        delta.append(R"(,"type":"function","function":{"name":)");
        json::AppendQuoted(&delta, use.GetString("name"));
        delta.append(R"(,"arguments":""}}]})");
        EmitChunk(delta, {}, out);
        tools_without_arguments_.insert(index.as_int());
      }
    } else if (type == "contentBlockDelta") {
      json::View index, delta;
      doc.FindAll({{"contentBlockIndex", &index}, {"delta", &delta}});
      if (!delta.is_object()) return Malformed("contentBlockDelta without delta");
      json::View t, use, rc;
      delta.FindAll({{"text", &t}, {"toolUse", &use}, {"reasoningContent", &rc}});
      if (t.is_string()) {
        EmitField("content", t.as_string(), out);
      } else if (use.is_object()) {
        ToolInput(index.as_int(), use.GetString("input"), out);
      } else if (rc.is_object()) {
        // Text goes out as reasoning_content deltas; text, signature and redacted bytes are
        // also kept for the thinking_blocks delta sent when the block stops.
        Reasoning& r = reasoning_[index.as_int()];
        json::View rt, sig, redacted;
        rc.FindAll({{"text", &rt}, {"signature", &sig}, {"redactedContent", &redacted}});
        if (rt.is_string()) ReasoningText(index.as_int(), rt.as_string(), out);
        if (sig.is_string()) r.signature.append(sig.as_string());
        if (redacted.is_string()) r.redacted.append(redacted.as_string());
      }
    } else if (type == "contentBlockStop") {
      const int64_t block = doc.Find("contentBlockIndex").as_int();
      if (tools_without_arguments_.erase(block) > 0) {
        // A tool without parameters may stream no input at all (or only ""): OpenAI's
        // arguments are always a JSON text, "{}" for none, as the buffered answer gives.
        EmitArguments(ToolIndex(block), "{}", out);
      }
      auto it = reasoning_.find(block);
      if (it != reasoning_.end()) {
        std::string delta = R"({"thinking_blocks":[)";
        const Reasoning& r = it->second;
        AppendThinkingBlock(r.text, r.signature, r.redacted, &delta);
        delta.append("]}");
        EmitChunk(delta, {}, out);
        reasoning_.erase(it);
      }
    } else if (type == "messageStop") {
      std::string_view reason = bedrock_internal::FinishReason(doc.GetString("stopReason"));
      stopped_ = true;
      EmitChunk("{}", reason, out);
    } else if (type == "metadata") {
      ReadUsage(doc.Find("usage"), &usage_);
      if (include_usage_) AppendOpenAIUsageChunk(id_, created_, model_, usage_, out);
    }
    // Unknown events carry nothing for the client.
    return absl::OkStatus();
  }

  void ToolInput(int64_t block, std::string_view fragment, std::string* out) {
    if (!fragment.empty()) tools_without_arguments_.erase(block);
    EmitArguments(ToolIndex(block), fragment, out);
  }
  void ReasoningText(int64_t block, std::string_view text, std::string* out) {
    reasoning_[block].text.append(text);
    EmitField("reasoning_content", text, out);
  }

  // The common contentBlockDelta spelling without the general parser (see
  // bedrock_internal::MatchCompactDelta). True when handled.
  bool FastDelta(std::string_view payload, std::string* out) {
    json::CompactMatcher m(payload);
    bedrock_internal::CompactDelta d;
    if (!bedrock_internal::MatchCompactDelta(m, &d)) return false;
    using Kind = bedrock_internal::CompactDelta::Kind;
    if (d.kind == Kind::kText) EmitField("content", d.value, out);
    else if (d.kind == Kind::kToolInput) ToolInput(d.block, d.value, out);
    else ReasoningText(d.block, d.value, out);
    return true;
  }

  // OpenAI numbers tool calls 0, 1, 2... within the message; Bedrock numbers content blocks.
  int ToolIndex(int64_t block) {
    auto [it, inserted] = tool_index_.try_emplace(block, next_tool_);
    if (inserted) ++next_tool_;
    return it->second;
  }

  // One `thinking_blocks` entry in the Anthropic translator's shape: redacted bytes make a
  // {"type":"redacted_thinking","data"} block, else {"type":"thinking","thinking","signature"}.
  static void AppendThinkingBlock(std::string_view text, std::string_view signature, std::string_view redacted,
                                  std::string* out) {
    if (!redacted.empty()) {
      out->append(R"({"type":"redacted_thinking","data":)");
      json::AppendQuoted(out, redacted);
    } else {
      out->append(R"({"type":"thinking","thinking":)");
      json::AppendQuoted(out, text);
      out->append(R"(,"signature":)");
      json::AppendQuoted(out, signature);
    }
    out->push_back('}');
  }

  // Text and tool-argument deltas, written straight into `out` (one chunk per event); the
  // first chunk names the role (content can come before messageStart).
  void EmitField(std::string_view field, std::string_view text, std::string* out) {
    AppendOpenAITextChunk(id_, created_, model_, !std::exchange(role_sent_, true), field, text, out);
  }
  void EmitArguments(int tool_index, std::string_view fragment, std::string* out) {
    AppendOpenAIArgumentsChunk(id_, created_, model_, !std::exchange(role_sent_, true), tool_index, fragment, out);
  }

  // One chat.completion.chunk event whose delta is `delta` (a compact JSON object).
  // `finish_reason` empty = null.
  void EmitChunk(std::string_view delta, std::string_view finish_reason, std::string* out) {
    AppendOpenAIChunkStart(id_, created_, model_, out);
    if (!role_sent_) {
      // The first chunk names the role, even when content comes before messageStart.
      role_sent_ = true;
      if (delta.find("\"role\":") != 1) {
        out->append(delta == "{}" ? std::string_view(R"({"role":"assistant")") : std::string_view(R"({"role":"assistant",)"));
        delta.remove_prefix(1);
      }
    }
    out->append(delta);
    AppendOpenAIChunkEnd(finish_reason, out);
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
  json::Reader reader_;  // the answer / the current event
  http::EventStreamDecoder decoder_;
  bool role_sent_ = false;
  bool stopped_ = false;
  std::map<int64_t, int> tool_index_;  // content block index -> OpenAI tool_calls index
  std::set<int64_t> tools_without_arguments_;  // started tool blocks with no input text yet
  struct Reasoning {
    std::string text, signature, redacted;
  };
  std::map<int64_t, Reasoning> reasoning_;  // open reasoning blocks by content block index
  int next_tool_ = 0;
};

class BedrockEmbeddingsTranslator final : public Translator {
 public:
  BedrockEmbeddingsTranslator() = default;

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    ASSIGN_OR_RETURN(internal::MappedEmbeddings mapped, internal::MapEmbeddingsRequest(req.doc, req.model));
    model_ = std::string(req.model);
    base64_ = mapped.base64;
    cohere_ = mapped.cohere;
    UpstreamRequest up;
    up.path = internal::ModelPath(req.model, "/invoke");
    up.body = json::Serialize(mapped.body);
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", "application/json");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    // Bedrock counts every InvokeModel call's input tokens in a header; Cohere's body has none.
    if (auto n = headers.Get("x-amzn-bedrock-input-token-count")) ParseInt(*n, &header_tokens_);
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
    // The vectors: Titan's one ("embedding", or "embeddingsByType.float"); Cohere's list
    // ("embeddings", or "embeddings.float" when embedding types were asked for).
    std::vector<const Value*> vectors;
    int64_t tokens = 0;
    if (cohere_) {
      const Value* list = doc->Find("embeddings");
      if (list != nullptr && list->is_object()) list = list->Find("float");
      if (list == nullptr || !list->is_array()) return Malformed("embeddings are missing");
      for (const Value& v : list->items()) vectors.push_back(&v);
      tokens = header_tokens_;
    } else {
      const Value* embedding = doc->Find("embedding");
      if (embedding == nullptr || !embedding->is_array()) {
        const Value* by_type = doc->Find("embeddingsByType");
        embedding = by_type ? by_type->Find("float") : nullptr;
      }
      if (embedding == nullptr) return Malformed("embedding is missing");
      vectors.push_back(embedding);
      tokens = IntMember(&*doc, "inputTextTokenCount");
    }
    usage_.input_tokens = tokens;
    usage_.total_tokens = tokens;

    Value data = Value::Array();
    for (size_t i = 0; i < vectors.size(); ++i) {
      const Value& embedding = *vectors[i];
      if (!embedding.is_array()) return Malformed("embedding is missing");
      for (const Value& x : embedding.items()) {
        if (!x.is_number()) return Malformed("embedding holds a non-number");
      }
      Value item = Value::Object();
      item.Set("object", Str("embedding"));
      item.Set("index", Value::Int(static_cast<int64_t>(i)));
      item.Set("embedding", base64_ ? Str(OpenAIEmbeddingBase64(embedding)) : embedding);
      data.Append(std::move(item));
    }
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
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return OpenAIProviderStreamError(message, e);
  }
  // Titan takes one inputText per call; Cohere Embed a batch.
  size_t MaxInputsPerCall(std::string_view model) const override {
    return internal::MaxEmbeddingInputs(model);
  }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return model_; }

 private:
  std::string model_;
  bool base64_ = false;
  bool cohere_ = false;  // a Cohere Embed model: a list of vectors
  int64_t header_tokens_ = 0;  // x-amzn-bedrock-input-token-count
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
  // The translator reads raw_body itself (MapChatRequest parses it with json::Reader), so the
  // pipeline builds no DOM for it. Embeddings keep theirs (EmbeddingsFactory).
  bool NeedsDocument() const override { return false; }

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
