#include "insight/sources.h"

#include <gtest/gtest.h>

#include "insight/dora_test_util.h"

namespace strake::insight {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the tests' helpers

TEST(DoraSources, AnApplicationsHistoryIsItsDeployments) {
  auto got = FromApplication(
      App("guestbook-prod", {Synced(0, "aaa", At(0, 1)), Synced(1, "bbb", At(0, 2))}));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  const auto& d = (*got)[1].record;
  EXPECT_EQ(d.id, "Application/shop/guestbook-prod#1");
  EXPECT_EQ(d.environment, "guestbook-prod");
  EXPECT_EQ(d.tier, "production");
  EXPECT_EQ(d.revision, "bbb");
  EXPECT_EQ(d.finished_ms, At(0, 2));
  EXPECT_EQ(d.heads,
            (std::vector<store::DeploymentRecord::Head>{{"https://git.example/app.git", "bbb"}}));
  EXPECT_FALSE((*got)[1].rollback);

  auto labelled = FromApplication(App("web", {Synced(0, "aaa", At(0, 1))},
                                      {{kEnvironmentLabel, "eu-1"}, {kTierLabel, "staging"}}));
  ASSERT_TRUE(labelled);
  EXPECT_EQ((*labelled)[0].record.environment, "eu-1");
  EXPECT_EQ((*labelled)[0].record.tier, "staging");
  auto staged = App("web-dev", {Synced(0, "aaa", At(0, 1))});
  staged.object = {{"metadata", {{"annotations", {{kAuthorizedStageAnnotation, "shop:dev"}}}}}};
  auto by_stage = FromApplication(staged);
  ASSERT_TRUE(by_stage);
  EXPECT_TRUE(by_stage->empty());  // its Stage's Promotions count instead
  auto bad = FromApplication(App("web", {Synced(0, "aaa", At(0, 1))}, {{kTierLabel, "prd"}}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("metadata.labels[strake.dev/tier]: \"prd\" is not a tier"),
            std::string::npos)
      << bad.error().message;
}

TEST(DoraSources, ASucceededPromotionIsADeploymentOfItsFreight) {
  auto stage = Obj("Stage", "prod", Json::object(), Json::object());
  auto got = FromPromotion(Promo("p1", "prod", "Succeeded", At(0, 3), "f1", "abc"), stage);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->record.id, "Promotion/shop/p1");
  EXPECT_EQ((*got)->record.tier, "production");
  EXPECT_EQ((*got)->record.revision, "f1");
  EXPECT_EQ((*got)->record.heads,
            (std::vector<store::DeploymentRecord::Head>{{"https://git.example/app.git", "abc"}}));
  auto failed = FromPromotion(Promo("p2", "prod", "Failed", At(0, 3), "f1", "abc"), stage);
  ASSERT_TRUE(failed);
  EXPECT_FALSE(*failed);
}

TEST(DoraSources, OnlyAFailedVerificationIsAFailure) {
  Json status = {
      {"freightHistory",
       {{{"id", "col2"},
         {"items", {{"Warehouse/w", {{"name", "f2"}}}}},
         {"verificationHistory",
          {{{"id", "v2"}, {"phase", "Failed"}, {"finishTime", Rfc(At(0, 5))}, {"message", "m"}}}}},
        {{"id", "col1"},
         {"items", {{"Warehouse/w", {{"name", "f1"}}}}},
         {"verificationHistory",
          {{{"id", "v1"}, {"phase", "Error"}, {"finishTime", Rfc(At(0, 2))}}}}}}}};
  auto failed = FailedVerifications(Obj("Stage", "prod", Json::object(), status));
  ASSERT_EQ(failed.size(), 1u);  // an Error measured nothing
  EXPECT_EQ(failed[0].id, "v2");
  EXPECT_EQ(failed[0].freight, std::vector<std::string>{"f2"});
  EXPECT_EQ(failed[0].finished_ms, At(0, 5));
}

TEST(DoraSources, AStandaloneRolloutsCompletedRevisionIsADeployment) {
  auto rollout = [](Json status, Json meta = Json::object()) {
    return Obj("Rollout", "web-prod", {{"metadata", std::move(meta)}}, std::move(status));
  };
  Json done = {{"phase", "Healthy"},
               {"stableRS", "7c256c4c87"},
               {"currentPodHash", "7c256c4c87"},
               {"abort", false},
               {"progressedAtMs", At(0, 3)}};
  auto got = FromRollout(rollout(done));
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->record.id, "Rollout/shop/web-prod@7c256c4c87");
  EXPECT_EQ((*got)->record.environment, "web-prod");
  EXPECT_EQ((*got)->record.tier, "production");
  EXPECT_EQ((*got)->record.finished_ms, At(0, 3));
  EXPECT_TRUE((*got)->record.changes.empty());
  Json canary = done;
  canary["currentPodHash"] = "d95faa8e89";  // still rolling out
  EXPECT_FALSE(*FromRollout(rollout(canary)));
  EXPECT_FALSE(AbortOf(rollout(canary)));
  const Json tracked = {
      {"annotations",
       {{kTrackingAnnotation, "argocd_shop-app:argoproj.io/Rollout:shop/web-prod"}}}};
  EXPECT_FALSE(*FromRollout(rollout(done, tracked)));  // its Application's syncs count
  Json aborted = canary;
  aborted["abort"] = true;
  aborted["abortedAtMs"] = At(0, 4);
  aborted["message"] = "metric success-rate failed";
  auto a = AbortOf(rollout(aborted, tracked));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->revision, "d95faa8e89");
  EXPECT_EQ(a->aborted_ms, At(0, 4));
  EXPECT_EQ(a->app_ns, "argocd");
  EXPECT_EQ(a->app, "shop-app");
  EXPECT_EQ(a->message, "metric success-rate failed");
  EXPECT_TRUE(AbortOf(rollout(aborted))->app.empty());
}

}  // namespace
}  // namespace strake::insight
