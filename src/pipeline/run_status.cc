#include "pipeline/run_status.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/duration.h"
#include "base/strings.h"
#include "model/decode.h"
#include "pipeline/resolve.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

namespace {

const char* const kApiVersion = "tekton.dev/v1";

// An object a PipelineRun made: its kind, name and namespace, its labels, and
// the run as its controller owner (Kubernetes' garbage collection, Tekton's
// ownership).
Json OwnedObject(const char* kind, const TaskRunJob& j,
                 const std::map<std::string, std::string>& labels, const std::string& owner_uid) {
  return {{"apiVersion", kApiVersion},
          {"kind", kind},
          {"metadata",
           {{"name", j.name},
            {"namespace", j.ns},
            {"labels", labels},
            {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                              {"kind", "PipelineRun"},
                                              {"name", j.pipeline_run},
                                              {"uid", owner_uid},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}})}}}};
}

bool HasCondition(const Json& status) {
  return status.is_object() && status.contains("conditions") && !status["conditions"].empty();
}

}  // namespace

Json Condition(const std::string& status, const std::string& reason, const std::string& message,
               TimePoint now) {
  return Json::array({{{"type", "Succeeded"},
                       {"status", status},
                       {"lastTransitionTime", FormatRfc3339(now)},
                       {"reason", reason},
                       {"message", message}}});
}

std::string ConditionReason(const Json& status) {
  return HasCondition(status) ? status["conditions"][0].value("reason", "") : "";
}

std::string ConditionStatus(const Json& status) {
  return HasCondition(status) ? status["conditions"][0].value("status", "Unknown") : "Unknown";
}

Json SkippedTasks(const RunState& run) {
  Json skipped = Json::array();
  for (bool fin : {false, true}) {
    const auto& list = fin ? run.finally : run.tasks;
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].facts.state != TaskState::kSkipped) continue;
      const model::PipelineTask& pt = run.PTask(fin, i);
      Json s = {{"name", pt.name}, {"reason", std::string(list[i].facts.skip_reason)}};
      if (!pt.when.empty() && list[i].facts.skip_reason == skip::kWhen) {
        Json whens = Json::array();
        for (const auto& w : pt.when)
          whens.push_back({{"input", w.input}, {"operator", w.op}, {"values", w.values}});
        s["whenExpressions"] = whens;
      }
      skipped.push_back(s);
    }
  }
  return skipped;
}

Json ChildReferences(const RunState& run) {
  Json refs = Json::array();
  for (bool fin : {false, true}) {
    const auto& list = fin ? run.finally : run.tasks;
    for (size_t i = 0; i < list.size(); ++i) {
      for (const auto& c : list[i].children) {
        if (!c.created || c.reason == "CreateRunFailed") continue;  // none was made
        refs.push_back({{"apiVersion", kApiVersion},
                        {"kind", run.PTask(fin, i).RunsPipeline() ? "PipelineRun" : "TaskRun"},
                        {"name", c.name},
                        {"pipelineTaskName", run.PTask(fin, i).name}});
      }
    }
  }
  return refs;
}

Json PipelineResults(const RunState& run) {
  Json results = Json::array();
  Vars v = TaskVars(run, false, nullptr);
  for (const auto& r : run.spec.results) {
    auto val = SubstituteValue(r.value, v);
    if (!val) continue;
    bool unresolved = false;
    for (const auto& ref : FindReferences(val->str)) unresolved |= StartsWith(ref.base, "tasks.");
    if (!unresolved) results.push_back({{"name", r.name}, {"value", val->ToJson()}});
  }
  return results;
}

RunOutcome FinalOutcome(const RunState& run, const Outcome& planned) {
  RunOutcome out{planned.succeeded, planned.reason, CompletionMessage(run.facts)};
  if (!run.failure_reason.empty() && !out.succeeded) {
    out.reason = run.failure_reason;
    out.message = run.failure_message;
  } else if (out.reason == "PipelineRunTimeout") {
    out.message = fmt::format("PipelineRun \"{}\" failed to finish within \"{}\"", run.name,
                              FormatDuration(run.timeouts.pipeline.value_or(model::Millis(0))));
  } else if (out.reason == "Cancelled") {
    out.message = fmt::format("PipelineRun \"{}\" was cancelled", run.name);
  }
  return out;
}

RunStatusUpdate StatusUpdate(const RunState& run, const Plan& plan, bool done) {
  RunStatusUpdate u;
  u.skipped_tasks = SkippedTasks(run);
  u.finally_start_ms = run.finally_start_ms;
  if (done) {
    u.outcome = FinalOutcome(run, plan.outcome);
    u.child_references = ChildReferences(run);
    u.results = PipelineResults(run);
  }
  return u;
}

