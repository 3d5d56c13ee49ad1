#include "app/serve.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "app/image_source.h"
#include "app/limits.h"
#include "base/clock.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strings.h"
#include "controller/controller.h"
#include "delivery/artifact.h"
#include "delivery/builtin_steps.h"
#include "delivery/credentials.h"
#include "delivery/file_steps.h"
#include "delivery/gates.h"
#include "delivery/git_steps.h"
#include "delivery/http_step.h"
#include "delivery/promotion.h"
#include "delivery/pull_request.h"
#include "delivery/stage.h"
#include "delivery/warehouse.h"
#include "gitops/application.h"
#include "gitops/repository.h"
#include "gitops/sources.h"
#include "insight/ledger.h"
#include "insight/notifier.h"
#include "insight/provenance.h"
#include "insight/recorder.h"
#include "pipeline/engine.h"
#include "rollout/analysis.h"
#include "rollout/controller.h"
#include "rollout/experiment.h"
#include "rollout/service.h"
#include "rollout/target.h"
#include "router/remote.h"
#include "runtime/supervisor.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/commit_history.h"
#include "server/cronjobs.h"
#include "server/http_server.h"
#include "server/jobs.h"
#include "server/pipelines_on_push.h"
#include "server/pods.h"
#include "store/sqlite_store.h"
#include "targets/local.h"

namespace strake::app {

namespace {

// A controller::Reconciler that calls `fn`, with the one catch of its thread.
class Forward : public controller::Reconciler {
 public:
  explicit Forward(std::function<Result<controller::ReconcileResult>(const std::string&)> fn)
      : fn_(std::move(fn)) {}
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override {
    try {
      return fn_(key);
    } catch (const std::exception& e) {
      return Failf("{}: {}", key, e.what());
    }
  }

 private:
  std::function<Result<controller::ReconcileResult>(const std::string&)> fn_;
};

// The Rollouts (or Deployments) known, by namespace, to map changes of
// related kinds (an AnalysisRun, a Service, a ConfigMap) to the ones to look
// at again.
class RolloutIndex {
 public:
  void Add(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    names_.insert(controller::ObjectKey(ns, name));
  }
  void Remove(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    names_.erase(controller::ObjectKey(ns, name));
  }
  std::vector<std::string> InNamespace(const std::string& ns) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& k : names_) {
      if (StartsWith(k, ns + "/")) out.push_back(k);
    }
    return out;
  }
  std::vector<std::string> Every() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {names_.begin(), names_.end()};
  }
  // Follows a change of the indexed kind (added, modified or deleted).
  void Track(const store::Change& c) {
    if (c.type == "DELETED") {
      Remove(c.key.ns, c.key.name);
    } else {
      Add(c.key.ns, c.key.name);
    }
  }
  // The Rollout that owns a run named "<rollout>-<hash>-<suffix>".
  std::vector<std::string> OwnersOfRun(const std::string& ns, const std::string& run) const {
    std::vector<std::string> out;
    for (const auto& k : InNamespace(ns)) {
      if (StartsWith(run, k.substr(ns.size() + 1) + "-")) out.push_back(k);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::set<std::string> names_;
};

// gitops' ResourceWriter over the API's apply and delete.
class ApiWriter : public gitops::ResourceWriter {
 public:
  explicit ApiWriter(server::Api& api) : api_(api) {}
  Status Apply(const store::Json& object) override { return api_.ApplyObject(object); }
  Status Replace(const store::Json& object) override { return api_.ReplaceObject(object); }
  Status Delete(const store::Key& key) override { return api_.DeleteObject(key); }
  std::optional<bool> Namespaced(const std::string& api_version, const std::string& kind) override {
    api_.RefreshCustomKinds();
    const server::KindInfo* k = server::KindOf(api_version, kind);
    if (!k) return std::nullopt;
    return k->namespaced;
  }

 private:
  server::Api& api_;
};

// The first admin token, on a store with none, and its audit entry.
Status BootstrapToken(server::Tokens& tokens, server::AuditLog& audit,
                      const ServeOptions& options) {
  STRAKE_TRY_ASSIGN(intent,
                    audit.Begin({"strake", "token.create", "token", "the first admin token"}));
  auto first = tokens.Bootstrap();
  bool made = first && *first;
  STRAKE_TRY(audit.Finish(intent, made,
                          made ? "the first admin token, id " + (*first)->id : std::string()));
  if (!first) return tl::unexpected(first.error());
  // Marked shown only once printed: a kill before that makes the next
  // start revoke it and print a new one.
  if (*first && options.on_admin_token) {
    options.on_admin_token((*first)->token);
    STRAKE_TRY(tokens.Shown((*first)->id));
  }
  return Ok();
}

// Where the API listens, and its TLS when --tls-cert and --tls-key say so.
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::shared_ptr<TlsContext> tls;
};

Result<Endpoint> ParseEndpoint(const ServeOptions& options) {
  Endpoint e;
  auto colon = options.listen.rfind(':');
  if (colon == std::string::npos) return Failf("--listen {}: expected HOST:PORT", options.listen);
  e.host = options.listen.substr(0, colon);
  int port = std::atoi(options.listen.c_str() + colon + 1);
  if (port < 0 || port > 65535) return Failf("--listen {}: bad port", options.listen);
  e.port = static_cast<uint16_t>(port);
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Fail("strake serve: give both --tls-cert and --tls-key, or neither");
  if (!options.tls_cert.empty()) {
    auto t = TlsContext::Server(options.tls_cert, options.tls_key);
    if (!t) return tl::unexpected(t.error().Wrap("strake serve"));
    e.tls = std::move(*t);
  }
  return e;
}

std::string WorkDir(const ServeOptions& options) {
  if (!options.work_dir.empty()) return options.work_dir;
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? buf : "/";
}

