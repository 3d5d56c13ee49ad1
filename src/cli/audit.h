// `strake audit log|verify`: who changed what, from the API's hash-chained
// audit log (server/audit.h), for admins.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class AuditCommands {
 public:
  AuditCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Log();
  int Verify();

  Context& ctx_;
  std::string since_;
  int limit_ = 100;
};

}  // namespace strake::cli
