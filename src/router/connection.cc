#include "router/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace strake::router {

void Connection::Read() {
  size_t budget = kMaxBuffer;
  char buf[16384];
  while (budget > 0 && !eof) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r > 0) {
      in.append(buf, static_cast<size_t>(r));
      budget -= std::min(budget, static_cast<size_t>(r));
      if (static_cast<size_t>(r) < sizeof buf) break;
    } else if (r == 0) {
      eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno != EINTR) {
      eof = error = true;
    }
  }
}

void Connection::Flush() {
  while (Pending() > 0 && fd >= 0 && !error && !connecting) {
    ssize_t w = ::send(fd, out.data() + out_off, Pending(), MSG_NOSIGNAL);
    if (w > 0) {
      out_off += static_cast<size_t>(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      error = true;
      break;
    }
  }
  if (out_off == out.size()) {
    out.clear();
    out_off = 0;
  } else if (out_off > size_t{64} * 1024) {
    out.erase(0, out_off);
    out_off = 0;
  }
}

void Connection::Send(std::string_view data) {
  out.append(data);
  Flush();
}

}  // namespace strake::router
