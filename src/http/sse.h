// Incremental Server-Sent Events parser (WHATWG "event stream" framing). Feed it bytes split
// anywhere; it yields complete events. Memory is bounded by the largest single event.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace sluice::http {

// One complete event, as views. They point into the chunk being fed when the whole event
// lies in it and its data is one line (what providers send), else into the parser's own
// buffers. Valid only during the callback that receives the event.
struct SseEventView {
  std::string_view event;  // "event:" field; empty when absent
  std::string_view data;   // "data:" lines joined with '\n'
  std::string_view id;
};

// An owning event, for callers that keep events past the callback (tests, cold paths).
struct SseEvent {
  std::string event;
  std::string data;
  std::string id;
};

// Not thread-safe; one per stream.
class SseParser {
 public:
  // Called once per complete event, in stream order. A non-OK return is Feed's result.
  using EventFn = absl::FunctionRef<absl::Status(const SseEventView&)>;

  // Limit on one buffered event, so a hostile upstream cannot grow memory without end.
  explicit SseParser(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

  // Hands each complete event in `chunk` to `on_event`. Handles \n, \r\n and \r line endings
  // (also split across chunks), comments (":...") and a BOM. All of `chunk` is always consumed:
  // once `on_event` returns an error it is not called again for this chunk, the rest is still
  // parsed (events dropped, so the parser's state is as if they had been handed out), and that
  // error is returned. Otherwise ResourceExhausted when the event being buffered exceeds the
  // limit (the events before it were handed out). No allocation per event once the internal
  // buffers have grown to the largest split or multi-line event.
  absl::Status Feed(std::string_view chunk, EventFn on_event);

  // As above, appending owning copies of the events to `out` (for tests and cold paths).
  absl::Status Feed(std::string_view chunk, std::vector<SseEvent>* out);

  // At end of stream: true when a partial event (bytes after the last blank line) remains.
  bool HasPartial() const { return !line_.empty() || has_fields_ || !bom_held_.empty(); }

 private:
  // A field of the event being built: `view` points into the chunk being fed or into `buf`.
  struct Field {
    std::string_view view;
    std::string buf;
    bool owned = false;  // view points into buf

    void Set(std::string_view v, bool stable) {
      if (stable) {
        view = v;
        owned = false;
      } else {
        buf.assign(v);
        view = buf;
        owned = true;
      }
    }
    // Before the chunk `view` may point into goes away.
    void Own() {
      if (owned || view.empty()) return;
      buf.assign(view);
      view = buf;
      owned = true;
    }
    void Clear() {
      view = {};
      owned = false;
    }
  };

  // `stable`: `line` points into the chunk (valid until Feed returns), not into line_.
  void Line(std::string_view line, bool stable, EventFn on_event);

  size_t max_event_bytes_;
  std::string line_;      // current incomplete line
  bool last_cr_ = false;  // previous chunk ended in '\r'
  bool bom_checked_ = false;
  std::string bom_held_;  // the stream's first bytes while they may still be a split BOM
  Field event_, data_, id_;
  bool has_fields_ = false;
  bool has_fields_data_ = false;  // a data line was seen (data may be empty)
  size_t event_bytes_ = 0;
  absl::Status callback_error_;  // the first on_event error of the current Feed
};

// Serialises one event: "event: X\n" (if set) + "data: ...\n" per line + "\n".
std::string FormatSse(std::string_view event, std::string_view data);

}  // namespace sluice::http
