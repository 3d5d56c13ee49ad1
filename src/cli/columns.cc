#include "cli/columns.h"

#include <fmt/format.h>

#include "base/duration.h"
#include "base/strings.h"

namespace strake::cli {

namespace {

// obj[key] when it is an object, else an empty object (a document may lack
// any part).
Json Part(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_object()) return Json::object();
  return obj[key];
}

Json Condition(const Json& status) {
  if (!status.is_object() || !status.contains("conditions")) return Json::object();
  const Json& c = status["conditions"];
  return c.is_array() && !c.empty() && c[0].is_object() ? c[0] : Json::object();
}

std::vector<std::string> RolloutRow(const std::string& name, const Json& spec, const Json& st) {
  std::string step =
      st.contains("currentStepIndex") ? std::to_string(st.value("currentStepIndex", 0)) : "-";
  int weight = Part(st, "canary").value("weight", 0);
  return {name,
          st.value("phase", "Pending"),
          st.value("stableRS", ""),
          st.value("currentPodHash", ""),
          step,
          fmt::format("{}", weight),
          fmt::format("{}/{}", st.value("readyReplicas", 0), spec.value("replicas", 1))};
}

std::vector<std::string> ApplicationRow(const std::string& name, const Json& spec, const Json& st) {
  const Json src = Part(spec, "source");
  const Json sync = Part(st, "sync");
  std::string sync_status = sync.value("status", "Unknown");
  if (Part(st, "operationState").value("phase", "") == "Running") sync_status += " (syncing)";
  bool automated = Part(spec, "syncPolicy").contains("automated");
  return {name,
          sync_status,
          Part(st, "health").value("status", "Unknown"),
          sync.value("revision", "").substr(0, 12),
          automated ? "Auto" : "Manual",
          src.value("repoURL", ""),
          src.value("path", "."),
          src.value("targetRevision", "HEAD")};
}

// Kargo's Ready condition, and the Freight made last.
std::vector<std::string> WarehouseRow(const std::string& name, const Json& st) {
  const Json ready = ConditionOfType(st, "Ready");
  return {name, ready.value("status", "Unknown"), st.value("lastFreightID", ""),
          ready.value("message", "")};
}

// Kargo's columns (alias, origin), and the first commit, short.
std::vector<std::string> FreightRow(const std::string& name, const Json& obj,
                                    const std::string& created) {
  const Json origin = Part(obj, "origin");
  const Json commits = obj.value("commits", Json::array());
  std::string commit;
  if (commits.is_array() && !commits.empty() && commits[0].is_object()) {
    commit = commits[0].value("tag", "");
    if (commit.empty()) commit = commits[0].value("id", "").substr(0, 7);
  }
  return {name, obj.value("alias", ""), origin.value("kind", "") + "/" + origin.value("name", ""),
          commit, created};
}

// The Stage's Freight, and how its last Promotion ended.
std::vector<std::string> StageRow(const std::string& name, const Json& st) {
  const Json last = Part(st, "lastPromotion");
  std::string current = st.value("freightSummary", "");
  const Json running = Part(st, "currentPromotion");
  std::string promotion = running.value("name", "");
  std::string phase = promotion.empty() ? Part(last, "status").value("phase", "") : "Running";
  if (promotion.empty()) promotion = last.value("name", "");
  // Its promotion windows (Kargo's promotionWindowStatus): none, open, or
  // closed until when.
  const Json window = Part(st, "promotionWindowStatus");
  std::string gate = window.empty() ? "" : "open";
  if (window.value("closed", false))
    gate = window.contains("nextOpen") ? "closed until " + window.value("nextOpen", "") : "closed";
  // A stopped line holds whatever the windows say.
  const Json lines = st.value("stopTheLine", Json::array());
  if (lines.is_array() && !lines.empty() && lines[0].is_object())
    gate = "line stopped: " + lines[0].value("reason", "");
  return {name, current, promotion, phase, gate};
}

std::string Ports(const Json& spec) {
  std::string ports;
  for (const auto& p : spec.value("ports", Json::array())) {
    ports += (ports.empty() ? "" : ",") + fmt::format("{}", p.value("port", 0));
  }
  return ports;
}

// A Service's address (its cluster IP, "<pending>" until allocated) and its
// Ready condition: Serving, or why it cannot.
std::vector<std::string> ServiceRow(const std::string& name, const Json& spec, const Json& st) {
  Json ready = Json::object();
  for (const auto& c : st.value("conditions", Json::array())) {
    if (c.is_object() && c.value("type", "") == "Ready") ready = c;
  }
  return {name, st.value("clusterIP", "<pending>"), Ports(spec), ready.value("reason", "Pending"),
          ready.value("message", "")};
}

// An Experiment's phase and its templates and analyses as "name:status".
std::vector<std::string> ExperimentRow(const std::string& name, const Json& st) {
  std::vector<std::string> templates, analyses;
  for (const auto& t : st.value("templateStatuses", Json::array())) {
    if (t.is_object()) templates.push_back(t.value("name", "") + ":" + t.value("status", ""));
  }
  for (const auto& a : st.value("analysisRuns", Json::array())) {
    std::string phase = a.is_object() ? a.value("phase", "") : "";
    if (a.is_object())
      analyses.push_back(a.value("name", "") + ":" + (phase.empty() ? "-" : phase));
  }
  return {name, st.value("phase", "Pending"), Join(templates, ","), Join(analyses, ","),
          st.value("message", "")};
}

// kubectl's pod columns: ready containers, the status it shows (a waiting
// or terminated container's reason, else the phase) and restarts.
std::vector<std::string> PodRow(const std::string& name, const Json& spec, const Json& st,
                                const std::string& created) {
  int ready = 0, restarts = 0;
  std::string shown = st.value("phase", "Pending");
  for (const auto& c : st.value("containerStatuses", Json::array())) {
    if (!c.is_object()) continue;
    ready += c.value("ready", false) ? 1 : 0;
    restarts += c.value("restartCount", 0);
    const Json state = Part(c, "state");
    for (const char* s : {"waiting", "terminated"}) {
      std::string reason = Part(state, s).value("reason", "");
      if (!reason.empty()) shown = reason;
    }
  }
  // The pod's own reason (Terminating, Evicted) is what kubectl shows.
  if (!st.value("reason", "").empty()) shown = st.value("reason", "");
  size_t total = spec.value("containers", Json::array()).size();
  return {name, fmt::format("{}/{}", ready, total), shown, fmt::format("{}", restarts), created};
}

// A pod's process: its pid, the port the local target gave it, and what
// runs it (a Rollout, Deployment or Job); "<none>" for what is not known.
std::vector<std::string> PodWide(const Json& obj) {
  const Json meta = Part(obj, "metadata"), st = Part(obj, "status");
  std::string pid = st.contains("pid") ? st["pid"].dump() : "<none>";
  std::string port = Part(meta, "annotations").value("strake.dev/port", "<none>");
  std::string owner = "<none>";
  const Json refs = meta.value("ownerReferences", Json::array());
  if (refs.is_array() && !refs.empty() && refs[0].is_object())
    owner = refs[0].value("kind", "") + "/" + refs[0].value("name", "");
  return {pid, port, owner};
}

}  // namespace

