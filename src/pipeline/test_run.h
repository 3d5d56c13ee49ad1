// A RunState from a pipeline spec written as YAML, as Resume builds one
// (graph, pending tasks, facts): the fixture of the run_state, run_status
// and resolve tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "model/decode.h"
#include "model/node.h"
#include "pipeline/run_state.h"

namespace strake::pipeline {

inline RunState TestRun(const std::string& spec_yaml) {
  RunState run;
  run.ns = "default";
  run.name = "run";
  run.uid = "run-uid";
  run.start_ms = 1'000'000;
  auto docs = model::ParseYaml(spec_yaml, "spec.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  if (!docs) return run;
  auto spec = model::DecodePipelineSpec(model::ToJson(docs->at(0).root));
  EXPECT_TRUE(spec) << spec.error().message;
  if (!spec) return run;
  run.spec = std::move(*spec);
  auto graph = BuildGraph(run);
  EXPECT_TRUE(graph) << graph.error().message;
  run.InitFacts();
  return run;
}

// A TaskRun result.
inline TaskResult StringResult(const std::string& name, const std::string& value) {
  return {name, model::ParamValue::String(value)};
}

// Marks task `i` (regular) as done with one TaskRun and these results.
inline void Succeed(RunState& run, size_t i, std::vector<TaskResult> results = {}) {
  PipelineTaskState& t = run.tasks[i];
  t.started = true;
  t.combos = {{}};
  t.children.resize(1);
  t.children[0].name = "run-" + run.spec.tasks[i].name;
  t.children[0].created = true;
  t.children[0].state = TaskState::kSucceeded;
  t.children[0].results = std::move(results);
  run.Set(false, i, {TaskState::kSucceeded, {}});
}

}  // namespace strake::pipeline
