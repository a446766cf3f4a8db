// Wire-compatibility insurance: the messages sluice uses, as generated from the vendored
// Envoy API (deps/envoy-api), have the full names, field names, numbers and types that the
// ext_proc reference (docs reference §2, the @grpc/grpc-js-xds 1.14.1 revision) lists. A
// wrong or edited proto fails here rather than against a real Envoy.
#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/extensions/filters/http/ext_proc/v3/processing_mode.pb.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "envoy/service/ext_proc/v3/external_processor.pb.h"
#include "envoy/type/v3/http_status.pb.h"
#include "gtest/gtest.h"

namespace sluice::extproc {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct Field {
  int number;
  const char* name;
  FieldDescriptor::Type type;
  const char* type_name = "";  // message or enum full name
  bool repeated = false;
  const char* oneof = "";
};

constexpr auto kMsg = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;

void ExpectMessage(const std::string& full_name, const std::vector<Field>& fields) {
  SCOPED_TRACE(full_name);
  const Descriptor* d = DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
  ASSERT_NE(d, nullptr) << "not generated";
  EXPECT_EQ(d->field_count(), static_cast<int>(fields.size())) << "unexpected extra or missing fields";
  for (const Field& f : fields) {
    SCOPED_TRACE(f.name);
    const FieldDescriptor* fd = d->FindFieldByNumber(f.number);
    ASSERT_NE(fd, nullptr) << "field number " << f.number << " missing";
    EXPECT_EQ(fd->name(), f.name);
    EXPECT_EQ(fd->type(), f.type);
    EXPECT_EQ(fd->is_repeated(), f.repeated);
    if (f.type == kMsg && !fd->is_map()) {
      EXPECT_EQ(fd->message_type()->full_name(), f.type_name);
    }
    if (f.type == kEnum) {
      EXPECT_EQ(fd->enum_type()->full_name(), f.type_name);
    }
    const auto* oneof = fd->real_containing_oneof();
    EXPECT_EQ(oneof ? oneof->name() : std::string(), f.oneof);
  }
}

const std::string kPkg = "envoy.service.ext_proc.v3.";

TEST(DescriptorTest, ServiceAndMethod) {
  const auto* svc = DescriptorPool::generated_pool()->FindServiceByName(kPkg + "ExternalProcessor");
  ASSERT_NE(svc, nullptr);
  ASSERT_EQ(svc->method_count(), 1);
  const auto* m = svc->method(0);
  EXPECT_EQ(m->name(), "Process");
  EXPECT_TRUE(m->client_streaming());
  EXPECT_TRUE(m->server_streaming());
  EXPECT_EQ(m->input_type()->full_name(), kPkg + "ProcessingRequest");
  EXPECT_EQ(m->output_type()->full_name(), kPkg + "ProcessingResponse");
  EXPECT_EQ(svc->file()->name(), "envoy/service/ext_proc/v3/external_processor.proto");
  // The HTTP/2 :path Envoy calls.
  EXPECT_STREQ(::envoy::service::ext_proc::v3::ExternalProcessor::service_full_name(),
               "envoy.service.ext_proc.v3.ExternalProcessor");
}

TEST(DescriptorTest, ProcessingRequest) {
  ExpectMessage(kPkg + "ProcessingRequest",
                {{2, "request_headers", kMsg, "envoy.service.ext_proc.v3.HttpHeaders", false, "request"},
                 {3, "response_headers", kMsg, "envoy.service.ext_proc.v3.HttpHeaders", false, "request"},
                 {4, "request_body", kMsg, "envoy.service.ext_proc.v3.HttpBody", false, "request"},
                 {5, "response_body", kMsg, "envoy.service.ext_proc.v3.HttpBody", false, "request"},
                 {6, "request_trailers", kMsg, "envoy.service.ext_proc.v3.HttpTrailers", false, "request"},
                 {7, "response_trailers", kMsg, "envoy.service.ext_proc.v3.HttpTrailers", false, "request"},
                 {8, "metadata_context", kMsg, "envoy.config.core.v3.Metadata"},
                 {9, "attributes", kMsg, "", true},
                 {10, "observability_mode", kBool}});
  const Descriptor* d = DescriptorPool::generated_pool()->FindMessageTypeByName(kPkg + "ProcessingRequest");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->FindFieldByName("attributes")->is_map());
  // Field 1 (async_mode) is reserved and must never be reused.
  EXPECT_TRUE(d->IsReservedNumber(1));
  EXPECT_TRUE(d->IsReservedName("async_mode"));
}

