#include "pipeline/step_runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "base/clock.h"
#include "base/container.h"
#include "base/curl.h"
#include "base/fs.h"
#include "base/mask.h"
#include "base/net.h"
#include "base/process.h"
#include "base/sha256.h"
#include "pipeline/artifacts.h"
#include "pipeline/step_actions.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

namespace {

int64_t NowMs() { return UnixMillis(std::chrono::system_clock::now()); }

// The container a step runs in, when its plan names one.
Result<std::optional<ContainerSpec>> ContainerOf(const StepPlan& step) {
  if (step.container.empty()) return std::optional<ContainerSpec>();
  STRAKE_TRY_ASSIGN(spec, ParseContainerArgs(step.container));
  return std::optional<ContainerSpec>(std::move(spec));
}

Json StepToJson(const StepPlan& s) {
  Json j = {{"name", s.name},
            {"argv", s.argv},
            {"env", s.env},
            {"cwd", s.cwd},
            {"continueOnError", s.continue_on_error},
            {"log", s.log_path},
            {"exitCodePath", s.exit_code_path}};
  if (!s.notice.empty()) j["notice"] = s.notice;
  if (s.timeout_ms) j["timeoutMs"] = *s.timeout_ms;
  if (!s.step_results_dir.empty()) j["stepResultsDir"] = s.step_results_dir;
  if (!s.stdout_path.empty()) j["stdoutPath"] = s.stdout_path;
  if (!s.stderr_path.empty()) j["stderrPath"] = s.stderr_path;
  if (!s.container.empty()) j["container"] = s.container;
  if (!s.cgroup_fds.empty()) j["cgroupFds"] = s.cgroup_fds;
  if (!s.script_path.empty()) {
    j["scriptText"] = s.script_text;
    j["scriptPath"] = s.script_path;
  }
  for (const auto& w : s.when) {
    j["when"].push_back({{"input", w.input}, {"operator", w.op}, {"values", w.values}});
  }
  for (const auto& p : s.probes) {
    j["probes"].push_back({{"name", p.name},
                           {"handler", p.handler},
                           {"command", p.command},
                           {"port", p.port},
                           {"path", p.path},
                           {"headers", p.headers},
                           {"initialDelaySeconds", p.initial_delay_seconds},
                           {"periodSeconds", p.period_seconds},
                           {"timeoutSeconds", p.timeout_seconds},
                           {"successThreshold", p.success_threshold},
                           {"failureThreshold", p.failure_threshold}});
  }
  return j;
}

StepPlan StepFromJson(const Json& j) {
  StepPlan s;
  s.name = j.value("name", "");
  s.argv = j.value("argv", std::vector<std::string>{});
  s.env = j.value("env", std::vector<std::string>{});
  s.cwd = j.value("cwd", "");
  s.continue_on_error = j.value("continueOnError", false);
  s.log_path = j.value("log", "");
  s.exit_code_path = j.value("exitCodePath", "");
  s.notice = j.value("notice", "");
  if (j.contains("timeoutMs")) s.timeout_ms = j["timeoutMs"].get<int64_t>();
  s.step_results_dir = j.value("stepResultsDir", "");
  s.stdout_path = j.value("stdoutPath", "");
  s.stderr_path = j.value("stderrPath", "");
  s.script_text = j.value("scriptText", "");
  s.script_path = j.value("scriptPath", "");
  s.container = j.value("container", std::vector<std::string>{});
  s.cgroup_fds = j.value("cgroupFds", std::vector<int>{});
  for (const auto& w : j.value("when", Json::array())) {
    s.when.push_back({w.value("input", ""), w.value("operator", ""),
                      w.value("values", std::vector<std::string>{})});
  }
  for (const auto& p : j.value("probes", Json::array())) {
    ProbePlan pp;
    pp.name = p.value("name", "");
    pp.handler = p.value("handler", "");
    pp.command = p.value("command", std::vector<std::string>{});
    pp.port = p.value("port", 0);
    pp.path = p.value("path", "");
    pp.headers = p.value("headers", std::vector<std::pair<std::string, std::string>>{});
    pp.initial_delay_seconds = p.value("initialDelaySeconds", 0);
    pp.period_seconds = p.value("periodSeconds", 10);
    pp.timeout_seconds = p.value("timeoutSeconds", 1);
    pp.success_threshold = p.value("successThreshold", 1);
    pp.failure_threshold = p.value("failureThreshold", 3);
    s.probes.push_back(std::move(pp));
  }
  return s;
}

// Each step and sidecar has its own log file; an attempt starts it afresh.
int OpenLog(const std::string& path, bool truncate) {
  if (path.empty()) return -1;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
                0644);
}

