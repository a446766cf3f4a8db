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

}  // namespace
}  // namespace sluice::translate
