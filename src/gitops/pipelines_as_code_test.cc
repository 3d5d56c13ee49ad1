#include "gitops/pipelines_as_code.h"

#include <gtest/gtest.h>

#include "gitops/test_repo.h"

namespace strake::gitops {
namespace {

const char* kPush = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: app-on-push-
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main, release-*]"
spec:
  params:
  - {name: revision, value: "{{ revision }}"}
  - {name: branch, value: "{{source_branch}}"}
  - {name: url, value: "{{repo_url}}"}
  pipelineRef: {name: ci}
  workspaces:
  - name: source
    emptyDir: {}
)";

const char* kPipeline = R"(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: ci}
spec:
  params: [{name: revision}, {name: branch}, {name: url}]
  workspaces: [{name: source}]
  tasks:
  - name: build
    workspaces: [{name: src, workspace: source}]
    taskSpec:
      workspaces: [{name: src}]
      steps:
      - script: echo {{repo_name}} $(params.revision)
)";

class PacTest : public GitTest {
 protected:
  PushEvent Event(const std::string& sha, const std::string& branch = "main",
                  const std::string& before = "") {
    return {"team", "app", "file://" + bare_, branch, before, sha, "Tester"};
  }
};

TEST_F(PacTest, APushToAWatchedBranchStartsItsRunsWithTheVariablesExpanded) {
  Write(".tekton/push.yaml", kPush);
  Write(".tekton/pipeline.yml", kPipeline);
  Write(".tekton/pr.yaml",
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: on-pr\n"
        "  annotations:\n    pipelinesascode.tekton.dev/on-event: \"[pull_request]\"\n"
        "    pipelinesascode.tekton.dev/on-target-branch: \"[main]\"\n"
        "spec: {pipelineRef: {name: ci}}\n");
  std::string sha = Commit("ci");
  auto m = Fetched();
  auto runs = PipelineRunsForPush(*m, Event(sha));
  ASSERT_TRUE(runs) << runs.error().message;
  ASSERT_EQ(runs->size(), 1u);
  const PacRun& r = (*runs)[0];
  EXPECT_EQ(r.file, ".tekton/push.yaml");
  EXPECT_EQ(r.source_workspace, "source");
  EXPECT_EQ(r.run.meta.ns, "team");
  EXPECT_TRUE(r.run.meta.name.rfind("app-on-push-", 0) == 0) << r.run.meta.name;
  EXPECT_EQ(r.run.meta.name.size(), std::string("app-on-push-").size() + 8);
  const auto& params = r.run.raw["spec"]["params"];
  EXPECT_EQ(params[0]["value"], sha);
  EXPECT_EQ(params[1]["value"], "main");
  EXPECT_EQ(params[2]["value"], "file://" + bare_);
  EXPECT_EQ(r.run.raw["metadata"]["labels"]["pipelinesascode.tekton.dev/sha"], sha);
  EXPECT_EQ(r.untrusted, (std::map<std::string, std::string>{{"branch", "{{source_branch}}"}}));
  // The Pipeline's own {{repo_name}} is expanded too.
  ASSERT_EQ(r.resources.size(), 1u);
  EXPECT_EQ(r.resources[0].raw["spec"]["tasks"][0]["taskSpec"]["steps"][0]["script"],
            "echo origin $(params.revision)");
  // The same push seen again names the same run: it starts once.
  auto again = PipelineRunsForPush(*m, Event(sha));
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].run.meta.name, r.run.meta.name);

  // Globs and refs/heads/ forms; other branches start nothing.
  Write("x", "1");
  std::string rel = Commit("release", "release-1.2");
  m = Fetched();
  runs = PipelineRunsForPush(*m, Event(rel, "release-1.2"));
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_EQ(runs->size(), 1u);
  runs = PipelineRunsForPush(*m, Event(rel, "feature"));
  ASSERT_TRUE(runs);
  EXPECT_TRUE(runs->empty());
}

TEST_F(PacTest, NoTektonDirectoryStartsNothing) {
  Write("README.md", "hi\n");
  std::string sha = Commit("readme");
  auto runs = PipelineRunsForPush(*Fetched(), Event(sha));
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_TRUE(runs->empty());
}

TEST_F(PacTest, OnPathChangeRunsOnlyWhenAMatchingFileChanged) {
  std::string annotated = kPush;
  annotated.replace(annotated.find("    pipelinesascode.tekton.dev/on-target-branch"), 0,
                    "    pipelinesascode.tekton.dev/on-path-change: \"[src/**]\"\n");
  Write(".tekton/push.yaml", annotated);
  Write(".tekton/pipeline.yml", kPipeline);
  std::string first = Commit("ci");
  Write("docs/a.md", "a");
  std::string docs = Commit("docs");
  Write("src/main.cc", "int main() {}");
  std::string code = Commit("code");
  auto m = Fetched();
  auto runs = PipelineRunsForPush(*m, Event(docs, "main", first));
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_TRUE(runs->empty());
  runs = PipelineRunsForPush(*m, Event(code, "main", docs));
  ASSERT_TRUE(runs) << runs.error().message;
  EXPECT_EQ(runs->size(), 1u);
}

