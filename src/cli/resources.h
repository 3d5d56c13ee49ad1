// The verbs every kind answers to, as kubectl's do: apply, create, get,
// describe, patch, delete, and logs (a rollout's replicas, a run's steps). They talk
// to the API (cli/client.h), the Tekton kinds to the data directory when no
// server runs on it; what is particular to a kind (its table columns, its
// describe screen, its logs) comes from its group (columns.h, rollouts.h,
// pipelines.h).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command_table.h"
#include "model/resource.h"

namespace strake::cli {

class ResourceCommands {
 public:
  ResourceCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int WriteEach(const std::string& verb,
                const std::function<int(Client&, const model::Resource&, const model::KindInfo&,
                                        const std::string&)>& write);
  int Apply();
  int Create();
  int Get();
  int Describe();
  int Patch();
  int Delete();
  int Logs();

  Context& ctx_;
  std::vector<std::string> files_;
  std::string kind_, name_, selector_;
  std::string patch_body_, patch_type_ = "merge";
  std::string task_, step_, revision_;
  bool follow_ = false;
};

// `strake get KIND [NAME]`: the table, or the object(s) as -o json|yaml.
int GetResources(const Context& ctx, const std::string& kind, const std::string& name,
                 const std::string& selector);

}  // namespace strake::cli
