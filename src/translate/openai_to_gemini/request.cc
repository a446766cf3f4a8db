// OpenAI chat.completions / embeddings requests -> Vertex AI Gemini requests.
// Field mapping: shared/reference/provider-apis.md §5.2 and §7; Vertex request reference:
// https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
#include <map>
#include <string>

#include "common/status_macros.h"
#include "common/strings.h"
#include "translate/translator.h"
#include "translate/openai_to_gemini/gemini_internal.h"

namespace sluice::translate::gemini_internal {
namespace {

using json::Value;

absl::Status Invalid(std::string_view field, std::string_view what) { return InvalidField(field, what); }

bool Absent(const Value* v) { return v == nullptr || v->is_null(); }

bool IsInteger(const Value& v) {
  return v.is_number() && v.as_string().find_first_of(".eE") == std::string::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Gemini needs a MIME type for fileData; URLs carry none, so the path's extension decides.
std::string_view MimeFromName(std::string_view name, std::string_view fallback) {
  name = name.substr(0, name.find_first_of("?#"));
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || name.find('/', dot) != std::string_view::npos) return fallback;
  std::string ext = Lower(name.substr(dot + 1));
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"png", "image/png"},        {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},        {"webp", "image/webp"},     {"heic", "image/heic"},
      {"heif", "image/heif"},      {"pdf", "application/pdf"}, {"txt", "text/plain"},
      {"html", "text/html"},       {"csv", "text/csv"},        {"md", "text/markdown"},
      {"json", "application/json"}, {"wav", "audio/wav"},      {"mp3", "audio/mpeg"},
      {"flac", "audio/flac"},      {"ogg", "audio/ogg"},       {"m4a", "audio/mp4"},
      {"aac", "audio/aac"},        {"opus", "audio/opus"},     {"mp4", "video/mp4"},
      {"mov", "video/quicktime"},  {"webm", "video/webm"},     {"mpeg", "video/mpeg"},
      {"avi", "video/x-msvideo"},  {"3gp", "video/3gpp"}};
  for (const auto& [e, mime] : kTypes)
    if (e == ext) return mime;
  return fallback;
}

Value InlineData(std::string_view mime, std::string_view data) {
  Value inline_data = Value::Object();
  inline_data.Set("mimeType", Value::String(std::string(mime)));
  inline_data.Set("data", Value::String(std::string(data)));
  Value part = Value::Object();
  part.Set("inlineData", std::move(inline_data));
  return part;
}

// "data:<mime>;base64,<payload>" -> inlineData. Percent-encoded (non-base64) data URLs are
// refused: Gemini wants base64.
absl::StatusOr<Value> DataUrlPart(std::string_view url, std::string_view fallback_mime,
                                  const std::string& field) {
  size_t comma = url.find(',');
  if (comma == std::string_view::npos) return Invalid(field, "malformed data URL");
  std::string_view meta = url.substr(5, comma - 5);  // after "data:"
  std::string_view payload = url.substr(comma + 1);
  constexpr std::string_view kBase64 = ";base64";
  if (meta.size() < kBase64.size() || Lower(meta.substr(meta.size() - kBase64.size())) != kBase64) {
    return Invalid(field, "only base64 data URLs are supported");
  }
  meta.remove_suffix(kBase64.size());
  std::string_view mime = meta.substr(0, meta.find(';'));  // drop parameters (charset=...)
  if (mime.empty()) mime = fallback_mime;
  return InlineData(mime, payload);
}

// A URL from image_url or file: data URL -> inlineData; gs:// or http(s) -> fileData.
absl::StatusOr<Value> MediaPart(std::string_view url, std::string_view fallback_mime,
                                const std::string& field) {
  if (url.starts_with("data:")) return DataUrlPart(url, fallback_mime, field);
  if (url.starts_with("gs://") || url.starts_with("https://") || url.starts_with("http://")) {
    Value file_data = Value::Object();
    file_data.Set("mimeType", Value::String(std::string(MimeFromName(url, fallback_mime))));
    file_data.Set("fileUri", Value::String(std::string(url)));
    Value part = Value::Object();
    part.Set("fileData", std::move(file_data));
    return part;
  }
  return Invalid(field, "unsupported URL (use a base64 data URL, gs:// or https://)");
}

Value TextPart(std::string_view text) {
  Value part = Value::Object();
  part.Set("text", Value::String(std::string(text)));
  return part;
}

