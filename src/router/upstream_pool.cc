#include "router/upstream_pool.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strake::router {

UpstreamPool::~UpstreamPool() {
  for (auto& [port, fds] : idle_) {
    for (int fd : fds) ::close(fd);
  }
}

int UpstreamPool::Take(uint16_t port) {
  auto it = idle_.find(port);
  while (it != idle_.end() && !it->second.empty()) {
    int fd = it->second.back();
    it->second.pop_back();
    char probe;
    ssize_t r = ::recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return fd;
    ::close(fd);  // closed by the upstream, or it sent unasked bytes
  }
  return -1;
}

bool UpstreamPool::Put(uint16_t port, int fd) {
  auto& fds = idle_[port];
  if (fds.size() >= kMaxPooledPerPort) return false;
  fds.push_back(fd);
  return true;
}

size_t UpstreamPool::Idle(uint16_t port) const {
  auto it = idle_.find(port);
  return it == idle_.end() ? 0 : it->second.size();
}

Result<Dialed> ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failf("socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    return Dialed{fd, false};
  }
  if (errno == EINPROGRESS) return Dialed{fd, true};
  int err = errno;
  ::close(fd);
  return Fail(std::strerror(err));
}

}  // namespace strake::router