Json UpdatedStatus(Json status, const RunStatusUpdate& u, TimePoint now) {
  status["skippedTasks"] = u.skipped_tasks;
  if (u.finally_start_ms) {
    status["finallyStartTimeMs"] = *u.finally_start_ms;
    status["finallyStartTime"] = FormatRfc3339(FromUnixMillis(*u.finally_start_ms));
  }
  if (u.outcome) {
    status["conditions"] = Condition(u.outcome->succeeded ? "True" : "False", u.outcome->reason,
                                     u.outcome->message, now);
    status["completionTime"] = FormatRfc3339(now);
    // To the millisecond, as a TaskRun's (the times above are in seconds).
    auto start = status.find("startTimeMs");
    if (start != status.end() && start->is_number_integer())
      status["durationMs"] = std::max<int64_t>(0, UnixMillis(now) - start->get<int64_t>());
    status["childReferences"] = u.child_references;
    if (!u.results.empty()) status["results"] = u.results;
  }
  return status;
}

store::Resource TaskRunResource(const NewTaskRun& n, TimePoint now,
                                const std::function<std::string(const std::string&)>& log_path) {
  const TaskRunJob& j = n.job;
  store::Resource tr;
  tr.key = {"TaskRun", j.ns, j.name};
  tr.uid = j.uid;
  tr.owner = j.pipeline_run_uid;
  tr.labels = {{"tekton.dev/pipelineRun", j.pipeline_run},
               {"tekton.dev/pipelineTask", j.pipeline_task},
               {"tekton.dev/memberOf", n.is_finally ? "finally" : "tasks"},
               {"app.kubernetes.io/managed-by", "strake"}};
  if (!j.pipeline.empty()) tr.labels["tekton.dev/pipeline"] = j.pipeline;
  if (j.task_name != j.pipeline_task) tr.labels["tekton.dev/task"] = j.task_name;
  if (n.matrix_index >= 0) tr.labels["strake.dev/matrixIndex"] = std::to_string(n.matrix_index);
  Json spec = {{"params", model::EncodeParams(j.params)}, {"serviceAccountName", "default"}};
  if (j.timeout) spec["timeout"] = FormatDuration(*j.timeout);
  if (j.retries) spec["retries"] = j.retries;
  Json ws = Json::array();
  for (const auto& w : j.workspaces) ws.push_back({{"name", w.name}, {"emptyDir", Json::object()}});
  spec["workspaces"] = ws;
  tr.object = OwnedObject("TaskRun", j, tr.labels, j.pipeline_run_uid);
  tr.object["spec"] = spec;
  Json steps = Json::array();
  for (size_t s = 0; s < j.spec.steps.size(); ++s) {
    const std::string& name = j.spec.steps[s].name;
    std::string container = name.empty() ? "step-unnamed-" + std::to_string(s) : "step-" + name;
    steps.push_back({{"name", name},
                     {"container", container},
                     {"running", {{"startedAt", FormatRfc3339(now)}}},
                     {"log", log_path(container)}});
  }
  tr.status = {{"conditions", Condition("Unknown", "Running",
                                        "Not all Steps in the Task have finished executing", now)},
               {"startTime", FormatRfc3339(now)},
               {"podName", ""},
               {"steps", steps}};
  return tr;
}

namespace {

// The child's workspace bindings, as Tekton writes them: the parent's
// binding of the workspace the task passes, under the child's name, with
// the subPath the task adds (the child runs in the parent's directories
// whatever the binding's kind: see InheritWorkspaces).
Json ChildWorkspaces(const NewTaskRun& n, const Json& parent_spec, const Json& task) {
  Json out = Json::array();
  for (const auto& m : n.job.workspaces) {
    std::string parent_ws = m.name;
    for (const auto& b : task.value("workspaces", Json::array()))
      if (b.value("name", "") == m.name) parent_ws = b.value("workspace", m.name);
    Json binding = {{"emptyDir", Json::object()}};
    for (const auto& b : parent_spec.value("workspaces", Json::array()))
      if (b.value("name", "") == parent_ws) binding = b;
    binding["name"] = m.name;
    binding.erase("subPath");
    if (!m.sub_path.empty()) binding["subPath"] = m.sub_path;
    out.push_back(std::move(binding));
  }
  return out;
}

}  // namespace

