// Microsoft Entra ID tokens for Azure OpenAI (AzureCredentials without a static access token),
// minted at run time and refreshed off the request path by the TokenRefresher:
//   - a client secret (clientSecretRef): the client credentials grant;
//   - no secret, AZURE_FEDERATED_TOKEN_FILE set (AKS workload identity): the pod's projected
//     token, read at every refresh, as the JWT-bearer client assertion;
//   - no secret and no federated token: managed identity, as Azure's SDKs find it: App
//     Service / Functions / Container Apps (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version
//     2019-08-01), else the instance metadata service of VMs, VM scale sets and AKS nodes
//     (http://169.254.169.254, or AZURE_POD_IDENTITY_AUTHORITY_HOST; `Metadata: true`,
//     api-version 2018-02-01); the policy's clientID picks the user-assigned identity.
// AZURE_AUTHORITY_HOST (as in Azure's SDKs; the AKS webhook sets it too) overrides
// https://login.microsoftonline.com; the token audience follows the cloud (sovereign clouds
// have their own Cognitive Services audience). Errors name the source, never a secret.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/signer.h"
#include "auth/token_source.h"

namespace sluice::auth {

// Mints managed identity tokens for `resource` (e.g. https://cognitiveservices.azure.com);
// `client_id` selects a user-assigned identity ("" = the system-assigned one).
TokenMinter NewAzureManagedIdentityMinter(EnvLookup env, std::string client_id, std::string resource);

// A bearer signer over the Entra token for `auth` (kAzureToken without azure_access_token),
// registered with the refresher.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAzureEntraSigner(const config::BackendAuth& auth);

}  // namespace sluice::auth
