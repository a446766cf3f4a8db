#include "auth/gcp_credentials.h"

#include <filesystem>
#include <mutex>
#include <utility>
#include <vector>

#include "auth/oidc_exchange.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "http/headers.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

constexpr int kMetadataTimeoutMs = 3000;
constexpr int64_t kNoMetadataRecheckSeconds = 300;  // after no metadata server answered
constexpr int kStsTimeoutMs = 5000;                // each call of the external_account chain
constexpr std::string_view kDefaultStsUrl = "https://sts.googleapis.com/v1/token";

bool EnvTrue(std::string_view v) { return v == "true" || v == "True" || v == "TRUE" || v == "1"; }

// A token endpoint's answer ({"access_token","expires_in"}: OAuth2, STS, metadata server) as a
// Token; `who` names the endpoint in errors. A transport failure stays Unavailable (the caller
// may try elsewhere); a refusal is Unauthenticated.
absl::StatusOr<Token> ReadTokenAnswer(const absl::StatusOr<HttpResponse>& resp, std::string_view who, int64_t now,
                                      int64_t default_lifetime = 0) {
  if (!resp.ok()) return absl::UnavailableError(StrCat(who, ": ", ToStd(resp.status().message())));
  auto t = ParseGcpTokenResponse(resp->body, now, default_lifetime);
  if (t.ok() && resp->status == 200) return Token{std::move(t->token), t->expires_at};
  std::string why = t.ok() ? std::string() : std::string(ToStd(t.status().message()));
  return absl::UnauthenticatedError(StrCat(who, " answered status ", resp->status, why.empty() ? "" : " (", why,
                                           why.empty() ? "" : ")"));
}

// IAM Credentials generateAccessToken at `url`, authorized by `source_token`: the service
// account's cloud-platform token.
absl::StatusOr<Token> ImpersonateServiceAccount(HttpClient& http, std::string_view url, std::string_view source_token,
                                         int64_t lifetime, const std::vector<std::string>& delegates) {
  if (!HeaderSafe(source_token)) return absl::UnauthenticatedError("the source credentials gave an unusable access token");
  std::string auth = StrCat("Bearer ", source_token);  // secret
  json::Value req = json::Value::Object();
  json::Value scopes = json::Value::Array();
  scopes.Append(json::Value::String(std::string(kGcpCloudPlatformScope)));
  req.Set("scope", std::move(scopes));
  req.Set("lifetime", json::Value::String(StrCat(lifetime, "s")));
  if (!delegates.empty()) {
    json::Value list = json::Value::Array();
    for (const auto& d : delegates) list.Append(json::Value::String(d));
    req.Set("delegates", std::move(list));
  }
  std::string body = json::Serialize(req);
  HttpRequest r;
  r.method = "POST";
  r.url = url;
  r.headers = {{"authorization", auth}, {"content-type", "application/json"}, {"accept", "application/json"}};
  r.body = body;
  r.timeout_ms = kStsTimeoutMs;
  auto resp = http.Send(r);
  if (!resp.ok()) return absl::UnavailableError(StrCat("service account impersonation: ", ToStd(resp.status().message())));
  auto answer = json::Parse(resp->body);
  if (resp->status != 200 || !answer.ok() || !answer->is_object()) {
    std::string why;
    if (answer.ok() && answer->is_object()) {
      if (const json::Value* e = answer->Find("error"); e && e->is_object()) why = FirstLine(e->GetString("message"));
    }
    return absl::UnauthenticatedError(StrCat("service account impersonation answered status ", resp->status,
                                             why.empty() ? "" : " (", why, why.empty() ? "" : ")"));
  }
  std::string_view token = answer->GetString("accessToken");
  auto expires = ParseIso8601Utc(answer->GetString("expireTime"));
  if (token.empty() || !expires.ok() || !HeaderSafe(token)) {
    return absl::UnauthenticatedError("service account impersonation answered without a usable accessToken / expireTime");
  }
  return Token{std::string(token), *expires};
}

class DefaultCredentials {
 public:
  explicit DefaultCredentials(EnvLookup env) : env_(std::move(env)) {}

