// `strake serve` and `strake router`: the processes of the control plane
// (app/serve.h, app/router_process.h), started from the command line.
// serve records its address in the data directory while it runs, for the
// CLI on that data directory to find (cli/client.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::app {

class ServeCommands {
 public:
  ServeCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table);

 private:
  int Serve();
  int Router();

  cli::Context& ctx_;
  std::string listen_ = "127.0.0.1:7300";
  std::string tls_cert_, tls_key_;
  bool stop_workloads_ = false;
  bool no_sandbox_ = false;
  std::vector<std::string> host_images_;  // --run-on-host
  std::vector<std::string> insecure_registries_;
  std::string image_store_max_size_;  // --image-store-max-size
  std::string image_gc_interval_;     // --image-gc-interval
  std::string work_dir_;
  std::string egress_allow_;
  std::string router_socket_;
  int router_workers_ = 2;
};

}  // namespace strake::app
