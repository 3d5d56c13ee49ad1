#include "runtime/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/curl.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/net.h"
#include "base/process.h"
#include "base/strings.h"

namespace strake::runtime {

namespace {

using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// Field 22 of /proc/PID/stat: the process's start time in clock ticks since
// boot. With the pid it names one process for good.
uint64_t StartTicks(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat) return 0;
  size_t close = stat->rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  auto fields = Split(std::string_view(*stat).substr(close + 2), ' ');
  // fields[0] is field 3 (state); field 22 is fields[19].
  if (fields.size() < 20) return 0;
  return std::strtoull(fields[19].c_str(), nullptr, 10);
}

Result<uint16_t> FreePort() {
  auto l = ListenTcp("127.0.0.1", 0);
  if (!l) return tl::unexpected(l.error());
  return l->port;  // closed on return; the replica binds it next
}

std::string Substitute(std::string s, uint16_t port) {
  ReplaceAll(s, "$(PORT)", std::to_string(port));
  return s;
}

}  // namespace

std::string KeyToDir(const std::string& key) {
  std::string out;
  for (char c : key)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out;
}

struct Supervisor::Replica {
  Supervisor* sup = nullptr;
  std::string key;
  int index = 0;
  ReplicaTemplate tmpl;
  std::string dir;

  std::thread thread;
  int wake_fd = -1;
  std::atomic<bool> stop{false};    // stop the process and end
  std::atomic<bool> detach{false};  // end, leaving the process running
  std::atomic<bool> done{false};

  mutable std::mutex mu;  // guards the fields below
  ReplicaStatus status;
  // An adopted process: its pid and pidfd (not our child).
  pid_t adopted_pid = -1;
  uint64_t adopted_ticks = 0;
  // kReplicaMarker's value in the environment of every process of the
  // current run (a new one at each start): the record names it before the
  // process starts. Used by the monitor thread, or by CollectOrphans for a
  // replica that has none.
  std::string marker;
  // The current run's cgroup (its limits), on the monitor thread only.
  std::optional<Cgroup> cgroup;

  // One run of the replica's process, started here or adopted.
  struct Running {
    pid_t pid = -1;
    int pidfd = -1;
    uint16_t port = 0;
    uint64_t ticks = 0;
    bool adopted = false;
    bool was_ready = false;  // adopted: ready when the last supervisor saw it
  };
  // The probes' state during one run.
  struct Probes {
    const ProbeSpec* ready = nullptr;  // null: ready as soon as it runs
    ProbeSpec listen;                  // readiness by listening on $PORT
    bool ready_now = false;            // as last written to the record
    bool ever_ready = false;
    int ready_ok = 0;
    int ready_fail = 0;
    SteadyClock::time_point next_ready;
    SteadyClock::time_point next_live;
  };
  // Takes the process a restarted supervisor adopted, if there is one.
  bool TakeAdopted(Running& r);
  // Probes the run until its process exits (why it ended) or a liveness
  // probe ends it; nullopt when told to stop or to detach.
  std::optional<std::string> WatchRun(const Running& r, SteadyClock::time_point started);
  void ProbeReadiness(const Running& r, Probes& p);
  void MarkReady(const Running& r, Probes& p, bool ready, const std::string& why);

  ~Replica() {
    if (thread.joinable()) thread.join();
    if (wake_fd >= 0) ::close(wake_fd);
  }

  std::string RecordPath() const { return PathJoin(dir, std::to_string(index) + ".json"); }
  // What a restarted supervisor needs to adopt the process, readiness
  // included: an adopted replica that was ready keeps its traffic. Before
  // the start, the record holds only the marker (pid -1).
  Status WriteRecord(pid_t pid, uint64_t ticks, uint16_t port, bool ready) const {
    nlohmann::json rec = {
        {"pid", pid}, {"startTicks", ticks}, {"port", port}, {"ready", ready}, {"marker", marker}};
    return WriteFileAtomic(RecordPath(), rec.dump());
  }
  std::vector<std::string> Markers() const {
    if (marker.empty()) return {};
    return {std::string(kReplicaMarker) + "=" + marker};
  }
  // Whatever the run left, a descendant out of the process group (setsid)
  // included, and its record.
  void Forget() {
    (void)KillMarked(Markers());
    std::remove(RecordPath().c_str());
  }

