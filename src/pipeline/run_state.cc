#include "pipeline/run_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "base/fs.h"
#include "base/ids.h"
#include "base/sha256.h"
#include "pipeline/resolve.h"
#include "pipeline/run_status.h"

namespace strake::pipeline {

using model::Millis;

void RunState::Set(bool fin, size_t i, TaskFacts f) {
  PipelineTaskState& ps = Task(fin, i);
  if (!fin) {
    pending += (f.state == TaskState::kPending) - (ps.facts.state == TaskState::kPending);
    unfinished += !IsTerminal(f.state) - !IsTerminal(ps.facts.state);
  }
  ps.facts = f;
  (fin ? facts.finally : facts.tasks)[i] = f;
}

void RunState::InitFacts() {
  facts.tasks.clear();
  facts.finally.clear();
  pending = unfinished = 0;
  for (const auto& t : tasks) {
    facts.tasks.push_back(t.facts);
    pending += t.facts.state == TaskState::kPending;
    unfinished += !IsTerminal(t.facts.state);
  }
  for (const auto& t : finally) facts.finally.push_back(t.facts);
}

Status BuildGraph(RunState& run) {
  std::vector<DagInput> nodes;
  for (const auto& t : run.spec.tasks) nodes.push_back({t.name, TaskDependencies(t)});
  auto dag = BuildDag(nodes);
  if (!dag) return tl::unexpected(dag.error());
  run.dag = std::move(*dag);
  run.tasks.assign(run.spec.tasks.size(), {});
  run.finally.assign(run.spec.finally.size(), {});
  return Ok();
}

void BindParams(RunState& run, const std::vector<model::Param>& given) {
  std::map<std::string, const model::Param*> by_name;
  for (const auto& p : given) by_name[p.name] = &p;
  for (const auto& ps : run.spec.params) {
    auto it = by_name.find(ps.name);
    if (it != by_name.end()) {
      if (it->second->value.type != ps.type) {
        run.failure_reason = "ParameterTypeMismatch";
        run.failure_message = fmt::format("param \"{}\" is of type {} but was given a {}", ps.name,
                                          model::ParamTypeName(ps.type),
                                          model::ParamTypeName(it->second->value.type));
      }
      run.params[ps.name] = it->second->value;
    } else if (ps.default_value) {
      run.params[ps.name] = *ps.default_value;
    } else {
      run.failure_reason = "ParameterMissing";
      run.failure_message = fmt::format(
          "pipelinerun {}: missing value for param \"{}\" (it has no "
          "default; pass --param {}=VALUE)",
          run.name, ps.name, ps.name);
    }
  }
}

void ApplyTaskRunSpecs(model::PipelineSpec& spec,
                       const std::vector<model::PipelineTaskRunSpec>& overrides) {
  for (const auto& o : overrides) {
    for (auto* list : {&spec.tasks, &spec.finally}) {
      for (auto& pt : *list) {
        if (pt.name != o.pipeline_task) continue;
        if (o.timeout) pt.timeout = o.timeout;
        pt.compute = o.compute;
      }
    }
  }
}

TaskState Aggregate(const PipelineTaskState& t) {
  if (!t.started) return t.facts.state;
  bool any_running = false, any_failed = false, any_cancelled = false;
  size_t created = 0;
  for (const auto& c : t.children) {
    if (!c.created) continue;
    ++created;
    if (c.state == TaskState::kRunning || c.state == TaskState::kPending) any_running = true;
    if (c.state == TaskState::kFailed) any_failed = true;
    if (c.state == TaskState::kCancelled) any_cancelled = true;
  }
  if (any_running || created < t.combos.size()) return TaskState::kRunning;
  if (any_cancelled) return TaskState::kCancelled;
  if (any_failed) return TaskState::kFailed;
  return TaskState::kSucceeded;
}

std::string StateName(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return "Pending";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kSucceeded:
      return "Succeeded";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kCancelled:
      return "Cancelled";
    case TaskState::kSkipped:
      return "Skipped";
  }
  return "?";
}

