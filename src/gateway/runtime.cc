#include "gateway/runtime.h"

#include "common/strings.h"

namespace sluice::gateway {

absl::StatusOr<std::shared_ptr<const Runtime>> Runtime::Build(
    std::shared_ptr<const config::Config> config, const translate::Registry& translators) {
  auto rt = std::make_shared<Runtime>();
  rt->translators = &translators;
  for (const auto& b : config->backends) {
    auto s = auth::NewSigner(b.auth);
    if (!s.ok()) {
      return absl::InvalidArgumentError(StrCat("backend ", b.name, ": ", s.status().message()));
    }
    rt->signers.push_back(std::move(*s));
  }
  rt->config = std::move(config);
  return std::shared_ptr<const Runtime>(std::move(rt));
}

}  // namespace sluice::gateway
