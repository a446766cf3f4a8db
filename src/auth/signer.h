// Signers add a backend's credentials to the FINAL upstream request (after translation), so
// a signature covers exactly the bytes that are sent (AWS SigV4 signs path and body).
#pragma once

#include <memory>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "config/config.h"
#include "http/headers.h"

namespace sluice::auth {

struct SigningRequest {
  std::string_view method;
  std::string_view host;            // the Host header value that will be sent
  std::string_view path_and_query;  // the final :path
  const http::HeaderMap& headers;   // the headers before signing: final ones, or with `mutation`
                                    // still to be applied over them
  std::string_view body;            // the final body
  const http::HeaderMutation* mutation = nullptr;  // pending on `headers` (removals, then sets)

  // Calls `f` with every value header `lower_name` will carry once `mutation` is applied, in
  // order; lets the pipeline skip copying the client's headers just to sign.
  void ForEachValue(std::string_view lower_name, absl::FunctionRef<void(std::string_view)> f) const {
    if (mutation != nullptr) {
      // As HeaderMutation::ApplyTo: removals first, then a set replaces every value.
      for (const auto& [name, value] : mutation->set) {
        if (name == lower_name) {
          f(value);
          return;
        }
      }
      for (const auto& name : mutation->remove)
        if (name == lower_name) return;
    }
    for (const auto& [name, value] : headers.entries())
      if (name == lower_name) f(value);
  }
};

// One per backend; immutable; thread-safe; never blocks (credentials that need fetching are
// refreshed off the request path by their source).
class BackendSigner {
 public:
  virtual ~BackendSigner() = default;
  // Headers to set. Unavailable: credentials not loaded yet; Unauthenticated: expired.
  virtual absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest& r) const = 0;
  // False when Sign ignores the request (static API keys): the caller may then pass empty
  // headers and skip assembling the final request for it.
  virtual bool NeedsRequest() const { return true; }
};

// Builds the signer for a backend's auth config (nullptr-free: kNone yields a no-op signer).
// InvalidArgument when the config cannot be used.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewSigner(const config::BackendAuth& auth);

}  // namespace sluice::auth
