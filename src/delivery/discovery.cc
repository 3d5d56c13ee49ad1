#include "delivery/discovery.h"

#include <algorithm>
#include <map>

#include "base/clock.h"
#include "base/fs.h"
#include "base/regex.h"
#include "base/strings.h"
#include "delivery/semver.h"
#include "rollout/expr.h"

namespace strake::delivery {

namespace {

// Kargo's pattern.ParsePathPattern: "glob:" a glob, "regex:"/"regexp:" an
// unanchored RE2, anything else a path prefix (the path is the prefix or
// under it).
Result<bool> PathMatches(const std::string& pattern, const std::string& path) {
  if (StartsWith(pattern, "glob:")) return GlobMatch(pattern.substr(5), path);
  for (std::string_view p : {"regex:", "regexp:"}) {
    if (!StartsWith(pattern, p)) continue;
    STRAKE_TRY_ASSIGN(re, Regex::Compile(pattern.substr(p.size())));
    return re.PartialMatch(path);
  }
  std::string prefix = pattern;
  while (EndsWith(prefix, "/")) prefix.pop_back();
  if (prefix.empty() || prefix == ".") return true;
  return path == prefix || StartsWith(path, prefix + "/");
}

Result<bool> AnyMatches(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& p : patterns) {
    STRAKE_TRY_ASSIGN(m, PathMatches(p, path));
    if (m) return true;
  }
  return false;
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

Result<bool> TagAllowed(const model::GitSubscription& sub, const std::string& tag) {
  for (const auto& r : sub.ignore_tags_regexes) {
    STRAKE_TRY_ASSIGN(re, Regex::Compile(r));
    if (re.PartialMatch(tag)) return false;
  }
  if (sub.allow_tags_regexes.empty()) return true;
  for (const auto& r : sub.allow_tags_regexes) {
    STRAKE_TRY_ASSIGN(re, Regex::Compile(r));
    if (re.PartialMatch(tag)) return true;
  }
  return false;
}

std::string Rfc3339(int64_t ms) { return FormatRfc3339(FromUnixMillis(ms)); }

// Kargo: a boolean, or text that Go's strconv.ParseBool reads.
Result<bool> AsBool(const rollout::Value& v) {
  if (v.is_boolean()) return v.get<bool>();
  std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"})
    if (text == t) return true;
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"})
    if (text == f) return false;
  return Failf("expressionFilter: the result {} is not a boolean", Quote(text.substr(0, 100)));
}

Result<bool> Evaluate(const std::string& source, const std::map<std::string, rollout::Value>& vars,
                      const std::string& what) {
  auto e = rollout::Expr::Compile(source);
  if (!e) return Failf("expressionFilter: {}", e.error().message);
  auto v = e->Eval(vars);
  if (!v) return Failf("expressionFilter on {}: {}", what, v.error().message);
  return AsBool(*v);
}

Result<bool> TagPassesExpression(const model::GitSubscription& sub, const CandidateTag& t) {
  if (sub.expression_filter.empty()) return true;
  return Evaluate(sub.expression_filter,
                  {{"tag", t.name},
                   {"id", t.commit.id},
                   {"creatorDate", Rfc3339(t.tagger.empty() ? t.commit.date_ms : t.created_ms)},
                   {"author", t.commit.author},
                   {"committer", t.commit.committer},
                   {"subject", t.commit.subject},
                   {"tagger", t.tagger},
                   {"annotation", t.annotation}},
                  "tag " + t.name);
}

Result<bool> CommitExpression(const model::GitSubscription& sub, const CandidateCommit& c) {
  return Evaluate(sub.expression_filter,
                  {{"id", c.id},
                   {"commitDate", Rfc3339(c.date_ms)},
                   {"author", c.author},
                   {"committer", c.committer},
                   {"subject", c.subject}},
                  "commit " + c.id);
}

}  // namespace

Result<bool> CommitPasses(const model::GitSubscription& sub, const CandidateCommit& c) {
  if (!sub.expression_filter.empty()) {
    STRAKE_TRY_ASSIGN(kept, CommitExpression(sub, c));
    if (!kept) return false;
  }
  return PathsPass(sub, c.paths, c.paths_complete);
}

DiscoveredCommit SelectedFromBranch(const CandidateCommit& c, const std::string& branch) {
  return Discovered(c, branch, "");
}

Result<bool> PathsPass(const model::GitSubscription& sub, const std::vector<std::string>& paths,
                       bool complete) {
  if (sub.include_paths.empty() && sub.exclude_paths.empty()) return true;
  if (!complete) return true;
  for (const auto& path : paths) {
    bool included = sub.include_paths.empty();
    if (!included) {
      STRAKE_TRY_ASSIGN(in, AnyMatches(sub.include_paths, path));
      included = in;
    }
    if (!included) continue;
    STRAKE_TRY_ASSIGN(out, AnyMatches(sub.exclude_paths, path));
    if (!out) return true;
  }
  return false;
}

Result<std::vector<DiscoveredCommit>> SelectFromBranch(const model::GitSubscription& sub,
                                                       const std::string& branch,
                                                       const std::vector<CandidateCommit>& log) {
  std::vector<DiscoveredCommit> out;
  for (const auto& c : log) {
    if (out.size() >= static_cast<size_t>(sub.discovery_limit)) break;
    STRAKE_TRY_ASSIGN(pass, CommitPasses(sub, c));
    if (pass) out.push_back(Discovered(c, branch, ""));
  }
  return out;
}

Result<std::vector<DiscoveredCommit>> SelectTags(const model::GitSubscription& sub,
                                                 std::vector<CandidateTag> tags) {
  std::vector<CandidateTag> kept;
  for (auto& t : tags) {
    STRAKE_TRY_ASSIGN(allowed, TagAllowed(sub, t.name));
    if (!allowed) continue;
    STRAKE_TRY_ASSIGN(passes, TagPassesExpression(sub, t));
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
    if (out.size() >= static_cast<size_t>(sub.discovery_limit)) break;
    STRAKE_TRY_ASSIGN(pass, PathsPass(sub, t.commit.paths, t.commit.paths_complete));
    if (!pass) continue;
    DiscoveredCommit d = Discovered(t.commit, "", t.name);
    if (!t.tagger.empty()) d.creator_date_ms = t.created_ms;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace strake::delivery
