#include "pipeline/resolve.h"

#include <gtest/gtest.h>

#include "pipeline/planner.h"

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

TEST(ResolveTask, AnEmbeddedSpecSeesPipelineParamsItDoesNotDeclare) {
  auto t = Task("t");
  t.params = {{"given", ParamValue::String("x"), {}}};
  t.task_spec->params.push_back({"declared", model::ParamType::kString, "", {}, {}, {}, {}});
  std::map<std::string, ParamValue> run = {{"given", ParamValue::String("run")},
                                           {"declared", ParamValue::String("run")},
                                           {"extra", ParamValue::String("e")}};
  auto r = ResolveTask(t, false, BuildDone(), run);
  ASSERT_EQ(r.kind, Kind::kStart);
  ASSERT_EQ(r.params.size(), 2u);
  EXPECT_EQ(r.params[0].value.str, "x");
  EXPECT_EQ(r.params[1].name, "extra");
  t.task_spec.reset();  // a referenced Task gets only what it is given
  t.task_ref = "t";
  EXPECT_EQ(ResolveTask(t, false, BuildDone(), run).params.size(), 1u);
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

}  // namespace
}  // namespace strake::pipeline
