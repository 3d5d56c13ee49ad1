// TaskExecutorRunner: the engine's TaskRunner on a TaskExecutor (steps on
// the host or in a bubblewrap sandbox) and KillOrphans. It adds nothing: the
// executor already runs one attempt, looks the cache up and names the logs.
//
// Thread-safe, as TaskExecutor is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pipeline/executor.h"
#include "pipeline/task_runner.h"

namespace strake::pipeline {

class TaskExecutorRunner final : public TaskRunner {
 public:
  explicit TaskExecutorRunner(ExecutorOptions options) : executor_(std::move(options)) {}

  TaskRunOutcome Run(const TaskRunJob& job, int attempt, std::optional<model::Millis> timeout,
                     int cancel_fd, Slot& slot) override;
  Result<TaskRunOutcome> TryCache(const TaskRunJob& job) override;
  std::string LogPath(const std::string& ns, const std::string& taskrun,
                      const std::string& container) const override;
  int KillOrphans(const std::vector<std::string>& uids) override;

 private:
  TaskExecutor executor_;
};

}  // namespace strake::pipeline
