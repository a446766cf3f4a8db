// sluice-extproc-load: a load generator for an ext_proc server (sluice extproc), playing
// Envoy's router-level ext_proc filter for one non-streamed chat completion per gRPC stream,
// many streams at once. One "lifecycle" is what Envoy does for one such request
// (processing_mode request/response headers SEND, bodies BUFFERED, trailers SKIP):
//
//   request_headers  (:method POST, :path /v1/chat/completions, :authority, :scheme,
//                     content-type, content-length)          -> request_headers reply
//   request_body     (the request JSON, end_of_stream)        -> request_body reply whose
//                     header_mutation sets :path and x-ai-eg-selected-backend
//   response_headers (:status 200, content-type application/json, content-length)
//                                                             -> response_headers reply
//   response_body    (the canned provider answer, end_of_stream) -> response_body reply; the
//                     body the client would get (the body_mutation, else the answer as sent)
//                     must be a chat.completion holding --expect-text
//   half-close, Finish: the server must end the stream with OK.
//
// Any other reply (an immediate_response included), a failed write/read, a non-OK status or
// a timeout is a protocol error: the run stops starting lifecycles, drains, prints its
// summary and exits 1. Exit 2: bad options, unreadable files, server not reachable.
//
// Output (stdout): one JSON line shaped like bench/lib/post.lua's wrk summary
//   {"requests":N,"duration_us":D,"rps":R,"bytes":B,"errors":{...},"latency_us":{...},
//    "verified":N,...}
// latency_us is the full lifecycle (StartCall to Finish), in microseconds.
//
// gRPC async API: --threads threads, each polling its own CompletionQueue and keeping its
// share of --concurrency lifecycles in flight (a finished one starts the next). One
// lifecycle has exactly one operation outstanding at a time, so the state machine is a
// straight line. All streams share --channels HTTP/2 connections (default 1, as one Envoy
// worker would use).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"

