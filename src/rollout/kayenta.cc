#include "rollout/kayenta.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "base/clock.h"
#include "base/strings.h"
#include "model/node.h"

namespace strake::rollout {

namespace {

using judge::Direction;
using judge::MetricConfig;

const std::vector<std::string> kRouterMetrics = {"error-rate",  "success-rate", "request-rate",
                                                 "latency-p50", "latency-p95",  "latency-p99"};

// The keys of an object that are not in `known`: an error naming the first.
// Not an object at all is an error too: nothing below reads a field of
// what is not one (nlohmann's value() would throw).
Status OnlyKnown(const Value& obj, const std::string& path, const std::vector<std::string>& known) {
  if (!obj.is_object())
    return Failf(ErrorCode::kInvalid, "{}: expected an object, found {}",
                 path.empty() ? "the canary config" : path, obj.type_name());
  for (const auto& [k, v] : obj.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end())
      return Failf(ErrorCode::kInvalid, "{}{}{}: unknown field {}{}", path, path.empty() ? "" : ".",
                   k, Quote(k), DidYouMean(k, known));
  }
  return Ok();
}

Result<double> Number(const Value& obj, const std::string& key, const std::string& path) {
  const Value& v = obj.at(key);
  if (!v.is_number())
    return Failf(ErrorCode::kInvalid, "{}.{}: expected a number, found {}", path, key,
                 v.type_name());
  return v.get<double>();
}

Result<bool> Flag(const Value& obj, const std::string& key, const std::string& path) {
  const Value& v = obj.at(key);
  if (!v.is_boolean())
    return Failf(ErrorCode::kInvalid, "{}.{}: expected true or false, found {}", path, key,
                 v.type_name());
  return v.get<bool>();
}

Result<std::string> Text(const Value& obj, const std::string& key, const std::string& path) {
  const Value& v = obj.at(key);
  if (!v.is_string())
    return Failf(ErrorCode::kInvalid, "{}.{}: expected a string, found {}", path, key,
                 v.type_name());
  return v.get<std::string>();
}

Status DecodeEffectSize(const Value& e, const std::string& path, MetricConfig& c) {
  STRAKE_TRY(OnlyKnown(
      e, path,
      {"measure", "allowedIncrease", "allowedDecrease", "criticalIncrease", "criticalDecrease"}));
  if (e.contains("measure")) {
    STRAKE_TRY_ASSIGN(m, Text(e, "measure", path));
    if (m == "cles") {
      c.effect_measure = judge::EffectMeasure::kCles;
    } else if (m != "meanRatio") {
      return Failf(ErrorCode::kInvalid, "{}.measure: {} is not meanRatio or cles", path, Quote(m));
    }
  }
  for (auto [key, field] : {std::pair{"allowedIncrease", &c.allowed_increase},
                            std::pair{"allowedDecrease", &c.allowed_decrease},
                            std::pair{"criticalIncrease", &c.critical_increase},
                            std::pair{"criticalDecrease", &c.critical_decrease}}) {
    if (!e.contains(key)) continue;
    STRAKE_TRY_ASSIGN(v, Number(e, key, path));
    *field = v;
  }
  return Ok();
}

Status DecodeCanaryAnalysis(const Value& a, const std::string& path, MetricConfig& c) {
  STRAKE_TRY(OnlyKnown(a, path,
                       {"direction", "nanStrategy", "critical", "mustHaveData", "muted",
                        "effectSize", "outliers", "spreadTest", "rateTest"}));
  if (a.contains("direction")) {
    STRAKE_TRY_ASSIGN(d, Text(a, "direction", path));
    // Kayenta reads any other word as either.
    c.direction = d == "increase"   ? Direction::kIncrease
                  : d == "decrease" ? Direction::kDecrease
                                    : Direction::kEither;
  }
  if (a.contains("nanStrategy")) {
    STRAKE_TRY_ASSIGN(n, Text(a, "nanStrategy", path));
    if (n == "replace") {
      c.nan_strategy = judge::NanStrategy::kReplace;
    } else if (n != "remove" && n != "none") {
      return Failf(ErrorCode::kInvalid, "{}.nanStrategy: {} is not remove or replace", path,
                   Quote(n));
    }
  }
  for (auto [key, field] :
       {std::pair{"critical", &c.critical}, std::pair{"mustHaveData", &c.must_have_data},
        std::pair{"muted", &c.muted}, std::pair{"spreadTest", &c.spread_test},
        std::pair{"rateTest", &c.rate_test}}) {
    if (!a.contains(key)) continue;
    STRAKE_TRY_ASSIGN(v, Flag(a, key, path));
    *field = v;
  }
  if (a.contains("effectSize"))
    STRAKE_TRY(DecodeEffectSize(a["effectSize"], path + ".effectSize", c));
  if (a.contains("outliers")) {
    const Value& o = a["outliers"];
    std::string op = path + ".outliers";
    STRAKE_TRY(OnlyKnown(o, op, {"strategy", "outlierFactor"}));
    if (o.contains("strategy")) {
      STRAKE_TRY_ASSIGN(s, Text(o, "strategy", op));
      c.remove_outliers = s == "remove";
      if (s != "remove" && s != "keep" && s != "none")
        return Failf(ErrorCode::kInvalid, "{}.strategy: {} is not remove or keep", op, Quote(s));
    }
    if (o.contains("outlierFactor")) {
      STRAKE_TRY_ASSIGN(f, Number(o, "outlierFactor", op));
      c.outlier_factor = f;
    }
  }
  return Ok();
}

Result<std::vector<std::string>> Texts(const Value& obj, const std::string& key,
                                       const std::string& path) {
  const Value& v = obj.at(key);
  std::vector<std::string> out;
  if (!v.is_array())
    return Failf(ErrorCode::kInvalid, "{}.{}: expected a list, found {}", path, key, v.type_name());
  for (const auto& e : v) {
    if (!e.is_string())
      return Failf(ErrorCode::kInvalid, "{}.{}: expected a list of strings", path, key);
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<PrometheusMetricQuery> DecodePrometheusQuery(const Value& q, const std::string& path) {
  STRAKE_TRY(OnlyKnown(q, path,
                       {"type", "serviceType", "metricName", "labelBindings", "groupByFields",
                        "customInlineTemplate", "customFilterTemplate", "resourceType"}));
  PrometheusMetricQuery p;
  for (auto [key, field] : {std::pair{"metricName", &p.metric_name},
                            std::pair{"customInlineTemplate", &p.inline_template},
                            std::pair{"customFilterTemplate", &p.filter_template}}) {
    if (!q.contains(key)) continue;
    STRAKE_TRY_ASSIGN(v, Text(q, key, path));
    *field = v;
  }
  for (auto [key, field] :
       {std::pair{"labelBindings", &p.label_bindings}, std::pair{"groupByFields", &p.group_by}}) {
    if (!q.contains(key)) continue;
    STRAKE_TRY_ASSIGN(v, Texts(q, key, path));
    *field = v;
  }
  if (q.contains("resourceType") && !q["resourceType"].is_null())
    return Failf(ErrorCode::kInvalid,
                 "{}.resourceType: not supported: Kayenta's gce_instance and aws_ec2_instance "
                 "filters need their clouds; write customInlineTemplate or customFilterTemplate",
                 path);
  if (p.inline_template.empty() && p.filter_template.empty())
    return Failf(ErrorCode::kInvalid,
                 "{}: either a resource type or a custom filter is required (customInlineTemplate "
                 "or customFilterTemplate), as Kayenta says",
                 path);
  if (p.metric_name.empty() && p.inline_template.rfind("PromQL:", 0) != 0 &&
      p.filter_template.empty())
    return Failf(ErrorCode::kInvalid,
                 "{}.metricName: required unless customInlineTemplate is a whole query "
                 "(\"PromQL:...\")",
                 path);
  return p;
}

Result<CanaryMetric> DecodeCanaryMetric(const Value& m, const std::string& path) {
  if (!m.is_object()) return Failf(ErrorCode::kInvalid, "{}: expected an object", path);
  STRAKE_TRY(
      OnlyKnown(m, path, {"name", "query", "groups", "analysisConfigurations", "scopeName"}));
  CanaryMetric out;
  if (!m.contains("name")) return Failf(ErrorCode::kInvalid, "{}.name: required", path);
  STRAKE_TRY_ASSIGN(name, Text(m, "name", path));
  out.config.name = name;
  if (m.contains("scopeName")) {
    STRAKE_TRY_ASSIGN(s, Text(m, "scopeName", path));
    out.scope_name = s;
  }
  if (m.contains("groups")) {
    if (!m["groups"].is_array())
      return Failf(ErrorCode::kInvalid, "{}.groups: expected a list", path);
    for (const auto& g : m["groups"]) {
      if (!g.is_string())
        return Failf(ErrorCode::kInvalid, "{}.groups: expected a list of names", path);
      out.config.groups.push_back(g.get<std::string>());
    }
  }
  if (!m.contains("query") || !m["query"].is_object())
    return Failf(ErrorCode::kInvalid, "{}.query: required", path);
  const Value& q = m["query"];
  std::string qp = path + ".query";
  std::string type;
  if (q.contains("type")) {
    STRAKE_TRY_ASSIGN(t, Text(q, "type", qp));
    type = t;
  }
  if (type == "prometheus") {
    STRAKE_TRY_ASSIGN(prom, DecodePrometheusQuery(q, qp));
    out.type = type;
    out.prometheus = std::move(prom);
  } else if (type != "router") {
    return Failf(ErrorCode::kInvalid,
                 "{}.type: {} is not supported: strake judges the embedded router's metrics "
                 "(type router) and Prometheus' (type prometheus)",
                 qp, Quote(type));
  }
  if (m.contains("analysisConfigurations")) {
    const Value& ac = m["analysisConfigurations"];
    std::string ap = path + ".analysisConfigurations";
    STRAKE_TRY(OnlyKnown(ac, ap, {"canary"}));
    if (ac.contains("canary"))
      STRAKE_TRY(DecodeCanaryAnalysis(ac["canary"], ap + ".canary", out.config));
  }
  if (out.type == "prometheus") {
    if (out.config.rate_test)
      return Failf(ErrorCode::kInvalid,
                   "{}.analysisConfigurations.canary.rateTest: needs the events and requests a "
                   "router error-rate metric counts; a Prometheus query gives values only",
                   path);
    return out;
  }
  STRAKE_TRY(OnlyKnown(q, qp, {"type", "service", "metric"}));
  if (!q.contains("service")) return Failf(ErrorCode::kInvalid, "{}.service: required", qp);
  STRAKE_TRY_ASSIGN(service, Text(q, "service", qp));
  out.service = service;
  if (!q.contains("metric")) return Failf(ErrorCode::kInvalid, "{}.metric: required", qp);
  STRAKE_TRY_ASSIGN(metric, Text(q, "metric", qp));
  out.metric = metric;
  if (std::find(kRouterMetrics.begin(), kRouterMetrics.end(), metric) == kRouterMetrics.end())
    return Failf(ErrorCode::kInvalid, "{}.metric: unknown metric {} (one of {}){}", qp,
                 Quote(metric), Join(kRouterMetrics, ", "), DidYouMean(metric, kRouterMetrics));
  return out;
}

// The revision a scope names.
Result<std::string> ScopeRevision(const std::string& scope, const MeasureContext& ctx,
                                  const std::string& path) {
  std::string s(Trim(scope));
  if (s == "stable" || s == "canary") {
    const std::string& hash = s == "stable" ? ctx.stable_hash : ctx.canary_hash;
    if (hash.empty()) return Failf("{}: no {} revision to measure", path, s);
    return hash;
  }
  constexpr std::string_view kLabel = "rollouts-pod-template-hash";
  size_t at = s.find(kLabel);
  if (at == std::string::npos)
    return Failf(
        "{}: {} names no revision: write rollouts-pod-template-hash=<hash>, stable or "
        "canary",
        path, Quote(scope));
  size_t i = at + kLabel.size();
  auto skip = [&](std::string_view chars) {
    while (i < s.size() && chars.find(s[i]) != std::string_view::npos) ++i;
  };
  skip(" =");
  skip("'\"");
  size_t start = i;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) ++i;
  if (i == start) return Failf("{}: {} gives no hash", path, Quote(scope));
  return s.substr(start, i - start);
}

// The per-step values of one router metric, and the window's totals.
struct Side {
  std::vector<double> values;
  judge::Counts counts;
};

Side Values(const std::vector<RevisionWindow>& series, const std::string& metric) {
  Side side;
  for (const auto& w : series) {
    double n = static_cast<double>(w.requests);
    // A rate needs the step's length; the others need a request in it.
    bool measured = metric == "request-rate" ? w.seconds > 0 : w.requests > 0;
    double v = measured ? RouterMetricValue(metric, w) : std::nan("");
    side.values.push_back(v);
    side.counts.events += metric == "error-rate" ? w.errors : 0;
    side.counts.exposure += n;
  }
  return side;
}

// The window of a scope as Argo defaults it, in ms since the epoch.
struct Span {
  int64_t start_ms = 0, end_ms = 0;
};

Result<Span> ScopeSpan(const model::Metric& metric, const model::KayentaScope& scope,
                       const MeasureContext& ctx, const std::string& path) {
  auto parse = [&](const std::string& text, const char* what) -> Result<int64_t> {
    auto t = ParseRfc3339(text);
    if (!t)
      return Failf("{}.{}: {} is not a time in RFC 3339 UTC (2026-12-03T18:00:00Z)", path, what,
                   Quote(text));
    return UnixMillis(*t);
  };
  // Argo's docs pass them as {{args.start-time}} and {{args.end-time}}.
  STRAKE_TRY_ASSIGN(start_text, ResolveArgs(scope.start, ctx.args));
  STRAKE_TRY_ASSIGN(end_text, ResolveArgs(scope.end, ctx.args));
  Span s;
  s.end_ms = ctx.now_ms;
  if (!end_text.empty()) {
    STRAKE_TRY_ASSIGN(end, parse(end_text, "end"));
    s.end_ms = end;
  }
  if (!start_text.empty()) {
    STRAKE_TRY_ASSIGN(start, parse(start_text, "start"));
    s.start_ms = start;
  } else if (metric.provider.lookback) {
    s.start_ms = ctx.run_started_ms;
  } else if (metric.interval) {
    s.start_ms = ctx.now_ms - metric.interval->count();
  } else {
    return Failf("{}: no start: set the scopes' start, lookback, or the metric's interval", path);
  }
  if (s.start_ms >= s.end_ms) return Failf("{}: the window ends before it starts", path);
  return s;
}

Result<Side> Fetch(RouterMetricsSource& router, const MeasureContext& ctx, const CanaryMetric& cm,
                   const std::string& revision, const Span& span, int64_t step_seconds) {
  auto ago = std::chrono::milliseconds(std::max<int64_t>(0, ctx.now_ms - span.end_ms));
  auto series = router.Series(ctx.ns, cm.service, revision, ago,
                              std::chrono::milliseconds(span.end_ms - span.start_ms),
                              std::chrono::seconds(step_seconds));
  if (!series) return tl::unexpected(series.error().Wrap(cm.config.name));
  return Values(*series, cm.metric);
}

Value MetricReport(const judge::MetricResult& r) {
  auto num = [](double v) { return std::isfinite(v) ? Value(v) : Value(nullptr); };
  Value m = {{"name", r.name},
             {"classification", judge::LabelName(r.label)},
             {"reason", r.reason},
             {"critical", r.critical},
             {"ratio", num(r.ratio)},
             {"canary", {{"count", r.canary.count}, {"mean", num(r.canary.mean)}}},
             {"baseline", {{"count", r.baseline.count}, {"mean", num(r.baseline.mean)}}}};
  if (r.test) {
    m["estimate"] = num(r.test->estimate);
    m["ci"] = {num(r.test->ci_low), num(r.test->ci_high)};
    m["pValue"] = num(r.test->p_value);
  }
  if (r.muted) m["muted"] = true;
  return m;
}

}  // namespace

Result<CanaryConfig> ParseCanaryConfig(const std::string& json) {
  Value doc = Value::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Fail(ErrorCode::kInvalid, "the canary config is not a JSON object");
  STRAKE_TRY(OnlyKnown(doc, "",
                       {"name", "description", "applications", "judge", "metrics", "templates",
                        "classifier", "configVersion", "createdTimestamp", "updatedTimestamp",
                        "createdTimestampIso", "updatedTimestampIso", "id"}));
  if (doc.contains("judge")) {
    const Value& j = doc["judge"];
    STRAKE_TRY(OnlyKnown(j, "judge", {"name", "judgeConfigurations"}));
    std::string name = "NetflixACAJudge-v1.0";
    if (j.contains("name")) {
      STRAKE_TRY_ASSIGN(n, Text(j, "name", "judge"));
      name = n;
    }
    if (name != "NetflixACAJudge-v1.0")
      return Failf(ErrorCode::kInvalid, "judge.name: {} is not NetflixACAJudge-v1.0", Quote(name));
  }
  CanaryConfig c;
  if (doc.contains("templates")) {
    const Value& t = doc["templates"];
    if (!t.is_object()) return Fail(ErrorCode::kInvalid, "templates: expected an object");
    for (const auto& [name, text] : t.items()) {
      if (!text.is_string())
        return Failf(ErrorCode::kInvalid, "templates.{}: expected a string", name);
      c.templates[name] = text.get<std::string>();
    }
  }
  if (!doc.contains("metrics") || !doc["metrics"].is_array() || doc["metrics"].empty())
    return Fail(ErrorCode::kInvalid, "metrics: the canary config needs at least one metric");
  for (size_t i = 0; i < doc["metrics"].size(); ++i) {
    const std::string path = fmt::format("metrics[{}]", i);
    STRAKE_TRY_ASSIGN(m, DecodeCanaryMetric(doc["metrics"][i], path));
    const std::string& named = m.prometheus.filter_template;
    if (!named.empty() && !c.templates.count(named))
      return Failf(ErrorCode::kInvalid,
                   "{}.query.customFilterTemplate: no template {} in the config's templates", path,
                   Quote(named));
    c.metrics.push_back(std::move(m));
  }
  if (doc.contains("classifier")) {
    const Value& cl = doc["classifier"];
    STRAKE_TRY(OnlyKnown(cl, "classifier", {"groupWeights", "scoreThresholds", "earlyStopping"}));
    if (cl.contains("earlyStopping")) {
      if (!cl["earlyStopping"].is_boolean())
        return Fail(ErrorCode::kInvalid, "classifier.earlyStopping: expected true or false");
      c.early_stopping = cl["earlyStopping"].get<bool>();
    }
    Value weights = cl.contains("groupWeights") ? cl["groupWeights"] : Value::object();
    if (!weights.is_object())
      return Fail(ErrorCode::kInvalid, "classifier.groupWeights: expected an object");
    for (const auto& [g, w] : weights.items()) {
      if (!w.is_number())
        return Failf(ErrorCode::kInvalid, "classifier.groupWeights.{}: expected a number", g);
      c.group_weights[g] = w.get<double>();
    }
  }
  return c;
}

namespace {

// Kayenta's template variables (FreeMarker's ${name}) in `text`; another
// name is an error.
Result<std::string> ExpandTemplate(const std::string& text,
                                   const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t at = text.find("${", i);
    if (at == std::string::npos) break;
    size_t end = text.find('}', at);
    if (end == std::string::npos) break;
    out.append(text, i, at - i);
    std::string name = text.substr(at + 2, end - at - 2);
    auto it = vars.find(name);
    if (it == vars.end())
      return Failf(
          "template variable ${{{}}} is not one of ${{scope}}, ${{location}}, "
          "${{project}}, ${{resourceType}}",
          name);
    out += it->second;
    i = end + 1;
  }
  out.append(text, i, std::string::npos);
  return out;
}

}  // namespace

