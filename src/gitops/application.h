// ApplicationReconciler: keeps each Argo CD Application's resources equal to
// what its source declares at its target revision.
//
// One reconcile: fetch (at most once per refresh interval per repository),
// resolve the revision, render (cached per commit and source), compare with
// the live objects (three-way, ignoreDifferences), assess health, and, when
// a sync is due, run it: wave by wave (argocd.argoproj.io/sync-wave, then
// Argo CD's kind order), waiting for a wave to be healthy before the next,
// pruning last. A sync is an operation recorded in status.operationState
// before its first write, so a restart (kill -9 included) resumes it at the
// same revision. Automated sync runs when the revision moves, and on any
// drift with selfHeal; a revision whose sync failed is not retried
// automatically beyond spec.syncPolicy.retry, as in Argo CD. What to sync,
// in what order, and how a round ends are gitops/sync.h's pure functions;
// this class reads, asks them, and carries their answers out.
//
// A source that cannot be fetched, resolved or rendered never deletes
// anything: the Application reports a ComparisonError and keeps its state.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "controller/controller.h"
#include "gitops/render.h"
#include "gitops/sources.h"
#include "gitops/sync.h"
#include "store/store.h"

namespace strake::gitops {

// Writes resources as the API does (validation, three-way apply). Owned
// here, implemented by the server.
class ResourceWriter {
 public:
  virtual ~ResourceWriter() = default;
  // Applies `object` (its metadata.namespace set for namespaced kinds).
  virtual Status Apply(const store::Json& object) = 0;
  // Replaces the object with `object` (or creates it): Argo CD's Replace=true.
  virtual Status Replace(const store::Json& object) = 0;
  virtual Status Delete(const store::Key& key) = 0;
  // Whether the kind is served and namespaced; nullopt if it is not served.
  virtual std::optional<bool> Namespaced(const std::string& api_version,
                                         const std::string& kind) = 0;
};

struct SyncRequest {
  std::string revision;  // "" = the target revision
  bool prune = false;
  bool dry_run = false;
  store::Json initiated_by;  // Argo's operation.initiatedBy; null = {"username": "api"}
  store::Json info;          // Argo's operation.info ([{name, value}]); null = none
};

struct ResourceDiff {
  store::Key key;
  std::string api_version;
  std::string status;  // Synced, OutOfSync
  bool requires_pruning = false;
  std::string diff;  // unified diff live -> desired, Secret values masked
};

class ApplicationReconciler {
 public:
  ApplicationReconciler(store::Store& store, ResourceWriter& writer, Sources& sources,
                        const Clock& clock);

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

  // Starts a sync (recorded, then run by the next reconcile); with dry_run,
  // says what it would do and changes nothing.
  Result<store::Json> Sync(const std::string& ns, const std::string& name, const SyncRequest& req);
  // Differences between the live objects and the target revision (fetched now).
  Result<std::vector<ResourceDiff>> Diff(const std::string& ns, const std::string& name);
  // Syncs to history entry `id` and turns automated sync off, as Argo CD does.
  Status Rollback(const std::string& ns, const std::string& name, int64_t id, bool prune);

  // Told of every automated sync: `begin` before its operation is written
  // (a sync whose record cannot begin does not start) returns an id, which
  // `end` gets with whether the operation was written (a conflict: not yet).
  struct SyncAudit {
    std::function<Result<std::string>(const std::string& target, const std::string& detail)> begin;
    std::function<void(const std::string& id, bool made)> end;
  };
  void SetAudit(SyncAudit audit) { audit_ = std::move(audit); }

  // The Applications (work-queue keys) whose resources include `key`.
  std::vector<std::string> AppsManaging(const store::Key& key) const;
  // The Applications whose source is `url` and whose path `change` touched
  // (to be reconciled first): found through an index by url and path, in
  // time proportional to the change, not to the number of Applications.
  std::vector<std::string> AppsTouched(const std::string& url, const SourceChange& change) const;
  // Every Application whose source is `url`.
  std::vector<std::string> AppsOfRepo(const std::string& url) const;