// Commands that come from git run as pipeline steps do: the host read-only,
// the data directory hidden, their own PID namespace; the work directory
// is theirs to write. Null when there is no sandbox to use.
const Sandbox* SandboxFor(const ServeOptions& options, const std::string& work_dir,
                          Sandbox& storage) {
  storage = Sandbox{FindExecutable("bwrap", std::getenv("PATH") ? std::getenv("PATH") : ""),
                    {RealPath(options.data_dir)},
                    {work_dir},
                    false};
  if (!options.sandbox) return nullptr;
  if (storage.bwrap.empty()) {
    Log(LogLevel::kWarn,
        "bwrap not found: workloads, Jobs and analysis jobs run without a sandbox (install "
        "bubblewrap)");
    return nullptr;
  }
  return &storage;
}

// The data path runs in its own process, found again at its socket after a
// restart of this one: the service ports never stop answering.
router::RemoteRouterOptions RouterOptions(const ServeOptions& options) {
  router::RemoteRouterOptions ropt;
  ropt.socket_path = PathJoin(options.data_dir, "router.sock");
  ropt.log_path = PathJoin(options.data_dir, "logs/router.log");
  std::string exe = options.router_exe.empty() ? SelfExe() : options.router_exe;
  ropt.spawn_argv = {exe,         "router",
                     "--socket",  ropt.socket_path,
                     "--workers", std::to_string(options.router_workers)};
  return ropt;
}

// An automated sync's audit entries: the intent before, the entry after.
gitops::ApplicationReconciler::SyncAudit SyncAuditOf(server::AuditLog& audit) {
  return {[&audit](const std::string& what, const std::string& detail) {
            return audit.Begin({"controller", "sync", what, detail});
          },
          [&audit](const std::string& intent, bool made) {
            if (auto done = audit.Finish(intent, made); !done)
              Log(LogLevel::kError, "audit: sync: {}", done.error().message);
          }};
}

// A gate decision's audit entry (delivery/gates.h GateRecord).
delivery::GateRecord GateRecordOf(server::AuditLog& audit) {
  return
      [&audit](const std::string& target, const std::string& decision, const std::string& detail) {
        if (auto st = audit.Append({"controller", decision, target, detail}); !st)
          Log(LogLevel::kError, "audit: {} {}: {}", decision, target, st.error().message);
      };
}

// A webhook delivery's audit entry.
std::function<Status(const server::WebhookDelivery&)> WebhookAuditOf(server::AuditLog& audit) {
  return [&audit](const server::WebhookDelivery& d) {
    std::vector<std::string> names;
    for (const auto& k : d.repositories) names.push_back(k.ns + "/" + k.name);
    return audit.Append({"webhook:" + d.forge, "webhook", d.delivery_id,
                         fmt::format("{} {}{}", d.status, d.message,
                                     names.empty() ? "" : " (" + Join(names, ", ") + ")")});
  };
}

// Kargo's kinds (delivery/): Warehouses discover their subscriptions through
// the git mirrors Applications read and image registries (under the egress
// policy); Stages ask for Promotions (through the
// API's admission, as a person's would be); Promotions run their steps,
// argocd-update syncing strake's Applications. The controllers, declared
// last, stop before the reconcilers they call go.
struct DeliveryWork {
  DeliveryWork(store::Store& st, gitops::Sources& sources, const Clock& clock, server::Api& api,
               gitops::ApplicationReconciler& apps, const ServeOptions& options)
      : warehouses(st, sources, clock, options.egress),
        stages(st, clock, [&api](const store::Json& p) { return api.CreateObject(p); }),
        promotions(st, steps, clock, PathJoin(options.data_dir, "promotions")),
        artifacts(st),
        warehouses_fwd([this](const std::string& k) { return warehouses.Reconcile(k); }),
        artifacts_fwd([this](const std::string& k) { return artifacts.Reconcile(k); }),
        stages_fwd([this](const std::string& k) { return stages.Reconcile(k); }),
        promotions_fwd([this](const std::string& k) { return promotions.Reconcile(k); }),
        warehouse_ctl("warehouses", warehouses_fwd, 1),
        artifact_ctl("artifacts", artifacts_fwd, 1),
        stage_ctl("stages", stages_fwd, 1),
        promotion_ctl("promotions", promotions_fwd, 2) {
    delivery::AddBuiltinSteps(
        steps, st,
        [&apps](const std::string& ns, const std::string& name, const gitops::SyncRequest& req) {
          return apps.Sync(ns, name, req);
        });
    // Kargo's git credential Secrets of the Promotion's Project first, then
    // a Repository's (Argo CD's) of the same namespace for the URL.
    delivery::GitCredentialsFor creds = [&sources, &st](const std::string& ns,
                                                        const std::string& url) {
      auto kargo = delivery::KargoCredentials(st, ns, "git", url);
      if (kargo && *kargo) {
        return gitops::GitCredentials{(*kargo)->username, (*kargo)->password,
                                      (*kargo)->ssh_private_key};
      }
      return sources.CredentialsIn(ns, url);
    };
    delivery::AddGitSteps(steps, options.egress, creds);
    delivery::AddFileSteps(steps);
    delivery::AddHttpStep(steps, options.egress);
    // strake's own pull requests: opened, waited on and merged by steps,
    // merged or closed through the API.
    const delivery::PullRequestGit prs{options.egress, creds};
    delivery::AddPullRequestSteps(steps, st, prs);
    api.SetPullRequests([&st, prs](const std::string& action, const std::string& ns,
                                   const std::string& name, const std::string& method,
                                   const std::string& actor) {
      return action == "merge" ? delivery::MergePullRequest(st, prs, ns, name, method, actor)
                               : delivery::ClosePullRequest(st, ns, name, actor);
    });
    // The SBOMs runs name, fetched from their registries as Warehouses
    // read images.
    artifacts.SetSbomFetcher(
        delivery::RegistrySbomFetcher(st, options.egress, options.insecure_registries), clock);
    promotions.SetWake([this](const std::string& kind, const std::string& key) {
      (kind == "Stage" ? stage_ctl : promotion_ctl).Enqueue(key);
    });
  }
  std::vector<controller::Controller*> All() {
    return {&artifact_ctl, &warehouse_ctl, &stage_ctl, &promotion_ctl};
  }

