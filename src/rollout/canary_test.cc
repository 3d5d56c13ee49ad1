#include "rollout/canary.h"

#include <gtest/gtest.h>

#include "model/decode.h"
#include "rollout/actions.h"

namespace strake::rollout {
namespace {

using namespace std::chrono_literals;

model::RolloutSpec Spec(const std::string& strategy_yaml, int replicas = 4) {
  std::string text = fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: {}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, command: [server]}}]
  strategy:
{})",
                                 replicas, strategy_yaml);
  auto docs = model::ParseYaml(text, "r.yaml");
  EXPECT_TRUE(docs) << (docs ? "" : docs.error().message);
  model::Diagnostics diags;
  auto res = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return std::get<model::Rollout>(res.at(0).value).spec;
}

// Drives the state machine as the controller would: numbers revisions as
// RecordRevision does (a hash gets the next number when it is new or current
// again after another) and applies each decision's replicas as instantly
// ready unless told otherwise.
class Driver {
 public:
  explicit Driver(model::RolloutSpec spec) : spec_(std::move(spec)) {
    obs_.now = TimePoint{} + std::chrono::hours(1000);
  }
  Decision Round(const std::string& hash, bool make_ready = true) {
    obs_.desired_hash = hash;
    if (!obs_.first_revision.count(hash)) {
      obs_.first_revision[hash] = revision_[hash] = ++newest_;
    } else if (revision_[hash] != newest_) {
      revision_[hash] = ++newest_;
    }
    obs_.revision = revision_[hash];
    Decision d = Step("web", spec_, status_, obs_);
    status_ = d.status;
    for (const auto& a : d.start_analysis) obs_.analysis_phase[a.name] = "Running";
    if (make_ready) {
      obs_.revisions.clear();
      for (const auto& [h, n] : d.replicas) obs_.revisions[h] = {n, n, "", {}};
    }
    last_ = d;
    return d;
  }
  void Advance(std::chrono::milliseconds ms) { obs_.now += ms; }
  void SetAnalysis(const std::string& run, const std::string& phase) {
    obs_.analysis_phase[run] = phase;
  }
  void SetReady(const std::string& hash, int ready) { obs_.revisions[hash].ready = ready; }
  void SetStepPlugins(std::map<std::string, StepPluginConfig> plugins) {
    obs_.step_plugins = std::move(plugins);
  }
  void SetExperiment(const std::string& name, const std::string& phase,
                     const std::string& message = "") {
    obs_.experiment_phase[name] = phase;
    obs_.experiment_message[name] = message;
  }
  // Runs what `d` asks for as a slow target would: a replica removed is
  // gone, a new one is ready only at the next call.
  void ApplySlowly(const Decision& d) {
    std::map<std::string, RevisionObservation> next;
    for (const auto& [h, n] : d.replicas) {
      auto it = obs_.revisions.find(h);
      int running = it == obs_.revisions.end() ? 0 : it->second.replicas;
      next[h] = {n, std::min(n, running), "", {}};
    }
    obs_.revisions = next;
  }
  const std::map<std::string, RevisionObservation>& revisions() const { return obs_.revisions; }
  RolloutStatus& status() { return status_; }
  const model::RolloutSpec& spec() const { return spec_; }
  TimePoint now() const { return obs_.now; }

 private:
  model::RolloutSpec spec_;
  RolloutStatus status_;
  Observation obs_;
  Decision last_;
  std::map<std::string, int64_t> revision_;
  int64_t newest_ = 0;
};

// From a healthy v1 to v2's analysis step (the run web-v2-2-2 started: v2 is
// revision 2, the analysis step's index is 2).
void ToAnalysis(Driver& drv) {
  drv.Round("v1");
  drv.Round("v2");  // setWeight 25 waits for the canary
  drv.Round("v2");  // ready: the pause starts
  drv.Advance(std::chrono::seconds(10));
  drv.Round("v2");  // the pause ends: the analysis starts
}

// With trafficRouting: the router sets exact weights and stable keeps every
// replica beside the canary's (kBasic, below, is the canary without it).
constexpr const char* kSteps = R"(    canary:
      stableService: web
      trafficRouting: {smi: {}}
      steps:
      - setWeight: 25
      - pause: {duration: 10s}
      - analysis: {templates: [{templateName: ok}]}
      - setWeight: 50
      - pause: {}
)";

TEST(CanaryTest, FirstDeploymentGoesStraightToStable) {
  Driver drv(Spec(kSteps));
  Decision d = drv.Round("v1", false);
  EXPECT_EQ(d.status.stable_rs, "v1");
  EXPECT_EQ(d.replicas.at("v1"), 4);
  EXPECT_EQ(d.status.phase, "Progressing");
  EXPECT_EQ(d.reason, "RolloutCreated");
  EXPECT_EQ(d.status.message, "waiting for stable v1: 0/4 ready");
  drv.SetReady("v1", 4);
  d = drv.Round("v1");
  EXPECT_EQ(d.status.phase, "Healthy");
  EXPECT_EQ(d.canary_hash, "");
}

