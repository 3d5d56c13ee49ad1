#include "insight/dora.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

#include "base/stats.h"
#include "base/strings.h"
#include "base/tz.h"

namespace strake::insight {

namespace {

constexpr int64_t kMillisPerDay = kSecondsPerDay * 1000;

struct TierInfo {
  Tier tier;
  std::string_view name;
};
constexpr std::array<TierInfo, 5> kTiers = {{{Tier::kProduction, "production"},
                                             {Tier::kStaging, "staging"},
                                             {Tier::kTesting, "testing"},
                                             {Tier::kDevelopment, "development"},
                                             {Tier::kOther, "other"}}};

struct MetricInfo {
  Metric metric;
  std::string_view name;
};
constexpr std::array<MetricInfo, 5> kMetrics = {
    {{Metric::kDeploymentFrequency, "deployment_frequency"},
     {Metric::kLeadTimeForChanges, "lead_time_for_changes"},
     {Metric::kTimeToRestoreService, "time_to_restore_service"},
     {Metric::kChangeFailureRate, "change_failure_rate"},
     {Metric::kDeploymentReworkRate, "deployment_rework_rate"}}};

// "YYYY-MM-DD" as days since 1970-01-01.
std::optional<int64_t> ParseDay(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  int year = std::stoi(std::string(s.substr(0, 4)));
  auto month = static_cast<unsigned>(std::stoi(std::string(s.substr(5, 2))));
  auto day = static_cast<unsigned>(std::stoi(std::string(s.substr(8, 2))));
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
  return DaysFromCivil(year, month, day);
}

std::string FormatDay(int64_t days) {
  CivilDate d = CivilFromDays(days);
  return fmt::format("{:04}-{:02}-{:02}", d.year, d.month, d.day);
}

int64_t MonthIndex(int64_t days) {
  CivilDate d = CivilFromDays(days);
  return int64_t{d.year} * 12 + (d.month - 1);
}

// The one value a single-valued parameter was given; an error when given
// twice.
Result<std::optional<std::string>> Single(
    const std::map<std::string, std::vector<std::string>>& params, const std::string& name) {
  auto it = params.find(name);
  if (it == params.end() || it->second.empty()) return std::optional<std::string>();
  if (it->second.size() > 1) return Failf(ErrorCode::kInvalid, "{} is given more than once", name);
  return std::optional<std::string>(it->second.front());
}

Result<std::optional<int64_t>> DateParam(
    const std::map<std::string, std::vector<std::string>>& params, const std::string& name) {
  STRAKE_TRY_ASSIGN(text, Single(params, name));
  if (!text) return std::optional<int64_t>();
  auto day = ParseDay(*text);
  if (!day) {
    return Failf(ErrorCode::kInvalid, "{} {}: want an ISO 8601 date such as 2021-03-01", name,
                 Quote(*text));
  }
  return std::optional<int64_t>(*day);
}

Result<std::vector<Tier>> TiersParam(
    const std::map<std::string, std::vector<std::string>>& params) {
  std::vector<Tier> tiers;
  for (const char* name : {"environment_tiers", "environment_tiers[]"}) {
    auto it = params.find(name);
    if (it == params.end()) continue;
    for (const auto& v : it->second) {
      auto tier = TierFromName(v);
      if (!tier) {
        return Fail(ErrorCode::kInvalid,
                    "The environment tiers must be from production, staging, testing, "
                    "development, other.");
      }
      if (std::find(tiers.begin(), tiers.end(), *tier) == tiers.end()) tiers.push_back(*tier);
    }
  }
  if (tiers.empty()) tiers.push_back(Tier::kProduction);
  return tiers;
}

// What a bucket's value is computed from.
struct Tally {
  int64_t days = 0;  // of the range in the bucket
  int64_t deployments = 0, failed = 0, unplanned = 0;
  std::vector<double> seconds;  // lead times or recovery times
};

// The buckets of a query, each with its date, and their tallies.
struct Frame {
  std::vector<Bucket> buckets;
  std::vector<Tally> tallies;
  bool explain = false;
};

Frame MakeFrame(const Query& q) {
  Frame f;
  auto add = [&f](std::optional<std::string> date, int64_t days) {
    f.buckets.push_back(Bucket{std::move(date), std::nullopt, std::nullopt, {}});
    f.tallies.emplace_back().days = days;
  };
  switch (q.interval) {
    case Interval::kAll:
      add(std::nullopt, q.end_day - q.start_day + 1);
      break;
    case Interval::kDaily:
      for (int64_t d = q.start_day; d <= q.end_day; ++d) add(FormatDay(d), 1);
      break;
    case Interval::kMonthly:
      for (int64_t d = q.start_day; d <= q.end_day;) {
        CivilDate c = CivilFromDays(d);
        int64_t last = DaysFromCivil(c.year, c.month, DaysInMonth(c.year, c.month));
        int64_t end = std::min(last, q.end_day);
        add(fmt::format("{:04}-{:02}-01", c.year, c.month), end - d + 1);
        d = end + 1;
      }
      break;
  }
  return f;
}

// The bucket of an instant, if the range holds it.
std::optional<size_t> BucketOf(const Query& q, int64_t ms) {
  int64_t day = FloorDiv(ms, kMillisPerDay);
  if (day < q.start_day || day > q.end_day) return std::nullopt;
  switch (q.interval) {
    case Interval::kAll:
      return 0;
    case Interval::kDaily:
      return static_cast<size_t>(day - q.start_day);
    case Interval::kMonthly:
      return static_cast<size_t>(MonthIndex(day) - MonthIndex(q.start_day));
  }
  return std::nullopt;
}

void Count(Frame& f, size_t b, const Sample& s) {
  Tally& t = f.tallies[b];
  if (s.seconds) {
    t.seconds.push_back(*s.seconds);
  } else {
    ++t.deployments;
    t.failed += s.failed ? 1 : 0;
    t.unplanned += s.unplanned ? 1 : 0;
  }
  if (f.explain) f.buckets[b].samples.push_back(s);
}

void AddSamples(const Query& q, const std::vector<Deployment>& deployments, Frame& f) {
  for (size_t i = 0; i < deployments.size(); ++i) {
    const Deployment& d = deployments[i];
    if (std::find(q.tiers.begin(), q.tiers.end(), d.tier) == q.tiers.end()) continue;
    if (q.metric == Metric::kTimeToRestoreService) {
      if (!d.failed_ms || !d.restored_ms || *d.restored_ms < *d.failed_ms) continue;
      if (auto b = BucketOf(q, *d.restored_ms)) {
        double seconds = static_cast<double>(*d.restored_ms - *d.failed_ms) / 1000;
        Count(f, *b, {i, std::nullopt, seconds, true, d.unplanned});
      }
      continue;
    }
    auto b = BucketOf(q, d.finished_ms);
    if (!b) continue;
    if (q.metric != Metric::kLeadTimeForChanges) {
      Count(f, *b, {i, std::nullopt, std::nullopt, d.failed_ms.has_value(), d.unplanned});
      continue;
    }
    for (size_t c = 0; c < d.changes.size(); ++c) {
      // A commit dated at or after its deployment says nothing of lead time
      // (a clock skewed, a rebase): left out, as Four Keys leaves it.
      if (d.changes[c].committed_ms >= d.finished_ms) continue;
      double seconds = static_cast<double>(d.finished_ms - d.changes[c].committed_ms) / 1000;
      Count(f, *b, {i, c, seconds, d.failed_ms.has_value(), d.unplanned});
    }
  }
}

void Evaluate(Metric metric, Tally& t, Bucket& b) {
  switch (metric) {
    case Metric::kDeploymentFrequency:
      b.value = static_cast<double>(t.deployments) / static_cast<double>(t.days);
      return;
    case Metric::kLeadTimeForChanges:
    case Metric::kTimeToRestoreService:
      if (t.seconds.empty()) return;
      b.p90 = PercentileR7(t.seconds, 90);
      b.value = PercentileR7(std::move(t.seconds), 50);
      return;
    case Metric::kChangeFailureRate:
    case Metric::kDeploymentReworkRate:
      if (t.deployments == 0) return;
      b.value = static_cast<double>(metric == Metric::kChangeFailureRate ? t.failed : t.unplanned) /
                static_cast<double>(t.deployments);
      return;
  }
}

// The k-th smallest (from 0) of the values of sorted `runs`, which hold
// more than k together: the least v with more than k values <= v.
int64_t KthAcross(const std::vector<const std::vector<int64_t>*>& runs, int64_t k) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto* r : runs) {
    if (r->empty()) continue;
    lo = std::min(lo, r->front());
    hi = std::max(hi, r->back());
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    int64_t at_most = 0;
    for (const auto* r : runs) at_most += std::upper_bound(r->begin(), r->end(), mid) - r->begin();
    if (at_most > k) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// PercentileR7 over sorted runs holding `n` values, in the runs' unit.
double PercentileAcross(const std::vector<const std::vector<int64_t>*>& runs, int64_t n, double p) {
  const double h = static_cast<double>(n - 1) * p / 100;
  const auto lo = static_cast<int64_t>(std::floor(h));
  const auto low = static_cast<double>(KthAcross(runs, lo));
  if (lo + 1 >= n || h == static_cast<double>(lo)) return low;
  const auto high = static_cast<double>(KthAcross(runs, lo + 1));
  return low + (h - static_cast<double>(lo)) * (high - low);
}

}  // namespace

std::string_view TierName(Tier tier) {
  for (const auto& t : kTiers) {
    if (t.tier == tier) return t.name;
  }
  return "other";
}

std::optional<Tier> TierFromName(std::string_view name) {
  for (const auto& t : kTiers) {
    if (t.name == name) return t.tier;
  }
  return std::nullopt;
}

Tier GuessTier(std::string_view environment) {
  // GitLab's order: the first tier one of whose words occurs wins.
  struct Guess {
    Tier tier;
    std::vector<std::string_view> words;
  };
  static const std::vector<Guess> kGuesses = {
      {Tier::kDevelopment, {"dev", "review", "trunk"}},
      {Tier::kTesting, {"test", "tst", "int", "acpt", "accept", "qa", "qc", "control", "quality"}},
      {Tier::kStaging, {"stg", "stag", "model", "modl", "pre", "demo", "non"}},
      {Tier::kProduction, {"prd", "prod", "live"}},
  };
  const std::string name = ToLower(environment);
  for (const auto& g : kGuesses) {
    for (auto w : g.words) {
      if (name.find(w) != std::string::npos) return g.tier;
    }
  }
  return Tier::kOther;
}

std::string_view MetricName(Metric metric) {
  for (const auto& m : kMetrics) {
    if (m.metric == metric) return m.name;
  }
  return "";
}

Result<Query> ParseQuery(const std::map<std::string, std::vector<std::string>>& params,
                         int64_t today) {
  static const std::vector<std::string_view> kKnown = {
      "metric", "start_date", "end_date", "interval", "environment_tiers", "environment_tiers[]"};
  for (const auto& [name, values] : params) {
    if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
      return Failf(ErrorCode::kInvalid,
                   "unknown parameter {} (metric, start_date, end_date, interval, "
                   "environment_tiers)",
                   Quote(name));
    }
  }
  Query q;
  STRAKE_TRY_ASSIGN(metric, Single(params, "metric"));
  if (!metric) return Fail(ErrorCode::kInvalid, "metric is missing");
  std::string m =
      *metric == "failed_deployment_recovery_time" ? "time_to_restore_service" : *metric;
  auto known = std::find_if(kMetrics.begin(), kMetrics.end(),
                            [&](const MetricInfo& i) { return i.name == m; });
  if (known == kMetrics.end()) {
    return Fail(ErrorCode::kInvalid,
                "The metric must be one of deployment_frequency,lead_time_for_changes,"
                "time_to_restore_service,change_failure_rate,deployment_rework_rate.");
  }
  q.metric = known->metric;
  STRAKE_TRY_ASSIGN(interval, Single(params, "interval"));
  if (interval) {
    if (*interval == "all") {
      q.interval = Interval::kAll;
    } else if (*interval == "monthly") {
      q.interval = Interval::kMonthly;
    } else if (*interval != "daily") {
      return Fail(ErrorCode::kInvalid, "The interval must be one of all,monthly,daily.");
    }
  }
  STRAKE_TRY_ASSIGN(end, DateParam(params, "end_date"));
  STRAKE_TRY_ASSIGN(start, DateParam(params, "start_date"));
  q.end_day = end.value_or(today);
  q.start_day = start.value_or(q.end_day - 90);
  if (q.start_day > q.end_day)
    return Fail(ErrorCode::kInvalid, "The start date must not be later than the end date.");
  if (q.end_day - q.start_day > kMaxRangeDays)
    return Failf(ErrorCode::kInvalid, "Date range must be shorter than {} days.", kMaxRangeDays);
  STRAKE_TRY_ASSIGN(tiers, TiersParam(params));
  q.tiers = std::move(tiers);
  return q;
}

