#include "gateway/pipeline.h"

#include <set>

#include "common/strings.h"
#include "compiler/resources/resources.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::gateway {
namespace {

constexpr const char* kConfig = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-a}]}]
      backendRefs:
        - {name: primary, weight: 1}
        - {name: secondary, weight: 3}
        - {name: fallback, priority: 1, modelNameOverride: "fallback-\"model\""}
      timeouts: {request: 30s, backendRequest: 10s}
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-tenant}, {type: Exact, name: x-tenant, value: blue}]}]
      backendRefs: [{name: primary, bodyMutation: {set: [{path: temperature, value: "0.5"}], remove: [user]}}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: claude-on-bedrock}]}]
      backendRefs: [{name: bedrock, bodyMutation: {remove: [additionalModelRequestFields]}}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: titan}]}]
      backendRefs: [{name: bedrock, modelNameOverride: "amazon.titan-embed-text-v2:0"}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws-creds}}
---
apiVersion: v1
kind: Secret
metadata: {name: aws-creds}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDPIPELINE
    aws_secret_access_key = pipeline-secret
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: primary}
spec:
  schema: {name: OpenAI}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
  headerMutation: {set: [{name: x-backend, value: primary}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: secondary}
spec:
  schema: {name: OpenAI, prefix: api/v2}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: fallback}
spec:
  schema: {name: OpenAI}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: p}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: k}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: primary}]
  type: APIKey
  apiKey: {secretRef: {name: k}}
---
apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: sk-primary}
)";

std::shared_ptr<const config::Config> BuildFromYaml(const char* yaml) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  compiler::ParseResources(yaml, "t.yaml", &set, &diags);
  auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, {}, &diags));
  EXPECT_FALSE(diags.HasErrors());
  return cfg;
}

std::shared_ptr<const Runtime> LoadConfig() {
  auto rt = Runtime::Build(BuildFromYaml(kConfig));
  EXPECT_TRUE(rt.ok());
  return *rt;
}

class PipelineTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Runtime> cfg_ = LoadConfig();
  uint64_t next_random_ = 0;
  Pipeline Make() {
    return Pipeline(cfg_, [this] { return next_random_; });
  }
  http::HeaderMap Headers() {
    http::HeaderMap h;
    h.Add("host", "gw.local:1975");
    h.Add("authorization", "Bearer client-key");
    h.Add("content-type", "application/json");
    h.Add("connection", "keep-alive");
    h.Add("x-custom", "kept");
    return h;
  }
};

// AzureCredentials without a client secret is Azure workload identity when AKS mounted the
// federated token file, and managed identity without it: the runtime builds, and its signer
// answers Unavailable (a 503 for the client) until a token was fetched.
TEST(RuntimeTest, AzureWithoutASecretOrFederatedTokenUsesManagedIdentity) {
  const char* yaml = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-azure}]}]
      backendRefs: [{name: azure}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: azure}
spec:
  schema: {name: AzureOpenAI, version: "2024-10-21"}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: p}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: wi}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: azure}]
  type: AzureCredentials
  azureCredentials: {clientID: client-wi, tenantID: tenant-wi}
)";
  auto cfg = BuildFromYaml(yaml);
  ASSERT_EQ(cfg->backends.size(), 1u);
  EXPECT_EQ(cfg->backends[0].auth.type, config::BackendAuth::Type::kAzureToken);
  EXPECT_TRUE(cfg->backends[0].auth.azure_client_secret.empty());
  const char* saved = getenv("AZURE_FEDERATED_TOKEN_FILE");
  std::string keep = saved ? saved : "";
  unsetenv("AZURE_FEDERATED_TOKEN_FILE");
  auto rt = Runtime::Build(cfg);
  if (saved) setenv("AZURE_FEDERATED_TOKEN_FILE", keep.c_str(), 1);
  ASSERT_TRUE(rt.ok()) << rt.status();
  http::HeaderMap none;
  auth::SigningRequest req{"POST", "x.openai.azure.com", "/openai/deployments/d/chat/completions", none, "{}"};
  auto m = (*rt)->signers.at(0)->Sign(req);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(m.status().message()).find("azure:managed-identity:client-wi"), std::string::npos) << m.status();
}

