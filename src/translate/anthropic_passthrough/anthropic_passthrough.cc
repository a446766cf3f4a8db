#include "translate/anthropic_passthrough/anthropic_passthrough.h"

#include <vector>

#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"

// Facts: shared/reference/provider-apis.md §2 (Anthropic), §5.6 (Claude on Vertex);
// envoy-ai-gateway.md §1.4 (paths, anthropic_version from the schema version).
namespace sluice::translate {
namespace {

using json::Value;

constexpr std::string_view kDefaultAnthropicVersion = "2023-06-01";
// A buffered answer is forwarded as it comes; only this much is kept to read usage from.
constexpr size_t kMaxUsageCopy = 32u << 20;
// Limit on one held-back (incomplete) event.
constexpr size_t kMaxEventBytes = 16u << 20;


absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed Anthropic response: ", what));
}

std::string AnthropicErrorBody(std::string_view type, std::string_view message) {
  Value err = Value::Object();
  err.Set("type", Value::String(std::string(type)));
  err.Set("message", Value::String(std::string(message)));
  Value root = Value::Object();
  root.Set("type", Value::String("error"));
  root.Set("error", std::move(err));
  return json::Serialize(root);
}

class AnthropicPassthroughTranslator final : public Translator {
 public:
  AnthropicPassthroughTranslator(const config::Backend& backend, bool vertex)
      : backend_(backend), vertex_(vertex) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    sse_ = req.stream;
    response_model_ = std::string(req.model);
    UpstreamRequest up;
    if (!vertex_) {
      const std::string& prefix = backend_.schema_prefix;
      up.path = prefix.empty() ? std::string("/messages") : StrCat("/", prefix, "/messages");
      if (!req.headers.Has("anthropic-version")) {
        up.headers.Set("anthropic-version", kDefaultAnthropicVersion);
      }
      if (!req.client_model.empty() && req.client_model == req.model) return up;
      // The model changes: splice the new name over the old value's raw span.
      auto members = json::ScanObject(req.raw_body);
      if (!members.ok()) return members.status();
      for (const auto& m : *members) {
        if (m.key != "model") continue;
        std::string_view raw = req.raw_body.substr(m.value_begin, m.value_end - m.value_begin);
        auto current = json::DecodeStringToken(raw);
        if (current.ok() && *current == req.model) return up;
        std::string out;
        out.reserve(req.raw_body.size() + req.model.size());
        out.append(req.raw_body.substr(0, m.value_begin));
        json::AppendQuoted(&out, req.model);
        out.append(req.raw_body.substr(m.value_end));
        up.body = std::move(out);
        return up;
      }
      auto body = RewriteBody(req.raw_body, "model", req.model, "");
      if (!body.ok()) return body.status();
      up.body = std::move(*body);
      return up;
    }
    if (backend_.schema_version.empty()) {
      return absl::InvalidArgumentError(StrCat("backend ", backend_.name,
                                               ": schema version (the Vertex anthropic_version, e.g. "
                                               "vertex-2023-10-16) is required for GCPAnthropic"));
    }
    if (backend_.auth.gcp_project.empty() || backend_.auth.gcp_region.empty()) {
      return absl::InvalidArgumentError(
          StrCat("backend ", backend_.name, ": GCP project and region are required for GCPAnthropic"));
    }
    up.path = StrCat("/v1/projects/", PercentEncode(backend_.auth.gcp_project, "@"), "/locations/",
                     PercentEncode(backend_.auth.gcp_region, "@"), "/publishers/anthropic/models/",
                     PercentEncode(req.model, "@"), req.stream ? ":streamRawPredict" : ":rawPredict");
    // Vertex takes the version in the body, and the model only in the path.
    auto body = RewriteBody(req.raw_body, "anthropic_version", backend_.schema_version, "model");
    if (!body.ok()) return body.status();
    up.body = std::move(*body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    if (auto ct = headers.Get("content-type")) {
      if (ct->find("text/event-stream") != std::string_view::npos) sse_ = true;
      else if (ct->find("json") != std::string_view::npos) sse_ = false;
    }
    return {};
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream,
                                     std::string* out) override {
    if (!sse_) {
      out->append(chunk);
      if (copy_.size() + chunk.size() <= kMaxUsageCopy) copy_.append(chunk);
      else copy_overflow_ = true;
      if (end_of_stream && !copy_overflow_) ReadBufferedUsage();
      return absl::OkStatus();
    }
    return StreamBody(chunk, end_of_stream, out);
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    *client_status = status;
    auto doc = json::Parse(body);
    if (doc.ok() && doc->GetString("type") == "error") {
      out->append(body);  // already Anthropic's shape
      return;
    }
    // Vertex's front end (auth, quota, unknown model) answers in Google's shape
    // {"error":{"code","message","status"}}; anything else is wrapped as is.
    std::string message;
    if (doc.ok()) {
      if (const Value* e = doc->Find("error"); e != nullptr && e->is_object()) {
        message = std::string(e->GetString("message"));
      }
    }
    if (message.empty()) {
      message = body.empty() ? StrCat("upstream returned HTTP ", status) : ValidUtf8(Utf8Prefix(body, 1024));
    }
    out->append(AnthropicErrorBody(translate::AnthropicErrorType(status), message));
  }

