// Mesh objects at a Rollout's weights. The VirtualService is the one of Argo
// Rollouts' Istio getting-started guide (docs/getting-started/istio), with a
// second route added.
#include "rollout/mesh.h"

#include <gtest/gtest.h>

namespace strake::rollout {
namespace {

const Json kVirtualService = Json::parse(R"({
  "apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
  "metadata": {"name": "rollouts-demo-vsvc"},
  "spec": {"gateways": ["rollouts-demo-gateway"], "hosts": ["rollouts-demo.local"],
    "http": [
      {"name": "primary", "route": [
        {"destination": {"host": "rollouts-demo-stable", "port": {"number": 15372}}, "weight": 100},
        {"destination": {"host": "rollouts-demo-canary", "port": {"number": 15372}}, "weight": 0}]},
      {"name": "other", "route": [
        {"destination": {"host": "rollouts-demo-stable.default.svc.cluster.local"}, "weight": 100},
        {"destination": {"host": "rollouts-demo-canary.default.svc.cluster.local"}, "weight": 0}]}]}})");

const MeshTargets kTargets{"rollouts-demo-stable", "rollouts-demo-canary", "", "", {}};

TEST(MeshTest, TheNamedHttpRoutesTakeTheWeightsAndNothingElseChanges) {
  auto vs = VirtualServiceAt(kVirtualService, {"rollouts-demo-vsvc", {"primary"}}, kTargets, 20);
  ASSERT_TRUE(vs) << vs.error().message;
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"][0]["weight"], 80);
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"][1]["weight"], 20);
  EXPECT_EQ((*vs)["spec"]["http"][1], kVirtualService["spec"]["http"][1]);  // not named
  EXPECT_EQ((*vs)["spec"]["gateways"], kVirtualService["spec"]["gateways"]);
  // Hosts by their cluster DNS names are the same Services.
  vs = VirtualServiceAt(*vs, {"rollouts-demo-vsvc", {"primary", "other"}}, kTargets, 60);
  ASSERT_TRUE(vs) << vs.error().message;
  EXPECT_EQ((*vs)["spec"]["http"][1]["route"][0]["weight"], 40);
  EXPECT_EQ((*vs)["spec"]["http"][1]["route"][1]["weight"], 60);
}

TEST(MeshTest, ARouteThatCannotBeWeighedIsAnErrorNamingIt) {
  auto vs = VirtualServiceAt(kVirtualService, {"rollouts-demo-vsvc", {"primay"}}, kTargets, 20);
  ASSERT_FALSE(vs);
  EXPECT_EQ(vs.error().message,
            "virtualservice \"rollouts-demo-vsvc\": has no http route named \"primay\"");
  // Two routes and none named: which one is meant is not known.
  vs = VirtualServiceAt(kVirtualService, {"rollouts-demo-vsvc", {}}, kTargets, 20);
  ASSERT_FALSE(vs);
  EXPECT_NE(vs.error().message.find("has 2 http routes: name the ones to weigh"),
            std::string::npos);
  Json one = kVirtualService;
  one["spec"]["http"].erase(1);
  one["spec"]["http"][0]["route"].erase(1);
  vs = VirtualServiceAt(one, {"rollouts-demo-vsvc", {}}, kTargets, 20);
  ASSERT_FALSE(vs);
  EXPECT_NE(vs.error().message.find(
                "http route 0: needs a destination to the canary Service \"rollouts-demo-canary\""),
            std::string::npos)
      << vs.error().message;
}

TEST(MeshTest, DestinationRuleSubsetsSelectTheirRevisions) {
  Json dr = Json::parse(R"({"metadata": {"name": "demo"}, "spec": {"host": "demo",
      "subsets": [{"name": "canary", "labels": {"app": "demo"}}, {"name": "stable"}]}})");
  MeshTargets t{"demo", "demo", "stable", "canary", {}};
  auto got = DestinationRuleAt(dr, t, "aaa", "bbb");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["spec"]["subsets"][0]["labels"],
            Json::parse(R"({"app": "demo", "rollouts-pod-template-hash": "bbb"})"));
  EXPECT_EQ((*got)["spec"]["subsets"][1]["labels"]["rollouts-pod-template-hash"], "aaa");
  // With subsets, a destination is told by its subset.
  Json vs = Json::parse(R"({"spec": {"http": [{"route": [
      {"destination": {"host": "demo", "subset": "stable"}, "weight": 100},
      {"destination": {"host": "demo", "subset": "canary"}, "weight": 0}]}]}})");
  auto weighed = VirtualServiceAt(vs, {"vs", {}}, t, 30);
  ASSERT_TRUE(weighed) << weighed.error().message;
  EXPECT_EQ((*weighed)["spec"]["http"][0]["route"][0]["weight"], 70);
  EXPECT_EQ((*weighed)["spec"]["http"][0]["route"][1]["weight"], 30);
  dr["spec"]["subsets"].erase(1);
  EXPECT_FALSE(DestinationRuleAt(dr, t, "aaa", "bbb"));
}

