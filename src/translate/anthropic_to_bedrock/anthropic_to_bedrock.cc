#include "translate/anthropic_to_bedrock/anthropic_to_bedrock.h"

#include <optional>
#include <string>
#include <vector>

#include "common/strings.h"
#include "translate/translator.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/anthropic_to_awsanthropic/bedrock_errors.h"
#include "translate/openai_to_bedrock/bedrock_common.h"
#include "translate/openai_to_bedrock/request.h"

// Facts: shared/reference/provider-apis.md §2 (Anthropic Messages), §3 (Converse,
// ConverseStream, errors); envoy-ai-gateway.md §1.3 (AWSBedrock paths).
namespace sluice::translate {
namespace {

using json::Value;

absl::Status Invalid(std::string_view field, std::string_view what) { return InvalidField(field, what); }

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed Bedrock Converse answer: ", what));
}

Value Str(std::string_view s) { return Value::String(std::string(s)); }

// cache_control {"type":"ephemeral","ttl"?:"5m"|"1h"} on a block, system block or tool -> a
// Converse cachePoint after it, with the same TTL (CachePointBlock.ttl takes exactly those two:
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html).
// nullopt without cache_control.
absl::StatusOr<std::optional<Value>> CachePointFor(const Value& holder, std::string_view field) {
  const Value* cc = holder.Find("cache_control");
  if (cc == nullptr || cc->is_null()) return std::optional<Value>();
  if (!cc->is_object() || cc->GetString("type") != "ephemeral") {
    return Invalid(StrCat(field, ".cache_control.type"), "must be \"ephemeral\"");
  }
  Value cp = Value::Object();
  cp.Set("type", Str("default"));
  if (const Value* ttl = cc->Find("ttl"); ttl != nullptr && !ttl->is_null()) {
    if (!ttl->is_string() || (ttl->as_string() != "5m" && ttl->as_string() != "1h")) {
      return Invalid(StrCat(field, ".cache_control.ttl"), "must be \"5m\" or \"1h\"");
    }
    cp.Set("ttl", Value(*ttl));
  }
  Value block = Value::Object();
  block.Set("cachePoint", std::move(cp));
  return std::optional<Value>(std::move(block));
}

absl::Status AppendWithCachePoint(const Value& holder, std::string_view field, Value&& mapped, Value* out) {
  auto point = CachePointFor(holder, field);
  if (!point.ok()) return point.status();
  out->Append(std::move(mapped));
  if (*point) out->Append(std::move(**point));
  return absl::OkStatus();
}

// An Anthropic document block -> Converse {"document":{"format","name","source":{"bytes"}}}.
//   source base64 {media_type, data}: the bytes as they are, format from the media type;
//   source text {data}: the text as a txt document (base64 of its UTF-8 bytes).
// The name is the title (sanitised, unique per request), else "document". `context` goes
// along; `citations` does not: Converse would answer with citationsContent blocks this
// translator does not map back, and the cited text would be lost. URL, file and content
// sources would need a fetch or have no Converse form: InvalidArgument.
absl::StatusOr<Value> MapDocument(const Value& block, std::string_view field, std::vector<std::string>* names) {
  const Value* src = block.Find("source");
  std::string_view source_type = src != nullptr ? src->GetString("type") : std::string_view();
  std::string source_field = StrCat(field, ".source");
  std::string_view format;
  std::string bytes;
  if (source_type == "base64") {
    std::string_view media = src->GetString("media_type");
    format = openai_to_bedrock_internal::DocumentFormatForMediaType(media);
    if (format.empty()) {
      return Invalid(StrCat(source_field, ".media_type"),
                     StrCat("unsupported document media_type \"", media,
                            "\"; Bedrock accepts pdf, csv, doc, docx, xls, xlsx, html, txt and md documents"));
    }
    bytes = std::string(src->GetString("data"));
  } else if (source_type == "text") {
    format = "txt";
    bytes = crypto::Base64Encode(src->GetString("data"));
  } else {
    return Invalid(StrCat(source_field, ".type"),
                   StrCat("unsupported document source \"", source_type,
                          "\"; only base64 and text documents can be sent to Bedrock"));
  }
  if (bytes.empty()) return Invalid(StrCat(source_field, ".data"), "must not be empty");
  Value source = Value::Object();
  source.Set("bytes", Str(bytes));
  Value doc = Value::Object();
  doc.Set("format", Str(format));
  // A title that is a filename of this very format loses the extension ("a.pdf" -> "a");
  // any other '.' is just a character Bedrock does not allow in names.
  std::string_view title = block.GetString("title");
  bool strip = title.size() > format.size() + 1 && title.substr(title.size() - format.size()) == format &&
               title[title.size() - format.size() - 1] == '.';
  doc.Set("name", Str(openai_to_bedrock_internal::DocumentName(title, strip, names)));
  doc.Set("source", std::move(source));
  if (std::string_view context = block.GetString("context"); !context.empty()) doc.Set("context", Str(context));
  Value out = Value::Object();
  out.Set("document", std::move(doc));
  return out;
}

