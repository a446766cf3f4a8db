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

// Reads, like `aigw run` and the providers' own SDKs:
//   OPENAI_API_KEY, OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_ORG_ID,
//     OPENAI_PROJECT_ID;
//   AZURE_OPENAI_API_KEY + AZURE_OPENAI_ENDPOINT + OPENAI_API_VERSION (wins over OpenAI);
//   ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL (default https://api.anthropic.com);
//   AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), AWS_REGION (or
//     AWS_DEFAULT_REGION, default us-east-1), AWS_ENDPOINT_URL_BEDROCK_RUNTIME;
//   GOOGLE_APPLICATION_CREDENTIALS (service-account key file), GOOGLE_CLOUD_PROJECT (default:
//     the key's project_id), GOOGLE_CLOUD_LOCATION (default us-central1), VERTEX_BASE_URL.
// Routing: claude-* to Anthropic, Bedrock model ids (vendor.model, optionally region-prefixed)
// to Bedrock, gemini-* and Google embedding models to Vertex, every other model to OpenAI /
// Azure (or, without them, to the first provider configured). InvalidArgument on bad URLs.
absl::StatusOr<AutoConfig> GenerateAutoConfig(EnvLookup env, int port);

}  // namespace sluice::compiler
