// `strake rollout status|promote|abort|retry|undo`: watch and steer Argo
// Rollouts through the API, as kubectl-argo-rollouts does; the status screen
// (which `describe rollout` shows too) and the replicas' logs.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class RolloutCommands {
 public:
  RolloutCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Status();
  int Act(const std::string& action);

  Context& ctx_;
  std::string name_;
  bool watch_ = false;
  bool full_ = false;
  int to_revision_ = 0;
  std::string timeout_ = "10m";
};

// One screen of `rollout status`: phase, step, weights, revisions, replicas,
// analysis runs and pauses.
std::string RolloutText(const Json& rollout);

// Whether `rollout status --watch` is done: 0 Healthy on its current revision,
// 1 Degraded, nothing while the status is older than the spec (observedGeneration
// below metadata.generation: it describes the previous update) or still moving.
std::optional<int> RolloutSettled(const Json& rollout);

// `strake logs rollout/NAME [--revision stable|canary]`.
int RolloutLogs(const Context& ctx, const std::string& name, const std::string& revision);

}  // namespace strake::cli