std::vector<std::string> Header(const model::KindInfo& k) {
  if (k.kind == "Rollout")
    return {"NAME", "STATUS", "STABLE", "CURRENT", "STEP", "CANARY-WEIGHT", "READY"};
  if (k.kind == "AnalysisRun") return {"NAME", "PHASE", "MESSAGE", "CREATED"};
  if (k.kind == "Experiment") return {"NAME", "STATUS", "TEMPLATES", "ANALYSES", "MESSAGE"};
  if (k.kind == "Deployment") return {"NAME", "STATUS", "READY", "UP-TO-DATE", "REVISION"};
  if (k.kind == "Service") return {"NAME", "CLUSTER-IP", "PORTS", "STATUS", "MESSAGE"};
  if (k.kind == "Pod") return {"NAME", "READY", "STATUS", "RESTARTS", "CREATED"};
  if (k.kind == "CronJob") return {"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST-SCHEDULE"};
  if (k.kind == "Application")
    return {"NAME", "SYNC", "HEALTH", "REVISION", "SYNCPOLICY", "REPO", "PATH", "TARGET"};
  if (k.kind == "Repository") return {"NAME", "URL", "STATUS", "BRANCHES", "LAST-FETCH"};
  if (k.kind == "Warehouse") return {"NAME", "READY", "LAST-FREIGHT", "MESSAGE"};
  if (k.kind == "Freight") return {"NAME", "ALIAS", "ORIGIN", "COMMIT", "CREATED"};
  if (k.kind == "Stage") return {"NAME", "FREIGHT", "PROMOTION", "PHASE", "WINDOW"};
  if (k.kind == "Promotion") return {"NAME", "STAGE", "FREIGHT", "PHASE", "CREATED"};
  if (k.kind == "Incident") return {"NAME", "PHASE", "OPENED", "CLOSED", "DEPLOYMENT", "TITLE"};
  if (k.kind == "PullRequest") return {"NAME", "STATE", "FROM", "INTO", "TITLE", "REPO"};
  if (k.kind == "Attestation") return {"NAME", "RUN", "SUBJECTS", "KEY", "CREATED"};
  if (k.kind == "PipelineRun" || k.kind == "TaskRun")
    return {"NAME", "STARTED", "DURATION", "STATUS"};
  return {"NAME", "CREATED"};
}

