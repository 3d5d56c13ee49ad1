#include "rollout/controller.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/fs.h"
#include "store/sqlite_store.h"

namespace strake::rollout {
namespace {

// Every revision it is asked to run is at once running and ready.
class FakeTarget : public WorkloadTarget {
 public:
  Status ScaleRevision(const RevisionSpec& spec) override {
    running_[spec.hash] = spec.replicas;
    return Ok();
  }
  void Prune(const std::string&, const std::string&, const std::set<std::string>& keep) override {
    std::erase_if(running_, [&](const auto& r) { return !keep.count(r.first); });
  }
  std::map<std::string, RevisionObservation> Observe(const std::string&,
                                                     const std::string&) override {
    std::map<std::string, RevisionObservation> out;
    for (const auto& [hash, n] : running_) {
      int ready = problem.empty() ? n : 0;
      if (auto cap = ready_at_most.find(hash); cap != ready_at_most.end())
        ready = std::min(ready, cap->second);
      out[hash] = {n, ready, problem, std::vector<std::chrono::milliseconds>(ready, ready_for)};
    }
    return out;
  }
  std::chrono::milliseconds ready_for{std::chrono::hours(1)};  // of every ready replica
  std::string problem;                       // when set, no replica is ready, and this is why
  std::map<std::string, int> ready_at_most;  // by hash: a revision's replicas come slowly

 private:
  std::map<std::string, int> running_;
};

// Keeps the last traffic each Service was given.
class NoRouter : public TrafficRouter {
 public:
  Status SetTraffic(const ServiceTraffic& t) override {
    traffic[t.service.meta.name] = t;
    return Ok();
  }
  Status ServeUnbacked(const ServiceTraffic&, const std::string&, uint64_t) override {
    return Ok();
  }
  ServiceServing Serving(const std::string&, const std::string&) override { return {}; }
  void RemoveService(const std::string&, const std::string&) override {}
  std::map<std::string, ServiceTraffic> traffic;
};

// A Rollout `web` with a setWeight step and an analysis step, reconciled by
// the real controller over a real store.
class RolloutControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("STRAKE_TEST_TMP");
    dir_ = PathJoin(base ? base : "/tmp", "rollout-controller-" + std::to_string(::getpid()));
    (void)RemoveAll(dir_);
    ASSERT_TRUE(MakeDirs(dir_));
    auto s = store::OpenSqliteStore(PathJoin(dir_, "strake.db"));
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    reconciler_ = std::make_unique<RolloutReconciler>(*store_, target_, router_, clock_);
    store::Resource t;
    t.key = {"AnalysisTemplate", "default", "gate"};
    t.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "AnalysisTemplate"},
                {"metadata", {{"name", "gate"}, {"namespace", "default"}}},
                {"spec", Json::parse(R"({"metrics":[{"name":"m","provider":{"router":{}}}]})")}};
    ASSERT_TRUE(store_->Create(t, "Created", ""));
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  static Json Template(const std::string& version) {
    return Json::parse(R"({"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
        {"name":"web","command":["server"],"env":[{"name":"VERSION","value":")" +
                       version + R"("}]}]}})");
  }

  // Applies `version` and returns its hash.
  std::string Apply(const std::string& version) {
    auto got = store_->Get({"Rollout", "default", "web"});
    EXPECT_TRUE(got);
    if (!*got) {
      store::Resource r;
      r.key = {"Rollout", "default", "web"};
      r.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                  {"kind", "Rollout"},
                  {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                  {"spec", Json::parse(R"({"replicas":1,
                     "selector":{"matchLabels":{"app":"web"}},
                     "strategy":{"canary":{"steps":[{"setWeight":50},
                       {"analysis":{"templates":[{"templateName":"gate"}]}}]}}})")}};
      r.object["spec"]["template"] = Template(version);
      EXPECT_TRUE(store_->Create(r, "Created", ""));
    } else {
      store::Resource r = **got;
      r.object["spec"]["template"] = Template(version);
      EXPECT_TRUE(store_->Update(r, r.resource_version));
    }
    return PodTemplateHash(Template(version));
  }

  // Reconciles the current version, applies `version` and returns the
  // AnalysisRun of its analysis step (the second step) after `rounds`.
  std::optional<store::Resource> StepRun(const std::string& version, int rounds = 2) {
    Reconcile();
    Apply(version);
    RolloutStatus st = Reconcile(rounds);
    auto run = Get("AnalysisRun", st.step_analysis_run);
    EXPECT_TRUE(run) << st.message;
    return run;
  }

  RolloutStatus Reconcile(int rounds = 1) {
    for (int i = 0; i < rounds; ++i) EXPECT_TRUE(reconciler_->Reconcile("default/web"));
    return RolloutStatus::FromJson((*store_->Get({"Rollout", "default", "web"}))->status);
  }

  std::optional<store::Resource> Get(const std::string& kind, const std::string& name) {
    auto got = store_->Get({kind, "default", name});
    return got ? *got : std::nullopt;
  }

  void AddService(const std::string& name, const std::string& app = "web") {
    store::Resource r;
    r.key = {"Service", "default", name};
    r.object = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"selector", {{"app", app}}}, {"ports", {{{"port", 8080}}}}}}};
    r.status = {{"clusterIP", "127.0.0.1"}};  // as the ServiceReconciler allocates
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  // Merges `strategy` into spec.strategy.canary and sets spec.replicas.
  void SetCanary(const Json& strategy, int replicas) {
    auto r = *store_->Get({"Rollout", "default", "web"});
    ASSERT_TRUE(r);
    r->object["spec"]["replicas"] = replicas;
    r->object["spec"]["strategy"]["canary"].update(strategy);
    ASSERT_TRUE(store_->Update(*r, r->resource_version));
  }

  void SetPhase(const std::string& run, const std::string& phase) {
    auto r = Get("AnalysisRun", run);
    ASSERT_TRUE(r) << run;
    ASSERT_TRUE(store_->UpdateStatus(r->key, {{"phase", phase}}, r->resource_version, phase, ""));
  }

  std::string dir_;
  store::StorePtr store_;
  FakeClock clock_{TimePoint{} + std::chrono::hours(1000)};
  FakeTarget target_;
  NoRouter router_;
  std::unique_ptr<RolloutReconciler> reconciler_;
};

