#include "translate/translator.h"

#include <cstring>
#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace sluice::translate {

std::string_view EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kChatCompletions: return "chat/completions";
    case Endpoint::kCompletions: return "completions";
    case Endpoint::kEmbeddings: return "embeddings";
    case Endpoint::kMessages: return "messages";
    case Endpoint::kCountTokens: return "messages/count_tokens";
  }
  return "?";
}

absl::Status Registry::Register(std::unique_ptr<TranslatorFactory>&& f) {
  auto key = std::make_tuple(static_cast<int>(f->endpoint()), static_cast<int>(f->from()),
                             static_cast<int>(f->to()));
  if (factories_.count(key)) {
    return absl::AlreadyExistsError(StrCat("translator for ", EndpointName(f->endpoint()), " to ",
                                           config::SchemaName(f->to()), " already registered"));
  }
  factories_[key] = std::move(f);
  return absl::OkStatus();
}

const TranslatorFactory* Registry::Find(Endpoint e, Dialect from, config::ApiSchema to) const {
  auto it = factories_.find(
      std::make_tuple(static_cast<int>(e), static_cast<int>(from), static_cast<int>(to)));
  return it == factories_.end() ? nullptr : it->second.get();
}

namespace {
constexpr absl::string_view kFieldPayload = "sluice.dev/invalid-field";
}  // namespace

absl::Status InvalidField(std::string_view field, std::string_view what) {
  absl::Status s = absl::InvalidArgumentError(StrCat(field, ": ", what));
  s.SetPayload(kFieldPayload, absl::Cord(std::string(field)));
  return s;
}

std::string InvalidFieldOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) return {};
  auto field = status.GetPayload(kFieldPayload);
  return field ? std::string(*field) : std::string();
}

std::string OpenAIEmbeddingBase64(const json::Value& numbers) {
  std::string bytes;
  bytes.reserve(numbers.items().size() * 4);
  for (const json::Value& x : numbers.items()) {
    float f = static_cast<float>(x.as_double());
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>(bits >> (8 * b)));
  }
  return crypto::Base64Encode(bytes);
}

std::string OpenAIErrorBody(std::string_view message, std::string_view type, std::string_view code,
                            std::string_view param) {
  json::Value err = json::Value::Object();
  err.Set("message", json::Value::String(std::string(message)));
  err.Set("type", json::Value::String(std::string(type)));
  err.Set("param", param.empty() ? json::Value() : json::Value::String(std::string(param)));
  err.Set("code", code.empty() ? json::Value() : json::Value::String(std::string(code)));
  json::Value root = json::Value::Object();
  root.Set("error", std::move(err));
  return json::Serialize(root);
}

void AppendOpenAIUsage(const Usage& u, std::string* out) {
  StrAppend(out, "{\"prompt_tokens\":", u.input_tokens, ",\"completion_tokens\":", u.output_tokens,
            ",\"total_tokens\":", u.total_tokens, ",\"prompt_tokens_details\":{\"cached_tokens\":",
            u.cached_input_tokens);
  if (u.cache_creation_input_tokens > 0) {
    StrAppend(out, ",\"cache_creation_input_tokens\":", u.cache_creation_input_tokens);
  }
  out->append("}}");
}

void AppendOpenAIToolCall(std::string_view id, std::string_view name, std::string_view arguments, std::string* out) {
  out->append("{\"id\":");
  json::AppendQuoted(out, id);
  out->append(",\"type\":\"function\",\"function\":{\"name\":");
  json::AppendQuoted(out, name);
  out->append(",\"arguments\":");
  json::AppendQuoted(out, arguments);
  out->append("}}");
}

