#include "pipeline/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "base/strings.h"
#include "pipeline/cel.h"
#include "pipeline/dag.h"
#include "pipeline/propagate.h"
#include "pipeline/step_actions.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

using model::Diagnostics;
using model::Origin;

namespace {

void Err(Diagnostics& d, const Origin& o, const std::string& path, std::string msg) {
  d.Error(o.file, o.mark, path, std::move(msg));
}

std::vector<std::string> Names(const auto& items) {
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const auto& i : items) out.push_back(i.name);
  return out;
}

// Checks each $(params.x) in s against declared names.
void CheckParamRefs(std::string_view s, const std::vector<std::string>& declared, const Origin& o,
                    const std::string& path, Diagnostics& d) {
  for (const auto& ref : FindReferences(s)) {
    if (!StartsWith(ref.base, "params.")) continue;
    std::string name = ref.base.substr(7);
    if (std::find(declared.begin(), declared.end(), name) != declared.end()) continue;
    // params.obj.key: the object's name is the part before the last dot.
    size_t dot = name.rfind('.');
    if (dot != std::string::npos &&
        std::find(declared.begin(), declared.end(), name.substr(0, dot)) != declared.end()) {
      continue;
    }
    Err(d, o, path,
        fmt::format("$({}) refers to an undeclared param \"{}\"{}", ref.expr, name,
                    DidYouMean(name, declared)));
  }
}

void CheckPrefixedRefs(std::string_view s, std::string_view root, std::string_view suffix,
                       const std::vector<std::string>& declared, std::string_view what,
                       const Origin& o, const std::string& path, Diagnostics& d) {
  for (const auto& ref : FindReferences(s)) {
    if (!StartsWith(ref.base, root)) continue;
    auto rest = ref.base.substr(root.size());
    size_t dot = rest.find('.');
    std::string name = rest.substr(0, dot);
    // Tekton's pattern for a name ([_a-zA-Z][_a-zA-Z0-9.-]*): anything else,
    // such as a shell's "digest-${i}", is no reference of Tekton's, and is
    // left as written.
    bool tekton_name =
        !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
        std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
        });
    if (!tekton_name) continue;
    if (dot != std::string::npos && !suffix.empty()) {
      std::string field = rest.substr(dot + 1);
      if (root == "workspaces." && field != "path" && field != "bound" && field != "claim" &&
          field != "volume") {
        Err(d, o, path, fmt::format("$({}): unknown workspace variable \"{}\"", ref.expr, field));
        continue;
      }
    }
    if (std::find(declared.begin(), declared.end(), name) == declared.end()) {
      Err(d, o, path,
          fmt::format("$({}) refers to an undeclared {} \"{}\"{}", ref.expr, what, name,
                      DidYouMean(name, declared)));
    }
  }
}

void ForEachStepString(const model::Step& s,
                       const std::function<void(std::string_view, const std::string&)>& fn) {
  ForEachStepText(s, [&](std::string_view text, std::string_view field, int index) {
    if (index < 0) {
      fn(text, std::string(field));
    } else {
      fn(text, fmt::format("{}[{}]{}", field, index, field == "env" ? ".value" : ""));
    }
  });
}

// A resolver reference reaches validation only where nothing resolves it.
std::string UnresolvedMessage(const model::ResolverRef& ref) {
  return fmt::format(
      "the {} resolver's reference is resolved by `strake run` and `strake validate`; runs "
      "started here cannot use it yet (give the Task, Pipeline or StepAction itself)",
      ref.resolver);
}

// The spec as the run sees it, when propagation adds to it (null: as written).
std::unique_ptr<model::PipelineSpec> Propagated(
    const model::PipelineSpec& spec, const std::vector<model::Param>* params,
    const std::vector<model::WorkspaceBinding>* workspaces) {
  Propagation plan = PlanPropagation(spec, params, workspaces);
  if (plan.empty()) return nullptr;
  auto out = std::make_unique<model::PipelineSpec>(spec);
  ApplyPropagation(*out, plan);
  return out;
}

// A step's results: its StepAction's when it names one the catalog has.
const std::vector<model::ResultSpec>* StepResults(const model::Step& s, const Catalog* catalog) {
  if (!s.ref) return &s.results;
  if (!catalog) return nullptr;
  auto it = catalog->step_actions.find(s.ref->name);
  if (it == catalog->step_actions.end()) return nullptr;
  return it->second->spec.results.empty() ? &s.results : &it->second->spec.results;
}