// An Anthropic image block -> Converse {"image":{"format","source":{"bytes"}}}, or for a url
// source holding an s3:// URL, {"image":{"format","source":{"s3Location":{"uri"}}}} (Bedrock
// reads the object itself).
absl::StatusOr<Value> MapImage(const Value& block, std::string_view field) {
  const Value* src = block.Find("source");
  if (src != nullptr && src->GetString("type") == "url" && src->GetString("url").substr(0, 5) == "s3://") {
    std::string_view url = src->GetString("url");
    auto format = openai_to_bedrock_internal::S3ImageFormat(url);
    if (!format.ok()) return Invalid(StrCat(field, ".source.url"), ToStd(format.status().message()));
    Value location = Value::Object();
    location.Set("uri", Str(url));
    Value source = Value::Object();
    source.Set("s3Location", std::move(location));
    Value image = Value::Object();
    image.Set("format", Str(*format));
    image.Set("source", std::move(source));
    Value out = Value::Object();
    out.Set("image", std::move(image));
    return out;
  }
  if (src == nullptr || src->GetString("type") != "base64") {
    return Invalid(field, "only base64 image sources (or a url source with an s3:// URL) can be sent to Bedrock");
  }
  std::string_view media = src->GetString("media_type");
  std::string_view format = media.substr(media.find('/') == std::string_view::npos ? media.size() : media.find('/') + 1);
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    return Invalid(field, StrCat("unsupported image media_type \"", media, "\""));
  }
  Value source = Value::Object();
  source.Set("bytes", Str(src->GetString("data")));
  Value image = Value::Object();
  image.Set("format", Str(format));
  image.Set("source", std::move(source));
  Value out = Value::Object();
  out.Set("image", std::move(image));
  return out;
}

absl::StatusOr<Value> MapToolResult(const Value& block, std::string_view field, std::vector<std::string>* names) {
  Value content = Value::Array();
  const Value* c = block.Find("content");
  if (c != nullptr && c->is_string()) {
    Value t = Value::Object();
    t.Set("text", Value(*c));
    content.Append(std::move(t));
  } else if (c != nullptr && c->is_array()) {
    for (size_t i = 0; i < c->items().size(); ++i) {
      const Value& part = c->items()[i];
      std::string sub = StrCat(field, ".content[", i, "]");
      std::string_view type = part.GetString("type");
      if (type == "text") {
        Value t = Value::Object();
        t.Set("text", Str(part.GetString("text")));
        content.Append(std::move(t));
      } else if (type == "image") {
        auto img = MapImage(part, sub);
        if (!img.ok()) return img.status();
        content.Append(std::move(*img));
      } else if (type == "document") {
        auto doc = MapDocument(part, sub, names);
        if (!doc.ok()) return doc.status();
        content.Append(std::move(*doc));
      } else {
        return Invalid(sub, StrCat("unsupported tool_result content type \"", type, "\""));
      }
    }
  } else if (c != nullptr && !c->is_null()) {
    return Invalid(field, "content must be a string or an array");
  }
  Value tr = Value::Object();
  tr.Set("toolUseId", Str(block.GetString("tool_use_id")));
  tr.Set("content", std::move(content));
  if (block.GetBool("is_error", false)) tr.Set("status", Str("error"));
  Value out = Value::Object();
  out.Set("toolResult", std::move(tr));
  return out;
}

