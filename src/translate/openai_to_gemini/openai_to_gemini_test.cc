#include "translate/openai_to_gemini/openai_to_gemini.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "http/headers.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/openai_to_gemini/gemini_internal.h"
#include "translate/openai_to_gemini/test_util.h"
#include "translate/test_backends.h"

namespace sluice::translate {
namespace {

using testutil::ExpectGolden;
using testutil::Pretty;
using testutil::ReadFileOrEmpty;

constexpr int64_t kNow = 1700000000;

std::string Testdata(std::string_view sub) {
  return StrCat(testutil::SourceDir(), "/src/translate/openai_to_gemini/testdata/", sub);
}

config::Backend VertexBackend() { return testing::VertexGeminiBackend(); }

// One request through a fresh factory and translator, with a fixed clock.
class Harness {
 public:
  explicit Harness(Endpoint e = Endpoint::kChatCompletions, config::Backend backend = VertexBackend())
      : backend_(std::move(backend)),
        factory_(NewOpenAIToGeminiFactory(e, GeminiOptions{[] { return kNow; }})),
        endpoint_(e) {}

  absl::StatusOr<UpstreamRequest> Request(std::string_view client_json) {
    raw_ = std::string(client_json);
    auto doc = json::Parse(raw_);
    EXPECT_TRUE(doc.ok()) << doc.status() << "\n" << client_json;
    doc_ = doc.ok() ? std::move(*doc) : json::Value::Object();
    model_ = std::string(doc_.GetString("model"));
    translator_ = factory_->Create(backend_);
    ClientRequest req{.endpoint = endpoint_, .raw_body = raw_, .doc = doc_, .headers = headers_,
                      .model = model_, .stream = doc_.GetBool("stream", false), .client_model = model_};
    return translator_->TranslateRequest(req);
  }

  Translator& t() { return *translator_; }
  TranslatorFactory& factory() { return *factory_; }

  // Feeds `body` in pieces cut at `cuts` (sorted offsets); returns the output and status.
  absl::Status Feed(std::string_view body, const std::vector<size_t>& cuts, std::string* out) {
    size_t start = 0;
    for (size_t cut : cuts) {
      absl::Status st = translator_->TranslateResponseBody(body.substr(start, cut - start), false, out);
      if (!st.ok()) return st;
      start = cut;
    }
    return translator_->TranslateResponseBody(body.substr(start), true, out);
  }

 private:
  config::Backend backend_;
  std::unique_ptr<TranslatorFactory> factory_;
  Endpoint endpoint_;
  std::unique_ptr<Translator> translator_;
  std::string raw_;
  json::Value doc_;
  std::string model_;
  http::HeaderMap headers_;
};

constexpr std::string_view kStreamRequest =
    R"({"model":"gemini-2.5-flash","stream":true,"stream_options":{"include_usage":true},)"
    R"("messages":[{"role":"user","content":"hi"}]})";
constexpr std::string_view kBufferedRequest =
    R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]})";

// ---- Requests ------------------------------------------------------------------------------

TEST(GeminiRequestGolden, AllFixtures) {
  auto names = testutil::ListFiles(Testdata("requests"), ".client.json");
  ASSERT_GE(names.size(), 8u) << "fixtures missing under " << Testdata("requests");
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    bool embeddings = name.rfind("embeddings", 0) == 0;
    Harness h(embeddings ? Endpoint::kEmbeddings : Endpoint::kChatCompletions);
    auto up = h.Request(ReadFileOrEmpty(Testdata(StrCat("requests/", name, ".client.json"))));
    ASSERT_TRUE(up.ok()) << up.status();
    ASSERT_TRUE(up->body.has_value());
    auto body = json::Parse(*up->body);
    ASSERT_TRUE(body.ok());
    json::Value golden = json::Value::Object();
    golden.Set("path", json::Value::String(up->path));
    golden.Set("body", std::move(*body));
    ExpectGolden(Testdata(StrCat("requests/", name, ".upstream.json")), Pretty(golden));
  }
}

TEST(GeminiRequest, PathsPerEndpointAndRegion) {
  Harness chat;
  auto up = chat.Request(kBufferedRequest);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->path,
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent");
  auto st = chat.Request(kStreamRequest);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->path,
            "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
            "gemini-2.5-flash:streamGenerateContent?alt=sse");

  config::Backend global = VertexBackend();
  global.auth.gcp_region = "global";
  Harness g(Endpoint::kChatCompletions, global);
  auto gu = g.Request(R"({"model":"gemini-2.5-flash@001 x/y","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(gu.ok());
  EXPECT_EQ(gu->path,
            "/v1/projects/my-project/locations/global/publishers/google/models/gemini-2.5-flash@001%20x%2Fy:generateContent");

  // Embeddings: :predict, but :embedContent for the newer Gemini embedding models (as Envoy
  // AI Gateway and Google's genai SDK choose).
  for (auto [model, method] : {std::pair{"text-embedding-005", "predict"}, {"gemini-embedding-001", "predict"},
                               {"text-multilingual-embedding-002", "predict"},
                               {"gemini-embedding-2-preview", "embedContent"}, {"gemini-embedding-exp-03-07", "embedContent"},
                               {"multilingual-e5-small-maas", "embedContent"}}) {
    Harness emb(Endpoint::kEmbeddings);
    auto eu = emb.Request(StrCat(R"({"model":")", model, R"(","input":"a"})"));
    ASSERT_TRUE(eu.ok()) << model;
    EXPECT_EQ(eu->path, StrCat("/v1/projects/my-project/locations/us-central1/publishers/google/models/", model, ":", method));
  }
}

