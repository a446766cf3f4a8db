// Anthropic Messages client (/v1/messages, /anthropic/v1/messages) -> AWS Bedrock Converse
// (schema AWSBedrock):
//   POST /model/{url-escaped id}/converse          buffered
//   POST /model/{url-escaped id}/converse-stream   streamed (AWS event-stream)
// Request: system, messages (text, image base64, document base64/text, tool_use, tool_result,
// thinking and redacted_thinking blocks), tools, tool_choice (auto/any/tool; none sends no
// toolChoice), max_tokens, temperature, top_p, stop_sequences; top_k and thinking go to
// additionalModelRequestFields; cache_control (on blocks, system blocks and tools) becomes a
// cachePoint after its block, keeping its ttl. Anything else Converse cannot carry (image
// URLs, URL/file/content documents, media types without a Converse document format, unknown
// block types, cache_control other than ephemeral) is InvalidArgument naming the field.
// Usage: cacheReadInputTokens -> cache_read_input_tokens, cacheWriteInputTokens ->
// cache_creation_input_tokens; input_tokens stays Bedrock's uncached inputTokens.
// Answer: Converse JSON -> an Anthropic Message; ConverseStream events -> the Anthropic SSE
// sequence message_start, content_block_start/delta/stop (text_delta, input_json_delta,
// thinking_delta, signature_delta), message_delta (stop_reason, usage), message_stop. Bedrock
// errors and exception frames become Anthropic errors.
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// Immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewAnthropicToBedrockFactory();

}  // namespace sluice::translate
