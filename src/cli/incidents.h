// `strake incident`: declare an outage and its end, so DORA counts the
// deployment that caused it as failed and its recovery (model/incidents.h,
// docs/dora.md). Incidents are strake.dev/v1 Incident resources: `strake
// get incidents` lists them, and each says in its status which deployment
// it failed.
//
//   strake incident open TITLE (--environment ENV | --deployment ID |
//       --commit SHA)... [--name NAME] [--at TIME] [-n NS]
//   strake incident close NAME [--at TIME] [-n NS]
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class IncidentCommands {
 public:
  IncidentCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Open();
  int Close();

  Context& ctx_;
  std::string title_, name_, environment_, deployment_, commit_, at_;
};

}  // namespace strake::cli
