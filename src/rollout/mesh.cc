#include "rollout/mesh.h"

#include <fmt/format.h>

#include "base/strings.h"

namespace strake::rollout {

namespace {

// A destination's host names the Service by its short name or its cluster
// DNS name (web, web.default, web.default.svc.cluster.local).
bool HostIs(const std::string& host, const std::string& service) {
  return host == service || StartsWith(host, service + ".");
}

// 1: the canary's destination, 2: the stable's, 0: neither.
int Side(const Json& destination, const MeshTargets& t) {
  if (!destination.is_object()) return 0;
  if (!t.canary_subset.empty()) {
    std::string subset = destination.value("subset", "");
    return subset == t.canary_subset ? 1 : subset == t.stable_subset ? 2 : 0;
  }
  std::string host = destination.value("host", "");
  return HostIs(host, t.canary_service) ? 1 : HostIs(host, t.stable_service) ? 2 : 0;
}

Status SetRoute(Json& route, const std::string& where, const MeshTargets& t, int canary_weight) {
  if (!route.contains("route") || !route["route"].is_array())
    return Failf("{}: has no route destinations", where);
  bool canary = false, stable = false;
  for (auto& dest : route["route"]) {
    int side = Side(dest.value("destination", Json::object()), t);
    if (side == 1) dest["weight"] = canary_weight;
    if (side == 2) dest["weight"] = 100 - canary_weight;
    canary = canary || side == 1;
    stable = stable || side == 2;
  }
  if (!canary || !stable) {
    return Failf("{}: needs a destination to the {} and one to the {}", where,
                 t.canary_subset.empty() ? "canary Service " + Quote(t.canary_service)
                                         : "canary subset " + Quote(t.canary_subset),
                 t.stable_subset.empty() ? "stable Service " + Quote(t.stable_service)
                                         : "stable subset " + Quote(t.stable_subset));
  }
  return Ok();
}

}  // namespace

Result<Json> VirtualServiceAt(Json vs, const model::MeshRouting::VirtualService& ref,
                              const MeshTargets& t, int canary_weight) {
  const std::string what = "virtualservice " + Quote(ref.name);
  if (!vs.contains("spec") || !vs["spec"].contains("http") || !vs["spec"]["http"].is_array() ||
      vs["spec"]["http"].empty())
    return Failf("{}: has no http routes", what);
  Json& http = vs["spec"]["http"];
  if (ref.routes.empty()) {
    if (http.size() != 1)
      return Failf("{}: has {} http routes: name the ones to weigh in routes", what, http.size());
    STRAKE_TRY(SetRoute(http[0], what + " http route 0", t, canary_weight));
    return vs;
  }
  for (const auto& name : ref.routes) {
    bool found = false;
    for (auto& route : http) {
      if (route.value("name", "") != name) continue;
      found = true;
      STRAKE_TRY(
          SetRoute(route, fmt::format("{} http route {}", what, Quote(name)), t, canary_weight));
    }
    if (!found) return Failf("{}: has no http route named {}", what, Quote(name));
  }
  return vs;
}

Result<Json> DestinationRuleAt(Json dr, const MeshTargets& t, const std::string& stable_hash,
                               const std::string& canary_hash) {
  const std::string what =
      "destinationrule " + Quote(dr.value("metadata", Json::object()).value("name", ""));
  if (!dr.contains("spec") || !dr["spec"].contains("subsets") || !dr["spec"]["subsets"].is_array())
    return Failf("{}: has no subsets", what);
  bool canary = false, stable = false;
  for (auto& subset : dr["spec"]["subsets"]) {
    std::string name = subset.value("name", "");
    if (name == t.canary_subset) {
      subset["labels"]["rollouts-pod-template-hash"] =
          canary_hash.empty() ? stable_hash : canary_hash;
      canary = true;
    } else if (name == t.stable_subset) {
      subset["labels"]["rollouts-pod-template-hash"] = stable_hash;
      stable = true;
    }
  }
  if (!canary) return Failf("{}: has no subset {}", what, Quote(t.canary_subset));
  if (!stable) return Failf("{}: has no subset {}", what, Quote(t.stable_subset));
  return dr;
}

Json TrafficSplitAt(const Json& existing, const std::string& ns, const std::string& name,
                    const std::string& root_service, const MeshTargets& t, int canary_weight) {
  Json ts = existing.is_object() ? existing
                                 : Json{{"apiVersion", "split.smi-spec.io/v1alpha3"},
                                        {"kind", "TrafficSplit"},
                                        {"metadata", {{"name", name}, {"namespace", ns}}}};
  ts["spec"]["service"] = root_service;
  ts["spec"]["backends"] =
      Json::array({{{"service", t.canary_service}, {"weight", canary_weight}},
                   {{"service", t.stable_service}, {"weight", 100 - canary_weight}}});
  return ts;
}

}  // namespace strake::rollout
