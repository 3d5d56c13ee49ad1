// Starting a process in an image's root filesystem, rootless: what a step
// (and in time a replica) that runs in its OCI image becomes.
//
// The step runner (inside the bubblewrap sandbox, where the unpacked image
// root is bound read-only) forks, and the child becomes the container: a
// user namespace of its own (the sandbox's user mapped to the image's uid
// and gid), a mount namespace with an overlay of the image root and a
// private tmpfs (the container's writable layer, gone when it exits), the
// given directories bound in (workspaces, /tekton), /proc and /dev from the
// sandbox, a fresh /tmp, pivot_root into it, the working directory (made
// when the image lacks it), Docker's default capabilities for its root
// (none other), then exec of the command on the environment's PATH inside
// the image. An image's symlink where a mount goes is replaced by a
// directory, never followed. Everything the child does is computed before the
// fork, so between fork and exec it makes system calls only (the runner
// has threads). Needs unprivileged user namespaces with overlayfs in them
// (Linux 5.11+).
#pragma once

#include <sys/types.h>

#include <string>
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
};

// The spec as arguments ([--uid N] [--gid N] [--bind|--ro-bind SRC DST]...
// [--tmpfs DST]... [--cwd DIR] ROOT), as a step plan carries it, and back.
std::vector<std::string> ContainerArgs(const ContainerSpec& spec);
Result<ContainerSpec> ParseContainerArgs(const std::vector<std::string>& args);

struct ContainerStart {
  std::vector<std::string> argv;  // argv[0] is looked up on env's PATH inside the image
  std::vector<std::string> env;
  int stdin_fd = -1;  // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  std::vector<int> inherit_fds;  // kept open at the same numbers
};

// Forks a child that enters the container and execs; it leads a session of
// its own, with default signal dispositions and an empty signal mask. What
// fails in the child before the exec is written to its stderr, and it exits
// 127. Returns the child's pid.
Result<pid_t> ForkIntoContainer(const ContainerSpec& spec, const ContainerStart& start);

}  // namespace strake
