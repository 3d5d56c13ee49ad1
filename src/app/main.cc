// strake: main() and the wiring of the command line: the CLI's verbs
// (cli/), with app/'s own (serve, router, run, validate) and the API over a
// data directory handed in.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "app/local_api.h"
#include "app/run_commands.h"
#include "app/serve_commands.h"
#include "cli/commands.h"
#include "gitops/jsonnet.h"
#include "pipeline/step_runner.h"

namespace {

struct Commands {
  Commands(CLI::App& app, strake::cli::Context& ctx, strake::cli::CommandTable& table)
      : run(app, ctx, table), serve(app, ctx, table) {}
  strake::app::RunCommands run;
  strake::app::ServeCommands serve;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    // A step's own process inside the sandbox (pipeline/step_runner.h).
    if (argc >= 3 && std::string(argv[1]) == "__run-steps") {
      return strake::pipeline::RunStepsMain(argv[2]);
    }
    // A jsonnet evaluation of a git source (gitops/jsonnet.h).
    if (argc == 2 && std::string(argv[1]) == "__jsonnet") return strake::gitops::JsonnetMain();
    strake::cli::Wiring wiring;
    wiring.commands = [](CLI::App& app, strake::cli::Context& ctx,
                         strake::cli::CommandTable& table) -> std::shared_ptr<void> {
      return std::make_shared<Commands>(app, ctx, table);
    };
    wiring.local_api = strake::app::OpenLocalApi;
    return strake::cli::Main(argc, argv, wiring);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strake: internal error: %s\n", e.what());
    return 3;
  }
}
