#include "translate/openai_to_anthropic/request.h"

#include <algorithm>

#include "common/status_macros.h"
#include "common/strings.h"
#include "json/json.h"
#include "translate/translator.h"

// Field facts: shared/reference/provider-apis.md §1.1 (OpenAI), §2.1 (Anthropic), §5.6
// (Vertex), §7 (mapping tables).
//
// The client body is read with json::Reader (validated once, then walked in place) and the
// Anthropic body is written as compact JSON text, in the member order and with the number
// text the client sent: no DOM on either side. Client values copied through unchanged
// (schemas, cache_control, thinking blocks) are written with View::AppendCompact, which gives
// the bytes the DOM serializer would. Field paths for error messages are only built on error.
namespace sluice::translate::openai_to_anthropic_internal {
namespace {

using json::View;

// Anthropic requires max_tokens; OpenAI does not. The default when the client gives none.
constexpr int64_t kDefaultMaxTokens = 4096;
// Anthropic's smallest thinking budget.
constexpr int64_t kMinThinkingBudget = 1024;

// How every text block starts (see BlockWriter::CloseList, which relies on it).
constexpr std::string_view kTextBlockStart = R"({"type":"text","text":)";

absl::Status Invalid(std::string_view field, std::string_view what) { return InvalidField(field, what); }

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);
  return out;
}

// Field paths, built only for error messages.
std::string MessageField(size_t i) { return StrCat("messages[", i, "]"); }
std::string ContentField(size_t i) { return StrCat("messages[", i, "].content"); }
std::string PartField(size_t i, size_t j) { return StrCat("messages[", i, "].content[", j, "]"); }

bool Present(View v) { return v.exists() && !v.is_null(); }

// Appends `,"key":` (keys are literals that need no escaping).
void Key(std::string* out, std::string_view key) {
  out->append(",\"").append(key).append("\":");
}

// Some OpenAI clients put Anthropic's `cache_control` on parts and tools (a common
// extension); it is kept where Anthropic accepts it.
void CopyCacheControl(View cache_control, std::string* out) {
  if (!cache_control.is_object()) return;
  Key(out, "cache_control");
  cache_control.AppendCompact(out);
}

// A positive integer number (no fraction or exponent).
bool PositiveInt(View v, int64_t* out) {
  if (!v.is_number() || v.raw().find_first_of(".eE-") != std::string_view::npos) return false;
  *out = v.as_int();
  return *out > 0;
}

