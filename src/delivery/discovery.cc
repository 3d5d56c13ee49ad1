#include "delivery/discovery.h"

#include <algorithm>
#include <map>
#include <optional>

#include "base/clock.h"
#include "base/fs.h"
#include "base/regex.h"
#include "base/strings.h"
#include "delivery/semver.h"
#include "delivery/template.h"
#include "rollout/expr.h"

namespace strake::delivery {

// One includePaths/excludePaths entry, parsed as Kargo's
// pattern.ParsePathPattern: "glob:" a glob, "regex:"/"regexp:" an
// unanchored RE2, anything else a path prefix (the path is the prefix or
// under it).
struct Filters::PathPattern {
  enum class Kind { kGlob, kRegex, kPrefix } kind = Kind::kPrefix;
  std::string text;  // the glob or the prefix (no trailing '/')
  std::optional<Regex> re;

  bool Matches(const std::string& path) const {
    switch (kind) {
      case Kind::kGlob:
        return GlobMatch(text, path);
      case Kind::kRegex:
        return re->PartialMatch(path);
      case Kind::kPrefix:
        break;
    }
    if (text.empty() || text == ".") return true;
    return path == text || StartsWith(path, text + "/");
  }
};

namespace {

Result<std::vector<Filters::PathPattern>> ParsePaths(const std::vector<std::string>& patterns) {
  std::vector<Filters::PathPattern> out;
  for (const auto& pattern : patterns) {
    Filters::PathPattern p;
    p.text = pattern;
    if (StartsWith(pattern, "glob:")) {
      p.kind = Filters::PathPattern::Kind::kGlob;
      p.text = pattern.substr(5);
    }
    for (std::string_view prefix : {"regex:", "regexp:"}) {
      if (p.kind != Filters::PathPattern::Kind::kPrefix || !StartsWith(pattern, prefix)) continue;
      STRAKE_TRY_ASSIGN(re, Regex::Compile(pattern.substr(prefix.size())));
      p.kind = Filters::PathPattern::Kind::kRegex;
      p.re = std::move(re);
    }
    if (p.kind == Filters::PathPattern::Kind::kPrefix) {
      while (EndsWith(p.text, "/")) p.text.pop_back();
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<Regex>> CompileAll(const std::vector<std::string>& patterns) {
  std::vector<Regex> out;
  for (const auto& r : patterns) {
    STRAKE_TRY_ASSIGN(re, Regex::Compile(r));
    out.push_back(std::move(re));
  }
  return out;
}

bool AnyMatches(const std::vector<Filters::PathPattern>& patterns, const std::string& path) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const Filters::PathPattern& p) { return p.Matches(path); });
}

bool AnyMatches(const std::vector<Regex>& regexes, const std::string& s) {
  return std::any_of(regexes.begin(), regexes.end(),
                     [&](const Regex& re) { return re.PartialMatch(s); });
}

DiscoveredCommit Discovered(const CandidateCommit& c, const std::string& branch,
                            const std::string& tag) {
  DiscoveredCommit d;
  d.id = c.id;
  d.branch = branch;
  d.tag = tag;
  // Kargo's shortenString: over 80 bytes, the first 77 and "..." (bytes
  // that end up cut inside a character are replaced where they are stored).
  d.subject = c.subject.size() > 80 ? c.subject.substr(0, 77) + "..." : c.subject;
  d.author = c.author;
  d.committer = c.committer;
  d.creator_date_ms = c.date_ms;
  return d;
}

std::string Rfc3339(int64_t ms) { return FormatRfc3339(FromUnixMillis(ms)); }

// Kargo: a boolean, or text that Go's strconv.ParseBool reads.
Result<bool> AsBool(const rollout::Value& v) {
  if (v.is_boolean()) return v.get<bool>();
  std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  if (auto b = GoParseBool(text)) return *b;
  return Failf("expressionFilter: the result {} is not a boolean", Quote(text.substr(0, 100)));
}

}  // namespace

Result<Filters> Filters::Compile(const model::GitSubscription& sub) {
  Filters f;
  f.limit_ = static_cast<size_t>(sub.discovery_limit);
  STRAKE_TRY_ASSIGN(include, ParsePaths(sub.include_paths));
  STRAKE_TRY_ASSIGN(exclude, ParsePaths(sub.exclude_paths));
  STRAKE_TRY_ASSIGN(allow, CompileAll(sub.allow_tags_regexes));
  STRAKE_TRY_ASSIGN(ignore, CompileAll(sub.ignore_tags_regexes));
  f.include_ = std::move(include);
  f.exclude_ = std::move(exclude);
  f.allow_tags_ = std::move(allow);
  f.ignore_tags_ = std::move(ignore);
  if (!sub.expression_filter.empty()) {
    auto e = rollout::Expr::Compile(sub.expression_filter);
    if (!e) return Failf("expressionFilter: {}", e.error().message);
    f.expression_ = std::move(*e);
  }
  return f;
}

Filters::Filters() = default;
Filters::~Filters() = default;
Filters::Filters(Filters&&) noexcept = default;
Filters& Filters::operator=(Filters&&) noexcept = default;

bool Filters::PathsPass(const std::vector<std::string>& paths, bool complete) const {
  if (include_.empty() && exclude_.empty()) return true;
  if (!complete) return true;
  for (const auto& path : paths) {
    if (!include_.empty() && !AnyMatches(include_, path)) continue;
    if (!AnyMatches(exclude_, path)) return true;
  }
  return false;
}

bool Filters::TagAllowed(const std::string& tag) const {
  if (AnyMatches(ignore_tags_, tag)) return false;
  return allow_tags_.empty() || AnyMatches(allow_tags_, tag);
}

Result<bool> Filters::Evaluate(const std::map<std::string, rollout::Value>& vars,
                               const std::string& what) const {
  if (!expression_) return true;
  auto v = expression_->Eval(vars);
  if (!v) return Failf("expressionFilter on {}: {}", what, v.error().message);
  return AsBool(*v);
}

Result<bool> Filters::CommitPasses(const CandidateCommit& c) const {
  STRAKE_TRY_ASSIGN(kept, Evaluate({{"id", c.id},
                                    {"commitDate", Rfc3339(c.date_ms)},
                                    {"author", c.author},
                                    {"committer", c.committer},
                                    {"subject", c.subject}},
                                   "commit " + c.id));
  return kept && PathsPass(c.paths, c.paths_complete);
}

Result<bool> Filters::TagPasses(const CandidateTag& t) const {
  if (!TagAllowed(t.name)) return false;
  return Evaluate({{"tag", t.name},
                   {"id", t.commit.id},
                   {"creatorDate", Rfc3339(t.tagger.empty() ? t.commit.date_ms : t.created_ms)},
                   {"author", t.commit.author},
                   {"committer", t.commit.committer},
                   {"subject", t.commit.subject},
                   {"tagger", t.tagger},
                   {"annotation", t.annotation}},
                  "tag " + t.name);
}

Result<bool> PathsPass(const model::GitSubscription& sub, const std::vector<std::string>& paths,
                       bool complete) {
  STRAKE_TRY_ASSIGN(filters, Filters::Compile(sub));
  return filters.PathsPass(paths, complete);
}

Result<bool> TakeFromBranch(const Filters& filters, const std::string& branch,
                            const CandidateCommit& c, std::vector<DiscoveredCommit>& out) {
  if (out.size() >= filters.limit()) return false;
  STRAKE_TRY_ASSIGN(pass, filters.CommitPasses(c));
  if (pass) out.push_back(Discovered(c, branch, ""));
  return out.size() < filters.limit();
}

Result<std::vector<DiscoveredCommit>> SelectFromBranch(const model::GitSubscription& sub,
                                                       const std::string& branch,
                                                       const std::vector<CandidateCommit>& log) {
  STRAKE_TRY_ASSIGN(filters, Filters::Compile(sub));
  std::vector<DiscoveredCommit> out;
  for (const auto& c : log) {
    STRAKE_TRY_ASSIGN(more, TakeFromBranch(filters, branch, c, out));
    if (!more) break;
  }
  return out;
}

Result<std::vector<DiscoveredCommit>> SelectTags(const model::GitSubscription& sub,
                                                 std::vector<CandidateTag> tags) {
  STRAKE_TRY_ASSIGN(filters, Filters::Compile(sub));
  std::vector<CandidateTag> kept;
  for (auto& t : tags) {
    STRAKE_TRY_ASSIGN(passes, filters.TagPasses(t));
    if (passes) kept.push_back(std::move(t));
  }
  if (sub.commit_selection_strategy == "SemVer") {
    // Kargo's semverSelector: tags that are versions (strictSemvers) within
    // the constraint, highest first, ties by the original text.
    std::optional<SemVerConstraint> constraint;
    if (!sub.semver_constraint.empty()) {
      STRAKE_TRY_ASSIGN(c, SemVerConstraint::Parse(sub.semver_constraint));
      constraint = std::move(c);
    }
    std::vector<std::pair<SemVer, CandidateTag>> versions;
    for (auto& t : kept) {
      auto v = ParseSemVer(t.name, sub.strict_semvers);
      if (!v || (constraint && !constraint->Matches(*v))) continue;
      versions.emplace_back(std::move(*v), std::move(t));
    }
    std::stable_sort(versions.begin(), versions.end(),
                     [](const auto& a, const auto& b) { return SelectedBefore(a.first, b.first); });
    kept.clear();
    for (auto& [v, t] : versions) kept.push_back(std::move(t));
  } else if (sub.commit_selection_strategy == "NewestTag") {
    std::stable_sort(kept.begin(), kept.end(), [](const CandidateTag& a, const CandidateTag& b) {
      // git for-each-ref --sort=-creatordate: equal dates by refname, ascending.
      return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.name < b.name;
    });
  } else {
    std::sort(kept.begin(), kept.end(),
              [](const CandidateTag& a, const CandidateTag& b) { return a.name > b.name; });
  }
  std::vector<DiscoveredCommit> out;
  for (const auto& t : kept) {
    if (out.size() >= filters.limit()) break;
    if (!filters.PathsPass(t.commit.paths, t.commit.paths_complete)) continue;
    DiscoveredCommit d = Discovered(t.commit, "", t.name);
    if (!t.tagger.empty()) d.creator_date_ms = t.created_ms;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace strake::delivery
