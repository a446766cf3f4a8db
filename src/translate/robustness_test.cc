// Deterministic mutation ("fuzz") tests over every translator in BuiltinRegistry(): each
// (endpoint, client dialect, backend schema) it holds gets requests, buffered answers, streams
// and error answers derived from the golden fixtures of all directions (plus a few hand-written
// seeds), mutated byte-wise and structurally, and checks invariants a gateway depends on:
//   - TranslateRequest: InvalidArgument with a message, or a path the proxy can send and a
//     JSON object body (UTF-8 in, UTF-8 out); the same request twice gives the same result.
//   - TranslateResponseBody (buffered): an error with a message, or the client's dialect (an
//     OpenAI chat.completion / embeddings list, an Anthropic message, a token count); a
//     same-dialect passthrough hands the bytes on unchanged.
//   - TranslateResponseBody (streamed, fed whole and in random pieces down to single bytes):
//     every call ends on an event boundary (WholeEvents), every event is JSON (or [DONE]) in
//     the client's dialect, with exactly one terminal event at the end once StreamError() is
//     appended after a failure; the split does not change the output.
//   - TranslateError: a status the client understands and an error body in its dialect.
// A case that runs longer than kWatchdogSeconds aborts with its description (no translator
// may loop forever).
//
// Reproducing: failures print the phase, translator, iteration, case seed and the input.
// SLUICE_FUZZ_SEED=<n> changes the base seed; SLUICE_FUZZ_ITERATIONS=<n> sets iterations per
// translator and phase (default kDefaultIterations; raise it under sanitizers to search
// harder); SLUICE_FUZZ_ONLY=<phase>:<translator index>:<iteration> runs one case.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/assert.h"
#include "common/strings.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "gtest/gtest.h"
#include "http/eventstream.h"
#include "http/headers.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate {
namespace {

namespace fs = std::filesystem;
using json::Value;

constexpr uint64_t kDefaultSeed = 0x5eed'51ce'0000'0001ull;
constexpr int kDefaultIterations = 1000;
constexpr int kWatchdogSeconds = 60;
// Mutations that grow an input past this start again from the seed: big inputs test nothing
// new and make the run slow.
constexpr size_t kMaxInputBytes = 256u << 10;

// ------------------------------------------------------------------------------ settings

uint64_t BaseSeed() {
  const char* v = std::getenv("SLUICE_FUZZ_SEED");
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : kDefaultSeed;
}

int Iterations() {
  const char* v = std::getenv("SLUICE_FUZZ_ITERATIONS");
  int n = v != nullptr && *v != '\0' ? std::atoi(v) : kDefaultIterations;
  return n > 0 ? n : kDefaultIterations;
}

enum class Phase { kRequest = 1, kAnswer = 2, kStream = 3, kError = 4 };

std::string_view PhaseName(Phase p) {
  switch (p) {
    case Phase::kRequest: return "request";
    case Phase::kAnswer: return "answer";
    case Phase::kStream: return "stream";
    case Phase::kError: return "error";
  }
  return "?";
}

// SLUICE_FUZZ_ONLY=<phase>:<translator>:<iteration>: true when this case should run.
bool Selected(Phase p, size_t combo, int iter) {
  const char* v = std::getenv("SLUICE_FUZZ_ONLY");
  if (v == nullptr || *v == '\0') return true;
  return std::string(v) == StrCat(PhaseName(p), ":", combo, ":", iter);
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t CaseSeed(Phase p, size_t combo, int iter) {
  uint64_t h = SplitMix(BaseSeed());
  h = SplitMix(h ^ static_cast<uint64_t>(p));
  h = SplitMix(h ^ combo);
  return SplitMix(h ^ static_cast<uint64_t>(iter));
}

// Aborts the process, saying which case, when one case runs too long: a translator that loops
// forever must fail the test, not hang it.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Begin(std::string what) {
    std::lock_guard<std::mutex> l(mu_);
    Lap();
    what_ = std::move(what);
    started_ = std::chrono::steady_clock::now();
  }
  // Ends the current case; returns the slowest since the last call, for the log.
  std::string Slowest() {
    std::lock_guard<std::mutex> l(mu_);
    Lap();
    what_.clear();
    std::string out = slowest_.empty() ? "" : StrCat(slowest_ms_, " ms ", StripWhitespace(slowest_));
    slowest_ms_ = 0;
    slowest_.clear();
    return out;
  }

 private:
  void Lap() {  // REQUIRES: mu_ held
    if (what_.empty()) return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_).count();
    if (ms >= slowest_ms_) {
      slowest_ms_ = ms;
      slowest_ = what_;
    }
  }
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      cv_.wait_for(l, std::chrono::milliseconds(200));
      if (!what_.empty() && std::chrono::steady_clock::now() - started_ > std::chrono::seconds(kWatchdogSeconds)) {
        std::fprintf(stderr, "robustness_test: case still running after %d s (a loop?): %s\n", kWatchdogSeconds,
                     what_.c_str());
        std::abort();
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point started_;
  int64_t slowest_ms_ = 0;
  std::string slowest_;
  std::thread thread_;
};

Watchdog& Dog() {
  static Watchdog* w = new Watchdog();  // lives for the whole process
  return *w;
}

// ------------------------------------------------------------------------------ helpers

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const fs::path& Root() {  // src/translate (CMake compiles absolute paths)
  static const fs::path root = fs::path(__FILE__).parent_path();
  return root;
}

// Files in Root()/dir whose names start with `prefix` and end with `suffix`, sorted.
std::vector<fs::path> Files(std::string_view dir, std::string_view prefix, std::string_view suffix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(Root() / dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() >= prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

// The deepest nesting of arrays and objects in a JSON text (strings skipped).
int NestingDepth(std::string_view s) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\') ++i;
      else if (ch == '"') in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      max = std::max(max, ++depth);
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return max;
}

// A C-escaped excerpt of `s` for failure messages (pasteable into a regression test).
std::string Escaped(std::string_view s, size_t max = 1500) {
  std::string out;
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
          // A hex escape swallows following hex digits: close the literal.
          if (i + 1 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))) out += "\" \"";
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  if (s.size() > max) StrAppend(&out, "...(", s.size(), " bytes)");
  return out;
}

// `s` with what may differ between two runs of the same answer masked: the clock
// ("created") and ids numbered per factory (Gemini's "chatcmpl-<n>" and "call_<i>_<n>"
// without a responseId).
std::string MaskRunDependent(std::string_view s) {
  std::string out;
  if (s.find("chatcmpl-") == std::string_view::npos && s.find("\"created\":") == std::string_view::npos &&
      s.find("call_") == std::string_view::npos) {
    return std::string(s);
  }
  out.reserve(s.size());
  auto digits_at = [&s](size_t i) {
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    return j - i;
  };
  size_t i = 0;
  while (i < s.size()) {
    size_t skip = 0;
    for (std::string_view prefix : {std::string_view("\"created\":"), std::string_view("chatcmpl-")}) {
      if (s.substr(i, prefix.size()) == prefix && digits_at(i + prefix.size()) > 0) skip = prefix.size();
    }
    if (skip == 0 && s.substr(i, 5) == "call_") {
      size_t n = digits_at(i + 5);
      if (n > 0 && i + 5 + n < s.size() && s[i + 5 + n] == '_' && digits_at(i + 6 + n) > 0) skip = 6 + n;
    }
    if (skip == 0) {
      out.push_back(s[i++]);
      continue;
    }
    out.append(s.substr(i, skip)).push_back('#');
    i += skip;
    i += digits_at(i);
  }
  return out;
}

// ------------------------------------------------------------------------------ translators

constexpr config::ApiSchema kSchemas[] = {
    config::ApiSchema::kOpenAI,       config::ApiSchema::kAzureOpenAI, config::ApiSchema::kAWSBedrock,
    config::ApiSchema::kAWSAnthropic, config::ApiSchema::kGCPVertexAI, config::ApiSchema::kGCPAnthropic,
    config::ApiSchema::kAnthropic,    config::ApiSchema::kCohere,
};
constexpr Endpoint kEndpoints[] = {Endpoint::kChatCompletions, Endpoint::kCompletions, Endpoint::kEmbeddings,
                                   Endpoint::kMessages, Endpoint::kCountTokens};

// How a translator treats the provider's answer, which decides what can be asserted on it.
enum class Contract {
  kTranslate,     // the answer is rewritten into the client's dialect
  kRelay,         // same dialect: the provider's bytes are handed on (streams: whole events)
  kUnwrapEvents,  // Anthropic events out of Bedrock's InvokeModel frames, each handed on as is
};

struct Combo {
  Endpoint endpoint;
  Dialect from;
  config::ApiSchema to;
  const TranslatorFactory* factory;

  std::string Name() const {
    return StrCat(from == Dialect::kOpenAI ? "OpenAI " : "Anthropic ", EndpointName(endpoint), " -> ",
                  config::SchemaName(to));
  }
  bool SameDialect() const {
    if (from == Dialect::kOpenAI) return to == config::ApiSchema::kOpenAI || to == config::ApiSchema::kAzureOpenAI;
    return to == config::ApiSchema::kAnthropic || to == config::ApiSchema::kGCPAnthropic ||
           to == config::ApiSchema::kAWSAnthropic;
  }
  Contract AnswerContract() const {
    if (endpoint == Endpoint::kCountTokens) return Contract::kTranslate;  // checked as a count
    return SameDialect() ? Contract::kRelay : Contract::kTranslate;
  }
  Contract StreamContract() const {
    if (from == Dialect::kAnthropic && to == config::ApiSchema::kAWSAnthropic) return Contract::kUnwrapEvents;
    return SameDialect() ? Contract::kRelay : Contract::kTranslate;
  }
  bool Streams() const { return endpoint != Endpoint::kEmbeddings && endpoint != Endpoint::kCountTokens; }
  bool EventStream() const {
    return to == config::ApiSchema::kAWSBedrock || to == config::ApiSchema::kAWSAnthropic;
  }
};

// Every translator the registry holds, in a fixed order (the index in failure messages).
const std::vector<Combo>& Combos() {
  static const auto* combos = [] {
    auto* out = new std::vector<Combo>();
    for (Endpoint e : kEndpoints) {
      for (Dialect d : {Dialect::kOpenAI, Dialect::kAnthropic}) {
        for (config::ApiSchema s : kSchemas) {
          if (const TranslatorFactory* f = BuiltinRegistry().Find(e, d, s)) out->push_back({e, d, s, f});
        }
      }
    }
    return out;
  }();
  return *combos;
}

// One backend per schema, configured as a working deployment would be. Translators keep a
// reference: these live for the whole process.
const config::Backend& BackendFor(config::ApiSchema s) {
  static const auto* backends = [] {
    auto* m = new std::map<config::ApiSchema, config::Backend>();
    for (config::ApiSchema schema : kSchemas) {
      config::Backend b;
      b.name = StrCat("default/", config::SchemaName(schema));
      b.schema = schema;
      switch (schema) {
        case config::ApiSchema::kAzureOpenAI: b.schema_version = "2024-10-21"; break;
        case config::ApiSchema::kAWSBedrock:
        case config::ApiSchema::kAWSAnthropic:
          b.auth.type = config::BackendAuth::Type::kAWS;
          b.auth.aws_region = "us-east-1";
          break;
        case config::ApiSchema::kGCPVertexAI:
        case config::ApiSchema::kGCPAnthropic:
          b.auth.type = config::BackendAuth::Type::kGCP;
          b.auth.gcp_project = "my-project";
          b.auth.gcp_region = "us-east5";
          if (schema == config::ApiSchema::kGCPAnthropic) b.schema_version = "vertex-2023-10-16";
          break;
        default: break;
      }
      (*m)[schema] = std::move(b);
    }
    return m;
  }();
  return backends->at(s);
}

// Models a route may send to the backend (modelNameOverride); "" keeps the client's.
std::vector<std::string> ModelsFor(const Combo& c) {
  switch (c.to) {
    case config::ApiSchema::kAWSBedrock:
      if (c.endpoint == Endpoint::kEmbeddings) return {"amazon.titan-embed-text-v2:0", "cohere.embed-english-v3"};
      return {"anthropic.claude-3-5-sonnet-20240620-v1:0", "us.amazon.nova-2-lite-v1:0", "meta.llama3-70b-instruct-v1:0",
              "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude"};
    case config::ApiSchema::kAWSAnthropic:
      return {"anthropic.claude-3-5-sonnet-20240620-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0"};
    case config::ApiSchema::kGCPVertexAI:
      if (c.endpoint == Endpoint::kEmbeddings) return {"text-embedding-005", "gemini-embedding-001", "gemini-embedding-2-preview"};
      return {"gemini-2.5-flash", "gemini-3-pro-preview"};
    case config::ApiSchema::kGCPAnthropic: return {"claude-sonnet-4-5@20250929", ""};
    default: return {"", "gpt-4o-mini"};
  }
}

