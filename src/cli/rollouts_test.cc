#include "cli/rollouts.h"

#include <gtest/gtest.h>

namespace strake::cli {
namespace {

// `rollout status` says whether the weights are the router's (exact) or
// approximated by replica counts (a canary without trafficRouting).
TEST(RolloutText, SaysHowTheWeightsAreMade) {
  Json basic = Json::parse(R"({"metadata":{"name":"web"},
    "spec":{"replicas":5,"strategy":{"canary":{"steps":[{"setWeight":20}]}}},
    "status":{"phase":"Paused","canary":{"weight":20,"weightsApproximated":true}}})");
  std::string text = RolloutText(basic);
  EXPECT_NE(text.find("Weights:       stable 80  canary 20, approximated by replica counts "
                      "(no trafficRouting)\n"),
            std::string::npos)
      << text;
  Json routed = basic;
  routed["spec"]["strategy"]["canary"]["trafficRouting"] = Json::object();
  routed["status"]["canary"]["weightsApproximated"] = false;
  text = RolloutText(routed);
  EXPECT_NE(text.find("Weights:       stable 80  canary 20, exact (router)\n"), std::string::npos)
      << text;
  // A status from before the field: the spec decides.
  routed["status"]["canary"].erase("weightsApproximated");
  EXPECT_NE(RolloutText(routed).find("exact (router)"), std::string::npos);
}

// Right after `kubectl apply` the controller has not written a status yet:
// `rollout status --watch` reads it then (once a crash, reading the missing
// status.canary through a const operator[]).
TEST(RolloutText, ARolloutWithoutAStatusReadsAsPending) {
  Json fresh = Json::parse(R"({"metadata":{"name":"web"},
    "spec":{"replicas":2,"strategy":{"canary":{"steps":[{"setWeight":20}]}}}})");
  std::string text = RolloutText(fresh);
  EXPECT_NE(text.find("Status:          Pending\n"), std::string::npos) << text;
  EXPECT_NE(text.find("stable 100  canary 0"), std::string::npos) << text;
  fresh["status"] = Json::object({{"phase", "Progressing"}});
  EXPECT_NE(RolloutText(fresh).find("Progressing"), std::string::npos);
}

// Right after `rollout undo` the stored status still describes the previous
// update: the watch must not end on it.
TEST(RolloutSettled, WaitsForTheSpecToBeObserved) {
  Json ro = Json::parse(R"({"metadata":{"name":"web","generation":3},
    "status":{"phase":"Degraded","observedGeneration":2,"currentPodHash":"a","stableRS":"b"}})");
  EXPECT_EQ(RolloutSettled(ro), std::nullopt);
  ro["status"]["observedGeneration"] = 3;
  EXPECT_EQ(RolloutSettled(ro), 1);
  ro["status"]["phase"] = "Healthy";
  EXPECT_EQ(RolloutSettled(ro), std::nullopt);  // the canary is not stable yet
  ro["status"]["stableRS"] = "a";
  EXPECT_EQ(RolloutSettled(ro), 0);
  ro["metadata"]["generation"] = 4;
  EXPECT_EQ(RolloutSettled(ro), std::nullopt);
}

}  // namespace
}  // namespace strake::cli
