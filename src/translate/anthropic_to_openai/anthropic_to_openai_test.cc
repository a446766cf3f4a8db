#include "translate/anthropic_to_openai/anthropic_to_openai.h"

#include <filesystem>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/translator_test_util.h"

// Goldens in testdata/:
//   req_X.anthropic.json   -> req_X.openai.json
//   resp_X.openai.json     -> resp_X.anthropic.json (buffered answer)
//   stream_X.openai.sse    -> stream_X.anthropic.sse (fed at every split; stream_bad_* must
//                             fail, and their golden ends with the client's StreamError)
namespace sluice::translate {
namespace {

namespace fs = std::filesystem;
using testing::DescribeUpstream;
using testing::ExpectGolden;
using testing::FeedEverySplit;
using testing::FilesEndingWith;
using testing::PrettyText;
using testing::ReadFile;
using testing::Stem;
using testing::TranslateBody;
using testing::WellFormedSse;

const fs::path kTestdata = fs::path(__FILE__).parent_path() / "testdata";

class AnthropicToOpenAITest : public ::testing::Test {
 protected:
  AnthropicToOpenAITest() {
    backend_.name = "default/openai";
    backend_.schema = config::ApiSchema::kOpenAI;
  }

  absl::StatusOr<UpstreamRequest> Translate(std::string_view body, std::string_view model = {}) {
    translator_ = factory_->Create(backend_);
    return TranslateBody(*translator_, Endpoint::kMessages, body, {}, model);
  }

  std::string Rejected(std::string_view body) {
    auto up = Translate(body);
    EXPECT_FALSE(up.ok()) << body;
    if (up.ok()) return "";
    EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(ToStd(up.status().message()));
  }

  std::unique_ptr<Translator> Responder(bool stream, std::string_view content_type) {
    auto t = factory_->Create(backend_);
    std::string body = StrCat(R"({"model":"gpt-4o","max_tokens":10,"stream":)", stream ? "true" : "false",
                              R"(,"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_TRUE(TranslateBody(*t, Endpoint::kMessages, body).ok());
    http::HeaderMap h;
    h.Set("content-type", content_type);
    t->TranslateResponseHeaders(200, h);
    return t;
  }

  std::unique_ptr<TranslatorFactory> factory_ = NewAnthropicToOpenAIFactory();
  config::Backend backend_;
  std::unique_ptr<Translator> translator_;
};

TEST_F(AnthropicToOpenAITest, Metadata) {
  EXPECT_EQ(factory_->endpoint(), Endpoint::kMessages);
  EXPECT_EQ(factory_->from(), Dialect::kAnthropic);
  EXPECT_EQ(factory_->to(), config::ApiSchema::kOpenAI);
}

TEST_F(AnthropicToOpenAITest, RequestGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".anthropic.json")) {
    std::string stem = Stem(in, ".anthropic.json");
    if (stem.rfind("req_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    auto up = Translate(ReadFile(in));
    ASSERT_TRUE(up.ok()) << up.status();
    ExpectGolden(kTestdata / (stem + ".openai.json"), DescribeUpstream(*up));
  }
  EXPECT_GE(n, 4);
}

TEST_F(AnthropicToOpenAITest, ResponseGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".openai.json")) {
    std::string stem = Stem(in, ".openai.json");
    if (stem.rfind("resp_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    auto result = FeedEverySplit([&] { return Responder(false, "application/json"); }, ReadFile(in));
    ASSERT_TRUE(result.status.ok()) << result.status;
    ExpectGolden(kTestdata / (stem + ".anthropic.json"), PrettyText(result.out));
  }
  EXPECT_GE(n, 4);
}

TEST_F(AnthropicToOpenAITest, StreamGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".openai.sse")) {
    std::string stem = Stem(in, ".openai.sse");
    SCOPED_TRACE(stem);
    ++n;
    auto make = [&] { return Responder(true, "text/event-stream; charset=utf-8"); };
    auto result = FeedEverySplit(make, ReadFile(in));
    std::string client = result.out;
    if (stem.rfind("stream_bad_", 0) == 0) {
      EXPECT_FALSE(result.status.ok()) << "a broken stream must be an error";
      client += make()->StreamError(ToStd(result.status.message()));
    } else {
      EXPECT_TRUE(result.status.ok()) << result.status;
    }
    EXPECT_TRUE(WellFormedSse(client));
    ExpectGolden(kTestdata / (stem + ".anthropic.sse"), client);
  }
  EXPECT_GE(n, 9);
}

// Reads an Anthropic SSE stream the way a strict client does: a block's deltas must come
// between its content_block_start and content_block_stop, one block open at a time. Gives
// each tool_use block's name and the input its partial_json fragments add up to.
std::vector<std::pair<std::string, std::string>> StrictToolInputs(const std::string& sse) {
  std::vector<std::pair<std::string, std::string>> tools;
  std::map<int64_t, size_t> tool_of_block;
  int64_t open = -1;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    size_t end = sse.find("\n\n", pos);
    auto ev = json::Parse(sse.substr(pos + 6, end - pos - 6));
    pos = end;
    EXPECT_TRUE(ev.ok());
    if (!ev.ok()) break;
    std::string_view type = ev->GetString("type");
    int64_t index = ev->Find("index") != nullptr ? ev->Find("index")->as_int() : -1;
    if (type == "content_block_start") {
      EXPECT_EQ(open, -1) << "block " << index << " starts while " << open << " is open";
      open = index;
      const json::Value* block = ev->Find("content_block");
      if (block->GetString("type") == "tool_use") {
        tool_of_block[index] = tools.size();
        tools.emplace_back(block->GetString("name"), "");
      }
    } else if (type == "content_block_delta") {
      EXPECT_EQ(index, open) << "delta for block " << index << " while " << open << " is open";
      if (auto it = tool_of_block.find(index); it != tool_of_block.end()) {
        tools[it->second].second += ev->Find("delta")->GetString("partial_json");
      }
    } else if (type == "content_block_stop") {
      EXPECT_EQ(index, open);
      open = -1;
    }
  }
  return tools;
}

