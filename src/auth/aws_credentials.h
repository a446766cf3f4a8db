// The AWS SDKs' default credential chain, for an AWSCredentials policy that names no
// credentials file (Envoy AI Gateway: "the SDK default chain is used"), which is how EKS
// deployments (IRSA, Pod Identity), ECS tasks and EC2 instances get their keys. Tried in order,
// every time the credentials are refreshed:
//   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
//   2. web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> STS
//      AssumeRoleWithWebIdentity (AWS_ROLE_SESSION_NAME; endpoint AWS_ENDPOINT_URL_STS, else
//      AWS_ENDPOINT_URL, else https://sts.{AWS_REGION or the backend's region}.amazonaws.com);
//   3. profile AWS_PROFILE (default "default") of the shared credentials and config files
//      (AWS_SHARED_CREDENTIALS_FILE / ~/.aws/credentials, AWS_CONFIG_FILE / ~/.aws/config),
//      read again at every refresh: role_arn with source_profile or credential_source
//      (Environment, Ec2InstanceMetadata, EcsContainer) -> STS AssumeRole signed with the
//      source's credentials, or with web_identity_token_file; else static keys, else IAM
//      Identity Center (sso_session / sso_start_url: the token `aws sso login` cached in
//      ~/.aws/sso/cache, refreshed through SSO OIDC and written back, traded for the role's
//      keys by SSO GetRoleCredentials; endpoints AWS_ENDPOINT_URL_SSO(_OIDC)), else
//      credential_process (its JSON output);
//   4. container credentials (EKS Pod Identity, ECS): AWS_CONTAINER_CREDENTIALS_FULL_URI or
//      http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, with the authorization
//      token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN;
//      plain http only to loopback or the link-local container endpoints;
//   5. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED=true; endpoint
//      AWS_EC2_METADATA_SERVICE_ENDPOINT.
// A source that is configured (2, 4) and fails is the answer (its error); later ones are not
// tried. Temporary credentials are refreshed before their Expiration, off the request path.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "auth/aws_sigv4/aws_sigv4.h"
#include "auth/token_source.h"

namespace sluice::auth {

// Mints the chain's current credentials (as a Token whose value EncodeAwsCredentials wrote).
// `region` is the backend's signing region (STS's default region).
TokenMinter NewAwsCredentialChainMinter(EnvLookup env, std::string region);

std::string EncodeAwsCredentials(const AwsCredentials& c);
absl::StatusOr<AwsCredentials> DecodeAwsCredentials(std::string_view encoded);

// Envoy AI Gateway's oidcExchangeToken: an OIDC client-credentials token (auth/oidc_exchange.h)
// exchanged at STS AssumeRoleWithWebIdentity for oidc.aws_role_arn (session oidc.session_name;
// STS endpoint as for web identity above), at every refresh.
TokenMinter NewAwsOidcExchangeMinter(EnvLookup env, config::OidcExchange oidc, std::string region);
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsOidcExchangeSigner(const config::BackendAuth& auth);

// A SigV4 signer for `auth` (region) over the default chain, registered with the refresher.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsCredentialChainSigner(const config::BackendAuth& auth);

}  // namespace sluice::auth
