#include "rollout/controller.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "base/log.h"
#include "base/mask.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/secrets.h"
#include "rollout/actions.h"
#include "rollout/analysis.h"
#include "rollout/builtin_templates.h"
#include "rollout/deployment.h"
#include "rollout/experiment.h"
#include "rollout/mesh.h"
#include "rollout/service.h"
#include "rollout/workload_ref.h"

namespace strake::rollout {

namespace {

// The values of a Rollout's analysis arguments, read now: podTemplateHashValue
// (Stable, Latest) from this round's status, fieldRef from the Rollout as
// this round leaves it.
Result<std::vector<std::pair<std::string, std::string>>> ArgValues(
    const store::Resource& rollout, const Decision& d,
    const std::vector<model::AnalysisArg>& args) {
  Json self = rollout.object;
  self["metadata"]["uid"] = rollout.uid;
  self["status"] = d.status.ToJson();
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& given : args) {
    std::string value = given.value;
    if (given.pod_template_hash_value == "Stable") value = d.status.stable_rs;
    if (given.pod_template_hash_value == "Latest") value = d.status.current_pod_hash;
    if (!given.field_path.empty()) {
      auto v = FieldRefValue(self, given.field_path);
      if (!v)
        return tl::unexpected(v.error().Wrap(fmt::format("analysis argument {}", given.name)));
      value = *v;
    }
    values.emplace_back(given.name, value);
  }
  return values;
}

constexpr const char* kRolloutLabel = "strake.dev/rollout";

store::Key Key(const std::string& kind, const std::string& ns, const std::string& name) {
  return store::Key{kind, ns, name};
}

}  // namespace

std::string PodTemplateHash(const Json& tmpl) {
  // Canonical: keys sorted, so the same template written in another order
  // is the same revision.
  nlohmann::json canonical = nlohmann::json::parse(tmpl.dump());
  Sha256 h;
  h.Update(canonical.dump());
  return h.HexDigest().substr(0, 10);
}

RolloutReconciler::RolloutReconciler(store::Store& store, WorkloadTarget& target,
                                     TrafficRouter& router, const Clock& clock)
    : store_(store), target_(target), router_(router), clock_(clock) {}

Result<std::optional<std::string>> ReadKeyRef(store::Store& store, const std::string& ns,
                                              const model::KeyRef& ref, bool secret) {
  auto got = store.Get(Key(secret ? "Secret" : "ConfigMap", ns, ref.name));
  if (!got) return tl::unexpected(got.error());
  std::optional<std::string> value;
  if (!*got) return value;
  const Json& obj = (*got)->object;
  if (secret) return model::SecretValue(obj, ref.key);
  if (obj.contains("data") && obj["data"].is_object()) {
    auto it = obj["data"].find(ref.key);
    if (it != obj["data"].end() && it->is_string()) value = it->get<std::string>();
  }
  return value;
}

namespace {

// The downward API's value of `path` (checked at decode) for `pod`.
Result<std::string> DownwardValue(const PodFields& pod, const std::string& path) {
  auto keyed = [&](const char* prefix, const std::map<std::string, std::string>& m) {
    std::string key = path.substr(std::string_view(prefix).size());
    key = key.substr(0, key.size() - 2);
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
  };
  if (path == "metadata.name" || path == "metadata.uid") {
    const std::string& v = path == "metadata.name" ? pod.name : pod.uid;
    if (v.empty()) {
      return Failf(
          "{} is not given to a Deployment's or Rollout's replicas yet (they share one "
          "environment)",
          path);
    }
    return v;
  }
  if (path == "metadata.namespace") return pod.ns;
  if (StartsWith(path, "metadata.labels['")) return keyed("metadata.labels['", pod.labels);
  if (StartsWith(path, "metadata.annotations['"))
    return keyed("metadata.annotations['", pod.annotations);
  if (path == "spec.serviceAccountName")
    return pod.service_account.empty() ? std::string("default") : pod.service_account;
  if (path == "spec.nodeName") {
    char host[256] = {};
    return ::gethostname(host, sizeof host - 1) == 0 ? std::string(host) : std::string("localhost");
  }
  return std::string("127.0.0.1");  // status.podIP(s), status.hostIP(s): this machine's loopback
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ResolveEnv(store::Store& store,
                                                                    const std::string& ns,
                                                                    const model::Container& c,
                                                                    const PodFields* pod) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : c.env) {
    if (!e.field_path.empty()) {
      if (!pod) return Failf("env {}: fieldRef {} is not given here", e.name, e.field_path);
      auto v = DownwardValue(*pod, e.field_path);
      if (!v) return Failf("env {}: fieldRef {}", e.name, v.error().message);
      out.emplace_back(e.name, *v);
      continue;
    }
    if (!e.config_map_key_ref && !e.secret_key_ref) {
      out.emplace_back(e.name, e.value);
      continue;
    }
    bool secret = e.secret_key_ref.has_value();
    const model::KeyRef& ref = secret ? *e.secret_key_ref : *e.config_map_key_ref;
    const char* kind = secret ? "Secret" : "ConfigMap";
    STRAKE_TRY_ASSIGN(value, ReadKeyRef(store, ns, ref, secret));
    if (!value) {
      if (ref.optional) continue;
      return Failf("env {}: {} {} has no key {}", e.name, kind, ref.name, Quote(ref.key));
    }
    out.emplace_back(e.name, *value);
  }
  return out;
}

