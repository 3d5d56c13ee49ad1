// Service: one routed service as the router keeps it -- its listening
// socket, the route table installed for it, and the counters of every
// revision it has routed to.
//
// Router::AddService creates it; it is never freed before the Router, since
// workers hold raw pointers to it in epoll data and in sessions. Every
// worker reads it: listen_fd under accept_mu (RemoveService closes it), the
// installed table under mu, with `generation` bumped after each swap so that
// a worker takes the lock only when the table changed. Counters are atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "router/metrics.h"
#include "router/route_table.h"

namespace strake::router {

// A table as installed: the routes plus the counters of each backend.
// Immutable; shared by the service and the requests routed by it.
struct Installed {
  RouteTable table;
  std::vector<RevisionStats*> stats;  // per backend
};

struct Service {
  std::string name;
  std::string host;
  uint16_t port = 0;
  size_t index = 0;      // in the Router's list: a worker's views are indexed by it
  std::mutex accept_mu;  // guards listen_fd against RemoveService closing it
  int listen_fd = -1;
  std::mutex mu;
  std::shared_ptr<const Installed> installed;                   // under mu
  std::atomic<uint64_t> generation{0};                          // bumped after installed changes
  std::map<std::string, std::unique_ptr<RevisionStats>> stats;  // by revision; under mu
  std::atomic<uint64_t> no_backend{0};

  // `table` with the counters of its backends' revisions (made on first
  // use, kept for good). Called under mu.
  std::shared_ptr<const Installed> Install(RouteTable table) {
    auto inst = std::make_shared<Installed>();
    for (const Backend& b : table.backends) inst->stats.push_back(StatsFor(b.revision));
    inst->table = std::move(table);
    return inst;
  }

 private:
  RevisionStats* StatsFor(const std::string& revision) {
    auto& s = stats[revision];
    if (!s) s = std::make_unique<RevisionStats>(revision);
    return s.get();
  }
};

}  // namespace strake::router
