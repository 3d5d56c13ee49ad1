#include "server/pods.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"
#include "model/workloads.h"
#include "rollout/controller.h"

namespace strake::server {

using store::Json;
using Millis = std::chrono::milliseconds;

namespace {

constexpr const char* kMarker = "STRAKE_POD";
constexpr Millis kConfigRetry{10'000};

std::string MarkerOf(const std::string& attempt) { return std::string(kMarker) + "=" + attempt; }

Json Condition(const char* type, bool status, const std::string& now, const char* reason = "") {
  Json c = {{"type", type}, {"status", status ? "True" : "False"}, {"lastTransitionTime", now}};
  if (*reason) c["reason"] = reason;
  return c;
}

// The kubelet's four conditions: scheduled and initialized at once here;
// ready while the container runs.
Json Conditions(bool ready, const std::string& now, const char* not_ready = "ContainersNotReady") {
  const char* why = ready ? "" : not_ready;
  return Json::array({Condition("PodScheduled", true, now), Condition("Initialized", true, now),
                      Condition("ContainersReady", ready, now, why),
                      Condition("Ready", ready, now, why)});
}

// The first container's status, kept across attempts (restartCount,
// lastState), with its name and image current. A copy: the status is an
// ordered map, whose insertions move its members.
Json ContainerStatus(const Json& status, const model::Container& c) {
  const Json list = status.value("containerStatuses", Json::array());
  Json cs = Json::object();
  if (list.is_array() && !list.empty() && list[0].is_object()) cs = list[0];
  if (!cs.contains("restartCount")) cs["restartCount"] = 0;
  cs["name"] = c.name;
  cs["image"] = c.image;
  return cs;
}

// spec.serviceAccountName when it is a string (an ignored field, not checked).
std::string ServiceAccountOf(const Json& object) {
  const Json spec = object.value("spec", Json::object());
  return spec.is_object() && spec.contains("serviceAccountName") &&
                 spec["serviceAccountName"].is_string()
             ? spec["serviceAccountName"].get<std::string>()
             : "";
}

// The kubelet's restart back-off, from 1 s here: doubled per restart, at
// most 5 minutes.
Millis BackOff(int restarts) {
  return Millis(
      std::min<int64_t>(int64_t{1000} << std::min(std::max(restarts - 1, 0), 9), 300'000));
}

}  // namespace

PodReconciler::PodReconciler(store::Store& store, const Clock& clock, AttemptPlace place,
                             std::function<void(const std::string&)> enqueue)
    : store_(store),
      clock_(clock),
      place_(std::move(place)),
      enqueue_(std::move(enqueue)),
      runner_([this](const std::string& key, const runtime::BatchEnd& end) { Ended(key, end); }) {}

void PodReconciler::Ended(const std::string& key, const runtime::BatchEnd& end) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = running_.find(key);
    // Only the attempt this Pod runs now: an older one's end (a Pod made
    // again under the same name) is not its.
    if (r == running_.end() || MarkerOf(r->second) != end.marker) return;
    ended_[key] = Exit{end.exit_code, end.deadline, end.error, r->second, end.oom_killed};
    running_.erase(r);
  }
  enqueue_(key);
}

std::optional<PodReconciler::Exit> PodReconciler::TakeExit(const std::string& key,
                                                           const std::string& marker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto e = ended_.find(key);
  if (e == ended_.end()) return std::nullopt;
  Exit exit = std::move(e->second);
  ended_.erase(e);
  if (exit.marker != marker) return std::nullopt;  // a recreated Pod's old attempt
  return exit;
}

// One reconcile's view of a Pod: the stored object, its decoded spec, the
// status being written, and its first container's status.
struct PodReconciler::Pass {
  const std::string& key;
  const store::Resource& got;
  const model::Pod& pod;
  const model::Container& c;
  Json status;
  Json cs;
  std::string now;

