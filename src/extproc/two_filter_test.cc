// `--layout two-filter` (Envoy AI Gateway's layout), over real gRPC with EnvoySim playing both
// filters: the router-level filter only sets x-ai-eg-model and clears the route cache; each
// attempt's upstream filter translates and signs for the backend Envoy chose (named by the
// request attributes) and translates its answer, so a retry fails over across providers. Every
// stream is checked against the protocol rules (one reply per message, content-length
// consistent with a replaced body, pseudo-headers never removed).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>

#include "envoy/config/core/v3/base.pb.h"
#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "extproc/processor.h"
#include "extproc/server.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::extproc {
namespace {

namespace t = testing;
using test::Chat;
using test::LoadRuntime;
using test::Metadata;
using test::ReadTestdata;

constexpr const char* kChatPath = "/v1/chat/completions";

// kResources plus a model served by the OpenAI backend first and the Anthropic one as the
// fallback (priority 1), as Envoy AI Gateway's provider_fallback example does.
std::string Resources() {
  return std::string(test::kResources) + R"(
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: fallback}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: failover-test}]}]
      backendRefs: [{name: openai, priority: 0}, {name: claude, priority: 1, modelNameOverride: claude-3-5-haiku}]
)";
}

std::string SocketPath() { return test::SocketPath("extproc-2f"); }

void ExpectClean(const t::Result& r, const std::string& what) {
  EXPECT_TRUE(r.status.ok()) << what << "\n" << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << what << "\n" << t::Describe(r);
  EXPECT_EQ(r.rejected_mutations, 0) << what << "\n" << t::Describe(r);
  ASSERT_EQ(r.sent.size(), r.replies.size()) << what << "\n" << t::Describe(r);
  for (size_t i = 0; i < r.sent.size(); ++i) {
    EXPECT_TRUE(r.replies[i] == r.sent[i] || r.replies[i] == "immediate_response")
        << what << ": message " << i << " (" << r.sent[i] << ") answered with " << r.replies[i];
  }
}

// The router-level filter of the two-filter layout: requests only.
t::FilterConfig RouterFilter() {
  t::FilterConfig c;
  c.processing_mode.set_response_header_mode(t::ProcessingMode::SKIP);
  c.processing_mode.set_response_body_mode(t::ProcessingMode::NONE);
  return c;
}

// Envoy's route table: x-ai-eg-model -> the cluster's endpoints, by priority.
std::vector<std::string> Routes(const t::Headers& h) {
  auto model = t::Get(h, "x-ai-eg-model");
  if (!model) return {};
  if (*model == "failover-test") return {"default/openai", "default/claude"};
  if (*model == "claude-test") return {"default/claude"};
  if (*model == "gpt-test") return {"default/openai"};
  return {};
}

class TwoFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.listen = {"unix:" + SocketPath()};
    o.random = [] { return uint64_t{0}; };
    auto s = StartServer(o, runtime_, Layout::kTwoFilter);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    channel_ = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(1000));
  }
  t::TwoFilterResult Run(const t::HttpMessage& request, const t::BackendUpstream& upstream,
                         const t::TwoFilterOptions& o = t::TwoFilterOptions()) {
    t::EnvoySim envoy(channel_, RouterFilter());
    return envoy.RunTwoFilter(request, Routes, upstream, o);
  }

  std::shared_ptr<const gateway::Runtime> runtime_ = LoadRuntime(Resources());
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(TwoFilterTest, RetryFailsOverFromOpenAIToAnthropicTranslatingPerAttempt) {
  std::string body = Chat("failover-test");
  std::string answer = ReadTestdata("src/translate/openai_to_anthropic/testdata/resp_text.anthropic.json");
  std::vector<std::string> called;
  t::TwoFilterResult r = Run(
      t::Request("POST", kChatPath, body, {{"authorization", "Bearer client-secret"}}),
      [&](const std::string& backend, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
        called.push_back(backend);
        if (backend == "default/openai") {
          return t::Response(503, "application/json",
                             R"({"error":{"message":"overloaded","type":"server_error"}})");
        }
        return t::Response(200, "application/json", answer);
      });

  // Router filter: the model only; the body and credentials untouched; route cache cleared.
  ExpectClean(r.router, "router");
  EXPECT_TRUE(r.router.route_cache_cleared);
  const t::Headers& fwd = r.router.upstream_request.headers;
  EXPECT_EQ(t::Get(fwd, "x-ai-eg-model"), "failover-test");
  EXPECT_EQ(t::Get(fwd, "x-ai-eg-original-path"), kChatPath);
  EXPECT_EQ(t::Get(fwd, ":path"), kChatPath);
  EXPECT_EQ(t::Get(fwd, "authorization"), "Bearer client-secret") << "the upstream filter replaces it";
  EXPECT_FALSE(t::Get(fwd, kSelectedBackendHeader));
  EXPECT_EQ(r.router.upstream_request.Body(), body);

  ASSERT_EQ(called, (std::vector<std::string>{"default/openai", "default/claude"}));
  ASSERT_EQ(r.attempts.size(), 2u);

  // Attempt 1: OpenAI, same dialect: the client's body, OpenAI's key and host.
  const t::Result& a1 = r.attempts[0].upstream_filter;
  ExpectClean(a1, "attempt 1");
  EXPECT_FALSE(a1.route_cache_cleared);
  const t::Headers& up1 = a1.upstream_request.headers;
  EXPECT_EQ(t::Get(up1, ":path"), kChatPath);
  EXPECT_EQ(t::Get(up1, ":authority"), "api.openai.test");
  EXPECT_EQ(t::Get(up1, "authorization"), "Bearer sk-openai-test");
  EXPECT_FALSE(t::Get(up1, kPinnedBackendHeader)) << "local-only header leaked";
  EXPECT_EQ(a1.upstream_request.Body(), body);
  EXPECT_EQ(Metadata(a1, "backend_name"), "default/openai");
  ASSERT_TRUE(a1.answered);
  EXPECT_EQ(t::Get(a1.client_response.headers, ":status"), "503") << "the router must still see 503 to retry";

  // Attempt 2: Anthropic: the same client body re-translated, Anthropic's key, no client creds.
  const t::Result& a2 = r.attempts[1].upstream_filter;
  ExpectClean(a2, "attempt 2");
  const t::Headers& up2 = a2.upstream_request.headers;
  EXPECT_EQ(t::Get(up2, ":path"), "/v1/messages");
  EXPECT_EQ(t::Get(up2, ":authority"), "api.anthropic.test");
  EXPECT_EQ(t::Get(up2, "x-api-key"), "sk-ant-test");
  EXPECT_EQ(t::Get(up2, "anthropic-version"), "2023-06-01");
  EXPECT_FALSE(t::Get(up2, "authorization"));
  EXPECT_FALSE(t::Get(up2, kPinnedBackendHeader));
  std::string sent = a2.upstream_request.Body();
  EXPECT_EQ(t::Get(up2, "content-length"), std::to_string(sent.size()));
  auto doc = json::Parse(sent);
  ASSERT_TRUE(doc.ok()) << sent;
  EXPECT_NE(doc->Find("max_tokens"), nullptr) << sent;
  EXPECT_EQ(doc->GetString("model"), "claude-3-5-haiku") << "the fallback ref's modelNameOverride";
  EXPECT_EQ(Metadata(a2, "backend_name"), "default/claude");
  EXPECT_EQ(Metadata(a2, "model_name_override"), "claude-3-5-haiku");
  EXPECT_EQ(Metadata(a2, "content_length"), std::to_string(sent.size()));
  EXPECT_NE(Metadata(a2, "llm_total_token"), "<missing>");

  // The client: Anthropic's answer in OpenAI's shape, with a matching content-length.
  ASSERT_TRUE(r.router.answered) << t::Describe(r.router);
  std::string got = r.router.client_response.Body();
  EXPECT_EQ(t::Get(r.router.client_response.headers, ":status"), "200");
  EXPECT_EQ(t::Get(r.router.client_response.headers, "content-length"), std::to_string(got.size()));
  EXPECT_NE(got.find("\"object\":\"chat.completion\""), std::string::npos) << got;
}

// Envoy AI Gateway's own filter modes (its extension server's): the upstream filter gets request
// headers only (request body NONE, response SKIP) and translates the body the router-level
// stream kept, found by x-ai-eg-internal-req-id; the router-level filter gets the answer
// (response SEND / BUFFERED, STREAMED by mode_override) and translates it.
t::FilterConfig EaigwRouterFilter() {
  t::FilterConfig c;  // request headers SEND, body BUFFERED, response headers SEND, body BUFFERED
  return c;
}
t::TwoFilterOptions EaigwOptions() {
  t::TwoFilterOptions o;
  o.upstream.processing_mode.set_request_body_mode(t::ProcessingMode::NONE);
  o.upstream.processing_mode.set_response_header_mode(t::ProcessingMode::SKIP);
  o.upstream.processing_mode.set_response_body_mode(t::ProcessingMode::NONE);
  return o;
}