std::vector<Bucket> Compute(const Query& query, const std::vector<Deployment>& deployments,
                            bool explain) {
  Frame f = MakeFrame(query);
  f.explain = explain;
  AddSamples(query, deployments, f);
  for (size_t i = 0; i < f.buckets.size(); ++i) Evaluate(query.metric, f.tallies[i], f.buckets[i]);
  return std::move(f.buckets);
}

void DailyIndex::Add(const Deployment& d) {
  const auto tier = static_cast<size_t>(d.tier);
  TierDay& t = days_[FloorDiv(d.finished_ms, kMillisPerDay)].tiers[tier];
  ++t.deployments;
  t.failed += d.failed_ms ? 1 : 0;
  t.unplanned += d.unplanned ? 1 : 0;
  for (const auto& c : d.changes) {
    if (c.committed_ms >= d.finished_ms) continue;  // as Compute leaves it out
    const int64_t ms = d.finished_ms - c.committed_ms;
    t.sorted = t.sorted && (t.lead_ms.empty() || t.lead_ms.back() <= ms);
    t.lead_ms.push_back(ms);
  }
  if (d.failed_ms && d.restored_ms && *d.restored_ms >= *d.failed_ms) {
    TierDay& r = days_[FloorDiv(*d.restored_ms, kMillisPerDay)].tiers[tier];
    const int64_t ms = *d.restored_ms - *d.failed_ms;
    r.sorted = r.sorted && (r.recovery_ms.empty() || r.recovery_ms.back() <= ms);
    r.recovery_ms.push_back(ms);
  }
}

