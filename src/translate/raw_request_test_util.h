// Test helper for translators that read only the client's raw bytes (NeedsDocument() is
// false, so the pipeline hands them an empty document): runs TranslateRequest once and keeps
// the factory and translator alive for the response side.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "json/json.h"
#include "translate/translator.h"

namespace sluice::translate::testing {

struct RawRun {
  std::unique_ptr<config::Backend> backend;  // translators keep a reference to theirs
  std::unique_ptr<TranslatorFactory> factory;
  std::unique_ptr<Translator> t;
  absl::StatusOr<UpstreamRequest> up;
};

inline RawRun RawRequest(std::unique_ptr<TranslatorFactory> factory, Endpoint e, const config::Backend& b,
                         std::string_view body, std::string_view model, std::string_view client_model,
                         bool stream = false, bool want_usage = false) {
  static const json::Value kEmpty = json::Value::Object();
  static const http::HeaderMap kHeaders;
  RawRun r{std::make_unique<config::Backend>(b), std::move(factory), nullptr, absl::UnknownError("")};
  r.t = r.factory->Create(*r.backend);
  ClientRequest req{.endpoint = e, .raw_body = body, .doc = kEmpty, .headers = kHeaders, .model = model,
                    .stream = stream, .client_model = client_model, .want_usage = want_usage};
  r.up = r.t->TranslateRequest(req);
  return r;
}

}  // namespace sluice::translate::testing