// The log a step or sidecar writes, started afresh with its notice: the
// file itself, or a masking pipe into it.
ProcessLog OpenStepLog(const std::string& path, const std::vector<std::string>& secrets,
                       const std::string& notice) {
  int fd = OpenLog(path, true);
  if (fd >= 0 && !notice.empty()) {
    std::string line = "strake: " + notice + "\n";
    (void)!::write(fd, line.data(), line.size());
  }
  return {Fd(fd), secrets};
}

void StopSidecars(std::vector<Process>& sidecars) {
  for (auto& p : sidecars) KillGroup(p.pid(), SIGTERM);
  for (auto& p : sidecars) {
    auto w = WaitProcess(p, std::chrono::milliseconds(2000));
    if (!w || w->outcome != WaitOutcome::kExited) KillAndReap(p);
  }
}

}  // namespace

Json ToJson(const TaskPlan& p) {
  Json steps = Json::array(), sidecars = Json::array();
  for (const auto& s : p.steps) steps.push_back(StepToJson(s));
  for (const auto& s : p.sidecars) sidecars.push_back(StepToJson(s));
  Json j = {{"steps", steps}, {"sidecars", sidecars}, {"statusPath", p.status_path}};
  // base64: a Secret's value may be bytes a JSON string cannot hold.
  if (!p.secrets.empty()) {
    Json mask = Json::array();
    for (const auto& secret : p.secrets) mask.push_back(Base64Encode(secret));
    j["mask"] = std::move(mask);
  }
  if (p.timeout_ms) j["timeoutMs"] = *p.timeout_ms;
  return j;
}

Result<TaskPlan> TaskPlanFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("steps")) return Fail("invalid step plan");
  TaskPlan p;
  for (const auto& s : j["steps"]) p.steps.push_back(StepFromJson(s));
  for (const auto& s : j.value("sidecars", Json::array())) p.sidecars.push_back(StepFromJson(s));
  for (const auto& secret : j.value("mask", std::vector<std::string>{})) {
    auto bytes = Base64Decode(secret);
    if (!bytes) return Fail("invalid step plan: a mask that is not base64");
    p.secrets.push_back(std::move(*bytes));
  }
  p.status_path = j.value("statusPath", "");
  if (j.contains("timeoutMs")) p.timeout_ms = j["timeoutMs"].get<int64_t>();
  return p;
}

Json ToJson(const StepsOutcome& o) {
  Json steps = Json::array();
  for (const auto& s : o.steps) {
    steps.push_back({{"name", s.name},
                     {"exitCode", s.exit_code},
                     {"reason", s.reason},
                     {"message", s.message},
                     {"startedMs", s.started_ms},
                     {"finishedMs", s.finished_ms}});
  }
  return {{"steps", steps},
          {"cancelled", o.cancelled},
          {"timedOut", o.timed_out},
          {"failed", o.failed},
          {"message", o.message}};
}

StepsOutcome StepsOutcomeFromJson(const Json& j) {
  StepsOutcome o;
  for (const auto& s : j.value("steps", Json::array())) {
    o.steps.push_back({s.value("name", ""), s.value("exitCode", 0), s.value("reason", ""),
                       s.value("message", ""), s.value("startedMs", int64_t{0}),
                       s.value("finishedMs", int64_t{0})});
  }
  o.cancelled = j.value("cancelled", false);
  o.timed_out = j.value("timedOut", false);
  o.failed = j.value("failed", false);
  o.message = j.value("message", "");
  return o;
}

