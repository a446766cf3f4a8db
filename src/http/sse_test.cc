#include "http/sse.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace sluice::http {
namespace {

std::vector<SseEvent> ParseSplit(std::string_view text, size_t split) {
  SseParser p;
  std::vector<SseEvent> out;
  EXPECT_TRUE(p.Feed(text.substr(0, split), &out).ok());
  EXPECT_TRUE(p.Feed(text.substr(split), &out).ok());
  return out;
}

TEST(SseTest, ParsesEventsSplitAtEveryByte) {
  std::string text =
      "\xEF\xBB\xBF: comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n"
      "data: line1\ndata: line2\n\n"
      "event: ping\ndata:\n\n"
      "id: 7\rdata: cr-only\r\r"
      "data: [DONE]\n\n";
  for (size_t split = 0; split <= text.size(); ++split) {
    auto events = ParseSplit(text, split);
    ASSERT_EQ(events.size(), 5u) << "split at " << split;
    EXPECT_EQ(events[0].event, "message_start");
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[2].event, "ping");
    EXPECT_EQ(events[2].data, "");
    EXPECT_EQ(events[3].id, "7");
    EXPECT_EQ(events[3].data, "cr-only");
    EXPECT_EQ(events[4].data, "[DONE]");
  }
}

TEST(SseTest, ABomSplitAcrossChunksIsStillDropped) {
  // The BOM opens the first field's line: were it kept, "event" would be an unknown field.
  const std::string text = "\xEF\xBB\xBF" "event: message_start\ndata: {}\n\n";
  for (size_t split = 0; split <= text.size(); ++split) {
    auto events = ParseSplit(text, split);
    ASSERT_EQ(events.size(), 1u) << "split at " << split;
    EXPECT_EQ(events[0].event, "message_start") << "split at " << split;
  }
  SseParser bytewise;
  std::vector<SseEvent> out;
  for (char c : text) ASSERT_TRUE(bytewise.Feed(std::string_view(&c, 1), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, "message_start");
  // Bytes that only begin like a BOM are data (here: part of an unknown field's name).
  SseParser p;
  out.clear();
  EXPECT_TRUE(p.Feed("\xEF\xBB", &out).ok());
  EXPECT_TRUE(p.HasPartial());
  EXPECT_TRUE(p.Feed("X: 1\ndata: kept\n\n", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "kept");
  EXPECT_EQ(out[0].event, "");
}

TEST(SseTest, ReportsPartialEventAndLimit) {
  SseParser p;
  std::vector<SseEvent> out;
  ASSERT_TRUE(p.Feed("data: {\"cut", &out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(p.HasPartial());
  SseParser small(8);
  EXPECT_FALSE(small.Feed("data: 0123456789", &out).ok());
}

TEST(SseTest, FormatsMultilineData) {
  EXPECT_EQ(FormatSse("e", "a\nb"), "event: e\ndata: a\ndata: b\n\n");
  EXPECT_EQ(FormatSse("", "x"), "data: x\n\n");
}

// ---- the callback API ----

// Copies of the views handed out, fed in the given pieces. Each piece lives in its own buffer,
// scribbled over once fed, so a view that outlived its chunk would show up as garbage.
std::vector<SseEvent> CollectViews(const std::vector<std::string_view>& pieces, SseParser& p) {
  std::vector<SseEvent> out;
  for (std::string_view piece : pieces) {
    std::string chunk(piece);
    absl::Status st = p.Feed(chunk, [&](const SseEventView& ev) {
      out.push_back({std::string(ev.event), std::string(ev.data), std::string(ev.id)});
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    std::fill(chunk.begin(), chunk.end(), '#');
  }
  return out;
}

bool Same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  }
  return true;
}

const char kMixed[] =
    "\xEF\xBB\xBF: comment\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\n"
    "data: line1\ndata: line2\n\n"
    "event: ping\ndata:\n\n"
    "id: 7\rdata: cr-only\r\r"
    "event: a\nevent: b\ndata: x\r\ndata:\r\ndata: z\r\n\r\n"
    "retry: 5\nunknown: 1\nid\ndata: [DONE]\n\n";

TEST(SseViewTest, SplitAtEveryPairOfOffsetsMatchesWhole) {
  std::string_view text = kMixed;
  SseParser whole;
  std::vector<SseEvent> want = CollectViews({text}, whole);
  ASSERT_EQ(want.size(), 6u);
  EXPECT_EQ(want[0].event, "message_start");
  EXPECT_EQ(want[0].data, "{\"a\":1}");
  EXPECT_EQ(want[1].data, "line1\nline2");
  EXPECT_EQ(want[2].event, "ping");
  EXPECT_EQ(want[2].data, "");
  EXPECT_EQ(want[3].id, "7");
  EXPECT_EQ(want[3].data, "cr-only");
  EXPECT_EQ(want[4].event, "b");
  EXPECT_EQ(want[4].data, "x\n\nz");
  EXPECT_EQ(want[5].id, "");
  EXPECT_EQ(want[5].data, "[DONE]");
  EXPECT_FALSE(whole.HasPartial());
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      SseParser p;
      auto got = CollectViews({text.substr(0, a), text.substr(a, b - a), text.substr(b)}, p);
      ASSERT_TRUE(Same(got, want)) << "split at " << a << "," << b;
      EXPECT_FALSE(p.HasPartial());
    }
  }
}

TEST(SseViewTest, ByteByByteAndVectorApiAgree) {
  std::string_view text = kMixed;
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  SseParser p;
  auto got = CollectViews(bytes, p);
  SseParser v;
  std::vector<SseEvent> old;
  ASSERT_TRUE(v.Feed(text, &old).ok());
  EXPECT_TRUE(Same(got, old));
}

TEST(SseViewTest, WholeSingleLineEventsPointIntoTheChunk) {
  std::string chunk = "event: content_block_delta\ndata: {\"x\":1}\nid: 3\n\ndata: {\"y\":2}\n\n";
  SseParser p;
  int n = 0;
  auto inside = [&](std::string_view v) {
    return v.data() >= chunk.data() && v.data() + v.size() <= chunk.data() + chunk.size();
  };
  ASSERT_TRUE(p.Feed(chunk, [&](const SseEventView& ev) {
                 EXPECT_TRUE(inside(ev.data)) << ev.data;
                 EXPECT_TRUE(ev.event.empty() || inside(ev.event)) << ev.event;
                 EXPECT_TRUE(ev.id.empty() || inside(ev.id)) << ev.id;
                 ++n;
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(n, 2);
}

TEST(SseViewTest, CrEndingsSplitAcrossChunks) {
  // "\r" at the end of one chunk and "\n" at the start of the next is one line end, not two.
  SseParser p;
  auto got = CollectViews({"data: a\r", "\ndata: b\r", "\r", "\n", "data: c\r", "\r"}, p);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, "a\nb");
  EXPECT_EQ(got[1].data, "c");
  EXPECT_FALSE(p.HasPartial());
}

TEST(SseViewTest, EmptyChunkKeepsAPendingCr) {
  // Before: the empty chunk forgot the '\r', so the '\n' after it read as a blank line and
  // ended the event before its data line.
  SseParser p;
  auto got = CollectViews({"event: x\r", "", "\ndata: y\n\n"}, p);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event, "x");
  EXPECT_EQ(got[0].data, "y");
}

TEST(SseViewTest, CallbackErrorStopsTheChunkButNotTheParser) {
  SseParser p;
  std::vector<std::string> seen;
  auto fn = [&](const SseEventView& ev) {
    seen.emplace_back(ev.data);
    return ev.data == "bad" ? absl::InvalidArgumentError("bad event") : absl::OkStatus();
  };
  absl::Status st = p.Feed("data: 1\n\ndata: bad\n\ndata: 2\n\ndata: par", fn);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "bad"}));
  EXPECT_TRUE(p.HasPartial());  // the rest of the chunk was still parsed
  ASSERT_TRUE(p.Feed("tial\n\n", fn).ok());
  EXPECT_EQ(seen.back(), "partial");
  EXPECT_FALSE(p.HasPartial());
}

TEST(SseViewTest, LimitAfterEarlierEvents) {
  SseParser p(16);
  std::vector<std::string> seen;
  auto fn = [&](const SseEventView& ev) {
    seen.emplace_back(ev.data);
    return absl::OkStatus();
  };
  // The limit counts one event's lines plus the incomplete line.
  EXPECT_TRUE(p.Feed("data: 0123456789\n\ndata: 0123", fn).ok());
  EXPECT_EQ(p.Feed("456789abcdef", fn).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(seen, (std::vector<std::string>{"0123456789"}));
  SseParser q(16);
  seen.clear();
  EXPECT_EQ(q.Feed("data: ok\n\ndata: 0123\ndata: 456789", fn).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(seen, (std::vector<std::string>{"ok"}));
}

}  // namespace
}  // namespace sluice::http