TEST(CanaryTest, WalksEveryStepToPromotion) {
  Driver drv(Spec(kSteps));
  drv.Round("v1");
  drv.Round("v1");
  // setWeight 25 waits for the canary's replica to be ready.
  Decision d = drv.Round("v2", false);
  EXPECT_EQ(d.reason, "RolloutUpdated");
  EXPECT_EQ(d.canary_hash, "v2");
  EXPECT_EQ(d.canary_weight, 25);
  EXPECT_EQ(d.replicas.at("v2"), 1);
  EXPECT_EQ(d.replicas.at("v1"), 4);
  EXPECT_EQ(d.status.current_step_index, 0);
  drv.SetReady("v2", 1);
  d = drv.Round("v2");
  // The pause step: paused for 10s.
  EXPECT_EQ(d.status.current_step_index, 1);
  EXPECT_EQ(d.status.phase, "Paused");
  ASSERT_TRUE(d.requeue_after);
  EXPECT_EQ(*d.requeue_after, 10s);
  drv.Advance(9s);
  EXPECT_EQ(drv.Round("v2").status.current_step_index, 1);
  drv.Advance(1s);
  d = drv.Round("v2");
  // The analysis step starts a run and waits for it.
  EXPECT_EQ(d.status.current_step_index, 2);
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-2-2");
  EXPECT_EQ(d.status.phase, "Progressing");
  EXPECT_TRUE(drv.Round("v2").start_analysis.empty());  // started once
  drv.SetAnalysis("web-v2-2-2", "Successful");
  d = drv.Round("v2");
  // setWeight 50 waits for its second canary replica, then the indefinite pause.
  EXPECT_EQ(d.status.current_step_index, 3);
  EXPECT_EQ(d.status.phase, "Progressing");
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 4);
  EXPECT_EQ(d.canary_weight, 50);
  EXPECT_EQ(d.replicas.at("v2"), 2);
  EXPECT_EQ(d.status.phase, "Paused");
  drv.Advance(std::chrono::hours(1));
  EXPECT_EQ(drv.Round("v2").status.phase, "Paused");  // waits for promote
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  // Past the last step the canary scales up, its traffic unchanged, and
  // becomes stable only once every replica is ready (Argo's shouldFullPromote).
  d = drv.Round("v2", false);
  EXPECT_EQ(d.status.stable_rs, "v1");
  EXPECT_EQ(d.replicas.at("v2"), 4);
  EXPECT_EQ(d.canary_weight, 50);
  EXPECT_EQ(d.status.phase, "Progressing");
  EXPECT_NE(d.status.message.find("2/4 ready"), std::string::npos) << d.status.message;
  drv.SetReady("v2", 4);
  d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutCompleted");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.stable_hash, "v2");
  EXPECT_EQ(d.canary_weight, 0);
  EXPECT_EQ(d.replicas.at("v2"), 4);
  // The old stable stays up for scaleDownDelaySeconds (30), then goes.
  EXPECT_EQ(d.replicas.at("v1"), 4);
  drv.Advance(31s);
  d = drv.Round("v2");
  EXPECT_EQ(d.replicas.count("v1"), 0u);
  EXPECT_EQ(d.status.phase, "Healthy");
}

TEST(CanaryTest, FailedAnalysisAbortsAtOnceAndScalesDownLater) {
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  drv.SetAnalysis("web-v2-2-2", "Failed");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutAborted");
  EXPECT_TRUE(d.status.abort);
  EXPECT_EQ(d.canary_weight, 0);
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_NE(d.status.message.find("web-v2-2-2 failed"), std::string::npos) << d.status.message;
  EXPECT_EQ(d.replicas.at("v2"), 1);  // kept for abortScaleDownDelaySeconds
  drv.Advance(31s);
  d = drv.Round("v2");
  EXPECT_EQ(d.replicas.count("v2"), 0u);
  EXPECT_EQ(d.replicas.at("v1"), 4);
  EXPECT_EQ(d.status.phase, "Degraded");
  // promote is refused while aborted; retry starts over.
  EXPECT_FALSE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  ASSERT_TRUE(ApplyAction("retry", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 0);
  EXPECT_EQ(d.canary_weight, 25);
  EXPECT_EQ(d.status.phase, "Progressing");
}

TEST(CanaryTest, UserAbortSendsAllTrafficToStable) {
  Driver drv(Spec(kSteps));
  drv.Round("v1");
  drv.Round("v2");
  ASSERT_TRUE(ApplyAction("abort", false, drv.spec(), drv.status(), drv.now()));
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.canary_weight, 0);
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_EQ(d.status.message, "RolloutAborted: aborted by the user");
}

TEST(CanaryTest, InconclusiveAnalysisPausesUntilPromoted) {
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  drv.SetAnalysis("web-v2-2-2", "Inconclusive");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Paused");
  EXPECT_FALSE(d.status.abort);
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 3);  // past the analysis, at setWeight 50
  EXPECT_EQ(d.canary_weight, 50);
}

TEST(CanaryTest, NewRevisionMidRolloutStartsOver) {
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  Decision d = drv.Round("v3");
  EXPECT_EQ(d.status.current_step_index, 0);
  EXPECT_EQ(d.canary_hash, "v3");
  EXPECT_EQ(d.replicas.count("v2"), 0u);  // the superseded canary goes at once
  ASSERT_EQ(d.terminate_analysis.size(), 1u);
  EXPECT_EQ(d.terminate_analysis[0], "web-v2-2-2");
}

TEST(CanaryTest, RevertingToStableDropsTheCanary) {
  Driver drv(Spec(kSteps));
  drv.Round("v1");
  drv.Round("v2");
  Decision d = drv.Round("v1");
  EXPECT_EQ(d.reason, "RolloutReverted");
  EXPECT_EQ(d.canary_hash, "");
  EXPECT_EQ(d.replicas.count("v2"), 0u);
  EXPECT_EQ(d.status.phase, "Healthy");
}

TEST(CanaryTest, PromoteFullSkipsEveryStep) {
  Driver drv(Spec(kSteps));
  drv.Round("v1");
  drv.Round("v2");
  ASSERT_TRUE(ApplyAction("promote", true, drv.spec(), drv.status(), drv.now()));
  Decision d = drv.Round("v2");  // scaled up to every replica first
  EXPECT_EQ(d.status.stable_rs, "v1");
  EXPECT_EQ(d.replicas.at("v2"), 4);
  d = drv.Round("v2");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.reason, "RolloutCompleted");
}

TEST(CanaryTest, HeaderAndMirrorRoutesFollowTheSteps) {
  Driver drv(Spec(R"(    canary:
      trafficRouting: {managedRoutes: [{name: beta}, {name: copy}]}
      steps:
      - setHeaderRoute: {name: beta, match: [{headerName: X-Beta, headerValue: {exact: "1"}}]}
      - setMirrorRoute: {name: copy, percentage: 30, match: [{method: {exact: GET}}]}
      - pause: {}
      - setHeaderRoute: {name: beta}
      - setCanaryScale: {replicas: 3}
      - pause: {}
)"));
  drv.Round("v1");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 2);
  ASSERT_EQ(d.header_routes.size(), 1u);
  EXPECT_EQ(d.header_routes[0].match[0].header_name, "X-Beta");
  ASSERT_EQ(d.mirror_routes.size(), 1u);
  EXPECT_EQ(d.mirror_routes[0].percentage, 30);
  EXPECT_EQ(d.canary_weight, 0);
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 5);
  EXPECT_TRUE(d.header_routes.empty());  // removed by the match-less step
  EXPECT_EQ(d.replicas.at("v2"), 3);     // setCanaryScale
}

