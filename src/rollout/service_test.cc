#include "rollout/service.h"

#include <gtest/gtest.h>

namespace strake::rollout {
namespace {

// Services on distinct ports share 127.0.0.1, where they were always served;
// a second Service on a port gets the next address of its own.
TEST(ClusterIpTest, AServiceOnATakenPortGetsTheNextFreeAddress) {
  std::vector<AddressInUse> others;
  auto first = AllocateClusterIp("", "", {80}, others);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "127.0.0.1");
  others.push_back({"default/a", *first, {80}});
  EXPECT_EQ(AllocateClusterIp("", "", {8080}, others).value(), "127.0.0.1");
  auto second = AllocateClusterIp("", "", {80}, others);
  EXPECT_EQ(second.value(), "127.1.0.1");
  others.push_back({"default/b", *second, {80}});
  EXPECT_EQ(AllocateClusterIp("", "", {443, 80}, others).value(), "127.1.0.2");
}

// The address a Service has is kept (a restart, a re-apply), whatever came
// free below it since.
TEST(ClusterIpTest, TheAddressAServiceHasIsKept) {
  std::vector<AddressInUse> others{{"default/b", "127.1.0.1", {80}}};
  EXPECT_EQ(AllocateClusterIp("", "127.1.0.7", {80}, others).value(), "127.1.0.7");
  // ... unless a port it was given since is another's there.
  EXPECT_EQ(AllocateClusterIp("", "127.1.0.1", {80}, others).value(), "127.0.0.1");
}

// A deleted Service's address is free again for its ports.
TEST(ClusterIpTest, ADeletedServicesAddressIsReused) {
  std::vector<AddressInUse> others{{"default/a", "127.0.0.1", {80}},
                                   {"default/b", "127.1.0.1", {80}},
                                   {"default/c", "127.1.0.2", {80}}};
  others.erase(others.begin() + 1);  // b deleted
  EXPECT_EQ(AllocateClusterIp("", "", {80}, others).value(), "127.1.0.1");
}

TEST(ClusterIpTest, NoAddressEndsInZeroOr255) {
  std::vector<AddressInUse> others{{"x/0", "127.0.0.1", {80}}};
  for (int i = 1; i <= 254; ++i)
    others.push_back({"x/" + std::to_string(i), "127.1.0." + std::to_string(i), {80}});
  EXPECT_EQ(AllocateClusterIp("", "", {80}, others).value(), "127.1.1.1");
}

// spec.clusterIP is honoured; a port of it that is another's there is an
// error naming the other.
TEST(ClusterIpTest, ARequestedAddressIsHonouredOrRefusedNamingTheHolder) {
  std::vector<AddressInUse> others{{"default/a", "127.0.0.1", {80}}};
  EXPECT_EQ(AllocateClusterIp("127.9.9.9", "", {80}, others).value(), "127.9.9.9");
  auto taken = AllocateClusterIp("127.0.0.1", "", {80}, others);
  ASSERT_FALSE(taken);
  EXPECT_TRUE(taken.error().Is(ErrorCode::kConflict));
  EXPECT_EQ(taken.error().message,
            "spec.clusterIP 127.0.0.1: a port of this Service is service default/a's there; "
            "choose another address of 127.0.0.0/8 or leave clusterIP out");
}

model::Service Web(std::map<std::string, std::string> selector = {{"app", "web"}}) {
  model::Service s;
  s.meta.name = "web";
  s.selector = std::move(selector);
  s.ports.push_back({"", 80, "80"});
  return s;
}

ServiceFacts Listening(std::vector<std::string> workloads, int ready) {
  ServiceFacts f;
  f.address = "127.1.0.1";
  f.workloads = std::move(workloads);
  f.serving.listening = true;
  f.serving.address = "127.1.0.1";
  f.serving.port = 80;
  f.serving.backed = !f.workloads.empty();
  f.serving.claim = f.workloads.empty() ? 0 : 3;
  f.serving.ready_endpoints = ready;
  return f;
}

TEST(JudgeServiceTest, EachWayOfNotServingHasItsReason) {
  auto c = JudgeService(Web(), Listening({"rollout web"}, 2));
  EXPECT_TRUE(c.ready);
  EXPECT_EQ(c.message, "127.1.0.1:80 to 2 ready replicas of rollout web");

  c = JudgeService(Web(), Listening({"rollout web"}, 0));
  EXPECT_FALSE(c.ready);
  EXPECT_EQ(c.reason, "NoReadyReplica");
  EXPECT_EQ(c.message,
            "no ready replica of rollout web: requests to 127.1.0.1:80 are answered 503");

  c = JudgeService(Web(), Listening({}, 0));
  EXPECT_EQ(c.reason, "SelectsNothing");
  EXPECT_EQ(c.message,
            "its selector app=web matches no Rollout or Deployment: requests to 127.1.0.1:80 are "
            "answered 503");

  ServiceFacts taken = Listening({"rollout web"}, 0);
  taken.serving.listening = false;
  taken.serving.error =
      Error{"listen on 127.1.0.1:80: Address already in use", ErrorCode::kConflict};
  c = JudgeService(Web(), taken);
  EXPECT_EQ(c.reason, "PortTaken");
  EXPECT_EQ(c.message,
            "port 80 on 127.1.0.1 is taken by another process: stop it, or give the Service "
            "another port or address (spec.clusterIP, any of 127.0.0.0/8)");

  taken.serving.error = Error{"listen on 127.1.0.1:80: Permission denied", ErrorCode::kForbidden};
  c = JudgeService(Web(), taken);
  EXPECT_EQ(c.reason, "PortPrivileged");
  EXPECT_NE(c.message.find("setcap cap_net_bind_service=+ep"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("net.ipv4.ip_unprivileged_port_start=80"), std::string::npos);

  ServiceFacts conflict;
  conflict.address_error = "spec.clusterIP 127.0.0.1: taken";
  EXPECT_EQ(JudgeService(Web(), conflict).reason, "AddressConflict");

  // Selected, but its workload has not routed it yet (or routed it at its
  // former address).
  ServiceFacts pending = Listening({"rollout web"}, 1);
  pending.serving.claim = 0;
  EXPECT_EQ(JudgeService(Web(), pending).reason, "Pending");
  pending = Listening({"rollout web"}, 1);
  pending.address = "127.1.0.2";
  EXPECT_EQ(JudgeService(Web(), pending).reason, "Pending");
}

}  // namespace
}  // namespace strake::rollout
