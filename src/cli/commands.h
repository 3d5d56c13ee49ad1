// The `strake` command line: parses arguments and runs one subcommand.
// Returns the process exit status (0 only on success; `run` exits 0 if and
// only if the PipelineRun succeeded).
//
// The CLI's own verbs talk to the API (cli/client.h). The verbs that embed
// strake's parts (serve, router, run, validate) and the API over a data
// directory are app/'s wiring, handed in as a Wiring.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

struct Wiring {
  // Adds app/'s command groups to `app` and `table` (first in --help). What
  // it returns owns them, and lives until the chosen verb has run.
  std::function<std::shared_ptr<void>(CLI::App& app, Context& ctx, CommandTable& table)> commands;
  // The API in this process over a data directory (Context::local_api).
  LocalApiFactory local_api;
};

int Main(int argc, char** argv, const Wiring& wiring);

}  // namespace strake::cli
