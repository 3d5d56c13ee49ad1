#include "insight/ledger.h"

#include <gtest/gtest.h>

#include <memory>

#include "base/clock.h"
#include "base/tz.h"
#include "insight/recorder.h"
#include "insight/sources.h"
#include "store/temp_store.h"

namespace strake::insight {
namespace {

using Json = store::Json;

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
const int64_t kDay0 = DaysFromCivil(2026, 11, 2);  // a Monday

int64_t At(int day, int64_t hours) { return (kDay0 + day) * kDay + hours * kHour; }
std::string Rfc(int64_t ms) { return FormatRfc3339(TimePoint(std::chrono::milliseconds(ms))); }

store::DeploymentRecord Dep(const std::string& id, const std::string& env, int64_t finished,
                            std::vector<store::DeploymentRecord::Commit> changes = {},
                            const std::string& ns = "shop") {
  store::DeploymentRecord d;
  d.id = id;
  d.ns = ns;
  d.environment = env;
  d.tier = TierName(GuessTier(env));
  d.finished_ms = finished;
  d.changes = std::move(changes);
  return d;
}

Query Ask(Metric metric, int first, int last, Interval interval = Interval::kAll) {
  Query q;
  q.metric = metric;
  q.start_day = kDay0 + first;
  q.end_day = kDay0 + last;
  q.interval = interval;
  return q;
}

std::optional<double> One(const std::vector<Bucket>& b) {
  EXPECT_EQ(b.size(), 1u);
  return b.empty() ? std::nullopt : b[0].value;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("ledger-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
  }
  store::Store& st() { return temp_.store(); }
  store::TempStore temp_;
};

TEST_F(LedgerTest, StoreKeepsRecordsWholeAndReplacesThem) {
  auto a = Dep("Promotion/shop/a", "prod", At(0, 10), {{"c1", At(0, 8)}, {"c2", At(0, 9)}});
  a.failed_ms = At(0, 11);
  a.failure = "verification failed";
  auto b = Dep("Promotion/other/b", "prod", At(3, 10), {{"c3", At(2, 9)}}, "other");
  ASSERT_TRUE(st().PutDeployments({a, b}));
  auto got = st().GetDeployment(a.id);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, a);
  a.changes = {{"c9", At(0, 1)}};  // replaced, not added to
  a.restored_ms = At(1, 0);
  ASSERT_TRUE(st().PutDeployments({a}));
  EXPECT_EQ(**st().GetDeployment(a.id), a);
  EXPECT_FALSE(*st().GetDeployment("Promotion/shop/none"));

