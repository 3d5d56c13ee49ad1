#include "rollout/experiment.h"

#include <gtest/gtest.h>

#include "model/decode.h"
#include "rollout/controller.h"

namespace strake::rollout {
namespace {

using namespace std::chrono_literals;

// Argo's examples/experiment-with-analysis.yaml (argoproj/argo-rollouts
// 9f8d111d8), with each container's command added (a replica is a local
// process) and `extra` appended to the spec.
model::ExperimentSpec Spec(const std::string& extra = "", const std::string& analyses = R"(
  analyses:
  - name: random-fail
    templateName: random-fail
  - name: pass
    templateName: pass
)") {
  std::string text = R"(apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: experiment-with-analysis
spec:
  templates:
  - name: purple
    selector:
      matchLabels:
        app: rollouts-demo
    template:
      metadata:
        labels:
          app: rollouts-demo
      spec:
        containers:
        - name: rollouts-demo
          image: argoproj/rollouts-demo:purple
          command: [demo]
  - name: orange
    replicas: 2
    selector:
      matchLabels:
        app: rollouts-demo
    template:
      metadata:
        labels:
          app: rollouts-demo
      spec:
        containers:
        - name: rollouts-demo
          image: argoproj/rollouts-demo:orange
          command: [demo]
)" + analyses + extra;
  auto docs = model::ParseYaml(text, "e.yaml");
  EXPECT_TRUE(docs) << (docs ? "" : docs.error().message);
  model::Diagnostics diags;
  auto res = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return std::get<model::Experiment>(res.at(0).value).spec;
}

// Drives StepExperiment as the reconciler does: the replicas each round
// asks for are running (and available, unless held back) at the next.
class Driver {
 public:
  explicit Driver(model::ExperimentSpec spec) : spec_(std::move(spec)) {
    obs_.now = TimePoint{} + std::chrono::hours(1000);
    for (const auto& t : spec_.templates) obs_.template_hash[t.name] = "h-" + t.name;
  }
  ExperimentDecision Round(bool make_ready = true) {
    ExperimentDecision d = StepExperiment("exp", spec_, status_, obs_);
    status_ = d.status;
    for (const auto& a : d.start_analysis) obs_.analysis_phase["exp-" + a] = "Running";
    for (const auto& [t, n] : d.replicas) {
      auto& r = obs_.revisions["h-" + t];
      r.replicas = n;
      r.ready = make_ready ? n : std::min(r.ready, n);
    }
    return d;
  }
  void Advance(std::chrono::milliseconds ms) { obs_.now += ms; }
  void SetRun(const std::string& analysis, const std::string& phase) {
    obs_.analysis_phase["exp-" + analysis] = phase;
  }
  const ExperimentStatus& status() const { return status_; }
  model::ExperimentSpec& spec() { return spec_; }

 private:
  model::ExperimentSpec spec_;
  ExperimentStatus status_;
  ExperimentObservation obs_;
};

const TemplateStatus& Template(const ExperimentStatus& st, const std::string& name) {
  for (const auto& t : st.templates) {
    if (t.name == name) return t;
  }
  static const TemplateStatus none;
  return none;
}

TEST(ExperimentDecode, ArgosFieldsAndDefaults) {
  model::ExperimentSpec s = Spec(
      "  duration: 5m\n  scaleDownDelaySeconds: 5\n"
      "  measurementRetention: [{metricName: pass, limit: 3}]\n"
      "  analysisRunMetadata: {labels: {a: b}, annotations: {c: d}}\n");
  ASSERT_EQ(s.templates.size(), 2u);
  EXPECT_EQ(s.templates[0].replicas, 1);  // Argo's default
  EXPECT_EQ(s.templates[1].replicas, 2);
  EXPECT_EQ(s.templates[0].selector.at("app"), "rollouts-demo");
  EXPECT_EQ(s.duration, std::chrono::minutes(5));
  EXPECT_EQ(s.progress_deadline_seconds, 600);
  EXPECT_EQ(s.scale_down_delay_seconds, 5);
  ASSERT_EQ(s.analyses.size(), 2u);
  EXPECT_EQ(s.analyses[1].ref.name, "pass");
  ASSERT_EQ(s.measurement_retention.size(), 1u);
  EXPECT_EQ(s.measurement_retention[0].limit, 3);
  EXPECT_EQ(s.run_metadata.labels.at("a"), "b");
  EXPECT_EQ(s.run_metadata.annotations.at("c"), "d");
}

