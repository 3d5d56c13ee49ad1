// The promotion step machine, as Kargo's local orchestrator runs it
// (pkg/promotion/local_orchestrator.go, evaluator.go ShouldSkip,
// orchestrator.go DetermineFinalPhase at akuity/kargo 1c764767), as pure
// functions on each step's record: what a Promotion's driver asks before
// a step (skip it?), after an attempt (done, or tried again later?) and at
// the end (the Promotion's phase).
//
// - A step with no `if` is skipped when an earlier step that is not
//   continueOnError Failed or Errored; with one, when it is false (a
//   non-boolean is an error, which makes the step Errored). The `if` is
//   decided once, before the step first starts.
// - An attempt that errs counts against retry.errorThreshold (default the
//   step kind's, else 1): below it the step is Running and tried again;
//   at it, Errored (Failed if the step said Failed). A terminal error ends
//   it at once. retry.timeout (0 = none) is checked after each attempt.
// - The phase is the worst status of the steps that are not
//   continueOnError (Succeeded < Skipped < Running < Aborted < Failed <
//   Errored): Succeeded or Skipped -> Succeeded, else that status.
//
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rollout/expr.h"

namespace strake::delivery {

enum class StepStatus { kPending, kRunning, kSucceeded, kSkipped, kAborted, kFailed, kErrored };

std::string StepStatusName(StepStatus s);  // Kargo's: "Running", "Succeeded", …; "" for pending
std::optional<StepStatus> StepStatusFromName(const std::string& name);
// Kargo's severity order (Succeeded lowest); kPending ranks with Running.
int Severity(StepStatus s);

// status.stepExecutionMetadata[i], as Kargo keeps it.
struct StepRecord {
  std::string alias;
  StepStatus status = StepStatus::kPending;
  std::string message;
  int64_t started_ms = 0;  // 0: not started
  int64_t finished_ms = 0;
  int error_count = 0;
  bool continue_on_error = false;
};

// Whether any step that is not continueOnError Failed or Errored.
bool HasFailures(const std::vector<StepRecord>& records);

// success(), failure(), always() and status(alias) for the `if` and config
// of the step `current` (its alias; a task's inner step "task::step" finds
// its siblings by their short alias).
rollout::HostFunctions StatusFunctions(const std::vector<StepRecord>& records,
                                       const std::string& current);

// An `if` with no condition: skipped after a failure. With one: its value,
// evaluated by the caller (an error or a non-boolean errs the step).
bool SkipWithoutCondition(const std::vector<StepRecord>& records);

// What one attempt of a step returned.
struct Attempt {
  StepStatus status = StepStatus::kSucceeded;  // Succeeded, Failed, Errored, Running, …
  std::string message;
  std::string error;      // "" = none
  bool terminal = false;  // the error cannot go away by trying again
};

// Records `a` in `r` (started before), as Kargo's reconcileResultWithMetadata
// and determineStepCompletion: true when the step is finished (its status
// final, finished_ms set), false when it is to be tried again.
bool CompleteStep(StepRecord& r, const Attempt& a, int error_threshold, int64_t timeout_ms,
                  int64_t now_ms);

// The Promotion's phase ("Succeeded", "Failed", "Errored", "Aborted") and
// the message of the worst step.
std::pair<std::string, std::string> FinalPhase(const std::vector<StepRecord>& records);
// Whether a Promotion's phase is one FinalPhase gives: the Promotion is
// finished.
bool IsFinalPhase(const std::string& phase);

// A step's alias: `as`, else step-N / task-N (1-based). Aliases of that
// form are Kargo's reserved ones (model::IsReservedStepAlias): an `as` may
// not take one.
std::string DefaultAlias(size_t index, bool task);

}  // namespace strake::delivery