// ------------------------------------------------------------------------------ seeds

// One AWS event-stream message before encoding. `inner` (InvokeModel streams) is the Anthropic
// event a `chunk` message carries as {"bytes": base64(inner), "p": padding}; else `payload`.
struct Frame {
  std::vector<http::EventStreamHeader> headers;
  std::string payload;
  std::optional<std::string> inner;
};
using Frames = std::vector<Frame>;

// Answer and stream shapes by provider.
enum class Family {
  kOpenAIChat, kOpenAICompletions, kOpenAIEmbeddings, kAnthropic, kConverse, kTitan, kGemini, kGeminiEmbeddings,
  kCountAnthropic, kCountBedrock, kCount_,
};

Family AnswerFamily(const Combo& c) {
  if (c.endpoint == Endpoint::kCountTokens) {
    return c.EventStream() ? Family::kCountBedrock : Family::kCountAnthropic;
  }
  switch (c.to) {
    case config::ApiSchema::kOpenAI:
    case config::ApiSchema::kAzureOpenAI:
      return c.endpoint == Endpoint::kCompletions  ? Family::kOpenAICompletions
             : c.endpoint == Endpoint::kEmbeddings ? Family::kOpenAIEmbeddings
                                                   : Family::kOpenAIChat;  // chat, and Anthropic's messages
    case config::ApiSchema::kAWSBedrock: return c.endpoint == Endpoint::kEmbeddings ? Family::kTitan : Family::kConverse;
    case config::ApiSchema::kGCPVertexAI:
      return c.endpoint == Endpoint::kEmbeddings ? Family::kGeminiEmbeddings : Family::kGemini;
    default: return Family::kAnthropic;
  }
}

struct Corpus {
  // Client requests by dialect and endpoint.
  std::vector<std::string> openai_chat, openai_completions, openai_embeddings, anthropic_messages;
  // Buffered answers and SSE streams by family; InvokeModel and ConverseStream frames.
  std::vector<std::string> answers[static_cast<int>(Family::kCount_)];
  std::vector<std::string> sse[static_cast<int>(Family::kCount_)];
  std::vector<Frames> converse_streams, invoke_streams;
  std::vector<std::string> error_bodies;
  // Words seen in the seeds (member names, short strings), for structural mutations.
  std::vector<std::string> keys, words;

  const std::vector<std::string>& Requests(const Combo& c) const {
    if (c.from == Dialect::kAnthropic) return anthropic_messages;
    if (c.endpoint == Endpoint::kCompletions) return openai_completions;
    if (c.endpoint == Endpoint::kEmbeddings) return openai_embeddings;
    return openai_chat;
  }
};

// A request golden as a body: raw client files as they are; DescribeUpstream goldens
// ({"path","headers","body"}) give their body.
std::optional<std::string> RequestBody(const std::string& text) {
  auto doc = json::Parse(text);
  if (!doc.ok() || !doc->is_object()) return std::nullopt;
  if (doc->Find("path") != nullptr && doc->Find("body") != nullptr) {
    const Value* body = doc->Find("body");
    if (!body->is_object()) return std::nullopt;
    return json::Serialize(*body);
  }
  return text;
}

void CollectWords(const Value& v, std::set<std::string>* keys, std::set<std::string>* words) {
  if (v.is_string() && v.as_string().size() <= 48) words->insert(v.as_string());
  for (const auto& item : v.items()) CollectWords(item, keys, words);
  for (const auto& [k, m] : v.members()) {
    keys->insert(k);
    CollectWords(m, keys, words);
  }
}

Frame EventFrame(std::string_view type, std::string payload) {
  return {{http::EventStreamHeader::String(":event-type", std::string(type)),
           http::EventStreamHeader::String(":content-type", "application/json"),
           http::EventStreamHeader::String(":message-type", "event")},
          std::move(payload), std::nullopt};
}

Frame ExceptionFrame(std::string_view name, std::string payload) {
  return {{http::EventStreamHeader::String(":exception-type", std::string(name)),
           http::EventStreamHeader::String(":content-type", "application/json"),
           http::EventStreamHeader::String(":message-type", "exception")},
          std::move(payload), std::nullopt};
}

// events.json of the Converse directions: [{"event": type, "payload": {...}} | {"exception": name, ...}].
Frames ConverseFrames(const Value& doc) {
  Frames out;
  for (const Value& e : doc.items()) {
    const Value* payload = e.Find("payload");
    std::string body = payload ? json::Serialize(*payload) : "{}";
    if (const Value* ex = e.Find("exception")) out.push_back(ExceptionFrame(ex->as_string(), body));
    else out.push_back(EventFrame(e.GetString("event"), body));
  }
  return out;
}

// events.json of the InvokeModel directions: Anthropic events, or {"exception": name, ...}.
Frames InvokeFrames(const Value& doc) {
  Frames out;
  for (const Value& e : doc.items()) {
    if (const Value* ex = e.Find("exception")) {
      const Value* payload = e.Find("payload");
      out.push_back(ExceptionFrame(ex->as_string(), payload ? json::Serialize(*payload) : "{}"));
      continue;
    }
    Frame f = EventFrame("chunk", "");
    f.inner = json::Serialize(e);
    out.push_back(std::move(f));
  }
  return out;
}

std::string InvokeChunkPayload(std::string_view inner) {
  std::string out = R"({"bytes":)";
  json::AppendQuoted(&out, crypto::Base64Encode(inner));
  out += R"(,"p":"abcdefghijklmnopqrstuvwxyzABCDEF"})";
  return out;
}

// Encodes frames; `offsets` (optional) receives each message's start.
std::string EncodeFrames(const Frames& frames, std::vector<size_t>* offsets = nullptr) {
  std::string out;
  for (const Frame& f : frames) {
    if (offsets) offsets->push_back(out.size());
    out += http::EncodeEventStreamMessage(f.headers, f.inner ? InvokeChunkPayload(*f.inner) : f.payload);
  }
  return out;
}

const char* const kHandRequestsOpenAIChat[] = {
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})",
    R"({"model":"gpt-4o","messages":[{"role":"system","content":"s"},{"role":"developer","content":[{"type":"text","text":"d"}]},)"
    R"({"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},)"
    R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},)"
    R"({"role":"tool","tool_call_id":"c1","content":"42"}],)"
    R"("tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],)"
    R"("tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"temperature":0.2,"top_p":0.9,)"
    R"("max_completion_tokens":100,"stop":["x"],"seed":7,"reasoning_effort":"low","user":"u","metadata":{"k":"v"}})",
    R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],)"
    R"("response_format":{"type":"json_object"},"max_tokens":5,"n":1,"presence_penalty":0.5,"frequency_penalty":0.1,"logprobs":false})",
};

const char* const kHandRequestsOpenAICompletions[] = {
    R"({"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","max_tokens":5})",
    R"({"model":"gpt-3.5-turbo-instruct","prompt":["a","b"],"stream":true,"stream_options":{"include_usage":true}})",
};

const char* const kHandRequestsOpenAIEmbeddings[] = {
    R"({"model":"text-embedding-3-small","input":"hello"})",
    R"({"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":8})",
    R"({"model":"text-embedding-3-small","input":"x","encoding_format":"float","user":"u"})",
};

const char* const kHandRequestsAnthropic[] = {
    R"({"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})",
    R"({"model":"claude-sonnet-4-5","max_tokens":2048,"system":"be brief","stop_sequences":["END"],"temperature":0.5,"top_k":5,)"
    R"("metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":1024},)"
    R"("tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}],)"
    R"("tool_choice":{"type":"any"},"messages":[{"role":"user","content":[{"type":"text","text":"q"},)"
    R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},)"
    R"({"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"}}]},)"
    R"({"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},)"
    R"({"type":"tool_use","id":"toolu_1","name":"f","input":{"a":"b"}}]},)"
    R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}],"is_error":false}]}]})",
};

const char* const kHandAnswers[][2] = {
    {"completions", R"({"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":"hi","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})"},
    {"embeddings", R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}})"},
    {"titan", R"({"embedding":[0.1,0.2,-0.3],"inputTextTokenCount":3})"},
    {"titan", R"({"embeddingsByType":{"float":[0.5,1e-3]},"inputTextTokenCount":1})"},
    // Cohere Embed on Bedrock (the same family: which of the two a model takes is the translator's choice).
    {"titan", R"({"id":"e","response_type":"embeddings_floats","texts":["a","b"],"embeddings":[[0.5,-1],[2e-3,0.25]]})"},
    {"titan", R"({"id":"e","response_type":"embeddings_by_type","texts":["a"],"embeddings":{"float":[[0.5,-1]]}})"},
    {"count_anthropic", R"({"input_tokens":42})"},
    {"count_bedrock", R"({"inputTokens":42})"},
};

constexpr char kCompletionsSse[] =
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":\"h\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":\"i\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n"
    "data: [DONE]\n\n";

std::vector<std::string> ErrorSeeds() {
  std::string html = "<html><head><title>502 Bad Gateway</title></head><body>";
  for (int i = 0; i < 400; ++i) html += "é漢";  // multi-byte text across any byte limit
  html += "</body></html>";
  return {
      R"({"error":{"message":"bad request","type":"invalid_request_error","param":"messages","code":null}})",
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
      R"({"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}})",
      R"([{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}])",
      R"({"message":"Too many tokens, please wait before trying again."})",
      R"({"Message":"User is not authorized"})",
      html,
      "",
      "upstream connect error or disconnect/reset before headers. reset reason: overflow",
      "null",
      "{}",
  };
}

