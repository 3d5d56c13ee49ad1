// RunState: what the engine knows of one PipelineRun while it runs, and the
// pure steps of its reconcile: facts from the children, deadlines, carrying
// a plan out (skips and starts), and the TaskRuns to create next.
//
// Values only: no clock (callers pass `now`, in Unix milliseconds), no
// store, no processes, no locks (the engine holds its lock around them).
// Tekton's pipelineRunFacts and ResolvedPipelineTask, as strake keeps them:
// facts are kept up to date as tasks change, never rebuilt per reconcile (a
// pipeline may have 10,000 tasks).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/tekton.h"
#include "pipeline/dag.h"
#include "pipeline/planner.h"
#include "pipeline/task_runner.h"
#include "store/store.h"

namespace strake::pipeline {

// Tekton's default-timeout-minutes: a run's, when it names none.
inline constexpr model::Millis kDefaultTimeout = std::chrono::minutes(60);

// One TaskRun of a pipeline task (one per matrix combination).
struct ChildRun {
  std::string name;
  std::string uid;
  TaskState state = TaskState::kPending;
  std::vector<TaskResult> results;
  bool created = false;  // in the store
  std::string reason;    // its condition's, once it ended
  Json artifacts = {};   // its status.artifacts (null: none)
};

struct PipelineTaskState {
  TaskFacts facts;
  bool started = false;
  std::vector<std::vector<model::Param>> combos;  // one per TaskRun
  std::vector<ChildRun> children;
  size_t next = 0;                   // next combo to create
  std::vector<model::Param> params;  // resolved at start
  // The embedded spec with the results it reads substituted; null: as written.
  std::shared_ptr<const model::TaskSpec> spec;
  // Workspace bindings' subPaths with their variables substituted, by binding name.
  std::map<std::string, std::string> sub_paths;
};

// A task's place: regular (by Dag index) or finally (by spec.finally position).
using TaskRef = std::pair<bool, size_t>;  // {is_finally, index}

struct RunState {
  std::string ns, name, uid, pipeline;
  Json object;
  int64_t start_ms = 0;
  std::optional<int64_t> finally_start_ms;
  model::PipelineSpec spec;
  Dag dag;
  std::map<std::string, model::ParamValue> params;
  std::map<std::string, std::string> task_names;
  std::map<std::string, std::string>
      workspace_paths;  // pipeline workspace -> host dir ("" unbound)
  std::map<std::string, std::string> workspace_sub_paths;  // the run's subPath in it
  std::map<std::string, std::string> workspace_claims;
  std::set<std::string> read_only_workspaces;
  std::set<std::string> secret_workspaces;  // bound to a Secret
  model::Timeouts timeouts;
  CancelMode cancel = CancelMode::kNone;
  std::vector<PipelineTaskState> tasks;    // by dag index
  std::vector<PipelineTaskState> finally;  // by spec.finally position
  std::string failure_reason, failure_message;
  bool done = false;
  std::shared_ptr<const std::map<std::string, model::ConfigMapData>> config_maps, secrets;
  std::shared_ptr<const StepActions> step_actions;  // as the run was submitted
  std::vector<Credential> credentials;              // of its ServiceAccount
  std::vector<std::string> pull_secrets;            // Secrets the steps' images are pulled with
  std::set<std::string> recover;  // TaskRuns found Running on resume: re-run, not re-created
  // The planner's view, kept up to date as tasks change. Change facts with Set.
  RunFacts facts;
  size_t pending = 0;            // regular tasks not started
  size_t unfinished = 0;         // regular tasks not terminal
  std::vector<TaskRef> dirty;    // tasks whose children changed
  std::deque<TaskRef> creating;  // started tasks with TaskRuns left to create, in start order
  // A child PipelineRun (a pipeline task's pipelineRef or pipelineSpec):
  // its parent ("ns/name", "" for a run of its own) and the parent's task it
  // runs. Its workspaces are the parent's directories, never its own.
  std::string parent_key;
  TaskRef parent_task{false, 0};

