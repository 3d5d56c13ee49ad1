#include "pipeline/validate.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::pipeline {
namespace {

std::string Validate(const std::string& text) {
  auto docs = model::ParseYaml(text, "pipeline.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  ValidateResources(resources, diags);
  return diags.ErrorText();
}

const char* kHead = R"(apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: p
spec:
  params:
    - name: version
  tasks:
)";

std::string Task(const std::string& name, const std::string& extra = "") {
  return "    - name: " + name + "\n" + extra +
         "      taskSpec:\n        results: [{name: digest}]\n        steps:\n"
         "          - script: echo\n";
}

TEST(Validate, UnknownRunAfterPointsAtTheEntry) {
  std::string text = std::string(kHead) + Task("build") + Task("test") +
                     Task("deploy", "      runAfter:\n        - biuld\n");
  EXPECT_EQ(Validate(text),
            "pipeline.yaml:21:11: spec.tasks[2].runAfter[0]: unknown task \"biuld\" (did you "
            "mean \"build\"?)");
}

TEST(Validate, CycleNamesTasks) {
  std::string text =
      std::string(kHead) + Task("a", "      runAfter: [b]\n") + Task("b", "      runAfter: [a]\n");
  EXPECT_NE(Validate(text).find("cycle detected: a -> b -> a"), std::string::npos);
}

TEST(Validate, ResultAndParamReferences) {
  std::string text = std::string(kHead) + Task("build") +
                     Task("test",
                          "      params:\n"
                          "        - {name: d, value: \"$(tasks.build.results.digst)\"}\n"
                          "        - {name: v, value: \"$(params.verson)\"}\n"
                          "        - {name: x, value: \"$(tasks.nope.results.digest)\"}\n");
  std::string errs = Validate(text);
  EXPECT_NE(errs.find("task \"build\" has no result \"digst\" (did you mean \"digest\"?)"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("undeclared param \"verson\" (did you mean \"version\"?)"),
            std::string::npos);
  EXPECT_NE(errs.find("refers to unknown task \"nope\""), std::string::npos);
}

TEST(Validate, UnknownTaskRefAndUnboundWorkspace) {
  std::string text = std::string(kHead) +
                     "    - name: a\n      taskRef: {name: buidler}\n"
                     "---\napiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: builder}\n"
                     "spec:\n  workspaces: [{name: src}]\n  steps: [{script: echo}]\n"
                     "---\napiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: q}\n"
                     "spec:\n  tasks:\n    - name: b\n      taskRef: {name: builder}\n";
  std::string errs = Validate(text);
  EXPECT_NE(errs.find("unknown Task \"buidler\" (did you mean \"builder\"?)"), std::string::npos)
      << errs;
  EXPECT_NE(errs.find("the task's workspace \"src\" is not bound"), std::string::npos) << errs;
}

TEST(Validate, StepReferencesUndeclaredThings) {
  std::string errs = Validate(R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  params: [{name: who}]
  results: [{name: out}]
  steps:
    - script: echo $(params.whom) > $(results.output.path); ls $(workspaces.src.path)
)");
  EXPECT_NE(errs.find("undeclared param \"whom\""), std::string::npos) << errs;
  EXPECT_NE(errs.find("undeclared result \"output\""), std::string::npos);
  EXPECT_NE(errs.find("undeclared workspace \"src\""), std::string::npos);
}

TEST(Validate, StepActionsAndStepResults) {
  std::string text = R"Y(apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata: {name: build}
spec:
  params: [{name: target}, {name: flags, default: ""}]
  results: [{name: digest}]
  image: alpine
  script: make $(params.target) > $(step.results.digest.path)
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  results: [{name: out, value: "$(steps.first.results.digst)"}]
  steps:
    - name: first
      ref: {name: biuld}
    - name: second
      ref: {name: build}
      params: [{name: targt, value: x}]
    - name: third
      image: alpine
      args: ["$(steps.second.results.digest)", "$(steps.fourth.results.x)"]
      script: echo $(steps.second.results.digest)
      when: [{input: "$(steps.second.results.dgest)", operator: in, values: ["x"]}]
)Y";
  std::string errs = Validate(text);
  for (const char* want :
       {"spec.steps[0].ref.name: unknown StepAction \"biuld\" (did you mean \"build\"?)",
        "spec.steps[1].params[0].name: StepAction \"build\" has no param \"targt\" (did you "
        "mean \"target\"?)",
        "spec.steps[1].params: StepAction \"build\" needs param \"target\" (it has no default)",
        "spec.steps[2].args[1]: $(steps.fourth.results.x): no earlier step \"fourth\"",
        "spec.steps[2].script: a step's result can be read only in env, command, args and when",
        "spec.steps[2].when[0].input: $(steps.second.results.dgest): step \"second\" declares no "
        "result \"dgest\" (did you mean \"digest\"?)"}) {
    EXPECT_NE(errs.find(want), std::string::npos) << want << "\n" << errs;
  }
  // first's StepAction is unknown, so its results are too: nothing more said.
  EXPECT_EQ(errs.find("digst"), std::string::npos) << errs;
}

// A shell's ${i} inside $(results....) makes no Tekton reference (Tekton's
// name pattern does not match it): left as written, not an error.
TEST(Validate, AShellVariableInAResultPathIsNoReference) {
  std::string errs = Validate(R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  results: [{name: digest-0}, {name: digest-1}]
  steps:
    - image: alpine
      script: |
        for i in 0 1; do echo $i > $(results.digest-${i}.path); done
        echo > $(results.digst.path)
)Y");
  EXPECT_EQ(errs.find("digest-${i}"), std::string::npos) << errs;
  EXPECT_NE(errs.find("undeclared result \"digst\""), std::string::npos) << errs;
}

// Pipelines in pipelines: a task that runs a Pipeline is checked as a
// PipelineRun of it would be, and a Pipeline that runs itself is refused.
TEST(Validate, ATaskThatRunsAPipelineIsCheckedAsARunOfIt) {
  const char* text = R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: scans}
spec:
  params: [{name: repo}]
  workspaces: [{name: source}]
  results: [{name: score, value: $(tasks.scan.results.score)}]
  tasks:
    - name: scan
      workspaces: [{name: source}]
      taskSpec:
        workspaces: [{name: source}]
        results: [{name: score}]
        steps: [{script: echo}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  workspaces: [{name: ws}]
  tasks:
    - name: a
      pipelineRef: {name: scanz}
    - name: b
      params: [{name: rpo, value: x}]
      workspaces: [{name: sourc, workspace: ws}]
      pipelineRef: {name: scans}
    - name: c
      params: [{name: s, value: $(tasks.b.results.scor)}]
      taskSpec: {params: [{name: s}], steps: [{script: echo}]}
)Y";
  std::string errs = Validate(text);
  EXPECT_NE(errs.find("pipeline.yaml:22:7: spec.tasks[0].pipelineRef.name: unknown Pipeline "
                      "\"scanz\" (did you mean \"scans\"?)"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].params[0].name: the pipeline declares no param \"rpo\" "
                      "(did you mean \"repo\"?)"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].params: missing value for param \"repo\" of the pipeline"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].workspaces[0].name: the pipeline declares no workspace "
                      "\"sourc\" (did you mean \"source\"?)"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].workspaces: the pipeline's workspace \"source\" is not bound"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("$(tasks.b.results.scor): task \"b\" has no result \"scor\" (did you mean "
                      "\"score\"?)"),
            std::string::npos)
      << errs;
}

