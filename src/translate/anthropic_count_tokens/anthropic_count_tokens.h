// Anthropic token counting (POST /v1/messages/count_tokens, /anthropic/v1/messages/count_tokens)
// for every backend that can count Claude tokens:
//   Anthropic     POST /<prefix>/messages/count_tokens   the client's body (model override
//                                                       spliced), its headers as for Messages
//   GCPAnthropic  POST .../publishers/anthropic/models/count-tokens:rawPredict
//                 the Messages body as for rawPredict plus `model` (the model goes in the body
//                 here; an @default / @latest suffix is dropped)
//   AWSAnthropic  POST /model/{id}/count-tokens  {"input":{"invokeModel":{"body":"<base64 of
//                 the InvokeModel body>"}}} (max_tokens added when the client left it out:
//                 InvokeModel requires it, counting ignores it)
//   AWSBedrock    POST /model/{id}/count-tokens  {"input":{"converse":{"messages","system"}}}
//                 from the same Anthropic -> Converse mapping as Messages (tools are not part
//                 of Bedrock's ConverseTokensRequest, so they are not counted)
// Each wraps that backend's Messages translator for the body, headers and errors. The answer
// is Anthropic's {"input_tokens":N} (Bedrock's {"inputTokens":N} is renamed); usage() reports
// it as input tokens. Envoy AI Gateway serves the same four (counttokens_*.go).
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// `to`: kAnthropic, kGCPAnthropic, kAWSAnthropic or kAWSBedrock. Immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewAnthropicCountTokensFactory(config::ApiSchema to);

}  // namespace sluice::translate
