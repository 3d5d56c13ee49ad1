#include "pipeline/executor_runner.h"

namespace strake::pipeline {

TaskRunOutcome TaskExecutorRunner::Run(const TaskRunJob& job, int attempt,
                                       std::optional<model::Millis> timeout, int cancel_fd,
                                       Slot& slot) {
  return executor_.Run(job, attempt, timeout, cancel_fd, &slot);
}

Result<TaskRunOutcome> TaskExecutorRunner::TryCache(const TaskRunJob& job) {
  return executor_.TryCache(job);
}

std::string TaskExecutorRunner::LogPath(const std::string& ns, const std::string& taskrun,
                                        const std::string& container) const {
  return executor_.LogPath(ns, taskrun, container);
}

int TaskExecutorRunner::KillOrphans(const std::vector<std::string>& uids) {
  return pipeline::KillOrphans(uids);
}

}  // namespace strake::pipeline
