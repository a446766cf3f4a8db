#include "translate/openai_to_azure/openai_to_azure.h"

#include <string>
#include <vector>

#include "common/assert.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"

namespace sluice::translate {
namespace {

// Usage is read from a buffered answer only up to this size; larger answers still pass.
constexpr size_t kMaxUsageScan = 16u << 20;


// OpenAI usage object -> neutral Usage.
class AzureTranslator final : public Translator {
 public:
  AzureTranslator(const config::Backend& b, Endpoint e) : backend_(b), endpoint_(e) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    auto up = SpliceModel(req);
    if (!up.ok()) return up;
    // Azure takes stream_options from api-version 2024-09-01 on; older ones answer 400, so
    // there a client's (or the Anthropic translator's) stream_options goes: the stream then
    // carries no usage.
    if (ApiVersion() < "2024-09-01") {
      RETURN_IF_ERROR(DropStreamOptions(up->body ? std::string_view(*up->body) : req.raw_body, &*up));
      return up;
    }
    auto asked = AskForStreamUsage(req, &*up);
    if (!asked.ok()) return asked.status();
    hide_usage_chunk_ = *asked;
    return up;
  }

  // `body` without its top-level stream_options member, into up->body (unchanged when it has none).
  static absl::Status DropStreamOptions(std::string_view body, UpstreamRequest* up) {
    auto members = json::ScanObject(body);
    if (!members.ok()) return members.status();
    bool found = false;
    for (const auto& m : *members) found = found || m.key == "stream_options";
    if (!found) return absl::OkStatus();
    std::string out = "{";
    for (const auto& m : *members) {
      if (m.key == "stream_options") continue;
      if (out.size() > 1) out.push_back(',');
      json::AppendQuoted(&out, m.key);
      out.push_back(':');
      out.append(body.substr(m.value_begin, m.value_end - m.value_begin));
    }
    out.push_back('}');
    up->body = std::move(out);
    return absl::OkStatus();
  }

  absl::StatusOr<UpstreamRequest> SpliceModel(const ClientRequest& req) {
    stream_ = req.stream;
    std::string_view version = ApiVersion();
    UpstreamRequest up;
    up.path = StrCat("/openai/deployments/", FormEncode(req.model), "/", EndpointName(endpoint_),
                     "?api-version=", FormEncode(version));
    // The deployment in the path selects the model; the body's `model` is still rewritten so
    // that what Azure logs matches what was asked for. Same scan-and-splice as the OpenAI
    // pass-through: no DOM, no re-serialisation.
    if (!req.client_model.empty() && req.client_model == req.model) return up;
    auto members = json::ScanObject(req.raw_body);
    if (!members.ok()) return members.status();
    for (const auto& m : *members) {
      if (m.key != "model") continue;
      std::string_view raw = req.raw_body.substr(m.value_begin, m.value_end - m.value_begin);
      auto current = json::DecodeStringToken(raw);
      if (current.ok() && *current == req.model) break;
      std::string out;
      out.reserve(req.raw_body.size() + req.model.size());
      out.append(req.raw_body.substr(0, m.value_begin));
      json::AppendQuoted(&out, req.model);
      out.append(req.raw_body.substr(m.value_end));
      up.body = std::move(out);
    }
    return up;
  }

  std::string_view ApiVersion() const {
    return backend_.schema_version.empty() ? kAzureDefaultApiVersion : std::string_view(backend_.schema_version);
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap&) override { return {}; }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (stream_) {
      RETURN_IF_ERROR(Stream(chunk, out));
      // A last event without its blank line still counts (the upstream closed after it).
      if (end_of_stream && sse_.HasPartial()) RETURN_IF_ERROR(Stream("\n\n", out));
      return absl::OkStatus();
    }
    out->append(chunk);
    if (scan_) {
      if (side_.size() + chunk.size() > kMaxUsageScan) {
        scan_ = false;
        side_.clear();
      } else {
        side_.append(chunk);
        if (end_of_stream) ScanWhole();
      }
    }
    return absl::OkStatus();
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    // Same dialect: Azure's error is already OpenAI-shaped.
    *client_status = status;
    out->append(body);
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  const Usage& usage() const override { return usage_; }
  std::string_view response_model() const override { return response_model_; }

