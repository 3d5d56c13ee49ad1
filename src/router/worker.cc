#include "router/worker.h"

#include <netinet/in.h>   // IPPROTO_TCP
#include <netinet/tcp.h>  // TCP_NODELAY
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace strake::router {

namespace {

constexpr uint32_t kIn = EPOLLIN;

// epoll data of a listener: its Service's address with the top bit set
// (user-space addresses never have it); anything else is a descriptor.
constexpr uint64_t kListenerBit = uint64_t{1} << 63;

}  // namespace

Worker::~Worker() {
  for (auto& s : sessions_) {
    for (const Connection* c : {&s->client, &s->upstream, &s->spare}) {
      if (c->fd >= 0) ::close(c->fd);
    }
  }
  for (auto& [svc, fd] : inbox_) {
    ::close(fd);
    shared_.connections.fetch_sub(1);
  }
  if (epfd_ >= 0) ::close(epfd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Worker::Init() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wake_fd_ < 0) return Failf("router: epoll: {}", std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(wake_fd_);
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return Ok();
}

void Worker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Worker::Stop() {
  stopping_.store(true, std::memory_order_release);
  Wake();
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void Worker::Listen(Service& svc) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.u64 = kListenerBit | static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&svc));
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, svc.listen_fd, &ev);
}

void Worker::Unlisten(const Service& svc) {
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, svc.listen_fd, nullptr);
}

// ---- the loop ------------------------------------------------------------------

void Worker::Run() {
  epoll_event events[256];
  last_scan_ = SteadyClock::now();
  while (!stopping_.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epfd_, events, 256, 100);
    if (n < 0 && errno != EINTR) {
      Log(LogLevel::kError, "router: epoll_wait: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t data = events[i].data.u64;
      if (data & kListenerBit) {
        // The address Listen stored; Services live as long as the Router.
        auto addr = static_cast<uintptr_t>(data & ~kListenerBit);
        Accept(*reinterpret_cast<Service*>(addr));  // NOLINT(performance-no-int-to-ptr)
        continue;
      }
      int fd = static_cast<int>(data);
      if (fd == wake_fd_) {
        uint64_t v = 0;
        (void)!::read(wake_fd_, &v, sizeof v);
        TakeInbox();
        continue;
      }
      Session* s =
          static_cast<size_t>(fd) < owners_.size() ? owners_[static_cast<size_t>(fd)] : nullptr;
      if (s == nullptr || s->phase == Phase::kClosed) continue;
      if (fd == s->client.fd) {
        OnEvent(*s, false, events[i].events);
      } else if (fd == s->upstream.fd) {
        OnEvent(*s, true, events[i].events);
      } else if (fd == s->spare.fd) {
        OnSpare(*s);
      }
    }
    SteadyTime now = SteadyClock::now();
    if (now - last_scan_ >= std::chrono::milliseconds(100)) {
      CheckTimeouts(now);
      last_scan_ = now;
    }
    Reap();
  }
}

