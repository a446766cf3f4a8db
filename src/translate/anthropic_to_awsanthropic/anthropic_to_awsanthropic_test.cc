#include "translate/anthropic_to_awsanthropic/anthropic_to_awsanthropic.h"

#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/golden_test_util.h"
#include "translate/openai_to_bedrock/invoke_stream_test_util.h"

namespace sluice::translate {
namespace {

constexpr char kModel[] = "anthropic.claude-3-5-sonnet-20240620-v1:0";

std::string Dir() { return golden::TestDataDir(__FILE__); }

struct Harness {
  explicit Harness(std::string_view client_json, bool stream, std::string schema_version = "",
                   std::string_view beta = {}) {
    doc = json::Value::Object();  // NeedsDocument() is false: the pipeline passes {}
    if (!beta.empty()) headers.Add("anthropic-beta", beta);
    backend.schema = config::ApiSchema::kAWSAnthropic;
    backend.schema_version = std::move(schema_version);
    factory = NewAnthropicToAwsAnthropicFactory();
    translator = factory->Create(backend);
    ClientRequest req{Endpoint::kMessages, client_json, doc, headers, kModel, stream, "claude"};
    up = translator->TranslateRequest(req);
  }

  std::string Headers(bool stream) {
    http::HeaderMap h;
    h.Add("x-amzn-requestid", "req-1");
    h.Add("content-type", stream ? "application/vnd.amazon.eventstream" : "application/json");
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

TEST(AnthropicToAwsAnthropicTest, RequestGolden) {
  std::string client = golden::MustRead(Dir() + "req_tools.client.json");
  Harness h(client, true, "", "prompt-caching-2024-07-31, interleaved-thinking-2025-05-14");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream");
  auto body = json::Parse(*h.up->body);
  ASSERT_TRUE(body.ok()) << *h.up->body;
  EXPECT_EQ(body->GetString("anthropic_version"), "bedrock-2023-05-31");
  EXPECT_EQ(body->Find("model"), nullptr);
  EXPECT_EQ(body->Find("stream"), nullptr);
  EXPECT_EQ(json::Serialize(*body->Find("anthropic_beta")), R"(["interleaved-thinking-2025-05-14"])");
  for (const auto& [n, v] : h.up->headers.set) {
    EXPECT_NE(n, "anthropic-beta");
    EXPECT_NE(n, "anthropic-version");
  }
  golden::ExpectGolden(Dir() + "req_tools.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

// Images (base64, one with a cache point), a parallel tool call and both results, buffered:
// the content goes to InvokeModel as the client wrote it, only model and stream leave the body.
TEST(AnthropicToAwsAnthropicTest, RequestGoldenParallelToolsAndImages) {
  std::string client = golden::MustRead(Dir() + "req_parallel_images.client.json");
  Harness h(client, false, "", "");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke");
  auto body = json::Parse(*h.up->body);
  auto sent = json::Parse(client);
  ASSERT_TRUE(body.ok() && sent.ok()) << *h.up->body;
  EXPECT_EQ(json::Serialize(*body->Find("messages")), json::Serialize(*sent->Find("messages")));
  EXPECT_EQ(json::Serialize(*body->Find("tools")), json::Serialize(*sent->Find("tools")));
  golden::ExpectGolden(Dir() + "req_parallel_images.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

TEST(AnthropicToAwsAnthropicTest, RequestBufferedVersionAndNoBetas) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":false,"anthropic_version":"x","messages":[{"role":"user","content":"hi"}]})",
            false, "bedrock-2099-01-01", "prompt-caching-2024-07-31");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke");
  EXPECT_EQ(*h.up->body,
            R"({"anthropic_version":"bedrock-2099-01-01","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
}

TEST(AnthropicToAwsAnthropicTest, RequestNotAnObject) {
  Harness h("[1,2]", false);
  EXPECT_EQ(h.up.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AnthropicToAwsAnthropicTest, BufferedPassesThroughWithUsage) {
  Harness h(R"({"model":"claude","max_tokens":5,"messages":[]})", false);
  ASSERT_TRUE(h.up.ok());
  EXPECT_EQ(h.Headers(false), "application/json");
  std::string upstream = golden::MustRead(Dir() + "resp_tools.json");
  std::string out;
  ASSERT_TRUE(h.translator->TranslateResponseBody(upstream, true, &out).ok());
  EXPECT_EQ(out, upstream);
  EXPECT_GT(h.translator->usage().output_tokens, 0);
}

using bedrock_internal::testing::EncodeChunks;

std::string FeedPieces(std::string_view bytes, const std::vector<size_t>& cuts, absl::Status* status = nullptr) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})", true);
  EXPECT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.Headers(true), "text/event-stream");
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

// Every event is `event: <type>\ndata: <json whose type is <type>>\n\n`; exactly one terminal
// (message_stop or error) and it is last.
void ExpectWellFormedAnthropicSse(const std::string& sse) {
  size_t pos = 0;
  int terminals = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << sse;
    std::string_view event(sse.data() + pos, end - pos);
    EXPECT_EQ(terminals, 0) << "event after the terminal: " << event;
    ASSERT_EQ(event.substr(0, 7), "event: ") << event;
    size_t nl = event.find('\n');
    ASSERT_NE(nl, std::string_view::npos) << event;
    std::string_view type = event.substr(7, nl - 7);
    std::string_view data_line = event.substr(nl + 1);
    ASSERT_EQ(data_line.substr(0, 6), "data: ") << event;
    auto doc = json::Parse(data_line.substr(6));
    ASSERT_TRUE(doc.ok()) << event;
    EXPECT_EQ(doc->GetString("type"), type) << event;
    if (type == "message_stop" || type == "error") ++terminals;
    if (type == "error") {
      EXPECT_FALSE(doc->Find("error")->GetString("message").empty()) << event;
    }
    pos = end + 2;
  }
  EXPECT_EQ(terminals, 1) << sse;
}

TEST(AnthropicToAwsAnthropicTest, StreamGoldensSplitAtEveryByte) {
  const std::pair<const char*, bool> cases[] = {
      {"stream_text", true}, {"stream_tools", true}, {"stream_exception", false}};
  for (const auto& [name, ok] : cases) {
    std::string bytes = EncodeChunks(golden::MustRead(Dir() + name + ".events.json"));
    absl::Status st;
    std::string whole = FeedPieces(bytes, {}, &st);
    EXPECT_EQ(st.ok(), ok) << name << ": " << st;
    ExpectWellFormedAnthropicSse(whole);
    golden::ExpectGolden(Dir() + name + ".client.sse", whole);
    for (size_t split = 0; split <= bytes.size(); ++split) {
      ASSERT_EQ(FeedPieces(bytes, {split}), whole) << name << " split at " << split;
    }
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < bytes.size(); ++i) every_byte.push_back(i);
    EXPECT_EQ(FeedPieces(bytes, every_byte), whole) << name << " byte by byte";
  }
}

TEST(AnthropicToAwsAnthropicTest, StreamUsageAndModel) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":true,"messages":[]})", true);
  h.Headers(true);
  std::string out;
  ASSERT_TRUE(h.translator->TranslateResponseBody(EncodeChunks(golden::MustRead(Dir() + "stream_tools.events.json")),
                                                  true, &out)
                  .ok());
  EXPECT_EQ(h.translator->usage().input_tokens, 30);
  EXPECT_EQ(h.translator->usage().output_tokens, 40);
  EXPECT_EQ(h.translator->response_model(), "claude-3-5-sonnet-20240620");
}

TEST(AnthropicToAwsAnthropicTest, BrokenCrcIsAnErrorAndEndsWellFormed) {
  std::string bytes = EncodeChunks(golden::MustRead(Dir() + "stream_text.events.json"));
  bytes[bytes.size() / 2] ^= 0x5a;
  absl::Status st;
  std::string out = FeedPieces(bytes, {}, &st);
  EXPECT_FALSE(st.ok());
  ExpectWellFormedAnthropicSse(out);
}

TEST(AnthropicToAwsAnthropicTest, CutStreamIsAnError) {
  std::string bytes = EncodeChunks(golden::MustRead(Dir() + "stream_text.events.json"));
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{5}}) {
    absl::Status st;
    std::string out = FeedPieces(std::string_view(bytes).substr(0, cut), {}, &st);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << cut << ": " << st;
    ExpectWellFormedAnthropicSse(out);
  }
}

