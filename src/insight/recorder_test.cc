#include "insight/recorder.h"

#include <gtest/gtest.h>

#include <memory>

#include "insight/dora_test_util.h"

namespace strake::insight {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the tests' helpers

class FakeHistory : public CommitHistory {
 public:
  Result<std::vector<store::DeploymentRecord::Commit>> Brought(const std::string& repo_url,
                                                               const std::string& from,
                                                               const std::string& to) override {
    asked.push_back(repo_url + " " + from + ".." + to);
    if (down) return Fail(ErrorCode::kUnavailable, "the git server is down");
    std::vector<store::DeploymentRecord::Commit> out;
    // A linear history c0 c1 c2 ..., committed an hour apart from day 0.
    const int last = to[1] - '0';
    const int first = from.empty() ? last : from[1] - '0' + 1;
    for (int i = last; i >= first; --i) out.push_back({"c" + std::to_string(i), At(0, i)});
    return out;
  }
  std::vector<std::string> asked;
  bool down = false;
};

class RecorderTest : public StoreTest {
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
    StoreTest::SetUp();
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
  Reconcile(app);  // again: the rollback brought nothing, and that is known
  const auto rollback = **st().GetDeployment("Application/shop/web-prod#2");
  EXPECT_TRUE(rollback.changes.empty());
  EXPECT_TRUE(rollback.changes_known);
  // c2: 3 h; c3, c4, c5: 6 h, 5 h, 4 h; nothing of the rollback.
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 0))), 4.5 * 3600);
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

TEST_F(RecorderTest, CommitsThatCouldNotBeReadAreReadAtTheNextLook) {
  history_.down = true;
  auto app = App("web-prod", {Synced(0, "c2", At(0, 5)), Synced(1, "c5", At(0, 9))});
  Put(app);
  Reconcile(app);
  auto d = **st().GetDeployment("Application/shop/web-prod#1");
  EXPECT_FALSE(d.changes_known);
  EXPECT_TRUE(d.changes.empty());
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kDeploymentFrequency, 0, 0))), 2.0);
  history_.down = false;
  Reconcile(app);
  d = **st().GetDeployment("Application/shop/web-prod#1");
  EXPECT_TRUE(d.changes_known);
  EXPECT_EQ(d.changes.size(), 3u);  // c3..c5, from the deployment before it
  const size_t asked = history_.asked.size();
  Reconcile(app);
  EXPECT_EQ(history_.asked.size(), asked);  // known: not read again
  EXPECT_EQ(One(ledger().Answer("shop", Ask(Metric::kLeadTimeForChanges, 0, 0))), 4.5 * 3600);
}

TEST_F(RecorderTest, OutOfOrderEachDeploymentBringsWhatCameSinceTheOneBeforeIt) {
  auto p1 = Promo("p1", "prod", "Succeeded", At(0, 2), "f1", "c1");
  auto p3 = Promo("p3", "prod", "Succeeded", At(0, 8), "f3", "c6");
  auto p2 = Promo("p2", "prod", "Succeeded", At(0, 5), "f2", "c3");
  Put(Obj("Stage", "prod", {{"spec", Json::object()}}, Json::object()));
  for (auto* p : {&p1, &p3, &p2}) {
    Put(*p);
    Reconcile(*p);
  }
  EXPECT_EQ((**st().GetDeployment("Promotion/shop/p2")).changes.size(), 2u);  // c2, c3
  // p3, recorded before p2 with c2..c6, now brings c4..c6: none twice.
  EXPECT_EQ((**st().GetDeployment("Promotion/shop/p3")).changes.size(), 3u);
  EXPECT_EQ(history_.asked.back(), "https://git.example/app.git c3..c6");
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

namespace strake::insight {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): the tests' helpers

class IncidentRecorderTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ledger_ = std::make_unique<Ledger>(st());
    recorder_ = std::make_unique<Recorder>(st(), *ledger_, history_);
    // Two syncs of web-prod: c2 at 5:00, then c3..c5 at 9:00.
    store::Resource app = App("web-prod", {Synced(0, "c2", At(0, 5)), Synced(1, "c5", At(0, 9))});
    Json status = app.status;
    ASSERT_TRUE(st().Create(app, "Created", ""));
    ASSERT_TRUE(st().UpdateStatus(app.key, status, 0, "Updated", ""));
    ASSERT_TRUE(recorder_->Reconcile(Recorder::KeyOf(app.key)));
    ASSERT_TRUE(st().ForEachDeployment({}, [&](store::DeploymentRecord& d) {
      ids_.push_back(d.id);
      return true;
    }));
    ASSERT_EQ(ids_.size(), 2u);
  }
  // Writes Incident `name` with `spec` and reconciles it; its status.
  Json Incident(const std::string& name, Json spec,
                std::optional<std::chrono::milliseconds>* requeue = nullptr) {
    store::Resource r = Obj("Incident", name,
                            {{"apiVersion", "strake.dev/v1"},
                             {"kind", "Incident"},
                             {"metadata", {{"name", name}, {"namespace", "shop"}}},
                             {"spec", spec}},
                            Json::object());
    auto live = st().Get(r.key);
    EXPECT_TRUE(live);
    if (live && *live) {
      r.uid = (*live)->uid;
      EXPECT_TRUE(st().Update(r, (*live)->resource_version));
    } else {
      EXPECT_TRUE(st().Create(r, "Created", ""));
    }
    auto done = recorder_->Reconcile(Recorder::KeyOf(r.key));
    EXPECT_TRUE(done) << done.error().message;
    if (requeue && done) *requeue = done->requeue_after;
    auto got = st().Get(r.key);
    return got && *got ? (*got)->status : Json();
  }
  FakeHistory history_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<Recorder> recorder_;
  std::vector<std::string> ids_;  // the two syncs' records, oldest first
};

