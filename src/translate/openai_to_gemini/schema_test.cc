#include <string>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "json/json.h"
#include "translate/openai_to_gemini/gemini_internal.h"

namespace sluice::translate::gemini_internal {
namespace {

std::string Convert(std::string_view schema) {
  auto in = json::Parse(schema);
  EXPECT_TRUE(in.ok()) << schema;
  auto out = ConvertSchema(*in, "p");
  if (!out.ok()) return StrCat("ERROR ", ToStd(out.status().message()));
  return json::Serialize(*out);
}

TEST(GeminiSchema, KeepsTheSubsetAndDropsTheRest) {
  EXPECT_EQ(Convert(R"({"$schema":"x","$id":"y","type":"object","title":"T","description":"D",
      "additionalProperties":false,"strict":true,"default":{},"examples":[1],
      "properties":{"a":{"type":"string","format":"date-time","minLength":1,"maxLength":9,"pattern":"^a",
                         "readOnly":true,"deprecated":true},
                    "n":{"type":"number","minimum":0,"maximum":1,"exclusiveMinimum":0,"multipleOf":0.5},
                    "l":{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3,"uniqueItems":true}},
      "required":["a"],"minProperties":1,"patternProperties":{"x":{}},"not":{},"if":{},"then":{}})"),
            R"({"type":"OBJECT","title":"T","description":"D","properties":{"a":{"type":"STRING","format":"date-time","minLength":1,"maxLength":9,"pattern":"^a"},"n":{"type":"NUMBER","minimum":0,"maximum":1},"l":{"type":"ARRAY","items":{"type":"INTEGER"},"minItems":1,"maxItems":3}},"required":["a"],"minProperties":1})");
}

TEST(GeminiSchema, OnlyFormatsVertexAccepts) {
  EXPECT_EQ(Convert(R"({"type":"string","format":"uri"})"), R"({"type":"STRING"})");
  EXPECT_EQ(Convert(R"({"type":"string","format":"email"})"), R"({"type":"STRING"})");
  EXPECT_EQ(Convert(R"({"type":"string","format":"enum"})"), R"({"type":"STRING"})");
  EXPECT_EQ(Convert(R"({"type":"string","format":"enum","enum":["a"]})"),
            R"({"type":"STRING","format":"enum","enum":["a"]})");
  EXPECT_EQ(Convert(R"({"type":"integer","format":"int64"})"), R"({"type":"INTEGER","format":"int64"})");
  EXPECT_EQ(Convert(R"({"type":"number","format":"int32"})"), R"({"type":"NUMBER"})");
  EXPECT_EQ(Convert(R"({"type":"number","format":"double"})"), R"({"type":"NUMBER","format":"double"})");
}

TEST(GeminiSchema, TypeArraysAndNullUnions) {
  EXPECT_EQ(Convert(R"({"type":["string","null"],"description":"d"})"),
            R"({"type":"STRING","description":"d","nullable":true})");
  EXPECT_EQ(Convert(R"({"type":["string","integer"]})"),
            R"({"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]})");
  EXPECT_EQ(Convert(R"({"anyOf":[{"type":"integer","minimum":1},{"type":"null"}],"description":"outer"})"),
            R"({"type":"INTEGER","minimum":1,"description":"outer","nullable":true})");
  EXPECT_EQ(Convert(R"({"oneOf":[{"type":"string"},{"type":"boolean"}]})"),
            R"({"anyOf":[{"type":"STRING"},{"type":"BOOLEAN"}]})");
  EXPECT_EQ(Convert(R"({"type":"null"})"), R"({"nullable":true})");
  EXPECT_EQ(Convert(R"({"type":"string","nullable":true})"), R"({"type":"STRING","nullable":true})");
}

TEST(GeminiSchema, EnumsAndConst) {
  EXPECT_EQ(Convert(R"({"const":"x"})"), R"({"type":"STRING","enum":["x"]})");
  EXPECT_EQ(Convert(R"({"enum":["a","b",null]})"), R"({"type":"STRING","enum":["a","b"],"nullable":true})");
  // Gemini enums are strings: integer enums are dropped rather than changing the arg type.
  EXPECT_EQ(Convert(R"({"type":"integer","enum":[1,2]})"), R"({"type":"INTEGER"})");
}

