// RolloutReconciler: drives Rollouts ("ns/name" keys) with the pure state
// machines of canary.h and a deploy target.
//
// One round: read the Rollout, hash its pod template (the revision), record
// the revision (strake.dev/v1 RolloutRevision, for undo and to run an older
// stable), observe the target and the AnalysisRuns, Step(), then apply the
// decision in the order that drops no request — traffic first (weights away
// from what is about to go), then replicas, then AnalysisRuns — and write the
// status with the decision's event. The user's verbs (promote, abort, retry,
// undo) are Act(), a status or spec edit under optimistic concurrency.
//
// Thread-safe as a Reconciler: the controller never runs one key twice at once.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "base/clock.h"
#include "controller/controller.h"
#include "rollout/mesh.h"
#include "rollout/target.h"
#include "rollout/workload_ref.h"
#include "store/store.h"

namespace strake::rollout {

// The pod template hash of a Rollout: 10 hex digits of SHA-256 over the
// template's canonical JSON.
std::string PodTemplateHash(const Json& tmpl);

// The value of key `ref.key` of ConfigMap or Secret (`secret`) `ref.name`
// of namespace `ns` (a Secret's data decoded); nullopt when either is missing.
Result<std::optional<std::string>> ReadKeyRef(store::Store& store, const std::string& ns,
                                              const model::KeyRef& ref, bool secret);

// What the downward API (env valueFrom.fieldRef) reads of the pod a
// container runs in. `name` and `uid` are "" where there is no one pod to
// name (a Deployment's or Rollout's replicas share one environment): asking
// for them there is an error.
struct PodFields {
  std::string name;
  std::string ns;
  std::string uid;
  std::string service_account;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

// A container's environment with every valueFrom (ConfigMap or Secret key,
// and with `pod` the downward API's fields) read; a missing key that is not
// optional is an error, and so is a fieldRef without `pod`.
Result<std::vector<std::pair<std::string, std::string>>> ResolveEnv(store::Store& store,
                                                                    const std::string& ns,
                                                                    const model::Container& c,
                                                                    const PodFields* pod = nullptr);

// Every value of every Secret of namespace `ns` (data decoded, stringData
// as written): what a log of a process that could read any of them is
// masked with (base/mask.h).
Result<std::vector<std::string>> SecretValues(store::Store& store, const std::string& ns);

// The registry credentials the Secrets `names` of `ns` hold (the texts of
// kubernetes.io/dockerconfigjson and dockercfg Secrets; others, and
// Secrets that do not exist, give none, as the kubelet pulls without them).
Result<std::vector<std::string>> PullSecrets(store::Store& store, const std::string& ns,
                                             const std::vector<std::string>& names);

// What a revision's pod reads from the store, into `rs`: the first
// container's environment (ResolveEnv; its replicas share one, with no one
// pod name or uid) and the pod's pull secrets (PullSecrets).
Status ReadRevisionInputs(store::Store& store, RevisionSpec& rs);

// The target's observation of `workload`'s revisions in `ns`. A replica's
// problem may hold what its workload wrote (the answer to a readiness
// probe) and the workload may read any Secret of `ns`: every value is
// masked in it (base/mask.h) before it can reach a status, event or log.
Result<std::map<std::string, RevisionObservation>> ObserveMasked(store::Store& store,
                                                                 WorkloadTarget& target,
                                                                 const std::string& ns,
                                                                 const std::string& workload);

// What recording the current revision tells a round (see RecordRevision).
struct RecordedRevisions {
  int64_t revision = 0;                           // the current hash's revision number
  std::map<std::string, int64_t> first_revision;  // hash -> order first recorded
};

// Ready replicas of one revision of a workload, for a Service that selects
// them beside a Rollout's: traffic is shared by ready counts, as kube-proxy
// shares it over ready pods.
struct ReadyBackend {
  std::string workload;
  std::string hash;
  int ready = 0;
};

// Why a workload's Services do not all serve yet: `problem`, one that
// cannot (its port taken: the workload is Degraded), `waiting`, one that
// will (no address yet: it is not Healthy meanwhile).
struct ServiceIssues {
  std::string problem;
  std::string waiting;
};

class RolloutReconciler : public controller::Reconciler {
 public:
  RolloutReconciler(store::Store& store, WorkloadTarget& target, TrafficRouter& router,
                    const Clock& clock);
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;

  // Reconciles an apps/v1 Deployment ("ns/name"): a rolling update of its
  // revisions (StepDeployment), and the Services that select its pods
  // splitting traffic by ready replicas, as a Service over pods would.
  Result<controller::ReconcileResult> ReconcileDeployment(const std::string& key);

  // promote [full], abort, retry, or undo (to_revision 0: the previous one).
  Status Act(const std::string& ns, const std::string& name, const std::string& action, bool full,
             int to_revision);

