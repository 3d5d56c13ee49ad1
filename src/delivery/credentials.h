// Kargo's repository credentials (pkg/credentials/kubernetes/database.go at
// akuity/kargo 1c764767): Secrets of a Project labelled
// kargo.akuity.io/cred-type: git or image, with `repoURL`, `username`,
// `password` (and for git `sshPrivateKey`). The first Secret, by name,
// whose `repoURL` is the URL asked for (both normalised: Kargo's
// NormalizeGit, or NormalizeImage) or, with repoURLIsRegex "true", a
// regular expression found in the URL as given or normalised, is the one.
// A Secret that does not parse or whose regex does not compile is passed
// over. Values never reach a message. Git credentials are never given for a
// plain http:// URL except to loopback (they would travel in the clear).
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "store/store.h"

namespace strake::delivery {

struct RepoCredentials {
  std::string username;
  std::string password;
  std::string ssh_private_key;
};

// `type` is "git" or "image".
Result<std::optional<RepoCredentials>> KargoCredentials(store::Store& store, const std::string& ns,
                                                        const std::string& type,
                                                        const std::string& repo_url);

}  // namespace strake::delivery