void AppendOpenAIChatCompletion(const OpenAIChatCompletion& c, std::string* out) {
  out->reserve(out->size() + 256 + c.text.size() + c.reasoning.size() + c.thinking_blocks.size() +
               c.tool_calls.size());
  out->append("{\"id\":");
  json::AppendQuoted(out, c.id);
  StrAppend(out, ",\"object\":\"chat.completion\",\"created\":", c.created, ",\"model\":");
  json::AppendQuoted(out, c.model);
  out->append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  if (c.text.empty() && !c.tool_calls.empty()) out->append("null");
  else json::AppendQuoted(out, c.text);
  out->append(",\"refusal\":null,\"annotations\":[]");  // as OpenAI's own answers carry them
  if (!c.reasoning.empty()) {
    out->append(",\"reasoning_content\":");
    json::AppendQuoted(out, c.reasoning);
  }
  if (!c.thinking_blocks.empty()) StrAppend(out, ",\"thinking_blocks\":[", c.thinking_blocks, "]");
  if (!c.tool_calls.empty()) StrAppend(out, ",\"tool_calls\":[", c.tool_calls, "]");
  out->append("},\"logprobs\":null,\"finish_reason\":");
  json::AppendQuoted(out, c.finish_reason);
  out->append("}],\"usage\":");
  static const Usage kNone;
  AppendOpenAIUsage(c.usage ? *c.usage : kNone, out);
  out->push_back('}');
}

void AppendOpenAIChunkStart(std::string_view id, int64_t created, std::string_view model, std::string* out) {
  struct Prefix {
    std::string id, model, text;
    int64_t created = 0;
    bool valid = false;
  };
  thread_local Prefix cached;
  if (!cached.valid || cached.created != created || cached.id != id || cached.model != model) {
    cached.id.assign(id);
    cached.model.assign(model);
    cached.created = created;
    cached.valid = true;
    std::string& t = cached.text;
    t.assign("data: {\"id\":");
    json::AppendQuoted(&t, id);
    StrAppend(&t, ",\"object\":\"chat.completion.chunk\",\"created\":", created, ",\"model\":");
    json::AppendQuoted(&t, model);
    t.append(",\"choices\":[{\"index\":0,\"delta\":");
  }
  out->append(cached.text);
}

void AppendOpenAIUsageChunk(std::string_view id, int64_t created, std::string_view model, const Usage& u,
                            std::string* out) {
  out->append("data: {\"id\":");
  json::AppendQuoted(out, id);
  StrAppend(out, ",\"object\":\"chat.completion.chunk\",\"created\":", created, ",\"model\":");
  json::AppendQuoted(out, model);
  out->append(",\"choices\":[],\"usage\":");
  AppendOpenAIUsage(u, out);
  out->append("}\n\n");
}

std::string OpenAIStreamError(std::string_view message) {
  return StrCat("data: ", OpenAIErrorBody(message, "upstream_error", "upstream_stream_error"), "\n\n");
}

std::string_view OpenAIErrorType(int status) {
  switch (status) {
    case 400: case 404: case 405: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 502: case 503: case 504: return "upstream_error";
    default: return "server_error";
  }
}

std::string_view AnthropicErrorType(int status) {
  switch (status) {
    case 400: case 405: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return "api_error";
  }
}

namespace {
constexpr char kProviderErrorPayload[] = "type.sluice.dev/provider-error";  // "STATUS NAME"
}  // namespace

absl::Status ProviderStreamFailure(int status, std::string_view name, std::string_view message) {
  absl::Status st = absl::UnavailableError(absl::string_view(message.data(), message.size()));
  st.SetPayload(kProviderErrorPayload, absl::Cord(StrCat(status, " ", name)));
  return st;
}

std::optional<ProviderError> ProviderStreamErrorOf(const absl::Status& st) {
  absl::optional<absl::Cord> payload = st.GetPayload(kProviderErrorPayload);
  if (!payload) return std::nullopt;
  std::string text(*payload);
  ProviderError e;
  size_t space = text.find(' ');
  if (space == std::string::npos || !absl::SimpleAtoi(text.substr(0, space), &e.status)) return std::nullopt;
  e.name = text.substr(space + 1);
  return e;
}

int64_t AddTokens(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

int64_t SubTokens(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

std::string_view Utf8Prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  // s[n] is the first byte left out: while it continues a sequence (10xxxxxx), the cut is
  // inside that sequence; a sequence has at most 3 continuation bytes.
  for (int i = 0; i < 3 && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80; ++i) --n;
  return s.substr(0, n);
}

std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {  // no overlong forms, surrogates or code points past U+10FFFF
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the one byte that cannot start a character
      ++i;
    }
  }
  return out;
}

