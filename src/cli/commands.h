// The `strake` command line: parses arguments and runs one subcommand.
// Returns the process exit status (0 only on success; `run` exits 0 if and
// only if the PipelineRun succeeded).
#pragma once

namespace strake::cli {

int Main(int argc, char** argv);

}  // namespace strake::cli
