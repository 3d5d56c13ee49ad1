// Analysis: AnalysisRuns measured by providers and judged by conditions.
//
// The pure part (Assess*, NextMeasurement) applies Argo's rules: a
// measurement is Failed when failureCondition holds (or successCondition
// does not, when it is the only condition), Successful when successCondition
// holds (or failureCondition does not), Inconclusive when both are given and
// neither holds, Error when the provider failed. A metric fails once its
// failures exceed failureLimit (0), is inconclusive past inconclusiveLimit
// (0), errors past consecutiveErrorLimit (4) errors in a row, and succeeds
// after `count` measurements (one, without count and interval). A run is the
// worst of its metrics: Failed, Error, Inconclusive, then Running; Successful
// when every metric is. A terminated run stops measuring and keeps the
// verdict it has (Successful if nothing failed).
//
// Providers are an interface, so the reconciler is tested with fakes; the
// real ones read the embedded router's per-revision metrics, query a
// Prometheus HTTP API, call a web endpoint, or run a job's command as a
// process.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/cgroup.h"
#include "base/clock.h"
#include "base/container.h"
#include "base/egress.h"
#include "base/mask.h"
#include "base/process.h"
#include "controller/controller.h"
#include "model/rollouts.h"
#include "rollout/expr.h"
#include "rollout/target.h"
#include "store/store.h"

namespace strake::rollout {

using Json = nlohmann::ordered_json;

struct Measurement {
  std::string phase;  // Successful, Failed, Inconclusive, Error
  std::string value;  // the provider's result as JSON text
  std::string message;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
};

struct MetricResult {
  std::string name;
  std::string phase = "Pending";  // Pending, Running, Successful, Failed, Inconclusive, Error
  std::vector<Measurement> measurements;
  int count = 0;
  int successful = 0;
  int failed = 0;
  int inconclusive = 0;
  int error = 0;
  int consecutive_error = 0;
  std::string message;
  bool dry_run = false;  // measured and recorded; decides nothing

