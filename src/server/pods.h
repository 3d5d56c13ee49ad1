// PodReconciler: v1 Pods on the local target, as the kubelet keeps them. A
// Pod's first container runs as a process of the runtime's BatchRunner
// (runtime/batch.h: in its image or with this machine's programs, as a
// Job's does; its output
// appended to DATA_DIR/logs/pods/NS/NAME.log, masked with every Secret of
// its namespace) and is started again by the Pod's restartPolicy: Always
// (the default) after any exit, OnFailure after a failure, Never not at all,
// after a back-off of 1 s doubled up to 5 min (the kubelet's is 10 s to
// 5 min) shown as CrashLoopBackOff. activeDeadlineSeconds ends it Failed
// (DeadlineExceeded). Status as the kubelet writes it: phase, conditions
// (PodScheduled, Initialized, ContainersReady, Ready), startTime, and the
// container's status with its state, lastState and restartCount; the
// health Argo CD gives that status is gitops/health.h's.
//
// What cannot run says why in the container's waiting state: a container
// on the host with no command (CreateContainerError), an image being pulled
// (ContainerCreating) or that cannot be (ErrImagePull), an env entry whose ConfigMap or Secret key
// is missing (CreateContainerConfigError, tried again every 10 s).
//
// Kubernetes refuses a change to a running Pod's spec; strake recreates the
// Pod instead (its process stopped, the new spec started, restartCount 0;
// status.observedGeneration says which spec runs).
//
// An attempt's marker is in the store before its process starts, so a
// server killed meanwhile finds it at restart, kills whatever carries the
// marker, and counts the attempt as a failed exit (the Pod then restarts or
// fails by its policy, as one whose node was lost). Reconciles of one key
// must not overlap (the controller's queue).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "controller/controller.h"
#include "runtime/batch.h"
#include "server/jobs.h"
#include "store/store.h"

namespace strake::server {

class PodReconciler {
 public:
  // `enqueue` asks for a key to be reconciled again (an attempt ended).
  PodReconciler(store::Store& store, const Clock& clock, AttemptPlace place,
                std::function<void(const std::string&)> enqueue);
  ~PodReconciler() = default;  // kills the attempts still running (runtime/batch.h)
  PodReconciler(const PodReconciler&) = delete;
  PodReconciler& operator=(const PodReconciler&) = delete;

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  struct Exit {
    int exit_code = 0;
    bool deadline = false;
    std::string error;
    std::string marker;  // of the attempt that ended
    bool oom_killed = false;
  };
  struct Pass;
  void Ended(const std::string& key, const runtime::BatchEnd& end);
  // The attempt ended: the Pod ends or restarts by its policy.
  Result<controller::ReconcileResult> RecordExit(Pass& p, const Exit& exit);
  // Starts an attempt, or says why none can start.
  Result<controller::ReconcileResult> Start(Pass& p);
  // The attempt's end, if one is waiting to be recorded for `marker`.
  std::optional<Exit> TakeExit(const std::string& key, const std::string& marker);

  store::Store& store_;
  const Clock& clock_;
  AttemptPlace place_;
  std::function<void(const std::string&)> enqueue_;
  std::mutex mu_;
  std::map<std::string, std::string> running_;   // key → marker of its attempt
  std::map<std::string, Exit> ended_;            // not yet recorded
  std::map<std::string, TimePoint> not_before_;  // a restart's back-off
  runtime::BatchRunner runner_;                  // last: its threads, which call Ended, end first
};

}  // namespace strake::server
