// The ext_proc server over real gRPC (a Unix socket, or loopback TCP), driven by EnvoySim,
// which sends what Envoy's ext_proc filter sends and checks each reply against the protocol
// rules: one reply per message, of the matching kind; content-length consistent with a
// replaced body; clear_route_cache only with a header mutation; pseudo-headers never removed.
#include "extproc/server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include <atomic>
#include <optional>
#include <thread>

#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "extproc/processor.h"
#include "gtest/gtest.h"
#include "http/eventstream.h"
#include "json/json.h"

namespace sluice::extproc {
namespace {

namespace t = testing;
using test::Chat;
using test::LoadRuntime;
using test::Metadata;
using test::NormalizeCreated;
using test::ReadTestdata;
using test::ReferenceAnswer;

constexpr const char* kChatPath = "/v1/chat/completions";

std::string SocketPath() { return test::SocketPath("extproc-test"); }

// Every message got exactly one reply, of its own kind or an immediate_response.
void ExpectOneReplyPerMessage(const t::Result& r) {
  ASSERT_EQ(r.sent.size(), r.replies.size()) << t::Describe(r);
  for (size_t i = 0; i < r.sent.size(); ++i) {
    EXPECT_TRUE(r.replies[i] == r.sent[i] || r.replies[i] == "immediate_response")
        << "message " << i << " (" << r.sent[i] << ") answered with " << r.replies[i];
  }
}

void ExpectClean(const t::Result& r) {
  EXPECT_TRUE(r.status.ok()) << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(r.rejected_mutations, 0) << t::Describe(r);
  ExpectOneReplyPerMessage(r);
}

// A raw gRPC call with byte payloads (for garbage and the health service).
struct RawResult {
  grpc::Status status;
  std::vector<std::string> replies;
};
RawResult RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  const std::vector<std::string>& messages) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&ctx, method, &cq);
  auto wait = [&cq] {
    void* tag;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    return ok;
  };
  RawResult out;
  call->StartCall(reinterpret_cast<void*>(1));
  bool ok = wait();
  for (size_t i = 0; ok && i < messages.size(); ++i) {
    grpc::Slice s(messages[i]);
    grpc::ByteBuffer bb(&s, 1);
    call->Write(bb, reinterpret_cast<void*>(2));
    ok = wait();
  }
  if (ok) {
    call->WritesDone(reinterpret_cast<void*>(3));
    wait();
  }
  while (true) {
    grpc::ByteBuffer bb;
    call->Read(&bb, reinterpret_cast<void*>(4));
    if (!wait()) break;
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(bb.Dump(&slices).ok());
    std::string s;
    for (const auto& sl : slices) s.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    out.replies.push_back(std::move(s));
  }
  call->Finish(&out.status, reinterpret_cast<void*>(5));
  wait();
  cq.Shutdown();
  void* tag;
  bool ignored;
  while (cq.Next(&tag, &ignored)) {
  }
  return out;
}

class ExtprocServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions{}); }

  void StartServer(ServerOptions o) {
    if (o.listen.empty()) o.listen = {"unix:" + SocketPath()};
    o.random = [] { return uint64_t{0}; };
    auto s = Server::Start(o, runtime_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    channel_ = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(1000));
  }

  t::Result Run(const t::HttpMessage& request, std::optional<t::HttpMessage> answer,
                t::FilterConfig cfg = t::FilterConfig()) {
    t::EnvoySim envoy(channel_, cfg);
    return envoy.Run(request, [&](const t::HttpMessage& up) -> std::optional<t::HttpMessage> {
      upstream_seen_ = up;
      return answer;
    });
  }

  std::unique_ptr<pb::ExternalProcessor::Stub> Stub() { return pb::ExternalProcessor::NewStub(channel_); }

  std::shared_ptr<const gateway::Runtime> runtime_ = LoadRuntime();
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  t::HttpMessage upstream_seen_;
};

