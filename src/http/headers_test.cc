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