TEST(ExperimentDecode, RepeatedTemplateNamesAreRefusedAtTheirPlace) {
  std::string text = R"(apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {name: e}
spec:
  templates:
  - name: a
    selector: {matchLabels: {app: a}}
    template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, command: [x]}]}}
  - name: a
    selector: {matchLabels: {app: b}}
    template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, command: [x]}]}}
)";
  auto docs = model::ParseYaml(text, "e.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  (void)model::Decode(*docs, diags);
  EXPECT_NE(diags.ErrorText().find("e.yaml:9:5: spec.templates[1].name: repeated template name "
                                   "\"a\""),
            std::string::npos)
      << diags.ErrorText();
  EXPECT_NE(diags.ErrorText().find("selector app=b does not match the template's labels"),
            std::string::npos)
      << diags.ErrorText();
}

TEST(ExperimentTest, PendingUntilEveryTemplateRunsThenAnalysesThenSuccessfulAfterTheDuration) {
  Driver drv(Spec("  duration: 1m\n  scaleDownDelaySeconds: 5\n"));
  ExperimentDecision d = drv.Round(false);
  EXPECT_EQ(d.status.phase, "Pending");
  EXPECT_EQ(d.replicas.at("purple"), 1);
  EXPECT_EQ(d.replicas.at("orange"), 2);
  EXPECT_EQ(Template(d.status, "orange").status, "Progressing");
  EXPECT_TRUE(d.start_analysis.empty());
  d = drv.Round();  // not yet available at this round's observation
  d = drv.Round();
  EXPECT_EQ(d.status.phase, "Running");
  EXPECT_NE(d.status.available_at_ms, 0);
  EXPECT_EQ(Template(d.status, "purple").status, "Running");
  EXPECT_TRUE(d.start_analysis.empty());  // once availableAt is recorded
  d = drv.Round();
  EXPECT_EQ(d.start_analysis, (std::vector<std::string>{"random-fail", "pass"}));
  EXPECT_EQ(d.status.analyses[0].run, "exp-random-fail");
  ASSERT_TRUE(d.requeue_after);
  EXPECT_LE(*d.requeue_after, 60s);
  d = drv.Round();
  EXPECT_TRUE(d.start_analysis.empty());  // made once
  drv.Advance(60s);
  d = drv.Round();
  EXPECT_EQ(d.status.phase, "Successful");
  EXPECT_EQ(Template(d.status, "purple").status, "Successful");
  // The replicas stay scaleDownDelaySeconds; the runs still going stop.
  d = drv.Round();
  EXPECT_EQ(d.replicas.at("orange"), 2);
  EXPECT_EQ(d.terminate_analysis, (std::vector<std::string>{"exp-random-fail", "exp-pass"}));
  drv.Advance(5s);
  d = drv.Round();
  EXPECT_EQ(d.replicas.at("orange"), 0);
  EXPECT_EQ(d.status.phase, "Successful");  // a finished phase never changes
}

TEST(ExperimentTest, AFailedAnalysisEndsTheExperimentEarly) {
  Driver drv(Spec());
  drv.Round();
  drv.Round();
  drv.Round();  // analyses start
  drv.SetRun("random-fail", "Failed");
  ExperimentDecision d = drv.Round();
  EXPECT_EQ(d.status.phase, "Failed");
  EXPECT_EQ(d.status.analyses[0].phase, "Failed");
  d = drv.Round();
  EXPECT_EQ(d.terminate_analysis, std::vector<std::string>{"exp-pass"});
  EXPECT_EQ(Template(d.status, "purple").status, "Successful");  // ended, not failed itself
}

TEST(ExperimentTest, WithoutDurationOrRequiredAnalysisItRunsUntilTerminated) {
  Driver drv(Spec());
  drv.Round();
  drv.Round();
  drv.Round();
  drv.SetRun("random-fail", "Successful");
  drv.SetRun("pass", "Successful");
  drv.Advance(std::chrono::hours(5));
  ExperimentDecision d = drv.Round();
  EXPECT_EQ(d.status.phase, "Running");  // as Argo: successful analyses do not end it
  drv.spec().terminate = true;
  d = drv.Round();
  EXPECT_EQ(d.status.phase, "Successful");
}