// A step's ref: a StepAction that exists, given the params it needs and
// only those it declares.
void CheckStepRef(const model::Step& s, const Origin& o, const std::string& spath,
                  const Catalog* catalog, Diagnostics& d) {
  if (s.ref->resolver) {
    Err(d, s.ref->origin.file.empty() ? o : s.ref->origin, spath + ".ref.resolver",
        UnresolvedMessage(*s.ref->resolver));
    return;
  }
  if (!catalog) return;
  auto it = catalog->step_actions.find(s.ref->name);
  if (it == catalog->step_actions.end()) {
    std::vector<std::string> known;
    for (const auto& [name, a] : catalog->step_actions) known.push_back(name);
    Err(d, o, spath + ".ref.name",
        fmt::format("unknown StepAction \"{}\"{}", s.ref->name, DidYouMean(s.ref->name, known)));
    return;
  }
  const auto& action = it->second->spec;
  std::vector<std::string> declared = Names(action.params);
  for (size_t j = 0; j < s.params.size(); ++j) {
    const auto& p = s.params[j];
    if (std::find(declared.begin(), declared.end(), p.name) != declared.end()) continue;
    Err(d, p.origin.file.empty() ? o : p.origin, fmt::format("{}.params[{}].name", spath, j),
        fmt::format("StepAction \"{}\" has no param \"{}\"{}", s.ref->name, p.name,
                    DidYouMean(p.name, declared)));
  }
  for (const auto& spec : action.params) {
    bool given = std::any_of(s.params.begin(), s.params.end(),
                             [&](const auto& p) { return p.name == spec.name; });
    if (!given && !spec.default_value) {
      Err(d, o, spath + ".params",
          fmt::format("StepAction \"{}\" needs param \"{}\" (it has no default)", s.ref->name,
                      spec.name));
    }
  }
}

// $(steps.<s>.results.<r>) in `text`: an earlier step, a result it declares.
void CheckStepResultRefs(std::string_view text, const model::TaskSpec& t, size_t before,
                         const Catalog* catalog, const Origin& o, const std::string& fpath,
                         Diagnostics& d) {
  for (const auto& ref : FindReferences(text)) {
    const auto named = StepResultNamed(ref.base);
    const std::string& name = named.first;
    const std::string& result = named.second;
    if (name.empty()) continue;
    auto step = std::find_if(t.steps.begin(), t.steps.begin() + static_cast<long>(before),
                             [&](const model::Step& s) { return s.name == name; });
    if (step == t.steps.begin() + static_cast<long>(before)) {
      Err(d, o, fpath, fmt::format("$({}): no earlier step \"{}\"", ref.expr, name));
      continue;
    }
    const auto* results = StepResults(*step, catalog);
    if (results && std::none_of(results->begin(), results->end(),
                                [&](const auto& r) { return r.name == result; })) {
      Err(d, o, fpath,
          fmt::format("$({}): step \"{}\" declares no result \"{}\"{}", ref.expr, name, result,
                      DidYouMean(result, Names(*results))));
    }
  }
}

// A StepAction's body uses only its own params and results.
void ValidateStepAction(const model::StepActionSpec& a, const Origin& where, Diagnostics& d) {
  std::vector<std::string> params = Names(a.params);
  std::vector<std::string> results = Names(a.results);
  Origin o = a.step.origin.file.empty() ? where : a.step.origin;
  ForEachStepString(a.step, [&](std::string_view text, const std::string& field) {
    CheckParamRefs(text, params, o, "spec." + field, d);
    CheckPrefixedRefs(text, "step.results.", ".path", results, "step result", o, "spec." + field,
                      d);
  });
}

// StepActions, step results and the task results read from them.
void CheckStepActionsAndResults(const model::TaskSpec& t, const Origin& where,
                                const std::string& path, const std::vector<std::string>& params,
                                const Catalog* catalog, Diagnostics& d) {
  for (size_t i = 0; i < t.steps.size(); ++i) {
    const model::Step& s = t.steps[i];
    Origin o = s.origin.file.empty() ? where : s.origin;
    std::string spath = fmt::format("{}.steps[{}]", path, i);
    if (s.ref) CheckStepRef(s, o, spath, catalog, d);
    for (size_t j = 0; j < s.params.size(); ++j) {
      std::vector<std::string> texts = {s.params[j].value.str};
      texts.insert(texts.end(), s.params[j].value.arr.begin(), s.params[j].value.arr.end());
      for (const auto& [k, v] : s.params[j].value.obj) texts.push_back(v);
      std::string ppath = fmt::format("{}.params[{}].value", spath, j);
      for (const auto& text : texts) {
        CheckParamRefs(text, params, o, ppath, d);
        CheckStepResultRefs(text, t, i, catalog, o, ppath, d);
      }
    }
    ForEachStepString(s, [&](std::string_view text, const std::string& field) {
      std::string fpath = fmt::format("{}.{}", spath, field);
      CheckStepResultRefs(text, t, i, catalog, o, fpath, d);
      auto refs = FindReferences(text);
      bool reads = std::any_of(refs.begin(), refs.end(), [](const Reference& r) {
        return !StepResultNamed(r.base).first.empty();
      });
      if (reads && (field == "script" || field == "workingDir" || field == "image")) {
        Err(d, o, fpath,
            "a step's result can be read only in env, command, args and when (Tekton's rule)");
      }
      const auto* own = StepResults(s, catalog);
      if (!own) return;
      CheckPrefixedRefs(text, "step.results.", ".path", Names(*own), "step result", o, fpath, d);
    });
    for (size_t j = 0; j < s.when.size(); ++j) {
      std::string wpath = fmt::format("{}.when[{}]", spath, j);
      CheckStepResultRefs(s.when[j].input, t, i, catalog, o, wpath + ".input", d);
      for (const auto& v : s.when[j].values)
        CheckStepResultRefs(v, t, i, catalog, o, wpath + ".values", d);
    }
  }
  for (size_t i = 0; i < t.results.size(); ++i) {
    if (!t.results[i].value.empty()) {
      CheckStepResultRefs(t.results[i].value, t, t.steps.size(), catalog, where,
                          fmt::format("{}.results[{}].value", path, i), d);
    }
  }
}

}  // namespace

