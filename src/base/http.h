// HTTP/1.1 message framing: head parsing and body delimiting, without I/O.
//
// Shared by the embedded router (which forwards bytes it never copies into
// a message object), the API server and the HTTP clients. Parsing is strict
// where ambiguity would let two parties disagree on where a message ends
// (request smuggling): a message with both Content-Length and
// Transfer-Encoding, several different Content-Lengths, or a
// Transfer-Encoding other than chunked is refused.
//
// Pure functions and value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace strake::http {

struct Head {
  // Request line (requests only).
  std::string_view method;
  std::string_view target;
  // Status line (responses only).
  int status = 0;
  int minor_version = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  // Framing, derived from the headers.
  int64_t content_length = -1;  // -1: none given
  bool chunked = false;
  bool keep_alive = true;  // HTTP/1.1 default, or Connection: keep-alive on 1.0
  bool upgrade = false;    // Connection: upgrade with an Upgrade header

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Parses a request head at the start of `buf`. Returns the head's length
// including the blank line, 0 if the head is not complete yet, or an error.
// The head's string_views point into `buf`.
Result<size_t> ParseRequestHead(std::string_view buf, Head& head);
Result<size_t> ParseResponseHead(std::string_view buf, Head& head);

// True if a response to a request with `method` and this status has no body
// whatever its headers say (HEAD, 1xx, 204, 304).
bool ResponseHasNoBody(std::string_view request_method, int status);

// Finds the end of a chunked body in a byte stream fed piecewise. Feed
// returns how many of the given bytes belong to the body (all of them until
// the terminating chunk and trailers are complete).
class ChunkedScanner {
 public:
  Result<size_t> Feed(std::string_view data);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kDone };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  size_t trailer_line_ = 0;  // length of the current trailer line
  bool trailer_cr_ = false;
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Percent-encodes all but RFC 3986's unreserved characters (a query value).
std::string UrlEncode(std::string_view s);
// Decodes %XX and '+' (a path or a query of a request).
std::string UrlDecode(std::string_view s);

// "Not Found" for 404, "" for codes it does not know.
std::string_view ReasonPhrase(int status);

}  // namespace strake::http
