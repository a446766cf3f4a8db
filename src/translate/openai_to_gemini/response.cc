// Gemini responses (whole, streamed, errors, embeddings) -> OpenAI shapes.
// Mapping tables: shared/reference/provider-apis.md §5.3-5.5, §7.4, §7.6, §7.7.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "translate/openai_to_gemini/gemini_internal.h"

namespace sluice::translate::gemini_internal {
namespace {

using json::Value;

// The parts of one candidate, split the way OpenAI reports them.
struct CandidateParts {
  std::string text;       // visible text
  std::string reasoning;  // thought-summary text (parts with "thought": true)
  std::vector<const Value*> calls;  // parts holding a functionCall
  std::vector<size_t> part_offsets;  // per part: byte offset in `text` where it begins
};

CandidateParts CollectParts(const Value& candidate) {
  CandidateParts out;
  const Value* content = candidate.Find("content");
  const Value* parts = content ? content->Find("parts") : nullptr;
  if (parts == nullptr || !parts->is_array()) return out;
  for (const auto& p : parts->items()) {
    out.part_offsets.push_back(out.text.size());
    if (const Value* fc = p.Find("functionCall"); fc && fc->is_object()) {
      out.calls.push_back(&p);
    } else if (const Value* t = p.Find("text"); t && t->is_string()) {
      (p.GetBool("thought", false) ? out.reasoning : out.text).append(t->as_string());
    }
    // inlineData (generated images), executableCode and codeExecutionResult have no
    // chat.completions counterpart and are dropped.
  }
  return out;
}

Value ToolCallJson(const Value& part, int64_t index, std::string_view token, bool with_index) {
  const Value* fc = part.Find("functionCall");
  Value fn = Value::Object();
  fn.Set("name", Value::String(std::string(fc->GetString("name"))));
  const Value* args = fc->Find("args");
  fn.Set("arguments", Value::String(args && !args->is_null() ? json::Serialize(*args) : "{}"));
  Value call = Value::Object();
  if (with_index) call.Set("index", Value::Int(index));
  call.Set("id", Value::String(MakeToolCallId(part, index, token)));
  call.Set("type", Value::String("function"));
  call.Set("function", std::move(fn));
  return call;
}

int64_t IntMember(const Value& v, std::string_view key) {
  const Value* m = v.Find(key);
  return m && m->is_number() ? m->as_int() : 0;
}

std::string ResponseToken(const Value& resp, std::string_view fallback) {
  std::string_view id = resp.GetString("responseId");
  return std::string(id.empty() ? fallback : id);
}

int64_t Created(const Value& resp, int64_t fallback) {
  int64_t t = 0;
  return ParseRfc3339(resp.GetString("createTime"), &t) ? t : fallback;
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}


// UTF-8 byte offset -> code point offset in `text` (clamped to its end). Gemini's segment and
// citation indexes count bytes; OpenAI's annotation indexes count characters.
int64_t CodePointOffset(std::string_view text, int64_t byte_offset) {
  size_t end = byte_offset < 0 ? 0 : std::min(static_cast<size_t>(byte_offset), text.size());
  int64_t count = 0;
  for (size_t i = 0; i < end; ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++count;  // not a continuation byte
  }
  return count;
}

Value UrlCitation(std::string_view url, std::string_view title, int64_t start, int64_t end) {
  Value c = Value::Object();
  c.Set("url", Value::String(std::string(url)));
  c.Set("title", Value::String(std::string(title)));
  c.Set("start_index", Value::Int(start));
  c.Set("end_index", Value::Int(end));
  Value a = Value::Object();
  a.Set("type", Value::String("url_citation"));
  a.Set("url_citation", std::move(c));
  return a;
}

// A grounding chunk's source: web (Google Search), retrievedContext (Vertex AI Search, RAG)
// or maps, whichever it carries; nullptr when none has a uri.
const Value* ChunkSource(const Value& chunk) {
  for (std::string_view kind : {"web", "retrievedContext", "maps"}) {
    const Value* src = chunk.Find(kind);
    if (src != nullptr && src->is_object() && !src->GetString("uri").empty()) return src;
  }
  return nullptr;
}

}  // namespace

std::string MakeToolCallId(const Value& part, int64_t index, std::string_view token) {
  const Value* fc = part.Find("functionCall");
  std::string_view upstream = fc ? fc->GetString("id") : std::string_view();
  std::string id = upstream.empty() ? StrCat("call_", index, "_", token) : std::string(upstream);
  if (std::string_view sig = part.GetString("thoughtSignature"); !sig.empty())
    StrAppend(&id, kThoughtSignatureMarker, sig);
  return id;
}

// Policy: only OpenAI's own finish reasons come out, so strict clients never see an unknown
// value. Safety-like stops (including RECITATION and MODEL_ARMOR) are content_filter; every
// other end (OTHER, MALFORMED_FUNCTION_CALL, LANGUAGE, ...) is stop, or tool_calls when the
// candidate asked for tools.
std::string_view MapFinishReason(std::string_view r, bool has_function_calls) {
  if (r.empty() || r == "FINISH_REASON_UNSPECIFIED") return {};
  if (r == "MAX_TOKENS") return "length";
  static constexpr std::string_view kFiltered[] = {
      "SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION", "IMAGE_SAFETY",
      "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"};
  for (std::string_view f : kFiltered)
    if (f == r) return "content_filter";
  return has_function_calls ? "tool_calls" : "stop";
}

bool ParseRfc3339(std::string_view s, int64_t* unix_seconds) {
  int64_t y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int64_t oh, om;
    if (!Digits(s, i + 1, 2, &oh) || i + 3 >= s.size() || s[i + 3] != ':' || !Digits(s, i + 4, 2, &om))
      return false;
    offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  *unix_seconds = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return true;
}

Value ConvertUsage(const Value& um, Usage* usage) {
  // Tool-use prompt tokens (e.g. grounding results) are input the model read, so they count
  // as prompt tokens; that keeps prompt + completion == total as OpenAI clients expect.
  int64_t prompt = AddTokens(IntMember(um, "promptTokenCount"), IntMember(um, "toolUsePromptTokenCount"));
  int64_t thoughts = IntMember(um, "thoughtsTokenCount");
  int64_t completion = AddTokens(IntMember(um, "candidatesTokenCount"), thoughts);
  int64_t total = um.Find("totalTokenCount") ? IntMember(um, "totalTokenCount") : AddTokens(prompt, completion);
  int64_t cached = IntMember(um, "cachedContentTokenCount");
  usage->input_tokens = prompt;
  usage->output_tokens = completion;
  usage->total_tokens = total;
  usage->cached_input_tokens = cached;
  usage->reasoning_tokens = thoughts;
  Value u = Value::Object();
  u.Set("prompt_tokens", Value::Int(prompt));
  u.Set("completion_tokens", Value::Int(completion));
  u.Set("total_tokens", Value::Int(total));
  Value pd = Value::Object();
  pd.Set("cached_tokens", Value::Int(cached));
  u.Set("prompt_tokens_details", std::move(pd));
  Value cd = Value::Object();
  cd.Set("reasoning_tokens", Value::Int(thoughts));
  u.Set("completion_tokens_details", std::move(cd));
  return u;
}

// Proto3 JSON leaves zero values out, so an absent startIndex (or partIndex) is 0; an absent
// endIndex is taken from the segment text when there is one.
Value CandidateAnnotations(const Value& candidate, std::string_view text, const std::vector<size_t>& part_offsets) {
  Value out = Value::Array();
  std::vector<std::string> seen;  // "start end url": Gemini may cite one source twice for a span
  auto add = [&](std::string_view url, std::string_view title, int64_t start_byte, int64_t end_byte) {
    int64_t start = CodePointOffset(text, start_byte);
    int64_t end = std::max(start, CodePointOffset(text, end_byte));
    std::string key = StrCat(start, " ", end, " ", url);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) return;
    seen.push_back(std::move(key));
    out.Append(UrlCitation(url, title, start, end));
  };
  const int64_t text_bytes = static_cast<int64_t>(text.size());

