#include "rollout/replicas.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace strake::rollout {

Fenceposts ResolveFenceposts(const model::IntOrPercent& max_surge,
                             const model::IntOrPercent& max_unavailable, int replicas) {
  replicas = std::max(replicas, 0);
  Fenceposts f;
  f.max_surge = std::max(0, max_surge.Resolve(replicas, true));
  f.max_unavailable = std::max(0, max_unavailable.Resolve(replicas, false));
  // Rounding down may make both zero; a rollout must still be able to move.
  if (f.max_surge == 0 && f.max_unavailable == 0) f.max_unavailable = 1;
  f.max_unavailable = replicas == 0 ? 0 : std::min(f.max_unavailable, replicas);
  return f;
}

namespace {

struct Option {
  int canary = 0;
  int total = 0;
};

// Whether `total` replicas at `weight` split exactly half-way between two
// counts (3 at 50%: 1 and 2 are as far from 1.5).
bool Tied(int weight, int total) { return (int64_t{total} * weight) % 100 == 50; }

// |canary/total - weight/100| as a fraction over 100·total, compared by
// cross-multiplying so that no rounding decides between two options.
bool Nearer(const Option& a, const Option& b, int weight) {
  auto off = [&](const Option& o) {
    int64_t d = int64_t{o.canary} * 100 - int64_t{weight} * o.total;
    return d < 0 ? -d : d;
  };
  return off(a) * b.total < off(b) * a.total;
}

}  // namespace

CanaryCounts ApproximateWeightedCounts(int replicas, int weight, int max_surge) {
  if (replicas <= 0) return {};
  weight = std::clamp(weight, 0, 100);
  const int ceil = static_cast<int>((int64_t{replicas} * weight + 99) / 100);
  const int floor = static_cast<int>(int64_t{replicas} * weight / 100);
  // Zero of either revision only at 0% or 100%, or with a single replica
  // that may not surge.
  const bool zero_allowed = weight == 0 || weight == 100 || (replicas == 1 && max_surge == 0);
  std::vector<Option> options;
  if (ceil < replicas || zero_allowed) options.push_back({ceil, replicas});
  if (!Tied(weight, replicas) && (floor != 0 || zero_allowed)) options.push_back({floor, replicas});
  if (max_surge > 0) {
    options.push_back({ceil, replicas + 1});
    if (!Tied(weight, replicas + 1) && (floor != 0 || zero_allowed)) {
      options.push_back({floor, replicas + 1});
    }
  }
  if (options.empty()) return {0, replicas};
  Option best = options.front();
  for (const Option& o : options) {
    if (Nearer(o, best, weight)) best = o;  // the first of equals wins
  }
  return {best.canary, best.total - best.canary};
}

namespace {

// The replicas of a revision that scaling down may count on: what it was
// told to run when it still runs more (those are going), else its available
// ones, or all it runs when its availability is not what limits the step.
int ForScaleDown(const RevisionCount& r, bool ignore_availability) {
  if (r.replicas < r.available) return r.replicas;
  return ignore_availability ? r.replicas : r.available;
}

// Scales `r` down toward `desired` by at most `down` replicas.
int ScaleDownToward(const RevisionCount& r, int desired, int down, int current) {
  return r.replicas > desired ? std::max(desired, r.replicas - down) : current;
}

// After `drain` was scaled down: keeps the total within max_allowed by
// taking from `adjust`, gives `adjust` back what minAvailable still needs,
// and takes any excess from `drain` (Argo's adjustReplicaWithinLimits).
void KeepWithinLimits(const RevisionCount& drain, const RevisionCount& adjust, int& drain_count,
                      int& adjust_count, int max_allowed, int min_available) {
  int over = std::max(0, adjust_count + drain_count - max_allowed);
  adjust_count -= over;
  int available = std::min(drain.available, drain_count) + std::min(adjust.available, adjust_count);
  int lost = std::max(0, adjust.available - adjust_count);
  int needed = std::max(0, min_available - available);
  adjust_count += std::min(lost, needed);
  drain_count -= std::max(0, adjust_count + drain_count - max_allowed);
}

}  // namespace

CanaryCounts BasicCanaryCounts(const BasicCanaryInput& in) {
  const int spec = std::max(in.spec_replicas, 0);
  const Fenceposts f = ResolveFenceposts(in.max_surge, in.max_unavailable, spec);
  const RevisionCount canary{std::max(in.canary.replicas, 0), std::max(in.canary.available, 0)};
  const RevisionCount stable = in.has_stable ? RevisionCount{std::max(in.stable.replicas, 0),
                                                             std::max(in.stable.available, 0)}
                                             : RevisionCount{};
  const int older = std::max(in.older_replicas, 0);
  CanaryCounts want = in.has_stable ? ApproximateWeightedCounts(spec, in.weight, f.max_surge)
                                    : CanaryCounts{spec, 0};
  CanaryCounts out{canary.replicas, stable.replicas};

  // Scale up, stable first, within spec + maxSurge.
  const int max_allowed = spec + f.max_surge;
  int up = max_allowed - (older + canary.replicas + stable.replicas);
  if (in.has_stable && stable.replicas < want.stable && up > 0) {
    out.stable = std::min(want.stable, stable.replicas + up);
    up -= out.stable - stable.replicas;
  }
  if (canary.replicas < want.canary && up > 0) {
    out.canary = std::min(want.canary, canary.replicas + up);
  }
  if (older > 0) return out;  // other revisions go first

  // Scale down, keeping spec - maxUnavailable available. Growing the canary
  // counts its replicas whether available or not (so a crashing canary
  // cannot pin the stable); shrinking it, the stable's.
  const int min_available = spec - f.max_unavailable;
  const bool increasing = want.canary >= canary.replicas;
  int can_go = ForScaleDown(canary, !increasing) + ForScaleDown(stable, increasing);
  if (can_go <= min_available) return out;
  int down = can_go - min_available;
  if (!increasing) {
    out.canary = ScaleDownToward(canary, want.canary, down, out.canary);
    if (in.has_stable) {
      KeepWithinLimits(canary, stable, out.canary, out.stable, max_allowed, min_available);
    }
  } else if (in.has_stable) {
    out.stable = ScaleDownToward(stable, want.stable, down, out.stable);
    KeepWithinLimits(stable, canary, out.stable, out.canary, max_allowed, min_available);
  }
  return out;
}

int OlderToKeep(int spec_replicas, const Fenceposts& f, int all_available,
                const RevisionCount& older) {
  int keep = std::max(0, std::min(older.replicas, older.available));
  int can_go = all_available - (std::max(spec_replicas, 0) - f.max_unavailable);
  return can_go <= 0 ? keep : std::max(0, keep - can_go);
}

bool AtBasicCanaryCounts(const BasicCanaryInput& in, int older_available) {
  CanaryCounts want = BasicCanaryCounts(in);
  bool canary_done = want.canary == in.canary.replicas && want.canary == in.canary.available;
  bool stable_done = !in.has_stable || want.stable == in.stable.replicas;
  return canary_done && stable_done && older_available == 0;
}

}  // namespace strake::rollout
