// The sync engine's decisions, as pure functions on values (gitops-engine
// keeps them in pkg/sync): whether an Application syncs now, in what order a
// sync runs its tasks, what a hook's recorded state becomes, how long a retry
// waits, and how the history is trimmed. No store, no processes, no clock
// (the time is a parameter): the ApplicationReconciler gathers the facts,
// asks, and carries the answers out (applies, deletes, reads health, writes
// the operation's status).
//
// Semantics are Argo CD's, as strake serves them:
// - Automated sync starts when the compared revision is not the one last
//   synced, or on any drift with selfHeal; never while the source shows a
//   stale state, never again automatically for a revision whose sync failed
//   (syncPolicy.retry retries within the operation), and never to delete
//   every resource unless allowEmpty.
// - A sync runs the phases PreSync, Sync, PostSync (SyncFail when it fails),
//   each wave by wave (argocd.argoproj.io/sync-wave, ascending). In the Sync
//   phase a wave applies its resources (Argo CD's kind order, then kind and
//   name), then runs its Sync hooks, and the next wave waits until the
//   wave's resources are healthy. A live object git no longer declares is
//   pruned in a wave of the Sync phase too, before that wave applies: its
//   own sync-wave, the prune waves taken in reverse (what was created last
//   goes first, as gitops-engine swaps them); with PruneLast (the
//   Application's syncOptions or the object's annotation) in a wave after
//   the last. PostSync hooks run once every resource is healthy.
// - A round that failed is retried after duration * factor^retries, at most
//   maxDuration, up to limit times (< 0: forever); its failed hooks run again.
// - status.history keeps the last revisionHistoryLimit syncs, ids counting up.
//
// Hook phases and delete policies are Argo CD's words, kept as strings
// because they are what status shows. Plain functions: thread-safe, and they
// do not fail (their input was validated when it was prepared).
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "gitops/health.h"
#include "model/gitops.h"
#include "model/node.h"
#include "store/store.h"

