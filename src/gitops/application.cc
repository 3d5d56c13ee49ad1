#include "gitops/application.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "gitops/diff.h"
#include "gitops/health.h"
#include "model/decode.h"

namespace strake::gitops {

using store::Json;

namespace {

std::string Now(const Clock& clock) { return FormatRfc3339(clock.Now()); }

// Argo CD's order of kinds within a wave (gitops-engine's kindOrder, for
// the kinds strake serves); other kinds follow, by name.
int KindRank(const std::string& kind) {
  static const std::vector<std::string> kOrder = {"Secret", "ConfigMap", "Service", "Deployment"};
  auto it = std::find(kOrder.begin(), kOrder.end(), kind);
  return it == kOrder.end() ? static_cast<int>(kOrder.size())
                            : static_cast<int>(it - kOrder.begin());
}

std::string KeyString(const store::Key& k) { return k.ToString(); }

Json SourceJson(const model::ApplicationSource& s) {
  return {{"repoURL", s.repo_url}, {"path", s.path}, {"targetRevision", s.target_revision}};
}

bool HasSyncOption(const Json& object, const std::string& option) {
  const Json meta = object.value("metadata", Json::object());
  const Json ann = meta.value("annotations", Json::object());
  if (!ann.is_object() || !ann.contains(kSyncOptions) || !ann[kSyncOptions].is_string())
    return false;
  for (const auto& o : Split(ann[kSyncOptions].get<std::string>(), ',')) {
    if (Trim(o) == option) return true;
  }
  return false;
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

Result<std::shared_ptr<const Rendered>> ApplicationReconciler::RenderCached(
    const SourceState& src, const model::ApplicationSource& source, const std::string& sha) {
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", source.repo_url, sha, source.path,
                                source.recurse, source.include, source.exclude);
  {
    std::lock_guard<std::mutex> lock(render_mu_);
    auto it = rendered_.find(key);
    if (it != rendered_.end()) {
      render_lru_.splice(render_lru_.begin(), render_lru_, it->second);
      return it->second->rendered;
    }
  }
  STRAKE_TRY_ASSIGN(r, Render(*src.mirror, sha, source));
  auto shared = std::make_shared<const Rendered>(std::move(r));
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

Result<std::vector<ApplicationReconciler::Desired>> ApplicationReconciler::Prepare(
    const Rendered& r, const store::Key& app, const model::ApplicationSpec& spec) {
  std::vector<Desired> out;
  std::vector<std::string> errors;
  std::map<std::string, std::string> seen;
  std::string instance = AppInstance(app.ns, app.name);
  for (const auto& m : r.objects) {
    Json obj = m.object;
    std::string av = obj.value("apiVersion", ""), kind = obj.value("kind", "");
    auto namespaced = writer_.Namespaced(av, kind);
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
      if (ann.contains(kHook) && ann[kHook].is_string()) {
        bool skip = false;
        for (const auto& part : Split(ann[kHook].get<std::string>(), ',')) {
          std::string h(Trim(part));
          if (h == "Skip") {
            skip = true;
          } else if (h == "PreSync" || h == "Sync" || h == "PostSync" || h == "SyncFail") {
            hooks.push_back(h);
          } else if (!h.empty()) {
            errors.push_back(fmt::format(
                "{}: metadata.annotations[{}]: {} is not a hook (PreSync, Sync, PostSync, "
                "SyncFail or Skip; PreDelete and PostDelete are not supported yet)",
                m.origin, kHook, Quote(h)));
          }
        }
        if (skip) continue;
      }
      if (ann.contains(kHookDeletePolicy) && ann[kHookDeletePolicy].is_string()) {
        for (const auto& part : Split(ann[kHookDeletePolicy].get<std::string>(), ',')) {
          std::string p(Trim(part));
          if (p == "HookSucceeded" || p == "HookFailed" || p == "BeforeHookCreation") {
            delete_policy.insert(p);
          } else if (!p.empty()) {
            errors.push_back(fmt::format(
                "{}: metadata.annotations[{}]: {} is not a delete policy (HookSucceeded, "
                "HookFailed or BeforeHookCreation)",
                m.origin, kHookDeletePolicy, Quote(p)));
          }
        }
      }
      // Argo CD's default: the previous run's object goes before a new one.
      if (!hooks.empty() && delete_policy.empty()) delete_policy.insert("BeforeHookCreation");
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
    auto [it, fresh] = seen.emplace(KeyString(d.key) + d.generate_name, m.origin);
    if (!fresh) {
      errors.push_back(fmt::format("{}: {} {}/{} is declared twice (also at {})", m.origin, kind,
                                   ns, d.key.name, it->second));
      continue;
    }
    d.object = std::move(obj);
    d.hooks = std::move(hooks);
    d.delete_policy = std::move(delete_policy);
    out.push_back(std::move(d));
  }
  if (!errors.empty()) return Fail(Join(errors, "\n"));
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
    Health h = live ? HealthOf(d.key.kind, live->status, live->generation, &msg) : Health::kMissing;
    if (Worse(c.app_health, h) != c.app_health) {
      c.app_health = h;
      c.health_message = msg;
    }
    c.out_of_sync = c.out_of_sync || !in_sync;
    Json entry = {{"group", GroupOf(d.object.value("apiVersion", ""))},
                  {"version", d.object.value("apiVersion", "")},
                  {"kind", d.key.kind},
                  {"namespace", d.key.ns},
                  {"name", d.key.name},
                  {"status", in_sync ? "Synced" : "OutOfSync"},
                  {"health", {{"status", HealthName(h)}}}};
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

Result<controller::ReconcileResult> ApplicationReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Application", ns, name}));
  if (!got) {
    Forget(key);
    return controller::ReconcileResult{};
  }
  const store::Resource& app = *got;
  const Json status = app.status.is_object() ? app.status : Json::object();
  Json next = status;
  Json conditions = Json::array();
  controller::ReconcileResult result;

  auto write = [&](const std::string& reason,
                   const std::string& message) -> Result<controller::ReconcileResult> {
    next["conditions"] = conditions;
    if (conditions.empty()) next.erase("conditions");
    // A condition keeps the time it first appeared.
    if (status.contains("conditions") && next.contains("conditions")) {
      for (auto& c : next["conditions"]) {
        for (const auto& old : status["conditions"]) {
          if (old.value("type", "") == c.value("type", "") &&
              old.value("message", "") == c.value("message", "")) {
            c["lastTransitionTime"] = old.value("lastTransitionTime", "");
          }
        }
      }
    }
    Json a = next, b = status;
    a.erase("reconciledAt");
    b.erase("reconciledAt");
    if (a == b) return result;
    next["reconciledAt"] = Now(clock_);
    auto w = store_.UpdateStatus(app.key, next, app.resource_version, reason, message);
    if (!w && w.error().Is(ErrorCode::kConflict)) {
      return controller::ReconcileResult{std::chrono::milliseconds(1)};
    }
    if (!w) return tl::unexpected(w.error());
    return result;
  };

  auto decoded = model::DecodeObject(app.object, "application " + name);
  if (!decoded) {
    conditions.push_back(Condition("InvalidSpecError", decoded.error().message, clock_));
    next["sync"]["status"] = "Unknown";
    return write("InvalidSpecError", decoded.error().message);
  }
  const model::ApplicationSpec& spec = std::get<model::Application>(decoded->value).spec;
  const std::string& url = spec.source.repo_url;
  Json op = status.value("operationState", Json());
  bool running = op.is_object() && op.value("phase", "") == "Running";
  Millis interval = sources_.Interval(url);
  // Jittered, so that thousands of Applications do not come due together.
  thread_local std::mt19937 rng{std::random_device{}()};
  result.requeue_after = Millis(
      interval.count() + std::uniform_int_distribution<int64_t>(0, interval.count() / 10)(rng));

  auto comparison_error = [&](const std::string& what) -> Result<controller::ReconcileResult> {
    conditions.push_back(Condition("ComparisonError", what, clock_));
    next["sync"]["status"] = "Unknown";
    result.requeue_after = std::min<Millis>(*result.requeue_after, Millis(10'000));
    if (running) {
      // A sync cannot run against a source it cannot read: it fails, and
      // nothing is applied or pruned.
      op["phase"] = "Failed";
      op["message"] = what;
      op["finishedAt"] = Now(clock_);
      next["operationState"] = op;
    }
    return write("ComparisonError", what);
  };

  SourceState src = sources_.Get(url);
  if (!src.mirror) return comparison_error("source unavailable: " + src.error);
  if (!src.error.empty()) {
    conditions.push_back(
        Condition("ComparisonError",
                  "source unavailable, showing the last fetched state: " + src.error, clock_));
  }
  std::string revision = spec.source.target_revision;
  if (running) {
    std::string asked = op["operation"]["sync"].value("revision", "");
    if (!asked.empty()) revision = asked;
  }
  auto sha = sources_.Resolve(url, revision);
  if (!sha) return comparison_error(sha.error().message);
  auto rendered = RenderCached(src, spec.source, *sha);
  if (!rendered) return comparison_error(rendered.error().message);
  auto desired = Prepare(**rendered, app.key, spec);
  if (!desired) return comparison_error(desired.error().message);
  // Hooks run during a sync; they are not compared, shown or pruned. Their
  // changes (a hook Job ending) still bring the Application back.
  Remember(key, *desired, url, CleanRepoPath(spec.source.path).value_or("."));
  std::vector<Desired> hooks;
  for (auto it = desired->begin(); it != desired->end();) {
    if (it->hooks.empty()) {
      ++it;
    } else {
      hooks.push_back(std::move(*it));
      it = desired->erase(it);
    }
  }
  Compared c = Compare(app, spec, *desired);

  // Automated sync: when the revision moved, or on drift with selfHeal; not
  // again for a revision whose sync failed.
  if (!running && spec.automated && c.out_of_sync && src.error.empty()) {
    std::string last_rev;
    std::string last_phase = op.is_object() ? op.value("phase", "") : "";
    if (op.is_object()) last_rev = op.value("syncResult", Json::object()).value("revision", "");
    if (op.is_object() && last_rev.empty() && op.contains("operation"))
      last_rev = op["operation"]["sync"].value("revision", "");
    bool failed_here = (last_phase == "Failed" || last_phase == "Error") && last_rev == *sha;
    bool wipes_out = desired->empty() && !c.prune.empty() && !spec.allow_empty;
    if (wipes_out) {
      conditions.push_back(Condition("SyncError",
                                     "automated sync would delete every resource: the source "
                                     "declares none (set syncPolicy.automated.allowEmpty)",
                                     clock_));
    } else if (!failed_here && (last_rev != *sha || spec.self_heal)) {
      std::string intent;
      if (audit_.begin) {
        STRAKE_TRY_ASSIGN(id, audit_.begin(fmt::format("application {}/{}", ns, name),
                                           fmt::format("automated sync to {}{}", *sha,
                                                       last_rev == *sha ? " (self-heal)" : "")));
        intent = id;
      }
      op = {{"operation",
             {{"sync", {{"revision", *sha}, {"prune", spec.prune}}},
              {"initiatedBy", {{"automated", true}}}}},
            {"phase", "Running"},
            {"message", ""},
            {"startedAt", Now(clock_)},
            {"retryCount", 0}};
      running = true;
      // Recorded before the first write, so that a restart resumes it.
      next["operationState"] = op;
      auto w = write("OperationStarted",
                     fmt::format("automated sync to {} started", sha->substr(0, 12)));
      bool conflict = w && w->requeue_after && *w->requeue_after <= Millis(1);
      if (audit_.end) audit_.end(intent, w && !conflict);
      if (!w || conflict) return w;
      return controller::ReconcileResult{Millis(1)};
    }
  }

  std::string reason = "Reconciled", message;
  if (running) {
    // Wave by wave, kinds in Argo CD's order.
    std::vector<size_t> order(desired->size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const Desired &x = (*desired)[a], &y = (*desired)[b];
      if (x.wave != y.wave) return x.wave < y.wave;
      if (KindRank(x.key.kind) != KindRank(y.key.kind))
        return KindRank(x.key.kind) < KindRank(y.key.kind);
      if (x.key.kind != y.key.kind) return x.key.kind < y.key.kind;
      return x.key.name < y.key.name;
    });
    Json results = Json::array();
    std::vector<std::string> failures;
    std::string waiting;
    Json hook_state = op.value("hooks", Json::object());
    // One phase's hooks (of one wave, or all), wave by wave: each is created
    // once per operation (after its previous object is deleted,
    // BeforeHookCreation), and the phase goes on when every one of a wave is
    // healthy (a Job complete). A degraded one (a Job failed) fails the sync.
    // A generateName hook first records the name it will take, then creates
    // it: a restart in between finds and adopts it instead of starting a
    // second one.
    std::string instance = AppInstance(ns, name);
    bool naming = false;  // a generateName hook's name was just recorded
    auto run_hooks = [&](const std::string& phase, bool wait, std::optional<int> only_wave) {
      std::vector<const Desired*> mine;
      for (const auto& h : hooks) {
        if (only_wave && h.wave != *only_wave) continue;
        if (std::find(h.hooks.begin(), h.hooks.end(), phase) != h.hooks.end()) mine.push_back(&h);
      }
      std::stable_sort(mine.begin(), mine.end(), [](const Desired* x, const Desired* y) {
        if (x->wave != y->wave) return x->wave < y->wave;
        if (KindRank(x->key.kind) != KindRank(y->key.kind))
          return KindRank(x->key.kind) < KindRank(y->key.kind);
        return x->key.name + x->generate_name < y->key.name + y->generate_name;
      });
      for (size_t n = 0; n < mine.size() && failures.empty() && waiting.empty();) {
        size_t end = n;
        while (end < mine.size() && mine[end]->wave == mine[n]->wave) ++end;
        for (size_t x = n; x < end; ++x) {
          const Desired& h = *mine[x];
          std::string id = phase + ":" + KeyString(h.key) + h.generate_name;
          const Json seen = hook_state.value(id, Json::object());
          std::string hook_phase = seen.value("phase", "");
          std::string msg = seen.value("message", "");
          store::Key live_key = h.key;
          if (!h.generate_name.empty()) live_key.name = seen.value("name", "");
          if (hook_phase.empty() && !h.generate_name.empty())
            live_key.name = h.generate_name + RandomSuffix();
          if (hook_phase.empty() && !h.generate_name.empty() && wait) {
            hook_phase = "Pending";
            msg = "named";
            naming = true;
          } else if (hook_phase.empty() || hook_phase == "Pending") {
            auto live = store_.Get(live_key);
            bool exists = live && *live;
            Status w = Ok();
            if (hook_phase == "Pending" && exists) {
              // Created before a restart: this operation's own.
            } else {
              if (exists && h.delete_policy.count("BeforeHookCreation"))
                (void)writer_.Delete(live_key);
              Json obj = h.object;
              if (!h.generate_name.empty()) {
                obj["metadata"].erase("generateName");
                obj["metadata"]["name"] = live_key.name;
                obj["metadata"]["annotations"][kTrackingId] = TrackingId(instance, obj);
              }
              w = writer_.Apply(obj);
            }
            hook_phase = w ? "Running" : "Failed";
            msg = w ? "created" : w.error().message;
          } else if (hook_phase == "Running") {
            auto live = store_.Get(live_key);
            std::string hmsg;
            Health health =
                live && *live ? HealthOf(live_key.kind, (*live)->status, (*live)->generation, &hmsg)
                              : Health::kMissing;
            if (health == Health::kHealthy) {
              hook_phase = "Succeeded";
              msg = hmsg.empty() ? "succeeded" : hmsg;
              if (h.delete_policy.count("HookSucceeded")) (void)writer_.Delete(live_key);
            } else if (health == Health::kDegraded || health == Health::kMissing) {
              hook_phase = "Failed";
              msg = health == Health::kMissing ? "deleted while running" : hmsg;
              if (h.delete_policy.count("HookFailed")) (void)writer_.Delete(live_key);
            }
          }
          hook_state[id] = {{"phase", hook_phase}, {"message", msg}};
          if (!h.generate_name.empty()) hook_state[id]["name"] = live_key.name;
          results.push_back({{"group", GroupOf(h.object.value("apiVersion", ""))},
                             {"version", h.object.value("apiVersion", "")},
                             {"kind", live_key.kind},
                             {"namespace", live_key.ns},
                             {"name", live_key.name},
                             {"hookType", phase},
                             {"hookPhase", hook_phase},
                             {"syncPhase", phase},
                             {"message", msg},
                             {"status", hook_phase == "Failed" ? "SyncFailed" : "Synced"}});
          if (hook_phase == "Failed") {
            failures.push_back(
                fmt::format("{} hook {} {}: {}", phase, live_key.kind, live_key.name, msg));
          } else if (hook_phase == "Pending") {
            if (waiting.empty())
              waiting = fmt::format("creating hook {}/{}", live_key.kind, live_key.name);
          } else if (hook_phase == "Running" && wait && waiting.empty()) {
            waiting = fmt::format("waiting for completion of hook {}/{} ({})", live_key.kind,
                                  live_key.name, phase);
          }
        }
        n = end;
      }
    };
    run_hooks("PreSync", true, std::nullopt);
    // The Sync phase: wave by wave, the wave's resources, then its Sync hooks.
    std::set<int> waves;
    for (size_t i : order) waves.insert((*desired)[i].wave);
    for (const auto& h : hooks) {
      if (std::find(h.hooks.begin(), h.hooks.end(), "Sync") != h.hooks.end()) waves.insert(h.wave);
    }
    size_t n = 0;
    for (int wave : waves) {
      if (!failures.empty() || !waiting.empty()) break;
      size_t end = n;
      while (end < order.size() && (*desired)[order[end]].wave == wave) ++end;
      for (size_t x = n; x < end; ++x) {
        const Desired& d = (*desired)[order[x]];
        Json entry = {{"group", GroupOf(d.object.value("apiVersion", ""))},
                      {"version", d.object.value("apiVersion", "")},
                      {"kind", d.key.kind},
                      {"namespace", d.key.ns},
                      {"name", d.key.name},
                      {"syncPhase", "Sync"}};
        if (c.in_sync[order[x]]) {
          entry["status"] = "Synced";
          entry["message"] = "unchanged";
        } else {
          auto w = writer_.Apply(d.object);
          if (w) {
            entry["status"] = "Synced";
            entry["message"] = c.live[order[x]] ? "configured" : "created";
          } else {
            entry["status"] = "SyncFailed";
            entry["message"] = w.error().message;
            failures.push_back(fmt::format("{} {}: {}", d.key.kind, d.key.name, w.error().message));
          }
        }
        results.push_back(std::move(entry));
      }
      if (failures.empty()) run_hooks("Sync", true, wave);
      // The next wave waits until this one is healthy.
      if (failures.empty() && waiting.empty() && wave != *waves.rbegin()) {
        for (size_t x = n; x < end && waiting.empty(); ++x) {
          const Desired& d = (*desired)[order[x]];
          auto live = store_.Get(d.key);
          if (!live || !*live) {
            waiting = fmt::format("{}/{}", d.key.kind, d.key.name);
            continue;
          }
          if (HealthOf(d.key.kind, (*live)->status, (*live)->generation) != Health::kHealthy)
            waiting = fmt::format("{}/{}", d.key.kind, d.key.name);
        }
        if (!waiting.empty())
          waiting = fmt::format("waiting for healthy state of {} (wave {})", waiting, wave);
      }
      n = end;
    }
    bool prune = op["operation"]["sync"].value("prune", false);
    if (failures.empty() && waiting.empty()) {
      for (const auto& p : c.prune) {
        Json entry = {{"group", GroupOf(p.object.value("apiVersion", ""))},
                      {"version", p.object.value("apiVersion", "")},
                      {"kind", p.key.kind},
                      {"namespace", p.key.ns},
                      {"name", p.key.name},
                      {"syncPhase", "Sync"}};
        if (HasSyncOption(p.object, "Prune=false")) {
          entry["status"] = "PruneSkipped";
          entry["message"] = "ignored (no prune)";
        } else if (!prune) {
          entry["status"] = "PruneSkipped";
          entry["message"] = "ignored (requires pruning)";
        } else if (auto st = writer_.Delete(p.key); !st) {
          entry["status"] = "SyncFailed";
          entry["message"] = st.error().message;
          failures.push_back(
              fmt::format("pruning {} {}: {}", p.key.kind, p.key.name, st.error().message));
        } else {
          entry["status"] = "Pruned";
          entry["message"] = "pruned";
        }
        results.push_back(std::move(entry));
      }
    }
    if (failures.empty() && waiting.empty()) {
      bool has_post = false;
      for (const auto& h : hooks) {
        has_post =
            has_post || std::find(h.hooks.begin(), h.hooks.end(), "PostSync") != h.hooks.end();
      }
      // PostSync hooks run once everything the sync applied is healthy.
      if (has_post) {
        for (size_t i = 0; i < desired->size() && waiting.empty(); ++i) {
          const Desired& d = (*desired)[i];
          auto live = store_.Get(d.key);
          if (!live || !*live ||
              HealthOf(d.key.kind, (*live)->status, (*live)->generation) != Health::kHealthy) {
            waiting = fmt::format("waiting for healthy state of {}/{} before PostSync hooks",
                                  d.key.kind, d.key.name);
          }
        }
        if (waiting.empty()) run_hooks("PostSync", true, std::nullopt);
      }
    }
    op["syncResult"] = {
        {"revision", *sha}, {"source", SourceJson(spec.source)}, {"resources", results}};
    if (!waiting.empty()) {
      op["message"] = waiting;
      result.requeue_after = Millis(naming ? 1 : 1000);
    } else if (!failures.empty()) {
      int retries = op.value("retryCount", 0);
      if (spec.retry && (spec.retry->limit < 0 || retries < spec.retry->limit)) {
        double backoff = static_cast<double>(spec.retry->duration.count());
        for (int i = 0; i < retries; ++i) backoff *= spec.retry->factor;
        backoff = std::min(backoff, static_cast<double>(spec.retry->max_duration.count()));
        op["retryCount"] = retries + 1;
        // A retry runs the hooks that failed again.
        std::vector<std::string> rerun;
        for (const auto& [id, st] : hook_state.items()) {
          if (st.value("phase", "") == "Failed") rerun.push_back(id);
        }
        for (const auto& id : rerun) hook_state.erase(id);
        op["message"] = fmt::format("retrying attempt #{} in {}: {}", retries + 1,
                                    FormatDuration(Millis(static_cast<int64_t>(backoff))),
                                    Join(failures, "; "));
        result.requeue_after = Millis(static_cast<int64_t>(backoff));
        reason = "SyncRetrying";
      } else {
        // SyncFail hooks: started, not waited for.
        std::vector<std::string> failed = std::move(failures);
        failures.clear();
        run_hooks("SyncFail", false, std::nullopt);
        op["syncResult"]["resources"] = results;
        failures = std::move(failed);
        op["phase"] = "Failed";
        op["message"] = "one or more objects failed to apply: " + Join(failures, "; ");
        op["finishedAt"] = Now(clock_);
        reason = "SyncFailed";
      }
      message = op["message"];
    } else {
      op["phase"] = "Succeeded";
      op["message"] = "successfully synced (all tasks run)";
      op["finishedAt"] = Now(clock_);
      Json history = status.value("history", Json::array());
      int64_t id = history.empty() ? 0 : history.back().value("id", int64_t{0}) + 1;
      history.push_back({{"id", id},
                         {"revision", *sha},
                         {"deployStartedAt", op.value("startedAt", "")},
                         {"deployedAt", op["finishedAt"]},
                         {"source", SourceJson(spec.source)},
                         {"initiatedBy", op["operation"].value("initiatedBy", Json::object())}});
      while (static_cast<int>(history.size()) > spec.revision_history_limit && !history.empty())
        history.erase(history.begin());
      next["history"] = history;
      reason = "SyncSucceeded";
      message = fmt::format("synced to {}", sha->substr(0, 12));
      result.requeue_after = Millis(1);  // compare again against what was written
    }
    if (!hook_state.empty()) op["hooks"] = hook_state;
    next["operationState"] = op;
  }

  next["sync"] = {
      {"status", c.out_of_sync ? "OutOfSync" : "Synced"},
      {"revision", *sha},
      {"comparedTo",
       {{"source", SourceJson(spec.source)},
        {"destination",
         {{"name", spec.destination_name}, {"namespace", spec.destination_namespace}}}}}};
  next["health"] = {{"status", HealthName(c.app_health)}};
  if (!c.health_message.empty() && c.app_health != Health::kHealthy)
    next["health"]["message"] = c.health_message;
  next["resources"] = c.resources;
  next["sourceType"] = (*rendered)->source_type;
  if (reason == "Reconciled") {
    const Json old_sync = status.value("sync", Json::object());
    const Json old_health = status.value("health", Json::object());
    if (old_sync.value("status", "") != next["sync"]["status"] ||
        old_sync.value("revision", "") != *sha) {
      reason = c.out_of_sync ? "OutOfSync" : "Synced";
      message = fmt::format("{} at {}", reason, sha->substr(0, 12));
    } else if (old_health.value("status", "") != next["health"]["status"]) {
      reason = "HealthChanged";
      message = fmt::format("health is {}", HealthName(c.app_health));
    }
  }
  return write(reason, message);
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
      STRAKE_TRY_ASSIGN(rendered, RenderCached(src, spec.source, sha));
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
        bool skip = !req.prune || HasSyncOption(p.object, "Prune=false");
        out.push_back({{"kind", p.key.kind},
                       {"namespace", p.key.ns},
                       {"name", p.key.name},
                       {"action", skip ? "prune skipped" : "prune"}});
      }
      return Json{{"revision", sha}, {"dryRun", true}, {"resources", out}};
    }
    Json status = got->status.is_object() ? got->status : Json::object();
    const Json op = status.value("operationState", Json::object());
    if (op.value("phase", "") == "Running") {
      return Failf("another operation is already in progress: {}", op.value("message", "sync"));
    }
    status["operationState"] = {{"operation",
                                 {{"sync", {{"revision", sha}, {"prune", req.prune}}},
                                  {"initiatedBy", {{"username", "api"}}}}},
                                {"phase", "Running"},
                                {"message", ""},
                                {"startedAt", Now(clock_)},
                                {"retryCount", 0}};
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
  STRAKE_TRY_ASSIGN(rendered, RenderCached(src, spec.source, sha));
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
