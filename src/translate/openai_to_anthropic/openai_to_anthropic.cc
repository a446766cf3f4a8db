#include "translate/openai_to_anthropic/openai_to_anthropic.h"

#include <chrono>
#include <map>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/request.h"

// Response facts: shared/reference/provider-apis.md §1.2-1.4 (OpenAI), §2.2-2.4 (Anthropic),
// §7.4, §7.6-7.8 (mappings).
//
// Mapping decisions:
// - thinking blocks become `message.reasoning_content` (the de-facto field of DeepSeek, vLLM
//   and others) and `message.thinking_blocks` holding the blocks with their signatures, which
//   request.cc accepts back on assistant messages so multi-turn tool use with thinking keeps
//   working. Streams send reasoning_content deltas as the thinking arrives, then, when a
//   thinking block ends, one delta `thinking_blocks: [<the whole block, signature included>]`
//   (redacted_thinking too), so a streaming client can send the blocks back unchanged.
// - Several text blocks are concatenated; citations and server-tool blocks (web search) are
//   dropped; redacted_thinking only survives in thinking_blocks.
// - stop_reason: end_turn/stop_sequence/pause_turn/unknown -> stop, max_tokens and
//   model_context_window_exceeded -> length, tool_use -> tool_calls, refusal ->
//   content_filter.
// - usage: prompt_tokens = input + cache_read + cache_creation; cached_tokens = cache_read;
//   the cache writes are reported as prompt_tokens_details.cache_creation_input_tokens (the
//   envoyproxy/ai-gateway extension) when non-zero.
namespace sluice::translate {
namespace {

using json::Value;
namespace internal = openai_to_anthropic_internal;

constexpr std::string_view kDefaultAnthropicVersion = "2023-06-01";
// A buffered (non-SSE) answer larger than this is refused rather than held.
constexpr size_t kMaxBufferedBody = 32u << 20;

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);
  return out;
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed Anthropic response: ", what));
}


std::string_view FinishReason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn, and values added later
}

// The HTTP status an Anthropic error type stands for (used for errors inside a 200 stream).
int AnthropicErrorStatus(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "overloaded_error") return 503;
  if (type == "timeout_error") return 504;
  return 500;
}

// Anthropic's usage counters. message_delta restates them cumulatively, so a field that is
// present replaces the earlier value.
struct AnthropicUsage {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_creation = 0;
};

void ReadUsage(json::View u, AnthropicUsage* a) {
  std::string_view key;
  json::View v;
  for (auto it = u.members(); it.Next(&key, &v);) {
    if (!v.is_number()) continue;
    if (key == "input_tokens") a->input = v.as_int();
    else if (key == "output_tokens") a->output = v.as_int();
    else if (key == "cache_read_input_tokens") a->cache_read = v.as_int();
    else if (key == "cache_creation_input_tokens") a->cache_creation = v.as_int();
  }
}

Usage ToUsage(const AnthropicUsage& a) {
  Usage u;
  u.input_tokens = AddTokens(AddTokens(a.input, a.cache_read), a.cache_creation);
  u.output_tokens = a.output;
  u.total_tokens = AddTokens(u.input_tokens, u.output_tokens);
  u.cached_input_tokens = a.cache_read;
  u.cache_creation_input_tokens = a.cache_creation;
  return u;
}

