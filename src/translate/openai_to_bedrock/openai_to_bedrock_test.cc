#include "translate/openai_to_bedrock/openai_to_bedrock.h"

#include <map>

#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_bedrock/golden_test_util.h"
#include "translate/openai_to_bedrock/invoke_stream_test_util.h"
#include "translate/openai_to_bedrock/request.h"

namespace sluice::translate {
namespace {

constexpr char kClaude[] = "anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr char kClaudePath[] = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0";
constexpr int64_t kNow = 1700000000;

std::string Dir() { return golden::TestDataDir(__FILE__); }

// One translator over a client request, as the pipeline drives it: the document is built only
// when the factory asks for one (chat reads the raw body itself).
struct Harness {
  explicit Harness(std::string_view client_json, std::string_view model = kClaude, bool chat = true) {
    auto parsed = json::Parse(client_json);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    bool stream = parsed.ok() && parsed->GetBool("stream", false);
    factory = chat ? NewOpenAIToBedrockChatFactory([] { return kNow; }) : NewOpenAIToBedrockEmbeddingsFactory();
    doc = factory->NeedsDocument() && parsed.ok() ? std::move(*parsed) : json::Value::Object();
    translator = factory->Create(backend);
    ClientRequest req{chat ? Endpoint::kChatCompletions : Endpoint::kEmbeddings, client_json, doc, headers,
                      model, stream, "client-model"};
    up = translator->TranslateRequest(req);
  }

  // Response headers as Bedrock sends them; returns the content-type the client will see.
  std::string Headers() {
    http::HeaderMap h;
    h.Add("x-amzn-requestid", "req-1");
    h.Add("content-type", "application/vnd.amazon.eventstream");
    auto m = translator->TranslateResponseHeaders(200, h);
    m.ApplyTo(h);
    return std::string(h.Get("content-type").value_or(""));
  }

  json::Value doc;
  http::HeaderMap headers;
  config::Backend backend;
  std::unique_ptr<TranslatorFactory> factory;
  std::unique_ptr<Translator> translator;
  absl::StatusOr<UpstreamRequest> up = absl::UnknownError("unset");
};

// ---------------------------------------------------------------- requests

struct RequestCase {
  const char* name;
  const char* model;
};

TEST(OpenAIToBedrockRequestTest, Goldens) {
  const RequestCase cases[] = {
      {"req_text", kClaude},
      {"req_images", kClaude},
      {"req_tools", kClaude},
      {"req_tool_results", kClaude},
      {"req_tool_choice_none", kClaude},
      {"req_tool_history_no_tools", kClaude},
      {"req_reasoning_claude", kClaude},
      {"req_reasoning_nova", "us.amazon.nova-2-lite-v1:0"},
      {"req_thinking", kClaude},
  };
  for (const auto& c : cases) {
    std::string client = golden::MustRead(Dir() + c.name + ".client.json");
    Harness run(client, c.model);
    ASSERT_TRUE(run.up.ok()) << c.name << ": " << run.up.status();
    ASSERT_TRUE(run.up->body.has_value());
    // The body must be valid JSON; the golden holds path, then body.
    ASSERT_TRUE(json::Parse(*run.up->body).ok()) << c.name;
    golden::ExpectGolden(Dir() + c.name + ".upstream.json", run.up->path + "\n" + *run.up->body + "\n");
  }
}

TEST(OpenAIToBedrockRequestTest, PathsEscapeTheModelId) {
  Harness plain(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(plain.up.ok());
  EXPECT_EQ(plain.up->path, std::string(kClaudePath) + "/converse");
  Harness stream(R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(stream.up.ok());
  EXPECT_EQ(stream.up->path, std::string(kClaudePath) + "/converse-stream");
  EXPECT_EQ(openai_to_bedrock_internal::ModelPath(
                "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude", "/converse"),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.anthropic.claude/converse");
}

TEST(OpenAIToBedrockRequestTest, RejectsWhatConverseCannotExpress) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]})",
       "messages[0].content[1].image_url.url: the AWSBedrock backend cannot fetch image URLs"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://bucket/photos/cat.bmp"}}]}]})",
       "messages[0].content[0].image_url.url: an S3 image's key must end in .png, .jpg, .jpeg, .gif or .webp"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://bucket/photos.png/cat"}}]}]})",
       "messages[0].content[0].image_url.url: an S3 image's key must end in"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://bucket"}}]}]})",
       "messages[0].content[0].image_url.url: must be s3://<bucket>/<key>"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3:///cat.png"}}]}]})",
       "messages[0].content[0].image_url.url: must be s3://<bucket>/<key>"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"s3://bucket/a cat.png"}}]}]})",
       "messages[0].content[0].image_url.url: must not hold spaces or control characters"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]})",
       "messages[0].content[0].image_url.url: unsupported image type \"image/bmp\""},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]})",
       "messages[0].content[0].image_url.url: must be a base64 data: URL"},
      {R"({"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"","format":"wav"}}]}]})",
       "messages[0].content[0]: unsupported part type \"input_audio\""},
      {R"({"messages":[{"role":"user","content":"x"}],"n":2})", "n: "},
      {R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{}}})",
       "response_format.json_schema.schema: must be an object"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{bad"}}]}]})",
       "messages[0].tool_calls[0].function.arguments: is not valid JSON"},
      {R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id: is required"},
      {R"({"messages":[{"role":"function","content":"x"}]})", "messages[0].role: unsupported role \"function\""},
      {R"({"messages":[]})", "messages: must be a non-empty array"},
      {R"({"messages":[{"role":"system","content":"x"}]})", "messages: must contain a user message"},
      {R"({"messages":[{"role":"system","content":"s"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"x"}]})",
       "messages: the AWSBedrock backend needs a user message before the first assistant message"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", "tool_choice: requires tools"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes","tools":[{"type":"function","function":{"name":"f"}}]})",
       "tool_choice: unsupported value \"sometimes\""},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"f"}}]})",
       "tools[0].type: unsupported tool type \"custom\""},
      {R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"})",
       "reasoning_effort: unsupported value \"extreme\""},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop[0]: must be a string"},
  };
  for (const auto& [body, want] : cases) {
    Harness run(body);
    ASSERT_FALSE(run.up.ok()) << body;
    EXPECT_EQ(run.up.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(std::string(run.up.status().message()).find(want), std::string::npos)
        << "got: " << run.up.status().message() << "\nwant: " << want;
  }
}

