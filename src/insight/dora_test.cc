#include "insight/dora.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "base/tz.h"

namespace strake::insight {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;

int64_t Day(int year, unsigned month, unsigned day) { return DaysFromCivil(year, month, day); }
int64_t At(int year, unsigned month, unsigned day, int64_t hours = 12) {
  return Day(year, month, day) * kDay + hours * kHour;
}

Deployment Prod(int64_t finished_ms, std::vector<Change> changes = {}) {
  Deployment d;
  d.id = "Promotion/shop/p" + std::to_string(finished_ms);
  d.environment = "prod";
  d.tier = Tier::kProduction;
  d.finished_ms = finished_ms;
  d.changes = std::move(changes);
  return d;
}

Query Ask(Metric metric, int64_t start, int64_t end, Interval interval) {
  Query q;
  q.metric = metric;
  q.start_day = start;
  q.end_day = end;
  q.interval = interval;
  return q;
}

std::vector<Bucket> Explain(const Query& q, const std::vector<Deployment>& ds) {
  auto explained = Compute(q, ds, true);
  auto plain = Compute(q, ds);
  EXPECT_EQ(plain.size(), explained.size());
  for (size_t i = 0; i < plain.size() && i < explained.size(); ++i) {
    EXPECT_TRUE(plain[i].samples.empty());  // listed only when asked
    EXPECT_EQ(plain[i].value, explained[i].value);
    EXPECT_EQ(plain[i].p90, explained[i].p90);
  }
  return explained;
}

std::vector<std::optional<double>> Values(const std::vector<Bucket>& buckets) {
  std::vector<std::optional<double>> out;
  for (const auto& b : buckets) out.push_back(b.value);
  return out;
}

TEST(DoraTier, GuessesAsGitLabDoesFirstMatchWins) {
  EXPECT_EQ(GuessTier("prod"), Tier::kProduction);
  EXPECT_EQ(GuessTier("Production"), Tier::kProduction);
  EXPECT_EQ(GuessTier("live-eu"), Tier::kProduction);
  EXPECT_EQ(GuessTier("prd"), Tier::kProduction);
  EXPECT_EQ(GuessTier("nonprod"), Tier::kStaging);
  EXPECT_EQ(GuessTier("pre-prod"), Tier::kStaging);
  EXPECT_EQ(GuessTier("staging"), Tier::kStaging);
  EXPECT_EQ(GuessTier("prod-qa"), Tier::kTesting);
  EXPECT_EQ(GuessTier("internal"), Tier::kTesting);
  EXPECT_EQ(GuessTier("review/feature-1"), Tier::kDevelopment);
  EXPECT_EQ(GuessTier("production-review"), Tier::kDevelopment);
  EXPECT_EQ(GuessTier("eu-west"), Tier::kOther);
  EXPECT_EQ(TierFromName("testing"), Tier::kTesting);
  EXPECT_FALSE(TierFromName("Production"));
  EXPECT_EQ(TierName(Tier::kDevelopment), "development");
}

TEST(DoraQuery, DefaultsAreGitLabs) {
  const int64_t today = Day(2026, 12, 7);
  auto q = ParseQuery({{"metric", {"deployment_frequency"}}}, today);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->metric, Metric::kDeploymentFrequency);
  EXPECT_EQ(q->end_day, today);
  EXPECT_EQ(q->start_day, today - 90);
  EXPECT_EQ(q->interval, Interval::kDaily);
  EXPECT_EQ(q->tiers, std::vector<Tier>{Tier::kProduction});
  q = ParseQuery({{"metric", {"failed_deployment_recovery_time"}},
                  {"start_date", {"2026-01-01"}},
                  {"end_date", {"2026-01-01"}},
                  {"interval", {"all"}},
                  {"environment_tiers[]", {"staging", "production", "staging"}}},
                 today);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->metric, Metric::kTimeToRestoreService);
  EXPECT_EQ(q->start_day, q->end_day);
  EXPECT_EQ(q->interval, Interval::kAll);
  EXPECT_EQ(q->tiers, (std::vector<Tier>{Tier::kStaging, Tier::kProduction}));
}