  // The token, and after a line break the quota project its requests bill
  // (GOOGLE_CLOUD_QUOTA_PROJECT, else the credentials file's quota_project_id), which the
  // signer sends as x-goog-user-project, as Google's libraries do.
  absl::StatusOr<Token> Mint(HttpClient& http, int64_t now) const {
    std::string quota;
    auto t = MintToken(http, now, &quota);
    if (!t.ok()) return t;
    if (std::string env_quota = env_("GOOGLE_CLOUD_QUOTA_PROJECT"); !env_quota.empty()) quota = env_quota;
    if (!quota.empty()) {
      if (!HeaderSafe(quota)) return absl::UnauthenticatedError("the quota project holds control characters");
      StrAppend(&t->value, "\n", quota);
    }
    return t;
  }

 private:
  absl::StatusOr<Token> MintToken(HttpClient& http, int64_t now, std::string* quota) const {
    // 1. The file GOOGLE_APPLICATION_CREDENTIALS names.
    if (std::string file = env_("GOOGLE_APPLICATION_CREDENTIALS"); !file.empty()) {
      auto text = ReadCredentialFile(file, "GOOGLE_APPLICATION_CREDENTIALS");
      if (!text.ok()) return absl::UnauthenticatedError(text.status().message());
      return Note(file, FromFile(http, *text, StrCat("GOOGLE_APPLICATION_CREDENTIALS ", file), now, quota));
    }
    // 2. gcloud's application-default file.
    std::string dir = env_("CLOUDSDK_CONFIG");
    if (std::string home = env_("HOME"); dir.empty() && !home.empty()) dir = StrCat(home, "/.config/gcloud");
    std::string well_known = dir.empty() ? "" : StrCat(dir, "/application_default_credentials.json");
    std::error_code ec;
    if (!well_known.empty() && std::filesystem::exists(well_known, ec)) {
      // There but unreadable is an error, not a reason to look elsewhere (as Google's libraries).
      auto text = ReadCredentialFile(well_known, "gcloud's credentials file");
      if (!text.ok()) return absl::UnauthenticatedError(text.status().message());
      return Note(well_known, FromFile(http, *text, well_known, now, quota));
    }
    std::string none = StrCat("no Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, ",
                              well_known.empty() ? std::string("HOME is not set") : StrCat("there is no ", well_known),
                              ", and ");
    // 3. The metadata server.
    if (EnvTrue(env_("NO_GCE_CHECK"))) {
      return absl::UnauthenticatedError(StrCat(none, "the metadata server is not asked (NO_GCE_CHECK)"));
    }
    {
      // Off Google Cloud every attempt waits for timeouts on the one refresher thread that all
      // backends' tokens share: a miss is remembered for a while.
      std::lock_guard<std::mutex> l(mu_);
      if (now < no_metadata_until_) return absl::UnauthenticatedError(StrCat(none, no_metadata_why_));
    }
    auto md = Metadata(http, now);
    if (!md.ok() && md.status().code() == absl::StatusCode::kUnavailable) {
      std::lock_guard<std::mutex> l(mu_);
      no_metadata_until_ = now + kNoMetadataRecheckSeconds;
      no_metadata_why_ = std::string(ToStd(md.status().message()));
      return absl::UnauthenticatedError(StrCat(none, no_metadata_why_));
    }
    return Note("the metadata server", std::move(md));
  }

  static absl::StatusOr<Token> Note(std::string_view source, absl::StatusOr<Token> t) {
    if (t.ok()) log::Info("gcp credentials: from ", source);
    return t;
  }

