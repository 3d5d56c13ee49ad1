#include "rollout/analysis.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <thread>
#include <tuple>

#include "base/cgroup.h"
#include "base/curl.h"
#include "base/fs.h"
#include "base/http.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/mask.h"
#include "base/net.h"
#include "base/process.h"
#include "base/regex.h"
#include "base/strings.h"
#include "rollout/builtin_templates.h"
#include "rollout/controller.h"
#include "rollout/kayenta.h"

namespace strake::rollout {

// ---- results as JSON -------------------------------------------------------------

Json MetricResult::ToJson() const {
  Json ms = Json::array();
  for (const auto& m : measurements) {
    Json j = {{"phase", m.phase},
              {"value", m.value},
              {"startedAtMs", m.started_ms},
              {"finishedAtMs", m.finished_ms}};
    if (!m.message.empty()) j["message"] = m.message;
    ms.push_back(std::move(j));
  }
  Json j = {{"name", name},
            {"phase", phase},
            {"measurements", ms},
            {"count", count},
            {"successful", successful},
            {"failed", failed},
            {"inconclusive", inconclusive},
            {"error", error},
            {"consecutiveError", consecutive_error}};
  if (!message.empty()) j["message"] = message;
  if (dry_run) j["dryRun"] = true;
  return j;
}

MetricResult MetricResult::FromJson(const Json& j) {
  MetricResult r;
  r.name = j.value("name", "");
  r.phase = j.value("phase", "Pending");
  for (const auto& m : j.value("measurements", Json::array())) {
    r.measurements.push_back({m.value("phase", ""), m.value("value", ""), m.value("message", ""),
                              m.value("startedAtMs", int64_t{0}),
                              m.value("finishedAtMs", int64_t{0})});
  }
  r.count = j.value("count", 0);
  r.successful = j.value("successful", 0);
  r.failed = j.value("failed", 0);
  r.inconclusive = j.value("inconclusive", 0);
  r.error = j.value("error", 0);
  r.consecutive_error = j.value("consecutiveError", 0);
  r.dry_run = j.value("dryRun", false);
  r.message = j.value("message", "");
  return r;
}

// ---- the rules ---------------------------------------------------------------------

namespace {

// `s` with each invalid UTF-8 sequence replaced by U+FFFD: a measurement is
// stored as JSON, which must be valid UTF-8, and its value and message may
// hold bytes from a provider or a condition.
std::string ValidUtf8(const std::string& s) {
  return Value::parse(Value(s).dump(-1, ' ', false, Value::error_handler_t::replace))
      .get<std::string>();
}

}  // namespace

Measurement AssessValue(const model::Metric& m, const Value& result) {
  if (m.provider.kind == model::MetricProvider::Kind::kKayenta) return AssessKayenta(m, result);
  Measurement out;
  out.value = result.dump(-1, ' ', false, Value::error_handler_t::replace);
  if (m.provider.kind == model::MetricProvider::Kind::kJob && m.success_condition.empty() &&
      m.failure_condition.empty()) {
    out.phase = result == true ? "Successful" : "Failed";
    return out;
  }
  std::map<std::string, Value> vars{{"result", result}};
  auto eval = [&](const std::string& cond, const char* which) -> std::optional<bool> {
    auto e = Expr::Compile(cond);
    if (!e) {
      out.phase = "Error";
      out.message = fmt::format("{} {}: {}", which, Quote(cond), e.error().message);
      return std::nullopt;
    }
    auto v = e->EvalBool(vars);
    if (!v) {
      out.phase = "Error";
      out.message = fmt::format("{} {}: {}", which, Quote(cond), v.error().message);
      return std::nullopt;
    }
    return *v;
  };
  bool has_success = !m.success_condition.empty(), has_failure = !m.failure_condition.empty();
  std::optional<bool> failed, succeeded;
  if (has_failure && !(failed = eval(m.failure_condition, "failureCondition"))) return out;
  if (has_success && !(succeeded = eval(m.success_condition, "successCondition"))) return out;
  if (failed.value_or(false)) {
    out.phase = "Failed";
  } else if (has_success) {
    out.phase = *succeeded ? "Successful" : (has_failure ? "Inconclusive" : "Failed");
  } else if (has_failure) {
    out.phase = "Successful";
  } else {
    out.phase = "Successful";  // no condition: a measurement that worked
  }
  return out;
}

void Record(const model::Metric& m, MetricResult& r, Measurement measurement, size_t keep) {
  measurement.value = ValidUtf8(measurement.value);
  measurement.message = ValidUtf8(measurement.message);
  // As Argo counts: an Error measurement is not in `count` (it is retried).
  if (measurement.phase != "Error") r.count++;
  if (measurement.phase == "Successful") r.successful++;
  if (measurement.phase == "Failed") r.failed++;
  if (measurement.phase == "Inconclusive") r.inconclusive++;
  if (measurement.phase == "Error") {
    r.error++;
    r.consecutive_error++;
  } else {
    r.consecutive_error = 0;
  }
  if (!measurement.message.empty()) r.message = measurement.message;
  r.measurements.push_back(std::move(measurement));
  if (r.measurements.size() > keep)
    r.measurements.erase(r.measurements.begin(),
                         r.measurements.end() - static_cast<std::ptrdiff_t>(keep));

  if (m.failure_limit >= 0 && r.failed > m.failure_limit) {
    r.phase = "Failed";
  } else if (r.inconclusive > m.inconclusive_limit) {
    r.phase = "Inconclusive";
  } else if (r.consecutive_error > m.consecutive_error_limit) {
    r.phase = "Error";
  } else {
    int total = m.count > 0 ? m.count : (m.interval ? 0 : 1);
    bool complete = total > 0 && r.count >= total;
    r.phase = complete ? "Successful" : "Running";
  }
}

std::optional<int64_t> NextMeasurement(const model::Metric& m, const MetricResult& r,
                                       int64_t run_started_ms) {
  if (IsTerminalPhase(r.phase)) return std::nullopt;
  if (r.measurements.empty()) {
    return run_started_ms + (m.initial_delay ? m.initial_delay->count() : 0);
  }
  // Errors are retried at the interval too (10s without one, as Argo does).
  int64_t interval = m.interval ? m.interval->count() : 10'000;
  return r.measurements.back().finished_ms + interval;
}

bool IsTerminalPhase(const std::string& phase) {
  return phase == "Successful" || phase == "Failed" || phase == "Error" || phase == "Inconclusive";
}

std::string RunPhase(const std::vector<MetricResult>& results) {
  for (const char* worst : {"Failed", "Error", "Inconclusive"}) {
    for (const auto& r : results) {
      if (r.phase == worst && !r.dry_run) return worst;
    }
  }
  bool all_done = std::all_of(results.begin(), results.end(), [](const MetricResult& r) {
    return r.dry_run ? IsTerminalPhase(r.phase) : r.phase == "Successful";
  });
  if (all_done && !results.empty()) return "Successful";
  bool started = std::any_of(results.begin(), results.end(), [](const MetricResult& r) {
    return r.count > 0 || !r.measurements.empty();
  });
  return started ? "Running" : "Pending";
}

namespace {

// For each metric, the index of the last of `patterns` (`what`'s rules) that
// matches its name (Go's unanchored match, as Argo), -1 for none; a
// pattern that matches no metric is an error, as in Argo.
Result<std::vector<int>> LastMatchingRule(const std::vector<std::string>& patterns,
                                          const std::vector<model::Metric>& metrics,
                                          const char* what) {
  std::vector<int> rule(metrics.size(), -1);
  for (size_t i = 0; i < patterns.size(); ++i) {
    auto re = Regex::Compile(patterns[i]);
    if (!re) return Failf("{}[{}]: {}", what, i, re.error().message);
    bool any = false;
    for (size_t m = 0; m < metrics.size(); ++m) {
      if (!re->PartialMatch(metrics[m].name)) continue;
      rule[m] = static_cast<int>(i);
      any = true;
    }
    if (!any) return Failf("{}[{}]: Rule didn't match any metric name(s)", what, i);
  }
  return rule;
}

}  // namespace

Result<std::vector<bool>> DryRunMetrics(const std::vector<std::string>& patterns,
                                        const std::vector<model::Metric>& metrics) {
  STRAKE_TRY_ASSIGN(rule, LastMatchingRule(patterns, metrics, "dryRun"));
  std::vector<bool> dry;
  for (int r : rule) dry.push_back(r >= 0);
  return dry;
}

std::vector<std::string> RunsToDelete(std::vector<OwnedRun> runs,
                                      const std::set<std::string>& in_use, int keep_successful,
                                      int keep_unsuccessful) {
  std::sort(runs.begin(), runs.end(), [](const OwnedRun& a, const OwnedRun& b) {
    return std::tie(a.revision, a.created_ms, a.name) > std::tie(b.revision, b.created_ms, b.name);
  });
  std::vector<std::string> out;
  int successful = 0, unsuccessful = 0;
  for (const auto& r : runs) {
    if (in_use.count(r.name)) continue;
    bool go = !r.revision_kept;
    if (r.phase == "Successful") {
      go = go || ++successful > keep_successful;
    } else if (r.phase == "Failed" || r.phase == "Error" || r.phase == "Inconclusive") {
      go = go || ++unsuccessful > keep_unsuccessful;
    }
    if (go) out.push_back(r.name);
  }
  return out;
}

Result<std::vector<size_t>> RetainedMeasurements(
    const std::vector<model::MeasurementRetention>& rules,
    const std::vector<model::Metric>& metrics) {
  std::vector<std::string> patterns;
  patterns.reserve(rules.size());
  for (const auto& r : rules) patterns.push_back(r.metric_name);
  STRAKE_TRY_ASSIGN(rule, LastMatchingRule(patterns, metrics, "measurementRetention"));
  std::vector<size_t> keep;
  for (int r : rule) {
    int limit = r < 0 ? 0 : rules[static_cast<size_t>(r)].limit;
    keep.push_back(limit > 0 ? static_cast<size_t>(limit) : kMeasurementsKept);
  }
  return keep;
}

Result<Json> AnalysisRunSpec(store::Store& store, const std::string& ns,
                             const std::vector<model::RolloutAnalysis::TemplateRef>& templates,
                             const std::vector<std::pair<std::string, std::string>>& values,
                             const std::vector<std::string>& dry_run,
                             const std::vector<model::MeasurementRetention>& retention) {
  Json metrics = Json::array();
  Json args = Json::array();
  // The given rules first, then the templates', as Argo merges them.
  Json dry = Json::array();
  for (const auto& name : dry_run) dry.push_back({{"metricName", name}});
  Json kept = Json::array();
  for (const auto& r : retention)
    kept.push_back({{"metricName", r.metric_name}, {"limit", r.limit}});
  std::set<std::string> arg_names;
  for (const auto& ref : templates) {
    const char* kind = ref.cluster_scope ? "ClusterAnalysisTemplate" : "AnalysisTemplate";
    auto got = store.Get({kind, ref.cluster_scope ? "" : ns, ref.name});
    if (!got) return tl::unexpected(got.error());
    std::optional<Json> builtin;
    if (!*got && ref.cluster_scope) builtin = BuiltinClusterAnalysisTemplate(ref.name);
    if (!*got && !builtin) return Failf("{} {} not found", kind, Quote(ref.name));
    const Json& spec = *got ? (*got)->object["spec"] : (*builtin)["spec"];
    for (const auto& m : spec.value("metrics", Json::array())) metrics.push_back(m);
    for (const auto& d : spec.value("dryRun", Json::array())) dry.push_back(d);
    for (const auto& r : spec.value("measurementRetention", Json::array())) kept.push_back(r);
    for (const auto& arg : spec.value("args", Json::array())) {
      if (arg_names.insert(arg.value("name", "")).second) args.push_back(arg);
    }
  }
  for (const auto& [name, value] : values) {
    bool found = false;
    for (auto& arg : args) {
      if (arg.value("name", "") == name) {
        arg["value"] = value;
        arg.erase("valueFrom");  // the given value wins over a template's Secret
        found = true;
      }
    }
    if (!found) return Failf("analysis argument {} is not declared by the templates", Quote(name));
  }
  for (const auto& [rules, what] : {std::pair{&dry, "Dry-Run"}, {&kept, "Measurement Retention"}}) {
    std::set<std::string> seen;
    for (const auto& r : *rules) {
      if (!seen.insert(r.value("metricName", "")).second)
        return Failf("two {} metric rules have the same name {}", what,
                     Quote(r.value("metricName", "")));
    }
  }
  Json out = {{"args", args}, {"metrics", metrics}};
  if (!dry.empty()) out["dryRun"] = std::move(dry);
  if (!kept.empty()) out["measurementRetention"] = std::move(kept);
  return out;
}

Result<std::string> ResolveArgs(const std::string& s,
                                const std::map<std::string, std::string>& args) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t open = s.find("{{", i);
    if (open == std::string::npos) {
      out.append(s, i, std::string::npos);
      break;
    }
    size_t close = s.find("}}", open);
    if (close == std::string::npos) return Failf("unterminated {{ in {}", Quote(s));
    out.append(s, i, open - i);
    std::string ref(Trim(std::string_view(s).substr(open + 2, close - open - 2)));
    if (!StartsWith(ref, "args."))
      return Failf("unknown reference {{{{{}}}}} (only args.NAME)", ref);
    std::string name = ref.substr(5);
    auto it = args.find(name);
    if (it == args.end()) {
      std::vector<std::string> names;
      names.reserve(args.size());
      for (const auto& [k, v] : args) names.push_back(k);
      return Failf("unknown argument {}{}", Quote(name), DidYouMean(name, names));
    }
    out += it->second;
    i = close + 2;
  }
  return out;
}

