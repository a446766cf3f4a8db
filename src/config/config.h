// The data-plane config: the only contract between the control plane (resource loader /
// compiler) and the data plane (pipeline + drivers). Plain data, built once, then shared
// read-only as std::shared_ptr<const Config> and swapped whole on reload.
//
// Secrets (API keys) live here in memory; nothing that formats a Config for humans may
// print them (see DescribeForLog).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/headers.h"

namespace sluice::cel {
class CostProgram;  // cel/cel.h
}  // namespace sluice::cel

namespace sluice::config {

// AIServiceBackend schema.name values (Envoy AI Gateway's filterapi.APISchemaName).
enum class ApiSchema { kOpenAI, kAzureOpenAI, kAWSBedrock, kAWSAnthropic, kGCPVertexAI,
                       kGCPAnthropic, kAnthropic, kCohere };
std::string_view SchemaName(ApiSchema s);
bool ParseSchemaName(std::string_view name, ApiSchema* out);

struct Endpoint {
  std::string host;  // fqdn hostname or IP literal
  uint16_t port = 0;
};

struct Tls {
  bool enabled = false;
  std::string sni;      // host name to verify and send as SNI; defaults to the endpoint host
  std::string ca_pem;  // extra trust anchors (PEM text); empty = system store only
  bool use_system_ca = true;
};

// Envoy AI Gateway's oidcExchangeToken (AWSCredentials, AzureCredentials) and
// workloadIdentityFederationConfig (GCPCredentials): an access token from an OIDC provider's
// client-credentials grant, exchanged for the provider's credentials at every refresh, in the
// gateway itself instead of Envoy AI Gateway's controller (auth/oidc_exchange.h).
// Secrets: client_secret.
struct OidcExchange {
  std::string issuer;          // discovery at {issuer}/.well-known/openid-configuration
  std::string token_endpoint;  // when given, no discovery
  std::string client_id;
  std::string client_secret;
  std::vector<std::string> scopes;
  std::string audience;  // `aud`: sent as the grant's audience parameter
  // AWS: STS AssumeRoleWithWebIdentity.
  std::string aws_role_arn;
  std::string session_name;
  // GCP: Google STS token exchange for this audience (the workload identity provider), then
  // the service account's token when one is named.
  std::string gcp_sts_audience;
  std::string gcp_service_account;  // email
  bool enabled() const { return !issuer.empty() || !token_endpoint.empty(); }
};

// Envoy AI Gateway's credentialOverride: a per-request credential that replaces the
// backend's for that request, from request headers (a trusted ingress filter sets them) or
// from Envoy dynamic metadata (ext_proc's metadata_context). Secrets: the values, per request.
struct CredentialOverride {
  // Header source: the header's name; for kAWS a prefix, the three headers being
  // {prefix}access-key-id, {prefix}secret-access-key, {prefix}session-token.
  std::string header;
  // Metadata source: a string value (for kAWS a struct with accessKeyId, secretAccessKey,
  // sessionToken) under `metadata_key` in `metadata_namespace`.
  std::string metadata_namespace;
  std::string metadata_key;
  bool fallback_to_configured = true;  // false: a request without it is answered 401
  std::vector<std::string> input_headers;  // never sent upstream (lower-case)
  bool enabled() const { return !header.empty() || !metadata_key.empty(); }
};

struct BackendAuth {
  enum class Type {
    kNone,
    kAPIKey,           // Authorization: Bearer <key>
    kAnthropicAPIKey,  // x-api-key: <key>
    kAzureAPIKey,      // api-key: <key>
    kAzureToken,       // Authorization: Bearer <Entra token> (static, or from client credentials)
    kAWS,              // SigV4, service "bedrock"
    kGCP,              // Authorization: Bearer <OAuth2 token>
  };
  Type type = Type::kNone;
  std::string key;  // API keys; secret: never log

  // kAWS. Secrets: never log.
  std::string aws_access_key_id;
  std::string aws_secret_access_key;
  std::string aws_session_token;  // optional
  std::string aws_region;         // signing region, e.g. us-east-1
  // No keys given: the AWS SDKs' default credential chain finds them at run time (web identity,
  // shared credentials file, container credentials, instance metadata; auth/aws_credentials.h).
  bool aws_credential_chain = false;

  // kGCP: the Vertex AI project and region (paths are built from them), and a static access
  // token, or a service-account key (JSON) to mint tokens from, or neither and
  // gcp_default_credentials: Google's Application Default Credentials found at run time
  // (auth/gcp_credentials.h). Secrets: never log.
  std::string gcp_project;
  std::string gcp_region;
  std::string gcp_access_token;
  std::string gcp_service_account_json;
  bool gcp_default_credentials = false;

  // kAzureToken via client credentials (Entra ID). Secrets: never log.
  std::string azure_tenant_id;
  std::string azure_client_id;
  std::string azure_client_secret;
  std::string azure_access_token;  // static token, when given directly

  // kAWS, kAzureToken, kGCP: credentials from an OIDC token exchange (see OidcExchange).
  OidcExchange oidc;

