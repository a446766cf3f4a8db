#include "http/sse.h"

#include <cstring>
#include <utility>

namespace sluice::http {

absl::Status SseParser::Feed(std::string_view chunk, EventFn on_event) {
  size_t i = 0;
  if (!bom_checked_) {
    // A UTF-8 BOM may open the stream, and arrive split: the first bytes are held while they
    // can still be one, so the events do not depend on where the chunks were cut.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    const size_t need = kBom.size() - bom_held_.size();
    const std::string_view head = chunk.substr(0, need);
    if (kBom.substr(bom_held_.size(), head.size()) == head) {
      if (head.size() < need) {
        bom_held_.append(head);
        return absl::OkStatus();
      }
      bom_checked_ = true;
      bom_held_.clear();
      i = need;  // the BOM is not data
    } else {
      bom_checked_ = true;
      if (!bom_held_.empty()) {  // not a BOM after all: the held bytes are data
        std::string held = std::exchange(bom_held_, std::string());
        absl::Status st = Feed(held, on_event);
        if (!st.ok()) return st;
      }
    }
  }
  if (last_cr_ && i < chunk.size()) {  // an empty chunk leaves a pending '\r' pending
    if (chunk[i] == '\n') ++i;          // "\r\n" split across chunks
    last_cr_ = false;
  }
  size_t start = i;
  const char* const data = chunk.data();
  // The next '\r' at or after i (chunk.size() when none), searched again only once passed: a
  // stream of '\n' endings (what providers send) costs one '\r' scan per chunk, not per line.
  size_t next_cr = 0;
  bool cr_searched = false;
  while (i < chunk.size()) {
    const void* nl = std::memchr(data + i, '\n', chunk.size() - i);
    size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - data) : chunk.size();
    if (!cr_searched || next_cr < i) {
      const void* cr = std::memchr(data + i, '\r', chunk.size() - i);
      next_cr = cr ? static_cast<size_t>(static_cast<const char*>(cr) - data) : chunk.size();
      cr_searched = true;
    }
    if (next_cr < end) end = next_cr;
    if (end == chunk.size()) break;
    i = end;
    char c = chunk[i];
    if (line_.empty()) {
      Line(chunk.substr(start, i - start), /*stable=*/true, on_event);
    } else {
      line_.append(chunk.substr(start, i - start));
      Line(line_, /*stable=*/false, on_event);
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
  if (has_fields_) {
    // The event goes on in the next chunk: keep what points into this one.
    event_.Own();
    data_.Own();
    id_.Own();
  }
  if (!callback_error_.ok()) return std::exchange(callback_error_, absl::OkStatus());
  if (line_.size() + event_bytes_ > max_event_bytes_) {
    return absl::ResourceExhaustedError("server-sent event exceeds the size limit");
  }
  return absl::OkStatus();
}

absl::Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>* out) {
  return Feed(chunk, [out](const SseEventView& ev) {
    out->push_back(SseEvent{std::string(ev.event), std::string(ev.data), std::string(ev.id)});
    return absl::OkStatus();
  });
}

void SseParser::Line(std::string_view line, bool stable, EventFn on_event) {
  if (line.empty()) {
    if (has_fields_ && callback_error_.ok()) {
      callback_error_ = on_event(SseEventView{event_.view, data_.view, id_.view});
    }
    event_.Clear();
    data_.Clear();
    id_.Clear();
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
    if (!has_fields_data_) {
      data_.Set(value, stable);
      has_fields_data_ = true;
    } else {
      // Several data lines: join them in the buffer (`value` never points into it).
      if (!data_.owned) data_.buf.assign(data_.view);
      data_.buf.push_back('\n');
      data_.buf.append(value);
      data_.view = data_.buf;
      data_.owned = true;
    }
  } else if (field == "event") {
    event_.Set(value, stable);
  } else if (field == "id") {
    id_.Set(value, stable);
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