  if (const Value* gm = candidate.Find("groundingMetadata"); gm != nullptr && gm->is_object()) {
    const Value* chunks = gm->Find("groundingChunks");
    const Value* supports = gm->Find("groundingSupports");
    bool any_support = false;
    if (chunks != nullptr && chunks->is_array() && supports != nullptr && supports->is_array()) {
      for (const Value& support : supports->items()) {
        const Value* seg = support.Find("segment");
        const Value* indices = support.Find("groundingChunkIndices");
        if (seg == nullptr || !seg->is_object() || indices == nullptr || !indices->is_array()) continue;
        int64_t base = 0;
        if (!part_offsets.empty()) {
          int64_t part = IntMember(*seg, "partIndex");
          if (part < 0 || part >= static_cast<int64_t>(part_offsets.size())) continue;
          base = static_cast<int64_t>(part_offsets[static_cast<size_t>(part)]);
        }
        int64_t start = base + IntMember(*seg, "startIndex");
        int64_t end = seg->Find("endIndex") != nullptr
                          ? base + IntMember(*seg, "endIndex")
                          : start + static_cast<int64_t>(seg->GetString("text").size());
        for (const Value& idx : indices->items()) {
          if (!idx.is_number() || idx.as_int() < 0 || idx.as_int() >= static_cast<int64_t>(chunks->size())) continue;
          const Value* src = ChunkSource(chunks->items()[static_cast<size_t>(idx.as_int())]);
          if (src == nullptr) continue;
          add(src->GetString("uri"), src->GetString("title"), start, end);
          any_support = true;
        }
      }
    }
    // Sources without supports (older models, or text too short to attribute) still count as
    // sources of the answer: they cover the whole text.
    if (!any_support && chunks != nullptr && chunks->is_array()) {
      for (const Value& chunk : chunks->items()) {
        if (const Value* src = ChunkSource(chunk)) add(src->GetString("uri"), src->GetString("title"), 0, text_bytes);
      }
    }
  }