const Corpus& GetCorpus() {
  static const Corpus* corpus = [] {
    auto* c = new Corpus();
    auto add_requests = [](std::vector<std::string>* to, std::string_view dir, std::string_view prefix,
                           std::string_view suffix) {
      for (const auto& p : Files(dir, prefix, suffix)) {
        if (auto body = RequestBody(ReadFile(p))) to->push_back(std::move(*body));
      }
    };
    add_requests(&c->openai_chat, "openai_to_bedrock/testdata", "req_", ".client.json");
    add_requests(&c->openai_chat, "openai_to_bedrock/testdata/extensions", "req_", ".client.json");
    add_requests(&c->openai_chat, "openai_to_anthropic/testdata", "req_", ".openai.json");
    add_requests(&c->openai_chat, "openai_to_anthropic/testdata", "", ".request.json");
    add_requests(&c->openai_chat, "openai_to_awsanthropic/testdata", "req_", ".client.json");
    add_requests(&c->openai_chat, "openai_to_gemini/testdata/requests", "chat_", ".client.json");
    add_requests(&c->openai_chat, "anthropic_to_openai/testdata", "req_", ".openai.json");
    for (const char* s : kHandRequestsOpenAIChat) c->openai_chat.push_back(s);
    for (const char* s : kHandRequestsOpenAICompletions) c->openai_completions.push_back(s);
    add_requests(&c->openai_embeddings, "openai_to_gemini/testdata/requests", "embeddings_", ".client.json");
    for (const char* s : kHandRequestsOpenAIEmbeddings) c->openai_embeddings.push_back(s);
    add_requests(&c->anthropic_messages, "anthropic_to_openai/testdata", "req_", ".anthropic.json");
    add_requests(&c->anthropic_messages, "anthropic_to_bedrock/testdata", "req_", ".client.json");
    add_requests(&c->anthropic_messages, "anthropic_to_awsanthropic/testdata", "req_", ".client.json");
    add_requests(&c->anthropic_messages, "anthropic_passthrough/testdata", "req_", ".anthropic.json");
    add_requests(&c->anthropic_messages, "openai_to_anthropic/testdata", "req_", ".anthropic.json");
    for (const char* s : kHandRequestsAnthropic) c->anthropic_messages.push_back(s);

    auto answers = [c](Family f) { return &c->answers[static_cast<int>(f)]; };
    auto add_files = [](std::vector<std::string>* to, std::string_view dir, std::string_view prefix,
                        std::string_view suffix) {
      for (const auto& p : Files(dir, prefix, suffix)) to->push_back(ReadFile(p));
    };
    add_files(answers(Family::kOpenAIChat), "anthropic_to_openai/testdata", "resp_", ".openai.json");
    add_files(answers(Family::kOpenAIChat), "openai_to_anthropic/testdata", "resp_", ".openai.json");
    add_files(answers(Family::kOpenAIChat), "openai_to_bedrock/testdata", "resp_", ".client.json");
    add_files(answers(Family::kOpenAIChat), "openai_to_gemini/testdata/responses", "", ".client.json");
    add_files(answers(Family::kAnthropic), "openai_to_anthropic/testdata", "resp_", ".anthropic.json");
    add_files(answers(Family::kAnthropic), "anthropic_to_openai/testdata", "resp_", ".anthropic.json");
    add_files(answers(Family::kAnthropic), "openai_to_awsanthropic/testdata", "resp_", ".upstream.json");
    add_files(answers(Family::kAnthropic), "anthropic_to_awsanthropic/testdata", "resp_", ".json");
    add_files(answers(Family::kConverse), "openai_to_bedrock/testdata", "resp_", ".upstream.json");
    add_files(answers(Family::kConverse), "anthropic_to_bedrock/testdata", "resp_", ".upstream.json");
    for (const auto& p : Files("openai_to_gemini/testdata/responses", "", ".upstream.json")) {
      bool embeddings = p.filename().string().rfind("embeddings", 0) == 0;  // :predict and :embedContent answers
      answers(embeddings ? Family::kGeminiEmbeddings : Family::kGemini)->push_back(ReadFile(p));
    }
    for (const auto& [kind, body] : kHandAnswers) {
      std::string_view k = kind;
      Family f = k == "completions"       ? Family::kOpenAICompletions
                 : k == "embeddings"      ? Family::kOpenAIEmbeddings
                 : k == "titan"           ? Family::kTitan
                 : k == "count_anthropic" ? Family::kCountAnthropic
                                          : Family::kCountBedrock;
      answers(f)->push_back(body);
    }

    auto sse = [c](Family f) { return &c->sse[static_cast<int>(f)]; };
    add_files(sse(Family::kOpenAIChat), "anthropic_to_openai/testdata", "stream_", ".openai.sse");
    add_files(sse(Family::kOpenAIChat), "openai_to_anthropic/testdata", "stream_", ".openai.sse");
    add_files(sse(Family::kOpenAIChat), "openai_to_bedrock/testdata", "stream_", ".client.sse");
    add_files(sse(Family::kOpenAIChat), "openai_to_awsanthropic/testdata", "stream_", ".client.sse");
    add_files(sse(Family::kOpenAIChat), "openai_to_gemini/testdata/streams", "", ".client.sse");
    add_files(sse(Family::kOpenAIChat), "openai_to_azure/testdata", "stream_", ".sse");
    sse(Family::kOpenAICompletions)->push_back(kCompletionsSse);
    add_files(sse(Family::kAnthropic), "openai_to_anthropic/testdata", "stream_", ".anthropic.sse");
    add_files(sse(Family::kAnthropic), "anthropic_to_openai/testdata", "stream_", ".anthropic.sse");
    add_files(sse(Family::kAnthropic), "anthropic_passthrough/testdata", "stream_", ".sse");
    add_files(sse(Family::kAnthropic), "anthropic_to_bedrock/testdata", "stream_", ".client.sse");
    add_files(sse(Family::kAnthropic), "anthropic_to_awsanthropic/testdata", "stream_", ".client.sse");
    add_files(sse(Family::kGemini), "openai_to_gemini/testdata/streams", "", ".upstream.sse");

    for (std::string_view dir : {"openai_to_bedrock/testdata", "anthropic_to_bedrock/testdata"}) {
      for (const auto& p : Files(dir, "stream_", ".events.json")) {
        auto doc = json::Parse(ReadFile(p));
        if (doc.ok()) c->converse_streams.push_back(ConverseFrames(*doc));
      }
    }
    for (std::string_view dir : {"openai_to_awsanthropic/testdata", "anthropic_to_awsanthropic/testdata"}) {
      for (const auto& p : Files(dir, "stream_", ".events.json")) {
        auto doc = json::Parse(ReadFile(p));
        if (doc.ok()) c->invoke_streams.push_back(InvokeFrames(*doc));
      }
    }
    c->error_bodies = ErrorSeeds();

    std::set<std::string> keys, words;
    auto harvest = [&](std::string_view text) {
      if (auto doc = json::Parse(text); doc.ok()) CollectWords(*doc, &keys, &words);
    };
    for (const auto* list : {&c->openai_chat, &c->openai_completions, &c->openai_embeddings, &c->anthropic_messages}) {
      for (const auto& s : *list) harvest(s);
    }
    for (const auto& list : c->answers) {
      for (const auto& s : list) harvest(s);
    }
    for (const auto& list : c->sse) {
      for (const auto& s : list) {
        std::vector<http::SseEvent> events;
        http::SseParser parser;
        (void)parser.Feed(s, &events);
        for (const auto& ev : events) {
          harvest(ev.data);
          if (!ev.event.empty()) words.insert(ev.event);
        }
      }
    }
    for (const auto* streams : {&c->converse_streams, &c->invoke_streams}) {
      for (const Frames& frames : *streams) {
        for (const Frame& f : frames) {
          harvest(f.inner ? *f.inner : f.payload);
          for (const auto& h : f.headers) words.insert(h.value);
        }
      }
    }
    c->keys.assign(keys.begin(), keys.end());
    c->words.assign(words.begin(), words.end());
    return c;
  }();
  return *corpus;
}

// ------------------------------------------------------------------------------ mutations

const char* const kNumbers[] = {
    "0", "-0", "1", "-1", "0.5", "2", "1e999", "-1e999", "1e-999", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551616", "123456789012345678901234567890",
    "2147483647", "2147483648", "-2147483649", "4294967296", "1.7976931348623157e308", "1E400", "4.9e-324", "1e18",
    "-1e18", "0.000001", "1e9", "65536", "100000000000000000000000.5",
};

const std::vector<std::string>& WeirdStrings() {
  static const auto* strings = new std::vector<std::string>{
      "", " ", "\n", "\r\n\r\n", "data: [DONE]\n\n", "event: error\ndata: {}\n\n", "\xff", "\xc3", "\xe6\xbc",
      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", std::string("a\0b", 3), "\x7f", "é漢😀", "\u2028\u2029",
      "</script>", "%00%2F", "../../x", "a\"b\\c", "{\"a\":1}", "[DONE]", "~ts~", "call_0_~ts~c2ln",
      "call_1_s1~ts~!!", "data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,!!!", "data:", "data:;base64,",
      "data:application/pdf;base64,JVBERi0=", "https://example.com/a.png", "gs://bucket/x.pdf", "AAAA====",
      std::string(70000, 'x'), std::string(3000, '\xe6'), "null", "true", "-", "1e999",
  };
  return *strings;
}

class Mutator {
 public:
  Mutator(std::mt19937_64& rng, const Corpus& corpus) : rng_(rng), corpus_(corpus), weird_(WeirdStrings()) {}

  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
  bool OneIn(size_t n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    SLUICE_RELEASE_ASSERT(!v.empty(), "no seeds to pick from");
    return v[Below(v.size())];
  }

  std::string Word() { return OneIn(4) ? Pick(weird_) : Pick(corpus_.words); }
  std::string Key() { return OneIn(8) ? Pick(weird_) : Pick(corpus_.keys); }
  Value Number() { return Value::RawNumber(kNumbers[Below(std::size(kNumbers))]); }

  Value RandomValue(int depth = 0) {
    switch (Below(depth > 2 ? 5 : 7)) {
      case 0: return Value();
      case 1: return Value::Bool(OneIn(2));
      case 2: return Number();
      case 3:
      case 4: return Value::String(Word());
      case 5: {
        Value a = Value::Array();
        for (size_t i = Below(4); i > 0; --i) a.Append(RandomValue(depth + 1));
        return a;
      }
      default: {
        Value o = Value::Object();
        for (size_t i = Below(4); i > 0; --i) o.Set(Key(), RandomValue(depth + 1));
        return o;
      }
    }
  }

  // One structural edit somewhere in `root`.
  void MutateDom(Value& root) {
    std::vector<Value*> nodes;
    Collect(root, 0, &nodes);
    Value& n = *nodes[Below(nodes.size())];
    switch (Below(14)) {
      case 0:
      case 1: {  // a value of another type
        Value v = RandomValue();
        for (int tries = 0; tries < 4 && v.type() == n.type(); ++tries) v = RandomValue();
        n = std::move(v);
        break;
      }
      case 2: n = Number(); break;
      case 3: n = Value::String(Word()); break;
      case 4:  // delete a member or item
        if (n.is_object() && n.size() > 0) n.members().erase(n.members().begin() + Below(n.size()));
        else if (n.is_array() && n.size() > 0) n.items().erase(n.items().begin() + Below(n.size()));
        else n = Value();
        break;
      case 5:  // a duplicate key, with the same or another value
        if (n.is_object() && n.size() > 0) {
          Value::Member m = n.members()[Below(n.size())];
          if (OneIn(2)) m.second = RandomValue();
          n.members().insert(n.members().begin() + Below(n.size() + 1), std::move(m));
        }
        break;
      case 6:  // a new member
        if (n.is_object()) {
          n.members().insert(n.members().begin() + Below(n.size() + 1), Value::Member(Key(), RandomValue()));
        } else if (n.is_array()) {
          n.items().insert(n.items().begin() + Below(n.size() + 1), RandomValue());
        }
        break;
      case 7: {  // deep nesting, around the parser's limit and far beyond
        static const int kDepths[] = {8, 64, 200, 250, 254, 255, 256, 300, 3000};
        int depth = kDepths[Below(std::size(kDepths))];
        bool arrays = OneIn(2);
        Value v = std::move(n);
        for (int i = 0; i < depth; ++i) {
          Value w = arrays ? Value::Array() : Value::Object();
          if (arrays) w.Append(std::move(v));
          else w.Set(OneIn(2) ? "content" : Key(), std::move(v));
          v = std::move(w);
        }
        n = std::move(v);
        break;
      }
      case 8: {  // a copy of another subtree (maybe an ancestor)
        Value copy = *nodes[Below(nodes.size())];
        n = std::move(copy);
        break;
      }
      case 9:  // many copies of an item (within kMaxInputBytes)
        if (n.is_array() && n.size() > 0) {
          Value item = n.items()[Below(n.size())];
          size_t copies = 1 + Below(OneIn(4) ? 2000 : 20);
          copies = std::min(copies, kMaxInputBytes / (json::Serialize(item).size() + 1));
          for (size_t i = 0; i < copies; ++i) n.items().push_back(item);
        }
        break;
      case 10:  // reorder
        if (n.is_object() && n.size() > 1) std::shuffle(n.members().begin(), n.members().end(), rng_);
        else if (n.is_array() && n.size() > 1) std::shuffle(n.items().begin(), n.items().end(), rng_);
        break;
      case 11: n = OneIn(2) ? Value::Array() : Value::Object(); break;
      case 12:  // rename a member
        if (n.is_object() && n.size() > 0) n.members()[Below(n.size())].first = Key();
        break;
      default:  // a known word where a string was
        if (n.is_string()) n = Value::String(Pick(corpus_.words));
        else n = Value::String(Word());
        break;
    }
  }

  // One byte-level edit.
  void MutateText(std::string& s) {
    static constexpr std::string_view kSpecial = "{}[]\",:\\ \n\r\t0123456789eE.+-\x00\xff\x80";
    size_t pos = Below(s.size() + 1);
    switch (Below(11)) {
      case 0:
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:
        if (!s.empty()) s[Below(s.size())] = kSpecial[Below(kSpecial.size())];
        break;
      case 2:
        if (!s.empty()) s.erase(Below(s.size()), 1 + Below(16));
        break;
      case 3:
        for (size_t i = 1 + Below(8); i > 0; --i) s.insert(pos, 1, static_cast<char>(rng_()));
        break;
      case 4:
        for (size_t i = 1 + Below(3); i > 0; --i) s.insert(pos, 1, kSpecial[Below(kSpecial.size())]);
        break;
      case 5: s.resize(Below(s.size() + 1)); break;
      case 6:
        if (!s.empty()) {
          size_t from = Below(s.size());
          std::string piece = s.substr(from, 1 + Below(64));
          s.insert(pos, piece);
        }
        break;
      case 7: {  // an escape after a quote: lone surrogates, NUL, a valid pair, a broken pair
        static const char* const kEscapes[] = {"\\ud800", "\\udc00", "\\ud800\\u0041", "\\u0000",
                                               "\\uD83D\\uDE00", "\\ud800\\udbff", "\\u", "\\x41", "\\"};
        size_t q = s.find('"', pos);
        if (q == std::string::npos) q = s.find('"');
        if (q != std::string::npos) s.insert(q + 1, kEscapes[Below(std::size(kEscapes))]);
        break;
      }
      case 8: {  // a number becomes an extreme one
        size_t d = s.find_first_of("0123456789", pos);
        if (d == std::string::npos) d = s.find_first_of("0123456789");
        if (d != std::string::npos) {
          size_t e = s.find_first_not_of("0123456789.eE+-", d);
          s.replace(d, (e == std::string::npos ? s.size() : e) - d, kNumbers[Below(std::size(kNumbers))]);
        }
        break;
      }
      case 9:  // a run of openers
        s.insert(pos, 1 + Below(OneIn(2) ? 300 : 4), OneIn(2) ? '[' : '{');
        break;
      default:
        if (s.size() > 1) std::swap(s[Below(s.size())], s[Below(s.size())]);
        break;
    }
  }

