// Kubernetes workload kinds and Argo Rollouts kinds as C++ values.
//
// apps/v1 Deployment, v1 Service, and argoproj.io/v1alpha1 Rollout,
// AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun, decoded
// strictly (unknown fields are errors with a suggestion; cluster-only fields
// are reported once as ignored) with the defaults Kubernetes and Argo
// document. Plain values, copyable, thread-safe once built.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/tekton.h"

namespace strake::model {

// A Kubernetes IntOrString such as maxSurge: "25%" or 1.
struct IntOrPercent {
  int value = 0;
  bool percent = false;
  // Resolves against `total`, rounding up (maxSurge) or down (maxUnavailable).
  int Resolve(int total, bool round_up) const;
};

struct Probe {
  enum class Kind { kHttpGet, kTcpSocket, kExec };
  Kind kind = Kind::kHttpGet;
  std::string path = "/";
  std::string port;  // a number or a container port's name
  std::vector<std::pair<std::string, std::string>> http_headers;
  std::vector<std::string> command;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

struct ContainerPort {
  std::string name;
  int container_port = 0;
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::optional<Probe> readiness;
  std::optional<Probe> liveness;
};

struct PodTemplate {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<Container> containers;
  int termination_grace_period_seconds = 30;
};

struct Deployment {
  ObjectMeta meta;
  int replicas = 1;
  std::map<std::string, std::string> selector;
  PodTemplate pod;
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{25, true};
  int min_ready_seconds = 0;
  int revision_history_limit = 10;
  bool recreate = false;
};

// batch/v1 Job: its first container run to completion on the local target,
// retried up to backoffLimit times.
struct Job {
  ObjectMeta meta;
  PodTemplate pod;
  std::string restart_policy = "Never";  // Never or OnFailure (either way: a new attempt)
  int backoff_limit = 6;
  int active_deadline_seconds = 0;  // 0: none
};

struct ServicePort {
  std::string name;
  int port = 0;
  std::string target_port;  // a number or a container port's name
};

struct Service {
  ObjectMeta meta;
  std::map<std::string, std::string> selector;
  std::vector<ServicePort> ports;
};

// ---- Argo Rollouts ----------------------------------------------------------

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
};

struct RolloutAnalysis {
  struct TemplateRef {
    std::string name;
    bool cluster_scope = false;
  };
  std::vector<TemplateRef> templates;
  std::vector<AnalysisArg> args;
  int starting_step = -1;  // background analysis only; -1: from the start
  Origin origin;
};

struct CanaryStep {
  enum class Kind {
    kSetWeight,
    kPause,
    kAnalysis,
    kSetCanaryScale,
    kSetHeaderRoute,
    kSetMirrorRoute
  };
  Kind kind = Kind::kSetWeight;
  int weight = 0;                         // setWeight
  std::optional<Millis> pause;            // pause.duration; nullopt: until promoted
  RolloutAnalysis analysis;               // analysis
  std::optional<int> scale_replicas;      // setCanaryScale.replicas
  std::optional<int> scale_weight;        // setCanaryScale.weight
  bool scale_match_traffic = false;       // setCanaryScale.matchTrafficWeight
  std::string route_name;                 // setHeaderRoute / setMirrorRoute
  std::vector<HeaderMatch> header_match;  // setHeaderRoute.match[].headerName/headerValue
  std::optional<StringMatchSpec> mirror_method;
  std::optional<StringMatchSpec> mirror_path;
  std::vector<HeaderMatch> mirror_headers;
  int mirror_percentage = 100;
  Origin origin;
};

struct CanaryStrategy {
  std::string canary_service;
  std::string stable_service;
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
};

struct Rollout {
  ObjectMeta meta;
  RolloutSpec spec;
};

struct MetricProvider {
  enum class Kind { kPrometheus, kWeb, kJob, kRouter };
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
  int job_active_deadline_seconds = 0;  // 0: strake's default (10 minutes per attempt set)
  // router (strake's own): the embedded router's per-revision metrics
  std::string service;
  std::string revision = "canary";  // canary | stable
  std::string router_metric = "success-rate";
  Millis window{60'000};
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
  Origin origin;
};

struct AnalysisArgSpec {
  std::string name;
  std::optional<std::string> value;
};

struct AnalysisTemplateSpec {
  std::vector<AnalysisArgSpec> args;
  std::vector<Metric> metrics;
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
Result<Service> DecodeService(const Json& object);
Result<Deployment> DecodeDeployment(const Json& object);
Result<Job> DecodeJob(const Json& object);

}  // namespace strake::model
