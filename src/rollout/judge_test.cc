// The canary judge against the published vectors: Kayenta's own test suites
// (MannWhitneySuite, ClassifierSuite, ScorerSuite of spinnaker/kayenta),
// R's wilcox.test conventions, and Argo Rollouts' kayenta provider tests for
// the score-to-phase rule. Where Kayenta's result is an artefact of its root
// finder's 1e-4 tolerance, the exact value is expected (judge.h says why).
#include "rollout/judge.h"

#include <gtest/gtest.h>

#include <cmath>

namespace strake::rollout::judge {
namespace {

using V = std::vector<double>;

MetricConfig Config(double tolerance = 0.10, double confidence = 0.95) {
  MetricConfig c;
  c.name = "m";
  c.groups = {"g"};
  c.tolerance = tolerance;
  c.confidence = confidence;
  return c;
}

TEST(JudgeStats, NormalQuantileAndCdf) {
  EXPECT_NEAR(NormalQuantile(0.01), -2.3263478740408408, 1e-9);  // Kayenta "Test zQuant"
  EXPECT_NEAR(NormalQuantile(0.975), 1.9599639845400536, 1e-9);
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 1e-7);
  EXPECT_NEAR(NormalCdf(NormalQuantile(0.3)), 0.3, 1e-12);
}

TEST(JudgeStats, MidRanksAverageTiesAndPercentileIsR7) {
  EXPECT_EQ(MidRanks({3, 1, 3, 2}), (V{3.5, 1, 3.5, 2}));
  EXPECT_DOUBLE_EQ(PercentileR7({1, 2, 3, 4}, 25), 1.75);
  EXPECT_DOUBLE_EQ(PercentileR7({1, 2, 3, 4}, 100), 4);
  EXPECT_TRUE(std::isnan(PercentileR7({}, 50)));
}

// Kayenta's "Mann-Whitney Confidence Interval & Estimate": [6, 39], 22.5.
TEST(JudgeMannWhitney, KayentasSmallVector) {
  auto t = MannWhitneyTest({10, 20, 30, 40}, {1, 2, 3, 4}, 0.95);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_DOUBLE_EQ(t->ci_low, 6);
  EXPECT_DOUBLE_EQ(t->ci_high, 39);
  EXPECT_DOUBLE_EQ(t->estimate, 22.5);
  EXPECT_DOUBLE_EQ(t->u, 16);
  EXPECT_NEAR(t->p_value, 0.0303828, 1e-6);
}

// wilcox.test's example (Hollander & Wolfe): W = 35, two-sided p 0.244624
// with the continuity correction; Hodges-Lehmann 0.305.
TEST(JudgeMannWhitney, TheHollanderWolfeExampleAsRComputesIt) {
  V x{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  V y{1.15, 0.88, 0.90, 0.74, 1.21};
  auto t = MannWhitneyTest(x, y, 0.95);
  ASSERT_TRUE(t);
  EXPECT_DOUBLE_EQ(t->u, 35);
  EXPECT_NEAR(t->p_value, 0.244624, 1e-6);
  EXPECT_NEAR(t->estimate, 0.305, 1e-12);
  EXPECT_LT(t->ci_low, 0);
  EXPECT_GT(t->ci_high, 0);
}

TEST(JudgeMannWhitney, TiesAndNoTies) {
  auto t = MannWhitneyTest({20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}, 0.95);
  ASSERT_TRUE(t);
  EXPECT_DOUBLE_EQ(t->u, 25);
  EXPECT_NEAR(t->p_value, 0.0121858, 1e-6);
  EXPECT_NEAR(t->ci_low, 17.8, 1e-12);
  EXPECT_NEAR(t->ci_high, 27.8, 1e-12);
  EXPECT_NEAR(t->estimate, 20, 1e-12);
  auto strict = MannWhitneyTest({20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}, 0.98);
  ASSERT_TRUE(strict);
  EXPECT_NEAR(strict->ci_low, 17, 1e-12);
  EXPECT_NEAR(strict->ci_high, 29, 1e-12);

  auto tied = MannWhitneyTest({1, 1, 1, 1, 10}, {1, 1, 1, 1, 1}, 0.95);
  ASSERT_TRUE(tied);
  EXPECT_DOUBLE_EQ(tied->u, 15);
  EXPECT_NEAR(tied->p_value, 0.423711, 1e-6);  // tie-corrected sigma 2.5
  EXPECT_DOUBLE_EQ(tied->ci_low, 0);
  EXPECT_DOUBLE_EQ(tied->ci_high, 9);
  EXPECT_DOUBLE_EQ(tied->estimate, 0);

  auto same = MannWhitneyTest({1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, 0.95);
  ASSERT_TRUE(same);
  EXPECT_DOUBLE_EQ(same->u, 12.5);
  EXPECT_DOUBLE_EQ(same->p_value, 1);

  EXPECT_FALSE(MannWhitneyTest({}, {1}, 0.95));
  EXPECT_FALSE(MannWhitneyTest({2, 2}, {2, 2, 2}, 0.95)) << "every observation tied";
}

// What Kayenta's 1e-4 absolute tolerance breaks: the interval scales with
// the data, moves with it, and mirrors when the samples swap.
TEST(JudgeMannWhitney, TheIntervalIsScaleFreeShiftsAndMirrors) {
  V x{0.0331, 0.0352, 0.0349, 0.0367, 0.0341, 0.0358, 0.0372, 0.0338};
  V y{0.0301, 0.0322, 0.0310, 0.0315, 0.0298, 0.0327, 0.0305, 0.0319};
  auto t = MannWhitneyTest(x, y, 0.98);
  ASSERT_TRUE(t);
  for (double k : {1e-6, 1e3}) {
    V kx, ky;
    for (double v : x) kx.push_back(v * k);
    for (double v : y) ky.push_back(v * k);
    auto s = MannWhitneyTest(kx, ky, 0.98);
    ASSERT_TRUE(s);
    EXPECT_NEAR(s->ci_low, t->ci_low * k, std::fabs(t->ci_low * k) * 1e-9) << k;
    EXPECT_NEAR(s->ci_high, t->ci_high * k, std::fabs(t->ci_high * k) * 1e-9) << k;
    EXPECT_NEAR(s->estimate, t->estimate * k, std::fabs(t->estimate * k) * 1e-9) << k;
  }
  EXPECT_GT(t->ci_low, 0) << "the canary is higher, and the interval says so at 1e-2 scale";
  auto swapped = MannWhitneyTest(y, x, 0.98);
  ASSERT_TRUE(swapped);
  EXPECT_NEAR(swapped->ci_low, -t->ci_high, 1e-15);
  EXPECT_NEAR(swapped->ci_high, -t->ci_low, 1e-15);
  EXPECT_NEAR(swapped->estimate, -t->estimate, 1e-15);
}

TEST(JudgeClassify, KayentasClassifierSuite) {
  MetricConfig c = Config();
  // "Mean Ratio Effect Size: High" / "Pass".
  c.allowed_decrease = 0.8;
  c.allowed_increase = 1.2;
  EXPECT_EQ(Classify(c, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}).label, Label::kHigh);
  c.allowed_decrease = 0.5;
  c.allowed_increase = 1.0;
  EXPECT_EQ(Classify(c, {10, 12.2, 10.1, 12.5, 23}, {20, 22, 21, 25, 30}).label, Label::kPass);

  // "Critical Effect Size".
  MetricConfig crit = Config();
  crit.critical = true;
  crit.critical_decrease = 1.0;
  crit.critical_increase = 1.2;
  auto high = Classify(crit, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3});
  EXPECT_EQ(high.label, Label::kHigh);
  EXPECT_TRUE(high.critical);
  auto low = Classify(crit, {2, 2, 2, 2, 3}, {10, 20.2, 10.1, 20.5, 30});
  EXPECT_EQ(low.label, Label::kLow);
  EXPECT_TRUE(low.critical);
  crit.allowed_increase = 5.0;
  crit.critical_increase = 13.0;
  high = Classify(crit, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3});
  EXPECT_EQ(high.label, Label::kHigh);
  EXPECT_FALSE(high.critical) << "a mean ratio of 12.04 is under the critical 13";
  crit.allowed_increase = 13.0;
  crit.critical_increase = 15.0;
  EXPECT_EQ(Classify(crit, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}).label, Label::kPass);
  MetricConfig crit_default = Config();
  crit_default.critical = true;
  EXPECT_TRUE(Classify(crit_default, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}).critical);

  // Ties, identical populations, leading zero.
  MetricConfig dec = Config();
  dec.direction = Direction::kDecrease;
  EXPECT_EQ(Classify(dec, {1, 1, 1}, {1, 1}).label, Label::kPass);
  EXPECT_EQ(Classify(dec, {1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}).label, Label::kPass);
  EXPECT_EQ(Classify(dec, {0, 1, 1, 1, 1}, {1, 1, 1, 1, 1}).label, Label::kPass);
  EXPECT_EQ(Classify(Config(), {1, 1, 1, 1, 10}, {1, 1, 1, 1, 1}).label, Label::kPass);

  // Directions: the wrong way is a Pass.
  MetricConfig inc = Config();
  inc.direction = Direction::kIncrease;
  EXPECT_EQ(Classify(inc, {1, 2.2, 1.1, 2.5, 3}, {20, 22, 21, 25, 30}).label, Label::kPass);
  EXPECT_EQ(Classify(inc, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}).label, Label::kHigh);
  EXPECT_EQ(Classify(dec, {20, 22, 21, 25, 30}, {1, 2.2, 1.1, 2.5, 3}).label, Label::kPass);
  EXPECT_EQ(Classify(dec, {1, 2.2, 1.1, 2.5, 3}, {20, 22, 21, 25, 30}).label, Label::kLow);
}

