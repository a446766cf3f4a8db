#include "common/strings.h"

#include <algorithm>

#include <cstdio>

namespace sluice {
namespace strings_internal {

Piece::Piece(double v) {
  int n = std::snprintf(buf_, sizeof(buf_), "%g", v);
  sv_ = std::string_view(buf_, n > 0 ? static_cast<size_t>(n) : 0);
}

}  // namespace strings_internal

bool ParseInt(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

bool SplitHostPort(std::string_view hostport, std::string_view* host, std::string_view* port) {
  *port = {};
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return false;
    *host = hostport.substr(1, close - 1);
    std::string_view rest = hostport.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    *port = rest.substr(1);
    return true;
  }
  size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(':') == colon) {
    *host = hostport.substr(0, colon);
    *port = hostport.substr(colon + 1);
  } else {
    *host = hostport;  // no port, or a bare IPv6 address
  }
  return true;
}

bool HeaderSafe(std::string_view v) {
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

bool HttpsOrLoopbackUrl(std::string_view url) {
  for (char ch : url) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) return false;
  }
  if (url.starts_with("https://")) return url.size() > 8;
  for (std::string_view local : {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/",
                                 "http://[::1]:", "http://[::1]/"}) {
    if (url.starts_with(local)) return true;
  }
  return url == "http://127.0.0.1" || url == "http://localhost" || url == "http://[::1]";
}

std::string FirstLine(std::string_view s, size_t max) {
  s = s.substr(0, std::min(s.find_first_of("\r\n"), max));
  return std::string(s);
}

std::string PercentEncode(std::string_view s, std::string_view also_keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_' || c == '~' || also_keep.find(static_cast<char>(c)) != std::string_view::npos;
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace sluice
