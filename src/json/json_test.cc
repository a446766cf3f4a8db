#include "json/json.h"

#include <cstdio>
#include <cstdlib>
#include <limits>
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

TEST(JsonTest, NumbersAsDoubleMatchStrtodInTheCLocale) {
  // as_double reads the number's text without copying it (from_chars): the same values as
  // strtod, whatever the process locale, for every JSON number form and out-of-range ones.
  for (const char* text : {"0", "-0", "0.2", "1.5", "-12.25e3", "1E-2", "6.02214076e23", "1e400", "-1e400", "1e-400",
                           "123456789012345678901234567890", "0.1000000000000000055511151231257827"}) {
    auto v = Parse(text);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_EQ(v->as_double(), std::strtod(text, nullptr)) << text;
    json::Reader r;
    auto view = r.Parse(text);
    ASSERT_TRUE(view.ok()) << text;
    EXPECT_EQ(view->as_double(), std::strtod(text, nullptr)) << text;
  }
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

// The string scanner reads eight bytes at a time: every byte value at every offset of
// strings around the word size must be escaped and read back exactly.
TEST(JsonTest, EscapesAndReadsBackEveryByteAtEveryOffset) {
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  };
  // Up to 40 bytes: the scanner reads 16 bytes per step, then 8, then 1; every byte value at
  // every offset lands in each of them.
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (int b = 1; b < 256; ++b) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(b);
        if (at + 1 < len) s[len - 1] = '\x7f';
        std::string quoted;
        AppendQuoted(&quoted, s);
        ASSERT_EQ(quoted, reference(s)) << "len " << len << " at " << at << " byte " << b;
        auto back = Parse(quoted);
        ASSERT_TRUE(back.ok()) << back.status() << " len " << len << " at " << at << " byte " << b;
        ASSERT_EQ(back->as_string(), s) << "len " << len << " at " << at << " byte " << b;
        if (b < 0x20) {  // a raw control byte inside a string token is refused
          EXPECT_FALSE(Parse("\"" + s + "\"").ok()) << "len " << len << " at " << at << " byte " << b;
        }
      }
    }
  }
}

// Reader/View must see exactly what the DOM sees: every value, member, string, number.
void ExpectSame(const Value& want, View got, const std::string& where) {
  ASSERT_TRUE(got.exists()) << where;
  ASSERT_EQ(got.type(), want.type()) << where;
  std::string compact;
  got.AppendCompact(&compact);
  EXPECT_EQ(compact, Serialize(want)) << where;
  EXPECT_EQ(got.ToValue(), want) << where;
  EXPECT_EQ(got.size(), want.size()) << where;
  switch (want.type()) {
    case Value::Type::kBool: EXPECT_EQ(got.as_bool(), want.as_bool()) << where; break;
    case Value::Type::kNumber:
      EXPECT_EQ(got.as_string(), want.as_string()) << where;
      EXPECT_EQ(got.as_int(), want.as_int()) << where;
      EXPECT_EQ(got.as_double(), want.as_double()) << where;
      break;
    case Value::Type::kString: EXPECT_EQ(got.as_string(), want.as_string()) << where; break;
    case Value::Type::kArray: {
      size_t i = 0;
      View item;
      for (auto c = got.items(); c.Next(&item); ++i) {
        ASSERT_LT(i, want.items().size()) << where;
        ExpectSame(want.items()[i], item, where + "[" + std::to_string(i) + "]");
      }
      EXPECT_EQ(i, want.items().size()) << where;
      break;
    }
    case Value::Type::kObject: {
      size_t i = 0;
      std::string_view key;
      View member;
      for (auto c = got.members(); c.Next(&key, &member); ++i) {
        ASSERT_LT(i, want.members().size()) << where;
        EXPECT_EQ(key, want.members()[i].first) << where;
        ExpectSame(want.members()[i].second, member, where + "." + std::string(key));
        // Find answers the first member of that name, as Value::Find.
        ExpectSame(*want.Find(key), got.Find(key), where + " Find(" + std::string(key) + ")");
        if (want.Find(key)->is_string()) {
          EXPECT_EQ(got.GetString(key), want.GetString(key)) << where;
        }
        if (want.Find(key)->is_bool()) {
          EXPECT_EQ(got.GetBool(key, false), want.GetBool(key, false)) << where;
        }
      }
      EXPECT_EQ(i, want.members().size()) << where;
      EXPECT_FALSE(got.Find("no such key").exists()) << where;
      // FindAll: the same answers as Find, several at once, absent ones reset.
      if (!want.members().empty()) {
        std::string_view first = want.members().front().first, last = want.members().back().first;
        View a = got, b = got, c = got;
        got.FindAll({{last, &a}, {"no such key", &b}, {first, &c}});
        EXPECT_EQ(a.raw(), got.Find(last).raw()) << where;
        EXPECT_FALSE(b.exists()) << where;
        EXPECT_EQ(c.raw(), got.Find(first).raw()) << where;
      }
      EXPECT_EQ(got.GetString("no such key"), "") << where;
      break;
    }
    case Value::Type::kNull: EXPECT_TRUE(got.is_null()) << where; break;
  }
}

