// The router in its own process: the control protocol, the wire format of
// tables, adoption by a new control plane, and a router process that
// restarts under a live client.
#include "app/router_process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "base/fs.h"
#include "base/net.h"
#include "router/remote.h"
#include "router/wire.h"
#include "server/http_server.h"

namespace strake::app {
namespace {

using namespace std::chrono_literals;

router::StringMatch Match(router::StringMatch::Kind kind, const std::string& v) {
  auto m = router::StringMatch::Make(kind, v);
  EXPECT_TRUE(m);
  return *m;
}

TEST(RouteWireTest, TablesRoundTripAndBadOnesNameTheField) {
  router::RouteTable t;
  t.backends = {{"abc", 80, {1001, 1002}}, {"def", 20, {1003}}};
  t.header_routes.push_back(
      {"beta", {{"X-Beta", Match(router::StringMatch::Kind::kRegex, "y.s")}}, 1});
  router::MirrorRoute m;
  m.name = "copy";
  m.method = Match(router::StringMatch::Kind::kExact, "GET");
  m.path = Match(router::StringMatch::Kind::kPrefix, "/api");
  m.percentage = 30;
  m.backend = 1;
  t.mirror_routes.push_back(m);
  auto back = router::TableFromJson(router::TableToJson(t));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->backends.size(), 2u);
  EXPECT_EQ(back->backends[0].ports, (std::vector<uint16_t>{1001, 1002}));
  EXPECT_EQ(back->backends[1].weight, 20u);
  ASSERT_EQ(back->header_routes.size(), 1u);
  EXPECT_TRUE(back->header_routes[0].headers[0].second.Matches("yes"));
  EXPECT_FALSE(back->header_routes[0].headers[0].second.Matches("no"));
  ASSERT_EQ(back->mirror_routes.size(), 1u);
  EXPECT_TRUE(back->mirror_routes[0].path->Matches("/api/x"));
  EXPECT_EQ(back->mirror_routes[0].percentage, 30u);
  EXPECT_EQ(router::TableToJson(*back), router::TableToJson(t));

  auto bad = [](const char* text) {
    auto r = router::TableFromJson(nlohmann::json::parse(text));
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(bad(R"({"backends":[{"revision":"a","weight":1,"ports":[70000]}]})"),
            "table.backends[0].ports: 70000 is not a port");
  EXPECT_EQ(bad(R"({"backends":[{"revision":"a","ports":[]}]})"),
            "table.backends[0].weight: missing");
  EXPECT_EQ(bad(R"({"backends":[],"headerRoutes":[{"name":"h","backend":0,)"
                R"("headers":[{"name":"X","match":{"glob":"*"}}]}]})"),
            "table.headerRoutes[0].headers[0].match: unknown match glob");
  EXPECT_EQ(bad(R"({"backends":[],"headerRoutes":[{"name":"h","backend":0,)"
                R"("headers":[{"name":"X","match":{"regex":"("}}]}]})")
                .find("table.headerRoutes[0].headers[0].match: bad regex"),
            0u);
  EXPECT_EQ(bad(R"({"backends":[],"mirrorRoutes":[{"name":"m","backend":0,"headers":[],)"
                R"("percentage":101}]})"),
            "table.mirrorRoutes[0].percentage: over 100");
  EXPECT_EQ(bad(R"({"backends":[],"headerRoutes":[{"name":"h","backend":3,)"
                R"("headers":[{"name":"X","match":{"exact":"1"}}]}]})"),
            "table: headerRoutes[0]: backend 3 out of range");
}

class RouterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strake-router-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/router.sock";
    backend_ = std::make_unique<server::HttpServer>([](const server::Request&) {
      return server::Response{200, "text/plain", "ok", nullptr};
    });
    auto port = backend_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port);
    backend_port_ = *port;
    backend_->Start();
  }
  void TearDown() override {
    (void)RemoveAll(dir_);  // a router process still running exits on its own
    for (auto& t : processes_) t.join();
    backend_->Stop();
  }

  // A router process, run on a thread of this test.
  void StartProcess() {
    processes_.emplace_back([this] {
      auto st = RunRouterProcess({socket_, 1});
      EXPECT_TRUE(st) << st.error().message;
    });
    for (int i = 0; i < 200 && !ConnectUnix(socket_); ++i) std::this_thread::sleep_for(10ms);
  }

  router::RemoteRouter Client() { return router::RemoteRouter({socket_, {}, "", 2s, 2s}); }

  router::RouteTable ToBackend() const {
    router::RouteTable t;
    t.backends.push_back({"v1", 100, {backend_port_}});
    return t;
  }

  std::string dir_, socket_;
  std::unique_ptr<server::HttpServer> backend_;
  uint16_t backend_port_ = 0;
  std::vector<std::thread> processes_;
};

