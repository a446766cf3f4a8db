#include "extproc/usage_observer.h"

#include "common/strings.h"
#include "json/json.h"

namespace sluice::extproc {

void OpenAIUsageObserver::OnJson(std::string_view text) {
  // Cheap filter: only events that can carry what is still missing are parsed.
  bool want_model = model_.empty() && text.find("\"model\"") != std::string_view::npos;
  bool want_usage = text.find("\"usage\"") != std::string_view::npos;
  if (!want_model && !want_usage) return;
  // Scan the top level without building a tree (an answer's choices can be large); only the
  // usage object is parsed.
  auto members = json::ScanObject(text);
  if (!members.ok()) return;
  std::string_view usage_text;
  for (const json::TopLevelMember& m : *members) {
    std::string_view raw = text.substr(m.value_begin, m.value_end - m.value_begin);
    if (m.key == "model" && model_.empty() && !raw.empty() && raw[0] == '"') {
      if (auto model = json::DecodeStringToken(raw); model.ok()) model_ = std::move(*model);
    } else if (m.key == "usage") {
      if (usage_text.empty()) usage_text = raw;  // the first, as Value::Find finds it
    }
  }
  if (usage_text.empty() || usage_text[0] != '{') return;
  auto u = json::Parse(usage_text);
  if (!u.ok() || !u->is_object()) return;
  auto num = [](const json::Value* parent, std::string_view key) -> int64_t {
    const json::Value* v = parent ? parent->Find(key) : nullptr;
    return v != nullptr && v->is_number() ? v->as_int() : 0;
  };
  has_usage_ = true;
  usage_.input_tokens = num(&*u, "prompt_tokens");
  usage_.output_tokens = num(&*u, "completion_tokens");
  usage_.total_tokens = num(&*u, "total_tokens");
  usage_.cached_input_tokens = num(u->Find("prompt_tokens_details"), "cached_tokens");
  usage_.cache_creation_input_tokens = num(u->Find("prompt_tokens_details"), "cache_creation_tokens");
  usage_.reasoning_tokens = num(u->Find("completion_tokens_details"), "reasoning_tokens");
}

void OpenAIUsageObserver::Feed(std::string_view bytes, bool end_of_stream) {
  if (!streamed_) {
    if (end_of_stream && pending_.empty() && !overflow_) {
      // The whole body in one piece (BUFFERED): no copy.
      if (bytes.size() <= kMaxBodyBytes) OnJson(bytes);
      return;
    }
    if (!overflow_) {
      if (pending_.size() + bytes.size() > kMaxBodyBytes) {
        overflow_ = true;
        pending_.clear();
      } else {
        pending_.append(bytes);
      }
    }
    if (end_of_stream && !overflow_) OnJson(pending_);
    return;
  }
  pending_.append(bytes);
  size_t start = 0;
  while (true) {
    // Events end with a blank line ("\n\n"; "\r\n\r\n" also contains "\n\r\n", handled by
    // trimming each line).
    size_t end = pending_.find("\n\n", start);
    size_t crlf = pending_.find("\r\n\r\n", start);
    size_t sep = 2;
    if (crlf != std::string::npos && (end == std::string::npos || crlf < end)) end = crlf, sep = 4;
    if (end == std::string::npos) break;
    std::string_view event(pending_.data() + start, end - start);
    std::string data;
    size_t pos = 0;
    while (pos <= event.size()) {
      size_t nl = event.find('\n', pos);
      std::string_view line = event.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind("data:", 0) == 0) {
        line.remove_prefix(5);
        if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        if (!data.empty()) data.push_back('\n');
        data.append(line);
      }
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    if (!data.empty() && data != "[DONE]") OnJson(data);
    start = end + sep;
  }
  pending_.erase(0, start);
  if (pending_.size() > kMaxBodyBytes) pending_.clear();  // not SSE after all
  if (end_of_stream && !pending_.empty()) {
    pending_.append("\n\n");
    Feed({}, false);
    pending_.clear();
  }
}

}  // namespace sluice::extproc