absl::StatusOr<Value> MapBlock(const Value& block, std::string_view field, std::vector<std::string>* names) {
  std::string_view type = block.GetString("type");
  Value out = Value::Object();
  if (type == "text") {
    out.Set("text", Str(block.GetString("text")));
  } else if (type == "image") {
    return MapImage(block, field);
  } else if (type == "tool_use") {
    Value tu = Value::Object();
    tu.Set("toolUseId", Str(block.GetString("id")));
    tu.Set("name", Str(block.GetString("name")));
    const Value* input = block.Find("input");
    tu.Set("input", input != nullptr ? Value(*input) : Value::Object());
    out.Set("toolUse", std::move(tu));
  } else if (type == "document") {
    return MapDocument(block, field, names);
  } else if (type == "tool_result") {
    return MapToolResult(block, field, names);
  } else if (type == "thinking") {
    Value rt = Value::Object();
    rt.Set("text", Str(block.GetString("thinking")));
    if (std::string_view sig = block.GetString("signature"); !sig.empty()) rt.Set("signature", Str(sig));
    Value rc = Value::Object();
    rc.Set("reasoningText", std::move(rt));
    out.Set("reasoningContent", std::move(rc));
  } else if (type == "redacted_thinking") {
    Value rc = Value::Object();
    rc.Set("redactedContent", Str(block.GetString("data")));
    out.Set("reasoningContent", std::move(rc));
  } else {
    return Invalid(field, StrCat("unsupported content block type \"", type, "\""));
  }
  return out;
}

