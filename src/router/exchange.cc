#include "router/exchange.h"

#include <algorithm>

namespace strake::router {

BodyFraming BodyFraming::Length(int64_t n) {
  BodyFraming f;
  f.kind_ = Kind::kLength;
  f.left_ = std::max<int64_t>(n, 0);
  f.done_ = f.left_ == 0;
  return f;
}

BodyFraming BodyFraming::Chunked() {
  BodyFraming f;
  f.kind_ = Kind::kChunked;
  f.done_ = false;
  return f;
}

BodyFraming BodyFraming::UntilEof() {
  BodyFraming f;
  f.kind_ = Kind::kUntilEof;
  f.done_ = false;
  return f;
}

Result<size_t> BodyFraming::Take(std::string_view in) {
  switch (kind_) {
    case Kind::kNone:
      return 0;
    case Kind::kLength: {
      size_t n = std::min<size_t>(static_cast<size_t>(left_), in.size());
      left_ -= static_cast<int64_t>(n);
      done_ = left_ == 0;
      return n;
    }
    case Kind::kChunked: {
      auto used = chunks_.Feed(in);
      if (used) done_ = chunks_.done();
      return used;
    }
    case Kind::kUntilEof:
      return in.size();
  }
  return 0;
}

bool BodyFraming::EndOfStream() {
  if (kind_ == Kind::kUntilEof) done_ = true;
  return done_;
}

void RequestState::Begin(const http::Head& h, SteadyTime now) {
  method.assign(h.method);
  if (h.chunked) {
    body = BodyFraming::Chunked();
  } else if (h.content_length > 0) {
    body = BodyFraming::Length(h.content_length);
  } else {
    body = BodyFraming();
  }
  keep_alive = h.keep_alive;
  retriable = body.done();
  start = now;
  mirror_backend = kNoMirror;
  mirror_copy.clear();
}

void RequestState::Reset() {
  body = BodyFraming();
  retriable = false;
  mirror_backend = kNoMirror;
  mirror_copy.clear();
}

ResponseState::Head ResponseState::Begin(const http::Head& h, std::string_view method) {
  status = h.status;
  if (h.status >= 100 && h.status < 200 && h.status != 101) return Head::kInterim;
  head_done = true;
  if (h.status == 101) return Head::kUpgrade;
  if (http::ResponseHasNoBody(method, h.status)) {
    body = BodyFraming();
  } else if (h.chunked) {
    body = BodyFraming::Chunked();
  } else if (h.content_length >= 0) {
    body = BodyFraming::Length(h.content_length);
  } else {
    body = BodyFraming::UntilEof();
  }
  // A body that ends with the connection leaves nothing to keep.
  keep_alive = h.keep_alive && body.kind() != BodyFraming::Kind::kUntilEof;
  return Head::kFinal;
}

bool KeepClient(const RequestState& req, const ResponseState& resp) {
  return req.body.done() && req.keep_alive && resp.keep_alive;
}

bool KeepUpstream(const RequestState& req, const ResponseState& resp) {
  return resp.keep_alive && req.body.done();
}

}  // namespace strake::router
