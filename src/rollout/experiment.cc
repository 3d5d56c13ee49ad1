#include "rollout/experiment.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"
#include "rollout/analysis.h"
#include "rollout/controller.h"

namespace strake::rollout {

namespace {

using Ms = std::chrono::milliseconds;

constexpr const char* kExperimentLabel = "strake.dev/experiment";
constexpr const char* kTemplateLabel = "strake.dev/experiment-template";

// Rank of `phase` in `order` (worst last); one not listed ranks first.
size_t Rank(const std::string& phase, std::initializer_list<const char*> order) {
  size_t i = 0;
  for (const char* p : order) {
    if (phase == p) return i;
    ++i;
  }
  return 0;
}

size_t TemplateRank(const std::string& s) {
  return Rank(s, {"Successful", "Running", "Progressing", "Error", "Failed"});
}

size_t AnalysisRank(const std::string& s) {
  return Rank(s, {"Successful", "Running", "Pending", "Inconclusive", "Error", "Failed"});
}

bool TemplateDone(const std::string& s) {
  return s == "Successful" || s == "Failed" || s == "Error";
}

void Requeue(ExperimentDecision& d, int64_t after_ms) {
  Ms after(std::max<int64_t>(after_ms, 1));
  if (!d.requeue_after || after < *d.requeue_after) d.requeue_after = after;
}

void Note(ExperimentDecision& d, std::string reason, std::string message) {
  d.events.push_back({std::move(reason), std::move(message)});
}

TemplateStatus& TemplateEntry(ExperimentStatus& st, const std::string& name) {
  for (auto& t : st.templates) {
    if (t.name == name) return t;
  }
  st.templates.push_back(TemplateStatus{});
  st.templates.back().name = name;
  return st.templates.back();
}

// Keeps one analysis entry per spec analysis, in spec order; a run's phase
// and message are copied in while the experiment has not ended.
void ObserveAnalyses(ExperimentDecision& d, const model::ExperimentSpec& spec,
                     const ExperimentObservation& obs, bool finished) {
  std::vector<ExperimentAnalysisStatus> next;
  for (const auto& a : spec.analyses) {
    ExperimentAnalysisStatus entry{a.name, "", "", ""};
    for (const auto& old : d.status.analyses) {
      if (old.name == a.name) entry = old;
    }
    auto phase = obs.analysis_phase.find(entry.run);
    if (!finished && !entry.run.empty() && phase != obs.analysis_phase.end() &&
        phase->second != entry.phase) {
      std::string before = entry.phase.empty() ? "Pending" : entry.phase;
      entry.phase = phase->second;
      auto m = obs.analysis_message.find(entry.run);
      entry.message = m == obs.analysis_message.end() ? "" : m->second;
      Note(d, "AnalysisRun" + entry.phase,
           fmt::format("AnalysisRun '{}' transitioned from {} -> {}{}", a.name, before, entry.phase,
                       entry.message.empty() ? "" : ": " + entry.message));
    }
    next.push_back(std::move(entry));
  }
  d.status.analyses = std::move(next);
}

// One template's status and replicas for this round.
void StepTemplate(ExperimentDecision& d, const model::ExperimentSpec& spec,
                  const model::ExperimentTemplate& t, const ExperimentObservation& obs,
                  bool terminating, bool duration_passed, int64_t now) {
  TemplateStatus& ts = TemplateEntry(d.status, t.name);
  auto h = obs.template_hash.find(t.name);
  if (h != obs.template_hash.end()) ts.hash = h->second;
  RevisionObservation rev;
  if (auto r = obs.revisions.find(ts.hash); r != obs.revisions.end()) rev = r->second;
  if (rev.replicas != ts.replicas || rev.ready != ts.available || ts.changed_ms == 0)
    ts.changed_ms = now;
  ts.replicas = rev.replicas;
  ts.ready = ts.available = rev.ready;
  const bool wanted = !terminating && !TemplateDone(ts.status);
  const int desired = wanted ? t.replicas : 0;

  std::string next = ts.status;
  std::string message = ts.message;
  if (!TemplateDone(ts.status)) {
    auto err = obs.template_error.find(t.name);
    int64_t deadline = ts.changed_ms + int64_t{spec.progress_deadline_seconds} * 1000;
    if (err != obs.template_error.end()) {
      next = "Error";
      message = err->second;
    } else if (desired == ts.available && ts.replicas == desired) {
      next = duration_passed || terminating ? "Successful" : "Running";
    } else if (terminating) {  // scaling down: no deadline to miss
      next = "Successful";
    } else if (now > deadline) {
      next = "Failed";
      message = fmt::format("Template '{}' exceeded its progressDeadlineSeconds ({}){}", t.name,
                            spec.progress_deadline_seconds,
                            rev.problem.empty() ? "" : ": " + rev.problem);
    } else {
      next = "Progressing";
      message = rev.problem;
      Requeue(d, deadline - now + 1);
    }
  }
  const std::string before = ts.status.empty() ? "Progressing" : ts.status;
  ts.status = next;
  if (next != before) {
    Note(d, "Template" + next,
         fmt::format(
             "Template '{}' transitioned from {} -> {}{}", t.name, before, next,
             message.empty() || next == "Running" || next == "Successful" ? "" : ": " + message));
  }
  ts.message = TemplateDone(next) && next != "Successful" ? message : "";
  if (next == "Progressing") ts.message = message;

  if (wanted) {
    d.replicas[t.name] = desired;
    ts.scale_down_at_ms = 0;
    return;
  }
  // No longer wanted: its replicas stay scaleDownDelaySeconds, then go.
  if (ts.scale_down_at_ms == 0)
    ts.scale_down_at_ms = now + int64_t{spec.scale_down_delay_seconds} * 1000;
  if (now < ts.scale_down_at_ms && ts.replicas > 0) {
    d.replicas[t.name] = ts.replicas;
    Requeue(d, ts.scale_down_at_ms - now);
  } else {
    d.replicas[t.name] = 0;
  }
}

// Argo's calculateStatus: the phase from the worst template and the worst
// analysis, and the message that goes with it.
void DecidePhase(ExperimentDecision& d, const model::ExperimentSpec& spec, bool all_required_ok,
                 bool any_required, int64_t now) {
  ExperimentStatus& st = d.status;
  std::string worst_template = "Successful";
  std::string template_message;
  for (const auto& t : spec.templates) {
    const TemplateStatus& ts = TemplateEntry(st, t.name);
    std::string s = ts.status.empty() ? "Progressing" : ts.status;
    if (TemplateRank(s) > TemplateRank(worst_template)) {
      worst_template = s;
      template_message = ts.message;
    }
  }
  std::string t_phase = worst_template == "Progressing" ? "Pending" : worst_template;
  std::string a_phase = "Successful";
  std::string a_message;
  for (const auto& a : st.analyses) {
    std::string p = a.phase == "Pending" ? "Running" : a.phase;
    if (AnalysisRank(p) > AnalysisRank(a_phase)) {
      a_phase = p;
      a_message = a.message.empty() ? "" : fmt::format("analysis {}: {}", a.name, a.message);
    }
  }
  if (all_required_ok && AnalysisRank(a_phase) <= AnalysisRank("Pending")) {
    a_phase = "Successful";  // the non-required ones still running are terminated
    a_message = "Required AnalysisRuns completed";
  }
  const bool a_done = a_phase != "Running";
  if (t_phase == "Running" && st.available_at_ms == 0) st.available_at_ms = now;

  std::string phase = t_phase;
  std::string message = template_message;
  if (TemplateDone(t_phase)) {
    if (t_phase == "Successful" && (a_done || any_required)) {
      phase = a_phase;
      message = a_message;
    }
  } else if (a_done && a_phase != "Successful") {
    phase = a_phase;
    message = a_message;
  } else if (all_required_ok) {
    phase = "Successful";
    message = a_message;
  }
  const std::string before = st.phase.empty() ? "Pending" : st.phase;
  st.phase = phase;
  if (phase != before) {
    Note(d, "Experiment" + phase,
         fmt::format("Experiment transitioned from {} -> {}{}", before, phase,
                     message.empty() ? "" : ": " + message));
    if (IsFinishedPhase(phase)) Requeue(d, 1);  // scale down and stop runs next round
  }
  st.message = message;
}

}  // namespace

bool IsFinishedPhase(const std::string& phase) {
  return phase == "Successful" || phase == "Failed" || phase == "Error" || phase == "Inconclusive";
}

std::string ExperimentRunName(const std::string& experiment, const std::string& analysis) {
  return experiment + "-" + analysis;
}

std::string ExperimentWorkload(const std::string& experiment) { return "experiment." + experiment; }

std::string ExperimentTemplateHash(const std::string& experiment, const std::string& tmpl,
                                   const Json& pod_template) {
  return PodTemplateHash(
      Json{{"experiment", experiment}, {"template", tmpl}, {"pod", pod_template}});
}

Json ExperimentStatus::ToJson() const {
  Json j = Json::object();
  j["phase"] = phase;
  if (!message.empty()) j["message"] = message;
  if (available_at_ms) j["availableAt"] = FormatRfc3339(FromUnixMillis(available_at_ms));
  Json ts = Json::array();
  for (const auto& t : templates) {
    Json x = {{"name", t.name},
              {"replicas", t.replicas},
              {"updatedReplicas", t.replicas},
              {"readyReplicas", t.ready},
              {"availableReplicas", t.available},
              {"status", t.status.empty() ? "Progressing" : t.status},
              {"podTemplateHash", t.hash},
              {"lastTransitionTime", FormatRfc3339(FromUnixMillis(t.changed_ms))}};
    if (!t.message.empty()) x["message"] = t.message;
    if (!t.service_name.empty()) x["serviceName"] = t.service_name;
    if (t.scale_down_at_ms) x["scaleDownAt"] = FormatRfc3339(FromUnixMillis(t.scale_down_at_ms));
    ts.push_back(std::move(x));
  }
  j["templateStatuses"] = std::move(ts);
  Json as = Json::array();
  for (const auto& a : analyses) {
    Json x = {{"name", a.name}, {"analysisRun", a.run}, {"phase", a.phase}};
    if (!a.message.empty()) x["message"] = a.message;
    as.push_back(std::move(x));
  }
  j["analysisRuns"] = std::move(as);
  return j;
}

ExperimentStatus ExperimentStatus::FromJson(const Json& j) {
  ExperimentStatus s;
  if (!j.is_object()) return s;
  auto ms = [](const Json& o, const char* key) -> int64_t {
    auto t = ParseRfc3339(o.value(key, ""));
    return t ? UnixMillis(*t) : 0;
  };
  s.phase = j.value("phase", "");
  s.message = j.value("message", "");
  s.available_at_ms = ms(j, "availableAt");
  for (const auto& x : j.value("templateStatuses", Json::array())) {
    TemplateStatus t;
    t.name = x.value("name", "");
    t.hash = x.value("podTemplateHash", "");
    t.replicas = x.value("replicas", 0);
    t.ready = x.value("readyReplicas", 0);
    t.available = x.value("availableReplicas", 0);
    t.status = x.value("status", "");
    t.message = x.value("message", "");
    t.changed_ms = ms(x, "lastTransitionTime");
    t.scale_down_at_ms = ms(x, "scaleDownAt");
    t.service_name = x.value("serviceName", "");
    s.templates.push_back(std::move(t));
  }
  for (const auto& x : j.value("analysisRuns", Json::array())) {
    s.analyses.push_back({x.value("name", ""), x.value("analysisRun", ""), x.value("phase", ""),
                          x.value("message", "")});
  }
  return s;
}

ExperimentDecision StepExperiment(const std::string& name, const model::ExperimentSpec& spec,
                                  const ExperimentStatus& status,
                                  const ExperimentObservation& obs) {
  ExperimentDecision d;
  d.status = status;
  ExperimentStatus& st = d.status;
  const int64_t now = UnixMillis(obs.now);
  const bool finished = IsFinishedPhase(st.phase);
  ObserveAnalyses(d, spec, obs, finished);

  bool any_required = false;
  bool all_required_ok = true;
  bool analysis_bad = false;
  for (size_t i = 0; i < spec.analyses.size(); ++i) {
    const std::string& p = st.analyses[i].phase;
    if (spec.analyses[i].required_for_completion) {
      any_required = true;
      all_required_ok = all_required_ok && p == "Successful";
    }
    analysis_bad = analysis_bad || p == "Failed" || p == "Error" || p == "Inconclusive";
  }
  all_required_ok = any_required && all_required_ok;
  bool template_bad = std::any_of(st.templates.begin(), st.templates.end(), [](const auto& t) {
    return t.status == "Failed" || t.status == "Error";
  });
  const bool terminating =
      spec.terminate || finished || template_bad || analysis_bad || all_required_ok;
  int64_t ends_at =
      st.available_at_ms && spec.duration ? st.available_at_ms + spec.duration->count() : 0;
  const bool duration_passed = ends_at && now >= ends_at;

  for (const auto& t : spec.templates)
    StepTemplate(d, spec, t, obs, terminating, duration_passed, now);
  std::erase_if(st.templates, [&](const TemplateStatus& ts) {
    return std::none_of(spec.templates.begin(), spec.templates.end(),
                        [&](const auto& t) { return t.name == ts.name; });
  });
  if (!finished) DecidePhase(d, spec, all_required_ok, any_required, now);
  if (ends_at && !duration_passed && !IsFinishedPhase(st.phase)) Requeue(d, ends_at - now);

  // The analyses start once availableAt is recorded (a round after every
  // template ran), and stop when the experiment ends.
  const bool running = !terminating && !IsFinishedPhase(st.phase) && status.available_at_ms != 0;
  for (auto& a : st.analyses) {
    if (running && a.run.empty() && a.phase.empty()) {
      a.run = ExperimentRunName(name, a.name);
      a.phase = "Pending";
      d.start_analysis.push_back(a.name);
    } else if (!running && !a.run.empty() && !IsTerminalPhase(a.phase)) {
      d.terminate_analysis.push_back(a.run);
    }
  }
  if (st.phase.empty()) st.phase = "Pending";
  return d;
}

Result<std::string> ResolveExperimentArg(const std::string& value, const std::string& experiment,
                                         const model::ExperimentSpec& spec,
                                         const ExperimentStatus& status) {
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    size_t open = value.find("{{", i);
    if (open == std::string::npos) {
      out.append(value, i, std::string::npos);
      break;
    }
    size_t close = value.find("}}", open);
    if (close == std::string::npos) return Failf("unterminated {{ in {}", Quote(value));
    out.append(value, i, open - i);
    std::string ref(Trim(std::string_view(value).substr(open + 2, close - open - 2)));
    i = close + 2;
    if (ref == "experiment.availableAt" && status.available_at_ms) {
      out += FormatRfc3339(FromUnixMillis(status.available_at_ms));
      continue;
    }
    if (ref == "experiment.finishedAt" && status.available_at_ms && spec.duration) {
      out += FormatRfc3339(FromUnixMillis(status.available_at_ms + spec.duration->count()));
      continue;
    }
    bool resolved = false;
    for (const auto& t : status.templates) {
      if (ref == "templates." + t.name + ".podTemplateHash" && !t.hash.empty()) {
        out += t.hash;
        resolved = true;
      } else if (ref == "templates." + t.name + ".replicaset.name") {
        out += experiment + "-" + t.name;
        resolved = true;
      }
    }
    if (!resolved) return Failf("failed to resolve {{{{{}}}}}", ref);
  }
  return out;
}

