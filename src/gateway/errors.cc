#include "gateway/errors.h"

#include "common/strings.h"
#include "json/json.h"

namespace sluice::gateway {

HttpError MakeError(Dialect d, int status, std::string_view message, std::string_view code,
                    std::string_view param) {
  HttpError e;
  e.status = status;
  if (d == Dialect::kOpenAI) {
    e.body = translate::OpenAIErrorBody(message, translate::OpenAIErrorType(status), code, param);
    return e;
  }
  json::Value err = json::Value::Object();
  err.Set("type", json::Value::String(std::string(translate::AnthropicErrorType(status))));
  err.Set("message", json::Value::String(std::string(message)));
  json::Value root = json::Value::Object();
  root.Set("type", json::Value::String("error"));
  root.Set("error", std::move(err));
  e.body = json::Serialize(root);
  return e;
}

HttpError ToHttpError(const absl::Status& status, Dialect d) {
  int code = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: code = 400; break;
    case absl::StatusCode::kUnauthenticated: code = 401; break;
    case absl::StatusCode::kPermissionDenied: code = 403; break;
    case absl::StatusCode::kNotFound: code = 404; break;
    case absl::StatusCode::kResourceExhausted: code = 429; break;
    case absl::StatusCode::kUnavailable: code = 503; break;
    case absl::StatusCode::kDeadlineExceeded: code = 504; break;
    default: code = 500;
  }
  return MakeError(d, code, ToStd(status.message()), {}, translate::InvalidFieldOf(status));
}

}  // namespace sluice::gateway
