// The rollback rules strake ships as ClusterAnalysisTemplates: a Rollout
// names one as any other (`templateName: strake-error-rate, clusterScope:
// true`) and a ClusterAnalysisTemplate of the same name in the store takes
// its place. Each is Argo YAML, measured by the ordinary providers:
//   strake-error-rate    the canary's 5xx share over 3 minutes above 5%
//   strake-latency-p99   the canary's p99 of the last minute above the
//                        stable revision's per-minute p99 mean plus 2 sigma
//                        over 10 minutes (the router provider's baseline)
//   strake-kpi           a business KPI (two Prometheus queries, canary
//                        and baseline) below 80% of the baseline
// Args: `service` (the router's two), `address`, `canary-query` and
// `baseline-query` (the KPI's), `count` (0, the default: measure until the
// run is terminated, as background analysis does; a step analysis passes
// how many).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/node.h"

namespace strake::rollout {

struct BuiltinTemplate {
  std::string name;
  std::string yaml;  // the whole ClusterAnalysisTemplate
};

const std::vector<BuiltinTemplate>& BuiltinAnalysisTemplates();

// The object (as the store would hold it) of the builtin of that name.
std::optional<model::Json> BuiltinClusterAnalysisTemplate(const std::string& name);

}  // namespace strake::rollout
