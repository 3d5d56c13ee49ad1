// `strake router`: the embedded router in a process of its own.
//
// `strake serve` starts it (router/remote.h) and drives it over a Unix
// socket in the data dir, so the service ports keep answering while the
// control plane restarts, kill -9 included. The control protocol is small
// JSON over HTTP/1.1 on that socket (mode 0600, nothing listens on TCP):
//
//   GET    /v1/info            {protocol, instance, pid}
//   GET    /v1/services        {services: {NAME: {host, port, table}}}
//   POST   /v1/services        {name, host, port, table} -> {port}; 409 if it exists
//   PUT    /v1/services/NAME   {table}: swapped in atomically; 404 if unknown
//   DELETE /v1/services/NAME
//   GET    /v1/counters        {services: [per-revision counters]}
//   GET    /metrics            Prometheus text
//   POST   /v1/shutdown
//
// It runs until SIGTERM or SIGINT, a shutdown request, or until its socket
// file is removed or replaced (its data dir is gone: nobody can reach it).
#pragma once

#include <string>

#include "base/result.h"

namespace strake::server {

struct RouterProcessOptions {
  std::string socket_path;
  int workers = 2;
};

Status RunRouterProcess(const RouterProcessOptions& options);

}  // namespace strake::server