TEST_F(TwoFilterTest, EnvoyAIGatewayModesFailOverTranslatingInBothStreams) {
  std::string body = Chat("failover-test");
  std::string answer = ReadTestdata("src/translate/openai_to_anthropic/testdata/resp_text.anthropic.json");
  std::vector<std::string> called;
  t::EnvoySim envoy(channel_, EaigwRouterFilter());
  t::TwoFilterResult r = envoy.RunTwoFilter(
      t::Request("POST", kChatPath, body, {{"authorization", "Bearer client-secret"}}), Routes,
      [&](const std::string& backend, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
        called.push_back(backend);
        if (backend == "default/openai") {
          return t::Response(503, "application/json", R"({"error":{"message":"overloaded","type":"server_error"}})");
        }
        return t::Response(200, "application/json", answer);
      },
      EaigwOptions());
  ExpectClean(r.router, "router");
  ASSERT_EQ(called, (std::vector<std::string>{"default/openai", "default/claude"}));
  ASSERT_EQ(r.attempts.size(), 2u);
  const std::optional<std::string> id = t::Get(r.router.upstream_request.headers, "x-ai-eg-internal-req-id");
  ASSERT_TRUE(id) << t::Describe(r.router);
  // Attempt 2 (Anthropic), from request headers alone: translated body, Anthropic's key.
  const t::Result& a2 = r.attempts[1].upstream_filter;
  ExpectClean(a2, "attempt 2");
  const t::Headers& up2 = a2.upstream_request.headers;
  EXPECT_EQ(t::Get(up2, ":path"), "/v1/messages");
  EXPECT_EQ(t::Get(up2, "x-api-key"), "sk-ant-test");
  EXPECT_FALSE(t::Get(up2, "authorization"));
  EXPECT_FALSE(t::Get(up2, "x-ai-eg-internal-req-id")) << "internal header sent to the provider";
  auto doc = json::Parse(a2.upstream_request.Body());
  ASSERT_TRUE(doc.ok()) << a2.upstream_request.Body();
  EXPECT_EQ(doc->GetString("model"), "claude-3-5-haiku");
  EXPECT_EQ(Metadata(a2, "content_length"), std::to_string(a2.upstream_request.Body().size()));
  // The client: Anthropic's answer translated by the router-level stream, for the last attempt.
  ASSERT_TRUE(r.router.answered) << t::Describe(r.router);
  std::string got = r.router.client_response.Body();
  EXPECT_EQ(t::Get(r.router.client_response.headers, ":status"), "200");
  EXPECT_EQ(t::Get(r.router.client_response.headers, "content-length"), std::to_string(got.size()));
  EXPECT_NE(got.find("\"object\":\"chat.completion\""), std::string::npos) << got;
  EXPECT_NE(Metadata(r.router, "llm_total_token"), "<missing>");
}

TEST_F(TwoFilterTest, EnvoyAIGatewayModesStreamTheAnswerThroughTheRouter) {
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::EnvoySim envoy(channel_, EaigwRouterFilter());
  t::TwoFilterResult r = envoy.RunTwoFilter(
      t::Request("POST", kChatPath, body), Routes,
      [&](const std::string&, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
        return t::Response(200, "text/event-stream", sse, 5);
      },
      EaigwOptions());
  ExpectClean(r.router, "router");
  ASSERT_EQ(r.attempts.size(), 1u);
  ExpectClean(r.attempts[0].upstream_filter, "attempt");
  EXPECT_TRUE(r.router.response_body_streamed) << "mode_override STREAMED for the SSE answer";
  std::string got = r.router.client_response.Body();
  EXPECT_NE(got.find("chat.completion.chunk"), std::string::npos) << got;
  EXPECT_NE(got.find("data: [DONE]"), std::string::npos) << got;
}

