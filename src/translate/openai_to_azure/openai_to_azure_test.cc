#include "translate/openai_to_azure/openai_to_azure.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "gtest/gtest.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/raw_request_test_util.h"
#include "translate/test_backends.h"
#include "yaml/yaml.h"

namespace sluice::translate {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SourceDir() {
  const char* root = std::getenv("SLUICE_SOURCE_DIR");
  return root ? root : ".";
}

config::Backend AzureBackend(std::string version = "2024-12-01-preview") {
  return testing::AzureOpenAIBackend(std::move(version));
}

using Run = testing::RawRun;

// The pipeline skips the DOM for this translator (NeedsDocument() is false): doc is {}.
Run Request(Endpoint e, const config::Backend& b, std::string_view body, std::string_view model,
            std::string_view client_model, bool stream = false, bool want_usage = false) {
  return testing::RawRequest(NewOpenAIToAzureFactory(e), e, b, body, model, client_model, stream, want_usage);
}

constexpr std::string_view kChat = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";

TEST(AzureRequest, DeploymentPathsWithApiVersion) {
  config::Backend b = AzureBackend();
  auto chat = Request(Endpoint::kChatCompletions, b, kChat, "gpt-4o", "gpt-4o");
  ASSERT_TRUE(chat.up.ok());
  EXPECT_EQ(chat.up->path, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-12-01-preview");
  EXPECT_FALSE(chat.up->body.has_value());  // nothing to change: the client's bytes go as they are
  EXPECT_TRUE(chat.up->headers.empty());
  auto emb = Request(Endpoint::kEmbeddings, b, R"({"model":"e","input":"x"})", "e", "e");
  EXPECT_EQ(emb.up->path, "/openai/deployments/e/embeddings?api-version=2024-12-01-preview");
  auto comp = Request(Endpoint::kCompletions, b, R"({"model":"c","prompt":"x"})", "c", "c");
  EXPECT_EQ(comp.up->path, "/openai/deployments/c/completions?api-version=2024-12-01-preview");
  // Deployment names are path segments: anything outside the unreserved set is escaped.
  auto odd = Request(Endpoint::kChatCompletions, b, kChat, "my deploy/1", "gpt-4o");
  EXPECT_EQ(odd.up->path, "/openai/deployments/my%20deploy%2F1/chat/completions?api-version=2024-12-01-preview");
}

TEST(AzureRequest, DefaultApiVersionWhenUnset) {
  auto r = Request(Endpoint::kChatCompletions, AzureBackend(""), kChat, "gpt-4o", "gpt-4o");
  ASSERT_TRUE(r.up.ok());
  EXPECT_EQ(r.up->path, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(kAzureDefaultApiVersion, "2024-10-21");
}

TEST(AzureRequest, ModelOverrideIsSplicedIntoTheRawBody) {
  std::string body = R"({ "messages":[{"role":"user","content":"hi"}], "model" : "gpt-4o", "n":1 })";
  auto r = Request(Endpoint::kChatCompletions, AzureBackend(), body, "prod-\"4o\"", "gpt-4o");
  ASSERT_TRUE(r.up.ok());
  ASSERT_TRUE(r.up->body.has_value());
  EXPECT_EQ(*r.up->body, R"({ "messages":[{"role":"user","content":"hi"}], "model" : "prod-\"4o\"", "n":1 })");
  EXPECT_EQ(r.up->path, "/openai/deployments/prod-%224o%22/chat/completions?api-version=2024-12-01-preview");
  auto bad = Request(Endpoint::kChatCompletions, AzureBackend(), "[1]", "x", "y");
  EXPECT_EQ(bad.up.status().code(), absl::StatusCode::kInvalidArgument);
}

// Usage for the driver (ext_proc with costs): asked of Azure only where its api-version takes
// stream_options (2024-09-01 on); the usage-only chunk is then kept from the client.
TEST(AzureRequest, StreamUsageOnlyWhereTheApiVersionTakesIt) {
  constexpr std::string_view kStream = R"({"model":"gpt-4o","stream":true,"messages":[]})";
  for (const char* version : {"2024-02-01", "2023-05-15", "2024-08-01-preview"}) {
    auto old = Request(Endpoint::kChatCompletions, AzureBackend(version), kStream, "gpt-4o", "gpt-4o", true, true);
    ASSERT_TRUE(old.up.ok());
    EXPECT_FALSE(old.up->body.has_value()) << version;
  }
  // A client's own stream_options would be a 400 there: it goes, the rest stays.
  constexpr std::string_view kAsked =
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})";
  auto asked = Request(Endpoint::kChatCompletions, AzureBackend("2024-06-01"), kAsked, "gpt-4o", "gpt-4o", true);
  ASSERT_TRUE(asked.up.ok());
  ASSERT_TRUE(asked.up->body.has_value());
  EXPECT_EQ(*asked.up->body, R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  auto kept = Request(Endpoint::kChatCompletions, AzureBackend("2024-10-21"), kAsked, "gpt-4o", "gpt-4o", true);
  ASSERT_TRUE(kept.up.ok());
  EXPECT_FALSE(kept.up->body.has_value()) << "a version that takes stream_options gets the client's bytes";

  auto r = Request(Endpoint::kChatCompletions, AzureBackend(""), kStream, "gpt-4o", "gpt-4o", true, true);
  ASSERT_TRUE(r.up.ok());
  ASSERT_TRUE(r.up->body.has_value());
  EXPECT_EQ(*r.up->body, R"({"model":"gpt-4o","stream":true,"messages":[],"stream_options":{"include_usage":true}})");
  std::string out;
  ASSERT_TRUE(r.t->TranslateResponseBody(
                     "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"
                     "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n"
                     "data: [DONE]\n\n",
                     true, &out)
                  .ok());
  EXPECT_EQ(out.find("\"usage\""), std::string::npos) << out;
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(r.t->usage().total_tokens, 4);
}

TEST(AzureResponse, BufferedPassesThroughAndReportsUsage) {
  auto r = Request(Endpoint::kChatCompletions, AzureBackend(), kChat, "gpt-4o", "gpt-4o");
  std::string body =
      R"({"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hi","role":"assistant"}}],)"
      R"("model":"gpt-4o-2024-08-06","prompt_filter_results":[],"usage":{"completion_tokens":5,)"
      R"("completion_tokens_details":{"reasoning_tokens":1},"prompt_tokens":8,"prompt_tokens_details":{"cached_tokens":2},"total_tokens":13}})";
  std::string out;
  ASSERT_TRUE(r.t->TranslateResponseBody(body.substr(0, 10), false, &out).ok());
  ASSERT_TRUE(r.t->TranslateResponseBody(body.substr(10), true, &out).ok());
  EXPECT_EQ(out, body);
  EXPECT_TRUE(r.t->TranslateResponseHeaders(200, http::HeaderMap()).empty());
  const Usage& u = r.t->usage();
  EXPECT_EQ(u.input_tokens, 8);
  EXPECT_EQ(u.output_tokens, 5);
  EXPECT_EQ(u.total_tokens, 13);
  EXPECT_EQ(u.cached_input_tokens, 2);
  EXPECT_EQ(u.reasoning_tokens, 1);
  EXPECT_EQ(r.t->response_model(), "gpt-4o-2024-08-06");
}

// What the client gets for an Azure stream: every event unchanged but Azure's leading
// prompt-filter chunk (object "", no id), whose prompt_filter_results move onto the first
// chat.completion.chunk.
std::string ClientStreamFor(const std::string& stream) {
  size_t first_end = stream.find("\n\n") + 2;
  std::string filter = stream.substr(stream.find("\"prompt_filter_results\":") + 24);
  filter = filter.substr(0, filter.find("}\n\n"));
  size_t second_end = stream.find("\n\n", first_end);
  return stream.substr(first_end, second_end - 1 - first_end) + ",\"prompt_filter_results\":" + filter + "}" +
         stream.substr(second_end);
}

TEST(AzureResponse, StreamPassesThroughAtEveryByteSplit) {
  struct Case {
    const char* file;
    int64_t input, output, cached, total;
    const char* model;
  } cases[] = {
      {"stream_usage.sse", 9, 2, 3, 11, "gpt-4o-mini-2024-07-18"},
      // Two parallel tool calls, index-keyed argument fragments, finish_reason tool_calls.
      {"stream_tools.sse", 85, 51, 0, 136, "gpt-4o-2024-11-20"},
  };
  for (const Case& c : cases) {
    std::string path = SourceDir() + "/src/translate/openai_to_azure/testdata/" + c.file;
    std::string stream = ReadFile(path);
    ASSERT_FALSE(stream.empty()) << path;
    std::string want = ClientStreamFor(stream);
    ASSERT_EQ(want.find("\"object\":\"\""), std::string::npos) << want;
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      auto r = Request(Endpoint::kChatCompletions, AzureBackend(), kChat, "gpt-4o", "gpt-4o", true);
      std::string out;
      ASSERT_TRUE(r.t->TranslateResponseBody(stream.substr(0, cut), false, &out).ok());
      ASSERT_TRUE(r.t->TranslateResponseBody(stream.substr(cut), true, &out).ok());
      ASSERT_EQ(out, want) << c.file << " cut at " << cut;
      ASSERT_EQ(r.t->usage().input_tokens, c.input) << c.file << " cut at " << cut;
      ASSERT_EQ(r.t->usage().output_tokens, c.output);
      ASSERT_EQ(r.t->usage().cached_input_tokens, c.cached);
      ASSERT_EQ(r.t->usage().total_tokens, c.total);
      ASSERT_EQ(r.t->response_model(), c.model);  // not the empty first chunk's
    }
  }
}

