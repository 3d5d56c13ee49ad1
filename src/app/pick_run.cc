#include "app/pick_run.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/decode.h"

namespace strake::app {

using model::Json;

namespace {

// The spec of the Task a TaskRun or Task runs (a TaskRun's taskRef names
// one of `resources`; the last of that name counts).
Json TaskSpecOf(const model::Resource& source, const std::vector<model::Resource>& resources) {
  const Json& spec = source.raw["spec"];
  if (source.kind == "Task") return spec;
  Json found = Json::object();  // none: the engine says the Task is unknown
  if (!spec.contains("taskRef")) {
    found = spec.value("taskSpec", Json::object());
  } else {
    for (const auto& r : resources) {
      if (r.kind == "Task" && r.meta.name == spec["taskRef"].value("name", ""))
        found = r.raw["spec"];
    }
  }
  // The TaskRun's pod template's volumes, where the task does not declare
  // one of that name.
  for (const auto& v : spec.value("podTemplate", Json::object()).value("volumes", Json::array())) {
    Json& vols = found["volumes"];
    if (!vols.is_array()) vols = Json::array();
    bool declared = std::any_of(vols.begin(), vols.end(), [&](const Json& x) {
      return x.value("name", "") == v.value("name", "");
    });
    if (!declared) vols.push_back(v);
  }
  return found;
}

// The pipeline's params, one per param of the task, passed on to `ptask`.
Json DeclareParams(const Json& task_spec, Json& ptask) {
  Json declared = Json::array(), passed = Json::array();
  for (const auto& p : task_spec.value("params", Json::array())) {
    Json decl = {{"name", p["name"]}};
    if (p.contains("type")) decl["type"] = p["type"];
    if (p.contains("default")) decl["default"] = p["default"];
    declared.push_back(decl);
    std::string name = p["name"].get<std::string>();
    bool string = p.value("type", "string") == "string";
    passed.push_back(
        {{"name", name}, {"value", fmt::format("$(params.{}{})", name, string ? "" : "[*]")}});
  }
  ptask["params"] = passed;
  return declared;
}

// The pipeline's workspaces, one per workspace of the task, bound in
// `ptask`; a required one the run does not bind gets an emptyDir in `bound`.
Json DeclareWorkspaces(const Json& task_spec, Json& ptask, Json& bound) {
  Json declared = Json::array(), passed = Json::array();
  for (const auto& w : task_spec.value("workspaces", Json::array())) {
    std::string name = w["name"].get<std::string>();
    Json decl = {{"name", name}};
    if (w.value("optional", false)) decl["optional"] = true;
    declared.push_back(decl);
    passed.push_back({{"name", name}, {"workspace", name}});
    bool is_bound = std::any_of(bound.begin(), bound.end(),
                                [&](const Json& b) { return b.value("name", "") == name; });
    if (!is_bound && !w.value("optional", false))
      bound.push_back({{"name", name}, {"emptyDir", Json::object()}});
  }
  ptask["workspaces"] = passed;
  return declared;
}

}  // namespace

Result<std::vector<RunChoice>> ChooseRuns(const std::vector<model::Resource>& resources) {
  std::vector<size_t> runs, pipelines, tasks, taskruns;
  for (size_t i = 0; i < resources.size(); ++i) {
    const std::string& kind = resources[i].kind;
    if (kind == "PipelineRun") runs.push_back(i);
    if (kind == "Pipeline") pipelines.push_back(i);
    if (kind == "Task") tasks.push_back(i);
    if (kind == "TaskRun") taskruns.push_back(i);
  }
  using How = RunChoice::How;
  if (!runs.empty()) {
    std::vector<RunChoice> given;
    given.reserve(runs.size());
    for (size_t i : runs) given.push_back({How::kGiven, i});
    return given;
  }
  if (!taskruns.empty() || (pipelines.empty() && !tasks.empty())) {
    // A TaskRun, or a lone Task, runs as a one-task pipeline.
    const auto& candidates = taskruns.empty() ? tasks : taskruns;
    if (candidates.size() > 1) {
      return Fail(
          "several Tasks or TaskRuns given and no PipelineRun: say which to run with a "
          "PipelineRun");
    }
    return std::vector<RunChoice>{{How::kForTask, candidates[0]}};
  }
  if (pipelines.size() == 1) return std::vector<RunChoice>{{How::kForPipeline, pipelines[0]}};
  if (pipelines.size() > 1)
    return Fail("several Pipelines given and no PipelineRun: add a PipelineRun that names one");
  return Fail("nothing to run: give a PipelineRun, a Pipeline, a Task or a TaskRun");
}

Json RunForTask(const model::Resource& source, const std::vector<model::Resource>& resources) {
  const Json& spec = source.raw["spec"];
  bool is_task = source.kind == "Task";
  // The pipeline task is named after the Task it runs.
  std::string task_name = is_task ? source.meta.name : "task";
  if (!is_task && spec.contains("taskRef")) task_name = spec["taskRef"].value("name", "task");
  Json ptask = {{"name", task_name}};
  Json run_params = Json::array(), bound = Json::array();
  const Json task_spec = TaskSpecOf(source, resources);
  bool pod_volumes = spec.value("podTemplate", Json::object()).contains("volumes");
  if (is_task) {
    ptask["taskRef"] = {{"name", source.meta.name}};
  } else {
    if (spec.contains("taskRef") && !pod_volumes) {
      ptask["taskRef"] = {{"name", spec["taskRef"]["name"]}};
    } else {
      ptask["taskSpec"] = task_spec;  // with the pod template's volumes
    }
    run_params = spec.value("params", Json::array());
    if (spec.contains("timeout")) ptask["timeout"] = spec["timeout"];
    if (spec.contains("retries")) ptask["retries"] = spec["retries"];
    bound = spec.value("workspaces", Json::array());
  }
  Json pipeline_spec;
  pipeline_spec["params"] = DeclareParams(task_spec, ptask);
  pipeline_spec["workspaces"] = DeclareWorkspaces(task_spec, ptask, bound);
  pipeline_spec["tasks"] = Json::array({ptask});
  Json results = Json::array();
  for (const auto& r : task_spec.value("results", Json::array())) {
    std::string name = r["name"].get<std::string>();
    results.push_back(
        {{"name", name}, {"value", fmt::format("$(tasks.{}.results.{})", task_name, name)}});
  }
  if (!results.empty()) pipeline_spec["results"] = results;
  Json run_spec = {{"pipelineSpec", pipeline_spec}, {"params", run_params}, {"workspaces", bound}};
  if (!is_task && spec.contains("serviceAccountName")) {
    run_spec["taskRunTemplate"] = {{"serviceAccountName", spec["serviceAccountName"]}};
  }
  // The TaskRun's compute resources, as its pipeline task's taskRunSpecs.
  Json overrides = {{"pipelineTaskName", task_name}};
  for (const char* key : {"computeResources", "stepSpecs", "sidecarSpecs"}) {
    if (!is_task && spec.contains(key)) overrides[key] = spec[key];
  }
  if (overrides.size() > 1) run_spec["taskRunSpecs"] = Json::array({overrides});
  const Json pod = is_task ? Json::object() : spec.value("podTemplate", Json::object());
  if (pod.is_object() && pod.contains("imagePullSecrets")) {
    run_spec["taskRunTemplate"]["podTemplate"]["imagePullSecrets"] = pod["imagePullSecrets"];
  }
  return {{"apiVersion", "tekton.dev/v1"},
          {"kind", "PipelineRun"},
          {"metadata",
           {{"generateName", source.meta.name.empty() ? "run-" : source.meta.name + "-run-"},
            {"namespace", source.meta.ns}}},
          {"spec", std::move(run_spec)}};
}

Json RunForPipeline(const model::Resource& pipeline) {
  Json ws = Json::array();
  for (const auto& w : std::get<model::Pipeline>(pipeline.value).spec.workspaces) {
    if (!w.optional) ws.push_back({{"name", w.name}, {"emptyDir", Json::object()}});
  }
  return {{"apiVersion", "tekton.dev/v1"},
          {"kind", "PipelineRun"},
          {"metadata",
           {{"generateName", pipeline.meta.name + "-run-"}, {"namespace", pipeline.meta.ns}}},
          {"spec", {{"pipelineRef", {{"name", pipeline.meta.name}}}, {"workspaces", ws}}}};
}

Result<std::vector<size_t>> PickRuns(std::vector<model::Resource>& resources) {
  STRAKE_TRY_ASSIGN(choices, ChooseRuns(resources));
  std::vector<size_t> out;
  for (const RunChoice& choice : choices) {
    if (choice.how == RunChoice::How::kGiven) {
      out.push_back(choice.index);
      continue;
    }
    const model::Resource& source = resources[choice.index];
    Json doc = choice.how == RunChoice::How::kForPipeline ? RunForPipeline(source)
                                                          : RunForTask(source, resources);
    model::Diagnostics diags;
    auto decoded = model::Decode({model::Document{"<generated run>", model::FromJson(doc)}}, diags);
    if (diags.HasErrors()) return Fail(diags.ErrorText());
    resources.push_back(std::move(decoded[0]));
    out.push_back(resources.size() - 1);
  }
  return out;
}

}  // namespace strake::app
