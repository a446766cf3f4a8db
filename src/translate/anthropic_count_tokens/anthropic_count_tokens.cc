#include "translate/anthropic_count_tokens/anthropic_count_tokens.h"

#include "common/assert.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "json/json.h"
#include "translate/anthropic_passthrough/anthropic_passthrough.h"
#include "translate/anthropic_to_awsanthropic/anthropic_to_awsanthropic.h"
#include "translate/anthropic_to_bedrock/anthropic_to_bedrock.h"
#include "translate/openai_to_bedrock/request.h"

// Facts: shared/reference/provider-apis.md §2.5 (count_tokens), §3.4 (Bedrock count-tokens),
// §5.6 (Vertex count-tokens:rawPredict); envoy-ai-gateway.md §1.3 (counttokens_* translators).
namespace sluice::translate {
namespace {

using json::Value;

// A buffered count is tiny; anything larger is not a count.
constexpr size_t kMaxAnswer = 1u << 20;

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(StrCat("malformed count_tokens answer: ", what));
}

absl::StatusOr<Value> ParseObject(std::string_view text, std::string_view what) {
  auto doc = json::Parse(text);
  // The body is the wrapped translator's, built from a client document the parser accepted;
  // it fails to read back only when the client nested it so deep that the provider's shape
  // (a few levels more) passes json::kMaxDepth: the client's request to fix, not a 500.
  if (!doc.ok()) {
    return absl::InvalidArgumentError(StrCat("request body nests too deeply (", what, ": ",
                                             ToStd(doc.status().message()), ")"));
  }
  if (!doc->is_object()) return absl::InternalError(StrCat(what, " is not a JSON object"));
  return doc;
}

class CountTokensTranslator final : public Translator {
 public:
  CountTokensTranslator(config::ApiSchema to, std::unique_ptr<Translator> inner) : to_(to), inner_(std::move(inner)) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    model_ = std::string(req.model);
    ClientRequest messages = req;
    messages.endpoint = Endpoint::kMessages;
    messages.stream = false;
    auto up = inner_->TranslateRequest(messages);
    if (!up.ok()) return up.status();
    std::string_view body = up->body ? std::string_view(*up->body) : req.raw_body;
    switch (to_) {
      case config::ApiSchema::kAnthropic:
        // ".../messages" -> ".../messages/count_tokens"; the body is the client's.
        up->path += "/count_tokens";
        break;
      case config::ApiSchema::kGCPAnthropic: {
        size_t models = up->path.rfind("/models/");
        if (models == std::string::npos) return absl::InternalError("unexpected Vertex path");
        up->path.replace(models + 8, std::string::npos, "count-tokens:rawPredict");
        auto doc = ParseObject(body, "the rawPredict body");
        if (!doc.ok()) return doc.status();
        std::string_view model = req.model;
        for (std::string_view suffix : {"@default", "@latest"}) {
          if (model.size() > suffix.size() && model.substr(model.size() - suffix.size()) == suffix)
            model.remove_suffix(suffix.size());
        }
        doc->Set("model", Value::String(std::string(model)));
        up->body = json::Serialize(*doc);
        break;
      }
      case config::ApiSchema::kAWSAnthropic: {
        auto doc = ParseObject(body, "the InvokeModel body");
        if (!doc.ok()) return doc.status();
        if (doc->Find("max_tokens") == nullptr) {
          // InvokeModel requires max_tokens (above a thinking budget); it does not change the count.
          int64_t budget = 0;
          if (const Value* t = doc->Find("thinking"); t != nullptr && t->is_object()) {
            if (const Value* b = t->Find("budget_tokens"); b != nullptr && b->is_number()) budget = b->as_int();
          }
          doc->Set("max_tokens", Value::Int(AddTokens(budget, 1)));
        }
        std::string wrapped = R"({"input":{"invokeModel":{"body":)";
        json::AppendQuoted(&wrapped, crypto::Base64Encode(json::Serialize(*doc)));
        wrapped.append("}}}");
        up->body = std::move(wrapped);
        up->path = openai_to_bedrock_internal::ModelPath(req.model, "/count-tokens");
        break;
      }
      case config::ApiSchema::kAWSBedrock: {
        auto doc = ParseObject(body, "the Converse body");
        if (!doc.ok()) return doc.status();
        // ConverseTokensRequest: the Converse members that count (tools and model fields too,
        // so a request with tools is not under-counted); inferenceConfig etc. are not members.
        Value converse = Value::Object();
        for (std::string_view key : {"messages", "system", "toolConfig", "additionalModelRequestFields"}) {
          if (const Value* v = doc->Find(key)) converse.Set(key, *v);
        }
        Value input = Value::Object();
        input.Set("converse", std::move(converse));
        Value wrapped = Value::Object();
        wrapped.Set("input", std::move(input));
        up->body = json::Serialize(wrapped);
        up->path = openai_to_bedrock_internal::ModelPath(req.model, "/count-tokens");
        break;
      }
      default:
        return absl::InternalError(StrCat("no token counting for ", config::SchemaName(to_)));
    }
    up->headers.Set("content-type", "application/json");
    up->headers.Set("accept", "application/json");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap&) override {
    http::HeaderMutation m;
    m.Set("content-type", "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (buffer_.size() + chunk.size() > kMaxAnswer) return absl::ResourceExhaustedError("count_tokens answer too large");
    buffer_.append(chunk);
    if (!end_of_stream) return absl::OkStatus();
    auto doc = json::Parse(buffer_);
    if (!doc.ok() || !doc->is_object()) return Malformed("not a JSON object");
    const bool bedrock = to_ == config::ApiSchema::kAWSAnthropic || to_ == config::ApiSchema::kAWSBedrock;
    const Value* n = doc->Find(bedrock ? "inputTokens" : "input_tokens");
    if (n == nullptr || !n->is_number()) return Malformed(bedrock ? "no inputTokens" : "no input_tokens");
    usage_.input_tokens = n->as_int();
    usage_.total_tokens = usage_.input_tokens;
    if (bedrock) {
      StrAppend(out, R"({"input_tokens":)", usage_.input_tokens, "}");
    } else {
      out->append(buffer_);  // Anthropic's own answer, with whatever else it says
    }
    buffer_.clear();
    return absl::OkStatus();
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    inner_->TranslateError(status, headers, body, client_status, out);
  }
  std::string StreamError(std::string_view message) override { return inner_->StreamError(message); }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return model_; }

