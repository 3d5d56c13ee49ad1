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
            "metrics[0].query: either a resource type or a custom filter is required "
            "(customInlineTemplate or customFilterTemplate), as Kayenta says");
  EXPECT_EQ(bad(R"({"name": "m", "query": {"type": "datadog", "metricName": "x"}})"),
            "metrics[0].query.type: \"datadog\" is not supported: strake judges the embedded "
            "router's metrics (type router) and Prometheus' (type prometheus)");
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

// Kayenta's Prometheus queries (its PrometheusMetricsService.buildQuery).
TEST(PrometheusQueryTest, KayentasTemplatesAndDefaultQuery) {
  auto config = ParseCanaryConfig(R"json({
    "templates": {"by-pod": "pod=~\"${scope}-.*\",region=\"${location}\""},
    "metrics": [
      {"name": "latency", "query": {"type": "prometheus", "serviceType": "prometheus",
        "customInlineTemplate":
          "PromQL:histogram_quantile(0.99, sum(rate(req_bucket{hash=\"${scope}\"}[1m])) by (le))"
}
},
      {"name": "errors", "query": {"type": "prometheus", "metricName": "errors_total",
        "labelBindings": ["job=\"web\""], "groupByFields": ["job"],
        "customFilterTemplate": "by-pod"}}]
})json");
  ASSERT_TRUE(config) << config.error().message;
  auto whole = PrometheusQueryOf(*config, config->metrics[0], "abc123", "eu");
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_EQ(*whole, "histogram_quantile(0.99, sum(rate(req_bucket{hash=\"abc123\"}[1m])) by (le))");
  auto built = PrometheusQueryOf(*config, config->metrics[1], "web-abc123", "eu");
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ(*built, "avg(errors_total{pod=~\"web-abc123-.*\",region=\"eu\",job=\"web\"}) by (job)");

  CanaryMetric unknown = config->metrics[0];
  unknown.prometheus.inline_template = "PromQL:x{a=\"${cluster}\"}";
  auto bad = PrometheusQueryOf(*config, unknown, "s", "");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "template variable ${cluster} is not one of ${scope}, ${location}, ${project}, "
            "${resourceType}");
  EXPECT_FALSE(ParseCanaryConfig(R"({"metrics": [{"name": "m", "query": {"type": "prometheus",
      "metricName": "x", "customFilterTemplate": "nope"}}]})"));
  EXPECT_FALSE(ParseCanaryConfig(R"({"metrics": [{"name": "m", "query": {"type": "prometheus",
      "metricName": "x", "resourceType": "gce_instance"}}]})"));
}

TEST(PrometheusQueryTest, AccountsAreKayentasOwnConfiguration) {
  const std::string yaml = R"(kayenta:
  prometheus:
    enabled: true
    accounts:
    - name: prom-a
      endpoint: {baseUrl: "http://127.0.0.1:9090"}
      supportedTypes: [METRICS_STORE]
    - name: prom-b
      endpoint: {baseUrl: "http://127.0.0.1:9091/prefix"}
)";
  EXPECT_EQ(PrometheusAccountUrl(yaml, "prom-b").value_or(""), "http://127.0.0.1:9091/prefix");
  auto missing = PrometheusAccountUrl(yaml, "prom-c");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "kayenta.yml: no Prometheus account \"prom-c\" (there: prom-a, prom-b)");
  EXPECT_FALSE(PrometheusAccountUrl(yaml, ""));  // two: which one is not said
  const std::string one = "kayenta: {prometheus: {accounts: [{name: p, endpoint: {baseUrl: u}}]}}";
  EXPECT_EQ(PrometheusAccountUrl(one, "").value_or(""), "u");
  auto none = PrometheusAccountUrl("", "prom-a");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("put Kayenta's configuration in ConfigMap \"kayenta\" key "
                                      "\"kayenta.yml\""),
            std::string::npos)
      << none.error().message;
}

// A Prometheus that answers each scope's query with its own series.
class FakePrometheus : public PrometheusRangeSource {
 public:
  std::map<std::string, double> level;  // a scope's name -> its values' level
  std::vector<std::string> asked;
  Result<std::vector<std::pair<int64_t, double>>> Range(const std::string& base_url,
                                                        const std::string& query, int64_t start_ms,
                                                        int64_t end_ms, int64_t step) override {
    asked.push_back(base_url + " " + query);
    std::vector<std::pair<int64_t, double>> out;
    for (const auto& [scope, v] : level) {
      if (query.find(scope) == std::string::npos) continue;
      int k = 0;
      for (int64_t t = start_ms; t <= end_ms; t += step * 1000, ++k)
        out.emplace_back(t, v + (k % 5) * 0.01);  // a little wobble
      return out;
    }
    return out;
  }
};

TEST(PrometheusQueryTest, APrometheusMetricIsJudgedOnTheAccountsRangeQueries) {
  auto docs = model::ParseYaml(R"(metrics:
- name: judge
  interval: 5m
  provider:
    kayenta:
      application: web
      canaryConfigName: c
      metricsAccountName: prom-a
      threshold: {pass: 90, marginal: 75}
      scopes:
      - name: default
        controlScope: {scope: "{{args.stable-hash}}", step: 60}
        experimentScope: {scope: "{{args.canary-hash}}", step: 60}
)",
                               "t.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  auto spec = model::DecodeAnalysisSpec(model::ToJson(docs->at(0).root));
  ASSERT_TRUE(spec) << spec.error().message;
  MeasureContext ctx;
  ctx.ns = "default";
  ctx.args = {{"stable-hash", "stable1"}, {"canary-hash", "canary1"}};
  ctx.now_ms = 3'600'000'000;
  ctx.kayenta_config =
      "kayenta: {prometheus: {accounts: [{name: prom-a, endpoint: {baseUrl: "
      "\"http://127.0.0.1:9\"}}]}}";
  const std::string config = R"({"metrics": [{"name": "latency", "groups": ["g"],
      "query": {"type": "prometheus", "metricName": "latency_seconds",
                "customInlineTemplate": "hash=\"${scope}\""},
      "analysisConfigurations": {"canary": {"direction": "increase"}}}]})";
  FakePrometheus prom;
  prom.level = {{"stable1", 0.10}, {"canary1", 0.10}};
  auto same = MeasureKayenta(spec->metrics[0], ctx, config, nullptr, &prom);
  ASSERT_TRUE(same) << same.error().message;
  EXPECT_EQ(same->value("score", -1.0), 100) << same->dump();
  ASSERT_EQ(prom.asked.size(), 2u);
  EXPECT_EQ(prom.asked[0], "http://127.0.0.1:9 avg(latency_seconds{hash=\"canary1\"})");
  EXPECT_EQ(prom.asked[1], "http://127.0.0.1:9 avg(latency_seconds{hash=\"stable1\"})");

  prom.level["canary1"] = 0.30;  // three times as slow
  auto slow = MeasureKayenta(spec->metrics[0], ctx, config, nullptr, &prom);
  ASSERT_TRUE(slow) << slow.error().message;
  EXPECT_EQ(slow->value("score", -1.0), 0) << slow->dump();
  EXPECT_EQ(AssessKayenta(spec->metrics[0], *slow).phase, "Failed");

  ctx.kayenta_config.clear();
  auto no_account = MeasureKayenta(spec->metrics[0], ctx, config, nullptr, &prom);
  ASSERT_FALSE(no_account);
  EXPECT_NE(no_account.error().message.find("no Prometheus account \"prom-a\""), std::string::npos)
      << no_account.error().message;
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