  // 1..max_rounds edits of a JSON text: mostly structural (the result is still JSON), some
  // byte-level (mostly not).
  std::string MutateJson(std::string_view seed, size_t max_rounds = 4) {
    std::string s(seed);
    size_t rounds = 1 + Below(max_rounds);
    if (Below(10) < 7) {
      auto doc = json::Parse(s);
      if (doc.ok()) {
        for (size_t i = 0; i < rounds; ++i) MutateDom(*doc);
        s = json::Serialize(*doc);
        if (s.size() > kMaxInputBytes) s = std::string(seed);
        if (OneIn(5)) MutateText(s);
        return s;
      }
    }
    for (size_t i = 0; i < rounds; ++i) MutateText(s);
    return s;
  }

  // An SSE stream: event-level edits (data mutated as JSON, events dropped, repeated, moved,
  // renamed, borrowed from other seeds) or byte-level ones on the text.
  std::string MutateSse(std::string_view seed, const std::vector<std::string>& family) {
    if (OneIn(4)) {
      std::string s(seed);
      for (size_t i = 1 + Below(4); i > 0; --i) MutateText(s);
      return s;
    }
    std::vector<http::SseEvent> events;
    {
      http::SseParser parser;
      (void)parser.Feed(seed, &events);
    }
    for (size_t i = 1 + Below(3); i > 0; --i) {
      size_t k = Below(events.size() + 1);
      switch (Below(events.empty() ? 1 : 10)) {
        case 0: {  // borrow an event
          std::vector<http::SseEvent> other;
          http::SseParser parser;
          (void)parser.Feed(Pick(family), &other);
          if (!other.empty()) events.insert(events.begin() + k, other[Below(other.size())]);
          break;
        }
        case 1:
        case 2:
        case 3: {
          auto& ev = events[Below(events.size())];
          ev.data = MutateJson(ev.data, 3);
          break;
        }
        case 4: events.erase(events.begin() + Below(events.size())); break;
        case 5: {
          http::SseEvent copy = events[Below(events.size())];
          events.insert(events.begin() + k, std::move(copy));
          break;
        }
        case 6:
          if (events.size() > 1) std::swap(events[Below(events.size())], events[Below(events.size())]);
          break;
        case 7: events[Below(events.size())].event = OneIn(3) ? "" : Pick(corpus_.words); break;
        case 8: events.insert(events.begin() + k, http::SseEvent{"", "[DONE]", ""}); break;
        default: events.resize(Below(events.size() + 1)); break;
      }
    }
    static const char* const kEol[] = {"\n", "\n", "\n", "\r\n", "\r"};
    std::string eol = kEol[Below(std::size(kEol))];
    std::string out;
    if (OneIn(8)) out += "\xEF\xBB\xBF";
    for (const auto& ev : events) {
      if (OneIn(12)) out += ": keep-alive" + eol;
      if (!ev.event.empty()) out += "event: " + ev.event + eol;
      std::string_view data = ev.data;
      while (true) {  // data lines; a line break in the data starts another
        size_t nl = data.find_first_of("\r\n");
        out += "data: ";
        out.append(data.substr(0, nl));
        out += eol;
        if (nl == std::string_view::npos) break;
        data.remove_prefix(nl + 1);
      }
      out += eol;
    }
    if (out.size() > kMaxInputBytes) out = std::string(seed);
    if (OneIn(5)) MutateText(out);
    return out;
  }

  // An AWS event stream: frame-level edits (payloads, headers, order), then maybe byte-level
  // ones: broken CRCs and prelude lengths, or bytes changed with the CRCs recomputed so the
  // edit reaches the decoder's header parsing.
  std::string MutateFrames(const Frames& seed, const std::vector<Frames>& family) {
    Frames frames = seed;
    for (size_t i = Below(4); i > 0; --i) {
      size_t k = Below(frames.size() + 1);
      switch (Below(frames.empty() ? 1 : 12)) {
        case 0: {
          const Frames& other = Pick(family);
          if (!other.empty()) frames.insert(frames.begin() + k, other[Below(other.size())]);
          break;
        }
        case 1:
        case 2:
        case 3: {
          Frame& f = frames[Below(frames.size())];
          if (f.inner) *f.inner = MutateJson(*f.inner, 3);
          else f.payload = MutateJson(f.payload, 3);
          break;
        }
        case 4: {  // an InvokeModel chunk wrapper of another shape
          Frame& f = frames[Below(frames.size())];
          std::string wrapper = f.inner ? InvokeChunkPayload(*f.inner) : f.payload;
          f.inner.reset();
          static const char* const kWrappers[] = {R"({"bytes":"!!!not base64"})", R"({"bytes":""})",
                                                  R"({"bytes":12})", R"({"p":"x"})", "[]"};
          if (OneIn(3)) f.payload = kWrappers[Below(std::size(kWrappers))];
          else if (OneIn(2)) f.payload = StrCat(R"({"bytes":")", crypto::Base64Encode(Word()), R"("})");
          else f.payload = MutateJson(wrapper, 2);
          break;
        }
        case 5: frames.erase(frames.begin() + Below(frames.size())); break;
        case 6: {
          Frame copy = frames[Below(frames.size())];
          frames.insert(frames.begin() + k, std::move(copy));
          break;
        }
        case 7:
          if (frames.size() > 1) std::swap(frames[Below(frames.size())], frames[Below(frames.size())]);
          break;
        case 8: {  // a header's value
          Frame& f = frames[Below(frames.size())];
          if (f.headers.empty()) break;
          auto& h = f.headers[Below(f.headers.size())];
          static const char* const kTypes[] = {"event", "exception", "error", "", "Event"};
          if (h.name == ":message-type" && OneIn(2)) h.value = kTypes[Below(std::size(kTypes))];
          else h.value = Word().substr(0, 300);
          h.type = http::EventStreamHeaderType::kString;
          break;
        }
        case 9: {  // headers removed, added, of other types
          Frame& f = frames[Below(frames.size())];
          static const char* const kNames[] = {":event-type", ":message-type", ":exception-type", ":content-type",
                                               ":error-code", ":error-message", "x"};
          std::string name = kNames[Below(std::size(kNames))];
          if (!f.headers.empty() && OneIn(2)) {
            f.headers.erase(f.headers.begin() + Below(f.headers.size()));
            break;
          }
          http::EventStreamHeader h;
          h.name = name;
          switch (Below(6)) {
            case 0: h.type = http::EventStreamHeaderType::kBoolTrue; break;
            case 1: h.type = http::EventStreamHeaderType::kInt, h.value = std::string(4, '\x01'); break;
            case 2: h.type = http::EventStreamHeaderType::kUuid, h.value = std::string(16, 'u'); break;
            case 3: h.type = http::EventStreamHeaderType::kBytes, h.value = Word().substr(0, 100); break;
            case 4: h.type = http::EventStreamHeaderType::kTimestamp, h.value = std::string(8, '\0'); break;
            default: h.type = http::EventStreamHeaderType::kString, h.value = Word().substr(0, 300); break;
          }
          f.headers.insert(f.headers.begin() + Below(f.headers.size() + 1), std::move(h));
          break;
        }
        case 10: frames.push_back(ExceptionFrame(Word().substr(0, 200), OneIn(2) ? R"({"message":"m"})" : Word())); break;
        default: frames.resize(Below(frames.size() + 1)); break;
      }
    }
    std::vector<size_t> offsets;
    std::string bytes = EncodeFrames(frames, &offsets);
    if (bytes.size() > kMaxInputBytes) return EncodeFrames(seed);
    if (!OneIn(3) || bytes.empty()) return bytes;
    size_t msg = offsets.empty() ? 0 : offsets[Below(offsets.size())];
    auto put32 = [&bytes](size_t at, uint32_t v) {
      if (at + 4 > bytes.size()) return;
      for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (24 - 8 * i));
    };
    auto get32 = [&bytes](size_t at) -> uint32_t {
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    switch (Below(6)) {
      case 0:  // a bad total length, with a prelude CRC that matches it (or not)
      case 1: {
        static const uint32_t kLengths[] = {0, 1, 12, 15, 16, 17, 0x7fffffff, 0xffffffff, 17u << 20};
        uint32_t total = get32(msg);
        uint32_t v = OneIn(3) ? total + static_cast<uint32_t>(Below(9)) - 4 : kLengths[Below(std::size(kLengths))];
        put32(msg, v);
        if (msg + 12 <= bytes.size()) put32(msg + 8, http::Crc32(std::string_view(bytes).substr(msg, 8)));
        if (OneIn(2)) FixCrcs(bytes);
        break;
      }
      case 2: {  // a headers length past the message
        uint32_t total = get32(msg);
        put32(msg + 4, OneIn(2) ? total : total - 15 + static_cast<uint32_t>(Below(4)));
        FixCrcs(bytes);
        break;
      }
      case 3: {  // a broken prelude or message CRC
        if (msg + 16 > bytes.size()) break;
        size_t last = msg + get32(msg) - 1;
        bytes[OneIn(2) || last >= bytes.size() ? msg + 8 : last] ^= 1;
        break;
      }
      case 4:  // bytes changed, then the CRCs recomputed so the decoder reads the change
        for (size_t i = 1 + Below(3); i > 0; --i) {
          if (bytes.size() <= 12) break;
          size_t at = 12 + Below(bytes.size() - 12);
          bytes[at] = OneIn(2) ? static_cast<char>(rng_()) : static_cast<char>(Below(10));
        }
        FixCrcs(bytes);
        break;
      default:
        for (size_t i = 1 + Below(3); i > 0; --i) MutateText(bytes);
        break;
    }
    return bytes;
  }

  // Recomputes the prelude and message CRCs of every message whose declared length fits.
  static void FixCrcs(std::string& bytes) {
    size_t pos = 0;
    auto get32 = [&bytes](size_t at) -> uint32_t {
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    auto put32 = [&bytes](size_t at, uint32_t v) {
      for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (24 - 8 * i));
    };
    while (pos + 16 <= bytes.size()) {
      uint32_t total = get32(pos);
      put32(pos + 8, http::Crc32(std::string_view(bytes).substr(pos, 8)));
      if (total < 16 || total > bytes.size() - pos) break;
      put32(pos + total - 4, http::Crc32(std::string_view(bytes).substr(pos, total - 4)));
      pos += total;
    }
  }

 private:
  static void Collect(Value& v, int depth, std::vector<Value*>* out) {
    out->push_back(&v);
    if (depth > 40) return;
    if (v.is_array()) {
      for (Value& item : v.items()) Collect(item, depth + 1, out);
    } else if (v.is_object()) {
      for (auto& m : v.members()) Collect(m.second, depth + 1, out);
    }
  }

  std::mt19937_64& rng_;
  const Corpus& corpus_;
  const std::vector<std::string>& weird_;
};