Result<std::string> FieldRefValue(const Json& rollout, const std::string& path) {
  const Json meta = rollout.value("metadata", Json::object());
  for (const char* map : {"labels", "annotations"}) {
    std::string prefix = fmt::format("metadata.{}", map);
    const Json entries = meta.value(map, Json::object());
    if (path == prefix) {
      // As Kubernetes' downward API writes a whole map: key="value" lines, sorted.
      std::vector<std::string> lines;
      for (const auto& [k, v] : entries.items())
        lines.push_back(fmt::format("{}={}", k, Json(v).dump()));
      std::sort(lines.begin(), lines.end());
      return Join(lines, "\n");
    }
    if (StartsWith(path, prefix + "['") && EndsWith(path, "']")) {
      std::string key = path.substr(prefix.size() + 2, path.size() - prefix.size() - 4);
      auto it = entries.find(key);
      return it != entries.end() && it->is_string() ? it->get<std::string>() : "";
    }
  }
  if (StartsWith(path, "metadata.")) {
    const Json v = meta.value(path.substr(9), Json(""));
    if (v.is_string()) return v.get<std::string>();
    return Failf("fieldRef {}: not a string", path);
  }
  const Json* at = &rollout;
  for (const auto& part : Split(path, '.')) {
    if (!at->is_object() || !at->contains(part)) return Failf("fieldRef {}: no such field", path);
    at = &(*at)[part];
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_number() || at->is_boolean()) return at->dump();
  return Failf("fieldRef {}: not a string, number or boolean", path);
}

