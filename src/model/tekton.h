// Tekton tekton.dev/v1 (and v1beta1) kinds as C++ values.
//
// These are the decoded, defaulted forms: field names follow Tekton's Go
// types. Strings may still hold $(...) references; the pipeline module
// resolves them. Every element that can be wrong later keeps its Mark and
// path so a runtime error can still point at the line. Plain values,
// copyable, thread-safe once built.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/cgroup.h"
#include "base/result.h"
#include "model/core.h"
#include "model/node.h"

namespace strake::model {

enum class ParamType { kString, kArray, kObject };
const char* ParamTypeName(ParamType t);

struct ParamValue {
  ParamType type = ParamType::kString;
  std::string str;
  std::vector<std::string> arr;
  std::map<std::string, std::string> obj;

  static ParamValue String(std::string s) { return {ParamType::kString, std::move(s), {}, {}}; }
  Json ToJson() const;
  static ParamValue FromJson(const Json& j);
  bool operator==(const ParamValue&) const = default;
};

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::string description;
  std::optional<ParamValue> default_value;
  std::vector<std::string> properties;  // keys of an object param
  std::vector<std::string> enum_values;
  Origin origin;
};

struct Param {
  std::string name;
  ParamValue value;
  Origin origin;
};

struct WhenExpression {
  std::string input;
  std::string op;  // "in" or "notin"
  std::vector<std::string> values;
  Origin origin;
  // Tekton's `cel` form (pipeline/cel.h): when set, the others are empty.
  std::string cel = {};
};

// A taskRef or pipelineRef that names a resolver (Tekton's remote
// resolution, docs/resolution.md): `git` or `cluster`, resolved to a named
// Task or Pipeline before validation (gitops/resolvers.h).
struct ResolverRef {
  std::string resolver;
  std::vector<Param> params;
  Origin origin;
};

struct ResultSpec {
  std::string name;
  ParamType type = ParamType::kString;
  std::string description;
  std::vector<std::string> properties;
  // A task result's value taken from a step's result:
  // "$(steps.<step>.results.<name>)" (empty: the task writes it itself).
  std::string value;
};

// A step's `ref`: a StepAction by name, or (until resolved) a resolver.
struct StepRef {
  std::string name;
  std::optional<ResolverRef> resolver;
  Origin origin;
};

// A step's or sidecar's `workspaces` entry (Tekton's isolated workspaces):
// the task workspace is mounted only in the steps and sidecars that name it,
// at mountPath when given (else the workspace's own path).
struct StepWorkspace {
  std::string name;
  std::string mount_path;
  Origin origin;
};

struct Step {
  std::string name;
  std::string image;
  // Always, IfNotPresent, Never, or "" (Kubernetes' default for the image);
  // honoured where steps run in their images (docs/images.md).
  std::string image_pull_policy;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string script;
  std::vector<EnvVar> env;
  std::vector<EnvFromSource> env_from;
  std::string working_dir;
  std::string on_error;  // "", "continue" or "stopAndFail"
  std::optional<Millis> timeout;
  std::vector<VolumeMount> volume_mounts;
  std::vector<StepWorkspace> workspaces;
  // A step that uses a StepAction: its ref and the params it passes. The
  // StepAction's body is merged in when the TaskRun starts.
  std::optional<StepRef> ref;
  std::vector<Param> params;
  std::vector<ResultSpec> results;  // the step's own results ($(step.results.x.path))
  std::vector<WhenExpression> when;
  // stdoutConfig.path / stderrConfig.path: the stream is also written to
  // this file (a result's path, a workspace's or a volume's).
  std::string stdout_path;
  std::string stderr_path;
  // A sidecar's: the steps start once its startupProbe and then its
  // readinessProbe succeed.
  std::optional<Probe> startup_probe;
  std::optional<Probe> readiness_probe;
  // computeResources: limits.cpu, limits.memory, requests.cpu (base/cgroup.h).
  CgroupLimits resources;
  Origin origin;
};

