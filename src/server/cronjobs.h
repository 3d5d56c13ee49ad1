// CronJobReconciler: batch/v1 CronJobs, as Kubernetes' CronJob controller
// keeps them. At each time its schedule names (base/cron.h; this machine's
// time zone, or UTC), a CronJob makes a Job from its jobTemplate, named
// <cronjob>-<minutes since the epoch of that time> and owned by it (so a
// server killed between the Job and the status makes the same Job again,
// finds it there, and never runs one time twice); the Job reconciler runs
// it. Only the latest missed time runs after a pause, and not at all past
// startingDeadlineSeconds; concurrencyPolicy Forbid skips a time while a
// Job runs, Replace deletes the running one first; suspend stops new ones.
// Finished Jobs beyond successfulJobsHistoryLimit (3) and
// failedJobsHistoryLimit (1) are deleted, oldest first. Status as
// Kubernetes writes it: active, lastScheduleTime, lastSuccessfulTime.
// Reconciles of one key must not overlap (the controller's queue).
#pragma once

#include <string>

#include "base/clock.h"
#include "controller/controller.h"
#include "store/store.h"

namespace strake::server {

class CronJobReconciler {
 public:
  CronJobReconciler(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace strake::server