TEST_F(TwoFilterTest, AnUpstreamFilterWithoutBodyOrKeptRequestFails) {
  // request_body_mode NONE and no router-level stream of this process kept the request:
  // nothing to translate (Envoy AI Gateway answers Internal too).
  t::FilterConfig upstream = EaigwOptions().upstream;
  (*upstream.request_attributes.mutable_fields())[EaigwOptions().backend_attribute].set_string_value("default/claude");
  t::EnvoySim envoy(channel_, upstream);
  t::Result r = envoy.Run(t::Request("POST", kChatPath, Chat("claude-test"), {{"x-ai-eg-internal-req-id", "nope"}}),
                          [](const t::HttpMessage&) { return t::Response(200, "application/json", "{}"); });
  EXPECT_FALSE(r.status.ok()) << t::Describe(r);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL) << r.status.error_message();
}

TEST_F(TwoFilterTest, LastAttemptErrorIsTranslatedForTheClient) {
  std::string body = Chat("claude-test");
  t::TwoFilterResult r = Run(t::Request("POST", kChatPath, body),
                             [&](const std::string&, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
                               return t::Response(429, "application/json",
                                                  R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
                             });
  ExpectClean(r.router, "router");
  ASSERT_EQ(r.attempts.size(), 1u);
  ExpectClean(r.attempts[0].upstream_filter, "attempt");
  ASSERT_TRUE(r.router.answered);
  std::string got = r.router.client_response.Body();
  EXPECT_EQ(t::Get(r.router.client_response.headers, "content-length"), std::to_string(got.size()));
  EXPECT_NE(got.find("\"error\""), std::string::npos) << got;
  EXPECT_NE(got.find("slow down"), std::string::npos) << got;
}

TEST_F(TwoFilterTest, StreamedAnswerIsSwitchedToStreamedInTheUpstreamFilter) {
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::TwoFilterResult r = Run(t::Request("POST", kChatPath, body),
                             [&](const std::string&, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
                               return t::Response(200, "text/event-stream", sse, 5);
                             });
  ExpectClean(r.router, "router");
  ASSERT_EQ(r.attempts.size(), 1u);
  const t::Result& a = r.attempts[0].upstream_filter;
  ExpectClean(a, "attempt");
  EXPECT_TRUE(a.response_body_streamed);
  std::string got = r.router.client_response.Body();
  EXPECT_NE(got.find("chat.completion.chunk"), std::string::npos) << got;
  EXPECT_NE(got.find("data: [DONE]"), std::string::npos) << got;
}

TEST_F(TwoFilterTest, RouterFilterAnswersLocallyWhatNeedsNoBackend) {
  t::EnvoySim envoy(channel_, RouterFilter());
  auto never = [](const std::string&, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
    ADD_FAILURE() << "no upstream expected";
    return std::nullopt;
  };
  t::TwoFilterResult models = envoy.RunTwoFilter(t::Request("GET", "/v1/models", ""), Routes, never);
  ExpectClean(models.router, "models");
  EXPECT_TRUE(models.router.local_reply);
  EXPECT_EQ(models.router.local_status, 200);

  t::TwoFilterResult bad = envoy.RunTwoFilter(t::Request("POST", kChatPath, "{not json"), Routes, never);
  ExpectClean(bad.router, "bad json");
  EXPECT_EQ(bad.router.local_status, 400);

  t::TwoFilterResult nomodel = envoy.RunTwoFilter(t::Request("POST", kChatPath, R"({"messages":[]})"), Routes, never);
  ExpectClean(nomodel.router, "no model");
  EXPECT_EQ(nomodel.router.local_status, 400);
  EXPECT_TRUE(nomodel.attempts.empty());

  // An unknown model is Envoy's business (its route table has no route: 404), as in Envoy AI
  // Gateway.
  t::TwoFilterResult unknown = envoy.RunTwoFilter(t::Request("POST", kChatPath, Chat("nope")), Routes, never);
  ExpectClean(unknown.router, "unknown model");
  EXPECT_TRUE(unknown.router.route_cache_cleared);
  EXPECT_TRUE(unknown.attempts.empty());
}

TEST_F(TwoFilterTest, UpstreamStreamWithoutOrWithAnUnknownBackendFails) {
  t::TwoFilterOptions wrong_attr;
  wrong_attr.backend_attribute = "xds.route_name";
  auto ok = [](const std::string&, const t::HttpMessage&) -> std::optional<t::HttpMessage> {
    return t::Response(200, "application/json", "{}");
  };
  t::TwoFilterResult r = Run(t::Request("POST", kChatPath, Chat("gpt-test")), ok, wrong_attr);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].upstream_filter.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(r.attempts[0].upstream_filter.local_reply);

  t::EnvoySim envoy(channel_, RouterFilter());
  auto routes = [](const t::Headers&) { return std::vector<std::string>{"default/missing"}; };
  t::TwoFilterResult u = envoy.RunTwoFilter(t::Request("POST", kChatPath, Chat("gpt-test")), routes, ok);
  ASSERT_EQ(u.attempts.size(), 1u);
  EXPECT_EQ(u.attempts[0].upstream_filter.status.error_code(), grpc::StatusCode::INTERNAL);
}

