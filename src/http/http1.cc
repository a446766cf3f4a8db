#include "http/http1.h"

#include <charconv>

#include "common/strings.h"

namespace sluice::http {
namespace {

bool IsTokenChar(unsigned char c) {
  // RFC 9110 tchar.
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Finds the end of the head ("\r\n\r\n"; bare "\n\n" is accepted too). Returns the offset
// just past it, or npos.
size_t FindHeadEnd(std::string_view buf) {
  for (size_t i = 0; i + 1 < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (buf[i + 1] == '\n') return i + 2;
    if (buf[i + 1] == '\r' && i + 2 < buf.size() && buf[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// Splits the head into lines (without CR LF) and calls `fn` for each.
template <typename Fn>
bool ForEachLine(std::string_view head, Fn fn) {
  size_t start = 0;
  while (start < head.size()) {
    size_t nl = head.find('\n', start);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view line = head.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = nl + 1;
    if (line.empty()) break;
    if (!fn(line)) return false;
  }
  return true;
}

bool ParseVersion(std::string_view v, int* minor) {
  if (v == "HTTP/1.1") *minor = 1;
  else if (v == "HTTP/1.0") *minor = 0;
  else return false;
  return true;
}

bool ContainsToken(std::string_view list, std::string_view token) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view item = StripWhitespace(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

// Parses header lines into `headers` and derives framing. Shared by requests and responses.
bool ParseFields(std::string_view lines, HeaderMap* headers, Framing* framing,
                 uint64_t* content_length, bool* keep_alive, bool* expect_continue,
                 int minor_version, std::string* error) {
  bool have_length = false, chunked = false, have_te = false;
  *keep_alive = minor_version >= 1;
  bool ok = ForEachLine(lines, [&](std::string_view line) {
    if (line[0] == ' ' || line[0] == '\t') {
      *error = "obsolete header line folding";
      return false;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "header line without a name";
      return false;
    }
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!IsTokenChar(c)) {
        *error = "invalid character in a header name";
        return false;
      }
    }
    std::string_view value = StripWhitespace(line.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        *error = "invalid character in a header value";
        return false;
      }
    }
    headers->Add(name, value);
    const std::string& lname = headers->entries().back().first;
    if (lname == "content-length") {
      uint64_t n = 0;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() || value.empty()) {
        *error = "invalid content-length";
        return false;
      }
      if (have_length && n != *content_length) {
        *error = "conflicting content-length headers";
        return false;
      }
      have_length = true;
      *content_length = n;
    } else if (lname == "transfer-encoding") {
      have_te = true;
      // Only a final "chunked" is acceptable; anything else cannot be framed safely.
      std::string_view v = value;
      size_t last = v.rfind(',');
      std::string_view final_coding = StripWhitespace(last == std::string_view::npos ? v : v.substr(last + 1));
      chunked = EqualsIgnoreCase(final_coding, "chunked");
      if (!chunked) {
        *error = "unsupported transfer-encoding";
        return false;
      }
    } else if (lname == "connection") {
      if (ContainsToken(value, "close")) *keep_alive = false;
      else if (ContainsToken(value, "keep-alive")) *keep_alive = true;
    } else if (lname == "expect" && expect_continue) {
      *expect_continue = EqualsIgnoreCase(value, "100-continue");
    }
    return true;
  });
  if (!ok) return false;
  if (have_te && have_length) {
    *error = "both transfer-encoding and content-length";
    return false;
  }
  if (chunked) *framing = Framing::kChunked;
  else if (have_length) *framing = Framing::kContentLength;
  return true;
}

}  // namespace

ParseStatus ParseRequestHead(std::string_view buf, size_t max_bytes, RequestHead* out,
                             size_t* consumed, std::string* error) {
  // Tolerate empty lines before a request line (RFC 9112 §2.2).
  size_t skip = 0;
  while (skip < buf.size() && (buf[skip] == '\r' || buf[skip] == '\n')) ++skip;
  std::string_view b = buf.substr(skip);
  size_t end = FindHeadEnd(b);
  if (end == std::string_view::npos) {
    return b.size() > max_bytes ? ParseStatus::kTooLarge : ParseStatus::kIncomplete;
  }
  if (end > max_bytes) return ParseStatus::kTooLarge;
  std::string_view head = b.substr(0, end);
  size_t nl = head.find('\n');
  std::string_view line = head.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) {
    *error = "malformed request line";
    return ParseStatus::kInvalid;
  }
  std::string_view method = line.substr(0, sp1);
  for (unsigned char c : method) {
    if (!IsTokenChar(c)) {
      *error = "malformed method";
      return ParseStatus::kInvalid;
    }
  }
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (unsigned char c : target) {
    if (c <= 0x20 || c == 0x7f) {
      *error = "malformed request target";
      return ParseStatus::kInvalid;
    }
  }
  if (!ParseVersion(line.substr(sp2 + 1), &out->minor_version)) {
    *error = "unsupported HTTP version";
    return ParseStatus::kInvalid;
  }
  out->method.assign(method);
  out->target.assign(target);
  out->headers.clear();
  out->framing = Framing::kNone;
  out->content_length = 0;
  out->expect_continue = false;
  if (!ParseFields(head.substr(nl + 1), &out->headers, &out->framing, &out->content_length,
                   &out->keep_alive, &out->expect_continue, out->minor_version, error)) {
    return ParseStatus::kInvalid;
  }
  *consumed = skip + end;
  return ParseStatus::kDone;
}

ParseStatus ParseResponseHead(std::string_view buf, size_t max_bytes, ResponseHead* out,
                              size_t* consumed, std::string* error) {
  size_t end = FindHeadEnd(buf);
  if (end == std::string_view::npos) {
    return buf.size() > max_bytes ? ParseStatus::kTooLarge : ParseStatus::kIncomplete;
  }
  if (end > max_bytes) return ParseStatus::kTooLarge;
  std::string_view head = buf.substr(0, end);
  size_t nl = head.find('\n');
  std::string_view line = head.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // HTTP/1.1 200 OK
  if (line.size() < 12 || !ParseVersion(line.substr(0, 8), &out->minor_version) || line[8] != ' ') {
    *error = "malformed status line";
    return ParseStatus::kInvalid;
  }
  int status = 0;
  auto r = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (r.ec != std::errc() || r.ptr != line.data() + 12 || status < 100 || status > 999) {
    *error = "malformed status code";
    return ParseStatus::kInvalid;
  }
  out->status = status;
  out->reason.assign(line.size() > 13 ? line.substr(13) : std::string_view());
  out->headers.clear();
  out->framing = Framing::kUntilClose;
  out->content_length = 0;
  if (!ParseFields(head.substr(nl + 1), &out->headers, &out->framing, &out->content_length,
                   &out->keep_alive, nullptr, out->minor_version, error)) {
    return ParseStatus::kInvalid;
  }
  if (status < 200 || status == 204 || status == 304) out->framing = Framing::kNone;
  if (out->framing == Framing::kUntilClose) out->keep_alive = false;
  *consumed = end;
  return ParseStatus::kDone;
}

size_t ChunkedDecoder::Feed(std::string_view in, std::string* out, std::string* error) {
  size_t i = 0;
  while (i < in.size() && state_ != State::kDone) {
    char c = in[i];
    switch (state_) {
      case State::kSize: {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = (c | 0x20) - 'a' + 10;
        else v = -1;
        if (v >= 0) {
          if (++size_digits_ > 15) {
            *error = "chunk size too large";
            return i;
          }
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
          ++i;
          break;
        }
        if (size_digits_ == 0) {
          *error = "missing chunk size";
          return i;
        }
        if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kExt;
          ++i;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
          ++i;
        } else if (c == '\n') {
          state_ = State::kSizeLf;
        } else {
          *error = "invalid chunk size";
          return i;
        }
        break;
      }
      case State::kExt:  // chunk extensions are ignored
        if (c == '\r') {
          state_ = State::kSizeLf;
          ++i;
        } else if (c == '\n') {
          state_ = State::kSizeLf;  // consumed there
        } else {
          ++i;
        }
        break;
      case State::kSizeLf:
        if (c != '\n') {
          *error = "invalid chunk size line";
          return i;
        }
        ++i;
        size_digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailer;
          trailer_line_ = 0;
        } else {
          state_ = State::kData;
        }
        break;
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
        out->append(in.data() + i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c == '\r') {
          state_ = State::kDataLf;
          ++i;
        } else if (c == '\n') {
          state_ = State::kDataLf;
        } else {
          *error = "missing CRLF after chunk data";
          return i;
        }
        break;
      case State::kDataLf:
        if (c != '\n') {
          *error = "missing LF after chunk data";
          return i;
        }
        ++i;
        state_ = State::kSize;
        break;
      case State::kTrailer:
        // Trailer fields are read and dropped; an empty line ends the message.
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (c == '\n') {
          if (trailer_line_ == 0) state_ = State::kDone;
          trailer_line_ = 0;
        } else {
          ++trailer_line_;
          if (++trailer_bytes_ > 64 * 1024) {
            *error = "chunked trailers too large";
            return i;
          }
        }
        ++i;
        break;
      case State::kTrailerLf:
        if (c != '\n') {
          *error = "invalid trailer line";
          return i;
        }
        ++i;
        if (trailer_line_ == 0) state_ = State::kDone;
        else state_ = State::kTrailer;
        trailer_line_ = 0;
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Overloaded";
    default: return "Unknown";
  }
}

void FormatResponseHead(int status, const HeaderMap& headers, int64_t content_length,
                        bool keep_alive, std::string* out) {
  StrAppend(out, "HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  for (const auto& [n, v] : headers.entries()) {
    if (n == "content-length" || n == "transfer-encoding" || n == "connection") continue;
    StrAppend(out, n, ": ", v, "\r\n");
  }
  if (content_length >= 0) StrAppend(out, "content-length: ", content_length, "\r\n");
  else out->append("transfer-encoding: chunked\r\n");
  if (!keep_alive) out->append("connection: close\r\n");
  out->append("\r\n");
}

namespace {
bool FramedByUs(std::string_view n) {
  return n == "host" || n == "content-length" || n == "transfer-encoding" || n == "connection";
}
void AppendField(std::string_view n, std::string_view v, std::string* out) {
  out->append(n);
  out->append(": ");
  out->append(v);
  out->append("\r\n");
}
}  // namespace

void FormatRequestHead(std::string_view method, std::string_view target, std::string_view host,
                       const HeaderMap& headers, size_t content_length, std::string* out) {
  StrAppend(out, method, " ", target, " HTTP/1.1\r\nhost: ", host, "\r\n");
  for (const auto& [n, v] : headers.entries())
    if (!FramedByUs(n)) AppendField(n, v, out);
  StrAppend(out, "content-length: ", content_length, "\r\n\r\n");
}

void FormatRequestHead(std::string_view method, std::string_view target, std::string_view host,
                       const HeaderMap& headers, const HeaderMutation& mutation, size_t content_length,
                       std::string* out) {
  StrAppend(out, method, " ", target, " HTTP/1.1\r\nhost: ", host, "\r\n");
  auto touched = [&](std::string_view n) {
    for (const auto& r : mutation.remove)
      if (r == n) return true;
    for (const auto& s : mutation.set)
      if (s.first == n) return true;
    return false;
  };
  for (const auto& [n, v] : headers.entries())
    if (!FramedByUs(n) && !touched(n)) AppendField(n, v, out);
  for (const auto& [n, v] : mutation.set)
    if (!FramedByUs(n)) AppendField(n, v, out);
  StrAppend(out, "content-length: ", content_length, "\r\n\r\n");
}

void AppendChunkPrefix(size_t size, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), size, 16);
  out->append(buf, r.ptr - buf);
  out->append("\r\n");
}

}  // namespace sluice::http
