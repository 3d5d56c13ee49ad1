#include "pipeline/dag.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

TEST(Dag, CycleIsNamedWithItsTasks) {
  auto dag = BuildDag({{"a", {"c"}}, {"b", {"a"}}, {"c", {"b"}}, {"d", {}}});
  ASSERT_FALSE(dag);
  EXPECT_EQ(dag.error().message, "cycle detected: a -> b -> c -> a");
}

TEST(Dag, UnknownDependencySuggests) {
  auto dag = BuildDag({{"build", {}}, {"test", {"biuld"}}});
  ASSERT_FALSE(dag);
  EXPECT_EQ(dag.error().message,
            "task \"test\" depends on unknown task \"biuld\" (did you mean \"build\"?)");
}

TEST(Dag, SelfDependency) { EXPECT_FALSE(BuildDag({{"a", {"a"}}})); }

TEST(Dag, TopologicalOrderPutsParentsFirst) {
  auto dag = BuildDag({{"deploy", {"test", "build"}}, {"test", {"build"}}, {"build", {}}});
  ASSERT_TRUE(dag);
  auto order = TopologicalOrder(*dag);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(dag->names[order[0]], "build");
  EXPECT_EQ(dag->names[order[1]], "test");
  EXPECT_EQ(dag->names[order[2]], "deploy");
}

TEST(Dag, ResultReferencesImplyOrdering) {
  model::PipelineTask t;
  t.name = "b";
  t.params.push_back({"p", model::ParamValue::String("$(tasks.a.results.digest) x"), {}});
  t.when.push_back({"$(tasks.c.results.ok)", "in", {"true"}, {}});
  t.run_after = {"a"};
  auto deps = TaskDependencies(t);
  EXPECT_EQ(deps, (std::vector<std::string>{"a", "c"}));
  // A matrix's lengths and a workspace's subPath read results too.
  t.params.push_back({"n", model::ParamValue::String("$(tasks.m.matrix.digest.length)"), {}});
  model::WorkspacePipelineTaskBinding w;
  w.name = "src";
  w.sub_path = "$(tasks.s.results.dir)";
  t.workspaces.push_back(w);
  EXPECT_EQ(TaskDependencies(t), (std::vector<std::string>{"a", "m", "s", "c"}));
}

}  // namespace
}  // namespace strake::pipeline