double RouterMetricValue(const std::string& m, const RevisionWindow& w) {
  double total = static_cast<double>(w.requests);
  if (m == "success-rate") return 1.0 - static_cast<double>(w.errors) / total;
  if (m == "error-rate") return static_cast<double>(w.errors) / total;
  if (m == "request-rate") return total / std::max(w.seconds, 0.001);
  double q = m == "latency-p50" ? 0.5 : m == "latency-p95" ? 0.95 : 0.99;
  return HistogramQuantile(q, w);
}

double HistogramQuantile(double q, const RevisionWindow& w) {
  uint64_t total = 0;
  for (uint64_t c : w.buckets) total += c;
  if (total == 0) return std::numeric_limits<double>::quiet_NaN();
  double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < w.buckets.size(); ++i) {
    if (static_cast<double>(seen + w.buckets[i]) >= rank) {
      double lo = i == 0 ? 0 : w.bucket_bounds[i - 1];
      double hi = w.bucket_bounds[i];
      if (std::isinf(hi)) return lo;  // Prometheus: the highest finite bound
      double within =
          w.buckets[i] ? (rank - static_cast<double>(seen)) / static_cast<double>(w.buckets[i]) : 0;
      return lo + (hi - lo) * within;
    }
    seen += w.buckets[i];
  }
  return w.bucket_bounds.size() > 1 ? w.bucket_bounds[w.bucket_bounds.size() - 2] : 0;
}

// ---- providers -----------------------------------------------------------------------

namespace {

// A JSONPath subset as Argo's web provider uses it: "{$.a.b[0]}" or "$.a.b".
Result<Value> JsonPath(const Value& doc, std::string path) {
  if (StartsWith(path, "{") && EndsWith(path, "}")) path = path.substr(1, path.size() - 2);
  if (!StartsWith(path, "$")) return Failf("jsonPath {} must start with $", Quote(path));
  const Value* cur = &doc;
  size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t j = i + 1;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      std::string key = path.substr(i + 1, j - i - 1);
      if (!cur->is_object() || !cur->contains(key))
        return Failf("jsonPath {}: no field {}", Quote(path), Quote(key));
      cur = &(*cur)[key];
      i = j;
    } else if (path[i] == '[') {
      size_t j = path.find(']', i);
      if (j == std::string::npos) return Failf("jsonPath {}: unclosed [", Quote(path));
      size_t idx = std::strtoul(path.substr(i + 1, j - i - 1).c_str(), nullptr, 10);
      if (!cur->is_array() || idx >= cur->size())
        return Failf("jsonPath {}: no element {}", Quote(path), idx);
      cur = &(*cur)[idx];
      i = j + 1;
    } else {
      return Failf("jsonPath {}: unexpected {}", Quote(path), Quote(std::string(1, path[i])));
    }
  }
  return *cur;
}

double ParseSample(const Value& v) {
  if (v.is_number()) return v.get<double>();
  std::string s = v.is_string() ? v.get<std::string>()
                                : v.dump(-1, ' ', false, Value::error_handler_t::replace);
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  return std::strtod(s.c_str(), nullptr);
}

// At most this much of a provider's own error text is shown.
constexpr size_t kMaxEchoedError = 256;
// The largest answer a provider may give (a Prometheus vector of many series).
constexpr size_t kMaxAnswer = size_t{16} << 20;
using Headers = std::vector<std::pair<std::string, std::string>>;
// A job metric without activeDeadlineSeconds gets this long, all attempts.
constexpr int kDefaultJobDeadlineSeconds = 600;

class Providers : public MetricProviders, public PrometheusRangeSource {
 public:
  Providers(RouterMetricsSource* router, EgressPolicy egress, const Sandbox* sandbox,
            ContainerImages* images, const Cgroups* cgroups)
      : router_(router),
        egress_(std::move(egress)),
        sandbox_(sandbox),
        images_(images),
        cgroups_(cgroups) {}

  Result<Value> Measure(const model::Metric& metric, const MeasureContext& ctx) override {
    const model::MetricProvider& p = metric.provider;
    switch (p.kind) {
      case model::MetricProvider::Kind::kRouter:
        return MeasureRouter(p, ctx);
      case model::MetricProvider::Kind::kPrometheus:
        return MeasurePrometheus(p, ctx);
      case model::MetricProvider::Kind::kWeb:
        return MeasureWeb(p, ctx);
      case model::MetricProvider::Kind::kJob:
        return MeasureJob(p, ctx);
      case model::MetricProvider::Kind::kKayenta:
        return MeasureKayenta(metric, ctx, ctx.canary_config, router_, this);
    }
    return Fail("unknown provider");
  }

