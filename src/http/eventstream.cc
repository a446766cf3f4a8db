#include "http/eventstream.h"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SLUICE_CRC32_PCLMUL 1
#endif

#include "common/strings.h"

namespace sluice::http {
namespace {

// CRC lives here rather than in crypto/ so http stays a leaf over common. Slice-by-8: table k
// maps a byte to its CRC contribution when k more zero bytes follow it, so the main loop folds
// 8 input bytes per step with 8 independent lookups (8 KiB of tables, built at compile time).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
constexpr CrcTables MakeCrcTables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < t.size(); ++k) {
    for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}
constexpr CrcTables kCrcTables = MakeCrcTables();

// Little-endian load, whatever the host order (compiles to one load on x86 and arm64).
inline uint32_t LoadLe32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

uint32_t Crc32Sliced(const unsigned char* p, size_t n, uint32_t crc) {  // crc not inverted
  const auto& t = kCrcTables;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = LoadLe32(p) ^ crc;
    uint32_t hi = LoadLe32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
  return crc;
}

#ifdef SLUICE_CRC32_PCLMUL
// Carry-less multiplication folding (Intel, "Fast CRC Computation for Generic Polynomials
// Using PCLMULQDQ Instruction", 2009; the bit-reflected constants for 0xEDB88320, as in
// Linux's crc32-pclmul and Chromium's zlib). Folds 64 bytes per step in four lanes, then
// Barrett-reduces to 32 bits. REQUIRES: n >= 64 and n % 16 == 0. `crc` not inverted.
#define SLUICE_PCLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

SLUICE_PCLMUL_TARGET inline __m128i Load128(const unsigned char* at) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
}

// x * k (both halves) + next: one 128-bit fold.
SLUICE_PCLMUL_TARGET inline __m128i Fold(__m128i x, __m128i k, __m128i next) {
  __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
  __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(hi, lo), next);
}

SLUICE_PCLMUL_TARGET uint32_t Crc32Pclmul(const unsigned char* p, size_t n, uint32_t crc) {
  const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);

  __m128i x1 = _mm_xor_si128(Load128(p), _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x2 = Load128(p + 16);
  __m128i x3 = Load128(p + 32);
  __m128i x4 = Load128(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x1 = Fold(x1, k1k2, Load128(p));
    x2 = Fold(x2, k1k2, Load128(p + 16));
    x3 = Fold(x3, k1k2, Load128(p + 32));
    x4 = Fold(x4, k1k2, Load128(p + 48));
  }
  x1 = Fold(x1, k3k4, x2);
  x1 = Fold(x1, k3k4, x3);
  x1 = Fold(x1, k3k4, x4);
  for (; n >= 16; p += 16, n -= 16) x1 = Fold(x1, k3k4, Load128(p));

  // 128 -> 64 bits.
  const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i x2b = _mm_clmulepi64_si128(x1, k3k4, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2b);
  x2b = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5k0, 0x00), x2b);
  // Barrett reduction to 32 bits.
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
  x2b = _mm_clmulepi64_si128(_mm_and_si128(x2b, mask32), poly, 0x00);
  x1 = _mm_xor_si128(x1, x2b);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

bool HavePclmul() {
  static const bool have = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return have;
}
#endif

constexpr size_t kPreludeBytes = 12;
constexpr size_t kOverheadBytes = 16;  // prelude + message CRC

