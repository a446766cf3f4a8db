// The standalone driver over raw Asio sockets and sluice's own HTTP/1.1 codec (http/http1.h).
// One io_context per thread, each with its own SO_REUSEPORT listener and upstream connection
// pool: a request never touches another thread's state, so the request path takes no locks.
#include "standalone/server.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <variant>

#include "common/log.h"
#include "common/strings.h"
#include "gateway/pipeline.h"
#include "http/http1.h"

namespace sluice::standalone {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

// A concrete executor type instead of any_io_executor: type-erased executors cost measurable
// CPU per operation on this path.
using Executor = net::io_context::executor_type;
template <class T>
using Task = net::awaitable<T, Executor>;
constexpr net::use_awaitable_t<Executor> use_task;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using Timer = net::basic_waitable_timer<Clock, net::wait_traits<Clock>, Executor>;
using Resolver = net::ip::basic_resolver<tcp, Executor>;
using TlsStream = ssl::stream<Socket>;
using reuse_port = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr size_t kHeadLimit = 64 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxIdlePerKey = 512;

inline auto Redirect(ErrorCode& ec) { return net::redirect_error(use_task, ec); }

// Keep-alive events for one streamed answer while its upstream is silent (see
// gateway::Pipeline::StreamKeepAlive). A coroutine beside the relay loop, on the same thread;
// the two never write at once: the relay marks its writes (`relaying`) and waits on `gate`
// while a keep-alive write is in flight; the keep-alive skips a turn while the relay writes.
struct KeepAlive {
  explicit KeepAlive(Executor ex) : timer(ex), gate(ex) {}
  Timer timer;
  Timer gate;            // cancelled when a keep-alive write completes
  std::string framed;    // the event as one HTTP chunk
  Clock::duration every{};
  Clock::time_point last;  // the last write to the client
  bool writing = false;
  bool relaying = false;
  bool stopped = false;
};

Task<void> KeepAliveLoop(std::shared_ptr<KeepAlive> k, Socket& client) {
  ErrorCode ec;
  while (!k->stopped) {
    k->timer.expires_at(k->last + k->every);
    co_await k->timer.async_wait(Redirect(ec));
    if (k->stopped) break;
    if (k->relaying) k->last = Clock::now();  // bytes are on their way: that is activity
    if (Clock::now() < k->last + k->every) continue;
    k->writing = true;
    co_await net::async_write(client, net::buffer(k->framed), Redirect(ec));
    k->writing = false;
    k->last = Clock::now();
    k->gate.cancel();
    if (ec) break;
  }
}

// Waits until no keep-alive write is in flight (then the caller may write).
Task<void> KeepAliveIdle(KeepAlive& k) {
  ErrorCode ignored;
  while (k.writing) {
    k.gate.expires_at(Clock::time_point::max());
    co_await k.gate.async_wait(Redirect(ignored));
  }
}

// A growable byte buffer with a consumed prefix; no zero-filling on growth.
class ByteBuffer {
 public:
  std::string_view view() const { return std::string_view(data_.get() + begin_, end_ - begin_); }
  size_t size() const { return end_ - begin_; }
  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void Clear() { begin_ = end_ = 0; }
  // Returns space for at least `n` more bytes.
  net::mutable_buffer Prepare(size_t n) {
    if (cap_ - end_ < n) {
      if (begin_ > 0 && cap_ - (end_ - begin_) >= n) {
        std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      } else {
        size_t cap = std::max(cap_ * 2, (end_ - begin_) + n);
        std::unique_ptr<char[]> d(new char[cap]);
        if (end_ > begin_) std::memcpy(d.get(), data_.get() + begin_, end_ - begin_);
        data_ = std::move(d);
        cap_ = cap;
      }
      end_ -= begin_;
      begin_ = 0;
    }
    return net::buffer(data_.get() + end_, n);
  }
  void Commit(size_t n) { end_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0, begin_ = 0, end_ = 0;
};

// A lazy per-connection deadline. Arm() only records a time point; one timer wakes at most at
// the deadline and re-arms itself when the deadline has moved later, so keep-alive traffic
// does not reprogram the kernel timer on every operation. On expiry it runs `on_expire`
// (which cancels the connection's I/O).
class Watchdog {
 public:
  Watchdog(Executor ex, std::function<void()> on_expire)
      : state_(std::make_shared<State>(ex, std::move(on_expire))) {}
  ~Watchdog() {
    state_->on_expire = nullptr;
    state_->timer.cancel();
  }
  void Arm(Clock::duration d) {
    state_->deadline = Clock::now() + d;
    state_->fired = false;
    if (!state_->waiting || state_->deadline < state_->timer.expiry()) Schedule(state_);
  }
  void Disarm() { state_->deadline = Clock::time_point::max(); }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    State(Executor ex, std::function<void()> f) : timer(ex), on_expire(std::move(f)) {}
    Timer timer;
    std::function<void()> on_expire;
    Clock::time_point deadline = Clock::time_point::max();
    bool waiting = false;
    bool fired = false;
  };
  static void Schedule(const std::shared_ptr<State>& s) {
    s->timer.expires_at(s->deadline);
    s->waiting = true;
    s->timer.async_wait([s](const ErrorCode& ec) {
      if (ec == net::error::operation_aborted) {
        // Re-scheduled (an earlier deadline) or destroyed: a newer wait owns the timer.
        if (!s->on_expire) s->waiting = false;
        return;
      }
      s->waiting = false;
      if (!s->on_expire || s->deadline == Clock::time_point::max()) return;
      if (Clock::now() >= s->deadline) {
        s->fired = true;
        s->on_expire();
      } else {
        Schedule(s);
      }
    });
  }
  std::shared_ptr<State> state_;
};

struct Snapshot {
  std::shared_ptr<const gateway::Runtime> runtime;
  std::map<const config::Backend*, std::shared_ptr<ssl::context>> tls;
};

absl::StatusOr<std::shared_ptr<const Snapshot>> MakeSnapshot(std::shared_ptr<const config::Config> cfg,
                                                             const std::string& extra_ca_pem) {
  auto snap = std::make_shared<Snapshot>();
  auto rt = gateway::Runtime::Build(std::move(cfg));
  if (!rt.ok()) return rt.status();
  snap->runtime = std::move(*rt);
  for (const auto& b : snap->runtime->config->backends) {
    if (!b.tls.enabled) continue;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ErrorCode ec;
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

// One upstream connection, plain or TLS.
struct UpConn {
  std::unique_ptr<Socket> plain;
  std::unique_ptr<TlsStream> tls;
  ByteBuffer buf;
  bool reused = false;

  Socket& socket() { return tls ? tls->next_layer() : *plain; }
  Task<size_t> ReadSome(net::mutable_buffer b, ErrorCode& ec) {
    if (tls) co_return co_await tls->async_read_some(b, Redirect(ec));
    co_return co_await plain->async_read_some(b, Redirect(ec));
  }
  Task<void> Write(const std::array<net::const_buffer, 2>& bufs, ErrorCode& ec) {
    if (tls) co_await net::async_write(*tls, bufs, Redirect(ec));
    else co_await net::async_write(*plain, bufs, Redirect(ec));
  }
};

struct Worker {
  net::io_context io{1};
  std::optional<Acceptor> acceptor;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpConn>>> pool;
  std::set<Socket*> idle_clients;
  bool draining = false;
  std::mt19937_64 rng{std::random_device{}()};
};

enum class Failure { kNone, kConnect, kTimeout, kStale, kProtocol };

// An upstream answer read whole, for a driver that merges several (split requests).
struct Fetched {
  int status = 0;
  http::HeaderMap headers;
  std::string body;
};

// Upstream calls of one split request in flight at once.
constexpr size_t kSplitConcurrency = 8;

struct ClientConn {
  explicit ClientConn(Socket s) : sock(std::move(s)) {}
  Socket sock;
  ByteBuffer buf;
};

// Reads and decodes one message body incrementally (content-length, chunked, until close).
class BodyReader {
 public:
  BodyReader(http::Framing f, uint64_t length) : framing_(f), remaining_(length) {
    done_ = f == http::Framing::kNone || (f == http::Framing::kContentLength && length == 0);
  }
  bool done() const { return done_; }
  // Moves decoded bytes already in `buf` to `out`. Returns false on malformed framing.
  bool Drain(ByteBuffer& buf, std::string* out, std::string* error) {
    if (done_ || buf.size() == 0) return true;
    switch (framing_) {
      case http::Framing::kContentLength: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, buf.size()));
        out->append(buf.view().substr(0, n));
        buf.Consume(n);
        remaining_ -= n;
        done_ = remaining_ == 0;
        return true;
      }
      case http::Framing::kChunked: {
        size_t used = chunked_.Feed(buf.view(), out, error);
        buf.Consume(used);
        done_ = chunked_.done();
        return error->empty();
      }
      case http::Framing::kUntilClose:
        out->append(buf.view());
        buf.Clear();
        return true;
      case http::Framing::kNone:
        return true;
    }
    return true;
  }
  void OnEof() {
    if (framing_ == http::Framing::kUntilClose) done_ = true;
  }

