#include "translate/openai_to_gemini/openai_to_gemini.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "http/sse.h"
#include "json/json.h"
#include "translate/openai_to_gemini/gemini_internal.h"

namespace sluice::translate {
namespace {

using gemini_internal::ResponseContext;
using gemini_internal::StreamConverter;

// A buffered (non-streamed) answer larger than this is refused rather than held in memory.
constexpr size_t kMaxBufferedBody = 64u << 20;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Collects a buffered answer's chunks until end_of_stream.
absl::Status Buffer(std::string_view chunk, std::string* buffer) {
  if (buffer->size() + chunk.size() > kMaxBufferedBody) {
    return absl::ResourceExhaustedError("gemini response exceeds the 64 MiB buffer limit");
  }
  buffer->append(chunk);
  return absl::OkStatus();
}

class GeminiChatTranslator final : public Translator {
 public:
  GeminiChatTranslator(const config::Backend& backend, std::function<int64_t()> now, uint64_t seq)
      : backend_(backend), now_(std::move(now)), token_(StrCat(seq)) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    ASSIGN_OR_RETURN(std::string path,
                     gemini_internal::VertexModelPath(
                         backend_, req.model, req.stream ? "streamGenerateContent?alt=sse" : "generateContent"));
    ASSIGN_OR_RETURN(json::Value body, gemini_internal::BuildGenerateContentRequest(req.doc, req.stream));
    bool include_usage = false;
    if (const json::Value* so = req.doc.Find("stream_options"); so && so->is_object())
      include_usage = so->GetBool("include_usage", false);
    // State changes only once the request is known to be good.
    stream_ = req.stream;
    model_ = std::string(req.model);
    created_ = now_ ? now_() : SystemNow();
    if (stream_) stream_conv_.emplace(model_, token_, created_, include_usage);
    UpstreamRequest up;
    up.path = std::move(path);
    up.body = json::Serialize(body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap&) override {
    http::HeaderMutation m;
    m.Set("content-type", stream_ ? "text/event-stream" : "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    if (!broken_.ok()) return broken_;
    absl::Status st = stream_ ? Stream(chunk, end_of_stream, out) : Whole(chunk, end_of_stream, out);
    if (!st.ok()) broken_ = st;
    return st;
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    *client_status = status;  // Google's HTTP status already matches its error status
    out->append(gemini_internal::ConvertGoogleError(status, body));
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }

  const Usage& usage() const override { return stream_conv_ ? stream_conv_->usage() : usage_; }
  std::string_view response_model() const override {
    return stream_conv_ ? std::string_view(stream_conv_->response_model()) : std::string_view(response_model_);
  }

 private:
  absl::Status Stream(std::string_view chunk, bool end_of_stream, std::string* out) {
    SLUICE_ASSERT(stream_conv_.has_value(), "TranslateRequest not called");
    const size_t mark = out->size();
    absl::Status fed = sse_.Feed(chunk, [&](const http::SseEventView& ev) {
      ++event_count_;
      std::string_view data = StripWhitespace(ev.data);
      if (data.empty() || data == "[DONE]") return absl::OkStatus();
      auto parsed = json::Parse(data);
      if (!parsed.ok()) {
        return absl::InternalError(StrCat("gemini stream event ", event_count_, " is not valid JSON: ",
                                          ToStd(parsed.status().message())));
      }
      stream_conv_->OnEvent(*parsed, out);
      return absl::OkStatus();
    });
    // After an error event was relayed the client's stream is over: whatever follows, even a
    // malformed or oversized event, must not add a second error event.
    if (stream_conv_->failed()) return absl::OkStatus();
    if (fed.code() == absl::StatusCode::kResourceExhausted) {
      out->resize(mark);  // as before: an oversized event fails the chunk, with nothing written
    }
    RETURN_IF_ERROR(fed);
    if (!end_of_stream) return absl::OkStatus();
    if (sse_.HasPartial() && !stream_conv_->failed()) {
      return absl::InternalError("gemini stream ended inside an event");
    }
    return stream_conv_->Finish(out);
  }

  absl::Status Whole(std::string_view chunk, bool end_of_stream, std::string* out) {
    RETURN_IF_ERROR(Buffer(chunk, &buffer_));
    if (!end_of_stream) return absl::OkStatus();
    auto parsed = json::Parse(buffer_);
    if (!parsed.ok() || !parsed->is_object()) {
      return absl::InternalError(StrCat("gemini response is not a JSON object: ",
                                        parsed.ok() ? "" : ToStd(parsed.status().message())));
    }
    ResponseContext ctx{model_, token_, created_};
    json::Value resp = gemini_internal::ConvertResponse(*parsed, ctx, &usage_);
    response_model_ = std::string(resp.GetString("model"));
    json::SerializeTo(resp, out);
    buffer_.clear();
    return absl::OkStatus();
  }

  const config::Backend& backend_;
  std::function<int64_t()> now_;  // nullptr = system clock
  std::string token_;
  bool stream_ = false;
  std::string model_;
  int64_t created_ = 0;
  absl::Status broken_;  // sticky: once the upstream data is bad, it stays bad

  // Buffered answers.
  std::string buffer_;
  Usage usage_;
  std::string response_model_;

  // Streamed answers.
  http::SseParser sse_;
  int64_t event_count_ = 0;
  std::optional<StreamConverter> stream_conv_;
};

class GeminiEmbeddingsTranslator final : public Translator {
 public:
  explicit GeminiEmbeddingsTranslator(const config::Backend& backend) : backend_(backend) {}