std::vector<std::string> Row(const model::KindInfo& k, const Json& obj, TimePoint now) {
  const Json meta = Part(obj, "metadata"), spec = Part(obj, "spec"), st = Part(obj, "status");
  std::string name = meta.value("name", "");
  std::string created = meta.value("creationTimestamp", "");
  if (k.kind == "Rollout") return RolloutRow(name, spec, st);
  if (k.kind == "AnalysisRun")
    return {name, st.value("phase", "Pending"), st.value("message", ""), created};
  if (k.kind == "Experiment") return ExperimentRow(name, st);
  if (k.kind == "Deployment") {
    return {name, st.value("phase", "Pending"),
            fmt::format("{}/{}", st.value("readyReplicas", 0), spec.value("replicas", 1)),
            fmt::format("{}", st.value("updatedReplicas", 0)), st.value("currentHash", "")};
  }
  if (k.kind == "Service") return ServiceRow(name, spec, st);
  if (k.kind == "Pod") return PodRow(name, spec, st, created);
  if (k.kind == "CronJob") {
    return {name, spec.value("schedule", ""), spec.value("suspend", false) ? "True" : "False",
            fmt::format("{}", st.value("active", Json::array()).size()),
            st.value("lastScheduleTime", "<none>")};
  }
  if (k.kind == "Application") return ApplicationRow(name, spec, st);
  if (k.kind == "Repository") {
    return {name, spec.value("url", ""), st.value("phase", "Pending"),
            fmt::format("{}", Part(st, "branches").size()), st.value("lastFetchTime", "")};
  }
  if (k.kind == "Warehouse") return WarehouseRow(name, st);
  if (k.kind == "Freight") return FreightRow(name, obj, created);
  if (k.kind == "Stage") return StageRow(name, st);
  if (k.kind == "Promotion") {
    return {name, spec.value("stage", ""), spec.value("freight", ""), st.value("phase", ""),
            created};
  }
  if (k.kind == "Incident") {
    // Not linked yet: the status's message says why.
    return {name,
            st.value("phase", "Open"),
            st.value("openedAt", spec.value("openedAt", "")),
            st.value("closedAt", "-"),
            st.value("deployment", "-"),
            spec.value("title", "")};
  }
  if (k.kind == "Attestation") {
    // Which run it signs, what it built (the first subject, and how many
    // more), and which key signed it.
    const Json run = Part(spec, "run");
    const Json subjects = spec.value("subjects", Json::array());
    std::string built = "-";
    if (subjects.is_array() && !subjects.empty() && subjects[0].is_object()) {
      built = subjects[0].value("name", "");
      if (subjects.size() > 1) built += fmt::format(" (+{})", subjects.size() - 1);
    }
    return {name, run.value("kind", "") + "/" + run.value("name", ""), built,
            spec.value("keyID", "").substr(0, 16), created};
  }
  if (k.kind == "PullRequest") {
    return {name,
            st.value("state", ""),
            spec.value("sourceBranch", ""),
            spec.value("targetBranch", ""),
            spec.value("title", ""),
            spec.value("repoURL", "")};
  }
  if (k.kind == "PipelineRun" || k.kind == "TaskRun")
    return {name, st.value("startTime", ""), RunDuration(st, now), RunReason(st)};
  return {name, created};
}

