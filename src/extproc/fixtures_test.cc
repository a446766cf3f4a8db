// Issue 4: one fixture set, two drivers (three ways through ext_proc). The translator golden fixtures under
// src/translate/<dir>/testdata/ (run directly against each translator by that folder's test)
// are replayed here through the ext_proc path: a resource config whose backend schema matches
// the direction, the ext_proc server over real gRPC, and EnvoySim playing Envoy and the
// upstream. The upstream request and the client bytes must equal the goldens.
//
// Every suite runs twice (value-parameterised): Buffered/ plays Envoy configured as sluice's
// examples are (BUFFERED bodies, mode_override to STREAMED for streamed answers), FullDuplex/
// with request and response bodies FULL_DUPLEX_STREAMED (trailer modes SEND): the request body
// reaches sluice in 3 chunks and goes upstream only as sluice streams it back, the answer
// likewise. Same goldens, same client bytes; differences in framing only: Envoy strips
// content-length from FULL_DUPLEX_STREAMED bodies (content_length is in the dynamic metadata).
//
// Normalised, and only these: `"created":N` in OpenAI-shaped client output (the translator
// tests inject a fixed clock of 1700000000; the gateway stamps the wall clock), and, for Bedrock
// requests, the values of authorization / x-amz-date (SigV4 depends on the time; only their
// presence and the key id are checked). For stream fixtures that end in a translation error,
// the golden's final error event carries the translator's message as-is (the translator test
// appends StreamError(status.message())), while both drivers, ext_proc (processor.cc) and the
// standalone server (standalone/server.cc), prefix it with "upstream stream is malformed: ";
// that prefix is expected here, everything else byte for byte.
//
// FixturesMidStreamError.* replays the stream fixtures that end in a translation error: both
// drivers send the events translated from the failing chunk before its bad event, then the
// error event (processor.cc once replaced the whole chunk with the error; the goldens, and
// standalone/server.cc, keep those events).
//
// Other normalised fields: Gemini's fallback ids without a responseId (NormalizeFallbackIds).
// Skipped fixture kinds: request rejections are table tests, not fixtures; openai_to_anthropic's
// *.vertex.json (GCPAnthropic) goldens are not replayed (the direction's Anthropic goldens are).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "compiler/resources/resources.h"
#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "extproc/server.h"
#include "gateway/runtime.h"
#include "gtest/gtest.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/translator_test_util.h"

