#include "rollout/canary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "base/strings.h"
#include "rollout/replicas.h"

namespace strake::rollout {

std::optional<std::chrono::milliseconds> ApplyMinReady(
    std::map<std::string, RevisionObservation>& revisions, int min_ready_seconds) {
  if (min_ready_seconds <= 0) return std::nullopt;
  const std::chrono::milliseconds min_ready(int64_t{min_ready_seconds} * 1000);
  std::optional<std::chrono::milliseconds> next;
  for (auto& [hash, o] : revisions) {
    int available = 0;
    for (auto for_ms : o.ready_for) {
      if (for_ms >= min_ready) {
        ++available;
      } else if (!next || min_ready - for_ms < *next) {
        next = min_ready - for_ms;
      }
    }
    o.ready = std::min(o.ready, available);
  }
  return next;
}

using model::CanaryStep;
using Ms = std::chrono::milliseconds;

// ---- status as JSON ---------------------------------------------------------

Json RolloutStatus::ToJson() const {
  Json j;
  j["phase"] = phase;
  j["message"] = message;
  j["currentPodHash"] = current_pod_hash;
  j["stableRS"] = stable_rs;
  j["currentStepIndex"] = current_step_index;
  Json pauses = Json::array();
  for (const auto& p : pause_conditions) {
    pauses.push_back({{"reason", p.reason},
                      {"startTime", FormatRfc3339(FromUnixMillis(p.start_ms))},
                      {"startTimeMs", p.start_ms}});
  }
  j["pauseConditions"] = pauses;
  j["abort"] = abort;
  if (aborted_at_ms) j["abortedAtMs"] = aborted_at_ms;
  if (promote_full) j["promoteFull"] = true;
  if (attempt) j["attempt"] = attempt;
  j["progressedAtMs"] = progressed_at_ms;
  if (!scale_down_at.empty()) j["scaleDownAtMs"] = scale_down_at;
  j["canary"] = {{"weight", canary_weight},
                 {"weightsApproximated", weights_approximated},
                 {"currentStepAnalysisRun", step_analysis_run},
                 {"currentExperiment", current_experiment},
                 {"currentBackgroundAnalysisRun", background_analysis_run}};
  for (const auto& w : experiment_weights) {
    j["canary"]["additionalWeights"].push_back(
        {{"experiment", w.experiment}, {"template", w.template_name}, {"weight", w.weight}});
  }
  if (!active_selector.empty() || !preview_selector.empty()) {
    j["blueGreen"] = {{"activeSelector", active_selector},
                      {"previewSelector", preview_selector},
                      {"previewReadyAtMs", preview_ready_at_ms},
                      {"prePromotionAnalysisRun", pre_promotion_run},
                      {"postPromotionAnalysisRun", post_promotion_run}};
  }
  j["replicas"] = replicas;
  j["readyReplicas"] = ready_replicas;
  j["updatedReplicas"] = updated_replicas;
  j["observedGeneration"] = observed_generation;
  if (!workload_observed_generation.empty())
    j["workloadObservedGeneration"] = workload_observed_generation;
  for (const auto& p : step_plugin_statuses) {
    j["canary"]["stepPluginStatuses"].push_back({{"index", p.index},
                                                 {"name", p.name},
                                                 {"operation", p.operation},
                                                 {"disabled", p.disabled}});
  }
  return j;
}

RolloutStatus RolloutStatus::FromJson(const Json& j) {
  RolloutStatus s;
  if (!j.is_object()) return s;
  s.phase = j.value("phase", "");
  s.message = j.value("message", "");
  s.current_pod_hash = j.value("currentPodHash", "");
  s.stable_rs = j.value("stableRS", "");
  s.current_step_index = j.value("currentStepIndex", 0);
  for (const auto& p : j.value("pauseConditions", Json::array())) {
    s.pause_conditions.push_back({p.value("reason", ""), p.value("startTimeMs", int64_t{0})});
  }
  s.abort = j.value("abort", false);
  s.aborted_at_ms = j.value("abortedAtMs", int64_t{0});
  s.promote_full = j.value("promoteFull", false);
  s.attempt = j.value("attempt", 0);
  s.progressed_at_ms = j.value("progressedAtMs", int64_t{0});
  if (j.contains("scaleDownAtMs"))
    s.scale_down_at = j["scaleDownAtMs"].get<std::map<std::string, int64_t>>();
  if (j.contains("canary")) {
    s.canary_weight = j["canary"].value("weight", 0);
    s.weights_approximated = j["canary"].value("weightsApproximated", false);
    s.step_analysis_run = j["canary"].value("currentStepAnalysisRun", "");
    s.current_experiment = j["canary"].value("currentExperiment", "");
    s.background_analysis_run = j["canary"].value("currentBackgroundAnalysisRun", "");
    for (const auto& w : j["canary"].value("additionalWeights", Json::array())) {
      s.experiment_weights.push_back(
          {w.value("experiment", ""), w.value("template", ""), w.value("weight", 0)});
    }
    for (const auto& p : j["canary"].value("stepPluginStatuses", Json::array())) {
      s.step_plugin_statuses.push_back({p.value("index", 0), p.value("name", ""),
                                        p.value("operation", "Run"), p.value("disabled", false)});
    }
  }
  if (j.contains("blueGreen")) {
    const Json& b = j["blueGreen"];
    s.active_selector = b.value("activeSelector", "");
    s.preview_selector = b.value("previewSelector", "");
    s.preview_ready_at_ms = b.value("previewReadyAtMs", int64_t{0});
    s.pre_promotion_run = b.value("prePromotionAnalysisRun", "");
    s.post_promotion_run = b.value("postPromotionAnalysisRun", "");
  }
  s.replicas = j.value("replicas", 0);
  s.ready_replicas = j.value("readyReplicas", 0);
  s.updated_replicas = j.value("updatedReplicas", 0);
  s.observed_generation = j.value("observedGeneration", int64_t{0});
  s.workload_observed_generation = j.value("workloadObservedGeneration", "");
  return s;
}

// ---- shared helpers -----------------------------------------------------------

void Requeue(Decision& d, Ms after) {
  after = std::max(after, Ms(1));
  if (!d.requeue_after || after < *d.requeue_after) d.requeue_after = after;
}

namespace {

int Ready(const Observation& obs, const std::string& hash) {
  auto it = obs.revisions.find(hash);
  return it == obs.revisions.end() ? 0 : it->second.ready;
}

// " (replica 0: x: command not found)" when the target says why, else "".
std::string Why(const Observation& obs, const std::string& hash) {
  auto it = obs.revisions.find(hash);
  return it == obs.revisions.end() || it->second.problem.empty() ? ""
                                                                 : " (" + it->second.problem + ")";
}

int Running(const Observation& obs, const std::string& hash) {
  auto it = obs.revisions.find(hash);
  return it == obs.revisions.end() ? 0 : it->second.replicas;
}

void Event(Decision& d, std::string reason, std::string message) {
  d.reason = std::move(reason);
  d.event = std::move(message);
}

void StopAnalyses(Decision& d) {
  RolloutStatus& st = d.status;
  for (std::string* run : {&st.step_analysis_run, &st.background_analysis_run,
                           &st.pre_promotion_run, &st.post_promotion_run}) {
    if (!run->empty()) d.terminate_analysis.push_back(*run);
    run->clear();
  }
  if (!st.current_experiment.empty()) d.terminate_experiments.push_back(st.current_experiment);
  st.current_experiment.clear();
}

// Keeps revisions that wait for a delayed scale-down; drops the rest of the
// revisions that are neither kept by the strategy nor waiting.
void ScaleDownOthers(Decision& d, const Observation& obs, int64_t now) {
  RolloutStatus& st = d.status;
  for (auto it = st.scale_down_at.begin(); it != st.scale_down_at.end();) {
    if (d.replicas.count(it->first)) {
      it = st.scale_down_at.erase(it);  // back in use
    } else if (now < it->second && Running(obs, it->first) > 0) {
      d.replicas[it->first] = Running(obs, it->first);
      Requeue(d, Ms(it->second - now));
      ++it;
    } else {
      it = st.scale_down_at.erase(it);
    }
  }
}

// The replicas observed: running, ready, and running of the `updated` revision.
struct ReplicaCounts {
  int replicas = 0, ready = 0, updated = 0;
};

ReplicaCounts CountReplicas(const Observation& obs, const std::string& updated) {
  ReplicaCounts n;
  for (const auto& [hash, r] : obs.revisions) {
    n.replicas += r.replicas;
    n.ready += r.ready;
  }
  n.updated = Running(obs, updated);
  return n;
}

void Tally(Decision& d, const Observation& obs, const std::string& updated) {
  RolloutStatus& st = d.status;
  ReplicaCounts n = CountReplicas(obs, updated);
  st.replicas = n.replicas;
  st.ready_replicas = n.ready;
  st.updated_replicas = n.updated;
}

bool HasPause(const RolloutStatus& st, const std::string& reason) {
  return std::any_of(st.pause_conditions.begin(), st.pause_conditions.end(),
                     [&](const PauseCondition& p) { return p.reason == reason; });
}

void AddPause(RolloutStatus& st, const std::string& reason, int64_t now) {
  if (!HasPause(st, reason)) st.pause_conditions.push_back({reason, now});
}

int64_t PauseStart(const RolloutStatus& st, const std::string& reason) {
  for (const auto& p : st.pause_conditions) {
    if (p.reason == reason) return p.start_ms;
  }
  return 0;
}

void Abort(Decision& d, int64_t now, const std::string& why) {
  d.status.abort = true;
  d.status.aborted_at_ms = now;
  d.status.message = why;
  Event(d, "RolloutAborted", why);
}

// The phase of an analysis run, "" if it has not been observed yet.
std::string PhaseOf(const Observation& obs, const std::string& run) {
  auto it = obs.analysis_phase.find(run);
  return it == obs.analysis_phase.end() ? "" : it->second;
}

std::string AnalysisMessage(const Observation& obs, const std::string& run) {
  auto it = obs.analysis_message.find(run);
  return it == obs.analysis_message.end() || it->second.empty() ? "" : ": " + it->second;
}

std::string StepText(const CanaryStep& s) {
  switch (s.kind) {
    case CanaryStep::Kind::kSetWeight:
      return fmt::format("setWeight {}", s.weight);
    case CanaryStep::Kind::kPause:
      return s.pause ? fmt::format("pause {}s", s.pause->count() / 1000) : "pause until promoted";
    case CanaryStep::Kind::kAnalysis:
      return "analysis";
    case CanaryStep::Kind::kSetCanaryScale:
      return "setCanaryScale";
    case CanaryStep::Kind::kSetHeaderRoute:
      return "setHeaderRoute " + s.route_name;
    case CanaryStep::Kind::kSetMirrorRoute:
      return "setMirrorRoute " + s.mirror_route_name;
    case CanaryStep::Kind::kExperiment:
      return "experiment";
    case CanaryStep::Kind::kPlugin:
      return "plugin " + s.plugin_name;
  }
  return "";
}

int CanaryReplicas(const model::RolloutSpec& spec, int index, int weight) {
  const auto& steps = spec.canary->steps;
  // The last setCanaryScale at or before the current step stays in effect.
  for (int i = std::min<int>(index, static_cast<int>(steps.size()) - 1); i >= 0; --i) {
    const CanaryStep& s = steps[static_cast<size_t>(i)];
    if (!s.has_scale) continue;
    if (s.scale_replicas) return *s.scale_replicas;
    if (s.scale_weight) return static_cast<int>(std::ceil(spec.replicas * *s.scale_weight / 100.0));
    break;  // matchTrafficWeight
  }
  int n = static_cast<int>(std::ceil(spec.replicas * weight / 100.0));
  return weight > 0 ? std::max(n, 1) : 0;
}

// Argo's basic canary: a canary without trafficRouting.
bool Basic(const model::RolloutSpec& spec) { return spec.canary && !spec.canary->traffic_routing; }

// Another revision on its way out that still runs replicas: the one
// running most that is neither desired nor stable nor waiting for a delayed
// scale-down (a canary superseded mid-update, or dropped by going back to
// stable). "" for none.
std::string Dropped(const RolloutStatus& st, const Observation& obs) {
  std::string dropped;
  for (const auto& [hash, r] : obs.revisions) {
    if (hash == obs.desired_hash || hash == st.stable_rs || st.scale_down_at.count(hash) ||
        r.replicas == 0)
      continue;
    if (dropped.empty() || r.replicas > Running(obs, dropped)) dropped = hash;
  }
  return dropped;
}

// What BasicCanaryCounts needs to know of this round, for `weight`.
BasicCanaryInput BasicInput(const model::RolloutSpec& spec, const RolloutStatus& st,
                            const Observation& obs, int weight) {
  const std::string& desired = obs.desired_hash;
  BasicCanaryInput in;
  in.spec_replicas = spec.replicas;
  in.weight = weight;
  in.max_surge = spec.canary->max_surge;
  in.max_unavailable = spec.canary->max_unavailable;
  in.canary = {Running(obs, desired), Ready(obs, desired)};
  in.has_stable = !st.stable_rs.empty() && st.stable_rs != desired;
  if (in.has_stable) in.stable = {Running(obs, st.stable_rs), Ready(obs, st.stable_rs)};
  for (const auto& [hash, at] : st.scale_down_at) {
    if (hash != desired && hash != st.stable_rs) in.older_replicas += Running(obs, hash);
  }
  in.older_replicas += Running(obs, Dropped(st, obs));
  return in;
}

// Available replicas of the other revisions that stay this round: those
// waiting for a delayed scale-down and a dropped one draining (the rest are
// removed at once).
int OlderAvailable(const RolloutStatus& st, const Observation& obs) {
  int n = Ready(obs, Dropped(st, obs));
  for (const auto& [hash, at] : st.scale_down_at) {
    if (hash != obs.desired_hash && hash != st.stable_rs) n += Ready(obs, hash);
  }
  return n;
}

// Keeps the replicas of `dropped` (a revision on its way out) that must
// still serve, as Argo scales an older ReplicaSet of a basic canary down:
// its unavailable replicas go at once, available ones only while
// `available` (every revision's) stays at replicas - maxUnavailable.
// Whether any stay (then it is the decision's draining revision).
bool DrainOlder(Decision& d, const model::RolloutSpec& spec, const Observation& obs,
                const std::string& dropped, int available) {
  const model::CanaryStrategy& c = *spec.canary;
  Fenceposts f = ResolveFenceposts(c.max_surge, c.max_unavailable, spec.replicas);
  int keep = OlderToKeep(spec.replicas, f, available, {Running(obs, dropped), Ready(obs, dropped)});
  Requeue(d, Ms(1000));
  if (keep == 0) return false;
  d.replicas[dropped] = keep;
  d.draining_hash = dropped;
  return true;
}

// Sets the replicas of canary and stable to the basic canary's counts at
// `weight` and the weights to what the replicas serving make.
void ScaleBasic(Decision& d, const model::RolloutSpec& spec, const Observation& obs, int weight) {
  RolloutStatus& st = d.status;
  CanaryCounts counts = BasicCanaryCounts(BasicInput(spec, st, obs, weight));
  d.replicas[obs.desired_hash] = counts.canary;
  d.replicas[st.stable_rs] = counts.stable;
  st.canary_weight = d.canary_weight =
      ServingWeight(obs.revisions, d.replicas, st.stable_rs, obs.desired_hash);
  // A canary superseded mid-update is scaled down as Argo scales down an
  // older ReplicaSet of a basic canary (within maxUnavailable, counting
  // every revision's available replicas), serving meanwhile beside both.
  std::string dropped = Dropped(st, obs);
  if (dropped.empty() ||
      !DrainOlder(d, spec, obs, dropped,
                  Ready(obs, obs.desired_hash) + Ready(obs, st.stable_rs) + Ready(obs, dropped)))
    return;
  // The weight is the canary's share of every replica serving.
  int canary = ServingReplicas(obs.revisions, d.replicas, obs.desired_hash);
  int all = canary + ServingReplicas(obs.revisions, d.replicas, st.stable_rs) +
            ServingReplicas(obs.revisions, d.replicas, dropped);
  st.canary_weight = d.canary_weight = all == 0 ? 0 : canary * 100 / all;
}

// "canary 1/2 available, stable 4 (wants 3)": where a basic canary stands.
std::string BasicProgress(const model::RolloutSpec& spec, const RolloutStatus& st,
                          const Observation& obs, int weight) {
  const model::CanaryStrategy& c = *spec.canary;
  int surge = ResolveFenceposts(c.max_surge, c.max_unavailable, spec.replicas).max_surge;
  CanaryCounts goal = ApproximateWeightedCounts(spec.replicas, weight, surge);
  return fmt::format("canary {}/{} available, stable {} running (goal {}){}",
                     Ready(obs, obs.desired_hash), goal.canary, Running(obs, st.stable_rs),
                     goal.stable, Why(obs, obs.desired_hash));
}

}  // namespace

int ServingReplicas(const std::map<std::string, RevisionObservation>& observed,
                    const std::map<std::string, int>& decided, const std::string& hash) {
  auto o = observed.find(hash);
  auto d = decided.find(hash);
  if (hash.empty() || o == observed.end() || d == decided.end()) return 0;
  return std::max(0, std::min(o->second.ready, d->second));
}

int ServingWeight(const std::map<std::string, RevisionObservation>& observed,
                  const std::map<std::string, int>& decided, const std::string& stable,
                  const std::string& canary) {
  if (canary.empty() || canary == stable) return 0;
  int c = ServingReplicas(observed, decided, canary);
  int s = ServingReplicas(observed, decided, stable);
  return c + s == 0 ? 0 : c * 100 / (c + s);
}

std::string ExperimentName(const std::string& rollout, const std::string& hash, int64_t revision,
                           int step, int attempt) {
  std::string name = fmt::format("{}-{}-{}-{}", rollout, hash, revision, step);
  if (attempt > 0) name += fmt::format("-a{}", attempt);
  return name;
}

std::string AnalysisRunName(const std::string& rollout, const std::string& hash, int64_t revision,
                            const std::string& infix, int attempt) {
  std::string name = fmt::format("{}-{}-{}", rollout, hash, revision);
  if (!infix.empty()) name += "-" + infix;
  if (attempt > 0) name += fmt::format(".{}", attempt);
  return name;
}

bool RollbackWithinWindow(const model::RolloutSpec& spec, const std::string& stable,
                          const std::string& desired,
                          const std::map<std::string, int64_t>& first_revision) {
  if (spec.rollback_window_revisions <= 0 || stable.empty() || desired == stable) return false;
  auto s = first_revision.find(stable);
  auto d = first_revision.find(desired);
  if (s == first_revision.end() || d == first_revision.end() || d->second >= s->second) {
    return false;  // not a rollback: the desired revision is the newer one
  }
  auto between = std::count_if(first_revision.begin(), first_revision.end(), [&](const auto& r) {
    return r.second > d->second && r.second < s->second;
  });
  return between < spec.rollback_window_revisions;
}

int CurrentSetWeight(const model::CanaryStrategy& c, int step_index) {
  if (step_index >= static_cast<int>(c.steps.size())) return 100;
  for (int i = step_index; i >= 0; --i) {
    const CanaryStep& s = c.steps[static_cast<size_t>(i)];
    if (s.kind == CanaryStep::Kind::kSetWeight) return s.weight;
  }
  return 0;
}

// Argo's RolloutProgressing in replicas: since the last round the updated
// revision's replicas changed, older ones went, or more are ready.
bool ReplicasProgressed(const RolloutStatus& last, const Observation& obs) {
  ReplicaCounts n = CountReplicas(obs, obs.desired_hash);
  return n.updated != last.updated_replicas ||
         n.replicas - n.updated < last.replicas - last.updated_replicas ||
         n.ready > last.ready_replicas;
}

// progressDeadlineSeconds: a Progressing canary that has not moved on (a
// step, or its replicas) for that long is Degraded, and aborted with
// progressDeadlineAbort.
void CheckProgressDeadline(Decision& d, const model::RolloutSpec& spec, const Observation& obs,
                           int64_t now, int n) {
  RolloutStatus& st = d.status;
  if (ReplicasProgressed(st, obs)) st.progressed_at_ms = now;  // st: last round's counts yet
  int64_t deadline = st.progressed_at_ms + int64_t{spec.progress_deadline_seconds} * 1000;
  if (st.phase != "Progressing") return;
  if (now <= deadline) {
    Requeue(d, Ms(deadline - now + 1));
    return;
  }
  std::string why =
      fmt::format("ProgressDeadlineExceeded: no progress in {}s at step {}/{}",
                  spec.progress_deadline_seconds, std::min(st.current_step_index + 1, n), n);
  st.phase = "Degraded";  // Argo's phase for a ProgressDeadlineExceeded condition
  if (spec.progress_deadline_abort) {
    Abort(d, now, why);
    // Back to stable from this round: at once with a router, by replica
    // counts without one (the weight then says what the replicas serve).
    if (Basic(spec)) {
      ScaleBasic(d, spec, obs, 0);
    } else {
      st.canary_weight = d.canary_weight = 0;
    }
  } else {
    // Argo carries on; what held the step stays said.
    st.message = st.message.empty() ? why : fmt::format("{}; {}", why, st.message);
  }
}

// ---- canary ---------------------------------------------------------------------

namespace {

// Applies the routes of the setHeaderRoute/setMirrorRoute steps up to the
// current one (a step of its own is passed at once; one beside a pause or
// an analysis applies while it waits); a step with no match removes its
// route, as in Argo.
void DeriveRoutes(const model::CanaryStrategy& c, int index, Decision& d) {
  for (int i = 0; i <= index && i < static_cast<int>(c.steps.size()); ++i) {
    const CanaryStep& s = c.steps[static_cast<size_t>(i)];
    if (s.has_header_route) {
      std::erase_if(d.header_routes, [&](const auto& r) { return r.name == s.route_name; });
      if (!s.header_match.empty()) d.header_routes.push_back({s.route_name, s.header_match});
    }
    if (s.has_mirror_route) {
      std::erase_if(d.mirror_routes, [&](const auto& r) { return r.name == s.mirror_route_name; });
      bool has_match = s.mirror_method || s.mirror_path || !s.mirror_headers.empty();
      if (has_match) {
        d.mirror_routes.push_back({s.mirror_route_name, s.mirror_method, s.mirror_path,
                                   s.mirror_headers, s.mirror_percentage});
      }
    }
  }
}

// Handles a started analysis: true when it succeeded; aborts or pauses on
// the other outcomes.
bool AnalysisPassed(Decision& d, const Observation& obs, const std::string& run, int64_t now,
                    const std::string& what) {
  std::string phase = PhaseOf(obs, run);
  if (phase == "Successful") return true;
  if (phase == "Failed" || phase == "Error") {
    Abort(d, now,
          fmt::format("{} {} {}{}", what, run, phase == "Failed" ? "failed" : "errored",
                      AnalysisMessage(obs, run)));
  } else if (phase == "Inconclusive") {
    if (!HasPause(d.status, "InconclusiveAnalysis")) {
      AddPause(d.status, "InconclusiveAnalysis", now);
      Event(d, "RolloutPaused",
            fmt::format("{} {} inconclusive: paused until promoted", what, run));
    }
  }
  return false;
}

// The analysis step at the current index: starts its run, or waits for it,
// or moves past it once it passed. True while it waits.
bool AnalysisStep(Decision& d, const std::string& run, const CanaryStep& s, int n,
                  const Observation& obs, int64_t now) {
  RolloutStatus& st = d.status;
  const int i = st.current_step_index;
  bool waiting = false;
  if (st.step_analysis_run != run) {
    st.step_analysis_run = run;
    d.start_analysis.push_back({run, s.analysis, "Step"});
    Event(d, "AnalysisRunStarted", fmt::format("step {}/{}: analysis {} started", i + 1, n, run));
    waiting = true;
  } else if (AnalysisPassed(d, obs, run, now, "analysis")) {
    st.step_analysis_run.clear();
    std::erase_if(st.pause_conditions,
                  [](const auto& p) { return p.reason == "InconclusiveAnalysis"; });
    ++st.current_step_index;
  } else {
    waiting = true;
  }
  if (waiting && !st.abort)
    st.message = fmt::format("step {}/{}: analysis {} running", i + 1, n, run);
  return waiting;
}

// A setWeight step of a basic canary: done once canary and stable run the
// counts of its weight and the canary's are available (Argo's
// AtDesiredReplicaCountsForCanary). True while it waits.
bool BasicWeightStep(Decision& d, const model::RolloutSpec& spec, const Observation& obs,
                     const CanaryStep& s, int n) {
  RolloutStatus& st = d.status;
  const int i = st.current_step_index;
  if (AtBasicCanaryCounts(BasicInput(spec, st, obs, s.weight), OlderAvailable(st, obs))) {
    ++st.current_step_index;
    return false;
  }
  st.message = fmt::format("step {}/{} setWeight {}: scaling by replica counts: {}", i + 1, n,
                           s.weight, BasicProgress(spec, st, obs, s.weight));
  Requeue(d, Ms(1000));
  return true;
}

// The experiment step at the current index: makes its Experiment, or waits
// for it (its weighted templates get their share of the traffic while it
// runs), or moves past it once it succeeded. A failed or errored Experiment
// aborts, an inconclusive one pauses until promoted (the same Experiment is
// not made again). True while it waits.
bool ExperimentStep(Decision& d, const std::string& exp, const CanaryStep& s, int n,
                    const Observation& obs, int64_t now) {
  RolloutStatus& st = d.status;
  const int i = st.current_step_index;
  if (st.current_experiment != exp) {
    if (!st.current_experiment.empty()) d.terminate_experiments.push_back(st.current_experiment);
    st.current_experiment = exp;
    d.start_experiment = ExperimentToStart{exp, i};
    Event(d, "ExperimentCreated", fmt::format("step {}/{}: experiment {} created", i + 1, n, exp));
    st.message = fmt::format("step {}/{}: experiment {} starting", i + 1, n, exp);
    return true;
  }
  auto it = obs.experiment_phase.find(exp);
  std::string phase = it == obs.experiment_phase.end() ? "" : it->second;
  if (phase == "NotFound") {  // deleted meanwhile: made again, as Argo does
    d.start_experiment = ExperimentToStart{exp, i};
    Event(d, "ExperimentCreated",
          fmt::format("step {}/{}: experiment {} made again (it was gone)", i + 1, n, exp));
    st.message = fmt::format("step {}/{}: experiment {} starting", i + 1, n, exp);
    return true;
  }
  auto m = obs.experiment_message.find(exp);
  std::string message =
      m == obs.experiment_message.end() || m->second.empty() ? "" : ": " + m->second;
  if (phase == "Successful") {
    st.current_experiment.clear();
    std::erase_if(st.pause_conditions,
                  [](const auto& p) { return p.reason == "InconclusiveExperiment"; });
    Event(d, "ExperimentCompleted",
          fmt::format("step {}/{}: experiment {} successful", i + 1, n, exp));
    ++st.current_step_index;
    return false;
  }
  if (phase == "Failed" || phase == "Error") {
    Abort(d, now,
          fmt::format("Experiment analysis phase is {}: experiment {}{}",
                      phase == "Failed" ? "failed" : "error", exp, message));
    return true;
  }
  if (phase == "Inconclusive" && !HasPause(st, "InconclusiveExperiment")) {
    AddPause(st, "InconclusiveExperiment", now);
    Event(d, "RolloutPaused",
          fmt::format("experiment {} inconclusive: paused until promoted{}", exp, message));
  }
  if (phase == "Running") {
    for (const auto& t : s.experiment.templates) {
      if (t.weight > 0) d.experiment_weights.push_back({exp, t.name, t.weight});
    }
    st.experiment_weights = d.experiment_weights;
  }
  st.message = fmt::format("step {}/{}: experiment {} {}", i + 1, n, exp,
                           phase.empty() ? "starting" : ToLower(phase));
  return true;
}

// A step plugin's step. Argo runs its plugins as RPC binaries (hashicorp
// go-plugin) that strake does not load, so a plugin step passes only when
// the plugin is disabled in argo-rollouts-config, as Argo passes it;
// otherwise the rollout waits at the step saying why (Argo's
// ReconciliationError for a plugin not configured) until the progress
// deadline makes it Degraded. Returns whether it waits.
bool PluginStep(Decision& d, const CanaryStep& s, int i, int n, const Observation& obs) {
  RolloutStatus& st = d.status;
  auto it = obs.step_plugins.find(s.plugin_name);
  if (it != obs.step_plugins.end() && it->second.disabled) {
    auto& done = st.step_plugin_statuses;
    if (std::none_of(done.begin(), done.end(), [&](const StepPluginStatus& p) {
          return p.index == i && p.name == s.plugin_name;
        })) {
      done.push_back({i, s.plugin_name, "Run", true});
    }
    ++st.current_step_index;
    return false;
  }
  std::string why;
  if (!obs.step_plugins_error.empty()) {
    why = obs.step_plugins_error;
  } else if (it == obs.step_plugins.end()) {
    why = fmt::format("plugin {} not configured in configmap {} (stepPlugins)",
                      Quote(s.plugin_name), kRolloutsConfigMap);
  } else {
    why = fmt::format(
        "plugin {} ({}) cannot run: Argo Rollouts' step plugins are RPC binaries, which strake "
        "does not load; disable it in configmap {} to pass the step",
        Quote(s.plugin_name), it->second.location, kRolloutsConfigMap);
  }
  std::string message = fmt::format("step {}/{}: {}", i + 1, n, why);
  // Said once (the progress deadline may add its reason before it).
  if (st.message.find(message) == std::string::npos) Event(d, "ReconciliationError", message);
  st.message = std::move(message);
  // Argo's minimum for a plugin; a change of the Rollout's namespace's
  // ConfigMaps requeues it sooner.
  Requeue(d, Ms(10000));
  return true;
}

// Walks the steps that complete now, from the current one: each passes,
// or the walk stops at the first that waits (for replicas, a pause, an
// analysis) or aborts.
void WalkSteps(Decision& d, const std::string& name, const model::RolloutSpec& spec,
               const Observation& obs, int64_t now) {
  RolloutStatus& st = d.status;
  const model::CanaryStrategy& c = *spec.canary;
  const int n = static_cast<int>(c.steps.size());
  const std::string& desired = obs.desired_hash;
  int start_index = st.current_step_index;
  bool waiting = false;
  for (int guard = 0; guard <= n && st.current_step_index < n && !waiting && !st.abort; ++guard) {
    int i = st.current_step_index;
    const CanaryStep& s = c.steps[static_cast<size_t>(i)];
    switch (s.kind) {
      case CanaryStep::Kind::kSetWeight: {
        if (Basic(spec)) {
          waiting = BasicWeightStep(d, spec, obs, s, n);
          break;
        }
        int want = CanaryReplicas(spec, i, CurrentSetWeight(c, i));
        if (Ready(obs, desired) >= want) {
          ++st.current_step_index;
        } else {
          waiting = true;
          st.message =
              fmt::format("step {}/{} setWeight {}: waiting for canary replicas ({}/{} ready){}",
                          i + 1, n, s.weight, Ready(obs, desired), want, Why(obs, desired));
          Requeue(d, Ms(1000));
        }
        break;
      }
      case CanaryStep::Kind::kPause: {
        if (!HasPause(st, "CanaryPauseStep")) {
          AddPause(st, "CanaryPauseStep", now);
          Event(d, "RolloutPaused", fmt::format("step {}/{}: {}", i + 1, n, StepText(s)));
        }
        int64_t started = PauseStart(st, "CanaryPauseStep");
        if (s.pause && now >= started + s.pause->count()) {
          std::erase_if(st.pause_conditions,
                        [](const auto& p) { return p.reason == "CanaryPauseStep"; });
          ++st.current_step_index;
        } else {
          waiting = true;
          if (s.pause) Requeue(d, Ms(started + s.pause->count() - now));
          st.message = fmt::format("step {}/{}: {}", i + 1, n, StepText(s));
        }
        break;
      }
      case CanaryStep::Kind::kAnalysis:
        waiting = AnalysisStep(
            d, AnalysisRunName(name, desired, obs.revision, std::to_string(i), st.attempt), s, n,
            obs, now);
        break;
      case CanaryStep::Kind::kExperiment:
        waiting = ExperimentStep(d, ExperimentName(name, desired, obs.revision, i, st.attempt), s,
                                 n, obs, now);
        break;
      case CanaryStep::Kind::kPlugin:
        waiting = PluginStep(d, s, i, n, obs);
        break;
      case CanaryStep::Kind::kSetCanaryScale:
      case CanaryStep::Kind::kSetHeaderRoute:
      case CanaryStep::Kind::kSetMirrorRoute:
        ++st.current_step_index;
        break;
    }
  }
  if (st.current_step_index != start_index) st.progressed_at_ms = now;
}

// Past the last step: the canary becomes stable once all its replicas are
// ready, as Argo's shouldFullPromote has it, whether its steps are done, a
// full promotion was asked or it is a rollback within rollbackWindow. Until
// then it scales up and the traffic stays as it was.
void BecomeStable(Decision& d, const model::RolloutSpec& spec, const Observation& obs, int64_t now,
                  bool rollback) {
  RolloutStatus& st = d.status;
  const model::CanaryStrategy& c = *spec.canary;
  const int n = static_cast<int>(c.steps.size());
  const std::string& desired = obs.desired_hash;
  if (Basic(spec)) {
    if (!AtBasicCanaryCounts(BasicInput(spec, st, obs, 100), OlderAvailable(st, obs))) {
      ScaleBasic(d, spec, obs, 100);  // up as the stable goes down, within the limits
      st.phase = "Progressing";
      st.message = fmt::format("{} {}: replacing the stable before it becomes stable: {}",
                               rollback ? "rollback to" : "canary", desired,
                               BasicProgress(spec, st, obs, 100));
      Requeue(d, Ms(1000));
      CheckProgressDeadline(d, spec, obs, now, n);
      return;
    }
  } else if (Ready(obs, desired) < spec.replicas) {
    d.replicas[desired] = spec.replicas;
    d.canary_weight = st.canary_weight;
    st.phase = "Progressing";
    st.message =
        fmt::format("{} {}: waiting for all replicas before it becomes stable ({}/{} ready){}",
                    rollback ? "rollback to" : "canary", desired, Ready(obs, desired),
                    spec.replicas, Why(obs, desired));
    Requeue(d, Ms(1000));
    CheckProgressDeadline(d, spec, obs, now, n);
    return;
  }
  if (!st.background_analysis_run.empty())
    d.terminate_analysis.push_back(st.background_analysis_run);
  st.background_analysis_run.clear();
  if (!Basic(spec)) {  // a basic canary's old stable is down already
    st.scale_down_at[st.stable_rs] = now + int64_t{c.scale_down_delay_seconds} * 1000;
  }
  Event(d, "RolloutCompleted",
        fmt::format("canary {} promoted to stable (was {}){}", desired, st.stable_rs,
                    rollback ? ": a rollback within rollbackWindow skips steps and analysis" : ""));
  d.replicas.erase(st.stable_rs);
  st.stable_rs = desired;
  st.promote_full = false;
  st.pause_conditions.clear();
  st.canary_weight = 0;
  d.stable_hash = desired;
  d.canary_hash.clear();
  d.replicas[desired] = spec.replicas;
  st.phase = "Healthy";  // all its replicas are ready, or it would have waited above
  st.message = "";
}

// Going back to the stable revision without trafficRouting: the dropped
// canary (the other revision running most replicas) is scaled down as a
// basic canary's older ReplicaSet is, serving meanwhile, and the stable
// scaled up within maxSurge; any other revision goes at once, as before.
void DrainDropped(Decision& d, const model::RolloutSpec& spec, const Observation& obs) {
  const std::string& desired = obs.desired_hash;
  std::string dropped = Dropped(d.status, obs);
  if (dropped.empty()) return;
  const model::CanaryStrategy& c = *spec.canary;
  BasicCanaryInput in;
  in.spec_replicas = spec.replicas;
  in.weight = 100;
  in.max_surge = c.max_surge;
  in.max_unavailable = c.max_unavailable;
  in.canary = {Running(obs, desired), Ready(obs, desired)};
  in.has_stable = false;
  in.older_replicas = Running(obs, dropped);
  d.replicas[desired] = BasicCanaryCounts(in).canary;
  DrainOlder(d, spec, obs, dropped, Ready(obs, desired) + Ready(obs, dropped));
}

// An aborted update: all traffic back to stable (the weight 0 at once with
// trafficRouting), and the canary scaled down: with trafficRouting after
// abortScaleDownDelaySeconds, without it by replica counts within
// maxSurge/maxUnavailable from now on.
void ScaleBackAborted(Decision& d, const model::RolloutSpec& spec, const Observation& obs,
                      int64_t now) {
  RolloutStatus& st = d.status;
  const std::string& desired = obs.desired_hash;
  StopAnalyses(d);
  st.canary_weight = 0;
  st.phase = "Degraded";
  if (Basic(spec)) {
    ScaleBasic(d, spec, obs, 0);
    if (Running(obs, desired) > 0) Requeue(d, Ms(1000));
    return;
  }
  int64_t scale_down =
      st.aborted_at_ms + int64_t{spec.canary->abort_scale_down_delay_seconds} * 1000;
  if (now < scale_down && Running(obs, desired) > 0) {
    d.replicas[desired] = Running(obs, desired);
    Requeue(d, Ms(scale_down - now));
  }
}

}  // namespace

Decision StepCanary(const std::string& name, const model::RolloutSpec& spec,
                    const RolloutStatus& status, const Observation& obs) {
  Decision d;
  d.status = status;
  RolloutStatus& st = d.status;
  const model::CanaryStrategy& c = *spec.canary;
  const int n = static_cast<int>(c.steps.size());
  const int64_t now = UnixMillis(obs.now);
  const std::string& desired = obs.desired_hash;
  st.observed_generation = obs.generation;
  st.weights_approximated = Basic(spec);
  st.experiment_weights.clear();  // set again while an experiment step's Experiment runs

  if (st.stable_rs.empty()) {  // first deployment: no canary, straight to stable
    st.stable_rs = st.current_pod_hash = desired;
    st.current_step_index = n;
    st.progressed_at_ms = now;
    Event(d, "RolloutCreated", fmt::format("revision {} deployed as stable", desired));
  }

  if (desired == st.stable_rs) {
    if (st.current_pod_hash != desired) {
      Event(d, "RolloutReverted",
            fmt::format("back to stable revision {}: canary {} dropped", desired,
                        st.current_pod_hash));
    }
    StopAnalyses(d);
    st.current_pod_hash = desired;
    st.current_step_index = n;
    st.abort = false;
    st.aborted_at_ms = 0;
    st.promote_full = false;
    st.pause_conditions.clear();
    st.step_plugin_statuses.clear();
    d.stable_hash = desired;
    d.replicas[desired] = spec.replicas;
    st.canary_weight = 0;
    if (Basic(spec)) DrainDropped(d, spec, obs);
    bool healthy = Ready(obs, desired) >= spec.replicas && d.draining_hash.empty();
    st.phase = healthy ? "Healthy" : "Progressing";
    st.message = healthy ? ""
                         : fmt::format("waiting for stable {}: {}/{} ready{}", desired,
                                       Ready(obs, desired), spec.replicas, Why(obs, desired));
    if (!d.draining_hash.empty()) {
      st.message += fmt::format("; {} scaling down: {} left", d.draining_hash,
                                d.replicas.at(d.draining_hash));
    }
    if (!healthy) Requeue(d, Ms(1000));
    ScaleDownOthers(d, obs, now);
    Tally(d, obs, desired);
    return d;
  }

  // A return to a recent revision skips steps and analysis (rollbackWindow).
  const bool rollback = RollbackWithinWindow(spec, st.stable_rs, desired, obs.first_revision);
  if (st.current_pod_hash != desired) {  // a new revision: start the steps over
    StopAnalyses(d);
    st.current_pod_hash = desired;
    st.current_step_index = 0;
    st.attempt = 0;
    st.abort = false;
    st.aborted_at_ms = 0;
    st.promote_full = false;
    st.pause_conditions.clear();
    st.step_plugin_statuses.clear();
    st.progressed_at_ms = now;
    Event(d, "RolloutUpdated",
          fmt::format("canary {} started against stable {}", desired, st.stable_rs));
  }
  d.stable_hash = st.stable_rs;
  d.canary_hash = desired;
  d.replicas[st.stable_rs] = spec.replicas;

  if (st.abort) {
    ScaleBackAborted(d, spec, obs, now);
    ScaleDownOthers(d, obs, now);
    Tally(d, obs, desired);
    return d;
  }

  if (st.promote_full || rollback) {
    StopAnalyses(d);
    st.current_step_index = n;
    st.pause_conditions.clear();
  }

  WalkSteps(d, name, spec, obs, now);
  // An Experiment the steps have left (promoted past, retried) ends.
  const bool at_experiment =
      st.current_step_index < n &&
      c.steps[static_cast<size_t>(st.current_step_index)].kind == CanaryStep::Kind::kExperiment;
  if (!st.current_experiment.empty() &&
      (!at_experiment ||
       st.current_experiment !=
           ExperimentName(name, desired, obs.revision, st.current_step_index, st.attempt))) {
    d.terminate_experiments.push_back(st.current_experiment);
    st.current_experiment.clear();
  }

  // Background analysis from startingStep on.
  if (c.analysis && !st.abort && st.current_step_index < n) {
    int from = std::max(0, c.analysis->starting_step);
    if (st.current_step_index >= from) {
      std::string run = AnalysisRunName(name, desired, obs.revision, "", st.attempt);
      if (st.background_analysis_run != run) {
        st.background_analysis_run = run;
        d.start_analysis.push_back({run, *c.analysis, "Background"});
        Event(d, "AnalysisRunStarted", fmt::format("background analysis {} started", run));
      } else {
        (void)AnalysisPassed(d, obs, run, now, "background analysis");
      }
    }
  }

  if (st.abort) {  // aborted in this round: weight back to 0 at once
    ScaleBackAborted(d, spec, obs, now);
    ScaleDownOthers(d, obs, now);
    Tally(d, obs, desired);
    return d;
  }

  if (st.current_step_index >= n) {  // every step passed (or skipped)
    BecomeStable(d, spec, obs, now, rollback);
    ScaleDownOthers(d, obs, now);
    Tally(d, obs, desired);
    return d;
  }

  int weight = CurrentSetWeight(c, st.current_step_index);
  if (Basic(spec)) {
    ScaleBasic(d, spec, obs, weight);
  } else {
    st.canary_weight = weight;
    d.canary_weight = weight;
    d.replicas[desired] = CanaryReplicas(spec, st.current_step_index, weight);
  }
  DeriveRoutes(c, st.current_step_index, d);
  st.phase = st.pause_conditions.empty() ? "Progressing" : "Paused";

  // An experiment or analysis step waits as long as its run does (Argo's
  // indefinite steps, as a pause is): no progress deadline meanwhile.
  const bool indefinite =
      at_experiment ||
      (st.current_step_index < n &&
       c.steps[static_cast<size_t>(st.current_step_index)].kind == CanaryStep::Kind::kAnalysis);
  if (!indefinite) CheckProgressDeadline(d, spec, obs, now, n);
  ScaleDownOthers(d, obs, now);
  Tally(d, obs, desired);
  return d;
}

// ---- blue-green ------------------------------------------------------------------

Decision StepBlueGreen(const std::string& name, const model::RolloutSpec& spec,
                       const RolloutStatus& status, const Observation& obs) {
  Decision d;
  d.status = status;
  RolloutStatus& st = d.status;
  const model::BlueGreenStrategy& b = *spec.blue_green;
  const int64_t now = UnixMillis(obs.now);
  const std::string& desired = obs.desired_hash;
  st.observed_generation = obs.generation;

  if (st.stable_rs.empty()) {
    st.stable_rs = st.current_pod_hash = st.active_selector = desired;
    Event(d, "RolloutCreated", fmt::format("revision {} deployed as active", desired));
  }
  // A return to a recent revision skips the pause and analysis (rollbackWindow).
  const bool rollback = RollbackWithinWindow(spec, st.stable_rs, desired, obs.first_revision);
  if (st.current_pod_hash != desired) {
    StopAnalyses(d);
    st.current_pod_hash = desired;
    st.attempt = 0;
    st.abort = false;
    st.promote_full = false;
    st.pause_conditions.clear();
    st.preview_ready_at_ms = 0;
    st.progressed_at_ms = now;
    if (desired != st.stable_rs) {
      Event(d, "RolloutUpdated",
            fmt::format("preview {} started beside active {}", desired, st.stable_rs));
    }
  }
  d.stable_hash = st.stable_rs;
  d.active_hash = st.active_selector;
  d.replicas[st.active_selector] = spec.replicas;

  auto finish = [&](const std::string& phase) {
    st.phase = phase;
    d.active_hash = st.active_selector;
    d.preview_hash = st.preview_selector;
    ScaleDownOthers(d, obs, now);
    Tally(d, obs, desired);
    return d;
  };

  if (desired == st.active_selector) {
    st.preview_selector.clear();
    // Post-promotion analysis judges the revision that just became active.
    if (b.post_promotion_analysis && desired != st.stable_rs && !rollback) {
      std::string run = AnalysisRunName(name, desired, obs.revision, "post", st.attempt);
      if (st.post_promotion_run != run) {
        st.post_promotion_run = run;
        d.start_analysis.push_back({run, *b.post_promotion_analysis, "PostPromotion"});
        Event(d, "AnalysisRunStarted", fmt::format("post-promotion analysis {} started", run));
        return finish("Progressing");
      }
      if (!AnalysisPassed(d, obs, run, now, "post-promotion analysis")) {
        if (st.abort) {  // back to the previous revision if it is still there
          if (Running(obs, st.stable_rs) > 0) st.active_selector = st.stable_rs;
          d.replicas[st.stable_rs] = spec.replicas;
          return finish("Degraded");
        }
        return finish("Progressing");
      }
      st.post_promotion_run.clear();
    }
    if (desired != st.stable_rs) {
      Event(d, "RolloutCompleted", fmt::format("{} is stable (was {})", desired, st.stable_rs));
      st.stable_rs = desired;
    }
    bool healthy = Ready(obs, desired) >= spec.replicas;
    st.message = healthy ? "" : fmt::format("{}/{} ready", Ready(obs, desired), spec.replicas);
    if (!healthy) Requeue(d, Ms(1000));
    return finish(healthy ? "Healthy" : "Progressing");
  }

  // A new revision runs as preview beside the active one.
  st.preview_selector = desired;
  if (st.abort) {
    d.replicas[desired] = 0;
    StopAnalyses(d);
    return finish("Degraded");
  }
  int preview_replicas = b.preview_replica_count.value_or(spec.replicas);
  bool promoting = st.promote_full || rollback;
  d.replicas[desired] = promoting ? spec.replicas : preview_replicas;
  if (Ready(obs, desired) < preview_replicas) {
    st.message =
        fmt::format("preview {}: {}/{} ready", desired, Ready(obs, desired), preview_replicas);
    Requeue(d, Ms(1000));
    return finish("Progressing");
  }
  if (st.preview_ready_at_ms == 0) st.preview_ready_at_ms = now;
  if (b.pre_promotion_analysis && !promoting) {
    std::string run = AnalysisRunName(name, desired, obs.revision, "pre", st.attempt);
    if (st.pre_promotion_run != run) {
      st.pre_promotion_run = run;
      d.start_analysis.push_back({run, *b.pre_promotion_analysis, "PrePromotion"});
      Event(d, "AnalysisRunStarted", fmt::format("pre-promotion analysis {} started", run));
      st.message = fmt::format("pre-promotion analysis {} running", run);
      return finish("Progressing");
    }
    if (!AnalysisPassed(d, obs, run, now, "pre-promotion analysis")) {
      if (st.abort) {
        d.replicas[desired] = 0;
        return finish("Degraded");
      }
      return finish(st.pause_conditions.empty() ? "Progressing" : "Paused");
    }
  }
  if (!promoting) {
    if (!b.auto_promotion_enabled) {
      if (!HasPause(st, "BlueGreenPause")) {
        AddPause(st, "BlueGreenPause", now);
        Event(d, "RolloutPaused", fmt::format("preview {} ready: waiting for promote", desired));
      }
      st.message = fmt::format("preview {} ready: waiting for promote", desired);
      return finish("Paused");
    }
    int64_t at = st.preview_ready_at_ms + int64_t{b.auto_promotion_seconds} * 1000;
    if (now < at) {
      st.message =
          fmt::format("preview {} ready: promoting in {}s", desired, (at - now + 999) / 1000);
      Requeue(d, Ms(at - now));
      return finish("Progressing");
    }
  }
  // Promote: full size first, then switch the active service at once.
  d.replicas[desired] = spec.replicas;
  if (Ready(obs, desired) < spec.replicas) {
    st.message = fmt::format("scaling {} up before the switch: {}/{} ready", desired,
                             Ready(obs, desired), spec.replicas);
    Requeue(d, Ms(1000));
    return finish("Progressing");
  }
  st.scale_down_at[st.active_selector] = now + int64_t{b.scale_down_delay_seconds} * 1000;
  d.replicas.erase(st.active_selector);
  Event(d, "RolloutPromoted",
        fmt::format("active switched from {} to {}", st.active_selector, desired));
  st.active_selector = desired;
  st.pre_promotion_run.clear();
  st.pause_conditions.clear();
  st.promote_full = false;
  st.preview_selector.clear();
  d.replicas[desired] = spec.replicas;
  Requeue(d, Ms(1));
  return finish("Progressing");
}

}  // namespace strake::rollout
