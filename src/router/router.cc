#include "router/router.h"

#include <netinet/in.h>   // IPPROTO_TCP
#include <netinet/tcp.h>  // TCP_NODELAY
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/http.h"
#include "base/log.h"
#include "base/net.h"
#include "router/balancer.h"
#include "router/connection.h"
#include "router/exchange.h"
#include "router/upstream_pool.h"

namespace strake::router {

namespace {

constexpr uint32_t kIn = EPOLLIN;

// A table as installed: the routes plus the counters of each backend.
struct Installed {
  RouteTable table;
  std::vector<RevisionStats*> stats;  // per backend
};

// epoll data: a listener is its Service's address with the top bit set
// (user-space addresses never have it); anything else is a file descriptor,
// whose session the worker finds in its fd-indexed owner table. Keying by fd
// lets a session swap its upstream connections without an epoll_ctl.
constexpr uint64_t kListenerBit = uint64_t{1} << 63;

enum class Phase { kHead, kExchange, kTunnel, kMirror, kClosed };

}  // namespace

struct Router::Service {
  std::string name;
  std::string host;
  uint16_t port = 0;
  size_t index = 0;
  std::mutex accept_mu;  // guards listen_fd against RemoveService closing it
  int listen_fd = -1;
  std::mutex mu;
  std::shared_ptr<const Installed> installed;  // shared with requests in flight
  std::atomic<uint64_t> generation{0};
  std::map<std::string, std::unique_ptr<RevisionStats>> stats;  // by revision; never freed
  std::atomic<uint64_t> no_backend{0};

  RevisionStats* StatsFor(const std::string& revision) {
    auto& s = stats[revision];
    if (!s) s = std::make_unique<RevisionStats>(revision);
    return s.get();
  }
};

namespace {

struct Session {
  Router::Service* svc = nullptr;
  Connection c, u;
  Phase phase = Phase::kHead;
  bool close_after_flush = false;
  SteadyTime deadline;

  // The exchange in progress.
  std::shared_ptr<const Installed> inst;
  size_t backend = 0;
  RequestState req;
  ResponseState resp;
  uint16_t up_port = 0;
  // An idle connection to the other backend of the previous requests (a
  // 90/10 split alternates between two endpoints), kept registered.
  Connection spare;
  uint16_t spare_port = 0;

  void ResetExchange() {
    inst.reset();
    req.Reset();
    resp = ResponseState{};
  }
};

// Per-worker view of one service: its table and the balancing state.
struct ServiceLocal {
  uint64_t generation = UINT64_MAX;
  std::shared_ptr<const Installed> inst;
  Balancer balancer;
};

}  // namespace

struct Router::Worker {
  Router* router = nullptr;
  int epfd = -1;
  int wake_fd = -1;
  std::vector<Session*> owners;  // by fd: the session whose Connection holds it
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<ServiceLocal> locals;
  UpstreamPool pool;
  SteadyTime last_scan;
  // Connections accepted by another worker and handed to this one, so that
  // a burst of connections is spread evenly instead of landing on whichever
  // worker woke first.
  std::mutex inbox_mu;
  std::vector<std::pair<Service*, int>> inbox;

