// Run status: what the engine writes in the store, as Tekton writes it, made
// from a RunState or a TaskRun's job and outcome. The PipelineRun's status
// (skipped tasks, child references, results, the outcome's condition) and
// the TaskRun's object and statuses (running, retrying, final).
//
// Pure: no clock (callers pass `now`), no store; the engine reads the
// current status, applies these, and writes. Tekton's
// pipelineRunFacts.GetSkippedTasks, GetChildReferences,
// GetPipelineConditionStatus and ApplyTaskResultsToPipelineResults.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "pipeline/planner.h"
#include "pipeline/run_state.h"
#include "pipeline/task_runner.h"
#include "store/store.h"

namespace strake::pipeline {

// A Succeeded condition (status True, False or Unknown), as a conditions list.
Json Condition(const std::string& status, const std::string& reason, const std::string& message,
               TimePoint now);
// The first condition's reason ("" without one) and status ("Unknown").
std::string ConditionReason(const Json& status);
std::string ConditionStatus(const Json& status);

// status.skippedTasks: every skipped task with its reason (and its `when`
// expressions when they skipped it), tasks then finally tasks.
Json SkippedTasks(const RunState& run);

// status.childReferences: every TaskRun created, tasks then finally tasks.
Json ChildReferences(const RunState& run);

// status.results: each pipeline result whose task results all exist.
Json PipelineResults(const RunState& run);

struct RunOutcome {
  bool succeeded = false;
  std::string reason;
  std::string message;
};

// The run's end as the condition says it: the planner's outcome, with a
// failure to start, a timeout or a cancel told as Tekton tells them.
RunOutcome FinalOutcome(const RunState& run, const Outcome& planned);

// What a reconcile changes on the PipelineRun's status: the skipped tasks
// and finally's start always; at the end the outcome, child references and
// results.
struct RunStatusUpdate {
  Json skipped_tasks;
  std::optional<int64_t> finally_start_ms;
  std::optional<RunOutcome> outcome;  // when the run is done
  Json child_references;
  Json results;
};
RunStatusUpdate StatusUpdate(const RunState& run, const Plan& plan, bool done);
// `status` (as stored) with the update applied.
Json UpdatedStatus(Json status, const RunStatusUpdate& update, TimePoint now);

// The TaskRun to create (or, recovering, to update) for a new TaskRun:
// Tekton's labels, owner reference and spec; a Running status whose steps
// name their log files (`log_path` of a container name).
store::Resource TaskRunResource(const NewTaskRun& n, TimePoint now,
                                const std::function<std::string(const std::string&)>& log_path);

// The child PipelineRun of a task that runs a Pipeline (n.runs_pipeline),
// made from its parent as stored: Tekton's labels and controller owner
// reference, the task's params, the parent's workspace bindings under the
// child's names with the task's subPaths, the task's timeout (within the
// parent's), and a Running status carrying the resolved spec and what the
// parent carries (ConfigMaps, Secrets, credentials, StepActions).
store::Resource ChildPipelineRunResource(const NewTaskRun& n, const store::Resource& parent,
                                         TimePoint now);

// A TaskRun's status once it ended: its steps, results, retries, cache key,
// and the step images it did not run in (status.strake.ignoredImages).
Json TaskRunFinalStatus(const TaskRunOutcome& outcome, int64_t start_ms, int64_t took_ms,
                        const Json& retries_status, TimePoint now);

// One entry of status.retriesStatus: an attempt that failed.
Json RetryStatus(const TaskRunOutcome& outcome, TimePoint attempt_start, TimePoint now);
// The status while the next attempt runs.
Json RetryingStatus(const TaskRunOutcome& failed, const Json& retries_status, TimePoint now);

}  // namespace strake::pipeline
