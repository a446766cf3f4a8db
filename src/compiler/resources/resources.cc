#include "compiler/resources/resources.h"

#include "auth/oidc_exchange.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "cel/cel.h"
#include "common/strings.h"
#include "http/headers.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "yaml/yaml.h"

namespace sluice::compiler {

using yaml::Node;
using Sev = Diagnostic::Severity;

bool ProcessEnv(const std::string& name, std::string* value) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return false;
  *value = v;
  return true;
}

namespace {

constexpr std::string_view kAIGatewayGroup = "aigateway.envoyproxy.io";
constexpr std::string_view kEGGroup = "gateway.envoyproxy.io";

std::string_view GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

// Kinds that do not shape sluice's data plane: accepted with a one-line notice.
const std::set<std::string, std::less<>> kIgnoredKinds = {
    "GatewayClass", "EnvoyProxy", "ClientTrafficPolicy", "Deployment", "Service",
    "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Namespace",
    "ConfigMap", "ReferenceGrant", "HorizontalPodAutoscaler", "PodDisruptionBudget"};

// Per-resource context for diagnostics.
struct Ctx {
  const Resource* r;
  Diagnostics* diags;

  void Add(Sev sev, const Node* at, std::string field, std::string message) const {
    Diagnostic d;
    d.severity = sev;
    d.file = r->file;
    d.line = (at && at->line > 0) ? at->line : r->line;
    d.kind = r->kind;
    d.name = StrCat(r->ns, "/", r->name);
    d.field = std::move(field);
    d.message = std::move(message);
    diags->items.push_back(std::move(d));
  }
  void Error(const Node* at, std::string field, std::string msg) const {
    Add(Sev::kError, at, std::move(field), std::move(msg));
  }
  void Unsupported(const Node* at, std::string field, std::string msg) const {
    Add(Sev::kUnsupported, at, std::move(field), std::move(msg));
  }
};

std::string Path(std::string_view base, std::string_view field) {
  return base.empty() ? std::string(field) : StrCat(base, ".", field);
}
std::string Index(std::string_view base, size_t i) { return StrCat(base, "[", i, "]"); }

// Reports members of `node` (a map) not in `known` as unsupported; members in `ignored` are
// accepted silently (they do not change what the data plane does).
void CheckFields(const Ctx& c, const Node* node, std::string_view path,
                 std::initializer_list<std::string_view> known,
                 std::initializer_list<std::string_view> ignored = {}) {
  if (node == nullptr || !node->is_map()) return;
  for (const auto& [k, v] : node->members) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    if (std::find(ignored.begin(), ignored.end(), k) != ignored.end()) continue;
    c.Unsupported(&v, Path(path, k), "field is not supported by sluice yet");
  }
}

// Typed accessors that report type errors.
bool GetString(const Ctx& c, const Node* parent, std::string_view key, std::string_view path,
               std::string* out, bool required = false) {
  const Node* n = parent ? parent->Find(key) : nullptr;
  if (n == nullptr || n->is_null()) {
    if (required) c.Error(parent, Path(path, key), "required field is missing");
    return false;
  }
  if (!n->is_scalar()) {
    c.Error(n, Path(path, key), "must be a string");
    return false;
  }
  *out = n->scalar;
  return true;
}

bool GetInt(const Ctx& c, const Node* parent, std::string_view key, std::string_view path,
            int64_t lo, int64_t hi, int64_t* out) {
  const Node* n = parent ? parent->Find(key) : nullptr;
  if (n == nullptr || n->is_null()) return false;
  int64_t v;
  if (!n->is_scalar() || n->quoted || !absl::SimpleAtoi(n->scalar, &v)) {
    c.Error(n, Path(path, key), StrCat("must be an integer, got \"", n->scalar, "\""));
    return false;
  }
  if (v < lo || v > hi) {
    c.Error(n, Path(path, key), StrCat("must be between ", lo, " and ", hi));
    return false;
  }
  *out = v;
  return true;
}

const Node* GetSeq(const Ctx& c, const Node* parent, std::string_view key, std::string_view path) {
  const Node* n = parent ? parent->Find(key) : nullptr;
  if (n == nullptr || n->is_null()) return nullptr;
  if (!n->is_seq()) {
    c.Error(n, Path(path, key), "must be a list");
    return nullptr;
  }
  return n;
}

const Node* GetMap(const Ctx& c, const Node* parent, std::string_view key, std::string_view path) {
  const Node* n = parent ? parent->Find(key) : nullptr;
  if (n == nullptr || n->is_null()) return nullptr;
  if (!n->is_map()) {
    c.Error(n, Path(path, key), "must be a map");
    return nullptr;
  }
  return n;
}

// A reference to another object: {group, kind, name, namespace}.
struct Ref {
  std::string group, kind, name, ns;
  const Node* at = nullptr;
};
bool GetRef(const Ctx& c, const Node* n, std::string_view path, Ref* out) {
  if (n == nullptr || !n->is_map()) {
    c.Error(n, std::string(path), "must be a reference {name, namespace}");
    return false;
  }
  out->at = n;
  GetString(c, n, "group", path, &out->group);
  GetString(c, n, "kind", path, &out->kind);
  if (!GetString(c, n, "name", path, &out->name, /*required=*/true)) return false;
  if (!GetString(c, n, "namespace", path, &out->ns)) out->ns = c.r->ns;
  return true;
}

void DecodeHeaderMutation(const Ctx& c, const Node* n, std::string_view path,
                          http::HeaderMutation* out) {
  if (n == nullptr) return;
  CheckFields(c, n, path, {"set", "add", "remove"});
  for (std::string_view op : {"set", "add"}) {
    if (const Node* set = GetSeq(c, n, op, path)) {
      for (size_t i = 0; i < set->items.size(); ++i) {
        std::string p = Index(Path(path, op), i);
        std::string name, value;
        if (!GetString(c, &set->items[i], "name", p, &name, true)) continue;
        GetString(c, &set->items[i], "value", p, &value);
        out->Set(name, value);
      }
    }
  }
  if (const Node* rm = GetSeq(c, n, "remove", path)) {
    for (size_t i = 0; i < rm->items.size(); ++i) {
      if (!rm->items[i].is_scalar()) {
        c.Error(&rm->items[i], Index(Path(path, "remove"), i), "must be a header name");
        continue;
      }
      out->Remove(rm->items[i].scalar);
    }
  }
}

void DecodeBodyMutation(const Ctx& c, const Node* n, std::string_view path,
                        config::BodyMutation* out) {
  if (n == nullptr) return;
  CheckFields(c, n, path, {"set", "remove"});
  if (const Node* set = GetSeq(c, n, "set", path)) {
    for (size_t i = 0; i < set->items.size(); ++i) {
      std::string p = Index(Path(path, "set"), i);
      std::string field, value;
      if (!GetString(c, &set->items[i], "path", p, &field, true)) continue;
      if (!GetString(c, &set->items[i], "value", p, &value, true)) continue;
      if (field.find('.') != std::string::npos) {
        c.Unsupported(&set->items[i], Path(p, "path"), "only top-level fields can be set");
        continue;
      }
      out->set.emplace_back(field, value);
    }
  }
  if (const Node* rm = GetSeq(c, n, "remove", path)) {
    for (size_t i = 0; i < rm->items.size(); ++i)
      if (rm->items[i].is_scalar()) out->remove.push_back(rm->items[i].scalar);
  }
}