  void Set(const std::function<void(ReplicaStatus&)>& fn) {
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      ReplicaStatus before = status;
      fn(status);
      if (status.ready && !before.ready) status.ready_since = SteadyClock::now();
      changed = before.ready != status.ready || before.state != status.state ||
                before.pid != status.pid || before.restarts != status.restarts;
    }
    if (changed) sup->Notify(key);
  }

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  // Sleeps until `d` passes or the replica is told to stop; false if told.
  bool Sleep(Ms d) {
    pollfd p{wake_fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, d.count())));
    return !stop && !detach;
  }

  void Run();
  struct Started {
    Process process;
    uint64_t ticks = 0;
  };
  Result<Started> Start(uint16_t port);
  bool Probe(const ProbeSpec& p, const Running& r, std::string& why) const;
  void Terminate(pid_t pid, int pidfd);
};

bool Supervisor::Replica::Probe(const ProbeSpec& p, const Running& run, std::string& why) const {
  const uint16_t port = run.port;
  Ms timeout(int64_t{p.timeout_seconds} * 1000);
  switch (p.kind) {
    case ProbeSpec::Kind::kHttpGet: {
      auto r =
          curl::Send(curl::ProbeRequest(port, p.path, p.headers, timeout), EgressPolicy::Open());
      if (!r) {
        why = r.error().message;
        return false;
      }
      if (r->status < 200 || r->status >= 400) {
        why = fmt::format("HTTP probe {} returned {}", p.path.empty() ? "/" : p.path, r->status);
        return false;
      }
      return true;
    }
    case ProbeSpec::Kind::kTcpSocket: {
      auto c = ConnectTcp("127.0.0.1", port, timeout);
      if (!c) why = c.error().message;
      return c.has_value();
    }
    case ProbeSpec::Kind::kExec: {
      SpawnOptions o;
      o.sandbox = sup->options_.sandbox;
      o.argv = p.command;
      o.env = tmpl.env;
      o.env.push_back(fmt::format("PORT={}", port));
      o.cwd = tmpl.cwd;
      if (cgroup) o.cgroup_fds = cgroup->join_fds();  // counted in the container's, as a kubelet's
      // In a container: in its namespaces, as its user, beside its command.
      auto proc = tmpl.container ? SpawnInto(run.pid, tmpl.container->cwd, o) : Spawn(o);
      if (!proc) {
        why = proc.error().message;
        return false;
      }
      auto w = WaitProcess(*proc, timeout);
      if (!w || w->outcome != WaitOutcome::kExited) {
        KillAndReap(*proc);
        why = "exec probe timed out";
        return false;
      }
      if (w->exit_code != 0) why = fmt::format("exec probe exited {}", w->exit_code);
      return w->exit_code == 0;
    }
  }
  return false;
}

namespace {

// Whether any process of the group led by pid is left; reaps the leader once
// it has exited (a zombie leader would keep the group alive).
bool GroupAlive(pid_t pid, int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) ::waitpid(pid, nullptr, WNOHANG);
  return ::kill(-pid, 0) == 0;
}

}  // namespace

void Supervisor::Replica::Terminate(pid_t pid, int pidfd) {
  Set([](ReplicaStatus& s) {
    s.state = "Terminating";
    s.ready = false;
  });
  uint16_t port = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    port = status.port;
  }
  if (port) sup->Drain(port);
  ::poll(nullptr, 0, static_cast<int>(sup->options_.drain_delay.count()));
  KillGroup(pid, SIGTERM);
  (void)SignalMarked(Markers(), SIGTERM);  // a descendant out of the group too
  // Stopped when the whole group is gone, not only its leader: a sandbox's
  // outer process ends at SIGTERM while the command inside shuts down.
  auto deadline = SteadyClock::now() + Ms(int64_t{tmpl.grace_seconds} * 1000);
  while (GroupAlive(pid, pidfd) && SteadyClock::now() < deadline) {
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, 1, 50);
  }
  KillGroup(pid, SIGKILL);  // what is left after the grace period
  (void)KillMarked(Markers());
  auto reaped = SteadyClock::now() + Ms(5000);
  while (GroupAlive(pid, pidfd) && SteadyClock::now() < reaped) ::poll(nullptr, 0, 10);
}

