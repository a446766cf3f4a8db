#include "compiler/resources/resources.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "cel/cel.h"
#include "compiler/resources/autoconfig.h"
#include "gtest/gtest.h"

namespace sluice::compiler {
namespace {

constexpr const char* kBasic = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: x
  listeners: [{name: http, protocol: HTTP, port: 8088}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: route}
spec:
  parentRefs: [{name: gw, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: m1}]}]
      backendRefs:
        - {name: a, weight: 3, modelNameOverride: real-m1}
        - {name: b, priority: 1, headerMutation: {set: [{name: X-Extra, value: v}], remove: [x-drop]}}
      timeouts: {request: 90s}
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: "gpt-.*"}]}]
      backendRefs: [{name: a}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: a}
spec:
  schema: {name: OpenAI, prefix: /openai/v1}
  backendRef: {name: a-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b}
spec:
  schema: {name: OpenAI}
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: a-backend}
spec:
  endpoints: [{fqdn: {hostname: api.example.com, port: 443}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b-backend}
spec:
  endpoints: [{ip: {address: 127.0.0.1, port: 9000}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: a-tls}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: a-backend}]
  validation: {wellKnownCACertificates: System, hostname: tls.example.com}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: a-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: a}]
  type: APIKey
  apiKey: {secretRef: {name: a-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: a-key}
stringData: {apiKey: " ${TEST_KEY} "}
---
apiVersion: v1
kind: Secret
metadata: {name: b-key}
data: {apiKey: c2stYmFzZTY0}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: b-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}]
  type: AzureAPIKey
  azureAPIKey: {secretRef: {name: b-key}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: x}
spec: {controllerName: whatever}
)";

bool FakeEnv(const std::string& name, std::string* value) {
  static const std::map<std::string, std::string> env = {{"TEST_KEY", "sk-from-env"}};
  auto it = env.find(name);
  if (it == env.end()) return false;
  *value = it->second;
  return true;
}

config::Config Build(const std::string& yaml, Diagnostics* diags) {
  ResourceSet set;
  ParseResources(yaml, "test.yaml", &set, diags);
  BuildOptions opts;
  opts.env = &FakeEnv;
  opts.now_unix = 1700000000;
  return BuildConfig(set, opts, diags);
}

std::string All(const Diagnostics& d) {
  std::string out;
  for (const auto& i : d.items) out += Format(i) + "\n";
  return out;
}

TEST(ResourcesTest, BuildsRoutesBackendsAuthAndTls) {
  Diagnostics diags;
  config::Config c = Build(kBasic, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags);
  EXPECT_FALSE(diags.HasUnsupported()) << All(diags);
  EXPECT_EQ(c.listener.port, 8088);
  ASSERT_EQ(c.routes.size(), 1u);
  ASSERT_EQ(c.routes[0].rules.size(), 2u);
  const auto& r0 = c.routes[0].rules[0];
  EXPECT_EQ(r0.request_timeout, std::chrono::seconds(90));
  ASSERT_EQ(r0.backend_refs.size(), 2u);
  EXPECT_EQ(r0.backend_refs[0].weight, 3u);
  EXPECT_EQ(r0.backend_refs[0].model_name_override, "real-m1");
  EXPECT_EQ(r0.backend_refs[1].priority, 1u);
  ASSERT_EQ(r0.backend_refs[1].header_mutation.set.size(), 1u);
  EXPECT_EQ(r0.backend_refs[1].header_mutation.set[0].first, "x-extra");
  const auto& a = c.backends[r0.backend_refs[0].backend];
  EXPECT_EQ(a.name, "default/a");
  EXPECT_EQ(a.schema_prefix, "openai/v1");
  EXPECT_TRUE(a.tls.enabled);
  EXPECT_EQ(a.tls.sni, "tls.example.com");
  EXPECT_EQ(a.auth.type, config::BackendAuth::Type::kAPIKey);
  EXPECT_EQ(a.auth.key, "sk-from-env");  // ${VAR} substituted and trimmed
  const auto& b = c.backends[r0.backend_refs[1].backend];
  EXPECT_FALSE(b.tls.enabled);
  EXPECT_EQ(b.endpoints[0].host, "127.0.0.1");
  EXPECT_EQ(b.endpoints[0].port, 9000);
  EXPECT_EQ(b.auth.type, config::BackendAuth::Type::kAzureAPIKey);
  EXPECT_EQ(b.auth.key, "sk-base64");
  // Rule 2's regex backend reuses backend a.
  EXPECT_EQ(c.routes[0].rules[1].backend_refs[0].backend, r0.backend_refs[0].backend);
  EXPECT_TRUE(c.routes[0].rules[1].matches[0][0].Matches("gpt-4o"));
  EXPECT_FALSE(c.routes[0].rules[1].matches[0][0].Matches("claude"));
  // Models list: exact matches only.
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_EQ(c.models[0].id, "m1");
  EXPECT_EQ(c.models[0].created, 1700000000);
  EXPECT_EQ(c.models[0].owned_by, "Envoy AI Gateway");
  // GatewayClass is accepted with a notice.
  bool notice = false;
  for (const auto& d : diags.items)
    notice |= d.kind == "GatewayClass" && d.severity == Diagnostic::Severity::kNotice;
  EXPECT_TRUE(notice);
}

TEST(ResourcesTest, SecretsNeverAppearInDescriptions) {
  Diagnostics diags;
  config::Config c = Build(kBasic, &diags);
  std::string desc = config::DescribeForLog(c);
  EXPECT_EQ(desc.find("sk-from-env"), std::string::npos);
  EXPECT_EQ(desc.find("sk-base64"), std::string::npos);
  EXPECT_NE(desc.find("default/a"), std::string::npos);
}

struct BadCase {
  const char* find;
  const char* replace;
  Diagnostic::Severity severity;
  const char* field;    // expected field path
  const char* message;  // expected substring
};