bool DecodeTimeout(const Ctx& c, const Node* parent, std::string_view key, std::string_view path,
                   std::chrono::milliseconds* out) {
  std::string text;
  if (!GetString(c, parent, key, path, &text)) return false;
  auto d = ParseDuration(text);
  if (!d.ok()) {
    c.Error(parent->Find(key), Path(path, key), std::string(d.status().message()));
    return false;
  }
  *out = *d;
  return true;
}

// Index of resources by kind and namespace/name.
class Index_ {
 public:
  explicit Index_(const ResourceSet& set) {
    for (const auto& r : set.items) by_key_[Key(r.kind, r.ns, r.name)] = &r;
  }
  const Resource* Find(std::string_view kind, std::string_view ns, std::string_view name) const {
    auto it = by_key_.find(Key(kind, ns, name));
    return it == by_key_.end() ? nullptr : it->second;
  }

 private:
  static std::string Key(std::string_view k, std::string_view ns, std::string_view n) {
    return StrCat(k, "\x1f", ns, "\x1f", n);
  }
  std::map<std::string, const Resource*> by_key_;
};

// Substitutes ${VAR} with the environment (aigw's placeholder convention). An unset variable
// is an error: starting with a literal "${OPENAI_API_KEY}" as the key would only fail later.
bool SubstituteEnv(const Ctx& c, const Node* at, std::string_view field, const std::string& in,
                   EnvLookup env, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < in.size()) {
    size_t start = in.find("${", i);
    if (start == std::string::npos) break;
    size_t end = in.find('}', start);
    if (end == std::string::npos) break;
    out->append(in, i, start - i);
    std::string var = in.substr(start + 2, end - start - 2);
    std::string value;
    if (!env(var, &value)) {
      c.Error(at, std::string(field),
              StrCat("environment variable ", var, " is not set (referenced as ${", var,
                           "})"));
      return false;
    }
    out->append(value);
    i = end + 1;
  }
  out->append(in, i, std::string::npos);
  return true;
}

// Reads key `key` of a Secret, from stringData or base64 data.
bool SecretValue(const Ctx& referrer, const Index_& idx, const Ref& ref, std::string_view key,
                 std::string_view field, EnvLookup env, Diagnostics* diags, std::string* out) {
  const Resource* s = idx.Find("Secret", ref.ns, ref.name);
  if (s == nullptr) {
    referrer.Error(ref.at, std::string(field),
                   StrCat("Secret ", ref.ns, "/", ref.name, " not found"));
    return false;
  }
  Ctx sc{s, diags};
  const Node* doc = s->doc.get();
  if (const Node* sd = doc->Find("stringData"); sd && sd->is_map()) {
    if (const Node* v = sd->Find(key); v && v->is_scalar()) {
      return SubstituteEnv(sc, v, StrCat("stringData.", key), v->scalar, env, out);
    }
  }
  if (const Node* d = doc->Find("data"); d && d->is_map()) {
    if (const Node* v = d->Find(key); v && v->is_scalar()) {
      if (!absl::Base64Unescape(v->scalar, out)) {
        sc.Error(v, StrCat("data.", key), "is not valid base64");
        return false;
      }
      return true;
    }
  }
  referrer.Error(ref.at, std::string(field),
                 StrCat("Secret ", ref.ns, "/", ref.name, " has no key \"", key, "\""));
  return false;
}

int64_t ParseRfc3339(std::string_view text, int64_t fallback) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) return absl::ToUnixSeconds(t);
  return fallback;
}

class Builder {
 public:
  Builder(const ResourceSet& set, const BuildOptions& opts, Diagnostics* diags)
      : set_(set), idx_(set), opts_(opts), diags_(diags) {}

  config::Config Build() {
    config::Config cfg;
    const Resource* gateway = nullptr;
    std::vector<const Resource*> gateways;
    for (const auto& r : set_.items) {
      Ctx c{&r, diags_};
      if (kIgnoredKinds.count(r.kind)) {
        c.Add(Sev::kNotice, nullptr, "", "kind does not shape sluice's data plane; accepted");
      } else if (r.kind == "Gateway") {
        gateways.push_back(&r);
      } else if (r.kind == "AIGatewayRoute" || r.kind == "AIServiceBackend" ||
                 r.kind == "Backend" || r.kind == "BackendSecurityPolicy" ||
                 r.kind == "BackendTLSPolicy" || r.kind == "Secret") {
        // Handled through references below; unreferenced ones are checked at the end.
      } else {
        c.Unsupported(nullptr, "kind", StrCat("kind ", r.kind, " (", r.api_version,
                                                    ") is not supported by sluice yet"));
      }
    }
    if (gateways.size() > 1) {
      for (size_t i = 1; i < gateways.size(); ++i) {
        Ctx c{gateways[i], diags_};
        c.Error(nullptr, "", StrCat("sluice run serves one Gateway; already have ",
                                          gateways[0]->ns, "/", gateways[0]->name));
      }
    }
    if (!gateways.empty()) {
      gateway = gateways[0];
      DecodeGateway(*gateway, &cfg.listener);
    } else if (!set_.items.empty()) {
      Diagnostic d;
      d.severity = Sev::kNotice;
      d.file = set_.items[0].file;
      d.message = StrCat("no Gateway in the input: every AIGatewayRoute is served on port ",
                         cfg.listener.port, " (use --port or add a Gateway to change it)");
      diags_->items.push_back(std::move(d));
    }

    for (const auto& r : set_.items) {
      if (r.kind != "AIGatewayRoute") continue;
      Ctx c{&r, diags_};
      if (gateway && !AttachesTo(c, *gateway)) {
        c.Add(Sev::kWarning, nullptr, "spec.parentRefs",
              StrCat("does not attach to Gateway ", gateway->ns, "/", gateway->name,
                           "; ignored"));
        continue;
      }
      config::Route route;
      DecodeRoute(c, &route, &cfg);
      cfg.routes.push_back(std::move(route));
    }
    // Objects that nothing references are reported so a typo never goes unnoticed.
    for (const auto& r : set_.items) {
      if ((r.kind == "AIServiceBackend" || r.kind == "Backend" ||
           r.kind == "BackendSecurityPolicy" || r.kind == "BackendTLSPolicy") &&
          !used_.count(&r)) {
        Ctx c{&r, diags_};
        // Still validate it, so errors in unused objects are found too.
        if (r.kind == "BackendSecurityPolicy") {
          config::BackendAuth ignored;
          DecodeSecurityPolicy(c, &ignored);
        }
        c.Add(Sev::kWarning, nullptr, "", "not referenced by any AIGatewayRoute in the input");
      }
    }
    // Models: exact x-ai-eg-model matches, in rule order, deduplicated.
    std::set<std::string> seen;
    for (const auto& route : cfg.routes) {
      for (const auto& rule : route.rules) {
        for (const auto& match : rule.matches) {
          for (const auto& h : match) {
            if (h.name == "x-ai-eg-model" && h.type == config::HeaderMatch::Type::kExact &&
                seen.insert(h.value).second) {
              cfg.models.push_back(config::Model{
                  h.value, rule.models_owned_by,
                  rule.models_created_at ? rule.models_created_at : opts_.now_unix});
            }
          }
        }
      }
    }
    return cfg;
  }