  std::vector<std::string> seen;
  auto walk = [&](const store::DeploymentFilter& f) {
    seen.clear();
    EXPECT_TRUE(st().ForEachDeployment(f, [&](store::DeploymentRecord& r) {
      seen.push_back(r.id);
      return true;
    }));
    return seen;
  };
  EXPECT_EQ(walk({}), (std::vector<std::string>{a.id, b.id}));  // as first written
  EXPECT_EQ(walk({"other"}), (std::vector<std::string>{b.id}));
  // Finished or restored within the range.
  EXPECT_EQ(walk({"", At(1, 0), At(2, 0)}), (std::vector<std::string>{a.id}));
  EXPECT_EQ(walk({"", At(1, 1), At(2, 0)}), std::vector<std::string>{});
}

TEST_F(LedgerTest, PagesOfTheWalkKeepEachRecordsChanges) {
  std::vector<store::DeploymentRecord> all;
  for (int i = 0; i < 5000; ++i) {
    all.push_back(Dep("d" + std::to_string(i), "prod", At(i % 30, 1),
                      {{"c" + std::to_string(i), At(i % 30, 0)}}));
  }
  ASSERT_TRUE(st().PutDeployments(all));
  size_t n = 0;
  ASSERT_TRUE(st().ForEachDeployment({}, [&](store::DeploymentRecord& r) {
    EXPECT_EQ(r.id, all[n].id);
    EXPECT_EQ(r.changes, all[n].changes);
    ++n;
    return true;
  }));
  EXPECT_EQ(n, all.size());
}

TEST_F(LedgerTest, AnswersFromTheIndexAndAgainAfterARestart) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"a", At(0, 9)}, {"b", At(0, 7)}})));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(1, 10), {{"c", At(1, 6)}})));
  ASSERT_TRUE(ledger.Record(Dep("s/1", "staging", At(1, 11), {{"d", At(1, 1)}})));
  ASSERT_TRUE(ledger.Record(Dep("o/1", "prod", At(1, 12), {}, "other")));
  // Recorded again, unchanged: nothing counts twice.
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(1, 10), {{"c", At(1, 6)}})));

  auto check = [](Ledger& l) {
    EXPECT_EQ(One(l.Answer("shop", Ask(Metric::kDeploymentFrequency, 0, 1))), 1.0);  // 2 in 2 days
    EXPECT_EQ(One(l.Answer("", Ask(Metric::kDeploymentFrequency, 0, 1))), 1.5);
    // 1 h, 3 h, 4 h: the median is 3 h.
    EXPECT_EQ(One(l.Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 1))), 3 * 3600.0);
    EXPECT_EQ(One(l.Answer("nowhere", Ask(Metric::kDeploymentFrequency, 0, 1))), 0.0);
  };
  check(ledger);
  Ledger restarted(st());
  ASSERT_TRUE(restarted.Load());
  check(restarted);
}

TEST_F(LedgerTest, AFailureIsRestoredByTheNextDeploymentOfItsEnvironment) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 11), "verification failed: error rate"));
  ASSERT_TRUE(ledger.Record(Dep("s/1", "staging", At(0, 12))));  // another environment
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), std::nullopt);
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 13))));
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), 2 * 3600.0);
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 3))), 0.5);
  // A later finding does not move the first; recording it again keeps it.
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 12), "again"));
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  auto p1 = **st().GetDeployment("p/1");
  EXPECT_EQ(p1.failed_ms, At(0, 11));
  EXPECT_EQ(p1.restored_ms, At(0, 13));
  EXPECT_EQ(p1.failure, "verification failed: error rate");
  EXPECT_EQ(One(ledger.Answer("shop", Ask(Metric::kChangeFailureRate, 0, 3))), 0.5);
  EXPECT_FALSE(ledger.MarkFailed("p/none", At(0, 12), "x"));
  const std::string text = ledger.PrometheusText();
  EXPECT_NE(text.find("strake_dora_deployments_total{namespace=\"shop\",tier=\"production\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("strake_dora_failed_deployments_total{namespace=\"shop\",tier=\"production\"} "
                "1\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("strake_dora_deployments_total{namespace=\"shop\",tier=\"staging\"} 1\n"),
            std::string::npos);
}

TEST_F(LedgerTest, AFailureFoundAfterLaterDeploymentsIsRestoredByTheFirstOfThem) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10))));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(0, 14))));
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(0, 20))));
  ASSERT_TRUE(ledger.MarkFailed("p/1", At(0, 12), "incident"));
  EXPECT_EQ((**st().GetDeployment("p/1")).restored_ms, At(0, 14));
  // An open failure survives a restart and is restored after it.
  ASSERT_TRUE(ledger.MarkFailed("p/3", At(0, 21), "canary aborted"));
  Ledger restarted(st());
  ASSERT_TRUE(restarted.Load());
  ASSERT_TRUE(restarted.Record(Dep("p/4", "prod", At(1, 1))));
  EXPECT_EQ((**st().GetDeployment("p/3")).restored_ms, At(1, 1));
  // 2 h and 4 h.
  EXPECT_EQ(One(restarted.Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 3))), 3 * 3600.0);
}

