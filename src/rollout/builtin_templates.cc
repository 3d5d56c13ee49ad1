#include "rollout/builtin_templates.h"

namespace strake::rollout {

const std::vector<BuiltinTemplate>& BuiltinAnalysisTemplates() {
  static const std::vector<BuiltinTemplate> kTemplates = {
      {"strake-error-rate", R"(apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: strake-error-rate
  labels: {strake.dev/builtin: "true"}
spec:
  args:
  - name: service
  - name: count
    value: "0"
  metrics:
  - name: error-rate
    interval: 30s
    count: "{{args.count}}"
    failureCondition: result > 0.05
    failureLimit: 0
    provider:
      router:
        service: "{{args.service}}"
        revision: canary
        metric: error-rate
        window: 3m
)"},
      {"strake-latency-p99", R"(apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: strake-latency-p99
  labels: {strake.dev/builtin: "true"}
spec:
  args:
  - name: service
  - name: count
    value: "0"
  metrics:
  - name: latency-p99
    interval: 1m
    count: "{{args.count}}"
    failureCondition: result.value > result.baseline.mean + 2 * result.baseline.stddev
    failureLimit: 0
    provider:
      router:
        service: "{{args.service}}"
        revision: canary
        metric: latency-p99
        window: 1m
        baseline: {revision: stable, span: 10m}
)"},
      {"strake-kpi", R"(apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: strake-kpi
  labels: {strake.dev/builtin: "true"}
spec:
  args:
  - name: address
  - name: canary-query
  - name: baseline-query
  - name: count
    value: "0"
  metrics:
  - name: kpi
    interval: 1m
    count: "{{args.count}}"
    failureCondition: result[0] < 0.8
    failureLimit: 0
    provider:
      prometheus:
        address: "{{args.address}}"
        query: ({{args.canary-query}}) / ({{args.baseline-query}})
)"},
  };
  return kTemplates;
}

std::optional<model::Json> BuiltinClusterAnalysisTemplate(const std::string& name) {
  for (const auto& t : BuiltinAnalysisTemplates()) {
    if (t.name != name) continue;
    auto docs = model::ParseYaml(t.yaml, "<builtin " + t.name + ">");
    if (!docs || docs->empty()) return std::nullopt;  // a test keeps each one valid
    return model::ToJson(docs->front().root);
  }
  return std::nullopt;
}

}  // namespace strake::rollout
