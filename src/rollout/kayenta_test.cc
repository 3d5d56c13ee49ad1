// The kayenta provider judged in-process: Argo's YAML and a Kayenta canary
// config in a ConfigMap, the router's per-revision series from a fake, the
// reconciler and the real providers between them.
#include "rollout/kayenta.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/fs.h"
#include "model/decode.h"
#include "store/sqlite_store.h"

namespace strake::rollout {
namespace {

using namespace std::chrono_literals;

// Each revision's series: `requests` per step, errors as the script says.
class FakeSeries : public RouterMetricsSource {
 public:
  std::map<std::string, double> error_rate;  // revision -> share of errors
  std::string asked;                         // the last request, for checks
  uint64_t wobble = 4;                       // errors added, 0 to wobble - 1
  Result<RevisionWindow> Window(const std::string&, const std::string&, const std::string&,
                                std::chrono::milliseconds) override {
    return Fail("not used");
  }
  Result<std::vector<RevisionWindow>> Series(const std::string& ns, const std::string& service,
                                             const std::string& revision,
                                             std::chrono::milliseconds ago,
                                             std::chrono::milliseconds span,
                                             std::chrono::milliseconds step) override {
    asked = fmt::format("{}/{} {} ago {}s span {}s step {}s", ns, service, revision,
                        ago.count() / 1000, span.count() / 1000, step.count() / 1000);
    if (!error_rate.count(revision)) return Failf("no revision {}", revision);
    std::vector<RevisionWindow> out;
    for (int64_t t = 0; t < span.count(); t += step.count()) {
      RevisionWindow w;
      w.seconds = static_cast<double>(step.count()) / 1000;
      w.requests = 200;
      // A little wobble, each side its own, as real samples have.
      int64_t k = t / step.count() * (revision == "stable1" ? 5 : 7);
      w.errors =
          static_cast<uint64_t>(200 * error_rate[revision]) + static_cast<uint64_t>(k) % wobble;
      w.bucket_bounds = {0.1, std::numeric_limits<double>::infinity()};
      w.buckets = {w.requests, 0};
      out.push_back(w);
    }
    return out;
  }
};

constexpr const char* kConfig = R"({
  "name": "my-test",
  "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
  "metrics": [
    {"name": "errors", "query": {"type": "router", "service": "web", "metric": "error-rate"},
     "groups": ["service"], "scopeName": "default",
     "analysisConfigurations": {"canary": {"direction": "increase"}}}
  ],
  "classifier": {"groupWeights": {"service": 100}}
})";

TEST(CanaryConfigTest, KayentasFormatIsReadAndMistakesAreNamed) {
  auto c = ParseCanaryConfig(kConfig);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->metrics.size(), 1u);
  EXPECT_EQ(c->metrics[0].service, "web");
  EXPECT_EQ(c->metrics[0].config.direction, judge::Direction::kIncrease);
  EXPECT_EQ(c->group_weights.at("service"), 100);
  auto bad = [](const std::string& metric) {
    auto r = ParseCanaryConfig(R"({"metrics": [)" + metric + "]}");
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(bad(R"({"name": "m", "query": {"type": "prometheus", "metricName": "x"}})"),
            "metrics[0].query.type: \"prometheus\" is not supported: strake judges the embedded "
            "router's metrics (type router)");
  EXPECT_EQ(
      bad(R"({"name": "m", "query": {"type": "router", "service": "web", "metric": "eror-rate"}})"),
      "metrics[0].query.metric: unknown metric \"eror-rate\" (one of error-rate, "
      "success-rate, request-rate, latency-p50, latency-p95, latency-p99) (did you mean "
      "\"error-rate\"?)");
  EXPECT_EQ(
      bad(R"({"name": "m", "query": {"type": "router", "service": "web", "metric": "error-rate"},
                   "analysisConfigurations": {"canary": {"directoin": "increase"}}})"),
      "metrics[0].analysisConfigurations.canary.directoin: unknown field \"directoin\" (did "
      "you mean \"direction\"?)");
  EXPECT_FALSE(ParseCanaryConfig("{}"));
  EXPECT_FALSE(ParseCanaryConfig("not json"));
  // Wrong types anywhere are errors, never exceptions.
  EXPECT_EQ(bad(R"({"name": "m", "query": {"type": 7}})"),
            "metrics[0].query.type: expected a string, found number");
  EXPECT_EQ(bad(R"("m")"), "metrics[0]: expected an object");
  EXPECT_EQ(
      bad(R"({"name": "m", "query": {"type": "router", "service": "web", "metric": "error-rate"},
                   "analysisConfigurations": []})"),
      "metrics[0].analysisConfigurations: expected an object, found array");
  for (const char* doc :
       {R"({"judge": "x", "metrics": []})", R"({"classifier": 1, "metrics": []})",
        R"({"metrics": [{"name": "m", "query": {"type": "router", "service": "web",
                              "metric": "error-rate"}}], "classifier": {"groupWeights": [1]}})",
        R"({"metrics": [{"name": "m", "query": {"type": "router", "service": "web",
                              "metric": "error-rate"}, "analysisConfigurations": {"canary":
                              {"effectSize": 3, "outliers": "x"}}}]})"}) {
    EXPECT_FALSE(ParseCanaryConfig(doc)) << doc;
  }
}

class KayentaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("STRAKE_TEST_TMP");
    dir_ = PathJoin(base ? base : "/tmp", "kayenta-" + std::to_string(::getpid()));
    (void)RemoveAll(dir_);
    ASSERT_TRUE(MakeDirs(dir_));
    auto s = store::OpenSqliteStore(PathJoin(dir_, "strake.db"));
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    router_.error_rate = {{"stable1", 0.01}, {"canary1", 0.01}};
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  void CreateConfigMap(const std::string& config) {
    store::Resource r;
    r.key = {"ConfigMap", "default", "my-test"};
    r.object = {{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", "my-test"}, {"namespace", "default"}}},
                {"data", {{kCanaryConfigKey, config}}}};
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  // Argo's docs' periodic template with its args given.
  void CreateRun(const std::string& scopes_extra = "", const std::string& more_args = "",
                 const std::string& metric_extra = "") {
    std::string yaml = R"(args:
- {name: stable-hash, value: stable1}
- {name: canary-hash, value: canary1}
)" + more_args + R"(metrics:
- name: mann-whitney
  interval: 5m
)" + metric_extra + R"(  provider:
    kayenta:
      address: https://kayenta.example.com
      application: guestbook
      canaryConfigName: my-test
      threshold: {pass: 90, marginal: 75}
      scopes:
      - name: default
        controlScope:
          scope: app=guestbook and rollouts-pod-template-hash={{args.stable-hash}}
          step: 10
)" + scopes_extra + R"(        experimentScope:
          scope: app=guestbook and rollouts-pod-template-hash={{args.canary-hash}}
          step: 10
)" + scopes_extra;
    auto docs = model::ParseYaml(yaml, "run.yaml");
    ASSERT_TRUE(docs) << docs.error().message;
    store::Resource r;
    r.key = {"AnalysisRun", "default", "run1"};
    r.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "AnalysisRun"},
                {"metadata", {{"name", "run1"}, {"namespace", "default"}}},
                {"spec", model::ToJson(docs->at(0).root)}};
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  Json Measured() {
    AnalysisRunReconciler rec(*store_, *providers_, clock_, dir_,
                              [](std::function<void()> task) { task(); });
    auto r = rec.Reconcile("default/run1");
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    Json status = (*store_->Get({"AnalysisRun", "default", "run1"}))->status;
    return status["metricResults"][0]["measurements"].back();
  }

  std::string dir_;
  store::StorePtr store_;
  FakeClock clock_{TimePoint{} + std::chrono::hours(1000)};
  FakeSeries router_;
  std::unique_ptr<MetricProviders> providers_ = MakeProviders(&router_, EgressPolicy());
};

TEST_F(KayentaTest, AnEqualCanaryPassesWithArgosValueAndTheNumbersInTheMessage) {
  CreateConfigMap(kConfig);
  CreateRun();
  Json m = Measured();
  EXPECT_EQ(m["phase"], "Successful") << m.dump();
  EXPECT_EQ(m["value"], "100");
  std::string message = m.value("message", "");
  EXPECT_NE(message.find("score 100: at or above pass 90: errors: Pass: 98% CI of the shift"),
            std::string::npos)
      << message;
  // The interval back from now, in the scope's steps, of the scope's revision.
  EXPECT_EQ(router_.asked, "default/web stable1 ago 0s span 300s step 10s");
}

