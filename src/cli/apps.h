// `strake app list|get|diff|sync|history|rollback`: Argo CD Applications
// through the API, as the argocd CLI shows and steers them.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"

namespace strake::cli {

class AppCommands {
 public:
  AppCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Get();
  int Diff();
  int History();
  // sync and rollback: start one, then wait for it unless --async.
  int Sync(bool rollback);
  int Wait(Client& c);
  std::string Path() const;

  Context& ctx_;
  std::string name_;
  bool prune_ = false, dry_run_ = false, async_ = false;
  std::string revision_;
  int64_t history_id_ = 0;
  std::string timeout_ = "10m";
};

// `app get`'s screen: source, sync and health status, and the resources.
std::string AppText(const Json& application);

}  // namespace strake::cli