int StatusOf(const Decision& d) {
  if (auto* i = std::get_if<ImmediateResponse>(&d)) return i->status;
  return 0;
}

TEST_F(PipelineTest, RoutesSignsAndKeepsBodyUnchanged) {
  auto h = Headers();
  Pipeline p = Make();
  ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions?x=1", h));
  std::string body = R"({"model":"gpt-a","messages":[{"role":"user","content":"hi"}],"stream":true})";
  next_random_ = 0;  // weight 1 of 4 -> primary
  Decision d = p.OnRequestBody(body);
  auto* up = std::get_if<UpstreamRequest>(&d);
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->backend->name, "default/primary");
  EXPECT_EQ(up->path, "/v1/chat/completions?x=1");
  EXPECT_FALSE(up->body.has_value());  // pass-through: the client's bytes
  EXPECT_TRUE(p.stream());
  EXPECT_EQ(up->timeout, std::chrono::seconds(10));
  http::HeaderMap out = h;
  up->headers.ApplyTo(out);
  EXPECT_EQ(*out.Get("authorization"), "Bearer sk-primary");
  EXPECT_EQ(*out.Get("x-backend"), "primary");
  EXPECT_EQ(*out.Get("x-custom"), "kept");
  EXPECT_EQ(*out.Get("x-ai-eg-model"), "gpt-a");
  EXPECT_FALSE(out.Has("host"));
  EXPECT_FALSE(out.Has("connection"));
}

TEST_F(PipelineTest, WeightedChoiceFollowsWeights) {
  auto h = Headers();
  std::string body = R"({"model":"gpt-a"})";
  for (uint64_t r = 0; r < 4; ++r) {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    next_random_ = r;
    auto d = p.OnRequestBody(body);
    auto& up = std::get<UpstreamRequest>(d);
    EXPECT_EQ(up.backend->name, r == 0 ? "default/primary" : "default/secondary") << r;
    if (r > 0) {
      EXPECT_EQ(up.path, "/api/v2/chat/completions");
      http::HeaderMap out = h;
      up.headers.ApplyTo(out);
      EXPECT_FALSE(out.Has("authorization"));  // the client's key never goes upstream
    }
  }
}

TEST_F(PipelineTest, FallbackToNextPriorityWithSplicedModelOverride) {
  auto h = Headers();
  Pipeline p = Make();
  ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
  std::string body = R"({ "model" : "gpt-a", "messages":[{"model":"inner"}]})";
  auto d = p.OnRequestBody(body);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  auto decision = p.OnAttemptFailed();
  ASSERT_TRUE(decision.has_value());
  auto* next = std::get_if<UpstreamRequest>(&*decision);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->backend->name, "default/fallback");
  ASSERT_TRUE(next->body.has_value());
  EXPECT_EQ(*next->body, R"({ "model" : "fallback-\"model\"", "messages":[{"model":"inner"}]})");
  EXPECT_FALSE(p.OnAttemptFailed().has_value());
}

TEST_F(PipelineTest, HeaderMatchesAndBodyMutation) {
  auto h = Headers();
  std::string body = R"({"model":"gpt-tenant","user":"u1","temperature":1})";
  {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    EXPECT_EQ(StatusOf(p.OnRequestBody(body)), 404);  // x-tenant missing
  }
  h.Add("x-tenant", "blue");
  Pipeline p = Make();
  ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
  auto d = p.OnRequestBody(body);
  auto& up = std::get<UpstreamRequest>(d);
  ASSERT_TRUE(up.body.has_value());
  EXPECT_EQ(*up.body, R"({"model":"gpt-tenant","temperature":0.5})");
}

