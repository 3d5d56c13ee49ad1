#include "delivery/stage.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <utility>

#include "delivery/promotion.h"
#include "model/decode.h"
#include "store/temp_store.h"

namespace strake::delivery {
namespace {

constexpr int64_t kHour = 3'600'000;
const int64_t kNow = 1'800'000'000'000;

model::Stage StageOf(const std::string& spec) {
  Json j = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
            {"kind", "Stage"},
            {"metadata", {{"name", "prod"}, {"namespace", "demo"}}},
            {"spec", Json::parse(spec)}};
  auto d = model::DecodeObject(j, "test");
  EXPECT_TRUE(d) << d.error().message;
  return std::get<model::Stage>(d->value);
}

std::string At(int64_t ms) { return FormatRfc3339(FromUnixMillis(ms)); }

const model::FreightOrigin kOrigin{"Warehouse", "w"};

TEST(FreightAvailability, DirectFromTheWarehouseOrApprovedIsAvailable) {
  auto direct = StageOf(R"({"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
      "sources": {"direct": true}}]})");
  EXPECT_TRUE(IsFreightAvailable(direct, kOrigin, Json::object(), kNow));
  EXPECT_FALSE(IsFreightAvailable(direct, {"Warehouse", "other"}, Json::object(), kNow));
  auto upstream = StageOf(R"({"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
      "sources": {"stages": ["qa"]}}]})");
  EXPECT_FALSE(IsFreightAvailable(upstream, kOrigin, Json::object(), kNow));
  Json approved = {{"approvedFor", {{"prod", {{"approvedAt", At(kNow)}}}}}};
  EXPECT_TRUE(IsFreightAvailable(upstream, kOrigin, approved, kNow));
}

TEST(FreightAvailability, UpstreamFreightMustBeVerifiedAndSoakedThere) {
  auto stage = StageOf(R"({"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
      "sources": {"stages": ["qa", "uat"], "requiredSoakTime": "1h"}}]})");
  Json st = FreightArrived(Json::object(), "qa", At(kNow - kHour / 2), true);
  EXPECT_FALSE(IsFreightAvailable(stage, kOrigin, st, kNow));  // 30 minutes in qa
  EXPECT_EQ(LongestSoakMs(st, "qa", kNow), kHour / 2);
  EXPECT_TRUE(IsFreightAvailable(stage, kOrigin, st, kNow + kHour / 2));
  // Left qa after 40 minutes: that soak is kept and is not enough.
  Json left =
      FreightLeft(FreightArrived(Json::object(), "qa", At(kNow), true), "qa", kNow + 40 * 60'000);
  EXPECT_EQ(left["verifiedIn"]["qa"]["longestSoak"], "40m0s");
  EXPECT_FALSE(IsFreightAvailable(stage, kOrigin, left, kNow + 10 * kHour));
  // All: both upstream Stages must have it.
  auto all = StageOf(R"({"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
      "sources": {"stages": ["qa", "uat"], "availabilityStrategy": "All"}}]})");
  Json qa_only = FreightArrived(Json::object(), "qa", At(kNow), true);
  EXPECT_FALSE(IsFreightAvailable(all, kOrigin, qa_only, kNow));
  EXPECT_TRUE(
      IsFreightAvailable(all, kOrigin, FreightArrived(qa_only, "uat", At(kNow), true), kNow));
}

TEST(FreightHistory, NewestFirstTenKeptAndARepeatedFinishRecordsNothing) {
  Json st = Json::object();
  for (int i = 0; i < 12; ++i) {
    Json ref = {{"name", "f" + std::to_string(i)},
                {"origin", {{"kind", "Warehouse"}, {"name", "w"}}}};
    st = RecordFreight(st, ref, "p" + std::to_string(i), At(kNow), false);
    st["lastPromotion"] = {{"name", "p" + std::to_string(i)}};  // as Finish writes it
  }
  // Kargo's collection id: SHA-1 of the sorted names, joined by commas.
  EXPECT_EQ(st["freightHistory"][0]["id"], "8ba376ff1c58639b7542a33489f5e478d9b0842c");
  ASSERT_EQ(st["freightHistory"].size(), 10u);
  EXPECT_EQ(CurrentFreight(st), std::vector<std::string>{"f11"});
  EXPECT_EQ(FreightSummary(st, 1), "f11");
  EXPECT_EQ(FreightSummary(Json::object(), 1), "N/A");
  Json again =
      RecordFreight(st, {{"name", "f11"}, {"origin", {{"name", "w"}}}}, "p11", At(kNow), false);
  EXPECT_EQ(again, st);
  // A second origin joins the current collection.
  Json two = RecordFreight(st, {{"name", "g"}, {"origin", {{"kind", "Warehouse"}, {"name", "x"}}}},
                           "q", At(kNow), false);
  EXPECT_EQ(CurrentFreight(two).size(), 2u);
  EXPECT_EQ(FreightSummary(two, 2), "2/2 Fulfilled");
}

