#include "translate/openai_to_bedrock/request.h"

#include <algorithm>
#include <set>
#include <utility>
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

// Anthropic-style prompt caching, an extension Envoy AI Gateway also accepts on the OpenAI
// dialect: {"cache_control":{"type":"ephemeral","ttl"?:"5m"|"1h"}} on a content part or a tool
// marks the end of a cacheable prefix. Converse expresses the same with a cachePoint block
// placed right after that block (CachePointBlock:
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html).
// nullopt when `holder` carries no cache_control.
absl::StatusOr<std::optional<Value>> CachePointFor(const Value& holder, const std::string& field) {
  const Value* cc = holder.Find("cache_control");
  if (!Present(cc)) return std::optional<Value>();
  std::string cc_field = StrCat(field, ".cache_control");
  if (!cc->is_object()) return Invalid(cc_field, "must be an object");
  const Value* type = cc->Find("type");
  if (type == nullptr || !type->is_string() || type->as_string() != "ephemeral") {
    return Invalid(StrCat(cc_field, ".type"), "must be \"ephemeral\"");
  }
  Value point = Value::Object();
  point.Set("type", Str("default"));
  if (const Value* ttl = cc->Find("ttl"); Present(ttl)) {
    if (!ttl->is_string() || (ttl->as_string() != "5m" && ttl->as_string() != "1h")) {
      return Invalid(StrCat(cc_field, ".ttl"), "must be \"5m\" or \"1h\"");
    }
    point.Set("ttl", *ttl);
  }
  Value block = Value::Object();
  block.Set("cachePoint", std::move(point));
  return std::optional<Value>(std::move(block));
}

// Appends a cache point after the last block of `blocks`. A cache point needs content before
// it, so one on a part that produced no block (an empty text) is dropped.
void AppendCachePoint(Value* blocks, std::optional<Value>&& point) {
  if (!point || blocks->items().empty() || blocks->items().back().Find("cachePoint") != nullptr) return;
  blocks->Append(std::move(*point));
}

struct TextPart {
  std::string text;
  std::optional<Value> cache_point;
};

// Text of a string content or of an array of text parts, each with its cache point (other part
// types are an error; `allow_refusal` also accepts assistant refusal parts).
absl::Status AppendTextParts(const Value& content, const std::string& field, bool allow_refusal,
                             std::vector<TextPart>* out) {
  if (content.is_null()) return absl::OkStatus();
  if (content.is_string()) {
    out->push_back({content.as_string(), std::nullopt});
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of content parts");
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& part = content.items()[j];
    std::string part_field = StrCat(field, "[", j, "]");
    std::string_view type = part.GetString("type");
    TextPart text;
    if (type == "text") {
      text.text = std::string(part.GetString("text"));
    } else if (allow_refusal && type == "refusal") {
      text.text = std::string(part.GetString("refusal"));
    } else {
      return Invalid(part_field, StrCat("unsupported part type ", Quoted(type)));
    }
    ASSIGN_OR_RETURN(text.cache_point, CachePointFor(part, part_field));
    out->push_back(std::move(text));
  }
  return absl::OkStatus();
}

// Text parts -> text blocks (blank ones dropped: Converse rejects them), cache points after
// the blocks they follow.
Value TextBlocks(std::vector<TextPart>&& parts) {
  Value blocks = Value::Array();
  for (TextPart& p : parts) {
    if (!p.text.empty()) blocks.Append(TextBlock(p.text));
    AppendCachePoint(&blocks, std::move(p.cache_point));
  }
  return blocks;
}

// A base64 data: URL split into media type and payload. False when `url` is not one.
bool SplitBase64DataUrl(std::string_view url, std::string_view* media_type, std::string_view* data) {
  if (url.substr(0, 5) != "data:") return false;
  size_t comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (meta.size() < kBase64.size() || meta.substr(meta.size() - kBase64.size()) != kBase64) return false;
  *media_type = meta.substr(0, meta.find(';'));
  *data = url.substr(comma + 1);
  return true;
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
  std::string_view media_type, data;
  if (!SplitBase64DataUrl(url, &media_type, &data)) {
    return Invalid(url_field, "must be a base64 data: URL (data:image/png;base64,...)");
  }
  std::string_view format;
  if (media_type == "image/png") format = "png";
  else if (media_type == "image/jpeg" || media_type == "image/jpg") format = "jpeg";
  else if (media_type == "image/gif") format = "gif";
  else if (media_type == "image/webp") format = "webp";
  else return Invalid(url_field, StrCat("unsupported image type ", Quoted(media_type)));
  Value source = Value::Object();
  source.Set("bytes", Str(data));  // already base64, as Converse's JSON wants
  Value img = Value::Object();
  img.Set("format", Str(format));
  img.Set("source", std::move(source));
  Value block = Value::Object();
  block.Set("image", std::move(img));
  return block;
}

