#include "auth/aws_credentials.h"

#include <map>
#include <optional>

#include "common/log.h"
#include "common/strings.h"
#include "config/config.h"
#include "json/json.h"

namespace sluice::auth {

namespace {

// Long-term keys (environment, shared file) are looked at again this often, so a rotated file
// or a credential_process-style rewrite is picked up without a restart.
constexpr int64_t kStaticRecheckSeconds = 900;
constexpr int kMetadataTimeoutMs = 1000;  // IMDS and container endpoints are local and fast

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
    return absl::UnauthenticatedError(StrCat(source, " answered Code ", Clip(code, 100), ": ",
                                             Clip(doc->GetString("Message"), 300)));
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
    if (auto shared = SharedFiles(now); !shared.ok() || shared->has_value()) {
      if (!shared.ok()) return shared.status();
      return Note("the shared credentials file", std::move(**shared));
    }
    // 4. Container credentials.
    std::string full = env_("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (std::string rel = env_("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); !rel.empty()) {
      full = StrCat("http://169.254.170.2", rel.front() == '/' ? "" : "/", rel);
    }
    if (!full.empty()) return Note("container credentials", Container(http, full, now));
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
  static absl::StatusOr<Token> Note(std::string_view source, absl::StatusOr<Token> t) {
    if (t.ok()) log::Info("aws credentials: from ", source);
    return t;
  }

  // The profile (AWS_PROFILE, else "default") with static keys in the credentials file
  // (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), else in the config file
  // (AWS_CONFIG_FILE or ~/.aws/config). nullopt: no such profile, try the next source. A
  // profile named in AWS_PROFILE that sluice cannot use is an error that says why.
  absl::StatusOr<std::optional<Token>> SharedFiles(int64_t now) const {
    std::string home = env_("HOME");
    auto path = [&](const char* var, const char* under_home) {
      std::string p = env_(var);
      if (p.empty() && !home.empty()) p = StrCat(home, "/.aws/", under_home);
      return p;
    };
    const std::string profile = env_("AWS_PROFILE");
    const std::string name = profile.empty() ? "default" : profile;
    std::string where;  // the file whose profile has no static keys
    std::map<std::string, std::string> keys;
    for (const auto& [var, file] : {std::pair{"AWS_SHARED_CREDENTIALS_FILE", "credentials"}, {"AWS_CONFIG_FILE", "config"}}) {
      std::string p = path(var, file);
      if (p.empty()) continue;
      auto text = ReadCredentialFile(p, "the AWS file");
      if (!text.ok()) {
        if (!env_(var).empty()) return absl::UnauthenticatedError(StrCat(var, ": ", text.status().message()));
        continue;
      }
      config::BackendAuth found;
      if (config::ParseAwsCredentialsFile(*text, name, &found)) {
        return std::optional<Token>(MakeToken({found.aws_access_key_id, found.aws_secret_access_key,
                                               found.aws_session_token},
                                              now + kStaticRecheckSeconds));
      }
      if (auto section = config::AwsIniProfile(*text, name)) {
        where = p;
        keys.insert(section->begin(), section->end());
      }
    }
    if (profile.empty()) return std::optional<Token>();
    if (where.empty()) {
      return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, ": no such profile in the AWS credentials or config file"));
    }
    // Profiles that get their keys elsewhere: say which kind, and what works instead.
    for (const char* k : {"credential_process", "sso_session", "sso_start_url", "role_arn", "web_identity_token_file"}) {
      if (keys.count(k)) {
        return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, " uses ", k,
                                                 ", which sluice does not support; give the profile static keys, or "
                                                 "use AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN or container credentials"));
      }
    }
    return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, " has no aws_access_key_id and aws_secret_access_key in ", where));
  }

  absl::StatusOr<Token> WebIdentity(HttpClient& http, const std::string& file, int64_t now) const {
    std::string role = env_("AWS_ROLE_ARN");
    if (role.empty()) {
      return absl::UnauthenticatedError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    }
    auto jwt = ReadCredentialFile(file, "AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!jwt.ok()) return absl::UnauthenticatedError(jwt.status().message());
    std::string token = Trim(std::move(*jwt));  // secret
    if (token.empty()) return absl::UnauthenticatedError(StrCat("AWS_WEB_IDENTITY_TOKEN_FILE ", file, " is empty"));
    std::string session = env_("AWS_ROLE_SESSION_NAME");
    if (session.empty()) session = StrCat("sluice-", now);
    std::string endpoint = env_("AWS_ENDPOINT_URL_STS");
    if (endpoint.empty()) endpoint = env_("AWS_ENDPOINT_URL");
    if (endpoint.empty()) {
      std::string region = env_("AWS_REGION");
      if (region.empty()) region = env_("AWS_DEFAULT_REGION");
      if (region.empty()) region = region_;
      endpoint = StrCat("https://sts.", region, ".", PartitionDomain(region));
    }
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    std::string url = StrCat(endpoint, "/");
    std::string body = StrCat("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=", FormEncode(role),
                              "&RoleSessionName=", FormEncode(session), "&WebIdentityToken=", FormEncode(token));
    HttpRequest r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
    r.body = body;
    auto resp = http.Send(r);
    if (!resp.ok()) return resp.status();
    if (resp->status != 200) {
      std::string code = XmlText(resp->body, "Code"), message = XmlText(resp->body, "Message");
      return absl::UnauthenticatedError(StrCat("STS AssumeRoleWithWebIdentity for ", role, " failed with status ",
                                               resp->status, code.empty() ? "" : ": ", Clip(code, 100),
                                               message.empty() ? "" : " (", Clip(message, 300),
                                               message.empty() ? "" : ")"));
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
    // The key id and session token go into request headers: a line break from any source
    // (a file, a metadata answer) would inject headers upstream.
    auto c = DecodeAwsCredentials(t->value);
    if (!c.ok() || !HeaderSafe(c->access_key_id) || !HeaderSafe(c->secret_access_key) || !HeaderSafe(c->session_token)) {
      return absl::UnauthenticatedError("the AWS credentials found hold control characters");
    }
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
  return AwsCredentials{std::string(encoded.substr(0, a)), std::string(encoded.substr(a + 1, b - a - 1)),
                        std::string(encoded.substr(b + 1))};
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
