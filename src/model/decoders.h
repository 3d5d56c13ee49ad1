// The decoder of each kind, for decode.cc's dispatch table, and the part
// decoders that several kinds share. Internal to model/: each kind's
// decoder lives beside its types (tekton.cc, workloads.cc, rollouts.cc,
// gitops.cc, kargo.cc); decode.cc reads metadata and dispatches on the kind.
#pragma once

#include <map>
#include <set>
#include <string>

#include "model/diag.h"
#include "model/fields.h"
#include "model/node.h"
#include "model/resource.h"

namespace strake::model {

// A decoder of one kind: fills r.value from the document's fields (r.meta
// is decoded already); false when the document is too broken to yield a
// resource.
using KindDecoder = bool (*)(Ctx& ctx, Fields& f, Resource& r);

// The body of the kinds that have one `spec`: r.value = decode(spec).
template <typename Fn>
bool WithSpec(Fields& f, Resource& r, Fn decode) {
  const Node* spec = f.Need("spec");
  if (!spec) return false;
  r.value = decode(*spec);
  return true;
}

// A value decoded again from the JSON the store holds (marks are zero, so
// an error names the field path only).
template <typename T, typename Fn>
Result<T> FromStoredJson(const Json& j, Fn decode) {
  Diagnostics diags;
  std::string file = "(stored)";
  Ctx ctx(file, diags);
  Node n = FromJson(j);
  T out = decode(ctx, n);
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  return out;
}

// Tekton (tekton.cc).
bool DecodeTaskKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodePipelineKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodePipelineRunKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeTaskRunKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeStepActionKind(Ctx& ctx, Fields& f, Resource& r);

// Kubernetes workloads (workloads.cc).
Probe DecodeProbe(Ctx& ctx, const Node& n, const std::string& path);
bool DecodeDeploymentKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeJobKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodePodKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeCronJobKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeServiceKind(Ctx& ctx, Fields& f, Resource& r);

// Argo Rollouts (rollouts.cc); ClusterAnalysisTemplate too.
bool DecodeRolloutKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeAnalysisRunKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeAnalysisTemplateKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeExperimentKind(Ctx& ctx, Fields& f, Resource& r);

// Argo CD (gitops.cc).
bool DecodeApplicationKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeRepositoryKind(Ctx& ctx, Fields& f, Resource& r);

// strake's Incident (incidents.cc): stored as written once its spec checks.
bool DecodeIncidentKind(Ctx& ctx, Fields& f, Resource& r);

// Kargo (kargo.cc).
bool DecodeProjectKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeWarehouseKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeFreightKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeStageKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodePromotionKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeProjectConfigKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodeClusterConfigKind(Ctx& ctx, Fields& f, Resource& r);
bool DecodePromotionTaskKind(Ctx& ctx, Fields& f, Resource& r);  // and ClusterPromotionTask

// Parts of a pod that Rollouts and analysis jobs share with the workloads
// (workloads.cc).
IntOrPercent DecodeIntOrPercent(Ctx& ctx, const Node& n, const std::string& path);
// A pod template (metadata and spec); `taken` are pod spec fields the caller
// reads itself (a Job's restartPolicy), not reported as ignored. `one_pod`:
// each pod of it runs alone (a Job's), so its env may read metadata.name
// and metadata.uid; replicas of a workload's template may not.
PodTemplate DecodePodTemplate(Ctx& ctx, const Node& n, const std::string& path,
                              const std::set<std::string>& taken = {}, bool one_pod = false);
// A container's (or a step's) `resources`: limits.cpu, limits.memory and
// requests.cpu are applied (base/cgroup.h); other resources are reported as
// ignored; a request over its limit is an error, as Kubernetes has it.
CgroupLimits DecodeResources(Ctx& ctx, const Node& n, const std::string& path);
// A pod's spec into `t` (a Pod's own, or a template's).
void DecodePodSpec(Ctx& ctx, const Node& n, const std::string& path, PodTemplate& t,
                   const std::set<std::string>& taken);
// A pod spec's imagePullSecrets (`[{name: …}]`) in `f`, the Secrets' names.
std::vector<std::string> DecodeImagePullSecrets(Ctx& ctx, Fields& f);
std::map<std::string, std::string> DecodeSelector(Ctx& ctx, const Node* n, const std::string& path);
// The selector must select the template's labels, as Kubernetes checks.
void CheckSelector(Ctx& ctx, const Node& at, const std::string& path,
                   const std::map<std::string, std::string>& selector, const PodTemplate& pod);

}  // namespace strake::model