 private:
  void DecodeGateway(const Resource& r, config::Listener* out) {
    Ctx c{&r, diags_};
    const Node* spec = GetMap(c, r.doc.get(), "spec", "");
    CheckFields(c, spec, "spec", {"listeners"},
                {"gatewayClassName", "infrastructure", "addresses"});
    const Node* listeners = GetSeq(c, spec, "listeners", "spec");
    if (listeners == nullptr || listeners->items.empty()) {
      c.Error(spec, "spec.listeners", "a Gateway needs at least one listener");
      return;
    }
    if (listeners->items.size() > 1) {
      c.Unsupported(&listeners->items[1], "spec.listeners[1]",
                    "sluice run serves the first listener only");
    }
    const Node& l = listeners->items[0];
    std::string p = "spec.listeners[0]";
    CheckFields(c, &l, p, {"name", "protocol", "port"}, {"allowedRoutes", "hostname"});
    GetString(c, &l, "name", p, &out->name);
    std::string protocol;
    if (GetString(c, &l, "protocol", p, &protocol) && protocol != "HTTP") {
      c.Unsupported(l.Find("protocol"), Path(p, "protocol"),
                    StrCat("protocol ", protocol, " is not supported yet; use HTTP"));
    }
    int64_t port;
    if (GetInt(c, &l, "port", p, 1, 65535, &port)) out->port = static_cast<uint16_t>(port);
    else c.Error(&l, Path(p, "port"), "required field is missing");
  }

  bool AttachesTo(const Ctx& c, const Resource& gw) {
    const Node* spec = c.r->doc->Find("spec");
    const Node* refs = spec ? spec->Find("parentRefs") : nullptr;
    if (refs == nullptr && spec) refs = spec->Find("targetRefs");  // v1alpha1
    if (refs == nullptr || !refs->is_seq()) return true;  // no parents: attach to the only one
    for (const auto& ref : refs->items) {
      const Node* name = ref.Find("name");
      const Node* ns = ref.Find("namespace");
      std::string ref_ns = ns && ns->is_scalar() ? ns->scalar : c.r->ns;
      if (name && name->is_scalar() && name->scalar == gw.name && ref_ns == gw.ns) return true;
    }
    return false;
  }

  // spec.llmRequestCosts: [{metadataKey, type: InputToken | CachedInputToken |
  // CacheCreationInputToken | OutputToken | TotalToken | ReasoningToken | CEL, cel}] -> the
  // route's costs (emitted by `sluice extproc` as dynamic metadata; CEL expressions are
  // compiled here, so a bad one fails the load).
  void DecodeCosts(const Ctx& c, const Node* spec, config::Route* route) {
    const Node* list = GetSeq(c, spec, "llmRequestCosts", "spec");
    if (list == nullptr) return;
    for (size_t i = 0; i < list->items.size(); ++i) {
      const Node* e = &list->items[i];
      std::string path = Index("spec.llmRequestCosts", i);
      if (!e->is_map()) {
        c.Error(e, path, "must be a map");
        continue;
      }
      CheckFields(c, e, path, {"metadataKey", "type", "cel"});
      config::LlmRequestCost cost;
      std::string type;
      if (!GetString(c, e, "metadataKey", path, &cost.metadata_key, true)) continue;
      if (!GetString(c, e, "type", path, &type, true)) continue;
      if (!config::ParseLlmRequestCostType(type, &cost.type)) {
        c.Error(e->Find("type"), Path(path, "type"), StrCat("unknown cost type \"", type, "\""));
        continue;
      }
      if (cost.type == config::LlmRequestCost::Type::kCEL) {
        if (!GetString(c, e, "cel", path, &cost.cel, true)) continue;
        auto program = cel::CostProgram::Compile(cost.cel);
        if (!program.ok()) {
          c.Error(e->Find("cel"), Path(path, "cel"), std::string(program.status().message()));
          continue;
        }
        cost.program = *std::move(program);
      }
      cost.route_name = route->name;
      route->costs.push_back(std::move(cost));
    }
  }

  void DecodeRoute(const Ctx& c, config::Route* route, config::Config* cfg) {
    route->name = StrCat(c.r->ns, "/", c.r->name);
    const Node* spec = GetMap(c, c.r->doc.get(), "spec", "");
    if (spec == nullptr) {
      c.Error(c.r->doc.get(), "spec", "required field is missing");
      return;
    }
    CheckFields(c, spec, "spec", {"parentRefs", "targetRefs", "rules", "hostnames", "schema", "llmRequestCosts"},
                {"filterConfig"});
    DecodeCosts(c, spec, route);
    if (const Node* schema = GetMap(c, spec, "schema", "spec")) {
      std::string name;
      if (GetString(c, schema, "name", "spec.schema", &name) && name != "OpenAI") {
        c.Unsupported(schema, "spec.schema.name", "only the OpenAI client schema is supported");
      }
    }
    if (const Node* hosts = GetSeq(c, spec, "hostnames", "spec")) {
      for (const auto& h : hosts->items)
        if (h.is_scalar()) route->hostnames.push_back(http::ToLower(h.scalar));
    }
    const Node* rules = GetSeq(c, spec, "rules", "spec");
    if (rules == nullptr) {
      c.Error(spec, "spec.rules", "an AIGatewayRoute needs at least one rule");
      return;
    }
    for (size_t i = 0; i < rules->items.size(); ++i) {
      config::Rule rule;
      DecodeRule(c, rules->items[i], Index("spec.rules", i), &rule, cfg);
      if (rule.name.empty()) rule.name = StrCat(route->name, "/rule/", i);
      route->rules.push_back(std::move(rule));
    }
  }

