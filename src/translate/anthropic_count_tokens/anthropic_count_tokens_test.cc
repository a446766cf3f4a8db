#include "translate/anthropic_count_tokens/anthropic_count_tokens.h"

#include "common/strings.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

constexpr std::string_view kClientBody =
    R"({"model":"claude-alias","system":"Be brief.","messages":[{"role":"user","content":"count these words"}],)"
    R"("tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2048}})";

struct Counted {
  absl::StatusOr<UpstreamRequest> up = absl::UnknownError("unset");
  std::unique_ptr<Translator> translator;
  json::Value body;  // the upstream body, parsed
};

Counted Translate(config::ApiSchema schema, std::string_view model, std::string_view client_body = kClientBody,
                  const http::HeaderMap& headers = {}) {
  config::Backend b;
  b.name = "default/backend";
  b.schema = schema;
  if (schema == config::ApiSchema::kAnthropic) b.schema_prefix = "v1";
  if (schema == config::ApiSchema::kGCPAnthropic) {
    b.schema_version = "vertex-2023-10-16";
    b.auth.gcp_project = "proj";
    b.auth.gcp_region = "us-east5";
  }
  auto factory = NewAnthropicCountTokensFactory(schema);
  EXPECT_EQ(factory->endpoint(), Endpoint::kCountTokens);
  EXPECT_EQ(factory->from(), Dialect::kAnthropic);
  Counted c;
  c.translator = factory->Create(b);
  auto doc = json::Parse(client_body);
  EXPECT_TRUE(doc.ok());
  ClientRequest req{Endpoint::kCountTokens, client_body, *doc, headers, model, false, "claude-alias"};
  c.up = c.translator->TranslateRequest(req);
  if (c.up.ok()) {
    auto body = json::Parse(c.up->body ? std::string_view(*c.up->body) : client_body);
    EXPECT_TRUE(body.ok());
    if (body.ok()) c.body = std::move(*body);
  }
  return c;
}

std::string Answer(Translator& t, std::string_view upstream, absl::Status* st = nullptr) {
  std::string out;
  absl::Status s = t.TranslateResponseBody(upstream.substr(0, 5), false, &out);
  if (s.ok()) s = t.TranslateResponseBody(upstream.substr(5), true, &out);
  if (st) *st = s;
  return out;
}

// The InvokeModel body inside a CountTokens {"input":{"invokeModel":{"body":<base64>}}}.
json::Value InvokeModelBody(const json::Value& wrapped) {
  const json::Value* input = wrapped.Find("input");
  const json::Value* invoke = input != nullptr ? input->Find("invokeModel") : nullptr;
  EXPECT_NE(invoke, nullptr) << json::Serialize(wrapped);
  if (invoke == nullptr) return json::Value();
  auto raw = crypto::Base64Decode(invoke->GetString("body"));
  EXPECT_TRUE(raw.ok());
  auto inner = raw.ok() ? json::Parse(*raw) : absl::StatusOr<json::Value>(raw.status());
  EXPECT_TRUE(inner.ok()) << (raw.ok() ? *raw : std::string());
  return inner.ok() ? std::move(*inner) : json::Value();
}

TEST(AnthropicCountTokensTest, AnthropicKeepsTheBodyAndCountsAtCountTokens) {
  http::HeaderMap h;
  h.Add("anthropic-beta", "token-counting-2024-11-01");
  auto c = Translate(config::ApiSchema::kAnthropic, "claude-sonnet-4-5", kClientBody, h);
  ASSERT_TRUE(c.up.ok()) << c.up.status();
  EXPECT_EQ(c.up->path, "/v1/messages/count_tokens");
  EXPECT_EQ(c.body.GetString("model"), "claude-sonnet-4-5");  // the override, spliced in
  EXPECT_NE(c.body.Find("tools"), nullptr);
  EXPECT_EQ(Answer(*c.translator, R"({"input_tokens":4242,"context_management":{"x":1}})"),
            R"({"input_tokens":4242,"context_management":{"x":1}})");
  EXPECT_EQ(c.translator->usage().input_tokens, 4242);
  EXPECT_EQ(c.translator->usage().total_tokens, 4242);
  EXPECT_EQ(c.translator->usage().output_tokens, 0);
}

TEST(AnthropicCountTokensTest, VertexUsesCountTokensRawPredictWithTheModelInTheBody) {
  for (std::string_view model : {"claude-sonnet-4-5@20250929", "claude-sonnet-4-5@default"}) {
    auto c = Translate(config::ApiSchema::kGCPAnthropic, model);
    ASSERT_TRUE(c.up.ok()) << c.up.status();
    EXPECT_EQ(c.up->path,
              "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict");
    EXPECT_EQ(c.body.GetString("anthropic_version"), "vertex-2023-10-16");
    EXPECT_EQ(c.body.GetString("model"), model == "claude-sonnet-4-5@default" ? "claude-sonnet-4-5" : model);
    EXPECT_EQ(c.body.Find("stream"), nullptr);
    EXPECT_EQ(Answer(*c.translator, R"({"input_tokens":17})"), R"({"input_tokens":17})");
  }
}

