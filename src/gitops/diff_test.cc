#include "gitops/diff.h"

#include <gtest/gtest.h>

#include "gitops/health.h"
#include "model/merge.h"

namespace strake::gitops {
namespace {

Json J(const char* text) { return Json::parse(text); }

TEST(DiffTest, InSyncWhenAnApplyWouldChangeNothing) {
  Json desired = J(R"({"apiVersion":"v1","kind":"ConfigMap",
                       "metadata":{"name":"c","namespace":"default"},"data":{"a":"1"}})");
  EXPECT_FALSE(InSync(nullptr, desired, {}));
  // Live as an apply of `desired` left it, plus what others added.
  Json live = Predict(nullptr, desired);
  live["metadata"]["annotations"][model::kLastApplied] = desired.dump();
  live["metadata"]["uid"] = "u";
  live["metadata"]["resourceVersion"] = "7";
  live["metadata"]["labels"]["added-by"] = "someone";
  live["status"] = {{"x", 1}};
  EXPECT_TRUE(InSync(live, desired, {}));
  // Drift of a field git sets.
  Json drift = live;
  drift["data"]["a"] = "2";
  EXPECT_FALSE(InSync(drift, desired, {}));
  EXPECT_TRUE(InSync(drift, desired, {"/data/a"}));
  // Git no longer sets a field it used to.
  Json smaller = desired;
  smaller["data"].erase("a");
  EXPECT_FALSE(InSync(live, smaller, {}));
}

TEST(DiffTest, IgnoreDifferencesMatchGroupKindNameNamespace) {
  model::IgnoreDifference d;
  d.group = "apps";
  d.kind = "Deployment";
  d.json_pointers = {"/spec/replicas"};
  Json dep = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"}})");
  EXPECT_EQ(IgnoredPointers({d}, dep).size(), 1u);
  d.name = "other";
  EXPECT_TRUE(IgnoredPointers({d}, dep).empty());
  d.name = "";
  d.group = "";
  EXPECT_TRUE(IgnoredPointers({d}, dep).empty());
  // Pointers into lists, and ones that miss, are fine.
  Json obj = J(R"({"spec":{"ports":[{"port":1},{"port":2}]}})");
  EXPECT_EQ(Normalize(obj, {"/spec/ports/0", "/spec/none/x", "bad"}),
            J(R"({"spec":{"ports":[{"port":2}]}})"));
}

TEST(DiffTest, TrackingIdsAreArgoCds) {
  Json obj = J(R"({"apiVersion":"apps/v1","kind":"Deployment",
                   "metadata":{"name":"w","namespace":"prod"}})");
  EXPECT_EQ(TrackingId(AppInstance("strake", "guestbook"), obj),
            "strake_guestbook:apps/Deployment:prod/w");
  EXPECT_EQ(GroupOf("v1"), "");
}

TEST(HealthTest, PerKindAndWorstOfASet) {
  EXPECT_EQ(HealthOf("Rollout", J(R"({"phase":"Paused"})"), 1), Health::kSuspended);
  EXPECT_EQ(HealthOf("Rollout", J(R"({"phase":"Healthy","observedGeneration":1})"), 2),
            Health::kProgressing);
  EXPECT_EQ(HealthOf("Rollout", J(R"({"phase":"Degraded"})"), 1), Health::kDegraded);
  EXPECT_EQ(HealthOf("Deployment", J(R"({"phase":"Available","observedGeneration":3})"), 3),
            Health::kHealthy);
  EXPECT_EQ(HealthOf("Deployment", nullptr, 1), Health::kProgressing);
  EXPECT_EQ(HealthOf("ConfigMap", nullptr, 1), Health::kHealthy);
  EXPECT_EQ(HealthOf("PipelineRun", J(R"({"conditions":[{"status":"False"}]})"), 1),
            Health::kDegraded);
  EXPECT_EQ(HealthOf("Application", J(R"({"health":{"status":"Missing"}})"), 1), Health::kMissing);
  EXPECT_EQ(HealthOf("Experiment", J(R"({"phase":"Running"})"), 1), Health::kProgressing);
  EXPECT_EQ(HealthOf("Experiment", J(R"({"phase":"Successful"})"), 1), Health::kHealthy);
  EXPECT_EQ(HealthOf("Experiment", J(R"({"phase":"Error"})"), 1), Health::kDegraded);
  EXPECT_EQ(Worse(Health::kHealthy, Health::kSuspended), Health::kSuspended);
  EXPECT_EQ(Worse(Health::kDegraded, Health::kProgressing), Health::kDegraded);
}

TEST(KeepLiveValuesTest, IgnoredFieldsKeepTheirLiveValuesArraysIncluded) {
  Json desired = Json::parse(R"({"data":{"a":"git","b":"git"},
    "spec":{"containers":[{"name":"app","image":"git:1"}]}})");
  Json live = Json::parse(R"({"data":{"a":"live"},
    "spec":{"containers":[{"name":"app","image":"live:2"},{"name":"sidecar","image":"s"}]}})");
  Json kept = KeepLiveValues(desired, live,
                             {"/data/a", "/data/b", "/spec/containers/0/image",
                              "/spec/containers/1/image", "not a pointer"});
  EXPECT_EQ(kept["data"], Json::parse(R"({"a":"live"})")) << "b is not live: removed";
  EXPECT_EQ(kept["spec"]["containers"], Json::parse(R"([{"name":"app","image":"live:2"}])"))
      << "an index past git's array end adds nothing (no container without a name)";
}

}  // namespace
}  // namespace strake::gitops