Result<std::string> PrometheusQueryOf(const CanaryConfig& config, const CanaryMetric& m,
                                      const std::string& scope, const std::string& location) {
  const PrometheusMetricQuery& q = m.prometheus;
  std::string filter = q.inline_template;
  if (filter.empty() && !q.filter_template.empty()) {
    auto t = config.templates.find(q.filter_template);
    if (t == config.templates.end())
      return Failf("no template {} in the config's templates", Quote(q.filter_template));
    filter = t->second;
  }
  if (filter.empty()) return Fail("either a resource type or a custom filter is required");
  STRAKE_TRY_ASSIGN(expanded, ExpandTemplate(filter, {{"scope", scope},
                                                      {"location", location},
                                                      {"project", ""},
                                                      {"resourceType", ""}}));
  if (expanded.rfind("PromQL:", 0) == 0) return expanded.substr(7);
  std::vector<std::string> filters = Split(expanded, ',');
  filters.insert(filters.end(), q.label_bindings.begin(), q.label_bindings.end());
  std::string query = q.metric_name;
  if (!filters.empty()) query += "{" + Join(filters, ",") + "}";
  query = "avg(" + query + ")";
  if (!q.group_by.empty()) query += " by (" + Join(q.group_by, ",") + ")";
  return query;
}

