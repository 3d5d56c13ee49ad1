// Api: strake's REST API, Kubernetes-shaped.
//
// Paths: /api/v1/... for the core kinds (services, configmaps, secrets),
// /apis/GROUP/VERSION/... for the others; then namespaces/NS/PLURAL[/NAME],
// or PLURAL alone for every namespace (and for cluster-scoped kinds).
//
//   GET    PLURAL[?labelSelector=k=v,k2]   list
//   GET    PLURAL?watch=true&resourceVersion=N   newline-delimited JSON events
//   GET    PLURAL/NAME                    one object
//   PUT    PLURAL/NAME    create or replace (spec, labels, annotations; status is kept)
//   POST   PLURAL         create (409 if it exists)
//   PATCH  PLURAL/NAME    Content-Type application/merge-patch+json (RFC 7386),
//                         application/json-patch+json (RFC 6902), or
//                         application/apply-patch+yaml: a three-way apply that
//                         creates if missing (what `strake apply` sends).
//                         metadata.resourceVersion in a patch is a precondition.
//   DELETE PLURAL/NAME    delete (a Rollout's revisions and analysis runs go with it)
//   POST   rollouts/NAME/{promote,abort,retry,undo}   body {"full":true} / {"toRevision":N}
//   GET    rollouts/NAME/logs?revision=stable|canary  the replicas' logs
//   GET    pipelineruns/NAME/logs?task=T&step=S&after=CURSOR   step logs (run_logs.h):
//   GET    taskruns/NAME/logs?step=S&after=CURSOR   {"items":[{"task","taskRun","step",
//                         "text"}],"cursor","done","more"}; after=the last answer's cursor
//                         gives what was written since (a client following a run)
//   POST   applications/NAME/sync      body {"revision":R,"prune":true,"dryRun":true}
//   GET    applications/NAME/diff      per resource: status and a unified diff
//   POST   applications/NAME/rollback  body {"id":N,"prune":true}
//   POST   freights/NAME/approve       body {"stage":S}: Kargo's manual approval
//   POST   promotions                  body {"spec":{"stage":S,"freight":F}}: named and
//                         given its Stage's steps by admission, as Kargo's webhook does
//   GET    /apis/strake.dev/v1/events?since=N&kind=K&name=N  the change log
//   POST   /webhooks/{github,gitlab,gitea,generic}   see webhooks.h
//   GET    /metrics   /healthz
//
// Every object is validated by the same strict decoder as `strake validate`
// before anything is written; errors are JSON with a reason, the field path
// and a fitting status (400, 404, 409, 413, 422). Secret values never leave
// the server: data and stringData come back as "<redacted>", a PipelineRun
// does not show the Secrets it carries, and logs are masked with every
// Secret value of their namespace. The spec of a finished PipelineRun or
// TaskRun no longer changes (409), as Tekton's admission refuses it: a cancel
// (PATCH {"spec":{"status":"Cancelled"}}) of a run that has ended says so.
//
// Thread-safe: called from the HTTP server's connection threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "base/mask.h"
#include "delivery/criteria.h"
#include "gitops/application.h"
#include "insight/ledger.h"
#include "insight/provenance.h"
#include "model/kinds.h"
#include "rollout/controller.h"
#include "rollout/target.h"
#include "router/router.h"
#include "server/http_server.h"
#include "server/presented_cache.h"
#include "server/webhooks.h"
#include "store/store.h"