// A body mutation is the operator's configuration: when translation nests the body deeper
// than it can be parsed again to apply the mutation, the request is refused rather than sent
// without it. OpenAI's tool parameters sit two levels shallower than Bedrock's inputSchema.json.
TEST_F(PipelineTest, BodyMutationNeverSkipped) {
  auto h = Headers();
  auto body_with_depth = [](int levels) {
    std::string schema;
    for (int i = 0; i < levels; ++i) schema += R"({"a":)";
    schema += "1";
    schema.append(levels, '}');
    return std::string(R"({"model":"claude-on-bedrock","messages":[{"role":"user","content":"hi"}],)") +
           R"("reasoning_effort":"low","tools":[{"type":"function","function":{"name":"f","parameters":)" + schema +
           "}}]}";
  };
  // Within the limit after translation: the mutation removed the field.
  {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    auto d = p.OnRequestBody(body_with_depth(4));
    auto* up = std::get_if<UpstreamRequest>(&d);
    ASSERT_NE(up, nullptr) << StatusOf(d);
    ASSERT_TRUE(up->body.has_value());
    EXPECT_NE(up->body->find("inputSchema"), std::string::npos);
    EXPECT_EQ(up->body->find("additionalModelRequestFields"), std::string::npos) << *up->body;
  }
  // The client's body is at the parser's limit (it parses), the translated one is past it.
  Pipeline p = Make();
  ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
  auto d = p.OnRequestBody(body_with_depth(json::kMaxDepth - 5));
  auto* imm = std::get_if<ImmediateResponse>(&d);
  ASSERT_NE(imm, nullptr) << "the request went upstream without its body mutation";
  EXPECT_EQ(imm->status, 400);
  auto j = json::Parse(imm->body);
  ASSERT_TRUE(j.ok());
  EXPECT_NE(j->Find("error")->GetString("message").find("body mutation"), std::string::npos) << imm->body;
}

// A request the backend cannot express is the client's 400, naming the field in `param` as
// OpenAI's own errors do.
TEST_F(PipelineTest, UntranslatableRequestNamesTheField) {
  auto h = Headers();
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"model":"claude-on-bedrock","messages":[]})", "messages"},
      {R"({"model":"claude-on-bedrock","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]})",
       "messages[0].content[0]"},
  };
  for (const auto& c : cases) {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    auto d = p.OnRequestBody(c.body);
    auto* imm = std::get_if<ImmediateResponse>(&d);
    ASSERT_NE(imm, nullptr) << c.body;
    EXPECT_EQ(imm->status, 400);
    auto j = json::Parse(imm->body);
    ASSERT_TRUE(j.ok());
    const json::Value* err = j->Find("error");
    ASSERT_NE(err, nullptr);
    EXPECT_EQ(err->GetString("param"), c.param) << imm->body;
    EXPECT_EQ(err->GetString("type"), "invalid_request_error");
    EXPECT_EQ(err->GetString("message").rfind(std::string(c.param) + ": ", 0), 0u) << imm->body;
  }
}

TEST_F(PipelineTest, ErrorsInOpenAIShape) {
  auto h = Headers();
  struct Case {
    const char* body;
    int status;
    const char* code;
  } cases[] = {
      {"{not json", 400, "invalid_json"},
      {"[1,2]", 400, "invalid_json"},
      {R"({"messages":[]})", 400, "missing_required_parameter"},
      {R"({"model":42})", 400, "invalid_type"},
      {R"({"model":"nope"})", 404, "model_not_found"},
  };
  for (const auto& c : cases) {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/embeddings", h));
    auto d = p.OnRequestBody(c.body);
    auto* imm = std::get_if<ImmediateResponse>(&d);
    ASSERT_NE(imm, nullptr) << c.body;
    EXPECT_EQ(imm->status, c.status) << c.body;
    auto j = json::Parse(imm->body);
    ASSERT_TRUE(j.ok());
    const json::Value* err = j->Find("error");
    ASSERT_NE(err, nullptr);
    EXPECT_EQ(err->GetString("code"), c.code) << imm->body;
    EXPECT_FALSE(err->GetString("message").empty());
    EXPECT_FALSE(err->GetString("type").empty());
  }
}