TEST_F(KayentaTest, ACanaryWithThreeTimesTheErrorsFails) {
  CreateConfigMap(kConfig);
  CreateRun();
  router_.error_rate["canary1"] = 0.025;
  Json m = Measured();
  EXPECT_EQ(m["phase"], "Failed") << m.dump();
  EXPECT_EQ(m["value"], "0");
  std::string message = m.value("message", "");
  EXPECT_NE(message.find("score 0: below marginal 75: errors: High: 98% CI of the shift ["),
            std::string::npos)
      << message;
}

TEST_F(KayentaTest, ExplicitTimesAreTheWindowAndAMissingConfigIsTheMeasurementsError) {
  // As Argo's docs write them: times passed as args.
  CreateRun("          start: \"{{args.start-time}}\"\n          end: \"{{args.end-time}}\"\n",
            "- {name: start-time, value: \"1970-02-11T15:50:00Z\"}\n"
            "- {name: end-time, value: \"1970-02-11T15:55:00Z\"}\n");
  Json missing = Measured();
  EXPECT_EQ(missing["phase"], "Error");
  EXPECT_EQ(missing["message"],
            "kayenta: no canary config: ConfigMap \"my-test\" has no key \"canary-config.json\"");
  CreateConfigMap(kConfig);
  clock_.Advance(5min);  // the metric's interval: the next measurement is due
  EXPECT_EQ(Measured()["phase"], "Successful");
  // now is 1000 h after the epoch + 5 min = 1970-02-11T16:05:00Z
  EXPECT_EQ(router_.asked, "default/web stable1 ago 600s span 300s step 10s");
}

// classifier.earlyStopping: the metric's three measurements are three looks;
// the first judges at a sliver of the 2% (O'Brien-Fleming: 0.0056%), which
// this canary's errors (up by half: High at the whole 2%) do not clear, the
// second at 0.43%, which they do: the run fails there, a look early.
TEST_F(KayentaTest, EarlyStoppingSpendsTheConfidenceOverTheMetricsMeasurements) {
  std::string config = kConfig;
  config.replace(config.find(R"("groupWeights")"), 0, R"("earlyStopping": true, )");
  CreateConfigMap(config);
  CreateRun("", "", "  count: 3\n");
  router_.wobble = 8;
  router_.error_rate["canary1"] = 0.025;
  Json first = Measured();
  EXPECT_EQ(first["phase"], "Successful") << first.dump();
  std::string message = first.value("message", "");
  EXPECT_EQ(message.rfind("look 1 of 3, each metric at its share of the confidence: score 100", 0),
            0u)
      << message;
  EXPECT_NE(message.find("99.99"), std::string::npos) << message;  // the CI's confidence
  clock_.Advance(5min);
  Json second = Measured();
  EXPECT_EQ(second["phase"], "Failed") << second.dump();
  EXPECT_NE(second.value("message", "").find("look 2 of 3"), std::string::npos) << second.dump();
  // Stopped early: the run fails at the second look, the third never taken.
  Json status = (*store_->Get({"AnalysisRun", "default", "run1"}))->status;
  EXPECT_EQ(status["phase"], "Failed") << status.dump();
  EXPECT_EQ(status["metricResults"][0]["count"], 2) << status.dump();
}

TEST_F(KayentaTest, WithoutEarlyStoppingTheSameCanaryFailsTheFirstLookAndUnboundedLooksAreAnError) {
  CreateConfigMap(kConfig);
  CreateRun("", "", "  count: 3\n");
  router_.wobble = 8;
  router_.error_rate["canary1"] = 0.025;
  EXPECT_EQ(Measured()["phase"], "Failed");

  std::string config = kConfig;
  config.replace(config.find(R"("groupWeights")"), 0, R"("earlyStopping": true, )");
  store::Resource cm = **store_->Get({"ConfigMap", "default", "my-test"});
  cm.object["data"][kCanaryConfigKey] = config;
  ASSERT_TRUE(store_->Update(cm, cm.resource_version));
  ASSERT_TRUE(store_->Delete({"AnalysisRun", "default", "run1"}));
  CreateRun();  // an interval and no count: measured until stopped
  Json m = Measured();
  EXPECT_EQ(m["phase"], "Error");
  EXPECT_EQ(m["message"],
            "canary config \"my-test\": classifier.earlyStopping needs the metric's count: its "
            "measurements are the looks, and a look is spent from a known number of them");
}

}  // namespace
}  // namespace strake::rollout
