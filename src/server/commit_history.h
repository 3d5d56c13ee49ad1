// The commits a deployment brought, read from the git mirrors that
// gitops::Sources keeps (insight::CommitHistory over git): what the DORA
// recorder counts as a deployment's changes. Thread-safe as Sources is.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
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

  // `to` not in the mirror yet: fetched once more (at most once a minute
  // per repository). `from` no longer in the repository (a force push):
  // `to` alone. Errors name the repository without its credentials.
  Result<std::vector<store::DeploymentRecord::Commit>> Brought(const std::string& repo_url,
                                                               const std::string& from,
                                                               const std::string& to) override;

 private:
  gitops::Sources& sources_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> forced_;  // url -> last forced fetch
};

}  // namespace strake::server