  ~Worker() {
    for (auto& s : sessions) {
      if (s->c.fd >= 0) ::close(s->c.fd);
      if (s->u.fd >= 0) ::close(s->u.fd);
      if (s->spare.fd >= 0) ::close(s->spare.fd);
    }
    for (auto& [svc, fd] : inbox) {
      ::close(fd);
      router->connections_.fetch_sub(1);
    }
    if (epfd >= 0) ::close(epfd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  void Run();
  void Accept(Service& svc);
  void Adopt(Service& svc, int fd);
  void TakeInbox();
  void OnEvent(Session& s, bool upstream, uint32_t events);
  void Drive(Session& s);
  bool StepHead(Session& s);
  bool StepExchange(Session& s);
  bool StepTunnel(Session& s);
  bool StepMirror(Session& s);
  void FinishExchange(Session& s);
  void RecordExchange(Session& s);
  void UpstreamFail(Session& s, int code, const std::string& why);
  void LocalReply(Session& s, int code, std::string_view text, bool keep_alive);
  bool OpenUpstream(Session& s, uint16_t port, bool allow_pool);
  void LaunchMirror(Session& s);
  ServiceLocal& Local(Service& svc);
  void CloseUpstream(Session& s);
  void Close(Session& s);
  void UpdateInterest(Session& s);
  void SetInterest(Session& s, Connection& side, uint32_t want);
  void CloseSide(Connection& side);
  // Moves an idle connection to the pool (or closes it).
  void Park(Connection& side, uint16_t port);
  void OnSpare(Session& s);
  void CheckTimeouts(SteadyTime now);
  void Reap();
};

// ---- worker loop -----------------------------------------------------------

void Router::Worker::Run() {
  epoll_event events[256];
  last_scan = SteadyClock::now();
  while (!stopping.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epfd, events, 256, 100);
    if (n < 0 && errno != EINTR) {
      Log(LogLevel::kError, "router: epoll_wait: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t data = events[i].data.u64;
      if (data & kListenerBit) {
        // The address AddService stored; Services live as long as the Router.
        auto addr = static_cast<uintptr_t>(data & ~kListenerBit);
        Accept(*reinterpret_cast<Service*>(addr));  // NOLINT(performance-no-int-to-ptr)
        continue;
      }
      int fd = static_cast<int>(data);
      if (fd == wake_fd) {
        uint64_t v = 0;
        (void)!::read(wake_fd, &v, sizeof v);
        TakeInbox();
        continue;
      }
      Session* s =
          static_cast<size_t>(fd) < owners.size() ? owners[static_cast<size_t>(fd)] : nullptr;
      if (s == nullptr || s->phase == Phase::kClosed) continue;
      if (fd == s->c.fd) {
        OnEvent(*s, false, events[i].events);
      } else if (fd == s->u.fd) {
        OnEvent(*s, true, events[i].events);
      } else if (fd == s->spare.fd) {
        OnSpare(*s);
      }
    }
    SteadyTime now = SteadyClock::now();
    if (now - last_scan >= std::chrono::milliseconds(100)) {
      CheckTimeouts(now);
      last_scan = now;
    }
    Reap();
  }
}

void Router::Worker::Accept(Service& svc) {
  std::lock_guard<std::mutex> lock(svc.accept_mu);
  if (svc.listen_fd < 0) return;
  for (int i = 0; i < 64; ++i) {
    int fd = ::accept4(svc.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or another worker took it
    if (router->connections_.fetch_add(1) >= router->options_.max_connections) {
      router->connections_.fetch_sub(1);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto& workers = router->workers_;
    Worker* target = workers[router->next_worker_.fetch_add(1) % workers.size()].get();
    if (target == this) {
      Adopt(svc, fd);
      continue;
    }
    {
      std::lock_guard<std::mutex> inbox_lock(target->inbox_mu);
      target->inbox.emplace_back(&svc, fd);
    }
    uint64_t wake = 1;
    (void)!::write(target->wake_fd, &wake, sizeof wake);
  }
}

void Router::Worker::TakeInbox() {
  std::vector<std::pair<Service*, int>> taken;
  {
    std::lock_guard<std::mutex> lock(inbox_mu);
    taken.swap(inbox);
  }
  for (auto& [svc, fd] : taken) Adopt(*svc, fd);
}

void Router::Worker::Adopt(Service& svc, int fd) {
  auto s = std::make_unique<Session>();
  s->svc = &svc;
  s->c.fd = fd;
  s->deadline = SteadyClock::now() + router->options_.idle_timeout;
  Session& ref = *s;
  sessions.push_back(std::move(s));
  SetInterest(ref, ref.c, EPOLLIN);
}

void Router::Worker::OnSpare(Session& s) {
  s.spare.Read();
  // An idle connection has nothing to say: data or a close ends it.
  if (s.spare.eof || s.spare.error || !s.spare.in.empty()) CloseSide(s.spare);
}

void Router::Worker::OnEvent(Session& s, bool upstream, uint32_t events) {
  Connection& side = upstream ? s.u : s.c;
  if (upstream && s.u.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.u.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    s.u.connecting = false;
    if (err != 0) {
      if (s.phase == Phase::kMirror) {
        Close(s);
        return;
      }
      UpstreamFail(
          s, 502,
          fmt::format("connect to revision {} at 127.0.0.1:{}: {}",
                      s.inst->table.backends[s.backend].revision, s.up_port, std::strerror(err)));
      Drive(s);
      return;
    }
  }
  if (!upstream && (events & (EPOLLHUP | EPOLLERR))) {
    Close(s);  // both directions gone: nobody to answer
    return;
  }
  if (upstream && !s.u.connecting && s.phase == Phase::kExchange && !s.resp.head_done &&
      s.u.in.empty()) {
    s.deadline = SteadyClock::now() + router->options_.response_timeout;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) side.Read();
  if (events & EPOLLOUT) side.Flush();
  Drive(s);
}

void Router::Worker::Drive(Session& s) {
  for (int guard = 0; guard < 64 && s.phase != Phase::kClosed; ++guard) {
    bool progressed = false;
    switch (s.phase) {
      case Phase::kHead:
        progressed = StepHead(s);
        break;
      case Phase::kExchange:
        progressed = StepExchange(s);
        break;
      case Phase::kTunnel:
        progressed = StepTunnel(s);
        break;
      case Phase::kMirror:
        progressed = StepMirror(s);
        break;
      case Phase::kClosed:
        break;
    }
    if (!progressed) break;
  }
  if (s.phase == Phase::kClosed) return;
  if (s.c.error) {
    Close(s);
    return;
  }
  if (s.close_after_flush && s.c.Pending() == 0) {
    Close(s);
    return;
  }
  UpdateInterest(s);
}

// ---- one request -------------------------------------------------------------

ServiceLocal& Router::Worker::Local(Service& svc) {
  if (locals.size() <= svc.index) locals.resize(svc.index + 1);
  ServiceLocal& l = locals[svc.index];
  uint64_t gen = svc.generation.load(std::memory_order_acquire);
  if (gen != l.generation) {
    std::lock_guard<std::mutex> lock(svc.mu);
    l.inst = svc.installed;
    l.generation = svc.generation.load(std::memory_order_relaxed);
    l.balancer.Reset(l.inst->table.backends.size());
  }
  return l;
}

namespace {

std::string MirrorHead(const http::Head& h) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\n", h.method, h.target);
  for (const auto& [k, v] : h.headers) {
    if (http::EqualsIgnoreCase(k, "connection") || http::EqualsIgnoreCase(k, "keep-alive"))
      continue;
    out += fmt::format("{}: {}\r\n", k, v);
  }
  out += "Connection: close\r\n\r\n";
  return out;
}

}  // namespace

bool Router::Worker::StepHead(Session& s) {
  const RouterOptions& opt = router->options_;
  if (s.u.fd >= 0 && (s.u.eof || s.u.error || !s.u.in.empty())) CloseUpstream(s);
  if (s.close_after_flush) return false;
  if (s.c.in.empty()) {
    if (s.c.eof) Close(s);
    return false;
  }
  http::Head head;
  auto parsed = http::ParseRequestHead(s.c.in, head);
  if (!parsed) {
    LocalReply(s, 400, parsed.error().message, false);
    return false;
  }
  if (*parsed == 0) {
    if (s.c.in.size() > opt.max_header_bytes) {
      LocalReply(s, 431, fmt::format("request head over {} bytes", opt.max_header_bytes), false);
    } else if (s.c.eof) {
      Close(s);
    }
    return false;
  }
  if (*parsed > opt.max_header_bytes) {
    LocalReply(s, 431, fmt::format("request head over {} bytes", opt.max_header_bytes), false);
    return false;
  }
  size_t head_len = *parsed;
  ServiceLocal& local = Local(*s.svc);
  const RouteTable& t = local.inst->table;
  size_t pick = local.balancer.PickBackend(t, head);
  if (pick == Balancer::kNone || t.backends[pick].ports.empty()) {
    s.svc->no_backend.fetch_add(1, std::memory_order_relaxed);
    std::string why = pick == Balancer::kNone
                          ? fmt::format("service {}: no ready endpoint", s.svc->name)
                          : fmt::format("service {}: no ready endpoint for revision {}",
                                        s.svc->name, t.backends[pick].revision);
    // The body of a refused request is not read: close after answering.
    bool has_body = head.chunked || head.content_length > 0;
    LocalReply(s, 503, why, head.keep_alive && !has_body);
    if (!has_body) s.c.in.erase(0, head_len);
    return s.phase == Phase::kHead;
  }
  s.ResetExchange();
  s.inst = local.inst;
  s.backend = pick;
  s.req.Begin(head, SteadyClock::now());
  // Mirroring: exact share per worker, only for bodies we may copy whole.
  bool copyable =
      !head.chunked && !head.upgrade &&
      std::max<int64_t>(head.content_length, 0) <= static_cast<int64_t>(opt.max_mirror_body);
  size_t mirror = local.balancer.PickMirror(t, head, copyable);
  if (mirror != Balancer::kNone) {
    s.req.mirror_backend = mirror;
    s.req.mirror_copy = MirrorHead(head);
  }
  uint16_t port = local.balancer.NextPort(pick, t.backends[pick]);
  // The head is kept (in a buffer reused across requests) to retry a
  // body-less request once if a reused upstream connection turns out closed.
  s.req.head.assign(s.c.in, 0, head_len);
  s.c.in.erase(0, head_len);
  s.phase = Phase::kExchange;
  // The upstream of the previous request stays attached to the session and
  // serves this one if it goes to the same endpoint: no pool round trip.
  if (s.u.fd >= 0 && s.up_port == port) {
    s.u.reused = true;
  } else if (s.spare.fd >= 0 && s.spare_port == port) {
    std::swap(s.u, s.spare);
    std::swap(s.up_port, s.spare_port);
    s.u.reused = true;
  } else {
    if (s.u.fd >= 0) {
      Park(s.spare, s.spare_port);
      s.spare = std::move(s.u);
      s.spare_port = s.up_port;
      s.u = Connection{};
    }
    if (!OpenUpstream(s, port, true)) return true;  // answered 502
  }
  s.deadline = s.req.start + (s.u.connecting ? opt.connect_timeout : opt.response_timeout);
  s.u.Send(s.req.head);
  return true;
}

bool Router::Worker::OpenUpstream(Session& s, uint16_t port, bool allow_pool) {
  s.up_port = port;
  s.u = Connection{};
  if (allow_pool) {
    s.u.fd = pool.Take(port);
    if (s.u.fd >= 0) {
      s.u.reused = true;
      return true;
    }
  }
  auto dialed = ConnectLoopback(port);
  if (!dialed) {
    if (s.phase == Phase::kMirror) return false;
    UpstreamFail(
        s, 502,
        fmt::format("connect to revision {} at 127.0.0.1:{}: {}",
                    s.inst->table.backends[s.backend].revision, port, dialed.error().message));
    return false;
  }
  s.u.fd = dialed->fd;
  s.u.connecting = dialed->connecting;
  return true;
}

bool Router::Worker::StepExchange(Session& s) {
  const RouterOptions& opt = router->options_;
  bool progressed = false;
  // Request body: client -> upstream.
  if (!s.req.body.done() && !s.c.in.empty() && s.u.Pending() < kMaxBuffer) {
    auto used = s.req.body.Take(s.c.in);
    if (!used) {
      UpstreamFail(s, 400, fmt::format("bad chunked request body: {}", used.error().message));
      return false;
    }
    std::string_view body(s.c.in.data(), *used);
    if (s.req.mirroring()) s.req.mirror_copy.append(body);
    s.u.Send(body);
    s.c.in.erase(0, *used);
    progressed = *used > 0;
  }
  if (!s.req.body.done() && s.c.eof) {
    Close(s);  // the client went away mid-request
    return false;
  }
  if (s.req.body.done() && s.req.mirroring()) {
    LaunchMirror(s);
    s.req.mirror_backend = RequestState::kNoMirror;
  }
  if (s.u.connecting) return progressed;
  if (s.u.error) s.u.eof = true;
  // Response head.
  if (!s.resp.head_done) {
    http::Head head;
    auto parsed = http::ParseResponseHead(s.u.in, head);
    if (!parsed) {
      UpstreamFail(s, 502,
                   fmt::format("bad response from revision {}: {}",
                               s.inst->table.backends[s.backend].revision, parsed.error().message));
      return false;
    }
    if (*parsed == 0) {
      if (s.u.in.size() > opt.max_header_bytes) {
        UpstreamFail(s, 502, "response head too large");
      } else if (s.u.eof) {
        if (s.u.reused && s.u.in.empty() && s.req.retriable) {
          // A pooled connection the upstream had just closed: retry the
          // body-less request once on a fresh connection.
          CloseUpstream(s);
          s.req.retriable = false;
          if (OpenUpstream(s, s.up_port, false)) s.u.Send(s.req.head);
          return true;
        }
        UpstreamFail(s, 502,
                     fmt::format("revision {} closed the connection without answering",
                                 s.inst->table.backends[s.backend].revision));
      }
      return progressed;
    }
    size_t head_len = *parsed;
    s.deadline = SteadyClock::now() + opt.response_timeout;
    switch (s.resp.Begin(head, s.req.method)) {
      case ResponseState::Head::kInterim:  // e.g. 100 Continue
        s.c.Send(std::string_view(s.u.in).substr(0, head_len));
        s.u.in.erase(0, head_len);
        return true;
      case ResponseState::Head::kUpgrade:
        s.inst->stats[s.backend]->Record(101, SteadyClock::now() - s.req.start);
        s.c.Send(std::string_view(s.u.in).substr(0, head_len));
        s.u.in.erase(0, head_len);
        s.phase = Phase::kTunnel;
        return true;
      case ResponseState::Head::kFinal:
        break;
    }
    // Counted before the bytes that complete the exchange leave, so whoever
    // has read a whole response also sees it in the metrics.
    if (s.resp.done()) RecordExchange(s);
    s.c.Send(std::string_view(s.u.in).substr(0, head_len));
    s.u.in.erase(0, head_len);
    progressed = true;
  }
  // Response body: upstream -> client.
  if (!s.resp.done() && !s.u.in.empty() && s.c.Pending() < kMaxBuffer) {
    auto used = s.resp.body.Take(s.u.in);
    if (!used) {
      Close(s);  // a broken body cannot be repaired once its head was sent
      return false;
    }
    if (s.resp.done()) RecordExchange(s);
    s.c.Send(std::string_view(s.u.in).substr(0, *used));
    s.u.in.erase(0, *used);
    s.deadline = SteadyClock::now() + opt.response_timeout;
    progressed = true;
  }
  if (!s.resp.done() && s.u.eof && s.u.in.empty() && !s.resp.body.EndOfStream()) {
    s.inst->stats[s.backend]->UpstreamError();
    Close(s);  // truncated body: the client must see the break
    return false;
  }
  if (s.resp.done()) {
    FinishExchange(s);
    return true;
  }
  return progressed;
}

void Router::Worker::RecordExchange(Session& s) {
  if (s.resp.recorded) return;
  s.resp.recorded = true;
  s.inst->stats[s.backend]->Record(s.resp.status, SteadyClock::now() - s.req.start);
}

void Router::Worker::FinishExchange(Session& s) {
  RecordExchange(s);  // a body read until EOF ends with no byte left to send
  if (!KeepUpstream(s.req, s.resp) || !s.u.Idle()) {
    CloseUpstream(s);  // else it stays attached for the next request
  }
  bool keep_client = KeepClient(s.req, s.resp);
  s.ResetExchange();
  s.phase = Phase::kHead;
  s.deadline = SteadyClock::now() + router->options_.idle_timeout;
  if (!keep_client) s.close_after_flush = true;
}

void Router::Worker::UpstreamFail(Session& s, int code, const std::string& why) {
  RevisionStats* stats = s.inst ? s.inst->stats[s.backend] : nullptr;
  if (stats) {
    stats->UpstreamError();
    stats->Record(code, SteadyClock::now() - s.req.start);
  }
  CloseUpstream(s);
  if (s.resp.head_done) {
    Close(s);
    return;
  }
  bool keep = s.req.body.done() && s.req.keep_alive;
  LocalReply(s, code, why, keep);
}

void Router::Worker::LocalReply(Session& s, int code, std::string_view text, bool keep_alive) {
  std::string body = fmt::format("{}\n", text);
  s.c.Send(fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: {}\r\nConnection: {}\r\n\r\n{}",
      code, http::ReasonPhrase(code), body.size(), keep_alive ? "keep-alive" : "close", body));
  s.ResetExchange();
  s.phase = Phase::kHead;
  s.deadline = SteadyClock::now() + router->options_.idle_timeout;
  if (!keep_alive) s.close_after_flush = true;
}

bool Router::Worker::StepTunnel(Session& s) {
  bool progressed = false;
  if (!s.c.in.empty() && s.u.Pending() < kMaxBuffer) {
    s.u.Send(s.c.in);
    s.c.in.clear();
    progressed = true;
  }
  if (!s.u.in.empty() && s.c.Pending() < kMaxBuffer) {
    s.c.Send(s.u.in);
    s.u.in.clear();
    progressed = true;
  }
  if (progressed) s.deadline = SteadyClock::now() + router->options_.idle_timeout;
  if (s.c.eof && s.c.in.empty() && s.u.Pending() == 0 && !s.u.shut_wr) {
    ::shutdown(s.u.fd, SHUT_WR);
    s.u.shut_wr = true;
  }
  if (s.u.eof && s.u.in.empty() && s.c.Pending() == 0 && !s.c.shut_wr) {
    ::shutdown(s.c.fd, SHUT_WR);
    s.c.shut_wr = true;
  }
  if ((s.c.shut_wr && s.u.shut_wr) || s.c.error || s.u.error) Close(s);
  return progressed;
}

void Router::Worker::LaunchMirror(Session& s) {
  const Backend& b = s.inst->table.backends[s.req.mirror_backend];
  ServiceLocal& local = Local(*s.svc);
  auto m = std::make_unique<Session>();
  m->svc = s.svc;
  m->phase = Phase::kMirror;
  m->inst = s.inst;
  m->backend = s.req.mirror_backend;
  m->deadline = SteadyClock::now() + router->options_.response_timeout;
  if (!OpenUpstream(*m, local.balancer.NextPort(s.req.mirror_backend, b), false)) return;
  s.inst->stats[s.req.mirror_backend]->Mirrored();
  Session& ref = *m;
  sessions.push_back(std::move(m));
  ref.u.Send(s.req.mirror_copy);
  UpdateInterest(ref);
}

bool Router::Worker::StepMirror(Session& s) {
  // The copy's response is read and dropped; the upstream closes after it
  // (the copy asked Connection: close).
  s.u.in.clear();
  if (s.u.eof || s.u.error) Close(s);
  return false;
}

// ---- connections -----------------------------------------------------------

void Router::Worker::SetInterest(Session& s, Connection& side, uint32_t want) {
  if (side.fd < 0) return;
  if (want == 0) {
    // Out of epoll rather than registered for nothing: a hung-up socket
    // would otherwise report EPOLLHUP on every wait.
    if (side.in_epoll) ::epoll_ctl(epfd, EPOLL_CTL_DEL, side.fd, nullptr);
    side.in_epoll = false;
    return;
  }
  if (side.in_epoll && want == side.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = static_cast<uint64_t>(side.fd);
  auto slot = static_cast<size_t>(side.fd);
  if (owners.size() <= slot) owners.resize(slot + 1, nullptr);
  owners[slot] = &s;
  if (::epoll_ctl(epfd, side.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, side.fd, &ev) == 0) {
    side.in_epoll = true;
    side.events = want;
  }
}

void Router::Worker::UpdateInterest(Session& s) {
  uint32_t cw = 0, uw = 0;
  bool c_room = s.c.in.size() < kMaxBuffer && !s.c.eof;
  switch (s.phase) {
    case Phase::kHead:
      cw = c_room && !s.close_after_flush ? kIn : 0u;
      uw = s.u.fd >= 0 && !s.u.eof ? kIn : 0u;
      break;
    case Phase::kExchange:
      cw = c_room ? kIn : 0u;
      uw = !s.u.eof && s.c.Pending() < kMaxBuffer && !s.u.connecting ? kIn : 0u;
      if (s.u.connecting || s.u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kTunnel:
      cw = c_room && s.u.Pending() < kMaxBuffer ? kIn : 0u;
      uw = !s.u.eof && s.c.Pending() < kMaxBuffer ? kIn : 0u;
      if (s.u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kMirror:
      uw = s.u.connecting ? static_cast<uint32_t>(EPOLLOUT) : kIn;
      if (s.u.Pending() > 0) uw |= EPOLLOUT;
      break;
    case Phase::kClosed:
      return;
  }
  if (s.c.Pending() > 0) cw |= EPOLLOUT;
  if (s.phase != Phase::kMirror) SetInterest(s, s.c, cw);
  if (s.u.fd >= 0) SetInterest(s, s.u, uw);
  if (s.spare.fd >= 0) SetInterest(s, s.spare, s.spare.eof ? 0u : kIn);
}

void Router::Worker::Park(Connection& side, uint16_t port) {
  if (side.fd < 0) return;
  if (!side.Idle()) {
    CloseSide(side);
    return;
  }
  if (side.in_epoll) ::epoll_ctl(epfd, EPOLL_CTL_DEL, side.fd, nullptr);
  owners[static_cast<size_t>(side.fd)] = nullptr;
  if (!pool.Put(port, side.fd)) ::close(side.fd);  // the port has enough idle ones
  side = Connection{};
}

void Router::Worker::CloseSide(Connection& side) {
  if (side.fd >= 0) {
    if (static_cast<size_t>(side.fd) < owners.size())
      owners[static_cast<size_t>(side.fd)] = nullptr;
    ::close(side.fd);
  }
  side = Connection{};
}

void Router::Worker::CloseUpstream(Session& s) { CloseSide(s.u); }

void Router::Worker::Close(Session& s) {
  if (s.phase == Phase::kClosed) return;
  if (s.phase != Phase::kMirror && s.c.fd >= 0) router->connections_.fetch_sub(1);
  CloseSide(s.c);
  if (s.phase == Phase::kHead) {
    Park(s.u, s.up_port);
  } else {
    CloseUpstream(s);
  }
  Park(s.spare, s.spare_port);
  s.phase = Phase::kClosed;
}

void Router::Worker::CheckTimeouts(SteadyTime now) {
  for (size_t i = 0; i < sessions.size(); ++i) {
    Session& s = *sessions[i];
    if (s.phase == Phase::kClosed || now < s.deadline) continue;
    if (s.phase == Phase::kExchange && !s.resp.head_done) {
      std::string why = s.u.connecting ? fmt::format("connect to 127.0.0.1:{} timed out", s.up_port)
                                       : fmt::format("revision {} did not answer in time",
                                                     s.inst->table.backends[s.backend].revision);
      UpstreamFail(s, 504, why);
      Drive(s);
    } else {
      Close(s);
    }
  }
}

void Router::Worker::Reap() {
  for (size_t i = 0; i < sessions.size();) {
    if (sessions[i]->phase == Phase::kClosed) {
      sessions[i] = std::move(sessions.back());
      sessions.pop_back();
    } else {
      ++i;
    }
  }
}

// ---- the router ----------------------------------------------------------------

Router::Router(RouterOptions options) : options_(options) {}

Router::~Router() { Stop(); }

Status Router::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Ok();
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    auto w = std::make_unique<Worker>();
    w->router = this;
    w->epfd = ::epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->wake_fd < 0) return Failf("router: epoll: {}", std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(w->wake_fd);
    ::epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([raw] { raw->Run(); });
  }
  started_ = true;
  return Ok();
}

void Router::Stop() {
  // Workers read workers_ (to hand connections over) until they are joined:
  // the vector changes only after every thread has ended.
  std::vector<Worker*> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : workers_) running.push_back(w.get());
  }
  for (Worker* w : running) {
    w->stopping.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(w->wake_fd, &one, sizeof one);
  }
  for (Worker* w : running) {
    if (w->thread.joinable()) w->thread.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  workers_.clear();
  started_ = false;
  for (auto& svc : services_) {
    std::lock_guard<std::mutex> accept_lock(svc->accept_mu);
    if (svc->listen_fd >= 0) ::close(svc->listen_fd);
    svc->listen_fd = -1;
  }
}

namespace {

std::shared_ptr<const Installed> Install(Router::Service& svc, RouteTable table) {
  auto inst = std::make_shared<Installed>();
  for (const Backend& b : table.backends) inst->stats.push_back(svc.StatsFor(b.revision));
  inst->table = std::move(table);
  return inst;
}

}  // namespace

Result<uint16_t> Router::AddService(const std::string& service, const std::string& host,
                                    uint16_t port, RouteTable table) {
  STRAKE_TRY(
      table.Validate().map_error([&](const Error& e) { return e.Wrap("service " + service); }));
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) return Fail("router is not started");
  for (const auto& s : services_) {
    if (s->name == service && s->listen_fd >= 0) return Failf("service {} exists", service);
  }
  auto listener = ListenTcp(host, port);
  if (!listener) return tl::unexpected(listener.error().Wrap("service " + service));
  auto svc = std::make_unique<Service>();
  svc->name = service;
  svc->host = host;
  svc->port = listener->port;
  svc->index = services_.size();
  svc->listen_fd = listener->fd.release();
  svc->installed = Install(*svc, std::move(table));
  svc->generation.store(1);
  for (auto& w : workers_) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenerBit | static_cast<uint64_t>(reinterpret_cast<uintptr_t>(svc.get()));
    ::epoll_ctl(w->epfd, EPOLL_CTL_ADD, svc->listen_fd, &ev);
  }
  uint16_t bound = svc->port;
  services_.push_back(std::move(svc));
  return bound;
}

Status Router::SetRoutes(const std::string& service, RouteTable table) {
  STRAKE_TRY(
      table.Validate().map_error([&](const Error& e) { return e.Wrap("service " + service); }));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& svc : services_) {
    if (svc->name != service || svc->listen_fd < 0) continue;
    std::lock_guard<std::mutex> svc_lock(svc->mu);
    svc->installed = Install(*svc, std::move(table));
    svc->generation.fetch_add(1, std::memory_order_release);
    return Ok();
  }
  return Failf("service {} not found", service);
}