  void Route(const store::Change& c) {
    const std::string key = controller::ObjectKey(c.key.ns, c.key.name);
    const std::string& kind = c.key.kind;
    if (kind == "Warehouse") {
      warehouse_index.Track(c);
      warehouse_ctl.Enqueue(key);
    }
    // A run that ended may have built something (delivery/artifact.h); a
    // new Artifact is looked for by the Warehouses of its namespace.
    if (kind == "PipelineRun" && c.type != "DELETED") artifact_ctl.Enqueue(key);
    if (kind == "Artifact" && c.type == "ADDED") {
      for (const auto& w : warehouse_index.InNamespace(c.key.ns)) warehouse_ctl.Enqueue(w);
    }
    // A Promotion's own status writes do not wake it (its reconciler asks
    // for the next look itself); made, changed or deleted, it is looked at.
    // One deleted may have been first in line: its Stage's others look too.
    if (kind == "Promotion") {
      promotion_index.Track(c);
      if (c.type != "MODIFIED" || c.reason == "Updated") promotion_ctl.Enqueue(key);
      if (c.type == "DELETED") {
        for (const auto& p : promotion_index.InNamespace(c.key.ns)) promotion_ctl.Enqueue(p);
        for (const auto& s : stage_index.InNamespace(c.key.ns)) stage_ctl.Enqueue(s);
      }
    }
    // A pull request merged or closed: the Promotion waiting on it looks
    // at once (its step polls too).
    if (kind == "PullRequest" && c.type == "MODIFIED") {
      for (const auto& p : promotion_index.InNamespace(c.key.ns)) promotion_ctl.Enqueue(p);
    }
    if (kind == "Stage") {
      stage_index.Track(c);
      stage_ctl.Enqueue(key);
      // Made or gone: the Stages that name it as upstream say so.
      if (c.type != "MODIFIED") {
        for (const auto& s : stage_index.InNamespace(c.key.ns)) stage_ctl.Enqueue(s);
      }
    }
    // New Freight, Freight verified or approved somewhere, a policy changed:
    // the Stages of the Project look again (auto-promotion).
    // A PipelineRun signed: criteria on its artifacts' provenance may hold.
    if (kind == "Freight" || kind == "ProjectConfig" ||
        (kind == "Attestation" && c.type == "ADDED" && StartsWith(c.key.name, "pipelinerun-"))) {
      for (const auto& s : stage_index.InNamespace(c.key.ns)) stage_ctl.Enqueue(s);
    }
    // A gate changed (a line stopped or resumed, a window or freeze edited):
    // the Promotions held by it look again at once, in the Project or
    // everywhere.
    if (kind == "ProjectConfig") {
      for (const auto& p : promotion_index.InNamespace(c.key.ns)) promotion_ctl.Enqueue(p);
    }
    // A Project relabelled: the ClusterConfig's projectSelectors may read it.
    if (kind == "Project") {
      for (const auto& s : stage_index.InNamespace(c.key.name)) stage_ctl.Enqueue(s);
      for (const auto& p : promotion_index.InNamespace(c.key.name)) promotion_ctl.Enqueue(p);
    }
    if (kind == "ClusterConfig") {
      for (const auto& s : stage_index.Every()) stage_ctl.Enqueue(s);
      for (const auto& p : promotion_index.Every()) promotion_ctl.Enqueue(p);
    }
    // A verification's run, named <stage>.<ulid>.<id>: its Stage.
    if (kind == "AnalysisRun") {
      const std::string& run = c.key.name;
      size_t last = run.rfind('.');
      size_t ulid =
          last == std::string::npos || last == 0 ? std::string::npos : run.rfind('.', last - 1);
      if (ulid != std::string::npos) {
        std::string stage = controller::ObjectKey(c.key.ns, run.substr(0, ulid));
        for (const auto& s : stage_index.InNamespace(c.key.ns))
          if (s == stage) stage_ctl.Enqueue(s);
      }
    }
  }

  Status EnqueueExisting(store::Store& st) {
    for (const auto& [kind, ctl] :
         {std::pair<const char*, controller::Controller*>{"Warehouse", &warehouse_ctl},
          {"Stage", &stage_ctl},
          {"Promotion", &promotion_ctl}}) {
      STRAKE_TRY_ASSIGN(all, st.List(kind, ""));
      for (const auto& o : all) {
        if (ctl == &stage_ctl) stage_index.Add(o.key.ns, o.key.name);
        if (ctl == &promotion_ctl) promotion_index.Add(o.key.ns, o.key.name);
        if (ctl == &warehouse_ctl) warehouse_index.Add(o.key.ns, o.key.name);
        ctl->Enqueue(controller::ObjectKey(o.key.ns, o.key.name));
      }
    }
    // Stages deleted just before the server died: what they left is cleared.
    STRAKE_TRY_ASSIGN(forgotten, delivery::ForgottenStages(st));
    for (const auto& key : forgotten) stage_ctl.Enqueue(key);
    // Runs that ended while the server was down (or before it recorded
    // what they built): recorded now; what exists is left as it is.
    STRAKE_TRY_ASSIGN(runs, st.ListHeads("PipelineRun", ""));
    for (const auto& r : runs) artifact_ctl.Enqueue(controller::ObjectKey(r.key.ns, r.key.name));
    return Ok();
  }

  delivery::StepRegistry steps;
  delivery::WarehouseReconciler warehouses;
  delivery::StageReconciler stages;
  delivery::PromotionReconciler promotions;
  delivery::ArtifactRecorder artifacts;
  RolloutIndex stage_index;
  RolloutIndex promotion_index;
  RolloutIndex warehouse_index;
  Forward warehouses_fwd;
  Forward artifacts_fwd;
  Forward stages_fwd;
  Forward promotions_fwd;
  controller::Controller warehouse_ctl;
  controller::Controller artifact_ctl;
  controller::Controller stage_ctl;
  controller::Controller promotion_ctl;
};

