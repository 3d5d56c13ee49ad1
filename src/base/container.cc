#include "base/container.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>  // the ST_ flags statfs reports
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"

namespace strake {
namespace {

// Where the container is assembled before pivot_root: a tmpfs of its own,
// in the child's mount namespace only, over the first of these directories
// that the image root is not under (the sandbox's /tmp for a step; a
// server whose data directory is under /tmp assembles over /mnt).
constexpr const char* kScratchCandidates[] = {"/tmp", "/mnt", "/media", "/srv", "/opt", "/run"};

std::string ScratchFor(const std::string& image_root) {
  for (const char* dir : kScratchCandidates) {
    struct stat st {};
    if (::stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    std::string d = dir;
    if (image_root != d && !image_root.starts_with(d + "/")) return d;
  }
  return "";
}

// One system call of the child's, with what it is for the error message.
struct Op {
  enum Kind {
    kUnshare,
    kWrite,
    kMount,
    kRemountReadOnly,
    kMkdir,    // a directory, one there already fine
    kDirHere,  // a directory where anything else (an image's symlink) stood
    kTouch,    // a file where anything else stood
    kChdir,
    kPivot,
    kDetach,
    kDropCap,
    kDumpable,
    kHold,       // opens `a` (O_PATH) at descriptor `flags`
    kFork,       // the PID namespace's process 1 goes on; the caller waits for it
    kMountProc,  // a /proc of the PID namespace at `b`, else a bind of `a`
    kJoin,       // setns into the user, mount and PID namespaces of pidfd `flags`
    kSymlink,    // a symlink at `b` to `a`
  };
  Kind kind;
  std::string a, b, c, d;  // paths, texts, a filesystem type and its options
  unsigned long flags = 0;
  std::string what;
};

// overlayfs reads ',' and ':' in a lowerdir as separators.
std::string OverlayEscape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ',' || c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Every directory from `base` (exclusive) down to base + rel, made as real
// directories: an image's symlink on the way is replaced, never followed
// (before pivot_root it would lead into the sandbox's own paths).
void MkdirsUnder(const std::string& base, const std::string& rel, std::vector<Op>& ops,
                 Op::Kind kind = Op::kDirHere) {
  std::string path = base;
  for (const auto& part : Split(rel, '/')) {
    if (part.empty() || part == "." || part == "..") continue;
    path += "/";
    path += part;
    ops.push_back({kind, path, "", "", "", 0755, "mkdir " + path});
  }
}

// Docker's default capabilities: all that root in a container keeps.
constexpr int kKeptCaps[] = {0 /*CHOWN*/,
                             1 /*DAC_OVERRIDE*/,
                             3 /*FOWNER*/,
                             4 /*FSETID*/,
                             5 /*KILL*/,
                             6 /*SETGID*/,
                             7 /*SETUID*/,
                             8 /*SETPCAP*/,
                             10 /*NET_BIND_SERVICE*/,
                             13 /*NET_RAW*/,
                             18 /*SYS_CHROOT*/,
                             27 /*MKNOD*/,
                             29 /*AUDIT_WRITE*/,
                             31 /*SETFCAP*/};

int LastCap() {
  int last = 40;
  if (int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[16] = {};
    if (::read(fd, buf, sizeof buf - 1) > 0) last = std::atoi(buf);
    ::close(fd);
  }
  return last;
}

// Drops from the bounding set every capability Docker does not keep: an
// exec'd command's root gets only those.
void DropCaps(std::vector<Op>& ops) {
  for (int cap = 0, last = LastCap(); cap <= last; ++cap) {
    if (std::find(std::begin(kKeptCaps), std::end(kKeptCaps), cap) == std::end(kKeptCaps)) {
      ops.push_back({Op::kDropCap, "", "", "", "", static_cast<unsigned long>(cap),
                     fmt::format("drop capability {}", cap)});
    }
  }
}

// A /dev of its own, as Docker's: the harmless devices bound from this
// machine's, a private /dev/shm, the usual links; not the machine's
// shared memory, message queues or terminals.
void OwnDev(const std::string& merged, std::vector<Op>& ops) {
  MkdirsUnder(merged, "dev", ops);
  ops.push_back(
      {Op::kMount, "tmpfs", merged + "/dev", "tmpfs", "mode=0755", MS_NOSUID | MS_NOEXEC, "/dev"});
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"}) {
    const std::string at = merged + "/dev/" + dev;
    ops.push_back({Op::kTouch, at, "", "", "", 0, std::string("create /dev/") + dev});
    ops.push_back({Op::kMount, std::string("/dev/") + dev, at, "", "", MS_BIND,
                   std::string("bind /dev/") + dev});
  }
  ops.push_back({Op::kMkdir, merged + "/dev/shm", "", "", "", 01777, "mkdir /dev/shm"});
  ops.push_back({Op::kMount, "tmpfs", merged + "/dev/shm", "tmpfs", "mode=1777",
                 MS_NOSUID | MS_NODEV, "/dev/shm"});
  for (const auto& [link, to] :
       std::initializer_list<std::pair<const char*, const char*>>{{"fd", "/proc/self/fd"},
                                                                  {"stdin", "/proc/self/fd/0"},
                                                                  {"stdout", "/proc/self/fd/1"},
                                                                  {"stderr", "/proc/self/fd/2"}}) {
    ops.push_back(
        {Op::kSymlink, to, merged + "/dev/" + link, "", "", 0, std::string("link /dev/") + link});
  }
}

// `fds`: descriptor numbers the parent reserved, one for /proc, /dev and
// each bind source: the child opens each source there once in its own mount
// namespace (a descriptor of the parent's namespace cannot be bound from)
// and before the scratch tmpfs, and binds from /proc/self/fd/N, so that a
// source under /tmp stays reachable. (overlayfs takes no such path: the
// image root must not be under /tmp.)
std::vector<Op> Plan(const ContainerSpec& s, const std::vector<int>& fds,
                     const std::string& scratch) {
  std::vector<std::string> from;
  from.reserve(fds.size());
  for (int fd : fds) from.push_back("/proc/self/fd/" + std::to_string(fd));
  std::vector<Op> ops;
  const std::string merged = scratch + "/root";
  ops.push_back({Op::kDumpable, "", "", "", "", 1, "dumpable"});
  ops.push_back({Op::kUnshare, "", "", "", "",
                 static_cast<unsigned long>(CLONE_NEWUSER | CLONE_NEWNS |
                                            (s.pid_namespace ? CLONE_NEWPID : 0)),
                 s.pid_namespace ? "unshare a user, mount and PID namespace"
                                 : "unshare a user and mount namespace"});
  ops.push_back({Op::kWrite, "/proc/self/setgroups", "deny", "", "", 0, "setgroups"});
  ops.push_back({Op::kWrite, "/proc/self/uid_map", fmt::format("{} {} 1", s.uid, ::geteuid()), "",
                 "", 0, "uid_map"});
  ops.push_back({Op::kWrite, "/proc/self/gid_map", fmt::format("{} {} 1", s.gid, ::getegid()), "",
                 "", 0, "gid_map"});
  ops.push_back({Op::kMount, "", "/", "", "", MS_REC | MS_PRIVATE, "private mounts"});
  // What is bound later, held open now (the mounts above may cover it).
  std::vector<std::string> sources = {"/proc", "/dev"};
  for (const auto& b : s.binds) sources.push_back(b.source);
  const bool bind_proc = !s.pid_namespace || s.host_proc_fallback;
  for (size_t i = 0; i < sources.size(); ++i) {
    if ((i == 0 && !bind_proc) || (i == 1 && !s.sandbox_dev)) continue;
    ops.push_back({Op::kHold, sources[i], "", "", "", static_cast<unsigned long>(fds[i]),
                   "open " + sources[i]});
  }
  ops.push_back({Op::kMount, "tmpfs", scratch, "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV,
                 "the container's writable layer (tmpfs)"});
  for (const std::string& d : {scratch + "/upper", scratch + "/work", merged}) {
    ops.push_back({Op::kMkdir, d, "", "", "", 0755, "mkdir " + d});
  }
  ops.push_back(
      {Op::kMount, "overlay", merged, "overlay",
       fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work,userxattr",
                   OverlayEscape(s.image_root), OverlayEscape(scratch), OverlayEscape(scratch)),
       0, "overlay of " + s.image_root});
  auto bind = [&](const std::string& source, const std::string& via, const std::string& target,
                  bool read_only) {
    struct stat st {};
    const bool dir = ::stat(source.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
    const std::string at = PathJoin(merged, target);
    if (dir) {
      MkdirsUnder(merged, target, ops);
    } else {
      MkdirsUnder(merged, target.substr(0, target.rfind('/')), ops);
      ops.push_back({Op::kTouch, at, "", "", "", 0, "create " + target});
    }
    ops.push_back({Op::kMount, via, at, "", "", MS_BIND | MS_REC, "bind " + source});
    if (read_only) ops.push_back({Op::kRemountReadOnly, "", at, "", "", 0, "read-only " + target});
  };
  if (!s.pid_namespace) bind("/proc", from[0], "/proc", false);
  if (s.sandbox_dev) {
    bind("/dev", from[1], "/dev", false);
  } else {
    OwnDev(merged, ops);
  }
  MkdirsUnder(merged, "tmp", ops);
  ops.push_back(
      {Op::kMount, "tmpfs", merged + "/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, "/tmp"});
  for (size_t i = 0; i < s.binds.size(); ++i) {
    bind(s.binds[i].source, from[2 + i], s.binds[i].target, s.binds[i].read_only);
  }
  for (const auto& h : s.hidden) {
    MkdirsUnder(merged, h, ops);
    ops.push_back({Op::kMount, "tmpfs", PathJoin(merged, h), "tmpfs", "mode=0755",
                   MS_NOSUID | MS_NODEV, "hide " + h});
  }
  if (s.pid_namespace) {
    // Its /proc is mounted by a process of the namespace: its process 1.
    ops.push_back({Op::kFork, "", "", "", "", 0, "fork the PID namespace's first process"});
    MkdirsUnder(merged, "proc", ops);
    ops.push_back({Op::kMountProc, from[0], merged + "/proc", "", "",
                   s.host_proc_fallback ? 1UL : 0UL,
                   "mount /proc (a container's own: this kernel refuses it where /proc has "
                   "covered parts, as in a container)"});
  }
  ops.push_back({Op::kChdir, merged, "", "", "", 0, "chdir into the root"});
  ops.push_back({Op::kPivot, "", "", "", "", 0, "pivot_root"});
  ops.push_back({Op::kDetach, "", "", "", "", 0, "detach the sandbox's root"});
  // The working directory, as Docker makes it (inside the root now: the
  // image's symlinks are the container's to follow).
  MkdirsUnder("", s.cwd, ops, Op::kMkdir);
  ops.push_back({Op::kChdir, s.cwd.empty() ? "/" : s.cwd, "", "", "", 0, "chdir " + s.cwd});
  // Root in the container keeps Docker's capabilities, not all of its
  // namespace's: it cannot undo the mounts above (CAP_SYS_ADMIN), and more.
  DropCaps(ops);
  return ops;
}

// The flags a read-only remount must keep: a user namespace may not drop
// what the mount it copied was locked with.
unsigned long LockedFlags(const char* path) {
  struct statfs st {};
  if (::statfs(path, &st) != 0) return 0;
  unsigned long out = 0;
  if (st.f_flags & ST_NOSUID) out |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) out |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) out |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) out |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) out |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) out |= MS_RELATIME;
  return out;
}