  absl::StatusOr<UpstreamRequest> TranslateRequest(const ClientRequest& req) override {
    model_ = std::string(req.model);
    embed_content_ = gemini_internal::UsesEmbedContent(req.model);
    ASSIGN_OR_RETURN(std::string path, gemini_internal::VertexModelPath(backend_, req.model,
                                                                        embed_content_ ? "embedContent" : "predict"));
    ASSIGN_OR_RETURN(json::Value body, embed_content_ ? gemini_internal::BuildEmbedContentRequest(req.doc, req.model)
                                                      : gemini_internal::BuildPredictRequest(req.doc, req.model));
    base64_ = req.doc.GetString("encoding_format") == "base64";
    UpstreamRequest up;
    up.path = std::move(path);
    up.body = json::Serialize(body);
    return up;
  }

  http::HeaderMutation TranslateResponseHeaders(int, const http::HeaderMap&) override {
    http::HeaderMutation m;
    m.Set("content-type", "application/json");
    return m;
  }

  absl::Status TranslateResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) override {
    RETURN_IF_ERROR(Buffer(chunk, &buffer_));
    if (!end_of_stream) return absl::OkStatus();
    auto parsed = json::Parse(buffer_);
    if (!parsed.ok() || !parsed->is_object()) {
      return absl::InternalError(StrCat("gemini embeddings response is not a JSON object: ",
                                        parsed.ok() ? "" : ToStd(parsed.status().message())));
    }
    ASSIGN_OR_RETURN(json::Value resp,
                     embed_content_ ? gemini_internal::ConvertEmbedContentResponse(*parsed, model_, base64_, &usage_)
                                    : gemini_internal::ConvertPredictResponse(*parsed, model_, base64_, &usage_));
    json::SerializeTo(resp, out);
    buffer_.clear();
    return absl::OkStatus();
  }

  void TranslateError(int status, const http::HeaderMap&, std::string_view body, int* client_status,
                      std::string* out) override {
    *client_status = status;
    out->append(gemini_internal::ConvertGoogleError(status, body));
  }

  // gemini-embedding-001 (:predict) and the :embedContent models take one text per call.
  size_t MaxInputsPerCall(std::string_view model) const override {
    return gemini_internal::UsesEmbedContent(model) || model == "gemini-embedding-001" ? 1 : 0;
  }

  std::string StreamError(std::string_view message) override { return OpenAIStreamError(message); }
  const Usage& usage() const override { return usage_; }

 private:
  const config::Backend& backend_;
  std::string model_;
  bool embed_content_ = false;  // :embedContent, else :predict
  bool base64_ = false;
  std::string buffer_;
  Usage usage_;
};

class GeminiFactory final : public TranslatorFactory {
 public:
  GeminiFactory(Endpoint e, GeminiOptions options) : endpoint_(e), options_(std::move(options)) {
    SLUICE_RELEASE_ASSERT(e == Endpoint::kChatCompletions || e == Endpoint::kEmbeddings,
                          "gemini translator: unsupported endpoint");
  }
  Endpoint endpoint() const override { return endpoint_; }
  Dialect from() const override { return Dialect::kOpenAI; }
  config::ApiSchema to() const override { return config::ApiSchema::kGCPVertexAI; }
  std::unique_ptr<Translator> Create(const config::Backend& b) const override {
    if (endpoint_ == Endpoint::kEmbeddings) return std::make_unique<GeminiEmbeddingsTranslator>(b);
    return std::make_unique<GeminiChatTranslator>(b, options_.now,
                                                  next_seq_.fetch_add(1, std::memory_order_relaxed));
  }

 private:
  Endpoint endpoint_;
  GeminiOptions options_;
  // Fallback id token when Gemini sends no responseId; atomic keeps Create thread-safe.
  mutable std::atomic<uint64_t> next_seq_{1};
};

}  // namespace

std::unique_ptr<TranslatorFactory> NewOpenAIToGeminiFactory(Endpoint e, GeminiOptions options) {
  return std::make_unique<GeminiFactory>(e, std::move(options));
}

}  // namespace sluice::translate
