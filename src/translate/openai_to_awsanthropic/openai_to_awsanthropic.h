// OpenAI Chat Completions client -> Claude on AWS Bedrock through InvokeModel (schema
// AWSAnthropic):
//   POST /model/{id}/invoke                      the Anthropic Messages body with
//   POST /model/{id}/invoke-with-response-stream `anthropic_version` (the backend's schema
//                                                version, default bedrock-2023-05-31) and
//                                                without `model` and `stream`
// The stream is an AWS event-stream whose `chunk` events carry {"bytes":"<base64 of one
// Anthropic stream event JSON>"}.
//
// The Anthropic side (request body, answers, SSE events -> chat.completion.chunk) is the
// openai_to_anthropic translator's: this one wraps it, changing only the path, the body's
// envelope, the stream framing and the error dialect (Bedrock's x-amzn-errortype).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// `now` (Unix seconds, for `created`) defaults to the system clock. Immutable, thread-safe.
std::unique_ptr<TranslatorFactory> NewOpenAIToAwsAnthropicFactory(std::function<int64_t()> now = nullptr);

}  // namespace sluice::translate
