// Substitution of Tekton variables: $(params.x), $(params.x[*]),
// $(params.x[0]), $(params.obj.key), $(params["x.y"]), $(tasks.t.results.r),
// $(context.pipelineRun.name), $(workspaces.w.path), $(results.r.path) ...
//
// A Vars holds the values known at one point (a pipeline task being
// started, a step being run) by their full reference text without "$()".
// Only the variable roots Tekton defines are touched; anything else, like a
// shell's $(date) in a script, is left as written, as is an unknown variable
// of a known root (validation reports those before a run starts). Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/tekton.h"

namespace strake::pipeline {

using model::ParamValue;

class Vars {
 public:
  // Defines a string, array or object value under `name`, e.g. "params.x" or
  // "tasks.build.results.digest": params.x, params.x[*], params.x[1] and
  // params.x.key all resolve from it.
  void Set(const std::string& name, const ParamValue& value);
  void SetString(const std::string& name, std::string value) {
    Set(name, ParamValue::String(std::move(value)));
  }
  const ParamValue* Find(const std::string& name) const;
  // True if a reference's base resolves, as a whole value or as a key of an object.
  bool Has(const std::string& base) const;
  bool empty() const { return values_.empty(); }

 private:
  std::map<std::string, ParamValue, std::less<>> values_;
};

// One reference found in text.
struct Reference {
  std::string expr;  // inside "$(...)", e.g. "params.x[*]"
  std::string base;  // normalised name, e.g. "params.x"
  enum class Index { kNone, kStar, kNumber, kKey } index = Index::kNone;
  size_t number = 0;
  std::string key;
};

// Every $(...) reference with a Tekton root in s.
std::vector<Reference> FindReferences(std::string_view s);

// `s` with each reference to a base in `renames` (or to a key of it)
// made a reference to the name it maps to, index and key kept:
// {"params.p": "steps.s.results.r"} makes $(params.p[0]) $(steps.s.results.r[0]).
std::string RenameReferences(std::string_view s, const std::map<std::string, std::string>& renames);

// Substitutes into a string. An array or object used whole in a string is an
// error, as in Tekton; so is an index past the end.
Result<std::string> Substitute(std::string_view s, const Vars& vars);

// Substitutes into a list: an element that is exactly "$(x[*])" of an array
// (or a whole array "$(x)") expands into that array's elements.
Result<std::vector<std::string>> SubstituteList(const std::vector<std::string>& items,
                                                const Vars& vars);

// Substitutes into a param value of any type.
Result<ParamValue> SubstituteValue(const ParamValue& v, const Vars& vars);

}  // namespace strake::pipeline