Result<std::string> PrometheusAccountUrl(const std::string& yaml, const std::string& account) {
  if (yaml.empty())
    return Failf(
        "no Prometheus account{}: put Kayenta's configuration in ConfigMap {} key {} "
        "(kayenta.prometheus.accounts: [{{name, endpoint: {{baseUrl}}}}])",
        account.empty() ? "" : " " + Quote(account), Quote(kKayentaConfigMap),
        Quote(kKayentaConfigKey));
  auto docs = model::ParseYaml(yaml, kKayentaConfigKey);
  if (!docs) return tl::unexpected(docs.error());
  if (docs->empty()) return Failf("{}: empty", kKayentaConfigKey);
  Value doc = model::ToJson(docs->front().root);
  const Value* accounts = nullptr;
  if (doc.is_object() && doc.contains("kayenta") && doc["kayenta"].is_object() &&
      doc["kayenta"].contains("prometheus") && doc["kayenta"]["prometheus"].is_object()) {
    auto it = doc["kayenta"]["prometheus"].find("accounts");
    if (it != doc["kayenta"]["prometheus"].end() && it->is_array()) accounts = &*it;
  }
  if (!accounts || accounts->empty())
    return Failf("{}: no kayenta.prometheus.accounts", kKayentaConfigKey);
  const Value* pick = nullptr;
  std::vector<std::string> names;
  for (const auto& a : *accounts) {
    if (!a.is_object()) continue;
    names.push_back(a.value("name", ""));
    if (a.value("name", "") == account) pick = &a;
  }
  if (!pick && account.empty() && accounts->size() == 1) pick = &accounts->front();
  if (!pick)
    return Failf("{}: no Prometheus account {} (there: {})", kKayentaConfigKey,
                 Quote(account.empty() ? std::string("(none named)") : account), Join(names, ", "));
  const Value* endpoint = pick->contains("endpoint") ? &(*pick)["endpoint"] : nullptr;
  if (!endpoint || !endpoint->is_object() || !endpoint->contains("baseUrl") ||
      !(*endpoint)["baseUrl"].is_string())
    return Failf("{}: account {} has no endpoint.baseUrl", kKayentaConfigKey,
                 Quote(pick->value("name", "")));
  return (*endpoint)["baseUrl"].get<std::string>();
}