TEST(PromotionPolicies, SelectByNamePatternAndLabels) {
  model::StageSelector by_glob{"glob:dev-*", {}};
  EXPECT_TRUE(model::SelectsStage(by_glob, "dev-eu", {}));
  EXPECT_FALSE(model::SelectsStage(by_glob, "prod", {}));
  model::StageSelector by_regex{"regex:^(dev|qa)$", {}};
  EXPECT_TRUE(model::SelectsStage(by_regex, "qa", {}));
  EXPECT_FALSE(model::SelectsStage(by_regex, "qa2", {}));
  model::StageSelector exact{"prod", {{"tier", "production"}}};
  EXPECT_FALSE(model::SelectsStage(exact, "prod", {}));
  EXPECT_TRUE(model::SelectsStage(exact, "prod", {{"tier", "production"}}));
}

class AutoPromotionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = store::TempStore::Make("stage-test-");
    ASSERT_TRUE(made) << made.error().message;
    temp_ = std::move(*made);
    store_ = &temp_.store();
    reconciler_ = std::make_unique<StageReconciler>(
        *store_, clock_, [this](const Json& p) -> Result<std::string> {
          asked_.push_back(p["spec"]["freight"]);
          std::string name = "promo-" + std::to_string(asked_.size());
          Json body = {{"spec", p["spec"]}};
          if (p["metadata"].contains("annotations"))
            body["metadata"]["annotations"] = p["metadata"]["annotations"];
          Put("Promotion", name, body);
          return name;
        });
    Put("Stage", "dev", Json::parse(R"({"spec": {"requestedFreight": [{"origin": {"kind":
        "Warehouse", "name": "w"}, "sources": {"direct": true}}], "promotionTemplate": {"spec":
        {"steps": [{"uses": "compose-output"}]}}}})"));
  }
  void Put(const std::string& kind, const std::string& name, Json body,
           const Json& status = Json()) {
    store::Resource r;
    r.key = {kind, "demo", name};
    body["apiVersion"] = "kargo.akuity.io/v1alpha1";
    body["kind"] = kind;
    Json annotations =
        body.contains("metadata") ? body["metadata"].value("annotations", Json()) : Json();
    body["metadata"] = {{"name", name}, {"namespace", "demo"}};
    if (!annotations.is_null()) body["metadata"]["annotations"] = annotations;
    r.object = body;
    auto made = store_->Create(r, "Created", "");
    ASSERT_TRUE(made) << made.error().message;
    if (!status.is_null()) {
      ASSERT_TRUE(store_->UpdateStatus(r.key, status, made->resource_version, "", ""));
    }
  }
  void Freight(const std::string& name, int64_t discovered_ms) {
    Put("Freight", name,
        {{"origin", {{"kind", "Warehouse"}, {"name", "w"}}},
         {"discoveredAt", At(discovered_ms)},
         {"commits", {{{"repoURL", "https://x/y"}, {"id", name}}}}});
  }
  void Phase(const std::string& promo, const std::string& phase) {
    store::Resource p = **store_->Get({"Promotion", "demo", promo});
    ASSERT_TRUE(store_->UpdateStatus(p.key, {{"phase", phase}}, p.resource_version, "", ""));
  }
  void Reconcile() {
    auto r = reconciler_->Reconcile("demo/dev");
    ASSERT_TRUE(r) << r.error().message;
  }

  store::TempStore temp_;
  store::Store* store_ = nullptr;
  FakeClock clock_{FromUnixMillis(kNow)};
  std::vector<std::string> asked_;
  std::unique_ptr<StageReconciler> reconciler_;
};

