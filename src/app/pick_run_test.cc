#include "app/pick_run.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::app {
namespace {

using model::Json;

std::vector<model::Resource> Load(const std::string& yaml) {
  auto docs = model::ParseYaml(yaml, "test.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto out = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return out;
}

const char* kTask = R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: greet}
spec:
  params:
    - {name: who, default: world}
    - {name: tags, type: array, default: []}
  workspaces:
    - {name: out}
    - {name: cache, optional: true}
  results: [{name: greeting}]
  steps: [{name: say, image: busybox, script: echo hi}]
)";

const char* kPipeline = R"(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: build}
spec:
  workspaces: [{name: src}, {name: extra, optional: true}]
  tasks: [{name: t, taskSpec: {steps: [{script: "true"}]}}]
)";

TEST(ChooseRun, AGivenPipelineRunIsRunAsItIs) {
  auto rs = Load(std::string(kTask) + "---\n" + R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: go}
spec: {pipelineSpec: {tasks: [{name: a, taskRef: {name: greet}}]}}
)");
  auto choice = ChooseRuns(rs);
  ASSERT_TRUE(choice);
  ASSERT_EQ(choice->size(), 1u);
  EXPECT_EQ(choice->at(0).how, RunChoice::How::kGiven);
  EXPECT_EQ(choice->at(0).index, 1u);
  auto picked = PickRuns(rs);
  ASSERT_TRUE(picked);
  EXPECT_EQ(*picked, std::vector<size_t>{1u});
  EXPECT_EQ(rs.size(), 2u) << "nothing is made";
}

TEST(ChooseRun, EveryPipelineRunGivenRunsInFileOrder) {
  auto rs = Load(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: a}
spec: {pipelineSpec: {tasks: [{name: a, taskSpec: {steps: [{script: "true"}]}}]}}
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec: {steps: [{script: "true"}]}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: b}
spec: {pipelineSpec: {tasks: [{name: a, taskSpec: {steps: [{script: "true"}]}}]}}
)");
  auto picked = PickRuns(rs);
  ASSERT_TRUE(picked) << picked.error().message;
  EXPECT_EQ(*picked, (std::vector<size_t>{0u, 2u}));
  EXPECT_EQ(rs.size(), 3u) << "nothing is made for the Task";
}

TEST(ChooseRun, SaysWhatToGiveWhenTheChoiceIsNotOne) {
  std::string other_task = std::string(kTask);
  other_task.replace(other_task.find("greet"), 5, "other");
  auto two_tasks = Load(std::string(kTask) + "---\n" + other_task);
  EXPECT_NE(ChooseRuns(two_tasks).error().message.find("several Tasks or TaskRuns"),
            std::string::npos);
  std::string other_pipeline = std::string(kPipeline);
  other_pipeline.replace(other_pipeline.find("build"), 5, "other");
  auto two_pipelines = Load(std::string(kPipeline) + "---\n" + other_pipeline);
  EXPECT_NE(ChooseRuns(two_pipelines).error().message.find("several Pipelines"), std::string::npos);
  EXPECT_EQ(ChooseRuns({}).error().message,
            "nothing to run: give a PipelineRun, a Pipeline, a Task or a TaskRun");
}

TEST(ChooseRun, APipelineWinsOverTheTasksItUses) {
  auto rs = Load(std::string(kTask) + "---\n" + kPipeline);
  auto choice = ChooseRuns(rs);
  ASSERT_TRUE(choice);
  ASSERT_EQ(choice->size(), 1u);
  EXPECT_EQ(choice->at(0).how, RunChoice::How::kForPipeline);
  EXPECT_EQ(choice->at(0).index, 1u);
}

TEST(RunForTask, ALoneTaskRunsAsAOneTaskPipelineWithItsParamsWorkspacesAndResults) {
  auto rs = Load(kTask);
  Json run = RunForTask(rs[0], rs);
  EXPECT_EQ(run["metadata"]["generateName"], "greet-run-");
  const Json& spec = run["spec"]["pipelineSpec"];
  EXPECT_EQ(spec["params"], Json::parse(R"([{"name":"who","default":"world"},
                                            {"name":"tags","type":"array","default":[]}])"));
  const Json& task = spec["tasks"][0];
  EXPECT_EQ(task["name"], "greet");
  EXPECT_EQ(task["taskRef"]["name"], "greet");
  EXPECT_EQ(task["params"][0]["value"], "$(params.who)");
  EXPECT_EQ(task["params"][1]["value"], "$(params.tags[*])");
  EXPECT_EQ(spec["workspaces"][1]["optional"], true);
  EXPECT_EQ(run["spec"]["workspaces"], Json::parse(R"([{"name":"out","emptyDir":{}}])"))
      << "a required workspace gets an emptyDir; an optional one nothing";
  EXPECT_EQ(spec["results"][0]["value"], "$(tasks.greet.results.greeting)");
}

TEST(RunForTask, ATaskRunKeepsItsParamsBindingsTimeoutAndRetries) {
  auto rs = Load(std::string(kTask) + "---\n" + R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: hello, namespace: team}
spec:
  taskRef: {name: greet}
  params: [{name: who, value: strake}]
  workspaces: [{name: out, emptyDir: {}}]
  timeout: 1m
  retries: 2
)");
  auto choice = ChooseRuns(rs);
  ASSERT_TRUE(choice);
  ASSERT_EQ(choice->size(), 1u);
  EXPECT_EQ(choice->at(0).how, RunChoice::How::kForTask);
  EXPECT_EQ(choice->at(0).index, 1u);
  Json run = RunForTask(rs[1], rs);
  EXPECT_EQ(run["metadata"]["generateName"], "hello-run-");
  EXPECT_EQ(run["metadata"]["namespace"], "team");
  EXPECT_EQ(run["spec"]["params"][0]["value"], "strake");
  EXPECT_EQ(run["spec"]["workspaces"].size(), 1u) << "bound by the TaskRun already";
  const Json& task = run["spec"]["pipelineSpec"]["tasks"][0];
  EXPECT_EQ(task["name"], "greet");
  EXPECT_EQ(task["timeout"], "1m");
  EXPECT_EQ(task["retries"], 2);
  auto picked = PickRuns(rs);
  ASSERT_TRUE(picked) << picked.error().message;
  EXPECT_EQ(*picked, std::vector<size_t>{2u});
  EXPECT_EQ(rs[2].kind, "PipelineRun");
}

TEST(RunForPipeline, BindsEveryRequiredWorkspaceToAnEmptyDir) {
  auto rs = Load(kPipeline);
  Json run = RunForPipeline(rs[0]);
  EXPECT_EQ(run["spec"]["pipelineRef"]["name"], "build");
  EXPECT_EQ(run["spec"]["workspaces"], Json::parse(R"([{"name":"src","emptyDir":{}}])"));
}

}  // namespace
}  // namespace strake::app
