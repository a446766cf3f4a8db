#include "translate/anthropic_to_awsanthropic/anthropic_to_awsanthropic.h"

#include <vector>

#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/eventstream.h"
#include "json/json.h"
#include "translate/anthropic_passthrough/anthropic_passthrough.h"
#include "translate/anthropic_to_awsanthropic/bedrock_errors.h"
#include "translate/openai_to_bedrock/bedrock_common.h"
#include "translate/openai_to_bedrock/request.h"

// Facts: shared/reference/provider-apis.md §2 (Anthropic), §3.4-3.5 (InvokeModel, errors);
// envoy-ai-gateway.md §1.4 (AWSAnthropic paths, anthropic_beta allowlist).
namespace sluice::translate {
namespace {

using json::Value;

constexpr std::string_view kDefaultVersion = "bedrock-2023-05-31";

class AnthropicToAwsAnthropicTranslator final : public Translator {
 public:
  AnthropicToAwsAnthropicTranslator(const config::Backend& backend, const TranslatorFactory& passthrough)
      : backend_(backend) {
    if (backend_.schema_version.empty()) backend_.schema_version = std::string(kDefaultVersion);
    // The wrapped Claude-on-Vertex passthrough only reads the answer here (usage, model,
    // event boundaries, message_stop); its request path is replaced, so placeholders do.
    backend_.auth.gcp_project = "-";
    backend_.auth.gcp_region = "-";
    inner_ = passthrough.Create(backend_);
  }

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    stream_ = req.stream;
    // Primes the wrapped translator (model, framing); its request is not used.
    if (auto inner = inner_->TranslateRequest(req); !inner.ok()) return inner.status();
    auto members = json::ScanObject(req.raw_body);
    if (!members.ok()) return absl::InvalidArgumentError(StrCat("request body: ", ToStd(members.status().message())));
    std::vector<std::string_view> betas;
    if (auto header = req.headers.Get("anthropic-beta")) betas = bedrock_internal::BedrockAnthropicBetas(*header);

    UpstreamRequest up;
    std::string body;
    body.reserve(req.raw_body.size() + 64);
    body.push_back('{');
    json::AppendQuoted(&body, "anthropic_version");
    body.push_back(':');
    json::AppendQuoted(&body, backend_.schema_version);
    for (const auto& m : *members) {
      if (m.key == "anthropic_version" || m.key == "model" || m.key == "stream") continue;
      if (m.key == "anthropic_beta" && !betas.empty()) continue;  // the header's flags win
      body.push_back(',');
      json::AppendQuoted(&body, m.key);
      body.push_back(':');
      body.append(req.raw_body.substr(m.value_begin, m.value_end - m.value_begin));
    }
    if (!betas.empty()) {
      body.append(",\"anthropic_beta\":[");
      for (size_t i = 0; i < betas.size(); ++i) {
        if (i > 0) body.push_back(',');
        json::AppendQuoted(&body, betas[i]);
      }
      body.push_back(']');
    }
    body.push_back('}');
    up.body = std::move(body);
    // Bedrock takes neither header: the version and betas travel in the body.
    up.headers.Remove("anthropic-beta");
    up.headers.Remove("anthropic-version");
    up.headers.Set("content-type", "application/json");
    up.headers.Set("accept", stream_ ? "application/vnd.amazon.eventstream" : "application/json");
    up.path = openai_to_bedrock_internal::ModelPath(req.model, stream_ ? "/invoke-with-response-stream" : "/invoke");
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int status, const http::HeaderMap& headers) override {
    http::HeaderMap as_anthropic = headers;
    as_anthropic.Set("content-type", stream_ ? "text/event-stream" : "application/json");
    http::HeaderMutation m = inner_->TranslateResponseHeaders(status, as_anthropic);
    if (stream_) {
      m.Set("content-type", "text/event-stream");
      m.Set("cache-control", "no-cache");
    }
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (!error_.ok()) return error_;
    if (!stream_) return error_ = inner_->TranslateResponseBody(chunk, end_of_stream, out);
    return error_ = relay_.Feed(*inner_, chunk, end_of_stream, out);
  }

  void TranslateError(int status, const http::HeaderMap& headers, std::string_view body, int* client_status,
                      std::string* out) override {
    anthropic_bedrock_internal::ErrorToAnthropic(status, headers, body, client_status, out);
  }

  std::string StreamError(std::string_view message) override { return inner_->StreamError(message); }
  std::string ProviderStreamError(std::string_view message, const ProviderError& e) override {
    return inner_->ProviderStreamError(message, e);
  }
  const Usage& usage() const override { return inner_->usage(); }
  std::string_view response_model() const override { return inner_->response_model(); }

 private:
  config::Backend backend_;  // a copy the wrapped translator refers to
  std::unique_ptr<Translator> inner_;
  bool stream_ = false;
  absl::Status error_;
  bedrock_internal::InvokeStreamRelay relay_{true};
};

class AnthropicToAwsAnthropicFactory final : public TranslatorFactory {
 public:
  AnthropicToAwsAnthropicFactory() : passthrough_(NewAnthropicPassthroughFactory(config::ApiSchema::kGCPAnthropic)) {}
  Endpoint endpoint() const override { return Endpoint::kMessages; }
  Dialect from() const override { return Dialect::kAnthropic; }
  config::ApiSchema to() const override { return config::ApiSchema::kAWSAnthropic; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AnthropicToAwsAnthropicTranslator>(b, *passthrough_);
  }
  // Only the raw bytes and headers are read.
  bool NeedsDocument() const override { return false; }

 private:
  std::unique_ptr<TranslatorFactory> passthrough_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewAnthropicToAwsAnthropicFactory() {
  return std::make_unique<AnthropicToAwsAnthropicFactory>();
}

}  // namespace sluice::translate