// An s3:// image URL becomes a Converse S3 location (Bedrock reads the object itself); the
// format comes from the key's extension, in any case.
TEST(OpenAIToBedrockRequestTest, S3ImagesBecomeS3Locations) {
  Harness run(R"({"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},)"
              R"({"type":"image_url","image_url":{"url":"s3://my-bucket/photos/Cat.JPG","detail":"high"}},)"
              R"({"type":"image_url","image_url":{"url":"s3://my-bucket/a\u002fb.webp"}}]}]})");
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  auto body = json::Parse(*run.up->body);
  ASSERT_TRUE(body.ok()) << *run.up->body;
  const json::Value& content = *body->Find("messages")->items()[0].Find("content");
  ASSERT_EQ(content.items().size(), 3u);
  EXPECT_EQ(json::Serialize(content.items()[1]),
            R"({"image":{"format":"jpeg","source":{"s3Location":{"uri":"s3://my-bucket/photos/Cat.JPG"}}}})");
  EXPECT_EQ(json::Serialize(content.items()[2]),
            R"({"image":{"format":"webp","source":{"s3Location":{"uri":"s3://my-bucket/a/b.webp"}}}})");
}

TEST(OpenAIToBedrockRequestTest, ChatReadsTheRawBody) {
  // No DOM for chat: the pipeline skips json::Parse; embeddings still get their document.
  EXPECT_FALSE(NewOpenAIToBedrockChatFactory()->NeedsDocument());
  EXPECT_TRUE(NewOpenAIToBedrockEmbeddingsFactory()->NeedsDocument());
}

TEST(OpenAIToBedrockRequestTest, InvalidJsonIsInvalidArgument) {
  // The pipeline validates the body before any translator runs; called directly, the
  // translator still refuses bytes that are not JSON, in the pipeline's words.
  auto factory = NewOpenAIToBedrockChatFactory([] { return kNow; });
  auto translator = factory->Create(config::Backend());
  const json::Value empty = json::Value::Object();
  http::HeaderMap headers;
  ClientRequest req{Endpoint::kChatCompletions, R"({"messages":[)", empty, headers, kClaude, false, "m"};
  auto up = translator->TranslateRequest(req);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(up.status().message().substr(0, 32), "request body is not valid JSON: ");
}

// Values copied from the client keep their number text and are written compact with canonical
// string escapes; a repeated key counts once, the first (guardrailConfig: first place, last
// value). Each expectation is what the DOM-based mapping produced.
TEST(OpenAIToBedrockRequestTest, CopiedValuesKeepTheClientsText) {
  Harness numbers(
      R"({"messages":[{"role":"user","content":"caf\u00e9 \/ \"q\""}],"temperature":1.0,"top_p":1E0,)"
      R"("max_tokens":64,"top_k":5.0,"stop":["a\/b"],"thinking":{"type":"enabled", "budget_tokens":2.0e3}})");
  ASSERT_TRUE(numbers.up.ok()) << numbers.up.status();
  EXPECT_EQ(*numbers.up->body,
            R"({"messages":[{"role":"user","content":[{"text":"café / \"q\""}]}],)"
            R"("inferenceConfig":{"maxTokens":64,"temperature":1.0,"topP":1E0,"stopSequences":["a/b"]},)"
            R"("additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2.0e3},"top_k":5.0}})");

  Harness repeated(R"({"messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"second"}],)"
                   R"("temperature":0.5,"temperature":0.7})");
  ASSERT_TRUE(repeated.up.ok()) << repeated.up.status();
  EXPECT_EQ(*repeated.up->body,
            R"({"messages":[{"role":"user","content":[{"text":"first"}]}],"inferenceConfig":{"temperature":0.5}})");

  Harness guardrail(R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"a",)"
                    R"("trace":"enabled","guardrailIdentifier":"b","guardrailVersion":"1"}})");
  ASSERT_TRUE(guardrail.up.ok()) << guardrail.up.status();
  EXPECT_NE(guardrail.up->body->find(
                R"("guardrailConfig":{"guardrailIdentifier":"b","trace":"enabled","guardrailVersion":"1"})"),
            std::string::npos)
      << *guardrail.up->body;

  Harness arguments(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"t1",)"
                    R"("type":"function","function":{"name":"f","arguments":" { \"a\" : [1.0, 2e5] } "}}]}]})");
  ASSERT_TRUE(arguments.up.ok()) << arguments.up.status();
  EXPECT_NE(arguments.up->body->find(R"({"toolUse":{"toolUseId":"t1","name":"f","input":{"a":[1.0,2e5]}}})"),
            std::string::npos)
      << *arguments.up->body;
}

TEST(OpenAIToBedrockRequestTest, ValuesBedrockWouldRejectAreHandledHere) {
  // temperature: OpenAI goes to 2, Bedrock to 1 -> a 400 naming the field, not Bedrock's.
  Harness hot(R"({"messages":[{"role":"user","content":"x"}],"temperature":1.7})");
  EXPECT_EQ(hot.up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ToStd(hot.up.status().message()).find("temperature"), std::string::npos) << hot.up.status();
  Harness ok(R"({"messages":[{"role":"user","content":"x"}],"temperature":1,"top_p":0.5})");
  ASSERT_TRUE(ok.up.ok()) << ok.up.status();
  EXPECT_NE(ok.up->body->find(R"("temperature":1,"topP":0.5)"), std::string::npos) << *ok.up->body;
  // Empty stop strings are dropped; an all-empty stop sends none.
  Harness stops(R"({"messages":[{"role":"user","content":"x"}],"stop":["","END"]})");
  ASSERT_TRUE(stops.up.ok());
  EXPECT_NE(stops.up->body->find(R"("stopSequences":["END"])"), std::string::npos) << *stops.up->body;
  Harness empty(R"({"messages":[{"role":"user","content":"x"}],"stop":""})");
  ASSERT_TRUE(empty.up.ok());
  EXPECT_EQ(empty.up->body->find("stopSequences"), std::string::npos) << *empty.up->body;
  // A reasoning budget must stay under Claude's max_tokens: it shrinks to half the cap, or
  // thinking is left off when that is under Claude's 1024 minimum.
  Harness fits(R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"high","max_tokens":4000})");
  ASSERT_TRUE(fits.up.ok());
  EXPECT_NE(fits.up->body->find(R"("budget_tokens":2000)"), std::string::npos) << *fits.up->body;
  Harness roomy(R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","max_tokens":8000})");
  ASSERT_TRUE(roomy.up.ok());
  EXPECT_NE(roomy.up->body->find(R"("budget_tokens":2048)"), std::string::npos) << *roomy.up->body;
  Harness tight(R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","max_tokens":1000})");
  ASSERT_TRUE(tight.up.ok());
  EXPECT_EQ(tight.up->body->find("thinking"), std::string::npos) << *tight.up->body;
  // More effort never means less thinking: under a 2000 cap, medium gets the minimum budget.
  Harness medium(R"({"messages":[{"role":"user","content":"x"}],"reasoning_effort":"medium","max_tokens":2000})");
  ASSERT_TRUE(medium.up.ok());
  EXPECT_NE(medium.up->body->find(R"("budget_tokens":1024)"), std::string::npos) << *medium.up->body;
  // A tool that returned nothing: no empty text block (refused), an empty content list.
  Harness empty_result(R"({"messages":[{"role":"user","content":"x"},)"
                       R"({"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
                       R"({"role":"tool","tool_call_id":"c1","content":""},)"
                       R"({"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":""},{"type":"text","text":"ok"}]}],)"
                       R"("tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(empty_result.up.ok()) << empty_result.up.status();
  EXPECT_NE(empty_result.up->body->find(R"({"toolResult":{"toolUseId":"c1","content":[]}})"), std::string::npos)
      << *empty_result.up->body;
  EXPECT_NE(empty_result.up->body->find(R"({"toolResult":{"toolUseId":"c2","content":[{"text":"ok"}]}})"), std::string::npos)
      << *empty_result.up->body;
  // Whitespace-only assistant text is left out (Claude refuses it); the tool call stays.
  Harness blank(R"({"messages":[{"role":"user","content":"x"},)"
                R"({"role":"assistant","content":" \n\t","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},)"
                R"({"role":"tool","tool_call_id":"c1","content":"1"}],"tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(blank.up.ok()) << blank.up.status();
  EXPECT_NE(blank.up->body->find(R"({"role":"assistant","content":[{"toolUse":)"), std::string::npos) << *blank.up->body;
}