TEST_F(PipelineTest, LocalAnswers) {
  auto h = Headers();
  {
    Pipeline p = Make();
    auto r = p.OnRequestHeaders("GET", "/v1/models", h);
    ASSERT_TRUE(r);
    auto j = json::Parse(r->body);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->GetString("object"), "list");
    ASSERT_EQ(j->Find("data")->size(), 4u);
    EXPECT_EQ(j->Find("data")->items()[0].GetString("id"), "gpt-a");
    EXPECT_EQ(j->Find("data")->items()[1].GetString("id"), "gpt-tenant");
    EXPECT_EQ(j->Find("data")->items()[2].GetString("id"), "claude-on-bedrock");
    EXPECT_EQ(j->Find("data")->items()[3].GetString("id"), "titan");
  }
  {
    Pipeline p = Make();
    auto r = p.OnRequestHeaders("GET", "/health", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    Pipeline p = Make();
    auto r = p.OnRequestHeaders("GET", "/v1/chat/completions", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
  }
  {
    Pipeline p = Make();
    auto r = p.OnRequestHeaders("POST", "/v2/whatever", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_NE(r->body.find(R"("error":{"message":"unsupported path: /v2/whatever")"), std::string::npos) << r->body;
  }
  for (const char* anthropic_path : {"/v1/messages/count_tokens", "/anthropic/v1/messages/batches"}) {
    // Anthropic's SDK reads {"type":"error","error":{"type":"not_found_error",...}}. Token
    // counting is served, but not by an OpenAI backend: "absent" (clients then estimate).
    Pipeline p = Make();
    std::optional<ImmediateResponse> r = p.OnRequestHeaders("POST", anthropic_path, h);
    if (std::string_view(anthropic_path) == "/v1/messages/count_tokens") {
      ASSERT_FALSE(r);
      Decision d = p.OnRequestBody(R"({"model":"gpt-a","messages":[{"role":"user","content":"hi"}]})");
      auto* imm = std::get_if<ImmediateResponse>(&d);
      ASSERT_NE(imm, nullptr);
      r = *imm;
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    auto j = json::Parse(r->body);
    ASSERT_TRUE(j.ok()) << r->body;
    EXPECT_EQ(j->GetString("type"), "error") << r->body;
    EXPECT_EQ(j->Find("error")->GetString("type"), "not_found_error") << r->body;
  }
}

// Keep-alive events only where the gateway makes the stream: translated streams, and the OpenAI
// pass-through when it edits the stream (the usage chunk it asked for); never the provider's
// own stream passed through, and never inside a JSON answer.
TEST_F(PipelineTest, StreamKeepAliveOnlyForWholeEventOutput) {
  auto h = Headers();
  {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    ASSERT_EQ(StatusOf(p.OnRequestBody(R"({"model":"gpt-a","stream":true,"messages":[{"role":"user","content":"hi"}]})")), 0);
    EXPECT_EQ(p.StreamKeepAlive(), "");
  }
  {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/messages", h));
    ASSERT_EQ(StatusOf(p.OnRequestBody(
                  R"({"model":"gpt-a","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})")),
              0);
    EXPECT_EQ(p.StreamKeepAlive(), "event: ping\ndata: {\"type\": \"ping\"}\n\n");
  }
  {
    Pipeline p = Make();  // a JSON answer the client asked for: never a ping inside it
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/messages", h));
    ASSERT_EQ(StatusOf(p.OnRequestBody(R"({"model":"gpt-a","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})")), 0);
    EXPECT_EQ(p.StreamKeepAlive(), "");
  }
  {
    Pipeline p = Make();
    p.set_want_usage(true);  // the pass-through re-frames events to keep the usage chunk back
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    ASSERT_EQ(StatusOf(p.OnRequestBody(R"({"model":"gpt-a","stream":true,"messages":[{"role":"user","content":"hi"}]})")), 0);
    EXPECT_EQ(p.StreamKeepAlive(), ": keep-alive\n\n");
  }
}

// An embeddings batch larger than the backend takes per call (Titan: one text) is split when
// the driver can make several calls: one translated, separately signed part per text, and one
// merged answer; a failed part answers for all. Without the driver's say-so (ext_proc), the
// batch is the translator's 400.
TEST_F(PipelineTest, EmbeddingBatchesSplitIntoSignedParts) {
  auto h = Headers();
  std::string body = R"({"model":"titan","input":["alpha","beta","gamma"],"dimensions":256,"encoding_format":"float"})";
  {
    Pipeline p = Make();
    ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/embeddings", h));
    Decision d = p.OnRequestBody(body);
    auto* imm = std::get_if<ImmediateResponse>(&d);
    ASSERT_NE(imm, nullptr) << "no split without set_split_batches";
    EXPECT_EQ(imm->status, 400);
    EXPECT_NE(imm->body.find("\"param\":\"input\""), std::string::npos) << imm->body;
  }
  Pipeline p = Make();
  p.set_split_batches(true);
  ASSERT_FALSE(p.OnRequestHeaders("POST", "/v1/embeddings", h));
  Decision d = p.OnRequestBody(body);
  auto* up = std::get_if<UpstreamRequest>(&d);
  ASSERT_NE(up, nullptr);
  ASSERT_EQ(up->parts.size(), 3u);
  std::set<std::string> signatures;
  const char* texts[] = {"alpha", "beta", "gamma"};
  for (size_t i = 0; i < 3; ++i) {
    const UpstreamPart& part = up->parts[i];
    EXPECT_EQ(part.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    EXPECT_EQ(part.body, StrCat(R"({"inputText":")", texts[i], R"(","dimensions":256})"));
    http::HeaderMap unsigned_headers = h;
    part.headers.ApplyTo(unsigned_headers);
    EXPECT_FALSE(unsigned_headers.Has("authorization")) << "parts are signed when they are sent";
    auto signed_part = p.SignPart(*up, part);
    ASSERT_TRUE(std::holds_alternative<http::HeaderMutation>(signed_part));
    http::HeaderMap out = h;
    std::get<http::HeaderMutation>(signed_part).ApplyTo(out);
    ASSERT_TRUE(out.Has("authorization"));
    ASSERT_TRUE(out.Has("x-amz-date"));
    EXPECT_EQ(*out.Get("x-ai-eg-model"), "titan");
    signatures.insert(std::string(*out.Get("authorization")));
  }
  EXPECT_EQ(signatures.size(), 3u) << "each part signs its own body";

  http::HeaderMap rh;
  rh.Add("content-type", "application/json");
  rh.Add("x-amzn-bedrock-input-token-count", "1");
  std::vector<std::string> bodies = {R"({"embedding":[0.5,0.25],"inputTextTokenCount":1})",
                                     R"({"embedding":[0.125,1e-7],"inputTextTokenCount":2})",
                                     R"({"embedding":[-1,0.333333333333],"inputTextTokenCount":3})"};
  std::vector<PartAnswer> answers;
  for (const auto& b : bodies) answers.push_back({200, &rh, b});
  ImmediateResponse merged = p.OnSplitResponses(answers);
  EXPECT_EQ(merged.status, 200);
  auto doc = json::Parse(merged.body);
  ASSERT_TRUE(doc.ok()) << merged.body;
  const json::Value* data = doc->Find("data");
  ASSERT_TRUE(data && data->is_array() && data->items().size() == 3) << merged.body;
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(data->items()[i].Find("index")->as_int(), i);
  // The numbers keep their text: nothing is rounded on the way through.
  EXPECT_NE(merged.body.find("[0.125,1e-7]"), std::string::npos) << merged.body;
  EXPECT_NE(merged.body.find("0.333333333333"), std::string::npos) << merged.body;
  EXPECT_EQ(doc->Find("usage")->Find("prompt_tokens")->as_int(), 6);
  EXPECT_EQ(p.usage()->input_tokens, 6);
  EXPECT_EQ(doc->GetString("model"), "amazon.titan-embed-text-v2:0");

  // One throttled part: its error, in the client's dialect, with the provider's headers, for
  // the whole request.
  http::HeaderMap throttled;
  throttled.Add("content-type", "application/json");
  throttled.Add("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
  throttled.Add("x-amzn-requestid", "req-7");
  throttled.Add("connection", "close");
  answers[1] = {429, &throttled, R"({"message":"Too many requests, please wait before trying again."})"};
  ImmediateResponse err = p.OnSplitResponses(answers);
  EXPECT_EQ(err.status, 429);
  EXPECT_NE(err.body.find("Too many requests"), std::string::npos) << err.body;
  http::HeaderMap err_headers;
  err.headers.ApplyTo(err_headers);
  EXPECT_EQ(err_headers.Get("x-amzn-requestid"), "req-7");
  EXPECT_FALSE(err_headers.Has("connection"));

  // A part the translator refuses names the client's own input index.
  Pipeline bad = Make();
  bad.set_split_batches(true);
  ASSERT_FALSE(bad.OnRequestHeaders("POST", "/v1/embeddings", h));
  Decision bd = bad.OnRequestBody(R"({"model":"titan","input":["fine","also fine",""]})");
  auto* refused = std::get_if<ImmediateResponse>(&bd);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("\"param\":\"input[2]\""), std::string::npos) << refused->body;

  // More inputs than OpenAI takes in one request: the client's 400, before any split.
  std::string huge = R"({"model":"titan","input":[)";
  for (int i = 0; i < 2049; ++i) StrAppend(&huge, i ? "," : "", "\"t\"");
  huge += "]}";
  Pipeline q = Make();
  q.set_split_batches(true);
  ASSERT_FALSE(q.OnRequestHeaders("POST", "/v1/embeddings", h));
  Decision hd = q.OnRequestBody(huge);
  auto* too_many = std::get_if<ImmediateResponse>(&hd);
  ASSERT_NE(too_many, nullptr);
  EXPECT_EQ(too_many->status, 400);
  EXPECT_NE(too_many->body.find("at most 2048 inputs"), std::string::npos) << too_many->body;
}

TEST_F(PipelineTest, ResponseHeadersDropHopByHop) {
  Pipeline p = Make();
  http::HeaderMap h;
  h.Add("content-type", "text/event-stream");
  h.Add("transfer-encoding", "chunked");
  h.Add("connection", "keep-alive");
  h.Add("x-request-id", "abc");
  auto m = p.OnResponseHeaders(200, h);
  m.ApplyTo(h);
  EXPECT_FALSE(h.Has("transfer-encoding"));
  EXPECT_FALSE(h.Has("connection"));
  EXPECT_TRUE(h.Has("x-request-id"));
}

}  // namespace
}  // namespace sluice::gateway

namespace sluice::gateway {
namespace {

// credentialOverride: a per-request credential from a header (or Envoy dynamic metadata)
// replaces the backend's for that request; its input headers never go upstream; without one the
// configured credential signs, or, with fallbackToConfigured false, the client gets a 401.
constexpr const char* kOverrideConfig = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-byok}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: nova-byok}]}]
      backendRefs: [{name: bedrock}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-strict}]}]
      backendRefs: [{name: strict}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-plain}]}]
      backendRefs: [{name: plain}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-fallback}]}]
      backendRefs: [{name: openai}, {name: plain, priority: 1}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: nova-md}]}]
      backendRefs: [{name: bedrock-md}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: plain}
