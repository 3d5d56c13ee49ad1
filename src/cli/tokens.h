// `strake token create|list|revoke`: the API's tokens (server/auth.h), for
// admins.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class TokenCommands {
 public:
  TokenCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Create();
  int List();
  int Revoke();

  Context& ctx_;
  std::string role_, ns_, expires_, description_, user_;
  std::vector<std::string> claims_;
  std::string id_;
};

}  // namespace strake::cli
