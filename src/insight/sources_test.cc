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

}  // namespace
}  // namespace strake::insight
