#include "model/workloads.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <iterator>
#include <set>

#include "base/cron.h"
#include "model/decoders.h"

namespace strake::model {

int IntOrPercent::Resolve(int total, bool round_up) const {
  if (!percent) return value;
  double v = static_cast<double>(total) * value / 100.0;
  return static_cast<int>(round_up ? std::ceil(v) : std::floor(v));
}

Result<int64_t> ParseQuantity(std::string_view s, int64_t per_one) {
  const std::string text(s);
  auto bad = [&] {
    return Failf(
        "\"{}\" is not a quantity (a number with an optional suffix: m, k, M, G, Ki, "
        "Mi, Gi, ..., or an exponent: 1e3)",
        text);
  };
  size_t i = 0;
  if (i < s.size() && s[i] == '+') ++i;
  if (i < s.size() && s[i] == '-') return Failf("\"{}\" must not be negative", text);
  // The digits as an integer and a power of ten: exact for what fits.
  long double mantissa = 0;
  int exp10 = 0, digits = 0;
  bool point = false;
  for (; i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.'); ++i) {
    if (s[i] == '.') {
      if (point) return bad();
      point = true;
      continue;
    }
    mantissa = mantissa * 10 + (s[i] - '0');
    ++digits;
    if (point) --exp10;
  }
  if (digits == 0) return bad();
  std::string_view suffix = s.substr(i);
  long double factor = 1;
  static const std::pair<std::string_view, int> kBinary[] = {{"Ki", 10}, {"Mi", 20}, {"Gi", 30},
                                                             {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  static const std::pair<std::string_view, int> kDecimal[] = {
      {"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
      {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  bool known = false;
  for (const auto& [name, shift] : kBinary) {
    if (suffix == name) factor = std::ldexp(1.0L, shift), known = true;
  }
  for (const auto& [name, e] : kDecimal) {
    if (suffix == name) exp10 += e, known = true;
  }
  if (!known && suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int e = 0;
    const char* from = suffix.data() + (suffix.size() > 2 && suffix[1] == '+' ? 2 : 1);
    auto [end, ec] = std::from_chars(from, suffix.data() + suffix.size(), e);
    if (ec != std::errc() || end != suffix.data() + suffix.size()) return bad();
    exp10 += e;
    known = true;
  }
  if (!known) return bad();
  long double v = mantissa * factor * std::pow(10.0L, exp10) * static_cast<long double>(per_one);
  if (!std::isfinite(v) || v > 9.0e18L) return Failf("\"{}\" is too large", text);
  return static_cast<int64_t>(std::ceil(v - 1e-9L));
}

CgroupLimits DecodeResources(Ctx& ctx, const Node& n, const std::string& path) {
  CgroupLimits out;
  Fields f(ctx, n, path);
  auto each = [&](const char* key, auto&& take) {
    const Node* m = f.Get(key);
    if (!m || m->IsNull()) return;
    if (!m->IsMap()) {
      ctx.Error(*m, f.Sub(key), fmt::format("expected a mapping, found a {}", m->TypeName()));
      return;
    }
    for (const auto& [k, v] : m->map) {
      std::string at = f.Sub(key) + "." + k.scalar;
      if (!take(k.scalar, v, at)) {
        ctx.Warning(v, at,
                    fmt::format("\"{}\" is ignored: only cpu and memory limits and cpu "
                                "requests are applied on this machine",
                                k.scalar));
      }
    }
  };
  auto quantity = [&](const Node& v, const std::string& at, int64_t per_one) -> int64_t {
    auto q = ParseQuantity(ctx.Str(v, at), per_one);
    if (!q) ctx.Error(v, at, q.error().message);
    return q.value_or(0);
  };
  each("limits", [&](const std::string& k, const Node& v, const std::string& at) {
    if (k == "cpu") out.cpu_limit_millis = quantity(v, at, 1000);
    if (k == "memory") out.memory_bytes = quantity(v, at, 1);
    return k == "cpu" || k == "memory";
  });
  each("requests", [&](const std::string& k, const Node& v, const std::string& at) {
    if (k == "cpu") {
      out.cpu_request_millis = quantity(v, at, 1000);
      if (out.cpu_limit_millis > 0 && out.cpu_request_millis > out.cpu_limit_millis) {
        ctx.Error(v, at, "must be less than or equal to the cpu limit");
      }
    }
    return k == "cpu";
  });
  f.Ignore({"claims"});
  return out;
}

namespace {

const std::set<std::string> kIgnoredPodSpec = {"serviceAccountName",
                                               "nodeSelector",
                                               "affinity",
                                               "tolerations",
                                               "securityContext",
                                               "initContainers",
                                               "volumes",
                                               "restartPolicy",
                                               "dnsPolicy",
                                               "priorityClassName",
                                               "topologySpreadConstraints",
                                               "ephemeralContainers",
                                               "automountServiceAccountToken",
                                               "enableServiceLinks",
                                               "hostname",
                                               "subdomain",
                                               "nodeName",
                                               "schedulerName",
                                               "hostAliases",
                                               "dnsConfig",
                                               "preemptionPolicy",
                                               "runtimeClassName",
                                               "shareProcessNamespace",
                                               "hostNetwork",
                                               "hostPID",
                                               "hostIPC",
                                               "os",
                                               "overhead",
                                               "setHostnameAsFQDN",
                                               "schedulingGates",
                                               "resourceClaims",
                                               "hostUsers",
                                               "activeDeadlineSeconds",
                                               "serviceAccount"};
const std::set<std::string> kIgnoredContainer = {
    "securityContext",          "volumeMounts", "startupProbe", "terminationMessagePath",
    "terminationMessagePolicy", "lifecycle"};

}  // namespace

Probe DecodeProbe(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  Probe p;
  int handlers = 0;
  if (const Node* h = f.Get("httpGet")) {
    ++handlers;
    Fields hf(ctx, *h, f.Sub("httpGet"));
    p.kind = Probe::Kind::kHttpGet;
    if (const Node* v = hf.Get("path")) p.path = ctx.Str(*v, hf.Sub("path"));
    if (const Node* v = hf.Need("port")) p.port = ctx.Str(*v, hf.Sub("port"));
    if (const Node* v = hf.Get("scheme")) {
      if (ctx.Str(*v, hf.Sub("scheme")) != "HTTP") {
        ctx.Error(*v, hf.Sub("scheme"), "not supported: only HTTP probes run on the local target");
      }
    }
    hf.Get("host");
    hf.List("httpHeaders", [&](const Node& item, const std::string& ip) {
      Fields xf(ctx, item, ip);
      p.http_headers.emplace_back(xf.Str("name"), xf.Str("value"));
    });
  }
  if (const Node* t = f.Get("tcpSocket")) {
    ++handlers;
    Fields tf(ctx, *t, f.Sub("tcpSocket"));
    p.kind = Probe::Kind::kTcpSocket;
    if (const Node* v = tf.Need("port")) p.port = ctx.Str(*v, tf.Sub("port"));
    tf.Get("host");
  }
  if (const Node* e = f.Get("exec")) {
    ++handlers;
    Fields ef(ctx, *e, f.Sub("exec"));
    p.kind = Probe::Kind::kExec;
    if (const Node* v = ef.Need("command")) p.command = ctx.StrList(*v, ef.Sub("command"));
  }
  f.NotSupported("grpc", "gRPC probes");
  if (handlers != 1 && f.ok())
    ctx.Error(n, path, "a probe needs exactly one of httpGet, tcpSocket, exec");
  auto num = [&](const char* key, int& out, int min) {
    if (const Node* v = f.Get(key)) out = ctx.Int(*v, f.Sub(key), min, 86400);
  };
  num("initialDelaySeconds", p.initial_delay_seconds, 0);
  num("periodSeconds", p.period_seconds, 1);
  num("timeoutSeconds", p.timeout_seconds, 1);
  num("successThreshold", p.success_threshold, 1);
  num("failureThreshold", p.failure_threshold, 1);
  f.Get("terminationGracePeriodSeconds");
  return p;
}

namespace {

Container DecodeContainer(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  Container c;
  if (const Node* v = f.Need("name")) c.name = ctx.Str(*v, f.Sub("name"));
  c.image = f.Str("image");
  if (const Node* v = f.Get("imagePullPolicy")) {
    c.image_pull_policy = ctx.Str(*v, f.Sub("imagePullPolicy"));
    static const std::vector<std::string> kPolicies = {"Always", "IfNotPresent", "Never"};
    if (std::find(kPolicies.begin(), kPolicies.end(), c.image_pull_policy) == kPolicies.end()) {
      ctx.Error(*v, f.Sub("imagePullPolicy"),
                fmt::format("must be Always, IfNotPresent or Never, found \"{}\"{}",
                            c.image_pull_policy, DidYouMean(c.image_pull_policy, kPolicies)));
    }
  }
  if (const Node* v = f.Get("command")) c.command = ctx.StrList(*v, f.Sub("command"));
  if (const Node* v = f.Get("args")) c.args = ctx.StrList(*v, f.Sub("args"));
  c.env = DecodeEnv(ctx, f.Get("env"), f.Sub("env"), true);
  c.working_dir = f.Str("workingDir");
  f.List("ports", [&](const Node& item, const std::string& p) {
    Fields pf(ctx, item, p);
    ContainerPort cp;
    cp.name = pf.Str("name");
    if (const Node* v = pf.Need("containerPort")) {
      cp.container_port = ctx.Int(*v, pf.Sub("containerPort"), 1, 65535);
    }
    pf.Get("protocol");
    pf.Get("hostPort");
    pf.Get("hostIP");
    c.ports.push_back(cp);
  });
  if (const Node* v = f.Get("readinessProbe"))
    c.readiness = DecodeProbe(ctx, *v, f.Sub("readinessProbe"));
  if (const Node* v = f.Get("livenessProbe"))
    c.liveness = DecodeProbe(ctx, *v, f.Sub("livenessProbe"));
  if (const Node* v = f.Get("resources"))
    c.resources = DecodeResources(ctx, *v, f.Sub("resources"));
  f.Ignore(kIgnoredContainer);
  f.NotSupported("envFrom", "envFrom; list the variables under env");
  f.Get("stdin");
  f.Get("tty");
  return c;
}

}  // namespace

IntOrPercent DecodeIntOrPercent(Ctx& ctx, const Node& n, const std::string& path) {
  IntOrPercent v;
  std::string s = ctx.Str(n, path);
  bool pct = EndsWith(s, "%");
  if (pct) s.pop_back();
  try {
    size_t used = 0;
    int x = std::stoi(s, &used);
    if (used == s.size() && x >= 0 && (!pct || x <= 100)) return IntOrPercent{x, pct};
  } catch (const std::exception&) {
  }
  ctx.Error(n, path,
            fmt::format("expected an integer or a percentage, found {}", Ctx::Describe(n)));
  return v;
}

void DecodePodSpec(Ctx& ctx, const Node& n, const std::string& path, PodTemplate& t,
                   const std::set<std::string>& taken) {
  Fields sf(ctx, n, path);
  if (const Node* cs = sf.Need("containers")) {
    ctx.List(*cs, sf.Sub("containers"), [&](const Node& item, const std::string& p) {
      t.containers.push_back(DecodeContainer(ctx, item, p));
    });
    if (cs->IsSeq() && cs->seq.empty()) ctx.Error(*cs, sf.Sub("containers"), "needs a container");
    if (t.containers.size() > 1) {
      ctx.Warning(*cs, sf.Sub("containers"),
                  "only the first container runs on the local target; the others are ignored");
    }
  }
  t.image_pull_secrets = DecodeImagePullSecrets(ctx, sf);
  if (const Node* v = sf.Get("terminationGracePeriodSeconds")) {
    t.termination_grace_period_seconds =
        ctx.Int(*v, sf.Sub("terminationGracePeriodSeconds"), 0, 86400);
  }
  sf.NotSupported("readinessGates",
                  "readinessGates (pod conditions that a cluster's controllers set; here a "
                  "readinessProbe decides when a replica is ready)");
  std::set<std::string> ignored;
  for (const auto& k : taken) sf.Get(k);
  std::set_difference(kIgnoredPodSpec.begin(), kIgnoredPodSpec.end(), taken.begin(), taken.end(),
                      std::inserter(ignored, ignored.end()));
  sf.Ignore(ignored);
}

std::vector<std::string> DecodeImagePullSecrets(Ctx& ctx, Fields& f) {
  std::vector<std::string> out;
  f.List("imagePullSecrets", [&](const Node& item, const std::string& p) {
    Fields rf(ctx, item, p);
    if (const Node* v = rf.Need("name")) out.push_back(ctx.Str(*v, rf.Sub("name")));
  });
  return out;
}

PodTemplate DecodePodTemplate(Ctx& ctx, const Node& n, const std::string& path,
                              const std::set<std::string>& taken, bool one_pod) {
  Fields f(ctx, n, path);
  PodTemplate t;
  if (const Node* m = f.Get("metadata")) {
    Fields mf(ctx, *m, f.Sub("metadata"));
    if (const Node* v = mf.Get("labels")) t.labels = ctx.StrMap(*v, mf.Sub("labels"));
    if (const Node* v = mf.Get("annotations"))
      t.annotations = ctx.StrMap(*v, mf.Sub("annotations"));
    mf.Get("name");
    mf.Get("creationTimestamp");
  }
  if (const Node* s = f.Need("spec")) DecodePodSpec(ctx, *s, f.Sub("spec"), t, taken);
  // Replicas made from one template share one environment here: none has a
  // name or uid of its own to give.
  for (size_t i = 0; i < t.containers.size() && !one_pod; ++i) {
    for (size_t j = 0; j < t.containers[i].env.size(); ++j) {
      const std::string& fp = t.containers[i].env[j].field_path;
      if (fp != "metadata.name" && fp != "metadata.uid") continue;
      ctx.Error(
          n, fmt::format("{}.spec.containers[{}].env[{}].valueFrom.fieldRef.fieldPath", path, i, j),
          fmt::format("{} is not given to the replicas of a template yet (they share one "
                      "environment); a Pod's or a Job's may read it",
                      fp));
    }
  }
  return t;
}

std::map<std::string, std::string> DecodeSelector(Ctx& ctx, const Node* n,
                                                  const std::string& path) {
  std::map<std::string, std::string> out;
  if (!n) return out;
  Fields f(ctx, *n, path);
  if (const Node* v = f.Get("matchLabels")) out = ctx.StrMap(*v, f.Sub("matchLabels"));
  f.NotSupported("matchExpressions", "matchExpressions; use matchLabels");
  return out;
}

// The selector must select the template's labels, as Kubernetes checks.
void CheckSelector(Ctx& ctx, const Node& at, const std::string& path,
                   const std::map<std::string, std::string>& selector, const PodTemplate& pod) {
  if (selector.empty()) {
    ctx.Error(at, path + ".selector.matchLabels", "required field is missing");
    return;
  }
  for (const auto& [k, v] : selector) {
    auto it = pod.labels.find(k);
    if (it == pod.labels.end() || it->second != v) {
      ctx.Error(at, path + ".template.metadata.labels",
                fmt::format("selector {}={} does not match the template's labels", k, v));
    }
  }
}

namespace {

Deployment DecodeDeploymentNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec) {
  Fields f(ctx, spec, "spec");
  Deployment d;
  d.meta = meta;
  if (const Node* v = f.Get("replicas")) d.replicas = ctx.Int(*v, "spec.replicas", 0, 10000);
  d.selector = DecodeSelector(ctx, f.Get("selector"), "spec.selector");
  if (const Node* t = f.Need("template")) {
    d.pod = DecodePodTemplate(ctx, *t, "spec.template");
    CheckSelector(ctx, spec, "spec", d.selector, d.pod);
  }
  if (const Node* st = f.Get("strategy")) {
    Fields sf(ctx, *st, "spec.strategy");
    std::string type = sf.Str("type");
    d.recreate = type == "Recreate";
    if (!type.empty() && type != "Recreate" && type != "RollingUpdate") {
      ctx.Error(*st, "spec.strategy.type", "must be RollingUpdate or Recreate");
    }
    if (const Node* ru = sf.Get("rollingUpdate")) {
      Fields rf(ctx, *ru, "spec.strategy.rollingUpdate");
      if (const Node* v = rf.Get("maxSurge"))
        d.max_surge = DecodeIntOrPercent(ctx, *v, rf.Sub("maxSurge"));
      if (const Node* v = rf.Get("maxUnavailable")) {
        d.max_unavailable = DecodeIntOrPercent(ctx, *v, rf.Sub("maxUnavailable"));
      }
    }
  }
  if (const Node* v = f.Get("minReadySeconds"))
    d.min_ready_seconds = ctx.Int(*v, "spec.minReadySeconds", 0, 86400);
  if (const Node* v = f.Get("revisionHistoryLimit")) {
    d.revision_history_limit = ctx.Int(*v, "spec.revisionHistoryLimit", 0, 1000);
  }
  f.Ignore({"progressDeadlineSeconds", "paused"}, "is not applied to Deployments yet");
  return d;
}

// `path`: where the Job spec is ("spec", or a CronJob's "spec.jobTemplate.spec").
Job DecodeJobNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec,
                  const std::string& path = "spec") {
  Fields f(ctx, spec, path);
  const std::string pod = path + ".template.spec";
  Job j;
  j.meta = meta;
  if (const Node* t = f.Need("template")) {
    // restartPolicy is the one pod field a Job must set (Never or OnFailure).
    const Node* ps = t->IsMap() ? t->Get("spec") : nullptr;
    const Node* rp = ps && ps->IsMap() ? ps->Get("restartPolicy") : nullptr;
    if (!rp) {
      ctx.Error(*t, pod + ".restartPolicy", "required: Never or OnFailure");
    } else {
      j.restart_policy = ctx.Str(*rp, pod + ".restartPolicy");
      if (j.restart_policy != "Never" && j.restart_policy != "OnFailure") {
        ctx.Error(*rp, pod + ".restartPolicy",
                  fmt::format("{} is not allowed for a Job (Never or OnFailure)",
                              Quote(j.restart_policy)));
      }
    }
    j.pod = DecodePodTemplate(ctx, *t, f.Sub("template"), {"restartPolicy"}, true);
  }
  if (const Node* v = f.Get("backoffLimit"))
    j.backoff_limit = ctx.Int(*v, f.Sub("backoffLimit"), 0, 1000);
  if (const Node* v = f.Get("activeDeadlineSeconds"))
    j.active_deadline_seconds = ctx.Int(*v, f.Sub("activeDeadlineSeconds"), 1, 30 * 86400);
  f.Get("selector");
  f.Get("manualSelector");
  f.Ignore({"completions", "parallelism", "ttlSecondsAfterFinished", "completionMode", "suspend",
            "podFailurePolicy", "backoffLimitPerIndex"},
           "is not applied to Jobs on the local target");
  return j;
}

CronJob DecodeCronJobNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec) {
  Fields f(ctx, spec, "spec");
  CronJob c;
  c.meta = meta;
  if (meta.name.size() > 52) {
    ctx.Error(spec, "metadata.name",
              "a CronJob's name is at most 52 characters (its Jobs' names add 11), as "
              "Kubernetes requires");
  }
  if (const Node* v = f.Need("schedule")) {
    c.schedule = ctx.Str(*v, "spec.schedule");
    if (auto parsed = ParseCron(c.schedule); !parsed) {
      ctx.Error(*v, "spec.schedule", parsed.error().message);
    }
  }
  if (const Node* v = f.Get("timeZone")) {
    c.time_zone = ctx.Str(*v, "spec.timeZone");
    if (c.time_zone != "UTC" && c.time_zone != "Etc/UTC") {
      ctx.Error(*v, "spec.timeZone",
                fmt::format("{} is not supported: UTC (or Etc/UTC), or leave it out for this "
                            "machine's time zone",
                            Quote(c.time_zone)));
    }
  }
  if (const Node* v = f.Get("concurrencyPolicy")) {
    c.concurrency_policy = ctx.Str(*v, "spec.concurrencyPolicy");
    if (c.concurrency_policy != "Allow" && c.concurrency_policy != "Forbid" &&
        c.concurrency_policy != "Replace") {
      ctx.Error(*v, "spec.concurrencyPolicy",
                fmt::format("{} is not Allow, Forbid or Replace", Quote(c.concurrency_policy)));
    }
  }
  if (const Node* v = f.Get("suspend")) c.suspend = ctx.Bool(*v, "spec.suspend");
  if (const Node* v = f.Get("successfulJobsHistoryLimit")) {
    c.successful_jobs_history_limit = ctx.Int(*v, "spec.successfulJobsHistoryLimit", 0, 1000);
  }
  if (const Node* v = f.Get("failedJobsHistoryLimit"))
    c.failed_jobs_history_limit = ctx.Int(*v, "spec.failedJobsHistoryLimit", 0, 1000);
  if (const Node* v = f.Get("startingDeadlineSeconds")) {
    c.starting_deadline_seconds = ctx.Int(*v, "spec.startingDeadlineSeconds", 1, 30 * 86400);
  }
  if (const Node* t = f.Need("jobTemplate")) {
    Fields tf(ctx, *t, "spec.jobTemplate");
    tf.Get("metadata");  // labels and annotations, copied to each Job as written
    if (const Node* js = tf.Need("spec")) c.job = DecodeJobNode(ctx, meta, *js, tf.Sub("spec"));
  }
  return c;
}

Pod DecodePodNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec) {
  Pod p;
  p.meta = meta;
  // Read here; DecodePodSpec knows them as taken.
  const Node* policy = spec.IsMap() ? spec.Get("restartPolicy") : nullptr;
  const Node* deadline = spec.IsMap() ? spec.Get("activeDeadlineSeconds") : nullptr;
  if (const Node* v = policy) {
    p.restart_policy = ctx.Str(*v, "spec.restartPolicy");
    if (p.restart_policy != "Always" && p.restart_policy != "OnFailure" &&
        p.restart_policy != "Never") {
      ctx.Error(*v, "spec.restartPolicy",
                fmt::format("{} is not a restart policy (Always, OnFailure or Never)",
                            Quote(p.restart_policy)));
    }
  }
  if (const Node* v = deadline) {
    p.active_deadline_seconds = ctx.Int(*v, "spec.activeDeadlineSeconds", 1, 30 * 86400);
  }
  DecodePodSpec(ctx, spec, "spec", p.pod, {"restartPolicy", "activeDeadlineSeconds"});
  return p;
}

Service DecodeServiceNode(Ctx& ctx, const ObjectMeta& meta, const Node& spec) {
  Fields f(ctx, spec, "spec");
  Service s;
  s.meta = meta;
  if (const Node* v = f.Get("selector")) s.selector = ctx.StrMap(*v, "spec.selector");
  if (const Node* ps = f.Need("ports")) {
    ctx.List(*ps, "spec.ports", [&](const Node& item, const std::string& p) {
      Fields pf(ctx, item, p);
      ServicePort sp;
      sp.name = pf.Str("name");
      if (const Node* v = pf.Need("port")) sp.port = ctx.Int(*v, pf.Sub("port"), 1, 65535);
      sp.target_port = pf.Str("targetPort");
      if (sp.target_port.empty()) sp.target_port = std::to_string(sp.port);
      if (const Node* v = pf.Get("protocol")) {
        if (ctx.Str(*v, pf.Sub("protocol")) != "TCP") {
          ctx.Error(*v, pf.Sub("protocol"), "not supported: only TCP (HTTP) services are routed");
        }
      }
      pf.Get("appProtocol");
      pf.Ignore({"nodePort"});
      s.ports.push_back(sp);
    });
  }
  if (const Node* v = f.Get("clusterIP")) {
    s.cluster_ip = ctx.Str(*v, f.Sub("clusterIP"));
    if (s.cluster_ip == "None") {
      ctx.Error(*v, f.Sub("clusterIP"),
                "None (a headless Service) is not supported: strake routes every Service "
                "through an address of its own; leave clusterIP out to have one allocated");
    } else if (!s.cluster_ip.empty() && !IsLoopbackIpv4(s.cluster_ip)) {
      ctx.Error(*v, f.Sub("clusterIP"),
                fmt::format("{} is not a loopback address (127.0.0.0/8): the local target serves a "
                            "Service on loopback; leave clusterIP out to have one allocated",
                            Quote(s.cluster_ip)));
    }
  }
  f.Ignore({"type", "clusterIPs", "sessionAffinity", "externalTrafficPolicy",
            "internalTrafficPolicy", "ipFamilies", "ipFamilyPolicy"});
  return s;
}

}  // namespace

bool IsLoopbackIpv4(const std::string& text) {
  in_addr a{};
  return ::inet_pton(AF_INET, text.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool DecodeDeploymentKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) { return DecodeDeploymentNode(ctx, r.meta, spec); });
}

bool DecodeJobKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) { return DecodeJobNode(ctx, r.meta, spec); });
}

