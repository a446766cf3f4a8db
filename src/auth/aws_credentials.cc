#include "auth/aws_credentials.h"

#include <time.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

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

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(StrCat(what, " ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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

std::string Cut(std::string_view s, size_t n) { return std::string(s.substr(0, std::min(s.size(), n))); }

Token MakeToken(const AwsCredentials& c, int64_t expires_at) { return Token{EncodeAwsCredentials(c), expires_at}; }

// {"AccessKeyId","SecretAccessKey","Token","Expiration"}: the container and IMDS answer.
absl::StatusOr<Token> FromMetadataJson(const HttpResponse& resp, std::string_view source, int64_t now) {
  if (resp.status != 200) {
    return absl::UnauthenticatedError(StrCat(source, " answered status ", resp.status));
  }
  auto doc = json::Parse(resp.body);
  if (!doc.ok() || !doc->is_object()) return absl::UnauthenticatedError(StrCat(source, " answered malformed JSON"));
  if (std::string_view code = doc->GetString("Code"); !code.empty() && code != "Success") {
    return absl::UnauthenticatedError(StrCat(source, " answered Code ", Cut(code, 100), ": ",
                                             Cut(doc->GetString("Message"), 300)));
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

bool LinkLocalContainerHost(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "169.254.170.2" ||
         host == "169.254.170.23" || host == "[fd00:ec2::23]";
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
    // 3. Shared credentials file.
    std::string shared = env_("AWS_SHARED_CREDENTIALS_FILE");
    if (shared.empty()) {
      if (std::string home = env_("HOME"); !home.empty()) shared = StrCat(home, "/.aws/credentials");
    }
    std::string profile = env_("AWS_PROFILE");
    if (!shared.empty()) {
      if (auto text = ReadFile(shared, "the shared credentials file"); text.ok()) {
        config::BackendAuth keys;
        if (config::ParseAwsCredentialsFile(*text, profile.empty() ? "default" : profile, &keys)) {
          return Note("the shared credentials file",
                      MakeToken({keys.aws_access_key_id, keys.aws_secret_access_key, keys.aws_session_token},
                                now + kStaticRecheckSeconds));
        }
        if (!profile.empty()) {
          return absl::UnauthenticatedError(StrCat("AWS_PROFILE ", profile, " has no aws_access_key_id and ",
                                                   "aws_secret_access_key in ", shared));
        }
      } else if (!profile.empty() || !env_("AWS_SHARED_CREDENTIALS_FILE").empty()) {
        return absl::UnauthenticatedError(text.status().message());
      }
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

  absl::StatusOr<Token> WebIdentity(HttpClient& http, const std::string& file, int64_t now) const {
    std::string role = env_("AWS_ROLE_ARN");
    if (role.empty()) {
      return absl::UnauthenticatedError("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
    }
    auto jwt = ReadFile(file, "AWS_WEB_IDENTITY_TOKEN_FILE");
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
      endpoint = StrCat("https://sts.", region, ".amazonaws.com");
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
                                               resp->status, code.empty() ? "" : ": ", Cut(code, 100),
                                               message.empty() ? "" : " (", Cut(message, 300),
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
    std::string_view host = rest.substr(0, rest.find('/'));
    if (size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(']') == std::string_view::npos)
      host = host.substr(0, colon);
    if (!tls && !LinkLocalContainerHost(host)) {
      return absl::UnauthenticatedError(StrCat("container credentials over plain http only from loopback or the "
                                               "ECS / EKS Pod Identity agent, not ", host));
    }
    HttpRequest r;
    r.url = url;
    r.timeout_ms = 5 * kMetadataTimeoutMs;
    std::string auth = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (std::string file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !file.empty()) {
      auto t = ReadFile(file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      if (!t.ok()) return absl::UnauthenticatedError(t.status().message());
      auth = Trim(std::move(*t));
    }
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
    HttpRequest put;
    put.method = "PUT";
    std::string token_url = StrCat(endpoint, "/latest/api/token");
    put.url = token_url;
    put.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    put.timeout_ms = kMetadataTimeoutMs;
    auto tok = http.Send(put);
    if (!tok.ok()) return tok.status();
    if (tok->status != 200 || tok->body.empty()) {
      return absl::UnauthenticatedError(StrCat("IMDSv2 token request answered status ", tok->status));
    }
    std::string imds_token = Trim(tok->body);  // secret
    std::string base = StrCat(endpoint, "/latest/meta-data/iam/security-credentials/");
    HttpRequest get;
    get.url = base;
    get.headers = {{"x-aws-ec2-metadata-token", imds_token}};
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

EnvLookup ProcessEnv() {
  return [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
}

TokenMinter NewAwsCredentialChainMinter(EnvLookup env, std::string region) {
  auto chain = std::make_shared<Chain>(std::move(env), std::move(region));
  return [chain](HttpClient& http, int64_t now) { return chain->Mint(http, now); };
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

absl::StatusOr<int64_t> ParseIso8601Utc(std::string_view s) {
  auto bad = [&] { return absl::InvalidArgumentError("not an ISO 8601 UTC time"); };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
    return bad();
  auto num = [&](size_t at, size_t n, int* out) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  struct tm tm = {};
  int year, mon, day, hour, min, sec;
  if (!num(0, 4, &year) || !num(5, 2, &mon) || !num(8, 2, &day) || !num(11, 2, &hour) || !num(14, 2, &min) ||
      !num(17, 2, &sec))
    return bad();
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    if (i == 1) return bad();
    rest.remove_prefix(i);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return bad();
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
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