// describe stage's report: the newest Freight of each origin the Stage
// requests (at most `limit` each, newest first), whether it is available,
// and what holds it.
TEST_F(AutoPromotionTest, TheGateReportListsTheNewestFreightOfEachOriginAndWhatHoldsIt) {
  Put("Stage", "multi", Json::parse(R"({"spec": {"requestedFreight": [
      {"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"stages": ["dev"]}},
      {"origin": {"kind": "Warehouse", "name": "w2"}, "sources": {"direct": true}}]}})"));
  auto freight = [&](const std::string& name, const std::string& warehouse) {
    Put("Freight", name,
        {{"origin", {{"kind", "Warehouse"}, {"name", warehouse}}},
         {"commits", {{{"repoURL", "https://x/y"}, {"id", name}}}}});
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // distinct creation times
  };
  freight("a1", "w");
  freight("a2", "w");
  freight("a3", "w");
  freight("c1", "w3");  // not requested
  freight("b1", "w2");
  auto stored = store_->Get({"Stage", "demo", "multi"});
  auto decoded = model::DecodeObject((**stored).object, "stage multi");
  ASSERT_TRUE(decoded) << decoded.error().message;
  auto report =
      GateReport(*store_, std::get<model::Stage>(decoded->value), Json::object(), kNow, nullptr, 2);
  ASSERT_TRUE(report) << report.error().message;
  std::vector<std::string> names;
  for (const auto& c : (*report)["candidates"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"b1", "a3", "a2"}));
  const Json& b1 = (*report)["candidates"][0];
  EXPECT_EQ(b1["available"], true);
  EXPECT_EQ(b1["gate"], Json());
  const Json& a3 = (*report)["candidates"][1];
  EXPECT_EQ(a3["available"], false);
  EXPECT_EQ(a3["why"], "not verified in one of dev");
  EXPECT_EQ((*report)["promotionWindowStatus"], Json());
  EXPECT_EQ((*report)["freight"], Json::array());
}

TEST_F(AutoPromotionTest, NothingIsAskedForUnlessTheProjectConfigEnablesIt) {
  Freight("a", kNow);
  Reconcile();
  EXPECT_TRUE(asked_.empty());
  EXPECT_EQ((*store_->Get({"Stage", "demo", "dev"}))->status["freightSummary"], "N/A");
  Put("ProjectConfig", "demo",
      Json::parse(R"({"spec": {"promotionPolicies": [{"stageSelector": {"name": "glob:d*"},
          "autoPromotionEnabled": true}]}})"));
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"a"});
}

TEST_F(AutoPromotionTest, TheNewestFreightOnceAndNeverAgainAfterItFailed) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {"promotionPolicies": [{"stage": "dev",
          "autoPromotionEnabled": true}]}})"));
  Freight("old", kNow - kHour);
  Freight("new", kNow);
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"new"});
  Reconcile();  // running: nothing more
  EXPECT_EQ(asked_.size(), 1u);
  Phase("promo-1", "Failed");
  Reconcile();  // failed: a person decides
  EXPECT_EQ(asked_.size(), 1u);
  Freight("newer", kNow + 1);
  Reconcile();
  EXPECT_EQ(asked_, (std::vector<std::string>{"new", "newer"}));
}

// Kargo's promotion windows: no auto-promotion while a Deny window selects
// the Stage; its status says why and when it opens (Kargo's
// promotionWindowStatus), the Stage wakes then and promotes.
TEST_F(AutoPromotionTest, AClosedWindowHoldsAutoPromotionUntilItOpens) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoPromotionEnabled": true}],
      "promotionWindows": [
        {"name": "freeze", "kind": "Deny", "stageSelector": {"name": "glob:d*"},
         "dtstart": "20270115T070000Z", "dtend": "20270115T100000Z"},
        {"name": "elsewhere", "kind": "Deny", "stageSelector": {"name": "prod"},
         "dtstart": "20270101T000000Z", "dtend": "20280101T000000Z"}]}})"));
  Freight("a", kNow);
  auto r = reconciler_->Reconcile("demo/dev");  // kNow is 2027-01-15T08:00Z
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(asked_.empty());
  EXPECT_EQ(r->requeue_after, std::chrono::hours(2));
  Json st = (*store_->Get({"Stage", "demo", "dev"}))->status;
  EXPECT_EQ(st["promotionWindowStatus"].dump(),
            R"({"closed":true,"reason":"window freeze closed until 2027-01-15T10:00:00Z",)"
            R"("nextOpen":"2027-01-15T10:00:00Z"})");
  clock_.Advance(std::chrono::hours(2));
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"a"});
  st = (*store_->Get({"Stage", "demo", "dev"}))->status;
  EXPECT_EQ(st["promotionWindowStatus"].dump(), R"({"closed":false})");
}

// A stopped line: auto-promotion takes only the Freight an exception names
// (the newest of them), and the Stage's status says the line is stopped.
TEST_F(AutoPromotionTest, AStoppedLinePromotesOnlyTheHotfixItsExceptionNames) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoPromotionEnabled": true}],
      "stopTheLine": {"reason": "INC-7", "exceptions": [
        {"name": "fix", "freight": ["1111111111111111111111111111111111111111"]},
        {"name": "elsewhere", "freight": ["2222222222222222222222222222222222222222"],
         "stageSelector": {"name": "prod"}}]}}})"));
  Freight("1111111111111111111111111111111111111111", kNow - kHour);
  Freight("2222222222222222222222222222222222222222", kNow);
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"1111111111111111111111111111111111111111"});
  Json st = (*store_->Get({"Stage", "demo", "dev"}))->status;
  EXPECT_EQ(st["stopTheLine"].dump(),
            R"([{"source":"ProjectConfig demo","reason":"INC-7","exceptions":["fix"]}])");
  EXPECT_FALSE(st.contains("promotionWindowStatus"));
}