TEST(JudgeClassify, MissingDataConstantSamplesAndZeroMeans) {
  MetricConfig c = Config();
  auto missing = Classify(c, {}, {1, 2, 3, 4, 5});
  EXPECT_EQ(missing.label, Label::kNodata);
  EXPECT_FALSE(missing.critical);
  EXPECT_FALSE(missing.reason.empty());
  c.critical = true;
  EXPECT_TRUE(Classify(c, {}, {1, 2, 3, 4, 5}).critical);
  EXPECT_TRUE(Classify(c, {}, {}).critical);
  MetricConfig must = Config();
  must.must_have_data = true;
  EXPECT_EQ(Classify(must, {NAN, NAN}, {1, 2}).label, Label::kNodataFailMetric);
  MetricConfig replace = Config();
  replace.nan_strategy = NanStrategy::kReplace;
  EXPECT_EQ(Classify(replace, {}, {1, 2, 3, 4, 5}).label, Label::kPass);

  // "Tied Ranks" (Kayenta adds noise; the shift is simply 9) and with zeros.
  EXPECT_EQ(Classify(Config(), V(5, 10), V(5, 1)).label, Label::kHigh);
  auto zeros = Classify(Config(), V(5, 10), V(5, 0));
  EXPECT_EQ(zeros.label, Label::kHigh);
  EXPECT_TRUE(std::isnan(zeros.ratio));

  // "Zero Mean": the effect size cannot be computed, the test decides.
  MetricConfig effect = Config();
  effect.allowed_decrease = 0.8;
  effect.allowed_increase = 1.2;
  auto zero_high = Classify(effect, {54.9, 54.5, 55.1, 55.6, 57.4}, V(5, 0));
  EXPECT_EQ(zero_high.label, Label::kHigh);
  EXPECT_TRUE(std::isnan(zero_high.ratio));
  EXPECT_EQ(Classify(effect, V(5, 0), {54.9, 54.5, 55.1, 55.6, 57.4}).label, Label::kLow);
  auto zero_pass = Classify(Config(), V(5, 0), V(5, 0));
  EXPECT_EQ(zero_pass.label, Label::kPass);
  EXPECT_DOUBLE_EQ(zero_pass.ratio, 1.0);
}

