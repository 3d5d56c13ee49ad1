#include "delivery/rollback.h"

#include <gtest/gtest.h>

#include "base/clock.h"

namespace strake::delivery {
namespace {

const int64_t kNow = 1'800'000'000'000;  // 2027-01-15T08:00:00Z
constexpr int64_t kMinute = 60'000;

std::string At(int64_t ms) { return FormatRfc3339(FromUnixMillis(ms)); }

// A freightHistory entry: one Freight of Warehouse w, its newest
// verification in `phase` (none when empty), finished at `finished_ms`.
Json Collection(const std::string& freight, const std::string& phase, int64_t finished_ms = 0) {
  Json c = {{"id", "c-" + freight},
            {"items", {{"Warehouse/w", {{"name", freight}}}}},
            {"verificationHistory", Json::array()}};
  if (!phase.empty())
    c["verificationHistory"].push_back(
        {{"id", "v-" + freight}, {"phase", phase}, {"finishTime", At(finished_ms)}});
  return c;
}

Json History(std::initializer_list<Json> newest_first) {
  Json h = Json::array();
  for (const auto& c : newest_first) h.push_back(c);
  return {{"freightHistory", h}};
}

store::Resource Promotion(const std::string& name, const std::string& freight,
                          const std::string& phase, int64_t created_ms, bool rollback = false,
                          int64_t finished_ms = 0, const std::string& of = "") {
  store::Resource p;
  p.key = {"Promotion", "demo", name};
  p.created_ms = created_ms;
  p.object = {{"metadata", {{"name", name}}}, {"spec", {{"stage", "prod"}, {"freight", freight}}}};
  if (rollback) {
    p.object["metadata"]["annotations"] = {{kRollbackAnnotation, "true"},
                                           {kRollbackOfAnnotation, of}};
  }
  p.status = {{"phase", phase},
              {"freight", {{"name", freight}, {"origin", {{"kind", "Warehouse"}, {"name", "w"}}}}}};
  if (finished_ms) {
    p.status["startedAt"] = At(created_ms);
    p.status["finishedAt"] = At(finished_ms);
  }
  return p;
}

TEST(AutoRollback, TheStableFreightIsTheNewestVerifiedPerOrigin) {
  Json st = History({Collection("bad", "Failed", kNow), Collection("good", "Successful", kNow),
                     Collection("older", "Successful", kNow)});
  EXPECT_EQ(StableFreight(st), (std::map<std::string, std::string>{{"Warehouse/w", "good"}}));
  EXPECT_TRUE(StableFreight(History({Collection("new", "")})).empty());
  // Verified again (kargo verify) and that one running or aborted: the
  // success before still stands; a verdict after it replaces it.
  Json again = Collection("good", "Successful", kNow);
  again["verificationHistory"].insert(again["verificationHistory"].begin(),
                                      Json{{"id", "v2"}, {"phase", "Aborted"}});
  EXPECT_EQ(StableFreight(History({again, Collection("older", "Successful", kNow)})),
            (std::map<std::string, std::string>{{"Warehouse/w", "good"}}));
  again["verificationHistory"].insert(again["verificationHistory"].begin(),
                                      Json{{"id", "v3"}, {"phase", "Failed"}});
  EXPECT_EQ(StableFreight(History({again, Collection("older", "Successful", kNow)})),
            (std::map<std::string, std::string>{{"Warehouse/w", "older"}}));
}

TEST(AutoRollback, AFailedVerificationGoesBackToTheStableFreight) {
  model::AutoRollback policy;  // Kargo's defaults: [Failed], no promotion phases
  Json st =
      History({Collection("bad", "Failed", kNow - kMinute), Collection("good", "Successful")});
  auto plan = PlanRollback(policy, st, {}, kNow);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->freight, "good");
  EXPECT_EQ(plan->origin, "Warehouse/w");
  EXPECT_EQ(plan->reason,
            "verification of c-bad Failed: back to good, the last Freight verified here");
  // Error is not Failed unless asked for.
  Json errored =
      History({Collection("bad", "Error", kNow - kMinute), Collection("good", "Successful")});
  EXPECT_FALSE(PlanRollback(policy, errored, {}, kNow));
  policy.on_verification = {"Failed", "Error"};
  EXPECT_TRUE(PlanRollback(policy, errored, {}, kNow));
}

TEST(AutoRollback, OnlyWhenSettledRecentOnceAndWithSomewhereToGo) {
  model::AutoRollback policy;
  Json st =
      History({Collection("bad", "Failed", kNow - kMinute), Collection("good", "Successful")});
  store::Resource running = Promotion("p2", "newer", "Running", kNow);
  EXPECT_FALSE(PlanRollback(policy, st, {&running}, kNow)) << "not settled";
  EXPECT_FALSE(PlanRollback(policy, st, {}, kNow + 20 * kMinute)) << "older than 20 minutes";
  EXPECT_TRUE(PlanRollback(policy, st, {}, kNow + 19 * kMinute));
  store::Resource cause = Promotion("p1", "bad", "Succeeded", kNow - 5 * kMinute);
  // The rollback names the failure it answers: found whatever the clocks
  // said when each was made (here it seems older than its cause).
  store::Resource asked =
      Promotion("rb", "good", "Succeeded", kNow - 9 * kMinute, true, 0, "verification c-bad/v-bad");
  EXPECT_FALSE(PlanRollback(policy, st, {&cause, &asked}, kNow)) << "asked for once already";
  store::Resource other =
      Promotion("rb0", "good", "Succeeded", kNow, true, 0, "verification c-older/v-older");
  EXPECT_TRUE(PlanRollback(policy, st, {&other, &cause}, kNow)) << "a rollback of another failure";
  EXPECT_EQ(PlanRollback(policy, st, {}, kNow)->of, "verification c-bad/v-bad");
  Json same =
      History({Collection("good", "Failed", kNow - kMinute), Collection("good", "Successful")});
  EXPECT_FALSE(PlanRollback(policy, same, {}, kNow)) << "the stable Freight itself failed";
  Json never = History({Collection("bad", "Failed", kNow - kMinute)});
  EXPECT_FALSE(PlanRollback(policy, never, {}, kNow)) << "nothing verified here yet";
}

TEST(AutoRollback, AFailedPromotionWhenAskedButNeverARollbackOfARollback) {
  model::AutoRollback policy;
  Json st = History({Collection("good", "Successful", kNow - 10 * kMinute)});
  store::Resource failed =
      Promotion("p", "bad", "Failed", kNow - 2 * kMinute, false, kNow - kMinute);
  EXPECT_FALSE(PlanRollback(policy, st, {&failed}, kNow)) << "onPromotion is empty by default";
  policy.on_promotion = {"Failed", "Errored"};
  auto plan = PlanRollback(policy, st, {&failed}, kNow);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->freight, "good");
  EXPECT_EQ(plan->reason, "promotion p Failed: back to good, the last Freight verified here");
  // Failed before it started (an approval policy's rejection): it deployed
  // nothing, so there is nothing to roll back.
  store::Resource rejected = failed;
  rejected.status.erase("startedAt");
  EXPECT_FALSE(PlanRollback(policy, st, {&rejected}, kNow));
  store::Resource failed_rollback =
      Promotion("rb", "other", "Failed", kNow - kMinute, true, kNow - kMinute / 2);
  EXPECT_FALSE(PlanRollback(policy, st, {&failed, &failed_rollback}, kNow));
}

TEST(AutoRollback, AutoPromotionHoldsAfterARollbackUntilAPersonPromotes) {
  store::Resource rollback = Promotion("rb", "good", "Succeeded", kNow, true);
  store::Resource earlier = Promotion("p", "bad", "Succeeded", kNow - kMinute);
  EXPECT_EQ(HoldingRollback({&earlier, &rollback}), &rollback);
  store::Resource person = Promotion("q", "fix", "Succeeded", kNow + kMinute);
  EXPECT_EQ(HoldingRollback({&earlier, &rollback, &person}), nullptr);
  EXPECT_EQ(HoldingRollback({}), nullptr);
}

}  // namespace
}  // namespace strake::delivery
