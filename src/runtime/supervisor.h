// Supervisor: runs workload replicas as supervised local processes.
//
// A group is one revision of one workload (a ReplicaSet, in Kubernetes'
// terms): a template and a replica count. Each replica gets its own free
// port on 127.0.0.1, passed as PORT and substituted for $(PORT) in argv and
// env, runs in a session of its own with stdout/stderr appended to its log
// file, and is watched by a monitor thread: readiness and liveness probes
// (httpGet, tcpSocket, exec, with Kubernetes' fields and defaults), restart
// with exponential backoff after an exit or a failed liveness probe
// (CrashLoopBackOff: 10s doubling to 5 minutes, reset after 10 minutes of
// running), graceful stop (SIGTERM to the process group, the grace period,
// then SIGKILL).
//
// Replicas outlive the control plane: each has a record (pid, process start
// time, port) in the supervisor's directory, and Recover() re-adopts the live
// ones after a restart, kill -9 included, without stopping them; the start
// time guards against a recycled pid. Apply() claims adopted replicas of the
// same group and index; CollectOrphans() stops the ones nobody claimed.
// Destroying a Supervisor stops watching but leaves the processes running.
//
// The record is written before the process starts, naming a marker
// (kReplicaMarker=<random>) that the process and all its descendants carry
// in their environment: a replica started but not yet recorded with its pid
// when the supervisor was killed is found by it and stopped by Recover().
// The marker also reaches what a replica started out of its process group
// (setsid, a daemon): a replica that exits or is stopped takes it along, as
// a sandbox's PID namespace does.
//
// Thread-safe. The change callback runs on monitor threads and must be fast.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/cgroup.h"
#include "base/container.h"
#include "base/process.h"
#include "base/result.h"

namespace strake::runtime {

struct ProbeSpec {
  enum class Kind { kHttpGet, kTcpSocket, kExec };
  Kind kind = Kind::kHttpGet;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> command;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 1;
  int success_threshold = 1;
  int failure_threshold = 3;
};

struct ReplicaTemplate {
  std::vector<std::string> argv;  // $(PORT) is replaced by the replica's port
  std::vector<std::string> env;   // "NAME=value"; PORT is added
  std::string cwd;
  std::optional<ProbeSpec> readiness;
  std::optional<ProbeSpec> liveness;
  // With no readiness probe: ready once PORT accepts connections (true) or
  // as soon as the process runs (false, Kubernetes' rule for port-less pods).
  bool ready_when_listening = true;
  int grace_seconds = 30;
  // Set: the replica runs in this container (an image's root, base/
  // container.h) instead of the sandbox, argv[0] looked up in the image;
  // exec probes run in it too. cwd is then the container's.
  std::optional<ContainerSpec> container;
  // resources.limits: each run of the replica in a cgroup of its own with
  // them (SupervisorOptions::cgroups), "OOMKilled" in its message when the
  // kernel ends it at its memory limit.
  CgroupLimits limits;
};

struct GroupSpec {
  std::string key;  // unique per workload revision, e.g. "rollout/default/web/5d8f7c"
  int replicas = 0;
  ReplicaTemplate tmpl;
};

struct ReplicaStatus {
  int index = 0;
  pid_t pid = -1;
  uint16_t port = 0;
  bool ready = false;
  // When it last became ready (an adopted replica: when it was adopted),
  // for minReadySeconds.
  std::chrono::steady_clock::time_point ready_since{};
  int restarts = 0;
  std::string state;    // Starting, Running, Ready, CrashLoopBackOff, Failed, Terminating
  std::string message;  // last exit, probe failure or spawn error
  std::string log_path;
};

struct SupervisorOptions {
  std::chrono::milliseconds initial_backoff{10'000};
  std::chrono::milliseconds max_backoff{300'000};
  std::chrono::milliseconds backoff_reset_after{600'000};
  // Between the replica's port leaving the router's tables (SetDrain) and
  // SIGTERM: requests the router had already sent there are answered
  // before the process starts to go.
  std::chrono::milliseconds drain_delay{300};
  // Not null: replicas and exec probes run in this sandbox (their commands
  // come from git). It must outlive the supervisor.
  const Sandbox* sandbox = nullptr;
  // Not null: replicas' limits hold (base/cgroup.h); it must outlive the
  // supervisor.
  const Cgroups* cgroups = nullptr;
};

// The crash-loop back-off, Kubernetes' way: the wait before restarting a
// replica that exited after running for `ran` doubles from the last one, up
// to max_backoff, and starts over from initial_backoff when it had run for
// backoff_reset_after. Pure.
std::chrono::milliseconds NextBackoff(std::chrono::milliseconds last, std::chrono::milliseconds ran,
                                      const SupervisorOptions& options);

class Supervisor {
 public:
  Supervisor(std::string dir, SupervisorOptions options = {});
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Called with a group's key whenever one of its replicas changes state.
  void SetOnChange(std::function<void(const std::string& key)> fn);
  // Called with a replica's port when it is to be stopped, after it was
  // marked not ready (and that announced): returns once no new request can
  // reach the port (the router's table no longer names it), or when it
  // gives up waiting. drain_delay follows, for requests under way. Setting
  // another (or none) waits for the calls of the last one to return.
  void SetDrain(std::function<void(uint16_t port)> fn);

  // Reads the records of a previous run and adopts the live processes.
  Status Recover();
  // Creates the group or scales it; replicas above `replicas` are stopped
  // gracefully (the highest indices first), in the background.
  Status Apply(const GroupSpec& spec);
  // Stops every replica of the group, in the background.
  void Remove(const std::string& key);
  // Stops adopted replicas that no Apply claimed.
  void CollectOrphans();
  // Stops every replica and waits for them (tests, `strake serve --stop-workloads`).
  void StopAll();

  // The group's replicas, adopted ones not yet claimed by Apply included.
  std::vector<ReplicaStatus> Replicas(const std::string& key) const;
  std::vector<std::string> Groups() const;
  // Where replica `index` of group `key` writes its log.
  std::string LogPath(const std::string& key, int index) const;

  struct Replica;

 private:
  void Notify(const std::string& key);
  void Drain(uint16_t port);
  void Reap();

  std::string dir_;
  SupervisorOptions options_;
  mutable std::mutex mu_;
  std::function<void(const std::string&)> on_change_;
  std::function<void(uint16_t)> drain_;
  int draining_ = 0;  // calls of drain_ under way
  std::condition_variable drained_;
  std::map<std::string, std::vector<std::unique_ptr<Replica>>> groups_;
  std::vector<std::unique_ptr<Replica>> stopping_;
  std::map<std::string, std::map<int, std::unique_ptr<Replica>>> orphans_;  // adopted, unclaimed
};

// The environment variable that marks every process of a replica's run.
inline constexpr const char* kReplicaMarker = "STRAKE_REPLICA";

// A directory-safe form of a group key.
std::string KeyToDir(const std::string& key);

}  // namespace strake::runtime