std::string TaskRunName(const std::string& pipeline_run, const std::string& pipeline_task,
                        int matrix_index) {
  std::string name = pipeline_run + "-" + pipeline_task;
  if (matrix_index >= 0) name += "-" + std::to_string(matrix_index);
  if (name.size() > 63) name = name.substr(0, 52) + "-" + Sha256Hex(name).substr(0, 10);
  return name;
}

// A started task's facts from its TaskRuns.
TaskFacts StartedFacts(const RunState& run, bool fin, size_t i) {
  const PipelineTaskState& t = run.Task(fin, i);
  TaskFacts f{Aggregate(t), t.facts.skip_reason};
  f.failure_ignored = f.state == TaskState::kFailed && run.PTask(fin, i).continue_on_error;
  return f;
}

void RefreshFacts(RunState& run) {
  for (const auto& [fin, i] : run.dirty) {
    if (run.Task(fin, i).started) run.Set(fin, i, StartedFacts(run, fin, i));
  }
  run.dirty.clear();
}

std::optional<int64_t> CheckDeadlines(RunState& run, int64_t now) {
  RunFacts& facts = run.facts;
  facts.pipeline_timed_out = facts.tasks_timed_out = facts.finally_timed_out = false;
  facts.cancel = run.cancel;
  facts.failed_to_start = !run.failure_reason.empty();
  std::optional<int64_t> next;
  auto check = [&](int64_t start, const std::optional<Millis>& limit, bool& passed) {
    if (!limit || limit->count() == 0) return;
    int64_t at = start + limit->count();
    if (now >= at)
      passed = true;
    else
      next = next ? std::min(*next, at) : at;
  };
  check(run.start_ms, run.timeouts.pipeline, facts.pipeline_timed_out);
  check(run.start_ms, run.timeouts.tasks, facts.tasks_timed_out);
  if (run.finally_start_ms)
    check(*run.finally_start_ms, run.timeouts.finally, facts.finally_timed_out);
  return next;
}

bool Quiet(const RunState& run) {
  const RunFacts& f = run.facts;
  return run.pending == 0 && run.unfinished > 0 && f.cancel == CancelMode::kNone &&
         !f.pipeline_timed_out && !f.tasks_timed_out && !f.finally_timed_out;
}

bool StopCreating(RunState& run, bool fin) {
  bool unstarted = false;
  auto& list = fin ? run.finally : run.tasks;
  for (size_t i = 0; i < list.size(); ++i) {
    PipelineTaskState& t = list[i];
    if (!t.started || t.next >= t.combos.size()) continue;
    t.combos.resize(t.next);
    run.dirty.emplace_back(fin, i);
    // A task none of whose TaskRuns was created never started: pending
    // again, it is skipped by the next plan, for this cancel or timeout.
    if (std::none_of(t.children.begin(), t.children.end(),
                     [](const ChildRun& c) { return c.created; })) {
      run.Set(fin, i, {TaskState::kPending, {}});
      t = PipelineTaskState{};
      unstarted = true;
    }
  }
  return unstarted;
}