struct WorkspaceDecl {
  std::string name;
  std::string description;
  std::string mount_path;  // default /workspace/<name>
  bool read_only = false;
  bool optional = false;
};

struct Volume {
  enum class Kind { kEmptyDir, kConfigMap, kSecret, kGitRepo };
  std::string name;
  Kind kind = Kind::kEmptyDir;
  std::string source;  // ConfigMap name, Secret name, or a gitRepo's repository
  bool optional = false;
  // gitRepo (Kubernetes' deprecated volume, cloned when the TaskRun starts):
  // the revision to check out and the directory to clone into ("." the
  // volume itself; empty: the repository's name).
  std::string revision;
  std::string directory;
};

// strake's extension: a Task-level content-addressed cache.
struct CacheSpec {
  bool enabled = false;
  std::vector<std::string> inputs;   // "WORKSPACE:GLOB"
  std::vector<std::string> params;   // names; empty means every param
  std::vector<std::string> outputs;  // "WORKSPACE:PATH"
};

struct TaskSpec {
  std::string description;
  std::vector<ParamSpec> params;
  std::vector<WorkspaceDecl> workspaces;
  std::vector<ResultSpec> results;
  std::vector<Step> steps;
  std::optional<Step> step_template;
  std::vector<Step> sidecars;
  std::vector<Volume> volumes;
  CacheSpec cache;
};

struct WorkspacePipelineTaskBinding {
  std::string name;       // the task's workspace
  std::string workspace;  // the pipeline's workspace
  std::string sub_path;
};

struct MatrixInclude {
  std::string name;
  std::vector<Param> params;
};

struct Matrix {
  std::vector<Param> params;  // each an array
  std::vector<MatrixInclude> include;
};

struct PipelineSpec;

// What a TaskRun (or a PipelineRun's taskRunSpecs entry) sets of its
// pod's compute resources: the whole TaskRun's (computeResources), and
// steps' and sidecars' by name (stepSpecs, sidecarSpecs: each replaces the
// container's own).
struct ComputeOverrides {
  CgroupLimits task;
  std::map<std::string, CgroupLimits> steps, sidecars;
  bool empty() const { return task.empty() && steps.empty() && sidecars.empty(); }
};

struct PipelineTask {
  std::string name;
  std::string task_ref;                      // Task name, when not embedded
  std::optional<ResolverRef> task_resolver;  // until resolved (task_ref then names it)
  std::optional<TaskSpec> task_spec;
  std::vector<std::string> run_after;
  std::vector<Mark> run_after_marks;
  std::vector<Param> params;
  std::vector<WorkspacePipelineTaskBinding> workspaces;
  std::vector<WhenExpression> when;
  int retries = 0;
  std::optional<Millis> timeout;
  ComputeOverrides compute;  // from the PipelineRun's taskRunSpecs
  std::optional<Matrix> matrix;
  // onError: continue — the task's failure does not fail the run (its
  // TaskRun ends FailureIgnored); "" or stopAndFail — it does.
  bool continue_on_error = false;
  Origin origin;
  // Pipelines in pipelines (Tekton's alpha TEP-0056): the task runs a
  // child PipelineRun of this Pipeline (by name) or of this embedded spec.
  std::string pipeline_ref = {};
  std::shared_ptr<const PipelineSpec> pipeline_spec = {};
  bool RunsPipeline() const { return !pipeline_ref.empty() || pipeline_spec != nullptr; }
};

struct PipelineWorkspaceDecl {
  std::string name;
  std::string description;
  bool optional = false;
};

struct PipelineResult {
  std::string name;
  ParamType type = ParamType::kString;
  ParamValue value;
  std::string description;
};

struct PipelineSpec {
  std::string description;
  std::vector<ParamSpec> params;
  std::vector<PipelineWorkspaceDecl> workspaces;
  std::vector<PipelineTask> tasks;
  std::vector<PipelineTask> finally;
  std::vector<PipelineResult> results;
};