// "data:<media type>[;params];base64,<data>" -> media type and data. Only base64 payloads.
bool ParseDataUrl(std::string_view url, std::string_view* media_type, std::string_view* data) {
  if (!url.starts_with("data:")) return false;
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

// `"source":{"type":"base64","media_type":...,"data":...}` (after a comma).
void AppendBase64Source(std::string_view media_type, std::string_view data, std::string* out) {
  out->append(R"(,"source":{"type":"base64","media_type":)");
  json::AppendQuoted(out, media_type);
  out->append(",\"data\":");
  json::AppendQuoted(out, data);
  out->push_back('}');
}

// Writes a list of content blocks (a `content` or the `system` value) as a JSON array. A list
// that ends as one text block without cache_control is written as that string instead (the
// form most requests use). For `messages`, the writer also groups blocks into turns: Anthropic
// combines consecutive turns of one role (Messages API reference), so merging them here makes
// that explicit, and consecutive tool results share one user turn, as required. A turn is
// opened only when a block arrives, so a message without blocks (an empty assistant answer)
// neither makes an empty turn nor splits a run of one role.
class BlockWriter {
 public:
  // `collapse`: whether a lone plain text block becomes a string.
  BlockWriter(std::string* out, bool collapse) : out_(out), collapse_(collapse) {}

  // Claude on Vertex AI and on Bedrock take base64 image sources only (no URL sources).
  bool base64_images_only = false;

  // Messages only: blocks added from now on belong to a `role` turn ("user" or "assistant").
  void SetRole(std::string_view role) { role_ = role; }

  // Opens the list now (normally done by the first block): an empty list is then written as [].
  void Open() {
    start_ = out_->size();
    out_->push_back('[');
    open_ = true;
    count_ = 0;
    first_plain_text_ = false;
  }

  // Starts the next block; returns the output to write it into.
  std::string* Next() {
    if (role_ != turn_role_) {
      if (!turn_role_.empty()) CloseTurn();
      if (turns_++ > 0) out_->push_back(',');
      out_->append("{\"role\":\"").append(role_).append("\",\"content\":");
      turn_role_ = role_;
    }
    if (!open_) Open();
    if (count_++ > 0) out_->push_back(',');
    return out_;
  }

  // {"type":"text","text":<text>[,"cache_control":...]}; `text` is a string View.
  void AddText(View text, View cache_control) {
    std::string* out = Next();
    out->append(kTextBlockStart);
    text.AppendCompact(out);
    CopyCacheControl(cache_control, out);
    out->push_back('}');
    if (count_ == 1) first_plain_text_ = !cache_control.is_object();
  }
  // A text block of our own (a response_format instruction).
  void AddText(std::string_view text) {
    std::string* out = Next();
    out->append(kTextBlockStart);
    json::AppendQuoted(out, text);
    out->push_back('}');
    if (count_ == 1) first_plain_text_ = true;
  }

  size_t turns() const { return turns_; }

  // Ends the open list (and turn).
  void Finish() {
    if (!turn_role_.empty()) {
      CloseTurn();
      turn_role_ = {};
    } else if (open_) {
      CloseList();
    }
  }

 private:
  void CloseTurn() {
    CloseList();
    out_->push_back('}');
  }
  void CloseList() {
    if (collapse_ && count_ == 1 && first_plain_text_) {
      // `[{"type":"text","text":"..."}` -> `"..."`: the list is the last thing written.
      out_->erase(start_, 1 + kTextBlockStart.size());
      out_->pop_back();
    } else {
      out_->push_back(']');
    }
    open_ = false;
  }

  std::string* out_;
  bool collapse_;
  std::string_view role_;       // of the message being mapped
  std::string_view turn_role_;  // of the open turn; empty when none
  size_t turns_ = 0;
  bool open_ = false;  // a list is open (its '[' written at start_)
  size_t start_ = 0;
  size_t count_ = 0;   // blocks in the open list
  bool first_plain_text_ = false;
};

// REQUIRES: `url` is a base64 data URL or an http(s) URL (checked by ImageBlock).
void AppendImageBlock(std::string_view url, View cache_control, std::string* out) {
  out->append(R"({"type":"image")");
  std::string_view media_type, data;
  if (ParseDataUrl(url, &media_type, &data)) {
    AppendBase64Source(media_type, data, out);
  } else {
    out->append(R"(,"source":{"type":"url","url":)");
    json::AppendQuoted(out, url);
    out->push_back('}');
  }
  // `detail` has no Anthropic counterpart and is dropped.
  CopyCacheControl(cache_control, out);
  out->push_back('}');
}

// An `image_url` part: a base64 data URL or an http(s) URL.
absl::Status ImageBlock(View image, View cache_control, size_t msg, size_t part, BlockWriter* blocks) {
  std::string_view url;
  if (image.is_object()) url = image.GetString("url");
  if (image.is_string()) url = image.as_string();
  auto url_field = [&] { return StrCat(PartField(msg, part), ".image_url.url"); };
  if (url.empty()) return Invalid(url_field(), "is required");
  if (url.starts_with("data:")) {
    std::string_view media_type, data;
    if (!ParseDataUrl(url, &media_type, &data)) {
      return Invalid(url_field(), "a data URL must be base64 with a media type");
    }
  } else if (!url.starts_with("https://") && !url.starts_with("http://")) {
    return Invalid(url_field(), "must be an http(s) URL or a base64 data URL");
  } else if (blocks->base64_images_only) {
    return Invalid(url_field(), "Claude on Vertex AI and on Bedrock takes base64 images only; send a data: URL");
  }
  AppendImageBlock(url, cache_control, blocks->Next());
  return absl::OkStatus();
}

// OpenAI `file` parts: only inline PDFs (file_data) can be expressed, as a document block;
// file ids refer to OpenAI's file store.
absl::Status FileBlock(View file, View cache_control, size_t msg, size_t part, BlockWriter* blocks) {
  std::string_view url = file.GetString("file_data");
  std::string_view media_type, data;
  if (url.empty() || !ParseDataUrl(url, &media_type, &data) || media_type != "application/pdf") {
    return Invalid(StrCat(PartField(msg, part), ".file"),
                   "only file_data holding a base64 PDF data URL is supported by Anthropic backends");
  }
  std::string* out = blocks->Next();
  out->append(R"({"type":"document")");
  AppendBase64Source(media_type, data, out);
  if (std::string_view name = file.GetString("filename"); !name.empty()) {
    Key(out, "title");
    json::AppendQuoted(out, name);
  }
  CopyCacheControl(cache_control, out);
  out->push_back('}');
  return absl::OkStatus();
}

enum class PartSet { kSystem, kUser, kAssistant, kTool };

// One element of a `content` array.
absl::Status AppendPart(View part, size_t msg, size_t j, PartSet set, BlockWriter* blocks) {
  if (!part.is_object()) return Invalid(PartField(msg, j), "must be an object");
  View type_v, text, refusal, image, file, cache_control;
  part.FindAll({{"type", &type_v}, {"text", &text}, {"refusal", &refusal}, {"image_url", &image},
                {"file", &file}, {"cache_control", &cache_control}});
  std::string_view type = type_v.is_string() ? type_v.as_string() : std::string_view();
  if (type == "text" || (type == "refusal" && set == PartSet::kAssistant)) {
    View t = type == "text" ? text : refusal;
    if (!t.is_string()) return Invalid(StrCat(PartField(msg, j), ".", type), "must be a string");
    // Anthropic rejects empty text blocks; in an assistant turn they are just left out.
    if (set == PartSet::kAssistant && t.as_string().empty()) return absl::OkStatus();
    blocks->AddText(t, cache_control);
    return absl::OkStatus();
  }
  bool media_ok = set == PartSet::kUser || set == PartSet::kTool;
  if (type == "image_url" && media_ok) return ImageBlock(image, cache_control, msg, j, blocks);
  if (type == "file" && set == PartSet::kUser) return FileBlock(file, cache_control, msg, j, blocks);
  return Invalid(PartField(msg, j), StrCat("unsupported part type ", Quoted(type)));
}

// Appends the Anthropic blocks for messages[msg].content (a string or parts) to `blocks`.
absl::Status AppendContent(View content, size_t msg, PartSet set, BlockWriter* blocks) {
  if (content.is_string()) {
    // Anthropic rejects empty text blocks; an empty assistant turn is just left out.
    if (set != PartSet::kAssistant || !content.as_string().empty()) blocks->AddText(content, View());
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(ContentField(msg), "must be a string or an array of content parts");
  View part;
  size_t j = 0;
  for (auto it = content.items(); it.Next(&part); ++j) RETURN_IF_ERROR(AppendPart(part, msg, j, set, blocks));
  return absl::OkStatus();
}

// Readers reused by the thread's requests, so their storage keeps its capacity (a Reader
// allocates on construction and as it records a root's members). MapRequest is not reentrant
// and nothing it returns points into them; the arguments of tool calls need a reader of their
// own, as parsing invalidates a reader's views.
json::Reader& BodyReader() {
  thread_local json::Reader reader;
  return reader;
}
json::Reader& ArgsReader() {
  thread_local json::Reader reader;
  return reader;
}

// An assistant's tool call -> a tool_use block. `args_reader` parses the arguments text (the
// body's reader must keep its document).
absl::Status ToolUseBlock(View call, size_t msg, size_t j, json::Reader* args_reader, BlockWriter* blocks) {
  auto field = [&] { return StrCat(MessageField(msg), ".tool_calls[", j, "]"); };
  if (!call.is_object()) return Invalid(field(), "must be an object");
  View type_v, id_v, fn;
  call.FindAll({{"type", &type_v}, {"id", &id_v}, {"function", &fn}});
  std::string_view type = type_v.is_string() ? type_v.as_string() : std::string_view();
  if (!type.empty() && type != "function") {
    return Invalid(StrCat(field(), ".type"), StrCat("unsupported tool call type ", Quoted(type)));
  }
  if (!id_v.is_string() || id_v.as_string().empty()) return Invalid(StrCat(field(), ".id"), "is required");
  View name, args;
  fn.FindAll({{"name", &name}, {"arguments", &args}});
  if (!name.is_string() || name.as_string().empty()) return Invalid(StrCat(field(), ".function.name"), "is required");
  // OpenAI carries arguments as JSON text; Anthropic wants the object itself.
  View input;  // absent: {}
  if (args.is_string() && !StripWhitespace(args.as_string()).empty()) {
    auto parsed = args_reader->Parse(args.as_string());
    if (!parsed.ok()) return Invalid(StrCat(field(), ".function.arguments"), "is not valid JSON");
    input = *parsed;
    if (!input.is_object()) return Invalid(StrCat(field(), ".function.arguments"), "must encode a JSON object");
  } else if (args.is_object()) {
    input = args;  // lenient: some clients send the object itself
  }
  std::string* out = blocks->Next();
  out->append(R"({"type":"tool_use","id":)");
  id_v.AppendCompact(out);
  Key(out, "name");
  name.AppendCompact(out);
  Key(out, "input");
  if (input.exists()) input.AppendCompact(out);
  else out->append("{}");
  out->push_back('}');
  return absl::OkStatus();
}

absl::Status MapAssistant(View msg, size_t i, View content, BlockWriter* turns) {
  View thinking_blocks, calls, function_call;
  msg.FindAll({{"thinking_blocks", &thinking_blocks}, {"tool_calls", &calls}, {"function_call", &function_call}});
  turns->SetRole("assistant");
  // Thinking blocks (the `thinking_blocks` extension this translator returns) must come
  // first and unchanged for multi-turn tool use with thinking.
  View b;
  for (auto it = thinking_blocks.items(); it.Next(&b);) {
    std::string_view t = b.GetString("type");
    if (t == "thinking" || t == "redacted_thinking") b.AppendCompact(turns->Next());
  }
  if (Present(content)) RETURN_IF_ERROR(AppendContent(content, i, PartSet::kAssistant, turns));
  if (Present(calls)) {
    if (!calls.is_array()) return Invalid(StrCat(MessageField(i), ".tool_calls"), "must be an array");
    View call;
    size_t j = 0;
    for (auto it = calls.items(); it.Next(&call); ++j) RETURN_IF_ERROR(ToolUseBlock(call, i, j, &ArgsReader(), turns));
  }
  if (Present(function_call)) {
    return Invalid(StrCat(MessageField(i), ".function_call"), "is deprecated and not supported; use tool_calls");
  }
  return absl::OkStatus();
}

// A tool message -> a tool_result block in a user turn.
absl::Status MapToolResult(View msg, size_t i, View content, BlockWriter* turns) {
  View id = msg.Find("tool_call_id");
  if (!id.is_string() || id.as_string().empty()) return Invalid(StrCat(MessageField(i), ".tool_call_id"), "is required");
  turns->SetRole("user");
  std::string* out = turns->Next();
  out->append(R"({"type":"tool_result","tool_use_id":)");
  id.AppendCompact(out);
  if (Present(content) && content.is_string()) {
    if (!content.as_string().empty()) {
      Key(out, "content");
      content.AppendCompact(out);
    }
  } else if (Present(content)) {
    // Parts stay a list (never collapsed), even an empty one.
    Key(out, "content");
    BlockWriter parts(out, /*collapse=*/false);
    parts.base64_images_only = turns->base64_images_only;
    parts.Open();
    RETURN_IF_ERROR(AppendContent(content, i, PartSet::kTool, &parts));
    parts.Finish();
  }
  out->push_back('}');
  return absl::OkStatus();
}

// messages -> Anthropic turns (written to `messages`, without the brackets); system and
// developer messages go to `system`.
absl::Status MapMessages(View doc, bool base64_images_only, BlockWriter* system, std::string* messages) {
  View msgs = doc.Find("messages");
  if (!msgs.is_array()) return Invalid("messages", "must be an array");
  BlockWriter turns(messages, /*collapse=*/true);
  turns.base64_images_only = base64_images_only;
  View msg;
  size_t i = 0;
  for (auto it = msgs.items(); it.Next(&msg); ++i) {
    if (!msg.is_object()) return Invalid(MessageField(i), "must be an object");
    View role_v, content;
    msg.FindAll({{"role", &role_v}, {"content", &content}});
    std::string_view role = role_v.is_string() ? role_v.as_string() : std::string_view();
    if (role == "system" || role == "developer") {
      // Hoisted into the top-level `system`; where it stood in the conversation is lost.
      if (!Present(content)) return Invalid(ContentField(i), "is required");
      RETURN_IF_ERROR(AppendContent(content, i, PartSet::kSystem, system));
    } else if (role == "user") {
      if (!Present(content)) return Invalid(ContentField(i), "is required");
      turns.SetRole("user");
      RETURN_IF_ERROR(AppendContent(content, i, PartSet::kUser, &turns));
    } else if (role == "assistant") {
      RETURN_IF_ERROR(MapAssistant(msg, i, content, &turns));
    } else if (role == "tool") {
      RETURN_IF_ERROR(MapToolResult(msg, i, content, &turns));
    } else {
      return Invalid(StrCat(MessageField(i), ".role"), StrCat("unsupported role ", Quoted(role)));
    }
  }
  turns.Finish();
  if (turns.turns() == 0) return Invalid("messages", "at least one user or assistant message is required");
  return absl::OkStatus();
}

// tools -> Anthropic tools, written to `out` (without the brackets); counted in `count`.
absl::Status MapTools(View doc, std::string* out, size_t* count) {
  View in = doc.Find("tools");
  if (!Present(in)) return absl::OkStatus();
  if (!in.is_array()) return Invalid("tools", "must be an array");
  View t;
  size_t i = 0;
  for (auto it = in.items(); it.Next(&t); ++i) {
    auto field = [&] { return StrCat("tools[", i, "]"); };
    View type_v, fn, cache_control;
    t.FindAll({{"type", &type_v}, {"function", &fn}, {"cache_control", &cache_control}});
    std::string_view type = type_v.is_string() ? type_v.as_string() : std::string_view();
    if (type != "function") {
      return Invalid(StrCat(field(), ".type"), StrCat("unsupported tool type ", Quoted(type)));
    }
    View name, description, params;
    fn.FindAll({{"name", &name}, {"description", &description}, {"parameters", &params}});
    if (!name.is_string() || name.as_string().empty()) return Invalid(StrCat(field(), ".function.name"), "is required");
    if (Present(params) && !params.is_object()) {
      return Invalid(StrCat(field(), ".function.parameters"), "must be an object");
    }
    if ((*count)++ > 0) out->push_back(',');
    out->append("{\"name\":");
    name.AppendCompact(out);
    if (description.is_string() && !description.as_string().empty()) {
      Key(out, "description");
      description.AppendCompact(out);
    }
    Key(out, "input_schema");
    if (Present(params)) {
      params.AppendCompact(out);
    } else {
      // Anthropic requires an object schema; OpenAI allows omitting it for no arguments.
      out->append(R"({"type":"object","properties":{}})");
    }
    // `strict` has no Anthropic counterpart and is dropped.
    CopyCacheControl(cache_control, out);
    out->push_back('}');
  }
  return absl::OkStatus();
}

struct ToolChoice {
  std::string_view type;  // "auto", "none", "any" or "tool"; empty: none set
  std::string_view name;  // for "tool"
  bool disable_parallel_tool_use = false;
};

absl::StatusOr<ToolChoice> MapToolChoice(View doc) {
  View tc = doc.Find("tool_choice");
  if (!Present(tc)) return ToolChoice();
  if (tc.is_string()) {
    std::string_view s = tc.as_string();
    if (s == "auto") return ToolChoice{"auto", {}, false};
    if (s == "none") return ToolChoice{"none", {}, false};
    if (s == "required") return ToolChoice{"any", {}, false};
    return Invalid("tool_choice", StrCat("unsupported value ", Quoted(s)));
  }
  std::string_view type = tc.GetString("type");
  if (type != "function") return Invalid("tool_choice.type", StrCat("unsupported value ", Quoted(type)));
  std::string_view name = tc.Find("function").GetString("name");
  if (name.empty()) return Invalid("tool_choice.function.name", "is required");
  return ToolChoice{"tool", name};
}

void AppendToolChoice(const ToolChoice& c, std::string* out) {
  out->append("{\"type\":\"").append(c.type).push_back('"');
  if (c.type == "tool") {
    Key(out, "name");
    json::AppendQuoted(out, c.name);
  }
  if (c.disable_parallel_tool_use) out->append(",\"disable_parallel_tool_use\":true");
  out->push_back('}');
}

// Requests the target cannot express.
absl::Status RejectUnsupported(View doc) {
  if (View n = doc.Find("n"); Present(n) && !(n.is_number() && n.raw() == "1")) {
    return Invalid("n", "only 1 choice is supported by Anthropic backends");
  }
  if (doc.GetBool("logprobs", false)) return Invalid("logprobs", "is not supported by Anthropic backends");
  if (Present(doc.Find("audio"))) {
    return Invalid("audio", "audio output is not supported by Anthropic backends");
  }
  if (View m = doc.Find("modalities"); m.is_array()) {
    View v;
    for (auto it = m.items(); it.Next(&v);) {
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

// Thinking: the `thinking` extension (Anthropic's own object, sent as is) wins over
// reasoning_effort (a derived budget).
struct Thinking {
  View client;                  // the client's `thinking` object, when given
  int64_t budget = 0;           // its budget_tokens when enabled, or the derived budget
  bool derived = false;         // `budget` came from reasoning_effort (and is > 0)
  bool on() const { return derived || (client.is_object() && client.GetString("type") != "disabled"); }
};

absl::StatusOr<Thinking> MapThinking(View doc) {
  Thinking t;
  if (View th = doc.Find("thinking"); Present(th)) {
    if (!th.is_object()) return Invalid("thinking", "must be an object");
    t.client = th;
    if (th.GetString("type") == "enabled" && !PositiveInt(th.Find("budget_tokens"), &t.budget)) {
      return Invalid("thinking.budget_tokens", "must be a positive integer");
    }
  } else if (View effort = doc.Find("reasoning_effort"); Present(effort)) {
    if (!effort.is_string()) return Invalid("reasoning_effort", "must be a string");
    ASSIGN_OR_RETURN(t.budget, EffortBudget(effort.as_string()));
    t.derived = t.budget > 0;
  }
  return t;
}

// max_completion_tokens (else max_tokens) -> max_tokens; may shrink a derived budget.
absl::StatusOr<int64_t> MapMaxTokens(View doc, Thinking* thinking) {
  View mt = doc.Find("max_completion_tokens");
  std::string_view field = "max_completion_tokens";
  if (!Present(mt)) {
    mt = doc.Find("max_tokens");
    field = "max_tokens";
  }
  if (!Present(mt)) return AddTokens(kDefaultMaxTokens, thinking->budget);  // room for the answer on top
  int64_t max_tokens = 0;
  if (!PositiveInt(mt, &max_tokens)) return Invalid(field, "must be a positive integer");
  // OpenAI's cap includes reasoning, like Anthropic's max_tokens; a derived budget must fit
  // under it, so it shrinks (or thinking is left off when there is no room).
  if (thinking->derived && thinking->budget >= max_tokens) {
    thinking->budget = std::max(kMinThinkingBudget, max_tokens / 2);
    thinking->derived = thinking->budget < max_tokens;  // else thinking stays off
  }
  return max_tokens;
}

// response_format. Anthropic has no native JSON mode here. json_schema with an object root is
// sent as a forced tool whose input is the answer (the tool_use is turned back into message
// content on the way out); that is impossible with the client's own tools or with thinking
// (which forbids forced tools), so then, as for json_object, the instruction goes into the
// system prompt and the model is trusted to follow it.
absl::Status MapResponseFormat(View doc, bool thinking_on, std::string* tools, size_t* tool_count,
                               ToolChoice* choice, BlockWriter* system, bool* json_tool) {
  View rf = doc.Find("response_format");
  if (!Present(rf)) return absl::OkStatus();
  std::string_view type = rf.GetString("type");
  if (type == "json_schema") {
    View js = rf.Find("json_schema");
    View schema = js.Find("schema");
    if (!schema.is_object()) return Invalid("response_format.json_schema.schema", "must be an object");
    View root_v, properties;
    schema.FindAll({{"type", &root_v}, {"properties", &properties}});
    std::string_view root = root_v.is_string() ? root_v.as_string() : std::string_view();
    bool object_root = root == "object" || (root.empty() && properties.exists());
    if (*tool_count == 0 && !thinking_on && object_root) {
      ++*tool_count;
      tools->append("{\"name\":");
      json::AppendQuoted(tools, kJsonToolName);
      Key(tools, "description");
      std::string_view desc = js.GetString("description");
      json::AppendQuoted(tools, desc.empty() ? "Respond with the answer as this tool's input." : desc);
      Key(tools, "input_schema");
      schema.AppendCompact(tools);
      tools->push_back('}');
      *choice = ToolChoice{"tool", kJsonToolName};
      *json_tool = true;
    } else {
      std::string text = "Respond only with JSON that conforms to this JSON Schema: ";
      schema.AppendCompact(&text);
      system->AddText(text);
    }
  } else if (type == "json_object") {
    system->AddText("Respond only with a single valid JSON object.");
  } else if (type != "text") {
    return Invalid("response_format.type", StrCat("unsupported value ", Quoted(type)));
  }
  return absl::OkStatus();
}

// The sampling and bookkeeping members that follow `thinking`, appended to `out`.
absl::Status AppendSampling(View doc, std::string* out) {
  if (View t = doc.Find("temperature"); Present(t)) {
    // Anthropic's range is 0-1 (OpenAI's 0-2); rescaling would change meaning, so refuse.
    double value = t.as_double();  // (0 for a non-number)
    if (!t.is_number() || value < 0 || value > 1) {
      return Invalid("temperature", "must be between 0 and 1 for Anthropic backends");
    }
    Key(out, "temperature");
    out->append(t.raw());  // the client's number text
  }
  for (std::string_view k : {"top_p", "top_k"}) {
    if (View v = doc.Find(k); Present(v)) {
      if (!v.is_number()) return Invalid(k, "must be a number");
      Key(out, k);
      out->append(v.raw());
    }
  }
  if (View stop = doc.Find("stop"); Present(stop)) {
    if (stop.is_string()) {
      out->append(",\"stop_sequences\":[");
      stop.AppendCompact(out);
      out->push_back(']');
    } else if (stop.is_array()) {
      size_t mark = out->size();
      out->append(",\"stop_sequences\":[");
      size_t n = 0;
      View s;
      for (auto it = stop.items(); it.Next(&s); ++n) {
        if (!s.is_string()) return Invalid("stop", "must be a string or an array of strings");
        if (n > 0) out->push_back(',');
        s.AppendCompact(out);
      }
      if (n > 0) out->push_back(']');
      else out->resize(mark);  // an empty list sends nothing
    } else {
      return Invalid("stop", "must be a string or an array of strings");
    }
  }
  std::string_view user = doc.GetString("safety_identifier");
  if (user.empty()) user = doc.GetString("user");
  if (!user.empty()) {
    out->append(",\"metadata\":{\"user_id\":");
    json::AppendQuoted(out, user);
    out->push_back('}');
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MappedRequest> MapRequest(std::string_view body, const RequestOptions& opt) {
  View doc;
  if (opt.top_members != nullptr) {
    doc = BodyReader().Adopt(body, *opt.top_members);
  } else {
    auto parsed = BodyReader().Parse(body);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(StrCat("request body is not valid JSON: ", parsed.status().message()));
    }
    doc = *parsed;
  }
  // The checks run in a fixed order, so a request with several problems always reports the
  // same one.
  RETURN_IF_ERROR(RejectUnsupported(doc));
  MappedRequest r;
  r.stream = doc.GetBool("stream", false);
  if (View so = doc.Find("stream_options"); so.is_object()) r.include_usage = so.GetBool("include_usage", false);

  // `system` and `messages` are gathered apart and placed in the body at the end: the body
  // starts with max_tokens, which is only known after the messages are checked.
  std::string system, messages;
  messages.reserve(body.size());
  BlockWriter system_blocks(&system, /*collapse=*/true);
  RETURN_IF_ERROR(MapMessages(doc, /*base64_images_only=*/opt.vertex, &system_blocks, &messages));
  std::string tools;
  size_t tool_count = 0;
  RETURN_IF_ERROR(MapTools(doc, &tools, &tool_count));
  ASSIGN_OR_RETURN(ToolChoice choice, MapToolChoice(doc));
  ASSIGN_OR_RETURN(Thinking thinking, MapThinking(doc));
  ASSIGN_OR_RETURN(int64_t max_tokens, MapMaxTokens(doc, &thinking));
  RETURN_IF_ERROR(MapResponseFormat(doc, thinking.on(), &tools, &tool_count, &choice, &system_blocks, &r.json_tool));
  system_blocks.Finish();

  // parallel_tool_calls: false -> disable_parallel_tool_use (not allowed on "none").
  if (View ptc = doc.Find("parallel_tool_calls"); tool_count > 0 && ptc.is_bool() && !ptc.as_bool()) {
    if (choice.type.empty()) choice.type = "auto";
    if (choice.type != "none") choice.disable_parallel_tool_use = true;
  }

  std::string& out = r.body;
  out.reserve(messages.size() + system.size() + tools.size() + 256);
  if (opt.vertex) {
    out.append("{\"anthropic_version\":");
    json::AppendQuoted(&out, opt.anthropic_version);
  } else {
    out.append("{\"model\":");
    json::AppendQuoted(&out, opt.model);
  }
  Key(&out, "max_tokens");
  StrAppend(&out, max_tokens);
  if (!system.empty()) {
    Key(&out, "system");
    out.append(system);
  }
  out.append(",\"messages\":[").append(messages).push_back(']');
  if (tool_count > 0) {
    out.append(",\"tools\":[").append(tools).push_back(']');
    if (!choice.type.empty()) {
      Key(&out, "tool_choice");
      AppendToolChoice(choice, &out);
    }
  }
  if (thinking.client.exists()) {
    Key(&out, "thinking");
    thinking.client.AppendCompact(&out);
  } else if (thinking.derived) {
    out.append(R"(,"thinking":{"type":"enabled","budget_tokens":)");
    StrAppend(&out, thinking.budget);
    out.push_back('}');
  }
  RETURN_IF_ERROR(AppendSampling(doc, &out));
  if (r.stream) out.append(",\"stream\":true");
  out.push_back('}');
  return r;
}

}  // namespace sluice::translate::openai_to_anthropic_internal