// The server's line, in the ClusterConfig: nothing, and the Stage says why.
TEST_F(AutoPromotionTest, TheServersStoppedLineHoldsEveryProject) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoPromotionEnabled": true}]}})"));
  store::Resource cc;
  cc.key = {"ClusterConfig", "", "cluster"};
  cc.object = Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "ClusterConfig",
      "metadata": {"name": "cluster"}, "spec": {"stopTheLine": {"reason": "region down"}}})");
  ASSERT_TRUE(store_->Create(cc, "Created", ""));
  Freight("a", kNow);
  Reconcile();
  EXPECT_TRUE(asked_.empty());
  EXPECT_EQ((*store_->Get({"Stage", "demo", "dev"}))->status["stopTheLine"][0]["source"],
            "ClusterConfig");
  auto freeze = DeployFreeze(*store_, "demo", kNow);
  ASSERT_TRUE(freeze);
  EXPECT_EQ(*freeze, "line stopped by ClusterConfig: region down");
  ASSERT_TRUE(store_->Delete(cc.key));
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"a"});
  EXPECT_FALSE((*store_->Get({"Stage", "demo", "dev"}))->status.contains("stopTheLine"));
}

// The Stage's gate closing and opening, and each Promotion auto-promotion
// asks for, are recorded (the server's audit log), each once.
TEST_F(AutoPromotionTest, TheStagesGateDecisionsAreRecordedOnce) {
  std::vector<std::string> records;
  reconciler_->SetGateRecord(
      [&](const std::string& target, const std::string& decision, const std::string& detail) {
        records.push_back(target + " " + decision + ": " + detail);
      });
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoPromotionEnabled": true}],
      "promotionWindows": [{"name": "freeze", "kind": "Deny",
         "dtstart": "20270115T070000Z", "dtend": "20270115T100000Z"}]}})"));
  Freight("a", kNow);
  Reconcile();
  Reconcile();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0],
            "stage demo/dev gate.closed: promotion window: window freeze closed until "
            "2027-01-15T10:00:00Z");
  clock_.Advance(std::chrono::hours(2));
  Reconcile();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1],
            "stage demo/dev auto-promotion: Promotion promo-1 of Freight a: no gate "
            "holds it");
  EXPECT_EQ(records[2],
            "stage demo/dev gate.open: was: promotion window: window freeze closed "
            "until 2027-01-15T10:00:00Z");
}

// Kargo's autoRollback: a failed verification sends the Stage back to its
// stable Freight once (a second look finds the rollback it asked for), the
// rollback marked as one, and auto-promotion holds after it.
TEST_F(AutoPromotionTest, AFailedVerificationRollsBackOnceAndHoldsAutoPromotion) {
  std::vector<std::string> records;
  reconciler_->SetGateRecord(
      [&](const std::string& target, const std::string& decision, const std::string& detail) {
        if (decision == "auto-rollback") records.push_back(target + ": " + detail);
      });
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {"promotionPolicies": [
      {"stage": "dev", "autoPromotionEnabled": true, "autoRollback": {}}]}})"));
  Freight("good", kNow - 2 * kHour);
  Freight("bad", kNow - kHour);
  Put("Promotion", "by-hand", Json::parse(R"({"spec": {"stage": "dev", "freight": "bad"}})"),
      Json::parse(R"({"phase": "Succeeded"})"));
  auto collection = [](const std::string& f, const std::string& phase, int64_t at) {
    return Json{{"id", "c-" + f},
                {"items", {{"Warehouse/w", {{"name", f}}}}},
                {"verificationHistory", {{{"phase", phase}, {"finishTime", At(at)}}}}};
  };
  store::Resource st = **store_->Get({"Stage", "demo", "dev"});
  Json status = {{"freightHistory",
                  {collection("bad", "Failed", kNow - 60'000),
                   collection("good", "Successful", kNow - kHour)}}};
  ASSERT_TRUE(store_->UpdateStatus(st.key, status, st.resource_version, "", ""));
  Reconcile();
  ASSERT_EQ(asked_, std::vector<std::string>{"good"});
  store::Resource rb = **store_->Get({"Promotion", "demo", "promo-1"});
  EXPECT_EQ(rb.object["metadata"]["annotations"]["kargo.akuity.io/rollback"], "true");
  EXPECT_EQ(rb.object["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
            "kargo:auto-rollback");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0],
            "stage demo/dev: Promotion promo-1: verification of c-bad Failed: back to good, the "
            "last Freight verified here");
  EXPECT_EQ((*store_->Get({"Stage", "demo", "dev"}))->status["metadata"]["stableFreight"],
            Json({{"Warehouse/w", "good"}}));
  Phase("promo-1", "Succeeded");
  Freight("newer", kNow);
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"good"}) << "no second rollback, no auto-promotion";
  // The hold, as Kargo's status says it; a person's Promotion lifts it.
  Json holds = (*store_->Get({"Stage", "demo", "dev"}))->status["autoPromotionHolds"];
  EXPECT_EQ(holds["Warehouse/w"]["freightName"], "good") << holds.dump();
  EXPECT_EQ(holds["Warehouse/w"]["promotionName"], "promo-1");
  EXPECT_EQ(holds["Warehouse/w"]["actor"], "kargo:auto-rollback");
  EXPECT_EQ((*store_->Get({"Stage", "demo", "dev"}))->status["effectiveAutoPromotionHolds"], holds);
  // (Named to sort after promo-1: made in the same millisecond, it is still the newer.)
  Put("Promotion", "z-by-hand", Json::parse(R"({"spec": {"stage": "dev", "freight": "good"}})"),
      Json::parse(R"({"phase": "Succeeded"})"));
  Reconcile();
  EXPECT_FALSE((*store_->Get({"Stage", "demo", "dev"}))->status.contains("autoPromotionHolds"));
  EXPECT_EQ(asked_, (std::vector<std::string>{"good", "newer"})) << "auto-promotion resumes";
}