namespace strake::gitops {

using model::Json;

inline constexpr const char* kPreSync = "PreSync";
inline constexpr const char* kSync = "Sync";
inline constexpr const char* kPostSync = "PostSync";
inline constexpr const char* kSyncFail = "SyncFail";

// An object the source declares, prepared for a sync: a resource kept in
// sync, or a hook (hooks non-empty) run at its phases.
struct Desired {
  Json object;
  store::Key key;
  std::string origin;  // where it was declared, for errors
  int wave = 0;
  std::vector<std::string> hooks;       // PreSync, Sync, PostSync, SyncFail; empty: not a hook
  std::set<std::string> delete_policy;  // HookSucceeded, HookFailed, BeforeHookCreation
  std::string generate_name;            // a hook named per sync (key.name is then empty)
};

// The items of annotation `key` of `annotations` when it is a comma-separated
// list (Argo CD's hook, hook-delete-policy, sync-options, compare-options):
// trimmed, empty ones dropped; none when it is absent or not a string.
std::vector<std::string> AnnotationList(const Json& annotations, const char* key);
// Whether `object`'s `annotation` (a comma-separated list, as Argo CD's
// argocd.argoproj.io/sync-options and compare-options are) lists `option`.
bool HasAnnotationOption(const Json& object, const char* annotation, const std::string& option);
// Its argocd.argoproj.io/sync-options lists `option` ("Prune=false").
bool HasSyncOption(const Json& object, const std::string& option);

// Argo CD's order of kinds within a wave (gitops-engine's kindOrder); every
// other kind (a custom resource) ranks after them, equal.
int KindRank(const std::string& kind);

// --- The operation (status.operationState) --------------------------------

bool OperationRunning(const Json& op);
// The revision the operation syncs to (what it synced, once it has a
// result); "" if none.
std::string OperationRevision(const Json& op);
// Whether the operation prunes (operation.sync.prune).
bool OperationPrunes(const Json& op);
// The revision a reconcile compares against: a running operation's own, else
// the source's targetRevision.
std::string TargetRevision(const model::ApplicationSource& source, const Json& op);
// A new operation, Running, that syncs to `revision`; `initiated_by` is
// Argo's initiatedBy ({"automated": true} or {"username": ...}).
Json StartOperation(const std::string& revision, bool prune, const Json& initiated_by,
                    TimePoint now);

// --- Whether to sync --------------------------------------------------------

// What the last comparison found, as far as the decision needs it.
struct Comparison {
  std::string revision;  // the commit compared against
  bool out_of_sync = false;
  bool source_stale = false;      // the source could not be fetched: an older state is shown
  bool declares_nothing = false;  // the source declares no resource (hooks aside)
  bool prunes = false;            // resources the Application tracks would be pruned
  bool prunes_only = false;       // ... and nothing else differs
};

enum class AutoSync {
  kNone,      // nothing to start
  kRefused,   // it would delete every resource (kRefusedEmpty says why)
  kStart,     // to a revision not synced yet
  kSelfHeal,  // to the revision last synced, whose resources drifted
};
inline constexpr const char* kRefusedEmpty =
    "automated sync would delete every resource: the source declares none (set "
    "syncPolicy.automated.allowEmpty)";

// Whether automated sync starts an operation now; `op` is
// status.operationState (null if none). As Argo CD, a sync that would only
// prune is not started while automated prune is off.
AutoSync DecideAutoSync(const model::ApplicationSpec& spec, const Json& op, const Comparison& c);

// Argo CD's self-heal backoff (argocd-application-controller's defaults):
// the first repair of a revision starts at once, the next ones 2 s, 6 s,
// 18 s ... at most 5 minutes after the previous repair finished; the count
// starts again when no repair was needed for the cooldown. Without it, a
// difference no sync can remove (a Prune=false object git dropped) is
// synced again as fast as the loop turns.
struct SelfHealBackoff {
  Millis initial{2'000};
  int factor = 3;
  Millis cap{300'000};
  Millis cooldown{330'000};
};
// The repairs of this streak so far, the last operation `op` included
// (operation.sync.selfHealAttemptsCount).
int SelfHealAttempts(const Json& op, TimePoint now, const SelfHealBackoff& b = {});
// How long until the next repair may start after `op` (zero: now).
Millis SelfHealWait(const Json& op, TimePoint now, const SelfHealBackoff& b = {});

// --- The plan ---------------------------------------------------------------

enum class PruneAction {
  kPrune,
  kSkipNoPrune,     // the object says Prune=false: "ignored (no prune)"
  kSkipNotEnabled,  // the operation does not prune: "ignored (requires pruning)"
};
// What a sync (that prunes or not) does with a live object git no longer
// declares. `no_prune` is the Application's Prune=false: then only an object
// annotated Prune=true is pruned (the object's own option wins, as in Argo CD).
PruneAction PruneActionFor(const Json& live_object, bool prune, bool no_prune = false);

struct PruneTask {
  size_t index = 0;  // into the objects to prune
  PruneAction action = PruneAction::kPrune;
};

// One wave of a phase: the live objects it prunes (Sync phase only), then
// its resources to apply (Sync phase only), then its hooks, as indices into
// the lists PlanSync was given, in the order they run.
struct WaveTasks {
  int wave = 0;
  std::vector<PruneTask> prune;
  std::vector<size_t> resources;
  std::vector<size_t> hooks;
  bool wait_healthy = false;  // the next wave waits until these resources are healthy
};

// A phase's hooks (of every wave), wave by wave, each wave in kind order
// then name: indices into `hooks`.
std::vector<WaveTasks> HookWaves(const std::vector<Desired>& hooks, const std::string& phase);

struct SyncPlan {
  std::vector<WaveTasks> pre_sync;   // hooks only
  std::vector<WaveTasks> sync;       // every wave of a resource, a prune or a Sync hook, ascending
  std::vector<WaveTasks> post_sync;  // hooks only, once every resource is healthy
  std::vector<WaveTasks> sync_fail;  // hooks only, started when the operation fails
};

// The plan of a sync of `resources` and `hooks` (Desired with hooks) that
// prunes the live objects git no longer declares (`prune`) or, without
// `prune_enabled`, only reports them; `prune_last` is the Application's
// PruneLast=true and `no_prune` its Prune=false.
SyncPlan PlanSync(const std::vector<Desired>& resources, const std::vector<Desired>& hooks,
                  const std::vector<store::Resource>& prune, bool prune_enabled,
                  bool prune_last = false, bool no_prune = false);

// The syncResult.resources of a round of a running operation, given the
// previous round's (`before`): a round applies again what an earlier one
// created or configured, and finds it unchanged; the result keeps what the
// operation did to it ("created", "configured", "pruned").
Json KeepWhatWasDone(const Json& before, Json now);

// --- Hooks ------------------------------------------------------------------

// The key of a hook's state in operationState.hooks: one per phase it runs in.
std::string HookId(const std::string& phase, const Desired& hook);

// What a hook does this round, from the phase its operation recorded for it
// ("" for none yet).
enum class HookStep {
  kName,     // record the generated name it will take (a restart then adopts, not duplicates)
  kCreate,   // create it (after deleting the last one, BeforeHookCreation); Pending: adopt it
  kObserve,  // Running: see whether it is done
  kDone,     // Succeeded or Failed
};
HookStep NextHookStep(const std::string& recorded_phase, const Desired& hook, bool wait);

// The object to create for `hook` under `name` (its generated one, if any),
// tracked as the Application `instance`'s.
Json HookObject(const Desired& hook, const std::string& name, const std::string& instance);

struct HookOutcome {
  std::string phase;  // Succeeded or Failed
  std::string message;
  bool remove = false;  // its delete policy (HookSucceeded, HookFailed) deletes it now
};
// A Running hook seen live: done when healthy (a Job complete), failed when
// degraded or gone (kMissing); nullopt while it still runs.
std::optional<HookOutcome> ObserveRunningHook(const Desired& hook, Health health,
                                              const std::string& health_message);

// Forgets the hooks recorded as Failed in operationState.hooks, so that a
// retry runs them again.
void ForgetFailedHooks(Json& hooks);

// --- The end of a round -----------------------------------------------------

// What a round of a running operation did (the reconciler fills it in as it
// carries the plan out). The round stops at the first failure or at the
// first thing it waits for; the next round starts the plan again, and what
// was done is then in sync or recorded as done.
struct SyncProgress {
  Json results = Json::array();       // syncResult.resources, in the order run
  std::vector<std::string> failures;  // "what: why"
  std::string waiting;                // what the round waits for; "" = nothing
  bool naming = false;                // a generateName hook's name was just recorded
  Json hooks = Json::object();        // operationState.hooks: id -> phase, message, name
  bool Stopped() const { return !failures.empty() || !waiting.empty(); }
};

// The wait before retry number `retries` + 1, or nullopt when the policy
// allows no more (or there is no retry policy).
std::optional<Millis> RetryBackoff(const std::optional<model::SyncRetry>& retry, int retries);

struct Conclusion {
  enum class Kind { kWaiting, kRetrying, kFailed, kSucceeded };
  Kind kind = Kind::kSucceeded;
  // When to look again: 1 ms after naming a hook, 1 s while waiting, the
  // backoff of a retry, 1 ms after success (to compare what was written);
  // nullopt after failure (the usual interval).
  std::optional<Millis> requeue_after;
};
// How a round ends, after `retries` retries of the operation.
Conclusion Conclude(const SyncProgress& progress, const std::optional<model::SyncRetry>& retry,
                    int retries);

// `history` with `entry` appended under the next id (the last one's + 1, 0
// for the first), keeping the last `limit` entries.
Json AppendHistory(Json history, const Json& entry, int limit);

}  // namespace strake::gitops
