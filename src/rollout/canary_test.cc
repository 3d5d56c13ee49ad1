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

// Drives the state machine as the controller would: applies each decision's
// replicas as instantly ready unless told otherwise.
class Driver {
 public:
  explicit Driver(model::RolloutSpec spec) : spec_(std::move(spec)) {
    obs_.now = TimePoint{} + std::chrono::hours(1000);
  }
  Decision Round(const std::string& hash, bool make_ready = true) {
    obs_.desired_hash = hash;
    Decision d = Step("web", spec_, status_, obs_);
    status_ = d.status;
    for (const auto& a : d.start_analysis) obs_.analysis_phase[a.name] = "Running";
    if (make_ready) {
      obs_.revisions.clear();
      for (const auto& [h, n] : d.replicas) obs_.revisions[h] = {n, n, ""};
    }
    last_ = d;
    return d;
  }
  void Advance(std::chrono::milliseconds ms) { obs_.now += ms; }
  void SetAnalysis(const std::string& run, const std::string& phase) {
    obs_.analysis_phase[run] = phase;
  }
  void SetReady(const std::string& hash, int ready) { obs_.revisions[hash].ready = ready; }
  RolloutStatus& status() { return status_; }
  const model::RolloutSpec& spec() const { return spec_; }
  TimePoint now() const { return obs_.now; }

 private:
  model::RolloutSpec spec_;
  RolloutStatus status_;
  Observation obs_;
  Decision last_;
};

// From a healthy v1 to v2's analysis step (the run web-v2-3 started).
void ToAnalysis(Driver& drv) {
  drv.Round("v1");
  drv.Round("v2");  // setWeight 25 waits for the canary
  drv.Round("v2");  // ready: the pause starts
  drv.Advance(std::chrono::seconds(10));
  drv.Round("v2");  // the pause ends: the analysis starts
}

constexpr const char* kSteps = R"(    canary:
      stableService: web
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
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-3");
  EXPECT_EQ(d.status.phase, "Progressing");
  EXPECT_TRUE(drv.Round("v2").start_analysis.empty());  // started once
  drv.SetAnalysis("web-v2-3", "Successful");
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
  drv.SetAnalysis("web-v2-3", "Failed");
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.reason, "RolloutAborted");
  EXPECT_TRUE(d.status.abort);
  EXPECT_EQ(d.canary_weight, 0);
  EXPECT_EQ(d.status.phase, "Degraded");
  EXPECT_NE(d.status.message.find("web-v2-3 failed"), std::string::npos) << d.status.message;
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
  drv.SetAnalysis("web-v2-3", "Inconclusive");
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
  EXPECT_EQ(d.terminate_analysis[0], "web-v2-3");
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
  Decision d = drv.Round("v2");
  EXPECT_EQ(d.status.stable_rs, "v2");
  EXPECT_EQ(d.reason, "RolloutCompleted");
}

TEST(CanaryTest, HeaderAndMirrorRoutesFollowTheSteps) {
  Driver drv(Spec(R"(    canary:
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

TEST(CanaryTest, BackgroundAnalysisFromItsStartingStep) {
  Driver drv(Spec(R"(    canary:
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
  drv.SetAnalysis("web-v2-background", "Error");
  d = drv.Round("v2");
  EXPECT_TRUE(d.status.abort);
  EXPECT_NE(d.status.message.find("errored"), std::string::npos);
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
  EXPECT_NE(d.status.message.find("ProgressDeadlineExceeded"), std::string::npos);
}

TEST(CanaryTest, StatusSurvivesJson) {
  RolloutStatus st;
  st.stable_rs = "a";
  st.current_pod_hash = "b";
  st.current_step_index = 3;
  st.pause_conditions.push_back({"CanaryPauseStep", 1234});
  st.scale_down_at["c"] = 99;
  st.step_analysis_run = "run";
  RolloutStatus back = RolloutStatus::FromJson(st.ToJson());
  EXPECT_EQ(back.stable_rs, "a");
  EXPECT_EQ(back.current_step_index, 3);
  ASSERT_EQ(back.pause_conditions.size(), 1u);
  EXPECT_EQ(back.pause_conditions[0].start_ms, 1234);
  EXPECT_EQ(back.scale_down_at.at("c"), 99);
  EXPECT_EQ(back.step_analysis_run, "run");
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
  EXPECT_EQ(d.start_analysis[0].name, "web-v2-pre");
  drv.SetAnalysis("web-v2-pre", "Failed");
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

}  // namespace
}  // namespace strake::rollout
