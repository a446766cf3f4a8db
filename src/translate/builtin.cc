// Every translator sluice ships, registered explicitly (static-library linkers drop
// self-registering objects). A new direction: one folder, one line here, one in CMakeLists.
#include "common/assert.h"
#include "translate/openai_passthrough/openai_passthrough.h"
#include "translate/translator.h"

namespace sluice::translate {

void RegisterBuiltinTranslators(Registry& r) {
  auto add = [&r](std::unique_ptr<TranslatorFactory>&& f) {
    absl::Status st = r.Register(std::move(f));
    SLUICE_RELEASE_ASSERT(st.ok(), "duplicate builtin translator");
  };
  for (Endpoint e : {Endpoint::kChatCompletions, Endpoint::kCompletions, Endpoint::kEmbeddings})
    add(NewOpenAIPassthroughFactory(e));
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