// DORA: the ledger of deployments (loaded from the store before anything
// is recorded) and its recorder, woken by the Applications, Promotions and
// Stages whose status records a deployment or a failed verification,
// Rollouts (completed or aborted) and Incidents; the commits each brought read from the git
// mirrors. Provenance: each PipelineRun and TaskRun signed when it ends,
// with the keys under <data-dir>/keys, which the API, the Stages and the
// Promotions verify with.
struct InsightWork {
  // The API answers DORA's questions from this ledger; the API, the
  // Stages and the Promotions check provenance with these keys.
  InsightWork(store::Store& st, gitops::Sources& sources, server::Api& api, DeliveryWork& delivery,
              const Clock& clock, const ServeOptions& options)
      : ledger(st),
        history(sources),
        recorder(st, ledger, history),
        keys(PathJoin(options.data_dir, "keys")),
        signer(st, keys),
        notifier(st, clock, insight::MakeNotificationSender(options.egress)),
        fwd([this](const std::string& k) { return recorder.Reconcile(k); }),
        sign_fwd([this](const std::string& k) { return signer.Reconcile(k); }),
        notify_fwd([this](const std::string& k) { return notifier.Reconcile(k); }),
        ctl("dora", fwd, 1),
        sign_ctl("provenance", sign_fwd, 1),
        notify_ctl("notifications", notify_fwd, 4) {
    notifier.SetEnqueue([this](const std::string& k) { notify_ctl.Enqueue(k); });
    api.SetDora(&ledger);
    api.SetKeyring(&keys);
    api.SetProvenance(Provenance(st));
    delivery.stages.SetProvenance(Provenance(st));
    delivery.promotions.SetProvenance(Provenance(st));
  }

  // An Artifact's provenance for promotion criteria, verified with `keys`.
  delivery::ProvenanceReader Provenance(store::Store& st) const {
    return [&st, this](const std::string& ns, const store::Json& spec) {
      return insight::ArtifactProvenance(st, keys, ns, spec);
    };
  }

  void Route(const store::Change& c) {
    if ((c.key.kind == "PipelineRun" || c.key.kind == "TaskRun") && c.type != "DELETED")
      sign_ctl.Enqueue(insight::ProvenanceRecorder::KeyOf(c.key));
    RouteNotifications(c);
    if (!insight::Recorder::Watches(c.key.kind)) return;
    if (c.type != "DELETED" || c.key.kind == "Incident")
      ctl.Enqueue(insight::Recorder::KeyOf(c.key));
  }
  // Every resource that may record a deployment or fail one (what happened
  // while the server was down is recorded now, an incident deleted then
  // forgotten; the first reconcile reads the ledger's records, on the
  // recorder's thread).
  Status EnqueueExisting(store::Store& st) {
    for (const char* kind : {"Application", "Promotion", "Stage", "Rollout", "Incident"}) {
      STRAKE_TRY_ASSIGN(all, st.ListHeads(kind, ""));
      for (const auto& o : all) ctl.Enqueue(insight::Recorder::KeyOf(o.key));
    }
    STRAKE_TRY_ASSIGN(failing, st.IncidentsMarking());
    for (const std::string& key : failing) ctl.Enqueue("Incident/" + key);
    // What may have changed while the server was down is decided now;
    // an outbox left unsent is sent.
    for (const auto& kind : insight::SubjectKinds()) {
      STRAKE_TRY_ASSIGN(all, st.ListHeads(kind, ""));
      for (const auto& o : all) notify_ctl.Enqueue(insight::Notifier::KeyOf(o.key));
    }
    // And the records of objects deleted while it was down.
    STRAKE_TRY_ASSIGN(records, st.List(insight::kNotificationStateKind, ""));
    for (const auto& r : records) notify_ctl.Enqueue(insight::Notifier::SubjectKeyOf(r));
    // Runs that ended while the server was down (or before it signed
    // them, or whose Attestation was deleted): signed now.
    STRAKE_TRY_ASSIGN(signed_runs, st.ListHeads("Attestation", ""));
    std::set<std::string> attested;
    for (const auto& a : signed_runs) attested.insert(a.key.ns + "/" + a.key.name);
    for (const char* kind : {"PipelineRun", "TaskRun"}) {
      STRAKE_TRY_ASSIGN(runs, st.ListHeads(kind, ""));
      for (const auto& r : runs) {
        if (!attested.contains(r.key.ns + "/" + insight::AttestationName(kind, r.uid)))
          sign_ctl.Enqueue(insight::ProvenanceRecorder::KeyOf(r.key));
      }
    }
    return Ok();
  }

  // Notifications: every change of an object they may be about (its
  // events are read from the change log); new settings look at every
  // such object of their namespace again.
  void RouteNotifications(const store::Change& c) {
    if (insight::Notifier::Watches(c.key.kind) || insight::Notifier::IsSettings(c.key))
      notify_ctl.Enqueue(insight::Notifier::KeyOf(c.key));
  }

  insight::Ledger ledger;
  server::SourcesCommitHistory history;
  insight::Recorder recorder;
  insight::Keyring keys;
  insight::ProvenanceRecorder signer;
  insight::Notifier notifier;
  Forward fwd;
  Forward sign_fwd;
  Forward notify_fwd;
  controller::Controller ctl;
  controller::Controller sign_ctl;
  controller::Controller notify_ctl;
};