absl::StatusOr<Value> MapRequest(const Value& doc) {
  if (!doc.is_object()) return Invalid("body", "must be a JSON object");
  Value body = Value::Object();

  if (const Value* system = doc.Find("system"); system != nullptr && !system->is_null()) {
    Value sys = Value::Array();
    if (system->is_string()) {
      Value t = Value::Object();
      t.Set("text", Value(*system));
      sys.Append(std::move(t));
    } else if (system->is_array()) {
      for (size_t i = 0; i < system->items().size(); ++i) {
        const Value& b = system->items()[i];
        if (b.GetString("type") != "text") return Invalid(StrCat("system[", i, "]"), "only text blocks are supported");
        Value t = Value::Object();
        t.Set("text", Str(b.GetString("text")));
        if (absl::Status st = AppendWithCachePoint(b, StrCat("system[", i, "]"), std::move(t), &sys); !st.ok()) {
          return st;
        }
      }
    } else {
      return Invalid("system", "must be a string or an array");
    }
    body.Set("system", std::move(sys));
  }

  const Value* messages = doc.Find("messages");
  if (messages == nullptr || !messages->is_array()) return Invalid("messages", "required array");
  Value msgs = Value::Array();
  std::vector<std::string> document_names;
  std::string_view last_role;
  bool tool_history = false;  // a toolUse or toolResult block: Converse then needs a toolConfig
  for (size_t i = 0; i < messages->items().size(); ++i) {
    const Value& m = messages->items()[i];
    std::string field = StrCat("messages[", i, "]");
    std::string_view role = m.GetString("role");
    if (role != "user" && role != "assistant") return Invalid(StrCat(field, ".role"), "must be user or assistant");
    Value content = Value::Array();
    const Value* c = m.Find("content");
    if (c != nullptr && c->is_string()) {
      Value t = Value::Object();
      t.Set("text", Value(*c));
      content.Append(std::move(t));
    } else if (c != nullptr && c->is_array()) {
      for (size_t j = 0; j < c->items().size(); ++j) {
        const Value& b = c->items()[j];
        std::string block_field = StrCat(field, ".content[", j, "]");
        auto mapped = MapBlock(b, block_field, &document_names);
        if (!mapped.ok()) return mapped.status();
        if (mapped->Find("toolUse") != nullptr || mapped->Find("toolResult") != nullptr) tool_history = true;
        if (absl::Status st = AppendWithCachePoint(b, block_field, std::move(*mapped), &content); !st.ok()) return st;
      }
    } else {
      return Invalid(StrCat(field, ".content"), "must be a string or an array");
    }
    if (role == last_role) {
      // Anthropic merges consecutive turns of one role (e.g. a tool_result message followed by
      // a user text message); Converse rejects them ("must alternate"): merge them here.
      Value& prev = *msgs.items().back().Find("content");
      for (Value& block : content.items()) prev.Append(std::move(block));
      continue;
    }
    last_role = role;
    Value out = Value::Object();
    out.Set("role", Str(role));
    out.Set("content", std::move(content));
    msgs.Append(std::move(out));
  }
  body.Set("messages", std::move(msgs));

  Value inference = Value::Object();
  if (const Value* v = doc.Find("max_tokens"); v != nullptr && v->is_number()) inference.Set("maxTokens", Value(*v));
  if (const Value* v = doc.Find("temperature"); v != nullptr && v->is_number()) inference.Set("temperature", Value(*v));
  if (const Value* v = doc.Find("top_p"); v != nullptr && v->is_number()) inference.Set("topP", Value(*v));
  if (const Value* v = doc.Find("stop_sequences"); v != nullptr && v->is_array()) {
    Value stops = Value::Array();  // Bedrock rejects an empty stop sequence
    for (const Value& stop : v->items()) {
      if (stop.is_string() && !stop.as_string().empty()) stops.Append(Value(stop));
    }
    if (stops.size() > 0) inference.Set("stopSequences", std::move(stops));
  }
  if (inference.size() > 0) body.Set("inferenceConfig", std::move(inference));

  const Value* tools = doc.Find("tools");
  const Value* choice = doc.Find("tool_choice");
  // tool_choice none: Converse has no such choice (no toolChoice means auto), so the tools are
  // left out, unless the conversation already holds tool blocks, which need a toolConfig.
  bool choice_none = choice != nullptr && choice->is_object() && choice->GetString("type") == "none";
  if (tools != nullptr && tools->is_array() && tools->size() > 0 && !(choice_none && !tool_history)) {
    Value specs = Value::Array();
    for (size_t i = 0; i < tools->items().size(); ++i) {
      const Value& t = tools->items()[i];
      std::string_view type = t.GetString("type");
      if (!type.empty() && type != "custom") {
        return Invalid(StrCat("tools[", i, "]"), StrCat("server tool \"", type, "\" is not supported on Bedrock Converse"));
      }
      Value spec = Value::Object();
      spec.Set("name", Str(t.GetString("name")));
      if (std::string_view d = t.GetString("description"); !d.empty()) spec.Set("description", Str(d));
      Value schema = Value::Object();
      const Value* is = t.Find("input_schema");
      schema.Set("json", is != nullptr ? Value(*is) : Value::Object());
      spec.Set("inputSchema", std::move(schema));
      Value entry = Value::Object();
      entry.Set("toolSpec", std::move(spec));
      if (absl::Status st = AppendWithCachePoint(t, StrCat("tools[", i, "]"), std::move(entry), &specs); !st.ok()) {
        return st;
      }
    }
    Value config = Value::Object();
    config.Set("tools", std::move(specs));
    if (choice != nullptr && choice->is_object()) {
      std::string_view type = choice->GetString("type");
      Value tc = Value::Object();
      if (type == "auto") {
        tc.Set("auto", Value::Object());
      } else if (type == "any") {
        tc.Set("any", Value::Object());
      } else if (type == "tool") {
        Value named = Value::Object();
        named.Set("name", Str(choice->GetString("name")));
        tc.Set("tool", std::move(named));
      } else if (type != "none") {
        return Invalid("tool_choice.type", StrCat("unsupported \"", type, "\""));
      }
      if (tc.size() > 0) config.Set("toolChoice", std::move(tc));
    }
    body.Set("toolConfig", std::move(config));
  }

  // Anthropic's structured outputs (output_format json_schema) -> Converse outputConfig, the
  // schema as a JSON string.
  if (const Value* of = doc.Find("output_format"); of != nullptr && !of->is_null()) {
    const Value* schema = of->Find("schema");
    if (!of->is_object() || of->GetString("type") != "json_schema" || schema == nullptr || !schema->is_object()) {
      return Invalid("output_format", "must be {\"type\":\"json_schema\",\"schema\":{...}}");
    }
    Value json_schema = Value::Object();
    json_schema.Set("schema", Str(json::Serialize(*schema)));
    Value structure = Value::Object();
    structure.Set("jsonSchema", std::move(json_schema));
    Value format = Value::Object();
    format.Set("type", Str("json_schema"));
    format.Set("structure", std::move(structure));
    Value output = Value::Object();
    output.Set("textFormat", std::move(format));
    body.Set("outputConfig", std::move(output));
  }

  Value extra = Value::Object();
  if (const Value* v = doc.Find("top_k"); v != nullptr && v->is_number()) extra.Set("top_k", Value(*v));
  if (const Value* v = doc.Find("thinking"); v != nullptr && v->is_object()) extra.Set("thinking", Value(*v));
  if (extra.size() > 0) body.Set("additionalModelRequestFields", std::move(extra));
  return body;
}

