#include "model/rollouts.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/strings.h"
#include "model/decode.h"

namespace strake::model {
namespace {

std::vector<Resource> DecodeText(const std::string& text, Diagnostics& diags) {
  auto docs = ParseYaml(text, "r.yaml");
  EXPECT_TRUE(docs) << (docs ? "" : docs.error().message);
  return docs ? Decode(*docs, diags) : std::vector<Resource>{};
}

TEST(RolloutsDecodeTest, TheCanaryExampleDecodesWithArgoDefaults) {
  auto loaded = LoadFiles({std::string(STRAKE_SOURCE_DIR) + "/examples/rollout-canary.yaml"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->resources.size(), 3u);
  const auto* svc = std::get_if<Service>(&loaded->resources[0].value);
  ASSERT_TRUE(svc);
  EXPECT_EQ(svc->ports[0].port, 8080);
  EXPECT_EQ(svc->ports[0].target_port, "http");
  const auto* tmpl = std::get_if<AnalysisTemplate>(&loaded->resources[1].value);
  ASSERT_TRUE(tmpl);
  const Metric& m = tmpl->spec.metrics[0];
  EXPECT_EQ(m.provider.kind, MetricProvider::Kind::kRouter);
  EXPECT_EQ(m.consecutive_error_limit, 4);  // Argo's default
  EXPECT_EQ(m.count, 3);
  EXPECT_EQ(m.interval, Millis(2000));
  const auto* ro = std::get_if<Rollout>(&loaded->resources[2].value);
  ASSERT_TRUE(ro);
  ASSERT_TRUE(ro->spec.canary);
  const auto& steps = ro->spec.canary->steps;
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0].kind, CanaryStep::Kind::kSetWeight);
  EXPECT_EQ(steps[0].weight, 20);
  EXPECT_EQ(steps[1].pause, Millis(5000));
  EXPECT_EQ(steps[2].analysis.templates[0].name, "success-rate");
  EXPECT_EQ(ro->spec.canary->abort_scale_down_delay_seconds, 30);
  EXPECT_EQ(ro->spec.revision_history_limit, 10);
  EXPECT_EQ(ro->spec.progress_deadline_seconds, 600);
  ASSERT_TRUE(ro->spec.pod.containers[0].readiness);
  EXPECT_EQ(ro->spec.pod.containers[0].readiness->failure_threshold, 3);
}

TEST(RolloutsDecodeTest, BadStepsNameLineColumnAndPath) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      steps:
      - setWeight: 120
      - pause: {duration: soon}
      - setWieght: 10
      - {setWeight: 10, pause: {}}
      - plugin: {config: {a: 1}}
)",
             diags);
  auto errors = diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 6u) << diags.ErrorText();
  EXPECT_EQ(errors[0],
            "r.yaml:13:20: spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, "
            "found 120");
  EXPECT_NE(errors[1].find("r.yaml:14:27: spec.strategy.canary.steps[1].pause.duration:"),
            std::string::npos)
      << errors[1];
  EXPECT_EQ(errors[3],
            "r.yaml:15:9: spec.strategy.canary.steps[2].setWieght: unknown field \"setWieght\" "
            "(did you mean \"setWeight\"?)");
  EXPECT_NE(errors[4].find("steps[3]: a step may have only one of setWeight, pause, analysis, "
                           "experiment"),
            std::string::npos)
      << errors[4];
  EXPECT_EQ(errors[5],
            "r.yaml:17:17: spec.strategy.canary.steps[4].plugin.name: required field is missing");
}

// Argo allows setCanaryScale, setHeaderRoute and setMirrorRoute beside a
// step's one action (test/e2e/apisix/rollout-apisix-canary-set-header.yaml).
TEST(RolloutsDecodeTest, RouteAndScaleMayComeBesideAStepsAction) {
  Diagnostics diags;
  auto res = DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      trafficRouting: {managedRoutes: [{name: set-header}]}
      steps:
      - setCanaryScale: {replicas: 1}
        setHeaderRoute:
          name: set-header
          match: [{headerName: trace, headerValue: {exact: debug}}]
      - pause: {}
        setMirrorRoute: {name: m, match: [{method: {exact: GET}}]}
)",
                        diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const auto& steps = std::get<Rollout>(res.at(0).value).spec.canary->steps;
  EXPECT_EQ(steps[0].kind, CanaryStep::Kind::kSetCanaryScale);
  EXPECT_TRUE(steps[0].has_scale && steps[0].has_header_route);
  EXPECT_EQ(steps[0].route_name, "set-header");
  EXPECT_EQ(steps[1].kind, CanaryStep::Kind::kPause);
  EXPECT_TRUE(steps[1].has_mirror_route);
  EXPECT_EQ(steps[1].mirror_route_name, "m");
}

