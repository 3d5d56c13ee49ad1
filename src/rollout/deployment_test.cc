#include "rollout/deployment.h"

#include <gtest/gtest.h>

namespace strake::rollout {
namespace {

model::Deployment Dep(int replicas, model::IntOrPercent surge = {25, true},
                      model::IntOrPercent unavailable = {25, true}) {
  model::Deployment d;
  d.replicas = replicas;
  d.max_surge = surge;
  d.max_unavailable = unavailable;
  return d;
}

TEST(DeploymentTest, FirstRevisionStartsInFull) {
  auto plan = StepDeployment(Dep(4), "v1", {});
  EXPECT_EQ(plan.replicas.at("v1"), 4);
  EXPECT_FALSE(plan.complete);
  plan = StepDeployment(Dep(4), "v1", {{"v1", {4, 4, "", {}}}});
  EXPECT_TRUE(plan.complete);
  // Why the new replicas are not ready is in the message.
  plan = StepDeployment(Dep(4), "v1", {{"v1", {0, 0, "ErrImagePull: web:1: 401", {}}}});
  EXPECT_EQ(plan.message,
            "0 of 4 new replicas ready, 0 old replicas left (ErrImagePull: web:1: 401)");
}

TEST(DeploymentTest, RollingUpdateKeepsWithinSurgeAndUnavailable) {
  // 4 replicas, maxSurge 25% (1), maxUnavailable 25% (1).
  auto d = Dep(4);
  auto plan = StepDeployment(d, "v2", {{"v1", {4, 4, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v2"), 1);  // 4 + 1 surge - 4 old
  EXPECT_EQ(plan.replicas.at("v1"), 3);  // one may be unavailable
  // The new one is not ready yet: nothing more may go.
  plan = StepDeployment(d, "v2", {{"v1", {3, 3, "", {}}}, {"v2", {1, 0, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v2"), 2);
  EXPECT_EQ(plan.replicas.at("v1"), 3);
  // Both new ready: two old can go, keeping 3 ready.
  plan = StepDeployment(d, "v2", {{"v1", {3, 3, "", {}}}, {"v2", {2, 2, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v1"), 1);
  plan = StepDeployment(d, "v2", {{"v1", {1, 1, "", {}}}, {"v2", {4, 4, "", {}}}});
  EXPECT_EQ(plan.replicas.count("v1"), 0u);
  plan = StepDeployment(d, "v2", {{"v2", {4, 4, "", {}}}});
  EXPECT_TRUE(plan.complete);
}

TEST(DeploymentTest, ZeroUnavailableNeedsSurge) {
  auto d = Dep(2, {1, false}, {0, false});
  auto plan = StepDeployment(d, "v2", {{"v1", {2, 2, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v2"), 1);
  EXPECT_EQ(plan.replicas.at("v1"), 2);  // nothing goes before a new one is ready
  // Both zero would never move: Kubernetes refuses it; here one may be unavailable.
  auto stuck = StepDeployment(Dep(2, {0, false}, {0, false}), "v2", {{"v1", {2, 2, "", {}}}});
  EXPECT_EQ(stuck.replicas.at("v1"), 1);
}

TEST(DeploymentTest, UnreadyOldReplicasGoFirst) {
  auto plan = StepDeployment(Dep(4), "v2", {{"v1", {4, 2, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v1"), 2);  // the two unready ones
}

TEST(DeploymentTest, RecreateStopsTheOldFirst) {
  auto d = Dep(2);
  d.recreate = true;
  auto plan = StepDeployment(d, "v2", {{"v1", {2, 2, "", {}}}});
  EXPECT_EQ(plan.replicas.at("v2"), 0);
  EXPECT_EQ(plan.replicas.count("v1"), 0u);
  plan = StepDeployment(d, "v2", {});
  EXPECT_EQ(plan.replicas.at("v2"), 2);
}

}  // namespace
}  // namespace strake::rollout
