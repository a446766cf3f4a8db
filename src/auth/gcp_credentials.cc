#include "auth/gcp_credentials.h"

#include <filesystem>
#include <mutex>
#include <utility>
#include <vector>

#include "auth/aws_sigv4/aws_sigv4.h"
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
constexpr std::string_view kDefaultMtlsStsUrl = "https://sts.mtls.googleapis.com/v1/token";
constexpr int64_t kDefaultExecutableTimeoutMs = 30000;  // Google's libraries' default
constexpr size_t kExecutableMaxOutput = 64 * 1024;

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
                                         int64_t lifetime, const std::vector<std::string>& delegates,
                                         std::string_view client_cert_pem = {}, std::string_view client_key_pem = {}) {
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
  r.client_cert_pem = client_cert_pem;
  r.client_key_pem = client_key_pem;
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
    std::string subject;  // secret
    MtlsIdentity mtls;    // for a certificate-sourced account: the STS and IAM calls go over mTLS
    if (src->Find("environment_id") != nullptr) {
      ASSIGN_OR_RETURN(subject, AwsSubjectToken(http, *src, audience, origin, now));
    } else if (const json::Value* cert = src->Find("certificate"); cert != nullptr) {
      ASSIGN_OR_RETURN(mtls, CertificateIdentity(*cert, origin));
      subject = mtls.subject_token;
    } else if (const json::Value* exe = src->Find("executable"); exe != nullptr) {
      ASSIGN_OR_RETURN(subject, ExecutableSubjectToken(*exe, doc, origin, now));
    } else {
      ASSIGN_OR_RETURN(subject, SubjectToken(http, *src, origin));
    }
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
    // A certificate-sourced account exchanges at STS's mutual-TLS endpoint.
    sts_req.url = !sts.empty() ? sts : mtls.cert_pem.empty() ? kDefaultStsUrl : kDefaultMtlsStsUrl;
    sts_req.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"accept", "application/json"}};
    std::string_view client_id = doc.GetString("client_id"), client_secret = doc.GetString("client_secret");
    if (!client_id.empty() && !client_secret.empty()) {
      sts_req.headers.emplace_back(
          "authorization",
          StrCat("Basic ", crypto::Base64Encode(StrCat(FormEncode(client_id), ":", FormEncode(client_secret)))));
    }
    sts_req.body = form;
    sts_req.timeout_ms = kStsTimeoutMs;
    sts_req.client_cert_pem = mtls.cert_pem;
    sts_req.client_key_pem = mtls.key_pem;
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
    return ImpersonateServiceAccount(http, impersonate, federated.value, lifetime, {}, mtls.cert_pem, mtls.key_pem);
  }

  // A workload's X.509 identity (workload identity federation with certificates).
  struct MtlsIdentity {
    std::string cert_pem;       // the leaf certificate (PEM), presented in the TLS handshake
    std::string key_pem;        // secret
    std::string subject_token;  // JSON array of base64 DER: the leaf, then the trust chain
  };

  // credential_source.certificate: the certificate configuration (certificate_config_location,
  // or with use_default_certificate_config GOOGLE_API_CERTIFICATE_CONFIG, else gcloud's
  // certificate_config.json) names the workload's cert_path and key_path, read at every
  // refresh (they rotate); trust_chain_path adds intermediates to the subject token, which
  // Google STS checks against the pool's trust store. The exchange itself runs over mTLS with
  // that certificate (sts.mtls.googleapis.com).
  absl::StatusOr<MtlsIdentity> CertificateIdentity(const json::Value& cert, std::string_view origin) const {
    auto fail = [&](std::string_view what) {
      return absl::UnauthenticatedError(StrCat(origin, ": credential_source.certificate: ", what));
    };
    if (!cert.is_object()) return fail("must be an object");
    std::string config_path(cert.GetString("certificate_config_location"));
    const bool use_default = cert.GetBool("use_default_certificate_config", false);
    if (!config_path.empty() && use_default) {
      return fail("set either certificate_config_location or use_default_certificate_config, not both");
    }
    if (config_path.empty()) {
      if (!use_default) return fail("needs certificate_config_location or use_default_certificate_config");
      config_path = env_("GOOGLE_API_CERTIFICATE_CONFIG");
      if (config_path.empty()) {
        std::string dir = env_("CLOUDSDK_CONFIG");
        if (std::string home = env_("HOME"); dir.empty() && !home.empty()) dir = StrCat(home, "/.config/gcloud");
        if (dir.empty()) return fail("no certificate configuration (GOOGLE_API_CERTIFICATE_CONFIG and HOME are not set)");
        config_path = StrCat(dir, "/certificate_config.json");
      }
    }
    auto config_text = ReadCredentialFile(config_path, "the certificate configuration");
    if (!config_text.ok()) return fail(ToStd(config_text.status().message()));
    auto config = json::Parse(*config_text);
    const json::Value* workload = nullptr;
    if (config.ok() && config->is_object()) {
      if (const json::Value* c = config->Find("cert_configs"); c != nullptr && c->is_object()) workload = c->Find("workload");
    }
    if (workload == nullptr || !workload->is_object() || workload->GetString("cert_path").empty() ||
        workload->GetString("key_path").empty()) {
      return fail(StrCat(config_path, " needs cert_configs.workload.cert_path and key_path"));
    }
    MtlsIdentity id;
    absl::StatusOr<std::string> cert_text, key_text;
    absl::Status pair;
    // The two files rotate together but are read one after the other: a pair that does not
    // match is read once more before it counts as wrong.
    for (int attempt = 0; attempt < 2; ++attempt) {
      cert_text = ReadCredentialFile(std::string(workload->GetString("cert_path")), "the workload certificate");
      if (!cert_text.ok()) return fail(ToStd(cert_text.status().message()));
      key_text = ReadCredentialFile(std::string(workload->GetString("key_path")), "the workload private key");
      if (!key_text.ok()) return fail(ToStd(key_text.status().message()));
      pair = crypto::CertificateMatchesKey(*cert_text, *key_text);
      if (pair.ok() || ToStd(pair.message()).find("does not belong") == std::string_view::npos) break;
    }
    auto leaf = crypto::PemCertificatesToDer(*cert_text);
    if (!leaf.ok()) return fail(StrCat("the workload certificate: ", ToStd(leaf.status().message())));
    if (!pair.ok()) return fail(StrCat("the workload certificate and key: ", ToStd(pair.message())));
    std::vector<std::string> chain = {(*leaf)[0]};
    if (std::string_view trust = cert.GetString("trust_chain_path"); !trust.empty()) {
      auto trust_text = ReadCredentialFile(std::string(trust), "the trust chain");
      if (!trust_text.ok()) return fail(ToStd(trust_text.status().message()));
      auto certs = crypto::PemCertificatesToDer(*trust_text);
      if (!certs.ok()) return fail(StrCat("the trust chain: ", ToStd(certs.status().message())));
      for (size_t i = 0; i < certs->size(); ++i) {
        if ((*certs)[i] != chain[0]) {
          chain.push_back(std::move((*certs)[i]));
        } else if (i != 0) {
          return fail("the trust chain holds the workload certificate, but not first");
        }
      }
    }
    json::Value list = json::Value::Array();
    for (const std::string& der : chain) list.Append(json::Value::String(crypto::Base64Encode(der)));
    id.subject_token = json::Serialize(list);
    id.cert_pem = std::move(*cert_text);
    id.key_pem = std::move(*key_text);
    return id;
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

  // Executable-sourced credentials (pluggable auth): credential_source.executable.command
  // (split at spaces, no shell, as Google's libraries run it; only when
  // GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1) prints {"version":1,"success":true,
  // "token_type", "id_token" | "saml_response", "expiration_time"}; a fresh response cached in
  // output_file is used instead of running it. The helper is told the audience, token type,
  // impersonated account and output file in GOOGLE_EXTERNAL_ACCOUNT_* variables, and that no
  // one can answer a prompt (INTERACTIVE=0).
  absl::StatusOr<std::string> ExecutableSubjectToken(const json::Value& exe, const json::Value& doc, std::string_view origin,
                                                     int64_t now) const {
    if (env_("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES") != "1") {
      return absl::UnauthenticatedError(StrCat(origin, ": executable-sourced credentials need ",
                                               "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 (as Google's libraries require)"));
    }
    std::string_view command = exe.GetString("command");
    std::vector<std::string> argv;
    for (std::string_view rest = command; !rest.empty();) {
      size_t sp = rest.find(' ');
      if (sp != 0) argv.emplace_back(rest.substr(0, sp));
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    }
    if (argv.empty()) return absl::UnauthenticatedError(StrCat(origin, ": credential_source.executable needs command"));
    int64_t timeout_ms = kDefaultExecutableTimeoutMs;
    if (const json::Value* t = exe.Find("timeout_millis"); t != nullptr) {
      if (!t->is_number() || t->as_int() < 5000 || t->as_int() > 120000) {
        return absl::UnauthenticatedError(StrCat(origin, ": credential_source.executable.timeout_millis must be 5000 to 120000"));
      }
      timeout_ms = t->as_int();
    }
    const std::string output_file(exe.GetString("output_file"));
    auto read = [&](std::string_view text, bool cached) -> absl::StatusOr<std::string> {
      auto r = json::Parse(text);
      std::string_view what = cached ? "the executable's cached output" : "the executable's output";
      if (!r.ok() || !r->is_object()) return absl::UnauthenticatedError(StrCat(origin, ": ", what, " is not a JSON object"));
      const json::Value* version = r->Find("version");
      const json::Value* success = r->Find("success");
      if (version == nullptr || !version->is_number() || version->as_int() != 1 || success == nullptr || !success->is_bool()) {
        return absl::UnauthenticatedError(StrCat(origin, ": ", what, " needs \"version\": 1 and \"success\""));
      }
      if (!success->as_bool()) {
        return absl::UnauthenticatedError(StrCat(origin, ": the executable failed (code ", FirstLine(r->GetString("code"), 40),
                                                 "): ", FirstLine(r->GetString("message"))));
      }
      const json::Value* exp = r->Find("expiration_time");
      if (exp != nullptr && exp->is_number() && exp->as_int() <= now) {
        return absl::DeadlineExceededError(StrCat(origin, ": ", what, " has expired"));
      }
      if (!output_file.empty() && (exp == nullptr || !exp->is_number())) {
        return absl::UnauthenticatedError(StrCat(origin, ": ", what, " needs expiration_time when output_file is set"));
      }
      std::string_view type = r->GetString("token_type");
      std::string_view token;
      if (type == "urn:ietf:params:oauth:token-type:jwt" || type == "urn:ietf:params:oauth:token-type:id_token") {
        token = r->GetString("id_token");
      } else if (type == "urn:ietf:params:oauth:token-type:saml2") {
        token = r->GetString("saml_response");
      } else {
        return absl::UnauthenticatedError(StrCat(origin, ": ", what, " has an unknown token_type \"", FirstLine(type, 80), "\""));
      }
      if (token.empty()) return absl::UnauthenticatedError(StrCat(origin, ": ", what, " has no token"));
      return std::string(token);
    };
    if (!output_file.empty()) {
      if (auto cached = ReadCredentialFile(output_file, "output_file"); cached.ok() && !StripWhitespace(*cached).empty()) {
        auto t = read(*cached, true);
        if (t.ok() || t.status().code() != absl::StatusCode::kDeadlineExceeded) return t;
        // Expired: run the executable for a fresh one.
      }
    }
    std::vector<std::string> env = {
        StrCat("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE=", doc.GetString("audience")),
        StrCat("GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE=", doc.GetString("subject_token_type")),
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0",
    };
    if (std::string_view url = doc.GetString("service_account_impersonation_url"); !url.empty()) {
      // .../serviceAccounts/{email}:generateAccessToken
      size_t a = url.rfind('/'), b = url.rfind(':');
      if (a != std::string_view::npos && b != std::string_view::npos && b > a) {
        env.push_back(StrCat("GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL=", url.substr(a + 1, b - a - 1)));
      }
    }
    if (!output_file.empty()) env.push_back(StrCat("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=", output_file));
    auto out = RunCredentialHelper(argv, env, static_cast<int>(timeout_ms), kExecutableMaxOutput);
    if (!out.ok()) return absl::UnauthenticatedError(StrCat(origin, ": the executable ", out.status().message()));
    auto t = read(*out, false);
    if (!t.ok() && t.status().code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnauthenticatedError(t.status().message());
    }
    return t;
  }

  // Workload identity federation from AWS (credential_source.environment_id "aws1"): the
  // subject token is an STS GetCallerIdentity request signed with the workload's AWS
  // credentials, which Google's STS replays to AWS: {"url","method","headers":[{key,value}]}
  // as JSON, percent-encoded. The region comes from AWS_REGION / AWS_DEFAULT_REGION, else the
  // availability zone at region_url; the credentials from AWS_ACCESS_KEY_ID /
  // AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), else the role at `url` (EC2 instance
  // metadata, with an IMDSv2 session token when imdsv2_session_token_url is given). The
  // signed x-goog-cloud-target-resource header binds the request to this audience.
  absl::StatusOr<std::string> AwsSubjectToken(HttpClient& http, const json::Value& src, std::string_view audience,
                                              std::string_view origin, int64_t now) const {
    std::string_view env_id = src.GetString("environment_id");
    if (env_id != "aws1") {
      return absl::UnauthenticatedError(StrCat(origin, ": credential_source.environment_id \"", FirstLine(env_id, 20),
                                               "\" is not supported (aws1 is)"));
    }
    std::string_view verify_url = src.GetString("regional_cred_verification_url");
    if (verify_url.empty()) {
      return absl::UnauthenticatedError(StrCat(origin, ": credential_source needs regional_cred_verification_url"));
    }
    // Metadata URLs may only point at the instance metadata service (as Google's libraries
    // require) or this machine (a local metadata proxy): the IMDS token and the role's
    // credentials go nowhere else.
    for (const char* field : {"region_url", "url", "imdsv2_session_token_url"}) {
      std::string_view u = src.GetString(field);
      if (u.empty()) continue;
      bool ok = false;
      for (std::string_view prefix : {"http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://127.0.0.1:",
                                      "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]:"}) {
        ok = ok || u.starts_with(prefix);
      }
      if (!ok) {
        return absl::UnauthenticatedError(StrCat(origin, ": credential_source.", field,
                                                 " must be the instance metadata service (169.254.169.254, fd00:ec2::254) "
                                                 "or loopback"));
      }
    }
    std::string imds_token;  // secret
    auto metadata = [&](std::string_view url) -> absl::StatusOr<std::string> {
      if (imds_token.empty() && !src.GetString("imdsv2_session_token_url").empty()) {
        HttpRequest put;
        put.method = "PUT";
        put.url = src.GetString("imdsv2_session_token_url");
        put.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", "300"}};
        put.timeout_ms = kMetadataTimeoutMs;
        auto t = http.Send(put);
        if (!t.ok()) return absl::UnavailableError(StrCat("the IMDSv2 session token: ", ToStd(t.status().message())));
        if (t->status != 200 || !HeaderSafe(t->body)) {
          return absl::UnauthenticatedError(StrCat("the IMDSv2 session token request answered status ", t->status));
        }
        imds_token = std::string(StripWhitespace(t->body));
      }
      HttpRequest get;
      get.url = url;
      if (!imds_token.empty()) get.headers = {{"x-aws-ec2-metadata-token", imds_token}};
      get.timeout_ms = kMetadataTimeoutMs;
      auto r = http.Send(get);
      if (!r.ok()) return absl::UnavailableError(StrCat(url, ": ", ToStd(r.status().message())));
      if (r->status != 200) return absl::UnauthenticatedError(StrCat(url, " answered status ", r->status));
      return std::move(r->body);
    };
    std::string region = env_("AWS_REGION");
    if (region.empty()) region = env_("AWS_DEFAULT_REGION");
    if (region.empty()) {
      std::string_view region_url = src.GetString("region_url");
      if (region_url.empty()) return absl::UnauthenticatedError(StrCat(origin, ": no AWS region (AWS_REGION, region_url)"));
      ASSIGN_OR_RETURN(std::string zone, metadata(region_url));
      std::string_view z = StripWhitespace(zone);
      if (z.size() < 2) return absl::UnauthenticatedError("the availability zone from region_url is empty");
      region = std::string(z.substr(0, z.size() - 1));  // us-east-1b -> us-east-1
    }
    if (!HeaderSafe(region) || region.find_first_of("/?#@") != std::string::npos) {
      return absl::UnauthenticatedError("the AWS region holds characters a host name cannot");
    }
    AwsCredentials aws{env_("AWS_ACCESS_KEY_ID"), env_("AWS_SECRET_ACCESS_KEY"), env_("AWS_SESSION_TOKEN")};  // secrets
    if (aws.access_key_id.empty() || aws.secret_access_key.empty()) {
      std::string_view role_url = src.GetString("url");
      if (role_url.empty()) {
        return absl::UnauthenticatedError(StrCat(origin, ": no AWS credentials (AWS_ACCESS_KEY_ID, credential_source.url)"));
      }
      ASSIGN_OR_RETURN(std::string roles, metadata(role_url));
      std::string role(StripWhitespace(std::string_view(roles).substr(0, roles.find('\n'))));
      if (role.empty()) return absl::UnauthenticatedError("the instance has no IAM role");
      std::string base(role_url);
      while (!base.empty() && base.back() == '/') base.pop_back();
      ASSIGN_OR_RETURN(std::string creds_text, metadata(StrCat(base, "/", role)));
      auto creds = json::Parse(creds_text);
      if (!creds.ok() || !creds->is_object()) return absl::UnauthenticatedError("the instance's role credentials are not JSON");
      aws = {std::string(creds->GetString("AccessKeyId")), std::string(creds->GetString("SecretAccessKey")),
             std::string(creds->GetString("Token"))};
      if (aws.access_key_id.empty() || aws.secret_access_key.empty()) {
        return absl::UnauthenticatedError("the instance's role credentials lack AccessKeyId / SecretAccessKey");
      }
    }
    // The signed GetCallerIdentity request.
    std::string url(verify_url);
    if (size_t at = url.find("{region}"); at != std::string::npos) url.replace(at, 8, region);
    std::string_view rest = url;
    if (!rest.starts_with("https://")) {
      return absl::UnauthenticatedError(StrCat(origin, ": regional_cred_verification_url must be https"));
    }
    rest.remove_prefix(8);
    size_t host_end = rest.find_first_of("/?");
    std::string host(rest.substr(0, host_end));
    std::string path = host_end == std::string_view::npos ? std::string("/")
                       : rest[host_end] == '?'          ? StrCat("/", rest.substr(host_end))
                                                        : std::string(rest.substr(host_end));
    ASSIGN_OR_RETURN(auto signer,
                     aws_sigv4_internal::NewCallSigner(aws, region, "sts", now, {"x-goog-cloud-target-resource"}));
    http::HeaderMap headers;
    headers.Add("x-goog-cloud-target-resource", audience);
    ASSIGN_OR_RETURN(http::HeaderMutation sig, signer->Sign(SigningRequest{"POST", host, path, headers, ""}));
    json::Value list = json::Value::Array();
    auto add = [&](std::string_view key, std::string_view value) {
      json::Value h = json::Value::Object();
      h.Set("key", json::Value::String(std::string(key)));
      h.Set("value", json::Value::String(std::string(value)));
      list.Append(std::move(h));
    };
    for (const auto& [name, value] : sig.set) add(name == "authorization" ? "Authorization" : name, value);
    add("host", host);
    add("x-goog-cloud-target-resource", audience);
    json::Value request = json::Value::Object();
    request.Set("url", json::Value::String(url));
    request.Set("method", json::Value::String("POST"));
    request.Set("headers", std::move(list));
    return PercentEncode(json::Serialize(request));
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
    std::string url = StrCat(iam_url, "/v1/projects/-/serviceAccounts/", PercentEncode(oidc.gcp_service_account, "@"),
                             ":generateAccessToken");
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