// In the child that unshared a PID namespace: forks its process 1, which
// returns true and goes on; this process stays outside as its waiter and
// exits as it does. False with errno when the fork fails. _Fork, not
// fork: this child of a threaded process may make system calls only, and
// fork runs the atfork handlers.
bool ForkFirstProcess() {
  pid_t first = ::_Fork();
  if (first < 0) return false;
  if (first == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    return true;
  }
  // Nothing of the namespace reaches this process's view (its root and
  // directory, outside the container) through /proc/<pid>.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // It never execs: what its parent had open (a server's store lock, its
  // database, its sockets) would stay open as long as the container runs.
  ::close_range(3, ~0U, 0);
  (void)!::chdir("/");
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &ign, nullptr);
  int status = 0;
  while (::waitpid(first, &status, 0) < 0) {
    if (errno != EINTR) ::_exit(127);
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

// In the child: true, or false with errno set.
bool Run(const Op& op) {
  const char* a = op.a.c_str();
  const char* b = op.b.c_str();
  switch (op.kind) {
    case Op::kUnshare:
      return ::unshare(static_cast<int>(op.flags)) == 0;
    case Op::kWrite: {
      int fd = ::open(a, O_WRONLY | O_CLOEXEC);
      if (fd < 0) return false;
      bool ok = ::write(fd, op.b.data(), op.b.size()) == static_cast<ssize_t>(op.b.size());
      int err = errno;
      ::close(fd);
      errno = err;
      return ok;
    }
    case Op::kMount:
      return ::mount(op.a.empty() ? nullptr : a, b, op.c.empty() ? nullptr : op.c.c_str(), op.flags,
                     op.d.empty() ? nullptr : op.d.c_str()) == 0;
    case Op::kRemountReadOnly:
      return ::mount(nullptr, b, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | LockedFlags(b),
                     nullptr) == 0;
    case Op::kMkdir:
      return ::mkdir(a, static_cast<mode_t>(op.flags)) == 0 || errno == EEXIST;
    case Op::kDirHere: {
      struct stat st {};
      if (::lstat(a, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return true;
        if (::unlink(a) != 0) return false;
      }
      return ::mkdir(a, static_cast<mode_t>(op.flags)) == 0;
    }
    case Op::kTouch: {
      struct stat st {};
      if (::lstat(a, &st) == 0 && !S_ISREG(st.st_mode) && ::unlink(a) != 0) return false;
      int fd = ::open(a, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0) return false;
      ::close(fd);
      return true;
    }
    case Op::kChdir:
      return ::chdir(a) == 0;
    case Op::kPivot:
      return ::syscall(SYS_pivot_root, ".", ".") == 0;
    case Op::kDetach:
      return ::umount2(".", MNT_DETACH) == 0;
    case Op::kDropCap:
      return ::prctl(PR_CAPBSET_DROP, op.flags, 0, 0, 0) == 0;
    case Op::kDumpable:
      return ::prctl(PR_SET_DUMPABLE, op.flags, 0, 0, 0) == 0;
    case Op::kFork:
      return ForkFirstProcess();
    case Op::kJoin:
      return ::setns(static_cast<int>(op.flags), CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) == 0;
    case Op::kSymlink:
      return ::symlink(a, b) == 0;
    case Op::kMountProc:
      return ::mount("proc", b, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0 ||
             (op.flags != 0 && ::mount(a, b, nullptr, MS_BIND | MS_REC, nullptr) == 0);
    case Op::kHold: {
      int fd = ::open(a, O_PATH | O_CLOEXEC);
      if (fd < 0) return false;
      int at = static_cast<int>(op.flags);
      bool ok = fd == at || ::dup3(fd, at, O_CLOEXEC) == at;
      if (fd != at) ::close(fd);
      return ok;
    }
  }
  return false;
}

void Say(int fd, const char* text) {
  size_t n = std::strlen(text);
  while (n > 0) {
    ssize_t w = ::write(fd, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void Die(int fd, const char* what, int err) {
  Say(fd, "strake: the container did not start: ");
  Say(fd, what);
  Say(fd, ": ");
  Say(fd, strerrordesc_np(err));
  Say(fd, "\n");
  ::_exit(127);
}

}  // namespace

Result<ContainerSpec> ParseContainerArgs(const std::vector<std::string>& args) {
  ContainerSpec s;
  auto number = [](const std::string& text) -> Result<unsigned> {
    char* end = nullptr;
    unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end || v > 0xfffffffeUL) return Failf("container: bad id {}", Quote(text));
    return static_cast<unsigned>(v);
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const size_t left = args.size() - i - 1;
    if ((a == "--uid" || a == "--gid" || a == "--cwd") && left >= 1) {
      if (a == "--cwd") {
        s.cwd = args[++i];
        continue;
      }
      STRAKE_TRY_ASSIGN(v, number(args[++i]));
      (a == "--uid" ? s.uid : s.gid) = v;
    } else if ((a == "--bind" || a == "--ro-bind") && left >= 2) {
      s.binds.push_back({args[i + 1], args[i + 2], a == "--ro-bind"});
      i += 2;
    } else if (a == "--unshare-pid") {
      s.pid_namespace = true;
    } else if (a == "--proc-fallback") {
      s.host_proc_fallback = true;
    } else if (a == "--sandbox-dev") {
      s.sandbox_dev = true;
    } else if (a == "--tmpfs" && left >= 1) {
      s.hidden.push_back(args[++i]);
    } else if (s.image_root.empty() && !a.starts_with("--") && left == 0) {
      s.image_root = a;
    } else {
      return Failf("container: unexpected argument {}", Quote(a));
    }
  }
  if (s.image_root.empty()) return Fail("container: no image root");
  return s;
}

std::vector<std::string> ContainerArgs(const ContainerSpec& s) {
  std::vector<std::string> out = {"--uid", std::to_string(s.uid), "--gid", std::to_string(s.gid)};
  for (const auto& b : s.binds) {
    out.insert(out.end(), {b.read_only ? "--ro-bind" : "--bind", b.source, b.target});
  }
  for (const auto& h : s.hidden) out.insert(out.end(), {"--tmpfs", h});
  if (s.pid_namespace) out.emplace_back("--unshare-pid");
  if (s.host_proc_fallback) out.emplace_back("--proc-fallback");
  if (s.sandbox_dev) out.emplace_back("--sandbox-dev");
  out.insert(out.end(), {"--cwd", s.cwd, s.image_root});
  return out;
}

bool RunsOnHost(const std::string& image, const std::vector<std::string>& globs) {
  if (image.empty()) return true;
  std::string repo = image.substr(0, image.find('@'));
  if (size_t colon = repo.rfind(':');
      colon != std::string::npos && repo.find('/', colon) == std::string::npos)
    repo.resize(colon);
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) {
    return GlobMatch(g, image) || GlobMatch(g, repo);
  });
}

Result<std::vector<std::string>> ImageArgv(const RunnableImage& image,
                                           const std::vector<std::string>& command,
                                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = command.empty() ? image.entrypoint : command;
  const auto& rest = command.empty() && args.empty() ? image.cmd : args;
  argv.insert(argv.end(), rest.begin(), rest.end());
  if (argv.empty()) return Fail("the image has no Entrypoint or Cmd: give the container a command");
  return argv;
}

Result<std::pair<unsigned, unsigned>> ImageUser(const std::string& user, const std::string& root) {
  if (user.empty()) return std::pair<unsigned, unsigned>{0, 0};
  const std::string name = user.substr(0, user.find(':'));
  const std::string group =
      user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
  auto number = [](const std::string& text) -> std::optional<unsigned> {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 9)
      return std::nullopt;
    return static_cast<unsigned>(std::stoul(text));
  };
  // The entry of a passwd or group file whose name (or, for `by_id`, id)
  // is `key`: its id and, for passwd, its primary group (root's without one,
  // as Docker does).
  auto lookup = [&](const char* file, const std::string& key,
                    bool by_id) -> std::optional<std::pair<unsigned, unsigned>> {
    auto text = ReadFileBeneath(root, file, 1 << 20);
    if (!text) return std::nullopt;
    for (const auto& line : Split(*text, '\n')) {
      auto f = Split(line, ':');
      if (f.size() < 3 || (by_id ? f[2] : f[0]) != key) continue;
      auto id = number(f[2]);
      auto gid = f.size() >= 4 ? number(f[3]) : std::nullopt;
      if (id) return std::pair<unsigned, unsigned>{*id, gid ? *gid : 0};
    }
    return std::nullopt;
  };
  std::pair<unsigned, unsigned> out;
  if (auto n = number(name)) {
    auto pw = lookup("etc/passwd", name, true);
    out = {*n, pw ? pw->second : 0};
  } else if (auto pw = lookup("etc/passwd", name, false)) {
    out = *pw;
  } else {
    return Failf("user {} is not in the image's /etc/passwd", Quote(name));
  }
  if (!group.empty()) {
    if (auto g = number(group)) {
      out.second = *g;
    } else if (auto gr = lookup("etc/group", group, false)) {
      out.second = gr->first;
    } else {
      return Failf("group {} is not in the image's /etc/group", Quote(group));
    }
  }
  return out;
}

Result<ContainerRun> ContainerFor(const RunnableImage& image,
                                  const std::vector<std::string>& command,
                                  const std::vector<std::string>& args,
                                  const std::vector<std::string>& env,
                                  const std::string& working_dir) {
  ContainerRun run;
  STRAKE_TRY_ASSIGN(argv, ImageArgv(image, command, args));
  STRAKE_TRY_ASSIGN(user, ImageUser(image.user, image.root));
  run.argv = std::move(argv);
  auto name_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
  auto has = [&](const std::vector<std::string>& list, const std::string& name) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& e) { return name_of(e) == name; });
  };
  for (const auto& e : image.env) {
    if (!has(env, name_of(e))) run.env.push_back(e);
  }
  if (!has(env, "PATH") && !has(image.env, "PATH"))
    run.env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has(env, "HOME") && !has(image.env, "HOME")) {
    // Docker's: the user's home in the image's /etc/passwd, else / (root: /root).
    std::string home = user.first == 0 ? "/root" : "/";
    for (const auto& line :
         Split(ReadFileBeneath(image.root, "etc/passwd", 1 << 20).value_or(""), '\n')) {
      auto f = Split(line, ':');
      if (f.size() >= 6 && f[2] == std::to_string(user.first) && !f[5].empty()) {
        home = f[5];
        break;
      }
    }
    run.env.push_back("HOME=" + home);
  }
  run.env.insert(run.env.end(), env.begin(), env.end());
  ContainerSpec& box = run.spec;
  box.image_root = image.root;
  std::tie(box.uid, box.gid) = user;
  box.pid_namespace = true;
  box.cwd = !working_dir.empty()         ? working_dir
            : !image.working_dir.empty() ? image.working_dir
                                         : "/";
  for (const char* f : {"/etc/resolv.conf", "/etc/hosts"}) {
    if (PathExists(f)) box.binds.push_back({f, f, true});
  }
  return run;
}

