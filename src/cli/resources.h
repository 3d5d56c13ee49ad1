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

// What `get`, `describe` and `delete` name, as kubectl takes it: a KIND
// and NAMEs (none: every object of the kind, for `get`), or KIND/NAME each.
struct Target {
  const model::KindInfo* kind = nullptr;
  std::string name;  // "": the whole kind
};
Result<std::vector<Target>> ParseTargets(const std::vector<std::string>& args);
// The same, and when a name is no built-in kind, again after learning the
// server's custom kinds (LearnCustomKinds), as kubectl's discovery does.
Result<std::vector<Target>> TargetsOf(const Context& ctx, const std::vector<std::string>& args);

// kubectl's -o: text, wide, name, json, yaml or jsonpath=TEMPLATE; an error
// says which are known (a jsonpath template is parsed here).
Status CheckOutput(const std::string& output);
// An object's name as `-o name` prints it: KIND.GROUP/NAME (`service/web`,
// `pipelinerun.tekton.dev/build-1`).
std::string QualifiedName(const model::KindInfo& k, const std::string& name);

// What the server said about `r` (one line per problem, "stage dev:
// spec.steps[0].uses: ..."), each line that names a field of r's document
// placed as "file:line:col: stage dev: spec.steps[0].uses: ...", the other
// lines under r's own place; the server's "kind name: " prefix is not said
// twice.
std::string PlaceServerError(const model::Resource& r, const std::string& message);

class ResourceCommands {
 public:
  ResourceCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int WriteEach(const std::string& verb,
                const std::function<int(Client&, const model::Resource&, const model::KindInfo&,
                                        const std::string&)>& write);
  int Apply();
  int Diff();
  int Create();
  int Get();
  int Describe();
  int Patch();
  int Delete();
  int DeleteFiles();
  int Logs();

  Context& ctx_;
  std::vector<std::string> files_;
  std::vector<std::string> args_;  // get, describe, delete: KIND [NAME...] or KIND/NAME...
  std::string kind_, name_, selector_;
  std::string patch_body_, patch_type_ = "merge";
  std::string task_, step_, revision_;
  bool follow_ = false;
  bool recursive_ = false;
  bool all_namespaces_ = false;
  bool watch_ = false;
  bool ignore_not_found_ = false;
};

struct GetOptions {
  std::string selector;
  bool all_namespaces = false;
  bool watch = false;
};

// `strake get`: the table, or the objects as -o asks; `all` lists every
// kind that has objects.
int GetResources(const Context& ctx, const std::vector<std::string>& args, const GetOptions& o);

}  // namespace strake::cli
