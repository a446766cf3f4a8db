// Internal to the Anthropic-client Bedrock directions (anthropic_to_awsanthropic,
// anthropic_to_bedrock): Bedrock Runtime errors in the Anthropic Messages dialect.
#pragma once

#include <string>
#include <string_view>

#include "http/headers.h"

namespace sluice::translate::anthropic_bedrock_internal {


// {"type":"error","error":{"type":<type>,"message":<message>}}
std::string AnthropicErrorBody(std::string_view type, std::string_view message);

// A non-2xx Bedrock answer as an Anthropic error body. The status comes from x-amzn-errortype
// as bedrock_internal::ErrorToOpenAI picks it (ThrottlingException 429, ValidationException
// 400, AccessDeniedException 403, ...); a body already in Anthropic's shape (a model error
// relayed by InvokeModel) passes through.
void ErrorToAnthropic(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out);

// `event: error` carrying an error of `type` (api_error unless the provider said what went
// wrong) with `message`: the end of a broken stream.
std::string StreamError(std::string_view message, std::string_view type = "api_error");

}  // namespace sluice::translate::anthropic_bedrock_internal
