// examples/istio/ and examples/envoy-gateway/ checked as far as they can be without a cluster:
// - the ext_proc typed_config (and the listener / cluster patches) in the Istio EnvoyFilter
//   parsed as Envoy's real messages (envoy.extensions.filters.http.ext_proc.v3.
//   ExternalProcessor, envoy.config.listener.v3.Listener, envoy.config.cluster.v3.Cluster),
//   strictly, with the settings sluice's router-level driver needs;
// - the EnvoyExtensionPolicy's extProc entry restricted to the fields Envoy Gateway documents,
//   translated the way Envoy Gateway does (reference/envoy-ext-proc.md §6.1) and parsed as an
//   ExternalProcessor;
// - the wiring between the manifests: the Istio ext_proc cluster name and the policy's
//   backendRef name the sluice-extproc Service and its port, the Deployment runs
//   `sluice extproc` on that port, and the HTTPRoutes' x-ai-eg-selected-backend values are
//   exactly the AIServiceBackends of the resources in the ConfigMap, which load without errors.
// Kubernetes/Istio/Envoy Gateway schemas themselves are not checked. The Envoy schema comes
// from @grpc/grpc-js-xds (see CMakeLists.txt); without it the Envoy-message parts skip.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <cstdio>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "compiler/resources/diagnostic.h"
#include "compiler/resources/resources.h"
#include "extproc/extproc_test_util.h"
#include "extproc/processor.h"
#include "extproc/yaml_json_test_util.h"
#include "gtest/gtest.h"
#include "yaml/yaml.h"

