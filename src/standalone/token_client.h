// The HTTP(S) client the credential refresher uses for token endpoints (GCP OAuth2, Azure
// Entra ID): blocking, one request at a time, TLS verified against the system store plus
// `extra_ca_pem`, 10 s per request.
#pragma once

#include <memory>
#include <string>

#include "auth/token_source.h"

namespace sluice::standalone {

std::shared_ptr<auth::HttpClient> NewTokenHttpClient(const std::string& extra_ca_pem);

// Reads a PEM file for --ca-file ("" when path is empty). InvalidArgument when unreadable.
absl::StatusOr<std::string> ReadCaFile(const std::string& path);

}  // namespace sluice::standalone
