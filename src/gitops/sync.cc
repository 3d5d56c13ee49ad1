#include "gitops/sync.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "base/strings.h"
#include "gitops/diff.h"

namespace strake::gitops {

namespace {

bool Has(const std::vector<std::string>& phases, const std::string& phase) {
  return std::find(phases.begin(), phases.end(), phase) != phases.end();
}

// operationState.operation.sync, or {} when it has none.
Json SyncOf(const Json& op) {
  if (!op.is_object() || !op.contains("operation") || !op["operation"].is_object())
    return Json::object();
  return op["operation"].value("sync", Json::object());
}

// A live object's sync-wave (0 when it has none or one that is not a number:
// it was accepted when it was applied).
int LiveWave(const Json& object) {
  const Json meta = object.value("metadata", Json::object());
  const Json ann = meta.value("annotations", Json::object());
  if (!ann.is_object() || !ann.contains(kSyncWave) || !ann[kSyncWave].is_string()) return 0;
  const std::string text = ann[kSyncWave].get<std::string>();
  int wave = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), wave);
  return ec == std::errc() && end == text.data() + text.size() ? wave : 0;
}

// The wave each prune task runs in: the prune waves in reverse (the lowest
// and the highest swap, and so on inwards), PruneLast ones after `last`.
std::map<int, std::vector<PruneTask>> PruneWaves(const std::vector<store::Resource>& prune,
                                                 bool prune_enabled, bool prune_last, bool no_prune,
                                                 int last_sync_wave) {
  std::map<int, std::vector<PruneTask>> by_wave;
  for (size_t i = 0; i < prune.size(); ++i) {
    by_wave[LiveWave(prune[i].object)].push_back(
        {i, PruneActionFor(prune[i].object, prune_enabled, no_prune)});
  }
  std::vector<int> waves;
  waves.reserve(by_wave.size());
  for (const auto& [w, tasks] : by_wave) waves.push_back(w);
  std::map<int, std::vector<PruneTask>> swapped;
  for (size_t i = 0; i < waves.size(); ++i) {
    swapped[waves[waves.size() - 1 - i]] = std::move(by_wave[waves[i]]);
  }
  int last = last_sync_wave;
  if (!swapped.empty()) last = std::max(last, swapped.rbegin()->first);
  std::map<int, std::vector<PruneTask>> out;
  for (auto& [w, tasks] : swapped) {
    for (auto& t : tasks) {
      bool at_end = prune_last || HasSyncOption(prune[t.index].object, "PruneLast=true");
      out[at_end ? last + 1 : w].push_back(t);
    }
  }
  return out;
}

// The Sync phase: every wave of a resource, a prune or a Sync hook, each
// with its prunes, its resources (kind order, then kind and name) and then
// its Sync hooks.
std::vector<WaveTasks> SyncWaves(const std::vector<Desired>& resources,
                                 const std::vector<Desired>& hooks,
                                 const std::vector<store::Resource>& prune, bool prune_enabled,
                                 bool prune_last, bool no_prune) {
  std::vector<size_t> order(resources.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Desired &x = resources[a], &y = resources[b];
    if (x.wave != y.wave) return x.wave < y.wave;
    if (KindRank(x.key.kind) != KindRank(y.key.kind))
      return KindRank(x.key.kind) < KindRank(y.key.kind);
    if (x.key.kind != y.key.kind) return x.key.kind < y.key.kind;
    return x.key.name < y.key.name;
  });
  std::vector<WaveTasks> sync_hooks = HookWaves(hooks, kSync);
  std::set<int> numbers;
  for (const auto& d : resources) numbers.insert(d.wave);
  for (const auto& w : sync_hooks) numbers.insert(w.wave);
  // gitops-engine's last wave counts 0 even with none (PruneLast is then wave 1).
  int last_sync_wave = numbers.empty() ? 0 : std::max(0, *numbers.rbegin());
  auto prunes = PruneWaves(prune, prune_enabled, prune_last, no_prune, last_sync_wave);
  for (const auto& [w, tasks] : prunes) numbers.insert(w);
  std::vector<WaveTasks> waves;
  auto next_resource = order.begin();
  auto next_hooks = sync_hooks.begin();
  for (int n : numbers) {
    WaveTasks w;
    w.wave = n;
    if (auto p = prunes.find(n); p != prunes.end()) w.prune = std::move(p->second);
    for (; next_resource != order.end() && resources[*next_resource].wave == n; ++next_resource)
      w.resources.push_back(*next_resource);
    if (next_hooks != sync_hooks.end() && next_hooks->wave == n) w.hooks = (next_hooks++)->hooks;
    w.wait_healthy = n != *numbers.rbegin();
    waves.push_back(std::move(w));
  }
  return waves;
}

}  // namespace

