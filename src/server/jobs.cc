#include "server/jobs.h"

#include <fmt/format.h>

#include <cstdlib>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/strings.h"
#include "gitops/health.h"
#include "model/workloads.h"
#include "rollout/controller.h"

namespace strake::server {

using store::Json;
using Millis = std::chrono::milliseconds;

namespace {

constexpr const char* kMarker = "STRAKE_JOB";

Json Condition(const std::string& type, const std::string& reason, const std::string& message,
               const std::string& now) {
  return Json::array({{{"type", type},
                       {"status", "True"},
                       {"reason", reason},
                       {"message", message},
                       {"lastTransitionTime", now}}});
}

// Complete or Failed: the health Argo CD gives a Job that will not run again.
bool Finished(const Json& status) {
  auto h = gitops::HealthOf("Job", status, 0);
  return h == gitops::Health::kHealthy || h == gitops::Health::kDegraded;
}

// What every process of an attempt carries in its environment, so that all
// of them are found again: after a restart (the pid is recorded only after
// the spawn) and when one left the process group (setsid) without the
// sandbox's PID namespace to end it.
std::string MarkerOf(const std::string& attempt) { return std::string(kMarker) + "=" + attempt; }

}  // namespace

std::string NoCommand(const model::Container& c) {
  return fmt::format(
      "container \"{}\" has no command: image {} runs with this machine's programs (strake "
      "serve --no-sandbox or --run-on-host)",
      c.name, c.image.empty() ? "(none)" : Quote(c.image));
}

AttemptImage ImageForAttempt(const AttemptPlace& place, const model::Container& c,
                             const std::vector<std::string>& pull_secrets,
                             std::function<void()> done) {
  AttemptImage out;
  if (!place.images || place.images->OnHost(c.image)) return out;
  auto got = place.images->Get(c.image, c.image_pull_policy, false, pull_secrets, std::move(done));
  if (!got) {
    out.reason = "ErrImagePull";
    out.message = fmt::format("{}: {}", c.image, got.error().message);
  } else if (!*got) {
    out.reason = "ContainerCreating";
    out.message = fmt::format("pulling image {}", c.image);
  } else {
    out.image = std::move(**got);
  }
  return out;
}

Millis DeadlineLeft(const Clock& clock, const Json& status, const std::string& now,
                    int64_t seconds) {
  if (seconds <= 0) return Millis::max();
  auto started = ParseRfc3339(status.value("startTime", now));
  auto spent = started ? std::chrono::duration_cast<Millis>(clock.Now() - *started) : Millis(0);
  return std::max(Millis(0), Millis(seconds * 1000LL) - spent);
}

Result<runtime::BatchAttempt> ContainerAttempt(
    store::Store& store, const std::string& ns, const std::string& name, const model::Container& c,
    const std::vector<std::pair<std::string, std::string>>& env, const AttemptPlace& place,
    const RunnableImage* image) {
  runtime::BatchAttempt attempt;
  std::vector<std::string> own;
  own.reserve(env.size());
  for (const auto& [k, v] : env) own.push_back(fmt::format("{}={}", k, v));
  if (image) {
    auto run = ContainerFor(*image, c.command, c.args, own, c.working_dir);
    if (!run) {
      return Failf("container \"{}\": image {}: {}", c.name, c.image, run.error().message);
    }
    attempt.argv = std::move(run->argv);
    attempt.env = std::move(run->env);
    attempt.container = std::move(run->spec);
  } else {
    if (c.command.empty() && c.args.empty()) return Fail(NoCommand(c));
    attempt.argv = c.command;
    attempt.argv.insert(attempt.argv.end(), c.args.begin(), c.args.end());
    const char* path = std::getenv("PATH");
    const char* home = std::getenv("HOME");
    attempt.env = {std::string("PATH=") + (path ? path : "/usr/local/bin:/usr/bin:/bin"),
                   std::string("HOME=") + (home ? home : "/tmp")};
    attempt.env.insert(attempt.env.end(), own.begin(), own.end());
    attempt.cwd = c.working_dir.empty() ? place.work_dir : c.working_dir;
  }
  attempt.sandbox = place.sandbox;
  std::string dir = PathJoin(place.log_dir, ns);
  (void)MakeDirs(dir, 0700);
  if (auto log_path = PathUnder(dir, name + ".log")) attempt.log_path = *log_path;
  STRAKE_TRY_ASSIGN(secrets, rollout::SecretValues(store, ns));
  attempt.secrets = std::move(secrets);
  if (place.cgroups && !c.resources.empty()) {  // last: nothing after it can fail
    auto cg = place.cgroups->Create("job-" + NewUid(), c.resources);
    if (!cg) return Failf("container \"{}\": resources: {}", c.name, cg.error().message);
    attempt.cgroup = std::make_shared<Cgroup>(std::move(*cg));
  }
  return attempt;
}

JobReconciler::JobReconciler(store::Store& store, const Clock& clock, AttemptPlace place,
                             std::function<void(const std::string&)> enqueue)
    : store_(store),
      clock_(clock),
      place_(std::move(place)),
      enqueue_(std::move(enqueue)),
      runner_([this](const std::string& key, const runtime::BatchEnd& end) { Ended(key, end); }) {}

void JobReconciler::Ended(const std::string& key, const runtime::BatchEnd& end) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ended_[key] = {
        end.deadline ? -1 : end.exit_code,
        end.oom_killed ? "OOMKilled: the container ran out of memory at its limit" : end.error};
  }
  enqueue_(key);
}