namespace {

namespace pb = ::envoy::service::ext_proc::v3;
using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientAsyncReaderWriter<pb::ProcessingRequest, pb::ProcessingResponse>;

// bench/payloads/chat_request.json with the model left to --model.
constexpr const char* kDefaultRequest =
    R"({"model":"bench-model","messages":[{"role":"system","content":"You are a concise assistant."},)"
    R"({"role":"user","content":"Say hello to the load benchmark in one short sentence."}],)"
    R"("temperature":0.2,"max_tokens":64,"stream":false})";

struct Options {
  std::string server = "127.0.0.1:1063";
  int concurrency = 64;
  double duration_s = 10;
  int64_t max_requests = 0;  // 0 = until --duration
  int threads = 1;
  int channels = 1;
  double timeout_s = 5;
  double connect_timeout_s = 10;
  std::string model;
  std::string request_file;
  std::string response_file;
  std::string expect_text;
  std::string expect_path;
  std::string expect_backend;
  std::string authority = "gateway.local";
  std::string path = "/v1/chat/completions";
};

// What every lifecycle sends and expects: built once, read-only while the load runs.
struct Script {
  pb::ProcessingRequest request_headers, request_body, response_headers, response_body;
  std::string response_text;  // the canned answer as sent
  const Options* opts = nullptr;
};

void AddHeader(pb::HttpHeaders* h, const std::string& k, const std::string& v) {
  auto* hv = h->mutable_headers()->add_headers();
  hv->set_key(k);
  hv->set_raw_value(v);  // Envoy 1.27+ sends raw_value
}

Script BuildScript(const Options& o, const std::string& body, const std::string& answer) {
  Script s;
  s.opts = &o;
  s.response_text = answer;
  auto* rh = s.request_headers.mutable_request_headers();
  AddHeader(rh, ":authority", o.authority);
  AddHeader(rh, ":path", o.path);
  AddHeader(rh, ":method", "POST");
  AddHeader(rh, ":scheme", "http");
  AddHeader(rh, "content-type", "application/json");
  AddHeader(rh, "content-length", std::to_string(body.size()));
  AddHeader(rh, "x-forwarded-proto", "http");
  AddHeader(rh, "x-request-id", "00000000-0000-4000-8000-000000000000");
  rh->set_end_of_stream(false);
  auto* rb = s.request_body.mutable_request_body();
  rb->set_body(body);
  rb->set_end_of_stream(true);
  auto* ph = s.response_headers.mutable_response_headers();
  AddHeader(ph, ":status", "200");
  AddHeader(ph, "content-type", "application/json");
  AddHeader(ph, "content-length", std::to_string(answer.size()));
  ph->set_end_of_stream(false);
  auto* pbody = s.response_body.mutable_response_body();
  pbody->set_body(answer);
  pbody->set_end_of_stream(true);
  return s;
}

const char* ReplyKind(const pb::ProcessingResponse& r) {
  switch (r.response_case()) {
    case pb::ProcessingResponse::kRequestHeaders: return "request_headers";
    case pb::ProcessingResponse::kResponseHeaders: return "response_headers";
    case pb::ProcessingResponse::kRequestBody: return "request_body";
    case pb::ProcessingResponse::kResponseBody: return "response_body";
    case pb::ProcessingResponse::kRequestTrailers: return "request_trailers";
    case pb::ProcessingResponse::kResponseTrailers: return "response_trailers";
    case pb::ProcessingResponse::kImmediateResponse: return "immediate_response";
    default: return "empty";
  }
}

std::string Clip(const std::string& s, size_t n = 300) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

// Empty when `r` is the reply Envoy expects for `expected`, else what is wrong.
std::string CheckKind(const pb::ProcessingResponse& r, pb::ProcessingResponse::ResponseCase expected,
                      const char* expected_name) {
  if (r.response_case() == expected) return "";
  std::string why = std::string("expected a ") + expected_name + " reply, got " + ReplyKind(r);
  if (r.has_immediate_response()) {
    const auto& ir = r.immediate_response();
    why += " (status " + std::to_string(static_cast<int>(ir.status().code())) + ", body " +
           Clip(ir.body()) + ")";
  }
  return why;
}

std::string CheckCommon(const pb::CommonResponse& c, const char* what) {
  if (c.status() != pb::CommonResponse::CONTINUE) {
    return std::string(what) + " reply status is not CONTINUE";
  }
  return "";
}

std::string CheckRequestBody(const pb::ProcessingResponse& r, const Options& o) {
  const auto& c = r.request_body().response();
  if (auto e = CheckCommon(c, "request_body"); !e.empty()) return e;
  const std::string *path = nullptr, *backend = nullptr;
  for (const auto& opt : c.header_mutation().set_headers()) {
    const auto& h = opt.header();
    const std::string& v = h.raw_value().empty() ? h.value() : h.raw_value();
    if (h.key() == ":path") path = &v;
    if (h.key() == "x-ai-eg-selected-backend") backend = &v;
  }
  if (!path) return "request_body reply sets no :path";
  if (!backend) return "request_body reply sets no x-ai-eg-selected-backend";
  if (!o.expect_path.empty() && *path != o.expect_path) {
    return "request_body reply sets :path " + *path + ", expected " + o.expect_path;
  }
  if (!o.expect_backend.empty() && *backend != o.expect_backend) {
    return "request_body reply sets x-ai-eg-selected-backend " + *backend + ", expected " + o.expect_backend;
  }
  return "";
}

std::string CheckResponseBody(const pb::ProcessingResponse& r, const Script& s) {
  const auto& c = r.response_body().response();
  if (auto e = CheckCommon(c, "response_body"); !e.empty()) return e;
  const std::string& out =
      c.has_body_mutation() && c.body_mutation().mutation_case() == pb::BodyMutation::kBody
          ? c.body_mutation().body()
          : s.response_text;
  if (c.has_body_mutation() && c.body_mutation().mutation_case() == pb::BodyMutation::kClearBody &&
      c.body_mutation().clear_body()) {
    return "response_body reply clears the body";
  }
  if (out.find("\"chat.completion\"") == std::string::npos) {
    return "the client would not get a chat.completion: " + Clip(out);
  }
  if (!s.opts->expect_text.empty() && out.find(s.opts->expect_text) == std::string::npos) {
    return "the client's answer lacks the expected text: " + Clip(out);
  }
  return "";
}

// Per-thread results, merged at the end.
struct Stats {
  int64_t requests = 0;
  int64_t bytes = 0;
  int64_t protocol_errors = 0;  // wrong reply, broken stream, non-OK status
  int64_t timeouts = 0;         // DEADLINE_EXCEEDED
  std::vector<uint32_t> latency_us;
  std::string first_error;
};

struct Shared {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> started{0};
  int64_t max_requests = 0;
  Clock::time_point deadline;
  bool TakeTicket() {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (Clock::now() >= deadline) return false;
    if (max_requests > 0 && started.fetch_add(1, std::memory_order_relaxed) >= max_requests) return false;
    return true;
  }
};

class Lifecycle {
 public:
  enum class Step {
    kStart, kWriteReqHeaders, kReadReqHeaders, kWriteReqBody, kReadReqBody, kWriteRespHeaders,
    kReadRespHeaders, kWriteRespBody, kReadRespBody, kWritesDone, kFinish,
  };

