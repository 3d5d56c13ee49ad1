// What the rollout controller needs from a deploy target, as interfaces it
// owns (targets/local implements them with the runtime and the router; a
// Kubernetes target would with ReplicaSets and HTTPRoute weights).
//
// Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "model/rollouts.h"
#include "rollout/canary.h"

namespace strake::rollout {

// One revision of a workload to run.
struct RevisionSpec {
  std::string ns;
  std::string workload;  // the Rollout's (or Deployment's) name
  std::string hash;      // pod template hash
  model::PodTemplate pod;
  std::vector<std::pair<std::string, std::string>> env;  // the first container's env, resolved
  int replicas = 0;
  // The pod's imagePullSecrets, read: each a .dockerconfigjson (or
  // .dockercfg) text. Secret values: never logged or shown.
  std::vector<std::string> pull_secrets;
};

// One replica's output as its target keeps it.
struct ReplicaLog {
  std::string source;  // where it was read (a log file, on the local target)
  std::string text;    // its last 4 MiB at most
};

// The object a workload of the target belongs to. A workload is named by
// its owner: a Rollout by its own name, a Deployment "deployment.NAME", an
// Experiment "experiment.NAME", so that they may share a name.
struct WorkloadOwner {
  std::string kind;
  std::string name;
};
inline WorkloadOwner OwnerOfWorkload(const std::string& workload) {
  for (const auto& [prefix, kind] :
       {std::pair{"deployment.", "Deployment"}, std::pair{"experiment.", "Experiment"}}) {
    std::string_view p(prefix);
    if (workload.compare(0, p.size(), p) == 0) return {kind, workload.substr(p.size())};
  }
  return {"Rollout", workload};
}

// One replica as the target runs it, for people (`strake get pods`).
struct ReplicaProcess {
  std::string ns;
  std::string workload;  // the Rollout's (or Deployment's) name
  std::string hash;      // its revision's pod template hash
  int index = 0;
  int64_t pid = -1;  // -1: not running
  uint16_t port = 0;
  bool ready = false;
  int restarts = 0;
  std::string state;    // Starting, Running, Ready, CrashLoopBackOff, Failed, Terminating
  std::string message;  // the last exit, probe failure or spawn error
};

class WorkloadTarget {
 public:
  virtual ~WorkloadTarget() = default;
  // Runs `spec.replicas` replicas of the revision (creating or scaling it).
  virtual Status ScaleRevision(const RevisionSpec& spec) = 0;
  // Removes the workload's revisions that are not in `keep`.
  virtual void Prune(const std::string& ns, const std::string& workload,
                     const std::set<std::string>& keep) = 0;
  // Replicas per revision hash.
  virtual std::map<std::string, RevisionObservation> Observe(const std::string& ns,
                                                             const std::string& workload) = 0;
  // The output of a workload's replicas (one revision's when `hash` is not
  // empty), one entry per replica; none from a target that keeps no logs.
  virtual std::vector<ReplicaLog> Logs(const std::string& /*ns*/, const std::string& /*workload*/,
                                       const std::string& /*hash*/) const {
    return {};
  }
  // Every replica of namespace `ns` ("": all), in no particular order; none
  // from a target that cannot say.
  virtual std::vector<ReplicaProcess> Replicas(const std::string& /*ns*/) const { return {}; }
};

// One more revision a Service sends a share of its traffic to (a template
// of an experiment step's Experiment), taken from the stable's share.
struct ExtraBackend {
  std::string workload;
  std::string hash;
  int weight = 0;
};

// Where a Service's traffic goes.
struct ServiceTraffic {
  std::string ns;
  model::Service service;
  std::string address;      // its cluster IP, where it listens (127.0.0.0/8)
  std::string workload;     // "" for a Service with no workload behind it
  std::string stable_hash;  // gets 100 - canary_weight
  std::string canary_hash;  // "" when there is none
  int canary_weight = 0;
  std::vector<HeaderRouteDecision> header_routes;  // to the canary
  std::vector<MirrorRouteDecision> mirror_routes;  // copies to the canary
  std::vector<ExtraBackend> extra;                 // the stable gets 100 - canary_weight - theirs
};

// Where a Service stands on the target.
struct ServiceServing {
  bool listening = false;
  std::string address;  // where it listens, or last tried to
  uint16_t port = 0;
  bool backed = false;      // a workload's traffic is installed (SetTraffic)
  int ready_endpoints = 0;  // in the table installed, over every revision
  // The last failure to listen, when not listening: code kConflict (the
  // address is taken), kForbidden (a privileged port), or another.
  std::optional<Error> error;
  uint64_t claim = 0;  // how many SetTraffic calls it has had
};

class TrafficRouter {
 public:
  virtual ~TrafficRouter() = default;
  // Installs a workload's traffic for a Service, listening on
  // traffic.address and its first port (again, if it moved or failed).
  virtual Status SetTraffic(const ServiceTraffic& traffic) = 0;
  // Listens for a Service that no workload serves: every request is
  // answered 503 naming `why`. Does nothing if SetTraffic was called for it
  // since Serving() returned `claim` (a workload took it meanwhile).
  virtual Status ServeUnbacked(const ServiceTraffic& traffic, const std::string& why,
                               uint64_t claim) = 0;
  // Where the Service stands (not listening, no error, if never set).
  virtual ServiceServing Serving(const std::string& ns, const std::string& service) = 0;
  // Stops routing a Service (deleted).
  virtual void RemoveService(const std::string& ns, const std::string& service) = 0;
};

// Windowed counters of one service revision, from the embedded router.
struct RevisionWindow {
  double seconds = 0;  // the span actually covered
  uint64_t requests = 0;
  uint64_t errors = 0;                // 5xx answers, upstream errors included
  std::vector<double> bucket_bounds;  // upper bounds (seconds), +Inf last
  std::vector<uint64_t> buckets;      // counts per bucket (not cumulative)
};

// What the router provider of analysis measures from (the embedded
// router's windows, on the local target).
class RouterMetricsSource {
 public:
  virtual ~RouterMetricsSource() = default;
  virtual Result<RevisionWindow> Window(const std::string& ns, const std::string& service,
                                        const std::string& revision,
                                        std::chrono::milliseconds window) = 0;
  // The windows of consecutive `step`s from `ago` back to `ago - span`
  // (oldest first, durations before now), each counting only its own step:
  // a time series of the revision, as the canary judge compares them. A
  // step before the first sample, or before the revision was seen, counts
  // nothing.
  virtual Result<std::vector<RevisionWindow>> Series(const std::string& ns,
                                                     const std::string& service,
                                                     const std::string& revision,
                                                     std::chrono::milliseconds ago,
                                                     std::chrono::milliseconds span,
                                                     std::chrono::milliseconds step) = 0;
};

}  // namespace strake::rollout
