#include "translate/anthropic_to_bedrock/anthropic_to_bedrock.h"

#include "common/strings.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/golden_test_util.h"
#include "translate/openai_to_bedrock/invoke_stream_test_util.h"

namespace sluice::translate {
namespace {

constexpr char kModel[] = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";

std::string Dir() { return golden::TestDataDir(__FILE__); }

struct Harness {
  explicit Harness(std::string_view client_json) {
    auto parsed = json::Parse(client_json);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (parsed.ok()) doc = std::move(*parsed);
    backend.schema = config::ApiSchema::kAWSBedrock;
    factory = NewAnthropicToBedrockFactory();
    translator = factory->Create(backend);
    stream = doc.is_object() && doc.GetBool("stream", false);
    ClientRequest req{Endpoint::kMessages, client_json, doc, headers, kModel, stream, "claude"};
    up = translator->TranslateRequest(req);
  }

  std::string Headers() {
    http::HeaderMap h;
    h.Add("x-amzn-requestid", "req-1");
    h.Add("content-type", stream ? "application/vnd.amazon.eventstream" : "application/json");
    auto m = translator->TranslateResponseHeaders(200, h);
    m.ApplyTo(h);
    return std::string(h.Get("content-type").value_or(""));
  }

  json::Value doc;
  http::HeaderMap headers;
  config::Backend backend;
  bool stream = false;
  std::unique_ptr<TranslatorFactory> factory;
  std::unique_ptr<Translator> translator;
  absl::StatusOr<UpstreamRequest> up = absl::UnknownError("unset");
};

TEST(AnthropicToBedrockTest, RequestGolden) {
  Harness h(golden::MustRead(Dir() + "req_all.client.json"));
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse");
  ASSERT_TRUE(json::Parse(*h.up->body).ok());
  golden::ExpectGolden(Dir() + "req_all.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

TEST(AnthropicToBedrockTest, RequestStreamPathAndMinimalBody) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":true,"system":"Be brief.","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.up->path, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream");
  EXPECT_EQ(*h.up->body,
            R"({"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"hi"}]}],)"
            R"("inferenceConfig":{"maxTokens":5}})");
}

TEST(AnthropicToBedrockTest, ConsecutiveTurnsOfOneRoleAreMerged) {
  // Anthropic accepts (and merges) consecutive user turns; Converse wants them alternating.
  Harness h(R"({"max_tokens":5,"messages":[)"
            R"({"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},)"
            R"({"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"42"}]},)"
            R"({"role":"user","content":"and then?"}],)"
            R"("tools":[{"name":"f","input_schema":{"type":"object"}}]})");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  auto body = json::Parse(*h.up->body);
  ASSERT_TRUE(body.ok());
  const auto& msgs = body->Find("messages")->items();
  ASSERT_EQ(msgs.size(), 3u) << *h.up->body;
  EXPECT_EQ(json::Serialize(msgs[0]), R"({"role":"user","content":[{"text":"a"},{"text":"b"}]})");
  EXPECT_EQ(msgs[1].GetString("role"), "assistant");
  EXPECT_EQ(json::Serialize(msgs[2]),
            R"({"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"42"}]}},)"
            R"({"text":"and then?"}]})");
}

TEST(AnthropicToBedrockTest, ToolChoiceNoneLeavesTheToolsOut) {
  // Converse has no "none" choice (no toolChoice means auto): the tools stay home...
  Harness none(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}],)"
               R"("tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"none"}})");
  ASSERT_TRUE(none.up.ok()) << none.up.status();
  EXPECT_EQ(none.up->body->find("toolConfig"), std::string::npos) << *none.up->body;
  // ...unless the conversation holds tool blocks, which Converse accepts only with a toolConfig.
  Harness history(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"},)"
                  R"({"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},)"
                  R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"1"}]}],)"
                  R"("tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"none"}})");
  ASSERT_TRUE(history.up.ok()) << history.up.status();
  auto body = json::Parse(*history.up->body);
  ASSERT_TRUE(body.ok());
  const json::Value* config = body->Find("toolConfig");
  ASSERT_NE(config, nullptr) << *history.up->body;
  EXPECT_EQ(config->Find("toolChoice"), nullptr);
  // Empty stop sequences are dropped (Bedrock rejects them), the others kept in order.
  Harness stops(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stop_sequences":["","END","x"]})");
  ASSERT_TRUE(stops.up.ok());
  EXPECT_NE(stops.up->body->find(R"("stopSequences":["END","x"])"), std::string::npos) << *stops.up->body;
}

