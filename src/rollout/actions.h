// The user's verbs on a Rollout (`strake rollout promote|abort|retry`), as
// pure edits of its status, with Argo's meanings:
//   promote        unpauses and skips the current step (canary), or lets a
//                  paused blue-green preview be promoted
//   promote --full skips every remaining step and analysis
//   abort          weight back to stable at once; the canary is scaled down
//                  after abortScaleDownDelaySeconds; phase Degraded
//   retry          starts an aborted update over from its first step, as a
//                  new attempt that measures afresh (new AnalysisRuns)
#pragma once

#include <string>

#include "base/result.h"
#include "model/rollouts.h"
#include "rollout/canary.h"

namespace strake::rollout {

Status ApplyAction(const std::string& action, bool full, const model::RolloutSpec& spec,
                   RolloutStatus& status, TimePoint now);

}  // namespace strake::rollout
