#include "translate/anthropic_to_openai/request.h"

#include <string>

#include "common/status_macros.h"
#include "common/strings.h"
#include "translate/translator.h"

// Field facts: shared/reference/provider-apis.md §1.1 (OpenAI), §2.1 (Anthropic), §7.
//
// Mapping decisions (what is lost):
// - `system` text blocks are joined with a blank line into one system message (OpenAI-
//   compatible servers such as vLLM and Ollama do not all take content parts there).
// - `thinking` is dropped: `reasoning_effort` is a 400 on non-reasoning OpenAI models, and
//   the gateway cannot tell which kind the backend serves. Thinking blocks in assistant
//   history are dropped too (OpenAI has no way to receive them).
// - `top_k`, `cache_control`, `service_tier`, `tool_result.is_error` and citations have no
//   OpenAI counterpart and are dropped.
// - tool_result blocks become `tool` messages placed before the rest of their user turn;
//   images inside a tool_result move into that user turn (OpenAI tool messages are text).
// - max_tokens -> max_completion_tokens (the field OpenAI's reasoning models require).
namespace sluice::translate::anthropic_to_openai_internal {
namespace {

using json::Value;

absl::Status Invalid(std::string_view field, std::string_view what) { return InvalidField(field, what); }

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);
  return out;
}

Value Str(std::string_view s) { return Value::String(std::string(s)); }

bool Present(const Value* v) { return v != nullptr && !v->is_null(); }

Value TextPart(std::string_view text) {
  Value p = Value::Object();
  p.Set("type", Str("text"));
  p.Set("text", Str(text));
  return p;
}

absl::StatusOr<Value> ImagePart(const Value& block, const std::string& field) {
  const Value* source = block.Find("source");
  if (source == nullptr || !source->is_object()) return Invalid(StrCat(field, ".source"), "is required");
  std::string_view type = source->GetString("type");
  std::string url;
  if (type == "base64") {
    url = StrCat("data:", source->GetString("media_type"), ";base64,", source->GetString("data"));
  } else if (type == "url") {
    url = std::string(source->GetString("url"));
  } else {
    return Invalid(StrCat(field, ".source.type"), StrCat("unsupported image source ", Quoted(type)));
  }
  Value image = Value::Object();
  image.Set("url", Value::String(std::move(url)));
  Value p = Value::Object();
  p.Set("type", Str("image_url"));
  p.Set("image_url", std::move(image));
  return p;
}

// Documents: inline PDFs become OpenAI file parts; plain-text documents become text.
absl::StatusOr<Value> DocumentPart(const Value& block, const std::string& field) {
  const Value* source = block.Find("source");
  std::string_view type = source != nullptr ? source->GetString("type") : std::string_view();
  std::string_view media_type = source != nullptr ? source->GetString("media_type") : std::string_view();
  if (type == "text") return TextPart(source->GetString("data"));
  if (type != "base64" || media_type != "application/pdf") {
    return Invalid(StrCat(field, ".source"),
                   "only base64 PDF and text documents are supported by OpenAI backends");
  }
  std::string_view title = block.GetString("title");
  Value file = Value::Object();
  file.Set("filename", Str(title.empty() ? std::string_view("document.pdf") : title));
  file.Set("file_data", Value::String(StrCat("data:application/pdf;base64,", source->GetString("data"))));
  Value p = Value::Object();
  p.Set("type", Str("file"));
  p.Set("file", std::move(file));
  return p;
}

// A lone text part is sent as a plain string, which every OpenAI-compatible server takes.
Value CollapseParts(Value&& parts) {
  if (parts.size() == 1 && parts.items()[0].GetString("type") == "text") {
    return Str(parts.items()[0].GetString("text"));
  }
  return std::move(parts);
}

Value Message(std::string_view role, Value&& content) {
  Value m = Value::Object();
  m.Set("role", Str(role));
  m.Set("content", std::move(content));
  return m;
}

