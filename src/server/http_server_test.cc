#include "server/http_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/net.h"

namespace strake::server {
namespace {

TEST(ErrorResponse, EachCodeHasOneHttpStatus) {
  EXPECT_EQ(HttpStatusOf(ErrorCode::kInvalid), 400);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kForbidden), 403);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kConflict), 409);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnknown), 500);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kUnknown, 409), 409);
}

TEST(ErrorResponse, TheBodyIsAKubernetesStatusWithTheCodesReason) {
  Response r = ErrorResponse(Error{"rollout \"web\" not found", ErrorCode::kNotFound});
  EXPECT_EQ(r.status, 404);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["message"], "rollout \"web\" not found");
  EXPECT_EQ(ErrorResponse(Error{"moved"}, 409).status, 409);
}

// A server whose handler calls a request authenticated when it carries
// "Authorization: yes".
class LimitsTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions o) {
    server_ = std::make_unique<HttpServer>(
        [](const Request& req) {
          Response r;
          r.body = "ok";
          r.authenticated = req.Header("Authorization") == "yes";
          return r;
        },
        o);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port);
    port_ = *port;
    server_->Start();
  }
  Fd Connect() {
    auto fd = ConnectTcp("127.0.0.1", port_, std::chrono::seconds(2));
    EXPECT_TRUE(fd);
    return fd ? std::move(*fd) : Fd();
  }
  static void Send(const Fd& fd, std::string_view text) {
    ASSERT_EQ(::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
  }
  // What the server sent until it closed (or `wait` passed); "" if nothing.
  static std::string ReadUntilClosed(const Fd& fd, std::chrono::milliseconds wait) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd.get(), POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
      char buf[4096];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n <= 0) return out + "<closed>";
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // One request on a fresh connection; the status line, or why not.
  std::string Get(bool authenticated) {
    http::Request req;
    if (authenticated) req.headers.emplace_back("Authorization", "yes");
    auto r = http::Fetch("127.0.0.1", port_, req, std::chrono::seconds(5));
    return r ? std::to_string(r->status) : r.error().message;
  }

  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(LimitsTest, AHeadThatDripsOrNeverComesIsCutAtTheHeadDeadline) {
  HttpServerOptions o;
  o.head_timeout = std::chrono::milliseconds(300);
  Start(o);
  Fd idle = Connect();
  Fd drip = Connect();
  auto start = std::chrono::steady_clock::now();
  for (const char* part : {"GET / HTTP/1.1\r\n", "X-A: 1\r\n", "X-B: 2\r\n"}) {
    Send(drip, part);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  EXPECT_EQ(ReadUntilClosed(drip, std::chrono::seconds(5)), "<closed>");
  EXPECT_EQ(ReadUntilClosed(idle, std::chrono::seconds(5)), "<closed>");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(LimitsTest, StrangersCannotLockTheApiOut) {
  HttpServerOptions o;
  o.max_connections = 16;
  o.max_unauthenticated = 8;
  Start(o);
  // An authenticated client holds a keep-alive connection.
  Fd known = Connect();
  Send(known, "GET / HTTP/1.1\r\nAuthorization: yes\r\n\r\n");
  EXPECT_NE(ReadUntilClosed(known, std::chrono::milliseconds(300)).find("200 OK"),
            std::string::npos);
  // 40 strangers connect and send nothing: many more than their places.
  std::vector<Fd> strangers;
  for (int i = 0; i < 40; ++i) strangers.push_back(Connect());
  // The API still answers new clients, and the known connection stays.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get(true), "200") << i;
  EXPECT_EQ(Get(false), "200");
  Send(known, "GET / HTTP/1.1\r\nAuthorization: yes\r\n\r\n");
  EXPECT_NE(ReadUntilClosed(known, std::chrono::milliseconds(300)).find("200 OK"),
            std::string::npos);
  // The strangers that waited longest were closed to make room.
  int closed = 0;
  for (const auto& s : strangers) {
    if (ReadUntilClosed(s, std::chrono::milliseconds(20)) == "<closed>") ++closed;
  }
  EXPECT_GE(closed, 30);
}

TEST_F(LimitsTest, AuthenticatedConnectionsMayIdleAndAreNeverCut) {
  HttpServerOptions o;
  o.head_timeout = std::chrono::milliseconds(200);
  o.max_connections = 4;
  o.max_unauthenticated = 2;
  Start(o);
  Fd known = Connect();
  Send(known, "GET / HTTP/1.1\r\nAuthorization: yes\r\n\r\n");
  ASSERT_NE(ReadUntilClosed(known, std::chrono::milliseconds(300)).find("200 OK"),
            std::string::npos);
  std::vector<Fd> strangers;
  for (int i = 0; i < 6; ++i) strangers.push_back(Connect());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // past the head deadline
  Send(known, "GET / HTTP/1.1\r\nAuthorization: yes\r\n\r\n");
  EXPECT_NE(ReadUntilClosed(known, std::chrono::milliseconds(300)).find("200 OK"),
            std::string::npos);
}

// Sends `raw` on a new connection and reads until the server closes it.
std::string Exchange(uint16_t port, const std::string& raw) {
  auto fd = ConnectTcp("127.0.0.1", port, std::chrono::seconds(5));
  if (!fd) return "connect: " + fd.error().message;
  if (::send(fd->get(), raw.data(), raw.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(raw.size()))
    return "send failed";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd->get(), buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

// Found by fuzz/fuzz_http: the 400 for a request line that is not UTF-8
// quoted it into its JSON body, which threw outside any handler's catch and
// ended the process. The server answers 400 and goes on serving.
TEST(HttpServer, ARequestHeadThatIsNotUtf8IsA400AndTheServerLives) {
  HttpServer server([](const Request&) { return JsonResponse(200, {{"ok", true}}); });
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port) << port.error().message;
  server.Start();
  std::string bad = Exchange(*port, "G\xFFT / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0u) << bad;
  EXPECT_NE(bad.find("bad request method"), std::string::npos) << bad;
  std::string good = Exchange(*port, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(good.rfind("HTTP/1.1 200", 0), 0u) << good;
  server.Stop();
}

}  // namespace
}  // namespace strake::server