  // A credentials file's JSON; `origin` names it in errors.
  absl::StatusOr<Token> FromFile(HttpClient& http, std::string_view text, std::string_view origin, int64_t now,
                                 std::string* quota) const {
    auto doc = json::Parse(text);
    // The parser's message may quote the file, which holds secrets: not repeated.
    if (!doc.ok() || !doc->is_object()) return absl::UnauthenticatedError(StrCat(origin, " is not a JSON object"));
    *quota = std::string(doc->GetString("quota_project_id"));
    std::string_view type = doc->GetString("type");
    if (type == "service_account") {
      auto key = ParseGcpServiceAccountKey(text);
      if (!key.ok()) return absl::UnauthenticatedError(StrCat(origin, ": ", ToStd(key.status().message())));
      auto t = MintGcpServiceAccountToken(http, *key, now);
      if (!t.ok() && t.status().code() == absl::StatusCode::kInvalidArgument) {  // the key cannot sign
        return absl::UnauthenticatedError(StrCat(origin, ": ", ToStd(t.status().message())));
      }
      return t;
    }
    if (type == "authorized_user") return AuthorizedUser(http, *doc, origin, now);
    if (type == "external_account") return ExternalAccount(http, *doc, origin, now);
    if (type == "impersonated_service_account") return ImpersonatedServiceAccount(http, *doc, origin, now);
    return absl::UnauthenticatedError(StrCat(origin, ": credentials of type \"", FirstLine(type, 60),
                                             "\" are not supported (service_account, authorized_user, "
                                             "external_account and impersonated_service_account are)"));
  }

  // What `gcloud auth application-default login --impersonate-service-account SA` writes:
  // source credentials (a user login, a key or a federated identity) whose token buys the
  // service account's at IAM Credentials generateAccessToken, through any delegates.
  absl::StatusOr<Token> ImpersonatedServiceAccount(HttpClient& http, const json::Value& doc, std::string_view origin,
                                                   int64_t now) const {
    std::string_view url = doc.GetString("service_account_impersonation_url");
    const json::Value* src = doc.Find("source_credentials");
    if (url.empty() || src == nullptr || !src->is_object()) {
      return absl::UnauthenticatedError(StrCat(
          origin, ": impersonated_service_account credentials need service_account_impersonation_url and source_credentials"));
    }
    std::string_view type = src->GetString("type");
    std::string src_origin = StrCat(origin, ": source_credentials");
    absl::StatusOr<Token> source = absl::UnknownError("");
    if (type == "authorized_user") {
      source = AuthorizedUser(http, *src, src_origin, now);
    } else if (type == "service_account") {
      auto key = ParseGcpServiceAccountKey(json::Serialize(*src));
      if (!key.ok()) return absl::UnauthenticatedError(StrCat(src_origin, ": ", ToStd(key.status().message())));
      source = MintGcpServiceAccountToken(http, *key, now);
    } else if (type == "external_account") {
      source = ExternalAccount(http, *src, src_origin, now);
    } else {
      return absl::UnauthenticatedError(StrCat(src_origin, " of type \"", FirstLine(type, 60),
                                               "\" cannot be used (authorized_user, service_account and external_account can)"));
    }
    if (!source.ok()) return source.status();
    std::vector<std::string> delegates;
    if (const json::Value* d = doc.Find("delegates"); d && d->is_array()) {
      for (const auto& item : d->items()) {
        if (!item.is_string()) return absl::UnauthenticatedError(StrCat(origin, ": delegates must be strings"));
        delegates.push_back(item.as_string());
      }
    }
    return ImpersonateServiceAccount(http, url, source->value, /*lifetime=*/3600, delegates);
  }


  // gcloud's user credentials: the OAuth2 refresh_token grant.
  static absl::StatusOr<Token> AuthorizedUser(HttpClient& http, const json::Value& doc, std::string_view origin,
                                              int64_t now) {
    std::string_view id = doc.GetString("client_id"), secret = doc.GetString("client_secret"),
                     refresh = doc.GetString("refresh_token"), uri = doc.GetString("token_uri");
    if (id.empty() || secret.empty() || refresh.empty()) {
      return absl::UnauthenticatedError(
          StrCat(origin, ": authorized_user credentials need client_id, client_secret and refresh_token"));
    }
    std::string url(uri.empty() ? kGcpDefaultTokenUri : uri);
    std::string form = StrCat("grant_type=refresh_token&client_id=", FormEncode(id),
                              "&client_secret=", FormEncode(secret), "&refresh_token=", FormEncode(refresh));
    return ReadTokenAnswer(http.PostForm(url, form), "the OAuth2 token endpoint (refresh_token grant)", now);
  }