namespace {

// What a child needs to exec `start` with no allocation: its argv and envp
// as C arrays, and where execve looks (argv[0] itself with a '/', else each
// PATH entry, inside the container).
struct Exec {
  explicit Exec(const ContainerStart& start) : not_found("exec " + start.argv[0]) {
    if (start.argv[0].find('/') != std::string::npos) {
      candidates.push_back(start.argv[0]);
    } else {
      std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
      for (const auto& e : start.env) {
        if (e.starts_with("PATH=")) path = e.substr(5);
      }
      for (const auto& dir : Split(path, ':')) {
        candidates.push_back(PathJoin(dir.empty() ? "." : dir, start.argv[0]));
      }
    }
    for (const auto& a : start.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : start.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  std::vector<std::string> candidates;
  std::vector<char*> argv, envp;
  std::string not_found;
};

// Forks with every signal blocked across the fork; in the child, returns 0
// with a session of its own, default dispositions, an empty mask and
// start's stdio and inherited descriptors in place.
Result<pid_t> ForkChild(const ContainerStart& start) {
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid != 0) {
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) return Failf("fork: {}", std::strerror(err));
    return pid;
  }
  // The child: system calls only from here.
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  auto stdio = [&](int fd, int target) { ::dup2(fd >= 0 ? fd : null, target); };
  stdio(start.stdin_fd, 0);
  stdio(start.stdout_fd, 1);
  stdio(start.stderr_fd, 2);
  for (int fd : start.inherit_fds) ::fcntl(fd, F_SETFD, 0);
  for (int fd : start.cgroup_fds) {
    if (::write(fd, "0", 1) != 1) Die(2, "join its cgroup", errno);
  }
  return 0;
}

// In the child: runs the ops, then execs (or dies saying why).
[[noreturn]] void RunAndExec(const std::vector<Op>& ops, const Exec& exec) {
  for (const auto& op : ops) {
    if (!Run(op)) Die(2, op.what.c_str(), errno);
  }
  int err = ENOENT;
  for (const auto& c : exec.candidates) {
    ::execve(c.c_str(), exec.argv.data(), exec.envp.data());
    if (errno != ENOENT && errno != ENOTDIR) err = errno;
  }
  Die(2, exec.not_found.c_str(), err);
}

}  // namespace

