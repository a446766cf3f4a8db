// Internals of the OpenAI -> Gemini (Vertex AI) translator, split out so each piece is unit
// tested on its own. Not an API: only this folder and its tests include it.
//
// Everything here is pure (no I/O, no clock, no globals) and reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate::gemini_internal {

// ---- JSON Schema -> Gemini's OpenAPI-3 schema subset (schema.cc) ----------------------------
//
// Gemini's `Schema` (functionDeclarations[].parameters, generationConfig.responseSchema) is
// an OpenAPI 3.0 subset, not JSON Schema. The conversion:
//   kept:      type (upper-cased: STRING NUMBER INTEGER BOOLEAN ARRAY OBJECT), title,
//              description, nullable, enum (string values only), properties, required,
//              items, anyOf, minItems, maxItems, minimum, maximum, minLength, maxLength,
//              pattern, minProperties, maxProperties, propertyOrdering, and format where
//              Vertex accepts it (STRING: enum, date-time; NUMBER: float, double;
//              INTEGER: int32, int64)
//   rewritten: "type": [T, "null"] -> type T + nullable; several non-null types -> anyOf;
//              anyOf/oneOf with a {"type":"null"} branch -> nullable (a single remaining
//              branch is inlined); oneOf -> anyOf (Gemini has no exclusive union);
//              const -> enum [const]; local $ref (#/$defs/.., #/definitions/..) inlined;
//              allOf merged into one schema (properties and required unioned);
//              a missing type is inferred (properties -> OBJECT, items -> ARRAY)
//   dropped:   everything else, notably $schema, $id, $defs/definitions (after inlining),
//              additionalProperties, strict, default, examples, exclusiveMinimum/Maximum,
//              multipleOf, uniqueItems, patternProperties, prefixItems, tuple-form items,
//              not, if/then/else, dependentRequired, readOnly, writeOnly, deprecated,
//              non-string enum values, other formats (uri, email, ...), and unknown keywords.
// InvalidArgument naming `field` for a schema that is not an object/bool, a $ref that is not
// local or does not resolve, or nesting deeper than 64.
// `*lossy` (when given) says the subset cannot express the schema: a tuple (prefixItems, array
// `items`), a map (additionalProperties on an object without properties), a recursive $ref,
// an array without items or a nested object without properties (Vertex rejects both). The
// caller then sends the client's JSON Schema as is (parametersJsonSchema, responseJsonSchema).
absl::StatusOr<json::Value> ConvertSchema(const json::Value& schema, std::string_view field, bool* lossy = nullptr);

// ---- Requests (request.cc) -----------------------------------------------------------------

// OpenAI chat.completions body -> GenerateContentRequest body. `stream` is the client's
// stream flag (n > 1 cannot stream). InvalidArgument naming the field for anything the
// request cannot express.
absl::StatusOr<json::Value> BuildGenerateContentRequest(const json::Value& doc, bool stream);

// Embeddings. Vertex has two methods: `:predict` (text-embedding-*, gemini-embedding-001:
// {"instances":[{content, task_type?, title?}], "parameters"}) and `:embedContent` (the
// newer Gemini embedding models: one content, options in embedContentConfig). Which one a
// model takes follows Envoy AI Gateway (and Google's genai SDK): "gemini" in the name, except
// gemini-embedding-001, and "maas" (Model-as-a-Service) models.
bool UsesEmbedContent(std::string_view model);
// OpenAI embeddings body (with Envoy AI Gateway's task_type / title / auto_truncate and input
// items {content, task_type, title}) -> `:predict` body. gemini-embedding-001 takes one text.
absl::StatusOr<json::Value> BuildPredictRequest(const json::Value& doc, std::string_view model);
// The same -> `:embedContent` body; one text per request.
absl::StatusOr<json::Value> BuildEmbedContentRequest(const json::Value& doc, std::string_view model);

// "/v1/projects/{p}/locations/{r}/publishers/google/models/{m}:{method}", each segment
// percent-escaped. FailedPrecondition when the backend has no project or region.
absl::StatusOr<std::string> VertexModelPath(const config::Backend& backend, std::string_view model,
                                            std::string_view method);

// Tool-call ids. Gemini gives function calls no id (newer models may), so sluice makes one:
// the upstream id when there is one, else "call_<index>_<token>" where <index> counts the
// calls of this response from 0 and <token> is the response's `responseId` (or the
// translator's sequence number when absent). Gemini 3 attaches an opaque `thoughtSignature`
// to function calls and rejects the next turn without it, so it rides in the id after
// kThoughtSignatureMarker and is restored when the client sends the call back.
inline constexpr std::string_view kThoughtSignatureMarker = "~ts~";
std::string MakeToolCallId(const json::Value& function_call_part, int64_t index,
                           std::string_view token);
// The thought signature carried by an OpenAI tool-call id, or "" when none.
std::string_view ThoughtSignatureFromId(std::string_view id);

