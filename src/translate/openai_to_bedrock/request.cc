#include "translate/openai_to_bedrock/request.h"

#include <set>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"

// Field facts: shared/reference/provider-apis.md §1.1/§1.5 (OpenAI), §3.1/§3.4 (Converse,
// Titan), §7 (mapping tables).
namespace sluice::translate::openai_to_bedrock_internal {
namespace {

using json::Value;

absl::Status Invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(field, ": ", what));
}

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);
  return out;
}

Value Str(std::string_view s) { return Value::String(std::string(s)); }
bool Present(const Value* v) { return v != nullptr && !v->is_null(); }

Value TextBlock(std::string_view text) {
  Value b = Value::Object();
  b.Set("text", Str(text));
  return b;
}

bool ContainsIgnoreCase(std::string_view hay, std::string_view needle) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && lower(hay[i + j]) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

// Text of a string content or of an array of text parts (other part types are an error,
// `allow_refusal` also accepts assistant refusal parts).
absl::Status AppendTextParts(const Value& content, const std::string& field, bool allow_refusal,
                             std::vector<std::string>* out) {
  if (content.is_null()) return absl::OkStatus();
  if (content.is_string()) {
    out->push_back(content.as_string());
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of content parts");
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& part = content.items()[j];
    std::string_view type = part.GetString("type");
    if (type == "text") {
      out->push_back(std::string(part.GetString("text")));
    } else if (allow_refusal && type == "refusal") {
      out->push_back(std::string(part.GetString("refusal")));
    } else {
      return Invalid(StrCat(field, "[", j, "]"), StrCat("unsupported part type ", Quoted(type)));
    }
  }
  return absl::OkStatus();
}

