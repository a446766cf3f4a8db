#include "translate/openai_to_awsanthropic/openai_to_awsanthropic.h"

#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/golden_test_util.h"
#include "translate/openai_to_bedrock/invoke_stream_test_util.h"

namespace sluice::translate {
namespace {

constexpr char kModel[] = "anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr int64_t kNow = 1700000000;

std::string Dir() { return golden::TestDataDir(__FILE__); }

struct Harness {
  explicit Harness(std::string_view client_json, std::string schema_version = "") {
    auto parsed = json::Parse(client_json);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    doc = std::move(*parsed);
    backend.schema = config::ApiSchema::kAWSAnthropic;
    backend.schema_version = std::move(schema_version);
    factory = NewOpenAIToAwsAnthropicFactory([] { return kNow; });
    translator = factory->Create(backend);
    ClientRequest req{Endpoint::kChatCompletions, client_json, doc, headers, kModel,
                      doc.GetBool("stream", false), "claude"};
    up = translator->TranslateRequest(req);
  }

  std::string Headers() {
    http::HeaderMap h;
    h.Add("x-amzn-requestid", "req-1");
    h.Add("content-type", doc.GetBool("stream", false) ? "application/vnd.amazon.eventstream" : "application/json");
    auto m = translator->TranslateResponseHeaders(200, h);
    m.ApplyTo(h);
    return std::string(h.Get("content-type").value_or(""));
  }

