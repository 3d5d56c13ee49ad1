#include "app/router_process.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "base/log.h"
#include "base/process.h"
#include "router/control.h"
#include "router/router.h"
#include "server/http_server.h"

namespace strake::app {

namespace {

// The socket file as it was bound; a different inode means another process
// owns the path now.
bool SameFile(const std::string& path, const struct stat& bound) {
  struct stat now {};
  return ::stat(path.c_str(), &now) == 0 && now.st_ino == bound.st_ino &&
         now.st_dev == bound.st_dev;
}

}  // namespace

Status RunRouterProcess(const RouterProcessOptions& options) {
  if (options.socket_path.empty()) return Fail("strake router: --socket is required");
  sigset_t signals = BlockStopSignals();

  router::RouterOptions ropt;
  ropt.workers = options.workers;
  router::Router router(ropt);
  STRAKE_TRY(router.Start());
  std::atomic<bool> shutdown{false};
  router::Control control(router, shutdown);
  server::HttpServerOptions hopt;
  hopt.idle_timeout = std::chrono::hours(24 * 365);  // the control plane's connection stays open
  server::HttpServer http(
      [&control](const server::Request& req) {
        router::ControlAnswer a = control.Handle(req.method, req.path, req.body);
        return server::Response{a.status, std::move(a.content_type), std::move(a.body), nullptr};
      },
      hopt);
  STRAKE_TRY(http.ListenUnix(options.socket_path));
  struct stat bound {};
  if (::stat(options.socket_path.c_str(), &bound) != 0) {
    return Failf("stat {}: {}", options.socket_path, std::strerror(errno));
  }
  http.Start();
  Log(LogLevel::kInfo, "strake router: pid {} controlled on {}", ::getpid(), options.socket_path);

  timespec tick{0, 200'000'000};
  std::string why;
  while (why.empty()) {
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      why = sig == SIGINT ? "SIGINT" : "SIGTERM";
    } else if (shutdown) {
      why = "shutdown requested";
    } else if (!SameFile(options.socket_path, bound)) {
      why = "socket file removed or replaced";
    }
  }
  Log(LogLevel::kInfo, "strake router: {}, stopping", why);
  router.Stop();  // listeners close first: the ports are free once the socket is gone
  http.Stop();
  if (SameFile(options.socket_path, bound)) ::unlink(options.socket_path.c_str());
  return Ok();
}

}  // namespace strake::app