TEST(DoraQuery, BadParametersSayWhatTheyTake) {
  const int64_t today = Day(2026, 12, 7);
  auto error = [&](std::map<std::string, std::vector<std::string>> p) {
    auto q = ParseQuery(p, today);
    EXPECT_FALSE(q);
    if (q) return std::string();
    EXPECT_EQ(q.error().code, ErrorCode::kInvalid);
    return q.error().message;
  };
  EXPECT_EQ(error({}), "metric is missing");
  EXPECT_EQ(error({{"metric", {"uptime"}}}),
            "The metric must be one of deployment_frequency,lead_time_for_changes,"
            "time_to_restore_service,change_failure_rate,deployment_rework_rate.");
  EXPECT_EQ(error({{"metric", {"change_failure_rate"}}, {"interval", {"weekly"}}}),
            "The interval must be one of all,monthly,daily.");
  EXPECT_EQ(error({{"metric", {"change_failure_rate"}}, {"environment_tiers", {"prod"}}}),
            "The environment tiers must be from production, staging, testing, development, "
            "other.");
  EXPECT_EQ(error({{"metric", {"change_failure_rate"}}, {"start_date", {"2026-02-30"}}}),
            "start_date \"2026-02-30\": want an ISO 8601 date such as 2021-03-01");
  EXPECT_EQ(error({{"metric", {"change_failure_rate"}},
                   {"start_date", {"2026-03-02"}},
                   {"end_date", {"2026-03-01"}}}),
            "The start date must not be later than the end date.");
  EXPECT_EQ(error({{"metric", {"change_failure_rate"}}, {"since", {"2026-03-02"}}}),
            "unknown parameter \"since\" (metric, start_date, end_date, interval, "
            "environment_tiers)");
  EXPECT_EQ(error({{"metric", {"change_failure_rate", "deployment_frequency"}}}),
            "metric is given more than once");
  // The longest range, and a day more.
  std::map<std::string, std::vector<std::string>> longest = {{"metric", {"deployment_frequency"}},
                                                             {"start_date", {"2020-01-01"}},
                                                             {"end_date", {"2025-01-04"}}};
  ASSERT_EQ(Day(2025, 1, 4) - Day(2020, 1, 1), kMaxRangeDays);
  EXPECT_TRUE(ParseQuery(longest, today));
  longest["end_date"] = {"2025-01-05"};
  EXPECT_EQ(error(longest), "Date range must be shorter than 1830 days.");
}

// Every day of the range is in a daily answer; monthly and all give
// deployments per day over the days of the range they hold (GitLab 16's
// fixed calculation: January 15–31 is 17 days).
TEST(DoraCompute, DeploymentFrequencyIsPerDayOfTheRange) {
  std::vector<Deployment> ds = {Prod(At(2022, 1, 15)), Prod(At(2022, 1, 15)), Prod(At(2022, 1, 31)),
                                Prod(At(2022, 2, 1)), Prod(At(2022, 3, 1))};  // out of range
  Deployment staging = Prod(At(2022, 1, 16));
  staging.tier = Tier::kStaging;
  ds.push_back(staging);
  auto daily = Explain(
      Ask(Metric::kDeploymentFrequency, Day(2022, 1, 15), Day(2022, 1, 17), Interval::kDaily), ds);
  ASSERT_EQ(daily.size(), 3u);
  EXPECT_EQ(daily[0].date, "2022-01-15");
  EXPECT_EQ(Values(daily), (std::vector<std::optional<double>>{2.0, 0.0, 0.0}));
  EXPECT_EQ(daily[0].samples.size(), 2u);
  auto monthly = Explain(
      Ask(Metric::kDeploymentFrequency, Day(2022, 1, 15), Day(2022, 2, 28), Interval::kMonthly),
      ds);
  ASSERT_EQ(monthly.size(), 2u);
  EXPECT_EQ(monthly[0].date, "2022-01-01");
  EXPECT_EQ(monthly[1].date, "2022-02-01");
  EXPECT_DOUBLE_EQ(*monthly[0].value, 3.0 / 17);
  EXPECT_DOUBLE_EQ(*monthly[1].value, 1.0 / 28);
  auto all = Explain(
      Ask(Metric::kDeploymentFrequency, Day(2022, 1, 15), Day(2022, 2, 28), Interval::kAll), ds);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].date);
  EXPECT_DOUBLE_EQ(*all[0].value, 4.0 / 45);
  // Staging is counted when asked for.
  Query both =
      Ask(Metric::kDeploymentFrequency, Day(2022, 1, 16), Day(2022, 1, 16), Interval::kDaily);
  both.tiers = {Tier::kProduction, Tier::kStaging};
  EXPECT_EQ(Explain(both, ds)[0].value, 1.0);
}

