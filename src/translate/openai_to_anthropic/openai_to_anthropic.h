// OpenAI Chat Completions client -> Anthropic Messages backend, in two flavours:
//   kAnthropic:    POST /<schema_prefix>/messages (prefix default "v1"), anthropic-version
//                  header (the client's, else 2023-06-01), anthropic-beta passed through;
//   kGCPAnthropic: POST /v1/projects/{gcp_project}/locations/{gcp_region}/publishers/
//                  anthropic/models/{model}:rawPredict (:streamRawPredict when streaming),
//                  `anthropic_version` (the backend's schema version) in the body, no `model`.
// Answers (JSON or Anthropic SSE) come back as chat.completion / chat.completion.chunk SSE.
//
// What is lost or approximated on the way (system placement, response_format, reasoning,
// ignored sampling knobs) is documented in openai_to_anthropic.cc and request.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// Seconds since the Unix epoch, for the `created` field of the answers.
using UnixSecondsFn = std::function<int64_t()>;

// `to` must be kAnthropic or kGCPAnthropic. `now` defaults to the system clock; tests inject
// a fixed one. The factory is immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewOpenAIToAnthropicFactory(config::ApiSchema to,
                                                               UnixSecondsFn now = nullptr);

}  // namespace sluice::translate
