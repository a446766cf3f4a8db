// The same-dialect OpenAI backend (OpenAI and OpenAI-compatible servers: vLLM, Ollama,
// llama.cpp): the conformance cases of the other directions, here as "nothing changes". The
// client's bytes go upstream unchanged (tools, images, parallel tool calls and tool results
// included) but for a model override, which is spliced into the raw body; answers and streams
// come back byte for byte at every split, but for the usage-only chunk the gateway itself asked
// for (want_usage), which is read and kept from the client.
#include "translate/openai_passthrough/openai_passthrough.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/raw_request_test_util.h"

namespace sluice::translate {
namespace {

config::Backend OpenAIBackend(std::string prefix = "v1") {
  config::Backend b;
  b.name = "default/openai";
  b.schema = config::ApiSchema::kOpenAI;
  b.schema_prefix = std::move(prefix);
  return b;
}

using Run = testing::RawRun;

// The pipeline skips the DOM for this translator (NeedsDocument() is false): doc is {}.
Run Request(Endpoint e, const config::Backend& b, std::string_view body, std::string_view model,
            std::string_view client_model, bool stream = false, bool want_usage = false) {
  return testing::RawRequest(NewOpenAIPassthroughFactory(e), e, b, body, model, client_model, stream, want_usage);
}

// A conversation with every part the other directions translate: system and developer
// messages, an image by URL and one inline, tools with tool_choice, a parallel tool call and
// both results, response_format, sampling parameters, and spellings a re-serialiser would
// change (escapes, exponent numbers, member order, spaces).
constexpr std::string_view kEverything = R"({ "messages": [
  {"role": "system", "content": "Be brief."},
  {"role": "developer", "content": "Answer in \u00e9l\u00e8ve French \ud83d\ude00."},
  {"role": "user", "content": [
    {"type": "text", "text": "What is in these?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
  {"role": "assistant", "content": null, "tool_calls": [
    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Lyon\"}"}}]},
  {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
  {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]}],
  "tools": [{"type": "function", "function": {"name": "get_weather", "parameters":
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": true,
  "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true, "schema": {"type": "object"}}},
  "temperature": 2E-1, "top_p": 0.95, "max_completion_tokens": 64, "stop": ["\n\n"],
  "reasoning_effort": "low", "seed": 7, "model": "gpt-4o", "user": "u-1" })";

TEST(OpenAIPassthroughRequest, EverythingGoesUpstreamByteForByte) {
  auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kEverything, "gpt-4o", "gpt-4o");
  ASSERT_TRUE(r.up.ok()) << r.up.status();
  EXPECT_EQ(r.up->path, "/v1/chat/completions");
  EXPECT_FALSE(r.up->body.has_value()) << "the client's bytes go upstream as they are";
  EXPECT_TRUE(r.up->headers.empty());
}

TEST(OpenAIPassthroughRequest, ModelOverrideChangesOnlyTheModelValue) {
  auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kEverything, "llama3.1:8b-\"q4\"", "gpt-4o");
  ASSERT_TRUE(r.up.ok()) << r.up.status();
  ASSERT_TRUE(r.up->body.has_value());
  std::string want(kEverything);
  const std::string from = R"("model": "gpt-4o")";
  want.replace(want.find(from), from.size(), R"("model": "llama3.1:8b-\"q4\"")");
  EXPECT_EQ(*r.up->body, want);
  auto v = json::Parse(*r.up->body);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->GetString("model"), "llama3.1:8b-\"q4\"");

  // The client spelt the backend's model already (an escape in the name): nothing to change.
  auto same = Request(Endpoint::kChatCompletions, OpenAIBackend(), R"({"model":"gpt\u002d4o","messages":[]})",
                      "gpt-4o", "alias");
  ASSERT_TRUE(same.up.ok());
  EXPECT_FALSE(same.up->body.has_value());
}