// A rollback wanted while a window is closed is asked for all the same (it
// waits, Pending, for the window): it is not lost to the 20-minute limit.
TEST_F(AutoPromotionTest, ARollbackInAClosedWindowIsAskedForAndWaits) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoRollback": {}}],
      "promotionWindows": [{"name": "freeze", "kind": "Deny",
         "dtstart": "20270115T070000Z", "dtend": "20270115T100000Z"}]}})"));
  Freight("good", kNow - 2 * kHour);
  Freight("bad", kNow - kHour);
  store::Resource st = **store_->Get({"Stage", "demo", "dev"});
  Json status = Json::parse(R"({"freightHistory": [
      {"id": "c-bad", "items": {"Warehouse/w": {"name": "bad"}}, "verificationHistory": [
        {"id": "v1", "phase": "Failed", "finishTime": "2027-01-15T07:59:00Z"}]},
      {"id": "c-good", "items": {"Warehouse/w": {"name": "good"}}, "verificationHistory": [
        {"id": "v0", "phase": "Successful", "finishTime": "2027-01-15T06:00:00Z"}]}]})");
  ASSERT_TRUE(store_->UpdateStatus(st.key, status, st.resource_version, "", ""));
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"good"});
  store::Resource rb = **store_->Get({"Promotion", "demo", "promo-1"});
  EXPECT_EQ(rb.object["metadata"]["annotations"]["strake.dev/rollback-of"],
            "verification c-bad/v1");
}

// The ClusterConfig's windows select Projects by name or by the Project
// object's labels; a denial names the ClusterConfig.
TEST_F(AutoPromotionTest, TheClusterConfigsWindowsSelectProjectsByTheirLabels) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {
      "promotionPolicies": [{"stage": "dev", "autoPromotionEnabled": true}]}})"));
  auto put_cluster = [&](const std::string& kind, const std::string& name, const Json& body) {
    store::Resource r;
    r.key = {kind, "", name};
    r.object = body;
    r.object["apiVersion"] = "kargo.akuity.io/v1alpha1";
    r.object["kind"] = kind;
    r.object["metadata"]["name"] = name;
    if (body["metadata"].contains("labels")) {
      for (const auto& [k, v] : body["metadata"]["labels"].items()) r.labels[k] = v;
    }
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  };
  put_cluster("Project", "demo", Json::parse(R"({"metadata": {"labels": {"tier": "edge"}}})"));
  put_cluster("ClusterConfig", "cluster", Json::parse(R"({"metadata": {}, "spec": {
      "promotionWindows": [
        {"name": "edge-freeze", "kind": "Deny", "projectSelector": {"matchLabels": {"tier": "edge"}},
         "dtstart": "20270115T070000Z", "dtend": "20270115T100000Z"},
        {"name": "elsewhere", "kind": "Deny", "projectSelector": {"name": "glob:shop-*"},
         "dtstart": "20270101T000000Z", "dtend": "20280101T000000Z"}]}})"));
  Freight("a", kNow);
  Reconcile();
  EXPECT_TRUE(asked_.empty());
  EXPECT_EQ((*store_->Get({"Stage", "demo", "dev"}))->status["promotionWindowStatus"]["reason"],
            "window edge-freeze (ClusterConfig) closed until 2027-01-15T10:00:00Z");
  clock_.Advance(std::chrono::hours(2));
  Reconcile();
  EXPECT_EQ(asked_, std::vector<std::string>{"a"}) << "the other window selects other Projects";
}