TEST(GeminiRequest, MissingProjectIsAConfigError) {
  config::Backend b = VertexBackend();
  b.auth.gcp_project.clear();
  Harness h(Endpoint::kChatCompletions, b);
  auto up = h.Request(kBufferedRequest);
  EXPECT_EQ(up.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ToStd(up.status().message()).find("default/vertex"), std::string_view::npos);
}

TEST(GeminiRequest, RefusesWhatGeminiCannotExpress) {
  struct Case {
    std::string body;
    std::string message;
  } cases[] = {
      {R"({"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"a"},)"
       R"({"role":"user","content":[{"type":"x"}]}]})",
       R"(messages[2].content[0]: unsupported part type "x")"},
      {R"({"model":"m","stream":true,"n":2,"messages":[{"role":"user","content":"a"}]})",
       "n: must be 1 when streaming from a Gemini backend"},
      {R"({"model":"m","n":0,"messages":[{"role":"user","content":"a"}]})", "n: must be a positive integer"},
      {R"({"model":"m","messages":[{"role":"tool","tool_call_id":"call_9","content":"x"}]})",
       R"(messages[0].tool_call_id: no earlier assistant tool call has id "call_9")"},
      {R"({"model":"m","messages":[{"role":"function","content":"x"}]})",
       R"(messages[0].role: unsupported role "function")"},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role: must be a non-empty string"},
      {R"({"model":"m","messages":[]})", "messages: must not be empty"},
      {R"({"model":"m"})", "messages: must be an array"},
      {R"({"model":"m","messages":["hi"]})", "messages[0]: must be an object"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})",
       "messages[0].content: must be a string or an array of parts"},
      {R"({"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://a/b.png"}}]}]})",
       R"(messages[0].content[0]: unsupported part type "image_url" in a system message)"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://a/b.png"}}]}]})",
       "messages[0].content[0].image_url.url: unsupported URL (use a base64 data URL, gs:// or https://)"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,%89PNG"}}]}]})",
       "messages[0].content[0].image_url.url: only base64 data URLs are supported"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
       "messages[0].content[0].image_url.url: must be a non-empty string"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]})",
       "messages[0].content[0].file.file_id: OpenAI file ids cannot be sent to a Gemini backend; send file_data"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA=="}}]}]})",
       "messages[0].content[0].input_audio.format: must be a non-empty string"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{bad"}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a JSON object (Gemini function call args)"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a JSON object (Gemini function call args)"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{}}]}]})",
       R"(messages[0].tool_calls[0].type: unsupported tool call type "custom")"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]})",
       "messages[0].tool_calls[0].function.name: must be a non-empty string"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f"}}]},)"
       R"({"role":"tool","tool_call_id":"c","content":[{"type":"image_url"}]}]})",
       R"(messages[1].content[0]: unsupported part type "image_url" in a tool message)"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"modalities":["text","audio"]})",
       "modalities: audio output is not supported by Gemini backends"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"functions":[{"name":"f"}]})",
       "functions: deprecated function calling is not supported; use tools and tool_choice"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"custom","custom":{"name":"x"}}]})",
       R"(tools[0].type: unsupported tool type "custom")"},
      {R"({"model":"m","messages":[{"role":"system","content":"Greet the user."}]})",
       "messages: Gemini backends need at least one user or assistant message with content"},
      {R"({"model":"m","messages":[{"role":"user","content":""}]})",
       "messages: Gemini backends need at least one user or assistant message with content"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"sometimes"})",
       R"(tool_choice: unsupported value "sometimes")"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"response_format":{"type":"yaml"}})",
       R"(response_format.type: unsupported value "yaml")"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"reasoning_effort":"extreme"})",
       R"(reasoning_effort: unsupported value "extreme")"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"hot"})", "temperature: must be a number"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":1.5})", "max_tokens: must be an integer"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"stop":[1]})", "stop[0]: must be a string"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"}],"thinking":{"type":"sometimes"}})",
       R"(thinking.type: unsupported value "sometimes")"},
  };
  for (const auto& c : cases) {
    Harness h;
    auto up = h.Request(c.body);
    ASSERT_FALSE(up.ok()) << c.body;
    EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(ToStd(up.status().message()), c.message) << c.body;
  }
}

