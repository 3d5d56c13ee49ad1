#include "pipeline/planner.h"

#include <fmt/format.h>

#include <algorithm>

namespace strake::pipeline {

bool IsTerminal(TaskState s) { return s != TaskState::kPending && s != TaskState::kRunning; }

static bool IsFailure(TaskState s) { return s == TaskState::kFailed || s == TaskState::kCancelled; }
static bool IsFailure(const TaskFacts& t) { return IsFailure(t.state) && !t.failure_ignored; }

std::string_view SkipReason(std::string_view text) {
  for (const char* r : {skip::kWhen, skip::kParent, skip::kStopping, skip::kCancelled,
                        skip::kStopped, skip::kPipelineTimeout, skip::kTasksTimeout,
                        skip::kFinallyTimeout, skip::kMissingResults, skip::kEmptyMatrix}) {
    if (text == r) return r;
  }
  return skip::kParent;
}

bool CancelsRunning(const RunFacts& facts, bool fin) {
  if (fin) {
    return facts.pipeline_timed_out || facts.finally_timed_out ||
           facts.cancel == CancelMode::kCancelled;
  }
  return facts.pipeline_timed_out || facts.tasks_timed_out ||
         facts.cancel == CancelMode::kCancelled || facts.cancel == CancelMode::kCancelledRunFinally;
}

Plan MakePlan(const Dag& dag, const RunFacts& facts) {
  Plan plan;
  const auto& tasks = facts.tasks;
  bool stopping =
      facts.failed_to_start ||
      std::any_of(tasks.begin(), tasks.end(), [](const TaskFacts& t) { return IsFailure(t); });

  std::string_view blanket;  // A reason that skips everything not yet started.
  if (facts.pipeline_timed_out)
    blanket = skip::kPipelineTimeout;
  else if (facts.tasks_timed_out)
    blanket = skip::kTasksTimeout;
  else if (facts.cancel == CancelMode::kStoppedRunFinally)
    blanket = skip::kStopped;
  else if (facts.cancel != CancelMode::kNone)
    blanket = skip::kCancelled;
  else if (stopping)
    blanket = skip::kStopping;

  plan.cancel_running_tasks = CancelsRunning(facts, false);
  plan.cancel_running_finally = CancelsRunning(facts, true);

  // Regular tasks, in index order. A skip decided now can make a child
  // skippable in the same pass, so walk in topological order.
  std::vector<TaskFacts> state = tasks;
  for (size_t i : dag.order) {
    if (state[i].state != TaskState::kPending) continue;
    if (!blanket.empty()) {
      plan.skip.emplace_back(i, blanket);
      state[i] = {TaskState::kSkipped, blanket};
      continue;
    }
    bool ready = true;
    bool parent_skipped = false;
    for (size_t p : dag.parents[i]) {
      const TaskFacts& pf = state[p];
      if (pf.state == TaskState::kSkipped) {
        if (pf.skip_reason != skip::kWhen) parent_skipped = true;
      } else if (pf.state != TaskState::kSucceeded && !pf.failure_ignored) {
        ready = false;
      }
    }
    if (parent_skipped) {
      plan.skip.emplace_back(i, skip::kParent);
      state[i] = {TaskState::kSkipped, skip::kParent};
    } else if (ready) {
      plan.start.push_back(i);
    }
  }

  bool tasks_done = std::all_of(state.begin(), state.end(),
                                [&](const TaskFacts& t) { return IsTerminal(t.state); }) &&
                    plan.start.empty();
  if (!tasks_done) return plan;

  // Finally tasks: all at once, after every task.
  std::string_view finally_blanket;
  if (facts.pipeline_timed_out)
    finally_blanket = skip::kPipelineTimeout;
  else if (facts.finally_timed_out)
    finally_blanket = skip::kFinallyTimeout;
  else if (facts.cancel == CancelMode::kCancelled)
    finally_blanket = skip::kCancelled;
  bool finally_done = true;
  for (size_t i = 0; i < facts.finally.size(); ++i) {
    const TaskFacts& f = facts.finally[i];
    if (f.state == TaskState::kPending) {
      if (!finally_blanket.empty()) {
        plan.skip_finally.emplace_back(i, finally_blanket);
      } else {
        plan.start_finally.push_back(i);
        finally_done = false;
      }
    } else if (f.state == TaskState::kRunning) {
      finally_done = false;
    }
  }
  if (!finally_done) return plan;

  plan.done = true;
  auto final_state = [&](size_t i) {
    for (const auto& [idx, reason] : plan.skip_finally) {
      if (idx == i) return TaskState::kSkipped;
    }
    return facts.finally[i].state;
  };
  bool any_failed =
      std::any_of(state.begin(), state.end(), [](const TaskFacts& t) { return IsFailure(t); }) ||
      facts.failed_to_start;
  bool any_skipped = std::any_of(state.begin(), state.end(),
                                 [](const TaskFacts& t) { return t.state == TaskState::kSkipped; });
  for (size_t i = 0; i < facts.finally.size(); ++i) {
    any_failed = any_failed || (IsFailure(final_state(i)) && !facts.finally[i].failure_ignored);
    any_skipped = any_skipped || final_state(i) == TaskState::kSkipped;
  }
  if (facts.pipeline_timed_out || facts.tasks_timed_out || facts.finally_timed_out) {
    plan.outcome = {false, "PipelineRunTimeout"};
  } else if (facts.cancel != CancelMode::kNone) {
    plan.outcome = {false, "Cancelled"};
  } else if (any_failed) {
    plan.outcome = {false, "Failed"};
  } else if (any_skipped) {
    plan.outcome = {true, "Completed"};
  } else {
    plan.outcome = {true, "Succeeded"};
  }
  return plan;
}

std::string CompletionMessage(const RunFacts& facts) {
  int completed = 0, failed = 0, ignored = 0, cancelled = 0, skipped = 0;
  auto count = [&](const TaskFacts& t) {
    switch (t.state) {
      case TaskState::kSucceeded:
        ++completed;
        break;
      case TaskState::kFailed:
        ++completed;
        ++failed;
        ignored += t.failure_ignored;
        break;
      case TaskState::kCancelled:
        ++completed;
        ++cancelled;
        break;
      case TaskState::kSkipped:
        ++skipped;
        break;
      default:
        break;
    }
  };
  for (const auto& t : facts.tasks) count(t);
  for (const auto& t : facts.finally) count(t);
  if (ignored > 0) {
    return fmt::format("Tasks Completed: {} (Failed: {} (Ignored: {}), Cancelled {}), Skipped: {}",
                       completed, failed, ignored, cancelled, skipped);
  }
  return fmt::format("Tasks Completed: {} (Failed: {}, Cancelled {}), Skipped: {}", completed,
                     failed, cancelled, skipped);
}

}  // namespace strake::pipeline
