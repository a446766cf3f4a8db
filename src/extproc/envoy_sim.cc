#include "extproc/envoy_sim.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#include "common/strings.h"
#include "extproc/newer_api.h"

namespace sluice::extproc::testing {
namespace {

using ::envoy::config::core::v3::HeaderMap;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

void Set(Headers& h, const std::string& name, const std::string& value) {
  auto first = std::find_if(h.begin(), h.end(), [&](const auto& e) { return e.first == name; });
  if (first != h.end()) {
    // A set overwrites every value of the name: keep the first entry, drop the others.
    first->second = value;
    h.erase(std::remove_if(first + 1, h.end(), [&](const auto& e) { return e.first == name; }), h.end());
    return;
  }
  // Pseudo-headers stay in front.
  if (!name.empty() && name[0] == ':') {
    auto it = std::find_if(h.begin(), h.end(), [](const auto& e) { return e.first.empty() || e.first[0] != ':'; });
    h.insert(it, {name, value});
  } else {
    h.emplace_back(name, value);
  }
}

void Remove(Headers& h, const std::string& name) {
  h.erase(std::remove_if(h.begin(), h.end(), [&](const auto& e) { return e.first == name; }), h.end());
}

void ToProto(const Headers& h, bool in_value, HeaderMap* out) {
  for (const auto& [k, v] : h) {
    auto* hv = out->add_headers();
    hv->set_key(k);
    if (in_value) hv->set_value(v);
    else hv->set_raw_value(v);
  }
}

std::string ReplyKind(const pb::ProcessingResponse& r) {
  switch (r.response_case()) {
    case pb::ProcessingResponse::kRequestHeaders: return "request_headers";
    case pb::ProcessingResponse::kResponseHeaders: return "response_headers";
    case pb::ProcessingResponse::kRequestBody: return "request_body";
    case pb::ProcessingResponse::kResponseBody: return "response_body";
    case pb::ProcessingResponse::kRequestTrailers: return "request_trailers";
    case pb::ProcessingResponse::kResponseTrailers: return "response_trailers";
    case pb::ProcessingResponse::kImmediateResponse: return "immediate_response";
    default: return "empty";
  }
}

bool IsBodyMode(ProcessingMode::BodySendMode m, ProcessingMode::BodySendMode want) { return m == want; }

}  // namespace

std::optional<std::string> Get(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return std::nullopt;
}

FilterConfig::FilterConfig() {
  processing_mode.set_request_header_mode(ProcessingMode::SEND);
  processing_mode.set_response_header_mode(ProcessingMode::SEND);
  processing_mode.set_request_body_mode(ProcessingMode::BUFFERED);
  processing_mode.set_response_body_mode(ProcessingMode::BUFFERED);
  processing_mode.set_request_trailer_mode(ProcessingMode::SKIP);
  processing_mode.set_response_trailer_mode(ProcessingMode::SKIP);
}

std::string HttpMessage::Body() const {
  std::string out;
  for (const auto& c : body) out += c;
  return out;
}

// One HTTP request's ext_proc stream.
class EnvoySim::Stream {
 public:
  Stream(pb::ExternalProcessor::Stub& stub, const FilterConfig& config, Result& result)
      : config_(config), mode_(config.processing_mode), result_(result) {
    rw_ = stub.Process(&ctx_);
  }

  void Run(const HttpMessage& request, const Upstream& upstream) {
    result_.forwarded = RequestPath(request);
    if (result_.forwarded && upstream) {
      std::optional<HttpMessage> answer = upstream(result_.upstream_request);
      if (answer) ResponsePath(*answer);
    }
    Close();
  }

 private:
  enum class Direction { kRequest, kResponse };

  void Violation(std::string what) { result_.violations.push_back(std::move(what)); }

  // Envoy's reaction to a stream it cannot use: a local reply with status_on_error (500).
  void FailRequest(std::string why) {
    failed_ = true;
    result_.local_reply = true;
    result_.local_status = 500;
    result_.local_body = std::move(why);
  }

  bool Send(pb::ProcessingRequest& m, std::string kind) {
    if (first_message_ && config_.send_protocol_config) {
      // Envoy >= 1.34: the effective body modes, with the first message only.
      wire::ProtocolConfig pc;
      pc.request_body_mode = config_.processing_mode.request_body_mode();
      pc.response_body_mode = config_.processing_mode.response_body_mode();
      wire::SetProtocolConfig(pc, &m);
    }
    first_message_ = false;
    if (config_.metadata_context.filter_metadata_size() > 0) *m.mutable_metadata_context() = config_.metadata_context;
    result_.sent.push_back(std::move(kind));
    if (!rw_->Write(m)) {
      FailRequest("ext_proc stream closed while sending");
      return false;
    }
    return true;
  }