TEST(OpenAIToBedrockRequestTest, JsonSchemaBecomesStructuredOutput) {
  // response_format json_schema -> outputConfig.textFormat (the schema travels as a JSON
  // string, as Converse's JsonSchemaDefinition wants); strict tools -> toolSpec.strict.
  Harness run(R"({"messages":[{"role":"user","content":"x"}],"stream":true,)"
              R"("response_format":{"type":"json_schema","json_schema":{"name":"person","description":"A \"person\"",)"
              R"("strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}},)"
              R"("tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":{"type":"object","properties":{}}}}]})");
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  auto body = json::Parse(*run.up->body);
  ASSERT_TRUE(body.ok()) << *run.up->body;
  const json::Value* js = body->Find("outputConfig");
  ASSERT_NE(js, nullptr) << *run.up->body;
  EXPECT_EQ(js->Find("textFormat")->GetString("type"), "json_schema");
  js = js->Find("textFormat")->Find("structure")->Find("jsonSchema");
  EXPECT_EQ(js->GetString("name"), "person");
  EXPECT_EQ(js->GetString("description"), "A \"person\"");
  EXPECT_EQ(js->GetString("schema"),
            R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false})");
  EXPECT_TRUE(body->Find("toolConfig")->Find("tools")->items()[0].Find("toolSpec")->GetBool("strict", false));
  // No response_format, no outputConfig; a non-strict tool says nothing of strictness.
  Harness plain(R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(plain.up.ok());
  EXPECT_EQ(plain.up->body->find("outputConfig"), std::string::npos);
  EXPECT_EQ(plain.up->body->find("strict"), std::string::npos);
}

TEST(OpenAIToBedrockRequestTest, ToolChoiceNoneWithoutHistoryDropsTools) {
  Harness run(R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"none","tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(run.up.ok());
  EXPECT_EQ(run.up->body->find("toolConfig"), std::string::npos);
  Harness autochoice(R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"auto","tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(autochoice.up.ok());
  EXPECT_NE(autochoice.up->body->find(R"("toolChoice":{"auto":{}})"), std::string::npos);
  Harness unset(R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]})");
  ASSERT_TRUE(unset.up.ok());
  EXPECT_EQ(unset.up->body->find("toolChoice"), std::string::npos);  // Bedrock's default is auto
}

// ---------------------------------------------------------------- buffered answers

std::string Buffered(Harness& run, std::string_view upstream, absl::Status* st) {
  EXPECT_EQ(run.Headers(), "application/json");
  std::string out;
  *st = run.translator->TranslateResponseBody(upstream, true, &out);
  return out;
}

