// AWS Signature Version 4 for Bedrock (service "bedrock"), over the final translated request.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/signer.h"

namespace sluice::auth {

// Seconds since the Unix epoch; injected so signatures are reproducible in tests.
using UnixClock = std::function<int64_t()>;

// Uses auth.aws_access_key_id / aws_secret_access_key / aws_session_token / aws_region.
// InvalidArgument when the key id, secret or region is missing (the message names the field,
// never a value). `clock` defaults to the system clock.
//
// Sign() sets authorization, x-amz-date and, with a session token, x-amz-security-token, as
// Envoy AI Gateway does: no x-amz-content-sha256 (an S3 header Bedrock does not need; the
// body's hash is still the canonical request's payload hash). It signs host
// (SigningRequest::host), content-type (when the request has one), x-amz-date and
// x-amz-security-token: few enough that proxies adding or rewriting other headers cannot break
// the signature. Thread-safe.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4Signer(const config::BackendAuth& auth,
                                                                 UnixClock clock = nullptr);

// Credentials that change over time (temporary ones from STS, a container endpoint or the
// instance metadata service). Every field is secret but the key id.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
};
// The current credentials; must not block (a refresher fetches them elsewhere). An error
// fails the request being signed (its message must not hold a secret).
using AwsCredentialSource = std::function<absl::StatusOr<AwsCredentials>(int64_t now_unix)>;
// A signer for auth.aws_region whose credentials come from `source` at every signature (the
// signing key is derived again when the secret changes).
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4SignerWithSource(const config::BackendAuth& auth,
                                                                           AwsCredentialSource source,
                                                                           UnixClock clock = nullptr);

namespace aws_sigv4_internal {

// The signer with its knobs exposed, for AWS's published test suite (service "service") and
// for services that want x-amz-content-sha256 sent and signed (S3 does).
struct SignerOptions {
  std::string service = "bedrock";
  bool send_content_sha256 = false;
  UnixClock clock;  // nullptr: the system clock
  AwsCredentialSource source;  // nullptr: the auth config's static keys
  // Headers of the request signed besides content-type, host and x-amz-* (lower-case names;
  // e.g. x-goog-cloud-target-resource for Google's AWS workload identity federation).
  std::vector<std::string> extra_signed_headers;
};
absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsSigV4SignerWithOptions(
    const config::BackendAuth& auth, SignerOptions options);
// A signer for one call a credential source makes itself (STS AssumeRole, the GetCallerIdentity
// Google replays): `credentials` in `region` for `service`, dated `now`.
absl::StatusOr<std::unique_ptr<BackendSigner>> NewCallSigner(const AwsCredentials& credentials, std::string region,
                                                            std::string service, int64_t now,
                                                            std::vector<std::string> extra_signed_headers = {});

struct Credentials {
  std::string_view access_key_id;
  std::string_view secret_access_key;
};

// One request to sign: every header in `headers` is signed (names any case; repeated names
// are joined with ','), so it must already hold host and x-amz-date. Views only: the strings
// must outlive the Sign() call.
struct Request {
  std::string_view method;
  std::string_view path_and_query;  // as sent, e.g. "/model/a%3A0/converse?x=1"
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view body;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "content-type;host;x-amz-date"
  std::string payload_hash;    // hex SHA-256 of the body
  std::string signature;       // hex
  std::string authorization;   // the Authorization header value
};

// Pure SigV4: `amz_date` is "YYYYMMDDTHHMMSSZ".
Signature Sign(const Request& request, const Credentials& credentials, std::string_view region,
               std::string_view service, std::string_view amz_date);

// The canonical URI of a path as sent: dot segments and empty segments removed, then every
// byte but unreserved characters and '/' percent-encoded (so "%3A" becomes "%253A": AWS
// encodes paths twice for every service but S3).
std::string CanonicalUri(std::string_view path);
// The canonical query string: parameters decoded, re-encoded, sorted by name then value.
std::string CanonicalQuery(std::string_view query);
// "YYYYMMDDTHHMMSSZ" in UTC.
std::string AmzDate(int64_t unix_seconds);

}  // namespace aws_sigv4_internal
}  // namespace sluice::auth