  // The next reply, checked against the kinds Envoy would accept for what it sent.
  std::optional<pb::ProcessingResponse> Receive(const std::string& expected, bool immediate_ok) {
    pb::ProcessingResponse r;
    if (!rw_->Read(&r)) {
      stream_ended_ = true;
      FailRequest("ext_proc stream ended without a reply to " + expected);
      return std::nullopt;
    }
    std::string kind = ReplyKind(r);
    result_.replies.push_back(kind);
    if (kind == expected || (immediate_ok && kind == "immediate_response")) {
      if (kind != "immediate_response" && r.has_mode_override() && expected.find("headers") == std::string::npos) {
        Violation("mode_override in a " + kind + " reply: Envoy honours it only on header replies");
      }
      MergeMetadata(r);
      return r;
    }
    Violation("spurious reply: expected " + expected + ", got " + kind);
    FailRequest("spurious ext_proc message");
    return std::nullopt;
  }

  void MergeMetadata(const pb::ProcessingResponse& r) {
    if (!r.has_dynamic_metadata()) return;
    for (const auto& [ns, value] : r.dynamic_metadata().fields()) {
      if (value.kind_case() != google::protobuf::Value::kStructValue) {
        Violation("dynamic_metadata namespace " + ns + " is not a Struct");
        continue;
      }
      if (std::find(config_.receiving_namespaces.begin(), config_.receiving_namespaces.end(), ns) ==
          config_.receiving_namespaces.end()) {
        continue;  // Envoy drops namespaces it was not told to receive
      }
      auto& target = (*result_.metadata.mutable_fields())[ns];
      for (const auto& [k, v] : value.struct_value().fields()) (*target.mutable_struct_value()->mutable_fields())[k] = v;
    }
  }

  // Envoy's default mutation checks (mutation_rules {allow_all_routing}) and application:
  // removals first, then sets.
  bool ApplyHeaderMutation(const pb::HeaderMutation& m, Headers& h, Direction dir, bool replacing) {
    for (const auto& name : m.remove_headers()) {
      if (name != Lower(name)) Violation("remove_headers name not lower-case: " + name);
      std::string key = Lower(name);
      if ((!key.empty() && key[0] == ':') || key == "host") {
        Violation("removes " + key + ": Envoy never lets a filter remove host or a pseudo-header");
        ++result_.rejected_mutations;
        continue;
      }
      if (key.rfind("x-envoy-", 0) == 0) {
        ++result_.rejected_mutations;
        continue;
      }
      Remove(h, key);
    }
    for (const auto& opt : m.set_headers()) {
      if (!opt.has_header()) continue;
      const auto& hv = opt.header();
      if (hv.key() != Lower(hv.key())) Violation("set_headers name not lower-case: " + hv.key());
      if (!hv.value().empty() && !hv.raw_value().empty()) {
        Violation("header " + hv.key() + " sets both value and raw_value: Envoy fails the request");
        FailRequest("invalid header mutation");
        return false;
      }
      if (hv.raw_value().empty() && !hv.value().empty()) {
        Violation("header " + hv.key() + " is set in `value`, which Envoy >= 1.32 ignores (use raw_value)");
      }
      std::string key = Lower(hv.key());
      const std::string& value = hv.raw_value();
      if (value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
        Violation("header " + key + " has an invalid character");
        FailRequest("invalid header mutation");
        return false;
      }
      // The deprecated `append` is the only append control Envoy's ext_proc honours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      bool append = opt.has_append() && opt.append().value();
#pragma GCC diagnostic pop
      bool pseudo = !key.empty() && key[0] == ':';
      if (pseudo && append) {
        Violation("appends to pseudo-header " + key);
        continue;
      }
      if (key == ":authority" || key == "host" || key == ":method" || key == ":scheme") {
        bool method_replace = key == ":method" && replacing;
        if (!config_.allow_all_routing && !method_replace) {
          ++result_.rejected_mutations;
          continue;
        }
        if (key == ":scheme" && value != "http" && value != "https") {
          Violation(":scheme set to " + value);
          continue;
        }
        if (key == "host") key = ":authority";
      } else if (key == ":status") {
        int code = 0;
        for (char c : value) code = (c >= '0' && c <= '9') ? code * 10 + (c - '0') : -100000;
        if (dir == Direction::kRequest || code < 200 || code > 999) {
          Violation(":status set to \"" + value + "\"" + (dir == Direction::kRequest ? " on the request path" : ""));
          continue;
        }
      } else if (pseudo && key != ":path") {
        Violation("sets unknown pseudo-header " + key);
        continue;
      } else if (key.rfind("x-envoy-", 0) == 0) {
        ++result_.rejected_mutations;
        continue;
      }
      if (append && Get(h, key)) h.emplace_back(key, value);
      else Set(h, key, value);
    }
    return true;
  }

