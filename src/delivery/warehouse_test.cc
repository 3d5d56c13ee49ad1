#include "delivery/warehouse.h"

#include <gtest/gtest.h>

#include "delivery/artifact.h"
#include "delivery/freight.h"
#include "gitops/test_repo.h"
#include "store/sqlite_store.h"

namespace strake::delivery {
namespace {

class WarehouseTest : public gitops::GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st) << st.error().message;
    store_ = std::move(*st);
    sources_ =
        std::make_unique<gitops::Sources>(dir_ + "/git", *store_, clock_, EgressPolicy::Open());
    reconciler_ = std::make_unique<WarehouseReconciler>(*store_, *sources_, clock_);
  }

  void Apply(const std::string& subscription, const std::string& extra = "") {
    store::Resource r;
    r.key = {"Warehouse", "demo", "app"};
    r.object = Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "app", "namespace": "demo"}, "spec": {"subscriptions": []}})");
    Json git = Json::parse(subscription);
    git["repoURL"] = "file://" + bare_;
    r.object["spec"]["subscriptions"].push_back({{"git", git}});
    if (!extra.empty()) r.object["spec"].update(Json::parse(extra));
    auto existing = store_->Get(r.key);
    ASSERT_TRUE(existing);
    if (*existing) {
      ASSERT_TRUE(store_->Update(r, (*existing)->resource_version));
    } else {
      ASSERT_TRUE(store_->Create(r, "Applied", ""));
    }
  }

  controller::ReconcileResult Reconcile() {
    auto got = reconciler_->Reconcile("demo/app");
    EXPECT_TRUE(got) << got.error().message;
    return got ? *got : controller::ReconcileResult{};
  }
  Json Status() { return (*store_->Get({"Warehouse", "demo", "app"}))->status; }
  std::vector<store::Resource> Freight() { return *store_->List("Freight", "demo"); }
  std::string Condition(const std::string& type, const std::string& field = "reason") {
    for (const auto& c : Status().value("conditions", Json::array()))
      if (c.value("type", "") == type) return c.value(field, "");
    return "";
  }

  store::StorePtr store_;
  FakeClock clock_{FromUnixMillis(1'800'000'000'000)};
  std::unique_ptr<gitops::Sources> sources_;
  std::unique_ptr<WarehouseReconciler> reconciler_;
};

