#include "config/filterapi.h"

#include <time.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cel/cel.h"
#include "common/strings.h"
#include "crypto/crypto.h"
#include "yaml/yaml.h"

namespace sluice::config {
namespace {

using yaml::Node;

absl::Status Bad(std::string_view source, const Node& n, std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(
      StrCat(source, ":", n.line, ":", n.column, ": ", field, ": ", what));
}

// A scalar member as text ("" when absent or null).
absl::Status GetString(std::string_view source, const Node& parent, std::string_view key,
                       std::string_view path, std::string* out) {
  const Node* n = parent.Find(key);
  if (n == nullptr || n->is_null()) return absl::OkStatus();
  if (!n->is_scalar()) return Bad(source, *n, StrCat(path, key), "must be a string");
  *out = n->scalar;
  return absl::OkStatus();
}

// Envoy AI Gateway writes time.Time (RFC 3339); integers (unix seconds) are accepted too.
bool ParseTime(std::string_view s, int64_t* out) {
  if (s.empty()) {
    *out = 0;
    return true;
  }
  if (ParseInt(s, out)) return true;
  std::string t(s);
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t secs = static_cast<int64_t>(timegm(&tm));
  std::string_view rest = std::string_view(t).substr(consumed);
  if (!rest.empty() && rest[0] == '.') {  // fractional seconds
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest.remove_prefix(i);
  }
  if (rest == "Z" || rest == "z") {
    *out = secs;
    return true;
  }
  int oh = 0, om = 0;
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') &&
      std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) == 2) {
    int64_t off = oh * 3600 + om * 60;
    *out = rest[0] == '+' ? secs - off : secs + off;
    return true;
  }
  return false;
}