TEST(ResourcesTest, ReportsProblemsWithFileLineKindNameAndField) {
  const BadCase cases[] = {
      {"value: m1}", "value: m1, extra: 1}", Diagnostic::Severity::kUnsupported,
       "spec.rules[0].matches[0].headers[0].extra", "not supported"},
      {"- {name: a, weight: 3", "- {name: nope, weight: 3", Diagnostic::Severity::kError,
       "spec.rules[0].backendRefs[0].name", "AIServiceBackend default/nope not found"},
      {"request: 90s", "request: ninety", Diagnostic::Severity::kError,
       "spec.rules[0].timeouts.request", "invalid duration"},
      {"weight: 3", "weight: lots", Diagnostic::Severity::kError,
       "spec.rules[0].backendRefs[0].weight", "must be an integer"},
      {"name: a-backend, kind", "name: missing-backend, kind", Diagnostic::Severity::kError,
       "spec.backendRef.name", "Backend default/missing-backend not found"},
      {"{name: a-key}}", "{name: no-such-secret}}", Diagnostic::Severity::kError,
       "spec.apiKey.secretRef", "Secret default/no-such-secret not found"},
      {"${TEST_KEY}", "${UNSET_VAR}", Diagnostic::Severity::kError, "stringData.apiKey",
       "UNSET_VAR is not set"},
      {"type: AzureAPIKey", "type: AWSCredentials", Diagnostic::Severity::kError,
       "spec.awsCredentials", "needs the awsCredentials block"},
      {"type: AzureAPIKey", "type: Kerberos", Diagnostic::Severity::kError, "spec.type",
       "unknown type"},
      {"schema: {name: OpenAI}", "schema: {name: Nope}", Diagnostic::Severity::kError,
       "spec.schema.name", "unknown schema"},
      {"type: RegularExpression", "type: Prefix", Diagnostic::Severity::kError,
       "spec.rules[1].matches[0].headers[0].type", "Exact or RegularExpression"},
      {"  parentRefs: [{name: gw,", "  llmRequestCosts: [{metadataKey: k, type: Tokens}]\n  parentRefs: [{name: gw,",
       Diagnostic::Severity::kError, "spec.llmRequestCosts[0].type", "unknown cost type \"Tokens\""},
      {"  parentRefs: [{name: gw,", "  llmRequestCosts: [{type: TotalToken}]\n  parentRefs: [{name: gw,",
       Diagnostic::Severity::kError, "spec.llmRequestCosts[0].metadataKey", "required field is missing"},
      {"  parentRefs: [{name: gw,", "  llmRequestCosts: [{metadataKey: k, type: CEL, cel: 'output_tokens * 2'}]\n  parentRefs: [{name: gw,",
       Diagnostic::Severity::kError, "spec.llmRequestCosts[0].cel", "no matching overload for `*` applied to (uint, int)"},
      {"  parentRefs: [{name: gw,", "  llmRequestCosts: [{metadataKey: k, type: CEL, cel: 'uint(1) - uint(2)'}]\n  parentRefs: [{name: gw,",
       Diagnostic::Severity::kError, "spec.llmRequestCosts[0].cel", "unsigned integer overflow"},
  };
  for (const auto& tc : cases) {
    std::string yaml = kBasic;
    size_t pos = yaml.find(tc.find);
    ASSERT_NE(pos, std::string::npos) << tc.find;
    yaml.replace(pos, strlen(tc.find), tc.replace);
    Diagnostics diags;
    Build(yaml, &diags);
    bool found = false;
    for (const auto& d : diags.items) {
      if (d.severity == tc.severity && d.field == tc.field &&
          d.message.find(tc.message) != std::string::npos) {
        found = true;
        EXPECT_EQ(d.file, "test.yaml");
        EXPECT_GT(d.line, 0);
        EXPECT_FALSE(d.kind.empty());
        EXPECT_NE(d.name.find('/'), std::string::npos);
      }
    }
    EXPECT_TRUE(found) << "no diagnostic for " << tc.replace << "\n" << All(diags);
  }
}

TEST(ResourcesTest, LlmRequestCostsBelongToTheirRoute) {
  std::string yaml = kBasic;
  const std::string at = "  parentRefs: [{name: gw,";
  yaml.replace(yaml.find(at), at.size(),
               "  llmRequestCosts:\n    - {metadataKey: in, type: InputToken}\n"
               "    - {metadataKey: total, type: TotalToken}\n"
               "    - {metadataKey: priced, type: CEL, cel: \"input_tokens * 2u + output_tokens\"}\n  parentRefs: [{name: gw,");
  Diagnostics diags;
  config::Config cfg = Build(yaml, &diags);
  EXPECT_FALSE(diags.HasErrors()) << All(diags);
  ASSERT_EQ(cfg.routes.size(), 1u);
  ASSERT_EQ(cfg.routes[0].costs.size(), 3u);
  ASSERT_NE(cfg.routes[0].costs[2].program, nullptr) << "CEL compiled at load";
  cel::CostInputs usage;
  usage.input_tokens = 10;
  usage.output_tokens = 4;
  EXPECT_EQ(*cfg.routes[0].costs[2].program->Evaluate(usage), 24u);
  EXPECT_EQ(cfg.routes[0].costs[0].metadata_key, "in");
  EXPECT_EQ(cfg.routes[0].costs[0].type, config::LlmRequestCost::Type::kInputToken);
  EXPECT_EQ(cfg.routes[0].costs[1].type, config::LlmRequestCost::Type::kTotalToken);
  EXPECT_EQ(cfg.routes[0].costs[1].route_name, "default/route");
}

