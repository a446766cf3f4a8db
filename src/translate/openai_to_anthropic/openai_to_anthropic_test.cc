#include "translate/openai_to_anthropic/openai_to_anthropic.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/translator_test_util.h"

// Goldens in testdata/:
//   req_X.openai.json     -> req_X.anthropic.json (Anthropic backend), req_X.vertex.json (GCP)
//   resp_X.anthropic.json -> resp_X.openai.json (buffered answer)
//   stream_X.anthropic.sse -> stream_X.openai.sse (fed at every split; stream_bad_* must fail,
//                             and their golden ends with the StreamError the client would get)
//   X.request.json        optional client request the answer belongs to
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
constexpr int64_t kNow = 1700000000;

config::Backend AnthropicBackend() {
  config::Backend b;
  b.name = "default/anthropic";
  b.schema = config::ApiSchema::kAnthropic;
  return b;
}

config::Backend VertexBackend() {
  config::Backend b;
  b.name = "default/vertex-claude";
  b.schema = config::ApiSchema::kGCPAnthropic;
  b.schema_version = "vertex-2023-10-16";
  b.auth.type = config::BackendAuth::Type::kGCP;
  b.auth.gcp_project = "my-project";
  b.auth.gcp_region = "us-east5";
  return b;
}

class OpenAIToAnthropicTest : public ::testing::Test {
 protected:
  std::unique_ptr<TranslatorFactory> anthropic_ =
      NewOpenAIToAnthropicFactory(config::ApiSchema::kAnthropic, [] { return kNow; });
  std::unique_ptr<TranslatorFactory> vertex_ =
      NewOpenAIToAnthropicFactory(config::ApiSchema::kGCPAnthropic, [] { return kNow; });
  config::Backend anthropic_backend_ = AnthropicBackend();
  config::Backend vertex_backend_ = VertexBackend();

  absl::StatusOr<UpstreamRequest> Translate(std::string_view body, const http::HeaderMap& headers = {},
                                            bool vertex = false, std::string_view model = {}) {
    translator_ = (vertex ? vertex_ : anthropic_)->Create(vertex ? vertex_backend_ : anthropic_backend_);
    return TranslateBody(*translator_, Endpoint::kChatCompletions, body, headers, model);
  }

  std::string Rejected(std::string_view body) {
    auto up = Translate(body);
    EXPECT_FALSE(up.ok()) << body;
    if (up.ok()) return "";
    EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(ToStd(up.status().message()));
  }

  // A translator that has seen `request` and 200 response headers of `content_type`.
  std::unique_ptr<Translator> Responder(const std::string& request, std::string_view content_type) {
    auto t = anthropic_->Create(anthropic_backend_);
    auto up = TranslateBody(*t, Endpoint::kChatCompletions, request);
    EXPECT_TRUE(up.ok()) << up.status();
    http::HeaderMap h;
    h.Set("content-type", content_type);
    t->TranslateResponseHeaders(200, h);
    return t;
  }

  std::unique_ptr<Translator> translator_;
};

TEST(OpenAIToAnthropicFactoryTest, Metadata) {
  auto f = NewOpenAIToAnthropicFactory(config::ApiSchema::kGCPAnthropic);
  EXPECT_EQ(f->endpoint(), Endpoint::kChatCompletions);
  EXPECT_EQ(f->from(), Dialect::kOpenAI);
  EXPECT_EQ(f->to(), config::ApiSchema::kGCPAnthropic);
  EXPECT_FALSE(f->NeedsDocument());  // the request is read from raw_body
}

