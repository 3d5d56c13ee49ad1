#include "server/http_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

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