Result<std::vector<std::string>> SecretValues(store::Store& store, const std::string& ns) {
  std::vector<std::string> out;
  STRAKE_TRY_ASSIGN(secrets, store.List("Secret", ns));
  for (const auto& s : secrets) {
    for (auto& v : model::SecretValues(s.object)) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<std::string>> PullSecrets(store::Store& store, const std::string& ns,
                                             const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    STRAKE_TRY_ASSIGN(got, store.Get(store::Key{"Secret", ns, name}));
    if (!got) continue;  // as the kubelet: pulled without it
    auto key = model::DockerConfigKey(got->object.value("type", ""));
    if (!key) continue;
    if (auto text = model::SecretValue(got->object, *key)) out.push_back(std::move(*text));
  }
  return out;
}

Status ReadRevisionInputs(store::Store& store, RevisionSpec& rs) {
  if (!rs.pod.containers.empty()) {
    PodFields fields{"", rs.ns, "", "", rs.pod.labels, rs.pod.annotations};
    STRAKE_TRY_ASSIGN(env, ResolveEnv(store, rs.ns, rs.pod.containers.front(), &fields));
    rs.env = std::move(env);
  }
  STRAKE_TRY_ASSIGN(secrets, PullSecrets(store, rs.ns, rs.pod.image_pull_secrets));
  rs.pull_secrets = std::move(secrets);
  return Ok();
}

Result<std::map<std::string, RevisionObservation>> RolloutReconciler::Observe(
    const std::string& ns, const std::string& workload) {
  return ObserveMasked(store_, target_, ns, workload);
}

Result<std::map<std::string, RevisionObservation>> ObserveMasked(store::Store& store,
                                                                 WorkloadTarget& target,
                                                                 const std::string& ns,
                                                                 const std::string& workload) {
  auto revisions = target.Observe(ns, workload);
  bool told = std::any_of(revisions.begin(), revisions.end(),
                          [](const auto& r) { return !r.second.problem.empty(); });
  if (!told) return revisions;
  STRAKE_TRY_ASSIGN(values, SecretValues(store, ns));
  SecretMasker masker;
  for (const auto& v : values) (void)masker.Add(v);
  for (auto& [hash, r] : revisions) r.problem = masker.Mask(r.problem);
  return revisions;
}

Result<model::PodTemplate> RolloutReconciler::RevisionTemplate(const std::string& ns,
                                                               const std::string& name,
                                                               const std::string& hash, Json* raw) {
  auto got = store_.Get(Key(kRevisionKind, ns, name + "-" + hash));
  if (!got) return tl::unexpected(got.error());
  if (!*got) return Failf("revision {} of rollout {} is not recorded", hash, name);
  const Json& tmpl = (*got)->object["spec"]["template"];
  if (raw) *raw = tmpl;
  Json labels =
      tmpl.contains("metadata") ? tmpl["metadata"].value("labels", Json::object()) : Json::object();
  Json spec = {{"selector", {{"matchLabels", labels}}},
               {"template", tmpl},
               {"strategy", {{"canary", Json::object()}}}};
  auto decoded = model::DecodeRolloutSpec(spec);
  if (!decoded) return tl::unexpected(decoded.error());
  return decoded->pod;
}

namespace {

int64_t RevisionOf(const store::Resource& r) { return r.object["spec"].value("revision", 0); }

// When the record was first made (its first revision number): records made
// before firstRevision was kept fall back to their revision.
int64_t FirstRevisionOf(const store::Resource& r) {
  return r.object["spec"].value("firstRevision", RevisionOf(r));
}

}  // namespace

Result<RecordedRevisions> RolloutReconciler::RecordRevision(const store::Resource& rollout,
                                                            const std::string& name,
                                                            const std::string& hash,
                                                            const Json& tmpl, int history_limit,
                                                            const std::string& keep_hash) {
  const std::string& ns = rollout.key.ns;
  auto all = store_.List(kRevisionKind, ns, rollout.uid);
  if (!all) return tl::unexpected(all.error());
  const std::string key_name = name + "-" + hash;
  int64_t newest_other = 0;
  store::Resource* mine = nullptr;
  for (auto& r : *all) {
    if (r.key.name == key_name) {
      mine = &r;
    } else {
      newest_other = std::max(newest_other, RevisionOf(r));
    }
  }
  RecordedRevisions out;
  out.revision = newest_other + 1;
  if (mine && RevisionOf(*mine) > newest_other) {
    out.revision = RevisionOf(*mine);  // already the newest: nothing to write
  } else if (mine) {
    // Applied again after others (re-apply, undo): a new revision number, as
    // Kubernetes renumbers a ReplicaSet that becomes current again; a new
    // number means new AnalysisRuns.
    store::Resource upd = *mine;
    upd.object["spec"]["firstRevision"] = FirstRevisionOf(*mine);
    upd.object["spec"]["revision"] = out.revision;
    auto w = store_.Update(upd, upd.resource_version);
    if (!w) return tl::unexpected(w.error());
    Log(LogLevel::kInfo, "{} {}/{}: revision {} is {} again (was revision {})", kRevisionKind, ns,
        name, out.revision, hash, RevisionOf(*mine));
    *mine = upd;
  } else {
    store::Resource rev;
    rev.key = Key(kRevisionKind, ns, key_name);
    rev.owner = rollout.uid;
    rev.labels = {{kRolloutLabel, name}};
    rev.object = {{"apiVersion", "strake.dev/v1"},
                  {"kind", kRevisionKind},
                  {"metadata", {{"name", key_name}, {"namespace", ns}, {"labels", rev.labels}}},
                  {"spec",
                   {{"rollout", name},
                    {"hash", hash},
                    {"revision", out.revision},
                    {"firstRevision", out.revision},
                    {"template", tmpl}}}};
    auto created = store_.Create(rev, "RevisionRecorded",
                                 fmt::format("revision {} is {}", out.revision, hash));
    if (!created && !created.error().Is(ErrorCode::kAlreadyExists)) {
      return tl::unexpected(created.error());
    }
    all->push_back(rev);
  }
  // revisionHistoryLimit: the oldest records go, never the stable or current one.
  std::sort(all->begin(), all->end(),
            [](const auto& a, const auto& b) { return RevisionOf(a) > RevisionOf(b); });
  int kept = 0;
  for (const auto& r : *all) {
    std::string h = r.object["spec"].value("hash", "");
    if (h != hash && h != keep_hash && ++kept > history_limit) {
      (void)store_.Delete(r.key);
      continue;
    }
    out.first_revision[h] = FirstRevisionOf(r);
  }
  return out;
}

Status RolloutReconciler::StartAnalysis(const store::Resource& rollout, const AnalysisToStart& a,
                                        const Decision& d, int64_t revision) {
  const std::string& ns = rollout.key.ns;
  STRAKE_TRY_ASSIGN(values, ArgValues(rollout, d, a.analysis.args));
  STRAKE_TRY_ASSIGN(spec, AnalysisRunSpec(store_, ns, a.analysis.templates, values,
                                          a.analysis.dry_run, a.analysis.measurement_retention));
  store::Resource run;
  run.key = Key("AnalysisRun", ns, a.name);
  run.owner = rollout.uid;
  // analysisRunMetadata's, then strake's own (which the controller reads).
  run.labels = a.analysis.run_metadata.labels;
  run.labels[kRolloutLabel] = rollout.key.name;
  run.labels["strake.dev/analysis-kind"] = a.kind;
  Json annotations = a.analysis.run_metadata.annotations;
  annotations["rollout.argoproj.io/revision"] = std::to_string(revision);
  annotations["strake.dev/canary-hash"] = d.status.current_pod_hash;
  annotations["strake.dev/stable-hash"] = d.status.stable_rs;
  run.object = {
      {"apiVersion", "argoproj.io/v1alpha1"},
      {"kind", "AnalysisRun"},
      {"metadata",
       {{"name", a.name}, {"namespace", ns}, {"labels", run.labels}, {"annotations", annotations}}},
      {"spec", spec}};
  auto created = store_.Create(run, "AnalysisRunCreated",
                               fmt::format("{} analysis for rollout {}", a.kind, rollout.key.name));
  if (created) return Ok();
  if (!created.error().Is(ErrorCode::kAlreadyExists)) {
    return tl::unexpected(created.error());
  }
  // Made by an earlier round of this attempt (a crash before the status was
  // written): it is this run. Anything else must not decide this attempt.
  auto existing = store_.Get(run.key);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing && (*existing)->owner != rollout.uid) {
    return Failf("AnalysisRun {} exists and belongs to another rollout", Quote(a.name));
  }
  return Ok();
}

