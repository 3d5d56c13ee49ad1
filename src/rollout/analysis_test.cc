#include "rollout/analysis.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "base/fs.h"
#include "base/http.h"
#include "base/net.h"
#include "model/decode.h"
#include "rollout/kayenta.h"
#include "store/sqlite_store.h"

namespace strake::rollout {
namespace {

using namespace std::chrono_literals;

model::Metric MetricFrom(const std::string& yaml) {
  std::string text =
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
      "spec:\n  metrics:\n" +
      yaml;
  auto docs = model::ParseYaml(text, "t.yaml");
  EXPECT_TRUE(docs);
  model::Diagnostics diags;
  auto res = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return std::get<model::AnalysisTemplate>(res.at(0).value).spec.metrics.at(0);
}

TEST(AnalysisRulesTest, ConditionsJudgeAMeasurement) {
  auto both = MetricFrom(R"(  - name: m
    successCondition: result[0] >= 0.95
    failureCondition: result[0] < 0.5
    provider: {router: {service: s}}
)");
  EXPECT_EQ(AssessValue(both, Value::array({0.99})).phase, "Successful");
  EXPECT_EQ(AssessValue(both, Value::array({0.1})).phase, "Failed");
  EXPECT_EQ(AssessValue(both, Value::array({0.7})).phase, "Inconclusive");
  auto bad = AssessValue(both, Value::array());
  EXPECT_EQ(bad.phase, "Error");
  EXPECT_NE(bad.message.find("index 0 out of range"), std::string::npos) << bad.message;
  auto only_success = MetricFrom(R"(  - name: m
    successCondition: result > 1
    provider: {router: {service: s}}
)");
  EXPECT_EQ(AssessValue(only_success, 0.5).phase, "Failed");
  auto only_failure = MetricFrom(R"(  - name: m
    failureCondition: result > 1
    provider: {router: {service: s}}
)");
  EXPECT_EQ(AssessValue(only_failure, 0.5).phase, "Successful");
}

TEST(AnalysisRulesTest, AValueThatIsNotValidUtf8IsRecordedReplaced) {
  auto m = MetricFrom(R"(  - name: m
    successCondition: result[0] == "x"
    provider: {router: {service: s}}
)");
  auto judged = AssessValue(m, Value::array({std::string("\xc3")}));
  EXPECT_EQ(judged.phase, "Failed");
  EXPECT_EQ(judged.value, "[\"\xEF\xBF\xBD\"]");
  MetricResult r;
  Measurement bad;
  bad.phase = "Error";
  bad.message = "provider said \xff";
  Record(m, r, bad);
  EXPECT_EQ(r.measurements.at(0).message, "provider said \xEF\xBF\xBD");
  EXPECT_NO_THROW((void)r.ToJson().dump());
}

TEST(AnalysisRulesTest, LimitsDecideTheMetric) {
  auto m = MetricFrom(R"(  - name: m
    count: 3
    interval: 1s
    failureLimit: 1
    successCondition: result == 1
    provider: {router: {service: s}}
)");
  MetricResult r;
  Record(m, r, {"Successful", "1", "", 0, 0});
  EXPECT_EQ(r.phase, "Running");
  Record(m, r, {"Failed", "0", "", 0, 0});
  EXPECT_EQ(r.phase, "Running");  // one failure is within failureLimit 1
  Record(m, r, {"Successful", "1", "", 0, 0});
  EXPECT_EQ(r.phase, "Successful");

  MetricResult errors;
  for (int i = 0; i < 4; ++i) Record(m, errors, {"Error", "", "down", 0, 0});
  EXPECT_EQ(errors.phase, "Running");  // consecutiveErrorLimit 4
  Record(m, errors, {"Error", "", "down", 0, 0});
  EXPECT_EQ(errors.phase, "Error");

  auto once = MetricFrom(R"(  - name: m
    provider: {router: {service: s}}
)");
  MetricResult single;
  Record(once, single, {"Successful", "1", "", 0, 0});
  EXPECT_EQ(single.phase, "Successful");  // no count and no interval: one measurement
  MetricResult failed;
  Record(once, failed, {"Failed", "0", "", 0, 0});
  EXPECT_EQ(failed.phase, "Failed");  // failureLimit 0
  MetricResult errored;
  Record(once, errored, {"Error", "", "connection refused", 0, 0});
  EXPECT_EQ(errored.count, 0);  // as Argo counts: an Error is retried, not counted
  EXPECT_EQ(errored.error, 1);
  EXPECT_EQ(errored.phase, "Running");
  EXPECT_EQ(RunPhase({errored}), "Running");
  Record(once, errored, {"Successful", "1", "", 0, 0});
  EXPECT_EQ(errored.count, 1);
  EXPECT_EQ(errored.phase, "Successful");
}

TEST(AnalysisRulesTest, RunPhaseIsTheWorstMetric) {
  MetricResult a, b;
  a.phase = "Successful";
  b.phase = "Running";
  b.count = 1;
  EXPECT_EQ(RunPhase({a, b}), "Running");
  b.phase = "Inconclusive";
  EXPECT_EQ(RunPhase({a, b}), "Inconclusive");
  a.phase = "Failed";
  EXPECT_EQ(RunPhase({a, b}), "Failed");
  b.phase = "Successful";
  a.phase = "Successful";
  EXPECT_EQ(RunPhase({a, b}), "Successful");
}

TEST(AnalysisRulesTest, ArgsAreSubstituted) {
  EXPECT_EQ(ResolveArgs("svc={{args.service}}", {{"service", "web"}}).value(), "svc=web");
  auto bad = ResolveArgs("{{args.servce}}", {{"service", "web"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown argument \"servce\" (did you mean \"service\"?)");
}

TEST(AnalysisRulesTest, HistogramQuantileInterpolates) {
  RevisionWindow w;
  w.bucket_bounds = {0.1, 0.2, std::numeric_limits<double>::infinity()};
  w.buckets = {50, 50, 0};
  EXPECT_NEAR(HistogramQuantile(0.5, w), 0.1, 1e-9);
  EXPECT_NEAR(HistogramQuantile(0.75, w), 0.15, 1e-9);
}

// A provider that answers from a script of values.
class FakeProviders : public MetricProviders {
 public:
  std::vector<Result<Value>> answers;
  size_t calls = 0;
  MeasureContext last;
  Result<Value> Measure(const model::Metric&, const MeasureContext& ctx) override {
    last = ctx;
    return answers.at(std::min(calls++, answers.size() - 1));
  }
};

// Measurements run on the reconciling thread: results are ready at once.
void Inline(std::function<void()> task) { task(); }

class AnalysisRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("STRAKE_TEST_TMP");
    dir_ = PathJoin(base ? base : "/tmp", "analysis-" + std::to_string(::getpid()));
    (void)RemoveAll(dir_);
    ASSERT_TRUE(MakeDirs(dir_));
    auto s = store::OpenSqliteStore(PathJoin(dir_, "strake.db"));
    ASSERT_TRUE(s);
    store_ = std::move(*s);
  }

  void CreateRun(const std::string& metrics_yaml, const std::string& args_yaml = "") {
    auto docs = model::ParseYaml(args_yaml + "metrics:\n" + metrics_yaml, "run.yaml");
    ASSERT_TRUE(docs);
    store::Resource r;
    r.key = {"AnalysisRun", "default", "run1"};
    r.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "AnalysisRun"},
                {"metadata", {{"name", "run1"}, {"namespace", "default"}}},
                {"spec", model::ToJson(docs->at(0).root)}};
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  Json Status() { return (*store_->Get({"AnalysisRun", "default", "run1"}))->status; }

