#include "rollout/judge.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

namespace strake::rollout::judge {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double Median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  double hi = v[mid];
  if (v.size() % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<long>(mid));
  return (lo + hi) / 2;
}

// mean(a) / mean(b); NaN when either mean is 0, as Kayenta's EffectSizes.
double MeanRatio(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = Mean(a), mb = Mean(b);
  if (ma == 0 || mb == 0) return kNaN;
  return ma / mb;
}

// Count, mean, min, max and sample standard deviation of v into s (what
// was dropped before is s's already).
void Describe(const std::vector<double>& v, SampleStats& s) {
  s.count = v.size();
  if (v.empty()) return;
  s.mean = Mean(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
}

// The rank-sum statistic of x − d against y: (U of x − m·n/2, the tie term
// Σ(t³ − t) of the combined sample).
struct RankSum {
  double centred_u = 0;
  double ties = 0;
};

// x and y sorted: one merge, (x_i − d) keeping x's order.
RankSum RankSumSorted(const std::vector<double>& x, const std::vector<double>& y, double d) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  RankSum r;
  double rank_sum_x = 0, pos = 0;
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    double cur = std::min(i < x.size() ? x[i] - d : kInf, j < y.size() ? y[j] : kInf);
    double tx = 0, ty = 0;
    for (; i < x.size() && x[i] - d == cur; ++i) ++tx;
    for (; j < y.size() && y[j] == cur; ++j) ++ty;
    double t = tx + ty;
    rank_sum_x += (pos + (t + 1) / 2) * tx;
    r.ties += t * t * t - t;
    pos += t;
  }
  double m = static_cast<double>(x.size()), n = static_cast<double>(y.size());
  r.centred_u = rank_sum_x - m * (m + 1) / 2 - m * n / 2;
  return r;
}

double SigmaOf(size_t mx, size_t ny, double ties) {
  double m = static_cast<double>(mx), n = static_cast<double>(ny);
  return std::sqrt(m * n / 12 * ((m + n + 1) - ties / ((m + n) * (m + n - 1))));
}