spec:
  schema: {name: OpenAI}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: v1
kind: Secret
metadata: {name: plain}
stringData: {apiKey: sk-plain}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: plain}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: plain}]
  type: APIKey
  apiKey: {secretRef: {name: plain}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock-md}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bedrock-md}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock-md}]
  type: AWSCredentials
  awsCredentials: {region: us-east-1, credentialsFile: {secretRef: {name: k}}}
  credentialOverride: {fromDynamicMetadata: {namespace: authz}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: p}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai}
spec:
  schema: {name: OpenAI}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: strict}
spec:
  schema: {name: OpenAI}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: p, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: v1
kind: Secret
metadata: {name: k}
stringData: {apiKey: sk-configured, credentials: "[default]\naws_access_key_id = AKIDCONFIGURED\naws_secret_access_key = s\n"}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: openai}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: openai}]
  type: APIKey
  apiKey: {secretRef: {name: k}}
  credentialOverride: {fromRequestHeaders: {}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: strict}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: strict}]
  type: APIKey
  apiKey: {secretRef: {name: k}}
  credentialOverride: {fromDynamicMetadata: {namespace: envoy.filters.http.ext_authz, key: upstream_key, fallbackToConfigured: false}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bedrock}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials: {region: us-east-1, credentialsFile: {secretRef: {name: k}}}
  credentialOverride: {fromRequestHeaders: {header: X-Tenant-AWS-}}
)";

class CredentialOverrideTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Runtime> rt_ = *Runtime::Build(BuildFromYaml(kOverrideConfig));
  http::HeaderMap Sent(Pipeline& p, const http::HeaderMap& h, std::string_view model, Decision* d) {
    EXPECT_FALSE(p.OnRequestHeaders("POST", "/v1/chat/completions", h));
    body_ = StrCat(R"({"model":")", model, R"(","messages":[{"role":"user","content":"hi"}]})");
    *d = p.OnRequestBody(body_);
    http::HeaderMap out = h;
    if (auto* up = std::get_if<UpstreamRequest>(d)) up->headers.ApplyTo(out);
    return out;
  }
  std::string body_;
};

TEST_F(CredentialOverrideTest, HeaderReplacesTheApiKeyAndNeverGoesUpstream) {
  http::HeaderMap h;
  h.Add("authorization", "Bearer client-key");
  h.Add("x-aigw-api-key", "sk-tenant-42");
  Pipeline p(rt_, [] { return uint64_t{0}; });
  Decision d;
  http::HeaderMap out = Sent(p, h, "gpt-byok", &d);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  EXPECT_EQ(*out.Get("authorization"), "Bearer sk-tenant-42");
  EXPECT_FALSE(out.Has("x-aigw-api-key"));

  // None sent: the configured key (fallbackToConfigured defaults to true).
  http::HeaderMap plain;
  plain.Add("authorization", "Bearer client-key");
  Pipeline p2(rt_, [] { return uint64_t{0}; });
  EXPECT_EQ(*Sent(p2, plain, "gpt-byok", &d).Get("authorization"), "Bearer sk-configured");
}