 private:
  http::Framing framing_;
  uint64_t remaining_;
  http::ChunkedDecoder chunked_;
  bool done_ = false;
};

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const ServerOptions& o) : opts_(o) {}

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
    ErrorCode ec;
    auto addr = net::ip::make_address(opts_.address, ec);
    if (ec) return absl::InvalidArgumentError(StrCat("invalid --address ", opts_.address));
    int port = opts_.port;
    for (int i = 0; i < n; ++i) {
      auto w = std::make_unique<Worker>();
      Acceptor acc(w->io.get_executor());
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
    for (auto& w : workers_) net::co_spawn(w->io.get_executor(), Accept(*w), net::detached);
    std::vector<std::thread> threads;
    std::vector<net::executor_work_guard<Executor>> guards;
    for (auto& w : workers_) guards.emplace_back(w->io.get_executor());
    for (auto& w : workers_) threads.emplace_back([&w] { w->io.run(); });

    net::signal_set signals(control_, SIGTERM, SIGINT);
    signals.async_wait([this](const ErrorCode& ec, int sig) {
      if (!ec) {
        log::Info("signal ", sig, ": shutting down (grace ", opts_.shutdown_grace.count(), " ms)");
        BeginDrain();
      }
    });
    net::steady_timer poll(control_);
    std::function<void()> check = [&] {
      poll.expires_after(std::chrono::milliseconds(20));
      poll.async_wait([&](const ErrorCode& ec) {
        if (ec) return;
        if (draining_.load() && (active_.load() == 0 || Clock::now() >= drain_deadline_)) {
          if (active_.load() > 0) log::Warn("shutdown grace expired with ", active_.load(), " connections open");
          signals.cancel();
          guards.clear();
          for (auto& w : workers_) w->io.stop();
          return;
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
        ErrorCode ec;
        if (wp->acceptor) wp->acceptor->close(ec);
        for (auto* s : wp->idle_clients) s->shutdown(tcp::socket::shutdown_both, ec);
      });
    }
  }

  Task<void> Accept(Worker& w) {
    while (true) {
      ErrorCode ec;
      Socket sock = co_await w.acceptor->async_accept(Redirect(ec));
      if (ec) {
        if (w.draining || ec == net::error::operation_aborted) co_return;
        log::Warn("accept: ", ec.message());
        continue;
      }
      sock.set_option(tcp::no_delay(true), ec);
      active_.fetch_add(1);
      net::co_spawn(w.io.get_executor(), Session(w, std::move(sock)), [this](std::exception_ptr e) {
        active_.fetch_sub(1);
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::Error("connection ended by exception: ", ex.what());
          }
        }
      });
    }
  }

  // Writes a complete response (head + body) to the client.
  static Task<bool> WriteResponse(Socket& s, int status, const http::HeaderMap& headers,
                                  std::string_view body, bool keep_alive) {
    std::string head;
    head.reserve(256 + headers.size() * 32);
    http::FormatResponseHead(status, headers, static_cast<int64_t>(body.size()), keep_alive, &head);
    ErrorCode ec;
    std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body.data(), body.size())};
    co_await net::async_write(s, bufs, Redirect(ec));
    co_return !ec;
  }

  static Task<bool> WriteImmediate(Socket& s, const gateway::ImmediateResponse& r, bool keep_alive) {
    http::HeaderMap h;
    h.Add("content-type", r.content_type);
    for (const auto& [n, v] : r.headers.set) h.Set(n, v);
    co_return co_await WriteResponse(s, r.status, h, r.body, keep_alive);
  }

  gateway::ImmediateResponse LocalError(int status, std::string_view message, std::string_view code) const {
    return gateway::Pipeline(nullptr, nullptr).Error(status, message, code);
  }

  Task<void> Session(Worker& w, Socket sock) {
    ClientConn conn(std::move(sock));
    Socket* sp = &conn.sock;
    Watchdog dog(w.io.get_executor(), [sp] {
      ErrorCode ec;
      sp->cancel(ec);
    });
    http::RequestHead head;
    std::string body;
    while (!w.draining) {
      // Read the request head.
      dog.Arm(opts_.client_idle_timeout);
      w.idle_clients.insert(sp);
      size_t consumed = 0;
      std::string perr;
      http::ParseStatus ps = http::ParseStatus::kIncomplete;
      ErrorCode ec;
      while (true) {
        if (conn.buf.size() > 0) {
          ps = http::ParseRequestHead(conn.buf.view(), kHeadLimit, &head, &consumed, &perr);
          if (ps != http::ParseStatus::kIncomplete) break;
        }
        size_t n = co_await conn.sock.async_read_some(conn.buf.Prepare(kReadChunk), Redirect(ec));
        if (ec) break;
        conn.buf.Commit(n);
        w.idle_clients.erase(sp);  // a request has started
      }
      w.idle_clients.erase(sp);
      if (ec) break;  // closed, idle timeout, drain
      if (ps == http::ParseStatus::kTooLarge) {
        co_await WriteImmediate(conn.sock, LocalError(431, "request headers are too large", "headers_too_large"), false);
        break;
      }
      if (ps == http::ParseStatus::kInvalid) {
        co_await WriteImmediate(conn.sock, LocalError(400, StrCat("malformed HTTP request: ", perr), "bad_request"), false);
        break;
      }
      conn.buf.Consume(consumed);
      auto t0 = Clock::now();
      bool keep_alive = head.keep_alive;

      auto snap = snapshot_.load();
      gateway::Pipeline pipe(snap->runtime, [&w] { return w.rng(); });
      pipe.set_split_batches(true);  // this driver can make several upstream calls per request
      auto imm = pipe.OnRequestHeaders(head.method, head.target, head.headers);
      bool oversize = head.framing == http::Framing::kContentLength &&
                      head.content_length > opts_.max_request_body_bytes;
      if (oversize) {
        co_await WriteImmediate(conn.sock, pipe.Error(413, TooLargeMessage(), "request_too_large"), false);
        break;
      }
      if (head.expect_continue && !imm && head.framing != http::Framing::kNone) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(conn.sock, net::buffer(kContinue.data(), kContinue.size()), Redirect(ec));
        if (ec) break;
      }
      // Read the body (also for local answers, so the connection stays in sync).
      body.clear();
      BodyReader reader(head.framing, head.content_length);
      std::string berr;
      bool too_large = false;
      while (true) {
        if (!reader.Drain(conn.buf, &body, &berr)) break;
        if (body.size() > opts_.max_request_body_bytes) {
          too_large = true;
          break;
        }
        if (reader.done()) break;
        dog.Arm(opts_.client_idle_timeout);
        size_t n = co_await conn.sock.async_read_some(conn.buf.Prepare(kReadChunk), Redirect(ec));
        if (ec) break;
        conn.buf.Commit(n);
      }
      if (too_large) {
        co_await WriteImmediate(conn.sock, pipe.Error(413, TooLargeMessage(), "request_too_large"), false);
        break;
      }
      if (!berr.empty()) {
        co_await WriteImmediate(conn.sock, pipe.Error(400, StrCat("malformed request body: ", berr), "bad_request"), false);
        break;
      }
      if (ec) break;
      dog.Disarm();
      keep_alive = keep_alive && !w.draining;
      int status;
      bool ok;
      if (imm) {
        status = imm->status;
        ok = co_await WriteImmediate(conn.sock, *imm, keep_alive);
      } else {
        gateway::Decision d = pipe.OnRequestBody(body);
        if (auto* r = std::get_if<gateway::ImmediateResponse>(&d)) {
          status = r->status;
          ok = co_await WriteImmediate(conn.sock, *r, keep_alive);
        } else {
          auto result = co_await Proxy(w, *snap, conn.sock, pipe, std::get<gateway::UpstreamRequest>(std::move(d)),
                                       head.headers, body, keep_alive);
          ok = result.first;
          status = result.second;
        }
      }
      if (log::GetLevel() <= log::Level::kDebug) {
        log::Debug(head.method, " ", head.target, " model=", pipe.model(), " status=", status, " ms=",
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
      }
      if (!ok || !keep_alive) break;
    }
    ErrorCode ec;
    conn.sock.shutdown(tcp::socket::shutdown_send, ec);
    conn.sock.close(ec);
  }

  std::string TooLargeMessage() const {
    return StrCat("request body exceeds the limit of ", opts_.max_request_body_bytes, " bytes");
  }

  static std::string PoolKey(const config::Backend& b) {
    const auto& e = b.endpoints[0];
    return StrCat(b.tls.enabled ? "tls|" : "tcp|", b.tls.sni, "|", e.host, ":", e.port);
  }

  // Opens a connection to one of the backend's endpoints, in order.
  Task<std::unique_ptr<UpConn>> Connect(Worker& w, const Snapshot& snap, const config::Backend& b,
                                        std::string* error) {
    for (const auto& e : b.endpoints) {
      auto c = std::make_unique<UpConn>();
      ErrorCode ec;
      Resolver resolver(w.io.get_executor());
      auto results = co_await resolver.async_resolve(e.host, std::to_string(e.port), Redirect(ec));
      if (ec) {
        *error = StrCat("cannot resolve ", e.host, ": ", ec.message());
        continue;
      }
      Socket sock(w.io.get_executor());
      Watchdog dog(w.io.get_executor(), [&sock] {
        ErrorCode ignored;
        sock.close(ignored);
      });
      dog.Arm(opts_.connect_timeout);
      co_await net::async_connect(sock, results, Redirect(ec));
      if (ec) {
        *error = StrCat("cannot connect to ", e.host, ":", e.port, ": ", dog.fired() ? "timed out" : ec.message());
        continue;
      }
      sock.set_option(tcp::no_delay(true), ec);
      if (b.tls.enabled) {
        auto it = snap.tls.find(&b);
        c->tls = std::make_unique<TlsStream>(std::move(sock), *it->second);
        SSL* h = c->tls->native_handle();
        const std::string& name = b.tls.sni.empty() ? e.host : b.tls.sni;
        ErrorCode ip_ec;
        net::ip::make_address(name, ip_ec);
        X509_VERIFY_PARAM* param = SSL_get0_param(h);
        if (ip_ec) {
          SSL_set_tlsext_host_name(h, name.c_str());
          X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
        } else {
          X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        }
        Socket* raw = &c->tls->next_layer();
        Watchdog hs_dog(w.io.get_executor(), [raw] {
          ErrorCode ignored;
          raw->close(ignored);
        });
        hs_dog.Arm(opts_.connect_timeout);
        co_await c->tls->async_handshake(ssl::stream_base::client, Redirect(ec));
        if (ec) {
          *error = StrCat("TLS handshake with ", e.host, ":", e.port, " failed: ",
                          hs_dog.fired() ? "timed out" : ec.message());
          continue;
        }
      } else {
        c->plain = std::make_unique<Socket>(std::move(sock));
      }
      co_return c;
    }
    co_return nullptr;
  }

  struct ExchangeResult {
    Failure failure = Failure::kNone;
    bool client_ok = true;
    bool upstream_reusable = false;
    int status = 0;
  };

  // One exchange with backend `up.backend` over a pooled connection, or a new one (a stale
  // pooled connection is retried once on a fresh one). With `capture`, the answer is read
  // whole into it instead of going to the client.
  Task<ExchangeResult> Attempt(Worker& w, const Snapshot& snap, Socket& client, gateway::Pipeline& pipe,
                               const std::string& head, std::string_view body, const gateway::UpstreamRequest& up,
                               bool keep_alive, std::string* last_error, Fetched* capture) {
    ExchangeResult r;
    std::string key = PoolKey(*up.backend);
    for (int round = 0; round < 2; ++round) {
      std::unique_ptr<UpConn> conn;
      auto& idle = w.pool[key];
      if (round == 0 && !idle.empty()) {
        conn = std::move(idle.back());
        idle.pop_back();
        conn->reused = true;
      } else {
        conn = co_await Connect(w, snap, *up.backend, last_error);
        if (!conn) {
          r.failure = Failure::kConnect;
          co_return r;
        }
      }
      r = co_await Exchange(w, *conn, client, pipe, head, body, up, keep_alive, last_error, capture);
      if (r.failure == Failure::kNone) {
        auto& pool = w.pool[key];  // looked up again: other exchanges may have grown the map
        if (r.upstream_reusable && pool.size() < kMaxIdlePerKey) {
          conn->reused = false;
          pool.push_back(std::move(conn));
        }
        co_return r;
      }
      if (r.failure != Failure::kStale) co_return r;  // a stale pooled connection: retry fresh once
    }
    co_return r;
  }

  // The parts of a split request, kSplitConcurrency at a time, each read whole; then one answer
  // for the client: the merged list, or the first failed part's error. A part that could not
  // be exchanged at all fails the whole attempt (failure and *last_error as for one exchange).
  struct SplitState {
    explicit SplitState(Executor ex) : done(ex) {}
    std::vector<Fetched> got;
    std::vector<Failure> failures;
    std::vector<std::string> errors;
    std::optional<gateway::ImmediateResponse> refused;  // no credentials to sign a part with
    size_t next = 0;
    size_t lanes = 0;
    Timer done;
  };

  Task<void> SplitLane(Worker& w, const Snapshot& snap, Socket& client, gateway::Pipeline& pipe,
                       const gateway::UpstreamRequest& up, const http::HeaderMap& client_headers, SplitState& st) {
    // However the lane ends (an exception included), the join learns of it.
    struct Leave {
      SplitState& st;
      ~Leave() {
        if (--st.lanes == 0) st.done.cancel();
      }
    } leave{st};
    while (st.next < up.parts.size()) {
      size_t i = st.next++;
      const gateway::UpstreamPart& part = up.parts[i];
      st.failures[i] = Failure::kProtocol;  // until the exchange says otherwise
      st.errors[i] = "the exchange did not complete";
      // Signed now, not when the request was built: a long batch sends no stale signature.
      auto signed_headers = pipe.SignPart(up, part);
      if (auto* refused = std::get_if<gateway::ImmediateResponse>(&signed_headers)) {
        st.refused = std::move(*refused);
        st.failures[i] = Failure::kNone;
        st.next = up.parts.size();
        break;
      }
      std::string head;
      http::FormatRequestHead(up.method, part.path, up.host, client_headers,
                              std::get<http::HeaderMutation>(signed_headers), part.body.size(), &head);
      auto r = co_await Attempt(w, snap, client, pipe, head, part.body, up, true, &st.errors[i], &st.got[i]);
      st.failures[i] = r.failure;
      // A part that failed, or that the provider refused, decides the answer: no point
      // sending the rest (a throttled batch must not keep hammering the provider).
      bool refused = st.got[i].status < 200 || st.got[i].status >= 300;
      if (r.failure != Failure::kNone || refused) st.next = up.parts.size();
    }
  }

  Task<ExchangeResult> SplitExchange(Worker& w, const Snapshot& snap, Socket& client, gateway::Pipeline& pipe,
                                     const gateway::UpstreamRequest& up, const http::HeaderMap& client_headers,
                                     bool keep_alive, std::string* last_error) {
    const size_t n = up.parts.size();
    SplitState st(w.io.get_executor());
    st.got.resize(n);
    st.failures.assign(n, Failure::kNone);
    st.errors.resize(n);
    st.lanes = std::min(n, kSplitConcurrency);
    st.done.expires_at(Clock::time_point::max());
    for (size_t l = 0, lanes = st.lanes; l < lanes; ++l) {
      net::co_spawn(w.io.get_executor(), SplitLane(w, snap, client, pipe, up, client_headers, st), net::detached);
    }
    ErrorCode ec;
    if (st.lanes > 0) co_await st.done.async_wait(Redirect(ec));  // cancelled by the last lane
    ExchangeResult r;
    for (size_t i = 0; i < n; ++i) {
      if (st.failures[i] == Failure::kNone) continue;
      r.failure = st.failures[i] == Failure::kStale ? Failure::kProtocol : st.failures[i];
      *last_error = StrCat("part ", i + 1, " of ", n, ": ", st.errors[i]);
      co_return r;
    }
    gateway::ImmediateResponse reply;
    if (st.refused) {
      reply = std::move(*st.refused);
    } else {
      // Parts not sent after one was refused: the refused one answers (OnSplitResponses takes
      // the first non-2xx in order, and every part before it was sent).
      std::vector<gateway::PartAnswer> answers(n);
      for (size_t i = 0; i < n; ++i) answers[i] = {st.got[i].status, &st.got[i].headers, st.got[i].body};
      reply = pipe.OnSplitResponses(answers);
    }
    r.status = reply.status;
    r.client_ok = co_await WriteImmediate(client, reply, keep_alive);
    co_return r;
  }

  // Proxies one request; returns {client connection still usable, status sent}.
  Task<std::pair<bool, int>> Proxy(Worker& w, const Snapshot& snap, Socket& client, gateway::Pipeline& pipe,
                                   gateway::UpstreamRequest up, const http::HeaderMap& client_headers,
                                   const std::string& client_body, bool keep_alive) {
    std::string last_error;
    bool timed_out = false;
    while (true) {
      const config::Backend& b = *up.backend;
      ExchangeResult r;
      if (!up.parts.empty()) {
        r = co_await SplitExchange(w, snap, client, pipe, up, client_headers, keep_alive, &last_error);
      } else {
        std::string_view body = up.body ? std::string_view(*up.body) : std::string_view(client_body);
        std::string head;
        head.reserve(512);
        http::FormatRequestHead(up.method, up.path, up.host, client_headers, up.headers, body.size(), &head);
        r = co_await Attempt(w, snap, client, pipe, head, body, up, keep_alive, &last_error, nullptr);
      }
      Failure failure = r.failure;
      if (failure == Failure::kNone) co_return std::make_pair(r.client_ok, r.status);
      if (failure == Failure::kTimeout) timed_out = true;
      if (failure == Failure::kConnect) {
        log::Warn("backend ", b.name, ": ", last_error);
        if (auto next = pipe.OnAttemptFailed()) {
          if (auto* imm = std::get_if<gateway::ImmediateResponse>(&*next)) {
            bool ok = co_await WriteImmediate(client, *imm, keep_alive);
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
    bool ok = co_await WriteImmediate(client, err, keep_alive);
    co_return std::make_pair(ok, err.status);
  }


  Task<ExchangeResult> Exchange(Worker& w, UpConn& conn, Socket& client, gateway::Pipeline& pipe,
                                const std::string& head, std::string_view body,
                                const gateway::UpstreamRequest& up, bool keep_alive, std::string* error,
                                Fetched* capture = nullptr) {
    ExchangeResult r;
    ErrorCode ec;
    UpConn* cp = &conn;
    Watchdog dog(w.io.get_executor(), [cp] {
      ErrorCode ignored;
      cp->socket().cancel(ignored);
    });
    auto first_byte = up.timeout.count() > 0 ? up.timeout : std::chrono::milliseconds(24 * 3600 * 1000);
    dog.Arm(first_byte);
    co_await conn.Write({net::buffer(head), net::buffer(body.data(), body.size())}, ec);
    if (ec) {
      r.failure = dog.fired() ? Failure::kTimeout : conn.reused ? Failure::kStale : Failure::kConnect;
      *error = StrCat("sending the request failed: ", ec.message());
      co_return r;
    }
    // Response head.
    http::ResponseHead rh;
    size_t consumed = 0;
    std::string perr;
    while (true) {
      if (conn.buf.size() > 0) {
        auto ps = http::ParseResponseHead(conn.buf.view(), kHeadLimit, &rh, &consumed, &perr);
        if (ps == http::ParseStatus::kDone) break;
        if (ps != http::ParseStatus::kIncomplete) {
          r.failure = Failure::kProtocol;
          *error = StrCat("malformed response head: ", ps == http::ParseStatus::kTooLarge ? "too large" : perr);
          co_return r;
        }
      }
      size_t n = co_await conn.ReadSome(conn.buf.Prepare(kReadChunk), ec);
      if (ec) {
        if (dog.fired()) {
          r.failure = Failure::kTimeout;
          *error = StrCat("no response within ", first_byte.count(), " ms");
        } else if (conn.reused && conn.buf.size() == 0) {
          r.failure = Failure::kStale;
        } else {
          r.failure = Failure::kProtocol;
          *error = StrCat("reading the response failed: ", ec.message());
        }
        co_return r;
      }
      conn.buf.Commit(n);
    }
    conn.buf.Consume(consumed);
    r.status = rh.status;
    if (r.status < 200) {  // 1xx interim answers are not relayed
      r.failure = Failure::kProtocol;
      *error = "unexpected interim response";
      co_return r;
    }

    BodyReader reader(rh.framing, rh.content_length);
    if (capture != nullptr) {
      // Read whole for the caller (a split request's part): nothing goes to the client here.
      std::string berr;
      while (!reader.done()) {
        if (!reader.Drain(conn.buf, &capture->body, &berr)) break;
        if (reader.done()) break;
        if (capture->body.size() > opts_.max_response_body_bytes) {
          berr = "response body exceeds the limit";
          break;
        }
        dog.Arm(opts_.upstream_idle_timeout);
        size_t n = co_await conn.ReadSome(conn.buf.Prepare(kReadChunk), ec);
        if (ec) {
          if (ec == net::error::eof || ec == ssl::error::stream_truncated) {
            ec = {};
            reader.OnEof();
            if (!reader.done()) berr = "connection closed before the body ended";
          }
          break;
        }
        conn.buf.Commit(n);
      }
      dog.Disarm();
      if (ec || !berr.empty()) {
        r.failure = dog.fired() ? Failure::kTimeout : Failure::kProtocol;
        *error = StrCat("reading the response body failed: ", ec ? (dog.fired() ? std::string("idle timeout") : ec.message()) : berr);
        co_return r;
      }
      capture->status = rh.status;
      capture->headers = std::move(rh.headers);
      r.upstream_reusable = rh.keep_alive && conn.buf.size() == 0;
      co_return r;
    }
    bool is_error = r.status >= 300;
    auto upstream_ct = rh.headers.Get("content-type");
    bool event_stream = upstream_ct && (upstream_ct->find("text/event-stream") != std::string_view::npos ||
                                        upstream_ct->find("vnd.amazon.eventstream") != std::string_view::npos);
    bool buffered = is_error || (!event_stream && rh.framing == http::Framing::kContentLength);
    http::HeaderMap out_headers = rh.headers;
    pipe.OnResponseHeaders(r.status, rh.headers).ApplyTo(out_headers);

    std::string chunk;
    std::string berr;
    // Streams only: the response head while it is held to go out with the first piece, and the
    // keep-alives (which must follow the head).
    std::string held_head;
    std::shared_ptr<KeepAlive> ka;
    // Keep-alives start only when the relay first has to wait for the upstream: an answer
    // that is all there already (a short one, arrived with its head) needs no timer.
    bool keepalive_wanted = false;
    auto start_keepalive = [&] {
      std::string_view ping = pipe.StreamKeepAlive();
      ka = std::make_shared<KeepAlive>(w.io.get_executor());
      http::AppendChunkPrefix(ping.size(), &ka->framed);
      StrAppend(&ka->framed, ping, "\r\n");
      ka->every = opts_.stream_keepalive;
      ka->last = Clock::now();
      net::co_spawn(w.io.get_executor(), KeepAliveLoop(ka, client), net::detached);
    };
    ErrorCode wec;
    // Reads the next decoded piece of the body into `chunk` (cleared first). ec set on I/O
    // errors; berr on framing errors. A held head is sent before waiting for the upstream: the
    // client gets its headers (and then keep-alives) however long the first piece takes.
    auto next = [&]() -> Task<void> {
      chunk.clear();
      while (chunk.empty() && !reader.done()) {
        if (!reader.Drain(conn.buf, &chunk, &berr)) co_return;
        if (!chunk.empty() || reader.done()) co_return;
        if (!held_head.empty()) {
          if (ka) ka->relaying = true;  // no keep-alive write is in flight: none can precede the head
          co_await net::async_write(client, net::buffer(held_head), Redirect(wec));
          held_head.clear();
          if (ka) {
            ka->relaying = false;
            ka->last = Clock::now();
          }
          if (wec) co_return;
        }
        if (keepalive_wanted && !ka) start_keepalive();  // after the head: none may precede it
        dog.Arm(opts_.upstream_idle_timeout);
        size_t n = co_await conn.ReadSome(conn.buf.Prepare(kReadChunk), ec);
        if (ec) {
          bool eof = ec == net::error::eof || ec == ssl::error::stream_truncated;
          if (eof) {
            ec = {};
            reader.OnEof();
            if (!reader.done()) berr = "connection closed before the body ended";
          }
          co_return;
        }
        conn.buf.Commit(n);
      }
    };

    if (buffered) {
      std::string whole;
      while (!reader.done()) {
        co_await next();
        if (ec || !berr.empty()) break;
        whole.append(chunk);
        if (whole.size() > opts_.max_response_body_bytes) {
          berr = "response body exceeds the limit";
          break;
        }
      }
      dog.Disarm();
      gateway::ImmediateResponse reply;
      bool failed = ec || !berr.empty();
      if (failed) {
        std::string why = ec ? (dog.fired() ? std::string("idle timeout") : ec.message()) : berr;
        *error = StrCat("reading the response body failed: ", why);
        reply = pipe.Error(502, StrCat("upstream response failed: ", why), "upstream_error");
        out_headers.clear();
      } else if (is_error) {
        reply = pipe.OnResponseError(r.status, rh.headers, whole);
        for (const auto& [n, v] : rh.headers.entries())
          if (http::IsHopByHop(n)) out_headers.Remove(n);
      } else if (chunk.clear(), !pipe.OnResponseBody(whole, true, &chunk).ok()) {
        reply = pipe.Error(502, "upstream response could not be translated", "upstream_malformed");
        out_headers.clear();
      } else {
        reply.status = r.status;
        reply.body = std::move(chunk);
        reply.content_type.clear();
      }
      if (!reply.content_type.empty()) out_headers.Set("content-type", reply.content_type);
      r.status = reply.status;
      r.client_ok = co_await WriteResponse(client, reply.status, out_headers, reply.body, keep_alive);
      r.upstream_reusable = !failed && rh.keep_alive && conn.buf.size() == 0;
      co_return r;
    }

    // Streamed: relay each decoded piece as it arrives, chunked to the client. Writes are
    // coalesced where that delays nothing: the head goes with the first piece when the upstream
    // sent body bytes with its head, and the last chunk marker with the last piece. A stream
    // answered in one read is then one write, as for a buffered answer, instead of three.
    http::FormatResponseHead(r.status, out_headers, -1, keep_alive, &held_head);
    std::string out;
    bool last_sent = false;  // the last-chunk marker went with the final piece
    absl::Status translate_status;
    std::string prefix;
    static constexpr std::string_view kCrlf = "\r\n";
    static constexpr std::string_view kLast = "0\r\n\r\n";
    keepalive_wanted = event_stream && !pipe.StreamKeepAlive().empty() && opts_.stream_keepalive.count() > 0;
    // Stops the keep-alives; returns once none is being written (the socket is ours again).
    auto stop_keepalive = [&]() -> Task<void> {
      if (!ka) co_return;
      ka->stopped = true;
      ka->timer.cancel();
      co_await KeepAliveIdle(*ka);
    };
    // Writes `data` as one chunk (after the head if it is still held; with the last-chunk
    // marker when `last`: nothing may follow it, so the keep-alives stop first).
    auto write_chunk = [&](std::string_view data, bool last = false) -> Task<bool> {
      if (ka) {
        ka->relaying = true;
        if (last) ka->stopped = true;
        co_await KeepAliveIdle(*ka);
      }
      prefix.clear();
      http::AppendChunkPrefix(data.size(), &prefix);
      std::array<net::const_buffer, 5> bufs{net::buffer(held_head), net::buffer(prefix),
                                            net::buffer(data.data(), data.size()),
                                            net::buffer(kCrlf.data(), kCrlf.size()),
                                            last ? net::buffer(kLast.data(), kLast.size()) : net::const_buffer()};
      co_await net::async_write(client, bufs, Redirect(wec));
      held_head.clear();
      last_sent = last;
      if (ka) {
        ka->relaying = false;
        ka->last = Clock::now();
      }
      co_return !wec;
    };
    while (!reader.done()) {
      co_await next();
      if (wec) {  // writing the held head failed: the client went away
        co_await stop_keepalive();
        r.client_ok = false;
        co_return r;
      }
      if (ec || !berr.empty()) break;
      out.clear();
      translate_status = pipe.OnResponseBody(chunk, reader.done(), &out);
      // Events translated before a malformed one still reach the client, then the error.
      bool final_piece = reader.done() && translate_status.ok();
      if (!out.empty() && !co_await write_chunk(out, final_piece)) {
        co_await stop_keepalive();
        r.client_ok = false;  // the client went away: drop the upstream connection too
        co_return r;
      }
      if (!translate_status.ok()) break;
    }
    dog.Disarm();
    bool broken = ec || !berr.empty() || !translate_status.ok();
    if (broken) {
      // The upstream broke or sent garbage mid-stream: end the client's stream with an error
      // event in its dialect, then close both connections (the upstream's state is unknown).
      if (ec || !berr.empty()) {
        std::string why = ec ? StrCat("upstream stream failed: ", dog.fired() ? std::string("idle timeout") : ec.message())
                             : StrCat("upstream stream failed: ", berr);
        log::Warn(why);
        co_await write_chunk(pipe.StreamError(why));
      } else {
        log::Warn("upstream stream ended with an error: ", translate_status.message());
        co_await write_chunk(pipe.StreamError(translate_status));
      }
    }
    co_await stop_keepalive();
    if (!last_sent) {
      // The head is still held when the stream ended before any piece (or with an error
      // event only): it goes first.
      std::array<net::const_buffer, 2> bufs{net::buffer(held_head), net::buffer(kLast.data(), kLast.size())};
      co_await net::async_write(client, bufs, Redirect(wec));
    }
    // The client's response is complete (error event, last chunk): its connection stays
    // usable; only the upstream's, whose state is unknown, is dropped.
    r.client_ok = !wec;
    r.upstream_reusable = !broken && rh.keep_alive && conn.buf.size() == 0;
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
