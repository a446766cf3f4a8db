#include "http/http1.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sluice::http {
namespace {

TEST(Http1Test, ParsesRequestHead) {
  std::string raw =
      "\r\nPOST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw:1975\r\nContent-Type: application/json\r\n"
      "Content-Length: 5\r\nX-Sp:   padded  \r\nExpect: 100-continue\r\n\r\nhello";
  RequestHead h;
  size_t consumed = 0;
  std::string err;
  ASSERT_EQ(ParseRequestHead(raw, 65536, &h, &consumed, &err), ParseStatus::kDone) << err;
  EXPECT_EQ(raw.substr(consumed), "hello");
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/v1/chat/completions?x=1");
  EXPECT_EQ(h.framing, Framing::kContentLength);
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_TRUE(h.expect_continue);
  EXPECT_EQ(*h.headers.Get("x-sp"), "padded");
  EXPECT_EQ(h.headers.entries()[0].first, "host");
  // Every proper prefix is incomplete.
  for (size_t n = 0; n < consumed - 1; ++n) {
    RequestHead p;
    EXPECT_EQ(ParseRequestHead(raw.substr(0, n), 65536, &p, &consumed, &err), ParseStatus::kIncomplete) << n;
  }
}

TEST(Http1Test, RejectsSmugglingAndGarbage) {
  const char* bad[] = {
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
      "POST / HTTP/2.0\r\n\r\n",
      "POST /\r\n\r\n",
      "PO ST / HTTP/1.1\r\n\r\n",
      "POST / HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET /\x01 HTTP/1.1\r\n\r\n",
  };
  for (const char* b : bad) {
    RequestHead h;
    size_t c;
    std::string err;
    EXPECT_EQ(ParseRequestHead(b, 65536, &h, &c, &err), ParseStatus::kInvalid) << b;
    EXPECT_FALSE(err.empty());
  }
  RequestHead h;
  size_t c;
  std::string err;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
  EXPECT_EQ(ParseRequestHead(big, 64, &h, &c, &err), ParseStatus::kTooLarge);
}

TEST(Http1Test, ConnectionSemantics) {
  RequestHead h;
  size_t c;
  std::string err;
  ASSERT_EQ(ParseRequestHead("GET / HTTP/1.0\r\n\r\n", 1024, &h, &c, &err), ParseStatus::kDone);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(h.framing, Framing::kNone);
  ASSERT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", 1024, &h, &c, &err), ParseStatus::kDone);
  EXPECT_FALSE(h.keep_alive);
}

TEST(Http1Test, ParsesResponseHeads) {
  ResponseHead r;
  size_t c;
  std::string err;
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n",
                              1024, &r, &c, &err), ParseStatus::kDone) << err;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.framing, Framing::kChunked);
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n", 1024, &r, &c, &err), ParseStatus::kDone);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.framing, Framing::kContentLength);
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 200 OK\r\n\r\n", 1024, &r, &c, &err), ParseStatus::kDone);
  EXPECT_EQ(r.framing, Framing::kUntilClose);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(ParseResponseHead("HTTP/1.1 204 No Content\r\n\r\n", 1024, &r, &c, &err), ParseStatus::kDone);
  EXPECT_EQ(r.framing, Framing::kNone);
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 2x0 OK\r\n\r\n", 1024, &r, &c, &err), ParseStatus::kInvalid);
}

TEST(Http1Test, ChunkedDecoderAtEveryByteSplit) {
  std::string body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t split = 0; split <= body.size(); ++split) {
    ChunkedDecoder d;
    std::string out, err;
    size_t used = d.Feed(std::string_view(body).substr(0, split), &out, &err);
    ASSERT_TRUE(err.empty()) << err;
    ASSERT_EQ(used, std::min(split, body.size() - 4));
    used += d.Feed(std::string_view(body).substr(split), &out, &err);
    ASSERT_TRUE(err.empty()) << err << " at split " << split;
    EXPECT_TRUE(d.done());
    EXPECT_EQ(out, "helloabcdefghijklmnopqrstuvwxyz");
    EXPECT_EQ(body.substr(used), "NEXT");
  }
  ChunkedDecoder d;
  std::string out, err;
  d.Feed("zz\r\n", &out, &err);
  EXPECT_FALSE(err.empty());
  ChunkedDecoder d2;
  err.clear();
  d2.Feed("3\r\nabcX", &out, &err);
  EXPECT_FALSE(err.empty());
}

TEST(Http1Test, FormatsHeads) {
  HeaderMap h;
  h.Add("content-type", "application/json");
  h.Add("transfer-encoding", "chunked");
  std::string out;
  FormatResponseHead(200, h, 12, true, &out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n");
  out.clear();
  FormatResponseHead(502, h, -1, false, &out);
  EXPECT_EQ(out, "HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
  out.clear();
  FormatRequestHead("POST", "/v1/x", "api:8080", h, 3, &out);
  EXPECT_EQ(out, "POST /v1/x HTTP/1.1\r\nhost: api:8080\r\ncontent-type: application/json\r\ncontent-length: 3\r\n\r\n");
  out.clear();
  AppendChunkPrefix(255, &out);
  EXPECT_EQ(out, "ff\r\n");
}

// Formatting with a pending mutation sends the same header fields as applying it first.
TEST(Http1Test, RequestHeadWithAPendingMutationMatchesTheAppliedOne) {
  HeaderMap client;
  client.Add("Authorization", "Bearer client-key");
  client.Add("X-Trace", "a");
  client.Add("x-trace", "b");
  client.Add("Accept", "application/json");
  client.Add("Connection", "keep-alive");
  client.Add("Content-Length", "99");
  HeaderMutation m;
  m.Remove("authorization");
  m.Remove("connection");
  m.Set("x-trace", "c");
  m.Set("x-api-key", "backend-key");
  m.Set("content-length", "5");  // framing stays the formatter's own

  HeaderMap applied = client;
  m.ApplyTo(applied);
  std::string want, got;
  FormatRequestHead("POST", "/v1/messages", "up:443", applied, 12, &want);
  FormatRequestHead("POST", "/v1/messages", "up:443", client, m, 12, &got);
  auto fields = [](const std::string& head) {
    std::vector<std::string> lines;
    for (size_t at = head.find("\r\n") + 2; at < head.size();) {
      size_t end = head.find("\r\n", at);
      if (end == at) break;
      lines.push_back(head.substr(at, end - at));
      at = end + 2;
    }
    std::sort(lines.begin(), lines.end());
    return lines;
  };
  EXPECT_EQ(fields(got), fields(want));
  EXPECT_EQ(fields(got), (std::vector<std::string>{"accept: application/json", "content-length: 12", "host: up:443",
                                                   "x-api-key: backend-key", "x-trace: c"}));
  EXPECT_EQ(got.rfind("POST /v1/messages HTTP/1.1\r\nhost: up:443\r\n", 0), 0u);
}

}  // namespace
}  // namespace sluice::http
