// Anthropic Messages client (/v1/messages, /anthropic/v1/messages) -> an Anthropic Messages
// backend, in two flavours:
//   kAnthropic:    POST /<schema_prefix>/messages (prefix default "v1"); the body passes
//                  untouched except a model override spliced into the raw bytes; the client's
//                  anthropic-version header is kept, 2023-06-01 is sent when it gave none.
//   kGCPAnthropic: POST /v1/projects/{gcp_project}/locations/{gcp_region}/publishers/
//                  anthropic/models/{model}:rawPredict (:streamRawPredict when streaming);
//                  `model` leaves the body and `anthropic_version` (the backend's schema
//                  version, required) enters it. Other members keep their raw bytes.
// Answers pass through byte for byte; only usage and the model are read on the side. Event
// streams are forwarded whole events at a time, so a stream cut mid-event can still be
// closed with a well-formed error event.
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// `to` must be kAnthropic or kGCPAnthropic. Immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewAnthropicPassthroughFactory(config::ApiSchema to);

}  // namespace sluice::translate