// Cut points for feeding `size` bytes: none, single bytes, random, fixed-size, or around
// `boundaries` (message starts).
std::vector<size_t> RandomCuts(std::mt19937_64& rng, size_t size, const std::vector<size_t>& boundaries = {}) {
  std::vector<size_t> cuts;
  if (size < 2) return cuts;
  switch (rng() % (boundaries.empty() ? 4 : 5)) {
    case 0:
      if (size <= 4096) {
        for (size_t i = 1; i < size; ++i) cuts.push_back(i);
        break;
      }
      [[fallthrough]];
    case 1: {
      size_t n = 1 + rng() % 16;
      for (size_t i = 0; i < n; ++i) cuts.push_back(1 + rng() % (size - 1));
      break;
    }
    case 2: {
      size_t step = 2 + rng() % 63;
      for (size_t i = step; i < size; i += step) cuts.push_back(i);
      break;
    }
    case 3: cuts.push_back(1 + rng() % (size - 1)); break;
    default:
      for (size_t b : boundaries) {
        for (size_t d : {b - 1, b, b + 1, b + 4, b + 8, b + 12}) {
          if (d > 0 && d < size) cuts.push_back(d);
        }
      }
      break;
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

// ------------------------------------------------------------------------------ checks

// Each check returns "" when the invariant holds, else what is wrong.

// What is asserted on a client's event stream.
enum class SseMode {
  kTranslated,  // the translator wrote every event: strict order, one terminal event at the end
  kEvents,      // each event is the provider's, validated: JSON objects of the dialect, any order
  kRelayed,     // events in `provider` are handed on as they are; the rest must be kEvents-valid
};

// Well-formed SSE in the client's dialect.
std::string CheckClientSse(std::string_view sse, Dialect dialect, SseMode mode,
                           const std::set<std::string>* provider = nullptr) {
  const bool strict = mode == SseMode::kTranslated;
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  if (absl::Status st = parser.Feed(sse, &events); !st.ok()) return StrCat("the SSE does not parse: ", ToStd(st.message()));
  if (parser.HasPartial()) return "the SSE ends in the middle of an event";
  bool terminal = false;
  bool started = false;
  std::set<int64_t> open_blocks;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& ev = events[i];
    std::string where = StrCat("event ", i, " (", Escaped(ev.data, 300), "): ");
    if (terminal && strict) return where + "an event after the terminal one";
    if (provider != nullptr && provider->count(ev.data) > 0) continue;
    if (dialect == Dialect::kOpenAI && ev.data == "[DONE]") {
      terminal = true;
      continue;
    }
    auto doc = json::Parse(ev.data);
    if (!doc.ok()) return where + "data is not JSON: " + std::string(ToStd(doc.status().message()));
    if (!doc->is_object()) return where + "data is not a JSON object";
    if (dialect == Dialect::kOpenAI) {
      if (const Value* e = doc->Find("error")) {
        if (!e->is_object() || !e->Find("message") || !e->Find("message")->is_string()) {
          return where + "error without a message";
        }
        terminal = true;
        continue;
      }
      if (!strict) continue;
      const Value* choices = doc->Find("choices");
      if (choices == nullptr || !choices->is_array()) return where + "a chunk without choices";
      if (doc->GetString("object") != "chat.completion.chunk") return where + "object is not chat.completion.chunk";
      continue;
    }
    std::string_view type = doc->GetString("type");
    if (type.empty()) return where + "an Anthropic event without a type";
    if (ev.event != type) return where + StrCat("the event name \"", Escaped(ev.event, 80), "\" is not its type");
    if (type == "error") {
      const Value* e = doc->Find("error");
      if (e == nullptr || !e->is_object() || !e->Find("message") || !e->Find("message")->is_string()) {
        return where + "error without a message";
      }
      terminal = true;
      continue;
    }
    if (!strict) continue;
    if (type == "ping") continue;
    if (type == "message_start") {
      if (started) return where + "a second message_start";
      started = true;
      continue;
    }
    if (!started) return where + "an event before message_start";
    if (type == "message_stop") {
      terminal = true;
      continue;
    }
    if (type == "content_block_start" || type == "content_block_delta" || type == "content_block_stop") {
      const Value* index = doc->Find("index");
      if (index == nullptr || !index->is_number()) return where + "a block event without an index";
      int64_t n = index->as_int();
      bool open = open_blocks.count(n) > 0;
      if (type == "content_block_start") {
        if (open) return where + "a block starts twice";
        open_blocks.insert(n);
      } else if (!open) {
        return where + "a block event for a block that is not open";
      } else if (type == "content_block_stop") {
        open_blocks.erase(n);
      }
    }
  }
  if (strict && !terminal) return "the stream ends without a terminal event";
  return "";
}

// True when `sse` holds an event that ends the client's stream: [DONE] or an error (OpenAI),
// message_stop or error (Anthropic).
bool HasTerminal(std::string_view sse, Dialect dialect) {
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  (void)parser.Feed(sse, &events);
  for (const auto& ev : events) {
    if (dialect == Dialect::kOpenAI) {
      if (ev.data == "[DONE]") return true;
      auto doc = json::Parse(ev.data);
      if (doc.ok() && doc->Find("error") != nullptr) return true;
    } else if (ev.event == "message_stop" || ev.event == "error") {
      return true;
    }
  }
  return false;
}

std::string CheckClientAnswer(std::string_view out, const Combo& c) {
  auto doc = json::Parse(out);
  if (!doc.ok()) return StrCat("the answer is not JSON: ", ToStd(doc.status().message()));
  if (!doc->is_object()) return "the answer is not a JSON object";
  if (c.endpoint == Endpoint::kCountTokens) {
    const Value* n = doc->Find("input_tokens");
    return n != nullptr && n->is_number() ? "" : "a count without a numeric input_tokens";
  }
  if (c.from == Dialect::kAnthropic) {
    if (doc->GetString("type") != "message") return "type is not \"message\"";
    if (doc->GetString("role") != "assistant") return "role is not \"assistant\"";
    const Value* content = doc->Find("content");
    if (content == nullptr || !content->is_array()) return "content is not an array";
    for (const Value& b : content->items()) {
      if (!b.is_object() || b.GetString("type").empty()) return "a content block without a type";
    }
    return "";
  }
  if (c.endpoint == Endpoint::kEmbeddings) {
    if (doc->GetString("object") != "list") return "object is not \"list\"";
    const Value* data = doc->Find("data");
    if (data == nullptr || !data->is_array()) return "data is not an array";
    for (const Value& d : data->items()) {
      const Value* e = d.Find("embedding");
      if (e == nullptr || !(e->is_array() || e->is_string())) return "an item without an embedding";
      for (const Value& x : e->items()) {
        if (!x.is_number()) return "an embedding holds a non-number";
      }
    }
    return "";
  }
  if (doc->GetString("object") != "chat.completion") return "object is not \"chat.completion\"";
  const Value* choices = doc->Find("choices");
  if (choices == nullptr || !choices->is_array()) return "choices is not an array";
  for (const Value& ch : choices->items()) {
    const Value* m = ch.Find("message");
    if (m == nullptr || !m->is_object()) return "a choice without a message";
    if (const Value* calls = m->Find("tool_calls")) {
      for (const Value& call : calls->items()) {
        const Value* f = call.Find("function");
        if (f == nullptr || !f->Find("arguments") || !f->Find("arguments")->is_string()) {
          return "a tool call without string arguments";
        }
      }
    }
  }
  return "";
}

std::string CheckErrorBody(std::string_view out, Dialect d) {
  auto doc = json::Parse(out);
  if (!doc.ok()) return StrCat("the error body is not JSON: ", ToStd(doc.status().message()));
  if (d == Dialect::kAnthropic && doc->GetString("type") != "error") return "type is not \"error\"";
  const Value* e = doc->Find("error");
  if (e == nullptr || !e->is_object()) return "no error object";
  const Value* m = e->Find("message");
  if (m == nullptr || !m->is_string()) return "no error message";
  if (d == Dialect::kAnthropic && (e->Find("type") == nullptr || !e->Find("type")->is_string())) {
    return "no error type";
  }
  return "";
}

// ------------------------------------------------------------------------------ driving

struct Request {
  std::string body;
  std::string model;  // to the backend; "" = the client's
  bool want_usage = false;
  http::HeaderMap headers;
};

// What the pipeline would hand the translator for `r` (pipeline.cc OnRequestBody and
// BuildAttempt): a scanned, parsed body when it is JSON; a translator driven directly with
// bytes that are not must still answer for itself.
class Prepared {
 public:
  Prepared(const Combo& c, const Request& r) : body_(r.body), headers_(r.headers) {
    auto members = json::ScanObject(body_);
    if (members.ok()) {
      members_ = std::move(*members);
      scanned_ = true;
      for (const auto& m : members_) {
        std::string_view raw = std::string_view(body_).substr(m.value_begin, m.value_end - m.value_begin);
        if (m.key == "model" && !raw.empty() && raw[0] == '"') {
          auto s = json::DecodeStringToken(raw);
          if (s.ok() && !s->empty()) client_model_ = std::move(*s);
        } else if (m.key == "stream") {
          stream_ = raw == "true" && c.endpoint != Endpoint::kCountTokens;
        }
      }
    }
    if (client_model_.empty()) client_model_ = "fuzz-model";
    model_ = r.model.empty() ? client_model_ : r.model;
    if (c.factory->NeedsDocument()) {
      auto doc = json::Parse(body_);
      if (doc.ok()) doc_ = std::move(*doc);
      else parse_failed_ = true;
    }
    req_.emplace(ClientRequest{c.endpoint, body_, doc_, headers_, model_, stream_, client_model_,
                               scanned_ ? &members_ : nullptr, r.want_usage});
  }
  Prepared(const Prepared&) = delete;  // req_ refers to the members
  Prepared& operator=(const Prepared&) = delete;

  // The pipeline answers 400 itself: the translator is not called.
  bool PipelineRejects() const { return scanned_ && parse_failed_; }
  const ClientRequest& req() const { return *req_; }

 private:
  std::string body_;
  http::HeaderMap headers_;
  std::vector<json::TopLevelMember> members_;
  bool scanned_ = false;
  bool parse_failed_ = false;
  bool stream_ = false;
  std::string client_model_, model_;
  Value doc_ = Value::Object();
  std::optional<ClientRequest> req_;
};

std::string DescribeUpstream(const absl::StatusOr<UpstreamRequest>& up) {
  if (!up.ok()) return StrCat("error ", absl::StatusCodeToString(up.status().code()), ": ", ToStd(up.status().message()));
  std::string out = StrCat("path ", up->path, " body ");
  out += up->body ? *up->body : "<unchanged>";
  for (const auto& [n, v] : up->headers.set) StrAppend(&out, " header ", n, "=", v);
  for (const auto& n : up->headers.remove) StrAppend(&out, " remove ", n);
  return out;
}

std::string CheckUpstream(const absl::StatusOr<UpstreamRequest>& up, const Request& r) {
  if (!up.ok()) {
    if (up.status().message().empty()) return "an error without a message";
    if (up.status().code() != absl::StatusCode::kInvalidArgument) {
      return StrCat("a client's request refused with ", absl::StatusCodeToString(up.status().code()),
                    " (the client gets a 500, not a 400): ", ToStd(up.status().message()));
    }
    return "";
  }
  if (up->path.empty() || up->path[0] != '/') return StrCat("path \"", Escaped(up->path), "\" does not start with /");
  for (char ch : up->path) {
    if (static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f) {
      return StrCat("path \"", Escaped(up->path), "\" holds a byte a request line cannot");
    }
  }
  if (up->body) {
    auto doc = json::Parse(*up->body);
    // A client's document nested up to the parser's limit may come out a few levels deeper
    // (wrapped in the provider's shape): valid JSON that only our own depth limit refuses.
    if (!doc.ok() && !(NestingDepth(r.body) > json::kMaxDepth - 16 &&
                       ToStd(doc.status().message()).find("nesting too deep") != std::string_view::npos)) {
      return StrCat("the upstream body is not JSON: ", ToStd(doc.status().message()));
    }
    if (!doc.ok()) return "";
    if (!doc->is_object()) return "the upstream body is not a JSON object";
    if (IsUtf8(r.body) && IsUtf8(r.model) && !IsUtf8(*up->body)) return "UTF-8 in, not UTF-8 out (upstream body)";
  }
  for (const auto& [n, v] : up->headers.set) {
    for (char ch : v) {
      if (ch == '\r' || ch == '\n' || ch == '\0') return StrCat("header ", n, " holds a line break or NUL");
    }
  }
  return "";
}

struct Fed {
  std::string out;           // everything appended
  absl::Status status;       // of the last call
  std::string error_event;   // StreamErrorFor() after a failure
  std::string problem;       // an invariant broken between calls
};

// Feeds `bytes` cut at `cuts` as the driver does: stops at the first error.
Fed Feed(Translator& t, std::string_view bytes, const std::vector<size_t>& cuts, bool check_boundaries) {
  Fed f;
  size_t begin = 0;
  http::SseParser boundary_parser;
  std::vector<http::SseEvent> scratch;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    size_t before = f.out.size();
    f.status = t.TranslateResponseBody(bytes.substr(begin, end - begin), i == cuts.size(), &f.out);
    begin = end;
    if (!f.status.ok()) break;
    if (check_boundaries && f.problem.empty() && i < cuts.size()) {
      // WholeEvents(): what the client has after each call ends at an event boundary, so the
      // driver may send a keep-alive event before the next piece.
      scratch.clear();
      (void)boundary_parser.Feed(std::string_view(f.out).substr(before), &scratch);
      if (boundary_parser.HasPartial()) f.problem = StrCat("output ends mid-event after call ", i);
    }
  }
  if (!f.status.ok()) {
    if (f.status.message().empty()) f.problem = "an error without a message";
    f.error_event = StreamErrorFor(t, f.status, ToStd(f.status.message()));
  }
  return f;
}