TEST(ResourcesTest, LineNumbersPointAtTheField) {
  std::string yaml = kBasic;
  yaml.replace(yaml.find("request: 90s"), 12, "request: bad");
  Diagnostics diags;
  Build(yaml, &diags);
  int expected_line = 1;
  for (size_t i = 0; i < yaml.find("request: bad"); ++i) expected_line += yaml[i] == '\n';
  bool found = false;
  for (const auto& d : diags.items) {
    if (d.field == "spec.rules[0].timeouts.request") {
      EXPECT_EQ(d.line, expected_line) << Format(d);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(ResourcesTest, InvalidYamlAndMissingMetadataAreDiagnosed) {
  Diagnostics diags;
  ResourceSet set;
  ParseResources("a: [1, 2\n", "bad.yaml", &set, &diags);
  ASSERT_EQ(diags.items.size(), 1u);
  EXPECT_NE(diags.items[0].message.find("invalid YAML"), std::string::npos);
  Diagnostics d2;
  ParseResources("apiVersion: v1\nkind: Secret\nmetadata: {}\n", "m.yaml", &set, &d2);
  ASSERT_EQ(d2.items.size(), 1u);
  EXPECT_EQ(d2.items[0].field, "metadata.name");
}

TEST(ResourcesTest, UnknownKindIsUnsupported) {
  Diagnostics diags;
  Build(std::string(kBasic) + "---\napiVersion: x/v1\nkind: Frobnicator\nmetadata: {name: f}\n", &diags);
  bool found = false;
  for (const auto& d : diags.items)
    found |= d.kind == "Frobnicator" && d.severity == Diagnostic::Severity::kUnsupported;
  EXPECT_TRUE(found) << All(diags);
}

TEST(ResourcesTest, DurationParsing) {
  EXPECT_EQ(*ParseDuration("60s"), std::chrono::seconds(60));
  EXPECT_EQ(*ParseDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
}

TEST(ResourcesTest, AwsCredentialsFromFileProfileAndGcpAndAzure) {
  std::string yaml = std::string(kBasic) + R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: cloud}
spec:
  rules:
    - matches: [{headers: [{name: x-ai-eg-model, value: nova}]}]
      backendRefs: [{name: bedrock}, {name: vertex, priority: 1}, {name: azure, priority: 2}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock}
spec:
  schema: {name: AWSBedrock}
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: vertex}
spec:
  schema: {name: GCPVertexAI}
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: azure}
spec:
  schema: {name: AzureOpenAI, version: 2025-01-01-preview}
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials:
    region: eu-west-1
    credentialsFile: {secretRef: {name: aws-creds}, profile: prod}
---
apiVersion: v1
kind: Secret
metadata: {name: aws-creds}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDDEFAULT
    aws_secret_access_key = wrong
    [profile prod]
    aws_access_key_id = AKIDPROD
    aws_secret_access_key = secretprod
    aws_session_token = tokenprod
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: gcp}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: vertex}]
  type: GCPCredentials
  gcpCredentials:
    projectName: my-proj
    region: us-central1
    credentialsFile: {secretRef: {name: gcp-sa}}
---
apiVersion: v1
kind: Secret
metadata: {name: gcp-sa}
stringData: {service_account.json: '{"type":"service_account"}'}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: az}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: azure}]
  type: AzureCredentials
  azureCredentials: {clientID: cid, tenantID: tid, clientSecretRef: {name: az-secret}}
---
apiVersion: v1
kind: Secret
metadata: {name: az-secret}
stringData: {client-secret: shh}
)";
  Diagnostics diags;
  config::Config c = Build(yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags);
  EXPECT_FALSE(diags.HasUnsupported()) << All(diags);
  const auto& refs = c.routes[1].rules[0].backend_refs;
  ASSERT_EQ(refs.size(), 3u);
  const auto& aws = c.backends[refs[0].backend];
  EXPECT_EQ(aws.schema, config::ApiSchema::kAWSBedrock);
  EXPECT_EQ(aws.auth.type, config::BackendAuth::Type::kAWS);
  EXPECT_EQ(aws.auth.aws_access_key_id, "AKIDPROD");
  EXPECT_EQ(aws.auth.aws_secret_access_key, "secretprod");
  EXPECT_EQ(aws.auth.aws_session_token, "tokenprod");
  EXPECT_EQ(aws.auth.aws_region, "eu-west-1");
  const auto& gcp = c.backends[refs[1].backend];
  EXPECT_EQ(gcp.auth.type, config::BackendAuth::Type::kGCP);
  EXPECT_EQ(gcp.auth.gcp_project, "my-proj");
  EXPECT_EQ(gcp.auth.gcp_region, "us-central1");
  EXPECT_EQ(gcp.auth.gcp_service_account_json, R"({"type":"service_account"})");
  const auto& az = c.backends[refs[2].backend];
  EXPECT_EQ(az.schema_version, "2025-01-01-preview");
  EXPECT_EQ(az.auth.type, config::BackendAuth::Type::kAzureToken);
  EXPECT_EQ(az.auth.azure_client_secret, "shh");
  EXPECT_EQ(config::DescribeForLog(c).find("secretprod"), std::string::npos);
}

bool OpenAIEnv(const std::string& name, std::string* value) {
  static const std::map<std::string, std::string> env = {
      {"OPENAI_API_KEY", "sk-auto"}, {"OPENAI_BASE_URL", "http://127.0.0.1:8123/v1"},
      {"OPENAI_PROJECT_ID", "proj_1"}};
  auto it = env.find(name);
  if (it == env.end()) return false;
  *value = it->second;
  return true;
}
bool EmptyEnv(const std::string&, std::string*) { return false; }

// The environment a test sets (EnvLookup is a plain function pointer, so it reads a static).
std::map<std::string, std::string>& TestEnv() {
  static std::map<std::string, std::string> env;
  return env;
}
bool FromTestEnv(const std::string& name, std::string* value) {
  auto it = TestEnv().find(name);
  if (it == TestEnv().end()) return false;
  *value = it->second;
  return true;
}

// The embedded default for TestEnv(): the generated resources in `yaml`, built into a config.
config::Config BuildAutoConfig(std::string* yaml, Diagnostics* diags) {
  auto ac = GenerateAutoConfig(&FromTestEnv, 1975);
  EXPECT_TRUE(ac.ok()) << ac.status();
  if (!ac.ok()) return {};
  EXPECT_TRUE(ac->configured);
  *yaml = ac->yaml;
  ResourceSet set;
  ParseResources(ac->yaml, "<env>", &set, diags);
  BuildOptions opts;
  opts.env = &FromTestEnv;
  return BuildConfig(set, opts, diags);
}

