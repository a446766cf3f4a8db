// FULL_DUPLEX_STREAMED (ext_proc body mode 4, Envoy >= 1.34): the protocol rules, over real
// gRPC with EnvoySim playing Envoy (it sends everything without waiting, reads replies on a
// second thread and records every rule broken), and on StreamProcessor directly for the
// exact number and shape of replies. The translator fixtures run through this mode too
// (fixtures_test.cc, FullDuplex/ suites).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "extproc/newer_api.h"
#include "extproc/processor.h"
#include "extproc/server.h"
#include "gtest/gtest.h"
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

std::string SocketPath() { return test::SocketPath("fullduplex-test"); }

t::FilterConfig FullDuplex(bool request = true, bool response = true) {
  t::FilterConfig cfg;
  if (request) {
    cfg.processing_mode.set_request_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_request_trailer_mode(t::ProcessingMode::SEND);
  }
  if (response) {
    cfg.processing_mode.set_response_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_response_trailer_mode(t::ProcessingMode::SEND);
  }
  return cfg;
}

std::vector<std::string> Split(const std::string& s, size_t pieces) {
  std::vector<std::string> out;
  size_t step = std::max<size_t>(1, (s.size() + pieces - 1) / pieces);
  for (size_t i = 0; i < s.size(); i += step) out.push_back(s.substr(i, step));
  return out;
}

void ExpectClean(const t::Result& r) {
  EXPECT_TRUE(r.status.ok()) << t::Describe(r);
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_EQ(r.rejected_mutations, 0) << t::Describe(r);
}

long Count(const std::vector<std::string>& v, const std::string& s) { return std::count(v.begin(), v.end(), s); }

class FullDuplexTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(ServerOptions()); }
  void Start(ServerOptions o) {
    if (server_) server_->Shutdown(std::chrono::milliseconds(0));
    o.listen = {"unix:" + SocketPath()};
    o.random = [] { return uint64_t{0}; };
    auto s = Server::Start(o, runtime_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    channel_ = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(1000));
  }
  t::Result Run(const t::HttpMessage& request, std::optional<t::HttpMessage> answer, t::FilterConfig cfg) {
    t::EnvoySim envoy(channel_, cfg);
    return envoy.Run(request, [&](const t::HttpMessage&) { return answer; });
  }

  std::shared_ptr<const gateway::Runtime> runtime_ = LoadRuntime();
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(FullDuplexTest, RequestIsGatheredRoutedTranslatedAndStreamedBack) {
  std::string body = Chat("claude-test");
  t::HttpMessage req = t::Request("POST", kChatPath, body, {{"x-ai-eg-selected-backend", "default/openai"}});
  req.body = Split(body, 5);
  t::Result r = Run(req, std::nullopt, FullDuplex());
  ExpectClean(r);
  // Envoy sent everything at once; sluice answered the headers once the body was complete.
  EXPECT_EQ(r.sent, (std::vector<std::string>{"request_headers", "request_body", "request_body", "request_body",
                                              "request_body", "request_body"}));
  ASSERT_GE(r.replies.size(), 2u);
  EXPECT_EQ(r.replies[0], "request_headers");
  EXPECT_EQ(Count(r.replies, "request_body"), static_cast<long>(r.replies.size()) - 1);
  ASSERT_TRUE(r.forwarded);
  EXPECT_TRUE(r.request_body_full_duplex);
  const t::Headers& up = r.upstream_request.headers;
  EXPECT_EQ(t::Get(up, ":path"), "/v1/messages");
  EXPECT_EQ(t::Get(up, ":authority"), "api.anthropic.test");
  EXPECT_EQ(t::Get(up, "x-api-key"), "sk-ant-test");
  EXPECT_EQ(t::Get(up, kSelectedBackendHeader), "default/claude") << "the client's value never routes";
  EXPECT_FALSE(t::Get(up, "content-length")) << "Envoy strips it in this mode";
  EXPECT_TRUE(r.route_cache_cleared);
  std::string sent = r.upstream_request.Body();
  auto doc = json::Parse(sent);
  ASSERT_TRUE(doc.ok()) << sent;
  EXPECT_NE(doc->Find("max_tokens"), nullptr) << "translated to Anthropic: " << sent;
  EXPECT_EQ(Metadata(r, "content_length"), std::to_string(sent.size()));
  EXPECT_EQ(Metadata(r, "backend_name"), "default/claude");
}

TEST_F(FullDuplexTest, UnchangedBodyIsStillSentBack) {
  // A same-dialect backend keeps the client's bytes, but under FULL_DUPLEX_STREAMED Envoy has
  // none of them: sluice must stream them back or the upstream gets an empty body.
  std::string body = Chat("gpt-test");
  t::HttpMessage req = t::Request("POST", kChatPath, body);
  req.body = Split(body, 4);
  t::Result r = Run(req, std::nullopt, FullDuplex());
  ExpectClean(r);
  EXPECT_EQ(r.upstream_request.Body(), body);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-openai-test");
}