Status Router::RemoveService(const std::string& service) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& svc : services_) {
    if (svc->name != service || svc->listen_fd < 0) continue;
    for (auto& w : workers_) ::epoll_ctl(w->epfd, EPOLL_CTL_DEL, svc->listen_fd, nullptr);
    std::lock_guard<std::mutex> accept_lock(svc->accept_mu);
    ::close(svc->listen_fd);
    svc->listen_fd = -1;
    return Ok();
  }
  return Failf("service {} not found", service);
}

std::vector<ServiceCounters> Router::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ServiceCounters> out;
  for (const auto& svc : services_) {
    if (svc->listen_fd < 0) continue;  // removed: its series end with it
    ServiceCounters sc;
    sc.service = svc->name;
    sc.port = svc->port;
    sc.no_backend = svc->no_backend.load(std::memory_order_relaxed);
    std::lock_guard<std::mutex> svc_lock(svc->mu);
    for (const auto& [rev, st] : svc->stats) sc.revisions.push_back(st->Load());
    out.push_back(std::move(sc));
  }
  return out;
}

std::map<std::string, uint16_t> Router::Services() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, uint16_t> out;
  for (const auto& svc : services_) {
    if (svc->listen_fd >= 0) out[svc->name] = svc->port;
  }
  return out;
}

std::string RouterControl::PrometheusText() const { return router::PrometheusText(Snapshot()); }

}  // namespace strake::router