// minReadySeconds: a replica ready for less is not available yet, and the
// controller looks again when it will be (nothing else would wake it).
TEST_F(RolloutControllerTest, MinReadySecondsHoldsTheRolloutUntilReplicasAreAvailable) {
  Apply("v1");
  auto r = *store_->Get({"Rollout", "default", "web"});
  r->object["spec"]["minReadySeconds"] = 30;
  ASSERT_TRUE(store_->Update(*r, r->resource_version));
  target_.ready_for = std::chrono::seconds(10);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconciler_->Reconcile("default/web"));
  auto got = reconciler_->Reconcile("default/web");
  ASSERT_TRUE(got);
  EXPECT_NE(Reconcile().phase, "Healthy");
  ASSERT_TRUE(got->requeue_after);
  EXPECT_LE(*got->requeue_after, std::chrono::milliseconds(20'010));
  target_.ready_for = std::chrono::seconds(31);
  EXPECT_EQ(Reconcile(3).phase, "Healthy");
}

// A plain Service whose selector matches the Rollout's pods, named by no
// strategy field, is served as Kubernetes serves it: over the ready replicas
// of every revision, so a canary of 1 beside a stable of 1 takes half.
TEST_F(RolloutControllerTest, APlainServiceThatSelectsThePodsIsServedOverTheReadyReplicas) {
  for (const auto& [svc, app] :
       {std::pair<std::string, std::string>{"web", "web"}, {"other", "other"}}) {
    store::Resource r;
    r.key = {"Service", "default", svc};
    r.object = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", svc}, {"namespace", "default"}}},
                {"spec", {{"selector", {{"app", app}}}, {"ports", {{{"port", 8080}}}}}}};
    r.status = {{"clusterIP", "127.0.0.1"}};  // as the ServiceReconciler allocates
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }
  std::string v1 = Apply("v1");
  Reconcile(2);
  ASSERT_TRUE(router_.traffic.count("web"));
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, "");
  EXPECT_FALSE(router_.traffic.count("other")) << "it selects other pods";
  std::string v2 = Apply("v2");
  Reconcile(3);
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, v2);
  EXPECT_EQ(router_.traffic["web"].canary_weight, 50);
}

