// Mesh objects kept at a Rollout's weights, as Argo Rollouts' traffic
// routers keep them: the embedded router does the routing, and the Istio
// VirtualServices and SMI TrafficSplit that the files hold say the same
// weights, so mesh YAML runs unchanged with no mesh (and `get vs` shows
// what a cluster would).
//
// Istio: in each named http route (the VirtualService's only one when none
// is named), the destination whose host is the canary Service (or whose
// subset is the DestinationRule's canary subset) gets the canary's weight,
// the stable's the rest; a route that is missing or lacks either
// destination is an error naming it, as Argo's validation says. SMI: the
// TrafficSplit `trafficSplitName` (default: the Rollout's name) of
// `rootService` (default: the stable Service) with two backends, made if
// the files hold none.
//
// While an experiment step runs, each weighted template's Service is one
// more destination (backend, target group) at its weight, as Argo adds it:
// in a VirtualService route an existing destination to it is weighed, a
// missing one appended (sorted by host), and any other destination with a
// weight is removed, as Argo's patches remove it.
//
// Traefik's TraefikService, APISIX's ApisixRoute, Ambassador's canary
// Mappings and the Gateway API's routes likewise (below); App Mesh's objects
// are not kept (AWS discontinued App Mesh on 2026-09-30).
//
// Ingresses (networking.k8s.io): ALB's forward action, the annotation
// `<prefix>/actions.<rootService or stableService>`, gets target groups
// canary then stable with their weights; nginx's canary Ingress
// `<rollout>-<stableIngress>-canary` is the stable one's rules that send to
// the stable Service, sent to the canary instead, with `canary: "true"` and
// `canary-weight`, as Argo's nginx reconciler builds it.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "model/rollouts.h"
#include "rollout/analysis.h"

namespace strake::rollout {

// A running experiment step's template Service and its share (Argo's
// WeightDestination), taken from the stable's.
struct WeightDestination {
  std::string service;
  int weight = 0;
};

struct MeshTargets {
  std::string stable_service, canary_service;
  std::string stable_subset, canary_subset;  // with a DestinationRule
  std::vector<WeightDestination> extra;      // the stable gets 100 - canary - theirs
};

// The VirtualService object with its routes' weights set.
Result<Json> VirtualServiceAt(Json vs, const model::MeshRouting::VirtualService& ref,
                              const MeshTargets& t, int canary_weight);

// The DestinationRule object with its canary and stable subsets selecting
// their revisions (`rollouts-pod-template-hash`), as Argo labels them; an
// error names a subset that is missing.
Result<Json> DestinationRuleAt(Json dr, const MeshTargets& t, const std::string& stable_hash,
                               const std::string& canary_hash);

// The TrafficSplit object at the weights: `existing` (null: a new one, in
// split.smi-spec.io/v1alpha3) with its service and backends set.
Json TrafficSplitAt(const Json& existing, const std::string& ns, const std::string& name,
                    const std::string& root_service, const MeshTargets& t, int canary_weight);

// Whether an Ingress has a rule with a path to Service `service`.
bool IngressSendsTo(const Json& ingress, const std::string& service);

// The ALB Ingress with its forward action annotation (`key`) at the weights;
// an error when no rule sends to the action's Service (`action_service`).
Result<Json> AlbIngressAt(Json ingress, const std::string& key, const std::string& action_service,
                          const MeshTargets& t, int service_port, int canary_weight);

// The nginx canary Ingress `name` made from the stable Ingress for
// `routing`'s annotations at the weight; an error when no rule of the
// stable Ingress sends to the stable Service.
Result<Json> NginxCanaryIngress(const Json& stable, const std::string& ns, const std::string& name,
                                const model::MeshRouting& routing, const MeshTargets& t,
                                int canary_weight);

// Argo's GetCanaryIngressName: <rollout>-<stableIngress>-canary, within 253
// characters.
std::string CanaryIngressName(const std::string& rollout, const std::string& stable_ingress);

// Traefik: the TraefikService with the canary and stable entries of its
// `spec.weighted.services` at the weights; an error names a missing one.
Result<Json> TraefikServiceAt(Json service, const MeshTargets& t, int canary_weight);

// APISIX: the ApisixRoute with, in each http route `rules` names (none:
// the one named as the ApisixRoute), the backends of the canary and stable
// Services at the weights; an error names a missing route or backend.
Result<Json> ApisixRouteAt(Json route, const std::vector<std::string>& rules, const MeshTargets& t,
                           int canary_weight);

// Ambassador: the canary Mapping of base Mapping `base` (named by
// AmbassadorCanaryName), a copy of its spec sending to the canary Service
// (the first occurrence of the stable Service's name in `spec.service`
// replaced) with `spec.weight`, as Argo's ambassador reconciler builds it.
Json AmbassadorCanaryMapping(const Json& base, const std::string& ns, const MeshTargets& t,
                             int canary_weight);
// <base>-canary, the base name cut to 246 characters.
std::string AmbassadorCanaryName(const std::string& base);

// Gateway API (Argo Rollouts' gatewayAPI plugin): the HTTPRoute, GRPCRoute,
// TCPRoute or TLSRoute with, in every rule, the backendRefs to the canary
// and stable Services at the weights, and the plugin's in-progress label
// while the canary has weight (removed at 0); an error, as the plugin's,
// when no rule has both.
Result<Json> GatewayRouteAt(Json route, const model::GatewayApiRouting& g, const MeshTargets& t,
                            int canary_weight);

}  // namespace strake::rollout
