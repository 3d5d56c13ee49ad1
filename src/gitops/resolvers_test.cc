#include "gitops/resolvers.h"

#include <gtest/gtest.h>

#include "gitops/test_repo.h"
#include "model/decode.h"

namespace strake::gitops {
namespace {

const char* kTask = R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: git-clone}
spec:
  steps: [{name: s, image: alpine, script: echo cloned}]
)";

std::vector<model::Resource> Parse(const std::string& text) {
  auto docs = model::ParseYaml(text, "run.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto out = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return out;
}

class ResolverTest : public GitTest {
 protected:
  ResolverContext Ctx() {
    ResolverContext c;
    c.mirror_root = dir_ + "/mirrors";
    c.egress = EgressPolicy::Open();
    return c;
  }
};

// git-resolver.md: url, revision, pathInRepo; the reference becomes a
// plain taskRef to the Task it names, which joins the resources, in the
// decoded value and in the JSON the engine stores.
TEST_F(ResolverTest, TheGitResolverFetchesTheTaskAndNamesIt) {
  Write("task/git-clone/0.10/git-clone.yaml", kTask);
  Commit("a task");
  auto resources = Parse(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: r}
spec:
  pipelineSpec:
    tasks:
    - name: fetch
      taskRef:
        resolver: git
        params:
        - {name: url, value: "file://)" +
                         bare_ + R"("}
        - {name: revision, value: main}
        - {name: pathInRepo, value: task/git-clone/0.10/git-clone.yaml}
    - name: again
      taskRef:
        resolver: git
        params:
        - {name: url, value: "file://)" +
                         bare_ + R"("}
        - {name: pathInRepo, value: task/git-clone/0.10/git-clone.yaml}
)");
  ASSERT_TRUE(HasResolverRefs(resources));
  auto done = ResolveRemoteRefs(resources, Ctx());
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(resources.size(), 2u);  // the Task once, for both references
  EXPECT_EQ(resources[1].kind, "Task");
  const auto& spec = *std::get<model::PipelineRun>(resources[0].value).spec.pipeline_spec;
  EXPECT_EQ(spec.tasks[0].task_ref, "git-clone");
  EXPECT_FALSE(spec.tasks[0].task_resolver);
  EXPECT_EQ(resources[0].raw["spec"]["pipelineSpec"]["tasks"][1]["taskRef"]["name"], "git-clone");
  EXPECT_FALSE(HasResolverRefs(resources));
}

TEST_F(ResolverTest, AWrongPathOrRevisionSaysWhereAndWhat) {
  Write("a.yaml", kTask);
  Commit("a task");
  auto resources = Parse(R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: r}
spec:
  taskRef:
    resolver: git
    params:
    - {name: url, value: "file://)" +
                         bare_ + R"("}
    - {name: pathInRepo, value: b.yaml}
)");
  auto done = ResolveRemoteRefs(resources, Ctx());
  ASSERT_FALSE(done);
  EXPECT_NE(done.error().message.find("run.yaml:6:15: spec.taskRef.resolver: git file://"),
            std::string::npos)
      << done.error().message;
  EXPECT_NE(done.error().message.find("@main: no file b.yaml"), std::string::npos)
      << done.error().message;
}

// cluster-resolver.md: kind, name, namespace; from the files given, else
// the store.
TEST_F(ResolverTest, TheClusterResolverFindsTheTaskGivenOrStored) {
  auto resources = Parse(std::string(kTask) + R"(---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: r}
spec:
  taskRef:
    resolver: cluster
    params:
    - {name: kind, value: task}
    - {name: name, value: git-clone}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: s}
spec:
  taskRef:
    resolver: cluster
    params:
    - {name: name, value: stored-task}
    - {name: namespace, value: team}
)");
  ResolverContext ctx = Ctx();
  std::string asked;
  ctx.stored = [&](const std::string& kind, const std::string& ns,
                   const std::string& name) -> Result<std::optional<model::Resource>> {
    asked = kind + "/" + ns + "/" + name;
    auto r = Parse(R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: stored-task, namespace: team}
spec:
  steps: [{name: s, image: alpine, script: echo stored}]
)");
    return std::optional<model::Resource>(r[0]);
  };
  auto done = ResolveRemoteRefs(resources, ctx);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(asked, "Task/team/stored-task");
  EXPECT_EQ(std::get<model::TaskRun>(resources[1].value).spec.task_ref, "git-clone");
  EXPECT_EQ(std::get<model::TaskRun>(resources[2].value).spec.task_ref, "stored-task");
  EXPECT_EQ(resources.size(), 4u);  // the stored Task joins; the given one was there

  ctx.stored = nullptr;
  auto missing = Parse(R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: r}
spec:
  taskRef: {resolver: cluster, params: [{name: name, value: nope}]}
)");
  auto failed = ResolveRemoteRefs(missing, ctx);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("no Task \"nope\" in namespace default"), std::string::npos)
      << failed.error().message;
}

// A step's ref may name a resolver too (Tekton's stepaction-git-resolver
// example): the StepAction joins the resources and the step names it.
TEST_F(ResolverTest, AStepsRefFetchesItsStepAction) {
  Write("stepaction/git-clone/0.1/git-clone.yaml", R"Y(apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata: {name: git-clone}
spec:
  params: [{name: url}]
  image: alpine/git
  args: [clone, "$(params.url)"]
)Y");
  Commit("a step action");
  auto resources = Parse(R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: r}
spec:
  taskSpec:
    steps:
    - name: clone
      ref:
        resolver: git
        params:
        - {name: url, value: "file://)" +
                         bare_ + R"("}
        - {name: pathInRepo, value: stepaction/git-clone/0.1/git-clone.yaml}
      params: [{name: url, value: "https://example.com/x"}]
)");
  ASSERT_TRUE(HasResolverRefs(resources));
  auto done = ResolveRemoteRefs(resources, Ctx());
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_EQ(resources[1].kind, "StepAction");
  const auto& step = std::get<model::TaskRun>(resources[0].value).spec.task_spec->steps[0];
  EXPECT_EQ(step.ref->name, "git-clone");
  EXPECT_FALSE(step.ref->resolver);
  EXPECT_EQ(resources[0].raw["spec"]["taskSpec"]["steps"][0]["ref"],
            model::Json({{"name", "git-clone"}}));
  EXPECT_FALSE(HasResolverRefs(resources));
}

TEST(ResolverDecode, ResolversStrakeDoesNotRunAreRefusedClearly) {
  auto docs = model::ParseYaml(R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: r}
spec:
  taskRef: {resolver: hub, params: [{name: name, value: git-clone}]}
)",
                               "run.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  model::Decode(*docs, diags);
  EXPECT_NE(diags.ErrorText().find("not supported: the hub resolver (git and cluster are"),
            std::string::npos)
      << diags.ErrorText();
}

}  // namespace
}  // namespace strake::gitops
