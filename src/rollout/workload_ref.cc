#include "rollout/workload_ref.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"

namespace strake::rollout {

using Json = store::Json;

Result<Json> ResolvedSpec(const Json& rollout_spec, const Json& deployment) {
  const Json* spec = deployment.contains("spec") ? &deployment["spec"] : nullptr;
  if (!spec || !spec->is_object() || !spec->contains("template") ||
      !(*spec)["template"].is_object()) {
    return Failf(
        ErrorCode::kInvalid, "deployment {} has no spec.template",
        Quote(deployment.contains("metadata") ? deployment["metadata"].value("name", "") : ""));
  }
  Json out = rollout_spec.is_object() ? rollout_spec : Json::object();
  out.erase("workloadRef");
  out["template"] = (*spec)["template"];
  bool has_own = out.contains("selector") && !out["selector"].is_null() && !out["selector"].empty();
  if (!has_own && spec->contains("selector")) out["selector"] = (*spec)["selector"];
  return out;
}

bool ReferencesDeployment(const Json& rollout, const std::string& name) {
  if (!rollout.contains("spec") || !rollout["spec"].is_object()) return false;
  const Json& spec = rollout["spec"];
  auto ref = spec.find("workloadRef");
  if (ref == spec.end() || !ref->is_object()) return false;
  return ref->value("kind", "") == "Deployment" && ref->value("name", "") == name;
}

Result<std::optional<ResolvedWorkload>> ResolveWorkloadRef(store::Store& store,
                                                           store::Resource& rollout) {
  // Only a Rollout with a reference is touched (operator[] would add "spec").
  auto found = rollout.object.find("spec");
  if (found == rollout.object.end() || !found->is_object() || !found->contains("workloadRef") ||
      !(*found)["workloadRef"].is_object())
    return std::optional<ResolvedWorkload>();
  Json& spec = *found;
  auto declared = model::DecodeRolloutSpec(spec);
  if (!declared) return Fail(ErrorCode::kInvalid, declared.error().message);
  const model::WorkloadRef& ref = *declared->workload_ref;
  STRAKE_TRY_ASSIGN(got, store.Get({"Deployment", rollout.key.ns, ref.name}));
  if (got) {
    STRAKE_TRY_ASSIGN(resolved, ResolvedSpec(spec, got->object));
    spec = std::move(resolved);
    return ResolvedWorkload{std::move(*got), ref, ""};
  }
  std::string missing = fmt::format("workloadRef: deployment {} not found in namespace {}",
                                    Quote(ref.name), rollout.key.ns);
  // Gone after the Rollout took its template: the current revision's record.
  const std::string hash =
      rollout.status.is_object() ? rollout.status.value("currentPodHash", "") : "";
  std::optional<store::Resource> record;
  if (!hash.empty()) {
    STRAKE_TRY_ASSIGN(r, store.Get({kRevisionKind, rollout.key.ns, rollout.key.name + "-" + hash}));
    if (r && r->owner == rollout.uid) record = std::move(r);
  }
  if (!record) return Fail(ErrorCode::kNotFound, missing);
  Json deployment = {{"metadata", {{"name", ref.name}}},
                     {"spec", {{"template", record->object["spec"]["template"]}}}};
  const Json& tmpl = deployment["spec"]["template"];
  if (tmpl.is_object() && tmpl.contains("metadata") && tmpl["metadata"].is_object() &&
      tmpl["metadata"].contains("labels") && tmpl["metadata"]["labels"].is_object()) {
    Json labels = tmpl["metadata"]["labels"];
    deployment["spec"]["selector"] = {{"matchLabels", std::move(labels)}};
  }
  STRAKE_TRY_ASSIGN(resolved, ResolvedSpec(spec, deployment));
  spec = std::move(resolved);
  return ResolvedWorkload{std::nullopt, ref, std::move(missing)};
}

std::optional<int> DeploymentScaleFor(model::WorkloadRef::ScaleDown scale_down, int64_t revision,
                                      const std::string& phase, int desired, int ready,
                                      int current) {
  using ScaleDown = model::WorkloadRef::ScaleDown;
  if (scale_down == ScaleDown::kNever || revision != 1) return std::nullopt;
  int want = current;
  if (phase == "Healthy") {
    want = 0;
  } else if (scale_down == ScaleDown::kProgressively && (ready > 0 || phase == "Degraded")) {
    // Down as the Rollout's replicas become ready; up again, as Argo scales
    // it, when the Rollout fails and its replicas go.
    want = std::max(0, desired - ready);
  }
  if (want == current) return std::nullopt;
  return want;
}

}  // namespace strake::rollout
