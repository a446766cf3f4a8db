#include "http/sse.h"

#include <cstring>

namespace sluice::http {

absl::Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>* out) {
  size_t i = 0;
  if (!bom_checked_ && !chunk.empty()) {
    // A UTF-8 BOM may open the stream; it can itself be split, so only check a whole one.
    if (line_.empty() && chunk.size() >= 3 && chunk.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    bom_checked_ = true;
  }
  if (last_cr_ && i < chunk.size() && chunk[i] == '\n') ++i;  // "\r\n" split across chunks
  last_cr_ = false;
  size_t start = i;
  const char* const data = chunk.data();
  while (i < chunk.size()) {
    // The next line end: memchr for '\n' (what providers send), then '\r' only before it.
    const void* nl = std::memchr(data + i, '\n', chunk.size() - i);
    size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - data) : chunk.size();
    if (const void* cr = std::memchr(data + i, '\r', end - i)) end = static_cast<size_t>(static_cast<const char*>(cr) - data);
    if (end == chunk.size()) break;
    i = end;
    char c = chunk[i];
    if (line_.empty()) {
      Line(chunk.substr(start, i - start), out);
    } else {
      line_.append(chunk.substr(start, i - start));
      Line(line_, out);
      line_.clear();
    }
    if (c == '\r') {
      if (i + 1 < chunk.size()) {
        if (chunk[i + 1] == '\n') ++i;
      } else {
        last_cr_ = true;
      }
    }
    start = ++i;
  }
  line_.append(chunk.substr(start));
  if (line_.size() + event_bytes_ > max_event_bytes_) {
    return absl::ResourceExhaustedError("server-sent event exceeds the size limit");
  }
  return absl::OkStatus();
}

void SseParser::Line(std::string_view line, std::vector<SseEvent>* out) {
  if (line.empty()) {
    if (has_fields_) out->push_back(std::move(current_));
    current_ = SseEvent();
    has_fields_ = false;
    has_fields_data_ = false;
    event_bytes_ = 0;
    return;
  }
  if (line[0] == ':') return;  // comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  event_bytes_ += line.size();
  if (field == "data") {
    if (has_fields_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_fields_data_ = true;
  } else if (field == "event") {
    current_.event = std::string(value);
  } else if (field == "id") {
    current_.id = std::string(value);
  } else {
    return;  // retry and unknown fields are ignored
  }
  has_fields_ = true;
}

std::string FormatSse(std::string_view event, std::string_view data) {
  std::string out;
  out.reserve(data.size() + event.size() + 16);
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  size_t start = 0;
  while (true) {
    size_t nl = data.find('\n', start);
    out.append("data: ").append(data.substr(start, nl - start)).append("\n");
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out.append("\n");
  return out;
}

}  // namespace sluice::http
