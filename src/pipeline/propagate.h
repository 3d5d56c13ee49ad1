// Tekton's implicit propagation into embedded specs (docs/pipelineruns.md
// and taskruns.md, "Propagated Parameters", "Propagated Workspaces",
// "Propagated Results"): what a PipelineRun or TaskRun passes reaches the
// specs written inside it without being declared there, and a task spec
// written inside a pipeline may use the pipeline's workspaces without a
// binding and earlier tasks' results without a param (which also orders it
// after them: dag.h's ResultDependencies).
//
// Here that is made explicit on the spec as the run sees it (the stored
// object is never changed, as in Tekton): validation and the engine apply
// the same plan, so what validates is what runs. Pure.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "model/tekton.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

// Calls fn on every text of a step Tekton substitutes variables into and
// strake reads: script, command[i], args[i], env[i].value, workingDir,
// image, stdoutConfig.path, stderrConfig.path. `index` is -1 for a field that is not a list.
void ForEachStepText(
    const model::Step& s,
    const std::function<void(std::string_view text, std::string_view field, int index)>& fn);
// The same over a task spec's steps, sidecars and stepTemplate, with the
// steps' params (for a StepAction) and when expressions.
void ForEachTaskText(const model::TaskSpec& t, const std::function<void(std::string_view)>& fn);

// The workspaces a task spec's steps, sidecars and stepTemplate refer to
// ($(workspaces.NAME.path) and the like).
std::set<std::string> WorkspacesUsed(const model::TaskSpec& spec);

// What propagation adds to a pipeline spec; empty when nothing.
struct Propagation {
  std::vector<model::ParamSpec> params;                  // the run's, undeclared
  std::vector<model::PipelineWorkspaceDecl> workspaces;  // the run's, undeclared
  // {is_finally, task index, workspace}: a pipeline workspace an embedded
  // task spec uses without a binding; it is bound under its own name and
  // declared by the task spec if it is not.
  std::vector<std::pair<std::pair<bool, size_t>, std::string>> bindings;
  bool empty() const { return params.empty() && workspaces.empty() && bindings.empty(); }
};

// `run_params` and `run_workspaces` are those of the PipelineRun the spec is
// embedded in (null for a Pipeline of its own: a run's inputs reach only
// the specs written inside the run). A param is declared with its value's
// type (an object's keys as its properties).
Propagation PlanPropagation(const model::PipelineSpec& spec,
                            const std::vector<model::Param>* run_params,
                            const std::vector<model::WorkspaceBinding>* run_workspaces);
void ApplyPropagation(model::PipelineSpec& spec, const Propagation& p);

// A TaskRun's embedded spec: the params and workspaces it is given and does
// not declare, declared.
void DeclareRunInputs(model::TaskSpec& spec, const std::vector<model::Param>& params,
                      const std::vector<model::WorkspaceBinding>& workspaces);

// Tekton's PropagateResults: the earlier tasks' results (and, for a finally
// task, their statuses) an embedded spec refers to, substituted from `vars`
// into its steps, sidecars and stepTemplate. Anything else is left for the
// TaskRun's own substitution. Fails as substitution does (an array used
// whole inside a string).
Status PropagateResults(model::TaskSpec& spec, const Vars& vars);

}  // namespace strake::pipeline