TEST(DescriptorTest, ProcessingResponse) {
  ExpectMessage(kPkg + "ProcessingResponse",
                {{1, "request_headers", kMsg, "envoy.service.ext_proc.v3.HeadersResponse", false, "response"},
                 {2, "response_headers", kMsg, "envoy.service.ext_proc.v3.HeadersResponse", false, "response"},
                 {3, "request_body", kMsg, "envoy.service.ext_proc.v3.BodyResponse", false, "response"},
                 {4, "response_body", kMsg, "envoy.service.ext_proc.v3.BodyResponse", false, "response"},
                 {5, "request_trailers", kMsg, "envoy.service.ext_proc.v3.TrailersResponse", false, "response"},
                 {6, "response_trailers", kMsg, "envoy.service.ext_proc.v3.TrailersResponse", false, "response"},
                 {7, "immediate_response", kMsg, "envoy.service.ext_proc.v3.ImmediateResponse", false, "response"},
                 {8, "dynamic_metadata", kMsg, "google.protobuf.Struct"},
                 {9, "mode_override", kMsg, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode"},
                 {10, "override_message_timeout", kMsg, "google.protobuf.Duration"}});
}

TEST(DescriptorTest, HeadersBodiesTrailers) {
  ExpectMessage(kPkg + "HttpHeaders", {{1, "headers", kMsg, "envoy.config.core.v3.HeaderMap"},
                                       {2, "attributes", kMsg, "", true},
                                       {3, "end_of_stream", kBool}});
  ExpectMessage(kPkg + "HttpBody", {{1, "body", kBytes}, {2, "end_of_stream", kBool}});
  ExpectMessage(kPkg + "HttpTrailers", {{1, "trailers", kMsg, "envoy.config.core.v3.HeaderMap"}});
  ExpectMessage(kPkg + "HeadersResponse", {{1, "response", kMsg, "envoy.service.ext_proc.v3.CommonResponse"}});
  ExpectMessage(kPkg + "BodyResponse", {{1, "response", kMsg, "envoy.service.ext_proc.v3.CommonResponse"}});
  ExpectMessage(kPkg + "TrailersResponse", {{1, "header_mutation", kMsg, "envoy.service.ext_proc.v3.HeaderMutation"}});
}

TEST(DescriptorTest, CommonResponseAndMutations) {
  ExpectMessage(kPkg + "CommonResponse",
                {{1, "status", kEnum, "envoy.service.ext_proc.v3.CommonResponse.ResponseStatus"},
                 {2, "header_mutation", kMsg, "envoy.service.ext_proc.v3.HeaderMutation"},
                 {3, "body_mutation", kMsg, "envoy.service.ext_proc.v3.BodyMutation"},
                 {4, "trailers", kMsg, "envoy.config.core.v3.HeaderMap"},
                 {5, "clear_route_cache", kBool}});
  const auto* status = DescriptorPool::generated_pool()->FindEnumTypeByName(kPkg + "CommonResponse.ResponseStatus");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->FindValueByName("CONTINUE")->number(), 0);
  EXPECT_EQ(status->FindValueByName("CONTINUE_AND_REPLACE")->number(), 1);

  ExpectMessage(kPkg + "HeaderMutation",
                {{1, "set_headers", kMsg, "envoy.config.core.v3.HeaderValueOption", true},
                 {2, "remove_headers", kString, "", true}});
  ExpectMessage(kPkg + "BodyMutation", {{1, "body", kBytes, "", false, "mutation"},
                                        {2, "clear_body", kBool, "", false, "mutation"}});
  ExpectMessage(kPkg + "ImmediateResponse", {{1, "status", kMsg, "envoy.type.v3.HttpStatus"},
                                             {2, "headers", kMsg, "envoy.service.ext_proc.v3.HeaderMutation"},
                                             {3, "body", kBytes},
                                             {4, "grpc_status", kMsg, "envoy.service.ext_proc.v3.GrpcStatus"},
                                             {5, "details", kString}});
  ExpectMessage(kPkg + "GrpcStatus", {{1, "status", kUint32}});
}