TEST_F(CredentialOverrideTest, AwsKeysFromPrefixedHeadersSignTheRequest) {
  http::HeaderMap h;
  h.Add("x-tenant-aws-access-key-id", "AKIDTENANT");
  h.Add("x-tenant-aws-secret-access-key", "tenant-secret");
  h.Add("x-tenant-aws-session-token", "tenant-session");
  Pipeline p(rt_, [] { return uint64_t{0}; });
  Decision d;
  http::HeaderMap out = Sent(p, h, "nova-byok", &d);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  EXPECT_EQ(out.Get("authorization")->rfind("AWS4-HMAC-SHA256 Credential=AKIDTENANT/", 0), 0u) << *out.Get("authorization");
  EXPECT_EQ(*out.Get("x-amz-security-token"), "tenant-session");
  for (const char* name : {"x-tenant-aws-access-key-id", "x-tenant-aws-secret-access-key", "x-tenant-aws-session-token"}) {
    EXPECT_FALSE(out.Has(name)) << name;
  }
  // A key id without its secret is refused: signing with the gateway's own keys instead would
  // bill the wrong principal.
  http::HeaderMap half;
  half.Add("x-tenant-aws-access-key-id", "AKIDTENANT");
  Pipeline p2(rt_, [] { return uint64_t{0}; });
  Sent(p2, half, "nova-byok", &d);
  auto* err = std::get_if<ImmediateResponse>(&d);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->status, 401);
  EXPECT_NE(err->body.find("incomplete upstream AWS credential"), std::string::npos) << err->body;
  EXPECT_EQ(err->body.find("AKIDTENANT"), std::string::npos);

  // From Envoy's dynamic metadata: a struct with the three fields.
  Pipeline p3(rt_, [] { return uint64_t{0}; });
  p3.set_dynamic_metadata({{"authz\nx-aigw-aws-credentials\naccessKeyId", "AKIDFROMMD"},
                           {"authz\nx-aigw-aws-credentials\nsecretAccessKey", "md-secret"}});
  out = Sent(p3, http::HeaderMap(), "nova-md", &d);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  EXPECT_EQ(out.Get("authorization")->rfind("AWS4-HMAC-SHA256 Credential=AKIDFROMMD/", 0), 0u);
  EXPECT_FALSE(out.Has("x-amz-security-token"));
}

