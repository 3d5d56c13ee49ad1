#include "router/router.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "base/http.h"
#include "base/net.h"
#include "router/wire.h"

namespace strake::router {
namespace {

using namespace std::chrono_literals;

// A real HTTP/1.1 backend on a loopback port: answers with its name, echoes
// request bodies, and records what it received. Paths: /chunked answers
// chunked, /hang never answers, /upgrade switches to an echo tunnel.
class Backend {
 public:
  explicit Backend(std::string name, int status = 200) : name_(std::move(name)), status_(status) {
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l) << (l ? "" : l.error().message);
    port_ = l->port;
    listen_ = std::move(l->fd);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Backend() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::vector<std::string> seen_headers(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& h : headers_) {
      auto it = h.find(name);
      out.push_back(it == h.end() ? "" : it->second);
    }
    return out;
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept(listen_.get(), nullptr, nullptr);
      if (fd < 0) continue;
      conns_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    Fd owned(fd);
    std::string buf;
    char tmp[8192];
    auto fill = [&]() {
      while (!stop_) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0) return false;
        buf.append(tmp, static_cast<size_t>(r));
        return true;
      }
      return false;
    };
    while (!stop_) {
      http::Head head;
      auto n = http::ParseRequestHead(buf, head);
      if (!n) return;
      if (*n == 0) {
        if (!fill()) return;
        continue;
      }
      std::string target(head.target);
      std::map<std::string, std::string> hdrs;
      for (const auto& [k, v] : head.headers) hdrs[std::string(k)] = std::string(v);
      bool keep = head.keep_alive;
      std::string body;
      size_t consumed = *n;
      if (head.chunked) {
        http::ChunkedScanner scan;
        size_t used = 0;
        while (true) {
          auto u = scan.Feed(std::string_view(buf).substr(consumed + used));
          if (!u) return;
          used += *u;
          if (scan.done()) break;
          if (!fill()) return;
        }
        body = buf.substr(consumed, used);  // raw chunked bytes; enough to echo a size
        consumed += used;
      } else if (head.content_length > 0) {
        while (buf.size() < consumed + static_cast<size_t>(head.content_length)) {
          if (!fill()) return;
        }
        body = buf.substr(consumed, static_cast<size_t>(head.content_length));
        consumed += static_cast<size_t>(head.content_length);
      }
      buf.erase(0, consumed);
      {
        std::lock_guard<std::mutex> lock(mu_);
        headers_.push_back(hdrs);
      }
      requests_++;
      if (target == "/hang") {
        while (!stop_ && fill()) {
        }
        return;
      }
      std::string resp;
      if (target == "/upgrade") {
        resp = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";
        (void)!::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
        if (!buf.empty()) (void)!::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
        while (fill()) {
          (void)!::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
          buf.clear();
        }
        return;
      }
      std::string text = target == "/echo" ? body : name_;
      if (target == "/chunked") {
        resp = fmt::format(
            "HTTP/1.1 {} X\r\nTransfer-Encoding: chunked\r\nX-Backend: {}\r\n\r\n"
            "{:x}\r\n{}\r\n0\r\n\r\n",
            status_, name_, text.size(), text);
      } else {
        resp = fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\nX-Backend: {}\r\n{}\r\n{}",
                           status_, text.size(), name_, keep ? "" : "Connection: close\r\n", text);
      }
      (void)!::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
      if (!keep) return;
    }
  }

  std::string name_;
  int status_;
  uint16_t port_ = 0;
  Fd listen_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::vector<std::map<std::string, std::string>> headers_;
};

RouteTable Split(const Backend& stable, uint32_t ws, const Backend& canary, uint32_t wc) {
  RouteTable t;
  t.backends.push_back({"stable-v1", ws, {stable.port()}});
  t.backends.push_back({"canary-v2", wc, {canary.port()}});
  return t;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(router_.Start()); }

  uint16_t Add(RouteTable t) {
    auto port = router_.AddService("web", "127.0.0.1", 0, std::move(t));
    EXPECT_TRUE(port) << (port ? "" : port.error().message);
    return port ? *port : 0;
  }

  static http::Response Get(http::Connection& c, const std::string& target,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request req;
    req.target = target;
    req.headers = std::move(headers);
    auto r = c.RoundTrip(req, 5s);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : http::Response{};
  }

  RouterOptions options_;
  Router router_{options_};
};

TEST_F(RouterTest, WeightsAreExactOnAKeepAliveConnection) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 90, canary, 10));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  std::map<std::string, int> seen;
  for (int i = 0; i < 200; ++i) seen[Get(*c, "/").body]++;
  EXPECT_EQ(seen["stable"], 180);
  EXPECT_EQ(seen["canary"], 20);
}

