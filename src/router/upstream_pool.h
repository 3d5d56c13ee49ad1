// UpstreamPool: one worker's idle keep-alive connections to upstream
// endpoints (127.0.0.1:port), and the opening of new ones.
//
// Take hands out an idle connection to a port after checking, without
// blocking, that the upstream has not closed it in the meantime (or sent
// bytes nobody asked for): such a connection is closed and the next one
// tried. Put keeps at most kMaxPooledPerPort per port. The pool owns the
// descriptors it holds and closes them when destroyed; one taken out belongs
// to the caller. A connection can still race the upstream's idle close after
// Take; the session retries a body-less request once on a fresh connection
// for that.
//
// One per worker: not thread-safe. Connect fails with the errno text (the
// caller adds which revision it was for).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace strake::router {

inline constexpr size_t kMaxPooledPerPort = 256;

class UpstreamPool {
 public:
  UpstreamPool() = default;
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection to `port` that the upstream has not closed, or -1.
  int Take(uint16_t port);
  // Keeps `fd`, idle and connected to `port`, for a later Take. False when
  // the port already has kMaxPooledPerPort: the caller keeps (and closes) it.
  [[nodiscard]] bool Put(uint16_t port, int fd);
  // How many connections to `port` are kept.
  size_t Idle(uint16_t port) const;

 private:
  std::unordered_map<uint16_t, std::vector<int>> idle_;
};

// A socket connecting to 127.0.0.1:port without blocking (TCP_NODELAY set).
struct Dialed {
  int fd = -1;
  bool connecting = false;  // true: the connect completes (or fails) on EPOLLOUT
};
Result<Dialed> ConnectLoopback(uint16_t port);

}  // namespace strake::router