TEST_F(OpenAIToAnthropicTest, RequestGoldens) {
  auto files = FilesEndingWith(kTestdata, ".openai.json");
  int n = 0;
  for (const auto& in : files) {
    std::string stem = Stem(in, ".openai.json");
    if (stem.rfind("req_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string body = ReadFile(in);
    http::HeaderMap headers;
    headers.Set("authorization", "Bearer sk-client");
    for (bool vertex : {false, true}) {
      auto up = Translate(body, headers, vertex);
      if (vertex && body.find("\"https://") != std::string::npos) {
        // URL image sources: Claude on Vertex refuses them (VertexTakesBase64ImagesOnly).
        EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument) << up.status();
        EXPECT_FALSE(fs::exists(kTestdata / (stem + ".vertex.json"))) << "stale golden";
        continue;
      }
      ASSERT_TRUE(up.ok()) << up.status();
      ExpectGolden(kTestdata / (stem + (vertex ? ".vertex.json" : ".anthropic.json")), DescribeUpstream(*up));
    }
  }
  EXPECT_GE(n, 8);
}

TEST_F(OpenAIToAnthropicTest, ResponseGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".anthropic.json")) {
    std::string stem = Stem(in, ".anthropic.json");
    if (stem.rfind("resp_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    fs::path req_file = kTestdata / (stem + ".request.json");
    std::string request = fs::exists(req_file)
                              ? ReadFile(req_file)
                              : R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})";
    std::string body = ReadFile(in);
    auto result = FeedEverySplit([&] { return Responder(request, "application/json"); }, body);
    ASSERT_TRUE(result.status.ok()) << result.status;
    ExpectGolden(kTestdata / (stem + ".openai.json"), PrettyText(result.out));
  }
  EXPECT_GE(n, 5);
}

TEST_F(OpenAIToAnthropicTest, StreamGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".anthropic.sse")) {
    std::string stem = Stem(in, ".anthropic.sse");
    SCOPED_TRACE(stem);
    ++n;
    fs::path req_file = kTestdata / (stem + ".request.json");
    std::string request =
        fs::exists(req_file)
            ? ReadFile(req_file)
            : R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})";
    std::string body = ReadFile(in);
    auto make = [&] { return Responder(request, "text/event-stream; charset=utf-8"); };
    auto result = FeedEverySplit(make, body);
    std::string client = result.out;
    if (stem.rfind("stream_bad_", 0) == 0) {
      EXPECT_FALSE(result.status.ok()) << "a broken stream must be an error";
      client += make()->StreamError(ToStd(result.status.message()));
    } else {
      EXPECT_TRUE(result.status.ok()) << result.status;
    }
    EXPECT_TRUE(WellFormedSse(client));
    ExpectGolden(kTestdata / (stem + ".openai.sse"), client);
  }
  EXPECT_GE(n, 9);
}

TEST_F(OpenAIToAnthropicTest, StreamUsage) {
  auto t = Responder(ReadFile(kTestdata / "req_tools.openai.json"), "text/event-stream");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(ReadFile(kTestdata / "stream_thinking.anthropic.sse"), true, &out).ok());
  EXPECT_EQ(t->usage().input_tokens, 230);
  EXPECT_EQ(t->usage().cache_creation_input_tokens, 200);
  EXPECT_EQ(t->usage().cached_input_tokens, 0);
  EXPECT_EQ(t->usage().output_tokens, 4096);
  EXPECT_EQ(t->usage().total_tokens, 4326);
  EXPECT_EQ(t->response_model(), "claude-sonnet-4-5-20250929");
}

TEST_F(OpenAIToAnthropicTest, BufferedUsage) {
  auto t = Responder(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "application/json");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(ReadFile(kTestdata / "resp_text.anthropic.json"), true, &out).ok());
  EXPECT_EQ(t->usage().input_tokens, 12 + 100 + 2048);
  EXPECT_EQ(t->usage().cached_input_tokens, 2048);
  EXPECT_EQ(t->usage().cache_creation_input_tokens, 100);
  EXPECT_EQ(t->usage().output_tokens, 4);
  EXPECT_EQ(t->usage().total_tokens, 2164);
}

TEST_F(OpenAIToAnthropicTest, StreamWithoutContentTypeFollowsRequest) {
  auto t = anthropic_->Create(anthropic_backend_);
  ASSERT_TRUE(TranslateBody(*t, Endpoint::kChatCompletions,
                            R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})")
                  .ok());
  http::HeaderMutation m = t->TranslateResponseHeaders(200, http::HeaderMap());
  ASSERT_EQ(m.set.size(), 1u);
  EXPECT_EQ(m.set[0].second, "text/event-stream");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(ReadFile(kTestdata / "stream_text.anthropic.sse"), true, &out).ok());
  EXPECT_EQ(out.find("\"usage\""), std::string::npos) << "no usage chunk without include_usage";
  EXPECT_NE(out.find("data: [DONE]\n\n"), std::string::npos);
}