  // Workload identity federation: subject token -> STS -> optionally a service account's token.
  absl::StatusOr<Token> ExternalAccount(HttpClient& http, const json::Value& doc, std::string_view origin,
                                        int64_t now) const {
    std::string_view audience = doc.GetString("audience"), subject_type = doc.GetString("subject_token_type");
    if (audience.empty() || subject_type.empty()) {
      return absl::UnauthenticatedError(StrCat(origin, ": external_account credentials need audience and subject_token_type"));
    }
    const json::Value* src = doc.Find("credential_source");
    if (src == nullptr || !src->is_object()) {
      return absl::UnauthenticatedError(StrCat(origin, ": external_account credentials need credential_source"));
    }
    ASSIGN_OR_RETURN(std::string subject, SubjectToken(http, *src, origin));
    std::string_view sts = doc.GetString("token_url");
    std::string form = StrCat("grant_type=", FormEncode("urn:ietf:params:oauth:grant-type:token-exchange"),
                              "&audience=", FormEncode(audience), "&scope=", FormEncode(kGcpCloudPlatformScope),
                              "&requested_token_type=", FormEncode("urn:ietf:params:oauth:token-type:access_token"),
                              "&subject_token_type=", FormEncode(subject_type), "&subject_token=", FormEncode(subject));
    // Workforce pools bill a user project; an OAuth client, when the file names one, authenticates
    // the exchange with HTTP Basic (RFC 6749 2.3.1).
    if (std::string_view up = doc.GetString("workforce_pool_user_project"); !up.empty()) {
      json::Value options = json::Value::Object();
      options.Set("userProject", json::Value::String(std::string(up)));
      StrAppend(&form, "&options=", FormEncode(json::Serialize(options)));
    }
    HttpRequest sts_req;
    sts_req.method = "POST";
    sts_req.url = sts.empty() ? kDefaultStsUrl : sts;
    sts_req.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
    std::string_view client_id = doc.GetString("client_id"), client_secret = doc.GetString("client_secret");
    if (!client_id.empty() && !client_secret.empty()) {
      sts_req.headers.emplace_back(
          "authorization",
          StrCat("Basic ", crypto::Base64Encode(StrCat(FormEncode(client_id), ":", FormEncode(client_secret)))));
    }
    sts_req.body = form;
    sts_req.timeout_ms = kStsTimeoutMs;
    ASSIGN_OR_RETURN(Token federated, ReadTokenAnswer(http.Send(sts_req), "Google STS (token exchange)", now,
                                                      /*default_lifetime=*/3600));
    std::string_view impersonate = doc.GetString("service_account_impersonation_url");
    if (impersonate.empty()) return federated;

    int64_t lifetime = 3600;
    if (const json::Value* sai = doc.Find("service_account_impersonation"); sai && sai->is_object()) {
      if (const json::Value* l = sai->Find("token_lifetime_seconds"); l && l->is_number() && l->as_int() > 0)
        lifetime = l->as_int();
    }
    if (!HeaderSafe(federated.value)) return absl::UnauthenticatedError("Google STS answered an unusable access_token");
    return ImpersonateServiceAccount(http, impersonate, federated.value, lifetime, {});
  }