TEST_F(IncidentRecorderTest, AnIncidentFindsItsDeploymentByIdCommitOrEnvironment) {
  // A third deployment, of commits with real SHAs (the fake history's are
  // too short to name).
  ASSERT_TRUE(
      ledger_->Record(Dep("Promotion/shop/x", "web-prod", At(0, 9) + 1, {{"abcd1234", At(0, 8)}})));
  const std::string x = "Promotion/shop/x";
  Json by_commit =
      Incident("a", {{"title", "500s"}, {"commit", "abcd"}, {"openedAt", Rfc(At(0, 10))}});
  EXPECT_EQ(by_commit.value("deployment", ""), x) << by_commit.dump();
  EXPECT_EQ(by_commit.value("environment", ""), "web-prod");
  EXPECT_EQ(by_commit.value("phase", ""), "Open");
  EXPECT_EQ((**st().GetDeployment(x)).incident, "shop/a");

  Json by_env =
      Incident("b", {{"title", "slow"}, {"environment", "web-prod"}, {"openedAt", Rfc(At(0, 6))}});
  EXPECT_EQ(by_env.value("deployment", ""), ids_[0]) << by_env.dump();  // running at 6:00
  Json by_id = Incident("c", {{"title", "t"}, {"deployment", ids_[0]}});
  EXPECT_EQ(by_id.value("deployment", ""), ids_[0]);

  std::optional<std::chrono::milliseconds> requeue;
  Json unknown =
      Incident("d", {{"title", "t"}, {"deployment", "Application/shop/gone#1"}}, &requeue);
  EXPECT_FALSE(unknown.contains("deployment"));
  EXPECT_NE(unknown.value("message", "").find("no deployment Application/shop/gone#1 is recorded"),
            std::string::npos)
      << unknown.dump();
  EXPECT_TRUE(requeue.has_value());  // looked for again
  Json bad = Incident("e", {{"title", "t"}, {"commit", "abcd"}, {"openedAt", "noon"}});
  EXPECT_NE(bad.value("message", "").find("spec.openedAt"), std::string::npos) << bad.dump();

  // Closed: restored then; the status says so.
  Json closed = Incident("a", {{"title", "500s"},
                               {"commit", "abcd"},
                               {"openedAt", Rfc(At(0, 10))},
                               {"closedAt", Rfc(At(0, 12))}});
  EXPECT_EQ(closed.value("phase", ""), "Closed");
  EXPECT_EQ(closed.value("closedAt", ""), Rfc(At(0, 12)));
  EXPECT_EQ((**st().GetDeployment(x)).restored_ms, At(0, 12));
  // Deleted: its failure is undone at its next reconcile (a deleted key).
  ASSERT_TRUE(st().Delete({"Incident", "shop", "a"}));
  ASSERT_TRUE(recorder_->Reconcile("Incident/shop/a"));
  EXPECT_EQ((**st().GetDeployment(x)).failed_ms, std::nullopt);
}