TEST(GeminiSchema, RefsAndAllOf) {
  EXPECT_EQ(Convert(R"({"type":"object","properties":{
      "p":{"$ref":"#/$defs/Point","description":"where"},
      "q":{"$ref":"#/definitions/Q"},
      "r":{"$ref":"#/properties/p"}},
      "$defs":{"Point":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"]}},
      "definitions":{"Q":{"type":"string"}}})"),
            R"({"type":"OBJECT","properties":{"p":{"type":"OBJECT","properties":{"x":{"type":"NUMBER"}},"required":["x"],"description":"where"},"q":{"type":"STRING"},"r":{"type":"OBJECT","properties":{"x":{"type":"NUMBER"}},"required":["x"],"description":"where"}}})");
  EXPECT_EQ(Convert(R"({"allOf":[{"$ref":"#/$defs/A"},{"properties":{"b":{"type":"string"}},"required":["b"]}],
      "description":"merged","$defs":{"A":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}})"),
            R"({"type":"OBJECT","properties":{"a":{"type":"INTEGER"},"b":{"type":"STRING"}},"required":["a","b"],"description":"merged"})");
  EXPECT_EQ(Convert(R"({"$ref":"https://example.com/s.json"})"),
            R"(ERROR p.$ref: cannot resolve "https://example.com/s.json" (only local #/... references))");
  EXPECT_EQ(Convert(R"({"$ref":"#/$defs/Missing"})"),
            R"(ERROR p.$ref: cannot resolve "#/$defs/Missing" (only local #/... references))");
  // A recursive reference cannot be written out: the converter says so (lossy) instead.
  auto recursive = json::Parse(R"({"$defs":{"L":{"type":"array","items":{"$ref":"#/$defs/L"}}},"$ref":"#/$defs/L"})");
  bool lossy = false;
  ASSERT_TRUE(ConvertSchema(*recursive, "p", &lossy).ok());
  EXPECT_TRUE(lossy);
}

TEST(GeminiSchema, InferredTypesAndOddShapes) {
  EXPECT_EQ(Convert(R"({"properties":{"a":true}})"), R"({"type":"OBJECT","properties":{"a":{}}})");
  EXPECT_EQ(Convert(R"({"items":{"type":"string"}})"), R"({"type":"ARRAY","items":{"type":"STRING"}})");
  EXPECT_EQ(Convert(R"({"type":"array","items":[{"type":"string"}],"prefixItems":[]})"), R"({"type":"ARRAY"})");
  EXPECT_EQ(Convert(R"({"type":"STRING"})"), R"({"type":"STRING"})");
  EXPECT_EQ(Convert(R"({"type":"date"})"), R"(ERROR p.type: unsupported type "date")");
  EXPECT_EQ(Convert(R"("string")"), "ERROR p: schema must be an object");
  EXPECT_EQ(Convert(R"({"properties":[]})"), "ERROR p.properties: must be an object");
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += R"({"type":"array","items":)";
  deep += "{}";
  for (int i = 0; i < 70; ++i) deep += "}";
  EXPECT_NE(Convert(deep).find("schema nesting deeper than 64"), std::string::npos);
}

TEST(GeminiInternal, FinishReasons) {
  EXPECT_EQ(MapFinishReason("STOP", false), "stop");
  EXPECT_EQ(MapFinishReason("STOP", true), "tool_calls");
  EXPECT_EQ(MapFinishReason("MAX_TOKENS", true), "length");
  for (const char* r : {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION", "IMAGE_SAFETY",
                        "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR"})
    EXPECT_EQ(MapFinishReason(r, true), "content_filter") << r;
  for (const char* r : {"OTHER", "MALFORMED_FUNCTION_CALL", "LANGUAGE", "NO_IMAGE", "SOMETHING_NEW"})
    EXPECT_EQ(MapFinishReason(r, false), "stop") << r;
  EXPECT_EQ(MapFinishReason("", false), "");
  EXPECT_EQ(MapFinishReason("FINISH_REASON_UNSPECIFIED", false), "");
}

TEST(GeminiInternal, Rfc3339) {
  int64_t t = 0;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseRfc3339("2023-11-14T22:13:20.123456789Z", &t));
  EXPECT_EQ(t, 1700000000);
  ASSERT_TRUE(ParseRfc3339("2023-11-15T00:13:20+02:00", &t));
  EXPECT_EQ(t, 1700000000);
  ASSERT_TRUE(ParseRfc3339("2024-02-29T12:00:00-05:30", &t));
  EXPECT_EQ(t, 1709227800);
  EXPECT_FALSE(ParseRfc3339("2023-11-14", &t));
  EXPECT_FALSE(ParseRfc3339("2023-11-14T22:13:20", &t));
  EXPECT_FALSE(ParseRfc3339("2023-13-14T22:13:20Z", &t));
  EXPECT_FALSE(ParseRfc3339("2023-11-14T22:13:20Zjunk", &t));
}

TEST(GeminiInternal, ToolCallIds) {
  auto part = json::Parse(R"({"functionCall":{"name":"f"}})");
  EXPECT_EQ(MakeToolCallId(*part, 3, "resp"), "call_3_resp");
  auto with_id = json::Parse(R"({"functionCall":{"name":"f","id":"up-1"},"thoughtSignature":"c2ln"})");
  EXPECT_EQ(MakeToolCallId(*with_id, 0, "resp"), "up-1~ts~c2ln");
  EXPECT_EQ(ThoughtSignatureFromId("up-1~ts~c2ln"), "c2ln");
  EXPECT_EQ(ThoughtSignatureFromId("call_abc"), "");
}

}  // namespace
}  // namespace sluice::translate::gemini_internal
