#include "delivery/semver.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "base/strings.h"

// The grammar below is Masterminds/semver v3's regular expressions
// (version.go looseSemVerRegex, constraints.go cvRegex and the constraint,
// range and validation expressions built on it) written out as scanners:
// their alternatives start with distinct characters, so one pass decides
// what Go's leftmost-first matcher decides.

namespace strake::delivery {
namespace {

using Op = SemVerConstraint::Op;
using Wild = SemVerConstraint::Wild;

// Go's \s: ASCII space, \t, \n, \f, \r (not \v).
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// A prerelease or metadata identifier's character: [0-9A-Za-z-].
bool IsIdentChar(char c) { return IsAlnum(c) || c == '-'; }
// A number part of a constraint's version: Masterminds' [0-9|x|X|\*], the
// '|' a slip in its character class that this keeps (it fails later, unless
// it follows a wildcard and is ignored).
bool IsSegmentChar(char c) { return IsDigit(c) || c == 'x' || c == 'X' || c == '*' || c == '|'; }
// What a constraint's version may be made of.
bool IsVersionChar(char c) {
  return IsIdentChar(c) || c == '*' || c == '|' || c == '.' || c == '+';
}
bool IsOpChar(char c) {
  return c == '=' || c == '!' || c == '<' || c == '>' || c == '~' || c == '^';
}
bool IsWildcard(std::string_view s) { return s == "x" || s == "X" || s == "*"; }

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// Decimal digits to uint64; nullopt if empty, not all digits, or too big.
// Leading zeros are fine here (Go's strconv.ParseUint).
std::optional<uint64_t> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

// The parts of "[v]M[.m[.p]][-pre][+meta]", the number parts runs of
// `segment` characters.
struct Pieces {
  std::string_view major, minor, patch;  // minor/patch empty when absent
  bool has_minor = false, has_patch = false;
  std::vector<std::string> prerelease;
  std::string_view metadata;
};

size_t SkipWhile(std::string_view s, size_t i, bool (*pred)(char)) {
  while (i < s.size() && pred(s[i])) ++i;
  return i;
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-].
Result<std::vector<std::string>> SplitIdentifiers(std::string_view s, std::string_view what) {
  std::vector<std::string> ids = Split(s, '.');
  for (const std::string& id : ids) {
    if (id.empty()) return Failf("{} {} has an empty identifier", what, Quote(s));
    if (!std::all_of(id.begin(), id.end(), IsIdentChar))
      return Failf("{} identifier {} may hold only A-Z, a-z, 0-9 and -", what, Quote(id));
  }
  return ids;
}

// `s` as a whole split into Pieces, or why it has not their form (the
// reasons are worded for constraints, the only place they are shown).
Result<Pieces> SplitPieces(std::string_view s, bool (*segment)(char)) {
  Pieces p;
  size_t i = 0;
  if (s.size() > 1 && s[0] == 'v' && segment(s[1])) i = 1;
  auto number = [&](std::string_view& out, std::string_view name) -> Status {
    size_t end = SkipWhile(s, i, segment);
    if (end == i) {
      return Failf("expected a number or x, X, * for the {} at {}", name,
                   i == s.size() ? "the end" : Quote(s.substr(i)));
    }
    out = s.substr(i, end - i);
    i = end;
    return Ok();
  };
  STRAKE_TRY(number(p.major, "major"));
  if (i < s.size() && s[i] == '.') {
    ++i;
    p.has_minor = true;
    STRAKE_TRY(number(p.minor, "minor"));
    if (i < s.size() && s[i] == '.') {
      ++i;
      p.has_patch = true;
      STRAKE_TRY(number(p.patch, "patch"));
    }
  }
  if (i < s.size() && s[i] == '-') {
    size_t end = std::min(s.find('+', i), s.size());
    STRAKE_TRY_ASSIGN(pre, SplitIdentifiers(s.substr(i + 1, end - i - 1), "prerelease"));
    p.prerelease = std::move(pre);
    i = end;
  }
  if (i < s.size() && s[i] == '+') {
    p.metadata = s.substr(i + 1);
    STRAKE_TRY(SplitIdentifiers(p.metadata, "metadata"));
    i = s.size();
  }
  if (i < s.size()) return Failf("unexpected {}", Quote(s.substr(i)));
  return p;
}

// SemVer 2.0.0: a numeric prerelease identifier has no leading zero.
Status CheckPrerelease(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    if (id.size() > 1 && id[0] == '0' && std::all_of(id.begin(), id.end(), IsDigit))
      return Failf("prerelease identifier {} has a leading zero", Quote(id));
  }
  return Ok();
}

// Masterminds' NewVersion (coercing, the default since v3.4.0).
std::optional<SemVer> ParseLoose(std::string_view s) {
  auto pieces = SplitPieces(s, IsDigit);
  if (!pieces || !CheckPrerelease(pieces->prerelease)) return std::nullopt;
  SemVer v;
  auto major = ParseNumber(pieces->major);
  auto minor = pieces->has_minor ? ParseNumber(pieces->minor) : std::optional<uint64_t>(0);
  auto patch = pieces->has_patch ? ParseNumber(pieces->patch) : std::optional<uint64_t>(0);
  if (!major || !minor || !patch) return std::nullopt;
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  v.prerelease = std::move(pieces->prerelease);
  v.metadata = std::string(pieces->metadata);
  v.original = std::string(s);
  return v;
}

bool HasLeadingZero(std::string_view digits) { return digits.size() > 1 && digits[0] == '0'; }

// Masterminds' comparePrePart: an empty (missing) identifier is lowest;
// numbers (those that fit uint64) below the rest.
int CompareIdentifier(const std::string& a, const std::string& b) {
  if (a == b) return 0;
  if (a.empty()) return -1;
  if (b.empty()) return 1;
  std::optional<uint64_t> an = ParseNumber(a);
  std::optional<uint64_t> bn = ParseNumber(b);
  if (!an && !bn) return a > b ? 1 : -1;
  if (!bn) return -1;
  if (!an) return 1;
  return *an > *bn ? 1 : -1;
}

// Masterminds' comparePrerelease: identifier by identifier, a missing one
// as "". Unlike CompareSemVer, no prerelease at all counts as lowest.
int ComparePrerelease(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  static const std::string kNone;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    int d = CompareIdentifier(i < a.size() ? a[i] : kNone, i < b.size() ? b[i] : kNone);
    if (d != 0) return d;
  }
  return 0;
}