TEST_F(PacTest, AnUntrustedValuePastedOutsideTheParamsIsRefusedWithTheSafeForm) {
  std::string bad = kPush;
  bad += R"(  pipelineSpec:
    tasks:
    - name: t
      taskSpec:
        steps:
        - script: echo {{source_branch}}
)";
  bad.erase(bad.find("  pipelineRef: {name: ci}\n"), 26);
  Write(".tekton/push.yaml", bad);
  std::string sha = Commit("bad");
  auto runs = PipelineRunsForPush(*Fetched(), Event(sha, "main"));
  ASSERT_FALSE(runs);
  EXPECT_NE(runs.error().message.find(
                ".tekton/push.yaml:21:19: spec.pipelineSpec.tasks[0].taskSpec.steps[0].script: "
                "{{source_branch}} is not trusted (anyone who can push names the branch)"),
            std::string::npos)
      << runs.error().message;
  EXPECT_NE(runs.error().message.find("value: $(params.source_branch)"), std::string::npos);
}

TEST_F(PacTest, BadInputNamesTheFileAndPlace) {
  Write(".tekton/push.yaml", std::string(kPush) + "  bogus: 1\n");
  std::string sha = Commit("bad field");
  auto runs = PipelineRunsForPush(*Fetched(), Event(sha));
  ASSERT_FALSE(runs);
  EXPECT_NE(runs.error().message.find(".tekton/push.yaml:17:3: spec.bogus"), std::string::npos)
      << runs.error().message;

  std::string remote = kPush;
  remote.replace(remote.find("    pipelinesascode.tekton.dev/on-target-branch"), 0,
                 "    pipelinesascode.tekton.dev/task: \"[git-clone]\"\n");
  Write(".tekton/push.yaml", remote);
  sha = Commit("remote task");
  runs = PipelineRunsForPush(*Fetched(), Event(sha));
  ASSERT_FALSE(runs);
  EXPECT_NE(runs.error().message.find("\"git-clone\": remote tasks (Tekton Hub, http URLs) are "
                                      "not supported"),
            std::string::npos)
      << runs.error().message;

  std::string cel = kPush;
  cel.replace(cel.find("    pipelinesascode.tekton.dev/on-target-branch"), 0,
              "    pipelinesascode.tekton.dev/on-cel-expression: event == \"push\"\n");
  Write(".tekton/push.yaml", cel);
  sha = Commit("cel");
  runs = PipelineRunsForPush(*Fetched(), Event(sha));
  ASSERT_FALSE(runs);
  EXPECT_NE(runs.error().message.find("on-cel-expression: not supported"), std::string::npos)
      << runs.error().message;
}

TEST_F(PacTest, ATaskAnnotationReadsARepositoryFileAndRefusesTraversal) {
  std::string run = kPush;
  run.replace(run.find("    pipelinesascode.tekton.dev/on-target-branch"), 0,
              "    pipelinesascode.tekton.dev/task: \"[ci/tasks/lint.yaml]\"\n");
  run.replace(run.find("  pipelineRef: {name: ci}\n"), 26,
              "  pipelineSpec:\n    tasks: [{name: lint, taskRef: {name: lint}}]\n");
  Write(".tekton/push.yaml", run);
  Write("ci/tasks/lint.yaml",
        "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: lint}\n"
        "spec: {steps: [{script: echo lint}]}\n");
  std::string sha = Commit("lint");
  auto m = Fetched();
  auto runs = PipelineRunsForPush(*m, Event(sha));
  ASSERT_TRUE(runs) << runs.error().message;
  ASSERT_EQ(runs->size(), 1u);
  ASSERT_EQ((*runs)[0].resources.size(), 1u);
  EXPECT_EQ((*runs)[0].resources[0].meta.name, "lint");

  run.replace(run.find("ci/tasks/lint.yaml"), 18, "../../etc/passwd.yaml");
  Write(".tekton/push.yaml", run);
  sha = Commit("escape");
  runs = PipelineRunsForPush(*Fetched(), Event(sha));
  ASSERT_FALSE(runs);
  EXPECT_NE(runs.error().message.find("pipelinesascode.tekton.dev/task"), std::string::npos)
      << runs.error().message;
}

TEST(PacList, ReadsPipelinesAsCodeLists) {
  EXPECT_EQ(PacList("[push, pull_request]"), (std::vector<std::string>{"push", "pull_request"}));
  EXPECT_EQ(PacList("push"), (std::vector<std::string>{"push"}));
  EXPECT_EQ(PacList("[\"main\", 'refs/heads/dev']"),
            (std::vector<std::string>{"main", "refs/heads/dev"}));
  EXPECT_TRUE(PacList("[]").empty());
}

}  // namespace
}  // namespace strake::gitops