std::vector<WaveTasks> HookWaves(const std::vector<Desired>& hooks, const std::string& phase) {
  std::vector<size_t> mine;
  for (size_t i = 0; i < hooks.size(); ++i) {
    if (Has(hooks[i].hooks, phase)) mine.push_back(i);
  }
  std::stable_sort(mine.begin(), mine.end(), [&](size_t a, size_t b) {
    const Desired &x = hooks[a], &y = hooks[b];
    if (x.wave != y.wave) return x.wave < y.wave;
    if (KindRank(x.key.kind) != KindRank(y.key.kind))
      return KindRank(x.key.kind) < KindRank(y.key.kind);
    return x.key.name + x.generate_name < y.key.name + y.generate_name;
  });
  std::vector<WaveTasks> waves;
  for (size_t i : mine) {
    if (waves.empty() || waves.back().wave != hooks[i].wave) {
      waves.emplace_back();
      waves.back().wave = hooks[i].wave;
    }
    waves.back().hooks.push_back(i);
  }
  return waves;
}

std::vector<std::string> AnnotationList(const Json& annotations, const char* key) {
  std::vector<std::string> out;
  if (!annotations.is_object() || !annotations.contains(key) || !annotations[key].is_string())
    return out;
  for (const auto& part : Split(annotations[key].get<std::string>(), ',')) {
    std::string item(Trim(part));
    if (!item.empty()) out.push_back(std::move(item));
  }
  return out;
}

bool HasAnnotationOption(const Json& object, const char* annotation, const std::string& option) {
  const Json meta = object.value("metadata", Json::object());
  for (const auto& o : AnnotationList(meta.value("annotations", Json::object()), annotation)) {
    if (o == option) return true;
  }
  return false;
}

bool HasSyncOption(const Json& object, const std::string& option) {
  return HasAnnotationOption(object, kSyncOptions, option);
}

int KindRank(const std::string& kind) {
  // gitops-engine's order (Helm's install order): what others need first, a
  // CustomResourceDefinition before the custom resources (unknown kinds,
  // last) that it defines.
  static const std::vector<std::string> kOrder = {"Namespace",
                                                  "NetworkPolicy",
                                                  "ResourceQuota",
                                                  "LimitRange",
                                                  "PodSecurityPolicy",
                                                  "PodDisruptionBudget",
                                                  "ServiceAccount",
                                                  "Secret",
                                                  "SecretList",
                                                  "ConfigMap",
                                                  "StorageClass",
                                                  "PersistentVolume",
                                                  "PersistentVolumeClaim",
                                                  "CustomResourceDefinition",
                                                  "ClusterRole",
                                                  "ClusterRoleList",
                                                  "ClusterRoleBinding",
                                                  "ClusterRoleBindingList",
                                                  "Role",
                                                  "RoleList",
                                                  "RoleBinding",
                                                  "RoleBindingList",
                                                  "Service",
                                                  "DaemonSet",
                                                  "Pod",
                                                  "ReplicationController",
                                                  "ReplicaSet",
                                                  "Deployment",
                                                  "HorizontalPodAutoscaler",
                                                  "StatefulSet",
                                                  "Job",
                                                  "CronJob",
                                                  "IngressClass",
                                                  "Ingress",
                                                  "APIService"};
  auto it = std::find(kOrder.begin(), kOrder.end(), kind);
  return it == kOrder.end() ? static_cast<int>(kOrder.size())
                            : static_cast<int>(it - kOrder.begin());
}

bool OperationRunning(const Json& op) {
  return op.is_object() && op.value("phase", "") == "Running";
}

