// End-to-end: `strake serve` with real processes behind the embedded router,
// driven through the CLI, under load from a real HTTP client.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/fs.h"
#include "base/net.h"
#include "base/process.h"
#include "base/strings.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

using namespace std::chrono_literals;

class RolloutE2E : public ServerE2E {
 protected:
  void SetUp() override {
    ServerE2E::SetUp();
    // In the test's (work) directory: workloads run sandboxed with a private
    // /tmp, and the source tree may be under /tmp.
    app_ = File(
        "server.py",
        ReadFile(std::string(STRAKE_SOURCE_DIR) + "/examples/app/server.py").value_or("missing"));
    port_ = FreePort();
  }

  Json Rollout(const std::string& name = "web") {
    Ran r = Cli({"get", "rollout", name, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Json::parse(r.out, nullptr, false);
  }

  std::string Phase(const std::string& name = "web") {
    Json ro = Rollout(name);
    return ro.is_object() ? ro["status"].value("phase", "") : "";
  }

  // The Service and a Rollout of `version` with `steps` (YAML, indented 6).
  std::string Manifest(const std::string& version, const std::string& strategy, int replicas = 2,
                       const std::string& extra_env = "", const std::string& templates = "") {
    return fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: {port}, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-preview}}
spec:
  selector: {{app: web}}
  ports: [{{port: {preview}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: success-rate}}
spec:
  args: [{{name: service}}]
  metrics:
  - name: success-rate
    interval: 1s
    count: 2
    successCondition: result >= 0.95
    provider:
      router: {{service: "{{{{args.service}}}}", window: 5s}}
{templates}---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: web:{version}
        command: [python3, "{app}"]
        env:
        - {{name: VERSION, value: {version}}}
{extra_env}        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /healthz, port: http}}
          periodSeconds: 1
  strategy:
{strategy})",
                       fmt::arg("port", port_), fmt::arg("preview", preview_port_),
                       fmt::arg("replicas", replicas), fmt::arg("version", version),
                       fmt::arg("app", app_), fmt::arg("extra_env", extra_env),
                       fmt::arg("strategy", strategy), fmt::arg("templates", templates));
  }

  // A Deployment `name` of the test's server answering "hello from
  // <version>", its pods labelled app=<name>, ready when /healthz answers;
  // `strategy` (a line, indented 2) as written.
  std::string DeploymentYaml(const std::string& name, const std::string& version, int replicas,
                             const std::string& strategy = "") {
    return fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
{strategy}  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: {name}
        command: [python3, "{app}"]
        env: [{{name: VERSION, value: {version}}}]
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}
)",
                       fmt::arg("name", name), fmt::arg("replicas", replicas),
                       fmt::arg("strategy", strategy), fmt::arg("app", app_),
                       fmt::arg("version", version));
  }

  void Apply(const std::string& text, const std::string& name = "web.yaml") {
    Ran r = Cli({"apply", "-f", File(name, text)});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  // `rollout status --watch` until Healthy (0) or Degraded (1).
  int Watch(const std::string& name = "web") {
    Ran r = Cli({"rollout", "status", name, "--watch", "--timeout", "80s"});
    last_watch_ = r.out + r.err;
    return r.exit_code;
  }

  std::string Get(const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& headers = {},
                  uint16_t port = 0) {
    http::Request req;
    req.target = path;
    req.headers = headers;
    auto r = http::Fetch("127.0.0.1", port ? port : port_, req, 5s);
    return r ? r->body : "error: " + r.error().message;
  }

  std::string app_;
  uint16_t port_ = 0;
  uint16_t preview_port_ = FreePort();
  std::string last_watch_;
};

const char* kCanary = R"(    canary:
      stableService: web
      steps:
      - setWeight: 25
      - pause: {duration: 2s}
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service, value: web}]
      - setWeight: 75
      - pause: {duration: 1s}
)";

// Argo lets an AnalysisRun be made by hand, named by the server from its
// generateName (kubectl create): each `strake create` is a new run, measured
// as a Rollout's would be. `apply` needs a name, and says to use create.
TEST_F(RolloutE2E, AStandaloneAnalysisRunWithGenerateNameIsNamedAndMeasured) {
  StartServer();
  std::string run = File("run.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {generateName: smoke-}
spec:
  args: [{name: word, value: "ok"}]
  metrics:
  - name: smoke
    count: 2
    interval: 1s
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: smoke
                command: [sh, -c, "test $WORD = ok"]
                env: [{name: WORD, value: "{{args.word}}"}]
)");
  std::vector<std::string> names;
  for (int i = 0; i < 2; ++i) {
    Ran r = Cli({"create", "-f", run});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_TRUE(StartsWith(r.out, "analysisrun/smoke-")) << r.out;
    size_t slash = r.out.find('/'), space = r.out.find(' ');
    names.push_back(r.out.substr(slash + 1, space - slash - 1));
  }
  ASSERT_NE(names[0], names[1]);
  EXPECT_EQ(names[0].size(), std::string("smoke-").size() + 5) << names[0];
  for (const auto& name : names) {
    std::string phase;
    EXPECT_TRUE(WaitFor(
        [&] {
          Ran g = Cli({"get", "analysisrun", name, "-o", "json"});
          Json j = Json::parse(g.out, nullptr, false);
          phase = j.is_object() ? j["status"].value("phase", "") : "";
          return phase == "Successful" || phase == "Failed" || phase == "Error";
        },
        40s));
    EXPECT_EQ(phase, "Successful") << name;
  }
  Ran applied = Cli({"apply", "-f", run});
  EXPECT_NE(applied.exit_code, 0);
  EXPECT_NE(applied.err.find("strake create"), std::string::npos) << applied.err;
}

TEST_F(RolloutE2E, AGoodVersionWalksEveryStepWithNoFailedRequest) {
  StartServer();
  Apply(Manifest("v1", kCanary));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(Get("/"), "hello from v1\n");
  Load load(port_);
  std::this_thread::sleep_for(300ms);
  Apply(Manifest("v2", kCanary));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  std::this_thread::sleep_for(300ms);
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure();
  auto bodies = load.bodies();
  EXPECT_GT(bodies["hello from v1\n"], 0);
  EXPECT_GT(bodies["hello from v2\n"], 0);
  EXPECT_EQ(Get("/"), "hello from v2\n");
  Json ro = Rollout();
  EXPECT_EQ(ro["status"]["stableRS"], ro["status"]["currentPodHash"]);
  // No trafficRouting: the weights were approximated by replica counts.
  EXPECT_EQ(ro["status"]["canary"]["weightsApproximated"], true);
  EXPECT_NE(last_watch_.find("approximated by replica counts (no trafficRouting)"),
            std::string::npos)
      << last_watch_;
  Ran runs = Cli({"get", "analysisruns"});
  EXPECT_NE(runs.out.find("Successful"), std::string::npos) << runs.out;
  Ran described = Cli({"describe", "rollout", "web"});
  EXPECT_NE(described.out.find("RolloutCompleted"), std::string::npos) << described.out;
}

TEST_F(RolloutE2E, ABadVersionIsCaughtByAnalysisAndRolledBack) {
  StartServer();
  Apply(Manifest("v1", kCanary));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v3", kCanary, 2, "        - {name: ERROR_RATE, value: \"0.5\"}\n"));
  EXPECT_EQ(Watch(), 1) << last_watch_;  // Degraded
  EXPECT_NE(last_watch_.find("metric success-rate failed"), std::string::npos) << last_watch_;
  load.Stop();
  Json ro = Rollout();
  EXPECT_EQ(ro["status"]["phase"], "Degraded");
  EXPECT_EQ(ro["status"]["canary"]["weight"], 0);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Get("/"), "hello from v1\n");
  // retry starts the update over; abort by the user stops it again.
  EXPECT_EQ(Cli({"rollout", "retry", "web"}).exit_code, 0);
  EXPECT_EQ(Cli({"rollout", "abort", "web"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Phase() == "Degraded"; }, 10s));
  // undo goes back to v1's template: the stable revision, at once.
  EXPECT_EQ(Cli({"rollout", "undo", "web"}).exit_code, 0);
  EXPECT_EQ(Watch(), 0) << last_watch_;
  // DORA: v1's completion is this Rollout's one deployment (tier other, as
  // "web" names none); the aborted v3 never completed, and the undo back
  // to v1 is the same revision, not a second deployment.
  const std::string today = FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
  auto frequency = [&] {
    Ran a = Cli({"dora", "deployment_frequency", "--interval", "all", "--start", today, "--end",
                 today, "--tier", "other", "-o", "json", "--explain"});
    Json j = a.exit_code == 0 ? Json::parse(a.out, nullptr, false) : Json();
    return j.is_array() && j.size() == 1 ? j[0] : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return frequency().value("value", 0.0) == 1.0; }, 20s))
      << frequency().dump(2);
  std::this_thread::sleep_for(1s);  // nothing more comes
  Json f = frequency();
  EXPECT_EQ(f.value("value", 0.0), 1.0) << f.dump(2);
  ASSERT_EQ(f["deployments"].size(), 1u) << f.dump(2);
  EXPECT_EQ(f["deployments"][0].value("id", ""),
            "Rollout/default/web@" + ro["status"].value("stableRS", ""));
}

