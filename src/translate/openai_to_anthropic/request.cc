#include "translate/openai_to_anthropic/request.h"

#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"

// Field facts: shared/reference/provider-apis.md §1.1 (OpenAI), §2.1 (Anthropic), §5.6
// (Vertex), §7 (mapping tables).
namespace sluice::translate::openai_to_anthropic_internal {
namespace {

using json::Value;

// Anthropic requires max_tokens; OpenAI does not. The default when the client gives none.
constexpr int64_t kDefaultMaxTokens = 4096;
// Anthropic's smallest thinking budget.
constexpr int64_t kMinThinkingBudget = 1024;

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

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Value TextBlock(std::string_view text) {
  Value b = Value::Object();
  b.Set("type", Str("text"));
  b.Set("text", Str(text));
  return b;
}

// Some OpenAI clients put Anthropic's `cache_control` on parts and tools (a common
// extension); it is kept where Anthropic accepts it.
void CopyCacheControl(const Value& from, Value* to) {
  const Value* cc = from.Find("cache_control");
  if (cc != nullptr && cc->is_object()) to->Set("cache_control", *cc);
}

// A positive integer number (no fraction or exponent).
bool PositiveInt(const Value& v, int64_t* out) {
  if (!v.is_number() || v.as_string().find_first_of(".eE-") != std::string::npos) return false;
  *out = v.as_int();
  return *out > 0;
}

// "data:<media type>[;params];base64,<data>" -> media type and data. Only base64 payloads.
bool ParseDataUrl(std::string_view url, std::string_view* media_type, std::string_view* data) {
  if (!StartsWith(url, "data:")) return false;
  size_t comma = url.find(',');
  if (comma == std::string_view::npos) return false;
  std::string_view meta = url.substr(5, comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (meta.size() < kBase64.size() || meta.substr(meta.size() - kBase64.size()) != kBase64) return false;
  meta.remove_suffix(kBase64.size());
  *media_type = meta.substr(0, meta.find(';'));
  *data = url.substr(comma + 1);
  return !media_type->empty();
}

absl::StatusOr<Value> ImageBlock(const Value& part, const std::string& field) {
  const Value* image = part.Find("image_url");
  std::string_view url;
  if (image != nullptr && image->is_object()) url = image->GetString("url");
  if (image != nullptr && image->is_string()) url = image->as_string();
  std::string url_field = StrCat(field, ".image_url.url");
  if (url.empty()) return Invalid(url_field, "is required");
  Value source = Value::Object();
  std::string_view media_type, data;
  if (StartsWith(url, "data:")) {
    if (!ParseDataUrl(url, &media_type, &data)) {
      return Invalid(url_field, "a data URL must be base64 with a media type");
    }
    source.Set("type", Str("base64"));
    source.Set("media_type", Str(media_type));
    source.Set("data", Str(data));
  } else if (StartsWith(url, "https://") || StartsWith(url, "http://")) {
    source.Set("type", Str("url"));
    source.Set("url", Str(url));
  } else {
    return Invalid(url_field, "must be an http(s) URL or a base64 data URL");
  }
  // `detail` has no Anthropic counterpart and is dropped.
  Value block = Value::Object();
  block.Set("type", Str("image"));
  block.Set("source", std::move(source));
  CopyCacheControl(part, &block);
  return block;
}

// OpenAI `file` parts: only inline PDFs (file_data) can be expressed, as a document block;
// file ids refer to OpenAI's file store.
absl::StatusOr<Value> FileBlock(const Value& part, const std::string& field) {
  const Value* file = part.Find("file");
  std::string_view url = file != nullptr ? file->GetString("file_data") : std::string_view();
  std::string_view media_type, data;
  if (url.empty() || !ParseDataUrl(url, &media_type, &data) || media_type != "application/pdf") {
    return Invalid(StrCat(field, ".file"),
                   "only file_data holding a base64 PDF data URL is supported by Anthropic backends");
  }
  Value source = Value::Object();
  source.Set("type", Str("base64"));
  source.Set("media_type", Str(media_type));
  source.Set("data", Str(data));
  Value block = Value::Object();
  block.Set("type", Str("document"));
  block.Set("source", std::move(source));
  if (std::string_view name = file->GetString("filename"); !name.empty()) block.Set("title", Str(name));
  CopyCacheControl(part, &block);
  return block;
}

enum class PartSet { kSystem, kUser, kAssistant, kTool };

// Appends the Anthropic blocks for an OpenAI `content` (string or parts) to `blocks`.
absl::Status AppendContent(const Value& content, const std::string& field, PartSet set, Value* blocks) {
  if (content.is_string()) {
    // Anthropic rejects empty text blocks; an empty assistant turn is just left out.
    if (set != PartSet::kAssistant || !content.as_string().empty()) {
      blocks->Append(TextBlock(content.as_string()));
    }
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of content parts");
  for (size_t j = 0; j < content.items().size(); ++j) {
    const Value& part = content.items()[j];
    std::string pf = StrCat(field, "[", j, "]");
    if (!part.is_object()) return Invalid(pf, "must be an object");
    std::string_view type = part.GetString("type");
    if (type == "text" || (type == "refusal" && set == PartSet::kAssistant)) {
      const Value* text = part.Find(type == "text" ? "text" : "refusal");
      if (text == nullptr || !text->is_string()) return Invalid(StrCat(pf, ".", type), "must be a string");
      if (set == PartSet::kAssistant && text->as_string().empty()) continue;
      Value block = TextBlock(text->as_string());
      CopyCacheControl(part, &block);
      blocks->Append(std::move(block));
      continue;
    }
    bool media_ok = set == PartSet::kUser || set == PartSet::kTool;
    if (type == "image_url" && media_ok) {
      auto block = ImageBlock(part, pf);
      if (!block.ok()) return block.status();
      blocks->Append(std::move(*block));
      continue;
    }
    if (type == "file" && set == PartSet::kUser) {
      auto block = FileBlock(part, pf);
      if (!block.ok()) return block.status();
      blocks->Append(std::move(*block));
      continue;
    }
    return Invalid(pf, StrCat("unsupported part type ", Quoted(type)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> ToolUseBlock(const Value& call, const std::string& field) {
  if (!call.is_object()) return Invalid(field, "must be an object");
  std::string_view type = call.GetString("type");
  if (!type.empty() && type != "function") {
    return Invalid(StrCat(field, ".type"), StrCat("unsupported tool call type ", Quoted(type)));
  }
  std::string_view id = call.GetString("id");
  if (id.empty()) return Invalid(StrCat(field, ".id"), "is required");
  const Value* fn = call.Find("function");
  std::string_view name = fn != nullptr ? fn->GetString("name") : std::string_view();
  if (name.empty()) return Invalid(StrCat(field, ".function.name"), "is required");
  // OpenAI carries arguments as JSON text; Anthropic wants the object itself.
  Value input = Value::Object();
  const Value* args = fn->Find("arguments");
  std::string args_field = StrCat(field, ".function.arguments");
  if (args != nullptr && args->is_string() && !StripWhitespace(args->as_string()).empty()) {
    auto parsed = json::Parse(args->as_string());
    if (!parsed.ok()) return Invalid(args_field, "is not valid JSON");
    input = std::move(*parsed);
  } else if (args != nullptr && args->is_object()) {
    input = *args;  // lenient: some clients send the object itself
  }
  if (!input.is_object()) return Invalid(args_field, "must encode a JSON object");
  Value block = Value::Object();
  block.Set("type", Str("tool_use"));
  block.Set("id", Str(id));
  block.Set("name", Str(name));
  block.Set("input", std::move(input));
  return block;
}

struct Turn {
  std::string role;  // "user" or "assistant"
  Value blocks = Value::Array();
};

// Anthropic combines consecutive turns of one role (Messages API reference); merging them here
// makes that explicit and puts consecutive tool results into one user turn, as required.
void AddTurn(std::vector<Turn>* turns, std::string_view role, Value&& blocks) {
  if (blocks.size() == 0) return;
  if (turns->empty() || turns->back().role != role) {
    turns->push_back(Turn{std::string(role), Value::Array()});
  }
  for (Value& b : blocks.items()) turns->back().blocks.Append(std::move(b));
}

// A lone plain text block is sent as a string, the form most requests use.
Value CollapseContent(Value&& blocks) {
  if (blocks.size() == 1) {
    const Value& b = blocks.items()[0];
    if (b.GetString("type") == "text" && b.Find("cache_control") == nullptr) return Str(b.GetString("text"));
  }
  return std::move(blocks);
}

absl::Status MapMessages(const Value& doc, Value* system, Value* messages) {
  const Value* msgs = doc.Find("messages");
  if (msgs == nullptr || !msgs->is_array()) return Invalid("messages", "must be an array");
  std::vector<Turn> turns;
  for (size_t i = 0; i < msgs->items().size(); ++i) {
    const Value& msg = msgs->items()[i];
    std::string field = StrCat("messages[", i, "]");
    if (!msg.is_object()) return Invalid(field, "must be an object");
    std::string_view role = msg.GetString("role");
    const Value* content = msg.Find("content");
    std::string cf = StrCat(field, ".content");
    Value blocks = Value::Array();
    if (role == "system" || role == "developer") {
      // Hoisted into the top-level `system`; where it stood in the conversation is lost.
      if (!Present(content)) return Invalid(cf, "is required");
      RETURN_IF_ERROR(AppendContent(*content, cf, PartSet::kSystem, system));
    } else if (role == "user") {
      if (!Present(content)) return Invalid(cf, "is required");
      RETURN_IF_ERROR(AppendContent(*content, cf, PartSet::kUser, &blocks));
      AddTurn(&turns, "user", std::move(blocks));
    } else if (role == "assistant") {
      // Thinking blocks (the `thinking_blocks` extension this translator returns) must come
      // first and unchanged for multi-turn tool use with thinking.
      if (const Value* tb = msg.Find("thinking_blocks"); tb != nullptr && tb->is_array()) {
        for (const Value& b : tb->items()) {
          std::string_view t = b.GetString("type");
          if (t == "thinking" || t == "redacted_thinking") blocks.Append(b);
        }
      }
      if (Present(content)) RETURN_IF_ERROR(AppendContent(*content, cf, PartSet::kAssistant, &blocks));
      if (const Value* calls = msg.Find("tool_calls"); Present(calls)) {
        if (!calls->is_array()) return Invalid(StrCat(field, ".tool_calls"), "must be an array");
        for (size_t j = 0; j < calls->items().size(); ++j) {
          auto block = ToolUseBlock(calls->items()[j], StrCat(field, ".tool_calls[", j, "]"));
          if (!block.ok()) return block.status();
          blocks.Append(std::move(*block));
        }
      }
      if (Present(msg.Find("function_call"))) {
        return Invalid(StrCat(field, ".function_call"), "is deprecated and not supported; use tool_calls");
      }
      AddTurn(&turns, "assistant", std::move(blocks));
    } else if (role == "tool") {
      std::string_view id = msg.GetString("tool_call_id");
      if (id.empty()) return Invalid(StrCat(field, ".tool_call_id"), "is required");
      Value result = Value::Object();
      result.Set("type", Str("tool_result"));
      result.Set("tool_use_id", Str(id));
      if (Present(content) && content->is_string()) {
        if (!content->as_string().empty()) result.Set("content", *content);
      } else if (Present(content)) {
        Value parts = Value::Array();
        RETURN_IF_ERROR(AppendContent(*content, cf, PartSet::kTool, &parts));
        result.Set("content", std::move(parts));
      }
      blocks.Append(std::move(result));
      AddTurn(&turns, "user", std::move(blocks));
    } else {
      return Invalid(StrCat(field, ".role"), StrCat("unsupported role ", Quoted(role)));
    }
  }
  if (turns.empty()) return Invalid("messages", "at least one user or assistant message is required");
  for (Turn& t : turns) {
    Value m = Value::Object();
    m.Set("role", Str(t.role));
    m.Set("content", CollapseContent(std::move(t.blocks)));
    messages->Append(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status MapTools(const Value& doc, Value* tools) {
  const Value* in = doc.Find("tools");
  if (!Present(in)) return absl::OkStatus();
  if (!in->is_array()) return Invalid("tools", "must be an array");
  for (size_t i = 0; i < in->items().size(); ++i) {
    const Value& t = in->items()[i];
    std::string field = StrCat("tools[", i, "]");
    std::string_view type = t.GetString("type");
    if (type != "function") {
      return Invalid(StrCat(field, ".type"), StrCat("unsupported tool type ", Quoted(type)));
    }
    const Value* fn = t.Find("function");
    std::string_view name = fn != nullptr ? fn->GetString("name") : std::string_view();
    if (name.empty()) return Invalid(StrCat(field, ".function.name"), "is required");
    Value tool = Value::Object();
    tool.Set("name", Str(name));
    if (std::string_view d = fn->GetString("description"); !d.empty()) tool.Set("description", Str(d));
    const Value* params = fn->Find("parameters");
    if (Present(params)) {
      if (!params->is_object()) return Invalid(StrCat(field, ".function.parameters"), "must be an object");
      tool.Set("input_schema", *params);
    } else {
      // Anthropic requires an object schema; OpenAI allows omitting it for no arguments.
      Value schema = Value::Object();
      schema.Set("type", Str("object"));
      schema.Set("properties", Value::Object());
      tool.Set("input_schema", std::move(schema));
    }
    // `strict` has no Anthropic counterpart and is dropped.
    CopyCacheControl(t, &tool);
    tools->Append(std::move(tool));
  }
  return absl::OkStatus();
}

// Returns null when the client set no tool_choice.
absl::StatusOr<Value> MapToolChoice(const Value& doc) {
  const Value* tc = doc.Find("tool_choice");
  if (!Present(tc)) return Value();
  Value out = Value::Object();
  if (tc->is_string()) {
    const std::string& s = tc->as_string();
    if (s == "auto") out.Set("type", Str("auto"));
    else if (s == "none") out.Set("type", Str("none"));
    else if (s == "required") out.Set("type", Str("any"));
    else return Invalid("tool_choice", StrCat("unsupported value ", Quoted(s)));
    return out;
  }
  std::string_view type = tc->GetString("type");
  if (type != "function") return Invalid("tool_choice.type", StrCat("unsupported value ", Quoted(type)));
  const Value* fn = tc->Find("function");
  std::string_view name = fn != nullptr ? fn->GetString("name") : std::string_view();
  if (name.empty()) return Invalid("tool_choice.function.name", "is required");
  out.Set("type", Str("tool"));
  out.Set("name", Str(name));
  return out;
}

// Requests the target cannot express.
absl::Status RejectUnsupported(const Value& doc) {
  if (const Value* n = doc.Find("n"); Present(n) && !(n->is_number() && n->as_string() == "1")) {
    return Invalid("n", "only 1 choice is supported by Anthropic backends");
  }
  if (doc.GetBool("logprobs", false)) return Invalid("logprobs", "is not supported by Anthropic backends");
  if (Present(doc.Find("audio"))) {
    return Invalid("audio", "audio output is not supported by Anthropic backends");
  }
  if (const Value* m = doc.Find("modalities"); Present(m) && m->is_array()) {
    for (const Value& v : m->items()) {
      if (!v.is_string() || v.as_string() != "text") {
        return Invalid("modalities", "only \"text\" is supported by Anthropic backends");
      }
    }
  }
  if (Present(doc.Find("functions"))) {
    return Invalid("functions", "is deprecated and not supported; use tools");
  }
  if (Present(doc.Find("function_call"))) {
    return Invalid("function_call", "is deprecated and not supported; use tool_choice");
  }
  return absl::OkStatus();
}

// reasoning_effort -> an Anthropic thinking budget. The values follow the convention of
// BerriAI/litellm (low 1024, medium 2048, high 4096); minimal shares low's floor.
absl::StatusOr<int64_t> EffortBudget(std::string_view effort) {
  if (effort == "none") return 0;
  if (effort == "minimal" || effort == "low") return 1024;
  if (effort == "medium") return 2048;
  if (effort == "high") return 4096;
  if (effort == "xhigh") return 8192;
  return Invalid("reasoning_effort", StrCat("unsupported value ", Quoted(effort)));
}

}  // namespace

absl::StatusOr<MappedRequest> MapRequest(const json::Value& doc, const RequestOptions& opt) {
  RETURN_IF_ERROR(RejectUnsupported(doc));
  MappedRequest r;
  r.stream = doc.GetBool("stream", false);
  if (const Value* so = doc.Find("stream_options"); so != nullptr && so->is_object()) {
    r.include_usage = so->GetBool("include_usage", false);
  }

  Value system = Value::Array();
  Value messages = Value::Array();
  RETURN_IF_ERROR(MapMessages(doc, &system, &messages));
  Value tools = Value::Array();
  RETURN_IF_ERROR(MapTools(doc, &tools));
  auto choice = MapToolChoice(doc);
  if (!choice.ok()) return choice.status();
  Value tool_choice = std::move(*choice);

  // Thinking: the `thinking` extension (Anthropic's own object) wins over reasoning_effort.
  Value thinking;
  int64_t budget = 0;
  bool derived_budget = false;
  if (const Value* th = doc.Find("thinking"); Present(th)) {
    if (!th->is_object()) return Invalid("thinking", "must be an object");
    thinking = *th;
    if (th->GetString("type") == "enabled") {
      const Value* b = th->Find("budget_tokens");
      if (b == nullptr || !PositiveInt(*b, &budget)) {
        return Invalid("thinking.budget_tokens", "must be a positive integer");
      }
    }
  } else if (const Value* effort = doc.Find("reasoning_effort"); Present(effort)) {
    if (!effort->is_string()) return Invalid("reasoning_effort", "must be a string");
    auto b = EffortBudget(effort->as_string());
    if (!b.ok()) return b.status();
    budget = *b;
    derived_budget = budget > 0;
  }
  bool thinking_on = derived_budget || (thinking.is_object() && thinking.GetString("type") != "disabled");

  int64_t max_tokens = 0;
  const Value* mt = doc.Find("max_completion_tokens");
  std::string_view mt_field = "max_completion_tokens";
  if (!Present(mt)) {
    mt = doc.Find("max_tokens");
    mt_field = "max_tokens";
  }
  if (Present(mt)) {
    if (!PositiveInt(*mt, &max_tokens)) return Invalid(mt_field, "must be a positive integer");
    // OpenAI's cap includes reasoning, like Anthropic's max_tokens; a derived budget must
    // fit under it, so it shrinks (or thinking is left off when there is no room).
    if (derived_budget && budget >= max_tokens) {
      budget = max_tokens / 2;
      derived_budget = budget >= kMinThinkingBudget;
      thinking_on = derived_budget;
    }
  } else {
    // Default room for the answer, on top of any thinking budget.
    max_tokens = kDefaultMaxTokens + budget;
  }
  if (derived_budget) {
    thinking = Value::Object();
    thinking.Set("type", Str("enabled"));
    thinking.Set("budget_tokens", Value::Int(budget));
  }

  // response_format. Anthropic has no native JSON mode here. json_schema with an object
  // root is sent as a forced tool whose input is the answer (the tool_use is turned back into
  // message content on the way out); that is impossible with the client's own tools or with
  // thinking (which forbids forced tools), so then, as for json_object, the instruction goes
  // into the system prompt and the model is trusted to follow it.
  if (const Value* rf = doc.Find("response_format"); Present(rf)) {
    std::string_view type = rf->GetString("type");
    if (type == "json_schema") {
      const Value* js = rf->Find("json_schema");
      const Value* schema = js != nullptr ? js->Find("schema") : nullptr;
      if (schema == nullptr || !schema->is_object()) {
        return Invalid("response_format.json_schema.schema", "must be an object");
      }
      std::string_view root = schema->GetString("type");
      bool object_root = root == "object" || (root.empty() && schema->Find("properties") != nullptr);
      if (tools.size() == 0 && !thinking_on && object_root) {
        Value tool = Value::Object();
        tool.Set("name", Str(kJsonToolName));
        std::string_view desc = js->GetString("description");
        tool.Set("description", Str(desc.empty() ? "Respond with the answer as this tool's input." : desc));
        tool.Set("input_schema", *schema);
        tools.Append(std::move(tool));
        tool_choice = Value::Object();
        tool_choice.Set("type", Str("tool"));
        tool_choice.Set("name", Str(kJsonToolName));
        r.json_tool = true;
      } else {
        system.Append(TextBlock(StrCat("Respond only with JSON that conforms to this JSON Schema: ",
                                       json::Serialize(*schema))));
      }
    } else if (type == "json_object") {
      system.Append(TextBlock("Respond only with a single valid JSON object."));
    } else if (type != "text") {
      return Invalid("response_format.type", StrCat("unsupported value ", Quoted(type)));
    }
  }

  // parallel_tool_calls: false -> disable_parallel_tool_use (not allowed on "none").
  if (const Value* ptc = doc.Find("parallel_tool_calls");
      tools.size() > 0 && ptc != nullptr && ptc->is_bool() && !ptc->as_bool()) {
    if (tool_choice.is_null()) tool_choice.Set("type", Str("auto"));
    if (tool_choice.GetString("type") != "none") {
      tool_choice.Set("disable_parallel_tool_use", Value::Bool(true));
    }
  }

  Value& body = r.body;
  body = Value::Object();
  if (opt.vertex) {
    body.Set("anthropic_version", Str(opt.anthropic_version));
  } else {
    body.Set("model", Str(opt.model));
  }
  body.Set("max_tokens", Value::Int(max_tokens));
  if (system.size() > 0) {
    if (system.size() == 1 && system.items()[0].Find("cache_control") == nullptr) {
      body.Set("system", Str(system.items()[0].GetString("text")));
    } else {
      body.Set("system", std::move(system));
    }
  }
  body.Set("messages", std::move(messages));
  if (tools.size() > 0) {
    body.Set("tools", std::move(tools));
    if (!tool_choice.is_null()) body.Set("tool_choice", std::move(tool_choice));
  }
  if (!thinking.is_null()) body.Set("thinking", std::move(thinking));

  if (const Value* t = doc.Find("temperature"); Present(t)) {
    // Anthropic's range is 0-1 (OpenAI's 0-2); rescaling would change meaning, so refuse.
    if (!t->is_number() || t->as_double() < 0 || t->as_double() > 1) {
      return Invalid("temperature", "must be between 0 and 1 for Anthropic backends");
    }
    body.Set("temperature", *t);
  }
  for (std::string_view k : {"top_p", "top_k"}) {
    if (const Value* v = doc.Find(k); Present(v)) {
      if (!v->is_number()) return Invalid(k, "must be a number");
      body.Set(k, *v);
    }
  }
  if (const Value* stop = doc.Find("stop"); Present(stop)) {
    Value seqs = Value::Array();
    if (stop->is_string()) {
      seqs.Append(*stop);
    } else if (stop->is_array()) {
      for (const Value& s : stop->items()) {
        if (!s.is_string()) return Invalid("stop", "must be a string or an array of strings");
        seqs.Append(s);
      }
    } else {
      return Invalid("stop", "must be a string or an array of strings");
    }
    if (seqs.size() > 0) body.Set("stop_sequences", std::move(seqs));
  }
  std::string_view user = doc.GetString("safety_identifier");
  if (user.empty()) user = doc.GetString("user");
  if (!user.empty()) {
    Value meta = Value::Object();
    meta.Set("user_id", Str(user));
    body.Set("metadata", std::move(meta));
  }
  if (r.stream) body.Set("stream", Value::Bool(true));
  return r;
}

}  // namespace sluice::translate::openai_to_anthropic_internal