TEST_F(ExtprocServerTest, OpenAIPassThroughBuffered) {
  std::string body = Chat("gpt-test");
  std::string answer =
      R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})";
  t::Result r = Run(t::Request("POST", kChatPath, body,
                               {{"authorization", "Bearer client-secret"}, {"x-api-key", "client-key"}}),
                    t::Response(200, "application/json", answer));
  ExpectClean(r);
  EXPECT_EQ(r.sent, (std::vector<std::string>{"request_headers", "request_body", "response_headers", "response_body"}));
  ASSERT_TRUE(r.forwarded);
  const t::Headers& up = r.upstream_request.headers;
  EXPECT_EQ(t::Get(up, ":method"), "POST");
  EXPECT_EQ(t::Get(up, ":path"), "/v1/chat/completions");
  EXPECT_EQ(t::Get(up, ":authority"), "api.openai.test");
  EXPECT_EQ(t::Get(up, ":scheme"), "http") << "pseudo-headers stay";
  EXPECT_EQ(t::Get(up, "x-ai-eg-model"), "gpt-test");
  EXPECT_EQ(t::Get(up, kSelectedBackendHeader), "default/openai");
  EXPECT_EQ(t::Get(up, "authorization"), "Bearer sk-openai-test") << "the backend's key replaces the client's";
  EXPECT_FALSE(t::Get(up, "x-api-key")) << "client credentials are removed";
  EXPECT_EQ(t::Get(up, "x-request-id"), "0d7a2a9c-sim");
  std::string sent_body = r.upstream_request.Body();
  EXPECT_EQ(t::Get(up, "content-length"), std::to_string(sent_body.size()));
  EXPECT_TRUE(r.route_cache_cleared);
  EXPECT_EQ(Metadata(r, "backend_name"), "default/openai");
  EXPECT_EQ(Metadata(r, "model_name_override"), "gpt-test");
  EXPECT_EQ(Metadata(r, "content_length"), std::to_string(sent_body.size()));

  ASSERT_TRUE(r.answered);
  EXPECT_FALSE(r.response_body_streamed);
  EXPECT_EQ(r.client_response.Body(), answer);
  EXPECT_EQ(t::Get(r.client_response.headers, ":status"), "200");
  EXPECT_EQ(t::Get(r.client_response.headers, "content-length"), std::to_string(answer.size()));
}

TEST_F(ExtprocServerTest, ModelOverrideReplacesTheBodyWithAMatchingContentLength) {
  t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-alias")), std::nullopt);
  ExpectClean(r);
  ASSERT_TRUE(r.forwarded);
  std::string sent = r.upstream_request.Body();
  auto doc = json::Parse(sent);
  ASSERT_TRUE(doc.ok()) << sent;
  EXPECT_EQ(doc->GetString("model"), "gpt-4o-real");
  EXPECT_EQ(t::Get(r.upstream_request.headers, "content-length"), std::to_string(sent.size()));
  EXPECT_EQ(t::Get(r.upstream_request.headers, "x-ai-eg-model"), "gpt-alias") << "routing uses the client's model";
  EXPECT_EQ(Metadata(r, "model_name_override"), "gpt-4o-real");
}

