#include "gateway/runtime.h"

#include <algorithm>

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
    for (const std::string& h : b.auth.credential_override.input_headers) {
      if (std::find(rt->override_input_headers.begin(), rt->override_input_headers.end(), h) ==
          rt->override_input_headers.end()) {
        rt->override_input_headers.push_back(h);
      }
    }
  }
  rt->config = std::move(config);
  return std::shared_ptr<const Runtime>(std::move(rt));
}

}  // namespace sluice::gateway