bool DecodeCronJobKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) { return DecodeCronJobNode(ctx, r.meta, spec); });
}

bool DecodePodKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) { return DecodePodNode(ctx, r.meta, spec); });
}

bool DecodeServiceKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) { return DecodeServiceNode(ctx, r.meta, spec); });
}

Result<Service> DecodeService(const Json& object) {
  ObjectMeta meta;
  meta.name = object["metadata"].value("name", "");
  meta.ns = object["metadata"].value("namespace", "default");
  return FromStoredJson<Service>(object.value("spec", Json::object()), [&](Ctx& c, const Node& n) {
    return DecodeServiceNode(c, meta, n);
  });
}

Result<Deployment> DecodeDeployment(const Json& object) {
  ObjectMeta meta;
  meta.name = object["metadata"].value("name", "");
  meta.ns = object["metadata"].value("namespace", "default");
  return FromStoredJson<Deployment>(
      object.value("spec", Json::object()),
      [&](Ctx& c, const Node& n) { return DecodeDeploymentNode(c, meta, n); });
}

Result<Job> DecodeJob(const Json& object) {
  ObjectMeta meta;
  meta.name = object["metadata"].value("name", "");
  meta.ns = object["metadata"].value("namespace", "default");
  return FromStoredJson<Job>(object.value("spec", Json::object()),
                             [&](Ctx& c, const Node& n) { return DecodeJobNode(c, meta, n); });
}

Result<CronJob> DecodeCronJob(const Json& object) {
  ObjectMeta meta;
  meta.name = object["metadata"].value("name", "");
  meta.ns = object["metadata"].value("namespace", "default");
  return FromStoredJson<CronJob>(object.value("spec", Json::object()), [&](Ctx& c, const Node& n) {
    return DecodeCronJobNode(c, meta, n);
  });
}

Result<Pod> DecodePod(const Json& object) {
  ObjectMeta meta;
  meta.ns = object["metadata"].value("namespace", "default");
  return FromStoredJson<Pod>(object.value("spec", Json::object()),
                             [&](Ctx& c, const Node& n) { return DecodePodNode(c, meta, n); });
}

}  // namespace strake::model