// Step plugins are looked up in argo-rollouts-config: the Rollout's
// namespace's, else Argo's own (namespace argo-rollouts), as Argo's
// test/e2e/step-plugin/argo-rollouts-config.yaml puts it.
TEST_F(RolloutControllerTest, AStepPluginIsLookedUpInArgoRolloutsConfig) {
  auto config = [&](const std::string& ns, const std::string& plugins) {
    store::Resource c;
    c.key = {"ConfigMap", ns, "argo-rollouts-config"};
    c.object = {{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", "argo-rollouts-config"}, {"namespace", ns}}},
                {"data", {{"stepPlugins", plugins}}}};
    ASSERT_TRUE(store_->Create(c, "Created", ""));
  };
  config("argo-rollouts", "- {name: step/e2e-test-disabled, location: file://x, disabled: true}");
  Apply("v1");
  SetCanary(Json::parse(R"({"steps":[{"plugin":{"name":"step/e2e-test-disabled"}},
                                     {"plugin":{"name":"step/here"}}, {"pause":{}}]})"),
            1);
  Reconcile();
  Apply("v2");
  RolloutStatus st = Reconcile(2);
  EXPECT_EQ(st.current_step_index, 1);
  ASSERT_EQ(st.step_plugin_statuses.size(), 1u);
  EXPECT_TRUE(st.step_plugin_statuses[0].disabled);
  EXPECT_EQ(st.message,
            "step 2/3: plugin \"step/here\" not configured in configmap argo-rollouts-config "
            "(stepPlugins)");
  // The Rollout's own namespace's configuration comes first.
  config("default", "- {name: step/here, disabled: true}");
  st = Reconcile();
  EXPECT_EQ(st.current_step_index, 2);
  EXPECT_EQ(st.phase, "Paused");
  EXPECT_EQ(st.step_plugin_statuses.size(), 2u);
}

TEST_F(RolloutControllerTest, ARevisionAppliedAgainIsRenumberedAndMeasuredAgain) {
  std::string v1 = Apply("v1");
  Reconcile();
  std::string v2 = Apply("v2");
  RolloutStatus st = Reconcile(2);
  std::string first_run = "web-" + v2 + "-2-1";  // revision 2, step index 1
  ASSERT_EQ(st.step_analysis_run, first_run);
  ASSERT_TRUE(Get("AnalysisRun", first_run));
  EXPECT_EQ(Get("AnalysisRun", first_run)
                ->object["metadata"]["annotations"]
                .value("rollout.argoproj.io/revision", ""),
            "2");
  SetPhase(first_run, "Successful");
  // No trafficRouting: a round to scale the stable down, then v2 is stable.
  ASSERT_EQ(Reconcile(2).stable_rs, v2);

  // v1 comes back (re-apply or undo): revision 3, first recorded as 1.
  Apply("v1");
  st = Reconcile(2);
  const Json rec = Get("RolloutRevision", "web-" + v1)->object["spec"];
  EXPECT_EQ(rec.value("revision", 0), 3);
  EXPECT_EQ(rec.value("firstRevision", 0), 1);
  EXPECT_EQ(st.stable_rs, v2);
  EXPECT_EQ(st.step_analysis_run, "web-" + v1 + "-3-1");
  SetPhase("web-" + v1 + "-3-1", "Successful");
  ASSERT_EQ(Reconcile(2).stable_rs, v1);
  // And v2 again: revision 4, a new run; its old successful run decides nothing.
  Apply("v2");
  st = Reconcile(3);
  EXPECT_EQ(Get("RolloutRevision", "web-" + v2)->object["spec"].value("revision", 0), 4);
  EXPECT_EQ(st.step_analysis_run, "web-" + v2 + "-4-1");
  EXPECT_EQ(st.stable_rs, v1);
  EXPECT_EQ(st.current_step_index, 1);
  EXPECT_EQ(st.phase, "Progressing");
}

TEST_F(RolloutControllerTest, ARunOfAnotherRolloutIsNeverAdopted) {
  Apply("v1");
  Reconcile();
  std::string v2 = PodTemplateHash(Template("v2"));
  // A run of the same name left by another owner, successful.
  store::Resource other;
  other.key = {"AnalysisRun", "default", "web-" + v2 + "-2-1"};
  other.owner = "another-rollout";
  other.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                  {"kind", "AnalysisRun"},
                  {"metadata", {{"name", other.key.name}, {"namespace", "default"}}},
                  {"spec", {{"metrics", Json::array()}}}};
  auto made = store_->Create(other, "Created", "");
  ASSERT_TRUE(made);
  ASSERT_TRUE(store_->UpdateStatus(other.key, {{"phase", "Successful"}}, made->resource_version,
                                   "Successful", ""));
  Apply("v2");
  RolloutStatus st = Reconcile(3);
  EXPECT_TRUE(st.abort);
  EXPECT_NE(st.message.find("belongs to another rollout"), std::string::npos) << st.message;
  EXPECT_NE(st.stable_rs, v2);
}

