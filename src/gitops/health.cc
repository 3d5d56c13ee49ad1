#include "gitops/health.h"

#include <fmt/format.h>

#include "base/strings.h"

namespace strake::gitops {

const char* HealthName(Health h) {
  switch (h) {
    case Health::kHealthy:
      return "Healthy";
    case Health::kSuspended:
      return "Suspended";
    case Health::kProgressing:
      return "Progressing";
    case Health::kMissing:
      return "Missing";
    case Health::kDegraded:
      return "Degraded";
    case Health::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

Health Worse(Health a, Health b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

namespace {

// Argo CD's Pod health: a Pod that restarts (Always) is healthy once ready
// and degraded when a container waits on an error or back-off; one with a
// finite life (OnFailure, Never: a hook's) is progressing until it ends,
// healthy when it succeeded, degraded when it failed.
Health PodHealth(const std::string& restart_policy, const model::Json& st, std::string* message) {
  auto say = [&](Health h, const std::string& why) {
    if (message) *message = why;
    return h;
  };
  const model::Json containers = st.value("containerStatuses", model::Json::array());
  std::string phase = st.value("phase", "");
  std::string msg = st.value("message", "");
  if (restart_policy == "Always") {
    std::string waiting;
    for (const auto& c : containers) {
      const model::Json w = c.value("state", model::Json::object()).value("waiting", model::Json());
      if (!w.is_object()) continue;
      std::string reason = w.value("reason", "");
      if (StartsWith(reason, "Err") || EndsWith(reason, "Error") || EndsWith(reason, "BackOff"))
        waiting += (waiting.empty() ? "" : ", ") + w.value("message", "");
    }
    if (!waiting.empty()) return say(Health::kDegraded, waiting);
  }
  if (phase == "Pending") return say(Health::kProgressing, msg);
  if (phase == "Succeeded") return say(Health::kHealthy, msg);
  if (phase == "Failed") {
    if (!msg.empty()) return say(Health::kDegraded, msg);
    for (const auto& c : containers) {
      const model::Json t =
          c.value("state", model::Json::object()).value("terminated", model::Json());
      if (t.is_object() && t.value("exitCode", 0) != 0) {
        return say(Health::kDegraded, fmt::format("container \"{}\" failed with exit code {}",
                                                  c.value("name", ""), t.value("exitCode", 0)));
      }
    }
    return say(Health::kDegraded, "");
  }
  if (phase == "Running") {
    if (restart_policy != "Always") return say(Health::kProgressing, msg);
    for (const auto& c : st.value("conditions", model::Json::array())) {
      if (c.value("type", "") == "Ready" && c.value("status", "") == "True")
        return say(Health::kHealthy, msg);
    }
    for (const auto& c : containers) {
      if (c.value("lastState", model::Json::object()).contains("terminated"))
        return say(Health::kDegraded, msg);
    }
    return say(Health::kProgressing, msg);
  }
  return say(Health::kUnknown, msg);
}

}  // namespace

Health HealthOf(const std::string& kind, const model::Json& status, int64_t generation,
                std::string* message) {
  return ObjectHealth(kind, model::Json::object(), status, generation, message);
}

Health ObjectHealth(const std::string& kind, const model::Json& object, const model::Json& status,
                    int64_t generation, std::string* message) {
  auto say = [&](Health h, const std::string& why) {
    if (message) *message = why;
    return h;
  };
  const model::Json st = status.is_object() ? status : model::Json::object();
  std::string phase = st.value("phase", "");
  std::string msg = st.value("message", "");
  if (kind == "Rollout") {
    if (st.contains("observedGeneration") && st["observedGeneration"].is_number() &&
        st["observedGeneration"].get<int64_t>() < generation) {
      return say(Health::kProgressing, "waiting for the rollout spec update to be observed");
    }
    if (phase == "Healthy") return say(Health::kHealthy, msg);
    if (phase == "Paused") return say(Health::kSuspended, msg.empty() ? "paused" : msg);
    if (phase == "Degraded") return say(Health::kDegraded, msg);
    return say(Health::kProgressing, msg);
  }
  if (kind == "Deployment") {
    if (st.contains("observedGeneration") && st["observedGeneration"].is_number() &&
        st["observedGeneration"].get<int64_t>() < generation) {
      return say(Health::kProgressing, "waiting for the deployment spec update to be observed");
    }
    if (phase == "Available") return say(Health::kHealthy, msg);
    if (phase == "Degraded") return say(Health::kDegraded, msg);
    return say(Health::kProgressing, msg);
  }
  if (kind == "Job") {
    // Argo CD's: Complete is healthy, Failed degraded, else progressing.
    for (const auto& c : st.value("conditions", model::Json::array())) {
      if (c.value("status", "") != "True") continue;
      if (c.value("type", "") == "Complete") return say(Health::kHealthy, c.value("message", ""));
      if (c.value("type", "") == "Failed") return say(Health::kDegraded, c.value("message", ""));
    }
    return say(Health::kProgressing, st.value("active", 0) > 0 ? "running" : "");
  }
  if (kind == "Pod") {
    const model::Json spec =
        object.is_object() ? object.value("spec", model::Json::object()) : model::Json::object();
    std::string policy = spec.is_object() ? spec.value("restartPolicy", "Always") : "Always";
    return PodHealth(policy, st, message);
  }
  if (kind == "AnalysisRun" || kind == "Experiment") {  // the same phases
    if (phase == "Successful") return say(Health::kHealthy, msg);
    if (phase == "Failed" || phase == "Error") return say(Health::kDegraded, msg);
    if (phase == "Inconclusive") return say(Health::kSuspended, msg);
    return say(Health::kProgressing, msg);
  }
  if (kind == "Application") {
    const model::Json h = st.value("health", model::Json::object());
    std::string s = h.is_object() ? h.value("status", "") : "";
    for (Health x : {Health::kHealthy, Health::kSuspended, Health::kProgressing, Health::kMissing,
                     Health::kDegraded}) {
      if (s == HealthName(x)) return say(x, h.value("message", ""));
    }
    return say(Health::kUnknown, "");
  }
  if (kind == "PipelineRun" || kind == "TaskRun") {
    // Tekton's Succeeded condition: True, False, or Unknown while running.
    const model::Json conds = st.value("conditions", model::Json::array());
    const model::Json c = conds.is_array() && !conds.empty() ? conds[0] : model::Json::object();
    std::string s = c.is_object() ? c.value("status", "Unknown") : "Unknown";
    std::string m = c.is_object() ? c.value("message", "") : "";
    if (s == "True") return say(Health::kHealthy, m);
    if (s == "False") return say(Health::kDegraded, m);
    return say(Health::kProgressing, m);
  }
  // Services, ConfigMaps, Secrets, templates, pipelines: healthy once they exist.
  return say(Health::kHealthy, "");
}

}  // namespace strake::gitops
