#include "gateway/pipeline.h"

#include <algorithm>

#include "common/log.h"
#include "common/strings.h"
#include "json/json.h"

namespace sluice::gateway {

namespace {

struct EndpointInfo {
  std::string_view path;
  Endpoint endpoint;
  Dialect dialect;
};
constexpr EndpointInfo kEndpoints[] = {
    {"/v1/chat/completions", Endpoint::kChatCompletions, Dialect::kOpenAI},
    {"/v1/completions", Endpoint::kCompletions, Dialect::kOpenAI},
    {"/v1/embeddings", Endpoint::kEmbeddings, Dialect::kOpenAI},
    {"/v1/messages", Endpoint::kMessages, Dialect::kAnthropic},
    {"/anthropic/v1/messages", Endpoint::kMessages, Dialect::kAnthropic},
    {"/v1/messages/count_tokens", Endpoint::kCountTokens, Dialect::kAnthropic},
    {"/anthropic/v1/messages/count_tokens", Endpoint::kCountTokens, Dialect::kAnthropic},
    {"/v1/models", Endpoint::kModels, Dialect::kOpenAI},
    {"/health", Endpoint::kHealth, Dialect::kOpenAI},
};

translate::Endpoint ToTranslate(Endpoint e) {
  switch (e) {
    case Endpoint::kCompletions: return translate::Endpoint::kCompletions;
    case Endpoint::kEmbeddings: return translate::Endpoint::kEmbeddings;
    case Endpoint::kMessages: return translate::Endpoint::kMessages;
    case Endpoint::kCountTokens: return translate::Endpoint::kCountTokens;
    default: return translate::Endpoint::kChatCompletions;
  }
}

bool HostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.rfind("*.", 0) == 0) {
    std::string_view suffix = pattern.substr(1);  // ".example.com": one or more labels before it
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

// Client-side headers that must never go upstream: the client's own credentials (the backend
// gets its own), framing the driver recomputes, and encodings we could not translate.
constexpr std::string_view kStripped[] = {
    "host", "content-length", "authorization", "x-api-key", "api-key", "x-goog-api-key",
    "x-amz-security-token", "x-amz-date", "x-amz-content-sha256", "accept-encoding", "expect"};

// OpenAI's own limit on inputs per embeddings request; a larger batch is not split.
constexpr size_t kMaxEmbeddingInputs = 2048;

// A split part's translation error, its field renamed to the client's: the part's `input` is
// the client's input[first] (one input per part) or its input[j] the client's input[first + j].
absl::Status AtInput(const absl::Status& st, size_t first, bool batch) {
  std::string field = translate::InvalidFieldOf(st);
  if (field.rfind("input", 0) != 0) return st;
  std::string_view rest = std::string_view(field).substr(5);
  size_t index = first;
  if (batch) {
    if (rest.empty() || rest[0] != '[') return st;
    size_t close = rest.find(']');
    int64_t j = 0;
    if (close == std::string_view::npos || !ParseInt(rest.substr(1, close - 1), &j) || j < 0) return st;
    index = first + static_cast<size_t>(j);
    rest.remove_prefix(close + 1);
  }
  std::string renamed = StrCat("input[", index, "]", rest);
  std::string_view msg = ToStd(st.message());
  if (msg.rfind(field, 0) == 0) msg.remove_prefix(field.size() + (msg.substr(field.size()).rfind(": ", 0) == 0 ? 2 : 0));
  return translate::InvalidField(renamed, msg);
}

bool IsStripped(std::string_view lower_name) {
  for (std::string_view h : kStripped)
    if (h == lower_name) return true;
  return false;
}

std::string UpstreamHost(const config::Backend& b) {
  const auto& ep = b.endpoints[0];
  std::string host = b.tls.enabled && !b.tls.sni.empty() ? b.tls.sni : ep.host;
  bool default_port = (b.tls.enabled && ep.port == 443) || (!b.tls.enabled && ep.port == 80);
  if (host.find(':') != std::string::npos) host = StrCat("[", host, "]");  // IPv6 literal
  return default_port ? host : StrCat(host, ":", ep.port);
}

}  // namespace

Pipeline::Pipeline(std::shared_ptr<const Runtime> runtime, RandomFn random)
    : runtime_(std::move(runtime)), random_(std::move(random)) {}
Pipeline::~Pipeline() = default;

ImmediateResponse Pipeline::StatusResponse(const absl::Status& status) const {
  HttpError e = ToHttpError(status, dialect_);
  ImmediateResponse r;
  r.status = e.status;
  r.body = std::move(e.body);
  return r;
}

ImmediateResponse Pipeline::Error(int status, std::string_view message, std::string_view code,
                                  std::string_view param) const {
  HttpError e = MakeError(dialect_, status, message, code, param);
  ImmediateResponse r;
  r.status = e.status;
  r.body = std::move(e.body);
  return r;
}

std::optional<ImmediateResponse> Pipeline::OnRequestHeaders(std::string_view method,
                                                            std::string_view path,
                                                            const http::HeaderMap& headers) {
  size_t q = path.find('?');
  std::string_view bare = path.substr(0, q);
  if (q != std::string_view::npos) query_ = std::string(path.substr(q));
  headers_ = &headers;
  if (auto h = headers.Get("host")) {
    std::string_view host = *h;
    if (size_t colon = host.rfind(':');
        colon != std::string_view::npos && host.find(']') == std::string_view::npos)
      host = host.substr(0, colon);
    host_ = http::ToLower(host);
  }
  for (const auto& e : kEndpoints) {
    if (e.path == bare) {
      endpoint_ = e.endpoint;
      dialect_ = e.dialect;
    }
  }
  std::string_view allowed = "POST";
  switch (endpoint_) {
    case Endpoint::kUnknown:
      // Anthropic's other paths (count_tokens, batches, ...) get Anthropic's error shape.
      if (bare.starts_with("/anthropic/") || bare.starts_with("/v1/messages/")) dialect_ = Dialect::kAnthropic;
      return Error(404, StrCat("unsupported path: ", bare), "unsupported_path");
    case Endpoint::kHealth:
    case Endpoint::kModels: {
      allowed = "GET";
      if (method != "GET" && method != "HEAD") break;
      ImmediateResponse r;
      r.body = endpoint_ == Endpoint::kHealth ? std::string(R"({"status":"ok"})")
                                              : ModelsJson(*runtime_->config);
      return r;
    }
    default:
      if (method == "POST") return std::nullopt;
  }
  ImmediateResponse r = Error(
      405, StrCat("method ", method, " is not allowed on ", bare, "; use ", allowed), "method_not_allowed");
  r.headers.Set("allow", allowed);
  return r;
}

const config::Rule* Pipeline::Route(const config::Route** route_out) const {
  for (const auto& route : runtime_->config->routes) {
    if (!route.hostnames.empty()) {
      bool ok = false;
      for (const auto& h : route.hostnames) ok = ok || HostMatches(h, host_);
      if (!ok) continue;
    }
    for (const auto& rule : route.rules) {
      if (rule.matches.empty()) {
        *route_out = &route;
        return &rule;
      }
      for (const auto& match : rule.matches) {
        bool all = true;
        for (const auto& hm : match) {
          std::optional<std::string_view> v;
          if (hm.name == "x-ai-eg-model") v = model_;
          else v = headers_->Get(hm.name);
          if (!v || !hm.Matches(*v)) {
            all = false;
            break;
          }
        }
        if (all) {
          *route_out = &route;
          return &rule;
        }
      }
    }
  }
  return nullptr;
}

Decision Pipeline::OnRequestBody(std::string_view body) {
  // One validating scan reads what routing needs; the DOM is built only for translators that
  // need it (never on the same-dialect path).
  auto members = json::ScanObject(body);
  if (!members.ok()) {
    return Error(400, StrCat("request body is not valid JSON: ", members.status().message()),
                 "invalid_json");
  }
  top_members_ = std::move(*members);
  bool have_model = false;
  for (const auto& m : top_members_) {
    std::string_view raw = body.substr(m.value_begin, m.value_end - m.value_begin);
    if (m.key == "model") {
      if (raw == "null") continue;
      auto s = raw.empty() || raw[0] != '"' ? absl::StatusOr<std::string>(absl::InvalidArgumentError(""))
                                            : json::DecodeStringToken(raw);
      if (!s.ok() || s->empty()) return Error(400, "'model' must be a non-empty string", "invalid_type", "model");
      model_ = std::move(*s);
      have_model = true;
    } else if (m.key == "stream") {
      stream_ = raw == "true" && endpoint_ != Endpoint::kCountTokens;  // a count is never streamed
    }
  }
  if (!have_model) {
    return Error(400, "you must provide a model parameter", "missing_required_parameter", "model");
  }
  rule_ = Route(&route_);
  if (rule_ == nullptr) {
    return Error(404, StrCat("The model `", model_, "` does not exist or is not served by this gateway."),
                 "model_not_found", "model");
  }
  body_ = body;
  return BuildAttempt();
}

std::optional<Decision> Pipeline::OnAttemptFailed() {
  if (rule_ == nullptr) return std::nullopt;
  bool more = false;
  for (const auto& ref : rule_->backend_refs)
    more = more || (ref.weight > 0 && ref.priority > tried_priority_);
  if (!more) return std::nullopt;
  return BuildAttempt();
}

Decision Pipeline::BuildAttempt() {
  // Candidates: the lowest priority level not tried yet, weight > 0; weighted choice in it.
  std::optional<uint32_t> level;
  for (const auto& ref : rule_->backend_refs) {
    if (ref.weight == 0 || (tried_any_ && ref.priority <= tried_priority_)) continue;
    if (!level || ref.priority < *level) level = ref.priority;
  }
  if (!level) return Error(503, StrCat("no backend is available for model `", model_, "`"), "no_backend");
  uint64_t total = 0;
  for (const auto& ref : rule_->backend_refs)
    if (ref.weight > 0 && ref.priority == *level) total += ref.weight;
  uint64_t pick = total > 1 ? random_() % total : 0;
  const config::BackendRef* chosen = nullptr;
  for (const auto& ref : rule_->backend_refs) {
    if (ref.weight == 0 || ref.priority != *level) continue;
    if (pick < ref.weight) {
      chosen = &ref;
      break;
    }
    pick -= ref.weight;
  }
  tried_any_ = true;
  tried_priority_ = *level;
  const config::Backend& backend = runtime_->config->backends[chosen->backend];

  const translate::TranslatorFactory* factory =
      runtime_->translators->Find(ToTranslate(endpoint_), dialect_, backend.schema);
  if (factory == nullptr) {
    // Token counting is optional for clients (Claude Code estimates when it is absent): a 404
    // says "absent"; for any other endpoint the request cannot be served as asked.
    return Error(endpoint_ == Endpoint::kCountTokens ? 404 : 400, StrCat("model `", model_, "` is served by a ", config::SchemaName(backend.schema),
                             " backend, which does not support this endpoint"),
                 "unsupported_endpoint");
  }
  // A per-request credential (credentialOverride) signs this attempt instead of the backend's.
  override_signer_.reset();
  if (const config::CredentialOverride& ov = backend.auth.credential_override; ov.enabled() && !translate_only_) {
    auto signer = OverrideSigner(backend);
    if (!signer.ok()) {
      log::Info("credential override: backend ", backend.name, ": ", signer.status().message());
      return Error(401, ToStd(signer.status().message()), "invalid_upstream_credential");
    }
    override_signer_ = std::move(*signer);
    if (override_signer_ == nullptr && !ov.fallback_to_configured) {
      // Where the credential was expected stays in the log: the answer does not tell a client
      // which header would choose the credential.
      log::Info("credential override: backend ", backend.name, ": no credential in ",
                ov.header.empty() ? StrCat("dynamic metadata ", ov.metadata_namespace, "/", ov.metadata_key)
                                  : StrCat("header ", ov.header),
                " and fallbackToConfigured is false");
      return Error(401, "missing upstream credential", "missing_upstream_credential");
    }
  }
  translator_ = factory->Create(backend);
  backend_ = &backend;
  if (factory->NeedsDocument() && doc_ == nullptr) {
    auto doc = json::Parse(body_);
    if (!doc.ok()) return Error(400, StrCat("request body is not valid JSON: ", doc.status().message()), "invalid_json");
    doc_ = std::make_unique<json::Value>(std::move(*doc));
  }
  static const json::Value kEmptyObject = json::Value::Object();

  UpstreamRequest up;
  up.backend = &backend;
  up.method = "POST";
  up.model = chosen->model_name_override.empty() ? model_ : chosen->model_name_override;
  up.host = UpstreamHost(backend);
  auto timeout = rule_->backend_request_timeout.count() > 0 ? rule_->backend_request_timeout
                                                            : rule_->request_timeout;
  if (backend.request_timeout.count() > 0 &&
      (timeout.count() == 0 || backend.request_timeout < timeout))
    timeout = backend.request_timeout;
  up.timeout = timeout;

  // An embeddings batch larger than one upstream call takes, when the driver can make several:
  // one translator and one signed call per batch.
  split_.clear();
  split_usage_.reset();
  size_t max_inputs = split_batches_ && endpoint_ == Endpoint::kEmbeddings && doc_ ? translator_->MaxInputsPerCall(up.model) : 0;
  if (max_inputs > 0) {
    auto slices = SplitInputs(max_inputs);
    if (!slices.ok()) return StatusResponse(slices.status());
    size_t first = 0;
    for (json::Value& slice : *slices) {
      std::string raw = json::Serialize(slice);
      SplitPart part{factory->Create(backend), first};
      const json::Value* in = slice.Find("input");
      first += in && in->is_array() && max_inputs > 1 ? in->items().size() : 1;
      translate::ClientRequest creq{ToTranslate(endpoint_), raw, slice, *headers_, up.model, false, model_, nullptr,
                                    want_usage_};
      auto treq = part.translator->TranslateRequest(creq);
      if (!treq.ok()) return StatusResponse(AtInput(treq.status(), part.first_index, max_inputs > 1));
      UpstreamRequest one;
      one.backend = up.backend;
      one.method = up.method;
      one.host = up.host;
      if (auto err = FinishRequest(*chosen, std::move(*treq), raw, &one, /*sign=*/false)) return *std::move(err);
      up.parts.push_back({std::move(one.path), std::move(one.headers), one.body ? std::move(*one.body) : raw});
      split_.push_back(std::move(part));
    }
    split_signer_ = chosen->backend;
    if (!split_.empty()) return up;
  }

  translate::ClientRequest creq{ToTranslate(endpoint_), body_, doc_ ? *doc_ : kEmptyObject,
                                *headers_, up.model, stream_, model_, &top_members_, want_usage_};
  auto treq = translator_->TranslateRequest(creq);
  if (!treq.ok()) return StatusResponse(treq.status());
  if (auto err = FinishRequest(*chosen, std::move(*treq), body_, &up, /*sign=*/!translate_only_)) return *std::move(err);
  return up;
}

std::optional<ImmediateResponse> Pipeline::FinishRequest(const config::BackendRef& chosen,
                                                         translate::UpstreamRequest&& treq,
                                                         std::string_view client_body, UpstreamRequest* out,
                                                         bool sign) const {
  UpstreamRequest& up = *out;
  const config::Backend& backend = *up.backend;
  up.path = std::move(treq.path);
  if (up.path.find('?') == std::string::npos && !query_.empty() &&
      backend.schema == config::ApiSchema::kOpenAI) {
    up.path += query_;
  }
  up.body = std::move(treq.body);

  // Top-level body mutations (backend's, then the route's) on the final body.
  if (!backend.body_mutation.empty() || !chosen.body_mutation.empty()) {
    auto final_doc = json::Parse(up.body ? std::string_view(*up.body) : client_body);
    // The mutation is configuration the operator relies on (it may remove a field the backend
    // must not see): a body it cannot be applied to is refused, never sent unmutated. The
    // client's body parsed, so only nesting that translation deepened past the limit gets here.
    if (!final_doc.ok())
      return Error(400, StrCat("request body cannot take the configured body mutation: ",
                               final_doc.status().message()),
                   "invalid_request_body");
    if (final_doc->is_object()) {
      for (const auto* bm : {&backend.body_mutation, &chosen.body_mutation}) {
        for (const auto& r : bm->remove) final_doc->Erase(r);
        for (const auto& [k, raw] : bm->set) {
          auto v = json::Parse(raw);
          final_doc->Set(k, v.ok() ? std::move(*v) : json::Value::String(raw));
        }
      }
      up.body = json::Serialize(*final_doc);
    }
  }

  // Headers: drop what must not go upstream; then the backend's, the route's (which win) and
  // the translator's mutations; credentials last so no mutation can replace them.
  http::HeaderMutation& m = up.headers;
  // One pass over what the client sent: removing a header it did not send changes nothing.
  for (const auto& [name, value] : headers_->entries())
    if (IsStripped(name) || http::IsHopByHop(name)) m.Remove(name);
  // Per-request credentials' input headers never go upstream, to any backend, used or not.
  for (const std::string& name : runtime_->override_input_headers) m.Remove(name);
  m.Set("x-ai-eg-model", model_);
  if (up.body) m.Set("content-type", "application/json");
  const http::HeaderMutation& translator_headers = treq.headers;
  for (const http::HeaderMutation* hm : {&backend.header_mutation, &chosen.header_mutation, &translator_headers}) {
    for (const auto& r : hm->remove) m.Remove(r);
    for (const auto& [n, v] : hm->set) m.Set(n, v);
  }

  if (!sign) return std::nullopt;
  // Sign the request exactly as it will be sent.
  const auth::BackendSigner& signer = override_signer_ ? *override_signer_ : *runtime_->signers[chosen.backend];
  std::string_view final_body = up.body ? std::string_view(*up.body) : client_body;
  auth::SigningRequest sreq{up.method, up.host, up.path, *headers_, final_body, &m};
  auto sig = signer.Sign(sreq);
  if (!sig.ok()) {
    // Why stays in the gateway's log (the credential refresher logs every failed fetch): it can
    // name roles, accounts and file paths that API clients have no business seeing.
    return Error(503, StrCat("credentials for backend ", backend.name, " are not available (the gateway's log says why)"),
                 "credentials_unavailable");
  }
  m.Merge(std::move(*sig));
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<auth::BackendSigner>> Pipeline::OverrideSigner(const config::Backend& backend) const {
  const config::CredentialOverride& ov = backend.auth.credential_override;
  const bool aws = backend.auth.type == config::BackendAuth::Type::kAWS;
  // One value (or, for AWS, a key id, secret and session token) from the request's headers or
  // from Envoy's dynamic metadata.
  auto header = [&](const std::string& name) -> std::string {
    auto v = headers_->Get(name);
    return v ? std::string(StripWhitespace(*v)) : std::string();
  };
  auto metadata = [&](std::string_view field) -> std::string {
    std::string key = StrCat(ov.metadata_namespace, "\n", ov.metadata_key);
    if (!field.empty()) StrAppend(&key, "\n", field);
    auto it = metadata_.find(key);
    return it == metadata_.end() ? std::string() : std::string(StripWhitespace(it->second));
  };
  std::string value, id, secret, token;  // secrets
  if (!ov.header.empty()) {
    if (aws) {
      id = header(StrCat(ov.header, "access-key-id"));
      secret = header(StrCat(ov.header, "secret-access-key"));
      token = header(StrCat(ov.header, "session-token"));
    } else {
      value = header(ov.header);
    }
  } else if (aws) {
    id = metadata("accessKeyId");
    secret = metadata("secretAccessKey");
    token = metadata("sessionToken");
  } else {
    value = metadata({});
  }
  if (aws && (id.empty() || secret.empty()) && !(id.empty() && secret.empty() && token.empty())) {
    // Part of a key: signing with the gateway's own keys instead would bill the wrong principal.
    return absl::UnauthenticatedError("incomplete upstream AWS credential (an access key id and a secret access key are both needed)");
  }
  if (aws ? id.empty() : value.empty()) return std::unique_ptr<auth::BackendSigner>();
  if (!HeaderSafe(value) || !HeaderSafe(id) || !HeaderSafe(secret) || !HeaderSafe(token)) {
    return absl::UnauthenticatedError("invalid upstream credential (control characters)");
  }
  // The backend's policy with its credential replaced (and nothing that would mint another).
  config::BackendAuth a;
  a.type = backend.auth.type;
  a.aws_region = backend.auth.aws_region;
  a.gcp_project = backend.auth.gcp_project;
  a.gcp_region = backend.auth.gcp_region;
  switch (a.type) {
    case config::BackendAuth::Type::kAPIKey:
    case config::BackendAuth::Type::kAnthropicAPIKey:
    case config::BackendAuth::Type::kAzureAPIKey: a.key = std::move(value); break;
    case config::BackendAuth::Type::kAzureToken: a.azure_access_token = std::move(value); break;
    case config::BackendAuth::Type::kGCP: a.gcp_access_token = std::move(value); break;
    case config::BackendAuth::Type::kAWS:
      a.aws_access_key_id = std::move(id);
      a.aws_secret_access_key = std::move(secret);
      a.aws_session_token = std::move(token);
      break;
    case config::BackendAuth::Type::kNone: return std::unique_ptr<auth::BackendSigner>();
  }
  return auth::NewSigner(a);
}

std::variant<http::HeaderMutation, ImmediateResponse> Pipeline::SignPart(const UpstreamRequest& up,
                                                                        const UpstreamPart& part) const {
  http::HeaderMutation m = part.headers;
  auth::SigningRequest sreq{up.method, up.host, part.path, *headers_, part.body, &m};
  auto sig = (override_signer_ ? *override_signer_ : *runtime_->signers[split_signer_]).Sign(sreq);
  if (!sig.ok()) {
    return Error(503, StrCat("credentials for backend ", up.backend->name, " are not available (the gateway's log says why)"),
                 "credentials_unavailable");
  }
  m.Merge(std::move(*sig));
  return m;
}

absl::StatusOr<std::vector<json::Value>> Pipeline::SplitInputs(size_t max) const {
  std::vector<json::Value> out;
  const json::Value* input = doc_->Find("input");
  if (input == nullptr || !input->is_array()) return out;
  const auto& items = input->items();
  // A list of texts (or of token lists, or of Vertex's {content, task_type, title} items); a
  // flat list of numbers is one input.
  if (items.size() <= max || !(items[0].is_string() || items[0].is_array() || items[0].is_object())) return out;
  if (items.size() > kMaxEmbeddingInputs) {
    return translate::InvalidField("input", StrCat("at most ", kMaxEmbeddingInputs, " inputs per request; got ",
                                                   items.size()));
  }
  json::Value base = *doc_;
  base.Erase("input");
  for (size_t i = 0; i < items.size(); i += max) {
    json::Value slice = base;
    if (max == 1) {
      slice.Set("input", items[i]);
    } else {
      json::Value batch = json::Value::Array();
      for (size_t j = i; j < std::min(items.size(), i + max); ++j) batch.Append(items[j]);
      slice.Set("input", std::move(batch));
    }
    out.push_back(std::move(slice));
  }
  return out;
}

http::HeaderMutation Pipeline::OnResponseHeaders(int status, const http::HeaderMap& headers) {
  http::HeaderMutation m;
  if (translator_ && status >= 200 && status < 300) m = translator_->TranslateResponseHeaders(status, headers);
  for (const auto& [name, value] : headers.entries()) {
    if (http::IsHopByHop(name) || name == "content-length") m.Remove(name);
  }
  return m;
}

absl::Status Pipeline::OnResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) {
  if (!translator_) {
    out->append(chunk);
    return absl::OkStatus();
  }
  return translator_->TranslateResponseBody(chunk, end_of_stream, out);
}

std::string_view Pipeline::StreamKeepAlive() const {
  // Only into event streams the client asked for: never into a JSON body, and never between
  // raw pieces of an upstream's own bytes.
  if (!stream_ || !translator_ || !translator_->WholeEvents()) return {};
  return dialect_ == Dialect::kAnthropic ? std::string_view("event: ping\ndata: {\"type\": \"ping\"}\n\n")
                                         : std::string_view(": keep-alive\n\n");
}

ImmediateResponse Pipeline::OnResponseError(int status, const http::HeaderMap& headers,
                                            std::string_view body) {
  ImmediateResponse r;
  r.status = status;
  if (!translator_) {
    r.body = std::string(body);
    return r;
  }
  translator_->TranslateError(status, headers, body, &r.status, &r.body);
  if (auto ct = headers.Get("content-type"); ct && r.body == body) r.content_type = std::string(*ct);
  return r;
}

ImmediateResponse Pipeline::OnSplitResponses(const std::vector<PartAnswer>& answers) {
  if (answers.size() != split_.size()) return Error(500, "split request: answers do not match its parts", "internal_error");
  // The first part that failed answers for the whole request: the client gets no partial list.
  for (size_t i = 0; i < answers.size(); ++i) {
    const PartAnswer& a = answers[i];
    if (a.status >= 200 && a.status < 300) continue;
    ImmediateResponse r;
    r.status = a.status;
    split_[i].translator->TranslateError(a.status, *a.headers, a.body, &r.status, &r.body);
    if (auto ct = a.headers->Get("content-type"); ct && r.body == a.body) r.content_type = std::string(*ct);
    // The provider's headers (retry-after, request ids) go along, as for an unsplit answer.
    for (const auto& [n, v] : a.headers->entries()) {
      if (!http::IsHopByHop(n) && n != "content-length" && n != "content-type") r.headers.Set(n, v);
    }
    return r;
  }
  json::Value data = json::Value::Array();
  translate::Usage sum;
  std::string model;
  for (size_t i = 0; i < answers.size(); ++i) {
    std::string out;
    split_[i].translator->TranslateResponseHeaders(answers[i].status, *answers[i].headers);  // usage may come in headers
    auto parsed = split_[i].translator->TranslateResponseBody(answers[i].body, true, &out).ok()
                      ? json::Parse(out)
                      : absl::StatusOr<json::Value>(absl::DataLossError("untranslatable"));
    json::Value* items = parsed.ok() ? parsed->Find("data") : nullptr;
    if (items == nullptr || !items->is_array()) {
      return Error(502, "upstream response could not be translated", "upstream_malformed");
    }
    for (json::Value& item : items->items()) {
      const json::Value* idx = item.Find("index");
      item.Set("index", json::Value::Int(static_cast<int64_t>(split_[i].first_index) +
                                         (idx && idx->is_number() ? idx->as_int() : 0)));
      data.Append(std::move(item));
    }
    if (model.empty()) model = std::string(parsed->GetString("model"));
    const translate::Usage& u = split_[i].translator->usage();
    sum.input_tokens += u.input_tokens;
    sum.total_tokens += u.total_tokens ? u.total_tokens : u.input_tokens;
  }
  split_usage_ = sum;
  json::Value usage = json::Value::Object();
  usage.Set("prompt_tokens", json::Value::Int(sum.input_tokens));
  usage.Set("total_tokens", json::Value::Int(sum.total_tokens));
  json::Value root = json::Value::Object();
  root.Set("object", json::Value::String("list"));
  root.Set("data", std::move(data));
  root.Set("model", json::Value::String(model));
  root.Set("usage", std::move(usage));
  ImmediateResponse r;
  r.body = json::Serialize(root);
  return r;
}

std::string Pipeline::StreamError(std::string_view message) {
  if (translator_) return translator_->StreamError(message);
  return translate::OpenAIStreamError(message);
}

std::string Pipeline::StreamError(const absl::Status& translate_failure) {
  bool provider = translate::ProviderStreamErrorOf(translate_failure).has_value();
  std::string message = StrCat(provider ? "upstream error: " : "upstream stream is malformed: ",
                               translate_failure.message());
  if (translator_) return translate::StreamErrorFor(*translator_, translate_failure, message);
  return translate::OpenAIStreamError(message);
}

std::string ModelsJson(const config::Config& config) {
  json::Value data = json::Value::Array();
  for (const auto& m : config.models) {
    json::Value o = json::Value::Object();
    o.Set("id", json::Value::String(m.id));
    o.Set("object", json::Value::String("model"));
    o.Set("created", json::Value::Int(m.created));
    o.Set("owned_by", json::Value::String(m.owned_by));
    data.Append(std::move(o));
  }
  json::Value root = json::Value::Object();
  root.Set("object", json::Value::String("list"));
  root.Set("data", std::move(data));
  return json::Serialize(root);
}

}  // namespace sluice::gateway
