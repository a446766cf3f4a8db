#include "http/sse.h"

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

}  // namespace
}  // namespace sluice::http
