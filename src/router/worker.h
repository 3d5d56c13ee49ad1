// Worker: one event loop thread of the router (epoll, level-triggered).
//
// A worker owns the client connections it was given, their sessions
// (router/session.h), its pool of idle upstream connections and its view
// of each service's table and balancing state; no lock is taken on the
// request path. What workers share is WorkerShared (options, the count of
// client connections, the round robin of accepted connections) and each
// other's inbox: the worker whose accept woke takes a burst of connections
// and hands each to the next worker in turn, so a burst is spread evenly.
//
// epoll data is the descriptor, whose session the worker finds in its
// fd-indexed owner table (so a session swaps its upstream connections
// without an epoll_ctl), or, with the top bit set, a listening Service.
// Every 100 ms the loop expires sessions past their deadline.
//
// Thread safety: Run on the worker's own thread; Wake, Listen and Unlisten
// from any; the rest only on the worker's thread (sessions call back into
// it). An epoll failure ends the loop with an error in the log.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "base/result.h"
#include "router/balancer.h"
#include "router/router.h"
#include "router/service.h"
#include "router/session.h"
#include "router/upstream_pool.h"

namespace strake::router {

// A service as one worker routes it: the table last taken from it and the
// balancing state for that table.
struct ServiceView {
  uint64_t generation = UINT64_MAX;
  std::shared_ptr<const Installed> inst;
  Balancer balancer;
};

// What the workers of one Router share; it outlives them.
struct WorkerShared {
  const RouterOptions& options;
  std::atomic<size_t>& connections;  // client connections open, against max_connections
  std::atomic<size_t>& next_worker;  // round robin of accepted connections
  // Read to hand connections over; unchanged while any worker runs.
  const std::vector<std::unique_ptr<Worker>>& workers;
};

class Worker {
 public:
  explicit Worker(const WorkerShared& shared) : shared_(shared) {}
  // Closes every descriptor it still holds.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the epoll instance and the wake-up eventfd.
  Status Init();
  // Starts the loop on a thread of its own / asks it to end and joins it.
  void Start();
  void Stop();
  // Adds / removes a listening Service (the address is its epoll data).
  void Listen(Service& svc);
  void Unlisten(const Service& svc);

  // For the sessions of this worker.
  const RouterOptions& options() const { return shared_.options; }
  UpstreamPool& pool() { return pool_; }
  // The service's table and balancing state, refreshed if a new table was
  // installed since the last request.
  ServiceView& View(Service& svc) {
    if (svc.index < views_.size()) {
      ServiceView& v = views_[svc.index];
      if (v.generation == svc.generation.load(std::memory_order_acquire)) return v;
    }
    return Refresh(svc);
  }
  // Closes a connection (and forgets it); it becomes empty.
  void Release(Connection& conn);
  // Moves an idle connection to `port` into the pool, or closes it.
  void Park(Connection& conn, uint16_t port);
  // Ends a session: its client connection closes, its upstream one is
  // pooled if idle. The session is freed after the current events.
  void Close(Session& s);
  // Takes a new session (a mirror's copy) into the loop.
  Session& Add(std::unique_ptr<Session> s);
  // Registers the session's connections for what its phase waits for.
  void UpdateInterest(Session& s);

 private:
  ServiceView& Refresh(Service& svc);
  void Run();
  void Wake();
  void Accept(Service& svc);
  void Adopt(Service& svc, int fd);
  void TakeInbox();
  void OnEvent(Session& s, bool upstream, uint32_t events);
  void OnSpare(Session& s);
  void Drive(Session& s);
  void SetInterest(Session& s, Connection& conn, uint32_t want);
  void CheckTimeouts(SteadyTime now);
  void Reap();

  const WorkerShared shared_;
  int epfd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<Session*> owners_;  // by fd: the session whose Connection holds it
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<ServiceView> views_;  // by Service::index
  UpstreamPool pool_;
  SteadyTime last_scan_;
  // Connections accepted by another worker and handed to this one.
  std::mutex inbox_mu_;
  std::vector<std::pair<Service*, int>> inbox_;
};

}  // namespace strake::router