namespace sluice::extproc {
namespace {

namespace fs = std::filesystem;
namespace t = testing;
namespace tt = ::sluice::translate::testing;

const fs::path kTranslate = fs::path(__FILE__).parent_path().parent_path() / "translate";
constexpr const char* kChatPath = "/v1/chat/completions";
constexpr const char* kGcpToken = "ya29.fixture-token";

enum class Schema { kAnthropic, kBedrock, kVertex, kOpenAI };

enum class Driver { kBuffered, kFullDuplex };
Driver g_driver = Driver::kBuffered;  // set by DriverTest::SetUp

class DriverTest : public ::testing::TestWithParam<Driver> {
 protected:
  void SetUp() override { g_driver = GetParam(); }
};

std::string DriverName(const ::testing::TestParamInfo<Driver>& i) {
  return i.param == Driver::kBuffered ? "Buffered" : "FullDuplex";
}

#define SLUICE_FIXTURE_SUITE(name)          \
  class name : public DriverTest {};        \
  INSTANTIATE_TEST_SUITE_P(Drivers, name, ::testing::Values(Driver::kBuffered, Driver::kFullDuplex), DriverName)

// Envoy strips content-length from FULL_DUPLEX_STREAMED bodies; otherwise it must match.
void ExpectContentLength(const t::Headers& h, size_t size) {
  if (g_driver == Driver::kFullDuplex) EXPECT_FALSE(t::Get(h, "content-length"));
  else EXPECT_EQ(t::Get(h, "content-length"), std::to_string(size));
}

std::string Quoted(std::string_view s) {
  std::string out;
  json::AppendQuoted(&out, s);  // JSON strings are YAML double-quoted scalars
  return out;
}

// One route: x-ai-eg-model == `model` -> the direction's backend, with an optional override.
std::string Resources(Schema schema, const std::string& model, const std::string& override_model) {
  std::string y = "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata: {name: route}\n"
                  "spec:\n  rules:\n    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: " +
                  Quoted(model) + "}]}]\n      backendRefs: [{name: be" +
                  (override_model.empty() ? "" : ", modelNameOverride: " + Quoted(override_model)) + "}]\n";
  auto backend = [&](const char* schema_name, const char* host) {
    y += std::string("---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIServiceBackend\nmetadata: {name: be}\n"
                     "spec:\n  schema: {name: ") + schema_name +
         "}\n  backendRef: {name: be, kind: Backend, group: gateway.envoyproxy.io}\n"
         "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: {name: be}\n"
         "spec:\n  endpoints: [{fqdn: {hostname: " + host + ", port: 443}}]\n";
  };
  auto policy = [&](const std::string& body) {
    y += "---\napiVersion: aigateway.envoyproxy.io/v1beta1\nkind: BackendSecurityPolicy\nmetadata: {name: creds}\n"
         "spec:\n  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: be}]\n" + body;
  };
  switch (schema) {
    case Schema::kAnthropic:
      backend("Anthropic", "api.anthropic.test");
      policy("  type: AnthropicAPIKey\n  anthropicAPIKey: {secretRef: {name: creds}}\n"
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {apiKey: sk-ant-test}\n");
      break;
    case Schema::kOpenAI:
      backend("OpenAI", "api.openai.test");
      policy("  type: APIKey\n  apiKey: {secretRef: {name: creds}}\n"
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {apiKey: sk-openai-test}\n");
      break;
    case Schema::kBedrock:
      backend("AWSBedrock", "bedrock-runtime.us-east-1.amazonaws.com");
      policy("  type: AWSCredentials\n  awsCredentials:\n    region: us-east-1\n"
             "    credentialsFile: {secretRef: {name: creds}}\n"
             "---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData:\n  credentials: |\n"
             "    [default]\n    aws_access_key_id = AKIDEXAMPLE\n"
             "    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
      break;
    case Schema::kVertex:
      // The resource loader's GCPCredentials takes only a service-account key (minting tokens
      // needs the network); the static token is set on the built config (see Runtime()).
      backend("GCPVertexAI", "us-central1-aiplatform.googleapis.com");
      break;
  }
  return y;
}

std::shared_ptr<const gateway::Runtime> BuildRuntime(Schema schema, const std::string& model,
                                                     const std::string& override_model) {
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  compiler::ParseResources(Resources(schema, model, override_model), "fixtures_test.yaml", &set, &diags);
  auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, {}, &diags));
  for (const auto& d : diags.items) {
    EXPECT_NE(d.severity, compiler::Diagnostic::Severity::kError) << compiler::Format(d);
  }
  if (schema == Schema::kVertex) {
    // A static access token, as filterapi's gcp.accessToken gives it (config::BackendAuth).
    EXPECT_EQ(cfg->backends.size(), 1u);
    for (auto& b : cfg->backends) {
      b.auth.type = config::BackendAuth::Type::kGCP;
      b.auth.gcp_project = "my-project";
      b.auth.gcp_region = "us-central1";
      b.auth.gcp_access_token = kGcpToken;
    }
  }
  auto rt = gateway::Runtime::Build(cfg);
  EXPECT_TRUE(rt.ok()) << rt.status();
  return rt.ok() ? *rt : nullptr;
}

std::string SocketPath() { return test::SocketPath("fixtures-test"); }

// A fresh runtime and ext_proc server per exchange, as the translator tests use a fresh
// factory per fixture (Gemini's fallback ids count per factory).
t::Result Exchange(Schema schema, const std::string& model, const std::string& override_model,
                   const t::HttpMessage& request, std::optional<t::HttpMessage> answer) {
  auto rt = BuildRuntime(schema, model, override_model);
  if (!rt) return {};
  ServerOptions o;
  o.listen = {"unix:" + SocketPath()};
  o.random = [] { return uint64_t{0}; };
  auto server = Server::Start(o, rt);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return {};
  auto channel = grpc::CreateChannel((*server)->addresses()[0], grpc::InsecureChannelCredentials());
  t::FilterConfig cfg;
  t::HttpMessage sent = request;
  if (g_driver == Driver::kFullDuplex) {
    cfg.processing_mode.set_request_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_response_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_request_trailer_mode(t::ProcessingMode::SEND);
    cfg.processing_mode.set_response_trailer_mode(t::ProcessingMode::SEND);
    // The client's body in 3 pieces, as Envoy would pass on what arrives.
    std::string body = request.Body();
    sent.body.clear();
    size_t step = (body.size() + 2) / 3;
    for (size_t i = 0; i < body.size(); i += step) sent.body.push_back(body.substr(i, step));
  }
  t::EnvoySim envoy(channel, cfg);
  t::Result r = envoy.Run(sent, [&](const t::HttpMessage&) { return answer; });
  (*server)->Shutdown(std::chrono::milliseconds(1000));
  EXPECT_TRUE(r.status.ok()) << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(r.rejected_mutations, 0) << t::Describe(r);
  if (g_driver == Driver::kFullDuplex && r.forwarded) {
    EXPECT_TRUE(r.request_body_full_duplex) << t::Describe(r);
    // Exactly one reply per direction carries end_of_stream (EnvoySim checks it is the last).
    EXPECT_EQ(std::count(r.sent.begin(), r.sent.end(), "request_body"), 3) << t::Describe(r);
  }
  return r;
}

std::string ModelOf(std::string_view body) {
  auto doc = json::Parse(body);
  EXPECT_TRUE(doc.ok()) << body;
  return doc.ok() ? std::string(doc->GetString("model")) : "";
}

std::string NormalizeCreated(const std::string& s) {
  static const std::regex kCreated("\"created\": ?[0-9]+");
  return std::regex_replace(s, kCreated, "\"created\":0");
}

// The golden's final error event as the drivers send it: message prefixed as in
// processor.cc / standalone/server.cc.
// A provider's own error (Bedrock's exception events) is prefixed "upstream error: " instead.
std::string AsDriversWrapStreamErrors(std::string golden,
                                      std::string_view prefix = "upstream stream is malformed: ") {
  const std::string key = "\"message\":\"";
  size_t at = golden.rfind(key);
  EXPECT_NE(at, std::string::npos) << golden;
  if (at != std::string::npos) golden.insert(at + key.size(), prefix);
  return golden;
}

// Upstream body vs a DescribeUpstream-style golden body: the exact bytes the translator sends
// are the golden's JSON serialized compactly (or the client's body when unchanged).
void ExpectUpstreamBody(const t::Result& r, const json::Value& golden_body, const std::string& client_body) {
  std::string sent = r.upstream_request.Body();
  if (golden_body.is_string() && golden_body.as_string() == "<client body unchanged>") {
    EXPECT_EQ(sent, client_body);
    return;
  }
  auto parsed = json::Parse(sent);
  ASSERT_TRUE(parsed.ok()) << sent;
  EXPECT_EQ(tt::Pretty(*parsed), tt::Pretty(golden_body));
  EXPECT_EQ(sent, json::Serialize(golden_body)) << "upstream bytes";
  ExpectContentLength(r.upstream_request.headers, sent.size());
}

// DescribeUpstream goldens: {path, headers (set), remove_headers?, body}.
void ExpectDescribedUpstream(const t::Result& r, const fs::path& golden_file, const std::string& client_body) {
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  auto golden = json::Parse(tt::ReadFile(golden_file));
  ASSERT_TRUE(golden.ok()) << golden_file;
  const t::Headers& up = r.upstream_request.headers;
  EXPECT_EQ(t::Get(up, ":path"), golden->GetString("path"));
  for (const auto& [name, value] : golden->Find("headers")->members()) {
    EXPECT_EQ(t::Get(up, name), value.as_string()) << name;
  }
  if (const json::Value* rm = golden->Find("remove_headers")) {
    for (const auto& name : rm->items()) EXPECT_FALSE(t::Get(up, name.as_string())) << name.as_string();
  }
  ExpectUpstreamBody(r, *golden->Find("body"), client_body);
}

const std::vector<size_t> kStreamChunks = {1, 3, 16};

struct Answer {
  int status = 200;
  std::string content_type;
  std::string body;
  t::Headers extra;
};

// A buffered answer: Envoy buffers it (delivered in 3 pieces); the client gets one body with
// a matching content-length. Returns the client body.
std::string Buffered(Schema schema, const std::string& path, const std::string& request,
                     const std::string& override_model, const Answer& a) {
  t::Result r = Exchange(schema, ModelOf(request), override_model, t::Request("POST", path, request),
                         t::Response(a.status, a.content_type, a.body, 3, a.extra));
  EXPECT_TRUE(r.answered) << t::Describe(r);
  EXPECT_EQ(r.response_body_streamed, g_driver == Driver::kFullDuplex);
  EXPECT_EQ(r.response_body_full_duplex, g_driver == Driver::kFullDuplex);
  std::string got = r.client_response.Body();
  EXPECT_EQ(t::Get(r.client_response.headers, ":status"), "200");
  ExpectContentLength(r.client_response.headers, got.size());
  return got;
}

// A streamed answer split into `chunks`; the server switches the body to STREAMED (mode
// override, which EnvoySim honours). Returns the concatenated client body.
std::string Streamed(Schema schema, const std::string& path, const std::string& request,
                     const std::string& override_model, const Answer& a, size_t chunks) {
  t::HttpMessage answer = t::Response(a.status, a.content_type, a.body, chunks, a.extra);
  t::Result r = Exchange(schema, ModelOf(request), override_model, t::Request("POST", path, request), answer);
  EXPECT_TRUE(r.answered) << t::Describe(r);
  EXPECT_TRUE(r.response_body_streamed) << "mode_override to STREAMED honoured";
  EXPECT_EQ(r.response_body_full_duplex, g_driver == Driver::kFullDuplex);
  EXPECT_EQ(std::count(r.sent.begin(), r.sent.end(), "response_body"), static_cast<long>(answer.body.size()));
  if (g_driver == Driver::kFullDuplex) {
    // Replies follow the translated bytes, not the chunks: never more than one per chunk here
    // (no chunk's translation is near 62,000 bytes), the last one with end_of_stream.
    EXPECT_LE(std::count(r.replies.begin(), r.replies.end(), "response_body"),
              static_cast<long>(answer.body.size()));
  }
  EXPECT_FALSE(t::Get(r.client_response.headers, "content-length"));
  return r.client_response.Body();
}

// ============================================================ openai_to_anthropic

const fs::path kO2A = kTranslate / "openai_to_anthropic" / "testdata";

SLUICE_FIXTURE_SUITE(FixturesOpenAIToAnthropic);

TEST_P(FixturesOpenAIToAnthropic, Requests) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2A, ".openai.json")) {
    std::string stem = tt::Stem(in, ".openai.json");
    if (stem.rfind("req_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string body = tt::ReadFile(in);
    t::Result r = Exchange(Schema::kAnthropic, ModelOf(body), "",
                           t::Request("POST", kChatPath, body, {{"authorization", "Bearer sk-client"}}), std::nullopt);
    ExpectDescribedUpstream(r, kO2A / (stem + ".anthropic.json"), body);
    EXPECT_EQ(t::Get(r.upstream_request.headers, "x-api-key"), "sk-ant-test");
    EXPECT_FALSE(t::Get(r.upstream_request.headers, "authorization"));
  }
  EXPECT_GE(n, 8);
}

std::string O2ARequest(const std::string& stem, bool stream) {
  fs::path f = kO2A / (stem + ".request.json");
  if (fs::exists(f)) return tt::ReadFile(f);
  return stream ? R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})"
                : R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})";
}

