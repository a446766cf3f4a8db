#include "compiler/resources/autoconfig.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"
#include "json/json.h"
#include "absl/strings/str_replace.h"

namespace sluice::compiler {

namespace {

struct Url {
  bool tls = true;
  std::string host;
  int port = 443;
  std::string path;  // without leading/trailing slash
};

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  Url u;
  std::string_view rest = text;
  if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
    u.tls = false;
    u.port = 80;
  } else {
    return absl::InvalidArgumentError(
        StrCat("URL must start with http:// or https://, got \"", text, "\""));
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  std::string_view host, port_text;
  if (!SplitHostPort(hostport, &host, &port_text)) return absl::InvalidArgumentError(StrCat("URL has a malformed host: ", text));
  if (!port_text.empty()) {
    int64_t port = 0;
    if (!ParseInt(port_text, &port) || port <= 0 || port > 65535)
      return absl::InvalidArgumentError(StrCat("URL has a bad port: ", text));
    u.port = static_cast<int>(port);
  }
  u.host = std::string(host);
  if (u.host.empty()) return absl::InvalidArgumentError("URL has no host");
  return u;
}

bool IsIp(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6 (a name has no colon)
  for (char c : host)
    if (!(isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':')) return false;
  return true;
}

}  // namespace

namespace {

// YAML double-quoted scalar (JSON escaping is valid YAML).
std::string Quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// One provider found in the environment.
struct Provider {
  std::string name;         // resource name
  std::string schema;       // AIServiceBackend schema.name
  std::string version;      // schema.version
  std::string prefix;       // schema.prefix ("" = none)
  Url url;
  std::string model_regex;  // "" = catch-all candidate only
  std::string policy;       // BackendSecurityPolicy spec body (after targetRefs)
  std::string secret;       // Secret stringData body ("" = none)
  std::string headers;      // backendRef headerMutation.set items
  std::string description;
};

std::string ProviderYaml(const Provider& p) {
  std::string y = StrCat(R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: )", p.name, R"(, namespace: default}
spec:
  schema: {name: )", p.schema);
  if (!p.version.empty()) StrAppend(&y, ", version: ", Quote(p.version));
  StrAppend(&y, ", prefix: ", Quote(p.prefix), R"(}
  backendRef: {name: )", p.name, R"(, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: )", p.name, R"(, namespace: default}
spec:
  endpoints: [{)", IsIp(p.url.host) ? "ip: {address: " : "fqdn: {hostname: ", p.url.host,
            ", port: ", p.url.port, "}}]\n");
  if (p.url.tls) {
    StrAppend(&y, R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: )", p.name, R"(-tls, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: )", p.name, R"(}]
  validation: {wellKnownCACertificates: System, hostname: )", p.url.host, "}\n");
  }
  StrAppend(&y, R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: )", p.name, R"(-credentials, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: )", p.name, "}]\n",
            p.policy);
  if (!p.secret.empty()) {
    StrAppend(&y, R"(---
apiVersion: v1
kind: Secret
metadata: {name: )", p.name, R"(-credentials, namespace: default}
stringData:
)", p.secret);
  }
  return y;
}

std::string Get(EnvLookup env, const char* name, std::string def = "") {
  std::string v;
  if (env(name, &v) && !v.empty()) return v;
  return def;
}

}  // namespace

