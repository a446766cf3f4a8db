#include "extproc/processor.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "cel/cel.h"
#include "common/log.h"
#include "common/strings.h"
#include "config/filterapi.h"
#include "envoy/config/core/v3/base.pb.h"
#include "extproc/newer_api.h"
#include "google/protobuf/text_format.h"
#include "json/json.h"

namespace sluice::extproc {
namespace {

using ::envoy::config::core::v3::HeaderValueOption;

// Envoy (>= 1.27 by default, >= 1.32 only) carries header values in raw_value; older ones in
// value. Read both (§2.10 of the reference).
std::string_view ValueOf(const ::envoy::config::core::v3::HeaderValue& h) {
  return h.raw_value().empty() ? std::string_view(h.value()) : std::string_view(h.raw_value());
}

bool IsPseudo(std::string_view name) { return !name.empty() && name[0] == ':'; }

// Builds a HeaderMutation that Envoy's default mutation rules accept:
// - values go in raw_value only (Envoy rejects a header with both value and raw_value);
// - append_action OVERWRITE_IF_EXISTS_OR_ADD: Envoy's ext_proc honours only the deprecated
//   `append` (absent = overwrite), but an Envoy that starts honouring append_action must not
//   read its default (APPEND_IF_EXISTS_OR_ADD) and add a second value;
// - pseudo-headers and `host` are never removed (Envoy forbids it); a name that is set is not
//   also removed (Envoy applies removals before sets, so it would be redundant).
class MutationBuilder {
 public:
  void Set(std::string_view name, std::string_view value) {
    std::string key = http::ToLower(name);
    if (key == "host") key = ":authority";  // Envoy keeps the Host header as :authority
    for (auto& [k, v] : set_) {
      if (k == key) {
        v = std::string(value);
        return;
      }
    }
    set_.emplace_back(std::move(key), std::string(value));
  }
  void Remove(std::string_view name) {
    std::string key = http::ToLower(name);
    if (IsPseudo(key) || key == "host") return;
    if (std::find(remove_.begin(), remove_.end(), key) == remove_.end()) remove_.push_back(std::move(key));
  }
  void Unremove(std::string_view name) {
    remove_.erase(std::remove(remove_.begin(), remove_.end(), name), remove_.end());
  }
  // Adds a pipeline mutation. `present`, when given, limits removals to headers that exist.
  void Add(const http::HeaderMutation& m, const http::HeaderMap* present) {
    for (const auto& r : m.remove) {
      if (present == nullptr || present->Has(r)) Remove(r);
    }
    for (const auto& [n, v] : m.set) Set(n, v);
  }
  bool empty() const { return set_.empty() && remove_.empty(); }

  void Build(pb::HeaderMutation* out) const {
    for (const auto& [k, v] : set_) {
      HeaderValueOption* opt = out->add_set_headers();
      opt->mutable_header()->set_key(k);
      opt->mutable_header()->set_raw_value(v);
      opt->set_append_action(HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
    }
    for (const auto& r : remove_) {
      bool also_set = std::any_of(set_.begin(), set_.end(), [&](const auto& s) { return s.first == r; });
      if (!also_set) out->add_remove_headers(r);
    }
  }

 private:
  std::vector<std::pair<std::string, std::string>> set_;
  std::vector<std::string> remove_;
};

bool IsEventStream(std::string_view content_type) {
  std::string ct = http::ToLower(content_type);
  return ct.find("text/event-stream") != std::string::npos ||
         ct.find("application/vnd.amazon.eventstream") != std::string::npos;
}

// Dynamic metadata {kMetadataNamespace: {key: string | number, ...}}, written straight in
// its wire form (ProcessingResponse.dynamic_metadata = 8, a google.protobuf.Struct) as an
// unknown field: building the Struct's two protobuf maps, then serialising and freeing them,
// cost ~40K instructions per request lifecycle, a sixth of the server's total (callgrind).
// On the wire it is the same message; a later duplicate key wins, as a map insertion would.
class MetadataWriter {
 public:
  void Str(std::string_view key, std::string_view value) {
    std::string v;
    v.reserve(value.size() + 6);
    v.push_back(0x1a);  // Value.string_value = 3
    wire::internal::PutVarint(value.size(), &v);
    v.append(value);
    Entry(key, v);
  }
  void Num(std::string_view key, double value) {
    static_assert(std::endian::native == std::endian::little, "doubles go on the wire little-endian");
    char v[9] = {0x11};  // Value.number_value = 2, fixed64
    std::memcpy(v + 1, &value, 8);
    Entry(key, std::string_view(v, 9));
  }
  // Adds the namespace to `out`'s dynamic_metadata (merged with any already there).
  void WriteTo(pb::ProcessingResponse* out) const {
    if (inner_.empty()) return;
    std::string value;  // Value.struct_value = 5
    value.reserve(inner_.size() + 6);
    value.push_back(0x2a);
    wire::internal::PutVarint(inner_.size(), &value);
    value.append(inner_);
    std::string* s = out->GetReflection()->MutableUnknownFields(out)->AddLengthDelimited(
        pb::ProcessingResponse::kDynamicMetadataFieldNumber);
    AppendEntry(kMetadataNamespace, value, s);
  }