Status RolloutReconciler::StartExperiment(const store::Resource& rollout,
                                          const model::RolloutSpec& spec,
                                          const ExperimentToStart& e, const Decision& d,
                                          int64_t revision) {
  const std::string& ns = rollout.key.ns;
  const std::string& name = rollout.key.name;
  const model::ExperimentStep& step = spec.canary->steps[static_cast<size_t>(e.step)].experiment;
  Json templates = Json::array();
  for (const auto& t : step.templates) {
    Json tmpl;
    if (t.spec_ref == "stable") {
      STRAKE_TRY(RevisionTemplate(ns, name, d.status.stable_rs, &tmpl));
    } else {
      tmpl = rollout.object["spec"]["template"];
    }
    for (const auto& [k, v] : t.labels) tmpl["metadata"]["labels"][k] = v;
    for (const auto& [k, v] : t.annotations) tmpl["metadata"]["annotations"][k] = v;
    Json selector = Json::object();
    for (const auto& [k, v] : t.selector.empty() ? spec.selector : t.selector) selector[k] = v;
    for (const auto& [k, v] : t.labels) selector[k] = v;
    Json entry = {{"name", t.name},
                  {"selector", {{"matchLabels", selector}}},
                  {"template", tmpl},
                  {"minReadySeconds", spec.min_ready_seconds}};
    if (t.replicas) entry["replicas"] = *t.replicas;
    if (t.service || t.weight > 0) {
      entry["service"] = Json::object();
      if (!t.service_name.empty()) entry["service"]["name"] = t.service_name;
    }
    templates.push_back(std::move(entry));
  }
  Json analyses = Json::array();
  for (const auto& a : step.analyses) {
    Json args = Json::array();
    STRAKE_TRY_ASSIGN(values, ArgValues(rollout, d, a.args));
    for (const auto& [arg, value] : values) args.push_back({{"name", arg}, {"value", value}});
    analyses.push_back({{"name", a.name},
                        {"templateName", a.ref.name},
                        {"clusterScope", a.ref.cluster_scope},
                        {"requiredForCompletion", a.required_for_completion},
                        {"args", args}});
  }
  Json exp_spec = {{"templates", templates},
                   {"analyses", analyses},
                   {"progressDeadlineSeconds", spec.progress_deadline_seconds}};
  if (step.duration) exp_spec["duration"] = fmt::format("{}ms", step.duration->count());
  if (step.scale_down_delay_seconds)
    exp_spec["scaleDownDelaySeconds"] = *step.scale_down_delay_seconds;
  for (const auto& metric : step.dry_run) exp_spec["dryRun"].push_back({{"metricName", metric}});
  if (!step.run_metadata.labels.empty() || !step.run_metadata.annotations.empty()) {
    exp_spec["analysisRunMetadata"] = {{"labels", step.run_metadata.labels},
                                       {"annotations", step.run_metadata.annotations}};
  }
  Json labels = rollout.object["metadata"].value("labels", Json::object());
  labels["rollouts-pod-template-hash"] = d.status.current_pod_hash;
  labels[kRolloutLabel] = name;
  store::Resource exp;
  exp.key = Key("Experiment", ns, e.name);
  exp.owner = rollout.uid;
  exp.labels = model::StringMap(labels);
  exp.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "Experiment"},
                {"metadata",
                 {{"name", e.name},
                  {"namespace", ns},
                  {"labels", labels},
                  {"annotations",
                   {{"rollout.argoproj.io/revision", std::to_string(revision)},
                    {"strake.dev/canary-hash", d.status.current_pod_hash},
                    {"strake.dev/stable-hash", d.status.stable_rs}}}}},
                {"spec", exp_spec}};
  // The Experiment as Argo would write it must be one strake reads: say
  // what is wrong here rather than leave an Experiment that errors.
  if (auto checked = model::DecodeExperimentSpec(exp_spec); !checked)
    return tl::unexpected(checked.error());
  auto created = store_.Create(exp, "ExperimentCreated",
                               fmt::format("step {} of rollout {}", e.step + 1, name));
  if (created) return Ok();
  if (!created.error().Is(ErrorCode::kAlreadyExists)) return tl::unexpected(created.error());
  auto existing = store_.Get(exp.key);
  if (!existing) return tl::unexpected(existing.error());
  if (*existing && (*existing)->owner != rollout.uid)
    return Failf("Experiment {} exists and belongs to another object", Quote(e.name));
  return Ok();  // made by an earlier round of this attempt (a crash before the status was written)
}

Status RolloutReconciler::EndExperiments(const store::Resource& rollout,
                                         const model::RolloutSpec& spec, const Decision& d) {
  bool has_step =
      spec.canary && std::any_of(spec.canary->steps.begin(), spec.canary->steps.end(),
                                 [](const model::CanaryStep& s) {
                                   return s.kind == model::CanaryStep::Kind::kExperiment;
                                 });
  if (!has_step && d.terminate_experiments.empty()) return Ok();
  // Every Experiment of the Rollout but the current one ends, as in Argo
  // (promote past its step, abort, a new revision, a round lost to a crash).
  STRAKE_TRY_ASSIGN(owned, store_.List("Experiment", rollout.key.ns, rollout.uid));
  for (const auto& listed : owned) {
    if (listed.key.name == d.status.current_experiment) continue;
    // The Experiment's own status writes race this one: read it again on
    // a conflict (a terminate lost here might never be asked for again).
    std::optional<store::Resource> ex = listed;
    for (int attempt = 0; ex && attempt < 5; ++attempt) {
      const Json& st = ex->status;
      if (IsFinishedPhase(st.is_object() ? st.value("phase", "") : "")) break;
      if (ex->object["spec"].value("terminate", false)) break;
      store::Resource upd = *ex;
      upd.object["spec"]["terminate"] = true;
      auto w = store_.Update(upd, upd.resource_version);
      if (w) break;
      if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
      STRAKE_TRY_ASSIGN(again, store_.Get(listed.key));
      ex = again;
    }
  }
  return Ok();
}

namespace {

// The stable's part of t's traffic (what the canary and the extra backends
// leave) shared between its `stable_ready` replicas and those alongside, by
// ready counts.
void ShareStable(ServiceTraffic& t, int stable_ready, const std::vector<ReadyBackend>& alongside) {
  int others = 0;
  for (const auto& b : alongside) others += b.ready;
  if (others == 0) return;
  int share = 100 - t.canary_weight;
  for (const auto& e : t.extra) share -= e.weight;
  for (const auto& b : alongside) {
    if (b.ready > 0)
      t.extra.push_back({b.workload, b.hash, share * b.ready / (stable_ready + others)});
  }
}

}  // namespace

