// The part of CEL that Tekton's `when: [{cel: "..."}]` examples use, with
// references bound as values.
//
// Tekton substitutes `$(params.x)` and `$(tasks.t.results.r)` into the CEL
// text and then compiles it, so a value holding a quote changes the
// expression. Here a reference may stand only inside a string literal
// ('$(params.path)' == 'README.md'), and it is replaced inside that literal's
// value after the expression is parsed: whatever the value holds, it stays
// one string. Supported: string, integer and boolean literals, lists,
// == != < <= > >=, `in`, && || !, parentheses. Anything else is an error
// naming what is not supported.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace strake::pipeline {

// Evaluates `expr` to a boolean. `substitute` replaces the references in a
// string literal's text (it is called with the literal's unescaped text).
Result<bool> EvalCel(std::string_view expr,
                     const std::function<Result<std::string>(const std::string&)>& substitute);

// Checks that `expr` parses (references are left as they are).
Status CheckCel(std::string_view expr);

}  // namespace strake::pipeline