TEST_P(FixturesOpenAIToAnthropic, Responses) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2A, ".anthropic.json")) {
    std::string stem = tt::Stem(in, ".anthropic.json");
    if (stem.rfind("resp_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string got = Buffered(Schema::kAnthropic, kChatPath, O2ARequest(stem, false), "",
                               {200, "application/json", tt::ReadFile(in), {}});
    EXPECT_EQ(NormalizeCreated(tt::PrettyText(got)), NormalizeCreated(tt::ReadFile(kO2A / (stem + ".openai.json"))));
  }
  EXPECT_GE(n, 5);
}

int O2AStreams(bool errors) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2A, ".anthropic.sse")) {
    std::string stem = tt::Stem(in, ".anthropic.sse");
    if ((stem.rfind("stream_bad_", 0) == 0) != errors) continue;
    ++n;
    std::string want = tt::ReadFile(kO2A / (stem + ".openai.sse"));
    if (stem.rfind("stream_bad_", 0) == 0) want = AsDriversWrapStreamErrors(want);
    for (size_t chunks : kStreamChunks) {
      SCOPED_TRACE(stem + " in " + std::to_string(chunks) + " chunks");
      std::string got = Streamed(Schema::kAnthropic, kChatPath, O2ARequest(stem, true), "",
                                 {200, "text/event-stream; charset=utf-8", tt::ReadFile(in), {}}, chunks);
      EXPECT_EQ(NormalizeCreated(got), NormalizeCreated(want));
    }
  }
  return n;
}