TEST_F(OpenAIToAnthropicTest, StreamErrorIsOpenAIShaped) {
  auto t = Responder(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})",
                     "text/event-stream");
  std::string err = t->StreamError("upstream stream is malformed: x");
  EXPECT_TRUE(WellFormedSse(err));
  auto doc = json::Parse(err.substr(6));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("error")->GetString("message"), "upstream stream is malformed: x");
}

TEST_F(OpenAIToAnthropicTest, MalformedBufferedAnswer) {
  auto t = Responder(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "application/json");
  std::string out;
  absl::Status st = t->TranslateResponseBody(R"({"id":"msg","content":"nope"})", true, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  t = Responder(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "application/json");
  st = t->TranslateResponseBody(R"({"id":)", true, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
}

// Deltas in Anthropic's own compact spelling take a fast path; the same events spelled any
// other way (spaces, member order) take the general parser. Both must say the same thing,
// escapes included, and a delta whose string is not valid JSON is refused either way.
TEST_F(OpenAIToAnthropicTest, CompactDeltasMatchTheGeneralPath) {
  const std::string request = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  auto stream = [](bool compact, std::string_view text_token, std::string_view json_token) {
    auto delta = [&](int index, std::string_view type, std::string_view field, std::string_view token) {
      return compact ? StrCat(R"({"type":"content_block_delta","index":)", index, R"(,"delta":{"type":")", type,
                              R"(",")", field, R"(":)", token, "}}")
                     : StrCat(R"({ "index": )", index, R"(, "type": "content_block_delta", "delta": {")", field,
                              R"(": )", token, R"(, "type": ")", type, R"("} })");
    };
    std::string s =
        "event: message_start\n"
        R"(data: {"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3,"output_tokens":1}}})"
        "\n\n"
        R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"
        "\n\n";
    s += StrCat("data: ", delta(0, "thinking_delta", "thinking", R"("plan \"A\"\n")"), "\n\n");
    s += R"(data: {"type":"content_block_stop","index":0})" "\n\n";
    s += R"(data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})" "\n\n";
    s += StrCat("data: ", delta(1, "text_delta", "text", text_token), "\n\n");
    s += StrCat("data: ", delta(1, "text_delta", "text", R"("plain")"), "\n\n");
    s += R"(data: {"type":"content_block_stop","index":1})" "\n\n";
    s += R"(data: {"type":"content_block_start","index":12,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}})"
         "\n\n";
    s += StrCat("data: ", delta(12, "input_json_delta", "partial_json", json_token), "\n\n");
    s += R"(data: {"type":"content_block_stop","index":12})" "\n\n";
    s += R"(data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})" "\n\n";
    s += R"(data: {"type":"message_stop"})" "\n\n";
    return s;
  };
  const std::string_view text = R"("caf\u00e9 \ud83d\ude00 \\ \/ tab\t")";
  const std::string_view args = R"("{\"city\": \"Z\u00fcrich\"}")";
  std::string fast, general;
  auto t = Responder(request, "text/event-stream");
  ASSERT_TRUE(t->TranslateResponseBody(stream(true, text, args), true, &fast).ok());
  t = Responder(request, "text/event-stream");
  ASSERT_TRUE(t->TranslateResponseBody(stream(false, text, args), true, &general).ok());
  EXPECT_EQ(fast, general);
  EXPECT_TRUE(WellFormedSse(fast));
  EXPECT_NE(fast.find(R"("content":"café 😀 \\ / tab\t")"), std::string::npos) << fast;
  EXPECT_NE(fast.find(R"("reasoning_content":"plan \"A\"\n")"), std::string::npos) << fast;
  EXPECT_NE(fast.find(R"("arguments":"{\"city\": \"Zürich\"}")"), std::string::npos) << fast;

  // Invalid strings: a bad escape, a raw control character, an unterminated token.
  for (std::string_view bad : {R"("bad \x")", "\"tab\there\"", R"("open)"}) {
    for (bool compact : {true, false}) {
      std::string out;
      t = Responder(request, "text/event-stream");
      absl::Status st = t->TranslateResponseBody(stream(compact, bad, R"("{}")"), true, &out);
      EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << bad << (compact ? " compact" : " spaced");
    }
  }
}

TEST_F(OpenAIToAnthropicTest, StopReasons) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"end_turn", "stop"},           {"stop_sequence", "stop"},     {"pause_turn", "stop"},
      {"max_tokens", "length"},       {"tool_use", "tool_calls"},    {"refusal", "content_filter"},
      {"model_context_window_exceeded", "length"}, {"something_new", "stop"}};
  for (const auto& [anthropic, openai] : cases) {
    auto t = Responder(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", "application/json");
    std::string out;
    ASSERT_TRUE(t->TranslateResponseBody(StrCat(R"({"id":"x","model":"m","content":[],"stop_reason":")",
                                                anthropic, R"(","usage":{}})"),
                                         true, &out)
                    .ok());
    auto doc = json::Parse(out);
    ASSERT_TRUE(doc.ok());
    EXPECT_EQ(doc->Find("choices")->items()[0].GetString("finish_reason"), openai) << anthropic;
  }
}