std::string StreamErrorFor(Translator& t, const absl::Status& st, std::string_view message) {
  // The message can quote a provider's words (an exception's name and text): the client's
  // error event must be valid UTF-8 whatever those bytes were.
  const std::string text = ValidUtf8(message);
  if (auto provider = ProviderStreamErrorOf(st)) {
    provider->name = ValidUtf8(provider->name);
    return t.ProviderStreamError(text, *provider);
  }
  return t.StreamError(text);
}

std::string OpenAIProviderStreamError(std::string_view message, const ProviderError& e) {
  return StrCat("data: ", OpenAIErrorBody(message, OpenAIErrorType(e.status), e.name), "\n\n");
}

void AppendOpenAITextChunk(std::string_view id, int64_t created, std::string_view model, bool with_role,
                           std::string_view field, std::string_view text, std::string* out) {
  AppendOpenAIChunkStart(id, created, model, out);
  out->append(with_role ? R"({"role":"assistant",)" : "{");
  json::AppendQuoted(out, field);
  out->push_back(':');
  json::AppendQuoted(out, text);
  out->push_back('}');
  AppendOpenAIChunkEnd({}, out);
}

void AppendOpenAIArgumentsChunk(std::string_view id, int64_t created, std::string_view model, bool with_role,
                                int64_t tool_index, std::string_view fragment, std::string* out) {
  AppendOpenAIChunkStart(id, created, model, out);
  out->append(with_role ? R"({"role":"assistant",)" : "{");
  StrAppend(out, R"("tool_calls":[{"index":)", tool_index, R"(,"function":{"arguments":)");
  json::AppendQuoted(out, fragment);
  out->append("}}]}");
  AppendOpenAIChunkEnd({}, out);
}

bool ReadOpenAIUsage(const json::Value* u, Usage* out) {
  if (u == nullptr || !u->is_object()) return false;
  auto num = [](const json::Value* obj, std::string_view k) -> int64_t {
    const json::Value* v = obj != nullptr ? obj->Find(k) : nullptr;
    return v != nullptr && v->is_number() ? v->as_int() : 0;
  };
  const json::Value* details = u->Find("prompt_tokens_details");
  out->input_tokens = num(u, "prompt_tokens");
  out->output_tokens = num(u, "completion_tokens");
  out->total_tokens = num(u, "total_tokens");
  if (out->total_tokens == 0) out->total_tokens = AddTokens(out->input_tokens, out->output_tokens);
  out->cached_input_tokens = num(details, "cached_tokens");
  out->cache_creation_input_tokens = num(details, "cache_creation_input_tokens");
  out->reasoning_tokens = num(u->Find("completion_tokens_details"), "reasoning_tokens");
  return true;
}

absl::StatusOr<bool> AskForStreamUsage(const ClientRequest& req, UpstreamRequest* up) {
  if (!req.want_usage || !req.stream || req.endpoint != Endpoint::kChatCompletions) return false;
  auto with_usage = WithStreamUsage(up->body ? std::string_view(*up->body) : req.raw_body);
  if (!with_usage.ok()) return with_usage.status();
  if (!*with_usage) return false;
  up->body = std::move(**with_usage);
  return true;
}

absl::StatusOr<std::optional<std::string>> WithStreamUsage(std::string_view body) {
  auto members = json::ScanObject(body);
  if (!members.ok()) return members.status();
  // The last stream_options counts, as for most JSON readers (upstreams included).
  for (auto it = members->rbegin(); it != members->rend(); ++it) {
    const json::TopLevelMember& m = *it;
    if (m.key != "stream_options") continue;
    std::string_view raw = body.substr(m.value_begin, m.value_end - m.value_begin);
    auto opts = json::Parse(raw);
    if (!opts.ok()) return opts.status();
    if (opts->is_object()) {
      if (const json::Value* v = opts->Find("include_usage"); v != nullptr && v->is_bool() && v->as_bool()) {
        return std::optional<std::string>();
      }
    } else {
      *opts = json::Value::Object();  // null: as if absent
    }
    opts->Set("include_usage", json::Value::Bool(true));
    return std::optional<std::string>(
        StrCat(body.substr(0, m.value_begin), json::Serialize(*opts), body.substr(m.value_end)));
  }
  // Absent: appended as the last member (ScanObject accepted an object, so it ends in '}').
  size_t close = body.rfind('}');
  std::string_view head = body.substr(0, close);
  return std::optional<std::string>(
      StrCat(head, members->empty() ? "" : ",", R"("stream_options":{"include_usage":true}})"));
}