TEST(AnthropicToBedrockTest, OutputFormatBecomesStructuredOutput) {
  Harness h(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}],)"
            R"("output_format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}})");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_NE(h.up->body->find(R"("outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":)"
                             R"({"schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}"}}}})"),
            std::string::npos)
      << *h.up->body;
  Harness bad(R"({"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"output_format":{"type":"yaml"}})");
  EXPECT_EQ(bad.up.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AnthropicToBedrockTest, RequestErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]})",
       "messages[0].content[0]"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]})",
       "messages[0].content[0]"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"s3://b/cat.tiff"}}]}]})",
       "messages[0].content[0].source.url: an S3 image's key must end in"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"s3://b"}}]}]})",
       "messages[0].content[0].source.url: must be s3://<bucket>/<key>"},
      {R"({"max_tokens":5,"messages":[{"role":"system","content":"x"}]})", "messages[0].role"},
      {R"({"max_tokens":5})", "messages"},
      {R"({"max_tokens":5,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]})", "tools[0]"},
  };
  for (const auto& [body, field] : cases) {
    Harness h(body);
    EXPECT_EQ(h.up.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(ToStd(h.up.status().message()).find(field), std::string_view::npos) << h.up.status();
  }
}

// A url image source holding an s3:// URL: a Converse S3 location, format from the key.
TEST(AnthropicToBedrockTest, S3ImageUrlBecomesAnS3Location) {
  Harness h(R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"what is it"},)"
            R"({"type":"image","source":{"type":"url","url":"s3://my-bucket/img/dog.PNG"}}]}]})");
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_NE(h.up->body->find(R"({"image":{"format":"png","source":{"s3Location":{"uri":"s3://my-bucket/img/dog.PNG"}}}})"),
            std::string::npos)
      << *h.up->body;
}

TEST(AnthropicToBedrockTest, BufferedGoldens) {
  for (const char* name : {"resp_text_and_tool", "resp_length_cached"}) {
    Harness h(R"({"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_TRUE(h.up.ok());
    EXPECT_EQ(h.Headers(), "application/json");
    std::string out;
    absl::Status st = h.translator->TranslateResponseBody(golden::MustRead(Dir() + name + ".upstream.json"), true, &out);
    ASSERT_TRUE(st.ok()) << name << ": " << st;
    ASSERT_TRUE(json::Parse(out).ok()) << out;
    golden::ExpectGolden(Dir() + name + ".client.json", out + "\n");
  }
}

TEST(AnthropicToBedrockTest, BufferedMalformed) {
  Harness h(R"({"model":"claude","max_tokens":5,"messages":[]})");
  h.Headers();
  std::string out;
  EXPECT_EQ(h.translator->TranslateResponseBody("{not json", true, &out).code(), absl::StatusCode::kDataLoss);
}

// A fixture (a JSON array of {"event"|"exception": name, "payload": {...}}) as ConverseStream bytes.
std::string EncodeEvents(std::string_view fixture) {
  auto doc = json::Parse(fixture);
  EXPECT_TRUE(doc.ok()) << doc.status();
  std::string out;
  for (const json::Value& e : doc->items()) {
    std::vector<http::EventStreamHeader> h;
    if (const json::Value* name = e.Find("exception")) {
      h = {http::EventStreamHeader::String(":exception-type", name->as_string()),
           http::EventStreamHeader::String(":content-type", "application/json"),
           http::EventStreamHeader::String(":message-type", "exception")};
    } else {
      h = {http::EventStreamHeader::String(":event-type", std::string(e.GetString("event"))),
           http::EventStreamHeader::String(":content-type", "application/json"),
           http::EventStreamHeader::String(":message-type", "event")};
    }
    out += http::EncodeEventStreamMessage(h, json::Serialize(*e.Find("payload")));
  }
  return out;
}

std::string FeedPieces(std::string_view bytes, const std::vector<size_t>& cuts, absl::Status* status = nullptr,
                       Usage* usage = nullptr) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_TRUE(h.up.ok()) << h.up.status();
  EXPECT_EQ(h.Headers(), "text/event-stream");
  std::string out;
  size_t begin = 0;
  absl::Status st;
  for (size_t i = 0; i <= cuts.size() && st.ok(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    st = h.translator->TranslateResponseBody(bytes.substr(begin, end - begin), i == cuts.size(), &out);
    begin = end;
  }
  if (!st.ok()) out += StreamErrorFor(*h.translator, st, ToStd(st.message()));
  if (status) *status = st;
  if (usage) *usage = h.translator->usage();
  return out;
}

// `event: <type>\ndata: <json of that type>\n\n` throughout; starts with message_start (unless
// it is a lone error), blocks open and close in order, one terminal (message_stop or error) last.
void ExpectWellFormedAnthropicSse(const std::string& sse) {
  size_t pos = 0;
  int terminals = 0;
  int open = -1;
  int next_index = 0;
  bool first = true;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << sse;
    std::string_view event(sse.data() + pos, end - pos);
    EXPECT_EQ(terminals, 0) << "event after the terminal: " << event;
    ASSERT_EQ(event.substr(0, 7), "event: ") << event;
    size_t nl = event.find('\n');
    ASSERT_NE(nl, std::string_view::npos) << event;
    std::string_view type = event.substr(7, nl - 7);
    ASSERT_EQ(event.substr(nl + 1, 6), "data: ") << event;
    auto doc = json::Parse(event.substr(nl + 7));
    ASSERT_TRUE(doc.ok()) << event;
    EXPECT_EQ(doc->GetString("type"), type) << event;
    if (first && type != "error") {
      EXPECT_EQ(type, "message_start");
    }
    first = false;
    if (type == "content_block_start") {
      EXPECT_EQ(open, -1) << event;
      EXPECT_EQ(doc->Find("index")->as_int(), next_index) << event;
      open = next_index++;
    } else if (type == "content_block_delta") {
      EXPECT_EQ(doc->Find("index")->as_int(), open) << event;
    } else if (type == "content_block_stop") {
      EXPECT_EQ(doc->Find("index")->as_int(), open) << event;
      open = -1;
    } else if (type == "message_delta" || type == "message_stop") {
      EXPECT_EQ(open, -1) << event;
    }
    if (type == "message_stop" || type == "error") ++terminals;
    pos = end + 2;
  }
  EXPECT_EQ(terminals, 1) << sse;
}