// ---- requests ----

TEST_F(OpenAIToAnthropicTest, AnthropicVersionAndBetaHeaders) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  auto up = Translate(body);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/v1/messages");
  ASSERT_EQ(up->headers.set.size(), 1u);
  EXPECT_EQ(up->headers.set[0], (std::pair<std::string, std::string>{"anthropic-version", "2023-06-01"}));

  http::HeaderMap h;
  h.Set("anthropic-version", "2024-01-01");
  h.Set("anthropic-beta", "interleaved-thinking-2025-05-14");
  up = Translate(body, h);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(DescribeUpstream(*up).find("2023-06-01"), std::string::npos);
  http::HeaderMap applied;
  up->headers.ApplyTo(applied);
  EXPECT_EQ(applied.Get("anthropic-version"), "2024-01-01");
  EXPECT_EQ(applied.Get("anthropic-beta"), "interleaved-thinking-2025-05-14");

  up = Translate(body, h, /*vertex=*/true);
  ASSERT_TRUE(up.ok());
  applied.clear();
  up->headers.ApplyTo(applied);
  EXPECT_FALSE(applied.Has("anthropic-version")) << "Vertex takes the version in the body";
  EXPECT_EQ(applied.Get("anthropic-beta"), "interleaved-thinking-2025-05-14");
}

TEST_F(OpenAIToAnthropicTest, PathPrefix) {
  anthropic_backend_.schema_prefix = "anthropic/v1";
  auto up = Translate(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/anthropic/v1/messages");
  anthropic_backend_.schema_prefix = "";
  up = Translate(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/messages");
}

TEST_F(OpenAIToAnthropicTest, ModelOverride) {
  std::string body = R"({"model":"client-model","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  auto up = Translate(body, {}, false, "claude-opus-4-1");
  ASSERT_TRUE(up.ok());
  auto doc = json::Parse(*up->body);
  EXPECT_EQ(doc->GetString("model"), "claude-opus-4-1");
  up = Translate(body, {}, true, "claude/opus?4@20250805");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path,
            "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
            "claude%2Fopus%3F4@20250805:streamRawPredict");
  doc = json::Parse(*up->body);
  EXPECT_EQ(doc->Find("model"), nullptr);
  EXPECT_EQ(doc->GetString("anthropic_version"), "vertex-2023-10-16");
  EXPECT_TRUE(doc->GetBool("stream", false));
}

TEST_F(OpenAIToAnthropicTest, VertexNeedsVersionProjectRegion) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  vertex_backend_.schema_version = "";
  auto up = Translate(body, {}, true);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(up.status().message()).find("schema version"), std::string_view::npos);
  vertex_backend_ = VertexBackend();
  vertex_backend_.auth.gcp_region = "";
  up = Translate(body, {}, true);
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(OpenAIToAnthropicTest, VertexTakesBase64ImagesOnly) {
  // Anthropic's own API fetches image URLs; Claude on Vertex AI (and on Bedrock) refuses URL
  // sources, so the client learns which field to change before anything is sent.
  std::string url_image = R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},)"
                          R"({"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]})";
  auto direct = Translate(url_image, {}, false);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_NE(direct->body->find(R"("source":{"type":"url","url":"https://example.com/a.png"})"), std::string::npos);
  auto vertex = Translate(url_image, {}, true);
  ASSERT_FALSE(vertex.ok());
  EXPECT_EQ(vertex.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(vertex.status().message()).find("messages[0].content[1].image_url.url"), std::string_view::npos)
      << vertex.status();
  // In a tool result too; base64 data URLs pass.
  auto tool = Translate(R"({"model":"m","messages":[{"role":"user","content":"go"},)"
                        R"({"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
                        R"({"role":"tool","tool_call_id":"c1","content":[{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}]})",
                        {}, true);
  EXPECT_EQ(tool.status().code(), absl::StatusCode::kInvalidArgument);
  auto b64 = Translate(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]})",
                       {}, true);
  ASSERT_TRUE(b64.ok()) << b64.status();
  EXPECT_NE(b64->body->find(R"("source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="})"), std::string::npos)
      << *b64->body;
}