// A fresh translator past TranslateRequest and TranslateResponseHeaders, ready for an answer.
struct Ready {
  std::unique_ptr<Translator> t;
  std::string problem;
};

Ready Start(const Combo& c, const Request& r, bool stream) {
  Ready ready;
  ready.t = c.factory->Create(BackendFor(c.to));
  Prepared p(c, r);
  auto up = ready.t->TranslateRequest(p.req());
  if (!up.ok()) {
    ready.problem = StrCat("the seed request failed: ", ToStd(up.status().message()));
    return ready;
  }
  http::HeaderMap h;
  h.Add("x-amzn-requestid", "req-1");
  if (stream) h.Add("content-type", c.EventStream() ? "application/vnd.amazon.eventstream" : "text/event-stream");
  else h.Add("content-type", "application/json");
  ready.t->TranslateResponseHeaders(200, h);
  return ready;
}

// The requests each translator accepts, buffered and streamed: the answers need a translator
// in a state a real request leaves it in.
struct GoodRequests {
  std::vector<Request> buffered, streamed;
};

const std::vector<GoodRequests>& Good(const std::vector<Combo>& combos) {
  static const auto* good = [&combos] {
    auto* all = new std::vector<GoodRequests>();
    for (const Combo& c : combos) {
      GoodRequests g;
      std::vector<std::string> models = ModelsFor(c);
      size_t n = 0;
      for (const std::string& seed : GetCorpus().Requests(c)) {
        auto doc = json::Parse(seed);
        if (!doc.ok() || !doc->is_object()) continue;
        for (int stream = 0; stream < (c.Streams() ? 2 : 1); ++stream) {
          Value v = *doc;
          v.Set("stream", Value::Bool(stream == 1));
          if (stream == 1 && c.from == Dialect::kOpenAI && n % 2 == 0) {
            Value so = Value::Object();
            so.Set("include_usage", Value::Bool(true));
            v.Set("stream_options", std::move(so));
          }
          Request r;
          r.body = json::Serialize(v);
          r.model = models[n % models.size()];
          r.want_usage = n % 3 == 0;
          ++n;
          auto t = c.factory->Create(BackendFor(c.to));
          Prepared p(c, r);
          if (!t->TranslateRequest(p.req()).ok()) continue;
          (stream ? g.streamed : g.buffered).push_back(std::move(r));
        }
      }
      all->push_back(std::move(g));
    }
    return all;
  }();
  return *good;
}

class RobustnessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Good(Combos()); }
  void TearDown() override {
    std::string slowest = Dog().Slowest();
    if (!slowest.empty()) std::printf("slowest case: %s\n", slowest.c_str());
  }

  std::string Context(Phase p, size_t i, int iter) const {
    return StrCat("[", PhaseName(p), " ", Combos()[i].Name(), " #", i, " iteration ", iter, " case seed ",
                  CaseSeed(p, i, iter), "; rerun: SLUICE_FUZZ_SEED=", BaseSeed(), " SLUICE_FUZZ_ONLY=", PhaseName(p),
                  ":", i, ":", iter, "]\n");
  }

  // Records a failure; true while more are worth reporting.
  bool Fail(Phase p, size_t i, int iter, std::string_view problem, std::string_view input, std::string_view more = {}) {
    ADD_FAILURE() << Context(p, i, iter) << problem << "\ninput: \"" << Escaped(input) << "\""
                  << (more.empty() ? "" : "\n") << more;
    return ++failures_ < 25;
  }

  int failures_ = 0;
};

// -------------------------------------------------------------------------- the registry

TEST_F(RobustnessTest, EveryBuiltinTranslatorIsCovered) {
  // 3 OpenAI passthrough + 3 Azure + 2 Gemini + 2x2 Anthropic/Vertex + Anthropic->OpenAI + 2
  // Bedrock + 2 AWSAnthropic + Anthropic->Bedrock + 4 count_tokens + 2 chains (Anthropic ->
  // Azure, Anthropic -> Gemini).
  EXPECT_EQ(Combos().size(), 24u) << "a translator was added or removed: check that its requests, answers and "
                                    "streams have seeds here (Corpus, AnswerFamily, BackendFor) and update the count";
  const auto& good = Good(Combos());
  for (size_t i = 0; i < Combos().size(); ++i) {
    const Combo& c = Combos()[i];
    EXPECT_FALSE(good[i].buffered.empty()) << c.Name() << ": no seed request translates";
    if (c.Streams()) {
      EXPECT_FALSE(good[i].streamed.empty()) << c.Name() << ": no seed stream request translates";
    }
    const Corpus& corpus = GetCorpus();
    EXPECT_FALSE(corpus.answers[static_cast<int>(AnswerFamily(c))].empty()) << c.Name();
    if (c.Streams() && !c.EventStream()) {
      EXPECT_FALSE(corpus.sse[static_cast<int>(AnswerFamily(c))].empty()) << c.Name();
    }
  }
  EXPECT_GE(GetCorpus().openai_chat.size(), 30u);
  EXPECT_GE(GetCorpus().anthropic_messages.size(), 10u);
  EXPECT_GE(GetCorpus().converse_streams.size(), 8u);
  EXPECT_GE(GetCorpus().invoke_streams.size(), 5u);
}

// The unmutated seeds pass the same checks the mutated ones must (else the checks are wrong).
TEST_F(RobustnessTest, SeedsPassTheChecks) {
  const auto& good = Good(Combos());
  for (size_t i = 0; i < Combos().size(); ++i) {
    const Combo& c = Combos()[i];
    for (const Request& r : good[i].buffered) {
      auto t = c.factory->Create(BackendFor(c.to));
      Prepared p(c, r);
      std::string problem = CheckUpstream(t->TranslateRequest(p.req()), r);
      EXPECT_EQ(problem, "") << c.Name() << ": " << r.body;
    }
  }
}

// ------------------------------------------------------------------------------ requests

TEST_F(RobustnessTest, MutatedRequests) {
  const Corpus& corpus = GetCorpus();
  const int iterations = Iterations() * 2;  // requests are cheap
  for (size_t i = 0; i < Combos().size() && failures_ < 25; ++i) {
    const Combo& c = Combos()[i];
    const auto& seeds = corpus.Requests(c);
    std::vector<std::string> models = ModelsFor(c);
    for (int iter = 0; iter < iterations; ++iter) {
      if (!Selected(Phase::kRequest, i, iter)) continue;
      Dog().Begin(Context(Phase::kRequest, i, iter));
      std::mt19937_64 rng(CaseSeed(Phase::kRequest, i, iter));
      Mutator m(rng, corpus);
      Request r;
      r.body = m.MutateJson(m.Pick(seeds));
      r.model = m.Pick(models);
      if (m.OneIn(20)) r.model = m.Word().substr(0, 200);
      if (r.model.empty() && m.OneIn(2)) r.model = "";
      r.want_usage = m.OneIn(2);
      // Header values as an HTTP parser delivers them: no line breaks or NULs.
      auto header_value = [&m] {
        std::string v = m.Word().substr(0, 100);
        v.erase(std::remove_if(v.begin(), v.end(), [](char ch) { return ch == '\r' || ch == '\n' || ch == '\0'; }),
                v.end());
        return v;
      };
      if (m.OneIn(3)) r.headers.Add("anthropic-version", m.OneIn(2) ? "2023-06-01" : header_value());
      if (m.OneIn(3)) {
        r.headers.Add("anthropic-beta",
                      m.OneIn(2) ? "interleaved-thinking-2025-05-14, context-1m-2025-08-07,x" : header_value());
      }
      Prepared p(c, r);
      if (p.PipelineRejects()) continue;
      auto t1 = c.factory->Create(BackendFor(c.to));
      auto up = t1->TranslateRequest(p.req());
      std::string problem = CheckUpstream(up, r);
      if (problem.empty()) {
        auto t2 = c.factory->Create(BackendFor(c.to));
        auto again = t2->TranslateRequest(p.req());
        if (MaskRunDependent(DescribeUpstream(up)) != MaskRunDependent(DescribeUpstream(again))) problem = "the same request translates differently twice";
      }
      if (!problem.empty() && !Fail(Phase::kRequest, i, iter, problem, r.body, DescribeUpstream(up).substr(0, 4000))) {
        break;
      }
    }
  }
}

// ------------------------------------------------------------------------------ answers

TEST_F(RobustnessTest, MutatedBufferedAnswers) {
  const Corpus& corpus = GetCorpus();
  const auto& good = Good(Combos());
  const int iterations = Iterations();
  for (size_t i = 0; i < Combos().size() && failures_ < 25; ++i) {
    const Combo& c = Combos()[i];
    const auto& seeds = corpus.answers[static_cast<int>(AnswerFamily(c))];
    for (int iter = 0; iter < iterations; ++iter) {
      if (!Selected(Phase::kAnswer, i, iter)) continue;
      Dog().Begin(Context(Phase::kAnswer, i, iter));
      std::mt19937_64 rng(CaseSeed(Phase::kAnswer, i, iter));
      Mutator m(rng, corpus);
      const Request& r = m.Pick(good[i].buffered);
      // Now and then an answer of another provider's shape.
      const auto& family = m.OneIn(15) ? corpus.answers[m.Below(static_cast<size_t>(Family::kCount_))] : seeds;
      std::string body = family.empty() ? "{}" : m.Pick(family);
      if (!m.OneIn(10)) body = m.MutateJson(body);
      std::vector<size_t> cuts = m.OneIn(2) ? RandomCuts(rng, body.size()) : std::vector<size_t>{};

      Ready whole = Start(c, r, false);
      if (!whole.problem.empty()) {
        Fail(Phase::kAnswer, i, iter, whole.problem, r.body);
        break;
      }
      Fed a = Feed(*whole.t, body, {}, false);
      std::string problem = a.problem;
      if (problem.empty() && a.status.ok()) {
        if (c.AnswerContract() == Contract::kRelay) {
          if (a.out != body) problem = "a same-dialect answer was changed";
        } else {
          problem = CheckClientAnswer(a.out, c);
          if (problem.empty() && IsUtf8(body) && !IsUtf8(a.out)) problem = "UTF-8 in, not UTF-8 out";
        }
      }
      if (problem.empty() && !cuts.empty()) {
        Ready split = Start(c, r, false);
        Fed b = Feed(*split.t, body, cuts, false);
        if (b.status.ok() != a.status.ok() ||
            (a.status.ok() && a.out != b.out && MaskRunDependent(a.out) != MaskRunDependent(b.out))) {
          problem = StrCat("feeding in pieces changes the answer: whole ", a.status.ok() ? "ok" : "error", ", pieces ",
                           b.status.ok() ? "ok" : ToStd(b.status.message()));
        }
      }
      if (!problem.empty() &&
          !Fail(Phase::kAnswer, i, iter, problem, body,
                StrCat("request: ", r.body.substr(0, 2000), "\nstatus: ", ToStd(a.status.message()),
                       "\noutput: ", Escaped(a.out, 4000)))) {
        break;
      }
    }
  }
}

// ------------------------------------------------------------------------------ streams

