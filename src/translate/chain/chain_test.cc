// Anthropic Messages clients to Gemini on Vertex and to Azure OpenAI, through the chain of the
// Anthropic -> OpenAI and OpenAI -> provider translators. Goldens in testdata/:
//   req_X.anthropic.json -> req_X.gemini.json / req_X.azure.json (the upstream request);
//   the OpenAI -> Gemini direction's upstream streams (openai_to_gemini/testdata/streams) and the
//   Azure ones (openai_to_azure/testdata) -> <provider>_<name>.anthropic.sse, the client's events,
//   fed whole, split at every byte and byte by byte (every way must give the same events).
#include "translate/chain/chain.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/translator_test_util.h"
#include "translate/test_backends.h"

namespace sluice::translate {
namespace {

namespace fs = std::filesystem;
using testing::DescribeUpstream;
using testing::ExpectGolden;
using testing::FeedEverySplit;
using testing::ReadFile;
using testing::TranslateBody;
using testing::WellFormedSse;

const fs::path kSrc = fs::path(__FILE__).parent_path().parent_path();
const fs::path kTestdata = kSrc / "chain" / "testdata";

config::Backend GeminiBackend() { return testing::VertexGeminiBackend(); }
config::Backend AzureBackend() { return testing::AzureOpenAIBackend("2024-10-21"); }

class ChainTest : public ::testing::Test {
 protected:
  ChainTest() { RegisterBuiltinTranslators(registry_); }

  const TranslatorFactory* Factory(config::ApiSchema to) const {
    return registry_.Find(Endpoint::kMessages, Dialect::kAnthropic, to);
  }

  // A translator that has seen `request` (so it knows stream or not) and the answer's head.
  std::unique_ptr<Translator> Ready(const config::Backend& backend, std::string_view request,
                                    std::string_view content_type) {
    auto t = Factory(backend.schema)->Create(backend);
    auto up = TranslateBody(*t, Endpoint::kMessages, request);
    EXPECT_TRUE(up.ok()) << up.status();
    http::HeaderMap h;
    h.Set("content-type", content_type);
    http::HeaderMutation m = t->TranslateResponseHeaders(200, h);
    m.ApplyTo(h);
    EXPECT_EQ(h.Get("content-type").value_or(""), "text/event-stream");
    return t;
  }