TEST(JudgeClassify, NansOutliersAndTheNumbersInTheReason) {
  MetricConfig c = Config(0.25, 0.98);
  c.name = "latency-p99";
  c.remove_outliers = true;
  V canary{30, 31, 29, 30, 32, 31, NAN, 30, 29, 31, 30, 31};
  V baseline{20, 21, 19, 20, 22, 21, 20, 19, 21, 20, 20, 400};
  auto r = Classify(c, canary, baseline);
  EXPECT_EQ(r.label, Label::kHigh);
  EXPECT_EQ(r.canary.nan_dropped, 1u);
  EXPECT_EQ(r.canary.count, 11u);
  EXPECT_EQ(r.baseline.outliers_dropped, 1u) << "400 lies past Q3 + 3 IQR";
  EXPECT_EQ(r.reason.rfind("latency-p99: High: 98% CI of the shift [", 0), 0u) << r.reason;
  EXPECT_NE(r.reason.find("mean ratio"), std::string::npos) << r.reason;
  ASSERT_TRUE(r.test);
  EXPECT_GT(r.test->ci_low, 0);
}

TEST(JudgeClassify, ClesMeasuresTheEffectAsAProbability) {
  MetricConfig c = Config(0.20, 0.98);
  c.effect_measure = EffectMeasure::kCles;
  c.allowed_decrease = 0.2;
  c.allowed_increase = 0.8;
  auto r = Classify(c, {20, 22, 21, 25, 30, 24}, {1, 2.2, 1.1, 2.5, 3, 2});
  EXPECT_DOUBLE_EQ(r.effect, 1.0) << "every canary value beats every baseline one";
  EXPECT_EQ(r.label, Label::kHigh);
}

