#include "delivery/promotion_task.h"

#include <gtest/gtest.h>

namespace strake::delivery {
namespace {

using model::Json;
using model::PromotionStepSpec;

PromotionStepSpec Uses(const std::string& uses, const std::string& as = "") {
  PromotionStepSpec s;
  s.uses = uses;
  s.as = as;
  return s;
}

PromotionStepSpec Task(const std::string& name, const std::string& as,
                       std::vector<model::ExpressionVariable> vars = {}) {
  PromotionStepSpec s;
  s.task_name = name;
  s.task_kind = "PromotionTask";
  s.as = as;
  s.vars = std::move(vars);
  return s;
}

// Kargo's quickstart task, in short.
model::PromotionTask DemoTask() {
  model::PromotionTask t;
  t.meta.name = "demo-promo-process";
  t.vars = {{"gitopsRepo", ""}, {"imageRepo", "public.ecr.aws/nginx/nginx"}};
  t.steps = {Uses("git-clone"), Uses("kustomize-set-image", "update"),
             Uses("git-commit", "commit")};
  t.steps[0].vars = {{"own", "1"}};
  return t;
}

TaskLookup Lookup(std::vector<std::string>* asked = nullptr) {
  return [asked](const std::string& kind,
                 const std::string& name) -> Result<std::optional<model::PromotionTask>> {
    if (asked) asked->push_back(kind + "/" + name);
    if (name != "demo-promo-process") return std::optional<model::PromotionTask>();
    return std::optional<model::PromotionTask>(DemoTask());
  };
}

TEST(PromotionTask, TaskStepsBecomeTheTasksStepsUnderItsAlias) {
  std::vector<std::string> asked;
  auto steps = InflateSteps(
      {Uses("git-clear"), Task("demo-promo-process", "promo-process", {{"gitopsRepo", "r"}}),
       Task("demo-promo-process", "", {{"gitopsRepo", "s"}}), Uses("fail")},
      {}, Lookup(&asked));
  ASSERT_TRUE(steps) << steps.error().message;
  std::vector<std::string> aliases;
  for (const auto& s : *steps) aliases.push_back(s.as);
  EXPECT_EQ(aliases,
            (std::vector<std::string>{"step-1", "promo-process::step-1", "promo-process::update",
                                      "promo-process::commit", "task-3::step-1", "task-3::update",
                                      "task-3::commit", "step-4"}));
  EXPECT_EQ(asked, (std::vector<std::string>{"PromotionTask/demo-promo-process",
                                             "PromotionTask/demo-promo-process"}));
  // The task's defaults, then the task step's vars, then the step's own.
  const auto& vars = (*steps)[1].vars;
  ASSERT_EQ(vars.size(), 3u);
  EXPECT_EQ(vars[0].name, "imageRepo");
  EXPECT_EQ(vars[1].name, "gitopsRepo");
  EXPECT_EQ(vars[1].value, "r");
  EXPECT_EQ(vars[2].name, "own");
  EXPECT_EQ((*steps)[2].uses, "kustomize-set-image");
}

TEST(PromotionTask, AVarWithoutADefaultMustBeGivenAndATaskMustExist) {
  auto missing = InflateSteps({Task("demo-promo-process", "p")}, {}, Lookup());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "inflate task steps for task \"demo-promo-process\" (\"p\"): missing value for "
            "variable \"gitopsRepo\"");
  // Set by the Promotion's vars: the default is not used, and none is missing.
  auto by_promotion = InflateSteps({Task("demo-promo-process", "p")},
                                   {{"gitopsRepo", "x"}, {"imageRepo", "mine"}}, Lookup());
  ASSERT_TRUE(by_promotion) << by_promotion.error().message;
  EXPECT_EQ((*by_promotion)[0].vars.size(), 1u);  // only the step's own
  auto none = InflateSteps({Task("nope", "p")}, {}, Lookup());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "inflate task steps for task \"nope\" (\"p\"): PromotionTask \"nope\" not found");
}

TEST(PromotionTask, AStepSeesItsTasksOutputsByTheirOwnAliases) {
  Json state = {{"p::update", {{"commitMessage", "m"}}},
                {"p::commit", {{"commit", "abc"}}},
                {"q::commit", {{"commit", "def"}}},
                {"top", {{"x", 1}}}};
  auto outputs = TaskOutputs("p::commit", state);
  ASSERT_TRUE(outputs);
  EXPECT_EQ(*outputs,
            (Json{{"update", {{"commitMessage", "m"}}}, {"commit", {{"commit", "abc"}}}}));
  EXPECT_FALSE(TaskOutputs("top", state));
  EXPECT_EQ(TaskOf("p::s"), "p");
  EXPECT_EQ(TaskOf("a::b::c"), "");
}

}  // namespace
}  // namespace strake::delivery