TEST(OpenAIToBedrockResponseTest, Goldens) {
  for (const char* name : {"resp_text", "resp_tools", "resp_text_and_tool", "resp_length_cached",
                           "resp_content_filtered"}) {
    Harness run(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
    ASSERT_TRUE(run.up.ok());
    absl::Status st;
    std::string out = Buffered(run, golden::MustRead(Dir() + name + ".upstream.json"), &st);
    ASSERT_TRUE(st.ok()) << name << ": " << st;
    ASSERT_TRUE(json::Parse(out).ok()) << name;
    golden::ExpectGolden(Dir() + name + ".client.json", out + "\n");
  }
}

TEST(OpenAIToBedrockResponseTest, UsageIncludesCacheTokens) {
  Harness run(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
  absl::Status st;
  Buffered(run, golden::MustRead(Dir() + "resp_length_cached.upstream.json"), &st);
  ASSERT_TRUE(st.ok());
  const Usage& u = run.translator->usage();
  EXPECT_EQ(u.input_tokens, 1210);
  EXPECT_EQ(u.output_tokens, 3);
  EXPECT_EQ(u.total_tokens, 1213);
  EXPECT_EQ(u.cached_input_tokens, 1000);
  EXPECT_EQ(u.cache_creation_input_tokens, 200);
  EXPECT_EQ(run.translator->response_model(), kClaude);
}

TEST(OpenAIToBedrockResponseTest, BufferedBodyMaySplit) {
  std::string upstream = golden::MustRead(Dir() + "resp_tools.upstream.json");
  Harness whole(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
  absl::Status st;
  std::string expected = Buffered(whole, upstream, &st);
  for (size_t split = 0; split <= upstream.size(); split += 13) {
    Harness run(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
    run.Headers();
    std::string out;
    ASSERT_TRUE(run.translator->TranslateResponseBody(upstream.substr(0, split), false, &out).ok());
    EXPECT_TRUE(out.empty());
    ASSERT_TRUE(run.translator->TranslateResponseBody(upstream.substr(split), true, &out).ok());
    EXPECT_EQ(out, expected);
  }
}

TEST(OpenAIToBedrockResponseTest, MalformedBodies) {
  for (std::string_view bad : {"not json", "[]", R"({"output":{}})"}) {
    Harness run(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
    absl::Status st;
    Buffered(run, bad, &st);
    EXPECT_FALSE(st.ok()) << bad;
  }
}

// ---------------------------------------------------------------- errors

struct ErrorCase {
  int status;
  const char* error_type;
  const char* body;
  int want_status;
  const char* want_type;
  const char* want_message;
};

TEST(OpenAIToBedrockErrorTest, MapsBedrockExceptions) {
  const ErrorCase cases[] = {
      {429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
       R"({"message":"Too many requests, please wait before trying again."})", 429, "rate_limit_error",
       "Too many requests, please wait before trying again."},
      {400, "ValidationException", R"({"message":"The model returned the following errors: bad"})", 400,
       "invalid_request_error", "The model returned the following errors: bad"},
      {403, "AccessDeniedException", R"({"Message":"no access"})", 403, "permission_error", "no access"},
      {403, "UnrecognizedClientException", R"({"message":"The security token included in the request is invalid."})",
       401, "authentication_error", "The security token included in the request is invalid."},
      {429, "ModelNotReadyException", R"({"message":"warming"})", 503, "upstream_error", "warming"},
      {503, "ServiceUnavailableException", R"({"message":"down"})", 503, "upstream_error", "down"},
      {404, "ResourceNotFoundException", R"({"message":"no model"})", 404, "invalid_request_error", "no model"},
      {500, "", "<html>oops</html>", 500, "server_error", "<html>oops</html>"},
      {502, "", "", 502, "upstream_error", "the AWSBedrock backend answered HTTP 502"},
  };
  for (const ErrorCase& c : cases) {
    for (bool chat : {true, false}) {
      Harness run(chat ? R"({"model":"m","messages":[{"role":"user","content":"hi"}]})"
                   : R"({"model":"m","input":"hi"})",
              kClaude, chat);
      http::HeaderMap h;
      if (*c.error_type) h.Add("x-amzn-errortype", c.error_type);
      h.Add("retry-after", "3");
      int status = 0;
      std::string out;
      run.translator->TranslateError(c.status, h, c.body, &status, &out);
      EXPECT_EQ(status, c.want_status) << c.error_type;
      auto doc = json::Parse(out);
      ASSERT_TRUE(doc.ok()) << out;
      const json::Value* err = doc->Find("error");
      ASSERT_NE(err, nullptr);
      EXPECT_EQ(err->GetString("type"), c.want_type) << c.error_type;
      EXPECT_EQ(err->GetString("message"), c.want_message);
      std::string_view name = std::string_view(c.error_type).substr(0, std::string_view(c.error_type).find(':'));
      if (name.empty()) EXPECT_TRUE(err->Find("code")->is_null());
      else EXPECT_EQ(err->GetString("code"), name);
    }
  }
}

// ---------------------------------------------------------------- streams

// Encodes a fixture (a JSON array of {"event"|"exception": name, "payload": {...}}) as the
// event-stream bytes ConverseStream would send.
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

std::string StreamRequest(bool include_usage) {
  return std::string(R"({"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}],)") +
         R"("stream_options":{"include_usage":)" + (include_usage ? "true" : "false") + "}}";
}

// Feeds `bytes` cut at the given offsets (the last piece carries end_of_stream) and returns what
// the client receives: the translated bytes, then StreamErrorFor() if translation failed.
std::string FeedPieces(std::string_view bytes, const std::vector<size_t>& cuts, bool include_usage,
                       absl::Status* status = nullptr) {
  Harness run(StreamRequest(include_usage));
  EXPECT_TRUE(run.up.ok());
  EXPECT_EQ(run.Headers(), "text/event-stream");
  std::string out;
  size_t begin = 0;
  absl::Status st;
  for (size_t i = 0; i <= cuts.size() && st.ok(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    st = run.translator->TranslateResponseBody(bytes.substr(begin, end - begin), i == cuts.size(), &out);
    begin = end;
  }
  if (!st.ok()) out += StreamErrorFor(*run.translator, st, ToStd(st.message()));
  if (status) *status = st;
  return out;
}

// Every SSE event the client gets is `data: <JSON object>` or `data: [DONE]`, and the stream
// carries exactly one terminal ([DONE] or an error event) at the end.
void ExpectWellFormedSse(const std::string& sse) {
  size_t pos = 0;
  int terminals = 0;
  while (pos < sse.size()) {
    size_t end = sse.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos) << "unterminated event in:\n" << sse;
    std::string_view event(sse.data() + pos, end - pos);
    ASSERT_EQ(event.substr(0, 6), "data: ") << event;
    std::string_view data = event.substr(6);
    EXPECT_EQ(terminals, 0) << "event after the terminal: " << event;
    if (data == "[DONE]") {
      ++terminals;
    } else {
      auto doc = json::Parse(data);
      ASSERT_TRUE(doc.ok()) << data;
      if (doc->Find("error") != nullptr) {
        ++terminals;
        EXPECT_FALSE(doc->Find("error")->GetString("message").empty());
      }
    }
    pos = end + 2;
  }
  EXPECT_EQ(terminals, 1) << sse;
}

struct StreamCase {
  const char* name;
  bool include_usage;
  bool ok;
};

TEST(OpenAIToBedrockStreamTest, GoldensSplitAtEveryByte) {
  const StreamCase cases[] = {
      {"stream_text", true, true},
      {"stream_tools", false, true},
      {"stream_reasoning", true, true},
      {"stream_exception", true, false},
      {"stream_no_message_start", false, true},
  };
  for (const StreamCase& c : cases) {
    std::string bytes = EncodeEvents(golden::MustRead(Dir() + c.name + ".events.json"));
    absl::Status st;
    std::string whole = FeedPieces(bytes, {}, c.include_usage, &st);
    EXPECT_EQ(st.ok(), c.ok) << c.name << ": " << st;
    ExpectWellFormedSse(whole);
    golden::ExpectGolden(Dir() + c.name + ".client.sse", whole);
    for (size_t split = 0; split <= bytes.size(); ++split) {
      ASSERT_EQ(FeedPieces(bytes, {split}, c.include_usage), whole) << c.name << " split at " << split;
    }
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < bytes.size(); ++i) every_byte.push_back(i);
    EXPECT_EQ(FeedPieces(bytes, every_byte, c.include_usage), whole) << c.name << " byte by byte";
  }
}

TEST(OpenAIToBedrockStreamTest, ToolWithoutInputGetsEmptyObjectArguments) {
  // A parameterless tool: Bedrock may stream no input delta, or only an empty one. The client
  // must still end up with JSON arguments ("{}"), as the buffered answer and OpenAI give.
  for (std::string_view middle : {"", R"({"event":"contentBlockDelta","payload":{"contentBlockIndex":0,"delta":{"toolUse":{"input":""}}}},)"}) {
    std::string events = std::string(R"([{"event":"messageStart","payload":{"role":"assistant"}},)"
                                      R"({"event":"contentBlockStart","payload":{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"t0","name":"get_time"}}}},)") +
                         std::string(middle) +
                         R"({"event":"contentBlockStop","payload":{"contentBlockIndex":0}},)"
                         R"({"event":"contentBlockStart","payload":{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}},)"
                         R"({"event":"contentBlockDelta","payload":{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}},)"
                         R"({"event":"contentBlockStop","payload":{"contentBlockIndex":1}},)"
                         R"({"event":"messageStop","payload":{"stopReason":"tool_use"}}])";
    std::string sse = FeedPieces(EncodeEvents(events), {}, false);
    ExpectWellFormedSse(sse);
    // Reassemble each call's arguments from the deltas, as the SDKs do.
    std::map<int64_t, std::string> args;
    size_t pos = 0;
    while ((pos = sse.find("data: {", pos)) != std::string::npos) {
      size_t end = sse.find("\n\n", pos);
      auto chunk = json::Parse(std::string_view(sse).substr(pos + 6, end - pos - 6));
      ASSERT_TRUE(chunk.ok());
      for (const json::Value& c : chunk->Find("choices")->items()) {
        const json::Value* calls = c.Find("delta") ? c.Find("delta")->Find("tool_calls") : nullptr;
        if (calls == nullptr) continue;
        for (const json::Value& call : calls->items()) {
          args[call.Find("index")->as_int()] += std::string(call.Find("function")->GetString("arguments"));
        }
      }
      pos = end;
    }
    EXPECT_EQ(args[0], "{}") << sse;
    EXPECT_EQ(args[1], R"({"a":1})") << sse;
  }
}

TEST(OpenAIToBedrockStreamTest, UsageIsRecordedWithoutIncludeUsage) {
  std::string bytes = EncodeEvents(golden::MustRead(Dir() + "stream_tools.events.json"));
  Harness run(StreamRequest(false));
  run.Headers();
  std::string out;
  ASSERT_TRUE(run.translator->TranslateResponseBody(bytes, true, &out).ok());
  EXPECT_EQ(out.find("\"usage\""), std::string::npos);
  EXPECT_EQ(run.translator->usage().input_tokens, 50);
  EXPECT_EQ(run.translator->usage().output_tokens, 40);
}

std::string TextStream() { return EncodeEvents(golden::MustRead(Dir() + "stream_text.events.json")); }

// The three events up to the first text delta, then the broken fourth message.
size_t OffsetOfMessage(const std::string& bytes, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    pos += (size_t{static_cast<unsigned char>(bytes[pos + 2])} << 8) | static_cast<unsigned char>(bytes[pos + 3]);
  }
  return pos;
}

void ExpectStreamFailure(const std::string& bytes, std::string_view want_message) {
  absl::Status st;
  std::string whole = FeedPieces(bytes, {}, true, &st);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(want_message), std::string::npos) << st;
  ExpectWellFormedSse(whole);
  for (size_t split = 0; split <= bytes.size(); ++split) {
    ASSERT_EQ(FeedPieces(bytes, {split}, true), whole) << "split at " << split;
  }
}

