// The kayenta provider without a Kayenta: Argo Rollouts' `provider.kayenta`
// as written, judged in-process by rollout/judge.h on the embedded router's
// per-revision time series.
//
// Where Argo asks a Kayenta service to fetch the canary config named
// `canaryConfigName` and to judge, strake reads the canary config from the
// ConfigMap of that name in the run's namespace (key `canary-config.json`,
// Kayenta's own JSON format: `metrics[]` with `query`, `groups`, `scopeName`
// and `analysisConfigurations.canary`; `classifier.groupWeights`), fetches
// each metric's series for the control and experiment scopes and scores
// them as Kayenta's NetflixACAJudge-v1.0 does. A metric's query is
// `{"type": "router", "service": S, "metric": M}`, M one of the router
// provider's metrics (error-rate, success-rate, request-rate, latency-p50,
// latency-p95, latency-p99), or Kayenta's Prometheus query (type
// prometheus: PrometheusQueryOf below), asked of the Prometheus that the
// provider's metricsAccountName names in Kayenta's own configuration; for
// the router, a scope names its revision as
// `rollouts-pod-template-hash=<hash>` (Argo's examples pass
// `{{args.stable-hash}}` and `{{args.canary-hash}}`) or as `stable` or
// `canary`. The window is the scope's start and end, or as Argo defaults
// them: from the run's start with `lookback`, else the metric's interval
// back from now; to now.
//
// strake's additions, in `analysisConfigurations.canary`: `spreadTest` and
// `rateTest` (judge.h); in `classifier`: `earlyStopping` (below); off unless
// set.
//
// The measurement is what Argo records: the score's integer part as the
// value, Successful / Inconclusive / Failed by `threshold.pass` and
// `marginal`; its message gives the score and every metric's verdict with
// its numbers.
#pragma once

#include <string>

#include "base/result.h"
#include "model/rollouts.h"
#include "rollout/analysis.h"
#include "rollout/judge.h"
#include "rollout/target.h"

namespace strake::rollout {

// The ConfigMap key that holds a canary config.
inline constexpr const char* kCanaryConfigKey = "canary-config.json";

// Kayenta's Prometheus query of a metric (PrometheusCanaryMetricSetQueryConfig).
struct PrometheusMetricQuery {
  std::string metric_name;
  std::vector<std::string> label_bindings;
  std::vector<std::string> group_by;
  std::string inline_template;  // customInlineTemplate
  std::string filter_template;  // customFilterTemplate: a name in the config's templates
};

// One metric of a canary config.
struct CanaryMetric {
  judge::MetricConfig config;
  std::string type = "router";  // or "prometheus"
  std::string service;          // the router query's Service
  std::string metric;           // the router query's metric
  PrometheusMetricQuery prometheus;
  std::string scope_name = "default";
};

struct CanaryConfig {
  std::vector<CanaryMetric> metrics;
  std::map<std::string, double> group_weights;
  std::map<std::string, std::string> templates;  // Kayenta's named filter templates
  // strake's `classifier.earlyStopping`: the metric's `count` measurements
  // are the looks of a group-sequential design; look k judges each metric
  // at its share of 1 − confidence (judge::SpentAlpha), so that failing at
  // any look is a false alarm no more often than one verdict at the whole
  // confidence is.
  bool early_stopping = false;
};

// Parses Kayenta's canary config JSON; an error names the field
// ("metrics[1].query.type: ...").
Result<CanaryConfig> ParseCanaryConfig(const std::string& json);

// The PromQL Kayenta's Prometheus metrics service builds for `m` and a
// scope: its filter template (inline, or named in the config's templates)
// with ${scope}, ${location}, ${project} and ${resourceType} expanded; a
// template that starts with "PromQL:" is the whole query; otherwise
// avg(metricName{filter tokens, labelBindings}) by (groupByFields). Fails
// as Kayenta does when there is neither a template nor a resource type, and
// for Kayenta's GCE and EC2 resource types (not supported here).
Result<std::string> PrometheusQueryOf(const CanaryConfig& config, const CanaryMetric& m,
                                      const std::string& scope, const std::string& location);

// The ConfigMap (and key) that holds Kayenta's own configuration, whose
// `kayenta.prometheus.accounts` give the Prometheus a metricsAccountName
// means: [{name, endpoint: {baseUrl}}].
inline constexpr const char* kKayentaConfigMap = "kayenta";
inline constexpr const char* kKayentaConfigKey = "kayenta.yml";
// The baseUrl of Prometheus account `account` in that YAML (`yaml`); with no
// account named, the only one there. Errors name what is missing.
Result<std::string> PrometheusAccountUrl(const std::string& yaml, const std::string& account);

// A Prometheus range query: the one series `query` returns over [start,
// end] every `step_seconds`, as (ms since the epoch, value) pairs.
class PrometheusRangeSource {
 public:
  virtual ~PrometheusRangeSource() = default;
  virtual Result<std::vector<std::pair<int64_t, double>>> Range(const std::string& base_url,
                                                                const std::string& query,
                                                                int64_t start_ms, int64_t end_ms,
                                                                int64_t step_seconds) = 0;
};

// Measures a kayenta metric: the judge's report as a JSON object (score,
// classification, reason, window, groups, metrics with their numbers).
// `config_json` is the canary config's text.
// Prometheus metrics need `prometheus` and Kayenta's configuration in
// ctx.kayenta_config.
Result<Value> MeasureKayenta(const model::Metric& metric, const MeasureContext& ctx,
                             const std::string& config_json, RouterMetricsSource* router,
                             PrometheusRangeSource* prometheus);

// The measurement of a report: Argo's phase rule on the integer score.
Measurement AssessKayenta(const model::Metric& metric, const Value& report);

}  // namespace strake::rollout