// spec.analysis's history limits: past them, the oldest finished runs go;
// one in use stays, even past a limit of 0.
TEST_F(RolloutControllerTest, FinishedRunsPastTheHistoryLimitAreDeleted) {
  Apply("v1");
  auto ro = Get("Rollout", "web");
  ro->object["spec"]["analysis"] = {{"successfulRunHistoryLimit", 1},
                                    {"unsuccessfulRunHistoryLimit", 0}};
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  {
    auto run = StepRun("v5");
    ASSERT_TRUE(run);
    SetPhase(run->key.name, "Inconclusive");  // the rollout pauses on it: in use
    RolloutStatus st = Reconcile(2);
    EXPECT_EQ(st.step_analysis_run, run->key.name);
    EXPECT_TRUE(Get("AnalysisRun", run->key.name)) << "in use, past a limit of 0";
  }  // and gone once the next revision leaves it unused
  std::vector<std::string> made;
  for (const char* v : {"v2", "v3", "v4"}) {
    auto run = StepRun(v, 3);  // v2's first round drains v5 (maxSurge 1 of 1)
    ASSERT_TRUE(run);
    made.push_back(run->key.name);
    SetPhase(run->key.name, "Successful");
    Reconcile(3);
    clock_.Advance(std::chrono::seconds(1));
  }
  auto left = store_->List("AnalysisRun", "default");
  ASSERT_TRUE(left);
  std::vector<std::string> names;
  for (const auto& r : *left) names.push_back(r.key.name);
  EXPECT_EQ(names, std::vector<std::string>{made.back()});
}

// A Rollout analysis's analysisRunMetadata and measurementRetention reach
// the AnalysisRun it makes (strake's own labels kept beside them).
TEST_F(RolloutControllerTest, AnalysisRunMetadataAndMeasurementRetentionReachTheRun) {
  Apply("v1");
  auto ro = Get("Rollout", "web");
  ro->object["spec"]["strategy"]["canary"]["steps"][1]["analysis"].update(Json::parse(R"({
      "analysisRunMetadata": {"labels": {"team": "shop"}, "annotations": {"note": "gate"}},
      "measurementRetention": [{"metricName": "m", "limit": 20}]})"));
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  auto run = StepRun("v2");
  ASSERT_TRUE(run);
  const Json& meta = run->object["metadata"];
  EXPECT_EQ(meta["labels"].value("team", ""), "shop");
  EXPECT_EQ(meta["labels"].value("strake.dev/rollout", ""), "web");
  EXPECT_EQ(meta["annotations"].value("note", ""), "gate");
  EXPECT_EQ(meta["annotations"].value("rollout.argoproj.io/revision", ""), "2");
  EXPECT_EQ(run->object["spec"]["measurementRetention"],
            Json::parse(R"([{"metricName": "m", "limit": 20}])"));
}

// Argo's valueFrom.fieldRef: read from the Rollout when the run is made;
// a template's secretKeyRef stays a reference in the run (the run reads it).
TEST_F(RolloutControllerTest, AnalysisArgsFromFieldRefsAndSecretsReachTheRun) {
  auto gate = Get("AnalysisTemplate", "gate");
  ASSERT_TRUE(gate);
  gate->object["spec"]["args"] = Json::parse(R"([{"name":"env"},{"name":"ns"},{"name":"name"},
      {"name":"token","valueFrom":{"secretKeyRef":{"name":"creds","key":"api"}}}])");
  ASSERT_TRUE(store_->Update(*gate, gate->resource_version));
  Apply("v1");
  auto ro = Get("Rollout", "web");
  ro->object["metadata"]["labels"] = {{"env", "dev"}};
  ro->object["spec"]["strategy"]["canary"]["steps"][1]["analysis"]["args"] = Json::parse(R"([
      {"name":"env","valueFrom":{"fieldRef":{"fieldPath":"metadata.labels['env']"}}},
      {"name":"ns","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
      {"name":"name","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}])");
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  auto run = StepRun("v2");
  ASSERT_TRUE(run);
  const Json args = run->object["spec"]["args"];
  ASSERT_EQ(args.size(), 4u) << args.dump();
  EXPECT_EQ(args[0]["value"], "dev");
  EXPECT_EQ(args[1]["value"], "default");
  EXPECT_EQ(args[2]["value"], "web");
  EXPECT_FALSE(args[3].contains("value"));
  EXPECT_EQ(args[3]["valueFrom"]["secretKeyRef"]["name"], "creds");

  // A status field that does not exist aborts the update, naming the path.
  ro = Get("Rollout", "web");
  ro->object["spec"]["strategy"]["canary"]["steps"][1]["analysis"]["args"][0]["valueFrom"]
            ["fieldRef"]["fieldPath"] = "status.alb.canaryTargetGroup.name";
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  Apply("v3");
  RolloutStatus st = Reconcile(3);  // v2, superseded, goes first (maxSurge 1 of 1 replica)
  EXPECT_TRUE(st.abort);
  EXPECT_NE(st.message.find("fieldRef status.alb.canaryTargetGroup.name: no such field"),
            std::string::npos)
      << st.message;
}

// What the target says of a replica holds text its workload controls (the
// answer to a readiness probe), and the workload may read any Secret of the
// namespace: each value is masked before it becomes the Rollout's message or
// event.
TEST_F(RolloutControllerTest, AReplicasProblemIsMaskedWithTheNamespacesSecrets) {
  const std::string secret = "s3cr3t-token-value";
  store::Resource s;
  s.key = {"Secret", "default", "creds"};
  s.object = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "creds"}, {"namespace", "default"}}},
              {"stringData", {{"token", secret}}}};
  ASSERT_TRUE(store_->Create(s, "Created", ""));
  target_.problem = "replica 0: readiness: malformed status line \"" + secret + "\"";
  Apply("v1");
  RolloutStatus st = Reconcile(2);
  EXPECT_NE(st.message.find("malformed status line \"***\""), std::string::npos) << st.message;
  auto changes = store_->ChangesSince(0, 1000, {});
  ASSERT_TRUE(changes);
  for (const auto& c : *changes) EXPECT_EQ(c.message.find(secret), std::string::npos) << c.message;
  auto ro = Get("Rollout", "web");
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->status.dump().find(secret), std::string::npos) << ro->status.dump(2);
}

}  // namespace
}  // namespace strake::rollout

