#include "http/eventstream.h"

#include <algorithm>
#include <utility>

#include "gtest/gtest.h"

namespace sluice::http {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

std::vector<EventStreamHeader> StopHeaders() {
  return {EventStreamHeader::String(":event-type", "messageStop"),
          EventStreamHeader::String(":content-type", "application/json"),
          EventStreamHeader::String(":message-type", "event")};
}

TEST(Crc32Test, CheckValue) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("6789", Crc32("12345")), 0xCBF43926u);  // continues across calls
}

// The plain bit-at-a-time definition, to check the sliced implementation against.
uint32_t ReferenceCrc32(std::string_view data, uint32_t crc = 0) {
  crc = ~crc;
  for (char ch : data) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
  }
  return ~crc;
}

// Values from Python's zlib.crc32; 16 KiB against the reference.
TEST(Crc32Test, KnownVectors) {
  EXPECT_EQ(Crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  EXPECT_EQ(Crc32(std::string(32, '\0')), 0x190A55ADu);
  EXPECT_EQ(Crc32(std::string(32, '\xff')), 0xFF6CAB0Bu);
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32(all), 0x29058C73u);
  std::string big;
  for (int i = 0; i < 64; ++i) big += all;
  EXPECT_EQ(Crc32(big), ReferenceCrc32(big));
}

// Lengths 0..300 cover the table-only path (< 64 bytes) and, where the CPU has PCLMULQDQ, the
// folding path with every mix of 64-byte steps, 16-byte steps and a table tail.
TEST(Crc32Test, MatchesReferenceAtEveryLengthAndAlignment) {
  std::string buf;
  uint32_t x = 12345;
  for (int i = 0; i < 320; ++i) {
    x = x * 1103515245u + 12345u;
    buf.push_back(static_cast<char>(x >> 16));
  }
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len <= 300; ++len) {
      std::string_view d = std::string_view(buf).substr(offset, len);
      uint32_t want = ReferenceCrc32(d);
      ASSERT_EQ(Crc32(d), want) << "offset " << offset << " length " << len;
      ASSERT_EQ(eventstream_internal::Crc32Portable(d), want) << "offset " << offset << " length " << len;
      ASSERT_EQ(Crc32(d, 0xDEADBEEFu), ReferenceCrc32(d, 0xDEADBEEFu)) << "offset " << offset << " length " << len;
      for (size_t split = 0; split <= len; ++split) {
        ASSERT_EQ(Crc32(d.substr(split), Crc32(d.substr(0, split))), want)
            << "offset " << offset << " length " << len << " split " << split;
      }
    }
  }
}

// Vectors from shared/reference/provider-apis.md §3.3.
TEST(EventStreamTest, EncodesPublishedVectorNoHeaders) {
  std::string m = EncodeEventStreamMessage({}, R"({"foo": "bar"})");
  ASSERT_EQ(m.size(), 30u);
  EXPECT_EQ(m.substr(0, 12), Bytes({0, 0, 0, 0x1e, 0, 0, 0, 0, 0xba, 0xf2, 0xf6, 0x8a}));
  EXPECT_EQ(m.substr(12, 14), R"({"foo": "bar"})");
  EXPECT_EQ(m.substr(26), Bytes({0xae, 0x72, 0x58, 0xe4}));
}

TEST(EventStreamTest, EncodesPublishedVectorWithHeaders) {
  std::string m = EncodeEventStreamMessage(StopHeaders(), R"({"stopReason":"end_turn"})");
  ASSERT_EQ(m.size(), 122u);
  EXPECT_EQ(m.substr(0, 12), Bytes({0, 0, 0, 0x7a, 0, 0, 0, 0x51, 0xca, 0x2c, 0x46, 0x65}));
  EXPECT_EQ(m.substr(118), Bytes({0x5f, 0xbf, 0x09, 0xfc}));
}

TEST(EventStreamTest, DecodesSplitAtEveryByte) {
  std::string stream = EncodeEventStreamMessage({}, R"({"foo": "bar"})") +
                       EncodeEventStreamMessage(StopHeaders(), R"({"stopReason":"end_turn"})") +
                       EncodeEventStreamMessage({EventStreamHeader::String(":message-type", "event")}, "");
  for (size_t a = 0; a <= stream.size(); ++a) {
    for (size_t b = a; b <= stream.size(); b += 7) {
      EventStreamDecoder d;
      std::vector<EventStreamMessage> out;
      ASSERT_TRUE(d.Feed(stream.substr(0, a), &out).ok());
      ASSERT_TRUE(d.Feed(stream.substr(a, b - a), &out).ok());
      ASSERT_TRUE(d.Feed(stream.substr(b), &out).ok());
      EXPECT_FALSE(d.HasPartial());
      ASSERT_EQ(out.size(), 3u) << a << "," << b;
      EXPECT_EQ(out[0].payload, R"({"foo": "bar"})");
      EXPECT_TRUE(out[0].headers.empty());
      EXPECT_EQ(out[1].StringHeader(":event-type"), "messageStop");
      EXPECT_EQ(out[1].StringHeader(":message-type"), "event");
      EXPECT_EQ(out[1].StringHeader(":missing"), std::nullopt);
      EXPECT_EQ(out[1].payload, R"({"stopReason":"end_turn"})");
      EXPECT_EQ(out[2].payload, "");
    }
  }
}