TEST_F(ExtprocServerTest, AnthropicTranslatedBothWays) {
  std::string body = Chat("claude-test");
  std::string answer = ReadTestdata("src/translate/openai_to_anthropic/testdata/resp_text.anthropic.json");
  t::Result r = Run(t::Request("POST", kChatPath, body, {{"authorization", "Bearer client-secret"}}),
                    t::Response(200, "application/json", answer));
  ExpectClean(r);
  const t::Headers& up = r.upstream_request.headers;
  EXPECT_EQ(t::Get(up, ":path"), "/v1/messages");
  EXPECT_EQ(t::Get(up, ":authority"), "api.anthropic.test");
  EXPECT_EQ(t::Get(up, "x-api-key"), "sk-ant-test");
  EXPECT_EQ(t::Get(up, "anthropic-version"), "2023-06-01");
  EXPECT_FALSE(t::Get(up, "authorization"));
  EXPECT_EQ(t::Get(up, kSelectedBackendHeader), "default/claude");
  std::string sent = r.upstream_request.Body();
  EXPECT_EQ(t::Get(up, "content-length"), std::to_string(sent.size()));
  auto doc = json::Parse(sent);
  ASSERT_TRUE(doc.ok()) << sent;
  EXPECT_NE(doc->Find("max_tokens"), nullptr) << sent;

  ASSERT_TRUE(r.answered);
  std::string got = r.client_response.Body();
  EXPECT_EQ(t::Get(r.client_response.headers, "content-length"), std::to_string(got.size()));
  EXPECT_NE(got.find("\"object\":\"chat.completion\""), std::string::npos) << got;
  EXPECT_EQ(NormalizeCreated(got),
            NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "application/json", answer)));
}

TEST_F(ExtprocServerTest, StreamedAnswerSwitchesToStreamedBodyAndTranslatesEveryChunk) {
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  std::string want = NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse));
  for (size_t chunks : {1u, 3u, 17u, 64u}) {
    SCOPED_TRACE(chunks);
    t::HttpMessage answer = t::Response(200, "text/event-stream", sse, chunks);
    t::Result r = Run(t::Request("POST", kChatPath, body), answer);
    ExpectClean(r);
    EXPECT_TRUE(r.response_body_streamed) << "mode_override to STREAMED honoured";
    size_t body_messages = std::count(r.sent.begin(), r.sent.end(), "response_body");
    EXPECT_EQ(body_messages, answer.body.size()) << "one message per chunk";
    EXPECT_FALSE(t::Get(r.client_response.headers, "content-length"));
    EXPECT_EQ(NormalizeCreated(r.client_response.Body()), want);
  }
}

TEST_F(ExtprocServerTest, StreamedAnswerStaysCorrectWhenEnvoyRefusesTheModeOverride) {
  t::FilterConfig cfg;
  cfg.allow_mode_override = false;
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::Result r = Run(t::Request("POST", kChatPath, body), t::Response(200, "text/event-stream", sse, 5), cfg);
  ExpectClean(r);
  EXPECT_FALSE(r.response_body_streamed);
  EXPECT_EQ(std::count(r.sent.begin(), r.sent.end(), "response_body"), 1) << "BUFFERED: one message";
  EXPECT_EQ(NormalizeCreated(r.client_response.Body()),
            NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse)));
}

// ConverseStream's binary event-stream frames for a fixture ({"event": name, "payload": {...}}
// per element), encoded as the Bedrock translator's own tests do.
std::string EncodeBedrockEvents(const std::string& fixture) {
  auto doc = json::Parse(fixture);
  EXPECT_TRUE(doc.ok());
  std::string out;
  if (!doc.ok()) return out;
  for (const json::Value& e : doc->items()) {
    out += http::EncodeEventStreamMessage(
        {http::EventStreamHeader::String(":event-type", std::string(e.GetString("event"))),
         http::EventStreamHeader::String(":content-type", "application/json"),
         http::EventStreamHeader::String(":message-type", "event")},
        json::Serialize(*e.Find("payload")));
  }
  return out;
}