namespace strake::rollout {
namespace {

// Without trafficRouting the stable Service is a Service over the pods: its
// split is the replicas' (4 replicas at 50% are 2 + 2), and the status says
// the weight is approximated so.
TEST_F(RolloutControllerTest, WithoutTrafficRoutingTheStableServiceFollowsTheReplicas) {
  AddService("web");
  std::string v1 = Apply("v1");
  SetCanary({{"stableService", "web"}}, 4);
  Reconcile(2);
  std::string v2 = Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  EXPECT_TRUE(st.weights_approximated);
  EXPECT_EQ(st.canary_weight, 50);
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, v2);
  EXPECT_EQ(router_.traffic["web"].canary_weight, 50);
}

// Going back to the stable revision without trafficRouting: the dropped
// canary is scaled down within maxUnavailable and serves meanwhile, so the
// stable Service is balanced over both until it is gone.
TEST_F(RolloutControllerTest, GoingBackToStableBalancesOverTheDrainingCanary) {
  AddService("web");
  std::string v1 = Apply("v1");
  SetCanary({{"stableService", "web"}}, 4);
  Reconcile(2);
  std::string v2 = Apply("v2");
  ASSERT_EQ(Reconcile(4).current_step_index, 1);  // 2 + 2
  Apply("v1");
  RolloutStatus st = Reconcile();
  EXPECT_EQ(st.phase, "Progressing");
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, v2);  // 1 of its 2 kept: 1 of 3 serving
  EXPECT_EQ(router_.traffic["web"].canary_weight, 33);
  st = Reconcile(3);
  EXPECT_EQ(st.phase, "Healthy") << st.message;
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, "");
}

// Without trafficRouting a canary superseded mid-update (v2 at 50% of 4,
// v3 applied; maxSurge 50%, maxUnavailable 0) drains beside the stable and
// v3: while one of v3's two replicas is ready, v2 keeps one of its two, and
// the stable Service balances over all three revisions' ready replicas (v1
// 2, v2 1, v3 1), as does a plain Service.
TEST_F(RolloutControllerTest, ASupersededCanaryServesBesideStableAndTheNewCanaryWhileItDrains) {
  AddService("web");
  AddService("plain");
  std::string v1 = Apply("v1");
  SetCanary(Json::parse(R"({"stableService": "web", "maxSurge": "50%", "maxUnavailable": 0})"), 4);
  Reconcile(2);
  std::string v2 = Apply("v2");
  ASSERT_EQ(Reconcile(4).current_step_index, 1);  // 2 + 2
  std::string v3 = Apply("v3");
  target_.ready_at_most[v3] = 1;  // v3's second replica is slow to start
  RolloutStatus st = Reconcile(3);
  EXPECT_EQ(st.phase, "Progressing") << st.message;
  const ServiceTraffic& web = router_.traffic["web"];
  EXPECT_EQ(web.stable_hash, v1);
  EXPECT_EQ(web.canary_hash, v3);
  ASSERT_EQ(web.extra.size(), 1u);
  EXPECT_EQ(web.extra[0].hash, v2);
  EXPECT_EQ(web.extra[0].workload, "web");
  EXPECT_EQ(web.canary_weight, 25);
  EXPECT_EQ(web.extra[0].weight, 25);
  EXPECT_EQ(st.canary_weight, 25);
  const ServiceTraffic& plain = router_.traffic["plain"];
  EXPECT_EQ(plain.canary_weight, 25);
  ASSERT_EQ(plain.extra.size(), 1u);
  EXPECT_EQ(plain.extra[0].weight, 25);
  // v3's second replica is ready: v2 goes, two revisions again.
  target_.ready_at_most.clear();
  st = Reconcile(3);
  EXPECT_EQ(router_.traffic["web"].extra.size(), 0u);
  EXPECT_EQ(router_.traffic["web"].canary_hash, v3);
}