// A route beside a pause applies while the step waits (Argo's combined
// steps: one action, with setCanaryScale/setHeaderRoute/setMirrorRoute).
TEST(CanaryTest, ARouteBesideAPauseAppliesWhileItWaits) {
  Driver drv(Spec(R"(    canary:
      stableService: web
      trafficRouting: {managedRoutes: [{name: h}]}
      steps:
      - setWeight: 20
      - pause: {}
        setCanaryScale: {replicas: 3}
        setHeaderRoute: {name: h, match: [{headerName: x, headerValue: {exact: "1"}}]}
)"));
  drv.Round("v1");
  drv.Round("v2");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 1);
  EXPECT_EQ(d.status.phase, "Paused");
  ASSERT_EQ(d.header_routes.size(), 1u);
  EXPECT_EQ(d.header_routes[0].name, "h");
  EXPECT_EQ(d.replicas.at("v2"), 3);
}

TEST(CanaryTest, BackgroundAnalysisFromItsStartingStep) {
  Driver drv(Spec(R"(    canary:
      trafficRouting: {smi: {}}
      analysis: {templates: [{templateName: bg}], startingStep: 1}
      steps:
      - setWeight: 10
      - pause: {}
)"));
  drv.Round("v1");
  Decision d = drv.Round("v2", false);
  EXPECT_TRUE(d.start_analysis.empty());  // still at step 0
  drv.SetReady("v2", 1);
  d = drv.Round("v2");
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].kind, "Background");
  drv.SetAnalysis("web-v2-2", "Error");
  d = drv.Round("v2");
  EXPECT_TRUE(d.status.abort);
  EXPECT_NE(d.status.message.find("errored"), std::string::npos);
}

// Argo's indefinite steps and replica progress: an analysis step that runs
// past the deadline, and a canary whose replicas come slowly but steadily,
// are not past it.
TEST(CanaryTest, AnAnalysisStepOrSlowButSteadyReplicasAreNotPastTheProgressDeadline) {
  auto spec = Spec(kSteps);
  spec.progress_deadline_seconds = 60;
  Driver drv(spec);
  ToAnalysis(drv);
  drv.Advance(120s);
  EXPECT_EQ(drv.Round("v2").status.phase, "Progressing");

  auto slow = Spec(R"(    canary:
      stableService: web
      trafficRouting: {smi: {}}
      steps:
      - setWeight: 100
      - pause: {}
)");
  slow.progress_deadline_seconds = 60;
  Driver drv2(slow);
  drv2.Round("v1");
  drv2.ApplySlowly(drv2.Round("v2", false));  // 4 canary replicas running, none ready
  Decision d;
  for (int ready = 1; ready <= 4; ++ready) {
    drv2.Advance(50s);
    drv2.SetReady("v2", ready);
    d = drv2.Round("v2", false);
    EXPECT_NE(d.status.phase, "Degraded") << ready;
  }
  EXPECT_EQ(d.status.phase, "Paused");
  // And one that stops coming is past it.
  Driver drv3(slow);
  drv3.Round("v1");
  drv3.ApplySlowly(drv3.Round("v2", false));
  drv3.SetReady("v2", 1);
  drv3.Round("v2", false);
  drv3.Advance(61s);
  EXPECT_EQ(drv3.Round("v2", false).status.phase, "Degraded");
}

TEST(CanaryTest, ProgressDeadlineAbortsWhenAsked) {
  auto spec = Spec(kSteps);
  spec.progress_deadline_seconds = 60;
  spec.progress_deadline_abort = true;
  Driver drv(spec);
  drv.Round("v1");
  drv.Round("v2", false);  // the canary never becomes ready
  drv.Advance(61s);
  Decision d = drv.Round("v2", false);
  EXPECT_TRUE(d.status.abort);
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_NE(d.status.message.find("ProgressDeadlineExceeded"), std::string::npos);
}

// Without trafficRouting the abort goes back by replica counts, so the
// weight in the status is what the replicas still serve from the abort's
// round on (it read 0 for a round while the canary still served).
TEST(BasicCanaryTest, AProgressDeadlineAbortReportsTheWeightTheReplicasServe) {
  auto spec = Spec(R"(    canary:
      stableService: web
      steps:
      - setWeight: 40
      - setWeight: 80
)",
                   5);
  spec.progress_deadline_seconds = 60;
  spec.progress_deadline_abort = true;
  Driver drv(spec);
  drv.Round("v1");
  drv.Round("v1");
  Decision d;
  for (int i = 0; i < 5 && d.status.current_step_index < 1; ++i) d = drv.Round("v2");
  ASSERT_EQ(d.status.current_step_index, 1);  // 80%: 4 canary + 2 stable ready
  drv.Round("v2", false);                     // and stuck there (no replica changes)
  drv.Advance(61s);
  d = drv.Round("v2", false);
  ASSERT_TRUE(d.status.abort);
  // Back within the limits (maxSurge 2, maxUnavailable 1 of 5): the stable
  // grows to 3, two canary replicas go and two stay, serving.
  EXPECT_EQ(d.replicas.at("v1"), 3);
  EXPECT_EQ(d.replicas.at("v2"), 2);
  EXPECT_EQ(d.status.canary_weight, 50);  // 2 of the 4 serving
  EXPECT_EQ(d.canary_weight, 50);
}

