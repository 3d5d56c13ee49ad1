// StepRunner: runs one TaskRun's steps in order, as Tekton's entrypoint does.
//
// Each step is a process in its own group with an explicit environment;
// stdout and stderr go to the step's log file, through a SecretMasker when
// the task can read secrets. A step's exit code is written
// to its exitCode file (for $(steps.<name>.exitCode.path)). A failing step
// stops the task unless its onError is "continue"; a step timeout ends the
// step with TimeoutExceeded. A step whose `when` does not hold is Skipped;
// earlier steps' results are substituted into a step as it starts. Sidecars start first,
// the steps once every sidecar's startup and readiness probes succeed, and are
// stopped (SIGTERM, then SIGKILL after a grace period) when the steps are done.
//
// The same code runs in-process for the host executor and as
// `strake __run-steps PLAN STATUS` inside a sandbox, so plans are JSON.
// RunSteps blocks; cancel_fd (an eventfd, -1: none) stops it early.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace strake::pipeline {

using Json = nlohmann::ordered_json;

// One of the engine's `parallel` slots, as a TaskRun's attempt takes it.
// The engine creates TaskRuns ahead of the free slots, so a runner prepares
// everything first (the run directory, the step plan) and takes the slot
// right before its first process starts; it gives it back the moment its
// steps are done, before reading results or saving the cache. The slot
// passes from one task to the next without a wake-up: the thread that gives
// it back runs the next one's `start` (its first spawn) at once, and the
// bookkeeping of both follows (docs/benchmarks.md, "the hand-off").
class Slot {
 public:
  virtual ~Slot() = default;
  // Blocks until the slot is this attempt's, first come first served, and
  // runs `start` (if any) once it is, on this thread or on the one that gave
  // the slot; returns after `start` has run. False: the TaskRun was
  // cancelled while it waited; `start` did not run, and nothing may start.
  virtual bool Acquire(const std::function<void()>& start) = 0;
  // Gives the slot back; does nothing when it is not held (so a runner may
  // call it early, and the engine again after Run).
  virtual void Release() = 0;
};

// A step's `when` expression, evaluated as the step starts.
struct StepWhen {
  std::string input;
  std::string op;  // "in" or "notin"
  std::vector<std::string> values;
};

// A sidecar's startup or readiness probe (Kubernetes' semantics): exec
// runs `command` as the sidecar would; tcpSocket and httpGet go to
// 127.0.0.1:port (the pod's own address, here).
struct ProbePlan {
  std::string name;     // "startupProbe" or "readinessProbe"
  std::string handler;  // "exec", "tcpSocket" or "httpGet"
  std::vector<std::string> command;
  int port = 0;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;  // a startupProbe's: failing this often fails the task
};

struct StepPlan {
  std::string name;  // "step-<name>" or "step-unnamed-<i>"
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd;
  std::optional<int64_t> timeout_ms;
  bool continue_on_error = false;
  std::string log_path;
  std::string exit_code_path;
  std::string notice;  // written first to the log (a secret too short to mask)
  int script_fd = -1;  // on the host: the script's memfd, inherited at its number
  // Evaluated as the step starts: when one does not hold, the step is
  // Skipped (exit code 0) and the next one runs.
  std::vector<StepWhen> when;
  // Where earlier steps' results are (step_actions.h StepResultPath): set
  // when argv, env or when read them ($(steps.<step>.results.<name>)), which
  // are substituted as the step starts.
  std::string step_results_dir;
  // stdoutConfig / stderrConfig: the stream also goes to this file, as
  // written (the log stays masked). The same path for both: one file.
  std::string stdout_path;
  std::string stderr_path;
  // A script that reads earlier steps' artifacts ($(steps.<s>.outputs.<n>),
  // which Tekton allows in a script): its text, written to script_path (which
  // argv names) with those substituted as the step starts.
  std::string script_text;
  std::string script_path;
  // A sidecar's probes, in order: the steps start once each has succeeded.
  std::vector<ProbePlan> probes;
  // Not empty: the step runs in its image, as base/container.h's
  // ContainerArgs say (in the sandbox only).
  std::vector<std::string> container;
  // Its cgroup's cgroup.procs descriptors (base/cgroup.h), open in this
  // process (inherited into the sandbox at the same numbers): the step's
  // first process joins them, so its resources.limits hold.
  std::vector<int> cgroup_fds;
};

struct TaskPlan {
  std::vector<StepPlan> steps;
  std::vector<StepPlan> sidecars;
  std::string status_path;            // written after each step, when set
  std::optional<int64_t> timeout_ms;  // of the whole task: caps every step
  // Secret values the task can read: masked in every step's and sidecar's
  // log (base/mask.h), however they are written.
  std::vector<std::string> secrets;
};

struct StepOutcome {
  std::string name;
  int exit_code = 0;
  std::string reason;  // Completed, Error, TimeoutExceeded, Cancelled, Skipped, or a start error
  std::string message;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
};

struct StepsOutcome {
  std::vector<StepOutcome> steps;
  bool cancelled = false;
  bool timed_out = false;  // the task's own timeout
  bool failed = false;
  std::string message;  // why it failed, when it did
};

Json ToJson(const TaskPlan& p);
Result<TaskPlan> TaskPlanFromJson(const Json& j);
Json ToJson(const StepsOutcome& o);
StepsOutcome StepsOutcomeFromJson(const Json& j);

// Runs the plan's sidecars and steps. With a `slot`, everything runs only
// once it is taken (cancelled, with no steps, if it cannot be); the first
// step is started by Acquire's `start` when there are no sidecars.
StepsOutcome RunSteps(const TaskPlan& plan, int cancel_fd, Slot* slot = nullptr);

// Entry point of `strake __run-steps PLAN_FILE`: exit 0 after writing status.
int RunStepsMain(const std::string& plan_path);

}  // namespace strake::pipeline