  if (const Value* cm = candidate.Find("citationMetadata"); cm != nullptr && cm->is_object()) {
    // Vertex says "citations"; the Gemini API (generativelanguage) says "citationSources".
    const Value* list = cm->Find("citations");
    if (list == nullptr || !list->is_array()) list = cm->Find("citationSources");
    if (list != nullptr && list->is_array()) {
      for (const Value& c : list->items()) {
        std::string_view uri = c.GetString("uri");
        if (uri.empty()) continue;  // a licence-only citation has no URL to give
        int64_t start = IntMember(c, "startIndex");
        int64_t end = c.Find("endIndex") != nullptr ? IntMember(c, "endIndex") : text_bytes;
        add(uri, c.GetString("title"), start, end);
      }
    }
  }
  return out;
}

Value ConvertResponse(const Value& resp, const ResponseContext& ctx, Usage* usage) {
  std::string token = ResponseToken(resp, ctx.token);
  std::string_view model = resp.GetString("modelVersion");
  Value choices = Value::Array();
  int64_t call_index = 0;  // across candidates, so ids stay unique in the response
  const Value* candidates = resp.Find("candidates");
  if (candidates != nullptr && candidates->is_array() && candidates->size() > 0) {
    for (size_t c = 0; c < candidates->size(); ++c) {
      const Value& cand = candidates->items()[c];
      CandidateParts parts = CollectParts(cand);
      Value message = Value::Object();
      message.Set("role", Value::String("assistant"));
      message.Set("content", parts.text.empty() ? Value() : Value::String(parts.text));
      message.Set("refusal", Value());  // as OpenAI's own answers carry it (and annotations, below)
      // Thought summaries (only when thinking asked for them), under the common extension name.
      if (!parts.reasoning.empty()) message.Set("reasoning_content", Value::String(parts.reasoning));
      if (!parts.calls.empty()) {
        Value calls = Value::Array();
        for (const Value* p : parts.calls) calls.Append(ToolCallJson(*p, call_index++, token, false));
        message.Set("tool_calls", std::move(calls));
      }
      message.Set("annotations", CandidateAnnotations(cand, parts.text, parts.part_offsets));
      std::string_view finish = MapFinishReason(cand.GetString("finishReason"), !parts.calls.empty());
      if (finish.empty()) finish = parts.calls.empty() ? "stop" : "tool_calls";
      Value choice = Value::Object();
      choice.Set("index", Value::Int(cand.Find("index") ? IntMember(cand, "index") : static_cast<int64_t>(c)));
      choice.Set("message", std::move(message));
      choice.Set("logprobs", Value());
      choice.Set("finish_reason", Value::String(std::string(finish)));
      choices.Append(std::move(choice));
    }
  } else {
    // No candidates: the prompt itself was blocked (promptFeedback.blockReason).
    const Value* fb = resp.Find("promptFeedback");
    bool blocked = fb != nullptr && !fb->GetString("blockReason").empty();
    Value message = Value::Object();
    message.Set("role", Value::String("assistant"));
    message.Set("content", Value());
    message.Set("refusal", Value());
    message.Set("annotations", Value::Array());
    Value choice = Value::Object();
    choice.Set("index", Value::Int(0));
    choice.Set("message", std::move(message));
    choice.Set("logprobs", Value());
    choice.Set("finish_reason", Value::String(blocked ? "content_filter" : "stop"));
    choices.Append(std::move(choice));
  }
  Value out = Value::Object();
  out.Set("id", Value::String(StrCat("chatcmpl-", token)));
  out.Set("object", Value::String("chat.completion"));
  out.Set("created", Value::Int(Created(resp, ctx.now)));
  out.Set("model", Value::String(std::string(model.empty() ? ctx.model : model)));
  out.Set("choices", std::move(choices));
  const Value* um = resp.Find("usageMetadata");
  static const Value kEmpty = Value::Object();
  out.Set("usage", ConvertUsage(um && um->is_object() ? *um : kEmpty, usage));
  return out;
}

