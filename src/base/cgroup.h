// Resource limits through cgroups: what a Kubernetes container's
// `resources` become for a step, a replica or a Job's attempt.
//
// strake keeps its containers' cgroups under one of its own,
// "strake-<key>", beneath the cgroup this process is in (read from
// /proc/self/cgroup and /proc/self/mountinfo): on cgroup v2 when the
// memory and cpu controllers can be given to it (a delegated cgroup: this
// process is moved into a "strake-<key>-self" leaf when it is the only one
// in its cgroup, as the "no internal processes" rule asks), else on v1's
// memory and cpu hierarchies when they are writable. Each container gets a
// child with its limits; the container's first process joins it between
// fork and exec by writing "0" to descriptors of the child's cgroup.procs
// (opened here, so the permission checked is this process's), and
// everything it starts is inside. Where neither version can be used,
// Open says why; callers then report limits as ignored, once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace strake {

// Kubernetes' `resources` as a cgroup applies them; 0 is "none".
struct CgroupLimits {
  int64_t memory_bytes = 0;        // limits.memory: the memory (and swap) ceiling
  int64_t cpu_limit_millis = 0;    // limits.cpu: a CFS quota per 100 ms period
  int64_t cpu_request_millis = 0;  // requests.cpu: the share of CPU under contention
  bool empty() const {
    return memory_bytes == 0 && cpu_limit_millis == 0 && cpu_request_millis == 0;
  }
};

// The kubelet's arithmetic, pure. cpu.shares from millicores (2..262144);
// cgroup v2's cpu.weight from shares (1..10000); a CFS quota in
// microseconds for `period_us` (at least 1 ms, as the kernel requires).
int64_t CpuShares(int64_t millis);
int64_t CpuWeight(int64_t shares);
int64_t CpuQuotaMicros(int64_t millis, int64_t period_us = 100'000);

// Where this process's cgroups are, from the text of /proc/self/cgroup and
// /proc/self/mountinfo. Pure.
struct CgroupPlaces {
  std::string unified;  // v2: the directory of this process's cgroup ("" if none)
  std::string memory;   // v1: this process's cgroup in the memory hierarchy
  std::string cpu;      // v1: ... in the cpu hierarchy
};
CgroupPlaces FindCgroupPlaces(std::string_view proc_cgroup, std::string_view mountinfo);

// One container's cgroup (one directory per hierarchy). Move-only; it is
// not removed when destroyed (a replica outlives a server restart).
class Cgroup {
 public:
  Cgroup() = default;
  // The descriptors the container's first process writes "0" to.
  std::vector<int> join_fds() const;
  // The kernel killed a process in it for running out of memory.
  bool OomKilled() const;
  // Removes it, waiting up to `wait_ms` for its last processes to be
  // reaped; a cgroup still in use is left for the next sweep.
  void Remove(int wait_ms = 1000);
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  friend class Cgroups;
  int version_ = 0;
  std::vector<std::string> dirs_;  // v2: one; v1: memory's, cpu's
  std::vector<Fd> procs_;
};

class Cgroups {
 public:
  // This process's cgroups, with strake's own made beneath them. `key`
  // names it (the data directory's hash: a restarted server finds its
  // containers' cgroups again). `root` prefixes every path read or written
  // (tests); "" is the machine's.
  static Result<std::unique_ptr<Cgroups>> Open(std::string_view key, const std::string& root = "");
  // Opens for a layout given (tests with a directory of their own).
  static Result<std::unique_ptr<Cgroups>> OpenAt(const CgroupPlaces& places, std::string_view key);
  Cgroups() = default;
  // Removes strake's own cgroup when nothing is left in it (a replica
  // that outlives this process keeps it).
  ~Cgroups();
  Cgroups(const Cgroups&) = delete;
  Cgroups& operator=(const Cgroups&) = delete;

  // The cgroup `name` (made if missing, its limits written), beneath
  // `parent` when given, else beneath strake's own (made again if another
  // process with the same key removed it). Names are [A-Za-z0-9_.-]+.
  Result<Cgroup> Create(std::string_view name, const CgroupLimits& limits,
                        const Cgroup* parent = nullptr) const;
  // Removes the empty cgroups an earlier process left (kill -9).
  void SweepEmpty() const;
  int version() const { return version_; }
  // strake's own cgroup's directories.
  const std::vector<std::string>& bases() const { return bases_; }

 private:
  int version_ = 0;
  std::vector<std::string> bases_;  // v2: one; v1: memory's, cpu's
};

}  // namespace strake