TEST_F(FullDuplexTest, LargeBodiesGoBackInChunksOfAtMost62000Bytes) {
  std::string big(200000, 'a');
  std::string body = Chat("gpt-alias", false, big);  // the model override re-serialises it
  t::HttpMessage req = t::Request("POST", kChatPath, body);
  req.body = Split(body, 7);
  t::Result r = Run(req, std::nullopt, FullDuplex());
  ExpectClean(r);
  std::string sent = r.upstream_request.Body();
  EXPECT_NE(sent.find("gpt-4o-real"), std::string::npos);
  EXPECT_EQ(sent.size(), body.size() + std::string("gpt-4o-real").size() - std::string("gpt-alias").size());
  // ceil(size / 62000) replies: fewer than the 7 chunks Envoy sent.
  EXPECT_EQ(Count(r.replies, "request_body"), static_cast<long>((sent.size() + 61999) / 62000));
}

TEST_F(FullDuplexTest, RequestTrailersEndTheBodyAndAreAnsweredLast) {
  std::string body = Chat("gpt-alias");
  t::HttpMessage req = t::Request("POST", kChatPath, body);
  req.body = Split(body, 3);
  req.trailers = {{"x-client-trailer", "1"}};
  t::Result r = Run(req, std::nullopt, FullDuplex());
  ExpectClean(r);  // EnvoySim flags an end_of_stream while trailers end the body
  EXPECT_EQ(r.sent.back(), "request_trailers");
  ASSERT_FALSE(r.replies.empty());
  EXPECT_EQ(r.replies.front(), "request_headers");
  EXPECT_EQ(r.replies.back(), "request_trailers");
  EXPECT_NE(r.upstream_request.Body().find("gpt-4o-real"), std::string::npos);
  EXPECT_EQ(t::Get(r.upstream_request.trailers, "x-client-trailer"), "1");
}

TEST_F(FullDuplexTest, BodyOverTheLimitIsA413) {
  ServerOptions o;
  o.max_request_body_bytes = 1000;
  Start(o);
  std::string body = Chat("gpt-test", false, std::string(3000, 'x'));
  t::HttpMessage req = t::Request("POST", kChatPath, body);
  req.body = Split(body, 6);
  t::Result r = Run(req, std::nullopt, FullDuplex());
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  EXPECT_FALSE(r.forwarded);
  ASSERT_TRUE(r.local_reply) << t::Describe(r);
  EXPECT_EQ(r.local_status, 413);
  EXPECT_EQ(r.replies, std::vector<std::string>{"immediate_response"}) << "chunks after it get no reply";
}

TEST_F(FullDuplexTest, InvalidJsonIsALocalReply) {
  t::HttpMessage req = t::Request("POST", kChatPath, "{\"model\": nope");
  req.body = Split(req.Body(), 2);
  t::Result r = Run(req, std::nullopt, FullDuplex());
  EXPECT_TRUE(r.violations.empty()) << t::Describe(r);
  ASSERT_TRUE(r.local_reply);
  EXPECT_EQ(r.local_status, 400);
}

TEST_F(FullDuplexTest, StreamedAnswerRepliesOnlyWithTranslatedBytesAndEndsOnce) {
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  std::string want = NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse));
  for (size_t chunks : {1u, 3u, 17u, 200u}) {
    SCOPED_TRACE(chunks);
    t::HttpMessage answer = t::Response(200, "text/event-stream", sse, chunks);
    t::Result r = Run(t::Request("POST", kChatPath, body), answer, FullDuplex());
    ExpectClean(r);
    EXPECT_TRUE(r.response_body_full_duplex);
    EXPECT_EQ(Count(r.sent, "response_body"), static_cast<long>(answer.body.size()));
    long replies = Count(r.replies, "response_body");
    EXPECT_GE(replies, 1);
    EXPECT_LE(replies, static_cast<long>(answer.body.size()));
    if (chunks == 200) {
      EXPECT_LT(replies, 200) << "chunks inside an event produce no reply";
    }
    EXPECT_EQ(NormalizeCreated(r.client_response.Body()), want);
    EXPECT_FALSE(t::Get(r.client_response.headers, "content-length"));
    EXPECT_NE(Metadata(r, "llm_output_token"), "<missing>") << "usage with the last reply";
  }
}