  // Writes the status (the container's in it); returns the new version.
  Result<int64_t> Write(store::Store& store, const std::string& reason,
                        const std::string& message) {
    status["containerStatuses"] = Json::array({cs});
    auto w = store.UpdateStatus(got.key, status, got.resource_version, reason, message);
    if (!w) return tl::unexpected(w.error());
    return w->resource_version;
  }
};

Result<controller::ReconcileResult> PodReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Pod", ns, name}));
  if (!got) {
    // Deleted: its attempt, if one runs, is killed.
    runner_.Stop(key);
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(key);
    ended_.erase(key);
    not_before_.erase(key);
    return controller::ReconcileResult{};
  }
  auto pod = model::DecodePod(got->object);
  if (!pod || pod->pod.containers.empty()) return controller::ReconcileResult{};  // refused
  Json status = got->status.is_object() ? got->status : Json::object();
  std::string marker = status.value("marker", "");
  bool running;
  std::string running_marker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = running_.find(key);
    running = r != running_.end();
    if (running) running_marker = r->second;
  }
  if (running && running_marker != marker) {
    // An attempt of another object under this name (deleted and made again
    // before this reconcile): it goes; this Pod starts once it has.
    runner_.Stop(key);
    runtime::BatchRunner::KillLeftovers(MarkerOf(running_marker));
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(key);
      ended_.erase(key);
      not_before_.erase(key);
    }
    return controller::ReconcileResult{Millis(100)};
  }
  // A new spec: Kubernetes refuses it; here the Pod is made again.
  if (status.contains("observedGeneration") &&
      status.value("observedGeneration", int64_t{0}) < got->generation) {
    if (running) runner_.Stop(key);  // its end is not recorded: the marker goes
    if (!marker.empty()) runtime::BatchRunner::KillLeftovers(MarkerOf(marker));
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(key);
      not_before_.erase(key);
    }
    auto w = store_.UpdateStatus(got->key, Json::object(), got->resource_version, "Recreated",
                                 fmt::format("the spec changed (generation {}): the Pod is made "
                                             "again from it",
                                             got->generation));
    if (!w) return tl::unexpected(w.error());
    return controller::ReconcileResult{};
  }
  std::string phase = status.value("phase", "");
  if (phase == "Succeeded" || phase == "Failed" || running) return controller::ReconcileResult{};

  const model::Container& c = pod->pod.containers.front();
  Pass pass{key, *got, *pod, c, status, ContainerStatus(status, c), FormatRfc3339(clock_.Now())};
  std::optional<Exit> exit = TakeExit(key, marker);
  if (!exit && !marker.empty()) {
    // An attempt a previous server started and did not see end: whatever
    // carries its marker, pid recorded or not.
    runtime::BatchRunner::KillLeftovers(MarkerOf(marker));
    exit = Exit{137, false, "the server restarted during the attempt", marker};
  }
  if (exit) {
    auto recorded = RecordExit(pass, *exit);
    if (!recorded) {
      // Recorded once written: it waits for the next reconcile.
      std::lock_guard<std::mutex> lock(mu_);
      ended_.emplace(key, *exit);
    }
    return recorded;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto nb = not_before_.find(key); nb != not_before_.end()) {
      if (clock_.Now() < nb->second) {
        controller::ReconcileResult later;
        later.requeue_after = std::chrono::duration_cast<Millis>(nb->second - clock_.Now());
        return later;
      }
      not_before_.erase(nb);
    }
  }
  return Start(pass);
}

Result<controller::ReconcileResult> PodReconciler::RecordExit(Pass& p, const Exit& exit) {
  controller::ReconcileResult result;
  std::string code = exit.error.empty() ? fmt::format("exit code {}", exit.exit_code) : exit.error;
  Json term = {{"exitCode", exit.exit_code},
               {"reason", exit.exit_code == 0 ? "Completed"
                          : exit.oom_killed   ? "OOMKilled"
                                              : "Error"},
               {"startedAt", p.cs.value("state", Json::object())
                                 .value("running", Json::object())
                                 .value("startedAt", p.now)},
               {"finishedAt", p.now},
               {"containerID", "strake://" + exit.marker}};
  if (!exit.error.empty()) term["message"] = exit.error;
  p.status.erase("marker");
  p.status.erase("pid");
  p.cs["ready"] = false;
  p.cs["started"] = false;
  const std::string& policy = p.pod.restart_policy;
  if (exit.deadline || policy == "Never" || (policy == "OnFailure" && exit.exit_code == 0)) {
    bool ok = !exit.deadline && exit.exit_code == 0;
    p.cs["state"] = {{"terminated", term}};
    p.status["phase"] = ok ? "Succeeded" : "Failed";
    p.status["conditions"] = Conditions(false, p.now, "PodCompleted");
    std::string message = exit.deadline
                              ? "Pod was active on the node longer than the specified deadline"
                              : fmt::format("container \"{}\" {}", p.c.name,
                                            ok ? std::string("completed") : "failed: " + code);
    if (exit.deadline) {
      p.status["reason"] = "DeadlineExceeded";
      p.status["message"] = message;
    }
    const char* reason = exit.deadline ? "DeadlineExceeded" : (ok ? "Completed" : "Failed");
    STRAKE_TRY(p.Write(store_, reason, message));
    return result;
  }
  int restarts = p.cs.value("restartCount", 0) + 1;
  Millis wait = BackOff(restarts);
  p.cs["restartCount"] = restarts;
  p.cs["lastState"] = {{"terminated", term}};
  p.cs["state"] = {{"waiting",
                    {{"reason", "CrashLoopBackOff"},
                     {"message", fmt::format("back-off {}s restarting failed container={} pod={}",
                                             wait.count() / 1000, p.c.name, p.got.key.name)}}}};
  p.status["conditions"] = Conditions(false, p.now);
  {
    std::lock_guard<std::mutex> lock(mu_);
    not_before_[p.key] = clock_.Now() + wait;
  }
  STRAKE_TRY(p.Write(store_, "BackOff",
                     fmt::format("container \"{}\" exited ({}); restarting in {} ms", p.c.name,
                                 code, wait.count())));
  result.requeue_after = wait;
  return result;
}

