// OpenAI client -> Azure OpenAI backend (schema AzureOpenAI), deployment-style API:
//
//   chat/completions -> /openai/deployments/{model}/chat/completions?api-version={version}
//   completions      -> /openai/deployments/{model}/completions?api-version={version}
//   embeddings       -> /openai/deployments/{model}/embeddings?api-version={version}
//
// {model} is the model to send (after modelNameOverride): on Azure it names the deployment.
// {version} is the backend's schema version (AIServiceBackend spec.schema.version), or
// kAzureDefaultApiVersion when none is configured. Same dialect, so the body passes through
// with only the model override spliced into the raw bytes, and answers and errors pass
// through byte for byte (Azure's extra fields, such as prompt_filter_results and a first
// stream chunk with `choices: []`, reach the client as Azure sent them). Token usage is read
// beside the bytes (the buffered JSON, or the stream's usage chunk) without changing them.
//
// The v1 API (/openai/v1/..., no api-version) is served by an OpenAI backend with prefix
// "openai/v1" instead.
//
// TranslateRequest errors: InvalidArgument when the body cannot be scanned as a JSON object.
#pragma once

#include <memory>
#include <string_view>

#include "translate/translator.h"

namespace sluice::translate {

// The most recent GA data-plane api-version when this was written (Azure OpenAI REST
// reference, "2024-10-21"). Configure spec.schema.version for preview features.
inline constexpr std::string_view kAzureDefaultApiVersion = "2024-10-21";

// REQUIRES: e is kChatCompletions, kCompletions or kEmbeddings. Thread-safe factory; each
// Translator serves one request on one thread.
std::unique_ptr<TranslatorFactory> NewOpenAIToAzureFactory(Endpoint e);

}  // namespace sluice::translate