TEST_F(RouterTest, SwapTakesEffectOnTheNextRequest) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 50, canary, 50));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  Get(*c, "/");
  // An abort: all weight back to stable at once, even on a warm connection.
  ASSERT_TRUE(router_.SetRoutes("web", Split(stable, 100, canary, 0)));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Get(*c, "/").body, "stable");
  ASSERT_TRUE(router_.SetRoutes("web", Split(stable, 0, canary, 100)));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Get(*c, "/").body, "canary");
}

TEST_F(RouterTest, HeaderRoutesMatchExactPrefixAndRegex) {
  Backend stable("stable"), canary("canary");
  RouteTable t = Split(stable, 100, canary, 0);
  auto exact = StringMatch::Make(StringMatch::Kind::kExact, "yes");
  auto prefix = StringMatch::Make(StringMatch::Kind::kPrefix, "Mozilla/5");
  auto regex = StringMatch::Make(StringMatch::Kind::kRegex, "beta-[0-9]+");
  ASSERT_TRUE(exact && prefix && regex);
  t.header_routes.push_back({"by-flag", {{"X-Canary", *exact}}, 1});
  t.header_routes.push_back({"by-agent", {{"User-Agent", *prefix}}, 1});
  t.header_routes.push_back({"by-group", {{"X-Group", *regex}}, 1});
  uint16_t port = Add(std::move(t));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  EXPECT_EQ(Get(*c, "/").body, "stable");
  EXPECT_EQ(Get(*c, "/", {{"x-canary", "yes"}}).body, "canary");
  EXPECT_EQ(Get(*c, "/", {{"X-Canary", "no"}}).body, "stable");
  EXPECT_EQ(Get(*c, "/", {{"User-Agent", "Mozilla/5.0 (X11)"}}).body, "canary");
  EXPECT_EQ(Get(*c, "/", {{"X-Group", "beta-42"}}).body, "canary");
  EXPECT_EQ(Get(*c, "/", {{"X-Group", "beta-42x"}}).body, "stable");  // regex matches whole value
  EXPECT_FALSE(StringMatch::Make(StringMatch::Kind::kRegex, "("));
}

