#include "pipeline/untrusted.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::pipeline {
namespace {

// The run is the first resource of `text`; `branch` is marked untrusted.
Status Check(const std::string& text) {
  auto docs = model::ParseYaml(text, ".tekton/push.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const auto& run = std::get<model::PipelineRun>(resources.at(0).value);
  return CheckUntrusted(run, resources, {{"branch", "{{source_branch}}"}});
}

const char* kRun = R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: ci-}
spec:
  params: [{name: branch, value: "x$(touch pwned)"}]
  pipelineRef: {name: ci}
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: ci}
spec:
  params: [{name: branch}]
  tasks:
  - name: greet
    params: [{name: who, value: "on $(params.branch)"}]
    taskRef: {name: greet}
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: greet}
spec:
  params: [{name: who}, {name: fixed, default: main}]
  steps:
)yaml";

TEST(Untrusted, AParamFromThePushInAScriptIsRefusedWithTheEnvForm) {
  auto st = Check(std::string(kRun) + "  - name: say\n    script: echo $(params.who)\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            ".tekton/push.yaml:24:5: spec.steps[0].script: $(params.who) carries "
            "{{source_branch}} from the push (pipeline task \"greet\", Task \"greet\") and would "
            "be pasted into text the shell runs, so whoever names a branch could run commands; "
            "read it from the environment instead:\n"
            "    - name: say\n      env:\n      - name: WHO\n        value: $(params.who)\n"
            "      script: |\n        echo \"$WHO\"");
}

TEST(Untrusted, TheEnvFormAndTrustedParamsPass) {
  EXPECT_TRUE(Check(std::string(kRun) + "  - env: [{name: WHO, value: $(params.who)}]\n"
                                        "    script: echo \"$WHO\" $(params.fixed)\n"
                                        "  - command: [echo]\n    args: [\"$(params.who)\"]\n"));
}

TEST(Untrusted, AShellsDashCStringIsScriptText) {
  auto st = Check(std::string(kRun) +
                  "  - command: [/bin/bash, -c]\n    args: [\"echo $(params.who)\"]\n");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("spec.steps[0].args[0]: $(params.who)"), std::string::npos)
      << st.error().message;
}

TEST(Untrusted, AnEmbeddedTaskSpecReadingThePipelineParamIsRefused) {
  const char* text = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: ci-}
spec:
  params: [{name: branch, value: "{{source_branch}}"}]
  pipelineSpec:
    params: [{name: branch}]
    tasks:
    - name: inline
      taskSpec:
        steps:
        - image: alpine
          script: |
            git checkout $(params.branch)
)";
  auto st = Check(text);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find(".tekton/push.yaml:12:11: spec.pipelineSpec.tasks[0]."
                                    "taskSpec.steps[0].script: $(params.branch)"),
            std::string::npos)
      << st.error().message;
  // Declared by the taskSpec and given a constant: not the pipeline's value.
  std::string shadowed = text;
  shadowed.replace(shadowed.find("      taskSpec:\n"), 16,
                   "      params: [{name: branch, value: main}]\n      taskSpec:\n"
                   "        params: [{name: branch}]\n");
  EXPECT_TRUE(Check(shadowed));
}

// A StepAction's script reads its own params: a step that passes it the
// push's value makes that script text too.
TEST(Untrusted, AStepActionGivenThePushsValueInItsScriptIsRefused) {
  std::string action = R"yaml(---
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata: {name: checkout}
spec:
  params: [{name: ref}, {name: depth, default: "1"}]
  image: alpine
  script: git fetch --depth $(params.depth) origin $(params.ref)
)yaml";
  auto st = Check(std::string(kRun) +
                  "  - name: fetch\n    ref: {name: checkout}\n"
                  "    params: [{name: ref, value: $(params.who)}]\n" +
                  action);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("spec.script: $(params.ref) carries {{source_branch}} from "
                                    "the push (pipeline task \"greet\", Task \"greet\", step "
                                    "\"fetch\", StepAction \"checkout\")"),
            std::string::npos)
      << st.error().message;
  EXPECT_TRUE(
      Check(std::string(kRun) +
            "  - name: fetch\n    ref: {name: checkout}\n"
            "    params: [{name: ref, value: main}, {name: depth, value: $(params.fixed)}]\n" +
            action));
}

// A push's value passed down to a Pipeline a task runs reaches that
// Pipeline's tasks: pasted into a script there, it is refused too.
TEST(Untrusted, AValuePassedIntoAChildPipelineIsFollowedIntoItsTasks) {
  const char* run = R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: ci-}
spec:
  params: [{name: branch, value: main}]
  pipelineSpec:
    params: [{name: branch}]
    tasks:
    - name: outer
      params: [{name: ref, value: "refs/$(params.branch)"}]
      pipelineRef: {name: inner}
    - name: embedded
      params: [{name: b, value: $(params.branch)}]
      pipelineSpec:
        tasks:
        - name: t
          taskSpec: {steps: [{script: "echo ok"}]}
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: inner}
spec:
  params: [{name: ref}]
  tasks:
  - name: build
    taskSpec:
      steps: [{name: show, script: "git checkout $(params.ref)"}]
)yaml";
  auto st = Check(run);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("$(params.ref) carries {{source_branch}} from the push "
                                    "(pipeline task \"outer\", Pipeline \"inner\", pipeline task "
                                    "\"build\")"),
            std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace strake::pipeline