// With trafficRouting the router's weight is exact: 50% though the canary
// runs 2 replicas beside the stable's 4.
TEST_F(RolloutControllerTest, WithTrafficRoutingTheWeightIsExact) {
  AddService("web");
  Apply("v1");
  SetCanary({{"stableService", "web"}, {"trafficRouting", {{"smi", Json::object()}}}}, 4);
  Reconcile(2);
  Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  EXPECT_FALSE(st.weights_approximated);
  EXPECT_EQ(st.canary_weight, 50);
  EXPECT_EQ(router_.traffic["web"].canary_weight, 50);
  EXPECT_EQ(st.replicas, 6);
}

// trafficRouting.istio: the router's weight is exact, and the VirtualService
// in the store says the same weight, as Argo keeps it; a VirtualService that
// is not there degrades the rollout, naming it.
TEST_F(RolloutControllerTest, TheVirtualServiceIsKeptAtTheWeights) {
  AddService("web");
  AddService("web-canary");
  store::Resource vs;
  vs.key = {"VirtualService", "default", "web-vs"};
  vs.object = Json::parse(R"({"apiVersion": "networking.istio.io/v1alpha3",
      "kind": "VirtualService", "metadata": {"name": "web-vs", "namespace": "default"},
      "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
        {"destination": {"host": "web"}, "weight": 100},
        {"destination": {"host": "web-canary"}, "weight": 0}]}]}})");
  ASSERT_TRUE(store_->Create(vs, "Created", ""));
  Apply("v1");
  SetCanary(Json::parse(R"({"stableService": "web", "canaryService": "web-canary",
      "trafficRouting": {"istio": {"virtualService": {"name": "web-vs", "routes": ["primary"]}}}})"),
            2);
  Reconcile(2);
  Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  EXPECT_EQ(router_.traffic["web"].canary_weight, 50);
  Json route = Get("VirtualService", "web-vs")->object["spec"]["http"][0]["route"];
  EXPECT_EQ(route[0]["weight"], 50) << route.dump();
  EXPECT_EQ(route[1]["weight"], 50);

  ASSERT_TRUE(store_->Delete(vs.key));
  Apply("v3");
  st = Reconcile(2);
  EXPECT_NE(st.message.find("virtualservice \"web-vs\" not found"), std::string::npos)
      << st.message;
}