TEST_F(ExtprocServerTest, BedrockEventStreamIsSignedAndStreamedAsSse) {
  std::string body = Chat("bedrock-test", true);
  std::string events = EncodeBedrockEvents(ReadTestdata("src/translate/openai_to_bedrock/testdata/stream_text.events.json"));
  ASSERT_FALSE(events.empty());
  const std::string kEventStream = "application/vnd.amazon.eventstream";
  std::string want = NormalizeCreated(
      ReferenceAnswer(runtime_, kChatPath, body, 200, kEventStream, events, {{"x-amzn-requestid", "req-1"}}));
  ASSERT_NE(want.find("data: "), std::string::npos);
  for (size_t chunks : {1u, 4u, 33u}) {
    SCOPED_TRACE(chunks);
    t::Result r = Run(t::Request("POST", kChatPath, body),
                      t::Response(200, kEventStream, events, chunks, {{"x-amzn-requestid", "req-1"}}));
    ExpectClean(r);
    const t::Headers& up = r.upstream_request.headers;
    EXPECT_EQ(t::Get(up, ":authority"), "bedrock-runtime.us-east-1.amazonaws.com");
    EXPECT_EQ(t::Get(up, ":path"), "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
    auto auth = t::Get(up, "authorization");
    ASSERT_TRUE(auth);
    EXPECT_EQ(auth->rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0), 0u) << *auth;
    EXPECT_TRUE(t::Get(up, "x-amz-date"));
    EXPECT_EQ(t::Get(up, "content-length"), std::to_string(r.upstream_request.Body().size()));

    EXPECT_TRUE(r.response_body_streamed);
    EXPECT_EQ(t::Get(r.client_response.headers, "content-type"), "text/event-stream");
    EXPECT_FALSE(t::Get(r.client_response.headers, "content-length"));
    EXPECT_EQ(NormalizeCreated(r.client_response.Body()), want);
  }
}

TEST_F(ExtprocServerTest, LocalAnswers) {
  struct Case {
    std::string method, path, body;
    int status;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/v1/models", "", 200, "\"gpt-test\""},
           {"POST", kChatPath, Chat("no-such-model"), 404, "model_not_found"},
           {"POST", kChatPath, "{not json", 400, "invalid_json"},
           {"POST", kChatPath, "", 400, "invalid_json"},
           {"GET", kChatPath, "", 405, "method_not_allowed"},
           {"POST", "/v2/unknown", Chat("gpt-test"), 404, "unsupported_path"},
       }) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body);
    t::Result r = Run(t::Request(c.method, c.path, c.body), std::nullopt);
    ExpectClean(r);
    EXPECT_FALSE(r.forwarded);
    ASSERT_TRUE(r.local_reply);
    EXPECT_EQ(r.local_status, c.status);
    EXPECT_EQ(t::Get(r.local_headers, "content-type"), "application/json");
    EXPECT_NE(r.local_body.find(c.needle), std::string::npos) << r.local_body;
    EXPECT_EQ(r.replies.back(), "immediate_response");
  }
  t::Result r = Run(t::Request("GET", kChatPath, ""), std::nullopt);
  EXPECT_EQ(t::Get(r.local_headers, "allow"), "POST");
}

TEST_F(ExtprocServerTest, UpstreamErrorIsTranslatedWithStatusAndLength) {
  std::string err = R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})";
  t::Result r = Run(t::Request("POST", kChatPath, Chat("claude-test")),
                    t::Response(429, "application/json", err, 1, {{"retry-after", "7"}}));
  ExpectClean(r);
  ASSERT_TRUE(r.answered);
  std::string got = r.client_response.Body();
  EXPECT_EQ(t::Get(r.client_response.headers, ":status"), "429");
  EXPECT_EQ(t::Get(r.client_response.headers, "content-length"), std::to_string(got.size()));
  EXPECT_NE(got.find("\"error\""), std::string::npos) << got;
  EXPECT_NE(got.find("slow down"), std::string::npos) << got;
  EXPECT_EQ(got.find("rate_limit_error\",\"message"), std::string::npos) << "reshaped to OpenAI's form: " << got;

  // The same-dialect error passes through unchanged.
  std::string oai = R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})";
  t::Result p = Run(t::Request("POST", kChatPath, Chat("gpt-test")), t::Response(500, "application/json", oai));
  ExpectClean(p);
  EXPECT_EQ(t::Get(p.client_response.headers, ":status"), "500");
  EXPECT_EQ(p.client_response.Body(), oai);
}

