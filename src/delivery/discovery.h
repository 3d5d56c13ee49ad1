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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/regex.h"
#include "base/result.h"
#include "model/kargo.h"
#include "rollout/expr.h"

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

// A subscription's filters, compiled once for a discovery: the path
// patterns, the tag regexes and expressionFilter. A pattern or expression
// that does not compile is an error of Compile (the API refuses them
// before they get here).
class Filters {
 public:
  struct PathPattern;

  static Result<Filters> Compile(const model::GitSubscription& sub);
  Filters();
  ~Filters();
  Filters(Filters&&) noexcept;
  Filters& operator=(Filters&&) noexcept;

  // Whether a commit that changed `paths` passes the path filters: some
  // path included (or no includes) and not excluded. A commit whose path
  // list was cut short passes (it may hold a match).
  bool PathsPass(const std::vector<std::string>& paths, bool complete = true) const;
  // A branch's commit: expressionFilter, then the path filters; an
  // evaluation error names the commit.
  Result<bool> CommitPasses(const CandidateCommit& c) const;
  // A tag: ignoreTagsRegexes, allowTagsRegexes, then expressionFilter.
  Result<bool> TagPasses(const CandidateTag& t) const;
  size_t limit() const { return limit_; }  // discoveryLimit

 private:
  bool TagAllowed(const std::string& tag) const;
  Result<bool> Evaluate(const std::map<std::string, rollout::Value>& vars,
                        const std::string& what) const;

  size_t limit_ = 20;
  std::vector<PathPattern> include_, exclude_;
  std::vector<Regex> allow_tags_, ignore_tags_;
  std::optional<rollout::Expr> expression_;
};

// PathsPass of the subscription's filters, compiled for this one call.
Result<bool> PathsPass(const model::GitSubscription& sub, const std::vector<std::string>& paths,
                       bool complete = true);

// NewestFromBranch, one commit at a time (newest first): adds `c` to `out`
// when it passes; false once `out` holds discoveryLimit commits.
Result<bool> TakeFromBranch(const Filters& filters, const std::string& branch,
                            const CandidateCommit& c, std::vector<DiscoveredCommit>& out);

// NewestFromBranch over `log` (newest first), for branch `branch`.
Result<std::vector<DiscoveredCommit>> SelectFromBranch(const model::GitSubscription& sub,
                                                       const std::string& branch,
                                                       const std::vector<CandidateCommit>& log);

// SemVer, Lexical or NewestTag over `tags`.
Result<std::vector<DiscoveredCommit>> SelectTags(const model::GitSubscription& sub,
                                                 std::vector<CandidateTag> tags);

}  // namespace strake::delivery