Status RolloutReconciler::ApplyTraffic(const std::string& ns, const std::string& name,
                                       const model::RolloutSpec& spec, const Decision& d,
                                       const std::map<std::string, RevisionObservation>& observed,
                                       const std::vector<ExtraBackend>& extra,
                                       const std::vector<ReadyBackend>& alongside,
                                       ServiceIssues* issues) {
  // service name -> (stable-or-active hash, canary-or-preview hash, weight)
  struct Want {
    std::string service;
    std::string stable;
    std::string canary;
    int weight = 0;
    bool routes = false;
    bool production = false;  // the stable or active Service
  };
  std::vector<Want> wants;
  // Without trafficRouting a canary superseded mid-update drains beside the
  // stable and the new canary: Services over every revision's pods balance
  // over its ready replicas too.
  std::vector<ReadyBackend> over_pods = alongside;
  const bool superseded = spec.canary && !spec.canary->traffic_routing &&
                          !d.draining_hash.empty() && !d.canary_hash.empty() &&
                          d.draining_hash != d.canary_hash;
  if (superseded)
    over_pods.push_back(
        {name, d.draining_hash, ServingReplicas(observed, d.replicas, d.draining_hash)});
  std::vector<ReadyBackend> production = alongside;
  if (spec.canary) {
    const auto& c = *spec.canary;
    if (!c.stable_service.empty()) {
      Want w{c.stable_service, d.stable_hash, d.canary_hash, d.canary_weight, true, true};
      if (!c.traffic_routing) {
        // Over the replicas serving, as the Service a basic canary's weight
        // is approximated for (a dropped canary's too while it drains);
        // with a canaryService beside it, over the stable's only (the
        // canary's until the stable has none left).
        if (w.canary.empty()) w.canary = d.draining_hash;
        w.weight = ServingWeight(observed, d.replicas, w.stable, w.canary);
        if (superseded && c.canary_service.empty()) {
          w.weight = d.canary_weight;  // the new canary's share of all three (ScaleBasic)
          production = over_pods;
        }
        if (!c.canary_service.empty()) {
          bool none = ServingReplicas(observed, d.replicas, d.stable_hash) == 0 &&
                      ServingReplicas(observed, d.replicas, d.canary_hash) > 0;
          w.stable = none ? d.canary_hash : d.stable_hash;
          w.canary.clear();
          w.weight = 0;
        }
      }
      wants.push_back(w);
    }
    if (!c.canary_service.empty()) {
      // After an abort the canary Service points at stable, as in Argo,
      // rather than at a canary on its way down.
      bool canary = !d.canary_hash.empty() && !d.status.abort;
      wants.push_back({c.canary_service, canary ? d.canary_hash : d.stable_hash, "", 0, false});
    }
  } else {
    const auto& b = *spec.blue_green;
    wants.push_back({b.active_service, d.active_hash, "", 0, false, true});
    if (!b.preview_service.empty()) {
      wants.push_back({b.preview_service, d.preview_hash.empty() ? d.active_hash : d.preview_hash,
                       "", 0, false});
    }
  }
  for (const auto& w : wants) {
    auto got = store_.Get(Key("Service", ns, w.service));
    if (!got) return tl::unexpected(got.error());
    if (!*got) {
      issues->problem = fmt::format("service {} not found", Quote(w.service));
      continue;
    }
    auto svc = model::DecodeService((*got)->object);
    if (!svc) {
      issues->problem = fmt::format("service {}: {}", w.service, svc.error().message);
      continue;
    }
    ServiceTraffic t;
    t.ns = ns;
    t.service = *svc;
    t.workload = name;
    t.stable_hash = w.stable;
    t.canary_hash = w.canary;
    t.canary_weight = w.weight;
    if (w.routes && !w.canary.empty()) {
      t.header_routes = d.header_routes;
      t.mirror_routes = d.mirror_routes;
    }
    if (w.routes && spec.canary && spec.canary->traffic_routing) t.extra = extra;
    // The stable or active Service serves a workloadRef's Deployment too
    // while it runs: the hand-over waits for the Rollout's replicas.
    if (w.production) ShareStable(t, ServingReplicas(observed, d.replicas, w.stable), production);
    Route(**got, std::move(t), issues);
  }
  std::set<std::string> named;
  for (const auto& w : wants) named.insert(w.service);
  return PlainServices(ns, name, spec, d, observed, named, over_pods, issues);
}

void RolloutReconciler::Route(const store::Resource& service, ServiceTraffic t,
                              ServiceIssues* issues) {
  t.address = service.status.is_object() ? service.status.value("clusterIP", "") : "";
  const std::string& name = service.key.name;
  if (t.address.empty()) {
    issues->waiting = fmt::format("service {}: waiting for its address (cluster IP)", name);
    return;
  }
  auto st = router_.SetTraffic(t);
  if (st) return;
  int port = t.service.ports.empty() ? 0 : t.service.ports.front().port;
  issues->problem =
      fmt::format("service {} cannot serve: {}", name, ServingProblem(st.error(), t.address, port));
}

bool RolloutReconciler::KeepMeshWeights(const store::Resource& rollout,
                                        const model::RolloutSpec& spec, const Decision& d,
                                        const std::vector<WeightDestination>& experiments,
                                        ServiceIssues* issues) {
  if (!spec.canary) return false;
  const model::CanaryStrategy& c = *spec.canary;
  const model::MeshRouting& mesh = c.mesh;
  if (!mesh.Any()) return false;
  const std::string& ns = rollout.key.ns;
  // Without both Services there is nothing to weigh (said when it was applied).
  if (c.stable_service.empty() || c.canary_service.empty()) return false;
  MeshTargets t{c.stable_service, c.canary_service, mesh.stable_subset, mesh.canary_subset,
                experiments};
  int weight = d.canary_hash.empty() ? 0 : d.canary_weight;
  bool retry = false;
  // An object trafficRouting names; none (said in `issues`) if it is not there.
  auto named = [&](const char* kind, const std::string& name) -> std::optional<store::Resource> {
    auto got = store_.Get(Key(kind, ns, name));
    if (!got) {
      issues->problem = got.error().message;
      return std::nullopt;
    }
    if (!*got) {
      issues->problem =
          fmt::format("{} {} not found (spec.strategy.canary.trafficRouting names it)",
                      ToLower(kind), Quote(name));
    }
    return *got;
  };
  auto keep = [&](const char* kind, const std::string& name, auto&& at) {
    auto got = named(kind, name);
    if (!got) return;
    auto next = at(got->object);
    if (!next) {
      issues->problem = next.error().message;
      return;
    }
    retry |= WriteMeshObject(*got, *next, issues);
  };
  for (const auto& vs : mesh.virtual_services) {
    keep("VirtualService", vs.name,
         [&](const Json& o) { return VirtualServiceAt(o, vs, t, weight); });
  }
  if (!mesh.destination_rule.empty()) {
    keep("DestinationRule", mesh.destination_rule,
         [&](const Json& o) { return DestinationRuleAt(o, t, d.stable_hash, d.canary_hash); });
  }
  const std::string action_service =
      mesh.alb_root_service.empty() ? c.stable_service : mesh.alb_root_service;
  for (const auto& ing : mesh.alb_ingresses) {
    keep("Ingress", ing, [&](const Json& o) {
      return AlbIngressAt(o, mesh.alb_annotation_prefix + "/actions." + action_service,
                          action_service, t, mesh.alb_service_port, weight);
    });
  }
  for (const auto& ing : mesh.nginx_ingresses) {
    auto stable = named("Ingress", ing);
    if (!stable) continue;
    std::string name = CanaryIngressName(rollout.key.name, ing);
    auto next = NginxCanaryIngress(stable->object, ns, name, mesh, t, weight);
    if (!next) {
      issues->problem = next.error().message;
      continue;
    }
    retry |= KeepCanaryCopy(rollout, "Ingress", name, &*next, issues);
  }
  if (!mesh.traefik_service.empty()) {
    keep("TraefikService", mesh.traefik_service,
         [&](const Json& o) { return TraefikServiceAt(o, t, weight); });
  }
  if (!mesh.apisix_route.empty()) {
    keep("ApisixRoute", mesh.apisix_route,
         [&](const Json& o) { return ApisixRouteAt(o, mesh.apisix_rules, t, weight); });
  }
  if (mesh.gateway_api) retry |= KeepGatewayRoutes(rollout, *mesh.gateway_api, t, weight, issues);
  for (const auto& mapping : mesh.ambassador_mappings) {
    auto base = named("Mapping", mapping);
    if (!base) continue;
    // As Argo: a canary Mapping while the canary has weight, none at 0.
    Json next = AmbassadorCanaryMapping(base->object, ns, t, weight);
    retry |= KeepCanaryCopy(rollout, "Mapping", AmbassadorCanaryName(mapping),
                            weight > 0 ? &next : nullptr, issues);
  }
  if (mesh.smi) {
    std::string split = mesh.smi_traffic_split.empty() ? rollout.key.name : mesh.smi_traffic_split;
    std::string root = mesh.smi_root_service.empty() ? c.stable_service : mesh.smi_root_service;
    auto got = store_.Get(Key("TrafficSplit", ns, split));
    if (!got) {
      issues->problem = got.error().message;
    } else if (!*got) {  // Argo makes it when the files hold none
      store::Resource ts;
      ts.key = Key("TrafficSplit", ns, split);
      ts.owner = rollout.uid;
      ts.object = TrafficSplitAt(Json(), ns, split, root, t, weight);
      auto made = store_.Create(ts, "Created", "made for rollout " + rollout.key.name);
      if (!made && !made.error().Is(ErrorCode::kAlreadyExists))
        issues->problem = made.error().message;
      retry |= !made;
    } else {
      retry |= WriteMeshObject(**got, TrafficSplitAt((*got)->object, ns, split, root, t, weight),
                               issues);
    }
  }
  return retry;
}

