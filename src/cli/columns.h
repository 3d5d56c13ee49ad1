// The table `strake get` prints for each kind, as kubectl's printers do: a
// header and a row per object. Pure: functions on the API's documents and
// the time now (how long a run that is still going has taken).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "cli/client.h"
#include "model/kinds.h"

namespace strake::cli {

std::vector<std::string> Header(const model::KindInfo& k);
std::vector<std::string> Row(const model::KindInfo& k, const Json& obj, TimePoint now);
// The columns `-o wide` adds after those (none for most kinds, as kubectl):
// a workload's containers, images and selector, a Service's selector, a
// run's Pipeline or Task and its message.
std::vector<std::string> WideHeader(const model::KindInfo& k);
std::vector<std::string> WideRow(const model::KindInfo& k, const Json& obj);

// The condition of `type` in status.conditions (Kargo's and Kubernetes'
// list of conditions); an empty object when there is none.
Json ConditionOfType(const Json& status, std::string_view type);

// A PipelineRun's or TaskRun's Succeeded condition: its reason ("Running",
// "Succeeded", "Failed", ...), its status ("Unknown" while it runs, "True",
// "False") and its message; "Unknown" and "" without one.
std::string RunReason(const Json& status);
std::string RunConditionStatus(const Json& status);
std::string RunMessage(const Json& status);
// How long a run took, or has taken until `now` ("1m2s"); "---" before it started.
std::string RunDuration(const Json& status, TimePoint now);

}  // namespace strake::cli