TEST_F(ExtprocServerTest, TrailersGetTheirOwnReplies) {
  t::FilterConfig cfg;
  cfg.processing_mode.set_request_trailer_mode(t::ProcessingMode::SEND);
  cfg.processing_mode.set_response_trailer_mode(t::ProcessingMode::SEND);
  t::HttpMessage req = t::Request("POST", kChatPath, Chat("gpt-alias"));
  req.trailers = {{"x-client-trailer", "1"}};
  std::string answer = R"({"id":"x","object":"chat.completion","choices":[]})";
  t::HttpMessage resp = t::Response(200, "application/json", answer);
  resp.trailers = {{"x-upstream-trailer", "2"}};
  t::Result r = Run(req, resp, cfg);
  ExpectClean(r);
  EXPECT_EQ(r.sent, (std::vector<std::string>{"request_headers", "request_body", "request_trailers",
                                              "response_headers", "response_body", "response_trailers"}));
  EXPECT_NE(r.upstream_request.Body().find("gpt-4o-real"), std::string::npos) << "body processed before its trailers";
  EXPECT_EQ(t::Get(r.client_response.trailers, "x-upstream-trailer"), "2");
}

TEST_F(ExtprocServerTest, StreamedRequestBodiesAreRefused) {
  // STREAMED request bodies cannot work: Envoy ignores header mutations in body replies, so the
  // request could not be routed. The first chunk is taken as the whole body (what BUFFERED
  // with trailers sends), which a split JSON document is not: a 400, and nothing forwarded.
  t::FilterConfig cfg;
  cfg.processing_mode.set_request_body_mode(t::ProcessingMode::STREAMED);
  std::string body = Chat("gpt-test");
  t::HttpMessage req = t::Request("POST", kChatPath, body);
  req.body = {body.substr(0, 20), body.substr(20)};
  t::Result r = Run(req, std::nullopt, cfg);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_TRUE(r.status.ok()) << "the chunk still in flight is ignored: " << t::Describe(r);
  EXPECT_FALSE(r.forwarded);
  ASSERT_TRUE(r.local_reply);
  EXPECT_EQ(r.local_status, 400);
}

TEST_F(ExtprocServerTest, HeaderValuesInTheLegacyValueField) {
  t::FilterConfig cfg;
  cfg.header_values_in_value = true;  // Envoy before 1.27
  t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test"), {{"x-tenant", "blue"}}), std::nullopt, cfg);
  ExpectClean(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, kSelectedBackendHeader), "default/openai");
}

TEST_F(ExtprocServerTest, WithoutAllowAllRoutingOnlyTheAuthorityIsIgnored) {
  t::FilterConfig cfg;
  cfg.allow_all_routing = false;
  t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test")), std::nullopt, cfg);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(r.rejected_mutations, 1) << ":authority needs allow_all_routing";
  EXPECT_EQ(t::Get(r.upstream_request.headers, ":authority"), "gateway.local");
  EXPECT_EQ(t::Get(r.upstream_request.headers, kSelectedBackendHeader), "default/openai");
}

TEST_F(ExtprocServerTest, EnvoyResettingTheStreamIsANormalEnd) {
  t::FilterConfig cfg;
  cfg.cancel_at_end = true;
  for (int i = 0; i < 5; ++i) {
    t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test")),
                      t::Response(200, "application/json", R"({"choices":[]})"), cfg);
    EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED);
  }
  for (int i = 0; i < 100 && server_->active_streams() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->active_streams(), 0);
}

