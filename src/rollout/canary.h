// The canary and blue-green state machines of Argo Rollouts, as pure
// functions.
//
// Step() looks at a Rollout's spec, its persisted status and what the
// controller observed (ready replicas per revision, AnalysisRun phases, the
// time) and decides one round: the new status, how many replicas each
// revision should have, where traffic goes, which AnalysisRuns to start or
// stop, and when to look again. It never sleeps, reads a clock or touches a
// process, so each transition is a unit test; the controller applies the
// decision. Semantics and defaults follow Argo's documentation: a setWeight
// step waits for the canary's replicas to be ready before it counts as done,
// a pause without a duration waits for promote, a failed or errored analysis
// aborts (weight 0 at once, canary scaled down after
// abortScaleDownDelaySeconds, phase Degraded), an inconclusive one pauses,
// the last step promotes the canary to stable, and the old stable is scaled
// down after scaleDownDelaySeconds.
//
// A step the rollout cannot pass holds it saying why: a plugin step whose
// plugin is not configured or cannot be loaded (step_plugins.h), or replicas
// that never come. A canary that has not moved on (a step, or its
// replicas) for progressDeadlineSeconds is Degraded, as Argo's phase for
// ProgressDeadlineExceeded, and aborted with progressDeadlineAbort;
// analysis, experiment and pause steps are exempt (Argo's indefinite steps).
//
// Every attempt measures afresh: an AnalysisRun is named after the rollout's
// revision number (a template applied again gets a new one, as a ReplicaSet's
// revision annotation does) and the attempt (retry starts a new one), so no
// run of an earlier attempt can decide a later one. A return to one of the
// last spec.rollbackWindow revisions skips steps and analysis.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "model/rollouts.h"
#include "rollout/step_plugins.h"

namespace strake::rollout {

using Json = nlohmann::ordered_json;

struct PauseCondition {
  std::string reason;  // CanaryPauseStep, BlueGreenPause, InconclusiveAnalysis
  int64_t start_ms = 0;
};

// Traffic to one template of a running experiment step's Experiment, out of
// the stable revision's share.
struct ExperimentWeight {
  std::string experiment;
  std::string template_name;
  int weight = 0;
};

// A step plugin's status (status.canary.stepPluginStatuses[] in Argo): a
// disabled plugin's step is passed over and says so.
struct StepPluginStatus {
  int index = 0;
  std::string name;
  std::string operation = "Run";
  bool disabled = false;
};

// The persisted status, in Argo's field names (status.* of a Rollout).
struct RolloutStatus {
  std::string phase;  // Healthy, Progressing, Paused, Degraded
  std::string message;
  std::string current_pod_hash;
  std::string stable_rs;
  int current_step_index = 0;
  std::vector<PauseCondition> pause_conditions;
  bool abort = false;
  int64_t aborted_at_ms = 0;
  bool promote_full = false;     // set by `rollout promote --full`
  int attempt = 0;               // retries of this update (each starts new AnalysisRuns)
  int64_t progressed_at_ms = 0;  // last step change (progress deadline)
  // Revisions to scale down later: hash -> when (ms).
  std::map<std::string, int64_t> scale_down_at;
  std::string step_analysis_run;        // name
  std::string background_analysis_run;  // name
  std::string current_experiment;       // an experiment step's Experiment, by name
  // blueGreen
  std::string active_selector;
  std::string preview_selector;
  int64_t preview_ready_at_ms = 0;
  std::string pre_promotion_run;
  std::string post_promotion_run;
  // Observed, for `rollout status`. Without trafficRouting the canary's
  // weight is its share of the replicas serving (weights_approximated);
  // with it, the weight the router is set to.
  int canary_weight = 0;
  bool weights_approximated = false;
  std::vector<ExperimentWeight> experiment_weights;  // out of the stable's share
  int replicas = 0;
  int ready_replicas = 0;
  int updated_replicas = 0;
  int64_t observed_generation = 0;
  // With spec.workloadRef: the referenced Deployment's generation whose
  // template this status is of (Argo's workloadObservedGeneration).
  std::string workload_observed_generation;
  std::vector<StepPluginStatus> step_plugin_statuses;  // this update's