TEST(AutoConfigTest, BuildsFromEnvironment) {
  auto ac = GenerateAutoConfig(&OpenAIEnv, 1975);
  ASSERT_TRUE(ac.ok()) << ac.status();
  EXPECT_TRUE(ac->configured);
  EXPECT_EQ(ac->yaml.find("sk-auto"), std::string::npos);  // placeholder, not the secret
  ResourceSet set;
  Diagnostics diags;
  ParseResources(ac->yaml, "<env>", &set, &diags);
  BuildOptions opts;
  opts.env = &OpenAIEnv;
  config::Config c = BuildConfig(set, opts, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags);
  EXPECT_FALSE(diags.HasUnsupported()) << All(diags);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].auth.key, "sk-auto");
  EXPECT_EQ(c.backends[0].endpoints[0].port, 8123);
  EXPECT_FALSE(c.backends[0].tls.enabled);
  EXPECT_EQ(c.backends[0].schema_prefix, "v1");
  EXPECT_EQ(c.listener.port, 1975);
  ASSERT_EQ(c.routes[0].rules[0].backend_refs[0].header_mutation.set.size(), 1u);
  EXPECT_EQ(c.routes[0].rules[0].backend_refs[0].header_mutation.set[0].second, "proj_1");
}

TEST(AutoConfigTest, EveryProviderFromTheEnvironmentRoutedByModelName) {
  std::string sa_path = std::filesystem::temp_directory_path() / "sluice-autoconfig-sa.json";
  {
    std::ofstream(sa_path) << R"({"type":"service_account","project_id":"proj-from-key","client_email":"x@y"})";
  }
  TestEnv() = {{"OPENAI_API_KEY", "sk-openai"},       {"ANTHROPIC_API_KEY", "sk-ant"},
         {"AWS_ACCESS_KEY_ID", "AKIDTEST"},     {"AWS_SECRET_ACCESS_KEY", "secret"},
         {"AWS_REGION", "eu-central-1"},        {"GOOGLE_APPLICATION_CREDENTIALS", sa_path},
         {"GOOGLE_CLOUD_LOCATION", "europe-west4"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  for (const char* secret : {"sk-openai", "sk-ant", "AKIDTEST"})
    EXPECT_EQ(yaml.find(secret), std::string::npos) << secret;  // placeholders only
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  EXPECT_FALSE(diags.HasUnsupported()) << All(diags);
  ASSERT_EQ(c.backends.size(), 4u);
  // Which backend serves a model: the first matching rule.
  auto backend_for = [&](const std::string& model) -> std::string {
    for (const auto& rule : c.routes[0].rules)
      for (const auto& m : rule.matches)
        if (m[0].Matches(model)) return c.backends[rule.backend_refs[0].backend].name;
    return "";
  };
  EXPECT_EQ(backend_for("claude-sonnet-4-5"), "default/anthropic");
  EXPECT_EQ(backend_for("anthropic.claude-3-5-sonnet-20241022-v2:0"), "default/aws-bedrock");
  EXPECT_EQ(backend_for("us.amazon.nova-micro-v1:0"), "default/aws-bedrock");
  EXPECT_EQ(backend_for("gemini-2.5-flash"), "default/gcp-vertex");
  EXPECT_EQ(backend_for("gpt-4o-mini"), "default/openai");
  EXPECT_EQ(backend_for("llama3"), "default/openai");
  for (const auto& b : c.backends) {
    if (b.name == "default/aws-bedrock") {
      EXPECT_EQ(b.auth.aws_region, "eu-central-1");
      EXPECT_EQ(b.auth.aws_access_key_id, "AKIDTEST");
      EXPECT_EQ(b.endpoints[0].host, "bedrock-runtime.eu-central-1.amazonaws.com");
      EXPECT_TRUE(b.tls.enabled);
    } else if (b.name == "default/gcp-vertex") {
      EXPECT_EQ(b.auth.gcp_project, "proj-from-key");
      EXPECT_EQ(b.auth.gcp_region, "europe-west4");
      EXPECT_EQ(b.endpoints[0].host, "europe-west4-aiplatform.googleapis.com");
    } else if (b.name == "default/anthropic") {
      EXPECT_EQ(b.auth.key, "sk-ant");
      EXPECT_EQ(b.schema_prefix, "v1");
    }
  }
  std::filesystem::remove(sa_path);
}

// On EKS with IRSA the pod has no keys, only a web identity: Bedrock is still served, with
// the credentials the default chain finds at run time.
TEST(AutoConfigTest, AwsWebIdentityEnablesBedrockThroughTheDefaultChain) {
  TestEnv() = {{"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"},
         {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}, {"AWS_REGION", "us-west-2"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].name, "default/aws-bedrock");
  EXPECT_EQ(c.backends[0].auth.type, config::BackendAuth::Type::kAWS);
  EXPECT_TRUE(c.backends[0].auth.aws_credential_chain);
  EXPECT_TRUE(c.backends[0].auth.aws_access_key_id.empty());
  EXPECT_EQ(c.backends[0].auth.aws_region, "us-west-2");
}

// An Azure OpenAI key with its endpoint: an AzureAPIKey policy (the api-key header), the
// API version from OPENAI_API_VERSION or the default; the key wins over every keyless way and
// over OPENAI_API_KEY, and a key without an endpoint is an error rather than a silent skip.
TEST(AutoConfigTest, AzureApiKeyFromTheEnvironment) {
  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"},
               {"AZURE_OPENAI_API_KEY", "AZKEY123"},
               {"AZURE_CLIENT_ID", "client-1"},
               {"AZURE_TENANT_ID", "tenant-1"},
               {"AZURE_CLIENT_SECRET", "SPSECRET"},
               {"OPENAI_API_KEY", "sk-x"},
               {"OPENAI_API_VERSION", "2025-01-01-preview"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  EXPECT_EQ(yaml.find("AZKEY123"), std::string::npos) << "the key is substituted at load, not written";
  ASSERT_EQ(c.backends.size(), 1u);
  const config::Backend& b = c.backends[0];
  EXPECT_EQ(b.schema, config::ApiSchema::kAzureOpenAI);
  EXPECT_EQ(b.schema_version, "2025-01-01-preview");
  EXPECT_EQ(b.auth.type, config::BackendAuth::Type::kAzureAPIKey);
  EXPECT_EQ(b.auth.key, "AZKEY123");
  EXPECT_EQ(b.endpoints[0].host, "my-aoai.openai.azure.com");
  EXPECT_EQ(b.endpoints[0].port, 443);
  EXPECT_TRUE(b.tls.enabled);

  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"}, {"AZURE_OPENAI_API_KEY", "AZKEY123"}};
  c = BuildAutoConfig(&yaml, &diags);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].schema_version, "2024-10-21");

  TestEnv() = {{"AZURE_OPENAI_API_KEY", "AZKEY123"}};
  auto ac = GenerateAutoConfig(&FromTestEnv, 1975);
  ASSERT_FALSE(ac.ok());
  EXPECT_NE(ac.status().message().find("AZURE_OPENAI_ENDPOINT"), std::string_view::npos) << ac.status();
  EXPECT_EQ(ac.status().message().find("AZKEY123"), std::string_view::npos);
}

// Keyless Azure OpenAI on AKS: the workload identity webhook's variables and an endpoint give an
// AzureCredentials policy without a secret (the federated token is read at run time).
TEST(AutoConfigTest, AzureWorkloadIdentityWithoutAKey) {
  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"},
               {"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"},
               {"AZURE_CLIENT_ID", "client-1"}, {"AZURE_TENANT_ID", "tenant-1"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].schema, config::ApiSchema::kAzureOpenAI);
  EXPECT_EQ(c.backends[0].auth.type, config::BackendAuth::Type::kAzureToken);
  EXPECT_EQ(c.backends[0].auth.azure_client_id, "client-1");
  EXPECT_EQ(c.backends[0].auth.azure_tenant_id, "tenant-1");
  EXPECT_TRUE(c.backends[0].auth.azure_client_secret.empty());
}

