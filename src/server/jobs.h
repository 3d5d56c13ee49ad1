// JobReconciler: batch/v1 Jobs on the local target. A Job's first container
// runs as a process (this machine's programs: command and args, env with
// ConfigMap and Secret keys resolved, workingDir or the server's directory),
// its output appended to DATA_DIR/logs/jobs/NS/NAME.log. A failed attempt is
// retried until spec.backoffLimit; activeDeadlineSeconds ends it. Status as
// Kubernetes writes it: active, succeeded, failed, startTime,
// completionTime, and a Complete or Failed condition.
//
// An attempt's start is in the store before the process starts; a server
// killed meanwhile finds it at restart, kills what is left of its process
// group, and counts the attempt as failed (at-least-once, as a Pod lost
// with its node). Deleting a running Job kills its process.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "base/process.h"
#include "controller/controller.h"
#include "store/store.h"

namespace strake::server {

class JobReconciler {
 public:
  // `enqueue` asks for a key to be reconciled again (an attempt ended).
  // Attempts run in `sandbox` when it is not null (it must outlive this).
  JobReconciler(store::Store& store, const Clock& clock, std::string log_dir, std::string work_dir,
                const Sandbox* sandbox, std::function<void(const std::string&)> enqueue);
  ~JobReconciler();  // kills the attempts still running and waits for their threads
  JobReconciler(const JobReconciler&) = delete;
  JobReconciler& operator=(const JobReconciler&) = delete;

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  struct Attempt;
  void Finish(const std::string& key, int exit_code, bool deadline, const std::string& error);

  store::Store& store_;
  const Clock& clock_;
  std::string log_dir_;
  std::string work_dir_;
  const Sandbox* sandbox_;
  std::function<void(const std::string&)> enqueue_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Attempt>> running_;   // "ns/name"
  std::map<std::string, std::pair<int, std::string>> ended_;  // exit code, error; not yet recorded
  bool stopping_ = false;
};

}  // namespace strake::server
