#include "model/rollouts.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "base/regex.h"
#include "model/decoders.h"

namespace strake::model {

namespace {

// Argo durations: "30s", "5m", "1h", or a bare number of seconds.
std::optional<Millis> DecodeArgoDuration(Ctx& ctx, const Node& n, const std::string& path) {
  if (n.IsScalar() && !n.scalar.empty() &&
      std::all_of(n.scalar.begin(), n.scalar.end(), [](char c) { return std::isdigit(c); })) {
    return Millis(static_cast<int64_t>(ctx.Int(n, path, 0, 365 * 24 * 3600)) * 1000);
  }
  return ctx.Duration(n, path);
}

StringMatchSpec DecodeStringMatch(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  StringMatchSpec m;
  int set = 0;
  if (const Node* v = f.Get("exact"))
    m = {StringMatchSpec::Kind::kExact, ctx.Str(*v, f.Sub("exact"))}, ++set;
  if (const Node* v = f.Get("prefix"))
    m = {StringMatchSpec::Kind::kPrefix, ctx.Str(*v, f.Sub("prefix"))}, ++set;
  if (const Node* v = f.Get("regex")) {
    m = {StringMatchSpec::Kind::kRegex, ctx.Str(*v, f.Sub("regex"))}, ++set;
    // Argo's header routes take Go's (RE2) syntax; the router compiles the
    // same pattern, so a bad one is refused here, at its place.
    if (auto re = Regex::Compile(m.value); !re)
      ctx.Error(*v, f.Sub("regex"), "not a regular expression: " + re.error().message);
  }
  if (set != 1 && f.ok()) ctx.Error(n, path, "needs exactly one of exact, prefix, regex");
  return m;
}

// dryRun: [{metricName: REGEX}] (Argo's; a pattern is checked here).
std::vector<std::string> DecodeDryRun(Ctx& ctx, Fields& f) {
  std::vector<std::string> out;
  f.List("dryRun", [&](const Node& item, const std::string& p) {
    Fields df(ctx, item, p);
    if (const Node* v = df.Need("metricName")) {
      std::string name = ctx.Str(*v, df.Sub("metricName"));
      if (auto re = Regex::Compile(name); !re)
        ctx.Error(*v, df.Sub("metricName"), "not a regular expression: " + re.error().message);
      out.push_back(std::move(name));
    }
  });
  return out;
}

// measurementRetention: [{metricName: REGEX, limit}] (Argo's).
std::vector<MeasurementRetention> DecodeMeasurementRetention(Ctx& ctx, Fields& f) {
  std::vector<MeasurementRetention> out;
  f.List("measurementRetention", [&](const Node& item, const std::string& p) {
    Fields rf(ctx, item, p);
    MeasurementRetention r;
    if (const Node* v = rf.Need("metricName")) {
      r.metric_name = ctx.Str(*v, rf.Sub("metricName"));
      if (auto re = Regex::Compile(r.metric_name); !re)
        ctx.Error(*v, rf.Sub("metricName"), "not a regular expression: " + re.error().message);
    }
    if (const Node* v = rf.Need("limit")) r.limit = ctx.Int(*v, rf.Sub("limit"), 0, 1000);
    out.push_back(std::move(r));
  });
  return out;
}

// analysisRunMetadata: {labels, annotations} (Argo's).
AnalysisRunMetadata DecodeRunMetadata(Ctx& ctx, Fields& f) {
  AnalysisRunMetadata m;
  if (const Node* v = f.Get("analysisRunMetadata")) {
    Fields mf(ctx, *v, f.Sub("analysisRunMetadata"));
    if (const Node* l = mf.Get("labels")) m.labels = ctx.StrMap(*l, mf.Sub("labels"));
    if (const Node* a = mf.Get("annotations"))
      m.annotations = ctx.StrMap(*a, mf.Sub("annotations"));
  }
  return m;
}

// One argument a Rollout (or its experiment step) passes to analysis:
// a value, or one read when the run is made (podTemplateHashValue,
// fieldRef).
AnalysisArg DecodeAnalysisArg(Ctx& ctx, const Node& item, const std::string& p) {
  Fields af(ctx, item, p);
  AnalysisArg arg;
  if (const Node* v = af.Need("name")) arg.name = ctx.Str(*v, af.Sub("name"));
  arg.value = af.Str("value");
  if (const Node* vf = af.Get("valueFrom")) {
    Fields vff(ctx, *vf, af.Sub("valueFrom"));
    if (const Node* v = vff.Get("podTemplateHashValue")) {
      arg.pod_template_hash_value = ctx.Str(*v, vff.Sub("podTemplateHashValue"));
      if (arg.pod_template_hash_value != "Stable" && arg.pod_template_hash_value != "Latest") {
        ctx.Error(*v, vff.Sub("podTemplateHashValue"), "must be Stable or Latest");
      }
    }
    if (const Node* fr = vff.Get("fieldRef")) {
      Fields ff(ctx, *fr, vff.Sub("fieldRef"));
      if (const Node* v = ff.Need("fieldPath")) {
        arg.field_path = ctx.Str(*v, ff.Sub("fieldPath"));
        if (!IsAnalysisFieldPath(arg.field_path)) {
          ctx.Error(*v, ff.Sub("fieldPath"),
                    fmt::format("unsupported field path {} (metadata.name, "
                                "metadata.namespace, metadata.uid, "
                                "metadata.labels['KEY'], metadata.annotations['KEY'], "
                                "or a path under spec. or status.)",
                                Quote(arg.field_path)));
        }
      }
    }
  }
  return arg;
}

RolloutAnalysis DecodeRolloutAnalysis(Ctx& ctx, const Node& n, const std::string& path,
                                      bool background) {
  Fields f(ctx, n, path);
  RolloutAnalysis a;
  a.origin = ctx.At(n, path);
  if (const Node* ts = f.Need("templates")) {
    ctx.List(*ts, f.Sub("templates"), [&](const Node& item, const std::string& p) {
      Fields tf(ctx, item, p);
      RolloutAnalysis::TemplateRef ref;
      if (const Node* v = tf.Need("templateName")) ref.name = ctx.Str(*v, tf.Sub("templateName"));
      if (const Node* v = tf.Get("clusterScope"))
        ref.cluster_scope = ctx.Bool(*v, tf.Sub("clusterScope"));
      a.templates.push_back(ref);
    });
  }
  f.List("args", [&](const Node& item, const std::string& p) {
    a.args.push_back(DecodeAnalysisArg(ctx, item, p));
  });
  if (background) {
    if (const Node* v = f.Get("startingStep"))
      a.starting_step = ctx.Int(*v, f.Sub("startingStep"), 0, 1000);
  }
  a.dry_run = DecodeDryRun(ctx, f);
  a.measurement_retention = DecodeMeasurementRetention(ctx, f);
  a.run_metadata = DecodeRunMetadata(ctx, f);
  return a;
}

// analyses[] of an Experiment (`in_step`: of a canary experiment step,
// whose args may read values from the Rollout).
std::vector<ExperimentAnalysis> DecodeExperimentAnalyses(Ctx& ctx, Fields& f, bool in_step) {
  std::vector<ExperimentAnalysis> out;
  std::set<std::string> names;
  f.List("analyses", [&](const Node& item, const std::string& p) {
    Fields af(ctx, item, p);
    ExperimentAnalysis a;
    if (const Node* v = af.Need("name")) a.name = ctx.Str(*v, af.Sub("name"));
    if (const Node* v = af.Need("templateName")) a.ref.name = ctx.Str(*v, af.Sub("templateName"));
    if (const Node* v = af.Get("clusterScope"))
      a.ref.cluster_scope = ctx.Bool(*v, af.Sub("clusterScope"));
    if (const Node* v = af.Get("requiredForCompletion"))
      a.required_for_completion = ctx.Bool(*v, af.Sub("requiredForCompletion"));
    af.List("args", [&](const Node& x, const std::string& xp) {
      if (in_step) {
        a.args.push_back(DecodeAnalysisArg(ctx, x, xp));
        return;
      }
      Fields xf(ctx, x, xp);
      AnalysisArg arg;
      if (const Node* v = xf.Need("name")) arg.name = ctx.Str(*v, xf.Sub("name"));
      arg.value = xf.Str("value");
      xf.Ignore({"valueFrom"},
                "is not read in an Experiment, as in Argo: give a value (a template's "
                "valueFrom still applies)");
      a.args.push_back(arg);
    });
    if (!a.name.empty() && !names.insert(a.name).second)
      ctx.Error(item, p + ".name", fmt::format("duplicate analysis name {}", Quote(a.name)));
    out.push_back(std::move(a));
  });
  return out;
}

ExperimentStep DecodeExperimentStep(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  ExperimentStep e;
  if (const Node* v = f.Get("duration"))
    e.duration = DecodeArgoDuration(ctx, *v, f.Sub("duration"));
  if (const Node* v = f.Get("scaleDownDelaySeconds"))
    e.scale_down_delay_seconds = ctx.Int(*v, f.Sub("scaleDownDelaySeconds"), 0, 86400);
  std::set<std::string> names;
  if (const Node* ts = f.Need("templates")) {
    ctx.List(*ts, f.Sub("templates"), [&](const Node& item, const std::string& p) {
      Fields tf(ctx, item, p);
      ExperimentStep::Template t;
      if (const Node* v = tf.Need("name")) t.name = ctx.Str(*v, tf.Sub("name"));
      if (const Node* v = tf.Need("specRef")) {
        t.spec_ref = ctx.Str(*v, tf.Sub("specRef"));
        if (t.spec_ref != "stable" && t.spec_ref != "canary")
          ctx.Error(*v, tf.Sub("specRef"), "must be canary or stable");
      }
      if (const Node* v = tf.Get("replicas"))
        t.replicas = ctx.Int(*v, tf.Sub("replicas"), 0, 10000);
      if (const Node* v = tf.Get("weight")) t.weight = ctx.Int(*v, tf.Sub("weight"), 0, 100);
      if (const Node* m = tf.Get("metadata")) {
        Fields mf(ctx, *m, tf.Sub("metadata"));
        if (const Node* v = mf.Get("labels")) t.labels = ctx.StrMap(*v, mf.Sub("labels"));
        if (const Node* v = mf.Get("annotations"))
          t.annotations = ctx.StrMap(*v, mf.Sub("annotations"));
      }
      t.selector = DecodeSelector(ctx, tf.Get("selector"), tf.Sub("selector"));
      if (const Node* v = tf.Get("service")) {
        Fields sf(ctx, *v, tf.Sub("service"));
        t.service = true;
        t.service_name = sf.Str("name");
      }
      if (!t.name.empty() && !names.insert(t.name).second)
        ctx.Error(item, p + ".name", fmt::format("repeated template name {}", Quote(t.name)));
      e.templates.push_back(std::move(t));
    });
  }
  e.analyses = DecodeExperimentAnalyses(ctx, f, true);
  e.dry_run = DecodeDryRun(ctx, f);
  e.run_metadata = DecodeRunMetadata(ctx, f);
  return e;
}

CanaryStep DecodeCanaryStep(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  CanaryStep s;
  s.origin = ctx.At(n, path);
  int kinds = 0;   // setWeight, pause, analysis, experiment, plugin: one at most
  int extras = 0;  // setCanaryScale, setHeaderRoute, setMirrorRoute: beside one or alone
  if (const Node* v = f.Get("setWeight")) {
    ++kinds;
    s.kind = CanaryStep::Kind::kSetWeight;
    s.weight = ctx.Int(*v, f.Sub("setWeight"), 0, 100);
  }
  if (const Node* v = f.Get("pause")) {
    ++kinds;
    s.kind = CanaryStep::Kind::kPause;
    Fields pf(ctx, *v, f.Sub("pause"));
    if (const Node* d = pf.Get("duration"))
      s.pause = DecodeArgoDuration(ctx, *d, pf.Sub("duration"));
  }
  if (const Node* v = f.Get("analysis")) {
    ++kinds;
    s.kind = CanaryStep::Kind::kAnalysis;
    s.analysis = DecodeRolloutAnalysis(ctx, *v, f.Sub("analysis"), false);
  }
  if (const Node* v = f.Get("setCanaryScale")) {
    if (kinds + extras++ == 0) s.kind = CanaryStep::Kind::kSetCanaryScale;
    s.has_scale = true;
    Fields sf(ctx, *v, f.Sub("setCanaryScale"));
    if (const Node* r = sf.Get("replicas"))
      s.scale_replicas = ctx.Int(*r, sf.Sub("replicas"), 0, 10000);
    if (const Node* w = sf.Get("weight")) s.scale_weight = ctx.Int(*w, sf.Sub("weight"), 0, 100);
    if (const Node* m = sf.Get("matchTrafficWeight")) {
      s.scale_match_traffic = ctx.Bool(*m, sf.Sub("matchTrafficWeight"));
    }
    int set = s.scale_replicas.has_value() + s.scale_weight.has_value() + s.scale_match_traffic;
    if (set != 1 && sf.ok()) {
      ctx.Error(*v, f.Sub("setCanaryScale"),
                "needs exactly one of replicas, weight, matchTrafficWeight");
    }
  }
  if (const Node* v = f.Get("setHeaderRoute")) {
    if (kinds + extras++ == 0) s.kind = CanaryStep::Kind::kSetHeaderRoute;
    s.has_header_route = true;
    Fields hf(ctx, *v, f.Sub("setHeaderRoute"));
    if (const Node* nm = hf.Need("name")) s.route_name = ctx.Str(*nm, hf.Sub("name"));
    hf.List("match", [&](const Node& item, const std::string& p) {
      Fields mf(ctx, item, p);
      HeaderMatch m;
      if (const Node* x = mf.Need("headerName")) m.header_name = ctx.Str(*x, mf.Sub("headerName"));
      if (const Node* x = mf.Need("headerValue")) {
        m.value = DecodeStringMatch(ctx, *x, mf.Sub("headerValue"));
      }
      s.header_match.push_back(m);
    });
  }
  if (const Node* v = f.Get("setMirrorRoute")) {
    if (kinds + extras++ == 0) s.kind = CanaryStep::Kind::kSetMirrorRoute;
    s.has_mirror_route = true;
    Fields mf(ctx, *v, f.Sub("setMirrorRoute"));
    if (const Node* nm = mf.Need("name")) s.mirror_route_name = ctx.Str(*nm, mf.Sub("name"));
    if (const Node* p = mf.Get("percentage"))
      s.mirror_percentage = ctx.Int(*p, mf.Sub("percentage"), 0, 100);
    mf.List("match", [&](const Node& item, const std::string& p) {
      Fields xf(ctx, item, p);
      if (const Node* m = xf.Get("method"))
        s.mirror_method = DecodeStringMatch(ctx, *m, xf.Sub("method"));
      if (const Node* m = xf.Get("path"))
        s.mirror_path = DecodeStringMatch(ctx, *m, xf.Sub("path"));
      if (const Node* hs = xf.Get("headers")) {
        Fields hf(ctx, *hs, xf.Sub("headers"));
        for (const auto& [k, val] : hs->IsMap() ? hs->map : std::vector<MapEntry>{}) {
          hf.Get(k.scalar);
          s.mirror_headers.push_back({k.scalar, DecodeStringMatch(ctx, val, hf.Sub(k.scalar))});
        }
      }
    });
  }
  if (const Node* v = f.Get("experiment")) {
    ++kinds;
    s.kind = CanaryStep::Kind::kExperiment;
    s.experiment = DecodeExperimentStep(ctx, *v, f.Sub("experiment"));
  }
  if (const Node* v = f.Get("plugin")) {
    ++kinds;
    s.kind = CanaryStep::Kind::kPlugin;
    Fields pf(ctx, *v, f.Sub("plugin"));
    if (const Node* nm = pf.Need("name")) s.plugin_name = ctx.Str(*nm, pf.Sub("name"));
    pf.Get("config");  // the plugin's own, free-form (Argo's Schemaless)
  }
  if (kinds > 1 && f.ok()) {
    ctx.Error(n, path,
              "a step may have only one of setWeight, pause, analysis, experiment, plugin");
  } else if (kinds + extras == 0 && f.ok()) {
    ctx.Error(n, path,
              "a step needs one of setWeight, pause, analysis, experiment, plugin, "
              "setCanaryScale, setHeaderRoute, setMirrorRoute");
  }
  return s;
}

// Argo ignores setCanaryScale without trafficRouting (UseSetCanaryScale):
// say so rather than let the step look as if it did something.
void WarnScaleWithoutRouting(Ctx& ctx, const std::vector<std::pair<const Node*, std::string>>& at,
                             const CanaryStrategy& c) {
  if (c.traffic_routing) return;
  for (size_t i = 0; i < c.steps.size() && i < at.size(); ++i) {
    if (!c.steps[i].has_scale) continue;
    ctx.Warning(*at[i].first, at[i].second + ".setCanaryScale",
                "ignored without trafficRouting, as in Argo: the canary's replicas follow "
                "setWeight");
  }
}
// The Gateway API plugin's config, with the plugin's field names and
// defaults; any other plugin is reported as not kept.
void DecodeTrafficPlugins(Ctx& ctx, const Node& n, const std::string& path, MeshRouting& mesh) {
  if (!n.IsMap()) {
    ctx.Error(n, path, fmt::format("expected a mapping, found a {}", n.TypeName()));
    return;
  }
  for (const auto& [key, config] : n.map) {
    const std::string sub = path + "." + key.scalar;
    if (key.scalar != "argoproj-labs/gatewayAPI") {
      ctx.Warning(config, sub,
                  fmt::format("plugin {} is ignored: the embedded router sets the weights, "
                              "header routes and mirrors, and its objects are not kept current "
                              "(strake keeps the Gateway API plugin's, argoproj-labs/gatewayAPI)",
                              Quote(key.scalar)));
      continue;
    }
    Fields f(ctx, config, sub);
    GatewayApiRouting g;
    const std::pair<const char*, const char*> kKinds[] = {
        {"http", "HTTPRoute"}, {"grpc", "GRPCRoute"}, {"tcp", "TCPRoute"}, {"tls", "TLSRoute"}};
    for (const auto& [prefix, kind] : kKinds) {
      const std::string one = std::string(prefix) + "Route";
      if (const Node* v = f.Get(one)) g.routes.push_back({kind, ctx.Str(*v, f.Sub(one))});
      f.List(one + "s", [&, kind = kind](const Node& item, const std::string& p) {
        Fields rf(ctx, item, p);
        GatewayApiRouting::Route r{kind, ""};
        if (const Node* v = rf.Need("name")) r.name = ctx.Str(*v, rf.Sub("name"));
        // Header routes are the embedded router's; the route gets no rule for them.
        rf.Get("useHeaderRoutes");
        g.routes.push_back(std::move(r));
      });
      const std::string selector = one + "Selector";
      if (const Node* v = f.Get(selector))
        g.selectors.push_back({kind, DecodeSelector(ctx, v, f.Sub(selector))});
    }
    if (const Node* v = f.Get("namespace")) g.ns = ctx.Str(*v, f.Sub("namespace"));
    if (const Node* v = f.Get("disableInProgressLabel"))
      g.in_progress_label = !ctx.Bool(*v, f.Sub("disableInProgressLabel"));
    if (const Node* v = f.Get("inProgressLabelKey"); v && !ctx.Str(*v, "").empty())
      g.in_progress_key = ctx.Str(*v, f.Sub("inProgressLabelKey"));
    if (const Node* v = f.Get("inProgressLabelValue"); v && !ctx.Str(*v, "").empty())
      g.in_progress_value = ctx.Str(*v, f.Sub("inProgressLabelValue"));
    if (g.routes.empty() && g.selectors.empty() && f.ok()) {
      // The plugin's GatewayAPIManifestError.
      ctx.Error(config, sub,
                "needs a route: httpRoute(s), grpcRoute(s), tcpRoute(s), tlsRoute(s) or a "
                "route selector");
    }
    mesh.gateway_api = std::move(g);
  }
}

// trafficRouting: the embedded router sets the weights whatever the
// provider; Istio's VirtualServices (and DestinationRule subsets) and SMI's
// TrafficSplit, when the files hold them, are kept at those weights too.
// The other providers' settings are said to be ignored.
void DecodeTrafficRouting(Ctx& ctx, const Node& n, const std::string& path, MeshRouting& mesh) {
  Fields tf(ctx, n, path);
  if (const Node* istio = tf.Get("istio")) {
    Fields inf(ctx, *istio, tf.Sub("istio"));
    auto vs = [&](const Node& x, const std::string& p) {
      Fields vf(ctx, x, p);
      MeshRouting::VirtualService v;
      if (const Node* name = vf.Need("name")) v.name = ctx.Str(*name, vf.Sub("name"));
      vf.List("routes",
              [&](const Node& r, const std::string& rp) { v.routes.push_back(ctx.Str(r, rp)); });
      vf.Ignore({"tlsRoutes", "tcpRoutes"},
                "is not kept current: strake keeps the weights of http routes");
      mesh.virtual_services.push_back(std::move(v));
    };
    if (const Node* x = inf.Get("virtualService")) vs(*x, inf.Sub("virtualService"));
    inf.List("virtualServices", vs);
    if (const Node* x = inf.Get("destinationRule")) {
      Fields df(ctx, *x, inf.Sub("destinationRule"));
      mesh.destination_rule = df.Str("name");
      mesh.canary_subset = df.Str("canarySubsetName");
      mesh.stable_subset = df.Str("stableSubsetName");
      if (mesh.destination_rule.empty() || mesh.canary_subset.empty() ||
          mesh.stable_subset.empty()) {
        ctx.Error(*x, inf.Sub("destinationRule"),
                  "needs name, canarySubsetName and stableSubsetName");
      }
    }
  }
  if (const Node* smi = tf.Get("smi")) {
    Fields sf(ctx, *smi, tf.Sub("smi"));
    mesh.smi = true;
    mesh.smi_root_service = sf.Str("rootService");
    mesh.smi_traffic_split = sf.Str("trafficSplitName");
  }
  if (const Node* alb = tf.Get("alb")) {
    Fields af(ctx, *alb, tf.Sub("alb"));
    if (const Node* x = af.Get("ingress"))
      mesh.alb_ingresses.push_back(ctx.Str(*x, af.Sub("ingress")));
    af.List("ingresses", [&](const Node& x, const std::string& p) {
      mesh.alb_ingresses.push_back(ctx.Str(x, p));
    });
    if (const Node* x = af.Need("servicePort"))
      mesh.alb_service_port = ctx.Int(*x, af.Sub("servicePort"), 1, 65535);
    mesh.alb_root_service = af.Str("rootService");
    if (const Node* x = af.Get("annotationPrefix"))
      mesh.alb_annotation_prefix = ctx.Str(*x, af.Sub("annotationPrefix"));
    af.Ignore({"stickinessConfig"}, "does not apply: the embedded router does not pin clients");
    if (mesh.alb_ingresses.empty() && af.ok())
      ctx.Error(*alb, tf.Sub("alb"), "needs ingress or ingresses");
  }
  if (const Node* nginx = tf.Get("nginx")) {
    Fields nf(ctx, *nginx, tf.Sub("nginx"));
    if (const Node* x = nf.Get("stableIngress"))
      mesh.nginx_ingresses.push_back(ctx.Str(*x, nf.Sub("stableIngress")));
    nf.List("stableIngresses", [&](const Node& x, const std::string& p) {
      mesh.nginx_ingresses.push_back(ctx.Str(x, p));
    });
    if (const Node* x = nf.Get("annotationPrefix"))
      mesh.nginx_annotation_prefix = ctx.Str(*x, nf.Sub("annotationPrefix"));
    if (const Node* x = nf.Get("additionalIngressAnnotations"))
      mesh.nginx_additional_annotations = ctx.StrMap(*x, nf.Sub("additionalIngressAnnotations"));
    if (const Node* x = nf.Get("canaryIngressAnnotations"))
      mesh.nginx_canary_annotations = ctx.StrMap(*x, nf.Sub("canaryIngressAnnotations"));
    if (mesh.nginx_ingresses.empty() && nf.ok())
      ctx.Error(*nginx, tf.Sub("nginx"), "needs stableIngress or stableIngresses");
  }
  if (const Node* traefik = tf.Get("traefik")) {
    Fields trf(ctx, *traefik, tf.Sub("traefik"));
    if (const Node* x = trf.Need("weightedTraefikServiceName"))
      mesh.traefik_service = ctx.Str(*x, trf.Sub("weightedTraefikServiceName"));
  }
  if (const Node* apisix = tf.Get("apisix")) {
    Fields apf(ctx, *apisix, tf.Sub("apisix"));
    if (const Node* route = apf.Need("route")) {
      Fields rf(ctx, *route, apf.Sub("route"));
      if (const Node* x = rf.Need("name")) mesh.apisix_route = ctx.Str(*x, rf.Sub("name"));
      if (const Node* x = rf.Get("rules")) mesh.apisix_rules = ctx.StrList(*x, rf.Sub("rules"));
    }
  }
  if (const Node* ambassador = tf.Get("ambassador")) {
    Fields amf(ctx, *ambassador, tf.Sub("ambassador"));
    if (const Node* x = amf.Need("mappings"))
      mesh.ambassador_mappings = ctx.StrList(*x, amf.Sub("mappings"));
    amf.Get("apiVersion");  // of the Mappings: whichever the files hold
  }
  for (const char* p : {"nginx", "traefik", "ambassador", "apisix", "appMesh"}) {
    if (mesh.weightless_provider.empty() && tf.Get(p)) mesh.weightless_provider = p;
  }
  if (tf.Get("istio") || tf.Get("smi") || tf.Get("alb") || tf.Get("plugins"))
    mesh.weightless_provider.clear();
  // AWS discontinued App Mesh on 2026-09-30: its kinds are not read, so
  // its VirtualRouter's weights are not kept.
  tf.Ignore({"appMesh"},
            "is not kept current: the embedded router sets the weights (App Mesh's "
            "VirtualRouter and VirtualNodes are not updated: AWS discontinued App Mesh on "
            "2026-09-30)");
  if (const Node* plugins = tf.Get("plugins"))
    DecodeTrafficPlugins(ctx, *plugins, tf.Sub("plugins"), mesh);
  tf.Ignore({"managedRoutes", "maxTrafficWeight"},
            "does not apply: the embedded router sets the weights, header routes and mirrors");
}

CanaryStrategy DecodeCanary(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  CanaryStrategy c;
  c.canary_service = f.Str("canaryService");
  c.stable_service = f.Str("stableService");
  // The steps' nodes are kept for WarnScaleWithoutRouting: the list must be
  // the document's own node (or a named empty one), not a temporary copy.
  std::vector<std::pair<const Node*, std::string>> step_at;
  const Node no_steps;
  const Node* steps = f.Get("steps");
  ctx.List(steps ? *steps : no_steps, f.Sub("steps"), [&](const Node& item, const std::string& p) {
    c.steps.push_back(DecodeCanaryStep(ctx, item, p));
    step_at.emplace_back(&item, p);
  });
  if (const Node* v = f.Get("analysis"))
    c.analysis = DecodeRolloutAnalysis(ctx, *v, f.Sub("analysis"), true);
  if (const Node* v = f.Get("maxSurge"))
    c.max_surge = DecodeIntOrPercent(ctx, *v, f.Sub("maxSurge"));
  if (const Node* v = f.Get("maxUnavailable"))
    c.max_unavailable = DecodeIntOrPercent(ctx, *v, f.Sub("maxUnavailable"));
  if (const Node* v = f.Get("abortScaleDownDelaySeconds")) {
    c.abort_scale_down_delay_seconds = ctx.Int(*v, f.Sub("abortScaleDownDelaySeconds"), 0, 86400);
  }
  if (const Node* v = f.Get("scaleDownDelaySeconds")) {
    c.scale_down_delay_seconds = ctx.Int(*v, f.Sub("scaleDownDelaySeconds"), 0, 86400);
  }
  // Traffic is always routed by the embedded router (or the cluster's mesh on
  // the scale path): the mesh-specific blocks are accepted and not needed,
  // but whether trafficRouting is there decides how weights are made.
  c.traffic_routing = f.Get("trafficRouting") != nullptr;
  if (const Node* v = f.Get("trafficRouting")) {
    DecodeTrafficRouting(ctx, *v, f.Sub("trafficRouting"), c.mesh);
    if (c.mesh.Any() && (c.stable_service.empty() || c.canary_service.empty())) {
      ctx.Warning(*v, f.Sub("trafficRouting"),
                  "its mesh objects are kept at the weights only with canaryService and "
                  "stableService (Argo needs both)");
    }
  }
  WarnScaleWithoutRouting(ctx, step_at, c);
  // Argo's validation of experiment weights.
  const bool weighable = c.traffic_routing && c.mesh.weightless_provider.empty();
  for (size_t i = 0; i < c.steps.size() && i < step_at.size() && !weighable; ++i) {
    for (size_t t = 0; t < c.steps[i].experiment.templates.size(); ++t) {
      if (c.steps[i].experiment.templates[t].weight == 0) continue;
      ctx.Error(*step_at[i].first,
                fmt::format("{}.experiment.templates[{}].weight", step_at[i].second, t),
                c.traffic_routing
                    ? "Experiment template weight is only available for TrafficRouting with "
                      "SMI, ALB, Istio and Plugins at this time"
                    : "Experiment template weight cannot be set unless TrafficRouting is enabled");
    }
  }
  f.Ignore({"canaryMetadata", "stableMetadata", "antiAffinity", "scaleDownDelayRevisionLimit",
            "dynamicStableScale", "minPodsPerReplicaSet", "pingPong", "replicaProgressThreshold"},
           "does not apply to the embedded router");
  return c;
}

BlueGreenStrategy DecodeBlueGreen(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  BlueGreenStrategy b;
  if (const Node* v = f.Need("activeService"))
    b.active_service = ctx.Str(*v, f.Sub("activeService"));
  b.preview_service = f.Str("previewService");
  if (const Node* v = f.Get("autoPromotionEnabled"))
    b.auto_promotion_enabled = ctx.Bool(*v, f.Sub("autoPromotionEnabled"));
  if (const Node* v = f.Get("autoPromotionSeconds"))
    b.auto_promotion_seconds = ctx.Int(*v, f.Sub("autoPromotionSeconds"), 0, 86400 * 30);
  if (const Node* v = f.Get("scaleDownDelaySeconds"))
    b.scale_down_delay_seconds = ctx.Int(*v, f.Sub("scaleDownDelaySeconds"), 0, 86400);
  if (const Node* v = f.Get("previewReplicaCount"))
    b.preview_replica_count = ctx.Int(*v, f.Sub("previewReplicaCount"), 0, 10000);
  if (const Node* v = f.Get("prePromotionAnalysis"))
    b.pre_promotion_analysis = DecodeRolloutAnalysis(ctx, *v, f.Sub("prePromotionAnalysis"), false);
  if (const Node* v = f.Get("postPromotionAnalysis"))
    b.post_promotion_analysis =
        DecodeRolloutAnalysis(ctx, *v, f.Sub("postPromotionAnalysis"), false);
  f.Ignore({"antiAffinity", "activeMetadata", "previewMetadata", "scaleDownDelayRevisionLimit",
            "abortScaleDownDelaySeconds"},
           "does not apply to the local target");
  return b;
}

// Argo's kayenta provider. Its schema says `threshold`, its docs
// `thresholds`: either is taken, not both unless equal, and one is needed
// (pass and marginal of 0 would pass every canary).
KayentaScope DecodeKayentaScope(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  KayentaScope s;
  s.scope = f.Str("scope");
  s.region = f.Str("region");
  if (const Node* v = f.Need("step")) s.step_seconds = ctx.Int(*v, f.Sub("step"), 1, 86400);
  s.start = f.Str("start");
  s.end = f.Str("end");
  return s;
}

void DecodeKayentaThreshold(Ctx& ctx, const Node& n, const std::string& path, MetricProvider& p) {
  Fields f(ctx, n, path);
  if (const Node* v = f.Need("pass")) p.threshold_pass = ctx.Int(*v, f.Sub("pass"), 0, 100);
  if (const Node* v = f.Need("marginal"))
    p.threshold_marginal = ctx.Int(*v, f.Sub("marginal"), 0, 100);
  if (p.threshold_marginal > p.threshold_pass && f.ok())
    ctx.Error(n, path, "marginal must not be above pass");
}

// router.baseline: {revision: stable|canary, span: 10m}; the span must
// hold at least two of the metric's windows (a deviation needs two values).
void DecodeRouterBaseline(Ctx& ctx, const Node& n, const std::string& path, MetricProvider& p) {
  Fields bf(ctx, n, path);
  MetricProvider::Baseline b;
  if (const Node* x = bf.Get("revision")) {
    b.revision = ctx.Str(*x, bf.Sub("revision"));
    if (b.revision != "canary" && b.revision != "stable") {
      ctx.Error(*x, bf.Sub("revision"), "must be canary or stable");
    }
  }
  if (const Node* x = bf.Get("span")) {
    if (auto d = DecodeArgoDuration(ctx, *x, bf.Sub("span"))) b.span = *d;
  }
  if (bf.ok() && b.span < 2 * p.window) {
    ctx.Error(n, path,
              fmt::format("span {}s holds fewer than two windows of {}s: a deviation needs two",
                          b.span.count() / 1000, p.window.count() / 1000));
  }
  p.baseline = b;
}

void DecodeKayenta(Ctx& ctx, const Node& n, const std::string& path, MetricProvider& p) {
  Fields f(ctx, n, path);
  p.address = f.Str("address");
  if (const Node* v = f.Need("application")) p.application = ctx.Str(*v, f.Sub("application"));
  if (const Node* v = f.Need("canaryConfigName")) {
    p.canary_config_name = ctx.Str(*v, f.Sub("canaryConfigName"));
    ctx.CheckName(*v, f.Sub("canaryConfigName"), p.canary_config_name,
                  Ctx::NameRule::kDnsSubdomain);
  }
  p.metrics_account = f.Str("metricsAccountName");
  p.configuration_account = f.Str("configurationAccountName");
  p.storage_account = f.Str("storageAccountName");
  const Node* one = f.Get("threshold");
  const Node* other = f.Get("thresholds");
  if (!one && !other && f.ok()) ctx.Error(n, f.Sub("threshold"), "required field is missing");
  if (one) DecodeKayentaThreshold(ctx, *one, f.Sub("threshold"), p);
  if (other) {
    MetricProvider docs;
    DecodeKayentaThreshold(ctx, *other, f.Sub("thresholds"), docs);
    if (one && (docs.threshold_pass != p.threshold_pass ||
                docs.threshold_marginal != p.threshold_marginal)) {
      ctx.Error(*other, f.Sub("thresholds"), "differs from threshold: write one of them");
    }
    p.threshold_pass = docs.threshold_pass;
    p.threshold_marginal = docs.threshold_marginal;
  }
  f.List("scopes", [&](const Node& item, const std::string& sp) {
    Fields sf(ctx, item, sp);
    KayentaScopePair pair;
    if (const Node* v = sf.Need("name")) pair.name = ctx.Str(*v, sf.Sub("name"));
    if (const Node* v = sf.Need("controlScope"))
      pair.control = DecodeKayentaScope(ctx, *v, sf.Sub("controlScope"));
    if (const Node* v = sf.Need("experimentScope"))
      pair.experiment = DecodeKayentaScope(ctx, *v, sf.Sub("experimentScope"));
    // Argo refuses a start (or end) on one side only.
    for (auto [a, b, what] : {std::tuple{&pair.control.start, &pair.experiment.start, "start"},
                              std::tuple{&pair.control.end, &pair.experiment.end, "end"}}) {
      if (a->empty() != b->empty())
        ctx.Error(item, sp,
                  fmt::format("controlScope.{0} and experimentScope.{0} must both be "
                              "set or both be empty",
                              what));
    }
    p.scopes.push_back(std::move(pair));
  });
  if (p.scopes.empty() && f.ok()) ctx.Error(n, f.Sub("scopes"), "needs at least one scope");
  if (const Node* v = f.Get("lookback")) p.lookback = ctx.Bool(*v, f.Sub("lookback"));
  // The docs' second example puts these inside kayenta; they are the metric's.
  f.Ignore({"interval", "count"}, "belongs to the metric, beside provider");
}

// headers: [{key, value}] of the web and prometheus providers.
void DecodeHeaders(Ctx& ctx, Fields& f, MetricProvider& p) {
  f.List("headers", [&](const Node& item, const std::string& hp) {
    Fields hf(ctx, item, hp);
    p.headers.emplace_back(hf.Str("key"), hf.Str("value"));
  });
}

MetricProvider DecodeProvider(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  MetricProvider p;
  int kinds = 0;
  if (const Node* v = f.Get("prometheus")) {
    ++kinds;
    p.kind = MetricProvider::Kind::kPrometheus;
    Fields pf(ctx, *v, f.Sub("prometheus"));
    if (const Node* x = pf.Need("address")) p.address = ctx.Str(*x, pf.Sub("address"));
    if (const Node* x = pf.Need("query")) p.query = ctx.Str(*x, pf.Sub("query"));
    if (const Node* x = pf.Get("timeout"))
      p.timeout_seconds = ctx.Int(*x, pf.Sub("timeout"), 1, 3600);
    pf.NotSupported("authentication", "Prometheus authentication (sigv4, oauth2)");
    pf.Get("insecure");
    DecodeHeaders(ctx, pf, p);
  }
  if (const Node* v = f.Get("web")) {
    ++kinds;
    p.kind = MetricProvider::Kind::kWeb;
    Fields wf(ctx, *v, f.Sub("web"));
    if (const Node* x = wf.Need("url")) p.url = ctx.Str(*x, wf.Sub("url"));
    if (const Node* x = wf.Get("method")) p.method = ctx.Str(*x, wf.Sub("method"));
    DecodeHeaders(ctx, wf, p);
    p.body = wf.Str("body");
    if (const Node* x = wf.Get("jsonBody")) p.body = ToJson(*x).dump();
    p.json_path = wf.Str("jsonPath");
    if (const Node* x = wf.Get("timeoutSeconds"))
      p.timeout_seconds = ctx.Int(*x, wf.Sub("timeoutSeconds"), 1, 3600);
    wf.Get("insecure");
    wf.NotSupported("authentication", "web authentication (oauth2, sigv4)");
  }
  if (const Node* v = f.Get("job")) {
    ++kinds;
    p.kind = MetricProvider::Kind::kJob;
    Fields jf(ctx, *v, f.Sub("job"));
    jf.Get("metadata");
    if (const Node* spec = jf.Need("spec")) {
      Fields sf(ctx, *spec, jf.Sub("spec"));
      if (const Node* b = sf.Get("backoffLimit"))
        p.job_backoff_limit = ctx.Int(*b, sf.Sub("backoffLimit"), 0, 100);
      if (const Node* d = sf.Get("activeDeadlineSeconds"))
        p.job_active_deadline_seconds = ctx.Int(*d, sf.Sub("activeDeadlineSeconds"), 1, 86400);
      sf.Ignore({"ttlSecondsAfterFinished", "completions", "parallelism"});
      if (const Node* t = sf.Need("template")) {
        PodTemplate pod = DecodePodTemplate(ctx, *t, sf.Sub("template"));
        if (!pod.containers.empty()) p.job = pod.containers.front();
        p.job_pull_secrets = pod.image_pull_secrets;
      }
    }
  }
  if (const Node* v = f.Get("router")) {
    ++kinds;
    p.kind = MetricProvider::Kind::kRouter;
    Fields rf(ctx, *v, f.Sub("router"));
    if (const Node* x = rf.Need("service")) p.service = ctx.Str(*x, rf.Sub("service"));
    if (const Node* x = rf.Get("revision")) {
      p.revision = ctx.Str(*x, rf.Sub("revision"));
      if (p.revision != "canary" && p.revision != "stable") {
        ctx.Error(*x, rf.Sub("revision"), "must be canary or stable");
      }
    }
    if (const Node* x = rf.Get("metric")) {
      p.router_metric = ctx.Str(*x, rf.Sub("metric"));
      static const std::vector<std::string> kMetrics = {"success-rate", "error-rate",
                                                        "request-rate", "latency-p50",
                                                        "latency-p95",  "latency-p99"};
      if (std::find(kMetrics.begin(), kMetrics.end(), p.router_metric) == kMetrics.end()) {
        ctx.Error(*x, rf.Sub("metric"),
                  fmt::format("unknown metric {} (one of {}){}", Quote(p.router_metric),
                              Join(kMetrics, ", "), DidYouMean(p.router_metric, kMetrics)));
      }
    }
    if (const Node* x = rf.Get("window")) {
      if (auto d = DecodeArgoDuration(ctx, *x, rf.Sub("window"))) p.window = *d;
    }
    if (const Node* x = rf.Get("baseline")) DecodeRouterBaseline(ctx, *x, rf.Sub("baseline"), p);
  }
  if (const Node* v = f.Get("kayenta")) {
    ++kinds;
    p.kind = MetricProvider::Kind::kKayenta;
    DecodeKayenta(ctx, *v, f.Sub("kayenta"), p);
  }
  for (const char* k : {"datadog", "newRelic", "wavefront", "cloudWatch", "graphite", "influxdb",
                        "skywalking", "plugin"}) {
    f.NotSupported(
        k, fmt::format("the {} provider (prometheus, web, job, kayenta and router are)", k));
  }
  if (kinds != 1 && f.ok())
    ctx.Error(n, path, "needs exactly one provider: prometheus, web, job, kayenta or router");
  return p;
}

// The fields of a metric that may be written with {{args.NAME}}.
constexpr const char* kArgFields[] = {"interval",     "initialDelay",      "count",
                                      "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit"};

void DecodeMetricField(Ctx& ctx, const Node& v, const std::string& field, const std::string& path,
                       Metric& m) {
  if (field == "interval") {
    m.interval = DecodeArgoDuration(ctx, v, path);
  } else if (field == "initialDelay") {
    m.initial_delay = DecodeArgoDuration(ctx, v, path);
  } else if (field == "count") {
    m.count = ctx.Int(v, path, 0, 1'000'000);
  } else if (field == "failureLimit") {
    m.failure_limit = ctx.Int(v, path, -1, 1'000'000);
  } else if (field == "inconclusiveLimit") {
    m.inconclusive_limit = ctx.Int(v, path, 0, 1'000'000);
  } else if (field == "consecutiveErrorLimit") {
    m.consecutive_error_limit = ctx.Int(v, path, 0, 1'000'000);
  }
}

Metric DecodeMetric(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  Metric m;
  m.origin = ctx.At(n, path);
  if (const Node* v = f.Need("name")) m.name = ctx.Str(*v, f.Sub("name"));
  for (const char* field : kArgFields) {
    const Node* v = f.Get(field);
    if (!v) continue;
    // Argo substitutes args into these before it reads them: the text is
    // kept and decoded once the run knows its args (ResolveMetricFields).
    if (v->IsScalar() && v->scalar.find("{{") != std::string::npos) {
      m.arg_fields[field] = v->scalar;
      continue;
    }
    DecodeMetricField(ctx, *v, field, f.Sub(field), m);
  }
  m.success_condition = f.Str("successCondition");
  m.failure_condition = f.Str("failureCondition");
  if (const Node* v = f.Need("provider")) m.provider = DecodeProvider(ctx, *v, f.Sub("provider"));
  if (m.provider.kind == MetricProvider::Kind::kKayenta) {
    // As in Argo: the score against threshold decides; conditions are not read.
    for (const char* k : {"successCondition", "failureCondition"}) {
      if (const Node* v = f.Get(k); v && !ctx.Str(*v, f.Sub(k)).empty())
        ctx.Warning(*v, f.Sub(k),
                    fmt::format("\"{}\" is ignored: a kayenta metric's phase comes from its "
                                "threshold's pass and marginal",
                                k));
    }
  }
  return m;
}

WorkloadRef DecodeWorkloadRef(Ctx& ctx, const Node& n) {
  const std::string path = "spec.workloadRef";
  Fields f(ctx, n, path);
  WorkloadRef w;
  std::string api_version, kind;
  if (const Node* v = f.Need("apiVersion")) api_version = ctx.Str(*v, f.Sub("apiVersion"));
  if (const Node* v = f.Need("kind")) {
    kind = ctx.Str(*v, f.Sub("kind"));
    // Argo also reads a ReplicaSet's or a PodTemplate's template; strake
    // keeps neither kind.
    if (f.ok() && (kind != "Deployment" || api_version != "apps/v1"))
      ctx.Error(*v, f.Sub("kind"),
                fmt::format("workload of type {}/{} is not supported: an apps/v1 Deployment is",
                            api_version, kind));
  }
  if (const Node* v = f.Need("name")) {
    w.name = ctx.Str(*v, f.Sub("name"));
    ctx.CheckName(*v, f.Sub("name"), w.name, Ctx::NameRule::kDnsSubdomain);
  }
  if (const Node* v = f.Get("scaleDown")) {
    std::string mode = ctx.Str(*v, f.Sub("scaleDown"));
    if (mode == "onsuccess") {
      w.scale_down = WorkloadRef::ScaleDown::kOnSuccess;
    } else if (mode == "progressively") {
      w.scale_down = WorkloadRef::ScaleDown::kProgressively;
    } else if (!mode.empty() && mode != "never") {
      ctx.Error(*v, f.Sub("scaleDown"),
                fmt::format("must be never, onsuccess or progressively, found {}", Quote(mode)));
    }
  }
  return w;
}

RolloutSpec DecodeRolloutSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  RolloutSpec r;
  if (const Node* v = f.Get("replicas")) r.replicas = ctx.Int(*v, "spec.replicas", 0, 10000);
  r.selector = DecodeSelector(ctx, f.Get("selector"), "spec.selector");
  if (const Node* w = f.Get("workloadRef")) r.workload_ref = DecodeWorkloadRef(ctx, *w);
  if (const Node* t = f.Get("template"); t && r.workload_ref) {
    // Argo: "template must be empty for workload reference rollout".
    if (!t->IsMap() || !t->map.empty())
      ctx.Error(*t, "spec.template", "must be empty: spec.workloadRef gives the pod template");
  } else if (t) {
    r.pod = DecodePodTemplate(ctx, *t, "spec.template");
    CheckSelector(ctx, spec, "spec", r.selector, r.pod);
  } else if (f.ok() && !r.workload_ref) {
    ctx.Error(spec, "spec.template", "required field is missing");
  }
  if (const Node* st = f.Need("strategy")) {
    Fields sf(ctx, *st, "spec.strategy");
    if (const Node* c = sf.Get("canary")) r.canary = DecodeCanary(ctx, *c, "spec.strategy.canary");
    if (const Node* b = sf.Get("blueGreen"))
      r.blue_green = DecodeBlueGreen(ctx, *b, "spec.strategy.blueGreen");
    if (r.canary.has_value() == r.blue_green.has_value() && sf.ok()) {
      ctx.Error(*st, "spec.strategy", "needs exactly one of canary, blueGreen");
    }
  }
  if (const Node* v = f.Get("revisionHistoryLimit"))
    r.revision_history_limit = ctx.Int(*v, "spec.revisionHistoryLimit", 0, 1000);
  if (const Node* v = f.Get("progressDeadlineSeconds")) {
    r.progress_deadline_seconds = ctx.Int(*v, "spec.progressDeadlineSeconds", 1, 86400 * 30);
  }
  if (const Node* v = f.Get("progressDeadlineAbort"))
    r.progress_deadline_abort = ctx.Bool(*v, "spec.progressDeadlineAbort");
  if (const Node* v = f.Get("minReadySeconds"))
    r.min_ready_seconds = ctx.Int(*v, "spec.minReadySeconds", 0, 86400);
  if (const Node* v = f.Get("paused")) r.paused = ctx.Bool(*v, "spec.paused");
  if (const Node* w = f.Get("rollbackWindow")) {
    Fields wf(ctx, *w, "spec.rollbackWindow");
    if (const Node* v = wf.Get("revisions"))
      r.rollback_window_revisions = ctx.Int(*v, "spec.rollbackWindow.revisions", 0, 1000);
  }
  if (const Node* a = f.Get("analysis")) {
    Fields af(ctx, *a, "spec.analysis");
    if (const Node* v = af.Get("successfulRunHistoryLimit"))
      r.successful_run_history_limit = ctx.Int(*v, af.Sub("successfulRunHistoryLimit"), 0, 1000);
    if (const Node* v = af.Get("unsuccessfulRunHistoryLimit")) {
      r.unsuccessful_run_history_limit =
          ctx.Int(*v, af.Sub("unsuccessfulRunHistoryLimit"), 0, 1000);
    }
  }
  f.Ignore({"restartAt"}, "is not applied yet");
  return r;
}

AnalysisTemplateSpec DecodeAnalysisSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  AnalysisTemplateSpec a;
  f.List("args", [&](const Node& item, const std::string& p) {
    Fields af(ctx, item, p);
    AnalysisArgSpec arg;
    if (const Node* v = af.Need("name")) arg.name = ctx.Str(*v, af.Sub("name"));
    if (const Node* v = af.Get("value")) arg.value = ctx.Str(*v, af.Sub("value"));
    if (const Node* vf = af.Get("valueFrom")) {
      Fields vff(ctx, *vf, af.Sub("valueFrom"));
      if (const Node* r = vff.Get("secretKeyRef"))
        arg.secret_key_ref = DecodeKeyRef(ctx, *r, vff.Sub("secretKeyRef"));
      vff.NotSupported("fieldRef",
                       "fieldRef in a template's args (pass it from the Rollout's "
                       "analysis args)");
      if (!arg.secret_key_ref && vff.ok())
        ctx.Error(*vf, af.Sub("valueFrom"), "needs secretKeyRef");
    }
    a.args.push_back(arg);
  });
  std::set<std::string> names;
  if (const Node* ms = f.Need("metrics")) {
    ctx.List(*ms, "spec.metrics", [&](const Node& item, const std::string& p) {
      Metric m = DecodeMetric(ctx, item, p);
      if (!m.name.empty() && !names.insert(m.name).second) {
        ctx.Error(item, p + ".name", fmt::format("duplicate metric name {}", Quote(m.name)));
      }
      a.metrics.push_back(std::move(m));
    });
  }
  a.dry_run = DecodeDryRun(ctx, f);
  a.measurement_retention = DecodeMeasurementRetention(ctx, f);
  f.Get("terminate");
  return a;
}

