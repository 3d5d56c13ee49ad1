// Semantic versions and version constraints as Kargo's SemVer selection uses
// them: Kargo (pkg/controller/semver/parser.go, pkg/controller/git/commit/
// semver_selector.go, pkg/image/semver_selector.go) parses tags and checks
// constraints with Masterminds/semver v3 (v3.5.0 in Kargo's go.mod), and a
// Warehouse must pick the same tag here as there, so this reproduces
// Masterminds' behaviour, quirks included, rather than an ideal SemVer.
//
// Versions: "[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+METADATA]", numbers of
// ASCII digits that fit in uint64, prerelease and metadata dot-separated
// non-empty identifiers of [0-9A-Za-z-], a numeric prerelease identifier
// without a leading zero. Strict (Kargo's default, strictSemvers) also wants
// MINOR and PATCH and no leading zeros in the three numbers; non-strict takes
// "1" and "1.2" as 1.0.0 and 1.2.0 and "01.02.03" as 1.2.3.
//
// Precedence is SemVer 2.0.0's: numbers, then a release above its
// prereleases, identifiers left to right (numeric below alphanumeric, numbers
// by value, others byte-wise, a prefix below the longer list); metadata is
// ignored. Masterminds' one departure: a numeric identifier too big for
// uint64 compares as alphanumeric.
//
// Constraints: Masterminds' syntax, see SemVerConstraint below.
//
// Pure functions on values; a parsed SemVerConstraint is immutable and may be
// used from any number of threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::delivery {

struct SemVer {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::vector<std::string> prerelease;  // identifiers; empty for a release
  std::string metadata;                 // after '+', without it
  std::string original;                 // the text parsed, "v" and all
};

// The version `s` spells, or nullopt if it is not one (Kargo's
// semver.Parse(s, strict)). `original` keeps `s` as given.
std::optional<SemVer> ParseSemVer(std::string_view s, bool strict);

// <0, 0 or >0 as `a` has lower, equal or higher precedence than `b`.
int CompareSemVer(const SemVer& a, const SemVer& b);

// The canonical form, without "v": "1.2.0-rc.1+build.5" for "v1.2-rc.1+build.5".
std::string SemVerString(const SemVer& v);

// Kargo's selection order, a strict weak ordering for std::sort: higher
// precedence first, and between equal precedence (1.0 and 1.0.0, or 1.0.0+a
// and 1.0.0+b) the greater `original`, byte-wise, first ("v1.0.0" before
// "1.0.0" before "1.0"), so the choice does not depend on listing order.
// Kargo: pkg/controller/git/commit/semver_selector.go and
// pkg/image/semver_selector.go sort, strings.Compare(rhs.Original(),
// lhs.Original()) on a tie.
bool SelectedBefore(const SemVer& a, const SemVer& b);

// A version constraint, Masterminds v3 (constraints.go) to the letter:
//
//   a || b          either alternative; a, b are AND groups
//   a b / a, b      both (space or comma separated comparisons)
//   1.2 - 1.4.5     hyphen range, rewritten to ">= 1.2, <= 1.4.5" first
//                   (the spaces around '-' are required)
//   OP VERSION      OP is one of = != > < >= => <= =< ~ ~> ^ or nothing
//                   (nothing and = mean "equal", or "tilde" for a wildcard)
//
// VERSION is "[v]M[.m[.p]][-pre][+meta]"; any of M, m, p may be a wildcard
// x, X or *, and a missing or wildcard part is "dirty": everything after the
// first dirty part is ignored. Meaning (c the version with dirty parts 0):
//   = / none   c exact (metadata ignored); when dirty, as ~
//   !=         not c; "!=1.2" is "not 1.2.*", "!=1" is "not 1.*"
//   <  >=      by precedence against c
//   >          by precedence, but when dirty by parts: ">1" wants a major
//              above 1, ">1.2" a major above 1 or major 1 and minor above 2
//   <=         by precedence, but when dirty by parts: "<=1" wants a major
//              of at most 1, "<=1.2" below 1 or 1 and a minor of at most 2
//   ~          ~1.2.3 >=1.2.3 <1.3.0, ~1.2 >=1.2.0 <1.3.0, ~1 >=1.0.0 <2.0.0,
//              ~0.0.0 and ~* anything >=0.0.0
//   ^          ^1.2.3 >=1.2.3 <2.0.0, ^1.2 and ^1 likewise <2.0.0,
//              ^0.2.3 >=0.2.3 <0.3.0, ^0.0.3 >=0.0.3 <0.0.4 (exactly 0.0.3),
//              ^0.0 >=0.0.0 <0.1.0, ^0 >=0.0.0 <1.0.0
// with Masterminds' quirks kept: "^*" matches only 0.0.0, "<=*" only 0.0.x,
// "!=*" everything but 0.0.0, and "x.5", "1.x.9" are "x", "1.x".
//
// Prereleases (Masterminds since v3.4.0): a version with a prerelease
// satisfies an AND group only if some comparison of that group, after range
// rewriting, has a prerelease itself ("^1.2.0-0" admits 1.4.0-rc.1, "^1.2.0"
// does not; ">=1.0.0-0 <2" admits 1.5.0-rc.1: the group opted in). Such a
// version then compares by precedence like any other.
//
// An empty constraint is an error, as in Masterminds; Kargo never parses one
// (it means "no constraint" there). Errors are kInvalid and name the text
// and the part at fault: `semverConstraint "^1.x.y": "1.x.y": expected a
// number or x, X, * for the patch at "y"`; a number past uint64 is one.
// Text over kMaxText characters is kTooLarge.
class SemVerConstraint {
 public:
  static constexpr size_t kMaxText = 1000;

  static Result<SemVerConstraint> Parse(std::string_view text);

  bool Matches(const SemVer& v) const;

  // The text parsed, as given.
  const std::string& text() const { return text_; }

  enum class Op { kEqual, kNotEqual, kGreater, kLess, kGreaterEqual, kLessEqual, kTilde, kCaret };
  // The first part that was a wildcard or missing; everything after it is 0.
  enum class Wild { kNone, kPatch, kMinor, kMajor };
  struct Comparison {
    Op op = Op::kEqual;
    Wild wild = Wild::kNone;
    SemVer bound;  // wildcard and missing parts are 0
  };
  struct Group {
    std::vector<Comparison> all;
    bool admits_prerelease = false;  // some comparison has a prerelease
  };

  // The alternatives, for tests and messages.
  const std::vector<Group>& any() const { return any_; }

 private:
  std::string text_;
  std::vector<Group> any_;
};

}  // namespace strake::delivery
