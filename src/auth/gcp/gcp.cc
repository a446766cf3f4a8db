// Placeholder until the GCP signer lands: refuses to sign.
#include "auth/gcp/gcp.h"

namespace sluice::auth {

absl::StatusOr<std::unique_ptr<BackendSigner>> NewGcpSigner(const config::BackendAuth&) {
  return absl::UnimplementedError("GCP credentials are not implemented yet");
}

}  // namespace sluice::auth