// The median of every change's lead time, not the median of the days'
// medians: 1 h, 2 h, 3 h on one day and 10 h on the next is 2.5 h (GitLab
// says 6 h); two values give their mean (DevLake #6346 said 0).
TEST(DoraCompute, LeadTimeIsTheTrueMedianOfTheChanges) {
  const int64_t d1 = At(2026, 3, 2), d2 = At(2026, 3, 3);
  std::vector<Deployment> ds = {
      Prod(d1, {{"a", d1 - 1 * kHour}, {"b", d1 - 2 * kHour}, {"c", d1 - 3 * kHour}}),
      Prod(d2, {{"d", d2 - 10 * kHour}, {"skewed", d2 + kHour}, {"same", d2}})};
  auto month = Explain(
      Ask(Metric::kLeadTimeForChanges, Day(2026, 3, 1), Day(2026, 3, 31), Interval::kMonthly), ds);
  ASSERT_EQ(month.size(), 1u);
  EXPECT_DOUBLE_EQ(*month[0].value, 2.5 * 3600);
  EXPECT_DOUBLE_EQ(*month[0].p90, (3 + 0.7 * 7) * 3600);  // between 3 h and 10 h
  // Explained: the four changes, the two at or after their deployment left out.
  ASSERT_EQ(month[0].samples.size(), 4u);
  EXPECT_EQ(month[0].samples[3].deployment, 1u);
  EXPECT_EQ(month[0].samples[3].change, 0u);
  auto days = Explain(
      Ask(Metric::kLeadTimeForChanges, Day(2026, 3, 1), Day(2026, 3, 3), Interval::kDaily), ds);
  EXPECT_EQ(Values(days),
            (std::vector<std::optional<double>>{std::nullopt, 2 * 3600.0, 10 * 3600.0}));
  std::vector<Deployment> two = {Prod(d1, {{"x", d1 - 315'000}, {"y", d1 - 670'000}})};
  EXPECT_DOUBLE_EQ(
      *Explain(Ask(Metric::kLeadTimeForChanges, Day(2026, 3, 1), Day(2026, 3, 31), Interval::kAll),
               two)[0]
           .value,
      492.5);
}

// Failed deployments over deployments (never above 1, whatever the
// incidents), null where nothing was deployed; rework likewise.
TEST(DoraCompute, FailureAndReworkRatesAreOfTheBucketsDeployments) {
  std::vector<Deployment> ds = {Prod(At(2026, 5, 1)), Prod(At(2026, 5, 1)), Prod(At(2026, 5, 1)),
                                Prod(At(2026, 5, 1))};
  ds[0].failed_ms = At(2026, 5, 1, 13);
  ds[1].unplanned = true;
  ds[1].failed_ms = At(2026, 5, 3);
  ds[2].unplanned = true;
  auto cfr = Explain(
      Ask(Metric::kChangeFailureRate, Day(2026, 5, 1), Day(2026, 5, 2), Interval::kDaily), ds);
  EXPECT_EQ(Values(cfr), (std::vector<std::optional<double>>{0.5, std::nullopt}));
  auto rework = Explain(
      Ask(Metric::kDeploymentReworkRate, Day(2026, 5, 1), Day(2026, 5, 2), Interval::kDaily), ds);
  EXPECT_EQ(Values(rework), (std::vector<std::optional<double>>{0.5, std::nullopt}));
  EXPECT_TRUE(rework[0].samples[1].unplanned);
  EXPECT_TRUE(cfr[0].samples[0].failed);
}