// Text-only content (system, developer, assistant, tool): a string or text parts. Assistant
// `refusal` parts count as text. Vertex rejects empty text parts, so "" adds nothing.
absl::Status AppendTextParts(const Value& content, const std::string& field, bool allow_refusal,
                             std::string_view role, Value* parts) {
  if (content.is_null()) return absl::OkStatus();
  if (content.is_string()) {
    if (!content.as_string().empty()) parts->Append(TextPart(content.as_string()));
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of parts");
  for (size_t j = 0; j < content.size(); ++j) {
    const Value& p = content.items()[j];
    std::string pf = StrCat(field, "[", j, "]");
    if (!p.is_object()) return Invalid(pf, "must be an object");
    std::string_view type = p.GetString("type");
    std::string_view key = type == "refusal" && allow_refusal ? "refusal" : "text";
    if (type != "text" && key != "refusal") {
      return Invalid(pf, StrCat("unsupported part type \"", type, "\" in a ", role, " message"));
    }
    const Value* text = p.Find(key);
    if (text == nullptr || !text->is_string()) return Invalid(StrCat(pf, ".", key), "must be a string");
    if (!text->as_string().empty()) parts->Append(TextPart(text->as_string()));
  }
  return absl::OkStatus();
}

std::string JoinText(const Value& content) {  // REQUIRES: validated text content
  if (content.is_string()) return content.as_string();
  std::string out;
  if (content.is_array())
    for (const auto& p : content.items()) out.append(p.GetString("text"));
  return out;
}

absl::Status AppendUserParts(const Value& content, const std::string& field, Value* parts) {
  if (content.is_null() || content.is_string()) return AppendTextParts(content, field, false, "user", parts);
  if (!content.is_array()) return Invalid(field, "must be a string or an array of parts");
  for (size_t j = 0; j < content.size(); ++j) {
    const Value& p = content.items()[j];
    std::string pf = StrCat(field, "[", j, "]");
    if (!p.is_object()) return Invalid(pf, "must be an object");
    std::string_view type = p.GetString("type");
    if (type == "text") {
      const Value* text = p.Find("text");
      if (text == nullptr || !text->is_string()) return Invalid(pf + ".text", "must be a string");
      if (!text->as_string().empty()) parts->Append(TextPart(text->as_string()));
    } else if (type == "image_url") {
      const Value* image = p.Find("image_url");
      std::string_view url;
      if (image != nullptr && image->is_string()) url = image->as_string();  // lenient shorthand
      else if (image != nullptr && image->is_object()) url = image->GetString("url");
      if (url.empty()) return Invalid(pf + ".image_url.url", "must be a non-empty string");
      // `detail` has no per-part equivalent on Gemini 2.x (mediaResolution is request-wide).
      ASSIGN_OR_RETURN(Value part, MediaPart(url, "image/jpeg", pf + ".image_url.url"));
      parts->Append(std::move(part));
    } else if (type == "input_audio") {
      const Value* audio = p.Find("input_audio");
      if (audio == nullptr || !audio->is_object()) return Invalid(pf + ".input_audio", "must be an object");
      std::string_view data = audio->GetString("data");
      std::string_view format = audio->GetString("format");
      if (data.empty()) return Invalid(pf + ".input_audio.data", "must be a non-empty string");
      if (format.empty()) return Invalid(pf + ".input_audio.format", "must be a non-empty string");
      parts->Append(InlineData(StrCat("audio/", Lower(format)), data));
    } else if (type == "file") {
      const Value* file = p.Find("file");
      if (file == nullptr || !file->is_object()) return Invalid(pf + ".file", "must be an object");
      std::string_view data = file->GetString("file_data");
      if (data.empty()) {
        if (file->Find("file_id") != nullptr) {
          return Invalid(pf + ".file.file_id", "OpenAI file ids cannot be sent to a Gemini backend; send file_data");
        }
        return Invalid(pf + ".file.file_data", "must be a non-empty string");
      }
      std::string_view mime = MimeFromName(file->GetString("filename"), "application/pdf");
      if (data.starts_with("data:")) {
        ASSIGN_OR_RETURN(Value part, DataUrlPart(data, mime, pf + ".file.file_data"));
        parts->Append(std::move(part));
      } else {
        parts->Append(InlineData(mime, data));  // raw base64
      }
    } else {
      return Invalid(pf, StrCat("unsupported part type \"", type, "\""));
    }
  }
  return absl::OkStatus();
}

// Appends `parts` to the last content if it has the same role (Gemini wants user/model turns;
// OpenAI's consecutive user and tool messages become one user turn), else a new content.
void AddTurn(std::string_view role, Value&& parts, Value* contents) {
  if (parts.size() == 0) return;  // Vertex rejects contents without parts
  if (contents->size() > 0) {
    Value& last = contents->items().back();
    if (last.GetString("role") == role) {
      Value* have = last.Find("parts");
      for (auto& p : parts.items()) have->Append(std::move(p));
      return;
    }
  }
  Value content = Value::Object();
  content.Set("role", Value::String(std::string(role)));
  content.Set("parts", std::move(parts));
  contents->Append(std::move(content));
}

absl::Status ConvertMessages(const Value& messages, Value* contents, Value* system_parts) {
  // tool_call_id -> function name, from assistant turns seen so far (the latest wins, so a
  // tool message finds the call it answers even if an id was reused earlier).
  std::map<std::string, std::string, std::less<>> call_names;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Value& m = messages.items()[i];
    std::string field = StrCat("messages[", i, "]");
    if (!m.is_object()) return Invalid(field, "must be an object");
    std::string_view role = m.GetString("role");
    const Value* content_ptr = m.Find("content");
    static const Value kNull;
    const Value& content = content_ptr ? *content_ptr : kNull;
    std::string cf = field + ".content";
    if (role == "system" || role == "developer") {
      // Placement in the conversation is lost: Gemini has one systemInstruction.
      RETURN_IF_ERROR(AppendTextParts(content, cf, false, role, system_parts));
    } else if (role == "user") {
      Value parts = Value::Array();
      RETURN_IF_ERROR(AppendUserParts(content, cf, &parts));
      AddTurn("user", std::move(parts), contents);
    } else if (role == "assistant") {
      Value parts = Value::Array();
      RETURN_IF_ERROR(AppendTextParts(content, cf, true, role, &parts));
      if (const Value* calls = m.Find("tool_calls"); !Absent(calls)) {
        if (!calls->is_array()) return Invalid(field + ".tool_calls", "must be an array");
        for (size_t k = 0; k < calls->size(); ++k) {
          const Value& call = calls->items()[k];
          std::string tf = StrCat(field, ".tool_calls[", k, "]");
          if (!call.is_object()) return Invalid(tf, "must be an object");
          if (std::string_view t = call.GetString("type"); !t.empty() && t != "function") {
            return Invalid(tf + ".type", StrCat("unsupported tool call type \"", t, "\""));
          }
          const Value* fn = call.Find("function");
          if (fn == nullptr || !fn->is_object()) return Invalid(tf + ".function", "must be an object");
          std::string_view name = fn->GetString("name");
          if (name.empty()) return Invalid(tf + ".function.name", "must be a non-empty string");
          Value args = Value::Object();
          if (const Value* a = fn->Find("arguments"); !Absent(a)) {
            if (a->is_object()) {
              args = *a;  // lenient: some clients send the object itself
            } else if (!a->is_string()) {
              return Invalid(tf + ".function.arguments", "must be a string of JSON");
            } else if (!StripWhitespace(a->as_string()).empty()) {
              auto parsed = json::Parse(a->as_string());
              if (!parsed.ok() || !parsed->is_object()) {
                return Invalid(tf + ".function.arguments", "must be a JSON object (Gemini function call args)");
              }
              args = std::move(*parsed);
            }
          }
          Value fc = Value::Object();
          fc.Set("name", Value::String(std::string(name)));
          fc.Set("args", std::move(args));
          Value part = Value::Object();
          part.Set("functionCall", std::move(fc));
          std::string_view id = call.GetString("id");
          std::string_view signature = ThoughtSignatureFromId(id);
          if (signature.empty()) {
            // Google's own OpenAI-compatible endpoint carries it here.
            if (const Value* extra = call.Find("extra_content"); extra && extra->is_object())
              if (const Value* g = extra->Find("google"); g && g->is_object())
                signature = g->GetString("thought_signature");
          }
          if (!signature.empty()) part.Set("thoughtSignature", Value::String(std::string(signature)));
          parts.Append(std::move(part));
          if (!id.empty()) call_names[std::string(id)] = std::string(name);
        }
      }
      AddTurn("model", std::move(parts), contents);
    } else if (role == "tool") {
      std::string_view id = m.GetString("tool_call_id");
      if (id.empty()) return Invalid(field + ".tool_call_id", "must be a non-empty string");
      // Gemini needs the function's name, which OpenAI tool messages do not carry: it comes
      // from the assistant call with this id, else from the (legacy) `name` on the message.
      std::string name;
      if (auto it = call_names.find(id); it != call_names.end()) name = it->second;
      else name = std::string(m.GetString("name"));
      if (name.empty()) {
        return Invalid(field + ".tool_call_id",
                       StrCat("no earlier assistant tool call has id \"", id, "\""));
      }
      Value scratch = Value::Array();  // validates text-only content
      RETURN_IF_ERROR(AppendTextParts(content, cf, false, role, &scratch));
      Value response = Value::Object();
      response.Set("output", Value::String(JoinText(content)));
      Value fr = Value::Object();
      fr.Set("name", Value::String(std::move(name)));
      fr.Set("response", std::move(response));
      Value part = Value::Object();
      part.Set("functionResponse", std::move(fr));
      Value parts = Value::Array();
      parts.Append(std::move(part));
      AddTurn("user", std::move(parts), contents);
    } else if (role.empty()) {
      return Invalid(field + ".role", "must be a non-empty string");
    } else {
      return Invalid(field + ".role", StrCat("unsupported role \"", role, "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status ConvertTools(const Value& doc, Value* out) {
  const Value* tools = doc.Find("tools");
  const Value* choice = doc.Find("tool_choice");
  Value decls = Value::Array();
  if (!Absent(tools)) {
    if (!tools->is_array()) return Invalid("tools", "must be an array");
    for (size_t t = 0; t < tools->size(); ++t) {
      const Value& tool = tools->items()[t];
      std::string tf = StrCat("tools[", t, "]");
      if (!tool.is_object()) return Invalid(tf, "must be an object");
      std::string_view type = tool.GetString("type");
      if (type != "function") return Invalid(tf + ".type", StrCat("unsupported tool type \"", type, "\""));
      const Value* fn = tool.Find("function");
      if (fn == nullptr || !fn->is_object()) return Invalid(tf + ".function", "must be an object");
      std::string_view name = fn->GetString("name");
      if (name.empty()) return Invalid(tf + ".function.name", "must be a non-empty string");
      Value decl = Value::Object();
      decl.Set("name", Value::String(std::string(name)));
      if (std::string_view d = fn->GetString("description"); !d.empty())
        decl.Set("description", Value::String(std::string(d)));
      if (const Value* params = fn->Find("parameters"); !Absent(params)) {
        bool lossy = false;
        ASSIGN_OR_RETURN(Value schema, ConvertSchema(*params, tf + ".function.parameters", &lossy));
        // Vertex rejects an OBJECT with empty properties; a function without parameters
        // simply has no `parameters`. A schema the OpenAPI subset cannot express goes as
        // JSON Schema (Gemini 2.5 and later read parametersJsonSchema).
        const Value* props = schema.Find("properties");
        bool empty_object = schema.GetString("type") == "OBJECT" && (props == nullptr || props->size() == 0);
        if (lossy) decl.Set("parametersJsonSchema", *params);
        else if (!empty_object) decl.Set("parameters", std::move(schema));
      }
      decls.Append(std::move(decl));
    }
  }

  // tool_choice -> functionCallingConfig. allowed_tools in "auto" mode narrows the declared
  // functions instead (Gemini allows allowedFunctionNames only with mode ANY).
  Value fcc;
  if (!Absent(choice)) {
    fcc = Value::Object();
    if (choice->is_string()) {
      const std::string& c = choice->as_string();
      if (c == "auto") fcc.Set("mode", Value::String("AUTO"));
      else if (c == "none") fcc.Set("mode", Value::String("NONE"));
      else if (c == "required") fcc.Set("mode", Value::String("ANY"));
      else return Invalid("tool_choice", StrCat("unsupported value \"", c, "\""));
    } else if (choice->is_object()) {
      std::string_view type = choice->GetString("type");
      if (type == "function") {
        const Value* fn = choice->Find("function");
        std::string_view name = fn ? fn->GetString("name") : std::string_view();
        if (name.empty()) return Invalid("tool_choice.function.name", "must be a non-empty string");
        fcc.Set("mode", Value::String("ANY"));
        Value names = Value::Array();
        names.Append(Value::String(std::string(name)));
        fcc.Set("allowedFunctionNames", std::move(names));
      } else if (type == "allowed_tools") {
        const Value* at = choice->Find("allowed_tools");
        if (at == nullptr || !at->is_object()) return Invalid("tool_choice.allowed_tools", "must be an object");
        std::string_view mode = at->GetString("mode");
        const Value* list = at->Find("tools");
        if (list == nullptr || !list->is_array()) return Invalid("tool_choice.allowed_tools.tools", "must be an array");
        Value names = Value::Array();
        for (size_t i = 0; i < list->size(); ++i) {
          const Value& e = list->items()[i];
          const Value* fn = e.Find("function");
          std::string_view name = fn ? fn->GetString("name") : e.GetString("name");
          if (name.empty()) {
            return Invalid(StrCat("tool_choice.allowed_tools.tools[", i, "]"), "must name a function");
          }
          names.Append(Value::String(std::string(name)));
        }
        if (mode == "required") {
          fcc.Set("mode", Value::String("ANY"));
          fcc.Set("allowedFunctionNames", std::move(names));
        } else if (mode == "auto" || mode.empty()) {
          fcc.Set("mode", Value::String("AUTO"));
          Value kept = Value::Array();
          for (auto& d : decls.items()) {
            bool allowed = false;
            for (const auto& n : names.items()) allowed = allowed || n.as_string() == d.GetString("name");
            if (allowed) kept.Append(std::move(d));
          }
          decls = std::move(kept);
        } else {
          return Invalid("tool_choice.allowed_tools.mode", StrCat("unsupported value \"", mode, "\""));
        }
      } else {
        return Invalid("tool_choice.type", StrCat("unsupported tool choice type \"", type, "\""));
      }
    } else {
      return Invalid("tool_choice", "must be a string or an object");
    }
  }

  Value tool_list = Value::Array();
  if (decls.size() > 0) {
    Value tool = Value::Object();
    tool.Set("functionDeclarations", std::move(decls));
    tool_list.Append(std::move(tool));
  }
  // OpenAI's search models take web_search_options; Gemini grounds with the googleSearch tool.
  // (groundingMetadata is not mapped back to url_citation annotations.)
  if (const Value* ws = doc.Find("web_search_options"); !Absent(ws)) {
    Value tool = Value::Object();
    tool.Set("googleSearch", Value::Object());
    tool_list.Append(std::move(tool));
  }
  if (tool_list.size() > 0) out->Set("tools", std::move(tool_list));
  if (!fcc.is_null()) {
    Value tc = Value::Object();
    tc.Set("functionCallingConfig", std::move(fcc));
    out->Set("toolConfig", std::move(tc));
  }
  return absl::OkStatus();
}

absl::Status CopyNumber(const Value& doc, std::string_view key, std::string_view gkey, Value* gen) {
  const Value* v = doc.Find(key);
  if (Absent(v)) return absl::OkStatus();
  if (!v->is_number()) return Invalid(key, "must be a number");
  gen->Set(gkey, *v);
  return absl::OkStatus();
}

absl::Status CopyInteger(const Value& doc, std::string_view key, std::string_view gkey, Value* gen) {
  const Value* v = doc.Find(key);
  if (Absent(v)) return absl::OkStatus();
  if (!IsInteger(*v)) return Invalid(key, "must be an integer");
  gen->Set(gkey, *v);
  return absl::OkStatus();
}

// Thinking budgets per reasoning_effort. Gemini 2.5 takes a token budget; the numbers follow
// Google's OpenAI-compatibility table for low/medium/high (1024/8192/24576); "none" turns
// thinking off (budget 0, accepted by Flash models; Pro models cannot disable thinking).
absl::StatusOr<Value> ThinkingConfig(const Value& doc) {
  Value tc;
  if (const Value* effort = doc.Find("reasoning_effort"); !Absent(effort)) {
    if (!effort->is_string()) return Invalid("reasoning_effort", "must be a string");
    const std::string& e = effort->as_string();
    int64_t budget;
    if (e == "none") budget = 0;
    else if (e == "minimal" || e == "low") budget = 1024;
    else if (e == "medium") budget = 8192;
    else if (e == "high" || e == "xhigh") budget = 24576;
    else return Invalid("reasoning_effort", StrCat("unsupported value \"", e, "\""));
    tc = Value::Object();
    tc.Set("thinkingBudget", Value::Int(budget));
  }
  // The gateway-wide `thinking` extension (Anthropic-shaped), which wins over reasoning_effort:
  // {"type":"enabled","budget_tokens":N,"include_thoughts":bool} | {"type":"disabled"} |
  // {"type":"adaptive"} (Gemini's dynamic budget, -1). Thoughts are returned by default when
  // thinking is enabled this way, as `reasoning_content`.
  if (const Value* th = doc.Find("thinking"); !Absent(th)) {
    if (!th->is_object()) return Invalid("thinking", "must be an object");
    std::string_view type = th->GetString("type");
    tc = Value::Object();
    if (type == "enabled" || type == "adaptive") {
      if (const Value* b = th->Find("budget_tokens"); !Absent(b)) {
        if (!IsInteger(*b)) return Invalid("thinking.budget_tokens", "must be an integer");
        tc.Set("thinkingBudget", *b);
      } else if (type == "adaptive") {
        tc.Set("thinkingBudget", Value::Int(-1));
      }
      tc.Set("includeThoughts", Value::Bool(th->GetBool("include_thoughts", true)));
    } else if (type == "disabled") {
      tc.Set("thinkingBudget", Value::Int(0));
    } else {
      return Invalid("thinking.type", StrCat("unsupported value \"", type, "\""));
    }
  }
  return tc;
}

absl::StatusOr<Value> GenerationConfig(const Value& doc, bool stream) {
  Value gen = Value::Object();
  RETURN_IF_ERROR(CopyNumber(doc, "temperature", "temperature", &gen));
  RETURN_IF_ERROR(CopyNumber(doc, "top_p", "topP", &gen));
  RETURN_IF_ERROR(CopyInteger(doc, "top_k", "topK", &gen));  // vLLM-style extension
  if (const Value* n = doc.Find("n"); !Absent(n)) {
    if (!IsInteger(*n) || n->as_int() < 1) return Invalid("n", "must be a positive integer");
    if (stream && n->as_int() > 1) return Invalid("n", "must be 1 when streaming from a Gemini backend");
    gen.Set("candidateCount", *n);
  }
  // max_completion_tokens (current) wins over max_tokens (deprecated).
  const Value* max = doc.Find("max_completion_tokens");
  std::string_view max_key = "max_completion_tokens";
  if (Absent(max)) {
    max = doc.Find("max_tokens");
    max_key = "max_tokens";
  }
  if (!Absent(max)) {
    if (!IsInteger(*max)) return Invalid(max_key, "must be an integer");
    gen.Set("maxOutputTokens", *max);
  }
  if (const Value* stop = doc.Find("stop"); !Absent(stop)) {
    Value seqs = Value::Array();
    if (stop->is_string()) {
      seqs.Append(*stop);
    } else if (stop->is_array()) {
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!stop->items()[i].is_string()) return Invalid(StrCat("stop[", i, "]"), "must be a string");
        seqs.Append(stop->items()[i]);
      }
    } else {
      return Invalid("stop", "must be a string or an array of strings");
    }
    if (seqs.size() > 0) gen.Set("stopSequences", std::move(seqs));
  }
  RETURN_IF_ERROR(CopyNumber(doc, "presence_penalty", "presencePenalty", &gen));
  RETURN_IF_ERROR(CopyNumber(doc, "frequency_penalty", "frequencyPenalty", &gen));
  RETURN_IF_ERROR(CopyInteger(doc, "seed", "seed", &gen));

  if (const Value* rf = doc.Find("response_format"); !Absent(rf)) {
    if (!rf->is_object()) return Invalid("response_format", "must be an object");
    std::string_view type = rf->GetString("type");
    if (type == "json_object") {
      gen.Set("responseMimeType", Value::String("application/json"));
    } else if (type == "json_schema") {
      gen.Set("responseMimeType", Value::String("application/json"));
      const Value* js = rf->Find("json_schema");
      if (js == nullptr || !js->is_object()) return Invalid("response_format.json_schema", "must be an object");
      if (const Value* schema = js->Find("schema"); !Absent(schema)) {
        bool lossy = false;
        ASSIGN_OR_RETURN(Value converted, ConvertSchema(*schema, "response_format.json_schema.schema", &lossy));
        // As for tools above; a free-form object (no properties) too, which Vertex refuses
        // as a responseSchema.
        const Value* props = converted.Find("properties");
        if (converted.GetString("type") == "OBJECT" && (props == nullptr || props->size() == 0)) lossy = true;
        if (lossy) gen.Set("responseJsonSchema", *schema);
        else gen.Set("responseSchema", std::move(converted));
      }
    } else if (type != "text") {
      return Invalid("response_format.type", StrCat("unsupported value \"", type, "\""));
    }
  }
  ASSIGN_OR_RETURN(Value thinking, ThinkingConfig(doc));
  if (!thinking.is_null()) gen.Set("thinkingConfig", std::move(thinking));
  return gen;
}

}  // namespace

std::string_view ThoughtSignatureFromId(std::string_view id) {
  size_t at = id.rfind(kThoughtSignatureMarker);
  if (at == std::string_view::npos) return {};
  return id.substr(at + kThoughtSignatureMarker.size());
}


absl::StatusOr<std::string> VertexModelPath(const config::Backend& backend, std::string_view model,
                                            std::string_view method) {
  const auto& auth = backend.auth;
  if (auth.gcp_project.empty() || auth.gcp_region.empty()) {
    return absl::FailedPreconditionError(
        StrCat("backend ", backend.name, ": a GCPVertexAI backend needs a GCP project and region"));
  }
  return StrCat("/v1/projects/", PercentEncode(auth.gcp_project, "@"), "/locations/",
                PercentEncode(auth.gcp_region, "@"), "/publishers/google/models/",
                PercentEncode(model, "@"), ":", method);
}

absl::StatusOr<Value> BuildGenerateContentRequest(const Value& doc, bool stream) {
  const Value* messages = doc.Find("messages");
  if (Absent(messages) || !messages->is_array()) return Invalid("messages", "must be an array");
  if (messages->size() == 0) return Invalid("messages", "must not be empty");
  // Requests Gemini cannot answer in kind are refused rather than silently degraded.
  if (const Value* mods = doc.Find("modalities"); mods && mods->is_array()) {
    for (const auto& m : mods->items())
      if (m.is_string() && m.as_string() == "audio")
        return Invalid("modalities", "audio output is not supported by Gemini backends");
  }
  if (!Absent(doc.Find("audio"))) return Invalid("audio", "audio output is not supported by Gemini backends");
  if (!Absent(doc.Find("functions")) || !Absent(doc.Find("function_call"))) {
    return Invalid(Absent(doc.Find("functions")) ? "function_call" : "functions",
                   "deprecated function calling is not supported; use tools and tool_choice");
  }

  Value out = Value::Object();
  Value contents = Value::Array();
  Value system_parts = Value::Array();
  RETURN_IF_ERROR(ConvertMessages(*messages, &contents, &system_parts));
  if (contents.size() == 0) {
    // Gemini answers 400 "contents is not specified" for a system-only (or empty) request.
    return Invalid("messages", "Gemini backends need at least one user or assistant message with content");
  }
  out.Set("contents", std::move(contents));
  if (system_parts.size() > 0) {
    Value si = Value::Object();
    si.Set("parts", std::move(system_parts));
    out.Set("systemInstruction", std::move(si));
  }
  RETURN_IF_ERROR(ConvertTools(doc, &out));
  // Envoy AI Gateway's vendor extension: Gemini safety settings, passed through.
  if (const Value* ss = doc.Find("safetySettings"); !Absent(ss)) {
    if (!ss->is_array()) return Invalid("safetySettings", "must be an array");
    out.Set("safetySettings", *ss);
  }
  ASSIGN_OR_RETURN(Value gen, GenerationConfig(doc, stream));
  if (gen.size() > 0) out.Set("generationConfig", std::move(gen));
  return out;
}

namespace {

// One text to embed, with the Vertex options that can differ per text.
struct EmbeddingText {
  const Value* text;
  std::string field;       // where it came from, for errors: "input", "input[2]", "input[1].content[0]"
  std::string task_type;   // empty: the model's default
  std::string title;       // only with task_type RETRIEVAL_DOCUMENT
};

absl::StatusOr<std::string> OptionalString(const Value& holder, std::string_view key, std::string_view field) {
  const Value* v = holder.Find(key);
  if (Absent(v)) return std::string();
  if (!v->is_string() || v->as_string().empty()) return Invalid(field, "must be a non-empty string");
  return std::string(v->as_string());
}

// OpenAI's `input` (a string or an array of strings) plus Envoy AI Gateway's Vertex vendor
// extension: an input element may be {"content": string | [strings], "task_type", "title"}, and
// top-level `task_type` / `title` apply to every text (overriding the element's).
absl::StatusOr<std::vector<EmbeddingText>> EmbeddingTexts(const Value& doc) {
  const Value* input = doc.Find("input");
  if (Absent(input)) return Invalid("input", "is required");
  ASSIGN_OR_RETURN(std::string task_type, OptionalString(doc, "task_type", "task_type"));
  ASSIGN_OR_RETURN(std::string title, OptionalString(doc, "title", "title"));
  std::vector<EmbeddingText> out;
  auto add_item = [&](const Value& e, const std::string& field) -> absl::Status {
    if (e.is_string()) {
      out.push_back({&e, field, {}, {}});
      return absl::OkStatus();
    }
    if (!e.is_object()) {
      return Invalid(field, e.is_number() || e.is_array() ? "token ids are not supported by Gemini embedding models; send text"
                                                          : "must be a string");
    }
    const Value* content = e.Find("content");
    ASSIGN_OR_RETURN(std::string item_task, OptionalString(e, "task_type", field + ".task_type"));
    ASSIGN_OR_RETURN(std::string item_title, OptionalString(e, "title", field + ".title"));
    for (const auto& [k, v] : e.members()) {
      if (k != "content" && k != "task_type" && k != "title")
        return Invalid(StrCat(field, ".", k), "unknown field (an input item has content, task_type and title)");
    }
    auto one = [&](const Value& t, std::string f) -> absl::Status {
      if (!t.is_string()) return Invalid(f, "must be a string");
      out.push_back({&t, std::move(f), item_task, item_title});
      return absl::OkStatus();
    };
    if (content != nullptr && content->is_string()) return one(*content, field + ".content");
    if (content == nullptr || !content->is_array() || content->size() == 0)
      return Invalid(field + ".content", "must be a string or a non-empty array of strings");
    for (size_t j = 0; j < content->size(); ++j)
      RETURN_IF_ERROR(one(content->items()[j], StrCat(field, ".content[", j, "]")));
    return absl::OkStatus();
  };
  if (input->is_array()) {
    if (input->size() == 0) return Invalid("input", "must not be empty");
    for (size_t i = 0; i < input->size(); ++i) RETURN_IF_ERROR(add_item(input->items()[i], StrCat("input[", i, "]")));
  } else if (input->is_string() || input->is_object()) {
    RETURN_IF_ERROR(add_item(*input, "input"));
  } else {
    return Invalid("input", "must be a string or an array of strings");
  }
  for (EmbeddingText& t : out) {
    if (!task_type.empty()) t.task_type = task_type;
    if (!title.empty()) t.title = title;
    // A title names the document being indexed: Vertex takes it with RETRIEVAL_DOCUMENT only.
    // Dropped for any other task, as Envoy AI Gateway does, so clients written for it work.
    if (t.task_type != "RETRIEVAL_DOCUMENT") t.title.clear();
  }
  return out;
}

absl::Status CheckEncodingFormat(const Value& doc) {
  if (const Value* f = doc.Find("encoding_format"); !Absent(f)) {
    if (!f->is_string() || (f->as_string() != "float" && f->as_string() != "base64"))
      return Invalid("encoding_format", "must be \"float\" or \"base64\"");
  }
  return absl::OkStatus();
}

absl::StatusOr<const Value*> Dimensions(const Value& doc) {
  const Value* dims = doc.Find("dimensions");
  if (Absent(dims)) return nullptr;
  if (!IsInteger(*dims) || dims->as_int() < 1) return Invalid("dimensions", "must be a positive integer");
  return dims;
}

absl::StatusOr<const Value*> AutoTruncate(const Value& doc) {
  const Value* v = doc.Find("auto_truncate");
  if (Absent(v)) return nullptr;
  if (!v->is_bool()) return Invalid("auto_truncate", "must be a boolean");
  return v;
}

}  // namespace

bool UsesEmbedContent(std::string_view model) {
  if (model.find("maas") != std::string_view::npos) return true;  // Model-as-a-Service embedding models
  return model.find("gemini") != std::string_view::npos && model != "gemini-embedding-001";
}

absl::StatusOr<Value> BuildPredictRequest(const Value& doc, std::string_view model) {
  ASSIGN_OR_RETURN(std::vector<EmbeddingText> texts, EmbeddingTexts(doc));
  if (model == "gemini-embedding-001" && texts.size() > 1) {
    // Vertex: "gemini-embedding-001 supports one instance per request".
    return Invalid("input", StrCat("gemini-embedding-001 on Vertex AI embeds one text per request; got ", texts.size(),
                                   " (send one request per text)"));
  }
  RETURN_IF_ERROR(CheckEncodingFormat(doc));
  ASSIGN_OR_RETURN(const Value* dims, Dimensions(doc));
  ASSIGN_OR_RETURN(const Value* truncate, AutoTruncate(doc));
  Value instances = Value::Array();
  for (const EmbeddingText& t : texts) {
    Value inst = Value::Object();
    inst.Set("content", *t.text);
    if (!t.task_type.empty()) inst.Set("task_type", Value::String(t.task_type));
    if (!t.title.empty()) inst.Set("title", Value::String(t.title));
    instances.Append(std::move(inst));
  }
  Value out = Value::Object();
  out.Set("instances", std::move(instances));
  Value params = Value::Object();
  if (dims != nullptr) params.Set("outputDimensionality", *dims);
  if (truncate != nullptr) params.Set("autoTruncate", *truncate);
  if (params.size() > 0) out.Set("parameters", std::move(params));
  return out;
}

absl::StatusOr<Value> BuildEmbedContentRequest(const Value& doc, std::string_view model) {
  ASSIGN_OR_RETURN(std::vector<EmbeddingText> texts, EmbeddingTexts(doc));
  if (texts.size() > 1) {
    // embedContent embeds one content (its parts together) per call.
    return Invalid("input", StrCat(model, " (Vertex AI embedContent) embeds one text per request; got ", texts.size(),
                                   " (send one request per text)"));
  }
  RETURN_IF_ERROR(CheckEncodingFormat(doc));
  ASSIGN_OR_RETURN(const Value* dims, Dimensions(doc));
  ASSIGN_OR_RETURN(const Value* truncate, AutoTruncate(doc));
  const EmbeddingText& t = texts.front();
  Value part = Value::Object();
  part.Set("text", *t.text);
  Value parts = Value::Array();
  parts.Append(std::move(part));
  Value content = Value::Object();
  content.Set("parts", std::move(parts));
  Value out = Value::Object();
  out.Set("content", std::move(content));
  Value config = Value::Object();
  if (!t.task_type.empty()) config.Set("taskType", Value::String(t.task_type));
  if (!t.title.empty()) config.Set("title", Value::String(t.title));
  if (dims != nullptr) config.Set("outputDimensionality", *dims);
  if (truncate != nullptr) config.Set("autoTruncate", *truncate);
  if (config.size() > 0) out.Set("embedContentConfig", std::move(config));
  return out;
}

}  // namespace sluice::translate::gemini_internal
