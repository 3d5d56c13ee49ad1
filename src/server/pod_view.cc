#include "server/pod_view.h"

#include <fmt/format.h>

#include <utility>

namespace strake::server {

namespace {

using model::Json;

// The pod template of a workload or Job object: its labels and first
// container's name.
struct TemplateView {
  Json labels = Json::object();
  std::string container = "main";
};

// `j[key]` when both are what they should be; else null (a stored field may
// be null: `metadata:` with nothing under it).
const Json& At(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

TemplateView TemplateOf(const Json& owner) {
  TemplateView t;
  const Json& tmpl = At(At(owner, "spec"), "template");
  const Json& labels = At(At(tmpl, "metadata"), "labels");
  if (labels.is_object()) t.labels = labels;
  const Json& containers = At(At(tmpl, "spec"), "containers");
  if (containers.is_array() && !containers.empty() && At(containers[0], "name").is_string())
    t.container = containers[0]["name"].get<std::string>();
  return t;
}

Json PodShell(const std::string& name, const std::string& ns, Json labels, const Json& owner_ref,
              const std::string& process, const std::string& container) {
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", name},
                {"namespace", ns},
                {"labels", std::move(labels)},
                {"annotations", {{kProcessAnnotation, process}}}}},
              {"spec", {{"containers", Json::array({{{"name", container}}})}}}};
  if (owner_ref.is_object()) pod["metadata"]["ownerReferences"] = Json::array({owner_ref});
  return pod;
}

Json ContainerStatus(const std::string& name, bool ready, int restarts, Json state) {
  return {
      {"name", name}, {"ready", ready}, {"restartCount", restarts}, {"state", std::move(state)}};
}

Json ReadyCondition(bool ready) {
  return Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
}

}  // namespace

Json ReplicaPod(const rollout::ReplicaProcess& r, const Json& owner) {
  TemplateView t = TemplateOf(owner);
  t.labels["pod-template-hash"] = r.hash;
  Json owner_ref;  // none for a replica whose workload is gone
  if (owner.is_object()) {
    owner_ref = {{"apiVersion", At(owner, "apiVersion")},
                 {"kind", At(owner, "kind")},
                 {"name", r.workload},
                 {"controller", true}};
  }
  Json pod = PodShell(fmt::format("{}-{}-{}", r.workload, r.hash, r.index), r.ns, t.labels,
                      owner_ref, "replica", t.container);
  if (r.port) pod["metadata"]["annotations"][kPortAnnotation] = std::to_string(r.port);
  Json state;
  std::string phase = "Running";
  if (r.state == "Starting") {
    phase = "Pending";
    state = {{"waiting", {{"reason", "ContainerCreating"}}}};
  } else if (r.state == "CrashLoopBackOff") {
    state = {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", r.message}}}};
  } else if (r.state == "Failed") {
    phase = "Failed";
    state = {{"terminated", {{"reason", "Error"}, {"message", r.message}}}};
  } else {
    state = {{"running", Json::object()}};
  }
  Json& st = pod["status"];
  st = {{"phase", phase},
        {"podIP", "127.0.0.1"},
        {"conditions", ReadyCondition(r.ready)},
        {"containerStatuses",
         Json::array({ContainerStatus(t.container, r.ready, r.restarts, std::move(state))})}};
  if (r.pid > 0) st["pid"] = r.pid;
  if (r.state == "Terminating") st["reason"] = "Terminating";
  return pod;
}

std::vector<Json> JobPods(const store::Resource& job) {
  std::vector<Json> out;
  TemplateView t = TemplateOf(job.object);
  t.labels["job-name"] = job.key.name;
  t.labels["batch.kubernetes.io/job-name"] = job.key.name;
  const Json owner = {{"apiVersion", "batch/v1"},
                      {"kind", "Job"},
                      {"name", job.key.name},
                      {"uid", job.uid},
                      {"controller", true}};
  const Json& st = job.status;
  if (!st.is_object()) return out;
  auto count = [&](const char* key) {
    const Json& v = At(st, key);
    return v.is_number_integer() ? v.get<int>() : 0;
  };
  int failed = count("failed");
  auto attempt = [&](int n, const std::string& phase, Json state) {
    Json pod = PodShell(fmt::format("{}-{}", job.key.name, n), job.key.ns, t.labels, owner,
                        "job-attempt", t.container);
    pod["status"] = {
        {"phase", phase},
        {"conditions", ReadyCondition(phase == "Running")},
        {"containerStatuses",
         Json::array({ContainerStatus(t.container, phase == "Running", 0, std::move(state))})}};
    return pod;
  };
  for (int n = 0; n < failed; ++n) {
    out.push_back(attempt(n, "Failed", {{"terminated", {{"reason", "Error"}}}}));
  }
  if (count("active") > 0) {
    Json pod = attempt(failed, "Running", {{"running", Json::object()}});
    if (st.contains("pid")) pod["status"]["pid"] = st["pid"];
    pod["status"]["podIP"] = "127.0.0.1";
    out.push_back(std::move(pod));
  } else if (count("succeeded") > 0) {
    out.push_back(
        attempt(failed, "Succeeded", {{"terminated", {{"reason", "Completed"}, {"exitCode", 0}}}}));
  }
  return out;
}

}  // namespace strake::server