TEST(ExperimentTest, RequiredAnalysesCompleteItEvenWhileAnotherStillRuns) {
  Driver drv(Spec("", R"(
  analyses:
  - {name: judge, templateName: judge, requiredForCompletion: true}
  - {name: watch, templateName: watch}
)"));
  drv.Round();
  drv.Round();
  drv.Round();
  drv.SetRun("judge", "Successful");
  ExperimentDecision d = drv.Round();
  EXPECT_EQ(d.status.phase, "Successful");  // Argo's code would stay Running for ever
  EXPECT_EQ(d.status.message, "Required AnalysisRuns completed");
  d = drv.Round();
  EXPECT_EQ(d.terminate_analysis, std::vector<std::string>{"exp-watch"});
}

TEST(ExperimentTest, PastTheDurationItWaitsForItsRequiredAnalysis) {
  Driver drv(Spec("  duration: 10s\n", R"(
  analyses:
  - {name: judge, templateName: judge, requiredForCompletion: true}
)"));
  drv.Round();
  drv.Round();
  drv.Round();
  drv.Advance(11s);
  ExperimentDecision d = drv.Round();
  EXPECT_EQ(d.status.phase, "Running");
  EXPECT_EQ(Template(d.status, "purple").status, "Successful");
  drv.SetRun("judge", "Successful");
  d = drv.Round();
  EXPECT_EQ(d.status.phase, "Successful");
}

TEST(ExperimentTest, ATemplatePastItsProgressDeadlineFailsTheExperiment) {
  Driver drv(Spec("  progressDeadlineSeconds: 30\n"));
  drv.Round(false);
  ExperimentDecision d = drv.Round(false);
  EXPECT_EQ(d.status.phase, "Pending");
  drv.Advance(31s);
  d = drv.Round(false);
  EXPECT_EQ(Template(d.status, "purple").status, "Failed");
  EXPECT_EQ(Template(d.status, "purple").message,
            "Template 'purple' exceeded its progressDeadlineSeconds (30)");
  EXPECT_EQ(d.status.phase, "Failed");
  EXPECT_EQ(d.status.message, "Template 'purple' exceeded its progressDeadlineSeconds (30)");
}

TEST(ExperimentTest, AnInconclusiveAnalysisEndsItInconclusive) {
  Driver drv(Spec());
  drv.Round();
  drv.Round();
  drv.Round();
  drv.SetRun("pass", "Inconclusive");
  EXPECT_EQ(drv.Round().status.phase, "Inconclusive");
}

TEST(ExperimentTest, ArgumentsNameTheTemplatesRevisions) {
  Driver drv(Spec("  duration: 1m\n"));
  drv.Round();
  drv.Round();
  const ExperimentStatus& st = drv.status();
  auto v = ResolveExperimentArg(
      "{{templates.purple.podTemplateHash}}/{{ templates.orange.replicaset.name }}", "exp",
      drv.spec(), st);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, "h-purple/exp-orange");
  EXPECT_TRUE(ResolveExperimentArg("{{experiment.finishedAt}}", "exp", drv.spec(), st));
  auto bad = ResolveExperimentArg("{{args.x}}", "exp", drv.spec(), st);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "failed to resolve {{args.x}}");
}

TEST(ExperimentTest, TemplatesOfTheSamePodAreRevisionsOfTheirOwn) {
  Json pod = {{"spec", {{"containers", Json::array({{{"name", "c"}}})}}}};
  EXPECT_NE(ExperimentTemplateHash("e", "baseline", pod),
            ExperimentTemplateHash("e", "canary", pod));
  EXPECT_NE(ExperimentTemplateHash("e", "baseline", pod), PodTemplateHash(pod));
  EXPECT_EQ(ExperimentTemplateHash("e", "baseline", pod).size(), 10u);
}

TEST(ExperimentTest, StatusSurvivesJson) {
  Driver drv(Spec("  duration: 1m\n"));
  drv.Round();
  drv.Round();
  drv.Round();
  ExperimentStatus back = ExperimentStatus::FromJson(drv.status().ToJson());
  EXPECT_EQ(back.ToJson(), drv.status().ToJson());
  EXPECT_EQ(back.available_at_ms, drv.status().available_at_ms);
  EXPECT_EQ(back.analyses.size(), 2u);
}

}  // namespace
}  // namespace strake::rollout
