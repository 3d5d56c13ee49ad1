#include "router/session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "router/upstream_pool.h"
#include "router/worker.h"

namespace strake::router {

namespace {

// A mirror's copy asks the upstream to close after answering: its answer
// is dropped, and the connection with it.
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

Session::Session(Service& svc, int client_fd, SteadyTime idle_deadline) : svc(&svc) {
  client.fd = client_fd;
  deadline = idle_deadline;
}

std::unique_ptr<Session> Session::Mirror(const Session& from, SteadyTime deadline) {
  std::unique_ptr<Session> m(new Session(*from.svc));
  m->phase = Phase::kMirror;
  m->inst_ = from.inst_;
  m->backend_ = from.req_.mirror_backend;
  m->deadline = deadline;
  return m;
}

// ---- the request head ----------------------------------------------------------

bool Session::StepHead(Worker& w) {
  const RouterOptions& opt = w.options();
  // An upstream kept from the previous request that spoke or closed since
  // is of no further use.
  if (upstream.fd >= 0 && (upstream.eof || upstream.error || !upstream.in.empty())) {
    w.Release(upstream);
  }
  if (close_after_flush) return false;
  if (client.in.empty()) {
    if (client.eof) w.Close(*this);
    return false;
  }
  http::Head head;
  auto parsed = http::ParseRequestHead(client.in, head);
  if (!parsed) {
    LocalReply(w, 400, parsed.error().message, false);
    return false;
  }
  if (*parsed == 0 && client.in.size() <= opt.max_header_bytes) {
    if (client.eof) w.Close(*this);  // the client left in the middle of a head
    return false;
  }
  if (*parsed == 0 || *parsed > opt.max_header_bytes) {
    LocalReply(w, 431, fmt::format("request head over {} bytes", opt.max_header_bytes), false);
    return false;
  }
  return Begin(w, head, *parsed);
}

// Routes the request of `head` and sends its head upstream (or answers 503).
bool Session::Begin(Worker& w, const http::Head& head, size_t head_len) {
  const RouterOptions& opt = w.options();
  ServiceView& view = w.View(*svc);
  const RouteTable& t = view.inst->table;
  size_t pick = view.balancer.PickBackend(t, head);
  if (pick == Balancer::kNone || t.backends[pick].ports.empty()) {
    svc->no_backend.fetch_add(1, std::memory_order_relaxed);
    std::string why =
        pick != Balancer::kNone ? fmt::format("service {}: no ready endpoint for revision {}",
                                              svc->name, t.backends[pick].revision)
        : t.unavailable.empty()
            ? fmt::format("service {}: no ready endpoint", svc->name)
            : fmt::format("service {}: no ready endpoint: {}", svc->name, t.unavailable);
    // The body of a refused request is not read: close after answering.
    bool has_body = head.chunked || head.content_length > 0;
    LocalReply(w, 503, why, head.keep_alive && !has_body);
    if (!has_body) client.in.erase(0, head_len);
    return phase == Phase::kHead;
  }
  inst_ = view.inst;
  backend_ = pick;
  req_.Begin(head, SteadyClock::now());
  resp_.Reset();
  // Mirroring: exact share per worker, only for bodies we may copy whole.
  bool copyable =
      !head.chunked && !head.upgrade &&
      std::max<int64_t>(head.content_length, 0) <= static_cast<int64_t>(opt.max_mirror_body);
  size_t mirror = view.balancer.PickMirror(t, head, copyable);
  if (mirror != Balancer::kNone) {
    req_.mirror_backend = mirror;
    req_.mirror_copy = MirrorHead(head);
  }
  uint16_t port = view.balancer.NextPort(pick, t.backends[pick]);
  // The head is kept (in a buffer reused across requests) to retry a
  // body-less request once if a reused upstream connection turns out closed.
  req_.head.assign(client.in, 0, head_len);
  client.in.erase(0, head_len);
  phase = Phase::kExchange;
  Attach(w, port);
  if (phase != Phase::kExchange) return true;  // answered 502
  deadline = req_.start + (upstream.connecting ? opt.connect_timeout : opt.response_timeout);
  upstream.Send(req_.head);
  return true;
}

// Gives the exchange an upstream connection to `port`. The upstream of the
// previous request stays attached to the session and serves this one if it
// goes to the same endpoint: no pool round trip; the other one waits as the
// spare.
void Session::Attach(Worker& w, uint16_t port) {
  if (upstream.fd >= 0 && upstream_port == port) {
    upstream.reused = true;
    return;
  }
  if (spare.fd >= 0 && spare_port == port) {
    std::swap(upstream, spare);
    std::swap(upstream_port, spare_port);
    upstream.reused = true;
    return;
  }
  if (upstream.fd >= 0) {
    w.Park(spare, spare_port);
    spare = std::move(upstream);
    spare_port = upstream_port;
    upstream = Connection{};
  }
  OpenUpstream(w, port, true);
}

bool Session::OpenUpstream(Worker& w, uint16_t port, bool allow_pool) {
  upstream_port = port;
  upstream = Connection{};
  if (allow_pool) {
    upstream.fd = w.pool().Take(port);
    if (upstream.fd >= 0) {
      upstream.reused = true;
      return true;
    }
  }
  auto dialed = ConnectLoopback(port);
  if (!dialed) {
    if (phase == Phase::kMirror) return false;
    UpstreamFail(w, 502,
                 fmt::format("connect to revision {} at 127.0.0.1:{}: {}", revision(), port,
                             dialed.error().message));
    return false;
  }
  upstream.fd = dialed->fd;
  upstream.connecting = dialed->connecting;
  return true;
}

void Session::ConnectFailed(Worker& w, int err) {
  if (phase == Phase::kMirror) {
    w.Close(*this);
    return;
  }
  UpstreamFail(w, 502,
               fmt::format("connect to revision {} at 127.0.0.1:{}: {}", revision(), upstream_port,
                           std::strerror(err)));
}

// ---- the exchange ------------------------------------------------------------

bool Session::StepExchange(Worker& w) {
  bool progressed = PassRequestBody(w);
  if (phase != Phase::kExchange) return false;
  if (req_.body.done() && req_.mirroring()) {
    LaunchMirror(w);
    req_.mirror_backend = RequestState::kNoMirror;
  }
  if (upstream.connecting) return progressed;
  if (upstream.error) upstream.eof = true;
  if (!resp_.head_done) {
    if (!ReadResponseHead(w)) return progressed;
    // Answered, a tunnel now, or a 1xx passed on (or a retry sent): look
    // again from the top.
    if (phase != Phase::kExchange || !resp_.head_done) return true;
    progressed = true;
  }
  if (PassResponseBody(w)) progressed = true;
  if (phase != Phase::kExchange) return false;
  if (resp_.done()) {
    FinishExchange(w);
    return true;
  }
  return progressed;
}

// Client -> upstream. Ends the session if the client left mid-body.
bool Session::PassRequestBody(Worker& w) {
  bool progressed = false;
  if (!req_.body.done() && !client.in.empty() && upstream.Pending() < kMaxBuffer) {
    auto used = req_.body.Take(client.in);
    if (!used) {
      UpstreamFail(w, 400, fmt::format("bad chunked request body: {}", used.error().message));
      return false;
    }
    std::string_view body(client.in.data(), *used);
    if (req_.mirroring()) req_.mirror_copy.append(body);
    upstream.Send(body);
    client.in.erase(0, *used);
    progressed = *used > 0;
  }
  if (!req_.body.done() && client.eof) {
    w.Close(*this);  // the client went away mid-request
    return false;
  }
  return progressed;
}

// Passes the response head on once it is complete. Returns false while it
// is not; true once a head (interim, upgrade or final) was passed on, or the
// request was retried or answered by the router.
bool Session::ReadResponseHead(Worker& w) {
  const RouterOptions& opt = w.options();
  http::Head head;
  auto parsed = http::ParseResponseHead(upstream.in, head);
  if (!parsed) {
    UpstreamFail(
        w, 502,
        fmt::format("bad response from revision {}: {}", revision(), parsed.error().message));
    return true;
  }
  if (*parsed == 0) {
    if (upstream.in.size() > opt.max_header_bytes) {
      UpstreamFail(w, 502, "response head too large");
    } else if (upstream.eof) {
      if (upstream.reused && upstream.in.empty() && req_.retriable) {
        // A pooled connection the upstream had just closed: retry the
        // body-less request once on a fresh connection.
        w.Release(upstream);
        req_.retriable = false;
        if (OpenUpstream(w, upstream_port, false)) upstream.Send(req_.head);
        return true;
      }
      UpstreamFail(w, 502,
                   fmt::format("revision {} closed the connection without answering", revision()));
    }
    return phase != Phase::kExchange;
  }
  size_t head_len = *parsed;
  deadline = SteadyClock::now() + opt.response_timeout;
  auto kind = resp_.Begin(head, req_.method);
  if (kind == ResponseState::Head::kUpgrade) {
    inst_->stats[backend_]->Record(101, SteadyClock::now() - req_.start);
    phase = Phase::kTunnel;
  } else if (kind == ResponseState::Head::kFinal && resp_.done()) {
    // Counted before the bytes that complete the exchange leave, so whoever
    // has read a whole response also sees it in the metrics.
    Record();
  }
  client.Send(std::string_view(upstream.in).substr(0, head_len));  // 1xx too, e.g. 100 Continue
  upstream.in.erase(0, head_len);
  return true;
}

// Upstream -> client, then the end of the response.
bool Session::PassResponseBody(Worker& w) {
  const RouterOptions& opt = w.options();
  bool progressed = false;
  if (!resp_.done() && !upstream.in.empty() && client.Pending() < kMaxBuffer) {
    auto used = resp_.body.Take(upstream.in);
    if (!used) {
      w.Close(*this);  // a broken body cannot be repaired once its head was sent
      return false;
    }
    if (resp_.done()) Record();
    client.Send(std::string_view(upstream.in).substr(0, *used));
    upstream.in.erase(0, *used);
    deadline = SteadyClock::now() + opt.response_timeout;
    progressed = true;
  }
  if (!resp_.done() && upstream.eof && upstream.in.empty() && !resp_.body.EndOfStream()) {
    inst_->stats[backend_]->UpstreamError();
    w.Close(*this);  // truncated body: the client must see the break
    return false;
  }
  return progressed;
}

void Session::Record() {
  if (resp_.recorded) return;
  resp_.recorded = true;
  inst_->stats[backend_]->Record(resp_.status, SteadyClock::now() - req_.start);
}

void Session::FinishExchange(Worker& w) {
  Record();  // a body read until EOF ends with no byte left to send
  if (!KeepUpstream(req_, resp_) || !upstream.Idle()) {
    w.Release(upstream);  // else it stays attached for the next request
  }
  bool keep_client = KeepClient(req_, resp_);
  ResetExchange();
  phase = Phase::kHead;
  deadline = SteadyClock::now() + w.options().idle_timeout;
  if (!keep_client) close_after_flush = true;
}

void Session::UpstreamFail(Worker& w, int code, const std::string& why) {
  RevisionStats* stats = inst_ ? inst_->stats[backend_] : nullptr;
  if (stats) {
    stats->UpstreamError();
    stats->Record(code, SteadyClock::now() - req_.start);
  }
  w.Release(upstream);
  if (resp_.head_done) {
    w.Close(*this);
    return;
  }
  bool keep = req_.body.done() && req_.keep_alive;
  LocalReply(w, code, why, keep);
}

void Session::LocalReply(Worker& w, int code, std::string_view text, bool keep_alive) {
  std::string body = fmt::format("{}\n", text);
  client.Send(fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: {}\r\nConnection: {}\r\n\r\n{}",
      code, http::ReasonPhrase(code), body.size(), keep_alive ? "keep-alive" : "close", body));
  ResetExchange();
  phase = Phase::kHead;
  deadline = SteadyClock::now() + w.options().idle_timeout;
  if (!keep_alive) close_after_flush = true;
}

void Session::Expire(Worker& w) {
  if (phase != Phase::kExchange || resp_.head_done) {
    w.Close(*this);
    return;
  }
  std::string why = upstream.connecting
                        ? fmt::format("connect to 127.0.0.1:{} timed out", upstream_port)
                        : fmt::format("revision {} did not answer in time", revision());
  UpstreamFail(w, 504, why);
}

// ---- tunnels and mirrors --------------------------------------------------------

bool Session::StepTunnel(Worker& w) {
  bool progressed = false;
  if (!client.in.empty() && upstream.Pending() < kMaxBuffer) {
    upstream.Send(client.in);
    client.in.clear();
    progressed = true;
  }
  if (!upstream.in.empty() && client.Pending() < kMaxBuffer) {
    client.Send(upstream.in);
    upstream.in.clear();
    progressed = true;
  }
  if (progressed) deadline = SteadyClock::now() + w.options().idle_timeout;
  if (client.eof && client.in.empty() && upstream.Pending() == 0 && !upstream.shut_wr) {
    ::shutdown(upstream.fd, SHUT_WR);
    upstream.shut_wr = true;
  }
  if (upstream.eof && upstream.in.empty() && client.Pending() == 0 && !client.shut_wr) {
    ::shutdown(client.fd, SHUT_WR);
    client.shut_wr = true;
  }
  if ((client.shut_wr && upstream.shut_wr) || client.error || upstream.error) w.Close(*this);
  return progressed;
}

void Session::LaunchMirror(Worker& w) {
  const Backend& b = inst_->table.backends[req_.mirror_backend];
  ServiceView& view = w.View(*svc);
  auto m = Mirror(*this, SteadyClock::now() + w.options().response_timeout);
  if (!m->OpenUpstream(w, view.balancer.NextPort(req_.mirror_backend, b), false)) return;
  inst_->stats[req_.mirror_backend]->Mirrored();
  Session& copy = w.Add(std::move(m));
  copy.upstream.Send(req_.mirror_copy);
  w.UpdateInterest(copy);
}

bool Session::StepMirror(Worker& w) {
  // The copy's response is read and dropped; the upstream closes after it
  // (the copy asked Connection: close).
  upstream.in.clear();
  if (upstream.eof || upstream.error) w.Close(*this);
  return false;
}

}  // namespace strake::router