 private:
  Result<Value> MeasureRouter(const model::MetricProvider& p, const MeasureContext& ctx) {
    if (!router_) return Fail("the router provider needs strake's embedded router");
    auto service = ResolveArgs(p.service, ctx.args);
    if (!service) return tl::unexpected(service.error());
    const std::string& hash = p.revision == "stable" ? ctx.stable_hash : ctx.canary_hash;
    if (hash.empty()) return Failf("no {} revision to measure", p.revision);
    auto w = router_->Window(ctx.ns, *service, hash, p.window);
    if (!w) return tl::unexpected(w.error());
    if (w->requests == 0) {
      return Failf("no requests to {} revision {} of service {} in the last {}s", p.revision, hash,
                   *service, p.window.count() / 1000);
    }
    double value = RouterMetricValue(p.router_metric, *w);
    if (!p.baseline) return Value(value);
    auto baseline = MeasureBaseline(p, ctx, *service);
    if (!baseline) return tl::unexpected(baseline.error());
    return Value{{"value", value}, {"baseline", *baseline}};
  }

  // The metric of the baseline's revision in each window of its span, as
  // {mean, stddev (sample), windows, revision}; windows with no request are
  // left out, and fewer than two values is an error.
  Result<Value> MeasureBaseline(const model::MetricProvider& p, const MeasureContext& ctx,
                                const std::string& service) {
    const std::string& rev = p.baseline->revision;
    const std::string& hash = rev == "stable" ? ctx.stable_hash : ctx.canary_hash;
    if (hash.empty()) return Failf("baseline: no {} revision to measure", rev);
    auto series =
        router_->Series(ctx.ns, service, hash, model::Millis(0), p.baseline->span, p.window);
    if (!series) return tl::unexpected(series.error().Wrap("baseline"));
    std::vector<double> values;
    for (const auto& w : *series) {
      if (w.requests > 0) values.push_back(RouterMetricValue(p.router_metric, w));
    }
    if (values.size() < 2) {
      return Failf(
          "baseline: {} of the {} revision's {}s windows in the last {}s had requests; two are "
          "needed",
          values.size(), rev, p.window.count() / 1000, p.baseline->span.count() / 1000);
    }
    judge::SampleStats stats = judge::StatsOf(values);
    return Value{{"mean", stats.mean},
                 {"stddev", stats.std},
                 {"windows", values.size()},
                 {"revision", hash}};
  }

  // https:// addresses: the server's certificate checked against the system's CAs.
  // One call to a provider through libcurl (issue 17): the system's CA
  // store, HTTPS_PROXY and NO_PROXY as curl reads them, the server's
  // egress policy at every connect; no redirect is followed (one is an
  // answer like any other, as before). An answer over 16 MiB fails.
  Result<http::Response> Call(std::string method, std::string url, Headers headers,
                              std::string body, std::chrono::seconds timeout) const {
    curl::Request req;
    req.method = std::move(method);
    req.url = std::move(url);
    req.headers = std::move(headers);
    req.body = std::move(body);
    req.timeout = timeout;
    req.max_body = kMaxAnswer;
    return curl::Send(req, egress_);
  }

  // `address` (a provider's base URL) with `path_and_query` after its path.
  static std::string Under(const std::string& address, const std::string& path_and_query) {
    std::string base = address;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + path_and_query;
  }

  // Prometheus' own error (errorType and error), bounded; nothing else of
  // the body is shown.
  static Error PrometheusError(const std::string& address, int status, const Value& body) {
    auto field = [&](const char* name) {
      const auto it = body.find(name);
      if (it == body.end() || !it->is_string()) return std::string();
      std::string s = it->get<std::string>();
      return s.size() > kMaxEchoedError ? s.substr(0, kMaxEchoedError) + "..." : s;
    };
    std::string type = field("errorType");
    std::string error = field("error");
    if (error.empty()) return Error{fmt::format("prometheus {}: HTTP {}", address, status)};
    return Error{
        fmt::format("prometheus {}: {}{}", address, type.empty() ? "" : type + ": ", error)};
  }

  // The provider's headers, {{args.x}} in their values resolved.
  static Result<Headers> HeadersOf(const model::MetricProvider& p, const MeasureContext& ctx) {
    Headers out;
    for (const auto& [k, v] : p.headers) {
      auto value = ResolveArgs(v, ctx.args);
      if (!value) return tl::unexpected(value.error());
      out.emplace_back(k, *value);
    }
    return out;
  }

  Result<Value> MeasurePrometheus(const model::MetricProvider& p, const MeasureContext& ctx) {
    auto query = ResolveArgs(p.query, ctx.args);
    if (!query) return tl::unexpected(query.error());
    auto address = ResolveArgs(p.address, ctx.args);
    if (!address) return tl::unexpected(address.error());
    STRAKE_TRY(ParseHttpUrl(*address));  // http or https, a host: said before anything is sent
    STRAKE_TRY_ASSIGN(headers, HeadersOf(p, ctx));
    auto resp = Call("GET", Under(*address, "/api/v1/query?query=" + http::UrlEncode(*query)),
                     std::move(headers), "", std::chrono::seconds(p.timeout_seconds));
    if (!resp) return tl::unexpected(resp.error().Wrap("prometheus"));
    auto body = Value::parse(resp->body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return Failf("prometheus {}: HTTP {}: not a JSON answer", *address, resp->status);
    }
    if (body.value("status", "") != "success")
      return tl::unexpected(PrometheusError(*address, resp->status, body));
    const Value& data = body["data"];
    std::string type = data.value("resultType", "");
    if (type == "vector") {
      Value out = Value::array();
      for (const auto& sample : data["result"]) out.push_back(ParseSample(sample["value"][1]));
      return out;
    }
    if (type == "scalar") return Value(ParseSample(data["result"][1]));
    return Failf("prometheus {}: result type {} is not supported (vector and scalar are)", *address,
                 type);
  }

