// Starting a process in an image's root filesystem, rootless: what a step
// (and in time a replica) that runs in its OCI image becomes.
//
// The step runner (inside the bubblewrap sandbox, where the unpacked image
// root is bound read-only) forks, and the child becomes the container: a
// user namespace of its own (the sandbox's user mapped to the image's uid
// and gid), a mount namespace with an overlay of the image root and a
// private tmpfs (the container's writable layer, gone when it exits), the
// given directories bound in (workspaces, /tekton), a /proc and a /dev, a
// fresh /tmp, pivot_root into it, the working directory (made
// when the image lacks it), Docker's default capabilities for its root
// (none other), then exec of the command on the environment's PATH inside
// the image. An image's symlink where a mount goes is replaced by a
// directory, never followed. Everything the child does is computed before the
// fork, so between fork and exec it makes system calls only (the runner
// has threads). Needs unprivileged user namespaces with overlayfs in them
// (Linux 5.11+).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace strake {

struct ContainerSpec {
  std::string image_root;  // the unpacked root, as the sandbox sees it
  unsigned uid = 0;        // inside the container
  unsigned gid = 0;
  struct Bind {
    std::string source;  // as the sandbox sees it
    std::string target;  // inside the container
    bool read_only = false;
  };
  std::vector<Bind> binds;
  std::vector<std::string> hidden;  // covered with an empty tmpfs (after the binds)
  std::string cwd = "/";
  // A PID namespace of its own, as a Kubernetes container has: the command
  // is its process 1 (a signal it has no handler for does not reach it,
  // SIGKILL aside) and everything it started ends with it; /proc shows its
  // processes only. The pid ForkIntoContainer returns is then a waiter
  // outside the namespace that ignores SIGTERM, SIGINT and SIGHUP (the
  // command in the same process group gets them) and exits as the command
  // does (128 + signal when killed).
  bool pid_namespace = false;
  // With pid_namespace: when the kernel refuses a /proc of its own (a
  // /proc with covered parts, in a container), bind the one this process
  // sees instead of failing. For steps only, whose sandbox's /proc shows
  // the sandbox's processes; a workload on the host would see the host's.
  bool host_proc_fallback = false;
  // Bind the /dev this process sees instead of making one of its own. For
  // steps, whose sandbox's /dev is already bubblewrap's minimal one (a
  // workload on the host would see the host's devices).
  bool sandbox_dev = false;
};

// An unpacked image as a container runs it: its root and the parts of its
// config that decide the command, environment, directory and user.
struct RunnableImage {
  std::string root;    // the host directory of the unpacked root
  std::string digest;  // of the image manifest it was unpacked from
  std::string name;    // its repository, normalised: "docker.io/library/alpine"
  std::vector<std::string> entrypoint, cmd, env;
  std::string working_dir, user;
};

// Where containers' images come from when workloads, Jobs and analysis
// jobs run in their images (app/ implements it over images/'s store; tests
// give their own).
class ContainerImages {
 public:
  virtual ~ContainerImages() = default;
  // `image` unpacked on this machine: at once when `pull_policy` (""
  // means Kubernetes' default for it) lets the copy here serve, or
  // `local_ok` does (replicas of it already run); std::nullopt while a
  // pull runs in the background, `done` then called once when it ends (on
  // the pull's thread, never within Get). An error is the last pull's,
  // until a back-off has passed. `pull_secrets`: .dockerconfigjson texts,
  // the first that has credentials for the registry used.
  virtual Result<std::optional<RunnableImage>> Get(const std::string& image,
                                                   const std::string& pull_policy, bool local_ok,
                                                   const std::vector<std::string>& pull_secrets,
                                                   std::function<void()> done) = 0;
  // Whether `image` runs with this machine's programs instead (no image at
  // all, or one marked with --run-on-host: RunsOnHost).
  virtual bool OnHost(const std::string& image) const { return image.empty(); }
};

// An image marked to run on the host (`strake run|serve --run-on-host`):
// one of `globs` (base/fs.h GlobMatch) matches it as written or its
// repository without tag or digest ("alpine", "docker.io/library/*", "**").
// No image at all runs on the host too.
bool RunsOnHost(const std::string& image, const std::vector<std::string>& globs);

// Kubernetes' rule for a container's command: `command` replaces the
// image's Entrypoint (and drops its Cmd), `args` replace its Cmd. An error
// when nothing is left to run.
Result<std::vector<std::string>> ImageArgv(const RunnableImage& image,
                                           const std::vector<std::string>& command,
                                           const std::vector<std::string>& args);

// How a Kubernetes container runs in `image`: its argv (ImageArgv), its
// environment (the image's Env, then `env` replacing it by name, PATH and
// HOME as Docker sets them when neither gives them: HOME from the image's
// /etc/passwd), and a container spec
// with the image's user, the working directory (`working_dir`, else the
// image's, else /), a PID namespace of its own, and this machine's
// /etc/resolv.conf and /etc/hosts read-only (it shares the network).
struct ContainerRun {
  std::vector<std::string> argv, env;
  ContainerSpec spec;
};
Result<ContainerRun> ContainerFor(const RunnableImage& image,
                                  const std::vector<std::string>& command,
                                  const std::vector<std::string>& args,
                                  const std::vector<std::string>& env,
                                  const std::string& working_dir);

// An image's User ("uid", "uid:gid", "name" or "name:group") as numbers,
// names read from the image's own /etc/passwd and /etc/group under `root`;
// "" is root.
Result<std::pair<unsigned, unsigned>> ImageUser(const std::string& user, const std::string& root);

// The spec as arguments ([--uid N] [--gid N] [--bind|--ro-bind SRC DST]...
// [--tmpfs DST]... [--unshare-pid] [--proc-fallback] [--sandbox-dev] [--cwd DIR] ROOT), as a step
// plan carries it, and back.
std::vector<std::string> ContainerArgs(const ContainerSpec& spec);
Result<ContainerSpec> ParseContainerArgs(const std::vector<std::string>& args);

struct ContainerStart {
  std::vector<std::string> argv;  // argv[0] is looked up on env's PATH inside the image
  std::vector<std::string> env;
  int stdin_fd = -1;  // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<int> inherit_fds;  // kept open at the same numbers
  // cgroup.procs descriptors (base/cgroup.h) the child joins first, by
  // writing "0" to each, so that everything it starts is inside.
  std::vector<int> cgroup_fds = {};
};

// Forks a child that enters the container and execs; it leads a session of
// its own, with default signal dispositions and an empty signal mask. What
// fails in the child before the exec is written to its stderr, and it exits
// 127. Returns the child's pid.
Result<pid_t> ForkIntoContainer(const ContainerSpec& spec, const ContainerStart& start);

// Forks a child on this machine's root, as ForkIntoContainer forks one (a
// session, signals, stdio, cgroups), that changes to `cwd` ("" stays) and
// execs `exe` (else argv[0] looked up on env's PATH) with start's argv:
// Spawn's way when the child must join cgroups before it execs, which
// posix_spawn cannot do.
Result<pid_t> ForkAndExec(const ContainerStart& start, const std::string& cwd,
                          const std::string& exe = "");

// Forks a child that joins the user, mount and PID namespaces of a
// running container with a PID namespace (`waiter`: the pid
// ForkIntoContainer returned) and forks again into it, as its user, with
// its capabilities, in `cwd`, and execs there: an exec probe. The pid
// returned waits for the command and exits as it does. Same contract as
// ForkIntoContainer otherwise.
Result<pid_t> ForkIntoRunningContainer(pid_t waiter, const std::string& cwd,
                                       const ContainerStart& start);

}  // namespace strake
