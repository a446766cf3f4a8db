// OpenAI client -> GCP Vertex AI Gemini backend (schema GCPVertexAI).
//
//   chat/completions -> POST /v1/projects/{project}/locations/{region}/publishers/google/
//                       models/{model}:generateContent, or :streamGenerateContent?alt=sse
//   embeddings       -> .../models/{model}:predict (text-embedding-* / gemini-embedding-001)
//
// {project} and {region} come from the backend's GCP auth (gcp_project, gcp_region); the
// region "global" uses the host aiplatform.googleapis.com, which is the backend endpoint's
// business: the path has the same form. The signer adds the OAuth2 bearer token afterwards.
//
// Request errors: InvalidArgument naming the field (e.g. `messages[2].content[0]: unsupported
// part type "x"`) for input Gemini cannot express; FailedPrecondition when the backend has no
// project or region. Response errors: Internal for malformed upstream data (a stream cut
// mid-event or before its finishReason, an event that is not JSON); ResourceExhausted when a
// buffered answer exceeds 64 MiB.
//
// Decisions worth knowing (details beside the code):
// - Tool-call ids: Gemini's functionCall.id when present, else "call_<index>_<token>" with
//   <token> = the response's responseId, or a per-factory sequence number. A Gemini 3
//   thoughtSignature travels inside the id (after "~ts~") and is sent back on the next turn.
// - finish_reason is always an OpenAI value: SAFETY, BLOCKLIST, PROHIBITED_CONTENT, SPII,
//   RECITATION, MODEL_ARMOR and IMAGE_* -> content_filter; MAX_TOKENS -> length; everything
//   else -> stop, or tool_calls when the candidate called functions.
// - Thought summaries (parts with thought:true) become `reasoning_content`.
// - groundingMetadata (chunk sources cited by groundingSupports segments) and
//   citationMetadata become `message.annotations` of type url_citation {url, title,
//   start_index, end_index}, indexes in characters of `content` (Gemini counts bytes); in a
//   stream they ride on the delta of the event that brings them, offsets over the whole
//   answer so far, each annotation sent once.
// - Ignored request fields (no Gemini equivalent): logit_bias, logprobs, top_logprobs,
//   parallel_tool_calls, user, metadata, store, service_tier, prediction, verbosity,
//   prompt_cache_key, safety_identifier, and image `detail`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

struct GeminiOptions {
  // Unix seconds for `created` when Gemini's answer carries no createTime. nullptr = the
  // system clock. Injected so tests are deterministic.
  std::function<int64_t()> now;
};

// REQUIRES: e is Endpoint::kChatCompletions or Endpoint::kEmbeddings. The factory is
// thread-safe; each Translator it creates is for one request on one thread.
std::unique_ptr<TranslatorFactory> NewOpenAIToGeminiFactory(Endpoint e, GeminiOptions options = {});

}  // namespace sluice::translate