  void DecodeRule(const Ctx& c, const Node& n, const std::string& path, config::Rule* rule,
                  config::Config* cfg) {
    CheckFields(c, &n, path,
                {"name", "matches", "backendRefs", "timeouts", "modelsOwnedBy", "modelsCreatedAt"});
    GetString(c, &n, "name", path, &rule->name);
    GetString(c, &n, "modelsOwnedBy", path, &rule->models_owned_by);
    std::string created;
    if (GetString(c, &n, "modelsCreatedAt", path, &created)) {
      rule->models_created_at = ParseRfc3339(created, 0);
      if (rule->models_created_at == 0)
        c.Error(n.Find("modelsCreatedAt"), Path(path, "modelsCreatedAt"),
                "must be an RFC 3339 time");
    }
    if (const Node* t = GetMap(c, &n, "timeouts", path)) {
      std::string tp = Path(path, "timeouts");
      CheckFields(c, t, tp, {"request", "backendRequest"});
      DecodeTimeout(c, t, "request", tp, &rule->request_timeout);
      DecodeTimeout(c, t, "backendRequest", tp, &rule->backend_request_timeout);
    }
    if (const Node* matches = GetSeq(c, &n, "matches", path)) {
      for (size_t i = 0; i < matches->items.size(); ++i) {
        const Node& m = matches->items[i];
        std::string mp = Index(Path(path, "matches"), i);
        CheckFields(c, &m, mp, {"headers"});
        std::vector<config::HeaderMatch> all;
        if (const Node* headers = GetSeq(c, &m, "headers", mp)) {
          for (size_t j = 0; j < headers->items.size(); ++j) {
            const Node& h = headers->items[j];
            std::string hp = Index(Path(mp, "headers"), j);
            CheckFields(c, &h, hp, {"type", "name", "value"});
            config::HeaderMatch hm;
            std::string type = "Exact";
            GetString(c, &h, "type", hp, &type);
            if (!GetString(c, &h, "name", hp, &hm.name, true)) continue;
            hm.name = http::ToLower(hm.name);
            GetString(c, &h, "value", hp, &hm.value, true);
            if (type == "RegularExpression") {
              hm.type = config::HeaderMatch::Type::kRegularExpression;
              hm.match_all = hm.value == ".*";
              try {
                hm.regex = std::make_shared<const std::regex>(hm.value, std::regex::ECMAScript);
              } catch (const std::regex_error& e) {
                c.Error(h.Find("value"), Path(hp, "value"),
                        StrCat("invalid regular expression: ", e.what()));
                continue;
              }
            } else if (type != "Exact") {
              c.Error(h.Find("type"), Path(hp, "type"),
                      StrCat("must be Exact or RegularExpression, got \"", type, "\""));
              continue;
            }
            all.push_back(std::move(hm));
          }
        }
        rule->matches.push_back(std::move(all));
      }
    }
    const Node* refs = GetSeq(c, &n, "backendRefs", path);
    if (refs == nullptr || refs->items.empty()) {
      c.Error(&n, Path(path, "backendRefs"), "a rule needs at least one backendRef");
      return;
    }
    for (size_t i = 0; i < refs->items.size(); ++i) {
      const Node& b = refs->items[i];
      std::string bp = Index(Path(path, "backendRefs"), i);
      CheckFields(c, &b, bp,
                  {"name", "namespace", "group", "kind", "modelNameOverride", "headerMutation",
                   "bodyMutation", "weight", "priority"});
      Ref ref;
      if (!GetRef(c, &b, bp, &ref)) continue;
      if (!ref.kind.empty() && ref.kind != "AIServiceBackend") {
        c.Unsupported(b.Find("kind"), Path(bp, "kind"),
                      StrCat("backendRefs of kind ", ref.kind, " are not supported yet"));
        continue;
      }
      config::BackendRef out;
      GetString(c, &b, "modelNameOverride", bp, &out.model_name_override);
      int64_t v;
      if (GetInt(c, &b, "weight", bp, 0, 1000000, &v)) out.weight = static_cast<uint32_t>(v);
      if (GetInt(c, &b, "priority", bp, 0, 1000000, &v)) out.priority = static_cast<uint32_t>(v);
      DecodeHeaderMutation(c, GetMap(c, &b, "headerMutation", bp), Path(bp, "headerMutation"),
                           &out.header_mutation);
      DecodeBodyMutation(c, GetMap(c, &b, "bodyMutation", bp), Path(bp, "bodyMutation"),
                         &out.body_mutation);
      auto idx = ResolveAIServiceBackend(c, ref, Path(bp, "name"), cfg);
      if (!idx) continue;
      out.backend = *idx;
      rule->backend_refs.push_back(std::move(out));
    }
  }

  // Returns the index of the built backend in cfg->backends, building it on first use.
  std::optional<size_t> ResolveAIServiceBackend(const Ctx& referrer, const Ref& ref,
                                                const std::string& field, config::Config* cfg) {
    const Resource* r = idx_.Find("AIServiceBackend", ref.ns, ref.name);
    if (r == nullptr) {
      referrer.Error(ref.at, field,
                     StrCat("AIServiceBackend ", ref.ns, "/", ref.name, " not found"));
      return std::nullopt;
    }
    if (auto it = built_.find(r); it != built_.end()) return it->second;
    used_.insert(r);
    Ctx c{r, diags_};
    config::Backend b;
    b.name = StrCat(r->ns, "/", r->name);
    const Node* spec = GetMap(c, r->doc.get(), "spec", "");
    CheckFields(c, spec, "spec",
                {"schema", "backendRef", "headerMutation", "bodyMutation", "timeouts",
                 "backendSecurityPolicyRef"});
    const Node* schema = GetMap(c, spec, "schema", "spec");
    std::string schema_name;
    if (!GetString(c, schema, "name", "spec.schema", &schema_name, true)) return std::nullopt;
    if (!config::ParseSchemaName(schema_name, &b.schema)) {
      c.Error(schema->Find("name"), "spec.schema.name",
              StrCat("unknown schema \"", schema_name, "\""));
      return std::nullopt;
    }
    if (b.schema == config::ApiSchema::kCohere) {
      c.Unsupported(schema->Find("name"), "spec.schema.name",
                    StrCat("schema ", schema_name, " is not supported by sluice yet"));
    }
    GetString(c, schema, "version", "spec.schema", &b.schema_version);
    std::string prefix;
    if (GetString(c, schema, "prefix", "spec.schema", &prefix)) {
      while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
      while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
      b.schema_prefix = prefix;
    }
    DecodeHeaderMutation(c, GetMap(c, spec, "headerMutation", "spec"), "spec.headerMutation",
                         &b.header_mutation);
    DecodeBodyMutation(c, GetMap(c, spec, "bodyMutation", "spec"), "spec.bodyMutation",
                       &b.body_mutation);
    if (const Node* t = GetMap(c, spec, "timeouts", "spec")) {
      CheckFields(c, t, "spec.timeouts", {"request"});
      DecodeTimeout(c, t, "request", "spec.timeouts", &b.request_timeout);
    }
    Ref backend_ref;
    const Node* br = GetMap(c, spec, "backendRef", "spec");
    if (br == nullptr) {
      c.Error(spec, "spec.backendRef", "required field is missing");
      return std::nullopt;
    }
    if (!GetRef(c, br, "spec.backendRef", &backend_ref)) return std::nullopt;
    if (!backend_ref.kind.empty() && backend_ref.kind != "Backend") {
      c.Unsupported(br->Find("kind"), "spec.backendRef.kind",
                    StrCat("only gateway.envoyproxy.io Backend is supported, got ",
                                 backend_ref.kind));
      return std::nullopt;
    }
    if (!DecodeBackend(c, backend_ref, &b)) return std::nullopt;
    // Security policy: v1beta1 targets the AIServiceBackend; v1alpha1 referenced it from here.
    for (const auto& p : set_.items) {
      if (p.kind != "BackendSecurityPolicy" || !Targets(p, "AIServiceBackend", *r)) continue;
      if (b.auth.type != config::BackendAuth::Type::kNone) {
        Ctx pc{&p, diags_};
        pc.Error(nullptr, "spec.targetRefs",
                 StrCat("AIServiceBackend ", b.name,
                              " already has a BackendSecurityPolicy; at most one per backend"));
        continue;
      }
      used_.insert(&p);
      Ctx pc{&p, diags_};
      DecodeSecurityPolicy(pc, &b.auth);
    }
    if (const Node* bspr = spec ? spec->Find("backendSecurityPolicyRef") : nullptr) {
      Ref pref;
      if (GetRef(c, bspr, "spec.backendSecurityPolicyRef", &pref)) {
        const Resource* p = idx_.Find("BackendSecurityPolicy", pref.ns, pref.name);
        if (p == nullptr) {
          c.Error(bspr, "spec.backendSecurityPolicyRef",
                  StrCat("BackendSecurityPolicy ", pref.ns, "/", pref.name, " not found"));
        } else if (!used_.count(p)) {
          used_.insert(p);
          Ctx pc{p, diags_};
          DecodeSecurityPolicy(pc, &b.auth);
        }
      }
    }
    size_t index = cfg->backends.size();
    cfg->backends.push_back(std::move(b));
    built_[r] = index;
    return index;
  }