// Keyless Azure OpenAI with a managed identity: App Service's IDENTITY_ENDPOINT, or a
// user-assigned identity's AZURE_CLIENT_ID, with the endpoint; an endpoint alone stays off.
TEST(AutoConfigTest, AzureManagedIdentityWithoutAKey) {
  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"},
               {"IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"}, {"IDENTITY_HEADER", "h"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].schema, config::ApiSchema::kAzureOpenAI);
  EXPECT_EQ(c.backends[0].auth.type, config::BackendAuth::Type::kAzureToken);
  EXPECT_EQ(c.backends[0].auth.azure_client_id, "");  // the system-assigned identity
  EXPECT_TRUE(c.backends[0].auth.azure_client_secret.empty());

  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"}, {"AZURE_CLIENT_ID", "user-assigned-1"}};
  c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].auth.azure_client_id, "user-assigned-1");

  // A service principal's secret in the environment: the client-credentials grant.
  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"}, {"AZURE_CLIENT_ID", "sp-1"},
               {"AZURE_TENANT_ID", "t-1"}, {"AZURE_CLIENT_SECRET", "SPSECRET"}};
  c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].auth.azure_client_secret, "SPSECRET");
  EXPECT_EQ(c.backends[0].auth.azure_tenant_id, "t-1");
  EXPECT_EQ(yaml.find("SPSECRET"), std::string::npos) << "the secret is substituted at load, not written";

  TestEnv() = {{"AZURE_OPENAI_ENDPOINT", "https://my-aoai.openai.azure.com"}, {"OPENAI_API_KEY", "sk-x"}};
  c = BuildAutoConfig(&yaml, &diags);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].schema, config::ApiSchema::kOpenAI) << "an endpoint alone is no identity";
}

// Vertex without a key file: GOOGLE_CLOUD_PROJECT turns it on with Application Default
// Credentials (gcloud's login, GKE Workload Identity, ...), found by the gateway at run time. A
// user login named by GOOGLE_APPLICATION_CREDENTIALS is not put in the config either, and names
// its quota project.
TEST(AutoConfigTest, VertexWithApplicationDefaultCredentials) {
  TestEnv() = {{"GOOGLE_CLOUD_PROJECT", "adc-proj"}, {"GOOGLE_CLOUD_LOCATION", "europe-west1"}};
  std::string yaml;
  Diagnostics diags;
  config::Config c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].schema, config::ApiSchema::kGCPVertexAI);
  EXPECT_EQ(c.backends[0].auth.type, config::BackendAuth::Type::kGCP);
  EXPECT_TRUE(c.backends[0].auth.gcp_default_credentials);
  EXPECT_TRUE(c.backends[0].auth.gcp_service_account_json.empty());
  EXPECT_EQ(c.backends[0].auth.gcp_project, "adc-proj");
  EXPECT_EQ(c.backends[0].endpoints[0].host, "europe-west1-aiplatform.googleapis.com");

  std::string user = (std::filesystem::temp_directory_path() / "sluice-adc-user.json").string();
  std::ofstream(user) << R"({"type":"authorized_user","client_id":"c","client_secret":"USERSECRET",)"
                         R"("refresh_token":"r","quota_project_id":"quota-proj"})";
  TestEnv() = {{"GOOGLE_APPLICATION_CREDENTIALS", user}};
  c = BuildAutoConfig(&yaml, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags) << yaml;
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_TRUE(c.backends[0].auth.gcp_default_credentials);
  EXPECT_EQ(c.backends[0].auth.gcp_project, "quota-proj");
  EXPECT_EQ(yaml.find("USERSECRET"), std::string::npos) << yaml;
  std::filesystem::remove(user);
}