  Json ToJson() const;
  static MetricResult FromJson(const Json& j);
};

// Judges one provider value against the metric's conditions.
Measurement AssessValue(const model::Metric& m, const Value& result);
inline constexpr size_t kMeasurementsKept = 10;  // Argo's default measurementRetention
// Adds a measurement to the tallies and updates the metric's phase; the
// last `keep` measurements stay in the result.
void Record(const model::Metric& m, MetricResult& r, Measurement measurement,
            size_t keep = kMeasurementsKept);
// When the next measurement is due (ms since epoch), or nullopt when the
// metric is complete. `run_started_ms` anchors initialDelay.
std::optional<int64_t> NextMeasurement(const model::Metric& m, const MetricResult& r,
                                       int64_t run_started_ms);
// The run's phase from its metrics' phases; a dry-run metric's counts only
// towards completion.
std::string RunPhase(const std::vector<MetricResult>& results);
// Which metrics the dryRun patterns match (Go's unanchored match, as Argo);
// a pattern that matches none is an error, as in Argo.
Result<std::vector<bool>> DryRunMetrics(const std::vector<std::string>& patterns,
                                        const std::vector<model::Metric>& metrics);
bool IsTerminalPhase(const std::string& phase);
// How many measurements each metric keeps: the limit of the last
// measurementRetention rule whose pattern matches its name (Go's
// unanchored match), else Argo's default of 10; a rule that matches no
// metric is an error, as in Argo.
Result<std::vector<size_t>> RetainedMeasurements(
    const std::vector<model::MeasurementRetention>& rules,
    const std::vector<model::Metric>& metrics);

// A Rollout's AnalysisRun as its garbage collection sees it.
struct OwnedRun {
  std::string name;
  std::string phase;
  int64_t created_ms = 0;
  bool revision_kept = true;  // its revision is still recorded (revisionHistoryLimit)
  int64_t revision = 0;       // the Rollout's revision it measured
};

// Argo's FilterAnalysisRunsToDelete: of the runs not `in_use`, those of a
// revision no longer recorded go whatever their phase, and of the rest,
// newest first (by revision, then creation), all but `keep_successful`
// Successful and `keep_unsuccessful` Failed, Error or Inconclusive ones;
// the others (still going) stay.
std::vector<std::string> RunsToDelete(std::vector<OwnedRun> runs,
                                      const std::set<std::string>& in_use, int keep_successful,
                                      int keep_unsuccessful);

// Replaces {{args.NAME}} in s; an unknown name is an error.
Result<std::string> ResolveArgs(const std::string& s,
                                const std::map<std::string, std::string>& args);

// The value of an analysis argument's fieldRef `path` (one that
// model::IsAnalysisFieldPath accepts) in `rollout` (its object, with its
// status under "status"): a missing label or annotation is "", as
// Kubernetes reads one; a spec./status. path must reach a string, number
// or boolean.
Result<std::string> FieldRefValue(const Json& rollout, const std::string& path);

// The spec of an AnalysisRun of `templates` (AnalysisTemplates of `ns`, or
// ClusterAnalysisTemplates: strake's builtin one of a name when the store
// has none): their metrics in order, their args (a name's first
// declaration), each of `values` set (it wins over a template's valueFrom).
// A missing template, or a value for an arg no template declares, is an
// error.
// `dry_run` (metric name patterns) is added to the templates' dryRun, and
// `retention` to their measurementRetention.
Result<Json> AnalysisRunSpec(store::Store& store, const std::string& ns,
                             const std::vector<model::RolloutAnalysis::TemplateRef>& templates,
                             const std::vector<std::pair<std::string, std::string>>& values,
                             const std::vector<std::string>& dry_run = {},
                             const std::vector<model::MeasurementRetention>& retention = {});

// What a provider sees of the run that asks.
struct MeasureContext {
  std::string ns;
  std::map<std::string, std::string> args;
  std::string canary_hash;  // of the rollout that started the run
  std::string stable_hash;
  int64_t run_started_ms = 0;  // the run's startedAt
  int64_t now_ms = 0;          // when the measurement was asked for
  // Which measurement of its metric this is (1-based) and how many the
  // metric takes (its count; 0: not bounded): a kayenta canary config's
  // earlyStopping spends its confidence over them.
  int look = 0;
  int looks = 0;
  // kayenta: the canary config (ConfigMap canaryConfigName, kayenta.h)
  std::string canary_config;
  std::string kayenta_config;  // ConfigMap kayenta's kayenta.yml, when there is one
  std::string log_path;        // where a job writes its output
  // A job's env valueFrom (ConfigMap and Secret keys), read by the
  // reconciler: name -> value.
  std::map<std::string, std::string> env_from;
  // What a job's log is masked with: every Secret value of the namespace.
  std::vector<std::string> secrets;
  // A job's imagePullSecrets, read by the reconciler (PullSecrets).
  std::vector<std::string> pull_secrets;
  // Set when the run is terminated or deleted: a job stops and is killed.
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

class MetricProviders {
 public:
  virtual ~MetricProviders() = default;
  // The provider's result as a value for the conditions; an Error is a
  // failed measurement (counted towards consecutiveErrorLimit).
  virtual Result<Value> Measure(const model::Metric& metric, const MeasureContext& ctx) = 0;
};

// The real providers. `router` may be null (no embedded router): the router
// provider then errors. Web and Prometheus providers connect only where
// `egress` allows. Job metrics run in `sandbox` when it is not null (their
// commands come from git), or, when `images` is not null, in their
// container's image pulled through it (a measurement waits for the pull
// within the job's activeDeadlineSeconds); both must outlive the providers.
std::unique_ptr<MetricProviders> MakeProviders(RouterMetricsSource* router, EgressPolicy egress,
                                               const Sandbox* sandbox = nullptr,
                                               ContainerImages* images = nullptr,
                                               const Cgroups* cgroups = nullptr);

// A quantile from histogram buckets, interpolated within a bucket as
// Prometheus' histogram_quantile does.
double HistogramQuantile(double q, const RevisionWindow& w);
// A router metric (success-rate, error-rate, request-rate, latency-p50/p95/
// p99) of one window that had requests.
double RouterMetricValue(const std::string& metric, const RevisionWindow& w);

// Reconciles AnalysisRun resources ("AnalysisRun/ns/name" keys): takes the
// measurements that are due, writes status.metricResults and status.phase,
// and asks to be called again when the next one is due.
// Measurements in flight, off the reconciler's workers: a slow provider (a
// job that runs for minutes, an endpoint that hangs until its timeout) never
// delays another run. At most one at a time per run and metric; a finished
// one wakes its run. Thread-safe.
class Measurements {
 public:
  // Runs a task: a thread of its own by default; tests run it inline (the
  // result is then ready when Take returns).
  using Spawn = std::function<void(std::function<void()>)>;
  explicit Measurements(MetricProviders& providers, Spawn spawn = nullptr);
  ~Measurements();  // cancels what runs and waits for it
  Measurements(const Measurements&) = delete;
  Measurements& operator=(const Measurements&) = delete;

