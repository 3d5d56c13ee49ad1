#include "server/jobs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "base/fd.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mask.h"
#include "base/process.h"
#include "base/strings.h"
#include "gitops/health.h"
#include "model/workloads.h"
#include "rollout/controller.h"

namespace strake::server {

using store::Json;
using Millis = std::chrono::milliseconds;

struct JobReconciler::Attempt {
  int wake_fd = -1;
  std::thread thread;
};

// An attempt's output, masked with every Secret of the Job's namespace (its
// env may hold any of them), into its log.
struct JobReconciler::Output {
  std::unique_ptr<MaskedLog> masked;
  Fd file;  // when there is nothing to mask
  int write_fd() const { return masked ? masked->write_fd() : file.get(); }
};

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

JobReconciler::JobReconciler(store::Store& store, const Clock& clock, std::string log_dir,
                             std::string work_dir, const Sandbox* sandbox,
                             std::function<void(const std::string&)> enqueue)
    : store_(store),
      clock_(clock),
      log_dir_(std::move(log_dir)),
      work_dir_(std::move(work_dir)),
      sandbox_(sandbox),
      enqueue_(std::move(enqueue)) {}

JobReconciler::~JobReconciler() {
  std::map<std::string, std::shared_ptr<Attempt>> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    running = running_;
  }
  for (auto& [key, a] : running) {
    uint64_t one = 1;
    (void)!::write(a->wake_fd, &one, sizeof one);
  }
  for (auto& [key, a] : running) {
    if (a->thread.joinable()) a->thread.join();
    ::close(a->wake_fd);
  }
}

void JobReconciler::Finish(const std::string& key, int exit_code, bool deadline,
                           const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;  // left "active": the next start counts the attempt as failed
  ended_[key] = {deadline ? -1 : exit_code, error};
  auto it = running_.find(key);
  if (it != running_.end()) {
    it->second->thread.detach();
    ::close(it->second->wake_fd);
    running_.erase(it);
  }
  enqueue_(key);
}

Result<controller::ReconcileResult> JobReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Job", ns, name}));
  std::unique_lock<std::mutex> lock(mu_);
  if (!got) {
    // Deleted: its attempt, if one runs, is killed.
    if (auto it = running_.find(key); it != running_.end()) {
      uint64_t one = 1;
      (void)!::write(it->second->wake_fd, &one, sizeof one);
    }
    ended_.erase(key);
    return controller::ReconcileResult{};
  }
  Json status = got->status.is_object() ? got->status : Json::object();
  if (Finished(status)) return controller::ReconcileResult{};
  if (running_.count(key)) return controller::ReconcileResult{};
  lock.unlock();
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
    if (!status.value("marker", "").empty()) KillMarked({MarkerOf(status.value("marker", ""))});
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
  auto env = rollout::ResolveEnv(store_, ns, c);
  if (!env) {
    status["conditions"] = Condition("Failed", "ConfigError", env.error().message, now);
    STRAKE_TRY(write("ConfigError", env.error().message));
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

  SpawnOptions o;
  o.argv = c.command;
  o.argv.insert(o.argv.end(), c.args.begin(), c.args.end());
  const char* path = std::getenv("PATH");
  const char* home = std::getenv("HOME");
  o.env = {std::string("PATH=") + (path ? path : "/usr/local/bin:/usr/bin:/bin"),
           std::string("HOME=") + (home ? home : "/tmp"), MarkerOf(marker)};
  for (const auto& [k, v] : *env) o.env.push_back(fmt::format("{}={}", k, v));
  o.cwd = c.working_dir.empty() ? work_dir_ : c.working_dir;
  o.sandbox = sandbox_;
  std::string dir = PathJoin(log_dir_, ns);
  (void)MakeDirs(dir, 0700);
  auto log_path = PathUnder(dir, name + ".log");
  auto secrets = rollout::SecretValues(store_, ns);
  if (!secrets) return tl::unexpected(secrets.error());
  auto output = std::make_unique<Output>();
  output->file = Fd(
      log_path ? ::open(log_path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1);
  if (output->file && !secrets->empty()) {
    output->masked = std::make_unique<MaskedLog>(output->file.release(), *secrets);
  }
  o.stdout_fd = o.stderr_fd = output->write_fd();
  auto proc = Spawn(o);
  if (output->masked) output->masked->Spawned();
  output->file = Fd();
  if (!proc) {
    std::lock_guard<std::mutex> l(mu_);
    ended_[key] = {127, proc.error().message};
    result.requeue_after = Millis(1);
    return result;
  }
  // The pid, for people: a restart finds the attempt by its marker.
  status["pid"] = proc->pid();
  (void)store_.UpdateStatus(got->key, status, version, "Running",
                            fmt::format("pid {}", proc->pid()));

  std::optional<Millis> limit;
  if (job->active_deadline_seconds > 0) {
    auto started = ParseRfc3339(status.value("startTime", now));
    auto spent = started ? std::chrono::duration_cast<Millis>(clock_.Now() - *started) : Millis(0);
    limit = std::max(Millis(0), Millis(job->active_deadline_seconds * 1000LL) - spent);
  }
  Watch(key, std::move(*proc), limit, MarkerOf(marker), std::move(output));
  return result;
}

void JobReconciler::Watch(const std::string& key, Process p, std::optional<Millis> limit,
                          std::string marker, std::unique_ptr<Output> output) {
  auto attempt = std::make_shared<Attempt>();
  attempt->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::lock_guard<std::mutex> l(mu_);
  running_[key] = attempt;
  attempt->thread = std::thread([this, key, attempt, limit, marker = std::move(marker),
                                 p = std::move(p), output = std::move(output)]() mutable {
    auto waited = WaitProcess(p, limit, attempt->wake_fd);
    bool exited = waited && waited->outcome == WaitOutcome::kExited;
    if (!exited) KillAndReap(p);
    // The attempt ends with everything it started, as a pod's processes
    // end with its container.
    (void)KillMarked({marker});
    // Its whole output is in the log before it counts as ended.
    output.reset();
    if (!exited) {
      bool timed_out = waited && waited->outcome == WaitOutcome::kTimedOut;
      Finish(key, 137, timed_out, timed_out ? "" : "stopped");
      return;
    }
    Finish(key, waited->exit_code, false, "");
  });
}

}  // namespace strake::server