double Sign(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

// ShiftStatistic on sorted samples.
Result<double> StatisticSorted(const std::vector<double>& x, const std::vector<double>& y, double d,
                               double zq) {
  RankSum r = RankSumSorted(x, y, d);
  double sigma = SigmaOf(x.size(), y.size(), r.ties);
  if (!(sigma > 0))
    return Fail(ErrorCode::kInvalid,
                "cannot compute the confidence interval: every observation is tied");
  return (r.centred_u - Sign(r.centred_u) * 0.5) / sigma - zq;
}

// The m·n pairwise differences x_i − y_j, held as x and y sorted: counted
// and searched in O(m log n) without being listed (15 minutes of 1-second
// values would be 810,000 of them). Each difference is the double x_i − y_j
// as computed, so counts and searches agree with each other exactly.
class Differences {
 public:
  Differences(std::vector<double> x, std::vector<double> y) : x_(std::move(x)), y_(std::move(y)) {
    std::sort(x_.begin(), x_.end());
    std::sort(y_.begin(), y_.end());
  }
  const std::vector<double>& x() const { return x_; }
  const std::vector<double>& y() const { return y_; }
  double min() const { return x_.front() - y_.back(); }
  double max() const { return x_.back() - y_.front(); }
  uint64_t size() const { return uint64_t{x_.size()} * y_.size(); }
  // How many differences are at most v.
  uint64_t CountAtMost(double v) const {
    uint64_t n = 0;
    ForEachCut(v, [&](size_t, size_t p) { n += y_.size() - p; });
    return n;
  }
  // The smallest difference above a, or +inf.
  double SmallestAbove(double a) const {
    double best = std::numeric_limits<double>::infinity();
    ForEachCut(a, [&](size_t i, size_t p) {
      if (p > 0) best = std::min(best, x_[i] - y_[p - 1]);
    });
    return best;
  }
  // The largest difference at most b, or -inf.
  double LargestAtMost(double b) const {
    double best = -std::numeric_limits<double>::infinity();
    ForEachCut(b, [&](size_t i, size_t p) {
      if (p < y_.size()) best = std::max(best, x_[i] - y_[p]);
    });
    return best;
  }
  // The k-th smallest difference, counting from 1.
  double Kth(uint64_t k) const {
    return FirstDistinct([&](double t) { return CountAtMost(t) >= k; });
  }
  // The smallest distinct difference t for which `reached(t)`, a predicate
  // false then true along the differences and true at max(): a bisection
  // over the values whose every probe is itself a difference.
  template <typename Pred>
  double FirstDistinct(Pred reached) const {
    double a = min(), b = max();
    if (reached(a)) return a;
    for (int i = 0; i < 4096; ++i) {  // reached(a) false, reached(b) true
      double next = SmallestAbove(a);
      if (next >= b) return b;
      double t = LargestAtMost(a + (b - a) / 2);
      if (t <= a) t = next;  // none in (a, mid]: the next one is past mid
      if (reached(t)) {
        b = t;
      } else {
        a = t;
      }
    }
    return b;
  }

 private:
  // For each x_i, how many of y give a difference x_i − y_j above v: a
  // prefix of y, which only grows with x_i, so one pass finds every cut.
  template <typename F>
  void ForEachCut(double v, F&& f) const {
    size_t p = 0;
    for (size_t i = 0; i < x_.size(); ++i) {
      while (p < y_.size() && x_[i] - y_[p] > v) ++p;
      f(i, p);
    }
  }
  std::vector<double> x_, y_;
};

// The root of ShiftStatistic(d) = 0 for zq among the pairwise differences:
// the statistic is a decreasing step function that jumps only at a
// difference, so its root is the first difference past which it is at or
// below 0. At or beyond the search interval [min, max], its end, as R's
// root() clamps.
Result<double> ShiftLimit(const Differences& diffs, double zq) {
  const auto& x = diffs.x();
  const auto& y = diffs.y();
  STRAKE_TRY_ASSIGN(at_low, StatisticSorted(x, y, diffs.min(), zq));
  if (at_low <= 0) return diffs.min();
  STRAKE_TRY_ASSIGN(at_high, StatisticSorted(x, y, diffs.max(), zq));
  if (at_high >= 0) return diffs.max();
  // Past the difference t the statistic keeps its value until the next one:
  // it is read in the middle of that gap.
  std::optional<Error> failed;
  double root = diffs.FirstDistinct([&](double t) {
    double next = diffs.SmallestAbove(t);
    if (std::isinf(next)) return true;
    auto f = StatisticSorted(x, y, t + (next - t) / 2, zq);
    if (!f) failed = f.error();
    return !f || *f <= 0;
  });
  if (failed) return tl::unexpected(*failed);
  return root;
}

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  return fmt::format("{:.4g}", v);
}

// NaN handling, then Tukey's fences widened to the 1st/99th percentile
// (Kayenta's IQRDetector with reduceSensitivity).
std::vector<double> Transform(const MetricConfig& c, std::vector<double> v, SampleStats& stats) {
  size_t before = v.size();
  if (c.nan_strategy == NanStrategy::kRemove) {
    std::erase_if(v, [](double x) { return std::isnan(x); });
    stats.nan_dropped = before - v.size();
  } else {
    for (double& x : v)
      if (std::isnan(x)) x = 0;
  }
  if (c.remove_outliers && !v.empty()) {
    double q1 = PercentileR7(v, 25), q3 = PercentileR7(v, 75);
    double iqr = q3 - q1;
    double low = std::min(PercentileR7(v, 1), q1 - c.outlier_factor * iqr);
    double high = std::max(PercentileR7(v, 99), q3 + c.outlier_factor * iqr);
    size_t kept = v.size();
    std::erase_if(v, [&](double x) { return x < low || x > high; });
    stats.outliers_dropped = kept - v.size();
  }
  return v;
}

// A result decided before any test: the samples say nothing apart.
MetricResult Early(MetricResult r, Label label, std::string reason) {
  r.label = label;
  r.reason = std::move(reason);
  return r;
}

