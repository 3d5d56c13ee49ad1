// strake's own pull requests: the review flow behind Kargo's git-open-pr,
// git-wait-for-pr and git-merge-pr steps when no forge (GitHub, GitLab…)
// is configured, which is every strake server today. A pull request is a
// PullRequest object (strake.dev/v1) in the Promotion's namespace, opened by
// the git-open-pr step, merged by the git-merge-pr step or by a person
// (`strake pr merge N`: POST …/pullrequests/pr-N/merge), or closed (`strake
// pr close N`). The merge itself is git's, done by the server against the
// repository as the git steps reach it (egress policy, the Project's
// credentials), and pushed to the target branch without force.
//
// - git-open-pr (Kargo's pkg/promotion/runner/builtin/git_pr_opener.go at
//   akuity/kargo 1c764767): sourceBranch, targetBranch (default: the
//   remote's default branch), title and description (default: the source
//   head's commit message, its first line the title), labels. Skipped when
//   there is nothing to merge (the two trees are the same, or the target
//   has the source already); fails when the target branch does
//   not exist; an Open or Merged PullRequest of the same repository and
//   branches is adopted, so a run again after a crash opens none twice.
//   Output pr {id, url} (url: the object's API path).
// - git-wait-for-pr: prNumber; Running while Open (pollInterval, default
//   30s, at least 10s, and woken at once when the PullRequest changes),
//   Succeeded when Merged (output commit: the merge commit, pr {id, url,
//   open, merged}), Failed when closed without being merged.
// - git-merge-pr: prNumber, mergeMethod (merge, the default: a merge commit;
//   squash: one commit), wait (a pull request that cannot be merged yet, as
//   for conflicts, is Running instead of Failed; pollInterval default 10s).
//   Output commit.
//
// Numbers count per namespace from 1; a step names the pull request by its
// repoURL and number, and a number of another repository is not found.
// `provider` and `insecureSkipTLSVerify` name a forge: refused as not
// supported yet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/egress.h"
#include "base/result.h"
#include "delivery/git_steps.h"
#include "delivery/promotion.h"
#include "store/store.h"

namespace strake::delivery {

inline constexpr const char* kPullRequestApiVersion = "strake.dev/v1";
// The Promotion that opened a pull request (a label, for people; a change
// to a pull request wakes the Promotions of its namespace).
inline constexpr const char* kPullRequestPromotionLabel = "strake.dev/promotion";

// How the server reaches the repositories of pull requests.
struct PullRequestGit {
  EgressPolicy egress;
  GitCredentialsFor credentials;
};

// "pr-7".
std::string PullRequestName(int64_t number);
// The number of "pr-7", or of "7"; nullopt when neither.
std::optional<int64_t> PullRequestNumber(const std::string& name_or_number);
// The API path of a pull request (its `url`).
std::string PullRequestUrl(const std::string& ns, int64_t number);

// Merges the Open pull request `name` of `ns` with `method` ("" = merge):
// the source commit recorded when it was opened (a source branch that
// moved since is kConflict),
// as `actor` (recorded in its status). Its status after: Merged with
// mergeCommit. Already merged: that status (a merge pushed before a crash
// is found in the target branch and recorded). Errors: kNotFound, kInvalid
// (closed, an unknown method), kConflict (cannot be merged: the files in
// conflict, or the source branch is gone), else git's.
Result<Json> MergePullRequest(store::Store& store, const PullRequestGit& git, const std::string& ns,
                              const std::string& name, const std::string& method,
                              const std::string& actor);

// Closes the Open pull request `name` without merging it (closed already:
// nothing changes). Its status after. kInvalid when it is merged.
Result<Json> ClosePullRequest(store::Store& store, const std::string& ns, const std::string& name,
                              const std::string& actor);

// The names AddPullRequestSteps adds, sorted.
const std::vector<std::string>& PullRequestStepNames();

void AddPullRequestSteps(StepRegistry& registry, store::Store& store, PullRequestGit git);

}  // namespace strake::delivery
