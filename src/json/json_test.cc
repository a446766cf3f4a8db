#include "json/json.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice::json {
namespace {

TEST(JsonTest, RoundTripsCompactDocumentExactly) {
  std::string text = R"({"a":1,"b":[true,false,null],"c":{"d":"e\n\"q\""},"n":-1.5e+10,"z":0})";
  auto v = Parse(text);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(Serialize(*v), text);
}

TEST(JsonTest, KeepsMemberOrderAndNumberText) {
  auto v = Parse(R"({"z": 1.50, "a": 2})");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->members().size(), 2u);
  EXPECT_EQ(v->members()[0].first, "z");
  EXPECT_EQ(v->Find("z")->as_string(), "1.50");
  EXPECT_DOUBLE_EQ(v->Find("z")->as_double(), 1.5);
  EXPECT_EQ(v->Find("a")->as_int(), 2);
}

TEST(JsonTest, DecodesEscapesAndSurrogates) {
  auto v = Parse(R"("caf\u00e9 \ud83d\ude00 \/")");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->as_string(), "caf\xc3\xa9 \xf0\x9f\x98\x80 /");
}

TEST(JsonTest, RejectsMalformedInputWithOffset) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "\"\x01\"", "tru",
                          "{} x", "\"abc", "{'a':1}", "[1 2]", "-", "1e"}) {
    auto v = Parse(bad);
    EXPECT_FALSE(v.ok()) << "accepted: " << bad;
    if (!v.ok()) {
      EXPECT_NE(v.status().message().find("offset"), std::string::npos);
    }
  }
}

TEST(JsonTest, LimitsDepth) {
  std::string deep(kMaxDepth + 5, '[');
  deep += std::string(kMaxDepth + 5, ']');
  auto v = Parse(deep);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("too deep"), std::string::npos);
  std::string ok(100, '[');
  ok += std::string(100, ']');
  EXPECT_TRUE(Parse(ok).ok());
}

TEST(JsonTest, SetEraseAppend) {
  Value o = Value::Object();
  o.Set("model", Value::String("a"));
  o.Set("stream", Value::Bool(true));
  o.Set("model", Value::String("b"));
  EXPECT_EQ(Serialize(o), R"({"model":"b","stream":true})");
  EXPECT_TRUE(o.Erase("model"));
  EXPECT_FALSE(o.Erase("model"));
  Value a;
  a.Append(Value::Int(1));
  a.Append(Value::Double(0.25));
  EXPECT_EQ(Serialize(a), "[1,0.25]");
  EXPECT_EQ(Serialize(Value::String("\x01\t")), R"("\u0001\t")");
}

TEST(JsonTest, ScanObjectReportsTopLevelSpans) {
  std::string text = R"( {"model" : "gpt-4o", "messages":[{"model":"inner"}], "stream":true } )";
  auto m = ScanObject(text);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].key, "model");
  EXPECT_EQ(text.substr((*m)[0].value_begin, (*m)[0].value_end - (*m)[0].value_begin), "\"gpt-4o\"");
  EXPECT_EQ((*m)[2].key, "stream");
  EXPECT_EQ(text.substr((*m)[2].value_begin, (*m)[2].value_end - (*m)[2].value_begin), "true");
  EXPECT_FALSE(ScanObject("[1]").ok());
  EXPECT_FALSE(ScanObject("{\"a\":1").ok());
  auto s = DecodeStringToken("\"a\\u0041\"");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "aA");
}

}  // namespace
}  // namespace sluice::json