namespace strake::server {

using model::KindInfo;

// The kinds the API serves (model/kinds.h, those marked served); nullptr if
// unknown or not served.
const KindInfo* KindByPlural(const std::string& plural);
const KindInfo* KindByName(const std::string& kind);  // kind, plural or short name, any case
const KindInfo* KindOf(const std::string& api_version, const std::string& kind);

enum class PatchMode { kMerge, kJson, kApply };

class Api {
 public:
  // `workloads` keeps the replicas' logs; `traffic` forgets a deleted Service.
  Api(store::Store& store, rollout::RolloutReconciler& rollouts,
      const rollout::WorkloadTarget& workloads, rollout::TrafficRouter& traffic,
      router::RouterControl& router, const std::atomic<bool>& stopping);
  // The API of a data directory's store with none of a server's controllers,
  // which the CLI answers from in-process when no server runs (cli/client.h):
  // the resources, their events and the step logs of runs are served as
  // above; rollout actions and logs are 503, /metrics has no router's lines.
  explicit Api(store::Store& store);
  Response Handle(const Request& req);
  // The Application verbs (sync, diff, rollback) go to `apps`.
  void SetApplications(gitops::ApplicationReconciler* apps) { apps_ = apps; }
  // POST /webhooks/... go to `hooks`.
  void SetWebhooks(Webhooks* hooks) { hooks_ = hooks; }
  // POST …/pullrequests/NAME/merge and …/close go to `prs`: the action
  // ("merge", "close"), namespace, name, merge method and who asked; the
  // pull request's status after (delivery/pull_request.h).
  using PullRequestActions = std::function<Result<nlohmann::ordered_json>(
      const std::string& action, const std::string& ns, const std::string& name,
      const std::string& method, const std::string& actor)>;
  void SetPullRequests(PullRequestActions prs) { pull_requests_ = std::move(prs); }
  // How promotion criteria read an Artifact's provenance (the server's
  // keys); unset, `provenance` is never verified.
  void SetProvenance(delivery::ProvenanceReader read) { provenance_ = std::move(read); }
  // Whose public keys GET …/namespaces/NS/provenance/publickey serves.
  void SetKeyring(const insight::Keyring* keys) { keys_ = keys; }
  // GET …/dora/metrics reads `ledger` (a server's, kept by its recorder);
  // without one (the CLI's in-process API, one command long), the API
  // reads its own from the store at the first ask.
  void SetDora(insight::Ledger* ledger) { dora_ = ledger; }
  // More lines for /metrics (the controllers').
  void SetMetrics(std::function<std::string()> more) { more_metrics_ = std::move(more); }

  // A CustomResourceDefinition changed: the custom kinds (model/kinds.h)
  // are read again from the store before the next request or write (not
  // here: this is called from the store's change callback).
  void CustomKindsChanged() { ++custom_kinds_changes_; }
  // Reads the custom kinds again if a CustomResourceDefinition changed.
  void RefreshCustomKinds();

  // An apply (three-way, validated) and a delete, as their requests do.
  Status ApplyObject(const store::Json& object);
  // A replace (validated), as a PUT does: the object becomes `object`, or is created.
  Status ReplaceObject(const store::Json& object);
  Status DeleteObject(const store::Key& key);
  // A create, as a POST does (admission included); the name it was given.
  Result<std::string> CreateObject(const store::Json& object);

  // The resource as the API shows it (metadata filled in, secrets masked).
  static store::Json Present(const store::Resource& r);
  // The same, taking the object and status over (no copy).
  static store::Json Present(store::Resource&& r);