// The `[default]` profile of an AWS shared credentials file (the first profile when there is
// no default).
absl::Status ParseAuth(std::string_view source, const Node& n, const std::string& path, BackendAuth* auth) {
  if (!n.is_map()) return Bad(source, n, path, "must be a map");
  int kinds = 0;
  const Node* override_node = nullptr;
  for (const auto& [k, v] : n.members) {
    std::string p = StrCat(path, ".", k);
    if (k == "credentialOverride") {
      override_node = &v;
      continue;
    }
    if (v.is_null()) continue;
    if (!v.is_map()) return Bad(source, v, p, "must be a map");
    std::string key;
    if (k == "apiKey" || k == "anthropicAPIKey" || k == "azureAPIKey") {
      ++kinds;
      absl::Status st = GetString(source, v, "key", p + ".", &key);
      if (!st.ok()) return st;
      key = std::string(StripWhitespace(key));
      if (key.empty()) return Bad(source, v, p + ".key", "is required");
      auth->key = key;
      auth->type = k == "apiKey" ? BackendAuth::Type::kAPIKey
                   : k == "anthropicAPIKey" ? BackendAuth::Type::kAnthropicAPIKey
                                            : BackendAuth::Type::kAzureAPIKey;
    } else if (k == "azure") {
      ++kinds;
      auth->type = BackendAuth::Type::kAzureToken;
      absl::Status st = GetString(source, v, "accessToken", p + ".", &auth->azure_access_token);
      if (!st.ok()) return st;
      if (auth->azure_access_token.empty()) return Bad(source, v, p + ".accessToken", "is required");
    } else if (k == "gcp") {
      ++kinds;
      auth->type = BackendAuth::Type::kGCP;
      for (auto [f, dst] : {std::pair{"accessToken", &auth->gcp_access_token},
                            std::pair{"region", &auth->gcp_region},
                            std::pair{"projectName", &auth->gcp_project}}) {
        absl::Status st = GetString(source, v, f, p + ".", dst);
        if (!st.ok()) return st;
      }
      // As Envoy AI Gateway's ext_proc: no token means Application Default Credentials.
      auth->gcp_default_credentials = StripWhitespace(auth->gcp_access_token).empty();
      if (auth->gcp_region.empty() || auth->gcp_project.empty()) {
        return Bad(source, v, p, "region and projectName are required");
      }
    } else if (k == "aws") {
      ++kinds;
      auth->type = BackendAuth::Type::kAWS;
      std::string creds;
      absl::Status st = GetString(source, v, "credentialFileLiteral", p + ".", &creds);
      if (st.ok()) st = GetString(source, v, "region", p + ".", &auth->aws_region);
      if (!st.ok()) return st;
      if (auth->aws_region.empty()) return Bad(source, v, p + ".region", "is required");
      if (creds.empty()) {
        // As Envoy AI Gateway's ext_proc: the AWS SDK default credential chain.
        auth->aws_credential_chain = true;
      } else if (!ParseAwsCredentialsFile(creds, "", auth)) {
        return Bad(source, v, p + ".credentialFileLiteral",
                   "needs aws_access_key_id and aws_secret_access_key");
      }
    } else {
      return Bad(source, v, p, "unknown auth kind");
    }
  }
  if (kinds > 1) return Bad(source, n, path, "exactly one auth kind may be set");
  if (override_node != nullptr && !override_node->is_null()) {
    // {headerName | dynamicMetadataNamespace + dynamicMetadataKey, fallbackToConfigured,
    // inputHeadersToRemove}: Envoy AI Gateway's controller resolved the defaults already.
    const std::string p = StrCat(path, ".credentialOverride");
    const Node& o = *override_node;
    if (!o.is_map()) return Bad(source, o, p, "must be a map");
    if (kinds == 0) return Bad(source, o, p, "needs an auth kind to override");
    CredentialOverride co;
    for (auto [f, dst] : {std::pair{"headerName", &co.header}, std::pair{"dynamicMetadataNamespace", &co.metadata_namespace},
                          std::pair{"dynamicMetadataKey", &co.metadata_key}}) {
      absl::Status st = GetString(source, o, f, p + ".", dst);
      if (!st.ok()) return st;
    }
    co.header = http::ToLower(co.header);
    if (co.header.empty() == co.metadata_key.empty()) {
      return Bad(source, o, p, "set headerName, or dynamicMetadataNamespace and dynamicMetadataKey");
    }
    // A plain bool in Envoy AI Gateway's filterapi: absent means false (the CRD's default of
    // true is applied by its controller before it writes this file).
    co.fallback_to_configured = false;
    if (const Node* f = o.Find("fallbackToConfigured"); f && !f->is_null()) {
      if (!f->is_scalar() || (f->scalar != "true" && f->scalar != "false")) {
        return Bad(source, *f, p + ".fallbackToConfigured", "must be true or false");
      }
      co.fallback_to_configured = f->scalar == "true";
    }
    if (const Node* rm = o.Find("inputHeadersToRemove"); rm && rm->is_seq()) {
      for (const Node& h : rm->items) {
        if (!h.is_scalar()) return Bad(source, h, p + ".inputHeadersToRemove", "must be strings");
        co.input_headers.push_back(http::ToLower(h.scalar));
      }
    } else if (!co.header.empty()) {
      co.input_headers = OverrideInputHeaders(auth->type, co.header);
    }
    for (const std::string& h : co.input_headers) {
      if (!OverrideHeaderAllowed(h)) {
        return Bad(source, o, p, StrCat("\"", h, "\" cannot carry a credential (a reserved or invalid header name)"));
      }
    }
    auth->credential_override = std::move(co);
  }
  return absl::OkStatus();
}

