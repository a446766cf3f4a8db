#include "auth/aws_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include "auth/oidc_exchange.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

// Long-term keys (environment, shared file) are looked at again this often, so a rotated file
// or a credential_process-style rewrite is picked up without a restart.
constexpr int64_t kStaticRecheckSeconds = 900;
constexpr int kMetadataTimeoutMs = 1000;  // IMDS and container endpoints are local and fast
constexpr int kProcessTimeoutMs = 60000;  // a credential_process (it may wait on a login)
constexpr size_t kProcessMaxOutput = 64 * 1024;

std::string Trim(std::string s) {
  std::string_view v = StripWhitespace(s);
  return std::string(v);
}

// The text of the first <tag>...</tag> in `xml` after `from`, entities decoded; empty when
// absent. STS answers are small, flat and machine-written.
std::string XmlText(std::string_view xml, std::string_view tag, size_t from = 0) {
  std::string open = StrCat("<", tag, ">"), close = StrCat("</", tag, ">");
  size_t a = xml.find(open, from);
  if (a == std::string_view::npos) return {};
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return {};
  std::string_view raw = xml.substr(a, b - a);
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out.push_back(raw[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool done = false;
    for (const auto& [e, c] : kEntities) {
      if (raw.substr(i).starts_with(e)) {
        out.push_back(c);
        i += e.size() - 1;
        done = true;
        break;
      }
    }
    if (!done) out.push_back('&');
  }
  return out;
}

// The DNS suffix of the AWS partition a region belongs to (China and the isolated regions
// have their own).
std::string_view PartitionDomain(std::string_view region) {
  if (region.starts_with("cn-")) return "amazonaws.com.cn";
  if (region.starts_with("us-isob-")) return "sc2s.sgov.gov";
  if (region.starts_with("us-iso-")) return "c2s.ic.gov";
  return "amazonaws.com";
}

Token MakeToken(const AwsCredentials& c, int64_t expires_at) { return Token{EncodeAwsCredentials(c), expires_at}; }

// {"AccessKeyId","SecretAccessKey","Token","Expiration"}: the container and IMDS answer.
absl::StatusOr<Token> FromMetadataJson(const HttpResponse& resp, std::string_view source, int64_t now) {
  if (resp.status != 200) {
    return absl::UnauthenticatedError(StrCat(source, " answered status ", resp.status));
  }
  auto doc = json::Parse(resp.body);
  if (!doc.ok() || !doc->is_object()) return absl::UnauthenticatedError(StrCat(source, " answered malformed JSON"));
  if (std::string_view code = doc->GetString("Code"); !code.empty() && code != "Success") {
    return absl::UnauthenticatedError(StrCat(source, " answered Code ", FirstLine(code, 100), ": ",
                                             FirstLine(doc->GetString("Message"), 300)));
  }
  AwsCredentials c{std::string(doc->GetString("AccessKeyId")), std::string(doc->GetString("SecretAccessKey")),
                   std::string(doc->GetString("Token"))};
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return absl::UnauthenticatedError(StrCat(source, " answered without AccessKeyId / SecretAccessKey"));
  }
  int64_t expires = now + 3600;
  if (std::string_view exp = doc->GetString("Expiration"); !exp.empty()) {
    auto t = ParseIso8601Utc(exp);
    if (!t.ok()) return absl::UnauthenticatedError(StrCat(source, " answered an unreadable Expiration"));
    expires = *t;
  }
  return MakeToken(c, expires);
}

// Hosts the container credentials token may be sent to in clear text (as the AWS SDKs allow):
// loopback, and the ECS and EKS Pod Identity agents (IPv4 and IPv6).
bool LocalContainerAgent(std::string_view host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "169.254.170.2" ||
         host == "169.254.170.23" || host == "fd00:ec2::23";
}

using Settings = std::map<std::string, std::string>;

// A cached IAM Identity Center token is refreshed this long before it expires (the Go SDK's
// margin), so the role credentials are never fetched with a token about to lapse.
constexpr int64_t kSsoRefreshWindowSeconds = 300;

class Chain {
 public:
  Chain(EnvLookup env, std::string region) : env_(std::move(env)), region_(std::move(region)) {}

  absl::StatusOr<Token> Mint(HttpClient& http, int64_t now) const {
    // 1. Environment.
    if (std::string id = env_("AWS_ACCESS_KEY_ID"), secret = env_("AWS_SECRET_ACCESS_KEY");
        !id.empty() && !secret.empty()) {
      return Note("environment", MakeToken({id, secret, env_("AWS_SESSION_TOKEN")}, now + kStaticRecheckSeconds));
    }
    // 2. Web identity.
    if (std::string file = env_("AWS_WEB_IDENTITY_TOKEN_FILE"); !file.empty()) {
      return Note("web identity (STS AssumeRoleWithWebIdentity)", WebIdentity(http, file, now));
    }
    // 3. Shared credentials and config files.
    if (auto shared = SharedFiles(http, now); !shared.ok() || shared->has_value()) {
      if (!shared.ok()) return shared.status();
      return Note("the shared credentials file", std::move(**shared));
    }
    // 4. Container credentials.
    if (std::string url = ContainerUrl(); !url.empty()) return Note("container credentials", Container(http, url, now));
    // 5. Instance metadata.
    std::string disabled = env_("AWS_EC2_METADATA_DISABLED");
    if (disabled == "true" || disabled == "TRUE" || disabled == "1") {
      return absl::UnauthenticatedError(
          "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), no web identity "
          "(AWS_WEB_IDENTITY_TOKEN_FILE), no shared credentials file, no container credentials, and "
          "instance metadata is disabled (AWS_EC2_METADATA_DISABLED)");
    }
    auto imds = InstanceMetadata(http, now);
    if (!imds.ok()) {
      return absl::UnauthenticatedError(StrCat(
          "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), no web identity "
          "(AWS_WEB_IDENTITY_TOKEN_FILE), no shared credentials file, no container credentials, and "
          "instance metadata gave none (",
          imds.status().message(), ")"));
    }
    return Note("EC2 instance metadata", std::move(imds));
  }

