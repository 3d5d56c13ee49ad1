#include "base/http.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/net.h"
#include "base/strings.h"

namespace strake::http {
namespace {

TEST(HttpTest, ParsesRequestHeadAndFraming) {
  std::string buf =
      "POST /api?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Canary:  yes \r\n\r\nhello";
  Head h;
  auto n = ParseRequestHead(buf, h);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, buf.size() - 5);
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/api?x=1");
  EXPECT_EQ(h.content_length, 5);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.Header("x-canary"), "yes");
  EXPECT_FALSE(h.Header("missing"));
}

TEST(HttpTest, IncompleteHeadAsksForMore) {
  Head h;
  auto n = ParseRequestHead("GET / HTTP/1.1\r\nHost: a\r\n", h);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

TEST(HttpTest, ConnectionSemanticsPerVersion) {
  Head h;
  ASSERT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n", h));
  EXPECT_FALSE(h.keep_alive);
  ASSERT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", h));
  EXPECT_TRUE(h.keep_alive);
  ASSERT_TRUE(ParseRequestHead("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", h));
  EXPECT_FALSE(h.keep_alive);
  ASSERT_TRUE(
      ParseRequestHead("GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", h));
  EXPECT_TRUE(h.upgrade);
}

TEST(HttpTest, RefusesAmbiguousFraming) {
  Head h;
  EXPECT_FALSE(ParseRequestHead(
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", h));
  EXPECT_FALSE(
      ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", h));
  EXPECT_FALSE(ParseRequestHead("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", h));
  EXPECT_FALSE(ParseRequestHead("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", h));
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/2.0\r\n\r\n", h));
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", h));
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", h));
}

// A bare LF, a bare CR or a NUL in a header value would be a line break (an
// injected header) or the end of a string to a lenient backend: refused,
// so the router answers 400 rather than forwarding it.
TEST(HttpTest, RefusesControlCharactersInHeadersAndTheRequestLine) {
  Head h;
  using namespace std::string_literals;
  for (const std::string& value :
       {"a\nTransfer-Encoding: chunked"s, "a\rX-Injected: 1"s, "a\0b"s, "a\x7f"s}) {
    std::string req = "POST / HTTP/1.1\r\nContent-Length: 3\r\nX-Bad: " + value + "\r\n\r\nabc";
    auto r = ParseRequestHead(req, h);
    ASSERT_FALSE(r) << Quote(value);
    EXPECT_NE(r.error().message.find("control character"), std::string::npos);
  }
  EXPECT_FALSE(ParseRequestHead("GET /a\nb HTTP/1.1\r\n\r\n"s, h));
  EXPECT_FALSE(ParseRequestHead("GET /a\0b HTTP/1.1\r\n\r\n"s, h));
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.1\r\nX-Tab: a\tb\r\n\r\n", h));
}

TEST(HttpTest, ParsesResponseHead) {
  Head h;
  auto n = ParseResponseHead("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", h);
  ASSERT_TRUE(n);
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(h.content_length, 0);
  EXPECT_FALSE(ParseResponseHead("HTTP/1.1 abc\r\n\r\n", h));
  EXPECT_TRUE(ResponseHasNoBody("HEAD", 200));
  EXPECT_TRUE(ResponseHasNoBody("GET", 304));
  EXPECT_FALSE(ResponseHasNoBody("GET", 200));
}

TEST(HttpTest, ChunkedScannerFindsTheEndAcrossPieces) {
  std::string body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (size_t split = 0; split <= body.size() - 4; ++split) {
    ChunkedScanner s;
    auto a = s.Feed(std::string_view(body).substr(0, split));
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, split);
    auto b = s.Feed(std::string_view(body).substr(split));
    ASSERT_TRUE(b) << split;
    EXPECT_EQ(*a + *b, body.size() - 4) << split;
    EXPECT_TRUE(s.done());
  }
  ChunkedScanner bad;
  EXPECT_FALSE(bad.Feed("zz\r\n"));
  ChunkedScanner overlong;
  EXPECT_FALSE(overlong.Feed("2\r\nabc\r\n"));
  ChunkedScanner huge;
  EXPECT_FALSE(huge.Feed("ffffffffffffffffff\r\n"));
}

TEST(HttpTest, UrlEncodingRoundTrips) {
  EXPECT_EQ(UrlEncode("rate(x{a=\"b\"}[5m]) > 0.9 & ~y"),
            "rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29%20%3E%200.9%20%26%20~y");
  EXPECT_EQ(UrlDecode(UrlEncode("a b/c?d=e&f%")), "a b/c?d=e&f%");
  EXPECT_EQ(UrlDecode("a+b%2Fc%zz%4"), "a b/c%zz%4");  // malformed escapes stay as they are
}

TEST(NetTest, ListenTwiceOnOnePortNamesThePort) {
  auto a = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(a) << a.error().message;
  auto b = ListenTcp("127.0.0.1", a->port);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find(std::to_string(a->port)), std::string::npos);
  EXPECT_NE(b.error().message.find("in use"), std::string::npos) << b.error().message;
}

TEST(NetTest, ConnectToClosedPortFailsClearly) {
  uint16_t port = 0;
  {
    auto l = ListenTcp("127.0.0.1", 0);
    ASSERT_TRUE(l);
    port = l->port;
  }
  auto c = ConnectTcp("127.0.0.1", port, std::chrono::milliseconds(500));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("refused"), std::string::npos) << c.error().message;
}

TEST(NetTest, UnixSocketsAreOwnerOnlyAndWorkPastTheSunPathLimit) {
  char tmpl[] = "/tmp/strake-net-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string deep = dir + "/" + std::string(120, 'd');  // sun_path holds 107
  ASSERT_EQ(::mkdir(deep.c_str(), 0700), 0);
  for (const std::string& path : {dir + "/s.sock", deep + "/s.sock"}) {
    auto l = ListenUnix(path);
    ASSERT_TRUE(l) << l.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(ConnectUnix(path)) << path;
    ::unlink(path.c_str());
    auto gone = ConnectUnix(path);
    ASSERT_FALSE(gone);
    EXPECT_NE(gone.error().message.find("connect to " + path + ": No such file"), std::string::npos)
        << gone.error().message;
  }
  ::rmdir(deep.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace strake::http
