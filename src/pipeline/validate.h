// Validation across resources, before anything runs: task references,
// runAfter, result and param references, workspaces, cycles. Every problem is
// collected with file:line:col and field path. Pure functions.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/diag.h"
#include "model/resource.h"

namespace strake::pipeline {

// How deep pipelines may run pipelines (a task's pipelineRef or
// pipelineSpec; a cycle is refused by validation).
inline constexpr int kMaxPipelineDepth = 16;

// The resources a run can refer to by name. It points into the resources it
// was made from (no copies: a pipeline may hold 10,000 tasks), which must
// outlive it.
struct Catalog {
  std::map<std::string, const model::Task*> tasks;
  std::map<std::string, const model::Pipeline*> pipelines;
  std::map<std::string, const model::StepAction*> step_actions;
  std::map<std::string, const model::ConfigMap*> config_maps;
  std::map<std::string, const model::ConfigMap*> secrets;
  std::map<std::string, model::Origin> origins;  // "Kind/name" -> where it was defined
};

Catalog MakeCatalog(const std::vector<model::Resource>& resources);

// With a catalog, the StepActions steps name are checked too (that they
// exist, and the params and results used of them).
void ValidateTaskSpec(const model::TaskSpec& t, const model::Origin& where, const std::string& path,
                      model::Diagnostics& diags,
                      const std::set<std::string>& propagated_params = {},
                      const Catalog* catalog = nullptr);

void ValidatePipelineSpec(const model::PipelineSpec& p, const Catalog& catalog,
                          const model::Origin& where, const std::string& path,
                          model::Diagnostics& diags);

// Validates every Task, Pipeline, PipelineRun and TaskRun of the set.
void ValidateResources(const std::vector<model::Resource>& resources, model::Diagnostics& diags);

}  // namespace strake::pipeline
