// Session: one client connection of a router worker and the exchanges it
// carries, one at a time; or a mirror's copy of a request on its way to
// another revision.
//
// A client session reads a request head, routes it (router/balancer.h),
// attaches an upstream connection (the one of its previous request if it
// goes to the same endpoint, the spare one, a pooled one or a new one),
// streams the request body up and the response back as its RequestState and
// ResponseState frame them (router/exchange.h), and starts over on the same
// connections when both sides keep them. A 101 turns it into a tunnel until
// both sides have closed. Failures become answers: 400 and 431 for bad
// request heads, 503 when the chosen backend has no ready endpoint, 502 when
// the upstream refuses, breaks or answers badly, 504 (Expire) when it does
// not answer in time; a break after the response head was sent closes the
// client connection, so that the client sees it.
//
// The worker (router/worker.h) owns sessions and their descriptors, tells
// a session what happened to its sockets, and calls Step until it makes no
// progress; the session calls back into the worker for routing, the
// upstream pool, and closing. Only ever used on its worker's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/http.h"
#include "router/connection.h"
#include "router/exchange.h"
#include "router/service.h"

namespace strake::router {

class Worker;

enum class Phase {
  kHead,      // waiting for (or reading) a request head
  kExchange,  // a request and its response in flight
  kTunnel,    // after a 101: bytes both ways until both sides close
  kMirror,    // a mirror's copy: sends the request, drops the answer
  kClosed,    // done; the worker frees it
};

class Session {
 public:
  // A client connection accepted on `svc`.
  Session(Service& svc, int client_fd, SteadyTime idle_deadline);
  // A mirror's copy of `from`'s request, to its mirror backend.
  static std::unique_ptr<Session> Mirror(const Session& from, SteadyTime deadline);

  // Moves the session on with what its connections hold. Returns whether
  // it made progress (the worker calls it again until it does not).
  bool Step(Worker& w) {
    switch (phase) {
      case Phase::kHead:
        return StepHead(w);
      case Phase::kExchange:
        return StepExchange(w);
      case Phase::kTunnel:
        return StepTunnel(w);
      case Phase::kMirror:
        return StepMirror(w);
      case Phase::kClosed:
        return false;
    }
    return false;
  }
  // The upstream's connect failed with errno `err`.
  void ConnectFailed(Worker& w, int err);
  // The deadline passed: 504 while waiting for a response head, else the
  // session ends.
  void Expire(Worker& w);
  // Whether the upstream is being waited for: its answer has not begun.
  bool AwaitingResponse() const {
    return phase == Phase::kExchange && !resp_.head_done && !upstream.connecting &&
           upstream.in.empty();
  }

  Service* const svc;
  Phase phase = Phase::kHead;
  Connection client;
  Connection upstream;
  uint16_t upstream_port = 0;
  // An idle connection to the other endpoint of the previous requests (a
  // 90/10 split alternates between two endpoints), kept registered.
  Connection spare;
  uint16_t spare_port = 0;
  bool close_after_flush = false;  // the client connection ends once its output is sent
  SteadyTime deadline;

 private:
  explicit Session(Service& svc) : svc(&svc) {}

  bool StepHead(Worker& w);
  bool Begin(Worker& w, const http::Head& head, size_t head_len);
  void Attach(Worker& w, uint16_t port);
  bool StepExchange(Worker& w);
  bool PassRequestBody(Worker& w);
  bool ReadResponseHead(Worker& w);
  bool PassResponseBody(Worker& w);
  bool StepTunnel(Worker& w);
  bool StepMirror(Worker& w);
  void FinishExchange(Worker& w);
  void Record();
  void UpstreamFail(Worker& w, int code, const std::string& why);
  void LocalReply(Worker& w, int code, std::string_view text, bool keep_alive);
  bool OpenUpstream(Worker& w, uint16_t port, bool allow_pool);
  void LaunchMirror(Worker& w);
  const std::string& revision() const { return inst_->table.backends[backend_].revision; }
  void ResetExchange() {
    inst_.reset();
    req_.Reset();
    resp_.Reset();
  }

  // The exchange in progress: the table it was routed by (kept alive
  // across a swap), its backend, and where request and response stand.
  std::shared_ptr<const Installed> inst_;
  size_t backend_ = 0;
  RequestState req_;
  ResponseState resp_;
};

}  // namespace strake::router
