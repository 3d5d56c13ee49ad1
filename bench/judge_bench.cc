// The canary judge (rollout/judge.h) on synthetic canaries, issue 12 §5's
// bar: at least 95% of bad canaries caught (latency +20%, error rate ×3,
// variance ×3), at most 1% false alarms on equal versions, under 10 ms per
// verdict.
//
//   judge_bench detection [TRIALS]   the detection table (default 2,000
//                                    canaries per row, seeded: the same
//                                    table every run)
//   judge_bench sequential [TRIALS]  early stopping: six looks at a growing
//                                    window, each at the whole confidence
//                                    or at its O'Brien-Fleming share
//   judge_bench [benchmark flags]    the time per verdict (Google Benchmark)
//
// One verdict is what an analysis measurement asks: two metrics of one
// group, judged over a window of 10-second intervals, canary against
// baseline, scored and mapped with pass 90 / marginal 75. The traffic: 100
// requests a second, the canary's weight 20% (200 requests an interval
// against the baseline's 800).
//   latency     each interval's mean latency: 100 ms, 10% spread between
//               intervals; direction increase
//   error-rate  each interval's errors / requests, errors binomial at 1%;
//               direction increase
// A bad canary is one of: latency mean +20%; error rate ×3; latency
// variance ×3 (spread ×√3, same mean). An alarm is any verdict but
// Successful. "Kayenta" rows judge as NetflixACAJudge does; "strake" rows
// add the spread test (latency) and the exact rate test (errors).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "rollout/judge.h"

