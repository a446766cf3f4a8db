// StreamProcessor without gRPC: the protocol state machine and the exact shape of replies.
#include "extproc/processor.h"

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "extproc/extproc_test_util.h"
#include "gtest/gtest.h"

namespace sluice::extproc {
namespace {

using ::envoy::config::core::v3::HeaderValueOption;
using test::LoadRuntime;

using test::Body;

pb::ProcessingRequest RequestHeaders(const std::vector<std::pair<std::string, std::string>>& h, bool eos = false) {
  return test::Headers(true, h, eos);
}
pb::ProcessingRequest ResponseHeaders(const std::vector<std::pair<std::string, std::string>>& h, bool eos = false) {
  return test::Headers(false, h, eos);
}

const std::vector<std::pair<std::string, std::string>> kPost = {
    {":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "gw.local"}, {":scheme", "https"},
    {"content-type", "application/json"}, {"content-length", "57"}, {"authorization", "Bearer client"},
    {"transfer-encoding", "chunked"}};
const std::string kBody = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";

class ProcessorTest : public ::testing::Test {
 protected:
  absl::StatusOr<pb::ProcessingResponse> Send(const pb::ProcessingRequest& in) {
    pb::ProcessingResponse out;
    absl::StatusOr<bool> r = p_.Process(in, &out);
    if (!r.ok()) return r.status();
    EXPECT_TRUE(*r);
    return out;
  }
  // Drives a request to the point where it went upstream.
  void Forward(const std::string& body = kBody) {
    ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
    auto r = Send(Body(true, body, true));
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->has_request_body()) << r->DebugString();
  }

  StreamProcessor p_{LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{}};
};

TEST_F(ProcessorTest, HeadersReplyIsAnEmptyContinue) {
  auto r = Send(RequestHeaders(kPost));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_request_headers());
  EXPECT_EQ(r->request_headers().response().ByteSizeLong(), 0u) << r->DebugString();
  EXPECT_FALSE(r->has_mode_override());
  EXPECT_FALSE(p_.finished());
}

TEST_F(ProcessorTest, ClientSentBackendHeaderIsDropped) {
  auto h = kPost;
  h.emplace_back(kSelectedBackendHeader, "default/expensive");
  auto r = Send(RequestHeaders(h));
  ASSERT_TRUE(r.ok());
  const pb::CommonResponse& c = r->request_headers().response();
  ASSERT_EQ(c.header_mutation().remove_headers_size(), 1);
  EXPECT_EQ(c.header_mutation().remove_headers(0), kSelectedBackendHeader);
  EXPECT_FALSE(c.clear_route_cache());
}

TEST_F(ProcessorTest, BodyReplyShape) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  auto r = Send(Body(true, kBody, true));
  ASSERT_TRUE(r.ok());
  const pb::CommonResponse& c = r->request_body().response();
  EXPECT_EQ(c.status(), pb::CommonResponse::CONTINUE);
  EXPECT_TRUE(c.clear_route_cache());
  EXPECT_FALSE(c.has_body_mutation()) << "same-dialect pass-through keeps the client's bytes";
  std::map<std::string, std::string> set;
  for (const auto& o : c.header_mutation().set_headers()) {
    EXPECT_TRUE(o.header().value().empty()) << "values go in raw_value only: " << o.header().key();
    EXPECT_EQ(o.append_action(), HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    EXPECT_FALSE(o.has_append());
#pragma GCC diagnostic pop
    EXPECT_EQ(set.count(o.header().key()), 0u) << "set once: " << o.header().key();
    set[o.header().key()] = o.header().raw_value();
  }
  EXPECT_EQ(set[":path"], "/v1/chat/completions");
  EXPECT_EQ(set[":authority"], "api.openai.test");
  EXPECT_EQ(set["x-ai-eg-model"], "gpt-test");
  EXPECT_EQ(set[kSelectedBackendHeader], "default/openai");
  EXPECT_EQ(set["authorization"], "Bearer sk-openai-test");
  EXPECT_EQ(set.count("host"), 0u);
  EXPECT_EQ(set.count("content-length"), 0u) << "body unchanged: the client's length stands";
  std::vector<std::string> removed(c.header_mutation().remove_headers().begin(), c.header_mutation().remove_headers().end());
  for (const auto& name : removed) {
    EXPECT_NE(name[0], ':') << "pseudo-headers are never removed";
    EXPECT_NE(name, "host");
    EXPECT_NE(name, "content-length");
    EXPECT_EQ(set.count(name), 0u) << name << " is both set and removed";
  }
  EXPECT_NE(std::find(removed.begin(), removed.end(), "transfer-encoding"), removed.end());
  EXPECT_EQ(std::find(removed.begin(), removed.end(), "x-api-key"), removed.end()) << "only present headers are removed";

  const auto& md = r->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("backend_name").string_value(), "default/openai");
  EXPECT_EQ(md.at("model_name_override").string_value(), "gpt-test");
  EXPECT_EQ(md.at("content_length").number_value(), kBody.size());
}