  const model::PipelineTask& PTask(bool fin, size_t i) const {
    return fin ? spec.finally[i] : spec.tasks[i];
  }
  PipelineTaskState& Task(bool fin, size_t i) { return fin ? finally[i] : tasks[i]; }
  const PipelineTaskState& Task(bool fin, size_t i) const { return fin ? finally[i] : tasks[i]; }
  void Set(bool fin, size_t i, TaskFacts f);
  // Rebuilds facts and counters from the tasks (after a resume).
  void InitFacts();
};

// The graph of run.spec's tasks (an error names a cycle or an unknown
// task), and a pending state for every task and finally task.
Status BuildGraph(RunState& run);

// The run's params: each of the pipeline's, from the run or else its
// default. A missing or mistyped one is the run's failure to start
// (ParameterMissing, ParameterTypeMismatch).
void BindParams(RunState& run, const std::vector<model::Param>& given);

// The run's taskRunSpecs: a timeout given there replaces its pipeline
// task's (Tekton's precedence); its compute resources go with the task's
// TaskRuns (TaskRunJob::compute).
void ApplyTaskRunSpecs(model::PipelineSpec& spec,
                       const std::vector<model::PipelineTaskRunSpec>& overrides);

// A started task's state, from its children: running while any runs or is
// still to be created, then cancelled, failed or succeeded.
TaskState Aggregate(const PipelineTaskState& t);

// "Succeeded", "Skipped", ...
std::string StateName(TaskState s);

// The Kubernetes name of a TaskRun for a pipeline task (matrix index >= 0
// for a fan-out), kept within 63 characters as Tekton does.
std::string TaskRunName(const std::string& pipeline_run, const std::string& pipeline_task,
                        int matrix_index);

// Recomputes the facts of the tasks whose children changed.
void RefreshFacts(RunState& run);

// Sets the facts the planner reads besides the tasks (timeouts, cancel,
// a failure to start) as of `now`; returns when the next deadline falls.
std::optional<int64_t> CheckDeadlines(RunState& run, int64_t now);

// True when planning would find nothing to do: nothing pending, nothing
// stopping running tasks. The steady state of a wide pipeline, where a
// reconcile only fills freed slots, skips the O(tasks) planning.
bool Quiet(const RunState& run);

// For a cancel or a timeout that stops a task list: the TaskRuns not yet
// created never will be; a task with none created goes back to pending, to
// be skipped by the next plan. Returns true if any did.
bool StopCreating(RunState& run, bool fin);

// What carrying a plan out changed.
struct PlanStep {
  std::vector<TaskRef> skipped;  // now Skipped (their reason is in their facts)
  bool status_dirty = false;     // the PipelineRun's status must be written
  bool progressed = false;       // the planner sees something new: plan again at once
};

// Skips what the plan skips and starts what it starts: each task resolved
// (when, params, matrix) against what the run knows; a task that cannot
// start fails the run (a finally task is skipped). Started tasks queue their
// TaskRuns in run.creating. Finally's start time is `now` when it first starts.
PlanStep ApplyPlan(RunState& run, const Plan& plan, int64_t now);

// A TaskRun to create.
struct NewTaskRun {
  bool is_finally = false;
  size_t index = 0;         // of its task, in its list
  size_t child = 0;         // its combination
  int matrix_index = -1;    // `child` for a matrixed task, else -1
  bool recovering = false;  // recorded Running before a crash: updated, not created
  TaskRunJob job;
  // The task runs a Pipeline: `job` names the child PipelineRun and holds
  // its params, workspaces (as the parent bound them) and timeout; it is no
  // TaskRun and takes no slot.
  bool runs_pipeline = false;
};

// Up to `slots` TaskRuns to create, from the started tasks in start order
// (children that finished before a crash are passed over); each is marked
// Running. Uids are new unless a crash left one.
std::vector<NewTaskRun> NextTaskRuns(RunState& run, size_t slots, int64_t now);

// A TaskRun's timeout: its task's own, within what is left at `now` of the
// run's budgets (pipeline, and tasks or finally); Tekton's default when the
// run has no pipeline timeout and the task none of its own.
std::optional<model::Millis> TaskRunTimeout(const RunState& run, bool fin, size_t i, int64_t now);

// Resume: a TaskRun of the run (or a child PipelineRun) found in the store
// takes its place among the children (finished ones keep their outcome and
// results). Returns its uid when it was running (its processes may be
// orphans), "" otherwise.
std::string RestoreChild(RunState& run, const store::Resource& taskrun);

// A child PipelineRun's workspaces: the directories its parent's task bound
// (WorkspaceMounts named as the child's pipeline declares them). An
// unbound one that is not optional is the run's failure to start.
void InheritWorkspaces(RunState& run, const std::vector<WorkspaceMount>& mounts);

// A child (a TaskRun, or a task's child PipelineRun) as its stored status
// says: its end, with its results and artifacts, or kRunning while it has
// none.
ChildRun ChildOutcome(const store::Resource& child);

// A child PipelineRun's end as its parent's task sees it: Succeeded,
// Cancelled or Failed by its condition's reason.
TaskState ChildPipelineRunState(const std::string& reason, bool succeeded);

// A child PipelineRun's status.results as a task's results.
std::vector<TaskResult> ResultsOf(const Json& results);

// Resume: the tasks the stored status lists as skipped stay skipped.
void RestoreSkipped(RunState& run, const Json& skipped_tasks);

}  // namespace strake::pipeline