// Recorded before it is started: a supervisor killed between the spawn and
// the record of the pid would otherwise leave a replica that no restart
// adopts or stops. The record names the marker every process of this run
// carries, so Recover finds them by it (base/process.h MarkedProcesses),
// as the pipeline engine finds a TaskRun's steps.
Result<Supervisor::Replica::Started> Supervisor::Replica::Start(uint16_t port) {
  marker = NewUid();
  STRAKE_TRY(WriteRecord(-1, 0, port, false));
  if (cgroup) cgroup->Remove(0);  // the last run's
  cgroup.reset();
  if (sup->options_.cgroups && !tmpl.limits.empty()) {
    auto made = sup->options_.cgroups->Create("replica-" + marker, tmpl.limits);
    if (!made) {
      std::remove(RecordPath().c_str());
      return tl::unexpected(made.error().Wrap("resources.limits"));
    }
    cgroup = std::move(*made);
  }
  std::string log = PathJoin(dir, std::to_string(index) + ".log");
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  SpawnOptions o;
  for (const auto& a : tmpl.argv) o.argv.push_back(Substitute(a, port));
  for (const auto& e : tmpl.env) o.env.push_back(Substitute(e, port));
  o.env.push_back(fmt::format("PORT={}", port));
  o.env.push_back(Markers().front());
  o.cwd = tmpl.cwd;
  o.stdout_fd = o.stderr_fd = fd;
  o.sandbox = sup->options_.sandbox;
  if (cgroup) o.cgroup_fds = cgroup->join_fds();
  // In its image: the container is the sandbox (nothing of the host's
  // files but what it binds).
  if (tmpl.container) {
    o.container = &*tmpl.container;
    o.sandbox = nullptr;
  }
  auto spawned = Spawn(o);
  if (fd >= 0) ::close(fd);
  if (!spawned) {
    std::remove(RecordPath().c_str());
    return tl::unexpected(spawned.error());
  }
  Started out{std::move(*spawned), 0};
  out.ticks = StartTicks(out.process.pid());
  (void)WriteRecord(out.process.pid(), out.ticks, port, false);
  return out;
}

Ms NextBackoff(Ms last, Ms ran, const SupervisorOptions& options) {
  if (last.count() <= 0 || ran >= options.backoff_reset_after) return options.initial_backoff;
  return std::min(last * 2, options.max_backoff);
}

bool Supervisor::Replica::TakeAdopted(Running& r) {
  std::lock_guard<std::mutex> lock(mu);
  if (adopted_pid <= 0) return false;
  r.pid = adopted_pid;
  r.port = status.port;
  r.ticks = adopted_ticks;
  r.was_ready = status.ready;
  r.adopted = true;
  adopted_pid = -1;
  return true;
}

void Supervisor::Replica::MarkReady(const Running& r, Probes& p, bool ready,
                                    const std::string& why) {
  Set([&](ReplicaStatus& s) {
    s.ready = ready;
    s.state = ready ? "Ready" : "Running";
    if (!ready) s.message = "readiness: " + why;
  });
  if (p.ready_now != ready) (void)WriteRecord(r.pid, r.ticks, r.port, ready);
  p.ready_now = ready;
}

void Supervisor::Replica::ProbeReadiness(const Running& r, Probes& p) {
  std::string why;
  if (Probe(*p.ready, r, why)) {
    p.ready_fail = 0;
    if (++p.ready_ok >= p.ready->success_threshold) {
      p.ever_ready = true;
      MarkReady(r, p, true, "");
    }
  } else {
    p.ready_ok = 0;
    if (++p.ready_fail >= p.ready->failure_threshold) MarkReady(r, p, false, why);
  }
  // Until first ready, readiness is tried quickly so traffic starts soon.
  Ms period = p.ever_ready ? Ms(int64_t{p.ready->period_seconds} * 1000) : Ms(100);
  p.next_ready = SteadyClock::now() + period;
}

