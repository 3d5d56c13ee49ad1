#include "pipeline/substitute.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

Vars Sample() {
  Vars v;
  v.SetString("params.name", "world");
  v.SetString("params.dotted.name", "dot");
  model::ParamValue arr;
  arr.type = model::ParamType::kArray;
  arr.arr = {"a", "b"};
  v.Set("params.list", arr);
  model::ParamValue obj;
  obj.type = model::ParamType::kObject;
  obj.obj = {{"url", "http://x"}};
  v.Set("params.repo", obj);
  v.SetString("tasks.build.results.digest", "sha256:1");
  return v;
}

TEST(Substitute, StringsIndexesKeysAndBrackets) {
  auto v = Sample();
  EXPECT_EQ(*Substitute("hello $(params.name)!", v), "hello world!");
  EXPECT_EQ(*Substitute("$(params.list[1])", v), "b");
  EXPECT_EQ(*Substitute("$(params.repo.url)", v), "http://x");
  EXPECT_EQ(*Substitute("$(params[\"dotted.name\"]) $(params['dotted.name'])", v), "dot dot");
  EXPECT_EQ(*Substitute("$(tasks.build.results.digest)", v), "sha256:1");
  // The legacy form Tekton still substitutes (its examples use it).
  EXPECT_EQ(*Substitute("$(inputs.params.name) $(inputs.params.list[0])", v), "world a");
}

TEST(Substitute, LeavesShellAndUnknownAlone) {
  auto v = Sample();
  EXPECT_EQ(*Substitute("echo $(date) $(params.nope) $((1+2))", v),
            "echo $(date) $(params.nope) $((1+2))");
}

TEST(Substitute, ArrayExpandsOnlyAsAWholeListItem) {
  auto v = Sample();
  auto list = SubstituteList({"x", "$(params.list[*])", "y-$(params.name)"}, v);
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, (std::vector<std::string>{"x", "a", "b", "y-world"}));
  auto bad = Substitute("echo $(params.list[*])", v);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("must stand alone"), std::string::npos);
  EXPECT_FALSE(Substitute("$(params.list)", v));
  auto oob = Substitute("$(params.list[5])", v);
  ASSERT_FALSE(oob);
  EXPECT_NE(oob.error().message.find("out of range"), std::string::npos);
}

TEST(Substitute, WholeReferenceKeepsItsType) {
  auto v = Sample();
  auto r = SubstituteValue(model::ParamValue::String("$(params.list[*])"), v);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, model::ParamType::kArray);
  EXPECT_EQ(r->arr.size(), 2u);
}

TEST(Substitute, FindsReferencesWithRoots) {
  auto refs = FindReferences("$(params.a) $(foo) $(tasks.t.results.r[*]) $(context.task.name)");
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[1].base, "tasks.t.results.r");
  EXPECT_EQ(refs[1].index, Reference::Index::kStar);
}

}  // namespace
}  // namespace strake::pipeline

namespace strake::pipeline {
namespace {

TEST(Substitute, RenamingKeepsIndexesAndKeys) {
  std::map<std::string, std::string> renames = {{"params.p", "steps.s.results.r"}};
  EXPECT_EQ(RenameReferences("a $(params.p) $(params.p[*]) $(params.p[2]) $(params.p.key) "
                             "$(params.pq) $(params[\"p\"])",
                             renames),
            "a $(steps.s.results.r) $(steps.s.results.r[*]) $(steps.s.results.r[2]) "
            "$(steps.s.results.r.key) $(params.pq) $(steps.s.results.r)");
}

}  // namespace
}  // namespace strake::pipeline