// Argo's step-plugin e2e manifests (test/e2e/step-plugin/): a disabled
// plugin's step passes and says so in stepPluginStatuses; a plugin not
// configured holds the step with a ReconciliationError, said once, until
// the progress deadline makes the rollout Degraded (TestRolloutErrorWhen
// StepPluginNotConfigured); strake cannot run an enabled one and says why.
TEST(CanaryTest, AStepPluginPassesWhenDisabledAndOtherwiseHoldsTheStepSayingWhy) {
  auto spec = Spec(R"(    canary:
      stableService: web
      trafficRouting: {smi: {}}
      steps:
      - plugin: {name: step/off, config: {return: Successful}}
      - setWeight: 50
      - plugin: {name: step/missing}
      - pause: {}
)");
  spec.progress_deadline_seconds = 15;
  Driver drv(spec);
  drv.SetStepPlugins({{"step/off", {"file://plugin-bin/off", true}},
                      {"step/on", {"file://plugin-bin/on", false}}});
  drv.Round("v1");
  drv.Round("v2");               // step/off passes; setWeight waits for the canary
  Decision d = drv.Round("v2");  // step/missing holds
  EXPECT_EQ(d.status.current_step_index, 2);
  EXPECT_EQ(d.status.phase, "Progressing");
  EXPECT_EQ(d.reason, "ReconciliationError");
  EXPECT_EQ(d.status.message,
            "step 3/4: plugin \"step/missing\" not configured in configmap argo-rollouts-config "
            "(stepPlugins)");
  ASSERT_EQ(d.status.step_plugin_statuses.size(), 1u);
  EXPECT_EQ(d.status.step_plugin_statuses[0].index, 0);
  EXPECT_EQ(d.status.step_plugin_statuses[0].name, "step/off");
  EXPECT_TRUE(d.status.step_plugin_statuses[0].disabled);
  EXPECT_EQ(d.status.ToJson()["canary"]["stepPluginStatuses"][0]["operation"], "Run");
  EXPECT_EQ(RolloutStatus::FromJson(d.status.ToJson()).step_plugin_statuses.size(), 1u);
  EXPECT_EQ(d.canary_weight, 50);
  d = drv.Round("v2");
  EXPECT_NE(d.reason, "ReconciliationError");  // said once
  drv.Advance(16s);
  d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_FALSE(d.status.abort);
  EXPECT_EQ(d.status.message.rfind("ProgressDeadlineExceeded: no progress in 15s at step 3/4; "
                                   "step 3/4: plugin \"step/missing\" not configured",
                                   0),
            0u)
      << d.status.message;
  d = drv.Round("v2");
  EXPECT_NE(d.reason, "ReconciliationError");
  // Configured and enabled: strake cannot load it, and says so.
  drv.SetStepPlugins({{"step/missing", {"file://plugin-bin/x", false}}});
  d = drv.Round("v2");
  EXPECT_EQ(d.reason, "ReconciliationError");
  EXPECT_NE(d.status.message.find("(file://plugin-bin/x) cannot run: Argo Rollouts' step plugins "
                                  "are RPC binaries"),
            std::string::npos)
      << d.status.message;
  // Disabled: the step passes, the rollout goes on to the pause.
  drv.SetStepPlugins({{"step/missing", {"", true}}});
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 3);
  EXPECT_EQ(d.status.phase, "Paused");
  EXPECT_EQ(d.status.step_plugin_statuses.size(), 2u);
  // A new revision starts the statuses over.
  d = drv.Round("v3");
  EXPECT_EQ(d.status.step_plugin_statuses.size(), 0u);
}

TEST(CanaryTest, StatusSurvivesJson) {
  RolloutStatus st;
  st.stable_rs = "a";
  st.current_pod_hash = "b";
  st.current_step_index = 3;
  st.pause_conditions.push_back({"CanaryPauseStep", 1234});
  st.scale_down_at["c"] = 99;
  st.step_analysis_run = "run";
  st.weights_approximated = true;
  RolloutStatus back = RolloutStatus::FromJson(st.ToJson());
  EXPECT_TRUE(back.weights_approximated);
  EXPECT_EQ(st.ToJson()["canary"]["weightsApproximated"], true);
  EXPECT_EQ(back.stable_rs, "a");
  EXPECT_EQ(back.current_step_index, 3);
  ASSERT_EQ(back.pause_conditions.size(), 1u);
  EXPECT_EQ(back.pause_conditions[0].start_ms, 1234);
  EXPECT_EQ(back.scale_down_at.at("c"), 99);
  EXPECT_EQ(back.step_analysis_run, "run");
}

// Without trafficRouting, Argo's basic canary: each weight is approximated
// by replica counts of a fixed total (the issue's example: 5 replicas at
// 20-80% are 1+4 ... 4+1 pods, never 6 to 9).
constexpr const char* kBasic = R"(    canary:
      stableService: web
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 40
      - pause: {}
      - setWeight: 60
      - pause: {}
      - setWeight: 80
      - pause: {}
)";

// Rounds of `hash` until the phase is `phase` (at most 10).
Decision RoundsUntil(Driver& drv, const std::string& hash, const std::string& phase) {
  Decision d;
  for (int i = 0; i < 10 && d.status.phase != phase; ++i) d = drv.Round(hash);
  return d;
}

// v1 stable, then v2 walked to its 80% step (kBasic, promoting each pause).
Decision ToEightyPercent(Driver& drv) {
  drv.Round("v1");
  drv.Round("v1");
  for (int k = 0; k < 3; ++k) {  // 20, 40, 60%
    RoundsUntil(drv, "v2", "Paused");
    EXPECT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  }
  return RoundsUntil(drv, "v2", "Paused");
}

// The replicas a decision runs, and those of them serving.
std::pair<int, int> RunningAndServing(const Driver& drv, const Decision& d) {
  int running = 0, serving = 0;
  for (const auto& [h, n] : d.replicas) {
    running += n;
    serving += ServingReplicas(drv.revisions(), d.replicas, h);
  }
  return {running, serving};
}

TEST(BasicCanaryTest, ReplicaCountsApproximateEachWeightAndTheWeightIsTheirShare) {
  Driver drv(Spec(kBasic, 5));
  drv.Round("v1");
  EXPECT_TRUE(drv.Round("v1").status.weights_approximated);
  for (int k = 1; k <= 4; ++k) {
    Decision d = RoundsUntil(drv, "v2", "Paused");
    ASSERT_EQ(d.status.phase, "Paused") << d.status.message;
    EXPECT_EQ(d.status.current_step_index, 2 * k - 1);
    EXPECT_EQ(d.replicas.at("v2"), k);
    EXPECT_EQ(d.replicas.at("v1"), 5 - k);
    EXPECT_EQ(d.canary_weight, 20 * k);
    EXPECT_EQ(d.status.canary_weight, 20 * k);
    EXPECT_TRUE(d.status.weights_approximated);
    ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  }
  // Past the last step the canary replaces the stable, then is promoted: no
  // old stable is left to scale down later.
  Decision d = RoundsUntil(drv, "v2", "Healthy");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.replicas.at("v2"), 5);
  EXPECT_EQ(d.replicas.count("v1"), 0u);
  EXPECT_TRUE(d.status.scale_down_at.empty());
}

// 10 replicas at 20% with the default 25% maxSurge/maxUnavailable: never
// more than 13 running nor fewer than 8 serving, and the step waits until
// the canary's 2 are available and the stable is down to 8.
TEST(BasicCanaryTest, StaysWithinMaxSurgeAndMaxUnavailable) {
  Driver drv(Spec(kBasic, 10));
  drv.Round("v1");
  drv.Round("v1");
  Decision d;
  for (int i = 0; i < 10 && d.status.phase != "Paused"; ++i) {
    d = drv.Round("v2", false);
    auto [running, serving] = RunningAndServing(drv, d);
    EXPECT_LE(running, 13) << i;
    EXPECT_GE(serving, 8) << i;
    if (d.status.phase != "Paused") {
      EXPECT_NE(d.status.message.find("setWeight 20: scaling by replica counts"), std::string::npos)
          << d.status.message;
    }
    drv.ApplySlowly(d);
  }
  EXPECT_EQ(d.status.phase, "Paused");
  EXPECT_EQ(d.replicas.at("v2"), 2);
  EXPECT_EQ(d.replicas.at("v1"), 8);
}

