// OpenAIUsageObserver: usage and model from the bytes an OpenAI-dialect client receives.
#include "extproc/usage_observer.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::extproc {
namespace {

const std::string kAnswer =
    R"({"id":"c","object":"chat.completion","model":"gpt-4o-2024","choices":[{"index":0,"message":)"
    R"({"role":"assistant","content":"the \"usage\" word and \"model\": x"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,)"
    R"("prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":3}}})";

void ExpectUsage(const OpenAIUsageObserver& o) {
  ASSERT_TRUE(o.has_usage());
  EXPECT_EQ(o.usage().input_tokens, 5);
  EXPECT_EQ(o.usage().output_tokens, 6);
  EXPECT_EQ(o.usage().total_tokens, 11);
  EXPECT_EQ(o.usage().cached_input_tokens, 2);
  EXPECT_EQ(o.usage().reasoning_tokens, 3);
  EXPECT_EQ(o.model(), "gpt-4o-2024");
}

TEST(OpenAIUsageObserver, WholeJsonBody) {
  OpenAIUsageObserver o(false);
  o.Feed(kAnswer, true);
  ExpectUsage(o);
}

TEST(OpenAIUsageObserver, JsonBodyInPieces) {
  for (size_t cut = 1; cut < kAnswer.size(); cut += 7) {
    OpenAIUsageObserver o(false);
    o.Feed(std::string_view(kAnswer).substr(0, cut), false);
    EXPECT_FALSE(o.has_usage());
    o.Feed(std::string_view(kAnswer).substr(cut), true);
    ExpectUsage(o);
  }
}

TEST(OpenAIUsageObserver, NotJsonOrNoUsage) {
  OpenAIUsageObserver a(false);
  a.Feed("{\"usage\": ", true);
  EXPECT_FALSE(a.has_usage());
  OpenAIUsageObserver b(false);
  b.Feed(R"({"model":"m","usage":null})", true);
  EXPECT_FALSE(b.has_usage());
  EXPECT_EQ(b.model(), "m");
}

TEST(OpenAIUsageObserver, StreamUsageInTheLastChunk) {
  std::string sse =
      "data: {\"id\":\"c\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n"
      "data: {\"id\":\"c\",\"model\":\"other\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,"
      "\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":"
      "{\"reasoning_tokens\":3}}}\n\n"
      "data: [DONE]\n\n";
  for (size_t cut = 1; cut < sse.size(); cut += 5) {
    OpenAIUsageObserver o(true);
    o.Feed(std::string_view(sse).substr(0, cut), false);
    o.Feed(std::string_view(sse).substr(cut), true);
    ExpectUsage(o);
  }
}

}  // namespace
}  // namespace sluice::extproc
