// `strake run` and `strake validate`: the verbs that need no server. run
// embeds the pipeline engine over the data directory's store (what `strake
// get/logs/cancel` read there when no server runs on it, cli/client.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "base/fs.h"
#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::pipeline {
class Engine;
}
namespace strake::store {
class Store;
}
namespace strake::app {
class Progress;
}

namespace strake::app {

class RunCommands {
 public:
  RunCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table);

 private:
  int Run();
  int Validate();
  int PullImage();
  int CollectImages();
  // Submits the files' runs to `engine`, or resumes --resume; sets runs_.
  // Several runs are stored only when none of their names is taken.
  int Start(pipeline::Engine& engine, store::Store& store);

  cli::Context& ctx_;
  std::vector<std::string> files_;
  std::vector<std::string> params_;
  int parallel_;
  bool no_cache_ = false;
  bool no_sandbox_ = false;
  std::vector<std::string> host_images_;          // --run-on-host
  std::vector<std::string> insecure_registries_;  // run's and image pull's
  std::string image_ref_;                         // `image pull`'s reference
  std::string image_platform_;                    // and its --platform
  std::string image_max_size_;                    // `image gc --max-size`
  bool recursive_ = false;
  std::string resume_;
  std::string ns_ = "default";  // of the run --resume names
  struct RunKey {
    std::string ns, name;
  };
  std::vector<RunKey> runs_;      // started, in the files' order
  std::vector<Fd> run_locks_;     // cli::RunLockPath of each, held until exit
  Progress* progress_ = nullptr;  // told how many runs there are, when it shows them
  // Takes the lock of a run this process runs; refused when another holds it.
  int LockRun(const std::string& ns, const std::string& name);
};

}  // namespace strake::app