 private:
  struct Compared;
  struct Round;     // one reconcile's status: as read, and as it becomes
  struct Target;    // what the source declares at the revision compared against
  class Operation;  // one round of a running sync
  struct Event {    // what a reconcile tells of itself
    std::string reason = "Reconciled";
    std::string message;
  };
  // The read: fetch, resolve, render, prepare; an error is a ComparisonError.
  Result<Target> Load(Round& round, const std::string& key, const model::ApplicationSpec& spec);
  Result<controller::ReconcileResult> StartAutomatedSync(Round& round,
                                                         const model::ApplicationSpec& spec,
                                                         const std::string& sha, bool self_heal);
  Event RunOperation(Round& round, const model::ApplicationSpec& spec, const Target& target,
                     const Compared& c);
  // Writes the comparison into the status; says what changed.
  Event ShowComparison(Round& round, const model::ApplicationSpec& spec, const Target& target,
                       const Compared& c);
  Result<controller::ReconcileResult> ComparisonError(Round& round, const std::string& what);
  // An Application being deleted (metadata.deletionTimestamp): Argo CD's
  // finalizers, one step a reconcile: its PreDelete hooks, then its
  // resources (resources-finalizer), then its PostDelete hooks (deleted
  // once done); then the Application itself.
  Result<controller::ReconcileResult> Finalize(Round& round, const std::string& key,
                                               const model::ApplicationSpec& spec);
  // Adds pre-/post-delete-finalizer when the source has such hooks; whether
  // it did (the object changed: the reconcile ends there).
  Result<bool> AddDeleteFinalizers(const store::Resource& app, const std::vector<Desired>& hooks);
  Status DropFinalizers(const store::Resource& app,
                        const std::function<bool(const std::string&)>& drop);
  Result<controller::ReconcileResult> WriteStatus(Round& round, const Event& event);
  // `app`'s source at `sha`, with Argo CD's source parameter files of its
  // directory at `sha` merged over it, its jsonnet values expanded with
  // Argo CD's $ARGOCD_APP_* variables.
  Result<std::shared_ptr<const Rendered>> RenderCached(const SourceState& src,
                                                       const store::Resource& app,
                                                       const model::ApplicationSpec& spec,
                                                       const std::string& sha);
  // The rendered objects as they are to be applied; an object declared more
  // than once is its last declaration, told in `warnings`.
  Result<std::vector<Desired>> Prepare(const Rendered& r, const store::Key& app,
                                       const model::ApplicationSpec& spec,
                                       std::vector<std::string>* warnings = nullptr);
  Compared Compare(const store::Resource& app, const model::ApplicationSpec& spec,
                   const std::vector<Desired>& desired);
  void Remember(const std::string& app_key, const std::vector<Desired>& desired,
                const std::string& url, const std::string& path);
  void Forget(const std::string& app_key);

  store::Store& store_;
  ResourceWriter& writer_;
  Sources& sources_;
  const Clock& clock_;
  SyncAudit audit_;

  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>> managed_by_;  // resource key -> app keys
  std::map<std::string, std::vector<std::string>> manages_;  // app key -> resource keys
  struct Source {
    std::string url;
    std::string path;  // cleaned, "." = root
  };
  std::map<std::string, Source> repo_of_;  // app key -> its source
  // url -> path -> app keys (the same facts as repo_of_, the other way).
  std::unordered_map<std::string, std::map<std::string, std::set<std::string>>> by_source_;
  // Rendered sources by url, commit and source options; least recently used
  // first out.
  // Rendered sources by repo, revision and path: least recently used evicted
  // first, in O(1) (thousands of Applications render a new revision at once).
  struct CachedRender {
    std::string key;
    std::shared_ptr<const Rendered> rendered;
  };
  JsonnetEvaluator jsonnet_;
  std::mutex render_mu_;
  std::list<CachedRender> render_lru_;  // most recently used first
  std::unordered_map<std::string, std::list<CachedRender>::iterator> rendered_;
  // Renders that failed slowly: the error, and when.
  std::unordered_map<std::string, std::pair<Error, std::chrono::steady_clock::time_point>>
      failed_renders_;
};

}  // namespace strake::gitops