  // Applies a CommonResponse. `body` is the whole body (buffered) or the current chunk.
  // Returns false when Envoy would fail the request.
  bool ApplyCommon(const pb::CommonResponse& c, Headers& h, std::string& body, Direction dir,
                   bool headers_reply, bool headers_held) {
    bool replacing = c.status() == pb::CommonResponse::CONTINUE_AND_REPLACE;
    if (replacing && !headers_reply) {
      Violation("CONTINUE_AND_REPLACE in a body reply");
    }
    if (c.has_header_mutation()) {
      if (headers_held) {
        if (!ApplyHeaderMutation(c.header_mutation(), h, dir, replacing)) return false;
      } else if (c.header_mutation().set_headers_size() + c.header_mutation().remove_headers_size() > 0) {
        // Allowed, but Envoy cannot apply it: the headers have left already (STREAMED).
        ++result_.rejected_mutations;
      }
    }
    if (c.clear_route_cache()) {
      if (!c.has_header_mutation()) {
        Violation("clear_route_cache without a header_mutation: Envoy ignores it");
      } else if (dir == Direction::kResponse) {
        Violation("clear_route_cache on the response path: Envoy ignores it");
      } else {
        result_.route_cache_cleared = true;
      }
    }
    if (c.has_body_mutation()) {
      if (headers_reply && !replacing) {
        Violation("body_mutation in a headers reply without CONTINUE_AND_REPLACE: Envoy ignores it");
      } else if (c.body_mutation().mutation_case() == pb::BodyMutation::kBody) {
        body = c.body_mutation().body();
      } else if (c.body_mutation().mutation_case() == pb::BodyMutation::kClearBody && c.body_mutation().clear_body()) {
        body.clear();
      }
    }
    if (replacing) Remove(h, "content-length");  // Envoy drops it with CONTINUE_AND_REPLACE
    return true;
  }

  void ApplyModeOverride(const pb::ProcessingResponse& r) {
    if (!r.has_mode_override()) return;
    if (!config_.allow_mode_override) return;  // ignored
    // Envoy ignores overrides when either configured body mode is FULL_DUPLEX_STREAMED.
    if (config_.processing_mode.request_body_mode() == kFullDuplexStreamed ||
        config_.processing_mode.response_body_mode() == kFullDuplexStreamed) {
      return;
    }
    const ProcessingMode& o = r.mode_override();
    auto trailer_send = [&](ProcessingMode::HeaderSendMode over, ProcessingMode::HeaderSendMode base) {
      return over == ProcessingMode::SEND || (over == ProcessingMode::DEFAULT && base == ProcessingMode::SEND);
    };
    if ((o.request_body_mode() == kFullDuplexStreamed &&
         !trailer_send(o.request_trailer_mode(), mode_.request_trailer_mode())) ||
        (o.response_body_mode() == kFullDuplexStreamed &&
         !trailer_send(o.response_trailer_mode(), mode_.response_trailer_mode()))) {
      Violation("mode_override to FULL_DUPLEX_STREAMED without that direction's trailer mode SEND");
      return;
    }
    // Header and trailer modes: DEFAULT means unchanged; body modes are literal.
    if (o.response_header_mode() != ProcessingMode::DEFAULT) mode_.set_response_header_mode(o.response_header_mode());
    if (o.request_trailer_mode() != ProcessingMode::DEFAULT) mode_.set_request_trailer_mode(o.request_trailer_mode());
    if (o.response_trailer_mode() != ProcessingMode::DEFAULT) mode_.set_response_trailer_mode(o.response_trailer_mode());
    mode_.set_request_body_mode(o.request_body_mode());
    mode_.set_response_body_mode(o.response_body_mode());
  }

  void CheckContentLength(const Headers& h, const std::string& body, const char* where) {
    auto cl = Get(h, "content-length");
    if (cl && *cl != std::to_string(body.size())) {
      Violation(std::string(where) + ": content-length " + *cl + " does not match the body (" +
                std::to_string(body.size()) + " bytes): Envoy rejects the mutation");
      FailRequest("content-length mismatch");
    }
  }

