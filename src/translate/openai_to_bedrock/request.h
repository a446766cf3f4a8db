// Internal to openai_to_bedrock: the OpenAI request -> Bedrock body mappings (Converse for chat,
// Titan InvokeModel for embeddings), apart from the translators so they can be read and tested
// on their own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "json/json.h"

namespace sluice::translate::openai_to_bedrock_internal {

// "/model/{id}{suffix}" with the model id percent-encoded (every byte but RFC 3986 unreserved
// characters, so ':' -> %3A and '/' in ARNs -> %2F).
std::string ModelPath(std::string_view model, std::string_view suffix);

// Converse document format (DocumentBlock.format: pdf, csv, doc, docx, xls, xlsx, html, txt,
// md) for a media type; "" when Converse has none for it.
std::string_view DocumentFormatForMediaType(std::string_view media_type);

// A client-supplied name as a Converse document name, which may hold only alphanumerics,
// single whitespace characters, hyphens, parentheses and square brackets, 1-200 characters:
// with `strip_extension` the part from the last '.' goes (a filename; the format says it), any
// other character becomes '-' (one per run), whitespace runs become one space, "" becomes
// "document". Bedrock refuses two documents of the same name in a request, so a repeat gets
// " (2)", " (3)", ...; `used` holds the names handed out so far for this request (appended to).
std::string DocumentName(std::string_view name, bool strip_extension, std::vector<std::string>* used);

// The Converse image format (png, jpeg, gif, webp) of an s3://bucket/key image URL, from the
// key's extension in any case; else what is wrong with the URL (for a 400 naming the field).
absl::StatusOr<std::string_view> S3ImageFormat(std::string_view url);

struct MappedChat {
  std::string body;            // the Converse / ConverseStream request body (compact JSON)
  bool include_usage = false;  // stream_options.include_usage
};

// Maps an OpenAI chat completion request (`body`, the client's JSON bytes) to a Converse body.
// Reads `body` with json::Reader and writes the Converse JSON directly, without a DOM. Values
// copied from the client keep their number text and are written compact, with canonical
// string escapes; where a key repeats, the first one counts. `model` picks the reasoning
// dialect (Claude `thinking` vs Nova `reasoningConfig`). Beyond OpenAI's own fields it takes
// two extensions: Anthropic-style `cache_control` on content parts and tools (-> a cachePoint
// block after the block it marks) and `guardrailConfig` (-> Converse's guardrailConfig;
// streamProcessingMode only when the body says "stream": true). File parts with inline
// base64 data become document blocks. InvalidArgument "request body is not valid JSON: ..."
// when `body` does not parse, and InvalidArgument naming the field when the request cannot be
// expressed (n > 1, image URLs that are not data: URLs, file_id references, file types
// Converse has no document format for, audio parts, json_schema response formats, malformed
// tool arguments, ill-typed extensions).
// `top_members`, when the caller has it, is json::ScanObject(body) (the pipeline's routing
// scan): the body is then read without being validated again.
absl::StatusOr<MappedChat> MapChatRequest(std::string_view body, std::string_view model,
                                          const std::vector<json::TopLevelMember>* top_members = nullptr);

struct MappedEmbeddings {
  json::Value body;     // Titan {"inputText", "dimensions"} or Cohere {"texts", "input_type", ...}
  bool base64 = false;  // encoding_format "base64": answer with base64 float32 vectors
  bool cohere = false;  // a Cohere Embed model: a batch answer
};

// True for Cohere Embed model ids on Bedrock ("cohere.embed-english-v3", "us.cohere.embed-v4:0",
// an inference-profile ARN naming one).
bool IsCohereEmbed(std::string_view model);

// Texts per InvokeModel call: Cohere Embed takes a batch of up to 96, Titan one.
inline constexpr size_t kCohereMaxTexts = 96;
inline size_t MaxEmbeddingInputs(std::string_view model) { return IsCohereEmbed(model) ? kCohereMaxTexts : 1; }

// Maps an OpenAI embeddings request to an InvokeModel body for `model`.
// Titan text embeddings embed one text per call: an `input` array of more than one element is
// InvalidArgument naming `input` (one upstream call per translator; `sluice run` splits a
// batch into calls of MaxEmbeddingInputs texts).
// Cohere Embed takes up to 96 texts per call; `input_type` (Cohere's own field, default
// "search_document") and `truncate` pass through; `dimensions` becomes output_dimension (Embed
// v4 only). Floats are always asked for (base64 output is encoded here).
absl::StatusOr<MappedEmbeddings> MapEmbeddingsRequest(const json::Value& doc, std::string_view model);

}  // namespace sluice::translate::openai_to_bedrock_internal