TEST(GeminiRequest, SchemasTheSubsetCannotSayGoAsJsonSchema) {
  // A map (Dict[str, str]), a list without item type, a tuple and a recursive type have no
  // form in Gemini's OpenAPI subset (Vertex answers 400 for an ARRAY without items or a
  // nested OBJECT without properties): the client's JSON Schema goes as parametersJsonSchema.
  const char* lossy[] = {
      R"({"type":"object","properties":{"labels":{"type":"object","additionalProperties":{"type":"string"}}}})",
      R"({"type":"object","properties":{"tags":{"type":"array"}}})",
      R"({"type":"object","properties":{"point":{"type":"array","prefixItems":[{"type":"number"},{"type":"number"}]}}})",
      R"({"type":"object","properties":{"n":{"$ref":"#/$defs/N"}},"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}}})",
      R"({"type":"object","properties":{"free":{"type":"object"}}})",
  };
  for (const char* schema : lossy) {
    Harness h;
    auto up = h.Request(StrCat(R"({"model":"m","messages":[{"role":"user","content":"a"}],)"
                               R"("tools":[{"type":"function","function":{"name":"f","parameters":)", schema, "}}],",
                               R"("response_format":{"type":"json_schema","json_schema":{"name":"r","schema":)", schema, "}}}"));
    ASSERT_TRUE(up.ok()) << up.status() << schema;
    auto body = json::Parse(*up->body);
    ASSERT_TRUE(body.ok());
    const json::Value& decl = body->Find("tools")->items()[0].Find("functionDeclarations")->items()[0];
    EXPECT_EQ(decl.Find("parameters"), nullptr) << *up->body;
    ASSERT_NE(decl.Find("parametersJsonSchema"), nullptr) << *up->body;
    EXPECT_EQ(json::Serialize(*decl.Find("parametersJsonSchema")), json::Serialize(*json::Parse(schema)));
    const json::Value* gen = body->Find("generationConfig");
    EXPECT_EQ(gen->Find("responseSchema"), nullptr) << *up->body;
    ASSERT_NE(gen->Find("responseJsonSchema"), nullptr) << *up->body;
  }
  // What the subset can say keeps the converted schema (every Gemini model reads it).
  Harness h;
  auto up = h.Request(R"({"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":)"
                      R"({"name":"f","parameters":{"type":"object","additionalProperties":false,"properties":)"
                      R"({"tags":{"type":"array","items":{"type":"string"}}}}}}]})");
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_NE(up->body->find(R"("parameters":{"type":"OBJECT","properties":{"tags":{"type":"ARRAY","items":{"type":"STRING"}}}})"),
            std::string::npos) << *up->body;
  EXPECT_EQ(up->body->find("parametersJsonSchema"), std::string::npos);
}

// A title goes with RETRIEVAL_DOCUMENT only (Vertex refuses it otherwise): for any other task
// it is dropped, as Envoy AI Gateway does, including when a top-level task_type overrides an
// item's RETRIEVAL_DOCUMENT.
TEST(GeminiRequest, EmbeddingTitlesOnlyWithRetrievalDocument) {
  Harness h(Endpoint::kEmbeddings);
  auto up = h.Request(R"({"model":"text-embedding-005","input":[{"content":"a","task_type":"CLUSTERING","title":"T"},)"
                      R"({"content":"b","task_type":"RETRIEVAL_DOCUMENT","title":"U"},"c"],"title":""})");
  ASSERT_FALSE(up.ok());  // an empty title is a mistake, not "no title"
  auto ok = h.Request(R"({"model":"text-embedding-005","input":[{"content":"a","task_type":"CLUSTERING","title":"T"},)"
                      R"({"content":"b","task_type":"RETRIEVAL_DOCUMENT","title":"U"},"c"]})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(json::Serialize(*json::Parse(*ok->body)->Find("instances")),
            R"([{"content":"a","task_type":"CLUSTERING"},{"content":"b","task_type":"RETRIEVAL_DOCUMENT","title":"U"},)"
            R"({"content":"c"}])");
  Harness g(Endpoint::kEmbeddings);
  auto over = g.Request(R"({"model":"text-embedding-005","task_type":"SEMANTIC_SIMILARITY","title":"T",)"
                        R"("input":[{"content":"b","task_type":"RETRIEVAL_DOCUMENT","title":"U"}]})");
  ASSERT_TRUE(over.ok()) << over.status();
  EXPECT_EQ(json::Serialize(*json::Parse(*over->body)->Find("instances")),
            R"([{"content":"b","task_type":"SEMANTIC_SIMILARITY"}])");
}

