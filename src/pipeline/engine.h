// Engine: runs PipelineRuns and TaskRuns with two controllers over a Store.
//
// The PipelineRun reconciler (one worker, and the TaskRun worker that just
// finished a TaskRun, which plans its run itself instead of waking that
// worker; never two threads for one run) plans: it starts ready tasks as
// TaskRuns (each durably created, as Running, before it is handed to a
// worker), skips, cancels on timeouts and cancellation, starts finally
// tasks, and writes the final status. The TaskRun reconciler (2 × `parallel`
// workers) executes one TaskRun, with retries, and durably records its end
// before telling the PipelineRun. Up to `parallel` TaskRuns are created ahead
// of the free slots (as Tekton creates a TaskRun whose pod then waits to be
// scheduled): each prepares its run directory and waits for a slot, so a
// slot passes to the next task the moment a task's steps end, and the
// bookkeeping of both runs beside the next step (task_runner.h's Slot).
// Because every transition is in the store before the action it announces,
// a run killed at any instant resumes: finished TaskRuns keep their results,
// TaskRuns that were running or waiting for a slot are re-run
// (at-least-once) after their orphaned processes are killed.
//
// The reconcilers are sequences of calls: what to do is decided by pure
// functions on values (planner, run_state, resolve, run_status), and the
// steps run through a TaskRunner (task_runner.h), a TaskExecutor unless the
// caller gives another.
//
// Thread-safe. Observers are called on engine threads, one at a time.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "controller/controller.h"
#include "pipeline/executor.h"
#include "pipeline/planner.h"
#include "pipeline/task_runner.h"
#include "pipeline/validate.h"
#include "store/store.h"

namespace strake::pipeline {

struct RunState;
struct NewTaskRun;
struct RunStatusUpdate;
struct RunOutcome;

struct EngineOptions {
  ExecutorOptions executor;
  int parallel = 2;
  // Variables every step of a TaskRun in namespace `ns` sees, read when the
  // TaskRun starts (the server's: CI_DEPLOY_FREEZE during a deploy freeze).
  std::function<std::map<std::string, std::string>(const std::string& ns)> context_env;
};

struct ProgressEvent {
  enum class Type {
    kRunStarted,
    kTaskStarted,
    kTaskFinished,
    kTaskSkipped,
    kTaskRetrying,
    kRunFinished
  };
  Type type = Type::kRunStarted;
  std::string pipeline_run;
  std::string pipeline_task;  // "" for run events
  std::string task_run;
  std::string state;  // Running, Succeeded, Failed, Cached, Skipped, Cancelled...
  std::string message;
  int64_t duration_ms = 0;
  bool is_finally = false;
  size_t total_tasks = 0;
  // An event of a child PipelineRun (a task that runs a Pipeline): told as
  // its top run's, pipeline_task its path ("child/task"); its run's start
  // and end are nested too.
  bool nested = false;
};

class Engine {
 public:
  // Runs TaskRuns with a TaskExecutor made from options.executor.
  Engine(store::Store& store, EngineOptions options, const Clock& clock);
  // Runs TaskRuns with `runner`, which outlives the engine (a test's fake).
  // options.executor.data_dir still holds the runs' workspaces.
  Engine(store::Store& store, EngineOptions options, const Clock& clock, TaskRunner& runner);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void SetObserver(std::function<void(const ProgressEvent&)> fn) { observer_ = std::move(fn); }

  // Stores the run's resources (unless `store_resources` is false: a
  // Pipelines-as-Code run brings its own, inlined into the run) and the
  // PipelineRun (named, or generated from generateName). Returns its name;
  // Resume starts it. (Two calls, so the caller can free its copy of a large
  // pipeline before the run is built.)
  Result<std::string> Submit(const model::Resource& run, const std::vector<model::Resource>& all,
                             const std::vector<model::Param>& extra_params,
                             bool store_resources = true, bool check_params = true);
  // Starts a stored PipelineRun: a new one, or one that was interrupted.
  Status Resume(const std::string& ns, const std::string& name);
  // Blocks until the run is done; returns the PipelineRun as stored.
  Result<store::Resource> Wait(const std::string& ns, const std::string& name);
  // Cancels as Tekton's spec.status does (Cancelled, CancelledRunFinally, StoppedRunFinally).
  Status Cancel(const std::string& ns, const std::string& name, const std::string& mode);
  // How many runs the engine holds in memory: only those still going.
  size_t RunsInMemory() const;
  // How many created TaskRuns wait for a slot (for tests and status).
  size_t SlotWaiters() const;

 private:
  struct Job;
  class Reconciler;
  class SlotClaim;

