// Pieces of Envoy's ext_proc API that are newer than the vendored revision (deps/envoy-api is
// the mid-2024 API of @grpc/grpc-js-xds 1.14.1), read and written as unknown fields with their
// real field numbers, so they are wire-identical to Envoy's (reference §2.1, §2.2, §2.8):
//
//   ProcessingMode.BodySendMode FULL_DUPLEX_STREAMED = 4        (Envoy 1.34)
//   ProcessingRequest.protocol_config = 11 : ProtocolConfiguration {
//       request_body_mode = 1; response_body_mode = 2;
//       send_body_without_waiting_for_header_response = 3; }   (first message only)
//   BodyMutation.streamed_response = 3 (oneof mutation) : StreamedBodyResponse {
//       bytes body = 1; bool end_of_stream = 2; }
//
// Header-only; private to src/extproc (it exposes generated protobuf types). When the vendored
// API is updated past these fields, replace the helpers with the generated accessors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>

#include "envoy/service/ext_proc/v3/external_processor.pb.h"

namespace sluice::extproc::wire {

namespace pb = ::envoy::service::ext_proc::v3;
using BodySendMode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode::BodySendMode;

// ProcessingMode.BodySendMode.FULL_DUPLEX_STREAMED (proto3 enums are open: the value is carried).
inline constexpr BodySendMode kFullDuplexStreamed = static_cast<BodySendMode>(4);
// Envoy's guidance for FULL_DUPLEX_STREAMED replies (the GIE reference server uses 62,000 bytes).
inline constexpr size_t kMaxStreamedChunkBytes = 62000;

inline constexpr int kProtocolConfigField = 11;   // ProcessingRequest.protocol_config
inline constexpr int kStreamedResponseField = 3;  // BodyMutation.streamed_response

struct ProtocolConfig {
  BodySendMode request_body_mode = static_cast<BodySendMode>(0);
  BodySendMode response_body_mode = static_cast<BodySendMode>(0);
  bool send_body_without_waiting_for_header_response = false;
};

namespace internal {
inline void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
}  // namespace internal

// The ProtocolConfiguration of a message, if it carries one (Envoy >= 1.34 sends it with the
// first message of a stream).
inline std::optional<ProtocolConfig> ReadProtocolConfig(const pb::ProcessingRequest& in) {
  const google::protobuf::UnknownFieldSet& u = in.GetReflection()->GetUnknownFields(in);
  for (int i = 0; i < u.field_count(); ++i) {
    const google::protobuf::UnknownField& f = u.field(i);
    if (f.number() != kProtocolConfigField || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet inner;
    if (!inner.ParseFromString(f.length_delimited())) return std::nullopt;
    ProtocolConfig pc;
    for (int j = 0; j < inner.field_count(); ++j) {
      const google::protobuf::UnknownField& g = inner.field(j);
      if (g.type() != google::protobuf::UnknownField::TYPE_VARINT) continue;
      if (g.number() == 1) pc.request_body_mode = static_cast<BodySendMode>(g.varint());
      if (g.number() == 2) pc.response_body_mode = static_cast<BodySendMode>(g.varint());
      if (g.number() == 3) pc.send_body_without_waiting_for_header_response = g.varint() != 0;
    }
    return pc;
  }
  return std::nullopt;
}

// Adds protocol_config to `out` (EnvoySim plays Envoy >= 1.34).
inline void SetProtocolConfig(const ProtocolConfig& pc, pb::ProcessingRequest* out) {
  std::string* s = out->GetReflection()->MutableUnknownFields(out)->AddLengthDelimited(kProtocolConfigField);
  if (pc.request_body_mode != 0) {
    s->push_back(0x08);
    internal::PutVarint(static_cast<uint64_t>(pc.request_body_mode), s);
  }
  if (pc.response_body_mode != 0) {
    s->push_back(0x10);
    internal::PutVarint(static_cast<uint64_t>(pc.response_body_mode), s);
  }
  if (pc.send_body_without_waiting_for_header_response) s->append("\x18\x01", 2);
}

// Makes `m` a streamed_response {body, end_of_stream} (and nothing else).
inline void SetStreamedResponse(std::string_view body, bool end_of_stream, pb::BodyMutation* m) {
  m->Clear();
  std::string* s = m->GetReflection()->MutableUnknownFields(m)->AddLengthDelimited(kStreamedResponseField);
  s->reserve(body.size() + 16);
  if (!body.empty()) {
    s->push_back(0x0a);
    internal::PutVarint(body.size(), s);
    s->append(body.data(), body.size());
  }
  if (end_of_stream) s->append("\x10\x01", 2);
}

struct StreamedBody {
  std::string body;
  bool end_of_stream = false;
};

// The streamed_response of `m`, if it is one (nullopt for body / clear_body / unset, or if it
// does not parse).
inline std::optional<StreamedBody> ReadStreamedResponse(const pb::BodyMutation& m) {
  const google::protobuf::UnknownFieldSet& u = m.GetReflection()->GetUnknownFields(m);
  std::optional<StreamedBody> out;
  for (int i = 0; i < u.field_count(); ++i) {
    const google::protobuf::UnknownField& f = u.field(i);
    if (f.number() != kStreamedResponseField || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    google::protobuf::UnknownFieldSet inner;
    if (!inner.ParseFromString(f.length_delimited())) return std::nullopt;
    StreamedBody b;  // a repeated oneof member: the last one wins, as for any message field
    for (int j = 0; j < inner.field_count(); ++j) {
      const google::protobuf::UnknownField& g = inner.field(j);
      if (g.number() == 1 && g.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        b.body = g.length_delimited();
      } else if (g.number() == 2 && g.type() == google::protobuf::UnknownField::TYPE_VARINT) {
        b.end_of_stream = g.varint() != 0;
      }
    }
    out = std::move(b);
  }
  // A known member set after the unknown one would win on Envoy's side too (last one wins);
  // the generated code cannot tell the order, so a message with both is reported as neither.
  if (out && m.mutation_case() != pb::BodyMutation::MUTATION_NOT_SET) return std::nullopt;
  return out;
}

}  // namespace sluice::extproc::wire