// GCPCredentials without a key file is Application Default Credentials; Envoy AI Gateway's
// workload identity federation block (done by its controller) is refused, naming the field.
TEST(ResourcesTest, GcpCredentialsWithoutAKeyFile) {
  const std::string base = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: sluice, listeners: [{name: http, protocol: HTTP, port: 8080}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: vertex}]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: vertex-backend}
spec: {endpoints: [{fqdn: {hostname: us-central1-aiplatform.googleapis.com, port: 443}}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: vertex}
spec:
  schema: {name: GCPVertexAI}
  backendRef: {name: vertex-backend, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: gcp}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: vertex}]
  type: GCPCredentials
  gcpCredentials:
    projectName: my-proj
    region: us-central1
)";
  Diagnostics diags;
  config::Config c = Build(base, &diags);
  ASSERT_FALSE(diags.HasErrors()) << All(diags);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].auth.type, config::BackendAuth::Type::kGCP);
  EXPECT_TRUE(c.backends[0].auth.gcp_default_credentials);
  EXPECT_EQ(c.backends[0].auth.gcp_project, "my-proj");

  // workloadIdentityFederationConfig: the OIDC exchange, run by the gateway.
  const std::string oidc_secret = R"(---
apiVersion: v1
kind: Secret
metadata: {name: idp-client}
stringData: {client-secret: idp-s3cret}
)";
  Diagnostics wif_diags;
  config::Config wif = Build(base + R"(    workloadIdentityFederationConfig:
      projectID: "123456"
      workloadIdentityPoolName: pool
      workloadIdentityProviderName: prov
      serviceAccountImpersonation: {serviceAccountName: vertex-caller}
      oidcExchangeToken:
        oidc:
          provider: {issuer: "https://idp.test"}
          clientID: gw
          clientSecret: {name: idp-client}
          scopes: [openid]
          redirectURL: "https://ignored.test/callback"
)" + oidc_secret,
                             &wif_diags);
  ASSERT_FALSE(wif_diags.HasErrors()) << All(wif_diags);
  EXPECT_EQ(All(wif_diags).find("redirectURL"), std::string::npos) << All(wif_diags);  // browser-login fields: ignored
  ASSERT_EQ(wif.backends.size(), 1u);
  const auto& o = wif.backends[0].auth.oidc;
  EXPECT_TRUE(o.enabled());
  EXPECT_EQ(o.issuer, "https://idp.test");
  EXPECT_EQ(o.client_id, "gw");
  EXPECT_EQ(o.client_secret, "idp-s3cret");
  EXPECT_EQ(o.scopes, std::vector<std::string>{"openid"});
  EXPECT_EQ(o.gcp_sts_audience, "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/prov");
  EXPECT_EQ(o.gcp_service_account, "vertex-caller@my-proj.iam.gserviceaccount.com");
  EXPECT_FALSE(wif.backends[0].auth.gcp_default_credentials);

  // v1alpha1 named the account's project separately.
  Diagnostics v1a1;
  config::Config alpha = Build(base + R"(    workloadIdentityFederationConfig:
      projectID: "123456"
      workloadIdentityPoolName: pool
      workloadIdentityProviderName: prov
      serviceAccountImpersonation: {serviceAccountName: caller, serviceAccountProjectName: other-proj}
      oidcExchangeToken:
        oidc: {provider: {issuer: "https://idp.test"}, clientID: gw, clientSecret: {name: idp-client}}
)" + oidc_secret,
                               &v1a1);
  ASSERT_FALSE(v1a1.HasErrors()) << All(v1a1);
  EXPECT_EQ(alpha.backends.at(0).auth.oidc.gcp_service_account, "caller@other-proj.iam.gserviceaccount.com");

  // Mistakes are named by field.
  for (auto [extra, want] : std::initializer_list<std::pair<std::string, std::string>>{
           {"      projectID: \"1\"\n      workloadIdentityPoolName: p\n",
            "workloadIdentityFederationConfig.workloadIdentityProviderName: required field is missing"},
           {"      projectID: \"1\"\n      workloadIdentityPoolName: p\n      workloadIdentityProviderName: q\n"
            "      oidcExchangeToken: {grantType: password, oidc: {provider: {issuer: \"https://i\"}, clientID: c, clientSecret: {name: idp-client}}}\n",
            "oidcExchangeToken.grantType: only client_credentials is supported"},
           {"      projectID: \"1\"\n      workloadIdentityPoolName: p\n      workloadIdentityProviderName: q\n"
            "      oidcExchangeToken: {oidc: {provider: {issuer: \"https://i\"}, clientID: c, clientSecret: {name: nope}}}\n",
            "oidcExchangeToken.oidc.clientSecret: Secret default/nope not found"},
           {"      projectID: \"1\"\n      workloadIdentityPoolName: p\n      workloadIdentityProviderName: q\n"
            "      oidcExchangeToken: {oidc: {provider: {issuer: \"idp.test\"}, clientID: c, clientSecret: {name: idp-client}}}\n",
            "oidc.provider.issuer: must be an https URL"},
           {"      projectID: \"1\"\n      workloadIdentityPoolName: p\n      workloadIdentityProviderName: q\n"
            "      oidcExchangeToken: {oidc: {provider: {issuer: \"http://idp.test\"}, clientID: c, clientSecret: {name: idp-client}}}\n",
            "oidc.provider.issuer: must be an https URL (plain http only to loopback)"},
       }) {
    Diagnostics d;
    Build(base + "    workloadIdentityFederationConfig:\n" + extra + oidc_secret, &d);
    EXPECT_TRUE(d.HasErrors()) << extra;
    EXPECT_NE(All(d).find(want), std::string::npos) << All(d);
  }
}

// A Gateway and a route to AIServiceBackend `b`, whose Backend is `b-backend`: what a policy
// test needs besides the backend and the policy.
const std::string kOneBackendHead = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: x, listeners: [{name: http, protocol: HTTP, port: 8080}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: b}]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: b-backend}
spec: {endpoints: [{fqdn: {hostname: h.test, port: 443}}]}
---
)";

