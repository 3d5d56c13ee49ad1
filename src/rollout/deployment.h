// The rolling update of an apps/v1 Deployment, as a pure function.
//
// Kubernetes' rules: the new revision grows while the total stays within
// replicas + maxSurge (25%, rounded up); old revisions shrink while the ready
// replicas stay at least replicas - maxUnavailable (25%, rounded down; 1 when
// both would be 0), unready old replicas first since they serve nothing.
// Recreate stops every old replica before the new ones start. Pure; the
// controller applies the plan and calls again when replicas change.
#pragma once

#include <map>
#include <string>

#include "model/rollouts.h"
#include "rollout/canary.h"

namespace strake::rollout {

struct DeploymentPlan {
  std::map<std::string, int> replicas;  // hash -> replicas; absent: removed
  bool complete = false;                // every replica new and ready
  std::string message;
};

DeploymentPlan StepDeployment(const model::Deployment& d, const std::string& desired_hash,
                              const std::map<std::string, RevisionObservation>& revisions);

}  // namespace strake::rollout
