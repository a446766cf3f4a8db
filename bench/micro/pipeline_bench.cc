// sluice-pipeline-bench: CPU cost of one request through gateway::Pipeline, with no I/O,
// for the same-dialect path and each translated path, non-streamed and streamed. Every
// benchmark runs the whole lifecycle a driver runs: request headers, request body (route,
// translate, sign), response headers, response body (translate back, usage), on the same
// payloads bench/run.sh serves (bench/payloads). The translated/same-dialect ratios are
// printed at the end; they isolate the translators from the kernel and socket work that
// dominates bench/run.sh.
//
//   build/sluice-pipeline-bench [--benchmark_min_time=1] [--payloads DIR]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "compiler/resources/resources.h"
#include "gateway/pipeline.h"
#include "http/eventstream.h"
#include "json/json.h"

namespace sluice {
namespace {

std::string g_payloads = "bench/payloads";

std::string ReadFile(const std::string& name) {
  std::ifstream in(g_payloads + "/" + name, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s/%s (run from the repository root or pass --payloads DIR)\n",
                 g_payloads.c_str(), name.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr const char* kResources = R"(apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata: {name: bench}
spec:
  rules:
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: bench-model}]}]
      backendRefs: [{name: openai}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: bench-claude}]}]
      backendRefs: [{name: anthropic}]
    - matches: [{headers: [{type: Exact, name: x-ai-eg-model, value: bench-nova}]}]
      backendRefs: [{name: bedrock}]
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: openai}
spec: {schema: {name: OpenAI}, backendRef: {name: up, kind: Backend, group: gateway.envoyproxy.io}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: anthropic}
spec: {schema: {name: Anthropic}, backendRef: {name: up, kind: Backend, group: gateway.envoyproxy.io}}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIServiceBackend
metadata: {name: bedrock}
spec: {schema: {name: AWSBedrock}, backendRef: {name: up, kind: Backend, group: gateway.envoyproxy.io}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: up}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: 9}}]}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: openai-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: openai}]
  type: APIKey
  apiKey: {secretRef: {name: openai-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: openai-key}
stringData: {apiKey: sk-bench}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: anthropic-key}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: anthropic}]
  type: AnthropicAPIKey
  anthropicAPIKey: {secretRef: {name: anthropic-key}}
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-key}
stringData: {apiKey: sk-ant-bench}
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: BackendSecurityPolicy
metadata: {name: aws}
spec:
  targetRefs: [{group: aigateway.envoyproxy.io, kind: AIServiceBackend, name: bedrock}]
  type: AWSCredentials
  awsCredentials:
    region: us-east-1
    credentialsFile: {secretRef: {name: aws}}
---
apiVersion: v1
kind: Secret
metadata: {name: aws}
stringData:
  credentials: |
    [default]
    aws_access_key_id = AKIDBENCHEXAMPLE
    aws_secret_access_key = bench/secret/key/EXAMPLEKEY
)";

std::shared_ptr<const gateway::Runtime> BenchRuntime() {
  static std::shared_ptr<const gateway::Runtime> rt = [] {
    compiler::ResourceSet set;
    compiler::Diagnostics diags;
    compiler::ParseResources(kResources, "bench.yaml", &set, &diags);
    auto cfg = std::make_shared<config::Config>(compiler::BuildConfig(set, {}, &diags));
    if (diags.HasErrors()) {
      std::fprintf(stderr, "bench resources rejected\n");
      std::exit(2);
    }
    auto built = gateway::Runtime::Build(cfg);
    if (!built.ok()) {
      std::fprintf(stderr, "runtime: %s\n", std::string(built.status().message()).c_str());
      std::exit(2);
    }
    return *built;
  }();
  return rt;
}

// bench/payloads/bedrock_converse_stream.events.json as the binary AWS event stream.
std::string EncodeBedrockStream(const std::string& events_json) {
  auto doc = json::Parse(events_json);
  if (!doc.ok()) std::exit(2);
  std::string out;
  for (const json::Value& e : doc->items()) {
    out += http::EncodeEventStreamMessage(
        {http::EventStreamHeader::String(":event-type", e.Find("event")->as_string()),
         http::EventStreamHeader::String(":content-type", "application/json"),
         http::EventStreamHeader::String(":message-type", "event")},
        json::Serialize(*e.Find("payload")));
  }
  return out;
}

std::string WithModel(std::string body, std::string_view model, bool stream) {
  auto replace = [&](std::string_view from, std::string_view to) {
    size_t at = body.find(from);
    if (at == std::string::npos) std::exit(2);
    body.replace(at, from.size(), to);
  };
  replace("\"bench-model\"", std::string("\"") + std::string(model) + "\"");
  if (stream) replace("\"stream\":false", "\"stream\":true");
  return body;
}

struct Case {
  std::string request;
  std::string response;           // the upstream's body, whole
  std::string content_type;
  size_t chunk = 0;               // 0: not streamed; else fed in pieces of at most this size
                                  // (1 MiB: one piece, as bench/run.sh's upstream sends it)
};