  Json ToJson() const;
  static RolloutStatus FromJson(const Json& j);
};

struct RevisionObservation {
  int replicas = 0;     // running now
  int ready = 0;        // passing readiness (available, once minReadySeconds is applied)
  std::string problem;  // why a replica is not ready, if the target knows
  std::vector<std::chrono::milliseconds> ready_for;  // how long each ready one has been
};

// minReadySeconds (Kubernetes' and Argo's): a ready replica counts as
// available once it has been ready that long. Sets each revision's `ready`
// to its available replicas; returns how long until the next ready one
// becomes available (nullopt: none is waiting).
std::optional<std::chrono::milliseconds> ApplyMinReady(
    std::map<std::string, RevisionObservation>& revisions, int min_ready_seconds);

struct AnalysisToStart {
  std::string name;  // the AnalysisRun's name
  model::RolloutAnalysis analysis;
  std::string kind;  // Step, Background, PrePromotion, PostPromotion
};

struct Observation {
  std::string desired_hash;  // hash of spec.template now
  int64_t revision = 0;      // the desired hash's revision number (AnalysisRun names)
  // The order in which each recorded revision (by hash) was first recorded,
  // as a ReplicaSet's creation time orders it in Argo: spec.rollbackWindow.
  std::map<std::string, int64_t> first_revision;
  std::map<std::string, RevisionObservation> revisions;  // by hash
  // Phases of AnalysisRuns by name: Pending, Running, Successful, Failed,
  // Error, Inconclusive. Absent: not created yet.
  std::map<std::string, std::string> analysis_phase;
  std::map<std::string, std::string> analysis_message;
  // Phases and messages of the Rollout's Experiments by name, as of
  // AnalysisRuns (Pending, Running, Successful, Failed, Error, Inconclusive);
  // NotFound: the current one is gone (or not the Rollout's).
  std::map<std::string, std::string> experiment_phase;
  std::map<std::string, std::string> experiment_message;
  TimePoint now;
  int64_t generation = 0;
  // The step plugins configured (argo-rollouts-config's stepPlugins), by
  // name; step_plugins_error: why that configuration could not be read.
  std::map<std::string, StepPluginConfig> step_plugins;
  std::string step_plugins_error;
};

struct HeaderRouteDecision {
  std::string name;
  std::vector<model::HeaderMatch> match;
};

struct MirrorRouteDecision {
  std::string name;
  std::optional<model::StringMatchSpec> method;
  std::optional<model::StringMatchSpec> path;
  std::vector<model::HeaderMatch> headers;
  int percentage = 100;
};

// An experiment step's Experiment to make: spec.strategy.canary.steps[step]'s.
struct ExperimentToStart {
  std::string name;
  int step = 0;
};

struct Decision {
  RolloutStatus status;
  std::map<std::string, int> replicas;  // hash -> desired replicas; others are removed
  // Traffic: with trafficRouting the stable revision gets 100 -
  // canary_weight of the stable service; without it, Services balance over
  // the replicas serving (ServingReplicas). Header and mirror routes send
  // to the canary.
  std::string stable_hash;
  std::string canary_hash;  // "" when no update is in progress
  int canary_weight = 0;
  std::vector<HeaderRouteDecision> header_routes;
  std::vector<MirrorRouteDecision> mirror_routes;
  // Without trafficRouting: a revision on its way out (the canary dropped
  // by going back to stable) that Services over pods still balance over
  // beside the stable one while it is scaled down; "" for none.
  std::string draining_hash;
  // blueGreen: which revision each service selects.
  std::string active_hash;
  std::string preview_hash;
  std::vector<AnalysisToStart> start_analysis;
  std::vector<std::string> terminate_analysis;
  std::optional<ExperimentToStart> start_experiment;
  std::vector<std::string> terminate_experiments;
  // While an experiment step's Experiment is Running: the share of its
  // weighted templates (the stable revision gets 100 - canary_weight - these).
  std::vector<ExperimentWeight> experiment_weights;
  std::optional<std::chrono::milliseconds> requeue_after;
  // A state change worth an event ("" for none).
  std::string reason;
  std::string event;
};

// Asks to be looked at again within `after` (the sooner of this and any
// earlier ask; at least 1 ms).
void Requeue(Decision& d, std::chrono::milliseconds after);

// Replicas of `hash` that a Service balancing over pods sends requests to:
// its ready (available) ones, but no more than `decided` keeps, as a pod
// being removed leaves the endpoints first.
int ServingReplicas(const std::map<std::string, RevisionObservation>& observed,
                    const std::map<std::string, int>& decided, const std::string& hash);

// The canary's share (0-100, rounded down) of the replicas serving of
// `stable` and `canary`; 0 when neither serves.
int ServingWeight(const std::map<std::string, RevisionObservation>& observed,
                  const std::map<std::string, int>& decided, const std::string& stable,
                  const std::string& canary);

// One round of the canary strategy. `name` is the Rollout's name (analysis
// run names derive from it). With spec.strategy.canary.trafficRouting the
// weights are exact (the router's) and stable keeps every replica beside
// the canary's; without it, Argo's basic canary (replicas.h): each setWeight
// scales canary and stable to the counts that approximate it within
// maxSurge/maxUnavailable, is done once both run those counts and the
// canary's are available, an abort scales back the same way (no
// abortScaleDownDelaySeconds), and promotion scales the canary up as the
// stable goes down (no scaleDownDelaySeconds). The weight reported is then
// the canary's share of the replicas serving.
Decision StepCanary(const std::string& name, const model::RolloutSpec& spec,
                    const RolloutStatus& status, const Observation& obs);

// One round of the blueGreen strategy.
Decision StepBlueGreen(const std::string& name, const model::RolloutSpec& spec,
                       const RolloutStatus& status, const Observation& obs);

inline Decision Step(const std::string& name, const model::RolloutSpec& spec,
                     const RolloutStatus& status, const Observation& obs) {
  return spec.canary ? StepCanary(name, spec, status, obs) : StepBlueGreen(name, spec, status, obs);
}

// The name of an AnalysisRun, as Argo names them:
// <rollout>-<hash>-<revision>[-<infix>], the infix being the step's index
// (from 0), "pre" or "post" ("" for background analysis); attempt N > 0 (the
// Nth retry) appends ".N", as Argo's collision counter does for a new run
// beside a finished one of the same name.
std::string AnalysisRunName(const std::string& rollout, const std::string& hash, int64_t revision,
                            const std::string& infix, int attempt);

// The name of an experiment step's Experiment, as Argo names them:
// <rollout>-<hash>-<revision>-<step>; attempt N > 0 (the Nth retry) appends
// "-aN" (an Experiment's templates name Services, which take no dot).
std::string ExperimentName(const std::string& rollout, const std::string& hash, int64_t revision,
                           int step, int attempt);

// Argo's isRollbackWithinWindow: `desired` was first recorded before `stable`
// (a rollback), and fewer than spec.rollbackWindow.revisions revisions were
// first recorded between the two. False without a window, or when either
// revision's order is unknown.
bool RollbackWithinWindow(const model::RolloutSpec& spec, const std::string& stable,
                          const std::string& desired,
                          const std::map<std::string, int64_t>& first_revision);

// The canary weight in effect at `step_index` (Argo's GetCurrentSetWeight):
// the last setWeight at or before it; 100 once every step is done.
int CurrentSetWeight(const model::CanaryStrategy& c, int step_index);

}  // namespace strake::rollout
