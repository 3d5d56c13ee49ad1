// The condition language of Argo Rollouts analysis (successCondition,
// failureCondition): the subset of expr-lang that Argo documents and users
// write, evaluated safely.
//
// An expression is compiled once (Compile) and evaluated many times (Eval)
// against variables, normally just `result`, the provider's measurement.
// Values are JSON: null, bool, integer, float, string, array, object.
//
// Supported: literals (numbers, 'single' and "double" strings, true, false,
// nil, [arrays]); variables; member access `a.b`, index `a[0]` (negative
// counts from the end), `a["k"]`; unary `-`, `+`, `!`, `not`; `**` and `^`;
// `* / %`; `+ -` (also string and array concatenation); `< <= > >=`;
// `== !=`; `in`, `not in`, `contains`, `startsWith`, `endsWith`, `matches`;
// `&& and`; `|| or`; `?:`; `??` (nil coalescing). `matches` takes RE2
// syntax (Go's regexp, as expr-lang does) and runs in linear time; a literal
// pattern is compiled by Compile, so a bad one is a compile error. Functions: len, abs, int,
// float, string, isNaN, isInf, isNil, asInt, asFloat, default, all, any,
// none, one, filter, map and count with a `#` element predicate
// (`all(result, # > 0.9)`; `.name` is `#.name` in one, as expr-lang
// writes `{.name == 'x'}`), min, max, sum, avg.
//
// Semantics follow expr-lang: `/` always yields a float, `&&`/`||`
// short-circuit and need booleans, comparing a number with a string is an
// error, an index out of range is an error, a member of nil is nil only
// through `?.`.
//
// Limits: 4096 characters of source, nesting depth 64, and 100,000
// evaluation steps (regex matching counts its subject's length), so no
// condition can hang the analysis controller. Every error names the column.
//
// A caller may add functions of its own (host functions: Kargo's
// commitFrom, quote): their names are given to Compile, which then accepts
// calls to them, and their bodies to Eval; each gets its evaluated
// arguments.
//
// Thread safety: a compiled Expr is immutable and may be evaluated from any
// number of threads at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::rollout {

using Value = nlohmann::json;

struct ExprNode;

using HostFunction = std::function<Result<Value>(const std::vector<Value>& args)>;
using HostFunctions = std::map<std::string, HostFunction, std::less<>>;

class Expr {
 public:
  static constexpr size_t kMaxSource = 4096;
  static constexpr int kMaxDepth = 64;
  static constexpr int64_t kMaxSteps = 100'000;

  // Parses `source`; the error names the column ("col 7: ..."). `host`:
  // the names of host functions it may call besides the built-in ones.
  static Result<Expr> Compile(std::string_view source, const std::set<std::string>& host = {});

  // Evaluates with `vars` (name -> value) and the host functions `host`
  // (a call to one that is missing is an error).
  [[nodiscard]] Result<Value> Eval(const std::map<std::string, Value>& vars,
                                   const HostFunctions* host = nullptr) const;

  // Evaluates and requires a boolean, as Argo does for conditions.
  [[nodiscard]] Result<bool> EvalBool(const std::map<std::string, Value>& vars) const;

  // Why the boolean expression has the value it has, with the values its
  // comparisons saw, for a person reading a denial: `coverage >= 80` that
  // is false says "78.3 < 80"; `a && b` the first false operand's reason;
  // `!x` x's reason; `x endsWith 'latest'` that is false `"v1" not
  // endsWith "latest"`; anything else "f(...) is false". An evaluation
  // error is the error.
  [[nodiscard]] Result<std::string> Explain(const std::map<std::string, Value>& vars,
                                            const HostFunctions* host = nullptr) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::shared_ptr<const ExprNode> root_;  // shared: copies of an Expr share the immutable tree
};

}  // namespace strake::rollout