// credentialOverride: Envoy AI Gateway's defaults per type, lower-cased names, the AWS prefix's
// three input headers, and mistakes named by field.
TEST(ResourcesTest, CredentialOverride) {
  const std::string head = kOneBackendHead + R"(apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {apiKey: k, credentials: "[default]\naws_access_key_id = A\naws_secret_access_key = S\n"}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b}
spec:
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
)";
  auto build = [&](const std::string& schema, const std::string& policy, Diagnostics* d) {
    return Build(head + "  schema: {name: " + schema + "}\n---\napiVersion: aigateway.envoyproxy.io/v1beta1\n"
                 "kind: BackendSecurityPolicy\nmetadata: {name: p}\nspec:\n"
                 "  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}]\n" + policy, d);
  };
  Diagnostics d1;
  auto c1 = build("Anthropic", "  type: AnthropicAPIKey\n  anthropicAPIKey: {secretRef: {name: s}}\n"
                  "  credentialOverride: {fromRequestHeaders: {fallbackToConfigured: false}}\n", &d1);
  ASSERT_FALSE(d1.HasErrors()) << All(d1);
  const auto& o1 = c1.backends.at(0).auth.credential_override;
  EXPECT_EQ(o1.header, "x-aigw-anthropic-api-key");
  EXPECT_FALSE(o1.fallback_to_configured);
  EXPECT_EQ(o1.input_headers, std::vector<std::string>{"x-aigw-anthropic-api-key"});

  Diagnostics d2;
  auto c2 = build("AWSBedrock", "  type: AWSCredentials\n  awsCredentials: {region: us-east-1, credentialsFile: {secretRef: {name: s}}}\n"
                  "  credentialOverride: {fromRequestHeaders: {}}\n", &d2);
  ASSERT_FALSE(d2.HasErrors()) << All(d2);
  const auto& o2 = c2.backends.at(0).auth.credential_override;
  EXPECT_EQ(o2.header, "x-aigw-aws-");
  EXPECT_TRUE(o2.fallback_to_configured);
  EXPECT_EQ(o2.input_headers, (std::vector<std::string>{"x-aigw-aws-access-key-id", "x-aigw-aws-secret-access-key",
                                                         "x-aigw-aws-session-token"}));

  Diagnostics d3;
  auto c3 = build("AWSBedrock", "  type: AWSCredentials\n  awsCredentials: {region: us-east-1}\n"
                  "  credentialOverride: {fromDynamicMetadata: {namespace: envoy.filters.http.ext_authz}}\n", &d3);
  ASSERT_FALSE(d3.HasErrors()) << All(d3);
  const auto& o3 = c3.backends.at(0).auth.credential_override;
  EXPECT_EQ(o3.metadata_namespace, "envoy.filters.http.ext_authz");
  EXPECT_EQ(o3.metadata_key, "x-aigw-aws-credentials");
  EXPECT_TRUE(o3.input_headers.empty());

  Diagnostics d4;
  auto c4 = build("OpenAI", "  type: APIKey\n  apiKey: {secretRef: {name: s}}\n"
                  "  credentialOverride: {fromRequestHeaders: {header: X-Tenant-Key}}\n", &d4);
  ASSERT_FALSE(d4.HasErrors()) << All(d4);
  EXPECT_EQ(c4.backends.at(0).auth.credential_override.header, "x-tenant-key");

  for (auto [policy, want] : std::initializer_list<std::pair<std::string, std::string>>{
           {"  credentialOverride: {fromRequestHeaders: {}, fromDynamicMetadata: {namespace: n}}\n",
            "spec.credentialOverride: set exactly one of fromRequestHeaders and fromDynamicMetadata"},
           {"  credentialOverride: {fromDynamicMetadata: {key: k}}\n",
            "spec.credentialOverride.fromDynamicMetadata.namespace: required field is missing"},
           {"  credentialOverride: {fromRequestHeaders: {fallbackToConfigured: maybe}}\n",
            "fromRequestHeaders.fallbackToConfigured: must be true or false"},
           {"  credentialOverride: {fromRequestHeaders: {header: Authorization}}\n",
            "\"authorization\" cannot carry a credential"},
       }) {
    Diagnostics d;
    build("OpenAI", "  type: APIKey\n  apiKey: {secretRef: {name: s}}\n" + policy, &d);
    EXPECT_TRUE(d.HasErrors()) << policy;
    EXPECT_NE(All(d).find(want), std::string::npos) << All(d);
  }
}

TEST(ResourcesTest, OidcExchangeTokenForAwsAndAzure) {
  const std::string head = kOneBackendHead + R"(apiVersion: v1
kind: Secret
metadata: {name: idp-client}
stringData: {client-secret: idp-s3cret}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: b}
spec:
  backendRef: {name: b-backend, kind: Backend, group: gateway.envoyproxy.io}
)";
  const std::string oidc = R"(        oidc:
          provider: {issuer: "https://idp.test", tokenEndpoint: "https://idp.test/token"}
          clientID: gw
          clientSecret: {name: idp-client}
        aud: sts.amazonaws.com
)";
  Diagnostics d;
  config::Config aws = Build(head + R"(  schema: {name: AWSBedrock}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: bedrock-oidc}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}]
  type: AWSCredentials
  awsCredentials:
    region: eu-west-1
    oidcExchangeToken:
        awsRoleArn: arn:aws:iam::1:role/gw
)" + oidc, &d);
  ASSERT_FALSE(d.HasErrors()) << All(d);
  const auto& a = aws.backends.at(0).auth;
  EXPECT_EQ(a.type, config::BackendAuth::Type::kAWS);
  EXPECT_EQ(a.aws_region, "eu-west-1");
  EXPECT_EQ(a.oidc.aws_role_arn, "arn:aws:iam::1:role/gw");
  EXPECT_EQ(a.oidc.session_name, "ai-gateway-bedrock-oidc");
  EXPECT_EQ(a.oidc.token_endpoint, "https://idp.test/token");
  EXPECT_EQ(a.oidc.audience, "sts.amazonaws.com");
  EXPECT_FALSE(a.aws_credential_chain);

  Diagnostics dz;
  config::Config az = Build(head + R"(  schema: {name: AzureOpenAI, version: "2024-10-21"}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: azure-oidc}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}]
  type: AzureCredentials
  azureCredentials:
    clientID: app
    tenantID: tenant
    oidcExchangeToken:
)" + oidc, &dz);
  ASSERT_FALSE(dz.HasErrors()) << All(dz);
  EXPECT_EQ(az.backends.at(0).auth.type, config::BackendAuth::Type::kAzureToken);
  EXPECT_EQ(az.backends.at(0).auth.oidc.client_secret, "idp-s3cret");

  // A role is required; the block and a credentials file exclude each other.
  Diagnostics missing;
  Build(head + R"(  schema: {name: AWSBedrock}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: b}]
  type: AWSCredentials
  awsCredentials:
    region: eu-west-1
    oidcExchangeToken:
)" + oidc, &missing);
  EXPECT_NE(All(missing).find("spec.awsCredentials.oidcExchangeToken.awsRoleArn: required field is missing"), std::string::npos)
      << All(missing);
}

