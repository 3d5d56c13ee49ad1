// BatchRunner: processes that run to completion, one attempt per key (a
// batch/v1 Job's first container on the local target; server/jobs.h keeps
// the Job's status and retries). An attempt's output is appended to its log
// file, masked with the secrets it is given (base/mask.h); its environment
// carries a marker, so that every process it starts, one that left the
// process group (setsid) included, ends with it (base/process.h KillMarked)
// and a server killed meanwhile finds them at restart (KillLeftovers).
//
// An attempt ends by exiting, by passing its time limit (killed; `deadline`
// set), or by Stop (killed; error "stopped"); `on_end` is then told, on the
// attempt's own thread, once its whole output is in the log. The destructor
// kills the attempts still running without telling anyone: what recorded
// them as running finds them at the next start by their marker.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/cgroup.h"
#include "base/container.h"
#include "base/mask.h"
#include "base/process.h"
#include "base/result.h"

namespace strake::runtime {

struct BatchAttempt {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // besides the marker
  std::string cwd;
  std::string log_path;              // appended to; "" or unopenable: the output is dropped
  std::vector<std::string> secrets;  // masked in the log
  std::optional<std::chrono::milliseconds> limit;  // the time it may take
  std::string marker;                // NAME=VALUE, in the environment of all its processes
  const Sandbox* sandbox = nullptr;  // must outlive the attempt
  // Set: it runs in this container (an image's root; base/container.h)
  // instead of the sandbox, argv[0] looked up in the image; cwd unused.
  std::optional<ContainerSpec> container;
  // Set: its first process joins this cgroup (its resources.limits,
  // base/cgroup.h), removed when it ends.
  std::shared_ptr<Cgroup> cgroup;
};

struct BatchEnd {
  int exit_code = 0;        // 137 when killed
  bool deadline = false;    // killed at its limit
  std::string error;        // "stopped", or why it could not start
  std::string marker;       // the attempt's (BatchAttempt::marker): which attempt ended
  bool oom_killed = false;  // the kernel killed it at its memory limit
};

class BatchRunner {
 public:
  explicit BatchRunner(std::function<void(const std::string& key, const BatchEnd&)> on_end);
  ~BatchRunner();
  BatchRunner(const BatchRunner&) = delete;
  BatchRunner& operator=(const BatchRunner&) = delete;

  // Starts the attempt of `key`; returns its pid. Fails when one runs for
  // `key` already or the process cannot be started (on_end is not called).
  Result<pid_t> Start(const std::string& key, BatchAttempt attempt);
  // Kills the attempt of `key`, if one runs; on_end follows.
  void Stop(const std::string& key);
  bool Running(const std::string& key) const;

  // Kills whatever carries `marker`: an attempt a previous process started.
  static int KillLeftovers(const std::string& marker);

 private:
  struct Attempt;
  void Watch(const std::string& key, Process p, std::optional<std::chrono::milliseconds> limit,
             std::string marker, ProcessLog output, std::shared_ptr<Cgroup> cgroup);
  void Ended(const std::string& key, const BatchEnd& end);

  std::function<void(const std::string&, const BatchEnd&)> on_end_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Attempt>> running_;
  bool stopping_ = false;
};

}  // namespace strake::runtime