Result<uint64_t> SegmentNumber(std::string_view segment) {
  if (std::optional<uint64_t> n = ParseNumber(segment)) return *n;
  if (!segment.empty() && std::all_of(segment.begin(), segment.end(), IsDigit))
    return Failf("{} is too big (at most {})", Quote(segment), UINT64_MAX);
  return Failf("{} is not a number or x, X, *", Quote(segment));
}

std::optional<Op> ParseOp(std::string_view s) {
  static constexpr std::pair<std::string_view, Op> kOps[] = {
      {"", Op::kEqual},          {"=", Op::kEqual},      {"!=", Op::kNotEqual},
      {">", Op::kGreater},       {"<", Op::kLess},       {">=", Op::kGreaterEqual},
      {"=>", Op::kGreaterEqual}, {"<=", Op::kLessEqual}, {"=<", Op::kLessEqual},
      {"~", Op::kTilde},         {"~>", Op::kTilde},     {"^", Op::kCaret},
  };
  for (const auto& [text, op] : kOps) {
    if (s == text) return op;
  }
  return std::nullopt;
}

// Masterminds' parseConstraint: the first wildcard or missing part makes
// the comparison dirty and zeroes it and every part after it.
Result<SemVerConstraint::Comparison> ParseComparison(Op op, std::string_view token) {
  STRAKE_TRY_ASSIGN(pieces, SplitPieces(token, IsSegmentChar));
  SemVerConstraint::Comparison c;
  c.op = op;
  if (IsWildcard(pieces.major)) {
    c.wild = Wild::kMajor;
  } else if (!pieces.has_minor || IsWildcard(pieces.minor)) {
    c.wild = Wild::kMinor;
  } else if (!pieces.has_patch || IsWildcard(pieces.patch)) {
    c.wild = Wild::kPatch;
  }
  if (c.wild != Wild::kMajor) {
    STRAKE_TRY_ASSIGN(major, SegmentNumber(pieces.major));
    c.bound.major = major;
  }
  if (c.wild == Wild::kPatch || c.wild == Wild::kNone) {
    STRAKE_TRY_ASSIGN(minor, SegmentNumber(pieces.minor));
    c.bound.minor = minor;
  }
  if (c.wild == Wild::kNone) {
    STRAKE_TRY_ASSIGN(patch, SegmentNumber(pieces.patch));
    c.bound.patch = patch;
    c.bound.metadata = std::string(pieces.metadata);
  }
  STRAKE_TRY(CheckPrerelease(pieces.prerelease));
  c.bound.prerelease = std::move(pieces.prerelease);
  c.bound.original = std::string(token);
  return c;
}