TEST(Validate, AnEmbeddedChildPipelineIsValidatedWithWhatItIsGiven) {
  const char* text = R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
    - name: child
      params: [{name: greeting, value: hi}]
      pipelineSpec:
        tasks:
          - name: hello
            taskSpec: {steps: [{script: "echo $(params.greeting) $(params.nope)"}]}
          - name: next
            runAfter: [helo]
            taskSpec: {steps: [{script: echo}]}
)Y";
  std::string errs = Validate(text);
  EXPECT_EQ(errs.find("greeting"), std::string::npos) << "propagated from the task: " << errs;
  EXPECT_NE(errs.find("spec.tasks[0].pipelineSpec.tasks[0].taskSpec.steps[0].script: "
                      "$(params.nope) refers to an undeclared param \"nope\""),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[0].pipelineSpec.tasks[1].runAfter[0]: unknown task \"helo\""),
            std::string::npos)
      << errs;
}

TEST(Validate, APipelineThatRunsItselfIsRefused) {
  const char* text = R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: a}
spec:
  tasks: [{name: t, pipelineRef: {name: b}}]
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: b}
spec:
  tasks:
    - name: u
      pipelineSpec:
        tasks: [{name: v, pipelineRef: {name: a}}]
)Y";
  std::string errs = Validate(text);
  EXPECT_NE(errs.find("spec.tasks[0].pipelineRef.tasks[0].pipelineSpec.tasks[0].pipelineRef.name: "
                      "Pipeline \"a\" runs itself: a -> b -> a"),
            std::string::npos)
      << errs;
}

TEST(Validate, WhatATaskThatRunsAPipelineCannotDoIsRefusedWhenDecoded) {
  auto docs = model::ParseYaml(R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: p}
spec:
  tasks:
    - name: a
      pipelineRef: {name: x}
      taskRef: {name: y}
    - name: b
      retries: 2
      matrix: {params: [{name: m, value: [1, 2]}]}
      pipelineSpec: {tasks: [{name: t, taskSpec: {steps: [{script: echo}]}}]}
    - name: c
      pipelineRef: {name: x, resolver: git}
)Y",
                               "pipeline.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  (void)model::Decode(*docs, diags);
  std::string errs = diags.ErrorText();
  EXPECT_NE(errs.find("pipeline.yaml:6:7: spec.tasks[0]: a task runs a Task (taskRef, taskSpec) "
                      "or a Pipeline (pipelineRef, pipelineSpec), not both"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].matrix: not supported: a matrix on a task that runs a "
                      "Pipeline"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[1].retries: not supported: retries on a task that runs a "
                      "Pipeline"),
            std::string::npos)
      << errs;
  EXPECT_NE(errs.find("spec.tasks[2].pipelineRef.resolver: not supported"), std::string::npos)
      << errs;
}

}  // namespace
}  // namespace strake::pipeline