TEST_F(WarehouseTest, TheNewestCommitBecomesFreightNamedByItsFingerprint) {
  Write("app/main.py", "v1");
  Commit("first");
  Write("app/main.py", "v2");
  std::string head = Commit("second");
  Apply(R"({"branch": "main"})");
  auto r = Reconcile();
  EXPECT_EQ(r.requeue_after, Millis(300'000));  // Kargo's default interval
  auto freight = Freight();
  ASSERT_EQ(freight.size(), 1u);
  model::FreightCommit c;
  c.repo_url = "file://" + bare_;
  c.id = head;
  EXPECT_EQ(freight[0].key.name, FreightName({"Warehouse", "app"}, {c}));
  const Json& o = freight[0].object;
  EXPECT_EQ(o["origin"], Json({{"kind", "Warehouse"}, {"name", "app"}}));
  EXPECT_EQ(o["commits"][0]["id"], head);
  EXPECT_EQ(o["commits"][0]["branch"], "main");
  EXPECT_EQ(o["commits"][0]["message"], "second");
  EXPECT_EQ(o["commits"][0]["author"], "Tester <t@example.com>");
  EXPECT_EQ(o["alias"], freight[0].labels.at(kAliasLabel));
  Json status = Status();
  EXPECT_EQ(status["lastFreightID"], freight[0].key.name);
  EXPECT_EQ(status["discoveredArtifacts"]["git"][0]["commits"].size(), 2u);
  EXPECT_EQ(Condition("Ready"), "ArtifactsDiscovered");
  EXPECT_EQ(Condition("FreightCreated"), "NewFreight");
}

TEST_F(WarehouseTest, NothingNewBeforeTheIntervalAndNothingTwiceAfterIt) {
  Write("a", "1");
  Commit("one");
  Apply("{}", R"({"interval": "1m"})");
  Reconcile();
  ASSERT_EQ(Freight().size(), 1u);
  Write("a", "2");
  Commit("two");
  clock_.Advance(std::chrono::seconds(30));
  auto r = Reconcile();  // not due: no fetch, nothing new
  EXPECT_EQ(r.requeue_after, Millis(30'000));
  EXPECT_EQ(Freight().size(), 1u);
  clock_.Advance(std::chrono::seconds(30));
  Reconcile();
  EXPECT_EQ(Freight().size(), 2u);
  // A refresh asks for discovery now; the same commit is the same Freight.
  store::Resource w = *(*store_->Get({"Warehouse", "demo", "app"}));
  w.object["metadata"]["annotations"] = {{kRefreshAnnotation, "2026-12-05T10:00:00Z"}};
  ASSERT_TRUE(store_->Update(w, w.resource_version));
  Reconcile();
  EXPECT_EQ(Freight().size(), 2u);
  EXPECT_EQ(Condition("FreightCreated"), "AlreadyExists");
  EXPECT_EQ(Status()["lastHandledRefresh"], "2026-12-05T10:00:00Z");
}

TEST_F(WarehouseTest, APathFilterSkipsCommitsThatTouchNothingIncluded) {
  Write("apps/guestbook/deploy.yaml", "1");
  std::string wanted = Commit("guestbook");
  Write("apps/guestbook/README.md", "docs");
  Commit("readme only");
  Write("other/x", "1");
  Commit("elsewhere");
  Apply(R"({"includePaths": ["apps/guestbook"], "excludePaths": ["apps/guestbook/README.md"]})");
  Reconcile();
  auto freight = Freight();
  ASSERT_EQ(freight.size(), 1u);
  EXPECT_EQ(freight[0].object["commits"][0]["id"], wanted);
}

TEST_F(WarehouseTest, NoMatchingCommitIsMissingCommitsAndMakesNoFreight) {
  Write("docs/a", "1");
  Commit("docs");
  Apply(R"({"includePaths": ["apps"]})");
  Reconcile();
  EXPECT_TRUE(Freight().empty());
  EXPECT_EQ(Condition("Ready"), "MissingCommits");
  EXPECT_EQ(Condition("Ready", "status"), "False");
  EXPECT_EQ(Condition("Healthy"), "NoCommitsDiscovered");
  EXPECT_EQ(Condition("Healthy", "message"),
            "No commits discovered for Git repository \"file://" + bare_ + "\"");
}

TEST_F(WarehouseTest, ManualPolicyDiscoversButMakesNoFreight) {
  Write("a", "1");
  Commit("one");
  Apply("{}", R"({"freightCreationPolicy": "Manual"})");
  Reconcile();
  EXPECT_TRUE(Freight().empty());
  EXPECT_EQ(Status()["discoveredArtifacts"]["git"][0]["commits"].size(), 1u);
}

TEST_F(WarehouseTest, TheNewestTagIsTheFreightOfATagStrategy) {
  Write("a", "1");
  Commit("one");
  Sh("git -C " + work_ + " tag v1.0.0 && git -C " + work_ + " push -q origin v1.0.0");
  Write("a", "2");
  std::string second = Commit("two");
  Sh("git -C " + work_ + " tag v1.1.0 && git -C " + work_ + " push -q origin v1.1.0");
  Apply(R"({"commitSelectionStrategy": "Lexical"})");
  Reconcile();
  auto freight = Freight();
  ASSERT_EQ(freight.size(), 1u);
  EXPECT_EQ(freight[0].object["commits"][0]["tag"], "v1.1.0");
  EXPECT_EQ(freight[0].object["commits"][0]["id"], second);
}

TEST_F(WarehouseTest, AFetchThatFailsIsDiscoveryFailedAndRetriedSoon) {
  Write("a", "1");
  Commit("one");
  Apply("{}");
  Reconcile();
  ASSERT_EQ(Freight().size(), 1u);
  const int64_t observed = Status()["observedGeneration"].get<int64_t>();
  // A spec whose branch does not exist: not observed until discovered, so
  // each pass tries again (within 15 s), not after the interval.
  Apply(R"({"branch": "no-such-branch"})");
  auto r = Reconcile();
  EXPECT_EQ(r.requeue_after, Millis(15'000));
  EXPECT_EQ(Condition("Healthy"), "DiscoveryFailed");
  EXPECT_NE(Condition("Ready", "message").find("no-such-branch"), std::string::npos);
  EXPECT_EQ(Status()["observedGeneration"].get<int64_t>(), observed);
  r = Reconcile();
  EXPECT_EQ(r.requeue_after, Millis(15'000)) << "due again at once";
  EXPECT_EQ(Freight().size(), 1u);
}

TEST_F(WarehouseTest, ABranchIsNeverATagOfTheSameName) {
  Write("a", "1");
  std::string first = Commit("one");
  Sh("git -C " + work_ + " tag release && git -C " + work_ + " push -q origin release");
  Write("a", "2");
  std::string second = Commit("two", "refs/heads/release");
  Apply(R"({"branch": "release"})");
  Reconcile();
  auto freight = Freight();
  ASSERT_EQ(freight.size(), 1u);
  EXPECT_EQ(freight[0].object["commits"][0]["id"], second);
}

// strake's artifact subscription: what the pipelines built becomes Freight.
class ArtifactWarehouseTest : public WarehouseTest {
 protected:
  void ApplyArtifacts(const std::string& config) {
    store::Resource r;
    r.key = {"Warehouse", "demo", "app"};
    r.object = {
        {"apiVersion", "kargo.akuity.io/v1alpha1"},
        {"kind", "Warehouse"},
        {"metadata", {{"name", "app"}, {"namespace", "demo"}}},
        {"spec",
         {{"interval", "1h"},
          {"subscriptions",
           Json::array({{{"name", "web"}, {"artifact", {{"config", Json::parse(config)}}}}})}}}};
    ASSERT_TRUE(store_->Create(r, "Applied", ""));
  }
  void Record(const std::string& uri, char digit, const std::string& pipeline,
              const std::string& finished) {
    std::string digest = "sha256:" + std::string(64, digit);
    store::Resource a;
    a.key = {"Artifact", "demo", ArtifactName(uri, digest)};
    a.object = {{"apiVersion", "strake.dev/v1"},
                {"kind", "Artifact"},
                {"spec",
                 {{"type", "image"},
                  {"result", "IMAGE"},
                  {"uri", uri},
                  {"digest", digest},
                  {"builtBy",
                   {{"pipelineRun", "run-" + std::string(1, digit)},
                    {"pipeline", pipeline},
                    {"repoURL", "http://127.0.0.1/app.git"},
                    {"commit", std::string(40, digit)},
                    {"finishedAt", finished}}}}}};
    ASSERT_TRUE(store_->Create(a, "Recorded", ""));
  }
};

TEST_F(ArtifactWarehouseTest, TheNewestArtifactBecomesFreightAndANewOneAtOnce) {
  Record("reg/web:v1", '1', "build", "2026-12-06T10:00:00Z");
  Record("reg/web:v2", '2', "build", "2026-12-06T11:00:00Z");
  Record("reg/other:v9", '9', "other", "2026-12-06T12:00:00Z");  // not this pipeline's
  ApplyArtifacts(R"({"pipeline": "build", "repoURL": "http://127.0.0.1/app"})");
  auto r = Reconcile();
  EXPECT_EQ(r.requeue_after, Millis(3'600'000));
  auto freight = Freight();
  ASSERT_EQ(freight.size(), 1u);
  const Json& a = freight[0].object["artifacts"][0];
  EXPECT_EQ(a["artifactType"], "image");
  EXPECT_EQ(a["subscriptionName"], "web");
  EXPECT_EQ(a["version"], "sha256:" + std::string(64, '2'));
  EXPECT_EQ(a["metadata"]["uri"], "reg/web:v2");
  EXPECT_EQ(a["metadata"]["pipelineRun"], "run-2");
  EXPECT_EQ(a["metadata"]["commit"], std::string(40, '2'));
  EXPECT_FALSE(freight[0].object.contains("commits"));
  model::FreightArtifact fa = model::FreightArtifactFromJson(a);
  EXPECT_EQ(freight[0].key.name, FreightName({"Warehouse", "app"}, {}, {fa}));
  EXPECT_EQ(Status()["discoveredArtifacts"]["results"][0]["artifactReferences"].size(), 2u);
  // A new Artifact: discovered at the next look, whatever the interval.
  clock_.Advance(std::chrono::seconds(5));
  Record("reg/web:v3", '3', "build", "2026-12-06T13:00:00Z");
  Reconcile();
  ASSERT_EQ(Freight().size(), 2u);
  EXPECT_EQ(Status()["lastFreightID"], Freight()[0].key.name == freight[0].key.name
                                           ? Freight()[1].key.name
                                           : Freight()[0].key.name);
  // Nothing new: not due.
  clock_.Advance(std::chrono::seconds(5));
  EXPECT_GT(Reconcile().requeue_after->count(), 3'000'000);
}

TEST_F(ArtifactWarehouseTest, NoArtifactYetIsNotReadyAndMakesNoFreight) {
  ApplyArtifacts(R"({"pipeline": "build"})");
  Reconcile();
  EXPECT_TRUE(Freight().empty());
  EXPECT_EQ(Condition("Ready"), "MissingCommits");
  EXPECT_EQ(Condition("Ready", "message"), "No artifacts discovered for subscription \"web\"");
}

}  // namespace
}  // namespace strake::delivery
