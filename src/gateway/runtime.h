// A config snapshot plus what the data plane derives from it once: one signer per backend and
// the translator registry. Immutable; shared by every request that started with it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/signer.h"
#include "config/config.h"
#include "translate/translator.h"

namespace sluice::gateway {

struct Runtime {
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<auth::BackendSigner>> signers;  // index = backend index
  const translate::Registry* translators = nullptr;
  // Every backend's credentialOverride input headers: removed from every upstream request, so
  // a tenant's credential never reaches a backend it was not meant for (another rule's, a
  // fallback's).
  std::vector<std::string> override_input_headers;

  // InvalidArgument when a backend's credentials cannot be used.
  static absl::StatusOr<std::shared_ptr<const Runtime>> Build(
      std::shared_ptr<const config::Config> config,
      const translate::Registry& translators = translate::BuiltinRegistry());
};

}  // namespace sluice::gateway