TEST_F(RobustnessTest, MutatedStreams) {
  const Corpus& corpus = GetCorpus();
  const auto& good = Good(Combos());
  const int iterations = Iterations() * 3;  // the richest state: most of the search goes here
  for (size_t i = 0; i < Combos().size() && failures_ < 25; ++i) {
    const Combo& c = Combos()[i];
    if (!c.Streams()) continue;
    Family family = AnswerFamily(c);
    for (int iter = 0; iter < iterations; ++iter) {
      if (!Selected(Phase::kStream, i, iter)) continue;
      Dog().Begin(Context(Phase::kStream, i, iter));
      std::mt19937_64 rng(CaseSeed(Phase::kStream, i, iter));
      Mutator m(rng, corpus);
      const Request& r = m.Pick(good[i].streamed);
      std::string bytes;
      std::vector<size_t> boundaries;
      if (c.EventStream()) {
        const auto& streams = c.to == config::ApiSchema::kAWSAnthropic ? corpus.invoke_streams : corpus.converse_streams;
        const Frames& seed = m.Pick(streams);
        bytes = m.OneIn(10) ? EncodeFrames(seed, &boundaries) : m.MutateFrames(seed, streams);
      } else {
        const auto& seeds = corpus.sse[static_cast<int>(family)];
        bytes = m.OneIn(10) ? m.Pick(seeds) : m.MutateSse(m.Pick(seeds), seeds);
      }
      std::vector<size_t> cuts = RandomCuts(rng, bytes.size(), boundaries);

      Ready whole = Start(c, r, true);
      if (!whole.problem.empty()) {
        Fail(Phase::kStream, i, iter, whole.problem, r.body);
        break;
      }
      const Contract contract = c.StreamContract();
      Fed a = Feed(*whole.t, bytes, {}, whole.t->WholeEvents());
      Ready split = Start(c, r, true);
      Fed b = Feed(*split.t, bytes, cuts, split.t->WholeEvents());
      std::string problem = !a.problem.empty() ? a.problem : b.problem;
      if (problem.empty()) {
        if (contract == Contract::kRelay && !split.t->WholeEvents()) {
          // Bytes relayed as they come: exactly the provider's, then the error event.
          if (b.out != std::string_view(bytes).substr(0, b.out.size())) problem = "relayed bytes differ from the provider's";
          if (problem.empty() && !b.error_event.empty()) {
            problem = CheckClientSse(b.error_event, c.from, SseMode::kTranslated);
          }
        } else if (contract == Contract::kRelay) {
          // Whole events handed on: each is the provider's own, or the error event. A last
          // event without its blank line counts as ended by the end of the stream.
          http::SseParser parser;
          std::vector<http::SseEvent> in;
          (void)parser.Feed(bytes + "\n\n", &in);
          std::set<std::string> provider;
          for (const auto& ev : in) provider.insert(ev.data);
          std::string seen = b.out;
          if (b.status.ok()) seen += "\n\n";
          problem = CheckClientSse(seen + b.error_event, c.from, SseMode::kRelayed, &provider);
        } else {
          problem = CheckClientSse(b.out + b.error_event, c.from,
                                   contract == Contract::kTranslate ? SseMode::kTranslated : SseMode::kEvents);
        }
      }
      if (problem.empty() && !b.error_event.empty() && HasTerminal(b.out, c.from)) {
        problem = "the stream failed after its terminal event: the client gets a second one";
      }
      if (problem.empty() && a.out + a.error_event != b.out + b.error_event &&
          MaskRunDependent(a.out + a.error_event) != MaskRunDependent(b.out + b.error_event)) {
        problem = StrCat("feeding in pieces changes the stream (", cuts.size(), " cuts)");
      }
      // The error event too: it may quote json::Parse's messages, which name a bad byte in hex.
      if (problem.empty() && !c.EventStream() && contract == Contract::kTranslate && IsUtf8(bytes) &&
          !IsUtf8(b.out + b.error_event)) {
        problem = "UTF-8 in, not UTF-8 out";
      }
      // Whatever the provider sent, the error event is the gateway's own words: valid UTF-8.
      if (problem.empty() && !IsUtf8(a.error_event + b.error_event)) problem = "the error event is not UTF-8";
      if (!problem.empty()) {
        std::string cut_list;
        for (size_t k = 0; k < cuts.size() && k < 64; ++k) StrAppend(&cut_list, k ? "," : "", cuts[k]);
        if (!Fail(Phase::kStream, i, iter, problem, bytes,
                  StrCat("request: ", r.body.substr(0, 2000), "\ncuts: ", cut_list, "\nstatus whole: ",
                         ToStd(a.status.message()), "\nstatus pieces: ", ToStd(b.status.message()),
                         "\noutput whole:\n", Escaped(a.out + a.error_event, 3000), "\noutput pieces:\n",
                         Escaped(b.out + b.error_event, 3000)))) {
          break;
        }
      }
    }
  }
}

// Each client dialect's end-of-stream error event is well-formed whatever the message holds.
TEST_F(RobustnessTest, StreamErrorsAreWellFormed) {
  for (const Combo& c : Combos()) {
    if (!c.Streams()) continue;
    for (const std::string& message : WeirdStrings()) {
      auto t = c.factory->Create(BackendFor(c.to));
      for (absl::Status st : {absl::DataLossError(message), ProviderStreamFailure(429, message, message),
                              ProviderStreamFailure(503, "throttlingException", message)}) {
        std::string sse = StreamErrorFor(*t, st, message);
        EXPECT_EQ(CheckClientSse(sse, c.from, SseMode::kTranslated), "") << c.Name() << ": " << Escaped(sse);
        if (IsUtf8(message)) {
          EXPECT_TRUE(IsUtf8(sse)) << c.Name() << ": " << Escaped(sse);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------ errors

TEST_F(RobustnessTest, MutatedErrorAnswers) {
  const Corpus& corpus = GetCorpus();
  const auto& good = Good(Combos());
  const int iterations = Iterations() / 2;
  static const int kStatuses[] = {400, 401, 403, 404, 408, 413, 418, 422, 429, 500, 502, 503, 504, 529};
  static const char* const kAwsErrors[] = {"ThrottlingException", "ValidationException:http://internal.amazon.com/",
                                           "ModelNotReadyException", "", "x\r\ny"};
  for (size_t i = 0; i < Combos().size() && failures_ < 25; ++i) {
    const Combo& c = Combos()[i];
    for (int iter = 0; iter < iterations; ++iter) {
      if (!Selected(Phase::kError, i, iter)) continue;
      Dog().Begin(Context(Phase::kError, i, iter));
      std::mt19937_64 rng(CaseSeed(Phase::kError, i, iter));
      Mutator m(rng, corpus);
      bool stream = c.Streams() && m.OneIn(2);
      const Request& r = m.Pick(stream ? good[i].streamed : good[i].buffered);
      std::string body = m.Pick(corpus.error_bodies);
      if (m.OneIn(3)) body = m.MutateJson(body);
      int status = kStatuses[m.Below(std::size(kStatuses))];
      http::HeaderMap h;
      if (m.OneIn(2)) h.Add("content-type", m.OneIn(2) ? "application/json" : "text/html; charset=utf-8");
      if (c.EventStream() && m.OneIn(2)) h.Add("x-amzn-errortype", kAwsErrors[m.Below(std::size(kAwsErrors))]);

      auto t = c.factory->Create(BackendFor(c.to));
      Prepared p(c, r);
      if (!t->TranslateRequest(p.req()).ok()) continue;
      int client_status = 0;
      std::string out;
      t->TranslateError(status, h, body, &client_status, &out);
      std::string problem;
      if (client_status < 400 || client_status > 599) problem = StrCat("client status ", client_status);
      // The provider's own error in the client's dialect is handed on as it is: an OpenAI
      // backend's for OpenAI clients, an Anthropic-shaped one ("type":"error") for Anthropic's.
      bool relayed = false;
      if (out == body) {
        auto doc = json::Parse(body);
        relayed = c.from == Dialect::kOpenAI ? c.SameDialect()
                                             : doc.ok() && doc->is_object() && doc->GetString("type") == "error";
      }
      if (problem.empty() && !relayed) {
        problem = CheckErrorBody(out, c.from);
        if (problem.empty() && IsUtf8(body) && !IsUtf8(out)) problem = "UTF-8 in, not UTF-8 out";
      }
      if (!problem.empty() &&
          !Fail(Phase::kError, i, iter, problem, body, StrCat("status ", status, "\noutput: ", Escaped(out, 4000)))) {
        break;
      }
    }
  }
}

// ------------------------------------------------------------------------------ regressions
// Inputs the mutation tests found, fixed here so they stay fixed.

const Combo& ComboOf(Endpoint e, Dialect d, config::ApiSchema s) {
  for (const Combo& c : Combos()) {
    if (c.endpoint == e && c.from == d && c.to == s) return c;
  }
  SLUICE_RELEASE_ASSERT(false, "no such translator");
  return Combos().front();
}

// `bytes` fed whole and one byte at a time (the outputs must agree); the whole run.
Fed FeedStream(const Combo& c, std::string_view request, std::string_view bytes) {
  Request r;
  r.body = std::string(request);
  Ready whole = Start(c, r, true);
  EXPECT_EQ(whole.problem, "");
  Fed a = Feed(*whole.t, bytes, {}, true);
  std::vector<size_t> every;
  for (size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  Ready split = Start(c, r, true);
  Fed b = Feed(*split.t, bytes, every, true);
  EXPECT_EQ(a.out + a.error_event, b.out + b.error_event) << c.Name();
  EXPECT_EQ(a.problem, "") << c.Name();
  return a;
}

constexpr char kOpenAIStreamRequest[] = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
constexpr char kAnthropicStreamRequest[] =
    R"({"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

// A non-JSON error page (a proxy's HTML) is echoed cut to a byte limit: the cut fell inside a
// UTF-8 sequence, so the client's JSON error held invalid UTF-8 (every translator that echoes:
// Bedrock and AWSAnthropic 1024 bytes, Anthropic and Vertex 1024, Gemini 2048).
TEST(RobustnessRegressionTest, EchoedErrorBodiesAreCutOnCharacterBoundaries) {
  std::string body = std::string(1023, 'a');
  for (int i = 0; i < 800; ++i) body += "\xe6\xbc\xa2";  // U+6F22, 3 bytes: any cut past 1023 can split it
  for (const Combo& c : Combos()) {
    auto t = c.factory->Create(BackendFor(c.to));
    int status = 0;
    std::string out;
    t->TranslateError(502, http::HeaderMap(), body, &status, &out);
    EXPECT_TRUE(IsUtf8(out)) << c.Name() << ": " << Escaped(out.substr(out.size() > 200 ? out.size() - 200 : 0));
    if (out != body) {
      EXPECT_EQ(CheckErrorBody(out, c.from), "") << c.Name();
    }
  }
  EXPECT_EQ(Utf8Prefix("a\xc3\xa9", 2), "a");
  EXPECT_EQ(Utf8Prefix("a\xc3\xa9", 3), "a\xc3\xa9");
  EXPECT_EQ(Utf8Prefix("\xf0\x9f\x98\x80!", 3), "");
  EXPECT_EQ(Utf8Prefix("abc", 2), "ab");
}

// Gemini: after relaying a mid-stream error event, a malformed event that followed failed the
// stream, so the client got a second error event after the first.
TEST(RobustnessRegressionTest, GeminiIgnoresWhatFollowsARelayedError) {
  const Combo& c = ComboOf(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kGCPVertexAI);
  Fed f = FeedStream(c, kOpenAIStreamRequest,
                     "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Partial\"}]}}],"
                     "\"responseId\":\"s6\"}\n\n"
                     "data: {\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n"
                     "data: {\"candidates\": \\x41 not JSON\n\n");
  EXPECT_TRUE(f.status.ok()) << f.status;
  EXPECT_EQ(CheckClientSse(f.out + f.error_event, Dialect::kOpenAI, SseMode::kTranslated), "") << f.out;
}

// InvokeModel streams (both client dialects) and ConverseStream for Anthropic clients: an
// exception frame or a cut-off frame after the answer ended (message_stop, or [DONE]) failed
// the stream, and the client got an error event after the end (Anthropic SDKs raise on it).
TEST(RobustnessRegressionTest, BedrockTroubleAfterTheEndIsIgnored) {
  const Frame exception = ExceptionFrame("throttlingException", R"({"message":"late"})");
  for (bool cut : {false, true}) {
    Frames invoke = InvokeFrames(*json::Parse(ReadFile(Root() / "openai_to_awsanthropic/testdata/stream_text.events.json")));
    Frames converse = ConverseFrames(*json::Parse(ReadFile(Root() / "anthropic_to_bedrock/testdata/stream_text.events.json")));
    invoke.push_back(exception);
    converse.push_back(exception);
    std::string invoke_bytes = EncodeFrames(invoke), converse_bytes = EncodeFrames(converse);
    if (cut) {  // the exception frame cut short instead
      invoke_bytes.resize(invoke_bytes.size() - 5);
      converse_bytes.resize(converse_bytes.size() - 5);
    }
    const struct {
      Combo c;
      const char* request;
      std::string bytes;
      SseMode mode;
    } cases[] = {
        {ComboOf(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kAWSAnthropic), kOpenAIStreamRequest,
         invoke_bytes, SseMode::kTranslated},
        {ComboOf(Endpoint::kMessages, Dialect::kAnthropic, config::ApiSchema::kAWSAnthropic), kAnthropicStreamRequest,
         invoke_bytes, SseMode::kEvents},
        {ComboOf(Endpoint::kMessages, Dialect::kAnthropic, config::ApiSchema::kAWSBedrock), kAnthropicStreamRequest,
         converse_bytes, SseMode::kTranslated},
    };
    for (const auto& k : cases) {
      Fed f = FeedStream(k.c, k.request, k.bytes);
      EXPECT_TRUE(f.status.ok()) << k.c.Name() << " cut=" << cut << ": " << f.status;
      EXPECT_TRUE(HasTerminal(f.out, k.c.from)) << k.c.Name();
      EXPECT_EQ(CheckClientSse(f.out + f.error_event, k.c.from, k.mode), "") << k.c.Name();
    }
    // Before the end the same frame still fails the stream.
    Frames early = InvokeFrames(*json::Parse(ReadFile(Root() / "openai_to_awsanthropic/testdata/stream_text.events.json")));
    early.insert(early.begin() + 2, exception);
    Fed f = FeedStream(ComboOf(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kAWSAnthropic),
                       kOpenAIStreamRequest, EncodeFrames(early));
    EXPECT_FALSE(f.status.ok());
  }
}

// Anthropic passthrough: a stream cut inside an event after message_stop (here a keep-alive
// comment) failed, so an error event followed the client's message_stop.
TEST(RobustnessRegressionTest, AnthropicPassthroughDropsACutTailAfterTheEnd) {
  const std::string stream =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n: trailing keep-al";
  for (config::ApiSchema s : {config::ApiSchema::kAnthropic, config::ApiSchema::kGCPAnthropic}) {
    Fed f = FeedStream(ComboOf(Endpoint::kMessages, Dialect::kAnthropic, s), kAnthropicStreamRequest, stream);
    EXPECT_TRUE(f.status.ok()) << f.status;
    EXPECT_EQ(CheckClientSse(f.out, Dialect::kAnthropic, SseMode::kTranslated), "") << Escaped(f.out);
  }
  // Without message_stop a cut stream still fails.
  Fed f = FeedStream(ComboOf(Endpoint::kMessages, Dialect::kAnthropic, config::ApiSchema::kAnthropic),
                     kAnthropicStreamRequest, stream.substr(0, stream.find("event: message_stop")) + "event: ping\nda");
  EXPECT_FALSE(f.status.ok());
}

// Anthropic clients of an OpenAI backend: arguments of a tool call that arrived after text had
// closed its block went out as a content_block_delta for a block already stopped. Text that
// comes while a call's arguments are incomplete is now held until they are whole; arguments
// after a whole call's block closed are an error.
TEST(RobustnessRegressionTest, AnthropicClientsGetNoDeltaForAClosedBlock) {
  const Combo& c = ComboOf(Endpoint::kMessages, Dialect::kAnthropic, config::ApiSchema::kOpenAI);
  auto chunk = [](std::string_view delta, std::string_view finish = "null") {
    return StrCat(R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":)",
                  delta, R"(,"finish_reason":)", finish, "}]}\n\n");
  };
  std::string stream = chunk(R"({"role":"assistant","content":""})") +
                       chunk(R"({"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{\"city\":"}}]})") +
                       chunk(R"({"content":"Hi"})") +
                       chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Rome\"}"}}]})") +
                       chunk("{}", R"("tool_calls")") + "data: [DONE]\n\n";
  Fed f = FeedStream(c, kAnthropicStreamRequest, stream);
  EXPECT_TRUE(f.status.ok()) << f.status;
  EXPECT_EQ(CheckClientSse(f.out, Dialect::kAnthropic, SseMode::kTranslated), "") << f.out;
  // The call's block gets all of its arguments, then the held text gets its own block.
  const size_t rome = f.out.find(R"(\"Rome\"})");
  const size_t text_block = f.out.find(R"("content_block":{"type":"text")");
  ASSERT_NE(rome, std::string::npos) << f.out;
  ASSERT_NE(text_block, std::string::npos) << f.out;
  EXPECT_LT(rome, text_block) << f.out;
  EXPECT_NE(f.out.find(R"("delta":{"type":"text_delta","text":"Hi"})"), std::string::npos) << f.out;
  // Once a call's arguments were whole and text closed its block, more arguments are an error.
  std::string late = chunk(R"({"role":"assistant","content":""})") +
                     chunk(R"({"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]})") +
                     chunk(R"({"content":"Hi"})") + chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]})") +
                     chunk("{}", R"("tool_calls")") + "data: [DONE]\n\n";
  Fed bad = FeedStream(c, kAnthropicStreamRequest, late);
  EXPECT_FALSE(bad.status.ok());
  EXPECT_EQ(CheckClientSse(bad.out + bad.error_event, Dialect::kAnthropic, SseMode::kTranslated), "") << bad.out;
  // Whitespace after the block closed adds nothing: it is dropped, the answer stands.
  std::string spaces = chunk(R"({"role":"assistant","content":""})") +
                       chunk(R"({"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]})") +
                       chunk(R"({"content":"Hi"})") + chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":" "}}]})") +
                       chunk("{}", R"("tool_calls")") + "data: [DONE]\n\n";
  Fed ok = FeedStream(c, kAnthropicStreamRequest, spaces);
  EXPECT_TRUE(ok.status.ok()) << ok.status;
  EXPECT_EQ(CheckClientSse(ok.out, Dialect::kAnthropic, SseMode::kTranslated), "") << ok.out;
}