ExperimentSpec DecodeExperimentSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  ExperimentSpec e;
  if (const Node* v = f.Get("progressDeadlineSeconds")) {
    e.progress_deadline_seconds = ctx.Int(*v, "spec.progressDeadlineSeconds", 1, 86400 * 30);
  }
  std::set<std::string> names;
  if (const Node* ts = f.Need("templates")) {
    ctx.List(*ts, "spec.templates", [&](const Node& item, const std::string& p) {
      Fields tf(ctx, item, p);
      ExperimentTemplate t;
      if (const Node* v = tf.Need("name")) t.name = ctx.Str(*v, tf.Sub("name"));
      if (const Node* v = tf.Get("replicas"))
        t.replicas = ctx.Int(*v, tf.Sub("replicas"), 0, 10000);
      if (const Node* v = tf.Get("minReadySeconds")) {
        t.min_ready_seconds = ctx.Int(*v, tf.Sub("minReadySeconds"), 0, 86400);
        if (t.min_ready_seconds > e.progress_deadline_seconds)
          ctx.Error(*v, tf.Sub("minReadySeconds"),
                    "MinReadySeconds cannot be longer than ProgressDeadlineSeconds");
      }
      t.selector = DecodeSelector(ctx, tf.Get("selector"), tf.Sub("selector"));
      if (const Node* v = tf.Need("template")) {
        t.pod = DecodePodTemplate(ctx, *v, tf.Sub("template"));
        CheckSelector(ctx, item, p, t.selector, t.pod);
      }
      if (const Node* v = tf.Get("service")) {
        Fields sf(ctx, *v, tf.Sub("service"));
        t.service = true;
        t.service_name = sf.Str("name");
      }
      if (!t.name.empty() && !names.insert(t.name).second)
        ctx.Error(item, p + ".name", fmt::format("repeated template name {}", Quote(t.name)));
      e.templates.push_back(std::move(t));
    });
  }
  if (const Node* v = f.Get("duration")) e.duration = DecodeArgoDuration(ctx, *v, "spec.duration");
  if (const Node* v = f.Get("terminate")) e.terminate = ctx.Bool(*v, "spec.terminate");
  if (const Node* v = f.Get("scaleDownDelaySeconds"))
    e.scale_down_delay_seconds = ctx.Int(*v, "spec.scaleDownDelaySeconds", 0, 86400);
  e.analyses = DecodeExperimentAnalyses(ctx, f, false);
  e.dry_run = DecodeDryRun(ctx, f);
  e.measurement_retention = DecodeMeasurementRetention(ctx, f);
  e.run_metadata = DecodeRunMetadata(ctx, f);
  return e;
}

}  // namespace