TEST(DescriptorTest, ProcessingMode) {
  const std::string m = "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode";
  ExpectMessage(m, {{1, "request_header_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode"},
                    {2, "response_header_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode"},
                    {3, "request_body_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode"},
                    {4, "response_body_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode"},
                    {5, "request_trailer_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode"},
                    {6, "response_trailer_mode", kEnum, "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode"}});
  const auto* pool = DescriptorPool::generated_pool();
  const auto* header = pool->FindEnumTypeByName(m + ".HeaderSendMode");
  ASSERT_NE(header, nullptr);
  EXPECT_EQ(header->FindValueByName("DEFAULT")->number(), 0);
  EXPECT_EQ(header->FindValueByName("SEND")->number(), 1);
  EXPECT_EQ(header->FindValueByName("SKIP")->number(), 2);
  const auto* body = pool->FindEnumTypeByName(m + ".BodySendMode");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->FindValueByName("NONE")->number(), 0);
  EXPECT_EQ(body->FindValueByName("STREAMED")->number(), 1);
  EXPECT_EQ(body->FindValueByName("BUFFERED")->number(), 2);
  EXPECT_EQ(body->FindValueByName("BUFFERED_PARTIAL")->number(), 3);
}

TEST(DescriptorTest, CoreHeaderTypes) {
  ExpectMessage("envoy.config.core.v3.HeaderMap", {{1, "headers", kMsg, "envoy.config.core.v3.HeaderValue", true}});
  ExpectMessage("envoy.config.core.v3.HeaderValue", {{1, "key", kString}, {2, "value", kString}, {3, "raw_value", kBytes}});
  ExpectMessage("envoy.config.core.v3.HeaderValueOption",
                {{1, "header", kMsg, "envoy.config.core.v3.HeaderValue"},
                 {2, "append", kMsg, "google.protobuf.BoolValue"},
                 {3, "append_action", kEnum, "envoy.config.core.v3.HeaderValueOption.HeaderAppendAction"},
                 {4, "keep_empty_value", kBool}});
  const auto* action =
      DescriptorPool::generated_pool()->FindEnumTypeByName("envoy.config.core.v3.HeaderValueOption.HeaderAppendAction");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->FindValueByName("APPEND_IF_EXISTS_OR_ADD")->number(), 0);
  EXPECT_EQ(action->FindValueByName("ADD_IF_ABSENT")->number(), 1);
  EXPECT_EQ(action->FindValueByName("OVERWRITE_IF_EXISTS_OR_ADD")->number(), 2);
  EXPECT_EQ(action->FindValueByName("OVERWRITE_IF_EXISTS")->number(), 3);
  const Descriptor* md = DescriptorPool::generated_pool()->FindMessageTypeByName("envoy.config.core.v3.Metadata");
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(md->FindFieldByNumber(1)->name(), "filter_metadata");
  EXPECT_TRUE(md->FindFieldByNumber(1)->is_map());
  EXPECT_EQ(md->FindFieldByNumber(2)->name(), "typed_filter_metadata");
}

TEST(DescriptorTest, HttpStatus) {
  ExpectMessage("envoy.type.v3.HttpStatus", {{1, "code", kEnum, "envoy.type.v3.StatusCode"}});
  const auto* code = DescriptorPool::generated_pool()->FindEnumTypeByName("envoy.type.v3.StatusCode");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ(code->FindValueByName("OK")->number(), 200);
  EXPECT_EQ(code->FindValueByName("PayloadTooLarge")->number(), 413);
  EXPECT_EQ(code->FindValueByName("TooManyRequests")->number(), 429);
  EXPECT_EQ(code->FindValueByName("GatewayTimeout")->number(), 504);
}

// The bytes on the wire for a reply sluice sends, decoded field by field: a second check that
// does not go through the generated accessors' names.
TEST(DescriptorTest, WireBytesOfAHeaderReply) {
  ::envoy::service::ext_proc::v3::ProcessingResponse r;
  auto* opt = r.mutable_request_body()->mutable_response()->mutable_header_mutation()->add_set_headers();
  opt->mutable_header()->set_key("a");
  opt->mutable_header()->set_raw_value("b");
  std::string wire = r.SerializeAsString();
  // 1a 0e: field 3 (request_body), 14 bytes; 0a 0c: field 1 (response); 12 0a: field 2
  // (header_mutation); 0a 08: field 1 (set_headers); 0a 06: field 1 (header); 0a 01 'a': key
  // (field 1); 1a 01 'b': raw_value (field 3).
  const std::string want("\x1a\x0e\x0a\x0c\x12\x0a\x0a\x08\x0a\x06\x0a\x01" "a" "\x1a\x01" "b", 16);
  EXPECT_EQ(wire, want);
}

}  // namespace
}  // namespace sluice::extproc
