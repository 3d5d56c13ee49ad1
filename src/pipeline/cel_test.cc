#include "pipeline/cel.h"

#include <gtest/gtest.h>

#include <map>

namespace strake::pipeline {
namespace {

Result<bool> Eval(std::string_view expr, std::map<std::string, std::string> vars = {}) {
  return EvalCel(expr, [&](const std::string& literal) -> Result<std::string> {
    std::string out = literal;
    for (const auto& [k, v] : vars) {
      std::string ref = "$(" + k + ")";
      for (size_t at = out.find(ref); at != std::string::npos; at = out.find(ref, at + v.size()))
        out.replace(at, ref.size(), v);
    }
    return out;
  });
}

// Tekton's pipelinerun-with-cel-when-expressions.yaml's forms.
TEST(Cel, TektonsExamplesForms) {
  EXPECT_TRUE(*Eval("'$(params.path)' == 'README.md'", {{"params.path", "README.md"}}));
  EXPECT_FALSE(*Eval("'$(params.path)'!='README.md'", {{"params.path", "README.md"}}));
  EXPECT_FALSE(*Eval("'monday'=='friday'"));
  EXPECT_TRUE(*Eval("!('a' == 'b') && (1 < 2 || false)"));
  EXPECT_TRUE(*Eval("'b' in ['a', 'b']"));
  EXPECT_FALSE(*Eval("3 >= 4"));
  EXPECT_TRUE(*Eval("\"x\\\"y\" == 'x\"y'"));
}

// A value is bound inside its literal: a quote in it cannot change the
// expression (in Tekton the value is pasted into the CEL text).
TEST(Cel, AValueNeverBecomesExpressionText) {
  EXPECT_FALSE(*Eval("'$(params.p)' == 'prod'", {{"params.p", "x' || 'a' == 'a"}}));
}

TEST(Cel, WhatIsNotSupportedIsAnError) {
  for (const char* bad : {"'a' ==", "size('a') == 1", "$(params.x) == 'a'", "'a'", "('a' == 'a'",
                          "'a' < 1", "'unclosed"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(Eval(bad));
  }
  EXPECT_FALSE(CheckCel(std::string(200, '(') + "true" + std::string(200, ')')));
  EXPECT_TRUE(CheckCel("'$(tasks.t.results.r)' == 'yes'"));
}

}  // namespace
}  // namespace strake::pipeline