// strake's additions: Kayenta passes a canary whose spread tripled around
// the same centre; the spread test does not.
TEST(JudgeClassify, TheSpreadTestCatchesAVarianceGrowthKayentaPasses) {
  V baseline, canary;
  for (int i = 0; i < 40; ++i) {
    double wiggle = ((i * 37) % 11 - 5) / 5.0;  // -1 .. 1, spread evenly
    baseline.push_back(100 + wiggle);
    canary.push_back(100 + 3 * wiggle + ((i * 13) % 7 - 3) / 10.0);
  }
  MetricConfig c = Config(0.25, 0.98);
  EXPECT_EQ(Classify(c, canary, baseline).label, Label::kPass);
  c.spread_test = true;
  auto r = Classify(c, canary, baseline);
  EXPECT_EQ(r.label, Label::kHigh) << r.reason;
  EXPECT_GT(r.spread_ratio, 2.5);
  EXPECT_NE(r.reason.find("spread grew"), std::string::npos) << r.reason;
  EXPECT_EQ(Classify(c, baseline, baseline).label, Label::kPass);
}

TEST(JudgeRates, SparseErrorsAgainstTheirExposure) {
  // [0,1,2,1,0,0] errors beside all zeros: 4 errors in the canary's 600
  // requests, none in the baseline's 6,000.
  double p = RateIncreasePValue(4, 600, 0, 6000);
  EXPECT_NEAR(p, std::pow(600.0 / 6600.0, 4), 1e-15);
  EXPECT_LT(p, 0.02);
  EXPECT_NEAR(RateIncreasePValue(4, 1, 0, 1), 1.0 / 16, 1e-15) << "equal shares: weak evidence";
  EXPECT_EQ(RateIncreasePValue(0, 600, 5, 6000), 1.0);
  EXPECT_GT(RateIncreasePValue(10, 1000, 100, 10000), 0.4) << "the same rate";
  EXPECT_NEAR(RateIncreasePValue(30, 1000, 100, 10000), 1.5900e-06, 1e-9) << "three times the rate";
}

// [0,1,2,1,0,0] errors per interval against none: Mann-Whitney sees mostly
// zeros; the totals against the requests are a signal.
TEST(JudgeClassify, TheRateTestCatchesSparseErrorsKayentaPasses) {
  MetricConfig c = Config(0.25, 0.98);
  c.name = "error-rate";
  c.direction = Direction::kIncrease;
  V canary{0, 1 / 100.0, 2 / 100.0, 1 / 100.0, 0, 0};
  V baseline(6, 0.0);
  std::pair<Counts, Counts> counts{{4, 600}, {0, 6000}};
  EXPECT_EQ(Classify(c, canary, baseline, counts).label, Label::kPass) << "the test is off";
  c.rate_test = true;
  auto r = Classify(c, canary, baseline, counts);
  EXPECT_EQ(r.label, Label::kHigh) << r.reason;
  ASSERT_TRUE(r.rate_p);
  EXPECT_LT(*r.rate_p, 0.02);
  EXPECT_NE(r.reason.find("4 events in 600"), std::string::npos) << r.reason;
  // The same errors on an equal share of the traffic are not enough.
  EXPECT_EQ(Classify(c, canary, baseline, std::pair<Counts, Counts>{{4, 600}, {0, 600}}).label,
            Label::kPass);
}

MetricResult R(Label l, std::string group, bool critical = false) {
  MetricResult r;
  r.name = "m";
  r.label = l;
  r.groups = {std::move(group)};
  r.critical = critical;
  r.reason = std::string("m was ") + LabelName(l);
  return r;
}