void Worker::Accept(Service& svc) {
  std::lock_guard<std::mutex> lock(svc.accept_mu);
  if (svc.listen_fd < 0) return;
  for (int i = 0; i < 64; ++i) {
    int fd = ::accept4(svc.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or another worker took it
    if (shared_.connections.fetch_add(1) >= shared_.options.max_connections) {
      shared_.connections.fetch_sub(1);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto& workers = shared_.workers;
    Worker* target = workers[shared_.next_worker.fetch_add(1) % workers.size()].get();
    if (target == this) {
      Adopt(svc, fd);
      continue;
    }
    {
      std::lock_guard<std::mutex> inbox_lock(target->inbox_mu_);
      target->inbox_.emplace_back(&svc, fd);
    }
    target->Wake();
  }
}

void Worker::TakeInbox() {
  std::vector<std::pair<Service*, int>> taken;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    taken.swap(inbox_);
  }
  for (auto& [svc, fd] : taken) Adopt(*svc, fd);
}

void Worker::Adopt(Service& svc, int fd) {
  Session& s = Add(std::make_unique<Session>(svc, fd, SteadyClock::now() + options().idle_timeout));
  SetInterest(s, s.client, EPOLLIN);
}

Session& Worker::Add(std::unique_ptr<Session> s) {
  sessions_.push_back(std::move(s));
  return *sessions_.back();
}

void Worker::OnSpare(Session& s) {
  s.spare.Read();
  // An idle connection has nothing to say: data or a close ends it.
  if (s.spare.eof || s.spare.error || !s.spare.in.empty()) Release(s.spare);
}

void Worker::OnEvent(Session& s, bool upstream, uint32_t events) {
  Connection& conn = upstream ? s.upstream : s.client;
  if (upstream && conn.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    conn.connecting = false;
    if (err != 0) {
      s.ConnectFailed(*this, err);
      Drive(s);
      return;
    }
  }
  if (!upstream && (events & (EPOLLHUP | EPOLLERR))) {
    Close(s);  // both directions gone: nobody to answer
    return;
  }
  // The response timeout runs from the last sign of life of the upstream.
  if (upstream && s.AwaitingResponse()) {
    s.deadline = SteadyClock::now() + options().response_timeout;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn.Read();
  if (events & EPOLLOUT) conn.Flush();
  Drive(s);
}

void Worker::Drive(Session& s) {
  for (int guard = 0; guard < 64 && s.phase != Phase::kClosed; ++guard) {
    if (!s.Step(*this)) break;
  }
  if (s.phase == Phase::kClosed) return;
  if (s.client.error || (s.close_after_flush && s.client.Pending() == 0)) {
    Close(s);
    return;
  }
  UpdateInterest(s);
}

ServiceView& Worker::Refresh(Service& svc) {
  if (views_.size() <= svc.index) views_.resize(svc.index + 1);
  ServiceView& v = views_[svc.index];
  uint64_t gen = svc.generation.load(std::memory_order_acquire);
  if (gen != v.generation) {
    std::lock_guard<std::mutex> lock(svc.mu);
    v.inst = svc.installed;
    v.generation = svc.generation.load(std::memory_order_relaxed);
    v.balancer.Adopt(v.inst->table);
  }
  return v;
}

// ---- connections -----------------------------------------------------------------

void Worker::SetInterest(Session& s, Connection& conn, uint32_t want) {
  if (conn.fd < 0) return;
  if (want == 0) {
    // Out of epoll rather than registered for nothing: a hung-up socket
    // would otherwise report EPOLLHUP on every wait.
    if (conn.in_epoll) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, conn.fd, nullptr);
    conn.in_epoll = false;
    return;
  }
  if (conn.in_epoll && want == conn.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = static_cast<uint64_t>(conn.fd);
  auto slot = static_cast<size_t>(conn.fd);
  if (owners_.size() <= slot) owners_.resize(slot + 1, nullptr);
  owners_[slot] = &s;
  if (::epoll_ctl(epfd_, conn.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, conn.fd, &ev) == 0) {
    conn.in_epoll = true;
    conn.events = want;
  }
}

void Worker::UpdateInterest(Session& s) {
  uint32_t cw = 0, uw = 0;
  const Connection& c = s.client;
  const Connection& u = s.upstream;
  bool c_room = c.in.size() < kMaxBuffer && !c.eof;
  switch (s.phase) {
    case Phase::kHead:
      cw = c_room && !s.close_after_flush ? kIn : 0u;
      uw = u.fd >= 0 && !u.eof ? kIn : 0u;
      break;
    case Phase::kExchange:
      cw = c_room ? kIn : 0u;
      uw = !u.eof && c.Pending() < kMaxBuffer && !u.connecting ? kIn : 0u;
      if (u.connecting || u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kTunnel:
      cw = c_room && u.Pending() < kMaxBuffer ? kIn : 0u;
      uw = !u.eof && c.Pending() < kMaxBuffer ? kIn : 0u;
      if (u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kMirror:
      uw = u.connecting ? static_cast<uint32_t>(EPOLLOUT) : kIn;
      if (u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kClosed:
      return;
  }
  if (c.Pending() > 0) cw |= EPOLLOUT;
  if (s.phase != Phase::kMirror) SetInterest(s, s.client, cw);
  if (u.fd >= 0) SetInterest(s, s.upstream, uw);
  if (s.spare.fd >= 0) SetInterest(s, s.spare, s.spare.eof ? 0u : kIn);
}

void Worker::Park(Connection& conn, uint16_t port) {
  if (conn.fd < 0) return;
  if (!conn.Idle()) {
    Release(conn);
    return;
  }
  if (conn.in_epoll) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, conn.fd, nullptr);
  owners_[static_cast<size_t>(conn.fd)] = nullptr;
  if (!pool_.Put(port, conn.fd)) ::close(conn.fd);  // the port has enough idle ones
  conn = Connection{};
}

void Worker::Release(Connection& conn) {
  if (conn.fd >= 0) {
    if (static_cast<size_t>(conn.fd) < owners_.size()) {
      owners_[static_cast<size_t>(conn.fd)] = nullptr;
    }
    ::close(conn.fd);
  }
  conn = Connection{};
}

void Worker::Close(Session& s) {
  if (s.phase == Phase::kClosed) return;
  if (s.phase != Phase::kMirror && s.client.fd >= 0) shared_.connections.fetch_sub(1);
  Release(s.client);
  if (s.phase == Phase::kHead) {
    Park(s.upstream, s.upstream_port);
  } else {
    Release(s.upstream);
  }
  Park(s.spare, s.spare_port);
  s.phase = Phase::kClosed;
}

void Worker::CheckTimeouts(SteadyTime now) {
  for (size_t i = 0; i < sessions_.size(); ++i) {
    Session& s = *sessions_[i];
    if (s.phase == Phase::kClosed || now < s.deadline) continue;
    s.Expire(*this);
    Drive(s);
  }
}

void Worker::Reap() {
  for (size_t i = 0; i < sessions_.size();) {
    if (sessions_[i]->phase == Phase::kClosed) {
      sessions_[i] = std::move(sessions_.back());
      sessions_.pop_back();
    } else {
      ++i;
    }
  }
}

}  // namespace strake::router