void StreamConverter::Emit(int64_t index, Value delta, std::string_view finish_reason, std::string* out) {
  Value choice = Value::Object();
  choice.Set("index", Value::Int(index));
  choice.Set("delta", std::move(delta));
  choice.Set("logprobs", Value());
  choice.Set("finish_reason", finish_reason.empty() ? Value() : Value::String(std::string(finish_reason)));
  Value choices = Value::Array();
  choices.Append(std::move(choice));
  Value chunk = Value::Object();
  chunk.Set("id", Value::String(id_));
  chunk.Set("object", Value::String("chat.completion.chunk"));
  chunk.Set("created", Value::Int(created_));
  chunk.Set("model", Value::String(model_));
  chunk.Set("choices", std::move(choices));
  out->append("data: ");
  json::SerializeTo(chunk, out);
  out->append("\n\n");
}

void StreamConverter::OnEvent(const Value& ev, std::string* out) {
  if (failed_) return;
  if (const Value* err = ev.Find("error"); err && err->is_object()) {
    // An error inside a 2xx stream: relay it as OpenAI relays errors in streams, then stop.
    int64_t code = IntMember(*err, "code");
    out->append("data: ");
    out->append(ConvertGoogleError(code > 0 ? static_cast<int>(code) : 500, json::Serialize(ev)));
    out->append("\n\n");
    failed_ = true;
    return;
  }
  if (!started_) {
    token_ = ResponseToken(ev, token_);
    id_ = StrCat("chatcmpl-", token_);
    created_ = Created(ev, now_);
    if (std::string_view mv = ev.GetString("modelVersion"); !mv.empty()) model_ = std::string(mv);
    started_ = true;
  }
  if (const Value* um = ev.Find("usageMetadata"); um && um->is_object()) usage_json_ = ConvertUsage(*um, &usage_);
  if (finished_ && pending_finish_.empty()) return;  // a blocked prompt: only late usage matters

  const Value* candidates = ev.Find("candidates");
  if (candidates == nullptr || !candidates->is_array() || candidates->size() == 0) {
    const Value* fb = ev.Find("promptFeedback");
    if (fb != nullptr && !fb->GetString("blockReason").empty()) {
      Value delta = Value::Object();
      delta.Set("role", Value::String("assistant"));
      Emit(0, std::move(delta), "content_filter", out);
      finished_ = true;
    }
    return;
  }
  for (size_t c = 0; c < candidates->size(); ++c) {
    const Value& cand = candidates->items()[c];
    int64_t index = cand.Find("index") ? IntMember(cand, "index") : static_cast<int64_t>(c);
    CandidateParts parts = CollectParts(cand);
    Value delta = Value::Object();
    if (!role_sent_) delta.Set("role", Value::String("assistant"));
    if (!parts.text.empty()) delta.Set("content", Value::String(parts.text));
    if (!parts.reasoning.empty()) delta.Set("reasoning_content", Value::String(parts.reasoning));
    if (!parts.calls.empty()) {
      // A Gemini function call arrives whole: one delta carries id, name and all arguments.
      Value calls = Value::Array();
      for (const Value* p : parts.calls) calls.Append(ToolCallJson(*p, tool_calls_++, token_, true));
      delta.Set("tool_calls", std::move(calls));
      saw_function_call_ = true;
    }
    // Grounding and citations ride on the delta of the event that brings them. In a stream
    // their offsets cover the whole answer so far, not the parts of this one event.
    text_.append(parts.text);
    bool annotated = false;
    if (cand.Find("groundingMetadata") != nullptr || cand.Find("citationMetadata") != nullptr) {
      Value all = CandidateAnnotations(cand, text_, {});
      Value fresh = Value::Array();
      for (Value& a : all.items()) {
        std::string key = json::Serialize(a);
        if (std::find(annotations_sent_.begin(), annotations_sent_.end(), key) != annotations_sent_.end()) continue;
        annotations_sent_.push_back(std::move(key));
        fresh.Append(std::move(a));
      }
      if (fresh.size() > 0) {
        delta.Set("annotations", std::move(fresh));
        annotated = true;
      }
    }
    std::string_view finish = MapFinishReason(cand.GetString("finishReason"), saw_function_call_);
    if (!parts.text.empty() || !parts.reasoning.empty() || !parts.calls.empty() || annotated) {
      Emit(index, std::move(delta), {}, out);
      role_sent_ = true;
    }
    bool already = std::any_of(pending_finish_.begin(), pending_finish_.end(),
                               [index](const auto& f) { return f.first == index; });
    if (!finish.empty() && !already) {
      pending_finish_.emplace_back(index, std::string(finish));
      finished_ = true;
    }
  }
}

