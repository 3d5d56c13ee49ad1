// RepositoryReconciler: fetches each strake.dev/v1 Repository every
// pollInterval (jittered by up to a tenth), records what it found in its
// status (branches and their commits, the last fetch, the error if any),
// and tells the Applications reading it when the branches moved. A webhook
// delivery asks for the same fetch at once (Refresh).
//
// A branch that moved (or appeared) since the last recorded fetch is a push:
// the push handler starts the pipelines it asks for (Pipelines-as-Code), and
// what it started, or why it refused, is kept in status.pipelinesAsCode (the
// last 20). The first fetch of a Repository only records the branches. The
// status is written after the handler, so a push is never missed; the
// handler names runs after the push, so one seen twice starts once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "base/clock.h"
#include "controller/controller.h"
#include "gitops/pipelines_as_code.h"
#include "gitops/sources.h"
#include "store/store.h"

namespace strake::gitops {

// What a push started: the PipelineRuns' names, or why it started none.
struct PushResult {
  std::vector<std::string> runs;
  std::string error;
};
// An error result is one to retry (the store failed); a refusal is a PushResult.
using PushHandler = std::function<Result<PushResult>(const Mirror&, const PushEvent&)>;

class RepositoryReconciler {
 public:
  // `changed(url)` is called after a fetch that moved a branch; `pushed`
  // (may be empty) for each branch that moved.
  RepositoryReconciler(store::Store& store, Sources& sources, const Clock& clock,
                       std::function<void(const std::string& url)> changed,
                       PushHandler pushed = {});

  Result<controller::ReconcileResult> Reconcile(const std::string& key);
  // The next reconcile of `key` fetches even if its poll is not due (a
  // webhook delivery). Without it a reconcile fetches only when it is.
  void RequestRefresh(const std::string& key);

 private:
  store::Store& store_;
  Sources& sources_;
  const Clock& clock_;
  std::function<void(const std::string&)> changed_;
  PushHandler pushed_;
  std::mutex mu_;
  std::set<std::string> refresh_;                                         // asked for
  std::map<std::string, std::chrono::steady_clock::time_point> fetched_;  // last fetch
};

}  // namespace strake::gitops