Catalog MakeCatalog(const std::vector<model::Resource>& resources) {
  Catalog c;
  for (const auto& r : resources) {
    c.origins[r.kind + "/" + r.meta.name] = r.origin;
    if (auto* t = std::get_if<model::Task>(&r.value)) c.tasks[r.meta.name] = t;
    if (auto* p = std::get_if<model::Pipeline>(&r.value)) c.pipelines[r.meta.name] = p;
    if (auto* a = std::get_if<model::StepAction>(&r.value)) c.step_actions[r.meta.name] = a;
    if (auto* cm = std::get_if<model::ConfigMap>(&r.value)) {
      (cm->data.is_secret ? c.secrets : c.config_maps)[r.meta.name] = cm;
    }
  }
  return c;
}

void ValidateTaskSpec(const model::TaskSpec& t, const Origin& where, const std::string& path,
                      Diagnostics& diags, const std::set<std::string>& propagated_params,
                      const Catalog* catalog) {
  std::vector<std::string> params = Names(t.params);
  params.insert(params.end(), propagated_params.begin(), propagated_params.end());
  std::vector<std::string> results = Names(t.results);
  std::vector<std::string> workspaces = Names(t.workspaces);
  std::vector<std::string> volumes = Names(t.volumes);
  std::vector<std::string> steps = Names(t.steps);
  auto check_step = [&](const model::Step& s, const std::string& spath) {
    Origin o = s.origin.file.empty() ? where : s.origin;
    ForEachStepString(s, [&](std::string_view text, const std::string& field) {
      std::string fp = spath + "." + field;
      CheckParamRefs(text, params, o, fp, diags);
      CheckPrefixedRefs(text, "results.", ".path", results, "result", o, fp, diags);
      CheckPrefixedRefs(text, "workspaces.", ".path", workspaces, "workspace", o, fp, diags);
    });
    for (size_t i = 0; i < s.workspaces.size(); ++i) {
      const std::string& name = s.workspaces[i].name;
      if (std::find(workspaces.begin(), workspaces.end(), name) == workspaces.end()) {
        Err(diags, s.workspaces[i].origin.file.empty() ? o : s.workspaces[i].origin,
            fmt::format("{}.workspaces[{}].name", spath, i),
            fmt::format("unknown workspace \"{}\"{}", name, DidYouMean(name, workspaces)));
      }
    }
    for (size_t i = 0; i < s.volume_mounts.size(); ++i) {
      const auto& m = s.volume_mounts[i];
      std::string mpath = fmt::format("{}.volumeMounts[{}]", spath, i);
      if (StartsWith(m.name, "$(workspaces.")) {  // a workspace's volume
        CheckPrefixedRefs(m.name, "workspaces.", ".volume", workspaces, "workspace", o,
                          mpath + ".name", diags);
        CheckPrefixedRefs(m.mount_path, "workspaces.", ".path", workspaces, "workspace", o,
                          mpath + ".mountPath", diags);
        continue;
      }
      if (std::find(volumes.begin(), volumes.end(), m.name) == volumes.end()) {
        Err(diags, o, fmt::format("{}.volumeMounts[{}].name", spath, i),
            fmt::format("unknown volume \"{}\"{}", m.name, DidYouMean(m.name, volumes)));
      }
    }
  };
  for (size_t i = 0; i < t.steps.size(); ++i) {
    check_step(t.steps[i], fmt::format("{}.steps[{}]", path, i));
  }
  CheckStepActionsAndResults(t, where, path, params, catalog, diags);
  for (size_t i = 0; i < t.sidecars.size(); ++i) {
    check_step(t.sidecars[i], fmt::format("{}.sidecars[{}]", path, i));
  }
  if (t.step_template) check_step(*t.step_template, path + ".stepTemplate");
  for (size_t i = 0; i < t.cache.params.size(); ++i) {
    if (std::find(params.begin(), params.end(), t.cache.params[i]) == params.end()) {
      Err(diags, where, fmt::format("{}.cache.params[{}]", path, i),
          fmt::format("unknown param \"{}\"{}", t.cache.params[i],
                      DidYouMean(t.cache.params[i], params)));
    }
  }
  for (const auto* list : {&t.cache.inputs, &t.cache.outputs}) {
    for (const auto& e : *list) {
      std::string ws = e.substr(0, e.find(':'));
      if (std::find(workspaces.begin(), workspaces.end(), ws) == workspaces.end()) {
        Err(diags, where, path + ".cache",
            fmt::format("\"{}\" names an unknown workspace \"{}\"{}", e, ws,
                        DidYouMean(ws, workspaces)));
      }
    }
  }
}