// OpenAI image_url part -> Converse image block. Bedrock takes only inline bytes (or S3), and
// a translator does no I/O, so http(s) URLs are refused rather than fetched.
absl::StatusOr<Value> ImageBlock(const Value& part, const std::string& field) {
  const Value* image = part.Find("image_url");
  std::string_view url;
  if (image != nullptr && image->is_object()) url = image->GetString("url");
  if (image != nullptr && image->is_string()) url = image->as_string();
  std::string url_field = StrCat(field, ".image_url.url");
  if (url.empty()) return Invalid(url_field, "is required");
  if (url.substr(0, 5) != "data:") {
    return Invalid(url_field,
                   "the AWSBedrock backend cannot fetch image URLs; send the image inline as a "
                   "base64 data: URL");
  }
  size_t comma = url.find(',');
  std::string_view meta = url.substr(5, comma == std::string_view::npos ? 0 : comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (comma == std::string_view::npos || meta.size() < kBase64.size() ||
      meta.substr(meta.size() - kBase64.size()) != kBase64) {
    return Invalid(url_field, "must be a base64 data: URL (data:image/png;base64,...)");
  }
  std::string_view media_type = meta.substr(0, meta.find(';'));
  std::string_view format;
  if (media_type == "image/png") format = "png";
  else if (media_type == "image/jpeg" || media_type == "image/jpg") format = "jpeg";
  else if (media_type == "image/gif") format = "gif";
  else if (media_type == "image/webp") format = "webp";
  else return Invalid(url_field, StrCat("unsupported image type ", Quoted(media_type)));
  Value source = Value::Object();
  source.Set("bytes", Str(url.substr(comma + 1)));  // already base64, as Converse's JSON wants
  Value img = Value::Object();
  img.Set("format", Str(format));
  img.Set("source", std::move(source));
  Value block = Value::Object();
  block.Set("image", std::move(img));
  return block;
}

absl::StatusOr<Value> UserBlocks(const Value& content, const std::string& field) {
  Value blocks = Value::Array();
  if (content.is_string()) {
    blocks.Append(TextBlock(content.as_string()));
    return blocks;
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of content parts");
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& part = content.items()[j];
    std::string part_field = StrCat(field, "[", j, "]");
    std::string_view type = part.GetString("type");
    if (type == "text") {
      blocks.Append(TextBlock(part.GetString("text")));
    } else if (type == "image_url") {
      ASSIGN_OR_RETURN(Value img, ImageBlock(part, part_field));
      blocks.Append(std::move(img));
    } else {
      return Invalid(part_field, StrCat("unsupported part type ", Quoted(type)));
    }
  }
  return blocks;
}

// Appends a turn, merging it into the previous one when the role repeats: Converse wants
// alternating roles, and consecutive tool results must share one user turn.
void AppendTurn(Value* messages, std::string_view role, Value&& blocks) {
  if (blocks.items().empty()) return;
  if (!messages->items().empty()) {
    Value& last = messages->items().back();
    if (last.GetString("role") == role) {
      Value* content = last.Find("content");
      for (Value& b : blocks.items()) content->Append(std::move(b));
      return;
    }
  }
  Value m = Value::Object();
  m.Set("role", Str(role));
  m.Set("content", std::move(blocks));
  messages->Append(std::move(m));
}

struct ToolHistory {
  bool any = false;                 // toolUse or toolResult blocks in the conversation
  std::vector<std::string> names;   // toolUse names, first-seen order
};

absl::StatusOr<Value> AssistantBlocks(const Value& msg, const std::string& field, ToolHistory* history) {
  Value blocks = Value::Array();
  std::vector<std::string> texts;
  if (const Value* content = msg.Find("content"); content != nullptr) {
    RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), true, &texts));
  }
  for (const std::string& t : texts) {
    if (!t.empty()) blocks.Append(TextBlock(t));  // Converse rejects blank text blocks
  }
  const Value* calls = msg.Find("tool_calls");
  if (!Present(calls)) return blocks;
  if (!calls->is_array()) return Invalid(StrCat(field, ".tool_calls"), "must be an array");
  for (size_t j = 0; j < calls->items().size(); ++j) {
    const Value& call = calls->items()[j];
    std::string call_field = StrCat(field, ".tool_calls[", j, "]");
    const Value* fn = call.Find("function");
    if (fn == nullptr || !fn->is_object()) return Invalid(StrCat(call_field, ".function"), "is required");
    std::string_view name = fn->GetString("name");
    if (name.empty()) return Invalid(StrCat(call_field, ".function.name"), "is required");
    std::string_view id = call.GetString("id");
    if (id.empty()) return Invalid(StrCat(call_field, ".id"), "is required");
    // OpenAI carries arguments as JSON text; Converse wants the JSON value.
    Value input = Value::Object();
    if (const Value* args = fn->Find("arguments"); Present(args)) {
      if (!args->is_string()) return Invalid(StrCat(call_field, ".function.arguments"), "must be a string");
      if (!StripWhitespace(args->as_string()).empty()) {
        auto parsed = json::Parse(args->as_string());
        if (!parsed.ok()) return Invalid(StrCat(call_field, ".function.arguments"), "is not valid JSON");
        input = std::move(*parsed);
      }
    }
    Value use = Value::Object();
    use.Set("toolUseId", Str(id));
    use.Set("name", Str(name));
    use.Set("input", std::move(input));
    Value block = Value::Object();
    block.Set("toolUse", std::move(use));
    blocks.Append(std::move(block));
    history->any = true;
    bool seen = false;
    for (const auto& n : history->names) seen = seen || n == name;
    if (!seen) history->names.emplace_back(name);
  }
  return blocks;
}

absl::StatusOr<Value> ToolResultBlock(const Value& msg, const std::string& field) {
  std::string_view id = msg.GetString("tool_call_id");
  if (id.empty()) return Invalid(StrCat(field, ".tool_call_id"), "is required");
  std::vector<std::string> texts;
  const Value* content = msg.Find("content");
  if (content != nullptr) RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), false, &texts));
  Value parts = Value::Array();
  for (const std::string& t : texts) parts.Append(TextBlock(t));
  if (parts.items().empty()) parts.Append(TextBlock(""));
  Value result = Value::Object();
  result.Set("toolUseId", Str(id));
  result.Set("content", std::move(parts));
  Value block = Value::Object();
  block.Set("toolResult", std::move(result));
  return block;
}

