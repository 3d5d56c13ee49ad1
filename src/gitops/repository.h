// RepositoryReconciler: fetches each strake.dev/v1 Repository every
// pollInterval (jittered by up to a tenth), records what it found in its
// status (branches and their commits, the last fetch, the error if any),
// and tells the Applications reading it when the branches moved. A webhook
// delivery asks for the same fetch at once (Refresh).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "base/clock.h"
#include "controller/controller.h"
#include "gitops/sources.h"
#include "store/store.h"

namespace strake::gitops {

class RepositoryReconciler {
 public:
  // `changed(url)` is called after a fetch that moved a branch.
  RepositoryReconciler(store::Store& store, Sources& sources, const Clock& clock,
                       std::function<void(const std::string& url)> changed);

  Result<controller::ReconcileResult> Reconcile(const std::string& key);
  // The next reconcile of `key` fetches even if its poll is not due (a
  // webhook delivery). Without it a reconcile fetches only when it is.
  void RequestRefresh(const std::string& key);

 private:
  store::Store& store_;
  Sources& sources_;
  const Clock& clock_;
  std::function<void(const std::string&)> changed_;
  std::mutex mu_;
  std::set<std::string> refresh_;                                         // asked for
  std::map<std::string, std::chrono::steady_clock::time_point> fetched_;  // last fetch
};

}  // namespace strake::gitops