namespace strake::rollout::judge {
namespace {

enum class Fault { kNone, kLatency, kErrors, kVariance };

struct Window {
  std::vector<double> latency_canary, latency_baseline, errors_canary, errors_baseline;
  Counts canary_counts, baseline_counts;
};

constexpr int kCanaryRequests = 200, kBaselineRequests = 800;

Window Synthesize(Fault fault, int intervals, std::mt19937_64& rng) {
  Window w;
  double mean = fault == Fault::kLatency ? 120 : 100;
  double spread = fault == Fault::kVariance ? 10 * std::sqrt(3.0) : 10;
  if (fault == Fault::kLatency) spread = 12;  // the same relative spread
  std::normal_distribution<double> base_latency(100, 10), canary_latency(mean, spread);
  double rate = fault == Fault::kErrors ? 0.03 : 0.01;
  std::binomial_distribution<int> base_errors(kBaselineRequests, 0.01),
      canary_errors(kCanaryRequests, rate);
  for (int i = 0; i < intervals; ++i) {
    w.latency_baseline.push_back(base_latency(rng));
    w.latency_canary.push_back(canary_latency(rng));
    int eb = base_errors(rng), ec = canary_errors(rng);
    w.errors_baseline.push_back(static_cast<double>(eb) / kBaselineRequests);
    w.errors_canary.push_back(static_cast<double>(ec) / kCanaryRequests);
    w.baseline_counts.events += static_cast<uint64_t>(eb);
    w.canary_counts.events += static_cast<uint64_t>(ec);
  }
  w.baseline_counts.exposure = static_cast<double>(intervals) * kBaselineRequests;
  w.canary_counts.exposure = static_cast<double>(intervals) * kCanaryRequests;
  return w;
}

// The first `intervals` intervals of w.
Window Prefix(const Window& w, int intervals) {
  auto n = static_cast<size_t>(intervals);
  auto head = [&](const std::vector<double>& v) {
    return std::vector<double>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
  };
  Window p{head(w.latency_canary),
           head(w.latency_baseline),
           head(w.errors_canary),
           head(w.errors_baseline),
           {},
           {}};
  for (size_t i = 0; i < n; ++i) {
    p.canary_counts.events +=
        static_cast<uint64_t>(std::lround(p.errors_canary[i] * kCanaryRequests));
    p.baseline_counts.events +=
        static_cast<uint64_t>(std::lround(p.errors_baseline[i] * kBaselineRequests));
  }
  p.canary_counts.exposure = static_cast<double>(n) * kCanaryRequests;
  p.baseline_counts.exposure = static_cast<double>(n) * kBaselineRequests;
  return p;
}

Phase Judge(const Window& w, bool extras, double confidence = 0.98) {
  MetricConfig latency;
  latency.name = "latency";
  latency.groups = {"service"};
  latency.direction = Direction::kIncrease;
  latency.spread_test = extras;
  latency.confidence = confidence;
  MetricConfig errors = latency;
  errors.name = "error-rate";
  errors.spread_test = false;
  errors.rate_test = extras;
  std::vector<MetricResult> results;
  results.push_back(Classify(latency, w.latency_canary, w.latency_baseline));
  results.push_back(Classify(errors, w.errors_canary, w.errors_baseline,
                             std::pair<Counts, Counts>{w.canary_counts, w.baseline_counts}));
  return ScorePhase(Score(results, {}).score, 90, 75);
}

int Detection(int trials) {
  const char* names[] = {"equal versions (false alarms)", "latency +20%", "error rate x3",
                         "latency variance x3"};
  fmt::print("| canary | window | Kayenta: alarms | strake: alarms |\n|---|---|---|---|\n");
  for (int intervals : {30, 90, 180}) {
    for (Fault f : {Fault::kNone, Fault::kLatency, Fault::kErrors, Fault::kVariance}) {
      int alarms[2] = {0, 0};
      for (int extras = 0; extras < 2; ++extras) {
        std::mt19937_64 rng(20261203 + static_cast<uint64_t>(f) * 1000 + intervals);
        for (int t = 0; t < trials; ++t)
          alarms[extras] += Judge(Synthesize(f, intervals, rng), extras == 1) != Phase::kSuccessful;
      }
      auto pct = [&](int a) { return 100.0 * a / trials; };
      fmt::print("| {} | {} × 10 s | {:.2f}% | {:.2f}% |\n", names[static_cast<int>(f)], intervals,
                 pct(alarms[0]), pct(alarms[1]));
    }
  }
  return 0;
}

// Six looks, at 15, 30, … 90 intervals (2.5 to 15 minutes of 10-second
// intervals), every test on; the canary fails at the first look that is not
// Successful (Argo's failureLimit 0). "Each look at 98%": every look judged
// at the whole confidence; "early stopping": look k at 1 − SpentAlpha(2%, k,
// 6). For the second, the mean look at which a caught canary was caught.
int Sequential(int trials) {
  const char* names[] = {"equal versions (false alarms)", "latency +20%", "error rate x3",
                         "latency variance x3"};
  constexpr int kLooks = 6, kStep = 15;
  fmt::print(
      "| canary | one look at 90: alarms | each look at 98%: alarms | early stopping: alarms "
      "| early stopping: mean look caught |\n|---|---|---|---|---|\n");
  for (Fault f : {Fault::kNone, Fault::kLatency, Fault::kErrors, Fault::kVariance}) {
    int once = 0, every = 0, early = 0, looks_sum = 0;
    std::mt19937_64 rng(20261205 + static_cast<uint64_t>(f) * 1000);
    for (int t = 0; t < trials; ++t) {
      Window w = Synthesize(f, kLooks * kStep, rng);
      once += Judge(w, true) != Phase::kSuccessful;
      bool every_alarm = false;
      int caught_at = 0;
      for (int k = 1; k <= kLooks; ++k) {
        Window p = Prefix(w, k * kStep);
        if (!every_alarm) every_alarm = Judge(p, true) != Phase::kSuccessful;
        if (!caught_at && Judge(p, true, 1 - SpentAlpha(0.02, k, kLooks)) != Phase::kSuccessful)
          caught_at = k;
      }
      every += every_alarm;
      early += caught_at > 0;
      looks_sum += caught_at;
    }
    auto pct = [&](int a) { return 100.0 * a / trials; };
    fmt::print("| {} | {:.2f}% | {:.2f}% | {:.2f}% | {} |\n", names[static_cast<int>(f)], pct(once),
               pct(every), pct(early),
               early ? fmt::format("{:.2f}", static_cast<double>(looks_sum) / early) : "-");
  }
  return 0;
}

// One verdict with every test on, over `intervals` values a side.
void BM_Verdict(benchmark::State& state) {
  std::mt19937_64 rng(7);
  Window w = Synthesize(Fault::kNone, static_cast<int>(state.range(0)), rng);
  for (auto _ : state) benchmark::DoNotOptimize(Judge(w, true));
  state.SetLabel(fmt::format("{} intervals a side", state.range(0)));
}
// 5 minutes and 1 hour of 10-second intervals, 15 minutes of 1-second ones.
BENCHMARK(BM_Verdict)->Arg(30)->Arg(360)->Arg(900)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strake::rollout::judge

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "detection") == 0)
    return strake::rollout::judge::Detection(argc >= 3 ? std::atoi(argv[2]) : 2000);
  if (argc >= 2 && std::strcmp(argv[1], "sequential") == 0)
    return strake::rollout::judge::Sequential(argc >= 3 ? std::atoi(argv[2]) : 2000);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