TEST(RolloutsDecodeTest, AHeaderRouteRegexIsCompiledWhenDecoded) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      trafficRouting: {managedRoutes: [{name: beta}]}
      steps:
      - setHeaderRoute:
          name: beta
          match:
          - {headerName: X-Group, headerValue: {regex: "beta-(0-9]+"}}
)",
             diags);
  auto errors = diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 1u) << diags.ErrorText();
  EXPECT_EQ(errors[0].rfind("r.yaml:17:56: spec.strategy.canary.steps[0].setHeaderRoute.match[0]"
                            ".headerValue.regex: not a regular expression: ",
                            0),
            0u)
      << errors[0];
}

// Whether trafficRouting is there decides how weights are made (exact by
// the router, or approximated by replica counts); its settings are not used.
// setCanaryScale without it is ignored, as Argo ignores it.
TEST(RolloutsDecodeTest, TrafficRoutingIsNotedAndScaleWithoutItIsIgnored) {
  const char* text = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
%s      steps:
      - setCanaryScale: {replicas: 1}
      - setWeight: 20
)";
  auto decode = [&](const std::string& routing, Diagnostics& diags) {
    std::string yaml = text;
    yaml.replace(yaml.find("%s"), 2, routing);
    auto res = DecodeText(yaml, diags);
    EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
    return std::get<Rollout>(res.at(0).value).spec.canary->traffic_routing;
  };
  Diagnostics basic;
  EXPECT_FALSE(decode("", basic));
  auto warnings = basic.WarningStrings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(
      warnings[0].find(
          "r.yaml:13:9: spec.strategy.canary.steps[0].setCanaryScale: warning: ignored without "
          "trafficRouting"),
      std::string::npos)
      << warnings[0];
  Diagnostics routed;
  EXPECT_TRUE(decode("      trafficRouting: {appMesh: {virtualService: {name: web}}}\n", routed));
  warnings = routed.WarningStrings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("trafficRouting.appMesh: warning: \"appMesh\" is ignored: it is not "
                             "kept current: the embedded router sets the weights"),
            std::string::npos)
      << warnings[0];
  // Traefik's TraefikService is kept at the weights: nothing to say but
  // that it needs both Services.
  Diagnostics traefik;
  EXPECT_TRUE(
      decode("      trafficRouting: {traefik: {weightedTraefikServiceName: web}}\n", traefik));
  warnings = traefik.WarningStrings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("kept at the weights only with canaryService and stableService"),
            std::string::npos)
      << warnings[0];
}

// Argo Rollouts' Gateway API plugin, as its docs write the config.
TEST(RolloutsDecodeTest, TheGatewayApiPluginsRoutesAreReadAndOtherPluginsSaidIgnored) {
  auto decode = [](const std::string& plugins, Diagnostics& diags) {
    auto res = DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      canaryService: canary
      stableService: stable
      trafficRouting:
        plugins:
)" + plugins,
                          diags);
    return res.empty() ? MeshRouting{} : std::get<Rollout>(res[0].value).spec.canary->mesh;
  };
  Diagnostics ok;
  MeshRouting mesh = decode(R"(          argoproj-labs/gatewayAPI:
            httpRoute: first
            httpRoutes: [{name: second, useHeaderRoutes: true}]
            grpcRoute: g
            tcpRoutes: [{name: t}]
            tlsRouteSelector: {matchLabels: {team: a}}
            namespace: routes
            inProgressLabelKey: example.com/canary
          example/other: {x: 1}
)",
                            ok);
  ASSERT_FALSE(ok.HasErrors()) << ok.ErrorText();
  ASSERT_TRUE(mesh.gateway_api);
  const GatewayApiRouting& g = *mesh.gateway_api;
  std::vector<std::string> routes;
  for (const auto& r : g.routes) routes.push_back(r.kind + "/" + r.name);
  EXPECT_EQ(routes, (std::vector<std::string>{"HTTPRoute/first", "HTTPRoute/second", "GRPCRoute/g",
                                              "TCPRoute/t"}));
  ASSERT_EQ(g.selectors.size(), 1u);
  EXPECT_EQ(g.selectors[0].kind, "TLSRoute");
  EXPECT_EQ(g.selectors[0].match_labels.at("team"), "a");
  EXPECT_EQ(g.ns, "routes");
  EXPECT_TRUE(g.in_progress_label);
  EXPECT_EQ(g.in_progress_key, "example.com/canary");
  EXPECT_EQ(g.in_progress_value, "in-progress");
  auto warnings = ok.WarningStrings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("r.yaml:24:26: spec.strategy.canary.trafficRouting.plugins.example/"
                             "other: warning: plugin \"example/other\" is ignored"),
            std::string::npos)
      << warnings[0];

  Diagnostics none;
  decode("          argoproj-labs/gatewayAPI: {namespace: x, disableInProgressLabel: true}\n",
         none);
  EXPECT_NE(none.ErrorText().find("spec.strategy.canary.trafficRouting.plugins.argoproj-labs/"
                                  "gatewayAPI: needs a route"),
            std::string::npos)
      << none.ErrorText();
}