bool RolloutReconciler::KeepGatewayRoutes(const store::Resource& rollout,
                                          const model::GatewayApiRouting& g, const MeshTargets& t,
                                          int weight, ServiceIssues* issues) {
  const std::string& ns = g.ns.empty() ? rollout.key.ns : g.ns;
  std::vector<store::Resource> routes;
  for (const auto& r : g.routes) {
    auto got = store_.Get(Key(r.kind, ns, r.name));
    if (!got) {
      issues->problem = got.error().message;
    } else if (!*got) {
      issues->problem = fmt::format(
          "{} {} not found in namespace {} (spec.strategy.canary.trafficRouting.plugins names it)",
          ToLower(r.kind), Quote(r.name), ns);
    } else {
      routes.push_back(std::move(**got));
    }
  }
  for (const auto& sel : g.selectors) {
    auto listed = store_.List(sel.kind, ns);
    if (!listed) {
      issues->problem = listed.error().message;
      continue;
    }
    for (auto& r : *listed) {
      bool named = std::any_of(routes.begin(), routes.end(), [&](const store::Resource& x) {
        return x.key.kind == r.key.kind && x.key.name == r.key.name;
      });
      if (!named && Selects(sel.match_labels, r.labels)) routes.push_back(std::move(r));
    }
  }
  if (routes.empty() && issues->problem.empty()) {
    // The plugin's GatewayAPIManifestError: its selectors matched nothing.
    issues->problem = fmt::format(
        "no Gateway API route in namespace {} matches the gatewayAPI plugin's route selectors", ns);
  }
  bool retry = false;
  for (const auto& r : routes) {
    auto next = GatewayRouteAt(r.object, g, t, weight);
    if (!next) {
      issues->problem = next.error().message;
      continue;
    }
    retry |= WriteMeshObject(r, *next, issues);
  }
  return retry;
}

bool RolloutReconciler::KeepCanaryCopy(const store::Resource& rollout, const char* kind,
                                       const std::string& name, const Json* next,
                                       ServiceIssues* issues) {
  store::Key key = Key(kind, rollout.key.ns, name);
  auto got = store_.Get(key);
  if (!got) {
    issues->problem = got.error().message;
    return false;
  }
  if (*got && (*got)->owner != rollout.uid) {
    issues->problem = fmt::format("{} {} exists and is not the canary {} of rollout {}",
                                  ToLower(kind), Quote(name), ToLower(kind), rollout.key.name);
    return false;
  }
  if (!next) {  // none wanted: the one there is goes
    if (!*got) return false;
    auto gone = store_.Delete(key);
    if (!gone && !gone.error().Is(ErrorCode::kNotFound)) issues->problem = gone.error().message;
    return !gone;
  }
  if (*got) return WriteMeshObject(**got, *next, issues);
  // Argo makes it, owned by the Rollout.
  store::Resource copy;
  copy.key = key;
  copy.owner = rollout.uid;
  copy.object = *next;
  auto made = store_.Create(
      copy, "Created", fmt::format("canary {} of rollout {}", ToLower(kind), rollout.key.name));
  if (!made && !made.error().Is(ErrorCode::kAlreadyExists)) issues->problem = made.error().message;
  return !made;
}

bool RolloutReconciler::WriteMeshObject(const store::Resource& current, const Json& next,
                                        ServiceIssues* issues) {
  if (next == current.object) return false;
  store::Resource upd = current;
  upd.object = next;
  auto w = store_.Update(upd, current.resource_version);
  if (w) return false;
  if (w.error().Is(ErrorCode::kConflict)) return true;
  issues->problem = w.error().message;
  return false;
}

Status RolloutReconciler::PlainServices(const std::string& ns, const std::string& name,
                                        const model::RolloutSpec& spec, const Decision& d,
                                        const std::map<std::string, RevisionObservation>& observed,
                                        const std::set<std::string>& named,
                                        const std::vector<ReadyBackend>& alongside,
                                        ServiceIssues* issues) {
  // The two revisions the pods are of: stable (or active) and the one
  // coming (canary or preview). A Service that selects them all sends each
  // request to a ready replica of either, as kube-proxy would.
  std::string old_hash = spec.canary ? d.stable_hash : d.active_hash;
  std::string new_hash = spec.canary ? d.canary_hash : d.preview_hash;
  if (new_hash.empty()) new_hash = d.draining_hash;
  auto ready = [&](const std::string& h) { return ServingReplicas(observed, d.replicas, h); };
  auto services = store_.List("Service", ns);
  if (!services) return tl::unexpected(services.error());
  for (const auto& sr : *services) {
    if (named.count(sr.key.name)) continue;
    auto svc = model::DecodeService(sr.object);
    if (!svc || svc->selector.empty() || !Selects(svc->selector, spec.pod.labels)) continue;
    ServiceTraffic t;
    t.ns = ns;
    t.service = *svc;
    t.workload = name;
    int o = ready(old_hash), n = new_hash == old_hash ? 0 : ready(new_hash);
    int others = 0;
    for (const auto& b : alongside) others += b.ready;
    int total = o + n + others;
    if (n > 0 && o > 0) {
      t.stable_hash = old_hash;
      t.canary_hash = new_hash;
      t.canary_weight = n * 100 / total;
    } else {
      t.stable_hash = n > 0 ? new_hash : old_hash;
    }
    for (const auto& b : alongside) {
      if (b.ready > 0) t.extra.push_back({b.workload, b.hash, b.ready * 100 / total});
    }
    Route(sr, std::move(t), issues);
  }
  return Ok();
}

void RolloutReconciler::ScaleRevisions(const std::string& ns, const std::string& workload,
                                       const std::string& current_hash,
                                       const model::PodTemplate& current_pod,
                                       const std::map<std::string, int>& replicas,
                                       std::string* problem) {
  std::set<std::string> keep;
  for (const auto& [h, n] : replicas) {
    keep.insert(h);
    Result<model::PodTemplate> pod = h == current_hash ? Result<model::PodTemplate>(current_pod)
                                                       : RevisionTemplate(ns, workload, h, nullptr);
    if (!pod) {
      *problem = pod.error().message;
      continue;
    }
    RevisionSpec rs;
    rs.ns = ns;
    rs.workload = workload;
    rs.hash = h;
    rs.pod = *pod;
    rs.replicas = n;
    if (auto read = ReadRevisionInputs(store_, rs); !read) {
      *problem = read.error().message;
      continue;
    }
    auto st = target_.ScaleRevision(rs);
    if (!st) *problem = st.error().message;
  }
  target_.Prune(ns, workload, keep);
}

