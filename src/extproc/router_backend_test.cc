// Router-level layout with Envoy AI Gateway's filterapi config (`--config`): when Envoy's route
// table picked the backend, the router-level filter's stream names it (request attributes on
// the route's cluster or route metadata, or forwarded metadata), and sluice serves that
// backend; without it, the request header x-ai-eg-backend decides, as before.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>

#include "config/filterapi.h"
#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "extproc/processor.h"
#include "extproc/server.h"
#include "gtest/gtest.h"
#include "json/json.h"

namespace sluice::extproc {
namespace {

namespace t = testing;

constexpr const char* kFilterConfig = R"(version: dev
uuid: test-1
backends:
  - name: default/openai/route/chat/rule/0/ref/0
    schema: {name: OpenAI, prefix: v1}
    auth: {apiKey: {key: sk-rule0}}
  - name: default/openai/route/chat/rule/1/ref/0
    modelNameOverride: gpt-real
    schema: {name: OpenAI}
    auth: {apiKey: {key: sk-rule1}}
)";
constexpr const char* kRule0 = "default/openai/route/chat/rule/0/ref/0";
constexpr const char* kRule1 = "default/openai/route/chat/rule/1/ref/0";
const std::string kBody = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";

std::string SocketPath() { return test::SocketPath("router-backend-test"); }

std::shared_ptr<const gateway::Runtime> FilterapiRuntime() {
  auto fc = config::ParseFilterConfig(kFilterConfig, "test.yaml");
  EXPECT_TRUE(fc.ok()) << fc.status();
  if (!fc.ok()) return nullptr;
  auto rt = gateway::Runtime::Build(std::make_shared<config::Config>(std::move(fc->config)));
  EXPECT_TRUE(rt.ok()) << rt.status();
  return rt.ok() ? *rt : nullptr;
}

class RouterBackendTest : public ::testing::Test {
 protected:
  void Start(std::shared_ptr<const gateway::Runtime> rt) {
    ServerOptions o;
    o.listen = {"unix:" + SocketPath()};
    auto s = Server::Start(o, std::move(rt));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    channel_ = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  }
  void SetUp() override { Start(FilterapiRuntime()); }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(1000));
  }
  t::Result Run(const t::FilterConfig& cfg, t::Headers extra = {}, const std::string& body = kBody) {
    t::EnvoySim envoy(channel_, cfg);
    return envoy.Run(t::Request("POST", "/v1/chat/completions", body, std::move(extra)), nullptr);
  }
  static std::string Model(const t::Result& r) {
    auto doc = json::Parse(r.upstream_request.Body());
    return doc.ok() ? std::string(doc->GetString("model")) : "<not json>";
  }
  static std::string BackendMetadata(const t::Result& r) {
    auto ns = r.metadata.fields().find(kMetadataNamespace);
    if (ns == r.metadata.fields().end()) return "<none>";
    auto b = ns->second.struct_value().fields().find("backend_name");
    return b == ns->second.struct_value().fields().end() ? "<none>" : b->second.string_value();
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RouterBackendTest, WithoutAttributesTheHeaderDecides) {
  t::Result r = Run(t::FilterConfig(), {{"x-ai-eg-backend", kRule0}});
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-rule0");
  EXPECT_EQ(Model(r), "gpt-test");
  EXPECT_EQ(BackendMetadata(r), kRule0);
}

TEST_F(RouterBackendTest, ClusterMetadataAttributeWinsOverTheHeader) {
  t::FilterConfig cfg;
  (*cfg.request_attributes.mutable_fields())[kClusterBackendAttribute].set_string_value(kRule1);
  t::Result r = Run(cfg, {{"x-ai-eg-backend", kRule0}});
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-rule1");
  EXPECT_EQ(Model(r), "gpt-real") << "rule 1's modelNameOverride";
  EXPECT_EQ(BackendMetadata(r), kRule1);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "x-ai-eg-backend"), kRule0)
      << "the choice is local: the client's header is not rewritten";
}

TEST_F(RouterBackendTest, RouteMetadataObjectWithoutAnyHeader) {
  t::FilterConfig cfg;
  google::protobuf::Struct md;
  (*(*md.mutable_fields())["filter_metadata"]
        .mutable_struct_value()
        ->mutable_fields())["aigateway.envoy.io"]
      .mutable_struct_value()
      ->mutable_fields()
      ->operator[]("per_route_rule_backend_name")
      .set_string_value(kRule1);
  *(*cfg.request_attributes.mutable_fields())["xds.route_metadata"].mutable_struct_value() = md;
  t::Result r = Run(cfg);
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-rule1");
  EXPECT_EQ(BackendMetadata(r), kRule1);
}

TEST_F(RouterBackendTest, ForwardedMetadataContext) {
  t::FilterConfig cfg;
  (*(*cfg.metadata_context.mutable_filter_metadata())["aigateway.envoy.io"].mutable_fields())
      ["per_route_rule_backend_name"]
          .set_string_value(kRule1);
  t::Result r = Run(cfg, {{"x-ai-eg-backend", kRule0}});
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-rule1");
}