TEST(OpenAIToBedrockStreamTest, BrokenPreludeCrc) {
  std::string bytes = TextStream();
  bytes[OffsetOfMessage(bytes, 2) + 9] ^= 0x40;
  ExpectStreamFailure(bytes, "prelude CRC");
}

TEST(OpenAIToBedrockStreamTest, BrokenMessageCrc) {
  std::string bytes = TextStream();
  bytes[OffsetOfMessage(bytes, 3) - 10] ^= 0x01;  // inside the third message's payload
  ExpectStreamFailure(bytes, "message CRC");
}

TEST(OpenAIToBedrockStreamTest, StreamCutMidMessage) {
  std::string bytes = TextStream();
  bytes.resize(OffsetOfMessage(bytes, 3) + 20);
  ExpectStreamFailure(bytes, "in the middle of a message");
}

TEST(OpenAIToBedrockStreamTest, StreamEndingBeforeMessageStop) {
  std::string bytes = TextStream();
  bytes.resize(OffsetOfMessage(bytes, 4));
  ExpectStreamFailure(bytes, "before messageStop");
}

TEST(OpenAIToBedrockStreamTest, BadJsonPayload) {
  std::string bytes = TextStream().substr(0, OffsetOfMessage(TextStream(), 1));
  bytes += http::EncodeEventStreamMessage({http::EventStreamHeader::String(":event-type", "contentBlockDelta"),
                                           http::EventStreamHeader::String(":message-type", "event")},
                                          R"({"contentBlockIndex":0,"delta":{"text":)");
  ExpectStreamFailure(bytes, "contentBlockDelta event payload is not a JSON object");
}

// contentBlockDelta payloads in Bedrock's own compact spelling take a fast path; the same
// payloads spelled otherwise (spaces, member order) take the general parser. Both must give the
// client the same bytes, escapes included, and a payload whose string is invalid is refused.
std::string DeltaStream(bool compact, std::string_view text_token, std::string_view padding) {
  auto delta = [&](int block, std::string_view inner) {
    return compact ? StrCat(R"({"contentBlockIndex":)", block, R"(,"delta":)", inner, padding, "}")
                   : StrCat(R"({ "delta": )", inner, R"(, "contentBlockIndex": )", block, "}");
  };
  return bedrock_internal::testing::EncodeEventMessages({
      {"messageStart", R"({"role":"assistant"})"},
      {"contentBlockDelta", delta(0, StrCat(R"({"reasoningContent":{"text":)", R"("think \"hard\"\n")", "}}"))},
      {"contentBlockDelta", delta(0, R"({"reasoningContent":{"signature":"sig"}})")},
      {"contentBlockStop", R"({"contentBlockIndex":0})"},
      {"contentBlockDelta", delta(1, StrCat(R"({"text":)", text_token, "}"))},
      {"contentBlockDelta", delta(1, R"({"text":"plain"})")},
      {"contentBlockStop", R"({"contentBlockIndex":1})"},
      {"contentBlockStart", R"({"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}})"},
      {"contentBlockDelta", delta(2, R"({"toolUse":{"input":"{\"city\": \"Z\u00fcrich\"}"}})")},
      {"contentBlockStop", R"({"contentBlockIndex":2})"},
      {"messageStop", R"({"stopReason":"tool_use"})"},
  });
}

