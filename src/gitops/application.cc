#include "gitops/application.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/unified_diff.h"
#include "gitops/diff.h"
#include "gitops/health.h"
#include "gitops/jsonnet.h"
#include "model/decode.h"
#include "model/gitops.h"
#include "model/kinds.h"

namespace strake::gitops {

using store::Json;

namespace {

std::string Now(const Clock& clock) { return FormatRfc3339(clock.Now()); }

std::string KeyString(const store::Key& k) { return k.ToString(); }

Json SourceJson(const model::ApplicationSource& s) {
  return {{"repoURL", s.repo_url}, {"path", s.path}, {"targetRevision", s.target_revision}};
}

// Secret values are never shown: equal values read the same, changed ones differ.
void MaskSecrets(Json& live, Json& desired) {
  for (const char* field : {"data", "stringData"}) {
    std::set<std::string> keys;
    for (Json* side : {&live, &desired}) {
      if (side->is_object() && side->contains(field) && (*side)[field].is_object()) {
        for (const auto& [k, v] : (*side)[field].items()) keys.insert(k);
      }
    }
    for (const auto& k : keys) {
      bool in_live = live.is_object() && live.contains(field) && live[field].contains(k);
      bool in_desired =
          desired.is_object() && desired.contains(field) && desired[field].contains(k);
      bool same = in_live && in_desired && live[field][k] == desired[field][k];
      if (in_live) live[field][k] = "++++++++";
      if (in_desired) desired[field][k] = same ? "++++++++" : "+++++++++";
    }
  }
}

Json Condition(const std::string& type, const std::string& message, const Clock& clock) {
  return {{"type", type}, {"message", message}, {"lastTransitionTime", Now(clock)}};
}

// A condition keeps the time it first appeared.
void KeepTransitionTimes(Json& conditions, const Json& old) {
  for (auto& c : conditions) {
    for (const auto& o : old) {
      if (o.value("type", "") == c.value("type", "") &&
          o.value("message", "") == c.value("message", "")) {
        c["lastTransitionTime"] = o.value("lastTransitionTime", "");
      }
    }
  }
}

// The fields that name an entry of status.resources or syncResult.resources.
Json ResourceEntry(const std::string& api_version, const store::Key& key) {
  return {{"group", GroupOf(api_version)},
          {"version", api_version},
          {"kind", key.kind},
          {"namespace", key.ns},
          {"name", key.name}};
}

// Jittered, so that thousands of Applications do not come due together.
Millis Jittered(Millis interval) {
  thread_local std::mt19937 rng{std::random_device{}()};
  return Millis(interval.count() +
                std::uniform_int_distribution<int64_t>(0, interval.count() / 10)(rng));
}

}  // namespace

struct ApplicationReconciler::Compared {
  std::vector<std::optional<store::Resource>> live;
  std::vector<bool> in_sync;
  std::vector<Health> health;
  std::vector<store::Resource> prune;  // live, tracked by this app, no longer declared
  bool out_of_sync = false;
  Health app_health = Health::kHealthy;
  std::string health_message;
  Json resources = Json::array();
};

ApplicationReconciler::ApplicationReconciler(store::Store& store, ResourceWriter& writer,
                                             Sources& sources, const Clock& clock)
    : store_(store), writer_(writer), sources_(sources), clock_(clock) {}

namespace {

// Argo CD's build environment of a source (reposerver's newEnv).
std::map<std::string, std::string> ArgoBuildEnv(const store::Key& app,
                                                const model::ApplicationSpec& spec,
                                                const std::string& sha) {
  const model::ApplicationSource& s = spec.source;
  return {{"ARGOCD_APP_NAME", app.name},
          {"ARGOCD_APP_NAMESPACE", spec.destination_namespace},
          {"ARGOCD_APP_PROJECT_NAME", spec.project},
          {"ARGOCD_APP_REVISION", sha},
          {"ARGOCD_APP_REVISION_SHORT", sha.substr(0, 7)},
          {"ARGOCD_APP_REVISION_SHORT_8", sha.substr(0, 8)},
          {"ARGOCD_APP_SOURCE_REPO_URL", s.repo_url},
          {"ARGOCD_APP_SOURCE_PATH", s.path},
          {"ARGOCD_APP_SOURCE_TARGET_REVISION", s.target_revision}};
}

std::string VarsKey(const std::vector<model::JsonnetVar>& vars) {
  std::string out;
  for (const auto& v : vars) out += fmt::format("{}\x1f{}\x1f{}\x1e", v.name, v.value, v.code);
  return out;
}

// Argo CD's source parameter files in the source's directory at `sha`:
// `.argocd-source.yaml`, then the Application's own, named as Argo CD's
// InstanceName names it: `.argocd-source-<name>.yaml` for an Application in
// the control plane's namespace (here "default", or Argo CD's "argocd"),
// `.argocd-source-<namespace>_<name>.yaml` for one in any other.
Result<std::vector<model::SourceOverride>> ReadSourceOverrides(const Mirror& mirror,
                                                               const std::string& sha,
                                                               const store::Key& app,
                                                               const std::string& path) {
  STRAKE_TRY_ASSIGN(dir, CleanRepoPath(path));
  std::string prefix = dir == "." ? "" : dir + "/";
  std::vector<model::SourceOverride> out;
  bool control_plane = app.ns.empty() || app.ns == "default" || app.ns == "argocd";
  std::string instance = control_plane ? app.name : app.ns + "_" + app.name;
  ReadLimits limits;
  limits.max_file_bytes = 1 << 20;
  for (const std::string& name :
       {std::string(".argocd-source.yaml"), ".argocd-source-" + instance + ".yaml"}) {
    STRAKE_TRY_ASSIGN(text, mirror.ReadFileAt(sha, prefix + name, limits));
    if (text) out.push_back({prefix + name, std::move(*text)});
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const Rendered>> ApplicationReconciler::RenderCached(
    const SourceState& src, const store::Resource& app, const model::ApplicationSpec& spec,
    const std::string& sha) {
  model::ApplicationSource source = spec.source;
  STRAKE_TRY_ASSIGN(overrides, ReadSourceOverrides(*src.mirror, sha, app.key, spec.source.path));
  if (!overrides.empty()) {
    STRAKE_TRY_ASSIGN(overridden, model::OverrideSource(app.object, overrides));
    source = std::move(overridden);
  }
  auto env = ArgoBuildEnv(app.key, spec, sha);
  for (auto* vars : {&source.jsonnet_ext_vars, &source.jsonnet_tlas}) {
    for (auto& v : *vars) v.value = ArgoEnvsubst(v.value, env);
  }
  // Argo CD's Validate=false for the whole Application.
  const bool validate = spec.SyncOptionValue("Validate") != "false";
  // As Argo CD expands them before its `kustomize edit` commands.
  model::KustomizeOverrides& edits = source.kustomize_overrides;
  for (auto& image : edits.images) image = ArgoEnvsubst(image, env);
  for (auto& [k, v] : edits.common_labels) v = ArgoEnvsubst(v, env);
  if (edits.common_annotations_envsubst) {
    for (auto& [k, v] : edits.common_annotations) v = ArgoEnvsubst(v, env);
  }
  std::string key =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", source.repo_url, sha, source.path,
                  source.recurse, source.include, source.exclude, VarsKey(source.jsonnet_ext_vars),
                  VarsKey(source.jsonnet_tlas), Join(source.jsonnet_libs, "\x1f"), validate,
                  source.kustomize ? edits.Key() : "-");
  using Steady = std::chrono::steady_clock;
  // A render that failed after a long time (jsonnet stopped at its limit)
  // is not tried again for a while at the same commit: workers stay free.
  constexpr auto kSlowFailure = std::chrono::seconds(1);
  constexpr auto kFailureKept = std::chrono::minutes(5);
  {
    std::lock_guard<std::mutex> lock(render_mu_);
    auto it = rendered_.find(key);
    if (it != rendered_.end()) {
      render_lru_.splice(render_lru_.begin(), render_lru_, it->second);
      return it->second->rendered;
    }
    auto failed = failed_renders_.find(key);
    if (failed != failed_renders_.end() && Steady::now() - failed->second.second < kFailureKept)
      return tl::unexpected(failed->second.first);
  }
  RenderOptions options;
  options.jsonnet = jsonnet_;
  options.validate = validate;
  auto began = Steady::now();
  auto r = Render(*src.mirror, sha, source, options);
  if (!r) {
    if (Steady::now() - began >= kSlowFailure) {
      std::lock_guard<std::mutex> lock(render_mu_);
      if (failed_renders_.size() >= 1000) failed_renders_.clear();
      failed_renders_[key] = {r.error(), Steady::now()};
    }
    return tl::unexpected(r.error());
  }
  auto shared = std::make_shared<const Rendered>(std::move(*r));
  std::lock_guard<std::mutex> lock(render_mu_);
  constexpr size_t kCapacity = 20'000;
  if (rendered_.count(key)) return shared;  // rendered meanwhile by another worker
  if (render_lru_.size() >= kCapacity) {
    rendered_.erase(render_lru_.back().key);
    render_lru_.pop_back();
  }
  render_lru_.push_front({key, shared});
  rendered_[key] = render_lru_.begin();
  return shared;
}

namespace {

// Whether `kind` is namespaced: as the API serves it, or as a
// CustomResourceDefinition of the same source defines it; nullopt: neither.
std::optional<bool> NamespacedKind(ResourceWriter& writer,
                                   const std::vector<model::KindInfo>& defined,
                                   const std::string& api_version, const std::string& kind) {
  if (auto served = writer.Namespaced(api_version, kind)) return served;
  for (const auto& k : defined) {
    if (k.kind == kind && k.Accepts(api_version)) return k.namespaced;
  }
  return std::nullopt;
}

// A resource's sync-options and compare-options annotations, each option
// checked as an Application's syncOptions are.
void CheckOptionAnnotations(const Json& ann, const std::string& origin,
                            std::vector<std::string>& errors) {
  for (const char* name : {kSyncOptions, kCompareOptions}) {
    if (!ann.contains(name)) continue;
    if (!ann[name].is_string()) {
      errors.push_back(fmt::format("{}: metadata.annotations[{}]: must be a string", origin, name));
      continue;
    }
    for (const auto& option : AnnotationList(ann, name)) {
      auto problem = name == kSyncOptions ? model::ResourceSyncOptionProblem(option)
                                          : model::CompareOptionProblem(option);
      if (problem)
        errors.push_back(fmt::format("{}: metadata.annotations[{}]: {}", origin, name, *problem));
    }
  }
}

// A resource's hook annotations: its hooks, and their delete policy
// (Argo CD's default: BeforeHookCreation); true for a Skip hook.
bool ReadHookAnnotations(const Json& ann, const std::string& origin,
                         std::vector<std::string>& hooks, std::set<std::string>& delete_policy,
                         std::vector<std::string>& errors) {
  bool skip = false;
  for (const auto& h : AnnotationList(ann, kHook)) {
    if (h == "Skip") {
      skip = true;
    } else if (h == "PreSync" || h == "Sync" || h == "PostSync" || h == "SyncFail" ||
               h == "PreDelete" || h == "PostDelete") {
      hooks.push_back(h);
    } else {
      errors.push_back(fmt::format(
          "{}: metadata.annotations[{}]: {} is not a hook (PreSync, Sync, PostSync, SyncFail, "
          "PreDelete, PostDelete or Skip)",
          origin, kHook, Quote(h)));
    }
  }
  if (skip) return true;
  for (const auto& p : AnnotationList(ann, kHookDeletePolicy)) {
    if (p == "HookSucceeded" || p == "HookFailed" || p == "BeforeHookCreation") {
      delete_policy.insert(p);
    } else {
      errors.push_back(
          fmt::format("{}: metadata.annotations[{}]: {} is not a delete policy (HookSucceeded, "
                      "HookFailed or BeforeHookCreation)",
                      origin, kHookDeletePolicy, Quote(p)));
    }
  }
  if (!hooks.empty() && delete_policy.empty()) delete_policy.insert("BeforeHookCreation");
  return false;
}

}  // namespace

Result<std::vector<Desired>> ApplicationReconciler::Prepare(const Rendered& r,
                                                            const store::Key& app,
                                                            const model::ApplicationSpec& spec,
                                                            std::vector<std::string>* warnings) {
  std::vector<Desired> out;
  std::vector<std::string> errors;
  // Each object's index in `out`, and where it was declared.
  std::map<std::string, std::pair<size_t, std::vector<std::string>>> seen;
  std::string instance = AppInstance(app.ns, app.name);
  // The kinds this source's own CustomResourceDefinitions define: applied
  // before their custom resources (KindRank), so these are served by then.
  std::vector<model::KindInfo> defined;
  for (const auto& m : r.objects) {
    if (m.object.value("kind", "") != "CustomResourceDefinition") continue;
    if (auto k = model::KindFromCrd(m.object); k && model::CustomKindAllowed(*k))
      defined.push_back(std::move(*k));
  }
  for (const auto& m : r.objects) {
    Json obj = m.object;
    std::string av = obj.value("apiVersion", ""), kind = obj.value("kind", "");
    auto namespaced = NamespacedKind(writer_, defined, av, kind);
    if (!namespaced) {
      errors.push_back(
          fmt::format("{}: {} {} is not a kind strake can deploy", m.origin, av, kind));
      continue;
    }
    Json& meta = obj["metadata"];
    // Resource hooks: run at their phase of a sync, not kept in sync.
    std::vector<std::string> hooks;
    std::set<std::string> delete_policy;
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      const Json& ann = meta["annotations"];
      CheckOptionAnnotations(ann, m.origin, errors);
      if (ReadHookAnnotations(ann, m.origin, hooks, delete_policy, errors)) continue;  // Skip
    }
    std::string ns;
    if (*namespaced) {
      ns = meta.value("namespace", "");
      if (ns.empty()) ns = spec.destination_namespace;
      if (ns.empty()) ns = "default";
      meta["namespace"] = ns;
    } else {
      meta.erase("namespace");
    }
    Desired d;
    d.key = {kind, ns, meta.value("name", "")};
    d.origin = m.origin;
    if (d.key.name.empty()) {
      // Argo CD: a hook may take a new name each sync (generateName);
      // everything else is kept under its own name.
      d.generate_name = meta.value("generateName", "");
      if (d.generate_name.empty() || hooks.empty()) {
        errors.push_back(fmt::format(
            "{}: metadata.name: required{}", m.origin,
            d.generate_name.empty() ? "" : " (metadata.generateName is for hooks only)"));
        continue;
      }
    } else {
      meta["annotations"][kTrackingId] = TrackingId(instance, obj);
    }
    std::string wave = meta["annotations"].value(kSyncWave, "0");
    try {
      size_t used = 0;
      d.wave = std::stoi(wave, &used);
      if (used != wave.size()) throw std::invalid_argument(wave);
    } catch (const std::exception&) {
      errors.push_back(fmt::format("{}: metadata.annotations[{}]: {} is not an integer", m.origin,
                                   kSyncWave, Quote(wave)));
      continue;
    }
    d.object = std::move(obj);
    d.hooks = std::move(hooks);
    d.delete_policy = std::move(delete_policy);
    // Argo CD: an object declared more than once is the last declaration,
    // with a RepeatedResourceWarning. Hooks named per sync are each their
    // own; objects are kept by kind and name, so two of one kind from
    // different groups cannot both be.
    if (!d.generate_name.empty()) {
      out.push_back(std::move(d));
      continue;
    }
    auto [it, fresh] = seen.try_emplace(KeyString(d.key), out.size(), std::vector<std::string>{});
    it->second.second.push_back(m.origin);
    if (fresh) {
      out.push_back(std::move(d));
      continue;
    }
    Desired& before = out[it->second.first];
    std::string group = GroupOf(av), group_before = GroupOf(before.object.value("apiVersion", ""));
    if (group != group_before) {
      errors.push_back(fmt::format("{}: {} {} of group {} is also declared of group {} at {}",
                                   m.origin, kind, d.key.name, Quote(group), Quote(group_before),
                                   before.origin));
      continue;
    }
    before = std::move(d);
  }
  if (!errors.empty()) return Fail(Join(errors, "\n"));
  for (const auto& [key, where] : seen) {
    const auto& [index, origins] = where;
    if (origins.size() < 2 || !warnings) continue;
    const Desired& d = out[index];
    warnings->push_back(fmt::format(
        "{} {} appeared {} times among the application's resources ({}): the last is used",
        d.key.kind, d.key.ns.empty() ? d.key.name : d.key.ns + "/" + d.key.name, origins.size(),
        Join(origins, ", ")));
  }
  return out;
}

ApplicationReconciler::Compared ApplicationReconciler::Compare(
    const store::Resource& app, const model::ApplicationSpec& spec,
    const std::vector<Desired>& desired) {
  Compared c;
  std::set<std::string> declared;
  for (const auto& d : desired) {
    declared.insert(KeyString(d.key));
    auto got = store_.Get(d.key);
    std::optional<store::Resource> live;
    if (got && *got) live = std::move(**got);
    bool in_sync =
        live && InSync(live->object, d.object, IgnoredPointers(spec.ignore_differences, d.object));
    std::string msg;
    Health h = live ? ObjectHealth(d.key.kind, live->object, live->status, live->generation, &msg)
                    : Health::kMissing;
    if (Worse(c.app_health, h) != c.app_health) {
      c.app_health = h;
      c.health_message = msg;
    }
    c.out_of_sync = c.out_of_sync || !in_sync;
    Json entry = ResourceEntry(d.object.value("apiVersion", ""), d.key);
    entry["status"] = in_sync ? "Synced" : "OutOfSync";
    entry["health"] = {{"status", HealthName(h)}};
    if (!msg.empty() && h != Health::kHealthy) entry["health"]["message"] = msg;
    c.resources.push_back(std::move(entry));
    c.live.push_back(std::move(live));
    c.in_sync.push_back(in_sync);
    c.health.push_back(h);
  }
  // What the last comparison managed and git no longer declares.
  std::string instance = AppInstance(app.key.ns, app.key.name);
  const Json previous =
      app.status.is_object() ? app.status.value("resources", Json::array()) : Json::array();
  for (const auto& r : previous) {
    if (!r.is_object()) continue;
    store::Key k{r.value("kind", ""), r.value("namespace", ""), r.value("name", "")};
    if (k.kind.empty() || declared.count(KeyString(k))) continue;
    auto got = store_.Get(k);
    if (!got || !*got) continue;
    const Json ann =
        (*got)->object.value("metadata", Json::object()).value("annotations", Json::object());
    if (!ann.is_object() || !StartsWith(ann.value(kTrackingId, ""), instance + ":")) continue;
    declared.insert(KeyString(k));
    // Argo CD's compare-options IgnoreExtraneous: shown OutOfSync, but the
    // Application is not (it is pruned by the next sync that prunes).
    if (!HasAnnotationOption((*got)->object, kCompareOptions, "IgnoreExtraneous"))
      c.out_of_sync = true;
    c.resources.push_back({{"group", r.value("group", "")},
                           {"version", r.value("version", "")},
                           {"kind", k.kind},
                           {"namespace", k.ns},
                           {"name", k.name},
                           {"status", "OutOfSync"},
                           {"requiresPruning", true}});
    c.prune.push_back(std::move(**got));
  }
  return c;
}

void ApplicationReconciler::Remember(const std::string& app_key,
                                     const std::vector<Desired>& desired, const std::string& url,
                                     const std::string& path) {
  std::vector<std::string> keys;
  keys.reserve(desired.size());
  for (const auto& d : desired) {
    if (!d.key.name.empty()) keys.push_back(KeyString(d.key));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto& old = manages_[app_key];
  Source& src = repo_of_[app_key];
  if (src.url != url || src.path != path) {
    if (auto r = by_source_.find(src.url); r != by_source_.end()) {
      if (auto p = r->second.find(src.path); p != r->second.end()) {
        p->second.erase(app_key);
        if (p->second.empty()) r->second.erase(p);
      }
      if (r->second.empty()) by_source_.erase(r);
    }
    if (!url.empty()) by_source_[url][path].insert(app_key);
    src.url = url;
    src.path = path;
  }
  if (old == keys) return;
  for (const auto& k : old) {
    auto it = managed_by_.find(k);
    if (it == managed_by_.end()) continue;
    it->second.erase(app_key);
    if (it->second.empty()) managed_by_.erase(it);
  }
  for (const auto& k : keys) managed_by_[k].insert(app_key);
  old = std::move(keys);
}

void ApplicationReconciler::Forget(const std::string& app_key) {
  Remember(app_key, {}, "", "");
  std::lock_guard<std::mutex> lock(mu_);
  manages_.erase(app_key);
  repo_of_.erase(app_key);
}

std::vector<std::string> ApplicationReconciler::AppsManaging(const store::Key& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = managed_by_.find(KeyString(key));
  if (it == managed_by_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<std::string> ApplicationReconciler::AppsTouched(const std::string& url,
                                                            const SourceChange& change) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto repo = by_source_.find(url);
  if (repo == by_source_.end()) return {};
  std::set<std::string> out;
  auto add = [&](const std::string& path) {
    auto it = repo->second.find(path);
    if (it != repo->second.end()) out.insert(it->second.begin(), it->second.end());
  };
  if (change.everything) {
    for (const auto& [path, apps] : repo->second) out.insert(apps.begin(), apps.end());
  } else {
    add(".");
    // A changed file touches the Applications whose path is one of its
    // directories: "a/b/c.yaml" those at "a" and at "a/b".
    for (const auto& p : change.paths) {
      for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1))
        add(p.substr(0, slash));
    }
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> ApplicationReconciler::AppsOfRepo(const std::string& url) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  auto repo = by_source_.find(url);
  if (repo == by_source_.end()) return out;
  for (const auto& [path, apps] : repo->second) out.insert(out.end(), apps.begin(), apps.end());
  return out;
}

// One reconcile of an Application: its status as read, and as it becomes.
struct ApplicationReconciler::Round {
  explicit Round(const store::Resource& resource)
      : app(resource),
        status(resource.status.is_object() ? resource.status : Json::object()),
        next(status),
        op(status.value("operationState", Json())) {}
  const store::Resource& app;
  const Json status;
  Json next;
  Json conditions = Json::array();
  Json op;  // status.operationState, as this reconcile leaves it
  controller::ReconcileResult result;
};

struct ApplicationReconciler::Target {
  std::string sha;
  std::shared_ptr<const Rendered> rendered;
  std::vector<Desired> resources;
  std::vector<Desired> hooks;  // run during a sync; not compared, shown or pruned
  bool source_stale = false;   // the last fetch failed: the state fetched before
};

namespace {

// Runs hooks of one phase, wave by wave, as SyncPlan lists them: each is
// created once per operation (after its previous object is deleted,
// BeforeHookCreation), and the phase goes on when every one of a wave is
// healthy (a Job complete). A degraded one (a Job failed) fails the round.
// A generateName hook first records the name it will take, then creates it:
// a restart in between finds and adopts it instead of starting a second
// one. What each hook did goes into the round's SyncProgress.
class HookRunner {
 public:
  HookRunner(store::Store& store, ResourceWriter& writer, std::string instance,
             const std::vector<Desired>& hooks, SyncProgress& progress)
      : store_(store),
        writer_(writer),
        instance_(std::move(instance)),
        hooks_(hooks),
        progress_(progress) {}

  // With `wait`, a hook still running holds the round; without, it is only
  // started (SyncFail). Nothing runs once the round has stopped.
  void Run(const std::string& phase, const std::vector<WaveTasks>& waves, bool wait) {
    for (const auto& wave : waves) Run(phase, wave, wait);
  }
  void Run(const std::string& phase, const WaveTasks& wave, bool wait) {
    if (progress_.Stopped()) return;
    for (size_t i : wave.hooks) Step(phase, hooks_[i], wait);
  }

 private:
  struct State {
    std::string phase;  // "", Pending, Running, Succeeded, Failed
    std::string message;
  };

  void Step(const std::string& phase, const Desired& hook, bool wait) {
    std::string id = HookId(phase, hook);
    const Json seen = progress_.hooks.value(id, Json::object());
    State state{seen.value("phase", ""), seen.value("message", "")};
    store::Key live_key = hook.key;
    if (!hook.generate_name.empty()) live_key.name = seen.value("name", "");
    if (state.phase.empty() && !hook.generate_name.empty())
      live_key.name = hook.generate_name + RandomSuffix();
    switch (NextHookStep(state.phase, hook, wait)) {
      case HookStep::kName:
        state = {"Pending", "named"};
        progress_.naming = true;
        break;
      case HookStep::kCreate:
        state = Create(hook, live_key, state.phase == "Pending");
        break;
      case HookStep::kObserve:
        Observe(hook, live_key, state);
        break;
      case HookStep::kDone:
        break;
    }
    Record(phase, id, hook, live_key, state, wait);
  }

  State Create(const Desired& hook, const store::Key& live_key, bool pending) {
    auto live = store_.Get(live_key);
    bool exists = live && *live;
    if (pending && exists) return {"Running", "created"};  // before a restart: this operation's
    if (exists && hook.delete_policy.count("BeforeHookCreation")) (void)writer_.Delete(live_key);
    Status w = writer_.Apply(HookObject(hook, live_key.name, instance_));
    if (!w) return {"Failed", w.error().message};
    return {"Running", "created"};
  }

  void Observe(const Desired& hook, const store::Key& live_key, State& state) {
    auto live = store_.Get(live_key);
    std::string message;
    Health health = live && *live ? ObjectHealth(live_key.kind, (*live)->object, (*live)->status,
                                                 (*live)->generation, &message)
                                  : Health::kMissing;
    auto outcome = ObserveRunningHook(hook, health, message);
    if (!outcome) return;
    state = {outcome->phase, outcome->message};
    if (outcome->remove) (void)writer_.Delete(live_key);
  }

  void Record(const std::string& phase, const std::string& id, const Desired& hook,
              const store::Key& live_key, const State& state, bool wait) {
    Json& recorded = progress_.hooks[id];
    recorded = {{"phase", state.phase}, {"message", state.message}};
    if (!hook.generate_name.empty()) recorded["name"] = live_key.name;
    Json entry = ResourceEntry(hook.object.value("apiVersion", ""), live_key);
    entry["hookType"] = phase;
    entry["hookPhase"] = state.phase;
    entry["syncPhase"] = phase;
    entry["message"] = state.message;
    entry["status"] = state.phase == "Failed" ? "SyncFailed" : "Synced";
    progress_.results.push_back(std::move(entry));
    std::string& waiting = progress_.waiting;
    if (state.phase == "Failed") {
      progress_.failures.push_back(
          fmt::format("{} hook {} {}: {}", phase, live_key.kind, live_key.name, state.message));
    } else if (state.phase == "Pending" && waiting.empty()) {
      waiting = fmt::format("creating hook {}/{}", live_key.kind, live_key.name);
    } else if (state.phase == "Running" && wait && waiting.empty()) {
      waiting = fmt::format("waiting for completion of hook {}/{} ({})", live_key.kind,
                            live_key.name, phase);
    }
  }

  store::Store& store_;
  ResourceWriter& writer_;
  const std::string instance_;
  const std::vector<Desired>& hooks_;
  SyncProgress& progress_;
};

}  // namespace

// One round of a running sync: carries a SyncPlan out as far as it can go
// now (applying, pruning, running hooks) and says what it did in a
// SyncProgress. The round stops at its first failure or at the first thing
// it must wait for.
class ApplicationReconciler::Operation {
 public:
  // `hooks` is the operation's operationState.hooks.
  Operation(ApplicationReconciler& r, const model::ApplicationSpec& spec,
            const std::string& instance, const Target& target, const Compared& compared, Json hooks)
      : r_(r),
        spec_(spec),
        instance_(instance),
        target_(target),
        compared_(compared),
        hooks_(r.store_, r.writer_, instance, target.hooks, progress_) {
    progress_.hooks = std::move(hooks);
  }

  void Run(const SyncPlan& plan) {
    if (spec_.SyncOption("FailOnSharedResource")) RefuseShared();
    if (spec_.SyncOption("CreateNamespace") && !progress_.Stopped()) CreateNamespace();
    if (progress_.Stopped()) return;
    hooks_.Run(kPreSync, plan.pre_sync, true);
    for (const auto& wave : plan.sync) {
      if (progress_.Stopped()) break;
      // A prune that fails stops the waves after it, as in Argo CD.
      Prune(wave.prune);
      if (progress_.Stopped()) break;
      Apply(wave);
      hooks_.Run(kSync, wave, true);
      if (wave.wait_healthy && !progress_.Stopped()) WaitHealthy(wave);
    }
    if (progress_.Stopped() || plan.post_sync.empty()) return;
    // PostSync hooks run once everything the sync applied is healthy.
    for (const auto& d : target_.resources) {
      if (Healthy(d.key)) continue;
      progress_.waiting = fmt::format("waiting for healthy state of {}/{} before PostSync hooks",
                                      d.key.kind, d.key.name);
      return;
    }
    hooks_.Run(kPostSync, plan.post_sync, true);
  }

  // The SyncFail hooks of a failed round: started, not waited for; the
  // round's failures stay what they were.
  void RunSyncFail(const SyncPlan& plan) {
    std::vector<std::string> failed = std::move(progress_.failures);
    progress_.failures.clear();
    hooks_.Run(kSyncFail, plan.sync_fail, false);
    progress_.failures = std::move(failed);
  }

  SyncProgress& progress() { return progress_; }

 private:
  void Apply(const WaveTasks& wave) {
    for (size_t i : wave.resources) {
      const Desired& d = target_.resources[i];
      if (compared_.in_sync[i]) {
        Report(d.object, d.key, "Synced", "unchanged");
        continue;
      }
      Json object = d.object;
      // RespectIgnoreDifferences=true: what ignoreDifferences ignores keeps
      // its live value through the sync too.
      if (spec_.SyncOption("RespectIgnoreDifferences") && compared_.live[i]) {
        object = KeepLiveValues(std::move(object), compared_.live[i]->object,
                                IgnoredPointers(spec_.ignore_differences, d.object));
      }
      // Replace=true (the Application's or the object's): the object becomes
      // what git says, as `kubectl replace` makes it, not a merge.
      const bool replace = spec_.SyncOption("Replace") || HasSyncOption(d.object, "Replace=true");
      if (auto w = replace ? r_.writer_.Replace(object) : r_.writer_.Apply(object); !w) {
        Report(d.object, d.key, "SyncFailed", w.error().message);
        progress_.failures.push_back(
            fmt::format("{} {}: {}", d.key.kind, d.key.name, w.error().message));
      } else {
        Report(d.object, d.key, "Synced",
               !compared_.live[i] ? "created"
               : replace          ? "replaced"
                                  : "configured");
      }
    }
  }

  // FailOnSharedResource=true: a resource another Application tracks fails
  // the sync before anything is written.
  void RefuseShared() {
    for (size_t i = 0; i < target_.resources.size(); ++i) {
      if (!compared_.live[i]) continue;
      const Json& live = compared_.live[i]->object;
      const Json ann = live.value("metadata", Json::object()).value("annotations", Json::object());
      const std::string tracked = ann.is_object() ? ann.value(kTrackingId, "") : "";
      if (tracked.empty() || StartsWith(tracked, instance_ + ":")) continue;
      const Desired& d = target_.resources[i];
      std::string message =
          fmt::format("{} {} is also managed by {} (FailOnSharedResource=true)", d.key.kind,
                      d.key.name, tracked.substr(0, tracked.find(':')));
      Report(d.object, d.key, "SyncFailed", message);
      progress_.failures.push_back(std::move(message));
    }
  }

  // CreateNamespace=true: the destination namespace, with
  // managedNamespaceMetadata, made once if there is none.
  void CreateNamespace() {
    const std::string& ns = spec_.destination_namespace;
    if (ns.empty()) return;
    store::Key key{"Namespace", "", ns};
    auto live = r_.store_.Get(key);
    if (!live) {
      progress_.failures.push_back(fmt::format("namespace {}: {}", ns, live.error().message));
      return;
    }
    // An existing one keeps managedNamespaceMetadata current, as in Argo CD.
    const bool managed =
        !spec_.managed_namespace_labels.empty() || !spec_.managed_namespace_annotations.empty();
    if (*live && !managed) return;
    Json object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    if (!spec_.managed_namespace_labels.empty())
      object["metadata"]["labels"] = spec_.managed_namespace_labels;
    if (!spec_.managed_namespace_annotations.empty())
      object["metadata"]["annotations"] = spec_.managed_namespace_annotations;
    if (auto w = r_.writer_.Apply(object); !w) {
      Report(object, key, "SyncFailed", w.error().message);
      progress_.failures.push_back(fmt::format("namespace {}: {}", ns, w.error().message));
    } else if (!*live) {
      Report(object, key, "Synced", fmt::format("namespace/{} created", ns));
    }
  }

  // The next wave waits until this one is healthy.
  void WaitHealthy(const WaveTasks& wave) {
    for (size_t i : wave.resources) {
      const store::Key& key = target_.resources[i].key;
      if (Healthy(key)) continue;
      progress_.waiting = fmt::format("waiting for healthy state of {}/{} (wave {})", key.kind,
                                      key.name, wave.wave);
      return;
    }
  }

  void Prune(const std::vector<PruneTask>& tasks) {
    for (const auto& task : tasks) {
      const store::Resource& p = compared_.prune[task.index];
      if (task.action == PruneAction::kSkipNoPrune) {
        Report(p.object, p.key, "PruneSkipped", "ignored (no prune)");
      } else if (task.action == PruneAction::kSkipNotEnabled) {
        Report(p.object, p.key, "PruneSkipped", "ignored (requires pruning)");
      } else if (auto st = r_.writer_.Delete(p.key); !st) {
        Report(p.object, p.key, "SyncFailed", st.error().message);
        progress_.failures.push_back(
            fmt::format("pruning {} {}: {}", p.key.kind, p.key.name, st.error().message));
      } else {
        Report(p.object, p.key, "Pruned", "pruned");
      }
    }
  }

  // A resource's entry in syncResult.resources.
  void Report(const Json& object, const store::Key& key, const std::string& status,
              const std::string& message) {
    Json entry = ResourceEntry(object.value("apiVersion", ""), key);
    entry["syncPhase"] = "Sync";
    entry["status"] = status;
    entry["message"] = message;
    progress_.results.push_back(std::move(entry));
  }

  bool Healthy(const store::Key& key) {
    auto live = r_.store_.Get(key);
    return live && *live &&
           ObjectHealth(key.kind, (*live)->object, (*live)->status, (*live)->generation) ==
               Health::kHealthy;
  }

  ApplicationReconciler& r_;
  const model::ApplicationSpec& spec_;
  const std::string instance_;
  const Target& target_;
  const Compared& compared_;
  SyncProgress progress_;
  HookRunner hooks_;
};

Result<controller::ReconcileResult> ApplicationReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Application", ns, name}));
  if (!got) {
    Forget(key);
    return controller::ReconcileResult{};
  }
  Round round(*got);
  auto decoded = model::DecodeObject(got->object, "application " + name);
  if (!decoded) {
    round.conditions.push_back(Condition("InvalidSpecError", decoded.error().message, clock_));
    round.next["sync"]["status"] = "Unknown";
    return WriteStatus(round, {"InvalidSpecError", decoded.error().message});
  }
  const model::ApplicationSpec& spec = std::get<model::Application>(decoded->value).spec;
  round.result.requeue_after = Jittered(sources_.Interval(spec.source.repo_url));
  if (got->object["metadata"].contains("deletionTimestamp")) return Finalize(round, key, spec);
  // Read and render.
  auto target = Load(round, key, spec);
  if (!target) return ComparisonError(round, target.error().message);
  // Delete hooks bring Argo CD's finalizers that run them.
  if (auto added = AddDeleteFinalizers(*got, target->hooks); !added || *added) {
    if (!added) return tl::unexpected(added.error());
    return controller::ReconcileResult{Millis(1)};
  }
  // Compare.
  Compared c = Compare(*got, spec, target->resources);
  // Plan: an automated sync to start, or a running one to carry on.
  bool differs = std::find(c.in_sync.begin(), c.in_sync.end(), false) != c.in_sync.end();
  AutoSync start =
      DecideAutoSync(spec, round.op,
                     {target->sha, c.out_of_sync, target->source_stale, target->resources.empty(),
                      !c.prune.empty(), !c.prune.empty() && !differs});
  if (start == AutoSync::kRefused)
    round.conditions.push_back(Condition("SyncError", kRefusedEmpty, clock_));
  if (start == AutoSync::kSelfHeal) {
    Millis wait = SelfHealWait(round.op, clock_.Now());
    if (wait > Millis(0)) {
      round.result.requeue_after = std::min(*round.result.requeue_after, wait);
      start = AutoSync::kNone;
    }
  }
  if (start == AutoSync::kStart || start == AutoSync::kSelfHeal)
    return StartAutomatedSync(round, spec, target->sha, start == AutoSync::kSelfHeal);
  Event event;
  if (OperationRunning(round.op)) event = RunOperation(round, spec, *target, c);
  // Write.
  Event shown = ShowComparison(round, spec, *target, c);
  if (event.reason == "Reconciled") event = shown;
  return WriteStatus(round, event);
}

Result<ApplicationReconciler::Target> ApplicationReconciler::Load(
    Round& round, const std::string& key, const model::ApplicationSpec& spec) {
  const std::string& url = spec.source.repo_url;
  SourceState src = sources_.Get(url);
  if (!src.mirror) return Fail("source unavailable: " + src.error);
  Target target;
  target.source_stale = !src.error.empty();
  if (target.source_stale) {
    round.conditions.push_back(
        Condition("ComparisonError",
                  "source unavailable, showing the last fetched state: " + src.error, clock_));
  }
  STRAKE_TRY_ASSIGN(sha, sources_.Resolve(url, TargetRevision(spec.source, round.op)));
  STRAKE_TRY_ASSIGN(rendered, RenderCached(src, round.app, spec, sha));
  std::vector<std::string> repeated;
  STRAKE_TRY_ASSIGN(desired, Prepare(*rendered, round.app.key, spec, &repeated));
  for (const auto& w : repeated)
    round.conditions.push_back(Condition("RepeatedResourceWarning", w, clock_));
  if (!rendered->dropped_fields.empty()) {
    round.conditions.push_back(Condition(
        "UnknownFieldWarning",
        "Validate=false: fields the API does not know were dropped, as the API server drops "
        "them: " +
            Join(rendered->dropped_fields, "; "),
        clock_));
  }
  // Hooks' changes (a hook Job ending) bring the Application back too.
  Remember(key, desired, url, CleanRepoPath(spec.source.path).value_or("."));
  target.sha = std::move(sha);
  target.rendered = std::move(rendered);
  for (auto& d : desired)
    (d.hooks.empty() ? target.resources : target.hooks).push_back(std::move(d));
  return target;
}

Result<controller::ReconcileResult> ApplicationReconciler::StartAutomatedSync(
    Round& round, const model::ApplicationSpec& spec, const std::string& sha, bool self_heal) {
  const store::Key& app = round.app.key;
  std::string intent;
  if (audit_.begin) {
    STRAKE_TRY_ASSIGN(id, audit_.begin(fmt::format("application {}/{}", app.ns, app.name),
                                       fmt::format("automated sync to {}{}", sha,
                                                   self_heal ? " (self-heal)" : "")));
    intent = id;
  }
  int repairs = self_heal ? SelfHealAttempts(round.op, clock_.Now()) + 1 : 0;
  round.op = StartOperation(sha, spec.prune, Json{{"automated", true}}, clock_.Now());
  if (repairs > 0) round.op["operation"]["sync"]["selfHealAttemptsCount"] = repairs;
  // Recorded before the first write, so that a restart resumes it.
  round.next["operationState"] = round.op;
  auto w = WriteStatus(
      round, {"OperationStarted", fmt::format("automated sync to {} started", sha.substr(0, 12))});
  bool conflict = w && w->requeue_after && *w->requeue_after <= Millis(1);
  if (audit_.end) audit_.end(intent, w && !conflict);
  if (!w || conflict) return w;
  return controller::ReconcileResult{Millis(1)};
}

ApplicationReconciler::Event ApplicationReconciler::RunOperation(Round& round,
                                                                 const model::ApplicationSpec& spec,
                                                                 const Target& target,
                                                                 const Compared& c) {
  Json& op = round.op;
  SyncPlan plan = PlanSync(target.resources, target.hooks, c.prune, OperationPrunes(op),
                           spec.SyncOption("PruneLast"), spec.SyncOptionValue("Prune") == "false");
  Operation run(*this, spec, AppInstance(round.app.key.ns, round.app.key.name), target, c,
                op.value("hooks", Json::object()));
  run.Run(plan);
  SyncProgress& progress = run.progress();
  Json before = op.contains("syncResult") ? op["syncResult"].value("resources", Json::array())
                                          : Json::array();
  op["syncResult"] = {{"revision", target.sha},
                      {"source", SourceJson(spec.source)},
                      {"resources", KeepWhatWasDone(before, progress.results)}};
  int retries = op.value("retryCount", 0);
  Conclusion end = Conclude(progress, spec.retry, retries);
  if (end.requeue_after) round.result.requeue_after = end.requeue_after;
  Event event;
  switch (end.kind) {
    case Conclusion::Kind::kWaiting:
      op["message"] = progress.waiting;
      break;
    case Conclusion::Kind::kRetrying:
      op["retryCount"] = retries + 1;
      ForgetFailedHooks(progress.hooks);  // a retry runs the hooks that failed again
      op["message"] =
          fmt::format("retrying attempt #{} in {}: {}", retries + 1,
                      FormatDuration(*end.requeue_after), Join(progress.failures, "; "));
      event = {"SyncRetrying", op["message"].get<std::string>()};
      break;
    case Conclusion::Kind::kFailed:
      run.RunSyncFail(plan);
      op["syncResult"]["resources"] = KeepWhatWasDone(before, progress.results);
      op["phase"] = "Failed";
      op["message"] = "one or more objects failed to apply: " + Join(progress.failures, "; ");
      op["finishedAt"] = Now(clock_);
      event = {"SyncFailed", op["message"].get<std::string>()};
      break;
    case Conclusion::Kind::kSucceeded:
      op["phase"] = "Succeeded";
      op["message"] = "successfully synced (all tasks run)";
      op["finishedAt"] = Now(clock_);
      round.next["history"] =
          AppendHistory(round.status.value("history", Json::array()),
                        {{"revision", target.sha},
                         {"deployStartedAt", op.value("startedAt", "")},
                         {"deployedAt", op["finishedAt"]},
                         {"source", SourceJson(spec.source)},
                         {"initiatedBy", op["operation"].value("initiatedBy", Json::object())}},
                        spec.revision_history_limit);
      event = {"SyncSucceeded", fmt::format("synced to {}", target.sha.substr(0, 12))};
      break;
  }
  // Forgotten hooks go too: a record left from the round before would keep
  // a failed hook from running again.
  if (progress.hooks.empty()) {
    op.erase("hooks");
  } else {
    op["hooks"] = progress.hooks;
  }
  round.next["operationState"] = op;
  return event;
}

ApplicationReconciler::Event ApplicationReconciler::ShowComparison(
    Round& round, const model::ApplicationSpec& spec, const Target& target, const Compared& c) {
  Json& next = round.next;
  next["sync"] = {
      {"status", c.out_of_sync ? "OutOfSync" : "Synced"},
      {"revision", target.sha},
      {"comparedTo",
       {{"source", SourceJson(spec.source)},
        {"destination",
         {{"name", spec.destination_name}, {"namespace", spec.destination_namespace}}}}}};
  next["health"] = {{"status", HealthName(c.app_health)}};
  if (!c.health_message.empty() && c.app_health != Health::kHealthy)
    next["health"]["message"] = c.health_message;
  next["resources"] = c.resources;
  next["sourceType"] = target.rendered->source_type;
  // What changed, for a reconcile that ran no operation.
  const Json old_sync = round.status.value("sync", Json::object());
  const Json old_health = round.status.value("health", Json::object());
  if (old_sync.value("status", "") != next["sync"]["status"] ||
      old_sync.value("revision", "") != target.sha) {
    std::string reason = c.out_of_sync ? "OutOfSync" : "Synced";
    return {reason, fmt::format("{} at {}", reason, target.sha.substr(0, 12))};
  }
  if (old_health.value("status", "") != next["health"]["status"])
    return {"HealthChanged", fmt::format("health is {}", HealthName(c.app_health))};
  return {};
}

Result<controller::ReconcileResult> ApplicationReconciler::ComparisonError(
    Round& round, const std::string& what) {
  round.conditions.push_back(Condition("ComparisonError", what, clock_));
  round.next["sync"]["status"] = "Unknown";
  round.result.requeue_after = std::min<Millis>(*round.result.requeue_after, Millis(10'000));
  if (OperationRunning(round.op)) {
    // A sync cannot run against a source it cannot read: it fails, and
    // nothing is applied or pruned.
    round.op["phase"] = "Failed";
    round.op["message"] = what;
    round.op["finishedAt"] = Now(clock_);
    round.next["operationState"] = round.op;
  }
  return WriteStatus(round, {"ComparisonError", what});
}

Result<controller::ReconcileResult> ApplicationReconciler::WriteStatus(Round& round,
                                                                       const Event& event) {
  Json& next = round.next;
  next["conditions"] = round.conditions;
  if (round.conditions.empty()) next.erase("conditions");
  if (round.status.contains("conditions") && next.contains("conditions"))
    KeepTransitionTimes(next["conditions"], round.status["conditions"]);
  Json a = next, b = round.status;
  a.erase("reconciledAt");
  b.erase("reconciledAt");
  if (a == b) return round.result;
  next["reconciledAt"] = Now(clock_);
  auto w = store_.UpdateStatus(round.app.key, next, round.app.resource_version, event.reason,
                               event.message);
  if (!w && w.error().Is(ErrorCode::kConflict)) {
    return controller::ReconcileResult{std::chrono::milliseconds(1)};
  }
  if (!w) return tl::unexpected(w.error());
  return round.result;
}

namespace {

constexpr const char* kResourcesFinalizer = "resources-finalizer.argocd.argoproj.io";
constexpr const char* kPreDeleteFinalizer = "pre-delete-finalizer.argocd.argoproj.io";
constexpr const char* kPostDeleteFinalizer = "post-delete-finalizer.argocd.argoproj.io";

std::vector<std::string> FinalizersOf(const Json& object) {
  std::vector<std::string> out;
  const Json meta = object.value("metadata", Json::object());
  for (const auto& f : meta.value("finalizers", Json::array())) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

// The resources finalizer, in its foreground and background forms.
bool IsResourcesFinalizer(const std::string& f) {
  return f == kResourcesFinalizer || f == std::string(kResourcesFinalizer) + "/foreground" ||
         f == std::string(kResourcesFinalizer) + "/background";
}

bool HasHook(const std::vector<Desired>& hooks, const char* phase) {
  return std::any_of(hooks.begin(), hooks.end(), [&](const Desired& d) {
    return std::find(d.hooks.begin(), d.hooks.end(), phase) != d.hooks.end();
  });
}

}  // namespace

Result<bool> ApplicationReconciler::AddDeleteFinalizers(const store::Resource& app,
                                                        const std::vector<Desired>& hooks) {
  std::vector<std::string> have = FinalizersOf(app.object);
  Json object = app.object;
  bool added = false;
  for (auto [phase, finalizer] : {std::pair{"PreDelete", kPreDeleteFinalizer},
                                  std::pair{"PostDelete", kPostDeleteFinalizer}}) {
    if (!HasHook(hooks, phase) || std::find(have.begin(), have.end(), finalizer) != have.end())
      continue;
    Json& list = object["metadata"]["finalizers"];
    if (!list.is_array()) list = Json::array();
    list.push_back(finalizer);
    added = true;
  }
  if (!added) return false;
  store::Resource r = app;
  r.object = std::move(object);
  auto w = store_.Update(r, app.resource_version);
  if (!w && !w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  return true;
}

Status ApplicationReconciler::DropFinalizers(const store::Resource& app,
                                             const std::function<bool(const std::string&)>& drop) {
  Json kept = Json::array();
  for (const auto& f : FinalizersOf(app.object)) {
    if (!drop(f)) kept.push_back(f);
  }
  store::Resource r = app;
  r.object["metadata"]["finalizers"] = kept;
  auto w = store_.Update(r, app.resource_version);
  if (!w && !w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  return Ok();
}

Result<controller::ReconcileResult> ApplicationReconciler::Finalize(
    Round& round, const std::string& key, const model::ApplicationSpec& spec) {
  const store::Resource& app = round.app;
  std::vector<std::string> finalizers = FinalizersOf(app.object);
  auto has = [&](const std::string& f) {
    return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
  };
  bool cascade = std::any_of(finalizers.begin(), finalizers.end(), IsResourcesFinalizer);
  const std::string phase = has(kPreDeleteFinalizer)    ? "PreDelete"
                            : cascade                   ? ""
                            : has(kPostDeleteFinalizer) ? "PostDelete"
                                                        : "";
  round.result.requeue_after = Millis(1'000);
  if (!phase.empty()) {
    // The hooks of this step, from the source as it is now.
    auto target = Load(round, key, spec);
    if (!target) {
      round.conditions.push_back(Condition(
          "DeletionError",
          fmt::format("cannot read the {} hooks: {}", phase, target.error().message), clock_));
      round.result.requeue_after = Millis(10'000);
      return WriteStatus(round, {"DeletionError", target.error().message});
    }
    SyncProgress progress;
    progress.hooks = round.status.value("deletion", Json::object()).value("hooks", Json::object());
    HookRunner runner(store_, writer_, AppInstance(app.key.ns, app.key.name), target->hooks,
                      progress);
    runner.Run(phase, HookWaves(target->hooks, phase), true);
    round.next["deletion"] = {{"phase", phase}, {"hooks", progress.hooks}};
    if (!progress.failures.empty()) {
      std::string why = Join(progress.failures, "; ");
      round.conditions.push_back(Condition("DeletionError", why, clock_));
      round.result.requeue_after = Millis(10'000);
      return WriteStatus(round, {"DeletionError", why});
    }
    if (progress.Stopped() || progress.naming) {
      round.next["deletion"]["message"] = progress.waiting;
      return WriteStatus(round, {"Deleting", progress.waiting});
    }
    // What the hooks did is recorded before any of them goes: a restart must
    // not find a hook it saw running gone, and call it failed.
    if (round.status.value("deletion", Json::object()).value("hooks", Json::object()) !=
        progress.hooks) {
      round.result.requeue_after = Millis(1);
      return WriteStatus(round, {"Deleting", fmt::format("the {} hooks are done", phase)});
    }
    if (phase == "PostDelete") {
      // Argo CD's cleanup: the hooks go once they have done their work.
      for (const auto& r : progress.results) {
        (void)writer_.Delete({r.value("kind", ""), r.value("namespace", ""), r.value("name", "")});
      }
    }
    const char* done = phase == "PreDelete" ? kPreDeleteFinalizer : kPostDeleteFinalizer;
    STRAKE_TRY(DropFinalizers(app, [&](const std::string& f) { return f == done; }));
    return controller::ReconcileResult{Millis(1)};
  }
  if (cascade) {
    // Every resource it manages goes (a Delete=false one stays), in the
    // reverse of the order a sync applies them.
    std::string instance = AppInstance(app.key.ns, app.key.name);
    std::vector<store::Key> managed;
    for (const auto& r : round.status.value("resources", Json::array())) {
      if (r.is_object())
        managed.push_back({r.value("kind", ""), r.value("namespace", ""), r.value("name", "")});
    }
    std::stable_sort(managed.begin(), managed.end(), [](const store::Key& a, const store::Key& b) {
      return KindRank(a.kind) > KindRank(b.kind);
    });
    for (const auto& k : managed) {
      auto live = store_.Get(k);
      if (!live || !*live) continue;
      const Json ann =
          (*live)->object.value("metadata", Json::object()).value("annotations", Json::object());
      if (!ann.is_object() || !StartsWith(ann.value(kTrackingId, ""), instance + ":")) continue;
      if (HasSyncOption((*live)->object, "Delete=false")) continue;
      STRAKE_TRY(writer_.Delete(k));
    }
    STRAKE_TRY(DropFinalizers(app, IsResourcesFinalizer));
    return controller::ReconcileResult{Millis(1)};
  }
  // Nothing of Argo CD's is left (nothing here acts on other finalizers).
  STRAKE_TRY(store_.Delete(app.key));
  Forget(key);
  return controller::ReconcileResult{};
}

Result<Json> ApplicationReconciler::Sync(const std::string& ns, const std::string& name,
                                         const SyncRequest& req) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    STRAKE_TRY_ASSIGN(got, store_.Get({"Application", ns, name}));
    if (!got) return Failf(ErrorCode::kNotFound, "application {} not found", Quote(name));
    STRAKE_TRY_ASSIGN(decoded, model::DecodeObject(got->object, "application " + name));
    const auto& spec = std::get<model::Application>(decoded.value).spec;
    std::string revision = req.revision.empty() ? spec.source.target_revision : req.revision;
    // Asked for by a person: against the repository as it is now, or not at all.
    SourceState src = sources_.Get(spec.source.repo_url, /*force=*/true);
    if (!src.mirror || !src.error.empty()) return Failf("source unavailable: {}", src.error);
    STRAKE_TRY_ASSIGN(sha, sources_.Resolve(spec.source.repo_url, revision));
    if (req.dry_run) {
      STRAKE_TRY_ASSIGN(rendered, RenderCached(src, *got, spec, sha));
      STRAKE_TRY_ASSIGN(desired, Prepare(*rendered, got->key, spec));
      Compared c = Compare(*got, spec, desired);
      Json out = Json::array();
      for (size_t i = 0; i < desired.size(); ++i) {
        out.push_back({{"kind", desired[i].key.kind},
                       {"namespace", desired[i].key.ns},
                       {"name", desired[i].key.name},
                       {"action", c.in_sync[i] ? "unchanged"
                                  : c.live[i]  ? "configure"
                                               : "create"}});
      }
      for (const auto& p : c.prune) {
        bool skip = PruneActionFor(p.object, req.prune, spec.SyncOptionValue("Prune") == "false") !=
                    PruneAction::kPrune;
        out.push_back({{"kind", p.key.kind},
                       {"namespace", p.key.ns},
                       {"name", p.key.name},
                       {"action", skip ? "prune skipped" : "prune"}});
      }
      return Json{{"revision", sha}, {"dryRun", true}, {"resources", out}};
    }
    Json status = got->status.is_object() ? got->status : Json::object();
    const Json op = status.value("operationState", Json::object());
    if (OperationRunning(op)) {
      return Failf("another operation is already in progress: {}", op.value("message", "sync"));
    }
    Json by = req.initiated_by.is_null() ? Json{{"username", "api"}} : req.initiated_by;
    status["operationState"] = StartOperation(sha, req.prune, by, clock_.Now());
    if (req.info.is_array()) status["operationState"]["operation"]["info"] = req.info;
    auto w = store_.UpdateStatus(got->key, status, got->resource_version, "OperationStarted",
                                 fmt::format("sync to {} started", sha.substr(0, 12)));
    if (w) return status;
    if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  }
  return Failf("application {} kept changing; try again", name);
}

Result<std::vector<ResourceDiff>> ApplicationReconciler::Diff(const std::string& ns,
                                                              const std::string& name) {
  STRAKE_TRY_ASSIGN(got, store_.Get({"Application", ns, name}));
  if (!got) return Failf(ErrorCode::kNotFound, "application {} not found", Quote(name));
  STRAKE_TRY_ASSIGN(decoded, model::DecodeObject(got->object, "application " + name));
  const auto& spec = std::get<model::Application>(decoded.value).spec;
  SourceState src = sources_.Get(spec.source.repo_url, /*force=*/true);
  if (!src.mirror || !src.error.empty()) return Failf("source unavailable: {}", src.error);
  STRAKE_TRY_ASSIGN(sha, sources_.Resolve(spec.source.repo_url, spec.source.target_revision));
  STRAKE_TRY_ASSIGN(rendered, RenderCached(src, *got, spec, sha));
  STRAKE_TRY_ASSIGN(desired, Prepare(*rendered, got->key, spec));
  Compared c = Compare(*got, spec, desired);
  std::vector<ResourceDiff> out;
  for (size_t i = 0; i < desired.size(); ++i) {
    const Desired& d = desired[i];
    ResourceDiff rd;
    rd.key = d.key;
    rd.api_version = d.object.value("apiVersion", "");
    rd.status = c.in_sync[i] ? "Synced" : "OutOfSync";
    if (!c.in_sync[i]) {
      auto ignored = IgnoredPointers(spec.ignore_differences, d.object);
      Json live = c.live[i] ? Normalize(c.live[i]->object, ignored) : Json();
      Json want = Normalize(c.live[i] ? Predict(c.live[i]->object, d.object) : d.object, ignored);
      if (d.key.kind == "Secret") MaskSecrets(live, want);
      std::string path = fmt::format("{}/{}/{}", d.key.kind, d.key.ns, d.key.name);
      rd.diff = UnifiedDiff("live/" + path, live.is_null() ? "" : model::ToYaml(live),
                            "desired/" + path, model::ToYaml(want));
    }
    out.push_back(std::move(rd));
  }
  for (const auto& p : c.prune) {
    ResourceDiff rd;
    rd.key = p.key;
    rd.api_version = p.object.value("apiVersion", "");
    rd.status = "OutOfSync";
    rd.requires_pruning = true;
    Json live = Normalize(p.object, {});
    Json none;
    if (p.key.kind == "Secret") MaskSecrets(live, none);
    std::string path = fmt::format("{}/{}/{}", p.key.kind, p.key.ns, p.key.name);
    rd.diff = UnifiedDiff("live/" + path, model::ToYaml(live), "desired/" + path, "");
    out.push_back(std::move(rd));
  }
  return out;
}

Status ApplicationReconciler::Rollback(const std::string& ns, const std::string& name, int64_t id,
                                       bool prune) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    STRAKE_TRY_ASSIGN(got, store_.Get({"Application", ns, name}));
    if (!got) return Failf(ErrorCode::kNotFound, "application {} not found", Quote(name));
    const Json history =
        got->status.is_object() ? got->status.value("history", Json::array()) : Json::array();
    std::string revision;
    for (const auto& h : history) {
      if (h.value("id", int64_t{-1}) == id) revision = h.value("revision", "");
    }
    if (revision.empty()) {
      return Failf("application {} has no history entry {} (see `strake app history {}`)", name, id,
                   name);
    }
    // Automated sync would undo the rollback at once: it goes off, as in Argo CD.
    store::Resource r = *got;
    Json& policy = r.object["spec"]["syncPolicy"];
    if (policy.is_object() && policy.contains("automated")) {
      policy.erase("automated");
      if (policy.empty()) r.object["spec"].erase("syncPolicy");
      auto w = store_.Update(r, r.resource_version);
      if (!w) {
        if (w.error().Is(ErrorCode::kConflict)) continue;
        return tl::unexpected(w.error());
      }
    }
    SyncRequest req;
    req.revision = revision;
    req.prune = prune;
    auto started = Sync(ns, name, req);
    if (!started) return tl::unexpected(started.error());
    return Ok();
  }
  return Failf("application {} kept changing; try again", name);
}

}  // namespace strake::gitops