TEST_F(ProcessorTest, ReplacedBodySetsContentLength) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  auto r = Send(Body(true, R"({"model":"claude-test","messages":[{"role":"user","content":"hi"}]})", true));
  ASSERT_TRUE(r.ok());
  const pb::CommonResponse& c = r->request_body().response();
  ASSERT_EQ(c.body_mutation().mutation_case(), pb::BodyMutation::kBody);
  std::string cl;
  for (const auto& o : c.header_mutation().set_headers())
    if (o.header().key() == "content-length") cl = o.header().raw_value();
  EXPECT_EQ(cl, std::to_string(c.body_mutation().body().size()));
}

TEST_F(ProcessorTest, HeaderOnlyRequestIsDecidedInTheHeadersReply) {
  auto r = Send(RequestHeaders(kPost, /*eos=*/true));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_immediate_response()) << r->DebugString();
  EXPECT_EQ(r->immediate_response().status().code(), 400);
}

TEST_F(ProcessorTest, ImmediateResponseShape) {
  auto r = Send(RequestHeaders({{":method", "GET"}, {":path", "/v1/models"}, {":authority", "gw"}}, true));
  ASSERT_TRUE(r.ok());
  const pb::ImmediateResponse& ir = r->immediate_response();
  EXPECT_EQ(ir.status().code(), 200);
  EXPECT_NE(ir.body().find("gpt-test"), std::string::npos);
  ASSERT_EQ(ir.headers().set_headers_size(), 1);
  EXPECT_EQ(ir.headers().set_headers(0).header().key(), "content-type");
  EXPECT_EQ(ir.headers().set_headers(0).header().raw_value(), "application/json");
  EXPECT_FALSE(ir.details().empty());
  // Nothing may follow an immediate response.
  EXPECT_EQ(Send(ResponseHeaders({{":status", "200"}})).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProcessorTest, OutOfOrderAndMalformedMessages) {
  EXPECT_EQ(Send(Body(true, kBody, true)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Send(pb::ProcessingRequest()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Send(RequestHeaders({{":method", "POST"}})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProcessorTest, AStreamThatBeginsWithTheResponsePassesIt) {
  // An earlier filter (jwt_authn, ext_authz, CORS) answered locally: Envoy opens the stream at
  // response_headers. Each message gets its plain CONTINUE reply (failing the stream would
  // make Envoy answer 500 instead of that 401).
  auto h = Send(ResponseHeaders({{":status", "401"}, {"content-type", "text/plain"}}));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h->has_response_headers());
  EXPECT_FALSE(h->response_headers().response().has_header_mutation());
  EXPECT_FALSE(h->response_headers().response().has_body_mutation());
  EXPECT_FALSE(h->has_immediate_response());
  auto b = Send(Body(false, "Jwt is missing", true));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(b->has_response_body());
  EXPECT_FALSE(b->response_body().response().has_body_mutation());
  // A request message cannot follow the response.
  EXPECT_EQ(Send(RequestHeaders(kPost)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProcessorTest, DuplicateMessages) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  EXPECT_EQ(Send(RequestHeaders(kPost)).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProcessorTest, SecondRequestBody) {
  Forward();
  auto st = Send(Body(true, "", true)).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(st.message()).find("BUFFERED"), std::string::npos);
}

TEST_F(ProcessorTest, ResponseHeadersNeedAStatus) {
  Forward();
  EXPECT_EQ(Send(ResponseHeaders({{"content-type", "application/json"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ProcessorTest, BufferedJsonAnswerKeepsContentLengthForTheBodyReply) {
  Forward();
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "application/json"}, {"content-length", "2"}, {"connection", "close"}}));
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->has_mode_override());
  for (const auto& name : h->response_headers().response().header_mutation().remove_headers()) {
    EXPECT_NE(name, "content-length");
  }
  auto b = Send(Body(false, "{}", true));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->has_response_body());
  EXPECT_FALSE(b->response_body().response().clear_route_cache());
}

TEST_F(ProcessorTest, EventStreamAnswerAsksForStreamedBodies) {
  Forward(R"({"model":"claude-test","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream; charset=utf-8"}}));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->has_mode_override());
  EXPECT_EQ(h->mode_override().response_body_mode(), ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::STREAMED);
  EXPECT_EQ(h->mode_override().response_header_mode(), 0) << "DEFAULT: unchanged";
  EXPECT_EQ(h->mode_override().response_trailer_mode(), 0);
  // Garbage mid-stream: the client's stream ends with an error event, later chunks are dropped.
  auto b1 = Send(Body(false, "data: {not json}\n\n", false));
  ASSERT_TRUE(b1.ok());
  const auto& m1 = b1->response_body().response().body_mutation();
  ASSERT_EQ(m1.mutation_case(), pb::BodyMutation::kBody);
  EXPECT_NE(m1.body().find("error"), std::string::npos) << m1.body();
  auto b2 = Send(Body(false, "event: ping\ndata: {}\n\n", true));
  ASSERT_TRUE(b2.ok());
  EXPECT_TRUE(b2->response_body().response().body_mutation().clear_body());
}

TEST_F(ProcessorTest, HeaderOnlyErrorAnswerIsReplacedInTheHeadersReply) {
  Forward(R"({"model":"claude-test","messages":[{"role":"user","content":"hi"}]})");
  auto h = Send(ResponseHeaders({{":status", "503"}}, /*eos=*/true));
  ASSERT_TRUE(h.ok());
  const pb::CommonResponse& c = h->response_headers().response();
  EXPECT_EQ(c.status(), pb::CommonResponse::CONTINUE_AND_REPLACE);
  EXPECT_NE(c.body_mutation().body().find("error"), std::string::npos);
}

TEST_F(ProcessorTest, ObservabilityModeNeedsNoReply) {
  pb::ProcessingRequest m = RequestHeaders(kPost);
  m.set_observability_mode(true);
  pb::ProcessingResponse out;
  auto r = p_.Process(m, &out);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

TEST_F(ProcessorTest, UpstreamFilterStreamsArePassedThrough) {
  pb::ProcessingRequest m = RequestHeaders({{":method", "POST"}, {":path", "/model/x/converse"}, {":authority", "h"}});
  (*m.mutable_attributes())["envoy.filters.http.ext_proc"].mutable_fields();
  auto r = Send(m);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_request_headers());
  EXPECT_EQ(r->request_headers().response().ByteSizeLong(), 0u);
  EXPECT_TRUE(p_.finished());
}

TEST_F(ProcessorTest, UnroutedRequestsPassThroughOnTheResponsePath) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  // No body came (request_body_mode NONE): the answer is left alone.
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream"}}));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->response_headers().response().ByteSizeLong(), 0u);
  EXPECT_FALSE(h->has_mode_override());
  auto b = Send(Body(false, "data: x\n\n", true));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->response_body().response().ByteSizeLong(), 0u);
}

TEST_F(ProcessorTest, RequestBodyLimit) {
  StreamProcessor small(LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{16, 16});
  pb::ProcessingResponse out;
  ASSERT_TRUE(small.Process(RequestHeaders(kPost), &out).ok());
  out.Clear();
  ASSERT_TRUE(small.Process(Body(true, kBody, true), &out).ok());
  ASSERT_TRUE(out.has_immediate_response());
  EXPECT_EQ(out.immediate_response().status().code(), 413);
}

TEST_F(ProcessorTest, UsageMetadataOnceAtTheEndOfTheAnswer) {
  Forward();
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream"}}));
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->has_dynamic_metadata()) << "not before the end";
  auto first = Send(Body(false, "data: {\"id\":\"c\",\"model\":\"m-1\",\"choices\":[]}\n\ndata: {\"id\":\"c\",\"choi", false));
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_dynamic_metadata());
  auto last = Send(Body(false, "ces\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5,\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\ndata: [DONE]\n\n", true));
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(last->has_dynamic_metadata()) << last->DebugString();
  const auto& md = last->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("response_model").string_value(), "m-1");
  EXPECT_EQ(md.at("llm_input_token").number_value(), 2);
  EXPECT_EQ(md.at("llm_output_token").number_value(), 3);
  EXPECT_EQ(md.at("llm_total_token").number_value(), 5);
  EXPECT_EQ(md.at("backend_name").string_value(), "default/openai");
}