absl::StatusOr<AutoConfig> GenerateAutoConfig(EnvLookup env, int port) {
  AutoConfig out;
  std::vector<Provider> providers;
  auto api_key_policy = [](std::string_view type, std::string_view field, std::string_view name) {
    return StrCat("  type: ", type, "\n  ", field, ": {secretRef: {name: ", name, "-credentials}}\n");
  };

  // Azure OpenAI wins over OpenAI when both are set, as in `aigw run`.
  const std::string azure_endpoint = Get(env, "AZURE_OPENAI_ENDPOINT");
  auto azure = [&](std::string policy, std::string secret, std::string_view how) -> absl::Status {
    auto url = ParseUrl(azure_endpoint);
    if (!url.ok()) return absl::InvalidArgumentError(StrCat("AZURE_OPENAI_ENDPOINT: ", url.status().message()));
    providers.push_back(Provider{"azure-openai", "AzureOpenAI", Get(env, "OPENAI_API_VERSION", "2024-10-21"), "", *url, "",
                                 std::move(policy), std::move(secret), "",
                                 StrCat("Azure OpenAI at ", azure_endpoint, how)});
    return absl::OkStatus();
  };
  // An AzureCredentials policy for the environment's client and tenant.
  auto entra = [&](std::string_view secret_ref) {
    return StrCat("  type: AzureCredentials\n  azureCredentials: {clientID: ", Quote(Get(env, "AZURE_CLIENT_ID")),
                  ", tenantID: ", Quote(Get(env, "AZURE_TENANT_ID")), secret_ref, "}\n");
  };
  const bool client_and_tenant = !Get(env, "AZURE_CLIENT_ID").empty() && !Get(env, "AZURE_TENANT_ID").empty();
  absl::Status azure_status;
  if (!Get(env, "AZURE_OPENAI_API_KEY").empty()) {
    if (azure_endpoint.empty()) return absl::InvalidArgumentError("AZURE_OPENAI_API_KEY is set but AZURE_OPENAI_ENDPOINT is not");
    azure_status = azure(api_key_policy("AzureAPIKey", "azureAPIKey", "azure-openai"),
                         "  apiKey: \"${AZURE_OPENAI_API_KEY}\"\n", "");
  } else if (!azure_endpoint.empty() && !Get(env, "AZURE_FEDERATED_TOKEN_FILE").empty() && client_and_tenant) {
    // Keyless Azure OpenAI on AKS (workload identity): what the webhook puts in the pod.
    azure_status = azure(entra(""), "", " (workload identity)");
  } else if (!azure_endpoint.empty() && !Get(env, "AZURE_CLIENT_SECRET").empty() && client_and_tenant) {
    // A service principal's secret in the environment (Azure SDKs' EnvironmentCredential).
    azure_status = azure(entra(", clientSecretRef: {name: azure-openai-credentials}"),
                         "  client-secret: \"${AZURE_CLIENT_SECRET}\"\n", " (Entra client secret)");
  } else if (!azure_endpoint.empty() && (!Get(env, "IDENTITY_ENDPOINT").empty() || !Get(env, "AZURE_CLIENT_ID").empty())) {
    // Keyless Azure OpenAI with a managed identity: App Service / Functions / Container Apps
    // (IDENTITY_ENDPOINT), or a user-assigned identity named by AZURE_CLIENT_ID (VMs, AKS
    // nodes, through the instance metadata service); without AZURE_CLIENT_ID, the
    // system-assigned one.
    azure_status = azure(entra(""), "", " (managed identity)");
  } else if (!Get(env, "OPENAI_API_KEY").empty()) {
    std::string base = Get(env, "OPENAI_BASE_URL", "https://api.openai.com/v1");
    auto url = ParseUrl(base);
    if (!url.ok()) return url.status();
    Provider p{"openai", "OpenAI", "", url->path, *url, "", api_key_policy("APIKey", "apiKey", "openai"),
               "  apiKey: \"${OPENAI_API_KEY}\"\n", "", StrCat("OpenAI at ", base)};
    std::string org = Get(env, "OPENAI_ORG_ID"), project = Get(env, "OPENAI_PROJECT_ID");
    if (!org.empty()) StrAppend(&p.headers, "\n              - {name: OpenAI-Organization, value: ", Quote(org), "}");
    if (!project.empty()) StrAppend(&p.headers, "\n              - {name: OpenAI-Project, value: ", Quote(project), "}");
    providers.push_back(std::move(p));
  }
  if (!azure_status.ok()) return azure_status;
  if (!Get(env, "ANTHROPIC_API_KEY").empty()) {
    std::string base = Get(env, "ANTHROPIC_BASE_URL", "https://api.anthropic.com");
    auto url = ParseUrl(base);
    if (!url.ok()) return absl::InvalidArgumentError(StrCat("ANTHROPIC_BASE_URL: ", url.status().message()));
    std::string prefix = url->path.empty() ? "v1" : url->path;
    Provider p{"anthropic", "Anthropic", "", prefix, *url, "claude-.*",
               api_key_policy("AnthropicAPIKey", "anthropicAPIKey", "anthropic"),
               "  apiKey: \"${ANTHROPIC_API_KEY}\"\n", "", StrCat("Anthropic at ", base)};
    providers.push_back(std::move(p));
  }
  // Keys in the environment, or a source of the AWS default chain the environment points to
  // (IRSA's web identity, EKS Pod Identity / ECS container credentials, a named profile).
  // Instance metadata alone does not count: it would turn Bedrock on on every machine.
  bool aws_keys = !Get(env, "AWS_ACCESS_KEY_ID").empty() && !Get(env, "AWS_SECRET_ACCESS_KEY").empty();
  bool aws_chain = !Get(env, "AWS_WEB_IDENTITY_TOKEN_FILE").empty() ||
                   !Get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI").empty() ||
                   !Get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() || !Get(env, "AWS_PROFILE").empty();
  if (aws_keys || aws_chain) {
    std::string region = Get(env, "AWS_REGION", Get(env, "AWS_DEFAULT_REGION", "us-east-1"));
    // AWS_ENDPOINT_URL_BEDROCK_RUNTIME is the AWS SDKs' own service-endpoint override.
    std::string base = Get(env, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
                           StrCat("https://bedrock-runtime.", region, ".amazonaws.com"));
    auto url = ParseUrl(base);
    if (!url.ok()) return absl::InvalidArgumentError(StrCat("AWS_ENDPOINT_URL_BEDROCK_RUNTIME: ", url.status().message()));
    // Bedrock model ids carry a vendor (and optional inference-profile region) prefix.
    Provider p{"aws-bedrock", "AWSBedrock", "", "", *url,
               "((us|eu|apac|jp|au|ca|us-gov|global)\\.)?(amazon|anthropic|meta|mistral|cohere|ai21|deepseek|qwen|openai|writer|twelvelabs|stability)\\..*",
               StrCat("  type: AWSCredentials\n  awsCredentials: {region: ", Quote(region), "}\n"), "", "",
               StrCat("AWS Bedrock in ", region)};
    providers.push_back(std::move(p));
  }
  // Vertex AI: a service-account key file is put in the config; any other Google credentials
  // (gcloud's user login, an external_account file, GKE Workload Identity or another metadata
  // server) are Application Default Credentials, found by the gateway at run time. Without a
  // key file, GOOGLE_CLOUD_PROJECT is what turns Vertex on.
  std::string gac_file = Get(env, "GOOGLE_APPLICATION_CREDENTIALS");
  std::string project = Get(env, "GOOGLE_CLOUD_PROJECT");
  if (!gac_file.empty() || !project.empty()) {
    std::string key_json;  // a service-account key: secret
    if (!gac_file.empty()) {
      std::ifstream in(gac_file);
      if (!in) return absl::InvalidArgumentError(StrCat("GOOGLE_APPLICATION_CREDENTIALS: cannot read ", gac_file));
      std::stringstream ss;
      ss << in.rdbuf();
      auto doc = json::Parse(ss.str());
      if (!doc.ok() || !doc->is_object()) {
        return absl::InvalidArgumentError(StrCat("GOOGLE_APPLICATION_CREDENTIALS: ", gac_file, " is not a JSON object"));
      }
      // The file names its project: a key's project_id, a user login's quota_project_id.
      if (project.empty()) project = std::string(doc->GetString("project_id"));
      if (project.empty()) project = std::string(doc->GetString("quota_project_id"));
      if (doc->GetString("type") == "service_account") key_json = ss.str();
    }
    if (project.empty()) return absl::InvalidArgumentError("set GOOGLE_CLOUD_PROJECT (the credentials file names no project)");
    std::string region = Get(env, "GOOGLE_CLOUD_LOCATION", "us-central1");
    std::string host = region == "global" ? "aiplatform.googleapis.com" : StrCat(region, "-aiplatform.googleapis.com");
    auto url = ParseUrl(Get(env, "VERTEX_BASE_URL", StrCat("https://", host)));
    if (!url.ok()) return url.status();
    std::string policy = StrCat("  type: GCPCredentials\n  gcpCredentials: {projectName: ", Quote(project),
                                ", region: ", Quote(region));
    std::string secret;
    if (!key_json.empty()) {
      StrAppend(&policy, ", credentialsFile: {secretRef: {name: gcp-vertex-credentials}}}\n");
      secret = StrCat("  service_account.json: ", Quote(key_json), "\n");
    } else {
      StrAppend(&policy, "}\n");
    }
    Provider p{"gcp-vertex", "GCPVertexAI", "", "", *url, "(gemini-|text-embedding-|text-multilingual-embedding-).*",
               std::move(policy), std::move(secret), "",
               StrCat("GCP Vertex AI (project ", project, ", ", region,
                      key_json.empty() ? ", Application Default Credentials)" : ")")};
    providers.push_back(std::move(p));
  }

  std::string yaml = StrCat(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sluice-run, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: )", port, "}]\n");
  if (providers.empty()) {
    out.yaml = yaml;
    return out;
  }
  // Rules: each provider's own model names first, then one catch-all: OpenAI/Azure when
  // configured, else the first provider.
  std::string rules;
  auto rule = [&](const Provider& p, std::string_view regex) {
    StrAppend(&rules, "    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ",
              Quote(regex), "}]}]\n      backendRefs:\n        - name: ", p.name);
    if (!p.headers.empty()) StrAppend(&rules, "\n          headerMutation:\n            set:", p.headers);
    StrAppend(&rules, "\n      timeouts: {request: 120s}\n");
  };
  const Provider* catch_all = &providers[0];
  for (const auto& p : providers)
    if (!p.model_regex.empty() && p.name != catch_all->name) rule(p, p.model_regex);
  rule(*catch_all, ".*");
  StrAppend(&yaml, R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: sluice-run, namespace: default}
spec:
  parentRefs: [{name: sluice-run, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
)", rules);
  std::vector<std::string> what;
  for (const auto& p : providers) {
    yaml += ProviderYaml(p);
    what.push_back(p.model_regex.empty() || &p == catch_all ? StrCat(p.description, " (any other model)")
                                                             : StrCat(p.description, " (", p.model_regex, ")"));
  }
  out.yaml = std::move(yaml);
  out.configured = true;
  out.description = absl::StrJoin(what, "; ");
  return out;
}

}  // namespace sluice::compiler