TEST(AnthropicToBedrockTest, StreamGoldensSplitAtEveryByte) {
  const std::pair<const char*, bool> cases[] = {
      {"stream_text", true}, {"stream_tools", true}, {"stream_reasoning", true}, {"stream_exception", false}};
  for (const auto& [name, ok] : cases) {
    std::string bytes = EncodeEvents(golden::MustRead(Dir() + name + ".events.json"));
    absl::Status st;
    std::string whole = FeedPieces(bytes, {}, &st);
    EXPECT_EQ(st.ok(), ok) << name << ": " << st;
    ExpectWellFormedAnthropicSse(whole);
    golden::ExpectGolden(Dir() + name + ".client.sse", whole);
    for (size_t split = 0; split <= bytes.size(); ++split) {
      ASSERT_EQ(FeedPieces(bytes, {split}), whole) << name << " split at " << split;
    }
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < bytes.size(); ++i) every_byte.push_back(i);
    EXPECT_EQ(FeedPieces(bytes, every_byte), whole) << name << " byte by byte";
  }
}

// contentBlockDelta payloads in Bedrock's compact spelling take a fast path; spelled otherwise
// (spaces, member order) they take the general parser. The client bytes must not differ.
TEST(AnthropicToBedrockTest, CompactDeltasMatchTheGeneralPath) {
  auto frames = [](bool compact, std::string_view padding) {
    auto delta = [&](int block, std::string_view inner) {
      return compact ? StrCat(R"({"contentBlockIndex":)", block, R"(,"delta":)", inner, padding, "}")
                     : StrCat(R"({ "delta": )", inner, R"(, "contentBlockIndex": )", block, "}");
    };
    std::vector<std::pair<std::string, std::string>> events = {
        {"messageStart", R"({"role":"assistant"})"},
        {"contentBlockDelta", delta(0, R"({"reasoningContent":{"text":"think \"hard\"\n"}})")},
        {"contentBlockDelta", delta(0, R"({"reasoningContent":{"signature":"sig"}})")},
        {"contentBlockStop", R"({"contentBlockIndex":0})"},
        {"contentBlockDelta", delta(1, R"({"text":"caf\u00e9 \ud83d\ude00 \\ \/ tab\t"})")},
        {"contentBlockDelta", delta(1, R"({"text":"plain"})")},
        {"contentBlockStop", R"({"contentBlockIndex":1})"},
        {"contentBlockStart", R"({"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}})"},
        {"contentBlockDelta", delta(2, R"({"toolUse":{"input":"{\"city\": \"Z\u00fcrich\"}"}})")},
        {"contentBlockStop", R"({"contentBlockIndex":2})"},
        {"messageStop", R"({"stopReason":"tool_use"})"},
        {"metadata", R"({"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7}})"},
    };
    return bedrock_internal::testing::EncodeEventMessages(events);
  };
  for (std::string_view padding : {"", R"(,"p":"abcdefgh")"}) {
    absl::Status st1, st2;
    std::string fast = FeedPieces(frames(true, padding), {}, &st1);
    std::string general = FeedPieces(frames(false, padding), {}, &st2);
    ASSERT_TRUE(st1.ok()) << st1;
    ASSERT_TRUE(st2.ok()) << st2;
    EXPECT_EQ(fast, general) << padding;
    EXPECT_NE(fast.find(R"("text_delta","text":"café 😀 \\ / tab\t")"), std::string::npos) << fast;
    EXPECT_NE(fast.find(R"("partial_json":"{\"city\": \"Zürich\"}")"), std::string::npos) << fast;
    EXPECT_NE(fast.find(R"("thinking_delta","thinking":"think \"hard\"\n")"), std::string::npos) << fast;
  }
}

TEST(AnthropicToBedrockTest, StreamUsage) {
  Usage u;
  absl::Status st;
  FeedPieces(EncodeEvents(golden::MustRead(Dir() + "stream_reasoning.events.json")), {}, &st, &u);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(u.input_tokens, 207);
  EXPECT_EQ(u.cached_input_tokens, 200);
  EXPECT_EQ(u.output_tokens, 100);
}

TEST(AnthropicToBedrockTest, BrokenCrcAndCutStreamsAreErrors) {
  std::string bytes = EncodeEvents(golden::MustRead(Dir() + "stream_text.events.json"));
  std::string broken = bytes;
  broken[broken.size() / 2] ^= 0x5a;
  absl::Status st;
  std::string out = FeedPieces(broken, {}, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  ExpectWellFormedAnthropicSse(out);
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{3}}) {
    out = FeedPieces(std::string_view(bytes).substr(0, cut), {}, &st);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << cut << ": " << st;
    ExpectWellFormedAnthropicSse(out);
  }
}

TEST(AnthropicToBedrockTest, MessageStopWithoutMetadataStillEnds) {
  auto doc = json::Parse(golden::MustRead(Dir() + "stream_text.events.json"));
  ASSERT_TRUE(doc.ok());
  json::Value cut = json::Value::Array();
  for (size_t i = 0; i + 1 < doc->size(); ++i) cut.Append(json::Value(doc->items()[i]));
  absl::Status st;
  std::string out = FeedPieces(EncodeEvents(json::Serialize(cut)), {}, &st);
  EXPECT_TRUE(st.ok()) << st;
  ExpectWellFormedAnthropicSse(out);
  EXPECT_NE(out.find("\"stop_reason\":\"end_turn\""), std::string::npos) << out;
}

TEST(AnthropicToBedrockTest, StreamErrorIsWellFormed) {
  Harness h(R"({"model":"claude","max_tokens":5,"stream":true,"messages":[]})");
  std::string e = h.translator->StreamError("boom \"quoted\"\nline");
  ExpectWellFormedAnthropicSse(e);
}

TEST(AnthropicToBedrockTest, ErrorsBecomeAnthropicShape) {
  Harness h(R"({"model":"claude","max_tokens":5,"messages":[]})");
  http::HeaderMap headers;
  headers.Add("x-amzn-errortype", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
  int status = 0;
  std::string out;
  h.translator->TranslateError(400, headers, R"({"message":"slow down"})", &status, &out);
  EXPECT_EQ(status, 429);
  EXPECT_EQ(out, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
}

// ---------------------------------------------------------------- documents and caching

TEST(AnthropicToBedrockTest, DocumentsAndCachePointsGolden) {
  Harness h(golden::MustRead(Dir() + "req_documents_cache.client.json"));
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  ASSERT_TRUE(json::Parse(*h.up->body).ok());
  golden::ExpectGolden(Dir() + "req_documents_cache.upstream.json", h.up->path + "\n" + *h.up->body + "\n");
}

TEST(AnthropicToBedrockTest, DocumentsBecomeConverseDocuments) {
  Harness h(golden::MustRead(Dir() + "req_documents_cache.client.json"));
  ASSERT_TRUE(h.up.ok()) << h.up.status();
  auto body = json::Parse(*h.up->body);
  ASSERT_TRUE(body.ok());
  const auto& first = body->Find("messages")->items()[0].Find("content")->items();
  ASSERT_EQ(first.size(), 6u);  // pdf, cachePoint, txt, txt, text, cachePoint
  EXPECT_EQ(json::Serialize(first[0]),
            R"({"document":{"format":"pdf","name":"Master services agreement v2",)"
            R"("source":{"bytes":"JVBERi0xLjQK"},"context":"signed 2024"}})");
  EXPECT_NE(first[1].Find("cachePoint"), nullptr);
  // Text sources travel as base64 of their UTF-8 bytes; untitled documents get unique names.
  EXPECT_EQ(json::Serialize(first[2]),
            R"({"document":{"format":"txt","name":"document","source":{"bytes":"Q2xhdXNlIDc6IMOpdMOpLg=="}}})");
  EXPECT_EQ(first[3].Find("document")->GetString("name"), "document (2)");
  EXPECT_NE(first[5].Find("cachePoint"), nullptr);
  const auto& last = body->Find("messages")->items()[2].Find("content")->items();
  ASSERT_EQ(last.size(), 2u);  // toolResult (with its document inside), then the cachePoint
  const auto& result = last[0].Find("toolResult")->Find("content")->items();
  ASSERT_EQ(result.size(), 2u);
  EXPECT_EQ(result[1].Find("document")->GetString("name"), "Annex B");
  EXPECT_NE(last[1].Find("cachePoint"), nullptr);
  // System and tool cache points, the TTL kept.
  EXPECT_EQ(json::Serialize(body->Find("system")->items().back()), R"({"cachePoint":{"type":"default","ttl":"1h"}})");
  const auto& tools = body->Find("toolConfig")->Find("tools")->items();
  ASSERT_EQ(tools.size(), 3u);
  EXPECT_NE(tools[2].Find("cachePoint"), nullptr);
  // citations are not asked for: Converse would answer with blocks this translator drops.
  EXPECT_EQ(h.up->body->find("citations"), std::string::npos);
}

TEST(AnthropicToBedrockTest, UnsupportedDocumentsAndCacheControlNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]})",
       "messages[0].content[0].source.type: unsupported document source \"url\""},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"document","source":{"type":"file","file_id":"file_1"}}]}]})",
       "messages[0].content[1].source.type: unsupported document source \"file\""},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"content","content":[]}}]}]})",
       "messages[0].content[0].source.type: unsupported document source \"content\""},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]}]})",
       "messages[0].content[0].source.media_type: unsupported document media_type \"image/png\""},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":""}}]}]})",
       "messages[0].content[0].source.data: must not be empty"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document","source":{"type":"url","url":"u"}}]}]}]})",
       "messages[0].content[0].content[0].source.type"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"forever"}}]}]})",
       "messages[0].content[0].cache_control.type: must be \"ephemeral\""},
      {R"({"max_tokens":5,"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1d"}}],"messages":[]})",
       "system[0].cache_control.ttl: must be \"5m\" or \"1h\""},
      {R"({"max_tokens":5,"messages":[],"tools":[{"name":"f","input_schema":{},"cache_control":"yes"}]})",
       "tools[0].cache_control.type"},
  };
  for (const auto& [body, want] : cases) {
    Harness h(body);
    ASSERT_FALSE(h.up.ok()) << body;
    EXPECT_EQ(h.up.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(ToStd(h.up.status().message()).find(want), std::string_view::npos)
        << "got: " << h.up.status() << "\nwant: " << want;
  }
}

