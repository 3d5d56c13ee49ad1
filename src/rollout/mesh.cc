#include "rollout/mesh.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

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

// The stable's share: what the canary and the experiment's templates leave.
int StableWeight(const MeshTargets& t, int canary_weight) {
  int w = 100 - canary_weight;
  for (const auto& e : t.extra) w -= e.weight;
  return std::max(0, w);
}

Status SetRoute(Json& route, const std::string& where, const MeshTargets& t, int canary_weight) {
  if (!route.contains("route") || !route["route"].is_array())
    return Failf("{}: has no route destinations", where);
  bool canary = false, stable = false;
  std::map<std::string, int> extra;
  for (const auto& e : t.extra) extra[e.service] = e.weight;
  Json kept = Json::array();
  for (auto& dest : route["route"]) {
    const Json destination = dest.value("destination", Json::object());
    int side = Side(destination, t);
    canary = canary || side == 1;
    stable = stable || side == 2;
    if (side != 0) {
      dest["weight"] = side == 1 ? canary_weight : StableWeight(t, canary_weight);
      kept.push_back(dest);
      continue;
    }
    std::string host = destination.is_object() ? destination.value("host", "") : "";
    auto e = std::find_if(extra.begin(), extra.end(),
                          [&](const auto& x) { return HostIs(host, x.first); });
    if (e != extra.end()) {
      dest["weight"] = e->second;
      extra.erase(e);
      kept.push_back(dest);
    } else if (dest.value("weight", 0) == 0) {
      kept.push_back(dest);  // Argo leaves a weightless one; one with a weight it removes
    }
  }
  if (!canary || !stable) {
    return Failf("{}: needs a destination to the {} and one to the {}", where,
                 t.canary_subset.empty() ? "canary Service " + Quote(t.canary_service)
                                         : "canary subset " + Quote(t.canary_subset),
                 t.stable_subset.empty() ? "stable Service " + Quote(t.stable_service)
                                         : "stable subset " + Quote(t.stable_subset));
  }
  for (const auto& [service, weight] : extra)  // sorted by host, as Argo appends them
    kept.push_back({{"destination", {{"host", service}}}, {"weight", weight}});
  route["route"] = std::move(kept);
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
      Json::array({{{"service", t.canary_service}, {"weight", canary_weight}}});
  for (const auto& e : t.extra)
    ts["spec"]["backends"].push_back({{"service", e.service}, {"weight", e.weight}});
  ts["spec"]["backends"].push_back(
      {{"service", t.stable_service}, {"weight", StableWeight(t, canary_weight)}});
  return ts;
}

namespace {

// The name of the Service an Ingress path sends to (v1's
// backend.service.name, v1beta1's backend.serviceName).
Json* BackendService(Json& path) {
  if (!path.is_object() || !path.contains("backend")) return nullptr;
  Json& b = path["backend"];
  if (b.contains("service") && b["service"].is_object() && b["service"].contains("name"))
    return &b["service"]["name"];
  if (b.contains("serviceName")) return &b["serviceName"];
  return nullptr;
}

}  // namespace

bool IngressSendsTo(const Json& ingress, const std::string& service) {
  Json copy = ingress;
  for (auto& rule : copy["spec"].value("rules", Json::array())) {
    if (!rule.contains("http")) continue;
    for (auto& path : rule["http"].value("paths", Json::array())) {
      Json* name = BackendService(path);
      if (name && name->is_string() && *name == service) return true;
    }
  }
  return false;
}

Result<Json> AlbIngressAt(Json ingress, const std::string& key, const std::string& action_service,
                          const MeshTargets& t, int service_port, int canary_weight) {
  std::string name = ingress["metadata"].value("name", "");
  if (!IngressSendsTo(ingress, action_service)) {
    return Failf("ingress {} has no rules using service {} backend", Quote(name), action_service);
  }
  std::string port = std::to_string(service_port);
  Json groups = Json::array(
      {{{"ServiceName", t.canary_service}, {"ServicePort", port}, {"Weight", canary_weight}}});
  for (const auto& e : t.extra)
    groups.push_back({{"ServiceName", e.service}, {"ServicePort", port}, {"Weight", e.weight}});
  groups.push_back({{"ServiceName", t.stable_service},
                    {"ServicePort", port},
                    {"Weight", StableWeight(t, canary_weight)}});
  Json action = {{"Type", "forward"}, {"ForwardConfig", {{"TargetGroups", groups}}}};
  ingress["metadata"]["annotations"][key] = action.dump();
  return ingress;
}

