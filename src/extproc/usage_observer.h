// Reads token usage and the answering model from the bytes sluice sends to an OpenAI-dialect
// client (a JSON body, or an SSE stream whose final chunk carries `usage`), for translators
// that do not report them (the OpenAI pass-through keeps no usage; most translators no
// response model). The pipeline's own numbers win whenever it has them.
//
// Private to src/extproc.
#pragma once

#include <string>
#include <string_view>

#include "translate/translator.h"

namespace sluice::extproc {

class OpenAIUsageObserver {
 public:
  // `streamed`: SSE (events are parsed as they complete); else a JSON body, parsed at the end
  // (bounded: a body above kMaxBodyBytes is not parsed).
  explicit OpenAIUsageObserver(bool streamed) : streamed_(streamed) {}
  void Feed(std::string_view bytes, bool end_of_stream);

  const translate::Usage& usage() const { return usage_; }
  bool has_usage() const { return has_usage_; }
  const std::string& model() const { return model_; }

  static constexpr size_t kMaxBodyBytes = 8u << 20;

 private:
  void OnJson(std::string_view text);
  bool streamed_;
  std::string pending_;  // SSE: the incomplete event; JSON: the body so far
  bool overflow_ = false;
  translate::Usage usage_;
  bool has_usage_ = false;
  std::string model_;
};

}  // namespace sluice::extproc
