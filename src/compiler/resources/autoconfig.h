// The embedded default of `sluice run` with no file: resources generated from the
// environment, as `aigw run` does (internal/autoconfig), then loaded like any file.
#pragma once

#include <string>

#include "compiler/resources/resources.h"

namespace sluice::compiler {

struct AutoConfig {
  std::string yaml;         // generated resources; secrets stay ${VAR} placeholders
  std::string description;  // e.g. "OpenAI at https://api.openai.com/v1"
  bool configured = false;  // false: nothing in the environment to serve
};

// Reads OPENAI_API_KEY, OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_ORG_ID,
// OPENAI_PROJECT_ID. InvalidArgument when OPENAI_BASE_URL is not an http(s) URL.
absl::StatusOr<AutoConfig> GenerateAutoConfig(EnvLookup env, int port);

}  // namespace sluice::compiler
