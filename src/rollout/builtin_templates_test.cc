// The rollback rules shipped as ClusterAnalysisTemplates: each is valid
// Argo YAML, and each, measured by the real providers over a fake router,
// passes an equal canary and fails a bad one with the numbers it used.
#include "rollout/builtin_templates.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/fs.h"
#include "model/decode.h"
#include "rollout/analysis.h"
#include "store/sqlite_store.h"

namespace strake::rollout {
namespace {

using namespace std::chrono_literals;

TEST(BuiltinTemplates, EachDecodesAsAClusterAnalysisTemplate) {
  ASSERT_EQ(BuiltinAnalysisTemplates().size(), 3u);
  for (const auto& t : BuiltinAnalysisTemplates()) {
    auto docs = model::ParseYaml(t.yaml, t.name + ".yaml");
    ASSERT_TRUE(docs) << docs.error().message;
    model::Diagnostics diags;
    auto decoded = model::Decode(*docs, diags);
    EXPECT_FALSE(diags.HasErrors()) << t.name << ": " << diags.ErrorText();
    ASSERT_EQ(decoded.size(), 1u);
    EXPECT_EQ(decoded[0].kind, "ClusterAnalysisTemplate");
    EXPECT_EQ(decoded[0].meta.name, t.name);
    ASSERT_TRUE(BuiltinClusterAnalysisTemplate(t.name));
  }
  EXPECT_FALSE(BuiltinClusterAnalysisTemplate("strake-nothing"));
}

TEST(BuiltinTemplates, ABaselineSpanMustHoldTwoWindows) {
  auto docs = model::ParseYaml(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: p99
    provider:
      router: {service: web, metric: latency-p99, window: 1m, baseline: {span: 90s}}
)",
                               "t.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  (void)model::Decode(*docs, diags);
  EXPECT_NE(diags.ErrorText().find("spec.metrics[0].provider.router.baseline: span 90s holds "
                                   "fewer than two windows of 60s"),
            std::string::npos)
      << diags.ErrorText();
}

// Per revision: the share of 5xx answers and of requests slower than 0.1 s
// (in the 0.1-0.5 s bucket); window k of a series wobbles by k % 3 slow
// requests in 1,000, as real minutes do.
class FakeRouter : public RouterMetricsSource {
 public:
  std::map<std::string, double> errors, slow;
  static constexpr uint64_t kRequests = 1000;

  RevisionWindow Make(const std::string& rev, int k) {
    RevisionWindow w;
    w.seconds = 60;
    w.requests = kRequests;
    w.errors = static_cast<uint64_t>(errors[rev] * kRequests);
    uint64_t n_slow = static_cast<uint64_t>(slow[rev] * kRequests) + static_cast<uint64_t>(k % 3);
    w.bucket_bounds = {0.1, 0.5, std::numeric_limits<double>::infinity()};
    w.buckets = {kRequests - n_slow, n_slow, 0};
    return w;
  }
  Result<RevisionWindow> Window(const std::string&, const std::string&, const std::string& rev,
                                std::chrono::milliseconds) override {
    if (!errors.count(rev)) return Failf("no revision {}", rev);
    return Make(rev, 0);
  }
  Result<std::vector<RevisionWindow>> Series(const std::string&, const std::string&,
                                             const std::string& rev, std::chrono::milliseconds,
                                             std::chrono::milliseconds span,
                                             std::chrono::milliseconds step) override {
    if (!errors.count(rev)) return Failf("no revision {}", rev);
    std::vector<RevisionWindow> out;
    for (int k = 0; k < span / step; ++k) out.push_back(Make(rev, k));
    return out;
  }
};

class BuiltinRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("STRAKE_TEST_TMP");
    dir_ = PathJoin(base ? base : "/tmp", "builtins-" + std::to_string(::getpid()));
    (void)RemoveAll(dir_);
    ASSERT_TRUE(MakeDirs(dir_));
    auto s = store::OpenSqliteStore(PathJoin(dir_, "strake.db"));
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    router_.errors = {{"stable1", 0.01}, {"canary1", 0.01}};
    router_.slow = {{"stable1", 0.005}, {"canary1", 0.005}};
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  // One measurement of the builtin, as a Rollout's run would take it: the
  // template's spec with its args given, the revisions in the annotations.
  Json Measure(const std::string& name, const Json& args) {
    Json spec = (*BuiltinClusterAnalysisTemplate(name))["spec"];
    for (auto& arg : spec["args"]) {
      std::string n = arg.value("name", "");
      if (args.contains(n)) arg["value"] = args[n];
    }
    store::Resource r;
    r.key = {"AnalysisRun", "default", "run1"};
    r.object = {
        {"apiVersion", "argoproj.io/v1alpha1"},
        {"kind", "AnalysisRun"},
        {"metadata",
         {{"name", "run1"},
          {"namespace", "default"},
          {"annotations",
           {{"strake.dev/canary-hash", "canary1"}, {"strake.dev/stable-hash", "stable1"}}}}},
        {"spec", spec}};
    EXPECT_TRUE(store_->Create(r, "Created", ""));
    AnalysisRunReconciler rec(*store_, *providers_, clock_, dir_,
                              [](std::function<void()> task) { task(); });
    auto done = rec.Reconcile("default/run1");
    EXPECT_TRUE(done) << (done ? "" : done.error().message);
    return (*store_->Get({"AnalysisRun", "default", "run1"}))->status;
  }

