#include "delivery/template.h"

#include <gtest/gtest.h>

namespace strake::delivery {
namespace {

using model::Json;

TemplateEnv Env() {
  TemplateEnv env;
  env.vars = {{"aString", "hello"},
              {"anInt", 42},
              {"aFloat", 3.14},
              {"aBool", true},
              {"obj", Json{{"foo", "bar"}}},
              {"arr", Json::array({1, 2})},
              {"ctx", Json{{"stage", "test"}, {"project", "kargo-demo"}}}};
  return env;
}

Json Eval(const std::string& text) {
  auto v = EvaluateTemplate(text, Env());
  EXPECT_TRUE(v) << text << ": " << v.error().message;
  return v ? *v : Json();
}

// The cases of Kargo's json_templates_test.go that strake's expression
// language can write (it has no map literals: a variable stands in).
TEST(Template, ScalarsKeepTheirTypesAndTextIsJoined) {
  EXPECT_EQ(Eval("${{ aString }}"), "hello");
  EXPECT_EQ(Eval("${{ anInt }}"), 42);
  EXPECT_EQ(Eval("${{ aFloat }}"), 3.14);
  EXPECT_EQ(Eval("${{ aBool }}"), true);
  EXPECT_EQ(Eval("${{ aString }}, world!"), "hello, world!");
  EXPECT_EQ(Eval("${{ aString }}, ${{ anInt }}!"), "hello, 42!");
  EXPECT_EQ(Eval("${{ obj }}"), Json({{"foo", "bar"}}));
  EXPECT_EQ(Eval("${{ arr }}"), Json::array({1, 2}));
  EXPECT_EQ(Eval("${{ 'null' }}"), Json());
  EXPECT_EQ(Eval("stage/${{ ctx.stage }}"), "stage/test");
}

TEST(Template, AStringWithoutAnExpressionIsKeptAsWritten) {
  EXPECT_EQ(Eval("42"), "42");
  EXPECT_EQ(Eval("true"), "true");
  EXPECT_EQ(Eval("{\"foo\": \"bar\"}\n"), "{\"foo\": \"bar\"}\n");
}

TEST(Template, QuoteMakesAStringOfAnything) {
  EXPECT_EQ(Eval("${{ quote(true) }}"), "true");
  EXPECT_EQ(Eval("${{ quote(42) }}"), "42");
  EXPECT_EQ(Eval("${{ quote(obj) }}"), "{\"foo\":\"bar\"}");
  EXPECT_EQ(Eval("${{ quote('foo') }}"), "foo");
  EXPECT_EQ(Eval("${{ unsafeQuote('foo') }}"), "\"foo\"");
  // One trailing newline (a YAML block scalar's) is kept on a string.
  EXPECT_EQ(Eval("${{ quote(obj) }}\n"), "{\"foo\":\"bar\"}\n");
  EXPECT_EQ(Eval("${{ quote(42) }}\n"), "42\n");
  EXPECT_EQ(Eval("${{ 42 }}\n"), 42);
  EXPECT_EQ(Eval("${{ obj }}\n"), Json({{"foo", "bar"}}));
  Json pretty = Eval("${{ asJSON(obj) }}");
  ASSERT_TRUE(pretty.is_string());
  EXPECT_EQ(Json::parse(pretty.get<std::string>()), Json({{"foo", "bar"}}));
  EXPECT_EQ(pretty.get<std::string>().back(), '\n');
}

TEST(Template, DelimitersAndTheirErrors) {
  auto unclosed = EvaluateTemplate("${{ aString ", Env());
  ASSERT_FALSE(unclosed);
  EXPECT_NE(unclosed.error().message.find("unclosed expression"), std::string::npos);
  // "}}" inside ends the expression early; ${% %} is the way around it.
  EXPECT_FALSE(EvaluateTemplate("${{ '{{.domain}}' }}", Env()));
  EXPECT_EQ(Eval("${% '{{.domain}}' %}"), "{{.domain}}");
  EXPECT_EQ(Eval("foo ${{ aString }} and ${% 'bar' %}"), "foo hello and bar");
  auto unknown = EvaluateTemplate("${{ ctx.stag + nosuch }}", Env());
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("${{ ctx.stag + nosuch }}"), std::string::npos)
      << unknown.error().message;
}

TEST(Template, AConfigIsEvaluatedValueByValueWithTheFieldInErrors) {
  Json config = Json::parse(R"({"apps": [{"name": "${{ ctx.project }}-${{ ctx.stage }}",
      "sources": [{"desiredRevision": "${{ anInt }}"}]}], "${{ aString }}": "key kept"})");
  auto out = EvaluateConfig(config, Env());
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ((*out)["apps"][0]["name"], "kargo-demo-test");
  EXPECT_EQ((*out)["apps"][0]["sources"][0]["desiredRevision"], 42);
  EXPECT_EQ((*out)["${{ aString }}"], "key kept");
  Json bad = Json::parse(R"({"apps": [{"name": "${{ nosuch }}"}]})");
  auto err = EvaluateConfig(bad, Env());
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().message.rfind("config.apps[0].name: ", 0), 0u) << err.error().message;
}

TEST(Template, HostFunctionsComeWithTheEnvironment) {
  TemplateEnv env = Env();
  env.functions["commitFrom"] = [](const std::vector<rollout::Value>& args) -> Result<Json> {
    if (args.size() != 1) return Fail("one argument");
    return Json{{"ID", "abc123"}, {"RepoURL", args[0]}};
  };
  auto v = EvaluateTemplate("${{ commitFrom('https://example.com/a').ID }}", env);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(*v, "abc123");
}

TEST(Template, GoQuoteEscapesAsGoDoes) {
  EXPECT_EQ(GoQuote("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
  EXPECT_EQ(GoQuote(std::string("\x01", 1)), "\"\\x01\"");
}

}  // namespace
}  // namespace strake::delivery