namespace {

// What a pipeline task's references may name: the pipeline's params,
// workspaces and tasks, and what each task declares (its results).
struct PipelineScope {
  const model::PipelineSpec& p;
  const Catalog& catalog;
  std::vector<std::string> params, workspaces, regular, finals;
  std::map<std::string, const model::TaskSpec*> specs;  // filled as tasks are checked
};

// The Pipeline a task runs as a child PipelineRun (null: none, or unknown).
const model::PipelineSpec* ChildPipeline(const model::PipelineTask& t, const Catalog& catalog) {
  if (t.pipeline_spec) return t.pipeline_spec.get();
  if (auto it = catalog.pipelines.find(t.pipeline_ref); it != catalog.pipelines.end())
    return &it->second->spec;
  return nullptr;
}

// The results a task declares (null when unknown: reported elsewhere).
std::optional<std::vector<std::string>> DeclaredResults(const PipelineScope& sc,
                                                        const std::string& target) {
  if (auto sit = sc.specs.find(target); sit != sc.specs.end() && sit->second)
    return Names(sit->second->results);
  for (const auto& pt : sc.p.tasks) {
    if (pt.name != target) continue;
    if (pt.RunsPipeline()) {
      const model::PipelineSpec* child = ChildPipeline(pt, sc.catalog);
      if (child) return Names(child->results);
      return std::nullopt;
    }
    const model::TaskSpec* ts = pt.task_spec ? &*pt.task_spec : nullptr;
    if (!ts) {
      if (auto ct = sc.catalog.tasks.find(pt.task_ref); ct != sc.catalog.tasks.end())
        ts = &ct->second->spec;
    }
    if (ts) return Names(ts->results);
  }
  return std::nullopt;
}

// Param, workspace and task references in what the pipeline passes to a
// task (`pipeline_params` false inside an embedded task spec, whose params
// and workspaces are its own).
void CheckTaskRefs(const PipelineScope& sc, const model::PipelineTask& t, bool is_finally,
                   const std::vector<std::string>& passable, std::string_view s,
                   const std::string& fp, bool pipeline_params, Diagnostics& diags) {
  const Origin& o = t.origin;
  if (pipeline_params) {
    CheckParamRefs(s, sc.params, o, fp, diags);
    CheckPrefixedRefs(s, "workspaces.", ".bound", passable, "workspace", o, fp, diags);
  }
  for (const auto& ref : FindReferences(s)) {
    if (!StartsWith(ref.base, "tasks.")) continue;
    auto parts = Split(ref.base, '.');
    if (parts.size() == 2 && parts[1] == "status") {
      if (!is_finally) Err(diags, o, fp, "$(tasks.status) is only for finally tasks");
      continue;
    }
    if (parts.size() < 3) {
      Err(diags, o, fp, fmt::format("$({}) is not a valid task reference", ref.expr));
      continue;
    }
    const std::string& target = parts[1];
    if (std::find(sc.regular.begin(), sc.regular.end(), target) == sc.regular.end()) {
      bool is_final_target =
          std::find(sc.finals.begin(), sc.finals.end(), target) != sc.finals.end();
      Err(diags, o, fp,
          is_final_target
              ? fmt::format("$({}): results of finally tasks cannot be used by other tasks",
                            ref.expr)
              : fmt::format("$({}) refers to unknown task \"{}\"{}", ref.expr, target,
                            DidYouMean(target, sc.regular)));
      continue;
    }
    if (parts[2] == "status" || parts[2] == "reason") {
      if (!is_finally) Err(diags, o, fp, fmt::format("$({}) is only for finally tasks", ref.expr));
    } else if (parts[2] == "results" && parts.size() >= 4) {
      auto rnames = DeclaredResults(sc, target);
      if (rnames && std::find(rnames->begin(), rnames->end(), parts[3]) == rnames->end()) {
        Err(diags, o, fp,
            fmt::format("$({}): task \"{}\" has no result \"{}\"{}", ref.expr, target, parts[3],
                        DidYouMean(parts[3], *rnames)));
      }
    } else if (parts[2] != "matrix" &&
               !((parts[2] == "inputs" || parts[2] == "outputs") && parts.size() == 4)) {
      // (inputs and outputs: the task's artifacts, pipeline/artifacts.h)
      Err(diags, o, fp, fmt::format("$({}) is not a valid task reference", ref.expr));
    }
  }
}

// A task that runs a Pipeline: the Pipeline exists, and the task binds its
// workspaces and gives its params as a PipelineRun of it would.
void CheckChildPipeline(const model::PipelineTask& t, const Catalog& catalog,
                        const std::string& tpath, Diagnostics& diags) {
  const Origin& o = t.origin;
  std::unique_ptr<model::PipelineSpec> propagated;
  if (t.pipeline_spec) {
    // The child PipelineRun's params and workspaces reach its embedded spec
    // by propagation, as any run's do.
    std::vector<model::WorkspaceBinding> bindings;
    for (const auto& b : t.workspaces) {
      model::WorkspaceBinding binding;
      binding.name = b.name;
      bindings.push_back(std::move(binding));
    }
    propagated = Propagated(*t.pipeline_spec, &t.params, &bindings);
    ValidatePipelineSpec(propagated ? *propagated : *t.pipeline_spec, catalog, o,
                         tpath + ".pipelineSpec", diags);
  } else if (!catalog.pipelines.count(t.pipeline_ref)) {
    std::vector<std::string> known;
    for (const auto& [name, pl] : catalog.pipelines) known.push_back(name);
    Err(diags, o, tpath + ".pipelineRef.name",
        fmt::format("unknown Pipeline \"{}\"{}", t.pipeline_ref,
                    DidYouMean(t.pipeline_ref, known)));
    return;
  }
  const model::PipelineSpec& child = propagated ? *propagated : *ChildPipeline(t, catalog);
  auto declared = Names(child.workspaces);
  for (size_t i = 0; i < t.workspaces.size(); ++i) {
    const auto& b = t.workspaces[i];
    if (std::find(declared.begin(), declared.end(), b.name) == declared.end()) {
      Err(diags, o, fmt::format("{}.workspaces[{}].name", tpath, i),
          fmt::format("the pipeline declares no workspace \"{}\"{}", b.name,
                      DidYouMean(b.name, declared)));
    }
  }
  for (const auto& w : child.workspaces) {
    bool bound = std::any_of(t.workspaces.begin(), t.workspaces.end(),
                             [&](const auto& b) { return b.name == w.name; });
    if (!bound && !w.optional) {
      Err(diags, o, tpath + ".workspaces",
          fmt::format("the pipeline's workspace \"{}\" is not bound", w.name));
    }
  }
  auto given = Names(t.params);
  auto known = Names(child.params);
  for (size_t i = 0; i < t.params.size(); ++i) {
    if (std::find(known.begin(), known.end(), t.params[i].name) != known.end()) continue;
    // An embedded pipeline's tasks read the run's params by propagation.
    if (t.pipeline_spec) continue;
    Err(diags, o, fmt::format("{}.params[{}].name", tpath, i),
        fmt::format("the pipeline declares no param \"{}\"{}", t.params[i].name,
                    DidYouMean(t.params[i].name, known)));
  }
  for (const auto& ps : child.params) {
    if (ps.default_value || std::find(given.begin(), given.end(), ps.name) != given.end()) continue;
    Err(diags, o, tpath + ".params",
        fmt::format("missing value for param \"{}\" of the pipeline (it has no default)", ps.name));
  }
}

// The task a pipeline task runs: checked, and its spec (null: unknown, or
// a Pipeline).
const model::TaskSpec* CheckTaskBody(const PipelineScope& sc, const model::PipelineTask& t,
                                     const std::string& tpath, Diagnostics& diags) {
  const Origin& o = t.origin;
  if (t.RunsPipeline()) {
    CheckChildPipeline(t, sc.catalog, tpath, diags);
    return nullptr;
  }
  if (t.task_resolver) {
    Err(diags, t.task_resolver->origin.file.empty() ? o : t.task_resolver->origin,
        tpath + ".taskRef.resolver", UnresolvedMessage(*t.task_resolver));
  } else if (t.task_spec) {
    // Embedded specs see the pipeline's params by propagation, and the
    // params the task passes whether they declare them or not.
    std::set<std::string> visible(sc.params.begin(), sc.params.end());
    for (const auto& pa : t.params) visible.insert(pa.name);
    if (t.matrix) {
      for (const auto& pa : t.matrix->params) visible.insert(pa.name);
      for (const auto& inc : t.matrix->include) {
        for (const auto& pa : inc.params) visible.insert(pa.name);
      }
    }
    ValidateTaskSpec(*t.task_spec, o, tpath + ".taskSpec", diags, visible, &sc.catalog);
    return &*t.task_spec;
  } else if (!t.task_ref.empty()) {
    auto it = sc.catalog.tasks.find(t.task_ref);
    if (it != sc.catalog.tasks.end()) return &it->second->spec;
    std::vector<std::string> known;
    for (const auto& [name, task] : sc.catalog.tasks) known.push_back(name);
    Err(diags, o, tpath + ".taskRef.name",
        fmt::format("unknown Task \"{}\"{}", t.task_ref, DidYouMean(t.task_ref, known)));
  }
  return nullptr;
}

// The task's bindings and params against what its Task declares.
void CheckTaskInputs(const PipelineScope& sc, const model::PipelineTask& t,
                     const model::TaskSpec* spec, const std::string& tpath, Diagnostics& diags) {
  const Origin& o = t.origin;
  for (size_t i = 0; i < t.workspaces.size(); ++i) {
    const auto& b = t.workspaces[i];
    if (std::find(sc.workspaces.begin(), sc.workspaces.end(), b.workspace) == sc.workspaces.end()) {
      Err(diags, o, fmt::format("{}.workspaces[{}].workspace", tpath, i),
          fmt::format("unknown pipeline workspace \"{}\"{}", b.workspace,
                      DidYouMean(b.workspace, sc.workspaces)));
    }
    if (spec) {
      auto tw = Names(spec->workspaces);
      if (std::find(tw.begin(), tw.end(), b.name) == tw.end()) {
        Err(diags, o, fmt::format("{}.workspaces[{}].name", tpath, i),
            fmt::format("the task declares no workspace \"{}\"{}", b.name, DidYouMean(b.name, tw)));
      }
    }
  }
  if (!spec) return;
  for (const auto& w : spec->workspaces) {
    bool bound = std::any_of(t.workspaces.begin(), t.workspaces.end(),
                             [&](const auto& b) { return b.name == w.name; });
    if (!bound && !w.optional) {
      Err(diags, o, tpath + ".workspaces",
          fmt::format("the task's workspace \"{}\" is not bound", w.name));
    }
  }
  std::set<std::string> given;
  for (const auto& pa : t.params) given.insert(pa.name);
  if (t.matrix) {
    for (const auto& pa : t.matrix->params) given.insert(pa.name);
    for (const auto& inc : t.matrix->include) {
      for (const auto& pa : inc.params) given.insert(pa.name);
    }
  }
  for (const auto& ps : spec->params) {
    bool propagated =
        t.task_spec && std::find(sc.params.begin(), sc.params.end(), ps.name) != sc.params.end();
    if (!ps.default_value && !given.count(ps.name) && !propagated) {
      Err(diags, o, tpath + ".params",
          fmt::format("missing value for param \"{}\" of the task (it has no default)", ps.name));
    }
  }
}

// The references in a task's params, when expressions, matrix and embedded steps.
void CheckTaskTexts(const PipelineScope& sc, const model::PipelineTask& t, bool is_finally,
                    const std::string& tpath, const Origin& where, Diagnostics& diags) {
  // What the pipeline passes may name the pipeline's workspaces, or the
  // task's own as this task binds them (the TaskRun resolves those).
  std::vector<std::string> passable = sc.workspaces;
  for (const auto& b : t.workspaces) passable.push_back(b.name);
  auto check_refs = [&](std::string_view s, const std::string& fp, bool pipeline_params = true) {
    CheckTaskRefs(sc, t, is_finally, passable, s, fp, pipeline_params, diags);
  };
  for (size_t i = 0; i < t.params.size(); ++i) {
    std::string fp = fmt::format("{}.params[{}].value", tpath, i);
    const auto& v = t.params[i].value;
    check_refs(v.str, fp);
    for (const auto& a : v.arr) check_refs(a, fp);
    for (const auto& [k, val] : v.obj) check_refs(val, fp);
  }
  for (size_t i = 0; i < t.when.size(); ++i) {
    std::string fp = fmt::format("{}.when[{}]", tpath, i);
    check_refs(t.when[i].input, fp + ".input");
    for (const auto& v : t.when[i].values) check_refs(v, fp + ".values");
    if (!t.when[i].cel.empty()) {
      check_refs(t.when[i].cel, fp + ".cel");
      if (auto st = CheckCel(t.when[i].cel); !st) {
        Err(diags, t.when[i].origin.file.empty() ? where : t.when[i].origin, fp + ".cel",
            st.error().message);
      }
    }
  }
  if (t.matrix) {
    for (size_t i = 0; i < t.matrix->params.size(); ++i) {
      std::string fp = fmt::format("{}.matrix.params[{}].value", tpath, i);
      check_refs(t.matrix->params[i].value.str, fp);
      for (const auto& a : t.matrix->params[i].value.arr) check_refs(a, fp);
    }
  }
  if (t.task_spec) {
    for (size_t i = 0; i < t.task_spec->steps.size(); ++i) {
      ForEachStepString(t.task_spec->steps[i], [&](std::string_view s, const std::string& f) {
        // The step's own params were checked with the task spec.
        check_refs(s, fmt::format("{}.taskSpec.steps[{}].{}", tpath, i, f), false);
      });
    }
  }
}

void CheckRunAfter(const PipelineScope& sc, const model::PipelineTask& t, bool is_finally,
                   const std::string& tpath, Diagnostics& diags) {
  const Origin& o = t.origin;
  if (is_finally && !t.run_after.empty()) {
    Err(diags, o, tpath + ".runAfter",
        "finally tasks cannot use runAfter; they run after all tasks");
  }
  for (size_t i = 0; i < t.run_after.size(); ++i) {
    const auto& dep = t.run_after[i];
    if (std::find(sc.regular.begin(), sc.regular.end(), dep) == sc.regular.end()) {
      Origin at = o;
      if (i < t.run_after_marks.size()) at.mark = t.run_after_marks[i];
      Err(diags, at, fmt::format("{}.runAfter[{}]", tpath, i),
          fmt::format("unknown task \"{}\"{}", dep, DidYouMean(dep, sc.regular)));
    }
  }
}

}  // namespace

