#include "router/exchange.h"

namespace strake::router {

Result<size_t> BodyFraming::TakeChunks(std::string_view in) {
  auto used = chunks_.Feed(in);
  if (used) done_ = chunks_.done();
  return used;
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

}  // namespace strake::router