namespace {

// The values of a Prometheus metric for one scope: one per step from the
// window's start to its end, NaN where the series has none.
Result<Side> FetchPrometheus(PrometheusRangeSource& prometheus, const std::string& base_url,
                             const std::string& query, const Span& span, int64_t step_seconds) {
  STRAKE_TRY_ASSIGN(points,
                    prometheus.Range(base_url, query, span.start_ms, span.end_ms, step_seconds));
  std::map<int64_t, double> at;
  for (const auto& [t, v] : points) at[t] = v;
  Side side;
  const int64_t step_ms = std::max<int64_t>(1, step_seconds) * 1000;
  for (int64_t t = span.start_ms; t <= span.end_ms; t += step_ms) {
    auto it = at.find(t);
    side.values.push_back(it == at.end() ? std::nan("") : it->second);
  }
  return side;
}

}  // namespace

Result<Value> MeasureKayenta(const model::Metric& metric, const MeasureContext& ctx,
                             const std::string& config_json, RouterMetricsSource* router,
                             PrometheusRangeSource* prometheus) {
  const model::MetricProvider& p = metric.provider;
  auto config = ParseCanaryConfig(config_json);
  if (!config)
    return Failf("canary config {} (ConfigMap key {}): {}", Quote(p.canary_config_name),
                 kCanaryConfigKey, config.error().message);
  std::vector<judge::MetricResult> results;
  Value window = Value::object();
  Value sequential;
  if (config->early_stopping) {
    if (ctx.looks < 1 || ctx.look < 1 || ctx.look > ctx.looks)
      return Failf(
          "canary config {}: classifier.earlyStopping needs the metric's count: its "
          "measurements are the looks, and a look is spent from a known number of them",
          Quote(p.canary_config_name));
    sequential = {{"look", ctx.look}, {"looks", ctx.looks}};
  }
  // The Prometheus of the account, read once for all the metrics that ask it.
  std::string prometheus_url;
  if (std::any_of(config->metrics.begin(), config->metrics.end(),
                  [](const CanaryMetric& m) { return m.type == "prometheus"; })) {
    if (!prometheus) return Fail("the kayenta provider's Prometheus metrics need a Prometheus");
    STRAKE_TRY_ASSIGN(url, PrometheusAccountUrl(ctx.kayenta_config, p.metrics_account));
    prometheus_url = std::move(url);
  }
  for (CanaryMetric cm : config->metrics) {
    if (config->early_stopping) {
      double alpha = judge::SpentAlpha(1 - cm.config.confidence, ctx.look, ctx.looks);
      cm.config.confidence = 1 - alpha;
      sequential["alpha"][cm.config.name] = alpha;
    }
    auto pair = std::find_if(p.scopes.begin(), p.scopes.end(),
                             [&](const auto& s) { return s.name == cm.scope_name; });
    if (pair == p.scopes.end())
      return Failf("metric {}: no scope {} in the provider's scopes", cm.config.name,
                   Quote(cm.scope_name));
    std::string path = fmt::format("scopes[{}]", pair - p.scopes.begin());
    auto control_scope = ResolveArgs(pair->control.scope, ctx.args);
    if (!control_scope) return tl::unexpected(control_scope.error());
    auto experiment_scope = ResolveArgs(pair->experiment.scope, ctx.args);
    if (!experiment_scope) return tl::unexpected(experiment_scope.error());
    STRAKE_TRY_ASSIGN(span, ScopeSpan(metric, pair->experiment, ctx, path + ".experimentScope"));
    STRAKE_TRY_ASSIGN(control_span, ScopeSpan(metric, pair->control, ctx, path + ".controlScope"));
    Side canary, baseline;
    std::string control = *control_scope, experiment = *experiment_scope;
    if (cm.type == "prometheus") {
      const std::string& url = prometheus_url;
      STRAKE_TRY_ASSIGN(eq, PrometheusQueryOf(*config, cm, experiment, pair->experiment.region));
      STRAKE_TRY_ASSIGN(cq, PrometheusQueryOf(*config, cm, control, pair->control.region));
      auto got = FetchPrometheus(*prometheus, url, eq, span, pair->experiment.step_seconds);
      if (!got) return tl::unexpected(got.error().Wrap(cm.config.name));
      canary = std::move(*got);
      got = FetchPrometheus(*prometheus, url, cq, control_span, pair->control.step_seconds);
      if (!got) return tl::unexpected(got.error().Wrap(cm.config.name));
      baseline = std::move(*got);
    } else {
      if (!router)
        return Fail("the kayenta provider's router metrics need strake's embedded router");
      STRAKE_TRY_ASSIGN(c, ScopeRevision(control, ctx, path + ".controlScope.scope"));
      STRAKE_TRY_ASSIGN(e, ScopeRevision(experiment, ctx, path + ".experimentScope.scope"));
      control = c;
      experiment = e;
      STRAKE_TRY_ASSIGN(cs,
                        Fetch(*router, ctx, cm, experiment, span, pair->experiment.step_seconds));
      STRAKE_TRY_ASSIGN(bs,
                        Fetch(*router, ctx, cm, control, control_span, pair->control.step_seconds));
      canary = std::move(cs);
      baseline = std::move(bs);
    }
    window[pair->name] = {{"start", FormatRfc3339(FromUnixMillis(span.start_ms))},
                          {"end", FormatRfc3339(FromUnixMillis(span.end_ms))},
                          {"stepSeconds", pair->experiment.step_seconds},
                          {"control", control},
                          {"experiment", experiment}};
    std::optional<std::pair<judge::Counts, judge::Counts>> counts;
    if (cm.type == "router") counts = std::pair{canary.counts, baseline.counts};
    results.push_back(
        judge::Classify(cm.config, std::move(canary.values), std::move(baseline.values), counts));
  }
  judge::Verdict v = judge::Score(results, config->group_weights);
  Value report = {{"score", v.score}, {"reason", v.reason}, {"window", window}};
  if (!sequential.is_null()) report["earlyStopping"] = sequential;
  Value groups = Value::array();
  for (const auto& g : v.groups)
    groups.push_back({{"name", g.name}, {"score", g.score}, {"noData", g.no_data}});
  report["groups"] = groups;
  // Failures first: the first lines say why.
  std::stable_sort(results.begin(), results.end(), [](const auto& a, const auto& b) {
    return (a.label != judge::Label::kPass) > (b.label != judge::Label::kPass);
  });
  Value metrics = Value::array();
  for (const auto& r : results) metrics.push_back(MetricReport(r));
  report["metrics"] = metrics;
  return report;
}