TEST(MeshTest, ATrafficSplitHasTheTwoBackends) {
  Json ts = TrafficSplitAt(Json(), "default", "web", "web-root", kTargets, 25);
  EXPECT_EQ(ts["apiVersion"], "split.smi-spec.io/v1alpha3");
  EXPECT_EQ(ts["spec"]["service"], "web-root");
  EXPECT_EQ(ts["spec"]["backends"], Json::parse(R"([
      {"service": "rollouts-demo-canary", "weight": 25},
      {"service": "rollouts-demo-stable", "weight": 75}])"));
  Json mine = ts;
  mine["apiVersion"] = "split.smi-spec.io/v1alpha2";
  EXPECT_EQ(TrafficSplitAt(mine, "default", "web", "web-root", kTargets, 0)["apiVersion"],
            "split.smi-spec.io/v1alpha2");
}

// Argo's examples/traffic-routing-experiment-step/rollout-alb-experiment-step.yaml
// Ingress (argoproj/argo-rollouts 9f8d111d8): the forward action of the
// root Service carries the weights, canary first, as Argo writes it.
TEST(MeshTest, AnAlbIngressForwardActionCarriesTheWeights) {
  Json ingress = Json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
      "metadata": {"name": "alb-rollout-ingress",
                   "annotations": {"kubernetes.io/ingress.class": "alb"}},
      "spec": {"rules": [{"http": {"paths": [{"path": "/*", "pathType": "ImplementationSpecific",
          "backend": {"service": {"name": "alb-rollout-root",
                                  "port": {"name": "use-annotation"}}}}]}}]}})");
  MeshTargets t{"alb-rollout-stable", "alb-rollout-canary", "", "", {}};
  auto got = AlbIngressAt(ingress, "alb.ingress.kubernetes.io/actions.alb-rollout-root",
                          "alb-rollout-root", t, 80, 10);
  ASSERT_TRUE(got) << got.error().message;
  Json action = Json::parse(
      (*got)["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.alb-rollout-root"]
          .get<std::string>());
  EXPECT_EQ(action, Json::parse(R"({"Type": "forward", "ForwardConfig": {"TargetGroups": [
      {"ServiceName": "alb-rollout-canary", "ServicePort": "80", "Weight": 10},
      {"ServiceName": "alb-rollout-stable", "ServicePort": "80", "Weight": 90}]}})"));
  EXPECT_EQ((*got)["spec"], ingress["spec"]);
  auto none = AlbIngressAt(ingress, "k", "alb-rollout-stable", t, 80, 10);
  ASSERT_FALSE(none);
  EXPECT_EQ(
      none.error().message,
      "ingress \"alb-rollout-ingress\" has no rules using service alb-rollout-stable backend");
}

