// Pods as people look for them (`strake get pods`). The v1 Pods strake runs
// are objects of the store; a workload's replicas and a Job's attempts are
// processes, shown here as the Pods a cluster would have made for them:
// `<workload>-<hash>-<index>` owned by their Rollout or Deployment,
// `<job>-<attempt>` owned by their Job. Built from what the target and the
// store say at the moment they are asked for, never stored (a write to one
// is refused as the name of no object). Pure.
#pragma once

#include <string>
#include <vector>

#include "model/node.h"
#include "rollout/target.h"
#include "store/store.h"

namespace strake::server {

// The annotations a process's Pod carries: which process it is, and the
// port the local target gave it.
inline constexpr const char* kProcessAnnotation = "strake.dev/process";
inline constexpr const char* kPortAnnotation = "strake.dev/port";

// A replica of `owner` (its Rollout, Deployment or Experiment object; the
// first two give the pod template's labels and container name; null if it
// is gone: no owner).
model::Json ReplicaPod(const rollout::ReplicaProcess& r, const model::Json& owner);

// A Job's attempts: the failed ones Failed, the last as it runs or ended.
std::vector<model::Json> JobPods(const store::Resource& job);

}  // namespace strake::server
