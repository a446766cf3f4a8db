#include "translate/anthropic_to_openai/anthropic_to_openai.h"

#include <map>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/anthropic_to_openai/request.h"

// Response facts: shared/reference/provider-apis.md §1.2-1.4 (OpenAI), §2.2-2.4 (Anthropic),
// §7.6 (reverse finish reasons, as envoyproxy/ai-gateway's anthropic_openai.go), §7.7, §7.8.
//
// Mapping decisions:
// - finish_reason: stop -> end_turn, length -> max_tokens, tool_calls/function_call ->
//   tool_use, content_filter -> refusal; a message that carried `refusal` text -> refusal.
//   OpenAI does not say which stop sequence matched, so stop_sequence is always null.
// - `reasoning_content` (or `reasoning`, as some OpenAI-compatible servers name it) becomes a
//   thinking block with an empty signature; it cannot be verified if sent back to Anthropic.
// - usage: input_tokens = prompt_tokens - cached_tokens - cache_creation_input_tokens (the
//   latter a non-standard extension); cache_read_input_tokens = cached_tokens. OpenAI reports
//   usage last, so a stream's message_start says 0 input tokens and the real counts come in
//   message_delta.usage (which Anthropic's newer API also fills).
// - The stream is re-framed block by block: a block closes when another starts. A tool call
//   that starts while the open call's arguments are not yet one whole JSON value (an upstream
//   interleaving the fragments of parallel calls) is held, with its fragments, until the open
//   call's arguments are whole (or another kind of block, or the end, comes); so each
//   tool_use block gets all of its input_json_deltas between its start and its stop. Only a
//   fragment for a call whose arguments were already whole, or that follows text after it,
//   arrives late; it is still sent on its call's (stopped) block index rather than dropped.
//   "Whole" is an object or array with balanced brackets (tracked per fragment): a call whose
//   arguments never become one (a tool without parameters streamed as "", malformed output)
//   holds the calls after it until the finish, when they go out whole; nothing is lost.
namespace sluice::translate {
namespace {

using json::Value;
namespace internal = anthropic_to_openai_internal;

// A buffered (non-SSE) answer larger than this is refused rather than held.
constexpr size_t kMaxBufferedBody = 32u << 20;

Value Str(std::string_view s) { return Value::String(std::string(s)); }

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed OpenAI response: ", what));
}

std::string_view StopReason(std::string_view finish_reason) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  return "end_turn";
}

// The Anthropic error type for an OpenAI error type seen inside a stream.
std::string_view StreamErrorType(std::string_view openai_type, std::string_view code) {
  for (std::string_view same : {"invalid_request_error", "authentication_error", "permission_error",
                                "rate_limit_error"}) {
    if (openai_type == same) return same;
  }
  // An overloaded or unavailable provider (as the OpenAI -> provider translators name it):
  // Anthropic's own word for it, which clients retry.
  for (std::string_view busy : {"overloaded_error", "overloaded", "unavailable", "service_unavailable"}) {
    if (code == busy) return "overloaded_error";
  }
  return "api_error";
}

Value AnthropicError(std::string_view type, std::string_view message) {
  Value err = Value::Object();
  err.Set("type", Str(type));
  err.Set("message", Str(message));
  Value root = Value::Object();
  root.Set("type", Str("error"));
  root.Set("error", std::move(err));
  return root;
}

Value AnthropicUsage(const Usage& u) {
  int64_t uncached = SubTokens(SubTokens(u.input_tokens, u.cached_input_tokens), u.cache_creation_input_tokens);
  Value v = Value::Object();
  v.Set("input_tokens", Value::Int(uncached < 0 ? 0 : uncached));
  v.Set("cache_creation_input_tokens", Value::Int(u.cache_creation_input_tokens));
  v.Set("cache_read_input_tokens", Value::Int(u.cached_input_tokens));
  v.Set("output_tokens", Value::Int(u.output_tokens));
  return v;
}

// OpenAI tool arguments (JSON text) -> Anthropic's input object.
absl::StatusOr<Value> ToolInput(const Value* args, std::string_view field) {
  if (args == nullptr || args->is_null()) return Value::Object();
  if (args->is_object()) return *args;
  if (!args->is_string()) return Malformed(StrCat(field, " is not a string"));
  if (StripWhitespace(args->as_string()).empty()) return Value::Object();
  auto parsed = json::Parse(args->as_string());
  if (!parsed.ok() || !parsed->is_object()) return Malformed(StrCat(field, " is not a JSON object"));
  return std::move(*parsed);
}