std::string CanaryIngressName(const std::string& rollout, const std::string& stable_ingress) {
  constexpr std::string_view kSuffix = "-canary";
  std::string prefix = rollout + "-" + stable_ingress;
  if (prefix.size() > 253 - kSuffix.size()) prefix.resize(253 - kSuffix.size());
  return prefix + std::string(kSuffix);
}

Result<Json> NginxCanaryIngress(const Json& stable, const std::string& ns, const std::string& name,
                                const model::MeshRouting& routing, const MeshTargets& t,
                                int canary_weight) {
  const Json& spec = stable.contains("spec") ? stable["spec"] : Json::object();
  Json canary = {{"apiVersion", stable.value("apiVersion", "networking.k8s.io/v1")},
                 {"kind", "Ingress"},
                 {"metadata", {{"name", name}, {"namespace", ns}, {"annotations", Json::object()}}},
                 {"spec", {{"rules", Json::array()}}}};
  if (spec.contains("tls")) canary["spec"]["tls"] = spec["tls"];
  if (spec.contains("ingressClassName"))
    canary["spec"]["ingressClassName"] = spec["ingressClassName"];
  Json annotations = stable["metadata"].value("annotations", Json::object());
  if (annotations.contains("kubernetes.io/ingress.class"))
    canary["metadata"]["annotations"]["kubernetes.io/ingress.class"] =
        annotations["kubernetes.io/ingress.class"];
  for (Json rule : spec.value("rules", Json::array())) {
    bool sends = false;
    if (rule.contains("http") && rule["http"].contains("paths")) {
      for (auto& path : rule["http"]["paths"]) {
        Json* service = BackendService(path);
        if (service && service->is_string() && *service == t.stable_service) {
          *service = t.canary_service;
          sends = true;
        }
      }
    }
    if (sends) canary["spec"]["rules"].push_back(std::move(rule));
  }
  if (canary["spec"]["rules"].empty()) {
    return Failf("ingress {} has no rules using service {} backend",
                 Quote(stable["metadata"].value("name", "")), t.stable_service);
  }
  const std::string& prefix = routing.nginx_annotation_prefix;
  Json& out = canary["metadata"]["annotations"];
  for (const auto& [k, v] : routing.nginx_additional_annotations) {
    if (StartsWith(k, prefix)) {
      out[k] = v;
      continue;
    }
    std::string key = prefix;
    key.append("/").append(k);
    out[key] = v;
  }
  for (const auto& [k, v] : routing.nginx_canary_annotations) out[k] = v;
  out[prefix + "/canary"] = "true";
  out[prefix + "/canary-weight"] = std::to_string(canary_weight);
  return canary;
}

namespace {

// The last object of array `list` whose `field` is `value`, or nullptr.
Json* EntryWhere(Json& list, const char* field, const std::string& value) {
  Json* found = nullptr;
  for (auto& e : list) {
    if (e.is_object() && e.value(field, "") == value) found = &e;
  }
  return found;
}

// In `list`, the entry whose `field` names the canary Service gets the
// canary's weight and the stable Service's the rest; returns the Service
// with no entry ("" when both have one).
std::string SetServiceWeights(Json& list, const char* field, const MeshTargets& t,
                              int canary_weight) {
  for (const auto& [service, weight] : {std::pair{t.canary_service, canary_weight},
                                        std::pair{t.stable_service, 100 - canary_weight}}) {
    Json* entry = EntryWhere(list, field, service);
    if (!entry) return service;
    (*entry)["weight"] = weight;
  }
  return "";
}

}  // namespace

Result<Json> TraefikServiceAt(Json service, const MeshTargets& t, int canary_weight) {
  const std::string name = service["metadata"].value("name", "");
  Json* services = nullptr;
  if (service.contains("spec") && service["spec"].is_object() &&
      service["spec"].contains("weighted") && service["spec"]["weighted"].is_object()) {
    auto it = service["spec"]["weighted"].find("services");
    if (it != service["spec"]["weighted"].end() && it->is_array()) services = &*it;
  }
  if (!services) {
    return Failf(
        "traefikservice {}: spec.weighted.services was not found in traefik service "
        "manifest",
        Quote(name));
  }
  if (auto missing = SetServiceWeights(*services, "name", t, canary_weight); !missing.empty()) {
    return Failf("traefikservice {}: the service {} was not found in spec.weighted.services",
                 Quote(name), Quote(missing));
  }
  return service;
}