// Its activeDeadlineSeconds counts from the first wait, as a cluster's
// does from the Job's start; the waiting reason is written once.
Result<controller::ReconcileResult> JobReconciler::WaitForImage(const store::Resource& got,
                                                                const model::Job& job,
                                                                const AttemptImage& img,
                                                                Json& status,
                                                                const std::string& now) {
  controller::ReconcileResult result;
  auto write = [&](const std::string& reason, const std::string& message) -> Status {
    auto w = store_.UpdateStatus(got.key, status, got.resource_version, reason, message);
    if (!w) return tl::unexpected(w.error());
    return Ok();
  };
  if (!status.contains("startTime")) status["startTime"] = now;
  const Millis left = DeadlineLeft(clock_, status, now, job.active_deadline_seconds);
  if (left == Millis(0)) {
    std::string message = fmt::format("the job was active longer than {}s ({}: {})",
                                      job.active_deadline_seconds, img.reason, img.message);
    status.erase("waiting");
    status["conditions"] = Condition("Failed", "DeadlineExceeded", message, now);
    STRAKE_TRY(write("DeadlineExceeded", message));
    return result;
  }
  Json waiting = {{"reason", img.reason}, {"message", img.message}};
  if (status.value("waiting", Json()) != waiting) {
    status["waiting"] = waiting;
    STRAKE_TRY(write(img.reason, img.message));
  }
  Millis again = img.reason == "ContainerCreating" ? left : std::min(left, Millis(10'000));
  if (again != Millis::max()) result.requeue_after = again;
  return result;
}

Result<controller::ReconcileResult> JobReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Job", ns, name}));
  if (!got) {
    // Deleted: its attempt, if one runs, is killed.
    runner_.Stop(key);
    std::lock_guard<std::mutex> lock(mu_);
    ended_.erase(key);
    return controller::ReconcileResult{};
  }
  Json status = got->status.is_object() ? got->status : Json::object();
  if (Finished(status)) return controller::ReconcileResult{};
  if (runner_.Running(key)) return controller::ReconcileResult{};
  auto job = model::DecodeJob(got->object);
  if (!job) return controller::ReconcileResult{};  // refused at the API
  std::string now = FormatRfc3339(clock_.Now());
  controller::ReconcileResult result;
  auto write = [&](const std::string& reason, const std::string& message) -> Status {
    auto w = store_.UpdateStatus(got->key, status, got->resource_version, reason, message);
    if (!w) return tl::unexpected(w.error());
    return Ok();
  };

  // An attempt ended: record it.
  int failed = status.value("failed", 0);
  bool ended = false, deadline = false;
  std::string why;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto e = ended_.find(key); e != ended_.end()) {
      ended = true;
      if (e->second.first == 0) {
        ended_.erase(e);
        status["active"] = 0;
        status["succeeded"] = 1;
        status["completionTime"] = now;
        status.erase("pid");
        status["conditions"] = Condition("Complete", "Completed", "the job ran to completion", now);
        STRAKE_TRY(write("Completed", "the job ran to completion"));
        return result;
      }
      deadline = e->second.first == -1;
      why = e->second.second.empty() ? fmt::format("exit code {}", e->second.first)
                                     : e->second.second;
      ended_.erase(e);
    }
  }
  if (!ended && status.value("active", 0) > 0) {
    // An attempt a previous server started and did not see end: whatever
    // carries its marker, pid recorded or not.
    if (!status.value("marker", "").empty()) {
      runtime::BatchRunner::KillLeftovers(MarkerOf(status.value("marker", "")));
    }
    ended = true;
    why = "the server restarted during the attempt";
  }
  if (ended) {
    ++failed;
    status["failed"] = failed;
    status["active"] = 0;
    status.erase("pid");
    if (deadline || failed > job->backoff_limit) {
      std::string reason = deadline ? "DeadlineExceeded" : "BackoffLimitExceeded";
      std::string message =
          deadline ? fmt::format("the job was active longer than {}s", job->active_deadline_seconds)
                   : fmt::format("the job failed {} times ({}); backoffLimit is {}", failed, why,
                                 job->backoff_limit);
      status["conditions"] = Condition("Failed", reason, message, now);
      STRAKE_TRY(write(reason, message));
      return result;
    }
    STRAKE_TRY(write("AttemptFailed", fmt::format("attempt {} failed: {}", failed, why)));
    // Kubernetes' back-off: 10 s, doubled, at most 6 min; here from 1 s.
    int64_t wait = std::min<int64_t>(int64_t{1000} << std::min(failed - 1, 8), 360'000);
    result.requeue_after = Millis(wait);
    return result;
  }

  // Start an attempt: recorded first, so a restart knows it may be running.
  if (job->pod.containers.empty()) return result;
  const model::Container& c = job->pod.containers.front();
  // In its image: once it is here (the pull's end wakes the Job).
  STRAKE_TRY_ASSIGN(pull_secrets, rollout::PullSecrets(store_, ns, job->pod.image_pull_secrets));
  AttemptImage img = ImageForAttempt(place_, c, pull_secrets, [this, key] { enqueue_(key); });
  if (!img.reason.empty()) return WaitForImage(*got, *job, img, status, now);
  status.erase("waiting");
  // A Job's pods are named <job>-<attempt> here (a cluster adds a random suffix).
  rollout::PodFields fields{fmt::format("{}-{}", name, failed),
                            ns,
                            fmt::format("{}-{}", got->uid, failed),
                            "",
                            job->pod.labels,
                            job->pod.annotations};
  auto env = rollout::ResolveEnv(store_, ns, c, &fields);
  if (!env) {
    status["conditions"] = Condition("Failed", "ConfigError", env.error().message, now);
    STRAKE_TRY(write("ConfigError", env.error().message));
    return result;
  }
  // On the host with nothing to run: no attempt would do better.
  if (!img.image && c.command.empty() && c.args.empty()) {
    std::string none = NoCommand(c);
    status["conditions"] = Condition("Failed", "ConfigError", none, now);
    STRAKE_TRY(write("ConfigError", none));
    return result;
  }
  std::string marker = fmt::format("{}/{}/{}/{}", ns, name, got->uid, failed);
  if (!status.contains("startTime")) status["startTime"] = now;
  status["active"] = 1;
  status["marker"] = marker;
  status["failed"] = failed;
  auto w = store_.UpdateStatus(got->key, status, got->resource_version, "Started",
                               fmt::format("attempt {} started", failed + 1));
  if (!w) return tl::unexpected(w.error());
  int64_t version = w->resource_version;

  auto attempt =
      ContainerAttempt(store_, ns, name, c, *env, place_, img.image ? &*img.image : nullptr);
  if (!attempt) {  // recorded as started: ends as an attempt that could not start
    std::lock_guard<std::mutex> l(mu_);
    ended_[key] = {127, attempt.error().message};
    result.requeue_after = Millis(1);
    return result;
  }
  attempt->marker = MarkerOf(marker);
  if (job->active_deadline_seconds > 0) {
    attempt->limit = DeadlineLeft(clock_, status, now, job->active_deadline_seconds);
  }
  auto pid = runner_.Start(key, std::move(*attempt));
  if (!pid) {
    std::lock_guard<std::mutex> l(mu_);
    ended_[key] = {127, pid.error().message};
    result.requeue_after = Millis(1);
    return result;
  }
  // The pid, for people: a restart finds the attempt by its marker.
  status["pid"] = *pid;
  (void)store_.UpdateStatus(got->key, status, version, "Running", fmt::format("pid {}", *pid));
  return result;
}

}  // namespace strake::server