TEST(EventStreamTest, DecodesByteByByte) {
  std::string stream = EncodeEventStreamMessage(StopHeaders(), "x") + EncodeEventStreamMessage({}, "yz");
  EventStreamDecoder d;
  std::vector<EventStreamMessage> out;
  for (char c : stream) ASSERT_TRUE(d.Feed(std::string_view(&c, 1), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].payload, "yz");
}

TEST(EventStreamTest, EveryHeaderTypeRoundTrips) {
  using T = EventStreamHeaderType;
  std::vector<EventStreamHeader> hs = {
      {"t", T::kBoolTrue, ""},
      {"f", T::kBoolFalse, ""},
      {"b", T::kByte, Bytes({0x7f})},
      {"s", T::kShort, Bytes({1, 2})},
      {"i", T::kInt, Bytes({1, 2, 3, 4})},
      {"l", T::kLong, Bytes({1, 2, 3, 4, 5, 6, 7, 8})},
      {"bytes", T::kBytes, Bytes({0, 1, 0xff})},
      {"str", T::kString, "hello"},
      {"ts", T::kTimestamp, Bytes({0, 0, 1, 0x8b, 0, 0, 0, 0})},
      {"uuid", T::kUuid, std::string(16, '\x42')},
      {":event-type", T::kString, "chunk"},
  };
  std::string m = EncodeEventStreamMessage(hs, "payload");
  EventStreamDecoder d;
  std::vector<EventStreamMessage> out;
  ASSERT_TRUE(d.Feed(m, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].headers.size(), hs.size());
  for (size_t i = 0; i < hs.size(); ++i) {
    EXPECT_EQ(out[0].headers[i].name, hs[i].name);
    EXPECT_EQ(out[0].headers[i].type, hs[i].type);
    EXPECT_EQ(out[0].headers[i].value, hs[i].value);
  }
  EXPECT_EQ(out[0].StringHeader(":event-type"), "chunk");
  EXPECT_EQ(out[0].StringHeader("bytes"), std::nullopt);  // not a string header
  EXPECT_EQ(out[0].payload, "payload");
}