// Argo's test/e2e/functional/nginx-template.yaml Ingress: the canary Ingress
// is the stable one's rules to the stable Service, sent to the canary, with
// the canary annotations.
TEST(MeshTest, AnNginxCanaryIngressCopiesTheStableRulesToTheCanary) {
  Json stable = Json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
      "metadata": {"name": "web-ingress", "annotations": {"kubernetes.io/ingress.class": "nginx",
                                                          "other": "x"}},
      "spec": {"rules": [
          {"http": {"paths": [{"path": "/*", "pathType": "Prefix",
              "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}},
          {"host": "other", "http": {"paths": [{"path": "/",
              "backend": {"service": {"name": "unrelated", "port": {"number": 80}}}}]}}]}})");
  model::MeshRouting routing;
  routing.nginx_ingresses = {"web-ingress"};
  routing.nginx_additional_annotations = {{"canary-by-header", "X-Canary"}};
  MeshTargets t{"web-stable", "web-canary", "", "", {}};
  EXPECT_EQ(CanaryIngressName("web", "web-ingress"), "web-web-ingress-canary");
  auto got = NginxCanaryIngress(stable, "default", "web-web-ingress-canary", routing, t, 30);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["metadata"]["annotations"], Json::parse(R"({
      "kubernetes.io/ingress.class": "nginx",
      "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
      "nginx.ingress.kubernetes.io/canary": "true",
      "nginx.ingress.kubernetes.io/canary-weight": "30"})"));
  ASSERT_EQ((*got)["spec"]["rules"].size(), 1u);
  EXPECT_EQ((*got)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "web-canary");
  t.stable_service = "nothing";
  EXPECT_FALSE(NginxCanaryIngress(stable, "default", "c", routing, t, 30));
}

// An experiment step's weighted template, as Argo's e2e
// istio-host-split-experiment-step and smi/rollout-smi-experiment expect:
// canary 10, experiment 20, stable 70 (SMI: 5, 5, 90); when it ends its
// destination goes and stable takes its share back.
TEST(MeshTest, AnExperimentsServiceIsOneMoreDestinationWhileItRuns) {
  MeshTargets t = kTargets;
  t.extra = {{"rollouts-demo-exp-canary", 20}};
  auto vs = VirtualServiceAt(kVirtualService, {"rollouts-demo-vsvc", {"primary"}}, t, 10);
  ASSERT_TRUE(vs) << vs.error().message;
  Json route = (*vs)["spec"]["http"][0]["route"];
  ASSERT_EQ(route.size(), 3u) << route.dump();
  EXPECT_EQ(route[0]["weight"], 70);
  EXPECT_EQ(route[1]["weight"], 10);
  EXPECT_EQ(route[2], Json::parse(R"({"destination": {"host": "rollouts-demo-exp-canary"},
                                       "weight": 20})"));
  t.extra[0].weight = 30;  // kept, not added twice
  vs = VirtualServiceAt(*vs, {"rollouts-demo-vsvc", {"primary"}}, t, 10);
  ASSERT_TRUE(vs);
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"].size(), 3u);
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"][2]["weight"], 30);
  vs = VirtualServiceAt(*vs, {"rollouts-demo-vsvc", {"primary"}}, kTargets, 10);
  ASSERT_TRUE(vs);
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"].size(), 2u);  // the experiment's is gone
  EXPECT_EQ((*vs)["spec"]["http"][0]["route"][0]["weight"], 90);

  MeshTargets smi = kTargets;
  smi.extra = {{"exp-svc", 5}};
  Json ts = TrafficSplitAt(Json(), "default", "web", "web-root", smi, 5);
  EXPECT_EQ(ts["spec"]["backends"], Json::parse(R"([
      {"service": "rollouts-demo-canary", "weight": 5},
      {"service": "exp-svc", "weight": 5},
      {"service": "rollouts-demo-stable", "weight": 90}])"));
}

// Argo Rollouts' docs/features/traffic-management/traefik.md.
TEST(MeshTest, ATraefikServiceWeighsItsCanaryAndStableServices) {
  Json ts = Json::parse(R"({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
      "metadata": {"name": "traefik-service"},
      "spec": {"weighted": {"services": [{"name": "stable-rollout", "port": 80},
                                         {"name": "canary-rollout", "port": 80}]}}})");
  MeshTargets t{"stable-rollout", "canary-rollout", "", "", {}};
  auto got = TraefikServiceAt(ts, t, 30);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["spec"]["weighted"]["services"], Json::parse(R"([
      {"name": "stable-rollout", "port": 80, "weight": 70},
      {"name": "canary-rollout", "port": 80, "weight": 30}])"));
  t.canary_service = "other";
  auto missing = TraefikServiceAt(ts, t, 30);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("the service \"other\" was not found"), std::string::npos);
  EXPECT_FALSE(TraefikServiceAt(Json::parse(R"({"metadata": {"name": "x"}, "spec": {}})"), t, 1));
}

