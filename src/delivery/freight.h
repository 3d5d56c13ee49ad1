// Freight's identity, as Kargo computes it (pkg/api/freight.go
// GenerateFreightID, pkg/urls/git.go NormalizeGit at akuity/kargo 1c764767):
// a Freight is named by the SHA-1 of its origin and what it references, so
// the same commits from the same Warehouse are always the same Freight, and
// making it twice is a no-op. Its alias is a readable second name,
// adjective-animal as Kargo's, unique in its namespace.
//
// Pure functions on values; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/kargo.h"

namespace strake::delivery {

// The Freight name: lower-case hex SHA-1 of
// "<origin kind>/<origin name>:" + the sorted parts joined by "|", one part
// per commit: model::NormalizeGitUrl(repoURL) + ":" + [tag + ":"] + id
// [+ ":" + subscriptionName].
std::string FreightName(const model::FreightOrigin& origin,
                        const std::vector<model::FreightCommit>& commits);

// An adjective-animal alias for the Freight `name`: the first of a fixed
// sequence derived from the name that `taken` does not refuse (after 4,096
// tries, the name's first 7 characters are appended). Deterministic, so a
// controller that made the Freight and died before writing it makes the
// same one again.
std::string FreightAlias(const std::string& name,
                         const std::function<bool(const std::string&)>& taken);

}  // namespace strake::delivery
