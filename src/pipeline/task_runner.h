// TaskRunner: what the engine needs from whatever runs a TaskRun's steps
// (TaskExecutor on the host or in bubblewrap today, through
// TaskExecutorRunner; a container executor or a Kubernetes pod later; a fake
// in engine_test.cc that runs nothing).
//
// The engine keeps everything else: planning, slots, retries (it calls Run
// once per attempt), timeouts of the run (it hands each attempt what is left),
// cancellation (it signals an eventfd it owns), the store and every status. A
// runner runs one attempt and says how it ended.
//
// Ownership: the engine owns the jobs and the cancel eventfds; a runner keeps
// nothing of a job after Run returns. Thread safety: every method may be
// called from several engine threads at once (Run for different TaskRuns in
// parallel). Failure: a TaskRun that cannot run is an outcome (not succeeded,
// with a reason such as TaskRunValidationFailed and a message), never an
// exception or a crash of the engine.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/tekton.h"
#include "pipeline/credentials.h"
#include "pipeline/step_actions.h"
#include "pipeline/step_runner.h"

namespace strake::pipeline {

struct WorkspaceMount {
  std::string name;  // the task's workspace name
  // The volume's directory, made by strake from validated names (empty when
  // an optional workspace is not bound), and the subPath inside it. Steps
  // write the volume, so the subPath is opened beneath host_path when the
  // TaskRun starts: a link a step left there never leads out of it.
  std::string host_path;
  std::string sub_path;
  bool read_only = false;
  std::string claim;    // PVC name, for $(workspaces.<w>.claim)
  bool secret = false;  // bound to a Secret: a cache input's digest is keyed
};

// One TaskRun, as the engine resolved it: what to run, with what.
struct TaskRunJob {
  std::string ns;
  std::string name;
  std::string uid;
  std::string task_name;
  std::string pipeline_run;
  std::string pipeline_run_uid;
  std::string pipeline;
  std::string pipeline_task;
  int retries = 0;
  model::TaskSpec spec;
  std::vector<model::Param> params;
  std::vector<WorkspaceMount> workspaces;
  std::shared_ptr<const std::map<std::string, model::ConfigMapData>> config_maps;
  std::shared_ptr<const std::map<std::string, model::ConfigMapData>> secrets;
  std::shared_ptr<const StepActions> step_actions;  // what steps' `ref`s name
  std::vector<Credential> credentials;              // written to HOME first
  // Secrets (in `secrets`) whose registry credentials pull the steps'
  // images: the pod template's imagePullSecrets, then the ServiceAccount's.
  std::vector<std::string> pull_secrets;
  // taskRunSpecs' computeResources, stepSpecs and sidecarSpecs.
  model::ComputeOverrides compute;
  // strake's own variables for every step (CI_DEPLOY_FREEZE), under the
  // step's env: a step that sets the same name keeps its own.
  std::map<std::string, std::string> context_env;
  std::optional<model::Millis> timeout;  // of the whole TaskRun (all attempts share it)
  bool ignore_failure = false;           // its pipeline task's onError: continue
  bool cache_checked = false;            // TryCache missed already; cache_key is its key
  std::string cache_key;
};

struct TaskResult {
  std::string name;
  model::ParamValue value;
};

// How one attempt ended.
struct TaskRunOutcome {
  bool succeeded = false;
  std::string reason;  // Succeeded, Failed, TaskRunTimeout, TaskRunCancelled, Cached, ...
  std::string message;
  std::vector<StepOutcome> steps;
  std::vector<TaskResult> results;
  std::string artifacts;                    // the steps' artifacts merged, as JSON text ("": none)
  std::map<std::string, std::string> logs;  // step name -> log file
  // container -> the image it ran in, "repository@digest" (not on the host)
  std::map<std::string, std::string> image_ids;
  // The steps' images (resolved: stepTemplate's and $(params) in place) it
  // did not run in: their steps ran with this machine's programs.
  std::vector<std::string> ignored_images;
  std::string cache_key;
};

// Every value of every Secret `job`'s steps can read: what their logs and
// every text of theirs that the engine keeps are masked with.
std::vector<std::string> SecretValues(const TaskRunJob& job);

// Masks each of `secrets` (base/mask.h) in `outcome`'s message, its steps'
// messages and its results. A step controls all of them (a result is a file
// it writes; a message, what it makes the runner report), and from the
// outcome they reach the TaskRun's status, the run's results, later tasks'
// params and events, which anyone who may read the run sees.
void MaskOutcome(TaskRunOutcome& outcome, const std::vector<std::string>& secrets);

class TaskRunner {
 public:
  virtual ~TaskRunner() = default;

  // Runs attempt `attempt` (0-based: $(context.task.retry-count)) of `job`
  // and blocks until it ends: succeeded, failed, out of time after `timeout`
  // (reason TaskRunTimeout) or cancelled (reason TaskRunCancelled) once
  // `cancel_fd`, an eventfd the engine owns, becomes readable; it may be
  // readable before Run is called. Processes run only while `slot` is held:
  // a runner that cannot take it returns TaskRunCancelled, having started
  // nothing. `timeout` counts from the slot's taking.
  virtual TaskRunOutcome Run(const TaskRunJob& job, int attempt,
                             std::optional<model::Millis> timeout, int cancel_fd, Slot& slot) = 0;

  // For a task with a `cache` block, before it takes a slot: a hit
  // (succeeded, reason Cached, its results restored) or a miss that carries
  // the key Run would store under (not succeeded). An error (the key cannot be
  // computed) leaves the task to Run, which reports it.
  virtual Result<TaskRunOutcome> TryCache(const TaskRunJob& job) = 0;

  // The log file of a step (its container name, "step-<name>"), known before
  // the step starts so that `strake logs -f` can follow it.
  virtual std::string LogPath(const std::string& ns, const std::string& taskrun,
                              const std::string& container) const = 0;

  // After a crash, before TaskRuns recorded as running are run again: ends
  // whatever the previous process left running for them (by TaskRun uid).
  // Returns how many processes it ended.
  virtual int KillOrphans(const std::vector<std::string>& uids) = 0;
};

}  // namespace strake::pipeline
