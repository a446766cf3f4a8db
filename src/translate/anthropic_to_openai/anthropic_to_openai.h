// Anthropic Messages client (/v1/messages, /anthropic/v1/messages) -> OpenAI Chat
// Completions backend (POST /<schema_prefix>/chat/completions, prefix default "v1"). Answers
// come back as an Anthropic Message, or, streamed, re-framed as the full Anthropic SSE event
// sequence (message_start, content_block_start/delta/stop, message_delta, message_stop).
// Streams ask upstream for stream_options.include_usage so the final usage is known.
//
// What is lost on the way (thinking, top_k, is_error, cache_control, signatures) is
// documented in request.cc and anthropic_to_openai.cc.
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

// Immutable and thread-safe.
std::unique_ptr<TranslatorFactory> NewAnthropicToOpenAIFactory();

}  // namespace sluice::translate