TEST(AutoConfigTest, NothingConfiguredStillYieldsAGateway) {
  auto ac = GenerateAutoConfig(&EmptyEnv, 1975);
  ASSERT_TRUE(ac.ok());
  EXPECT_FALSE(ac->configured);
  ResourceSet set;
  Diagnostics diags;
  ParseResources(ac->yaml, "<env>", &set, &diags);
  config::Config c = BuildConfig(set, BuildOptions{}, &diags);
  EXPECT_FALSE(diags.HasErrors());
  EXPECT_TRUE(c.routes.empty());
  EXPECT_EQ(c.listener.port, 1975);
}

// Envoy AI Gateway's EKS examples name no AWS credentials at all: the pod's IRSA role or Pod
// Identity association provides them through the SDK default chain. They load as they are, in
// an environment without AWS keys, and their Bedrock backend uses the chain.
TEST(CorpusTest, EksExamplesUseTheAwsDefaultChain) {
  const char* src = std::getenv("SLUICE_SOURCE_DIR");
  std::filesystem::path dir =
      std::filesystem::path(src ? src : ".") / ".." / "shared" / "corpus" / "aigw-resources";
  if (!std::filesystem::exists(dir)) {
    GTEST_SKIP() << "corpus not found at " << dir << "; skipping the EKS examples";
  }
  for (const char* name : {"aws-irsa.yaml", "aws-pod-identity.yaml"}) {
    SCOPED_TRACE(name);
    ResourceSet set;
    Diagnostics diags;
    LoadResourceFile((dir / name).string(), &set, &diags);
    BuildOptions opts;
    opts.env = &EmptyEnv;
    config::Config c = BuildConfig(set, opts, &diags);
    ASSERT_FALSE(diags.HasErrors()) << All(diags);
    int aws = 0;
    for (const auto& b : c.backends) {
      if (b.auth.type != config::BackendAuth::Type::kAWS) continue;
      ++aws;
      EXPECT_TRUE(b.auth.aws_credential_chain) << b.name;
      EXPECT_EQ(b.auth.aws_region, "us-east-1");
    }
    EXPECT_EQ(aws, 1);
  }
}

// Every file of Envoy AI Gateway's examples must load or get diagnostics naming
// file/kind/name/field: never a crash, never a silent gap.
TEST(CorpusTest, EveryAigwResourceFileLoadsOrIsDiagnosed) {
  const char* src = std::getenv("SLUICE_SOURCE_DIR");
  std::filesystem::path dir =
      std::filesystem::path(src ? src : ".") / ".." / "shared" / "corpus" / "aigw-resources";
  if (!std::filesystem::exists(dir)) {
    GTEST_SKIP() << "corpus not found at " << dir << "; skipping the resource corpus walk";
  }
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
    ++files;
    ResourceSet set;
    Diagnostics diags;
    LoadResourceFile(e.path().string(), &set, &diags);
    EXPECT_FALSE(set.items.empty()) << e.path();
    BuildOptions opts;
    opts.env = [](const std::string& name, std::string* v) {
      *v = "placeholder-" + name;
      return true;
    };
    config::Config c = BuildConfig(set, opts, &diags);
    // Every resource is either used, or mentioned by a diagnostic.
    for (const auto& d : diags.items) {
      EXPECT_FALSE(d.file.empty());
      if (d.severity != Diagnostic::Severity::kNotice && d.kind != "") {
        EXPECT_FALSE(d.name.empty()) << Format(d);
      }
    }
    // Every AIGatewayRoute became a route or got a diagnostic.
    for (const auto& r : set.items) {
      if (r.kind != "AIGatewayRoute") continue;
      bool routed = false;
      for (const auto& route : c.routes) routed |= route.name == r.ns + "/" + r.name;
      bool diagnosed = false;
      for (const auto& d : diags.items) diagnosed |= d.kind == r.kind && d.name == r.ns + "/" + r.name;
      EXPECT_TRUE(routed || diagnosed) << e.path() << ": " << r.name;
    }
    // Kinds sluice does not know are reported, never dropped.
    for (const auto& r : set.items) {
      bool mentioned = false;
      for (const auto& d : diags.items) mentioned |= d.kind == r.kind;
      bool handled = r.kind == "AIGatewayRoute" || r.kind == "AIServiceBackend" || r.kind == "Backend" ||
                     r.kind == "BackendSecurityPolicy" || r.kind == "BackendTLSPolicy" ||
                     r.kind == "Secret" || r.kind == "Gateway";
      EXPECT_TRUE(handled || mentioned) << e.path() << ": kind " << r.kind << " silently dropped";
    }
  }
  EXPECT_GE(files, 30);
}

}  // namespace
}  // namespace sluice::compiler