 private:
  // Struct.fields = 1, a map entry {key = 1, value = 2}.
  static void AppendEntry(std::string_view key, std::string_view value, std::string* out) {
    size_t len = 1 + VarintSize(key.size()) + key.size() + 1 + VarintSize(value.size()) + value.size();
    out->push_back(0x0a);
    wire::internal::PutVarint(len, out);
    out->push_back(0x0a);
    wire::internal::PutVarint(key.size(), out);
    out->append(key);
    out->push_back(0x12);
    wire::internal::PutVarint(value.size(), out);
    out->append(value);
  }
  void Entry(std::string_view key, std::string_view value) { AppendEntry(key, value, &inner_); }
  static size_t VarintSize(size_t n) {
    size_t s = 1;
    while (n >= 0x80) n >>= 7, ++s;
    return s;
  }
  std::string inner_;
};

std::string_view KindName(pb::ProcessingRequest::RequestCase c) {
  switch (c) {
    case pb::ProcessingRequest::kRequestHeaders: return "request_headers";
    case pb::ProcessingRequest::kResponseHeaders: return "response_headers";
    case pb::ProcessingRequest::kRequestBody: return "request_body";
    case pb::ProcessingRequest::kResponseBody: return "response_body";
    case pb::ProcessingRequest::kRequestTrailers: return "request_trailers";
    case pb::ProcessingRequest::kResponseTrailers: return "response_trailers";
    default: return "an empty message";
  }
}

// A whole metadata object as Envoy sends a non-scalar attribute: printed in protobuf text
// format (`filter_metadata { key: "aigateway.envoy.io" value { fields { key:
// "per_route_rule_backend_name" value { string_value: "..." } } } }`), as Envoy AI Gateway
// reads it (prototext). Nullopt when the text is no Metadata or lacks the key.
std::optional<std::string> BackendInPrintedMetadata(const std::string& text) {
  envoy::config::core::v3::Metadata md;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(true);
  if (!parser.ParseFromString(text, &md)) return std::nullopt;
  auto ns = md.filter_metadata().find("aigateway.envoy.io");
  if (ns == md.filter_metadata().end()) return std::nullopt;
  auto f = ns->second.fields().find("per_route_rule_backend_name");
  if (f == ns->second.fields().end() || f->second.string_value().empty()) return std::nullopt;
  return f->second.string_value();
}

// A string attribute value; or, when the attribute is a whole metadata object (e.g. the
// attribute `xds.upstream_host_metadata`, printed or as a Struct), its
// filter_metadata['aigateway.envoy.io'] entry.
std::optional<std::string> BackendIn(const google::protobuf::Value& v) {
  if (v.has_string_value()) {
    if (v.string_value().empty()) return std::nullopt;
    if (v.string_value().find("filter_metadata") != std::string::npos) return BackendInPrintedMetadata(v.string_value());
    return v.string_value();
  }
  if (!v.has_struct_value()) return std::nullopt;
  const auto& f = v.struct_value().fields();
  for (const char* key : {"filter_metadata", "aigateway.envoy.io", "per_route_rule_backend_name"}) {
    auto it = f.find(key);
    if (it != f.end()) return BackendIn(it->second);
  }
  return std::nullopt;
}

}  // namespace

bool ParseLayout(std::string_view text, Layout* out) {
  if (text == "router") *out = Layout::kRouter;
  else if (text == "two-filter") *out = Layout::kTwoFilter;
  else return false;
  return true;
}

std::string_view LayoutName(Layout l) { return l == Layout::kRouter ? "router" : "two-filter"; }

namespace {

// The backend name in the request attributes Envoy sent: the attribute expressions `keys` as
// configured, then (in the order of `prefixes`) the same expressions spelt differently
// (double quotes) or whole metadata objects.
std::optional<std::string> BackendInAttributeFields(
    const google::protobuf::Map<std::string, google::protobuf::Value>& f, std::initializer_list<const char*> keys,
    std::initializer_list<const char*> prefixes) {
  for (const char* key : keys) {
    auto it = f.find(key);
    if (it == f.end()) continue;
    if (auto name = BackendIn(it->second)) return name;
  }
  for (const char* prefix : prefixes) {
    for (const auto& [k, v] : f) {
      if (k.rfind(prefix, 0) != 0) continue;
      if (k != prefix && k.find("per_route_rule_backend_name") == std::string::npos) continue;
      if (auto name = BackendIn(v)) return name;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> BackendFromAttributes(const pb::ProcessingRequest& in) {
  auto ns = in.attributes().find(kAttributesKey);
  if (ns == in.attributes().end()) return std::nullopt;
  return BackendInAttributeFields(ns->second.fields(), {kHostBackendAttribute, kClusterBackendAttribute},
                                  {"xds.upstream_host_metadata", "xds.cluster_metadata"});
}

std::optional<std::string> RouterBackendFromRequest(const pb::ProcessingRequest& in) {
  auto ns = in.attributes().find(kAttributesKey);
  if (ns != in.attributes().end()) {
    const auto& f = ns->second.fields();
    for (const auto& [k, v] : f) {
      if (k.rfind("xds.upstream_host_metadata", 0) == 0) return std::nullopt;  // an upstream filter
    }
    if (auto name = BackendInAttributeFields(f, {kClusterBackendAttribute, kRouteBackendAttribute},
                                             {"xds.cluster_metadata", "xds.route_metadata"})) {
      return name;
    }
  }
  if (in.has_metadata_context()) {
    const auto& fm = in.metadata_context().filter_metadata();
    auto it = fm.find("aigateway.envoy.io");
    if (it != fm.end()) {
      auto name = it->second.fields().find("per_route_rule_backend_name");
      if (name != it->second.fields().end() && name->second.has_string_value() &&
          !name->second.string_value().empty()) {
        return name->second.string_value();
      }
    }
  }
  return std::nullopt;
}

namespace {

// Envoy dynamic metadata as the pipeline takes it: string values, and string fields of struct
// values (credentialOverride's metadata source).
gateway::Pipeline::DynamicMetadata DynamicMetadataOf(const envoy::config::core::v3::Metadata& md) {
  gateway::Pipeline::DynamicMetadata out;
  for (const auto& [ns, st] : md.filter_metadata()) {
    for (const auto& [key, value] : st.fields()) {
      if (value.has_string_value()) {
        out.emplace(StrCat(ns, "\n", key), value.string_value());
      } else if (value.has_struct_value()) {
        for (const auto& [field, v] : value.struct_value().fields()) {
          if (v.has_string_value()) out.emplace(StrCat(ns, "\n", key, "\n", field), v.string_value());
        }
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const gateway::Runtime>> BuildPinnedRuntime(
    std::shared_ptr<const config::Config> config) {
  auto pinned = std::make_shared<config::Config>(*config);
  pinned->routes.clear();  // one pinned route per route, names (and costs) kept, then the catch-all
  config::Route route;
  route.name = "sluice/pinned";
  auto pin = [&](size_t backend) {
    config::HeaderMatch hm;
    hm.type = config::HeaderMatch::Type::kExact;
    hm.name = kPinnedBackendHeader;
    hm.value = config->backends[backend].name;
    return hm;
  };
  for (const auto& r : config->routes) {
    config::Route kept;
    kept.name = r.name;
    kept.costs = r.costs;
    for (const auto& rule : r.rules) {
      for (const auto& ref : rule.backend_refs) {
        config::Rule one = rule;
        one.backend_refs = {ref};
        one.backend_refs[0].weight = 1;
        one.backend_refs[0].priority = 0;
        one.matches.clear();
        for (const auto& match : rule.matches) {
          std::vector<config::HeaderMatch> m;
          for (const auto& hm : match) {
            if (hm.name != config::kBackendHeader) m.push_back(hm);
          }
          m.push_back(pin(ref.backend));
          one.matches.push_back(std::move(m));
        }
        if (one.matches.empty()) one.matches.push_back({pin(ref.backend)});
        kept.rules.push_back(std::move(one));
      }
    }
    pinned->routes.push_back(std::move(kept));
  }
  for (size_t b = 0; b < config->backends.size(); ++b) {
    config::Rule any;
    any.name = StrCat("sluice/pinned/", config->backends[b].name);
    any.matches.push_back({pin(b)});
    config::BackendRef ref;
    ref.backend = b;
    any.backend_refs.push_back(ref);
    route.rules.push_back(std::move(any));
  }
  pinned->routes.push_back(std::move(route));
  return gateway::Runtime::Build(std::move(pinned));
}

// A router-level stream's request, for the upstream filter's streams of its attempts.
struct SavedRequest {
  std::string id;  // x-ai-eg-internal-req-id
  std::mutex mu;
  std::string body;     // the client's body (set once, before the id is published)
  std::string backend;  // the latest attempt's backend (written by the upstream filter's stream)
};

namespace {

constexpr const char* kInternalRequestIdHeader = "x-ai-eg-internal-req-id";

// Envoy AI Gateway's filter modes for the two-filter layout give the upstream filter no request
// body (request_body_mode NONE): its stream translates the body the router-level stream kept,
// found by the id the router set in x-ai-eg-internal-req-id (both streams reach this process,
// as with Envoy AI Gateway's own ext_proc). Entries live as long as the router's stream.
class SavedRequests {
 public:
  static SavedRequests& Get() {
    static SavedRequests* r = new SavedRequests();  // lives until exit
    return *r;
  }
  void Put(const std::string& id, const std::shared_ptr<SavedRequest>& s) {
    std::lock_guard<std::mutex> l(mu_);
    map_[id] = s;
  }
  std::shared_ptr<SavedRequest> Find(std::string_view id) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = map_.find(std::string(id));
    return it == map_.end() ? nullptr : it->second.lock();
  }
  void Erase(const std::string& id) {
    std::lock_guard<std::mutex> l(mu_);
    map_.erase(id);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<SavedRequest>> map_;
};

std::atomic<uint64_t> g_internal_request_ids{0};

}  // namespace

StreamProcessor::StreamProcessor(std::shared_ptr<const gateway::Runtime> runtime,
                                 gateway::RandomFn random, const ProcessorLimits& limits,
                                 std::shared_ptr<const config::LlmRequestCosts> costs,
                                 Layout layout, std::shared_ptr<const gateway::Runtime> pinned)
    : runtime_(std::move(runtime)),
      random_(std::move(random)),
      costs_(std::move(costs)),
      layout_(layout),
      pinned_(std::move(pinned)),
      limits_(limits) {}

StreamProcessor::~StreamProcessor() {
  if (saved_) SavedRequests::Get().Erase(saved_->id);
}

pb::ProcessingResponse* Replies::Add() {
  if (n_ == items_.size()) items_.push_back(std::make_unique<pb::ProcessingResponse>());
  pb::ProcessingResponse* r = items_[n_++].get();
  r->Clear();
  return r;
}

absl::StatusOr<bool> StreamProcessor::Process(const pb::ProcessingRequest& in, pb::ProcessingResponse* out) {
  Replies replies;
  if (absl::Status st = Process(in, &replies); !st.ok()) return st;
  if (replies.empty()) return false;
  if (replies.size() > 1) {
    return absl::InternalError("FULL_DUPLEX_STREAMED answers with several replies: use Process(in, Replies*)");
  }
  out->Swap(&replies[0]);
  // The dynamic metadata is written in wire form (MetadataWriter): a round trip gives callers
  // the parsed message Envoy sees.
  if (!out->GetReflection()->GetUnknownFields(*out).empty()) {
    std::string bytes = out->SerializeAsString();
    if (!out->ParseFromString(bytes)) return absl::InternalError("reply does not round-trip");
  }
  return true;
}

absl::Status StreamProcessor::Process(pb::ProcessingRequest&& in, Replies* out) {
  out->Clear();
  // Observability mode: Envoy sends copies and ignores replies; there is nothing to decide.
  if (in.observability_mode()) return absl::OkStatus();
  if (first_message_) {
    first_message_ = false;
    if (std::optional<wire::ProtocolConfig> pc = wire::ReadProtocolConfig(in)) {
      request_full_duplex_ = pc->request_body_mode == wire::kFullDuplexStreamed;
      request_body_none_ = static_cast<int>(pc->request_body_mode) == 0;  // ProcessingMode.NONE
      response_full_duplex_config_ = pc->response_body_mode == wire::kFullDuplexStreamed;
    }
  }
  const auto kind = in.request_case();
  if (kind == pb::ProcessingRequest::REQUEST_NOT_SET) {
    return absl::InvalidArgumentError(
        "ProcessingRequest carries none of request_headers, request_body, request_trailers, "
        "response_headers, response_body, response_trailers");
  }
  if (state_ == State::kLocalReply &&
      (kind == pb::ProcessingRequest::kRequestBody || kind == pb::ProcessingRequest::kRequestTrailers)) {
    // Sent before Envoy saw our immediate_response (STREAMED and FULL_DUPLEX_STREAMED chunks
    // are not held back for replies); Envoy no longer waits for an answer to them.
    return absl::OkStatus();
  }
  if (state_ == State::kLocalReply || state_ == State::kPassThroughClosed) {
    return absl::FailedPreconditionError(
        StrCat(KindName(kind), " after the stream's processing ended"));
  }
  const bool response_kind = kind == pb::ProcessingRequest::kResponseHeaders ||
                             kind == pb::ProcessingRequest::kResponseBody ||
                             kind == pb::ProcessingRequest::kResponseTrailers;
  if (state_ == State::kRequestHeaders && response_kind) {
    // No request phase: another filter sent a local reply before this one saw the request
    // (Envoy then opens the stream at response_headers). Not ours to change; failing the
    // stream would turn that 401/403 into Envoy's 500. As Envoy AI Gateway does, pass it on.
    state_ = State::kEarlyResponse;
  }
  if (state_ == State::kEarlyResponse) return PassThrough(std::move(in), out);
  switch (kind) {
    case pb::ProcessingRequest::kRequestHeaders: return OnRequestHeaders(in, out);
    case pb::ProcessingRequest::kRequestBody: return OnRequestBody(in.mutable_request_body(), out);
    case pb::ProcessingRequest::kRequestTrailers: return OnRequestTrailers(out);
    case pb::ProcessingRequest::kResponseHeaders: return OnResponseHeaders(in.response_headers(), out);
    case pb::ProcessingRequest::kResponseBody: return OnResponseBody(in.response_body(), out);
    case pb::ProcessingRequest::kResponseTrailers: return OnResponseTrailers(out);
    default: return absl::OkStatus();
  }
}

absl::Status StreamProcessor::PassThrough(pb::ProcessingRequest&& in, Replies* replies) {
  switch (in.request_case()) {
    case pb::ProcessingRequest::kResponseHeaders: replies->Add()->mutable_response_headers(); break;
    case pb::ProcessingRequest::kResponseTrailers: replies->Add()->mutable_response_trailers(); break;
    case pb::ProcessingRequest::kResponseBody:
      if (response_full_duplex_config_) {
        // FULL_DUPLEX_STREAMED: Envoy keeps none of the body; it goes on only as sent back.
        AddStreamed(/*request=*/false, in.response_body().body(), in.response_body().end_of_stream(), replies);
      } else {
        replies->Add()->mutable_response_body();
      }
      break;
    default:
      return absl::FailedPreconditionError(
          StrCat(KindName(in.request_case()), " after the stream began with the response (a local reply)"));
  }
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnRequestTrailers(Replies* replies) {
  if (state_ == State::kRequestHeaders) {
    return absl::FailedPreconditionError("request_trailers before request_headers");
  }
  if (request_full_duplex_ && state_ == State::kRequestBody) {
    // Trailers end a FULL_DUPLEX_STREAMED body: decide now; the trailers reply comes last.
    FinishFullDuplexRequest(/*trailers=*/true, replies);
    if (state_ == State::kLocalReply) return absl::OkStatus();
  }
  replies->Add()->mutable_request_trailers();  // nothing to change
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnResponseTrailers(Replies* replies) {
  if (state_ != State::kResponseBody) {
    return absl::FailedPreconditionError("response_trailers before response_headers");
  }
  if (routed_ && response_full_duplex_ && response_headers_deferred_) {
    FinishFullDuplexError(/*end_of_stream=*/false, replies);
  } else if (routed_ && !response_ended_ && !response_broken_) {
    // Trailers end the body. Under FULL_DUPLEX_STREAMED what the translator still holds goes
    // out as a last streamed_response (end_of_stream false: the trailers end the body).
    // Otherwise it cannot be sent any more (a trailers reply carries no body); LLM providers
    // do not send trailers in practice.
    response_ended_ = true;
    std::string rest;
    bool ok = response_status_ >= 200 && response_status_ < 300;
    if (ok && pipeline_->OnResponseBody({}, true, &rest).ok() && !rest.empty()) {
      if (response_full_duplex_) {
        AddStreamed(/*request=*/false, rest, /*end_of_stream=*/false, replies);
      } else {
        log::Warn("extproc: ", rest.size(), " translated bytes dropped: the answer ended with trailers");
      }
    }
    if (ok) {
      if (usage_observer_) usage_observer_->Feed(rest, true);
      pb::ProcessingResponse* trailers = replies->Add();
      trailers->mutable_response_trailers();
      EmitUsage(trailers);
      return absl::OkStatus();
    }
  }
  replies->Add()->mutable_response_trailers();
  return absl::OkStatus();
}

pb::ProcessingResponse* StreamProcessor::AddStreamed(bool request, std::string_view body, bool end_of_stream,
                                                     Replies* replies) {
  pb::ProcessingResponse* last = nullptr;
  size_t at = 0;
  do {
    size_t n = std::min(body.size() - at, wire::kMaxStreamedChunkBytes);
    if (n == 0 && !end_of_stream) break;
    last = replies->Add();
    pb::BodyResponse* b = request ? last->mutable_request_body() : last->mutable_response_body();
    at += n;
    wire::SetStreamedResponse(body.substr(at - n, n), end_of_stream && at == body.size(),
                              b->mutable_response()->mutable_body_mutation());
  } while (at < body.size());
  return last;
}

void StreamProcessor::FinishFullDuplexRequest(bool trailers, Replies* replies) {
  pb::ProcessingResponse* head = replies->Add();
  if (layout_ == Layout::kTwoFilter && !upstream_filter_) {
    RouteByModel(request_body_, Where::kFullDuplex, head);
  } else {
    Decide(pipeline_->OnRequestBody(request_body_), Where::kFullDuplex, head);
  }
  if (state_ == State::kLocalReply) return;
  // Under FULL_DUPLEX_STREAMED Envoy keeps none of the body: it goes upstream only as we send
  // it back, translated or not.
  std::string_view body = full_duplex_body_ ? std::string_view(*full_duplex_body_) : std::string_view(request_body_);
  AddStreamed(/*request=*/true, body, /*end_of_stream=*/!trailers, replies);
  full_duplex_body_.reset();
}

absl::Status StreamProcessor::OnRequestHeaders(const pb::ProcessingRequest& in, Replies* replies) {
  request_start_ = std::chrono::steady_clock::now();
  pb::ProcessingResponse* out = replies->Add();
  if (state_ != State::kRequestHeaders) {
    return absl::FailedPreconditionError("request_headers received twice");
  }
  // The router-level filter may name the backend Envoy's route chose (filterapi configs).
  std::optional<std::string> envoy_backend;
  if (layout_ == Layout::kRouter) envoy_backend = RouterBackendFromRequest(in);
  // An upstream (cluster-level) ext_proc filter: Envoy AI Gateway's two-filter layout, told
  // apart the way Envoy AI Gateway does it (only that filter is configured with request
  // attributes).
  if (in.attributes_size() > 0 && !envoy_backend) {
    if (layout_ == Layout::kTwoFilter) {
      std::optional<std::string> backend = BackendFromAttributes(in);
      if (!backend) {
        return absl::InvalidArgumentError(StrCat(
            "upstream filter stream without the backend name: configure request_attributes [",
            kHostBackendAttribute, "] (or ", kClusterBackendAttribute, ")"));
      }
      return OnUpstreamRequestHeaders(in, std::move(*backend), out);
    }
    // The router-level driver has nothing to do there; pass it through.
    log::Debug("extproc: a stream with request attributes (upstream filter): passed through");
    out->mutable_request_headers();
    state_ = State::kPassThroughClosed;
    return absl::OkStatus();
  }
  const pb::HttpHeaders& h = in.request_headers();
  std::string method, path;
  if (absl::Status st = ReadRequestHeaders(h, &method, &path); !st.ok()) return st;
  if (envoy_backend) {
    if (absl::Status st = UseEnvoyBackend(*envoy_backend); !st.ok()) return st;
  }

  pipeline_ = std::make_unique<gateway::Pipeline>(runtime_, random_);
  // Costs need every stream's usage (as Envoy AI Gateway forces include_usage for costed
  // routes); without costs a backend that rejects stream_options is never sent it.
  pipeline_->set_want_usage(costs_ != nullptr && !costs_->empty());
  if (in.has_metadata_context()) pipeline_->set_dynamic_metadata(DynamicMetadataOf(in.metadata_context()));
  if (auto local = pipeline_->OnRequestHeaders(method, path, request_headers_)) {
    Immediate(*local, out);
    return absl::OkStatus();
  }
  if (h.end_of_stream()) {
    // No body will follow: decide now, in the headers reply.
    if (layout_ == Layout::kTwoFilter) RouteByModel(request_body_, Where::kHeadersReply, out);
    else Decide(pipeline_->OnRequestBody(request_body_), Where::kHeadersReply, out);
    return absl::OkStatus();
  }
  if (request_full_duplex_) {
    // FULL_DUPLEX_STREAMED: Envoy holds the headers until we answer them and sends the body
    // meanwhile. The route needs the whole body: the headers are answered at its end.
    replies->PopBack();
    state_ = State::kRequestBody;
    return absl::OkStatus();
  }
  // CONTINUE; the buffered body comes next. A client-sent backend header is dropped now: only
  // sluice may choose the route (the body reply sets it and clears the route cache).
  pb::CommonResponse* common = out->mutable_request_headers()->mutable_response();
  if (request_headers_.Has(kSelectedBackendHeader)) {
    common->mutable_header_mutation()->add_remove_headers(kSelectedBackendHeader);
  }
  state_ = State::kRequestBody;
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnRequestBody(pb::HttpBody* mutable_body, Replies* replies) {
  const pb::HttpBody& body = *mutable_body;
  if (state_ == State::kRequestHeaders) {
    return absl::FailedPreconditionError("request_body before request_headers");
  }
  if (request_full_duplex_ && state_ == State::kRequestBody && !upstream_filter_) {
    if (request_body_.size() + body.body().size() > limits_.max_request_body_bytes) {
      Immediate(pipeline_->Error(413, StrCat("request body exceeds the limit of ",
                                             limits_.max_request_body_bytes, " bytes"),
                                 "request_too_large"),
                replies->Add());
      return absl::OkStatus();
    }
    if (request_body_.empty()) request_body_.swap(*mutable_body->mutable_body());
    else request_body_.append(body.body());
    if (body.end_of_stream()) FinishFullDuplexRequest(/*trailers=*/false, replies);
    return absl::OkStatus();
  }
  pb::ProcessingResponse* out = replies->Add();
  if (state_ != State::kRequestBody) {
    return absl::FailedPreconditionError(
        "request body arrived in more than one message (or after the request was decided): "
        "the ext_proc filter's request_body_mode must be BUFFERED");
  }
  // BUFFERED sends the whole body in one message; its end_of_stream is false only when
  // trailers follow, so this message is the body either way.
  if (body.body().size() > limits_.max_request_body_bytes) {
    Immediate(pipeline_->Error(413, StrCat("request body exceeds the limit of ",
                                           limits_.max_request_body_bytes, " bytes"),
                               "request_too_large"),
              out);
    return absl::OkStatus();
  }
  request_body_.swap(*mutable_body->mutable_body());  // the message is done with
  if (layout_ == Layout::kTwoFilter && !upstream_filter_) {
    RouteByModel(request_body_, Where::kBodyReply, out);
  } else {
    Decide(pipeline_->OnRequestBody(request_body_), Where::kBodyReply, out);
  }
  return absl::OkStatus();
}

absl::Status StreamProcessor::UseEnvoyBackend(const std::string& backend) {
  const config::Config& cfg = *runtime_->config;
  // Only a config that routes on the backend header (filterapi's) can follow Envoy's choice;
  // sluice's own resource configs route on the model and ignore it.
  bool header_routed = false;
  for (const auto& r : cfg.routes) {
    for (const auto& rule : r.rules) {
      for (const auto& match : rule.matches) {
        for (const auto& hm : match) header_routed = header_routed || hm.name == config::kBackendHeader;
      }
    }
  }
  if (!header_routed) {
    log::Debug("extproc: Envoy named backend ", backend, "; the configuration routes by itself");
    return absl::OkStatus();
  }
  bool known = false;
  for (const auto& b : cfg.backends) known = known || b.name == backend;
  if (!known) {
    // As in the upstream filter: Envoy's route table and sluice's configuration disagree.
    return absl::InternalError(StrCat("Envoy's route chose backend `", backend,
                                      "`, which the configuration does not have"));
  }
  // Local only: what the pipeline's routing reads. Envoy's choice wins over a client's header.
  request_headers_.Remove(config::kBackendHeader);
  request_headers_.Add(config::kBackendHeader, backend);
  log::Debug("extproc: backend ", backend, " from Envoy's route");
  return absl::OkStatus();
}

absl::Status StreamProcessor::ReadRequestHeaders(const pb::HttpHeaders& h, std::string* method,
                                                 std::string* path) {
  request_headers_.reserve(static_cast<size_t>(h.headers().headers_size()) + 2);
  std::optional<std::string> authority;
  for (const auto& hv : h.headers().headers()) {
    const std::string& key = hv.key();
    std::string_view value = ValueOf(hv);
    if (IsPseudo(key)) {
      if (key == ":method") *method = std::string(value);
      else if (key == ":path") *path = std::string(value);
      else if (key == ":authority") authority = std::string(value);
      continue;  // :scheme and others are Envoy's business
    }
    request_headers_.Add(key, value);  // HeaderMap::Add lower-cases
  }
  if (method->empty() || path->empty()) {
    return absl::InvalidArgumentError("request_headers: :method and :path are required");
  }
  if (authority && !request_headers_.Has("host")) request_headers_.Add("host", *authority);
  request_path_ = *path;
  request_method_ = *method;
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnUpstreamRequestHeaders(const pb::ProcessingRequest& in, std::string backend,
                                                       pb::ProcessingResponse* out) {
  upstream_filter_ = true;
  const pb::HttpHeaders& h = in.request_headers();
  std::string method, path;
  if (absl::Status st = ReadRequestHeaders(h, &method, &path); !st.ok()) return st;
  if (absl::Status st = EnsurePinnedRuntime(); !st.ok()) return st;
  bool known = false;
  for (const auto& b : pinned_->config->backends) known = known || b.name == backend;
  if (!known) {
    // Envoy AI Gateway answers an unknown backend name with Internal as well: the route table
    // and sluice's configuration disagree.
    return absl::InternalError(StrCat("upstream filter: Envoy chose backend `", backend,
                                      "`, which the configuration does not have"));
  }
  log::Debug("extproc: upstream filter attempt for backend ", backend);
  PinPipeline(backend);
  if (in.has_metadata_context()) pipeline_->set_dynamic_metadata(DynamicMetadataOf(in.metadata_context()));
  if (auto local = pipeline_->OnRequestHeaders(method, path, request_headers_)) {
    Immediate(*local, out);
    return absl::OkStatus();
  }
  if (h.end_of_stream()) {
    Decide(pipeline_->OnRequestBody(request_body_), Where::kHeadersReply, out);
    return absl::OkStatus();
  }
  if (request_body_none_) {
    // Envoy AI Gateway's modes: no body comes to this filter. Translate the one the router-level
    // stream kept (CONTINUE_AND_REPLACE carries it) and tell that stream which backend this
    // attempt took, so it can translate the answer (its filter gets the response).
    std::shared_ptr<SavedRequest> saved;
    if (auto id = request_headers_.Get(kInternalRequestIdHeader)) saved = SavedRequests::Get().Find(*id);
    if (!saved) {
      return absl::InternalError(StrCat("upstream filter without a request body (request_body_mode NONE) and no ",
                                        kInternalRequestIdHeader, " of a router-level stream of this process"));
    }
    {
      std::lock_guard<std::mutex> l(saved->mu);
      request_body_ = saved->body;
      saved->backend = backend;
    }
    Decide(pipeline_->OnRequestBody(request_body_), Where::kHeadersReply, out);
    return absl::OkStatus();
  }
  out->mutable_request_headers();  // CONTINUE: the (replayed) buffered body comes next
  state_ = State::kRequestBody;
  return absl::OkStatus();
}

void StreamProcessor::RouteByModel(std::string_view body, Where where, pb::ProcessingResponse* out) {
  // The model, read the way the pipeline reads it (same errors, in the client's dialect).
  auto members = json::ScanObject(body);
  if (!members.ok()) {
    Immediate(pipeline_->Error(400, StrCat("request body is not valid JSON: ", members.status().message()),
                               "invalid_json"),
              out);
    return;
  }
  std::string model;
  for (const auto& m : *members) {
    if (m.key != "model") continue;
    std::string_view raw = body.substr(m.value_begin, m.value_end - m.value_begin);
    if (raw == "null") continue;
    auto s = raw.empty() || raw[0] != '"' ? absl::StatusOr<std::string>(absl::InvalidArgumentError(""))
                                          : json::DecodeStringToken(raw);
    if (!s.ok() || s->empty()) {
      Immediate(pipeline_->Error(400, "'model' must be a non-empty string", "invalid_type", "model"), out);
      return;
    }
    model = std::move(*s);
  }
  if (model.empty()) {
    Immediate(pipeline_->Error(400, "you must provide a model parameter", "missing_required_parameter", "model"),
              out);
    return;
  }
  // Not routed here: the answer passes through this stream; the upstream filter translates it.
  routed_ = false;
  state_ = State::kForwarded;
  pb::CommonResponse* common = where == Where::kBodyReply ? out->mutable_request_body()->mutable_response()
                                                         : out->mutable_request_headers()->mutable_response();
  MutationBuilder m;
  // FULL_DUPLEX_STREAMED: the headers were not answered yet; drop a client-sent backend header
  // here, as the headers reply does in the other modes.
  if (where == Where::kFullDuplex && request_headers_.Has(kSelectedBackendHeader)) m.Remove(kSelectedBackendHeader);
  m.Set("x-ai-eg-model", model);  // overwrites a client-sent value
  m.Set("x-ai-eg-original-path", request_path_);
  // For an upstream filter that gets no body (Envoy AI Gateway's modes): the body, kept here.
  saved_ = std::make_shared<SavedRequest>();
  saved_->id = StrCat(request_headers_.Get("x-request-id").value_or("req"), "-", ++g_internal_request_ids);
  saved_->body = std::string(body);
  SavedRequests::Get().Put(saved_->id, saved_);
  m.Set(kInternalRequestIdHeader, saved_->id);  // overwrites a client-sent value
  m.Build(common->mutable_header_mutation());
  // Re-pick the route on x-ai-eg-model (Envoy honours it with a header mutation in the reply).
  common->set_clear_route_cache(true);
  request_model_ = model;
}

absl::Status StreamProcessor::EnsurePinnedRuntime() {
  if (pinned_) return absl::OkStatus();
  auto built = BuildPinnedRuntime(runtime_->config);
  if (!built.ok()) return absl::InternalError(StrCat("upstream filter: ", built.status().message()));
  pinned_ = std::move(*built);
  return absl::OkStatus();
}

void StreamProcessor::PinPipeline(const std::string& backend) {
  // Local only: routes the pinned runtime's pipeline to this backend; never sent to Envoy (the
  // mutations are the pipeline's, which does not know it) and not signed (no signer signs
  // unknown headers).
  request_headers_.Remove(kPinnedBackendHeader);
  request_headers_.Add(kPinnedBackendHeader, backend);
  pipeline_ = std::make_unique<gateway::Pipeline>(pinned_, random_);
  // Costs need every stream's usage (as Envoy AI Gateway forces include_usage for costed
  // routes); without costs a backend that rejects stream_options is never sent it.
  pipeline_->set_want_usage(costs_ != nullptr && !costs_->empty());
}

void StreamProcessor::TranslateForLastAttempt() {
  std::string backend;
  {
    std::lock_guard<std::mutex> l(saved_->mu);
    backend = saved_->backend;
  }
  if (backend.empty()) return;  // no upstream filter took the body from here: pass through
  if (absl::Status st = EnsurePinnedRuntime(); !st.ok()) {
    log::Warn("extproc: router stream cannot translate the answer: ", st.message());
    return;
  }
  // The same translation the attempt's upstream filter made (its output is not sent again):
  // it sets up the translator the answer needs.
  PinPipeline(backend);
  pipeline_->set_translate_only(true);
  if (pipeline_->OnRequestHeaders(request_method_, request_path_, request_headers_)) return;
  gateway::Decision d = pipeline_->OnRequestBody(request_body_);
  if (auto* up = std::get_if<gateway::UpstreamRequest>(&d)) {
    routed_ = true;
    request_model_ = up->model;
    log::Debug("extproc: router stream translates the answer of backend ", backend);
  }
}

void StreamProcessor::Immediate(const gateway::ImmediateResponse& r, pb::ProcessingResponse* out) {
  pb::ImmediateResponse* ir = out->mutable_immediate_response();
  // StatusCode is an open proto3 enum: any number is carried as is.
  ir->mutable_status()->set_code(static_cast<::envoy::type::v3::StatusCode>(r.status));
  ir->set_body(r.body);
  MutationBuilder m;
  if (!r.content_type.empty()) m.Set("content-type", r.content_type);
  m.Add(r.headers, nullptr);
  m.Build(ir->mutable_headers());
  ir->set_details(StrCat("sluice_local_reply_", r.status));
  state_ = State::kLocalReply;
}

void StreamProcessor::Decide(gateway::Decision&& decision, Where where, pb::ProcessingResponse* out) {
  if (auto* local = std::get_if<gateway::ImmediateResponse>(&decision)) {
    Immediate(*local, out);
    return;
  }
  auto& up = std::get<gateway::UpstreamRequest>(decision);
  routed_ = true;
  state_ = State::kForwarded;

  pb::CommonResponse* common = where == Where::kBodyReply ? out->mutable_request_body()->mutable_response()
                                                         : out->mutable_request_headers()->mutable_response();
  MutationBuilder m;
  if (where == Where::kFullDuplex && request_headers_.Has(kSelectedBackendHeader)) m.Remove(kSelectedBackendHeader);
  // The router-level stream's correlation id is for this process only, not for providers.
  if (upstream_filter_ && request_headers_.Has(kInternalRequestIdHeader)) m.Remove(kInternalRequestIdHeader);
  m.Add(up.headers, &request_headers_);
  m.Set(":path", up.path);
  // Needs the filter's mutation_rules.allow_all_routing; without it Envoy ignores this set
  // (rejected_header_mutations) and the route's host rewrite must supply the host.
  m.Set(":authority", up.host);
  // The route is Envoy's choice in the upstream filter: nothing to re-route on.
  if (!upstream_filter_) m.Set(kSelectedBackendHeader, up.backend->name);
  size_t body_size = up.body ? up.body->size() : request_body_.size();
  if (where == Where::kFullDuplex) {
    // Envoy strips content-length for FULL_DUPLEX_STREAMED bodies (and drops one we would
    // set); the pipeline's removal stands. The body goes back in streamed_response replies.
    full_duplex_body_ = std::move(up.body);
  } else if (up.body) {
    // The pipeline drops content-length for drivers that re-frame; here Envoy forwards the
    // buffered body with the client's content-length unless we set the new one.
    m.Unremove("content-length");
    if (where == Where::kHeadersReply) {
      // Adding a body to a header-only request: only CONTINUE_AND_REPLACE does that, and Envoy
      // then drops content-length itself.
      common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
    } else {
      m.Set("content-length", StrCat(body_size));
    }
    common->mutable_body_mutation()->set_body(std::move(*up.body));
  } else {
    m.Unremove("content-length");
  }
  m.Build(common->mutable_header_mutation());
  // Re-pick the route on the new headers (x-ai-eg-model, the backend header). Envoy honours
  // this only with a header mutation in the same response, which there always is here. An
  // upstream filter runs after routing: there is no route cache to clear.
  if (!upstream_filter_) common->set_clear_route_cache(true);

  MetadataWriter md;
  md.Str("backend_name", up.backend->name);
  md.Str("ai_service_backend_name", up.backend->name);
  md.Str("model_name_override", up.model);
  request_model_ = up.model;
  md.Num("content_length", static_cast<double>(body_size));
  md.WriteTo(out);
}

absl::Status StreamProcessor::OnResponseHeaders(const pb::HttpHeaders& h, Replies* replies) {
  pb::ProcessingResponse* out = replies->Add();
  if (state_ == State::kRequestHeaders) {
    return absl::FailedPreconditionError("response_headers before request_headers");
  }
  if (state_ == State::kResponseBody) {
    return absl::FailedPreconditionError("response_headers received twice");
  }
  std::optional<int> status;
  for (const auto& hv : h.headers().headers()) {
    const std::string& key = hv.key();
    std::string_view value = ValueOf(hv);
    if (key == ":status") {
      int v = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec == std::errc() && p == value.data() + value.size() && v >= 100 && v <= 999) status = v;
      continue;
    }
    if (IsPseudo(key)) continue;
    response_headers_.Add(key, value);  // HeaderMap::Add lower-cases
  }
  if (!status) return absl::InvalidArgumentError("response_headers: missing or invalid :status");
  response_status_ = *status;
  // A request that was never routed (no body reached us: request_body_mode NONE, or a
  // request Envoy answered itself) is passed through as the upstream sent it.
  if (state_ == State::kRequestBody) {
    log::Debug("extproc: response for a request that was not routed here: passed through");
    routed_ = false;
  }
  state_ = State::kResponseBody;
  response_full_duplex_ = response_full_duplex_config_;
  pb::CommonResponse* common = out->mutable_response_headers()->mutable_response();
  if (!routed_ && saved_ && layout_ == Layout::kTwoFilter && !upstream_filter_) TranslateForLastAttempt();
  if (!routed_) return absl::OkStatus();

  bool ok = response_status_ >= 200 && response_status_ < 300;
  MutationBuilder m;
  http::HeaderMutation pipeline_mutation = pipeline_->OnResponseHeaders(response_status_, response_headers_);
  if (response_full_duplex_ && !ok && !h.end_of_stream()) {
    // FULL_DUPLEX_STREAMED error: Envoy holds the headers until we answer them, and the
    // translated error's status and content-type are known only with its whole body.
    replies->PopBack();
    response_headers_deferred_ = true;
    deferred_response_mutation_ = std::move(pipeline_mutation);
    return absl::OkStatus();
  }
  m.Add(pipeline_mutation, &response_headers_);
  auto content_type = response_headers_.Get("content-type");
  bool event_stream = (content_type && IsEventStream(*content_type)) || (!content_type && pipeline_->stream());
  if (response_full_duplex_) {
    // Configured so: every answer streams; Envoy strips content-length.
    response_streamed_ = true;
  } else if (ok && event_stream && !request_full_duplex_) {
    // A stream: have Envoy send the body as it arrives (needs allow_mode_override; Envoy
    // ignores overrides when a configured body mode is FULL_DUPLEX_STREAMED, so none is sent
    // then). Body modes in an override are taken literally; the request body is over, so only
    // the response mode matters. Envoy drops content-length for streamed bodies; the
    // pipeline's removal of it stays.
    using ProcessingMode = ::envoy::extensions::filters::http::ext_proc::v3::ProcessingMode;
    response_streamed_ = true;
    if (limits_.full_duplex_response_override) {
      response_full_duplex_ = true;
      out->mutable_mode_override()->set_response_body_mode(wire::kFullDuplexStreamed);
      out->mutable_mode_override()->set_response_trailer_mode(ProcessingMode::SEND);  // Envoy requires it
    } else {
      out->mutable_mode_override()->set_response_body_mode(ProcessingMode::STREAMED);
    }
  } else {
    // Buffered: content-length is kept by Envoy; the body reply sets the translated length.
    m.Unremove("content-length");
  }
  if (ok && pipeline_->dialect() == gateway::Dialect::kOpenAI) {
    usage_observer_ = std::make_unique<OpenAIUsageObserver>(event_stream);
  }
  if (h.end_of_stream()) {
    // No body follows. A non-2xx answer still needs its error translated: CONTINUE_AND_REPLACE
    // is the only way to attach a body to a header reply.
    response_ended_ = true;
    if (!ok) {
      gateway::ImmediateResponse r = pipeline_->OnResponseError(response_status_, response_headers_, {});
      if (!r.body.empty()) {
        common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
        common->mutable_body_mutation()->set_body(r.body);
        if (!r.content_type.empty()) m.Set("content-type", r.content_type);
      }
      if (r.status != response_status_) m.Set(":status", StrCat(r.status));
      m.Add(r.headers, nullptr);
    } else {
      std::string rest;
      if (pipeline_->OnResponseBody({}, true, &rest).ok() && !rest.empty()) {
        common->set_status(pb::CommonResponse::CONTINUE_AND_REPLACE);
        common->mutable_body_mutation()->set_body(rest);
      }
      if (usage_observer_) usage_observer_->Feed(rest, true);
      EmitUsage(out);
    }
  }
  if (!m.empty()) m.Build(common->mutable_header_mutation());
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnResponseBody(const pb::HttpBody& body, Replies* replies) {
  if (state_ != State::kResponseBody) {
    return absl::FailedPreconditionError("response_body before response_headers");
  }
  if (response_full_duplex_) return OnFullDuplexResponseBody(body.body(), body.end_of_stream(), replies);
  pb::ProcessingResponse* out = replies->Add();
  pb::CommonResponse* common = out->mutable_response_body()->mutable_response();
  bool first = response_first_chunk_;
  response_first_chunk_ = false;
  if (!routed_ || response_ended_) return absl::OkStatus();  // unchanged
  // A single message that ends the body, when we did not ask for STREAMED, is a BUFFERED
  // body: Envoy still holds the headers, so a header mutation here applies, and content-length
  // must match the replaced body. (If Envoy refused the override it is BUFFERED too, but the
  // headers reply already dropped content-length, so there is nothing to keep consistent.)
  bool whole = !response_streamed_ && first && body.end_of_stream();
  bool eos = body.end_of_stream();
  MutationBuilder m;

  if (response_status_ < 200 || response_status_ >= 300) {
    // Errors are translated whole; chunks before the last are withheld.
    if (error_body_.size() + body.body().size() > limits_.max_error_body_bytes) {
      return absl::ResourceExhaustedError(StrCat("upstream error body exceeds ",
                                                 limits_.max_error_body_bytes, " bytes"));
    }
    error_body_.append(body.body());
    if (!eos) {
      common->mutable_body_mutation()->set_clear_body(true);
      return absl::OkStatus();
    }
    response_ended_ = true;
    gateway::ImmediateResponse r = pipeline_->OnResponseError(response_status_, response_headers_, error_body_);
    common->mutable_body_mutation()->set_body(r.body);
    if (r.status != response_status_) m.Set(":status", StrCat(r.status));
    if (!r.content_type.empty()) m.Set("content-type", r.content_type);
    m.Add(r.headers, nullptr);
    if (whole) m.Set("content-length", StrCat(r.body.size()));
    m.Build(common->mutable_header_mutation());
    return absl::OkStatus();
  }

  if (response_broken_) {
    common->mutable_body_mutation()->set_clear_body(true);
    return absl::OkStatus();
  }
  std::string translated;
  absl::Status st = pipeline_->OnResponseBody(body.body(), eos, &translated);
  NoteOutput(translated);
  if (eos) response_ended_ = true;
  if (!st.ok()) {
    log::Warn("extproc: upstream answer could not be translated: ", st.message());
    if (whole) {
      gateway::ImmediateResponse r = pipeline_->Error(502, "upstream response could not be translated",
                                                      "upstream_malformed");
      common->mutable_body_mutation()->set_body(r.body);
      m.Set(":status", StrCat(r.status));
      m.Set("content-type", r.content_type);
      m.Set("content-length", StrCat(r.body.size()));
      m.Build(common->mutable_header_mutation());
    } else {
      // Mid-stream: the headers are gone. Events translated before the bad one still reach
      // the client (as in the standalone driver), then an error in its dialect ends the stream.
      response_broken_ = true;
      translated += pipeline_->StreamError(st);
      common->mutable_body_mutation()->set_body(translated);
    }
    return absl::OkStatus();
  }
  if (usage_observer_) usage_observer_->Feed(translated, eos);
  if (translated != body.body()) {
    if (whole) {
      m.Set("content-length", StrCat(translated.size()));
      m.Build(common->mutable_header_mutation());
    }
    if (translated.empty()) common->mutable_body_mutation()->set_clear_body(true);
    else common->mutable_body_mutation()->set_body(std::move(translated));
  }
  if (eos) EmitUsage(out);
  return absl::OkStatus();
}

absl::Status StreamProcessor::OnFullDuplexResponseBody(std::string_view chunk, bool eos, Replies* replies) {
  if (!routed_ || response_ended_) {
    // Not ours to change, but under FULL_DUPLEX_STREAMED only what we send back reaches the
    // client: echo it.
    AddStreamed(/*request=*/false, chunk, eos, replies);
    return absl::OkStatus();
  }
  if (response_headers_deferred_) {
    if (error_body_.size() + chunk.size() > limits_.max_error_body_bytes) {
      return absl::ResourceExhaustedError(StrCat("upstream error body exceeds ",
                                                 limits_.max_error_body_bytes, " bytes"));
    }
    error_body_.append(chunk);
    if (eos) FinishFullDuplexError(/*end_of_stream=*/true, replies);
    return absl::OkStatus();
  }
  if (response_broken_) {
    // The error event went out already; only the end of the body is still owed.
    if (eos) AddStreamed(/*request=*/false, {}, true, replies);
    return absl::OkStatus();
  }
  std::string translated;
  absl::Status st = pipeline_->OnResponseBody(chunk, eos, &translated);
  NoteOutput(translated);
  if (eos) response_ended_ = true;
  if (!st.ok()) {
    // Events translated before the bad one still reach the client, then an error in its
    // dialect ends the stream (as in the standalone driver).
    log::Warn("extproc: upstream answer could not be translated: ", st.message());
    response_broken_ = true;
    translated += pipeline_->StreamError(st);
    AddStreamed(/*request=*/false, translated, eos, replies);
    return absl::OkStatus();
  }
  if (usage_observer_) usage_observer_->Feed(translated, eos);
  pb::ProcessingResponse* last = AddStreamed(/*request=*/false, translated, eos, replies);
  if (eos) EmitUsage(last);
  return absl::OkStatus();
}

void StreamProcessor::FinishFullDuplexError(bool eos, Replies* replies) {
  response_headers_deferred_ = false;
  response_ended_ = true;
  gateway::ImmediateResponse r = pipeline_->OnResponseError(response_status_, response_headers_, error_body_);
  MutationBuilder m;
  m.Add(deferred_response_mutation_, &response_headers_);
  if (r.status != response_status_) m.Set(":status", StrCat(r.status));
  if (!r.content_type.empty()) m.Set("content-type", r.content_type);
  m.Add(r.headers, nullptr);
  pb::ProcessingResponse* head = replies->Add();
  pb::CommonResponse* common = head->mutable_response_headers()->mutable_response();
  if (!m.empty()) m.Build(common->mutable_header_mutation());
  AddStreamed(/*request=*/false, r.body, eos, replies);
}

// Envoy AI Gateway's keys (§4.6 of the reference): backend_name, ai_service_backend_name,
// route_name, model_name_override, response_model, then one number per configured cost
// metadataKey (route-scoped over global; resource files: their AIGatewayRoutes'
// spec.llmRequestCosts). Without configured costs, the standard keys of its examples:
// llm_input_token, llm_output_token, llm_total_token. CEL costs are evaluated on the usage.
void StreamProcessor::EmitUsage(pb::ProcessingResponse* out) {
  if (usage_emitted_ || !pipeline_) return;
  usage_emitted_ = true;
  MetadataWriter md;
  const config::Backend* backend = pipeline_->backend();
  config::BackendNameParts parts;
  if (backend != nullptr) {
    parts = config::SplitBackendName(backend->name);
    md.Str("backend_name", backend->name);
    md.Str("ai_service_backend_name", parts.short_name);
    // filterapi names carry their route; resource configs' come from the rule that matched.
    if (parts.route_name.empty() && pipeline_->route() != nullptr && pipeline_->route()->name != "sluice/pinned") {
      parts.route_name = pipeline_->route()->name;
    }
    if (!parts.route_name.empty()) md.Str("route_name", parts.route_name);
  }
  if (!request_model_.empty()) md.Str("model_name_override", request_model_);
  // The pipeline's translator first; what the client was sent otherwise (OpenAI dialect).
  std::string_view response_model = pipeline_->response_model();
  if (response_model.empty() && usage_observer_) response_model = usage_observer_->model();
  if (!response_model.empty()) md.Str("response_model", response_model);
  const translate::Usage* u = pipeline_->usage();
  translate::Usage zero;
  if (u == nullptr) u = &zero;
  if (u->input_tokens == 0 && u->output_tokens == 0 && u->total_tokens == 0 && usage_observer_ &&
      usage_observer_->has_usage()) {
    u = &usage_observer_->usage();
  }
  // One cost's value on this request's usage; -1 leaves it out. A CEL cost runs its program
  // (Envoy AI Gateway's variables; `model` is the final model); one that fails on this usage
  // (an overflow, a negative result) is left out, and said.
  auto value = [&](const config::LlmRequestCost& c) -> int64_t {
    using T = config::LlmRequestCost::Type;
    switch (c.type) {
      case T::kInputToken: return u->input_tokens;
      case T::kCachedInputToken: return u->cached_input_tokens;
      case T::kCacheCreationInputToken: return u->cache_creation_input_tokens;
      case T::kOutputToken: return u->output_tokens;
      case T::kTotalToken: return u->total_tokens;
      case T::kReasoningToken: return u->reasoning_tokens;
      case T::kCEL: break;
    }
    if (!c.program) return -1;
    auto count = [](int64_t n) { return static_cast<uint64_t>(std::max<int64_t>(0, n)); };
    cel::CostInputs in;
    in.model = request_model_;
    in.backend = backend != nullptr ? std::string_view(backend->name) : std::string_view();
    in.route_name = parts.route_name;
    in.input_tokens = count(u->input_tokens);
    in.cached_input_tokens = count(u->cached_input_tokens);
    in.cache_creation_input_tokens = count(u->cache_creation_input_tokens);
    in.output_tokens = count(u->output_tokens);
    in.total_tokens = count(u->total_tokens);
    in.reasoning_tokens = count(u->reasoning_tokens);
    absl::StatusOr<uint64_t> v = c.program->Evaluate(in);
    if (!v.ok()) {
      log::Warn("extproc: cost ", c.metadata_key, " not emitted: ", std::string(v.status().message()));
      return -1;
    }
    return static_cast<int64_t>(std::min<uint64_t>(*v, uint64_t{1} << 53));
  };
  if (first_output_) {
    // Envoy AI Gateway's streaming latencies, in milliseconds: time to the first bytes of the
    // answer, and the time per output token after it.
    using Ms = std::chrono::duration<double, std::milli>;
    double ttft = Ms(*first_output_ - request_start_).count();
    double rest = Ms(std::chrono::steady_clock::now() - *first_output_).count();
    md.Num("token_latency_ttft", ttft);
    md.Num("token_latency_itl", u->output_tokens > 1 ? rest / static_cast<double>(u->output_tokens - 1) : 0.0);
  }
  if (costs_ == nullptr || costs_->empty()) {
    md.Num("llm_input_token", static_cast<double>(u->input_tokens));
    md.Num("llm_output_token", static_cast<double>(u->output_tokens));
    md.Num("llm_total_token", static_cast<double>(u->total_tokens));
  } else {
    for (const config::LlmRequestCost* c : config::CostsFor(*costs_, parts.route_name, parts.short_name,
                                                            request_model_)) {
      int64_t v = value(*c);
      if (v >= 0) md.Num(c->metadata_key, static_cast<double>(v));
    }
  }
  md.WriteTo(out);
}

}  // namespace sluice::extproc