TEST(JsonReaderTest, SeesWhatTheDomSees) {
  const char* docs[] = {
      R"({"a":1,"b":[true,false,null],"c":{"d":"e\n\"q\""},"n":-1.5e+10,"z":0})",
      " \n{ \"spaced\" : [ 1 , { \"x\" : \"y\" } , [ ] , { } ] , \"t\" : true }\t\n",
      R"({"esc\"key":"caf\u00e9 \ud83d\ude00 \/ \\ \" end","dup":1,"dup":2,"big":123456789012345678901})",
      R"([[[["deep"]]],"s",-0,0.25,1E3,"\u0000x",{"k":{"k":{"k":[]}}}])",
      R"([42,-7,999999999999999999,1234567890123456789,-1234567890123456789,3.9,2e1,-0.5,10E-1])",
      "17",
      R"("just a string with \"escapes\" and \\ backslashes")",
      "12.5e-3",
      "null",
      R"({"type":"message","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t1","name":"f","input":{"a":[1,2,{"b":"c}"}],"s":"]"}}],"usage":{"input_tokens":31,"output_tokens":-4}})",
      // Backslash runs before quotes: a quote ends a string after an even run only.
      R"({"o":{"a\\":"\\","b":"\"","c":"\\\"","d":"\\\\","e":"x\\\\\"y\\\\","f":[{"\\\\":"\"\"\""}],"g":1},"h":2})",
  };
  for (const char* text : docs) {
    auto want = Parse(text);
    ASSERT_TRUE(want.ok()) << text;
    Reader reader;
    auto got = reader.Parse(text);
    ASSERT_TRUE(got.ok()) << got.status() << " " << text;
    ExpectSame(*want, *got, text);
  }
}

// Adopting ScanObject's result reads the same document as parsing it, without validating
// again; a reader reused across documents keeps nothing of the previous one.
TEST(JsonReaderTest, AdoptingTheRoutingScanSeesWhatTheDomSees) {
  const char* docs[] = {
      R"({"a":1,"b":[true,false,null],"c":{"d":"e\n\"q\""},"n":-1.5e+10,"z":0})",
      " \n{ \"spaced\" : [ 1 , { \"x\" : \"y\" } , [ ] , { } ] , \"t\" : true }\t\n",
      R"({"esc\"key":"caf\u00e9 \/ \\ end","dup":1,"dup":2,"model":"m","stream":true})",
      "{}",
  };
  Reader reader;
  for (const char* text : docs) {
    auto want = Parse(text);
    ASSERT_TRUE(want.ok()) << text;
    auto members = ScanObject(text);
    ASSERT_TRUE(members.ok()) << text;
    View got = reader.Adopt(text, *members);
    ExpectSame(*want, got, text);
    EXPECT_EQ(got.Find("dup").as_int(), want->Find("dup") ? want->Find("dup")->as_int() : 0) << text;
  }
}