  std::string dir_;
  store::StorePtr store_;
  FakeClock clock_{TimePoint{} + std::chrono::hours(1000)};
  FakeProviders providers_;
};

TEST_F(AnalysisRunTest, MeasuresAtTheIntervalUntilCountIsReached) {
  CreateRun(R"(- name: rate
  interval: 5s
  count: 2
  successCondition: result >= 0.9
  provider: {router: {service: web}}
)");
  providers_.answers = {Value(0.95)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  auto r = rec.Reconcile("default/run1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Status()["phase"], "Running");
  ASSERT_TRUE(r->requeue_after);
  EXPECT_EQ(*r->requeue_after, 5s);
  int64_t revision = store_->Revision().value();
  ASSERT_TRUE(rec.Reconcile("default/run1"));  // too early: nothing measured
  EXPECT_EQ(providers_.calls, 1u);
  // ... and nothing written: a write would wake the run again, in a loop.
  EXPECT_EQ(store_->Revision().value(), revision);
  clock_.Advance(5s);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Successful");
  EXPECT_EQ(Status()["metricResults"][0]["count"], 2);
}

// A provider that throws (a bug, a library meeting an answer of an
// unexpected shape) is an Error measurement; the server goes on.
TEST_F(AnalysisRunTest, AProviderThatThrowsIsAnErrorMeasurement) {
  class Throwing : public MetricProviders {
    Result<Value> Measure(const model::Metric&, const MeasureContext&) override {
      return Value::parse("[]").at("x");  // type_error
    }
  } throwing;
  CreateRun(R"(- name: rate
  provider: {router: {service: web}}
)");
  AnalysisRunReconciler rec(*store_, throwing, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  Json m = Status()["metricResults"][0]["measurements"][0];
  EXPECT_EQ(m["phase"], "Error");
  EXPECT_NE(m.value("message", "").find("metric rate: the provider failed: "), std::string::npos)
      << m.dump();
}

TEST_F(AnalysisRunTest, AFailedMeasurementFailsTheRunWithTheReason) {
  CreateRun(R"(- name: rate
  successCondition: result >= 0.9
  provider: {router: {service: web}}
)");
  providers_.answers = {Value(0.5)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Failed");
  EXPECT_EQ(Status()["message"], "metric rate failed: result 0.5, successCondition result >= 0.9");
}

// Argo's dryRun (test/e2e/functional/experiment-dry-run-analysis.yaml's
// `test.*`): a metric a pattern matches is measured and recorded, and
// decides nothing; the summaries count each kind.
TEST_F(AnalysisRunTest, ADryRunMetricIsRecordedAndDecidesNothing) {
  CreateRun(R"(- name: test-fail
  successCondition: result >= 0.9
  provider: {router: {service: web}}
- name: real
  successCondition: result >= 0.4
  provider: {router: {service: web}}
)",
            "dryRun: [{metricName: test.*}]\n");
  providers_.answers = {Value(0.5)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Successful") << Status().dump();
  EXPECT_EQ(Status()["metricResults"][0]["phase"], "Failed");
  EXPECT_EQ(Status()["metricResults"][0]["dryRun"], true);
  EXPECT_EQ(Status()["dryRunSummary"]["failed"], 1);
  EXPECT_EQ(Status()["runSummary"]["successful"], 1);
}

TEST(AnalysisRulesTest, ADryRunPatternMustMatchAMetricAsInArgo) {
  std::vector<model::Metric> metrics(2);
  metrics[0].name = "error-rate";
  metrics[1].name = "latency";
  auto dry = DryRunMetrics({"rate$"}, metrics);
  ASSERT_TRUE(dry);
  EXPECT_EQ(*dry, (std::vector<bool>{true, false}));
  auto none = DryRunMetrics({".*", "nothing"}, metrics);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "dryRun[1]: Rule didn't match any metric name(s)");
}

// Argo's measurementRetention: a matched metric keeps its last `limit`
// measurements, the others Argo's 10; a rule matching nothing is an error.
TEST(AnalysisRulesTest, MeasurementRetentionKeepsEachMetricsLimit) {
  std::vector<model::Metric> metrics(2);
  metrics[0].name = "error-rate";
  metrics[1].name = "latency";
  auto keep = RetainedMeasurements({{"rate", 3}, {"^lat", 0}}, metrics);
  ASSERT_TRUE(keep) << keep.error().message;
  EXPECT_EQ(*keep, (std::vector<size_t>{3, 10}));
  auto none = RetainedMeasurements({{"nothing", 5}}, metrics);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "measurementRetention[0]: Rule didn't match any metric name(s)");
  model::Metric m;
  m.count = 0;
  MetricResult r;
  for (int i = 0; i < 5; ++i)
    Record(m, r, Measurement{"Successful", std::to_string(i), "", i, i}, 3);
  ASSERT_EQ(r.measurements.size(), 3u);
  EXPECT_EQ(r.measurements.front().value, "2");
  EXPECT_EQ(r.count, 5);
}

TEST_F(AnalysisRunTest, AMeasurementRetentionRuleOfTheRunApplies) {
  CreateRun(R"(- name: rate
  interval: 1s
  count: 4
  successCondition: result >= 0.9
  provider: {router: {service: web}}
)",
            "measurementRetention: [{metricName: rate, limit: 2}]\n");
  providers_.answers = {Value(0.95)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(rec.Reconcile("default/run1"));
    clock_.Advance(1s);
  }
  EXPECT_EQ(Status()["phase"], "Successful") << Status().dump();
  EXPECT_EQ(Status()["metricResults"][0]["count"], 4);
  EXPECT_EQ(Status()["metricResults"][0]["measurements"].size(), 2u);
}

// Argo's FilterAnalysisRunsToDelete: in use kept, a dropped revision's
// runs gone, then newest first up to each limit; running ones left alone.
TEST(AnalysisRulesTest, RunsToDeleteKeepsTheNewestUpToEachLimit) {
  std::vector<OwnedRun> runs = {{"s1", "Successful", 1, true}, {"s2", "Successful", 2, true},
                                {"s3", "Successful", 3, true}, {"f1", "Failed", 4, true},
                                {"e1", "Error", 5, true},      {"i1", "Inconclusive", 6, true},
                                {"r1", "Running", 0, true},    {"old", "Successful", 9, false},
                                {"cur", "Successful", 0, true}};
  auto gone = RunsToDelete(runs, {"cur"}, 2, 1);
  std::sort(gone.begin(), gone.end());
  EXPECT_EQ(gone, (std::vector<std::string>{"e1", "f1", "old", "s1"}));
  EXPECT_TRUE(RunsToDelete(runs, {"cur", "old"}, 5, 5).empty());
  // Made in the same millisecond: the Rollout's revision orders them.
  EXPECT_EQ(
      RunsToDelete({{"z", "Successful", 5, true, 1}, {"a", "Successful", 5, true, 2}}, {}, 1, 1),
      std::vector<std::string>{"z"});
}

TEST_F(AnalysisRunTest, ProviderErrorsCountTowardsTheErrorLimit) {
  CreateRun(R"(- name: rate
  interval: 1s
  consecutiveErrorLimit: 1
  successCondition: result >= 0.9
  provider: {router: {service: web}}
)");
  providers_.answers = {Fail("no requests")};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Running");
  clock_.Advance(1s);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Error");
  EXPECT_EQ(Status()["message"], "metric rate Error: no requests");
}

// A condition that cannot be evaluated is a measurement error, counted
// against consecutiveErrorLimit as Argo counts it: the run ends in Error
// instead of waiting for ever with no measurement (the evaluator threw).
TEST_F(AnalysisRunTest, AnEvaluationErrorIsAnErrorMeasurement) {
  CreateRun(R"(- name: rate
  interval: 1s
  consecutiveErrorLimit: 1
  successCondition: '"é"[0]'
  provider: {router: {service: web}}
)");
  providers_.answers = {Value(1.0)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  auto r = rec.Reconcile("default/run1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Status()["phase"], "Running");
  Json m = Status()["metricResults"][0];
  EXPECT_EQ(m["error"], 1);
  ASSERT_EQ(m["measurements"].size(), 1u);
  EXPECT_EQ(m["measurements"][0]["phase"], "Error");
  EXPECT_NE(m["measurements"][0]["message"].get<std::string>().find("must be a bool"),
            std::string::npos)
      << m.dump();
  clock_.Advance(1s);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Error");
  EXPECT_EQ(Status()["metricResults"][0]["consecutiveError"], 2);
}

TEST_F(AnalysisRunTest, MissingArgumentIsAnError) {
  auto docs = model::ParseYaml(R"(args: [{name: service}]
metrics:
- name: rate
  provider: {router: {service: "{{args.service}}"}}
)",
                               "run.yaml");
  ASSERT_TRUE(docs);
  store::Resource r;
  r.key = {"AnalysisRun", "default", "run1"};
  r.object = {{"metadata", {{"name", "run1"}}}, {"spec", model::ToJson(docs->at(0).root)}};
  ASSERT_TRUE(store_->Create(r, "Created", ""));
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Error");
  EXPECT_EQ(Status()["message"], "analysisrun run1: argument \"service\" has no value");
}

constexpr const char* kToken = "s3cr3t-t0ken-value";

void CreateSecret(store::Store& store) {
  store::Resource secret;
  secret.key = {"Secret", "default", "creds"};
  secret.object = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "creds"}, {"namespace", "default"}}},
                   {"stringData", {{"api", kToken}}}};
  ASSERT_TRUE(store.Create(secret, "Created", ""));
}