// promote --full replaces the stable as a rolling update would (Argo's
// "mimicking rolling update"): within maxSurge and maxUnavailable, then the
// canary becomes stable with nothing left to scale down later.
TEST(BasicCanaryTest, PromoteFullReplacesTheStableWithinTheLimits) {
  Driver drv(Spec(kBasic, 5));
  drv.Round("v1");
  drv.Round("v1");
  RoundsUntil(drv, "v2", "Paused");  // 20%: 1 + 4
  ASSERT_TRUE(ApplyAction("promote", true, drv.spec(), drv.status(), drv.now()));
  Decision d;
  for (int i = 0; i < 20 && d.status.phase != "Healthy"; ++i) {
    d = drv.Round("v2", false);
    auto [running, serving] = RunningAndServing(drv, d);
    EXPECT_LE(running, 7) << i;  // 5 + maxSurge 25% (2)
    EXPECT_GE(serving, 4) << i;  // 5 - maxUnavailable 25% (1)
    drv.ApplySlowly(d);
  }
  EXPECT_EQ(d.status.phase, "Healthy");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.reason, "RolloutCompleted");
  EXPECT_EQ(d.replicas.at("v2"), 5);
  EXPECT_EQ(d.replicas.count("v1"), 0u);
}

// Going back to the stable revision at 80% (4 canary + 1 stable): the
// dropped canary serves while it is scaled down as Argo scales an older
// ReplicaSet down, the stable scaled up within maxSurge, so no round serves
// from fewer than 4 replicas.
TEST(BasicCanaryTest, GoingBackToStableDrainsTheCanaryWithinTheLimits) {
  Driver drv(Spec(kBasic, 5));
  Decision d = ToEightyPercent(drv);
  ASSERT_EQ(d.replicas.at("v2"), 4);
  ASSERT_EQ(d.replicas.at("v1"), 1);
  bool drained = false;
  for (int i = 0; i < 20 && d.status.phase != "Healthy"; ++i) {
    d = drv.Round("v1", false);
    auto [running, serving] = RunningAndServing(drv, d);
    EXPECT_LE(running, 7) << i;
    EXPECT_GE(serving, 4) << i;
    if (d.draining_hash == "v2") drained = true;
    drv.ApplySlowly(d);
  }
  EXPECT_TRUE(drained);
  EXPECT_EQ(d.status.phase, "Healthy");
  EXPECT_EQ(d.draining_hash, "");
  EXPECT_EQ(d.replicas.at("v1"), 5);
  EXPECT_EQ(d.replicas.count("v2"), 0u);
}

// A canary superseded mid-update (v3 applied while v2 is at 80%) is
// scaled down as Argo scales down an older ReplicaSet, serving meanwhile
// beside the stable and v3, and never below replicas - maxUnavailable (10
// replicas, maxSurge 50%, maxUnavailable 0: 10 available, at most 15
// running). v3 starts fast, the stable's new replicas slowly: all three
// serve for a round, the weight v3's share of them.
TEST(BasicCanaryTest, ASupersededCanaryDrainsWithinTheLimitsBesideTheNewOne) {
  auto spec = Spec(kBasic, 10);
  spec.canary->max_surge = {50, true};
  spec.canary->max_unavailable = {0, false};
  Driver drv(spec);
  Decision d = ToEightyPercent(drv);
  ASSERT_EQ(d.replicas.at("v2"), 8);
  ASSERT_EQ(d.replicas.at("v1"), 2);
  bool three = false;
  for (int i = 0; i < 30 && (i == 0 || d.status.phase != "Paused"); ++i) {
    d = drv.Round("v3", false);
    auto [running, serving] = RunningAndServing(drv, d);
    EXPECT_LE(running, 15) << i;
    EXPECT_GE(serving, 10) << i;
    if (d.draining_hash == "v2") {
      EXPECT_GT(d.replicas.at("v2"), 0);
      if (ServingReplicas(drv.revisions(), d.replicas, "v3") > 0) {
        three = true;
        // The weight is v3's share of every replica serving.
        int v3 = ServingReplicas(drv.revisions(), d.replicas, "v3");
        EXPECT_EQ(d.status.canary_weight, v3 * 100 / serving) << i;
      }
    }
    drv.ApplySlowly(d);
    // v3's replicas are ready at once, the stable's come slowly.
    if (drv.revisions().count("v3")) drv.SetReady("v3", drv.revisions().at("v3").replicas);
  }
  EXPECT_TRUE(three) << "v2 drained while v3 served";
  EXPECT_EQ(d.status.phase, "Paused");
  EXPECT_EQ(d.status.current_step_index, 1);
  EXPECT_EQ(d.draining_hash, "");
  EXPECT_EQ(d.replicas.count("v2"), 0u);
  EXPECT_EQ(d.replicas.at("v3"), 2);
  EXPECT_EQ(d.replicas.at("v1"), 8);
}