TEST_F(FullDuplexTest, ErrorAnswerHeadersWaitForTheTranslatedBody) {
  std::string body = Chat("claude-test");
  std::string err = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
  t::Result r = Run(t::Request("POST", kChatPath, body), t::Response(529, "application/json", err, 3), FullDuplex());
  ExpectClean(r);
  ASSERT_TRUE(r.answered) << t::Describe(r);
  // The response_headers reply comes after every response chunk was sent, before the body.
  auto first_reply = std::find(r.replies.begin(), r.replies.end(), "response_headers");
  ASSERT_NE(first_reply, r.replies.end());
  EXPECT_EQ(std::count(first_reply, r.replies.end(), "response_body"), 1);
  std::string got = r.client_response.Body();
  auto doc = json::Parse(got);
  ASSERT_TRUE(doc.ok()) << got;
  ASSERT_NE(doc->Find("error"), nullptr) << "OpenAI-shaped error: " << got;
  EXPECT_EQ(t::Get(r.client_response.headers, "content-type"), "application/json");
  EXPECT_NE(got, err);
}

TEST_F(FullDuplexTest, ResponseTrailersFlushWhatTheTranslatorHolds) {
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  std::string want = NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse));
  t::HttpMessage answer = t::Response(200, "text/event-stream", sse, 4);
  answer.trailers = {{"x-upstream-trailer", "2"}};
  t::Result r = Run(t::Request("POST", kChatPath, body), answer, FullDuplex());
  ExpectClean(r);
  EXPECT_EQ(r.replies.back(), "response_trailers");
  EXPECT_EQ(NormalizeCreated(r.client_response.Body()), want) << "nothing dropped at the trailers";
  EXPECT_EQ(t::Get(r.client_response.trailers, "x-upstream-trailer"), "2");
  EXPECT_NE(Metadata(r, "llm_output_token"), "<missing>");
}

TEST_F(FullDuplexTest, BufferedJsonAnswerIsTranslatedAtItsEnd) {
  std::string body = Chat("claude-test");
  std::string answer = ReadTestdata("src/translate/openai_to_anthropic/testdata/resp_text.anthropic.json");
  t::Result r = Run(t::Request("POST", kChatPath, body), t::Response(200, "application/json", answer, 5),
                    FullDuplex(/*request=*/false, /*response=*/true));
  ExpectClean(r);
  EXPECT_FALSE(r.request_body_full_duplex);
  EXPECT_TRUE(r.response_body_full_duplex);
  EXPECT_EQ(NormalizeCreated(r.client_response.Body()),
            NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "application/json", answer)));
  EXPECT_EQ(Count(r.replies, "response_body"), 1) << "a JSON answer translates at its end only";
}

TEST_F(FullDuplexTest, RequestOnlyFullDuplexKeepsStreamedAnswersBufferedWithoutAnOverride) {
  // Envoy ignores mode_override when a configured body mode is FULL_DUPLEX_STREAMED: sluice
  // sends none, and the buffered SSE answer is translated whole.
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::Result r = Run(t::Request("POST", kChatPath, body), t::Response(200, "text/event-stream", sse, 3),
                    FullDuplex(/*request=*/true, /*response=*/false));
  ExpectClean(r);
  EXPECT_FALSE(r.response_body_streamed);
  EXPECT_EQ(NormalizeCreated(r.client_response.Body()),
            NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse)));
}

TEST_F(FullDuplexTest, ModeOverrideToFullDuplexForStreamedAnswers) {
  ServerOptions o;
  o.full_duplex_response_override = true;
  Start(o);
  std::string body = Chat("claude-test", true);
  std::string sse = ReadTestdata("src/translate/openai_to_anthropic/testdata/stream_text.anthropic.sse");
  t::HttpMessage answer = t::Response(200, "text/event-stream", sse, 9);
  t::Result r = Run(t::Request("POST", kChatPath, body), answer, t::FilterConfig());  // BUFFERED config
  ExpectClean(r);
  EXPECT_TRUE(r.response_body_full_duplex) << "EnvoySim honours the override (trailer mode SEND included)";
  EXPECT_EQ(NormalizeCreated(r.client_response.Body()),
            NormalizeCreated(ReferenceAnswer(runtime_, kChatPath, body, 200, "text/event-stream", sse)));
  // A JSON answer stays BUFFERED.
  std::string json_answer = ReadTestdata("src/translate/openai_to_anthropic/testdata/resp_text.anthropic.json");
  t::Result b = Run(t::Request("POST", kChatPath, Chat("claude-test")),
                    t::Response(200, "application/json", json_answer, 2), t::FilterConfig());
  ExpectClean(b);
  EXPECT_FALSE(b.response_body_streamed);
}

// ------------------------------------------------------------------ StreamProcessor directly

using test::Body;
using test::Headers;

std::optional<wire::StreamedBody> Streamed(const pb::ProcessingResponse& r) {
  const pb::BodyResponse& b = r.has_request_body() ? r.request_body() : r.response_body();
  return wire::ReadStreamedResponse(b.response().body_mutation());
}

