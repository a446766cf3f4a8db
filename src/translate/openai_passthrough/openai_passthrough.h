// OpenAI client -> OpenAI-compatible backend (OpenAI, vLLM, Ollama, llama.cpp, ...): the
// same-dialect path. The body passes through untouched except for a model override, which is
// spliced into the raw bytes (no re-serialisation).
#pragma once

#include <memory>

#include "translate/translator.h"

namespace sluice::translate {

std::unique_ptr<TranslatorFactory> NewOpenAIPassthroughFactory(Endpoint e);

}  // namespace sluice::translate