 private:
  // Keeps feed_ up to date with the store's changes.
  void Subscribe();
  Response Get(const KindInfo& k, const std::string& ns, const std::string& name);
  Response List(const KindInfo& k, const std::string& ns, const Request& req);
  // The presented texts of the objects of `kind` in `ns` that `selector`
  // selects, in the store's order: from presented_ where it has them at
  // their resourceVersion, the rest read (one List when most are not
  // there, else one Get each) and kept.
  Result<std::vector<PresentedCache::Text>> ListedTexts(const std::string& kind,
                                                        const std::string& ns,
                                                        const std::string& selector);
  // The Pods of processes in `ns` ("": all): replicas and Jobs' attempts
  // (pod_view.h), by namespace and name.
  std::vector<store::Json> ProcessPods(const std::string& ns);
  Response Watch(const KindInfo& k, const std::string& ns, const Request& req);
  Response Put(const KindInfo& k, const std::string& ns, const std::string& name,
               const Request& req, bool create_only);
  // PATCH: merge patch, JSON patch or apply (see model/merge.h).
  Response Patch(const KindInfo& k, const std::string& ns, const std::string& name,
                 const Request& req);
  // `dry_run` (Kubernetes' ?dryRun=All): the object as it would be stored,
  // nothing written.
  Response PatchObject(const KindInfo& k, const std::string& ns, const std::string& name,
                       PatchMode mode, store::Json patch, bool dry_run = false);
  // What a write of `body` over `live` (null: none) would store, unwritten.
  Response DryRun(const KindInfo& k, const std::string& ns, const std::string& name,
                  const store::Resource* live, store::Json body,
                  const std::map<std::string, std::string>& labels);
  // Checks a whole object for this path and normalises it to the form the
  // store keeps (server-set metadata and status dropped); the labels are
  // read out. A refusal is the response to send.
  std::optional<Response> Admit(const KindInfo& k, const std::string& ns,
                                const std::string& path_name, store::Json& body,
                                std::map<std::string, std::string>& labels);
  // nullopt if the object exists already.
  std::optional<Response> Create(const KindInfo& k, const std::string& ns, const std::string& name,
                                 const store::Json& body,
                                 const std::map<std::string, std::string>& labels);
  // Deletes what `owner` owns, as Kubernetes' garbage collector would.
  void DeleteOwned(const store::Resource& owner);
  Response Delete(const KindInfo& k, const std::string& ns, const std::string& name);
  Response RolloutAction(const std::string& ns, const std::string& name, const std::string& action,
                         const Request& req);
  // A masker of every Secret value in `ns`.
  Result<SecretMasker> NamespaceSecrets(const std::string& ns);
  Response RolloutLogs(const std::string& ns, const std::string& name, const Request& req);
  // GET pipelineruns/NAME/logs and taskruns/NAME/logs.
  Response RunLogs(const KindInfo& k, const std::string& ns, const std::string& name,
                   const Request& req);
  // Every Secret value of `ns` and those the PipelineRun `run` carries.
  Result<SecretMasker> RunSecrets(const std::string& ns, const std::string& run);
  Response Events(const Request& req);
  Response Dora(const std::string& ns, const std::string& what, const Request& req);
  // GET …/namespaces/NS/provenance/publickey: the PEM public key the
  // attestations of NS verify with (cosign.pub's form).
  Response ProvenanceKey(const std::string& ns, const std::string& what, const Request& req);
  // POST …/dora/incidents (server/incident_webhook.h).
  Response IncidentWebhook(const std::string& ns, const Request& req);
  Response ApplicationAction(const std::string& ns, const std::string& name,
                             const std::string& action, const Request& req);
  // POST freights/NAME/approve {"stage": S}: Kargo's manual approval.
  // GET …/stages/NAME/gates: delivery::GateReport of the Stage now.
  Response StageGates(const std::string& ns, const std::string& name);
  Response PullRequestAction(const std::string& ns, const std::string& name,
                             const std::string& action, const Request& req);
  Response FreightAction(const std::string& ns, const std::string& name, const std::string& action,
                         const Request& req);
  // POST promotions/NAME/approve|reject {"message": M}: a response to the
  // Promotion's wait-for-approval step that is running (server/approvals.cc).
  Response PromotionAction(const std::string& ns, const std::string& name,
                           const std::string& action, const Request& req);

  // The store's change feed, for watches: the newest revision, and a wake-up
  // on each change. Shared with the store's subscriber, which may outlive
  // the Api (the store calls it on any writing thread until it is closed).
  struct Feed {
    std::mutex mu;
    std::condition_variable cv;
    int64_t revision = 0;
  };
  std::shared_ptr<Feed> feed_ = std::make_shared<Feed>();

  store::Store& store_;
  // Null in the store-only API.
  rollout::RolloutReconciler* rollouts_ = nullptr;
  const rollout::WorkloadTarget* workloads_ = nullptr;
  rollout::TrafficRouter* traffic_ = nullptr;
  router::RouterControl* router_ = nullptr;
  std::atomic<bool> never_stopping_{false};
  // Lists' texts by object and resourceVersion (presented_cache.h): 64 MiB.
  PresentedCache presented_{size_t{64} << 20};
  std::mutex listed_mu_;
  std::unordered_set<std::string> listed_;  // kind/ns listed once already
  const std::atomic<bool>& stopping_;
  // CRD changes seen, and how many of them the custom kinds reflect (a
  // refresh lists the store under the mutex, then records what it saw).
  std::atomic<int64_t> custom_kinds_changes_{1};
  std::atomic<int64_t> custom_kinds_read_{0};
  std::mutex custom_kinds_mu_;
  gitops::ApplicationReconciler* apps_ = nullptr;
  insight::Ledger* dora_ = nullptr;
  std::mutex own_dora_mu_;
  std::unique_ptr<insight::Ledger> own_dora_;  // loaded at the first ask without dora_
  PullRequestActions pull_requests_;
  delivery::ProvenanceReader provenance_;
  const insight::Keyring* keys_ = nullptr;
  Webhooks* hooks_ = nullptr;
  std::function<std::string()> more_metrics_;
};

}  // namespace strake::server