void ValidatePipelineSpec(const model::PipelineSpec& p, const Catalog& catalog, const Origin& where,
                          const std::string& path, Diagnostics& diags) {
  PipelineScope sc{
      p, catalog, Names(p.params), Names(p.workspaces), Names(p.tasks), Names(p.finally), {}};
  std::vector<std::string> all = sc.regular;
  all.insert(all.end(), sc.finals.begin(), sc.finals.end());
  std::set<std::string> seen;
  auto check_task = [&](const model::PipelineTask& given, const std::string& tpath, bool fin) {
    model::PipelineTask located;  // the task, with an origin to report at
    const model::PipelineTask* t = &given;
    if (given.origin.file.empty()) {
      located = given;
      located.origin = where;
      t = &located;
    }
    if (!t->name.empty() && !seen.insert(t->name).second) {
      Err(diags, t->origin, tpath + ".name", fmt::format("duplicate task name \"{}\"", t->name));
    }
    const model::TaskSpec* spec = CheckTaskBody(sc, *t, tpath, diags);
    sc.specs[t->name] = spec;
    CheckRunAfter(sc, *t, fin, tpath, diags);
    CheckTaskTexts(sc, *t, fin, tpath, where, diags);
    if (!t->RunsPipeline()) CheckTaskInputs(sc, *t, spec, tpath, diags);
  };
  for (size_t i = 0; i < p.tasks.size(); ++i) {
    check_task(p.tasks[i], fmt::format("{}.tasks[{}]", path, i), false);
  }
  for (size_t i = 0; i < p.finally.size(); ++i) {
    check_task(p.finally[i], fmt::format("{}.finally[{}]", path, i), true);
  }
  for (size_t i = 0; i < p.results.size(); ++i) {
    std::string fp = fmt::format("{}.results[{}].value", path, i);
    for (const auto& ref : FindReferences(p.results[i].value.str)) {
      if (!StartsWith(ref.base, "tasks.")) continue;
      auto parts = Split(ref.base, '.');
      if (parts.size() >= 2 && std::find(all.begin(), all.end(), parts[1]) == all.end()) {
        Err(diags, where, fp,
            fmt::format("$({}) refers to unknown task \"{}\"{}", ref.expr, parts[1],
                        DidYouMean(parts[1], all)));
      }
    }
  }
  // The graph: cycles and self-references (unknown names were reported above).
  std::vector<DagInput> nodes;
  for (const auto& t : p.tasks) {
    DagInput n{t.name, {}};
    for (const auto& d : TaskDependencies(t)) {
      if (std::find(sc.regular.begin(), sc.regular.end(), d) != sc.regular.end())
        n.deps.push_back(d);
    }
    nodes.push_back(std::move(n));
  }
  if (!diags.HasErrors()) {
    auto dag = BuildDag(nodes);
    if (!dag) Err(diags, where, path + ".tasks", dag.error().message);
  }
}