// Argo's "Referencing Secrets": the run reads the key when it measures; the
// value reaches the provider and nothing the run writes.
TEST_F(AnalysisRunTest, ASecretArgReachesTheProviderAndIsMaskedInStatus) {
  CreateSecret(*store_);
  CreateRun(R"(- name: rate
  provider: {web: {url: "http://metrics/?token={{args.token}}"}}
)",
            "args: [{name: token, valueFrom: {secretKeyRef: {name: creds, key: api}}}]\n");
  providers_.answers = {Fail(std::string("web http://metrics/?token=") + kToken + ": refused")};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(providers_.last.args.at("token"), kToken);
  Json run = (*store_->Get({"AnalysisRun", "default", "run1"}))->object;
  std::string written = Status().dump() + run.dump();
  EXPECT_EQ(written.find(kToken), std::string::npos) << written;
  EXPECT_NE(Status()["metricResults"][0]["measurements"][0]["message"].get<std::string>().find(
                "token=***: refused"),
            std::string::npos)
      << Status().dump();
}

// GitLab's rule: a value under 8 characters cannot be masked (it would mangle
// every log). The run still uses it, and says so once, when it starts.
TEST_F(AnalysisRunTest, ASecretArgTooShortToMaskIsWarnedOfWithoutItsValue) {
  store::Resource secret;
  secret.key = {"Secret", "default", "short"};
  secret.object = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "short"}, {"namespace", "default"}}},
                   {"stringData", {{"pin", "x7Qz"}}}};
  ASSERT_TRUE(store_->Create(secret, "Created", ""));
  CreateRun(R"(- name: rate
  count: 2
  interval: 5s
  provider: {router: {service: web}}
)",
            "args: [{name: pin, valueFrom: {secretKeyRef: {name: short, key: pin}}}]\n");
  providers_.answers = {Value(1)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  clock_.Advance(5s);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Successful");
  auto changes = store_->ChangesSince(0, 100, store::ChangeFilter{});
  ASSERT_TRUE(changes);
  int warnings = 0;
  for (const auto& c : *changes) {
    EXPECT_EQ(c.message.find("x7Qz"), std::string::npos) << c.message;
    if (c.reason != "Warning") continue;
    ++warnings;
    EXPECT_EQ(c.message,
              "warning: argument \"pin\" (Secret \"short\" key \"pin\") is shorter than 8 "
              "characters and cannot be masked in what the run writes");
  }
  EXPECT_EQ(warnings, 1);
}

