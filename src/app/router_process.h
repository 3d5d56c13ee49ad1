// `strake router`: the embedded router in a process of its own.
//
// `strake serve` starts it (router/remote.h) and drives it over a Unix
// socket in the data dir, so the service ports keep answering while the
// control plane restarts, kill -9 included. The process serves the control
// protocol (router/control.h) on that socket (mode 0600, nothing listens on
// TCP).
//
// It runs until SIGTERM or SIGINT, a shutdown request, or until its socket
// file is removed or replaced (its data dir is gone: nobody can reach it).
#pragma once

#include <string>

#include "base/result.h"

namespace strake::app {

struct RouterProcessOptions {
  std::string socket_path;
  int workers = 2;
};

Status RunRouterProcess(const RouterProcessOptions& options);

}  // namespace strake::app