  Result<Value> MeasureWeb(const model::MetricProvider& p, const MeasureContext& ctx) {
    auto address = ResolveArgs(p.url, ctx.args);
    if (!address) return tl::unexpected(address.error());
    STRAKE_TRY(ParseHttpUrl(*address));
    STRAKE_TRY_ASSIGN(headers, HeadersOf(p, ctx));
    auto body = ResolveArgs(p.body, ctx.args);
    if (!body) return tl::unexpected(body.error());
    auto resp = Call(p.method.empty() ? "GET" : p.method, *address, std::move(headers), *body,
                     std::chrono::seconds(p.timeout_seconds));
    if (!resp) return tl::unexpected(resp.error().Wrap("web"));
    if (resp->status < 200 || resp->status >= 300)
      return Failf("web {}: HTTP {}", *address, resp->status);
    // The answer must be JSON, as Argo's web provider requires; a body that
    // is not is never shown (it could be anything the URL reaches).
    auto doc = Value::parse(resp->body, nullptr, false);
    if (doc.is_discarded()) {
      return Failf("web {}: the answer ({} bytes, {}) is not JSON", *address, resp->body.size(),
                   resp->HeaderValue("Content-Type").empty()
                       ? "no Content-Type"
                       : Quote(resp->HeaderValue("Content-Type").substr(0, 64)));
    }
    if (p.json_path.empty()) return doc;
    return JsonPath(doc, p.json_path);
  }

  // Waits for a job's process until it exits (an exit code), the deadline
  // passes or the run is cancelled (errors; the caller kills it).
  static Result<WaitResult> WaitJob(Process& proc, std::chrono::steady_clock::time_point deadline,
                                    const std::atomic<bool>* cancelled) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Fail("past its activeDeadlineSeconds");
      auto w = WaitProcess(proc, std::min(left, std::chrono::milliseconds(100)));
      if (w && w->outcome == WaitOutcome::kExited) return *w;
      if (!w || w->outcome != WaitOutcome::kTimedOut) return Fail("its process was lost");
      if (cancelled && cancelled->load()) return Fail("stopped: the run was terminated or deleted");
    }
  }

  // The job's image: at once when it is here, else when the pull that
  // Get started ends (it may fail), unless the deadline passes or the run
  // is cancelled first.
  Result<RunnableImage> AwaitImage(const model::Container& c, const MeasureContext& ctx,
                                   std::chrono::steady_clock::time_point deadline) const {
    struct Pulled {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
    };
    auto pulled = std::make_shared<Pulled>();
    for (;;) {
      auto got = images_->Get(c.image, c.image_pull_policy, false, ctx.pull_secrets, [pulled] {
        std::lock_guard<std::mutex> lock(pulled->mu);
        pulled->done = true;
        pulled->cv.notify_all();
      });
      if (!got) return Failf("ErrImagePull: {}: {}", c.image, got.error().message);
      if (*got) return std::move(**got);
      std::unique_lock<std::mutex> lock(pulled->mu);
      while (!pulled->done) {
        if (std::chrono::steady_clock::now() >= deadline)
          return Failf("past its activeDeadlineSeconds while pulling image {}", c.image);
        if (ctx.cancelled && ctx.cancelled->load())
          return Fail("stopped: the run was terminated or deleted");
        pulled->cv.wait_for(lock, std::chrono::milliseconds(100));
      }
      pulled->done = false;
    }
  }

  // The job's container's environment as it declares it (valueFrom read by
  // the reconciler; an optional key that is missing is left out).
  static Result<std::vector<std::string>> JobEnv(const model::Container& job,
                                                 const MeasureContext& ctx) {
    std::vector<std::string> env;
    for (const auto& e : job.env) {
      if (e.config_map_key_ref || e.secret_key_ref) {
        auto it = ctx.env_from.find(e.name);
        if (it != ctx.env_from.end()) env.push_back(fmt::format("{}={}", e.name, it->second));
        continue;
      }
      auto v = ResolveArgs(e.value, ctx.args);
      if (!v) return tl::unexpected(v.error());
      env.push_back(fmt::format("{}={}", e.name, *v));
    }
    return env;
  }

  // The job's container with the run's args in its image, command, args
  // and working directory, as Argo templates the whole metric.
  static Result<model::Container> ResolvedJob(const model::Container& c,
                                              const std::map<std::string, std::string>& args) {
    model::Container out = c;
    for (std::string* text : {&out.image, &out.working_dir}) {
      STRAKE_TRY_ASSIGN(v, ResolveArgs(*text, args));
      *text = std::move(v);
    }
    for (auto* list : {&out.command, &out.args}) {
      for (auto& text : *list) {
        STRAKE_TRY_ASSIGN(v, ResolveArgs(text, args));
        text = std::move(v);
      }
    }
    return out;
  }

  static constexpr char kOomNote[] =
      "strake: OOMKilled: the job's container ran out of memory at its resources.limits\n";

  Result<Value> MeasureJob(const model::MetricProvider& p, const MeasureContext& ctx) const {
    // activeDeadlineSeconds covers the pull and every attempt, as a Job's does.
    auto limit =
        std::chrono::seconds(p.job_active_deadline_seconds > 0 ? p.job_active_deadline_seconds
                                                               : kDefaultJobDeadlineSeconds);
    auto deadline = std::chrono::steady_clock::now() + limit;
    STRAKE_TRY_ASSIGN(own_env, JobEnv(p.job, ctx));
    auto resolved = ResolvedJob(p.job, ctx.args);
    if (!resolved) return tl::unexpected(resolved.error().Wrap("job"));
    const model::Container& job = *resolved;
    SpawnOptions o;
    std::optional<ContainerRun> in_image;
    if (images_ && !images_->OnHost(job.image)) {
      auto image = AwaitImage(job, ctx, deadline);
      if (!image) return tl::unexpected(image.error().Wrap("job"));
      auto run = ContainerFor(*image, job.command, job.args, own_env, job.working_dir);
      if (!run) return Failf("job: image {}: {}", job.image, run.error().message);
      in_image = std::move(*run);
      o.argv = in_image->argv;
      o.env = in_image->env;
      o.container = &in_image->spec;  // the container is its sandbox
    } else {
      o.sandbox = sandbox_;
      o.argv = job.command;
      o.argv.insert(o.argv.end(), job.args.begin(), job.args.end());
      if (o.argv.empty()) return Fail("job: the container has no command");
      o.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"};
      o.env.insert(o.env.end(), own_env.begin(), own_env.end());
      o.cwd = job.working_dir;
    }
    // The output goes to the log masked with the namespace's Secret values
    // (the job's env or args may hold any of them), as a Job's does.
    ProcessLog log = ProcessLog::Open(ctx.log_path, ctx.secrets);
    o.stdout_fd = o.stderr_fd = log.write_fd();
    // Each attempt's resources.limits in a cgroup of its own while it runs.
    struct Limited {
      std::optional<Cgroup> cgroup;
      ~Limited() {
        if (cgroup) cgroup->Remove();
      }
    };
    for (int attempt = 0; attempt <= p.job_backoff_limit; ++attempt) {
      Limited limited;
      if (cgroups_ && !job.resources.empty()) {
        auto made = cgroups_->Create("analysis-" + NewUid(), job.resources);
        if (!made) return Failf("job: resources: {}", made.error().message);
        limited.cgroup = std::move(*made);
        o.cgroup_fds = limited.cgroup->join_fds();
      }
      auto proc = Spawn(o);
      if (!proc) return Failf("job: {}", proc.error().message);
      auto w = WaitJob(*proc, deadline, ctx.cancelled.get());
      if (!w) {
        KillAndReap(*proc);
        return tl::unexpected(w.error().Wrap("job"));
      }
      if (w->exit_code == 0) return Value(true);
      if (limited.cgroup && limited.cgroup->OomKilled()) {
        // Said where the job's output is, as a Pod's OOMKilled is.
        (void)!::write(log.write_fd(), kOomNote, sizeof kOomNote - 1);
      }
    }
    return Value(false);
  }

  // A range query, as Kayenta's Prometheus metrics service asks it: one
  // series, its points as (ms, value).
  Result<std::vector<std::pair<int64_t, double>>> Range(const std::string& base_url,
                                                        const std::string& query, int64_t start_ms,
                                                        int64_t end_ms,
                                                        int64_t step_seconds) override {
    STRAKE_TRY(ParseHttpUrl(base_url));
    auto resp = Call(
        "GET",
        Under(base_url,
              fmt::format("/api/v1/query_range?query={}&start={:.3f}&end={:.3f}&step={}",
                          http::UrlEncode(query), static_cast<double>(start_ms) / 1000,
                          static_cast<double>(end_ms) / 1000, std::max<int64_t>(1, step_seconds))),
        {}, "", std::chrono::seconds(30));
    if (!resp) return tl::unexpected(resp.error().Wrap("prometheus"));
    auto body = Value::parse(resp->body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return Failf("prometheus {}: HTTP {}: not a JSON answer", base_url, resp->status);
    if (body.value("status", "") != "success")
      return tl::unexpected(PrometheusError(base_url, resp->status, body));
    const Value& data = body["data"];
    if (!data.is_object() || data.value("resultType", "") != "matrix" || !data.contains("result") ||
        !data["result"].is_array())
      return Failf("prometheus {}: a range query answered no matrix", base_url);
    const Value& result = data["result"];
    std::vector<std::pair<int64_t, double>> points;
    if (result.empty()) return points;  // no data: every value NaN
    if (result.size() > 1)
      return Failf(
          "prometheus {}: the query returned {} series; Kayenta judges one per metric: "
          "aggregate it (Kayenta's default query is avg(...))",
          base_url, result.size());
    const Value& values = result[0].contains("values") ? result[0]["values"] : Value::array();
    for (const auto& v : values) {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number()) continue;
      points.emplace_back(std::llround(v[0].get<double>() * 1000), ParseSample(v[1]));
    }
    return points;
  }

  RouterMetricsSource* router_;
  EgressPolicy egress_;
  const Sandbox* sandbox_;
  ContainerImages* images_;
  const Cgroups* cgroups_;  // the job's resources.limits; null: not applied
};

}  // namespace

