// A Rollout's spec.workloadRef, resolved as Argo's template resolver does:
// the Rollout is reconciled with the referenced Deployment's pod template
// (and its selector, when the Rollout has none), read each time the Rollout
// is, so a change to the Deployment's template is a new revision of the
// Rollout. The Deployment keeps running what it runs; what becomes of its
// replicas is the reference's `scaleDown` (DeploymentScaleFor).
#pragma once

#include <optional>

#include "base/result.h"
#include "model/rollouts.h"
#include "store/store.h"

namespace strake::rollout {

// The Rollout spec `rollout_spec` with the pod template and, when it has no
// selector, the selector of `deployment` (a stored apps/v1 Deployment
// object), and without its workloadRef (what Argo calls a template resolved
// from the reference). Fails when the Deployment has no template.
Result<store::Json> ResolvedSpec(const store::Json& rollout_spec, const store::Json& deployment);

struct ResolvedWorkload {
  std::optional<store::Resource> deployment;  // as read; none when it is gone
  model::WorkloadRef ref;                     // the Rollout's spec.workloadRef
  // Why the template is the recorded one: the Deployment is not there
  // (deleted after the Rollout took its template). The Rollout keeps
  // running and serving its current revision, and says this.
  std::string missing;
};

// Resolves `rollout` in place when its spec has a workloadRef, and returns
// what it read; nullopt, `rollout` untouched, when it has none. When the Deployment is not there
// the template is the one recorded for the Rollout's current revision
// (status.currentPodHash), with `missing` saying so; with no such record a
// missing Deployment is an error of code kNotFound, naming it. A spec that
// does not decode is kInvalid.
Result<std::optional<ResolvedWorkload>> ResolveWorkloadRef(store::Store& store,
                                                           store::Resource& rollout);

// The kind of the records of a Rollout's (or Deployment's) revisions, each
// named <workload>-<hash>, owned by it, its template in spec.template.
inline constexpr const char* kRevisionKind = "RolloutRevision";

// Whether a stored Rollout object references the Deployment `name`.
bool ReferencesDeployment(const store::Json& rollout, const std::string& name);

// The Deployment's spec.replicas that `scale_down` asks for, given the
// Rollout's revision number, phase, desired and ready replicas and the
// Deployment's current spec.replicas; nullopt to leave it. As Argo does,
// only the first revision scales the Deployment (a migration happens once):
// onsuccess to 0 once Healthy; progressively to what the Rollout's ready
// replicas leave of its desired count (up again when the Rollout is
// Degraded and its replicas go), and to 0 once Healthy.
std::optional<int> DeploymentScaleFor(model::WorkloadRef::ScaleDown scale_down, int64_t revision,
                                      const std::string& phase, int desired, int ready,
                                      int current);

}  // namespace strake::rollout