// credentialOverride under ext_proc: from Envoy's dynamic metadata (an ext_authz filter's
// result, forwarded in metadata_context), or from a header that Envoy is told to remove.
TEST_F(RouterBackendTest, CredentialOverrideFromMetadataOrHeaders) {
  server_->Shutdown(std::chrono::milliseconds(0));
  constexpr const char* kMd = "default/md/route/chat/rule/0/ref/0";
  constexpr const char* kHdr = "default/hdr/route/chat/rule/0/ref/0";
  auto fc = config::ParseFilterConfig(R"(version: dev
backends:
  - name: default/md/route/chat/rule/0/ref/0
    schema: {name: OpenAI}
    auth:
      apiKey: {key: sk-configured}
      credentialOverride: {dynamicMetadataNamespace: envoy.filters.http.ext_authz, dynamicMetadataKey: upstream_key, fallbackToConfigured: false}
  - name: default/hdr/route/chat/rule/0/ref/0
    schema: {name: OpenAI}
    auth:
      apiKey: {key: sk-configured}
      credentialOverride: {headerName: x-aigw-api-key, inputHeadersToRemove: [x-aigw-api-key]}
)",
                                      "t.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  auto rt = gateway::Runtime::Build(std::make_shared<config::Config>(std::move(fc->config)));
  ASSERT_TRUE(rt.ok()) << rt.status();
  Start(*rt);

  t::FilterConfig with_md;
  (*(*with_md.metadata_context.mutable_filter_metadata())["envoy.filters.http.ext_authz"].mutable_fields())["upstream_key"]
      .set_string_value("sk-from-ext-authz");
  t::Result r = Run(with_md, {{"x-ai-eg-backend", kMd}});
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-from-ext-authz");

  t::Result none = Run(t::FilterConfig{}, {{"x-ai-eg-backend", kMd}});
  EXPECT_FALSE(none.forwarded);
  EXPECT_TRUE(none.local_reply);
  EXPECT_EQ(none.local_status, 401) << t::Describe(none);

  t::Result hdr = Run(t::FilterConfig{}, {{"x-ai-eg-backend", kHdr}, {"x-aigw-api-key", "sk-tenant"}});
  ASSERT_TRUE(hdr.forwarded) << t::Describe(hdr);
  EXPECT_EQ(t::Get(hdr.upstream_request.headers, "authorization"), "Bearer sk-tenant");
  EXPECT_EQ(t::Get(hdr.upstream_request.headers, "x-aigw-api-key"), std::nullopt) << "Envoy was not told to remove it";
}

TEST_F(RouterBackendTest, AnUnknownBackendFailsTheStream) {
  t::FilterConfig cfg;
  (*cfg.request_attributes.mutable_fields())[kClusterBackendAttribute].set_string_value("default/nope/route/x/rule/0/ref/0");
  t::Result r = Run(cfg, {{"x-ai-eg-backend", kRule0}});
  EXPECT_FALSE(r.forwarded);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INTERNAL) << t::Describe(r);
  EXPECT_TRUE(r.local_reply);
}

TEST(RouterBackend, UpstreamHostAttributesStillMeanAnUpstreamFilter) {
  // Only an upstream filter can evaluate the upstream host's metadata: such a stream stays
  // passed through by the router layout (the server closes it with OK after one reply).
  StreamProcessor p(FilterapiRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{});
  pb::ProcessingRequest in;
  for (auto [k, v] : {std::pair<const char*, const char*>{":method", "POST"}, {":path", "/v1/chat/completions"},
                      {":authority", "h"}, {"x-ai-eg-backend", kRule0}}) {
    auto* hv = in.mutable_request_headers()->mutable_headers()->add_headers();
    hv->set_key(k);
    hv->set_raw_value(v);
  }
  auto& f = *(*in.mutable_attributes())[kAttributesKey].mutable_fields();
  f[kHostBackendAttribute].set_string_value(kRule1);
  f[kClusterBackendAttribute].set_string_value(kRule1);
  EXPECT_EQ(RouterBackendFromRequest(in), std::nullopt);
  pb::ProcessingResponse out;
  auto r = p.Process(in, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(out.request_headers().response().ByteSizeLong(), 0u);
  EXPECT_TRUE(p.finished());
  // Without the host attribute the same stream is the router-level filter's.
  f.erase(kHostBackendAttribute);
  EXPECT_EQ(RouterBackendFromRequest(in), std::optional<std::string>(kRule1));
}

TEST_F(RouterBackendTest, ResourceConfigsRouteByThemselves) {
  server_->Shutdown(std::chrono::milliseconds(0));
  Start(test::LoadRuntime());
  t::FilterConfig cfg;
  (*cfg.request_attributes.mutable_fields())[kClusterBackendAttribute].set_string_value("default/claude");
  t::Result r = Run(cfg, {}, R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, kSelectedBackendHeader), "default/openai") << "the model's route";
}

}  // namespace
}  // namespace sluice::extproc