 private:
  // The container credentials endpoint the environment names ("" when none).
  std::string ContainerUrl() const {
    if (std::string rel = env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !rel.empty()) {
      return StrCat("http://169.254.170.2", rel.front() == '/' ? "" : "/", rel);
    }
    return env_("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  }

  static absl::StatusOr<Token> Note(std::string_view source, absl::StatusOr<Token> t) {
    if (t.ok()) log::Info("aws credentials: from ", source);
    return t;
  }

  // The profile AWS_PROFILE names (else "default") from the credentials file
  // (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) and the config file (AWS_CONFIG_FILE or
  // ~/.aws/config), resolved as the AWS SDKs do: role_arn (with source_profile or
  // web_identity_token_file), else static keys, else credential_process. nullopt: the default
  // profile is absent or has none of these; try the next source. A profile named in
  // AWS_PROFILE that cannot be used is an error that says why.
  absl::StatusOr<std::optional<Token>> SharedFiles(HttpClient& http, int64_t now) const {
    const std::string profile = env_("AWS_PROFILE");
    if (!profile.empty()) {
      ASSIGN_OR_RETURN(auto settings, ProfileSettings(profile));
      if (!settings) {
        return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, ": no such profile in the AWS credentials or config file"));
      }
    }
    auto t = FromProfile(http, profile.empty() ? "default" : profile, now);
    if (!t.ok()) return t.status();
    if (!t->has_value() && !profile.empty()) {
      return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, " has no credentials sluice can use: no static keys, ",
                                               "role_arn, IAM Identity Center or credential_process"));
    }
    return t;
  }

  // Every setting of profile `name`, the credentials file's winning over the config file's;
  // nullopt when neither file has the profile.
  absl::StatusOr<std::optional<Settings>> ProfileSettings(const std::string& name) const {
    std::string home = env_("HOME");
    std::optional<Settings> out;
    for (const auto& [var, file] : {std::pair{"AWS_SHARED_CREDENTIALS_FILE", "credentials"}, {"AWS_CONFIG_FILE", "config"}}) {
      std::string p = env_(var);
      if (p.empty() && !home.empty()) p = StrCat(home, "/.aws/", file);
      if (p.empty()) continue;
      auto text = ReadCredentialFile(p, "the AWS file");
      if (!text.ok()) {
        if (!env_(var).empty()) return absl::UnauthenticatedError(StrCat(var, ": ", text.status().message()));
        continue;
      }
      if (auto section = config::AwsIniProfile(*text, name)) {
        if (!out) out.emplace();
        out->insert(section->begin(), section->end());  // an earlier file's keys stay
      }
    }
    return out;
  }

  absl::StatusOr<std::optional<Token>> FromProfile(HttpClient& http, const std::string& name, int64_t now,
                                                   std::vector<std::string> visited = {}) const {
    if (std::find(visited.begin(), visited.end(), name) != visited.end()) {
      return absl::UnauthenticatedError(StrCat("AWS profile ", name, ": source_profile chain is circular"));
    }
    const bool source = !visited.empty();
    visited.push_back(name);
    ASSIGN_OR_RETURN(auto settings, ProfileSettings(name));
    if (!settings) {
      if (source) return absl::UnauthenticatedError(StrCat("AWS source_profile ", name, " does not exist"));
      return std::optional<Token>();
    }
    auto get = [&](const char* k) {
      auto it = settings->find(k);
      return it == settings->end() ? std::string() : it->second;
    };
    const std::string who = StrCat("AWS profile ", name);
    if (source) {
      // A source profile's own credentials come before its role (as botocore and the Go SDK).
      auto own = OwnCredentials(http, *settings, name, who, now);
      if (!own.ok() || own->has_value()) return own;
    }
    if (std::string role = get("role_arn"); !role.empty()) {
      if (!get("mfa_serial").empty()) {
        return absl::UnauthenticatedError(StrCat(who, ": role_arn with mfa_serial needs an MFA code, which a gateway "
                                                 "cannot enter; use a credential_process or a role without MFA"));
      }
      if (std::string file = get("web_identity_token_file"); !file.empty()) {
        ASSIGN_OR_RETURN(Token t, WebIdentity(http, file, now, role, get("role_session_name"),
                                              StrCat(who, ": web_identity_token_file")));
        return std::optional<Token>(std::move(t));
      }
      std::string source_name = get("source_profile"), credential_source = get("credential_source");
      if (!source_name.empty() && !credential_source.empty()) {
        return absl::UnauthenticatedError(StrCat(who, ": role_arn has both source_profile and credential_source; set one"));
      }
      absl::StatusOr<std::optional<Token>> src = std::optional<Token>();
      if (!credential_source.empty()) {
        src = CredentialSource(http, credential_source, who, now);
        source_name = StrCat("credential_source ", credential_source);
      } else if (source_name.empty()) {
        return absl::UnauthenticatedError(
            StrCat(who, ": role_arn needs source_profile, credential_source or web_identity_token_file"));
      } else if (source_name == name) {
        // A profile that is its own source uses its own keys (as the SDKs do), not its role.
        src = OwnCredentials(http, *settings, name, who, now);
        source_name = StrCat("source_profile ", source_name);
      } else {
        src = FromProfile(http, source_name, now, visited);
        source_name = StrCat("source_profile ", source_name);
      }
      if (!src.ok()) return src.status();
      if (!src->has_value()) return absl::UnauthenticatedError(StrCat(who, ": ", source_name, " has no credentials"));
      ASSIGN_OR_RETURN(AwsCredentials creds, DecodeAwsCredentials((*src)->value));
      ASSIGN_OR_RETURN(Token t, AssumeRole(http, creds, role, get("external_id"), get("role_session_name"),
                                           get("duration_seconds"), now));
      return std::optional<Token>(std::move(t));
    }
    return OwnCredentials(http, *settings, name, who, now);
  }

  // A profile's own credentials, in the Go SDK's order: static keys, else IAM Identity Center
  // (SSO), else credential_process; nullopt when it has none of these.
  absl::StatusOr<std::optional<Token>> OwnCredentials(HttpClient& http, const Settings& settings, const std::string& name,
                                                      const std::string& who, int64_t now) const {
    if (!settings.count("aws_access_key_id") && (settings.count("sso_session") || settings.count("sso_start_url") ||
                                                 settings.count("sso_account_id"))) {
      ASSIGN_OR_RETURN(Token t, Sso(http, settings, name, who, now));
      return std::optional<Token>(std::move(t));
    }
    return StaticOrProcess(settings, who, now);
  }

  // A role's credential_source: where the keys that assume it come from when no profile holds
  // them (botocore and the Go SDK take the same three values).
  absl::StatusOr<std::optional<Token>> CredentialSource(HttpClient& http, const std::string& kind, const std::string& who,
                                                        int64_t now) const {
    if (kind == "Environment") {
      std::string id = env_("AWS_ACCESS_KEY_ID"), secret = env_("AWS_SECRET_ACCESS_KEY");
      if (id.empty() || secret.empty()) {
        return absl::UnauthenticatedError(
            StrCat(who, ": credential_source Environment, but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set"));
      }
      return std::optional<Token>(MakeToken({id, secret, env_("AWS_SESSION_TOKEN")}, now + kStaticRecheckSeconds));
    }
    if (kind == "EcsContainer") {
      std::string url = ContainerUrl();
      if (url.empty()) {
        return absl::UnauthenticatedError(StrCat(who, ": credential_source EcsContainer, but neither AWS_CONTAINER_CREDENTIALS_",
                                                 "RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"));
      }
      auto t = Container(http, url, now);
      if (!t.ok()) return absl::UnauthenticatedError(StrCat(who, ": credential_source EcsContainer: ", t.status().message()));
      return std::optional<Token>(std::move(*t));
    }
    if (kind == "Ec2InstanceMetadata") {
      auto t = InstanceMetadata(http, now);
      if (!t.ok()) {
        return absl::UnauthenticatedError(StrCat(who, ": credential_source Ec2InstanceMetadata: ", t.status().message()));
      }
      return std::optional<Token>(std::move(*t));
    }
    return absl::UnauthenticatedError(StrCat(who, ": credential_source ", FirstLine(kind, 60),
                                             " is not one of Environment, Ec2InstanceMetadata, EcsContainer"));
  }

  // IAM Identity Center (SSO), as `aws sso login` leaves it: the profile's sso_session names a
  // [sso-session NAME] section of the config file (sso_start_url, sso_region), or the profile
  // holds sso_start_url and sso_region itself (the legacy form). The CLI caches the session's
  // access token in ~/.aws/sso/cache/<sha1 of the session name, or of the start URL>.json;
  // SSO's GetRoleCredentials trades it for the role's temporary keys (sso_account_id,
  // sso_role_name). A session's token is refreshed (SSO OIDC CreateToken with its refresh
  // token) when it is about to expire, and written back to the cache as the SDKs do; a legacy
  // token cannot be, and an expired one needs `aws sso login` again.
  absl::StatusOr<Token> Sso(HttpClient& http, const Settings& settings, const std::string& name, const std::string& who,
                            int64_t now) const {
    auto get = [&](const Settings& m, const char* k) {
      auto it = m.find(k);
      return it == m.end() ? std::string() : it->second;
    };
    const std::string session = get(settings, "sso_session");
    std::string start_url = get(settings, "sso_start_url"), region = get(settings, "sso_region");
    const std::string login = session.empty() ? StrCat("aws sso login --profile ", name) : StrCat("aws sso login --sso-session ", session);
    if (!session.empty()) {
      ASSIGN_OR_RETURN(auto section, ConfigSection(StrCat("sso-session ", session)));
      if (!section) {
        return absl::UnauthenticatedError(
            StrCat(who, ": sso_session ", session, " has no [sso-session ", session, "] section in the config file"));
      }
      for (const auto& [key, value] : {std::pair{"sso_start_url", &start_url}, {"sso_region", &region}}) {
        std::string v = get(*section, key);
        if (!value->empty() && !v.empty() && *value != v) {
          return absl::UnauthenticatedError(StrCat(who, ": ", key, " differs from the one of sso-session ", session));
        }
        if (!v.empty()) *value = v;
      }
    }
    std::string account = get(settings, "sso_account_id"), role = get(settings, "sso_role_name");
    for (const auto& [key, value] : {std::pair{"sso_start_url", &start_url}, {"sso_region", &region},
                                     {"sso_account_id", &account}, {"sso_role_name", &role}}) {
      if (value->empty()) return absl::UnauthenticatedError(StrCat(who, ": IAM Identity Center profile without ", key));
    }
    // The region becomes part of the host names the token is sent to.
    if (region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      return absl::UnauthenticatedError(StrCat(who, ": sso_region is not a region name"));
    }
    std::string home = env_("HOME");
    if (home.empty()) return absl::UnauthenticatedError(StrCat(who, ": HOME is not set, so the SSO token cache cannot be found"));
    const std::string cache = StrCat(home, "/.aws/sso/cache/", crypto::Sha1Hex(session.empty() ? start_url : session), ".json");
    // One refresh of a cache at a time (every region's chain may read the same one), and a
    // refresh whose write-back failed is remembered: its refresh token may have been rotated.
    static std::mutex cache_mu;
    static auto* refreshed_docs = new std::map<std::string, std::string>();  // cache path -> JSON
    std::lock_guard<std::mutex> lock(cache_mu);
    auto text = ReadCredentialFile(cache, "the SSO token cache");
    if (!text.ok()) {
      return absl::UnauthenticatedError(StrCat(who, ": no cached IAM Identity Center login (", text.status().message(),
                                               "); run `", login, "`"));
    }
    auto doc = json::Parse(*text);
    if (!doc.ok() || !doc->is_object()) return absl::UnauthenticatedError(StrCat(who, ": the SSO token cache ", cache, " is not JSON"));
    if (auto it = refreshed_docs->find(cache); it != refreshed_docs->end()) {
      auto mine = json::Parse(it->second);
      auto file_expiry = SsoTime(doc->GetString("expiresAt"));
      auto my_expiry = mine.ok() ? SsoTime(mine->GetString("expiresAt")) : absl::StatusOr<int64_t>(0);
      if (mine.ok() && my_expiry.ok() && (!file_expiry.ok() || *my_expiry > *file_expiry)) {
        doc = std::move(mine);
      } else {
        refreshed_docs->erase(it);  // the file is newer (the CLI logged in or refreshed): it wins
      }
    }
    std::string access_token(doc->GetString("accessToken"));  // secret
    auto expires = SsoTime(doc->GetString("expiresAt"));
    if (access_token.empty() || !expires.ok()) {
      return absl::UnauthenticatedError(StrCat(who, ": the SSO token cache ", cache, " has no accessToken / expiresAt"));
    }
    if (!session.empty() && *expires - now < kSsoRefreshWindowSeconds) {
      auto refreshed = RefreshSsoToken(http, *doc, region, now);
      if (refreshed.ok()) {
        access_token = std::string(doc->GetString("accessToken"));
        *expires = *refreshed;
        std::string text_out = json::Serialize(*doc);
        if (auto w = WriteCacheFile(cache, text_out); !w.ok()) {
          log::Warn("aws credentials: ", who, ": the refreshed SSO token could not be written back to ", cache, ": ",
                    w.message(), "; it is kept in memory");
          (*refreshed_docs)[cache] = std::move(text_out);
        } else {
          refreshed_docs->erase(cache);
        }
      } else if (*expires > now) {
        log::Warn("aws credentials: ", who, ": refreshing the SSO token failed (", refreshed.status().message(),
                  "); using it until it expires");
      } else {
        return absl::UnauthenticatedError(StrCat(who, ": the IAM Identity Center login has expired and could not be ",
                                                 "refreshed (", refreshed.status().message(), "); run `", login, "`"));
      }
    }
    if (*expires <= now) {
      return absl::UnauthenticatedError(StrCat(who, ": the IAM Identity Center login expired at ", FormatIso8601Utc(*expires),
                                               "; run `", login, "`"));
    }
    if (!HeaderSafe(access_token)) return absl::UnauthenticatedError(StrCat(who, ": the cached SSO token holds control characters"));
    // SSO GetRoleCredentials.
    std::string url = StrCat(ServiceEndpoint("AWS_ENDPOINT_URL_SSO", StrCat("portal.sso.", region)),
                             "/federation/credentials?account_id=", PercentEncode(account), "&role_name=", PercentEncode(role));
    HttpRequest r;
    r.url = url;
    r.headers = {{"x-amz-sso_bearer_token", access_token}, {"accept", "application/json"}};
    auto resp = http.Send(r);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) {
      auto err = json::Parse(resp->body);
      std::string message = err.ok() ? std::string(err->GetString("message")) : std::string();
      if (message.empty() && err.ok()) message = std::string(err->GetString("Message"));
      return absl::UnauthenticatedError(StrCat(
          who, ": IAM Identity Center GetRoleCredentials for role ", FirstLine(role, 64), " in account ", FirstLine(account, 20),
          " answered status ", resp->status, message.empty() ? "" : " (", FirstLine(message), message.empty() ? "" : ")",
          resp->status == 401 ? StrCat("; run `", login, "`") : std::string()));
    }
    auto body = json::Parse(resp->body);
    const json::Value* rc = body.ok() ? body->Find("roleCredentials") : nullptr;
    if (rc == nullptr || !rc->is_object()) {
      return absl::UnauthenticatedError(StrCat(who, ": IAM Identity Center answered without roleCredentials"));
    }
    AwsCredentials c{std::string(rc->GetString("accessKeyId")), std::string(rc->GetString("secretAccessKey")),
                     std::string(rc->GetString("sessionToken"))};
    const json::Value* expiration = rc->Find("expiration");  // milliseconds since the epoch
    if (c.access_key_id.empty() || c.secret_access_key.empty() || expiration == nullptr || !expiration->is_number()) {
      return absl::UnauthenticatedError(StrCat(who, ": IAM Identity Center answered incomplete roleCredentials"));
    }
    return MakeToken(c, expiration->as_int() / 1000);
  }

  // SSO OIDC CreateToken with the cached refresh token; on success `doc` holds the new
  // accessToken, expiresAt and (when the service rotated it) refreshToken, and the new expiry
  // is returned.
  absl::StatusOr<int64_t> RefreshSsoToken(HttpClient& http, json::Value& doc, const std::string& region, int64_t now) const {
    std::string refresh(doc.GetString("refreshToken")), client_id(doc.GetString("clientId")),
        client_secret(doc.GetString("clientSecret"));  // secrets
    if (refresh.empty() || client_id.empty() || client_secret.empty()) {
      return absl::FailedPreconditionError("the cache holds no refresh token");
    }
    if (std::string_view reg = doc.GetString("registrationExpiresAt"); !reg.empty()) {
      if (auto t = SsoTime(reg); t.ok() && *t <= now) return absl::FailedPreconditionError("the client registration has expired");
    }
    json::Value req = json::Value::Object();
    req.Set("clientId", json::Value::String(client_id));
    req.Set("clientSecret", json::Value::String(client_secret));
    req.Set("grantType", json::Value::String("refresh_token"));
    req.Set("refreshToken", json::Value::String(refresh));
    std::string body = json::Serialize(req);
    std::string url = StrCat(ServiceEndpoint("AWS_ENDPOINT_URL_SSO_OIDC", StrCat("oidc.", region)), "/token");
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"content-type", "application/json"}, {"accept", "application/json"}};
    r.body = body;
    auto resp = http.Send(r);
    if (!resp.ok()) return resp.status();
    auto answer = json::Parse(resp->body);
    if (resp->status != 200) {
      std::string error = answer.ok() ? std::string(answer->GetString("error")) : std::string();
      return absl::UnauthenticatedError(StrCat("SSO OIDC CreateToken answered status ", resp->status,
                                               error.empty() ? "" : " (", FirstLine(error, 100), error.empty() ? "" : ")"));
    }
    if (!answer.ok() || answer->GetString("accessToken").empty()) {
      return absl::UnauthenticatedError("SSO OIDC CreateToken answered without accessToken");
    }
    const json::Value* expires_in = answer->Find("expiresIn");
    int64_t lifetime = expires_in != nullptr && expires_in->is_number() ? expires_in->as_int() : 0;
    if (lifetime <= 0) return absl::UnauthenticatedError("SSO OIDC CreateToken answered without expiresIn");
    int64_t expires = now + std::min<int64_t>(lifetime, 24 * 3600);
    doc.Set("accessToken", json::Value::String(std::string(answer->GetString("accessToken"))));
    doc.Set("expiresAt", json::Value::String(FormatIso8601Utc(expires)));
    if (std::string_view rotated = answer->GetString("refreshToken"); !rotated.empty()) {
      doc.Set("refreshToken", json::Value::String(std::string(rotated)));
    }
    return expires;
  }

  // An SSO cache time: ISO 8601, or the "2026-11-30T21:15:00UTC" older CLIs wrote.
  static absl::StatusOr<int64_t> SsoTime(std::string_view s) {
    if (s.ends_with("UTC")) return ParseIso8601Utc(StrCat(s.substr(0, s.size() - 3), "Z"));
    return ParseIso8601Utc(s);
  }

  // Replaces `path` with `text` (owner-only) through a fresh temporary file beside it (created
  // exclusively with a random name: no planted file or symlink is written through) and a
  // rename, so that a reader never sees half a token cache.
  static absl::Status WriteCacheFile(const std::string& path, const std::string& text) {
    std::string tmp = StrCat(path, ".sluice-XXXXXX");
    int fd = mkostemp(tmp.data(), O_CLOEXEC);  // O_CREAT | O_EXCL, mode 0600
    if (fd < 0) return absl::InternalError("cannot create a temporary file beside it");
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    bool ok = done == text.size() && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
      unlink(tmp.c_str());
      return absl::InternalError("cannot write it");
    }
    std::string dir = path.substr(0, path.rfind('/'));
    if (int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    return absl::OkStatus();
  }

  // An AWS service's endpoint: its AWS_ENDPOINT_URL_<SERVICE> variable, else AWS_ENDPOINT_URL,
  // else https://<host_prefix>.<partition domain>; no trailing slash.
  std::string ServiceEndpoint(const char* variable, const std::string& host_prefix) const {
    std::string endpoint = env_(variable);
    if (endpoint.empty()) endpoint = env_("AWS_ENDPOINT_URL");
    if (endpoint.empty()) {
      std::string_view region = std::string_view(host_prefix).substr(host_prefix.rfind('.') + 1);
      endpoint = StrCat("https://", host_prefix, ".", PartitionDomain(region));
    }
    if (endpoint.find("://") == std::string::npos) endpoint = StrCat("https://", endpoint);
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    return endpoint;
  }

  // A section of the config file (AWS_CONFIG_FILE or ~/.aws/config) by its full name.
  absl::StatusOr<std::optional<Settings>> ConfigSection(const std::string& section) const {
    std::string p = env_("AWS_CONFIG_FILE");
    if (p.empty() && !env_("HOME").empty()) p = StrCat(env_("HOME"), "/.aws/config");
    if (p.empty()) return std::optional<Settings>();
    auto text = ReadCredentialFile(p, "the AWS config file");
    if (!text.ok()) return absl::UnauthenticatedError(text.status().message());
    return config::AwsIniProfile(*text, section);
  }

  // A profile's static keys, else its credential_process; nullopt when it has neither.
  absl::StatusOr<std::optional<Token>> StaticOrProcess(const Settings& settings,
                                                        const std::string& who, int64_t now) const {
    auto get = [&](const char* k) {
      auto it = settings.find(k);
      return it == settings.end() ? std::string() : it->second;
    };
    if (std::string id = get("aws_access_key_id"), secret = get("aws_secret_access_key"); !id.empty() && !secret.empty()) {
      return std::optional<Token>(MakeToken({id, secret, get("aws_session_token")}, now + kStaticRecheckSeconds));
    }
    if (std::string command = get("credential_process"); !command.empty()) {
      ASSIGN_OR_RETURN(Token t, CredentialProcess(command, who, now));
      return std::optional<Token>(std::move(t));
    }
    return std::optional<Token>();
  }

  // Runs a profile's credential_process (through /bin/sh, as the AWS SDKs on POSIX do) and
  // reads its JSON: {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
  // "Expiration"?}. Its stderr is the gateway's (prompts and errors show in the log).
  static absl::StatusOr<Token> CredentialProcess(const std::string& command, const std::string& who, int64_t now) {
    auto out = RunCredentialHelper({"/bin/sh", "-c", command}, {}, kProcessTimeoutMs, kProcessMaxOutput);
    if (!out.ok()) return absl::UnauthenticatedError(StrCat(who, ": credential_process ", out.status().message()));
    auto doc = json::Parse(*out);
    if (!doc.ok() || !doc->is_object()) {
      return absl::UnauthenticatedError(StrCat(who, ": credential_process did not print a JSON object"));
    }
    const json::Value* version = doc->Find("Version");
    if (version == nullptr || !version->is_number() || version->as_int() != 1) {
      return absl::UnauthenticatedError(StrCat(who, ": credential_process output must have \"Version\": 1"));
    }
    AwsCredentials c{std::string(doc->GetString("AccessKeyId")), std::string(doc->GetString("SecretAccessKey")),
                     std::string(doc->GetString("SessionToken"))};
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return absl::UnauthenticatedError(StrCat(who, ": credential_process output has no AccessKeyId / SecretAccessKey"));
    }
    int64_t expires = now + kStaticRecheckSeconds;
    if (std::string_view exp = doc->GetString("Expiration"); !exp.empty()) {
      auto t = ParseIso8601Utc(exp);
      if (!t.ok()) return absl::UnauthenticatedError(StrCat(who, ": credential_process printed an unreadable Expiration"));
      expires = *t;
    }
    return MakeToken(c, expires);
  }

  // The STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the regional one.
  std::string StsUrl() const {
    std::string endpoint = env_("AWS_ENDPOINT_URL_STS");
    if (endpoint.empty()) endpoint = env_("AWS_ENDPOINT_URL");
    if (endpoint.empty()) {
      std::string region = env_("AWS_REGION");
      if (region.empty()) region = env_("AWS_DEFAULT_REGION");
      if (region.empty()) region = region_;
      endpoint = StrCat("https://sts.", region, ".", PartitionDomain(region));
    }
    if (endpoint.find("://") == std::string::npos) endpoint = StrCat("https://", endpoint);
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    return StrCat(endpoint, "/");
  }

  // An STS answer's <Credentials> (AssumeRole, AssumeRoleWithWebIdentity).
  static absl::StatusOr<Token> StsCredentials(const absl::StatusOr<HttpResponse>& resp, std::string_view action,
                                              std::string_view role) {
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) {
      std::string code = XmlText(resp->body, "Code"), message = XmlText(resp->body, "Message");
      return absl::UnauthenticatedError(StrCat("STS ", action, " for ", role, " failed with status ", resp->status,
                                               code.empty() ? "" : ": ", FirstLine(code, 100), message.empty() ? "" : " (",
                                               FirstLine(message), message.empty() ? "" : ")"));
    }
    size_t creds = resp->body.find("<Credentials>");
    if (creds == std::string::npos) return absl::UnauthenticatedError("STS answered without Credentials");
    AwsCredentials c{XmlText(resp->body, "AccessKeyId", creds), XmlText(resp->body, "SecretAccessKey", creds),
                     XmlText(resp->body, "SessionToken", creds)};
    if (c.access_key_id.empty() || c.secret_access_key.empty() || c.session_token.empty()) {
      return absl::UnauthenticatedError("STS answered incomplete Credentials");
    }
    auto expires = ParseIso8601Utc(XmlText(resp->body, "Expiration", creds));
    if (!expires.ok()) return absl::UnauthenticatedError("STS answered an unreadable Expiration");
    return MakeToken(c, *expires);
  }

  // STS AssumeRole, signed (SigV4, service sts) with the source profile's credentials.
  absl::StatusOr<Token> AssumeRole(HttpClient& http, const AwsCredentials& source, const std::string& role,
                                   const std::string& external_id, std::string session, const std::string& duration,
                                   int64_t now) const {
    if (session.empty()) session = StrCat("sluice-", now);
    std::string body = StrCat("Action=AssumeRole&Version=2011-06-15&RoleArn=", FormEncode(role),
                              "&RoleSessionName=", FormEncode(session));
    if (!external_id.empty()) StrAppend(&body, "&ExternalId=", FormEncode(external_id));
    if (!duration.empty()) StrAppend(&body, "&DurationSeconds=", FormEncode(duration));
    std::string url = StsUrl();
    std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
    std::string host(rest.substr(0, rest.find('/')));
    std::string path(rest.substr(host.size()));  // what the client sends is what is signed
    std::string region = env_("AWS_REGION");
    if (region.empty()) region = env_("AWS_DEFAULT_REGION");
    if (region.empty()) region = region_;
    ASSIGN_OR_RETURN(auto signer, aws_sigv4_internal::NewCallSigner(source, region, "sts", now));
    http::HeaderMap headers;
    headers.Add("content-type", "application/x-www-form-urlencoded; charset=utf-8");
    ASSIGN_OR_RETURN(http::HeaderMutation sig, signer->Sign(SigningRequest{"POST", host, path, headers, body}));
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
    for (auto& [n, v] : sig.set) r.headers.emplace_back(n, v);
    r.body = body;
    return StsCredentials(http.Send(r), "AssumeRole", role);
  }

  // STS AssumeRoleWithWebIdentity with the token in `file` for `role` (AWS_ROLE_ARN when empty).
  absl::StatusOr<Token> WebIdentity(HttpClient& http, const std::string& file, int64_t now, std::string role = {},
                                    std::string session = {},
                                    std::string_view what = "AWS_WEB_IDENTITY_TOKEN_FILE") const {
    if (role.empty()) role = env_("AWS_ROLE_ARN");
    if (role.empty()) {
      return absl::UnauthenticatedError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    }
    auto jwt = ReadCredentialFile(file, what);
    if (!jwt.ok()) return absl::UnauthenticatedError(jwt.status().message());
    std::string token = Trim(std::move(*jwt));  // secret
    if (token.empty()) return absl::UnauthenticatedError(StrCat(what, " ", file, " is empty"));
    if (session.empty()) session = env_("AWS_ROLE_SESSION_NAME");
    return WebIdentityToken(http, token, role, std::move(session), now);
  }

 public:
  // STS AssumeRoleWithWebIdentity for `role` with the web identity `token` (a JWT).
  absl::StatusOr<Token> WebIdentityToken(HttpClient& http, const std::string& token, const std::string& role,
                                         std::string session, int64_t now) const {
    if (session.empty()) session = StrCat("sluice-", now);
    std::string url = StsUrl();
    std::string body = StrCat("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=", FormEncode(role),
                              "&RoleSessionName=", FormEncode(session), "&WebIdentityToken=", FormEncode(token));
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
    r.body = body;
    return StsCredentials(http.Send(r), "AssumeRoleWithWebIdentity", role);
  }

 private:
  absl::StatusOr<Token> Container(HttpClient& http, const std::string& url, int64_t now) const {
    // The authorization token must not travel in clear text to anything but the local agent.
    std::string_view rest = url;
    bool tls = rest.starts_with("https://");
    if (!tls && !rest.starts_with("http://")) {
      return absl::UnauthenticatedError("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http(s) URL");
    }
    rest.remove_prefix(tls ? 8 : 7);
    std::string_view host, port;
    if (!SplitHostPort(rest.substr(0, rest.find('/')), &host, &port)) {
      return absl::UnauthenticatedError("AWS_CONTAINER_CREDENTIALS_FULL_URI has a malformed host");
    }
    if (!tls && !LocalContainerAgent(host)) {
      return absl::UnauthenticatedError(StrCat("container credentials over plain http only from loopback or the "
                                               "ECS / EKS Pod Identity agent, not ", host));
    }
    HttpRequest r;
    r.url = url;
    r.timeout_ms = 5 * kMetadataTimeoutMs;
    std::string auth = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (std::string file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
      auto t = ReadCredentialFile(file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      if (!t.ok()) return absl::UnauthenticatedError(t.status().message());
      auth = Trim(std::move(*t));
    }
    if (!HeaderSafe(auth)) return absl::UnauthenticatedError("the container authorization token holds control characters");
    if (!auth.empty()) r.headers.emplace_back("authorization", auth);
    r.headers.emplace_back("accept", "application/json");
    auto resp = http.Send(r);
    if (!resp.ok()) return resp.status();
    return FromMetadataJson(*resp, "the container credentials endpoint", now);
  }

  absl::StatusOr<Token> InstanceMetadata(HttpClient& http, int64_t now) const {
    std::string endpoint = env_("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint.empty()) endpoint = "http://169.254.169.254";
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    // IMDSv2: a session token first. When that fails (IMDSv1-only instances; a container whose
    // answers the hop limit drops), the AWS SDKs go on without one unless
    // AWS_EC2_METADATA_V1_DISABLED is set; so does this.
    HttpRequest put;
    put.method = "PUT";
    std::string token_url = StrCat(endpoint, "/latest/api/token");
    put.url = token_url;
    put.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    put.timeout_ms = kMetadataTimeoutMs;
    auto tok = http.Send(put);
    std::string imds_token;  // secret
    if (tok.ok() && tok->status == 200 && !tok->body.empty()) {
      imds_token = Trim(tok->body);
    } else {
      std::string why = tok.ok() ? StrCat("status ", tok->status) : std::string(tok.status().message());
      std::string v1_off = env_("AWS_EC2_METADATA_V1_DISABLED");
      if (v1_off == "true" || v1_off == "TRUE" || v1_off == "1") {
        return absl::UnauthenticatedError(StrCat("IMDSv2 token request failed (", why, ") and IMDSv1 is disabled"));
      }
      if (!tok.ok() && tok.status().code() != absl::StatusCode::kDeadlineExceeded) return tok.status();
    }
    std::string base = StrCat(endpoint, "/latest/meta-data/iam/security-credentials/");
    HttpRequest get;
    get.url = base;
    if (!imds_token.empty()) get.headers = {{"x-aws-ec2-metadata-token", imds_token}};
    get.timeout_ms = kMetadataTimeoutMs;
    auto roles = http.Send(get);
    if (!roles.ok()) return roles.status();
    std::string role = Trim(roles->body.substr(0, roles->body.find('\n')));
    if (roles->status != 200 || role.empty()) {
      return absl::UnauthenticatedError(StrCat("the instance has no IAM role (status ", roles->status, ")"));
    }
    std::string creds_url = StrCat(base, role);
    get.url = creds_url;
    auto creds = http.Send(get);
    if (!creds.ok()) return creds.status();
    return FromMetadataJson(*creds, "instance metadata", now);
  }

  EnvLookup env_;
  std::string region_;
};

}  // namespace

