#include "server/commit_history.h"

#include "base/net.h"

namespace strake::server {

Result<std::vector<store::DeploymentRecord::Commit>> SourcesCommitHistory::Brought(
    const std::string& repo_url, const std::string& from, const std::string& to) {
  gitops::SourceState state = sources_.Get(repo_url);
  if (state.mirror && !state.mirror->Commit(to)) {
    const auto now = std::chrono::steady_clock::now();
    bool force = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto [it, fresh] = forced_.try_emplace(repo_url, now);
      force = fresh || now - it->second >= std::chrono::minutes(1);
      if (force) it->second = now;
    }
    if (force) state = sources_.Get(repo_url, true);
  }
  if (!state.mirror) {
    return Failf(ErrorCode::kUnavailable, "{} cannot be read: {}", RedactUrl(repo_url),
                 state.error.empty() ? "not fetched yet" : state.error);
  }
  const gitops::Mirror& m = *state.mirror;
  const bool from_known = !from.empty() && m.Commit(from).has_value();
  STRAKE_TRY_ASSIGN(commits, m.Between(from_known ? from : "", to, kMaxChangesPerDeployment));
  std::vector<store::DeploymentRecord::Commit> out;
  out.reserve(commits.size());
  for (const auto& c : commits) out.push_back({c.sha, c.time_ms});
  return out;
}

}  // namespace strake::server
