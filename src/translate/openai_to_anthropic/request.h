// Internal to openai_to_anthropic: the OpenAI Chat Completions request -> Anthropic Messages
// body mapping, separate from the translator so it can be read (and tested) on its own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "json/json.h"

namespace sluice::translate::openai_to_anthropic_internal {

// The tool that carries a json_schema response_format (see MapRequest).
inline constexpr std::string_view kJsonToolName = "json_response";

struct RequestOptions {
  std::string_view model;              // the model to ask for (after override)
  // GCPAnthropic (and AWSAnthropic, which wraps it): no `model`, `anthropic_version` in the
  // body, base64 images only.
  bool vertex = false;
  std::string_view anthropic_version;  // body value when `vertex`
  // ScanObject of the body, when the caller has it: the body is then not validated again.
  const std::vector<json::TopLevelMember>* top_members = nullptr;
};

struct MappedRequest {
  // The Anthropic Messages request body, compact JSON. When `stream`, its last member is
  // `"stream":true` (openai_to_awsanthropic removes it as text).
  std::string body;
  bool stream = false;         // client asked for SSE
  bool include_usage = false;  // stream_options.include_usage
  bool json_tool = false;      // response_format rides on the forced kJsonToolName tool
};

// Maps `body` (the client's OpenAI chat completion request, as sent) without building a DOM:
// the body is read with json::Reader and the Anthropic body written as text. InvalidArgument
// naming the field when the request cannot be expressed for Anthropic (e.g. `n` > 1, an
// input_audio part), or "request body is not valid JSON: ..." when it is not JSON.
absl::StatusOr<MappedRequest> MapRequest(std::string_view body, const RequestOptions& opt);

}  // namespace sluice::translate::openai_to_anthropic_internal