std::string OperationRevision(const Json& op) {
  if (!op.is_object()) return "";
  std::string revision = op.value("syncResult", Json::object()).value("revision", "");
  if (revision.empty() && op.contains("operation")) revision = SyncOf(op).value("revision", "");
  return revision;
}

bool OperationPrunes(const Json& op) { return SyncOf(op).value("prune", false); }

std::string TargetRevision(const model::ApplicationSource& source, const Json& op) {
  if (OperationRunning(op)) {
    std::string asked = SyncOf(op).value("revision", "");
    if (!asked.empty()) return asked;
  }
  return source.target_revision;
}

Json StartOperation(const std::string& revision, bool prune, const Json& initiated_by,
                    TimePoint now) {
  return {{"operation",
           {{"sync", {{"revision", revision}, {"prune", prune}}}, {"initiatedBy", initiated_by}}},
          {"phase", "Running"},
          {"message", ""},
          {"startedAt", FormatRfc3339(now)},
          {"retryCount", 0}};
}

AutoSync DecideAutoSync(const model::ApplicationSpec& spec, const Json& op, const Comparison& c) {
  if (OperationRunning(op) || !spec.automated || !c.out_of_sync || c.source_stale)
    return AutoSync::kNone;
  std::string last_phase = op.is_object() ? op.value("phase", "") : "";
  std::string last_revision = OperationRevision(op);
  bool failed_here =
      (last_phase == "Failed" || last_phase == "Error") && last_revision == c.revision;
  if (c.declares_nothing && c.prunes && !spec.allow_empty) return AutoSync::kRefused;
  if (failed_here) return AutoSync::kNone;
  if (c.prunes_only && !spec.prune) return AutoSync::kNone;
  if (last_revision != c.revision) return AutoSync::kStart;
  return spec.self_heal ? AutoSync::kSelfHeal : AutoSync::kNone;
}

namespace {

// When the last operation finished, if it did.
std::optional<TimePoint> FinishedAt(const Json& op) {
  if (!op.is_object() || !op.contains("finishedAt") || !op["finishedAt"].is_string())
    return std::nullopt;
  return ParseRfc3339(op["finishedAt"].get<std::string>());
}

}  // namespace

int SelfHealAttempts(const Json& op, TimePoint now, const SelfHealBackoff& b) {
  auto finished = FinishedAt(op);
  if (!finished || now - *finished >= b.cooldown) return 0;
  const Json sync = op.value("operation", Json::object()).value("sync", Json::object());
  return sync.value("selfHealAttemptsCount", 0);
}

Millis SelfHealWait(const Json& op, TimePoint now, const SelfHealBackoff& b) {
  int done = SelfHealAttempts(op, now, b);
  auto finished = FinishedAt(op);
  if (done == 0 || !finished) return Millis(0);
  double delay = static_cast<double>(b.initial.count());
  for (int i = 1; i < done && delay < static_cast<double>(b.cap.count()); ++i) delay *= b.factor;
  Millis wait = std::min(Millis(static_cast<int64_t>(delay)), b.cap) -
                std::chrono::duration_cast<Millis>(now - *finished);
  return std::max(wait, Millis(0));
}

Json KeepWhatWasDone(const Json& before, Json now) {
  if (!before.is_array() || !now.is_array()) return now;
  auto id = [](const Json& e) {
    return e.value("kind", "") + "/" + e.value("namespace", "") + "/" + e.value("name", "") + "/" +
           e.value("syncPhase", "");
  };
  std::map<std::string, const Json*> done;
  for (const auto& e : before) {
    if (e.is_object() && e.value("status", "") != "SyncFailed" &&
        e.value("message", "") != "unchanged")
      done[id(e)] = &e;
  }
  for (auto& e : now) {
    if (!e.is_object() || e.value("message", "") != "unchanged") continue;
    if (auto it = done.find(id(e)); it != done.end()) e = *it->second;
  }
  return now;
}

