// Internal to anthropic_to_openai: the Anthropic Messages request -> OpenAI Chat Completions
// body mapping, separate from the translator so it can be read on its own.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "json/json.h"

namespace sluice::translate::anthropic_to_openai_internal {

struct MappedRequest {
  json::Value body;     // the chat/completions request body
  bool stream = false;  // client asked for SSE
};

// Maps `doc` (an Anthropic Messages request) for `model`. InvalidArgument naming the field
// when the request cannot be expressed for an OpenAI backend (e.g. server tools).
absl::StatusOr<MappedRequest> MapRequest(const json::Value& doc, std::string_view model);

}  // namespace sluice::translate::anthropic_to_openai_internal
