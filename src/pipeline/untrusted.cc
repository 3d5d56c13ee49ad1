#include "pipeline/untrusted.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/strings.h"
#include "pipeline/substitute.h"
#include "pipeline/validate.h"

namespace strake::pipeline {

namespace {

using Tainted = std::map<std::string, std::string>;  // param -> what it carries

bool IsShell(const std::vector<std::string>& command) {
  if (command.empty()) return false;
  std::string base = command[0].substr(command[0].rfind('/') + 1);
  for (const char* sh : {"sh", "bash", "dash", "zsh", "ash", "ksh", "busybox"}) {
    if (base == sh) return true;
  }
  return false;
}

// The first tainted param `text` references, or "".
std::string TaintedRef(const std::string& text, const Tainted& tainted) {
  for (const auto& r : FindReferences(text)) {
    if (r.base.rfind("params.", 0) != 0) continue;
    std::string name = r.base.substr(7);
    if (tainted.count(name)) return name;
  }
  return "";
}

std::string TaintedRef(const model::ParamValue& v, const Tainted& tainted) {
  std::string hit = TaintedRef(v.str, tainted);
  for (const auto& s : v.arr) {
    if (hit.empty()) hit = TaintedRef(s, tainted);
  }
  for (const auto& [k, s] : v.obj) {
    if (hit.empty()) hit = TaintedRef(s, tainted);
  }
  return hit;
}

Status Refuse(const model::Step& s, const std::string& field, const std::string& param,
              const std::string& carries, const std::string& context) {
  std::string env = EnvVarName(param);
  return Failf(
      "{}:{}:{}: {}.{}: $(params.{}) carries {} from the push ({}) and would be pasted into "
      "text the shell runs, so whoever names a branch could run commands; read it from the "
      "environment instead:\n"
      "    - name: {}\n      env:\n      - name: {}\n        value: $(params.{})\n"
      "      script: |\n        echo \"${}\"",
      s.origin.file, s.origin.mark.line, s.origin.mark.col, s.origin.path, field, param, carries,
      context, s.name.empty() ? "step" : s.name, env, param, env);
}

Status CheckStep(const model::Step& s, const Tainted& tainted, const std::string& context) {
  if (tainted.empty()) return Ok();
  if (auto p = TaintedRef(s.script, tainted); !p.empty())
    return Refuse(s, "script", p, tainted.at(p), context);
  if (IsShell(s.command)) {
    for (const auto* list : {&s.command, &s.args}) {
      for (size_t i = 0; i < list->size(); ++i) {
        if (auto p = TaintedRef((*list)[i], tainted); !p.empty()) {
          return Refuse(s, fmt::format("{}[{}]", list == &s.command ? "command" : "args", i), p,
                        tainted.at(p), context);
        }
      }
    }
  }
  return Ok();
}

// A step that names a StepAction: what it passes carries the taint into
// the action's params; the action's body also sees the task's params it
// does not declare itself.
Status CheckStepAction(const model::Step& s, const Tainted& tainted, const Catalog& catalog,
                       const std::string& context) {
  auto it = catalog.step_actions.find(s.ref->name);
  if (it == catalog.step_actions.end()) return Ok();  // unknown: validation says so
  const model::StepActionSpec& action = it->second->spec;
  Tainted own;
  for (const auto& entry : tainted) {
    bool declared = std::any_of(action.params.begin(), action.params.end(),
                                [&](const auto& p) { return p.name == entry.first; });
    if (!declared) own.insert(entry);
  }
  for (const auto& p : s.params) {
    if (auto hit = TaintedRef(p.value, tainted); !hit.empty()) own[p.name] = tainted.at(hit);
  }
  return CheckStep(action.step, own,
                   fmt::format("{}, step \"{}\", StepAction \"{}\"", context, s.name, s.ref->name));
}

Status CheckTask(const model::TaskSpec& spec, const Tainted& tainted, const Catalog& catalog,
                 const std::string& context) {
  for (const auto& s : spec.steps) {
    STRAKE_TRY(s.ref ? CheckStepAction(s, tainted, catalog, context)
                     : CheckStep(s, tainted, context));
  }
  for (const auto& s : spec.sidecars) STRAKE_TRY(CheckStep(s, tainted, context));
  if (spec.step_template) STRAKE_TRY(CheckStep(*spec.step_template, tainted, context));
  return Ok();
}

// What a pipeline task's params (and matrix) carry of `untrusted`, by the
// task's param names.
Tainted TaskTaint(const model::PipelineTask& pt, const Tainted& untrusted) {
  Tainted task;
  for (const auto& p : pt.params) {
    if (auto hit = TaintedRef(p.value, untrusted); !hit.empty()) task[p.name] = untrusted.at(hit);
  }
  if (pt.matrix) {
    for (const auto& p : pt.matrix->params) {
      if (auto hit = TaintedRef(p.value, untrusted); !hit.empty()) task[p.name] = untrusted.at(hit);
    }
  }
  return task;
}

// The pipeline's tasks given `untrusted` (its params that carry a push's
// values): each task's params carry them on, into its Task's steps or, for
// a task that runs a Pipeline, into that Pipeline's tasks.
Status CheckPipeline(const model::PipelineSpec& pipeline, const Tainted& untrusted,
                     const Catalog& catalog, const std::string& within, int depth) {
  if (untrusted.empty() || depth > kMaxPipelineDepth) return Ok();
  for (const auto* list : {&pipeline.tasks, &pipeline.finally}) {
    for (const auto& pt : *list) {
      Tainted task = TaskTaint(pt, untrusted);
      std::string context = fmt::format("{}pipeline task \"{}\"", within, pt.name);
      if (pt.pipeline_spec) {
        STRAKE_TRY(CheckPipeline(*pt.pipeline_spec, task, catalog, context + ", ", depth + 1));
      } else if (auto pl = catalog.pipelines.find(pt.pipeline_ref); pl != catalog.pipelines.end()) {
        STRAKE_TRY(CheckPipeline(pl->second->spec, task, catalog,
                                 fmt::format("{}, Pipeline \"{}\", ", context, pt.pipeline_ref),
                                 depth + 1));
      } else if (pt.task_spec) {
        // An embedded taskSpec also reads the pipeline's params directly
        // (propagation), whether it declares them or not, unless the task
        // passes a value of that name itself.
        Tainted seen = task;
        for (const auto& [name, carries] : untrusted) {
          bool passed = false;
          for (const auto& p : pt.params) passed = passed || p.name == name;
          if (!passed) seen.emplace(name, carries);
        }
        STRAKE_TRY(CheckTask(*pt.task_spec, seen, catalog, context));
      } else if (auto t = catalog.tasks.find(pt.task_ref); t != catalog.tasks.end()) {
        STRAKE_TRY(CheckTask(t->second->spec, task, catalog,
                             fmt::format("{}, Task \"{}\"", context, pt.task_ref)));
      }
    }
  }
  return Ok();
}

}  // namespace

Status CheckUntrusted(const model::PipelineRun& run, const std::vector<model::Resource>& resources,
                      const std::map<std::string, std::string>& untrusted) {
  if (untrusted.empty()) return Ok();
  Catalog catalog = MakeCatalog(resources);
  const model::PipelineSpec* pipeline = nullptr;
  if (run.spec.pipeline_spec) {
    pipeline = &*run.spec.pipeline_spec;
  } else if (auto it = catalog.pipelines.find(run.spec.pipeline_ref);
             it != catalog.pipelines.end()) {
    pipeline = &it->second->spec;
  }
  if (!pipeline) return Ok();  // an unknown Pipeline is the engine's error to report
  return CheckPipeline(*pipeline, untrusted, catalog, "", 0);
}

}  // namespace strake::pipeline