// A recovery counts on the day service came back, from the moment the
// failure was found; one not restored yet counts nowhere.
TEST(DoraCompute, RecoveryTimeCountsOnTheDayOfTheRestore) {
  std::vector<Deployment> ds = {Prod(At(2026, 6, 1)), Prod(At(2026, 6, 1)), Prod(At(2026, 6, 2))};
  ds[0].failed_ms = At(2026, 6, 1, 13);
  ds[0].restored_ms = At(2026, 6, 2, 1);  // 12 h
  ds[1].failed_ms = At(2026, 6, 1, 14);
  ds[1].restored_ms = At(2026, 6, 2, 16);  // 26 h
  ds[2].failed_ms = At(2026, 6, 2, 13);    // still failed
  auto days = Explain(
      Ask(Metric::kTimeToRestoreService, Day(2026, 6, 1), Day(2026, 6, 2), Interval::kDaily), ds);
  EXPECT_EQ(Values(days), (std::vector<std::optional<double>>{std::nullopt, 19 * 3600.0}));
  ASSERT_EQ(days[1].samples.size(), 2u);
  EXPECT_EQ(days[1].samples[1].seconds, 26 * 3600.0);
  EXPECT_EQ(MetricName(Metric::kTimeToRestoreService), "time_to_restore_service");
}

// The per-day index answers every question as the records do, to the
// rounding of a division by 1000: medians across days included.
// Records that were added and then taken back (replaced) leave no trace:
// the index answers as the records that remain.
TEST(DoraIndex, AnswersAsTheRecordsDoAlsoAfterRemovals) {
  std::mt19937_64 rng(15);  // seeded: the same records every run
  auto next = [&rng](int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(rng); };
  const int64_t first = At(2026, 1, 1, 0);
  std::vector<Deployment> ds;
  for (int i = 0; i < 3500; ++i) {
    Deployment d = Prod(first + next(120 * kDay));
    d.tier = static_cast<Tier>(next(3));
    for (int64_t c = next(6); c > 0; --c)
      d.changes.push_back({"c", d.finished_ms - next(20 * kDay) + 2 * kHour});
    d.unplanned = next(10) == 0;
    if (next(8) == 0) {
      d.failed_ms = d.finished_ms + next(kHour);
      if (next(4) != 0) d.restored_ms = *d.failed_ms + next(3 * kDay);
    }
    ds.push_back(std::move(d));
  }
  DailyIndex index;
  for (size_t i = 0; i < ds.size(); ++i) index.Add(ds[(i * 7919) % ds.size()]);
  // The last 500 go again: half while the days are unsorted, half after.
  std::vector<Deployment> gone(ds.end() - 500, ds.end());
  ds.resize(ds.size() - 500);
  for (size_t i = 0; i < gone.size(); i += 2) index.Remove(gone[i]);
  index.Sort();
  for (size_t i = 1; i < gone.size(); i += 2) index.Remove(gone[i]);
  const std::vector<std::vector<Tier>> tier_sets = {
      {Tier::kProduction}, {Tier::kStaging, Tier::kProduction}, {Tier::kOther}};
  for (int m = 0; m < 5; ++m) {
    for (Interval interval : {Interval::kDaily, Interval::kMonthly, Interval::kAll}) {
      for (const auto& tiers : tier_sets) {
        Query q = Ask(static_cast<Metric>(m), Day(2026, 1, 10), Day(2026, 4, 20), interval);
        q.tiers = tiers;
        auto want = Compute(q, ds);
        auto got = index.Answer(q);
        ASSERT_EQ(got.size(), want.size());
        for (size_t b = 0; b < got.size(); ++b) {
          SCOPED_TRACE(fmt::format("metric {} bucket {}", m, b));
          EXPECT_EQ(got[b].date, want[b].date);
          ASSERT_EQ(got[b].value.has_value(), want[b].value.has_value());
          if (want[b].value) {
            EXPECT_NEAR(*got[b].value, *want[b].value, 1e-6);
          }
          ASSERT_EQ(got[b].p90.has_value(), want[b].p90.has_value());
          if (want[b].p90) {
            EXPECT_NEAR(*got[b].p90, *want[b].p90, 1e-6);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace strake::insight
