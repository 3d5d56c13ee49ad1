// Argo Rollouts' basic canary (a canary without trafficRouting), as pure
// functions on counts.
//
// Without a traffic router, a canary's weight can only be approximated by
// how many replicas each revision runs, the Services balancing over all of
// them. BasicCanaryCounts gives the replicas Argo's controller would set at
// one round (utils/replicaset/canary.go, CalculateReplicaCountsForBasicCanary):
// the counts that best approximate the weight (ApproximateWeightedCounts),
// reached in steps that never run more than spec.replicas + maxSurge
// replicas nor, when scaling down, leave fewer than spec.replicas -
// maxUnavailable available. A round is done when AtBasicCanaryCounts.
//
// "Replicas" of a revision are the replicas it runs now (a ReplicaSet's
// spec.replicas: strake's target runs what it was last told); "available"
// are those ready for minReadySeconds. Plain values; no state, no errors:
// inputs out of range are clamped (negative counts read as 0).
#pragma once

#include "model/workloads.h"

namespace strake::rollout {

// maxSurge and maxUnavailable resolved against spec.replicas as Kubernetes
// resolves them (surge rounds up, unavailable down); both 0 makes
// unavailable 1, and unavailable never exceeds the replicas (Argo's
// resolveFenceposts, MaxSurge, MaxUnavailable).
struct Fenceposts {
  int max_surge = 0;
  int max_unavailable = 0;
};
Fenceposts ResolveFenceposts(const model::IntOrPercent& max_surge,
                             const model::IntOrPercent& max_unavailable, int replicas);

struct CanaryCounts {
  int canary = 0;
  int stable = 0;
  bool operator==(const CanaryCounts&) const = default;
};

// The canary and stable counts whose canary share is nearest `weight`
// (0-100) among spec.replicas split with the weight rounded up or down and,
// when max_surge > 0, spec.replicas + 1 split so; a weight strictly between
// 0 and 100 gets at least one replica of each unless spec.replicas is 1 and
// there is no surge. A tie between floor and ceiling takes the larger canary.
CanaryCounts ApproximateWeightedCounts(int replicas, int weight, int max_surge);

struct RevisionCount {
  int replicas = 0;   // running now
  int available = 0;  // of those, available
};

struct BasicCanaryInput {
  int spec_replicas = 1;
  int weight = 0;  // the desired canary weight, 0-100 (100 to promote, 0 on abort)
  model::IntOrPercent max_surge{25, true};
  model::IntOrPercent max_unavailable{25, true};
  RevisionCount canary;
  RevisionCount stable;
  // False when there is no stable revision apart from the canary: the
  // canary is then simply scaled to spec.replicas.
  bool has_stable = true;
  int older_replicas = 0;  // running replicas of other revisions (being removed)
};

// The replicas of canary and stable at this round (see the file comment).
CanaryCounts BasicCanaryCounts(const BasicCanaryInput& in);

// How many replicas a revision on its way out (neither stable nor canary,
// say a canary dropped by going back to stable) keeps at this round, as
// Argo's scaleDownOldReplicaSetsForCanary scales one down for a basic
// canary: its unavailable replicas go at once; available ones only as far
// as the rollout's `all_available` replicas stay at spec.replicas -
// maxUnavailable.
int OlderToKeep(int spec_replicas, const Fenceposts& f, int all_available,
                const RevisionCount& older);

// Argo's AtDesiredReplicaCountsForCanary for a basic canary: both revisions
// run the counts BasicCanaryCounts asks for now, every canary replica is
// available, and no replica of another revision is still available.
bool AtBasicCanaryCounts(const BasicCanaryInput& in, int older_available);

}  // namespace strake::rollout