class AnthropicToOpenAITranslator final : public Translator {
 public:
  explicit AnthropicToOpenAITranslator(const config::Backend& backend) : backend_(backend) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    auto mapped = internal::MapRequest(req.doc, req.model);
    if (!mapped.ok()) return mapped.status();
    sse_ = mapped->stream;
    response_model_ = std::string(req.model);
    UpstreamRequest up;
    const std::string& prefix = backend_.schema_prefix;
    up.path = prefix.empty() ? std::string("/chat/completions") : StrCat("/", prefix, "/chat/completions");
    // Anthropic-only headers mean nothing to an OpenAI backend.
    up.headers.Remove("anthropic-version");
    up.headers.Remove("anthropic-beta");
    up.body = json::Serialize(mapped->body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
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
    buffer_.append(chunk);
    if (!end_of_stream) return absl::OkStatus();
    absl::Status st = TranslateCompletion(buffer_, out);
    buffer_.clear();
    return st;
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    *client_status = status;
    std::string message;
    auto doc = json::Parse(body);
    if (doc.ok()) {
      if (const Value* e = doc->Find("error"); e != nullptr && e->is_object()) {
        message = std::string(e->GetString("message"));
      }
    }
    if (message.empty()) {
      message = body.empty() ? StrCat("upstream returned HTTP ", status) : ValidUtf8(Utf8Prefix(body, 1024));
    }
    json::SerializeTo(AnthropicError(translate::AnthropicErrorType(status), message), out);
  }

