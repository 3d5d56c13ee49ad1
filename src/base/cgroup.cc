#include "base/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/fs.h"
#include "base/strings.h"

namespace strake {

int64_t CpuShares(int64_t millis) {
  // The kubelet's MilliCPUToShares: 1024 shares per CPU, at least 2.
  constexpr int64_t kMin = 2, kMax = 262'144;
  if (millis <= 0) return kMin;
  return std::clamp<int64_t>(millis * 1024 / 1000, kMin, kMax);
}

int64_t CpuWeight(int64_t shares) {
  // runc's conversion of cpu.shares [2, 262144] to cpu.weight [1, 10000].
  shares = std::clamp<int64_t>(shares, 2, 262'144);
  return 1 + ((shares - 2) * 9999) / 262'142;
}

int64_t CpuQuotaMicros(int64_t millis, int64_t period_us) {
  constexpr int64_t kMinQuota = 1000;  // the kernel refuses less than 1 ms
  return std::max(kMinQuota, millis * period_us / 1000);
}

namespace {

bool HasWord(std::string_view list, std::string_view word, char sep) {
  for (const auto& w : Split(list, sep)) {
    if (w == word) return true;
  }
  return false;
}

// `path` (a cgroup's, from /proc/self/cgroup) under a mount of its
// hierarchy whose root is `root`: the directory, or "" when the mount does
// not show it.
std::string UnderMount(std::string_view mount_point, std::string_view root, std::string_view path) {
  if (root != "/" && path != root && !StartsWith(path, std::string(root) + "/")) return "";
  if (root != "/") path.remove_prefix(root.size());
  std::string dir(mount_point);
  if (!path.empty() && path != "/") dir = PathJoin(dir, path.substr(1));
  return dir;
}

}  // namespace

CgroupPlaces FindCgroupPlaces(std::string_view proc_cgroup, std::string_view mountinfo) {
  std::string v2_path, mem_path, cpu_path;
  for (const auto& line : Split(proc_cgroup, '\n')) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string_view controllers = std::string_view(line).substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (line.substr(0, a) == "0" && controllers.empty()) v2_path = path;
    if (HasWord(controllers, "memory", ',')) mem_path = path;
    if (HasWord(controllers, "cpu", ',')) cpu_path = path;
  }
  CgroupPlaces out;
  for (const auto& line : Split(mountinfo, '\n')) {
    auto w = Split(line, ' ');
    auto dash = std::find(w.begin(), w.end(), "-");
    if (w.size() < 5 || dash == w.end() || w.end() - dash < 4) continue;
    std::string_view root = w[3], mount_point = w[4], fstype = dash[1], options = dash[3];
    if (fstype == "cgroup2" && !v2_path.empty() && out.unified.empty()) {
      out.unified = UnderMount(mount_point, root, v2_path);
    } else if (fstype == "cgroup") {
      if (HasWord(options, "memory", ',') && !mem_path.empty() && out.memory.empty())
        out.memory = UnderMount(mount_point, root, mem_path);
      if (HasWord(options, "cpu", ',') && !cpu_path.empty() && out.cpu.empty())
        out.cpu = UnderMount(mount_point, root, cpu_path);
    }
  }
  return out;
}

namespace {

Status MakeCgroupDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Failf("{}: {}", dir, std::strerror(errno));
  return Ok();
}

// A cgroup file written in one write(2), as the kernel takes them.
Status WriteControl(const std::string& path, std::string_view value, bool optional = false) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (optional && errno == ENOENT) return Ok();
    return Failf("{}: {}", path, std::strerror(errno));
  }
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    if (optional && (e == EINVAL || e == EOPNOTSUPP)) return Ok();
    return Failf("writing \"{}\" to {}: {}", value, path, std::strerror(e));
  }
  return Ok();
}

bool HasControllers(const std::string& file) {
  auto text = ReadFile(file, 4096);
  if (!text) return false;
  std::string t(Trim(*text));
  return HasWord(t, "memory", ' ') && HasWord(t, "cpu", ' ');
}

// cgroup v2: the controllers given to `dir`'s children, moving this process
// into a leaf of its own first when it is the only process in `dir`.
Status DelegateV2(const std::string& dir, std::string_view key) {
  if (!HasControllers(PathJoin(dir, "cgroup.controllers")))
    return Failf("cgroup v2: {} has no memory and cpu controllers to give", dir);
  if (HasControllers(PathJoin(dir, "cgroup.subtree_control"))) return Ok();
  if (WriteControl(PathJoin(dir, "cgroup.subtree_control"), "+memory +cpu")) return Ok();
  auto procs = ReadFile(PathJoin(dir, "cgroup.procs"), 1 << 20);
  std::string self = std::to_string(::getpid());
  if (!procs || Trim(*procs) != self) {
    return Failf(
        "cgroup v2: {} holds other processes, so its controllers cannot be given to strake's "
        "containers; start strake in a cgroup of its own (systemd-run --scope -p Delegate=yes …)",
        dir);
  }
  std::string leaf = PathJoin(dir, fmt::format("strake-{}-self", key));
  STRAKE_TRY(MakeCgroupDir(leaf));
  STRAKE_TRY(WriteControl(PathJoin(leaf, "cgroup.procs"), self));
  return WriteControl(PathJoin(dir, "cgroup.subtree_control"), "+memory +cpu");
}