std::string_view FormatFromExtension(std::string_view filename) {
  size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) return {};
  std::string ext(filename.substr(dot + 1));
  for (char& c : ext) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;  // "REPORT.PDF"
  for (std::string_view f : {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}) {
    if (ext == f) return f;
  }
  if (ext == "htm") return "html";
  if (ext == "markdown") return "md";
  return {};
}

// OpenAI file part {"type":"file","file":{"file_data":"data:<media>;base64,...","filename"}}
// -> Converse {"document":{"format","name","source":{"bytes"}}}. Uploaded-file references
// (file_id) would need a fetch from OpenAI's Files API, which Bedrock cannot reach.
absl::StatusOr<Value> FileBlock(const Value& part, const std::string& field, std::vector<std::string>* names) {
  const Value* file = part.Find("file");
  std::string file_field = StrCat(field, ".file");
  if (file == nullptr || !file->is_object()) return Invalid(file_field, "is required");
  if (Present(file->Find("file_id"))) {
    return Invalid(StrCat(file_field, ".file_id"),
                   "the AWSBedrock backend cannot read uploaded files; send the file inline as file_data "
                   "(a base64 data: URL)");
  }
  const Value* data_v = file->Find("file_data");
  std::string data_field = StrCat(file_field, ".file_data");
  if (!Present(data_v)) return Invalid(data_field, "is required");
  if (!data_v->is_string() || data_v->as_string().empty()) return Invalid(data_field, "must be a non-empty string");
  const Value* filename_v = file->Find("filename");
  if (Present(filename_v) && !filename_v->is_string()) return Invalid(StrCat(file_field, ".filename"), "must be a string");
  std::string_view filename = Present(filename_v) ? std::string_view(filename_v->as_string()) : std::string_view();

  std::string_view media_type, data;
  std::string_view format;
  if (SplitBase64DataUrl(data_v->as_string(), &media_type, &data)) {
    format = DocumentFormatForMediaType(media_type);
    // A generic type says nothing; the filename may.
    if (format.empty() && (media_type.empty() || media_type == "application/octet-stream")) {
      format = FormatFromExtension(filename);
    }
    if (format.empty()) {
      return Invalid(data_field, StrCat("unsupported file type ", Quoted(media_type),
                                        "; the AWSBedrock backend accepts pdf, csv, doc, docx, xls, xlsx, "
                                        "html, txt and md documents"));
    }
  } else if (data_v->as_string().substr(0, 5) == "data:") {
    return Invalid(data_field, "must be a base64 data: URL (data:application/pdf;base64,...)");
  } else {
    // Bare base64, as some SDKs send it: only the filename can tell the format.
    data = data_v->as_string();
    format = FormatFromExtension(filename);
    if (format.empty()) {
      return Invalid(data_field, "must be a base64 data: URL with a media type, or carry a filename with a "
                                 "pdf, csv, doc, docx, xls, xlsx, html, txt or md extension");
    }
  }
  if (data.empty()) return Invalid(data_field, "has no data");
  Value source = Value::Object();
  source.Set("bytes", Str(data));
  Value doc = Value::Object();
  doc.Set("format", Str(format));
  doc.Set("name", Str(DocumentName(filename, true, names)));
  doc.Set("source", std::move(source));
  Value block = Value::Object();
  block.Set("document", std::move(doc));
  return block;
}

absl::StatusOr<Value> UserBlocks(const Value& content, const std::string& field,
                                 std::vector<std::string>* document_names) {
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
    } else if (type == "file") {
      ASSIGN_OR_RETURN(Value doc, FileBlock(part, part_field, document_names));
      blocks.Append(std::move(doc));
    } else {
      return Invalid(part_field, StrCat("unsupported part type ", Quoted(type)));
    }
    ASSIGN_OR_RETURN(std::optional<Value> point, CachePointFor(part, part_field));
    AppendCachePoint(&blocks, std::move(point));
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