namespace {

// Each taskRunSpecs entry names a task of the run's pipeline.
void ValidateTaskRunSpecs(const model::PipelineRun& pr, const Catalog& catalog,
                          Diagnostics& diags) {
  const model::PipelineSpec* spec = pr.spec.pipeline_spec ? &*pr.spec.pipeline_spec : nullptr;
  if (auto it = catalog.pipelines.find(pr.spec.pipeline_ref);
      !spec && it != catalog.pipelines.end())
    spec = &it->second->spec;
  if (!spec) return;  // an unknown Pipeline is reported on its own
  std::vector<std::string> names = Names(spec->tasks);
  for (const auto& t : spec->finally) names.push_back(t.name);
  for (size_t i = 0; i < pr.spec.task_run_specs.size(); ++i) {
    const auto& o = pr.spec.task_run_specs[i];
    if (std::find(names.begin(), names.end(), o.pipeline_task) != names.end()) continue;
    Err(diags, o.origin, fmt::format("spec.taskRunSpecs[{}].pipelineTaskName", i),
        fmt::format("no pipeline task \"{}\"{}", o.pipeline_task,
                    DidYouMean(o.pipeline_task, names)));
  }
}

// A Pipeline that runs itself through its tasks' pipelineRefs, at any depth,
// would never end: reported at the reference that closes the cycle.
void CheckPipelineRefCycles(const std::string& name, const model::PipelineSpec& spec,
                            const Catalog& catalog, const std::string& path, Diagnostics& diags) {
  std::vector<std::string> stack;
  if (!name.empty()) stack.push_back(name);
  std::set<std::string> acyclic;  // Pipelines walked already without a cycle
  std::function<bool(const model::PipelineSpec&, const std::string&)> walk =
      [&](const model::PipelineSpec& s, const std::string& at) {
        for (const auto* list : {&s.tasks, &s.finally}) {
          for (size_t i = 0; i < list->size(); ++i) {
            const model::PipelineTask& pt = (*list)[i];
            std::string tpath =
                fmt::format("{}.{}[{}]", at, list == &s.tasks ? "tasks" : "finally", i);
            if (pt.pipeline_spec && walk(*pt.pipeline_spec, tpath + ".pipelineSpec")) return true;
            if (pt.pipeline_ref.empty() || acyclic.count(pt.pipeline_ref)) continue;
            if (std::find(stack.begin(), stack.end(), pt.pipeline_ref) != stack.end()) {
              stack.push_back(pt.pipeline_ref);
              Err(diags, pt.origin, tpath + ".pipelineRef.name",
                  fmt::format("Pipeline \"{}\" runs itself: {}", pt.pipeline_ref,
                              Join(stack, " -> ")));
              return true;
            }
            auto it = catalog.pipelines.find(pt.pipeline_ref);
            if (it == catalog.pipelines.end()) continue;  // unknown: reported on its own
            stack.push_back(pt.pipeline_ref);
            bool cycle = walk(it->second->spec, tpath + ".pipelineRef");
            stack.pop_back();
            if (cycle) return true;
            acyclic.insert(pt.pipeline_ref);
          }
        }
        return false;
      };
  walk(spec, path);
}

}  // namespace

