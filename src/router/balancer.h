// Balancer: which backend and endpoint of a service's RouteTable a request
// goes to, as one worker decides it.
//
// Header routes first: the first whose headers all match takes the request
// (even to a backend with no ready endpoint: the caller answers 503 naming
// its revision). Then smooth weighted round robin, as nginx balances
// upstreams, over the backends with weight and a ready endpoint: exact
// shares evenly interleaved, so 90/10 sends exactly 9 of every 10 requests
// to the first backend, not a random approximation. Round robin across a
// backend's endpoints. A mirror route copies an exact share of the requests
// it matches (50% copies every second one).
//
// State on values: one Balancer per worker and service, no lock, clock or
// socket; each worker keeps exact shares of its own requests. Adopting a
// new table starts the shares over only when its backends or weights
// changed: the controller installs a table on every pass, and restarting
// the round each time would skew the shares towards the heaviest backend
// (the mirror share always carries over).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/http.h"
#include "router/route_table.h"

namespace strake::router {

class Balancer {
 public:
  static constexpr size_t kNone = SIZE_MAX;

  // A new table with `backends` backends: weights and endpoints start over.
  void Reset(size_t backends);
  // `table`, newly installed: Reset unless its backends' revisions and
  // weights are those of the table adopted last.
  void Adopt(const RouteTable& table);
  // The backend for a request with `head`, or kNone when no header route
  // matches and no backend has both weight and a ready endpoint.
  size_t PickBackend(const RouteTable& table, const http::Head& head);
  // The next endpoint of `backend` (index `index` of the table), which has
  // at least one. An index beyond the table Reset last (a request of an older
  // table) takes the first endpoint.
  uint16_t NextPort(size_t index, const Backend& backend) {
    size_t n = index < next_.size() ? next_[index]++ : 0;
    return backend.ports[n % backend.ports.size()];
  }
  // Counts the request against the first mirror route it matches and
  // returns the backend its copy goes to when the route's share is due, the
  // request is `copyable` and the backend has an endpoint; else kNone.
  size_t PickMirror(const RouteTable& table, const http::Head& head, bool copyable);

 private:
  std::vector<int64_t> current_;                         // smooth weighted round robin, per backend
  std::vector<size_t> next_;                             // next endpoint, per backend
  std::vector<std::pair<std::string, uint32_t>> shape_;  // revision and weight, per backend
  uint64_t mirror_share_ = 0;                            // percent owed to mirroring
};

}  // namespace strake::router