// A header regex is RE2 (Go's syntax, as Argo's): compiled once with the
// table, and linear in the header, so a hostile header cannot stall a
// request (std::regex took exponential time on this one).
TEST_F(RouterTest, HeaderRegexIsLinearTime) {
  auto slow = StringMatch::Make(StringMatch::Kind::kRegex, "(a*)*b");
  ASSERT_TRUE(slow);
  EXPECT_FALSE(slow->Matches(std::string(30, 'a') + "!"));
  EXPECT_FALSE(slow->Matches(std::string(100'000, 'a')));
  EXPECT_TRUE(slow->Matches("aaab"));
  RouteTable copy;
  copy.header_routes.push_back({"r", {{"X-Group", *slow}}, 0});
  RouteTable again = copy;  // copies share the compiled pattern
  EXPECT_TRUE(again.header_routes[0].headers[0].second.Matches("b"));
  auto bad = StringMatch::Make(StringMatch::Kind::kRegex, "(?<name>x)\\1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalid);
}

TEST_F(RouterTest, MirrorCopiesAnExactShareAndDiscardsTheCopysAnswer) {
  Backend stable("stable"), canary("canary", 500);
  RouteTable t = Split(stable, 100, canary, 0);
  MirrorRoute m;
  m.name = "mirror-gets";
  m.method = *StringMatch::Make(StringMatch::Kind::kExact, "GET");
  m.percentage = 50;
  m.backend = 1;
  t.mirror_routes.push_back(m);
  uint16_t port = Add(std::move(t));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  for (int i = 0; i < 20; ++i) {
    auto r = Get(*c, "/");
    EXPECT_EQ(r.status, 200);  // the canary's 500 never reaches the client
    EXPECT_EQ(r.body, "stable");
  }
  http::Request post;
  post.method = "POST";
  post.target = "/echo";
  post.body = "x";
  ASSERT_TRUE(c->RoundTrip(post, 5s));  // POST does not match the route
  for (int i = 0; i < 100 && canary.requests() < 10; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(canary.requests(), 10);
  EXPECT_EQ(stable.requests(), 21);
  auto snap = router_.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  for (const auto& r : snap[0].revisions) {
    if (r.revision == "canary-v2") {
      EXPECT_EQ(r.mirrored, 10u);
    }
  }
}

TEST_F(RouterTest, BodiesStreamBothWaysIncludingChunked) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 100, canary, 0));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  http::Request post;
  post.method = "POST";
  post.target = "/echo";
  post.body = std::string(300'000, 'z');  // larger than one buffer
  auto r = c->RoundTrip(post, 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body.size(), 300'000u);
  http::Request chunked;
  chunked.method = "POST";
  chunked.target = "/echo";
  chunked.headers = {{"Transfer-Encoding", "chunked"}};
  chunked.body = "3\r\nabc\r\n0\r\n\r\n";
  r = c->RoundTrip(chunked, 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "3\r\nabc\r\n0\r\n\r\n");
  auto ch = Get(*c, "/chunked");
  EXPECT_EQ(ch.body, "stable");
  EXPECT_EQ(ch.HeaderValue("Transfer-Encoding"), "chunked");
  EXPECT_EQ(Get(*c, "/").body, "stable");  // the connection is still usable
}

TEST_F(RouterTest, UpgradeIsTunnelledBothWays) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 100, canary, 0));
  auto fd = ConnectTcp("127.0.0.1", port, 2s);
  ASSERT_TRUE(fd);
  std::string req =
      "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping";
  ASSERT_EQ(::send(fd->get(), req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[1024];
  while (got.find("ping") == std::string::npos) {
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 101", 0), 0u);
  ASSERT_EQ(::send(fd->get(), "pong", 4, 0), 4);
  got.clear();
  while (got.size() < 4) {
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "pong");
}

// A Service with nothing behind it says why in its 503s; the reason crosses
// the control protocol with the table.
TEST_F(RouterTest, AServiceWithNoBackendAnswers503WithItsReason) {
  RouteTable t;
  t.unavailable = "selects no pods (selector app=web)";
  auto decoded = TableFromJson(TableToJson(t));
  ASSERT_TRUE(decoded) << decoded.error().message;
  uint16_t port = Add(std::move(*decoded));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  auto r = Get(*c, "/");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "service web: no ready endpoint: selects no pods (selector app=web)\n");
  RouteTable two_lines;
  two_lines.unavailable = "a\nb";
  EXPECT_FALSE(two_lines.Validate());
}

TEST_F(RouterTest, FailuresAreAnsweredClearly) {
  Backend stable("stable");
  uint16_t dead_port = 0;
  {
    auto l = ListenTcp("127.0.0.1", 0);
    ASSERT_TRUE(l);
    dead_port = l->port;
  }
  RouteTable t;
  t.backends.push_back({"v1", 100, {}});  // nothing ready
  uint16_t port = Add(std::move(t));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  auto r = Get(*c, "/");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "service web: no ready endpoint\n");

  RouteTable dead;
  dead.backends.push_back({"v1", 100, {dead_port}});
  ASSERT_TRUE(router_.SetRoutes("web", dead));
  r = Get(*c, "/");  // the same keep-alive connection survives the 503
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("connect to revision v1 at 127.0.0.1:"), std::string::npos) << r.body;

  auto snap = router_.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].no_backend, 1u);
  ASSERT_EQ(snap[0].revisions.size(), 1u);
  EXPECT_EQ(snap[0].revisions[0].upstream_errors, 1u);
  EXPECT_EQ(snap[0].revisions[0].by_class[5], 1u);
}

// An upstream that reads each request and closes without answering.
class Mute {
 public:
  Mute() {
    auto l = ListenTcp("127.0.0.1", 0);
    EXPECT_TRUE(l);
    port_ = l->port;
    listen_ = std::move(l->fd);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{listen_.get(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        Fd conn(::accept(listen_.get(), nullptr, nullptr));
        char buf[4096];
        (void)!::recv(conn.get(), buf, sizeof buf, 0);
      }
    });
  }
  ~Mute() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  Fd listen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A 502 keeps the client's connection, and a request the client had
// already sent behind the failed one is answered at once (it used to wait
// for the client's next bytes).
TEST_F(RouterTest, ARequestPipelinedBehindAFailedOneIsAnswered) {
  Mute mute;
  RouteTable t;
  t.backends.push_back({"v1", 100, {mute.port()}});
  uint16_t port = Add(std::move(t));
  auto fd = ConnectTcp("127.0.0.1", port, 2s);
  ASSERT_TRUE(fd);
  std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd->get(), two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
  std::string got;
  char buf[4096];
  auto answers = [&] {
    size_t n = 0;
    for (size_t at = got.find("HTTP/1.1 502"); at != std::string::npos;
         at = got.find("HTTP/1.1 502", at + 1)) {
      ++n;
    }
    return n;
  };
  while (answers() < 2) {
    pollfd p{fd->get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 3000), 1) << "answers so far: " << got;
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_NE(got.find("revision v1 closed the connection without answering"), std::string::npos);
}