std::optional<std::string> Supervisor::Replica::WatchRun(const Running& r,
                                                         SteadyClock::time_point started) {
  Probes p;
  p.listen.kind = ProbeSpec::Kind::kTcpSocket;
  p.listen.period_seconds = 1;
  p.listen.failure_threshold = 1;
  p.ready = tmpl.readiness ? &*tmpl.readiness : nullptr;
  bool by_listening = !p.ready && tmpl.ready_when_listening;
  if (by_listening) p.ready = &p.listen;
  p.ready_now = p.ever_ready = r.was_ready;  // as last written to the record
  if (!p.ready) {
    Set([](ReplicaStatus& s) { s.ready = true; });
    if (!p.ready_now) (void)WriteRecord(r.pid, r.ticks, r.port, true);
    p.ready_now = true;
  }
  // An adopted process is past its initial delay: probed at once.
  p.next_ready =
      started + Ms(p.ready && !r.adopted ? int64_t{p.ready->initial_delay_seconds} * 1000 : 0);
  p.next_live =
      started + Ms(tmpl.liveness ? int64_t{tmpl.liveness->initial_delay_seconds} * 1000 : 0);
  int live_fail = 0;
  while (!stop && !detach) {
    auto now = SteadyClock::now();
    auto next = p.ready ? p.next_ready : now + Ms(3'600'000);
    if (tmpl.liveness) next = std::min(next, p.next_live);
    pollfd fds[2] = {{r.pidfd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    auto wait = std::chrono::duration_cast<Ms>(next - now);
    ::poll(fds, 2, static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 3'600'000)));
    if (fds[1].revents) {
      uint64_t v = 0;
      (void)!::read(wake_fd, &v, sizeof v);
    }
    if (fds[0].revents) {
      int st = 0;
      int exit_code = -1;
      if (::waitpid(r.pid, &st, WNOHANG) == r.pid)
        exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      std::string why = exit_code >= 0 ? fmt::format("exited with status {}", exit_code) : "exited";
      if (cgroup && cgroup->OomKilled()) {
        why.insert(0, "OOMKilled: ");
        why += ", killed by the kernel at its memory limit";
      }
      // Most real servers bind a fixed port; strake gives each replica its own.
      if (by_listening && !p.ever_ready) {
        why += fmt::format(
            " without ever listening on $PORT ({}): a server must listen on the "
            "port strake gives it in PORT",
            r.port);
      }
      return why;
    }
    now = SteadyClock::now();
    if (p.ready && now >= p.next_ready) ProbeReadiness(r, p);
    if (tmpl.liveness && now >= p.next_live) {
      std::string why;
      if (Probe(*tmpl.liveness, r, why)) {
        live_fail = 0;
      } else if (++live_fail >= tmpl.liveness->failure_threshold) {
        Terminate(r.pid, r.pidfd);
        return "liveness probe failed: " + why;
      }
      p.next_live = SteadyClock::now() + Ms(int64_t{tmpl.liveness->period_seconds} * 1000);
    }
  }
  return std::nullopt;
}

void Supervisor::Replica::Run() {
  const SupervisorOptions& opt = sup->options_;
  Ms backoff{0};  // the first restart waits initial_backoff
  while (!stop && !detach) {
    Running r;
    std::optional<Process> child;
    if (TakeAdopted(r)) {
      r.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, r.pid, 0));
      if (r.pidfd < 0) continue;  // gone meanwhile: start afresh
    } else {
      auto p = FreePort();
      if (!p) {
        Set([&](ReplicaStatus& s) { s.message = p.error().message; });
        if (!Sleep(Ms(1000))) break;
        continue;
      }
      r.port = *p;
      auto spawned = Start(r.port);
      if (!spawned) {
        std::string why = spawned.error().message;
        Set([&](ReplicaStatus& s) {
          s.state = "Failed";
          s.message = why;
          s.pid = -1;
        });
        Log(LogLevel::kWarn, "runtime: {} replica {}: {}", key, index, why);
        backoff = NextBackoff(backoff, Ms(0), opt);
        if (!Sleep(backoff)) break;
        continue;
      }
      r.pid = spawned->process.pid();
      r.ticks = spawned->ticks;
      child = std::move(spawned->process);
      r.pidfd = child->pidfd();
    }
    auto started = SteadyClock::now();
    Set([&](ReplicaStatus& s) {
      s.pid = r.pid;
      s.port = r.port;
      s.state = r.was_ready ? "Ready" : "Running";
      s.ready = r.was_ready;
    });
    std::optional<std::string> ended = WatchRun(r, started);
    if (!ended) {  // told to stop, or to detach (leaving it running)
      if (!detach) Terminate(r.pid, r.pidfd);
      if (r.adopted) ::close(r.pidfd);
      if (!detach) Forget();
      if (!detach && cgroup) cgroup->Remove();  // detached, it outlives this server
      break;
    }
    if (r.adopted) ::close(r.pidfd);
    Forget();  // as a sandbox's PID namespace ends with its command
    // Emptied by Forget (the OOM killer of cgroup v1 takes one process, not
    // the group): the next run gets a new one, with no OOM count.
    if (cgroup) cgroup->Remove();
    cgroup.reset();
    backoff =
        NextBackoff(backoff, std::chrono::duration_cast<Ms>(SteadyClock::now() - started), opt);
    Log(LogLevel::kInfo, "runtime: {} replica {} {}; restarting in {} ms", key, index, *ended,
        backoff.count());
    Set([&](ReplicaStatus& s) {
      s.ready = false;
      s.pid = -1;
      s.restarts++;
      s.state = "CrashLoopBackOff";
      s.message = *ended;
    });
    if (!Sleep(backoff)) break;
  }
  Set([&](ReplicaStatus& s) {
    if (!detach) {
      s.ready = false;
      s.pid = -1;
    }
  });
  done = true;
}

