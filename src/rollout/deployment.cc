#include "rollout/deployment.h"

#include <fmt/format.h>

#include <algorithm>

namespace strake::rollout {

DeploymentPlan StepDeployment(const model::Deployment& d, const std::string& desired,
                              const std::map<std::string, RevisionObservation>& revisions) {
  DeploymentPlan plan;
  const int want = d.replicas;
  RevisionObservation fresh;
  int old_total = 0, old_ready = 0;
  for (const auto& [hash, r] : revisions) {
    if (hash == desired) {
      fresh = r;
    } else {
      old_total += r.replicas;
      old_ready += r.ready;
    }
  }
  if (d.recreate) {
    if (old_total > 0) {
      plan.replicas[desired] = 0;  // every old replica goes first
      plan.message = fmt::format("Recreate: stopping {} old replicas", old_total);
      return plan;
    }
    plan.replicas[desired] = want;
  } else {
    int surge = d.max_surge.Resolve(want, true);
    int unavailable = d.max_unavailable.Resolve(want, false);
    if (surge == 0 && unavailable == 0) unavailable = 1;
    // Scale up within replicas + maxSurge; never below what already runs.
    int grown = std::clamp(want + surge - old_total, fresh.replicas, want);
    plan.replicas[desired] = std::max(grown, 0);
    // Scale down while the ready replicas stay at replicas - maxUnavailable.
    int can_remove = std::max(0, fresh.ready + old_ready - (want - unavailable));
    for (const auto& [hash, r] : revisions) {
      if (hash == desired) continue;
      int unready = r.replicas - r.ready;
      int ready_removed = std::min(r.ready, can_remove);
      can_remove -= ready_removed;
      int keep = r.replicas - unready - ready_removed;
      if (keep > 0) plan.replicas[hash] = keep;
    }
  }
  int left = 0;
  for (const auto& [hash, n] : plan.replicas) {
    if (hash != desired) left += n;
  }
  plan.complete = fresh.ready >= want && fresh.replicas == want && left == 0 && old_total == 0;
  if (!plan.complete) {
    plan.message = fmt::format("{} of {} new replicas ready, {} old replicas left", fresh.ready,
                               want, old_total);
    // Why they are not (a replica's exit, probe or image pull).
    if (fresh.ready < want && !fresh.problem.empty()) plan.message += " (" + fresh.problem + ")";
  }
  return plan;
}

}  // namespace strake::rollout