TEST(RolloutsDecodeTest, StrategyAndSelectorAreChecked) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers: [{name: c}]
  strategy: {}
)",
             diags);
  std::string text = diags.ErrorText();
  EXPECT_NE(text.find("spec.template.metadata.labels: selector app=a does not match"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("spec.strategy: needs exactly one of canary, blueGreen"), std::string::npos)
      << text;
}

TEST(RolloutsDecodeTest, RollbackWindowIsDecodedStrictly) {
  const std::string head = R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy: {canary: {steps: [{setWeight: 50}]}}
)";
  Diagnostics diags;
  auto res = DecodeText(head + "  rollbackWindow: {revisions: 3}\n", diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  EXPECT_TRUE(diags.WarningStrings().empty());  // applied, not "ignored"
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(std::get<Rollout>(res[0].value).spec.rollback_window_revisions, 3);

  Diagnostics bad;
  DecodeText(head + "  rollbackWindow: {revision: 3}\n", bad);
  EXPECT_NE(bad.ErrorText().find("spec.rollbackWindow.revision: unknown field \"revision\""),
            std::string::npos)
      << bad.ErrorText();
  Diagnostics negative;
  DecodeText(head + "  rollbackWindow: {revisions: -1}\n", negative);
  EXPECT_NE(negative.ErrorText().find("spec.rollbackWindow.revisions"), std::string::npos)
      << negative.ErrorText();
}

// Argo Rollouts' docs/analysis/kayenta.md (argoproj/argo-rollouts at
// 4e1af7b), both AnalysisTemplates as the docs write them: `thresholds`
// (the docs' spelling; the schema says `threshold`), and in the second
// `interval` and `count` inside kayenta, where they have no meaning.
constexpr const char* kKayentaDocs = R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: mann-whitney
spec:
  args:
  - name: start-time
  - name: end-time
  - name: stable-hash
  - name: canary-hash
  metrics:
  - name: mann-whitney
    provider:
      kayenta:
        address: https://kayenta.example.com
        application: guestbook
        canaryConfigName: my-test
        thresholds:
          pass: 90
          marginal: 75
        scopes:
        - name: default
          controlScope:
            scope: app=guestbook and rollouts-pod-template-hash={{args.stable-hash}}
            step: 60
            start: "{{args.start-time}}"
            end: "{{args.end-time}}"
          experimentScope:
            scope: app=guestbook and rollouts-pod-template-hash={{args.canary-hash}}
            step: 60
            start: "{{args.start-time}}"
            end: "{{args.end-time}}"
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: mann-whitney-periodic
spec:
  args:
  - name: stable-hash
  - name: canary-hash
  metrics:
  - name: mann-whitney
    provider:
      kayenta:
        address: https://kayenta.intuit.com
        application: guestbook
        canaryConfigName: my-test
        interval: 3600
        count: 3
        # loopback will cause start time value to be equal to start of analysis
        # lookback: true
        thresholds:
          pass: 90
          marginal: 75
        scopes:
        - name: default
          controlScope:
            scope: app=guestbook and rollouts-pod-template-hash={{args.stable-hash}}
            step: 60
          experimentScope:
            scope: app=guestbook and rollouts-pod-template-hash={{args.canary-hash}}
            step: 60
)";