TEST_F(AnalysisRunTest, AMissingSecretKeyIsTheRunsErrorNamingIt) {
  CreateRun(R"(- name: rate
  provider: {router: {service: web}}
)",
            "args: [{name: token, valueFrom: {secretKeyRef: {name: creds, key: api}}}]\n");
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Error");
  EXPECT_EQ(Status()["message"],
            "analysisrun run1: argument \"token\": Secret \"creds\" has no key \"api\"");
  EXPECT_EQ(providers_.calls, 0u);
}

TEST_F(AnalysisRunTest, CountAndIntervalMayComeFromArgs) {
  CreateRun(R"(- name: rate
  interval: "{{args.every}}"
  count: "{{args.n}}"
  successCondition: result >= 0.9
  provider: {router: {service: web}}
)",
            "args: [{name: n, value: \"2\"}, {name: every, value: 5s}]\n");
  providers_.answers = {Value(0.95)};
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  auto r = rec.Reconcile("default/run1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Status()["phase"], "Running") << Status().dump();
  ASSERT_TRUE(r->requeue_after);
  EXPECT_EQ(*r->requeue_after, 5s);
  clock_.Advance(5s);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Successful");
  EXPECT_EQ(Status()["metricResults"][0]["count"], 2);
}

TEST_F(AnalysisRunTest, AnArgThatIsNotAValidFieldValueIsTheRunsErrorNamingTheField) {
  CreateRun(R"(- name: rate
  failureLimit: "{{args.n}}"
  provider: {router: {service: web}}
)",
            "args: [{name: n, value: many}]\n");
  AnalysisRunReconciler rec(*store_, providers_, clock_, dir_, Inline);
  ASSERT_TRUE(rec.Reconcile("default/run1"));
  EXPECT_EQ(Status()["phase"], "Error");
  EXPECT_EQ(Status()["message"],
            "analysisrun run1: metric rate: spec.metrics[0].failureLimit: expected an integer, "
            "found \"many\"");
  EXPECT_EQ(providers_.calls, 0u);
}