// GitLab's CI_DEPLOY_FREEZE: set while a freeze period that covers the whole
// Project is active (one for some Stages only gates their promotions).
TEST_F(AutoPromotionTest, ADeployFreezeIsSaidForTheProjectWhileItsPeriodHolds) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {"freezePeriods": [
      {"name": "mornings", "freezeStart": "0 7 * * *", "freezeEnd": "0 9 * * *"},
      {"name": "prod-only", "freezeStart": "0 0 * * *", "freezeEnd": "0 23 * * *",
       "stageSelector": {"name": "prod"}}]}})"));
  auto at8 = DeployFreeze(*store_, "demo", kNow);  // 2027-01-15T08:00Z
  ASSERT_TRUE(at8);
  EXPECT_EQ(*at8, "freeze period mornings closed until 2027-01-15T09:00:00Z");
  auto at10 = DeployFreeze(*store_, "demo", kNow + 2 * kHour);
  ASSERT_TRUE(at10);
  EXPECT_FALSE(*at10);
  auto other = DeployFreeze(*store_, "elsewhere", kNow);
  ASSERT_TRUE(other);
  EXPECT_FALSE(*other);
}

// MatchUpstream takes what the upstream Stage holds now, not everything
// ever verified there (Kargo lists Freight CurrentlyIn the upstream).
TEST_F(AutoPromotionTest, MatchUpstreamTakesWhatTheUpstreamStageHoldsNow) {
  Put("ProjectConfig", "demo", Json::parse(R"({"spec": {"promotionPolicies": [{"stage": "prod",
          "autoPromotionEnabled": true}]}})"));
  Put("Stage", "prod", Json::parse(R"({"spec": {"requestedFreight": [{"origin": {"kind":
      "Warehouse", "name": "w"}, "sources": {"stages": ["dev"], "autoPromotionOptions":
      {"selectionPolicy": "MatchUpstream"}}}], "promotionTemplate": {"spec": {"steps":
      [{"uses": "compose-output"}]}}}})"));
  Freight("old", kNow - kHour);
  Freight("new", kNow);
  auto set = [&](const std::string& name, const Json& status) {
    store::Resource r = **store_->Get({"Freight", "demo", name});
    ASSERT_TRUE(store_->UpdateStatus(r.key, status, r.resource_version, "", ""));
  };
  // "new" was in dev and left; "old" is there now: prod matches dev.
  set("new", FreightLeft(FreightArrived(Json::object(), "dev", At(kNow - 10), true), "dev", kNow));
  set("old", FreightArrived(Json::object(), "dev", At(kNow), true));
  ASSERT_TRUE(reconciler_->Reconcile("demo/prod"));
  EXPECT_EQ(asked_, std::vector<std::string>{"old"});
}

TEST_F(AutoPromotionTest, AnUpstreamStageThatDoesNotExistIsSaidInTheStatus) {
  Put("Stage", "prod", Json::parse(R"({"spec": {"requestedFreight": [{"origin": {"kind":
      "Warehouse", "name": "w"}, "sources": {"stages": ["dev", "uat"]}}]}})"));
  ASSERT_TRUE(reconciler_->Reconcile("demo/prod"));
  Json c = (*store_->Get({"Stage", "demo", "prod"}))->status["conditions"][0];
  EXPECT_EQ(c["type"], "Ready");
  EXPECT_EQ(c["status"], "False");
  EXPECT_EQ(c["reason"], "UpstreamStageNotFound");
  EXPECT_EQ(c["message"], "requests Freight from Stage \"uat\" in demo, which does not exist");
  Put("Stage", "uat", Json::parse(R"({"spec": {"requestedFreight": [{"origin": {"kind":
      "Warehouse", "name": "w"}, "sources": {"direct": true}}]}})"));
  ASSERT_TRUE(reconciler_->Reconcile("demo/prod"));
  c = (*store_->Get({"Stage", "demo", "prod"}))->status["conditions"][0];
  EXPECT_EQ(c["status"], "True");
}

