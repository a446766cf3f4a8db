// Errors the gateway answers itself, shaped in the client's API dialect.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "translate/translator.h"

namespace sluice::gateway {

using Dialect = translate::Dialect;

struct HttpError {
  int status = 500;
  std::string body;  // JSON in the dialect's error shape
};

// OpenAI: {"error":{"message","type","param","code"}}; Anthropic:
// {"type":"error","error":{"type","message"}}. `param`/`code` empty -> null.
HttpError MakeError(Dialect d, int status, std::string_view message, std::string_view code = {},
                    std::string_view param = {});

// Maps a Status to an HTTP status: InvalidArgument 400, Unauthenticated 401,
// PermissionDenied 403, NotFound 404, ResourceExhausted 429, Unavailable 503,
// DeadlineExceeded 504, else 500.
HttpError ToHttpError(const absl::Status& status, Dialect d);

}  // namespace sluice::gateway