// An abort scales back by replica counts within the same limits, at once
// (abortScaleDownDelaySeconds is for trafficRouting only, as in Argo).
TEST(BasicCanaryTest, AbortScalesTheCanaryDownByReplicaCounts) {
  Driver drv(Spec(kBasic, 5));
  drv.Round("v1");
  drv.Round("v1");
  RoundsUntil(drv, "v2", "Paused");
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  Decision d = RoundsUntil(drv, "v2", "Paused");  // 40%: 2 + 3
  ASSERT_EQ(d.replicas.at("v2"), 2);
  ASSERT_TRUE(ApplyAction("abort", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_EQ(d.replicas.at("v2"), 1);  // 4 of 5 stay available (maxUnavailable 1)
  EXPECT_EQ(d.replicas.at("v1"), 5);
  d = drv.Round("v2");
  EXPECT_EQ(d.replicas.at("v2"), 0);
  EXPECT_EQ(d.canary_weight, 0);
  EXPECT_EQ(d.status.canary_weight, 0);
}

// An experiment step (Argo's examples/traffic-routing-experiment-step): the
// Experiment is made once, the step waits for it, its weighted templates
// get their share while it runs, and it moves on once it succeeded.
constexpr const char* kExperimentSteps = R"(    canary:
      stableService: web
      trafficRouting: {smi: {}}
      steps:
      - setWeight: 10
      - experiment:
          duration: 1m
          templates:
          - {name: baseline, specRef: stable, weight: 20}
          - {name: canary, specRef: canary}
      - pause: {}
)";

TEST(CanaryExperimentTest, TheStepMakesItsExperimentWaitsAndMovesOnWhenItSucceeds) {
  Driver drv(Spec(kExperimentSteps));
  drv.Round("v1");
  drv.Round("v2");  // setWeight 10
  Decision d = drv.Round("v2");
  ASSERT_TRUE(d.start_experiment);
  EXPECT_EQ(d.start_experiment->name, "web-v2-2-1");
  EXPECT_EQ(d.start_experiment->step, 1);
  EXPECT_EQ(d.status.current_experiment, "web-v2-2-1");
  EXPECT_EQ(d.reason, "ExperimentCreated");
  d = drv.Round("v2");  // made, not running yet: no share of the traffic, no second one
  EXPECT_FALSE(d.start_experiment);
  EXPECT_TRUE(d.experiment_weights.empty());
  EXPECT_EQ(d.status.phase, "Progressing");
  drv.SetExperiment("web-v2-2-1", "Running");
  d = drv.Round("v2");
  ASSERT_EQ(d.experiment_weights.size(), 1u);
  EXPECT_EQ(d.experiment_weights[0].template_name, "baseline");
  EXPECT_EQ(d.experiment_weights[0].weight, 20);
  EXPECT_EQ(d.canary_weight, 10);
  EXPECT_EQ(d.status.message, "step 2/3: experiment web-v2-2-1 running");
  // No progress deadline while it runs: Argo's experiment step is indefinite.
  drv.Advance(std::chrono::hours(1));
  d = drv.Round("v2");
  EXPECT_FALSE(d.status.abort);
  drv.SetExperiment("web-v2-2-1", "Successful");
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 2);
  EXPECT_EQ(d.status.current_experiment, "");
  EXPECT_TRUE(d.experiment_weights.empty());
  EXPECT_EQ(d.status.phase, "Paused");
}

TEST(CanaryExperimentTest, AFailedExperimentAbortsAndARetryMakesANewOne) {
  Driver drv(Spec(kExperimentSteps));
  drv.Round("v1");
  drv.Round("v2");
  drv.Round("v2");
  drv.SetExperiment("web-v2-2-1", "Failed", "analysis check: metric failed");
  Decision d = drv.Round("v2");
  EXPECT_TRUE(d.status.abort);
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_EQ(d.status.message,
            "Experiment analysis phase is failed: experiment web-v2-2-1: analysis check: metric "
            "failed");
  EXPECT_EQ(d.canary_weight, 0);
  ASSERT_TRUE(ApplyAction("retry", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  ASSERT_TRUE(d.start_experiment);
  EXPECT_EQ(d.start_experiment->name, "web-v2-2-1-a1");  // never decided by the failed one
}

TEST(CanaryExperimentTest, AnInconclusiveExperimentPausesAndPromoteEndsIt) {
  Driver drv(Spec(kExperimentSteps));
  drv.Round("v1");
  drv.Round("v2");
  drv.Round("v2");
  drv.SetExperiment("web-v2-2-1", "Inconclusive");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Paused");
  EXPECT_FALSE(d.start_experiment);
  d = drv.Round("v2");
  EXPECT_FALSE(d.start_experiment);  // not made again while paused
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 2);
  EXPECT_EQ(d.terminate_experiments, std::vector<std::string>{"web-v2-2-1"});
  EXPECT_EQ(d.status.current_experiment, "");
}

TEST(CanaryExperimentTest, AbortAndANewRevisionTerminateTheRunningExperiment) {
  Driver drv(Spec(kExperimentSteps));
  drv.Round("v1");
  drv.Round("v2");
  drv.Round("v2");
  drv.SetExperiment("web-v2-2-1", "Running");
  ASSERT_TRUE(ApplyAction("abort", false, drv.spec(), drv.status(), drv.now()));
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.terminate_experiments, std::vector<std::string>{"web-v2-2-1"});
  EXPECT_TRUE(d.experiment_weights.empty());

  Driver again(Spec(kExperimentSteps));
  again.Round("v1");
  again.Round("v2");
  again.Round("v2");
  again.SetExperiment("web-v2-2-1", "Running");
  again.Round("v2");
  d = again.Round("v3");
  EXPECT_EQ(d.terminate_experiments, std::vector<std::string>{"web-v2-2-1"});
  EXPECT_EQ(d.status.current_experiment, "");
}

TEST(CanaryExperimentTest, AnExperimentDeletedMeanwhileIsMadeAgain) {
  Driver drv(Spec(kExperimentSteps));
  drv.Round("v1");
  drv.Round("v2");
  drv.Round("v2");
  drv.SetExperiment("web-v2-2-1", "NotFound");
  Decision d = drv.Round("v2");
  ASSERT_TRUE(d.start_experiment);
  EXPECT_EQ(d.start_experiment->name, "web-v2-2-1");
  EXPECT_EQ(d.status.current_experiment, "web-v2-2-1");
}

TEST(CanaryExperimentTest, AWeightNeedsTrafficRoutingAsInArgo) {
  std::string text = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, command: [server]}]
  strategy:
    canary:
      steps:
      - experiment:
          templates: [{name: canary, specRef: canary, weight: 5}]
)";
  auto docs = model::ParseYaml(text, "r.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  (void)model::Decode(*docs, diags);
  EXPECT_NE(diags.ErrorText().find("r.yaml:13:9: spec.strategy.canary.steps[0].experiment."
                                   "templates[0].weight: Experiment template weight cannot be "
                                   "set unless TrafficRouting is enabled"),
            std::string::npos)
      << diags.ErrorText();
  // nginx's canary Ingress has no place for it, as Argo says.
  std::string nginx = text;
  nginx.replace(nginx.find("      steps:"), 0,
                "      canaryService: c\n      stableService: s\n"
                "      trafficRouting: {nginx: {stableIngress: i}}\n");
  auto again = model::ParseYaml(nginx, "r.yaml");
  ASSERT_TRUE(again);
  model::Diagnostics nginx_diags;
  (void)model::Decode(*again, nginx_diags);
  EXPECT_NE(nginx_diags.ErrorText().find("Experiment template weight is only available for "
                                         "TrafficRouting with SMI, ALB, Istio and Plugins"),
            std::string::npos)
      << nginx_diags.ErrorText();
}