absl::Status UsageChunkHider::Feed(std::string_view chunk, bool end_of_stream, std::string* out) {
  pending_.append(chunk);
  // (at_line_start_, prev_cr_) describe the position scanned_ of pending_; dropping a prefix
  // that ends at or before it leaves them true.
  size_t begin = 0;  // where the event being scanned starts
  size_t i = scanned_;
  for (; i < pending_.size(); ++i) {
    const char c = pending_[i];
    if (c == '\n' && prev_cr_) {  // the LF of a CRLF, counted at its CR
      prev_cr_ = false;
      continue;
    }
    // A blank line's CR as the last byte: its LF may follow; decide with the next bytes.
    if (c == '\r' && at_line_start_ && i + 1 == pending_.size() && !end_of_stream) break;
    prev_cr_ = c == '\r';
    if (c != '\r' && c != '\n') {
      at_line_start_ = false;
      continue;
    }
    if (at_line_start_) {  // a blank line ends the event, with its LF if it is a CRLF
      size_t end = i + 1;
      if (c == '\r' && end < pending_.size() && pending_[end] == '\n') {
        ++end;
        ++i;
        prev_cr_ = false;
      }
      OnEvent(std::string_view(pending_).substr(begin, end - begin), out);
      begin = end;
    }
    at_line_start_ = true;
  }
  pending_.erase(0, begin);
  scanned_ = i - begin;
  if (pending_.size() > kMaxEventBytes) return absl::ResourceExhaustedError("server-sent event exceeds the size limit");
  if (end_of_stream && !pending_.empty()) {
    // A last event without its blank line still counts (the upstream closed after it).
    OnEvent(pending_, out);
    pending_.clear();
    scanned_ = 0;
  }
  return absl::OkStatus();
}

void UsageChunkHider::OnEvent(std::string_view raw, std::string* out) {
  if (raw.find("\"usage\"") != std::string_view::npos) {
    // The event's data: its "data:" lines joined with '\n' (one line from OpenAI).
    std::string data;
    size_t pos = 0;
    while (pos < raw.size()) {
      size_t eol = raw.find_first_of("\r\n", pos);
      std::string_view line = raw.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
      if (line.substr(0, 5) == "data:") {
        std::string_view v = line.substr(5);
        if (!v.empty() && v[0] == ' ') v.remove_prefix(1);
        if (!data.empty()) data.push_back('\n');
        data.append(v);
      }
      if (eol == std::string_view::npos) break;
      pos = eol + 1;
    }
    auto doc = json::Parse(data);
    if (doc.ok() && doc->is_object()) {
      const json::Value* choices = doc->Find("choices");
      if (model_.empty()) model_ = std::string(doc->GetString("model"));
      if (ReadOpenAIUsage(doc->Find("usage"), &usage_) && choices != nullptr && choices->is_array() &&
          choices->size() == 0) {
        return;  // the chunk the client did not ask for
      }
    }
  }
  out->append(raw);
}

void AppendAnthropicDeltaEvent(int64_t index, std::string_view type, std::string_view field, std::string_view value,
                               std::string* out) {
  StrAppend(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":", index,
            ",\"delta\":{\"type\":");
  json::AppendQuoted(out, type);
  out->push_back(',');
  json::AppendQuoted(out, field);
  out->push_back(':');
  json::AppendQuoted(out, value);
  out->append("}}\n\n");
}

}  // namespace sluice::translate