bool DecodeRolloutKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Rollout{r.meta, DecodeRolloutSpecNode(ctx, spec)};
  });
}

bool DecodeAnalysisRunKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return AnalysisRun{r.meta, DecodeAnalysisSpecNode(ctx, spec)};
  });
}

bool DecodeExperimentKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Experiment{r.meta, DecodeExperimentSpecNode(ctx, spec)};
  });
}

bool DecodeAnalysisTemplateKind(Ctx& ctx, Fields& f, Resource& r) {
  bool cluster = r.kind == "ClusterAnalysisTemplate";
  return WithSpec(f, r, [&](const Node& spec) {
    return AnalysisTemplate{r.meta, cluster, DecodeAnalysisSpecNode(ctx, spec)};
  });
}

bool IsAnalysisFieldPath(const std::string& path) {
  for (const char* exact : {"metadata.name", "metadata.namespace", "metadata.uid",
                            "metadata.labels", "metadata.annotations"}) {
    if (path == exact) return true;
  }
  for (const char* map : {"metadata.labels['", "metadata.annotations['"}) {
    if (StartsWith(path, map)) {
      std::string_view key = std::string_view(path).substr(std::string_view(map).size());
      return key.size() > 2 && EndsWith(key, "']") &&
             key.substr(0, key.size() - 2).find('\'') == std::string_view::npos;
    }
  }
  if (!StartsWith(path, "spec.") && !StartsWith(path, "status.")) return false;
  for (const auto& part : Split(path, '.')) {
    if (part.empty()) return false;
  }
  return true;
}