// ---- supervisor -------------------------------------------------------------------

Supervisor::Supervisor(std::string dir, SupervisorOptions options)
    : dir_(std::move(dir)), options_(options) {}

Supervisor::~Supervisor() {
  std::vector<Replica*> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, reps] : groups_) {
      for (auto& r : reps) all.push_back(r.get());
    }
    for (auto& r : stopping_) all.push_back(r.get());
  }
  for (Replica* r : all) {
    if (!r->stop) r->detach = true;
    r->Wake();
  }
  // Joined outside the lock: a monitor thread may be notifying.
  std::map<std::string, std::vector<std::unique_ptr<Replica>>> groups;
  std::vector<std::unique_ptr<Replica>> stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    groups.swap(groups_);
    stopping.swap(stopping_);
  }
}

void Supervisor::SetOnChange(std::function<void(const std::string&)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = std::move(fn);
}

void Supervisor::Notify(const std::string& key) {
  std::function<void(const std::string&)> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn = on_change_;
  }
  if (fn) fn(key);
}

void Supervisor::SetDrain(std::function<void(uint16_t)> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  drain_ = std::move(fn);
  drained_.wait(lock, [this] { return draining_ == 0; });
}

void Supervisor::Drain(uint16_t port) {
  std::function<void(uint16_t)> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!drain_) return;
    fn = drain_;
    ++draining_;
  }
  fn(port);
  std::lock_guard<std::mutex> lock(mu_);
  if (--draining_ == 0) drained_.notify_all();
}

std::string Supervisor::LogPath(const std::string& key, int index) const {
  return PathJoin(PathJoin(dir_, KeyToDir(key)), std::to_string(index) + ".log");
}

Status Supervisor::Recover() {
  STRAKE_TRY(MakeDirs(dir_, 0700));
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return Failf("{}: {}", dir_, std::strerror(errno));
  std::vector<std::string> group_dirs;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && e->d_type == DT_DIR) group_dirs.push_back(n);
  }
  ::closedir(d);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& gd : group_dirs) {
    std::string path = PathJoin(dir_, gd);
    auto key_file = ReadFile(PathJoin(path, "key"), 4096);
    if (!key_file) continue;
    DIR* rd = ::opendir(path.c_str());
    if (!rd) continue;
    while (dirent* e = ::readdir(rd)) {
      std::string n = e->d_name;
      if (!EndsWith(n, ".json")) continue;
      int index = std::atoi(n.c_str());
      auto text = ReadFile(PathJoin(path, n), 4096);
      if (!text) continue;
      auto rec = nlohmann::json::parse(*text, nullptr, false);
      if (rec.is_discarded()) continue;
      pid_t pid = rec.value("pid", -1);
      uint64_t ticks = rec.value("startTicks", uint64_t{0});
      auto r = std::make_unique<Replica>();
      r->sup = this;
      r->key = *key_file;
      r->index = index;
      r->dir = path;
      r->marker = rec.value("marker", "");
      if (pid <= 0 || ticks == 0 || StartTicks(pid) != ticks) {
        // Gone, or the pid was recycled, or started and never recorded (a
        // crash right after the spawn): stopped, by its marker, with
        // whatever it left running.
        if (int killed = KillMarked(r->Markers()); killed > 0) {
          Log(LogLevel::kInfo, "runtime: stopped {} unrecorded process(es) of {} replica {}",
              killed, r->key, index);
        }
        std::remove(PathJoin(path, n).c_str());
        continue;
      }
      r->adopted_pid = pid;
      r->adopted_ticks = ticks;
      r->status.index = index;
      r->status.pid = pid;
      r->status.port = static_cast<uint16_t>(rec.value("port", 0));
      r->status.ready = rec.value("ready", false);
      if (r->status.ready) r->status.ready_since = SteadyClock::now();
      r->status.state = r->status.ready ? "Ready" : "Running";
      r->status.log_path = PathJoin(path, std::to_string(index) + ".log");
      Log(LogLevel::kInfo, "runtime: adopted {} replica {} (pid {})", r->key, index, pid);
      orphans_[r->key][index] = std::move(r);
    }
    ::closedir(rd);
  }
  return Ok();
}