// Kayenta's critical rule: a failing critical metric fails the canary when
// its effect reaches the critical size.
void MarkCritical(const MetricConfig& c, double critical_increase, double critical_decrease,
                  MetricResult& r) {
  if (!c.critical) return;
  bool nan = std::isnan(r.effect);
  if (r.label == Label::kHigh) r.critical = nan || r.effect >= critical_increase;
  if (r.label == Label::kLow) r.critical = nan || r.effect <= critical_decrease;
  if (r.label == Label::kNodata || r.label == Label::kError) r.critical = true;
  if (r.critical) r.reason += " (critical)";
}

// The continued fraction of the regularised incomplete beta I_x(a, b)
// (Lentz's method), for the t distribution.
double BetaFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    double dm = m, m2 = 2 * dm;
    double aa = dm * (b - dm) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    c = 1 + aa / c;
    d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
    c = std::fabs(c) < kTiny ? kTiny : c;
    h *= d * c;
    aa = -(a + dm) * (a + b + dm) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    c = 1 + aa / c;
    d = 1 / (std::fabs(d) < kTiny ? kTiny : d);
    c = std::fabs(c) < kTiny ? kTiny : c;
    double step = d * c;
    h *= step;
    if (std::fabs(step - 1) < 1e-15) break;
  }
  return h;
}

double RegularisedBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                          b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * BetaFraction(a, b, x) / a;
  return 1 - front * BetaFraction(b, a, 1 - x) / b;
}

// The share of extra tests' false alarms: each at a quarter of the
// one-sided 1 − confidence, so that with Mann-Whitney's own a verdict on
// equal versions stays under the two-sided rate.
double ExtraAlpha(const MetricConfig& c) { return (1 - c.confidence) / 4; }

// strake's spread test (Brown-Forsythe): the absolute deviations from each
// side's median, their means compared by Welch's t-test, one-sided.
void SpreadTest(const MetricConfig& c, const std::vector<double>& x, const std::vector<double>& y,
                MetricResult& r) {
  if (x.size() < 3 || y.size() < 3) return;
  auto deviations = [](const std::vector<double>& v) {
    double med = Median(v);
    std::vector<double> out;
    out.reserve(v.size());
    for (double e : v) out.push_back(std::fabs(e - med));
    return out;
  };
  std::vector<double> dx = deviations(x), dy = deviations(y);
  SampleStats sx = StatsOf(dx), sy = StatsOf(dy);
  r.spread_ratio = sy.mean == 0 ? (sx.mean == 0 ? 1 : std::numeric_limits<double>::infinity())
                                : sx.mean / sy.mean;
  double vx = sx.std * sx.std / static_cast<double>(dx.size());
  double vy = sy.std * sy.std / static_cast<double>(dy.size());
  if (!(vx + vy > 0) || r.spread_ratio < c.allowed_spread) return;
  double t = (sx.mean - sy.mean) / std::sqrt(vx + vy);
  double df =
      (vx + vy) * (vx + vy) /
      (vx * vx / static_cast<double>(dx.size() - 1) + vy * vy / static_cast<double>(dy.size() - 1));
  double p = t <= 0 ? 1 : 0.5 * RegularisedBeta(df / 2, 0.5, df / (df + t * t));
  if (p >= ExtraAlpha(c)) return;
  r.label = Label::kHigh;
  r.reason = fmt::format(
      "{}: High: the canary's spread grew: mean absolute deviation {} against {} (x{}), "
      "Brown-Forsythe p {}",
      c.name, Num(sx.mean), Num(sy.mean), Num(r.spread_ratio), Num(p));
}