TEST_F(LedgerTest, ExplainListsTheRecordsBehindTheSameValue) {
  Ledger ledger(st());
  ASSERT_TRUE(ledger.Load());
  ASSERT_TRUE(ledger.Record(Dep("p/1", "prod", At(0, 10), {{"a", At(0, 9)}})));
  ASSERT_TRUE(ledger.Record(Dep("p/2", "prod", At(5, 10), {{"b", At(5, 6)}})));  // outside
  ASSERT_TRUE(ledger.Record(Dep("p/3", "prod", At(2, 10), {{"c", At(1, 10)}})));
  const Query q = Ask(Metric::kLeadTimeForChanges, 0, 3, Interval::kDaily);
  auto explained = ledger.Explain("shop", q);
  ASSERT_TRUE(explained);
  auto plain = ledger.Answer("shop", q);
  ASSERT_EQ(explained->buckets.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(explained->buckets[i].value, plain[i].value);
  ASSERT_EQ(explained->records.size(), 2u);
  ASSERT_EQ(explained->buckets[2].samples.size(), 1u);
  EXPECT_EQ(explained->records[explained->buckets[2].samples[0].deployment].id, "p/3");
  EXPECT_EQ(explained->buckets[2].samples[0].seconds, 24 * 3600.0);
}

// --- sources ---

store::Resource Obj(const std::string& kind, const std::string& name, Json object, Json status,
                    std::map<std::string, std::string> labels = {}) {
  store::Resource r;
  r.key = {kind, "shop", name};
  r.object = std::move(object);
  r.status = std::move(status);
  r.labels = std::move(labels);
  return r;
}

store::Resource App(const std::string& name, Json history,
                    std::map<std::string, std::string> labels = {}) {
  return Obj("Application", name, Json::object(), {{"history", std::move(history)}},
             std::move(labels));
}

Json Synced(int id, const std::string& sha, int64_t at) {
  return {{"id", id},
          {"revision", sha},
          {"deployedAt", Rfc(at)},
          {"source", {{"repoURL", "https://git.example/app.git"}}}};
}

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
  ASSERT_EQ((*got)[1].commits.size(), 1u);
  EXPECT_EQ((*got)[1].commits[0].sha, "bbb");

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

Json Freight(const std::string& name, const std::string& sha) {
  return {{"name", name}, {"commits", {{{"repoURL", "https://git.example/app.git"}, {"id", sha}}}}};
}

store::Resource Promo(const std::string& name, const std::string& stage, const std::string& phase,
                      int64_t finished, const std::string& freight, const std::string& sha) {
  return Obj("Promotion", name, {{"spec", {{"stage", stage}, {"freight", freight}}}},
             {{"phase", phase}, {"finishedAt", Rfc(finished)}, {"freight", Freight(freight, sha)}});
}

TEST(DoraSources, ASucceededPromotionIsADeploymentOfItsFreight) {
  auto stage = Obj("Stage", "prod", Json::object(), Json::object());
  auto got = FromPromotion(Promo("p1", "prod", "Succeeded", At(0, 3), "f1", "abc"), stage);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->record.id, "Promotion/shop/p1");
  EXPECT_EQ((*got)->record.tier, "production");
  EXPECT_EQ((*got)->record.revision, "f1");
  ASSERT_EQ((*got)->commits.size(), 1u);
  EXPECT_EQ((*got)->commits[0].sha, "abc");
  auto failed = FromPromotion(Promo("p2", "prod", "Failed", At(0, 3), "f1", "abc"), stage);
  ASSERT_TRUE(failed);
  EXPECT_FALSE(*failed);
}