TokenMinter NewAwsCredentialChainMinter(EnvLookup env, std::string region) {
  auto chain = std::make_shared<Chain>(std::move(env), std::move(region));
  return [chain](HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
    auto t = chain->Mint(http, now);
    if (!t.ok()) return t;
    // A line break from any source (a file, a metadata answer) would inject headers upstream.
    if (auto c = DecodeAwsCredentials(t->value); !c.ok()) return c.status();
    return t;
  };
}

std::string EncodeAwsCredentials(const AwsCredentials& c) {
  return StrCat(c.access_key_id, "\n", c.secret_access_key, "\n", c.session_token);
}

absl::StatusOr<AwsCredentials> DecodeAwsCredentials(std::string_view encoded) {
  size_t a = encoded.find('\n');
  size_t b = a == std::string_view::npos ? a : encoded.find('\n', a + 1);
  if (b == std::string_view::npos) return absl::InternalError("aws credentials: malformed");
  AwsCredentials c{std::string(encoded.substr(0, a)), std::string(encoded.substr(a + 1, b - a - 1)),
                   std::string(encoded.substr(b + 1))};
  // The key id and session token go into request headers (to STS when they are a role's
  // source, to the backend otherwise): a line break from any source would inject headers.
  if (!HeaderSafe(c.access_key_id) || !HeaderSafe(c.secret_access_key) || !HeaderSafe(c.session_token)) {
    return absl::UnauthenticatedError("the AWS credentials found hold control characters");
  }
  return c;
}


