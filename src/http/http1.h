// An HTTP/1.1 codec (RFC 9112) with no I/O: parses request and response heads from a byte
// buffer, decodes chunked bodies incrementally, and formats heads and chunks. The standalone
// driver runs it over raw sockets; it exists because a general-purpose HTTP library spent
// more CPU per proxied request than the rest of the gateway together.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/headers.h"

namespace sluice::http {

enum class ParseStatus {
  kDone,        // a complete head was parsed; `consumed` bytes belong to it
  kIncomplete,  // need more bytes
  kTooLarge,    // the head exceeds the limit
  kInvalid,     // malformed
};

// Body framing of a message (RFC 9112 §6).
enum class Framing { kNone, kContentLength, kChunked, kUntilClose };

struct RequestHead {
  std::string method;
  std::string target;
  int minor_version = 1;
  HeaderMap headers;  // lower-case names
  Framing framing = Framing::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int minor_version = 1;
  HeaderMap headers;
  Framing framing = Framing::kUntilClose;
  uint64_t content_length = 0;
  bool keep_alive = true;
};

// Parses a request head at the start of `buf`. On kDone, *consumed is the head's size.
// Rejects obsolete line folding, bad tokens, conflicting Content-Length, and
// Transfer-Encoding other than a final "chunked" (request smuggling defences).
ParseStatus ParseRequestHead(std::string_view buf, size_t max_bytes, RequestHead* out,
                             size_t* consumed, std::string* error);
// Parses a response head. `head_request` / status 1xx/204/304 mean no body.
ParseStatus ParseResponseHead(std::string_view buf, size_t max_bytes, ResponseHead* out,
                              size_t* consumed, std::string* error);

// Incremental chunked-body decoder. Feed bytes split anywhere; decoded data is appended.
class ChunkedDecoder {
 public:
  // Consumes from `in` (returns how many bytes were used; stops after the final chunk and
  // trailers). Sets *error on malformed input.
  size_t Feed(std::string_view in, std::string* out, std::string* error);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kTrailerLf, kDone };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  size_t trailer_line_ = 0;
  size_t trailer_bytes_ = 0;
};

// Appends "HTTP/1.1 <status> <reason>\r\n" + headers + framing header + "\r\n".
// `content_length` < 0 means chunked.
void FormatResponseHead(int status, const HeaderMap& headers, int64_t content_length,
                        bool keep_alive, std::string* out);
// Appends the request line and headers, then "content-length: N" (always: request bodies are
// sent whole) and the blank line.
void FormatRequestHead(std::string_view method, std::string_view target, std::string_view host,
                       const HeaderMap& headers, size_t content_length, std::string* out);
// The same for `headers` with `mutation` applied (HeaderMutation::ApplyTo), without building
// the mutated map: client headers the mutation removes or sets are skipped, then the set ones
// follow.
void FormatRequestHead(std::string_view method, std::string_view target, std::string_view host,
                       const HeaderMap& headers, const HeaderMutation& mutation, size_t content_length,
                       std::string* out);
// Appends one chunk's framing prefix ("<hex>\r\n"); the caller sends data then "\r\n".
void AppendChunkPrefix(size_t size, std::string* out);

std::string_view ReasonPhrase(int status);

}  // namespace sluice::http