TEST(AnthropicToBedrockTest, StreamedCacheUsage) {
  std::string bytes = EncodeEvents(
      R"([{"event":"messageStart","payload":{"role":"assistant"}},)"
      R"({"event":"contentBlockDelta","payload":{"contentBlockIndex":0,"delta":{"text":"ok"}}},)"
      R"({"event":"contentBlockStop","payload":{"contentBlockIndex":0}},)"
      R"({"event":"messageStop","payload":{"stopReason":"end_turn"}},)"
      R"({"event":"metadata","payload":{"usage":{"inputTokens":7,"outputTokens":1,"totalTokens":1508,)"
      R"("cacheReadInputTokens":1000,"cacheWriteInputTokens":500},"metrics":{"latencyMs":1}}}])");
  Usage u;
  absl::Status st;
  std::string out = FeedPieces(bytes, {}, &st, &u);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_NE(out.find(R"("usage":{"input_tokens":7,"output_tokens":1,"cache_read_input_tokens":1000,)"
                     R"("cache_creation_input_tokens":500})"),
            std::string::npos)
      << out;
  EXPECT_EQ(u.input_tokens, 1507);
  EXPECT_EQ(u.cached_input_tokens, 1000);
  EXPECT_EQ(u.cache_creation_input_tokens, 500);
}

}  // namespace
}  // namespace sluice::translate
