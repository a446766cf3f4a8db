// Google Cloud credentials that are minted at run time, refreshed off the request path by the
// TokenRefresher, and sent as "Authorization: Bearer <access token>" (GCPVertexAI and
// GCPAnthropic backends).
//
// - A service-account key given in the config (GCPCredentials.credentialsFile): Google's OAuth2
//   JWT-bearer flow at the key's token_uri.
// - Otherwise Application Default Credentials, as Google's client libraries find them and as
//   Envoy AI Gateway's ext_proc uses them for a `gcp` backend without an access token. Looked
//   for in this order at every refresh:
//     1. GOOGLE_APPLICATION_CREDENTIALS: a JSON credentials file of type
//        - service_account (JWT-bearer, as above);
//        - authorized_user (what `gcloud auth application-default login` writes: the OAuth2
//          refresh_token grant at token_uri);
//        - external_account (workload identity federation: a subject token read from a file or
//          fetched from a URL, or from AWS (environment_id aws1) a signed STS GetCallerIdentity
//          request, or printed by an executable (GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1),
//          exchanged at Google's STS token_url for an access token, then,
//          with service_account_impersonation_url, for a service account's token; a
//          workforce_pool_user_project and an OAuth client_id/client_secret are sent to STS);
//        - impersonated_service_account (`gcloud auth application-default login
//          --impersonate-service-account`: the source_credentials' token, from a user login, a
//          key or a federated identity, buys the service account's at IAM Credentials
//          generateAccessToken, through the file's delegates);
//     2. gcloud's file: $CLOUDSDK_CONFIG/application_default_credentials.json, else
//        ~/.config/gcloud/application_default_credentials.json;
//     3. the metadata server (GCE, Cloud Run, GKE Workload Identity):
//        http://$GCE_METADATA_HOST (default metadata.google.internal, then 169.254.169.254)
//        /computeMetadata/v1/instance/service-accounts/default/token, unless NO_GCE_CHECK=true.
//   A file that is named (1) or found (2) and fails is the answer (its error). A metadata server
//   must answer with Metadata-Flavor: Google; when none does, it is not asked again for 5
//   minutes (the refresher thread is shared by every backend's tokens).
// Service-account, STS, impersonation and metadata-server tokens ask for the cloud-platform
// scope; a user login's token carries the scopes the login granted.
// Errors name the source and what failed, never a secret (refresh tokens, client secrets,
// subject tokens, access tokens).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/gcp/gcp.h"
#include "auth/signer.h"
#include "auth/token_source.h"

namespace sluice::auth {

// One access token for a service-account key (JWT-bearer at key.token_uri).
absl::StatusOr<Token> MintGcpServiceAccountToken(HttpClient& http, const GcpServiceAccountKey& key, int64_t now);

// Mints tokens from Application Default Credentials, looked for again at every refresh. A
// token's value is the access token, then, after a line break, the quota project when the
// credentials name one (GOOGLE_CLOUD_QUOTA_PROJECT, else the file's quota_project_id), which
// the signer sends as x-goog-user-project.
TokenMinter NewGcpDefaultCredentialsMinter(EnvLookup env);

// Envoy AI Gateway's workloadIdentityFederationConfig: an OIDC client-credentials token
// (auth/oidc_exchange.h) exchanged at Google's STS (`sts_url`) for oidc.gcp_sts_audience, then,
// when oidc.gcp_service_account is set, for that account's token at IAM Credentials
// (`iam_url`, e.g. https://iamcredentials.googleapis.com); at every refresh.
TokenMinter NewGcpOidcExchangeMinter(config::OidcExchange oidc, std::string sts_url, std::string iam_url);

// Bearer signers registered with the refresher: for the config's service-account key, or
// (auth.gcp_default_credentials) for Application Default Credentials.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewGcpTokenSigner(const config::BackendAuth& auth);

}  // namespace sluice::auth
