// sluice-extproc-client: plays Envoy's ext_proc filter against a running ext_proc server for
// one HTTP request, without Envoy. Prints the upstream request the server asked for, the
// answer the client would get (when an upstream answer is given), the dynamic metadata, and
// every reply that breaks the ext_proc protocol rules. Exit code 0 when the stream ended OK
// with no violation, 1 otherwise, 2 on bad options.
//
//   sluice-extproc-client --server unix:/tmp/sluice-extproc.sock
//       --body '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
//       --response-file answer.json
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "extproc/envoy_sim.h"

namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool ParseHeaders(const std::vector<std::string>& in, sluice::extproc::testing::Headers* out) {
  for (const auto& h : in) {
    size_t colon = h.find(':', 1);
    if (colon == std::string::npos) {
      std::cerr << "bad header \"" << h << "\": expected \"name: value\"\n";
      return false;
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    out->emplace_back(h.substr(0, colon), value);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace t = sluice::extproc::testing;
  CLI::App app{"Plays Envoy's ext_proc filter against an ext_proc server for one HTTP request"};
  std::string server = "127.0.0.1:1063", method = "POST", path = "/v1/chat/completions";
  std::string authority = "gateway.local", body, body_file;
  std::vector<std::string> headers, response_headers;
  int response_status = 200;
  std::string response_content_type = "application/json", response_body, response_file;
  size_t response_chunks = 1;
  bool response_given = false, streamed_bodies = false, no_mode_override = false, no_routing = false;
  app.add_option("--server", server, "ext_proc server: host:port or unix:PATH")->capture_default_str();
  app.add_option("--method", method)->capture_default_str();
  app.add_option("--path", path)->capture_default_str();
  app.add_option("--authority", authority, "the client's Host")->capture_default_str();
  app.add_option("-H,--header", headers, "extra request header \"name: value\" (repeatable)");
  app.add_option("--body", body, "request body (JSON)");
  app.add_option("--body-file", body_file, "request body from a file");
  app.add_option("--response-status", response_status, "upstream answer status")->capture_default_str();
  app.add_option("--response-content-type", response_content_type)->capture_default_str();
  app.add_option("--response-body", response_body, "upstream answer body");
  app.add_option("--response-file", response_file, "upstream answer body from a file");
  app.add_option("--response-header", response_headers, "extra upstream answer header (repeatable)");
  app.add_option("--response-chunks", response_chunks, "split the upstream body into N chunks")->capture_default_str();
  app.add_flag("--streamed-bodies", streamed_bodies, "configure the filter with STREAMED bodies (not BUFFERED)");
  bool full_duplex = false, request_full_duplex = false, response_full_duplex = false;
  app.add_flag("--full-duplex", full_duplex,
               "configure the filter with FULL_DUPLEX_STREAMED request and response bodies (trailer modes SEND)");
  app.add_flag("--request-full-duplex", request_full_duplex, "FULL_DUPLEX_STREAMED request body only");
  app.add_flag("--response-full-duplex", response_full_duplex, "FULL_DUPLEX_STREAMED response body only");
  std::vector<std::string> request_trailers, response_trailers;
  app.add_option("--trailer", request_trailers, "request trailer \"name: value\" (repeatable)");
  app.add_option("--response-trailer", response_trailers, "upstream answer trailer (repeatable)");
  app.add_flag("--no-mode-override", no_mode_override, "configure the filter with allow_mode_override: false");
  app.add_flag("--no-allow-all-routing", no_routing, "configure the filter without mutation_rules.allow_all_routing");
  CLI11_PARSE(app, argc, argv);

  if (!body_file.empty() && !ReadFile(body_file, &body)) {
    std::cerr << "cannot read " << body_file << "\n";
    return 2;
  }
  response_given = !response_body.empty() || !response_file.empty() || app.count("--response-status") > 0;
  if (!response_file.empty() && !ReadFile(response_file, &response_body)) {
    std::cerr << "cannot read " << response_file << "\n";
    return 2;
  }
  t::Headers extra, resp_extra;  // (trailers are parsed below)
  if (!ParseHeaders(headers, &extra) || !ParseHeaders(response_headers, &resp_extra)) return 2;

  t::FilterConfig cfg;
  if (streamed_bodies) {
    cfg.processing_mode.set_request_body_mode(t::ProcessingMode::STREAMED);
    cfg.processing_mode.set_response_body_mode(t::ProcessingMode::STREAMED);
  }
  if (full_duplex || request_full_duplex) {
    cfg.processing_mode.set_request_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_request_trailer_mode(t::ProcessingMode::SEND);
  }
  if (full_duplex || response_full_duplex) {
    cfg.processing_mode.set_response_body_mode(t::kFullDuplexStreamed);
    cfg.processing_mode.set_response_trailer_mode(t::ProcessingMode::SEND);
  }
  cfg.allow_mode_override = !no_mode_override;
  cfg.allow_all_routing = !no_routing;
  t::EnvoySim envoy(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()), cfg);
  t::HttpMessage request = t::Request(method, path, body, extra, authority);
  t::HttpMessage answer = t::Response(response_status, response_content_type, response_body, response_chunks, resp_extra);
  if (!ParseHeaders(request_trailers, &request.trailers) || !ParseHeaders(response_trailers, &answer.trailers)) return 2;
  t::Result r = envoy.Run(request, [&](const t::HttpMessage&) -> std::optional<t::HttpMessage> {
    if (!response_given) return std::nullopt;
    return answer;
  });
  std::cout << t::Describe(r);
  return r.status.ok() && r.violations.empty() ? 0 : 1;
}
