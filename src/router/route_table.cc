#include "router/route_table.h"

#include "base/strings.h"

namespace strake::router {

Result<StringMatch> StringMatch::Make(Kind kind, std::string value) {
  StringMatch m;
  m.kind = kind;
  m.value = std::move(value);
  if (kind == Kind::kRegex) {
    if (m.value.size() > 1024) return Fail("regex longer than 1024 characters");
    auto re = Regex::Compile(m.value);
    if (!re)
      return Failf(ErrorCode::kInvalid, "bad regex {}: {}", Quote(m.value), re.error().message);
    m.re = std::move(*re);
  }
  return m;
}

bool StringMatch::Matches(std::string_view s) const {
  switch (kind) {
    case Kind::kExact:
      return s == value;
    case Kind::kPrefix:
      return StartsWith(s, value);
    case Kind::kRegex:
      return re && re->FullMatch(s);
  }
  return false;
}

Status RouteTable::Validate() const {
  if (backends.size() > 64) return Failf("{} backends; at most 64", backends.size());
  for (size_t i = 0; i < header_routes.size(); ++i) {
    if (header_routes[i].backend >= backends.size()) {
      return Failf("headerRoutes[{}]: backend {} out of range", i, header_routes[i].backend);
    }
    if (header_routes[i].headers.empty()) {
      return Failf("headerRoutes[{}] ({}): no header to match", i, header_routes[i].name);
    }
  }
  for (size_t i = 0; i < mirror_routes.size(); ++i) {
    if (mirror_routes[i].backend >= backends.size()) {
      return Failf("mirrorRoutes[{}]: backend {} out of range", i, mirror_routes[i].backend);
    }
    if (mirror_routes[i].percentage > 100) {
      return Failf("mirrorRoutes[{}]: percentage {} is over 100", i, mirror_routes[i].percentage);
    }
  }
  if (unavailable.size() > 1024)
    return Failf("unavailable: {} bytes; at most 1024", unavailable.size());
  if (unavailable.find_first_of("\r\n") != std::string::npos)
    return Fail("unavailable: one line only");
  return Ok();
}

}  // namespace strake::router
