// Resolution of one pipeline task as it becomes ready: the variables it may
// see (the run's params and context, earlier tasks' results and, for a
// finally task, their statuses), its `when` expressions, its params (results
// of earlier tasks substituted, pipeline params propagated into an embedded
// spec as Tekton does), the results its embedded spec reads, and its matrix
// fanned out. Pure: it reads the task
// and the run's state, and says whether to start it (with what), skip it, or
// fail the run, and why. Tekton's pipelinerunresources.ResolvePipelineTask
// and ApplyParameters.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tekton.h"
#include "pipeline/run_state.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

// Tekton's default-max-matrix-combinations-count.
inline constexpr size_t kMatrixLimit = 256;

struct TaskResolution {
  enum class Kind { kStart, kSkip, kFail };
  Kind kind = Kind::kStart;
  // kStart: the task's params and one param list per matrix combination
  // ({{}} without a matrix).
  std::vector<model::Param> params;
  std::vector<std::vector<model::Param>> combos;
  // kStart: the embedded spec with the results it reads substituted (null
  // when it reads none, or the task is not embedded).
  std::shared_ptr<const model::TaskSpec> spec;
  // kStart: each workspace binding's subPath with its variables substituted.
  std::map<std::string, std::string> sub_paths;
  // kSkip: the skip reason, one of planner.h's static skip:: strings.
  std::string_view skip_reason;
  // kFail: Tekton's reason (InvalidTaskResultReference,
  // InvalidWhenExpression, PipelineRunValidationFailed) and the message. A
  // finally task that cannot start is skipped instead (results missing).
  std::string reason;
  std::string message;
};

// Fans a matrix out into its combinations, Tekton's way (include rules),
// refusing more than `limit`.
Result<std::vector<std::vector<model::Param>>> FanOut(const model::Matrix& m, size_t limit);

// What a task of the run may reference: the run's params, context and
// workspaces' bound state; the results of the tasks named in `uses` (of
// every task when null) that succeeded, a matrixed task's gathered into
// arrays with its matrix.length; for a finally task, every task's
// $(tasks.<t>.status) and $(tasks.status).
Vars TaskVars(const RunState& run, bool for_finally, const std::vector<std::string>* uses);

// `vars` holds what the task may reference (params, context, the results
// of the tasks it uses); `run_params` the pipeline's params, for
// propagation.
TaskResolution ResolveTask(const model::PipelineTask& pt, bool is_finally, const Vars& vars,
                           const std::map<std::string, model::ParamValue>& run_params);

}  // namespace strake::pipeline