void DailyIndex::Remove(const Deployment& d) {
  const auto tier = static_cast<size_t>(d.tier);
  auto take = [](std::vector<int64_t>& values, int64_t ms) {
    auto it = std::find(values.begin(), values.end(), ms);
    if (it != values.end()) values.erase(it);  // erasing keeps a sorted run sorted
  };
  auto day = days_.find(FloorDiv(d.finished_ms, kMillisPerDay));
  if (day != days_.end()) {
    TierDay& t = day->second.tiers[tier];
    --t.deployments;
    t.failed -= d.failed_ms ? 1 : 0;
    t.unplanned -= d.unplanned ? 1 : 0;
    for (const auto& c : d.changes) {
      if (c.committed_ms < d.finished_ms) take(t.lead_ms, d.finished_ms - c.committed_ms);
    }
  }
  if (d.failed_ms && d.restored_ms && *d.restored_ms >= *d.failed_ms) {
    auto r = days_.find(FloorDiv(*d.restored_ms, kMillisPerDay));
    if (r != days_.end()) take(r->second.tiers[tier].recovery_ms, *d.restored_ms - *d.failed_ms);
  }
}

void DailyIndex::Sort() {
  for (auto& [day, d] : days_) {
    for (TierDay& t : d.tiers) {
      if (t.sorted) continue;
      std::sort(t.lead_ms.begin(), t.lead_ms.end());
      std::sort(t.recovery_ms.begin(), t.recovery_ms.end());
      t.sorted = true;
    }
  }
}

