// GET /apis/strake.dev/v1/[namespaces/NS/]dora/metrics: DORA's metrics in
// GitLab's DORA API shape (insight/dora.h, docs/dora.md).
//
//   ?metric=deployment_frequency|lead_time_for_changes|time_to_restore_service
//          |failed_deployment_recovery_time|change_failure_rate|deployment_rework_rate
//   &start_date=YYYY-MM-DD&end_date=YYYY-MM-DD&interval=daily|monthly|all
//   &environment_tiers[]=production&environment_tiers[]=staging
//
// answers [{"date": "2026-11-02", "value": 2.0}, …] (date null for `all`;
// durations in seconds, with "p90" beside the median). `explain=1` (a
// strake extension) adds to each entry the records behind its value:
// "deployments" (frequency and the rates), "changes" (lead time) or
// "failures" (recovery time). Without a namespace, every namespace's
// deployments count. Pure but for the ledger it reads.
#pragma once

#include <cstdint>
#include <string>

#include "insight/ledger.h"
#include "server/http_server.h"

namespace strake::server {

// `today` is days since 1970-01-01 (the default end_date).
Response DoraMetrics(insight::Ledger& ledger, const std::string& ns, const Request& req,
                     int64_t today);

}  // namespace strake::server
