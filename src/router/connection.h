// Connection: one non-blocking TCP socket of a router worker (a client's, or
// one to an upstream endpoint) with the bytes read from it and not yet
// passed on, and the bytes waiting to be written to it.
//
// Read takes what the kernel has, at most kMaxBuffer per call so that one
// busy peer cannot starve the others; Send writes as much as the socket
// takes and keeps the rest for Flush on the next EPOLLOUT. Nothing here
// blocks or throws: a peer's close sets `eof`, a broken socket `error` (and
// `eof`), and the session that owns the connection decides what that means
// for its exchange.
//
// The descriptor is owned by whoever holds the Connection, but closed by
// its worker (Worker::Release, Worker::Park), which also forgets its epoll
// registration. One worker's: not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strake::router {

// Per direction: a connection whose buffer holds this much is not read
// further (and its peer's output not accepted) until it drains.
inline constexpr size_t kMaxBuffer = size_t{256} * 1024;

struct Connection {
  int fd = -1;
  std::string in;   // read, not yet consumed
  std::string out;  // to write, from out_off on
  size_t out_off = 0;
  bool in_epoll = false;
  uint32_t events = 0;      // registered with epoll, when in_epoll
  bool eof = false;         // the peer closed (or the socket broke)
  bool error = false;       // the socket broke
  bool shut_wr = false;     // our side's write half is shut (a tunnel's end)
  bool connecting = false;  // a non-blocking connect in progress: nothing is written yet
  // An upstream connection that served an earlier request: if it closes
  // before answering, that may be its idle close racing our request.
  bool reused = false;

  size_t Pending() const { return out.size() - out_off; }
  // Open and quiet: connected, nothing unread or unsent, not closed by the
  // peer. Only such a connection may serve another request.
  bool Idle() const { return !eof && !error && !connecting && in.empty() && Pending() == 0; }

  // Reads what is available into `in`, up to kMaxBuffer.
  void Read();
  // Writes pending output until the socket would block.
  void Flush();
  // Queues `data` and writes what the socket takes now (nothing while
  // connecting: the connect's EPOLLOUT flushes it).
  void Send(std::string_view data);
};

}  // namespace strake::router
