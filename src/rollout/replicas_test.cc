#include "rollout/replicas.h"

#include <gtest/gtest.h>

#include <string>

namespace strake::rollout {
namespace {

model::IntOrPercent Int(int n) { return {n, false}; }
model::IntOrPercent Pct(int n) { return {n, true}; }

TEST(FencepostsTest, ResolveAsKubernetesWithAtLeastOneWayToMove) {
  // The defaults, 25% each: surge rounds up, unavailable down.
  Fenceposts f = ResolveFenceposts(Pct(25), Pct(25), 10);
  EXPECT_EQ(f.max_surge, 3);
  EXPECT_EQ(f.max_unavailable, 2);
  f = ResolveFenceposts(Pct(25), Pct(25), 2);
  EXPECT_EQ(f.max_surge, 1);
  EXPECT_EQ(f.max_unavailable, 0);
  // Both zero after rounding: unavailable becomes 1.
  f = ResolveFenceposts(Pct(0), Pct(0), 10);
  EXPECT_EQ(f.max_surge, 0);
  EXPECT_EQ(f.max_unavailable, 1);
  // Never more unavailable than there are replicas.
  EXPECT_EQ(ResolveFenceposts(Int(0), Int(5), 3).max_unavailable, 3);
  EXPECT_EQ(ResolveFenceposts(Int(0), Int(5), 0).max_unavailable, 0);
}

// Argo's TestApproximateWeightedNewStableReplicaCounts
// (argoproj/argo-rollouts utils/replicaset/canary_test.go), every row.
TEST(ApproximateWeightedCountsTest, ArgoCases) {
  struct Case {
    int replicas, weight, max_surge, canary, stable;
  };
  const Case cases[] = {
      {0, 0, 0, 0, 0},     {0, 50, 0, 0, 0},  {0, 100, 0, 0, 0},   {0, 0, 1, 0, 0},
      {0, 50, 1, 0, 0},    {0, 100, 1, 0, 0}, {1, 0, 0, 0, 1},     {1, 1, 0, 0, 1},
      {1, 49, 0, 0, 1},    {1, 50, 0, 1, 0},  {1, 99, 0, 1, 0},    {1, 100, 0, 1, 0},
      {1, 0, 1, 0, 1},     {1, 1, 1, 1, 1},   {1, 49, 1, 1, 1},    {1, 50, 1, 1, 1},
      {1, 99, 1, 1, 1},    {1, 100, 1, 1, 0}, {2, 0, 0, 0, 2},     {2, 1, 0, 1, 1},
      {2, 50, 0, 1, 1},    {2, 99, 0, 1, 1},  {2, 100, 0, 2, 0},   {2, 0, 1, 0, 2},
      {2, 1, 1, 1, 2},     {2, 50, 1, 1, 1},  {2, 99, 1, 2, 1},    {2, 100, 1, 2, 0},
      {3, 10, 0, 1, 2},    {3, 25, 0, 1, 2},  {3, 33, 0, 1, 2},    {3, 34, 0, 1, 2},
      {3, 49, 0, 1, 2},    {3, 50, 0, 2, 1},  {3, 10, 1, 1, 3},    {3, 25, 1, 1, 3},
      {3, 33, 1, 1, 2},    {3, 34, 1, 1, 2},  {3, 49, 1, 2, 2},    {3, 50, 1, 2, 2},
      {10, 0, 1, 0, 10},   {10, 1, 0, 1, 9},  {10, 14, 0, 1, 9},   {10, 15, 0, 2, 8},
      {10, 16, 0, 2, 8},   {10, 99, 0, 9, 1}, {10, 100, 1, 10, 0}, {10, 0, 1, 0, 10},
      {10, 1, 1, 1, 10},   {10, 18, 1, 2, 9}, {10, 19, 1, 2, 9},   {10, 20, 1, 2, 8},
      {10, 23, 1, 2, 8},   {10, 24, 1, 3, 8}, {10, 25, 1, 3, 8},   {10, 99, 1, 10, 1},
      {10, 100, 1, 10, 0},
  };
  for (const Case& c : cases) {
    CanaryCounts got = ApproximateWeightedCounts(c.replicas, c.weight, c.max_surge);
    EXPECT_EQ(got, (CanaryCounts{c.canary, c.stable}))
        << "replicas " << c.replicas << " weight " << c.weight << " surge " << c.max_surge
        << ": got canary " << got.canary << " stable " << got.stable;
  }
}

// Argo's TestCalculateReplicaCountsForCanary (argoproj/argo-rollouts
// utils/replicaset/canary_test.go): the cases without trafficRouting, which
// CalculateReplicaCountsForBasicCanary decides, under Argo's names. A
// promoteFull case has weight 100, as GetCanaryReplicasOrWeight gives it.
TEST(BasicCanaryCountsTest, ArgoCases) {
  struct Case {
    std::string name;
    int replicas, weight;
    model::IntOrPercent surge, unavailable;
    RevisionCount stable, canary;
    int want_stable, want_canary;
    int older = 0;
  };
  const Case cases[] = {
      {"Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
       10,
       100,
       Int(3),
       Int(0),
       {7, 8},
       {6, 3},
       7,
       6},
      {"Use max surge int to scale up canary", 10, 20, Int(2), Int(0), {10, 10}, {0, 0}, 10, 2},
      {"Use max surge percentage to scale up canary",
       10,
       20,
       Pct(20),
       Int(0),
       {10, 10},
       {0, 0},
       10,
       2},
      {"Scale down extra stable replicas", 10, 20, Pct(20), Int(0), {10, 10}, {2, 2}, 8, 2},
      {"Do not go past max surge", 10, 30, Int(2), Int(0), {10, 10}, {0, 0}, 10, 2},
      {"Use max unavailable int to scale down stableRS",
       10,
       20,
       Int(0),
       Int(2),
       {10, 10},
       {0, 0},
       8,
       0},
      {"Use max surge percentage to scale down stableRS",
       10,
       20,
       Int(0),
       Pct(20),
       {10, 10},
       {0, 0},
       8,
       0},
      {"Do not go past max unavailable", 10, 30, Int(0), Int(2), {10, 10}, {0, 0}, 8, 0},
      {"Use Max Surge and Max Unavailable", 10, 50, Int(2), Int(1), {10, 10}, {0, 0}, 9, 2},
      {"Scale canaryRS to zero on setWeight of 0%", 10, 0, Int(1), Int(1), {10, 10}, {1, 1}, 10, 0},
      {"Scale stable to zero on setWeight of 100%",
       10,
       100,
       Int(1),
       Int(1),
       {1, 1},
       {10, 10},
       0,
       10},
      {"Do not scale newRS down to zero on non-zero weight",
       1,
       20,
       Int(1),
       Int(0),
       {1, 1},
       {0, 0},
       1,
       1},
      {"Do not scale canaryRS down to zero on non-100 weight",
       1,
       90,
       Int(1),
       Int(0),
       {1, 1},
       {0, 0},
       1,
       1},
      {"Scale up Stable before newRS", 10, 30, Int(1), Int(0), {1, 1}, {0, 0}, 7, 1, 3},
      {"Scale down newRS and stable", 10, 30, Int(0), Int(3), {8, 5}, {4, 4}, 7, 3},
      {"Scale down stable and canary available", 10, 100, Int(1), Int(0), {10, 2}, {10, 8}, 2, 9},
      {"Do not scale down newRS or stable when older RS count >= scaleDownCount",
       10,
       30,
       Int(0),
       Int(1),
       {8, 6},
       {4, 2},
       8,
       4,
       3},
      {"Do not round past maxSurge with uneven setWeight divisor",
       10,
       5,
       Int(0),
       Int(1),
       {10, 10},
       {0, 0},
       9,
       0},
      {"Do not round past maxSurge with uneven setWeight divisor (part 2)",
       10,
       5,
       Int(0),
       Int(1),
       {9, 9},
       {0, 0},
       9,
       1},
      {"Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 "
       "replicas",
       10,
       10,
       Pct(0),
       Pct(0),
       {10, 10},
       {0, 0},
       9,
       0},
      {"Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas",
       10,
       20,
       Pct(20),
       Int(0),
       {10, 10},
       {0, 0},
       10,
       2},
      {"honor maxSurge during scale up when stableRS unavailable",
       4,
       100,
       Int(1),
       Int(0),
       {4, 1},
       {0, 0},
       4,
       1},
      {"scale down to maxunavailable without exceeding maxSurge",
       3,
       99,
       Int(0),
       Int(2),
       {3, 3},
       {0, 0},
       1,
       0},
      {"scale down to maxunavailable without exceeding maxSurge (part 2)",
       3,
       99,
       Int(0),
       Int(2),
       {1, 1},
       {0, 0},
       1,
       2},
      {"honor maxUnavailable during scale down stableRS unavailable",
       4,
       100,
       Int(1),
       Int(0),
       {4, 1},
       {1, 1},
       3,
       1},
      {"honor maxUnavailable when aborting or reducing weight part 1",
       4,
       0,
       Int(1),
       Int(0),
       {0, 0},
       {4, 4},
       1,
       4},
      {"honor maxUnavailable when aborting or reducing weight part 2",
       4,
       0,
       Int(1),
       Int(0),
       {1, 0},
       {4, 4},
       1,
       4},
      {"honor maxUnavailable when aborting or reducing weight part 3",
       4,
       0,
       Int(1),
       Int(0),
       {1, 1},
       {4, 4},
       1,
       3},
      {"promote full does not consider weight", 4, 100, Int(4), Int(4), {4, 4}, {0, 0}, 0, 4},
      {"promote full still honors maxSurge/maxUnavailable",
       4,
       100,
       Int(3),
       Int(0),
       {4, 4},
       {0, 0},
       4,
       3},
  };
  for (const Case& c : cases) {
    BasicCanaryInput in;
    in.spec_replicas = c.replicas;
    in.weight = c.weight;
    in.max_surge = c.surge;
    in.max_unavailable = c.unavailable;
    in.stable = c.stable;
    in.canary = c.canary;
    in.older_replicas = c.older;
    CanaryCounts got = BasicCanaryCounts(in);
    EXPECT_EQ(got.stable, c.want_stable) << c.name;
    EXPECT_EQ(got.canary, c.want_canary) << c.name;
  }
}

// Argo's TestCalculateReplicaCountsForNewDeployment and
// TestCalculateReplicaCountsForCanaryStableRSdEdgeCases: with no stable
// apart from the canary, the canary is scaled to every replica.
TEST(BasicCanaryCountsTest, WithoutAStableTheCanaryTakesEveryReplica) {
  BasicCanaryInput in;
  in.spec_replicas = 10;
  in.weight = 10;
  in.max_surge = Int(0);
  in.max_unavailable = Int(1);
  in.has_stable = false;
  in.canary = {10, 0};
  EXPECT_EQ(BasicCanaryCounts(in), (CanaryCounts{10, 0}));
  in.canary = {9, 9};
  EXPECT_EQ(BasicCanaryCounts(in), (CanaryCounts{10, 0}));
}

// The example: 5 replicas at 20, 40, 60, 80% are 1+4, 2+3, 3+2, 4+1
// pods once settled, never 6 to 9.
TEST(BasicCanaryCountsTest, FiveReplicasSplitByWeight) {
  for (int step = 1; step <= 4; ++step) {
    BasicCanaryInput in;
    in.spec_replicas = 5;
    in.weight = 20 * step;
    in.canary = {step, step};
    in.stable = {5 - step, 5 - step};
    EXPECT_EQ(BasicCanaryCounts(in), (CanaryCounts{step, 5 - step})) << in.weight;
    EXPECT_TRUE(AtBasicCanaryCounts(in, 0)) << in.weight;
  }
}

// Ten replicas at 20% with the default 25% fenceposts: never more than 13
// running nor fewer than 8 available, round after round, until 2 + 8.
TEST(BasicCanaryCountsTest, TenReplicasAtTwentyStayWithinTheLimits) {
  BasicCanaryInput in;
  in.spec_replicas = 10;
  in.weight = 20;
  in.stable = {10, 10};
  for (int round = 0; round < 5 && !AtBasicCanaryCounts(in, 0); ++round) {
    CanaryCounts c = BasicCanaryCounts(in);
    EXPECT_LE(c.canary + c.stable, 13);
    EXPECT_GE(std::min(c.stable, in.stable.available) + std::min(c.canary, in.canary.available), 8);
    in.canary = {c.canary, c.canary};  // ready at once
    in.stable = {c.stable, c.stable};
  }
  EXPECT_TRUE(AtBasicCanaryCounts(in, 0));
  EXPECT_EQ(in.canary.replicas, 2);
  EXPECT_EQ(in.stable.replicas, 8);
}

// Argo's scaleDownOldReplicaSetsForCanary without trafficRouting: an
// older revision's unavailable replicas go at once, available ones only
// while spec - maxUnavailable stay available.
TEST(OlderToKeepTest, ScalesDownOnlyWhatAvailabilityAllows) {
  Fenceposts f = ResolveFenceposts(Pct(25), Pct(25), 5);  // surge 2, unavailable 1
  EXPECT_EQ(OlderToKeep(5, f, 5, {4, 4}), 3);             // 1 stable + 4 available: one may go
  EXPECT_EQ(OlderToKeep(5, f, 3, {4, 2}), 2);             // the 2 unavailable go, the rest stay
  EXPECT_EQ(OlderToKeep(5, f, 9, {4, 4}), 0);             // the stable is back: all go
  EXPECT_EQ(OlderToKeep(5, f, 4, {0, 0}), 0);
}

TEST(BasicCanaryCountsTest, NotDoneWhileACanaryIsUnavailableOrAnOlderRevisionServes) {
  BasicCanaryInput in;
  in.spec_replicas = 5;
  in.weight = 20;
  in.canary = {1, 0};
  in.stable = {4, 4};
  EXPECT_FALSE(AtBasicCanaryCounts(in, 0));
  in.canary = {1, 1};
  EXPECT_TRUE(AtBasicCanaryCounts(in, 0));
  EXPECT_FALSE(AtBasicCanaryCounts(in, 1));
}

}  // namespace
}  // namespace strake::rollout