TEST(OpenAIPassthroughRequest, PathsFollowTheSchemaPrefix) {
  struct Case {
    Endpoint e;
    std::string prefix;
    std::string want;
  } cases[] = {
      {Endpoint::kChatCompletions, "v1", "/v1/chat/completions"},
      {Endpoint::kEmbeddings, "v1", "/v1/embeddings"},
      {Endpoint::kChatCompletions, "", "/chat/completions"},                  // a server at the root
      {Endpoint::kChatCompletions, "api/v1", "/api/v1/chat/completions"},     // a prefix with a path
      {Endpoint::kCompletions, "v1", "/v1/completions"},
  };
  for (const auto& c : cases) {
    auto r = Request(c.e, OpenAIBackend(c.prefix), R"({"model":"m"})", "m", "m");
    ASSERT_TRUE(r.up.ok()) << r.up.status();
    EXPECT_EQ(r.up->path, c.want) << c.prefix;
  }
}

TEST(OpenAIPassthroughRequest, UsageAskedForOnlyWhenTheGatewayWantsItAndTheClientDidNot) {
  constexpr std::string_view kStream = R"({"model":"m","stream":true,"messages":[]})";
  auto plain = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "m", "m", true, false);
  ASSERT_TRUE(plain.up.ok());
  EXPECT_FALSE(plain.up->body.has_value());

  auto asked = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "m", "m", true, true);
  ASSERT_TRUE(asked.up.ok());
  ASSERT_TRUE(asked.up->body.has_value());
  auto v = json::Parse(*asked.up->body);
  ASSERT_TRUE(v.ok()) << *asked.up->body;
  ASSERT_NE(v->Find("stream_options"), nullptr);
  EXPECT_TRUE(v->Find("stream_options")->Find("include_usage")->as_bool());

  constexpr std::string_view kClientAsked =
      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]})";
  auto client = Request(Endpoint::kChatCompletions, OpenAIBackend(), kClientAsked, "m", "m", true, true);
  ASSERT_TRUE(client.up.ok());
  EXPECT_FALSE(client.up->body.has_value()) << "the client asked for usage already";
}

// An OpenAI stream with a role chunk, text, two parallel tool calls streamed as index-keyed
// argument fragments, the finish, a usage-only chunk, then [DONE].
constexpr std::string_view kToolStream =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
    ": keep-alive comment\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\","
    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Lyon\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":31,\"completion_tokens\":22,\"total_tokens\":53,"
    "\"prompt_tokens_details\":{\"cached_tokens\":16},\"completion_tokens_details\":{\"reasoning_tokens\":4}}}\n\n"
    "data: [DONE]\n\n";

http::HeaderMap EventStreamHeaders() {
  http::HeaderMap h;
  h.Add("content-type", "text/event-stream; charset=utf-8");
  return h;
}

TEST(OpenAIPassthroughResponse, StreamPassesUnchangedAtEveryByteSplit) {
  constexpr std::string_view kStream = R"({"model":"gpt-4o","stream":true,"messages":[]})";
  for (size_t cut = 0; cut <= kToolStream.size(); ++cut) {
    auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "gpt-4o", "gpt-4o", true);
    ASSERT_TRUE(r.up.ok());
    EXPECT_TRUE(r.t->TranslateResponseHeaders(200, EventStreamHeaders()).empty());
    std::string out;
    ASSERT_TRUE(r.t->TranslateResponseBody(kToolStream.substr(0, cut), false, &out).ok());
    ASSERT_TRUE(r.t->TranslateResponseBody(kToolStream.substr(cut), true, &out).ok());
    ASSERT_EQ(out, kToolStream) << "cut at " << cut;
  }
}