absl::StatusOr<Value> ToolSpecs(const Value& tools) {
  if (!tools.is_array()) return Invalid("tools", "must be an array");
  Value specs = Value::Array();
  for (size_t i = 0; i < tools.items().size(); ++i) {
    const Value& tool = tools.items()[i];
    std::string field = StrCat("tools[", i, "]");
    std::string_view type = tool.GetString("type");
    if (!type.empty() && type != "function") {
      return Invalid(StrCat(field, ".type"), StrCat("unsupported tool type ", Quoted(type)));
    }
    const Value* fn = tool.Find("function");
    if (fn == nullptr || !fn->is_object()) return Invalid(StrCat(field, ".function"), "is required");
    std::string_view name = fn->GetString("name");
    if (name.empty()) return Invalid(StrCat(field, ".function.name"), "is required");
    Value spec = Value::Object();
    spec.Set("name", Str(name));
    if (std::string_view d = fn->GetString("description"); !d.empty()) spec.Set("description", Str(d));
    Value schema = Value::Object();
    if (const Value* params = fn->Find("parameters"); Present(params)) {
      if (!params->is_object()) return Invalid(StrCat(field, ".function.parameters"), "must be an object");
      schema = *params;
    } else {
      schema.Set("type", Str("object"));
      schema.Set("properties", Value::Object());
    }
    Value input_schema = Value::Object();
    input_schema.Set("json", std::move(schema));
    spec.Set("inputSchema", std::move(input_schema));
    Value entry = Value::Object();
    entry.Set("toolSpec", std::move(spec));
    specs.Append(std::move(entry));
  }
  return specs;
}

enum class Choice { kUnset, kNone, kAuto, kAny, kTool };

absl::Status ParseToolChoice(const Value* tc, Choice* choice, std::string* name) {
  if (!Present(tc)) return absl::OkStatus();
  if (tc->is_string()) {
    const std::string& s = tc->as_string();
    if (s == "none") *choice = Choice::kNone;
    else if (s == "auto") *choice = Choice::kAuto;
    else if (s == "required") *choice = Choice::kAny;
    else return Invalid("tool_choice", StrCat("unsupported value ", Quoted(s)));
    return absl::OkStatus();
  }
  if (tc->is_object() && tc->GetString("type") == "function") {
    const Value* fn = tc->Find("function");
    std::string_view n = fn != nullptr ? fn->GetString("name") : std::string_view();
    if (n.empty()) return Invalid("tool_choice.function.name", "is required");
    *choice = Choice::kTool;
    *name = std::string(n);
    return absl::OkStatus();
  }
  return Invalid("tool_choice", "must be \"none\", \"auto\", \"required\" or a function choice");
}

// Converse has no "none": without a tool history the tools are dropped; with one, Bedrock
// insists on a toolConfig, so the tools stay (without toolChoice) and the model may still call
// one. With no tools at all but a tool history, minimal specs are synthesised from the names in
// the history for the same reason (ValidationException "The toolConfig field must be defined
// when using toolUse and toolResult content blocks").
absl::StatusOr<std::optional<Value>> ToolConfig(const Value& doc, const ToolHistory& history) {
  Choice choice = Choice::kUnset;
  std::string tool_name;
  RETURN_IF_ERROR(ParseToolChoice(doc.Find("tool_choice"), &choice, &tool_name));
  Value specs = Value::Array();
  if (const Value* tools = doc.Find("tools"); Present(tools)) {
    ASSIGN_OR_RETURN(specs, ToolSpecs(*tools));
  }
  if (specs.items().empty() && history.any) {
    for (const std::string& n : history.names) {
      Value schema = Value::Object();
      schema.Set("type", Str("object"));
      Value input_schema = Value::Object();
      input_schema.Set("json", std::move(schema));
      Value spec = Value::Object();
      spec.Set("name", Str(n));
      spec.Set("inputSchema", std::move(input_schema));
      Value entry = Value::Object();
      entry.Set("toolSpec", std::move(spec));
      specs.Append(std::move(entry));
    }
    choice = Choice::kNone;  // the client offered no tools: never ask for one
  }
  if (specs.items().empty()) {
    if (choice == Choice::kAny || choice == Choice::kTool) return Invalid("tool_choice", "requires tools");
    return std::optional<Value>();
  }
  if (choice == Choice::kNone && !history.any) return std::optional<Value>();
  Value config = Value::Object();
  config.Set("tools", std::move(specs));
  Value tc = Value::Object();
  switch (choice) {
    case Choice::kAuto: tc.Set("auto", Value::Object()); break;
    case Choice::kAny: tc.Set("any", Value::Object()); break;
    case Choice::kTool: {
      Value t = Value::Object();
      t.Set("name", Str(tool_name));
      tc.Set("tool", std::move(t));
      break;
    }
    case Choice::kUnset:
    case Choice::kNone: break;
  }
  if (tc.size() > 0) config.Set("toolChoice", std::move(tc));
  return std::optional<Value>(std::move(config));
}