  bool Targets(const Resource& policy, std::string_view kind, const Resource& target) {
    const Node* spec = policy.doc->Find("spec");
    const Node* refs = spec ? spec->Find("targetRefs") : nullptr;
    if (refs == nullptr || !refs->is_seq()) return false;
    for (const auto& t : refs->items) {
      const Node* k = t.Find("kind");
      const Node* n = t.Find("name");
      if (k && k->is_scalar() && k->scalar == kind && n && n->is_scalar() &&
          n->scalar == target.name && policy.ns == target.ns)
        return true;
    }
    return false;
  }

  bool DecodeBackend(const Ctx& referrer, const Ref& ref, config::Backend* b) {
    const Resource* r = idx_.Find("Backend", ref.ns, ref.name);
    if (r == nullptr) {
      referrer.Error(ref.at, "spec.backendRef.name",
                     StrCat("Backend ", ref.ns, "/", ref.name, " not found"));
      return false;
    }
    used_.insert(r);
    Ctx c{r, diags_};
    const Node* spec = GetMap(c, r->doc.get(), "spec", "");
    CheckFields(c, spec, "spec", {"endpoints"}, {"type", "appProtocols"});
    const Node* eps = GetSeq(c, spec, "endpoints", "spec");
    if (eps == nullptr || eps->items.empty()) {
      c.Error(spec, "spec.endpoints", "a Backend needs at least one endpoint");
      return false;
    }
    for (size_t i = 0; i < eps->items.size(); ++i) {
      const Node& e = eps->items[i];
      std::string ep = Index("spec.endpoints", i);
      CheckFields(c, &e, ep, {"fqdn", "ip"}, {"zone"});
      const Node* addr = e.Find("fqdn");
      std::string host_key = "hostname";
      std::string apath = Path(ep, "fqdn");
      if (addr == nullptr) {
        addr = e.Find("ip");
        host_key = "address";
        apath = Path(ep, "ip");
      }
      if (addr == nullptr || !addr->is_map()) {
        if (!e.Find("unix")) c.Error(&e, ep, "an endpoint needs fqdn or ip");
        continue;
      }
      CheckFields(c, addr, apath, {std::string_view(host_key), "port"});
      config::Endpoint out;
      if (!GetString(c, addr, host_key, apath, &out.host, true)) continue;
      int64_t port;
      if (!GetInt(c, addr, "port", apath, 1, 65535, &port)) {
        if (!addr->Find("port")) c.Error(addr, Path(apath, "port"), "required field is missing");
        continue;
      }
      out.port = static_cast<uint16_t>(port);
      b->endpoints.push_back(std::move(out));
    }
    if (b->endpoints.empty()) return false;
    // TLS: a BackendTLSPolicy targeting this Backend.
    for (const auto& p : set_.items) {
      if (p.kind != "BackendTLSPolicy" || !Targets(p, "Backend", *r)) continue;
      used_.insert(&p);
      DecodeTlsPolicy(Ctx{&p, diags_}, b);
    }
    if (!b->tls.enabled && b->endpoints[0].port == 443) {
      // Plaintext to 443 can only fail; a user of a production gateway expects TLS here.
      c.Add(Sev::kNotice, eps, "spec.endpoints",
            "port 443 without a BackendTLSPolicy: using TLS with the system trust store");
      b->tls.enabled = true;
    }
    if (b->tls.enabled && b->tls.sni.empty()) b->tls.sni = b->endpoints[0].host;
    return true;
  }

  void DecodeTlsPolicy(const Ctx& c, config::Backend* b) {
    const Node* spec = GetMap(c, c.r->doc.get(), "spec", "");
    CheckFields(c, spec, "spec", {"targetRefs", "validation"}, {"options"});
    b->tls.enabled = true;
    const Node* v = GetMap(c, spec, "validation", "spec");
    if (v == nullptr) return;
    CheckFields(c, v, "spec.validation",
                {"wellKnownCACertificates", "hostname", "caCertificateRefs"},
                {"subjectAltNames"});
    GetString(c, v, "hostname", "spec.validation", &b->tls.sni);
    std::string wk;
    if (GetString(c, v, "wellKnownCACertificates", "spec.validation", &wk) && wk != "System") {
      c.Error(v->Find("wellKnownCACertificates"), "spec.validation.wellKnownCACertificates",
              "must be \"System\"");
    }
    if (const Node* refs = GetSeq(c, v, "caCertificateRefs", "spec.validation")) {
      b->tls.use_system_ca = wk == "System";
      for (size_t i = 0; i < refs->items.size(); ++i) {
        std::string rp = Index("spec.validation.caCertificateRefs", i);
        Ref ref;
        if (!GetRef(c, &refs->items[i], rp, &ref)) continue;
        std::string pem;
        if (ref.kind == "Secret") {
          if (!SecretValue(c, idx_, ref, "ca.crt", rp, opts_.env, diags_, &pem)) continue;
        } else {
          const Resource* cm = idx_.Find("ConfigMap", ref.ns, ref.name);
          const Node* data = cm ? cm->doc->Find("data") : nullptr;
          const Node* crt = data ? data->Find("ca.crt") : nullptr;
          if (crt == nullptr || !crt->is_scalar()) {
            c.Error(&refs->items[i], rp,
                    StrCat("ConfigMap ", ref.ns, "/", ref.name, " with key ca.crt not found"));
            continue;
          }
          pem = crt->scalar;
        }
        b->tls.ca_pem.append(pem);
      }
    }
  }

  void DecodeSecurityPolicy(const Ctx& c, config::BackendAuth* auth) {
    const Node* spec = GetMap(c, c.r->doc.get(), "spec", "");
    CheckFields(c, spec, "spec",
                {"targetRefs", "type", "apiKey", "anthropicAPIKey", "azureAPIKey", "awsCredentials",
                 "azureCredentials", "gcpCredentials", "credentialOverride"});
    DecodeCredentials(c, spec, auth);
    if (const Node* co = spec != nullptr ? spec->Find("credentialOverride") : nullptr;
        co != nullptr && auth->type != config::BackendAuth::Type::kNone) {
      DecodeCredentialOverride(c, co, auth);
    }
  }