Result<Json> ApisixRouteAt(Json route, const std::vector<std::string>& rules, const MeshTargets& t,
                           int canary_weight) {
  const std::string name = route["metadata"].value("name", "");
  bool has_http = route.contains("spec") && route["spec"].is_object() &&
                  route["spec"].contains("http") && route["spec"]["http"].is_array();
  if (!has_http) {
    return Failf("apisixroute {}: spec.http was not found in Apisix Route manifest", Quote(name));
  }
  std::vector<std::string> wanted = rules.empty() ? std::vector<std::string>{name} : rules;
  for (const auto& rule : wanted) {
    Json* http = EntryWhere(route["spec"]["http"], "name", rule);
    if (!http) return Failf("apisixroute {}: http route rule {} not found", Quote(name), rule);
    if (!http->contains("backends") || !(*http)["backends"].is_array()) {
      return Failf("apisixroute {}: http route rule {} has no backends", Quote(name), rule);
    }
    std::string missing = SetServiceWeights((*http)["backends"], "serviceName", t, canary_weight);
    if (!missing.empty()) {
      return Failf("apisixroute {}: http route rule {} has no backend {}", Quote(name), rule,
                   missing);
    }
  }
  return route;
}

std::string AmbassadorCanaryName(const std::string& base) {
  return base.substr(0, 246) + "-canary";
}

Json AmbassadorCanaryMapping(const Json& base, const std::string& ns, const MeshTargets& t,
                             int canary_weight) {
  Json canary = {
      {"apiVersion", base.value("apiVersion", "getambassador.io/v3alpha1")},
      {"kind", "Mapping"},
      {"metadata",
       {{"name", AmbassadorCanaryName(base["metadata"].value("name", ""))}, {"namespace", ns}}},
      {"spec", base.contains("spec") ? base["spec"] : Json::object()}};
  Json& spec = canary["spec"];
  std::string service = spec.is_object() && spec.contains("service") && spec["service"].is_string()
                            ? spec["service"].get<std::string>()
                            : "";
  if (auto at = service.find(t.stable_service);
      at != std::string::npos && !t.stable_service.empty())
    service.replace(at, t.stable_service.size(), t.canary_service);
  spec["service"] = service;
  spec["weight"] = canary_weight;
  return canary;
}

Result<Json> GatewayRouteAt(Json route, const model::GatewayApiRouting& g, const MeshTargets& t,
                            int canary_weight) {
  const std::string kind = route.value("kind", "");
  const std::string name = route.contains("metadata") ? route["metadata"].value("name", "") : "";
  bool canary = false, stable = false;
  if (route.contains("spec") && route["spec"].is_object() && route["spec"].contains("rules") &&
      route["spec"]["rules"].is_array()) {
    for (Json& rule : route["spec"]["rules"]) {
      if (!rule.is_object() || !rule.contains("backendRefs") || !rule["backendRefs"].is_array())
        continue;
      // A header route rule the plugin made (its only backend the canary)
      // is left as it is, as the plugin leaves it.
      const Json& refs = rule["backendRefs"];
      if (refs.size() == 1 && refs[0].is_object() && refs[0].value("name", "") == t.canary_service)
        continue;
      for (Json& ref : rule["backendRefs"]) {
        if (!ref.is_object()) continue;
        const std::string to = ref.value("name", "");
        if (to == t.canary_service) {
          ref["weight"] = canary_weight;
          canary = true;
        } else if (to == t.stable_service) {
          ref["weight"] = 100 - canary_weight;
          stable = true;
        }
      }
    }
  }
  if (!canary || !stable) {
    // The plugin's BackendRefWasNotFoundIn…RouteError, and which one.
    std::string plugin_kind = kind.empty() ? "route" : kind;
    plugin_kind = ToLower(plugin_kind.substr(0, plugin_kind.size() - 5)) + "Route";
    return Failf("{} {}: backendRef was not found in {}: no rule sends to the {} Service {}",
                 ToLower(kind), Quote(name), plugin_kind, canary ? "stable" : "canary",
                 Quote(canary ? t.stable_service : t.canary_service));
  }
  if (g.in_progress_label) {
    Json& labels = route["metadata"]["labels"];
    if (canary_weight > 0) {
      labels[g.in_progress_key] = g.in_progress_value;
    } else if (labels.is_object()) {
      labels.erase(g.in_progress_key);
      if (labels.empty()) route["metadata"].erase("labels");
    } else {
      route["metadata"].erase("labels");
    }
  }
  return route;
}

}  // namespace strake::rollout