// Converse stopReason -> Anthropic stop_reason.
std::string_view StopReason(std::string_view r) {
  if (r == "tool_use" || r == "max_tokens" || r == "stop_sequence" || r == "end_turn") return r;
  if (r == "model_context_window_exceeded") return "max_tokens";
  if (r == "guardrail_intervened" || r == "content_filtered") return "refusal";
  return "end_turn";
}

int64_t IntField(const Value* obj, std::string_view key) {
  if (obj == nullptr) return 0;
  const Value* v = obj->Find(key);
  return v != nullptr && v->is_number() ? v->as_int() : 0;
}

class AnthropicToBedrockTranslator final : public Translator {
 public:
  explicit AnthropicToBedrockTranslator(const config::Backend&) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    stream_ = req.stream;
    model_ = std::string(req.client_model.empty() ? req.model : req.client_model);
    auto body = MapRequest(req.doc);
    if (!body.ok()) return body.status();
    UpstreamRequest up;
    up.path = openai_to_bedrock_internal::ModelPath(req.model, stream_ ? "/converse-stream" : "/converse");
    up.headers.Remove("anthropic-beta");
    up.headers.Remove("anthropic-version");
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", stream_ ? "application/vnd.amazon.eventstream" : "application/json");
    up.body = json::Serialize(*body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    std::string_view rid = headers.Get("x-amzn-requestid").value_or("");
    id_ = rid.empty() ? std::string("msg_bdrk") : StrCat("msg_bdrk_", rid);
    http::HeaderMutation m;
    if (stream_) {
      m.Set("content-type", "text/event-stream");
      m.Set("cache-control", "no-cache");
    } else {
      m.Set("content-type", "application/json");
    }
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (!error_.ok()) return error_;
    if (!stream_) {
      buffered_.append(chunk);
      if (!end_of_stream) return absl::OkStatus();
      return error_ = Buffered(out);
    }
    absl::Status fed =
        decoder_.Feed(chunk, [&](const http::EventStreamMessageView& m) { return OnMessage(m, out); });
    // After message_stop the client's answer is whole: an exception or a broken frame that
    // Bedrock sends after it must not follow it with an error event.
    if (finished_) return absl::OkStatus();
    if (!fed.ok()) return error_ = fed;
    if (!end_of_stream) return absl::OkStatus();
    if (decoder_.HasPartial()) return error_ = absl::DataLossError("ConverseStream ended in the middle of a message");
    if (!stop_reason_) return error_ = Malformed("the stream ended before messageStop");
    Finish(out);  // messageStop without metadata: usage as known
    return absl::OkStatus();
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    anthropic_bedrock_internal::ErrorToAnthropic(status, headers, body, client_status, out);
  }