// An upstream that interleaves the argument fragments of parallel calls (call 1 starts before
// call 0's arguments are whole; call 2 arrives whole while call 1 is held): every tool_use
// block still gets all of its input between its start and stop, at every split of the stream.
TEST_F(AnthropicToOpenAITest, InterleavedToolCallsStayInTheirBlocks) {
  auto make = [&] { return Responder(true, "text/event-stream"); };
  auto result = FeedEverySplit(make, ReadFile(kTestdata / "stream_interleaved_tools.openai.sse"));
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto tools = StrictToolInputs(result.out);
  ASSERT_EQ(tools.size(), 3u) << result.out;
  EXPECT_EQ(tools[0].first, "get_weather");
  EXPECT_EQ(tools[1].first, "get_time");
  EXPECT_EQ(tools[2].first, "search");
  EXPECT_EQ(*json::Parse(tools[0].second), *json::Parse(R"({"city":"Paris"})"));
  EXPECT_EQ(*json::Parse(tools[1].second), *json::Parse(R"({"tz":"Europe/Paris"})"));
  EXPECT_EQ(*json::Parse(tools[2].second), *json::Parse(R"({"q":"news"})"));
  // Calls that do not interleave still stream as they come: nothing is held.
  auto plain = FeedEverySplit(make, ReadFile(kTestdata / "stream_tools.openai.sse"));
  ASSERT_TRUE(plain.status.ok());
  EXPECT_EQ(StrictToolInputs(plain.out).size(), 2u);
}

// Brackets and escaped quotes inside argument strings do not make arguments look whole.
TEST_F(AnthropicToOpenAITest, HeldCallsWaitForBracketsOutsideStrings) {
  auto chunk = [](std::string_view tool_calls, std::string_view finish = "null") {
    return StrCat(R"(data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":)", tool_calls,
                  R"(},"finish_reason":)", finish, "}]}\n\n");
  };
  std::string stream =
      chunk(R"([{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"q\":\"x}"}}])") +
      chunk(R"([{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}])") +
      chunk(R"([{"index":0,"function":{"arguments":"\\\"]y{\"}"}}])") +
      R"(data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})" "\n\ndata: [DONE]\n\n";
  auto make = [&] { return Responder(true, "text/event-stream"); };
  auto result = FeedEverySplit(make, stream);
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto tools = StrictToolInputs(result.out);
  ASSERT_EQ(tools.size(), 2u) << result.out;
  EXPECT_EQ(tools[0].second, R"({"q":"x}\"]y{"})");
  EXPECT_EQ(*json::Parse(tools[0].second)->Find("q"), json::Value::String("x}\"]y{"));
  EXPECT_EQ(tools[1].second, "{}");
}

TEST_F(AnthropicToOpenAITest, StreamUsage) {
  auto t = Responder(true, "text/event-stream");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(ReadFile(kTestdata / "stream_text.openai.sse"), true, &out).ok());
  EXPECT_EQ(t->usage().input_tokens, 2100);
  EXPECT_EQ(t->usage().cached_input_tokens, 2048);
  EXPECT_EQ(t->usage().output_tokens, 12);
  EXPECT_EQ(t->usage().total_tokens, 2112);
  EXPECT_EQ(t->response_model(), "gpt-5-mini-2025-08-07");
}

