#include "pipeline/resolve.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "base/strings.h"
#include "pipeline/cel.h"
#include "pipeline/planner.h"
#include "pipeline/propagate.h"

namespace strake::pipeline {

namespace {

TaskResolution Skip(std::string_view reason) {
  TaskResolution r;
  r.kind = TaskResolution::Kind::kSkip;
  r.skip_reason = reason;
  return r;
}

// A failure to start: the run fails, except for a finally task, which is
// skipped because its results are missing (Tekton).
TaskResolution Fail(bool is_finally, std::string reason, std::string message) {
  if (is_finally) return Skip(skip::kMissingResults);
  TaskResolution r;
  r.kind = TaskResolution::Kind::kFail;
  r.reason = std::move(reason);
  r.message = std::move(message);
  return r;
}

// True if text refers to a task result that was not produced.
bool MissingResult(const std::string& text, const Vars& v) {
  for (const auto& ref : FindReferences(text)) {
    if (StartsWith(ref.base, "tasks.") && !v.Has(ref.base)) return true;
  }
  return false;
}

bool MissingResult(const model::ParamValue& value, const Vars& v) {
  auto missing = [&](const std::string& s) { return MissingResult(s, v); };
  if (missing(value.str) || std::any_of(value.arr.begin(), value.arr.end(), missing)) return true;
  return std::any_of(value.obj.begin(), value.obj.end(),
                     [&](const auto& kv) { return missing(kv.second); });
}

// The `when` expressions: nullopt when they allow the task, else what to do.
std::optional<TaskResolution> CheckWhen(const model::PipelineTask& pt, bool fin, const Vars& v) {
  bool ok = true;
  for (const auto& w : pt.when) {
    auto missing = [&](const std::string& s) { return MissingResult(s, v); };
    if (missing(w.cel) || missing(w.input) ||
        std::any_of(w.values.begin(), w.values.end(), missing)) {
      return Fail(fin, "InvalidTaskResultReference",
                  fmt::format("task {}: when expression refers to a result that was not produced",
                              pt.name));
    }
    if (!w.cel.empty()) {
      auto holds =
          EvalCel(w.cel, [&](const std::string& literal) { return Substitute(literal, v); });
      if (!holds) {
        return Fail(fin, "InvalidWhenExpression",
                    fmt::format("task {}: {}", pt.name, holds.error().message));
      }
      ok = ok && *holds;
      continue;
    }
    auto input = Substitute(w.input, v);
    auto values = SubstituteList(w.values, v);
    if (!input || !values) {
      return Fail(
          fin, "InvalidWhenExpression",
          fmt::format("task {}: {}", pt.name, (!input ? input.error() : values.error()).message));
    }
    bool in = std::find(values->begin(), values->end(), *input) != values->end();
    if ((w.op == "in") != in) ok = false;
  }
  if (!ok) return Skip(skip::kWhen);
  return std::nullopt;
}

// $(tasks.<t>.reason) as a finally task sees it: the reason of its first
// TaskRun that did not succeed, else of its first (Tekton's getReason).
std::string TaskReason(const PipelineTaskState& t) {
  for (const auto& c : t.children) {
    if (c.created && c.state != TaskState::kSucceeded) return c.reason;
  }
  for (const auto& c : t.children) {
    if (c.created) return c.reason;
  }
  return "";
}

// $(tasks.<t>.status) as a finally task sees it.
const char* FinallyStatus(TaskState s) {
  if (s == TaskState::kSucceeded) return "Succeeded";
  if (s == TaskState::kFailed || s == TaskState::kCancelled) return "Failed";
  return "None";
}

// A succeeded task's results. A matrixed task's string results become
// arrays of every TaskRun's values, in combination order.
void AddResults(Vars& v, const std::string& task, const PipelineTaskState& t, bool matrixed) {
  if (!matrixed) {
    if (t.children.empty()) return;
    for (const auto& r : t.children[0].results)
      v.Set("tasks." + task + ".results." + r.name, r.value);
    // Its artifacts: $(tasks.t.outputs.<name>) is the category's values as JSON.
    const Json& artifacts = t.children[0].artifacts;
    for (const char* direction : {"inputs", "outputs"}) {
      if (!artifacts.is_object()) break;
      for (const auto& category : artifacts.value(direction, Json::array())) {
        if (!category.is_object()) continue;
        v.SetString(fmt::format("tasks.{}.{}.{}", task, direction, category.value("name", "")),
                    category.value("values", Json::array()).dump());
      }
    }
    return;
  }
  std::map<std::string, model::ParamValue> gathered;
  for (const auto& c : t.children) {
    for (const auto& r : c.results) {
      auto& a = gathered[r.name];
      a.type = model::ParamType::kArray;
      a.arr.push_back(r.value.str);
    }
  }
  for (const auto& [name, value] : gathered) {
    v.Set(fmt::format("tasks.{}.results.{}", task, name), value);
    v.SetString(fmt::format("tasks.{}.matrix.{}.length", task, name),
                std::to_string(value.arr.size()));
  }
  v.SetString("tasks." + task + ".matrix.length", std::to_string(t.combos.size()));
}

void AddRunContext(Vars& v, const RunState& run) {
  for (const auto& [name, value] : run.params) v.Set("params." + name, value);
  v.SetString("context.pipelineRun.name", run.name);
  v.SetString("context.pipelineRun.namespace", run.ns);
  v.SetString("context.pipelineRun.uid", run.uid);
  v.SetString("context.pipeline.name", run.pipeline.empty() ? run.name : run.pipeline);
  for (const auto& [w, path] : run.workspace_paths) {
    v.SetString("workspaces." + w + ".bound", path.empty() ? "false" : "true");
  }
}

// Tekton's propagated params: an embedded spec sees the pipeline's params.
// The task's own value wins (an object's keys it leaves out still come from
// the pipeline's), and the pipeline's wins over the spec's default.
void PropagateParams(const model::TaskSpec& spec,
                     const std::map<std::string, model::ParamValue>& run_params,
                     std::vector<model::Param>& params) {
  for (const auto& entry : run_params) {
    const std::string& name = entry.first;
    const model::ParamValue& value = entry.second;
    auto named = [&](const auto& x) { return x.name == name; };
    auto passed = std::find_if(params.begin(), params.end(), named);
    if (passed != params.end()) {
      if (passed->value.type == model::ParamType::kObject &&
          value.type == model::ParamType::kObject) {
        for (const auto& [key, val] : value.obj) passed->value.obj.emplace(key, val);
      }
      continue;
    }
    auto declared = std::find_if(spec.params.begin(), spec.params.end(), named);
    if (declared == spec.params.end() || declared->type == value.type)
      params.push_back({name, value, {}});
  }
}

// Tekton's propagated results: the results an embedded spec reads directly,
// substituted into a copy of it. Nullopt when the task can start.
std::optional<TaskResolution> PropagateResultsInto(const model::PipelineTask& pt, bool fin,
                                                   const Vars& v, TaskResolution& out) {
  bool refers = false, missing = false;
  ForEachTaskText(*pt.task_spec, [&](std::string_view text) {
    for (const auto& ref : FindReferences(text)) {
      if (!StartsWith(ref.base, "tasks.")) continue;
      refers = true;
      missing = missing || !v.Has(ref.base);
    }
  });
  if (!refers) return std::nullopt;
  if (missing) {
    return Fail(
        fin, "InvalidTaskResultReference",
        fmt::format("task {}: its taskSpec refers to a result that was not produced", pt.name));
  }
  model::TaskSpec spec = *pt.task_spec;
  if (auto done = PropagateResults(spec, v); !done) {
    return Fail(fin, "PipelineRunValidationFailed",
                fmt::format("task {}: taskSpec: {}", pt.name, done.error().message));
  }
  out.spec = std::make_shared<const model::TaskSpec>(std::move(spec));
  return std::nullopt;
}

}  // namespace

Vars TaskVars(const RunState& run, bool for_finally, const std::vector<std::string>* uses) {
  auto wanted = [&](const std::string& name) {
    return !uses || std::find(uses->begin(), uses->end(), name) != uses->end();
  };
  Vars v;
  AddRunContext(v, run);
  // Every task for a finally task (it sees their statuses) or without a
  // list; otherwise only the tasks it uses, so that starting one task does
  // not cost a pass over every other task's results.
  std::vector<size_t> indexes;
  if (for_finally || !uses) {
    indexes.resize(run.tasks.size());
    for (size_t i = 0; i < indexes.size(); ++i) indexes[i] = i;
  } else {
    for (const auto& u : *uses) {
      if (auto d = run.dag.index.find(u); d != run.dag.index.end()) indexes.push_back(d->second);
    }
  }
  bool any_failed = false, any_skipped = false;
  for (size_t i : indexes) {
    const PipelineTaskState& t = run.tasks[i];
    const std::string& name = run.spec.tasks[i].name;
    if (for_finally) {
      std::string status = FinallyStatus(t.facts.state);
      v.SetString("tasks." + name + ".status", status);
      v.SetString("tasks." + name + ".reason", TaskReason(t));
      any_failed |= status == "Failed";
      any_skipped |= t.facts.state == TaskState::kSkipped;
    }
    if (t.facts.state != TaskState::kSucceeded || !wanted(name)) continue;
    AddResults(v, name, t, t.combos.size() > 1 || run.spec.tasks[i].matrix.has_value());
  }
  for (size_t i = 0; i < run.finally.size(); ++i) {
    const PipelineTaskState& t = run.finally[i];
    const std::string& name = run.spec.finally[i].name;
    if (t.facts.state != TaskState::kSucceeded || !wanted(name)) continue;
    AddResults(v, name, t, false);
  }
  if (for_finally) {
    v.SetString("tasks.status", any_failed ? "Failed" : any_skipped ? "Completed" : "Succeeded");
  }
  return v;
}

Result<std::vector<std::vector<model::Param>>> FanOut(const model::Matrix& m, size_t limit) {
  std::vector<std::vector<model::Param>> combos;
  if (!m.params.empty()) combos.emplace_back();
  // Tekton's distribute: each new param's values outermost, so the first
  // param varies fastest (linux-chrome, mac-chrome, ..., linux-safari).
  for (const auto& p : m.params) {
    std::vector<std::vector<model::Param>> next;
    for (const auto& v : p.value.arr) {
      for (const auto& c : combos) {
        auto n = c;
        n.push_back({p.name, model::ParamValue::String(v), p.origin});
        next.push_back(std::move(n));
        if (next.size() > limit) {
          return Failf("matrix fans out to more than {} TaskRuns", limit);
        }
      }
    }
    combos = std::move(next);
  }
  std::set<std::string> base_names;
  for (const auto& p : m.params) base_names.insert(p.name);
  // An include-only matrix (no params) runs one TaskRun per entry.
  const size_t generated = combos.size();
  for (const auto& inc : m.include) {
    bool mapped = false;
    for (size_t k = 0; k < generated; ++k) {
      auto& c = combos[k];
      bool matches = true;
      for (const auto& ip : inc.params) {
        if (!base_names.count(ip.name)) continue;
        auto it =
            std::find_if(c.begin(), c.end(), [&](const auto& x) { return x.name == ip.name; });
        if (it == c.end() || it->value.str != ip.value.str) matches = false;
      }
      if (!matches) continue;
      for (const auto& ip : inc.params) {
        if (!base_names.count(ip.name)) c.push_back(ip);
      }
      mapped = true;
    }
    if (!mapped) combos.push_back(inc.params);
  }
  if (combos.size() > limit) return Failf("matrix fans out to more than {} TaskRuns", limit);
  return combos;
}

TaskResolution ResolveTask(const model::PipelineTask& pt, bool fin, const Vars& v,
                           const std::map<std::string, model::ParamValue>& run_params) {
  if (auto when = CheckWhen(pt, fin, v)) return *when;
  TaskResolution out;
  for (const auto& p : pt.params) {
    if (MissingResult(p.value, v)) {
      return Fail(fin, "InvalidTaskResultReference",
                  fmt::format("task {}: param \"{}\" refers to a result that was not produced",
                              pt.name, p.name));
    }
    auto val = SubstituteValue(p.value, v);
    if (!val) {
      return Fail(fin, "PipelineRunValidationFailed",
                  fmt::format("task {}: param \"{}\": {}", pt.name, p.name, val.error().message));
    }
    out.params.push_back({p.name, *val, p.origin});
  }
  for (const auto& b : pt.workspaces) {
    if (b.sub_path.find("$(") == std::string::npos) continue;
    auto sub = Substitute(b.sub_path, v);
    if (!sub) {
      return Fail(fin, "PipelineRunValidationFailed",
                  fmt::format("task {}: workspace \"{}\" subPath: {}", pt.name, b.name,
                              sub.error().message));
    }
    out.sub_paths[b.name] = *sub;
  }
  if (pt.task_spec) {
    PropagateParams(*pt.task_spec, run_params, out.params);
    if (auto failed = PropagateResultsInto(pt, fin, v, out)) return *failed;
  }
  out.combos = {{}};
  if (!pt.matrix) return out;
  model::Matrix m = *pt.matrix;
  for (auto& mp : m.params) {
    auto val = SubstituteValue(mp.value, v);
    if (!val) {
      return Fail(fin, "PipelineRunValidationFailed",
                  fmt::format("task {}: matrix: {}", pt.name, val.error().message));
    }
    mp.value = *val;
    if (mp.value.type != model::ParamType::kArray) {
      return Fail(fin, "PipelineRunValidationFailed",
                  fmt::format("task {}: matrix param \"{}\" is not an array", pt.name, mp.name));
    }
    if (mp.value.arr.empty()) return Skip(skip::kEmptyMatrix);
  }
  auto combos = FanOut(m, kMatrixLimit);
  if (!combos) {
    return Fail(fin, "PipelineRunValidationFailed",
                fmt::format("task {}: {}", pt.name, combos.error().message));
  }
  out.combos = std::move(*combos);
  return out;
}

}  // namespace strake::pipeline