bool ValidName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

// The counter `key` of a flat-keyed cgroup file ("oom_kill 3").
int64_t Counter(const std::string& file, std::string_view key) {
  auto text = ReadFile(file, 1 << 16);
  if (!text) return 0;
  for (const auto& line : Split(*text, '\n')) {
    auto w = Split(line, ' ');
    if (w.size() == 2 && w[0] == key) return std::strtoll(w[1].c_str(), nullptr, 10);
  }
  return 0;
}

// Kubernetes' requests default to its limits.
int64_t CpuRequest(const CgroupLimits& limits) {
  return limits.cpu_request_millis ? limits.cpu_request_millis : limits.cpu_limit_millis;
}

Status WriteV2Limits(const std::string& d, const CgroupLimits& limits) {
  if (limits.memory_bytes > 0) {
    STRAKE_TRY(WriteControl(PathJoin(d, "memory.max"), std::to_string(limits.memory_bytes)));
    STRAKE_TRY(WriteControl(PathJoin(d, "memory.swap.max"), "0", true));
    // The whole container goes at its limit, as the kubelet sets it.
    STRAKE_TRY(WriteControl(PathJoin(d, "memory.oom.group"), "1", true));
  }
  if (limits.cpu_limit_millis > 0) {
    STRAKE_TRY(WriteControl(PathJoin(d, "cpu.max"),
                            fmt::format("{} 100000", CpuQuotaMicros(limits.cpu_limit_millis))));
  }
  if (CpuRequest(limits) > 0) {
    STRAKE_TRY(WriteControl(PathJoin(d, "cpu.weight"),
                            std::to_string(CpuWeight(CpuShares(CpuRequest(limits))))));
  }
  return Ok();
}

Status WriteV1Limits(const std::string& mem, const std::string& cpu, const CgroupLimits& limits) {
  if (limits.memory_bytes > 0) {
    std::string v = std::to_string(limits.memory_bytes);
    STRAKE_TRY(WriteControl(PathJoin(mem, "memory.limit_in_bytes"), v));
    STRAKE_TRY(WriteControl(PathJoin(mem, "memory.memsw.limit_in_bytes"), v, true));
  }
  if (limits.cpu_limit_millis > 0) {
    STRAKE_TRY(WriteControl(PathJoin(cpu, "cpu.cfs_period_us"), "100000"));
    STRAKE_TRY(WriteControl(PathJoin(cpu, "cpu.cfs_quota_us"),
                            std::to_string(CpuQuotaMicros(limits.cpu_limit_millis))));
  }
  if (CpuRequest(limits) > 0) {
    STRAKE_TRY(
        WriteControl(PathJoin(cpu, "cpu.shares"), std::to_string(CpuShares(CpuRequest(limits)))));
  }
  return Ok();
}

