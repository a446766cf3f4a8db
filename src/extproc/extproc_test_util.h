// Shared by the extproc tests: a provider-less gateway config (the pipeline does no network
// I/O, so no upstream exists; tests play the upstream), test data, and a reference run of the
// pipeline to compare the ext_proc driver's output with.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "compiler/resources/resources.h"
#include "extproc/envoy_sim.h"
#include "extproc/processor.h"
#include "gateway/pipeline.h"
#include "gateway/runtime.h"
#include "gtest/gtest.h"

namespace sluice::extproc::test {

// Four backends: OpenAI (same dialect, pass-through), OpenAI with a model override,
// Anthropic (translated both ways) and AWS Bedrock (SigV4-signed, event-stream answers).
inline constexpr const char* kResources = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: route}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-test}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: gpt-alias}]}]
      backendRefs: [{name: openai, modelNameOverride: gpt-4o-real}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: claude-test}]}]
      backendRefs: [{name: claude}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: bedrock-test}]}]
      backendRefs: [{name: bedrock, modelNameOverride: anthropic.claude-3-5-sonnet-20240620-v1:0}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai}
spec:
  schema: {name: OpenAI}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: openai}
spec:
  endpoints: [{fqdn: {hostname: api.openai.test, port: 443}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: openai-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: openai}]
  type: APIKey
  apiKey: {secretRef: {name: openai-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: openai-key}
stringData: {apiKey: sk-openai-test}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: claude}
spec:
  schema: {name: Anthropic}
  backendRef: {name: claude, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: claude}
spec:
  endpoints: [{fqdn: {hostname: api.anthropic.test, port: 443}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: claude-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: claude}]
  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: claude-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: claude-key}
stringData: {apiKey: sk-ant-test}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: bedrock, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: bedrock}
spec:
  endpoints: [{fqdn: {hostname: bedrock-runtime.us-east-1.amazonaws.com, port: 443}}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bedrock-creds}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: bedrock-creds}}
---
apiVersion: v1
kind: Secret
metadata: {name: bedrock-creds}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDEXAMPLE
    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
)";

inline std::shared_ptr<const gateway::Runtime> LoadRuntime(const std::string& yaml = kResources) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  compiler::ParseResources(yaml, "extproc_test.yaml", &set, &diags);
  auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, {}, &diags));
  for (const auto& d : diags.items) {
    EXPECT_NE(d.severity, compiler::Diagnostic::Severity::kError) << compiler::Format(d);
  }
  auto rt = gateway::Runtime::Build(cfg);
  EXPECT_TRUE(rt.ok()) << rt.status();
  return rt.ok() ? *rt : nullptr;
}

inline std::string ReadTestdata(const std::string& relative) {
  const char* src = std::getenv("SLUICE_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : ".") + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Translators stamp "created" with the wall clock; runs compared across a second boundary
// differ only there.
inline std::string NormalizeCreated(const std::string& s) {
  static const std::regex kCreated("\"created\":[0-9]+");
  return std::regex_replace(s, kCreated, "\"created\":0");
}

// What the pipeline itself produces for a request and a complete 2xx answer: the driver must
// deliver the same bytes to the client however Envoy chunks them.
inline std::string ReferenceAnswer(const std::shared_ptr<const gateway::Runtime>& rt, const std::string& path,
                                   const std::string& request_body, int status,
                                   const std::string& content_type, const std::string& answer,
                                   const std::vector<std::pair<std::string, std::string>>& response_headers = {}) {
  http::HeaderMap req;
  req.Add("host", "gateway.local");
  req.Add("content-type", "application/json");
  gateway::Pipeline p(rt, [] { return uint64_t{0}; });
  EXPECT_FALSE(p.OnRequestHeaders("POST", path, req).has_value());
  gateway::Decision d = p.OnRequestBody(request_body);
  EXPECT_TRUE(std::holds_alternative<gateway::UpstreamRequest>(d));
  http::HeaderMap resp;
  resp.Add("content-type", content_type);
  for (const auto& [k, v] : response_headers) resp.Add(k, v);
  (void)p.OnResponseHeaders(status, resp);
  std::string out;
  EXPECT_TRUE(p.OnResponseBody(answer, true, &out).ok());
  return out;
}

// A fresh unix socket path per call: /tmp/sluice-<tag>-<pid>-<n>.sock.
inline std::string SocketPath(const std::string& tag) {
  static std::atomic<int> n{0};
  return "/tmp/sluice-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".sock";
}

// A one-message OpenAI chat request for `model`.
inline std::string Chat(const std::string& model, bool stream = false, const std::string& content = "Say hello") {
  return R"({"model":")" + model + R"(","messages":[{"role":"user","content":")" + content + R"("}])" +
         (stream ? R"(,"stream":true)" : "") + "}";
}

// One key of the dynamic metadata sluice wrote (its namespace), as text; "<no namespace>" or
// "<missing>" when absent.
inline std::string Metadata(const testing::Result& r, const std::string& key) {
  const auto& ns = r.metadata.fields();
  auto it = ns.find(kMetadataNamespace);
  if (it == ns.end()) return "<no namespace>";
  const auto& f = it->second.struct_value().fields();
  auto k = f.find(key);
  if (k == f.end()) return "<missing>";
  if (k->second.has_string_value()) return k->second.string_value();
  return std::to_string(static_cast<int64_t>(k->second.number_value()));
}

// ext_proc messages as Envoy sends them, for driving a StreamProcessor directly: request or
// response headers (values in raw_value) and a body chunk.
inline pb::ProcessingRequest Headers(bool request, const std::vector<std::pair<std::string, std::string>>& h,
                                     bool eos = false) {
  pb::ProcessingRequest m;
  pb::HttpHeaders* hh = request ? m.mutable_request_headers() : m.mutable_response_headers();
  for (const auto& [k, v] : h) {
    auto* hv = hh->mutable_headers()->add_headers();
    hv->set_key(k);
    hv->set_raw_value(v);
  }
  hh->set_end_of_stream(eos);
  return m;
}
inline pb::ProcessingRequest Body(bool request, std::string body, bool eos) {
  pb::ProcessingRequest m;
  pb::HttpBody* b = request ? m.mutable_request_body() : m.mutable_response_body();
  b->set_body(std::move(body));
  b->set_end_of_stream(eos);
  return m;
}

}  // namespace sluice::extproc::test