TEST(AnthropicToAwsAnthropicTest, StreamWithoutMessageStopIsAnError) {
  // Whole messages, but the provider closed before message_stop.
  std::string events = golden::MustRead(Dir() + "stream_text.events.json");
  auto doc = json::Parse(events);
  ASSERT_TRUE(doc.ok());
  json::Value cut = json::Value::Array();
  for (size_t i = 0; i + 1 < doc->size(); ++i) cut.Append(json::Value(doc->items()[i]));
  absl::Status st;
  std::string out = FeedPieces(EncodeChunks(json::Serialize(cut)), {}, &st);
  EXPECT_FALSE(st.ok());
  ExpectWellFormedAnthropicSse(out);
}

TEST(AnthropicToAwsAnthropicTest, MalformedChunks) {
  for (std::string_view payload : {R"({"nobytes":1})", R"({"bytes":"!!!"})", "not json",
                                   R"({"bytes":"eyJhIjoxfQ=="})" /* {"a":1}: no type */}) {
    std::string bytes = http::EncodeEventStreamMessage({http::EventStreamHeader::String(":event-type", "chunk"),
                                                        http::EventStreamHeader::String(":message-type", "event")},
                                                       payload);
    absl::Status st;
    std::string out = FeedPieces(bytes, {}, &st);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << payload;
    ExpectWellFormedAnthropicSse(out);
  }
}

