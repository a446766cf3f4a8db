#include "translate/anthropic_passthrough/anthropic_passthrough.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/translator_test_util.h"

// Goldens in testdata/: req_X.anthropic.json -> req_X.vertex.json (the GCPAnthropic request);
// stream_X.sse is passed through (fed at every split) and must come out unchanged, except
// stream_bad_* which must fail and whose client-visible bytes are stream_bad_X.client.sse.
namespace sluice::translate {
namespace {

namespace fs = std::filesystem;
using testing::DescribeUpstream;
using testing::ExpectGolden;
using testing::FeedEverySplit;
using testing::FilesEndingWith;
using testing::ReadFile;
using testing::Stem;
using testing::TranslateBody;
using testing::WellFormedSse;

const fs::path kTestdata = fs::path(__FILE__).parent_path() / "testdata";

constexpr std::string_view kRequest =
    R"({"model": "claude-sonnet-4-5",  "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}], "temperature": 0.50})";

class AnthropicPassthroughTest : public ::testing::Test {
 protected:
  AnthropicPassthroughTest() {
    anthropic_backend_.name = "default/anthropic";
    anthropic_backend_.schema = config::ApiSchema::kAnthropic;
    vertex_backend_.name = "default/vertex";
    vertex_backend_.schema = config::ApiSchema::kGCPAnthropic;
    vertex_backend_.schema_version = "vertex-2023-10-16";
    vertex_backend_.auth.type = config::BackendAuth::Type::kGCP;
    vertex_backend_.auth.gcp_project = "my-project";
    vertex_backend_.auth.gcp_region = "global";
  }

  absl::StatusOr<UpstreamRequest> Translate(std::string_view body, bool vertex,
                                            const http::HeaderMap& headers = {}, std::string_view model = {}) {
    translator_ = (vertex ? vertex_ : anthropic_)->Create(vertex ? vertex_backend_ : anthropic_backend_);
    return TranslateBody(*translator_, Endpoint::kMessages, body, headers, model);
  }

  std::unique_ptr<Translator> Responder(bool stream, std::string_view content_type) {
    auto t = anthropic_->Create(anthropic_backend_);
    std::string body = stream ? R"({"model":"claude-sonnet-4-5","stream":true,"max_tokens":10,"messages":[]})"
                              : R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]})";
    EXPECT_TRUE(TranslateBody(*t, Endpoint::kMessages, body).ok());
    http::HeaderMap h;
    if (!content_type.empty()) h.Set("content-type", content_type);
    EXPECT_TRUE(t->TranslateResponseHeaders(200, h).empty()) << "a passthrough edits no headers";
    return t;
  }

  std::unique_ptr<TranslatorFactory> anthropic_ = NewAnthropicPassthroughFactory(config::ApiSchema::kAnthropic);
  std::unique_ptr<TranslatorFactory> vertex_ = NewAnthropicPassthroughFactory(config::ApiSchema::kGCPAnthropic);
  config::Backend anthropic_backend_;
  config::Backend vertex_backend_;
  std::unique_ptr<Translator> translator_;
};

TEST_F(AnthropicPassthroughTest, Metadata) {
  EXPECT_EQ(anthropic_->endpoint(), Endpoint::kMessages);
  EXPECT_EQ(anthropic_->from(), Dialect::kAnthropic);
  EXPECT_EQ(anthropic_->to(), config::ApiSchema::kAnthropic);
  EXPECT_EQ(vertex_->to(), config::ApiSchema::kGCPAnthropic);
  EXPECT_FALSE(anthropic_->NeedsDocument());
}

TEST_F(AnthropicPassthroughTest, BodyUnchangedAndDefaultVersion) {
  auto up = Translate(kRequest, false);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->path, "/v1/messages");
  EXPECT_FALSE(up->body.has_value()) << "the client's bytes go as they are";
  ASSERT_EQ(up->headers.set.size(), 1u);
  EXPECT_EQ(up->headers.set[0], (std::pair<std::string, std::string>{"anthropic-version", "2023-06-01"}));

  // The client's own version (and beta flags) travel with the client's headers untouched.
  http::HeaderMap h;
  h.Set("anthropic-version", "2023-01-01");
  h.Set("anthropic-beta", "context-1m-2025-08-07");
  up = Translate(kRequest, false, h);
  ASSERT_TRUE(up.ok());
  EXPECT_TRUE(up->headers.empty());
}

