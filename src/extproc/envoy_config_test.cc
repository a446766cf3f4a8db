// examples/envoy/*.yaml parsed as Envoy's real envoy.config.bootstrap.v3.Bootstrap (with every
// typed_config Any resolved), so that a misspelt field fails here instead of failing Envoy at
// startup. The schema comes from @grpc/grpc-js-xds (see CMakeLists.txt); without node_modules
// the tests skip.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "extproc/extproc_test_util.h"
#include "extproc/processor.h"
#include "extproc/yaml_json_test_util.h"
#include "gtest/gtest.h"
#include "yaml/yaml.h"

namespace sluice::extproc {
namespace {

namespace gp = google::protobuf;

using test::AppendJson;

class EnvoyConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(SLUICE_ENVOY_CONFIG_DESC, std::ios::binary);
    if (!in) GTEST_SKIP() << "no Envoy descriptor set (node_modules/@grpc/grpc-js-xds missing at configure time)";
    gp::FileDescriptorSet set;
    ASSERT_TRUE(set.ParseFromIstream(&in));
    for (const auto& f : set.file()) ASSERT_NE(pool_.BuildFile(f), nullptr) << f.name();
    resolver_.reset(gp::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &pool_));
  }

  // Parses a bootstrap YAML text into a Bootstrap; returns the error, or "" and the message
  // re-printed as JSON in `canonical`.
  std::string Parse(const std::string& text, std::string* canonical = nullptr) {
    auto docs = yaml::LoadAll(text);
    if (!docs.ok()) return std::string(docs.status().message());
    if (docs->size() != 1) return "expected one YAML document";
    std::string json;
    AppendJson((*docs)[0], &json);
    std::string binary;
    const std::string type = "type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap";
    gp::util::JsonParseOptions strict;  // unknown fields are errors
    auto st = gp::util::JsonToBinaryString(resolver_.get(), type, json, &binary, strict);
    if (!st.ok()) return st.ToString();
    if (canonical) {
      gp::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      st = gp::util::BinaryToJsonString(resolver_.get(), type, binary, canonical, print);
      if (!st.ok()) return st.ToString();
    }
    return "";
  }

  gp::DescriptorPool pool_;
  std::unique_ptr<gp::util::TypeResolver> resolver_;
};

TEST_F(EnvoyConfigTest, RouterLevelExample) {
  std::string json;
  ASSERT_EQ(Parse(test::ReadTestdata("examples/envoy/router-level.yaml"), &json), "");
  // The settings the router-level driver relies on (processor.h) survived the parse.
  for (const char* want : {R"("request_body_mode":"BUFFERED")", R"("response_body_mode":"BUFFERED")",
                           R"("allow_mode_override":true)", R"("allow_all_routing":true)",
                           R"("untyped":["io.envoy.ai_gateway"])", R"("exact":"default/sim")",
                           R"("http2_protocol_options":{})", R"("path":"/tmp/sluice-extproc.sock")"}) {
    EXPECT_NE(json.find(want), std::string::npos) << want;
  }
  EXPECT_NE(json.find(std::string("\"name\":\"") + kSelectedBackendHeader + "\""), std::string::npos);
}

TEST_F(EnvoyConfigTest, TwoFilterExample) {
  std::string json;
  ASSERT_EQ(Parse(test::ReadTestdata("examples/envoy/two-filter.yaml"), &json), "");
  for (const char* want : {R"(per_route_rule_backend_name)", R"("request_attributes":[)", R"("append_action":"ADD_IF_ABSENT")",
                           R"("@type":"type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec")"}) {
    EXPECT_NE(json.find(want), std::string::npos) << want;
  }
}

TEST_F(EnvoyConfigTest, AMisspeltFieldIsCaught) {
  std::string text = test::ReadTestdata("examples/envoy/router-level.yaml");
  size_t at = text.find("allow_mode_override");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 19, "allow_mode_overide");
  EXPECT_NE(Parse(text), "");
}

}  // namespace
}  // namespace sluice::extproc
