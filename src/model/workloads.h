// Kubernetes workload kinds as C++ values: apps/v1 Deployment, batch/v1
// Job and CronJob, v1 Pod and v1 Service, with the pod template they share, decoded strictly
// (unknown fields are errors with a suggestion; cluster-only fields are
// reported once as ignored) with the defaults Kubernetes documents. Plain
// values, copyable, thread-safe once built.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/cgroup.h"
#include "base/result.h"
#include "model/core.h"
#include "model/node.h"

namespace strake::model {

// A Kubernetes IntOrString such as maxSurge: "25%" or 1.
struct IntOrPercent {
  int value = 0;
  bool percent = false;
  // Resolves against `total`, rounding up (maxSurge) or down (maxUnavailable).
  int Resolve(int total, bool round_up) const;
};

// A Kubernetes quantity ("250m", "0.5", "128Mi", "1e3", "2G") in units of
// 1/`per_one` (1000: millicores; 1: bytes), rounded up, as the API server
// and the kubelet read it. Negative, malformed or too large: an error.
Result<int64_t> ParseQuantity(std::string_view s, int64_t per_one);

struct ContainerPort {
  std::string name;
  int container_port = 0;
};

struct Container {
  std::string name;
  std::string image;
  std::string image_pull_policy;  // Always, IfNotPresent, Never; "": Kubernetes' default
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::optional<Probe> readiness;
  std::optional<Probe> liveness;
  CgroupLimits resources;  // limits.cpu, limits.memory, requests.cpu
};

struct PodTemplate {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<Container> containers;
  int termination_grace_period_seconds = 30;
  std::vector<std::string> image_pull_secrets;  // the Secrets' names
};

struct Deployment {
  ObjectMeta meta;
  int replicas = 1;
  std::map<std::string, std::string> selector;
  PodTemplate pod;
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{25, true};
  int min_ready_seconds = 0;
  int revision_history_limit = 10;
  bool recreate = false;
};

// batch/v1 Job: its first container run to completion on the local target,
// retried up to backoffLimit times.
struct Job {
  ObjectMeta meta;
  PodTemplate pod;
  std::string restart_policy = "Never";  // Never or OnFailure (either way: a new attempt)
  int backoff_limit = 6;
  int active_deadline_seconds = 0;  // 0: none
};

// v1 Pod: its first container run as a process on the local target and
// restarted by its restartPolicy (Always, the default; OnFailure; Never),
// as the kubelet does.
struct Pod {
  ObjectMeta meta;
  PodTemplate pod;  // labels and annotations are the Pod's own, in meta
  std::string restart_policy = "Always";
  int active_deadline_seconds = 0;  // 0: none
};

// batch/v1 CronJob: Jobs made from its jobTemplate on its schedule
// (server/cronjobs.h).
struct CronJob {
  ObjectMeta meta;
  std::string schedule;                      // as written; valid (base/cron.h)
  std::string time_zone;                     // "": this machine's; else UTC
  std::string concurrency_policy = "Allow";  // Allow, Forbid or Replace
  bool suspend = false;
  int successful_jobs_history_limit = 3;
  int failed_jobs_history_limit = 1;
  int starting_deadline_seconds = 0;  // 0: none
  Job job;                            // the template's spec, as a Job's
};

struct ServicePort {
  std::string name;
  int port = 0;
  std::string target_port;  // a number or a container port's name
};

struct Service {
  ObjectMeta meta;
  std::map<std::string, std::string> selector;
  std::vector<ServicePort> ports;
  // spec.clusterIP as written: "" (allocated by strake) or an address of
  // 127.0.0.0/8, where the router listens for this Service.
  std::string cluster_ip;
};

// An object stored as written. A traffic provider's (Istio VirtualService
// and DestinationRule, SMI TrafficSplit, Ingress): the embedded router does
// the routing, and the Rollout controller keeps the weights of the routes a
// Rollout's trafficRouting names current (rollout/mesh.h), so mesh YAML
// runs unchanged with no mesh. Or one only a cluster acts on (RBAC,
// quotas, policies, namespaces, CRDs): stored, diffed and pruned, and acted
// on by nothing here.
struct StoredObject {
  ObjectMeta meta;
};

// Whether `text` is a dotted-quad IPv4 address of 127.0.0.0/8.
bool IsLoopbackIpv4(const std::string& text);

// Decoders for documents read back from the store (marks are zero, so an
// error names the field path only).
Result<Service> DecodeService(const Json& object);
Result<Deployment> DecodeDeployment(const Json& object);
Result<Job> DecodeJob(const Json& object);
Result<Pod> DecodePod(const Json& object);
Result<CronJob> DecodeCronJob(const Json& object);

}  // namespace strake::model