TEST(BlueGreenTest, PreviewWaitsForPromoteThenSwitches) {
  Driver drv(Spec(R"(    blueGreen:
      activeService: web
      previewService: web-preview
      autoPromotionEnabled: false
)",
                  2));
  drv.Round("v1");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.active_hash, "v1");
  EXPECT_EQ(d.preview_hash, "v2");
  d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Paused");
  ASSERT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
  d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutPromoted");
  EXPECT_EQ(d.active_hash, "v2");
  EXPECT_EQ(d.replicas.at("v1"), 2);  // scaleDownDelaySeconds
  d = drv.Round("v2");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.status.phase, "Healthy");
  drv.Advance(31s);
  EXPECT_EQ(drv.Round("v2").replicas.count("v1"), 0u);
}

TEST(BlueGreenTest, FailedPrePromotionAnalysisKeepsTheActiveRevision) {
  Driver drv(Spec(R"(    blueGreen:
      activeService: web
      prePromotionAnalysis: {templates: [{templateName: smoke}]}
)",
                  2));
  drv.Round("v1");
  drv.Round("v2");
  Decision d = drv.Round("v2");
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-2-pre");
  drv.SetAnalysis("web-v2-2-pre", "Failed");
  d = drv.Round("v2");
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_EQ(d.active_hash, "v1");
  EXPECT_EQ(d.replicas.at("v2"), 0);
}

TEST(BlueGreenTest, AutoPromotionSecondsWaits) {
  Driver drv(Spec(R"(    blueGreen:
      activeService: web
      autoPromotionSeconds: 20
)",
                  1));
  drv.Round("v1");
  drv.Round("v2");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.active_hash, "v1");
  ASSERT_TRUE(d.requeue_after);
  EXPECT_EQ(*d.requeue_after, 20s);
  drv.Advance(20s);
  d = drv.Round("v2");
  EXPECT_EQ(d.active_hash, "v2");
}

// ---- every attempt measures afresh (issue 12) ------------------------------------

// Walks `hash` through every step to stable, each analysis passing; returns
// the names of the runs it started.
std::vector<std::string> Release(Driver& drv, const std::string& hash) {
  std::vector<std::string> runs;
  for (int i = 0; i < 20; ++i) {
    Decision d = drv.Round(hash);
    for (const auto& a : d.start_analysis) {
      runs.push_back(a.name);
      drv.SetAnalysis(a.name, "Successful");
    }
    if (d.status.stable_rs == hash && d.status.phase == "Healthy") return runs;
    if (d.status.phase == "Paused" && d.status.current_step_index == 4) {
      EXPECT_TRUE(ApplyAction("promote", false, drv.spec(), drv.status(), drv.now()));
    }
    drv.Advance(10s);
  }
  ADD_FAILURE() << hash << " was never promoted: " << drv.status().message;
  return runs;
}

TEST(AnalysisRunNameTest, NamesCarryTheRevisionAsArgoNamesThem) {
  EXPECT_EQ(AnalysisRunName("web", "5d8f7c9a01", 3, "2", 0), "web-5d8f7c9a01-3-2");
  EXPECT_EQ(AnalysisRunName("web", "5d8f7c9a01", 3, "", 0), "web-5d8f7c9a01-3");  // background
  EXPECT_EQ(AnalysisRunName("web", "5d8f7c9a01", 3, "pre", 0), "web-5d8f7c9a01-3-pre");
  EXPECT_EQ(AnalysisRunName("web", "5d8f7c9a01", 3, "post", 2), "web-5d8f7c9a01-3-post.2");
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  EXPECT_EQ(drv.status().step_analysis_run, "web-v2-2-2");  // revision 2, step index 2
}

TEST(CanaryTest, RetryAfterAFailedAnalysisMeasuresAgainAndCanPass) {
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  drv.SetAnalysis("web-v2-2-2", "Failed");
  ASSERT_TRUE(drv.Round("v2").status.abort);
  ASSERT_TRUE(ApplyAction("retry", false, drv.spec(), drv.status(), drv.now()));
  EXPECT_EQ(drv.status().attempt, 1);
  drv.Round("v2");  // setWeight 25
  drv.Advance(10s);
  Decision d = drv.Round("v2");  // the pause ends: a new run, not the failed one
  EXPECT_FALSE(d.status.abort) << d.status.message;
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-2-2.1");
  d = drv.Round("v2");  // the failed run of attempt 0 decides nothing
  EXPECT_FALSE(d.status.abort) << d.status.message;
  EXPECT_EQ(d.status.current_step_index, 2);
  drv.SetAnalysis("web-v2-2-2.1", "Successful");
  d = drv.Round("v2");
  EXPECT_EQ(d.status.current_step_index, 3);  // past the analysis
  // A second retry is a second attempt.
  ASSERT_TRUE(ApplyAction("abort", false, drv.spec(), drv.status(), drv.now()));
  ASSERT_TRUE(ApplyAction("retry", false, drv.spec(), drv.status(), drv.now()));
  drv.Round("v2");
  drv.Advance(10s);
  d = drv.Round("v2");
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-2-2.2");
}

TEST(CanaryTest, TheSameRevisionAppliedAgainGetsANewRun) {
  Driver drv(Spec(kSteps));
  ToAnalysis(drv);
  drv.SetAnalysis("web-v2-2-2", "Successful");  // v2 passed once...
  drv.Round("v3");                              // ...then v3 replaced it mid-update
  drv.Round("v2");                              // and v2 is applied again: revision 4
  drv.Round("v2");                              // the pause starts
  drv.Advance(10s);
  Decision d = drv.Round("v2");
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-4-2");
  d = drv.Round("v2");  // the old successful run promotes nothing
  EXPECT_EQ(d.status.current_step_index, 2);
  EXPECT_EQ(d.status.stable_rs, "v1");
  EXPECT_EQ(d.status.message, "step 3/5: analysis web-v2-4-2 running");
}

TEST(CanaryTest, UndoToAnEarlierRevisionRunsItsAnalysisAgain) {
  Driver drv(Spec(kSteps));
  drv.Round("v1");
  EXPECT_EQ(Release(drv, "v2"), std::vector<std::string>{"web-v2-2-2"});
  EXPECT_EQ(Release(drv, "v3"), std::vector<std::string>{"web-v3-3-2"});
  // Undo puts v2's template back: revision 4, every step and a new analysis.
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.canary_hash, "v2");  // a canary again, not promoted on its old run
  EXPECT_EQ(d.status.stable_rs, "v3");
  EXPECT_EQ(Release(drv, "v2"), std::vector<std::string>{"web-v2-4-2"});
}