  CredentialOverride credential_override;
};

// credentialOverride's defaults for a policy type, as Envoy AI Gateway sets them: the header
// (for kAWS the prefix) and the metadata key.
std::string_view DefaultOverrideHeader(BackendAuth::Type type);
std::string_view DefaultOverrideMetadataKey(BackendAuth::Type type);
// Whether `name` (lower-case) may carry a per-request credential: not a header the gateway
// or the protocol owns (authorization, x-api-key, api-key, host, content-*, hop-by-hop,
// x-forwarded-*, x-request-id, pseudo-headers) and a valid header name.
bool OverrideHeaderAllowed(std::string_view name);
// The headers a credential comes in for `type` with header (prefix) `header`.
std::vector<std::string> OverrideInputHeaders(BackendAuth::Type type, std::string_view header);

// Top-level JSON body edits: `set` values are raw JSON text.
struct BodyMutation {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && remove.empty(); }
};

struct Backend {
  std::string name;  // "namespace/name" of the AIServiceBackend
  ApiSchema schema = ApiSchema::kOpenAI;
  std::string schema_version;
  std::string schema_prefix = "v1";  // OpenAI / Anthropic path prefix
  std::vector<Endpoint> endpoints;
  Tls tls;
  BackendAuth auth;
  http::HeaderMutation header_mutation;
  BodyMutation body_mutation;
  std::chrono::milliseconds request_timeout{0};  // 0 = use the rule's
};

struct HeaderMatch {
  enum class Type { kExact, kRegularExpression };
  Type type = Type::kExact;
  std::string name;   // lower-case
  std::string value;  // exact value or the pattern
  std::shared_ptr<const std::regex> regex;  // kRegularExpression; full match
  bool match_all = false;  // pattern ".*": skip the regex engine

  bool Matches(std::string_view actual) const;
};

struct BackendRef {
  size_t backend = 0;  // index into Config::backends
  std::string model_name_override;
  uint32_t weight = 1;    // 0 disables
  uint32_t priority = 0;  // lower is preferred; higher ones are fallbacks
  http::HeaderMutation header_mutation;
  BodyMutation body_mutation;
};

struct Rule {
  std::string name;
  // OR of matches; each match is an AND of header matches. Empty = matches everything.
  std::vector<std::vector<HeaderMatch>> matches;
  std::vector<BackendRef> backend_refs;
  std::chrono::milliseconds request_timeout{60000};       // whole request (first byte)
  std::chrono::milliseconds backend_request_timeout{0};  // per attempt; 0 = request_timeout
  std::string models_owned_by = "Envoy AI Gateway";
  int64_t models_created_at = 0;  // unix seconds
};

// A token cost emitted as dynamic metadata at the end of an answer (ext_proc): Envoy AI
// Gateway's LLMRequestCost, from an AIGatewayRoute's spec.llmRequestCosts or filterapi.
struct LlmRequestCost {
  enum class Type { kInputToken, kCachedInputToken, kCacheCreationInputToken, kOutputToken,
                    kTotalToken, kReasoningToken, kCEL };
  std::string metadata_key;
  Type type = Type::kTotalToken;
  std::string cel;         // kCEL only: the expression, as written
  std::shared_ptr<const cel::CostProgram> program;  // kCEL only: compiled when the config loads
  std::string route_name;  // "ns/name"; empty for global costs
  std::string backend;     // optional filter: short "ns/name" of the AIServiceBackend
  std::string model;       // optional filter: the final model
};

struct LlmRequestCosts {
  std::vector<LlmRequestCost> global;  // globalLLMRequestCosts
  std::vector<LlmRequestCost> route;   // llmRequestCosts (routeName required)
  bool empty() const { return global.empty() && route.empty(); }
};

// "InputToken", "CachedInputToken", "CacheCreationInputToken", "OutputToken", "TotalToken",
// "ReasoningToken", "CEL" (Envoy AI Gateway's LLMRequestCostType). False for anything else.
bool ParseLlmRequestCostType(std::string_view name, LlmRequestCost::Type* out);

struct Route {
  std::string name;  // "namespace/name"
  std::vector<std::string> hostnames;
  std::vector<Rule> rules;
  std::vector<LlmRequestCost> costs;  // spec.llmRequestCosts (route_name = name)
};

struct Model {
  std::string id;
  std::string owned_by;
  int64_t created = 0;
};

struct Listener {
  std::string name;
  uint16_t port = 1975;
};

struct Config {
  std::string source;  // where it came from, for logs
  Listener listener;
  std::vector<Route> routes;
  std::vector<Backend> backends;
  std::vector<Model> models;  // /v1/models, from exact x-ai-eg-model matches
};

// One line per backend/route without secrets, for startup logs.
std::string DescribeForLog(const Config& c);

// Reads aws_access_key_id / aws_secret_access_key / aws_session_token from an AWS shared
// credentials file's `profile` section ("[name]" or "[profile name]"). An empty `profile` takes
// [default], else the first section (as Envoy AI Gateway's credentialFileLiteral). False
// unless both the key id and the secret were found.
bool ParseAwsCredentialsFile(std::string_view text, std::string_view profile, BackendAuth* auth);
// The keys of that section of an AWS shared credentials or config file; nullopt when there is
// no such section.
std::optional<std::map<std::string, std::string>> AwsIniProfile(std::string_view text, std::string_view profile);

}  // namespace sluice::config
