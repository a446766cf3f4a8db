// Internal to openai_to_anthropic: the OpenAI Chat Completions request -> Anthropic Messages
// body mapping, separate from the translator so it can be read (and tested) on its own.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "json/json.h"

namespace sluice::translate::openai_to_anthropic_internal {

// The tool that carries a json_schema response_format (see MapRequest).
inline constexpr std::string_view kJsonToolName = "json_response";

struct RequestOptions {
  std::string_view model;              // the model to ask for (after override)
  bool vertex = false;                 // GCPAnthropic: no `model`, `anthropic_version` in body
  std::string_view anthropic_version;  // body value when `vertex`
};

struct MappedRequest {
  json::Value body;            // the Anthropic Messages request body
  bool stream = false;         // client asked for SSE
  bool include_usage = false;  // stream_options.include_usage
  bool json_tool = false;      // response_format rides on the forced kJsonToolName tool
};

// Maps `doc` (an OpenAI chat completion request). InvalidArgument naming the field when the
// request cannot be expressed for Anthropic (e.g. `n` > 1, an input_audio part).
absl::StatusOr<MappedRequest> MapRequest(const json::Value& doc, const RequestOptions& opt);

}  // namespace sluice::translate::openai_to_anthropic_internal