  std::string dir_;
  store::StorePtr store_;
  FakeClock clock_{TimePoint{} + std::chrono::hours(1000)};
  FakeRouter router_;
  std::unique_ptr<MetricProviders> providers_ = MakeProviders(&router_, EgressPolicy());
};

TEST_F(BuiltinRunTest, ErrorRateAboveFivePercentFails) {
  // count 0 (the default): measures until terminated, as background analysis does.
  Json st = Measure("strake-error-rate", {{"service", "web"}});
  EXPECT_EQ(st["phase"], "Running") << st.dump();
  ASSERT_TRUE(store_->Delete({"AnalysisRun", "default", "run1"}));
  st = Measure("strake-error-rate", {{"service", "web"}, {"count", "1"}});
  EXPECT_EQ(st["phase"], "Successful") << st.dump();
  ASSERT_TRUE(store_->Delete({"AnalysisRun", "default", "run1"}));
  router_.errors["canary1"] = 0.10;
  st = Measure("strake-error-rate", {{"service", "web"}, {"count", "1"}});
  EXPECT_EQ(st["phase"], "Failed") << st.dump();
  EXPECT_NE(st.value("message", "").find("failureCondition result > 0.05"), std::string::npos)
      << st.dump();
}

TEST_F(BuiltinRunTest, P99AboveTheBaselineMeanPlusTwoSigmaFails) {
  Json st = Measure("strake-latency-p99", {{"service", "web"}, {"count", "1"}});
  EXPECT_EQ(st["phase"], "Successful") << st.dump();
  // The measurement carries the value and the baseline it was held to.
  Json value =
      Json::parse(st["metricResults"][0]["measurements"][0].value("value", std::string("{}")));
  EXPECT_EQ(value["baseline"]["windows"], 10) << value.dump();
  EXPECT_EQ(value["baseline"]["revision"], "stable1");
  EXPECT_GT(value["baseline"]["stddev"].get<double>(), 0);
  EXPECT_NEAR(value["baseline"]["mean"].get<double>(), 0.0996, 0.0001) << value.dump();
  ASSERT_TRUE(store_->Delete({"AnalysisRun", "default", "run1"}));
  router_.slow["canary1"] = 0.05;  // 5% of requests slower than 0.1 s: p99 0.42 s
  st = Measure("strake-latency-p99", {{"service", "web"}, {"count", "1"}});
  EXPECT_EQ(st["phase"], "Failed") << st.dump();
}

TEST_F(BuiltinRunTest, ABaselineWithTooFewWindowsIsAnError) {
  class Quiet : public FakeRouter {
    Result<std::vector<RevisionWindow>> Series(const std::string&, const std::string&,
                                               const std::string&, std::chrono::milliseconds,
                                               std::chrono::milliseconds,
                                               std::chrono::milliseconds) override {
      RevisionWindow empty;
      return std::vector<RevisionWindow>{Make("stable1", 0), empty, empty};
    }
  } quiet;
  quiet.errors = router_.errors;
  quiet.slow = router_.slow;
  providers_ = MakeProviders(&quiet, EgressPolicy());
  Json st = Measure("strake-latency-p99", {{"service", "web"}, {"count", "1"}});
  Json m = st["metricResults"][0]["measurements"][0];
  EXPECT_EQ(m["phase"], "Error") << st.dump();
  EXPECT_NE(m.value("message", "")
                .find("baseline: 1 of the stable revision's 60s windows in the "
                      "last 600s had requests; two are needed"),
            std::string::npos)
      << m.dump();
}

}  // namespace
}  // namespace strake::rollout