TEST(FullDuplexProcessor, RepliesFollowTheDataNotTheMessages) {
  StreamProcessor p(LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{});
  Replies out;
  pb::ProcessingRequest h = Headers(true, {{":method", "POST"}, {":path", kChatPath}, {":authority", "gw"},
                                           {"content-type", "application/json"}});
  wire::ProtocolConfig pc;
  pc.request_body_mode = wire::kFullDuplexStreamed;
  pc.response_body_mode = wire::kFullDuplexStreamed;
  wire::SetProtocolConfig(pc, &h);
  ASSERT_TRUE(p.Process(h, &out).ok());
  EXPECT_EQ(out.size(), 0u) << "headers wait for the body";
  std::string body = Chat("claude-test", true);
  ASSERT_TRUE(p.Process(Body(true, body.substr(0, 10), false), &out).ok());
  EXPECT_EQ(out.size(), 0u);
  ASSERT_TRUE(p.Process(Body(true, body.substr(10), true), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].has_request_headers());
  EXPECT_TRUE(out[0].request_headers().response().clear_route_cache());
  EXPECT_FALSE(out[0].request_headers().response().has_body_mutation());
  ASSERT_TRUE(out[1].has_request_body());
  auto sb = Streamed(out[1]);
  ASSERT_TRUE(sb);
  EXPECT_TRUE(sb->end_of_stream);
  EXPECT_NE(sb->body.find("\"max_tokens\""), std::string::npos) << sb->body;
  EXPECT_EQ(out[1].request_body().response().body_mutation().mutation_case(), pb::BodyMutation::MUTATION_NOT_SET)
      << "no plain body / clear_body: Envoy rejects them in this mode";

  ASSERT_TRUE(p.Process(Headers(false, {{":status", "200"}, {"content-type", "text/event-stream"}}), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has_response_headers());
  EXPECT_FALSE(out[0].has_mode_override()) << "configured FULL_DUPLEX_STREAMED: no override";
  // Half an event: nothing to send yet.
  ASSERT_TRUE(p.Process(Body(false, "event: message_start\ndata: {\"type\":\"message_st", false), &out).ok());
  EXPECT_EQ(out.size(), 0u);
  ASSERT_TRUE(p.Process(Body(false,
                             "art\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":3,"
                             "\"output_tokens\":0}}}\n\n",
                             false),
                        &out)
                  .ok());
  ASSERT_EQ(out.size(), 1u);
  auto first = Streamed(out[0]);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->end_of_stream);
  EXPECT_NE(first->body.find("data: "), std::string::npos) << first->body;
  ASSERT_TRUE(p.Process(Body(false,
                             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                             "\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: "
                             "{\"type\":\"message_stop\"}\n\n",
                             true),
                        &out)
                  .ok());
  ASSERT_EQ(out.size(), 1u);
  auto last = Streamed(out[0]);
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->end_of_stream);
  pb::ProcessingResponse parsed;  // as Envoy reads it (the metadata is written in wire form)
  ASSERT_TRUE(parsed.ParseFromString(out[0].SerializeAsString()));
  ASSERT_TRUE(parsed.has_dynamic_metadata()) << "usage rides on the last reply";
  const auto& md = parsed.dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("llm_output_token").number_value(), 2);
  EXPECT_EQ(md.at("backend_name").string_value(), "default/claude");
}

TEST(FullDuplexProcessor, WithoutProtocolConfigTheModesAreTheClassicOnes) {
  StreamProcessor p(LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{});
  Replies out;
  ASSERT_TRUE(p.Process(Headers(true, {{":method", "POST"}, {":path", kChatPath}, {":authority", "gw"}}), &out).ok());
  EXPECT_EQ(out.size(), 1u) << "BUFFERED: the headers are answered at once";
}

TEST(FullDuplexWire, StreamedBodyResponseRoundTrips) {
  pb::BodyMutation m;
  m.set_body("old");
  wire::SetStreamedResponse("hello", true, &m);
  EXPECT_EQ(m.mutation_case(), pb::BodyMutation::MUTATION_NOT_SET);
  // Wire bytes: field 3, length 9: {1: "hello", 2: true}.
  EXPECT_EQ(m.SerializeAsString(), std::string("\x1a\x09\x0a\x05hello\x10\x01", 11));
  pb::BodyMutation parsed;
  ASSERT_TRUE(parsed.ParseFromString(m.SerializeAsString()));
  auto sb = wire::ReadStreamedResponse(parsed);
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->body, "hello");
  EXPECT_TRUE(sb->end_of_stream);
  pb::BodyMutation plain;
  plain.set_body("x");
  EXPECT_FALSE(wire::ReadStreamedResponse(plain));
}

}  // namespace
}  // namespace sluice::extproc