// Rate limits need every request's tokens: a same-dialect OpenAI stream whose client did not
// ask for usage gets stream_options.include_usage upstream, and the usage-only chunk is read
// for the metadata but kept from the client, who did not ask for it.
TEST_F(ProcessorTest, StreamsWithoutIncludeUsageStillReportTokens) {
  auto costs = std::make_shared<config::LlmRequestCosts>();
  using T = config::LlmRequestCost::Type;
  for (auto [key, type] : {std::pair{"llm_input_token", T::kInputToken}, std::pair{"llm_output_token", T::kOutputToken},
                           std::pair{"llm_total_token", T::kTotalToken}}) {
    config::LlmRequestCost c;
    c.metadata_key = key;
    c.type = type;
    costs->global.push_back(c);
  }
  StreamProcessor p{LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{}, costs};
  auto Send = [&p](const pb::ProcessingRequest& in) -> absl::StatusOr<pb::ProcessingResponse> {
    pb::ProcessingResponse out;
    absl::StatusOr<bool> r = p.Process(in, &out);
    if (!r.ok()) return r.status();
    return out;
  };
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  auto r = Send(Body(true, R"({"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]})", true));
  ASSERT_TRUE(r.ok());
  const pb::CommonResponse& c = r->request_body().response();
  ASSERT_EQ(c.body_mutation().mutation_case(), pb::BodyMutation::kBody) << r->DebugString();
  auto sent = json::Parse(c.body_mutation().body());
  ASSERT_TRUE(sent.ok());
  EXPECT_TRUE(sent->Find("stream_options")->GetBool("include_usage", false)) << c.body_mutation().body();
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream"}}));
  ASSERT_TRUE(h.ok());
  auto b1 = Send(Body(false, "data: {\"id\":\"c\",\"model\":\"m-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n", false));
  ASSERT_TRUE(b1.ok());
  auto b2 = Send(Body(false,
                      "data: {\"id\":\"c\",\"model\":\"m-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":4,"
                      "\"total_tokens\":15}}\n\ndata: [DONE]\n\n",
                      true));
  ASSERT_TRUE(b2.ok());
  const auto& m2 = b2->response_body().response().body_mutation();
  ASSERT_EQ(m2.mutation_case(), pb::BodyMutation::kBody) << b2->DebugString();
  EXPECT_EQ(m2.body(), "data: [DONE]\n\n");
  ASSERT_TRUE(b2->has_dynamic_metadata());
  const auto& md = b2->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("llm_input_token").number_value(), 11);
  EXPECT_EQ(md.at("llm_output_token").number_value(), 4);
  EXPECT_EQ(md.at("llm_total_token").number_value(), 15);
  EXPECT_EQ(md.at("response_model").string_value(), "m-1");
}