TEST(JsonReaderTest, RejectsWhatParseRejectsWithTheSameMessage) {
  Reader reader;
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "\"\x01\"", "tru",
                          "{} x", "\"abc", "{'a':1}", "[1 2]", "-", "1e"}) {
    auto want = Parse(bad);
    auto got = reader.Parse(bad);
    ASSERT_FALSE(got.ok()) << "accepted: " << bad;
    EXPECT_EQ(got.status().message(), want.status().message()) << bad;
  }
  View absent;
  EXPECT_FALSE(absent.exists());
  EXPECT_FALSE(absent.Find("a").exists());
  EXPECT_EQ(absent.size(), 0u);
  EXPECT_EQ(absent.as_int(), 0);
}

TEST(JsonTest, StringTokenLengthValidatesAsParseDoes) {
  bool escaped = true;
  EXPECT_EQ(StringTokenLength(R"("abc"}})", &escaped), 5u);
  EXPECT_FALSE(escaped);
  EXPECT_EQ(StringTokenLength(R"("a\"b\u00e9" tail)", &escaped), 12u);
  EXPECT_TRUE(escaped);
  // Long enough for the vector scans, with the quote at every position.
  for (size_t n = 0; n < 40; ++n) {
    std::string token = "\"" + std::string(n, 'x') + "\"";
    EXPECT_EQ(StringTokenLength(token + "}", &escaped), token.size()) << n;
  }
  for (const char* bad : {"", "abc", "\"open", "\"bad \\x\"", "\"ctl \x01\"", "\"\\u12\"", "'a'"}) {
    EXPECT_EQ(StringTokenLength(bad, &escaped), 0u) << bad;
    EXPECT_FALSE(Parse(bad).ok()) << bad;
  }
}

// Views skip strings and containers with vector scans: quotes, escaped quotes and brackets
// inside strings at every offset of a 16-byte block must not confuse them.
TEST(JsonReaderTest, SkipsStringsAndContainersAtEveryAlignment) {
  Reader reader;
  for (size_t pad = 0; pad < 34; ++pad) {
    std::string filler(pad, 'p');
    std::string doc = R"({"a":{"s":")" + filler + R"(\"}]{[\\","n":[1,{"x":"}"}]},"b":")" + filler + R"(","c":3})";
    auto view = reader.Parse(doc);
    ASSERT_TRUE(view.ok()) << doc;
    EXPECT_EQ(view->Find("c").as_int(), 3) << doc;
    EXPECT_EQ(view->Find("a").Find("s").as_string(), filler + "\"}]{[\\") << doc;
    EXPECT_EQ(view->Find("a").Find("n").size(), 2u) << doc;
    View a = view->Find("a");
    std::string_view key;
    View v;
    std::vector<std::string> keys;
    for (auto it = a.members(); it.Next(&key, &v);) keys.emplace_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"s", "n"})) << doc;
    EXPECT_EQ(view->Find("b").as_string(), filler);
  }
}

TEST(JsonTest, HugeNumbersSaturateAsInt) {
  // A cast of an out-of-range double is undefined behaviour; these saturate instead.
  for (std::string_view text : {R"({"n":1e999})", R"({"n":1.5e300})"}) {
    auto v = Parse(text);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->Find("n")->as_int(), std::numeric_limits<int64_t>::max()) << text;
    Reader r;
    auto view = r.Parse(text);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view->Find("n").as_int(), std::numeric_limits<int64_t>::max()) << text;
  }
  auto neg = Parse(R"({"n":-1e999})");
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(neg->Find("n")->as_int(), std::numeric_limits<int64_t>::min());
  auto small = Parse(R"({"n":-12.9})");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->Find("n")->as_int(), -12);
}

TEST(JsonTest, ErrorMessagesQuoteOnlyPrintableBytes) {
  // The message can be echoed inside a JSON error event: a raw input byte would break it.
  auto bad = Parse("{\"a\":\xD5}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("unexpected byte 0xD5"), std::string::npos) << bad.status();
  auto ctl = Parse("[\x01]");
  ASSERT_FALSE(ctl.ok());
  EXPECT_NE(std::string(ctl.status().message()).find("unexpected byte 0x01"), std::string::npos) << ctl.status();
  auto plain = Parse("[x]");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(std::string(plain.status().message()).find("unexpected character 'x'"), std::string::npos);
}

}  // namespace
}  // namespace sluice::json
