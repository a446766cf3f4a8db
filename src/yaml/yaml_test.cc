#include "yaml/yaml.h"

#include "gtest/gtest.h"

namespace sluice::yaml {
namespace {

TEST(YamlTest, LoadsDocumentsWithLines) {
  auto docs = LoadAll("a: 1\nb:\n  - x\n  - 'y'\n---\n---\nc: {d: true}\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  const Node& d0 = (*docs)[0];
  ASSERT_TRUE(d0.is_map());
  EXPECT_EQ(d0.Find("a")->scalar, "1");
  EXPECT_FALSE(d0.Find("a")->quoted);
  const Node* b = d0.Find("b");
  ASSERT_TRUE(b && b->is_seq());
  EXPECT_EQ(b->items[1].scalar, "y");
  EXPECT_TRUE(b->items[1].quoted);
  EXPECT_EQ(b->items[1].line, 4);
  EXPECT_EQ((*docs)[1].Find("c")->Find("d")->scalar, "true");
  EXPECT_EQ((*docs)[1].Find("c")->line, 7);
}

TEST(YamlTest, ReportsSyntaxErrorLine) {
  auto docs = LoadAll("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.status().message().find("line"), std::string::npos);
}

}  // namespace
}  // namespace sluice::yaml