// A tenant's credential header is removed from every upstream request, whichever backend it
// goes to, and its signer is not reused for a fallback backend.
TEST_F(CredentialOverrideTest, NeverLeaksToAnotherBackend) {
  http::HeaderMap h;
  h.Add("x-aigw-api-key", "sk-tenant-42");
  h.Add("x-tenant-aws-secret-access-key", "tenant-secret");
  Pipeline p(rt_, [] { return uint64_t{0}; });
  Decision d;
  http::HeaderMap out = Sent(p, h, "gpt-plain", &d);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  EXPECT_EQ(*out.Get("authorization"), "Bearer sk-plain");
  EXPECT_FALSE(out.Has("x-aigw-api-key"));
  EXPECT_FALSE(out.Has("x-tenant-aws-secret-access-key"));

  Pipeline f(rt_, [] { return uint64_t{0}; });
  out = Sent(f, h, "gpt-fallback", &d);
  ASSERT_TRUE(std::holds_alternative<UpstreamRequest>(d));
  EXPECT_EQ(*out.Get("authorization"), "Bearer sk-tenant-42");
  auto next = f.OnAttemptFailed();
  ASSERT_TRUE(next.has_value());
  auto* up = std::get_if<UpstreamRequest>(&*next);
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->backend->name, "default/plain");
  http::HeaderMap second = h;
  up->headers.ApplyTo(second);
  EXPECT_EQ(*second.Get("authorization"), "Bearer sk-plain") << "the tenant's key went to the fallback";
  EXPECT_FALSE(second.Has("x-aigw-api-key"));
}

TEST_F(CredentialOverrideTest, ControlCharactersAreRefusedWithoutEchoingTheValue) {
  http::HeaderMap h;
  h.Add("x-aigw-api-key", "sk-bad\x01value");
  Pipeline p(rt_, [] { return uint64_t{0}; });
  Decision d;
  Sent(p, h, "gpt-byok", &d);
  auto* err = std::get_if<ImmediateResponse>(&d);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->status, 401);
  EXPECT_EQ(err->body.find("sk-bad"), std::string::npos) << err->body;
}

TEST_F(CredentialOverrideTest, MetadataSourceWithoutFallback) {
  http::HeaderMap h;
  h.Add("x-aigw-api-key", "ignored: this policy reads metadata");
  Pipeline p(rt_, [] { return uint64_t{0}; });
  p.set_dynamic_metadata({{"envoy.filters.http.ext_authz\nupstream_key", "sk-from-ext-authz"}});
  Decision d;
  EXPECT_EQ(*Sent(p, h, "gpt-strict", &d).Get("authorization"), "Bearer sk-from-ext-authz");

  // Nothing in the metadata and no fallback: a 401 in the client's dialect, nothing upstream.
  Pipeline p2(rt_, [] { return uint64_t{0}; });
  Sent(p2, h, "gpt-strict", &d);
  auto* err = std::get_if<ImmediateResponse>(&d);
  ASSERT_NE(err, nullptr);
  EXPECT_EQ(err->status, 401);
  auto doc = json::Parse(err->body);
  ASSERT_TRUE(doc.ok()) << err->body;
  const json::Value* e = doc->Find("error");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->GetString("message"), "missing upstream credential") << err->body;
  EXPECT_EQ(err->body.find("ext_authz"), std::string::npos) << "where the credential comes from stays in the log";
  EXPECT_EQ(err->body.find("sk-configured"), std::string::npos);

  // An Anthropic client gets Anthropic's error shape.
  http::HeaderMap ah;
  ah.Add("anthropic-version", "2023-06-01");
  Pipeline p3(rt_, [] { return uint64_t{0}; });
  ASSERT_FALSE(p3.OnRequestHeaders("POST", "/v1/messages", ah));
  std::string body = R"({"model":"gpt-strict","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";
  Decision d3 = p3.OnRequestBody(body);
  auto* aerr = std::get_if<ImmediateResponse>(&d3);
  ASSERT_NE(aerr, nullptr);
  EXPECT_EQ(aerr->status, 401);
  EXPECT_NE(aerr->body.find(R"("type":"error")"), std::string::npos) << aerr->body;
}

}  // namespace
}  // namespace sluice::gateway