Status Supervisor::Apply(const GroupSpec& spec) {
  if (spec.tmpl.argv.empty()) return Failf("{}: no command to run", spec.key);
  std::string path = PathJoin(dir_, KeyToDir(spec.key));
  STRAKE_TRY(MakeDirs(path, 0700));
  if (!PathExists(PathJoin(path, "key")))
    STRAKE_TRY(WriteFileAtomic(PathJoin(path, "key"), spec.key));
  std::lock_guard<std::mutex> lock(mu_);
  auto& reps = groups_[spec.key];
  while (static_cast<int>(reps.size()) > spec.replicas) {  // scale down, highest index first
    auto r = std::move(reps.back());
    reps.pop_back();
    r->stop = true;
    r->Wake();
    stopping_.push_back(std::move(r));
  }
  while (static_cast<int>(reps.size()) < spec.replicas) {
    int index = static_cast<int>(reps.size());
    std::unique_ptr<Replica> r;
    auto orphan_group = orphans_.find(spec.key);
    if (orphan_group != orphans_.end() && orphan_group->second.count(index)) {
      r = std::move(orphan_group->second[index]);
      orphan_group->second.erase(index);
    } else {
      r = std::make_unique<Replica>();
      r->sup = this;
      r->key = spec.key;
      r->index = index;
      r->dir = path;
      r->status.index = index;
      r->status.state = "Starting";
      r->status.log_path = PathJoin(path, std::to_string(index) + ".log");
    }
    r->tmpl = spec.tmpl;
    r->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    Replica* raw = r.get();
    r->thread = std::thread([raw] { raw->Run(); });
    reps.push_back(std::move(r));
  }
  Reap();
  return Ok();
}

void Supervisor::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(key);
  if (it == groups_.end()) return;
  for (auto& r : it->second) {
    r->stop = true;
    r->Wake();
    stopping_.push_back(std::move(r));
  }
  groups_.erase(it);
  Reap();
}

void Supervisor::CollectOrphans() {
  std::map<std::string, std::map<int, std::unique_ptr<Replica>>> orphans;
  {
    std::lock_guard<std::mutex> lock(mu_);
    orphans.swap(orphans_);
  }
  for (auto& [key, reps] : orphans) {
    for (auto& [index, r] : reps) {
      Log(LogLevel::kInfo, "runtime: stopping orphaned {} replica {} (pid {})", key, index,
          r->status.pid);
      int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, r->status.pid, 0));
      if (pidfd >= 0) {
        r->Terminate(r->status.pid, pidfd);
        ::close(pidfd);
      }
      r->Forget();
    }
  }
}

void Supervisor::StopAll() {
  // Everything stops: no replica is left to take its requests, so none
  // waits for its port to leave the routes.
  SetDrain(nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, reps] : groups_) {
      for (auto& r : reps) {
        r->stop = true;
        r->Wake();
        stopping_.push_back(std::move(r));
      }
    }
    groups_.clear();
  }
  CollectOrphans();
  std::vector<std::unique_ptr<Replica>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.swap(stopping_);
  }
  all.clear();  // joins
}

void Supervisor::Reap() {
  std::erase_if(stopping_, [](const std::unique_ptr<Replica>& r) { return r->done.load(); });
}

std::vector<ReplicaStatus> Supervisor::Replicas(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ReplicaStatus> out;
  auto it = groups_.find(key);
  if (it != groups_.end()) {
    for (const auto& r : it->second) {
      std::lock_guard<std::mutex> rl(r->mu);
      out.push_back(r->status);
    }
  }
  // Adopted after a restart and not yet claimed by Scale: running, and ready
  // as last recorded, so traffic to them continues meanwhile.
  auto orphans = orphans_.find(key);
  if (orphans != orphans_.end()) {
    for (const auto& [index, r] : orphans->second) {
      std::lock_guard<std::mutex> rl(r->mu);
      out.push_back(r->status);
    }
  }
  return out;
}

std::vector<std::string> Supervisor::Groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : groups_) out.push_back(k);
  for (const auto& [k, v] : orphans_) {
    if (!groups_.count(k)) out.push_back(k);
  }
  return out;
}

}  // namespace strake::runtime