Result<pid_t> ForkIntoContainer(const ContainerSpec& spec, const ContainerStart& start) {
  if (start.argv.empty()) return Fail("container: empty command");
  const std::string scratch = ScratchFor(spec.image_root);
  if (scratch.empty()) return Failf("container: no directory to assemble {} in", spec.image_root);
  // A descriptor number for /proc, /dev and each source, reserved until
  // the fork (the child opens the sources there).
  std::vector<Fd> reserved;
  std::vector<int> fds;
  for (size_t i = 0; i < spec.binds.size() + 2; ++i) {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) return Failf("container: /dev/null: {}", std::strerror(errno));
    fds.push_back(fd.get());
    reserved.push_back(std::move(fd));
  }
  const std::vector<Op> ops = Plan(spec, fds, scratch);
  const Exec exec(start);
  STRAKE_TRY_ASSIGN(pid, ForkChild(start));
  if (pid != 0) return pid;
  RunAndExec(ops, exec);
}

Result<pid_t> ForkAndExec(const ContainerStart& start, const std::string& cwd,
                          const std::string& exe) {
  if (start.argv.empty()) return Fail("spawn: empty command");
  std::vector<Op> ops;
  if (!cwd.empty()) ops.push_back({Op::kChdir, cwd, "", "", "", 0, "chdir " + cwd});
  Exec exec(start);
  if (!exe.empty()) exec.candidates = {exe};
  STRAKE_TRY_ASSIGN(pid, ForkChild(start));
  if (pid != 0) return pid;
  RunAndExec(ops, exec);
}