// nginx (Argo's test/e2e/functional/nginx-template.yaml Ingress): the
// canary Ingress is made, owned by the Rollout, and kept at the weight.
TEST_F(RolloutControllerTest, TheNginxCanaryIngressIsMadeAndKeptAtTheWeight) {
  AddService("web");
  AddService("web-canary");
  store::Resource ing;
  ing.key = {"Ingress", "default", "web-ingress"};
  ing.object = Json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
      "metadata": {"name": "web-ingress", "namespace": "default",
                   "annotations": {"kubernetes.io/ingress.class": "nginx"}},
      "spec": {"rules": [{"http": {"paths": [{"path": "/*", "pathType": "Prefix",
          "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})");
  ASSERT_TRUE(store_->Create(ing, "Created", ""));
  Apply("v1");
  SetCanary(Json::parse(R"({"stableService": "web", "canaryService": "web-canary",
      "trafficRouting": {"nginx": {"stableIngress": "web-ingress"}}})"),
            2);
  Reconcile(2);
  auto canary = Get("Ingress", "web-web-ingress-canary");
  ASSERT_TRUE(canary);
  EXPECT_EQ(canary->owner, Get("Rollout", "web")->uid);
  EXPECT_EQ(canary->object["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
            "0");
  Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  canary = Get("Ingress", "web-web-ingress-canary");
  EXPECT_EQ(canary->object["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
            "50");
  EXPECT_EQ(canary->object["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "web-canary");
}

// Traefik, APISIX and Ambassador (Argo's docs and examples): the
// TraefikService's and the ApisixRoute's weights are kept; Ambassador's
// canary Mapping is made while the canary has weight, owned by the
// Rollout, and deleted when the canary ends.
TEST_F(RolloutControllerTest, TraefikApisixAndAmbassadorObjectsAreKeptAtTheWeight) {
  AddService("web");
  AddService("web-canary");
  auto add = [&](const char* kind, const std::string& name, const char* object) {
    store::Resource r;
    r.key = {kind, "default", name};
    r.object = Json::parse(object);
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  };
  add("TraefikService", "web-ts", R"({"apiVersion": "traefik.io/v1alpha1",
      "kind": "TraefikService", "metadata": {"name": "web-ts", "namespace": "default"},
      "spec": {"weighted": {"services": [{"name": "web", "port": 80},
                                         {"name": "web-canary", "port": 80}]}}})");
  add("ApisixRoute", "web-route", R"({"apiVersion": "apisix.apache.org/v2",
      "kind": "ApisixRoute", "metadata": {"name": "web-route", "namespace": "default"},
      "spec": {"http": [{"name": "web-route", "backends": [
          {"serviceName": "web", "servicePort": 80},
          {"serviceName": "web-canary", "servicePort": 80}]}]}})");
  add("Mapping", "echo", R"({"apiVersion": "getambassador.io/v2", "kind": "Mapping",
      "metadata": {"name": "echo", "namespace": "default"},
      "spec": {"prefix": "/echo", "service": "web:80"}})");
  Apply("v1");
  SetCanary(Json::parse(R"({"stableService": "web", "canaryService": "web-canary",
      "trafficRouting": {"traefik": {"weightedTraefikServiceName": "web-ts"},
                         "apisix": {"route": {"name": "web-route"}},
                         "ambassador": {"mappings": ["echo"]}}})"),
            2);
  Reconcile(2);
  EXPECT_FALSE(Get("Mapping", "echo-canary")) << "no canary Mapping at weight 0";
  Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  Json services = Get("TraefikService", "web-ts")->object["spec"]["weighted"]["services"];
  EXPECT_EQ(services[0]["weight"], 50) << services.dump();
  EXPECT_EQ(services[1]["weight"], 50);
  Json backends = Get("ApisixRoute", "web-route")->object["spec"]["http"][0]["backends"];
  EXPECT_EQ(backends[1]["weight"], 50) << backends.dump();
  auto mapping = Get("Mapping", "echo-canary");
  ASSERT_TRUE(mapping);
  EXPECT_EQ(mapping->owner, Get("Rollout", "web")->uid);
  EXPECT_EQ(mapping->object["spec"]["service"], "web-canary:80");
  EXPECT_EQ(mapping->object["spec"]["weight"], 50);
  ASSERT_FALSE(st.step_analysis_run.empty()) << st.message;
  SetPhase(st.step_analysis_run, "Successful");
  st = Reconcile(4);  // promoted: the canary is the stable, its Mapping goes
  EXPECT_EQ(st.phase, "Healthy") << st.message;
  EXPECT_FALSE(Get("Mapping", "echo-canary"));
  services = Get("TraefikService", "web-ts")->object["spec"]["weighted"]["services"];
  EXPECT_EQ(services[1]["weight"], 0) << services.dump();
}

// An experiment step (Argo's examples/traffic-routing-experiment-step):
// the Rollout makes its Experiment from the stable and canary templates, and
// while it runs the router sends each weighted template its share.
TEST_F(RolloutControllerTest, AnExperimentStepMakesItsExperimentAndRoutesItsTemplates) {
  AddService("web");
  std::string v1 = Apply("v1");
  auto ro = Get("Rollout", "web");
  ro->object["spec"]["strategy"]["canary"] = Json::parse(R"({"stableService": "web",
      "trafficRouting": {"smi": {}},
      "steps": [{"setWeight": 10},
                {"experiment": {"duration": "1m", "templates": [
                    {"name": "baseline", "specRef": "stable", "weight": 20},
                    {"name": "canary", "specRef": "canary"}],
                  "analyses": [{"name": "judge", "templateName": "gate",
                                "args": []}],
                  "analysisRunMetadata": {"labels": {"team": "shop"}}}}]})");
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  Reconcile(2);
  std::string v2 = Apply("v2");
  RolloutStatus st = Reconcile(3);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  ASSERT_FALSE(st.current_experiment.empty()) << st.message;
  auto exp = Get("Experiment", st.current_experiment);
  ASSERT_TRUE(exp) << st.current_experiment;
  EXPECT_EQ(exp->owner, Get("Rollout", "web")->uid);
  const Json& spec = exp->object["spec"];
  EXPECT_EQ(spec["templates"][0]["template"], Template("v1"));
  EXPECT_EQ(spec["templates"][1]["template"], Template("v2"));
  EXPECT_TRUE(spec["templates"][0].contains("service"));   // weighted: a Service
  EXPECT_FALSE(spec["templates"][1].contains("service"));  // as in Argo
  EXPECT_EQ(exp->object["metadata"]["annotations"]["strake.dev/stable-hash"], v1);
  EXPECT_EQ(spec["analysisRunMetadata"]["labels"]["team"], "shop");
  EXPECT_EQ(router_.traffic["web"].extra.size(), 0u);  // not running yet

  ASSERT_TRUE(store_->UpdateStatus(exp->key, Json::parse(R"({"phase": "Running",
      "templateStatuses": [{"name": "baseline", "podTemplateHash": "b1"},
                           {"name": "canary", "podTemplateHash": "c1"}]})"),
                                   exp->resource_version, "Running", ""));
  st = Reconcile();
  ASSERT_EQ(router_.traffic["web"].extra.size(), 1u) << st.message;
  EXPECT_EQ(router_.traffic["web"].extra[0].hash, "b1");
  EXPECT_EQ(router_.traffic["web"].extra[0].weight, 20);
  EXPECT_EQ(router_.traffic["web"].extra[0].workload, "experiment." + st.current_experiment);
  EXPECT_EQ(router_.traffic["web"].canary_weight, 10);

  // Promoted past it: it is terminated, and its share goes back to stable.
  ASSERT_TRUE(reconciler_->Act("default", "web", "promote", false, 0));
  std::string name = st.current_experiment;
  st = Reconcile();
  EXPECT_TRUE(Get("Experiment", name)->object["spec"].value("terminate", false));
  EXPECT_EQ(router_.traffic["web"].extra.size(), 0u);
}

// stableService and canaryService without trafficRouting each select their
// revision's replicas only; after an abort the canary Service points at the
// stable revision, as in Argo, rather than at nothing.
TEST_F(RolloutControllerTest, StableAndCanaryServicesSelectTheirRevisionAndAbortPointsBoth) {
  AddService("web");
  AddService("web-canary");
  std::string v1 = Apply("v1");
  SetCanary({{"stableService", "web"}, {"canaryService", "web-canary"}}, 4);
  Reconcile(2);
  EXPECT_EQ(router_.traffic["web-canary"].stable_hash, v1);  // no canary yet
  std::string v2 = Apply("v2");
  RolloutStatus st = Reconcile(4);
  ASSERT_EQ(st.current_step_index, 1) << st.message;
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].canary_hash, "");
  EXPECT_EQ(router_.traffic["web-canary"].stable_hash, v2);
  EXPECT_EQ(router_.traffic["web-canary"].canary_hash, "");
  ASSERT_TRUE(reconciler_->Act("default", "web", "abort", false, 0));
  st = Reconcile();
  EXPECT_TRUE(st.abort);
  EXPECT_EQ(router_.traffic["web-canary"].stable_hash, v1);
  EXPECT_EQ(router_.traffic["web"].stable_hash, v1);
}

