// Envoy AI Gateway's data-plane filter config (`internal/filterapi`, the YAML the controller
// writes for its ext_proc: `-configPath` single file, or `-configBundlePath` directory with
// `index.yaml` + `parts/NNN`), turned into a sluice config::Config for the ext_proc driver.
//
// In that layout Envoy's route table picks the backend, not sluice: the ext_proc only learns
// the chosen backend's name. So each filterapi backend becomes one config backend plus one
// route rule that matches the request header kBackendHeader ("x-ai-eg-backend") exactly on
// the backend's full name ("{ns}/{aiservicebackend}/route/{route}/rule/{i}/ref/{j}"), carrying
// its modelNameOverride. The header must reach the router-level ext_proc filter (set by the
// route selection upstream of it: a header_mutation filter, a trusted front proxy, ...).
//
// Not supported (rejected, or ignored with a warning in `warnings`):
//   - `mcpConfig`, `modelsByHost`, `unscopedModels` (ignored; models[] feeds /v1/models);
//   - `auth.credentialOverride` (ignored);
// Credentials as Envoy AI Gateway's ext_proc takes them: `aws` without `credentialFileLiteral`
// uses the AWS SDKs' default chain, `gcp` with an empty accessToken Google's Application
// Default Credentials (auth/aws_credentials.h, auth/gcp_credentials.h).
// Endpoints: filterapi has none (Envoy owns the clusters); each backend gets a placeholder
// endpoint (kPlaceholderHost) since the ext_proc never connects upstream itself.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace sluice::config {

inline constexpr const char* kBackendHeader = "x-ai-eg-backend";
inline constexpr const char* kPlaceholderHost = "envoy-routed.invalid";

struct FilterConfig {
  std::string version;
  std::string uuid;
  Config config;
  LlmRequestCosts costs;
  std::vector<std::string> warnings;  // features parsed but ignored
};

// Parts of a filterapi backend name "{ns}/{aiservicebackend}/route/{route}/rule/{i}/ref/{j}".
// For a name not in that form, everything is empty but `short_name` (the whole name).
struct BackendNameParts {
  std::string short_name;  // "{ns}/{aiservicebackend}"
  std::string route_name;  // "{ns}/{route}"
};
BackendNameParts SplitBackendName(std::string_view name);

// Parses one filterapi YAML document. `expected_version`, when not empty, must equal
// `version` (Envoy AI Gateway rejects a mismatch the same way). InvalidArgument naming the
// field on any error.
absl::StatusOr<FilterConfig> ParseFilterConfig(std::string_view yaml, std::string_view source,
                                               std::string_view expected_version = {});

// Reads a file, or a bundle directory (index.yaml {version, uuid, checksum (sha256 hex of the
// concatenated parts), parts[{name, path, sizeBytes}]}): parts are concatenated in order,
// their sizes and the checksum verified, then parsed as one document.
absl::StatusOr<FilterConfig> LoadFilterConfig(const std::string& path,
                                              std::string_view expected_version = {});

// Where a cost applies: route-scoped entries (matching route, then optional backend and
// model) win over global ones with the same metadata key. Returns the effective list.
std::vector<const LlmRequestCost*> CostsFor(const LlmRequestCosts& costs, std::string_view route_name,
                                            std::string_view short_backend, std::string_view model);

}  // namespace sluice::config