  Registry registry_;
  // Translators keep a reference to their backend: these outlive every translator of a test.
  const config::Backend gemini_ = GeminiBackend();
  const config::Backend azure_ = AzureBackend();
};

constexpr std::string_view kStreamRequest =
    R"({"model":"m","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

TEST_F(ChainTest, Registered) {
  for (auto to : {config::ApiSchema::kGCPVertexAI, config::ApiSchema::kAzureOpenAI}) {
    const TranslatorFactory* f = Factory(to);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->endpoint(), Endpoint::kMessages);
    EXPECT_EQ(f->from(), Dialect::kAnthropic);
    EXPECT_EQ(f->to(), to);
  }
}

TEST_F(ChainTest, RequestGoldens) {
  std::string body = ReadFile(kTestdata / "req_tools_images.anthropic.json");
  http::HeaderMap headers;
  headers.Set("anthropic-version", "2023-06-01");
  headers.Set("anthropic-beta", "interleaved-thinking-2025-05-14");
  for (const auto& [backend, golden] :
       {std::pair{&gemini_, "req_tools_images.gemini.json"}, std::pair{&azure_, "req_tools_images.azure.json"}}) {
    SCOPED_TRACE(golden);
    auto t = Factory(backend->schema)->Create(*backend);
    auto up = TranslateBody(*t, Endpoint::kMessages, body, headers);
    ASSERT_TRUE(up.ok()) << up.status();
    // The Anthropic headers mean nothing to these providers.
    EXPECT_NE(std::find(up->headers.remove.begin(), up->headers.remove.end(), "anthropic-version"),
              up->headers.remove.end());
    ExpectGolden(kTestdata / golden, DescribeUpstream(*up));
  }
}

// Gemini's streams, as the OpenAI -> Gemini tests have them, reach an Anthropic client as
// Anthropic events at every split.
TEST_F(ChainTest, GeminiStreamsAtEverySplit) {
  int n = 0;
  for (const char* name : {"text", "tools", "thinking", "safety", "citations_with_text", "error_midstream"}) {
    SCOPED_TRACE(name);
    ++n;
    std::string upstream = ReadFile(kSrc / "openai_to_gemini" / "testdata" / "streams" / StrCat(name, ".upstream.sse"));
    ASSERT_FALSE(upstream.empty());
    auto result = FeedEverySplit([&] { return Ready(gemini_, kStreamRequest, "text/event-stream"); }, upstream);
    std::string client = result.out;
    if (!result.status.ok()) {
      auto t = Ready(gemini_, kStreamRequest, "text/event-stream");
      client += t->StreamError(ToStd(result.status.message()));
    }
    EXPECT_TRUE(WellFormedSse(client));
    ExpectGolden(kTestdata / StrCat("gemini_", name, ".anthropic.sse"), client);
  }
  EXPECT_EQ(n, 6);
}

TEST_F(ChainTest, AzureStreamsAtEverySplit) {
  for (const char* name : {"stream_usage", "stream_tools"}) {
    SCOPED_TRACE(name);
    std::string upstream = ReadFile(kSrc / "openai_to_azure" / "testdata" / StrCat(name, ".sse"));
    ASSERT_FALSE(upstream.empty());
    auto result = FeedEverySplit([&] { return Ready(azure_, kStreamRequest, "text/event-stream"); }, upstream);
    ASSERT_TRUE(result.status.ok()) << result.status;
    EXPECT_TRUE(WellFormedSse(result.out));
    ExpectGolden(kTestdata / StrCat("azure_", name, ".anthropic.sse"), result.out);
  }
}

// Buffered answers: Gemini's JSON answers (the OpenAI -> Gemini direction's) and an Azure
// chat.completion become one Anthropic message, whatever the split; the head says JSON.
TEST_F(ChainTest, BufferedAnswers) {
  constexpr std::string_view kRequest = R"({"model":"m","max_tokens":256,"messages":[{"role":"user","content":"hi"}]})";
  auto ready = [&](const config::Backend& b) {
    auto t = Factory(b.schema)->Create(b);
    EXPECT_TRUE(TranslateBody(*t, Endpoint::kMessages, kRequest).ok());
    http::HeaderMap h;
    h.Set("content-type", "application/json; charset=UTF-8");
    http::HeaderMutation m = t->TranslateResponseHeaders(200, h);
    m.ApplyTo(h);
    EXPECT_EQ(h.Get("content-type").value_or(""), "application/json");
    return t;
  };
  for (const char* name : {"text", "tools_parallel", "thinking_signature"}) {
    SCOPED_TRACE(name);
    std::string upstream = ReadFile(kSrc / "openai_to_gemini" / "testdata" / "responses" / StrCat(name, ".upstream.json"));
    ASSERT_FALSE(upstream.empty());
    auto result = FeedEverySplit([&] { return ready(gemini_); }, upstream);
    ASSERT_TRUE(result.status.ok()) << result.status;
    auto msg = json::Parse(result.out);
    ASSERT_TRUE(msg.ok()) << result.out;
    EXPECT_EQ(msg->GetString("type"), "message");
    ExpectGolden(kTestdata / StrCat("gemini_", name, ".anthropic.json"), testing::PrettyText(result.out));
  }
  const std::string azure =
      R"({"id":"chatcmpl-A","object":"chat.completion","created":1,"model":"gpt-4o-2024-11-20","prompt_filter_results":[],)"
      R"("choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Checking.","tool_calls":[)"
      R"({"id":"call_P","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},)"
      R"("content_filter_results":{}}],"usage":{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,)"
      R"("prompt_tokens_details":{"cached_tokens":4}}})";
  auto result = FeedEverySplit([&] { return ready(azure_); }, azure);
  ASSERT_TRUE(result.status.ok()) << result.status;
  auto msg = json::Parse(result.out);
  ASSERT_TRUE(msg.ok()) << result.out;
  EXPECT_EQ(msg->GetString("stop_reason"), "tool_use");
  const json::Value& content = *msg->Find("content");
  ASSERT_EQ(content.items().size(), 2u) << result.out;
  EXPECT_EQ(content.items()[0].GetString("text"), "Checking.");
  EXPECT_EQ(content.items()[1].GetString("id"), "call_P");
  EXPECT_EQ(json::Serialize(*content.items()[1].Find("input")), R"({"city":"Paris"})");
  EXPECT_EQ(msg->Find("usage")->Find("cache_read_input_tokens")->as_int(), 4);
}

