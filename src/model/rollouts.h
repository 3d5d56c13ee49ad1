// Argo Rollouts kinds as C++ values: argoproj.io/v1alpha1 Rollout,
// AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun and Experiment, decoded
// strictly with the defaults Argo documents. Plain values, copyable,
// thread-safe once built.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "model/core.h"
#include "model/workloads.h"

namespace strake::model {

struct StringMatchSpec {
  enum class Kind { kExact, kPrefix, kRegex };
  Kind kind = Kind::kExact;
  std::string value;
};

struct HeaderMatch {
  std::string header_name;
  StringMatchSpec value;
};

struct AnalysisArg {
  std::string name;
  std::string value;
  // valueFrom.podTemplateHashValue: "Stable" or "Latest".
  std::string pod_template_hash_value;
  // valueFrom.fieldRef.fieldPath: a field of the Rollout, read when the run
  // is made: metadata.name, metadata.namespace, metadata.uid,
  // metadata.labels['k'], metadata.annotations['k'], or a spec./status. path.
  std::string field_path;
};

// measurementRetention[]: a metric whose name the pattern matches (a Go
// regular expression, unanchored, as dryRun's) keeps its last `limit`
// measurements in the run's status (Argo's default, 10, for the others and
// for a limit of 0).
struct MeasurementRetention {
  std::string metric_name;
  int limit = 0;
};

// analysisRunMetadata: labels and annotations of the AnalysisRuns made.
struct AnalysisRunMetadata {
  std::map<std::string, std::string> labels, annotations;
};

struct RolloutAnalysis {
  struct TemplateRef {
    std::string name;
    bool cluster_scope = false;
  };
  std::vector<TemplateRef> templates;
  std::vector<AnalysisArg> args;
  std::vector<std::string> dry_run;  // dryRun[].metricName: metrics that decide nothing
  int starting_step = -1;            // background analysis only; -1: from the start
  Origin origin;
  std::vector<MeasurementRetention> measurement_retention;  // given to its AnalysisRuns
  AnalysisRunMetadata run_metadata;
};

// One analysis of an Experiment (spec.analyses[]; a canary experiment
// step's analyses[]): an AnalysisRun named <experiment>-<name>.
struct ExperimentAnalysis {
  std::string name;
  RolloutAnalysis::TemplateRef ref;  // templateName, clusterScope
  // In an Experiment only `value` (with {{templates.NAME.podTemplateHash}},
  // {{templates.NAME.replicaset.name}}, {{experiment.availableAt}},
  // {{experiment.finishedAt}}); in a step, valueFrom too, read when the
  // step makes its Experiment.
  std::vector<AnalysisArg> args;
  bool required_for_completion = false;
};

// One template of an Experiment: a revision of its own, run beside the
// workload's.
struct ExperimentTemplate {
  std::string name;
  int replicas = 1;
  int min_ready_seconds = 0;
  std::map<std::string, std::string> selector;
  PodTemplate pod;
  bool service = false;      // `service` given: a Service in front of it
  std::string service_name;  // service.name; "" for <experiment>-<template>
};

struct ExperimentSpec {
  std::vector<ExperimentTemplate> templates;
  std::optional<Millis> duration;  // from availableAt; nullopt: until ended
  int progress_deadline_seconds = 600;
  bool terminate = false;
  int scale_down_delay_seconds = 30;
  std::vector<ExperimentAnalysis> analyses;
  std::vector<std::string> dry_run;                         // given to every AnalysisRun
  std::vector<MeasurementRetention> measurement_retention;  // so is this
  AnalysisRunMetadata run_metadata;                         // and this
};

struct Experiment {
  ObjectMeta meta;
  ExperimentSpec spec;
};

// A canary step's `experiment`: the Experiment it makes, its templates
// copies of the stable or canary revision.
struct ExperimentStep {
  struct Template {
    std::string name;
    std::string spec_ref;  // stable | canary
    std::optional<int> replicas;
    int weight = 0;  // share of the stable Service's traffic while it runs
    std::map<std::string, std::string> labels, annotations;  // metadata
    std::map<std::string, std::string> selector;             // "": the revision's labels
    bool service = false;
    std::string service_name;
  };
  std::vector<Template> templates;
  std::optional<Millis> duration;
  std::optional<int> scale_down_delay_seconds;
  std::vector<ExperimentAnalysis> analyses;
  std::vector<std::string> dry_run;
  AnalysisRunMetadata run_metadata;  // given to its Experiment
};

struct CanaryStep {
  enum class Kind {
    kSetWeight,
    kPause,
    kAnalysis,
    kSetCanaryScale,
    kSetHeaderRoute,
    kSetMirrorRoute,
    kExperiment,
    kPlugin
  };
  // The step's kind: setWeight, pause, analysis, experiment or plugin when
  // it has one (one of these at most), else the first of setCanaryScale,
  // setHeaderRoute, setMirrorRoute, which may also come beside it (has_*).
  Kind kind = Kind::kSetWeight;
  bool has_scale = false;
  bool has_header_route = false;
  bool has_mirror_route = false;
  int weight = 0;                         // setWeight
  std::optional<Millis> pause;            // pause.duration; nullopt: until promoted
  RolloutAnalysis analysis;               // analysis
  std::optional<int> scale_replicas;      // setCanaryScale.replicas
  std::optional<int> scale_weight;        // setCanaryScale.weight
  bool scale_match_traffic = false;       // setCanaryScale.matchTrafficWeight
  std::string route_name;                 // setHeaderRoute.name
  std::string mirror_route_name;          // setMirrorRoute.name
  std::vector<HeaderMatch> header_match;  // setHeaderRoute.match[].headerName/headerValue
  std::optional<StringMatchSpec> mirror_method;
  std::optional<StringMatchSpec> mirror_path;
  std::vector<HeaderMatch> mirror_headers;
  int mirror_percentage = 100;
  ExperimentStep experiment;  // experiment
  Origin origin;
  // plugin.name: an Argo Rollouts step plugin, looked up in the
  // argo-rollouts-config ConfigMap when the step is reached (its config is
  // the plugin's own and kept in the stored object only).
  std::string plugin_name;
};

// Argo Rollouts' Gateway API traffic router plugin
// (`trafficRouting.plugins."argoproj-labs/gatewayAPI"`): the routes whose
// backendRefs to the canary and stable Services get the weights.
struct GatewayApiRouting {
  struct Route {
    std::string kind;  // HTTPRoute, GRPCRoute, TCPRoute, TLSRoute
    std::string name;
  };
  struct Selector {
    std::string kind;
    std::map<std::string, std::string> match_labels;
  };
  std::vector<Route> routes;        // httpRoute(s), grpcRoute(s), tcpRoute(s), tlsRoute(s)
  std::vector<Selector> selectors;  // httpRouteSelector, …: every route of the kind matched
  std::string ns;                   // the routes' namespace; default: the Rollout's
  // While the canary has weight, each route carries this label (the
  // plugin's "in progress" marker), removed at weight 0.
  bool in_progress_label = true;
  std::string in_progress_key = "rollouts.argoproj.io/gatewayapi-canary";
  std::string in_progress_value = "in-progress";
};

// The mesh objects of trafficRouting that strake keeps at the weights
// (rollout/mesh.h): Istio VirtualServices' http routes (with a
// DestinationRule's subsets when one is named) and an SMI TrafficSplit.
struct MeshRouting {
  struct VirtualService {
    std::string name;
    std::vector<std::string> routes;  // http route names; none: its only route
  };
  std::vector<VirtualService> virtual_services;
  std::string destination_rule;  // with subsets: destinations name a subset
  std::string canary_subset, stable_subset;
  bool smi = false;
  std::string smi_root_service;   // default: the stable Service
  std::string smi_traffic_split;  // default: the Rollout's name
  // ALB: Ingresses whose forward action (an annotation) gets the weights.
  std::vector<std::string> alb_ingresses;
  int alb_service_port = 0;
  std::string alb_root_service;  // the action's name; default: the stable Service
  std::string alb_annotation_prefix = "alb.ingress.kubernetes.io";
  // nginx: stable Ingresses, each with a canary copy carrying the weight.
  std::vector<std::string> nginx_ingresses;
  std::string nginx_annotation_prefix = "nginx.ingress.kubernetes.io";
  std::map<std::string, std::string> nginx_additional_annotations;  // prefixed if not
  std::map<std::string, std::string> nginx_canary_annotations;      // as written

