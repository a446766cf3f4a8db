// OpenAI client -> AWS Bedrock Runtime backend (schema AWSBedrock):
//   chat/completions -> Converse        POST /model/{id}/converse
//                       ConverseStream  POST /model/{id}/converse-stream (event-stream answer,
//                                       re-framed as chat.completion.chunk SSE)
//   embeddings       -> Titan InvokeModel POST /model/{id}/invoke (one input per request)
// The model id is percent-encoded in the path ("anthropic.claude-v2:1" -> "...v2%3A1"); the
// signer (auth/aws_sigv4) signs that final path. What is approximated on the way is documented
// in request.cc (tool_choice "none", reasoning, ignored sampling knobs).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// `now` (Unix seconds, for `created`) defaults to the system clock. Immutable, thread-safe.
std::unique_ptr<TranslatorFactory> NewOpenAIToBedrockChatFactory(std::function<int64_t()> now = nullptr);
std::unique_ptr<TranslatorFactory> NewOpenAIToBedrockEmbeddingsFactory();

}  // namespace sluice::translate