TEST_F(OpenAIToAnthropicTest, RejectsWhatAnthropicCannotExpress) {
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"a"},
      {"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]})"),
            "messages[2].content[0]: unsupported part type \"input_audio\"");
  EXPECT_EQ(Rejected(R"({"model":"m","n":2,"messages":[{"role":"user","content":"a"}]})"),
            "n: only 1 choice is supported by Anthropic backends");
  EXPECT_EQ(Rejected(R"({"model":"m","temperature":1.5,"messages":[{"role":"user","content":"a"}]})"),
            "temperature: must be between 0 and 1 for Anthropic backends");
  EXPECT_EQ(Rejected(R"({"model":"m","logprobs":true,"messages":[{"role":"user","content":"a"}]})"),
            "logprobs: is not supported by Anthropic backends");
  EXPECT_EQ(Rejected(R"({"model":"m","modalities":["text","audio"],"messages":[{"role":"user","content":"a"}]})"),
            "modalities: only \"text\" is supported by Anthropic backends");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"user","content":"a"},
      {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{oops"}}]}]})"),
            "messages[1].tool_calls[0].function.arguments: is not valid JSON");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"user","content":"a"},
      {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})"),
            "messages[1].tool_calls[0].function.arguments: must encode a JSON object");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"function","name":"f","content":"a"}]})"),
            "messages[0].role: unsupported role \"function\"");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"tool","content":"a"}]})"),
            "messages[0].tool_call_id: is required");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"system","content":"only system"}]})"),
            "messages: at least one user or assistant message is required");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]})"),
            "messages[0].content[0].image_url.url: must be an http(s) URL or a base64 data URL");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]})"),
            "messages[0].content[0].file: only file_data holding a base64 PDF data URL is supported by Anthropic backends");
  EXPECT_EQ(Rejected(R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]},{"role":"user","content":"a"}]})"),
            "messages[0].content[0]: unsupported part type \"image_url\"");
  EXPECT_EQ(Rejected(R"({"model":"m","tools":[{"type":"custom","custom":{"name":"x"}}],"messages":[{"role":"user","content":"a"}]})"),
            "tools[0].type: unsupported tool type \"custom\"");
  EXPECT_EQ(Rejected(R"({"model":"m","tool_choice":{"type":"allowed_tools"},"messages":[{"role":"user","content":"a"}]})"),
            "tool_choice.type: unsupported value \"allowed_tools\"");
  EXPECT_EQ(Rejected(R"({"model":"m","reasoning_effort":"extreme","messages":[{"role":"user","content":"a"}]})"),
            "reasoning_effort: unsupported value \"extreme\"");
  EXPECT_EQ(Rejected(R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"a"}]})"),
            "max_tokens: must be a positive integer");
  EXPECT_EQ(Rejected(R"({"model":"m","max_completion_tokens":1.5,"messages":[{"role":"user","content":"a"}]})"),
            "max_completion_tokens: must be a positive integer");
  EXPECT_EQ(Rejected(R"({"model":"m","functions":[{"name":"f"}],"messages":[{"role":"user","content":"a"}]})"),
            "functions: is deprecated and not supported; use tools");
  EXPECT_EQ(Rejected(R"({"model":"m","response_format":{"type":"grammar"},"messages":[{"role":"user","content":"a"}]})"),
            "response_format.type: unsupported value \"grammar\"");
}

