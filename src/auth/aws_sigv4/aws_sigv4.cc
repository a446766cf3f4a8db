// Placeholder until the SigV4 signer lands: refuses to sign.
#include "auth/aws_sigv4/aws_sigv4.h"

namespace sluice::auth {

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4Signer(const config::BackendAuth&, UnixClock) {
  return absl::UnimplementedError("AWS SigV4 signing is not implemented yet");
}

}  // namespace sluice::auth
