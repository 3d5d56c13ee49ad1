#include "delivery/discovery.h"

#include <algorithm>

#include "base/fs.h"
#include "base/regex.h"
#include "base/strings.h"

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
  d.subject = c.subject.substr(0, 80);
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

}  // namespace

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
    STRAKE_TRY_ASSIGN(pass, PathsPass(sub, c.paths, c.paths_complete));
    if (pass) out.push_back(Discovered(c, branch, ""));
  }
  return out;
}

Result<std::vector<DiscoveredCommit>> SelectTags(const model::GitSubscription& sub,
                                                 std::vector<CandidateTag> tags) {
  std::vector<CandidateTag> kept;
  for (auto& t : tags) {
    STRAKE_TRY_ASSIGN(allowed, TagAllowed(sub, t.name));
    if (allowed) kept.push_back(std::move(t));
  }
  if (sub.commit_selection_strategy == "NewestTag") {
    std::stable_sort(kept.begin(), kept.end(), [](const CandidateTag& a, const CandidateTag& b) {
      return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.name > b.name;
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