// strake's exact rate test: few events on a small exposure, which the
// per-interval rates (mostly 0) hide from Mann-Whitney.
void RateTest(const MetricConfig& c, const std::pair<Counts, Counts>& counts, MetricResult& r) {
  const auto& [canary, baseline] = counts;
  double p = RateIncreasePValue(canary.events, canary.exposure, baseline.events, baseline.exposure);
  r.rate_p = p;
  double canary_rate =
      canary.exposure > 0 ? static_cast<double>(canary.events) / canary.exposure : 0;
  double baseline_rate =
      baseline.exposure > 0 ? static_cast<double>(baseline.events) / baseline.exposure : 0;
  double ratio =
      baseline_rate > 0 ? canary_rate / baseline_rate : std::numeric_limits<double>::infinity();
  double neutral = c.effect_measure == EffectMeasure::kCles ? 0.5 : 1.0;
  // An effect size in CLES does not apply to a ratio of rates: 1.0 then.
  double allowed =
      c.effect_measure == EffectMeasure::kCles ? 1.0 : c.allowed_increase.value_or(neutral);
  if (p < ExtraAlpha(c) && ratio >= allowed) {
    r.label = Label::kHigh;
    r.reason = fmt::format(
        "{}: High: {} events in {} of the canary against {} in {} of the baseline (x{} the "
        "rate), exact p {}",
        c.name, canary.events, Num(canary.exposure), baseline.events, Num(baseline.exposure),
        Num(ratio), Num(p));
  }
}

}  // namespace

SampleStats StatsOf(const std::vector<double>& v) {
  SampleStats s;
  Describe(v, s);
  return s;
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double SpentAlpha(double alpha, int look, int looks) {
  if (looks < 1 || look < 1 || look > looks || !(alpha > 0 && alpha < 1)) return 0;
  const double z = NormalQuantile(1 - alpha / 2);
  auto spent = [&](int k) {
    if (k <= 0) return 0.0;
    if (k >= looks) return alpha;
    return 2 - 2 * NormalCdf(z / std::sqrt(static_cast<double>(k) / looks));
  };
  return spent(look) - spent(look - 1);
}

double NormalQuantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x = 0;
  if (p < kLow) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One step of Halley's method on Φ(x) − p.
  double e = NormalCdf(x) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

std::vector<double> MidRanks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && v[order[j]] == v[order[i]]) ++j;
    double mid = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) ranks[order[k]] = mid;
    i = j;
  }
  return ranks;
}

Result<double> ShiftStatistic(std::vector<double> x, std::vector<double> y, double d, double zq) {
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return StatisticSorted(x, y, d, zq);
}

Result<MannWhitney> MannWhitneyTest(const std::vector<double>& x, const std::vector<double>& y,
                                    double confidence) {
  if (x.empty() || y.empty())
    return Fail(ErrorCode::kInvalid, "the Mann-Whitney test needs values on both sides");
  auto finite = [](double v) { return std::isfinite(v); };
  if (!std::all_of(x.begin(), x.end(), finite) || !std::all_of(y.begin(), y.end(), finite))
    return Fail(ErrorCode::kInvalid, "the Mann-Whitney test takes finite values only");
  MannWhitney t;
  Differences diffs(x, y);
  RankSum at0 = RankSumSorted(diffs.x(), diffs.y(), 0);
  double m = static_cast<double>(x.size()), n = static_cast<double>(y.size());
  t.u = at0.centred_u + m * n / 2;
  double sigma = SigmaOf(x.size(), y.size(), at0.ties);
  if (!(sigma > 0))
    return Fail(ErrorCode::kInvalid, "the Mann-Whitney test: every observation is tied");
  double z = (at0.centred_u - Sign(at0.centred_u) * 0.5) / sigma;
  t.p_value = std::min(1.0, 2 * std::min(NormalCdf(z), 1 - NormalCdf(z)));

  // Hodges-Lehmann: the median of the differences.
  uint64_t count = diffs.size();
  t.estimate = count % 2 == 1 ? diffs.Kth(count / 2 + 1)
                              : (diffs.Kth(count / 2) + diffs.Kth(count / 2 + 1)) / 2;
  if (diffs.min() == diffs.max()) {
    // Two constant samples: the shift is known exactly.
    t.ci_low = t.ci_high = diffs.min();
    return t;
  }
  double zq = NormalQuantile(1 - (1 - confidence) / 2);
  STRAKE_TRY_ASSIGN(lo, ShiftLimit(diffs, zq));
  STRAKE_TRY_ASSIGN(hi, ShiftLimit(diffs, -zq));
  t.ci_low = lo;
  t.ci_high = hi;
  return t;
}