TEST(GeminiRequest, RefusesBadEmbeddingsInput) {
  struct Case {
    std::string body;
    std::string message;
  } cases[] = {
      {R"({"model":"m","input":[[1,2,3]]})", "input[0]: token ids are not supported by Gemini embedding models; send text"},
      {R"({"model":"m","input":[1,2]})", "input[0]: token ids are not supported by Gemini embedding models; send text"},
      {R"({"model":"m","input":[]})", "input: must not be empty"},
      {R"({"model":"m"})", "input: is required"},
      {R"({"model":"m","input":"a","encoding_format":"int8"})", R"(encoding_format: must be "float" or "base64")"},
      {R"({"model":"m","input":"a","dimensions":0})", "dimensions: must be a positive integer"},
      // Envoy AI Gateway's Vertex fields.
      {R"({"model":"m","input":"a","task_type":7})", "task_type: must be a non-empty string"},
      {R"({"model":"m","input":"a","auto_truncate":"yes"})", "auto_truncate: must be a boolean"},
      {R"({"model":"m","input":[{"content":[]}]})", "input[0].content: must be a string or a non-empty array of strings"},
      {R"({"model":"m","input":[{"content":["a",3]}]})", "input[0].content[1]: must be a string"},
      {R"({"model":"m","input":[{"content":"a","taskType":"CLUSTERING"}]})",
       "input[0].taskType: unknown field (an input item has content, task_type and title)"},
      // One text per request: gemini-embedding-001 (:predict) and the :embedContent models.
      {R"({"model":"gemini-embedding-001","input":["a","b"]})",
       "input: gemini-embedding-001 on Vertex AI embeds one text per request; got 2 (send one request per text)"},
      {R"({"model":"gemini-embedding-001","input":[{"content":["a","b"]}]})",
       "input: gemini-embedding-001 on Vertex AI embeds one text per request; got 2 (send one request per text)"},
      {R"({"model":"gemini-embedding-2-preview","input":["a","b","c"]})",
       "input: gemini-embedding-2-preview (Vertex AI embedContent) embeds one text per request; got 3 (send one request per text)"},
  };
  for (const auto& c : cases) {
    Harness h(Endpoint::kEmbeddings);
    auto up = h.Request(c.body);
    ASSERT_FALSE(up.ok()) << c.body;
    EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ToStd(up.status().message()), c.message);
  }
}

TEST(GeminiRequest, ToolNameFallsBackToTheMessageName) {
  // History from elsewhere may lack the assistant turn; a legacy `name` still identifies it.
  Harness h;
  auto up = h.Request(R"({"model":"m","messages":[{"role":"user","content":"a"},)"
                      R"({"role":"tool","tool_call_id":"gone","name":"lookup","content":"42"}]})");
  ASSERT_TRUE(up.ok()) << up.status();
  auto body = json::Parse(*up->body);
  const json::Value& parts = *body->Find("contents")->items()[0].Find("parts");
  ASSERT_EQ(parts.size(), 2u);  // the user text and the tool result share one user turn
  EXPECT_EQ(json::Serialize(parts.items()[1]),
            R"({"functionResponse":{"name":"lookup","response":{"output":"42"}}})");
}

// ---- Buffered responses --------------------------------------------------------------------

TEST(GeminiResponseGolden, AllFixtures) {
  auto names = testutil::ListFiles(Testdata("responses"), ".upstream.json");
  ASSERT_GE(names.size(), 7u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    bool embeddings = name.rfind("embeddings", 0) == 0;
    // *embed_content*: an answer of :embedContent, which a newer Gemini embedding model gets.
    std::string_view request = !embeddings ? kBufferedRequest
                               : name.find("embed_content") != std::string::npos
                                   ? R"({"model":"gemini-embedding-2-preview","input":"a"})"
                                   : R"({"model":"text-embedding-005","input":["a","b"]})";
    Harness h(embeddings ? Endpoint::kEmbeddings : Endpoint::kChatCompletions);
    ASSERT_TRUE(h.Request(request).ok());
    std::string upstream = ReadFileOrEmpty(Testdata(StrCat("responses/", name, ".upstream.json")));
    std::string out;
    ASSERT_TRUE(h.Feed(upstream, {}, &out).ok());
    auto client = json::Parse(out);
    ASSERT_TRUE(client.ok()) << out;
    ExpectGolden(Testdata(StrCat("responses/", name, ".client.json")), Pretty(*client));
    // A buffered body split into pieces (a driver may deliver it so) gives the same answer.
    Harness h2(embeddings ? Endpoint::kEmbeddings : Endpoint::kChatCompletions);
    ASSERT_TRUE(h2.Request(request).ok());
    std::string out2;
    ASSERT_TRUE(h2.Feed(upstream, {1, upstream.size() / 2}, &out2).ok());
    EXPECT_EQ(out, out2);
  }
}

TEST(GeminiResponse, UsageAndModelAndHeaders) {
  Harness h;
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  http::HeaderMutation m = h.t().TranslateResponseHeaders(200, http::HeaderMap());
  ASSERT_EQ(m.set.size(), 1u);
  EXPECT_EQ(m.set[0], std::make_pair(std::string("content-type"), std::string("application/json")));
  std::string out;
  ASSERT_TRUE(h.Feed(ReadFileOrEmpty(Testdata("responses/text.upstream.json")), {}, &out).ok());
  const Usage& u = h.t().usage();
  EXPECT_EQ(u.input_tokens, 11);
  EXPECT_EQ(u.output_tokens, 12);  // 5 visible + 7 thinking
  EXPECT_EQ(u.total_tokens, 23);
  EXPECT_EQ(u.cached_input_tokens, 4);
  EXPECT_EQ(u.reasoning_tokens, 7);
  EXPECT_EQ(h.t().response_model(), "gemini-2.5-flash-001");
}

