#include "http/headers.h"

#include "gtest/gtest.h"

namespace sluice::http {
namespace {

TEST(HeaderMapTest, CaseInsensitiveSetGetRemove) {
  HeaderMap h;
  h.Add("Content-Type", "application/json");
  h.Add("X-Multi", "a");
  h.Add("x-multi", "b");
  EXPECT_EQ(*h.Get("content-type"), "application/json");
  h.Set("X-MULTI", "c");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(*h.Get("x-multi"), "c");
  EXPECT_EQ(h.Remove("CONTENT-TYPE"), 1u);
  EXPECT_FALSE(h.Has("content-type"));
  EXPECT_EQ(h.entries()[0].first, "x-multi");
}

TEST(HeaderMutationTest, RemovesThenSets) {
  HeaderMap h;
  h.Add("authorization", "Bearer client");
  h.Add("x-keep", "1");
  HeaderMutation m;
  m.Remove("Authorization");
  m.Set("Authorization", "Bearer backend");
  m.Set("x-new", "v");
  m.ApplyTo(h);
  EXPECT_EQ(*h.Get("authorization"), "Bearer backend");
  EXPECT_EQ(*h.Get("x-new"), "v");
  EXPECT_EQ(*h.Get("x-keep"), "1");
}

// Merge gives what replaying the other mutation's Remove and Set calls would.
TEST(HeaderMutationTest, MergeEqualsReplayingRemovesAndSets) {
  HeaderMutation base;
  base.Set("authorization", "Bearer client");
  base.Set("x-keep", "1");
  base.Remove("x-gone");
  HeaderMutation other;
  other.Remove("X-Old");
  other.set.emplace_back("Authorization", "AWS4-HMAC-SHA256 sig");  // as a signer may spell it
  other.set.emplace_back("x-amz-date", "20261130T000000Z");

  HeaderMutation replayed = base;
  for (const auto& r : other.remove) replayed.Remove(r);
  for (const auto& [n, v] : other.set) replayed.Set(n, v);
  base.Merge(std::move(other));

  EXPECT_EQ(base.set, replayed.set);
  EXPECT_EQ(base.remove, replayed.remove);
  ASSERT_EQ(base.set.size(), 3u);
  EXPECT_EQ(base.set[0], (std::pair<std::string, std::string>("authorization", "AWS4-HMAC-SHA256 sig")));
  EXPECT_EQ(base.remove, (std::vector<std::string>{"x-gone", "x-old"}));
  EXPECT_TRUE(other.empty());
}

TEST(HeadersTest, ClassifiesHopByHopAndSecrets) {
  EXPECT_TRUE(IsHopByHop("connection"));
  EXPECT_TRUE(IsHopByHop("transfer-encoding"));
  EXPECT_FALSE(IsHopByHop("content-type"));
  EXPECT_TRUE(IsSensitiveHeader("authorization"));
  EXPECT_TRUE(IsSensitiveHeader("x-aigw-api-key"));
  EXPECT_TRUE(IsSensitiveHeader("x-aigw-aws-secret-access-key"));
  EXPECT_FALSE(IsSensitiveHeader("content-type"));
}

}  // namespace
}  // namespace sluice::http
