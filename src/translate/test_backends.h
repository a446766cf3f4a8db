// Test helper: the backends translator tests run against, one definition each (the chain
// tests reuse the Gemini and Azure directions' fixtures with the same backends). Tests only.
#pragma once

#include <string>

#include "config/config.h"

namespace sluice::translate::testing {

// Gemini on Vertex AI: project my-project, region us-central1.
inline config::Backend VertexGeminiBackend() {
  config::Backend b;
  b.name = "default/vertex";
  b.schema = config::ApiSchema::kGCPVertexAI;
  b.auth.type = config::BackendAuth::Type::kGCP;
  b.auth.gcp_project = "my-project";
  b.auth.gcp_region = "us-central1";
  return b;
}

// Azure OpenAI at API version `version` ("" = the translator's default).
inline config::Backend AzureOpenAIBackend(std::string version) {
  config::Backend b;
  b.name = "default/azure";
  b.schema = config::ApiSchema::kAzureOpenAI;
  b.schema_version = std::move(version);
  return b;
}

}  // namespace sluice::translate::testing