struct KeyToPath {
  std::string key;
  std::string path;
};

// One source of a projected workspace: a ConfigMap's or Secret's keys.
struct ProjectedSource {
  bool secret = false;
  std::string name;
  std::vector<KeyToPath> items;
  bool optional = false;
};

// A run's binding of a workspace to storage.
struct WorkspaceBinding {
  enum class Kind {
    kEmptyDir,
    kPersistentVolumeClaim,
    kVolumeClaimTemplate,
    kConfigMap,
    kSecret,
    kProjected
  };
  std::string name;
  Kind kind = Kind::kEmptyDir;
  std::string source;  // claim, ConfigMap or Secret name
  std::string sub_path;
  std::vector<KeyToPath> items;
  std::vector<ProjectedSource> projected;  // kProjected: in one directory, in order
};

struct Timeouts {
  std::optional<Millis> pipeline;
  std::optional<Millis> tasks;
  std::optional<Millis> finally;
};

// A PipelineRun's taskRunSpecs entry: what strake honours of it (the rest
// is cluster-only and reported as ignored).
struct PipelineTaskRunSpec {
  std::string pipeline_task;
  std::optional<Millis> timeout;  // overrides the pipeline task's
  ComputeOverrides compute;
  Origin origin;
};

struct PipelineRunSpec {
  std::string pipeline_ref;
  std::optional<ResolverRef> pipeline_resolver;
  std::optional<PipelineSpec> pipeline_spec;
  std::vector<Param> params;
  std::vector<WorkspaceBinding> workspaces;
  std::vector<PipelineTaskRunSpec> task_run_specs;
  Timeouts timeouts;
  std::string status;  // "", Cancelled, CancelledRunFinally, StoppedRunFinally, PipelineRunPending
  std::string service_account;  // taskRunTemplate.serviceAccountName ("": default)
  // taskRunTemplate.podTemplate.imagePullSecrets: the steps' images are
  // pulled with them (and the ServiceAccount's).
  std::vector<std::string> image_pull_secrets;
};

struct TaskRunSpec {
  std::string task_ref;
  std::optional<ResolverRef> task_resolver;
  std::optional<TaskSpec> task_spec;
  std::vector<Param> params;
  std::vector<WorkspaceBinding> workspaces;
  std::optional<Millis> timeout;
  int retries = 0;
  std::string status;           // "", TaskRunCancelled
  std::string service_account;  // serviceAccountName ("": default)
  // podTemplate.volumes: the task's volumes too (an embedded task spec has
  // them added already).
  std::vector<Volume> pod_volumes;
  std::vector<std::string> image_pull_secrets;  // podTemplate.imagePullSecrets
};

struct Task {
  ObjectMeta meta;
  TaskSpec spec;
};
struct Pipeline {
  ObjectMeta meta;
  PipelineSpec spec;
};
struct PipelineRun {
  ObjectMeta meta;
  PipelineRunSpec spec;
};
struct TaskRun {
  ObjectMeta meta;
  TaskRunSpec spec;
};

// A StepAction (tekton.dev/v1beta1; v1alpha1 too): a step's body that
// steps name in their `ref`, with the params it takes and the results it
// writes (Tekton's docs/stepactions.md).
struct StepActionSpec {
  std::string description;
  Step step;  // image, command, args, script, env, workingDir, volumeMounts
  std::vector<ParamSpec> params;
  std::vector<ResultSpec> results;
};
struct StepAction {
  ObjectMeta meta;
  StepActionSpec spec;
};

// Round trip through the store: specs saved as JSON decode the same way.
Result<PipelineSpec> DecodePipelineSpec(const Json& j);
Json EncodeParams(const std::vector<Param>& params);
Result<StepActionSpec> DecodeStepActionSpec(const Json& j);

}  // namespace strake::model