TEST(AnalysisRulesTest, FieldRefsReadTheRollout) {
  Json ro = {{"metadata",
              {{"name", "web"},
               {"namespace", "prod"},
               {"uid", "u-1"},
               {"labels", {{"env", "dev"}, {"region", "us-west-2"}}}}},
             {"spec", {{"replicas", 3}}},
             {"status", {{"canary", {{"weight", 20}}}, {"stableRS", "abc"}}}};
  EXPECT_EQ(FieldRefValue(ro, "metadata.name").value(), "web");
  EXPECT_EQ(FieldRefValue(ro, "metadata.namespace").value(), "prod");
  EXPECT_EQ(FieldRefValue(ro, "metadata.uid").value(), "u-1");
  EXPECT_EQ(FieldRefValue(ro, "metadata.labels['region']").value(), "us-west-2");
  EXPECT_EQ(FieldRefValue(ro, "metadata.labels['none']").value(), "");
  EXPECT_EQ(FieldRefValue(ro, "metadata.annotations['x']").value(), "");
  EXPECT_EQ(FieldRefValue(ro, "metadata.labels").value(), "env=\"dev\"\nregion=\"us-west-2\"");
  EXPECT_EQ(FieldRefValue(ro, "spec.replicas").value(), "3");
  EXPECT_EQ(FieldRefValue(ro, "status.canary.weight").value(), "20");
  EXPECT_EQ(FieldRefValue(ro, "status.stableRS").value(), "abc");
  auto missing = FieldRefValue(ro, "status.alb.canaryTargetGroup.name");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "fieldRef status.alb.canaryTargetGroup.name: no such field");
  EXPECT_FALSE(FieldRefValue(ro, "status.canary"));
}

// One-response HTTP server for the web and prometheus providers.
class OneShotServer {
 public:
  explicit OneShotServer(std::string body) : body_(std::move(body)) {
    auto l = ListenTcp("127.0.0.1", 0);
    port_ = l->port;
    fd_ = std::move(l->fd);
    thread_ = std::thread([this] {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      Fd c(::accept(fd_.get(), nullptr, nullptr));
      std::string buf;
      char tmp[4096];
      while (buf.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c.get(), tmp, sizeof tmp, 0);
        if (n <= 0) return;
        buf.append(tmp, static_cast<size_t>(n));
      }
      target_ = buf.substr(0, buf.find("\r\n"));
      head_ = buf.substr(0, buf.find("\r\n\r\n"));
      std::string resp =
          fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                      body_.size(), body_);
      (void)!::send(c.get(), resp.data(), resp.size(), MSG_NOSIGNAL);
    });
  }
  ~OneShotServer() { thread_.join(); }
  uint16_t port() const { return port_; }
  std::string target() {
    thread_.join();
    thread_ = std::thread([] {});
    return target_;
  }
  // The request's line and headers (after target()).
  const std::string& head() const { return head_; }

 private:
  std::string body_;
  uint16_t port_ = 0;
  Fd fd_;
  std::thread thread_;
  std::string target_;
  std::string head_;
};

