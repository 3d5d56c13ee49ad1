// Experiments (argoproj.io/v1alpha1 Experiment): templates run as revisions
// of their own for a while, with analyses over them, as Argo runs them.
//
// Pure core: StepExperiment decides one round from the spec, the persisted
// status and what was observed (replicas per template, AnalysisRun phases,
// the time): each template's status, the replicas to run, the AnalysisRuns
// to start or stop, the phase, and when to look again. Argo's rules:
//   - a template is Running once all its replicas are available, Failed if
//     it is not within progressDeadlineSeconds of its last change; the
//     experiment is Pending until every template runs, then Running
//     (availableAt), and its analyses start;
//   - it is Successful when `duration` has passed since availableAt, when
//     every requiredForCompletion analysis succeeded, or when terminated;
//     Failed, Error or Inconclusive as its worst analysis (which ends it
//     early), Failed when a template missed its deadline, Error when one
//     cannot run; a finished phase never changes;
//   - once it ends (or terminates), unfinished AnalysisRuns are terminated
//     and the templates' replicas go after scaleDownDelaySeconds.
// Where Argo's own code leaves an experiment Running for ever (every
// required analysis succeeded while a non-required one still runs), strake
// ends it Successful, as Argo's documentation says it should.
//
// Driver: ExperimentReconciler runs the templates on the deploy target
// (workload "experiment.<name>", one revision per template), a Service in
// front of each template that asks for one, and the AnalysisRuns.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "controller/controller.h"
#include "model/rollouts.h"
#include "rollout/canary.h"
#include "rollout/target.h"
#include "store/store.h"

namespace strake::rollout {

struct TemplateStatus {
  std::string name;
  std::string hash;  // podTemplateHash
  int replicas = 0;
  int ready = 0;
  int available = 0;
  std::string status;  // Progressing, Running, Successful, Failed, Error
  std::string message;
  int64_t changed_ms = 0;        // lastTransitionTime: the counts or status last changed
  int64_t scale_down_at_ms = 0;  // set once it is no longer wanted
  std::string service_name;      // its Service, when it has one
};

struct ExperimentAnalysisStatus {
  std::string name;
  std::string run;    // the AnalysisRun's name ("" until made)
  std::string phase;  // "" until made, then the run's
  std::string message;
};

struct ExperimentStatus {
  std::string phase;  // "", Pending, Running, Successful, Failed, Error, Inconclusive
  std::string message;
  int64_t available_at_ms = 0;
  std::vector<TemplateStatus> templates;
  std::vector<ExperimentAnalysisStatus> analyses;

  Json ToJson() const;
  static ExperimentStatus FromJson(const Json& j);
};

struct ExperimentObservation {
  TimePoint now;
  std::map<std::string, std::string> template_hash;      // template -> its hash
  std::map<std::string, RevisionObservation> revisions;  // by hash (ready = available)
  std::map<std::string, std::string> template_error;     // template -> why it cannot run
  std::map<std::string, std::string> analysis_phase;     // by run name
  std::map<std::string, std::string> analysis_message;   // by run name
};

struct ExperimentDecision {
  ExperimentStatus status;
  std::map<std::string, int> replicas;          // template -> replicas to run now
  std::vector<std::string> start_analysis;      // analyses (by name) to make runs of
  std::vector<std::string> terminate_analysis;  // run names
  std::optional<std::chrono::milliseconds> requeue_after;
  struct Note {
    std::string reason;
    std::string message;
  };
  std::vector<Note> events;
};

// The AnalysisRun of analysis `analysis` of experiment `experiment`.
std::string ExperimentRunName(const std::string& experiment, const std::string& analysis);

// The hash of an Experiment's template: the pod template's, with the
// experiment and template names mixed in, so that a template copied from a
// Rollout's revision is a revision of its own (its metrics are its own).
std::string ExperimentTemplateHash(const std::string& experiment, const std::string& tmpl,
                                   const Json& pod_template);

bool IsFinishedPhase(const std::string& phase);

ExperimentDecision StepExperiment(const std::string& name, const model::ExperimentSpec& spec,
                                  const ExperimentStatus& status, const ExperimentObservation& obs);

// Resolves an Experiment's analysis argument value: {{templates.T.podTemplateHash}},
// {{templates.T.replicaset.name}}, {{experiment.availableAt}} and
// {{experiment.finishedAt}} (with a duration); any other {{…}} is an error.
Result<std::string> ResolveExperimentArg(const std::string& value, const std::string& experiment,
                                         const model::ExperimentSpec& spec,
                                         const ExperimentStatus& status);

// The deploy target's workload of an Experiment's templates.
std::string ExperimentWorkload(const std::string& experiment);

// Reconciles Experiments ("ns/name").
class ExperimentReconciler : public controller::Reconciler {
 public:
  ExperimentReconciler(store::Store& store, WorkloadTarget& target, TrafficRouter& router,
                       const Clock& clock);
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;

 private:
  // Makes the AnalysisRun of analysis `a`; a problem of the run (a missing
  // template, an argument that does not resolve) is the error.
  Status StartRun(const store::Resource& exp, const model::ExperimentSpec& spec,
                  const ExperimentStatus& status, const model::ExperimentAnalysis& a);
  // The Services of templates that ask for one: made (owned by the
  // Experiment), routed to their template while it runs, deleted after.
  void KeepServices(const store::Resource& exp, const model::ExperimentSpec& spec,
                    ExperimentDecision& d, const std::map<std::string, RevisionObservation>& obs);

  store::Store& store_;
  WorkloadTarget& target_;
  TrafficRouter& router_;
  const Clock& clock_;
};

}  // namespace strake::rollout
