#include "base/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "base/container.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"

namespace strake {

Process::Process(Process&& o) noexcept : pid_(o.pid_), pidfd_(o.pidfd_) {
  o.pid_ = -1;
  o.pidfd_ = -1;
}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = o.pid_;
    pidfd_ = o.pidfd_;
    o.pid_ = -1;
    o.pidfd_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

size_t ResidentBytes() { return ResidentBytes(0); }

size_t ResidentBytes(pid_t pid) {
  // statm: size resident shared text lib data dt, in pages.
  std::string path = pid == 0 ? "/proc/self/statm" : "/proc/" + std::to_string(pid) + "/statm";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::vector<std::string> CurrentEnv() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "strake";
}

std::string FindExecutable(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) return name;
  for (const auto& dir : Split(path_env.empty() ? "/usr/local/bin:/usr/bin:/bin" : path_env, ':')) {
    std::string p = PathJoin(dir.empty() ? "." : dir, name);
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::vector<std::string> SandboxCapabilityArgs() {
  if (::geteuid() != 0) return {};
  std::vector<std::string> out = {"--cap-drop", "ALL"};
  for (const char* cap :
       {"CAP_CHOWN", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
        "CAP_KILL", "CAP_AUDIT_WRITE"}) {
    out.insert(out.end(), {"--cap-add", cap});
  }
  return out;
}

std::vector<std::string> SandboxArgv(const Sandbox& box, const std::vector<std::string>& argv,
                                     const std::string& cwd) {
  std::vector<std::string> out = {
      box.bwrap,      "--ro-bind", "/",       "/",    "--dev",         "/dev",
      "--proc",       "/proc",     "--tmpfs", "/tmp", "--unshare-pid", "--unshare-ipc",
      "--unshare-uts"};
  auto caps = SandboxCapabilityArgs();
  out.insert(out.end(), caps.begin(), caps.end());
  if (box.die_with_parent) out.emplace_back("--die-with-parent");
  auto under = [](const std::string& path, const std::string& dir) {
    return path == dir || StartsWith(path, dir + "/");
  };
  auto hidden_by = [&](const std::string& path) {
    return std::any_of(box.hidden.begin(), box.hidden.end(),
                       [&](const auto& h) { return under(path, h); });
  };
  // A writable directory inside a hidden one is bound after the hiding tmpfs.
  // "/" is never made writable (a server started from / has it as its work
  // directory): the sandbox then writes only its /tmp.
  for (const auto& w : box.writable) {
    if (w != "/" && !hidden_by(w)) out.insert(out.end(), {"--bind", w, w});
  }
  for (const auto& h : box.hidden) out.insert(out.end(), {"--tmpfs", h});
  for (const auto& w : box.writable) {
    if (hidden_by(w)) out.insert(out.end(), {"--bind", w, w});
  }
  if (!cwd.empty()) out.insert(out.end(), {"--chdir", cwd});
  out.emplace_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

namespace {

Result<Process> WithPidfd(pid_t pid) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int e = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Failf("pidfd_open: {}", std::strerror(e));
  }
  return Process(pid, pidfd);
}

}  // namespace

Result<Process> SpawnInto(pid_t waiter, const std::string& cwd, const SpawnOptions& opts) {
  if (opts.argv.empty()) return Fail("spawn: empty command");
  STRAKE_TRY_ASSIGN(pid,
                    ForkIntoRunningContainer(waiter, cwd,
                                             {opts.argv, opts.env, opts.stdin_fd, opts.stdout_fd,
                                              opts.stderr_fd, opts.inherit_fds, opts.cgroup_fds}));
  return WithPidfd(pid);
}

Result<Process> Spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) return Fail("spawn: empty command");
  if (opts.container) {
    STRAKE_TRY_ASSIGN(pid, ForkIntoContainer(*opts.container,
                                             {opts.argv, opts.env, opts.stdin_fd, opts.stdout_fd,
                                              opts.stderr_fd, opts.inherit_fds, opts.cgroup_fds}));
    return WithPidfd(pid);
  }
  std::string path_env;
  for (const auto& e : opts.env) {
    if (StartsWith(e, "PATH=")) path_env = e.substr(5);
  }
  std::string exe = FindExecutable(opts.argv[0], path_env);
  if (exe.empty()) return Failf("{}: command not found", opts.argv[0]);
  std::vector<std::string> boxed;
  if (opts.sandbox) {
    boxed = SandboxArgv(*opts.sandbox, opts.argv, opts.cwd);
    exe = opts.sandbox->bwrap;
  }
  const std::vector<std::string>& args = opts.sandbox ? boxed : opts.argv;
  if (!opts.cgroup_fds.empty()) {
    STRAKE_TRY_ASSIGN(pid, ForkAndExec({args, opts.env, opts.stdin_fd, opts.stdout_fd,
                                        opts.stderr_fd, opts.inherit_fds, opts.cgroup_fds},
                                       opts.cwd, exe));
    return WithPidfd(pid);
  }

  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  auto bind = [&](int fd, int target, int flags) {
    if (fd >= 0) {
      posix_spawn_file_actions_adddup2(&fa, fd, target);
    } else {
      posix_spawn_file_actions_addopen(&fa, target, "/dev/null", flags, 0);
    }
  };
  bind(opts.stdin_fd, 0, O_RDONLY);
  bind(opts.stdout_fd, 1, O_WRONLY);
  bind(opts.stderr_fd, 2, O_WRONLY);
  // dup2 onto itself clears FD_CLOEXEC in the child (POSIX, glibc >= 2.29).
  for (int fd : opts.inherit_fds) posix_spawn_file_actions_adddup2(&fa, fd, fd);
  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Failf("{}: {}", opts.argv[0], std::strerror(rc));
  return WithPidfd(pid);
}

