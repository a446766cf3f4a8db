// Anthropic Messages client (/v1/messages, /anthropic/v1/messages) -> Claude on AWS Bedrock
// through InvokeModel (schema AWSAnthropic):
//   POST /model/{url-escaped id}/invoke                       the client's body with
//   POST /model/{url-escaped id}/invoke-with-response-stream  `anthropic_version` first (the
//                                                             backend's schema version, default
//                                                             bedrock-2023-05-31), without
//                                                             `model` and `stream`, and with
//                                                             the client's anthropic-beta
//                                                             header as `anthropic_beta` (only
//                                                             flags Bedrock accepts).
// Other members keep their raw bytes. A buffered answer is already Anthropic's and passes
// through. The stream is an AWS event-stream whose `chunk` events carry {"bytes":"<base64 of
// one Anthropic stream event JSON>"}; each becomes the SSE event `event: <type>` / `data:`.
// Bedrock errors (x-amzn-errortype) become Anthropic's {"type":"error","error":{...}}; an
// exception frame mid-stream ends the stream with an Anthropic `event: error`.
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// Immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewAnthropicToAwsAnthropicFactory();

}  // namespace sluice::translate
