// Child processes: spawn with an explicit environment and working directory
// in a session of their own, wait with a deadline, kill the whole group.
//
// Spawn uses posix_spawn (vfork-speed) and a pidfd, so waiting for one child
// never reaps another and a deadline needs no signals or threads. A Process
// owns its pidfd; destroying it does not kill or reap the child (call Wait or
// KillGroup first). Functions here are thread-safe; a Process is not shared.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace strake {

struct ContainerSpec;

// Commands that come from git (workloads, Jobs, sync hooks, exec probes,
// analysis jobs) run as pipeline steps do: in a bubblewrap sandbox with the
// host's root read-only, `hidden` directories (the data directory) behind an
// empty tmpfs, its own /proc, /dev, /tmp, PID and IPC namespaces, and only
// `writable` directories writable. The network is the host's: a workload
// listens on loopback. A signal to the process group reaches the command
// (bwrap's own init ignores it), so a graceful stop still works; the
// sandbox's outer process ends first, the group when the command has.
struct Sandbox {
  std::string bwrap;  // bwrap's path
  std::vector<std::string> hidden;
  std::vector<std::string> writable;
  bool die_with_parent = false;  // a workload outlives a server restart: false
};

// bwrap's capability arguments. A sandbox started by root keeps root's
// capabilities unless told otherwise, and CAP_SYS_ADMIN would let a command
// unmount the tmpfs that hides the data directory: when this process is
// root, the command gets Docker's default set less CAP_DAC_OVERRIDE (so
// a read-only file is read-only to it too); none of it can unmount or
// remount. Empty when not root (bwrap then gives none).
std::vector<std::string> SandboxCapabilityArgs();

// bwrap's arguments for running `argv` in `cwd` inside the sandbox.
std::vector<std::string> SandboxArgv(const Sandbox& box, const std::vector<std::string>& argv,
                                     const std::string& cwd);

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
  // Not null: the command runs inside this sandbox (argv[0] is still looked
  // up on PATH first, so a missing command is the same error).
  const Sandbox* sandbox = nullptr;
  // Not null: the command runs in this container (base/container.h), argv[0]
  // looked up on env's PATH inside its image.
  const ContainerSpec* container = nullptr;
  // cgroup.procs descriptors (base/cgroup.h) the child joins before it
  // execs: its resource limits.
  std::vector<int> cgroup_fds = {};
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
// Starts opts' command in the running container (with a PID namespace)
// that `waiter` started (ForkIntoRunningContainer), in `cwd` there; opts'
// sandbox, container and cwd are not used.
Result<Process> SpawnInto(pid_t waiter, const std::string& cwd, const SpawnOptions& opts);

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

// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it
// starts from then on; returns that set, for sigwait/sigtimedwait to take
// them (a process's main loop that stops on either).
sigset_t BlockStopSignals();

// Kills the group (SIGKILL) and reaps the leader.
void KillAndReap(Process& p);

// Processes found again by a marker in their environment: "NAME=value", one
// whole entry of /proc/PID/environ, which every descendant inherits. This is
// how strake finds what it started when the record of it was lost (kill -9
// between a spawn and its record) or when a descendant left the process
// group (setsid, a daemon): what a sandbox's PID namespace or a cgroup would
// hold. Never this process; never a process whose environment cannot be read
// (another user's). A descendant that both clears its environment and leaves
// its group is out of reach.
bool HasEnvMarker(pid_t pid, const std::string& marker);
std::vector<pid_t> MarkedProcesses(const std::vector<std::string>& markers);
// Sends sig to every marked process and to its process group, once; returns
// how many marked processes there were.
int SignalMarked(const std::vector<std::string>& markers, int sig);
// SIGKILLs marked processes and their groups, pass after pass until a pass
// finds none (a child forked meanwhile carries the marker and is found by
// the next); returns how many were killed.
int KillMarked(const std::vector<std::string>& markers);

// MarkedSweeper: KillMarked for markers that come one by one (a task on the
// host ending, each with its own marker), with one scan of /proc for all
// the markers added while the previous scan ran or within `batch` of the
// first. A scan reads the environment of every process on the machine;
// batching is what keeps that from costing each of thousands of short
// tasks a full scan. A marker's processes are killed within `batch` plus a
// scan of its Add; Flush (and the destructor) waits until every marker
// added before it has been swept. Thread-safe.
class MarkedSweeper {
 public:
  explicit MarkedSweeper(std::chrono::milliseconds batch = std::chrono::milliseconds(20));
  ~MarkedSweeper();  // flushes
  MarkedSweeper(const MarkedSweeper&) = delete;
  MarkedSweeper& operator=(const MarkedSweeper&) = delete;

  void Add(std::string marker);
  void Flush();
  // How many processes the sweeps have killed, and how many scans they took.
  int killed() const;
  int scans() const;

 private:
  void Loop();

  const std::chrono::milliseconds batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> pending_;
  uint64_t added_ = 0;     // markers added, in all
  uint64_t swept_ = 0;     // of those, the ones swept
  uint64_t flush_to_ = 0;  // a Flush waits for the markers up to this one
  int killed_ = 0;
  int scans_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// The running binary's path ("strake" if /proc cannot say).
std::string SelfExe();

// This process's environment as "NAME=value" entries, for a child that is to
// inherit it (SpawnOptions::env is always the child's whole environment).
std::vector<std::string> CurrentEnv();

// This process's resident memory in bytes (0 if /proc cannot say).
size_t ResidentBytes();
// A child's (or any readable process's); 0 if gone or /proc cannot say.
size_t ResidentBytes(pid_t pid);

// Resolves argv0 against PATH; empty if not found.
std::string FindExecutable(const std::string& name, const std::string& path_env);

}  // namespace strake