std::vector<Bucket> DailyIndex::Answer(const Query& query) {
  Frame f = MakeFrame(query);
  std::vector<std::vector<const std::vector<int64_t>*>> runs(f.buckets.size());
  std::vector<int64_t> values(f.buckets.size(), 0);
  const bool lead = query.metric == Metric::kLeadTimeForChanges;
  const bool recovery = query.metric == Metric::kTimeToRestoreService;
  for (auto it = days_.lower_bound(query.start_day);
       it != days_.end() && it->first <= query.end_day; ++it) {
    const size_t b = *BucketOf(query, it->first * kMillisPerDay);
    for (Tier tier : query.tiers) {
      TierDay& t = it->second.tiers[static_cast<size_t>(tier)];
      if (!t.sorted) {
        std::sort(t.lead_ms.begin(), t.lead_ms.end());
        std::sort(t.recovery_ms.begin(), t.recovery_ms.end());
        t.sorted = true;
      }
      Tally& tally = f.tallies[b];
      tally.deployments += t.deployments;
      tally.failed += t.failed;
      tally.unplanned += t.unplanned;
      const std::vector<int64_t>& run = lead ? t.lead_ms : t.recovery_ms;
      if ((lead || recovery) && !run.empty()) {
        runs[b].push_back(&run);
        values[b] += static_cast<int64_t>(run.size());
      }
    }
  }
  for (size_t b = 0; b < f.buckets.size(); ++b) {
    if (!lead && !recovery) {
      Evaluate(query.metric, f.tallies[b], f.buckets[b]);
    } else if (values[b] > 0) {
      f.buckets[b].value = PercentileAcross(runs[b], values[b], 50) / 1000;
      f.buckets[b].p90 = PercentileAcross(runs[b], values[b], 90) / 1000;
    }
  }
  return std::move(f.buckets);
}

}  // namespace strake::insight