  std::string StreamError(std::string_view message) override {
    return http::FormatSse("error", json::Serialize(AnthropicError("api_error", message)));
  }

  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return response_model_; }

 private:
  enum class Open { kNone, kText, kThinking, kTool };

  // ---- buffered answers ----

  absl::Status TranslateCompletion(std::string_view body, std::string* out) {
    auto doc = json::Parse(body);
    if (!doc.ok()) return Malformed(StrCat("body is not JSON: ", doc.status().message()));
    if (!doc->is_object()) return Malformed("body is not a JSON object");
    if (const Value* e = doc->Find("error"); e != nullptr && e->is_object()) {
      return absl::UnavailableError(StrCat("upstream error: ", e->GetString("message")));
    }
    const Value* choices = doc->Find("choices");
    if (choices == nullptr || !choices->is_array() || choices->size() == 0) {
      return Malformed("`choices` is empty or missing");
    }
    const Value& choice = choices->items()[0];
    const Value* msg = choice.Find("message");
    if (msg == nullptr || !msg->is_object()) return Malformed("choices[0].message is missing");

    Value content = Value::Array();
    std::string_view reasoning = msg->GetString("reasoning_content");
    if (reasoning.empty()) reasoning = msg->GetString("reasoning");
    if (!reasoning.empty()) {
      Value b = Value::Object();
      b.Set("type", Str("thinking"));
      b.Set("thinking", Str(reasoning));
      b.Set("signature", Str(""));
      content.Append(std::move(b));
    }
    std::string text;
    if (const Value* c = msg->Find("content"); c != nullptr && c->is_string()) {
      text = c->as_string();
    } else if (c != nullptr && c->is_array()) {
      for (const Value& part : c->items()) text.append(part.GetString("text"));
    }
    std::string_view refusal = msg->GetString("refusal");
    text.append(refusal);
    if (!text.empty()) {
      Value b = Value::Object();
      b.Set("type", Str("text"));
      b.Set("text", Value::String(std::move(text)));
      content.Append(std::move(b));
    }
    if (const Value* calls = msg->Find("tool_calls"); calls != nullptr && calls->is_array()) {
      for (size_t i = 0; i < calls->items().size(); ++i) {
        const Value& call = calls->items()[i];
        const Value* fn = call.Find("function");
        auto input = ToolInput(fn != nullptr ? fn->Find("arguments") : nullptr,
                               StrCat("choices[0].message.tool_calls[", i, "].function.arguments"));
        if (!input.ok()) return input.status();
        Value b = Value::Object();
        b.Set("type", Str("tool_use"));
        b.Set("id", Str(call.GetString("id")));
        b.Set("name", Str(fn != nullptr ? fn->GetString("name") : std::string_view()));
        b.Set("input", std::move(*input));
        content.Append(std::move(b));
      }
    }
    ReadOpenAIUsage(doc->Find("usage"), &usage_);
    if (std::string_view m = doc->GetString("model"); !m.empty()) response_model_ = std::string(m);
    std::string_view stop = refusal.empty() ? StopReason(choice.GetString("finish_reason")) : "refusal";

    Value resp = Value::Object();
    resp.Set("id", Str(doc->GetString("id")));
    resp.Set("type", Str("message"));
    resp.Set("role", Str("assistant"));
    resp.Set("model", Str(response_model_));
    resp.Set("content", std::move(content));
    resp.Set("stop_reason", Str(stop));
    resp.Set("stop_sequence", Value());
    resp.Set("usage", AnthropicUsage(usage_));
    json::SerializeTo(resp, out);
    return absl::OkStatus();
  }

  // ---- streams ----

  absl::Status StreamBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    if (done_) return absl::OkStatus();  // after [DONE] or an error: ignore the rest
    // OnEvent never fails after setting done_, so a failure is always reported.
    absl::Status fed = parser_.Feed(
        chunk, [&](const http::SseEventView& ev) { return done_ ? absl::OkStatus() : OnEvent(ev, out); });
    if (done_) return absl::OkStatus();
    RETURN_IF_ERROR(fed);
    if (!end_of_stream) return absl::OkStatus();
    if (parser_.HasPartial()) return Malformed("the stream ended in the middle of an event");
    // Some OpenAI-compatible servers end without [DONE]; a finished answer is still whole.
    if (!stop_reason_.empty()) {
      Finish(out);
      return absl::OkStatus();
    }
    return Malformed("the stream ended before a finish_reason");
  }

  absl::Status OnEvent(const http::SseEventView& ev, std::string* out) {
    std::string_view data = StripWhitespace(ev.data);
    if (data.empty()) return absl::OkStatus();
    if (data == "[DONE]") {
      if (!started_) return Malformed("[DONE] before any chunk");
      Finish(out);
      return absl::OkStatus();
    }
    auto parsed = json::Parse(data);
    if (!parsed.ok() || !parsed->is_object()) return Malformed("an event does not carry a JSON object");
    const Value& doc = *parsed;
    if (const Value* e = doc.Find("error"); e != nullptr && e->is_object()) {
      // An error inside a 200 stream: Anthropic clients expect an `error` event, then the end.
      std::string_view message = e->GetString("message");
      if (message.empty()) message = "upstream error";
      Value err = AnthropicError(StreamErrorType(e->GetString("type"), e->GetString("code")), message);
      out->append(http::FormatSse("error", json::Serialize(err)));
      done_ = true;
      return absl::OkStatus();
    }
    if (!started_) Start(doc, out);
    ReadOpenAIUsage(doc.Find("usage"), &usage_);  // the include_usage chunk, or null elsewhere
    const Value* choices = doc.Find("choices");
    if (choices == nullptr || !choices->is_array()) return absl::OkStatus();
    for (const Value& choice : choices->items()) {
      if (const Value* i = choice.Find("index"); i != nullptr && i->is_number() && i->as_int() != 0) continue;
      if (const Value* delta = choice.Find("delta"); delta != nullptr && delta->is_object()) {
        RETURN_IF_ERROR(OnDelta(*delta, out));
      }
      if (std::string_view fr = choice.GetString("finish_reason"); !fr.empty()) {
        stop_reason_ = std::string(refusal_ ? std::string_view("refusal") : StopReason(fr));
        ReleaseHeld(true, out);
        ReleaseProse(true, out);
        CloseBlock(out);
      }
    }
    return absl::OkStatus();
  }

  void Start(const Value& chunk, std::string* out) {
    started_ = true;
    if (std::string_view m = chunk.GetString("model"); !m.empty()) response_model_ = std::string(m);
    Value usage = Value::Object();
    usage.Set("input_tokens", Value::Int(0));
    usage.Set("output_tokens", Value::Int(0));
    Value msg = Value::Object();
    msg.Set("id", Str(chunk.GetString("id")));
    msg.Set("type", Str("message"));
    msg.Set("role", Str("assistant"));
    msg.Set("model", Str(response_model_));
    msg.Set("content", Value::Array());
    msg.Set("stop_reason", Value());
    msg.Set("stop_sequence", Value());
    msg.Set("usage", std::move(usage));
    Value ev = Value::Object();
    ev.Set("type", Str("message_start"));
    ev.Set("message", std::move(msg));
    Emit("message_start", ev, out);
  }

  absl::Status OnDelta(const Value& delta, std::string* out) {
    std::string_view reasoning = delta.GetString("reasoning_content");
    if (reasoning.empty()) reasoning = delta.GetString("reasoning");
    if (!reasoning.empty()) Prose(Open::kThinking, reasoning, out);
    std::string_view text = delta.GetString("content");
    if (std::string_view refusal = delta.GetString("refusal"); !refusal.empty()) {
      refusal_ = true;
      text = refusal;
    }
    if (!text.empty()) Prose(Open::kText, text, out);
    const Value* calls = delta.Find("tool_calls");
    if (calls == nullptr || !calls->is_array()) return absl::OkStatus();
    for (size_t pos = 0; pos < calls->items().size(); ++pos) {
      const Value& call = calls->items()[pos];
      const Value* idx = call.Find("index");
      int64_t tool = idx != nullptr && idx->is_number() ? idx->as_int() : static_cast<int64_t>(pos);
      const Value* fn = call.Find("function");
      std::string_view args = fn != nullptr ? fn->GetString("arguments") : std::string_view();
      auto [it, fresh] = tools_.try_emplace(tool);
      ToolCall& c = it->second;
      if (fresh) {
        std::string_view id = call.GetString("id");
        // Some OpenAI-compatible servers leave the id out; a stable one is made up.
        c.id = id.empty() ? StrCat("toolu_sluice_", tool) : std::string(id);
        c.name = fn != nullptr ? fn->GetString("name") : std::string_view();
        // A call that starts while the open one's arguments are not yet whole means the
        // upstream interleaves parallel calls: hold it until the open one is whole.
        if (!held_.empty() || (open_ == Open::kTool && !tools_[live_tool_].shape.Whole())) {
          held_.push_back(tool);
        } else {
          StartTool(tool, out);
        }
      }
      c.args.append(args);
      c.shape.Add(args);
      if (c.block < 0) continue;  // held: its fragments go out with its start
      if (open_ != Open::kTool || c.block != open_index_) {
        // Its block was closed (text, thinking or another call came between): Anthropic has
        // no way to add to it, and a delta outside its block breaks strict clients.
        if (StripWhitespace(args).empty()) continue;
        return Malformed(StrCat("tool call ", tool, " continues after its content block was closed"));
      }
      if (!args.empty()) AppendAnthropicDeltaEvent(c.block, "input_json_delta", "partial_json", args, out);
      if (tool == live_tool_) {
        ReleaseHeld(false, out);
        ReleaseProse(false, out);
      }
    }
    return absl::OkStatus();
  }

  // Text or thinking. While the open tool call's arguments are not yet one JSON value (or calls
  // are held), it is held, in order: opening its block would close the call's, and the rest of
  // the arguments would then have no block to go to.
  void Prose(Open kind, std::string_view text, std::string* out) {
    if (!prose_.empty() || !held_.empty() || ToolIncomplete()) {
      if (prose_.empty() || prose_.back().kind != kind) prose_.push_back(HeldProse{kind, {}});
      prose_.back().text.append(text);
      return;
    }
    EmitProse(kind, text, out);
  }

  void EmitProse(Open kind, std::string_view text, std::string* out) {
    ReleaseHeld(true, out);
    if (open_ != kind) {
      Value block = Value::Object();
      if (kind == Open::kThinking) {
        block.Set("type", Str("thinking"));
        block.Set("thinking", Str(""));
        block.Set("signature", Str(""));
      } else {
        block.Set("type", Str("text"));
        block.Set("text", Str(""));
      }
      OpenBlock(kind, std::move(block), out);
    }
    if (kind == Open::kThinking) {
      AppendAnthropicDeltaEvent(open_index_, "thinking_delta", "thinking", text, out);
    } else {
      AppendAnthropicDeltaEvent(open_index_, "text_delta", "text", text, out);
    }
  }

  // Sends held text and thinking once no call is held and the open one is whole, or now (`all`:
  // the answer is finishing).
  void ReleaseProse(bool all, std::string* out) {
    if (prose_.empty() || (!all && (!held_.empty() || ToolIncomplete()))) return;
    std::vector<HeldProse> prose = std::exchange(prose_, {});
    for (const HeldProse& p : prose) EmitProse(p.kind, p.text, out);
  }

  bool ToolIncomplete() const {
    if (open_ != Open::kTool) return false;
    auto it = tools_.find(live_tool_);
    return it != tools_.end() && !it->second.shape.Whole();
  }


  // Opens the tool_use block of call `tool` (closing the open block).
  void StartTool(int64_t tool, std::string* out) {
    ToolCall& c = tools_[tool];
    Value block = Value::Object();
    block.Set("type", Str("tool_use"));
    block.Set("id", Str(c.id));
    block.Set("name", Str(c.name));
    block.Set("input", Value::Object());
    OpenBlock(Open::kTool, std::move(block), out);
    c.block = open_index_;
    live_tool_ = tool;
  }

  // Sends held calls, oldest first, each with the arguments gathered so far: while the open
  // call's arguments are whole, or all of them (`all`: before another kind of block, or the end).
  void ReleaseHeld(bool all, std::string* out) {
    while (!held_.empty() && (all || open_ != Open::kTool || tools_[live_tool_].shape.Whole())) {
      int64_t tool = held_.front();
      held_.erase(held_.begin());
      StartTool(tool, out);
      const ToolCall& c = tools_[tool];
      if (!c.args.empty()) AppendAnthropicDeltaEvent(c.block, "input_json_delta", "partial_json", c.args, out);
    }
  }

  void OpenBlock(Open kind, Value&& block, std::string* out) {
    CloseBlock(out);
    open_ = kind;
    open_index_ = next_index_++;
    Value ev = Value::Object();
    ev.Set("type", Str("content_block_start"));
    ev.Set("index", Value::Int(open_index_));
    ev.Set("content_block", std::move(block));
    Emit("content_block_start", ev, out);
  }

  void CloseBlock(std::string* out) {
    if (open_ == Open::kNone) return;
    Value ev = Value::Object();
    ev.Set("type", Str("content_block_stop"));
    ev.Set("index", Value::Int(open_index_));
    Emit("content_block_stop", ev, out);
    open_ = Open::kNone;
  }

  void Finish(std::string* out) {
    ReleaseHeld(true, out);
    ReleaseProse(true, out);
    CloseBlock(out);
    Value delta = Value::Object();
    delta.Set("stop_reason", Str(stop_reason_.empty() ? std::string_view("end_turn") : stop_reason_));
    delta.Set("stop_sequence", Value());
    Value ev = Value::Object();
    ev.Set("type", Str("message_delta"));
    ev.Set("delta", std::move(delta));
    ev.Set("usage", AnthropicUsage(usage_));
    Emit("message_delta", ev, out);
    Value stop = Value::Object();
    stop.Set("type", Str("message_stop"));
    Emit("message_stop", stop, out);
    done_ = true;
  }

  static void Emit(std::string_view event, const Value& data, std::string* out) {
    StrAppend(out, "event: ", event, "\ndata: ");
    json::SerializeTo(data, out);
    out->append("\n\n");
  }

  const config::Backend& backend_;  // outlives the translator (the request's config snapshot)
  bool sse_ = false;
  std::string response_model_;
  Usage usage_;

  std::string buffer_;  // buffered answer so far

  http::SseParser parser_;
  bool started_ = false;
  bool done_ = false;
  bool refusal_ = false;
  std::string stop_reason_;  // Anthropic's, once a finish_reason arrived
  Open open_ = Open::kNone;
  int64_t open_index_ = 0;
  int64_t next_index_ = 0;
  // Whether arguments streamed so far form a whole JSON object or array (brackets balanced
  // outside strings), followed fragment by fragment: O(1) per byte, however long the call.
  struct JsonShape {
    int depth = 0;
    bool in_string = false;
    bool escape = false;
    bool closed = false;  // a top-level object or array ended
    void Add(std::string_view fragment) {
      for (char c : fragment) {
        if (in_string) {
          if (escape) escape = false;
          else if (c == '\\') escape = true;
          else if (c == '"') in_string = false;
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
          if (--depth == 0) closed = true;
        }
      }
    }
    bool Whole() const { return closed && depth == 0 && !in_string; }
  };
  struct ToolCall {
    std::string id, name;
    std::string args;    // the arguments so far
    JsonShape shape;     // of args
    int64_t block = -1;  // its Anthropic block index, once its content_block_start went out
  };
  std::map<int64_t, ToolCall> tools_;  // by OpenAI tool index
  std::vector<int64_t> held_;          // calls not started yet, oldest first
  struct HeldProse {
    Open kind;  // kText or kThinking
    std::string text;
  };
  std::vector<HeldProse> prose_;       // text/thinking held behind an incomplete call, in order
  int64_t live_tool_ = -1;             // the call whose block is open when open_ == kTool
};

class AnthropicToOpenAIFactory final : public TranslatorFactory {
 public:
  Endpoint endpoint() const override { return Endpoint::kMessages; }
  Dialect from() const override { return Dialect::kAnthropic; }
  config::ApiSchema to() const override { return config::ApiSchema::kOpenAI; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AnthropicToOpenAITranslator>(b);
  }
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewAnthropicToOpenAIFactory() {
  return std::make_unique<AnthropicToOpenAIFactory>();
}

}  // namespace sluice::translate
