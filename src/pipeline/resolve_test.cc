#include "pipeline/resolve.h"

#include <gtest/gtest.h>

#include "pipeline/planner.h"
#include "pipeline/test_run.h"

namespace strake::pipeline {
namespace {

using model::ParamValue;
using Kind = TaskResolution::Kind;

model::PipelineTask Task(const std::string& name) {
  model::PipelineTask t;
  t.name = name;
  t.task_spec = model::TaskSpec{};
  return t;
}

ParamValue Array(std::vector<std::string> items) {
  ParamValue v;
  v.type = model::ParamType::kArray;
  v.arr = std::move(items);
  return v;
}

Vars BuildDone() {
  Vars v;
  v.SetString("params.env", "prod");
  v.SetString("tasks.build.results.digest", "sha256:abc");
  return v;
}

TEST(ResolveTask, WhenInAndNotinDecideBetweenStartAndSkip) {
  auto t = Task("deploy");
  t.when = {{"$(params.env)", "in", {"prod", "staging"}, {}}};
  EXPECT_EQ(ResolveTask(t, false, BuildDone(), {}).kind, Kind::kStart);
  t.when[0].op = "notin";
  auto r = ResolveTask(t, false, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kSkip);
  EXPECT_EQ(r.skip_reason, skip::kWhen);
}

TEST(ResolveTask, ResultsAreSubstitutedAndAMissingOneFailsTheRunButSkipsAFinallyTask) {
  auto t = Task("push");
  t.params = {{"image", ParamValue::String("app@$(tasks.build.results.digest)"), {}}};
  auto r = ResolveTask(t, false, BuildDone(), {});
  ASSERT_EQ(r.kind, Kind::kStart);
  EXPECT_EQ(r.params[0].value.str, "app@sha256:abc");

  t.params[0].value = ParamValue::String("$(tasks.test.results.report)");
  r = ResolveTask(t, false, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kFail);
  EXPECT_EQ(r.reason, "InvalidTaskResultReference");
  EXPECT_EQ(r.message, "task push: param \"image\" refers to a result that was not produced");
  r = ResolveTask(t, true, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kSkip);
  EXPECT_EQ(r.skip_reason, skip::kMissingResults);
}

// Tekton's examples/v1/pipelineruns/pipelinerun-using-parameterized-subpath-of-workspace.yaml:
// a binding's subPath takes the pipeline's params.
TEST(ResolveTask, AWorkspaceSubPathIsSubstituted) {
  auto t = Task("write");
  model::WorkspacePipelineTaskBinding plain;
  plain.name = "out";
  plain.workspace = "ws";
  plain.sub_path = "fixed";
  auto templated = plain;
  templated.name = "in";
  templated.sub_path = "$(params.env)/$(tasks.build.results.digest)";
  t.workspaces = {plain, templated};
  auto r = ResolveTask(t, false, BuildDone(), {});
  ASSERT_EQ(r.kind, Kind::kStart);
  EXPECT_EQ(r.sub_paths, (std::map<std::string, std::string>{{"in", "prod/sha256:abc"}}));
}

// Tekton's docs/pipelineruns.md "Propagated Parameters": the pipeline's
// value reaches an embedded spec over the spec's default ("Default
// Values"), the task's own value wins ("Scope and Precedence"), and an
// object's keys the task leaves out come from the pipeline's ("Object
// Parameters": url from the task, commit from the run, branch from the task).
TEST(ResolveTask, AnEmbeddedSpecSeesPipelineParamsWithTektonsPrecedence) {
  auto t = Task("t");
  t.params = {{"given", ParamValue::String("x"), {}}};
  model::ParamSpec declared;
  declared.name = "declared";
  declared.default_value = ParamValue::String("default");
  t.task_spec->params.push_back(declared);
  model::ParamSpec typed;
  typed.name = "typed";
  typed.type = model::ParamType::kArray;
  t.task_spec->params.push_back(typed);
  std::map<std::string, ParamValue> run = {{"given", ParamValue::String("run")},
                                           {"declared", ParamValue::String("run")},
                                           {"extra", ParamValue::String("e")},
                                           {"typed", ParamValue::String("not an array")}};
  auto r = ResolveTask(t, false, BuildDone(), run);
  ASSERT_EQ(r.kind, Kind::kStart);
  ASSERT_EQ(r.params.size(), 3u);
  EXPECT_EQ(r.params[0].value.str, "x");
  EXPECT_EQ(r.params[1].name, "declared");
  EXPECT_EQ(r.params[1].value.str, "run");
  EXPECT_EQ(r.params[2].name, "extra");
  EXPECT_EQ(r.spec, nullptr);  // it reads no result: the spec as written

  ParamValue run_repo, task_repo;
  run_repo.type = task_repo.type = model::ParamType::kObject;
  run_repo.obj = {{"url", "abc.com"}, {"commit", "sha123"}};
  task_repo.obj = {{"branch", "main"}, {"url", "xyz.com"}};
  t.params = {{"gitrepo", task_repo, {}}};
  r = ResolveTask(t, false, BuildDone(), {{"gitrepo", run_repo}});
  ASSERT_EQ(r.params.size(), 1u);
  std::map<std::string, std::string> merged = {
      {"branch", "main"}, {"commit", "sha123"}, {"url", "xyz.com"}};
  EXPECT_EQ(r.params[0].value.obj, merged);

  t.task_spec.reset();  // a referenced Task gets only what it is given
  t.task_ref = "t";
  t.params = {{"given", ParamValue::String("x"), {}}};
  EXPECT_EQ(ResolveTask(t, false, BuildDone(), run).params.size(), 1u);
}

// docs/pipelineruns.md "Propagated Results": an embedded spec reads an
// earlier task's result directly; it is substituted into a copy of the spec
// (params left for the TaskRun), and one not produced fails the run as a
// param's would.
TEST(ResolveTask, AnEmbeddedSpecReadsResultsDirectly) {
  auto t = Task("show");
  model::Step step;
  step.script = "echo $(tasks.build.results.digest) $(params.env)";
  step.args = {"--digest=$(tasks.build.results.digest)"};
  t.task_spec->steps.push_back(step);
  auto r = ResolveTask(t, false, BuildDone(), {});
  ASSERT_EQ(r.kind, Kind::kStart);
  ASSERT_NE(r.spec, nullptr);
  EXPECT_EQ(r.spec->steps[0].script, "echo sha256:abc $(params.env)");
  EXPECT_EQ(r.spec->steps[0].args[0], "--digest=sha256:abc");
  EXPECT_EQ(t.task_spec->steps[0].script, step.script);  // the written spec is unchanged

  t.task_spec->steps[0].script = "echo $(tasks.test.results.report)";
  r = ResolveTask(t, false, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kFail);
  EXPECT_EQ(r.reason, "InvalidTaskResultReference");
  EXPECT_EQ(r.message, "task show: its taskSpec refers to a result that was not produced");
  r = ResolveTask(t, true, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kSkip);
  EXPECT_EQ(r.skip_reason, skip::kMissingResults);
}

TEST(ResolveTask, AMatrixFansOutIsSkippedWhenEmptyAndFailsOverTheLimit) {
  auto t = Task("m");
  t.matrix =
      model::Matrix{{{"os", Array({"linux", "mac"}), {}}, {"arch", Array({"x", "y"}), {}}}, {}};
  auto r = ResolveTask(t, false, BuildDone(), {});
  ASSERT_EQ(r.kind, Kind::kStart);
  EXPECT_EQ(r.combos.size(), 4u);
  t.matrix->params[1].value = Array({});
  r = ResolveTask(t, false, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kSkip);
  EXPECT_EQ(r.skip_reason, skip::kEmptyMatrix);
  std::vector<std::string> many(17, "v");
  t.matrix->params = {{"a", Array(many), {}}, {"b", Array(many), {}}};  // 289 > 256
  r = ResolveTask(t, false, BuildDone(), {});
  EXPECT_EQ(r.kind, Kind::kFail);
  EXPECT_EQ(r.reason, "PipelineRunValidationFailed");
}

const char* const kRun = R"(params: [{name: env}]
workspaces: [{name: src}, {name: extra, optional: true}]
tasks:
  - {name: a, taskSpec: {steps: [{script: 'true'}]}}
  - {name: b, taskSpec: {steps: [{script: 'true'}]}}
  - {name: c, taskSpec: {steps: [{script: 'true'}]}}
  - name: m
    matrix: {params: [{name: os, value: [linux, mac]}]}
    taskSpec: {params: [{name: os}], steps: [{script: 'true'}]}
finally:
  - {name: f, taskSpec: {steps: [{script: 'true'}]}}
)";

std::string Get(const Vars& v, const std::string& name) {
  const ParamValue* p = v.Find(name);
  if (!p) return "<unset>";
  return p->type == model::ParamType::kString ? p->str : p->ToJson().dump();
}

TEST(TaskVars, ATaskSeesTheRunAndTheResultsOfTheTasksItUses) {
  RunState run = TestRun(kRun);
  run.pipeline = "ci";
  run.params["env"] = ParamValue::String("prod");
  run.workspace_paths = {{"src", "/data/src"}, {"extra", ""}};
  Succeed(run, 0, {StringResult("out", "from-a")});
  Succeed(run, 1, {StringResult("out", "from-b")});
  std::vector<std::string> uses = {"a"};
  Vars v = TaskVars(run, false, &uses);
  EXPECT_EQ(Get(v, "params.env"), "prod");
  EXPECT_EQ(Get(v, "context.pipelineRun.name"), "run");
  EXPECT_EQ(Get(v, "context.pipelineRun.uid"), "run-uid");
  EXPECT_EQ(Get(v, "context.pipeline.name"), "ci");
  EXPECT_EQ(Get(v, "workspaces.src.bound"), "true");
  EXPECT_EQ(Get(v, "workspaces.extra.bound"), "false");
  EXPECT_EQ(Get(v, "tasks.a.results.out"), "from-a");
  EXPECT_EQ(Get(v, "tasks.b.results.out"), "<unset>") << "b is not used";
  EXPECT_EQ(Get(v, "tasks.a.status"), "<unset>") << "statuses are for finally tasks";
  EXPECT_EQ(Get(TaskVars(run, false, nullptr), "tasks.b.results.out"), "from-b");
}

TEST(TaskVars, AMatrixedTasksResultsAreGatheredIntoArrays) {
  RunState run = TestRun(kRun);
  PipelineTaskState& m = run.tasks[3];
  m.started = true;
  m.combos = {{}, {}};
  m.children.resize(2);
  m.children[0].results = {StringResult("id", "linux-1")};
  m.children[1].results = {StringResult("id", "mac-1")};
  run.Set(false, 3, {TaskState::kSucceeded, {}});
  std::vector<std::string> uses = {"m"};
  Vars v = TaskVars(run, false, &uses);
  EXPECT_EQ(Get(v, "tasks.m.results.id"), R"(["linux-1","mac-1"])");
  EXPECT_EQ(Get(v, "tasks.m.matrix.length"), "2");
}

TEST(TaskVars, AFinallyTaskSeesEveryTasksStatusAndTheirAggregate) {
  RunState run = TestRun(kRun);
  Succeed(run, 0, {StringResult("out", "x")});
  run.Set(false, 1, {TaskState::kSkipped, skip::kWhen});
  run.Set(false, 2, {TaskState::kCancelled, {}});
  Vars v = TaskVars(run, true, nullptr);
  EXPECT_EQ(Get(v, "tasks.a.status"), "Succeeded");
  EXPECT_EQ(Get(v, "tasks.b.status"), "None");
  EXPECT_EQ(Get(v, "tasks.c.status"), "Failed");
  EXPECT_EQ(Get(v, "tasks.m.status"), "None");
  EXPECT_EQ(Get(v, "tasks.status"), "Failed");
  EXPECT_EQ(Get(v, "tasks.a.results.out"), "x");
  run.Set(false, 2, {TaskState::kSucceeded, {}});
  run.Set(false, 3, {TaskState::kSucceeded, {}});
  EXPECT_EQ(Get(TaskVars(run, true, nullptr), "tasks.status"), "Completed") << "b was skipped";
  run.Set(false, 1, {TaskState::kSucceeded, {}});
  EXPECT_EQ(Get(TaskVars(run, true, nullptr), "tasks.status"), "Succeeded");
}

// Tekton's distribute: the first param varies fastest, so a matrix's
// TaskRun i is Tekton's TaskRun i (its examples/v1/pipelineruns/beta/
// pipelinerun-with-matrix-emitting-results.yaml checks the gathered order).
TEST(ResolveTask, AMatrixFansOutInTektonsOrder) {
  model::Matrix m{
      {{"platform", Array({"linux", "mac"}), {}}, {"browser", Array({"chrome", "safari"}), {}}},
      {}};
  auto combos = FanOut(m, kMatrixLimit);
  ASSERT_TRUE(combos);
  std::vector<std::string> order;
  for (const auto& c : *combos) order.push_back(c[0].value.str + "-" + c[1].value.str);
  EXPECT_EQ(order,
            (std::vector<std::string>{"linux-chrome", "mac-chrome", "linux-safari", "mac-safari"}));
}

// Tekton's docs/matrix.md: with no params, each include entry is its own
// TaskRun (pipelinerun-with-matrix-context-variables.yaml: three builds, so
// matrix.length is 3).
TEST(FanOut, AnIncludeOnlyMatrixRunsEachEntry) {
  model::Matrix m;
  for (const char* image : {"image-1", "image-2", "image-3"}) {
    m.include.push_back({image, {{"IMAGE", ParamValue::String(image), {}}}});
  }
  m.include[0].params.push_back({"DIGEST", ParamValue::String("d1"), {}});
  auto combos = FanOut(m, kMatrixLimit);
  ASSERT_TRUE(combos);
  ASSERT_EQ(combos->size(), 3u);
  EXPECT_EQ((*combos)[0].size(), 2u);
  EXPECT_EQ((*combos)[2].size(), 1u);
  EXPECT_EQ((*combos)[2][0].value.str, "image-3");
}

// A whole array by reference is a matrix param once resolved; anything else
// fails the run.
TEST(ResolveTask, AMatrixParamMayBeAWholeArrayByReference) {
  auto t = Task("m");
  t.matrix = model::Matrix{{{"os", ParamValue::String("$(params.oses[*])"), {}}}, {}};
  Vars v = BuildDone();
  v.Set("params.oses", Array({"linux", "mac"}));
  auto r = ResolveTask(t, false, v, {});
  ASSERT_EQ(r.kind, Kind::kStart) << r.message;
  EXPECT_EQ(r.combos.size(), 2u);
  t.matrix->params[0].value = ParamValue::String("$(params.env)");
  r = ResolveTask(t, false, v, {});
  EXPECT_EQ(r.kind, Kind::kFail);
  EXPECT_EQ(r.message, "task m: matrix param \"os\" is not an array");
}

}  // namespace
}  // namespace strake::pipeline