// The router layout (default) keeps passing upstream-filter streams through unchanged.
TEST(TwoFilterLayout, RouterLayoutPassesUpstreamStreamsThrough) {
  auto rt = LoadRuntime(Resources());
  StreamProcessor p(rt, [] { return uint64_t{0}; }, ProcessorLimits{});
  pb::ProcessingRequest in;
  auto* h = in.mutable_request_headers()->mutable_headers();
  for (auto [k, v] : {std::pair{":method", "POST"}, {":path", kChatPath}}) {
    auto* hv = h->add_headers();
    hv->set_key(k);
    hv->set_raw_value(v);
  }
  (*(*in.mutable_attributes())[kAttributesKey].mutable_fields())[kHostBackendAttribute].set_string_value(
      "default/openai");
  pb::ProcessingResponse out;
  auto st = p.Process(in, &out);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(out.has_request_headers());
  EXPECT_FALSE(out.request_headers().response().has_header_mutation());
  EXPECT_TRUE(p.finished());
}

TEST(TwoFilterLayout, BackendFromAttributesPrefersTheEndpointAndReadsMetadataObjects) {
  pb::ProcessingRequest in;
  auto& f = *(*in.mutable_attributes())[kAttributesKey].mutable_fields();
  f[kClusterBackendAttribute].set_string_value("from-cluster");
  EXPECT_EQ(BackendFromAttributes(in), "from-cluster");
  f[kHostBackendAttribute].set_string_value("from-host");
  EXPECT_EQ(BackendFromAttributes(in), "from-host");
  pb::ProcessingRequest whole;
  auto& g = *(*whole.mutable_attributes())[kAttributesKey].mutable_fields();
  (*(*(*g["xds.upstream_host_metadata"].mutable_struct_value()->mutable_fields())["filter_metadata"]
         .mutable_struct_value()->mutable_fields())["aigateway.envoy.io"]
        .mutable_struct_value()->mutable_fields())["per_route_rule_backend_name"]
      .set_string_value("ns/b");
  EXPECT_EQ(BackendFromAttributes(whole), "ns/b");
  // What Envoy really sends for a whole metadata object: it prints the Metadata message in
  // protobuf text format into a string (ext_proc's evaluateAttributes), as Envoy AI Gateway
  // parses it (prototext). Generated from Envoy's own Metadata message here.
  envoy::config::core::v3::Metadata md;
  (*(*md.mutable_filter_metadata())["aigateway.envoy.io"].mutable_fields())["per_route_rule_backend_name"]
      .set_string_value("default/openai/route/chat/rule/0/ref/0");
  (*(*md.mutable_filter_metadata())["other"].mutable_fields())["x"].set_number_value(1);
  std::string printed;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(md, &printed));
  for (const char* key : {"xds.upstream_host_metadata", "xds.cluster_metadata"}) {
    pb::ProcessingRequest text;
    (*(*text.mutable_attributes())[kAttributesKey].mutable_fields())[key].set_string_value(printed);
    EXPECT_EQ(BackendFromAttributes(text), "default/openai/route/chat/rule/0/ref/0") << key << "\n" << printed;
  }
  pb::ProcessingRequest no_key;
  (*(*no_key.mutable_attributes())[kAttributesKey].mutable_fields())["xds.upstream_host_metadata"].set_string_value(
      R"(filter_metadata { key: "other" value { } })");
  EXPECT_FALSE(BackendFromAttributes(no_key));
  EXPECT_FALSE(BackendFromAttributes(pb::ProcessingRequest()));
  Layout l;
  EXPECT_TRUE(ParseLayout("two-filter", &l));
  EXPECT_EQ(l, Layout::kTwoFilter);
  EXPECT_FALSE(ParseLayout("auto", &l));
}

}  // namespace
}  // namespace sluice::extproc
