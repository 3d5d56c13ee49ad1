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

}  // namespace
}  // namespace strake::cli