TEST(AnthropicCountTokensTest, AwsAnthropicWrapsTheInvokeModelBody) {
  http::HeaderMap h;
  h.Add("anthropic-beta", "interleaved-thinking-2025-05-14");
  auto c = Translate(config::ApiSchema::kAWSAnthropic, "anthropic.claude-3-7-sonnet-20250219-v1:0", kClientBody, h);
  ASSERT_TRUE(c.up.ok()) << c.up.status();
  EXPECT_EQ(c.up->path, "/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/count-tokens");
  const json::Value inner = InvokeModelBody(c.body);
  ASSERT_TRUE(inner.is_object());
  EXPECT_EQ(inner.GetString("anthropic_version"), "bedrock-2023-05-31");
  EXPECT_EQ(inner.Find("model"), nullptr);
  EXPECT_EQ(inner.Find("max_tokens")->as_int(), 2049);  // above the thinking budget
  EXPECT_EQ(json::Serialize(*inner.Find("anthropic_beta")), R"(["interleaved-thinking-2025-05-14"])");
  EXPECT_EQ(json::Serialize(*inner.Find("messages")), R"([{"role":"user","content":"count these words"}])");
  EXPECT_EQ(Answer(*c.translator, R"({"inputTokens":31})"), R"({"input_tokens":31})");
  EXPECT_EQ(c.translator->usage().input_tokens, 31);

  // A client max_tokens is kept.
  auto kept = Translate(config::ApiSchema::kAWSAnthropic, "anthropic.claude-3-haiku-20240307-v1:0",
                        R"({"model":"m","max_tokens":77,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(kept.up.ok());
  const json::Value kept_inner = InvokeModelBody(kept.body);
  ASSERT_NE(kept_inner.Find("max_tokens"), nullptr);
  EXPECT_EQ(kept_inner.Find("max_tokens")->as_int(), 77);
}

TEST(AnthropicCountTokensTest, BedrockConverseSendsMessagesSystemAndTools) {
  auto c = Translate(config::ApiSchema::kAWSBedrock, "us.anthropic.claude-3-7-sonnet-20250219-v1:0");
  ASSERT_TRUE(c.up.ok()) << c.up.status();
  EXPECT_EQ(c.up->path, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/count-tokens");
  const json::Value* converse = c.body.Find("input") ? c.body.Find("input")->Find("converse") : nullptr;
  ASSERT_NE(converse, nullptr) << json::Serialize(c.body);
  EXPECT_EQ(json::Serialize(*converse),
            R"({"messages":[{"role":"user","content":[{"text":"count these words"}]}],"system":[{"text":"Be brief."}],)"
            R"("toolConfig":{"tools":[{"toolSpec":{"name":"f","description":"d","inputSchema":{"json":{"type":"object"}}}}]},)"
            R"("additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}})");
  EXPECT_EQ(Answer(*c.translator, R"({"inputTokens":12})"), R"({"input_tokens":12})");
}

// Tools and model fields count too (ConverseTokensRequest has toolConfig and
// additionalModelRequestFields); Converse-only members such as inferenceConfig are left out.
TEST(AnthropicCountTokensTest, BedrockConverseCountsToolsAndModelFields) {
  auto c = Translate(config::ApiSchema::kAWSBedrock, "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                     R"({"model":"m","max_tokens":2048,"temperature":0.5,"top_k":5,)"
                     R"("thinking":{"type":"enabled","budget_tokens":1024},)"
                     R"("tools":[{"name":"get_weather","description":"Weather for a city",)"
                     R"("input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],)"
                     R"("tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"weather?"}]})");
  ASSERT_TRUE(c.up.ok()) << c.up.status();
  const json::Value* converse = c.body.Find("input") ? c.body.Find("input")->Find("converse") : nullptr;
  ASSERT_NE(converse, nullptr) << json::Serialize(c.body);
  const json::Value* tools = converse->Find("toolConfig");
  ASSERT_NE(tools, nullptr) << json::Serialize(*converse);
  EXPECT_EQ(json::Serialize(*tools->Find("tools")),
            R"([{"toolSpec":{"name":"get_weather","description":"Weather for a city",)"
            R"("inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}])");
  const json::Value* extra = converse->Find("additionalModelRequestFields");
  ASSERT_NE(extra, nullptr) << json::Serialize(*converse);
  EXPECT_NE(extra->Find("thinking"), nullptr);
  EXPECT_EQ(converse->Find("inferenceConfig"), nullptr);
  for (const auto& [key, value] : converse->members()) {
    EXPECT_TRUE(key == "messages" || key == "system" || key == "toolConfig" || key == "additionalModelRequestFields")
        << key << " is not a member of ConverseTokensRequest";
  }
}

TEST(AnthropicCountTokensTest, BadAnswersAndErrors) {
  for (auto schema : {config::ApiSchema::kAnthropic, config::ApiSchema::kAWSBedrock}) {
    for (std::string_view bad : {R"({"tokens":3})", "not json at all", R"({"input_tokens":"3","inputTokens":"3"})"}) {
      auto c = Translate(schema, "anthropic.claude-3-haiku-20240307-v1:0");
      ASSERT_TRUE(c.up.ok());
      absl::Status st;
      Answer(*c.translator, bad, &st);
      EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << bad;
    }
  }
  // Bedrock's errors come back Anthropic-shaped.
  auto c = Translate(config::ApiSchema::kAWSBedrock, "anthropic.claude-3-haiku-20240307-v1:0");
  http::HeaderMap h;
  h.Add("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
  int status = 0;
  std::string out;
  c.translator->TranslateError(429, h, R"({"message":"Too many requests"})", &status, &out);
  EXPECT_EQ(status, 429);
  auto err = json::Parse(out);
  ASSERT_TRUE(err.ok()) << out;
  EXPECT_EQ(err->GetString("type"), "error");
  EXPECT_EQ(err->Find("error")->GetString("type"), "rate_limit_error");
}

}  // namespace
}  // namespace sluice::translate