Result<WaitResult> WaitProcess(Process& p, std::optional<std::chrono::milliseconds> timeout,
                               int wake_fd) {
  if (p.pid() < 0) return Fail("wait: no process");
  auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                          : std::chrono::steady_clock::time_point::max();
  while (true) {
    pollfd fds[2] = {{p.pidfd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int wait_ms = -1;
    if (timeout) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failf("poll: {}", std::strerror(errno));
    }
    if (n == 0) return WaitResult{WaitOutcome::kTimedOut, 0};
    if (fds[0].revents != 0) {
      int status = 0;
      pid_t r;
      do {
        r = ::waitpid(p.pid(), &status, 0);
      } while (r < 0 && errno == EINTR);
      if (r < 0) return Failf("waitpid: {}", std::strerror(errno));
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return WaitResult{WaitOutcome::kExited, code};
    }
    if (wake_fd >= 0 && fds[1].revents != 0) return WaitResult{WaitOutcome::kWoken, 0};
  }
}

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void KillGroup(pid_t pgid, int sig) {
  if (pgid > 0) ::kill(-pgid, sig);
}

void KillAndReap(Process& p) {
  if (p.pid() < 0) return;
  KillGroup(p.pid(), SIGKILL);
  int status = 0;
  while (::waitpid(p.pid(), &status, 0) < 0 && errno == EINTR) {
  }
}

namespace {

enum class Marked { kNo, kYes, kUnknown };

using MarkerSet = std::set<std::string, std::less<>>;

// No executable: a kernel thread (or a zombie; neither can hold a marker).
// One readlink, where reading /proc/PID/stat took five calls and a parse:
// most processes of an idle machine are kernel threads, read on every scan.
bool IsKernelThread(pid_t pid) {
  if (pid == 2) return true;
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(pid));
  char target[8];
  return ::readlink(path, target, sizeof target) < 0 && errno == ENOENT;
}

// kUnknown: an empty environment of a process that is not a kernel thread,
// which is what a process in the middle of execve shows for a moment.
// Streams the environment through a stack buffer, keeping of each entry only
// what could still be a marker: no allocation per process or per variable,
// and no size limit a process could hide a marker behind.
Marked HasAnyMarker(pid_t pid, const MarkerSet& markers, size_t longest) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return Marked::kNo;
  thread_local std::string entry;
  entry.clear();
  bool overlong = false;
  bool empty = true;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Marked::kNo;
    if (n == 0) break;
    empty = false;
    std::string_view chunk(buf, static_cast<size_t>(n));
    while (!chunk.empty()) {
      size_t nul = chunk.find('\0');
      std::string_view part = chunk.substr(0, nul);
      overlong = overlong || entry.size() + part.size() > longest;
      if (!overlong) entry.append(part);
      if (nul == std::string_view::npos) break;
      if (!overlong && markers.find(std::string_view(entry)) != markers.end()) return Marked::kYes;
      entry.clear();
      overlong = false;
      chunk.remove_prefix(nul + 1);
    }
  }
  if (!overlong && !entry.empty() && markers.find(std::string_view(entry)) != markers.end())
    return Marked::kYes;
  if (empty) return IsKernelThread(pid) ? Marked::kNo : Marked::kUnknown;
  return Marked::kNo;
}