namespace {

// The descriptors a step inherits: its script's memfd, when it has one.
std::vector<int> ScriptFds(const StepPlan& step) {
  if (step.script_fd < 0) return {};
  return {step.script_fd};
}

// A step's process as it started: its log, and the process or why it did not start.
struct StartedStep {
  ProcessLog log;
  Result<Process> process = Fail("not started");
  int64_t started_ms = 0;
  bool skipped = false;  // its `when` does not hold
  // stdoutConfig / stderrConfig: each stream to its log and its file.
  std::vector<std::unique_ptr<MaskedLog>> copies;
};

// The descriptors a step writes its stdout and stderr to: its log's, or a
// pipe into both its log and the file its stdoutConfig or stderrConfig
// names (created with its directories, truncated; one file for both when
// they name the same path).
Result<std::pair<int, int>> OpenStreamCopies(const StepPlan& step, int log, StartedStep& s) {
  std::map<std::string, Fd> files;
  auto copy_to = [&](const std::string& path) -> Result<int> {
    if (path.empty()) return log;
    auto it = files.find(path);
    if (it == files.end()) {
      size_t slash = path.rfind('/');
      if (slash != std::string::npos && slash > 0) (void)MakeDirs(path.substr(0, slash));
      Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
      if (!fd) return Failf("{}: {}", path, std::strerror(errno));
      it = files.emplace(path, std::move(fd)).first;
    }
    s.copies.push_back(std::make_unique<MaskedLog>(::fcntl(log, F_DUPFD_CLOEXEC, 0),
                                                   std::vector<std::string>{},
                                                   ::fcntl(it->second.get(), F_DUPFD_CLOEXEC, 0)));
    return s.copies.back()->write_fd();
  };
  STRAKE_TRY_ASSIGN(out, copy_to(step.stdout_path));
  // One file for both: one pipe, so the two streams keep the order they
  // were written in.
  if (step.stderr_path == step.stdout_path) return std::make_pair(out, out);
  STRAKE_TRY_ASSIGN(err, copy_to(step.stderr_path));
  return std::make_pair(out, err);
}

// Earlier steps' results and artifacts a step reads, from their files
// (Tekton's entrypoint: a result not written is an error).
Result<Vars> StepResultVars(const StepPlan& step) {
  Vars vars;
  auto add = [&](const std::string& text) -> Status {
    for (const auto& ref : FindReferences(text)) {
      if (auto art = ArtifactNamed(ref.base, "steps"); !art.of.empty()) {
        if (vars.Find(ref.base)) continue;
        std::string path = StepArtifactsPath(step.step_results_dir, "step-" + art.of);
        auto content = ReadFile(path, 1 << 20);
        Json provenance = content ? Json::parse(*content, nullptr, false) : Json();
        auto values = ArtifactValues(provenance, art.direction, art.name);
        if (!values)
          return Failf("$({}): step \"{}\": {}", ref.expr, art.of, values.error().message);
        vars.SetString(ref.base, *values);
        continue;
      }
      // An object's key is looked up in the whole result.
      const auto [name, result] = StepResultNamed(ref.base);
      if (name.empty()) continue;
      std::string base = fmt::format("steps.{}.results.{}", name, result);
      if (vars.Find(base)) continue;
      auto content = ReadFile(StepResultPath(step.step_results_dir, name, result), 1 << 20);
      if (!content) {
        return Failf("$({}): step \"{}\" wrote no result \"{}\"", ref.expr, name, result);
      }
      vars.Set(base, ParseResultText(*content));
    }
    return Ok();
  };
  for (const auto& a : step.argv) STRAKE_TRY(add(a));
  for (const auto& e : step.env) STRAKE_TRY(add(e));
  STRAKE_TRY(add(step.script_text));
  for (const auto& w : step.when) {
    STRAKE_TRY(add(w.input));
    for (const auto& v : w.values) STRAKE_TRY(add(v));
  }
  return vars;
}

// The step as it starts: earlier steps' results substituted.
Result<StepPlan> WithStepResults(const StepPlan& step) {
  STRAKE_TRY_ASSIGN(vars, StepResultVars(step));
  StepPlan out = step;
  STRAKE_TRY_ASSIGN(argv, SubstituteList(step.argv, vars));
  out.argv = std::move(argv);
  for (auto& e : out.env) {
    STRAKE_TRY_ASSIGN(v, Substitute(e, vars));
    e = std::move(v);
  }
  for (auto& w : out.when) {
    STRAKE_TRY_ASSIGN(input, Substitute(w.input, vars));
    STRAKE_TRY_ASSIGN(values, SubstituteList(w.values, vars));
    w.input = std::move(input);
    w.values = std::move(values);
  }
  if (!step.script_path.empty()) {
    STRAKE_TRY_ASSIGN(text, Substitute(step.script_text, vars));
    STRAKE_TRY(WriteFile(step.script_path, text, 0555));
  }
  return out;
}

bool WhenHolds(const std::vector<StepWhen>& when) {
  return std::all_of(when.begin(), when.end(), [](const StepWhen& w) {
    bool in = std::find(w.values.begin(), w.values.end(), w.input) != w.values.end();
    return (w.op == "in") == in;
  });
}

StartedStep StartStep(const TaskPlan& plan, const StepPlan& planned) {
  StartedStep s;
  s.started_ms = NowMs();
  Result<StepPlan> resolved = planned;
  if (!planned.step_results_dir.empty()) resolved = WithStepResults(planned);
  const StepPlan& step = resolved ? *resolved : planned;
  // As Tekton's entrypoint does: a missing working directory is created
  // (where the step may write; elsewhere the spawn reports it).
  if (!step.cwd.empty() && !PathExists(step.cwd)) (void)MakeDirs(step.cwd);
  s.log = OpenStepLog(step.log_path, plan.secrets, step.notice);
  if (!resolved) {
    s.process = tl::unexpected(resolved.error());
    return s;
  }
  if (!WhenHolds(step.when)) {
    s.skipped = true;
    return s;
  }
  int log = s.log.write_fd();
  auto streams = OpenStreamCopies(step, log, s);
  if (!streams) {
    s.process = tl::unexpected(streams.error());
    return s;
  }
  auto [out, err] = *streams;
  auto container = ContainerOf(step);
  if (!container) {
    s.process = tl::unexpected(container.error());
    return s;
  }
  s.process = Spawn({step.argv, step.env, step.cwd, -1, out, err, ScriptFds(step), nullptr,
                     container->has_value() ? &**container : nullptr, step.cgroup_fds});
  s.log.Spawned();
  for (auto& c : s.copies) c->Spawned();
  return s;
}

// One try of a probe: true when it succeeds, else why not. An exec probe
// of a sidecar in its image runs in its container (`running` the process
// ForkIntoContainer gave, `in_image` its spec), as a kubelet's does.
bool ProbeOnce(const ProbePlan& p, const StepPlan& sidecar, const Process& running,
               const std::optional<ContainerSpec>& in_image, std::string& why) {
  std::chrono::milliseconds timeout(int64_t{p.timeout_seconds} * 1000);
  if (p.handler == "exec") {
    const SpawnOptions opts{p.command, sidecar.env, sidecar.cwd, -1,      -1,
                            -1,        {},          nullptr,     nullptr, sidecar.cgroup_fds};
    auto proc = in_image ? SpawnInto(running.pid(), in_image->cwd, opts) : Spawn(opts);
    if (!proc) {
      why = proc.error().message;
      return false;
    }
    auto w = WaitProcess(*proc, timeout);
    if (!w || w->outcome != WaitOutcome::kExited) {
      KillAndReap(*proc);
      why = fmt::format("timed out after {}s", p.timeout_seconds);
      return false;
    }
    if (w->exit_code != 0) why = fmt::format("exited with code {}", w->exit_code);
    return w->exit_code == 0;
  }
  auto port = static_cast<uint16_t>(p.port);
  if (p.handler == "tcpSocket") {
    auto c = ConnectTcp("127.0.0.1", port, timeout);
    if (!c) why = c.error().message;
    return c.has_value();
  }
  auto r = curl::Send(curl::ProbeRequest(port, p.path, p.headers, timeout), EgressPolicy::Open());
  if (!r) {
    why = r.error().message;
    return false;
  }
  if (r->status < 200 || r->status >= 400) why = fmt::format("HTTP {}", r->status);
  return r->status >= 200 && r->status < 400;
}

// Waits `ms` unless cancelled first (false).
bool Sleep(int64_t ms, int cancel_fd) {
  if (ms <= 0) return true;
  if (cancel_fd < 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return true;
  }
  pollfd pfd{cancel_fd, POLLIN, 0};
  return ::poll(&pfd, 1, static_cast<int>(ms)) == 0;
}

// Kubernetes' probing of one sidecar, from when it started: each probe
// after its initialDelaySeconds, every periodSeconds, until
// successThreshold successes in a row. A startupProbe that fails
// failureThreshold times in a row fails the task (a pod would restart the
// container); a readinessProbe is tried until the task's time is up. A
// sidecar that exits before it is ready fails the task.
Status WaitReady(const StepPlan& sidecar, const Process& proc, int64_t started_ms, int cancel_fd) {
  STRAKE_TRY_ASSIGN(in_image, ContainerOf(sidecar));
  for (const auto& p : sidecar.probes) {
    if (!Sleep(started_ms + int64_t{p.initial_delay_seconds} * 1000 - NowMs(), cancel_fd))
      return Fail("cancelled");
    int successes = 0, failures = 0;
    while (successes < p.success_threshold) {
      std::string why;
      if (ProbeOnce(p, sidecar, proc, in_image, why)) {
        ++successes;
        failures = 0;
      } else {
        successes = 0;
        ++failures;
        if (p.name == "startupProbe" && failures >= p.failure_threshold) {
          return Failf("sidecar {}: its startupProbe failed {} times: {}", sidecar.name, failures,
                       why);
        }
      }
      if (successes >= p.success_threshold) break;
      pollfd exited{proc.pidfd(), POLLIN, 0};
      if (proc.pidfd() >= 0 && ::poll(&exited, 1, 0) > 0) {
        return Failf("sidecar {} exited before its {} succeeded ({})", sidecar.name, p.name, why);
      }
      if (!Sleep(int64_t{p.period_seconds} * 1000, cancel_fd)) return Fail("cancelled");
    }
  }
  return Ok();
}

// Starts the sidecars and waits until each is ready (its probes); an
// error says which could not start or become ready ("cancelled": the task
// was). What started is in `sidecars`, for the caller to stop.
Status StartSidecars(const TaskPlan& plan, int cancel_fd, std::vector<Process>& sidecars,
                     std::vector<ProcessLog>& logs) {
  const int64_t started_ms = NowMs();
  for (const auto& sc : plan.sidecars) {
    ProcessLog log = OpenStepLog(sc.log_path, plan.secrets, sc.notice);
    auto container = ContainerOf(sc);
    if (!container) return Failf("sidecar {}: {}", sc.name, container.error().message);
    auto p = Spawn({sc.argv, sc.env, sc.cwd, -1, log.write_fd(), log.write_fd(), ScriptFds(sc),
                    nullptr, container->has_value() ? &**container : nullptr, sc.cgroup_fds});
    log.Spawned();
    logs.push_back(std::move(log));
    if (!p) return Failf("sidecar {}: {}", sc.name, p.error().message);
    sidecars.push_back(std::move(*p));
  }
  for (size_t i = 0; i < sidecars.size(); ++i) {
    if (!plan.sidecars[i].probes.empty())
      STRAKE_TRY(WaitReady(plan.sidecars[i], sidecars[i], started_ms, cancel_fd));
  }
  return Ok();
}

}  // namespace

