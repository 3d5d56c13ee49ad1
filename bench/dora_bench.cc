// The DORA core (insight/dora.h) on issue 15's volume: 1,000,000
// production deployments spread over five years (about 550 a day) with
// 10,000,000 changes (ten each), every metric over 90 days daily and over
// the whole five years at once. The records are in memory: this measures
// the computation, not the store that will feed it.
//
//   dora_bench [benchmark flags]
#include <benchmark/benchmark.h>

#include <random>

#include "base/tz.h"
#include "insight/dora.h"

namespace strake::insight {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kDeployments = 1'000'000;
constexpr int kChangesEach = 10;

const std::vector<Deployment>& Records() {
  static const std::vector<Deployment> records = [] {
    std::vector<Deployment> out;
    out.reserve(kDeployments);
    std::mt19937_64 rng(15);
    const int64_t start = DaysFromCivil(2021, 1, 1) * kDayMs;
    const int64_t span = kMaxRangeDays * kDayMs;
    std::uniform_int_distribution<int64_t> when(0, span - 1);
    std::exponential_distribution<double> lead(1.0 / (36.0 * 3'600'000));  // mean 36 h
    std::bernoulli_distribution failed(0.08), unplanned(0.05);
    std::exponential_distribution<double> recovery(1.0 / (2.0 * 3'600'000));  // mean 2 h
    for (int64_t i = 0; i < kDeployments; ++i) {
      Deployment d;
      d.id = "d" + std::to_string(i);
      d.environment = "prod";
      d.tier = Tier::kProduction;
      d.finished_ms = start + when(rng);
      d.changes.reserve(kChangesEach);
      for (int c = 0; c < kChangesEach; ++c) {
        d.changes.push_back({"c", d.finished_ms - static_cast<int64_t>(lead(rng))});
      }
      d.unplanned = unplanned(rng);
      if (failed(rng)) {
        d.failed_ms = d.finished_ms + 600'000;
        d.restored_ms = *d.failed_ms + static_cast<int64_t>(recovery(rng));
      }
      out.push_back(std::move(d));
    }
    return out;
  }();
  return records;
}

DailyIndex& Index() {
  static DailyIndex index = [] {
    DailyIndex i;
    for (const auto& d : Records()) i.Add(d);
    return i;
  }();
  return index;
}

// range(0): the metric; range(1): 0 for 90 days daily, 1 for five years
// at once; range(2): 0 over the records (Compute), 1 over the per-day
// index (DailyIndex::Answer).
void BM_Metric(benchmark::State& state) {
  const auto& records = Records();
  const bool indexed = state.range(2) != 0;
  if (indexed) {  // built, and every day sorted, before the clock runs
    Query all;
    all.start_day = DaysFromCivil(2021, 1, 1);
    all.end_day = all.start_day + kMaxRangeDays;
    (void)Index().Answer(all);
  }
  Query q;
  q.metric = static_cast<Metric>(state.range(0));
  const bool whole = state.range(1) != 0;
  q.start_day = DaysFromCivil(2021, 1, 1);
  q.end_day = whole ? q.start_day + kMaxRangeDays : q.start_day + 400;
  if (!whole) q.start_day = q.end_day - 90;
  q.interval = whole ? Interval::kAll : Interval::kDaily;
  for (auto _ : state) {
    auto buckets = indexed ? Index().Answer(q) : Compute(q, records);
    benchmark::DoNotOptimize(buckets);
  }
  state.SetLabel(std::string(MetricName(q.metric)) +
                 (whole ? ", five years, all" : ", 90 days, daily") +
                 (indexed ? ", per-day index" : ", records"));
}
BENCHMARK(BM_Metric)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

}  // namespace
}  // namespace strake::insight

BENCHMARK_MAIN();