TEST(RollbackWindowTest, CountsTheRevisionsBetweenAsArgoDoes) {
  model::RolloutSpec spec;
  std::map<std::string, int64_t> first = {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}};
  spec.rollback_window_revisions = 0;
  EXPECT_FALSE(RollbackWithinWindow(spec, "b", "a", first));  // no window
  spec.rollback_window_revisions = 1;
  EXPECT_TRUE(RollbackWithinWindow(spec, "b", "a", first));   // nothing between
  EXPECT_FALSE(RollbackWithinWindow(spec, "a", "b", first));  // forward, not a rollback
  EXPECT_FALSE(RollbackWithinWindow(spec, "c", "a", first));  // b between
  EXPECT_FALSE(RollbackWithinWindow(spec, "c", "x", first));  // never recorded
  spec.rollback_window_revisions = 2;
  EXPECT_TRUE(RollbackWithinWindow(spec, "c", "a", first));
  EXPECT_FALSE(RollbackWithinWindow(spec, "d", "a", first));
}

TEST(CanaryTest, RollbackWithinTheWindowSkipsStepsAndAnalysis) {
  auto spec = Spec(kSteps);
  spec.rollback_window_revisions = 1;
  Driver drv(spec);
  drv.Round("v1");
  Release(drv, "v2");
  Release(drv, "v3");
  Decision d = drv.Round("v2");  // undo to the revision just before the stable one
  EXPECT_EQ(d.reason, "RolloutCompleted");
  EXPECT_NE(d.event.find("rollbackWindow"), std::string::npos) << d.event;
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_TRUE(d.start_analysis.empty());
}

// Once the revision rolled back to has been scaled away, it becomes stable
// (and takes the traffic) only when all its replicas are ready again: Argo's
// shouldFullPromote checks that before a rollback within the window.
TEST(CanaryTest, ARollbackWithinTheWindowIsPromotedOnlyOnceReady) {
  auto spec = Spec(kSteps);
  spec.rollback_window_revisions = 1;
  Driver drv(spec);
  drv.Round("v1");
  Release(drv, "v2");
  Release(drv, "v3");
  drv.Advance(std::chrono::seconds(31));
  ASSERT_EQ(drv.Round("v3").replicas.count("v2"), 0u);  // v2 scaled away
  Decision d = drv.Round("v2", false);
  EXPECT_EQ(d.status.stable_rs, "v3");
  EXPECT_EQ(d.stable_hash, "v3");
  EXPECT_EQ(d.canary_weight, 0) << "no traffic to replicas that are not ready";
  EXPECT_EQ(d.replicas.at("v2"), 4);
  EXPECT_TRUE(d.start_analysis.empty());
  EXPECT_NE(d.status.message.find("rollback to v2"), std::string::npos) << d.status.message;
  drv.SetReady("v2", 4);
  d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutCompleted");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_NE(d.event.find("rollbackWindow"), std::string::npos) << d.event;
}

TEST(CanaryTest, RollbackOutsideTheWindowWalksTheSteps) {
  auto spec = Spec(kSteps);
  spec.rollback_window_revisions = 1;
  Driver drv(spec);
  drv.Round("v1");
  Release(drv, "v2");
  Release(drv, "v3");
  Decision d = drv.Round("v1");  // v2 lies between: outside a window of 1
  EXPECT_EQ(d.reason, "RolloutUpdated");
  EXPECT_EQ(d.status.stable_rs, "v3");
  EXPECT_EQ(Release(drv, "v1"), std::vector<std::string>{"web-v1-4-2"});
}

TEST(BlueGreenTest, RetryRunsANewPrePromotionAnalysis) {
  Driver drv(Spec(R"(    blueGreen:
      activeService: web
      prePromotionAnalysis: {templates: [{templateName: smoke}]}
)",
                  2));
  drv.Round("v1");
  drv.Round("v2");
  drv.Round("v2");
  drv.SetAnalysis("web-v2-2-pre", "Failed");
  ASSERT_EQ(drv.Round("v2").status.phase, "Degraded");
  ASSERT_TRUE(ApplyAction("retry", false, drv.spec(), drv.status(), drv.now()));
  drv.Round("v2");  // the preview scales up again
  Decision d = drv.Round("v2");
  ASSERT_EQ(d.start_analysis.size(), 1u);
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-2-pre.1");
  drv.SetAnalysis("web-v2-2-pre.1", "Successful");
  d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutPromoted");
  EXPECT_EQ(d.active_hash, "v2");
}

TEST(BlueGreenTest, RollbackWithinTheWindowSkipsAnalysis) {
  auto spec = Spec(R"(    blueGreen:
      activeService: web
      prePromotionAnalysis: {templates: [{templateName: smoke}]}
      postPromotionAnalysis: {templates: [{templateName: smoke}]}
)",
                   2);
  spec.rollback_window_revisions = 2;
  Driver drv(spec);
  drv.Round("v1");
  for (int i = 0; i < 6; ++i) {  // v2: pre, switch, post, stable
    for (const auto& a : drv.Round("v2").start_analysis) drv.SetAnalysis(a.name, "Successful");
  }
  ASSERT_EQ(drv.status().stable_rs, "v2");
  ASSERT_EQ(drv.status().phase, "Healthy");
  std::vector<std::string> started;
  for (int i = 0; i < 4; ++i) {
    for (const auto& a : drv.Round("v1").start_analysis) started.push_back(a.name);
  }
  EXPECT_TRUE(started.empty());
  EXPECT_EQ(drv.status().active_selector, "v1");
  EXPECT_EQ(drv.status().stable_rs, "v1");
}

}  // namespace
}  // namespace strake::rollout

namespace strake::rollout {
namespace {

TEST(MinReady, AReadyReplicaIsAvailableOnceReadyThatLong) {
  using std::chrono::seconds;
  std::map<std::string, RevisionObservation> revs;
  revs["a"] = {3, 3, "", {seconds(40), seconds(5), seconds(29)}};
  revs["b"] = {2, 1, "", {seconds(31)}};
  auto next = ApplyMinReady(revs, 30);
  EXPECT_EQ(revs["a"].ready, 1);
  EXPECT_EQ(revs["b"].ready, 1);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, seconds(1));  // a's third, ready 29 s
  revs["a"] = {3, 3, "", {seconds(1)}};
  EXPECT_FALSE(ApplyMinReady(revs, 0));  // unset: ready is available
  EXPECT_EQ(revs["a"].ready, 3);
}

}  // namespace
}  // namespace strake::rollout
