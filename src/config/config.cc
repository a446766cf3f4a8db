#include "config/config.h"

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

}  // namespace sluice::config
