// `strake run` and `strake validate`: the verbs that need no server. run
// embeds the pipeline engine over the data directory's store (what `strake
// get/logs/cancel` read there when no server runs on it, cli/client.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::pipeline {
class Engine;
}

namespace strake::app {

class RunCommands {
 public:
  RunCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table);

 private:
  int Run();
  int Validate();
  // Submits the files' run to `engine`, or resumes --resume; sets name_ and ns_.
  int Start(pipeline::Engine& engine);

  cli::Context& ctx_;
  std::vector<std::string> files_;
  std::vector<std::string> params_;
  int parallel_;
  bool no_cache_ = false;
  bool no_sandbox_ = false;
  std::string resume_;
  std::string ns_ = "default";  // of the run --resume names, then of the run
  std::string name_;            // of the run
};

}  // namespace strake::app
