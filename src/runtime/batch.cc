#include "runtime/batch.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "base/fd.h"
#include "base/mask.h"

namespace strake::runtime {

using Millis = std::chrono::milliseconds;

struct BatchRunner::Attempt {
  int wake_fd = -1;
  std::thread thread;
};

BatchRunner::BatchRunner(std::function<void(const std::string&, const BatchEnd&)> on_end)
    : on_end_(std::move(on_end)) {}

BatchRunner::~BatchRunner() {
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

Result<pid_t> BatchRunner::Start(const std::string& key, BatchAttempt attempt) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_.count(key)) {
      if (attempt.cgroup) attempt.cgroup->Remove();
      return Failf("{}: an attempt runs already", key);
    }
  }
  SpawnOptions o;
  o.argv = std::move(attempt.argv);
  o.env = std::move(attempt.env);
  o.env.push_back(attempt.marker);
  o.cwd = std::move(attempt.cwd);
  o.sandbox = attempt.sandbox;
  if (attempt.container) {  // in its image: the container is the sandbox
    o.container = &*attempt.container;
    o.sandbox = nullptr;
  }
  if (attempt.cgroup) o.cgroup_fds = attempt.cgroup->join_fds();
  // The output goes to the log, masked when there are secrets.
  ProcessLog output = ProcessLog::Open(attempt.log_path, attempt.secrets);
  o.stdout_fd = o.stderr_fd = output.write_fd();
  auto proc = Spawn(o);
  output.Spawned();
  if (!proc) {
    if (attempt.cgroup) attempt.cgroup->Remove();
    return tl::unexpected(proc.error());
  }
  pid_t pid = proc->pid();
  Watch(key, std::move(*proc), attempt.limit, std::move(attempt.marker), std::move(output),
        std::move(attempt.cgroup));
  return pid;
}

void BatchRunner::Stop(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = running_.find(key); it != running_.end()) {
    uint64_t one = 1;
    (void)!::write(it->second->wake_fd, &one, sizeof one);
  }
}

bool BatchRunner::Running(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.count(key) > 0;
}

int BatchRunner::KillLeftovers(const std::string& marker) { return KillMarked({marker}); }

void BatchRunner::Ended(const std::string& key, const BatchEnd& end) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;  // the destructor joins this thread
    auto it = running_.find(key);
    if (it != running_.end()) {
      it->second->thread.detach();
      ::close(it->second->wake_fd);
      running_.erase(it);
    }
  }
  on_end_(key, end);
}

void BatchRunner::Watch(const std::string& key, Process p, std::optional<Millis> limit,
                        std::string marker, ProcessLog output, std::shared_ptr<Cgroup> cgroup) {
  auto attempt = std::make_shared<Attempt>();
  attempt->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::lock_guard<std::mutex> l(mu_);
  running_[key] = attempt;
  attempt->thread =
      std::thread([this, key, attempt, limit, marker = std::move(marker), p = std::move(p),
                   output = std::move(output), cgroup = std::move(cgroup)]() mutable {
        auto waited = WaitProcess(p, limit, attempt->wake_fd);
        bool exited = waited && waited->outcome == WaitOutcome::kExited;
        if (!exited) KillAndReap(p);
        // The attempt ends with everything it started, as a pod's processes
        // end with its container.
        (void)KillMarked({marker});
        // Its whole output is in the log before it counts as ended.
        output.Finish();
        const bool oom = cgroup && cgroup->OomKilled();
        if (cgroup) cgroup->Remove();
        if (!exited) {
          bool timed_out = waited && waited->outcome == WaitOutcome::kTimedOut;
          Ended(key, BatchEnd{137, timed_out, timed_out ? "" : "stopped", marker, oom});
          return;
        }
        Ended(key, BatchEnd{waited->exit_code, false, "", marker, oom});
      });
}

}  // namespace strake::runtime
