// Kargo's expression templates (pkg/expressions/json_templates.go at
// akuity/kargo 1c764767): a promotion step's config, and vars, written with
// `${{ expr }}` (or `${% expr %}` when the expression holds "}}"), evaluated
// with strake's expr-lang (rollout/expr.h) against Kargo's variables and
// functions.
//
// A string with no delimiter is kept as written ("42" stays a string). In
// one that has some, each expression is replaced by its result (a string
// as it is, anything else as JSON) and the whole is then coerced as Kargo
// coerces it: one trailing newline set aside; wrapped in double quotes ->
// the string inside (what quote() relies on); else a number, else a
// boolean (Go's ParseFloat and ParseBool), else any JSON value, else the
// string. There is no escape: "${{" is written `${{ "${{" }}`.
//
// Functions always there: quote, unsafeQuote, asJSON (Kargo's). Others
// (commitFrom, success, ...) come with the environment.
//
// Pure; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/core.h"
#include "model/kargo.h"
#include "rollout/expr.h"

namespace strake::delivery {

struct TemplateEnv {
  std::map<std::string, rollout::Value> vars;  // ctx, vars, outputs, ...
  rollout::HostFunctions functions;            // beside quote, unsafeQuote, asJSON
};

// One string, evaluated and coerced.
Result<model::Json> EvaluateTemplate(std::string_view text, const TemplateEnv& env);

// Every string value of `config` (objects and arrays, recursively; keys
// are not evaluated), as Kargo's EvaluateJSONTemplate; an error names the
// field path ("config.apps[0].name: ...").
Result<model::Json> EvaluateConfig(const model::Json& config, const TemplateEnv& env);

// `vars` in order, each a template that sees the ones before (as
// env.vars["vars"]), added to `out`; env.vars["vars"] is the result after.
// An error names the variable ("vars.repo: ...").
Result<model::Json> EvaluateVars(const std::vector<model::ExpressionVariable>& vars,
                                 TemplateEnv& env, model::Json out);

// Kargo's commitFrom(repoURL[, origin]) over Freight `commits` (Kargo's
// JSON): the commit of that repository (URLs compared as Kargo normalises
// them), with Go's field names (.ID, .RepoURL, .Branch, .Tag, .Message,
// .Author, .Committer).
rollout::HostFunction CommitFrom(model::Json commits);

// Compiles every expression of `text` (what EvaluateTemplate would run)
// with the functions always there and `functions`; the first error.
Status CheckTemplate(std::string_view text, const std::set<std::string>& functions);

// Go's strconv.ParseBool: "1", "t", "T", "TRUE", "true", "True" and their
// false twins; nullopt for anything else.
std::optional<bool> GoParseBool(std::string_view s);

// Go's %q of a string (what quote() gives a string).
std::string GoQuote(std::string_view s);

}  // namespace strake::delivery