  // spec.credentialOverride: fromRequestHeaders {header, fallbackToConfigured} or
  // fromDynamicMetadata {namespace, key, fallbackToConfigured}; names default by type.
  void DecodeCredentialOverride(const Ctx& c, const Node* co, config::BackendAuth* auth) {
    const std::string p = "spec.credentialOverride";
    CheckFields(c, co, p, {"fromRequestHeaders", "fromDynamicMetadata"});
    const Node* hdr = GetMap(c, co, "fromRequestHeaders", p);
    const Node* md = GetMap(c, co, "fromDynamicMetadata", p);
    if ((hdr == nullptr) == (md == nullptr)) {
      c.Error(co, p, "set exactly one of fromRequestHeaders and fromDynamicMetadata");
      return;
    }
    config::CredentialOverride out;
    const Node* src = hdr != nullptr ? hdr : md;
    const std::string sp = Path(p, hdr != nullptr ? "fromRequestHeaders" : "fromDynamicMetadata");
    if (const Node* f = src->Find("fallbackToConfigured")) {
      if (!f->is_scalar() || (f->scalar != "true" && f->scalar != "false")) {
        c.Error(f, Path(sp, "fallbackToConfigured"), "must be true or false");
        return;
      }
      out.fallback_to_configured = f->scalar == "true";
    }
    if (hdr != nullptr) {
      CheckFields(c, hdr, sp, {"header", "fallbackToConfigured"});
      GetString(c, hdr, "header", sp, &out.header);
      if (out.header.empty()) out.header = std::string(config::DefaultOverrideHeader(auth->type));
      out.header = http::ToLower(out.header);
      out.input_headers = config::OverrideInputHeaders(auth->type, out.header);
      for (const std::string& h : out.input_headers) {
        if (!config::OverrideHeaderAllowed(h)) {
          c.Error(hdr->Find("header") ? hdr->Find("header") : hdr, Path(sp, "header"),
                  StrCat("\"", h, "\" cannot carry a credential (a reserved or invalid header name)"));
          return;
        }
      }
    } else {
      CheckFields(c, md, sp, {"namespace", "key", "fallbackToConfigured"});
      if (!GetString(c, md, "namespace", sp, &out.metadata_namespace, true)) return;
      GetString(c, md, "key", sp, &out.metadata_key);
      if (out.metadata_key.empty()) out.metadata_key = std::string(config::DefaultOverrideMetadataKey(auth->type));
    }
    auth->credential_override = std::move(out);
  }

  void DecodeCredentials(const Ctx& c, const Node* spec, config::BackendAuth* auth) {
    std::string type;
    if (!GetString(c, spec, "type", "spec", &type, true)) return;
    struct Kind {
      std::string_view type, field;
      config::BackendAuth::Type out;
    };
    static constexpr Kind kKinds[] = {
        {"APIKey", "apiKey", config::BackendAuth::Type::kAPIKey},
        {"AnthropicAPIKey", "anthropicAPIKey", config::BackendAuth::Type::kAnthropicAPIKey},
        {"AzureAPIKey", "azureAPIKey", config::BackendAuth::Type::kAzureAPIKey},
    };
    for (const auto& k : kKinds) {
      if (type != k.type) continue;
      std::string fp = StrCat("spec.", k.field);
      const Node* block = GetMap(c, spec, k.field, "spec");
      if (block == nullptr) {
        c.Error(spec, fp, StrCat("type ", type, " needs the ", k.field, " block"));
        return;
      }
      CheckFields(c, block, fp, {"secretRef"});
      const Node* sr = block->Find("secretRef");
      Ref ref;
      if (!GetRef(c, sr, Path(fp, "secretRef"), &ref)) return;
      std::string key;
      if (!SecretValue(c, idx_, ref, "apiKey", Path(fp, "secretRef"), opts_.env, diags_, &key))
        return;
      key = std::string(absl::StripAsciiWhitespace(key));
      if (key.empty()) {
        c.Error(sr, Path(fp, "secretRef"), "the API key is empty");
        return;
      }
      auth->type = k.out;
      auth->key = std::move(key);
      return;
    }
    if (type == "AWSCredentials") {
      DecodeAws(c, spec, auth);
      return;
    }
    if (type == "AzureCredentials") {
      DecodeAzure(c, spec, auth);
      return;
    }
    if (type == "GCPCredentials") {
      DecodeGcp(c, spec, auth);
      return;
    }
    c.Error(spec->Find("type"), "spec.type", StrCat("unknown type \"", type, "\""));
  }

  // The OIDC part of an oidcExchangeToken block: Envoy Gateway's OIDC (provider issuer /
  // tokenEndpoint, clientID, clientSecret: a Secret with "client-secret", scopes), grantType
  // (client_credentials, the only grant a gateway can run unattended) and aud. `extra` lists the
  // block's provider-specific fields, which the caller reads.
  bool DecodeOidcExchange(const Ctx& c, const Node* ox, const std::string& p, std::initializer_list<std::string_view> extra,
                          config::OidcExchange* out) {
    if (!ox->is_map()) {
      c.Error(ox, p, "must be a map");
      return false;
    }
    for (const auto& [k, v] : ox->members) {
      if (k == "oidc" || k == "grantType" || k == "aud") continue;
      if (std::find(extra.begin(), extra.end(), k) != extra.end()) continue;
      c.Unsupported(&v, Path(p, k), "field is not supported by sluice yet");
    }
    std::string grant;
    if (GetString(c, ox, "grantType", p, &grant) && !grant.empty() && grant != "client_credentials") {
      c.Error(ox->Find("grantType"), Path(p, "grantType"), "only client_credentials is supported");
      return false;
    }
    GetString(c, ox, "aud", p, &out->audience);
    const std::string op = Path(p, "oidc");
    const Node* oidc = GetMap(c, ox, "oidc", p);
    if (oidc == nullptr) {
      c.Error(ox, op, "required field is missing");
      return false;
    }
    // Envoy Gateway's OIDC also configures its browser login (redirectURL, cookies, logout, ...);
    // none of that applies to a client-credentials exchange.
    CheckFields(c, oidc, op, {"provider", "clientID", "clientSecret", "scopes", "resources"},
                {"redirectURL", "logoutPath", "cookieNames", "cookieConfig", "cookieDomain", "forwardAccessToken",
                 "defaultTokenTTL", "refreshToken", "defaultRefreshTokenTTL", "denyRedirect", "passThroughAuthHeader",
                 "csrfTokenTTL", "disableTokenEncryption"});
    const std::string pp = Path(op, "provider");
    const Node* provider = GetMap(c, oidc, "provider", op);
    if (provider == nullptr) {
      c.Error(oidc, pp, "required field is missing");
      return false;
    }
    CheckFields(c, provider, pp, {"issuer", "tokenEndpoint"},
                {"authorizationEndpoint", "endSessionEndpoint", "backendRef", "backendRefs", "backendSettings"});
    if (!GetString(c, provider, "issuer", pp, &out->issuer, true)) return false;
    GetString(c, provider, "tokenEndpoint", pp, &out->token_endpoint);
    for (auto [field, url] : {std::pair{"issuer", &out->issuer}, {"tokenEndpoint", &out->token_endpoint}}) {
      if (!url->empty() && !HttpsOrLoopbackUrl(*url)) {
        c.Error(provider->Find(field), Path(pp, field), "must be an https URL (plain http only to loopback)");
        return false;
      }
    }
    if (!GetString(c, oidc, "clientID", op, &out->client_id, true)) return false;
    Ref ref;
    if (!GetRef(c, oidc->Find("clientSecret"), Path(op, "clientSecret"), &ref)) return false;
    if (!SecretValue(c, idx_, ref, "client-secret", Path(op, "clientSecret"), opts_.env, diags_, &out->client_secret))
      return false;
    if (const Node* scopes = GetSeq(c, oidc, "scopes", op)) {
      for (size_t i = 0; i < scopes->items.size(); ++i) {
        if (!scopes->items[i].is_scalar()) {
          c.Error(&scopes->items[i], Index(Path(op, "scopes"), i), "must be a string");
          return false;
        }
        out->scopes.push_back(scopes->items[i].scalar);
      }
    }
    return true;
  }

