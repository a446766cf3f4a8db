#include "gateway/pipeline.h"

#include <algorithm>

#include "common/strings.h"
#include "json/json.h"

namespace sluice::gateway {

namespace {

Endpoint EndpointFor(std::string_view path) {
  if (path == "/v1/chat/completions") return Endpoint::kChatCompletions;
  if (path == "/v1/completions") return Endpoint::kCompletions;
  if (path == "/v1/embeddings") return Endpoint::kEmbeddings;
  if (path == "/v1/models") return Endpoint::kModels;
  if (path == "/health") return Endpoint::kHealth;
  return Endpoint::kUnknown;
}

std::string_view Suffix(Endpoint e) {
  switch (e) {
    case Endpoint::kChatCompletions: return "/chat/completions";
    case Endpoint::kCompletions: return "/completions";
    case Endpoint::kEmbeddings: return "/embeddings";
    default: return "";
  }
}

bool HostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.rfind("*.", 0) == 0) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (host.size() <= suffix.size()) return false;
    if (host.substr(host.size() - suffix.size()) != suffix) return false;
    // Gateway API: the wildcard stands for one or more labels.
    return true;
  }
  return pattern == host;
}

// Client-side headers that must never go upstream: hop-by-hop ones, the client's own
// credentials (the backend gets its own), and framing the driver recomputes.
constexpr std::string_view kStripped[] = {"host", "content-length", "authorization", "x-api-key",
                                          "api-key", "accept-encoding", "expect"};

}  // namespace

Pipeline::Pipeline(std::shared_ptr<const config::Config> config, RandomFn random)
    : config_(std::move(config)), random_(std::move(random)) {}

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
  method_ = std::string(method);
  path_ = std::string(path);
  size_t q = path.find('?');
  std::string_view bare = path.substr(0, q);
  if (q != std::string_view::npos) query_ = std::string(path.substr(q));
  headers_ = &headers;
  if (auto h = headers.Get("host")) {
    std::string_view host = *h;
    if (size_t colon = host.rfind(':'); colon != std::string_view::npos &&
                                         host.find(']') == std::string_view::npos)
      host = host.substr(0, colon);
    host_ = http::ToLower(host);
  }
  endpoint_ = EndpointFor(bare);
  switch (endpoint_) {
    case Endpoint::kUnknown:
      return Error(404, StrCat("unsupported path: ", bare), "unsupported_path");
    case Endpoint::kHealth: {
      if (method != "GET" && method != "HEAD") break;
      ImmediateResponse r;
      r.body = R"({"status":"ok"})";
      return r;
    }
    case Endpoint::kModels: {
      if (method != "GET") break;
      ImmediateResponse r;
      r.body = ModelsJson(*config_);
      return r;
    }
    default:
      if (method == "POST") return std::nullopt;
      {
        ImmediateResponse r = Error(405, StrCat("method ", method, " is not allowed on ", bare,
                                                      "; use POST"), "method_not_allowed");
        r.headers.Set("allow", "POST");
        return r;
      }
  }
  ImmediateResponse r =
      Error(405, StrCat("method ", method, " is not allowed on ", bare, "; use GET"),
            "method_not_allowed");
  r.headers.Set("allow", "GET");
  return r;
}

const config::Rule* Pipeline::Route(const http::HeaderMap& headers) const {
  for (const auto& route : config_->routes) {
    if (!route.hostnames.empty()) {
      bool ok = false;
      for (const auto& h : route.hostnames) ok = ok || HostMatches(h, host_);
      if (!ok) continue;
    }
    for (const auto& rule : route.rules) {
      if (rule.matches.empty()) return &rule;
      for (const auto& match : rule.matches) {
        bool all = true;
        for (const auto& hm : match) {
          std::optional<std::string_view> v;
          if (hm.name == "x-ai-eg-model") v = model_;
          else v = headers.Get(hm.name);
          if (!v || !hm.Matches(*v)) {
            all = false;
            break;
          }
        }
        if (all) return &rule;
      }
    }
  }
  return nullptr;
}

Decision Pipeline::OnRequestBody(std::string_view body) {
  auto members = json::ScanObject(body);
  if (!members.ok()) {
    return Error(400, StrCat("request body is not valid JSON: ", members.status().message()),
                 "invalid_json");
  }
  bool have_model = false;
  for (const auto& m : *members) {
    std::string_view raw = body.substr(m.value_begin, m.value_end - m.value_begin);
    if (m.key == "model") {
      if (raw.empty() || raw[0] != '"') return Error(400, "'model' must be a string", "invalid_type", "model");
      auto s = json::DecodeStringToken(raw);
      if (!s.ok()) return Error(400, "'model' must be a string", "invalid_type", "model");
      model_ = std::move(*s);
      have_model = true;
      model_span_.clear();
      model_span_.emplace_back(m.value_begin, m.value_end);
    } else if (m.key == "stream") {
      stream_ = raw == "true";
    }
  }
  if (!have_model || model_.empty()) {
    return Error(400, "you must provide a model parameter", "missing_required_parameter", "model");
  }
  rule_ = Route(*headers_);
  if (rule_ == nullptr) {
    return Error(404,
                 StrCat("The model `", model_, "` does not exist or is not served by this gateway."),
                 "model_not_found", "model");
  }
  body_ = body;
  client_body_copy_.clear();
  auto attempt = BuildAttempt();
  if (!attempt) {
    return Error(503, StrCat("no backend is available for model `", model_, "`"),
                 "no_backend");
  }
  return std::move(*attempt);
}