// ---- driver ---------------------------------------------------------------------

ExperimentReconciler::ExperimentReconciler(store::Store& store, WorkloadTarget& target,
                                           TrafficRouter& router, const Clock& clock)
    : store_(store), target_(target), router_(router), clock_(clock) {}

Status ExperimentReconciler::StartRun(const store::Resource& exp, const model::ExperimentSpec& spec,
                                      const ExperimentStatus& status,
                                      const model::ExperimentAnalysis& a) {
  const std::string& ns = exp.key.ns;
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& arg : a.args) {
    auto v = ResolveExperimentArg(arg.value, exp.key.name, spec, status);
    if (!v) return tl::unexpected(v.error().Wrap(fmt::format("argument {}", arg.name)));
    values.emplace_back(arg.name, *v);
  }
  STRAKE_TRY_ASSIGN(run_spec, AnalysisRunSpec(store_, ns, {a.ref}, values, spec.dry_run,
                                              spec.measurement_retention));
  const std::string name = ExperimentRunName(exp.key.name, a.name);
  const Json annotations = exp.object["metadata"].value("annotations", Json::object());
  store::Resource run;
  run.key = {"AnalysisRun", ns, name};
  run.owner = exp.uid;
  // analysisRunMetadata's, then strake's own (which the controller reads).
  run.labels = spec.run_metadata.labels;
  run.labels[kExperimentLabel] = exp.key.name;
  Json run_annotations = spec.run_metadata.annotations;
  // What `canary` and `stable` mean to a provider: the Rollout's revisions,
  // when a Rollout's step made the experiment.
  for (const char* key : {"strake.dev/canary-hash", "strake.dev/stable-hash"}) {
    if (annotations.contains(key)) run_annotations[key] = annotations[key];
  }
  run.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "AnalysisRun"},
                {"metadata",
                 {{"name", name},
                  {"namespace", ns},
                  {"labels", run.labels},
                  {"annotations", run_annotations}}},
                {"spec", run_spec}};
  auto created = store_.Create(run, "AnalysisRunCreated",
                               fmt::format("analysis {} of experiment {}", a.name, exp.key.name));
  if (created) return Ok();
  if (!created.error().Is(ErrorCode::kAlreadyExists)) return tl::unexpected(created.error());
  auto existing = store_.Get(run.key);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing && (*existing)->owner != exp.uid)
    return Failf("AnalysisRun {} exists and belongs to another object", Quote(name));
  return Ok();  // made by an earlier round that did not record it
}