TEST(AzureResponse, ErrorsPassThrough) {
  auto r = Request(Endpoint::kChatCompletions, AzureBackend(), kChat, "gpt-4o", "gpt-4o");
  std::string body =
      R"({"error":{"code":"content_filter","message":"filtered","param":"prompt","status":400,)"
      R"("innererror":{"code":"ResponsibleAIPolicyViolation"}}})";
  int status = 0;
  std::string out;
  r.t->TranslateError(400, http::HeaderMap(), body, &status, &out);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(out, body);
  std::string ev = r.t->StreamError("reset");
  http::SseParser p;
  std::vector<http::SseEvent> events;
  ASSERT_TRUE(p.Feed(ev, &events).ok());
  ASSERT_EQ(events.size(), 1u);
  auto v = json::Parse(events[0].data);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->Find("error")->GetString("message"), "reset");
}

TEST(AzureFactory, Identity) {
  auto f = NewOpenAIToAzureFactory(Endpoint::kEmbeddings);
  EXPECT_EQ(f->endpoint(), Endpoint::kEmbeddings);
  EXPECT_EQ(f->from(), Dialect::kOpenAI);
  EXPECT_EQ(f->to(), config::ApiSchema::kAzureOpenAI);
  EXPECT_FALSE(f->NeedsDocument());
}