// The bytes of an event still arriving are held until it ends, so what the client has after
// any piece ends on an event boundary: a stream that breaks there gets the driver's error event
// on its own, not glued to half an event. Line ends of every SSE spelling; at every split, and
// byte by byte; the end of a whole stream lets the rest out as it is.
TEST(OpenAIPassthroughResponse, ClientOutputEndsOnAnEventBoundaryAfterEveryPiece) {
  constexpr std::string_view kStream = R"({"model":"gpt-4o","stream":true,"messages":[]})";
  std::string crlf, cr;
  for (char c : kToolStream) {
    if (c == '\n') {
      crlf += "\r\n";
      cr += '\r';
    } else {
      crlf += c;
      cr += c;
    }
  }
  const std::string mixed = "data: {\"a\":1}\r\n\ndata: {\"b\":2}\n\r\n: comment\r\rdata: {\"c\":3}\n\ndata: [DONE]";
  // The events of each stream, as their ends: a boundary is where a prefix of the stream may stop.
  auto boundaries = [](const std::string& s) {
    std::vector<size_t> ends = {0};
    for (size_t i = 0; i + 1 < s.size() + 1; ++i) {
      // The end of a blank line: a line end after a line end (CRLF counted whole).
      auto eol = [](char c) { return c == '\n' || c == '\r'; };
      if (!eol(s[i])) continue;
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;  // its LF ends it
      size_t first = (s[i] == '\n' && i > 0 && s[i - 1] == '\r') ? i - 1 : i;
      if (first > 0 && eol(s[first - 1])) ends.push_back(i + 1);
    }
    return ends;
  };
  for (const std::string& stream : {std::string(kToolStream), crlf, cr, mixed}) {
    const std::vector<size_t> ends = boundaries(stream);
    ASSERT_GE(ends.size(), 4u);
    auto at_boundary = [&](size_t n) { return std::find(ends.begin(), ends.end(), n) != ends.end(); };
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "gpt-4o", "gpt-4o", true);
      r.t->TranslateResponseHeaders(200, EventStreamHeaders());
      std::string out;
      ASSERT_TRUE(r.t->TranslateResponseBody(std::string_view(stream).substr(0, cut), false, &out).ok());
      ASSERT_TRUE(at_boundary(out.size())) << "cut at " << cut << ": " << out.size();
      ASSERT_EQ(out, stream.substr(0, out.size()));
      // A cut CR may still be half of a CRLF; anything else that completes an event goes out.
      if (cut > 0 && stream[cut - 1] != '\r' && at_boundary(cut)) {
        ASSERT_EQ(out.size(), cut);
      }
      ASSERT_TRUE(r.t->TranslateResponseBody(std::string_view(stream).substr(cut), true, &out).ok());
      ASSERT_EQ(out, stream) << "cut at " << cut;
    }
    auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "gpt-4o", "gpt-4o", true);
    r.t->TranslateResponseHeaders(200, EventStreamHeaders());
    std::string out;
    for (size_t i = 0; i < stream.size(); ++i) {
      ASSERT_TRUE(r.t->TranslateResponseBody(std::string_view(stream).substr(i, 1), false, &out).ok());
      ASSERT_TRUE(at_boundary(out.size())) << "after byte " << i;
    }
    ASSERT_TRUE(r.t->TranslateResponseBody("", true, &out).ok());
    ASSERT_EQ(out, stream);
  }
}

// A JSON answer (a server that ignored stream:true) is no event stream: relayed as it comes.
TEST(OpenAIPassthroughResponse, NonEventStreamIsRelayedAsItComes) {
  constexpr std::string_view kStream = R"({"model":"m","stream":true,"messages":[]})";
  auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "m", "m", true);
  http::HeaderMap h;
  h.Add("content-type", "application/json");
  r.t->TranslateResponseHeaders(200, h);
  std::string out;
  ASSERT_TRUE(r.t->TranslateResponseBody("{\"id\":", false, &out).ok());
  EXPECT_EQ(out, "{\"id\":");
}

