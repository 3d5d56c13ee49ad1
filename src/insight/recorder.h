// The DORA recorder: the controller that turns what the store's
// Applications, Promotions, Stages and Rollouts record into the ledger's deployments
// (insight/sources.h says how), with the commits each brought, and applies
// Incidents (model/incidents.h) to them: it finds the deployment an
// incident names (by id; by commit, the first deployment that brought it;
// by environment alone, the one running there when it opened) and says in
// the Incident's status which one it took, or why none. Level-based
// and idempotent: reconciling a resource again records nothing new, so it
// may run on every change of one and over all of them at start. Not
// thread-safe: one worker reconciles (its warnings are said once per
// resource and message).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "controller/controller.h"
#include "insight/ledger.h"
#include "insight/sources.h"
#include "store/store.h"

namespace strake::insight {

// Commits as a repository's history gives them (implemented over git by
// the server; insight reads no repository itself).
class CommitHistory {
 public:
  virtual ~CommitHistory() = default;
  // The commits that deploying `to` brought to an environment that ran
  // `from` before: those reachable from `to` and not from `from`, each with
  // its committer time; with no `from` ("": the environment's first
  // deployment), `to` alone.
  virtual Result<std::vector<store::DeploymentRecord::Commit>> Brought(const std::string& repo_url,
                                                                       const std::string& from,
                                                                       const std::string& to) = 0;
};

class Recorder final : public controller::Reconciler {
 public:
  Recorder(store::Store& store, Ledger& ledger, CommitHistory& history)
      : store_(store), ledger_(ledger), history_(history) {}

  // The work-queue key of a resource: "Kind/ns/name"; kinds other than
  // Application, Promotion, Stage, Rollout and Incident are not the recorder's (of
  // those, only an Incident's deletion means something to it).
  static bool Watches(const std::string& kind);
  static std::string KeyOf(const store::Key& key);

  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;

 private:
  Status RecordApplication(const store::Resource& app);
  Status RecordPromotion(const store::Resource& promotion);
  Status RecordFailures(const store::Resource& stage);
  // A standalone Rollout's completed revision; an Application's Rollout's
  // aborted canary fails the sync that started it.
  Status RecordRollout(const store::Resource& rollout);
  // Applies an Incident and writes what it found into its status; an
  // incident whose deployment is not recorded yet is looked at again.
  Result<controller::ReconcileResult> RecordIncident(const store::Resource& incident);
  // Looks at every resource of `ns` again: a finding an incident had
  // replaced is found again once it no longer fails that deployment.
  Status Rederive(const std::string& ns);
  // Records each, oldest first: with the commits it brought (read once;
  // again only while they could not be read), then what a rollback failed.
  Status RecordObserved(std::vector<Observed> observed);
  // The changes of the deployment of `d`'s environment after it, read
  // again (d was recorded after it).
  Status RereadNext(const store::DeploymentRecord& d);
  // The commits `d` brought since the deployment of its environment
  // before it, per repository of its heads.
  Result<std::vector<store::DeploymentRecord::Commit>> ChangesOf(const store::DeploymentRecord& d);
  // Logs `message` about `key` unless it was the last said about it.
  void Warn(const std::string& key, const std::string& message);

  store::Store& store_;
  Ledger& ledger_;
  CommitHistory& history_;
  std::map<std::string, std::string> warned_;  // key -> the last warning
  bool rederiving_ = false;
};

}  // namespace strake::insight