TEST(RolloutsDecodeTest, ArgosKayentaDocsDecodeAsWritten) {
  Diagnostics diags;
  auto res = DecodeText(kKayentaDocs, diags);
  EXPECT_FALSE(diags.HasErrors()) << diags.ErrorText();
  ASSERT_EQ(res.size(), 2u);
  const auto* t = std::get_if<AnalysisTemplate>(&res[0].value);
  ASSERT_TRUE(t);
  const MetricProvider& p = t->spec.metrics[0].provider;
  EXPECT_EQ(p.kind, MetricProvider::Kind::kKayenta);
  EXPECT_EQ(p.canary_config_name, "my-test");
  EXPECT_EQ(p.application, "guestbook");
  EXPECT_EQ(p.threshold_pass, 90);
  EXPECT_EQ(p.threshold_marginal, 75);
  ASSERT_EQ(p.scopes.size(), 1u);
  EXPECT_EQ(p.scopes[0].name, "default");
  EXPECT_EQ(p.scopes[0].experiment.scope,
            "app=guestbook and rollouts-pod-template-hash={{args.canary-hash}}");
  EXPECT_EQ(p.scopes[0].control.step_seconds, 60);
  EXPECT_EQ(p.scopes[0].control.start, "{{args.start-time}}");
  // The second: interval and count inside kayenta are named, not acted on.
  std::string all;
  for (const auto& w : diags.WarningStrings()) all += w + "\n";
  EXPECT_NE(all.find("r.yaml:49:19: spec.metrics[0].provider.kayenta.interval: warning: "
                     "\"interval\" is ignored: it belongs to the metric, beside provider"),
            std::string::npos)
      << all;
}

TEST(RolloutsDecodeTest, KayentaNeedsItsThresholdAndPairedTimes) {
  auto decode = [](const std::string& kayenta) {
    Diagnostics diags;
    DecodeText(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
        "spec:\n  metrics:\n  - name: m\n    provider:\n      kayenta:\n" +
            kayenta,
        diags);
    return diags.ErrorText();
  };
  std::string scopes =
      "        scopes:\n        - name: default\n"
      "          controlScope: {scope: stable, step: 60, start: \"2026-12-03T18:00:00Z\"}\n"
      "          experimentScope: {scope: canary, step: 60}\n";
  std::string text = decode("        application: a\n        canaryConfigName: c\n" + scopes);
  EXPECT_NE(text.find("spec.metrics[0].provider.kayenta.threshold: required field is missing"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("controlScope.start and experimentScope.start must both be set or both be "
                      "empty"),
            std::string::npos)
      << text;
  Diagnostics conditions;
  DecodeText(
      "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: t}\n"
      "spec:\n  metrics:\n  - name: m\n    successCondition: result > 1\n    provider:\n"
      "      kayenta:\n        application: a\n        canaryConfigName: c\n"
      "        threshold: {pass: 90, marginal: 75}\n"
      "        scopes: [{name: default, controlScope: {scope: stable, step: 60},\n"
      "                  experimentScope: {scope: canary, step: 60}}]\n",
      conditions);
  EXPECT_FALSE(conditions.HasErrors()) << conditions.ErrorText();
  ASSERT_EQ(conditions.WarningStrings().size(), 1u);
  EXPECT_NE(conditions.WarningStrings()[0].find(
                "spec.metrics[0].successCondition: warning: \"successCondition\" is ignored: a "
                "kayenta metric's phase comes from its threshold's pass and marginal"),
            std::string::npos)
      << conditions.WarningStrings()[0];
  text = decode(
      "        application: a\n        canaryConfigName: c\n"
      "        threshold: {pass: 90, marginal: 75}\n        thresholds: {pass: 80, marginal: "
      "75}\n" +
      scopes);
  EXPECT_NE(text.find("kayenta.thresholds: differs from threshold"), std::string::npos) << text;
}

TEST(RolloutsDecodeTest, AnalysisProvidersAreStrict) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: a
    provider: {datadog: {query: x}}
  - name: a
    provider: {router: {service: web, metric: sucess-rate}}
  - name: b
    provider: {prometheus: {address: "http://127.0.0.1:9090"}}
)",
             diags);
  auto errors = diags.ErrorStrings();
  std::string text = diags.ErrorText();
  EXPECT_NE(text.find("spec.metrics[0].provider.datadog: not supported: the datadog provider"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("spec.metrics[1].name: duplicate metric name \"a\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("(did you mean \"success-rate\"?)"), std::string::npos) << text;
  EXPECT_NE(text.find("spec.metrics[2].provider.prometheus.query: required field is missing"),
            std::string::npos)
      << text;
}

TEST(RolloutsDecodeTest, StoredSpecsRoundTrip) {
  auto loaded = LoadFiles({std::string(STRAKE_SOURCE_DIR) + "/examples/rollout-canary.yaml"});
  ASSERT_TRUE(loaded);
  auto spec = DecodeRolloutSpec(loaded->resources[2].raw["spec"]);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->replicas, 2);
  EXPECT_EQ(spec->canary->steps.size(), 5u);
  auto bad = DecodeRolloutSpec(
      Json::parse(R"({"strategy": {"canary": {"steps": [{"setWeight": "x"}]}}})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.strategy.canary.steps[0].setWeight"), std::string::npos);
  auto svc = DecodeService(loaded->resources[0].raw);
  ASSERT_TRUE(svc);
  EXPECT_EQ(svc->meta.name, "hello");
}

