// AWS event-stream framing (application/vnd.amazon.eventstream), used by Bedrock's
// ConverseStream and InvokeModelWithResponseStream: an incremental decoder that takes bytes
// split anywhere, and an encoder for tests and simulators.
//
// Wire format (all integers big-endian): total length (4), headers length (4), prelude CRC32
// of the first 8 bytes (4), headers, payload, message CRC32 of everything before it (4).
// Each header: name length (1), name, value type (1), value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace sluice::http {

// CRC-32 (IEEE 802.3 polynomial, as zlib's crc32): pass the previous result as `crc` to
// continue over more bytes.
uint32_t Crc32(std::string_view data, uint32_t crc = 0);

namespace eventstream_internal {
// Crc32 without the carry-less-multiply path (table lookups only), for tests on CPUs that
// would otherwise always take that path.
uint32_t Crc32Portable(std::string_view data, uint32_t crc = 0);
}  // namespace eventstream_internal

enum class EventStreamHeaderType : uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,
  kShort = 3,
  kInt = 4,
  kLong = 5,
  kBytes = 6,
  kString = 7,
  kTimestamp = 8,  // milliseconds since the epoch
  kUuid = 9,
};

struct EventStreamHeader {
  std::string name;
  EventStreamHeaderType type = EventStreamHeaderType::kString;
  // kString/kBytes: the bytes. Fixed-width types: their big-endian bytes (1, 2, 4, 8 or 16).
  // Booleans: empty (the type carries the value).
  std::string value;

  static EventStreamHeader String(std::string name, std::string value) {
    return {std::move(name), EventStreamHeaderType::kString, std::move(value)};
  }
};

struct EventStreamMessage {
  std::vector<EventStreamHeader> headers;
  std::string payload;

  // The value of the first string header called `name` (exact, case-sensitive match).
  std::optional<std::string_view> StringHeader(std::string_view name) const;
};

// Views of one decoded header and message. They point into the chunk being fed when the whole
// message lies in it, else into the decoder's buffer; valid only during the callback that
// receives them.
struct EventStreamHeaderView {
  std::string_view name;
  EventStreamHeaderType type = EventStreamHeaderType::kString;
  std::string_view value;  // as EventStreamHeader::value
};

struct EventStreamMessageView {
  std::span<const EventStreamHeaderView> headers;
  std::string_view payload;

  // The value of the first string header called `name` (exact, case-sensitive match).
  std::optional<std::string_view> StringHeader(std::string_view name) const;
};

// Not thread-safe; one per stream. Memory is bounded by one message (max_message_bytes).
class EventStreamDecoder {
 public:
  // Called once per complete, CRC-checked message, in stream order.
  using MessageFn = absl::FunctionRef<absl::Status(const EventStreamMessageView&)>;

  // AWS caps event-stream messages at 16 MiB of payload plus 128 KiB of headers.
  static constexpr size_t kDefaultMaxMessageBytes = (16u << 20) + (128u << 10) + 16;
  explicit EventStreamDecoder(size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  // Hands every complete message in the bytes fed so far to `on_message`. Errors: DataLoss
  // when a CRC does not match or the framing is malformed, ResourceExhausted when a message
  // declares more than max_message_bytes. Messages before the bad one are still handed out.
  // After such an error the decoder is spent: every later call returns the same error.
  // All of `chunk` is always consumed: once `on_message` returns an error it is not called
  // again for this chunk, the rest is still decoded (messages dropped, framing errors kept
  // for the next call), and that error is returned. A message that lies whole in `chunk` is
  // not copied; only one split across chunks is buffered. No allocation per message once the
  // buffers have grown to the largest split message and header count.
  absl::Status Feed(std::string_view chunk, MessageFn on_message);

  // As above, appending owning copies of the messages to `out` (for tests and cold paths).
  absl::Status Feed(std::string_view chunk, std::vector<EventStreamMessage>* out);

  // True when bytes of an incomplete message are buffered (at end of stream: truncation).
  bool HasPartial() const { return !buffer_.empty(); }

 private:
  // Checks the prelude at the front of `msg` (at least 12 bytes); sets error_ when bad.
  bool CheckPrelude(std::string_view msg, uint32_t* total);
  // Checks and hands out one whole message (exactly its declared length); sets error_ when
  // bad. Returns false on a framing error.
  bool Deliver(std::string_view msg, MessageFn on_message);
  // Decodes the messages at the front of `data`; returns how many bytes they used.
  size_t DecodeFrom(std::string_view data, MessageFn on_message);

  size_t max_message_bytes_;
  std::string buffer_;  // an incomplete message
  std::vector<EventStreamHeaderView> headers_;  // the current message's, reused
  absl::Status error_;
  absl::Status callback_error_;  // the first on_message error of the current Feed
};

// Serialises one message. REQUIRES: fixed-width header values have their type's size, names
// are 1..255 bytes, string/bytes values are at most 65535 bytes.
std::string EncodeEventStreamMessage(const std::vector<EventStreamHeader>& headers,
                                     std::string_view payload);

}  // namespace sluice::http