TEST(OpenAIToBedrockStreamTest, CompactDeltasMatchTheGeneralPath) {
  const std::string_view text = R"("caf\u00e9 \ud83d\ude00 \\ \/ tab\t")";
  for (std::string_view padding : {"", R"(,"p":"abcdefghijklmnop")", R"(,"p":"a\"b")"}) {
    std::string fast = FeedPieces(DeltaStream(true, text, padding), {}, false);
    std::string general = FeedPieces(DeltaStream(false, text, padding), {}, false);
    EXPECT_EQ(fast, general) << padding;
    ExpectWellFormedSse(fast);
    EXPECT_NE(fast.find(R"("content":"café 😀 \\ / tab\t")"), std::string::npos) << fast;
    EXPECT_NE(fast.find(R"("reasoning_content":"think \"hard\"\n")"), std::string::npos) << fast;
    EXPECT_NE(fast.find(R"("arguments":"{\"city\": \"Zürich\"}")"), std::string::npos) << fast;
    EXPECT_NE(fast.find(R"("signature":"sig")"), std::string::npos) << fast;
  }
  for (std::string_view bad : {R"("bad \x")", "\"tab\there\"", R"("open)"}) {
    for (bool compact : {true, false}) {
      absl::Status st;
      FeedPieces(DeltaStream(compact, bad, ""), {}, false, &st);
      EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << bad << (compact ? " compact" : " spaced");
    }
  }
  // Invalid padding is refused too, though nothing reads it.
  absl::Status st;
  FeedPieces(DeltaStream(true, R"("ok")", R"(,"p":"bad \q")"), {}, false, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
}

TEST(OpenAIToBedrockStreamTest, ErrorMessageType) {
  std::string bytes = TextStream().substr(0, OffsetOfMessage(TextStream(), 2));
  bytes += http::EncodeEventStreamMessage({http::EventStreamHeader::String(":message-type", "error"),
                                           http::EventStreamHeader::String(":error-code", "InternalFailure"),
                                           http::EventStreamHeader::String(":error-message", "boom")},
                                          "");
  ExpectStreamFailure(bytes, "bedrock InternalFailure: boom");
}

TEST(OpenAIToBedrockStreamTest, StreamErrorIsAnOpenAIErrorEvent) {
  Harness run(StreamRequest(false));
  std::string ev = run.translator->StreamError("bedrock throttlingException: slow down");
  ASSERT_EQ(ev.substr(0, 6), "data: ");
  ASSERT_EQ(ev.substr(ev.size() - 2), "\n\n");
  auto doc = json::Parse(std::string_view(ev).substr(6, ev.size() - 8));
  ASSERT_TRUE(doc.ok()) << ev;
  EXPECT_EQ(doc->Find("error")->GetString("message"), "bedrock throttlingException: slow down");
}

TEST(OpenAIToBedrockStreamTest, ErrorsAreSticky) {
  std::string bytes = TextStream();
  bytes[9] ^= 1;
  Harness run(StreamRequest(false));
  run.Headers();
  std::string out;
  EXPECT_FALSE(run.translator->TranslateResponseBody(bytes, false, &out).ok());
  EXPECT_FALSE(run.translator->TranslateResponseBody("", true, &out).ok());
  EXPECT_TRUE(out.empty());
}

// ---------------------------------------------------------------- embeddings

TEST(OpenAIToBedrockEmbeddingsTest, Request) {
  Harness run(R"({"model":"titan","input":"hello world","dimensions":512,"encoding_format":"float"})",
          "amazon.titan-embed-text-v2:0", false);
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  EXPECT_EQ(run.up->path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
  EXPECT_EQ(*run.up->body, R"({"inputText":"hello world","dimensions":512})");
  Harness one(R"({"model":"titan","input":["only one"]})", "amazon.titan-embed-text-v1", false);
  ASSERT_TRUE(one.up.ok());
  EXPECT_EQ(*one.up->body, R"({"inputText":"only one"})");
}

TEST(OpenAIToBedrockEmbeddingsTest, RejectsWhatTitanCannotTake) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"input":["a","b"]})", "input: the AWSBedrock backend (Titan) embeds one input per request; got 2"},
      {R"({"input":[]})", "input: "},
      {R"({"input":[[1,2,3]]})", "input[0]: token arrays are not supported"},
      {R"({"input":""})", "input: must not be empty"},
      {R"({})", "input: is required"},
      {R"({"input":"x","encoding_format":"int8"})", "encoding_format"},
  };
  for (const auto& [body, want] : cases) {
    Harness run(body, "amazon.titan-embed-text-v2:0", false);
    ASSERT_FALSE(run.up.ok()) << body;
    EXPECT_EQ(run.up.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(run.up.status().message()).find(want), std::string::npos) << run.up.status();
  }
}

TEST(OpenAIToBedrockEmbeddingsTest, Response) {
  Harness run(R"({"model":"titan","input":"hi"})", "amazon.titan-embed-text-v2:0", false);
  EXPECT_EQ(run.Headers(), "application/json");
  std::string out;
  ASSERT_TRUE(run.translator->TranslateResponseBody(R"({"embedding":[0.25,-1.5,3e-2],"inputTextTokenCount":3})",
                                                    true, &out)
                  .ok());
  EXPECT_EQ(out,
            R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-1.5,3e-2]}],)"
            R"("model":"amazon.titan-embed-text-v2:0","usage":{"prompt_tokens":3,"total_tokens":3}})");
  EXPECT_EQ(run.translator->usage().input_tokens, 3);
}

TEST(OpenAIToBedrockEmbeddingsTest, Base64Response) {
  Harness run(R"({"model":"titan","input":"hi","encoding_format":"base64"})", "amazon.titan-embed-text-v1", false);
  run.Headers();
  std::string out;
  ASSERT_TRUE(run.translator->TranslateResponseBody(
                                R"({"embeddingsByType":{"float":[1.0,-2.0]},"inputTextTokenCount":1})", true, &out)
                  .ok());
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.ok());
  std::string_view b64 = doc->Find("data")->items()[0].GetString("embedding");
  // 1.0f = 0x3f800000, -2.0f = 0xc0000000, little-endian.
  EXPECT_EQ(*crypto::Base64Decode(b64), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8));
}

// Cohere Embed on Bedrock embeds a batch (up to 96 texts) per InvokeModel call.
TEST(OpenAIToBedrockEmbeddingsTest, CohereBatchRequest) {
  Harness run(R"({"model":"m","input":["first","second","third"],"encoding_format":"float"})",
              "cohere.embed-english-v3", false);
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  EXPECT_EQ(run.up->path, "/model/cohere.embed-english-v3/invoke");
  EXPECT_EQ(*run.up->body,
            R"({"texts":["first","second","third"],"input_type":"search_document","embedding_types":["float"]})");
  Harness v4(R"({"model":"m","input":"q","input_type":"search_query","truncate":"RIGHT","dimensions":512})",
             "us.cohere.embed-v4:0", false);
  ASSERT_TRUE(v4.up.ok()) << v4.up.status();
  EXPECT_EQ(*v4.up->body,
            R"({"texts":["q"],"input_type":"search_query","truncate":"RIGHT","embedding_types":["float"],)"
            R"("output_dimension":512})");
  const std::pair<const char*, const char*> refused[] = {
      {R"({"input":"x","dimensions":256})", "dimensions: cohere.embed-english-v3 has a fixed size"},
      {R"({"input":[]})", "input: must not be empty"},
      {R"({"input":["a",[1,2]]})", "input[1]: token arrays are not supported"},
      {R"({"input":"x","input_type":3})", "input_type: must be a non-empty string"},
  };
  for (const auto& [body, want] : refused) {
    Harness bad(body, "cohere.embed-english-v3", false);
    ASSERT_FALSE(bad.up.ok()) << body;
    EXPECT_NE(std::string(bad.up.status().message()).find(want), std::string::npos) << bad.up.status();
  }
  std::string many = R"({"input":[)";
  for (int i = 0; i < 97; ++i) many += i ? R"(,"t")" : R"("t")";
  many += "]}";
  Harness too_many(many, "cohere.embed-multilingual-v3", false);
  ASSERT_FALSE(too_many.up.ok());
  EXPECT_NE(std::string(too_many.up.status().message()).find("at most 96 texts per request; got 97"), std::string::npos);
}