size_t Longest(const MarkerSet& markers) {
  size_t n = 0;
  for (const auto& m : markers) n = std::max(n, m.size());
  return n;
}

void SignalWithGroups(const std::vector<pid_t>& pids, int sig) {
  pid_t own_group = ::getpgrp();
  for (pid_t pid : pids) {
    // getpgid fails (-1) for a process gone meanwhile: never kill(1), never our own group.
    pid_t group = ::getpgid(pid);
    if (group > 1 && group != own_group) ::kill(-group, sig);
    ::kill(pid, sig);
  }
}

}  // namespace

bool HasEnvMarker(pid_t pid, const std::string& marker) {
  return HasAnyMarker(pid, {marker}, marker.size()) == Marked::kYes;
}

std::vector<pid_t> MarkedProcesses(const std::vector<std::string>& markers) {
  std::vector<pid_t> out;
  if (markers.empty()) return out;
  const MarkerSet wanted(markers.begin(), markers.end());
  const size_t longest = Longest(wanted);
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  pid_t self = ::getpid();
  std::vector<pid_t> unknown;
  while (dirent* e = ::readdir(d)) {
    auto pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == self) continue;
    Marked m = HasAnyMarker(pid, wanted, longest);
    if (m == Marked::kYes) out.push_back(pid);
    if (m == Marked::kUnknown) unknown.push_back(pid);
  }
  ::closedir(d);
  // Those caught mid-exec are read again once their new image is set up
  // (one pause for all of them).
  if (!unknown.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (pid_t pid : unknown) {
      if (HasAnyMarker(pid, wanted, longest) == Marked::kYes) out.push_back(pid);
    }
  }
  return out;
}

int SignalMarked(const std::vector<std::string>& markers, int sig) {
  auto pids = MarkedProcesses(markers);
  SignalWithGroups(pids, sig);
  return static_cast<int>(pids.size());
}

int KillMarked(const std::vector<std::string>& markers) {
  std::set<pid_t> killed;
  for (int pass = 0; pass < 50; ++pass) {
    auto pids = MarkedProcesses(markers);
    if (pids.empty()) break;
    SignalWithGroups(pids, SIGKILL);
    killed.insert(pids.begin(), pids.end());
    // A process killed a moment ago may still be listed: give it time to go.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return static_cast<int>(killed.size());
}

MarkedSweeper::MarkedSweeper(std::chrono::milliseconds batch)
    : batch_(batch), thread_([this] { Loop(); }) {}

MarkedSweeper::~MarkedSweeper() {
  Flush();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void MarkedSweeper::Add(std::string marker) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(marker));
    ++added_;
  }
  cv_.notify_all();
}

void MarkedSweeper::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = added_;
  flush_to_ = std::max(flush_to_, target);
  cv_.notify_all();  // a sweep waiting out its batch goes now
  cv_.wait(lock, [&] { return swept_ >= target; });
}

int MarkedSweeper::killed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return killed_;
}

int MarkedSweeper::scans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return scans_;
}

void MarkedSweeper::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    // Gather what comes within the batch; a Flush cuts it short.
    cv_.wait_for(lock, batch_, [&] { return stop_ || flush_to_ > swept_; });
    std::vector<std::string> markers;
    markers.swap(pending_);
    uint64_t through = added_;
    lock.unlock();
    int n = KillMarked(markers);
    lock.lock();
    killed_ += n;
    ++scans_;
    swept_ = through;
    cv_.notify_all();
  }
}

}  // namespace strake