absl::Status MapUser(const Value& content, const std::string& field, Value* messages) {
  if (content.is_string()) {
    messages->Append(Message("user", Value(content)));
    return absl::OkStatus();
  }
  Value parts = Value::Array();
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& block = content.items()[j];
    std::string bf = StrCat(field, "[", j, "]");
    std::string_view type = block.GetString("type");
    if (type == "text") {
      parts.Append(TextPart(block.GetString("text")));
    } else if (type == "image") {
      auto p = ImagePart(block, bf);
      if (!p.ok()) return p.status();
      parts.Append(std::move(*p));
    } else if (type == "document") {
      auto p = DocumentPart(block, bf);
      if (!p.ok()) return p.status();
      parts.Append(std::move(*p));
    } else if (type == "tool_result") {
      std::string_view id = block.GetString("tool_use_id");
      if (id.empty()) return Invalid(StrCat(bf, ".tool_use_id"), "is required");
      const Value* rc = block.Find("content");
      Value tool_content = Str("");
      if (Present(rc) && rc->is_string()) {
        tool_content = *rc;
      } else if (Present(rc) && rc->is_array()) {
        Value texts = Value::Array();
        for (size_t k = 0; k < rc->items().size(); ++k) {
          const Value& inner = rc->items()[k];
          std::string inf = StrCat(bf, ".content[", k, "]");
          std::string_view it = inner.GetString("type");
          if (it == "text") {
            texts.Append(TextPart(inner.GetString("text")));
          } else if (it == "image") {
            auto p = ImagePart(inner, inf);
            if (!p.ok()) return p.status();
            parts.Append(std::move(*p));
          } else {
            return Invalid(inf, StrCat("unsupported block type ", Quoted(it)));
          }
        }
        tool_content = CollapseParts(std::move(texts));
        if (tool_content.is_array() && tool_content.size() == 0) tool_content = Str("");
      } else if (Present(rc)) {
        return Invalid(StrCat(bf, ".content"), "must be a string or an array of blocks");
      }
      // Tool results answer the previous assistant turn, so they go before the user's text.
      Value tool = Value::Object();
      tool.Set("role", Str("tool"));
      tool.Set("tool_call_id", Str(id));
      tool.Set("content", std::move(tool_content));
      messages->Append(std::move(tool));
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;
    } else {
      return Invalid(bf, StrCat("unsupported block type ", Quoted(type)));
    }
  }
  if (parts.size() > 0) messages->Append(Message("user", CollapseParts(std::move(parts))));
  return absl::OkStatus();
}

absl::Status MapAssistant(const Value& content, const std::string& field, Value* messages) {
  if (content.is_string()) {
    messages->Append(Message("assistant", Value(content)));
    return absl::OkStatus();
  }
  std::string text;
  Value calls = Value::Array();
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& block = content.items()[j];
    std::string bf = StrCat(field, "[", j, "]");
    std::string_view type = block.GetString("type");
    if (type == "text") {
      text.append(block.GetString("text"));
    } else if (type == "tool_use") {
      std::string_view id = block.GetString("id");
      std::string_view name = block.GetString("name");
      if (id.empty()) return Invalid(StrCat(bf, ".id"), "is required");
      if (name.empty()) return Invalid(StrCat(bf, ".name"), "is required");
      const Value* input = block.Find("input");
      Value fn = Value::Object();
      fn.Set("name", Str(name));
      fn.Set("arguments", Value::String(Present(input) ? json::Serialize(*input) : std::string("{}")));
      Value call = Value::Object();
      call.Set("id", Str(id));
      call.Set("type", Str("function"));
      call.Set("function", std::move(fn));
      calls.Append(std::move(call));
    } else if (type == "thinking" || type == "redacted_thinking") {
      continue;  // OpenAI cannot take reasoning back
    } else {
      return Invalid(bf, StrCat("unsupported block type ", Quoted(type)));
    }
  }
  Value m = Value::Object();
  m.Set("role", Str("assistant"));
  m.Set("content", text.empty() && calls.size() > 0 ? Value() : Value::String(std::move(text)));
  if (calls.size() > 0) m.Set("tool_calls", std::move(calls));
  messages->Append(std::move(m));
  return absl::OkStatus();
}

absl::Status MapSystem(const Value& system, Value* messages) {
  if (system.is_string()) {
    if (!system.as_string().empty()) messages->Append(Message("system", Value(system)));
    return absl::OkStatus();
  }
  if (!system.is_array()) return Invalid("system", "must be a string or an array of text blocks");
  std::string text;
  for (size_t i = 0; i < system.items().size(); ++i) {
    const Value& block = system.items()[i];
    if (block.GetString("type") != "text") {
      return Invalid(StrCat("system[", i, "]"),
                     StrCat("unsupported block type ", Quoted(block.GetString("type"))));
    }
    if (!text.empty()) text.append("\n\n");
    text.append(block.GetString("text"));
  }
  if (!text.empty()) messages->Append(Message("system", Value::String(std::move(text))));
  return absl::OkStatus();
}