TEST(DoraSources, AFailedVerificationNamesThePromotionOfItsFreight) {
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
  std::vector<store::Resource> promotions = {
      Promo("p1", "prod", "Succeeded", At(0, 1), "f2", "a"),
      Promo("p2", "prod", "Succeeded", At(0, 4), "f2", "a"),  // the last before the finding
      Promo("p3", "prod", "Succeeded", At(0, 6), "f2", "a"),  // after it
      Promo("p4", "uat", "Succeeded", At(0, 4), "f2", "a"),
      Promo("p5", "prod", "Failed", At(0, 4), "f2", "a")};
  EXPECT_EQ(PromotionOf(promotions, "prod", {"f2"}, At(0, 5)), "Promotion/shop/p2");
  EXPECT_EQ(PromotionOf(promotions, "prod", {"f9"}, At(0, 5)), std::nullopt);
  // Of two in the same second, the one named later (Kargo's ULIDs); one
  // may be left out by name.
  promotions.push_back(Promo("p2b", "prod", "Succeeded", At(0, 4), "f2", "a"));
  EXPECT_EQ(PromotionOf(promotions, "prod", {}, At(0, 5)), "Promotion/shop/p2b");
  EXPECT_EQ(PromotionOf(promotions, "prod", {}, At(0, 5), "p2b"), "Promotion/shop/p2");
}

// --- the recorder ---

class FakeHistory : public CommitHistory {
 public:
  Result<std::vector<store::DeploymentRecord::Commit>> Brought(const std::string& repo_url,
                                                               const std::string& from,
                                                               const std::string& to) override {
    asked.push_back(repo_url + " " + from + ".." + to);
    std::vector<store::DeploymentRecord::Commit> out;
    // A linear history c0 c1 c2 ..., committed an hour apart from day 0.
    const int last = to[1] - '0';
    const int first = from.empty() ? last : from[1] - '0' + 1;
    for (int i = last; i >= first; --i) out.push_back({"c" + std::to_string(i), At(0, i)});
    return out;
  }
  std::vector<std::string> asked;
};

class RecorderTest : public LedgerTest {
 protected:
  void Put(store::Resource r) {
    auto got = st().Get(r.key);
    ASSERT_TRUE(got);
    if (!*got) {
      Json status = r.status;
      auto made = st().Create(r, "Created", "");
      ASSERT_TRUE(made) << made.error().message;
      ASSERT_TRUE(st().UpdateStatus(r.key, status, 0, "Updated", ""));
    } else {
      ASSERT_TRUE(st().UpdateStatus(r.key, r.status, 0, "Updated", ""));
    }
  }
  void SetUp() override {
    LedgerTest::SetUp();
    ledger_ = std::make_unique<Ledger>(st());
    recorder_ = std::make_unique<Recorder>(st(), *ledger_, history_);
    ASSERT_TRUE(ledger_->Load());
  }
  void Reconcile(const store::Resource& r) {
    auto done = recorder_->Reconcile(Recorder::KeyOf(r.key));
    ASSERT_TRUE(done) << done.error().message;
  }
  Ledger& ledger() { return *ledger_; }
  FakeHistory history_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Recorder> recorder_;
};

TEST_F(RecorderTest, AnApplicationsSyncsBringTheCommitsSinceTheLast) {
  auto app = App("web-prod", {Synced(0, "c2", At(0, 5))});
  Put(app);
  Reconcile(app);
  app = App("web-prod", {Synced(0, "c2", At(0, 5)), Synced(1, "c5", At(0, 9))});
  Put(app);
  Reconcile(app);
  Reconcile(app);  // again: nothing new
  EXPECT_EQ(history_.asked, (std::vector<std::string>{"https://git.example/app.git ..c2",
                                                      "https://git.example/app.git c2..c5"}));
  // c2: 3 h; c3, c4, c5: 6 h, 5 h, 4 h.
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 0))), 4.5 * 3600);
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kDeploymentFrequency, 0, 0))), 2.0);
}

