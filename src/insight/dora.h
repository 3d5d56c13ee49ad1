// DORA's five software-delivery metrics over deployment records: the pure
// core of strake's DORA API (docs/dora.md states every definition so that
// a team can check a number by hand). Functions on values: no clock, no
// store, no I/O; thread-compatible.
//
// The request and the answer are GitLab's DORA metrics API's (`metric`,
// `start_date`, `end_date`, `interval` all|monthly|daily,
// `environment_tiers`; `[{"date": …, "value": …}]`), and where GitLab
// approximates, strake is exact:
// - a median (lead time, recovery time) is the true median of the
//   bucket's individual values, interpolated as SQL's PERCENTILE_CONT
//   (GitLab takes the median of daily medians, DevLake emulates one), with
//   the 90th percentile beside it;
// - a failure is a deployment that failed — rolled back, its canary
//   aborted, its verification failed, or an incident named it — so the
//   change failure rate is failed deployments over deployments, never
//   above 1 (GitLab divides project-wide incidents by deployments);
// - lead time is per change: each commit a deployment brought to its
//   environment for the first time, from its commit to the deployment's
//   end; values <= 0 are left out, as Four Keys does;
// - daily and monthly answers hold every day or month of the range: a
//   count or rate of an empty bucket is 0 or null as defined below, never a
//   missing row.
// Days are UTC calendar days; a record belongs to the day of its instant.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::insight {

// GitLab's deployment tiers, in its order.
enum class Tier { kProduction, kStaging, kTesting, kDevelopment, kOther };
std::string_view TierName(Tier tier);
std::optional<Tier> TierFromName(std::string_view name);
// The tier GitLab guesses from an environment's name when none is declared:
// the first of development (dev, review, trunk), testing (test, tst, int,
// acpt/accept, qa, qc, control, quality), staging (stg/stag, model/modl,
// pre, demo, non), production (prd/prod, live) whose word occurs in the
// name, case-insensitively; else other. So `prod` and `production` are
// production, `nonprod` and `pre-prod` staging, `prod-qa` testing.
Tier GuessTier(std::string_view environment);

// A commit that a deployment brought to its environment for the first time.
struct Change {
  std::string commit;
  int64_t committed_ms = 0;  // the commit's time (its committer date)
};

// A successful deployment: a Promotion, an Application sync or a Rollout
// that completed in an environment.
struct Deployment {
  std::string id;  // what `explain` names: "Promotion/ns/name", …
  std::string environment;
  Tier tier = Tier::kOther;
  int64_t finished_ms = 0;
  std::vector<Change> changes;
  // Made because of an incident (a fix forward, a rollback's successor):
  // deployment rework.
  bool unplanned = false;
  // When it was found failed (empty: it did not fail), and when service was
  // restored (the next healthy deployment, or the incident's close; empty
  // while it is not).
  std::optional<int64_t> failed_ms;
  std::optional<int64_t> restored_ms;
};

enum class Metric {
  kDeploymentFrequency,
  kLeadTimeForChanges,
  kTimeToRestoreService,  // DORA's failed deployment recovery time
  kChangeFailureRate,
  kDeploymentReworkRate,
};
std::string_view MetricName(Metric metric);  // GitLab's: "deployment_frequency", …

enum class Interval { kAll, kMonthly, kDaily };

struct Query {
  Metric metric = Metric::kDeploymentFrequency;
  int64_t start_day = 0;  // days since 1970-01-01, inclusive
  int64_t end_day = 0;    // inclusive
  Interval interval = Interval::kDaily;
  std::vector<Tier> tiers = {Tier::kProduction};
};

// The longest range a query may span (GitLab allows 180 days; strake
// answers five years within its latency bar).
inline constexpr int64_t kMaxRangeDays = 1830;

// A query from GitLab's parameters (each name with its values, as a query
// string gives them: `environment_tiers[]` or `environment_tiers`, one or
// more): `metric` required; `start_date` default 90 days before `end_date`,
// `end_date` default `today` (days since 1970-01-01); `interval` default
// daily; tiers default production. An error (kInvalid) names the parameter
// and what it takes, as GitLab's do; an unknown parameter is one too.
// `failed_deployment_recovery_time` is read as time_to_restore_service.
Result<Query> ParseQuery(const std::map<std::string, std::vector<std::string>>& params,
                         int64_t today);

// What a value is made of, for `?explain=1`: a deployment (by its index in
// the input), one of its changes (lead time), or a failure (recovery time),
// with the seconds it contributed where it contributed a duration.
struct Sample {
  size_t deployment = 0;
  std::optional<size_t> change;  // index into its changes
  std::optional<double> seconds;
  bool failed = false;
  bool unplanned = false;
};

struct Bucket {
  std::optional<std::string> date;  // YYYY-MM-DD (daily), YYYY-MM-01 (monthly), none (all)
  // deployment_frequency: deployments per day (daily: the day's count;
  // monthly and all: the count over the bucket's days within the range).
  // lead_time_for_changes, time_to_restore_service: the median in seconds,
  // null without values. change_failure_rate, deployment_rework_rate: a
  // fraction of the bucket's deployments, null without deployments.
  std::optional<double> value;
  std::optional<double> p90;    // the durations' 90th percentile
  std::vector<Sample> samples;  // with `explain` only
};

// The answer: one bucket per day or month of the range (all: one), in date
// order. Deployments count by the day they finished, recoveries by the
// day service was restored; a deployment whose tier is not asked for
// counts nowhere. With `explain`, each bucket lists its samples.
std::vector<Bucket> Compute(const Query& query, const std::vector<Deployment>& deployments,
                            bool explain = false);

// The records' per-day tallies: what a query needs, without the records,
// kept as deployments arrive (in any order). Per UTC day and tier: the
// deployments that finished, how many failed and were unplanned, the lead
// times of their changes and the recovery times of failures restored that
// day, in milliseconds, sorted. Answer gives what Compute gives (no
// samples), exactly — a median across days is a selection over the days'
// sorted values, not a median of medians — in time that grows with the
// days asked for and the logarithm of their values, not with the records.
// Not thread-safe: one writer, or a lock around both calls.
class DailyIndex {
 public:
  void Add(const Deployment& d);
  // Takes back what Add(d) added (d as it was added): how a record that
  // changed (found failed, restored) is replaced.
  void Remove(const Deployment& d);
  std::vector<Bucket> Answer(const Query& query);  // sorts what Add left unsorted
  // Sorts every day now (after a bulk load), so no question pays for it.
  void Sort();

 private:
  struct TierDay {
    int64_t deployments = 0, failed = 0, unplanned = 0;
    std::vector<int64_t> lead_ms, recovery_ms;
    bool sorted = true;
  };
  struct Day {
    TierDay tiers[5];
  };
  std::map<int64_t, Day> days_;
};

}  // namespace strake::insight
