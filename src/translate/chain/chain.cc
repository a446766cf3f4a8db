#include "translate/chain/chain.h"

#include <optional>
#include <string>

#include "common/assert.h"
#include "common/strings.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

class ChainTranslator final : public Translator {
 public:
  ChainTranslator(std::unique_ptr<Translator> first, std::unique_ptr<Translator> second, bool second_needs_doc)
      : first_(std::move(first)), second_(std::move(second)), second_needs_doc_(second_needs_doc) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    auto middle = first_->TranslateRequest(req);
    if (!middle.ok()) return middle.status();
    // The OpenAI request `first` made is what `second` reads as its client's.
    middle_body_ = middle->body ? std::move(*middle->body) : std::string(req.raw_body);
    middle_doc_ = json::Value::Object();
    if (second_needs_doc_) {
      auto parsed = json::Parse(middle_body_);
      if (!parsed.ok()) return absl::InternalError(StrCat("chained request is not JSON: ", parsed.status().message()));
      middle_doc_ = std::move(*parsed);
    }
    ClientRequest next{.endpoint = Endpoint::kChatCompletions,
                       .raw_body = middle_body_,
                       .doc = middle_doc_,
                       .headers = req.headers,
                       .model = req.model,
                       .stream = req.stream,
                       .client_model = req.client_model};
    auto up = second_->TranslateRequest(next);
    if (!up.ok()) return up.status();
    if (!up->body) up->body = middle_body_;  // a copy: `second` may still point into ours
    // Header edits for the OpenAI leg (e.g. dropping anthropic-version) still apply, then
    // the provider leg's.
    http::HeaderMutation headers = std::move(middle->headers);
    headers.Merge(std::move(up->headers));
    up->headers = std::move(headers);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int status, const http::HeaderMap& headers) override {
    http::HeaderMutation m = second_->TranslateResponseHeaders(status, headers);
    http::HeaderMap middle = headers;
    m.ApplyTo(middle);
    m.Merge(first_->TranslateResponseHeaders(status, middle));
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    middle_out_.clear();
    absl::Status st = second_->TranslateResponseBody(chunk, end_of_stream, &middle_out_);
    // What `second` made of the chunk before a failure still reaches the client; its failure
    // is the chain's (the driver then ends the stream in the client's dialect).
    if (!middle_out_.empty() || end_of_stream) {
      absl::Status first_st = first_->TranslateResponseBody(middle_out_, end_of_stream && st.ok(), out);
      if (st.ok()) return first_st;
    }
    return st;
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    int middle_status = status;
    std::string middle;
    second_->TranslateError(status, headers, body, &middle_status, &middle);
    http::HeaderMap middle_headers = headers;
    middle_headers.Set("content-type", "application/json");
    first_->TranslateError(middle_status, middle_headers, middle, client_status, out);
  }

  std::string StreamError(std::string_view message) override { return first_->StreamError(message); }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return first_->ProviderStreamError(message, e);
  }
  const Usage& usage() const override { return second_->usage(); }
  std::string_view response_model() const override { return second_->response_model(); }
  bool WholeEvents() const override { return first_->WholeEvents(); }

 private:
  std::unique_ptr<Translator> first_;
  std::unique_ptr<Translator> second_;
  const bool second_needs_doc_;
  std::string middle_body_;  // the OpenAI request (`second`'s client body)
  json::Value middle_doc_;   // ... parsed, when `second` reads a document
  std::string middle_out_;   // the OpenAI answer bytes of the current chunk
};

class ChainFactory final : public TranslatorFactory {
 public:
  ChainFactory(const TranslatorFactory* first, const TranslatorFactory* second) : first_(first), second_(second) {
    SLUICE_RELEASE_ASSERT(first_ != nullptr && second_ != nullptr, "chain of a missing translator");
    SLUICE_RELEASE_ASSERT(first_->to() == config::ApiSchema::kOpenAI && second_->from() == Dialect::kOpenAI &&
                              second_->endpoint() == Endpoint::kChatCompletions,
                          "a chain goes through OpenAI chat completions");
  }
  Endpoint endpoint() const override { return first_->endpoint(); }
  Dialect from() const override { return first_->from(); }
  config::ApiSchema to() const override { return second_->to(); }
  std::unique_ptr<Translator> Create(const config::Backend& backend) const override {
    return std::make_unique<ChainTranslator>(first_->Create(backend), second_->Create(backend),
                                             second_->NeedsDocument());
  }
  bool NeedsDocument() const override { return first_->NeedsDocument(); }

 private:
  const TranslatorFactory* first_;
  const TranslatorFactory* second_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewChainFactory(const TranslatorFactory* first, const TranslatorFactory* second) {
  return std::make_unique<ChainFactory>(first, second);
}

}  // namespace sluice::translate
