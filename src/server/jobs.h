// JobReconciler: batch/v1 Jobs on the local target, as Kubernetes' Job
// controller keeps them. A Job's first container runs as a process of the
// runtime's BatchRunner (runtime/batch.h): in its image (Kubernetes' rules
// for command and args), or, when its image is marked to run on the host or
// it names none, with this machine's programs (command and args; one with
// neither fails as a ConfigError); env with ConfigMap and Secret keys
// resolved, workingDir or the server's directory; its output appended to
// DATA_DIR/logs/jobs/NS/NAME.log,
// masked with every Secret of its namespace (its env may hold any of them).
// A failed attempt is retried until spec.backoffLimit; activeDeadlineSeconds
// ends it. Status as Kubernetes writes it: active, succeeded, failed,
// startTime, completionTime, and a Complete or Failed condition.
//
// An attempt's start, with the environment marker all its processes carry
// (STRAKE_JOB), is in the store before the process starts; a server killed
// meanwhile finds it at restart, kills every process with the marker (its
// pid recorded or not), and counts the attempt as failed (at-least-once, as
// a Pod lost with its node). An attempt that ends (exit, deadline, a deleted
// Job) takes every process with its marker along, a descendant that left
// the process group (setsid) included, as a pod's processes end with it.
// Reconciles of one key must not overlap (the controller's queue).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/container.h"
#include "base/process.h"
#include "controller/controller.h"
#include "model/workloads.h"
#include "runtime/batch.h"
#include "store/store.h"
#include "targets/local.h"

namespace strake::server {

// Where a container's attempt runs and writes: its log under
// LOG_DIR/NS/NAME.log, its working directory when the container names none,
// and the sandbox (null: none; it must outlive the attempt).
struct AttemptPlace {
  std::string log_dir;
  std::string work_dir;
  const Sandbox* sandbox = nullptr;
  // Not null: containers run in their images, pulled through this (it
  // must outlive the reconcilers), not on the host's programs.
  ContainerImages* images = nullptr;
  // Not null: a container's resources.limits hold (base/cgroup.h).
  const Cgroups* cgroups = nullptr;
};

// Why container `c`, on the host (no image, or one marked to run there),
// cannot run: it has neither command nor args.
std::string NoCommand(const model::Container& c);

// The image container `c` runs in: none (on the host: `image` unset),
// the image, or why it cannot start yet — `reason` ContainerCreating while
// it is pulled (`done` is then called when the pull ends) or ErrImagePull,
// with `message`, as Kubernetes says it of a waiting container.
// `pull_secrets`: the pod's, read (rollout::PullSecrets).
struct AttemptImage {
  std::optional<RunnableImage> image;
  std::string reason, message;
};
AttemptImage ImageForAttempt(const AttemptPlace& place, const model::Container& c,
                             const std::vector<std::string>& pull_secrets,
                             std::function<void()> done);

// The attempt that runs container `c` of NS/NAME (a Job's or a Pod's) with
// its environment `env` already resolved: command and args, PATH and HOME
// (or, in `image`, as base/container.h's ContainerFor makes them), the
// namespace's Secrets to mask in its log. The marker is the caller's.
Result<runtime::BatchAttempt> ContainerAttempt(
    store::Store& store, const std::string& ns, const std::string& name, const model::Container& c,
    const std::vector<std::pair<std::string, std::string>>& env, const AttemptPlace& place,
    const RunnableImage* image = nullptr);

// What is left of an activeDeadlineSeconds of `seconds` (none: ≤ 0,
// Millis::max()) counted from the status's startTime (`now` when it has
// none), never below zero.
std::chrono::milliseconds DeadlineLeft(const Clock& clock, const store::Json& status,
                                       const std::string& now, int64_t seconds);

class JobReconciler {
 public:
  // `enqueue` asks for a key to be reconciled again (an attempt ended).
  // Attempts run as `place` says (in its sandbox or images, which must
  // outlive this).
  JobReconciler(store::Store& store, const Clock& clock, AttemptPlace place,
                std::function<void(const std::string&)> enqueue);
  ~JobReconciler() = default;  // kills the attempts still running (runtime/batch.h)
  JobReconciler(const JobReconciler&) = delete;
  JobReconciler& operator=(const JobReconciler&) = delete;

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  // An attempt ended (the runner's thread): recorded at the next reconcile.
  void Ended(const std::string& key, const runtime::BatchEnd& end);
  // A Job whose container's image is not here yet (`img` says why).
  Result<controller::ReconcileResult> WaitForImage(const store::Resource& got,
                                                   const model::Job& job, const AttemptImage& img,
                                                   store::Json& status, const std::string& now);

  store::Store& store_;
  const Clock& clock_;
  AttemptPlace place_;
  std::function<void(const std::string&)> enqueue_;
  std::mutex mu_;
  std::map<std::string, std::pair<int, std::string>> ended_;  // exit code, error; not yet recorded
  runtime::BatchRunner runner_;  // last: its threads, which call Ended, end first
};

}  // namespace strake::server
