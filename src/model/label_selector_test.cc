#include "model/label_selector.h"

#include <gtest/gtest.h>

namespace strake::model {
namespace {

const std::map<std::string, std::string> kLabels = {{"app", "web"}, {"tier", "production"}};

TEST(LabelSelector, EveryFormKubernetesWritesMatchesAsItDoes) {
  EXPECT_TRUE(LabelSelectorMatches("", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("app=web", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("app==web,tier", kLabels));
  EXPECT_FALSE(LabelSelectorMatches("app=api", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("app!=api", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("team!=x", kLabels));  // absent: holds
  EXPECT_TRUE(LabelSelectorMatches("tier in (staging, production)", kLabels));
  EXPECT_FALSE(LabelSelectorMatches("tier notin (staging,production)", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("team notin (a)", kLabels));
  EXPECT_TRUE(LabelSelectorMatches("!team", kLabels));
  EXPECT_FALSE(LabelSelectorMatches("!app", kLabels));
  EXPECT_FALSE(LabelSelectorMatches("app=web,team", kLabels));
}

TEST(LabelSelector, WhatIsNoSelectorIsAnErrorAndMatchesNothing) {
  for (const char* bad : {"tier in staging", "app=web,,x", "tier in (a", "=web", "a b"}) {
    auto parsed = ParseLabelSelector(bad);
    EXPECT_FALSE(parsed) << bad;
    EXPECT_FALSE(LabelSelectorMatches(bad, kLabels)) << bad;
  }
  EXPECT_NE(ParseLabelSelector("tier in staging").error().message.find("expected (values)"),
            std::string::npos);
}

}  // namespace
}  // namespace strake::model
