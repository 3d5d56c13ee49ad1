// TaskExecutor: runs one attempt of one TaskRun to completion.
//
// It resolves the task's params (defaults, types, enums), substitutes
// variables into the steps, lays out the run directory (scripts, results,
// step exit codes, home), and runs the steps either directly on the host or
// inside one bubblewrap sandbox per TaskRun: read-only host root, private
// /tmp, own PID namespace, clean environment, strake's data directory
// hidden, and workspaces, results and volumes at Tekton's own paths
// (/workspace/<name>, /tekton/results/<name>, each mountPath). It then reads
// the results (4096 bytes each, Tekton's max-result-size) and, for tasks with a `cache`
// block, stores or restores outputs by content key.
//
// Thread-safe: one TaskExecutor serves every worker; Run blocks its caller.
// The engine reaches it through TaskRunner (executor_runner.h); the job and
// outcome types are task_runner.h's.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/cgroup.h"
#include "base/container.h"
#include "base/process.h"
#include "model/tekton.h"
#include "pipeline/step_runner.h"
#include "pipeline/task_runner.h"

namespace strake::pipeline {

// The image a step runs in: its root filesystem unpacked on this machine,
// and what its config says of running it.
using StepImage = RunnableImage;

// Where steps' images come from (app/ implements it over images/'s store,
// pulling as needed; tests give their own). `image` and `pull_policy` as
// the step gives them ("" policy: Kubernetes' default for the image).
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual Result<StepImage> Get(const std::string& image, const std::string& pull_policy,
                                const TaskRunJob& job) = 0;
  // Whether a step or sidecar of `image` runs on the host's root in the
  // sandbox instead (no image, or one marked: base/container.h
  // RunsOnHost), with the host executor's well-known-image fallbacks.
  virtual bool OnHost(const std::string& image) const { return image.empty(); }
};

struct ExecutorOptions {
  std::string data_dir;
  bool sandbox = true;  // use bwrap when it is installed
  bool no_cache = false;
  std::string self_exe;            // this binary, run as `__run-steps` inside the sandbox
  size_t max_result_bytes = 4096;  // a result's (Tekton's max-result-size)
  // Not null: in the sandbox each step and sidecar runs in its own image
  // (base/container.h); null: on the host's root, read-only.
  ImageSource* images = nullptr;
  // The images marked to run on the host (--run-on-host), recorded with each
  // run so that a resumed one keeps them (the image source applies them).
  std::vector<std::string> run_on_host;
  // Not null: a step's or sidecar's computeResources hold (base/cgroup.h);
  // null: they are reported in its log as not applied, for
  // `cgroups_unavailable`.
  const Cgroups* cgroups = nullptr;
  std::string cgroups_unavailable;
};

class TaskExecutor {
 public:
  explicit TaskExecutor(ExecutorOptions options);

  // Runs attempt `attempt` (0-based; $(context.task.retry-count)) with at
  // most `timeout` left. cancel_fd (eventfd) cancels. With a `slot`, its
  // processes run only while it is held (TaskRunner::Run).
  TaskRunOutcome Run(const TaskRunJob& job, int attempt, std::optional<model::Millis> timeout,
                     int cancel_fd, Slot* slot = nullptr) const;

  // For a task with a `cache` block: restores outputs and results on a hit
  // (succeeded, reason Cached); on a miss returns the key (not succeeded).
  Result<TaskRunOutcome> TryCache(const TaskRunJob& job) const;

  bool sandboxed() const { return !bwrap_.empty(); }
  const ExecutorOptions& options() const { return options_; }

  // Log file of a step of a TaskRun (stable, so `logs -f` can follow it).
  std::string LogPath(const std::string& ns, const std::string& taskrun,
                      const std::string& step) const;

 private:
  class Attempt;
  // runs/<ns> and logs/<ns>, made once per namespace rather than per TaskRun.
  Status EnsureNamespaceDirs(const std::string& ns) const;
  // This data directory's own random key (cache/key, made on first use). A
  // Secret a step reads enters a cache key only as an HMAC with it: the key
  // is in the TaskRun's status, beside everything else that goes into it,
  // and a plain digest would let a reader test guesses of the Secret.
  Result<std::string> CacheSecretKey() const;

  ExecutorOptions options_;
  std::string bwrap_;
  // On the host: what a task's steps leave running out of their process
  // groups is swept by marker, one /proc scan for the tasks that end
  // together (base/process.h); flushed when the executor goes.
  std::unique_ptr<MarkedSweeper> sweeper_;
  mutable std::mutex dirs_mu_;
  mutable std::set<std::string> namespaces_;
  mutable std::mutex cache_key_mu_;
  mutable std::string cache_secret_key_;
};

// bwrap arguments that show the host's root read-only while letting each of
// `mount_points` be created: a directory on the way to a mount point that
// does not exist on the host becomes a tmpfs with its entries bound back
// read-only. Exposed for tests.
std::vector<std::string> SandboxRootArgs(const std::vector<std::string>& mount_points);

// Writes a ConfigMap's or Secret's data as read-only files into dir: every
// key, or only `items` (each key must exist) at their paths beneath dir.
Status Materialize(const model::ConfigMapData& data, const std::string& dir,
                   const std::vector<model::KeyToPath>& items);

// The environment marker every step process of a TaskRun carries, so that
// orphans left by a crash, and on the host what a step started out of its
// process group (setsid), can be found and killed (base/process.h KillMarked).
inline constexpr const char* kTaskRunMarker = "STRAKE_TASKRUN_UID";
// Kills every process whose environment holds kTaskRunMarker=uid for a uid
// in uids, with its process group; returns how many.
int KillOrphans(const std::vector<std::string>& uids);

}  // namespace strake::pipeline