// One AND group: the validation expression of Masterminds' NewConstraint,
// `\s*OP\s*VERSION\s*` then any number of `(\s+|,\s*)OP\s*VERSION\s*`.
Result<SemVerConstraint::Group> ParseGroup(std::string_view s) {
  SemVerConstraint::Group g;
  size_t i = SkipSpace(s, 0);
  if (i == s.size()) return Fail("is empty");
  while (true) {
    size_t op_end = SkipWhile(s, i, IsOpChar);
    std::string_view op_text = s.substr(i, op_end - i);
    std::optional<Op> op = ParseOp(op_text);
    if (!op) return Failf("{} is not an operator (=, !=, >, <, >=, <=, ~, ^)", Quote(op_text));
    i = SkipSpace(s, op_end);
    size_t v_end = SkipWhile(s, i, IsVersionChar);
    if (v_end == i) {
      return Failf("expected a version at {}", i == s.size() ? "the end" : Quote(s.substr(i)));
    }
    std::string_view token = s.substr(i, v_end - i);
    auto c = ParseComparison(*op, token);
    if (!c) return tl::unexpected(c.error().Wrap(Quote(token)));
    g.admits_prerelease = g.admits_prerelease || !c->bound.prerelease.empty();
    g.all.push_back(std::move(*c));
    i = SkipSpace(s, v_end);
    if (i == s.size()) break;
    if (s[i] == ',') {
      i = SkipSpace(s, i + 1);
    } else if (i == v_end) {
      size_t len = std::max<size_t>(1, Utf8CharLength(s.substr(i)));
      return Failf("expected a space or comma after {}, not {}", Quote(token),
                   Quote(s.substr(i, len)));
    }
  }
  return g;
}

// A match of Masterminds' range expression `\s*(V)\s+-\s+(V)\s*`.
struct RangeMatch {
  size_t begin = 0, end = 0;
  std::string_view low, high;
};

// The end of the longest constraint version starting at `i` (cvRegex,
// greedy, nothing required after it), or `i` if none starts there.
size_t MatchVersionPrefix(std::string_view s, size_t i) {
  auto at = [&](size_t k, bool (*pred)(char)) { return k < s.size() && pred(s[k]); };
  auto is = [&](size_t k, char c) { return k < s.size() && s[k] == c; };
  size_t k = is(i, 'v') ? i + 1 : i;
  if (!at(k, IsSegmentChar)) return i;
  k = SkipWhile(s, k, IsSegmentChar);
  for (int part = 0; part < 2 && is(k, '.') && at(k + 1, IsSegmentChar); ++part) {
    k = SkipWhile(s, k + 1, IsSegmentChar);
  }
  for (char lead : {'-', '+'}) {
    if (!is(k, lead) || !at(k + 1, IsIdentChar)) continue;
    k = SkipWhile(s, k + 1, IsIdentChar);
    while (is(k, '.') && at(k + 1, IsIdentChar)) k = SkipWhile(s, k + 1, IsIdentChar);
  }
  return k;
}

