// Kargo's verbs, in Kargo's words: `strake refresh warehouse NAME [-n NS]
// [--wait]` asks a Warehouse to discover now, as `kargo refresh warehouse`
// does (the annotation kargo.akuity.io/refresh set to a new token); with
// --wait it returns once the Warehouse has handled it
// (status.lastHandledRefresh) and prints its Ready condition. Promote and
// approve join this group when Stages are acted on.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class KargoCommands {
 public:
  KargoCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Refresh();

  Context& ctx_;
  std::string kind_;
  std::string name_;
  bool wait_ = false;
  int timeout_s_ = 60;
};

}  // namespace strake::cli
