// The DORA ledger: the deployment records in the store and the per-day
// index that answers questions about them, kept in step. Every write goes
// to the store first (one transaction for a deployment and the failures
// it restores) and reaches the index only once it is committed; the index
// is built from the store's records by the first call that needs it (on
// the caller's thread: a server's start does not wait for it), so a
// restart (kill -9 included) answers what was acknowledged before it.
// Thread-safe: one mutex around the index and the writes (Explain reads
// the store page by page, outside it: not a snapshot).
//
// Rules it keeps (docs/dora.md):
// - a deployment is recorded whole by id; recording it again with other
//   fields replaces it, but never forgets that it failed, was restored or
//   was unplanned (those come from elsewhere than the source that saw it
//   deployed); a commit listed twice counts once;
// - a failed deployment is restored by the first other deployment of its
//   environment that finished at or after the failure was found, whichever
//   order they are recorded in;
// - an incident (model/incidents.h) fails the deployment it names, found
//   when it opened, restored when it closes (not by the next deployment);
//   every other deployment of its environment that finished while it was
//   open is unplanned (rework);
// - an index per namespace and one over all of them.
#pragma once

#include <cstddef>
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

// The most deployments one explained answer lists.
inline constexpr size_t kMaxExplained = 100'000;

// An Incident as the ledger applies it (the recorder found its deployment).
struct IncidentFacts {
  std::string key;  // "ns/name"
  std::string ns;
  std::string environment;  // where it hit
  std::string title;
  int64_t opened_ms = 0;
  std::optional<int64_t> closed_ms;
  std::string deployment;  // what it failed ("" none found)
  bool operator==(const IncidentFacts&) const = default;
};

class Ledger {
 public:
  explicit Ledger(store::Store& store) : store_(store) {}

  // Builds the indexes from the store's records (again, if they were).
  Status Load();

  // Records `d` (see above). A new one restores the failures of its
  // environment that were open when it finished.
  Status Record(store::DeploymentRecord d);

  // Deployment `id` failed, found at `when_ms`, because `why`. An earlier
  // finding stands. The first other deployment of its environment that
  // finished at or after `when_ms` restored it.
  Status MarkFailed(const std::string& id, int64_t when_ms, const std::string& why);

  // Applies incident `i` (again: what it changed since is set right, in
  // one transaction): its deployment failed at opened_ms, unless something
  // found it failed earlier, and restored at closed_ms; the deployments of
  // its environment that finished while it was open are unplanned, those
  // recorded later too. A deployment it named before and no longer names
  // is no longer failed by it; one it made unplanned and that is out of
  // its window now (closed earlier than it was recorded, moved) is
  // planned again.
  Status ApplyIncident(const IncidentFacts& i);
  // Incident `key` was deleted: the failures and the rework it made are
  // undone (a finding it had replaced is found again by its source: the
  // recorder looks at the namespace again).
  Status ForgetIncident(const std::string& key);

  // The answer over namespace `ns` ("" = all).
  Result<std::vector<Bucket>> Answer(const std::string& ns, const Query& query);

  // The answer with its samples, and the records they index: at most
  // `max_records` of them (more is an error asking for a shorter range).
  struct Explained {
    std::vector<Bucket> buckets;
    std::vector<store::DeploymentRecord> records;
  };
  Result<Explained> Explain(const std::string& ns, const Query& query,
                            size_t max_records = kMaxExplained);

  // Counters by tier (not by namespace: /metrics is public), in
  // Prometheus' text format (none before the records are loaded):
  // strake_dora_deployments_total, strake_dora_failed_deployments_total,
  // strake_dora_unplanned_deployments_total, strake_dora_changes_total.
  std::string PrometheusText() const;

 private:
  Status LoadLocked();
  Status EnsureLoadedLocked() { return loaded_ ? Ok() : LoadLocked(); }
  // Writes the records whose second differs from their first, in one
  // transaction, then reindexes them.
  Status WriteChanged(
      const std::map<std::string, std::pair<store::DeploymentRecord, store::DeploymentRecord>>&
          changed);
  // Replaces `was` (nullopt: none) by `now` in the indexes and counters.
  void Reindex(const std::optional<store::DeploymentRecord>& was,
               const store::DeploymentRecord& now);

  store::Store& store_;
  mutable std::mutex mu_;
  bool loaded_ = false;
  std::map<std::string, DailyIndex> indexes_;  // by namespace; "" = all
  struct Totals {
    int64_t deployments = 0, failed = 0, unplanned = 0, changes = 0;
  };
  std::map<std::string, Totals> totals_;  // by tier
  // The incidents applied since the start, by key: a deployment recorded
  // while one was open in its environment is unplanned.
  std::map<std::string, IncidentFacts> incidents_;
};

}  // namespace strake::insight