TEST_F(AnthropicToOpenAITest, StreamAsksForUsage) {
  auto up = Translate(R"({"model":"gpt-4o","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(up.ok());
  auto body = json::Parse(*up->body);
  EXPECT_TRUE(body->GetBool("stream", false));
  EXPECT_TRUE(body->Find("stream_options")->GetBool("include_usage", false));
  EXPECT_EQ(up->path, "/v1/chat/completions");
  EXPECT_EQ(up->headers.remove, (std::vector<std::string>{"anthropic-version", "anthropic-beta"}));
}

TEST_F(AnthropicToOpenAITest, ModelOverrideAndPrefix) {
  backend_.schema_prefix = "openai/v1";
  auto up = Translate(R"({"model":"claude-alias","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
                      "gpt-4o-mini");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/openai/v1/chat/completions");
  EXPECT_EQ(json::Parse(*up->body)->GetString("model"), "gpt-4o-mini");
}

TEST_F(AnthropicToOpenAITest, StreamErrorIsAnthropicShaped) {
  auto t = Responder(true, "text/event-stream");
  EXPECT_EQ(t->StreamError("upstream stream failed: idle timeout"),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream "
            "stream failed: idle timeout\"}}\n\n");
}

TEST_F(AnthropicToOpenAITest, MalformedBufferedAnswer) {
  auto t = Responder(false, "application/json");
  std::string out;
  EXPECT_EQ(t->TranslateResponseBody(R"({"id":"x","choices":[]})", true, &out).code(), absl::StatusCode::kDataLoss);
  t = Responder(false, "application/json");
  EXPECT_EQ(t->TranslateResponseBody(
                R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{nope"}}]},"finish_reason":"tool_calls"}]})",
                true, &out)
                .code(),
            absl::StatusCode::kDataLoss);
  t = Responder(false, "application/json");
  EXPECT_EQ(t->TranslateResponseBody("not json", true, &out).code(), absl::StatusCode::kDataLoss);
}

TEST_F(AnthropicToOpenAITest, FinishReasons) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"},
      {"function_call", "tool_use"}, {"content_filter", "refusal"}, {"brand_new", "end_turn"}};
  for (const auto& [openai, anthropic] : cases) {
    auto t = Responder(false, "application/json");
    std::string out;
    ASSERT_TRUE(t->TranslateResponseBody(StrCat(R"({"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":")",
                                                openai, R"("}]})"),
                                         true, &out)
                    .ok());
    EXPECT_EQ(json::Parse(out)->GetString("stop_reason"), anthropic) << openai;
  }
}

TEST_F(AnthropicToOpenAITest, RejectsWhatOpenAICannotExpress) {
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"a"}]})"),
            "tools[0].type: unsupported tool type \"web_search_20250305\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"search_result","source":"x"}]}]})"),
            "messages[0].content[0]: unsupported block type \"search_result\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s"}]}]})"),
            "messages[0].content[0]: unsupported block type \"server_tool_use\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"system","content":"a"}]})"),
            "messages[0].role: unsupported role \"system\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]})"),
            "messages[0].content[0].source: only base64 PDF and text documents are supported by OpenAI backends");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})"),
            "messages[0].content[0].source.type: unsupported image source \"file\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":5,"messages":[{"role":"user"}]})"),
            "messages[0].content: must be a string or an array of content blocks");
}

TEST_F(AnthropicToOpenAITest, Errors) {
  struct Case {
    int status;
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {429, R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
       R"({"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached for gpt-4o"}})"},
      {404, R"({"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}})",
       R"({"type":"error","error":{"type":"not_found_error","message":"The model `gpt-9` does not exist"}})"},
      {401, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})",
       R"({"type":"error","error":{"type":"authentication_error","message":"Incorrect API key provided"}})"},
      {503, "upstream connect error", R"({"type":"error","error":{"type":"overloaded_error","message":"upstream connect error"}})"},
      {500, "", R"({"type":"error","error":{"type":"api_error","message":"upstream returned HTTP 500"}})"},
  };
  for (const auto& c : cases) {
    auto t = factory_->Create(backend_);
    int status = 0;
    std::string out;
    t->TranslateError(c.status, http::HeaderMap(), c.body, &status, &out);
    EXPECT_EQ(status, c.status);
    EXPECT_EQ(out, c.want);
  }
}

}  // namespace
}  // namespace sluice::translate
