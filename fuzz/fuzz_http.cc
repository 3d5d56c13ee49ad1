// The HTTP/1.1 framing of base/http.h that the router and the API server
// run on every byte a client sends: request and response heads, chunked
// bodies fed piecewise as they arrive from a socket, and URL decoding of the
// request target.
//
// Properties beyond memory safety: a parsed head lies inside the buffer;
// feeding a chunked body in pieces finds the same end as feeding it whole;
// URL encoding round-trips; every error message can be sent in a JSON body
// (the API server answers a bad head with one).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/http.h"
#include "check.h"

namespace {

using strake::fuzz::Check;
using strake::fuzz::JsonSafe;

bool Inside(std::string_view part, std::string_view buf) {
  return part.empty() ||
         (part.data() >= buf.data() && part.data() + part.size() <= buf.data() + buf.size());
}

void CheckHead(const strake::Result<size_t>& parsed, const strake::http::Head& head,
               std::string_view buf) {
  if (!parsed) {
    Check(JsonSafe(parsed.error().message), "a head's error message is valid UTF-8");
    return;
  }
  if (*parsed == 0) return;
  Check(*parsed <= buf.size(), "a head ends inside the buffer");
  Check(Inside(head.method, buf) && Inside(head.target, buf), "the request line is in the buffer");
  for (const auto& [name, value] : head.headers) {
    Check(Inside(name, buf) && Inside(value, buf), "headers are in the buffer");
  }
  Check(!(head.chunked && head.content_length >= 0), "never both Content-Length and chunked");
}

// The body scanner fed in pieces whose sizes come from the input itself,
// against the same bytes fed at once.
void CheckChunked(std::string_view body) {
  strake::http::ChunkedScanner whole;
  auto all = whole.Feed(body);
  if (!all) Check(JsonSafe(all.error().message), "a chunk error message is valid UTF-8");

  strake::http::ChunkedScanner pieces;
  size_t used = 0;
  bool failed = false;
  size_t i = 0;
  while (i < body.size() && !pieces.done()) {
    size_t n = 1 + static_cast<unsigned char>(body[i]) % 7;
    n = std::min(n, body.size() - i);
    auto got = pieces.Feed(body.substr(i, n));
    if (!got) {
      failed = true;
      break;
    }
    Check(*got <= n, "a piece is never over-consumed");
    used += *got;
    if (*got < n) break;  // the body ended inside this piece
    i += n;
  }
  Check(failed == !all, "pieces and whole agree on errors");
  if (all && !failed) {
    Check(used == *all, "pieces and whole agree on where the body ends");
    Check(pieces.done() == whole.done(), "pieces and whole agree on completion");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view buf = strake::fuzz::AsText(data, size);

  strake::http::Head request;
  auto parsed = strake::http::ParseRequestHead(buf, request);
  CheckHead(parsed, request, buf);
  if (parsed && *parsed > 0) {
    // What the API server does with the target (server/http_server.cc).
    std::string target(request.target);
    std::string path = strake::http::UrlDecode(target.substr(0, target.find('?')));
    Check(strake::http::UrlDecode(strake::http::UrlEncode(path)) == path,
          "UrlDecode(UrlEncode(s)) == s");
    (void)request.Header("host");
    // The body after the head, as the router delimits it.
    if (request.chunked) CheckChunked(buf.substr(*parsed));
  }

  strake::http::Head response;
  CheckHead(strake::http::ParseResponseHead(buf, response), response, buf);
  (void)strake::http::ResponseHasNoBody(request.method, response.status);
  (void)strake::http::ReasonPhrase(response.status);

  // A body alone, for inputs that do not start with a head.
  CheckChunked(buf);
  return 0;
}
