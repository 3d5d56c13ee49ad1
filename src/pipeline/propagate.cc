#include "pipeline/propagate.h"

#include <algorithm>

#include "base/strings.h"

namespace strake::pipeline {

namespace {

template <typename List>
bool Declares(const List& list, const std::string& name) {
  return std::any_of(list.begin(), list.end(), [&](const auto& x) { return x.name == name; });
}

model::ParamSpec DeclarationOf(const model::Param& p) {
  model::ParamSpec d;
  d.name = p.name;
  d.type = p.value.type;
  for (const auto& entry : p.value.obj) d.properties.push_back(entry.first);
  d.origin = p.origin;
  return d;
}

// A task's declaration of a workspace it is given, at Tekton's default path.
model::WorkspaceDecl WorkspaceDeclarationOf(const std::string& name) {
  model::WorkspaceDecl d;
  d.name = name;
  d.mount_path = "/workspace/" + name;
  return d;
}

void ForEachStep(const model::TaskSpec& t, const std::function<void(const model::Step&)>& fn) {
  for (const auto& s : t.steps) fn(s);
  for (const auto& s : t.sidecars) fn(s);
  if (t.step_template) fn(*t.step_template);
}

// The task references in `text` (results, and statuses for a finally task)
// copied from `all` into `only`.
void CopyTaskRefs(std::string_view text, const Vars& all, Vars& only) {
  for (const auto& ref : FindReferences(text)) {
    if (!StartsWith(ref.base, "tasks.")) continue;
    if (const auto* v = all.Find(ref.base)) {
      only.Set(ref.base, *v);
      continue;
    }
    // tasks.t.results.obj.key: the object holds the key.
    size_t dot = ref.base.rfind('.');
    if (dot == std::string::npos) continue;
    std::string object = ref.base.substr(0, dot);
    if (const auto* v = all.Find(object)) only.Set(object, *v);
  }
}

Status SubstituteInto(std::string& text, const Vars& vars) {
  STRAKE_TRY_ASSIGN(done, Substitute(text, vars));
  text = std::move(done);
  return Ok();
}

Status SubstituteInto(std::vector<std::string>& list, const Vars& vars) {
  STRAKE_TRY_ASSIGN(done, SubstituteList(list, vars));
  list = std::move(done);
  return Ok();
}

Status SubstituteStep(model::Step& s, const Vars& vars) {
  STRAKE_TRY(SubstituteInto(s.script, vars));
  STRAKE_TRY(SubstituteInto(s.image, vars));
  STRAKE_TRY(SubstituteInto(s.working_dir, vars));
  STRAKE_TRY(SubstituteInto(s.command, vars));
  STRAKE_TRY(SubstituteInto(s.args, vars));
  for (auto& e : s.env) STRAKE_TRY(SubstituteInto(e.value, vars));
  STRAKE_TRY(SubstituteInto(s.stdout_path, vars));
  STRAKE_TRY(SubstituteInto(s.stderr_path, vars));
  for (auto& w : s.when) {
    STRAKE_TRY(SubstituteInto(w.input, vars));
    STRAKE_TRY(SubstituteInto(w.values, vars));
  }
  for (auto& p : s.params) {
    STRAKE_TRY(SubstituteInto(p.value.str, vars));
    STRAKE_TRY(SubstituteInto(p.value.arr, vars));
    for (auto& entry : p.value.obj) STRAKE_TRY(SubstituteInto(entry.second, vars));
  }
  return Ok();
}

}  // namespace

void ForEachStepText(const model::Step& s,
                     const std::function<void(std::string_view, std::string_view, int)>& fn) {
  fn(s.script, "script", -1);
  for (size_t i = 0; i < s.command.size(); ++i) fn(s.command[i], "command", static_cast<int>(i));
  for (size_t i = 0; i < s.args.size(); ++i) fn(s.args[i], "args", static_cast<int>(i));
  for (size_t i = 0; i < s.env.size(); ++i) fn(s.env[i].value, "env", static_cast<int>(i));
  fn(s.working_dir, "workingDir", -1);
  fn(s.image, "image", -1);
  fn(s.stdout_path, "stdoutConfig.path", -1);
  fn(s.stderr_path, "stderrConfig.path", -1);
}

void ForEachTaskText(const model::TaskSpec& t, const std::function<void(std::string_view)>& fn) {
  ForEachStep(t, [&](const model::Step& s) {
    ForEachStepText(s, [&](std::string_view text, std::string_view, int) { fn(text); });
    for (const auto& p : s.params) {
      fn(p.value.str);
      for (const auto& a : p.value.arr) fn(a);
      for (const auto& entry : p.value.obj) fn(entry.second);
    }
    for (const auto& w : s.when) {
      fn(w.input);
      for (const auto& v : w.values) fn(v);
    }
  });
}

std::set<std::string> WorkspacesUsed(const model::TaskSpec& spec) {
  std::set<std::string> out;
  ForEachTaskText(spec, [&](std::string_view text) {
    for (const auto& ref : FindReferences(text)) {
      if (!StartsWith(ref.base, "workspaces.")) continue;
      std::string rest = ref.base.substr(11);
      out.insert(rest.substr(0, rest.find('.')));
    }
  });
  return out;
}

Propagation PlanPropagation(const model::PipelineSpec& spec,
                            const std::vector<model::Param>* run_params,
                            const std::vector<model::WorkspaceBinding>* run_workspaces) {
  Propagation p;
  if (run_params) {
    for (const auto& param : *run_params) {
      if (!Declares(spec.params, param.name)) p.params.push_back(DeclarationOf(param));
    }
  }
  std::set<std::string> available;
  for (const auto& w : spec.workspaces) available.insert(w.name);
  if (run_workspaces) {
    for (const auto& b : *run_workspaces) {
      if (available.insert(b.name).second) p.workspaces.push_back({b.name, "", false});
    }
  }
  for (bool fin : {false, true}) {
    const auto& list = fin ? spec.finally : spec.tasks;
    for (size_t i = 0; i < list.size(); ++i) {
      const model::PipelineTask& pt = list[i];
      if (!pt.task_spec) continue;
      for (const auto& used : WorkspacesUsed(*pt.task_spec)) {
        // Tekton's propagateWorkspaces: a use the task does not bind is
        // bound to the pipeline's workspace of that name.
        if (Declares(pt.workspaces, used) || !available.count(used)) continue;
        p.bindings.push_back({{fin, i}, used});
      }
    }
  }
  return p;
}

void ApplyPropagation(model::PipelineSpec& spec, const Propagation& p) {
  spec.params.insert(spec.params.end(), p.params.begin(), p.params.end());
  spec.workspaces.insert(spec.workspaces.end(), p.workspaces.begin(), p.workspaces.end());
  for (const auto& [where, name] : p.bindings) {
    model::PipelineTask& pt = (where.first ? spec.finally : spec.tasks)[where.second];
    pt.workspaces.push_back({name, name, ""});
    if (!Declares(pt.task_spec->workspaces, name))
      pt.task_spec->workspaces.push_back(WorkspaceDeclarationOf(name));
  }
}

void DeclareRunInputs(model::TaskSpec& spec, const std::vector<model::Param>& params,
                      const std::vector<model::WorkspaceBinding>& workspaces) {
  for (const auto& param : params) {
    if (!Declares(spec.params, param.name)) spec.params.push_back(DeclarationOf(param));
  }
  for (const auto& b : workspaces) {
    if (!Declares(spec.workspaces, b.name))
      spec.workspaces.push_back(WorkspaceDeclarationOf(b.name));
  }
}

Status PropagateResults(model::TaskSpec& spec, const Vars& vars) {
  Vars only;
  ForEachTaskText(spec, [&](std::string_view text) { CopyTaskRefs(text, vars, only); });
  if (only.empty()) return Ok();
  for (auto& s : spec.steps) STRAKE_TRY(SubstituteStep(s, only));
  for (auto& s : spec.sidecars) STRAKE_TRY(SubstituteStep(s, only));
  if (spec.step_template) STRAKE_TRY(SubstituteStep(*spec.step_template, only));
  return Ok();
}

}  // namespace strake::pipeline