TokenMinter NewAwsOidcExchangeMinter(EnvLookup env, config::OidcExchange oidc, std::string region) {
  auto chain = std::make_shared<Chain>(std::move(env), std::move(region));
  return [chain, oidc = std::move(oidc)](HttpClient& http, int64_t now) -> absl::StatusOr<Token> {
    ASSIGN_OR_RETURN(Token id, FetchOidcToken(http, oidc, now));
    auto t = chain->WebIdentityToken(http, id.value, oidc.aws_role_arn, oidc.session_name, now);
    if (!t.ok()) return t;
    if (auto c = DecodeAwsCredentials(t->value); !c.ok()) return c.status();
    return t;
  };
}

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsOidcExchangeSigner(const config::BackendAuth& auth) {
  if (auth.aws_region.empty()) return absl::InvalidArgumentError("aws: region is missing");
  auto token = std::make_shared<RefreshingToken>(StrCat("aws:oidc:", auth.oidc.aws_role_arn),
                                                 NewAwsOidcExchangeMinter(ProcessEnv(), auth.oidc, auth.aws_region));
  TokenRefresher::Get().Register(token);
  return NewAwsSigV4SignerWithSource(auth, [token](int64_t now) -> absl::StatusOr<AwsCredentials> {
    auto v = token->Current(now);
    if (!v.ok()) return v.status();
    return DecodeAwsCredentials(*v);
  });
}

absl::StatusOr<std::unique_ptr<BackendSigner>> NewAwsCredentialChainSigner(const config::BackendAuth& auth) {
  if (auth.aws_region.empty()) return absl::InvalidArgumentError("aws: region is missing");
  auto token = std::make_shared<RefreshingToken>(StrCat("aws:default-chain:", auth.aws_region),
                                                 NewAwsCredentialChainMinter(ProcessEnv(), auth.aws_region));
  TokenRefresher::Get().Register(token);
  return NewAwsSigV4SignerWithSource(auth, [token](int64_t now) -> absl::StatusOr<AwsCredentials> {
    auto v = token->Current(now);
    if (!v.ok()) return v.status();
    return DecodeAwsCredentials(*v);
  });
}

}  // namespace sluice::auth