TEST(JudgeScore, KayentasScorerSuite) {
  using L = Label;
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "g")}, {}).score, 100);
  EXPECT_DOUBLE_EQ(Score({R(L::kHigh, "g")}, {}).score, 0);
  Verdict nodata = Score({R(L::kNodata, "g")}, {});
  EXPECT_DOUBLE_EQ(nodata.score, 0);
  EXPECT_NE(nodata.reason.find("50%"), std::string::npos);
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "p"), R(L::kPass, "p"), R(L::kNodata, "n")}, {}).score, 100);
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "g"), R(L::kHigh, "g")}, {}).score, 50);
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "g"), R(L::kHigh, "g"), R(L::kLow, "g")}, {}).score, 33.33);
  EXPECT_DOUBLE_EQ(
      Score({R(L::kPass, "1"), R(L::kPass, "1"), R(L::kHigh, "2")}, {{"1", 75}, {"2", 25}}).score,
      75);
  EXPECT_DOUBLE_EQ(
      Score({R(L::kPass, "1"), R(L::kHigh, "1"), R(L::kHigh, "2")}, {{"1", 50}, {"2", 50}}).score,
      25);
  EXPECT_DOUBLE_EQ(
      Score({R(L::kPass, "1"), R(L::kNodata, "1"), R(L::kHigh, "2")}, {{"1", 50}, {"2", 50}}).score,
      50);
  Verdict critical = Score({R(L::kPass, "g"), R(L::kHigh, "g", true)}, {});
  EXPECT_DOUBLE_EQ(critical.score, 0);
  EXPECT_EQ(critical.reason, "Canary Failed: m was High");
  EXPECT_DOUBLE_EQ(Score({R(L::kLow, "g"), R(L::kPass, "g", true)}, {}).score, 50);
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "g"), R(L::kNodata, "g", true)}, {}).score, 0);
  EXPECT_DOUBLE_EQ(Score({R(L::kHigh, "1"), R(L::kLow, "1"), R(L::kPass, "1"), R(L::kHigh, "2")},
                         {{"1", 15}, {"2", 85}})
                       .score,
                   5);
  MetricResult muted = R(L::kHigh, "g");
  muted.muted = true;
  EXPECT_DOUBLE_EQ(Score({R(L::kPass, "g"), muted}, {}).score, 100);
}

// Argo's kayenta provider tests (pass 90, marginal 75) and Go's int().
TEST(JudgeScore, ThePhaseIsArgosRuleOnTheIntegerScore) {
  EXPECT_EQ(ScorePhase(100, 90, 75), Phase::kSuccessful);
  EXPECT_EQ(ScorePhase(80, 90, 75), Phase::kInconclusive);
  EXPECT_EQ(ScorePhase(60, 90, 75), Phase::kFailed);
  EXPECT_EQ(ScorePhase(89.99, 90, 75), Phase::kInconclusive);
  EXPECT_EQ(ScorePhase(90, 90, 75), Phase::kSuccessful);
}

}  // namespace
TEST(SpentAlpha, OBrienFlemingIncrementsAddUpToAlphaAndSpendLittleEarly) {
  for (int looks : {1, 2, 3, 6, 12}) {
    double sum = 0, previous = 0;
    for (int k = 1; k <= looks; ++k) {
      double a = SpentAlpha(0.02, k, looks);
      EXPECT_GT(a, previous) << k << " of " << looks;  // each look more than the one before
      previous = a;
      sum += a;
    }
    EXPECT_NEAR(sum, 0.02, 1e-15) << looks;
  }
  EXPECT_DOUBLE_EQ(SpentAlpha(0.02, 1, 1), 0.02);
  // Three looks: α(1/3) = 2 − 2Φ(2.32635·√3) = 5.593e-5,
  // α(2/3) = 2 − 2Φ(2.32635·√1.5) = 0.0043832.
  EXPECT_NEAR(SpentAlpha(0.02, 1, 3), 5.593e-5, 1e-8);
  EXPECT_NEAR(SpentAlpha(0.02, 2, 3), 0.0043832 - 5.593e-5, 1e-7);
  EXPECT_NEAR(SpentAlpha(0.02, 3, 3), 0.02 - 0.0043832, 1e-7);
  EXPECT_EQ(SpentAlpha(0.02, 0, 3), 0);
  EXPECT_EQ(SpentAlpha(0.02, 4, 3), 0);
  EXPECT_EQ(SpentAlpha(0.02, 1, 0), 0);
}

}  // namespace strake::rollout::judge