// The directories in `dir`.
std::vector<std::string> Subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (e->d_type == DT_DIR && n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

void SweepUnder(const std::string& dir) {
  for (const auto& n : Subdirs(dir)) {
    const std::string c = PathJoin(dir, n);
    SweepUnder(c);
    ::rmdir(c.c_str());  // fails, as it should, while processes are in it
  }
}

// "p<pid>-…": made by a process that still runs (its cgroups are its own
// to remove; another strake's sweep must not take one it has not joined yet).
bool OwnerRuns(const std::string& name) {
  if (name.size() < 3 || name[0] != 'p') return false;
  const long pid = std::strtol(name.c_str() + 1, nullptr, 10);
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

std::vector<int> Cgroup::join_fds() const {
  std::vector<int> out;
  for (const auto& f : procs_) out.push_back(f.get());
  return out;
}

bool Cgroup::OomKilled() const {
  if (dirs_.empty()) return false;
  if (version_ == 2) return Counter(PathJoin(dirs_[0], "memory.events"), "oom_kill") > 0;
  return Counter(PathJoin(dirs_[0], "memory.oom_control"), "oom_kill") > 0;
}

void Cgroup::Remove(int wait_ms) {
  procs_.clear();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    for (int waited = 0; ::rmdir(it->c_str()) != 0 && errno == EBUSY && waited < wait_ms;
         waited += 10) {
      ::poll(nullptr, 0, 10);
    }
  }
  dirs_.clear();
}

Result<std::unique_ptr<Cgroups>> Cgroups::OpenAt(const CgroupPlaces& places, std::string_view key) {
  auto out = std::make_unique<Cgroups>();
  std::string name = fmt::format("strake-{}", key);
  std::string why_v2 = "cgroup v2 is not mounted";
  if (!places.unified.empty()) {
    auto delegated = DelegateV2(places.unified, key);
    std::string base = PathJoin(places.unified, name);
    if (delegated) delegated = MakeCgroupDir(base);
    if (delegated)
      delegated = WriteControl(PathJoin(base, "cgroup.subtree_control"), "+memory +cpu");
    if (delegated) {
      out->version_ = 2;
      out->bases_ = {base};
      return out;
    }
    why_v2 = delegated.error().message;
  }
  if (places.memory.empty() || places.cpu.empty())
    return Failf("{}, and no cgroup v1 memory and cpu hierarchies are", why_v2);
  std::vector<std::string> bases = {PathJoin(places.memory, name), PathJoin(places.cpu, name)};
  for (const auto& b : bases) {
    if (auto made = MakeCgroupDir(b); !made) {
      return Failf("{}; cgroup v1: {}", why_v2, made.error().message);
    }
  }
  out->version_ = 1;
  out->bases_ = std::move(bases);
  return out;
}

Result<std::unique_ptr<Cgroups>> Cgroups::Open(std::string_view key, const std::string& root) {
  auto cg = ReadFile(root + "/proc/self/cgroup", 1 << 16);
  if (!cg) return Failf("cannot read /proc/self/cgroup: {}", cg.error().message);
  auto mi = ReadFile(root + "/proc/self/mountinfo", 4 << 20);
  if (!mi) return Failf("cannot read /proc/self/mountinfo: {}", mi.error().message);
  CgroupPlaces p = FindCgroupPlaces(*cg, *mi);
  for (std::string* s : {&p.unified, &p.memory, &p.cpu}) {
    if (!s->empty()) *s = root + *s;
  }
  return OpenAt(p, key);
}

Result<Cgroup> Cgroups::Create(std::string_view name, const CgroupLimits& limits,
                               const Cgroup* parent) const {
  if (!ValidName(name)) return Failf("cgroup name \"{}\": only letters, digits, - _ .", name);
  Cgroup c;
  c.version_ = version_;
  // Beneath strake's own, named for this process: SweepEmpty leaves a
  // live process's alone.
  const std::string own = parent ? std::string(name) : fmt::format("p{}-{}", ::getpid(), name);
  auto fail = [&c](Error e) -> Result<Cgroup> {
    c.Remove(0);
    return tl::unexpected(std::move(e));
  };
  if (version_ == 2 && parent) {
    auto given = WriteControl(PathJoin(parent->dirs_[0], "cgroup.subtree_control"), "+memory +cpu");
    if (!given) return fail(given.error());
  }
  for (const auto& b : parent ? parent->dirs_ : bases_) {
    std::string d = PathJoin(b, own);
    int rc = ::mkdir(d.c_str(), 0755);
    if (rc != 0 && errno == ENOENT && !parent && ::mkdir(b.c_str(), 0755) == 0) {
      // strake's own, removed by another process as its last user ended.
      if (version_ == 2) (void)WriteControl(PathJoin(b, "cgroup.subtree_control"), "+memory +cpu");
      rc = ::mkdir(d.c_str(), 0755);
    }
    // Always a new one (EEXIST too): nothing of an earlier container's
    // (its processes, its OOM count, its limits) carries over.
    if (rc != 0) return fail(Error{fmt::format("{}: {}", d, std::strerror(errno))});
    c.dirs_.push_back(d);
  }
  auto written = c.version_ == 2 ? WriteV2Limits(c.dirs_[0], limits)
                                 : WriteV1Limits(c.dirs_[0], c.dirs_[1], limits);
  if (!written) return fail(written.error());
  for (const auto& d : c.dirs_) {
    std::string procs = PathJoin(d, "cgroup.procs");
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail(Error{fmt::format("{}: {}", procs, std::strerror(errno))});
    c.procs_.emplace_back(fd);
  }
  return c;
}

Cgroups::~Cgroups() {
  for (const auto& b : bases_) ::rmdir(b.c_str());  // fails, as it should, while in use
}

void Cgroups::SweepEmpty() const {
  for (const auto& b : bases_) {
    for (const auto& n : Subdirs(b)) {
      if (OwnerRuns(n)) continue;
      SweepUnder(PathJoin(b, n));
      ::rmdir(PathJoin(b, n).c_str());
    }
  }
}

}  // namespace strake