  // AWSCredentials: region plus a credentials file (INI, in a Secret under "credentials") with
  // a profile, or else the AWS_* environment variables, as the AWS SDK default chain would.
  void DecodeAws(const Ctx& c, const Node* spec, config::BackendAuth* auth) {
    const std::string p = "spec.awsCredentials";
    const Node* aws = GetMap(c, spec, "awsCredentials", "spec");
    if (aws == nullptr) {
      c.Error(spec, p, "type AWSCredentials needs the awsCredentials block");
      return;
    }
    CheckFields(c, aws, p, {"region", "credentialsFile", "oidcExchangeToken"});
    if (!GetString(c, aws, "region", p, &auth->aws_region, true)) return;
    if (const Node* ox = aws->Find("oidcExchangeToken")) {
      const std::string op = Path(p, "oidcExchangeToken");
      if (aws->Find("credentialsFile") != nullptr) {
        c.Error(ox, op, "set credentialsFile or oidcExchangeToken, not both");
        return;
      }
      if (!DecodeOidcExchange(c, ox, op, {"awsRoleArn"}, &auth->oidc)) return;
      if (!GetString(c, ox, "awsRoleArn", op, &auth->oidc.aws_role_arn, true)) return;
      // As Envoy AI Gateway's controller names it, within STS's limits (64 of [\w+=,.@-]).
      std::string session = StrCat("ai-gateway-", c.r->name);
      for (char& ch : session) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && std::string_view("_+=,.@-").find(ch) == std::string_view::npos)
          ch = '-';
      }
      auth->oidc.session_name = session.substr(0, 64);
      auth->type = config::BackendAuth::Type::kAWS;
      return;
    }
    if (const Node* file = GetMap(c, aws, "credentialsFile", p)) {
      const std::string fp = Path(p, "credentialsFile");
      CheckFields(c, file, fp, {"secretRef", "profile"});
      std::string profile = "default";
      GetString(c, file, "profile", fp, &profile);
      Ref ref;
      if (!GetRef(c, file->Find("secretRef"), Path(fp, "secretRef"), &ref)) return;
      std::string ini;
      if (!SecretValue(c, idx_, ref, "credentials", Path(fp, "secretRef"), opts_.env, diags_, &ini)) return;
      if (!config::ParseAwsCredentialsFile(ini, profile, auth)) {
        c.Error(file, fp, StrCat("the credentials file has no profile [", profile,
                                 "] with aws_access_key_id and aws_secret_access_key"));
        return;
      }
    } else {
      // No file: the AWS SDKs' default chain, as Envoy AI Gateway's ext_proc. Keys in this
      // process's environment are taken now; otherwise the gateway finds them at run time
      // (web identity / IRSA, shared credentials file, container credentials / EKS Pod
      // Identity, EC2 instance metadata) and refreshes temporary ones before they expire.
      opts_.env("AWS_ACCESS_KEY_ID", &auth->aws_access_key_id);
      opts_.env("AWS_SECRET_ACCESS_KEY", &auth->aws_secret_access_key);
      opts_.env("AWS_SESSION_TOKEN", &auth->aws_session_token);
      if (auth->aws_access_key_id.empty() || auth->aws_secret_access_key.empty()) {
        auth->aws_access_key_id.clear();
        auth->aws_secret_access_key.clear();
        auth->aws_session_token.clear();
        auth->aws_credential_chain = true;
      }
    }
    auth->type = config::BackendAuth::Type::kAWS;
  }

  // AzureCredentials: Entra ID client credentials (client secret in a Secret).
  void DecodeAzure(const Ctx& c, const Node* spec, config::BackendAuth* auth) {
    const std::string p = "spec.azureCredentials";
    const Node* az = GetMap(c, spec, "azureCredentials", "spec");
    if (az == nullptr) {
      c.Error(spec, p, "type AzureCredentials needs the azureCredentials block");
      return;
    }
    CheckFields(c, az, p, {"clientID", "tenantID", "clientSecretRef", "oidcExchangeToken"});
    if (!GetString(c, az, "clientID", p, &auth->azure_client_id, true)) return;
    if (!GetString(c, az, "tenantID", p, &auth->azure_tenant_id, true)) return;
    Ref ref;
    const Node* sr = az->Find("clientSecretRef");
    if (const Node* ox = az->Find("oidcExchangeToken")) {
      // The OIDC token is the client assertion of Entra's client-credentials grant (a
      // federated credential on the app registration).
      const std::string op = Path(p, "oidcExchangeToken");
      if (sr != nullptr) {
        c.Error(ox, op, "set clientSecretRef or oidcExchangeToken, not both");
        return;
      }
      if (!DecodeOidcExchange(c, ox, op, {}, &auth->oidc)) return;
      auth->type = config::BackendAuth::Type::kAzureToken;
      return;
    }
    if (sr == nullptr) {
      // No secret: as Azure's SDKs do, workload identity (AKS: the pod's federated
      // service-account token in AZURE_FEDERATED_TOKEN_FILE is the client assertion, read at
      // every token refresh), else the managed identity clientID names (auth/azure_credentials.h).
      auth->type = config::BackendAuth::Type::kAzureToken;
      return;
    }
    if (!GetRef(c, sr, Path(p, "clientSecretRef"), &ref)) return;
    if (!SecretValue(c, idx_, ref, "client-secret", Path(p, "clientSecretRef"), opts_.env, diags_,
                     &auth->azure_client_secret))
      return;
    auth->type = config::BackendAuth::Type::kAzureToken;
  }

  // GCPCredentials: project, region, and a service-account key file (JSON in a Secret), or
  // without one Application Default Credentials.
  void DecodeGcp(const Ctx& c, const Node* spec, config::BackendAuth* auth) {
    const std::string p = "spec.gcpCredentials";
    const Node* g = GetMap(c, spec, "gcpCredentials", "spec");
    if (g == nullptr) {
      c.Error(spec, p, "type GCPCredentials needs the gcpCredentials block");
      return;
    }
    CheckFields(c, g, p, {"projectName", "region", "credentialsFile", "workloadIdentityFederationConfig"});
    if (!GetString(c, g, "projectName", p, &auth->gcp_project, true)) return;
    if (!GetString(c, g, "region", p, &auth->gcp_region, true)) return;
    if (const Node* wif = GetMap(c, g, "workloadIdentityFederationConfig", p)) {
      // An OIDC token exchanged at Google's STS for the workload identity provider's audience,
      // then, with serviceAccountImpersonation, for the service account's token: what Envoy AI
      // Gateway's controller does, done here at every refresh.
      const std::string wp = Path(p, "workloadIdentityFederationConfig");
      if (g->Find("credentialsFile") != nullptr) {
        c.Error(wif, wp, "set credentialsFile or workloadIdentityFederationConfig, not both");
        return;
      }
      CheckFields(c, wif, wp, {"projectID", "workloadIdentityPoolName", "workloadIdentityProviderName",
                               "oidcExchangeToken", "serviceAccountImpersonation"});
      std::string project, pool, provider;
      if (!GetString(c, wif, "projectID", wp, &project, true) ||
          !GetString(c, wif, "workloadIdentityPoolName", wp, &pool, true) ||
          !GetString(c, wif, "workloadIdentityProviderName", wp, &provider, true))
        return;
      const Node* ox = GetMap(c, wif, "oidcExchangeToken", wp);
      if (ox == nullptr) {
        c.Error(wif, Path(wp, "oidcExchangeToken"), "required field is missing");
        return;
      }
      if (!DecodeOidcExchange(c, ox, Path(wp, "oidcExchangeToken"), {}, &auth->oidc)) return;
      auth->oidc.gcp_sts_audience = StrCat("//iam.googleapis.com/projects/", project, "/locations/global/workloadIdentityPools/",
                                           pool, "/providers/", provider);
      if (const Node* sai = GetMap(c, wif, "serviceAccountImpersonation", wp)) {
        const std::string sp = Path(wp, "serviceAccountImpersonation");
        CheckFields(c, sai, sp, {"serviceAccountName", "serviceAccountProjectName"});
        std::string account, account_project = auth->gcp_project;
        if (!GetString(c, sai, "serviceAccountName", sp, &account, true)) return;
        GetString(c, sai, "serviceAccountProjectName", sp, &account_project);  // v1alpha1
        // A name within the project, as Envoy AI Gateway builds the email; a full email as is.
        auth->oidc.gcp_service_account = account.find('@') == std::string::npos
                                             ? StrCat(account, "@", account_project, ".iam.gserviceaccount.com")
                                             : account;
        if (!HeaderSafe(auth->oidc.gcp_service_account) ||
            auth->oidc.gcp_service_account.find_first_of("/?# ") != std::string::npos) {
          c.Error(sai, Path(sp, "serviceAccountName"), "is not a service account name or email");
          return;
        }
      }
      auth->type = config::BackendAuth::Type::kGCP;
      return;
    }
    const Node* file = GetMap(c, g, "credentialsFile", p);
    if (file == nullptr) {
      // No key file: Google's Application Default Credentials, found at run time
      // (GOOGLE_APPLICATION_CREDENTIALS, gcloud's file, the metadata server).
      auth->gcp_default_credentials = true;
      auth->type = config::BackendAuth::Type::kGCP;
      return;
    }
    Ref ref;
    if (!GetRef(c, file->Find("secretRef"), Path(p, "credentialsFile.secretRef"), &ref)) return;
    if (!SecretValue(c, idx_, ref, "service_account.json", Path(p, "credentialsFile.secretRef"),
                     opts_.env, diags_, &auth->gcp_service_account_json))
      return;
    auth->type = config::BackendAuth::Type::kGCP;
  }

  const ResourceSet& set_;
  Index_ idx_;
  const BuildOptions& opts_;
  Diagnostics* diags_;
  std::map<const Resource*, size_t> built_;
  std::set<const Resource*> used_;
};

}  // namespace