TEST(OpenAIToBedrockEmbeddingsTest, CohereResponsesBothShapesWithHeaderUsage) {
  for (const char* body : {R"({"id":"e1","response_type":"embeddings_floats","texts":["a","b"],"embeddings":[[0.5,-1],[2,0.25]]})",
                           R"({"id":"e1","response_type":"embeddings_by_type","texts":["a","b"],"embeddings":{"float":[[0.5,-1],[2,0.25]]}})"}) {
    SCOPED_TRACE(body);
    Harness run(R"({"model":"m","input":["a","b"]})", "cohere.embed-english-v3", false);
    http::HeaderMap h;
    h.Add("content-type", "application/json");
    h.Add("x-amzn-bedrock-input-token-count", "7");
    run.translator->TranslateResponseHeaders(200, h);
    std::string out;
    ASSERT_TRUE(run.translator->TranslateResponseBody(body, true, &out).ok());
    EXPECT_EQ(out,
              R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1]},)"
              R"({"object":"embedding","index":1,"embedding":[2,0.25]}],)"
              R"("model":"cohere.embed-english-v3","usage":{"prompt_tokens":7,"total_tokens":7}})");
    EXPECT_EQ(run.translator->usage().input_tokens, 7);
  }
  Harness bad(R"({"model":"m","input":"a"})", "cohere.embed-english-v3", false);
  std::string out;
  EXPECT_FALSE(bad.translator->TranslateResponseBody(R"({"embeddings":[["x"]]})", true, &out).ok());
  EXPECT_FALSE(bad.translator->TranslateResponseBody(R"({"embedding":[1]})", true, &out).ok());
}

TEST(OpenAIToBedrockEmbeddingsTest, MalformedResponse) {
  Harness run(R"({"model":"titan","input":"hi"})", "amazon.titan-embed-text-v1", false);
  std::string out;
  EXPECT_FALSE(run.translator->TranslateResponseBody(R"({"nothing":1})", true, &out).ok());
}

// ---------------------------------------------------------------- caching, documents, guardrails

namespace gaps {

// The extension fixtures live in testdata/extensions/: the ext_proc fixture test replays
// every top-level req_ golden through the pipeline and lists them by name.
std::string ExtDir() { return Dir() + "extensions/"; }

TEST(OpenAIToBedrockRequestTest, ExtensionGoldens) {
  for (const char* name : {"req_cache_points", "req_documents", "req_guardrail", "req_thinking_history"}) {
    std::string client = golden::MustRead(ExtDir() + name + ".client.json");
    Harness run(client);
    ASSERT_TRUE(run.up.ok()) << name << ": " << run.up.status();
    ASSERT_TRUE(run.up->body.has_value());
    ASSERT_TRUE(json::Parse(*run.up->body).ok()) << name;
    golden::ExpectGolden(ExtDir() + name + ".upstream.json", run.up->path + "\n" + *run.up->body + "\n");
  }
}

// The golden shows where they go; these pin the count and placement independently of it.
TEST(OpenAIToBedrockRequestTest, CachePointsFollowTheirBlock) {
  Harness run(golden::MustRead(ExtDir() + "req_cache_points.client.json"));
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  auto body = json::Parse(*run.up->body);
  ASSERT_TRUE(body.ok());
  auto is_point = [](const json::Value& b) { return b.Find("cachePoint") != nullptr; };
  // system: text, text, cachePoint, text, cachePoint(ttl 1h)
  const auto& sys = body->Find("system")->items();
  ASSERT_EQ(sys.size(), 5u);
  EXPECT_TRUE(is_point(sys[2]));
  EXPECT_EQ(json::Serialize(sys[4]), R"({"cachePoint":{"type":"default","ttl":"1h"}})");
  const auto& msgs = body->Find("messages")->items();
  ASSERT_EQ(msgs.size(), 3u);  // the tool result and the last user text share one turn
  // user: text, cachePoint, image, cachePoint, text
  const auto& user = msgs[0].Find("content")->items();
  ASSERT_EQ(user.size(), 5u);
  EXPECT_TRUE(is_point(user[1]));
  EXPECT_NE(user[2].Find("image"), nullptr);
  EXPECT_TRUE(is_point(user[3]));
  // assistant: text, cachePoint (from the blank part), toolUse
  const auto& assistant = msgs[1].Find("content")->items();
  ASSERT_EQ(assistant.size(), 3u);
  EXPECT_TRUE(is_point(assistant[1]));
  // tool result then its cache point (never inside the toolResult), then the next user text
  const auto& results = msgs[2].Find("content")->items();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_NE(results[0].Find("toolResult"), nullptr);
  EXPECT_TRUE(is_point(results[1]));
  EXPECT_EQ(results[0].Find("toolResult")->Find("content")->items().size(), 1u);
  const auto& tools = body->Find("toolConfig")->Find("tools")->items();
  ASSERT_EQ(tools.size(), 3u);
  EXPECT_TRUE(is_point(tools[2]));
  EXPECT_EQ(tools[1].Find("toolSpec")->GetString("name"), "cite");
}

TEST(OpenAIToBedrockRequestTest, NoCacheControlNoCachePoint) {
  for (const char* name : {"req_text", "req_images", "req_tools", "req_tool_results"}) {
    Harness run(golden::MustRead(Dir() + name + ".client.json"));
    ASSERT_TRUE(run.up.ok()) << name;
    EXPECT_EQ(run.up->body->find("cachePoint"), std::string::npos) << name;
  }
}

TEST(OpenAIToBedrockRequestTest, DocumentNamesAreSanitisedAndUnique) {
  Harness run(golden::MustRead(ExtDir() + "req_documents.client.json"));
  ASSERT_TRUE(run.up.ok()) << run.up.status();
  auto body = json::Parse(*run.up->body);
  ASSERT_TRUE(body.ok());
  std::vector<std::string> names, formats;
  for (const auto& b : body->Find("messages")->items()[0].Find("content")->items()) {
    if (const json::Value* d = b.Find("document")) {
      names.emplace_back(d->GetString("name"));
      formats.emplace_back(d->GetString("format"));
    }
  }
  EXPECT_EQ(formats, (std::vector<std::string>{"pdf", "csv", "docx", "md", "txt", "html"}));
  EXPECT_EQ(names, (std::vector<std::string>{"Q3 report (final)", "-data-figures-2024", "NOTES", "NOTES (2)",
                                             "-ber gr-e tabs", "document"}));
  for (const std::string& n : names) {
    for (char c : n) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '-' || c == '(' || c == ')' ||
                c == '[' || c == ']';
      EXPECT_TRUE(ok) << n;
    }
    EXPECT_EQ(n.find("  "), std::string::npos) << n;
  }
  // The bytes go through untouched (Converse's JSON takes base64).
  EXPECT_NE(run.up->body->find(R"("source":{"bytes":"JVBERi0xLjQK"})"), std::string::npos);
  EXPECT_NE(run.up->body->find(R"("source":{"bytes":"IyBUaXRsZQo="})"), std::string::npos);
}

