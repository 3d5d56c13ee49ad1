// RouteTable: where one Service's requests go, as an immutable value.
//
// The rollout controller builds a new table for every change (a weight
// step, a header route, a mirror, a replica becoming ready) and hands it to
// Router::SetRoutes, which swaps it in atomically: a request is routed
// wholly by one table, never by a mix. Pure values; thread-safe once built.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/regex.h"
#include "base/result.h"

namespace strake::router {

// Argo's StringMatch: exactly one of exact, prefix, regex (the whole value
// must match).
struct StringMatch {
  enum class Kind { kExact, kPrefix, kRegex };
  Kind kind = Kind::kExact;
  std::string value;
  // Compiled once by Make (RE2: linear time, Go's syntax, as Argo's); copies
  // of a table share the compiled program.
  std::optional<Regex> re;

  static Result<StringMatch> Make(Kind kind, std::string value);
  bool Matches(std::string_view s) const;
};

struct Backend {
  std::string revision;         // names the version in metrics (pod-template-hash)
  uint32_t weight = 0;          // share of the traffic that no header route took
  std::vector<uint16_t> ports;  // ready endpoints, on 127.0.0.1
};

// Argo setHeaderRoute: a request whose headers all match goes to `backend`.
struct HeaderRoute {
  std::string name;
  std::vector<std::pair<std::string, StringMatch>> headers;
  size_t backend = 0;
};

// Argo setMirrorRoute: `percentage` of the matching requests is copied to
// `backend`; the copy's response is discarded.
struct MirrorRoute {
  std::string name;
  std::optional<StringMatch> method;
  std::optional<StringMatch> path;
  std::vector<std::pair<std::string, StringMatch>> headers;
  uint32_t percentage = 100;
  size_t backend = 0;
};

struct RouteTable {
  std::vector<Backend> backends;
  std::vector<HeaderRoute> header_routes;  // first match wins, before weights
  std::vector<MirrorRoute> mirror_routes;  // first match wins
  // Why the service has no endpoint at all, for the body of its 503s
  // ("selects no pods"); empty: the router's own words. At most 1 KiB.
  std::string unavailable;

  // Backend indices in range, percentages 0..100, at most 64 backends,
  // `unavailable` of one line and 1 KiB at most.
  Status Validate() const;
};

}  // namespace strake::router