  // The subject token of an external_account: from a file (a projected Kubernetes service
  // account token, say) or a URL (Azure's instance metadata, say), as text or in a JSON field.
  static absl::StatusOr<std::string> SubjectToken(HttpClient& http, const json::Value& src, std::string_view origin) {
    std::string_view file = src.GetString("file"), url = src.GetString("url");
    std::string raw;  // secret
    if (!file.empty()) {
      auto text = ReadCredentialFile(std::string(file), StrCat(origin, ": credential_source.file"));
      if (!text.ok()) return absl::UnauthenticatedError(text.status().message());
      raw = std::move(*text);
    } else if (!url.empty()) {
      HttpRequest r;
      r.url = url;
      if (const json::Value* h = src.Find("headers"); h && h->is_object()) {
        for (const auto& [name, value] : h->members()) {
          if (!value.is_string() || !HeaderSafe(name) || !HeaderSafe(value.as_string())) {
            return absl::UnauthenticatedError(StrCat(origin, ": credential_source.headers must be strings"));
          }
          r.headers.emplace_back(http::ToLower(name), value.as_string());
        }
      }
      r.timeout_ms = kStsTimeoutMs;
      auto resp = http.Send(r);
      if (!resp.ok()) return absl::UnauthenticatedError(StrCat("credential_source.url: ", ToStd(resp.status().message())));
      if (resp->status != 200) {
        return absl::UnauthenticatedError(StrCat("credential_source.url answered status ", resp->status));
      }
      raw = std::move(resp->body);
    } else if (src.Find("environment_id") || src.Find("executable") || src.Find("certificate")) {
      return absl::UnauthenticatedError(StrCat(origin, ": external_account credentials sourced from ",
                                               src.Find("executable")    ? "an executable"
                                               : src.Find("certificate") ? "an X.509 certificate"
                                                                         : "AWS",
                                               " are not supported (a credential_source file or url is)"));
    } else {
      return absl::UnauthenticatedError(StrCat(origin, ": credential_source needs file or url"));
    }
    std::string_view format, field;
    if (const json::Value* f = src.Find("format"); f && f->is_object()) {
      format = f->GetString("type");
      field = f->GetString("subject_token_field_name");
    }
    std::string token;
    if (format == "json") {
      auto doc = json::Parse(raw);
      if (field.empty() || !doc.ok() || !doc->is_object() || doc->GetString(field).empty()) {
        return absl::UnauthenticatedError(StrCat(origin, ": the subject token source has no JSON field \"",
                                                 FirstLine(field, 60), "\""));
      }
      token = std::string(doc->GetString(field));
    } else {
      token = std::string(StripWhitespace(raw));
    }
    if (token.empty()) return absl::UnauthenticatedError(StrCat(origin, ": the subject token is empty"));
    return token;
  }

  // The instance's default service account, from the metadata server. Unavailable when no
  // metadata server answers (not on Google Cloud).
  absl::StatusOr<Token> Metadata(HttpClient& http, int64_t now) const {
    std::vector<std::string> hosts;
    if (std::string h = env_("GCE_METADATA_HOST"); !h.empty()) hosts.push_back(h);
    else hosts = {"metadata.google.internal", "169.254.169.254"};
    std::string last;
    for (const auto& host : hosts) {
      std::string url = StrCat("http://", host, "/computeMetadata/v1/instance/service-accounts/default/token?scopes=",
                               FormEncode(kGcpCloudPlatformScope));
      HttpRequest r;
      r.url = url;
      r.headers = {{"metadata-flavor", "Google"}};
      r.timeout_ms = kMetadataTimeoutMs;
      auto resp = http.Send(r);
      if (!resp.ok()) {
        last = StrCat(host, ": ", ToStd(resp.status().message()));
        continue;
      }
      // Another cloud's metadata service answers on 169.254.169.254 too: only an answer that
      // says it is Google's counts (as Google's libraries check).
      if (resp->Header("metadata-flavor") != "Google") {
        last = StrCat(host, ": answered, but not as Google's metadata server (no Metadata-Flavor: Google)");
        continue;
      }
      if (resp->status == 404) {
        return absl::UnauthenticatedError(StrCat("the metadata server at ", host, " has no default service account"));
      }
      return ReadTokenAnswer(resp, StrCat("the metadata server at ", host), now);
    }
    return absl::UnavailableError(StrCat("no metadata server answered (", last, ")"));
  }

  EnvLookup env_;
  mutable std::mutex mu_;
  mutable int64_t no_metadata_until_ = 0;  // guarded by mu_
  mutable std::string no_metadata_why_;    // guarded by mu_
};

}  // namespace

absl::StatusOr<Token> MintGcpServiceAccountToken(HttpClient& http, const GcpServiceAccountKey& key, int64_t now) {
  ASSIGN_OR_RETURN(std::string assertion, BuildGcpJwtAssertion(key, now));
  auto resp = http.PostForm(key.token_uri, GcpTokenRequestBody(assertion));
  if (!resp.ok()) return resp.status();
  auto tok = ParseGcpTokenResponse(resp->body, now);
  if (!tok.ok()) return tok.status();
  return Token{std::move(tok->token), tok->expires_at};
}

TokenMinter NewGcpDefaultCredentialsMinter(EnvLookup env) {
  auto adc = std::make_shared<DefaultCredentials>(std::move(env));
  return [adc](HttpClient& http, int64_t now) { return adc->Mint(http, now); };
}

