// A translator made of two: `first` turns the client's dialect into OpenAI chat completions,
// `second` turns those into a provider's API. Anthropic Messages clients reach the providers
// that only an OpenAI translator speaks (Azure OpenAI, Gemini on Vertex) this way: the request
// goes through first then second, the answer (headers, body, errors) through second then first.
// Usage and the answering model are the provider's (second's); stream errors are in the
// client's dialect (first's).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "translate/translator.h"

namespace sluice::translate {

// `first` (client dialect -> OpenAI chat) and `second` (OpenAI chat -> the provider) must
// outlive the factory (both live in the same Registry). The chain serves `first`'s endpoint
// and dialect for `second`'s schema. `carry`: top-level members of the client's request that
// `first` has no OpenAI word for but `second` reads as extensions (Gemini takes Anthropic's
// `thinking` and `top_k`), copied as they are into the OpenAI request.
std::unique_ptr<TranslatorFactory> NewChainFactory(const TranslatorFactory* first, const TranslatorFactory* second,
                                                   std::vector<std::string> carry = {});

}  // namespace sluice::translate