std::optional<UpstreamRequest> Pipeline::OnAttemptFailed() {
  // body_ may point into a driver buffer that is still alive: drivers keep the client body
  // for the whole request (they need it to resend).
  return BuildAttempt();
}

std::optional<UpstreamRequest> Pipeline::BuildAttempt() {
  // Candidates: the lowest priority level not tried yet, weight > 0.
  std::optional<uint32_t> level;
  for (const auto& ref : rule_->backend_refs) {
    if (ref.weight == 0) continue;
    if (tried_any_ && ref.priority <= tried_priority_) continue;
    if (!level || ref.priority < *level) level = ref.priority;
  }
  if (!level) return std::nullopt;
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
  const config::Backend& backend = config_->backends[chosen->backend];

  UpstreamRequest up;
  up.backend = &backend;
  up.method = "POST";
  up.model = chosen->model_name_override.empty() ? model_ : chosen->model_name_override;
  std::string prefix = backend.schema_prefix.empty() ? "" : StrCat("/", backend.schema_prefix);
  up.path = StrCat(prefix, Suffix(endpoint_), query_);
  auto timeout = rule_->backend_request_timeout.count() > 0 ? rule_->backend_request_timeout
                                                            : rule_->request_timeout;
  if (backend.request_timeout.count() > 0 && (timeout.count() == 0 || backend.request_timeout < timeout))
    timeout = backend.request_timeout;
  up.timeout = timeout;

  // Headers: drop what must not go upstream, then backend, then route-level mutations (the
  // route's win), then credentials last so no mutation can replace them.
  for (std::string_view h : kStripped) up.headers.Remove(h);
  for (const auto& [name, value] : headers_ ? headers_->entries() : std::vector<http::HeaderMap::Entry>{}) {
    if (http::IsHopByHop(name)) up.headers.Remove(name);
  }
  up.headers.Set("x-ai-eg-model", model_);
  for (const auto& r : backend.header_mutation.remove) up.headers.Remove(r);
  for (const auto& [n, v] : backend.header_mutation.set) up.headers.Set(n, v);
  for (const auto& r : chosen->header_mutation.remove) up.headers.Remove(r);
  for (const auto& [n, v] : chosen->header_mutation.set) up.headers.Set(n, v);
  up.headers.Set("content-type", "application/json");
  switch (backend.auth.type) {
    case config::BackendAuth::Type::kNone: break;
    case config::BackendAuth::Type::kAPIKey:
      up.headers.Set("authorization", StrCat("Bearer ", backend.auth.key));
      break;
    case config::BackendAuth::Type::kAzureAPIKey:
      up.headers.Set("api-key", backend.auth.key);
      break;
    case config::BackendAuth::Type::kAnthropicAPIKey:
      up.headers.Set("x-api-key", backend.auth.key);
      break;
  }

  // Body: the client's bytes unless something must change. A model override is spliced into
  // the raw text (no re-serialisation); top-level body mutations go through the DOM.
  bool mutate = !backend.body_mutation.empty() || !chosen->body_mutation.empty();
  if (mutate) {
    auto doc = json::Parse(body_);
    if (doc.ok()) {
      doc->Set("model", json::Value::String(up.model));
      for (const auto* bm : {&backend.body_mutation, &chosen->body_mutation}) {
        for (const auto& r : bm->remove) doc->Erase(r);
        for (const auto& [k, raw] : bm->set) {
          auto v = json::Parse(raw);
          doc->Set(k, v.ok() ? std::move(*v) : json::Value::String(raw));
        }
      }
      up.body = json::Serialize(*doc);
    }
  } else if (up.model != model_ && !model_span_.empty()) {
    std::string out;
    out.reserve(body_.size() + up.model.size());
    out.append(body_.substr(0, model_span_[0].first));
    json::AppendQuoted(&out, up.model);
    out.append(body_.substr(model_span_[0].second));
    up.body = std::move(out);
  }
  return up;
}

http::HeaderMutation Pipeline::OnResponseHeaders(int status, const http::HeaderMap& headers) {
  http::HeaderMutation m;
  for (const auto& [name, value] : headers.entries()) {
    if (http::IsHopByHop(name) || name == "content-length") m.Remove(name);
  }
  return m;
}

void Pipeline::OnResponseBody(std::string_view chunk, bool end_of_stream, std::string* out) {
  out->append(chunk);
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