// The controllers of `strake serve`, and which of them a change wakes.
struct Controllers {
  controller::Controller& rollouts;
  controller::Controller& analyses;
  controller::Controller& deployments;
  controller::Controller& apps;
  controller::Controller& repos;
  controller::Controller& jobs;
  controller::Controller& services;
  controller::Controller& experiments;
  controller::Controller& pods;
  controller::Controller& cronjobs;
  DeliveryWork& delivery;
  const gitops::ApplicationReconciler& app_reconciler;
  InsightWork& dora;
  RolloutIndex rollout_index{};
  RolloutIndex experiment_index{};
  RolloutIndex deployment_index{};
  RolloutIndex service_index{};

  std::vector<controller::Controller*> All() const {
    std::vector<controller::Controller*> all = {&rollouts, &analyses, &deployments, &apps,
                                                &repos,    &jobs,     &services,    &experiments,
                                                &pods,     &cronjobs};
    for (auto* c : delivery.All()) all.push_back(c);
    all.push_back(&dora.ctl);
    all.push_back(&dora.sign_ctl);
    all.push_back(&dora.notify_ctl);
    return all;
  }

  // A workload of `ns` changed (its spec, its status, its replicas): the
  // Services there may be selected, routed or ready differently.
  void ServicesOf(const std::string& ns) {
    for (const auto& s : service_index.InNamespace(ns)) services.Enqueue(s);
  }

  void Route(const store::Change& c) {
    const std::string key = controller::ObjectKey(c.key.ns, c.key.name);
    const std::string& kind = c.key.kind;
    // Made, deleted or its object (spec) written: not a status write.
    const bool object_changed = c.type != "MODIFIED" || c.reason == "Updated";
    if (kind == "Application") apps.Enqueue(key);
    if (kind == "Repository") repos.Enqueue(key);
    if (kind == "Job") jobs.Enqueue(key);
    if (kind == "Pod") pods.Enqueue(key);
    if (kind == "CronJob") cronjobs.Enqueue(key);
    delivery.Route(c);
    dora.Route(c);
    // Drift, deletion or a status change of a managed resource: its
    // Applications compare again (self-heal, health).
    for (const auto& a : app_reconciler.AppsManaging(c.key)) apps.Enqueue(a);
    if (kind == "Rollout" || kind == "Deployment") ServicesOf(c.key.ns);
    if (kind == "Service") {
      service_index.Track(c);
      services.Enqueue(key);
    }
    if (kind == "Rollout") {
      rollout_index.Track(c);
      rollouts.Enqueue(key);
      // A Deployment it references (workloadRef) leaves it its Services,
      // and takes them back when the Rollout, or its reference, goes.
      if (object_changed)
        for (const auto& d : deployment_index.InNamespace(c.key.ns)) deployments.Enqueue(d);
    } else if (kind == "AnalysisRun") {
      analyses.Enqueue(key);
      for (const auto& r : rollout_index.OwnersOfRun(c.key.ns, c.key.name)) rollouts.Enqueue(r);
      for (const auto& e : experiment_index.OwnersOfRun(c.key.ns, c.key.name))
        experiments.Enqueue(e);
    } else if (kind == "Experiment") {
      // An experiment step's Experiment is named <rollout>-<hash>-…
      experiment_index.Track(c);
      experiments.Enqueue(key);
      for (const auto& r : rollout_index.OwnersOfRun(c.key.ns, c.key.name)) rollouts.Enqueue(r);
    } else if (kind == "Deployment") {
      deployment_index.Track(c);
      deployments.Enqueue(key);
      // A Rollout may take its template from it (spec.workloadRef); its
      // replicas' changes reach the Rollout through ReplicasChanged.
      if (object_changed)
        for (const auto& r : rollout_index.InNamespace(c.key.ns)) rollouts.Enqueue(r);
    } else if (kind == "Service" || kind == "ConfigMap" || kind == "Secret" ||
               kind == "AnalysisTemplate") {
      for (const auto& r : rollout_index.InNamespace(c.key.ns)) rollouts.Enqueue(r);
      for (const auto& d : deployment_index.InNamespace(c.key.ns)) deployments.Enqueue(d);
    }
  }

  // A replica group changed: "ns/workload/hash" (rollout::OwnerOfWorkload
  // names the workload's owner).
  void ReplicasChanged(const std::string& group) {
    auto parts = Split(group, '/');
    if (parts.size() != 3) return;
    const std::string& ns = parts[0];
    ServicesOf(ns);
    rollout::WorkloadOwner owner = rollout::OwnerOfWorkload(parts[1]);
    if (owner.kind == "Deployment") {
      deployments.Enqueue(ns + "/" + owner.name);
      // A Rollout whose workloadRef names it routes these replicas too: one
      // that stops leaves its routes before its drain delay is over.
      for (const auto& r : rollout_index.InNamespace(ns)) rollouts.Enqueue(r);
    } else if (owner.kind == "Experiment") {
      // The Experiment, and the Rollout that routes its weighted templates.
      experiments.Enqueue(ns + "/" + owner.name);
      for (const auto& r : rollout_index.OwnersOfRun(ns, owner.name)) rollouts.Enqueue(r);
    } else {
      rollouts.Enqueue(ns + "/" + owner.name);
    }
  }

  // Everything in the store is looked at once at start.
  Status EnqueueExisting(store::Store& st) {
    struct Seed {
      const char* kind;
      controller::Controller* ctl;
      RolloutIndex* index;
    };
    for (const Seed& seed :
         {Seed{"Rollout", &rollouts, &rollout_index},
          Seed{"Deployment", &deployments, &deployment_index},
          Seed{"AnalysisRun", &analyses, nullptr}, Seed{"Job", &jobs, nullptr},
          Seed{"Pod", &pods, nullptr}, Seed{"CronJob", &cronjobs, nullptr},
          Seed{"Application", &apps, nullptr}, Seed{"Repository", &repos, nullptr},
          Seed{"Service", &services, &service_index},
          Seed{"Experiment", &experiments, &experiment_index}}) {
      STRAKE_TRY_ASSIGN(all, st.List(seed.kind, ""));
      for (const auto& o : all) {
        if (seed.index) seed.index->Add(o.key.ns, o.key.name);
        seed.ctl->Enqueue(controller::ObjectKey(o.key.ns, o.key.name));
      }
    }
    STRAKE_TRY(dora.EnqueueExisting(st));
    return delivery.EnqueueExisting(st);
  }