  json::Value doc;
  http::HeaderMap headers;
  config::Backend backend;
  std::unique_ptr<TranslatorFactory> factory;
  std::unique_ptr<Translator> translator;
  absl::StatusOr<UpstreamRequest> up = absl::UnknownError("unset");
};

TEST(OpenAIToAwsAnthropicTest, RequestGolden) {
  std::string client = golden::MustRead(Dir() + "req_tools.client.json");
  Harness h(client);
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream");
  auto body = json::Parse(*h.up->body);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->GetString("anthropic_version"), "bedrock-2023-05-31");
  EXPECT_EQ(body->Find("model"), nullptr);
  EXPECT_EQ(body->Find("stream"), nullptr);
  golden::ExpectGolden(Dir() + "req_tools.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

// A developer message, two inline images (PNG, JPEG), a parallel tool call with text beside it
// and both results (one as content parts), tool_choice required: Anthropic's blocks on
// InvokeModel, the two results in one user turn.
TEST(OpenAIToAwsAnthropicTest, RequestGoldenParallelToolsAndImages) {
  std::string client = golden::MustRead(Dir() + "req_parallel_images.client.json");
  Harness h(client);
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke");
  auto body = json::Parse(*h.up->body);
  ASSERT_TRUE(body.ok()) << *h.up->body;
  const json::Value* messages = body->Find("messages");
  ASSERT_NE(messages, nullptr);
  ASSERT_EQ(messages->items().size(), 3u);
  const json::Value& results = messages->items()[2];
  EXPECT_EQ(results.GetString("role"), "user");
  ASSERT_EQ(results.Find("content")->items().size(), 2u);
  EXPECT_EQ(results.Find("content")->items()[1].GetString("tool_use_id"), "toolu_l");
  golden::ExpectGolden(Dir() + "req_parallel_images.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

TEST(OpenAIToAwsAnthropicTest, RequestPathsVersionAndBetas) {
  const char* client = R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})";
  auto parsed = json::Parse(client);
  config::Backend backend;
  backend.schema_version = "bedrock-2099-01-01";
  auto factory = NewOpenAIToAwsAnthropicFactory([] { return kNow; });
  EXPECT_FALSE(factory->NeedsDocument());  // the wrapped mapping reads raw_body
  auto t = factory->Create(backend);
  http::HeaderMap headers;
  headers.Add("anthropic-beta", "prompt-caching-2024-07-31, interleaved-thinking-2025-05-14,context-1m-2025-08-07");
  ClientRequest req{Endpoint::kChatCompletions, client, *parsed, headers, "us.anthropic.claude-sonnet-4-v1:0",
                    false, "claude"};
  auto up = t->TranslateRequest(req);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->path, "/model/us.anthropic.claude-sonnet-4-v1%3A0/invoke");
  auto body = json::Parse(*up->body);
  EXPECT_EQ(body->GetString("anthropic_version"), "bedrock-2099-01-01");
  EXPECT_EQ(json::Serialize(*body->Find("anthropic_beta")),
            R"(["interleaved-thinking-2025-05-14","context-1m-2025-08-07"])");
  for (const auto& [n, v] : up->headers.set) EXPECT_NE(n, "anthropic-beta");
}

TEST(OpenAIToAwsAnthropicTest, RequestErrorsComeFromTheAnthropicMapping) {
  Harness h(R"({"model":"claude","messages":[{"role":"user","content":"x"}],"n":3})");
  EXPECT_EQ(h.up.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpenAIToAwsAnthropicTest, BufferedGoldens) {
  for (const char* name : {"resp_text", "resp_tools"}) {
    Harness h(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
    ASSERT_TRUE(h.up.ok());
    EXPECT_EQ(h.Headers(), "application/json");
    std::string out;
    absl::Status st = h.translator->TranslateResponseBody(golden::MustRead(Dir() + name + ".upstream.json"), true, &out);
    ASSERT_TRUE(st.ok()) << name << ": " << st;
    ASSERT_TRUE(json::Parse(out).ok()) << out;
    golden::ExpectGolden(Dir() + name + ".client.json", out + "\n");
  }
}

using bedrock_internal::testing::EncodeChunks;

std::string FeedPieces(std::string_view bytes, const std::vector<size_t>& cuts, absl::Status* status = nullptr) {
  Harness h(R"({"model":"claude","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.Headers(), "text/event-stream");
  std::string out;
  size_t begin = 0;
  absl::Status st;
  for (size_t i = 0; i <= cuts.size() && st.ok(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    st = h.translator->TranslateResponseBody(bytes.substr(begin, end - begin), i == cuts.size(), &out);
    begin = end;
  }
  if (!st.ok()) out += StreamErrorFor(*h.translator, st, ToStd(st.message()));
  if (status) *status = st;
  return out;
}

void ExpectWellFormedSse(const std::string& sse) {
  size_t pos = 0;
  int terminals = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << sse;
    std::string_view event(sse.data() + pos, end - pos);
    ASSERT_EQ(event.substr(0, 6), "data: ") << event;
    EXPECT_EQ(terminals, 0) << "event after the terminal: " << event;
    std::string_view data = event.substr(6);
    if (data == "[DONE]") {
      ++terminals;
    } else {
      auto doc = json::Parse(data);
      ASSERT_TRUE(doc.ok()) << data;
      if (doc->Find("error") != nullptr) ++terminals;
    }
    pos = end + 2;
  }
  EXPECT_EQ(terminals, 1) << sse;
}

TEST(OpenAIToAwsAnthropicTest, StreamGoldensSplitAtEveryByte) {
  const std::pair<const char*, bool> cases[] = {
      {"stream_text", true}, {"stream_tools", true}, {"stream_exception", false}};
  for (const auto& [name, ok] : cases) {
    std::string bytes = EncodeChunks(golden::MustRead(Dir() + name + ".events.json"));
    absl::Status st;
    std::string whole = FeedPieces(bytes, {}, &st);
    EXPECT_EQ(st.ok(), ok) << name << ": " << st;
    ExpectWellFormedSse(whole);
    golden::ExpectGolden(Dir() + name + ".client.sse", whole);
    for (size_t split = 0; split <= bytes.size(); ++split) {
      ASSERT_EQ(FeedPieces(bytes, {split}), whole) << name << " split at " << split;
    }
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < bytes.size(); ++i) every_byte.push_back(i);
    EXPECT_EQ(FeedPieces(bytes, every_byte), whole) << name << " byte by byte";
  }
}

TEST(OpenAIToAwsAnthropicTest, StreamUsage) {
  Harness h(R"({"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  h.Headers();
  std::string out;
  ASSERT_TRUE(h.translator->TranslateResponseBody(EncodeChunks(golden::MustRead(Dir() + "stream_tools.events.json")),
                                                  true, &out)
                  .ok());
  EXPECT_EQ(h.translator->usage().input_tokens, 30);
  EXPECT_EQ(h.translator->usage().output_tokens, 40);
}

std::string ChunkWithPayload(std::string_view payload) {
  return http::EncodeEventStreamMessage({http::EventStreamHeader::String(":event-type", "chunk"),
                                         http::EventStreamHeader::String(":message-type", "event")},
                                        payload);
}

void ExpectFailure(const std::string& bytes, std::string_view want) {
  absl::Status st;
  std::string whole = FeedPieces(bytes, {}, &st);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(want), std::string::npos) << st;
  ExpectWellFormedSse(whole);
  for (size_t split = 0; split <= bytes.size(); ++split) {
    ASSERT_EQ(FeedPieces(bytes, {split}), whole) << "split at " << split;
  }
}

TEST(OpenAIToAwsAnthropicTest, MalformedStreams) {
  std::string good = EncodeChunks(golden::MustRead(Dir() + "stream_text.events.json"));
  ExpectFailure(good.substr(0, good.size() - 7), "in the middle of a message");
  std::string bad_prelude = good;
  bad_prelude[8] ^= 0x10;
  ExpectFailure(bad_prelude, "prelude CRC");
  std::string bad_crc = good;
  bad_crc[40] ^= 0x10;
  ExpectFailure(bad_crc, "message CRC");
  ExpectFailure(ChunkWithPayload(R"({"bytes":"!!!notbase64"})"), "not base64");
  ExpectFailure(ChunkWithPayload(R"({"bytes":)"), "not a JSON object");
  ExpectFailure(ChunkWithPayload(R"({"bytes":")" + crypto::Base64Encode("{not json") + R"("})"), "");
}

TEST(OpenAIToAwsAnthropicTest, ErrorsUseTheBedrockDialect) {
  Harness h(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
  http::HeaderMap headers;
  headers.Add("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
  int status = 0;
  std::string out;
  h.translator->TranslateError(400, headers, R"({"message":"slow down"})", &status, &out);
  EXPECT_EQ(status, 429);
  EXPECT_EQ(out, R"({"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":"ThrottlingException"}})");
}

}  // namespace
}  // namespace sluice::translate