std::unique_ptr<MetricProviders> MakeProviders(RouterMetricsSource* router, EgressPolicy egress,
                                               const Sandbox* sandbox, ContainerImages* images,
                                               const Cgroups* cgroups) {
  return std::make_unique<Providers>(router, std::move(egress), sandbox, images, cgroups);
}

// ---- the reconciler -------------------------------------------------------------------

namespace {

// A finished measurement judged against the metric's conditions.
Measurement Judge(const model::Metric& m, Measurements::Done done, int64_t finished_ms) {
  Measurement meas;
  meas.started_ms = done.started_ms;
  if (done.value) {
    Measurement judged = AssessValue(m, *done.value);
    meas.phase = judged.phase;
    meas.value = judged.value;
    meas.message = judged.message;
  } else {
    meas.phase = "Error";
    meas.message = done.value.error().message;
  }
  meas.finished_ms = finished_ms;
  return meas;
}

}  // namespace

// ---- measurements in flight ----------------------------------------------------------

namespace {

// The measuring thread's one catch: a provider that throws (a JSON library
// meeting an answer of an unexpected shape) makes an Error measurement, not
// the end of the server.
Result<Value> MeasureGuarded(MetricProviders& providers, const model::Metric& metric,
                             const MeasureContext& ctx) {
  try {
    return providers.Measure(metric, ctx);
  } catch (const std::exception& e) {
    return Failf("metric {}: the provider failed: {}", metric.name, e.what());
  }
}

}  // namespace

Measurements::Measurements(MetricProviders& providers, Spawn spawn)
    : providers_(providers), spawn_(std::move(spawn)) {
  if (!spawn_) spawn_ = [](std::function<void()> task) { std::thread(std::move(task)).detach(); };
}

Measurements::~Measurements() {
  std::unique_lock<std::mutex> lock(mu_);
  for (auto& [key, slot] : slots_) {
    if (slot.cancelled) slot.cancelled->store(true);
  }
  idle_.wait(lock, [this] { return running_ == 0; });
}

void Measurements::SetWake(std::function<void(const std::string&)> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  wake_ = std::move(wake);
}

std::optional<Measurements::Done> Measurements::Take(const std::string& key,
                                                     const model::Metric& metric,
                                                     MeasureContext ctx, int64_t now_ms) {
  std::pair<std::string, std::string> id{key, metric.name};
  {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[id];
    if (slot.done) {
      Done d = std::move(*slot.done);
      slots_.erase(id);
      return d;
    }
    if (slot.running) return std::nullopt;
    slot.running = true;
    slot.cancelled = std::make_shared<std::atomic<bool>>(false);
    ctx.cancelled = slot.cancelled;
    ++running_;
  }
  spawn_([this, id, metric, ctx = std::move(ctx), now_ms] {
    Result<Value> value = MeasureGuarded(providers_, metric, ctx);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(id);
    // A cancelled measurement's result is dropped (its slot may be a new one's).
    if (it != slots_.end() && it->second.cancelled == ctx.cancelled) {
      it->second.running = false;
      it->second.done = Done{std::move(value), now_ms};
      // Under the lock: SetWake(nullptr) returns only once no wake is running.
      if (wake_) wake_(id.first);
    }
    if (--running_ == 0) idle_.notify_all();
  });
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find(id);
  if (it == slots_.end() || !it->second.done) return std::nullopt;
  Done d = std::move(*it->second.done);
  slots_.erase(it);
  return d;
}

void Measurements::Cancel(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = slots_.begin(); it != slots_.end();) {
    if (it->first.first != key) {
      ++it;
      continue;
    }
    if (it->second.cancelled) it->second.cancelled->store(true);
    it = slots_.erase(it);
  }
}

