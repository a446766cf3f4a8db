#include "translate/openai_to_bedrock/request.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "translate/translator.h"

// Field facts: shared/reference/provider-apis.md §1.1/§1.5 (OpenAI), §3.1/§3.4 (Converse,
// Titan), §7 (mapping tables).
//
// The chat mapping reads the client's body with json::Reader (views into the bytes, no DOM)
// and writes the Converse body straight into a string, in the order the DOM version built it:
// messages, system, inferenceConfig, toolConfig, additionalModelRequestFields, guardrailConfig.
// Values copied from the client (numbers, tool parameters, `thinking`) keep the client's
// number text and are written compact with canonical string escapes, exactly as serializing a
// parsed copy did. Where a key repeats, the first one counts (as Value::Find); only
// guardrailConfig, which the DOM version rebuilt with Set, keeps a repeated key at its first
// place with its last value.
namespace sluice::translate::openai_to_bedrock_internal {
namespace {

constexpr int64_t kMinThinkingBudget = 1024;  // Claude's smallest budget_tokens

using json::Value;
using json::View;

// The path of a request field as error messages spell it ("messages[2].content[0].file"),
// linked through the stack so that it is built only when an error names it. A Field refers to
// its parent: keep it no longer than the parent (never bind a chained temporary).
class Field {
 public:
  explicit Field(std::string_view name) : name_(name) {}
  Field(const Field& parent, std::string_view member) : parent_(&parent), name_(member) {}  // parent.member
  Field(const Field& parent, size_t index) : parent_(&parent), index_(index) {}             // parent[index]

  std::string str() const {
    std::string out = parent_ != nullptr ? parent_->str() : std::string();
    if (index_ != kNoIndex) StrAppend(&out, "[", index_, "]");
    else if (parent_ != nullptr) StrAppend(&out, ".", name_);
    else out.append(name_);
    return out;
  }

 private:
  static constexpr size_t kNoIndex = ~size_t{0};
  const Field* parent_ = nullptr;
  std::string_view name_;
  size_t index_ = kNoIndex;
};

absl::Status Invalid(std::string_view field, std::string_view what) { return InvalidField(field, what); }
absl::Status Invalid(const Field& field, std::string_view what) { return Invalid(field.str(), what); }

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);
  return out;
}

bool Present(View v) { return v.exists() && !v.is_null(); }
bool Present(const Value* v) { return v != nullptr && !v->is_null(); }  // embeddings (DOM)
Value Str(std::string_view s) { return Value::String(std::string(s)); }
// A string member's text, "" for any other type (as Value::GetString).
std::string_view StringOf(View v) { return v.is_string() ? v.as_string() : std::string_view(); }

// A string value's text, and whether it is exactly as the client wrote it (no escapes). Such
// text is written back between quotes as it is: the same bytes json::AppendQuoted would give
// (the token holds no quote, backslash or control character), without scanning long prompts
// and base64 payloads once more.
struct Text {
  std::string_view text;
  bool verbatim = true;  // text is (a piece of) the raw token
};

Text TextOf(View v) {
  if (!v.is_string()) return {};
  std::string_view token = v.raw();
  if (token.find('\\') == std::string_view::npos) return {token.substr(1, token.size() - 2), true};
  return {v.as_string(), false};
}

// `t` (or a piece of it) as a JSON string.
void AppendText(std::string* out, const Text& t) {
  if (!t.verbatim) {
    json::AppendQuoted(out, t.text);
    return;
  }
  out->push_back('"');
  out->append(t.text);
  out->push_back('"');
}