  // Sends a body per `body_mode` and applies the replies. Returns false if the request failed.
  bool Body(Direction dir, ProcessingMode::BodySendMode body_mode, const std::vector<std::string>& chunks,
            bool has_trailers, bool header_sent, Headers& h, std::string& out, bool* local) {
    const bool request = dir == Direction::kRequest;
    const std::string kind = request ? "request_body" : "response_body";
    if (IsBodyMode(body_mode, ProcessingMode::BUFFERED) || IsBodyMode(body_mode, ProcessingMode::BUFFERED_PARTIAL)) {
      std::string whole;
      for (const auto& c : chunks) whole += c;
      pb::ProcessingRequest m;
      pb::HttpBody* b = request ? m.mutable_request_body() : m.mutable_response_body();
      b->set_body(whole);
      b->set_end_of_stream(!has_trailers);
      if (!Send(m, kind)) return false;
      auto r = Receive(kind, true);
      if (!r) return false;
      if (r->has_immediate_response()) return Immediate(*r, local);
      const pb::CommonResponse& c = request ? r->request_body().response() : r->response_body().response();
      bool held = header_sent;  // BUFFERED holds the headers until the body reply
      if (!ApplyCommon(c, h, whole, dir, false, held)) return false;
      if (held && IsBodyMode(body_mode, ProcessingMode::BUFFERED)) {
        CheckContentLength(h, whole, request ? "request body reply" : "response body reply");
        if (failed_) return false;
      }
      out = std::move(whole);
      return true;
    }
    if (IsBodyMode(body_mode, ProcessingMode::STREAMED)) {
      // Envoy sends chunks as they arrive without waiting for replies; replies come in order.
      // A bounded window keeps both sides' flow control from deadlocking on large bodies.
      constexpr size_t kMaxInFlight = 8, kMaxInFlightBytes = 48 << 10;
      std::deque<size_t> in_flight;
      size_t bytes = 0, next = 0;
      out.clear();
      while (next < chunks.size() || !in_flight.empty()) {
        if (next < chunks.size() && (in_flight.empty() || (in_flight.size() < kMaxInFlight && bytes + chunks[next].size() <= kMaxInFlightBytes))) {
          pb::ProcessingRequest m;
          pb::HttpBody* b = request ? m.mutable_request_body() : m.mutable_response_body();
          b->set_body(chunks[next]);
          b->set_end_of_stream(next + 1 == chunks.size() && !has_trailers);
          if (!Send(m, kind)) return false;
          in_flight.push_back(next);
          bytes += chunks[next].size();
          ++next;
          continue;
        }
        size_t i = in_flight.front();
        in_flight.pop_front();
        bytes -= chunks[i].size();
        auto r = Receive(kind, true);
        if (!r) return false;
        if (r->has_immediate_response()) return Immediate(*r, local);
        const pb::CommonResponse& c = request ? r->request_body().response() : r->response_body().response();
        std::string piece = chunks[i];
        if (!ApplyCommon(c, h, piece, dir, false, /*headers_held=*/false)) return false;
        out += piece;
      }
      Remove(h, "content-length");  // Envoy strips it for STREAMED bodies
      return true;
    }
    out.clear();
    for (const auto& c : chunks) out += c;  // NONE: the body passes untouched
    return true;
  }

