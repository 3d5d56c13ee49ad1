// The verbs particular to Tekton's runs, through the API like every other
// kind's (cli/client.h: with no server on the data directory, the data
// directory answers, which is where `strake run` wrote them): cancel, the
// step logs of a run, and describe's screen of one.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client.h"
#include "cli/command_table.h"
#include "model/kinds.h"

namespace strake::cli {

class PipelineCommands {
 public:
  PipelineCommands(CLI::App& app, Context& ctx, CommandTable& table);

 private:
  int Cancel();

  Context& ctx_;
  std::string name_;
  std::string mode_ = "Cancelled";
};

// The lock a process running PipelineRun `ns/name` of a data directory
// holds while it runs it (`strake run`; base/fs.h TryLockFile): another
// `strake run --resume` is refused, and `strake cancel` of a run no process
// holds ends the run itself.
std::string RunLockPath(const std::string& data_dir, const std::string& ns,
                        const std::string& name);

struct RunLogOptions {
  std::string task;  // only this pipeline task
  std::string step;  // only this step
  bool follow = false;
};

// `strake logs`: the step logs of the PipelineRun or TaskRun `name` (with
// `kind` null: the PipelineRun of that name, else the TaskRun), each line
// as "[TASK : STEP] line", as tkn prints them; following, until it ends.
int RunLogs(const Context& ctx, const model::KindInfo* kind, const std::string& name,
            const RunLogOptions& options);

// describe's screen of a PipelineRun or TaskRun: status, params, results,
// and a PipelineRun's TaskRuns and skipped tasks or a TaskRun's steps.
Result<std::string> RunText(Client& c, const Context& ctx, const model::KindInfo& k,
                            const Json& run);

}  // namespace strake::cli
