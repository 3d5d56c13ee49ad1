#include "rollout/expr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace strake::rollout {
namespace {

using Vars = std::map<std::string, Value>;

Value EvalOk(std::string_view src, const Vars& vars = {}) {
  auto e = Expr::Compile(src);
  EXPECT_TRUE(e.has_value()) << src << ": " << (e ? "" : e.error().message);
  if (!e) return {};
  auto v = e->Eval(vars);
  EXPECT_TRUE(v.has_value()) << src << ": " << (v ? "" : v.error().message);
  return v ? *v : Value();
}

std::string EvalError(std::string_view src, const Vars& vars = {}) {
  auto e = Expr::Compile(src);
  if (!e) return e.error().message;
  auto v = e->Eval(vars);
  EXPECT_FALSE(v.has_value()) << src << " evaluated to " << (v ? v->dump() : "");
  return v ? "" : v.error().message;
}

TEST(ExprTest, PrometheusVectorConditions) {
  Vars vars{{"result", Value::array({0.97})}};
  EXPECT_EQ(EvalOk("result[0] >= 0.95", vars), true);
  EXPECT_EQ(EvalOk("result[0] < 0.95", vars), false);
  EXPECT_EQ(EvalOk("len(result) > 0 && result[0] >= 0.9", vars), true);
  EXPECT_EQ(EvalOk("result[-1] == 0.97", vars), true);
}

TEST(ExprTest, ScalarAndNaN) {
  Vars nan{{"result", std::numeric_limits<double>::quiet_NaN()}};
  EXPECT_EQ(EvalOk("isNaN(result)", nan), true);
  EXPECT_EQ(EvalOk("result >= 0.95", nan), false);
  EXPECT_EQ(EvalOk("isNaN(result) || result >= 0.95", nan), true);
  Vars inf{{"result", std::numeric_limits<double>::infinity()}};
  EXPECT_EQ(EvalOk("isInf(result)", inf), true);
}

TEST(ExprTest, ArithmeticFollowsExprLang) {
  EXPECT_EQ(EvalOk("1 + 2 * 3"), 7);
  EXPECT_EQ(EvalOk("(1 + 2) * 3"), 9);
  EXPECT_EQ(EvalOk("7 / 2"), 3.5);  // division always yields a float
  EXPECT_EQ(EvalOk("7 % 3"), 1);
  EXPECT_EQ(EvalOk("2 ** 10"), 1024.0);
  EXPECT_EQ(EvalOk("2 ^ 3 ^ 2"), 512.0);  // right associative
  EXPECT_EQ(EvalOk("-3 + 1"), -2);
  EXPECT_EQ(EvalOk("1.5e2"), 150.0);
  EXPECT_EQ(EvalOk("1_000"), 1000);
  EXPECT_EQ(EvalOk("'a' + \"b\""), "ab");
  EXPECT_EQ(EvalOk("1 == 1.0"), true);
}

TEST(ExprTest, LogicShortCircuitsAndNeedsBooleans) {
  // The right side would fail (index out of range) if it were evaluated.
  Vars empty{{"result", Value::array()}};
  EXPECT_EQ(EvalOk("len(result) > 0 && result[0] > 1", empty), false);
  EXPECT_EQ(EvalOk("len(result) == 0 or result[0] > 1", empty), true);
  EXPECT_EQ(EvalOk("not false"), true);
  EXPECT_EQ(EvalOk("!(1 > 2)"), true);
  EXPECT_EQ(EvalOk("true ? 1 : 2"), 1);
  EXPECT_EQ(EvalOk("1 > 2 ? 'a' : 'b'"), "b");
  EXPECT_NE(EvalError("1 && true").find("needs a bool"), std::string::npos);
}

TEST(ExprTest, MembersMapsAndMembership) {
  Vars web{{"result", Value::parse(R"({"ok": true, "rate": 0.99, "tags": ["a", "b"]})")}};
  EXPECT_EQ(EvalOk("result.ok == true && result.rate > 0.9", web), true);
  EXPECT_EQ(EvalOk("result['rate']", web), 0.99);
  EXPECT_EQ(EvalOk("result.missing", web), nullptr);
  EXPECT_EQ(EvalOk("result.missing ?? 5", web), 5);
  EXPECT_EQ(EvalOk("default(result.missing, 7)", web), 7);
  EXPECT_EQ(EvalOk("result.missing?.deeper", web), nullptr);
  EXPECT_EQ(EvalOk("'a' in result.tags", web), true);
  EXPECT_EQ(EvalOk("'z' not in result.tags", web), true);
  EXPECT_EQ(EvalOk("'ok' in result", web), true);
  EXPECT_EQ(EvalOk("3 in [1, 2, 3]"), true);
}

TEST(ExprTest, StringOperators) {
  Vars vars{{"result", "status-ok"}};
  EXPECT_EQ(EvalOk("result startsWith 'status'", vars), true);
  EXPECT_EQ(EvalOk("result endsWith 'ok'", vars), true);
  EXPECT_EQ(EvalOk("result contains '-'", vars), true);
  EXPECT_EQ(EvalOk("result matches '^s.*k$'", vars), true);
  EXPECT_EQ(EvalOk("len('héllo')"), 5);
  EXPECT_NE(EvalError("'x' matches '('").find("bad regular expression"), std::string::npos);
}

// std::regex backtracks: '(a*)*b' against 30 a's and a '!' took minutes
// (exponential). RE2 answers in microseconds; a hang shows as the ctest
// timeout, so there is no timed assertion here.
TEST(ExprTest, MatchesIsLinearTimeWithGoSyntax) {
  EXPECT_EQ(EvalOk("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' matches '(a*)*b'"), false);
  Vars vars{{"result", std::string(5000, 'a') + "!"}, {"pattern", "(a|aa)*(a|aa)*c"}};
  EXPECT_EQ(EvalOk("result matches '(a|a?)+$'", vars), true);
  EXPECT_EQ(EvalOk("result matches pattern", vars), false);          // compiled when evaluated
  EXPECT_EQ(EvalOk("'Status-OK' matches '(?i)^status-ok$'"), true);  // Go's flags
  EXPECT_EQ(EvalOk("'abc' matches 'b'"), true);  // unanchored, as Go's MatchString
  // A literal pattern is compiled with the expression: an error with its column.
  auto bad = Expr::Compile("result matches '(a'");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("col 16: bad regular expression \"(a\": ", 0), 0u)
      << bad.error().message;
  // Backreferences are not Go (nor RE2) syntax.
  EXPECT_FALSE(Expr::Compile(R"('aa' matches '(a)\\1')"));
  vars["pattern"] = "(";
  EXPECT_NE(EvalError("result matches pattern", vars).find("col 8: bad regular expression"),
            std::string::npos);
}