absl::Status InferenceConfig(const Value& doc, Value* body) {
  Value ic = Value::Object();
  const Value* max = doc.Find("max_completion_tokens");
  std::string_view max_field = "max_completion_tokens";
  if (!Present(max)) {
    max = doc.Find("max_tokens");
    max_field = "max_tokens";
  }
  if (Present(max)) {
    if (!max->is_number()) return Invalid(max_field, "must be an integer");
    ic.Set("maxTokens", *max);
  }
  if (const Value* t = doc.Find("temperature"); Present(t)) {
    if (!t->is_number()) return Invalid("temperature", "must be a number");
    ic.Set("temperature", *t);
  }
  if (const Value* p = doc.Find("top_p"); Present(p)) {
    if (!p->is_number()) return Invalid("top_p", "must be a number");
    ic.Set("topP", *p);
  }
  if (const Value* stop = doc.Find("stop"); Present(stop)) {
    Value seqs = Value::Array();
    if (stop->is_string()) {
      seqs.Append(*stop);
    } else if (stop->is_array()) {
      for (size_t i = 0; i < stop->items().size(); ++i) {
        if (!stop->items()[i].is_string()) return Invalid(StrCat("stop[", i, "]"), "must be a string");
        seqs.Append(stop->items()[i]);
      }
    } else {
      return Invalid("stop", "must be a string or an array of strings");
    }
    if (seqs.size() > 0) ic.Set("stopSequences", std::move(seqs));
  }
  if (ic.size() > 0) body->Set("inferenceConfig", std::move(ic));
  return absl::OkStatus();
}

