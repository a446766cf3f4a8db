// Every translator sluice ships, registered explicitly (static-library linkers drop
// self-registering objects). A new direction: one folder, one line here, one in CMakeLists.
#include "common/assert.h"
#include "translate/anthropic_count_tokens/anthropic_count_tokens.h"
#include "translate/anthropic_passthrough/anthropic_passthrough.h"
#include "translate/anthropic_to_awsanthropic/anthropic_to_awsanthropic.h"
#include "translate/anthropic_to_bedrock/anthropic_to_bedrock.h"
#include "translate/anthropic_to_openai/anthropic_to_openai.h"
#include "translate/chain/chain.h"
#include "translate/openai_passthrough/openai_passthrough.h"
#include "translate/openai_to_anthropic/openai_to_anthropic.h"
#include "translate/openai_to_awsanthropic/openai_to_awsanthropic.h"
#include "translate/openai_to_azure/openai_to_azure.h"
#include "translate/openai_to_bedrock/openai_to_bedrock.h"
#include "translate/openai_to_gemini/openai_to_gemini.h"
#include "translate/translator.h"

namespace sluice::translate {

void RegisterBuiltinTranslators(Registry& r) {
  auto add = [&r](std::unique_ptr<TranslatorFactory>&& f) {
    absl::Status st = r.Register(std::move(f));
    SLUICE_RELEASE_ASSERT(st.ok(), "duplicate builtin translator");
  };
  for (Endpoint e : {Endpoint::kChatCompletions, Endpoint::kCompletions, Endpoint::kEmbeddings})
    add(NewOpenAIPassthroughFactory(e));
  for (Endpoint e : {Endpoint::kChatCompletions, Endpoint::kCompletions, Endpoint::kEmbeddings})
    add(NewOpenAIToAzureFactory(e));
  for (Endpoint e : {Endpoint::kChatCompletions, Endpoint::kEmbeddings}) add(NewOpenAIToGeminiFactory(e));
  for (auto to : {config::ApiSchema::kAnthropic, config::ApiSchema::kGCPAnthropic}) {
    add(NewOpenAIToAnthropicFactory(to));
    add(NewAnthropicPassthroughFactory(to));
  }
  add(NewAnthropicToOpenAIFactory());
  add(NewOpenAIToBedrockChatFactory());
  add(NewOpenAIToBedrockEmbeddingsFactory());
  add(NewOpenAIToAwsAnthropicFactory());
  add(NewAnthropicToAwsAnthropicFactory());
  add(NewAnthropicToBedrockFactory());
  for (auto to : {config::ApiSchema::kAnthropic, config::ApiSchema::kGCPAnthropic, config::ApiSchema::kAWSAnthropic,
                  config::ApiSchema::kAWSBedrock})
    add(NewAnthropicCountTokensFactory(to));
  // Anthropic Messages clients to the providers only an OpenAI translator speaks: the
  // Anthropic -> OpenAI translator, then OpenAI -> the provider.
  const TranslatorFactory* anthropic_to_openai = r.Find(Endpoint::kMessages, Dialect::kAnthropic, config::ApiSchema::kOpenAI);
  add(NewChainFactory(anthropic_to_openai,
                      r.Find(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kAzureOpenAI)));
  // Gemini reads Anthropic's thinking (budget) and top_k as extensions of the OpenAI request.
  add(NewChainFactory(anthropic_to_openai,
                      r.Find(Endpoint::kChatCompletions, Dialect::kOpenAI, config::ApiSchema::kGCPVertexAI),
                      {"thinking", "top_k"}));
}

const Registry& BuiltinRegistry() {
  static const Registry* r = [] {
    auto* reg = new Registry();
    RegisterBuiltinTranslators(*reg);
    return reg;
  }();
  return *r;
}

}  // namespace sluice::translate