TEST(ProvidersTest, WebReadsAJsonPath) {
  OneShotServer server(R"({"data": {"ok": true, "rate": [0.5, 0.99]}})");
  auto m = MetricFrom(fmt::format(R"(  - name: m
    successCondition: result >= 0.95
    provider:
      web:
        url: "http://127.0.0.1:{}/health?svc={{{{args.svc}}}}"
        jsonPath: "{{$.data.rate[1]}}"
)",
                                  server.port()));
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  MeasureContext ctx;
  ctx.args = {{"svc", "web"}};
  auto v = providers->Measure(m, ctx);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, 0.99);
  EXPECT_EQ(server.target(), "GET /health?svc=web HTTP/1.1");
}

TEST(ProvidersTest, PrometheusVectorBecomesAnArray) {
  OneShotServer server(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.97"]}]}})");
  auto m = MetricFrom(fmt::format(R"(  - name: m
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: "http://127.0.0.1:{}"
        query: sum(rate(x[1m]))
        headers: [{{key: Authorization, value: "Bearer {{{{args.token}}}}"}}]
)",
                                  server.port()));
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  MeasureContext ctx;
  ctx.args = {{"token", "t0k"}};
  auto v = providers->Measure(m, ctx);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(AssessValue(m, *v).phase, "Successful");
  EXPECT_EQ(server.target(), "GET /api/v1/query?query=sum%28rate%28x%5B1m%5D%29%29 HTTP/1.1");
  EXPECT_NE(server.head().find("\r\nAuthorization: Bearer t0k"), std::string::npos)
      << server.head();
}

// The kayenta provider's Prometheus metrics: a range query, its one series.
TEST(ProvidersTest, KayentasPrometheusRangeQueryReadsOneSeries) {
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  auto* prom = dynamic_cast<PrometheusRangeSource*>(providers.get());
  ASSERT_NE(prom, nullptr);
  {
    OneShotServer server(
        R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},)"
        R"("values":[[1700000000,"0.1"],[1700000060,"NaN"],[1700000120,"0.3"]]}]}})");
    auto r = prom->Range(fmt::format("http://127.0.0.1:{}", server.port()), "avg(x)",
                         1'700'000'000'000, 1'700'000'120'000, 60);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0], (std::pair<int64_t, double>{1'700'000'000'000, 0.1}));
    EXPECT_TRUE(std::isnan((*r)[1].second));
    EXPECT_EQ((*r)[2].first, 1'700'000'120'000);
    EXPECT_EQ(server.target(),
              "GET /api/v1/query_range?query=avg%28x%29&start=1700000000.000&end=1700000120.000"
              "&step=60 HTTP/1.1");
  }
  OneShotServer two(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[]},)"
      R"({"metric":{"a":"2"},"values":[]}]}})");
  auto r = prom->Range(fmt::format("http://127.0.0.1:{}", two.port()), "x", 0, 60'000, 60);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the query returned 2 series; Kayenta judges one per metric"),
            std::string::npos)
      << r.error().message;
}

TEST(ProvidersTest, JobSucceedsOnExitZero) {
  auto ok = MetricFrom(R"(  - name: m
    provider:
      job:
        spec:
          template:
            spec:
              containers: [{name: c, command: [sh, -c, "exit 0"]}]
)");
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  auto v = providers->Measure(ok, {});
  ASSERT_TRUE(v);
  EXPECT_EQ(AssessValue(ok, *v).phase, "Successful");
  auto bad = ok;
  bad.provider.job.command = {"sh", "-c", "exit 1"};
  v = providers->Measure(bad, {});
  ASSERT_TRUE(v);
  EXPECT_EQ(AssessValue(bad, *v).phase, "Failed");
}

TEST(ProvidersTest, UnreachableAndHttpsAreClearErrors) {
  auto m = MetricFrom(R"(  - name: m
    provider: {web: {url: "https://127.0.0.1:1/x"}}
)");
  auto providers = MakeProviders(nullptr, EgressPolicy::Parse("loopback").value());
  auto v = providers->Measure(m, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message.substr(0, 53),
            "web: GET https://127.0.0.1:1/x: Failed to connect to ")
      << v.error().message;
  auto router = MetricFrom(R"(  - name: m
    provider: {router: {service: web}}
)");
  v = providers->Measure(router, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "the router provider needs strake's embedded router");
}

// A provider that answers only when released.
class SlowProviders : public MetricProviders {
 public:
  Result<Value> Measure(const model::Metric& m, const MeasureContext&) override {
    if (m.name != "slow") return Value(1.0);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_; });
    return Value(1.0);
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

