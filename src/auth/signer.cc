#include "auth/signer.h"

#include <string>

#include "common/strings.h"

namespace sluice::auth {
namespace {

// Sets one header to a fixed credential: API keys of every flavour.
class HeaderSigner final : public BackendSigner {
 public:
  HeaderSigner(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest&) const override {
    http::HeaderMutation m;
    if (!name_.empty()) m.Set(name_, value_);
    return m;
  }

 private:
  std::string name_;
  std::string value_;  // secret
};

}  // namespace

absl::StatusOr<std::unique_ptr<BackendSigner>> NewSigner(const config::BackendAuth& auth) {
  using T = config::BackendAuth::Type;
  switch (auth.type) {
    case T::kNone: return std::make_unique<HeaderSigner>("", "");
    case T::kAPIKey: return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", auth.key));
    case T::kAzureAPIKey: return std::make_unique<HeaderSigner>("api-key", auth.key);
    case T::kAnthropicAPIKey: return std::make_unique<HeaderSigner>("x-api-key", auth.key);
  }
  return absl::InvalidArgumentError("unknown auth type");
}

}  // namespace sluice::auth