TEST(EventStreamTest, BrokenPreludeCrcFailsBeforeTheBodyArrives) {
  std::string good = EncodeEventStreamMessage({}, "ok");
  std::string bad = EncodeEventStreamMessage({}, "payload");
  bad[9] ^= 0x01;
  EventStreamDecoder d;
  std::vector<EventStreamMessage> out;
  // Only the prelude of the bad message is present: the error is already reported.
  absl::Status st = d.Feed(good + bad.substr(0, 12), &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(st.message()).find("prelude CRC"), std::string::npos);
  ASSERT_EQ(out.size(), 1u);  // the message before it is delivered
  EXPECT_EQ(out[0].payload, "ok");
  // Sticky.
  EXPECT_EQ(d.Feed(good, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(out.size(), 1u);
}

TEST(EventStreamTest, BrokenMessageCrc) {
  std::string bad = EncodeEventStreamMessage(StopHeaders(), "payload");
  bad[bad.size() - 6] ^= 0x20;  // flip a payload bit
  for (size_t split = 0; split <= bad.size(); ++split) {
    EventStreamDecoder d;
    std::vector<EventStreamMessage> out;
    absl::Status st = d.Feed(bad.substr(0, split), &out);
    if (st.ok()) st = d.Feed(bad.substr(split), &out);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(std::string(st.message()).find("message CRC"), std::string::npos);
    EXPECT_TRUE(out.empty());
  }
}

TEST(EventStreamTest, TruncatedStreamLeavesPartial) {
  std::string m = EncodeEventStreamMessage(StopHeaders(), "payload");
  for (size_t cut = 1; cut < m.size(); ++cut) {
    EventStreamDecoder d;
    std::vector<EventStreamMessage> out;
    ASSERT_TRUE(d.Feed(m.substr(0, cut), &out).ok());
    EXPECT_TRUE(d.HasPartial());
    EXPECT_TRUE(out.empty());
  }
}

// Re-frames `m` with a new header-length field and valid CRCs, to reach the checks behind them.
std::string WithHeadersLength(std::string m, uint32_t headers_len) {
  m[4] = static_cast<char>(headers_len >> 24);
  m[5] = static_cast<char>(headers_len >> 16);
  m[6] = static_cast<char>(headers_len >> 8);
  m[7] = static_cast<char>(headers_len);
  auto put = [&m](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) m[at + i] = static_cast<char>(v >> (24 - 8 * i));
  };
  put(8, Crc32(std::string_view(m).substr(0, 8)));
  put(m.size() - 4, Crc32(std::string_view(m).substr(0, m.size() - 4)));
  return m;
}

TEST(EventStreamTest, MalformedLengthsAndHeaders) {
  std::string m = EncodeEventStreamMessage(StopHeaders(), "payload");
  EventStreamDecoder d1;
  std::vector<EventStreamMessage> out;
  EXPECT_EQ(d1.Feed(WithHeadersLength(m, 1000), &out).code(), absl::StatusCode::kDataLoss);
  // A headers section that ends inside a header.
  EventStreamDecoder d2;
  EXPECT_EQ(d2.Feed(WithHeadersLength(m, 20), &out).code(), absl::StatusCode::kDataLoss);
  // An unknown header type.
  std::string unknown = EncodeEventStreamMessage({{"x", EventStreamHeaderType::kString, "v"}}, "");
  unknown[12 + 2] = 42;
  unknown = WithHeadersLength(unknown, 6);
  EventStreamDecoder d3;
  absl::Status st = d3.Feed(unknown, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(st.message()).find("unknown type"), std::string::npos);
  // Total length below the fixed overhead.
  std::string tiny = Bytes({0, 0, 0, 8, 0, 0, 0, 0});
  uint32_t crc = Crc32(tiny);
  for (int i = 0; i < 4; ++i) tiny.push_back(static_cast<char>(crc >> (24 - 8 * i)));
  EventStreamDecoder d4;
  EXPECT_EQ(d4.Feed(tiny, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(out.empty());
}

TEST(EventStreamTest, MessageSizeIsBounded) {
  std::string big = EncodeEventStreamMessage({}, std::string(1000, 'a'));
  EventStreamDecoder d(512);
  std::vector<EventStreamMessage> out;
  // Rejected from the prelude alone, before buffering the body.
  absl::Status st = d.Feed(big.substr(0, 12), &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(d.HasPartial());
  EventStreamDecoder ok(1016);
  EXPECT_TRUE(ok.Feed(big, &out).ok());
  EXPECT_EQ(out.size(), 1u);
}

// ---- the callback API ----

struct Copy {
  std::vector<EventStreamHeader> headers;
  std::string payload;
};

// Feeds `pieces` one by one, each from its own buffer scribbled over once fed; returns copies
// of the views handed out, and the first error.
absl::Status CollectViews(EventStreamDecoder& d, const std::vector<std::string_view>& pieces,
                          std::vector<Copy>* out) {
  for (std::string_view piece : pieces) {
    std::string chunk(piece);
    absl::Status st = d.Feed(chunk, [&](const EventStreamMessageView& m) {
      Copy& c = out->emplace_back();
      for (const EventStreamHeaderView& h : m.headers) c.headers.push_back({std::string(h.name), h.type, std::string(h.value)});
      c.payload = std::string(m.payload);
      return absl::OkStatus();
    });
    std::fill(chunk.begin(), chunk.end(), '#');
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

TEST(EventStreamViewTest, SplitAtEveryPairOfOffsetsMatchesWhole) {
  std::vector<EventStreamHeader> many = StopHeaders();
  many.push_back({"n", EventStreamHeaderType::kInt, Bytes({0, 0, 1, 2})});
  many.push_back({"t", EventStreamHeaderType::kBoolTrue, ""});
  std::string stream = EncodeEventStreamMessage({}, R"({"foo": "bar"})") +
                       EncodeEventStreamMessage(many, std::string(100, 'p')) +
                       EncodeEventStreamMessage(StopHeaders(), "") +
                       EncodeEventStreamMessage({EventStreamHeader::String(":message-type", "event")}, "x");
  EventStreamDecoder whole;
  std::vector<Copy> want;
  ASSERT_TRUE(CollectViews(whole, {stream}, &want).ok());
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(want[1].headers.size(), 5u);
  EXPECT_EQ(want[1].headers[3].value, Bytes({0, 0, 1, 2}));
  EXPECT_EQ(want[1].payload, std::string(100, 'p'));
  for (size_t a = 0; a <= stream.size(); ++a) {
    for (size_t b = a; b <= stream.size(); ++b) {
      EventStreamDecoder d;
      std::vector<Copy> got;
      std::string_view s = stream;
      ASSERT_TRUE(CollectViews(d, {s.substr(0, a), s.substr(a, b - a), s.substr(b)}, &got).ok());
      EXPECT_FALSE(d.HasPartial());
      ASSERT_EQ(got.size(), want.size()) << a << "," << b;
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i].payload, want[i].payload) << a << "," << b << " message " << i;
        ASSERT_EQ(got[i].headers.size(), want[i].headers.size());
        for (size_t j = 0; j < want[i].headers.size(); ++j) {
          ASSERT_EQ(got[i].headers[j].name, want[i].headers[j].name);
          ASSERT_EQ(got[i].headers[j].type, want[i].headers[j].type);
          ASSERT_EQ(got[i].headers[j].value, want[i].headers[j].value);
        }
      }
    }
  }
}

TEST(EventStreamViewTest, WholeMessagesPointIntoTheChunk) {
  std::string chunk = EncodeEventStreamMessage(StopHeaders(), "one") + EncodeEventStreamMessage(StopHeaders(), "two");
  auto inside = [&](std::string_view v) {
    return v.data() >= chunk.data() && v.data() + v.size() <= chunk.data() + chunk.size();
  };
  EventStreamDecoder d;
  int n = 0;
  ASSERT_TRUE(d.Feed(chunk, [&](const EventStreamMessageView& m) {
                 EXPECT_TRUE(inside(m.payload));
                 for (const auto& h : m.headers) EXPECT_TRUE(inside(h.name) && inside(h.value));
                 EXPECT_EQ(m.StringHeader(":event-type"), "messageStop");
                 EXPECT_EQ(m.StringHeader(":missing"), std::nullopt);
                 ++n;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(n, 2);
  EXPECT_FALSE(d.HasPartial());
}

TEST(EventStreamViewTest, CrcErrorsAtEverySplit) {
  std::string good = EncodeEventStreamMessage(StopHeaders(), "ok");
  std::string bad_prelude = EncodeEventStreamMessage({}, "payload");
  bad_prelude[9] ^= 0x01;
  std::string bad_message = EncodeEventStreamMessage(StopHeaders(), "payload");
  bad_message[bad_message.size() - 6] ^= 0x20;
  for (const auto& [bad, what] : {std::pair{bad_prelude, "prelude CRC"}, std::pair{bad_message, "message CRC"}}) {
    std::string stream = good + bad + good;
    std::string_view s = stream;
    for (size_t split = 0; split <= stream.size(); ++split) {
      EventStreamDecoder d;
      std::vector<Copy> got;
      absl::Status st = CollectViews(d, {s.substr(0, split), s.substr(split)}, &got);
      EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << what << " split " << split;
      EXPECT_NE(std::string(st.message()).find(what), std::string::npos) << st;
      ASSERT_EQ(got.size(), 1u) << what << " split " << split;  // the message before it only
      EXPECT_EQ(got[0].payload, "ok");
      EXPECT_FALSE(d.HasPartial());
      // Spent.
      EXPECT_EQ(d.Feed(good, [](const EventStreamMessageView&) { return absl::OkStatus(); }).code(),
                absl::StatusCode::kDataLoss);
    }
  }
}

TEST(EventStreamViewTest, LimitFromASplitPrelude) {
  std::string big = EncodeEventStreamMessage({}, std::string(1000, 'a'));
  for (size_t split = 1; split < 12; ++split) {
    EventStreamDecoder d(512);
    std::vector<Copy> got;
    EXPECT_TRUE(CollectViews(d, {std::string_view(big).substr(0, split)}, &got).ok());
    EXPECT_TRUE(d.HasPartial());
    absl::Status st = CollectViews(d, {std::string_view(big).substr(split, 12 - split)}, &got);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << split;
    EXPECT_FALSE(d.HasPartial());
  }
}

TEST(EventStreamViewTest, CallbackErrorStopsTheChunkButNotTheDecoder) {
  std::string a = EncodeEventStreamMessage({}, "a");
  std::string bad = EncodeEventStreamMessage({}, "bad");
  std::string b = EncodeEventStreamMessage({}, "b");
  std::string broken = EncodeEventStreamMessage({}, "broken");
  broken[9] ^= 0x01;
  EventStreamDecoder d;
  std::vector<std::string> seen;
  auto fn = [&](const EventStreamMessageView& m) {
    seen.emplace_back(m.payload);
    return m.payload == "bad" ? absl::InvalidArgumentError("bad message") : absl::OkStatus();
  };
  // The callback's error wins over a framing error later in the same chunk; the framing error
  // then makes the decoder spent.
  EXPECT_EQ(d.Feed(a + bad + b + b.substr(0, 5), fn).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "bad"}));
  EXPECT_TRUE(d.HasPartial());
  EXPECT_TRUE(d.Feed(b.substr(5) + a, fn).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "bad", "b", "a"}));
  EXPECT_EQ(d.Feed(bad + broken, fn).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Feed(a, fn).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(seen.size(), 5u);
}

}  // namespace
}  // namespace sluice::http