  // A provider named that cannot carry an experiment's weights (nginx,
  // traefik, ambassador, apisix, appMesh), when no istio, smi or alb is.
  std::string weightless_provider;
  // Traefik: the TraefikService whose weighted services get the weights.
  std::string traefik_service;
  // APISIX: the ApisixRoute and its http routes (default: the one named as
  // the ApisixRoute) whose backends get the weights.
  std::string apisix_route;
  std::vector<std::string> apisix_rules;
  // Ambassador: base Mappings, each with a `<name>-canary` copy at the weight.
  std::vector<std::string> ambassador_mappings;
  std::optional<GatewayApiRouting> gateway_api;

  bool Any() const {
    return !virtual_services.empty() || smi || !alb_ingresses.empty() || !nginx_ingresses.empty() ||
           !traefik_service.empty() || !apisix_route.empty() || !ambassador_mappings.empty() ||
           gateway_api.has_value();
  }
};

struct CanaryStrategy {
  std::string canary_service;
  std::string stable_service;
  // Whether spec.strategy.canary.trafficRouting is given (its settings are
  // not needed: the embedded router applies them). With it, setWeight is an
  // exact weight and stable keeps every replica; without it, Argo's basic
  // canary: the weight is approximated by replica counts within
  // maxSurge/maxUnavailable, and setCanaryScale is ignored.
  bool traffic_routing = false;
  MeshRouting mesh;
  std::vector<CanaryStep> steps;
  std::optional<RolloutAnalysis> analysis;  // background
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{25, true};
  int abort_scale_down_delay_seconds = 30;
  int scale_down_delay_seconds = 30;  // old stable, after promotion
};

struct BlueGreenStrategy {
  std::string active_service;
  std::string preview_service;
  bool auto_promotion_enabled = true;
  int auto_promotion_seconds = 0;
  int scale_down_delay_seconds = 30;
  std::optional<int> preview_replica_count;
  std::optional<RolloutAnalysis> pre_promotion_analysis;
  std::optional<RolloutAnalysis> post_promotion_analysis;
};

// spec.workloadRef, Argo's way to migrate a Deployment: the Rollout's pod
// template (and its selector, when it has none) are the Deployment's, read
// when the Rollout is reconciled (rollout/workload_ref.h); `scaleDown` says
// what becomes of the Deployment's own replicas.
struct WorkloadRef {
  enum class ScaleDown {
    kNever,          // "never" (and Argo's default): it keeps its replicas
    kOnSuccess,      // "onsuccess": to 0 when the first revision is Healthy
    kProgressively,  // "progressively": down as the Rollout's replicas are ready
  };
  std::string name;  // of an apps/v1 Deployment in the Rollout's namespace
  ScaleDown scale_down = ScaleDown::kNever;
};

struct RolloutSpec {
  int replicas = 1;
  std::map<std::string, std::string> selector;
  PodTemplate pod;
  std::optional<CanaryStrategy> canary;
  std::optional<BlueGreenStrategy> blue_green;
  int revision_history_limit = 10;
  int progress_deadline_seconds = 600;
  bool progress_deadline_abort = false;
  int min_ready_seconds = 0;
  bool paused = false;
  // spec.rollbackWindow.revisions (0: none): a return to a revision with
  // fewer than this many revisions recorded between it and the stable one
  // skips steps and analysis (Argo's isRollbackWithinWindow).
  int rollback_window_revisions = 0;
  std::optional<WorkloadRef> workload_ref;
  // spec.analysis: how many of its finished AnalysisRuns that no step or
  // analysis is using a Rollout keeps, Successful ones and the others
  // (Failed, Error, Inconclusive); Argo's defaults.
  int successful_run_history_limit = 5;
  int unsuccessful_run_history_limit = 5;
};

struct Rollout {
  ObjectMeta meta;
  RolloutSpec spec;
};

// One side of a kayenta scope: what to measure (`scope`: the revision, as
// `rollouts-pod-template-hash=<hash>`), where, how finely, over when.
struct KayentaScope {
  std::string scope;
  std::string region;
  int64_t step_seconds = 0;
  std::string start, end;  // RFC 3339; empty: defaulted as Argo does
};

struct KayentaScopePair {
  std::string name;  // the canary config's metrics' scopeName ("default")
  KayentaScope control, experiment;
};

struct MetricProvider {
  enum class Kind { kPrometheus, kWeb, kJob, kRouter, kKayenta };
  Kind kind = Kind::kRouter;
  // prometheus
  std::string address;
  std::string query;
  // web
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string json_path;
  int timeout_seconds = 10;
  // job: the first container of spec.template.spec
  Container job;
  int job_backoff_limit = 0;
  int job_active_deadline_seconds = 0;        // 0: strake's default (10 minutes per attempt set)
  std::vector<std::string> job_pull_secrets;  // the template's imagePullSecrets
  // router (strake's own): the embedded router's per-revision metrics
  std::string service;
  std::string revision = "canary";  // canary | stable
  std::string router_metric = "success-rate";
  Millis window{60'000};
  // router.baseline: the same metric of another revision over `span`, one
  // value per `window`, given as their mean and standard deviation beside
  // the measured value (a rollback rule's "p99 above the baseline's mean
  // plus 2 sigma"). The measurement is then {value, baseline: {...}}.
  struct Baseline {
    std::string revision = "stable";  // canary | stable
    Millis span{600'000};
  };
  std::optional<Baseline> baseline;
  // kayenta (Argo's provider, judged in-process by rollout/judge.h; the
  // accounts name Kayenta's storage and are recorded, not used)
  std::string application;
  std::string canary_config_name;  // the ConfigMap holding the canary config
  std::string metrics_account, configuration_account, storage_account;
  int64_t threshold_pass = 0, threshold_marginal = 0;
  std::vector<KayentaScopePair> scopes;
  bool lookback = false;
};

struct Metric {
  std::string name;
  std::optional<Millis> interval;
  std::optional<Millis> initial_delay;
  int count = 0;  // 0: unset (one measurement unless an interval is set)
  std::string success_condition;
  std::string failure_condition;
  int failure_limit = 0;
  int inconclusive_limit = 0;
  int consecutive_error_limit = 4;
  MetricProvider provider;
  // Fields written as {{args.NAME}} text (count, interval, initialDelay,
  // failureLimit, inconclusiveLimit, consecutiveErrorLimit -> the text):
  // their typed value above is the default until ResolveMetricFields.
  std::map<std::string, std::string> arg_fields;
  Origin origin;
};

struct AnalysisArgSpec {
  std::string name;
  std::optional<std::string> value;
  // valueFrom.secretKeyRef: a key of a Secret of the run's namespace, read
  // by the run each time it measures (never written into the run).
  std::optional<KeyRef> secret_key_ref;
};

struct AnalysisTemplateSpec {
  std::vector<AnalysisArgSpec> args;
  std::vector<Metric> metrics;
  // dryRun[].metricName: regular expressions (Go's, unanchored, as Argo
  // matches them); a metric one matches is measured and recorded but does
  // not decide the run's phase.
  std::vector<std::string> dry_run;
  std::vector<MeasurementRetention> measurement_retention;
};

struct AnalysisTemplate {
  ObjectMeta meta;
  bool cluster_scope = false;
  AnalysisTemplateSpec spec;
};

struct AnalysisRun {
  ObjectMeta meta;
  AnalysisTemplateSpec spec;  // args carry their resolved values
  bool terminate = false;
};

// Decoders for documents read back from the store (marks are zero, so an
// error names the field path only).
Result<RolloutSpec> DecodeRolloutSpec(const Json& spec);
Result<AnalysisTemplateSpec> DecodeAnalysisSpec(const Json& spec);
Result<ExperimentSpec> DecodeExperimentSpec(const Json& spec);

// Whether `path` is a fieldRef.fieldPath an analysis argument may read.
bool IsAnalysisFieldPath(const std::string& path);

// `m` with each of its arg_fields decoded from `substituted` (field -> its
// text with the args put in), as if written so; an error names the
// metric's field path and the value.
Result<Metric> ResolveMetricFields(const Metric& m,
                                   const std::map<std::string, std::string>& substituted);

}  // namespace strake::model