// Envoy AI Gateway's token_latency_ttft / token_latency_itl (milliseconds), streams only.
// Lower bounds only: the test sleeps at least this long.
TEST_F(ProcessorTest, StreamedAnswersReportTokenLatencies) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  ASSERT_TRUE(Send(Body(true, R"({"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[]})", true)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream"}})).ok());
  ASSERT_TRUE(Send(Body(false, "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n", false)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  auto last = Send(Body(false,
                        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":5,\"total_tokens\":6}}\n\n"
                        "data: [DONE]\n\n",
                        true));
  ASSERT_TRUE(last.ok());
  const auto& md = last->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  ASSERT_TRUE(md.count("token_latency_ttft")) << last->DebugString();
  EXPECT_GE(md.at("token_latency_ttft").number_value(), 30.0);
  EXPECT_LT(md.at("token_latency_ttft").number_value(), 60000.0);
  EXPECT_GE(md.at("token_latency_itl").number_value(), 40.0 / 4);  // 40 ms over 5 - 1 tokens
}

TEST_F(ProcessorTest, BufferedAnswersReportNoTokenLatencies) {
  Forward();
  ASSERT_TRUE(Send(ResponseHeaders({{":status", "200"}, {"content-type", "application/json"}})).ok());
  auto b = Send(Body(false, R"({"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})", true));
  ASSERT_TRUE(b.ok());
  const auto& md = b->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("llm_total_token").number_value(), 3);
  EXPECT_EQ(md.count("token_latency_ttft"), 0u);
  EXPECT_EQ(md.count("token_latency_itl"), 0u);
}