  std::string PrometheusText() const {
    std::string text;
    for (const controller::Controller* c : All()) text += c->PrometheusText();
    return text;
  }
  void Start() {
    for (auto* c : All()) c->Start();
  }
  // Promotions (which sync Applications) first; then Applications,
  // repositories and Jobs, as before the split.
  void Stop() {
    for (auto* c : delivery.All()) c->Stop();
    for (auto* c : {&apps, &repos, &cronjobs, &jobs, &pods, &rollouts, &experiments, &analyses,
                    &deployments, &services, &dora.ctl, &dora.sign_ctl, &dora.notify_ctl})
      c->Stop();
  }
};

// Jobs (a sync hook's, or anyone's) run to completion as processes; Pods
// run and restart by their restartPolicy, as the kubelet would; CronJobs
// make Jobs on their schedule. Each reconciler's enqueue reaches its
// controller, which outlives it.
struct BatchWork {
  BatchWork(store::Store& st, const Clock& clock, const std::string& data_dir,
            const std::string& work_dir, const Sandbox* box, ContainerImages* images,
            const Cgroups* cgroups)
      : jobs(st, clock,
             server::AttemptPlace{PathJoin(data_dir, "logs/jobs"), work_dir, box, images, cgroups},
             [this](const std::string& k) { job_ctl->Enqueue(k); }),
        pods(st, clock,
             server::AttemptPlace{PathJoin(data_dir, "logs/pods"), work_dir, box, images, cgroups},
             [this](const std::string& k) { pod_ctl->Enqueue(k); }),
        crons(st, clock),
        jobs_fwd([this](const std::string& k) { return jobs.Reconcile(k); }),
        pods_fwd([this](const std::string& k) { return pods.Reconcile(k); }),
        crons_fwd([this](const std::string& k) { return crons.Reconcile(k); }) {
    job_ctl = std::make_unique<controller::Controller>("jobs", jobs_fwd, 2);
    pod_ctl = std::make_unique<controller::Controller>("pods", pods_fwd, 2);
    cron_ctl = std::make_unique<controller::Controller>("cronjobs", crons_fwd, 1);
  }
  std::unique_ptr<controller::Controller> job_ctl;
  std::unique_ptr<controller::Controller> pod_ctl;
  std::unique_ptr<controller::Controller> cron_ctl;
  server::JobReconciler jobs;
  server::PodReconciler pods;
  server::CronJobReconciler crons;
  Forward jobs_fwd;
  Forward pods_fwd;
  Forward crons_fwd;
};

// With the sandbox the replicas run in their images too (`images` not
// null); a pull that ends wakes the revision's owner as a replica's change
// does. Stop() before the controllers stop: no wake reaches them after.
struct ImageWakes {
  ImageWakes(targets::LocalTarget& target, StoreImageSource* images, Controllers& ctls,
             const std::string& data_dir)
      : target(target), images(images) {
    if (!images) return;
    target.UseImages(
        images, [&ctls](const std::string& group) { ctls.ReplicasChanged(group); },
        ImagePinsPath(data_dir));
  }
  ~ImageWakes() { Stop(); }  // an early return (the port taken) too
  ImageWakes(const ImageWakes&) = delete;
  ImageWakes& operator=(const ImageWakes&) = delete;
  void Stop() {
    if (!images) return;
    target.UseImages(images, nullptr);
    images->DropWaiters();  // the Jobs' and Pods' wakes go with BatchWork
    images = nullptr;
  }
  targets::LocalTarget& target;
  StoreImageSource* images;
};

// Replicas a previous run left and no Rollout claims any more: stopped once
// every Rollout has been reconciled (or after 10 s).
std::thread CollectOrphansLater(const Controllers& ctls, runtime::Supervisor& supervisor,
                                targets::LocalTarget& target, const std::atomic<bool>& stopping) {
  return std::thread([&ctls, &supervisor, &target, &stopping] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    while ((ctls.rollouts.queue().Len() > 0 || ctls.deployments.queue().Len() > 0 ||
            ctls.services.queue().Len() > 0) &&
           std::chrono::steady_clock::now() < until && !stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!stopping) {
      supervisor.CollectOrphans();
      target.CollectOrphans();
    }
  });
}