namespace {

void Skip(RunState& run, bool fin, size_t i, std::string_view reason, PlanStep& step) {
  run.Set(fin, i, {TaskState::kSkipped, reason});
  step.skipped.emplace_back(fin, i);
  step.status_dirty = true;
}

// Resolves a ready task (when, params with results, matrix) and starts it,
// skips it, or fails the run, as Tekton does.
void StartTask(RunState& run, bool fin, size_t i, PlanStep& step) {
  PipelineTaskState& ps = run.Task(fin, i);
  const model::PipelineTask& pt = run.PTask(fin, i);
  if (ps.started) return;
  std::vector<std::string> uses = ResultDependencies(pt);
  TaskResolution r = ResolveTask(pt, fin, TaskVars(run, fin, &uses), run.params);
  if (r.kind == TaskResolution::Kind::kSkip) {
    Skip(run, fin, i, r.skip_reason, step);
    return;
  }
  if (r.kind == TaskResolution::Kind::kFail && pt.continue_on_error &&
      r.reason == "InvalidTaskResultReference") {
    Skip(run, fin, i, skip::kMissingResults, step);  // Tekton's rule for onError: continue
    return;
  }
  if (r.kind == TaskResolution::Kind::kFail) {
    run.failure_reason = r.reason;
    run.failure_message = r.message;
    run.Set(fin, i, {TaskState::kFailed, {}});
    step.status_dirty = true;
    return;
  }
  ps.combos = std::move(r.combos);
  ps.params = std::move(r.params);
  ps.spec = std::move(r.spec);
  ps.sub_paths = std::move(r.sub_paths);
  ps.started = true;
  ps.children.resize(ps.combos.size());
  ps.next = 0;
  run.Set(fin, i, StartedFacts(run, fin, i));  // Running, or done already before a crash
  run.creating.emplace_back(fin, i);
}

// The task's params with one matrix combination's in place of theirs.
std::vector<model::Param> WithCombination(std::vector<model::Param> params,
                                          const std::vector<model::Param>& combo) {
  for (const auto& mp : combo) {
    auto existing = std::find_if(params.begin(), params.end(),
                                 [&](const auto& x) { return x.name == mp.name; });
    if (existing != params.end())
      *existing = mp;
    else
      params.push_back(mp);
  }
  return params;
}

// The task's workspaces as the run bound them: each pipeline workspace's
// directory (the executor opens the subPath beneath it), read-only when the
// binding or the task's declaration says so.
std::vector<WorkspaceMount> TaskWorkspaces(const RunState& run, const PipelineTaskState& ps,
                                           const model::PipelineTask& pt,
                                           const model::TaskSpec& spec) {
  std::vector<WorkspaceMount> out;
  for (const auto& b : pt.workspaces) {
    WorkspaceMount m;
    m.name = b.name;
    auto path = run.workspace_paths.find(b.workspace);
    if (path != run.workspace_paths.end() && !path->second.empty()) {
      m.host_path = path->second;
      auto sub = ps.sub_paths.find(b.name);
      const std::string& task_sub = sub == ps.sub_paths.end() ? b.sub_path : sub->second;
      auto run_sub = run.workspace_sub_paths.find(b.workspace);
      m.sub_path =
          run_sub == run.workspace_sub_paths.end() ? task_sub : PathJoin(run_sub->second, task_sub);
    }
    m.read_only = run.read_only_workspaces.count(b.workspace) > 0;
    m.secret = run.secret_workspaces.count(b.workspace) > 0;
    if (auto cl = run.workspace_claims.find(b.workspace); cl != run.workspace_claims.end())
      m.claim = cl->second;
    out.push_back(std::move(m));
  }
  for (const auto& decl : spec.workspaces) {
    if (!decl.read_only) continue;
    for (auto& m : out) {
      if (m.name == decl.name) m.read_only = true;
    }
  }
  return out;
}

TaskRunJob MakeJob(const RunState& run, bool fin, size_t i, size_t c, int64_t now) {
  const PipelineTaskState& ps = run.Task(fin, i);
  const ChildRun& cr = ps.children[c];
  const model::PipelineTask& pt = run.PTask(fin, i);
  TaskRunJob j;
  j.ns = run.ns;
  j.name = cr.name;
  j.uid = cr.uid;
  auto tn = run.task_names.find(pt.name);
  j.task_name = tn != run.task_names.end() ? tn->second : pt.name;
  j.pipeline_run = run.name;
  j.pipeline_run_uid = run.uid;
  j.pipeline = run.pipeline;
  j.pipeline_task = pt.name;
  j.retries = pt.retries;
  j.spec = ps.spec ? *ps.spec : pt.task_spec ? *pt.task_spec : model::TaskSpec{};
  j.params = WithCombination(ps.params, ps.combos[c]);
  j.workspaces = TaskWorkspaces(run, ps, pt, j.spec);
  j.config_maps = run.config_maps;
  j.secrets = run.secrets;
  j.step_actions = run.step_actions;
  j.credentials = run.credentials;
  j.pull_secrets = run.pull_secrets;
  j.compute = pt.compute;
  j.ignore_failure = pt.continue_on_error;
  j.timeout = TaskRunTimeout(run, fin, i, now);
  return j;
}

}  // namespace