TEST_P(FixturesOpenAIToAnthropic, Streams) { EXPECT_GE(O2AStreams(false), 6); }
SLUICE_FIXTURE_SUITE(FixturesMidStreamError);

TEST_P(FixturesMidStreamError, OpenAIToAnthropic) { EXPECT_EQ(O2AStreams(true), 3); }

// ============================================================ openai_to_bedrock

const fs::path kO2B = kTranslate / "openai_to_bedrock" / "testdata";
constexpr const char* kClaude = "anthropic.claude-3-5-sonnet-20240620-v1:0";

void ExpectSigned(const t::Result& r) {
  auto auth = t::Get(r.upstream_request.headers, "authorization");
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0), 0u) << *auth;
  EXPECT_TRUE(t::Get(r.upstream_request.headers, "x-amz-date"));
}

SLUICE_FIXTURE_SUITE(FixturesOpenAIToBedrock);

TEST_P(FixturesOpenAIToBedrock, Requests) {
  // The model each golden was translated for (openai_to_bedrock_test.cc), as a route override.
  const std::pair<const char*, const char*> cases[] = {
      {"req_text", kClaude},           {"req_images", kClaude},
      {"req_tools", kClaude},          {"req_tool_results", kClaude},
      {"req_tool_choice_none", kClaude}, {"req_tool_history_no_tools", kClaude},
      {"req_reasoning_claude", kClaude}, {"req_reasoning_nova", "us.amazon.nova-2-lite-v1:0"},
      {"req_thinking", kClaude},
      // testdata/extensions/: prompt caching, documents, guardrails, reasoning history.
      {"extensions/req_cache_points", kClaude}, {"extensions/req_documents", kClaude},
      {"extensions/req_guardrail", kClaude},    {"extensions/req_thinking_history", kClaude},
  };
  EXPECT_EQ(tt::FilesEndingWith(kO2B, ".client.json").size() - 5 +
                tt::FilesEndingWith(kO2B / "extensions", ".client.json").size(),
            std::size(cases))
      << "a req_ fixture is not listed";
  for (const auto& [name, model] : cases) {
    SCOPED_TRACE(name);
    std::string body = tt::ReadFile(kO2B / (std::string(name) + ".client.json"));
    t::Result r = Exchange(Schema::kBedrock, ModelOf(body), model, t::Request("POST", kChatPath, body), std::nullopt);
    ASSERT_TRUE(r.forwarded) << t::Describe(r);
    std::string path(t::Get(r.upstream_request.headers, ":path").value_or(""));
    EXPECT_EQ(path + "\n" + r.upstream_request.Body() + "\n", tt::ReadFile(kO2B / (std::string(name) + ".upstream.json")));
    ExpectContentLength(r.upstream_request.headers, r.upstream_request.Body().size());
    ExpectSigned(r);
  }
}