StepsOutcome RunSteps(const TaskPlan& plan, int cancel_fd, Slot* slot) {
  StepsOutcome out;
  auto save = [&] {
    if (!plan.status_path.empty()) (void)WriteFileAtomic(plan.status_path, ToJson(out).dump());
  };
  // The first step starts the moment the slot is ours, maybe on the thread
  // that gave it back.
  std::optional<StartedStep> first;
  if (slot) {
    std::function<void()> start;
    if (plan.sidecars.empty() && !plan.steps.empty())
      start = [&] { first = StartStep(plan, plan.steps[0]); };
    if (!slot->Acquire(start)) {
      out.cancelled = true;
      save();
      return out;
    }
  }
  using Steady = std::chrono::steady_clock;
  std::optional<Steady::time_point> deadline;
  if (plan.timeout_ms) deadline = Steady::now() + std::chrono::milliseconds(*plan.timeout_ms);
  std::vector<Process> sidecars;
  std::vector<ProcessLog> sidecar_logs;
  if (auto up = StartSidecars(plan, cancel_fd, sidecars, sidecar_logs); !up) {
    (up.error().message == "cancelled" ? out.cancelled : out.failed) = true;
    out.message = up.error().message;
    StopSidecars(sidecars);
    save();
    return out;
  }
  bool stop = false;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const StepPlan& step = plan.steps[i];
    StepOutcome so;
    so.name = step.name;
    if (stop) {
      so.reason = "Skipped";
      out.steps.push_back(so);
      continue;
    }
    StartedStep started = i == 0 && first ? std::move(*first) : StartStep(plan, step);
    so.started_ms = started.started_ms;
    ProcessLog& step_log = started.log;
    int log = step_log.write_fd();
    auto& p = started.process;
    if (started.skipped) {
      so.reason = "Skipped";
      so.message = "its when expressions do not hold";
    } else if (!p) {
      so.exit_code = 127;
      so.reason = "Error";
      so.message = p.error().message;
      if (log >= 0 || !step.log_path.empty()) {
        int l = OpenLog(step.log_path, false);
        if (l >= 0) {
          std::string line = "strake: " + p.error().message + "\n";
          (void)!::write(l, line.data(), line.size());
          ::close(l);
        }
      }
    } else {
      std::optional<std::chrono::milliseconds> timeout;
      if (step.timeout_ms) timeout = std::chrono::milliseconds(*step.timeout_ms);
      bool task_limit = false;
      if (deadline) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Steady::now());
        if (left.count() < 0) left = std::chrono::milliseconds(0);
        if (!timeout || left <= *timeout) {
          timeout = left;
          task_limit = true;
        }
      }
      auto w = WaitProcess(*p, timeout, cancel_fd);
      if (!w) {
        KillAndReap(*p);
        so.exit_code = 1;
        so.reason = "Error";
        so.message = w.error().message;
      } else if (w->outcome == WaitOutcome::kExited) {
        so.exit_code = w->exit_code;
        so.reason = w->exit_code == 0 ? "Completed" : "Error";
        KillGroup(p->pid(), SIGKILL);  // Background children of the step die with it.
      } else {
        KillAndReap(*p);
        so.exit_code = 137;
        if (w->outcome == WaitOutcome::kTimedOut) {
          so.reason = "TimeoutExceeded";
          so.message = "step timed out";
          if (task_limit) out.timed_out = true;
        } else {
          so.reason = "Cancelled";
          out.cancelled = true;
        }
      }
    }
    started.copies.clear();  // finished and closed: they write into step_log
    step_log.Finish();
    so.finished_ms = NowMs();
    if (!step.exit_code_path.empty()) {
      // Read-only once written, as Tekton's other steps see it: a later
      // step cannot rewrite this one's exit code.
      (void)WriteFile(step.exit_code_path, std::to_string(so.exit_code), 0444);
    }
    if (out.cancelled || out.timed_out) {
      stop = true;
    } else if (so.reason != "Completed" && !started.skipped && !step.continue_on_error) {
      out.failed = true;
      out.message =
          so.reason == "TimeoutExceeded"
              ? "\"" + step.name + "\" exited because the step exceeded the specified timeout limit"
              : "\"" + step.name + "\" exited with code " + std::to_string(so.exit_code);
      if (!so.message.empty() && so.reason == "Error" && so.exit_code == 127) {
        out.message += ": " + so.message;
      }
      stop = true;
    }
    out.steps.push_back(so);
    save();
  }
  StopSidecars(sidecars);
  save();
  return out;
}

int RunStepsMain(const std::string& plan_path) {
  // A step in its image runs as this user too: it may not reach this
  // process's view of the sandbox through /proc/<pid>/root.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  auto text = ReadFile(plan_path);
  if (!text) {
    fprintf(stderr, "strake __run-steps: %s\n", text.error().message.c_str());
    return 2;
  }
  Json j = Json::parse(*text, nullptr, false);
  auto plan = TaskPlanFromJson(j);
  if (!plan) {
    fprintf(stderr, "strake __run-steps: %s\n", plan.error().message.c_str());
    return 2;
  }
  // The cgroups' descriptors came in inheritable: each step's first process
  // joins its own and none may keep any (a step that could write to
  // another's cgroup.procs could leave its limits).
  for (const auto* list : {&plan->steps, &plan->sidecars}) {
    for (const auto& sp : *list) {
      for (int fd : sp.cgroup_fds) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  // Cancellation kills the whole sandbox; status is saved after each step.
  RunSteps(*plan, -1);
  return 0;
}

}  // namespace strake::pipeline