PruneAction PruneActionFor(const Json& live_object, bool prune, bool no_prune) {
  // Prune=confirm waits for a confirmation strake has no flow for: kept.
  if (HasSyncOption(live_object, "Prune=false") || HasSyncOption(live_object, "Prune=confirm"))
    return PruneAction::kSkipNoPrune;
  if (no_prune && !HasSyncOption(live_object, "Prune=true")) return PruneAction::kSkipNoPrune;
  return prune ? PruneAction::kPrune : PruneAction::kSkipNotEnabled;
}

SyncPlan PlanSync(const std::vector<Desired>& resources, const std::vector<Desired>& hooks,
                  const std::vector<store::Resource>& prune, bool prune_enabled, bool prune_last,
                  bool no_prune) {
  SyncPlan plan;
  plan.pre_sync = HookWaves(hooks, kPreSync);
  plan.sync = SyncWaves(resources, hooks, prune, prune_enabled, prune_last, no_prune);
  plan.post_sync = HookWaves(hooks, kPostSync);
  plan.sync_fail = HookWaves(hooks, kSyncFail);
  return plan;
}

std::string HookId(const std::string& phase, const Desired& hook) {
  return phase + ":" + hook.key.ToString() + hook.generate_name;
}

HookStep NextHookStep(const std::string& recorded_phase, const Desired& hook, bool wait) {
  if (recorded_phase.empty() && !hook.generate_name.empty() && wait) return HookStep::kName;
  if (recorded_phase.empty() || recorded_phase == "Pending") return HookStep::kCreate;
  if (recorded_phase == "Running") return HookStep::kObserve;
  return HookStep::kDone;
}

Json HookObject(const Desired& hook, const std::string& name, const std::string& instance) {
  Json obj = hook.object;
  if (!hook.generate_name.empty()) {
    obj["metadata"].erase("generateName");
    obj["metadata"]["name"] = name;
    obj["metadata"]["annotations"][kTrackingId] = TrackingId(instance, obj);
  }
  return obj;
}

std::optional<HookOutcome> ObserveRunningHook(const Desired& hook, Health health,
                                              const std::string& health_message) {
  if (health == Health::kHealthy) {
    return HookOutcome{"Succeeded", health_message.empty() ? "succeeded" : health_message,
                       hook.delete_policy.count("HookSucceeded") > 0};
  }
  if (health == Health::kDegraded || health == Health::kMissing) {
    return HookOutcome{"Failed",
                       health == Health::kMissing ? "deleted while running" : health_message,
                       hook.delete_policy.count("HookFailed") > 0};
  }
  return std::nullopt;
}

void ForgetFailedHooks(Json& hooks) {
  std::vector<std::string> failed;
  for (const auto& [id, st] : hooks.items()) {
    if (st.value("phase", "") == "Failed") failed.push_back(id);
  }
  for (const auto& id : failed) hooks.erase(id);
}

std::optional<Millis> RetryBackoff(const std::optional<model::SyncRetry>& retry, int retries) {
  if (!retry || (retry->limit >= 0 && retries >= retry->limit)) return std::nullopt;
  double backoff = static_cast<double>(retry->duration.count());
  for (int i = 0; i < retries; ++i) backoff *= retry->factor;
  backoff = std::min(backoff, static_cast<double>(retry->max_duration.count()));
  return Millis(static_cast<int64_t>(backoff));
}

Conclusion Conclude(const SyncProgress& progress, const std::optional<model::SyncRetry>& retry,
                    int retries) {
  using Kind = Conclusion::Kind;
  if (!progress.waiting.empty()) return {Kind::kWaiting, Millis(progress.naming ? 1 : 1000)};
  if (progress.failures.empty()) return {Kind::kSucceeded, Millis(1)};
  if (auto backoff = RetryBackoff(retry, retries)) return {Kind::kRetrying, *backoff};
  return {Kind::kFailed, std::nullopt};
}

Json AppendHistory(Json history, const Json& entry, int limit) {
  int64_t id = history.empty() ? 0 : history.back().value("id", int64_t{0}) + 1;
  Json numbered = {{"id", id}};
  numbered.update(entry);
  history.push_back(std::move(numbered));
  while (static_cast<int>(history.size()) > limit && !history.empty())
    history.erase(history.begin());
  return history;
}

}  // namespace strake::gitops