Result<Metric> ResolveMetricFields(const Metric& m,
                                   const std::map<std::string, std::string>& substituted) {
  Metric out = m;
  Diagnostics diags;
  const std::string file;  // the error names the field path only
  Ctx ctx(file, diags);
  for (const auto& [field, text] : substituted) {
    Node n;
    n.kind = Node::Kind::kScalar;
    n.scalar = text;
    std::string path = m.origin.path.empty() ? field : m.origin.path + "." + field;
    DecodeMetricField(ctx, n, field, path, out);
  }
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  out.arg_fields.clear();
  return out;
}

Result<RolloutSpec> DecodeRolloutSpec(const Json& spec) {
  return FromStoredJson<RolloutSpec>(
      spec, [](Ctx& c, const Node& n) { return DecodeRolloutSpecNode(c, n); });
}

Result<ExperimentSpec> DecodeExperimentSpec(const Json& spec) {
  return FromStoredJson<ExperimentSpec>(
      spec, [](Ctx& c, const Node& n) { return DecodeExperimentSpecNode(c, n); });
}

Result<AnalysisTemplateSpec> DecodeAnalysisSpec(const Json& spec) {
  return FromStoredJson<AnalysisTemplateSpec>(
      spec, [](Ctx& c, const Node& n) { return DecodeAnalysisSpecNode(c, n); });
}

}  // namespace strake::model