// Indexing a string takes one byte: "é"[0] is half a character, and
// showing it (in an error, in string()) threw nlohmann's invalid UTF-8
// error through the evaluator, past the analysis controller's judgement.
TEST(ExprTest, NoInputThrowsOutOfTheEvaluator) {
  auto half = Expr::Compile(R"("é"[0])");
  ASSERT_TRUE(half) << half.error().message;
  auto b = half->EvalBool({});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "condition \"\\\"é\\\"[0]\" must be a bool, got \"\xEF\xBF\xBD\"");
  EXPECT_EQ(EvalOk(R"(string("é"[0]))").get<std::string>(), "\xC3");  // the byte itself
  EXPECT_EQ(EvalOk(R"(string(["é"[0]]))"), "[\"\xEF\xBF\xBD\"]");
  EXPECT_EQ(EvalOk(R"("é"[0] == "x")"), false);
  EXPECT_NE(EvalError(R"("é"[0] > 1)").find("\xEF\xBF\xBD"), std::string::npos);
  Vars bad{{"result", Value::array({std::string("\xff\xfe"), 1})}};
  EXPECT_NE(EvalError("result[0] < 1", bad).find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_NE(EvalError("result && true", bad).find("needs a bool"), std::string::npos);
  EXPECT_TRUE(EvalOk("string(result) != ''", bad).is_boolean());
  EXPECT_FALSE(Expr::Compile("result")->EvalBool(bad));
}

TEST(ExprTest, BuiltinFunctions) {
  Vars vars{{"result", Value::array({0.5, 0.9, 0.99})}};
  EXPECT_EQ(EvalOk("all(result, # > 0.4)", vars), true);
  EXPECT_EQ(EvalOk("all(result, {# > 0.6})", vars), false);
  EXPECT_EQ(EvalOk("any(result, # > 0.95)", vars), true);
  EXPECT_EQ(EvalOk("none(result, # > 1)", vars), true);
  EXPECT_EQ(EvalOk("one(result, # > 0.95)", vars), true);
  EXPECT_EQ(EvalOk("count(result, # > 0.8)", vars), 2);
  EXPECT_EQ(EvalOk("len(filter(result, # > 0.8))", vars), 2);
  // `.name` in a predicate is `#.name`; outside one it is no expression.
  Value objs = Value::array({{{"n", "a"}}, {{"n", "b"}}});
  EXPECT_EQ(EvalOk("any(objs, {.n == 'b'}) && none(objs, .n == 'c')", {{"objs", objs}}), true);
  EXPECT_NE(EvalError(".n == 'b'", {{"objs", objs}}).find("unexpected"), std::string::npos);
  EXPECT_EQ(EvalOk("map(result, # * 2)[2]", vars), 1.98);
  EXPECT_EQ(EvalOk("min(result)", vars), 0.5);
  EXPECT_EQ(EvalOk("max(1, 5, 3)"), 5);
  EXPECT_EQ(EvalOk("sum([1, 2, 3])"), 6);
  EXPECT_EQ(EvalOk("avg([1, 2])"), 1.5);
  EXPECT_EQ(EvalOk("asInt('42') + 1"), 43);
  EXPECT_EQ(EvalOk("asFloat('0.5') * 2"), 1.0);
  EXPECT_EQ(EvalOk("int(3.9)"), 3);
  EXPECT_EQ(EvalOk("float(3)"), 3.0);
  EXPECT_EQ(EvalOk("abs(-2)"), 2);
  EXPECT_EQ(EvalOk("isNil(nil)"), true);
  EXPECT_EQ(EvalOk("string(5)"), "5");
}