store::Resource ChildPipelineRunResource(const NewTaskRun& n, const store::Resource& parent,
                                         TimePoint now) {
  const TaskRunJob& j = n.job;
  const char* list = n.is_finally ? "finally" : "tasks";
  Json task = Json::object();
  if (parent.status.contains("pipelineSpec")) {
    for (const auto& t : parent.status["pipelineSpec"].value(list, Json::array()))
      if (t.value("name", "") == j.pipeline_task) task = t;
  }
  const Json carried = parent.status.value("strake", Json::object());
  const Json names =
      carried.value("childPipelines", Json::object()).value(j.pipeline_task, Json::object());
  const std::string pipeline = names.value("pipeline", "");
  const Json parent_spec = parent.object.value("spec", Json::object());

  store::Resource r;
  r.key = {"PipelineRun", j.ns, j.name};
  r.uid = j.uid;
  r.owner = parent.uid;
  // Tekton's: the parent's labels, and which run and task made it.
  r.labels = parent.labels;
  r.labels.erase("tekton.dev/pipeline");
  r.labels["tekton.dev/pipelineRun"] = j.pipeline_run;
  r.labels["tekton.dev/pipelineTask"] = j.pipeline_task;
  r.labels["tekton.dev/memberOf"] = list;
  if (!pipeline.empty()) r.labels["tekton.dev/pipeline"] = pipeline;
  Json spec = {{"params", model::EncodeParams(j.params)},
               {"workspaces", ChildWorkspaces(n, parent_spec, task)}};
  if (!pipeline.empty())
    spec["pipelineRef"] = {{"name", pipeline}};
  else
    spec["pipelineSpec"] = task.value("pipelineSpec", Json::object());
  if (j.timeout) spec["timeouts"] = {{"pipeline", FormatDuration(*j.timeout)}};
  if (parent_spec.contains("taskRunTemplate"))
    spec["taskRunTemplate"] = parent_spec["taskRunTemplate"];
  r.object = OwnedObject("PipelineRun", j, r.labels, parent.uid);
  r.object["spec"] = spec;
  Json strake = {{"taskNames", names.value("taskNames", Json::object())}, {"pipeline", pipeline}};
  if (names.contains("childPipelines")) strake["childPipelines"] = names["childPipelines"];
  for (const char* carried_key :
       {"configMaps", "secrets", "credentials", "pullSecrets", "stepActions", "executor"}) {
    if (carried.contains(carried_key)) strake[carried_key] = carried[carried_key];
  }
  r.status = {
      {"conditions", Condition("Unknown", "Running",
                               "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0", now)},
      {"startTime", FormatRfc3339(now)},
      {"startTimeMs", UnixMillis(now)},
      {"pipelineSpec", task.value("pipelineSpec", Json::object())},
      {"strake", std::move(strake)}};
  return r;
}

Json TaskRunFinalStatus(const TaskRunOutcome& outcome, int64_t start_ms, int64_t took_ms,
                        const Json& retries_status, TimePoint now) {
  Json steps = Json::array();
  for (const auto& s : outcome.steps) {
    Json terminated = {{"exitCode", s.exit_code}, {"reason", s.reason}};
    if (s.started_ms) terminated["startedAt"] = FormatRfc3339(FromUnixMillis(s.started_ms));
    if (s.finished_ms) terminated["finishedAt"] = FormatRfc3339(FromUnixMillis(s.finished_ms));
    if (!s.message.empty()) terminated["message"] = s.message;
    std::string step_name = StartsWith(s.name, "step-") ? s.name.substr(5) : s.name;
    Json step = {{"name", step_name}, {"container", s.name}, {"terminated", terminated}};
    auto log = outcome.logs.find(s.name);
    if (log != outcome.logs.end()) step["log"] = log->second;
    auto id = outcome.image_ids.find(s.name);
    if (id != outcome.image_ids.end()) step["imageID"] = id->second;
    steps.push_back(step);
  }
  Json results = Json::array();
  for (const auto& r : outcome.results) {
    results.push_back({{"name", r.name},
                       {"type", model::ParamTypeName(r.value.type)},
                       {"value", r.value.ToJson()}});
  }
  Json status = {{"conditions", Condition(outcome.succeeded ? "True" : "False", outcome.reason,
                                          outcome.message, now)},
                 {"startTime", FormatRfc3339(FromUnixMillis(start_ms))},
                 {"completionTime", FormatRfc3339(now)},
                 {"durationMs", took_ms},
                 {"podName", ""},
                 {"steps", steps},
                 {"results", results}};
  if (!outcome.artifacts.empty()) {
    Json artifacts = Json::parse(outcome.artifacts, nullptr, false);
    if (artifacts.is_object()) status["artifacts"] = std::move(artifacts);
  }
  if (!retries_status.empty()) status["retriesStatus"] = retries_status;
  if (!outcome.cache_key.empty()) status["cacheKey"] = outcome.cache_key;
  if (!outcome.ignored_images.empty())
    status["strake"] = {{"ignoredImages", outcome.ignored_images}};
  return status;
}

Json RetryStatus(const TaskRunOutcome& outcome, TimePoint attempt_start, TimePoint now) {
  return {{"conditions", Condition("False", outcome.reason, outcome.message, now)},
          {"startTime", FormatRfc3339(attempt_start)},
          {"completionTime", FormatRfc3339(now)}};
}

Json RetryingStatus(const TaskRunOutcome& failed, const Json& retries_status, TimePoint now) {
  return {{"conditions",
           Condition("Unknown", "Running", fmt::format("retrying after: {}", failed.message), now)},
          {"startTime", FormatRfc3339(now)},
          {"retriesStatus", retries_status}};
}

}  // namespace strake::pipeline
