#include "compiler/resources/autoconfig.h"

#include "absl/strings/numbers.h"
#include "common/strings.h"
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
        StrCat("OPENAI_BASE_URL must start with http:// or https://, got \"", text, "\""));
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    int64_t port = 0;
    if (!ParseInt(hostport.substr(colon + 1), &port) || port <= 0 || port > 65535)
      return absl::InvalidArgumentError(StrCat("OPENAI_BASE_URL has a bad port: ", text));
    u.port = static_cast<int>(port);
    hostport = hostport.substr(0, colon);
  }
  u.host = std::string(hostport);
  if (u.host.empty()) return absl::InvalidArgumentError("OPENAI_BASE_URL has no host");
  return u;
}

bool IsIp(std::string_view host) {
  for (char c : host)
    if (!(isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':')) return false;
  return true;
}

}  // namespace

absl::StatusOr<AutoConfig> GenerateAutoConfig(EnvLookup env, int port) {
  AutoConfig out;
  std::string key;
  std::string yaml = StrCat(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sluice-run, namespace: default}
spec:
  gatewayClassName: sluice
  listeners: [{name: http, protocol: HTTP, port: )", port, R"(}]
)");
  if (!env("OPENAI_API_KEY", &key) || key.empty()) {
    out.yaml = yaml;
    return out;
  }
  std::string base = "https://api.openai.com/v1";
  env("OPENAI_BASE_URL", &base);
  auto url = ParseUrl(base);
  if (!url.ok()) return url.status();
  std::string org, project;
  env("OPENAI_ORG_ID", &org);
  env("OPENAI_PROJECT_ID", &project);
  std::string headers;
  if (!org.empty() || !project.empty()) {
    headers = "\n          headerMutation:\n            set:";
    // Values are quoted JSON-style so any character survives YAML.
    auto quote = [](const std::string& v) {
      return StrCat("\"", absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
    };
    if (!org.empty()) StrAppend(&headers, "\n              - {name: OpenAI-Organization, value: ", quote(org), "}");
    if (!project.empty()) StrAppend(&headers, "\n              - {name: OpenAI-Project, value: ", quote(project), "}");
  }
  StrAppend(&yaml, R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: sluice-run, namespace: default}
spec:
  parentRefs: [{name: sluice-run, kind: Gateway, group: gateway.networking.k8s.io}]
  rules:
    - matches: [{headers: [{type: RegularExpression, name: x-ai-eg-model, value: ".*"}]}]
      backendRefs:
        - name: openai)", headers, R"(
      timeouts: {request: 120s}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai, namespace: default}
spec:
  schema: {name: OpenAI, prefix: ")", url->path, R"("}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: openai, namespace: default}
spec:
  endpoints: [{)", IsIp(url->host) ? "ip: {address: " : "fqdn: {hostname: ", url->host,
                  ", port: ", url->port, R"(}}]
)");
  if (url->tls) {
    StrAppend(&yaml, R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: openai-tls, namespace: default}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: openai}]
  validation: {wellKnownCACertificates: System, hostname: )", url->host, R"(}
)");
  }
  StrAppend(&yaml, R"(---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: openai-apikey, namespace: default}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: openai}]
  type: APIKey
  apiKey: {secretRef: {name: openai-apikey}}
---
apiVersion: v1
kind: Secret
metadata: {name: openai-apikey, namespace: default}
stringData: {apiKey: "${OPENAI_API_KEY}"}
)");
  out.yaml = std::move(yaml);
  out.configured = true;
  out.description = StrCat("OpenAI at ", base);
  return out;
}

}  // namespace sluice::compiler
