// CommandTable: the CLI's verbs, each subcommand of CLI11's tree (a leaf:
// `get`, `rollout promote`) with the function that runs it. The command
// groups (resources.h, rollouts.h, ...) add their verbs; after parsing, Main
// runs the one chosen: dispatch is a lookup, not a chain of ifs.
//
// Not thread-safe; built and used on the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>

namespace strake::cli {

// Runs a verb; returns the process's exit status.
using Handler = std::function<int()>;

class CommandTable {
 public:
  // `command` (a subcommand that `app` owns, outliving the table) runs `handler`.
  void Add(const CLI::App* command, Handler handler);
  // The handler of the deepest subcommand parsed under `root`; null when
  // none was parsed or that one has no handler (a group such as `rollout`
  // alone, which CLI11 refuses anyway by require_subcommand).
  const Handler* Chosen(const CLI::App& root) const;

 private:
  std::map<const CLI::App*, Handler> handlers_;
};

}  // namespace strake::cli
