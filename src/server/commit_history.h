// The commits a deployment brought, read from the git mirrors that
// gitops::Sources keeps (insight::CommitHistory over git): what the DORA
// recorder counts as a deployment's changes. Thread-safe as Sources is.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "gitops/sources.h"
#include "insight/recorder.h"

namespace strake::server {

// At most this many changes are counted for one deployment (the newest).
inline constexpr size_t kMaxChangesPerDeployment = 10'000;

class SourcesCommitHistory final : public insight::CommitHistory {
 public:
  explicit SourcesCommitHistory(gitops::Sources& sources) : sources_(sources) {}

  // `to` not in the mirror yet: fetched once more. `from` no longer in the
  // repository (a force push): `to` alone.
  Result<std::vector<store::DeploymentRecord::Commit>> Brought(const std::string& repo_url,
                                                               const std::string& from,
                                                               const std::string& to) override;

 private:
  gitops::Sources& sources_;
};

}  // namespace strake::server