void ParseResources(std::string_view text, std::string_view file, ResourceSet* set,
                    Diagnostics* diags) {
  auto docs = yaml::LoadAll(text);
  if (!docs.ok()) {
    Diagnostic d;
    d.file = std::string(file);
    d.message = StrCat("invalid YAML: ", docs.status().message());
    diags->items.push_back(std::move(d));
    return;
  }
  for (auto& doc : *docs) {
    Resource r;
    r.file = std::string(file);
    r.line = doc.line;
    auto fail = [&](const std::string& field, const std::string& msg) {
      Diagnostic d;
      d.file = r.file;
      d.line = r.line;
      d.kind = r.kind;
      d.field = field;
      d.message = msg;
      diags->items.push_back(std::move(d));
    };
    if (!doc.is_map()) {
      fail("", "a resource must be a YAML map");
      continue;
    }
    const Node* av = doc.Find("apiVersion");
    const Node* kind = doc.Find("kind");
    const Node* meta = doc.Find("metadata");
    const Node* name = meta ? meta->Find("name") : nullptr;
    if (kind && kind->is_scalar()) r.kind = kind->scalar;
    if (!av || !av->is_scalar() || !kind || !kind->is_scalar()) {
      fail(!av ? "apiVersion" : "kind", "required field is missing");
      continue;
    }
    if (!name || !name->is_scalar() || name->scalar.empty()) {
      fail("metadata.name", "required field is missing");
      continue;
    }
    r.api_version = av->scalar;
    r.name = name->scalar;
    const Node* ns = meta->Find("namespace");
    r.ns = ns && ns->is_scalar() && !ns->scalar.empty() ? ns->scalar : "default";
    std::string_view group = GroupOf(r.api_version);
    if ((r.kind == "AIGatewayRoute" || r.kind == "AIServiceBackend" ||
         r.kind == "BackendSecurityPolicy") &&
        group != kAIGatewayGroup) {
      fail("apiVersion", StrCat("kind ", r.kind, " must be in group ", kAIGatewayGroup));
      continue;
    }
    if (r.kind == "Backend" && group != kEGGroup) {
      fail("apiVersion", StrCat("kind Backend must be in group ", kEGGroup));
      continue;
    }
    r.doc = std::make_shared<const Node>(std::move(doc));
    set->items.push_back(std::move(r));
  }
}

void LoadResourceFile(const std::string& path, ResourceSet* set, Diagnostics* diags) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) LoadResourceFile(f, set, diags);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diagnostic d;
    d.file = path;
    d.message = "cannot read file";
    diags->items.push_back(std::move(d));
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ParseResources(ss.str(), path, set, diags);
}

config::Config BuildConfig(const ResourceSet& set, const BuildOptions& options,
                           Diagnostics* diags) {
  Builder b(set, options, diags);
  return b.Build();
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  absl::Duration d;
  if (text.empty() || !absl::ParseDuration(std::string(text), &d) || d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        StrCat("invalid duration \"", text, "\" (expected e.g. 60s, 1m30s, 500ms)"));
  }
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

}  // namespace sluice::compiler
