#include "pipeline/step_actions.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::pipeline {
namespace {

using model::ParamValue;

model::StepActionSpec Action(const std::string& spec) {
  std::string text =
      "apiVersion: tekton.dev/v1beta1\nkind: StepAction\nmetadata: {name: a}\nspec:\n" + spec;
  auto docs = model::ParseYaml(text, "action.yaml");
  EXPECT_TRUE(docs);
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  return std::get<model::StepAction>(resources.at(0).value).spec;
}

model::Step Ref(std::vector<model::Param> params) {
  model::Step s;
  s.name = "run";
  s.ref = model::StepRef{"a", std::nullopt, {}};
  s.params = std::move(params);
  return s;
}

TEST(StepActionTest, TheStepPassesParamsAndTheDefaultsFillTheRest) {
  auto action = Action(R"Y(  params:
    - {name: s, default: "default s"}
    - {name: arr, type: array}
    - name: obj
      type: object
      properties: {k1: {type: string}, k2: {type: string}}
      default: {k1: "default k1", k2: "default k2"}
    - {name: greeting, default: "hello $(params.s)"}
  image: alpine
  args: ["$(params.arr[*])", "$(params.obj.k1)", "$(params.obj.k2)", "$(params.greeting)"]
  env: [{name: S, value: "$(params.s)"}]
  script: echo "$(params.arr[0])"
)Y");
  Vars vars;
  vars.Set("params.list", {model::ParamType::kArray, "", {"x", "y"}, {}});
  vars.Set("params.o", {model::ParamType::kObject, "", {}, {{"k2", "given k2"}}});
  auto step = Ref({{"arr", ParamValue::String("$(params.list[*])"), {}},
                   {"obj", ParamValue::String("$(params.o[*])"), {}}});
  step.on_error = "continue";
  auto out = InlineStepAction(step, action, vars);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->args,
            (std::vector<std::string>{"x", "y", "default k1", "given k2", "hello default s"}));
  EXPECT_EQ(out->env.at(0).value, "default s");
  EXPECT_EQ(out->script, "echo \"x\"");
  EXPECT_EQ(out->image, "alpine");
  EXPECT_EQ(out->name, "run");
  EXPECT_EQ(out->on_error, "continue");
  EXPECT_FALSE(out->ref);
}

TEST(StepActionTest, AParamGivenAStepResultIsReadWhenTheStepStarts) {
  auto action = Action(R"Y(  params:
    - {name: list, type: array}
    - {name: one}
    - name: obj
      type: object
      properties: {url: {type: string}}
  image: bash
  args: ["$(params.list[*])", "$(params.list[1])", "$(params.obj.url)"]
  env: [{name: ONE, value: "$(params.one)"}]
)Y");
  auto out =
      InlineStepAction(Ref({{"list", ParamValue::String("$(steps.build.results.list[*])"), {}},
                            {"one", ParamValue::String("$(steps.build.results.one)"), {}},
                            {"obj", ParamValue::String("$(steps.build.results.obj[*])"), {}}}),
                       action, Vars());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->args, (std::vector<std::string>{"$(steps.build.results.list[*])",
                                                 "$(steps.build.results.list[1])",
                                                 "$(steps.build.results.obj.url)"}));
  EXPECT_EQ(out->env.at(0).value, "$(steps.build.results.one)");
}

TEST(StepActionTest, WhatTheActionDoesNotTakeOrNeedsIsAnError) {
  auto action = Action("  params: [{name: needed}, {name: given, default: x}]\n  image: bash\n");
  auto unknown = InlineStepAction(
      Ref({{"neded", ParamValue::String("v"), {}}, {"needed", ParamValue::String("v"), {}}}),
      action, Vars());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "the StepAction has no param \"neded\" (did you mean \"needed\"?)");
  auto missing = InlineStepAction(Ref({}), action, Vars());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "param \"needed\" has no default and the step does not pass it");
  StepActions actions = {{"a", action}};
  model::Step other = Ref({});
  other.ref->name = "b";
  auto none = InlineStepActions({other}, &actions, Vars());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "step \"run\": unknown StepAction \"b\" (did you mean \"a\"?)");
}

TEST(StepActionTest, ResultFilesReadAsTektonReadsThem) {
  EXPECT_EQ(ParseResultText("[\"a\", \"b\"]"),
            (ParamValue{model::ParamType::kArray, "", {"a", "b"}, {}}));
  EXPECT_EQ(ParseResultText("{\"k\": \"v\"}"),
            (ParamValue{model::ParamType::kObject, "", {}, {{"k", "v"}}}));
  EXPECT_EQ(ParseResultText("\"quoted\""), ParamValue::String("quoted"));
  EXPECT_EQ(ParseResultText("[1, 2]"), ParamValue::String("[1, 2]"));
  EXPECT_EQ(ParseResultText("plain\n"), ParamValue::String("plain\n"));
  EXPECT_EQ(StepResultOf("$(steps.build.results.digest)"),
            std::make_pair(std::string("build"), std::string("digest")));
  EXPECT_EQ(StepResultOf("$(tasks.build.results.digest)").first, "");
  EXPECT_EQ(StepResultPath("/tekton/steps", "build", "digest"),
            "/tekton/steps/step-build/results/digest");
}

}  // namespace
}  // namespace strake::pipeline