TEST_P(FixturesOpenAIToBedrock, Responses) {
  const std::string request = R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})";
  for (const char* name : {"resp_text", "resp_tools", "resp_text_and_tool", "resp_length_cached",
                           "resp_content_filtered"}) {
    SCOPED_TRACE(name);
    std::string got = Buffered(Schema::kBedrock, kChatPath, request, kClaude,
                               {200, "application/json", tt::ReadFile(kO2B / (std::string(name) + ".upstream.json")),
                                {{"x-amzn-requestid", "req-1"}}});
    EXPECT_EQ(NormalizeCreated(got + "\n"), NormalizeCreated(tt::ReadFile(kO2B / (std::string(name) + ".client.json"))));
  }
}

// As openai_to_bedrock_test.cc's EncodeEvents: ConverseStream's event-stream frames.
std::string EncodeEvents(std::string_view fixture) {
  auto doc = json::Parse(fixture);
  EXPECT_TRUE(doc.ok()) << doc.status();
  std::string out;
  if (!doc.ok()) return out;
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

int O2BStreams(bool errors) {
  struct Case {
    const char* name;
    bool include_usage;
    bool ok;
  };
  const Case cases[] = {
      {"stream_text", true, true},     {"stream_tools", false, true}, {"stream_reasoning", true, true},
      {"stream_exception", true, false}, {"stream_no_message_start", false, true},
  };
  EXPECT_EQ(tt::FilesEndingWith(kO2B, ".events.json").size(), std::size(cases));
  int n = 0;
  for (const Case& c : cases) {
    if (c.ok == errors) continue;
    ++n;
    std::string request = std::string(R"({"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}],)") +
                          R"("stream_options":{"include_usage":)" + (c.include_usage ? "true" : "false") + "}}";
    std::string events = EncodeEvents(tt::ReadFile(kO2B / (std::string(c.name) + ".events.json")));
    std::string want = tt::ReadFile(kO2B / (std::string(c.name) + ".client.sse"));
    if (!c.ok) want = AsDriversWrapStreamErrors(want, "upstream error: ");  // exception events
    for (size_t chunks : kStreamChunks) {
      SCOPED_TRACE(std::string(c.name) + " in " + std::to_string(chunks) + " chunks");
      std::string got = Streamed(Schema::kBedrock, kChatPath, request, kClaude,
                                 {200, "application/vnd.amazon.eventstream", events, {{"x-amzn-requestid", "req-1"}}},
                                 chunks);
      EXPECT_EQ(NormalizeCreated(got), NormalizeCreated(want));
    }
  }
  return n;
}

