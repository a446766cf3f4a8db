#include "translate/translator.h"

#include <string>

#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

// The chunk prefix is formatted once per (id, created, model) and kept per thread: chunks of
// streams that interleave on one thread must still each carry their own id, created and model.
TEST(OpenAIChunkTest, PrefixFollowsEveryChangeOfIdCreatedAndModel) {
  struct Case {
    std::string id;
    int64_t created;
    std::string model;
  };
  const Case cases[] = {
      {"chatcmpl-a", 1700000000, "m1"},  {"chatcmpl-a", 1700000000, "m1"},   // same stream twice
      {"chatcmpl-b", 1700000000, "m1"},  {"chatcmpl-a", 1700000001, "m1"},   // id, then created
      {"chatcmpl-a", 1700000001, "m2"},  {"chatcmpl-a", 1700000001, "m\"2"},  // model, then escaping
      {"", 0, ""},                       {"chatcmpl-a", 1700000000, "m1"},
  };
  for (const Case& c : cases) {
    std::string out = "keep:";
    AppendOpenAIChunkStart(c.id, c.created, c.model, &out);
    out.append("{}");
    AppendOpenAIChunkEnd("stop", &out);
    ASSERT_EQ(out.rfind("keep:data: ", 0), 0u) << out;
    ASSERT_EQ(out.substr(out.size() - 2), "\n\n");
    auto doc = json::Parse(std::string_view(out).substr(11, out.size() - 13));
    ASSERT_TRUE(doc.ok()) << out;
    EXPECT_EQ(doc->Find("id")->as_string(), c.id);
    EXPECT_EQ(doc->Find("created")->as_int(), c.created);
    EXPECT_EQ(doc->Find("model")->as_string(), c.model);
    EXPECT_EQ(doc->Find("object")->as_string(), "chat.completion.chunk");
  }
}

TEST(StreamUsageTest, WithStreamUsageSetsIncludeUsageAndKeepsTheRest) {
  struct Case {
    std::string_view in, out;  // out empty: unchanged
  } cases[] = {
      {R"({"model":"m","stream":true})", R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","stream":true} )", R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stream_options":{"include_usage":false,"include_obfuscation":false},"model":"m"})",
       R"({"stream_options":{"include_usage":true,"include_obfuscation":false},"model":"m"})"},
      {R"({"model":"m","stream_options":null})", R"({"model":"m","stream_options":{"include_usage":true}})"},
      {R"({})", R"({"stream_options":{"include_usage":true}})"},
      {R"({"model":"m","stream_options":{"include_usage":true}})", ""},
      // The last of duplicate members counts (as upstream JSON readers take it).
      {R"({"stream_options":{"include_usage":false},"stream_options":{"include_usage":true}})", ""},
      {R"({"stream_options":{"include_usage":true},"stream_options":null})",
       R"({"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}})"},
  };
  for (const auto& c : cases) {
    auto got = WithStreamUsage(c.in);
    ASSERT_TRUE(got.ok()) << c.in;
    if (c.out.empty()) {
      EXPECT_FALSE(got->has_value()) << c.in;
    } else {
      ASSERT_TRUE(got->has_value()) << c.in;
      EXPECT_EQ(**got, c.out);
      EXPECT_TRUE(json::Parse(**got).ok());
    }
  }
  EXPECT_FALSE(WithStreamUsage("[1]").ok());
  EXPECT_FALSE(WithStreamUsage(R"({"a":)").ok());
}

TEST(StreamUsageTest, HiderDropsOnlyTheUsageChunkAtEverySplit) {
  // Comments, id: lines and CRLF framing pass byte for byte; only the usage-only chunk goes.
  const std::string before =
      ": upstream keep-alive\r\n\r\n"
      "id: 1\r\ndata: {\"id\":\"c\",\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\r\n\r\n"
      "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n";
  const std::string usage =
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9,"
      "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\r\r";
  const std::string after = "data: [DONE]\n\n";
  const std::string stream = before + usage + after;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    UsageChunkHider h;
    std::string out;
    ASSERT_TRUE(h.Feed(std::string_view(stream).substr(0, cut), false, &out).ok());
    ASSERT_TRUE(h.Feed(std::string_view(stream).substr(cut), true, &out).ok());
    EXPECT_EQ(out, before + after) << cut;
    EXPECT_EQ(h.usage().input_tokens, 7);
    EXPECT_EQ(h.usage().output_tokens, 2);
    EXPECT_EQ(h.usage().total_tokens, 9);
    EXPECT_EQ(h.usage().cached_input_tokens, 4);
    EXPECT_EQ(h.model(), "gpt-x");
  }
  // Byte by byte, and a last event without its blank line.
  UsageChunkHider h;
  std::string out;
  const std::string tail = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}";
  for (char c : before + tail) ASSERT_TRUE(h.Feed(std::string_view(&c, 1), false, &out).ok());
  ASSERT_TRUE(h.Feed("", true, &out).ok());
  EXPECT_EQ(out, before + tail);
}

TEST(ValidUtf8Test, ReplacesWhatIsNotUtf8) {
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(ValidUtf8("plain é \xF0\x9F\x98\x80"), "plain é \xF0\x9F\x98\x80");
  EXPECT_EQ(ValidUtf8("a\xD5" "b"), "a" + r + "b");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), r + r);                // overlong '/'
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"), r + r + r);        // a surrogate
  EXPECT_EQ(ValidUtf8("x\xE2\x82"), "x" + r + r);         // cut at the end
  EXPECT_EQ(ValidUtf8("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
}

}  // namespace
}  // namespace sluice::translate