 private:
  config::ApiSchema to_;
  std::unique_ptr<Translator> inner_;
  std::string buffer_;
  std::string model_;
  Usage usage_;
};

class CountTokensFactory final : public TranslatorFactory {
 public:
  explicit CountTokensFactory(config::ApiSchema to) : to_(to) {
    switch (to) {
      case config::ApiSchema::kAnthropic:
      case config::ApiSchema::kGCPAnthropic: messages_ = NewAnthropicPassthroughFactory(to); break;
      case config::ApiSchema::kAWSAnthropic: messages_ = NewAnthropicToAwsAnthropicFactory(); break;
      case config::ApiSchema::kAWSBedrock: messages_ = NewAnthropicToBedrockFactory(); break;
      default: SLUICE_RELEASE_ASSERT(false, "no token counting for this schema");
    }
  }
  Endpoint endpoint() const override { return Endpoint::kCountTokens; }
  Dialect from() const override { return Dialect::kAnthropic; }
  config::ApiSchema to() const override { return to_; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<CountTokensTranslator>(to_, messages_->Create(b));
  }
  bool NeedsDocument() const override { return messages_->NeedsDocument(); }

 private:
  config::ApiSchema to_;
  std::unique_ptr<TranslatorFactory> messages_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewAnthropicCountTokensFactory(config::ApiSchema to) {
  return std::make_unique<CountTokensFactory>(to);
}

}  // namespace sluice::translate
