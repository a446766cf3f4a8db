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
  has_usage_ = translate::ReadOpenAIUsage(&*u, &usage_);
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
