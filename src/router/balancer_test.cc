#include "router/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace strake::router {
namespace {

StringMatch Exact(std::string v) { return *StringMatch::Make(StringMatch::Kind::kExact, v); }

RouteTable Split(uint32_t stable, uint32_t canary) {
  RouteTable t;
  t.backends.push_back({"stable", stable, {8001, 8002}});
  t.backends.push_back({"canary", canary, {9001}});
  return t;
}

http::Head Get(std::string_view target = "/") {
  http::Head h;
  h.method = "GET";
  h.target = target;
  return h;
}

// Which backend each of n requests goes to, as a string ("0001...").
std::string Picks(Balancer& b, const RouteTable& t, int n, const http::Head& head = Get()) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    size_t p = b.PickBackend(t, head);
    out += p == Balancer::kNone ? '-' : static_cast<char>('0' + p);
  }
  return out;
}

TEST(BalancerTest, WeightsAreExactAndInterleaved) {
  Balancer b;
  RouteTable t = Split(90, 10);
  b.Reset(t.backends.size());
  std::string picks = Picks(b, t, 20);
  EXPECT_EQ(std::count(picks.begin(), picks.end(), '1'), 2) << picks;
  EXPECT_NE(picks.substr(0, 10).find('1'), std::string::npos) << picks;  // once in every ten
  t = Split(50, 50);
  b.Reset(t.backends.size());
  EXPECT_EQ(Picks(b, t, 6), "010101");
  t = Split(1, 2);
  b.Reset(t.backends.size());
  EXPECT_EQ(Picks(b, t, 6), "101101");
}

// The controller installs a table on every pass: the same backends and
// weights keep the round going (restarting it every two requests would send
// 50/25/25 as 50/50/0), a weight change starts it over.
TEST(BalancerTest, ReinstallingTheSameWeightsKeepsTheSharesExact) {
  Balancer b;
  RouteTable t = Split(50, 25);
  t.backends.push_back({"v3", 25, {7001}});
  b.Adopt(t);
  std::string picks;
  for (int i = 0; i < 8; ++i) {
    RouteTable again = t;
    again.backends[2].ports = {7001, 7002};  // an endpoint became ready: same shares
    b.Adopt(again);
    picks += Picks(b, again, 2);
  }
  EXPECT_EQ(std::count(picks.begin(), picks.end(), '0'), 8) << picks;
  EXPECT_EQ(std::count(picks.begin(), picks.end(), '1'), 4) << picks;
  EXPECT_EQ(std::count(picks.begin(), picks.end(), '2'), 4) << picks;
  t.backends[1].weight = 50;
  t.backends[2].weight = 0;
  b.Adopt(t);
  EXPECT_EQ(Picks(b, t, 4), "0101");
}

TEST(BalancerTest, BackendsWithoutWeightOrEndpointGetNothing) {
  Balancer b;
  RouteTable t = Split(0, 10);
  b.Reset(t.backends.size());
  EXPECT_EQ(Picks(b, t, 3), "111");
  t.backends[1].ports.clear();
  b.Reset(t.backends.size());
  EXPECT_EQ(Picks(b, t, 2), "--");
}

TEST(BalancerTest, TheFirstMatchingHeaderRouteWinsEvenWithoutEndpoints) {
  Balancer b;
  RouteTable t = Split(100, 0);
  t.backends[1].ports.clear();
  t.header_routes.push_back({"canary", {{"X-Canary", Exact("yes")}}, 1});
  t.header_routes.push_back({"stable", {{"X-Canary", Exact("yes")}}, 0});
  b.Reset(t.backends.size());
  http::Head h = Get();
  h.headers = {{"x-canary", "yes"}};
  EXPECT_EQ(b.PickBackend(t, h), 1u);  // the caller answers 503 for revision canary
  h.headers = {{"X-Canary", "no"}};
  EXPECT_EQ(b.PickBackend(t, h), 0u);
}

TEST(BalancerTest, EndpointsTakeTurnsAndAnOldTablesBackendTakesTheFirst) {
  Balancer b;
  RouteTable t = Split(100, 0);
  b.Reset(t.backends.size());
  EXPECT_EQ(b.NextPort(0, t.backends[0]), 8001);
  EXPECT_EQ(b.NextPort(0, t.backends[0]), 8002);
  EXPECT_EQ(b.NextPort(0, t.backends[0]), 8001);
  EXPECT_EQ(b.NextPort(1, t.backends[1]), 9001);
  b.Reset(1);
  EXPECT_EQ(b.NextPort(0, t.backends[0]), 8001);  // a new table starts over
  EXPECT_EQ(b.NextPort(5, t.backends[0]), 8001);
}

TEST(BalancerTest, MirrorsCopyAnExactShareOfTheRequestsTheyMatch) {
  Balancer b;
  RouteTable t = Split(100, 0);
  MirrorRoute m;
  m.method = Exact("GET");
  m.percentage = 50;
  m.backend = 1;
  t.mirror_routes.push_back(m);
  b.Reset(t.backends.size());
  http::Head post = Get();
  post.method = "POST";
  std::string copies;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(b.PickMirror(t, post, true), Balancer::kNone);  // not matched, not counted
    copies += b.PickMirror(t, Get(), true) == 1 ? 'c' : '.';
  }
  EXPECT_EQ(copies, ".c.c.c");
  // A request that may not be copied still counts against the share.
  EXPECT_EQ(b.PickMirror(t, Get(), true), Balancer::kNone);
  EXPECT_EQ(b.PickMirror(t, Get(), false), Balancer::kNone);
  EXPECT_EQ(b.PickMirror(t, Get(), true), Balancer::kNone);
  t.backends[1].ports.clear();
  EXPECT_EQ(b.PickMirror(t, Get(), true), Balancer::kNone);  // its share, but no endpoint
}

}  // namespace
}  // namespace strake::router
