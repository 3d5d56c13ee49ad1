// Child processes: spawn with an explicit environment and working directory
// in a session of their own, wait with a deadline, kill the whole group.
//
// Spawn uses posix_spawn (vfork-speed) and a pidfd, so waiting for one child
// never reaps another and a deadline needs no signals or threads. A Process
// owns its pidfd; destroying it does not kill or reap the child (call Wait or
// KillGroup first). Functions here are thread-safe; a Process is not shared.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace strake {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH from `env` if it has no '/'
  std::vector<std::string> env;   // the child's whole environment, "NAME=value"
  std::string cwd;                // empty: inherit
  int stdin_fd = -1;              // -1: /dev/null
  int stdout_fd = -1;             // -1: /dev/null
  int stderr_fd = -1;             // -1: /dev/null
  // Descriptors the child inherits at the same numbers (each is made
  // inheritable in the child only; the caller's stay close-on-exec).
  std::vector<int> inherit_fds;
};

class Process {
 public:
  Process() = default;
  Process(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

// Starts a child in a new session (it leads its own process group).
Result<Process> Spawn(const SpawnOptions& opts);

enum class WaitOutcome { kExited, kTimedOut, kWoken };

struct WaitResult {
  WaitOutcome outcome = WaitOutcome::kExited;
  int exit_code = 0;  // shell convention: 128+N when killed by signal N
};

// Waits until the child exits, `timeout` passes (nullopt: no limit) or
// `wake_fd` (an eventfd, -1: none) becomes readable. Reaps the child on exit.
Result<WaitResult> WaitProcess(Process& p, std::optional<std::chrono::milliseconds> timeout,
                               int wake_fd = -1);

// Sends sig to the process group `pgid`; a group that is gone is not an error.
void KillGroup(pid_t pgid, int sig);

// Kills the group (SIGKILL) and reaps the leader.
void KillAndReap(Process& p);

// The running binary's path ("strake" if /proc cannot say).
std::string SelfExe();

// This process's resident memory in bytes (0 if /proc cannot say).
size_t ResidentBytes();

// Resolves argv0 against PATH; empty if not found.
std::string FindExecutable(const std::string& name, const std::string& path_env);

}  // namespace strake