  // FULL_DUPLEX_STREAMED: sends the body chunks and then the trailers (if any) without
  // waiting, while a second thread reads the replies until the last one due (the body's
  // end_of_stream, the trailers reply, or an immediate_response), then applies and checks them
  // in order. `headers_pending`: the headers were sent and not answered yet. Returns false if
  // the request failed; `*local` when it was answered locally.
  bool FullDuplex(Direction dir, const std::vector<std::string>& chunks, bool headers_pending, Headers& h,
                  std::string& out, Headers& trailers, bool* local) {
    const bool request = dir == Direction::kRequest;
    const std::string headers_kind = request ? "request_headers" : "response_headers";
    const std::string body_kind = request ? "request_body" : "response_body";
    const std::string trailers_kind = request ? "request_trailers" : "response_trailers";
    const bool has_trailers = !trailers.empty();
    if ((request ? config_.processing_mode.request_trailer_mode() : config_.processing_mode.response_trailer_mode()) !=
            ProcessingMode::SEND &&
        (request ? mode_.request_trailer_mode() : mode_.response_trailer_mode()) != ProcessingMode::SEND) {
      Violation("FULL_DUPLEX_STREAMED needs the direction's trailer mode SEND (Envoy rejects the configuration)");
    }
    if (request) result_.request_body_full_duplex = true;
    else result_.response_body_full_duplex = true;

    // The reader: replies until the last one due, or the stream's end.
    std::vector<pb::ProcessingResponse> got;
    bool reader_done = false;
    std::mutex mu;
    std::condition_variable cv;
    std::thread reader([&] {
      for (;;) {
        pb::ProcessingResponse r;
        if (!rw_->Read(&r)) break;
        bool last = r.has_immediate_response();
        if (ReplyKind(r) == trailers_kind) last = true;
        if (!has_trailers && ReplyKind(r) == body_kind && r.has_request_body() == request) {
          const pb::CommonResponse& c = request ? r.request_body().response() : r.response_body().response();
          auto sb = wire::ReadStreamedResponse(c.body_mutation());
          if (sb && sb->end_of_stream) last = true;
        }
        std::lock_guard<std::mutex> lock(mu);
        got.push_back(std::move(r));
        if (last) break;
      }
      std::lock_guard<std::mutex> lock(mu);
      reader_done = true;
      cv.notify_all();
    });
    bool sent_all = true;
    for (size_t i = 0; i < chunks.size() && sent_all; ++i) {
      pb::ProcessingRequest m;
      pb::HttpBody* b = request ? m.mutable_request_body() : m.mutable_response_body();
      b->set_body(chunks[i]);
      b->set_end_of_stream(i + 1 == chunks.size() && !has_trailers);
      sent_all = Send(m, body_kind);
    }
    if (sent_all && has_trailers) {
      pb::ProcessingRequest m;
      ToProto(trailers, config_.header_values_in_value,
              request ? m.mutable_request_trailers()->mutable_trailers() : m.mutable_response_trailers()->mutable_trailers());
      sent_all = Send(m, trailers_kind);
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return reader_done; })) {
        Violation("FULL_DUPLEX_STREAMED: the server never sent the last reply due (" +
                  std::string(has_trailers ? trailers_kind : body_kind + " with end_of_stream") + ")");
        ctx_.TryCancel();  // unblocks the reader
      }
    }
    reader.join();
    if (!sent_all) return false;

    bool eos_seen = false, trailers_answered = false;
    out.clear();
    for (const pb::ProcessingResponse& r : got) {
      std::string kind = ReplyKind(r);
      result_.replies.push_back(kind);
      if (*local || failed_) {
        Violation("reply after the stream's processing ended: " + kind);
        continue;
      }
      if (kind == "immediate_response") {
        MergeMetadata(r);
        Immediate(r, local);
        continue;
      }
      if (kind == headers_kind) {
        if (!headers_pending) {
          Violation("spurious reply: " + kind + " (the headers were answered already)");
          FailRequest("spurious ext_proc message");
          continue;
        }
        headers_pending = false;
        MergeMetadata(r);
        const pb::CommonResponse& c = request ? r.request_headers().response() : r.response_headers().response();
        if (c.status() == pb::CommonResponse::CONTINUE_AND_REPLACE) {
          Violation("CONTINUE_AND_REPLACE in a FULL_DUPLEX_STREAMED headers reply");
        }
        if (r.has_mode_override()) ApplyModeOverride(r);  // ignored: a configured body mode is FULL_DUPLEX_STREAMED
        std::string ignored;
        pb::CommonResponse no_body = c;
        no_body.clear_body_mutation();
        if (c.has_body_mutation()) Violation("body_mutation in a FULL_DUPLEX_STREAMED headers reply");
        if (!ApplyCommon(no_body, h, ignored, dir, true, true)) return false;
        continue;
      }
      if (kind == body_kind) {
        if (headers_pending) {
          Violation("spurious reply: " + kind + " before the " + headers_kind + " reply");
          FailRequest("spurious ext_proc message");
          continue;
        }
        if (eos_seen || trailers_answered) {
          Violation("spurious reply: " + kind + " after the body ended");
          FailRequest("spurious ext_proc message");
          continue;
        }
        const pb::CommonResponse& c = request ? r.request_body().response() : r.response_body().response();
        auto sb = wire::ReadStreamedResponse(c.body_mutation());
        if (!sb) {
          Violation("spurious reply: a FULL_DUPLEX_STREAMED " + kind + " without body_mutation.streamed_response");
          FailRequest("spurious ext_proc message");
          continue;
        }
        if (sb->body.size() > 64 * 1024) {
          Violation("streamed_response chunk of " + std::to_string(sb->body.size()) + " bytes (keep them <= 64 KiB)");
        }
        MergeMetadata(r);
        std::string ignored;
        pb::CommonResponse rest = c;
        rest.clear_body_mutation();
        if (!ApplyCommon(rest, h, ignored, dir, false, /*headers_held=*/false)) return false;
        out += sb->body;
        if (sb->end_of_stream) {
          if (has_trailers) Violation("streamed_response end_of_stream while trailers end the body");
          eos_seen = true;
        }
        continue;
      }
      if (kind == trailers_kind && has_trailers && !trailers_answered) {
        if (headers_pending) {
          Violation("spurious reply: " + kind + " before the " + headers_kind + " reply");
          FailRequest("spurious ext_proc message");
          continue;
        }
        trailers_answered = true;
        MergeMetadata(r);
        const pb::TrailersResponse& t = request ? r.request_trailers() : r.response_trailers();
        if (t.has_header_mutation() && !ApplyHeaderMutation(t.header_mutation(), trailers, dir, false)) return false;
        continue;
      }
      Violation("spurious reply: got " + kind + " under FULL_DUPLEX_STREAMED");
      FailRequest("spurious ext_proc message");
    }
    if (*local) return true;
    if (failed_) return false;
    if (got.empty() || (!eos_seen && !has_trailers) || (has_trailers && !trailers_answered) || headers_pending) {
      if (headers_pending) Violation("FULL_DUPLEX_STREAMED: the " + headers_kind + " were never answered");
      if (!has_trailers && !eos_seen) Violation("FULL_DUPLEX_STREAMED: no streamed_response with end_of_stream");
      if (has_trailers && !trailers_answered) Violation("FULL_DUPLEX_STREAMED: the trailers were never answered");
      stream_ended_ = stream_ended_ || got.empty();
      FailRequest("ext_proc stream ended before the body was returned");
      return false;
    }
    Remove(h, "content-length");  // Envoy strips it for FULL_DUPLEX_STREAMED bodies
    return true;
  }

  bool Immediate(const pb::ProcessingResponse& r, bool* local) {
    const pb::ImmediateResponse& ir = r.immediate_response();
    result_.local_reply = true;
    result_.local_status = ir.has_status() && ir.status().code() >= 200 ? static_cast<int>(ir.status().code()) : 200;
    result_.local_body = ir.body();
    Headers h;
    h.emplace_back(":status", std::to_string(result_.local_status));
    if (ir.has_headers()) ApplyHeaderMutation(ir.headers(), h, Direction::kResponse, false);
    if (!Get(h, "content-type") && !ir.body().empty()) Set(h, "content-type", "text/plain");
    result_.local_headers = std::move(h);
    *local = true;
    return true;
  }

  bool Trailers(Direction dir, Headers& trailers) {
    const bool request = dir == Direction::kRequest;
    const std::string kind = request ? "request_trailers" : "response_trailers";
    pb::ProcessingRequest m;
    ToProto(trailers, config_.header_values_in_value,
            request ? m.mutable_request_trailers()->mutable_trailers() : m.mutable_response_trailers()->mutable_trailers());
    if (!Send(m, kind)) return false;
    auto r = Receive(kind, false);
    if (!r) return false;
    const pb::TrailersResponse& t = request ? r->request_trailers() : r->response_trailers();
    if (t.has_header_mutation()) return ApplyHeaderMutation(t.header_mutation(), trailers, dir, false);
    return true;
  }

  // Returns true when the request goes upstream.
  bool RequestPath(const HttpMessage& req) {
    Headers h = req.headers;
    std::string body = req.Body();
    Headers trailers = req.trailers;
    bool has_body = !req.body.empty() && !body.empty();
    bool has_trailers = !trailers.empty();
    bool replaced = false, local = false;
    bool header_sent = mode_.request_header_mode() != ProcessingMode::SKIP;
    bool full_duplex = mode_.request_body_mode() == kFullDuplexStreamed && (has_body || has_trailers);
    if (header_sent) {
      pb::ProcessingRequest m;
      ToProto(h, config_.header_values_in_value, m.mutable_request_headers()->mutable_headers());
      m.mutable_request_headers()->set_end_of_stream(!has_body && !has_trailers);
      if (config_.request_attributes.fields_size() > 0) {
        (*m.mutable_attributes())["envoy.filters.http.ext_proc"] = config_.request_attributes;
      }
      if (!Send(m, "request_headers")) return false;
    }
    if (full_duplex) {
      // The body (and trailers) go without waiting for the headers reply.
      std::string out;
      std::vector<std::string> chunks = req.body;
      if (!FullDuplex(Direction::kRequest, chunks, header_sent, h, out, trailers, &local)) return false;
      if (local) return false;
      result_.upstream_request.headers = std::move(h);
      if (!out.empty()) result_.upstream_request.body = {out};
      result_.upstream_request.trailers = std::move(trailers);
      return true;
    }
    if (header_sent) {
      auto r = Receive("request_headers", true);
      if (!r) return false;
      if (r->has_immediate_response()) return !Immediate(*r, &local);
      const pb::CommonResponse& c = r->request_headers().response();
      replaced = c.status() == pb::CommonResponse::CONTINUE_AND_REPLACE;
      if (!ApplyCommon(c, h, body, Direction::kRequest, true, true)) return false;
      ApplyModeOverride(*r);
    }
    if (!replaced && has_body && mode_.request_body_mode() != ProcessingMode::NONE) {
      std::string out;
      if (!Body(Direction::kRequest, mode_.request_body_mode(), req.body, has_trailers, header_sent, h, out, &local)) return false;
      if (local) return false;
      body = std::move(out);
    }
    if (!replaced && has_trailers && mode_.request_trailer_mode() == ProcessingMode::SEND) {
      if (!Trailers(Direction::kRequest, trailers)) return false;
    }
    result_.upstream_request.headers = std::move(h);
    if (!body.empty()) result_.upstream_request.body = {body};
    result_.upstream_request.trailers = std::move(trailers);
    return true;
  }

  void ResponsePath(const HttpMessage& resp) {
    Headers h = resp.headers;
    std::string body = resp.Body();
    Headers trailers = resp.trailers;
    bool has_body = !resp.body.empty() && !body.empty();
    bool has_trailers = !trailers.empty();
    bool replaced = false, local = false;
    bool header_sent = mode_.response_header_mode() != ProcessingMode::SKIP;
    bool configured_full_duplex = mode_.response_body_mode() == kFullDuplexStreamed && (has_body || has_trailers);
    if (header_sent) {
      pb::ProcessingRequest m;
      ToProto(h, config_.header_values_in_value, m.mutable_response_headers()->mutable_headers());
      m.mutable_response_headers()->set_end_of_stream(!has_body && !has_trailers);
      if (!Send(m, "response_headers")) return;
    }
    // The response body in full-duplex mode, to the end; `headers_pending`: the headers'
    // answer has not been read yet (it comes first in the stream of replies).
    auto full_duplex_response = [&](bool headers_pending) {
      std::string out;
      if (!FullDuplex(Direction::kResponse, resp.body, headers_pending, h, out, trailers, &local)) return;
      if (local) return;
      result_.answered = true;
      result_.client_response.headers = std::move(h);
      if (!out.empty()) result_.client_response.body = {out};
      result_.client_response.trailers = std::move(trailers);
    };
    if (configured_full_duplex || (!header_sent && mode_.response_body_mode() == kFullDuplexStreamed)) {
      result_.response_body_streamed = true;
      full_duplex_response(header_sent);
      return;
    }
    if (header_sent) {
      auto r = Receive("response_headers", true);
      if (!r) return;
      if (r->has_immediate_response()) {
        Immediate(*r, &local);
        return;
      }
      const pb::CommonResponse& c = r->response_headers().response();
      replaced = c.status() == pb::CommonResponse::CONTINUE_AND_REPLACE;
      if (!ApplyCommon(c, h, body, Direction::kResponse, true, true)) return;
      ApplyModeOverride(*r);
    }
    result_.response_body_streamed = mode_.response_body_mode() == ProcessingMode::STREAMED ||
                                     mode_.response_body_mode() == kFullDuplexStreamed;
    if (!replaced && (has_body || has_trailers) && mode_.response_body_mode() == kFullDuplexStreamed) {
      full_duplex_response(false);  // switched by mode_override: the headers were answered
      return;
    }
    if (!replaced && has_body && mode_.response_body_mode() != ProcessingMode::NONE) {
      std::string out;
      if (!Body(Direction::kResponse, mode_.response_body_mode(), resp.body, has_trailers, header_sent, h, out, &local)) return;
      if (local) return;
      body = std::move(out);
    }
    if (!replaced && has_trailers && mode_.response_trailer_mode() == ProcessingMode::SEND) {
      if (!Trailers(Direction::kResponse, trailers)) return;
    }
    result_.answered = true;
    result_.client_response.headers = std::move(h);
    if (!body.empty()) result_.client_response.body = {body};
    result_.client_response.trailers = std::move(trailers);
  }

  void Close() {
    if (config_.cancel_at_end) {
      ctx_.TryCancel();
      result_.status = rw_->Finish();
      return;
    }
    if (!stream_ended_) {
      rw_->WritesDone();
      pb::ProcessingResponse extra;
      while (rw_->Read(&extra)) Violation("unexpected reply after the last message: " + ReplyKind(extra));
    }
    result_.status = rw_->Finish();
    if (!result_.status.ok() && !failed_ && !result_.local_reply) {
      FailRequest("ext_proc stream failed: " + result_.status.error_message());
    }
  }

  const FilterConfig& config_;
  ProcessingMode mode_;
  Result& result_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::ProcessingRequest, pb::ProcessingResponse>> rw_;
  bool failed_ = false;
  bool stream_ended_ = false;
  bool first_message_ = true;
};

