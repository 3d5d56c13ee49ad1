#include "gitops/sync.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gitops/diff.h"

namespace strake::gitops {
namespace {

Desired Resource(const std::string& kind, const std::string& name, int wave = 0) {
  Desired d;
  d.key = {kind, "default", name};
  d.object = {{"apiVersion", "v1"}, {"kind", kind}, {"metadata", {{"name", name}}}};
  d.wave = wave;
  return d;
}

Desired Hook(const std::string& kind, const std::string& name, std::vector<std::string> phases,
             int wave = 0) {
  Desired d = Resource(kind, name, wave);
  d.hooks = std::move(phases);
  d.delete_policy = {"BeforeHookCreation"};
  return d;
}

Desired GeneratedHook(const std::string& prefix, std::vector<std::string> phases, int wave = 0) {
  Desired d = Hook("Job", "", std::move(phases), wave);
  d.generate_name = prefix;
  d.object["metadata"] = {{"generateName", prefix}};
  return d;
}

store::Resource Live(const std::string& name, const std::string& sync_options = "") {
  store::Resource r;
  r.key = {"ConfigMap", "default", name};
  r.object = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
  if (!sync_options.empty()) r.object["metadata"]["annotations"][kSyncOptions] = sync_options;
  return r;
}

std::vector<int> Waves(const std::vector<WaveTasks>& waves) {
  std::vector<int> out;
  for (const auto& w : waves) out.push_back(w.wave);
  return out;
}

// The names of a phase's tasks in the order they run: resources then hooks,
// wave by wave.
std::vector<std::string> Names(const std::vector<WaveTasks>& waves,
                               const std::vector<Desired>& resources,
                               const std::vector<Desired>& hooks) {
  std::vector<std::string> out;
  for (const auto& w : waves) {
    for (size_t i : w.resources) out.push_back(resources[i].key.name);
    for (size_t i : w.hooks) out.push_back(hooks[i].key.name + hooks[i].generate_name);
  }
  return out;
}

model::ApplicationSpec Automated() {
  model::ApplicationSpec spec;
  spec.automated = true;
  return spec;
}

Comparison Drifted(const std::string& revision) {
  Comparison c;
  c.revision = revision;
  c.out_of_sync = true;
  return c;
}

// An operation that ended with `phase` after syncing `revision`.
Json Ended(const std::string& phase, const std::string& revision) {
  Json op = StartOperation(revision, false, Json{{"automated", true}}, TimePoint{});
  op["phase"] = phase;
  op["syncResult"] = {{"revision", revision}};
  return op;
}

TEST(SyncPlan, ResourcesRunWaveByWaveInArgoCdsKindOrderThenKindAndName) {
  std::vector<Desired> resources = {
      Resource("Deployment", "web"),      Resource("ConfigMap", "b"),
      Resource("Job", "migrate"),         Resource("ConfigMap", "a"),
      Resource("Secret", "creds"),        Resource("Service", "late", 5),
      Resource("ConfigMap", "early", -1), Resource("CronJob", "tick")};
  SyncPlan plan = PlanSync(resources, {}, {}, false);
  EXPECT_EQ(Waves(plan.sync), (std::vector<int>{-1, 0, 5}));
  EXPECT_EQ(
      Names(plan.sync, resources, {}),
      (std::vector<std::string>{"early", "creds", "a", "b", "web", "migrate", "tick", "late"}));
  // Every wave but the last waits for its resources to be healthy.
  EXPECT_TRUE(plan.sync[0].wait_healthy);
  EXPECT_TRUE(plan.sync[1].wait_healthy);
  EXPECT_FALSE(plan.sync[2].wait_healthy);
  EXPECT_TRUE(plan.pre_sync.empty());
  EXPECT_TRUE(plan.post_sync.empty());
  EXPECT_TRUE(plan.sync_fail.empty());
}

TEST(SyncPlan, SyncHooksRunInsideTheirWaveAfterItsResources) {
  std::vector<Desired> resources = {Resource("ConfigMap", "a"), Resource("ConfigMap", "b", 2)};
  std::vector<Desired> hooks = {Hook("Job", "mid", {kSync}, 1), Hook("Job", "first", {kSync}),
                                Hook("Job", "pre", {kPreSync})};
  SyncPlan plan = PlanSync(resources, hooks, {}, false);
  // Wave 1 has only a hook: it is a wave all the same, and waits for wave 0.
  EXPECT_EQ(Waves(plan.sync), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(Names(plan.sync, resources, hooks),
            (std::vector<std::string>{"a", "first", "mid", "b"}));
  EXPECT_EQ(plan.sync[0].hooks, std::vector<size_t>{1});
  EXPECT_TRUE(plan.sync[1].resources.empty());
  EXPECT_TRUE(plan.sync[1].wait_healthy);
  EXPECT_EQ(Names(plan.pre_sync, resources, hooks), std::vector<std::string>{"pre"});
}

TEST(SyncPlan, HookPhasesGroupTheirHooksByWaveInKindOrderThenName) {
  std::vector<Desired> hooks = {Hook("Job", "z", {kPreSync}),
                                Hook("ConfigMap", "y", {kPreSync}),
                                Hook("Job", "late", {kPreSync}, 3),
                                GeneratedHook("smoke-", {kPostSync}),
                                Hook("Job", "both", {kPreSync, kPostSync}),
                                Hook("Job", "cleanup", {kSyncFail}),
                                Hook("Job", "early", {kPreSync}, -2)};
  SyncPlan plan = PlanSync({}, hooks, {}, false);
  EXPECT_EQ(Waves(plan.pre_sync), (std::vector<int>{-2, 0, 3}));
  EXPECT_EQ(Names(plan.pre_sync, {}, hooks),
            (std::vector<std::string>{"early", "y", "both", "z", "late"}));
  // A hook with two phases runs in each; a generateName hook sorts by its prefix.
  EXPECT_EQ(Names(plan.post_sync, {}, hooks), (std::vector<std::string>{"both", "smoke-"}));
  EXPECT_EQ(Names(plan.sync_fail, {}, hooks), std::vector<std::string>{"cleanup"});
  EXPECT_TRUE(plan.sync.empty());  // no resources, no Sync hooks: no wave
}

// The prune tasks of every wave of the Sync phase, in order: "wave:name".
std::vector<std::string> Prunes(const SyncPlan& plan, const std::vector<store::Resource>& gone) {
  std::vector<std::string> out;
  for (const auto& w : plan.sync) {
    for (const auto& t : w.prune)
      out.push_back(fmt::format("{}:{}", w.wave, gone[t.index].key.name));
  }
  return out;
}

store::Resource LiveInWave(const std::string& name, const std::string& wave,
                           const std::string& sync_options = "") {
  store::Resource r = Live(name, sync_options);
  r.object["metadata"]["annotations"][kSyncWave] = wave;
  return r;
}

TEST(SyncPlan, AnObjectIsPrunedInItsWaveBeforeThatWaveAppliesAndHonoursPruneFalse) {
  std::vector<store::Resource> gone = {Live("old"), Live("kept", "Prune=false"),
                                       Live("other", " Validate=false , Prune=false")};
  SyncPlan plan = PlanSync({Resource("ConfigMap", "a", 3)}, {}, gone, true);
  EXPECT_EQ(Waves(plan.sync), (std::vector<int>{0, 3}));
  ASSERT_EQ(plan.sync[0].prune.size(), 3u);
  EXPECT_TRUE(plan.sync[0].resources.empty());
  EXPECT_EQ(plan.sync[0].prune[0].index, 0u);
  EXPECT_EQ(plan.sync[0].prune[0].action, PruneAction::kPrune);
  EXPECT_EQ(plan.sync[0].prune[1].index, 1u);
  EXPECT_EQ(plan.sync[0].prune[1].action, PruneAction::kSkipNoPrune);
  EXPECT_EQ(plan.sync[0].prune[2].action, PruneAction::kSkipNoPrune);
  EXPECT_TRUE(plan.sync[1].prune.empty());
  // Without prune, nothing is deleted; Prune=false still says why it is kept.
  plan = PlanSync({}, {}, gone, false);
  ASSERT_EQ(plan.sync.size(), 1u);
  EXPECT_EQ(plan.sync[0].prune[0].action, PruneAction::kSkipNotEnabled);
  EXPECT_EQ(plan.sync[0].prune[1].action, PruneAction::kSkipNoPrune);
}

// gitops-engine: the prune waves swap ends inwards, so what was created
// last is deleted first; a wave of resources in between keeps its place.
TEST(SyncPlan, PruneWavesRunInReverse) {
  std::vector<store::Resource> gone = {LiveInWave("db", "-1"), LiveInWave("app", "5"),
                                       LiveInWave("cfg", "0"), LiveInWave("web", "5")};
  SyncPlan plan = PlanSync({Resource("ConfigMap", "new", 2)}, {}, gone, true);
  EXPECT_EQ(Prunes(plan, gone), (std::vector<std::string>{"-1:app", "-1:web", "0:cfg", "5:db"}));
  EXPECT_EQ(Waves(plan.sync), (std::vector<int>{-1, 0, 2, 5}));
  EXPECT_TRUE(plan.sync[3].resources.empty());
}

// PruneLast (the object's annotation, or the Application's option for
// every object) prunes after the last wave, prunes' waves included.
TEST(SyncPlan, PruneLastPrunesAfterTheLastWave) {
  std::vector<store::Resource> gone = {LiveInWave("a", "1", "PruneLast=true"),
                                       LiveInWave("b", "7")};
  SyncPlan plan = PlanSync({Resource("ConfigMap", "new", 2)}, {}, gone, true);
  // b's wave 7 swaps with a's 1 before PruneLast moves a past the last (7).
  EXPECT_EQ(Prunes(plan, gone), (std::vector<std::string>{"1:b", "8:a"}));
  plan = PlanSync({Resource("ConfigMap", "new", 2)}, {}, gone, true, true);
  EXPECT_EQ(Prunes(plan, gone), (std::vector<std::string>{"8:b", "8:a"}));
  // No wave at all: the last is 0, PruneLast runs in wave 1.
  plan = PlanSync({}, {}, {Live("c", "PruneLast=true")}, true);
  EXPECT_EQ(Prunes(plan, {Live("c")}), std::vector<std::string>{"1:c"});
}

// A later round of the same sync finds what an earlier one created
// unchanged: the result still says it was created.
TEST(SyncResult, KeepsWhatTheOperationDidAcrossRounds) {
  auto entry = [](const std::string& name, const std::string& status, const std::string& msg) {
    return Json{{"kind", "ConfigMap"}, {"namespace", "default"}, {"name", name},
                {"syncPhase", "Sync"}, {"status", status},       {"message", msg}};
  };
  Json first = Json::array({entry("a", "Synced", "created"), entry("b", "Synced", "unchanged"),
                            entry("c", "SyncFailed", "boom")});
  Json second = Json::array({entry("a", "Synced", "unchanged"), entry("b", "Synced", "unchanged"),
                             entry("c", "Synced", "configured"), entry("d", "Synced", "created")});
  Json kept = KeepWhatWasDone(first, second);
  ASSERT_EQ(kept.size(), 4u);
  EXPECT_EQ(kept[0]["message"], "created");
  EXPECT_EQ(kept[1]["message"], "unchanged");
  EXPECT_EQ(kept[2]["message"], "configured");
  EXPECT_EQ(kept[3]["message"], "created");
}

TEST(SyncOptions, AreReadFromTheAnnotationAsACommaSeparatedList) {
  EXPECT_TRUE(HasSyncOption(Live("a", "PruneLast=true,Prune=false").object, "Prune=false"));
  EXPECT_FALSE(HasSyncOption(Live("a", "Prune=falsey").object, "Prune=false"));
  EXPECT_FALSE(HasSyncOption(Live("a").object, "Prune=false"));
  EXPECT_FALSE(
      HasSyncOption(Json{{"metadata", {{"annotations", {{kSyncOptions, 3}}}}}}, "Prune=false"));
  EXPECT_LT(KindRank("Secret"), KindRank("ConfigMap"));
  EXPECT_LT(KindRank("Service"), KindRank("Deployment"));
  EXPECT_LT(KindRank("Job"), KindRank("CronJob"));
  EXPECT_LT(KindRank("Deployment"), KindRank("Job"));
  EXPECT_LT(KindRank("Namespace"), KindRank("Secret"));
  // A custom resource after the CustomResourceDefinition that defines it.
  EXPECT_LT(KindRank("CustomResourceDefinition"), KindRank("CronTab"));
  EXPECT_EQ(KindRank("CronTab"), KindRank("Widget"));
}

TEST(AutoSync, StartsWhenTheRevisionMovesAndNotWithoutAnAutomatedPolicy) {
  EXPECT_EQ(DecideAutoSync(Automated(), Json(), Drifted("b")), AutoSync::kStart);
  EXPECT_EQ(DecideAutoSync(Automated(), Ended("Succeeded", "a"), Drifted("b")), AutoSync::kStart);
  EXPECT_EQ(DecideAutoSync(model::ApplicationSpec{}, Json(), Drifted("b")), AutoSync::kNone);
  Comparison synced = Drifted("b");
  synced.out_of_sync = false;
  EXPECT_EQ(DecideAutoSync(Automated(), Json(), synced), AutoSync::kNone);
}

TEST(AutoSync, DriftAtTheSyncedRevisionIsHealedOnlyWithSelfHeal) {
  EXPECT_EQ(DecideAutoSync(Automated(), Ended("Succeeded", "a"), Drifted("a")), AutoSync::kNone);
  model::ApplicationSpec spec = Automated();
  spec.self_heal = true;
  EXPECT_EQ(DecideAutoSync(spec, Ended("Succeeded", "a"), Drifted("a")), AutoSync::kSelfHeal);
}

// Argo CD: "need to prune extra resources only but automated prune is
// disabled" starts nothing.
TEST(AutoSync, AnythingButPruningWithoutAutomatedPruneStartsNothing) {
  model::ApplicationSpec spec = Automated();
  spec.self_heal = true;
  Comparison c = Drifted("b");
  c.prunes = c.prunes_only = true;
  EXPECT_EQ(DecideAutoSync(spec, Ended("Succeeded", "a"), c), AutoSync::kNone);
  EXPECT_EQ(DecideAutoSync(spec, Ended("Succeeded", "b"), c), AutoSync::kNone);
  spec.prune = true;
  EXPECT_EQ(DecideAutoSync(spec, Ended("Succeeded", "a"), c), AutoSync::kStart);
  EXPECT_EQ(DecideAutoSync(spec, Ended("Succeeded", "b"), c), AutoSync::kSelfHeal);
}

// The first repair at once, then 2 s, 6 s, 18 s ... after the previous one
// finished, 5 minutes at most; the count starts again after 330 s.
TEST(AutoSync, SelfHealBacksOffAsArgoCdDoes) {
  TimePoint t0 = TimePoint{} + std::chrono::hours(1000);
  auto repaired = [&](int count, TimePoint finished) {
    Json op = Ended("Succeeded", "a");
    op["finishedAt"] = FormatRfc3339(finished);
    if (count > 0) op["operation"]["sync"]["selfHealAttemptsCount"] = count;
    return op;
  };
  using std::chrono::seconds;
  EXPECT_EQ(SelfHealWait(repaired(0, t0), t0), Millis(0));  // a sync, not a repair: at once
  EXPECT_EQ(SelfHealAttempts(repaired(0, t0), t0), 0);
  EXPECT_EQ(SelfHealWait(repaired(1, t0), t0), Millis(2'000));
  EXPECT_EQ(SelfHealWait(repaired(1, t0), t0 + seconds(1)), Millis(1'000));
  EXPECT_EQ(SelfHealWait(repaired(1, t0), t0 + seconds(2)), Millis(0));
  EXPECT_EQ(SelfHealWait(repaired(2, t0), t0), Millis(6'000));
  EXPECT_EQ(SelfHealWait(repaired(3, t0), t0), Millis(18'000));
  EXPECT_EQ(SelfHealWait(repaired(6, t0), t0), Millis(300'000));   // 486 s, capped
  EXPECT_EQ(SelfHealWait(repaired(60, t0), t0), Millis(300'000));  // no overflow
  EXPECT_EQ(SelfHealAttempts(repaired(6, t0), t0 + seconds(329)), 6);
  EXPECT_EQ(SelfHealAttempts(repaired(6, t0), t0 + seconds(330)), 0);  // cooled down
  EXPECT_EQ(SelfHealWait(repaired(6, t0), t0 + seconds(330)), Millis(0));
}

TEST(AutoSync, ARevisionWhoseSyncFailedIsNotSyncedAgainButTheNextOneIs) {
  model::ApplicationSpec spec = Automated();
  spec.self_heal = true;
  EXPECT_EQ(DecideAutoSync(spec, Ended("Failed", "a"), Drifted("a")), AutoSync::kNone);
  EXPECT_EQ(DecideAutoSync(spec, Ended("Error", "a"), Drifted("a")), AutoSync::kNone);
  EXPECT_EQ(DecideAutoSync(spec, Ended("Failed", "a"), Drifted("b")), AutoSync::kStart);
  // An operation that failed before it had a result: its asked revision counts.
  Json op = StartOperation("a", false, Json{{"automated", true}}, TimePoint{});
  op["phase"] = "Failed";
  EXPECT_EQ(OperationRevision(op), "a");
  EXPECT_EQ(DecideAutoSync(spec, op, Drifted("a")), AutoSync::kNone);
}

TEST(AutoSync, NeitherWhileAnOperationRunsNorFromAStaleSource) {
  Json running = StartOperation("a", false, Json{{"automated", true}}, TimePoint{});
  EXPECT_EQ(DecideAutoSync(Automated(), running, Drifted("b")), AutoSync::kNone);
  Comparison stale = Drifted("b");
  stale.source_stale = true;
  EXPECT_EQ(DecideAutoSync(Automated(), Json(), stale), AutoSync::kNone);
}

TEST(AutoSync, RefusesToDeleteEveryResourceUnlessAllowEmpty) {
  Comparison empty = Drifted("b");
  empty.declares_nothing = true;
  empty.prunes = true;
  EXPECT_EQ(DecideAutoSync(Automated(), Json(), empty), AutoSync::kRefused);
  // Refused even where the revision failed before: the condition says why.
  EXPECT_EQ(DecideAutoSync(Automated(), Ended("Failed", "b"), empty), AutoSync::kRefused);
  model::ApplicationSpec spec = Automated();
  spec.allow_empty = true;
  EXPECT_EQ(DecideAutoSync(spec, Json(), empty), AutoSync::kStart);
  empty.prunes = false;  // nothing to delete: nothing to refuse
  EXPECT_EQ(DecideAutoSync(Automated(), Json(), empty), AutoSync::kStart);
}

TEST(Operation, ARunningOneComparesAgainstItsOwnRevision) {
  model::ApplicationSource source;
  source.target_revision = "main";
  EXPECT_EQ(TargetRevision(source, Json()), "main");
  Json op = StartOperation("abc123", true, Json{{"username", "api"}}, FromUnixMillis(0));
  EXPECT_TRUE(OperationRunning(op));
  EXPECT_TRUE(OperationPrunes(op));
  EXPECT_EQ(TargetRevision(source, op), "abc123");
  EXPECT_EQ(op["startedAt"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(op["retryCount"], 0);
  EXPECT_EQ(op["operation"]["initiatedBy"], (Json{{"username", "api"}}));
  op["phase"] = "Succeeded";
  EXPECT_FALSE(OperationRunning(op));
  EXPECT_EQ(TargetRevision(source, op), "main");
  EXPECT_FALSE(OperationPrunes(Json()));
}

TEST(Retry, BacksOffByTheFactorUpToMaxDurationAndStopsAtTheLimit) {
  model::SyncRetry retry;
  retry.limit = 4;
  retry.duration = Millis(5000);
  retry.factor = 2;
  retry.max_duration = Millis(30'000);
  EXPECT_EQ(RetryBackoff(retry, 0), Millis(5000));
  EXPECT_EQ(RetryBackoff(retry, 1), Millis(10'000));
  EXPECT_EQ(RetryBackoff(retry, 2), Millis(20'000));
  EXPECT_EQ(RetryBackoff(retry, 3), Millis(30'000));  // 40 s, capped
  EXPECT_EQ(RetryBackoff(retry, 4), std::nullopt);
  retry.limit = -1;  // forever
  EXPECT_EQ(RetryBackoff(retry, 1000), Millis(30'000));
  retry.limit = 0;
  EXPECT_EQ(RetryBackoff(retry, 0), std::nullopt);
  EXPECT_EQ(RetryBackoff(std::nullopt, 0), std::nullopt);
}

TEST(Conclude, WaitingBeatsFailureAndFailureRetriesWhileThePolicyAllows) {
  model::SyncRetry retry;
  retry.limit = 1;
  SyncProgress p;
  Conclusion end = Conclude(p, retry, 0);
  EXPECT_EQ(end.kind, Conclusion::Kind::kSucceeded);
  EXPECT_EQ(end.requeue_after, Millis(1));
  p.waiting = "waiting for healthy state of ConfigMap/a (wave 0)";
  EXPECT_EQ(Conclude(p, retry, 0).kind, Conclusion::Kind::kWaiting);
  EXPECT_EQ(Conclude(p, retry, 0).requeue_after, Millis(1000));
  p.naming = true;  // a hook's name recorded: create it at once
  EXPECT_EQ(Conclude(p, retry, 0).requeue_after, Millis(1));
  p.waiting.clear();
  p.failures = {"ConfigMap a: invalid"};
  end = Conclude(p, retry, 0);
  EXPECT_EQ(end.kind, Conclusion::Kind::kRetrying);
  EXPECT_EQ(end.requeue_after, Millis(5000));
  end = Conclude(p, retry, 1);
  EXPECT_EQ(end.kind, Conclusion::Kind::kFailed);
  EXPECT_EQ(end.requeue_after, std::nullopt);
  EXPECT_EQ(Conclude(p, std::nullopt, 0).kind, Conclusion::Kind::kFailed);
}

TEST(History, IdsCountUpAndOnlyTheLastLimitEntriesAreKept) {
  Json history = Json::array();
  for (int i = 0; i < 4; ++i) {
    history = AppendHistory(history, {{"revision", "r" + std::to_string(i)}}, 3);
  }
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0], (Json{{"id", 1}, {"revision", "r1"}}));
  EXPECT_EQ(history[2], (Json{{"id", 3}, {"revision", "r3"}}));
  // A lower limit trims the entries kept from before.
  history = AppendHistory(history, {{"revision", "r4"}}, 1);
  EXPECT_EQ(history, (Json::array({{{"id", 4}, {"revision", "r4"}}})));
  EXPECT_TRUE(AppendHistory(history, {{"revision", "r5"}}, 0).empty());
}

TEST(Hooks, StepsFromWhatTheOperationRecorded) {
  Desired named = Hook("Job", "pre", {kPreSync});
  Desired generated = GeneratedHook("post-", {kPostSync});
  EXPECT_EQ(NextHookStep("", named, true), HookStep::kCreate);
  EXPECT_EQ(NextHookStep("", generated, true), HookStep::kName);
  EXPECT_EQ(NextHookStep("", generated, false), HookStep::kCreate);  // SyncFail: no wait
  EXPECT_EQ(NextHookStep("Pending", generated, true), HookStep::kCreate);
  EXPECT_EQ(NextHookStep("Running", named, true), HookStep::kObserve);
  EXPECT_EQ(NextHookStep("Succeeded", named, true), HookStep::kDone);
  EXPECT_EQ(NextHookStep("Failed", named, true), HookStep::kDone);
  EXPECT_EQ(HookId(kPreSync, named), "PreSync:Job/default/pre");
  EXPECT_EQ(HookId(kPostSync, generated), "PostSync:Job/default/post-");
}

TEST(Hooks, AGeneratedNameIsTheObjectsNameAndTracked) {
  Desired generated = GeneratedHook("post-", {kPostSync});
  Json obj = HookObject(generated, "post-x1y2z", AppInstance("default", "app"));
  EXPECT_FALSE(obj["metadata"].contains("generateName"));
  EXPECT_EQ(obj["metadata"]["name"], "post-x1y2z");
  EXPECT_EQ(obj["metadata"]["annotations"][kTrackingId],
            TrackingId(AppInstance("default", "app"), obj));
  Desired named = Hook("Job", "pre", {kPreSync});
  EXPECT_EQ(HookObject(named, "pre", "default_app"), named.object);
}

TEST(Hooks, ARunningHookEndsWithItsHealthAndItsDeletePolicy) {
  Desired h = Hook("Job", "pre", {kPreSync});
  h.delete_policy = {"HookSucceeded"};
  EXPECT_EQ(ObserveRunningHook(h, Health::kProgressing, ""), std::nullopt);
  auto done = ObserveRunningHook(h, Health::kHealthy, "");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->phase, "Succeeded");
  EXPECT_EQ(done->message, "succeeded");
  EXPECT_TRUE(done->remove);
  auto failed = ObserveRunningHook(h, Health::kDegraded, "job failed: BackoffLimitExceeded");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, "Failed");
  EXPECT_EQ(failed->message, "job failed: BackoffLimitExceeded");
  EXPECT_FALSE(failed->remove);
  h.delete_policy = {"HookFailed"};
  auto gone = ObserveRunningHook(h, Health::kMissing, "");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->message, "deleted while running");
  EXPECT_TRUE(gone->remove);
}

TEST(Hooks, ARetryForgetsOnlyTheFailedOnes) {
  Json hooks = {{"PreSync:Job/default/a", {{"phase", "Failed"}}},
                {"PreSync:Job/default/b", {{"phase", "Succeeded"}}},
                {"Sync:Job/default/c", {{"phase", "Failed"}}}};
  ForgetFailedHooks(hooks);
  EXPECT_EQ(hooks, (Json{{"PreSync:Job/default/b", {{"phase", "Succeeded"}}}}));
}

}  // namespace
}  // namespace strake::gitops
