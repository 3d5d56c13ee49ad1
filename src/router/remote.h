// RemoteRouter: the router in its own process, so that traffic outlives the
// control plane.
//
// `strake serve` runs the data path in a `strake router` process
// (app/router_process.h) and drives it through this RouterControl over a
// Unix socket in the data dir. When serve stops or is killed -9 the router
// keeps listening on every Service port with its last tables, and the
// workloads keep running; the next serve finds it at the same socket, adopts
// its services (Services()) and goes on swapping tables. Clients of the
// service ports see no failed request across the restart.
//
// The client remembers every service it added; if the router process itself
// died and had to be started again, it puts them all back before the call
// that noticed. Thread-safe: calls are serialised on one connection.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/net.h"
#include "base/process.h"
#include "router/router.h"

namespace strake::router {

// Bumped whenever the control protocol changes; a router process that
// speaks another version is replaced.
inline constexpr int kControlProtocol = 1;

struct RemoteRouterOptions {
  std::string socket_path;
  // The command that starts a router process listening on socket_path
  // (empty: never start one, only connect).
  std::vector<std::string> spawn_argv;
  std::string log_path;  // the started process's stdout and stderr
  // A loaded machine (a laptop building, the sanitizer suite on two cores)
  // may take seconds to start the process: measured over 5 s in CI.
  std::chrono::milliseconds start_timeout{20'000};
  std::chrono::milliseconds call_timeout{5000};
};

class RemoteRouter : public RouterControl {
 public:
  explicit RemoteRouter(RemoteRouterOptions options);
  ~RemoteRouter() override;
  RemoteRouter(const RemoteRouter&) = delete;
  RemoteRouter& operator=(const RemoteRouter&) = delete;

  // Connects to the router process at the socket, starting one if none
  // answers there (or one that speaks another protocol version).
  Status Start();
  // Asks the router process to exit; its listeners close. Calls after it
  // fail and never start a new process.
  Status Shutdown();
  // The router process's pid, as it reports it.
  int pid() const;

  Result<uint16_t> AddService(const std::string& service, const std::string& host, uint16_t port,
                              RouteTable table) override;
  Status SetRoutes(const std::string& service, RouteTable table) override;
  Status RemoveService(const std::string& service) override;
  std::map<std::string, Listening> Services() const override;
  std::vector<ServiceCounters> Snapshot() const override;

 private:
  struct Desired {
    std::string host;
    uint16_t port = 0;
    nlohmann::json table;
  };
  struct Info {
    int protocol = 0;
    std::string instance;
    int pid = 0;
  };

  // One request; reconnects (and restarts the process) once on a broken
  // connection. A non-2xx answer becomes an error with the router's message.
  Result<nlohmann::json> Call(const std::string& method, const std::string& target,
                              const nlohmann::json* body) const;
  // `broken`: set when no answer came (the connection is gone).
  Result<nlohmann::json> RoundTrip(const std::string& method, const std::string& target,
                                   const nlohmann::json* body, bool* broken = nullptr) const;
  Status Connect() const;
  Result<Info> ReadInfo() const;
  Status SpawnProcess() const;
  // After a shutdown request: until the process has closed its listeners
  // and removed its socket (start_timeout at most).
  void WaitUntilGone() const;
  Status Replay() const;

  RemoteRouterOptions options_;
  mutable std::mutex mu_;
  mutable std::optional<http::Connection> conn_;
  mutable std::optional<Process> child_;  // a process this client started, to reap
  mutable Info info_;
  bool stopped_ = false;                    // after Shutdown: calls fail, nothing is started again
  std::map<std::string, Desired> desired_;  // what this client added, by service
};

}  // namespace strake::router