std::optional<RangeMatch> MatchRangeAt(std::string_view s, size_t p) {
  // The low end runs to the first space, and all of it must be a version.
  size_t q = SkipSpace(s, p);
  size_t r = q;
  while (r < s.size() && !IsSpace(s[r])) ++r;
  if (r == q || r == s.size() || !SplitPieces(s.substr(q, r - q), IsSegmentChar)) {
    return std::nullopt;
  }
  size_t dash = SkipSpace(s, r);
  if (dash == s.size() || s[dash] != '-') return std::nullopt;
  size_t k = SkipSpace(s, dash + 1);
  if (k == dash + 1) return std::nullopt;
  size_t e = MatchVersionPrefix(s, k);
  if (e == k) return std::nullopt;
  return RangeMatch{p, SkipSpace(s, e), s.substr(q, r - q), s.substr(k, e - k)};
}

// Masterminds' rewriteRange: every "A - B" found (leftmost first, not
// overlapping) becomes ">= A, <= B " at the first place its text occurs.
std::string RewriteRanges(std::string_view s) {
  std::vector<RangeMatch> found;
  for (size_t p = 0; p < s.size();) {
    if (std::optional<RangeMatch> m = MatchRangeAt(s, p)) {
      found.push_back(*m);
      p = m->end;
    } else {
      ++p;
    }
  }
  std::string out(s);
  for (const RangeMatch& m : found) {
    std::string_view whole = s.substr(m.begin, m.end - m.begin);
    size_t at = out.find(whole);
    if (at != std::string::npos) {
      out.replace(at, whole.size(), fmt::format(">= {}, <= {} ", m.low, m.high));
    }
  }
  return out;
}

// Go's strings.Split(s, "||").
std::vector<std::string_view> SplitOr(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  for (size_t at = s.find("||"); at != std::string_view::npos; at = s.find("||", begin)) {
    parts.push_back(s.substr(begin, at - begin));
    begin = at + 2;
  }
  parts.push_back(s.substr(begin));
  return parts;
}

// Masterminds' constraint functions (constraintTilde, constraintCaret, ...),
// for a version already past the prerelease gate.
bool Tilde(const SemVer& v, const SemVerConstraint::Comparison& c) {
  const SemVer& b = c.bound;
  if (CompareSemVer(v, b) < 0) return false;
  bool zero = b.major == 0 && b.minor == 0 && b.patch == 0;
  if (zero && c.wild != Wild::kMinor && c.wild != Wild::kPatch) return true;
  if (v.major != b.major) return false;
  return v.minor == b.minor || c.wild == Wild::kMinor;
}

bool Caret(const SemVer& v, const SemVerConstraint::Comparison& c) {
  const SemVer& b = c.bound;
  if (CompareSemVer(v, b) < 0) return false;
  if (b.major > 0 || c.wild == Wild::kMinor) return v.major == b.major;
  if (v.major > 0) return false;
  if (b.minor > 0 || c.wild == Wild::kPatch) return v.minor == b.minor;
  if (v.minor > 0) return false;
  return v.patch == b.patch;
}

bool NotEqual(const SemVer& v, const SemVerConstraint::Comparison& c) {
  const SemVer& b = c.bound;
  if (c.wild != Wild::kNone) {
    if (v.major != b.major) return true;
    if (c.wild == Wild::kMinor) return false;
    if (v.minor != b.minor) return true;
    if (c.wild == Wild::kPatch) {
      return ComparePrerelease(v.prerelease, b.prerelease) != 0;
    }
    if (v.patch != b.patch) return true;
  }
  return CompareSemVer(v, b) != 0;
}

bool Greater(const SemVer& v, const SemVerConstraint::Comparison& c) {
  const SemVer& b = c.bound;
  if (c.wild == Wild::kNone || c.wild == Wild::kMajor) return CompareSemVer(v, b) > 0;
  if (v.major != b.major) return v.major > b.major;
  return c.wild == Wild::kPatch && v.minor > b.minor;
}