TEST_F(ExtprocServerTest, ConcurrentStreams) {
  std::vector<std::thread> threads;
  std::atomic<int> clean{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      t::EnvoySim envoy(channel_, t::FilterConfig());
      std::string model = i % 2 ? "gpt-test" : "claude-test";
      std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
      for (int j = 0; j < 5; ++j) {
        t::Result r = envoy.Run(t::Request("POST", kChatPath, Chat(model, true)), [&](const t::HttpMessage&) {
          return std::optional<t::HttpMessage>(t::Response(200, "text/event-stream", sse, 7));
        });
        if (r.status.ok() && r.violations.empty() && r.answered) ++clean;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(clean.load(), 40);
}

// --- bad input: each fails its own stream; the server keeps serving the others ---

class ExtprocBadInputTest : public ExtprocServerTest {
 protected:
  grpc::Status RunRaw(const std::vector<pb::ProcessingRequest>& msgs, std::vector<pb::ProcessingResponse>* replies = nullptr) {
    auto stub = Stub();
    grpc::ClientContext ctx;
    auto rw = stub->Process(&ctx);
    for (const auto& m : msgs) {
      if (!rw->Write(m)) break;
      pb::ProcessingResponse r;
      if (!rw->Read(&r)) break;
      if (replies) replies->push_back(r);
    }
    rw->WritesDone();
    pb::ProcessingResponse extra;
    while (rw->Read(&extra)) {
      if (replies) replies->push_back(extra);
    }
    return rw->Finish();
  }

  void ExpectStillServing() {
    t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test")), t::Response(200, "application/json", "{}"));
    ExpectClean(r);
  }

  static pb::ProcessingRequest Headers(const std::string& method, const std::string& path) {
    pb::ProcessingRequest m;
    auto* h = m.mutable_request_headers()->mutable_headers();
    for (auto [k, v] : {std::pair<std::string, std::string>{":method", method}, {":path", path}, {":authority", "gw"}}) {
      auto* hv = h->add_headers();
      hv->set_key(k);
      hv->set_raw_value(v);
    }
    return m;
  }
  static pb::ProcessingRequest RequestBody(const std::string& body, bool eos = true) {
    pb::ProcessingRequest m;
    m.mutable_request_body()->set_body(body);
    m.mutable_request_body()->set_end_of_stream(eos);
    return m;
  }
};

TEST_F(ExtprocBadInputTest, BodyBeforeHeaders) {
  grpc::Status st = RunRaw({RequestBody(Chat("gpt-test"))});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("before request_headers"), std::string::npos);
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, EmptyMessage) {
  grpc::Status st = RunRaw({pb::ProcessingRequest()});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, SecondRequestBodyMessage) {
  std::vector<pb::ProcessingResponse> replies;
  grpc::Status st = RunRaw({Headers("POST", kChatPath), RequestBody(Chat("gpt-test"), false), RequestBody("", true)}, &replies);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_NE(st.error_message().find("BUFFERED"), std::string::npos) << st.error_message();
  EXPECT_EQ(replies.size(), 2u);
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, MissingPseudoHeaders) {
  pb::ProcessingRequest m;
  m.mutable_request_headers()->mutable_headers()->add_headers()->set_key("content-type");
  grpc::Status st = RunRaw({m});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, GarbageBytes) {
  RawResult r = RawCall(channel_, "/envoy.service.ext_proc.v3.ExternalProcessor/Process",
                        {std::string("\x0a\xff\xff\xff\xff\x0f garbage", 15)});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << "an unparsable message fails the stream";
  EXPECT_TRUE(r.replies.empty());
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, UnknownMethod) {
  RawResult r = RawCall(channel_, "/envoy.service.ext_proc.v3.ExternalProcessor/Nope", {""});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  ExpectStillServing();
}

TEST_F(ExtprocBadInputTest, OversizedMessagesAndBodies) {
  server_->Shutdown(std::chrono::milliseconds(100));
  ServerOptions o;
  o.max_grpc_message_bytes = 256 << 10;
  o.max_request_body_bytes = 64 << 10;
  o.max_error_body_bytes = 1 << 10;
  StartServer(o);

  // Over the gRPC message limit: gRPC fails the stream.
  grpc::Status st = RunRaw({Headers("POST", kChatPath), RequestBody(std::string(300 << 10, 'x'))});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  // Over the request body limit: a 413 in the client's dialect.
  std::string big = R"({"model":"gpt-test","messages":[{"role":"user","content":")" + std::string(100 << 10, 'a') + "\"}]}";
  t::Result r = Run(t::Request("POST", kChatPath, big), std::nullopt);
  ExpectClean(r);
  ASSERT_TRUE(r.local_reply);
  EXPECT_EQ(r.local_status, 413);
  EXPECT_NE(r.local_body.find("request_too_large"), std::string::npos);

  // A non-2xx answer over the error limit fails the stream (Envoy then answers 500).
  t::Result e = Run(t::Request("POST", kChatPath, Chat("claude-test")),
                    t::Response(500, "text/plain", std::string(2 << 10, 'e')));
  EXPECT_EQ(e.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(e.local_reply);
  EXPECT_EQ(e.local_status, 500);
  ExpectStillServing();
}

// --- server plumbing ---

TEST_F(ExtprocServerTest, HealthService) {
  auto check = [&](const std::string& service) {
    std::string req;
    if (!service.empty()) req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
    return RawCall(channel_, "/grpc.health.v1.Health/Check", {req});
  };
  for (std::string svc : {"", "envoy.service.ext_proc.v3.ExternalProcessor", "liveness", "readiness"}) {
    SCOPED_TRACE(svc);
    RawResult r = check(svc);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ASSERT_EQ(r.replies.size(), 1u);
    EXPECT_EQ(r.replies[0], std::string("\x08\x01", 2)) << "SERVING";
  }
  EXPECT_EQ(check("no.such.Service").status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ExtprocServerTest, LoopbackTcpOnAnEphemeralPort) {
  ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  auto tcp = Server::Start(o, runtime_);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  std::string addr = (*tcp)->addresses()[0];
  EXPECT_EQ(addr.rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(addr, "127.0.0.1:0");
  t::EnvoySim envoy(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()), t::FilterConfig());
  t::Result r = envoy.Run(t::Request("POST", kChatPath, Chat("gpt-test")), nullptr);
  ExpectClean(r);
  EXPECT_TRUE(r.forwarded);

  // The port is now taken: a second server says so.
  ServerOptions same;
  same.listen = {addr};
  auto second = Server::Start(same, runtime_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  (*tcp)->Shutdown(std::chrono::milliseconds(100));
}

TEST_F(ExtprocServerTest, BadListenAddresses) {
  for (std::string a : {"no-port", "host:notaport", "host:70000", "unix:", ":"}) {
    ServerOptions o;
    o.listen = {a};
    EXPECT_EQ(Server::Start(o, runtime_).status().code(), absl::StatusCode::kInvalidArgument) << a;
  }
  ServerOptions none;
  EXPECT_EQ(Server::Start(none, runtime_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ExtprocServerTest, ReloadAppliesToNewStreams) {
  std::string only_new = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: route}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: new-model}]}]
      backendRefs: [{name: openai}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai}
spec:
  schema: {name: OpenAI}
  backendRef: {name: openai, kind: Backend, group: gateway.envoyproxy.io}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: openai}
