// Durations in Go's time.ParseDuration syntax, as Tekton and Kubernetes write
// them: "1h30m", "90s", "1.5h", "500ms", "0". Pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace strake {

using Millis = std::chrono::milliseconds;

// kWithDays also takes "d" (24h), for lifetimes people write in days: a
// token's --expires 30d. Go's syntax has no days.
enum class DurationUnits { kGo, kWithDays };
Result<Millis> ParseDuration(std::string_view text, DurationUnits units = DurationUnits::kGo);
std::string FormatDuration(Millis d);

}  // namespace strake