TEST(OpenAIToBedrockRequestTest, RejectsWhatDocumentsCachingAndGuardrailsCannotExpress) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]})",
       "messages[0].content[0].file.file_id: the AWSBedrock backend cannot read uploaded files"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"file","file":{"file_data":"data:image/png;base64,iVBO","filename":"a.png"}}]}]})",
       "messages[0].content[1].file.file_data: unsupported file type \"image/png\""},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/zip;base64,UEs=","filename":"a.pdf"}}]}]})",
       "messages[0].content[0].file.file_data: unsupported file type \"application/zip\""},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf,raw"}}]}]})",
       "messages[0].content[0].file.file_data: must be a base64 data: URL"},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"JVBERi0=","filename":"a.exe"}}]}]})",
       "messages[0].content[0].file.file_data: must be a base64 data: URL with a media type"},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf"}}]}]})",
       "messages[0].content[0].file.file_data: is required"},
      {R"({"messages":[{"role":"user","content":[{"type":"file"}]}]})", "messages[0].content[0].file: is required"},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,"}}]}]})",
       "messages[0].content[0].file.file_data: has no data"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"persistent"}}]}]})",
       "messages[0].content[0].cache_control.type: must be \"ephemeral\""},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":"ephemeral"}]}]})",
       "messages[0].content[0].cache_control: must be an object"},
      {R"({"messages":[{"role":"system","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"2h"}}]},{"role":"user","content":"x"}]})",
       "messages[0].content[0].cache_control.ttl: must be \"5m\" or \"1h\""},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"},"cache_control":{}}]})",
       "tools[0].cache_control.type: must be \"ephemeral\""},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":"gr-1"})", "guardrailConfig: must be an object"},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailVersion":"1"}})",
       "guardrailConfig.guardrailIdentifier: is required"},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"g"}})",
       "guardrailConfig.guardrailVersion: is required"},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":1}})",
       "guardrailConfig.guardrailVersion: must be a non-empty string"},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1","trace":true}})",
       "guardrailConfig.trace: must be \"enabled\", \"disabled\" or \"enabled_full\""},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1","mode":"x"}})",
       "guardrailConfig.mode: unknown field"},
      {R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1","streamProcessingMode":"later"}})",
       "guardrailConfig.streamProcessingMode: must be \"sync\" or \"async\""},
  };
  for (const auto& [body, want] : cases) {
    Harness run(body);
    ASSERT_FALSE(run.up.ok()) << body;
    EXPECT_EQ(run.up.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_NE(std::string(run.up.status().message()).find(want), std::string::npos)
        << "got: " << run.up.status().message() << "\nwant: " << want;
  }
}

TEST(OpenAIToBedrockRequestTest, GuardrailConfigPassesThrough) {
  Harness buffered(
      R"({"messages":[{"role":"user","content":"x"}],"guardrailConfig":{"guardrailIdentifier":"arn:aws:bedrock:us-east-1:1:guardrail/g","guardrailVersion":"3","streamProcessingMode":"sync"}})");
  ASSERT_TRUE(buffered.up.ok()) << buffered.up.status();
  // Converse (unstreamed) has no streamProcessingMode; it is dropped there.
  EXPECT_NE(buffered.up->body->find(
                R"("guardrailConfig":{"guardrailIdentifier":"arn:aws:bedrock:us-east-1:1:guardrail/g","guardrailVersion":"3"})"),
            std::string::npos)
      << *buffered.up->body;
  Harness none(R"({"messages":[{"role":"user","content":"x"}]})");
  ASSERT_TRUE(none.up.ok());
  EXPECT_EQ(none.up->body->find("guardrail"), std::string::npos);
}

TEST(OpenAIToBedrockResponseTest, GuardrailInterventionIsContentFilter) {
  Harness run(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
  absl::Status st;
  std::string out = Buffered(
      run,
      R"({"output":{"message":{"role":"assistant","content":[{"text":"Sorry, the model cannot answer this question."}]}},)"
      R"("stopReason":"guardrail_intervened","usage":{"inputTokens":5,"outputTokens":9,"totalTokens":14}})",
      &st);
  ASSERT_TRUE(st.ok()) << st;
  auto doc = json::Parse(out);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("choices")->items()[0].GetString("finish_reason"), "content_filter");

  Harness filtered(R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})");
  out = Buffered(filtered, golden::MustRead(Dir() + "resp_content_filtered.upstream.json"), &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_NE(out.find(R"("finish_reason":"content_filter")"), std::string::npos) << out;
}

TEST(OpenAIToBedrockStreamTest, GuardrailInterventionIsContentFilter) {
  std::string bytes = EncodeEvents(
      R"([{"event":"messageStart","payload":{"role":"assistant"}},)"
      R"({"event":"contentBlockDelta","payload":{"contentBlockIndex":0,"delta":{"text":"Blocked."}}},)"
      R"({"event":"contentBlockStop","payload":{"contentBlockIndex":0}},)"
      R"({"event":"messageStop","payload":{"stopReason":"guardrail_intervened"}},)"
      R"({"event":"metadata","payload":{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":1}}}])");
  absl::Status st;
  std::string sse = FeedPieces(bytes, {}, false, &st);
  ASSERT_TRUE(st.ok()) << st;
  ExpectWellFormedSse(sse);
  EXPECT_NE(sse.find(R"("finish_reason":"content_filter")"), std::string::npos) << sse;
}

TEST(OpenAIToBedrockEmbeddingsTest, SeveralInputsAreRefusedSayingWhy) {
  Harness run(R"({"model":"titan","input":["a","b","c"]})", "amazon.titan-embed-text-v2:0", false);
  ASSERT_FALSE(run.up.ok());
  EXPECT_EQ(run.up.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run.up.status().message(),
            "input: the AWSBedrock backend (Titan) embeds one input per request; got 3 strings, but Titan text "
            "embeddings take exactly one inputText per InvokeModel call; send one string per request (Cohere "
            "Embed models take up to 96)");
}

}  // namespace gaps
}  // namespace
}  // namespace sluice::translate