absl::Status ParseHeaderMutation(std::string_view source, const Node& n, const std::string& path,
                                 http::HeaderMutation* out) {
  if (n.is_null()) return absl::OkStatus();
  if (!n.is_map()) return Bad(source, n, path, "must be a map");
  if (const Node* set = n.Find("set"); set != nullptr && !set->is_null()) {
    if (!set->is_seq()) return Bad(source, *set, path + ".set", "must be a list");
    for (const Node& e : set->items) {
      std::string name, value;
      absl::Status st = GetString(source, e, "name", path + ".set[].", &name);
      if (st.ok()) st = GetString(source, e, "value", path + ".set[].", &value);
      if (!st.ok()) return st;
      if (name.empty()) return Bad(source, e, path + ".set[].name", "is required");
      out->set.emplace_back(http::ToLower(name), value);
    }
  }
  if (const Node* rm = n.Find("remove"); rm != nullptr && !rm->is_null()) {
    if (!rm->is_seq()) return Bad(source, *rm, path + ".remove", "must be a list");
    for (const Node& e : rm->items) {
      if (!e.is_scalar()) return Bad(source, e, path + ".remove[]", "must be a string");
      out->remove.push_back(http::ToLower(e.scalar));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseBodyMutation(std::string_view source, const Node& n, const std::string& path,
                               BodyMutation* out) {
  if (n.is_null()) return absl::OkStatus();
  if (!n.is_map()) return Bad(source, n, path, "must be a map");
  if (const Node* set = n.Find("set"); set != nullptr && !set->is_null()) {
    if (!set->is_seq()) return Bad(source, *set, path + ".set", "must be a list");
    for (const Node& e : set->items) {
      std::string field, value;
      absl::Status st = GetString(source, e, "path", path + ".set[].", &field);
      if (st.ok()) st = GetString(source, e, "value", path + ".set[].", &value);
      if (!st.ok()) return st;
      if (field.empty()) return Bad(source, e, path + ".set[].path", "is required");
      out->set.emplace_back(field, value);
    }
  }
  if (const Node* rm = n.Find("remove"); rm != nullptr && !rm->is_null()) {
    if (!rm->is_seq()) return Bad(source, *rm, path + ".remove", "must be a list");
    for (const Node& e : rm->items) {
      if (!e.is_scalar()) return Bad(source, e, path + ".remove[]", "must be a string");
      out->remove.push_back(e.scalar);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseCosts(std::string_view source, const Node* list, std::string_view field, bool route_scoped,
                        std::vector<LlmRequestCost>* out) {
  if (list == nullptr || list->is_null()) return absl::OkStatus();
  if (!list->is_seq()) return Bad(source, *list, field, "must be a list");
  for (const Node& e : list->items) {
    std::string path = StrCat(field, "[]");
    LlmRequestCost c;
    std::string type;
    for (auto [f, dst] : {std::pair{"metadataKey", &c.metadata_key}, std::pair{"type", &type},
                          std::pair{"cel", &c.cel}, std::pair{"routeName", &c.route_name},
                          std::pair{"backend", &c.backend}, std::pair{"model", &c.model}}) {
      absl::Status st = GetString(source, e, f, path + ".", dst);
      if (!st.ok()) return st;
    }
    if (c.metadata_key.empty()) return Bad(source, e, path + ".metadataKey", "is required");
    if (!ParseLlmRequestCostType(type, &c.type)) {
      return Bad(source, e, path + ".type", StrCat("unknown cost type \"", type, "\""));
    }
    if (c.type == LlmRequestCost::Type::kCEL) {
      if (c.cel.empty()) return Bad(source, e, path + ".cel", "is required for type CEL");
      auto program = cel::CostProgram::Compile(c.cel);
      if (!program.ok()) {
        const Node* at = e.Find("cel");
        return Bad(source, at != nullptr ? *at : e, path + ".cel", std::string(program.status().message()));
      }
      c.program = *std::move(program);
    }
    if (route_scoped && c.route_name.empty()) return Bad(source, e, path + ".routeName", "is required");
    if (!route_scoped) c.route_name.clear();
    out->push_back(std::move(c));
  }
  return absl::OkStatus();
}

absl::Status ParseModels(std::string_view source, const Node* list, std::vector<Model>* out) {
  if (list == nullptr || list->is_null()) return absl::OkStatus();
  if (!list->is_seq()) return Bad(source, *list, "models", "must be a list");
  for (const Node& e : list->items) {
    Model m;
    std::string created;
    absl::Status st = GetString(source, e, "Name", "models[].", &m.id);
    if (st.ok()) st = GetString(source, e, "OwnedBy", "models[].", &m.owned_by);
    if (st.ok()) st = GetString(source, e, "CreatedAt", "models[].", &created);
    if (!st.ok()) return st;
    if (m.id.empty()) return Bad(source, e, "models[].Name", "is required");
    if (!ParseTime(created, &m.created)) {
      return Bad(source, e, "models[].CreatedAt", "must be an RFC 3339 time");
    }
    out->push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return absl::NotFoundError(StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

BackendNameParts SplitBackendName(std::string_view name) {
  BackendNameParts p;
  p.short_name = std::string(name);
  // {ns}/{aisb}/route/{route}/rule/{i}/ref/{j}
  std::vector<std::string_view> seg;
  size_t start = 0;
  while (true) {
    size_t slash = name.find('/', start);
    seg.push_back(name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (seg.size() == 8 && seg[2] == "route" && seg[4] == "rule" && seg[6] == "ref") {
    p.short_name = StrCat(seg[0], "/", seg[1]);
    p.route_name = StrCat(seg[0], "/", seg[3]);
  }
  return p;
}

absl::StatusOr<FilterConfig> ParseFilterConfig(std::string_view text, std::string_view source,
                                               std::string_view expected_version) {
  auto docs = yaml::LoadAll(text);
  if (!docs.ok()) return absl::InvalidArgumentError(StrCat(source, ": ", docs.status().message()));
  if (docs->size() != 1) {
    return absl::InvalidArgumentError(StrCat(source, ": expected one YAML document, found ", docs->size()));
  }
  const Node& root = (*docs)[0];
  if (!root.is_map()) return Bad(source, root, "(root)", "must be a map");
  FilterConfig fc;
  absl::Status st = GetString(source, root, "version", "", &fc.version);
  if (st.ok()) st = GetString(source, root, "uuid", "", &fc.uuid);
  if (!st.ok()) return st;
  if (!expected_version.empty() && fc.version != expected_version) {
    return absl::InvalidArgumentError(StrCat(source, ": config version mismatch: \"", fc.version,
                                             "\", expected \"", expected_version,
                                             "\" (a rolling update in progress?)"));
  }
  for (const char* ignored : {"mcpConfig", "modelsByHost", "unscopedModels"}) {
    const Node* n = root.Find(ignored);
    if (n != nullptr && !n->is_null()) fc.warnings.push_back(StrCat(ignored, ": not supported; ignored"));
  }
  st = ParseCosts(source, root.Find("globalLLMRequestCosts"), "globalLLMRequestCosts", false,
                  &fc.costs.global);
  if (st.ok()) st = ParseCosts(source, root.Find("llmRequestCosts"), "llmRequestCosts", true,
                               &fc.costs.route);
  if (st.ok()) st = ParseModels(source, root.Find("models"), &fc.config.models);
  if (!st.ok()) return st;

  Config& cfg = fc.config;
  cfg.source = std::string(source);
  Route route;
  route.name = "filterapi";
  if (const Node* backends = root.Find("backends"); backends != nullptr && !backends->is_null()) {
    if (!backends->is_seq()) return Bad(source, *backends, "backends", "must be a list");
    for (const Node& e : backends->items) {
      if (!e.is_map()) return Bad(source, e, "backends[]", "must be a map");
      Backend b;
      std::string override_model;
      st = GetString(source, e, "name", "backends[].", &b.name);
      if (st.ok()) st = GetString(source, e, "modelNameOverride", "backends[].", &override_model);
      if (!st.ok()) return st;
      if (b.name.empty()) return Bad(source, e, "backends[].name", "is required");
      for (const Backend& other : cfg.backends) {
        if (other.name == b.name) return Bad(source, e, "backends[].name", StrCat("duplicate \"", b.name, "\""));
      }
      std::string path = StrCat("backends[", b.name, "]");
      const Node* schema = e.Find("schema");
      if (schema == nullptr || !schema->is_map()) return Bad(source, e, path + ".schema", "is required");
      std::string schema_name, prefix;
      st = GetString(source, *schema, "name", path + ".schema.", &schema_name);
      if (st.ok()) st = GetString(source, *schema, "version", path + ".schema.", &b.schema_version);
      if (st.ok()) st = GetString(source, *schema, "prefix", path + ".schema.", &prefix);
      if (!st.ok()) return st;
      if (!ParseSchemaName(schema_name, &b.schema)) {
        return Bad(source, *schema, path + ".schema.name", StrCat("unknown schema \"", schema_name, "\""));
      }
      if (!prefix.empty()) {
        while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
        b.schema_prefix = prefix;
      }
      if (const Node* auth = e.Find("auth"); auth != nullptr && !auth->is_null()) {
        st = ParseAuth(source, *auth, path + ".auth", &b.auth);
        if (!st.ok()) return st;
      }
      if (const Node* hm = e.Find("httpHeaderMutation"); hm != nullptr) {
        st = ParseHeaderMutation(source, *hm, path + ".httpHeaderMutation", &b.header_mutation);
        if (!st.ok()) return st;
      }
      if (const Node* bm = e.Find("httpBodyMutation"); bm != nullptr) {
        st = ParseBodyMutation(source, *bm, path + ".httpBodyMutation", &b.body_mutation);
        if (!st.ok()) return st;
      }
      // Envoy owns the clusters; the ext_proc never connects, but the pipeline wants a host.
      b.endpoints.push_back(Endpoint{kPlaceholderHost, 443});
      b.tls.enabled = true;

      Rule rule;
      rule.name = b.name;
      HeaderMatch m;
      m.type = HeaderMatch::Type::kExact;
      m.name = kBackendHeader;
      m.value = b.name;
      rule.matches.push_back({m});
      BackendRef ref;
      ref.backend = cfg.backends.size();
      ref.model_name_override = override_model;
      rule.backend_refs.push_back(ref);
      route.rules.push_back(std::move(rule));
      cfg.backends.push_back(std::move(b));
    }
  }
  cfg.routes.push_back(std::move(route));
  return fc;
}

absl::StatusOr<FilterConfig> LoadFilterConfig(const std::string& path, std::string_view expected_version) {
  std::string index_path = path + "/index.yaml";
  std::ifstream probe(index_path);
  if (!probe.good()) {
    auto text = ReadWholeFile(path);
    if (!text.ok()) return text.status();
    return ParseFilterConfig(*text, path, expected_version);
  }
  // Bundle directory.
  auto index_text = ReadWholeFile(index_path);
  if (!index_text.ok()) return index_text.status();
  auto docs = yaml::LoadAll(*index_text);
  if (!docs.ok()) return absl::InvalidArgumentError(StrCat(index_path, ": ", docs.status().message()));
  if (docs->size() != 1 || !(*docs)[0].is_map()) {
    return absl::InvalidArgumentError(StrCat(index_path, ": expected one map"));
  }
  const Node& index = (*docs)[0];
  std::string checksum;
  absl::Status st = GetString(index_path, index, "checksum", "", &checksum);
  if (!st.ok()) return st;
  const Node* parts = index.Find("parts");
  if (parts == nullptr || !parts->is_seq() || parts->items.empty()) {
    return Bad(index_path, index, "parts", "a non-empty list is required");
  }
  std::string all;
  for (const Node& p : parts->items) {
    std::string rel, name, size;
    st = GetString(index_path, p, "path", "parts[].", &rel);
    if (st.ok()) st = GetString(index_path, p, "name", "parts[].", &name);
    if (st.ok()) st = GetString(index_path, p, "sizeBytes", "parts[].", &size);
    if (!st.ok()) return st;
    if (rel.empty()) rel = name.empty() ? "" : "parts/" + name;
    if (rel.empty()) return Bad(index_path, p, "parts[].path", "is required");
    if (rel.front() == '/' || rel.find("..") != std::string::npos) {
      return Bad(index_path, p, "parts[].path", "must be relative to the bundle directory");
    }
    auto part = ReadWholeFile(path + "/" + rel);
    if (!part.ok()) return part.status();
    int64_t want = 0;
    if (!size.empty() && (!ParseInt(size, &want) || want != static_cast<int64_t>(part->size()))) {
      return absl::DataLossError(StrCat(path, ": part ", rel, " has ", part->size(), " bytes, index says ", size));
    }
    all += *part;
  }
  if (checksum.empty()) return Bad(index_path, index, "checksum", "is required");
  std::string got = crypto::Sha256Hex(all);
  std::string want = http::ToLower(checksum);
  if (want.rfind("sha256:", 0) == 0) want = want.substr(7);
  if (got != want) {
    return absl::DataLossError(StrCat(path, ": checksum mismatch (index ", checksum, ", parts ", got,
                                      "): a partial update?"));
  }
  auto fc = ParseFilterConfig(all, path, expected_version);
  if (!fc.ok()) return fc.status();
  std::string version, uuid;
  (void)GetString(index_path, index, "version", "", &version);
  (void)GetString(index_path, index, "uuid", "", &uuid);
  if (fc->uuid.empty()) fc->uuid = uuid;
  if (fc->version.empty()) fc->version = version;
  return fc;
}

std::vector<const LlmRequestCost*> CostsFor(const LlmRequestCosts& costs, std::string_view route_name,
                                            std::string_view short_backend, std::string_view model) {
  std::vector<const LlmRequestCost*> out;
  auto has_key = [&out](const std::string& key) {
    for (const auto* c : out) {
      if (c->metadata_key == key) return true;
    }
    return false;
  };
  for (const auto& c : costs.route) {
    if (c.route_name != route_name) continue;
    if (!c.backend.empty() && c.backend != short_backend) continue;
    if (!c.model.empty() && c.model != model) continue;
    if (!has_key(c.metadata_key)) out.push_back(&c);
  }
  for (const auto& c : costs.global) {
    if (!has_key(c.metadata_key)) out.push_back(&c);
  }
  return out;
}

}  // namespace sluice::config
