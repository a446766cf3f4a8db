#include "config/config.h"

#include <map>
#include <optional>

#include "common/strings.h"

namespace sluice::config {

namespace {
constexpr std::pair<ApiSchema, std::string_view> kSchemaNames[] = {
    {ApiSchema::kOpenAI, "OpenAI"},           {ApiSchema::kAzureOpenAI, "AzureOpenAI"},
    {ApiSchema::kAWSBedrock, "AWSBedrock"},   {ApiSchema::kAWSAnthropic, "AWSAnthropic"},
    {ApiSchema::kGCPVertexAI, "GCPVertexAI"}, {ApiSchema::kGCPAnthropic, "GCPAnthropic"},
    {ApiSchema::kAnthropic, "Anthropic"},     {ApiSchema::kCohere, "Cohere"},
};
}  // namespace

std::string_view SchemaName(ApiSchema s) {
  for (const auto& [k, n] : kSchemaNames)
    if (k == s) return n;
  return "?";
}

bool ParseSchemaName(std::string_view name, ApiSchema* out) {
  for (const auto& [k, n] : kSchemaNames) {
    if (n == name) {
      *out = k;
      return true;
    }
  }
  return false;
}

bool HeaderMatch::Matches(std::string_view actual) const {
  if (type == Type::kExact) return actual == value;
  if (match_all) return true;
  return std::regex_match(actual.begin(), actual.end(), *regex);
}

std::string DescribeForLog(const Config& c) {
  std::string out;
  for (const auto& b : c.backends) {
    StrAppend(&out, "backend ", b.name, " schema=", SchemaName(b.schema));
    for (const auto& e : b.endpoints) StrAppend(&out, " ", e.host, ":", e.port);
    StrAppend(&out, b.tls.enabled ? " tls" : " plaintext",
                    b.auth.type == BackendAuth::Type::kNone ? " no-auth" : " auth=configured", "\n");
  }
  for (const auto& r : c.routes)
    StrAppend(&out, "route ", r.name, " rules=", r.rules.size(), "\n");
  return out;
}

bool ParseLlmRequestCostType(std::string_view name, LlmRequestCost::Type* out) {
  static constexpr std::pair<std::string_view, LlmRequestCost::Type> kTypes[] = {
      {"InputToken", LlmRequestCost::Type::kInputToken},
      {"CachedInputToken", LlmRequestCost::Type::kCachedInputToken},
      {"CacheCreationInputToken", LlmRequestCost::Type::kCacheCreationInputToken},
      {"OutputToken", LlmRequestCost::Type::kOutputToken},
      {"TotalToken", LlmRequestCost::Type::kTotalToken},
      {"ReasoningToken", LlmRequestCost::Type::kReasoningToken},
      {"CEL", LlmRequestCost::Type::kCEL},
  };
  for (const auto& [n, t] : kTypes) {
    if (n == name) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::optional<std::map<std::string, std::string>> AwsIniProfile(std::string_view text, std::string_view profile) {
  std::string chosen(profile);
  if (chosen.empty() && text.find("[default]") != std::string_view::npos) chosen = "default";
  std::optional<std::map<std::string, std::string>> out;
  bool in_section = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view l = StripWhitespace(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (l.empty() || l[0] == '#' || l[0] == ';') continue;
    if (l.front() == '[' && l.back() == ']') {
      std::string_view section = StripWhitespace(l.substr(1, l.size() - 2));
      if (section.starts_with("profile ")) section = StripWhitespace(section.substr(8));
      if (chosen.empty()) chosen = std::string(section);
      in_section = section == chosen;
      if (in_section && !out) out.emplace();
      continue;
    }
    if (!in_section) continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) continue;
    (*out)[std::string(StripWhitespace(l.substr(0, eq)))] = std::string(StripWhitespace(l.substr(eq + 1)));
  }
  return out;
}

bool ParseAwsCredentialsFile(std::string_view text, std::string_view profile, BackendAuth* auth) {
  auto keys = AwsIniProfile(text, profile);
  if (!keys) return false;
  auto get = [&](const char* k) {
    auto it = keys->find(k);
    return it == keys->end() ? std::string() : it->second;
  };
  std::string id = get("aws_access_key_id"), secret = get("aws_secret_access_key");
  if (id.empty() || secret.empty()) return false;
  auth->aws_access_key_id = std::move(id);
  auth->aws_secret_access_key = std::move(secret);
  auth->aws_session_token = get("aws_session_token");
  return true;
}

std::string_view DefaultOverrideHeader(BackendAuth::Type type) {
  switch (type) {
    case BackendAuth::Type::kAPIKey: return "x-aigw-api-key";
    case BackendAuth::Type::kAnthropicAPIKey: return "x-aigw-anthropic-api-key";
    case BackendAuth::Type::kAzureAPIKey: return "x-aigw-azure-api-key";
    case BackendAuth::Type::kAzureToken: return "x-aigw-azure-access-token";
    case BackendAuth::Type::kGCP: return "x-aigw-gcp-access-token";
    case BackendAuth::Type::kAWS: return "x-aigw-aws-";
    case BackendAuth::Type::kNone: break;
  }
  return {};
}

std::string_view DefaultOverrideMetadataKey(BackendAuth::Type type) {
  return type == BackendAuth::Type::kAWS ? std::string_view("x-aigw-aws-credentials") : DefaultOverrideHeader(type);
}

bool OverrideHeaderAllowed(std::string_view name) {
  if (name.empty() || name.front() == ':') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  for (std::string_view reserved : {"authorization", "x-api-key", "api-key", "host", "content-length", "content-type",
                                    "content-encoding", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
                                    "upgrade", "proxy-authorization", "x-request-id", "cookie"}) {
    if (name == reserved) return false;
  }
  return !name.starts_with("x-forwarded-") && !name.starts_with("x-amz-") && !name.starts_with("x-envoy-");
}

std::vector<std::string> OverrideInputHeaders(BackendAuth::Type type, std::string_view header) {
  if (type == BackendAuth::Type::kAWS) {
    return {StrCat(header, "access-key-id"), StrCat(header, "secret-access-key"), StrCat(header, "session-token")};
  }
  return {std::string(header)};
}

}  // namespace sluice::config