void StreamConverter::EmitPendingFinish(std::string* out) {
  for (auto& [index, reason] : pending_finish_) {
    Value empty = Value::Object();
    if (!role_sent_) empty.Set("role", Value::String("assistant"));
    role_sent_ = true;
    Emit(index, std::move(empty), reason, out);
  }
  pending_finish_.clear();
}

absl::Status StreamConverter::Finish(std::string* out) {
  if (failed_) return absl::OkStatus();
  if (!finished_) return absl::InternalError("gemini stream ended before a finish reason");
  EmitPendingFinish(out);
  if (include_usage_) {
    static const Value kEmpty = Value::Object();
    Usage scratch;
    Value chunk = Value::Object();
    chunk.Set("id", Value::String(id_));
    chunk.Set("object", Value::String("chat.completion.chunk"));
    chunk.Set("created", Value::Int(created_));
    chunk.Set("model", Value::String(model_));
    chunk.Set("choices", Value::Array());
    chunk.Set("usage", usage_json_.is_null() ? ConvertUsage(kEmpty, &scratch) : usage_json_);
    out->append("data: ");
    json::SerializeTo(chunk, out);
    out->append("\n\n");
  }
  out->append("data: [DONE]\n\n");
  return absl::OkStatus();
}

std::string_view OpenAIErrorType(int status) {
  switch (status) {
    case 400: case 404: case 405: case 409: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 502: case 503: case 504: return "upstream_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string ConvertGoogleError(int status, std::string_view body) {
  std::string message;
  std::string code;
  auto parsed = json::Parse(body);
  const Value* root = parsed.ok() ? &*parsed : nullptr;
  // streamGenerateContent without alt=sse wraps errors in a one-element array.
  if (root != nullptr && root->is_array() && root->size() == 1) root = &root->items()[0];
  const Value* err = root ? root->Find("error") : nullptr;
  if (err != nullptr && err->is_object()) {
    message = std::string(err->GetString("message"));
    // OpenAI codes are snake_case strings: RESOURCE_EXHAUSTED -> resource_exhausted.
    for (char ch : err->GetString("status"))
      code.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
    if (message.empty()) message = json::Serialize(*err);
  } else {
    constexpr size_t kMaxEcho = 2048;  // enough to diagnose, bounded for HTML error pages
    std::string_view text = StripWhitespace(body);
    message = text.empty() ? StrCat("upstream returned HTTP ", status)
                           : ValidUtf8(Utf8Prefix(text, kMaxEcho));
  }
  return OpenAIErrorBody(message, OpenAIErrorType(status), code);
}

namespace {

// One OpenAI embedding object from a Vertex vector (`values`), numbers checked.
absl::StatusOr<Value> EmbeddingItem(const Value* values, size_t index, bool base64, std::string_view where) {
  if (values == nullptr || !values->is_array()) {
    return absl::InternalError(StrCat("gemini embeddings response: ", where, " has no values"));
  }
  for (const auto& v : values->items()) {
    if (!v.is_number()) return absl::InternalError(StrCat("gemini embeddings response: ", where, " holds a non-number"));
  }
  Value item = Value::Object();
  item.Set("object", Value::String("embedding"));
  item.Set("index", Value::Int(static_cast<int64_t>(index)));
  // number text kept verbatim, or OpenAI's base64 form
  item.Set("embedding", base64 ? Value::String(OpenAIEmbeddingBase64(*values)) : *values);
  return item;
}

Value EmbeddingList(Value data, std::string_view model, int64_t tokens, Usage* usage) {
  usage->input_tokens = tokens;
  usage->total_tokens = tokens;
  Value u = Value::Object();
  u.Set("prompt_tokens", Value::Int(tokens));
  u.Set("total_tokens", Value::Int(tokens));
  Value out = Value::Object();
  out.Set("object", Value::String("list"));
  out.Set("data", std::move(data));
  out.Set("model", Value::String(std::string(model)));
  out.Set("usage", std::move(u));
  return out;
}

}  // namespace

absl::StatusOr<Value> ConvertPredictResponse(const Value& resp, std::string_view model, bool base64,
                                             Usage* usage) {
  const Value* preds = resp.Find("predictions");
  if (preds == nullptr || !preds->is_array()) {
    return absl::InternalError("gemini embeddings response has no predictions array");
  }
  Value data = Value::Array();
  int64_t tokens = 0;
  for (size_t i = 0; i < preds->size(); ++i) {
    const Value* emb = preds->items()[i].Find("embeddings");
    ASSIGN_OR_RETURN(Value item, EmbeddingItem(emb ? emb->Find("values") : nullptr, i, base64,
                                               StrCat("predictions[", i, "]")));
    data.Append(std::move(item));
    if (const Value* stats = emb->Find("statistics"); stats && stats->is_object())
      tokens = AddTokens(tokens, IntMember(*stats, "token_count"));
  }
  return EmbeddingList(std::move(data), model, tokens, usage);
}

absl::StatusOr<Value> ConvertEmbedContentResponse(const Value& resp, std::string_view model, bool base64,
                                                  Usage* usage) {
  const Value* emb = resp.Find("embedding");
  if (emb == nullptr || !emb->is_object()) {
    return absl::InternalError("gemini embedContent response has no embedding object");
  }
  ASSIGN_OR_RETURN(Value item, EmbeddingItem(emb->Find("values"), 0, base64, "embedding"));
  Value data = Value::Array();
  data.Append(std::move(item));
  int64_t tokens = 0;
  if (const Value* meta = resp.Find("usageMetadata"); meta && meta->is_object())
    tokens = IntMember(*meta, "promptTokenCount");
  return EmbeddingList(std::move(data), model, tokens, usage);
}

}  // namespace sluice::translate::gemini_internal