TEST(GeminiResponse, EmbeddingsBase64AndUsage) {
  Harness h(Endpoint::kEmbeddings);
  ASSERT_TRUE(h.Request(R"({"model":"text-embedding-005","input":["a","b"],"encoding_format":"base64"})").ok());
  std::string out;
  ASSERT_TRUE(h.Feed(R"({"predictions":[{"embeddings":{"values":[1.0,-2.5],"statistics":{"token_count":2}}}]})", {}, &out).ok());
  auto v = json::Parse(out);
  ASSERT_TRUE(v.ok());
  // 1.0f = 00 00 80 3f, -2.5f = 00 00 20 c0 (little-endian).
  EXPECT_EQ(v->Find("data")->items()[0].GetString("embedding"), "AACAPwAAIMA=");
  EXPECT_EQ(h.t().usage().input_tokens, 2);
  EXPECT_EQ(h.t().usage().total_tokens, 2);

  Harness bad(Endpoint::kEmbeddings);
  ASSERT_TRUE(bad.Request(R"({"model":"m","input":"a"})").ok());
  std::string ignored;
  EXPECT_EQ(bad.Feed(R"({"nothing":1})", {}, &ignored).code(), absl::StatusCode::kInternal);
}

TEST(GeminiResponse, MalformedBufferedBodyIsAnError) {
  Harness h;
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  std::string out;
  EXPECT_EQ(h.Feed(R"({"candidates": [)", {}, &out).code(), absl::StatusCode::kInternal);
}

TEST(GeminiResponse, FallbackIdsAreDistinctPerRequest) {
  // Without responseId, ids use a per-factory sequence: two requests never share tool-call ids.
  Harness h;
  std::string body = R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"STOP"}]})";
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  std::string first;
  ASSERT_TRUE(h.Feed(body, {}, &first).ok());
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  std::string second;
  ASSERT_TRUE(h.Feed(body, {}, &second).ok());
  auto id = [](const std::string& out) {
    auto v = json::Parse(out);
    return std::string(v->Find("choices")->items()[0].Find("message")->Find("tool_calls")->items()[0].GetString("id"));
  };
  EXPECT_EQ(id(first), "call_0_1");
  EXPECT_EQ(id(second), "call_0_2");
}

TEST(GeminiResponse, ThoughtSignatureRoundTrips) {
  // The id Gemini 3's answer gets carries its thoughtSignature back on the next turn.
  Harness h;
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  std::string out;
  ASSERT_TRUE(h.Feed(ReadFileOrEmpty(Testdata("responses/thinking_signature.upstream.json")), {}, &out).ok());
  auto resp = json::Parse(out);
  ASSERT_TRUE(resp.ok());
  const json::Value& message = *resp->Find("choices")->items()[0].Find("message");
  json::Value next = json::Value::Object();
  next.Set("model", json::Value::String("gemini-3-pro-preview"));
  json::Value msgs = json::Value::Array();
  json::Value user = json::Value::Object();
  user.Set("role", json::Value::String("user"));
  user.Set("content", json::Value::String("time?"));
  msgs.Append(user);
  msgs.Append(message);
  for (const auto& call : message.Find("tool_calls")->items()) {
    json::Value tool = json::Value::Object();
    tool.Set("role", json::Value::String("tool"));
    tool.Set("tool_call_id", *call.Find("id"));
    tool.Set("content", json::Value::String("12:00"));
    msgs.Append(std::move(tool));
  }
  next.Set("messages", std::move(msgs));
  Harness h2;
  auto up = h2.Request(json::Serialize(next));
  ASSERT_TRUE(up.ok()) << up.status();
  auto body = json::Parse(*up->body);
  const json::Value& model_turn = body->Find("contents")->items()[1];
  EXPECT_EQ(model_turn.GetString("role"), "model");
  const json::Value& parts = *model_turn.Find("parts");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts.items()[0].GetString("thoughtSignature"), "CiQBSIG/+sig==");
  EXPECT_EQ(parts.items()[1].Find("thoughtSignature"), nullptr);
  const json::Value& tool_turn = body->Find("contents")->items()[2];
  ASSERT_EQ(tool_turn.Find("parts")->size(), 2u);  // both results in one user turn
  EXPECT_EQ(tool_turn.Find("parts")->items()[0].Find("functionResponse")->GetString("name"), "clock");
}

// ---- Errors --------------------------------------------------------------------------------

TEST(GeminiError, GoogleErrorsBecomeOpenAIErrors) {
  struct Case {
    int status;
    std::string body;
    std::string want;
  } cases[] = {
      {429, R"({"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}})",
       R"({"error":{"message":"Resource exhausted. Please try again later.","type":"rate_limit_error","param":null,"code":"resource_exhausted"}})"},
      {400, R"({"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest"}]}})",
       R"({"error":{"message":"Invalid JSON payload received.","type":"invalid_request_error","param":null,"code":"invalid_argument"}})"},
      {403, R"({"error":{"code":403,"message":"Permission denied on resource project p.","status":"PERMISSION_DENIED"}})",
       R"({"error":{"message":"Permission denied on resource project p.","type":"permission_error","param":null,"code":"permission_denied"}})"},
      {401, R"({"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}})",
       R"({"error":{"message":"Request had invalid authentication credentials.","type":"authentication_error","param":null,"code":"unauthenticated"}})"},
      {404, R"([{"error":{"code":404,"message":"Publisher Model was not found.","status":"NOT_FOUND"}}])",
       R"({"error":{"message":"Publisher Model was not found.","type":"invalid_request_error","param":null,"code":"not_found"}})"},
      {502, "<html><body>Bad Gateway</body></html>\n",
       R"({"error":{"message":"<html><body>Bad Gateway</body></html>","type":"upstream_error","param":null,"code":null}})"},
      {500, "", R"({"error":{"message":"upstream returned HTTP 500","type":"server_error","param":null,"code":null}})"},
  };
  for (const auto& c : cases) {
    Harness h;
    ASSERT_TRUE(h.Request(kBufferedRequest).ok());
    int status = 0;
    std::string out;
    h.t().TranslateError(c.status, http::HeaderMap(), c.body, &status, &out);
    EXPECT_EQ(status, c.status);
    EXPECT_EQ(out, c.want);
  }
  Harness emb(Endpoint::kEmbeddings);
  ASSERT_TRUE(emb.Request(R"({"model":"m","input":"a"})").ok());
  int status = 0;
  std::string out;
  emb.t().TranslateError(429, http::HeaderMap(), cases[0].body, &status, &out);
  EXPECT_EQ(out, cases[0].want);
}

