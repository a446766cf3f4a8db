// String helpers that take std::string_view. Debian 12's abseil is built with its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so StrCat rejects
// std::string_view arguments; these replace it throughout sluice.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace sluice {
namespace strings_internal {

class Piece {
 public:
  Piece(std::string_view s) : sv_(s) {}                  // NOLINT
  Piece(const std::string& s) : sv_(s) {}                // NOLINT
  Piece(const char* s) : sv_(s ? s : "") {}              // NOLINT
  Piece(absl::string_view s) : sv_(s.data(), s.size()) {}  // NOLINT
  Piece(char c) : sv_(buf_, 1) { buf_[0] = c; }          // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                             !std::is_same_v<T, char>, int> = 0>
  Piece(T v) {  // NOLINT
    auto r = std::to_chars(buf_, buf_ + sizeof(buf_), v);
    sv_ = std::string_view(buf_, r.ptr - buf_);
  }
  Piece(double v);  // NOLINT
  Piece(const Piece&) = delete;
  Piece& operator=(const Piece&) = delete;
  std::string_view view() const { return sv_; }

 private:
  char buf_[32];
  std::string_view sv_;
};

}  // namespace strings_internal

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  const strings_internal::Piece pieces[] = {strings_internal::Piece(args)...};
  size_t n = 0;
  for (const auto& p : pieces) n += p.view().size();
  out->reserve(out->size() + n);
  for (const auto& p : pieces) out->append(p.view());
}

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  if constexpr (sizeof...(Args) > 0) StrAppend(&out, args...);
  return out;
}

// Parses a whole base-10 integer; false on anything else (sign allowed).
bool ParseInt(std::string_view text, int64_t* out);

inline std::string_view StripWhitespace(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// "host", "host:port", "[v6]" or "[v6]:port" -> the host (brackets removed) and the port text
// ("" when absent). False when malformed: an unclosed bracket, or text after "]" that is not
// ":port".
bool SplitHostPort(std::string_view hostport, std::string_view* host, std::string_view* port);

// A value that may go into a request header: no line breaks or other control characters.
bool HeaderSafe(std::string_view v);

// A URL a secret may be sent to: https, or plain http to loopback (127.0.0.1, localhost,
// [::1]); no whitespace or control characters.
bool HttpsOrLoopbackUrl(std::string_view url);

// The first line of a remote party's message, at most `max` bytes: for error messages and logs.
std::string FirstLine(std::string_view s, size_t max = 300);

// Percent-encodes everything but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) and
// the bytes in `also_keep` (e.g. "@" for a path segment holding a Vertex model id such as
// claude-sonnet-4-5@20250929), so a value cannot change the shape of a path or query.
std::string PercentEncode(std::string_view s, std::string_view also_keep = {});
// A value in an application/x-www-form-urlencoded body or a query string.
inline std::string FormEncode(std::string_view s) { return PercentEncode(s); }

inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace sluice
