// The OIDC half of Envoy AI Gateway's oidcExchangeToken and workloadIdentityFederationConfig
// (config::OidcExchange): an access token from the OAuth2 client-credentials grant at an OIDC
// provider, which the provider's credential source then exchanges (AWS STS
// AssumeRoleWithWebIdentity, an Entra client assertion, Google STS). Envoy AI Gateway's
// controller runs these exchanges and hands the ext_proc a file; sluice runs them itself, on
// the refresher thread, at every refresh (so they also work under `sluice run`, which `aigw
// run` refuses).
//
// The token endpoint is the configured tokenEndpoint, else the one the provider's discovery
// document ({issuer}/.well-known/openid-configuration) names; a document whose "issuer" is not
// the configured issuer is refused (OpenID Connect Discovery 1.0 §4.3); every URL that gets the
// client secret must be https (plain http only to loopback). The client
// authenticates with HTTP Basic (RFC 6749 §2.3.1); when the provider refuses that with
// invalid_client, once more with the credentials in the form, as Go's oauth2 package does.
// Errors name the provider and its error code, never the client secret or a token.
#pragma once

#include "absl/status/statusor.h"
#include "auth/token_source.h"
#include "config/config.h"

namespace sluice::auth {

// One access token (value) with its expiry (expires_in, at most a day; else an hour).
absl::StatusOr<Token> FetchOidcToken(HttpClient& http, const config::OidcExchange& oidc, int64_t now);

}  // namespace sluice::auth