// The `thinking_blocks` extension on an assistant message (what the response side returns,
// as for Anthropic backends) -> reasoningContent blocks, first in the turn: Claude on Bedrock
// needs its reasoning, signature included, sent back unchanged for multi-turn tool use.
absl::Status AppendReasoningBlocks(const Value& msg, const std::string& field, Value* blocks) {
  const Value* tb = msg.Find("thinking_blocks");
  if (!Present(tb)) return absl::OkStatus();
  if (!tb->is_array()) return Invalid(StrCat(field, ".thinking_blocks"), "must be an array");
  for (size_t j = 0; j < tb->items().size(); ++j) {
    const Value& b = tb->items()[j];
    std::string bf = StrCat(field, ".thinking_blocks[", j, "]");
    std::string_view type = b.GetString("type");
    Value rc = Value::Object();
    if (type == "thinking") {
      Value text = Value::Object();
      text.Set("text", Str(b.GetString("thinking")));
      if (std::string_view sig = b.GetString("signature"); !sig.empty()) text.Set("signature", Str(sig));
      rc.Set("reasoningText", std::move(text));
    } else if (type == "redacted_thinking") {
      std::string_view data = b.GetString("data");
      if (data.empty()) return Invalid(StrCat(bf, ".data"), "is required");
      rc.Set("redactedContent", Str(data));
    } else {
      return Invalid(StrCat(bf, ".type"), "must be \"thinking\" or \"redacted_thinking\"");
    }
    Value block = Value::Object();
    block.Set("reasoningContent", std::move(rc));
    blocks->Append(std::move(block));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> AssistantBlocks(const Value& msg, const std::string& field, ToolHistory* history) {
  std::vector<TextPart> texts;
  if (const Value* content = msg.Find("content"); content != nullptr) {
    RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), true, &texts));
  }
  Value blocks = Value::Array();
  RETURN_IF_ERROR(AppendReasoningBlocks(msg, field, &blocks));
  Value text_blocks = TextBlocks(std::move(texts));
  for (Value& b : text_blocks.items()) blocks.Append(std::move(b));
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

// A tool message -> a toolResult block, plus a cache point after it when a content part asked
// for one (cachePoint is not a ToolResultContentBlock, so it cannot go inside).
absl::StatusOr<Value> ToolResultBlocks(const Value& msg, const std::string& field) {
  std::string_view id = msg.GetString("tool_call_id");
  if (id.empty()) return Invalid(StrCat(field, ".tool_call_id"), "is required");
  std::vector<TextPart> texts;
  const Value* content = msg.Find("content");
  if (content != nullptr) RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), false, &texts));
  Value parts = Value::Array();
  std::optional<Value> point;
  for (TextPart& t : texts) {
    parts.Append(TextBlock(t.text));
    if (t.cache_point) point = std::move(t.cache_point);
  }
  if (parts.items().empty()) parts.Append(TextBlock(""));
  Value result = Value::Object();
  result.Set("toolUseId", Str(id));
  result.Set("content", std::move(parts));
  Value block = Value::Object();
  block.Set("toolResult", std::move(result));
  Value blocks = Value::Array();
  blocks.Append(std::move(block));
  AppendCachePoint(&blocks, std::move(point));
  return blocks;
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
    // cache_control on the tool (as Anthropic puts it) or, leniently, on its function.
    ASSIGN_OR_RETURN(std::optional<Value> point, CachePointFor(tool, field));
    if (!point) {
      ASSIGN_OR_RETURN(point, CachePointFor(*fn, StrCat(field, ".function")));
    }
    AppendCachePoint(&specs, std::move(point));
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

// The `guardrailConfig` extension: Bedrock's own GuardrailConfiguration, passed through to the
// top level of the Converse body after type checks, so a typo is a 400 naming the field here
// rather than a ValidationException from AWS
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailConfiguration.html;
// ConverseStream's GuardrailStreamConfiguration adds streamProcessingMode).
absl::StatusOr<Value> GuardrailConfig(const Value& g, bool stream) {
  if (!g.is_object()) return Invalid("guardrailConfig", "must be an object");
  Value out = Value::Object();
  for (const auto& [key, v] : g.members()) {
    std::string field = StrCat("guardrailConfig.", key);
    if (key == "guardrailIdentifier" || key == "guardrailVersion") {
      if (!v.is_string() || v.as_string().empty()) return Invalid(field, "must be a non-empty string");
    } else if (key == "trace") {
      if (!v.is_string() || (v.as_string() != "enabled" && v.as_string() != "disabled" &&
                             v.as_string() != "enabled_full")) {
        return Invalid(field, "must be \"enabled\", \"disabled\" or \"enabled_full\"");
      }
    } else if (key == "streamProcessingMode") {
      if (!v.is_string() || (v.as_string() != "sync" && v.as_string() != "async")) {
        return Invalid(field, "must be \"sync\" or \"async\"");
      }
      if (!stream) continue;  // Converse (unstreamed) does not take it
    } else {
      return Invalid(field, "unknown field; expected guardrailIdentifier, guardrailVersion, trace or "
                            "streamProcessingMode");
    }
    out.Set(key, v);
  }
  if (out.Find("guardrailIdentifier") == nullptr) return Invalid("guardrailConfig.guardrailIdentifier", "is required");
  if (out.Find("guardrailVersion") == nullptr) return Invalid("guardrailConfig.guardrailVersion", "is required");
  return out;
}

}  // namespace

