// The exchange state machine: where one request and its response stand as
// they stream through a router session, as two small values.
//
// RequestState runs from the request head to the end of its body,
// ResponseState from the response head (after any interim 1xx) to the end
// of its body. Each knows its body's framing (BodyFraming: none, a length,
// chunked, or until the upstream closes) and so how many of the bytes at
// hand belong to the body and whether it has ended; together they say
// whether the client and the upstream connection may serve another request.
// They never touch a socket or a clock (the session passes the time in):
// router/session.h moves the bytes and asks them. What runs for every
// request is defined here, inline: the session is in another translation
// unit, and the request path counts its instructions (bench/router_ab.sh).
//
// Values owned by one session: not thread-safe. A malformed chunked body is
// an error value; the session decides the answer (400 for a request, a
// closed connection for a response whose head has been sent).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/http.h"
#include "base/result.h"

namespace strake::router {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// How one message body is delimited, and how much of it is still to come.
class BodyFraming {
 public:
  enum class Kind { kNone, kLength, kChunked, kUntilEof };

  BodyFraming() = default;  // no body: done from the start
  static BodyFraming Length(int64_t n) {
    BodyFraming f(Kind::kLength);
    f.left_ = n > 0 ? n : 0;
    f.done_ = f.left_ == 0;
    return f;
  }
  static BodyFraming Chunked() { return BodyFraming(Kind::kChunked); }
  static BodyFraming UntilEof() { return BodyFraming(Kind::kUntilEof); }

  Kind kind() const { return kind_; }
  bool done() const { return done_; }
  // How many bytes at the start of `in` belong to the body (all of them
  // when it runs until EOF), and whether it is done after them. An error for
  // a malformed chunked body.
  Result<size_t> Take(std::string_view in) {
    switch (kind_) {
      case Kind::kNone:
        return 0;
      case Kind::kLength: {
        size_t n = in.size() < static_cast<size_t>(left_) ? in.size() : static_cast<size_t>(left_);
        left_ -= static_cast<int64_t>(n);
        done_ = left_ == 0;
        return n;
      }
      case Kind::kChunked:
        return TakeChunks(in);
      case Kind::kUntilEof:
        return in.size();
    }
    return 0;
  }
  // The stream ended here: true if that completes the body (it ran until
  // EOF), false if it was cut short.
  bool EndOfStream() {
    if (kind_ == Kind::kUntilEof) done_ = true;
    return done_;
  }

 private:
  explicit BodyFraming(Kind kind) : kind_(kind), done_(false) {}
  Result<size_t> TakeChunks(std::string_view in);

  Kind kind_ = Kind::kNone;
  bool done_ = true;
  int64_t left_ = 0;  // kLength
  http::ChunkedScanner chunks_;
};

struct RequestState {
  std::string method;  // a HEAD's response has no body whatever it says
  BodyFraming body;
  bool keep_alive = true;  // the client asked to keep its connection
  // Body-less and not yet retried: may be sent once more on a fresh
  // connection when a reused one turns out closed.
  bool retriable = false;
  SteadyTime start;  // when its head was read: the latency counts from here
  // The head as sent upstream, kept to retry. Its buffer is reused across
  // requests.
  std::string head;
  // The copy of the request for a mirror route while its body is being read
  // (mirror_backend kNoMirror: not mirrored).
  static constexpr size_t kNoMirror = SIZE_MAX;
  size_t mirror_backend = kNoMirror;
  std::string mirror_copy;

  // Starts the request of `head` (whose framing the parser checked).
  void Begin(const http::Head& head, SteadyTime now);
  // Forgets the request (its buffers keep their capacity).
  void Reset() {
    body = BodyFraming();
    retriable = false;
    mirror_backend = kNoMirror;
    mirror_copy.clear();
  }
  bool mirroring() const { return mirror_backend != kNoMirror; }
};

struct ResponseState {
  // What a response head means for the exchange.
  enum class Head {
    kInterim,  // 1xx but 101: passed on, the final head is still to come
    kUpgrade,  // 101: the connections become a tunnel
    kFinal,
  };

  int status = 0;
  bool head_done = false;  // the final head (or a 101) was passed on
  BodyFraming body;
  bool keep_alive = true;  // the upstream keeps its connection
  bool recorded = false;   // counted in the revision's metrics

  // Takes the response head `head` to a request with `method`: its status
  // and, for a final head, its body's framing and keep-alive.
  Head Begin(const http::Head& head, std::string_view method);
  // The whole response has been read from the upstream.
  bool done() const { return head_done && body.done(); }
  void Reset() { *this = ResponseState{}; }
};

// Whether the client connection serves another request after this exchange.
inline bool KeepClient(const RequestState& req, const ResponseState& resp) {
  return req.body.done() && req.keep_alive && resp.keep_alive;
}
// Whether the upstream connection may serve another request: both messages
// complete and the upstream did not ask to close (the caller also checks the
// connection is idle).
inline bool KeepUpstream(const RequestState& req, const ResponseState& resp) {
  return resp.keep_alive && req.body.done();
}

}  // namespace strake::router