 private:
  Result<model::PodTemplate> RevisionTemplate(const std::string& ns, const std::string& name,
                                              const std::string& hash, Json* raw);
  // ObserveMasked of this reconciler's store and target.
  Result<std::map<std::string, RevisionObservation>> Observe(const std::string& ns,
                                                             const std::string& workload);
  // Records revision `hash` of `workload` (owned by `owner`) for undo and
  // for running an older revision; keeps history_limit old ones. Numbers
  // as Kubernetes numbers ReplicaSets: a new hash gets the next revision
  // number, and so does a recorded one that becomes current again after
  // others (re-apply, undo); its first number stays as its age, which
  // spec.rollbackWindow compares.
  Result<RecordedRevisions> RecordRevision(const store::Resource& owner,
                                           const std::string& workload, const std::string& hash,
                                           const Json& tmpl, int history_limit,
                                           const std::string& keep_hash);
  // spec.workloadRef's scaleDown: sets the referenced Deployment's
  // spec.replicas as DeploymentScaleFor says (a failure is logged; the
  // next round tries again).
  void ScaleReferencedDeployment(const store::Resource& deployment, const model::WorkloadRef& ref,
                                 int64_t revision, int desired, const RolloutStatus& status);
  // The phases and messages of the Rollout's current AnalysisRuns and
  // Experiment (those it owns) into *obs; the Experiment's status.
  Status ObserveRuns(const store::Resource& ro, const RolloutStatus& status, Observation* obs,
                     Json* experiment_status);
  // Terminates the runs the decision ends, and deletes the Rollout's runs
  // that RunsToDelete picks: none that `before` (the stored status) or the
  // decision uses.
  void EndRuns(const store::Resource& ro, const model::RolloutSpec& spec,
               const RolloutStatus& before, const Decision& d,
               const std::map<std::string, int64_t>& recorded);
  // The step plugins argo-rollouts-config configures (the Rollout's
  // namespace first, then Argo's own), when a step names one.
  void ObserveStepPlugins(const std::string& ns, const model::RolloutSpec& spec, Observation* obs);
  // The Gateway API plugin's routes (named, or matched by its selectors) at
  // the weight; whether to look again soon (a write lost a race).
  bool KeepGatewayRoutes(const store::Resource& rollout, const model::GatewayApiRouting& g,
                         const MeshTargets& t, int weight, ServiceIssues* issues);
  // A workloadRef's Deployment's ready replicas, which the Rollout's
  // Services share while they run.
  Result<std::vector<ReadyBackend>> Alongside(const std::optional<ResolvedWorkload>& workload);
  // A workloadRef's part of the status (workloadObservedGeneration, or
  // Degraded when the Deployment is gone) and its scaleDown, once the
  // round's phase is known.
  void FinishWorkloadRef(const std::optional<ResolvedWorkload>& workload,
                         const model::RolloutSpec& spec, int64_t revision, RolloutStatus& status);
  // Whether a Rollout of `ns` that can be reconciled references the
  // Deployment (spec.workloadRef).
  Result<bool> ReferencedByRollout(const std::string& ns, const std::string& deployment);
  // Runs each revision in `replicas` (the current one from current_pod, older
  // ones from their records, env resolved) and removes the workload's others.
  // A failure is left in *problem; the other revisions still go ahead.
  void ScaleRevisions(const std::string& ns, const std::string& workload,
                      const std::string& current_hash, const model::PodTemplate& current_pod,
                      const std::map<std::string, int>& replicas, std::string* problem);
  Status StartAnalysis(const store::Resource& rollout, const AnalysisToStart& a, const Decision& d,
                       int64_t revision);
  // Makes an experiment step's Experiment (owned by the Rollout): its
  // templates copies of the stable or canary revision, its analyses' args
  // read now, as Argo's GetExperimentFromTemplate.
  Status StartExperiment(const store::Resource& rollout, const model::RolloutSpec& spec,
                         const ExperimentToStart& e, const Decision& d, int64_t revision);
  // Terminates every running Experiment of the Rollout but its current one.
  Status EndExperiments(const store::Resource& rollout, const model::RolloutSpec& spec,
                        const Decision& d);
  // The Services the strategy names, as it says; then every other Service
  // whose selector matches the pods, as Kubernetes routes it: over the ready
  // replicas of both revisions (`observed`).
  // `alongside`: ready replicas of another workload whose pods the plain
  // Services also select (a workloadRef's Deployment while it still runs).
  Status ApplyTraffic(const std::string& ns, const std::string& name,
                      const model::RolloutSpec& spec, const Decision& d,
                      const std::map<std::string, RevisionObservation>& observed,
                      const std::vector<ExtraBackend>& extra,
                      const std::vector<ReadyBackend>& alongside, ServiceIssues* issues);
  Status PlainServices(const std::string& ns, const std::string& name,
                       const model::RolloutSpec& spec, const Decision& d,
                       const std::map<std::string, RevisionObservation>& observed,
                       const std::set<std::string>& named,
                       const std::vector<ReadyBackend>& alongside, ServiceIssues* issues);
  // Routes one Service as `t` says, at the address the Service's status
  // holds (its cluster IP, allocated by the ServiceReconciler). One with no
  // address yet is left for the round its allocation wakes.
  void Route(const store::Resource& service, ServiceTraffic t, ServiceIssues* issues);
  // The mesh objects trafficRouting names (rollout/mesh.h), at the weight in
  // effect; true when one changed meanwhile and the round should be retried.
  // `experiments`: a running experiment step's weighted template Services.
  bool KeepMeshWeights(const store::Resource& rollout, const model::RolloutSpec& spec,
                       const Decision& d, const std::vector<WeightDestination>& experiments,
                       ServiceIssues* issues);
  // The canary copy `name` of a mesh object (nginx's canary Ingress,
  // Ambassador's canary Mapping), owned by the Rollout: made, kept at
  // `next`, or deleted when `next` is null. True to try again soon.
  bool KeepCanaryCopy(const store::Resource& rollout, const char* kind, const std::string& name,
                      const Json* next, ServiceIssues* issues);
  // Writes `next` over `current` when they differ; true on a conflict.
  bool WriteMeshObject(const store::Resource& current, const Json& next, ServiceIssues* issues);

  store::Store& store_;
  WorkloadTarget& target_;
  TrafficRouter& router_;
  const Clock& clock_;
};

}  // namespace strake::rollout
