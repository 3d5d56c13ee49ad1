// Router: the embedded HTTP/1.1 traffic router of the local target.
//
// Each Service listens on its own port on 127.0.0.1 and forwards requests to
// ready endpoints of the backend its RouteTable picks: header routes first,
// then exact weights (smooth weighted round robin: 90/10 sends exactly 9 of
// every 10 requests to the first backend on each worker, not a random
// approximation), round robin across a backend's endpoints, and mirroring of
// a share of matching requests to another backend with the copy's response
// discarded. Keep-alive on both sides (an idle pool of upstream connections
// per worker), chunked bodies streamed without buffering whole messages,
// upgrades (101) tunnelled both ways.
//
// Threads: `workers` event loops (epoll), each owning the connections it
// accepted; no lock on the request path. SetRoutes swaps a table under a
// mutex and bumps an atomic generation; a worker picks the new table up at
// its next request, so a weight change (an abort) takes effect for every
// request that starts after SetRoutes returns.
//
// Failures are answers, never hangs: 503 when the chosen backend has no
// ready endpoint, 502 when the upstream refuses or breaks, 504 when it does
// not answer within the response timeout, 431 for an oversized head, 400 for
// a malformed one; connections over the limit are closed at accept.
//
// Metrics per service and revision: requests by status class, upstream
// errors, mirrored requests and a latency histogram, readable at any time
// (Snapshot, PrometheusText). Public methods are thread-safe.
//
// The parts, each in a file pair of its own: worker.h (an event loop
// thread), session.h (a client connection and its exchanges), exchange.h
// (where a request and its response stand), balancer.h (which backend and
// endpoint), upstream_pool.h, connection.h (a socket and its buffers),
// service.h (a service's listener, table and counters) and metrics.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "router/metrics.h"
#include "router/route_table.h"

namespace strake::router {

struct Service;  // router/service.h
class Worker;    // router/worker.h

struct RouterOptions {
  int workers = 2;
  size_t max_header_bytes = size_t{64} * 1024;
  size_t max_connections = 10'000;  // client connections, per router
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds response_timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive client between requests
  size_t max_mirror_body = size_t{64} * 1024;      // larger requests are not mirrored
};

// Where a service listens.
struct Listening {
  std::string host;
  uint16_t port = 0;
  bool operator==(const Listening&) const = default;
};

// What the control plane needs from a router. Router is the embedded one;
// RemoteRouter (router/remote.h) drives one in a `strake router` process so
// traffic keeps flowing while the control plane restarts.
class RouterControl {
 public:
  virtual ~RouterControl() = default;
  virtual Result<uint16_t> AddService(const std::string& service, const std::string& host,
                                      uint16_t port, RouteTable table) = 0;
  virtual Status SetRoutes(const std::string& service, RouteTable table) = 0;
  virtual Status RemoveService(const std::string& service) = 0;
  // Service name -> where it listens.
  virtual std::map<std::string, Listening> Services() const = 0;
  virtual std::vector<ServiceCounters> Snapshot() const = 0;
  // Prometheus text exposition of Snapshot().
  std::string PrometheusText() const;
};

class Router : public RouterControl {
 public:
  explicit Router(RouterOptions options = {});
  ~Router() override;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Starts the worker threads.
  Status Start();
  // Closes listeners and connections and joins the workers.
  void Stop();

  // Listens for `service` on host:port (0: any free port) and routes by
  // `table`. Returns the bound port. Fails if the name exists, the port is
  // taken ("address already in use" with the port) or the table is invalid.
  Result<uint16_t> AddService(const std::string& service, const std::string& host, uint16_t port,
                              RouteTable table) override;
  // Atomically replaces the service's table.
  Status SetRoutes(const std::string& service, RouteTable table) override;
  // Stops listening; connections in flight finish their current request.
  Status RemoveService(const std::string& service) override;
  std::map<std::string, Listening> Services() const override;

  std::vector<ServiceCounters> Snapshot() const override;

 private:
  RouterOptions options_;
  mutable std::mutex mu_;
  // Services are never freed before the Router: workers hold raw pointers to
  // them in epoll data and in connections in flight.
  std::vector<std::unique_ptr<Service>> services_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> connections_{0};
  std::atomic<size_t> next_worker_{0};  // round robin of accepted connections
  bool started_ = false;
};

}  // namespace strake::router