TEST(ExprTest, CompileErrorsNameTheColumn) {
  auto bad = Expr::Compile("result[0] >= ");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "col 14: unexpected end of expression");
  auto typo = Expr::Compile("lenn(result) > 0");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message, "col 1: unknown function \"lenn\" (did you mean \"len\"?)");
  auto paren = Expr::Compile("(1 + 2");
  ASSERT_FALSE(paren);
  EXPECT_EQ(paren.error().message, "col 7: expected \")\" but found end of expression");
  EXPECT_FALSE(Expr::Compile("'open"));
  EXPECT_FALSE(Expr::Compile("1 @ 2"));
  EXPECT_FALSE(Expr::Compile("   "));
  EXPECT_FALSE(Expr::Compile("99999999999999999999"));
}

// Found by fuzz/fuzz_expr: a character outside ASCII (unexpected, or after
// a backslash in a string) was reported by its first byte, a message that
// is not UTF-8, and the API's 422 for the AnalysisTemplate became a 500
// (the JSON body threw). The whole character is named.
TEST(ExprTest, AnUnexpectedCharacterIsNamedWhole) {
  auto ge = Expr::Compile("result \xE2\x89\xA5 0.95");
  ASSERT_FALSE(ge);
  EXPECT_EQ(ge.error().message, "col 8: unexpected character \"\xE2\x89\xA5\"");
  auto escape = Expr::Compile("'\\\xC3\xA9'");
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error().message, "col 2: unknown escape \\\xC3\xA9 in string");
  auto raw = Expr::Compile("result \xFF");
  ASSERT_FALSE(raw);
  EXPECT_EQ(raw.error().message, "col 8: unexpected character \"\xEF\xBF\xBD\"");
}

TEST(ExprTest, EvaluationErrorsAreClear) {
  Vars vars{{"result", Value::array({1})}};
  EXPECT_EQ(EvalError("resutl[0] > 0", vars),
            "col 1: unknown name \"resutl\" (did you mean \"result\"?)");
  EXPECT_EQ(EvalError("result[3]", vars), "col 7: index 3 out of range (length 1)");
  EXPECT_EQ(EvalError("result > 1", vars), "col 8: cannot compare array > int ([1] > 1)");
  EXPECT_EQ(EvalError("'a' < 1"), "col 5: cannot compare string < int (\"a\" < 1)");
  EXPECT_EQ(EvalError("9223372036854775807 + 1"),
            "col 21: integer overflow in 9223372036854775807 + 1");
  EXPECT_EQ(EvalError("1 % 0"), "col 3: integer modulo by zero");
  EXPECT_EQ(EvalError("len(1)"), "col 1: len() needs a string, array or map, got int");
  EXPECT_EQ(EvalError("asInt('x')"), "col 1: asInt(): \"x\" is not an integer");
  EXPECT_EQ(EvalError("isNaN(1, 2)"), "col 1: isNaN() takes 1 argument, got 2");
  auto e = Expr::Compile("result");
  ASSERT_TRUE(e);
  auto b = e->EvalBool(vars);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, "condition \"result\" must be a bool, got [1]");
}

TEST(ExprTest, LimitsStopHostileExpressions) {
  EXPECT_FALSE(Expr::Compile(std::string(Expr::kMaxSource + 1, '1')));
  std::string deep = std::string(100, '(') + "1" + std::string(100, ')');
  auto d = Expr::Compile(deep);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("nested deeper than 64"), std::string::npos);
  // Nested predicates over a large array exceed the step budget instead of
  // running for minutes.
  Value big = Value::array();
  for (int i = 0; i < 1000; ++i) big.push_back(i);
  Vars vars{{"result", big}};
  std::string err = EvalError("all(result, all(result, # >= 0))", vars);
  EXPECT_NE(err.find("exceeded 100000 steps"), std::string::npos) << err;
}