Result<controller::ReconcileResult> PodReconciler::Start(Pass& p) {
  controller::ReconcileResult result;
  const std::string& ns = p.got.key.ns;
  const std::string& name = p.got.key.name;
  // What cannot start says why, once (a write per change only).
  auto cannot_start = [&](const char* reason, const std::string& message) -> Status {
    Json waiting = {{"reason", reason}, {"message", message}};
    if (p.status.value("phase", "") == "Pending" &&
        p.cs.value("state", Json::object()).value("waiting", Json()) == waiting) {
      return Ok();
    }
    p.status["phase"] = "Pending";
    p.status["observedGeneration"] = p.got.generation;
    p.cs["state"] = {{"waiting", waiting}};
    p.cs["ready"] = false;
    p.status["conditions"] = Conditions(false, p.now);
    auto w = p.Write(store_, reason, message);
    if (!w) return tl::unexpected(w.error());
    return Ok();
  };
  // In its image: once it is here (the pull's end wakes the Pod).
  STRAKE_TRY_ASSIGN(pull_secrets, rollout::PullSecrets(store_, ns, p.pod.pod.image_pull_secrets));
  AttemptImage img =
      ImageForAttempt(place_, p.c, pull_secrets, [this, key = p.key] { enqueue_(key); });
  if (!img.reason.empty()) {
    STRAKE_TRY(cannot_start(img.reason.c_str(), img.message));
    if (img.reason != "ContainerCreating") result.requeue_after = kConfigRetry;
    return result;
  }
  if (!img.image && p.c.command.empty() && p.c.args.empty()) {
    STRAKE_TRY(cannot_start("CreateContainerError", NoCommand(p.c)));
    return result;
  }
  const Json meta = p.got.object.value("metadata", Json::object());
  rollout::PodFields fields{name,
                            ns,
                            p.got.uid,
                            ServiceAccountOf(p.got.object),
                            model::StringMap(meta.value("labels", Json::object())),
                            model::StringMap(meta.value("annotations", Json::object()))};
  auto env = rollout::ResolveEnv(store_, ns, p.c, &fields);
  if (!env) {
    STRAKE_TRY(cannot_start("CreateContainerConfigError", env.error().message));
    result.requeue_after = kConfigRetry;
    return result;
  }

  // A stopped attempt still ending (its output drained): start after it.
  if (runner_.Running(p.key)) return controller::ReconcileResult{Millis(100)};
  // Start an attempt: recorded first, so a restart knows it may be running.
  int restarts = p.cs.value("restartCount", 0);
  std::string marker =
      fmt::format("{}/{}/{}/{}/{}", ns, name, p.got.uid, p.got.generation, restarts);
  auto in_image = img.image ? &*img.image : nullptr;
  auto made = ContainerAttempt(store_, ns, name, p.c, *env, place_, in_image);
  if (!made) {
    STRAKE_TRY(cannot_start("CreateContainerError", made.error().message));
    result.requeue_after = kConfigRetry;
    return result;
  }
  runtime::BatchAttempt& attempt = *made;
  attempt.marker = MarkerOf(marker);
  if (p.pod.active_deadline_seconds > 0) {
    attempt.limit = DeadlineLeft(clock_, p.status, p.now, p.pod.active_deadline_seconds);
  }
  if (!p.status.contains("startTime")) p.status["startTime"] = p.now;
  p.status["phase"] = "Running";
  p.status["observedGeneration"] = p.got.generation;
  p.status["hostIP"] = "127.0.0.1";
  p.status["podIP"] = "127.0.0.1";
  p.status["marker"] = marker;
  p.cs["state"] = {{"running", {{"startedAt", p.now}}}};
  p.cs["ready"] = true;
  p.cs["started"] = true;
  p.status["conditions"] = Conditions(true, p.now);
  std::string again = restarts ? fmt::format(" (restart {})", restarts) : "";
  STRAKE_TRY_ASSIGN(version, p.Write(store_, "Started",
                                     fmt::format("container \"{}\" started{}", p.c.name, again)));
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_[p.key] = marker;
  }
  auto pid = runner_.Start(p.key, std::move(attempt));
  if (!pid) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(p.key);
    ended_[p.key] = Exit{127, false, pid.error().message, marker};
    result.requeue_after = Millis(1);
    return result;
  }
  // The pid, for people: a restart finds the attempt by its marker.
  p.status["pid"] = *pid;
  p.status["containerStatuses"] = Json::array({p.cs});
  (void)store_.UpdateStatus(p.got.key, p.status, version, "Running", fmt::format("pid {}", *pid));
  return result;
}

}  // namespace strake::server
