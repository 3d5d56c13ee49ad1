// The DORA ledger: the deployment records in the store and the per-day
// index that answers questions about them, kept in step. Every write goes
// to the store first (one transaction for a deployment and the failures
// it restores) and reaches the index only once it is committed; Load
// builds the index from the store, so a restart (kill -9 included) answers
// what was acknowledged before it. Thread-safe.
//
// Rules it keeps (docs/dora.md):
// - a deployment is recorded whole by id; recording it again with other
//   fields replaces it, but never forgets that it failed or was restored
//   (those come from elsewhere than the source that saw it deployed);
// - a failed deployment is restored by the next deployment that finished
//   in its environment after the failure was found;
// - an index per namespace and one over all of them.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "insight/dora.h"
#include "store/store.h"

namespace strake::insight {

// A record as the core counts it (tier by name; unknown: other).
Deployment ToDeployment(const store::DeploymentRecord& r);

class Ledger {
 public:
  explicit Ledger(store::Store& store) : store_(store) {}

  // Builds the indexes from the store's records.
  Status Load();

  // The last deployment that finished in an environment (changes empty).
  std::optional<store::DeploymentRecord> Latest(const std::string& ns,
                                                const std::string& environment) const;

  // Records `d` (see above). A new one restores the failed deployments of
  // its environment found failed at or before it finished.
  Status Record(store::DeploymentRecord d);

  // Deployment `id` failed, found at `when_ms`, because `why`. An earlier
  // finding stands. If another deployment of its environment finished at
  // or after `when_ms`, the first such one restored it.
  Status MarkFailed(const std::string& id, int64_t when_ms, const std::string& why);

  // The answer over namespace `ns` ("" = all).
  std::vector<Bucket> Answer(const std::string& ns, const Query& query);

  // The answer with its samples, and the records they index.
  struct Explained {
    std::vector<Bucket> buckets;
    std::vector<store::DeploymentRecord> records;
  };
  Result<Explained> Explain(const std::string& ns, const Query& query);

  // Counters by namespace and tier, in Prometheus' text format:
  // strake_dora_deployments_total, strake_dora_failed_deployments_total,
  // strake_dora_unplanned_deployments_total, strake_dora_changes_total.
  std::string PrometheusText() const;

 private:
  struct Env {
    store::DeploymentRecord latest;          // without changes
    std::vector<std::string> open_failures;  // failed, not restored
  };
  // Replaces `was` (nullopt: none) by `now` in the indexes.
  void Reindex(const std::optional<store::DeploymentRecord>& was,
               const store::DeploymentRecord& now);
  void Track(const store::DeploymentRecord& d);
  // When the first other deployment of `d`'s environment finished at or
  // after `after_ms`.
  Result<std::optional<int64_t>> NextDeployment(const store::DeploymentRecord& d, int64_t after_ms);

  store::Store& store_;
  mutable std::mutex mu_;
  std::map<std::string, DailyIndex> indexes_;                // by namespace; "" = all
  std::map<std::pair<std::string, std::string>, Env> envs_;  // (ns, environment)
  struct Totals {
    int64_t deployments = 0, failed = 0, unplanned = 0, changes = 0;
  };
  std::map<std::pair<std::string, std::string>, Totals> totals_;  // (ns, tier)
};

}  // namespace strake::insight