namespace sluice::extproc {
namespace {

namespace gp = google::protobuf;

using test::AppendJson;

std::string Json(const yaml::Node& n) {
  std::string s;
  AppendJson(n, &s);
  return s;
}

// Follows a path of map keys and sequence indexes ("spec.configPatches.0.patch").
const yaml::Node* At(const yaml::Node* n, const std::string& path) {
  size_t start = 0;
  while (n && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (n->is_seq() && !part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      size_t i = std::stoul(part);
      n = i < n->items.size() ? &n->items[i] : nullptr;
    } else {
      n = n->Find(part);
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return n;
}

std::string Str(const yaml::Node* n, const std::string& path) {
  const yaml::Node* v = At(n, path);
  return v && v->is_scalar() ? v->scalar : "";
}

// All documents of a folder's manifests, in kubectl's (file name) order.
std::vector<yaml::Node> LoadFolder(const std::string& folder, const std::vector<std::string>& files) {
  std::vector<yaml::Node> out;
  for (const auto& f : files) {
    auto docs = yaml::LoadAll(test::ReadTestdata(folder + "/" + f));
    EXPECT_TRUE(docs.ok()) << f << ": " << docs.status();
    if (!docs.ok()) continue;
    for (auto& d : *docs) {
      if (!d.is_null()) out.push_back(std::move(d));
    }
  }
  return out;
}

std::vector<const yaml::Node*> OfKind(const std::vector<yaml::Node>& docs, const std::string& kind) {
  std::vector<const yaml::Node*> out;
  for (const auto& d : docs) {
    if (Str(&d, "kind") == kind) out.push_back(&d);
  }
  return out;
}

const yaml::Node* One(const std::vector<yaml::Node>& docs, const std::string& kind) {
  auto all = OfKind(docs, kind);
  EXPECT_EQ(all.size(), 1u) << kind;
  return all.size() == 1 ? all[0] : nullptr;
}

const std::vector<std::string> kIstioFiles = {"00-namespace.yaml", "10-sluice-extproc.yaml", "20-providers.yaml",
                                              "30-gateway.yaml", "40-envoyfilter.yaml"};
const std::vector<std::string> kEGFiles = {"00-namespace.yaml", "10-sluice-extproc.yaml", "20-backends.yaml",
                                           "30-gateway.yaml", "40-extension-policy.yaml"};

// The sluice extproc Deployment / Service / ConfigMap pieces both folders share; returns the
// Service's namespace and checks the rest.
void CheckSluiceWorkload(const std::vector<yaml::Node>& docs, std::string* ns) {
  const yaml::Node* svc = One(docs, "Service");
  const yaml::Node* dep = One(docs, "Deployment");
  ASSERT_TRUE(svc && dep);
  EXPECT_EQ(Str(svc, "metadata.name"), "sluice-extproc");
  *ns = Str(svc, "metadata.namespace");
  EXPECT_FALSE(ns->empty());
  EXPECT_EQ(Str(svc, "spec.ports.0.name"), "grpc");
  EXPECT_EQ(Str(svc, "spec.ports.0.appProtocol"), "grpc");
  EXPECT_EQ(Str(svc, "spec.ports.0.port"), "1063");
  EXPECT_EQ(Str(dep, "metadata.namespace"), *ns);
  const yaml::Node* c = At(dep, "spec.template.spec.containers.0");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Json(*At(c, "args")), R"(["extproc","-f","/etc/sluice/resources.yaml","--listen","0.0.0.0:1063"])");
  EXPECT_EQ(Str(c, "readinessProbe.grpc.port"), "1063");
  EXPECT_EQ(Str(c, "readinessProbe.grpc.service"), "readiness");
  EXPECT_EQ(Str(c, "volumeMounts.0.mountPath"), "/etc/sluice");
  // The Service selects the Deployment's pods.
  EXPECT_EQ(Json(*At(svc, "spec.selector")), Json(*At(dep, "spec.template.metadata.labels")));
}

// The resources in the ConfigMap load without errors; returns their AIServiceBackends as
// "namespace/name" (the x-ai-eg-selected-backend values sluice sets).
std::set<std::string> ConfigMapBackends(const std::vector<yaml::Node>& docs) {
  const yaml::Node* cm = One(docs, "ConfigMap");
  const yaml::Node* data = cm ? At(cm, "data") : nullptr;
  const yaml::Node* file = data ? data->Find("resources.yaml") : nullptr;  // a key with a dot
  std::string text = file && file->is_scalar() ? file->scalar : "";
  EXPECT_FALSE(text.empty());
  compiler::ResourceSet set;
  compiler::Diagnostics diags;
  compiler::ParseResources(text, "configmap:resources.yaml", &set, &diags);
  compiler::BuildOptions opts;
  opts.env = [](const std::string& name, std::string* value) {
    *value = "sk-test-" + name;  // the keys come from the sluice-provider-keys Secret
    return name == "OPENAI_API_KEY" || name == "ANTHROPIC_API_KEY";
  };
  compiler::BuildConfig(set, opts, &diags);
  for (const auto& d : diags.items) {
    EXPECT_NE(d.severity, compiler::Diagnostic::Severity::kError) << compiler::Format(d);
    EXPECT_NE(d.severity, compiler::Diagnostic::Severity::kUnsupported) << compiler::Format(d);
  }
  std::set<std::string> out;
  for (const auto& r : set.items) {
    if (r.kind == "AIServiceBackend") out.insert(r.ns + "/" + r.name);
  }
  EXPECT_EQ(out.size(), 2u);
  return out;
}

// x-ai-eg-selected-backend values matched by the HTTPRoutes, each rule with a backendRef.
std::set<std::string> RoutedBackends(const std::vector<yaml::Node>& docs) {
  std::set<std::string> out;
  for (const yaml::Node* route : OfKind(docs, "HTTPRoute")) {
    const yaml::Node* rules = At(route, "spec.rules");
    if (!rules) continue;
    for (const auto& rule : rules->items) {
      const yaml::Node* matches = rule.Find("matches");
      if (!matches) continue;
      for (const auto& m : matches->items) {
        const yaml::Node* headers = m.Find("headers");
        if (!headers) continue;
        for (const auto& h : headers->items) {
          if (Str(&h, "name") != kSelectedBackendHeader) continue;
          out.insert(Str(&h, "value"));
          EXPECT_NE(rule.Find("backendRefs"), nullptr) << Str(&h, "value");
        }
      }
    }
  }
  return out;
}

class K8sExamplesTest : public ::testing::Test {
 protected:
  // Loads the Envoy descriptor set; false (test skipped) without it.
  bool LoadEnvoySchema() {
    std::ifstream in(SLUICE_ENVOY_CONFIG_DESC, std::ios::binary);
    if (!in) return false;
    gp::FileDescriptorSet set;
    EXPECT_TRUE(set.ParseFromIstream(&in));
    for (const auto& f : set.file()) EXPECT_NE(pool_.BuildFile(f), nullptr) << f.name();
    resolver_.reset(gp::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &pool_));
    return true;
  }

  // Parses JSON as `type` (a full name), strictly; returns the error, or "" and the canonical
  // re-print (proto field names) in `canonical`.
  std::string Parse(const std::string& type, const std::string& json, std::string* canonical) {
    const std::string url = "type.googleapis.com/" + type;
    std::string binary;
    auto st = gp::util::JsonToBinaryString(resolver_.get(), url, json, &binary, gp::util::JsonParseOptions());
    if (!st.ok()) return st.ToString();
    gp::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    st = gp::util::BinaryToJsonString(resolver_.get(), url, binary, canonical, print);
    return st.ok() ? "" : st.ToString();
  }

  void ExpectRouterLevelSettings(const std::string& json, bool with_mutation_rules) {
    for (const char* want : {R"("request_header_mode":"SEND")", R"("request_body_mode":"BUFFERED")",
                             R"("response_header_mode":"SEND")", R"("response_body_mode":"BUFFERED")",
                             R"("allow_mode_override":true)", R"("untyped":["io.envoy.ai_gateway"])"}) {
      EXPECT_NE(json.find(want), std::string::npos) << want << " in " << json;
    }
    EXPECT_EQ(json.find("request_attributes"), std::string::npos) << json;
    EXPECT_EQ(json.find("failure_mode_allow\":true"), std::string::npos) << json;
    if (with_mutation_rules) {
      EXPECT_NE(json.find(R"("allow_all_routing":true)"), std::string::npos) << json;
    }
  }

  gp::DescriptorPool pool_;
  std::unique_ptr<gp::util::TypeResolver> resolver_;
};

TEST_F(K8sExamplesTest, IstioWiring) {
  auto docs = LoadFolder("examples/istio", kIstioFiles);
  std::string ns;
  CheckSluiceWorkload(docs, &ns);
  EXPECT_EQ(ConfigMapBackends(docs), RoutedBackends(docs));
  const yaml::Node* gw = One(docs, "Gateway");
  ASSERT_NE(gw, nullptr);
  EXPECT_EQ(Str(gw, "spec.gatewayClassName"), "istio");
  // Every HTTPRoute backendRef is a ServiceEntry host with a SIMPLE-TLS DestinationRule.
  std::set<std::string> entries, tls;
  for (const yaml::Node* se : OfKind(docs, "ServiceEntry")) entries.insert(Str(se, "spec.hosts.0"));
  for (const yaml::Node* dr : OfKind(docs, "DestinationRule")) {
    if (Str(dr, "spec.trafficPolicy.tls.mode") == "SIMPLE" &&
        Str(dr, "spec.trafficPolicy.tls.sni") == Str(dr, "spec.host")) {
      tls.insert(Str(dr, "spec.host"));
    }
  }
  for (const yaml::Node* route : OfKind(docs, "HTTPRoute")) {
    for (const auto& rule : At(route, "spec.rules")->items) {
      for (const auto& ref : rule.Find("backendRefs")->items) {
        EXPECT_EQ(Str(&ref, "kind"), "Hostname");
        EXPECT_EQ(entries.count(Str(&ref, "name")), 1u) << Str(&ref, "name");
        EXPECT_EQ(tls.count(Str(&ref, "name")), 1u) << Str(&ref, "name");
      }
    }
  }
  const yaml::Node* ef = One(docs, "EnvoyFilter");
  ASSERT_NE(ef, nullptr);
  EXPECT_EQ(Str(ef, "metadata.namespace"), Str(gw, "metadata.namespace"));
  EXPECT_EQ(Str(ef, "spec.targetRefs.0.kind"), "Gateway");
  EXPECT_EQ(Str(ef, "spec.targetRefs.0.name"), Str(gw, "metadata.name"));
}

TEST_F(K8sExamplesTest, IstioEnvoyFilterParsesAsEnvoyConfig) {
  if (!LoadEnvoySchema()) GTEST_SKIP() << "no Envoy descriptor set";
  auto docs = LoadFolder("examples/istio", kIstioFiles);
  const yaml::Node* ef = One(docs, "EnvoyFilter");
  ASSERT_NE(ef, nullptr);
  const yaml::Node* patches = At(ef, "spec.configPatches");
  ASSERT_NE(patches, nullptr);
  int filters = 0;
  for (const auto& p : patches->items) {
    const std::string apply = Str(&p, "applyTo");
    EXPECT_EQ(Str(&p, "match.context"), "GATEWAY");
    const yaml::Node* value = At(&p, "patch.value");
    ASSERT_NE(value, nullptr);
    std::string json;
    if (apply == "HTTP_FILTER") {
      ++filters;
      EXPECT_EQ(Str(&p, "patch.operation"), "INSERT_BEFORE");
      EXPECT_EQ(Str(&p, "match.listener.filterChain.filter.name"), "envoy.filters.network.http_connection_manager");
      EXPECT_EQ(Str(&p, "match.listener.filterChain.filter.subFilter.name"), "envoy.filters.http.router");
      EXPECT_EQ(Str(value, "name"), "envoy.filters.http.ext_proc");
      const yaml::Node* tc = value->Find("typed_config");
      ASSERT_NE(tc, nullptr);
      EXPECT_EQ(Str(tc, "@type"), "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor");
      // As an Any, so that "@type" picks the message and unknown fields are errors.
      ASSERT_EQ(Parse("google.protobuf.Any", Json(*tc), &json), "");
      ExpectRouterLevelSettings(json, /*with_mutation_rules=*/true);
      EXPECT_NE(json.find(R"("cluster_name":"outbound|1063||sluice-extproc.ai-gateway.svc.cluster.local")"),
                std::string::npos) << json;
    } else if (apply == "LISTENER") {
      ASSERT_EQ(Parse("envoy.config.listener.v3.Listener", Json(*value), &json), "");
      EXPECT_NE(json.find("per_connection_buffer_limit_bytes"), std::string::npos);
    } else if (apply == "CLUSTER") {
      ASSERT_EQ(Parse("envoy.config.cluster.v3.Cluster", Json(*value), &json), "");
      EXPECT_NE(json.find("per_connection_buffer_limit_bytes"), std::string::npos);
    } else {
      ADD_FAILURE() << "unexpected applyTo " << apply;
    }
  }
  EXPECT_EQ(filters, 1);

  // The cluster name is Istio's for the Service (outbound|<port>||<name>.<ns>.svc.cluster.local).
  std::string ns;
  CheckSluiceWorkload(docs, &ns);
  EXPECT_EQ(Str(ef, "spec.configPatches.0.patch.value.typed_config.grpc_service.envoy_grpc.cluster_name"),
            "outbound|1063||sluice-extproc." + ns + ".svc.cluster.local");

  // A misspelt field is caught.
  std::string tc = Json(*At(ef, "spec.configPatches.0.patch.value.typed_config"));
  tc.replace(tc.find("allow_mode_override"), 19, "allow_mode_overide");
  std::string reprinted;
  EXPECT_NE(Parse("google.protobuf.Any", tc, &reprinted), "");
}

TEST_F(K8sExamplesTest, EnvoyGatewayWiring) {
  auto docs = LoadFolder("examples/envoy-gateway", kEGFiles);
  std::string ns;
  CheckSluiceWorkload(docs, &ns);
  EXPECT_EQ(ConfigMapBackends(docs), RoutedBackends(docs));
  const yaml::Node* gw = One(docs, "Gateway");
  const yaml::Node* gc = One(docs, "GatewayClass");
  ASSERT_TRUE(gw && gc);
  EXPECT_EQ(Str(gw, "spec.gatewayClassName"), Str(gc, "metadata.name"));
  EXPECT_EQ(Str(gc, "spec.controllerName"), "gateway.envoyproxy.io/gatewayclass-controller");
  // Route backendRefs are Backends with a BackendTLSPolicy for their host.
  std::set<std::string> backends, tls;
  for (const yaml::Node* b : OfKind(docs, "Backend")) backends.insert(Str(b, "metadata.name"));
  for (const yaml::Node* p : OfKind(docs, "BackendTLSPolicy")) {
    EXPECT_EQ(Str(p, "spec.validation.wellKnownCACertificates"), "System");
    tls.insert(Str(p, "spec.targetRefs.0.name"));
  }
  EXPECT_EQ(backends, tls);
  for (const yaml::Node* route : OfKind(docs, "HTTPRoute")) {
    for (const auto& rule : At(route, "spec.rules")->items) {
      const yaml::Node* refs = rule.Find("backendRefs");
      if (!refs) continue;
      for (const auto& ref : refs->items) {
        EXPECT_EQ(Str(&ref, "kind"), "Backend");
        EXPECT_EQ(backends.count(Str(&ref, "name")), 1u) << Str(&ref, "name");
      }
    }
  }
  const yaml::Node* pol = One(docs, "EnvoyExtensionPolicy");
  ASSERT_NE(pol, nullptr);
  EXPECT_EQ(Str(pol, "metadata.namespace"), ns);
  EXPECT_EQ(Str(pol, "spec.targetRefs.0.kind"), "Gateway");
  EXPECT_EQ(Str(pol, "spec.targetRefs.0.name"), Str(gw, "metadata.name"));
  EXPECT_EQ(Str(pol, "spec.extProc.0.backendRefs.0.name"), "sluice-extproc");
  EXPECT_EQ(Str(pol, "spec.extProc.0.backendRefs.0.port"), "1063");
}

// Envoy Gateway's translation of an extProc entry (reference/envoy-ext-proc.md §6.1), for the
// fields this example uses; anything else is an error, so a misspelt key fails here.
std::string TranslateExtProc(const yaml::Node& e, std::string* error) {
  static const std::set<std::string> kFields = {"backendRefs", "backendSettings", "messageTimeout", "failOpen",
                                                "processingMode", "metadata", "shadowMode", "statusOnError"};
  for (const auto& [k, v] : e.members) {
    if (!kFields.count(k)) *error += "unknown extProc field " + k + "; ";
  }
  std::string mode;
  auto phase = [&](const char* name, const char* prefix) {
    const yaml::Node* p = At(&e, std::string("processingMode.") + name);
    std::string header = p ? "SEND" : "SKIP", body = "NONE";
    if (p) {
      for (const auto& [k, v] : p->members) {
        if (k != "body" && k != "attributes") *error += std::string("unknown processingMode.") + name + " field " + k + "; ";
      }
      static const std::map<std::string, std::string> kBody = {
          {"Streamed", "STREAMED"}, {"Buffered", "BUFFERED"}, {"BufferedPartial", "BUFFERED_PARTIAL"}};
      std::string b = Str(p, "body");
      if (!b.empty()) {
        auto it = kBody.find(b);
        if (it == kBody.end()) *error += "unknown body mode " + b + "; ";
        else body = it->second;
      }
    }
    if (!mode.empty()) mode += ",";
    mode += std::string("\"") + prefix + "_header_mode\":\"" + header + "\",\"" + prefix + "_body_mode\":\"" + body + "\"";
  };
  if (const yaml::Node* pm = e.Find("processingMode")) {
    for (const auto& [k, v] : pm->members) {
      if (k != "request" && k != "response" && k != "allowModeOverride") *error += "unknown processingMode field " + k + "; ";
    }
  }
  phase("request", "request");
  phase("response", "response");
  std::string json = "{\"grpc_service\":{\"envoy_grpc\":{\"cluster_name\":\"extproc\"},\"timeout\":\"10s\"}";
  json += ",\"processing_mode\":{" + mode + "}";
  if (std::string t = Str(&e, "messageTimeout"); !t.empty()) json += ",\"message_timeout\":\"" + t + "\"";
  if (std::string f = Str(&e, "failOpen"); !f.empty()) json += ",\"failure_mode_allow\":" + f;
  if (std::string a = Str(&e, "processingMode.allowModeOverride"); !a.empty()) json += ",\"allow_mode_override\":" + a;
  if (const yaml::Node* md = e.Find("metadata")) {
    std::string opts;
    for (const auto& [k, v] : md->members) {
      std::string field = k == "accessibleNamespaces" ? "forwarding_namespaces"
                          : k == "writableNamespaces" ? "receiving_namespaces" : "";
      if (field.empty()) { *error += "unknown metadata field " + k + "; "; continue; }
      if (!opts.empty()) opts += ",";
      opts += "\"" + field + "\":{\"untyped\":" + Json(v) + "}";
    }
    json += ",\"metadata_options\":{" + opts + "}";
  }
  return json + "}";
}

TEST_F(K8sExamplesTest, EnvoyGatewayPolicyTranslatesToTheRouterLevelFilter) {
  if (!LoadEnvoySchema()) GTEST_SKIP() << "no Envoy descriptor set";
  auto docs = LoadFolder("examples/envoy-gateway", kEGFiles);
  const yaml::Node* pol = One(docs, "EnvoyExtensionPolicy");
  ASSERT_NE(pol, nullptr);
  const yaml::Node* list = At(pol, "spec.extProc");
  ASSERT_TRUE(list && list->items.size() == 1);
  std::string error;
  std::string filter = TranslateExtProc(list->items[0], &error);
  ASSERT_EQ(error, "");
  std::string json;
  ASSERT_EQ(Parse("envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", filter, &json), "") << filter;
  // Envoy Gateway has no mutation_rules: the routes rewrite the host (URLRewrite) instead.
  ExpectRouterLevelSettings(json, /*with_mutation_rules=*/false);
  for (const yaml::Node* route : OfKind(docs, "HTTPRoute")) {
    for (const auto& rule : At(route, "spec.rules")->items) {
      if (!rule.Find("backendRefs")) continue;
      EXPECT_EQ(Str(&rule, "filters.0.type"), "URLRewrite");
      EXPECT_FALSE(Str(&rule, "filters.0.urlRewrite.hostname").empty());
    }
  }
  // A misspelt key is caught.
  yaml::Node bad = list->items[0];
  for (auto& [k, v] : bad.members) {
    if (k == "processingMode") {
      for (auto& [k2, v2] : v.members) {
        if (k2 == "allowModeOverride") k2 = "allowModeOveride";
      }
    }
  }
  error.clear();
  TranslateExtProc(bad, &error);
  EXPECT_NE(error, "");
}

}  // namespace
}  // namespace sluice::extproc