TEST(RouterTimeoutTest, SilentUpstreamGets504) {
  RouterOptions opt;
  opt.response_timeout = 300ms;
  Router router(opt);
  ASSERT_TRUE(router.Start());
  Backend stable("stable");
  RouteTable t;
  t.backends.push_back({"v1", 100, {stable.port()}});
  auto port = router.AddService("web", "127.0.0.1", 0, t);
  ASSERT_TRUE(port);
  http::Request req;
  req.target = "/hang";
  auto r = http::Fetch("127.0.0.1", *port, req, 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(r->body, "revision v1 did not answer in time\n");
}

TEST_F(RouterTest, BadRequestsAreRefused) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 100, canary, 0));
  http::Request big;
  big.headers = {{"X-Big", std::string(70'000, 'a')}};
  auto r = http::Fetch("127.0.0.1", port, big, 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 431);
  http::Request smuggle;
  smuggle.method = "POST";
  smuggle.headers = {{"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}};
  r = http::Fetch("127.0.0.1", port, smuggle, 5s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 400);
  // A header value with a bare LF (a second header to a lenient backend),
  // a bare CR or a NUL is refused, never forwarded.
  for (const char* value : {"a\nTransfer-Encoding: chunked", "a\rX: 1", "a\x01b"}) {
    http::Request injected;
    injected.headers = {{"X-Note", value}};
    r = http::Fetch("127.0.0.1", port, injected, 5s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 400) << value;
  }
  EXPECT_EQ(stable.requests(), 0);
}

TEST_F(RouterTest, ServicesAndPortsAreChecked) {
  Backend stable("stable"), canary("canary");
  uint16_t port = Add(Split(stable, 100, canary, 0));
  auto dup = router_.AddService("web", "127.0.0.1", 0, Split(stable, 100, canary, 0));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "service web exists");
  auto taken = router_.AddService("other", "127.0.0.1", port, Split(stable, 100, canary, 0));
  ASSERT_FALSE(taken);
  EXPECT_NE(taken.error().message.find(fmt::format("127.0.0.1:{}: Address already in use", port)),
            std::string::npos)
      << taken.error().message;
  RouteTable bad = Split(stable, 100, canary, 0);
  bad.header_routes.push_back(
      {"x", {{"X", *StringMatch::Make(StringMatch::Kind::kExact, "1")}}, 7});
  auto st = router_.SetRoutes("web", bad);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "service web: headerRoutes[0]: backend 7 out of range");
  ASSERT_TRUE(router_.RemoveService("web"));
  EXPECT_FALSE(http::Fetch("127.0.0.1", port, {}, 1s));  // no longer listening
}

TEST_F(RouterTest, MetricsAreExposedForPrometheus) {
  Backend stable("stable"), canary("canary", 500);
  uint16_t port = Add(Split(stable, 50, canary, 50));
  auto c = http::Connection::Open("127.0.0.1", port, 2s);
  ASSERT_TRUE(c);
  for (int i = 0; i < 10; ++i) Get(*c, "/");
  std::string text = router_.PrometheusText();
  EXPECT_NE(text.find("strake_router_requests_total{service=\"web\",revision=\"stable-v1\","
                      "code=\"2xx\"} 5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("strake_router_requests_total{service=\"web\",revision=\"canary-v2\","
                      "code=\"5xx\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("strake_router_request_duration_seconds_count{service=\"web\","
                      "revision=\"canary-v2\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("le=\"+Inf\""), std::string::npos);
}

TEST(RouterLimitTest, ConnectionsOverTheLimitAreClosed) {
  RouterOptions opt;
  opt.max_connections = 2;
  Router router(opt);
  ASSERT_TRUE(router.Start());
  Backend stable("stable");
  RouteTable t;
  t.backends.push_back({"v1", 100, {stable.port()}});
  auto port = router.AddService("web", "127.0.0.1", 0, t);
  ASSERT_TRUE(port);
  auto a = http::Connection::Open("127.0.0.1", *port, 2s);
  auto b = http::Connection::Open("127.0.0.1", *port, 2s);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->RoundTrip({}, 2s));
  EXPECT_TRUE(b->RoundTrip({}, 2s));
  auto third = http::Fetch("127.0.0.1", *port, {}, 2s);
  EXPECT_FALSE(third);
}

}  // namespace
}  // namespace strake::router