// An Azure API version older than 2024-09-01 refuses stream_options: the OpenAI leg's request
// for stream usage is dropped, and the stream still reaches the client whole (without usage).
TEST_F(ChainTest, OldAzureApiVersionGetsNoStreamOptions) {
  config::Backend old = AzureBackend();
  old.schema_version = "2024-06-01";
  auto t = Factory(old.schema)->Create(old);
  auto up = TranslateBody(*t, Endpoint::kMessages, kStreamRequest);
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_TRUE(up->body.has_value());
  EXPECT_EQ(up->body->find("stream_options"), std::string::npos) << *up->body;
  EXPECT_EQ(up->path, "/openai/deployments/m/chat/completions?api-version=2024-06-01");
  auto fresh = Factory(azure_.schema)->Create(azure_);
  auto current = TranslateBody(*fresh, Endpoint::kMessages, kStreamRequest);
  ASSERT_TRUE(current.ok());
  EXPECT_NE(current->body->find(R"("stream_options":{"include_usage":true})"), std::string::npos) << *current->body;
}

// Anthropic's thinking budget and top_k have no OpenAI word, but Gemini reads them as
// extensions: the chain carries them to the Gemini leg (thinkingConfig, topK), not to Azure's.
TEST_F(ChainTest, ThinkingAndTopKReachGemini) {
  constexpr std::string_view kRequest =
      R"({"model":"m","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":2048},"top_k":5,)"
      R"("messages":[{"role":"user","content":"think"}]})";
  auto t = Factory(gemini_.schema)->Create(gemini_);
  auto up = TranslateBody(*t, Endpoint::kMessages, kRequest);
  ASSERT_TRUE(up.ok()) << up.status();
  auto body = json::Parse(*up->body);
  ASSERT_TRUE(body.ok()) << *up->body;
  const json::Value* gen = body->Find("generationConfig");
  ASSERT_NE(gen, nullptr) << *up->body;
  EXPECT_EQ(json::Serialize(*gen->Find("thinkingConfig")), R"({"thinkingBudget":2048,"includeThoughts":true})") << *up->body;
  EXPECT_EQ(gen->Find("topK")->as_int(), 5) << *up->body;

  auto a = Factory(azure_.schema)->Create(azure_);
  auto azure = TranslateBody(*a, Endpoint::kMessages, kRequest);
  ASSERT_TRUE(azure.ok()) << azure.status();
  EXPECT_EQ(azure->body->find("thinking"), std::string::npos) << *azure->body;
  EXPECT_EQ(azure->body->find("top_k"), std::string::npos) << *azure->body;
}

// The provider leg's refusals name the client's fields: tool schemas by input_schema; message
// paths of the OpenAI request (indices differ) leave only the reason.
TEST_F(ChainTest, RefusalsNameTheClientsFields) {
  auto t = Factory(gemini_.schema)->Create(gemini_);
  auto up = TranslateBody(*t, Endpoint::kMessages,
                          R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],)"
                          R"("tools":[{"name":"f","input_schema":{"type":"object","properties":{"p":{"$ref":"https://x/s.json"}}}}]})");
  ASSERT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToStd(up.status().message()).rfind("tools[0].input_schema.properties.p.$ref: cannot resolve", 0), 0u)
      << up.status();

  auto t2 = Factory(gemini_.schema)->Create(gemini_);
  auto bad_url = TranslateBody(*t2, Endpoint::kMessages,
                               R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[)"
                               R"({"type":"image","source":{"type":"url","url":"ftp://x/a.png"}}]}]})");
  ASSERT_EQ(bad_url.status().code(), absl::StatusCode::kInvalidArgument) << bad_url.status();
  EXPECT_EQ(ToStd(bad_url.status().message()).find("messages[0].content"), std::string::npos) << bad_url.status();
}

