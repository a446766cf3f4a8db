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
#include <string>
#include <string_view>
#include <vector>

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

// Not thread-safe; one per stream. Memory is bounded by one message (max_message_bytes).
class EventStreamDecoder {
 public:
  // AWS caps event-stream messages at 16 MiB of payload plus 128 KiB of headers.
  static constexpr size_t kDefaultMaxMessageBytes = (16u << 20) + (128u << 10) + 16;
  explicit EventStreamDecoder(size_t max_message_bytes = kDefaultMaxMessageBytes)
      : max_message_bytes_(max_message_bytes) {}

  // Appends every complete message in the bytes fed so far to `out`. Errors: DataLoss when a
  // CRC does not match or the framing is malformed, ResourceExhausted when a message declares
  // more than max_message_bytes. Messages before the bad one are still appended. After an
  // error the decoder is spent: every later call returns the same error.
  absl::Status Feed(std::string_view chunk, std::vector<EventStreamMessage>* out);

  // True when bytes of an incomplete message are buffered (at end of stream: truncation).
  bool HasPartial() const { return !buffer_.empty(); }

 private:
  // Decodes the messages at the front of `data`; returns how many bytes they used.
  size_t DecodeFrom(std::string_view data, std::vector<EventStreamMessage>* out);

  size_t max_message_bytes_;
  std::string buffer_;  // an incomplete message
  absl::Status error_;
};

// Serialises one message. REQUIRES: fixed-width header values have their type's size, names
// are 1..255 bytes, string/bytes values are at most 65535 bytes.
std::string EncodeEventStreamMessage(const std::vector<EventStreamHeader>& headers,
                                     std::string_view payload);

}  // namespace sluice::http