TEST_F(AnthropicPassthroughTest, PathPrefix) {
  anthropic_backend_.schema_prefix = "api/v2";
  auto up = Translate(kRequest, false);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/api/v2/messages");
}

TEST_F(AnthropicPassthroughTest, ModelOverrideIsSplicedIntoRawBytes) {
  auto up = Translate(kRequest, false, {}, "claude-opus-4-1");
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(up->body.has_value());
  EXPECT_EQ(*up->body,
            R"({"model": "claude-opus-4-1",  "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}], "temperature": 0.50})");
}

TEST_F(AnthropicPassthroughTest, VertexRequest) {
  auto up = Translate(kRequest, true, {}, "claude-sonnet-4-5@20250929");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->path,
            "/v1/projects/my-project/locations/global/publishers/anthropic/models/"
            "claude-sonnet-4-5@20250929:rawPredict");
  ASSERT_TRUE(up->body.has_value());
  // Member values keep their bytes (0.50 stays 0.50); model leaves, anthropic_version enters.
  EXPECT_EQ(*up->body,
            R"({"anthropic_version":"vertex-2023-10-16","max_tokens":1024,"messages":[{"role": "user", "content": "Hello"}],"temperature":0.50})");
  EXPECT_TRUE(up->headers.empty());

  // Streaming, and a client-sent anthropic_version is replaced by the backend's.
  up = Translate(R"({"anthropic_version":"x","model":"m","stream":true,"messages":[]})", true);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path, "/v1/projects/my-project/locations/global/publishers/anthropic/models/m:streamRawPredict");
  EXPECT_EQ(*up->body, R"({"anthropic_version":"vertex-2023-10-16","stream":true,"messages":[]})");
}

TEST_F(AnthropicPassthroughTest, RequestGoldens) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".anthropic.json")) {
    std::string stem = Stem(in, ".anthropic.json");
    SCOPED_TRACE(stem);
    ++n;
    auto up = Translate(ReadFile(in), true);
    ASSERT_TRUE(up.ok()) << up.status();
    ExpectGolden(kTestdata / (stem + ".vertex.json"), DescribeUpstream(*up));
  }
  EXPECT_GE(n, 1);
}

TEST_F(AnthropicPassthroughTest, VertexNeedsVersion) {
  vertex_backend_.schema_version.clear();
  auto up = Translate(kRequest, true);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  vertex_backend_.schema_version = "vertex-2023-10-16";
  vertex_backend_.auth.gcp_project.clear();
  EXPECT_EQ(Translate(kRequest, true).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AnthropicPassthroughTest, StreamsPassThroughUnchanged) {
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".sse")) {
    std::string stem = Stem(in, ".sse");
    if (stem.size() > 7 && stem.substr(stem.size() - 7) == ".client") continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string body = ReadFile(in);
    auto make = [&] { return Responder(true, "text/event-stream"); };
    auto result = FeedEverySplit(make, body);
    if (stem.rfind("stream_bad_", 0) == 0) {
      EXPECT_FALSE(result.status.ok());
      std::string client = result.out + make()->StreamError(ToStd(result.status.message()));
      EXPECT_TRUE(WellFormedSse(client)) << client;
      ExpectGolden(kTestdata / (stem + ".client.sse"), client);
    } else {
      EXPECT_TRUE(result.status.ok()) << result.status;
      EXPECT_EQ(result.out, body);
    }
  }
  EXPECT_GE(n, 4);
}

TEST_F(AnthropicPassthroughTest, StreamUsageAndModel) {
  auto t = Responder(true, "text/event-stream");
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(ReadFile(kTestdata / "stream_tools.sse"), true, &out).ok());
  EXPECT_EQ(t->usage().input_tokens, 472 + 10 + 5);
  EXPECT_EQ(t->usage().cached_input_tokens, 10);
  EXPECT_EQ(t->usage().cache_creation_input_tokens, 5);
  EXPECT_EQ(t->usage().output_tokens, 89);
  EXPECT_EQ(t->usage().total_tokens, 487 + 89);
  EXPECT_EQ(t->response_model(), "claude-sonnet-4-5-20250929");
}

