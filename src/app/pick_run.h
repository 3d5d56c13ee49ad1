// Which run `strake run -f FILES` runs: the PipelineRun the files give, or
// one made for their lone Pipeline, Task or TaskRun (a Task or TaskRun runs
// as a one-task pipeline whose params, workspaces and results are the
// task's, as `tkn task start` would). Pure: functions on decoded resources.
#pragma once

#include <cstddef>
#include <vector>

#include "base/result.h"
#include "model/resource.h"

namespace strake::app {

struct RunChoice {
  enum class How {
    kGiven,        // the PipelineRun at `index`
    kForTask,      // a run made for the TaskRun or Task at `index`
    kForPipeline,  // a run made for the Pipeline at `index`
  };
  How how = How::kGiven;
  size_t index = 0;
};

// The selection rule: every PipelineRun given, in file order; else one
// TaskRun (its Task may come along), or one Task when there is no Pipeline;
// else one Pipeline. More than one candidate of those, or none, is an error
// that says what to give.
Result<std::vector<RunChoice>> ChooseRuns(const std::vector<model::Resource>& resources);

// The PipelineRun (a document, with generateName) made for a TaskRun or
// Task of `resources`, or for a Pipeline.
model::Json RunForTask(const model::Resource& source,
                       const std::vector<model::Resource>& resources);
model::Json RunForPipeline(const model::Resource& pipeline);

// The indices of the runs to run among `resources`: given, or made (and
// appended) as ChooseRuns says.
Result<std::vector<size_t>> PickRuns(std::vector<model::Resource>& resources);

}  // namespace strake::app
