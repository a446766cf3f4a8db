#include "auth/signer.h"

#include <string>

#include "auth/aws_credentials.h"
#include "auth/aws_sigv4/aws_sigv4.h"
#include "auth/azure_credentials.h"
#include "auth/gcp_credentials.h"
#include "auth/token_source.h"
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
  bool NeedsRequest() const override { return false; }

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
    case T::kAzureToken:
      if (auth.azure_access_token.empty()) return NewAzureEntraSigner(auth);
      return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", auth.azure_access_token));
    case T::kAWS:
      if (auth.oidc.enabled()) return NewAwsOidcExchangeSigner(auth);
      return auth.aws_credential_chain ? NewAwsCredentialChainSigner(auth) : NewAwsSigV4Signer(auth);
    case T::kGCP:
      if (auth.oidc.enabled()) return NewGcpTokenSigner(auth);
      if (std::string_view token = StripWhitespace(auth.gcp_access_token); !token.empty())
        return std::make_unique<HeaderSigner>("authorization", StrCat("Bearer ", token));
      return NewGcpTokenSigner(auth);
  }
  return absl::InvalidArgumentError("unknown auth type");
}

}  // namespace sluice::auth