TEST_P(FixturesOpenAIToBedrock, Streams) { EXPECT_EQ(O2BStreams(false), 4); }
TEST_P(FixturesMidStreamError, OpenAIToBedrock) { EXPECT_EQ(O2BStreams(true), 1); }

// ============================================================ openai_to_gemini

const fs::path kO2G = kTranslate / "openai_to_gemini" / "testdata";

// Without a responseId, the Gemini translator makes ids from a sequence ("chatcmpl-<n>",
// "call_<i>_<n>") that counts across requests; the translator test starts it at 1 with a fresh
// factory, the gateway's built-in factory has served other requests. Only <n> is normalised.
std::string NormalizeFallbackIds(const std::string& s) {
  static const std::regex kChat("\"chatcmpl-[0-9]+\"");
  static const std::regex kCall("\"call_([0-9]+)_[0-9]+\"");
  return std::regex_replace(std::regex_replace(s, kChat, "\"chatcmpl-N\""), kCall, "\"call_$1_N\"");
}

bool Embeddings(const std::string& name) { return name.rfind("embeddings", 0) == 0; }

SLUICE_FIXTURE_SUITE(FixturesOpenAIToGemini);

TEST_P(FixturesOpenAIToGemini, Requests) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2G / "requests", ".client.json")) {
    std::string name = tt::Stem(in, ".client.json");
    SCOPED_TRACE(name);
    ++n;
    std::string body = tt::ReadFile(in);
    t::Result r = Exchange(Schema::kVertex, ModelOf(body), "",
                           t::Request("POST", Embeddings(name) ? "/v1/embeddings" : kChatPath, body), std::nullopt);
    ASSERT_TRUE(r.forwarded) << t::Describe(r);
    auto golden = json::Parse(tt::ReadFile(kO2G / "requests" / (name + ".upstream.json")));
    ASSERT_TRUE(golden.ok());
    EXPECT_EQ(t::Get(r.upstream_request.headers, ":path"), golden->GetString("path"));
    EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), std::string("Bearer ") + kGcpToken);
    ExpectUpstreamBody(r, *golden->Find("body"), body);
  }
  EXPECT_GE(n, 8);
}

TEST_P(FixturesOpenAIToGemini, Responses) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2G / "responses", ".upstream.json")) {
    std::string name = tt::Stem(in, ".upstream.json");
    SCOPED_TRACE(name);
    ++n;
    bool emb = Embeddings(name);
    // *embed_content*: an answer of :embedContent, which a newer Gemini embedding model gets.
    std::string request = !emb ? R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]})"
                          : name.find("embed_content") != std::string::npos
                              ? R"({"model":"gemini-embedding-2-preview","input":"a"})"
                              : R"({"model":"text-embedding-005","input":["a","b"]})";
    std::string got = Buffered(Schema::kVertex, emb ? "/v1/embeddings" : kChatPath, request, "",
                               {200, "application/json", tt::ReadFile(in), {}});
    EXPECT_EQ(NormalizeFallbackIds(NormalizeCreated(tt::PrettyText(got))),
              NormalizeFallbackIds(NormalizeCreated(tt::ReadFile(kO2G / "responses" / (name + ".client.json")))));
  }
  EXPECT_GE(n, 7);
}