EnvoySim::EnvoySim(std::shared_ptr<grpc::Channel> channel, FilterConfig config)
    : stub_(pb::ExternalProcessor::NewStub(std::move(channel))), config_(std::move(config)) {}

EnvoySim::~EnvoySim() = default;

Result EnvoySim::Run(const HttpMessage& request, const Upstream& upstream) {
  Result result;
  Stream s(*stub_, config_, result);
  s.Run(request, upstream);
  return result;
}

TwoFilterOptions::TwoFilterOptions() {
  upstream.processing_mode.set_request_header_mode(ProcessingMode::SEND);
  upstream.processing_mode.set_request_body_mode(ProcessingMode::BUFFERED);
  upstream.processing_mode.set_response_header_mode(ProcessingMode::SEND);
  upstream.processing_mode.set_response_body_mode(ProcessingMode::BUFFERED);
}

TwoFilterResult EnvoySim::RunTwoFilter(const HttpMessage& request, const RouteTable& routes,
                                       const BackendUpstream& upstream, const TwoFilterOptions& options) {
  TwoFilterResult out;
  Upstream router_upstream = [&](const HttpMessage& forwarded) -> std::optional<HttpMessage> {
    // Routing: on the headers the router filter left (Envoy re-matches only when the route
    // cache was cleared; before that the catch-all routes nowhere).
    std::vector<std::string> backends;
    if (out.router.route_cache_cleared) backends = routes(forwarded.headers);
    if (backends.empty()) {
      return Response(404, "text/plain", "no route\n");
    }
    std::optional<HttpMessage> answer;
    for (size_t i = 0; i < backends.size(); ++i) {
      Attempt& a = out.attempts.emplace_back();
      a.backend = backends[i];
      FilterConfig cfg = options.upstream;
      (*cfg.request_attributes.mutable_fields())[options.backend_attribute].set_string_value(a.backend);
      Stream s(*stub_, cfg, a.upstream_filter);
      // Envoy replays the router's buffered request to every attempt.
      s.Run(forwarded, [&](const HttpMessage& up) { return upstream(a.backend, up); });
      const Result& r = a.upstream_filter;
      bool last = i + 1 == backends.size();
      if (r.local_reply) {
        HttpMessage local;
        local.headers = r.local_headers;
        Set(local.headers, ":status", std::to_string(r.local_status));
        if (!r.local_body.empty()) local.body = {r.local_body};
        return local;
      }
      if (!r.answered) {
        if (last) return std::nullopt;
        continue;  // reset / connect failure: retried
      }
      std::optional<std::string> status = Get(r.client_response.headers, ":status");
      int code = status ? std::atoi(status->c_str()) : 0;
      bool retriable = std::find(options.retry_on_status.begin(), options.retry_on_status.end(), code) !=
                       options.retry_on_status.end();
      answer = r.client_response;
      if (!retriable || last) break;
    }
    return answer;
  };
  Stream s(*stub_, config_, out.router);
  s.Run(request, router_upstream);
  return out;
}