TEST_F(AnthropicPassthroughTest, BufferedUsageAndModel) {
  auto t = Responder(false, "application/json");
  std::string body =
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"cache_read_input_tokens":7,"output_tokens":2}})";
  auto result = FeedEverySplit([&] { return Responder(false, "application/json"); }, body);
  EXPECT_TRUE(result.status.ok());
  EXPECT_EQ(result.out, body);
  std::string out;
  ASSERT_TRUE(t->TranslateResponseBody(body.substr(0, 20), false, &out).ok());
  ASSERT_TRUE(t->TranslateResponseBody(body.substr(20), true, &out).ok());
  EXPECT_EQ(out, body);
  EXPECT_EQ(t->usage().input_tokens, 10);
  EXPECT_EQ(t->usage().cached_input_tokens, 7);
  EXPECT_EQ(t->usage().output_tokens, 2);
  EXPECT_EQ(t->usage().total_tokens, 12);
  EXPECT_EQ(t->response_model(), "claude-haiku-4-5-20251001");
}

// Buffered answers (resp_*.json: thinking with its signature, text beside a parallel tool call,
// cache usage; escapes and layout a re-serialiser would change) reach the client byte for byte
// at every split, from Anthropic and from Vertex alike; the usage is read on the way.
TEST_F(AnthropicPassthroughTest, BufferedAnswerGoldensPassUnchanged) {
  struct Want {
    const char* file;
    int64_t input, cached, output;
    const char* model;
  } wants[] = {
      {"resp_tools_thinking.json", 412 + 1024 + 2048, 2048, 96, "claude-sonnet-4-5-20250929"},
      {"resp_text_unicode.json", 12, 0, 9, "claude-haiku-4-5-20251001"},
  };
  int n = 0;
  for (const auto& in : FilesEndingWith(kTestdata, ".json")) {
    if (in.filename().string().rfind("resp_", 0) != 0) continue;
    ++n;
    const Want* want = nullptr;
    for (const Want& w : wants)
      if (in.filename() == w.file) want = &w;
    ASSERT_NE(want, nullptr) << "no expectations for " << in;
    std::string body = ReadFile(in);
    for (bool vertex : {false, true}) {
      SCOPED_TRACE(in.filename().string() + (vertex ? " (vertex)" : ""));
      auto make = [&] {
        auto t = (vertex ? vertex_ : anthropic_)->Create(vertex ? vertex_backend_ : anthropic_backend_);
        EXPECT_TRUE(TranslateBody(*t, Endpoint::kMessages, kRequest).ok());
        http::HeaderMap h;
        h.Set("content-type", "application/json");
        EXPECT_TRUE(t->TranslateResponseHeaders(200, h).empty());
        return t;
      };
      auto result = FeedEverySplit(make, body);
      ASSERT_TRUE(result.status.ok()) << result.status;
      EXPECT_EQ(result.out, body);
      auto t = make();
      std::string out;
      ASSERT_TRUE(t->TranslateResponseBody(body, true, &out).ok());
      EXPECT_EQ(t->usage().input_tokens, want->input);
      EXPECT_EQ(t->usage().cached_input_tokens, want->cached);
      EXPECT_EQ(t->usage().output_tokens, want->output);
      EXPECT_EQ(t->response_model(), want->model);
    }
  }
  EXPECT_EQ(n, 2);
}

TEST_F(AnthropicPassthroughTest, StreamErrorIsAnthropicShaped) {
  auto t = Responder(true, "text/event-stream");
  std::string err = t->StreamError("upstream stream failed: idle timeout");
  EXPECT_EQ(err,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream "
            "stream failed: idle timeout\"}}\n\n");
}

TEST_F(AnthropicPassthroughTest, Errors) {
  std::string anthropic_body = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
  auto t = anthropic_->Create(anthropic_backend_);
  int status = 0;
  std::string out;
  t->TranslateError(529, http::HeaderMap(), anthropic_body, &status, &out);
  EXPECT_EQ(status, 529) << "Anthropic clients know 529";
  EXPECT_EQ(out, anthropic_body);

  // Vertex's front end answers in Google's shape; the client still gets Anthropic's.
  t = vertex_->Create(vertex_backend_);
  out.clear();
  t->TranslateError(429, http::HeaderMap(),
                    R"({"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com","status":"RESOURCE_EXHAUSTED"}})",
                    &status, &out);
  EXPECT_EQ(status, 429);
  EXPECT_EQ(out,
            R"({"type":"error","error":{"type":"rate_limit_error","message":"Quota exceeded for aiplatform.googleapis.com"}})");
  out.clear();
  t->TranslateError(503, http::HeaderMap(), "upstream connect error", &status, &out);
  EXPECT_EQ(out, R"({"type":"error","error":{"type":"overloaded_error","message":"upstream connect error"}})");
}

}  // namespace
}  // namespace sluice::translate
