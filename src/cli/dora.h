// `strake dora`: DORA's five metrics from the server's DORA API
// (server/dora_api.h), with the performance band each value falls in.
//
//   strake dora [-n NS | -A] [--start DATE] [--end DATE] [--tier T]...
//       all five over the range (default: the last 90 days), one line each
//   strake dora METRIC [--interval daily|monthly|all] [--explain]
//       one metric per day or month; --explain lists the deployments,
//       changes or failures behind each value
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

// The band of DORA's 2023 report that `value` of `metric` falls in (GitLab's
// metric names; durations in seconds, rates as fractions): "elite",
// "high", "medium" or "low"; "" for a metric without bands (rework rate) or
// no value.
std::string DoraBand(const std::string& metric, std::optional<double> value);
// A metric's value as people read it: "1.43/day", "3h 20m", "12.5%".
std::string DoraValue(const std::string& metric, std::optional<double> value);

class DoraCommands {
 public:
  DoraCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Run();
  int Summary(Client& c);
  int OneMetric(Client& c);
  std::string Query(const std::string& metric, const std::string& interval) const;

  Context& ctx_;
  std::string metric_;
  std::string start_, end_, interval_;
  std::vector<std::string> tiers_;
  bool all_namespaces_ = false;
  bool explain_ = false;
};

}  // namespace strake::cli