void RolloutReconciler::EndRuns(const store::Resource& ro, const model::RolloutSpec& spec,
                                const RolloutStatus& before, const Decision& d,
                                const std::map<std::string, int64_t>& recorded) {
  const std::string& ns = ro.key.ns;
  for (const auto& run : d.terminate_analysis) {
    auto ar = store_.Get(Key("AnalysisRun", ns, run));
    if (ar && *ar && !(*ar)->object["spec"].value("terminate", false)) {
      store::Resource upd = **ar;
      upd.object["spec"]["terminate"] = true;
      (void)store_.Update(upd, upd.resource_version);
    }
  }
  auto owned = store_.List("AnalysisRun", ns, ro.uid);
  if (!owned) return;  // the next round tries again
  std::vector<OwnedRun> runs;
  for (const auto& r : *owned) {
    const Json& annotations = r.object["metadata"].value("annotations", Json::object());
    std::string hash = annotations.value("strake.dev/canary-hash", "");
    const std::string text = annotations.value("rollout.argoproj.io/revision", "");
    int64_t revision = 0;
    (void)std::from_chars(text.data(), text.data() + text.size(), revision);  // 0 if not one
    runs.push_back({r.key.name, r.status.is_object() ? r.status.value("phase", "") : "",
                    r.created_ms, hash.empty() || recorded.count(hash) > 0, revision});
  }
  // In use: the runs this round's status names, and those the stored one
  // does (in case this round's write loses a race).
  std::set<std::string> in_use;
  for (const RolloutStatus* st : {&before, &d.status}) {
    in_use.insert({st->step_analysis_run, st->background_analysis_run, st->pre_promotion_run,
                   st->post_promotion_run});
  }
  for (const auto& a : d.start_analysis) in_use.insert(a.name);
  for (const auto& name : RunsToDelete(std::move(runs), in_use, spec.successful_run_history_limit,
                                       spec.unsuccessful_run_history_limit)) {
    auto gone = store_.Delete(Key("AnalysisRun", ns, name));
    if (!gone && !gone.error().Is(ErrorCode::kNotFound))
      Log(LogLevel::kWarn, "analysisrun {}/{}: {}", ns, name, gone.error().message);
  }
}

void RolloutReconciler::ObserveStepPlugins(const std::string& ns, const model::RolloutSpec& spec,
                                           Observation* obs) {
  if (!spec.canary || std::none_of(spec.canary->steps.begin(), spec.canary->steps.end(),
                                   [](const model::CanaryStep& s) {
                                     return s.kind == model::CanaryStep::Kind::kPlugin;
                                   })) {
    return;
  }
  const model::KeyRef ref{kRolloutsConfigMap, "stepPlugins", true};
  for (const std::string& where : {ns, std::string(kRolloutsConfigNamespace)}) {
    auto yaml = ReadKeyRef(store_, where, ref, false);
    if (!yaml) {
      obs->step_plugins_error =
          fmt::format("configmap {}/{}: {}", where, kRolloutsConfigMap, yaml.error().message);
      return;
    }
    if (!*yaml) continue;
    auto plugins = ParseStepPlugins(**yaml);
    if (!plugins) {
      obs->step_plugins_error =
          fmt::format("configmap {}/{}: {}", where, kRolloutsConfigMap, plugins.error().message);
    } else {
      obs->step_plugins = std::move(*plugins);
    }
    return;
  }
}

Status RolloutReconciler::ObserveRuns(const store::Resource& ro, const RolloutStatus& status,
                                      Observation* obs, Json* experiment_status) {
  const std::string& ns = ro.key.ns;
  for (const std::string* run : {&status.step_analysis_run, &status.background_analysis_run,
                                 &status.pre_promotion_run, &status.post_promotion_run}) {
    if (run->empty()) continue;
    auto ar = store_.Get(Key("AnalysisRun", ns, *run));
    if (ar && *ar && (*ar)->owner == ro.uid) {  // never another rollout's run of the same name
      obs->analysis_phase[*run] = (*ar)->status.value("phase", "Pending");
      obs->analysis_message[*run] = (*ar)->status.value("message", "");
    }
  }

  if (!status.current_experiment.empty()) {
    auto ex = store_.Get(Key("Experiment", ns, status.current_experiment));
    if (!ex) return tl::unexpected(ex.error());
    if (!*ex || (*ex)->owner != ro.uid) {
      // Deleted (or the name taken by another): made again, as Argo does;
      // one that belongs to another aborts the update when made.
      obs->experiment_phase[status.current_experiment] = "NotFound";
    } else if ((*ex)->status.is_object()) {
      *experiment_status = (*ex)->status;
      obs->experiment_phase[status.current_experiment] = experiment_status->value("phase", "");
      obs->experiment_message[status.current_experiment] = experiment_status->value("message", "");
    }
  }
  return Ok();
}

void RolloutReconciler::ScaleReferencedDeployment(const store::Resource& deployment,
                                                  const model::WorkloadRef& ref, int64_t revision,
                                                  int desired, const RolloutStatus& status) {
  const Json& dspec = deployment.object["spec"];
  int current = dspec.is_object() ? dspec.value("replicas", 1) : 1;
  auto want = DeploymentScaleFor(ref.scale_down, revision, status.phase, desired,
                                 status.ready_replicas, current);
  if (!want) return;
  store::Resource scaled = deployment;
  scaled.object["spec"]["replicas"] = *want;
  auto w = store_.Update(scaled, deployment.resource_version);
  if (!w) {
    // A conflict is a newer Deployment: the next round scales that one.
    if (!w.error().Is(ErrorCode::kConflict))
      Log(LogLevel::kWarn, "deployment {}/{}: scaling to {} for its rollout: {}", deployment.key.ns,
          deployment.key.name, *want, w.error().message);
    return;
  }
  Log(LogLevel::kInfo, "deployment {}/{} scaled to {} for the rollout that references it",
      deployment.key.ns, deployment.key.name, *want);
}

