// rollout/expr: Argo Rollouts' condition language (successCondition,
// failureCondition), compiled and evaluated against a fixed set of
// variables of every JSON type, as the analysis controller evaluates a
// measurement. The language's own limits (source length, depth, steps)
// bound each run.
//
// Properties beyond memory safety: EvalBool agrees with Eval; a compile
// error of a valid UTF-8 condition is valid UTF-8 (the API answers it in a
// JSON body).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "check.h"
#include "rollout/expr.h"

namespace {

using strake::fuzz::Check;
using strake::fuzz::JsonSafe;
using strake::rollout::Value;

const std::vector<std::map<std::string, Value>>& Variables() {
  static const auto* vars = new std::vector<std::map<std::string, Value>>{
      {{"result", 0.97}},
      {{"result", 3}},
      {{"result", "ok"}},
      {{"result", nullptr}},
      {{"result", true}},
      {{"result",
        Value::array({0.9, 1, -2, "a", nullptr, Value::array({1, 2}), Value::object({{"k", 2}})})}},
      {{"result", Value::object({{"a", 1},
                                 {"b", Value::array({1, 2, 3})},
                                 {"s", "text"},
                                 {"n", nullptr},
                                 {"m", Value::object({{"x", 1.5}})}})},
       {"args", Value::object({{"service", "web"}, {"threshold", "0.9"}})}},
  };
  return *vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string source(strake::fuzz::AsText(data, size));
  auto expr = strake::rollout::Expr::Compile(source);
  if (!expr) {
    if (JsonSafe(source)) Check(JsonSafe(expr.error().message), "a compile error is valid UTF-8");
    return 0;
  }
  for (const auto& vars : Variables()) {
    auto v = expr->Eval(vars);
    auto b = expr->EvalBool(vars);
    if (v && v->is_boolean()) {
      Check(b.has_value() && *b == v->get<bool>(), "EvalBool agrees with Eval");
    } else {
      Check(!b.has_value(), "EvalBool fails when Eval gives no boolean");
    }
  }
  return 0;
}
