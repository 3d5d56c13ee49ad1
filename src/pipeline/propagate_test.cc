#include "pipeline/propagate.h"

#include <gtest/gtest.h>

#include "pipeline/dag.h"

namespace strake::pipeline {
namespace {

using model::ParamValue;

model::PipelineTask Embedded(const std::string& name, const std::string& script) {
  model::PipelineTask t;
  t.name = name;
  t.task_spec = model::TaskSpec{};
  model::Step s;
  s.script = script;
  t.task_spec->steps.push_back(s);
  return t;
}

model::WorkspaceBinding Binding(const std::string& name) {
  model::WorkspaceBinding b;
  b.name = name;
  return b;
}

// Tekton's examples/v1/pipelineruns/propagating-workspaces.yaml and
// propagating_params_implicit_parameters.yaml: a PipelineRun's params and
// workspaces reach the pipelineSpec written in it, undeclared, and its
// embedded tasks use the workspaces without binding them.
TEST(Propagation, ARunsInputsReachTheSpecsWrittenInsideIt) {
  model::PipelineSpec spec;
  spec.tasks.push_back(Embedded("fetch", "echo hi >> $(workspaces.shared-data.path)/recipe.txt"));
  spec.tasks.push_back(Embedded("print", "cat $(workspaces.shared-data.path)/r $(params.HELLO)"));
  spec.finally.push_back(Embedded("clean", "rm $(workspaces.other.path)/x"));
  ParamValue repo;
  repo.type = model::ParamType::kObject;
  repo.obj = {{"url", "abc.com"}, {"commit", "sha123"}};
  std::vector<model::Param> params = {{"HELLO", ParamValue::String("Hello World!"), {}},
                                      {"gitrepo", repo, {}}};
  std::vector<model::WorkspaceBinding> workspaces = {Binding("shared-data")};

  Propagation plan = PlanPropagation(spec, &params, &workspaces);
  ASSERT_EQ(plan.params.size(), 2u);
  EXPECT_EQ(plan.params[1].type, model::ParamType::kObject);
  EXPECT_EQ(plan.params[1].properties, (std::vector<std::string>{"commit", "url"}));
  ASSERT_EQ(plan.workspaces.size(), 1u);
  // Two tasks bind shared-data; `other` is no workspace of the pipeline's.
  ASSERT_EQ(plan.bindings.size(), 2u);
  ApplyPropagation(spec, plan);
  EXPECT_EQ(spec.params[0].name, "HELLO");
  EXPECT_EQ(spec.workspaces[0].name, "shared-data");
  ASSERT_EQ(spec.tasks[1].workspaces.size(), 1u);
  EXPECT_EQ(spec.tasks[1].workspaces[0].workspace, "shared-data");
  EXPECT_EQ(spec.tasks[1].task_spec->workspaces[0].name, "shared-data");
  EXPECT_EQ(spec.tasks[1].task_spec->workspaces[0].mount_path, "/workspace/shared-data");
  EXPECT_TRUE(spec.finally[0].workspaces.empty());
  // Applied once, nothing is left to add.
  EXPECT_TRUE(PlanPropagation(spec, &params, &workspaces).empty());
}

// A Pipeline of its own (examples/v1/pipelineruns/
// propagating-workspaces-in-pipelines.yaml): its own workspaces reach its
// embedded tasks, but a run's inputs do not reach a referenced spec.
TEST(Propagation, APipelinesOwnWorkspacesReachItsEmbeddedTasksOnly) {
  model::PipelineSpec spec;
  spec.workspaces.push_back({"shared-data", "", false});
  spec.tasks.push_back(Embedded("t1", "ls $(workspaces.shared-data.path)"));
  model::PipelineTask bound = Embedded("t2", "ls $(workspaces.shared-data.path)");
  bound.workspaces.push_back({"shared-data", "shared-data", "sub"});
  spec.tasks.push_back(bound);
  model::PipelineTask referenced;
  referenced.name = "t3";
  referenced.task_ref = "lister";
  spec.tasks.push_back(referenced);
  Propagation plan = PlanPropagation(spec, nullptr, nullptr);
  EXPECT_TRUE(plan.params.empty());
  ASSERT_EQ(plan.bindings.size(), 1u);  // t2 binds it itself; t3 is referenced
  EXPECT_EQ(plan.bindings[0].first.second, 0u);
}

TEST(Propagation, ATaskRunsInputsAreDeclaredByItsEmbeddedSpec) {
  model::TaskSpec spec;
  model::ParamSpec own;
  own.name = "message";
  own.default_value = ParamValue::String("hi");
  spec.params.push_back(own);
  DeclareRunInputs(
      spec, {{"message", ParamValue::String("x"), {}}, {"extra", ParamValue::String("y"), {}}},
      {Binding("tr-workspace")});
  ASSERT_EQ(spec.params.size(), 2u);
  EXPECT_TRUE(spec.params[0].default_value);  // its own declaration is kept
  EXPECT_EQ(spec.params[1].name, "extra");
  ASSERT_EQ(spec.workspaces.size(), 1u);
  EXPECT_EQ(spec.workspaces[0].name, "tr-workspace");
  EXPECT_EQ(spec.workspaces[0].mount_path, "/workspace/tr-workspace");
}

TEST(Propagation, ResultsAreSubstitutedIntoStepsSidecarsAndTheTemplateOnly) {
  model::TaskSpec spec;
  model::Step s;
  s.script = "echo $(tasks.a.results.uid) $(params.p) $(tasks.a.results.repo.url)";
  s.args = {"$(tasks.a.results.list[*])", "last"};
  s.env = {{"UID", "$(tasks.a.results.uid)", {}, {}, ""}};
  spec.steps.push_back(s);
  spec.sidecars.push_back(s);
  spec.step_template = s;
  Vars vars;
  vars.SetString("tasks.a.results.uid", "1001");
  vars.SetString("params.p", "must stay");
  ParamValue list;
  list.type = model::ParamType::kArray;
  list.arr = {"x", "y"};
  vars.Set("tasks.a.results.list", list);
  ParamValue repo;
  repo.type = model::ParamType::kObject;
  repo.obj = {{"url", "u"}};
  vars.Set("tasks.a.results.repo", repo);
  ASSERT_TRUE(PropagateResults(spec, vars));
  for (const model::Step* st : {&spec.steps[0], &spec.sidecars[0], &*spec.step_template}) {
    EXPECT_EQ(st->script, "echo 1001 $(params.p) u");
    EXPECT_EQ(st->args, (std::vector<std::string>{"x", "y", "last"}));
    EXPECT_EQ(st->env[0].value, "1001");
  }
  spec.steps[0].script = "echo $(tasks.a.results.list)";  // a whole array inside a string
  EXPECT_FALSE(PropagateResults(spec, vars));
}

// Tekton's PipelineTaskResultRefs: a result an embedded spec reads orders
// the task after its producer (examples/v1/pipelineruns/
// propagating_results_implicit_resultref.yaml ran both at once before).
TEST(Propagation, AResultReadByAnEmbeddedSpecIsADependency) {
  model::PipelineTask t = Embedded("show-uid", "");
  t.task_spec->steps[0].args = {"echo $(tasks.add-uid.results.uid)"};
  model::Step sidecar;
  sidecar.env = {{"X", "$(tasks.other.results.x)", {}, {}, ""}};
  t.task_spec->sidecars.push_back(sidecar);
  EXPECT_EQ(ResultDependencies(t), (std::vector<std::string>{"add-uid", "other"}));
}

}  // namespace
}  // namespace strake::pipeline