  Lifecycle(pb::ExternalProcessor::Stub& stub, grpc::CompletionQueue* cq, const Script& s,
            double timeout_s)
      : script_(s), start_(Clock::now()) {
    ctx_.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6)));
    stream_ = stub.PrepareAsyncProcess(&ctx_, cq);
    step_ = Step::kStart;
    stream_->StartCall(this);
  }

  // Advances on a completed operation. Returns true when the lifecycle is over (result in
  // `stats`); the caller deletes it.
  bool OnEvent(bool ok, Stats& stats) {
    if (!ok && step_ != Step::kFinish && step_ != Step::kWritesDone) {
      Fail(std::string("the stream broke at ") + StepName(step_));
      return false;
    }
    switch (step_) {
      case Step::kStart: Write(script_.request_headers, Step::kWriteReqHeaders); return false;
      case Step::kWriteReqHeaders: Read(Step::kReadReqHeaders); return false;
      case Step::kReadReqHeaders:
        stats.bytes += static_cast<int64_t>(reply_.ByteSizeLong());
        if (!Expect(CheckKind(reply_, pb::ProcessingResponse::kRequestHeaders, "request_headers"))) return false;
        if (!Expect(CheckCommon(reply_.request_headers().response(), "request_headers"))) return false;
        Write(script_.request_body, Step::kWriteReqBody);
        return false;
      case Step::kWriteReqBody: Read(Step::kReadReqBody); return false;
      case Step::kReadReqBody:
        stats.bytes += static_cast<int64_t>(reply_.ByteSizeLong());
        if (!Expect(CheckKind(reply_, pb::ProcessingResponse::kRequestBody, "request_body"))) return false;
        if (!Expect(CheckRequestBody(reply_, *script_.opts))) return false;
        Write(script_.response_headers, Step::kWriteRespHeaders);
        return false;
      case Step::kWriteRespHeaders: Read(Step::kReadRespHeaders); return false;
      case Step::kReadRespHeaders:
        stats.bytes += static_cast<int64_t>(reply_.ByteSizeLong());
        if (!Expect(CheckKind(reply_, pb::ProcessingResponse::kResponseHeaders, "response_headers"))) return false;
        if (!Expect(CheckCommon(reply_.response_headers().response(), "response_headers"))) return false;
        Write(script_.response_body, Step::kWriteRespBody);
        return false;
      case Step::kWriteRespBody: Read(Step::kReadRespBody); return false;
      case Step::kReadRespBody:
        stats.bytes += static_cast<int64_t>(reply_.ByteSizeLong());
        if (!Expect(CheckKind(reply_, pb::ProcessingResponse::kResponseBody, "response_body"))) return false;
        if (!Expect(CheckResponseBody(reply_, script_))) return false;
        step_ = Step::kWritesDone;
        stream_->WritesDone(this);  // half-close, as Envoy does when the request is done
        return false;
      case Step::kWritesDone:
        // ok == false: the server already ended the stream; Finish tells how.
        step_ = Step::kFinish;
        stream_->Finish(&status_, this);
        return false;
      case Step::kFinish:
        Done(stats);
        return true;
    }
    return false;
  }

 private:
  static const char* StepName(Step s) {
    switch (s) {
      case Step::kStart: return "start (connect)";
      case Step::kWriteReqHeaders: return "writing request_headers";
      case Step::kReadReqHeaders: return "reading the request_headers reply";
      case Step::kWriteReqBody: return "writing request_body";
      case Step::kReadReqBody: return "reading the request_body reply";
      case Step::kWriteRespHeaders: return "writing response_headers";
      case Step::kReadRespHeaders: return "reading the response_headers reply";
      case Step::kWriteRespBody: return "writing response_body";
      case Step::kReadRespBody: return "reading the response_body reply";
      case Step::kWritesDone: return "half-close";
      case Step::kFinish: return "finish";
    }
    return "?";
  }

  void Write(const pb::ProcessingRequest& m, Step next) {
    step_ = next;
    stream_->Write(m, this);
  }
  void Read(Step next) {
    step_ = next;
    reply_.Clear();
    stream_->Read(&reply_, this);
  }
  // On a wrong reply: cancel the stream and collect its status (Finish), failing the lifecycle.
  bool Expect(const std::string& error) {
    if (error.empty()) return true;
    Fail(error);
    return false;
  }
  void Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    step_ = Step::kFinish;
    ctx_.TryCancel();
    stream_->Finish(&status_, this);
  }
  void Done(Stats& stats) {
    if (error_.empty() && !status_.ok()) {
      error_ = "the server ended the stream with status " + std::to_string(status_.error_code()) +
               ": " + status_.error_message();
    }
    if (!error_.empty()) {
      if (status_.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) ++stats.timeouts;
      else ++stats.protocol_errors;
      if (stats.first_error.empty()) {
        stats.first_error = error_;
        if (!status_.ok() && error_.find("status") == std::string::npos) {
          stats.first_error += " (stream status " + std::to_string(status_.error_code()) + ": " +
                               status_.error_message() + ")";
        }
      }
      return;
    }
    ++stats.requests;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count();
    stats.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
  }

  const Script& script_;
  Clock::time_point start_;
  grpc::ClientContext ctx_;
  std::unique_ptr<Stream> stream_;
  pb::ProcessingResponse reply_;
  grpc::Status status_;
  Step step_;
  std::string error_;
};