std::string_view DocumentFormatForMediaType(std::string_view media_type) {
  static constexpr std::pair<std::string_view, std::string_view> kFormats[] = {
      {"application/pdf", "pdf"},
      {"text/csv", "csv"},
      {"application/msword", "doc"},
      {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
      {"application/vnd.ms-excel", "xls"},
      {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
      {"text/html", "html"},
      {"text/plain", "txt"},
      {"text/markdown", "md"},
  };
  for (const auto& [media, format] : kFormats) {
    if (media == media_type) return format;
  }
  return {};
}

// Rules: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
std::string DocumentName(std::string_view filename, bool strip_extension, std::vector<std::string>* used) {
  if (size_t dot = filename.rfind('.'); strip_extension && dot != std::string_view::npos && dot > 0) {
    filename = filename.substr(0, dot);
  }
  std::string name;
  for (char ch : filename) {
    auto c = static_cast<unsigned char>(ch);
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!name.empty() && name.back() != ' ') name.push_back(' ');
    } else if (alnum || c == '-' || c == '(' || c == ')' || c == '[' || c == ']') {
      name.push_back(ch);
    } else if (name.empty() || name.back() != '-') {
      name.push_back('-');  // one '-' per run of foreign bytes (a UTF-8 character is several)
    }
  }
  constexpr size_t kMax = 190;  // room for a " (n)" suffix within Bedrock's 200
  if (name.size() > kMax) name.resize(kMax);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  while (!name.empty() && name.front() == ' ') name.erase(0, 1);
  if (name.empty()) name = "document";
  std::string unique = name;
  for (int n = 2; std::find(used->begin(), used->end(), unique) != used->end(); ++n) {
    unique = StrCat(name, " (", n, ")");
  }
  used->push_back(unique);
  return unique;
}

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
  std::vector<std::string> document_names;
  for (size_t i = 0; i < messages->items().size(); ++i) {
    const Value& msg = messages->items()[i];
    std::string field = StrCat("messages[", i, "]");
    if (!msg.is_object()) return Invalid(field, "must be an object");
    std::string_view role = msg.GetString("role");
    const Value* content = msg.Find("content");
    if (role == "system" || role == "developer") {
      std::vector<TextPart> texts;
      if (content != nullptr) RETURN_IF_ERROR(AppendTextParts(*content, StrCat(field, ".content"), false, &texts));
      Value blocks = TextBlocks(std::move(texts));
      for (Value& b : blocks.items()) {
        // A system message that starts with a cache point (after a blank part) has nothing
        // of its own to cache; the previous system block is the prefix end either way.
        if (b.Find("cachePoint") != nullptr) {
          AppendCachePoint(&system, std::move(b));
        } else {
          system.Append(std::move(b));
        }
      }
    } else if (role == "user") {
      if (!Present(content)) return Invalid(StrCat(field, ".content"), "is required");
      ASSIGN_OR_RETURN(Value blocks, UserBlocks(*content, StrCat(field, ".content"), &document_names));
      AppendTurn(&turns, "user", std::move(blocks));
    } else if (role == "assistant") {
      ASSIGN_OR_RETURN(Value blocks, AssistantBlocks(msg, field, &history));
      AppendTurn(&turns, "assistant", std::move(blocks));
    } else if (role == "tool") {
      ASSIGN_OR_RETURN(Value blocks, ToolResultBlocks(msg, field));
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
  if (const Value* g = doc.Find("guardrailConfig"); Present(g)) {
    ASSIGN_OR_RETURN(Value guardrail, GuardrailConfig(*g, doc.GetBool("stream", false)));
    body.Set("guardrailConfig", std::move(guardrail));
  }

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
      // Titan's InvokeModel body has a single inputText and no batch form; splitting the
      // array into several upstream calls is beyond a translator (one request, one call).
      return Invalid("input", StrCat("the AWSBedrock backend (Titan) embeds one input per request; got ",
                                     input->items().size(),
                                     " strings, but Titan text embeddings take exactly one inputText per "
                                     "InvokeModel call; send one string per request"));
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