// reasoning_effort / the `thinking` extension -> additionalModelRequestFields, in the model
// family's own terms: Claude takes Anthropic's `thinking` (budget tokens), Amazon Nova 2 takes
// `reasoningConfig` (an effort level). Budgets follow common gateway defaults.
absl::Status Reasoning(const Value& doc, std::string_view model, Value* extra) {
  if (const Value* thinking = doc.Find("thinking"); Present(thinking)) {
    if (!thinking->is_object()) return Invalid("thinking", "must be an object");
    extra->Set("thinking", *thinking);
    return absl::OkStatus();
  }
  const Value* effort_v = doc.Find("reasoning_effort");
  if (!Present(effort_v)) return absl::OkStatus();
  if (!effort_v->is_string()) return Invalid("reasoning_effort", "must be a string");
  const std::string& effort = effort_v->as_string();
  if (effort == "none") return absl::OkStatus();
  int64_t budget = 0;
  std::string_view level;
  if (effort == "minimal" || effort == "low") {
    budget = 1024;
    level = "low";
  } else if (effort == "medium") {
    budget = 2048;
    level = "medium";
  } else if (effort == "high" || effort == "xhigh") {
    budget = 4096;
    level = "high";
  } else {
    return Invalid("reasoning_effort", StrCat("unsupported value ", Quoted(effort)));
  }
  if (ContainsIgnoreCase(model, "anthropic") || ContainsIgnoreCase(model, "claude")) {
    Value t = Value::Object();
    t.Set("type", Str("enabled"));
    t.Set("budget_tokens", Value::Int(budget));
    extra->Set("thinking", std::move(t));
  } else {
    Value rc = Value::Object();
    rc.Set("type", Str("enabled"));
    rc.Set("maxReasoningEffort", Str(level));
    extra->Set("reasoningConfig", std::move(rc));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ModelPath(std::string_view model, std::string_view suffix) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "/model/";
  for (char ch : model) {
    auto c = static_cast<unsigned char>(ch);
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_' || c == '~';
    if (keep) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.append(suffix);
  return out;
}

absl::StatusOr<MappedChat> MapChatRequest(const Value& doc, std::string_view model) {
  MappedChat out;
  const Value* messages = doc.Find("messages");
  if (messages == nullptr || !messages->is_array() || messages->items().empty()) {
    return Invalid("messages", "must be a non-empty array");
  }
  if (const Value* n = doc.Find("n"); Present(n) && !(n->is_number() && n->as_int() == 1)) {
    return Invalid("n", "the AWSBedrock backend returns one choice; only n=1 is supported");
  }
  if (const Value* rf = doc.Find("response_format"); Present(rf) && rf->GetString("type") == "json_schema") {
    // Converse has no schema-constrained output; silently ignoring it would hand the client
    // text it believes was validated. json_object is let through: the prompt asks for JSON.
    return Invalid("response_format.type", "json_schema is not supported by the AWSBedrock backend");
  }

  Value system = Value::Array();
  Value turns = Value::Array();
  ToolHistory history;
  for (size_t i = 0; i < messages->items().size(); ++i) {
    const Value& msg = messages->items()[i];
    std::string field = StrCat("messages[", i, "]");
    if (!msg.is_object()) return Invalid(field, "must be an object");
    std::string_view role = msg.GetString("role");
    const Value* content = msg.Find("content");
    if (role == "system" || role == "developer") {
      std::vector<std::string> texts;
      if (content != nullptr) RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), false, &texts));
      for (const std::string& t : texts) {
        if (!t.empty()) system.Append(TextBlock(t));
      }
    } else if (role == "user") {
      if (!Present(content)) return Invalid(StrCat(field, ".content"), "is required");
      ASSIGN_OR_RETURN(Value blocks, UserBlocks(*content, StrCat(field, ".content")));
      AppendTurn(&turns, "user", std::move(blocks));
    } else if (role == "assistant") {
      ASSIGN_OR_RETURN(Value blocks, AssistantBlocks(msg, field, &history));
      AppendTurn(&turns, "assistant", std::move(blocks));
    } else if (role == "tool") {
      ASSIGN_OR_RETURN(Value block, ToolResultBlock(msg, field));
      Value blocks = Value::Array();
      blocks.Append(std::move(block));
      AppendTurn(&turns, "user", std::move(blocks));
      history.any = true;
    } else {
      return Invalid(StrCat(field, ".role"), StrCat("unsupported role ", Quoted(role)));
    }
  }
  if (turns.items().empty()) return Invalid("messages", "must contain a user message");

  Value& body = out.body;
  body = Value::Object();
  body.Set("messages", std::move(turns));
  if (system.size() > 0) body.Set("system", std::move(system));
  RETURN_IF_ERROR(InferenceConfig(doc, &body));
  ASSIGN_OR_RETURN(std::optional<Value> tool_config, ToolConfig(doc, history));
  if (tool_config) body.Set("toolConfig", std::move(*tool_config));
  Value extra = Value::Object();
  RETURN_IF_ERROR(Reasoning(doc, model, &extra));
  if (const Value* top_k = doc.Find("top_k"); Present(top_k) && top_k->is_number()) extra.Set("top_k", *top_k);
  if (extra.size() > 0) body.Set("additionalModelRequestFields", std::move(extra));

  if (const Value* so = doc.Find("stream_options"); so != nullptr && so->is_object()) {
    out.include_usage = so->GetBool("include_usage", false);
  }
  return out;
}

absl::StatusOr<MappedEmbeddings> MapEmbeddingsRequest(const Value& doc) {
  MappedEmbeddings out;
  const Value* input = doc.Find("input");
  if (!Present(input)) return Invalid("input", "is required");
  std::string_view text;
  if (input->is_string()) {
    text = input->as_string();
  } else if (input->is_array()) {
    if (input->items().size() != 1) {
      return Invalid("input", StrCat("the AWSBedrock backend (Titan) embeds one input per request; got ",
                                     input->items().size()));
    }
    if (!input->items()[0].is_string()) return Invalid("input[0]", "token arrays are not supported; send text");
    text = input->items()[0].as_string();
  } else {
    return Invalid("input", "must be a string or an array of one string");
  }
  if (text.empty()) return Invalid("input", "must not be empty");
  out.body = Value::Object();
  out.body.Set("inputText", Str(text));
  if (const Value* dims = doc.Find("dimensions"); Present(dims)) {
    if (!dims->is_number()) return Invalid("dimensions", "must be an integer");
    out.body.Set("dimensions", *dims);
  }
  if (const Value* fmt = doc.Find("encoding_format"); Present(fmt)) {
    if (!fmt->is_string() || (fmt->as_string() != "float" && fmt->as_string() != "base64")) {
      return Invalid("encoding_format", "must be \"float\" or \"base64\"");
    }
    out.base64 = fmt->as_string() == "base64";
  }
  return out;
}

}  // namespace sluice::translate::openai_to_bedrock_internal
