// Go's text/template language, as Argo CD Notifications (and Argo Rollouts'
// notifications) write message templates, with the Sprig functions those
// templates use: a template is parsed once (Parse) and executed many times
// (Execute) over JSON data, the dot.
//
// Language (https://pkg.go.dev/text/template): text and {{actions}}, trim
// markers `{{- ` and ` -}}`, comments `{{/* */}}`; fields `.a.b` of objects,
// `.`, `$`, variables (`$x := p`, `$x = p`, `$x.f`); pipelines with `|` and
// parentheses, `(p).field`; `if`/`else if`/`else`, `range` (arrays, objects
// in sorted key order, integers; `$i, $e :=`; `{{else}}`; `break`,
// `continue`), `with`/`else with`, `define`, `template`, `block`; literals
// "…" (Go escapes), `raw`, 'c' (a number), integers (0x, 0o, 0b, _), decimal
// floats, true, false, nil (no complex numbers, no hexadecimal floats).
//
// Semantics are Go's over map[string]interface{} data (what Argo CD passes):
// a missing key is "no value", printed `<no value>` and false; a field of no
// value is no value; a field of a present null is an error ("nil pointer
// evaluating interface {}.b"); a field of anything else but an object is an
// error. Truth: false, 0, null, "", [] and {} are false. Printing is fmt's
// %v: floats shortest ("78.3", "1e+06"), arrays `[a b]`, objects `map[k:v]`.
// Two deliberate departures: numbers compare by value across integer and
// float (`eq 1 1.0` is true; Go calls that incompatible), and functions that
// take an int accept any integer (Go wants exactly int, not int64).
//
// Functions. Go's: and, or (short-circuit, yield the deciding operand), not,
// len, index, slice, print, printf, println, eq (eq a b c: a==b or a==c), ne,
// lt, le, gt, ge, html, js, urlquery, call. Sprig's (v3 semantics): upper,
// lower, title, trim, trimAll, trimPrefix, trimSuffix, replace, contains,
// hasPrefix, hasSuffix, quote, squote, repeat, substr, trunc, abbrev,
// nospace, indent, nindent, cat, join, split, splitList, toString,
// toStrings, toJson, toPrettyJson, toRawJson, b64enc, b64dec, sha256sum,
// sha1sum, default, empty, coalesce, ternary, list, dict, get, hasKey, keys
// (sorted, unlike Sprig's map order), first, last, has (by value: 4 and 4.0
// are the same), add, add1, sub, mul, div, mod, max, min, int, int64,
// float64, atoi; upper, lower, title, trim and nospace know ASCII letters and
// spaces only. Not provided: now, date and the other clock functions (a
// pure core reads no clock: a caller passes one as a host function), env and
// expandenv (notifications-engine removes them), random and crypto-key
// functions. The host's functions (GoTemplateFuncs) come first: a plain name
// is called like any function, a dotted one ("time.Parse") is what
// `call .time.Parse x` (or `call $.time.Parse x`) calls, as Argo CD exposes
// its helpers as fields of the data. Unknown names, including an unknown
// `call` target, are parse errors.
//
// Limits, so that no template can hang or exhaust a controller: kMaxText
// bytes of template, kMaxOutput bytes of output (and of any one string a
// function makes), kMaxSteps evaluation steps per Execute (an action, a range
// iteration; what functions make counts a step per element and per 64
// bytes), kMaxCallDepth nested {{template}} calls, kMaxParseDepth nesting of
// blocks and parentheses in the text, kMaxExecDepth nesting of blocks and
// calls at execution.
//
// Errors name the template, the line and the 1-based byte column, as Go's do
// (Go's columns are 0-based): "template: app-deployed:3:14: unexpected "}" in
// operand"; an execution error adds the template being executed and the
// action: "template: x:1:5: executing "x" at <.a.b>: nil pointer evaluating
// interface {}.b". Limits fail with ErrorCode::kTooLarge, the rest with
// kInvalid (a host function's error keeps its code).
//
// Thread safety: a parsed GoTemplate is immutable; Execute may run from any
// number of threads at once (host functions must allow that too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/node.h"

namespace strake::model {

// A host function: its arguments evaluated (no value is null); an error
// aborts the execution.
using GoTemplateFunc = std::function<Result<Json>(const std::vector<Json>& args)>;
// Functions beside the builtins and Sprig's, by name: "upper" or "time.Parse".
using GoTemplateFuncs = std::map<std::string, GoTemplateFunc>;

namespace go_template_internal {
struct Impl;
}  // namespace go_template_internal

class GoTemplate {
 public:
  static constexpr size_t kMaxText = size_t{256} * 1024;
  static constexpr size_t kMaxOutput = size_t{1024} * 1024;
  static constexpr int64_t kMaxSteps = 1'000'000;
  static constexpr int kMaxCallDepth = 100;
  static constexpr int kMaxParseDepth = 100;
  static constexpr int kMaxExecDepth = 1000;

  // Parses `text`; `name` names the template in errors. `funcs` are copied.
  static Result<GoTemplate> Parse(std::string_view text, const std::string& name,
                                  const GoTemplateFuncs& funcs = {});

  // Executes over `data` (normally an object: the dot and `$`).
  [[nodiscard]] Result<std::string> Execute(const Json& data) const;

  const std::string& name() const;

 private:
  std::shared_ptr<const go_template_internal::Impl> impl_;  // shared: copies share the tree
};

}  // namespace strake::model
