// Loads Envoy AI Gateway's Kubernetes-style resources (the same multi-document YAML files that
// `aigw run` takes) and builds the gateway-agnostic data-plane config from them: the step
// Envoy AI Gateway's controller calls BuildFilterConfig. Used by `sluice run` in memory and,
// later, by `sluice compile` for every target.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/resources/diagnostic.h"
#include "config/config.h"

namespace sluice::yaml {
struct Node;
}

namespace sluice::compiler {

// One Kubernetes object as read from a file.
struct Resource {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string ns;  // defaulted to "default"
  std::string file;
  int line = 0;
  std::shared_ptr<const yaml::Node> doc;  // the whole document
};

struct ResourceSet {
  std::vector<Resource> items;
};

// Environment lookup, injected so tests are hermetic. Returns false when unset.
using EnvLookup = bool (*)(const std::string& name, std::string* value);
bool ProcessEnv(const std::string& name, std::string* value);

// Parses `text` (one file) into `set`. YAML syntax errors and documents without
// apiVersion/kind/metadata.name become diagnostics.
void ParseResources(std::string_view text, std::string_view file, ResourceSet* set,
                    Diagnostics* diags);
// Reads and parses a file (or every *.yaml / *.yml in a directory, sorted).
void LoadResourceFile(const std::string& path, ResourceSet* set, Diagnostics* diags);

struct BuildOptions {
  EnvLookup env = &ProcessEnv;  // for ${VAR} in Secret stringData
  int64_t now_unix = 0;         // default `created` of listed models
};

// Resolves references (route -> AIServiceBackend -> Backend -> BackendTLSPolicy,
// BackendSecurityPolicy -> Secret), applies defaults and returns the data-plane config.
// Every problem is appended to `diags`; the returned config is complete only when
// !diags->HasErrors().
config::Config BuildConfig(const ResourceSet& set, const BuildOptions& options,
                           Diagnostics* diags);

// Parses a Gateway API / Go duration ("60s", "1m30s", "500ms", "1h"). InvalidArgument.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace sluice::compiler
