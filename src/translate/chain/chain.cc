#include "translate/chain/chain.h"

#include <memory>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/strings.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

class ChainTranslator final : public Translator {
 public:
  ChainTranslator(std::unique_ptr<Translator> first, std::unique_ptr<Translator> second, bool second_needs_doc,
                  const std::vector<std::string>& carry)
      : first_(std::move(first)), second_(std::move(second)), second_needs_doc_(second_needs_doc), carry_(carry) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    auto middle = first_->TranslateRequest(req);
    if (!middle.ok()) return middle.status();
    // The OpenAI request `first` made is what `second` reads as its client's (valid for the
    // call, as a client's body is).
    std::string middle_body = middle->body ? std::move(*middle->body) : std::string(req.raw_body);
    Carry(req.doc, &middle_body);
    json::Value middle_doc = json::Value::Object();
    if (second_needs_doc_) {
      auto parsed = json::Parse(middle_body);
      // `first` wrote valid JSON; the OpenAI shape nests a level deeper (tool schemas under
      // function.parameters), so only the depth limit can refuse it.
      if (!parsed.ok()) return absl::InvalidArgumentError("the request nests too deeply to translate for this backend");
      middle_doc = std::move(*parsed);
    }
    ClientRequest next{.endpoint = Endpoint::kChatCompletions,
                       .raw_body = middle_body,
                       .doc = middle_doc,
                       .headers = req.headers,
                       .model = req.model,
                       .stream = req.stream,
                       .client_model = req.client_model,
                       .want_usage = req.want_usage};
    auto up = second_->TranslateRequest(next);
    if (!up.ok()) return InClientTerms(up.status());
    if (!up->body) up->body = std::move(middle_body);
    // Header edits for the OpenAI leg (e.g. dropping anthropic-version) still apply, then
    // the provider leg's.
    http::HeaderMutation headers = std::move(middle->headers);
    Then(&headers, std::move(up->headers));
    up->headers = std::move(headers);
    return up;
  }

  // `next` applied after `m`: as Merge, but a header `next` removes also loses a value `m`
  // sets (ApplyTo removes before it sets, so Merge alone would keep it).
  static void Then(http::HeaderMutation* m, http::HeaderMutation&& next) {
    for (const std::string& r : next.remove) {
      const std::string name = http::ToLower(r);
      std::erase_if(m->set, [&](const auto& e) { return e.first == name; });
    }
    m->Merge(std::move(next));
  }

  // Appends the client's `carry_` members to the OpenAI request (a JSON object `first` wrote,
  // which has none of them).
  void Carry(const json::Value& client, std::string* body) const {
    if (carry_.empty() || body->empty() || body->back() != '}') return;
    std::string extra;
    for (const std::string& key : carry_) {
      const json::Value* v = client.Find(key);
      if (v == nullptr || v->is_null()) continue;
      extra.push_back(',');
      json::AppendQuoted(&extra, key);
      extra.push_back(':');
      extra.append(json::Serialize(*v));
    }
    if (extra.empty()) return;
    const bool empty_object = body->find_first_not_of(" \t\r\n", 1) == body->size() - 1;
    body->insert(body->size() - 1, empty_object ? std::string_view(extra).substr(1) : std::string_view(extra));
  }

  // A refusal by `second` names a field of the OpenAI request (as InvalidField, or as the
  // message's leading path); the client sent another shape. Tool fields map over
  // (tools[i].function.parameters is the client's tools[i].input_schema); message indices do
  // not (system prompts and tool results are split out), so those keep only the reason.
  static absl::Status InClientTerms(const absl::Status& st) {
    if (st.code() != absl::StatusCode::kInvalidArgument) return st;
    const std::string field = InvalidFieldOf(st);
    const std::string message(ToStd(st.message()));
    std::string path = field;
    if (path.empty() && (message.rfind("tools[", 0) == 0 || message.rfind("messages[", 0) == 0)) {
      path = message.substr(0, message.find(": "));
    }
    if (path.empty() || path.size() == message.size()) return st;
    const std::string what = message.rfind(StrCat(path, ": "), 0) == 0 ? message.substr(path.size() + 2) : message;
    if (path.rfind("tools[", 0) == 0) {
      std::string mapped = path;
      if (size_t at = mapped.find(".function.parameters"); at != std::string::npos) {
        mapped.replace(at, std::string_view(".function.parameters").size(), ".input_schema");
      } else if (size_t fn = mapped.find(".function."); fn != std::string::npos) {
        mapped.replace(fn, std::string_view(".function.").size(), ".");
      }
      return field.empty() ? absl::InvalidArgumentError(StrCat(mapped, ": ", what)) : InvalidField(mapped, what);
    }
    if (path.rfind("messages[", 0) == 0) {
      return absl::InvalidArgumentError(StrCat("the backend cannot take this request: ", what));
    }
    return st;
  }

  http::HeaderMutation TranslateResponseHeaders(int status, const http::HeaderMap& headers) override {
    http::HeaderMutation m = second_->TranslateResponseHeaders(status, headers);
    http::HeaderMap middle = headers;
    m.ApplyTo(middle);
    Then(&m, first_->TranslateResponseHeaders(status, middle));
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
  const std::vector<std::string>& carry_;  // the factory's
  std::string middle_out_;   // the OpenAI answer bytes of the current chunk
};

class ChainFactory final : public TranslatorFactory {
 public:
  ChainFactory(const TranslatorFactory* first, const TranslatorFactory* second, std::vector<std::string> carry)
      : first_(first), second_(second), carry_(std::move(carry)) {
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
                                             second_->NeedsDocument(), carry_);
  }
  bool NeedsDocument() const override { return first_->NeedsDocument(); }

 private:
  const TranslatorFactory* first_;
  const TranslatorFactory* second_;
  const std::vector<std::string> carry_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewChainFactory(const TranslatorFactory* first, const TranslatorFactory* second,
                                                   std::vector<std::string> carry) {
  return std::make_unique<ChainFactory>(first, second, std::move(carry));
}

}  // namespace sluice::translate
