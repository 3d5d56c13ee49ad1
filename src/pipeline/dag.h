// The task graph of a pipeline: pure, built once per run.
//
// Nodes are pipeline tasks (finally tasks are not in the graph: they run
// after it). An edge a -> b means b runs after a, from b's runAfter or from
// b using a's results ($(tasks.a.results.r)). Building fails on an unknown
// task (with a suggestion), a task depending on itself, or a cycle, naming
// the tasks in it, as Tekton's dag.Build does.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "model/tekton.h"

namespace strake::pipeline {

struct Dag {
  std::vector<std::string> names;
  std::unordered_map<std::string, size_t> index;
  std::vector<std::vector<size_t>> parents;
  std::vector<std::vector<size_t>> children;
  std::vector<size_t> order;  // topological, parents first (see TopologicalOrder)
};

struct DagInput {
  std::string name;
  std::vector<std::string> deps;
};

Result<Dag> BuildDag(const std::vector<DagInput>& nodes);

// Names of the tasks whose results a pipeline task uses (params, when,
// matrix, and its embedded spec's steps, sidecars and stepTemplate), in
// order of first use, without duplicates.
std::vector<std::string> ResultDependencies(const model::PipelineTask& t);

// runAfter plus result dependencies.
std::vector<std::string> TaskDependencies(const model::PipelineTask& t);

// A topological order of the graph (parents first), stable by input order.
std::vector<size_t> TopologicalOrder(const Dag& dag);

}  // namespace strake::pipeline