// ---- Streams -------------------------------------------------------------------------------

std::string StreamOnce(std::string_view upstream, const std::vector<size_t>& cuts, absl::Status* st,
                       std::string_view request = kStreamRequest) {
  Harness h;
  auto up = h.Request(request);
  EXPECT_TRUE(up.ok());
  std::string out;
  *st = h.Feed(upstream, cuts, &out);
  return out;
}

TEST(GeminiStreamGolden, AllFixturesAtEveryByteSplit) {
  auto names = testutil::ListFiles(Testdata("streams"), ".upstream.sse");
  ASSERT_GE(names.size(), 7u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    std::string upstream = ReadFileOrEmpty(Testdata(StrCat("streams/", name, ".upstream.sse")));
    absl::Status st;
    std::string whole = StreamOnce(upstream, {}, &st);
    ASSERT_TRUE(st.ok()) << st;
    ExpectGolden(Testdata(StrCat("streams/", name, ".client.sse")), whole);
    for (size_t cut = 1; cut < upstream.size(); ++cut) {
      std::string split = StreamOnce(upstream, {cut}, &st);
      ASSERT_TRUE(st.ok()) << "cut at " << cut << ": " << st;
      ASSERT_EQ(split, whole) << "cut at " << cut;
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < upstream.size(); ++i) every.push_back(i);
    EXPECT_EQ(StreamOnce(upstream, every, &st), whole) << "byte by byte";
    // Vertex frames events with CRLF; the output must not change.
    std::string crlf = testutil::ToCrlf(upstream);
    EXPECT_EQ(StreamOnce(crlf, {}, &st), whole) << "CRLF";
    for (size_t cut = 1; cut < crlf.size(); cut += 7) EXPECT_EQ(StreamOnce(crlf, {cut}, &st), whole) << cut;
  }
}

TEST(GeminiStream, EveryEventIsWellFormedOpenAI) {
  for (const auto& name : testutil::ListFiles(Testdata("streams"), ".upstream.sse")) {
    SCOPED_TRACE(name);
    absl::Status st;
    std::string out = StreamOnce(ReadFileOrEmpty(Testdata(StrCat("streams/", name, ".upstream.sse"))), {}, &st);
    ASSERT_TRUE(st.ok());
    http::SseParser p;
    std::vector<http::SseEvent> events;
    ASSERT_TRUE(p.Feed(out, &events).ok());
    EXPECT_FALSE(p.HasPartial());
    ASSERT_FALSE(events.empty());
    bool error = false;
    std::string id;
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].data == "[DONE]") {
        EXPECT_EQ(i + 1, events.size()) << "[DONE] must be last";
        continue;
      }
      auto v = json::Parse(events[i].data);
      ASSERT_TRUE(v.ok()) << events[i].data;
      if (v->Find("error")) {
        error = true;
        continue;
      }
      EXPECT_EQ(v->GetString("object"), "chat.completion.chunk");
      if (id.empty()) id = std::string(v->GetString("id"));
      EXPECT_EQ(v->GetString("id"), id);
      for (const auto& c : v->Find("choices")->items()) {
        const json::Value* fr = c.Find("finish_reason");
        ASSERT_NE(fr, nullptr);
        if (fr->is_string()) {
          std::string r = fr->as_string();
          EXPECT_TRUE(r == "stop" || r == "length" || r == "tool_calls" || r == "content_filter") << r;
        }
      }
    }
    EXPECT_EQ(events.back().data == "[DONE]", !error);
  }
}