// A builtin rollback rule is named as Argo names a ClusterAnalysisTemplate;
// one of that name in the store takes its place.
TEST_F(RolloutControllerTest, ABuiltinClusterTemplateIsUsedUnlessTheStoreHasOne) {
  Apply("v1");
  auto ro = Get("Rollout", "web");
  ro->object["spec"]["strategy"]["canary"]["steps"][1]["analysis"] = Json::parse(R"({
      "templates":[{"templateName":"strake-error-rate","clusterScope":true}],
      "args":[{"name":"service","value":"web"},{"name":"count","value":"3"}]})");
  ASSERT_TRUE(store_->Update(*ro, ro->resource_version));
  Reconcile();
  Apply("v2");
  RolloutStatus st = Reconcile(2);
  auto run = Get("AnalysisRun", st.step_analysis_run);
  ASSERT_TRUE(run) << st.message;
  EXPECT_EQ(run->object["spec"]["metrics"][0]["name"], "error-rate");
  EXPECT_EQ(run->object["spec"]["metrics"][0]["provider"]["router"]["window"], "3m");

  store::Resource mine;
  mine.key = {"ClusterAnalysisTemplate", "", "strake-error-rate"};
  mine.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                 {"kind", "ClusterAnalysisTemplate"},
                 {"metadata", {{"name", "strake-error-rate"}}},
                 {"spec", Json::parse(R"({"args":[{"name":"service"},{"name":"count"}],
                     "metrics":[{"name":"mine","provider":{"router":{}}}]})")}};
  ASSERT_TRUE(store_->Create(mine, "Created", ""));
  Apply("v3");
  st = Reconcile(3);  // v2, superseded, goes first (maxSurge 1 of 1 replica)
  run = Get("AnalysisRun", st.step_analysis_run);
  ASSERT_TRUE(run) << st.message;
  EXPECT_EQ(run->object["spec"]["metrics"][0]["name"], "mine");
}

}  // namespace
}  // namespace strake::rollout