TEST_P(FixturesOpenAIToGemini, Streams) {
  const std::string request =
      R"({"model":"gemini-2.5-flash","stream":true,"stream_options":{"include_usage":true},)"
      R"("messages":[{"role":"user","content":"hi"}]})";
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kO2G / "streams", ".upstream.sse")) {
    std::string name = tt::Stem(in, ".upstream.sse");
    ++n;
    std::string want = tt::ReadFile(kO2G / "streams" / (name + ".client.sse"));
    for (size_t chunks : kStreamChunks) {
      SCOPED_TRACE(name + " in " + std::to_string(chunks) + " chunks");
      std::string got = Streamed(Schema::kVertex, kChatPath, request, "",
                                 {200, "text/event-stream", tt::ReadFile(in), {}}, chunks);
      EXPECT_EQ(NormalizeFallbackIds(NormalizeCreated(got)), NormalizeFallbackIds(NormalizeCreated(want)));
    }
  }
  EXPECT_GE(n, 7);
}

// ============================================================ anthropic_to_openai

const fs::path kA2O = kTranslate / "anthropic_to_openai" / "testdata";
constexpr const char* kMessagesPath = "/v1/messages";

SLUICE_FIXTURE_SUITE(FixturesAnthropicToOpenAI);

TEST_P(FixturesAnthropicToOpenAI, Requests) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kA2O, ".anthropic.json")) {
    std::string stem = tt::Stem(in, ".anthropic.json");
    if (stem.rfind("req_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string body = tt::ReadFile(in);
    t::Result r = Exchange(Schema::kOpenAI, ModelOf(body), "",
                           t::Request("POST", kMessagesPath, body,
                                      {{"x-api-key", "sk-client"}, {"anthropic-version", "2023-06-01"},
                                       {"anthropic-beta", "tools-2024-04-04"}}),
                           std::nullopt);
    ExpectDescribedUpstream(r, kA2O / (stem + ".openai.json"), body);
    EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-openai-test");
    EXPECT_FALSE(t::Get(r.upstream_request.headers, "x-api-key"));
  }
  EXPECT_GE(n, 4);
}

std::string A2ORequest(bool stream) {
  return std::string(R"({"model":"gpt-4o","max_tokens":10,"stream":)") + (stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"hi"}]})";
}

TEST_P(FixturesAnthropicToOpenAI, Responses) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kA2O, ".openai.json")) {
    std::string stem = tt::Stem(in, ".openai.json");
    if (stem.rfind("resp_", 0) != 0) continue;
    SCOPED_TRACE(stem);
    ++n;
    std::string got = Buffered(Schema::kOpenAI, kMessagesPath, A2ORequest(false), "",
                               {200, "application/json", tt::ReadFile(in), {}});
    EXPECT_EQ(tt::PrettyText(got), tt::ReadFile(kA2O / (stem + ".anthropic.json")));
  }
  EXPECT_GE(n, 4);
}

int A2OStreams(bool errors) {
  int n = 0;
  for (const auto& in : tt::FilesEndingWith(kA2O, ".openai.sse")) {
    std::string stem = tt::Stem(in, ".openai.sse");
    if ((stem.rfind("stream_bad_", 0) == 0) != errors) continue;
    ++n;
    std::string want = tt::ReadFile(kA2O / (stem + ".anthropic.sse"));
    if (stem.rfind("stream_bad_", 0) == 0) want = AsDriversWrapStreamErrors(want);
    for (size_t chunks : kStreamChunks) {
      SCOPED_TRACE(stem + " in " + std::to_string(chunks) + " chunks");
      std::string got = Streamed(Schema::kOpenAI, kMessagesPath, A2ORequest(true), "",
                                 {200, "text/event-stream; charset=utf-8", tt::ReadFile(in), {}}, chunks);
      EXPECT_EQ(got, want);
    }
  }
  return n;
}

TEST_P(FixturesAnthropicToOpenAI, Streams) { EXPECT_GE(A2OStreams(false), 6); }
TEST_P(FixturesMidStreamError, AnthropicToOpenAI) { EXPECT_EQ(A2OStreams(true), 3); }

}  // namespace
}  // namespace sluice::extproc