Result<pid_t> ForkIntoRunningContainer(pid_t waiter, const std::string& cwd,
                                       const ContainerStart& start) {
  if (start.argv.empty()) return Fail("container: empty command");
  // Its process 1: the waiter's one child (the waiter itself is outside
  // the PID namespace).
  const std::string children = fmt::format("/proc/{}/task/{}/children", waiter, waiter);
  auto listed = ReadFile(children, 4096);
  pid_t first = 0;
  if (listed) first = static_cast<pid_t>(std::atoi(listed->c_str()));
  if (first <= 0) return Failf("container {}: not running", waiter);
  // Until its process 1 has exec'd, it is still this binary setting the
  // container up (its root not yet the image's): not to be joined.
  char self[PATH_MAX] = {}, its[PATH_MAX] = {};
  const ssize_t a = ::readlink("/proc/self/exe", self, sizeof self - 1);
  const ssize_t b = ::readlink(fmt::format("/proc/{}/exe", first).c_str(), its, sizeof its - 1);
  if (a > 0 && b > 0 &&
      std::string_view(self, static_cast<size_t>(a)) ==
          std::string_view(its, static_cast<size_t>(b)))
    return Failf("container {}: still starting", waiter);
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, first, 0)));
  if (!pidfd) return Failf("container {}: pidfd_open: {}", waiter, std::strerror(errno));
  std::vector<Op> ops;
  ops.push_back({Op::kJoin, "", "", "", "", static_cast<unsigned long>(pidfd.get()),
                 "join the container's namespaces"});
  // Joining a PID namespace places the children in it.
  ops.push_back({Op::kFork, "", "", "", "", 0, "fork into the container's PID namespace"});
  ops.push_back({Op::kChdir, cwd.empty() ? "/" : cwd, "", "", "", 0, "chdir " + cwd});
  DropCaps(ops);
  const Exec exec(start);
  STRAKE_TRY_ASSIGN(pid, ForkChild(start));
  if (pid != 0) return pid;
  RunAndExec(ops, exec);
}

}  // namespace strake