Result<controller::ReconcileResult> RolloutReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  auto got = store_.Get(Key("Rollout", ns, name));
  if (!got) return tl::unexpected(got.error());
  if (!*got) {
    target_.Prune(ns, name, {});
    return controller::ReconcileResult{};
  }
  store::Resource& ro = **got;
  RolloutStatus status = RolloutStatus::FromJson(ro.status);
  auto write = [&](const RolloutStatus& st, const std::string& reason,
                   const std::string& message) -> Result<controller::ReconcileResult> {
    Json next = st.ToJson();
    if (next == ro.status && reason.empty()) return controller::ReconcileResult{};
    auto w = store_.UpdateStatus(ro.key, next, ro.resource_version,
                                 reason.empty() ? "Reconciled" : reason, message);
    if (!w) {
      if (w.error().Is(ErrorCode::kConflict)) {
        return controller::ReconcileResult{std::chrono::milliseconds(1)};  // moved on: look again
      }
      return tl::unexpected(w.error());
    }
    return controller::ReconcileResult{};
  };

  // With a workloadRef, the template (and selector) are the Deployment's.
  auto workload = ResolveWorkloadRef(store_, ro);
  if (!workload && !workload.error().Is(ErrorCode::kNotFound) &&
      !workload.error().Is(ErrorCode::kInvalid))
    return tl::unexpected(workload.error());
  auto spec = workload ? model::DecodeRolloutSpec(ro.object.value("spec", Json::object()))
                       : Result<model::RolloutSpec>(tl::unexpected(workload.error()));
  if (!spec) {
    status.phase = "Degraded";
    status.message = "InvalidSpec: " + spec.error().message;
    status.observed_generation = ro.generation;
    return write(status,
                 status.message == RolloutStatus::FromJson(ro.status).message ? "" : "InvalidSpec",
                 status.message);
  }
  const Json& tmpl = ro.object["spec"]["template"];
  std::string hash = PodTemplateHash(tmpl);
  auto recorded =
      RecordRevision(ro, name, hash, tmpl, spec->revision_history_limit, status.stable_rs);
  if (!recorded) return tl::unexpected(recorded.error());

  Observation obs;
  obs.desired_hash = hash;
  obs.revision = recorded->revision;
  obs.first_revision = std::move(recorded->first_revision);
  obs.now = clock_.Now();
  obs.generation = ro.generation;
  STRAKE_TRY_ASSIGN(revisions, Observe(ns, name));
  obs.revisions = std::move(revisions);
  auto min_ready_wait = ApplyMinReady(obs.revisions, spec->min_ready_seconds);
  Json experiment_status;  // the current experiment's, for its templates' hashes
  STRAKE_TRY(ObserveRuns(ro, status, &obs, &experiment_status));
  ObserveStepPlugins(ns, *spec, &obs);

  Decision d = Step(name, *spec, status, obs);
  // A replica that becomes available is no event of the target's: look again then.
  if (min_ready_wait && (!d.requeue_after || *d.requeue_after > *min_ready_wait))
    d.requeue_after = *min_ready_wait + std::chrono::milliseconds(10);

  // Analysis first: a template that is missing aborts the update.
  for (const auto& a : d.start_analysis) {
    auto st = StartAnalysis(ro, a, d, obs.revision);
    if (!st) {
      std::string why = fmt::format("analysis {}: {}", a.name, st.error().message);
      RolloutStatus aborted = d.status;
      (void)ApplyAction("abort", false, *spec, aborted, obs.now);
      aborted.message = "RolloutAborted: " + why;
      aborted.step_analysis_run.clear();
      aborted.background_analysis_run.clear();
      return write(aborted, "RolloutAborted", why);
    }
  }
  EndRuns(ro, *spec, status, d, obs.first_revision);
  if (d.start_experiment) {
    auto st = StartExperiment(ro, *spec, *d.start_experiment, d, obs.revision);
    if (!st) {
      std::string why =
          fmt::format("experiment {}: {}", d.start_experiment->name, st.error().message);
      RolloutStatus aborted = d.status;
      (void)ApplyAction("abort", false, *spec, aborted, obs.now);
      aborted.message = "RolloutAborted: " + why;
      aborted.current_experiment.clear();
      return write(aborted, "RolloutAborted", why);
    }
  }
  STRAKE_TRY(EndExperiments(ro, *spec, d));
  // The weighted templates of the running experiment, by their revisions.
  // The mesh objects name their Services.
  std::vector<ExtraBackend> extra;
  std::vector<WeightDestination> destinations;
  for (const auto& w : d.experiment_weights) {
    for (const auto& t : experiment_status.value("templateStatuses", Json::array())) {
      if (t.value("name", "") != w.template_name) continue;
      extra.push_back({ExperimentWorkload(w.experiment), t.value("podTemplateHash", ""), w.weight});
      if (!t.value("serviceName", "").empty())
        destinations.push_back({t.value("serviceName", ""), w.weight});
    }
  }

  // Traffic before replicas: nothing that is about to go still gets requests.
  ServiceIssues issues;
  STRAKE_TRY_ASSIGN(alongside, Alongside(*workload));
  STRAKE_TRY(ApplyTraffic(ns, name, *spec, d, obs.revisions, extra, alongside, &issues));
  if (KeepMeshWeights(ro, *spec, d, destinations, &issues)) Requeue(d, std::chrono::seconds(1));
  std::string& problem = issues.problem;
  ScaleRevisions(ns, name, hash, spec->pod, d.replicas, &problem);
  if (!problem.empty()) {
    d.status.message = problem;
    if (d.status.phase == "Healthy") d.status.phase = "Degraded";
    Requeue(d, std::chrono::seconds(5));
  } else if (!issues.waiting.empty() && d.status.phase == "Healthy") {
    // Not Healthy while a Service of it cannot serve yet.
    d.status.phase = "Progressing";
    d.status.message = issues.waiting;
    Requeue(d, std::chrono::seconds(1));
  }
  FinishWorkloadRef(*workload, *spec, obs.revision, d.status);
  auto w = write(d.status, d.reason, d.event);
  if (!w) return w;
  if (!d.reason.empty()) Log(LogLevel::kInfo, "rollout {}/{}: {}: {}", ns, name, d.reason, d.event);
  controller::ReconcileResult r;
  r.requeue_after = w->requeue_after ? w->requeue_after : d.requeue_after;
  return r;
}

Result<std::vector<ReadyBackend>> RolloutReconciler::Alongside(
    const std::optional<ResolvedWorkload>& workload) {
  std::vector<ReadyBackend> out;
  if (!workload || !workload->deployment) return out;
  const store::Key& key = workload->deployment->key;
  const std::string dep_workload = "deployment." + key.name;
  STRAKE_TRY_ASSIGN(revisions, Observe(key.ns, dep_workload));
  for (const auto& [h, r] : revisions) out.push_back({dep_workload, h, r.ready});
  return out;
}

void RolloutReconciler::FinishWorkloadRef(const std::optional<ResolvedWorkload>& workload,
                                          const model::RolloutSpec& spec, int64_t revision,
                                          RolloutStatus& status) {
  if (!workload) {
    status.workload_observed_generation.clear();  // as Argo, when the reference goes
    return;
  }
  if (!workload->missing.empty()) {
    // Its pods keep serving the current revision; it says what is wrong.
    status.phase = "Degraded";
    status.message = "InvalidSpec: " + workload->missing;
    return;
  }
  status.workload_observed_generation = std::to_string(workload->deployment->generation);
  ScaleReferencedDeployment(*workload->deployment, workload->ref, revision, spec.replicas, status);
}

Result<bool> RolloutReconciler::ReferencedByRollout(const std::string& ns,
                                                    const std::string& deployment) {
  STRAKE_TRY_ASSIGN(rollouts, store_.List("Rollout", ns));
  for (auto& r : rollouts) {
    if (!ReferencesDeployment(r.object, deployment)) continue;
    // Only one that can route: an invalid Rollout leaves the Deployment its Services.
    auto resolved = ResolveWorkloadRef(store_, r);
    if (resolved && model::DecodeRolloutSpec(r.object.value("spec", Json::object()))) return true;
  }
  return false;
}

