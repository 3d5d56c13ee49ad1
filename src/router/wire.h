// The JSON shapes a RouteTable and the router's counters take between the
// control plane and a `strake router` process (router/remote.h). Decoding
// is strict: a table that does not decode is refused whole, never applied
// in part.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "base/result.h"
#include "router/router.h"

namespace strake::router {

nlohmann::json TableToJson(const RouteTable& table);
Result<RouteTable> TableFromJson(const nlohmann::json& j);

nlohmann::json CountersToJson(const std::vector<ServiceCounters>& snapshot);
Result<std::vector<ServiceCounters>> CountersFromJson(const nlohmann::json& j);

}  // namespace strake::router
