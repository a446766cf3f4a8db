// Internal to openai_to_bedrock: the OpenAI request -> Bedrock body mappings (Converse for chat,
// Titan InvokeModel for embeddings), apart from the translators so they can be read and tested
// on their own.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "json/json.h"

namespace sluice::translate::openai_to_bedrock_internal {

// "/model/{id}{suffix}" with the model id percent-encoded (every byte but RFC 3986 unreserved
// characters, so ':' -> %3A and '/' in ARNs -> %2F).
std::string ModelPath(std::string_view model, std::string_view suffix);

struct MappedChat {
  json::Value body;            // the Converse / ConverseStream request body
  bool include_usage = false;  // stream_options.include_usage
};

// Maps an OpenAI chat completion request to a Converse body. `model` picks the reasoning
// dialect (Claude `thinking` vs Nova `reasoningConfig`). InvalidArgument naming the field when
// the request cannot be expressed (n > 1, image URLs that are not data: URLs, audio parts,
// json_schema response formats, malformed tool arguments).
absl::StatusOr<MappedChat> MapChatRequest(const json::Value& doc, std::string_view model);

struct MappedEmbeddings {
  json::Value body;     // {"inputText":..., "dimensions":...}
  bool base64 = false;  // encoding_format "base64": answer with base64 float32 vectors
};

// Maps an OpenAI embeddings request to a Titan text-embeddings body. Titan embeds one text per
// call: an `input` array of more than one element is InvalidArgument naming `input`.
absl::StatusOr<MappedEmbeddings> MapEmbeddingsRequest(const json::Value& doc);

}  // namespace sluice::translate::openai_to_bedrock_internal
