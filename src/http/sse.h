// Incremental Server-Sent Events parser (WHATWG "event stream" framing). Feed it bytes split
// anywhere; it yields complete events. Memory is bounded by the largest single event.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace sluice::http {

struct SseEvent {
  std::string event;  // "event:" field; empty when absent
  std::string data;   // "data:" lines joined with '\n'
  std::string id;
};

class SseParser {
 public:
  // Limit on one buffered event, so a hostile upstream cannot grow memory without end.
  explicit SseParser(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

  // Appends complete events found in `chunk` to `out`. ResourceExhausted when one event
  // exceeds the limit. Handles \n, \r\n and \r line endings, comments (":...") and a BOM.
  absl::Status Feed(std::string_view chunk, std::vector<SseEvent>* out);
  // At end of stream: true when a partial event (bytes after the last blank line) remains.
  bool HasPartial() const { return !line_.empty() || has_fields_; }

 private:
  void Line(std::string_view line, std::vector<SseEvent>* out);

  size_t max_event_bytes_;
  std::string line_;      // current incomplete line
  bool last_cr_ = false;  // previous chunk ended in '\r'
  bool bom_checked_ = false;
  SseEvent current_;
  bool has_fields_ = false;
  bool has_fields_data_ = false;  // a data line was seen (data may be empty)
  size_t event_bytes_ = 0;
};

// Serialises one event: "event: X\n" (if set) + "data: ...\n" per line + "\n".
std::string FormatSse(std::string_view event, std::string_view data);

}  // namespace sluice::http