// A rollback rule built in, named as Argo names a ClusterAnalysisTemplate,
// with none applied: a good version passes it, one answering half its
// requests with 500s is aborted on the router's own numbers.
TEST_F(RolloutE2E, TheBuiltinErrorRateRuleRollsBackABadVersion) {
  const std::string strategy = R"(    canary:
      stableService: web
      steps:
      - setWeight: 25
      - pause: {duration: 3s}
      - analysis:
          templates: [{templateName: strake-error-rate, clusterScope: true}]
          args: [{name: service, value: web}, {name: count, value: "1"}]
)";
  StartServer();
  Apply(Manifest("v1", strategy));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v2", strategy));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Apply(Manifest("v3", strategy, 2, "        - {name: ERROR_RATE, value: \"0.5\"}\n"));
  EXPECT_EQ(Watch(), 1) << last_watch_;  // Degraded
  EXPECT_NE(last_watch_.find("metric error-rate failed"), std::string::npos) << last_watch_;
  load.Stop();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v2\n");
}

// Mesh YAML unchanged, with no mesh: an Istio VirtualService in the files is
// stored, the router applies the exact weight, and the VirtualService is
// kept at it step by step, as Argo's controller keeps it on a cluster.
TEST_F(RolloutE2E, AVirtualServiceInTheFilesIsKeptAtTheWeights) {
  const std::string vs = R"(---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: web-vsvc}
spec:
  gateways: [web-gateway]
  hosts: [web.local]
  http:
  - name: primary
    route:
    - destination: {host: web}
      weight: 100
    - destination: {host: web-preview}
      weight: 0
)";
  const std::string strategy = R"(    canary:
      stableService: web
      canaryService: web-preview
      trafficRouting:
        istio:
          virtualService: {name: web-vsvc, routes: [primary]}
      steps:
      - setWeight: 30
      - pause: {}
)";
  StartServer();
  Apply(Manifest("v1", strategy, 2, "", vs));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  auto weights = [&] {
    Ran r = Cli({"get", "virtualservice", "web-vsvc", "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Json route = Json::parse(r.out, nullptr, false)["spec"]["http"][0]["route"];
    return std::pair{route[0].value("weight", -1), route[1].value("weight", -1)};
  };
  EXPECT_EQ(weights(), std::pair(100, 0));
  Apply(Manifest("v2", strategy, 2, "", vs));
  EXPECT_TRUE(WaitFor([&] { return Phase() == "Paused"; }, 30s)) << Phase();
  EXPECT_EQ(weights(), std::pair(70, 30));
  EXPECT_EQ(Cli({"rollout", "promote", "web"}).exit_code, 0);
  EXPECT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(weights(), std::pair(100, 0));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v2\n");
}

// The other providers' objects likewise: APISIX's ApisixRoute (Argo's
// examples/apisix/route.yaml, its Services renamed), Traefik's
// TraefikService and Ambassador's Mapping, whose canary copy exists only
// while the canary has weight.
TEST_F(RolloutE2E, ApisixTraefikAmbassadorAndGatewayApiObjectsAreKeptAtTheWeights) {
  // The Gateway API objects as the gatewayAPI plugin's quick start writes
  // them (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi,
  // docs/quick-start.md), the Services renamed to this test's.
  const std::string objects = R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: eg
  namespace: default
spec:
  gatewayClassName: eg
  listeners:
    - name: http
      protocol: HTTP
      port: 80
---
kind: HTTPRoute
apiVersion: gateway.networking.k8s.io/v1
metadata:
  name: argo-rollouts-http-route
  namespace: default
spec:
  parentRefs:
    - name: eg
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: web
      kind: Service
      port: 80
    - name: web-preview
      kind: Service
      port: 80
---
apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata:
  name: rollouts-apisix-route
spec:
  http:
    - name: rollouts-apisix
      match:
        paths:
          - /*
        methods:
          - GET
        hosts:
          - rollouts-demo.apisix.local
      backends:
        - serviceName: web
          servicePort: 80
        - serviceName: web-preview
          servicePort: 80
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: traefik-service}
spec:
  weighted:
    services:
      - {name: web, port: 80}
      - {name: web-preview, port: 80}
---
apiVersion: getambassador.io/v2
kind: Mapping
metadata: {name: echo}
spec: {prefix: /echo, service: "web:80"}
)";
  const std::string strategy = R"(    canary:
      stableService: web
      canaryService: web-preview
      trafficRouting:
        apisix:
          route:
            name: rollouts-apisix-route
            rules:
              - rollouts-apisix
        traefik: {weightedTraefikServiceName: traefik-service}
        ambassador: {mappings: [echo]}
        plugins:
          argoproj-labs/gatewayAPI:
            httpRoute: argo-rollouts-http-route
            namespace: default
      steps:
      - setWeight: 30
      - pause: {}
)";
  StartServer();
  Apply(Manifest("v1", strategy, 2, "", objects));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  auto weights = [&] {
    Json route = Json::parse(Cli({"get", "apisixroute", "rollouts-apisix-route", "-o", "json"}).out,
                             nullptr, false);
    Json ts = Json::parse(Cli({"get", "traefikservice", "traefik-service", "-o", "json"}).out,
                          nullptr, false);
    Json mapping =
        Json::parse(Cli({"get", "mapping", "echo-canary", "-o", "json"}).out, nullptr, false);
    Json http = Json::parse(Cli({"get", "httproute", "argo-rollouts-http-route", "-o", "json"}).out,
                            nullptr, false);
    const Json& backends = route["spec"]["http"][0]["backends"];
    const Json& services = ts["spec"]["weighted"]["services"];
    const Json& refs = http["spec"]["rules"][0]["backendRefs"];
    Json labels = http["metadata"].value("labels", Json::object());
    return fmt::format("apisix {}/{} traefik {}/{} mapping {} gateway {}/{} {}",
                       backends[0].value("weight", -1), backends[1].value("weight", -1),
                       services[0].value("weight", -1), services[1].value("weight", -1),
                       mapping.is_object() ? mapping["spec"].value("weight", -1) : -1,
                       refs[0].value("weight", -1), refs[1].value("weight", -1),
                       labels.value("rollouts.argoproj.io/gatewayapi-canary", "-"));
  };
  EXPECT_EQ(weights(), "apisix 100/0 traefik 100/0 mapping -1 gateway 100/0 -");
  // Both Gateways are stored as written: the Gateway API's keeps its group.
  Json gateway = Json::parse(Cli({"get", "gateway", "eg", "-o", "json"}).out, nullptr, false);
  EXPECT_EQ(gateway.value("apiVersion", ""), "gateway.networking.k8s.io/v1") << gateway.dump();
  Apply(Manifest("v2", strategy, 2, "", objects));
  EXPECT_TRUE(WaitFor([&] { return Phase() == "Paused"; }, 30s)) << Phase();
  EXPECT_EQ(weights(), "apisix 70/30 traefik 70/30 mapping 30 gateway 70/30 in-progress");
  EXPECT_EQ(Cli({"rollout", "promote", "web"}).exit_code, 0);
  EXPECT_EQ(Watch(), 0) << last_watch_;
  EXPECT_TRUE(WaitFor(
      [&] { return weights() == "apisix 100/0 traefik 100/0 mapping -1 gateway 100/0 -"; }, 10s))
      << weights();
}

// Argo's kayenta provider with no Kayenta: the canary config in a
// ConfigMap, judged in-process on the router's per-revision series. The
// same error rate passes (score 100); a canary answering half its requests
// with 500s fails with the score and the numbers.
TEST_F(RolloutE2E, TheKayentaProviderJudgesTheCanaryAgainstStableInProcess) {
  const std::string judge = R"(---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-judge}
data:
  canary-config.json: |
    {"name": "web-judge", "judge": {"name": "NetflixACAJudge-v1.0"},
     "metrics": [{"name": "errors", "groups": ["web"],
                  "query": {"type": "router", "service": "web", "metric": "error-rate"},
                  "analysisConfigurations": {"canary": {"direction": "increase"}}}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: judge}
spec:
  args: [{name: stable-hash}, {name: canary-hash}]
  metrics:
  - name: judge
    interval: 8s
    count: 1
    provider:
      kayenta:
        address: https://kayenta.example.com
        application: web
        canaryConfigName: web-judge
        threshold: {pass: 90, marginal: 75}
        scopes:
        - name: default
          controlScope: {scope: "rollouts-pod-template-hash={{args.stable-hash}}", step: 1}
          experimentScope: {scope: "rollouts-pod-template-hash={{args.canary-hash}}", step: 1}
)";
  const std::string strategy = R"(    canary:
      stableService: web
      steps:
      - setWeight: 50
      - pause: {duration: 9s}
      - analysis:
          templates: [{templateName: judge}]
          args:
          - name: stable-hash
            valueFrom: {podTemplateHashValue: Stable}
          - name: canary-hash
            valueFrom: {podTemplateHashValue: Latest}
)";
  StartServer();
  Apply(Manifest("v1", strategy, 2, "", judge));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v2", strategy, 2, "", judge));
  EXPECT_EQ(Watch(), 0) << last_watch_;
  Ran runs = Cli({"get", "analysisruns", "-o", "json"});
  EXPECT_NE(runs.out.find("\"value\": \"100\""), std::string::npos) << runs.out;
  Apply(Manifest("v3", strategy, 2, "        - {name: ERROR_RATE, value: \"0.5\"}\n", judge));
  EXPECT_EQ(Watch(), 1) << last_watch_;  // Degraded
  EXPECT_NE(last_watch_.find("score 0: below marginal 75: errors: High: 98% CI of the shift"),
            std::string::npos)
      << last_watch_;
  load.Stop();
  EXPECT_EQ(Rollout()["status"]["phase"], "Degraded");
}

// Argo's experiment step with a baseline and a canary judged by the kayenta
// provider (Argo's docs/analysis/kayenta.md, with the canary config in a
// ConfigMap): both templates take a quarter of the traffic through the
// router while the Experiment runs, and the judge compares their own
// revisions' series. A good version passes and becomes stable; one that
// answers half its requests with 500s fails the Experiment and the Rollout
// aborts, back to stable.
TEST_F(RolloutE2E, AnExperimentStepJudgesBaselineAgainstCanaryWithTheKayentaProvider) {
  const std::string judge = R"(---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-judge}
data:
  canary-config.json: |
    {"name": "web-judge", "judge": {"name": "NetflixACAJudge-v1.0"},
     "metrics": [{"name": "errors", "groups": ["web"],
                  "query": {"type": "router", "service": "web", "metric": "error-rate"},
                  "analysisConfigurations": {"canary": {"direction": "increase"}}}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: judge}
spec:
  args: [{name: baseline-hash}, {name: canary-hash}]
  metrics:
  - name: judge
    initialDelay: 20s
    interval: 8s
    count: 1
    provider:
      kayenta:
        address: https://kayenta.example.com
        application: web
        canaryConfigName: web-judge
        threshold: {pass: 90, marginal: 75}
        scopes:
        - name: default
          controlScope: {scope: "rollouts-pod-template-hash={{args.baseline-hash}}", step: 1}
          experimentScope: {scope: "rollouts-pod-template-hash={{args.canary-hash}}", step: 1}
)";
  const std::string strategy = R"(    canary:
      stableService: web
      trafficRouting: {}
      steps:
      - experiment:
          templates:
          - {name: baseline, specRef: stable, weight: 25}
          - {name: canary, specRef: canary, weight: 25}
          analyses:
          - name: judge
            templateName: judge
            requiredForCompletion: true
            args:
            - {name: baseline-hash, value: "{{templates.baseline.podTemplateHash}}"}
            - {name: canary-hash, value: "{{templates.canary.podTemplateHash}}"}
)";
  StartServer();
  Apply(Manifest("v1", strategy, 2, "", judge));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v2", strategy, 2, "", judge));
  // While it runs: stable 50, each template 25 (the canary's own weight is 0).
  ASSERT_TRUE(WaitFor(
      [&] {
        return Rollout()["status"]["canary"].value("additionalWeights", Json::array()).size() == 2;
      },
      30s))
      << Rollout().dump();
  // Measured on the load's own traffic between two snapshots, the later
  // one counted only if the Experiment still ran after it was taken: on a
  // slow machine the judge may finish (and v2 take all the traffic) while
  // the test is still looking, and one request at a time is too few.
  auto in_experiment = [&] {
    return Rollout()["status"]["canary"].value("additionalWeights", Json::array()).size() == 2;
  };
  // Counted from when the canary's template first answers (until then its
  // share goes to stable).
  ASSERT_TRUE(WaitFor([&] { return Get("/") == "hello from v2\n"; }, 30s));
  // Each snapshot counts only once a later one was taken with the
  // Experiment still running, so that the status's lag behind the router
  // cannot let post-Experiment traffic in.
  const std::map<std::string, int> start = load.bodies();
  std::map<std::string, int> seen;
  int sampled = 0;
  std::map<std::string, int> previous = start;
  while (sampled < 400) {
    std::this_thread::sleep_for(500ms);
    std::map<std::string, int> now = load.bodies();
    if (!in_experiment()) break;
    seen.clear();
    sampled = 0;
    for (const auto& [body, n] : previous) {
      auto it = start.find(body);
      const int d = n - (it == start.end() ? 0 : it->second);
      if (d == 0) continue;
      seen[body] = d;
      sampled += d;
    }
    previous = std::move(now);
  }
  ASSERT_GE(sampled, 100) << "the Experiment ended before 100 requests were answered";
  EXPECT_EQ(seen.size(), 2u);  // v1 (stable and baseline) and v2 (canary)
  EXPECT_GT(seen["hello from v2\n"], sampled / 10) << seen["hello from v2\n"] << " of " << sampled;
  EXPECT_LT(seen["hello from v2\n"], sampled * 2 / 5)
      << seen["hello from v2\n"] << " of " << sampled;
  EXPECT_EQ(Watch(), 0) << last_watch_;
  Ran exps = Cli({"get", "experiments", "-o", "json"});
  Json list = Json::parse(exps.out, nullptr, false);
  ASSERT_EQ(list["items"].size(), 1u) << exps.out;
  const Json& exp = list["items"][0];
  EXPECT_EQ(exp["status"]["phase"], "Successful") << exp.dump();
  EXPECT_EQ(exp["status"]["message"], "Required AnalysisRuns completed") << exp.dump();
  std::string name = exp["metadata"]["name"];
  Ran run = Cli({"get", "analysisrun", name + "-judge", "-o", "json"});
  EXPECT_NE(run.out.find("\"value\": \"100\""), std::string::npos) << run.out;

  Apply(Manifest("v3", strategy, 2, "        - {name: ERROR_RATE, value: \"0.5\"}\n", judge));
  EXPECT_EQ(Watch(), 1) << last_watch_;  // Degraded
  EXPECT_NE(last_watch_.find("Experiment analysis phase is failed"), std::string::npos)
      << last_watch_;
  load.Stop();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v2\n");
}

// A standalone Experiment (Argo's test/e2e/functional/experiment-with-service.yaml,
// with the container's command): its template's Service answers while it
// runs, it is Successful after its duration, and then the Service and the
// replicas go.
TEST_F(RolloutE2E, AStandaloneExperimentServesItsTemplateForItsDuration) {
  const uint16_t port = FreePort();
  const std::string text = fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata:
  name: experiment-with-service
spec:
  duration: 10s
  scaleDownDelaySeconds: 1
  templates:
  - name: test
    replicas: 1
    service: {{}}
    selector:
      matchLabels:
        app: experiment-with-service
    template:
      metadata:
        labels:
          app: experiment-with-service
      spec:
        containers:
        - name: experiment-with-service
          image: nginx:1.19-alpine
          command: [python3, "{app}"]
          env: [{{name: VERSION, value: exp}}]
          ports: [{{name: http, containerPort: {port}}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
)",
                                       fmt::arg("app", app_), fmt::arg("port", port));
  StartServer();
  Apply(text, "exp.yaml");
  auto phase = [&] {
    Ran r = Cli({"get", "experiment", "experiment-with-service", "-o", "json"});
    return Json::parse(r.out, nullptr, false)["status"].value("phase", "");
  };
  ASSERT_TRUE(WaitFor([&] { return phase() == "Running"; }, 30s)) << phase();
  Ran svc = Cli({"get", "svc", "experiment-with-service-test", "-o", "json"});
  ASSERT_EQ(svc.exit_code, 0) << svc.err;
  std::string ip = Json::parse(svc.out, nullptr, false)["status"].value("clusterIP", "");
  ASSERT_FALSE(ip.empty()) << svc.out;
  http::Request req;
  req.target = "/";
  auto answered = [&] {
    auto c = http::Connection::Open(ip, port, 2s);
    if (!c) return std::string();
    auto r = c->RoundTrip(req, 2s);
    return r ? r->body : std::string();
  };
  EXPECT_TRUE(WaitFor([&] { return answered() == "hello from exp\n"; }, 20s)) << answered();
  EXPECT_TRUE(WaitFor([&] { return phase() == "Successful"; }, 30s)) << phase();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Cli({"get", "svc", "experiment-with-service-test"}).exit_code != 0;
      },
      20s));
  Ran got = Cli({"get", "experiments"});
  EXPECT_NE(got.out.find("test:Successful"), std::string::npos) << got.out;
  EXPECT_EQ(Cli({"delete", "experiment", "experiment-with-service"}).exit_code, 0);
}

// kill -9 while an Experiment runs: after the restart its replicas are
// adopted (not started again), its duration still counts from the first
// availableAt, and its analysis is not measured twice.
TEST_F(RolloutE2E, KillNineDuringAnExperimentLosesNothingAndRepeatsNothing) {
  const std::string text = fmt::format(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: once}}
spec:
  metrics:
  - name: once
    count: 1
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: once
                image: busybox
                command: [sh, -c, "echo measured >> {dir}/runs"]
---
apiVersion: argoproj.io/v1alpha1
kind: Experiment
metadata: {{name: exp}}
spec:
  duration: 6s
  scaleDownDelaySeconds: 0
  templates:
  - name: a
    selector: {{matchLabels: {{app: exp-a}}}}
    template:
      metadata: {{labels: {{app: exp-a}}}}
      spec:
        containers:
        - name: a
          command: [python3, "{app}"]
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 1
  analyses:
  - {{name: once, templateName: once}}
)",
                                       fmt::arg("app", app_), fmt::arg("dir", dir_));
  StartServer();
  Apply(text, "exp.yaml");
  auto status = [&] {
    Ran r = Cli({"get", "experiment", "exp", "-o", "json"});
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("status", Json::object()) : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return status().value("phase", "") == "Running"; }, 30s))
      << status().dump();
  std::string available = status().value("availableAt", "");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(dir_ + "/runs").value_or("") == "measured\n"; }, 20s));
  StopServer(SIGKILL);
  StartServer();
  ASSERT_TRUE(WaitFor([&] { return status().value("phase", "") == "Successful"; }, 30s))
      << status().dump();
  EXPECT_EQ(status().value("availableAt", ""), available);
  EXPECT_EQ(ReadFile(dir_ + "/runs").value_or(""), "measured\n");  // not measured again
  EXPECT_EQ(status()["analysisRuns"][0].value("phase", ""), "Successful");
  // Its one replica was adopted, not restarted: one "listening" line.
  std::string log;
  for (const auto& f : ListFilesRecursive(dir_ + "/data").value_or(std::vector<std::string>{})) {
    if (f.find("experiment.exp") != std::string::npos && EndsWith(f, ".log"))
      log += ReadFile(dir_ + "/data/" + f).value_or("");
  }
  size_t lines = 0;
  for (size_t at = log.find("listening on"); at != std::string::npos;
       at = log.find("listening on", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
}

// Rollouts whose one analysis step runs a job that passes while the test's
// gate file exists: the test decides each measurement.
class RolloutAttemptE2E : public RolloutE2E {
 protected:
  void SetUp() override {
    RolloutE2E::SetUp();
    gate_ = dir_ + "/gate";
  }
  void Open() { File("gate", "open"); }
  void Close() { std::remove(gate_.c_str()); }

  std::string Gated(const std::string& version, const std::string& spec_extra = "") {
    std::string strategy = R"(    canary:
      stableService: web
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: gate}]}
)" + spec_extra;
    std::string tmpl = fmt::format(R"(---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: gate}}
spec:
  metrics:
  - name: gate
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: gate
                command: [sh, -c, "test -e {}"]
)",
                                   gate_);
    return Manifest(version, strategy, 1, "", tmpl);
  }

  // The revision the rollout is on ("" before it exists).
  std::string Current() {
    Ran r = Cli({"get", "rollout", "web", "-o", "json"});
    Json ro = Json::parse(r.out, nullptr, false);
    return r.exit_code == 0 && ro.is_object()
               ? ro.value("status", Json::object()).value("currentPodHash", "")
               : "";
  }

  // Applies `version` and waits for it to be stable; returns its hash.
  std::string Release(const std::string& version, const std::string& spec_extra = "") {
    std::string before = Current();
    Apply(Gated(version, spec_extra));
    EXPECT_TRUE(WaitFor([&] { return Current() != before; }, 20s));
    EXPECT_EQ(Watch(), 0) << last_watch_;
    EXPECT_EQ(Get("/"), "hello from " + version + "\n");
    return Current();
  }

  // The AnalysisRuns of revision `hash`: name -> phase.
  std::map<std::string, std::string> RunsOf(const std::string& hash) {
    Ran r = Cli({"get", "analysisruns", "-o", "json"});
    Json j = Json::parse(r.out, nullptr, false);
    const Json items = j.is_object() && j.contains("items") ? j["items"] : Json::array({j});
    std::map<std::string, std::string> runs;
    for (const auto& run : items) {
      if (!run.is_object() || !run.contains("metadata")) continue;
      std::string name = run["metadata"].value("name", "");
      if (name.find(hash) == std::string::npos) continue;
      runs[name] = run.value("status", Json::object()).value("phase", "");
    }
    return runs;
  }

  // `rollout retry`, then waits for the controller to take it up.
  void Retry() {
    ASSERT_EQ(Cli({"rollout", "retry", "web"}).exit_code, 0);
    ASSERT_TRUE(WaitFor([&] { return Phase() != "Degraded"; }, 10s));
  }

  std::string gate_;
};

TEST_F(RolloutAttemptE2E, RetryAfterAFailedAnalysisMeasuresAgainAndCanPass) {
  StartServer();
  Open();
  std::string v1 = Release("v1");
  Close();
  Apply(Gated("v2"));
  ASSERT_TRUE(WaitFor([&] { return Current() != v1; }, 20s));
  ASSERT_EQ(Watch(), 1) << last_watch_;  // the gate is closed: the analysis fails
  std::string v2 = Current();
  ASSERT_EQ(RunsOf(v2).size(), 1u);
  Open();
  Retry();
  EXPECT_EQ(Watch(), 0) << last_watch_;  // measured again, and passed
  auto runs = RunsOf(v2);
  EXPECT_EQ(runs, (std::map<std::string, std::string>{{"web-" + v2 + "-2-1", "Failed"},
                                                      {"web-" + v2 + "-2-1.1", "Successful"}}));
  EXPECT_EQ(Get("/"), "hello from v2\n");
}

TEST_F(RolloutAttemptE2E, TheSameRevisionAppliedAgainRunsItsAnalysisAgain) {
  StartServer();
  Open();
  Release("v1");
  std::string v2 = Release("v2");
  Release("v3");
  ASSERT_EQ(RunsOf(v2).size(), 1u);
  Close();
  Apply(Gated("v2"));  // v2 passed once; applied again it is measured again
  ASSERT_TRUE(WaitFor([&] { return Current() == v2; }, 20s));
  EXPECT_EQ(Watch(), 1) << last_watch_;
  auto runs = RunsOf(v2);
  EXPECT_EQ(runs, (std::map<std::string, std::string>{{"web-" + v2 + "-2-1", "Successful"},
                                                      {"web-" + v2 + "-4-1", "Failed"}}));
  EXPECT_EQ(Get("/"), "hello from v3\n");
}

TEST_F(RolloutAttemptE2E, UndoToAnEarlierRevisionRunsItsAnalysisAgain) {
  StartServer();
  Open();
  Release("v1");
  std::string v2 = Release("v2");
  Release("v3");
  Close();
  ASSERT_EQ(Cli({"rollout", "undo", "web"}).exit_code, 0);  // back to v2's template
  ASSERT_TRUE(WaitFor([&] { return Current() == v2; }, 20s));
  EXPECT_EQ(Watch(), 1) << last_watch_;
  EXPECT_EQ(RunsOf(v2).size(), 2u);
  EXPECT_EQ(Get("/"), "hello from v3\n");
  Open();
  Retry();
  EXPECT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(RunsOf(v2).size(), 3u);
  EXPECT_EQ(Get("/"), "hello from v2\n");
}

TEST_F(RolloutAttemptE2E, RollbackWithinTheWindowSkipsAnalysis) {
  StartServer();
  const std::string window = "  rollbackWindow: {revisions: 1}\n";
  Open();
  std::string v1 = Release("v1", window);
  Release("v2", window);
  Close();  // an analysis now would fail
  ASSERT_EQ(Cli({"rollout", "undo", "web"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Current() == v1; }, 20s));
  EXPECT_EQ(Watch(), 0) << last_watch_;
  EXPECT_TRUE(RunsOf(v1).empty());
  EXPECT_EQ(Get("/"), "hello from v1\n");
  Ran described = Cli({"describe", "rollout", "web"});
  EXPECT_NE(described.out.find("rollbackWindow"), std::string::npos) << described.out;
}

TEST_F(RolloutE2E, KillNineDuringAPauseLosesNothing) {
  StartServer();
  const char* steps = R"(    canary:
      stableService: web
      steps:
      - setWeight: 50
      - pause: {duration: 4s}
)";
  Apply(Manifest("v1", steps));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Apply(Manifest("v2", steps));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Paused"; }, 30s));
  Load load(port_);
  std::this_thread::sleep_for(300ms);
  StopServer(SIGKILL);
  // The router runs in its own process and the replicas stay: clients of the
  // service port see no failure while the control plane is gone.
  int at_kill = load.total();
  std::this_thread::sleep_for(500ms);
  int during = load.total() - at_kill;  // answered with no control plane
  auto started = std::chrono::steady_clock::now();
  StartServer();
  ASSERT_EQ(Watch(), 0) << last_watch_;
  // The pause resumed with its remaining time, not a fresh 4 s.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  std::this_thread::sleep_for(300ms);
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure();
  EXPECT_GT(during, 0);
  EXPECT_EQ(Get("/"), "hello from v2\n");
  // No replica was restarted: each log has one "listening" line.
  Ran logs = Cli({"logs", "rollout/web"});
  size_t lines = 0;
  for (size_t at = logs.out.find("listening on"); at != std::string::npos;
       at = logs.out.find("listening on", at + 1)) {
    ++lines;
  }
  Json ro = Rollout();
  EXPECT_EQ(lines, static_cast<size_t>(ro["status"].value("replicas", 0))) << logs.out;
}

// A replica writes its log straight to a file (it outlives the server), so
// the log is masked as the API serves it: raw, base64 and URL-encoded.
TEST_F(RolloutE2E, SecretsAreMaskedInWorkloadLogs) {
  StartServer();
  Apply(R"yaml(apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: "s3cr3t/T0ken+value"}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: leaky}
spec:
  replicas: 1
  selector: {matchLabels: {app: leaky}}
  template:
    metadata: {labels: {app: leaky}}
    spec:
      containers:
      - name: leaky
        image: leaky:v1
        command: [sh, -c, 'echo "raw=$TOKEN"; printf %s "$TOKEN" | base64; echo "url=$(printf %s "$TOKEN" | sed "s:/:%2F:g; s:+:%2B:g")"; echo done; exec sleep 600']
        env:
        - name: TOKEN
          valueFrom: {secretKeyRef: {name: creds, key: token}}
  strategy:
    canary: {steps: []}
)yaml");
  Ran logs;
  ASSERT_TRUE(WaitFor(
      [&] {
        logs = Cli({"logs", "rollout/leaky"});
        return logs.out.find("done") != std::string::npos;
      },
      30s))
      << logs.out << logs.err;
  EXPECT_NE(logs.out.find("raw=***"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("url=***"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("s3cr3t"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("czNjcjN0L1Qwa2VuK3ZhbHVl"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("%2FT0ken"), std::string::npos) << logs.out;
}

TEST_F(RolloutE2E, KillNineDuringAnalysisResumesItWithoutRepeatingMeasurements) {
  StartServer();
  const char* steps = R"(    canary:
      stableService: web
      steps:
      - setWeight: 50
      - analysis:
          templates: [{templateName: four-checks}]
          args: [{name: service, value: web}]
)";
  const char* four = R"(---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: four-checks}
spec:
  args: [{name: service}]
  metrics:
  - name: success-rate
    interval: 1s
    count: 4
    successCondition: result >= 0.95
    provider:
      router: {service: "{{args.service}}", window: 5s}
)";
  Apply(Manifest("v1", steps, 2, "", four));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v2", steps, 2, "", four));
  auto measured = [&] {
    Ran runs = Cli({"get", "analysisruns", "-o", "json"});
    Json j = Json::parse(runs.out, nullptr, false);
    size_t n = 0;
    std::string phase;
    const Json items = j.is_object() && j.contains("items") ? j["items"] : Json::array({j});
    for (const auto& run : items) {
      if (!run.is_object() || !run.contains("status")) continue;
      phase = run["status"].value("phase", "");
      for (const auto& m : run["status"].value("metricResults", Json::array())) {
        n += m.value("count", size_t{0});  // as Argo counts: Error measurements are not in it
      }
    }
    return std::make_pair(n, phase);
  };
  ASSERT_TRUE(WaitFor([&] { return measured().first >= 2; }, 30s));
  StopServer(SIGKILL);
  std::this_thread::sleep_for(300ms);
  StartServer();
  ASSERT_EQ(Watch(), 0) << last_watch_;
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure();
  auto [n, phase] = measured();
  EXPECT_EQ(phase, "Successful");
  // The run went on from the measurements it had: not one more than count.
  EXPECT_EQ(n, 4u) << Cli({"get", "analysisruns", "-o", "json"}).out;
  EXPECT_EQ(Get("/"), "hello from v2\n");
}

TEST_F(RolloutE2E, HeaderRoutesAndMirroringReachTheCanary) {
  StartServer();
  // Header and mirror routes, and setCanaryScale, need trafficRouting, as
  // in Argo (without it setCanaryScale is ignored).
  const char* steps = R"(    canary:
      stableService: web
      trafficRouting: {managedRoutes: [{name: beta}, {name: copies}]}
      steps:
      - setCanaryScale: {replicas: 1}
      - setHeaderRoute:
          name: beta
          match: [{headerName: X-Beta, headerValue: {exact: "yes"}}]
      - setMirrorRoute:
          name: copies
          percentage: 100
          match: [{method: {exact: GET}}]
      - pause: {}
)";
  Apply(Manifest("v1", steps));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Apply(Manifest("v2", steps));
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Paused"; }, 30s));
  ASSERT_TRUE(WaitFor([&] { return Get("/", {{"X-Beta", "yes"}}) == "hello from v2\n"; }, 10s));
  EXPECT_EQ(Get("/"), "hello from v1\n");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v1\n");
  Json ro = Rollout();
  std::string canary = ro["status"].value("currentPodHash", "");
  // The copies reached the canary: the router counts them.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto url = ParseHttpUrl(server_);
        auto m = http::Fetch(url->host, url->port, {"GET", "/metrics", {}, ""}, 5s);
        if (!m) return false;
        std::string key = fmt::format(
            "strake_router_mirrored_requests_total{{service=\"default/web\",revision=\"{}\"}} ",
            canary);
        auto at = m->body.find(key);
        return at != std::string::npos && std::stoi(m->body.substr(at + key.size())) >= 10;
      },
      10s));
  EXPECT_EQ(Cli({"rollout", "promote", "web", "--full"}).exit_code, 0);
  ASSERT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(Get("/"), "hello from v2\n");
}

TEST_F(RolloutE2E, BlueGreenPromotesAfterPrePromotionAnalysis) {
  StartServer();
  std::string job = R"(---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  args: [{name: url}]
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: smoke
                command: [sh, -c, "python3 -c \"import urllib.request,sys; sys.exit(0 if b'v' in urllib.request.urlopen(sys.argv[1]).read() else 1)\" $URL"]
                env: [{name: URL, value: "{{args.url}}"}]
)";
  std::string strategy = fmt::format(R"(    blueGreen:
      activeService: web
      previewService: web-preview
      prePromotionAnalysis:
        templates: [{{templateName: smoke}}]
        args: [{{name: url, value: "http://127.0.0.1:{}/"}}]
)",
                                     preview_port_);
  Apply(Manifest("v1", strategy, 1, "", job));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(Get("/"), "hello from v1\n");
  Load load(port_);
  Apply(Manifest("v2", strategy, 1, "", job));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure();
  EXPECT_EQ(Get("/"), "hello from v2\n");
  Ran runs = Cli({"get", "analysisruns"});
  EXPECT_NE(runs.out.find("-pre"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("Successful"), std::string::npos) << runs.out;
}

TEST_F(RolloutE2E, BadInputIsRefusedWithClearErrors) {
  StartServer();
  // Invalid steps: refused before anything is sent, with file:line:col.
  std::string bad_steps = Manifest("v1", R"(    canary:
      steps:
      - setWeight: 150
)");
  Ran r = Cli({"apply", "-f", File("bad.yaml", bad_steps)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
  EXPECT_NE(
      r.err.find("spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, found 150"),
      std::string::npos)
      << r.err;
  // A condition that does not compile: refused by the server with its path.
  r = Cli({"apply", "-f", File("expr.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: broken}
spec:
  metrics:
  - name: m
    successCondition: "result[0] >= "
    provider: {router: {service: web}}
)")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("spec.metrics[0].successCondition: col 14: unexpected end of expression"),
            std::string::npos)
      << r.err;
  // An analysis step naming a template that does not exist aborts the update.
  const char* missing = R"(    canary:
      stableService: web
      steps:
      - analysis: {templates: [{templateName: nope}]}
)";
  Apply(Manifest("v1", missing));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Apply(Manifest("v2", missing));
  EXPECT_EQ(Watch(), 1);
  EXPECT_NE(last_watch_.find("AnalysisTemplate \"nope\" not found"), std::string::npos)
      << last_watch_;
  // A command that does not exist: the reason is in the rollout's message.
  std::string nocmd = Manifest("v1", missing);
  ReplaceAll(nocmd, "command: [python3,", "command: [no-such-command-xyz,");
  ReplaceAll(nocmd, "name: web}", "name: nocmd}");
  ASSERT_EQ(Cli({"apply", "-f", File("nocmd.yaml", nocmd.substr(nocmd.find("kind: Rollout") - 33))})
                .exit_code,
            0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Rollout("nocmd")["status"]
                   .value("message", "")
                   .find("no-such-command-xyz: command not found") != std::string::npos;
      },
      15s))
      << Rollout("nocmd").dump();
  // A Service port that is already taken.
  auto taken = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(taken);
  std::string clash = Manifest("v1", missing);
  ReplaceAll(clash, fmt::format("port: {}, targetPort", port_),
             fmt::format("port: {}, targetPort", taken->port));
  ReplaceAll(clash, "metadata: {name: web}\nspec:\n  replicas",
             "metadata: {name: clash}\nspec:\n  replicas");
  ReplaceAll(clash, "metadata: {name: web}\nspec:\n  selector",
             "metadata: {name: clashsvc}\nspec:\n  selector");
  ReplaceAll(clash, "stableService: web", "stableService: clashsvc");
  Apply(clash, "clash.yaml");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Rollout("clash")["status"]
                   .value("message", "")
                   .find("service clashsvc cannot serve: port " + std::to_string(taken->port) +
                         " on 127.0.0.1 is taken by another process") != std::string::npos;
      },
      15s))
      << Rollout("clash").dump();
}

TEST_F(RolloutE2E, ApplyMergesOnTheServerAndPatchesAreChecked) {
  StartServer();
  auto config = [&](const std::string& data) {
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, labels: {team: a}}\n"
           "data: {" +
           data + "}\n";
  };
  Apply(config("mode: fast, level: '1'"), "cm.yaml");
  // Someone else adds a key and a label.
  Ran r = Cli({"patch", "configmap", "settings", "-p",
               R"({"data":{"owner":"ops"},"metadata":{"labels":{"env":"dev"}}})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The file changes one key and drops another: the other client's key and
  // label stay, the dropped key goes.
  Apply(config("mode: safe"), "cm.yaml");
  r = Cli({"get", "configmap", "settings", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json cm = Json::parse(r.out);
  EXPECT_EQ(cm["data"], Json({{"mode", "safe"}, {"owner", "ops"}})) << cm.dump();
  EXPECT_EQ(cm["metadata"]["labels"].size(), 2u) << cm.dump();
  EXPECT_EQ(cm["metadata"]["labels"].value("team", ""), "a") << cm.dump();
  EXPECT_EQ(cm["metadata"]["labels"].value("env", ""), "dev") << cm.dump();
  r = Cli({"get", "configmaps", "-l", "env=dev"});
  EXPECT_NE(r.out.find("settings"), std::string::npos) << r.out << r.err;

  // A JSON patch; a failed test operation changes nothing.
  r = Cli({"patch", "configmap", "settings", "--type", "json", "-p",
           R"([{"op":"replace","path":"/data/mode","value":"x"},)"
           R"({"op":"test","path":"/data/owner","value":"nobody"}])"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("[1] test /data/owner"), std::string::npos) << r.err;
  r = Cli({"get", "configmap", "settings", "-o", "json"});
  EXPECT_EQ(Json::parse(r.out)["data"]["mode"], "safe");

  // A patch that makes the object invalid is refused with the field path.
  r = Cli({"patch", "configmap", "settings", "-p", R"({"data":{"n":{"x":1}}})"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("data.n: expected a string"), std::string::npos) << r.err;

  // A stale resourceVersion is a conflict; the current one goes through.
  auto url = ParseHttpUrl(server_);
  ASSERT_TRUE(url);
  auto patch = [&](const std::string& type, const std::string& body) {
    http::Request req;
    req.method = "PATCH";
    req.target = "/api/v1/namespaces/default/configmaps/settings";
    req.headers = Auth();
    req.headers.emplace_back("Content-Type", type);
    req.body = body;
    auto got = http::Fetch(url->host, url->port, req, 5s);
    EXPECT_TRUE(got);
    return got ? *got : http::Response{};
  };
  std::string rv = cm["metadata"]["resourceVersion"];
  auto stale = patch("application/merge-patch+json",
                     R"({"metadata":{"resourceVersion":")" + rv + R"("},"data":{"owner":"me"}})");
  EXPECT_EQ(stale.status, 200) << stale.body;  // nothing changed since the get
  auto again = patch("application/merge-patch+json",
                     R"({"metadata":{"resourceVersion":")" + rv + R"("},"data":{"owner":"you"}})");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.body.find("not " + rv), std::string::npos) << again.body;
  auto wrong_type = patch("application/xml", "<a/>");
  EXPECT_EQ(wrong_type.status, 415) << wrong_type.body;
  auto missing = http::Fetch(url->host, url->port,
                             {"PATCH",
                              "/api/v1/namespaces/default/configmaps/nope",
                              {{"Content-Type", "application/merge-patch+json"}, Auth()[0]},
                              "{}"},
                             5s);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // A Secret applied twice: values never show, not even in the record of
  // the last apply.
  Apply("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: hunter2}\n",
        "s.yaml");
  Apply("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: hunter3}\n",
        "s.yaml");
  r = Cli({"get", "secret", "creds", "-o", "json"});
  EXPECT_EQ(r.out.find("hunter"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<redacted>"), std::string::npos) << r.out;
}

TEST_F(RolloutE2E, ADeploymentRollsWithoutFailedRequests) {
  StartServer();
  auto manifest = [&](const std::string& version) {
    return fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: api}}
spec:
  selector: {{app: api}}
  ports: [{{port: {}, targetPort: 8080}}]
---
)",
                       port_) +
           DeploymentYaml("api", version, 2,
                          "  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n");
  };
  auto available = [&](const std::string& version) {
    Ran r = Cli({"get", "deployment", "api", "-o", "json"});
    Json d = Json::parse(r.out, nullptr, false);
    return d.is_object() && d["status"].value("phase", "") == "Available" &&
           d["status"].value("replicas", 0) == 2 && Get("/") == "hello from " + version + "\n";
  };
  Apply(manifest("v1"), "api.yaml");
  ASSERT_TRUE(WaitFor([&] { return available("v1"); }, 30s));
  Load load(port_);
  std::this_thread::sleep_for(300ms);
  Apply(manifest("v2"), "api.yaml");
  ASSERT_TRUE(WaitFor([&] { return available("v2"); }, 60s));
  std::this_thread::sleep_for(500ms);  // the old replicas drain and stop under load
  load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure();
  EXPECT_GT(load.bodies()["hello from v1\n"], 0);
  EXPECT_GT(load.bodies()["hello from v2\n"], 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v2\n");
  // The replicas are processes, listed as the Pods a cluster would show.
  auto ready_pods = [&] {
    Ran r = Cli({"get", "pods", "-l", "app=api", "-o", "json"});
    Json list = Json::parse(r.out, nullptr, false);
    std::vector<std::string> names;
    if (!list.is_object()) return names;
    for (const Json& pod : list["items"]) {
      const Json& st = pod["status"];
      if (st.value("phase", "") != "Running" || !st["containerStatuses"][0].value("ready", false))
        continue;
      EXPECT_EQ(pod["metadata"]["ownerReferences"][0].value("kind", ""), "Deployment");
      EXPECT_GT(st.value("pid", 0), 0) << pod.dump();
      names.push_back(pod["metadata"].value("name", ""));
    }
    return names;
  };
  std::vector<std::string> pods;
  ASSERT_TRUE(WaitFor([&] { return (pods = ready_pods()).size() == 2; }, 10s))
      << Cli({"get", "pods", "-o", "wide"}).out;
  Ran one = Cli({"get", "pod", pods[0]});
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("1/1"), std::string::npos) << one.out;
  Ran wide = Cli({"get", "pods", "-o", "wide"});
  EXPECT_NE(wide.out.find("Deployment/api"), std::string::npos) << wide.out;
}

// Services as Kubernetes manifests write them: two on the same port each
// get an address of their own (127.0.0.1, then 127.1.0.1) and serve side by
// side, kept across a restart; one that selects nothing answers 503 saying
// so; one whose port another process holds says so, and serves once it is
// free. Each in its status, its events and `get svc`. Port 80 when this
// process may bind it (root, or ip_unprivileged_port_start), as the docs
// promise; else a free port.
TEST_F(RolloutE2E, ServicesOnOnePortGetAddressesOfTheirOwnAndSayWhyTheyCannotServe) {
  StartServer();
  uint16_t shared = port_;
  {
    auto a = ListenTcp("127.0.0.1", 80), b = ListenTcp("127.1.0.1", 80);
    if (a && b) shared = 80;
  }
  uint16_t nothing_port = FreePort();
  auto held = ListenTcp("127.0.0.1", 0);  // another process's port, as far as strake knows
  ASSERT_TRUE(held);
  std::string text;
  for (const char* app : {"a", "b"}) {
    text += fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: {app}}}
spec:
  selector: {{app: {app}}}
  ports: [{{port: {port}, targetPort: 8080}}]
---
)",
                        fmt::arg("app", app), fmt::arg("port", shared)) +
            DeploymentYaml(app, app, 1) + "---\n";
  }
  text += fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: nothing}}
spec:
  selector: {{app: nobody}}
  ports: [{{port: {}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: held}}
spec:
  selector: {{app: a}}
  ports: [{{port: {}}}]
)",
                      nothing_port, held->port);
  Apply(text, "services.yaml");
  auto svc = [&](const std::string& name) {
    Ran r = Cli({"get", "svc", name, "-o", "json"});
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_object() ? j : Json::object();
  };
  auto ready = [&](const std::string& name) -> std::string {
    Json st = svc(name).value("status", Json::object());
    for (const auto& c : st.value("conditions", Json::array())) return c.value("reason", "");
    return "";
  };
  ASSERT_TRUE(WaitFor([&] { return ready("a") == "Serving" && ready("b") == "Serving"; }, 30s))
      << svc("a").dump() << svc("b").dump();
  EXPECT_EQ(svc("a")["status"].value("clusterIP", ""), "127.0.0.1");
  EXPECT_EQ(svc("b")["status"].value("clusterIP", ""), "127.1.0.1");
  auto body = [&](const std::string& host, uint16_t port) {
    auto r = http::Fetch(host, port, {}, 5s);
    return r ? fmt::format("{} {}", r->status, r->body) : "error: " + r.error().message;
  };
  EXPECT_EQ(body("127.0.0.1", shared), "200 hello from a\n");
  EXPECT_EQ(body("127.1.0.1", shared), "200 hello from b\n");

  ASSERT_TRUE(WaitFor([&] { return ready("nothing") == "SelectsNothing"; }, 15s))
      << svc("nothing").dump();
  EXPECT_EQ(body("127.0.0.1", nothing_port),
            "503 service default/nothing: no ready endpoint: its selector app=nobody matches no "
            "Rollout or Deployment\n");
  ASSERT_TRUE(WaitFor([&] { return ready("held") == "PortTaken"; }, 15s)) << svc("held").dump();
  Ran table = Cli({"get", "svc"});
  EXPECT_NE(table.out.find("CLUSTER-IP"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("SelectsNothing"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("PortTaken"), std::string::npos) << table.out;
  EXPECT_NE(
      table.out.find(fmt::format("port {} on 127.0.0.1 is taken by another process", held->port)),
      std::string::npos)
      << table.out;
  Ran events = Cli({"describe", "svc", "held"});
  EXPECT_NE(events.out.find("PortTaken"), std::string::npos) << events.out;
  held->fd = Fd();  // the other process goes: the Service serves
  ASSERT_TRUE(WaitFor([&] { return ready("held") == "Serving"; }, 15s)) << svc("held").dump();
  EXPECT_EQ(body("127.0.0.1", held->port), "200 hello from a\n");

  // A restart keeps every address.
  StopServer(SIGTERM);
  StartServer();
  // The status read back may be the one written before the restart; what
  // counts is that b answers on its own address again once its replica is
  // ready (its readiness probe runs anew in the new server).
  ASSERT_TRUE(WaitFor([&] { return body("127.1.0.1", shared) == "200 hello from b\n"; }, 30s))
      << body("127.1.0.1", shared) << svc("b").dump();
  EXPECT_EQ(ready("b"), "Serving");
  EXPECT_EQ(svc("a")["status"].value("clusterIP", ""), "127.0.0.1");
  EXPECT_EQ(svc("b")["status"].value("clusterIP", ""), "127.1.0.1");
  EXPECT_TRUE(WaitFor([&] { return body("127.0.0.1", shared) == "200 hello from a\n"; }, 30s))
      << body("127.0.0.1", shared);
}

// Argo's way to migrate a Deployment (docs/migrating.md): a Rollout whose
// workloadRef names it runs the Deployment's template beside it, takes its
// Service over with no failed request (ready replicas of both share the
// traffic, as kube-proxy shares it), and with scaleDown: onsuccess scales
// the Deployment to 0 once Healthy. A change of the Deployment's template
// is the Rollout's next revision; an undo changes it back there. Applied
// before its Deployment, the Rollout says what it waits for.
TEST_F(RolloutE2E, AWorkloadRefMigratesADeploymentWithNoFailedRequest) {
  StartServer();
  auto deployment = [&](const std::string& version, int replicas) {
    return DeploymentYaml("web", version, replicas);
  };
  const std::string rollout = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: onsuccess}
  strategy:
    canary:
      stableService: web-stable
      steps: [{setWeight: 50}, {pause: {duration: 1s}}]
)";
  const uint16_t stable_port = FreePort();
  Apply(rollout, "rollout.yaml");
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Degraded"; }, 15s)) << Rollout().dump();
  EXPECT_NE(Rollout()["status"]
                .value("message", "")
                .find("workloadRef: deployment \"web\" not found in namespace default"),
            std::string::npos)
      << Rollout().dump();

  Cli({"delete", "rollout", "web"});
  ASSERT_TRUE(WaitFor([&] { return Cli({"get", "rollout", "web"}).exit_code != 0; }, 10s));
  Apply(fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: {}, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-stable}}
spec:
  selector: {{app: web}}
  ports: [{{port: {}, targetPort: 8080}}]
---
{})",
                    port_, stable_port, deployment("dep", 2)));
  ASSERT_TRUE(WaitFor([&] { return Get("/") == "hello from dep\n"; }, 30s)) << Get("/");
  // Each Service is routed in its own step (the change log showed the
  // stable one a few milliseconds after the plain one): both serve first.
  ASSERT_TRUE(WaitFor([&] { return Get("/", {}, stable_port) == "hello from dep\n"; }, 10s))
      << Get("/", {}, stable_port);
  auto deployment_json = [&] {
    Ran r = Cli({"get", "deployment", "web", "-o", "json"});
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_object() ? j : Json::object();
  };

  // Both the plain Service and the Rollout's stable Service, under load.
  Load load(port_), stable_load(stable_port);
  Apply(rollout, "rollout.yaml");
  ASSERT_EQ(Watch(), 0) << last_watch_;
  ASSERT_TRUE(WaitFor([&] { return deployment_json()["spec"].value("replicas", -1) == 0; }, 15s))
      << deployment_json().dump();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Rollout()["status"].value("workloadObservedGeneration", "") ==
               std::to_string(deployment_json()["metadata"].value("generation", 0));
      },
      10s))
      << Rollout().dump() << deployment_json().dump();
  // The Deployment's own replicas go; the Rollout's serve alone.
  ASSERT_TRUE(WaitFor([&] { return deployment_json()["status"].value("replicas", -1) == 0; }, 20s))
      << Cli({"get", "pods"}).out << deployment_json().dump();
  std::this_thread::sleep_for(300ms);
  load.Stop();
  stable_load.Stop();
  EXPECT_EQ(load.failures(), 0) << load.last_failure() << " of " << load.total();
  EXPECT_EQ(stable_load.failures(), 0)
      << stable_load.last_failure() << " of " << stable_load.total();
  EXPECT_EQ(Get("/"), "hello from dep\n");

  // The Deployment's template changes (its file says replicas: 0 now, as
  // Argo's docs have it): the Rollout's canary walks its steps.
  Load load2(port_);
  auto current = [&] { return Rollout()["status"].value("currentPodHash", ""); };
  const std::string first = current();
  Apply(deployment("v2", 0));
  // The new revision is seen (a phase other than Healthy may pass between
  // two looks), then walks its steps.
  ASSERT_TRUE(WaitFor([&] { return current() != first; }, 30s)) << Rollout().dump();
  ASSERT_EQ(Watch(), 0) << last_watch_;
  load2.Stop();
  EXPECT_EQ(load2.failures(), 0) << load2.last_failure() << " of " << load2.total();
  EXPECT_GT(load2.bodies()["hello from v2\n"], 0);
  EXPECT_EQ(Get("/"), "hello from v2\n");
  EXPECT_EQ(deployment_json()["status"].value("replicas", -1), 0);
  EXPECT_EQ(Rollout()["status"].value("workloadObservedGeneration", ""),
            std::to_string(deployment_json()["metadata"].value("generation", 0)));

  // Undo: the Deployment's template goes back, and so does the Rollout.
  Ran undo = Cli({"rollout", "undo", "web"});
  ASSERT_EQ(undo.exit_code, 0) << undo.out << undo.err;
  EXPECT_EQ(
      deployment_json()["spec"]["template"]["spec"]["containers"][0]["env"][0].value("value", ""),
      "dep");
  ASSERT_TRUE(WaitFor([&] { return current() == first; }, 30s)) << Rollout().dump();
  ASSERT_EQ(Watch(), 0) << last_watch_;
  EXPECT_EQ(Get("/"), "hello from dep\n");

  // The Deployment is deleted: the Rollout says so and keeps serving its
  // current revision (its template recorded).
  ASSERT_EQ(Cli({"delete", "deployment", "web"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Degraded"; }, 10s)) << Rollout().dump();
  EXPECT_EQ(Rollout()["status"].value("message", ""),
            "InvalidSpec: workloadRef: deployment \"web\" not found in namespace default");
  EXPECT_EQ(Get("/"), "hello from dep\n");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Get("/"), "hello from dep\n");
}

// A real Prometheus (Debian's package) scrapes strake's /metrics; the
// analysis asks it for the canary's success rate and aborts a bad version.
// initialDelay leaves time for two scrapes of the canary's series: rate()
// has nothing to say before (an empty result is Inconclusive, as in Argo).
// Beside it, a dry-run kayenta metric whose canary config asks the same
// Prometheus (an account of Kayenta's own kayenta.yml) for each revision's
// error rate over the run: the judge fails the canary on those series.
TEST_F(RolloutE2E, PrometheusProviderCatchesABadVersion) {
  if (!PathExists("/usr/bin/prometheus"))
    GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh installs it)";
  StartServer();
  uint16_t prom_port = FreePort();
  std::string target = server_.substr(std::string("http://").size());
  File("prometheus.yml", fmt::format(R"(global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: strake
  static_configs: [{{targets: ["{}"]}}]
)",
                                     target));
  int prom = -1;
  Fd prom_log(
      ::open((dir_ + "/prometheus.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  {
    auto p = Spawn({{"/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                     "--storage.tsdb.path=" + dir_ + "/prom",
                     "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
                    {"PATH=/usr/bin:/bin", "HOME=" + dir_},
                    dir_,
                    -1,
                    prom_log.get(),
                    prom_log.get(),
                    {}});
    ASSERT_TRUE(p) << p.error().message;
    prom = p->pid();
  }
  auto stop_prom = [&] {
    if (prom > 0) {
      ::kill(prom, SIGTERM);
      ::waitpid(prom, nullptr, 0);
      prom = -1;
    }
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        return http::Fetch("127.0.0.1", prom_port, {"GET", "/-/ready", {}, ""}, 1s).has_value();
      },
      20s));
  std::string templates = fmt::format(R"yaml(---
apiVersion: v1
kind: ConfigMap
metadata: {{name: kayenta}}
data:
  kayenta.yml: |
    kayenta:
      prometheus:
        accounts:
        - name: local
          endpoint: {{baseUrl: "http://127.0.0.1:{0}"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-judge}}
data:
  canary-config.json: |
    {{"name": "web-judge", "judge": {{"name": "NetflixACAJudge-v1.0"}},
     "metrics": [{{"name": "errors", "groups": ["web"],
                  "query": {{"type": "prometheus", "customInlineTemplate": "PromQL:(sum(rate(strake_router_requests_total{{revision=\"${{scope}}\",code=\"5xx\"}}[5s])) or vector(0)) / sum(rate(strake_router_requests_total{{revision=\"${{scope}}\"}}[5s]))"}},
                  "analysisConfigurations": {{"canary": {{"direction": "increase"}}}}}}]}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: prom-success}}
spec:
  args: [{{name: hash}}, {{name: stable-hash}}]
  dryRun: [{{metricName: judge}}]
  metrics:
  - name: judge
    initialDelay: 7s
    interval: 6s
    count: 1
    provider:
      kayenta:
        address: https://kayenta.example.com
        application: web
        canaryConfigName: web-judge
        metricsAccountName: local
        threshold: {{pass: 90, marginal: 75}}
        scopes:
        - name: default
          controlScope: {{scope: "{{{{args.stable-hash}}}}", step: 1}}
          experimentScope: {{scope: "{{{{args.hash}}}}", step: 1}}
  - name: success-rate
    initialDelay: 8s
    interval: 2s
    count: 3
    successCondition: len(result) > 0 && result[0] >= 0.95
    failureCondition: len(result) > 0 && result[0] < 0.95
    provider:
      prometheus:
        address: http://127.0.0.1:{0}
        query: >-
          sum(rate(strake_router_requests_total{{revision="{{{{args.hash}}}}",code!="5xx"}}[10s]))
          / sum(rate(strake_router_requests_total{{revision="{{{{args.hash}}}}"}}[10s]))
)yaml",
                                      prom_port);
  const char* steps = R"(    canary:
      stableService: web
      steps:
      - setWeight: 50
      - analysis:
          templates: [{templateName: prom-success}]
          args:
          - {name: hash, valueFrom: {podTemplateHashValue: Latest}}
          - {name: stable-hash, valueFrom: {podTemplateHashValue: Stable}}
)";
  Apply(Manifest("v1", steps, 2, "", templates));
  ASSERT_EQ(Watch(), 0) << last_watch_;
  Load load(port_);
  Apply(Manifest("v3", steps, 2, "        - {name: ERROR_RATE, value: \"0.5\"}\n", templates));
  int watched = Watch();
  if (watched != 1) {
    auto targets = http::Fetch("127.0.0.1", prom_port, {"GET", "/api/v1/targets", {}, ""}, 2s);
    ADD_FAILURE() << "prometheus targets: " << (targets ? targets->body : targets.error().message);
    auto series =
        http::Fetch("127.0.0.1", prom_port,
                    {"GET", "/api/v1/query?query=strake_router_requests_total", {}, ""}, 2s);
    ADD_FAILURE() << "series: " << (series ? series->body : series.error().message);
  }
  EXPECT_EQ(watched, 1) << last_watch_;
  load.Stop();
  stop_prom();
  EXPECT_NE(last_watch_.find("metric success-rate failed: result [0."), std::string::npos)
      << last_watch_;
  Ran runs = Cli({"get", "analysisruns", "-o", "json"});
  EXPECT_NE(runs.out.find("\"Failed\""), std::string::npos) << runs.out;
  // The dry-run judge measured on Prometheus's series and failed the canary.
  Json judged;
  for (const auto& run : Json::parse(runs.out, nullptr, false).value("items", Json::array())) {
    for (const auto& m : run["status"].value("metricResults", Json::array())) {
      if (m.value("name", "") == "judge") judged = m;
    }
  }
  EXPECT_EQ(judged.value("phase", ""), "Failed") << runs.out;
  EXPECT_TRUE(judged.value("dryRun", false)) << judged.dump(2);
  // No trafficRouting: at 50% of 2 replicas the stable ran 1, and the abort
  // goes back by replica counts within maxUnavailable (0): the canary serves
  // until the stable is back to 2, then goes.
  EXPECT_TRUE(WaitFor([&] { return Rollout()["status"].value("updatedReplicas", -1) == 0; }, 30s))
      << Rollout().dump(2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Get("/"), "hello from v1\n");
}

}  // namespace
}  // namespace strake::e2e