void ExperimentReconciler::KeepServices(const store::Resource& exp,
                                        const model::ExperimentSpec& spec, ExperimentDecision& d,
                                        const std::map<std::string, RevisionObservation>& obs) {
  const std::string& ns = exp.key.ns;
  for (const auto& t : spec.templates) {
    TemplateStatus& ts = TemplateEntry(d.status, t.name);
    if (!t.service || t.pod.containers.empty() || t.pod.containers.front().ports.empty()) continue;
    std::string svc_name = t.service_name.empty() ? exp.key.name + "-" + t.name : t.service_name;
    auto r = obs.find(ts.hash);
    const bool serving = d.replicas[t.name] > 0 || (r != obs.end() && r->second.ready > 0);
    auto got = store_.Get({"Service", ns, svc_name});
    if (!got) continue;  // looked at again next round
    if (!serving) {
      if (*got && (*got)->owner == exp.uid) {
        router_.RemoveService(ns, svc_name);
        (void)store_.Delete({"Service", ns, svc_name});
      }
      ts.service_name.clear();
      continue;
    }
    if (*got && (*got)->owner != exp.uid) {
      std::string why = fmt::format(
          "Failed to create Service {} for template '{}': service {} already exists and is not "
          "owned by experiment template {}",
          svc_name, t.name, svc_name, t.name);
      if (ts.status != "Error") Note(d, "TemplateError", why);
      ts.status = "Error";
      ts.message = why;
      continue;
    }
    Json selector = t.pod.labels;
    selector["rollouts-pod-template-hash"] = ts.hash;
    Json ports = Json::array();
    for (const auto& p : t.pod.containers.front().ports) {
      Json port = {
          {"port", p.container_port}, {"targetPort", p.container_port}, {"protocol", "TCP"}};
      if (!p.name.empty()) port["name"] = p.name;
      ports.push_back(std::move(port));
    }
    if (!*got) {
      store::Resource svc;
      svc.key = {"Service", ns, svc_name};
      svc.owner = exp.uid;
      svc.labels = {{kExperimentLabel, exp.key.name}, {kTemplateLabel, t.name}};
      svc.object = {{"apiVersion", "v1"},
                    {"kind", "Service"},
                    {"metadata",
                     {{"name", svc_name},
                      {"namespace", ns},
                      {"labels", svc.labels},
                      {"annotations",
                       {{"experiment.argoproj.io/name", exp.key.name},
                        {"experiment.argoproj.io/template-name", t.name}}}}},
                    {"spec", {{"selector", selector}, {"ports", ports}}}};
      auto made =
          store_.Create(svc, "ServiceCreated",
                        fmt::format("for template {} of experiment {}", t.name, exp.key.name));
      if (!made && !made.error().Is(ErrorCode::kAlreadyExists)) {
        Note(d, "TemplateError",
             fmt::format("Failed to create Service {} for template '{}': {}", svc_name, t.name,
                         made.error().message));
      }
      Requeue(d, 200);  // routed once the Service has its address
      continue;
    }
    ts.service_name = svc_name;
    auto service = model::DecodeService((*got)->object);
    std::string address =
        (*got)->status.is_object() ? (*got)->status.value("clusterIP", "") : std::string();
    if (!service || address.empty()) {
      Requeue(d, 200);
      continue;
    }
    ServiceTraffic traffic;
    traffic.ns = ns;
    traffic.service = *service;
    traffic.address = address;
    traffic.workload = ExperimentWorkload(exp.key.name);
    traffic.stable_hash = ts.hash;
    if (auto st = router_.SetTraffic(traffic); !st) {
      Note(d, "ServiceNotRouted", fmt::format("service {}: {}", svc_name, st.error().message));
      Requeue(d, 2000);
    }
  }
}