  // Told the key of a run one of whose measurements finished.
  void SetWake(std::function<void(const std::string&)> wake);

  struct Done {
    Result<Value> value;
    int64_t started_ms = 0;
  };
  // The finished measurement of run `key`'s metric, taken; else nullopt,
  // after starting one (at `now_ms`) if none runs.
  std::optional<Done> Take(const std::string& key, const model::Metric& metric, MeasureContext ctx,
                           int64_t now_ms);
  // Stops run `key`'s measurements (terminated or deleted): their jobs are
  // killed and their results dropped.
  void Cancel(const std::string& key);

 private:
  struct Slot {
    bool running = false;
    std::optional<Done> done;
    std::shared_ptr<std::atomic<bool>> cancelled;
  };
  MetricProviders& providers_;
  Spawn spawn_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::map<std::pair<std::string, std::string>, Slot> slots_;  // (run, metric)
  size_t running_ = 0;
  std::function<void(const std::string&)> wake_;
};

class AnalysisRunReconciler : public controller::Reconciler {
 public:
  // Measurements run as `spawn` runs them (Measurements::Spawn).
  AnalysisRunReconciler(store::Store& store, MetricProviders& providers, const Clock& clock,
                        std::string log_dir, Measurements::Spawn spawn = nullptr);
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;
  // Where a finished measurement sends its run's key (the controller's queue).
  void SetWake(std::function<void(const std::string&)> wake) {
    measurements_.SetWake(std::move(wake));
  }

 private:
  // What a round measures with: the args (secret ones read now), the
  // metrics with their {{args.NAME}} fields decoded, and the values that
  // messages and job logs are masked with.
  struct Inputs {
    model::AnalysisTemplateSpec spec;
    std::map<std::string, std::string> args;
    std::vector<std::string> secrets;
    // Secret args too short to be masked (kMinSecretLength), said once, in
    // the event of the run's start.
    std::vector<std::string> warnings;
  };
  // A problem of the run itself (a missing argument, a bad field) is left
  // in *problem; a failure to read the store is the error.
  Result<Inputs> Prepare(const store::Resource& run, std::string* problem);
  // Metric `m` of run `key`, due now: its finished measurement, judged and
  // masked, or nullopt while it runs (a job's env is read here first).
  std::optional<Measurement> MeasureDue(const std::string& key, const model::Metric& m,
                                        MeasureContext ctx, int64_t now,
                                        const SecretMasker& masker);

  store::Store& store_;
  const Clock& clock_;
  std::string log_dir_;
  Measurements measurements_;
};

}  // namespace strake::rollout