// The gatewayAPI plugin's quick start HTTPRoute; every rule that sends to
// both Services is weighed, and the in-progress label comes and goes.
TEST(MeshTest, GatewayApiRoutesWeighTheirBackendRefsAndCarryTheInProgressLabel) {
  Json route = Json::parse(R"({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
      "metadata": {"name": "argo-rollouts-http-route", "namespace": "default"},
      "spec": {"parentRefs": [{"name": "eg"}], "rules": [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [{"name": "argo-rollouts-stable-service", "kind": "Service", "port": 80},
                         {"name": "argo-rollouts-canary-service", "kind": "Service", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
         "backendRefs": [{"name": "argo-rollouts-canary-service", "port": 80},
                         {"name": "argo-rollouts-stable-service", "port": 80}]},
        {"backendRefs": [{"name": "elsewhere", "port": 80}]}]}})");
  MeshTargets t{"argo-rollouts-stable-service", "argo-rollouts-canary-service", "", "", {}};
  model::GatewayApiRouting g;
  auto got = GatewayRouteAt(route, g, t, 30);
  ASSERT_TRUE(got) << got.error().message;
  const Json& rules = (*got)["spec"]["rules"];
  EXPECT_EQ(rules[0]["backendRefs"][0]["weight"], 70);
  EXPECT_EQ(rules[0]["backendRefs"][1]["weight"], 30);
  EXPECT_EQ(rules[1]["backendRefs"][0]["weight"], 30);
  EXPECT_EQ(rules[1]["backendRefs"][1]["weight"], 70);
  EXPECT_FALSE(rules[2]["backendRefs"][0].contains("weight"));  // not the Rollout's
  EXPECT_EQ((*got)["metadata"]["labels"]["rollouts.argoproj.io/gatewayapi-canary"], "in-progress");
  auto back = GatewayRouteAt(*got, g, t, 0);
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)["spec"]["rules"][0]["backendRefs"][0]["weight"], 100);
  EXPECT_FALSE((*back)["metadata"].contains("labels")) << back->dump();
  g.in_progress_label = false;
  auto unlabelled = GatewayRouteAt(route, g, t, 30);
  ASSERT_TRUE(unlabelled);
  EXPECT_FALSE((*unlabelled)["metadata"].contains("labels"));

  t.canary_service = "other";
  auto missing = GatewayRouteAt(route, g, t, 30);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "httproute \"argo-rollouts-http-route\": backendRef was not found in httpRoute: no "
            "rule sends to the canary Service \"other\"");
  // A header route rule (the canary its only backend) is the plugin's own:
  // not weighed.
  t.canary_service = "argo-rollouts-canary-service";
  route["spec"]["rules"].push_back(Json::parse(
      R"({"name": "header", "backendRefs": [{"name": "argo-rollouts-canary-service"}]})"));
  auto with_header = GatewayRouteAt(route, g, t, 30);
  ASSERT_TRUE(with_header);
  EXPECT_FALSE((*with_header)["spec"]["rules"][3]["backendRefs"][0].contains("weight"));
}

// Argo Rollouts' examples/apisix/route.yaml and rollout.yaml.
TEST(MeshTest, AnApisixRoutesNamedRulesWeighTheirBackends) {
  Json route = Json::parse(R"({"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
      "metadata": {"name": "rollouts-apisix-route"},
      "spec": {"http": [{"name": "rollouts-apisix", "match": {"paths": ["/*"]},
          "backends": [{"serviceName": "rollout-apisix-canary-stable", "servicePort": 80},
                       {"serviceName": "rollout-apisix-canary-canary", "servicePort": 80}]}]}})");
  MeshTargets t{"rollout-apisix-canary-stable", "rollout-apisix-canary-canary", "", "", {}};
  auto got = ApisixRouteAt(route, {"rollouts-apisix"}, t, 20);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)["spec"]["http"][0]["backends"][0]["weight"], 80);
  EXPECT_EQ((*got)["spec"]["http"][0]["backends"][1]["weight"], 20);
  EXPECT_EQ((*got)["spec"]["http"][0]["match"], route["spec"]["http"][0]["match"]);
  // No rules: the http route named as the ApisixRoute, which is not there.
  auto unnamed = ApisixRouteAt(route, {}, t, 20);
  ASSERT_FALSE(unnamed);
  EXPECT_NE(unnamed.error().message.find("http route rule rollouts-apisix-route not found"),
            std::string::npos)
      << unnamed.error().message;
}

// Argo Rollouts' examples/ambassador/echo-mapping.yaml.
TEST(MeshTest, AnAmbassadorCanaryMappingSendsToTheCanaryAtTheWeight) {
  Json base = Json::parse(R"({"apiVersion": "getambassador.io/v2", "kind": "Mapping",
      "metadata": {"name": "echo", "uid": "u", "annotations": {"a": "b"}},
      "spec": {"resolver": "endpoint", "prefix": "/echo", "rewrite": "/echo",
               "service": "echo-stable:80"}})");
  MeshTargets t{"echo-stable", "echo-canary", "", "", {}};
  EXPECT_EQ(AmbassadorCanaryMapping(base, "default", t, 30), Json::parse(R"({
      "apiVersion": "getambassador.io/v2", "kind": "Mapping",
      "metadata": {"name": "echo-canary", "namespace": "default"},
      "spec": {"resolver": "endpoint", "prefix": "/echo", "rewrite": "/echo",
               "service": "echo-canary:80", "weight": 30}})"));
  EXPECT_EQ(AmbassadorCanaryName(std::string(300, 'm')), std::string(246, 'm') + "-canary");
}

}  // namespace
}  // namespace strake::rollout
