// Regex: a regular expression from a user (an analysis condition's
// `matches`, a header route, a kustomize target), matched in time linear in
// the subject, whatever the pattern.
//
// The syntax is RE2's, which is Go's regexp: what Argo Rollouts (header
// routes, expr-lang's `matches`) and kustomize (target names and kinds)
// accept. There are no backreferences or lookaround, so no pattern can
// backtrack: `(a*)*b` against "aaaa…!" takes microseconds, where
// std::regex takes exponential time (and recursion deep enough to overflow
// the stack on a long subject).
//
// Compile once, match many times: a Regex is immutable once compiled, cheap
// to copy (copies share the compiled program) and may be matched from any
// number of threads at once. Matching allocates nothing in the common case.
// Compilation fails (kInvalid) with RE2's reason, or when the program
// would take more than kMaxProgramBytes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace re2 {
class RE2;
}

namespace strake {

class Regex {
 public:
  // RE2's default budget for one compiled pattern (and its DFA caches).
  static constexpr size_t kMaxProgramBytes = size_t{8} << 20;

  static Result<Regex> Compile(std::string_view pattern);

  // Whether the whole of `s` matches (as if the pattern were ^(?:…)$).
  bool FullMatch(std::string_view s) const;
  // Whether some part of `s` matches (Go's MatchString).
  bool PartialMatch(std::string_view s) const;

  const std::string& pattern() const;

 private:
  std::shared_ptr<const re2::RE2> re_;  // shared: immutable, and copies are cheap
};

}  // namespace strake
