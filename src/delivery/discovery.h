// What a Warehouse's git subscription discovers, as Kargo selects it
// (pkg/controller/git/commit/*.go at akuity/kargo 1c764767), on values the
// driver read from a mirror: a branch's first-parent history, or the tags.
//
// NewestFromBranch: the newest commits of the branch that pass
// expressionFilter and whose changed paths pass includePaths/excludePaths,
// newest first, at most discoveryLimit.
// SemVer: tags that parse as versions (strictSemvers) and meet
// semverConstraint, highest first (delivery/semver.h); Lexical: tags in
// reverse lexical order; NewestTag: newest creatordate first; all both after ignoreTagsRegexes
// (checked first), allowTagsRegexes (none = all) and expressionFilter, then the path filter on each
// tag's commit.
//
// expressionFilter is expr-lang as rollout/expr.h evaluates it, over
// Kargo's variables; commitDate and creatorDate are RFC 3339 strings (so
// `commitDate > "2026-01-01"` compares as dates do). A result that is not a
// boolean is read as Go's strconv.ParseBool reads its text, as Kargo does.
//
// Pure functions; thread-safe. A path pattern or tag regex that does not
// compile is an error (the decoder refuses them before they get here).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/kargo.h"

namespace strake::delivery {

// A commit as the mirror shows it.
struct CandidateCommit {
  std::string id;
  std::string subject;             // first line of the message
  std::string author;              // "Name <email>"
  std::string committer;           // "Name <email>"
  int64_t date_ms = 0;             // the commit's date
  std::vector<std::string> paths;  // changed against its first parent
  bool paths_complete = true;
};

// A tag and its commit.
struct CandidateTag {
  std::string name;
  CandidateCommit commit;
  std::string tagger;
  std::string annotation;
  int64_t created_ms = 0;  // git's creatordate
};

// One discovered commit (Kargo's DiscoveredCommit): Freight is made from
// the first of a subscription's.
struct DiscoveredCommit {
  std::string id;
  std::string branch;
  std::string tag;
  std::string subject;  // at most 80 bytes, as Kargo keeps it (77 and "...")
  std::string author;
  std::string committer;
  int64_t creator_date_ms = 0;
};

// Whether a commit that changed `paths` passes the subscription's path
// filters: some path included (or no includes) and not excluded. A commit
// whose path list was cut short passes (it may hold a match).
Result<bool> PathsPass(const model::GitSubscription& sub, const std::vector<std::string>& paths,
                       bool complete = true);

// Whether a branch's commit `c` passes expressionFilter and the path
// filters (none: true); an evaluation error is an error naming the commit.
Result<bool> CommitPasses(const model::GitSubscription& sub, const CandidateCommit& c);

// A commit of branch `branch` that passed the filters, as discovered.
DiscoveredCommit SelectedFromBranch(const CandidateCommit& c, const std::string& branch);

// NewestFromBranch over `log` (newest first), for branch `branch`.
Result<std::vector<DiscoveredCommit>> SelectFromBranch(const model::GitSubscription& sub,
                                                       const std::string& branch,
                                                       const std::vector<CandidateCommit>& log);

// SemVer, Lexical or NewestTag over `tags`.
Result<std::vector<DiscoveredCommit>> SelectTags(const model::GitSubscription& sub,
                                                 std::vector<CandidateTag> tags);

}  // namespace strake::delivery
