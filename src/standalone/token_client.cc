#include "standalone/token_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/strings.h"
#include "http/http1.h"

namespace sluice::standalone {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;

struct Url {
  bool tls = true;
  std::string host;
  std::string port;
  std::string target;
};

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  Url u;
  std::string_view rest = text;
  if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
    u.tls = false;
  } else {
    return absl::InvalidArgumentError(StrCat("credential endpoint must be http(s): ", text));
  }
  size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host, port;
  if (!SplitHostPort(hostport, &host, &port)) return absl::InvalidArgumentError("credential endpoint has a malformed host");
  u.host = std::string(host);  // without IPv6 brackets: resolved, and the TLS name
  u.port = port.empty() ? (u.tls ? "443" : "80") : std::string(port);
  if (u.host.empty()) return absl::InvalidArgumentError("credential endpoint has no host");
  return u;
}

class TokenHttpClient final : public auth::HttpClient {
 public:
  explicit TokenHttpClient(const std::string& extra_ca) : extra_ca_(extra_ca), ctx_(ssl::context::tls_client) {
    Configure(ctx_);
  }

  absl::StatusOr<auth::HttpResponse> Send(const auth::HttpRequest& r) override {
    auto u = ParseUrl(r.url);
    if (!u.ok()) return u.status();
    // Mutual TLS: a context of its own with the client's certificate and key (credential
    // refreshes are rare; the shared context stays free of any one identity).
    std::optional<ssl::context> mtls;
    if (r.client_cert_pem.empty() != r.client_key_pem.empty()) {
      return absl::InvalidArgumentError("mutual TLS needs both the client certificate and its private key");
    }
    if (!r.client_cert_pem.empty()) {
      if (!u->tls) return absl::InvalidArgumentError(StrCat("mutual TLS needs an https URL, not ", u->host));
      mtls.emplace(ssl::context::tls_client);
      Configure(*mtls);
      ErrorCode ec;
      // An encrypted key fails here rather than asking for a passphrase on a terminal.
      mtls->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); }, ec);
      mtls->use_certificate_chain(net::buffer(r.client_cert_pem.data(), r.client_cert_pem.size()), ec);
      if (!ec) mtls->use_private_key(net::buffer(r.client_key_pem.data(), r.client_key_pem.size()), ssl::context::pem, ec);
      if (ec) {
        ERR_clear_error();
        return absl::InvalidArgumentError("the client certificate or its private key is not usable PEM");
      }
    }
    net::io_context io;
    absl::StatusOr<auth::HttpResponse> result = absl::DeadlineExceededError(
        StrCat("credential endpoint ", u->host, " did not answer within ", r.timeout_ms, " ms"));
    net::co_spawn(io, Exchange(io, *u, Serialize(r, *u), mtls ? *mtls : ctx_, &result), net::detached);
    io.run_for(std::chrono::milliseconds(r.timeout_ms));
    return result;
  }

 private:
  static std::string Serialize(const auth::HttpRequest& r, const Url& u) {
    // Host carries the port when it is not the scheme's default (RFC 9110 7.2).
    bool default_port = u.port == (u.tls ? "443" : "80");
    bool v6 = u.host.find(':') != std::string::npos;
    std::string req = StrCat(r.method, " ", u.target, " HTTP/1.1\r\nhost: ", v6 ? "[" : "", u.host, v6 ? "]" : "",
                             default_port ? "" : ":", default_port ? "" : u.port, "\r\nconnection: close\r\n");
    for (const auto& [name, value] : r.headers) StrAppend(&req, name, ": ", value, "\r\n");
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT") StrAppend(&req, "content-length: ", r.body.size(), "\r\n");
    StrAppend(&req, "\r\n", r.body);
    return req;
  }

  template <class Stream>
  static net::awaitable<absl::Status> RoundTrip(Stream& s, const Url& u, const std::string& req,
                                                auth::HttpResponse* out) {
    ErrorCode ec;
    co_await net::async_write(s, net::buffer(req), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return absl::UnavailableError(StrCat("request to ", u.host, " failed: ", ec.message()));
    std::string data;
    char buf[8192];
    while (data.size() < (4u << 20)) {
      size_t n = co_await s.async_read_some(net::buffer(buf), net::redirect_error(net::use_awaitable, ec));
      data.append(buf, n);
      if (ec) break;
    }
    http::ResponseHead head;
    size_t consumed = 0;
    std::string err;
    if (http::ParseResponseHead(data, 64 * 1024, &head, &consumed, &err) != http::ParseStatus::kDone) {
      co_return absl::UnavailableError(StrCat("credential endpoint ", u.host, " sent a malformed answer"));
    }
    std::string_view rest = std::string_view(data).substr(consumed);
    out->status = head.status;
    for (const auto& [name, value] : head.headers.entries()) out->headers.emplace_back(name, value);
    if (head.framing == http::Framing::kChunked) {
      http::ChunkedDecoder d;
      d.Feed(rest, &out->body, &err);
    } else if (head.framing == http::Framing::kContentLength) {
      out->body = std::string(rest.substr(0, head.content_length));
    } else {
      out->body = std::string(rest);
    }
    co_return absl::OkStatus();
  }

  // The shared settings of every TLS context: verify the server against the system's roots
  // and the extra CA file.
  void Configure(ssl::context& ctx) const {
    ErrorCode ec;
    ctx.set_verify_mode(ssl::verify_peer, ec);
    ctx.set_default_verify_paths(ec);
    if (!extra_ca_.empty()) ctx.add_certificate_authority(net::buffer(extra_ca_), ec);
  }

  net::awaitable<void> Exchange(net::io_context& io, Url u, std::string req, ssl::context& ctx,
                                absl::StatusOr<auth::HttpResponse>* result) {
    ErrorCode ec;
    tcp::resolver resolver(io);
    auto eps = co_await resolver.async_resolve(u.host, u.port, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      *result = absl::UnavailableError(StrCat("cannot resolve credential endpoint ", u.host, ": ", ec.message()));
      co_return;
    }
    tcp::socket sock(io);
    co_await net::async_connect(sock, eps, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      *result = absl::UnavailableError(StrCat("cannot connect to credential endpoint ", u.host, ": ", ec.message()));
      co_return;
    }
    auth::HttpResponse resp;
    absl::Status st;
    if (u.tls) {
      ssl::stream<tcp::socket> s(std::move(sock), ctx);
      SSL_set_tlsext_host_name(s.native_handle(), u.host.c_str());
      X509_VERIFY_PARAM_set1_host(SSL_get0_param(s.native_handle()), u.host.c_str(), 0);
      co_await s.async_handshake(ssl::stream_base::client, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        *result = absl::UnavailableError(StrCat("TLS handshake with credential endpoint ", u.host, " failed: ", ec.message()));
        co_return;
      }
      st = co_await RoundTrip(s, u, req, &resp);
    } else {
      st = co_await RoundTrip(sock, u, req, &resp);
    }
    if (!st.ok()) *result = st;
    else *result = std::move(resp);
  }

  const std::string extra_ca_;
  ssl::context ctx_;
};

}  // namespace

std::shared_ptr<auth::HttpClient> NewTokenHttpClient(const std::string& extra_ca_pem) {
  return std::make_shared<TokenHttpClient>(extra_ca_pem);
}

absl::StatusOr<std::string> ReadCaFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(StrCat("cannot read CA file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sluice::standalone