int64_t SystemUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class OpenAIToAnthropicTranslator final : public Translator {
 public:
  OpenAIToAnthropicTranslator(const config::Backend& backend, bool vertex, const UnixSecondsFn& now)
      : backend_(backend), vertex_(vertex), now_(now) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    internal::RequestOptions opt;
    opt.model = req.model;
    opt.vertex = vertex_;
    if (vertex_) {
      // Configuration problems, reported per request because the translator is where the
      // schema version is interpreted.
      if (backend_.schema_version.empty()) {
        return absl::InvalidArgumentError(StrCat("backend ", backend_.name,
                                                 ": schema version (the Vertex anthropic_version, e.g. "
                                                 "vertex-2023-10-16) is required for GCPAnthropic"));
      }
      if (backend_.auth.gcp_project.empty() || backend_.auth.gcp_region.empty()) {
        return absl::InvalidArgumentError(
            StrCat("backend ", backend_.name, ": GCP project and region are required for GCPAnthropic"));
      }
      opt.anthropic_version = backend_.schema_version;
    }
    opt.top_members = req.top_members;
    auto mapped = internal::MapRequest(req.raw_body, opt);
    if (!mapped.ok()) return mapped.status();
    stream_ = sse_ = mapped->stream;
    include_usage_ = mapped->include_usage;
    json_tool_ = mapped->json_tool;
    response_model_ = std::string(req.model);

    UpstreamRequest up;
    if (vertex_) {
      up.path = StrCat("/v1/projects/", PercentEncode(backend_.auth.gcp_project, "@"), "/locations/",
                       PercentEncode(backend_.auth.gcp_region, "@"), "/publishers/anthropic/models/",
                       PercentEncode(req.model, "@"), stream_ ? ":streamRawPredict" : ":rawPredict");
    } else {
      const std::string& prefix = backend_.schema_prefix;
      up.path = prefix.empty() ? std::string("/messages") : StrCat("/", prefix, "/messages");
      auto version = req.headers.Get("anthropic-version");
      up.headers.Set("anthropic-version", version ? *version : kDefaultAnthropicVersion);
    }
    if (auto beta = req.headers.Get("anthropic-beta")) up.headers.Set("anthropic-beta", *beta);
    up.body = std::move(mapped->body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    // The answer's own content-type decides the framing; the request's `stream` is the
    // fallback when there is none.
    if (auto ct = headers.Get("content-type")) {
      if (ct->find("text/event-stream") != std::string_view::npos) sse_ = true;
      else if (ct->find("json") != std::string_view::npos) sse_ = false;
    }
    http::HeaderMutation m;
    m.Set("content-type", sse_ ? "text/event-stream" : "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream,
                                     std::string* out) override {
    if (sse_) return StreamBody(chunk, end_of_stream, out);
    if (buffer_.size() + chunk.size() > kMaxBufferedBody) {
      return absl::ResourceExhaustedError("upstream response body exceeds the size limit");
    }
    if (end_of_stream && buffer_.empty()) return TranslateMessage(chunk, out);  // arrived whole: no copy
    buffer_.append(chunk);
    if (!end_of_stream) return absl::OkStatus();
    absl::Status st = TranslateMessage(buffer_, out);
    buffer_.clear();
    return st;
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    // 529 is Anthropic's "overloaded"; OpenAI clients know 503 for that.
    *client_status = status == 529 ? 503 : status;
    std::string message, code;
    auto doc = json::Parse(body);
    if (doc.ok()) {
      // Anthropic: {"type":"error","error":{"type","message"}}; Vertex front end (auth,
      // quota, unknown model): {"error":{"code","message","status"}}.
      if (const Value* e = doc->Find("error"); e != nullptr && e->is_object()) {
        message = std::string(e->GetString("message"));
        code = std::string(e->GetString("type"));
        if (code.empty()) code = std::string(e->GetString("status"));
      }
    }
    if (message.empty()) {
      message = body.empty() ? StrCat("upstream returned HTTP ", status)
                             : ValidUtf8(Utf8Prefix(body, 1024));
    }
    out->append(OpenAIErrorBody(message, OpenAIErrorType(*client_status), code));
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return OpenAIProviderStreamError(message, e);
  }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return response_model_; }

 private:
  enum class BlockKind { kText, kThinking, kRedactedThinking, kTool, kJsonText, kOther };
  struct Block {
    BlockKind kind = BlockKind::kOther;
    int tool_index = 0;     // kTool: the OpenAI tool_calls index
    bool has_args = false;  // kTool: an arguments fragment was sent
    std::string thinking;   // kThinking: the text so far; kRedactedThinking: the data
    std::string signature;  // kThinking
  };

  // ---- buffered answers ----

  // Read with json::Reader and written directly: no DOM on either side.
  absl::Status TranslateMessage(std::string_view body, std::string* out) {
    auto parsed = reader_.Parse(body);
    if (!parsed.ok()) return Malformed(StrCat("body is not JSON: ", parsed.status().message()));
    const json::View doc = *parsed;
    if (!doc.is_object()) return Malformed("body is not a JSON object");
    json::View type, error, id, model, content, stop_reason_v, usage;  // one pass over the answer
    doc.FindAll({{"type", &type}, {"error", &error}, {"id", &id}, {"model", &model}, {"content", &content},
                 {"stop_reason", &stop_reason_v}, {"usage", &usage}});
    auto str = [](json::View v) { return v.is_string() ? v.as_string() : std::string_view(); };
    if (str(type) == "error") {
      return absl::UnavailableError(
          StrCat("upstream error: ", error.exists() ? error.GetString("message") : std::string_view("unknown")));
    }
    if (!content.is_array()) return Malformed("`content` is not an array");
    std::string text, reasoning;
    std::string thinking_blocks;  // the blocks, compact, comma-separated
    std::string tool_calls;       // OpenAI tool_calls entries, comma-separated
    bool any_thinking = false;
    bool any_tool = false;
    json::View block;
    for (auto it = content.items(); it.Next(&block);) {
      std::string_view type = block.GetString("type");
      if (type == "text") {
        text.append(block.GetString("text"));
      } else if (type == "thinking" || type == "redacted_thinking") {
        if (type == "thinking") reasoning.append(block.GetString("thinking"));
        if (any_thinking) thinking_blocks.push_back(',');
        any_thinking = true;
        block.AppendCompact(&thinking_blocks);
      } else if (type == "tool_use") {
        json::View input = block.Find("input");
        std::string args = input.exists() ? input.Compact() : std::string("{}");
        std::string_view name = block.GetString("name");
        if (json_tool_ && name == internal::kJsonToolName) {
          text.append(args);
          continue;
        }
        if (any_tool) tool_calls.push_back(',');
        any_tool = true;
        AppendOpenAIToolCall(block.GetString("id"), name, args, &tool_calls);
      }
    }
    AnthropicUsage au;
    ReadUsage(usage, &au);
    usage_ = ToUsage(au);
    if (std::string_view m = str(model); !m.empty()) response_model_ = std::string(m);
    std::string_view stop_reason = str(stop_reason_v);
    std::string_view finish = FinishReason(stop_reason);
    if (json_tool_ && stop_reason == "tool_use") finish = "stop";

    std::string_view id_text = str(id);
    AppendOpenAIChatCompletion({id_text, Now(), response_model_, text, reasoning, thinking_blocks, tool_calls, finish, &usage_},
                               out);
    return absl::OkStatus();
  }

  // ---- streams ----

  absl::Status StreamBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    if (done_) return absl::OkStatus();  // after message_stop or an error event: ignore the rest
    // OnEvent never fails after setting done_, so a failure is always reported.
    absl::Status fed = sse_parser_.Feed(
        chunk, [&](const http::SseEventView& ev) { return done_ ? absl::OkStatus() : OnEvent(ev, out); });
    if (done_) return absl::OkStatus();
    RETURN_IF_ERROR(fed);
    if (end_of_stream) {
      if (sse_parser_.HasPartial()) return Malformed("the stream ended in the middle of an event");
      return Malformed("the stream ended before message_stop");
    }
    return absl::OkStatus();
  }

  absl::Status OnEvent(const http::SseEventView& ev, std::string* out) {
    if (ev.data.empty()) return absl::OkStatus();
    if (absl::Status st; FastDelta(ev.data, out, &st)) return st;
    auto parsed = reader_.Parse(ev.data);
    if (!parsed.ok() || !parsed->is_object()) {
      return Malformed(StrCat("event ", Quoted(ev.event), " does not carry a JSON object"));
    }
    const json::View doc = *parsed;
    std::string_view type = doc.GetString("type");
    if (type.empty()) type = ev.event;
    if (type == "ping") return absl::OkStatus();
    if (type == "error") return OnErrorEvent(doc, out);
    if (type == "message_start") return OnMessageStart(doc, out);
    if (!started_) {
      if (type.substr(0, 8) == "content_" || type.substr(0, 8) == "message_") {
        return Malformed(StrCat("event ", Quoted(type), " before message_start"));
      }
      return absl::OkStatus();
    }
    if (type == "content_block_start") return OnBlockStart(doc, out);
    if (type == "content_block_delta") return OnBlockDelta(doc, out);
    if (type == "content_block_stop") return OnBlockStop(doc, out);
    if (type == "message_delta") return OnMessageDelta(doc, out);
    if (type == "message_stop") return OnMessageStop(out);
    return absl::OkStatus();  // event types added later are skipped
  }

  absl::Status OnMessageStart(json::View doc, std::string* out) {
    json::View m = doc.Find("message");
    if (!m.is_object()) return Malformed("message_start without a message");
    if (started_) return Malformed("a second message_start");
    started_ = true;
    id_ = std::string(m.GetString("id"));
    if (std::string_view model = m.GetString("model"); !model.empty()) response_model_ = std::string(model);
    created_ = Now();
    ReadUsage(m.Find("usage"), &anthropic_usage_);
    usage_ = ToUsage(anthropic_usage_);
    EmitChunk(R"({"role":"assistant","content":""})", {}, out);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> BlockIndex(json::View doc) {
    json::View index = doc.Find("index");
    if (!index.is_number()) return Malformed(StrCat(doc.GetString("type"), " without an index"));
    return index.as_int();
  }

  absl::Status OnBlockStart(json::View doc, std::string* out) {
    ASSIGN_OR_RETURN(int64_t index, BlockIndex(doc));
    json::View cb = doc.Find("content_block");
    if (!cb.is_object()) return Malformed("content_block_start without a content_block");
    std::string_view type = cb.GetString("type");
    Block block;
    if (type == "text") {
      block.kind = BlockKind::kText;
      if (std::string_view t = cb.GetString("text"); !t.empty()) EmitText("content", t, out);
    } else if (type == "thinking") {
      block.kind = BlockKind::kThinking;
      block.thinking = cb.GetString("thinking");
      block.signature = cb.GetString("signature");
      if (!block.thinking.empty()) EmitText("reasoning_content", block.thinking, out);
    } else if (type == "redacted_thinking") {
      block.kind = BlockKind::kRedactedThinking;
      block.thinking = cb.GetString("data");
    } else if (type == "tool_use" && json_tool_ && cb.GetString("name") == internal::kJsonToolName) {
      block.kind = BlockKind::kJsonText;
    } else if (type == "tool_use") {
      block.kind = BlockKind::kTool;
      block.tool_index = next_tool_index_++;
      // The first fragment of a call carries id, type and name, with empty arguments;
      // written straight into `out`, as EmitChunk would.
      AppendOpenAIChunkStart(id_, created_, response_model_, out);
      StrAppend(out, R"({"tool_calls":[{"index":)", block.tool_index, R"(,"id":)");
      json::AppendQuoted(out, cb.GetString("id"));
      out->append(R"(,"type":"function","function":{"name":)");
      json::AppendQuoted(out, cb.GetString("name"));
      out->append(R"(,"arguments":""}}]})");
      AppendOpenAIChunkEnd({}, out);
    }
    // redacted_thinking, server_tool_use, web_search_tool_result, ...: nothing to say.
    blocks_[index] = std::move(block);
    return absl::OkStatus();
  }

  absl::Status OnBlockDelta(json::View doc, std::string* out) {
    ASSIGN_OR_RETURN(int64_t index, BlockIndex(doc));
    json::View delta = doc.Find("delta");
    if (!delta.is_object()) return Malformed("content_block_delta without a delta");
    std::string_view type = delta.GetString("type");
    std::string_view field = type == "text_delta"         ? "text"
                             : type == "thinking_delta"   ? "thinking"
                             : type == "signature_delta"  ? "signature"
                             : type == "input_json_delta" ? "partial_json"
                                                          : std::string_view();
    // citations_delta and later kinds have no OpenAI counterpart.
    return ApplyDelta(index, type, field.empty() ? std::string_view() : delta.GetString(field), out);
  }

  // One content_block_delta: `type` is the delta's type, `value` its text (text, thinking,
  // signature or partial_json, by type).
  absl::Status ApplyDelta(int64_t index, std::string_view type, std::string_view value, std::string* out) {
    auto it = blocks_.find(index);
    if (it == blocks_.end()) return Malformed(StrCat("content_block_delta for unknown block ", index));
    Block& block = it->second;
    if (type == "text_delta") {
      if (!value.empty()) EmitText("content", value, out);
    } else if (type == "thinking_delta") {
      if (block.kind == BlockKind::kThinking) block.thinking.append(value);
      if (!value.empty()) EmitText("reasoning_content", value, out);
    } else if (type == "signature_delta") {
      if (block.kind == BlockKind::kThinking) block.signature.append(value);
    } else if (type == "input_json_delta") {
      if (value.empty()) return absl::OkStatus();
      if (block.kind == BlockKind::kJsonText) {
        EmitText("content", value, out);
      } else if (block.kind == BlockKind::kTool) {
        block.has_args = true;
        EmitArguments(block.tool_index, value, out);
      }
    }
    return absl::OkStatus();
  }

  // Most events of a long answer are deltas, and Anthropic writes them in one shape:
  //   {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}
  // (thinking_delta / "thinking", input_json_delta / "partial_json" alike). Such an event is
  // matched byte for byte and its one string validated as the parser would, without parsing
  // and searching the document; any other spelling (spaces, member order, more members) takes
  // the general path. True when the event was handled (`*status` says how).
  bool FastDelta(std::string_view data, std::string* out, absl::Status* status) {
    if (!started_) return false;
    json::CompactMatcher m(data);
    int64_t index = 0;
    if (!m.Literal(R"({"type":"content_block_delta","index":)") || !m.Index(&index) ||
        !m.Literal(R"(,"delta":{"type":")")) {
      return false;
    }
    std::string_view type;
    if (m.Literal(R"(text_delta","text":)")) type = "text_delta";
    else if (m.Literal(R"(thinking_delta","thinking":)")) type = "thinking_delta";
    else if (m.Literal(R"(input_json_delta","partial_json":)")) type = "input_json_delta";
    else return false;
    std::string_view value;
    if (!m.String(&value) || !m.Literal("}}") || !m.AtEnd()) return false;
    *status = ApplyDelta(index, type, value, out);
    return true;
  }

  absl::Status OnBlockStop(json::View doc, std::string* out) {
    ASSIGN_OR_RETURN(int64_t index, BlockIndex(doc));
    auto it = blocks_.find(index);
    if (it == blocks_.end()) return Malformed(StrCat("content_block_stop for unknown block ", index));
    // A call without arguments streams no input_json_delta; OpenAI clients expect "{}".
    const Block& block = it->second;
    if (block.kind == BlockKind::kTool && !block.has_args) EmitArguments(block.tool_index, "{}", out);
    if (block.kind == BlockKind::kThinking || block.kind == BlockKind::kRedactedThinking) {
      // The whole block, as the buffered answer's thinking_blocks carries it.
      std::string delta = R"({"thinking_blocks":[{"type":)";
      if (block.kind == BlockKind::kThinking) {
        delta.append(R"("thinking","thinking":)");
        json::AppendQuoted(&delta, block.thinking);
        delta.append(R"(,"signature":)");
        json::AppendQuoted(&delta, block.signature);
      } else {
        delta.append(R"("redacted_thinking","data":)");
        json::AppendQuoted(&delta, block.thinking);
      }
      delta.append("}]}");
      EmitChunk(delta, {}, out);
    }
    blocks_.erase(it);
    return absl::OkStatus();
  }

  absl::Status OnMessageDelta(json::View doc, std::string* out) {
    ReadUsage(doc.Find("usage"), &anthropic_usage_);
    usage_ = ToUsage(anthropic_usage_);
    std::string_view stop_reason = doc.Find("delta").GetString("stop_reason");
    if (!stop_reason.empty() && !finish_sent_) {
      std::string_view finish = FinishReason(stop_reason);
      if (json_tool_ && stop_reason == "tool_use") finish = "stop";
      EmitChunk("{}", finish, out);
      finish_sent_ = true;
    }
    return absl::OkStatus();
  }

  absl::Status OnMessageStop(std::string* out) {
    if (!finish_sent_) EmitChunk("{}", "stop", out);
    finish_sent_ = true;
    if (include_usage_) AppendOpenAIUsageChunk(id_, created_, response_model_, usage_, out);
    out->append("data: [DONE]\n\n");
    done_ = true;
    return absl::OkStatus();
  }

  // An error inside a 200 stream (e.g. overloaded_error): told to the client as an OpenAI
  // error event; the stream ends there, without [DONE], like OpenAIStreamError.
  absl::Status OnErrorEvent(json::View doc, std::string* out) {
    json::View e = doc.Find("error");
    std::string_view type = e.GetString("type");
    std::string_view message = e.GetString("message");
    if (message.empty()) message = "upstream error";
    StrAppend(out, "data: ", OpenAIErrorBody(message, OpenAIErrorType(AnthropicErrorStatus(type)), type),
              "\n\n");
    done_ = true;
    return absl::OkStatus();
  }

  // A chunk whose delta is `delta` (compact JSON). `finish_reason` empty = null.
  void EmitChunk(std::string_view delta, std::string_view finish_reason, std::string* out) {
    AppendOpenAIChunkStart(id_, created_, response_model_, out);
    out->append(delta);
    AppendOpenAIChunkEnd(finish_reason, out);
  }

  // A chunk whose delta is {field: text}, or one tool call's arguments fragment.
  void EmitText(std::string_view field, std::string_view text, std::string* out) {
    AppendOpenAITextChunk(id_, created_, response_model_, false, field, text, out);
  }
  void EmitArguments(int tool_index, std::string_view fragment, std::string* out) {
    AppendOpenAIArgumentsChunk(id_, created_, response_model_, false, tool_index, fragment, out);
  }

  int64_t Now() const { return now_ ? now_() : SystemUnixSeconds(); }

  const config::Backend& backend_;  // outlives the translator (the request's config snapshot)
  const bool vertex_;
  const UnixSecondsFn now_;

  bool stream_ = false;
  bool include_usage_ = false;
  bool json_tool_ = false;
  bool sse_ = false;  // the answer is an event stream
  std::string response_model_;
  Usage usage_;

  std::string buffer_;  // buffered answer so far

  json::Reader reader_;  // the answer / the current event
  http::SseParser sse_parser_;
  bool started_ = false;
  bool finish_sent_ = false;
  bool done_ = false;
  std::string id_;
  int64_t created_ = 0;
  int next_tool_index_ = 0;
  std::map<int64_t, Block> blocks_;  // open blocks by Anthropic index; closed ones are erased
  AnthropicUsage anthropic_usage_;
};

class OpenAIToAnthropicFactory final : public TranslatorFactory {
 public:
  OpenAIToAnthropicFactory(config::ApiSchema to, UnixSecondsFn now) : to_(to), now_(std::move(now)) {}
  Endpoint endpoint() const override { return Endpoint::kChatCompletions; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return to_; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<OpenAIToAnthropicTranslator>(b, to_ == config::ApiSchema::kGCPAnthropic, now_);
  }
  // The request is read from raw_body with json::Reader (request.cc); no DOM is needed.
  bool NeedsDocument() const override { return false; }

 private:
  config::ApiSchema to_;
  UnixSecondsFn now_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIToAnthropicFactory(config::ApiSchema to, UnixSecondsFn now) {
  return std::make_unique<OpenAIToAnthropicFactory>(to, std::move(now));
}

}  // namespace sluice::translate