// A parallel tool call from Gemini: each call its own tool_use block with the whole input, the
// stop reason tool_use, the provider's usage.
TEST_F(ChainTest, GeminiToolCallsBecomeToolUseBlocks) {
  std::string upstream = ReadFile(kSrc / "openai_to_gemini" / "testdata" / "streams" / "tools.upstream.sse");
  auto t = Ready(gemini_, kStreamRequest, "text/event-stream");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(upstream, true, &out).ok());
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  ASSERT_TRUE(parser.Feed(out, &events).ok());
  int starts = 0;
  std::string stop_reason;
  for (const auto& ev : events) {
    auto v = json::Parse(ev.data);
    ASSERT_TRUE(v.ok()) << ev.data;
    if (ev.event == "content_block_start" && v->Find("content_block")->GetString("type") == "tool_use") {
      ++starts;
      EXPECT_FALSE(v->Find("content_block")->GetString("id").empty());
    }
    if (ev.event == "message_delta") stop_reason = std::string(v->Find("delta")->GetString("stop_reason"));
  }
  EXPECT_GE(starts, 1);
  EXPECT_EQ(stop_reason, "tool_use");
  EXPECT_EQ(events.back().event, "message_stop");
  EXPECT_GT(t->usage().input_tokens, 0);
}

// Errors travel back through both: Google's 429 becomes Anthropic's rate_limit_error, a 400
// an invalid_request_error, each with the provider's status.
TEST_F(ChainTest, ProviderErrorsBecomeAnthropicErrors) {
  struct Case {
    int status;
    std::string body;
    int want_status;
    std::string want_type;
  } cases[] = {
      {429, R"({"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}})", 429,
       "rate_limit_error"},
      {400, R"({"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}})", 400,
       "invalid_request_error"},
      {403, R"({"error":{"code":403,"message":"Permission denied on resource project my-project.","status":"PERMISSION_DENIED"}})",
       403, "permission_error"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto t = Factory(config::ApiSchema::kGCPVertexAI)->Create(gemini_);
    ASSERT_TRUE(TranslateBody(*t, Endpoint::kMessages, kStreamRequest).ok());
    int status = 0;
    std::string out;
    http::HeaderMap h;
    h.Set("content-type", "application/json");
    t->TranslateError(c.status, h, c.body, &status, &out);
    EXPECT_EQ(status, c.want_status);
    auto v = json::Parse(out);
    ASSERT_TRUE(v.ok()) << out;
    EXPECT_EQ(v->GetString("type"), "error") << out;
    EXPECT_EQ(v->Find("error")->GetString("type"), c.want_type) << out;
    EXPECT_NE(v->Find("error")->GetString("message").find(json::Parse(c.body)->Find("error")->GetString("message")),
              std::string_view::npos)
        << out;
  }
}

// A broken provider stream: the chain fails, and its stream error is Anthropic's error event.
TEST_F(ChainTest, MalformedStreamEndsWithAnAnthropicError) {
  auto t = Ready(gemini_, kStreamRequest, "text/event-stream");
  std::string out;
  absl::Status st = t->TranslateResponseBody("data: {\"candidates\": [not json\n\n", false, &out);
  EXPECT_FALSE(st.ok());
  std::string ev = t->StreamError("upstream stream is malformed");
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  ASSERT_TRUE(parser.Feed(ev, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "error");
  auto v = json::Parse(events[0].data);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->GetString("type"), "error");
}

}  // namespace
}  // namespace sluice::translate