Result<controller::ReconcileResult> RolloutReconciler::ReconcileDeployment(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  // Its own workload name, so a Deployment and a Rollout may share a name.
  const std::string workload = "deployment." + name;
  auto got = store_.Get(Key("Deployment", ns, name));
  if (!got) return tl::unexpected(got.error());
  if (!*got) {
    target_.Prune(ns, workload, {});
    return controller::ReconcileResult{};
  }
  store::Resource& dep = **got;
  Json status = dep.status.is_object() ? dep.status : Json::object();
  auto write = [&](const Json& next, const std::string& reason,
                   const std::string& message) -> Result<controller::ReconcileResult> {
    if (next == dep.status) return controller::ReconcileResult{};
    auto w = store_.UpdateStatus(dep.key, next, dep.resource_version, reason, message);
    if (!w && w.error().Is(ErrorCode::kConflict)) {
      return controller::ReconcileResult{std::chrono::milliseconds(1)};
    }
    if (!w) return tl::unexpected(w.error());
    return controller::ReconcileResult{};
  };
  auto d = model::DecodeDeployment(dep.object);
  if (!d) {
    Json next = status;
    next["phase"] = "Degraded";
    next["message"] = "InvalidSpec: " + d.error().message;
    return write(next, "InvalidSpec", next["message"]);
  }
  const Json& tmpl = dep.object["spec"]["template"];
  std::string hash = PodTemplateHash(tmpl);
  STRAKE_TRY(RecordRevision(dep, workload, hash, tmpl, d->revision_history_limit, ""));
  STRAKE_TRY_ASSIGN(revisions, Observe(ns, workload));
  // Available (minReadySeconds) decides the rollout's pace; ready, the traffic.
  auto available = revisions;
  (void)ApplyMinReady(available, d->min_ready_seconds);
  DeploymentPlan plan = StepDeployment(*d, hash, available);

  // Traffic first: every Service that selects the pods, split between the
  // new revision and the old one with most ready replicas by ready counts.
  ServiceIssues issues;
  std::string& problem = issues.problem;
  std::string old_hash;
  int old_ready = -1, new_ready = revisions.count(hash) ? revisions[hash].ready : 0;
  for (const auto& [h, r] : revisions) {
    if (h != hash && r.ready > old_ready) {
      old_hash = h;
      old_ready = r.ready;
    }
  }
  // A Deployment a Rollout references (workloadRef) leaves its Services to
  // the Rollout, which counts these replicas in while they run.
  STRAKE_TRY_ASSIGN(referenced, ReferencedByRollout(ns, name));
  auto services = referenced ? Result<std::vector<store::Resource>>() : store_.List("Service", ns);
  if (!services) return tl::unexpected(services.error());
  for (const auto& sr : *services) {
    auto svc = model::DecodeService(sr.object);
    if (!svc || svc->selector.empty()) continue;
    if (!Selects(svc->selector, d->pod.labels)) continue;
    ServiceTraffic t;
    t.ns = ns;
    t.service = *svc;
    t.workload = workload;
    if (old_hash.empty() || old_ready <= 0) {
      t.stable_hash = hash;
    } else {
      t.stable_hash = old_hash;
      t.canary_hash = hash;
      t.canary_weight = new_ready * 100 / std::max(1, new_ready + old_ready);
    }
    Route(sr, std::move(t), &issues);
  }
  ScaleRevisions(ns, workload, hash, d->pod, plan.replicas, &problem);

  int total = 0, ready = 0;
  for (const auto& [h, r] : revisions) {
    total += r.replicas;
    ready += r.ready;
  }
  Json next = {{"observedGeneration", dep.generation},
               {"currentHash", hash},
               {"replicas", total},
               {"readyReplicas", ready},
               {"availableReplicas", ready},
               {"updatedReplicas", revisions.count(hash) ? revisions[hash].replicas : 0},
               {"phase", plan.complete && issues.waiting.empty() ? "Available" : "Progressing"},
               {"message", !problem.empty()          ? problem
                           : !issues.waiting.empty() ? issues.waiting
                                                     : plan.message}};
  bool became = next["phase"] == "Available" && status.value("phase", "") != "Available";
  auto w = write(next, became ? "DeploymentAvailable" : "Reconciled",
                 became ? fmt::format("revision {} available: {} ready", hash, ready) : "");
  if (!w) return w;
  controller::ReconcileResult r;
  if (!plan.complete || !issues.waiting.empty()) r.requeue_after = std::chrono::seconds(1);
  if (!problem.empty() && !r.requeue_after) r.requeue_after = std::chrono::seconds(5);  // retry
  if (w->requeue_after) r.requeue_after = w->requeue_after;
  return r;
}

Status RolloutReconciler::Act(const std::string& ns, const std::string& name,
                              const std::string& action, bool full, int to_revision) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get(Key("Rollout", ns, name));
    if (!got) return tl::unexpected(got.error());
    if (!*got) return Failf(ErrorCode::kNotFound, "rollout {} not found", name);
    store::Resource ro = **got;
    // The template matters to an undo only (a promote, abort or retry of a
    // Rollout whose Deployment is gone still works).
    std::optional<ResolvedWorkload> workload;
    if (action == "undo") {
      STRAKE_TRY_ASSIGN(resolved, ResolveWorkloadRef(store_, ro));
      workload = std::move(resolved);
      if (workload && !workload->deployment) return Fail(ErrorCode::kNotFound, workload->missing);
    }
    auto spec = model::DecodeRolloutSpec(ro.object.value("spec", Json::object()));
    if (!spec) return tl::unexpected(spec.error());
    Result<store::Resource> written = Fail("not written");
    if (action == "undo") {
      auto revs = store_.List(kRevisionKind, ns, ro.uid);
      if (!revs) return tl::unexpected(revs.error());
      std::string current = PodTemplateHash(ro.object["spec"]["template"]);
      const store::Resource* pick = nullptr;
      int64_t best = -1;
      for (const auto& r : *revs) {
        int64_t n = r.object["spec"].value("revision", 0);
        std::string h = r.object["spec"].value("hash", "");
        if (to_revision > 0 ? n == to_revision : (h != current && n > best)) {
          pick = &r;
          best = n;
        }
      }
      if (!pick) {
        return to_revision > 0 ? Failf("rollout {} has no revision {}", name, to_revision)
                               : Failf("rollout {} has no earlier revision", name);
      }
      if (workload) {
        // As Argo's undo: the template is the Deployment's, so it changes there.
        store::Resource dep = *workload->deployment;
        dep.object["spec"]["template"] = pick->object["spec"]["template"];
        written = store_.Update(dep, dep.resource_version);
      } else {
        ro.object["spec"]["template"] = pick->object["spec"]["template"];
        written = store_.Update(ro, ro.resource_version);
      }
    } else {
      RolloutStatus st = RolloutStatus::FromJson(ro.status);
      STRAKE_TRY(ApplyAction(action, full, *spec, st, clock_.Now()));
      std::string reason = action == "promote" ? (full ? "PromotedFull" : "Promoted")
                           : action == "abort" ? "AbortedByUser"
                                               : "Retried";
      written = store_.UpdateStatus(ro.key, st.ToJson(), ro.resource_version, reason,
                                    fmt::format("{}{} by the user", action, full ? " --full" : ""));
    }
    if (written) return Ok();
    if (!written.error().Is(ErrorCode::kConflict)) {
      return tl::unexpected(written.error().Wrap(fmt::format("rollout {}: {}", name, action)));
    }
  }
  return Failf("rollout {}: {} kept conflicting with the controller", name, action);
}

}  // namespace strake::rollout