// An incident opened in the instant a deployment finished is not caused by
// it (the one running before is), whatever order they are recorded in; a
// retargeted incident has the namespace looked at again, once.
TEST_F(IncidentRecorderTest, AnIncidentOpenedAsADeploymentFinishedBlamesTheOneBefore) {
  Json tie =
      Incident("tie", {{"title", "t"}, {"environment", "web-prod"}, {"openedAt", Rfc(At(0, 9))}});
  EXPECT_EQ(tie.value("deployment", ""), ids_[0]) << tie.dump();  // not the 9:00 sync
  EXPECT_TRUE((**st().GetDeployment(ids_[1])).unplanned);         // rework of it
  Json closed = Incident("tie", {{"title", "t"},
                                 {"environment", "web-prod"},
                                 {"openedAt", Rfc(At(0, 9))},
                                 {"closedAt", Rfc(At(0, 10))}});
  EXPECT_EQ(closed.value("deployment", ""), ids_[0]);
  EXPECT_EQ(closed.value("phase", ""), "Closed");
  // Named another: the first is no longer failed; the reconcile ends.
  Json moved = Incident("tie", {{"title", "t"},
                                {"deployment", ids_[1]},
                                {"openedAt", Rfc(At(0, 9) + 1)},
                                {"closedAt", Rfc(At(0, 10))}});
  EXPECT_EQ(moved.value("deployment", ""), ids_[1]) << moved.dump();
  EXPECT_FALSE((**st().GetDeployment(ids_[0])).failed_ms);
  EXPECT_TRUE((**st().GetDeployment(ids_[1])).failed_ms);
}

// A Rollout an Application deploys: its canary aborted fails the sync that
// started it; a standalone Rollout's completions are its deployments.
TEST_F(IncidentRecorderTest, AnAbortedCanaryFailsTheSyncThatStartedIt) {
  store::Resource ro = Obj(
      "Rollout", "web",
      {{"metadata",
        {{"annotations", {{kTrackingAnnotation, "shop_web-prod:argoproj.io/Rollout:shop/web"}}}}}},
      {{"stableRS", "aaa"},
       {"currentPodHash", "bbb"},
       {"abort", true},
       {"abortedAtMs", At(0, 10)},
       {"message", "metric success-rate failed"}});
  ASSERT_TRUE(st().Create(ro, "Created", ""));
  ASSERT_TRUE(st().UpdateStatus(ro.key, ro.status, 0, "Aborted", ""));
  ASSERT_TRUE(recorder_->Reconcile(Recorder::KeyOf(ro.key)));
  auto sync = **st().GetDeployment(ids_[1]);  // web-prod's sync at 9:00
  EXPECT_EQ(sync.failed_ms, At(0, 10));
  EXPECT_EQ(sync.failure, "canary of rollout web aborted: metric success-rate failed");
  EXPECT_FALSE((**st().GetDeployment(ids_[0])).failed_ms);

  store::Resource alone =
      Obj("Rollout", "api-prod", {{"metadata", Json::object()}},
          {{"stableRS", "ccc"}, {"currentPodHash", "ccc"}, {"progressedAtMs", At(0, 11)}});
  ASSERT_TRUE(st().Create(alone, "Created", ""));
  ASSERT_TRUE(st().UpdateStatus(alone.key, alone.status, 0, "Healthy", ""));
  ASSERT_TRUE(recorder_->Reconcile(Recorder::KeyOf(alone.key)));
  // Progress later (a scale) does not move when it finished.
  alone.status["progressedAtMs"] = At(0, 12);
  ASSERT_TRUE(st().UpdateStatus(alone.key, alone.status, 0, "Healthy", ""));
  ASSERT_TRUE(recorder_->Reconcile(Recorder::KeyOf(alone.key)));
  auto d = st().GetDeployment("Rollout/shop/api-prod@ccc");
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->finished_ms, At(0, 11));
  EXPECT_EQ((*d)->environment, "api-prod");
}

}  // namespace
}  // namespace strake::insight