// The gateway asked for usage the client did not: the usage-only chunk is read (for metrics and
// limits) and kept from the client; every other byte, comments included, passes, at every split.
TEST(OpenAIPassthroughResponse, GatewayUsageChunkIsHiddenAtEveryByteSplit) {
  constexpr std::string_view kStream = R"({"model":"gpt-4o","stream":true,"messages":[]})";
  std::string want(kToolStream);
  size_t usage_at = want.find("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                              "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],");
  ASSERT_NE(usage_at, std::string::npos);
  want.erase(usage_at, want.find("\n\n", usage_at) + 2 - usage_at);
  for (size_t cut = 0; cut <= kToolStream.size(); ++cut) {
    auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "gpt-4o", "gpt-4o", true, true);
    ASSERT_TRUE(r.up.ok());
    r.t->TranslateResponseHeaders(200, EventStreamHeaders());
    std::string out;
    ASSERT_TRUE(r.t->TranslateResponseBody(kToolStream.substr(0, cut), false, &out).ok());
    ASSERT_TRUE(r.t->TranslateResponseBody(kToolStream.substr(cut), true, &out).ok());
    ASSERT_EQ(out, want) << "cut at " << cut;
    const Usage& u = r.t->usage();
    ASSERT_EQ(u.input_tokens, 31) << "cut at " << cut;
    ASSERT_EQ(u.output_tokens, 22);
    ASSERT_EQ(u.total_tokens, 53);
    ASSERT_EQ(u.cached_input_tokens, 16);
    ASSERT_EQ(u.reasoning_tokens, 4);
    ASSERT_EQ(r.t->response_model(), "gpt-4o-2024-08-06");
  }
}

// A server that ignores stream:true and answers JSON: its bytes pass unchanged, usage chunk
// hiding or not.
TEST(OpenAIPassthroughResponse, JsonAnswerToAStreamRequestPassesUnchanged) {
  constexpr std::string_view kStream = R"({"model":"m","stream":true,"messages":[]})";
  const std::string body =
      R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},)"
      R"("finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
  auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), kStream, "m", "m", true, true);
  http::HeaderMap h;
  h.Add("content-type", "application/json");
  r.t->TranslateResponseHeaders(200, h);
  std::string out;
  ASSERT_TRUE(r.t->TranslateResponseBody(body.substr(0, 7), false, &out).ok());
  ASSERT_TRUE(r.t->TranslateResponseBody(body.substr(7), true, &out).ok());
  EXPECT_EQ(out, body);
}

TEST(OpenAIPassthroughResponse, ErrorsPassThroughWithTheirStatus) {
  struct Case {
    int status;
    std::string body;
  } cases[] = {
      {429, R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})"},
      {401, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})"},
      {400, R"({"error":{"message":"Invalid 'messages[1].content'","type":"invalid_request_error","param":"messages[1].content","code":null}})"},
      {503, "upstream connect error"},
  };
  for (const auto& c : cases) {
    auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), R"({"model":"m"})", "m", "m");
    int status = 0;
    std::string out;
    r.t->TranslateError(c.status, http::HeaderMap(), c.body, &status, &out);
    EXPECT_EQ(status, c.status);
    EXPECT_EQ(out, c.body);
  }
  // A stream that breaks after its head: one OpenAI-shaped error event ends it.
  auto r = Request(Endpoint::kChatCompletions, OpenAIBackend(), R"({"model":"m"})", "m", "m", true);
  http::SseParser p;
  std::vector<http::SseEvent> events;
  ASSERT_TRUE(p.Feed(r.t->StreamError("the upstream connection was reset"), &events).ok());
  ASSERT_EQ(events.size(), 1u);
  auto v = json::Parse(events[0].data);
  ASSERT_TRUE(v.ok()) << events[0].data;
  ASSERT_NE(v->Find("error"), nullptr);
  EXPECT_EQ(v->Find("error")->GetString("message"), "the upstream connection was reset");
}

TEST(OpenAIPassthroughFactory, Identity) {
  auto f = NewOpenAIPassthroughFactory(Endpoint::kEmbeddings);
  EXPECT_EQ(f->endpoint(), Endpoint::kEmbeddings);
  EXPECT_EQ(f->from(), Dialect::kOpenAI);
  EXPECT_EQ(f->to(), config::ApiSchema::kOpenAI);
  EXPECT_FALSE(f->NeedsDocument());
}

}  // namespace
}  // namespace sluice::translate
