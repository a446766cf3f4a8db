#include "standalone/server.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <map>
#include <set>
#include <random>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <variant>

#include "common/strings.h"
#include "common/log.h"
#include "gateway/pipeline.h"

namespace sluice::standalone {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using Clock = std::chrono::steady_clock;

using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Boost 1.74's beast::string_view is boost::string_view, not std::string_view.
inline std::string_view SV(beast::string_view s) { return std::string_view(s.data(), s.size()); }

constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kRelayBuffer = 16 * 1024;
constexpr size_t kMaxIdlePerKey = 512;

// A runtime snapshot plus what the driver derives from it (TLS contexts per backend).
struct Snapshot {
  std::shared_ptr<const gateway::Runtime> runtime;
  std::map<const config::Backend*, std::shared_ptr<ssl::context>> tls;
};

absl::StatusOr<std::shared_ptr<const Snapshot>> MakeSnapshot(
    std::shared_ptr<const config::Config> cfg, const std::string& extra_ca_pem) {
  auto snap = std::make_shared<Snapshot>();
  auto rt = gateway::Runtime::Build(std::move(cfg));
  if (!rt.ok()) return rt.status();
  snap->runtime = std::move(*rt);
  for (const auto& b : snap->runtime->config->backends) {
    if (!b.tls.enabled) continue;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    ctx->set_verify_mode(ssl::verify_peer, ec);
    if (b.tls.use_system_ca) ctx->set_default_verify_paths(ec);
    for (const std::string* pem : {&b.tls.ca_pem, &extra_ca_pem}) {
      if (pem->empty()) continue;
      ctx->add_certificate_authority(net::buffer(*pem), ec);
      if (ec) {
        return absl::InvalidArgumentError(
            StrCat("backend ", b.name, ": cannot load CA certificates: ", ec.message()));
      }
    }
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    snap->tls[&b] = std::move(ctx);
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

// One pooled upstream connection (plain or TLS).
struct UpConn {
  std::string key;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool reused = false;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

class ServerImpl;

// One event loop, its listener, its connection pool. Everything here runs on its thread.
struct Worker {
  ServerImpl* server = nullptr;
  net::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpConn>>> pool;
  std::set<beast::tcp_stream*> idle_clients;
  bool draining = false;
  std::mt19937_64 rng{std::random_device{}()};
};

enum class Failure { kNone, kConnect, kTimeout, kStale, kProtocol };

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& o) : opts_(o) {}

  absl::Status Init(std::shared_ptr<const config::Config> cfg) {
    if (!opts_.extra_ca_file.empty()) {
      std::ifstream in(opts_.extra_ca_file);
      if (!in) return absl::InvalidArgumentError(StrCat("cannot read --ca-file ", opts_.extra_ca_file));
      std::stringstream ss;
      ss << in.rdbuf();
      extra_ca_ = ss.str();
    }
    auto snap = MakeSnapshot(std::move(cfg), extra_ca_);
    if (!snap.ok()) return snap.status();
    snapshot_.store(*snap);
    int n = opts_.threads > 0 ? opts_.threads : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    boost::system::error_code ec;
    auto addr = net::ip::make_address(opts_.address, ec);
    if (ec) return absl::InvalidArgumentError(StrCat("invalid --address ", opts_.address));
    int port = opts_.port;
    for (int i = 0; i < n; ++i) {
      auto w = std::make_unique<Worker>();
      w->server = this;
      tcp::acceptor acc(w->io);
      tcp::endpoint ep(addr, static_cast<uint16_t>(port));
      acc.open(ep.protocol(), ec);
      if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
      if (!ec) acc.set_option(reuse_port(true), ec);
      if (!ec) acc.bind(ep, ec);
      if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
      if (ec) {
        return absl::UnavailableError(
            StrCat("cannot listen on ", opts_.address, ":", port, ": ", ec.message()));
      }
      if (i == 0) port = acc.local_endpoint().port();
      w->acceptor.emplace(std::move(acc));
      workers_.push_back(std::move(w));
    }
    port_ = port;
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Reload(std::shared_ptr<const config::Config> cfg) override {
    auto snap = MakeSnapshot(std::move(cfg), extra_ca_);
    if (!snap.ok()) {
      log::Error("reload rejected: ", snap.status().message());
      return;
    }
    snapshot_.store(*snap);
  }

  void Run() override {
    for (auto& w : workers_) net::co_spawn(w->io, Accept(*w), net::detached);
    std::vector<std::thread> threads;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    for (auto& w : workers_) guards.emplace_back(w->io.get_executor());
    for (auto& w : workers_) threads.emplace_back([&w] { w->io.run(); });

    net::signal_set signals(control_, SIGTERM, SIGINT);
    signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec) {
        log::Info("signal ", sig, ": shutting down (grace ", opts_.shutdown_grace.count(), " ms)");
        BeginDrain();
      }
    });
    net::steady_timer poll(control_);
    std::function<void()> check = [&] {
      poll.expires_after(std::chrono::milliseconds(20));
      poll.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        if (draining_.load()) {
          bool done = active_.load() == 0 || Clock::now() >= drain_deadline_;
          if (done) {
            if (active_.load() > 0) log::Warn("shutdown grace expired with ", active_.load(), " connections open");
            signals.cancel();
            guards.clear();
            for (auto& w : workers_) w->io.stop();
            return;
          }
        }
        check();
      });
    };
    check();
    control_.run();
    for (auto& t : threads) t.join();
  }

  void Shutdown() override {
    net::post(control_, [this] { BeginDrain(); });
  }

 private:
  void BeginDrain() {
    if (draining_.exchange(true)) return;
    drain_deadline_ = Clock::now() + opts_.shutdown_grace;
    for (auto& w : workers_) {
      Worker* wp = w.get();
      net::post(wp->io, [wp] {
        wp->draining = true;
        boost::system::error_code ec;
        if (wp->acceptor) wp->acceptor->close(ec);
        for (auto* s : wp->idle_clients) s->socket().shutdown(tcp::socket::shutdown_both, ec);
      });
    }
  }

  awaitable<void> Accept(Worker& w) {
    while (true) {
      boost::system::error_code ec;
      tcp::socket sock = co_await w.acceptor->async_accept(net::redirect_error(use_awaitable, ec));
      if (ec) {
        if (w.draining || ec == net::error::operation_aborted) co_return;
        log::Warn("accept: ", ec.message());
        continue;
      }
      sock.set_option(tcp::no_delay(true), ec);
      active_.fetch_add(1);
      net::co_spawn(w.io, Session(w, std::move(sock)), [this](std::exception_ptr e) {
        active_.fetch_sub(1);
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::Error("session ended by exception: ", ex.what());
          }
        }
      });
    }
  }

  template <class Body>
  static void SetCommon(bhttp::response<Body>& res, bool keep_alive) {
    res.set(bhttp::field::server, "sluice");
    res.keep_alive(keep_alive);
  }

  static awaitable<bool> WriteImmediate(beast::tcp_stream& s, const gateway::ImmediateResponse& r,
                                        unsigned version, bool keep_alive) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    SetCommon(res, keep_alive);
    res.set(bhttp::field::content_type, r.content_type);
    for (const auto& [n, v] : r.headers.set) res.set(n, v);
    res.body() = r.body;
    res.prepare_payload();
    boost::system::error_code ec;
    co_await bhttp::async_write(s, res, net::redirect_error(use_awaitable, ec));
    co_return !ec;
  }

  awaitable<void> Session(Worker& w, tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    while (!w.draining) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(opts_.max_request_body_bytes);
      boost::system::error_code ec;
      stream.expires_after(opts_.client_idle_timeout);
      w.idle_clients.insert(&stream);
      co_await bhttp::async_read_header(stream, buf, parser, net::redirect_error(use_awaitable, ec));
      w.idle_clients.erase(&stream);
      if (ec == bhttp::error::body_limit) {
        co_await WriteImmediate(stream, TooLarge(), 11, false);
        break;
      }
      if (ec == bhttp::error::header_limit) {
        gateway::ImmediateResponse r = gateway::Pipeline(nullptr, nullptr).Error(
            431, "request headers are too large", "headers_too_large");
        co_await WriteImmediate(stream, r, 11, false);
        break;
      }
      if (ec) break;  // closed, idle timeout, or garbage
      auto t0 = Clock::now();
      auto& req_header = parser.get();
      bool keep_alive = req_header.keep_alive();
      unsigned version = req_header.version();

      auto snap = snapshot_.load();
      gateway::Pipeline pipe(snap->runtime, [&w] { return w.rng(); });
      http::HeaderMap headers;
      headers.reserve(16);
      for (const auto& f : req_header.base()) headers.Add(SV(f.name_string()), SV(f.value()));
      std::string method(SV(req_header.method_string()));
      std::string target(SV(req_header.target()));
      if (auto imm = pipe.OnRequestHeaders(method, target, headers)) {
        // Drain any body so the connection stays usable.
        if (!parser.is_done()) {
          stream.expires_after(opts_.client_idle_timeout);
          co_await bhttp::async_read(stream, buf, parser, net::redirect_error(use_awaitable, ec));
          if (ec) keep_alive = false;
        }
        if (!co_await WriteImmediate(stream, *imm, version, keep_alive && !w.draining)) break;
        if (!keep_alive) break;
        continue;
      }
      if (auto expect = headers.Get("expect"); expect && http::EqualsIgnoreCase(*expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(stream, net::buffer(kContinue.data(), kContinue.size()),
                                  net::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      stream.expires_after(opts_.client_idle_timeout);
      co_await bhttp::async_read(stream, buf, parser, net::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        co_await WriteImmediate(stream, pipe.Error(413, TooLargeMessage(), "request_too_large"), version, false);
        break;
      }
      if (ec) break;
      stream.expires_never();
      std::string body = std::move(parser.get().body());
      gateway::Decision d = pipe.OnRequestBody(body);
      bool ok;
      int status;
      if (auto* imm = std::get_if<gateway::ImmediateResponse>(&d)) {
        status = imm->status;
        ok = co_await WriteImmediate(stream, *imm, version, keep_alive && !w.draining);
      } else {
        auto result = co_await Proxy(w, *snap, stream, pipe,
                                     std::get<gateway::UpstreamRequest>(std::move(d)), headers, body,
                                     version, keep_alive && !w.draining);
        ok = result.first;
        status = result.second;
      }
      if (log::GetLevel() <= log::Level::kDebug) {
        log::Debug(method, " ", target, " model=", pipe.model(), " status=", status, " ms=",
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      }
      if (!ok || !keep_alive) break;
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.socket().close(ec);
  }

  std::string TooLargeMessage() const {
    return StrCat("request body exceeds the limit of ", opts_.max_request_body_bytes, " bytes");
  }
  gateway::ImmediateResponse TooLarge() const {
    return gateway::Pipeline(nullptr, nullptr).Error(413, TooLargeMessage(), "request_too_large");
  }

  static std::string PoolKey(const config::Backend& b, const config::Endpoint& e) {
    return StrCat(b.tls.enabled ? "tls|" : "tcp|", b.tls.sni, "|", e.host, ":", e.port);
  }

  // Opens a new connection to one of the backend's endpoints (in order).
  awaitable<std::unique_ptr<UpConn>> Connect(Worker& w, const Snapshot& snap,
                                             const config::Backend& b, std::string* error) {
    for (const auto& e : b.endpoints) {
      auto c = std::make_unique<UpConn>();
      c->key = PoolKey(b, e);
      boost::system::error_code ec;
      tcp::resolver resolver(w.io);
      auto results = co_await resolver.async_resolve(e.host, std::to_string(e.port),
                                                     net::redirect_error(use_awaitable, ec));
      if (ec) {
        *error = StrCat("cannot resolve ", e.host, ": ", ec.message());
        continue;
      }
      if (b.tls.enabled) {
        auto it = snap.tls.find(&b);
        c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(w.io, *it->second);
        SSL* ssl_handle = c->tls->native_handle();
        const std::string& name = b.tls.sni.empty() ? e.host : b.tls.sni;
        boost::system::error_code ip_ec;
        net::ip::make_address(name, ip_ec);
        if (ip_ec) SSL_set_tlsext_host_name(ssl_handle, name.c_str());
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
        if (ip_ec) X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
        else X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        c->plain = std::make_unique<beast::tcp_stream>(w.io);
      }
      c->tcp().expires_after(opts_.connect_timeout);
      co_await c->tcp().async_connect(results, net::redirect_error(use_awaitable, ec));
      if (ec) {
        *error = StrCat("cannot connect to ", e.host, ":", e.port, ": ",
                              ec == beast::error::timeout ? "timed out" : ec.message());
        continue;
      }
      c->tcp().socket().set_option(tcp::no_delay(true), ec);
      if (c->tls) {
        co_await c->tls->async_handshake(ssl::stream_base::client, net::redirect_error(use_awaitable, ec));
        if (ec) {
          *error = StrCat("TLS handshake with ", e.host, ":", e.port, " failed: ", ec.message());
          continue;
        }
      }
      c->tcp().expires_never();
      co_return c;
    }
    co_return nullptr;
  }

  // Proxies one request. Returns {client connection still usable, status sent}.
  // `snap` is the snapshot whose config the pipeline routes with: backends and their TLS
  // contexts are matched by pointer.
  awaitable<std::pair<bool, int>> Proxy(Worker& w, const Snapshot& snap, beast::tcp_stream& client,
                                        gateway::Pipeline& pipe,
                                        gateway::UpstreamRequest up, const http::HeaderMap& client_headers,
                                        const std::string& client_body, unsigned version,
                                        bool keep_alive) {
    std::string last_error;
    bool timed_out = false;
    while (true) {
      const config::Backend& b = *up.backend;
      // Build the upstream request.
      http::HeaderMap h = client_headers;
      up.headers.ApplyTo(h);
      bhttp::request<bhttp::string_body> ureq{bhttp::verb::post, up.path, 11};
      for (const auto& [n, v] : h.entries()) ureq.insert(n, v);
      const auto& ep0 = b.endpoints[0];
      ureq.set(bhttp::field::host, up.host);
      ureq.body() = up.body ? *up.body : client_body;
      ureq.keep_alive(true);
      ureq.prepare_payload();

      Failure failure = Failure::kNone;
      for (int round = 0; round < 2; ++round) {
        std::unique_ptr<UpConn> conn;
        auto& idle = w.pool[PoolKey(b, ep0)];
        if (round == 0 && !idle.empty()) {
          conn = std::move(idle.back());
          idle.pop_back();
          conn->reused = true;
        } else {
          conn = co_await Connect(w, snap, b, &last_error);
          if (!conn) {
            failure = Failure::kConnect;
            break;
          }
        }
        auto result = co_await Exchange(w, *conn, client, pipe, ureq, up, version, keep_alive, &last_error);
        failure = result.failure;
        if (failure == Failure::kNone) {
          if (result.upstream_reusable && idle.size() < kMaxIdlePerKey) {
            conn->reused = false;
            conn->buffer.clear();
            idle.push_back(std::move(conn));
          }
          co_return std::make_pair(result.client_ok, result.status);
        }
        if (failure != Failure::kStale) break;  // a stale pooled connection: retry fresh once
      }
      if (failure == Failure::kTimeout) timed_out = true;
      if (failure == Failure::kConnect) {
        log::Warn("backend ", b.name, ": ", last_error);
        if (auto next = pipe.OnAttemptFailed()) {
          if (auto* imm = std::get_if<gateway::ImmediateResponse>(&*next)) {
            bool ok = co_await WriteImmediate(client, *imm, version, keep_alive);
            co_return std::make_pair(ok, imm->status);
          }
          up = std::get<gateway::UpstreamRequest>(std::move(*next));
          continue;
        }
      }
      break;
    }
    gateway::ImmediateResponse err =
        timed_out ? pipe.Error(504, StrCat("upstream timed out: ", last_error), "upstream_timeout")
                  : pipe.Error(502, StrCat("upstream unavailable: ", last_error), "upstream_unavailable");
    bool ok = co_await WriteImmediate(client, err, version, keep_alive);
    co_return std::make_pair(ok, err.status);
  }

  struct ExchangeResult {
    Failure failure = Failure::kNone;
    bool client_ok = true;
    bool upstream_reusable = false;
    int status = 0;
  };

  awaitable<ExchangeResult> Exchange(Worker& w, UpConn& conn, beast::tcp_stream& client,
                                     gateway::Pipeline& pipe, bhttp::request<bhttp::string_body>& ureq,
                                     const gateway::UpstreamRequest& up, unsigned version,
                                     bool keep_alive, std::string* error) {
    if (conn.tls) co_return co_await ExchangeOn(*conn.tls, conn, client, pipe, ureq, up, version, keep_alive, error);
    co_return co_await ExchangeOn(*conn.plain, conn, client, pipe, ureq, up, version, keep_alive, error);
  }

  template <class Stream>
  awaitable<ExchangeResult> ExchangeOn(Stream& s, UpConn& conn, beast::tcp_stream& client,
                                       gateway::Pipeline& pipe, bhttp::request<bhttp::string_body>& ureq,
                                       const gateway::UpstreamRequest& up, unsigned version,
                                       bool keep_alive, std::string* error) {
    ExchangeResult r;
    boost::system::error_code ec;
    auto& tcp_layer = conn.tcp();
    auto first_byte = up.timeout.count() > 0 ? up.timeout : std::chrono::milliseconds(24 * 3600 * 1000);
    tcp_layer.expires_after(first_byte);
    co_await bhttp::async_write(s, ureq, net::redirect_error(use_awaitable, ec));
    if (ec) {
      r.failure = conn.reused ? Failure::kStale : (ec == beast::error::timeout ? Failure::kTimeout : Failure::kConnect);
      *error = StrCat("write failed: ", ec.message());
      co_return r;
    }
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.header_limit(kHeaderLimit);
    // Not boost::none: Boost 1.74 compares a content length against an empty optional as
    // "over the limit". Buffered answers are bounded below by max_response_body_bytes.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    co_await bhttp::async_read_header(s, conn.buffer, parser, net::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == beast::error::timeout) {
        r.failure = Failure::kTimeout;
        *error = StrCat("no response within ", first_byte.count(), " ms");
      } else if (conn.reused && (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                                 ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated)) {
        r.failure = Failure::kStale;
      } else {
        r.failure = Failure::kProtocol;
        *error = StrCat("reading response failed: ", ec.message());
      }
      co_return r;
    }
    auto& uh = parser.get();
    r.status = static_cast<int>(uh.result_int());
    http::HeaderMap resp_headers;
    for (const auto& f : uh.base()) resp_headers.Add(SV(f.name_string()), SV(f.value()));
    // Streams are recognised by the upstream's content type (SSE, AWS event stream).
    bool is_error = r.status < 200 || r.status >= 300;
    auto upstream_ct = resp_headers.Get("content-type");
    bool event_stream = upstream_ct && (upstream_ct->find("text/event-stream") != std::string_view::npos ||
                                        upstream_ct->find("vnd.amazon.eventstream") != std::string_view::npos);
    bool buffered = is_error || (!event_stream && uh.has_content_length());
    bool upstream_keep_alive = uh.keep_alive();
    http::HeaderMap original_headers = resp_headers;
    http::HeaderMutation m = pipe.OnResponseHeaders(r.status, resp_headers);
    m.ApplyTo(resp_headers);
    if (is_error) {
      for (const auto& [n, v] : original_headers.entries())
        if (http::IsHopByHop(n) || n == "content-length") resp_headers.Remove(n);
    }

    char data[kRelayBuffer];
    std::string out;
    auto read_some = [&]() -> awaitable<size_t> {
      auto& body = parser.get().body();
      body.data = data;
      body.size = sizeof(data);
      tcp_layer.expires_after(opts_.upstream_idle_timeout);
      co_await bhttp::async_read_some(s, conn.buffer, parser, net::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      co_return sizeof(data) - parser.get().body().size;
    };

    if (buffered) {
      std::string whole;
      while (!parser.is_done()) {
        size_t n = co_await read_some();
        if (ec) break;
        whole.append(data, n);
        if (whole.size() > opts_.max_response_body_bytes) {
          ec = bhttp::error::body_limit;
          break;
        }
      }
      gateway::ImmediateResponse reply;
      reply.status = r.status;
      if (ec) {
        // Nothing reached the client yet: answer with a clean error.
        *error = StrCat("reading response body failed: ", ec.message());
        reply = pipe.Error(502, StrCat("upstream response failed: ", ec.message()), "upstream_error");
        resp_headers.clear();
      } else if (is_error) {
        reply = pipe.OnResponseError(r.status, original_headers, whole);
      } else if (absl::Status st = pipe.OnResponseBody(whole, true, &out); !st.ok()) {
        reply = pipe.Error(502, StrCat("upstream response could not be translated: ", st.message()),
                           "upstream_malformed");
        resp_headers.clear();
      } else {
        reply.body = std::move(out);
        reply.content_type.clear();
      }
      r.status = reply.status;
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), version};
      for (const auto& [n, v] : resp_headers.entries()) res.insert(n, v);
      if (!reply.content_type.empty()) res.set(bhttp::field::content_type, reply.content_type);
      res.keep_alive(keep_alive);
      res.body() = std::move(reply.body);
      res.prepare_payload();
      tcp_layer.expires_never();
      boost::system::error_code wec;
      co_await bhttp::async_write(client, res, net::redirect_error(use_awaitable, wec));
      r.client_ok = !wec;
      r.upstream_reusable = upstream_keep_alive && !ec;
      co_return r;
    }

    // Streamed: relay each piece as it arrives, chunked to the client.
    bhttp::response<bhttp::empty_body> res{uh.result(), version};
    for (const auto& [n, v] : resp_headers.entries()) res.insert(n, v);
    res.keep_alive(keep_alive);
    res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    boost::system::error_code wec;
    co_await bhttp::async_write_header(client, sr, net::redirect_error(use_awaitable, wec));
    if (wec) {
      r.client_ok = false;
      co_return r;
    }
    absl::Status translate_status;
    while (!parser.is_done()) {
      size_t n = co_await read_some();
      if (ec) break;
      out.clear();
      translate_status = pipe.OnResponseBody(std::string_view(data, n), parser.is_done(), &out);
      if (!translate_status.ok()) break;
      if (!out.empty()) {
        co_await net::async_write(client, bhttp::make_chunk(net::buffer(out)), net::redirect_error(use_awaitable, wec));
        if (wec) {
          r.client_ok = false;  // client went away: drop the upstream connection too
          co_return r;
        }
      }
    }
    bool broken = ec || !translate_status.ok();
    if (broken) {
      // The upstream broke or sent garbage mid-stream: end the client's stream with an error
      // event in its dialect, then close both connections (the upstream's state is unknown).
      std::string why = ec ? StrCat("upstream stream failed: ", ec == beast::error::timeout ? "idle timeout" : ec.message())
                           : StrCat("upstream stream is malformed: ", translate_status.message());
      log::Warn(why);
      out = pipe.StreamError(why);
      co_await net::async_write(client, bhttp::make_chunk(net::buffer(out)), net::redirect_error(use_awaitable, wec));
    }
    co_await net::async_write(client, bhttp::make_chunk_last(), net::redirect_error(use_awaitable, wec));
    r.client_ok = !wec && !broken;
    r.upstream_reusable = upstream_keep_alive && !broken;
    co_return r;
  }

  ServerOptions opts_;
  std::string extra_ca_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::io_context control_{1};
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  Clock::time_point drain_deadline_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options,
                                                       std::shared_ptr<const config::Config> cfg) {
  auto s = std::make_unique<ServerImpl>(options);
  absl::Status st = s->Init(std::move(cfg));
  if (!st.ok()) return st;
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace sluice::standalone