bool LessEqual(const SemVer& v, const SemVerConstraint::Comparison& c) {
  const SemVer& b = c.bound;
  if (c.wild == Wild::kNone) return CompareSemVer(v, b) <= 0;
  if (v.major > b.major) return false;
  return !(v.major == b.major && v.minor > b.minor && c.wild != Wild::kMinor);
}

bool Check(const SemVer& v, const SemVerConstraint::Comparison& c, bool admit_prerelease) {
  if (!v.prerelease.empty() && !admit_prerelease) return false;
  switch (c.op) {
    case Op::kEqual:
      return c.wild != Wild::kNone ? Tilde(v, c) : CompareSemVer(v, c.bound) == 0;
    case Op::kNotEqual:
      return NotEqual(v, c);
    case Op::kGreater:
      return Greater(v, c);
    case Op::kLess:
      return CompareSemVer(v, c.bound) < 0;
    case Op::kGreaterEqual:
      return CompareSemVer(v, c.bound) >= 0;
    case Op::kLessEqual:
      return LessEqual(v, c);
    case Op::kTilde:
      return Tilde(v, c);
    case Op::kCaret:
      return Caret(v, c);
  }
  return false;
}

}  // namespace

std::optional<SemVer> ParseSemVer(std::string_view s, bool strict) {
  std::optional<SemVer> v = ParseLoose(s);
  if (!v || !strict) return v;
  // Kargo's strict check, StrictNewVersion(strings.TrimPrefix(s, "v")),
  // refuses of what NewVersion took only missing parts and leading zeros.
  Pieces p = *SplitPieces(s, IsDigit);
  if (!p.has_minor || !p.has_patch) return std::nullopt;
  if (HasLeadingZero(p.major) || HasLeadingZero(p.minor) || HasLeadingZero(p.patch)) {
    return std::nullopt;
  }
  return v;
}

int CompareSemVer(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.prerelease.empty() || b.prerelease.empty()) {
    return static_cast<int>(a.prerelease.empty()) - static_cast<int>(b.prerelease.empty());
  }
  return ComparePrerelease(a.prerelease, b.prerelease);
}

std::string SemVerString(const SemVer& v) {
  std::string s = fmt::format("{}.{}.{}", v.major, v.minor, v.patch);
  if (!v.prerelease.empty()) s += "-" + Join(v.prerelease, ".");
  if (!v.metadata.empty()) s += "+" + v.metadata;
  return s;
}

bool SelectedBefore(const SemVer& a, const SemVer& b) {
  if (int c = CompareSemVer(a, b); c != 0) return c > 0;
  return a.original > b.original;
}

Result<SemVerConstraint> SemVerConstraint::Parse(std::string_view text) {
  if (text.size() > kMaxText) {
    return Failf(ErrorCode::kTooLarge, "semverConstraint of {} characters: at most {} are allowed",
                 text.size(), kMaxText);
  }
  auto fail = [&](const Error& why) {
    Error e = why.Wrap(fmt::format("semverConstraint {}", Quote(text)));
    e.code = ErrorCode::kInvalid;
    return tl::unexpected(std::move(e));
  };
  SemVerConstraint c;
  c.text_ = std::string(text);
  std::string rewritten = RewriteRanges(text);
  std::vector<std::string_view> parts = SplitOr(rewritten);
  for (size_t k = 0; k < parts.size(); ++k) {
    Result<Group> g = ParseGroup(parts[k]);
    if (!g) {
      if (parts.size() == 1) return fail(g.error());
      return fail(g.error().Wrap(fmt::format("alternative {} of {}", k + 1, parts.size())));
    }
    c.any_.push_back(std::move(*g));
  }
  return c;
}

bool SemVerConstraint::Matches(const SemVer& v) const {
  return std::any_of(any_.begin(), any_.end(), [&](const Group& g) {
    return std::all_of(g.all.begin(), g.all.end(),
                       [&](const Comparison& c) { return Check(v, c, g.admits_prerelease); });
  });
}

}  // namespace strake::delivery