double RateIncreasePValue(uint64_t canary_events, double canary_exposure, uint64_t baseline_events,
                          double baseline_exposure) {
  if (canary_events == 0 || !(canary_exposure > 0)) return 1;
  if (!(baseline_exposure > 0)) return 0;
  double share = canary_exposure / (canary_exposure + baseline_exposure);
  uint64_t total = canary_events + baseline_events;
  double lp = std::log(share), lq = std::log1p(-share);
  auto log_pmf = [&](uint64_t i) {
    double di = static_cast<double>(i), dn = static_cast<double>(total);
    return std::lgamma(dn + 1) - std::lgamma(di + 1) - std::lgamma(dn - di + 1) + di * lp +
           (dn - di) * lq;
  };
  // P(X >= canary_events), X ~ Binomial(total, share): the terms fall fast
  // past the mode.
  double mode = static_cast<double>(total) * share;
  double sum = 0;
  for (uint64_t i = canary_events; i <= total; ++i) {
    double term = std::exp(log_pmf(i));
    sum += term;
    if (static_cast<double>(i) > mode && term < sum * 1e-17) break;
  }
  return std::min(1.0, sum);
}

const char* LabelName(Label l) {
  switch (l) {
    case Label::kPass:
      return "Pass";
    case Label::kHigh:
      return "High";
    case Label::kLow:
      return "Low";
    case Label::kNodata:
      return "Nodata";
    case Label::kNodataFailMetric:
      return "NodataFailMetric";
    case Label::kError:
      return "Error";
  }
  return "Error";
}

MetricResult Classify(const MetricConfig& c, std::vector<double> canary,
                      std::vector<double> baseline,
                      std::optional<std::pair<Counts, Counts>> counts) {
  MetricResult r;
  r.name = c.name;
  r.groups = c.groups;
  r.muted = c.muted;
  std::vector<double> x = Transform(c, std::move(canary), r.canary);
  std::vector<double> y = Transform(c, std::move(baseline), r.baseline);
  Describe(x, r.canary);
  Describe(y, r.baseline);
  bool cles = c.effect_measure == EffectMeasure::kCles;
  double neutral = cles ? 0.5 : 1.0;
  double critical_increase = c.critical_increase.value_or(neutral);
  double critical_decrease = c.critical_decrease.value_or(neutral);

  if (x.empty() || y.empty()) {
    r.ratio = r.effect = kNaN;
    if (c.nan_strategy == NanStrategy::kReplace)
      return Early(std::move(r), Label::kPass, c.name + ": no values, read as 0: Pass");
    std::string why =
        fmt::format("{}: missing data (canary {} values, baseline {})", c.name, x.size(), y.size());
    if (c.must_have_data && !c.critical) return Early(std::move(r), Label::kNodataFailMetric, why);
    r = Early(std::move(r), Label::kNodata, why);
    MarkCritical(c, critical_increase, critical_decrease, r);
    return r;
  }
  r.ratio = r.effect = 1;
  std::vector<double> sx = x, sy = y;
  std::sort(sx.begin(), sx.end());
  std::sort(sy.begin(), sy.end());
  if (sx == sy)
    return Early(std::move(r), Label::kPass,
                 c.name + ": the canary and baseline data are identical");
  if (sx.front() == sx.back() && sy.front() == sy.back() && sx.front() == sy.front())
    return Early(std::move(r), Label::kPass, c.name + ": every value is the same");

  auto test = MannWhitneyTest(x, y, c.confidence);
  if (!test) {
    r.ratio = r.effect = kNaN;
    r = Early(std::move(r), Label::kError,
              fmt::format("{}: classification failed: {}", c.name, test.error().message));
    MarkCritical(c, critical_increase, critical_decrease, r);
    return r;
  }
  r.test = *test;
  r.ratio = MeanRatio(x, y);
  r.effect =
      cles ? test->u / (static_cast<double>(x.size()) * static_cast<double>(y.size())) : r.ratio;
  double bound = c.tolerance * std::fabs(test->estimate);
  bool nan = std::isnan(r.effect);
  bool up = c.direction != Direction::kDecrease;
  bool down = c.direction != Direction::kIncrease;
  std::string numbers = fmt::format(
      "{:g}% CI of the shift [{}, {}], estimate {}, {} {}", c.confidence * 100, Num(test->ci_low),
      Num(test->ci_high), Num(test->estimate), cles ? "CLES" : "mean ratio", Num(r.effect));
  if (up && test->ci_low > bound && (nan || r.effect >= c.allowed_increase.value_or(neutral))) {
    r.label = Label::kHigh;
    r.reason = fmt::format("{}: High: {}", c.name, numbers);
  } else if (down && test->ci_high < -bound &&
             (nan || r.effect <= c.allowed_decrease.value_or(neutral))) {
    r.label = Label::kLow;
    r.reason = fmt::format("{}: Low: {}", c.name, numbers);
  } else {
    r.label = Label::kPass;
    r.reason = fmt::format("{}: Pass: {}", c.name, numbers);
    if (c.spread_test) SpreadTest(c, x, y, r);
    if (c.rate_test && counts && up && r.label == Label::kPass) RateTest(c, *counts, r);
  }
  MarkCritical(c, critical_increase, critical_decrease, r);
  return r;
}