namespace {

// Bearer of Application Default Credentials' current token, with x-goog-user-project when the
// credentials name a quota project (the refresher's value: token, line break, project).
class GcpDefaultCredentialsSigner final : public BackendSigner {
 public:
  explicit GcpDefaultCredentialsSigner(std::shared_ptr<RefreshingToken> t) : token_(std::move(t)) {}
  absl::StatusOr<http::HeaderMutation> Sign(const SigningRequest&) const override {
    auto v = token_->Current(NowUnix());
    if (!v.ok()) return v.status();
    std::string_view value = *v;
    size_t nl = value.find('\n');
    http::HeaderMutation m;
    m.Set("authorization", StrCat("Bearer ", value.substr(0, nl)));
    if (nl != std::string_view::npos) m.Set("x-goog-user-project", value.substr(nl + 1));
    return m;
  }
  bool NeedsRequest() const override { return false; }

 private:
  std::shared_ptr<RefreshingToken> token_;
};

}  // namespace

TokenMinter NewGcpOidcExchangeMinter(config::OidcExchange oidc, std::string sts_url, std::string iam_url) {
  return [oidc = std::move(oidc), sts_url = std::move(sts_url), iam_url = std::move(iam_url)](
             HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
    ASSIGN_OR_RETURN(Token id, FetchOidcToken(http, oidc, now));
    std::string form = StrCat("grant_type=", FormEncode("urn:ietf:params:oauth:grant-type:token-exchange"),
                              "&audience=", FormEncode(oidc.gcp_sts_audience), "&scope=", FormEncode(kGcpCloudPlatformScope),
                              "&requested_token_type=", FormEncode("urn:ietf:params:oauth:token-type:access_token"),
                              "&subject_token_type=", FormEncode("urn:ietf:params:oauth:token-type:jwt"),
                              "&subject_token=", FormEncode(id.value));
    HttpRequest r;
    r.method = "POST";
    r.url = sts_url;
    r.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
    r.body = form;
    r.timeout_ms = kStsTimeoutMs;
    ASSIGN_OR_RETURN(Token federated, ReadTokenAnswer(http.Send(r), "Google STS (token exchange)", now, 3600));
    if (!HeaderSafe(federated.value)) return absl::UnauthenticatedError("Google STS answered an unusable access_token");
    if (oidc.gcp_service_account.empty()) return federated;
    std::string url = StrCat(iam_url, "/v1/projects/-/serviceAccounts/", oidc.gcp_service_account, ":generateAccessToken");
    return ImpersonateServiceAccount(http, url, federated.value, 3600, {});
  };
}

absl::StatusOr<std::unique_ptr<BackendSigner>> NewGcpTokenSigner(const config::BackendAuth& auth) {
  std::shared_ptr<RefreshingToken> token;
  if (auth.oidc.enabled()) {
    token = std::make_shared<RefreshingToken>(
        StrCat("gcp:oidc:", auth.oidc.gcp_service_account.empty() ? auth.oidc.gcp_sts_audience : auth.oidc.gcp_service_account),
        NewGcpOidcExchangeMinter(auth.oidc, std::string(kDefaultStsUrl), "https://iamcredentials.googleapis.com"));
  } else if (!StripWhitespace(auth.gcp_service_account_json).empty()) {
    ASSIGN_OR_RETURN(GcpServiceAccountKey key, LoadGcpServiceAccountKey(auth.gcp_service_account_json));
    std::string name = StrCat("gcp:", key.client_email);
    token = std::make_shared<RefreshingToken>(std::move(name), [key = std::move(key)](HttpClient& http, int64_t now) {
      return MintGcpServiceAccountToken(http, key, now);
    });
  } else if (auth.gcp_default_credentials) {
    token = std::make_shared<RefreshingToken>("gcp:application-default-credentials",
                                              NewGcpDefaultCredentialsMinter(ProcessEnv()));
    TokenRefresher::Get().Register(token);
    return std::unique_ptr<BackendSigner>(std::make_unique<GcpDefaultCredentialsSigner>(std::move(token)));
  } else {
    return absl::InvalidArgumentError(
        "gcp auth needs an access token, a service-account key or Application Default Credentials");
  }
  TokenRefresher::Get().Register(token);
  return NewBearerTokenSigner(std::move(token));
}

}  // namespace sluice::auth