// A Stage with verification: the Freight a Promotion brought is current
// but not verified until the AnalysisRun of the Stage's templates (args
// evaluated) is Successful; the run's name is recorded before it is made.
class VerificationTest : public AutoPromotionTest {
 protected:
  void SetUp() override {
    AutoPromotionTest::SetUp();
    reconciler_ = std::make_unique<StageReconciler>(
        *store_, clock_, [this](const Json& obj) -> Result<std::string> {
          made_.push_back(obj);
          store::Resource r;
          r.key = {obj["kind"], "demo", obj["metadata"]["name"]};
          r.object = obj;
          r.labels = model::StringMap(obj["metadata"].value("labels", Json::object()));
          STRAKE_TRY(store_->Create(r, "Created", ""));
          return r.key.name;
        });
    store::Resource t;
    t.key = {"AnalysisTemplate", "demo", "smoke"};
    t.object = Json::parse(R"({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "smoke", "namespace": "demo"}, "spec": {"args": [{"name": "commit"}],
        "metrics": [{"name": "m", "provider": {"web": {"url": "http://127.0.0.1:1/{{args.commit}}"}}}]}})");
    ASSERT_TRUE(store_->Create(t, "Created", ""));
    Put("Stage", "qa", Json::parse(R"({"spec": {"vars": [{"name": "repo", "value": "https://x/y"}],
        "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}],
        "promotionTemplate": {"spec": {"steps": [{"uses": "compose-output"}]}},
        "verification": {"analysisTemplates": [{"name": "smoke"}],
                         "analysisRunMetadata": {"labels": {"team": "web"}},
                         "args": [{"name": "commit", "value": "${{ commitFrom(vars.repo).ID }}"}]}}})"));
    Freight("f1", kNow);
    // What a Promotion's end wrote: f1 current in qa, not verified.
    Json ref = {{"name", "f1"},
                {"origin", {{"kind", "Warehouse"}, {"name", "w"}}},
                {"commits", {{{"repoURL", "https://x/y"}, {"id", "abc123"}}}}};
    SetStatus("Stage", "qa", RecordFreight(Json::object(), ref, "p1", At(kNow), true));
    SetStatus("Freight", "f1", FreightArrived(Json::object(), "qa", At(kNow), false));
  }
  void SetStatus(const std::string& kind, const std::string& name, const Json& status) {
    store::Resource r = **store_->Get({kind, "demo", name});
    ASSERT_TRUE(store_->UpdateStatus(r.key, status, r.resource_version, "", ""));
  }
  Json Verification() {
    Json st = (*store_->Get({"Stage", "demo", "qa"}))->status;
    return st["freightHistory"][0]["verificationHistory"];
  }
  controller::ReconcileResult ReconcileQa() {
    auto r = reconciler_->Reconcile("demo/qa");
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : controller::ReconcileResult{};
  }
  std::vector<Json> made_;
};

TEST_F(VerificationTest, TheFreightIsVerifiedWhenItsAnalysisRunSucceeds) {
  EXPECT_EQ(ReconcileQa().requeue_after, kVerificationPoll);
  ASSERT_EQ(made_.size(), 1u);
  const Json& run = made_[0];
  const std::string name = run["metadata"]["name"];
  EXPECT_EQ(name.substr(0, 3), "qa.");
  EXPECT_EQ(run["metadata"]["labels"]["team"], "web");
  EXPECT_EQ(run["metadata"]["labels"]["kargo.akuity.io/stage"], "qa");
  EXPECT_EQ(run["spec"]["args"][0]["value"], "abc123");  // commitFrom(vars.repo).ID
  Json vh = Verification();
  ASSERT_EQ(vh.size(), 1u);
  EXPECT_EQ(vh[0]["analysisRun"]["name"], name);
  // Again while it runs: nothing made twice, still unverified.
  SetStatus("AnalysisRun", name, {{"phase", "Running"}});
  ReconcileQa();
  EXPECT_EQ(made_.size(), 1u);
  EXPECT_EQ(Verification()[0]["phase"], "Running");
  EXPECT_FALSE((*store_->Get({"Freight", "demo", "f1"}))->status.contains("verifiedIn"));
  SetStatus("AnalysisRun", name, {{"phase", "Successful"}});
  EXPECT_FALSE(ReconcileQa().requeue_after);
  EXPECT_EQ(Verification()[0]["phase"], "Successful");
  EXPECT_TRUE((*store_->Get({"Freight", "demo", "f1"}))->status["verifiedIn"].contains("qa"));
}