uint32_t ReadU32(std::string_view d, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(d[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void AppendU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

// Size of a fixed-width value, or -1 for length-prefixed types, or -2 for unknown types.
int FixedSize(uint8_t type) {
  switch (static_cast<EventStreamHeaderType>(type)) {
    case EventStreamHeaderType::kBoolTrue:
    case EventStreamHeaderType::kBoolFalse: return 0;
    case EventStreamHeaderType::kByte: return 1;
    case EventStreamHeaderType::kShort: return 2;
    case EventStreamHeaderType::kInt: return 4;
    case EventStreamHeaderType::kLong:
    case EventStreamHeaderType::kTimestamp: return 8;
    case EventStreamHeaderType::kUuid: return 16;
    case EventStreamHeaderType::kBytes:
    case EventStreamHeaderType::kString: return -1;
  }
  return -2;
}

// Bedrock sends three headers per message (:event-type, :content-type, :message-type).
constexpr size_t kUsualHeaderCount = 4;

absl::Status ParseHeaders(std::string_view h, std::vector<EventStreamHeaderView>* out) {
  out->clear();
  if (out->capacity() < kUsualHeaderCount) out->reserve(kUsualHeaderCount);  // once per stream
  size_t i = 0;
  while (i < h.size()) {
    size_t name_len = static_cast<unsigned char>(h[i++]);
    if (name_len == 0 || h.size() - i < name_len + 1) {
      return absl::DataLossError("event-stream: malformed header name");
    }
    std::string_view name = h.substr(i, name_len);
    i += name_len;
    auto type = static_cast<uint8_t>(h[i++]);
    int fixed = FixedSize(type);
    if (fixed == -2) {
      return absl::DataLossError(StrCat("event-stream: header ", name, " has unknown type ", int{type}));
    }
    size_t len = static_cast<size_t>(fixed);
    if (fixed == -1) {
      if (h.size() - i < 2) return absl::DataLossError("event-stream: truncated header value length");
      len = (size_t{static_cast<unsigned char>(h[i])} << 8) | static_cast<unsigned char>(h[i + 1]);
      i += 2;
    }
    if (h.size() - i < len) {
      return absl::DataLossError(StrCat("event-stream: header ", name, " overruns the headers"));
    }
    out->push_back({name, static_cast<EventStreamHeaderType>(type), h.substr(i, len)});
    i += len;
  }
  return absl::OkStatus();
}

template <typename Header>
std::optional<std::string_view> FindStringHeader(const Header& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.type == EventStreamHeaderType::kString && h.name == name) return std::string_view(h.value);
  }
  return std::nullopt;
}

}  // namespace

uint32_t Crc32(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  crc = ~crc;
#ifdef SLUICE_CRC32_PCLMUL
  if (n >= 64 && HavePclmul()) {
    size_t bulk = n & ~size_t{15};
    crc = Crc32Pclmul(p, bulk, crc);
    p += bulk;
    n -= bulk;
  }
#endif
  return ~Crc32Sliced(p, n, crc);
}

namespace eventstream_internal {
uint32_t Crc32Portable(std::string_view data, uint32_t crc) {
  return ~Crc32Sliced(reinterpret_cast<const unsigned char*>(data.data()), data.size(), ~crc);
}
}  // namespace eventstream_internal

std::optional<std::string_view> EventStreamMessage::StringHeader(std::string_view name) const {
  return FindStringHeader(headers, name);
}

std::optional<std::string_view> EventStreamMessageView::StringHeader(std::string_view name) const {
  return FindStringHeader(headers, name);
}

bool EventStreamDecoder::CheckPrelude(std::string_view msg, uint32_t* total) {
  *total = ReadU32(msg, 0);
  uint32_t headers_len = ReadU32(msg, 4);
  if (Crc32(msg.substr(0, 8)) != ReadU32(msg, 8)) {
    error_ = absl::DataLossError("event-stream: prelude CRC mismatch");
    return false;
  }
  if (*total < kOverheadBytes || headers_len > *total - kOverheadBytes) {
    error_ = absl::DataLossError(StrCat("event-stream: bad lengths (total ", *total, ", headers ",
                                        headers_len, ")"));
    return false;
  }
  if (*total > max_message_bytes_) {
    error_ = absl::ResourceExhaustedError(
        StrCat("event-stream: message of ", *total, " bytes exceeds the limit of ", max_message_bytes_));
    return false;
  }
  return true;
}

bool EventStreamDecoder::Deliver(std::string_view msg, MessageFn on_message) {
  const size_t total = msg.size();
  const uint32_t headers_len = ReadU32(msg, 4);
  // The message CRC covers the prelude too: continue from the prelude's (checked) CRC.
  if (Crc32(msg.substr(8, total - 12), ReadU32(msg, 8)) != ReadU32(msg, total - 4)) {
    error_ = absl::DataLossError("event-stream: message CRC mismatch");
    return false;
  }
  if (absl::Status st = ParseHeaders(msg.substr(kPreludeBytes, headers_len), &headers_); !st.ok()) {
    error_ = std::move(st);
    return false;
  }
  if (callback_error_.ok()) {
    callback_error_ = on_message(EventStreamMessageView{
        headers_, msg.substr(kPreludeBytes + headers_len, total - kOverheadBytes - headers_len)});
  }
  return true;
}

