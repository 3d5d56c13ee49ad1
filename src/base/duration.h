// Durations in Go's time.ParseDuration syntax, as Tekton and Kubernetes write
// them: "1h30m", "90s", "1.5h", "500ms", "0". Pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace strake {

using Millis = std::chrono::milliseconds;

Result<Millis> ParseDuration(std::string_view text);
std::string FormatDuration(Millis d);

}  // namespace strake
