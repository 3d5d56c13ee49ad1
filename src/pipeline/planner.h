// The planner: given a pipeline's graph and what is known of each task, what
// happens next. Pure: no clock, no store, no processes; the PipelineRun
// reconciler gathers the facts, asks, and carries the plan out.
//
// Semantics are Tekton's: a failure makes the run "stopping" (nothing new
// starts, running tasks finish); a task skipped by its own `when` does not
// skip its dependents, any other skip does; finally tasks start together
// once every task is done; cancellation and the three timeouts skip what has
// not started and cancel what runs, per Tekton's rules for each.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/dag.h"

namespace strake::pipeline {

enum class TaskState { kPending, kRunning, kSucceeded, kFailed, kCancelled, kSkipped };

// Tekton's skipping reasons, verbatim.
namespace skip {
inline constexpr const char* kWhen = "When Expressions evaluated to false";
inline constexpr const char* kParent = "Parent Tasks were skipped";
inline constexpr const char* kStopping = "PipelineRun was stopping";
inline constexpr const char* kCancelled = "PipelineRun was gracefully cancelled";
inline constexpr const char* kStopped = "PipelineRun was gracefully stopped";
inline constexpr const char* kPipelineTimeout = "PipelineRun timeout has been reached";
inline constexpr const char* kTasksTimeout = "PipelineRun Tasks timeout has been reached";
inline constexpr const char* kFinallyTimeout = "PipelineRun Finally timeout has been reached";
inline constexpr const char* kMissingResults = "Results were missing";
inline constexpr const char* kEmptyMatrix = "Matrix Parameters have an empty array";
}  // namespace skip

struct TaskFacts {
  TaskState state = TaskState::kPending;
  std::string_view skip_reason;  // one of skip::k* (see SkipReason)
  // Failed, with onError: continue: done, as a success is, for the run,
  // its dependents and its outcome; counted as "Ignored".
  bool failure_ignored = false;
};

// The skip:: constant with this text (for reasons read back from the store).
std::string_view SkipReason(std::string_view text);

enum class CancelMode { kNone, kCancelled, kCancelledRunFinally, kStoppedRunFinally };

struct RunFacts {
  std::vector<TaskFacts> tasks;    // by Dag index
  std::vector<TaskFacts> finally;  // by position in spec.finally
  CancelMode cancel = CancelMode::kNone;
  bool pipeline_timed_out = false;
  bool tasks_timed_out = false;
  bool finally_timed_out = false;
  bool failed_to_start = false;  // e.g. an invalid result reference: stop like a failure
};

struct Outcome {
  bool succeeded = false;
  std::string reason;  // Succeeded, Completed, Failed, Cancelled, PipelineRunTimeout
};

struct Plan {
  std::vector<size_t> start;                              // regular tasks ready to start
  std::vector<std::pair<size_t, std::string_view>> skip;  // regular tasks to skip now
  std::vector<size_t> start_finally;
  std::vector<std::pair<size_t, std::string_view>> skip_finally;
  bool cancel_running_tasks = false;
  bool cancel_running_finally = false;
  bool done = false;
  Outcome outcome;  // when done
};

// Whether what `facts` say (a timeout, a cancel) stops the running tasks of
// a task list (finally's when `fin`): the plan's cancel_running_tasks and
// cancel_running_finally.
bool CancelsRunning(const RunFacts& facts, bool fin);

Plan MakePlan(const Dag& dag, const RunFacts& facts);

bool IsTerminal(TaskState s);

// The message Tekton puts on a PipelineRun's condition:
// "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2", and with
// ignored failures "Tasks Completed: 3 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0".
std::string CompletionMessage(const RunFacts& facts);

}  // namespace strake::pipeline