Result<AnalysisRunReconciler::Inputs> AnalysisRunReconciler::Prepare(const store::Resource& run,
                                                                     std::string* problem) {
  Inputs in;
  auto spec = model::DecodeAnalysisSpec(run.object.value("spec", Json::object()));
  if (!spec) {
    *problem = spec.error().message;
    return in;
  }
  in.spec = std::move(*spec);
  bool has_secret = false, has_job = false;
  for (const auto& a : in.spec.args) has_secret |= !a.value && a.secret_key_ref;
  for (const auto& m : in.spec.metrics)
    has_job |= m.provider.kind == model::MetricProvider::Kind::kJob;
  // Secret args are masked wherever the run writes; a job may print any
  // Secret of its namespace, as a Job's log is masked.
  if (has_secret || has_job) {
    STRAKE_TRY_ASSIGN(values, SecretValues(store_, run.key.ns));
    in.secrets = std::move(values);
  }
  for (const auto& a : in.spec.args) {
    if (!a.value && a.secret_key_ref) {
      STRAKE_TRY_ASSIGN(value, ReadKeyRef(store_, run.key.ns, *a.secret_key_ref, true));
      if (!value) {
        *problem = fmt::format("argument {}: Secret {} has no key {}", Quote(a.name),
                               Quote(a.secret_key_ref->name), Quote(a.secret_key_ref->key));
        return in;
      }
      if (!value->empty() && value->size() < kMinSecretLength) {
        in.warnings.push_back(fmt::format(
            "warning: argument {} (Secret {} key {}) is shorter than {} characters and cannot "
            "be masked in what the run writes",
            Quote(a.name), Quote(a.secret_key_ref->name), Quote(a.secret_key_ref->key),
            kMinSecretLength));
      }
      in.args[a.name] = *value;
      continue;
    }
    if (!a.value) {
      *problem = fmt::format("argument {} has no value", Quote(a.name));
      return in;
    }
    in.args[a.name] = *a.value;
  }
  for (auto& m : in.spec.metrics) {
    if (m.arg_fields.empty()) continue;
    std::map<std::string, std::string> substituted;
    for (const auto& [field, text] : m.arg_fields) {
      auto v = ResolveArgs(text, in.args);
      if (!v) {
        *problem = fmt::format("metric {}: {}: {}", m.name, field, v.error().message);
        return in;
      }
      substituted[field] = *v;
    }
    auto resolved = model::ResolveMetricFields(m, substituted);
    if (!resolved) {
      SecretMasker masker;
      for (const auto& secret : in.secrets) (void)masker.Add(secret);
      *problem = masker.Mask(fmt::format("metric {}: {}", m.name, resolved.error().message));
      return in;
    }
    m = std::move(*resolved);
  }
  return in;
}

std::optional<Measurement> AnalysisRunReconciler::MeasureDue(const std::string& key,
                                                             const model::Metric& m,
                                                             MeasureContext ctx, int64_t now,
                                                             const SecretMasker& masker) {
  ctx.env_from.clear();
  if (m.provider.kind == model::MetricProvider::Kind::kJob) {
    PodFields fields{"", ctx.ns, "", "", {}, {}};
    auto env = ResolveEnv(store_, ctx.ns, m.provider.job, &fields);
    // A missing key is the measurement's error, as for a pod that cannot start.
    if (!env)
      return Measurement{"Error", "", fmt::format("job: {}", env.error().message), now, now};
    for (auto& [var, value] : *env) ctx.env_from[var] = std::move(value);
    auto secrets = PullSecrets(store_, ctx.ns, m.provider.job_pull_secrets);
    if (!secrets) return Measurement{"Error", "", secrets.error().message, now, now};
    ctx.pull_secrets = std::move(*secrets);
  }
  ctx.now_ms = now;
  if (m.provider.kind == model::MetricProvider::Kind::kKayenta) {
    model::KeyRef ref{m.provider.canary_config_name, kCanaryConfigKey, false};
    auto config = ReadKeyRef(store_, ctx.ns, ref, false);
    if (!config) return Measurement{"Error", "", config.error().message, now, now};
    if (!*config)
      return Measurement{"Error", "",
                         fmt::format("kayenta: no canary config: ConfigMap {} has no key {}",
                                     Quote(ref.name), Quote(kCanaryConfigKey)),
                         now, now};
    ctx.canary_config = std::move(**config);
    // Kayenta's own configuration (its Prometheus accounts), when there is one.
    auto accounts = ReadKeyRef(store_, ctx.ns,
                               model::KeyRef{kKayentaConfigMap, kKayentaConfigKey, true}, false);
    if (!accounts) return Measurement{"Error", "", accounts.error().message, now, now};
    ctx.kayenta_config = *accounts ? std::move(**accounts) : std::string();
  }
  // Measured off this worker: nothing is due again until it is done, and
  // when it is, the run is woken.
  auto done = measurements_.Take(key, m, std::move(ctx), now);
  if (!done) return std::nullopt;
  Measurement judged = Judge(m, std::move(*done), UnixMillis(clock_.Now()));
  // A provider's error or answer may carry a secret argument (a URL, a
  // header echoed back): what is stored never does.
  judged.value = masker.Mask(judged.value);
  judged.message = masker.Mask(judged.message);
  return judged;
}

AnalysisRunReconciler::AnalysisRunReconciler(store::Store& store, MetricProviders& providers,
                                             const Clock& clock, std::string log_dir,
                                             Measurements::Spawn spawn)
    : store_(store),
      clock_(clock),
      log_dir_(std::move(log_dir)),
      measurements_(providers, std::move(spawn)) {}