TEST_F(RouterProcessTest, ServesAndAnswersTheControlProtocol) {
  StartProcess();
  auto client = Client();
  ASSERT_TRUE(client.Start());
  EXPECT_EQ(client.pid(), ::getpid());
  auto port = client.AddService("default/web", "127.0.0.1", 0, ToBackend());
  ASSERT_TRUE(port) << port.error().message;
  auto r = http::Fetch("127.0.0.1", *port, {}, 2s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "ok");
  auto snap = client.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].service, "default/web");
  ASSERT_EQ(snap[0].revisions.size(), 1u);
  EXPECT_EQ(snap[0].revisions[0].by_class[2], 1u);
  EXPECT_NE(client.PrometheusText().find("revision=\"v1\",code=\"2xx\"} 1\n"), std::string::npos);

  auto dup = client.AddService("default/web", "127.0.0.1", 0, ToBackend());
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().message, "service default/web exists");
  auto missing = client.SetRoutes("default/other", ToBackend());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "service default/other not found");
  // A taken address keeps its code across the protocol; another loopback
  // address of 127.0.0.0/8 takes the same port.
  auto taken = client.AddService("default/other", "127.0.0.1", *port, ToBackend());
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error().Is(ErrorCode::kConflict)) << taken.error().message;
  auto beside = client.AddService("default/other", "127.1.0.1", *port, ToBackend());
  ASSERT_TRUE(beside) << beside.error().message;
  ASSERT_TRUE(client.RemoveService("default/other"));
  EXPECT_EQ(client.Services(),
            (std::map<std::string, router::Listening>{{"default/web", {"127.0.0.1", *port}}}));

  // A second control plane adopts the service as it is.
  auto second = Client();
  ASSERT_TRUE(second.Start());
  EXPECT_EQ(second.Services(),
            (std::map<std::string, router::Listening>{{"default/web", {"127.0.0.1", *port}}}));
  ASSERT_TRUE(second.RemoveService("default/web"));
  EXPECT_TRUE(client.Services().empty());
  EXPECT_FALSE(http::Fetch("127.0.0.1", *port, {}, 1s));
}

TEST_F(RouterProcessTest, AClientPutsItsServicesBackWhenTheProcessRestarts) {
  StartProcess();
  auto client = Client();
  ASSERT_TRUE(client.Start());
  auto port = client.AddService("default/web", "127.0.0.1", 0, ToBackend());
  ASSERT_TRUE(port);
  ASSERT_TRUE(client.Shutdown());
  processes_.back().join();
  processes_.pop_back();
  EXPECT_FALSE(http::Fetch("127.0.0.1", *port, {}, 1s));  // the ports closed with it
  // A client that shut its router down never starts or finds another.
  StartProcess();
  auto after = client.SetRoutes("default/web", ToBackend());
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message, "router process was shut down");
  EXPECT_TRUE(client.Snapshot().empty());
  ASSERT_TRUE(client.Services().empty());
  // One that lost its router to a crash puts its services back.
  auto again = Client();
  ASSERT_TRUE(again.Start());
  port = again.AddService("default/web", "127.0.0.1", 0, ToBackend());
  ASSERT_TRUE(port);
  ASSERT_TRUE(Client().Shutdown());  // another client stops this process: a "crash" for `again`
  processes_.back().join();
  processes_.pop_back();
  StartProcess();
  // The next call finds a new process and restores the service first.
  ASSERT_TRUE(again.SetRoutes("default/web", ToBackend()));
  EXPECT_EQ(again.Services(),
            (std::map<std::string, router::Listening>{{"default/web", {"127.0.0.1", *port}}}));
  auto r = http::Fetch("127.0.0.1", *port, {}, 2s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "ok");
}

TEST_F(RouterProcessTest, ExitsWhenItsSocketIsRemoved) {
  StartProcess();
  auto client = Client();
  ASSERT_TRUE(client.Start());
  auto port = client.AddService("default/web", "127.0.0.1", 0, ToBackend());
  ASSERT_TRUE(port);
  ASSERT_EQ(::unlink(socket_.c_str()), 0);
  processes_.back().join();  // within a tick of 200 ms
  processes_.pop_back();
  EXPECT_FALSE(http::Fetch("127.0.0.1", *port, {}, 1s));
  auto none = router::RemoteRouter({socket_, {}, "", 1s, 1s});
  auto st = none.Start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("router process: connect to " + socket_), std::string::npos)
      << st.error().message;
}

TEST(RouterSpawnTest, AProcessThatCannotStartIsAClearError) {
  char tmpl[] = "/tmp/strake-router-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  router::RemoteRouter r({dir + "/router.sock", {"/bin/false"}, dir + "/router.log", 2s, 2s});
  auto st = r.Start();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("router process exited with status 1 before listening; see " +
                                    dir + "/router.log"),
            std::string::npos)
      << st.error().message;
  (void)RemoveAll(dir);
}

}  // namespace
}  // namespace strake::app
