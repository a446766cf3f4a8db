#include "translate/openai_passthrough/openai_passthrough.h"

#include "common/strings.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

class PassthroughTranslator final : public Translator {
 public:
  PassthroughTranslator(const config::Backend& b, Endpoint e) : backend_(b), endpoint_(e) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    event_stream_ = req.stream;  // until the answer's head says otherwise
    auto up = SpliceModel(req);
    if (!up.ok()) return up;
    auto asked = AskForStreamUsage(req, &*up);
    if (!asked.ok()) return asked.status();
    hide_usage_chunk_ = *asked;
    return up;
  }

  absl::StatusOr<UpstreamRequest> SpliceModel(const ClientRequest& req) {
    UpstreamRequest up;
    const std::string& prefix = backend_.schema_prefix;
    up.path = prefix.empty() ? StrCat("/", EndpointName(endpoint_))
                             : StrCat("/", prefix, "/", EndpointName(endpoint_));
    if (!req.client_model.empty() && req.client_model == req.model) return up;
    // The model changes: find its raw span and splice the new name in.
    auto members = json::ScanObject(req.raw_body);
    if (!members.ok()) return members.status();
    for (const auto& m : *members) {
      if (m.key != "model") continue;
      std::string_view raw = req.raw_body.substr(m.value_begin, m.value_end - m.value_begin);
      auto current = json::DecodeStringToken(raw);
      if (!current.ok() || *current != req.model) {
        std::string out;
        out.reserve(req.raw_body.size() + req.model.size());
        out.append(req.raw_body.substr(0, m.value_begin));
        json::AppendQuoted(&out, req.model);
        out.append(req.raw_body.substr(m.value_end));
        up.body = std::move(out);
      }
    }
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap& headers) override {
    // A server that ignored stream:true answers JSON: its bytes pass unchanged.
    if (event_stream_) {
      auto ct = headers.Get("content-type");
      event_stream_ = ct && ct->find("text/event-stream") != std::string_view::npos;
    }
    if (!event_stream_) hide_usage_chunk_ = false;
    return {};
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (hide_usage_chunk_) return hider_.Feed(chunk, end_of_stream, out);
    if (!event_stream_) {
      out->append(chunk);
      return absl::OkStatus();
    }
    return RelayWholeEvents(chunk, end_of_stream, out);
  }

  // Relays the upstream's bytes unchanged, but only up to the end of the last complete event:
  // the bytes of an event still arriving are held until it ends. So what the client has seen
  // always ends on an event boundary, and a stream that breaks mid-event (the connection
  // closes, the upstream times out) ends with the driver's error event alone, not glued to half
  // an event the client cannot parse. At the end of a whole stream the rest goes out as it is
  // (a last event without its blank line, a trailing comment).
  absl::Status RelayWholeEvents(std::string_view chunk, bool end_of_stream, std::string* out) {
    if (end_of_stream) {
      out->append(held_);
      out->append(chunk);
      held_.clear();
      return absl::OkStatus();
    }
    if (held_.empty()) {
      // The usual case: a chunk that ends with its last event goes out without a copy.
      size_t end = EventsEnd(chunk, 0);
      out->append(chunk.substr(0, end));
      held_.assign(chunk.substr(end));
    } else {
      // No event ended in the held bytes but for, perhaps, a CR they end with.
      const size_t from = held_.size() - 1;
      held_.append(chunk);
      size_t end = EventsEnd(held_, from);
      out->append(held_, 0, end);
      held_.erase(0, end);
    }
    if (held_.size() > UsageChunkHider::kMaxEventBytes) {
      return absl::ResourceExhaustedError("server-sent event exceeds the size limit");
    }
    return absl::OkStatus();
  }

  // Where the last complete event of `s` ends (0 when none does): just after the last blank
  // line, searched from the end (a chunk usually ends with one) down to index `from`. `s`
  // begins an event. A blank line is a line end (LF, CRLF or CR) right after another line end
  // or at the start of `s`. A CR as the last byte may be the first half of a CRLF: it is
  // decided with the next bytes.
  static size_t EventsEnd(std::string_view s, size_t from) {
    auto eol = [](char c) { return c == '\n' || c == '\r'; };
    for (size_t i = s.size(); i-- > from;) {
      const char c = s[i];
      if (!eol(c)) continue;
      if (c == '\r' && i + 1 == s.size()) continue;  // maybe half of a CRLF
      // The line end at i starts at `first` (the CR of a CRLF).
      const size_t first = (c == '\n' && i > 0 && s[i - 1] == '\r') ? i - 1 : i;
      if (first == 0 || eol(s[first - 1])) return i + 1;
    }
    return 0;
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    // Same dialect: the provider's error is already what the client expects.
    *client_status = status;
    out->append(body);
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  // Without want_usage, usage is not read here (the driver reads what the client gets).
  const Usage& usage() const override { return hider_.usage(); }
  std::string_view response_model() const override { return hider_.model(); }
  // Its pieces end on event boundaries, but keep-alives are left to the provider here: the
  // client asked for this provider's own stream. With the usage chunk hidden the gateway edits
  // the stream anyway.
  bool WholeEvents() const override { return hide_usage_chunk_; }

 private:
  const config::Backend& backend_;
  Endpoint endpoint_;
  bool hide_usage_chunk_ = false;  // include_usage was added for the driver (want_usage)
  bool event_stream_ = false;      // a stream was asked for, and the answer is text/event-stream
  std::string held_;               // the bytes of an event not yet complete
  UsageChunkHider hider_;
};

class PassthroughFactory final : public TranslatorFactory {
 public:
  explicit PassthroughFactory(Endpoint e) : endpoint_(e) {}
  Endpoint endpoint() const override { return endpoint_; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kOpenAI; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<PassthroughTranslator>(b, endpoint_);
  }
  bool NeedsDocument() const override { return false; }

 private:
  Endpoint endpoint_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIPassthroughFactory(Endpoint e) {
  return std::make_unique<PassthroughFactory>(e);
}

}  // namespace sluice::translate
