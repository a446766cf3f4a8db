// AWS Signature Version 4 for Bedrock (service "bedrock"), over the final translated request.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "auth/signer.h"

namespace sluice::auth {

// Seconds since the Unix epoch; injected so signatures are reproducible in tests.
using UnixClock = std::function<int64_t()>;

// Uses auth.aws_access_key_id / aws_secret_access_key / aws_session_token / aws_region.
// InvalidArgument when the key id, secret or region is missing.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4Signer(const config::BackendAuth& auth,
                                                                 UnixClock clock = nullptr);

}  // namespace sluice::auth
