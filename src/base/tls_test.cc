#include "base/tls.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <thread>

#include "base/fs.h"
#include "base/net.h"

namespace strake {
namespace {

using namespace std::chrono_literals;

// A self-signed certificate for 127.0.0.1 (and one for another name),
// made by the openssl tool, and a one-request HTTPS server on loopback.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("tls");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    for (const auto& [name, san] : std::vector<std::pair<std::string, std::string>>{
             {"ip", "IP:127.0.0.1"}, {"other", "DNS:other.example"}}) {
      std::string cmd =
          "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=strake -keyout " + dir_ +
          "/" + name + ".key -out " + dir_ + "/" + name + ".crt -addext subjectAltName=" + san +
          " >/dev/null 2>&1";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  void TearDown() override {
    if (server_.joinable()) server_.join();
    (void)RemoveAll(dir_);
  }

  // Serves one connection with `cert`; returns the port.
  uint16_t Serve(const std::string& cert) {
    auto ctx = TlsContext::Server(dir_ + "/" + cert + ".crt", dir_ + "/" + cert + ".key");
    EXPECT_TRUE(ctx) << ctx.error().message;
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l);
    uint16_t port = l->port;
    server_ = std::thread([ctx = *ctx, l = std::move(*l)]() mutable {
      pollfd p{l.fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 10'000) != 1) return;
      int fd = ::accept(l.fd.get(), nullptr, nullptr);
      if (fd < 0) return;
      auto s = TlsSession::Accept(*ctx, fd, 5s);
      if (s) {
        char buf[4096];
        (void)(*s)->Read(buf, sizeof buf);
        (*s)->WriteAll("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      }
      s = Fail("done");  // the session closes before the socket
      ::close(fd);
    });
    return port;
  }

  std::string dir_;
  std::thread server_;
};

TEST_F(TlsTest, AClientThatTrustsTheCaGetsTheAnswer) {
  uint16_t port = Serve("ip");
  auto client = TlsContext::Client(dir_ + "/ip.crt", true);
  ASSERT_TRUE(client) << client.error().message;
  http::Request req;
  auto r = http::Fetch("127.0.0.1", port, req, 5s, client->get());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
}

TEST_F(TlsTest, AnUntrustedOrMisnamedCertificateIsRefused) {
  uint16_t port = Serve("ip");
  auto system = TlsContext::Client("", true);
  ASSERT_TRUE(system);
  http::Request req;
  auto r = http::Fetch("127.0.0.1", port, req, 5s, system->get());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the server's certificate is not trusted"), std::string::npos)
      << r.error().message;
  server_.join();

  // Trusted, but issued to another name.
  port = Serve("other");
  auto other = TlsContext::Client(dir_ + "/other.crt", true);
  ASSERT_TRUE(other);
  r = http::Fetch("127.0.0.1", port, req, 5s, other->get());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not trusted"), std::string::npos) << r.error().message;
  server_.join();

  // Unless told to accept anything.
  port = Serve("other");
  auto insecure = TlsContext::Client("", false);
  ASSERT_TRUE(insecure);
  r = http::Fetch("127.0.0.1", port, req, 5s, insecure->get());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "ok");
}

TEST_F(TlsTest, AKeyThatIsNotTheCertificatesIsRefused) {
  auto ctx = TlsContext::Server(dir_ + "/ip.crt", dir_ + "/other.key");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("does not match --tls-cert " + dir_ + "/ip.crt"),
            std::string::npos)
      << ctx.error().message;
  ctx = TlsContext::Server(dir_ + "/missing.crt", dir_ + "/ip.key");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("--tls-cert " + dir_ + "/missing.crt"), std::string::npos);
}

TEST(HttpUrl, RedactUrlHidesCredentialsOnly) {
  EXPECT_EQ(RedactUrl("https://bob:pw@host/x.git"), "https://<redacted>@host/x.git");
  EXPECT_EQ(RedactUrl("ftp://token@host"), "ftp://<redacted>@host");
  EXPECT_EQ(RedactUrl("https://host/a@b"), "https://host/a@b");    // an @ in the path
  EXPECT_EQ(RedactUrl("git@host:org/repo"), "git@host:org/repo");  // scp-like: a user name
}

TEST(HttpUrl, HttpsIsParsedWithItsDefaultPort) {
  auto u = ParseHttpUrl("https://ci.example/strake");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/strake");
  EXPECT_FALSE(ParseHttpUrl("ftp://x"));
}

}  // namespace
}  // namespace strake