TEST(MeasurementsTest, ASlowProviderNeverDelaysAnotherRunAndWakesItsOwnWhenDone) {
  SlowProviders providers;
  Measurements ms(providers);
  // Released on every way out, so the slow measurement's thread ends
  // before `ms` waits for it.
  struct ReleaseOnExit {
    SlowProviders& p;
    ~ReleaseOnExit() { p.Release(); }
  } release_on_exit{providers};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> woken;
  ms.SetWake([&](const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    woken.push_back(key);
    cv.notify_all();
  });
  model::Metric slow;
  slow.name = "slow";
  model::Metric fast;
  fast.name = "fast";
  EXPECT_FALSE(ms.Take("ns/a", slow, {}, 1));
  EXPECT_FALSE(ms.Take("ns/a", slow, {}, 2));  // still running: not started twice
  // The fast one is done while the slow one still waits: taken at once when
  // it finished before Take returned, else on its wake.
  auto b = ms.Take("ns/b", fast, {}, 3);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return !woken.empty(); }));
    EXPECT_EQ(woken, std::vector<std::string>{"ns/b"});
  }
  if (!b) b = ms.Take("ns/b", fast, {}, 4);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->started_ms, 3);
  EXPECT_FALSE(ms.Take("ns/a", slow, {}, 5));  // the slow one is still waiting
  providers.Release();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return woken.size() == 2; }));
  }
  auto a = ms.Take("ns/a", slow, {}, 6);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->started_ms, 1);
}

model::Metric JobMetric(const std::string& yaml_spec) {
  return MetricFrom("  - name: m\n    provider:\n      job:\n        spec:\n" + yaml_spec);
}

TEST(MeasurementsTest, ACancelledRunsJobIsKilled) {
  auto providers = MakeProviders(nullptr, EgressPolicy());
  Measurements ms(*providers);
  std::string marker = "strake-cancel-" + std::to_string(::getpid());
  auto m = JobMetric(fmt::format(
      "          template:\n            spec:\n              containers: [{{name: c, command: "
      "[sh, -c, \"sleep 300; echo {}\"]}}]\n",
      marker));
  EXPECT_FALSE(ms.Take("ns/run", m, {}, 1));
  auto running = [&] {
    // "[s]" keeps the pattern from matching the shell that runs pgrep.
    return std::system(("pgrep -f '[s]" + marker.substr(1) + "' >/dev/null").c_str()) == 0;
  };
  auto until = [](auto pred) {
    for (int i = 0; i < 100 && !pred(); ++i) std::this_thread::sleep_for(50ms);
    return pred();
  };
  ASSERT_TRUE(until(running));
  ms.Cancel("ns/run");
  EXPECT_TRUE(until([&] { return !running(); }));
}

// A job's env from a Secret (read by the reconciler into env_from) reaches
// the process, and its log is masked with the namespace's Secret values.
TEST(ProvidersTest, AJobsSecretEnvReachesItAndItsLogIsMasked) {
  const char* base = std::getenv("STRAKE_TEST_TMP");
  std::string log = PathJoin(base ? base : "/tmp", "job-mask-" + std::to_string(::getpid()));
  (void)RemoveAll(log);
  auto m = JobMetric(
      "          template:\n            spec:\n              containers:\n"
      "              - name: c\n"
      "                command: [sh, -c, 'echo token=$TOKEN; test \"$TOKEN\" = "
      "s3cr3t-t0ken-value']\n"
      "                env:\n"
      "                - name: TOKEN\n"
      "                  valueFrom: {secretKeyRef: {name: creds, key: api}}\n");
  auto providers = MakeProviders(nullptr, EgressPolicy());
  MeasureContext ctx;
  ctx.log_path = log;
  ctx.env_from = {{"TOKEN", kToken}};
  ctx.secrets = {kToken};
  auto v = providers->Measure(m, ctx);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, Value(true));
  auto text = ReadFile(log);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "token=***\n");
  (void)RemoveAll(log);
}

TEST(ProvidersTest, AJobPastItsActiveDeadlineIsAnError) {
  auto providers = MakeProviders(nullptr, EgressPolicy());
  auto m = JobMetric(
      "          activeDeadlineSeconds: 1\n          template:\n            spec:\n"
      "              containers: [{name: c, command: [sleep, \"30\"]}]\n");
  auto start = std::chrono::steady_clock::now();
  auto v = providers->Measure(m, {});
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("activeDeadlineSeconds"), std::string::npos)
      << v.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// A job's resources.limits hold: over its memory limit it fails; the same
// job without the limit succeeds.
TEST(ProvidersTest, AJobsMemoryLimitHolds) {
  auto cgroups = Cgroups::Open("analysis-test-" + std::to_string(::getpid()));
  if (!cgroups) GTEST_SKIP() << "cgroups not usable here: " << cgroups.error().message;
  auto providers = MakeProviders(nullptr, EgressPolicy(), nullptr, nullptr, cgroups->get());
  auto job = [](const std::string& resources) {
    return JobMetric(
        "          template:\n            spec:\n              containers:\n"
        "              - name: c\n"
        "                command: [sh, -c, 'x=$(head -c 100000000 /dev/zero | tr \"\\0\" a)']\n" +
        resources);
  };
  EXPECT_EQ(providers->Measure(job("                resources: {limits: {memory: 32Mi}}\n"), {})
                .value_or(Value()),
            Value(false));
  EXPECT_EQ(providers->Measure(job(""), {}).value_or(Value()), Value(true));
  (*cgroups)->SweepEmpty();
  for (const auto& b : (*cgroups)->bases()) EXPECT_EQ(::rmdir(b.c_str()), 0) << b;
}