  std::string StreamError(std::string_view message) override {
    return http::FormatSse("error", AnthropicErrorBody("api_error", message));
  }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return http::FormatSse("error", AnthropicErrorBody(translate::AnthropicErrorType(e.status), message));
  }

  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return response_model_; }

 private:
  // Rebuilds the top-level object from the raw member bytes: `set_key` first (as a string),
  // then every member except `set_key` and `drop_key` in order, values byte for byte.
  static absl::StatusOr<std::string> RewriteBody(std::string_view raw, std::string_view set_key,
                                                 std::string_view set_value, std::string_view drop_key) {
    auto members = json::ScanObject(raw);
    if (!members.ok()) return members.status();
    std::string out;
    out.reserve(raw.size() + set_value.size() + 32);
    out.push_back('{');
    json::AppendQuoted(&out, set_key);
    out.push_back(':');
    json::AppendQuoted(&out, set_value);
    for (const auto& m : *members) {
      if (m.key == set_key || (!drop_key.empty() && m.key == drop_key)) continue;
      out.push_back(',');
      json::AppendQuoted(&out, m.key);
      out.push_back(':');
      out.append(raw.substr(m.value_begin, m.value_end - m.value_begin));
    }
    out.push_back('}');
    return out;
  }

  // Forwards bytes up to the end of the last complete event and holds back the rest, so
  // what the client has seen always ends on an event boundary.
  absl::Status StreamBody(std::string_view chunk, bool end_of_stream, std::string* out) {
    pending_.append(chunk);
    size_t boundary = 0;
    for (size_t i = scanned_; i < pending_.size(); ++i) {
      char c = pending_[i];
      if (c == '\n' && prev_cr_) {  // the LF of a CRLF: the terminator was counted at the CR
        prev_cr_ = false;
        if (boundary == i) boundary = i + 1;
        continue;
      }
      prev_cr_ = c == '\r';
      if (c == '\r' || c == '\n') {
        if (at_line_start_) boundary = i + 1;  // a blank line ends an event
        at_line_start_ = true;
      } else {
        at_line_start_ = false;
      }
    }
    scanned_ = pending_.size();
    if (boundary > 0) {
      std::string_view complete(pending_.data(), boundary);
      out->append(complete);
      absl::Status st = Observe(complete);
      pending_.erase(0, boundary);
      scanned_ -= boundary;
      if (!st.ok()) return st;
    }
    if (pending_.size() > kMaxEventBytes) {
      return absl::ResourceExhaustedError("server-sent event exceeds the size limit");
    }
    if (!end_of_stream) return absl::OkStatus();
    // Leftovers that hold no event (comments, stray line ends) are harmless; a partial event
    // is a cut stream and must not reach the client.
    if (!pending_.empty()) {
      absl::Status st = Observe(pending_);
      if (!st.ok()) return st;
      if (parser_.HasPartial()) {
        // After message_stop or an error event the client's stream is whole: a cut-off tail is
        // dropped rather than followed by a second terminal (error) event.
        if (stopped_) {
          pending_.clear();
          return absl::OkStatus();
        }
        return Malformed("the stream ended in the middle of an event");
      }
      out->append(pending_);
      pending_.clear();
    }
    if (!stopped_) return Malformed("the stream ended before message_stop");
    return absl::OkStatus();
  }

  // Reads usage and the model from complete events. The bytes are forwarded regardless: a
  // passthrough does not judge what the client can parse itself.
  absl::Status Observe(std::string_view bytes) {
    return parser_.Feed(bytes, [this](const http::SseEventView& ev) {
      if (ev.event == "message_stop" || ev.event == "error") {
        stopped_ = true;
        return absl::OkStatus();
      }
      if (ev.event != "message_start" && ev.event != "message_delta") return absl::OkStatus();
      auto doc = json::Parse(ev.data);
      if (!doc.ok()) return absl::OkStatus();
      const Value* usage = doc->Find("usage");
      if (const Value* msg = doc->Find("message"); msg != nullptr && msg->is_object()) {
        usage = msg->Find("usage");
        if (std::string_view m = msg->GetString("model"); !m.empty()) response_model_ = std::string(m);
      }
      ReadUsage(usage);
      return absl::OkStatus();
    });
  }

  void ReadBufferedUsage() {
    auto doc = json::Parse(copy_);
    copy_.clear();
    if (!doc.ok()) return;
    if (std::string_view m = doc->GetString("model"); !m.empty()) response_model_ = std::string(m);
    ReadUsage(doc->Find("usage"));
  }

  // Anthropic counts are cumulative; a present field replaces the earlier value.
  void ReadUsage(const Value* u) {
    if (u == nullptr || !u->is_object()) return;
    auto read = [u](std::string_view k, int64_t* dst) {
      const Value* v = u->Find(k);
      if (v != nullptr && v->is_number()) *dst = v->as_int();
    };
    read("input_tokens", &input_);
    read("output_tokens", &usage_.output_tokens);
    read("cache_read_input_tokens", &usage_.cached_input_tokens);
    read("cache_creation_input_tokens", &usage_.cache_creation_input_tokens);
    usage_.input_tokens =
        AddTokens(AddTokens(input_, usage_.cached_input_tokens), usage_.cache_creation_input_tokens);
    usage_.total_tokens = AddTokens(usage_.input_tokens, usage_.output_tokens);
  }

  const config::Backend& backend_;  // outlives the translator (the request's config snapshot)
  const bool vertex_;
  bool sse_ = false;
  std::string response_model_;
  Usage usage_;
  int64_t input_ = 0;  // Anthropic's uncached input_tokens

  std::string copy_;  // buffered answer, for usage
  bool copy_overflow_ = false;

  std::string pending_;  // bytes after the last complete event
  size_t scanned_ = 0;   // prefix of pending_ already scanned for boundaries
  bool at_line_start_ = true;
  bool prev_cr_ = false;
  bool stopped_ = false;  // message_stop or error seen
  http::SseParser parser_;
};

class AnthropicPassthroughFactory final : public TranslatorFactory {
 public:
  explicit AnthropicPassthroughFactory(config::ApiSchema to) : to_(to) {}
  Endpoint endpoint() const override { return Endpoint::kMessages; }
  Dialect from() const override { return Dialect::kAnthropic; }
  config::ApiSchema to() const override { return to_; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AnthropicPassthroughTranslator>(b, to_ == config::ApiSchema::kGCPAnthropic);
  }
  // Only the raw bytes are read: the pipeline need not build a document.
  bool NeedsDocument() const override { return false; }

 private:
  config::ApiSchema to_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewAnthropicPassthroughFactory(config::ApiSchema to) {
  return std::make_unique<AnthropicPassthroughFactory>(to);
}

}  // namespace sluice::translate