size_t EventStreamDecoder::DecodeFrom(std::string_view data, MessageFn on_message) {
  size_t pos = 0;
  while (data.size() - pos >= kPreludeBytes) {
    std::string_view msg = data.substr(pos);
    // Check the prelude as soon as it is here, so a corrupt length never makes us wait for
    // (or buffer) bytes that will not come.
    uint32_t total = 0;
    if (!CheckPrelude(msg, &total)) return pos;
    if (msg.size() < total) break;
    if (!Deliver(msg.substr(0, total), on_message)) return pos;
    pos += total;
  }
  return pos;
}

absl::Status EventStreamDecoder::Feed(std::string_view chunk, MessageFn on_message) {
  if (!error_.ok()) return error_;
  std::string_view rest = chunk;
  if (!buffer_.empty()) {
    // A message began in an earlier chunk: complete it from the front of this one, copying
    // only its own bytes, then decode the rest straight from the chunk.
    if (buffer_.size() < kPreludeBytes) {
      size_t n = std::min(kPreludeBytes - buffer_.size(), rest.size());
      buffer_.append(rest.substr(0, n));
      rest.remove_prefix(n);
      if (buffer_.size() < kPreludeBytes) return absl::OkStatus();
      uint32_t total = 0;
      if (!CheckPrelude(buffer_, &total)) {
        buffer_.clear();
        return error_;
      }
    }
    // The prelude is checked, so the length can be trusted (and the message is incomplete).
    const size_t total = ReadU32(buffer_, 0);
    size_t n = std::min(total - buffer_.size(), rest.size());
    buffer_.append(rest.substr(0, n));
    rest.remove_prefix(n);
    if (buffer_.size() < total) return absl::OkStatus();
    bool delivered = Deliver(buffer_, on_message);
    buffer_.clear();
    if (!delivered) return error_;  // the first message of this call: no callback error yet
  }
  // Common case: decode straight from the chunk and keep only an incomplete tail.
  size_t used = DecodeFrom(rest, on_message);
  if (error_.ok()) buffer_.assign(rest.substr(used));
  else buffer_.clear();
  if (!callback_error_.ok()) return std::exchange(callback_error_, absl::OkStatus());
  return error_;
}

absl::Status EventStreamDecoder::Feed(std::string_view chunk, std::vector<EventStreamMessage>* out) {
  return Feed(chunk, [out](const EventStreamMessageView& m) {
    EventStreamMessage& copy = out->emplace_back();
    copy.headers.reserve(m.headers.size());
    for (const EventStreamHeaderView& h : m.headers) {
      copy.headers.push_back({std::string(h.name), h.type, std::string(h.value)});
    }
    copy.payload.assign(m.payload);
    return absl::OkStatus();
  });
}

std::string EncodeEventStreamMessage(const std::vector<EventStreamHeader>& headers,
                                     std::string_view payload) {
  std::string h;
  for (const auto& hdr : headers) {
    h.push_back(static_cast<char>(hdr.name.size()));
    h.append(hdr.name);
    h.push_back(static_cast<char>(hdr.type));
    if (FixedSize(static_cast<uint8_t>(hdr.type)) == -1) {
      h.push_back(static_cast<char>(hdr.value.size() >> 8));
      h.push_back(static_cast<char>(hdr.value.size()));
    }
    h.append(hdr.value);
  }
  uint32_t total = static_cast<uint32_t>(kOverheadBytes + h.size() + payload.size());
  std::string out;
  out.reserve(total);
  AppendU32(&out, total);
  AppendU32(&out, static_cast<uint32_t>(h.size()));
  AppendU32(&out, Crc32(out));
  out.append(h);
  out.append(payload);
  AppendU32(&out, Crc32(out));
  return out;
}

}  // namespace sluice::http