void AppendTextBlock(std::string* out, const Text& text) {
  out->append(R"({"text":)");
  AppendText(out, text);
  out->push_back('}');
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
struct CachePoint {
  bool set = false;
  std::string_view ttl;  // "" (Bedrock's default), "5m" or "1h"
};

// The cache point a holder's `cache_control` member (`cc`, absent when it has none) asks for;
// `holder` names the part or tool in errors.
absl::StatusOr<CachePoint> CachePointFrom(View cc, const Field& holder) {
  if (!Present(cc)) return CachePoint();
  if (!cc.is_object()) return Invalid(Field(holder, "cache_control"), "must be an object");
  View type, ttl;
  cc.FindAll({{"type", &type}, {"ttl", &ttl}});
  if (!type.is_string() || type.as_string() != "ephemeral") {
    return Invalid(Field(holder, "cache_control.type"), "must be \"ephemeral\"");
  }
  CachePoint point;
  point.set = true;
  if (Present(ttl)) {
    if (!ttl.is_string() || (ttl.as_string() != "5m" && ttl.as_string() != "1h")) {
      return Invalid(Field(holder, "cache_control.ttl"), "must be \"5m\" or \"1h\"");
    }
    point.ttl = ttl.as_string();
  }
  return point;
}

// The elements of a JSON array of Converse blocks (a turn's content, the system blocks, the
// tool specs), written in place: Next() writes the separating comma, the caller the block.
class BlockList {
 public:
  explicit BlockList(std::string* out) : out_(out) {}

  std::string* Next() {
    if (count_++ > 0) out_->push_back(',');
    point_last_ = false;
    return out_;
  }
  // Blocks from here on belong to a new section (one message's blocks, or its text blocks):
  // a cache point goes only after a block of its own section.
  void StartSection() { section_ = count_; }
  // Appends a cache point after the section's last block. A cache point needs content before
  // it, so one on a part that produced no block (an empty text) is dropped, as is a second one
  // in a row.
  void AppendCachePoint(const CachePoint& point) {
    if (!point.set || count_ == section_ || point_last_) return;
    std::string* out = Next();
    out->append(R"({"cachePoint":{"type":"default")");
    if (!point.ttl.empty()) {
      out->append(R"(,"ttl":)");
      json::AppendQuoted(out, point.ttl);
    }
    out->append("}}");
    point_last_ = true;
  }
  size_t count() const { return count_; }

 private:
  std::string* out_;
  size_t count_ = 0;
  size_t section_ = 0;
  bool point_last_ = false;  // the last block written is a cache point
};

// An optional object member `,"name":{...}` written in place: opened speculatively, taken back
// by Close() when no member was written.
class OptionalObject {
 public:
  OptionalObject(std::string* out, std::string_view name) : out_(out), mark_(out->size()) {
    out->append(",\"");
    out->append(name);
    out->append("\":{");
  }
  // Writes `"key":` (after a comma when needed); the caller writes the value.
  std::string* Member(std::string_view key) {
    if (members_++ > 0) out_->push_back(',');
    out_->push_back('"');
    out_->append(key);
    out_->append("\":");
    return out_;
  }
  void Close() {
    if (members_ == 0) out_->resize(mark_);
    else out_->push_back('}');
  }

 private:
  std::string* out_;
  size_t mark_;
  size_t members_ = 0;
};

struct TextPart {
  Text text;  // into the client's body or the reader's decoded strings
  CachePoint point;
};

// Text of a string content or of an array of text parts, each with its cache point (other part
// types are an error; `allow_refusal` also accepts assistant refusal parts). Absent or null
// content has none.
absl::Status AppendTextParts(View content, const Field& field, bool allow_refusal, std::vector<TextPart>* out) {
  if (!Present(content)) return absl::OkStatus();
  if (content.is_string()) {
    out->push_back({TextOf(content), {}});
    return absl::OkStatus();
  }
  if (!content.is_array()) return Invalid(field, "must be a string or an array of content parts");
  size_t j = 0;
  View part;
  for (auto it = content.items(); it.Next(&part); ++j) {
    Field part_field(field, j);
    View type_v, text, refusal, cc;
    part.FindAll({{"type", &type_v}, {"text", &text}, {"refusal", &refusal}, {"cache_control", &cc}});
    std::string_view type = StringOf(type_v);
    TextPart tp;
    if (type == "text") {
      tp.text = TextOf(text);
    } else if (allow_refusal && type == "refusal") {
      tp.text = TextOf(refusal);
    } else {
      return Invalid(part_field, StrCat("unsupported part type ", Quoted(type)));
    }
    ASSIGN_OR_RETURN(tp.point, CachePointFrom(cc, part_field));
    out->push_back(tp);
  }
  return absl::OkStatus();
}

// Text parts -> text blocks (blank ones dropped: Converse rejects them), cache points after
// the blocks they follow, as one section of `blocks`.
// Whether `t` holds nothing but spaces, tabs and line breaks (escaped ones in a raw token).
bool IsBlank(const Text& t) {
  std::string_view s = t.text;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (t.verbatim && c == '\\' && i + 1 < s.size() && (s[i + 1] == 'n' || s[i + 1] == 'r' || s[i + 1] == 't')) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

// Empty parts are left out (Converse: "The text field in the ContentBlock object ... is
// blank"); with `drop_blank`, whitespace-only ones too (Claude: "text content blocks must
// contain non-whitespace text"), which an assistant turn can lose without changing meaning.
void AppendTextBlocks(const std::vector<TextPart>& parts, BlockList* blocks, bool drop_blank = false) {
  blocks->StartSection();
  for (const TextPart& p : parts) {
    if (!p.text.text.empty() && !(drop_blank && IsBlank(p.text))) AppendTextBlock(blocks->Next(), p.text);
    blocks->AppendCachePoint(p.point);
  }
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

// An s3://bucket/key image -> Converse {"image":{"format","source":{"s3Location":{"uri"}}}},
// which Bedrock reads itself (with the caller's permissions on the bucket).
absl::Status AppendS3ImageBlock(Text url_text, const Field& url_field, BlockList* blocks) {
  auto format = S3ImageFormat(url_text.text);
  if (!format.ok()) return Invalid(url_field, ToStd(format.status().message()));
  std::string* out = blocks->Next();
  out->append(R"({"image":{"format":")");
  out->append(*format);
  out->append(R"(","source":{"s3Location":{"uri":)");
  AppendText(out, url_text);
  out->append("}}}}");
  return absl::OkStatus();
}

// OpenAI image_url part (`image` is its image_url member) -> Converse image block: inline
// bytes from a base64 data: URL, or an S3 location from an s3:// URL. A translator does no
// I/O, so http(s) URLs are refused rather than fetched.
absl::Status AppendImageBlock(View image, const Field& part, BlockList* blocks) {
  Text url_text = TextOf(image.is_object() ? image.Find("url") : image);
  std::string_view url = url_text.text;
  Field url_field(part, "image_url.url");
  if (url.empty()) return Invalid(url_field, "is required");
  if (url.substr(0, 5) == "s3://") return AppendS3ImageBlock(url_text, url_field, blocks);
  if (url.substr(0, 5) != "data:") {
    return Invalid(url_field,
                   "the AWSBedrock backend cannot fetch image URLs; send the image inline as a "
                   "base64 data: URL, or as an s3:// URL Bedrock can read");
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
  std::string* out = blocks->Next();
  out->append(R"({"image":{"format":")");
  out->append(format);
  out->append(R"(","source":{"bytes":)");
  AppendText(out, {data, url_text.verbatim});  // already base64, as Converse's JSON wants
  out->append("}}}");
  return absl::OkStatus();
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
// (`file` is its file member) -> Converse {"document":{"format","name","source":{"bytes"}}}.
// Uploaded-file references (file_id) would need a fetch from OpenAI's Files API, which Bedrock
// cannot reach.
absl::Status AppendDocumentBlock(View file, const Field& part, std::vector<std::string>* names,
                                 BlockList* blocks) {
  if (!file.is_object()) return Invalid(Field(part, "file"), "is required");
  View file_id, data_v, filename_v;
  file.FindAll({{"file_id", &file_id}, {"file_data", &data_v}, {"filename", &filename_v}});
  if (Present(file_id)) {
    return Invalid(Field(part, "file.file_id"),
                   "the AWSBedrock backend cannot read uploaded files; send the file inline as file_data "
                   "(a base64 data: URL)");
  }
  Field data_field(part, "file.file_data");
  if (!Present(data_v)) return Invalid(data_field, "is required");
  const Text file_text = TextOf(data_v);
  std::string_view file_data = file_text.text;
  if (!data_v.is_string() || file_data.empty()) return Invalid(data_field, "must be a non-empty string");
  if (Present(filename_v) && !filename_v.is_string()) return Invalid(Field(part, "file.filename"), "must be a string");
  std::string_view filename = StringOf(filename_v);

  std::string_view media_type, data;
  std::string_view format;
  if (SplitBase64DataUrl(file_data, &media_type, &data)) {
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
  } else if (file_data.substr(0, 5) == "data:") {
    return Invalid(data_field, "must be a base64 data: URL (data:application/pdf;base64,...)");
  } else {
    // Bare base64, as some SDKs send it: only the filename can tell the format.
    data = file_data;
    format = FormatFromExtension(filename);
    if (format.empty()) {
      return Invalid(data_field, "must be a base64 data: URL with a media type, or carry a filename with a "
                                 "pdf, csv, doc, docx, xls, xlsx, html, txt or md extension");
    }
  }
  if (data.empty()) return Invalid(data_field, "has no data");
  std::string* out = blocks->Next();
  out->append(R"({"document":{"format":")");
  out->append(format);
  out->append(R"(","name":)");
  json::AppendQuoted(out, DocumentName(filename, true, names));
  out->append(R"(,"source":{"bytes":)");
  AppendText(out, {data, file_text.verbatim});
  out->append("}}}");
  return absl::OkStatus();
}

// The members of one chat message the mapping reads, found in one pass.
struct Message {
  View role, content, thinking_blocks, tool_calls, tool_call_id;
  explicit Message(View msg) {
    msg.FindAll({{"role", &role},
                 {"content", &content},
                 {"thinking_blocks", &thinking_blocks},
                 {"tool_calls", &tool_calls},
                 {"tool_call_id", &tool_call_id}});
  }
};

struct ToolHistory {
  bool any = false;                     // toolUse or toolResult blocks in the conversation
  std::vector<std::string_view> names;  // toolUse names, first-seen order
};

enum class Choice { kUnset, kNone, kAuto, kAny, kTool };

absl::Status ParseToolChoice(View tc, Choice* choice, std::string_view* name) {
  if (!Present(tc)) return absl::OkStatus();
  if (tc.is_string()) {
    std::string_view s = tc.as_string();
    if (s == "none") *choice = Choice::kNone;
    else if (s == "auto") *choice = Choice::kAuto;
    else if (s == "required") *choice = Choice::kAny;
    else return Invalid("tool_choice", StrCat("unsupported value ", Quoted(s)));
    return absl::OkStatus();
  }
  if (tc.is_object() && tc.GetString("type") == "function") {
    std::string_view n = tc.Find("function").GetString("name");
    if (n.empty()) return Invalid("tool_choice.function.name", "is required");
    *choice = Choice::kTool;
    *name = n;
    return absl::OkStatus();
  }
  return Invalid("tool_choice", "must be \"none\", \"auto\", \"required\" or a function choice");
}

// One chat request -> one Converse body, written into `out` as the request is read. Errors
// are the first the request has, in the order the checks run; `out` then holds a partial body.
class ConverseWriter {
 public:
  ConverseWriter(std::string_view model, std::string* out) : model_(model), out_(out) {}

  absl::Status Write(View doc) {
    View messages, n, response_format;
    doc.FindAll({{"messages", &messages}, {"n", &n}, {"response_format", &response_format}});
    View first;
    if (!messages.is_array() || !messages.items().Next(&first)) {
      return Invalid("messages", "must be a non-empty array");
    }
    if (Present(n) && !(n.is_number() && n.as_int() == 1)) {
      return Invalid("n", "the AWSBedrock backend returns one choice; only n=1 is supported");
    }
    // json_schema -> Converse structured output (outputConfig.textFormat, written last).
    // json_object is let through: the prompt asks for JSON.
    View json_schema;
    if (Present(response_format) && response_format.GetString("type") == "json_schema") {
      json_schema = response_format.Find("json_schema");
      if (!json_schema.is_object()) return Invalid("response_format.json_schema", "must be an object");
      if (!json_schema.Find("schema").is_object()) {
        return Invalid("response_format.json_schema.schema", "must be an object (a JSON Schema)");
      }
    }

    out_->append(R"({"messages":[)");
    const size_t turns = out_->size();
    RETURN_IF_ERROR(Messages(messages));
    if (open_role_.empty()) return Invalid("messages", "must contain a user message");
    if (std::string_view(*out_).substr(turns).starts_with(R"({"role":"assistant")")) {
      // Converse: "A conversation must start with a user message" (system messages aside).
      return Invalid("messages", "the AWSBedrock backend needs a user message before the first assistant message");
    }
    out_->append("]}]");
    if (system_blocks_.count() > 0) {
      out_->append(R"(,"system":[)");
      out_->append(system_);
      out_->push_back(']');
    }
    RETURN_IF_ERROR(InferenceConfig(doc));
    RETURN_IF_ERROR(ToolConfig(doc));
    RETURN_IF_ERROR(AdditionalModelRequestFields(doc));
    if (View g = doc.Find("guardrailConfig"); Present(g)) {
      RETURN_IF_ERROR(GuardrailConfig(g, doc.GetBool("stream", false)));
    }
    if (json_schema.exists()) OutputConfig(json_schema);
    out_->push_back('}');
    return absl::OkStatus();
  }

 private:
  absl::Status Messages(View messages) {
    const Field messages_field("messages");
    size_t i = 0;
    View msg;
    for (auto it = messages.items(); it.Next(&msg); ++i) {
      Field field(messages_field, i);
      if (!msg.is_object()) return Invalid(field, "must be an object");
      const Message m(msg);
      std::string_view role = StringOf(m.role);
      if (role == "system" || role == "developer") {
        RETURN_IF_ERROR(SystemMessage(m, field));
      } else if (role == "user") {
        if (!Present(m.content)) return Invalid(Field(field, "content"), "is required");
        RETURN_IF_ERROR(AppendToTurn("user", [&] { return UserBlocks(m.content, field); }));
      } else if (role == "assistant") {
        RETURN_IF_ERROR(AppendToTurn("assistant", [&] { return AssistantBlocks(m, field); }));
      } else if (role == "tool") {
        RETURN_IF_ERROR(AppendToTurn("user", [&] { return ToolResultBlocks(m, field); }));
        history_.any = true;
      } else {
        return Invalid(Field(field, "role"), StrCat("unsupported role ", Quoted(role)));
      }
    }
    return absl::OkStatus();
  }

  // Runs `write_blocks` (which appends one message's blocks to turn_) as part of a `role` turn.
  // Converse wants alternating roles, and consecutive tool results must share one user turn,
  // so a message whose role repeats the open turn's continues that turn; a turn stays open (no
  // closing "]}") until a message of the other role, or the end. A message that produced no
  // block leaves no trace.
  template <typename WriteBlocks>
  absl::Status AppendToTurn(std::string_view role, WriteBlocks&& write_blocks) {
    const size_t mark = out_->size();
    const BlockList saved_turn = turn_;
    const std::string_view saved_role = open_role_;
    if (role != open_role_) {
      if (!open_role_.empty()) out_->append("]},");
      out_->append(R"({"role":")");
      out_->append(role);
      out_->append(R"(","content":[)");
      turn_ = BlockList(out_);
      open_role_ = role;
    }
    const size_t before = turn_.count();
    turn_.StartSection();
    RETURN_IF_ERROR(write_blocks());
    if (turn_.count() == before) {
      out_->resize(mark);
      turn_ = saved_turn;
      open_role_ = saved_role;
    }
    return absl::OkStatus();
  }

  // System and developer messages -> the top-level system blocks, in order.
  absl::Status SystemMessage(const Message& m, const Field& field) {
    texts_.clear();
    RETURN_IF_ERROR(AppendTextParts(m.content, Field(field, "content"), false, &texts_));
    AppendTextBlocks(texts_, &system_blocks_);
    return absl::OkStatus();
  }

  absl::Status UserBlocks(View content, const Field& field) {
    if (content.is_string()) {
      AppendTextBlock(turn_.Next(), TextOf(content));
      return absl::OkStatus();
    }
    const Field content_field(field, "content");
    if (!content.is_array()) return Invalid(content_field, "must be a string or an array of content parts");
    size_t j = 0;
    View part;
    for (auto it = content.items(); it.Next(&part); ++j) {
      Field part_field(content_field, j);
      View type_v, text, image, file, cc;
      part.FindAll(
          {{"type", &type_v}, {"text", &text}, {"image_url", &image}, {"file", &file}, {"cache_control", &cc}});
      std::string_view type = StringOf(type_v);
      if (type == "text") {
        AppendTextBlock(turn_.Next(), TextOf(text));  // user text is kept even when blank
      } else if (type == "image_url") {
        RETURN_IF_ERROR(AppendImageBlock(image, part_field, &turn_));
      } else if (type == "file") {
        RETURN_IF_ERROR(AppendDocumentBlock(file, part_field, &document_names_, &turn_));
      } else {
        return Invalid(part_field, StrCat("unsupported part type ", Quoted(type)));
      }
      ASSIGN_OR_RETURN(CachePoint point, CachePointFrom(cc, part_field));
      turn_.AppendCachePoint(point);
    }
    return absl::OkStatus();
  }

  // An assistant message -> its reasoning blocks, then its text, then its tool calls as
  // toolUse blocks. (Content parts are checked before thinking_blocks, as they always were.)
  absl::Status AssistantBlocks(const Message& m, const Field& field) {
    texts_.clear();
    RETURN_IF_ERROR(AppendTextParts(m.content, Field(field, "content"), true, &texts_));
    RETURN_IF_ERROR(ReasoningBlocks(m.thinking_blocks, field));
    AppendTextBlocks(texts_, &turn_, /*drop_blank=*/true);
    if (!Present(m.tool_calls)) return absl::OkStatus();
    const Field calls_field(field, "tool_calls");
    if (!m.tool_calls.is_array()) return Invalid(calls_field, "must be an array");
    size_t j = 0;
    View call;
    for (auto it = m.tool_calls.items(); it.Next(&call); ++j) {
      Field call_field(calls_field, j);
      RETURN_IF_ERROR(ToolUseBlock(call, call_field));
    }
    return absl::OkStatus();
  }

  // The `thinking_blocks` extension on an assistant message (what the response side returns,
  // as for Anthropic backends) -> reasoningContent blocks, first in the turn: Claude on Bedrock
  // needs its reasoning, signature included, sent back unchanged for multi-turn tool use.
  absl::Status ReasoningBlocks(View tb, const Field& field) {
    if (!Present(tb)) return absl::OkStatus();
    const Field tb_field(field, "thinking_blocks");
    if (!tb.is_array()) return Invalid(tb_field, "must be an array");
    size_t j = 0;
    View b;
    for (auto it = tb.items(); it.Next(&b); ++j) {
      Field block_field(tb_field, j);
      View type_v, thinking, signature, data_v;
      b.FindAll({{"type", &type_v}, {"thinking", &thinking}, {"signature", &signature}, {"data", &data_v}});
      std::string_view type = StringOf(type_v);
      if (type == "thinking") {
        std::string* out = turn_.Next();
        out->append(R"({"reasoningContent":{"reasoningText":{"text":)");
        AppendText(out, TextOf(thinking));  // reasoning text can be long
        if (std::string_view sig = StringOf(signature); !sig.empty()) {
          out->append(R"(,"signature":)");
          json::AppendQuoted(out, sig);
        }
        out->append("}}}");
      } else if (type == "redacted_thinking") {
        std::string_view data = StringOf(data_v);
        if (data.empty()) return Invalid(Field(block_field, "data"), "is required");
        std::string* out = turn_.Next();
        out->append(R"({"reasoningContent":{"redactedContent":)");
        json::AppendQuoted(out, data);
        out->append("}}");
      } else {
        return Invalid(Field(block_field, "type"), "must be \"thinking\" or \"redacted_thinking\"");
      }
    }
    return absl::OkStatus();
  }

  // One OpenAI tool call -> a toolUse block. OpenAI carries the arguments as JSON text;
  // Converse wants the JSON value (written compact, as re-serializing a parsed copy would).
  absl::Status ToolUseBlock(View call, const Field& call_field) {
    View fn, id_v;
    call.FindAll({{"function", &fn}, {"id", &id_v}});
    if (!fn.is_object()) return Invalid(Field(call_field, "function"), "is required");
    View name_v, args;
    fn.FindAll({{"name", &name_v}, {"arguments", &args}});
    std::string_view name = StringOf(name_v);
    if (name.empty()) return Invalid(Field(call_field, "function.name"), "is required");
    std::string_view id = StringOf(id_v);
    if (id.empty()) return Invalid(Field(call_field, "id"), "is required");
    View input;  // absent: {}
    if (Present(args)) {
      if (!args.is_string()) return Invalid(Field(call_field, "function.arguments"), "must be a string");
      std::string_view text = args.as_string();
      if (!StripWhitespace(text).empty()) {
        // A second reader: the first one's views (the request) must stay valid.
        if (!arguments_reader_) arguments_reader_.emplace();
        auto parsed = arguments_reader_->Parse(text);
        if (!parsed.ok()) return Invalid(Field(call_field, "function.arguments"), "is not valid JSON");
        input = *parsed;
      }
    }
    std::string* out = turn_.Next();
    out->append(R"({"toolUse":{"toolUseId":)");
    json::AppendQuoted(out, id);
    out->append(R"(,"name":)");
    json::AppendQuoted(out, name);
    out->append(R"(,"input":)");
    if (input.exists()) input.AppendCompact(out);
    else out->append("{}");
    out->append("}}");
    history_.any = true;
    if (std::find(history_.names.begin(), history_.names.end(), name) == history_.names.end()) {
      history_.names.push_back(name);
    }
    return absl::OkStatus();
  }

  // A tool message -> a toolResult block, plus a cache point after it when a content part asked
  // for one (cachePoint is not a ToolResultContentBlock, so it cannot go inside).
  absl::Status ToolResultBlocks(const Message& m, const Field& field) {
    std::string_view id = StringOf(m.tool_call_id);
    if (id.empty()) return Invalid(Field(field, "tool_call_id"), "is required");
    texts_.clear();
    RETURN_IF_ERROR(AppendTextParts(m.content, Field(field, "content"), false, &texts_));
    std::string* out = turn_.Next();
    out->append(R"({"toolResult":{"toolUseId":)");
    json::AppendQuoted(out, id);
    out->append(R"(,"content":[)");
    CachePoint point;  // the last part's that asks for one
    bool first = true;
    for (size_t k = 0; k < texts_.size(); ++k) {
      if (texts_[k].point.set) point = texts_[k].point;
      // Empty text blocks are refused ("text content blocks must be non-empty"); a tool that
      // returned nothing gets an empty content list, as an Anthropic tool_result without content.
      if (texts_[k].text.text.empty()) continue;
      if (!first) out->push_back(',');
      first = false;
      AppendTextBlock(out, texts_[k].text);
    }
    out->append("]}}");
    turn_.AppendCachePoint(point);
    return absl::OkStatus();
  }

  // {"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":
  //   {"schema":"<the schema as a JSON string>","name","description"}}}}} (Converse API).
  void OutputConfig(View json_schema) {
    View schema, name, description;
    json_schema.FindAll({{"schema", &schema}, {"name", &name}, {"description", &description}});
    out_->append(R"(,"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":)");
    std::string text;
    schema.AppendCompact(&text);
    json::AppendQuoted(out_, text);
    if (std::string_view n = StringOf(name); !n.empty()) {
      out_->append(R"(,"name":)");
      json::AppendQuoted(out_, n);
    }
    if (std::string_view d = StringOf(description); !d.empty()) {
      out_->append(R"(,"description":)");
      json::AppendQuoted(out_, d);
    }
    out_->append("}}}}");
  }

  absl::Status InferenceConfig(View doc) {
    View max_completion_tokens, max_tokens, temperature, top_p, stop;
    doc.FindAll({{"max_completion_tokens", &max_completion_tokens},
                 {"max_tokens", &max_tokens},
                 {"temperature", &temperature},
                 {"top_p", &top_p},
                 {"stop", &stop}});
    OptionalObject ic(out_, "inferenceConfig");
    View max = max_completion_tokens;
    std::string_view max_field = "max_completion_tokens";
    if (!Present(max)) {
      max = max_tokens;
      max_field = "max_tokens";
    }
    // Numbers are copied as the client wrote them.
    if (Present(max)) {
      if (!max.is_number()) return Invalid(max_field, "must be an integer");
      ic.Member("maxTokens")->append(max.raw());
      max_tokens_ = max.as_int();
    }
    // Bedrock takes temperature and topP from 0 to 1 (OpenAI's temperature goes to 2): a value
    // out of that range is the client's to change, so it gets a 400 naming the field.
    if (Present(temperature)) {
      if (!temperature.is_number()) return Invalid("temperature", "must be a number");
      if (double t = temperature.as_double(); !(t >= 0 && t <= 1)) {
        return Invalid("temperature", "the AWSBedrock backend accepts 0 to 1");
      }
      ic.Member("temperature")->append(temperature.raw());
    }
    if (Present(top_p)) {
      if (!top_p.is_number()) return Invalid("top_p", "must be a number");
      if (double p = top_p.as_double(); !(p >= 0 && p <= 1)) return Invalid("top_p", "must be between 0 and 1");
      ic.Member("topP")->append(top_p.raw());
    }
    // Empty stop strings stop nothing and Bedrock rejects them: they are left out.
    if (Present(stop)) {
      if (stop.is_string()) {
        if (!stop.as_string().empty()) {
          std::string* out = ic.Member("stopSequences");
          out->push_back('[');
          stop.AppendCompact(out);
          out->push_back(']');
        }
      } else if (stop.is_array()) {
        size_t count = 0;
        View s;
        for (auto it = stop.items(); it.Next(&s);) {
          if (!s.is_string()) return Invalid(StrCat("stop[", count, "]"), "must be a string");
          if (!s.as_string().empty()) ++count;
        }
        if (count > 0) {  // an empty list says nothing
          std::string* out = ic.Member("stopSequences");
          out->push_back('[');
          bool first = true;
          for (auto it = stop.items(); it.Next(&s);) {
            if (s.as_string().empty()) continue;
            if (!first) out->push_back(',');
            first = false;
            s.AppendCompact(out);
          }
          out->push_back(']');
        }
      } else {
        return Invalid("stop", "must be a string or an array of strings");
      }
    }
    ic.Close();
    return absl::OkStatus();
  }

  absl::Status ToolSpecs(View tools, BlockList* specs) {
    if (!tools.is_array()) return Invalid("tools", "must be an array");
    const Field tools_field("tools");
    size_t i = 0;
    View tool;
    for (auto it = tools.items(); it.Next(&tool); ++i) {
      Field field(tools_field, i);
      View type_v, fn, cc;
      tool.FindAll({{"type", &type_v}, {"function", &fn}, {"cache_control", &cc}});
      std::string_view type = StringOf(type_v);
      if (!type.empty() && type != "function") {
        return Invalid(Field(field, "type"), StrCat("unsupported tool type ", Quoted(type)));
      }
      if (!fn.is_object()) return Invalid(Field(field, "function"), "is required");
      View name_v, description, params, fn_cc, strict;
      fn.FindAll({{"name", &name_v}, {"description", &description}, {"parameters", &params}, {"cache_control", &fn_cc},
                  {"strict", &strict}});
      std::string_view name = StringOf(name_v);
      if (name.empty()) return Invalid(Field(field, "function.name"), "is required");
      if (Present(params) && !params.is_object()) {
        return Invalid(Field(field, "function.parameters"), "must be an object");
      }
      std::string* out = specs->Next();
      out->append(R"({"toolSpec":{"name":)");
      json::AppendQuoted(out, name);
      if (std::string_view d = StringOf(description); !d.empty()) {
        out->append(R"(,"description":)");
        json::AppendQuoted(out, d);
      }
      out->append(R"(,"inputSchema":{"json":)");
      if (Present(params)) params.AppendCompact(out);
      else out->append(R"({"type":"object","properties":{}})");
      out->push_back('}');
      if (strict.is_bool() && strict.as_bool()) out->append(R"(,"strict":true)");  // structured tool input
      out->append("}}");
      // cache_control on the tool (as Anthropic puts it) or, leniently, on its function.
      ASSIGN_OR_RETURN(CachePoint point, CachePointFrom(cc, field));
      if (!point.set) {
        Field fn_field(field, "function");
        ASSIGN_OR_RETURN(point, CachePointFrom(fn_cc, fn_field));
      }
      specs->AppendCachePoint(point);
    }
    return absl::OkStatus();
  }

  // Converse has no "none": without a tool history the tools are dropped; with one, Bedrock
  // insists on a toolConfig, so the tools stay (without toolChoice) and the model may still
  // call one. With no tools at all but a tool history, minimal specs are synthesised from the
  // names in the history for the same reason (ValidationException "The toolConfig field must be
  // defined when using toolUse and toolResult content blocks").
  absl::Status ToolConfig(View doc) {
    View tool_choice, tools;
    doc.FindAll({{"tool_choice", &tool_choice}, {"tools", &tools}});
    Choice choice = Choice::kUnset;
    std::string_view tool_name;
    RETURN_IF_ERROR(ParseToolChoice(tool_choice, &choice, &tool_name));
    const size_t mark = out_->size();  // the whole member is taken back when it says nothing
    out_->append(R"(,"toolConfig":{"tools":[)");
    BlockList specs(out_);
    if (Present(tools)) RETURN_IF_ERROR(ToolSpecs(tools, &specs));
    if (specs.count() == 0 && history_.any) {
      for (std::string_view n : history_.names) {
        std::string* out = specs.Next();
        out->append(R"({"toolSpec":{"name":)");
        json::AppendQuoted(out, n);
        out->append(R"(,"inputSchema":{"json":{"type":"object"}}}})");
      }
      choice = Choice::kNone;  // the client offered no tools: never ask for one
    }
    if (specs.count() == 0) {
      out_->resize(mark);
      if (choice == Choice::kAny || choice == Choice::kTool) return Invalid("tool_choice", "requires tools");
      return absl::OkStatus();
    }
    if (choice == Choice::kNone && !history_.any) {
      out_->resize(mark);
      return absl::OkStatus();
    }
    out_->push_back(']');
    switch (choice) {
      case Choice::kAuto: out_->append(R"(,"toolChoice":{"auto":{}})"); break;
      case Choice::kAny: out_->append(R"(,"toolChoice":{"any":{}})"); break;
      case Choice::kTool:
        out_->append(R"(,"toolChoice":{"tool":{"name":)");
        json::AppendQuoted(out_, tool_name);
        out_->append("}}");
        break;
      case Choice::kUnset:
      case Choice::kNone: break;
    }
    out_->push_back('}');
    return absl::OkStatus();
  }

  absl::Status AdditionalModelRequestFields(View doc) {
    View thinking, effort, top_k;
    doc.FindAll({{"thinking", &thinking}, {"reasoning_effort", &effort}, {"top_k", &top_k}});
    OptionalObject extra(out_, "additionalModelRequestFields");
    RETURN_IF_ERROR(Reasoning(thinking, effort, &extra));
    if (Present(top_k) && top_k.is_number()) extra.Member("top_k")->append(top_k.raw());
    extra.Close();
    return absl::OkStatus();
  }

  // reasoning_effort / the `thinking` extension -> additionalModelRequestFields, in the model
  // family's own terms: Claude takes Anthropic's `thinking` (budget tokens), Amazon Nova 2
  // takes `reasoningConfig` (an effort level). Budgets follow common gateway defaults.
  absl::Status Reasoning(View thinking, View effort_v, OptionalObject* extra) {
    if (Present(thinking)) {
      if (!thinking.is_object()) return Invalid("thinking", "must be an object");
      thinking.AppendCompact(extra->Member("thinking"));
      return absl::OkStatus();
    }
    if (!Present(effort_v)) return absl::OkStatus();
    if (!effort_v.is_string()) return Invalid("reasoning_effort", "must be a string");
    std::string_view effort = effort_v.as_string();
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
    if (ContainsIgnoreCase(model_, "anthropic") || ContainsIgnoreCase(model_, "claude")) {
      // Claude wants budget_tokens < max_tokens (OpenAI's cap includes reasoning too): a
      // budget that does not fit shrinks to half the cap (at least Claude's minimum), and
      // thinking stays off only when even the minimum does not fit.
      if (max_tokens_ > 0 && budget >= max_tokens_) {
        budget = std::max(kMinThinkingBudget, max_tokens_ / 2);
        if (budget >= max_tokens_) return absl::OkStatus();
      }
      StrAppend(extra->Member("thinking"), R"({"type":"enabled","budget_tokens":)", budget, "}");
    } else {
      StrAppend(extra->Member("reasoningConfig"), R"({"type":"enabled","maxReasoningEffort":")", level, "\"}");
    }
    return absl::OkStatus();
  }

  // The `guardrailConfig` extension: Bedrock's own GuardrailConfiguration, passed through to
  // the top level of the Converse body after type checks, so a typo is a 400 naming the field
  // here rather than a ValidationException from AWS
  // (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailConfiguration.html;
  // ConverseStream's GuardrailStreamConfiguration adds streamProcessingMode).
  absl::Status GuardrailConfig(View g, bool stream) {
    if (!g.is_object()) return Invalid("guardrailConfig", "must be an object");
    const Field g_field("guardrailConfig");
    // The members to pass on. Any other key is an error, so there are at most four; a repeated
    // key keeps its first place and takes its last value (as the DOM's Set did).
    std::array<std::pair<std::string_view, View>, 4> kept;
    size_t n = 0;
    std::string_view key;
    View v;
    for (auto it = g.members(); it.Next(&key, &v);) {
      Field field(g_field, key);
      std::string_view s = StringOf(v);
      if (key == "guardrailIdentifier" || key == "guardrailVersion") {
        if (s.empty()) return Invalid(field, "must be a non-empty string");
      } else if (key == "trace") {
        if (s != "enabled" && s != "disabled" && s != "enabled_full") {
          return Invalid(field, "must be \"enabled\", \"disabled\" or \"enabled_full\"");
        }
      } else if (key == "streamProcessingMode") {
        if (s != "sync" && s != "async") return Invalid(field, "must be \"sync\" or \"async\"");
        if (!stream) continue;  // Converse (unstreamed) does not take it
      } else {
        return Invalid(field, "unknown field; expected guardrailIdentifier, guardrailVersion, trace or "
                              "streamProcessingMode");
      }
      auto same = std::find_if(kept.begin(), kept.begin() + n, [&](const auto& m) { return m.first == key; });
      if (same != kept.begin() + n) same->second = v;
      else kept[n++] = {key, v};
    }
    auto has = [&](std::string_view k) {
      return std::any_of(kept.begin(), kept.begin() + n, [&](const auto& m) { return m.first == k; });
    };
    if (!has("guardrailIdentifier")) return Invalid("guardrailConfig.guardrailIdentifier", "is required");
    if (!has("guardrailVersion")) return Invalid("guardrailConfig.guardrailVersion", "is required");
    out_->append(R"(,"guardrailConfig":{)");
    for (size_t k = 0; k < n; ++k) {
      if (k > 0) out_->push_back(',');
      json::AppendQuoted(out_, kept[k].first);
      out_->push_back(':');
      kept[k].second.AppendCompact(out_);
    }
    out_->push_back('}');
    return absl::OkStatus();
  }

  const std::string_view model_;
  std::string* const out_;
  BlockList turn_{out_};         // the open turn's content blocks
  std::string_view open_role_;   // the open turn's role; "" before the first turn
  std::string system_;           // the system blocks, written after the messages
  BlockList system_blocks_{&system_};
  std::vector<TextPart> texts_;  // scratch: one message's text parts
  ToolHistory history_;
  int64_t max_tokens_ = 0;  // the client's cap on output tokens; 0 when it set none
  std::vector<std::string> document_names_;
  std::optional<json::Reader> arguments_reader_;  // tool call arguments, made on first use
};

}  // namespace

absl::StatusOr<std::string_view> S3ImageFormat(std::string_view url) {
  if (url.substr(0, 5) != "s3://") return absl::InvalidArgumentError("must be an s3:// URL");
  std::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) {
    return absl::InvalidArgumentError("must be s3://<bucket>/<key>");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      return absl::InvalidArgumentError("must not hold spaces or control characters");
    }
  }
  std::string_view key = rest.substr(slash + 1);
  size_t dot = key.rfind('.');
  std::string ext = dot == std::string_view::npos || key.find('/', dot) != std::string_view::npos
                        ? std::string()
                        : std::string(key.substr(dot + 1));
  for (char& c : ext) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (ext == "jpg" || ext == "jpeg") return "jpeg";
  for (std::string_view f : {"png", "gif", "webp"}) {
    if (ext == f) return f;
  }
  return absl::InvalidArgumentError(
      "an S3 image's key must end in .png, .jpg, .jpeg, .gif or .webp (Converse needs the format)");
}

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

absl::StatusOr<MappedChat> MapChatRequest(std::string_view body, std::string_view model,
                                          const std::vector<json::TopLevelMember>* top_members) {
  // One reader per thread, its buffers reused: the result owns its bytes, nothing outlives
  // this call but the reader's memory.
  thread_local json::Reader reader;
  View doc;
  if (top_members != nullptr) {
    doc = reader.Adopt(body, *top_members);
  } else {
    auto parsed = reader.Parse(body);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(StrCat("request body is not valid JSON: ", parsed.status().message()));
    }
    doc = *parsed;
  }
  MappedChat out;
  out.body.reserve(body.size() + 128);  // about the client's size: the same text, other wrapping
  ConverseWriter writer(model, &out.body);
  RETURN_IF_ERROR(writer.Write(doc));
  if (View so = doc.Find("stream_options"); so.is_object()) out.include_usage = so.GetBool("include_usage", false);
  return out;
}

bool IsCohereEmbed(std::string_view model) { return model.find("cohere.embed") != std::string_view::npos; }

namespace {

absl::Status CheckEncodingFormat(const Value& doc, MappedEmbeddings* out) {
  if (const Value* fmt = doc.Find("encoding_format"); Present(fmt)) {
    if (!fmt->is_string() || (fmt->as_string() != "float" && fmt->as_string() != "base64")) {
      return Invalid("encoding_format", "must be \"float\" or \"base64\"");
    }
    out->base64 = fmt->as_string() == "base64";
  }
  return absl::OkStatus();
}

// Cohere Embed on Bedrock: up to 96 texts per InvokeModel call.
absl::StatusOr<MappedEmbeddings> MapCohereEmbeddings(const Value& doc, std::string_view model) {
  constexpr size_t kMaxTexts = kCohereMaxTexts;
  MappedEmbeddings out;
  out.cohere = true;
  const Value* input = doc.Find("input");
  if (!Present(input)) return Invalid("input", "is required");
  Value texts = Value::Array();
  if (input->is_string()) {
    texts.Append(Str(input->as_string()));
  } else if (input->is_array()) {
    if (input->items().empty()) return Invalid("input", "must not be empty");
    if (input->items().size() > kMaxTexts) {
      return Invalid("input", StrCat("Cohere Embed on AWSBedrock takes at most ", kMaxTexts, " texts per request; got ",
                                     input->items().size()));
    }
    for (size_t i = 0; i < input->items().size(); ++i) {
      const Value& t = input->items()[i];
      if (!t.is_string()) return Invalid(StrCat("input[", i, "]"), "token arrays are not supported; send text");
      texts.Append(Str(t.as_string()));
    }
  } else {
    return Invalid("input", "must be a string or an array of strings");
  }
  RETURN_IF_ERROR(CheckEncodingFormat(doc, &out));
  std::string input_type = "search_document";  // documents to index: the common use
  if (const Value* it = doc.Find("input_type"); Present(it)) {
    if (!it->is_string() || it->as_string().empty()) return Invalid("input_type", "must be a non-empty string");
    input_type = std::string(it->as_string());
  }
  out.body = Value::Object();
  out.body.Set("texts", std::move(texts));
  out.body.Set("input_type", Str(input_type));
  if (const Value* tr = doc.Find("truncate"); Present(tr)) {
    if (!tr->is_string()) return Invalid("truncate", "must be a string");
    out.body.Set("truncate", *tr);
  }
  Value types = Value::Array();
  types.Append(Str("float"));
  out.body.Set("embedding_types", std::move(types));
  if (const Value* dims = doc.Find("dimensions"); Present(dims)) {
    if (model.find("embed-v4") == std::string_view::npos) {
      return Invalid("dimensions", StrCat(model, " has a fixed size; only Cohere Embed v4 takes dimensions"));
    }
    if (!dims->is_number() || dims->as_int() < 1) return Invalid("dimensions", "must be a positive integer");
    out.body.Set("output_dimension", *dims);
  }
  return out;
}

}  // namespace

absl::StatusOr<MappedEmbeddings> MapEmbeddingsRequest(const Value& doc, std::string_view model) {
  if (IsCohereEmbed(model)) return MapCohereEmbeddings(doc, model);
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
                                     "InvokeModel call; send one string per request (Cohere Embed models take "
                                     "up to 96)"));
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
  RETURN_IF_ERROR(CheckEncodingFormat(doc, &out));
  return out;
}

}  // namespace sluice::translate::openai_to_bedrock_internal