PlanStep ApplyPlan(RunState& run, const Plan& plan, int64_t now) {
  PlanStep step;
  for (const auto& [i, reason] : plan.skip) Skip(run, false, i, reason, step);
  for (const auto& [i, reason] : plan.skip_finally) Skip(run, true, i, reason, step);
  if (!plan.start_finally.empty() && !run.finally_start_ms) {
    run.finally_start_ms = now;
    step.status_dirty = true;
  }
  for (size_t i : plan.start) StartTask(run, false, i, step);
  for (size_t i : plan.start_finally) StartTask(run, true, i, step);
  // Starting a task (whose children may all have finished before a crash)
  // also changes what the planner sees.
  step.progressed = step.status_dirty || !plan.skip.empty() || !plan.skip_finally.empty() ||
                    !plan.start.empty() || !plan.start_finally.empty();
  return step;
}

std::vector<NewTaskRun> NextTaskRuns(RunState& run, size_t slots, int64_t now) {
  std::vector<NewTaskRun> out;
  while (!run.creating.empty() && out.size() < slots) {
    const auto [fin, i] = run.creating.front();
    PipelineTaskState& ps = run.Task(fin, i);
    const bool matrix = ps.combos.size() > 1 || run.PTask(fin, i).matrix.has_value();
    while (ps.next < ps.combos.size() && out.size() < slots) {
      size_t c = ps.next++;
      ChildRun& cr = ps.children[c];
      if (cr.created && cr.state != TaskState::kRunning) continue;  // Done before a crash.
      NewTaskRun n;
      n.is_finally = fin;
      n.index = i;
      n.child = c;
      n.matrix_index = matrix ? static_cast<int>(c) : -1;
      cr.name = TaskRunName(run.name, run.PTask(fin, i).name, n.matrix_index);
      if (cr.uid.empty()) cr.uid = NewUid();
      n.recovering = run.recover.count(cr.name) > 0;
      n.job = MakeJob(run, fin, i, c, now);
      n.runs_pipeline = run.PTask(fin, i).RunsPipeline();
      cr.state = TaskState::kRunning;
      out.push_back(std::move(n));
    }
    if (ps.next < ps.combos.size()) break;  // Out of slots.
    run.creating.pop_front();
  }
  return out;
}

std::optional<Millis> TaskRunTimeout(const RunState& run, bool fin, size_t i, int64_t now) {
  std::optional<Millis> limit = run.PTask(fin, i).timeout;
  if (limit && limit->count() == 0) limit.reset();
  auto cap = [&](int64_t start_ms, const std::optional<Millis>& budget) {
    if (!budget || budget->count() == 0) return;
    Millis left(std::max<int64_t>(0, start_ms + budget->count() - now));
    limit = limit ? std::min(*limit, left) : left;
  };
  cap(run.start_ms, run.timeouts.pipeline);
  if (fin) {
    if (run.finally_start_ms) cap(*run.finally_start_ms, run.timeouts.finally);
  } else {
    cap(run.start_ms, run.timeouts.tasks);
  }
  if (!limit && !run.timeouts.pipeline) limit = kDefaultTimeout;
  return limit;
}