// Replays the recorded Azure exchange from the shared corpus (read in place, never copied).
TEST(AzureCassette, ChatBasicReplays) {
  std::string path = SourceDir() + "/../shared/corpus/openai-cassettes/azure-chat-basic.yaml";
  std::string text = ReadFile(path);
  if (text.empty()) GTEST_SKIP() << "corpus not found at " << path << "; skipping the Azure cassette replay";
  auto docs = yaml::LoadAll(text);
  ASSERT_TRUE(docs.ok()) << docs.status();
  const yaml::Node* interactions = (*docs)[0].Find("interactions");
  ASSERT_TRUE(interactions && interactions->is_seq() && !interactions->items.empty());
  const yaml::Node& it = interactions->items[0];
  const yaml::Node* req = it.Find("request");
  const yaml::Node* resp = it.Find("response");
  ASSERT_TRUE(req && resp);
  std::string url = req->Find("url")->scalar;
  std::string api_version = req->Find("form")->Find("api-version")->items[0].scalar;
  std::string want_path = url.substr(url.find("/openai/")) + "?api-version=" + api_version;
  std::string deployment = url.substr(url.find("/deployments/") + 13);
  deployment = deployment.substr(0, deployment.find('/'));
  std::string client_body = req->Find("body")->scalar;

  auto r = Request(Endpoint::kChatCompletions, AzureBackend(api_version), client_body, deployment, deployment);
  ASSERT_TRUE(r.up.ok()) << r.up.status();
  EXPECT_EQ(r.up->path, want_path);
  EXPECT_FALSE(r.up->body.has_value());  // the recorded body went upstream unchanged

  std::string answer = resp->Find("body")->scalar;
  std::string out;
  ASSERT_TRUE(r.t->TranslateResponseBody(answer, true, &out).ok());
  EXPECT_EQ(out, answer);
  EXPECT_EQ(r.t->usage().input_tokens, 8);
  EXPECT_EQ(r.t->usage().output_tokens, 271);
  EXPECT_EQ(r.t->usage().total_tokens, 279);
  EXPECT_EQ(r.t->usage().reasoning_tokens, 192);
  EXPECT_EQ(r.t->response_model(), "gpt-5-nano-2025-08-07");
}

}  // namespace
}  // namespace sluice::translate