// The run's args reach a job's command, as Argo templates the whole metric.
TEST(ProvidersTest, AJobsCommandHasTheRunsArgs) {
  auto providers = MakeProviders(nullptr, EgressPolicy());
  auto m = JobMetric(
      "          template:\n            spec:\n              containers: [{name: c, command: "
      "[sh, -c, 'test \"$0\" = v2', '{{args.tag}}']}]\n");
  MeasureContext ctx;
  ctx.args = {{"tag", "v2"}};
  auto v = providers->Measure(m, ctx);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, Value(true));
  ctx.args = {{"tag", "v1"}};
  EXPECT_EQ(providers->Measure(m, ctx).value_or(Value()), Value(false));
  ctx.args.clear();
  v = providers->Measure(m, ctx);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "job: unknown argument \"tag\"");
}

// Images as a server's store would give them: a refusal, or a pull that
// never ends.
class FakeImages : public ContainerImages {
 public:
  Result<std::optional<RunnableImage>> Get(const std::string& image, const std::string&, bool,
                                           const std::vector<std::string>& pull_secrets,
                                           std::function<void()>) override {
    asked.push_back(image);
    secrets = pull_secrets;
    if (refuse) return Fail("HTTP 401");
    return std::optional<RunnableImage>();
  }
  bool refuse = true;
  std::vector<std::string> asked, secrets;
};

TEST(ProvidersTest, AJobInItsImageWaitsForItsPullWithinItsDeadline) {
  FakeImages images;
  auto providers = MakeProviders(nullptr, EgressPolicy(), nullptr, &images);
  auto m = JobMetric(
      "          activeDeadlineSeconds: 1\n          template:\n            spec:\n"
      "              containers: [{name: c, image: 'registry.test/check:{{args.tag}}'}]\n");
  MeasureContext ctx;
  ctx.args = {{"tag", "v2"}};
  ctx.pull_secrets = {"{}"};
  auto v = providers->Measure(m, ctx);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "job: ErrImagePull: registry.test/check:v2: HTTP 401");
  EXPECT_EQ(images.asked, std::vector<std::string>{"registry.test/check:v2"});
  EXPECT_EQ(images.secrets, ctx.pull_secrets);
  images.refuse = false;
  auto start = std::chrono::steady_clock::now();
  v = providers->Measure(m, ctx);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message,
            "job: past its activeDeadlineSeconds while pulling image registry.test/check:v2");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ProvidersTest, TheEgressPolicyRefusesLoopbackAndLinkLocalByDefault) {
  auto providers = MakeProviders(nullptr, EgressPolicy());
  for (const char* url : {"http://127.0.0.1:9090", "http://169.254.169.254/latest/meta-data",
                          "http://2130706433:9090"}) {
    auto web =
        MetricFrom(fmt::format("  - name: m\n    provider: {{web: {{url: \"{}\"}}}}\n", url));
    auto v = providers->Measure(web, {});
    ASSERT_FALSE(v) << url;
    EXPECT_EQ(v.error().code, ErrorCode::kForbidden) << v.error().message;
    EXPECT_NE(v.error().message.find("--egress-allow"), std::string::npos) << v.error().message;
    auto prom = MetricFrom(fmt::format(
        "  - name: m\n    provider: {{prometheus: {{address: \"{}\", query: up}}}}\n", url));
    v = providers->Measure(prom, {});
    ASSERT_FALSE(v) << url;
    EXPECT_EQ(v.error().code, ErrorCode::kForbidden) << v.error().message;
  }
}

TEST(ProvidersTest, AnAnswerThatIsNotJsonIsNeverEchoed) {
  OneShotServer server("root:x:0:0:secret-looking-line");
  auto m = MetricFrom(fmt::format(
      "  - name: m\n    provider: {{web: {{url: \"http://127.0.0.1:{}/\"}}}}\n", server.port()));
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  auto v = providers->Measure(m, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message.find("secret-looking"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("is not JSON"), std::string::npos) << v.error().message;
}

TEST(ProvidersTest, APrometheusErrorIsShownBoundedAndNothingElseOfTheBody) {
  std::string long_error(5000, 'e');
  OneShotServer server(R"({"status":"error","errorType":"bad_data","error":")" + long_error +
                       R"(","extra":"hidden-field"})");
  auto m =
      MetricFrom(fmt::format("  - name: m\n    provider: {{prometheus: {{address: "
                             "\"http://127.0.0.1:{}\", query: up}}}}\n",
                             server.port()));
  auto providers = MakeProviders(nullptr, EgressPolicy::Open());
  auto v = providers->Measure(m, {});
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("bad_data: eeee"), std::string::npos) << v.error().message;
  EXPECT_LT(v.error().message.size(), 400u);
  EXPECT_EQ(v.error().message.find("hidden-field"), std::string::npos);
}

}  // namespace
}  // namespace strake::rollout