Result<controller::ReconcileResult> ExperimentReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  auto got = store_.Get({"Experiment", ns, name});
  if (!got) return tl::unexpected(got.error());
  if (!*got) {
    target_.Prune(ns, ExperimentWorkload(name), {});
    return controller::ReconcileResult{};
  }
  const store::Resource& exp = **got;
  ExperimentStatus status = ExperimentStatus::FromJson(exp.status);
  auto write = [&](const ExperimentStatus& st, const std::vector<ExperimentDecision::Note>& events,
                   std::optional<Ms> requeue) -> Result<controller::ReconcileResult> {
    controller::ReconcileResult result{requeue};
    Json next = st.ToJson();
    if (next == exp.status && events.empty()) return result;
    std::vector<std::string> texts;
    texts.reserve(events.size());
    for (const auto& e : events) texts.push_back(e.message);
    auto w = store_.UpdateStatus(exp.key, next, exp.resource_version,
                                 events.empty() ? "Reconciled" : events.back().reason,
                                 Join(texts, "; "));
    if (!w) {
      if (w.error().Is(ErrorCode::kConflict)) return controller::ReconcileResult{Ms(1)};
      return tl::unexpected(w.error());
    }
    return result;
  };

  const Json spec_json = exp.object.value("spec", Json::object());
  auto spec = model::DecodeExperimentSpec(spec_json);
  if (!spec) {
    if (IsFinishedPhase(status.phase)) return controller::ReconcileResult{};
    status.phase = "Error";
    status.message = "InvalidSpec: " + spec.error().message;
    return write(status, {{"InvalidSpec", status.message}}, std::nullopt);
  }

  ExperimentObservation obs;
  obs.now = clock_.Now();
  for (const auto& t : spec_json.value("templates", Json::array())) {
    std::string tname = t.value("name", "");
    obs.template_hash[tname] =
        ExperimentTemplateHash(name, tname, t.value("template", Json::object()));
  }
  STRAKE_TRY_ASSIGN(revisions, ObserveMasked(store_, target_, ns, ExperimentWorkload(name)));
  std::optional<Ms> min_ready_wait;
  for (const auto& t : spec->templates) {
    const std::string& hash = obs.template_hash[t.name];
    auto r = revisions.find(hash);
    if (r == revisions.end()) continue;
    std::map<std::string, RevisionObservation> one{{hash, r->second}};
    auto wait = ApplyMinReady(one, t.min_ready_seconds);
    if (wait && (!min_ready_wait || *wait < *min_ready_wait)) min_ready_wait = wait;
    obs.revisions[hash] = one[hash];
  }
  for (const auto& a : status.analyses) {
    if (a.run.empty()) continue;
    auto run = store_.Get({"AnalysisRun", ns, a.run});
    if (!run) return tl::unexpected(run.error());
    if (!*run) {
      obs.analysis_phase[a.run] = "Error";
      obs.analysis_message[a.run] = fmt::format("AnalysisRun {} not found", a.run);
      continue;
    }
    const Json& rs = (*run)->status;
    obs.analysis_phase[a.run] = rs.is_object() ? rs.value("phase", "Pending") : "Pending";
    obs.analysis_message[a.run] = rs.is_object() ? rs.value("message", "") : "";
  }

  ExperimentDecision d = StepExperiment(name, *spec, status, obs);
  if (min_ready_wait) Requeue(d, min_ready_wait->count() + 1);

  // Replicas: each template a revision of the experiment's workload.
  std::set<std::string> keep;
  for (const auto& t : spec->templates) {
    TemplateStatus& ts = TemplateEntry(d.status, t.name);
    keep.insert(ts.hash);
    RevisionSpec rs;
    rs.ns = ns;
    rs.workload = ExperimentWorkload(name);
    rs.hash = ts.hash;
    rs.pod = t.pod;
    rs.replicas = d.replicas[t.name];
    Status scaled = Ok();
    if (!t.pod.containers.empty()) {
      scaled = ReadRevisionInputs(store_, rs);
      if (scaled) scaled = target_.ScaleRevision(rs);
    }
    if (!scaled && !TemplateDone(ts.status)) {
      std::string why = fmt::format("Failed to create ReplicaSet for template '{}': {}", t.name,
                                    scaled.error().message);
      Note(d, "TemplateError", why);
      ts.status = "Error";
      ts.message = why;
      Requeue(d, 1);
    }
  }
  target_.Prune(ns, ExperimentWorkload(name), keep);
  KeepServices(exp, *spec, d, revisions);

  for (const auto& aname : d.start_analysis) {
    for (const auto& a : spec->analyses) {
      if (a.name != aname) continue;
      if (auto st = StartRun(exp, *spec, d.status, a); !st) {
        for (auto& entry : d.status.analyses) {
          if (entry.name != aname) continue;
          entry.phase = "Error";
          entry.message = fmt::format("Failed to create AnalysisRun for analysis '{}': {}", aname,
                                      st.error().message);
          Note(d, "AnalysisRunError", entry.message);
        }
        Requeue(d, 1);
      }
    }
  }
  for (const auto& run : d.terminate_analysis) {
    auto ar = store_.Get({"AnalysisRun", ns, run});
    if (ar && *ar && !(*ar)->object["spec"].value("terminate", false)) {
      store::Resource upd = **ar;
      upd.object["spec"]["terminate"] = true;
      (void)store_.Update(upd, upd.resource_version);
    }
  }
  return write(d.status, d.events, d.requeue_after);
}

}  // namespace strake::rollout
