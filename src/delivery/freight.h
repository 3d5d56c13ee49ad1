// Freight's identity, as Kargo computes it (pkg/api/freight.go
// GenerateFreightID, pkg/urls/git.go NormalizeGit at akuity/kargo 1c764767):
// a Freight is named by the SHA-1 of its origin and what it references, so
// the same commits from the same Warehouse are always the same Freight, and
// making it twice is a no-op. Its alias is a readable second name,
// adjective-animal as Kargo's, unique in its namespace. The objects a
// Stage's Freight makes (Promotions, verification AnalysisRuns) are named
// after both, as Kargo names them.
//
// Pure functions on values; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/kargo.h"

namespace strake::delivery {

// The Freight name: lower-case hex SHA-1 of
// "<origin kind>/<origin name>:" + the sorted parts joined by "|", one part
// per commit: model::NormalizeGitUrl(repoURL) + ":" + [tag + ":"] + id
// [+ ":" + subscriptionName], per artifact: type + ":" + subscription
// + ":" + version, and per image: repoURL + ":" + tag + "@" + digest
// [+ ":" + subscriptionName].
std::string FreightName(const model::FreightOrigin& origin,
                        const std::vector<model::FreightCommit>& commits,
                        const std::vector<model::FreightArtifact>& artifacts = {},
                        const std::vector<model::FreightImage>& images = {});

// An adjective-animal alias for the Freight `name`: the first of a fixed
// sequence derived from the name that `taken` does not refuse (after 4,096
// tries, the name's first 7 characters are appended). Deterministic, so a
// controller that made the Freight and died before writing it makes the
// same one again.
std::string FreightAlias(const std::string& name,
                         const std::function<bool(const std::string&)>& taken);

// Kargo's name of an object made for a Stage's Freight (a Promotion, a
// verification AnalysisRun): <prefix>.<ulid>.<id[:7]>, the ULID in lower
// case, the prefix (the Stage's name) cut so that the name fits in 253
// bytes, without a trailing '.' or '-'. `ulid` is base/ids.h NewUlid's.
std::string KargoChildName(std::string_view prefix, std::string_view id, std::string_view ulid);

}  // namespace strake::delivery