// The pipeline passes an empty document (NeedsDocument() is false): only raw_body is read.
TEST_F(OpenAIToAnthropicTest, ReadsTheRawBodyOnly) {
  const json::Value empty = json::Value::Object();
  const http::HeaderMap headers;
  auto t = anthropic_->Create(anthropic_backend_);
  std::string_view body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  ClientRequest req{Endpoint::kChatCompletions, body, empty, headers, "claude-x", false, "m"};
  auto up = t->TranslateRequest(req);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up->body, R"({"model":"claude-x","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]})");

  // Not reachable through the pipeline (it validates the body first), but reported the same way.
  ClientRequest bad{Endpoint::kChatCompletions, "{not json", empty, headers, "claude-x", false, "m"};
  auto st = anthropic_->Create(anthropic_backend_)->TranslateRequest(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToStd(st.message()).substr(0, 31), "request body is not valid JSON:");
}

// Byte-exact bodies for mappings the goldens do not show (expected values are what the former
// DOM-based mapping produced): turns merged across an empty assistant message, tool results
// sharing a user turn, arguments re-serialized compactly with the client's number text,
// duplicate members (the first one counts), escapes, system collapse rules.
TEST_F(OpenAIToAnthropicTest, RequestEdgeCases) {
  auto up = Translate(
      R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},)"
      R"({"role":"user","content":[{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},)"
      R"({"role":"assistant","content":"c","tool_calls":[{"id":"t1","type":"function","function":{"name":"f",)"
      R"("arguments":" {\"x\" : [1.50, 2e3]} "}},{"id":"t2","function":{"name":"g"}}]},)"
      R"({"role":"tool","tool_call_id":"t1","content":[{"type":"text","text":"r\u00e9"}]},)"
      R"({"role":"tool","tool_call_id":"t2","content":""}],"max_tokens":10,"temperature":1.0,"top_k":40,)"
      R"("stop":["x"],"user":"u","stream":true})");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up->body,
            R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
            R"({"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":)"
            R"([{"type":"text","text":"c"},{"type":"tool_use","id":"t1","name":"f","input":{"x":[1.50,2e3]}},)"
            R"({"type":"tool_use","id":"t2","name":"g","input":{}}]},{"role":"user","content":[{"type":"tool_result",)"
            R"("tool_use_id":"t1","content":[{"type":"text","text":"ré"}]},{"type":"tool_result","tool_use_id":"t2"}]}],)"
            R"("temperature":1.0,"top_k":40,"stop_sequences":["x"],"metadata":{"user_id":"u"},"stream":true})");

  up = Translate(
      R"({"model":"m","messages":[{"role":"user","content":"first","content":"second"},)"
      R"({"role":"developer","content":"s\/1"},{"role":"system","content":[{"type":"text","text":"s2"}]}],)"
      R"("max_tokens":5,"max_tokens":7,"stream":false,"stream":true})");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up->body,
            R"({"model":"m","max_tokens":5,"system":[{"type":"text","text":"s/1"},{"type":"text","text":"s2"}],)"
            R"("messages":[{"role":"user","content":"first"}]})");

  up = Translate(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":)"
      R"({"url":"data:image/png;charset=x;base64,AAAA","detail":"low"}},{"type":"text","text":"look"}]}],)"
      R"("response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"array",)"
      R"("items":{"type":"string"}}}},"reasoning_effort":"high","max_completion_tokens":3000})",
      {}, /*vertex=*/true);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(*up->body,
            R"({"anthropic_version":"vertex-2023-10-16","max_tokens":3000,"system":"Respond only with JSON that )"
            R"(conforms to this JSON Schema: {\"type\":\"array\",\"items\":{\"type\":\"string\"}}","messages":)"
            R"([{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png",)"
            R"("data":"AAAA"}},{"type":"text","text":"look"}]}],"thinking":{"type":"enabled","budget_tokens":1500}})");
}