std::map<std::string, Case>& Cases() {
  static std::map<std::string, Case> cases = [] {
    std::map<std::string, Case> c;
    std::string req = ReadFile("chat_request.json");
    c["openai"] = {WithModel(req, "bench-model", false), ReadFile("chat_response.json"), "application/json"};
    c["openai_stream"] = {WithModel(req, "bench-model", true), ReadFile("chat_stream_response.sse"),
                          "text/event-stream", 1 << 20};
    c["anthropic"] = {WithModel(req, "bench-claude", false), ReadFile("anthropic_response.json"),
                      "application/json"};
    c["anthropic_stream"] = {WithModel(req, "bench-claude", true), ReadFile("anthropic_stream_response.sse"),
                             "text/event-stream", 1 << 20};
    c["bedrock"] = {WithModel(req, "bench-nova", false), ReadFile("bedrock_converse_response.json"),
                    "application/json"};
    c["bedrock_stream"] = {WithModel(req, "bench-nova", true),
                           EncodeBedrockStream(ReadFile("bedrock_converse_stream.events.json")),
                           "application/vnd.amazon.eventstream", 1 << 20};
    return c;
  }();
  return cases;
}

void Lifecycle(benchmark::State& state, const std::string& name) {
  const Case& c = Cases().at(name);
  auto rt = BenchRuntime();
  http::HeaderMap req_headers;
  req_headers.Add("host", "localhost:1975");
  req_headers.Add("content-type", "application/json");
  req_headers.Add("authorization", "Bearer client-token");
  req_headers.Add("user-agent", "wrk");
  req_headers.Add("content-length", std::to_string(c.request.size()));
  http::HeaderMap resp_headers;
  resp_headers.Add("content-type", c.content_type);
  resp_headers.Add("date", "Mon, 30 Nov 2026 05:00:00 GMT");
  if (c.chunk == 0) resp_headers.Add("content-length", std::to_string(c.response.size()));
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    gateway::Pipeline pipe(rt, [] { return uint64_t{0}; });
    if (pipe.OnRequestHeaders("POST", "/v1/chat/completions", req_headers)) {
      state.SkipWithError("answered locally");
      return;
    }
    gateway::Decision d = pipe.OnRequestBody(c.request);
    auto* up = std::get_if<gateway::UpstreamRequest>(&d);
    if (!up) {
      state.SkipWithError(std::get<gateway::ImmediateResponse>(d).body.c_str());
      return;
    }
    benchmark::DoNotOptimize(up->body);
    http::HeaderMutation m = pipe.OnResponseHeaders(200, resp_headers);
    benchmark::DoNotOptimize(m);
    out.clear();
    std::string_view rest = c.response;
    absl::Status st;
    if (c.chunk == 0) {
      st = pipe.OnResponseBody(rest, true, &out);
    } else {
      while (st.ok() && !rest.empty()) {
        size_t n = std::min(c.chunk, rest.size());
        st = pipe.OnResponseBody(rest.substr(0, n), n == rest.size(), &out);
        rest.remove_prefix(n);
      }
    }
    if (!st.ok()) {
      state.SkipWithError(std::string(st.message()).c_str());
      return;
    }
    bytes += out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["out_bytes"] = benchmark::Counter(static_cast<double>(bytes) / state.iterations());
}

void JsonParse(benchmark::State& state, const std::string& file) {
  std::string text = ReadFile(file);
  for (auto _ : state) {
    auto v = json::Parse(text);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void JsonRoundTrip(benchmark::State& state, const std::string& file) {
  std::string text = ReadFile(file);
  auto v = json::Parse(text);
  std::string out;
  for (auto _ : state) {
    out.clear();
    json::SerializeTo(*v, &out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}

}  // namespace
}  // namespace sluice

int main(int argc, char** argv) {
  // SLUICE_BENCH_ITERATIONS=N: a fixed number of lifecycles per benchmark, for instruction
  // counts under `valgrind --tool=callgrind` (deterministic where timings on a shared machine
  // are not; see bench/README.md).
  int64_t iterations = 0;
  if (const char* env = std::getenv("SLUICE_BENCH_ITERATIONS")) iterations = std::atoll(env);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--payloads") {
      sluice::g_payloads = argv[i + 1];
      for (int j = i; j + 2 < argc + 1; ++j) argv[j] = argv[j + 2];
      argc -= 2;
      break;
    }
  }
  for (const char* name : {"openai", "anthropic", "bedrock", "openai_stream", "anthropic_stream", "bedrock_stream"}) {
    std::string n = name;
    auto* b = benchmark::RegisterBenchmark(("lifecycle/" + n).c_str(),
                                           [n](benchmark::State& s) { sluice::Lifecycle(s, n); });
    if (iterations > 0) b->Iterations(iterations);
  }
  for (const char* f : {"chat_request.json", "anthropic_response.json"}) {
    std::string n = f;
    benchmark::RegisterBenchmark(("json_parse/" + n).c_str(), [n](benchmark::State& s) { sluice::JsonParse(s, n); });
    benchmark::RegisterBenchmark(("json_serialize/" + n).c_str(),
                                 [n](benchmark::State& s) { sluice::JsonRoundTrip(s, n); });
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