// Embeddings: a vector holding something else than numbers reached the client as it was
// (Bedrock's float path, Gemini's float path) or as zeros (the base64 paths).
TEST(RobustnessRegressionTest, EmbeddingsOfNonNumbersAreMalformed) {
  const struct {
    config::ApiSchema to;
    const char* answer;
  } cases[] = {
      {config::ApiSchema::kAWSBedrock, R"({"embedding":[0.1,[[1]]],"inputTextTokenCount":1})"},
      {config::ApiSchema::kAWSBedrock, R"({"embeddingsByType":{"float":[0.5,"x"]},"inputTextTokenCount":1})"},
      {config::ApiSchema::kGCPVertexAI, R"({"predictions":[{"embeddings":{"values":[0.1,{"a":1}]}}]})"},
  };
  for (const auto& k : cases) {
    const Combo& c = ComboOf(Endpoint::kEmbeddings, Dialect::kOpenAI, k.to);
    for (const char* request : {R"({"model":"m","input":"x"})", R"({"model":"m","input":"x","encoding_format":"base64"})"}) {
      Request r;
      r.body = request;
      Ready ready = Start(c, r, false);
      ASSERT_EQ(ready.problem, "") << c.Name();
      Fed f = Feed(*ready.t, k.answer, {}, false);
      EXPECT_FALSE(f.status.ok()) << c.Name() << " " << request << ": " << f.out;
    }
  }
}

// count_tokens on Bedrock Converse re-reads the Converse body it built; a client document
// nested near the parser's limit comes out deeper than the limit, and the refusal was an
// Internal error (a 500) for what is the client's request.
TEST(RobustnessRegressionTest, CountTokensRefusesTooDeepNestingAsTheClientsError) {
  const Combo& c = ComboOf(Endpoint::kCountTokens, Dialect::kAnthropic, config::ApiSchema::kAWSBedrock);
  for (int depth = json::kMaxDepth - 8; depth <= json::kMaxDepth; ++depth) {
    std::string nested = std::string(static_cast<size_t>(depth - 2), '[') + "1" + std::string(static_cast<size_t>(depth - 2), ']');
    Request r;
    r.body = StrCat(R"({"model":"m","max_tokens":64,"thinking":{"type":"enabled","budget_tokens":)", nested,
                    R"(},"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(NestingDepth(r.body), depth);
    auto t = c.factory->Create(BackendFor(c.to));
    Prepared p(c, r);
    if (p.PipelineRejects()) continue;
    auto up = t->TranslateRequest(p.req());
    EXPECT_EQ(CheckUpstream(up, r), "") << "depth " << depth;
  }
}

// Token counts add up in int64: counts near INT64_MAX overflowed (undefined behaviour, which
// UBSan reports; in practice a negative usage for the rate limiter and the client).
TEST(RobustnessRegressionTest, HugeTokenCountsSaturate) {
  constexpr char kMax[] = "9223372036854775807";
  const std::map<Family, std::string> answers = {
      {Family::kAnthropic,
       StrCat(R"({"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"hi"}],)",
              R"("stop_reason":"end_turn","usage":{"input_tokens":)", kMax, R"(,"cache_read_input_tokens":2100,)",
              R"("cache_creation_input_tokens":)", kMax, R"(,"output_tokens":)", kMax, "}}")},
      {Family::kConverse,
       StrCat(R"({"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn",)",
              R"("usage":{"inputTokens":)", kMax, R"(,"outputTokens":)", kMax, R"(,"cacheReadInputTokens":)", kMax, "}}")},
      {Family::kOpenAIChat,
       StrCat(R"({"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":)",
              R"({"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":)", kMax,
              R"(,"completion_tokens":)", kMax, R"(,"prompt_tokens_details":{"cached_tokens":-9223372036854775808}}})")},
      {Family::kGemini,
       StrCat(R"({"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],)",
              R"("usageMetadata":{"promptTokenCount":)", kMax, R"(,"toolUsePromptTokenCount":)", kMax,
              R"(,"candidatesTokenCount":)", kMax, R"(,"thoughtsTokenCount":)", kMax, "}}")},
      {Family::kGeminiEmbeddings,
       StrCat(R"({"predictions":[{"embeddings":{"statistics":{"token_count":)", kMax, R"(},"values":[0.5]}},)",
              R"({"embeddings":{"statistics":{"token_count":)", kMax, R"(},"values":[0.5]}}]})")},
  };
  int checked = 0;
  for (const Combo& c : Combos()) {
    auto it = answers.find(AnswerFamily(c));
    if (it == answers.end() || c.endpoint == Endpoint::kCountTokens) continue;
    Request r;
    r.body = c.from == Dialect::kAnthropic ? R"({"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})"
             : c.endpoint == Endpoint::kEmbeddings ? R"({"model":"m","input":"x"})"
                                                   : R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
    Ready ready = Start(c, r, false);
    ASSERT_EQ(ready.problem, "") << c.Name();
    Fed f = Feed(*ready.t, it->second, {}, false);
    const Usage& u = ready.t->usage();
    if (c.AnswerContract() == Contract::kRelay && c.from == Dialect::kOpenAI) continue;  // usage not read
    ++checked;
    EXPECT_TRUE(f.status.ok()) << c.Name() << ": " << f.status;
    EXPECT_GT(u.input_tokens, 0) << c.Name();
    EXPECT_GT(u.total_tokens, 0) << c.Name();
    if (f.status.ok() && c.AnswerContract() == Contract::kTranslate) {
      EXPECT_EQ(CheckClientAnswer(f.out, c), "") << c.Name();
    }
  }
  EXPECT_GE(checked, 8);
  EXPECT_EQ(AddTokens(std::numeric_limits<int64_t>::max(), 1), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(AddTokens(std::numeric_limits<int64_t>::min(), -1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(SubTokens(0, std::numeric_limits<int64_t>::min()), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(AddTokens(2, 3), 5);
}

// The same on the request side: max_tokens made room for a client's thinking budget by adding
// to it, and a budget of INT64_MAX overflowed (OpenAI clients of Anthropic backends without
// max_tokens; count_tokens on AWSAnthropic without max_tokens).
TEST(RobustnessRegressionTest, HugeThinkingBudgetsSaturate) {
  const struct {
    Combo c;
    const char* body;
  } cases[] = {
      {ComboOf(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kAnthropic),
       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":9223372036854775807}})"},
      {ComboOf(Endpoint::kCountTokens, Dialect::kAnthropic, config::ApiSchema::kAWSAnthropic),
       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":9223372036854775807}})"},
  };
  for (const auto& k : cases) {
    Request r;
    r.body = k.body;
    auto t = k.c.factory->Create(BackendFor(k.c.to));
    Prepared p(k.c, r);
    auto up = t->TranslateRequest(p.req());
    ASSERT_EQ(CheckUpstream(up, r), "") << k.c.Name();
    if (!up.ok()) continue;
    auto doc = json::Parse(*up->body);
    ASSERT_TRUE(doc.ok());
    const Value* body = &*doc;
    std::string decoded;
    if (const Value* input = doc->Find("input")) {  // count-tokens: the InvokeModel body in base64
      auto raw = crypto::Base64Decode(input->Find("invokeModel")->GetString("body"));
      ASSERT_TRUE(raw.ok());
      decoded = *raw;
      doc = json::Parse(decoded);
      ASSERT_TRUE(doc.ok());
      body = &*doc;
    }
    ASSERT_NE(body->Find("max_tokens"), nullptr) << *up->body;
    EXPECT_GT(body->Find("max_tokens")->as_int(), 0) << k.c.Name() << ": " << json::Serialize(*body);
  }
}

}  // namespace
}  // namespace sluice::translate