  std::string StreamError(std::string_view message) override {
    return anthropic_bedrock_internal::StreamError(message);
  }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return anthropic_bedrock_internal::StreamError(message, AnthropicErrorType(e.status));
  }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return {}; }

 private:
  void ReadUsage(const Value* u) {
    if (u == nullptr || !u->is_object()) return;
    input_ = IntField(u, "inputTokens");
    usage_.output_tokens = IntField(u, "outputTokens");
    usage_.cached_input_tokens = IntField(u, "cacheReadInputTokens");
    usage_.cache_creation_input_tokens = IntField(u, "cacheWriteInputTokens");
    usage_.input_tokens =
        AddTokens(AddTokens(input_, usage_.cached_input_tokens), usage_.cache_creation_input_tokens);
    usage_.total_tokens = AddTokens(usage_.input_tokens, usage_.output_tokens);
  }

  Value UsageJson() const {
    Value u = Value::Object();
    u.Set("input_tokens", Value::Int(input_));
    u.Set("output_tokens", Value::Int(usage_.output_tokens));
    u.Set("cache_read_input_tokens", Value::Int(usage_.cached_input_tokens));
    u.Set("cache_creation_input_tokens", Value::Int(usage_.cache_creation_input_tokens));
    return u;
  }

  absl::Status Buffered(std::string* out) {
    auto doc = json::Parse(buffered_);
    buffered_.clear();
    if (!doc.ok() || !doc->is_object()) return Malformed("body is not a JSON object");
    const Value* output = doc->Find("output");
    const Value* message = output != nullptr ? output->Find("message") : nullptr;
    const Value* content = message != nullptr ? message->Find("content") : nullptr;
    Value blocks = Value::Array();
    if (content != nullptr && content->is_array()) {
      for (const Value& b : content->items()) {
        Value block = Value::Object();
        if (const Value* text = b.Find("text"); text != nullptr && text->is_string()) {
          block.Set("type", Str("text"));
          block.Set("text", Value(*text));
        } else if (const Value* tu = b.Find("toolUse"); tu != nullptr) {
          block.Set("type", Str("tool_use"));
          block.Set("id", Str(tu->GetString("toolUseId")));
          block.Set("name", Str(tu->GetString("name")));
          const Value* input = tu->Find("input");
          block.Set("input", input != nullptr ? Value(*input) : Value::Object());
        } else if (const Value* rc = b.Find("reasoningContent"); rc != nullptr) {
          if (const Value* rt = rc->Find("reasoningText"); rt != nullptr) {
            block.Set("type", Str("thinking"));
            block.Set("thinking", Str(rt->GetString("text")));
            block.Set("signature", Str(rt->GetString("signature")));
          } else {
            block.Set("type", Str("redacted_thinking"));
            block.Set("data", Str(rc->GetString("redactedContent")));
          }
        } else {
          continue;  // content kinds Anthropic has no block for
        }
        blocks.Append(std::move(block));
      }
    }
    ReadUsage(doc->Find("usage"));
    Value msg = Value::Object();
    msg.Set("id", Str(id_.empty() ? "msg_bdrk" : id_));
    msg.Set("type", Str("message"));
    msg.Set("role", Str("assistant"));
    msg.Set("model", Str(model_));
    msg.Set("content", std::move(blocks));
    msg.Set("stop_reason", Str(StopReason(doc->GetString("stopReason"))));
    msg.Set("stop_sequence", Value());
    msg.Set("usage", UsageJson());
    out->append(json::Serialize(msg));
    return absl::OkStatus();
  }

  void Emit(std::string_view type, const Value& data, std::string* out) {
    out->append(http::FormatSse(type, json::Serialize(data)));
  }

  void EnsureStarted(std::string* out) {
    if (started_) return;
    started_ = true;
    Value usage = Value::Object();
    usage.Set("input_tokens", Value::Int(0));
    usage.Set("output_tokens", Value::Int(0));
    Value msg = Value::Object();
    msg.Set("id", Str(id_.empty() ? "msg_bdrk" : id_));
    msg.Set("type", Str("message"));
    msg.Set("role", Str("assistant"));
    msg.Set("model", Str(model_));
    msg.Set("content", Value::Array());
    msg.Set("stop_reason", Value());
    msg.Set("stop_sequence", Value());
    msg.Set("usage", std::move(usage));
    Value ev = Value::Object();
    ev.Set("type", Str("message_start"));
    ev.Set("message", std::move(msg));
    Emit("message_start", ev, out);
  }

  void CloseBlock(std::string* out) {
    if (!open_) return;
    open_ = false;
    Value ev = Value::Object();
    ev.Set("type", Str("content_block_stop"));
    ev.Set("index", Value::Int(index_));
    Emit("content_block_stop", ev, out);
    ++index_;
  }

  // Opens a block for Bedrock block `bedrock_index` unless it is the open one.
  void OpenBlock(int64_t bedrock_index, Value&& content_block, std::string* out) {
    EnsureStarted(out);
    if (open_ && bedrock_index == bedrock_index_) return;
    CloseBlock(out);
    open_ = true;
    bedrock_index_ = bedrock_index;
    Value ev = Value::Object();
    ev.Set("type", Str("content_block_start"));
    ev.Set("index", Value::Int(index_));
    ev.Set("content_block", std::move(content_block));
    Emit("content_block_start", ev, out);
  }

  // One content_block_delta of the open block.
  void WriteDelta(std::string_view type, std::string_view field, std::string_view value, std::string* out) {
    AppendAnthropicDeltaEvent(index_, type, field, value, out);
  }

  void TextDelta(int64_t idx, std::string_view text, std::string* out) {
    if (!open_ || bedrock_index_ != idx) {
      Value cb = Value::Object();
      cb.Set("type", Str("text"));
      cb.Set("text", Str(""));
      OpenBlock(idx, std::move(cb), out);
    }
    WriteDelta("text_delta", "text", text, out);
  }

  absl::Status ToolInputDelta(int64_t idx, std::string_view input, std::string* out) {
    if (!open_ || bedrock_index_ != idx) return Malformed("toolUse delta outside a toolUse block");
    WriteDelta("input_json_delta", "partial_json", input, out);
    return absl::OkStatus();
  }

  void OpenThinking(int64_t idx, std::string* out) {
    if (open_ && bedrock_index_ == idx) return;
    Value cb = Value::Object();
    cb.Set("type", Str("thinking"));
    cb.Set("thinking", Str(""));
    cb.Set("signature", Str(""));
    OpenBlock(idx, std::move(cb), out);
  }

  // The common contentBlockDelta spelling without the general parser (see
  // bedrock_internal::MatchCompactDelta). True when handled (a failure included).
  bool FastDelta(std::string_view payload, std::string* out) {
    if (finished_) return false;
    json::CompactMatcher m(payload);
    bedrock_internal::CompactDelta d;
    if (!bedrock_internal::MatchCompactDelta(m, &d)) return false;
    using Kind = bedrock_internal::CompactDelta::Kind;
    if (d.kind == Kind::kText) {
      TextDelta(d.block, d.value, out);
    } else if (d.kind == Kind::kToolInput) {
      if (!open_ || bedrock_index_ != d.block) return false;  // the general path reports it
      WriteDelta("input_json_delta", "partial_json", d.value, out);
    } else {
      OpenThinking(d.block, out);
      WriteDelta("thinking_delta", "thinking", d.value, out);
    }
    return true;
  }

  void Finish(std::string* out) {
    EnsureStarted(out);
    CloseBlock(out);
    Value delta = Value::Object();
    delta.Set("stop_reason", Str(StopReason(stop_reason_.value_or("end_turn"))));
    delta.Set("stop_sequence", Value());
    Value ev = Value::Object();
    ev.Set("type", Str("message_delta"));
    ev.Set("delta", std::move(delta));
    ev.Set("usage", UsageJson());
    Emit("message_delta", ev, out);
    Value stop = Value::Object();
    stop.Set("type", Str("message_stop"));
    Emit("message_stop", stop, out);
    finished_ = true;
  }

  absl::Status OnMessage(const http::EventStreamMessageView& m, std::string* out) {
    if (auto exception = bedrock_internal::StreamException(m)) return *exception;
    if (finished_) return absl::OkStatus();
    std::string_view type = m.StringHeader(":event-type").value_or("");
    if (type == "contentBlockDelta" && FastDelta(m.payload, out)) return absl::OkStatus();
    auto doc = json::Parse(m.payload);
    if (!doc.ok() || !doc->is_object()) return Malformed(StrCat(type, " payload is not a JSON object"));
    int64_t idx = IntField(&*doc, "contentBlockIndex");
    if (type == "messageStart") {
      EnsureStarted(out);
    } else if (type == "contentBlockStart") {
      const Value* start = doc->Find("start");
      const Value* tu = start != nullptr ? start->Find("toolUse") : nullptr;
      if (tu == nullptr) return absl::OkStatus();  // other start kinds open on their first delta
      Value cb = Value::Object();
      cb.Set("type", Str("tool_use"));
      cb.Set("id", Str(tu->GetString("toolUseId")));
      cb.Set("name", Str(tu->GetString("name")));
      cb.Set("input", Value::Object());
      OpenBlock(idx, std::move(cb), out);
    } else if (type == "contentBlockDelta") {
      const Value* delta = doc->Find("delta");
      if (delta == nullptr || !delta->is_object()) return Malformed("contentBlockDelta without delta");
      if (const Value* text = delta->Find("text"); text != nullptr && text->is_string()) {
        TextDelta(idx, text->as_string(), out);
      } else if (const Value* tu = delta->Find("toolUse"); tu != nullptr) {
        return ToolInputDelta(idx, tu->GetString("input"), out);
      } else if (const Value* rc = delta->Find("reasoningContent"); rc != nullptr) {
        if (const Value* redacted = rc->Find("redactedContent"); redacted != nullptr) {
          Value cb = Value::Object();
          cb.Set("type", Str("redacted_thinking"));
          cb.Set("data", Value(*redacted));
          CloseBlock(out);
          OpenBlock(idx, std::move(cb), out);
          return absl::OkStatus();
        }
        OpenThinking(idx, out);
        if (const Value* t = rc->Find("text"); t != nullptr && t->is_string()) {
          WriteDelta("thinking_delta", "thinking", t->as_string(), out);
        } else if (const Value* sig = rc->Find("signature"); sig != nullptr && sig->is_string()) {
          WriteDelta("signature_delta", "signature", sig->as_string(), out);
        }
      }
    } else if (type == "contentBlockStop") {
      if (open_ && bedrock_index_ == idx) CloseBlock(out);
    } else if (type == "messageStop") {
      EnsureStarted(out);
      CloseBlock(out);
      stop_reason_ = std::string(doc->GetString("stopReason"));
    } else if (type == "metadata") {
      ReadUsage(doc->Find("usage"));
      if (stop_reason_) Finish(out);
    }
    return absl::OkStatus();
  }

  bool stream_ = false;
  std::string model_;
  std::string id_;
  Usage usage_;
  int64_t input_ = 0;  // Bedrock's inputTokens (uncached)
  absl::Status error_;
  std::string buffered_;

  http::EventStreamDecoder decoder_;
  bool started_ = false;
  bool open_ = false;
  int64_t index_ = 0;          // the Anthropic index of the open (or next) block
  int64_t bedrock_index_ = -1;  // the Bedrock contentBlockIndex of the open block
  std::optional<std::string> stop_reason_;
  bool finished_ = false;
};

class AnthropicToBedrockFactory final : public TranslatorFactory {
 public:
  Endpoint endpoint() const override { return Endpoint::kMessages; }
  Dialect from() const override { return Dialect::kAnthropic; }
  config::ApiSchema to() const override { return config::ApiSchema::kAWSBedrock; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AnthropicToBedrockTranslator>(b);
  }
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewAnthropicToBedrockFactory() {
  return std::make_unique<AnthropicToBedrockFactory>();
}

}  // namespace sluice::translate