// With --image-store-max-size: the image store collected at each interval
// (the first a minute after start, when the adopted replicas have their
// pins again), keeping what the revisions are pinned to and what runs.
std::thread CollectImagesEvery(StoreImageSource* images, targets::LocalTarget& target,
                               const ServeOptions& options, const std::atomic<bool>& stopping) {
  if (!images || options.image_store_max_bytes <= 0) return std::thread();
  return std::thread([images, &target, &options, &stopping] {
    auto next =
        std::chrono::steady_clock::now() +
        std::min<std::chrono::milliseconds>(options.image_gc_interval, std::chrono::minutes(1));
    while (!stopping) {
      if (std::chrono::steady_clock::now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      next = std::chrono::steady_clock::now() + options.image_gc_interval;
      auto c = images->Collect(options.image_store_max_bytes, target.PinnedRoots());
      if (!c) {
        // Busy (a `strake run` has the store open): only tried again.
        Log(c.error().code == ErrorCode::kConflict ? LogLevel::kInfo : LogLevel::kWarn,
            "image collection: {}", c.error().message);
      } else if (c->references + c->manifests + c->roots + c->layers > 0) {
        Log(LogLevel::kInfo,
            "image collection: removed {} references, {} roots, {} layers; {} bytes, was {}",
            c->references, c->roots, c->layers, c->bytes_after, c->bytes_before);
      }
    }
  });
}

// The server's chores besides its controllers (the two above); Stop says
// stop and waits for them.
struct Chores {
  std::atomic<bool>& stopping;
  std::thread orphans, images;
  void Stop() {
    stopping = true;
    for (std::thread* t : {&orphans, &images}) {
      if (t->joinable()) t->join();
    }
  }
};

// The API's server listening at the endpoint and started; on_ready told.
Status StartHttp(server::HttpServer& http, const Endpoint& endpoint, const ServeOptions& options) {
  if (endpoint.tls) http.EnableTls(endpoint.tls);
  auto bound = http.Listen(endpoint.host, endpoint.port);
  if (!bound) return tl::unexpected(bound.error().Wrap("strake serve"));
  http.Start();
  if (options.on_ready) {
    options.on_ready(
        fmt::format("{}://{}:{}", endpoint.tls ? "https" : "http", endpoint.host, *bound));
  }
  return Ok();
}

// Until SIGINT, SIGTERM or *stop.
void WaitForStop(const sigset_t& signals, const std::atomic<bool>* stop) {
  timespec tick{0, 100'000'000};
  auto trimmed = std::chrono::steady_clock::now();
  while (true) {
    // Large answers (a list of thousands of objects) are freed at once but
    // kept by the allocator; give them back now and then. (Trimming only
    // after growth was tried: it kept 172 MiB instead of 70-90 at 10,000
    // Applications and did not remove the webhook latency outliers.)
    if (std::chrono::steady_clock::now() - trimmed > std::chrono::seconds(5)) {
      malloc_trim(0);
      trimmed = std::chrono::steady_clock::now();
    }
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      Log(LogLevel::kWarn, "strake serve: {} received, shutting down",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
      return;
    }
    if (stop && stop->load()) return;
  }
}

// The pipeline engine of the server: sandboxed steps in its data directory,
// and GitLab's CI_DEPLOY_FREEZE set in every step while the Project is in a
// deploy freeze (or its line is stopped); a store that cannot say counts as
// a freeze.
pipeline::EngineOptions EngineOptionsFor(const ServeOptions& options, store::Store& st,
                                         const Clock& clock, pipeline::ImageSource* images,
                                         const ResourceLimits& limits) {
  pipeline::EngineOptions engine_options;
  engine_options.parallel = 2;
  engine_options.executor.data_dir = options.data_dir;
  engine_options.executor.self_exe = SelfExe();
  engine_options.executor.sandbox = options.sandbox;
  engine_options.executor.images = images;
  engine_options.executor.run_on_host = options.host_images;
  engine_options.executor.cgroups = limits.cgroups.get();
  engine_options.executor.cgroups_unavailable = limits.unavailable;
  engine_options.context_env = [&st, &clock](const std::string& ns) {
    std::map<std::string, std::string> env;
    auto freeze = delivery::DeployFreeze(st, ns, UnixMillis(clock.Now()));
    if (!freeze || *freeze) env["CI_DEPLOY_FREEZE"] = "true";
    return env;
  };
  return engine_options;
}

// Replicas in the sandbox (or their images), with their resources.limits.
runtime::SupervisorOptions Supervising(const Sandbox* box, const ResourceLimits& limits) {
  runtime::SupervisorOptions o;
  o.sandbox = box;
  o.cgroups = limits.cgroups.get();
  return o;
}

}  // namespace