std::string RestoreChild(RunState& run, const store::Resource& taskrun) {
  const auto& labels = taskrun.labels;
  auto label = [&](const char* name) {
    auto it = labels.find(name);
    return it == labels.end() ? std::string() : it->second;
  };
  std::string ptask = label("tekton.dev/pipelineTask");
  bool fin = label("tekton.dev/memberOf") == "finally";
  size_t idx = SIZE_MAX;
  if (fin) {
    for (size_t i = 0; i < run.spec.finally.size(); ++i) {
      if (run.spec.finally[i].name == ptask) idx = i;
    }
  } else if (auto it = run.dag.index.find(ptask); it != run.dag.index.end()) {
    idx = it->second;
  }
  if (idx == SIZE_MAX) return "";
  // The task is planned again (params and matrix are recomputed from the
  // same inputs); children that finished are kept, running ones re-run.
  PipelineTaskState& ps = run.Task(fin, idx);
  int child =
      labels.count("strake.dev/matrixIndex") ? std::stoi(label("strake.dev/matrixIndex")) : 0;
  if (ps.children.size() <= static_cast<size_t>(child)) ps.children.resize(child + 1);
  ChildRun& cr = ps.children[child];
  cr = ChildOutcome(taskrun);
  if (cr.state != TaskState::kRunning) return "";
  run.recover.insert(cr.name);
  return taskrun.uid;
}

ChildRun ChildOutcome(const store::Resource& child) {
  ChildRun cr;
  cr.name = child.key.name;
  cr.uid = child.uid;
  cr.created = true;
  const std::string cs = ConditionStatus(child.status);
  if (cs == "True") {
    cr.state = TaskState::kSucceeded;
    cr.reason = ConditionReason(child.status);
    cr.results = ResultsOf(child.status.value("results", Json::array()));
    cr.artifacts = child.status.value("artifacts", Json());
  } else if (cs == "False") {
    cr.reason = ConditionReason(child.status);
    cr.state = child.key.kind == "PipelineRun"   ? ChildPipelineRunState(cr.reason, false)
               : cr.reason == "TaskRunCancelled" ? TaskState::kCancelled
                                                 : TaskState::kFailed;
  } else {
    cr.state = TaskState::kRunning;
  }
  return cr;
}

void InheritWorkspaces(RunState& run, const std::vector<WorkspaceMount>& mounts) {
  std::map<std::string, const WorkspaceMount*> by_name;
  for (const auto& m : mounts) by_name[m.name] = &m;
  for (const auto& w : run.spec.workspaces) {
    auto it = by_name.find(w.name);
    if (it == by_name.end() || it->second->host_path.empty()) {
      run.workspace_paths[w.name] = "";
      if (!w.optional && run.failure_reason.empty()) {
        run.failure_reason = "PipelineRunValidationFailed";
        run.failure_message = fmt::format(
            "workspace \"{}\" of the pipeline is not bound by its parent's task", w.name);
      }
      continue;
    }
    const WorkspaceMount& m = *it->second;
    run.workspace_paths[w.name] = m.host_path;
    if (!m.sub_path.empty()) run.workspace_sub_paths[w.name] = m.sub_path;
    if (!m.claim.empty()) run.workspace_claims[w.name] = m.claim;
    if (m.read_only) run.read_only_workspaces.insert(w.name);
    if (m.secret) run.secret_workspaces.insert(w.name);
  }
}

TaskState ChildPipelineRunState(const std::string& reason, bool succeeded) {
  if (succeeded) return TaskState::kSucceeded;
  if (reason == "Cancelled" || reason == "StoppedRunFinally" || reason == "CancelledRunFinally")
    return TaskState::kCancelled;
  return TaskState::kFailed;
}

std::vector<TaskResult> ResultsOf(const Json& results) {
  std::vector<TaskResult> out;
  for (const auto& res : results) {
    if (!res.is_object()) continue;
    out.push_back({res.value("name", ""), model::ParamValue::FromJson(res.value("value", Json()))});
  }
  return out;
}

void RestoreSkipped(RunState& run, const Json& skipped_tasks) {
  for (const auto& s : skipped_tasks) {
    std::string name = s.value("name", "");
    TaskFacts skipped{TaskState::kSkipped, SkipReason(s.value("reason", ""))};
    if (auto it = run.dag.index.find(name); it != run.dag.index.end()) {
      run.tasks[it->second].facts = skipped;
    }
    for (size_t i = 0; i < run.spec.finally.size(); ++i) {
      if (run.spec.finally[i].name == name) run.finally[i].facts = skipped;
    }
  }
}

}  // namespace strake::pipeline