void ValidateResources(const std::vector<model::Resource>& resources, Diagnostics& diags) {
  Catalog catalog = MakeCatalog(resources);
  for (const auto& r : resources) {
    if (auto* t = std::get_if<model::Task>(&r.value)) {
      ValidateTaskSpec(t->spec, r.origin, "spec", diags, {}, &catalog);
    } else if (auto* a = std::get_if<model::StepAction>(&r.value)) {
      ValidateStepAction(a->spec, r.origin, diags);
    } else if (auto* p = std::get_if<model::Pipeline>(&r.value)) {
      auto propagated = Propagated(p->spec, nullptr, nullptr);
      ValidatePipelineSpec(propagated ? *propagated : p->spec, catalog, r.origin, "spec", diags);
      CheckPipelineRefCycles(p->meta.name, p->spec, catalog, "spec", diags);
    } else if (auto* pr = std::get_if<model::PipelineRun>(&r.value)) {
      ValidateTaskRunSpecs(*pr, catalog, diags);
      if (pr->spec.pipeline_spec) {
        auto propagated =
            Propagated(*pr->spec.pipeline_spec, &pr->spec.params, &pr->spec.workspaces);
        ValidatePipelineSpec(propagated ? *propagated : *pr->spec.pipeline_spec, catalog, r.origin,
                             "spec.pipelineSpec", diags);
        CheckPipelineRefCycles("", *pr->spec.pipeline_spec, catalog, "spec.pipelineSpec", diags);
      } else if (pr->spec.pipeline_resolver) {
        Err(diags, pr->spec.pipeline_resolver->origin, "spec.pipelineRef.resolver",
            UnresolvedMessage(*pr->spec.pipeline_resolver));
      } else if (!pr->spec.pipeline_ref.empty() &&
                 !catalog.pipelines.count(pr->spec.pipeline_ref)) {
        std::vector<std::string> known;
        for (const auto& [name, pl] : catalog.pipelines) known.push_back(name);
        Err(diags, r.origin, "spec.pipelineRef.name",
            fmt::format("unknown Pipeline \"{}\"{}", pr->spec.pipeline_ref,
                        DidYouMean(pr->spec.pipeline_ref, known)));
      }
    } else if (auto* tr = std::get_if<model::TaskRun>(&r.value)) {
      if (tr->spec.task_spec) {
        model::TaskSpec spec = *tr->spec.task_spec;
        DeclareRunInputs(spec, tr->spec.params, tr->spec.workspaces);
        ValidateTaskSpec(spec, r.origin, "spec.taskSpec", diags, {}, &catalog);
      } else if (tr->spec.task_resolver) {
        Err(diags, tr->spec.task_resolver->origin, "spec.taskRef.resolver",
            UnresolvedMessage(*tr->spec.task_resolver));
      } else if (!tr->spec.task_ref.empty() && !catalog.tasks.count(tr->spec.task_ref)) {
        std::vector<std::string> known;
        for (const auto& [name, task] : catalog.tasks) known.push_back(name);
        Err(diags, r.origin, "spec.taskRef.name",
            fmt::format("unknown Task \"{}\"{}", tr->spec.task_ref,
                        DidYouMean(tr->spec.task_ref, known)));
      }
    }
  }
}

}  // namespace strake::pipeline