TEST_F(RecorderTest, AnApplicationsRollbackFailsWhatItTookBack) {
  Json back = Synced(2, "c2", At(0, 10));
  back["deployStartedAt"] = Rfc(At(0, 9) + 30 * 60'000);  // 9:30
  auto app = App("web-prod", {Synced(0, "c2", At(0, 5)), Synced(1, "c5", At(0, 9)), back});
  Put(app);
  Reconcile(app);
  Reconcile(app);
  auto bad = **st().GetDeployment("Application/shop/web-prod#1");
  EXPECT_EQ(bad.failed_ms, At(0, 9) + 30 * 60'000);
  EXPECT_EQ(bad.failure, "rolled back by Application/shop/web-prod#2");
  EXPECT_EQ(bad.restored_ms, At(0, 10));
  EXPECT_TRUE((**st().GetDeployment("Application/shop/web-prod#2")).unplanned);
  EXPECT_FALSE((**st().GetDeployment("Application/shop/web-prod#0")).failed_ms);
  EXPECT_NEAR(*One(ledger().Answer("shop", Ask(Metric::kDeploymentReworkRate, 0, 0))), 1 / 3.0,
              1e-12);
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 30 * 60.0);
  // A redeploy of what runs is no rollback.
  auto same = App("api-prod", {Synced(0, "c2", At(0, 5)), Synced(1, "c2", At(0, 6))});
  Put(same);
  Reconcile(same);
  EXPECT_FALSE((**st().GetDeployment("Application/shop/api-prod#1")).unplanned);
}

TEST_F(RecorderTest, KargosAutoRollbackIsReworkAndFailsThePromotionBefore) {
  auto stage = Obj("Stage", "prod", {{"spec", Json::object()}}, Json::object());
  Put(stage);
  auto p1 = Promo("p1", "prod", "Succeeded", At(0, 2), "f1", "c1");
  auto p2 = Promo("p2", "prod", "Succeeded", At(0, 4), "f2", "c3");
  auto p3 = Promo("p3", "prod", "Succeeded", At(0, 6), "f1", "c1");
  p3.object["metadata"] = {{"annotations", {{"kargo.akuity.io/rollback", "true"}}}};
  p3.status["startedAt"] = Rfc(At(0, 5));
  for (auto* p : {&p1, &p2, &p3}) {
    Put(*p);
    Reconcile(*p);
  }
  auto d2 = **st().GetDeployment("Promotion/shop/p2");
  EXPECT_EQ(d2.failed_ms, At(0, 5));
  EXPECT_EQ(d2.restored_ms, At(0, 6));
  EXPECT_TRUE((**st().GetDeployment("Promotion/shop/p3")).unplanned);
  EXPECT_FALSE((**st().GetDeployment("Promotion/shop/p1")).failed_ms);
  EXPECT_NEAR(*One(ledger().Answer("shop", Ask(Metric::kChangeFailureRate, 0, 0))), 1 / 3.0, 1e-12);
}

TEST_F(RecorderTest, AFailedVerificationFailsThePromotionsDeployment) {
  auto stage = Obj("Stage", "prod", {{"spec", Json::object()}}, Json::object());
  Put(stage);
  auto p1 = Promo("p1", "prod", "Succeeded", At(0, 4), "f1", "c3");
  Put(p1);
  Reconcile(p1);
  // The Stage's verification of f1 fails before the recorder sees it.
  stage.status = {{"freightHistory",
                   {{{"id", "col1"},
                     {"items", {{"Warehouse/w", {{"name", "f1"}}}}},
                     {"verificationHistory",
                      {{{"id", "v1"},
                        {"phase", "Failed"},
                        {"finishTime", Rfc(At(0, 5))},
                        {"message", "error-rate: 0.4 > 0.05"}}}}}}}};
  Put(stage);
  Reconcile(stage);
  auto d = **st().GetDeployment("Promotion/shop/p1");
  EXPECT_EQ(d.failed_ms, At(0, 5));
  EXPECT_EQ(d.failure, "verification failed: error-rate: 0.4 > 0.05");
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kChangeFailureRate, 0, 0))), 1.0);
  auto p2 = Promo("p2", "prod", "Succeeded", At(0, 8), "f2", "c6");
  Put(p2);
  Reconcile(p2);
  EXPECT_EQ(history_.asked.back(), "https://git.example/app.git c3..c6");
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kTimeToRestoreService, 0, 0))), 3 * 3600.0);
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kChangeFailureRate, 0, 0))), 0.5);
}

}  // namespace
}  // namespace strake::insight