absl::Status MapTools(const Value& doc, Value* body) {
  const Value* tools = doc.Find("tools");
  if (!Present(tools)) return absl::OkStatus();
  if (!tools->is_array()) return Invalid("tools", "must be an array");
  Value out = Value::Array();
  for (size_t i = 0; i < tools->items().size(); ++i) {
    const Value& t = tools->items()[i];
    std::string field = StrCat("tools[", i, "]");
    std::string_view type = t.GetString("type");
    // Server tools (web_search_..., code_execution_..., ...) run at Anthropic only.
    if (!type.empty() && type != "custom") {
      return Invalid(StrCat(field, ".type"), StrCat("unsupported tool type ", Quoted(type)));
    }
    std::string_view name = t.GetString("name");
    if (name.empty()) return Invalid(StrCat(field, ".name"), "is required");
    Value fn = Value::Object();
    fn.Set("name", Str(name));
    if (std::string_view d = t.GetString("description"); !d.empty()) fn.Set("description", Str(d));
    if (const Value* schema = t.Find("input_schema"); Present(schema)) fn.Set("parameters", *schema);
    Value tool = Value::Object();
    tool.Set("type", Str("function"));
    tool.Set("function", std::move(fn));
    out.Append(std::move(tool));
  }
  if (out.size() == 0) return absl::OkStatus();
  body->Set("tools", std::move(out));

  const Value* tc = doc.Find("tool_choice");
  if (!Present(tc)) return absl::OkStatus();
  if (!tc->is_object()) return Invalid("tool_choice", "must be an object");
  std::string_view type = tc->GetString("type");
  if (type == "auto") {
    body->Set("tool_choice", Str("auto"));
  } else if (type == "any") {
    body->Set("tool_choice", Str("required"));
  } else if (type == "none") {
    body->Set("tool_choice", Str("none"));
  } else if (type == "tool") {
    std::string_view name = tc->GetString("name");
    if (name.empty()) return Invalid("tool_choice.name", "is required");
    Value fn = Value::Object();
    fn.Set("name", Str(name));
    Value choice = Value::Object();
    choice.Set("type", Str("function"));
    choice.Set("function", std::move(fn));
    body->Set("tool_choice", std::move(choice));
  } else {
    return Invalid("tool_choice.type", StrCat("unsupported value ", Quoted(type)));
  }
  if (tc->GetBool("disable_parallel_tool_use", false)) body->Set("parallel_tool_calls", Value::Bool(false));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MappedRequest> MapRequest(const json::Value& doc, std::string_view model) {
  MappedRequest r;
  r.stream = doc.GetBool("stream", false);
  Value messages = Value::Array();
  if (const Value* system = doc.Find("system"); Present(system)) {
    RETURN_IF_ERROR(MapSystem(*system, &messages));
  }
  const Value* msgs = doc.Find("messages");
  if (msgs == nullptr || !msgs->is_array()) return Invalid("messages", "must be an array");
  for (size_t i = 0; i < msgs->items().size(); ++i) {
    const Value& msg = msgs->items()[i];
    std::string field = StrCat("messages[", i, "]");
    if (!msg.is_object()) return Invalid(field, "must be an object");
    const Value* content = msg.Find("content");
    std::string cf = StrCat(field, ".content");
    if (content == nullptr || !(content->is_string() || content->is_array())) {
      return Invalid(cf, "must be a string or an array of content blocks");
    }
    std::string_view role = msg.GetString("role");
    if (role == "user") {
      RETURN_IF_ERROR(MapUser(*content, cf, &messages));
    } else if (role == "assistant") {
      RETURN_IF_ERROR(MapAssistant(*content, cf, &messages));
    } else {
      return Invalid(StrCat(field, ".role"), StrCat("unsupported role ", Quoted(role)));
    }
  }

  Value& body = r.body;
  body = Value::Object();
  body.Set("model", Str(model));
  body.Set("messages", std::move(messages));
  if (const Value* mt = doc.Find("max_tokens"); Present(mt)) {
    if (!mt->is_number()) return Invalid("max_tokens", "must be an integer");
    body.Set("max_completion_tokens", *mt);
  }
  for (std::string_view k : {"temperature", "top_p"}) {
    if (const Value* v = doc.Find(k); Present(v)) {
      if (!v->is_number()) return Invalid(k, "must be a number");
      body.Set(k, *v);
    }
  }
  if (const Value* stop = doc.Find("stop_sequences"); Present(stop)) {
    if (!stop->is_array()) return Invalid("stop_sequences", "must be an array of strings");
    for (const Value& s : stop->items()) {
      if (!s.is_string()) return Invalid("stop_sequences", "must be an array of strings");
    }
    if (stop->size() > 0) body.Set("stop", *stop);
  }
  RETURN_IF_ERROR(MapTools(doc, &body));
  if (const Value* meta = doc.Find("metadata"); meta != nullptr && meta->is_object()) {
    if (std::string_view user = meta->GetString("user_id"); !user.empty()) body.Set("user", Str(user));
  }
  if (r.stream) {
    body.Set("stream", Value::Bool(true));
    Value opts = Value::Object();
    opts.Set("include_usage", Value::Bool(true));
    body.Set("stream_options", std::move(opts));
  }
  return r;
}

}  // namespace sluice::translate::anthropic_to_openai_internal