namespace {

// Why a run ended Failed, Error or Inconclusive: the first metric in that
// phase, its message or its last value and conditions ("" otherwise).
// Argo's runSummary (dryRunSummary): the metrics (the dry-run ones) by
// phase; nullopt when there is none.
std::optional<Json> RunSummary(const std::vector<MetricResult>& results, bool dry_run) {
  Json sum = {{"count", 0}, {"successful", 0}, {"failed", 0}, {"inconclusive", 0}, {"error", 0}};
  bool any = false;
  for (const auto& r : results) {
    if (r.dry_run != dry_run) continue;
    any = true;
    std::string field = ToLower(r.phase);
    if (!sum.contains(field)) continue;
    sum[field] = sum[field].get<int>() + 1;
    if (field != "error") sum["count"] = sum["count"].get<int>() + 1;
  }
  return any ? std::optional<Json>(sum) : std::nullopt;
}

std::string EndMessage(const model::AnalysisTemplateSpec& spec,
                       const std::vector<MetricResult>& results, const std::string& phase) {
  if (!IsTerminalPhase(phase) || phase == "Successful") return "";
  for (size_t i = 0; i < results.size(); ++i) {
    const MetricResult& r = results[i];
    if (r.phase != phase || r.dry_run) continue;
    std::string detail = r.message;
    if (detail.empty() && !r.measurements.empty()) {
      const model::Metric& m = spec.metrics[i];
      detail = fmt::format("result {}", r.measurements.back().value);
      if (!m.success_condition.empty())
        detail += fmt::format(", successCondition {}", m.success_condition);
      if (!m.failure_condition.empty())
        detail += fmt::format(", failureCondition {}", m.failure_condition);
    }
    return fmt::format("metric {} {}{}", r.name, r.phase == "Failed" ? "failed" : r.phase,
                       detail.empty() ? "" : ": " + detail);
  }
  return "";
}

// Each metric's result so far (from the run's status) with its dryRun flag,
// and how many measurements each keeps.
struct SoFar {
  std::vector<MetricResult> results;
  std::vector<size_t> keep;
};

// A dryRun or measurementRetention rule that matches no metric is an error.
Result<SoFar> ResultsSoFar(const model::AnalysisTemplateSpec& spec, const Json& status) {
  STRAKE_TRY_ASSIGN(dry, DryRunMetrics(spec.dry_run, spec.metrics));
  STRAKE_TRY_ASSIGN(keep, RetainedMeasurements(spec.measurement_retention, spec.metrics));
  std::vector<MetricResult> results;
  const Json& prev = status.value("metricResults", Json::array());
  for (size_t i = 0; i < spec.metrics.size(); ++i) {
    MetricResult r;
    r.name = spec.metrics[i].name;
    for (const auto& p : prev) {
      if (p.value("name", "") == r.name) r = MetricResult::FromJson(p);
    }
    r.dry_run = dry[i];
    results.push_back(std::move(r));
  }
  return SoFar{std::move(results), std::move(keep)};
}

}  // namespace

Result<controller::ReconcileResult> AnalysisRunReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  store::Key k{"AnalysisRun", ns, name};
  auto got = store_.Get(k);
  if (!got) return tl::unexpected(got.error());
  if (!*got) {
    measurements_.Cancel(key);  // deleted: its jobs stop
    return controller::ReconcileResult{};
  }
  store::Resource& run = **got;
  Json status = run.status.is_object() ? run.status : Json::object();
  std::string phase = status.value("phase", "");
  if (IsTerminalPhase(phase)) {
    measurements_.Cancel(key);
    return controller::ReconcileResult{};
  }
  int64_t now = UnixMillis(clock_.Now());
  auto write = [&](const std::string& reason, const std::string& message) -> Status {
    status["phase"] = phase;
    if (!message.empty()) status["message"] = message;
    auto w = store_.UpdateStatus(k, status, run.resource_version, reason, message);
    if (!w) return tl::unexpected(w.error());
    run.resource_version = w->resource_version;
    return Ok();
  };

  std::string problem;
  STRAKE_TRY_ASSIGN(inputs, Prepare(run, &problem));
  if (!problem.empty()) {
    phase = "Error";
    STRAKE_TRY(write("Error", fmt::format("analysisrun {}: {}", k.name, problem)));
    return controller::ReconcileResult{};
  }
  const model::AnalysisTemplateSpec* spec = &inputs.spec;
  SecretMasker masker;
  for (const auto& secret : inputs.secrets) (void)masker.Add(secret);

  int64_t started = status.value("startedAtMs", int64_t{0});
  if (started == 0) {
    started = now;
    status["startedAtMs"] = now;
    status["startedAt"] = FormatRfc3339(clock_.Now());
    if (!inputs.warnings.empty()) {
      status["phase"] = phase = phase.empty() ? "Pending" : phase;
      STRAKE_TRY(write("Warning", Join(inputs.warnings, "; ")));
    }
  }
  auto so_far = ResultsSoFar(*spec, status);
  if (!so_far) {
    phase = "Error";
    STRAKE_TRY(write("Error", fmt::format("analysisrun {}: {}", k.name, so_far.error().message)));
    return controller::ReconcileResult{};
  }
  std::vector<MetricResult>& results = so_far->results;
  const std::vector<size_t>& keep = so_far->keep;

  const Json& meta = run.object["metadata"];
  Json annotations = meta.value("annotations", Json::object());
  MeasureContext ctx;
  ctx.ns = k.ns;
  ctx.args = inputs.args;
  ctx.secrets = inputs.secrets;
  ctx.canary_hash = annotations.value("strake.dev/canary-hash", "");
  ctx.stable_hash = annotations.value("strake.dev/stable-hash", "");
  ctx.run_started_ms = started;

  bool terminate = run.object["spec"].value("terminate", false);
  if (terminate) measurements_.Cancel(key);
  std::optional<int64_t> next_due;
  if (!terminate) {
    for (size_t i = 0; i < spec->metrics.size(); ++i) {
      const model::Metric& m = spec->metrics[i];
      MetricResult& r = results[i];
      auto due = NextMeasurement(m, r, started);
      if (!due) continue;
      if (*due <= now) {
        ctx.log_path = PathJoin(log_dir_, fmt::format("{}.{}.{}.log", k.ns, k.name, m.name));
        ctx.look = r.count + 1;
        ctx.looks = m.count;
        auto measured = MeasureDue(key, m, ctx, now, masker);
        if (!measured) continue;
        Record(m, r, std::move(*measured), keep[i]);
        due = NextMeasurement(m, r, started);
      }
      if (due && (!next_due || *due < *next_due)) next_due = due;
    }
  }
  Json out = Json::array();
  for (const auto& r : results) out.push_back(r.ToJson());
  status["metricResults"] = out;
  for (bool dry_run : {false, true}) {
    if (auto sum = RunSummary(results, dry_run))
      status[dry_run ? "dryRunSummary" : "runSummary"] = *sum;
  }
  std::string new_phase = RunPhase(results);
  std::string message;
  if (terminate && !IsTerminalPhase(new_phase)) {
    new_phase = "Successful";
    message = "terminated";
  }
  if (message.empty()) message = EndMessage(*spec, results, new_phase);
  bool changed = new_phase != phase;
  phase = new_phase;
  Json before = run.status;
  status["phase"] = phase;
  if (!message.empty()) status["message"] = message;
  // A round that measured nothing writes nothing: a write is a change, and
  // a change brings the run back here.
  if (status != before) STRAKE_TRY(write(changed ? phase : "Measured", message));
  controller::ReconcileResult rr;
  if (next_due && !IsTerminalPhase(phase)) {
    rr.requeue_after = std::chrono::milliseconds(std::max<int64_t>(1, *next_due - now));
  }
  return rr;
}

}  // namespace strake::rollout