HttpMessage Request(std::string_view method, std::string_view path, std::string_view body,
                    Headers extra, std::string_view authority) {
  HttpMessage m;
  m.headers = {{":method", std::string(method)},
               {":path", std::string(path)},
               {":authority", std::string(authority)},
               {":scheme", "http"}};
  if (!body.empty()) {
    m.headers.emplace_back("content-type", "application/json");
    m.headers.emplace_back("content-length", std::to_string(body.size()));
    m.body = {std::string(body)};
  }
  m.headers.emplace_back("x-request-id", "0d7a2a9c-sim");
  for (auto& e : extra) Set(m.headers, Lower(e.first), e.second);
  return m;
}

HttpMessage Response(int status, std::string_view content_type, std::string_view body, size_t chunks,
                     Headers extra) {
  HttpMessage m;
  m.headers = {{":status", std::to_string(status)}};
  if (!content_type.empty()) m.headers.emplace_back("content-type", std::string(content_type));
  bool streamed = content_type.find("event-stream") != std::string_view::npos;
  if (!streamed && !body.empty()) m.headers.emplace_back("content-length", std::to_string(body.size()));
  for (auto& e : extra) Set(m.headers, Lower(e.first), e.second);
  if (chunks == 0) chunks = 1;
  size_t step = (body.size() + chunks - 1) / chunks;
  for (size_t i = 0; i < body.size(); i += step) m.body.emplace_back(body.substr(i, step));
  return m;
}