namespace {

// app=web,tier=front of a selector's matchLabels (or a Service's selector).
std::string Labels(const Json& labels) {
  std::vector<std::string> out;
  if (!labels.is_object()) return "";
  for (const auto& [k, v] : labels.items())
    out.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  return Join(out, ",");
}

std::vector<std::string> WorkloadWide(const Json& spec) {
  std::vector<std::string> names, images;
  const Json pod = Part(Part(spec, "template"), "spec");
  for (const auto& c : pod.value("containers", Json::array())) {
    if (!c.is_object()) continue;
    names.push_back(c.value("name", ""));
    images.push_back(c.value("image", ""));
  }
  return {Join(names, ","), Join(images, ","), Labels(Part(Part(spec, "selector"), "matchLabels"))};
}

}  // namespace

std::vector<std::string> WideHeader(const model::KindInfo& k) {
  if (k.kind == "Rollout" || k.kind == "Deployment" || k.kind == "Job")
    return {"CONTAINERS", "IMAGES", "SELECTOR"};
  if (k.kind == "Service") return {"SELECTOR"};
  if (k.kind == "PipelineRun") return {"PIPELINE", "MESSAGE"};
  if (k.kind == "TaskRun") return {"TASK", "MESSAGE"};
  if (k.kind == "Pod") return {"PID", "PORT", "OWNER"};
  return {};
}

std::vector<std::string> WideRow(const model::KindInfo& k, const Json& obj) {
  const Json spec = Part(obj, "spec"), st = Part(obj, "status");
  if (k.kind == "Rollout" || k.kind == "Deployment" || k.kind == "Job") return WorkloadWide(spec);
  if (k.kind == "Service") return {Labels(spec.value("selector", Json::object()))};
  if (k.kind == "PipelineRun" || k.kind == "TaskRun") {
    const char* ref = k.kind == "PipelineRun" ? "pipelineRef" : "taskRef";
    std::string what = Part(spec, ref).value("name", "");
    return {what.empty() ? "(embedded)" : what, RunMessage(st)};
  }
  if (k.kind == "Pod") return PodWide(obj);
  return {};
}

Json ConditionOfType(const Json& status, std::string_view type) {
  if (!status.is_object() || !status.contains("conditions")) return Json::object();
  const Json& all = status["conditions"];
  if (!all.is_array()) return Json::object();
  Json found = Json::object();
  for (const auto& c : all)
    if (c.is_object() && c.value("type", "") == type) found = c;
  return found;
}

std::string RunReason(const Json& status) { return Condition(status).value("reason", "Unknown"); }

std::string RunConditionStatus(const Json& status) {
  return Condition(status).value("status", "Unknown");
}

std::string RunMessage(const Json& status) { return Condition(status).value("message", ""); }

std::string RunDuration(const Json& status, TimePoint now) {
  if (!status.is_object()) return "---";
  if (status.contains("durationMs") && status["durationMs"].is_number_integer())
    return FormatDuration(Millis(status["durationMs"].get<int64_t>()));
  auto start = ParseRfc3339(status.value("startTime", ""));
  if (!start) return "---";
  auto end = ParseRfc3339(status.value("completionTime", "")).value_or(now);
  return FormatDuration(std::chrono::duration_cast<Millis>(end - *start));
}

}  // namespace strake::cli
