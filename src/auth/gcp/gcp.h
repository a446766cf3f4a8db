// GCP Vertex AI credentials: Authorization: Bearer <OAuth2 access token>.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "auth/signer.h"

namespace sluice::auth {

// Uses auth.gcp_access_token (static) or auth.gcp_service_account_json.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewGcpSigner(const config::BackendAuth& auth);

}  // namespace sluice::auth