TEST_F(OpenAIToAnthropicTest, ReasoningBudgetFitsUnderMaxTokens) {
  auto body_of = [&](std::string_view req) {
    auto up = Translate(req);
    EXPECT_TRUE(up.ok()) << up.status();
    return up.ok() ? *json::Parse(*up->body) : json::Value();
  };
  // high = 4096 does not fit under 4000: halved.
  json::Value b = body_of(R"({"model":"m","reasoning_effort":"high","max_tokens":4000,"messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(b.Find("max_tokens")->as_int(), 4000);
  EXPECT_EQ(b.Find("thinking")->Find("budget_tokens")->as_int(), 2000);
  // No room for the 1024 minimum: no thinking at all.
  b = body_of(R"({"model":"m","reasoning_effort":"low","max_tokens":1000,"messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(b.Find("thinking"), nullptr);
  // More effort never means less thinking: half of 2000 is under the minimum, so the minimum.
  b = body_of(R"({"model":"m","reasoning_effort":"medium","max_tokens":2000,"messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(b.Find("thinking")->Find("budget_tokens")->as_int(), 1024);
  // none: no thinking, the plain default cap.
  b = body_of(R"({"model":"m","reasoning_effort":"none","messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(b.Find("thinking"), nullptr);
  EXPECT_EQ(b.Find("max_tokens")->as_int(), 4096);
  // Fits: unchanged.
  b = body_of(R"({"model":"m","reasoning_effort":"medium","max_completion_tokens":9000,"messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(b.Find("thinking")->Find("budget_tokens")->as_int(), 2048);
  EXPECT_EQ(b.Find("max_tokens")->as_int(), 9000);
}

TEST_F(OpenAIToAnthropicTest, JsonSchemaFallsBackToInstructionWithTools) {
  auto up = Translate(R"({"model":"m","messages":[{"role":"user","content":"a"}],
    "tools":[{"type":"function","function":{"name":"f"}}],
    "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}})");
  ASSERT_TRUE(up.ok());
  auto b = json::Parse(*up->body);
  EXPECT_EQ(b->Find("tools")->size(), 1u);
  EXPECT_EQ(b->Find("tool_choice"), nullptr);
  EXPECT_EQ(b->GetString("system"), "Respond only with JSON that conforms to this JSON Schema: {\"type\":\"object\"}");
}

// ---- errors ----

struct ErrorCase {
  int status;
  std::string body;
  int want_status;
  std::string want;
};

TEST_F(OpenAIToAnthropicTest, Errors) {
  const ErrorCase cases[] = {
      {429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"})",
       429, R"({"error":{"message":"Number of request tokens has exceeded your per-minute rate limit","type":"rate_limit_error","param":null,"code":"rate_limit_error"}})"},
      {529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", 503,
       R"({"error":{"message":"Overloaded","type":"upstream_error","param":null,"code":"overloaded_error"}})"},
      {400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 100000 > 64000"}})", 400,
       R"({"error":{"message":"max_tokens: 100000 > 64000","type":"invalid_request_error","param":null,"code":"invalid_request_error"}})"},
      {401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_2"})",
       401, R"({"error":{"message":"invalid x-api-key","type":"authentication_error","param":null,"code":"authentication_error"}})"},
      {403, R"({"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}})",
       403, R"({"error":{"message":"Your API key does not have permission to use the specified resource.","type":"permission_error","param":null,"code":"permission_error"}})"},
      // Vertex AI (GCPAnthropic) answers auth failures in Google's shape.
      {403, R"({"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied","status":"PERMISSION_DENIED"}})",
       403, R"({"error":{"message":"Permission 'aiplatform.endpoints.predict' denied","type":"permission_error","param":null,"code":"PERMISSION_DENIED"}})"},
      {404, R"({"error":{"code":404,"message":"Publisher model not found.","status":"NOT_FOUND"}})", 404,
       R"({"error":{"message":"Publisher model not found.","type":"invalid_request_error","param":null,"code":"NOT_FOUND"}})"},
      {502, "<html>Bad Gateway</html>", 502,
       R"({"error":{"message":"<html>Bad Gateway</html>","type":"upstream_error","param":null,"code":null}})"},
      {500, "", 500, R"({"error":{"message":"upstream returned HTTP 500","type":"server_error","param":null,"code":null}})"},
  };
  for (const auto& c : cases) {
    auto t = anthropic_->Create(anthropic_backend_);
    int status = 0;
    std::string out;
    t->TranslateError(c.status, http::HeaderMap(), c.body, &status, &out);
    EXPECT_EQ(status, c.want_status) << c.body;
    EXPECT_EQ(out, c.want);
  }
}

}  // namespace
}  // namespace sluice::translate