TEST_F(VerificationTest, AFailedRunLeavesTheFreightUnverifiedAndARestartFindsItsRun) {
  ReconcileQa();
  const std::string name = made_[0]["metadata"]["name"];
  // A server that died after recording the run's name and before making
  // it: the next pass makes it under that name.
  ASSERT_TRUE(store_->Delete({"AnalysisRun", "demo", name}));
  ReconcileQa();
  ASSERT_EQ(made_.size(), 2u);
  EXPECT_EQ(made_[1]["metadata"]["name"], name);
  SetStatus("AnalysisRun", name, {{"phase", "Failed"}, {"message", "metric m failed"}});
  ReconcileQa();
  Json vh = Verification();
  EXPECT_EQ(vh[0]["phase"], "Failed");
  EXPECT_EQ(vh[0]["message"], "metric m failed");
  EXPECT_FALSE((*store_->Get({"Freight", "demo", "f1"}))->status.contains("verifiedIn"));
  ReconcileQa();
  EXPECT_EQ(made_.size(), 2u);  // not tried again by itself
}

// Kargo's reverify and abort requests: each names the verification it is
// about; a reverify of the one that ended makes a new one (once), an abort
// of the one running stops its AnalysisRun and records it Aborted.
TEST_F(VerificationTest, AReverifyRunsItAgainOnceAndAnAbortStopsIt) {
  auto annotate = [&](const char* key, const std::string& value) {
    store::Resource r = **store_->Get({"Stage", "demo", "qa"});
    r.object["metadata"]["annotations"][key] = value;
    ASSERT_TRUE(store_->Update(r, r.resource_version));
  };
  ReconcileQa();
  const std::string first = made_[0]["metadata"]["name"];
  const std::string first_id = Verification()[0]["id"];
  annotate(kReverifyAnnotation, first_id);  // while it runs: nothing yet
  ReconcileQa();
  EXPECT_EQ(made_.size(), 1u);
  SetStatus("AnalysisRun", first, {{"phase", "Failed"}});
  ReconcileQa();  // it ended, and the request names it: run again
  ReconcileQa();
  ASSERT_EQ(made_.size(), 2u);
  Json vh = Verification();
  ASSERT_EQ(vh.size(), 2u);
  EXPECT_EQ(vh[1]["phase"], "Failed");
  EXPECT_NE(vh[0]["id"], first_id);
  const std::string second = made_[1]["metadata"]["name"];
  EXPECT_NE(second, first);
  ReconcileQa();
  EXPECT_EQ(made_.size(), 2u);  // the same request is not acted on twice

  annotate(kAbortAnnotation, Json{{"id", vh[0]["id"]}, {"actor", "alice"}}.dump());
  ReconcileQa();
  vh = Verification();
  EXPECT_EQ(vh[0]["phase"], "Aborted");
  EXPECT_EQ(vh[0]["message"], "verification aborted by request");
  EXPECT_EQ((*store_->Get({"AnalysisRun", "demo", second}))->object["spec"]["terminate"], true);
  EXPECT_FALSE((*store_->Get({"Freight", "demo", "f1"}))->status.contains("verifiedIn"));
  EXPECT_EQ(VerificationRequestId(R"({"id": "x", "actor": "a"})"), "x");
  EXPECT_EQ(VerificationRequestId(" x "), "x");
  EXPECT_EQ(VerificationRequestId("{bad"), "");
}

// A deleted Stage leaves nothing: its name goes from the Freight's status
// and its verifications' AnalysisRuns go, as Kargo's finalizer does; a
// server that died first finds it in the Freight at its start.
TEST_F(VerificationTest, ADeletedStageIsForgottenByItsFreightAndItsRunsGo) {
  ReconcileQa();
  const std::string run = made_[0]["metadata"]["name"];
  SetStatus("Freight", "f1",
            {{"currentlyIn", {{"qa", Json::object()}}},
             {"verifiedIn", {{"qa", Json::object()}, {"other", Json::object()}}},
             {"approvedFor", {{"qa", Json::object()}}}});
  store::Resource labelled = **store_->Get({"AnalysisRun", "demo", run});
  ASSERT_EQ(labelled.labels["kargo.akuity.io/stage"], "qa");
  Put("Stage", "other", Json::parse(R"({"spec": {"requestedFreight": [{"origin":
      {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}]}})"));
  ASSERT_TRUE(store_->Delete({"Stage", "demo", "qa"}));
  auto forgotten = ForgottenStages(*store_);
  ASSERT_TRUE(forgotten);
  EXPECT_EQ(*forgotten, std::vector<std::string>{controller::ObjectKey("demo", "qa")});
  ReconcileQa();
  Json st = (*store_->Get({"Freight", "demo", "f1"}))->status;
  EXPECT_EQ(st["currentlyIn"], Json::object());
  EXPECT_EQ(st["verifiedIn"], (Json{{"other", Json::object()}}));
  EXPECT_EQ(st["approvedFor"], Json::object());
  EXPECT_FALSE(*store_->Get({"AnalysisRun", "demo", run}));
  EXPECT_TRUE(ForgottenStages(*store_)->empty());
  ReconcileQa();  // again: nothing to do
}

}  // namespace
}  // namespace strake::delivery