Verdict Score(const std::vector<MetricResult>& results,
              const std::map<std::string, double>& group_weights) {
  Verdict v;
  std::vector<const MetricResult*> active;
  for (const auto& r : results)
    if (!r.muted) active.push_back(&r);
  if (active.empty()) {
    v.reason = "Canary Failed: no metric was judged";
    return v;
  }
  size_t nodata = 0;
  for (const auto* r : active) {
    if (r->critical && r->label != Label::kPass) {
      v.reason = "Canary Failed: " + r->reason;
      return v;
    }
    if (r->label == Label::kNodata) ++nodata;
  }
  if (nodata * 2 >= active.size()) {
    v.reason = "Canary Failed: 50% or more metrics returned no data";
    return v;
  }
  struct Tally {
    size_t pass = 0, judged = 0;
  };
  std::map<std::string, Tally> tallies;
  for (const auto* r : active) {
    std::vector<std::string> groups = r->groups;
    if (groups.empty()) groups.emplace_back("default");
    for (const auto& g : groups) {
      Tally& t = tallies[g];
      if (r->label == Label::kPass) ++t.pass;
      if (r->label == Label::kPass || r->label == Label::kHigh || r->label == Label::kLow ||
          r->label == Label::kNodataFailMetric)
        ++t.judged;
    }
  }
  double weighted = 0;
  size_t unweighted = 0;
  for (const auto& [g, w] : group_weights) weighted += w;
  for (const auto& [g, t] : tallies) unweighted += group_weights.count(g) ? 0 : 1;
  double share = unweighted ? (100 - weighted) / static_cast<double>(unweighted) : 0;
  double sum = 0;
  for (const auto& [g, t] : tallies) {
    GroupScore gs{
        g, t.judged ? 100.0 * static_cast<double>(t.pass) / static_cast<double>(t.judged) : 0.0,
        t.judged == 0};
    auto w = group_weights.find(g);
    double weight = w != group_weights.end() ? w->second : share;
    sum += (gs.no_data ? 100 : gs.score) * weight / 100;
    v.groups.push_back(gs);
  }
  v.score = std::floor(sum * 100 + 0.5) / 100;
  return v;
}

Phase ScorePhase(double score, int64_t pass, int64_t marginal) {
  auto s = static_cast<int64_t>(score);  // Go's int(score): toward zero
  if (s >= pass) return Phase::kSuccessful;
  if (s >= marginal) return Phase::kInconclusive;
  return Phase::kFailed;
}

}  // namespace strake::rollout::judge