spec:
  endpoints: [{fqdn: {hostname: api.openai.test, port: 443}}]
)";
  EXPECT_TRUE(Run(t::Request("POST", kChatPath, Chat("gpt-test")), std::nullopt).forwarded);
  server_->Reload(LoadRuntime(only_new));
  t::Result old_model = Run(t::Request("POST", kChatPath, Chat("gpt-test")), std::nullopt);
  EXPECT_EQ(old_model.local_status, 404);
  EXPECT_TRUE(Run(t::Request("POST", kChatPath, Chat("new-model")), std::nullopt).forwarded);
}

// Envoy AI Gateway's end-of-response metadata (§4.6): models, backend and token usage.
TEST_F(ExtprocServerTest, UsageMetadataForABufferedAnswer) {
  std::string answer =
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})";
  t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-alias")), t::Response(200, "application/json", answer));
  ExpectClean(r);
  ASSERT_TRUE(r.answered);
  EXPECT_EQ(Metadata(r, "backend_name"), "default/openai");
  EXPECT_EQ(Metadata(r, "model_name_override"), "gpt-4o-real");
  EXPECT_EQ(Metadata(r, "response_model"), "gpt-4o-2024-08-06");
  EXPECT_EQ(Metadata(r, "llm_input_token"), "11");
  EXPECT_EQ(Metadata(r, "llm_output_token"), "7");
  EXPECT_EQ(Metadata(r, "llm_total_token"), "18");
  // The usage arrives with the last body reply, not before.
  EXPECT_EQ(r.replies.back(), "response_body");
}