 private:
  void ScanWhole() {
    auto doc = json::Parse(side_);
    side_.clear();
    scan_ = false;
    if (!doc.ok() || !doc->is_object()) return;
    ReadOpenAIUsage(doc->Find("usage"), &usage_);
    response_model_ = std::string(doc->GetString("model"));
  }

  // Events are re-framed one by one (so the output does not depend on how bytes arrive) and
  // passed on unchanged, but for Azure's leading prompt-filter chunk
  //   {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[...]}
  // which is no chat.completion.chunk: its prompt_filter_results ride on the first real chunk
  // instead, so an OpenAI client sees only chat.completion.chunk objects. Only events that can
  // carry what is read (usage, model, the filter) are parsed.
  absl::Status Stream(std::string_view chunk, std::string* out) {
    return sse_.Feed(chunk, [&](const http::SseEventView& ev) {
      std::string_view data = ev.data;
      const bool leading = !seen_chunk_ && data != "[DONE]";
      if (leading && data.find("\"prompt_filter_results\"") != std::string_view::npos) {
        auto doc = json::Parse(data);
        if (doc.ok() && doc->is_object() && doc->GetString("object").empty()) {
          if (const json::Value* f = doc->Find("prompt_filter_results")) held_filter_ = *f;
          return absl::OkStatus();  // carried by the next chunk
        }
      }
      bool has_usage = data.find("\"usage\"") != std::string_view::npos;
      if (leading || has_usage) {
        auto doc = json::Parse(data);
        if (doc.ok() && doc->is_object()) {
          if (response_model_.empty()) response_model_ = std::string(doc->GetString("model"));
          const json::Value* choices = doc->Find("choices");
          if (ReadOpenAIUsage(doc->Find("usage"), &usage_) && hide_usage_chunk_ && choices != nullptr &&
              choices->is_array() && choices->size() == 0) {
            return absl::OkStatus();  // asked for the driver only (want_usage)
          }
          if (leading && !held_filter_.is_null() && doc->Find("prompt_filter_results") == nullptr) {
            doc->Set("prompt_filter_results", std::move(held_filter_));
            held_filter_ = json::Value();
            seen_chunk_ = true;
            out->append(http::FormatSse(ev.event, json::Serialize(*doc)));
            return absl::OkStatus();
          }
        }
        seen_chunk_ = seen_chunk_ || leading;
      }
      out->append(http::FormatSse(ev.event, data));
      return absl::OkStatus();
    });
  }

  const config::Backend& backend_;
  Endpoint endpoint_;
  bool stream_ = false;
  bool hide_usage_chunk_ = false;  // include_usage was added for the driver (want_usage)
  bool scan_ = true;
  std::string side_;
  http::SseParser sse_;
  bool seen_chunk_ = false;  // a chat.completion.chunk went out (no filter chunk can lead now)
  json::Value held_filter_;  // the leading chunk's prompt_filter_results, until the next chunk
  Usage usage_;
  std::string response_model_;
};

class AzureFactory final : public TranslatorFactory {
 public:
  explicit AzureFactory(Endpoint e) : endpoint_(e) {
    SLUICE_RELEASE_ASSERT(e == Endpoint::kChatCompletions || e == Endpoint::kCompletions ||
                              e == Endpoint::kEmbeddings,
                          "azure translator: unsupported endpoint");
  }
  Endpoint endpoint() const override { return endpoint_; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kAzureOpenAI; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    return std::make_unique<AzureTranslator>(b, endpoint_);
  }
  bool NeedsDocument() const override { return false; }  // reads raw_body only

 private:
  Endpoint endpoint_;
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIToAzureFactory(Endpoint e) {
  return std::make_unique<AzureFactory>(e);
}

}  // namespace sluice::translate