TEST(AnthropicToAwsAnthropicTest, ErrorsBecomeAnthropicShape) {
  struct Case {
    int status;
    const char* errortype;
    const char* body;
    int want_status;
    const char* want_type;
    const char* want_message;
  };
  const Case cases[] = {
      {400, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
       R"({"message":"Too many requests, please wait before trying again."})", 429, "rate_limit_error",
       "Too many requests, please wait before trying again."},
      {400, "ValidationException", R"({"Message":"max_tokens: field required"})", 400, "invalid_request_error",
       "max_tokens: field required"},
      {403, "AccessDeniedException", R"({"message":"no access"})", 403, "permission_error", "no access"},
      {503, "ServiceUnavailableException", "", 503, "overloaded_error", "the AWSBedrock backend answered HTTP 503"},
      {500, "", "plain text failure", 500, "api_error", "plain text failure"},
  };
  for (const Case& c : cases) {
    Harness h(R"({"model":"claude","max_tokens":5,"messages":[]})", false);
    http::HeaderMap headers;
    if (*c.errortype) headers.Add("x-amzn-errortype", c.errortype);
    int status = 0;
    std::string out;
    h.translator->TranslateError(c.status, headers, c.body, &status, &out);
    EXPECT_EQ(status, c.want_status) << c.errortype;
    auto doc = json::Parse(out);
    ASSERT_TRUE(doc.ok()) << out;
    EXPECT_EQ(doc->GetString("type"), "error");
    EXPECT_EQ(doc->Find("error")->GetString("type"), c.want_type) << out;
    EXPECT_EQ(doc->Find("error")->GetString("message"), c.want_message) << out;
  }
  // A model error Bedrock relays in Anthropic's own shape passes through.
  Harness h(R"({"model":"claude","max_tokens":5,"messages":[]})", false);
  const char* anthropic = R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})";
  int status = 0;
  std::string out;
  h.translator->TranslateError(400, http::HeaderMap(), anthropic, &status, &out);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(out, anthropic);
}

TEST(AnthropicToAwsAnthropicTest, RegisteredForMessages) {
  auto f = NewAnthropicToAwsAnthropicFactory();
  EXPECT_EQ(f->endpoint(), Endpoint::kMessages);
  EXPECT_EQ(f->from(), Dialect::kAnthropic);
  EXPECT_EQ(f->to(), config::ApiSchema::kAWSAnthropic);
}

}  // namespace
}  // namespace sluice::translate