  // `runner`, or a TaskExecutor when null.
  Engine(store::Store& store, EngineOptions options, const Clock& clock, TaskRunner* runner);
  Status Start(std::unique_ptr<RunState> run);
  // A stored run as the engine runs it (done when it ended), with its
  // children restored. A child PipelineRun's workspaces are `inherited`
  // from its parent's task; a run of its own binds its spec's.
  Result<std::unique_ptr<RunState>> LoadRun(const store::Resource& r,
                                            const std::vector<WorkspaceMount>* inherited);
  Status LoadCarried(RunState& run, const Json& strake);
  void BindWorkspaces(RunState& run, const std::vector<model::WorkspaceBinding>& given);
  // Creates (recovering: finds) the child PipelineRun of a task that runs a
  // Pipeline, and starts it; one that cannot start ends its task failed.
  Status StartChildRun(const std::shared_ptr<Job>& job);
  // The child PipelineRun a job starts: found (recovering: made by this
  // parent before a crash) or created now.
  Result<store::Resource> ChildRunToStart(const NewTaskRun& n);
  // The children of a run that ended which are not running in memory and
  // are still Running in the store (left so by a crash: their parent was
  // resumed cancelled or timed out, and never loaded them again): their
  // orphans killed, they and what they made end Cancelled.
  void EndOrphanedChildren(const std::string& ns, const std::string& uid, int depth = 0);
  // A child PipelineRun ended (or could not start): its parent's task hears
  // of it, and the parent is planned.
  void ChildRunEnded(const std::string& parent_key, const std::pair<bool, size_t>& task,
                     const std::string& child, TaskState state, const std::string& reason,
                     const std::string& message, std::vector<TaskResult> results,
                     int64_t duration_ms);
  Result<controller::ReconcileResult> ReconcileRun(const std::string& key);
  Result<controller::ReconcileResult> ReconcileTaskRun(const std::string& key);
  void Emit(const ProgressEvent& e);
  // With mu_ held: signals the cancel of the running TaskRuns of a task list
  // and stops creating its others (StopCreating's result).
  bool CancelRunning(RunState& run, bool fin);
  // With mu_ held: the TaskRuns to create now, each holding a slot.
  std::vector<std::shared_ptr<Job>> TakeJobs(RunState& run, const std::string& key, int64_t now);
  std::vector<ProgressEvent> SkipEvents(const RunState& run,
                                        const std::vector<std::pair<bool, size_t>>& skipped) const;
  Status WriteRunStatus(const std::string& ns, const std::string& name,
                        const RunStatusUpdate& update);
  Status CreateTaskRun(const std::shared_ptr<Job>& job);
  // Writes a new TaskRun (or a recovering one's status) and marks it created.
  Status RecordTaskRun(const Job& job, const store::Resource& tr, const std::string& reason,
                       const std::string& message);
  // The run is done: it leaves memory, and Wait returns.
  void Finish(const std::string& key, const std::string& name, const RunOutcome& outcome,
              const Json& results);
  // Records a TaskRun's end in memory, frees its slot, and plans its
  // PipelineRun on this thread (queues it when a worker holds it).
  void Complete(const std::shared_ptr<Job>& job, const TaskRunOutcome& outcome, int64_t took);
  void PollChanges();
  // Makes the jobs' cancel eventfds readable, and wakes those waiting for a slot.
  void SignalCancel(const std::vector<Job*>& jobs);
  // The slots (step_runner.h's Slot), first come first served; a slot
  // given back goes straight to the oldest waiter, whose `start` the giving
  // thread runs.
  bool AcquireSlot(Job& job, const std::function<void()>& start);
  bool WaitForSlot(Job& job, const std::function<void()>& start, std::unique_lock<std::mutex>& l);
  std::deque<Job*>::iterator OldestLiveWaiter();
  void GrantSlot(Job& job);
  void ReleaseSlot(Job& job);

  store::Store& store_;
  EngineOptions options_;
  const Clock& clock_;
  std::unique_ptr<TaskRunner> own_runner_;  // when the engine made its runner
  TaskRunner& runner_;
  std::function<void(const ProgressEvent&)> observer_;
  std::mutex observer_mu_;
  // Under observer_mu_: each running child PipelineRun's top run and path
  // ("child/"), for its events.
  std::map<std::string, std::pair<std::string, std::string>> nested_runs_;

  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::map<std::string, std::unique_ptr<RunState>> runs_;  // "ns/name"
  // TaskRuns created and not yet finished: at most 2 × parallel, so that a
  // TaskRun is ready (created, its run directory made) for each slot that frees.
  int created_ = 0;
  std::mutex jobs_mu_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // TaskRuns handed to workers, "ns/name"
  mutable std::mutex slot_mu_;
  std::deque<Job*> slot_queue_;  // waiting for a slot, oldest first
  int busy_ = 0;                 // slots held: at most `parallel`
  bool slots_closed_ = false;    // the engine is going: no slot is given

  std::unique_ptr<Reconciler> run_reconciler_;
  std::unique_ptr<Reconciler> taskrun_reconciler_;
  std::unique_ptr<controller::Controller> run_controller_;
  std::unique_ptr<controller::Controller> taskrun_controller_;
  std::thread poller_;
  bool stopping_ = false;
  std::condition_variable poll_cv_;
};

// The host directory of a run's emptyDir or volumeClaimTemplate workspace
// (an error if a name would lead it out of the data directory).
Result<std::string> RunWorkspaceDir(const std::string& data_dir, const std::string& ns,
                                    const std::string& run, const std::string& workspace);

// A pipeline workspace as the run binds it: its host directory beneath the
// data directory (a PVC's is volumes/<ns>/<claim>, kept across runs; a
// ConfigMap's or Secret's is written now, read-only) and the run's subPath in
// it, opened by the executor beneath the directory.
struct BoundWorkspace {
  std::string dir;
  std::string sub_path;
  std::string claim;
  bool read_only = false;
  bool secret = false;  // bound to a Secret: its files are the Secret's values
};
Result<BoundWorkspace> BindWorkspace(const std::string& data_dir, const std::string& ns,
                                     const std::string& run, const std::string& workspace,
                                     const model::WorkspaceBinding& b,
                                     const std::map<std::string, model::ConfigMapData>& config_maps,
                                     const std::map<std::string, model::ConfigMapData>& secrets);

}  // namespace strake::pipeline
