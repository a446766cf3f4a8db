#include "translate/openai_passthrough/openai_passthrough.h"

#include "common/strings.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

class PassthroughTranslator final : public Translator {
 public:
  PassthroughTranslator(const config::Backend& b, Endpoint e) : backend_(b), endpoint_(e) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
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
    if (hide_usage_chunk_) {
      auto ct = headers.Get("content-type");
      if (!ct || ct->find("text/event-stream") == std::string_view::npos) hide_usage_chunk_ = false;
    }
    return {};
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (hide_usage_chunk_) return hider_.Feed(chunk, end_of_stream, out);
    out->append(chunk);
    return absl::OkStatus();
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
  bool WholeEvents() const override { return hide_usage_chunk_; }  // else the upstream's bytes as they come

 private:
  const config::Backend& backend_;
  Endpoint endpoint_;
  bool hide_usage_chunk_ = false;  // include_usage was added for the driver (want_usage)
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