// ---- Responses (response.cc) ---------------------------------------------------------------

// Gemini finishReason -> OpenAI finish_reason; only OpenAI values come out. "" for an empty
// or absent reason (an unfinished stream chunk).
std::string_view MapFinishReason(std::string_view gemini, bool has_function_calls);

// Fills `usage` from usageMetadata; returns the OpenAI usage object.
json::Value ConvertUsage(const json::Value& usage_metadata, Usage* usage);

// Parses RFC 3339 "2025-01-02T03:04:05.678Z" (or with an offset) to Unix seconds.
bool ParseRfc3339(std::string_view text, int64_t* unix_seconds);

// A candidate's groundingMetadata (groundingChunks web / retrievedContext / maps sources,
// groundingSupports segments) and citationMetadata (Vertex `citations`, Gemini API
// `citationSources`) -> OpenAI `url_citation` annotations
// [{"type":"url_citation","url_citation":{url, title, start_index, end_index}}] over `text`,
// the visible text the client gets. `part_offsets[i]` is the byte offset in `text` where part
// i of the candidate begins (segments are per part); empty means offsets are into `text`
// itself. Gemini counts UTF-8 bytes, OpenAI characters: indexes come out as code points.
// One annotation per (support, chunk) pair; chunks no support cites span the whole text;
// duplicates and sources without a uri are left out. An empty array when there is nothing.
json::Value CandidateAnnotations(const json::Value& candidate, std::string_view text,
                                 const std::vector<size_t>& part_offsets);

struct ResponseContext {
  std::string_view model;  // the model asked for; `modelVersion` wins when present
  std::string_view token;  // fallback id token (the translator's sequence number)
  int64_t now = 0;         // fallback `created` when the response has no createTime
};

// A whole GenerateContentResponse -> chat.completion. Fills `usage`.
json::Value ConvertResponse(const json::Value& resp, const ResponseContext& ctx, Usage* usage);

// Gemini SSE events -> chat.completion.chunk events. Output depends only on the sequence of
// events, never on how their bytes were chunked.
class StreamConverter {
 public:
  StreamConverter(std::string model, std::string token, int64_t now, bool include_usage)
      : model_(std::move(model)), token_(std::move(token)), now_(now),
        include_usage_(include_usage) {}

  // One decoded event (a GenerateContentResponse, or {"error":{...}}). Appends SSE bytes.
  void OnEvent(const json::Value& event, std::string* out);
  // End of the upstream stream: the usage chunk (if asked for) and [DONE]. Internal error
  // when the stream ended before any finishReason (a cut stream).
  absl::Status Finish(std::string* out);

  bool failed() const { return failed_; }
  const Usage& usage() const { return usage_; }
  const std::string& response_model() const { return model_; }

 private:
  void Emit(int64_t index, json::Value delta, std::string_view finish_reason, std::string* out);
  void EmitPendingFinish(std::string* out);

  std::string model_;
  std::string token_;
  int64_t now_;
  bool include_usage_;
  bool started_ = false;  // id/created/model fixed from the first event
  bool role_sent_ = false;
  bool finished_ = false;  // a finish reason (or a blocked prompt) was seen
  // Finish chunks held until the stream ends: Gemini may send grounding or citations for the
  // answer in an event after the one with finishReason, and they belong before the finish.
  std::vector<std::pair<int64_t, std::string>> pending_finish_;  // {choice index, reason}
  bool failed_ = false;  // an error event was relayed; the rest is ignored
  std::string id_;
  int64_t created_ = 0;
  int64_t tool_calls_ = 0;       // running tool-call index (n == 1 when streaming)
  bool saw_function_call_ = false;
  std::string text_;                            // visible text so far (annotation offsets)
  std::vector<std::string> annotations_sent_;  // serialized, so a repeat is not re-sent
  json::Value usage_json_;
  Usage usage_;
};

// A complete Google error body {"error":{"code","message","status"}} (or a one-element array
// of it) -> the OpenAI error body. Non-JSON bodies are wrapped with their text.
std::string ConvertGoogleError(int status, std::string_view body);

// OpenAI `error.type` for an HTTP status.
std::string_view OpenAIErrorType(int status);

// OpenAI embeddings list from a `:predict` response. Fills `usage` (input/total tokens from
// statistics.token_count). Internal (malformed upstream) when predictions are missing.
// `base64` re-encodes each vector as little-endian float32, as OpenAI's encoding_format.
absl::StatusOr<json::Value> ConvertPredictResponse(const json::Value& resp, std::string_view model,
                                                   bool base64, Usage* usage);
// The same from an `:embedContent` response ({"embedding":{"values"}, "usageMetadata":
// {"promptTokenCount"}}): one embedding.
absl::StatusOr<json::Value> ConvertEmbedContentResponse(const json::Value& resp, std::string_view model,
                                                        bool base64, Usage* usage);


}  // namespace sluice::translate::gemini_internal