std::string Describe(const HttpMessage& m) {
  std::string out;
  for (const auto& [k, v] : m.headers) StrAppend(&out, "  ", k, ": ", v, "\n");
  std::string body = m.Body();
  if (!body.empty()) StrAppend(&out, "\n", body, body.back() == '\n' ? "" : "\n");
  for (const auto& [k, v] : m.trailers) StrAppend(&out, "  (trailer) ", k, ": ", v, "\n");
  return out;
}

std::string Describe(const Result& r) {
  std::string out;
  StrAppend(&out, "ext_proc messages sent:");
  for (const auto& s : r.sent) StrAppend(&out, " ", s);
  StrAppend(&out, "\nreplies:");
  for (const auto& s : r.replies) StrAppend(&out, " ", s);
  StrAppend(&out, "\n");
  if (r.forwarded) {
    StrAppend(&out, "\n== upstream request", r.route_cache_cleared ? " (route cache cleared)" : "", "\n",
              Describe(r.upstream_request));
  }
  if (r.local_reply) {
    StrAppend(&out, "\n== local reply ", r.local_status, "\n");
    for (const auto& [k, v] : r.local_headers) StrAppend(&out, "  ", k, ": ", v, "\n");
    if (!r.local_body.empty()) StrAppend(&out, "\n", r.local_body, "\n");
  } else if (r.answered) {
    StrAppend(&out, "\n== client response", r.response_body_streamed ? " (body STREAMED)" : "", "\n",
              Describe(r.client_response));
  }
  if (r.metadata.fields_size() > 0) {
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    if (google::protobuf::util::MessageToJsonString(r.metadata, &json, opts).ok()) {
      StrAppend(&out, "\n== dynamic metadata\n  ", json, "\n");
    }
  }
  StrAppend(&out, "\nstream status: ", r.status.ok() ? std::string("OK") : StrCat(static_cast<int>(r.status.error_code()), " ", r.status.error_message()), "\n");
  if (r.rejected_mutations > 0) StrAppend(&out, "header mutations Envoy would ignore: ", r.rejected_mutations, "\n");
  for (const auto& v : r.violations) StrAppend(&out, "VIOLATION: ", v, "\n");
  return out;
}

}  // namespace sluice::extproc::testing