TEST_F(ProcessorTest, WithoutCostsStreamOptionsAreNotAdded) {
  // A backend that rejects stream_options (old Azure api-versions, strict servers) is never
  // sent it unless costs need the usage.
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  auto r = Send(Body(true, R"({"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]})", true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->request_body().response().has_body_mutation()) << r->DebugString();
}

TEST_F(ProcessorTest, StreamsThatAskForUsageAreLeftAlone) {
  ASSERT_TRUE(Send(RequestHeaders(kPost)).ok());
  auto r = Send(Body(true,
                     R"({"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})",
                     true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->request_body().response().has_body_mutation()) << r->DebugString();
  ASSERT_TRUE(Send(ResponseHeaders({{":status", "200"}, {"content-type", "text/event-stream"}})).ok());
  const std::string usage_chunk =
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n";
  auto b = Send(Body(false, usage_chunk + "data: [DONE]\n\n", true));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->response_body().response().has_body_mutation()) << "the client's usage chunk passes unchanged";
  const auto& md = b->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("llm_total_token").number_value(), 2);
}

// Anthropic token counting through ext_proc: routed and signed like Messages, to the backend's
// count endpoint; the count comes back as the input tokens of the usage metadata.
TEST_F(ProcessorTest, CountTokensGoesToEachBackendsCountEndpoint) {
  struct Case {
    const char* model;
    const char* path;
    const char* answer;
  } cases[] = {
      {"claude-test", "/v1/messages/count_tokens", R"({"input_tokens":12})"},
      {"bedrock-test", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/count-tokens", R"({"inputTokens":12})"},
  };
  for (const Case& c : cases) {
    StreamProcessor p{LoadRuntime(), [] { return uint64_t{0}; }, ProcessorLimits{}};
    auto send = [&p](const pb::ProcessingRequest& in) -> absl::StatusOr<pb::ProcessingResponse> {
      pb::ProcessingResponse out;
      absl::StatusOr<bool> r = p.Process(in, &out);
      if (!r.ok()) return r.status();
      return out;
    };
    auto headers = kPost;
    headers[1].second = "/anthropic/v1/messages/count_tokens";
    ASSERT_TRUE(send(RequestHeaders(headers)).ok());
    auto r = send(Body(true, StrCat(R"({"model":")", c.model, R"(","messages":[{"role":"user","content":"count me"}]})"), true));
    ASSERT_TRUE(r.ok()) << c.model;
    ASSERT_TRUE(r->has_request_body()) << r->DebugString();
    std::map<std::string, std::string> set;
    for (const auto& o : r->request_body().response().header_mutation().set_headers()) set[o.header().key()] = o.header().raw_value();
    EXPECT_EQ(set[":path"], c.path) << c.model;
    EXPECT_TRUE(set.count("x-api-key") || set.count("authorization")) << "signed: " << c.model;
    ASSERT_TRUE(send(ResponseHeaders({{":status", "200"}, {"content-type", "application/json"}})).ok());
    auto b = send(Body(false, c.answer, true));
    ASSERT_TRUE(b.ok());
    std::string client = b->response_body().response().body_mutation().body();
    if (client.empty()) client = c.answer;  // unchanged
    EXPECT_EQ(client, R"({"input_tokens":12})") << c.model;
    const auto& md = b->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
    EXPECT_EQ(md.at("llm_input_token").number_value(), 12) << c.model;
  }
}

TEST_F(ProcessorTest, UsageMetadataInTheHeadersReplyWhenThereIsNoBody) {
  Forward();
  auto h = Send(ResponseHeaders({{":status", "200"}, {"content-type", "application/json"}}, true));
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->has_dynamic_metadata()) << h->DebugString();
  const auto& md = h->dynamic_metadata().fields().at(kMetadataNamespace).struct_value().fields();
  EXPECT_EQ(md.at("llm_total_token").number_value(), 0);
  EXPECT_EQ(md.at("backend_name").string_value(), "default/openai");
}

TEST_F(ProcessorTest, NoUsageMetadataForErrors) {
  Forward();
  ASSERT_TRUE(Send(ResponseHeaders({{":status", "500"}, {"content-type", "application/json"}})).ok());
  auto b = Send(Body(false, "{\"error\":{\"message\":\"x\"}}", true));
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_dynamic_metadata());
}

}  // namespace
}  // namespace sluice::extproc
