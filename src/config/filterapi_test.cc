#include "config/filterapi.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "cel/cel.h"
#include "crypto/crypto.h"
#include "gateway/runtime.h"
#include "gtest/gtest.h"

namespace sluice::config {
namespace {

constexpr const char* kConfig = R"(version: dev
uuid: 1234-abcd
llmRequestCosts:
  - metadataKey: llm_input_token
    routeName: default/route
    type: InputToken
  - metadataKey: llm_total_token
    routeName: default/route
    type: TotalToken
  - metadataKey: cel_cost
    routeName: default/route
    type: CEL
    cel: "input_tokens + output_tokens"
globalLLMRequestCosts:
  - metadataKey: llm_total_token
    type: OutputToken
  - metadataKey: llm_reasoning
    type: ReasoningToken
models:
  - Name: gpt-4o
    OwnedBy: openai
    CreatedAt: "2024-05-13T00:00:00Z"
  - Name: claude
    OwnedBy: anthropic
    CreatedAt: "2024-06-20T10:00:00+02:00"
backends:
  - name: default/openai/route/route/rule/0/ref/0
    schema: {name: OpenAI, version: v1}
    auth:
      apiKey: {key: " sk-openai "}
    httpHeaderMutation:
      set: [{name: X-Team, value: a}]
      remove: [X-Drop]
    httpBodyMutation:
      set: [{path: service_tier, value: '"flex"'}]
      remove: [user]
  - name: default/openai/route/route/rule/1/ref/0
    modelNameOverride: gpt-4o-real
    schema: {name: OpenAI, prefix: /openai/v1}
    auth: {apiKey: {key: sk-openai}}
  - name: default/claude/route/route/rule/2/ref/0
    schema: {name: Anthropic}
    auth: {anthropicAPIKey: {key: sk-ant}}
  - name: default/azure/route/route/rule/3/ref/0
    schema: {name: AzureOpenAI, version: 2025-01-01-preview}
    auth: {azureAPIKey: {key: az-key}}
  - name: default/azure-token/route/route/rule/3/ref/1
    schema: {name: AzureOpenAI, version: 2025-01-01-preview}
    auth: {azure: {accessToken: az-token}}
  - name: default/bedrock/route/other/rule/0/ref/0
    schema: {name: AWSBedrock}
    auth:
      aws:
        region: us-east-1
        credentialFileLiteral: |
          [default]
          aws_access_key_id = AKIDEXAMPLE
          aws_secret_access_key = secret
  - name: default/vertex/route/other/rule/1/ref/0
    schema: {name: GCPVertexAI}
    auth: {gcp: {accessToken: ya29.token, region: us-central1, projectName: proj}}
)";

TEST(FilterApiTest, ParsesEveryPart) {
  auto fc = ParseFilterConfig(kConfig, "filter-config.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  EXPECT_EQ(fc->version, "dev");
  EXPECT_EQ(fc->uuid, "1234-abcd");
  const Config& c = fc->config;
  ASSERT_EQ(c.backends.size(), 7u);
  const Backend& b0 = c.backends[0];
  EXPECT_EQ(b0.name, "default/openai/route/route/rule/0/ref/0");
  EXPECT_EQ(b0.schema, ApiSchema::kOpenAI);
  EXPECT_EQ(b0.auth.type, BackendAuth::Type::kAPIKey);
  EXPECT_EQ(b0.auth.key, "sk-openai");
  ASSERT_EQ(b0.header_mutation.set.size(), 1u);
  EXPECT_EQ(b0.header_mutation.set[0].first, "x-team");
  EXPECT_EQ(b0.header_mutation.remove, std::vector<std::string>{"x-drop"});
  ASSERT_EQ(b0.body_mutation.set.size(), 1u);
  EXPECT_EQ(b0.body_mutation.set[0].second, "\"flex\"");
  EXPECT_EQ(b0.body_mutation.remove, std::vector<std::string>{"user"});
  EXPECT_EQ(c.backends[1].schema_prefix, "openai/v1");
  EXPECT_EQ(c.backends[2].auth.type, BackendAuth::Type::kAnthropicAPIKey);
  EXPECT_EQ(c.backends[3].auth.type, BackendAuth::Type::kAzureAPIKey);
  EXPECT_EQ(c.backends[3].schema_version, "2025-01-01-preview");
  EXPECT_EQ(c.backends[4].auth.type, BackendAuth::Type::kAzureToken);
  EXPECT_EQ(c.backends[4].auth.azure_access_token, "az-token");
  EXPECT_EQ(c.backends[5].auth.type, BackendAuth::Type::kAWS);
  EXPECT_EQ(c.backends[5].auth.aws_access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(c.backends[5].auth.aws_secret_access_key, "secret");
  EXPECT_EQ(c.backends[5].auth.aws_region, "us-east-1");
  EXPECT_EQ(c.backends[6].auth.type, BackendAuth::Type::kGCP);
  EXPECT_EQ(c.backends[6].auth.gcp_project, "proj");
  EXPECT_EQ(c.backends[6].auth.gcp_region, "us-central1");

  // One rule per backend, matched on the backend header, carrying the override.
  ASSERT_EQ(c.routes.size(), 1u);
  ASSERT_EQ(c.routes[0].rules.size(), 7u);
  const Rule& r1 = c.routes[0].rules[1];
  ASSERT_EQ(r1.matches.size(), 1u);
  EXPECT_EQ(r1.matches[0][0].name, kBackendHeader);
  EXPECT_EQ(r1.matches[0][0].value, "default/openai/route/route/rule/1/ref/0");
  EXPECT_EQ(r1.backend_refs[0].backend, 1u);
  EXPECT_EQ(r1.backend_refs[0].model_name_override, "gpt-4o-real");

  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].id, "gpt-4o");
  EXPECT_EQ(c.models[0].owned_by, "openai");
  EXPECT_EQ(c.models[0].created, 1715558400);
  EXPECT_EQ(c.models[1].created, 1718870400) << "08:00Z";

  EXPECT_EQ(fc->costs.route.size(), 3u);
  EXPECT_EQ(fc->costs.global.size(), 2u);
  // The CEL cost is compiled when the file loads.
  const LlmRequestCost& cel_cost = fc->costs.route[2];
  ASSERT_EQ(cel_cost.type, LlmRequestCost::Type::kCEL);
  ASSERT_NE(cel_cost.program, nullptr);
  cel::CostInputs usage;
  usage.input_tokens = 30;
  usage.output_tokens = 12;
  EXPECT_EQ(*cel_cost.program->Evaluate(usage), 42u);

  // The runtime accepts it (signers for every auth kind).
  auto rt = gateway::Runtime::Build(std::make_shared<Config>(c));
  EXPECT_TRUE(rt.ok()) << rt.status();
}

TEST(FilterApiTest, CostsRouteScopedWinOverGlobal) {
  auto fc = ParseFilterConfig(kConfig, "f.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  auto parts = SplitBackendName("default/openai/route/route/rule/0/ref/0");
  EXPECT_EQ(parts.short_name, "default/openai");
  EXPECT_EQ(parts.route_name, "default/route");
  auto costs = CostsFor(fc->costs, parts.route_name, parts.short_name, "gpt-4o");
  std::map<std::string, LlmRequestCost::Type> got;
  for (const auto* c : costs) got[c->metadata_key] = c->type;
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(got["llm_total_token"], LlmRequestCost::Type::kTotalToken) << "route-scoped wins";
  EXPECT_EQ(got["llm_input_token"], LlmRequestCost::Type::kInputToken);
  EXPECT_EQ(got["llm_reasoning"], LlmRequestCost::Type::kReasoningToken);
  auto other = CostsFor(fc->costs, "default/other", "default/bedrock", "x");
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[0]->type, LlmRequestCost::Type::kOutputToken);
}

// As Envoy AI Gateway's ext_proc: a gcp block without an access token uses Application Default
// Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's file, the metadata server).
TEST(FilterApiTest, GcpWithoutTokenUsesApplicationDefaultCredentials) {
  auto fc = ParseFilterConfig(
      "backends: [{name: a, schema: {name: GCPVertexAI}, auth: {gcp: {region: europe-west4, projectName: p}}}]", "f.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  const BackendAuth& a = fc->config.backends.at(0).auth;
  EXPECT_EQ(a.type, BackendAuth::Type::kGCP);
  EXPECT_TRUE(a.gcp_default_credentials);
  EXPECT_EQ(a.gcp_region, "europe-west4");
  EXPECT_EQ(a.gcp_project, "p");
  auto with_token = ParseFilterConfig(
      "backends: [{name: a, schema: {name: GCPVertexAI}, auth: {gcp: {accessToken: ya29.t, region: r, projectName: p}}}]",
      "f.yaml");
  ASSERT_TRUE(with_token.ok()) << with_token.status();
  EXPECT_FALSE(with_token->config.backends.at(0).auth.gcp_default_credentials);
  EXPECT_EQ(with_token->config.backends.at(0).auth.gcp_access_token, "ya29.t");
}

// As Envoy AI Gateway's ext_proc: an aws block without credentials uses the SDK default chain
// (IRSA, EKS Pod Identity, instance metadata), resolved at run time.
TEST(FilterApiTest, AwsWithoutCredentialsUsesTheDefaultChain) {
  auto fc = ParseFilterConfig("backends: [{name: a, schema: {name: AWSBedrock}, auth: {aws: {region: eu-west-1}}}]", "f.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  const BackendAuth& a = fc->config.backends.at(0).auth;
  EXPECT_EQ(a.type, BackendAuth::Type::kAWS);
  EXPECT_TRUE(a.aws_credential_chain);
  EXPECT_EQ(a.aws_region, "eu-west-1");
  EXPECT_TRUE(a.aws_access_key_id.empty());
  auto literal = ParseFilterConfig(
      "backends: [{name: a, schema: {name: AWSBedrock}, auth: {aws: {region: eu-west-1, credentialFileLiteral: "
      "\"[prod]\\naws_access_key_id = AKID\\naws_secret_access_key = s\"}}}]",
      "f.yaml");
  ASSERT_TRUE(literal.ok()) << literal.status();
  EXPECT_FALSE(literal->config.backends.at(0).auth.aws_credential_chain);
  EXPECT_EQ(literal->config.backends.at(0).auth.aws_access_key_id, "AKID");
}

// credentialOverride as Envoy AI Gateway's controller writes it (defaults resolved).
TEST(FilterApiTest, CredentialOverride) {
  auto fc = ParseFilterConfig(
      "backends:\n"
      "- {name: a, schema: {name: OpenAI}, auth: {apiKey: {key: sk}, credentialOverride: {headerName: X-AIGW-API-Key, "
      "fallbackToConfigured: false, inputHeadersToRemove: [x-aigw-api-key]}}}\n"
      "- {name: b, schema: {name: AWSBedrock}, auth: {aws: {region: r}, credentialOverride: {headerName: x-aigw-aws-}}}\n"
      "- {name: c, schema: {name: OpenAI}, auth: {apiKey: {key: sk}, credentialOverride: {dynamicMetadataNamespace: ns, "
      "dynamicMetadataKey: k}}}\n",
      "f.yaml");
  ASSERT_TRUE(fc.ok()) << fc.status();
  const auto& a = fc->config.backends.at(0).auth.credential_override;
  EXPECT_EQ(a.header, "x-aigw-api-key");
  EXPECT_FALSE(a.fallback_to_configured);
  EXPECT_EQ(a.input_headers, std::vector<std::string>{"x-aigw-api-key"});
  const auto& b = fc->config.backends.at(1).auth.credential_override;
  EXPECT_FALSE(b.fallback_to_configured) << "a plain bool in filterapi: absent is false";
  EXPECT_EQ(b.input_headers.size(), 3u) << "the AWS prefix's three headers when the list is absent";
  const auto& c = fc->config.backends.at(2).auth.credential_override;
  EXPECT_EQ(c.metadata_namespace, "ns");
  EXPECT_EQ(c.metadata_key, "k");
  EXPECT_TRUE(c.enabled());
  auto reserved = ParseFilterConfig(
      "backends: [{name: a, schema: {name: OpenAI}, auth: {apiKey: {key: sk}, credentialOverride: {headerName: authorization}}}]",
      "f.yaml");
  ASSERT_FALSE(reserved.ok());
  EXPECT_NE(std::string(reserved.status().message()).find("cannot carry a credential"), std::string::npos) << reserved.status();
  auto bad = ParseFilterConfig(
      "backends: [{name: a, schema: {name: OpenAI}, auth: {apiKey: {key: sk}, credentialOverride: {fallbackToConfigured: true}}}]",
      "f.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("credentialOverride"), std::string::npos) << bad.status();
}

TEST(FilterApiTest, Errors) {
  struct Case {
    const char* yaml;
    const char* needle;
  } cases[] = {
      {"backends: [{name: a, schema: {name: Nope}}]", "unknown schema"},
      {"backends: [{schema: {name: OpenAI}}]", "name: is required"},
      {"backends: [{name: a}]", "schema"},
      {"backends: [{name: a, schema: {name: OpenAI}}, {name: a, schema: {name: OpenAI}}]", "duplicate"},
      {"backends: [{name: a, schema: {name: OpenAI}, auth: {apiKey: {key: k}, azureAPIKey: {key: k}}}]",
       "exactly one"},
      {"backends: [{name: a, schema: {name: AWSBedrock}, auth: {aws: {region: us-east-1, credentialFileLiteral: \"[x]\"}}}]",
       "credentialFileLiteral"},
      {"backends: [{name: a, schema: {name: GCPVertexAI}, auth: {gcp: {accessToken: t, projectName: p}}}]",
       "region and projectName are required"},
      {"llmRequestCosts: [{metadataKey: k, type: InputToken}]", "routeName"},
      {"llmRequestCosts: [{metadataKey: k, routeName: a/b, type: Bogus}]", "unknown cost type"},
      {"models: [{Name: m, CreatedAt: yesterday}]", "RFC 3339"},
      // A CEL cost that cannot compile or cannot work fails the load, naming the field, line and column.
      {"llmRequestCosts:\n  - metadataKey: k\n    routeName: a/b\n    type: CEL\n    cel: \"input_tokens * 2\"",
       "f.yaml:5"},
      {"llmRequestCosts: [{metadataKey: k, routeName: a/b, type: CEL, cel: \"input_tokens * 2\"}]",
       "no matching overload for `*` applied to (uint, int)"},
      {"globalLLMRequestCosts: [{metadataKey: k, type: CEL, cel: \"total_tokens / output_tokens\"}]",
       "division by zero"},
      {"globalLLMRequestCosts: [{metadataKey: k, type: CEL, cel: \"input_tokens +\"}]", "column 15"},
      {"backends: [unclosed", ""},
  };
  for (const auto& c : cases) {
    auto fc = ParseFilterConfig(c.yaml, "f.yaml");
    ASSERT_FALSE(fc.ok()) << c.yaml;
    EXPECT_NE(std::string(fc.status().message()).find(c.needle), std::string::npos)
        << c.yaml << " -> " << fc.status();
  }
  auto mismatch = ParseFilterConfig("version: v0.3.0\n", "f.yaml", "v0.4.0");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(std::string(mismatch.status().message()).find("version mismatch"), std::string::npos);
  EXPECT_TRUE(ParseFilterConfig("version: v0.4.0\n", "f.yaml", "v0.4.0").ok());
}

std::string TempDir() {
  static int n = 0;
  std::string d = "/tmp/sluice-filterapi-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  mkdir(d.c_str(), 0755);
  mkdir((d + "/parts").c_str(), 0755);
  return d;
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(FilterApiTest, SingleFileAndBundle) {
  std::string dir = TempDir();
  Write(dir + "/single.yaml", kConfig);
  auto single = LoadFilterConfig(dir + "/single.yaml");
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->config.backends.size(), 7u);

  std::string text = kConfig;
  std::string a = text.substr(0, 700), b = text.substr(700);
  Write(dir + "/parts/000", a);
  Write(dir + "/parts/001", b);
  auto index = [&](const std::string& checksum, size_t size_b) {
    Write(dir + "/index.yaml", "version: dev\nuuid: u-1\nchecksum: " + checksum +
                                   "\nparts:\n  - {name: \"000\", path: parts/000, sizeBytes: " +
                                   std::to_string(a.size()) + "}\n  - {name: \"001\", path: parts/001, sizeBytes: " +
                                   std::to_string(size_b) + "}\ncreatedAt: \"2026-01-01T00:00:00Z\"\n");
  };
  index(crypto::Sha256Hex(text), b.size());
  auto bundle = LoadFilterConfig(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->config.backends.size(), 7u);
  EXPECT_EQ(bundle->uuid, "1234-abcd");

  index(crypto::Sha256Hex("something else"), b.size());
  auto bad_sum = LoadFilterConfig(dir);
  ASSERT_FALSE(bad_sum.ok());
  EXPECT_NE(std::string(bad_sum.status().message()).find("checksum mismatch"), std::string::npos);

  index(crypto::Sha256Hex(text), b.size() + 1);
  EXPECT_FALSE(LoadFilterConfig(dir).ok()) << "size mismatch";

  index(crypto::Sha256Hex(text), b.size());
  unlink((dir + "/parts/001").c_str());
  EXPECT_FALSE(LoadFilterConfig(dir).ok()) << "missing part";
}

}  // namespace
}  // namespace sluice::config