TEST(GeminiStream, UsageChunkOnlyWhenAsked) {
  std::string upstream = ReadFileOrEmpty(Testdata("streams/text.upstream.sse"));
  absl::Status st;
  std::string without = StreamOnce(upstream, {}, &st,
                                   R"({"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(without.find("\"usage\""), std::string::npos);
  EXPECT_NE(without.find("data: [DONE]\n\n"), std::string::npos);
  std::string with = StreamOnce(upstream, {}, &st);
  EXPECT_NE(with.find(R"("choices":[],"usage":{"prompt_tokens":4,"completion_tokens":8,"total_tokens":12)"),
            std::string::npos) << with;
}

TEST(GeminiStream, UsageAndModelReported) {
  Harness h;
  ASSERT_TRUE(h.Request(kStreamRequest).ok());
  http::HeaderMutation m = h.t().TranslateResponseHeaders(200, http::HeaderMap());
  EXPECT_EQ(m.set[0].second, "text/event-stream");
  std::string out;
  ASSERT_TRUE(h.Feed(ReadFileOrEmpty(Testdata("streams/text.upstream.sse")), {}, &out).ok());
  EXPECT_EQ(h.t().usage().input_tokens, 4);
  EXPECT_EQ(h.t().usage().output_tokens, 8);
  EXPECT_EQ(h.t().usage().reasoning_tokens, 2);
  EXPECT_EQ(h.t().usage().cached_input_tokens, 1);
  EXPECT_EQ(h.t().response_model(), "gemini-2.5-flash-001");
}

TEST(GeminiStream, CutMidEventIsAnError) {
  std::string upstream = ReadFileOrEmpty(Testdata("streams/text.upstream.sse"));
  std::string cut = upstream.substr(0, upstream.size() - 40);  // inside the last event
  absl::Status st;
  StreamOnce(cut, {}, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ToStd(st.message()), "gemini stream ended inside an event");
  // An event whose line is complete but whose blank line never came is still cut.
  StreamOnce(upstream.substr(0, upstream.size() - 1), {}, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
}

TEST(GeminiStream, EndingBeforeFinishReasonIsAnError) {
  std::string upstream = ReadFileOrEmpty(Testdata("streams/text.upstream.sse"));
  std::string first_event = upstream.substr(0, upstream.find("\n\n") + 2);
  absl::Status st;
  std::string out = StreamOnce(first_event, {}, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ToStd(st.message()), "gemini stream ended before a finish reason");
  EXPECT_NE(out.find("Hel"), std::string::npos);  // what arrived was still relayed
}

TEST(GeminiStream, BadJsonEventIsAnErrorAndSticks) {
  Harness h;
  ASSERT_TRUE(h.Request(kStreamRequest).ok());
  std::string out;
  absl::Status st = h.t().TranslateResponseBody("data: {\"candidates\": [\n\n", false, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(ToStd(st.message()).find("gemini stream event 1 is not valid JSON"), std::string_view::npos);
  EXPECT_EQ(h.t().TranslateResponseBody("data: {}\n\n", true, &out).code(), absl::StatusCode::kInternal);
}

TEST(GeminiStream, StreamErrorIsAWellFormedOpenAIEvent) {
  Harness h;
  ASSERT_TRUE(h.Request(kStreamRequest).ok());
  std::string ev = h.t().StreamError("upstream connection reset");
  http::SseParser p;
  std::vector<http::SseEvent> events;
  ASSERT_TRUE(p.Feed(ev, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(p.HasPartial());
  auto v = json::Parse(events[0].data);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Find("error")->GetString("message"), "upstream connection reset");
}

// ---- Registration --------------------------------------------------------------------------

TEST(GeminiFactory, Identity) {
  auto chat = NewOpenAIToGeminiFactory(Endpoint::kChatCompletions);
  EXPECT_EQ(chat->endpoint(), Endpoint::kChatCompletions);
  EXPECT_EQ(chat->from(), Dialect::kOpenAI);
  EXPECT_EQ(chat->to(), config::ApiSchema::kGCPVertexAI);
  EXPECT_EQ(NewOpenAIToGeminiFactory(Endpoint::kEmbeddings)->endpoint(), Endpoint::kEmbeddings);
}

// ---- Grounding and citations -> url_citation annotations -----------------------------------

std::string Annotations(std::string_view candidate_json, std::string_view text, std::vector<size_t> offsets = {}) {
  auto cand = json::Parse(candidate_json);
  EXPECT_TRUE(cand.ok()) << candidate_json;
  return json::Serialize(gemini_internal::CandidateAnnotations(*cand, text, offsets));
}

TEST(GeminiAnnotations, SupportsBecomeUrlCitationsInCharacters) {
  // "é" is two bytes: Gemini's byte offsets 3..7 are characters 3..6.
  EXPECT_EQ(Annotations(R"({"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a","title":"A"}}],)"
                        R"("groundingSupports":[{"segment":{"startIndex":3,"endIndex":7},"groundingChunkIndices":[0]}]}})",
                        "abcéfg"),
            R"([{"type":"url_citation","url_citation":{"url":"https://a","title":"A","start_index":3,"end_index":6}}])");
  // Per-part offsets: part 1 starts at byte 4 of the text.
  EXPECT_EQ(Annotations(R"({"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a","title":"A"}}],)"
                        R"("groundingSupports":[{"segment":{"partIndex":1,"endIndex":2},"groundingChunkIndices":[0]}]}})",
                        "abc xy", {0, 4}),
            R"([{"type":"url_citation","url_citation":{"url":"https://a","title":"A","start_index":4,"end_index":6}}])");
}

TEST(GeminiAnnotations, UnsupportedChunksSpanTheWholeTextAndBadIndexesAreSkipped) {
  EXPECT_EQ(Annotations(R"({"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a","title":"A"}},{"web":{"title":"no uri"}}]}})",
                        "héllo"),
            R"([{"type":"url_citation","url_citation":{"url":"https://a","title":"A","start_index":0,"end_index":5}}])");
  EXPECT_EQ(Annotations(R"({"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a","title":"A"}}],)"
                        R"("groundingSupports":[{"segment":{"partIndex":5,"endIndex":2},"groundingChunkIndices":[0]},)"
                        R"({"segment":{"endIndex":2},"groundingChunkIndices":[3,-1,"x"]}]}})",
                        "abc", {0}),
            // No support resolved, so the source is kept for the whole text.
            R"([{"type":"url_citation","url_citation":{"url":"https://a","title":"A","start_index":0,"end_index":3}}])");
  EXPECT_EQ(Annotations(R"({"content":{"parts":[{"text":"x"}]}})", "x"), "[]");
}

TEST(GeminiAnnotations, CitationsClampToTheTextAndNeedAUri) {
  EXPECT_EQ(Annotations(R"({"citationMetadata":{"citations":[{"startIndex":2,"endIndex":99,"uri":"https://c","title":"C"},)"
                        R"({"endIndex":1,"license":"mit"}]}})",
                        "abcdef"),
            R"([{"type":"url_citation","url_citation":{"url":"https://c","title":"C","start_index":2,"end_index":6}}])");
  EXPECT_EQ(Annotations(R"({"citationMetadata":{"citationSources":[{"endIndex":3,"uri":"https://s"}]}})", "abcdef"),
            R"([{"type":"url_citation","url_citation":{"url":"https://s","title":"","start_index":0,"end_index":3}}])");
}

TEST(GeminiAnnotations, PlainAnswersCarryAnEmptyAnnotationsList) {
  // As OpenAI's own answers (corpus chat-basic.yaml: "annotations": [], "refusal": null).
  Harness h;
  ASSERT_TRUE(h.Request(kBufferedRequest).ok());
  std::string out;
  ASSERT_TRUE(h.Feed(ReadFileOrEmpty(Testdata("responses/text.upstream.json")), {}, &out).ok());
  EXPECT_NE(out.find(R"("refusal":null,"annotations":[])"), std::string::npos) << out;
  Harness g;
  ASSERT_TRUE(g.Request(kBufferedRequest).ok());
  out.clear();
  ASSERT_TRUE(g.Feed(ReadFileOrEmpty(Testdata("responses/grounding.upstream.json")), {}, &out).ok());
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.ok());
  const json::Value* ann = doc->Find("choices")->items()[0].Find("message")->Find("annotations");
  ASSERT_NE(ann, nullptr);
  EXPECT_EQ(ann->size(), 3u);  // the repeated support and the chunk without a uri are left out
}

TEST(GeminiAnnotations, StreamedAnnotationsArriveOnceOnTheirChunk) {
  absl::Status st;
  std::string sse = StreamOnce(ReadFileOrEmpty(Testdata("streams/grounding.upstream.sse")), {}, &st);
  ASSERT_TRUE(st.ok()) << st;
  // Event 2 brings two sources with its text; event 3 repeats one (not re-sent) and adds a
  // citation, on a delta of its own before the finish chunk.
  std::vector<std::string> deltas;
  for (size_t pos = 0; (pos = sse.find("data: {", pos)) != std::string::npos; ++pos) {
    auto doc = json::Parse(std::string_view(sse).substr(pos + 6, sse.find("\n\n", pos) - pos - 6));
    ASSERT_TRUE(doc.ok());
    const json::Value* choices = doc->Find("choices");
    if (choices->size() == 0) continue;
    const json::Value* ann = choices->items()[0].Find("delta")->Find("annotations");
    deltas.push_back(ann == nullptr ? "-" : StrCat(ann->size()));
  }
  EXPECT_EQ(deltas, (std::vector<std::string>{"-", "2", "1", "-"}));
  EXPECT_NE(sse.find(R"("start_index":20,"end_index":32)"), std::string::npos) << sse;  // 34 bytes, 32 chars
}

// Gemini may send the grounding for an answer in an event after the one carrying
// finishReason: the annotations still reach the client, before the finish chunk.
TEST(GeminiAnnotations, GroundingAfterTheFinishEventIsKept) {
  absl::Status st;
  std::string sse = StreamOnce(ReadFileOrEmpty(Testdata("streams/grounding_after_finish.upstream.sse")), {}, &st);
  ASSERT_TRUE(st.ok()) << st;
  size_t annotation = sse.find(R"("annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com/paris")");
  size_t finish = sse.find(R"("finish_reason":"stop")");
  ASSERT_NE(annotation, std::string::npos) << sse;
  ASSERT_NE(finish, std::string::npos) << sse;
  EXPECT_LT(annotation, finish) << sse;
  EXPECT_EQ(sse.find(R"("finish_reason":"stop")", finish + 1), std::string::npos) << "one finish chunk: " << sse;
  EXPECT_NE(sse.rfind("data: [DONE]"), std::string::npos);
}

}  // namespace
}  // namespace sluice::translate