TEST(ExprTest, CompiledExpressionIsReusable) {
  auto e = Expr::Compile("result[0] >= 0.95");
  ASSERT_TRUE(e);
  Expr copy = *e;
  EXPECT_EQ(copy.EvalBool({{"result", Value::array({0.99})}}), true);
  EXPECT_EQ(e->EvalBool({{"result", Value::array({0.5})}}), false);
}

TEST(ExprTest, HostFunctionsAreCalledWithTheirEvaluatedArguments) {
  HostFunctions host = {{"twice", [](const std::vector<Value>& args) -> Result<Value> {
                           if (args.size() != 1 || !args[0].is_number_integer())
                             return Fail("takes one integer");
                           return Value(args[0].get<int64_t>() * 2);
                         }}};
  // Unknown to Compile unless named: a typo is still a compile error.
  EXPECT_FALSE(Expr::Compile("twice(2)"));
  auto e = Expr::Compile("twice(x + 1) == 8", {"twice"});
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(*e->Eval({{"x", 3}}, &host), Value(true));
  auto bad = Expr::Compile("twice('a')", {"twice"});
  ASSERT_TRUE(bad);
  auto r = bad->Eval({}, &host);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "col 1: twice(): takes one integer");
  // Compiled with a host name but evaluated without it: an error, not a crash.
  auto missing = e->Eval({{"x", 3}});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("function \"twice\" is not available here"),
            std::string::npos);
}

TEST(ExprTest, ExplainSaysWhyWithTheValuesTheComparisonsSaw) {
  auto explain = [](const std::string& source, const std::map<std::string, Value>& vars) {
    auto e = Expr::Compile(source);
    EXPECT_TRUE(e) << e.error().message;
    auto why = e->Explain(vars);
    EXPECT_TRUE(why) << why.error().message;
    return why ? *why : std::string();
  };
  EXPECT_EQ(explain("c >= 80", {{"c", 78.3}}), "78.3 < 80");
  EXPECT_EQ(explain("c >= 80", {{"c", 81}}), "81 >= 80");
  EXPECT_EQ(explain("!(c == 'x')", {{"c", "x"}}), "\"x\" == \"x\"");
  EXPECT_EQ(explain("a > 1 && b > 1", {{"a", 2}, {"b", 0}}), "0 <= 1");
  EXPECT_EQ(explain("a > 1 || b > 1", {{"a", 0}, {"b", 1}}), "0 <= 1 and 1 <= 1");
  EXPECT_EQ(explain("t endsWith 'latest'", {{"t", "v1"}}), "\"v1\" not endsWith \"latest\"");
  EXPECT_EQ(explain("x in [1, 2]", {{"x", 3}}), "3 not in [1,2]");
  EXPECT_EQ(explain("ok", {{"ok", false}}), "ok is false");
  EXPECT_EQ(explain("x", {{"x", 3}}), "\"x\" is 3");
  auto e = Expr::Compile("missing > 1");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->Explain({}));
}

TEST(ExprTest, APredicateIsExplainedByTheElementThatDecidedIt) {
  auto explain = [](const std::string& source, const Value& xs) {
    auto e = Expr::Compile(source);
    EXPECT_TRUE(e) << e.error().message;
    auto why = e->Explain({{"xs", xs}});
    EXPECT_TRUE(why) << why.error().message;
    return why ? *why : std::string();
  };
  const Value xs = Value::array({{{"n", "a"}, {"v", 1}}, {{"n", "b"}, {"v", 7}}});
  EXPECT_EQ(explain("none(xs, {.v > 5})", xs),
            "none(xs, {.v > 5}) is false: [1] {\"n\":\"b\",\"v\":7} matches");
  EXPECT_EQ(explain("all(xs, .v < 5)", xs),
            "all(xs, .v < 5) is false: [1] {\"n\":\"b\",\"v\":7} does not match");
  EXPECT_EQ(explain("any(xs, .n == 'a')", xs),
            "any(xs, .n == 'a') is true: [0] {\"n\":\"a\",\"v\":1} matches");
  EXPECT_EQ(explain("any(xs, .v > 9)", xs), "any(xs, .v > 9) is false");
  // A long element is cut, never inside a character.
  Value big = Value::array({{{"n", std::string(400, 'x')}, {"u", "é"}}});
  std::string why = explain("none(xs, true)", big);
  EXPECT_LT(why.size(), 400u);
  EXPECT_TRUE(why.ends_with("… matches")) << why;
  // Each pass has its own budget: a predicate over many elements that
  // evaluates within it is explained, not refused.
  Value many = Value::array();
  for (int i = 0; i < 30'000; ++i) many.push_back(i);
  EXPECT_EQ(explain("all(xs, # < 29999)", many),
            "all(xs, # < 29999) is false: [29999] 29999 does not match");
}

}  // namespace
}  // namespace strake::rollout
