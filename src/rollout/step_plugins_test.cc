#include "rollout/step_plugins.h"

#include <gtest/gtest.h>

namespace strake::rollout {
namespace {

TEST(StepPluginsTest, ArgoRolloutsConfigsListIsReadAndABadOneSaysWhy) {
  // Argo's test/e2e/step-plugin/argo-rollouts-config.yaml, data.stepPlugins.
  auto plugins = ParseStepPlugins(R"(- name: "step/e2e-test" # name of the plugin
  location: "file://plugin-bin/e2e-step-plugin" # supports http(s):// urls and file://
  disabled: false
- name: "step/e2e-test-disabled"
  location: "file://plugin-bin/e2e-step-plugin"
  disabled: true)");
  ASSERT_TRUE(plugins) << plugins.error().message;
  ASSERT_EQ(plugins->size(), 2u);
  EXPECT_FALSE(plugins->at("step/e2e-test").disabled);
  EXPECT_EQ(plugins->at("step/e2e-test").location, "file://plugin-bin/e2e-step-plugin");
  EXPECT_TRUE(plugins->at("step/e2e-test-disabled").disabled);
  EXPECT_TRUE(ParseStepPlugins("")->empty());
  EXPECT_EQ(ParseStepPlugins("a: b").error().message, "stepPlugins: not a list");
  EXPECT_EQ(ParseStepPlugins("- location: x").error().message,
            "stepPlugins: an entry without a name");
  EXPECT_EQ(ParseStepPlugins("- {name: a, disabled: maybe}").error().message,
            "stepPlugins: a: disabled is not a boolean");
}

}  // namespace
}  // namespace strake::rollout
