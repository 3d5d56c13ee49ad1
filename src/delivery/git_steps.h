// Kargo's git promotion steps (pkg/promotion/runner/builtin git_*.go at
// akuity/kargo 1c764767), with the `git` binary, in the Promotion's working
// directory, reaching remotes only as the server's egress policy allows and
// with the credentials of the Repository that names the URL:
//
// - git-clone: repoURL; checkout[] (branch, or tag, or commit, or the
//   default branch; `create` makes a missing branch as an empty orphan;
//   path, relative to the working directory; as); author (name, email;
//   default Kargo's "Kargo" <no-reply@kargo.io>). Output commits[as or
//   path] = the HEAD checked out ("" for a new orphan branch).
// - git-clear: path; every file of the working tree goes (not .git).
// - git-commit: path, message. Output commit: the new commit, or HEAD when
//   there was nothing to commit (Kargo's short-circuit).
// - git-push: path; targetBranch, or generateTargetBranch
//   (kargo/promotion/<promotion>), or the branch checked out; force;
//   maxAttempts (default 10: a push refused as not a fast-forward is
//   rebased on the remote branch and tried again). Output branch, commit.
//
// Each is safe to run again after a crash: a clone starts from an empty
// directory, a commit with nothing new answers HEAD, a push of what the
// remote has already changes nothing. Paths may not leave the working
// directory. `tag` pushes, signing keys, sparse checkouts, submodules and
// blobless clones are refused (not supported yet), as are the deprecated
// git-commit `author`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/egress.h"
#include "delivery/promotion.h"
#include "gitops/git.h"

namespace strake::delivery {

// The credentials for `url` in a Promotion of namespace `ns`.
using GitCredentialsFor =
    std::function<gitops::GitCredentials(const std::string& ns, const std::string& url)>;

// The names AddGitSteps adds, sorted.
const std::vector<std::string>& GitStepNames();

void AddGitSteps(StepRegistry& registry, EgressPolicy egress, GitCredentialsFor credentials);

}  // namespace strake::delivery