TEST(RolloutsDecodeTest, ArgsComeFromSecretsAndRolloutFields) {
  Diagnostics diags;
  auto rs = DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args:
  - name: token
    valueFrom: {secretKeyRef: {name: creds, key: api}}
  - name: env
  metrics:
  - name: m
    provider: {web: {url: "http://x/{{args.env}}"}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      analysis:
        templates: [{templateName: t}]
        args:
        - name: env
          valueFrom: {fieldRef: {fieldPath: "metadata.labels['env']"}}
        - name: weight
          valueFrom: {fieldRef: {fieldPath: status.canary.weight}}
)",
                       diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  ASSERT_EQ(rs.size(), 2u);
  const auto& t = std::get<AnalysisTemplate>(rs[0].value);
  ASSERT_TRUE(t.spec.args[0].secret_key_ref);
  EXPECT_EQ(t.spec.args[0].secret_key_ref->name, "creds");
  EXPECT_EQ(t.spec.args[0].secret_key_ref->key, "api");
  EXPECT_FALSE(t.spec.args[0].value);
  const auto& r = std::get<Rollout>(rs[1].value);
  EXPECT_EQ(r.spec.canary->analysis->args[0].field_path, "metadata.labels['env']");
  EXPECT_EQ(r.spec.canary->analysis->args[1].field_path, "status.canary.weight");
}