void Worker(std::vector<std::unique_ptr<pb::ExternalProcessor::Stub>>& stubs, int first_stub,
            int slots, const Script& script, const Options& o, Shared& shared, Stats& stats) {
  grpc::CompletionQueue cq;
  int in_flight = 0, next_stub = first_stub;
  auto start_one = [&] {
    if (!shared.TakeTicket()) return;
    auto& stub = *stubs[next_stub];
    next_stub = (next_stub + 1) % static_cast<int>(stubs.size());
    new Lifecycle(stub, &cq, script, o.timeout_s);
    ++in_flight;
  };
  for (int i = 0; i < slots; ++i) start_one();
  void* tag;
  bool ok;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    auto* l = static_cast<Lifecycle*>(tag);
    if (!l->OnEvent(ok, stats)) continue;
    delete l;
    --in_flight;
    if (!stats.first_error.empty()) shared.stop.store(true);
    start_one();
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Load generator for an ext_proc server: Envoy's router-level filter, one "
               "non-streamed chat completion per gRPC stream, many streams at once"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // later wins
  app.add_option("--server", o.server, "ext_proc server: host:port or unix:PATH")->capture_default_str();
  app.add_option("-c,--concurrency", o.concurrency, "lifecycles (streams) in flight")
      ->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("-d,--duration", o.duration_s, "seconds to start lifecycles for (in-flight ones then finish)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("-n,--requests", o.max_requests, "stop after this many lifecycles (0: run for --duration)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", o.threads, "client threads, one CompletionQueue each")
      ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--channels", o.channels, "HTTP/2 connections to the server")
      ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--timeout", o.timeout_s, "seconds per lifecycle; exceeding it is an error")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--connect-timeout", o.connect_timeout_s, "seconds to wait for the server")
      ->capture_default_str();
  app.add_option("--model", o.model, "the request's model (replaces the \"model\" of the request body)");
  app.add_option("--request-file", o.request_file,
                 "the client's request JSON (default: bench/payloads/chat_request.json's content)");
  app.add_option("--response-file", o.response_file,
                 "the provider's canned answer (application/json) the upstream returns")->required();
  app.add_option("--expect-text", o.expect_text, "text the client's answer must contain");
  app.add_option("--expect-path", o.expect_path, ":path the request_body reply must set (e.g. /v1/messages)");
  app.add_option("--expect-backend", o.expect_backend,
                 "x-ai-eg-selected-backend the request_body reply must set (e.g. default/anthropic)");
  app.add_option("--authority", o.authority, "the client's :authority")->capture_default_str();
  app.add_option("--path", o.path, "the client's :path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string body = kDefaultRequest, answer;
  if (!o.request_file.empty() && !ReadFile(o.request_file, &body)) {
    std::cerr << "cannot read " << o.request_file << "\n";
    return 2;
  }
  if (!o.model.empty()) {
    static const std::regex kModel(R"("model"\s*:\s*"[^"]*")");
    if (!std::regex_search(body, kModel)) {
      std::cerr << "--model: the request body has no \"model\" string\n";
      return 2;
    }
    body = std::regex_replace(body, kModel, "\"model\":\"" + o.model + "\"",
                              std::regex_constants::format_first_only);
  }
  if (!ReadFile(o.response_file, &answer)) {
    std::cerr << "cannot read " << o.response_file << "\n";
    return 2;
  }
  Script script = BuildScript(o, body, answer);

  // Distinct channel args, so each channel gets its own connection (subchannels are shared
  // between channels with equal arguments).
  std::vector<std::unique_ptr<pb::ExternalProcessor::Stub>> stubs;
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(o.connect_timeout_s * 1e6));
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("sluice.extproc_load.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    auto channel = grpc::CreateCustomChannel(o.server, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(deadline)) {
      std::cerr << "cannot connect to the ext_proc server at " << o.server << " within "
                << o.connect_timeout_s << " s\n";
      return 2;
    }
    stubs.push_back(pb::ExternalProcessor::NewStub(channel));
  }

  Shared shared;
  shared.max_requests = o.max_requests;
  int threads = std::min(o.threads, o.concurrency);
  std::vector<Stats> stats(threads);
  std::vector<std::thread> workers;
  auto t0 = Clock::now();
  shared.deadline = o.max_requests > 0 ? Clock::time_point::max()
                                       : t0 + std::chrono::microseconds(static_cast<int64_t>(o.duration_s * 1e6));
  for (int i = 0; i < threads; ++i) {
    int slots = o.concurrency / threads + (i < o.concurrency % threads ? 1 : 0);
    workers.emplace_back(Worker, std::ref(stubs), i % o.channels, slots, std::cref(script), std::cref(o),
                         std::ref(shared), std::ref(stats[i]));
  }
  for (auto& w : workers) w.join();
  auto elapsed_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();

  Stats all;
  for (auto& s : stats) {
    all.requests += s.requests;
    all.bytes += s.bytes;
    all.protocol_errors += s.protocol_errors;
    all.timeouts += s.timeouts;
    all.latency_us.insert(all.latency_us.end(), s.latency_us.begin(), s.latency_us.end());
    if (all.first_error.empty()) all.first_error = s.first_error;
  }
  std::sort(all.latency_us.begin(), all.latency_us.end());
  auto pct = [&](double p) -> uint64_t {
    if (all.latency_us.empty()) return 0;
    size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(all.latency_us.size())));
    return all.latency_us[std::min(all.latency_us.size() - 1, i == 0 ? 0 : i - 1)];
  };
  double mean = 0, var = 0;
  for (uint32_t v : all.latency_us) mean += v;
  if (!all.latency_us.empty()) mean /= static_cast<double>(all.latency_us.size());
  for (uint32_t v : all.latency_us) var += (v - mean) * (v - mean);
  double stdev = all.latency_us.size() > 1 ? std::sqrt(var / static_cast<double>(all.latency_us.size() - 1)) : 0;
  int64_t errors = all.protocol_errors + all.timeouts;

  std::printf(
      "{\"requests\":%" PRId64 ",\"duration_us\":%" PRId64 ",\"rps\":%.1f,\"bytes\":%" PRId64
      ",\"errors\":{\"connect\":0,\"read\":0,\"write\":0,\"status\":%" PRId64 ",\"timeout\":%" PRId64
      ",\"total\":%" PRId64 "},"
      "\"latency_us\":{\"min\":%" PRIu64 ",\"mean\":%.1f,\"stdev\":%.1f,\"max\":%" PRIu64 ",\"p50\":%" PRIu64
      ",\"p75\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 "},"
      "\"verified\":%" PRId64 ",\"concurrency\":%d,\"threads\":%d,\"channels\":%d,\"server\":\"%s\"%s%s%s}\n",
      all.requests, static_cast<int64_t>(elapsed_us),
      elapsed_us > 0 ? static_cast<double>(all.requests) * 1e6 / static_cast<double>(elapsed_us) : 0.0,
      all.bytes, all.protocol_errors, all.timeouts, errors,
      all.latency_us.empty() ? uint64_t{0} : uint64_t{all.latency_us.front()}, mean, stdev,
      all.latency_us.empty() ? uint64_t{0} : uint64_t{all.latency_us.back()}, pct(50), pct(75), pct(90),
      pct(99), pct(99.9), all.requests, o.concurrency, threads, o.channels, JsonEscape(o.server).c_str(),
      all.first_error.empty() ? "" : ",\"first_error\":\"",
      all.first_error.empty() ? "" : JsonEscape(all.first_error).c_str(), all.first_error.empty() ? "" : "\"");
  std::fflush(stdout);
  if (errors > 0) {
    std::cerr << "sluice-extproc-load: " << errors << " failed lifecycle(s); first: " << all.first_error << "\n";
    return 1;
  }
  if (all.requests == 0) {
    std::cerr << "sluice-extproc-load: no lifecycle completed\n";
    return 1;
  }
  return 0;
}