Status Serve(const ServeOptions& options, const std::atomic<bool>* stop) {
  // One allocator arena per core, not eight: the HTTP server's threads come
  // and go, and memory parked in their arenas is memory the machine lacks.
  mallopt(M_ARENA_MAX, 2);
  // Signals are taken by sigwait below; every thread started from here on
  // inherits the mask.
  sigset_t signals = BlockStopSignals();

  STRAKE_TRY_ASSIGN(endpoint, ParseEndpoint(options));
  STRAKE_TRY(MakeDirs(options.data_dir, 0700));
  auto opened = store::OpenSqliteStore(PathJoin(options.data_dir, "strake.db"));
  if (!opened) return tl::unexpected(opened.error());
  store::Store& st = **opened;
  SystemClock clock;
  std::string work_dir = WorkDir(options);
  Sandbox sandbox;
  const Sandbox* box = SandboxFor(options, work_dir, sandbox);
  const ResourceLimits limits = OpenResourceLimits(options.data_dir);
  runtime::Supervisor supervisor(PathJoin(options.data_dir, "runtime"), Supervising(box, limits));
  STRAKE_TRY(supervisor.Recover());
  std::string analysis_logs = PathJoin(options.data_dir, "logs/analysis");  // and logs/
  STRAKE_TRY(MakeDirs(analysis_logs, 0700));
  router::RemoteRouter router(RouterOptions(options));
  STRAKE_TRY(router.Start().map_error([](const Error& e) { return e.Wrap("strake serve"); }));
  targets::LocalTarget target(supervisor, router, work_dir);
  STRAKE_TRY_ASSIGN(images, OpenImageSource(options.sandbox, options.data_dir, options.egress,
                                            options.insecure_registries, options.host_images));
  auto providers =
      rollout::MakeProviders(&target, options.egress, box, images.get(), limits.cgroups.get());

  rollout::RolloutReconciler rollouts(st, target, target, clock);
  rollout::AnalysisRunReconciler analyses(st, *providers, clock, analysis_logs);
  std::atomic<bool> stopping{false};
  server::Api api(st, rollouts, target, target, router, stopping);

  // Who may do what, and the record of what was done.
  auto audit_log = server::AuditLog::Open(PathJoin(options.data_dir, "audit.log"));
  if (!audit_log) return tl::unexpected(audit_log.error().Wrap("strake serve"));
  std::unique_ptr<server::AuditLog> audit = std::move(*audit_log);
  server::Tokens tokens(st, clock);
  STRAKE_TRY(BootstrapToken(tokens, *audit, options).map_error([](const Error& e) {
    return e.Wrap("strake serve");
  }));
  server::Gate gate(tokens, *audit, [&api](const server::Request& req) { return api.Handle(req); });

  // GitOps: Applications write through the API's own apply and delete, so
  // what git declares is validated and merged exactly as a client's apply.
  gitops::Sources sources(PathJoin(options.data_dir, "git"), st, clock, options.egress);
  ApiWriter writer(api);
  gitops::ApplicationReconciler apps(st, writer, sources, clock);
  api.SetApplications(&apps);
  apps.SetAudit(SyncAuditOf(*audit));
  Forward apps_fwd([&](const std::string& k) { return apps.Reconcile(k); });
  controller::Controller app_ctl("applications", apps_fwd, 2);

  // Pipelines on push: the runs a Repository's .tekton/ asks for, run by the
  // same engine as `strake run`, sandboxed, in this data directory.
  pipeline::Engine engine(st, EngineOptionsFor(options, st, clock, images.get(), limits), clock);
  server::PipelinesOnPush pipelines(st, engine, options.data_dir);
  STRAKE_TRY(pipelines.ResumeInterrupted());
  gitops::RepositoryReconciler repos(
      st, sources, clock,
      [&](const std::string& url) {
        // The Applications whose files changed first; the rest (only their
        // revision moves) a moment later, so a push to one of thousands of
        // Applications in a repository syncs it at once.
        auto now = apps.AppsTouched(url, sources.LastChange(url));
        for (const auto& a : now) app_ctl.EnqueueFirst(a);
        std::unordered_set<std::string> touched(now.begin(), now.end());
        for (const auto& a : apps.AppsOfRepo(url)) {
          if (!touched.count(a)) app_ctl.EnqueueAfter(a, std::chrono::milliseconds(250));
        }
      },
      [&](const gitops::Mirror& mirror, const gitops::PushEvent& push) {
        return pipelines.OnPush(mirror, push);
      });
  Forward repos_fwd([&](const std::string& k) { return repos.Reconcile(k); });
  controller::Controller repo_ctl("repositories", repos_fwd, 1);
  server::Webhooks hooks(
      st, clock,
      [&](const store::Key& repo) {
        std::string key = controller::ObjectKey(repo.ns, repo.name);
        repos.RequestRefresh(key);
        repo_ctl.EnqueueFirst(key);
      },
      WebhookAuditOf(*audit));
  api.SetWebhooks(&hooks);
  // Deployments go through the Rollout reconciler too: they share revision
  // records, env resolution and the target.
  Forward rollouts_fwd([&](const std::string& k) { return rollouts.Reconcile(k); });
  Forward analyses_fwd([&](const std::string& k) { return analyses.Reconcile(k); });
  Forward deployments_fwd([&](const std::string& k) { return rollouts.ReconcileDeployment(k); });
  controller::Controller rollout_ctl("rollouts", rollouts_fwd, 2);
  controller::Controller analysis_ctl("analysisruns", analyses_fwd, 2);
  // A measurement that finishes wakes its run; the wake is taken back (by
  // this object's destructor, which runs first) before the queue goes.
  struct WakeAnalyses {
    rollout::AnalysisRunReconciler& analyses;
    ~WakeAnalyses() { analyses.SetWake(nullptr); }
  } wake_analyses{analyses};
  analyses.SetWake([&analysis_ctl](const std::string& key) { analysis_ctl.Enqueue(key); });
  controller::Controller deployment_ctl("deployments", deployments_fwd, 1);
  // Services: one worker, so two allocations never pick the same address.
  rollout::ServiceReconciler services(st, target);
  Forward services_fwd([&](const std::string& k) { return services.Reconcile(k); });
  controller::Controller service_ctl("services", services_fwd, 1);
  BatchWork batch(st, clock, options.data_dir, work_dir, box, images.get(), limits.cgroups.get());
  rollout::ExperimentReconciler experiments(st, target, target, clock);
  Forward experiments_fwd([&](const std::string& k) { return experiments.Reconcile(k); });
  controller::Controller experiment_ctl("experiments", experiments_fwd, 2);

  DeliveryWork delivery(st, sources, clock, api, apps, options);
  delivery.stages.SetGateRecord(GateRecordOf(*audit));
  delivery.promotions.SetGateRecord(GateRecordOf(*audit));
  InsightWork dora(st, sources, api, delivery, clock, options);
  Controllers ctls{
      rollout_ctl, analysis_ctl,   deployment_ctl, app_ctl,         repo_ctl, *batch.job_ctl,
      service_ctl, experiment_ctl, *batch.pod_ctl, *batch.cron_ctl, delivery, apps,
      dora};
  st.Subscribe([&ctls, &api](const store::Change& c) {
    if (c.key.kind == "CustomResourceDefinition") api.CustomKindsChanged();
    ctls.Route(c);
  });
  supervisor.SetOnChange([&ctls](const std::string& group) { ctls.ReplicasChanged(group); });
  ImageWakes image_wakes(target, images.get(), ctls, options.data_dir);
  STRAKE_TRY(ctls.EnqueueExisting(st));
  api.SetMetrics([&ctls, &dora] { return ctls.PrometheusText() + dora.ledger.PrometheusText(); });
  ctls.Start();

  server::HttpServer http([&gate](const server::Request& req) { return gate.Handle(req); });
  if (auto listening = StartHttp(http, endpoint, options); !listening) {
    ctls.Stop();
    return listening;
  }
  Chores chores{stopping, CollectOrphansLater(ctls, supervisor, target, stopping),
                CollectImagesEvery(images.get(), target, options, stopping)};
  WaitForStop(signals, stop);
  chores.Stop();
  // Replica threads outlive the controllers below: they must not enqueue
  // into one that is gone.
  supervisor.SetOnChange(nullptr);
  image_wakes.Stop();
  http.Stop();
  ctls.Stop();
  if (options.stop_workloads) {
    (void)router.Shutdown();
    supervisor.StopAll();
  }
  return Ok();
}

}  // namespace strake::app