TEST(RolloutsDecodeTest, BadArgSourcesNameTheirField) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args:
  - name: token
    valueFrom: {secretKeyRef: {name: creds}}
  - name: here
    valueFrom: {fieldRef: {fieldPath: metadata.name}}
  metrics:
  - name: m
    provider: {router: {service: web}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers: [{name: c, command: [x]}]
  strategy:
    canary:
      analysis:
        templates: [{templateName: t}]
        args:
        - name: env
          valueFrom: {fieldRef: {fieldPath: metadata.labels.env}}
)",
             diags);
  std::string text = diags.ErrorText();
  EXPECT_NE(text.find("r.yaml:7:31: spec.args[0].valueFrom.secretKeyRef.key: required field is "
                      "missing"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("r.yaml:9:27: spec.args[1].valueFrom.fieldRef: not supported: fieldRef in "
                      "a template's args"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("spec.strategy.canary.analysis.args[0].valueFrom.fieldRef.fieldPath: "
                      "unsupported field path \"metadata.labels.env\""),
            std::string::npos)
      << text;
}

TEST(RolloutsDecodeTest, MetricLimitsMayBeArgsResolvedLater) {
  Diagnostics diags;
  auto rs = DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args: [{name: n}, {name: every}]
  metrics:
  - name: m
    count: "{{args.n}}"
    interval: "{{ args.every }}"
    initialDelay: "{{args.every}}"
    failureLimit: "{{args.n}}"
    inconclusiveLimit: "{{args.n}}"
    consecutiveErrorLimit: "{{args.n}}"
    provider: {router: {service: web}}
)",
                       diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const Metric& m = std::get<AnalysisTemplate>(rs[0].value).spec.metrics[0];
  EXPECT_EQ(m.arg_fields.size(), 6u);
  EXPECT_EQ(m.arg_fields.at("interval"), "{{ args.every }}");
  auto ok = ResolveMetricFields(m, {{"count", "3"},
                                    {"interval", "30s"},
                                    {"initialDelay", "5"},
                                    {"failureLimit", "-1"},
                                    {"inconclusiveLimit", "2"},
                                    {"consecutiveErrorLimit", "0"}});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->count, 3);
  EXPECT_EQ(ok->interval, Millis(30'000));
  EXPECT_EQ(ok->initial_delay, Millis(5'000));
  EXPECT_EQ(ok->failure_limit, -1);
  EXPECT_EQ(ok->inconclusive_limit, 2);
  EXPECT_EQ(ok->consecutive_error_limit, 0);
  EXPECT_TRUE(ok->arg_fields.empty());
  auto bad = ResolveMetricFields(m, {{"count", "three"}, {"interval", "soon"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.metrics[0].count: expected an integer, found"),
            std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("spec.metrics[0].interval: "), std::string::npos)
      << bad.error().message;
}

TEST(RolloutsDecodeTest, ReadinessGatesAreRefusedAtTheirPlace) {
  Diagnostics diags;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      readinessGates: [{conditionType: www.example.com/ready}]
      containers: [{name: c, command: [x]}]
  strategy: {canary: {}}
)",
             diags);
  std::string text = diags.ErrorText();
  EXPECT_NE(text.find("r.yaml:9:23: spec.template.spec.readinessGates: not supported: "
                      "readinessGates"),
            std::string::npos)
      << text;
}

// Argo's examples/workload-ref: the template is the Deployment's, read by
// the controller; the selector may be left out too.
TEST(RolloutsDecodeTest, AWorkloadRefStandsForTheTemplate) {
  Diagnostics diags;
  auto docs = DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  replicas: 5
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}
  strategy: {canary: {steps: [{setWeight: 20}]}}
)",
                         diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  ASSERT_EQ(docs.size(), 1u);
  const auto& ro = std::get<Rollout>(docs[0].value);
  ASSERT_TRUE(ro.spec.workload_ref);
  EXPECT_EQ(ro.spec.workload_ref->name, "web");
  EXPECT_EQ(ro.spec.workload_ref->scale_down, WorkloadRef::ScaleDown::kProgressively);

  Diagnostics bad;
  DecodeText(R"(apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: r}
spec:
  selector: {matchLabels: {app: a}}
  workloadRef: {apiVersion: apps/v1, kind: ReplicaSet, name: web, scaleDown: always}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: c, command: [x]}]}
  strategy: {canary: {}}
)",
             bad);
  std::string text = bad.ErrorText();
  for (const char* want :
       {"r.yaml:6:44: spec.workloadRef.kind: workload of type apps/v1/ReplicaSet is not "
        "supported: an apps/v1 Deployment is",
        "r.yaml:6:78: spec.workloadRef.scaleDown: must be never, onsuccess or progressively, "
        "found \"always\"",
        "r.yaml:8:5: spec.template: must be empty: spec.workloadRef gives the pod template"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

// Argo Rollouts' own examples and e2e manifests (tests/argo-rollouts/, copied
// unchanged): Experiments and experiment steps, ALB, SMI and Istio routing,
// combined steps, dryRun, stored provider objects. Each decodes with no error.
TEST(UpstreamManifests, ArgoRolloutsOwnDecode) {
  const std::string dir = std::string(STRAKE_SOURCE_DIR) + "/tests/argo-rollouts";
  auto names = ListFilesRecursive(dir);
  ASSERT_TRUE(names) << names.error().message;
  int yaml = 0;
  for (const auto& name : *names) {
    if (!EndsWith(name, ".yaml")) continue;
    ++yaml;
    auto loaded = LoadFiles({dir + "/" + name});
    EXPECT_TRUE(loaded) << name << ": " << (loaded ? "" : loaded.error().message);
  }
  EXPECT_EQ(yaml, 18);
}

}  // namespace
}  // namespace strake::model