TEST_F(ExtprocServerTest, UsageMetadataForAStreamedAnswer) {
  std::string sse =
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-0613\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-0613\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test-0613\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":9,\"total_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":5}}}\n\n"
      "data: [DONE]\n\n";
  for (size_t chunks : {1u, 4u, 13u}) {
    SCOPED_TRACE(chunks);
    t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test", true)), t::Response(200, "text/event-stream", sse, chunks));
    ExpectClean(r);
    EXPECT_TRUE(r.response_body_streamed);
    EXPECT_EQ(Metadata(r, "backend_name"), "default/openai");
    EXPECT_EQ(Metadata(r, "response_model"), "gpt-test-0613");
    EXPECT_EQ(Metadata(r, "llm_input_token"), "21");
    EXPECT_EQ(Metadata(r, "llm_output_token"), "9");
    EXPECT_EQ(Metadata(r, "llm_total_token"), "30");
  }
  // Anthropic's stream (usage split over message_start and message_delta), translated.
  std::string anthropic = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::Result r = Run(t::Request("POST", kChatPath, Chat("claude-test", true)), t::Response(200, "text/event-stream", anthropic, 7));
  ExpectClean(r);
  EXPECT_EQ(Metadata(r, "backend_name"), "default/claude");
  EXPECT_NE(Metadata(r, "llm_output_token"), "<missing>");
  EXPECT_NE(Metadata(r, "llm_output_token"), "0");
}

TEST_F(ExtprocServerTest, ConfiguredCostsReplaceTheStandardKeys) {
  auto costs = std::make_shared<config::LlmRequestCosts>();
  config::LlmRequestCost in;
  in.metadata_key = "my_in";
  in.type = config::LlmRequestCost::Type::kInputToken;
  config::LlmRequestCost cached = in;
  cached.metadata_key = "my_cached";
  cached.type = config::LlmRequestCost::Type::kCachedInputToken;
  costs->global = {in, cached};
  server_->Reload(runtime_, costs);
  std::string answer =
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":4}}})";
  t::Result r = Run(t::Request("POST", kChatPath, Chat("gpt-test")), t::Response(200, "application/json", answer));
  ExpectClean(r);
  EXPECT_EQ(Metadata(r, "my_in"), "11");
  EXPECT_EQ(Metadata(r, "my_cached"), "4");
  EXPECT_EQ(Metadata(r, "llm_total_token"), "<missing>");
}

TEST_F(ExtprocServerTest, UnixSocketIsReplacedAndRemoved) {
  std::string path = SocketPath();
  {
    // A socket file left behind by a process that died.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
    ASSERT_EQ(access(path.c_str(), F_OK), 0);
  }
  ServerOptions o;
  o.listen = {"unix:" + path};
  auto s = Server::Start(o, runtime_);
  ASSERT_TRUE(s.ok()) << "a stale socket file is replaced: " << s.status();
  t::EnvoySim envoy(grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()), t::FilterConfig());
  EXPECT_TRUE(envoy.Run(t::Request("POST", kChatPath, Chat("gpt-test")), nullptr).forwarded);
  (*s)->Shutdown(std::chrono::milliseconds(100));
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the socket file is removed on shutdown";
}

}  // namespace
}  // namespace sluice::extproc