Measurement AssessKayenta(const model::Metric& metric, const Value& report) {
  const model::MetricProvider& p = metric.provider;
  Measurement out;
  double score = report.value("score", 0.0);
  auto whole = static_cast<int64_t>(score);
  out.value = std::to_string(whole);
  judge::Phase phase = judge::ScorePhase(score, p.threshold_pass, p.threshold_marginal);
  out.phase = phase == judge::Phase::kSuccessful     ? "Successful"
              : phase == judge::Phase::kInconclusive ? "Inconclusive"
                                                     : "Failed";
  std::string rule = phase == judge::Phase::kSuccessful
                         ? fmt::format("at or above pass {}", p.threshold_pass)
                     : phase == judge::Phase::kInconclusive
                         ? fmt::format("below pass {}, at or above marginal {}", p.threshold_pass,
                                       p.threshold_marginal)
                         : fmt::format("below marginal {}", p.threshold_marginal);
  std::vector<std::string> parts;
  std::string reason = report.value("reason", "");
  if (!reason.empty()) parts.push_back(reason);
  Value metrics = report.value("metrics", Value::array());
  for (const auto& m : metrics) parts.push_back(m.value("reason", ""));
  std::string look;
  if (report.contains("earlyStopping")) {
    const Value& es = report["earlyStopping"];
    look = fmt::format("look {} of {}, each metric at its share of the confidence: ",
                       es.value("look", 0), es.value("looks", 0));
  }
  out.message = fmt::format("{}score {:g}: {}: {}", look, score, rule, Join(parts, "; "));
  return out;
}

}  // namespace strake::rollout
