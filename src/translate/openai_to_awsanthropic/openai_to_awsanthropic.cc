#include "translate/openai_to_awsanthropic/openai_to_awsanthropic.h"

#include <vector>

#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/openai_to_anthropic/openai_to_anthropic.h"
#include "translate/openai_to_bedrock/bedrock_common.h"
#include "translate/openai_to_bedrock/request.h"

// Facts: shared/reference/provider-apis.md §3.4 (InvokeModel, Anthropic on Bedrock),
// envoy-ai-gateway.md §1.4 (AWSAnthropic paths, anthropic_beta allowlist).
namespace sluice::translate {
namespace {

constexpr std::string_view kDefaultVersion = "bedrock-2023-05-31";

class AwsAnthropicTranslator final : public Translator {
 public:
  AwsAnthropicTranslator(const config::Backend& backend, std::shared_ptr<const TranslatorFactory> anthropic)
      : backend_(backend), anthropic_factory_(std::move(anthropic)) {
    // The wrapped translator builds Claude-on-Vertex bodies (anthropic_version in the body, no
    // model), which is also Bedrock's shape; it insists on a Vertex project and region for a
    // path this translator replaces, so placeholders satisfy it.
    if (backend_.schema_version.empty()) backend_.schema_version = std::string(kDefaultVersion);
    backend_.auth.gcp_project = "-";
    backend_.auth.gcp_region = "-";
    inner_ = anthropic_factory_->Create(backend_);
  }

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    ASSIGN_OR_RETURN(UpstreamRequest up, inner_->TranslateRequest(req));
    stream_ = req.stream;
    // The wrapped translator writes a compact Vertex-shaped body (no `model`; `"stream":true`
    // last when streaming, see openai_to_anthropic/request.h), edited here as text: InvokeModel
    // picks streaming by path, so `stream` goes, and the betas travel in the body.
    if (!up.body || up.body->size() < 2 || up.body->back() != '}') {
      return absl::InternalError("anthropic request body is not an object");
    }
    std::string& body = *up.body;
    constexpr std::string_view kStream = ",\"stream\":true}";
    if (std::string_view(body).ends_with(kStream)) {
      body.resize(body.size() - kStream.size());
      body.push_back('}');
    }
    if (auto beta = req.headers.Get("anthropic-beta")) {
      std::vector<std::string_view> flags = bedrock_internal::BedrockAnthropicBetas(*beta);
      if (!flags.empty()) {
        body.pop_back();  // '}'
        body.append(",\"anthropic_beta\":[");
        for (size_t i = 0; i < flags.size(); ++i) {
          if (i > 0) body.push_back(',');
          json::AppendQuoted(&body, flags[i]);
        }
        body.append("]}");
      }
    }
    // Bedrock takes neither header: the version and betas travel in the body.
    for (std::string_view h : {"anthropic-beta", "anthropic-version"}) {
      std::erase_if(up.headers.set, [h](const auto& kv) { return kv.first == h; });
      up.headers.Remove(h);
    }
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", stream_ ? "application/vnd.amazon.eventstream" : "application/json");
    up.path = openai_to_bedrock_internal::ModelPath(req.model, stream_ ? "/invoke-with-response-stream" : "/invoke");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int status, const http::HeaderMap& headers) override {
    // The wrapped translator reads the framing from content-type; Bedrock's event-stream is
    // re-framed here as the Anthropic SSE it understands.
    http::HeaderMap as_anthropic = headers;
    as_anthropic.Set("content-type", stream_ ? "text/event-stream" : "application/json");
    return inner_->TranslateResponseHeaders(status, as_anthropic);
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (!error_.ok()) return error_;
    if (!stream_) return error_ = inner_->TranslateResponseBody(chunk, end_of_stream, out);
    return error_ = relay_.Feed(*inner_, chunk, end_of_stream, out);
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    bedrock_internal::ErrorToOpenAI(status, headers, body, client_status, out);
  }

  std::string StreamError(std::string_view message) override { return inner_->StreamError(message); }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return inner_->ProviderStreamError(message, e);
  }
  const Usage& usage() const override { return inner_->usage(); }
  std::string_view response_model() const override { return inner_->response_model(); }

 private:
  config::Backend backend_;  // a copy the wrapped translator refers to
  std::shared_ptr<const TranslatorFactory> anthropic_factory_;
  std::unique_ptr<Translator> inner_;
  bool stream_ = false;
  absl::Status error_;
  bedrock_internal::InvokeStreamRelay relay_{false};
};

class AwsAnthropicFactory final : public TranslatorFactory {
 public:
  explicit AwsAnthropicFactory(std::function<int64_t()> now)
      : anthropic_(NewOpenAIToAnthropicFactory(config::ApiSchema::kGCPAnthropic, std::move(now))) {}
  Endpoint endpoint() const override { return Endpoint::kChatCompletions; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kAWSAnthropic; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AwsAnthropicTranslator>(b, anthropic_);
  }
  // As the wrapped translator: the request is read from raw_body.
  bool NeedsDocument() const override { return anthropic_->NeedsDocument(); }

 private:
  // Shared with every translator: the wrapped ones may refer to the factory's state.
  std::shared_ptr<const TranslatorFactory> anthropic_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIToAwsAnthropicFactory(std::function<int64_t()> now) {
  return std::make_unique<AwsAnthropicFactory>(std::move(now));
}

}  // namespace sluice::translate
