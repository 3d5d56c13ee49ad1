#include "server/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/clock.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/mask.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "base/tz.h"
#include "delivery/approval.h"
#include "delivery/artifact.h"
#include "delivery/builtin_steps.h"
#include "delivery/file_steps.h"
#include "delivery/freight.h"
#include "delivery/gates.h"
#include "delivery/git_steps.h"
#include "delivery/http_step.h"
#include "delivery/promotion.h"
#include "delivery/promotion_task.h"
#include "delivery/pull_request.h"
#include "delivery/rollback.h"
#include "delivery/semver.h"
#include "delivery/stage.h"
#include "delivery/warehouse.h"
#include "images/registry.h"
#include "insight/notify_config.h"
#include "model/decode.h"
#include "model/kinds.h"
#include "model/merge.h"
#include "rollout/expr.h"
#include "rollout/workload_ref.h"
#include "server/auth.h"
#include "server/dora_api.h"
#include "server/pod_view.h"
#include "server/run_logs.h"

namespace strake::server {

using store::Json;

namespace {

// Who asked (the Gate's principal, server/auth.h), for the length of one
// request: "" when the request did not come through the Gate.
thread_local std::string t_caller;

struct CallerScope {
  explicit CallerScope(const Request& req) {
    auto p = PrincipalOf(req);
    t_caller = p ? p->Identity() : "";
  }
  ~CallerScope() { t_caller.clear(); }
  CallerScope(const CallerScope&) = delete;
  CallerScope& operator=(const CallerScope&) = delete;
};

bool Matches(const std::map<std::string, std::string>& labels, const std::string& selector) {
  for (const auto& term : Split(selector, ',')) {
    if (term.empty()) continue;
    size_t eq = term.find('=');
    if (eq == std::string::npos) {
      if (!labels.count(term)) return false;
      continue;
    }
    std::string k = term.substr(0, eq), v = term.substr(eq + 1);
    if (!v.empty() && v[0] == '=') v = v.substr(1);  // k==v
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

constexpr const char* kRedacted = "<redacted>";

// A Secret (or a record of one) with each value of its data and stringData
// replaced by "<redacted>", its keys kept.
void RedactSecretValues(Json& secret) {
  for (const char* field : {"data", "stringData"}) {
    if (!secret.contains(field) || !secret[field].is_object()) continue;
    for (auto& [key, v] : secret[field].items()) v = kRedacted;
  }
}

bool HasRedactedValue(const Json& secret) {
  for (const char* field : {"data", "stringData"}) {
    if (!secret.contains(field) || !secret[field].is_object()) continue;
    for (const auto& [key, v] : secret[field].items()) {
      if (v == kRedacted) return true;
    }
  }
  return false;
}

// A Secret read back from the API shows "<redacted>" for each value; written
// back as it is (an edit of its labels, `get -o yaml | apply`), each such
// value is the one strake keeps, as base64 in data. A key strake holds no
// value for is an error: the placeholder is never stored as a value.
Status KeepRedactedValues(Json& secret, const Json& stored, const std::string& what) {
  auto stored_value = [&](const std::string& key) -> std::optional<std::string> {
    if (stored.contains("stringData") && stored["stringData"].is_object() &&
        stored["stringData"].contains(key) && stored["stringData"][key].is_string()) {
      return Base64Encode(stored["stringData"][key].get<std::string>());
    }
    if (stored.contains("data") && stored["data"].is_object() && stored["data"].contains(key) &&
        stored["data"][key].is_string()) {
      return stored["data"][key].get<std::string>();
    }
    return std::nullopt;
  };
  for (const char* field : {"data", "stringData"}) {
    if (!secret.contains(field) || !secret[field].is_object()) continue;
    std::vector<std::string> keys;
    for (const auto& [key, v] : secret[field].items()) {
      if (v == kRedacted) keys.push_back(key);
    }
    for (const auto& key : keys) {
      auto value = stored_value(key);
      if (!value) {
        return Failf(ErrorCode::kInvalid,
                     "{}: {}.{}: \"{}\" stands for a value strake keeps and does not show, and "
                     "this Secret has none for {}: give the value",
                     what, field, key, kRedacted, Quote(key));
      }
      secret[field].erase(key);
      secret["data"][key] = *value;
    }
  }
  if (secret.contains("stringData") && secret["stringData"].empty()) secret.erase("stringData");
  return Ok();
}

// What the last-applied annotation keeps. A three-way apply needs only to
// know which fields were applied, so a Secret's values are not kept (not
// even as digests, which a reader could test guesses against).
Json RecordOfApply(const KindInfo& k, Json applied) {
  if (k.kind == "Secret") RedactSecretValues(applied);
  return applied;
}

// A Secret's own record of its last apply, redacted as RecordOfApply keeps
// one: a client may have written it (kubectl's client-side apply sends the
// whole object in it, values and all).
void RedactLastApplied(Json& meta) {
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return;
  Json& annotations = meta["annotations"];
  if (!annotations.contains(model::kLastApplied)) return;
  Json& text = annotations[model::kLastApplied];
  Json record = text.is_string() ? Json::parse(text.get<std::string>(), nullptr, false) : Json();
  if (!record.is_object()) {
    text = kRedacted;
    return;
  }
  RedactSecretValues(record);
  text = record.dump();
}

// Whether a PipelineRun or TaskRun has ended (its Succeeded condition is
// True or False).
bool RunEnded(const Json& status) {
  if (!status.is_object() || !status.contains("conditions")) return false;
  const Json& conditions = status["conditions"];
  return conditions.is_array() && !conditions.empty() && conditions[0].is_object() &&
         conditions[0].value("status", "Unknown") != "Unknown";
}

// As Tekton's admission has it: once a PipelineRun or TaskRun has finished,
// its spec no longer changes (a cancel comes too late; a new run is a new
// object). Labels and annotations still may.
std::optional<Response> RefuseChangeOfFinishedRun(const KindInfo& k, const store::Resource& live,
                                                  const Json& body) {
  if ((k.kind != "PipelineRun" && k.kind != "TaskRun") || !RunEnded(live.status)) {
    return std::nullopt;
  }
  auto spec = [](const Json& o) { return o.contains("spec") ? o["spec"] : Json(); };
  if (spec(live.object) == spec(body)) return std::nullopt;
  return ErrorResponse(409, "Conflict",
                       fmt::format("{} {} has already finished: its spec no longer changes",
                                   ToLower(k.kind), live.key.name));
}

}  // namespace

namespace {

const KindInfo* Served(const KindInfo* k) { return k && k->served ? k : nullptr; }

}  // namespace

const KindInfo* KindByPlural(const std::string& plural) {
  return Served(model::KindByPlural(plural));
}

const KindInfo* KindByName(const std::string& name) { return Served(model::KindByName(name)); }

const KindInfo* KindOf(const std::string& api_version, const std::string& kind) {
  return Served(model::KindOf(api_version, kind));
}

Api::Api(store::Store& store, rollout::RolloutReconciler& rollouts,
         const rollout::WorkloadTarget& workloads, rollout::TrafficRouter& traffic,
         router::RouterControl& router, const std::atomic<bool>& stopping)
    : store_(store),
      rollouts_(&rollouts),
      workloads_(&workloads),
      traffic_(&traffic),
      router_(&router),
      stopping_(stopping) {
  Subscribe();
}

Api::Api(store::Store& store) : store_(store), stopping_(never_stopping_) { Subscribe(); }

void Api::Subscribe() {
  store_.Subscribe([feed = feed_](const store::Change& c) {
    {
      std::lock_guard<std::mutex> lock(feed->mu);
      feed->revision = c.revision;
    }
    feed->cv.notify_all();
  });
}

Json Api::Present(const store::Resource& r) {
  store::Resource copy = r;
  return Present(std::move(copy));
}

Json Api::Present(store::Resource&& r) {
  Json out = std::move(r.object);
  Json& meta = out["metadata"];
  meta["name"] = r.key.name;
  if (!r.key.ns.empty()) meta["namespace"] = r.key.ns;
  meta["uid"] = r.uid;
  meta["resourceVersion"] = std::to_string(r.resource_version);
  meta["generation"] = r.generation;
  meta["creationTimestamp"] = FormatRfc3339(FromUnixMillis(r.created_ms));
  if (r.key.kind == "Secret") {
    RedactSecretValues(out);
    RedactLastApplied(out["metadata"]);
  }
  if (!r.status.is_null()) out["status"] = std::move(r.status);
  if (r.key.kind == "PipelineRun" || r.key.kind == "TaskRun") {
    // The engine's bookkeeping, and the ConfigMaps and Secrets a run
    // carries (its steps read them even if they change meanwhile); the
    // step images a TaskRun did not run in stay for the user.
    if (out.contains("status") && out["status"].is_object()) {
      Json& status = out["status"];
      Json ignored;
      if (auto it = status.find("strake"); it != status.end() && it->is_object())
        ignored = it->value("ignoredImages", Json());
      for (const char* field : {"strake", "startTimeMs", "finallyStartTimeMs"}) status.erase(field);
      if (!ignored.is_null()) status["strake"] = {{"ignoredImages", std::move(ignored)}};
    }
  }
  return out;
}

void Api::RefreshCustomKinds() {
  if (custom_kinds_read_.load() >= custom_kinds_changes_.load()) return;
  std::lock_guard<std::mutex> lock(custom_kinds_mu_);
  int64_t seen = custom_kinds_changes_.load();
  if (custom_kinds_read_.load() >= seen) return;  // another caller just read them
  auto crds = store_.List("CustomResourceDefinition", "");
  if (!crds) return;  // tried again at the next use
  std::vector<KindInfo> kinds;
  for (const auto& crd : *crds) {
    if (auto k = model::KindFromCrd(crd.object)) kinds.push_back(std::move(*k));
  }
  model::SetCustomKinds(kinds);
  custom_kinds_read_ = seen;
}

Response Api::Handle(const Request& req) {
  CallerScope caller(req);
  if (req.path == "/healthz") return Response{200, "text/plain", "ok\n", nullptr};
  if (req.path == "/metrics") {
    std::string text = router_ ? router_->PrometheusText() : "";
    if (more_metrics_) text += more_metrics_();
    return Response{200, "text/plain; version=0.0.4", text, nullptr};
  }
  if (req.path == "/apis/strake.dev/v1/events") return Events(req);
  if (StartsWith(req.path, "/webhooks/") && hooks_) return hooks_->Handle(req);
  if (!req.body.empty() && !JsonDepthWithin(req.body, 256)) {
    return ErrorResponse(400, "BadRequest", "the body nests deeper than 256 levels");
  }
  // /api/v1/... or /apis/GROUP/VERSION/...
  std::vector<std::string> parts;
  for (const auto& p : Split(req.path, '/')) {
    if (!p.empty()) parts.push_back(p);
  }
  size_t i = 0;
  std::string api_version;
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    api_version = "v1";
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    api_version = parts[1] + "/" + parts[2];
    i = 3;
  } else {
    return ErrorResponse(404, "NotFound", fmt::format("no route for {}", req.path));
  }
  std::string ns;
  // /api/v1/namespaces/NAME is the Namespace NAME itself, as Kubernetes
  // serves it; /api/v1/namespaces/NAME/KIND... what is in it.
  bool the_namespace = api_version == "v1" && parts.size() == 4 && parts[2] == "namespaces";
  if (i + 1 < parts.size() && parts[i] == "namespaces" && !the_namespace) {
    ns = parts[i + 1];
    i += 2;
  }
  if (i >= parts.size())
    return ErrorResponse(404, "NotFound", fmt::format("no route for {}", req.path));
  if (api_version == "strake.dev/v1" && parts[i] == "dora" && i + 2 == parts.size())
    return Dora(ns, parts[i + 1], req);
  if (api_version == "strake.dev/v1" && parts[i] == "provenance" && i + 2 == parts.size())
    return ProvenanceKey(ns, parts[i + 1], req);
  RefreshCustomKinds();
  const KindInfo* kind = KindByPlural(parts[i]);
  if (!kind || kind->api_version != api_version) kind = model::CustomKindAt(api_version, parts[i]);
  if (!kind) {
    return ErrorResponse(
        404, "NotFound",
        fmt::format("unknown resource {} in {}{}", parts[i], api_version,
                    model::BuiltInGroup(api_version)
                        ? ""
                        : " (a custom resource is served once its CustomResourceDefinition is "
                          "applied)"));
  }
  std::string name = i + 1 < parts.size() ? parts[i + 1] : "";
  std::string sub = i + 2 < parts.size() ? parts[i + 2] : "";
  if (i + 3 < parts.size())
    return ErrorResponse(404, "NotFound", fmt::format("no route for {}", req.path));
  if (!kind->namespaced) ns = "";
  if (!sub.empty() && kind->kind == "Application") {
    return ApplicationAction(ns, name, sub, req);
  }
  if (!sub.empty() && kind->kind == "Freight") return FreightAction(ns, name, sub, req);
  if (!sub.empty() && kind->kind == "PullRequest") return PullRequestAction(ns, name, sub, req);
  if (sub == "gates" && kind->kind == "Stage") {
    if (req.method != "GET") return ErrorResponse(405, "MethodNotAllowed", "gates are read: GET");
    return StageGates(ns, name);
  }
  if (!sub.empty() && kind->kind == "Promotion") return PromotionAction(ns, name, sub, req);
  if (sub == "logs" && (kind->kind == "PipelineRun" || kind->kind == "TaskRun")) {
    if (req.method != "GET") return ErrorResponse(405, "MethodNotAllowed", "logs are read: GET");
    return RunLogs(*kind, ns, name, req);
  }
  if (!sub.empty()) {
    if (kind->kind != "Rollout")
      return ErrorResponse(404, "NotFound", fmt::format("no subresource {}", sub));
    if (sub == "logs" && req.method == "GET") return RolloutLogs(ns, name, req);
    if (req.method == "POST") return RolloutAction(ns, name, sub, req);
    return ErrorResponse(405, "MethodNotAllowed", fmt::format("{} {}", req.method, sub));
  }
  if (req.method == "GET" && name.empty()) {
    if (req.query.count("watch") && req.query.at("watch") != "false") return Watch(*kind, ns, req);
    return List(*kind, ns, req);
  }
  if (req.method == "GET") return Get(*kind, ns, name);
  if (kind->namespaced && ns.empty() && req.method != "GET") {
    return ErrorResponse(400, "BadRequest",
                         "a namespaced resource needs /namespaces/NS/ in its path");
  }
  if (req.query.count("dryRun") && req.method != "PATCH") {
    // Never acted on for real: only an apply is merged without writing.
    return ErrorResponse(
        400, "BadRequest",
        fmt::format("dryRun is taken by PATCH (apply) only, not by {}", req.method));
  }
  if (req.method == "PUT" && !name.empty()) return Put(*kind, ns, name, req, false);
  if (req.method == "POST" && name.empty()) return Put(*kind, ns, "", req, true);
  if (req.method == "PATCH" && !name.empty()) return Patch(*kind, ns, name, req);
  if (req.method == "DELETE" && !name.empty()) return Delete(*kind, ns, name);
  return ErrorResponse(405, "MethodNotAllowed",
                       fmt::format("{} is not allowed on {}", req.method, req.path));
}

Response Api::Get(const KindInfo& k, const std::string& ns, const std::string& name) {
  auto got = store_.Get({k.kind, ns, name});
  if (!got) return ErrorResponse(got.error());
  if (!*got && k.kind == "Pod") {
    for (Json& pod : ProcessPods(ns)) {
      if (pod["metadata"].value("name", "") == name) return JsonResponse(200, pod);
    }
  }
  if (!*got)
    return ErrorResponse(404, "NotFound",
                         fmt::format("{} {} not found", ToLower(k.kind), Quote(name)));
  return JsonResponse(200, Present(**got));
}

std::vector<Json> Api::ProcessPods(const std::string& ns) {
  std::vector<Json> out;
  if (workloads_) {
    std::map<std::string, Json> owners;  // "ns/workload" -> its Rollout, Deployment, Experiment
    for (rollout::ReplicaProcess r : workloads_->Replicas(ns)) {
      rollout::WorkloadOwner owner = rollout::OwnerOfWorkload(r.workload);
      auto [it, fresh] = owners.try_emplace(r.ns + "/" + r.workload);
      if (fresh) {
        auto got = store_.Get({owner.kind, r.ns, owner.name});
        // A Rollout's pods are of the template its workloadRef names.
        if (got && *got && owner.kind == "Rollout")
          (void)rollout::ResolveWorkloadRef(store_, **got);
        if (got && *got) it->second = (*got)->object;
      }
      r.workload = owner.name;
      out.push_back(ReplicaPod(r, it->second));
    }
  }
  if (auto jobs = store_.List("Job", ns)) {
    for (const auto& job : *jobs) {
      for (Json& pod : JobPods(job)) out.push_back(std::move(pod));
    }
  }
  auto key = [](const Json& pod) {
    return std::pair{pod["metadata"].value("namespace", ""), pod["metadata"].value("name", "")};
  };
  std::sort(out.begin(), out.end(), [&](const Json& a, const Json& b) { return key(a) < key(b); });
  return out;
}

Response Api::List(const KindInfo& k, const std::string& ns, const Request& req) {
  std::string selector = req.query.count("labelSelector") ? req.query.at("labelSelector") : "";
  auto texts = ListedTexts(k.kind, ns, selector);
  if (!texts) return ErrorResponse(texts.error());
  auto rev = store_.Revision();
  Response out;
  out.body =
      fmt::format(R"({{"apiVersion":{},"kind":{},"metadata":{{"resourceVersion":"{}"}},"items":[)",
                  Json(k.api_version).dump(), Json(k.kind + "List").dump(), rev.value_or(0));
  bool first = true;
  for (const auto& text : *texts) {
    if (!first) out.body += ',';
    first = false;
    out.body += *text;
  }
  if (k.kind == "Pod") {
    for (const Json& pod : ProcessPods(ns)) {
      if (!selector.empty() && !Matches(model::StringMap(pod["metadata"]["labels"]), selector))
        continue;
      if (!first) out.body += ',';
      first = false;
      out.body += pod.dump();
    }
  }
  out.body += "]}\n";
  return out;
}

Result<std::vector<PresentedCache::Text>> Api::ListedTexts(const std::string& kind,
                                                           const std::string& ns,
                                                           const std::string& selector) {
  std::vector<PresentedCache::Text> out;
  auto present = [this](store::Resource&& r) {
    store::Key key = r.key;
    int64_t version = r.resource_version;
    auto text = std::make_shared<const std::string>(Present(std::move(r)).dump());
    presented_.Put(key, version, text);
    return text;
  };
  {
    // The first list of a kind in a namespace: one read, nothing to look up.
    std::lock_guard<std::mutex> lock(listed_mu_);
    if (listed_.insert(kind + "/" + ns).second) {
      STRAKE_TRY_ASSIGN(all, store_.List(kind, ns));
      for (auto& r : all) {
        if (selector.empty() || Matches(r.labels, selector)) out.push_back(present(std::move(r)));
      }
      return out;
    }
  }
  STRAKE_TRY_ASSIGN(heads, store_.ListHeads(kind, ns));
  std::vector<const store::Resource*> listed;
  std::vector<size_t> missing;
  for (const auto& h : heads) {
    if (!selector.empty() && !Matches(h.labels, selector)) continue;
    out.push_back(presented_.Find(h.key, h.resource_version));
    listed.push_back(&h);
    if (!out.back()) missing.push_back(out.size() - 1);
  }
  if (missing.empty()) return out;
  if (missing.size() * 4 > listed.size()) {
    // Mostly not seen yet (a first list): one read of them all.
    std::unordered_set<std::string> wanted;
    for (size_t i : missing) wanted.insert(listed[i]->key.ToString());
    STRAKE_TRY_ASSIGN(all, store_.List(kind, ns));
    std::unordered_map<std::string, PresentedCache::Text> made;
    for (auto& r : all) {
      std::string id = r.key.ToString();
      if (wanted.count(id)) made[id] = present(std::move(r));  // each freed once presented
    }
    for (size_t i : missing) {
      if (auto it = made.find(listed[i]->key.ToString()); it != made.end()) out[i] = it->second;
    }
  } else {
    for (size_t i : missing) {
      STRAKE_TRY_ASSIGN(got, store_.Get(listed[i]->key));
      if (got) out[i] = present(std::move(*got));
    }
  }
  std::erase(out, nullptr);  // deleted between the two reads
  return out;
}

Response Api::Watch(const KindInfo& k, const std::string& ns, const Request& req) {
  int64_t since = 0;
  if (req.query.count("resourceVersion"))
    since = std::strtoll(req.query.at("resourceVersion").c_str(), nullptr, 10);
  std::string selector = req.query.count("labelSelector") ? req.query.at("labelSelector") : "";
  Response r;
  r.content_type = "application/x-ndjson";
  r.stream = [this, k, ns, since, selector](Stream& out) mutable {
    if (since == 0) since = store_.Revision().value_or(0);
    auto last_beat = std::chrono::steady_clock::now();
    // Woken by the store's change feed; the store filters by kind and
    // namespace, so a watch of one kind reads none of the others' changes.
    store::ChangeFilter filter{k.kind, ns, ""};
    int64_t seen = since;
    while (!stopping_) {
      auto changes = store_.ChangesSince(since, 500, filter);
      if (!changes) return;
      for (const auto& c : *changes) {
        since = c.revision;
        Json obj;
        if (c.type == "DELETED") {
          obj = {{"kind", k.kind}, {"metadata", {{"name", c.key.name}, {"namespace", c.key.ns}}}};
        } else {
          auto got = store_.Get(c.key);
          if (!got || !*got) continue;
          if (!selector.empty() && !Matches((*got)->labels, selector)) continue;
          obj = Present(**got);
        }
        Json ev = {{"type", c.type},
                   {"reason", c.reason},
                   {"message", c.message},
                   {"revision", c.revision},
                   {"object", obj}};
        if (!out.Write(ev.dump() + "\n")) return;
      }
      if (changes->size() == 500) continue;  // more to read now
      {
        // Nothing more for this watch up to `seen`: wait for a newer change
        // (each second, stopping is checked).
        std::unique_lock<std::mutex> lock(feed_->mu);
        seen = std::max(seen, since);
        feed_->cv.wait_for(lock, std::chrono::seconds(1),
                           [&] { return feed_->revision > seen || stopping_; });
        seen = std::max(seen, feed_->revision);
      }
      if (std::chrono::steady_clock::now() - last_beat > std::chrono::seconds(15)) {
        if (!out.Write("\n")) return;  // keeps proxies from timing the stream out
        last_beat = std::chrono::steady_clock::now();
      }
    }
  };
  return r;
}

namespace {

// Kargo's Freight admission (pkg/webhook/kubernetes/freight/webhook.go): a
// Freight is named by the fingerprint of what it references, never changes
// once made (its alias may), and its alias is unique in its namespace and
// kept as the kargo.akuity.io/alias label (one is made when none is given).
std::optional<Response> AdmitFreight(store::Store& store, const model::Freight& f,
                                     const std::string& ns, const std::string& name, Json& body) {
  auto stored = store.Get({"Freight", ns, name});
  if (!stored) return ErrorResponse(stored.error());
  if (*stored) {
    const Json& was = (**stored).object;
    if (was.value("origin", Json()) != body.value("origin", Json()) ||
        was.value("commits", Json()) != body.value("commits", Json()) ||
        was.value("artifacts", Json()) != body.value("artifacts", Json()) ||
        was.value("images", Json()) != body.value("images", Json())) {
      return ErrorResponse(422, "Invalid", fmt::format("freight {}: Freight is immutable", name));
    }
  }
  // Its artifacts are recorded Artifacts (what a pipeline built), one per
  // subscription, and their metadata is the server's: Freight applied by
  // hand brings no evidence or provenance of its own.
  if (!f.artifacts.empty()) {
    std::set<std::string> subscriptions;
    for (const auto& a : f.artifacts) {
      if (!subscriptions.insert(a.subscription_name).second) {
        return ErrorResponse(422, "Invalid",
                             fmt::format("freight {}: artifacts: subscription {} has more than one "
                                         "artifact",
                                         name, Quote(a.subscription_name)));
      }
    }
    auto recorded = delivery::RecordedArtifacts(body["artifacts"], [&](const std::string& n) {
      return store.Get({"Artifact", ns, n});
    });
    if (!recorded && recorded.error().Is(ErrorCode::kUnavailable))
      return ErrorResponse(recorded.error());
    if (!recorded) {
      return ErrorResponse(
          422, "Invalid", fmt::format("freight {}: artifacts: {}", name, recorded.error().message));
    }
    body["artifacts"] = std::move(*recorded);
  }
  const std::string expected = delivery::FreightName(f.origin, f.commits, f.artifacts, f.images);
  if (name != expected) {
    return ErrorResponse(422, "Invalid",
                         fmt::format("freight {}: a Freight is named by the fingerprint of what it "
                                     "references (Kargo's Freight ID): {}",
                                     name, expected));
  }
  auto all = store.List("Freight", ns);
  if (!all) return ErrorResponse(all.error());
  std::set<std::string> taken;
  for (const auto& r : *all) {
    if (r.key.name == name) continue;
    auto a = r.labels.find(delivery::kAliasLabel);
    if (a != r.labels.end()) taken.insert(a->second);
  }
  std::string alias = f.alias;
  if (alias.empty()) {
    alias = delivery::FreightAlias(name, [&](const std::string& a) { return taken.count(a) > 0; });
  } else if (taken.count(alias)) {
    return ErrorResponse(409, "AlreadyExists",
                         fmt::format("freight {}: alias {} is used by another Freight in {}", name,
                                     Quote(alias), ns));
  }
  body["alias"] = alias;
  body["metadata"]["labels"][delivery::kAliasLabel] = alias;
  return std::nullopt;
}

// Set while the server itself creates an object (CreateObject): what
// admission trusts of a request then differs (a Promotion's create-actor).
thread_local bool t_internal_create = false;

// A Stage's (or Promotion's) steps: each `uses` a step strake runs, each
// template compiles. Errors name the field.
std::vector<std::string> CheckSteps(const std::vector<model::ExpressionVariable>& vars,
                                    const std::vector<model::PromotionStepSpec>& steps,
                                    const std::string& path) {
  std::vector<std::string> errors = delivery::CheckPromotionTemplates(vars, steps, path);
  std::vector<std::string> known = delivery::BuiltinStepNames();
  for (const auto& n : delivery::GitStepNames()) known.push_back(n);
  for (const auto& n : delivery::FileStepNames()) known.push_back(n);
  for (const auto& n : delivery::PullRequestStepNames()) known.push_back(n);
  known.emplace_back(delivery::kHttpStep);
  std::sort(known.begin(), known.end());
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string& uses = steps[i].uses;
    if (uses.empty() || std::find(known.begin(), known.end(), uses) != known.end()) continue;
    if (uses == "send-message") {
      errors.push_back(fmt::format(
          "{}.steps[{}].uses: send-message: no channel: strake has no notification channels "
          "(Kargo's MessageChannel) yet, so the message would go nowhere",
          path, i));
      continue;
    }
    errors.push_back(fmt::format("{}.steps[{}].uses: not supported yet: step {}; strake runs {}{}",
                                 path, i, Quote(uses), Join(known, ", "), DidYouMean(uses, known)));
  }
  return errors;
}

// Kargo's Promotion admission (pkg/webhook/kubernetes/promotion): made
// with a generated name (Kargo's <stage>.<ulid>.<freight[:7]>, when none is
// given) and its Stage's steps and vars (the Stage's, then its template's),
// for Freight available to the Stage; its spec never changes after.
// Annotations only the server writes on a Promotion: who created it and the
// responses to its approval steps (delivery/approval.h). A client's are
// dropped; on an update the stored ones stay, as its status does.
void KeepServerAnnotations(Json& body, const Json& stored) {
  Json& meta = body["metadata"];
  const Json was =
      stored.is_object()
          ? stored.value("metadata", Json::object()).value("annotations", Json::object())
          : Json::object();
  // Who made it, its approvals, and whether it is a rollback (which holds
  // auto-promotion and is never rolled back itself) are the server's.
  for (const char* key : {delivery::kCreateActorAnnotation, delivery::kApprovalsAnnotation,
                          delivery::kRollbackAnnotation, delivery::kRollbackOfAnnotation}) {
    if (meta.contains("annotations") && meta["annotations"].is_object())
      meta["annotations"].erase(key);
    if (was.is_object() && was.contains(key)) meta["annotations"][key] = was[key];
  }
}

std::optional<Response> AdmitPromotion(store::Store& store, const model::Promotion& p,
                                       const std::string& ns, Json& body,
                                       const delivery::ProvenanceReader& provenance) {
  const std::string& name = p.meta.name;
  auto stored = store.Get({"Promotion", ns, name});
  if (!stored) return ErrorResponse(stored.error());
  if (*stored) {
    // The same request again (its steps and vars came from the Stage): the
    // stored spec stays. Anything else is a change, refused.
    const Json was = (**stored).object.value("spec", Json::object());
    Json asked = body.value("spec", Json::object());
    if (!asked.contains("steps") && was.contains("steps")) asked["steps"] = was["steps"];
    if (!asked.contains("vars") && was.contains("vars")) asked["vars"] = was["vars"];
    if (asked != was)
      return ErrorResponse(422, "Invalid", fmt::format("promotion {}: spec is immutable", name));
    body["spec"] = was;
    KeepServerAnnotations(body, (**stored).object);
    return std::nullopt;
  }
  auto invalid = [&](const std::string& field, const std::string& why) {
    return ErrorResponse(422, "Invalid", fmt::format("promotion {}: {}: {}", name, field, why));
  };
  auto stage_res = store.Get({"Stage", ns, p.spec.stage});
  if (!stage_res) return ErrorResponse(stage_res.error());
  if (!*stage_res) {
    return invalid("spec.stage", fmt::format("could not find Stage {} in namespace {}",
                                             Quote(p.spec.stage), Quote(ns)));
  }
  auto decoded = model::DecodeObject((**stage_res).object, "stage " + p.spec.stage);
  if (!decoded) return ErrorResponse(422, "Invalid", decoded.error().message);
  const auto& stage = std::get<model::Stage>(decoded->value);
  if (stage.spec.steps.empty()) {
    return invalid("spec.stage", fmt::format("Stage {} in namespace {} defines no promotion steps",
                                             Quote(p.spec.stage), Quote(ns)));
  }
  auto freight = store.Get({"Freight", ns, p.spec.freight});
  if (!freight) return ErrorResponse(freight.error());
  if (!*freight) {
    return invalid("spec.freight", fmt::format("could not find Freight {} in namespace {}",
                                               Quote(p.spec.freight), Quote(ns)));
  }
  model::FreightOrigin origin{"Warehouse",
                              (**freight).object.value("origin", Json::object()).value("name", "")};
  if (!delivery::IsFreightAvailable(stage, origin, (**freight).status,
                                    UnixMillis(std::chrono::system_clock::now()))) {
    return invalid("spec.freight", "Freight is not available to this Stage");
  }
  // The gates (a stopped line, windows, freezes): refused now, naming the
  // gate and its values.
  // The server's own rollback is made whatever they say: it then waits,
  // Pending, for them to open (a rollback wanted in a freeze is not lost).
  const bool server_rollback =
      t_internal_create && body["metadata"]
                                   .value("annotations", Json::object())
                                   .value(delivery::kRollbackAnnotation, "") == "true";
  auto gates =
      delivery::ReadGates(store, stage, UnixMillis(std::chrono::system_clock::now()), provenance);
  if (!gates) return ErrorResponse(gates.error());
  auto denied = gates->Denial(**freight);
  if (!denied) return ErrorResponse(denied.error());
  if (*denied && !server_rollback)
    return ErrorResponse(403, "Forbidden", fmt::format("promotion {}: {}", name, **denied));
  // The Stage's vars, then its template's: a later one of the same name
  // replaces the earlier (Kargo: template vars take precedence).
  std::vector<model::ExpressionVariable> vars = stage.spec.vars;
  for (const auto& v : stage.spec.template_vars) {
    auto same = std::find_if(vars.begin(), vars.end(),
                             [&](const model::ExpressionVariable& w) { return w.name == v.name; });
    if (same != vars.end()) {
      same->value = v.value;
    } else {
      vars.push_back(v);
    }
  }
  // Steps that run a PromotionTask become its steps (Kargo's InflateSteps):
  // the Promotion keeps what the task said when it was made.
  auto inflated = delivery::InflateSteps(stage.spec.steps, vars, delivery::StoreTasks(store, ns));
  if (!inflated && inflated.error().Is(ErrorCode::kUnavailable))
    return ErrorResponse(inflated.error());
  if (!inflated) return invalid("spec.steps", inflated.error().message);
  Json steps = Json::array();
  for (const auto& step : *inflated) steps.push_back(model::PromotionStepToJson(step));
  // Who asked is the server's to say: a client's claim is replaced by the
  // caller's identity (only the server's own auto-promotion names itself).
  // Approvals read it: the creator cannot approve (delivery/approval.h).
  if (!t_internal_create) {
    KeepServerAnnotations(body, Json());
    if (!t_caller.empty())
      body["metadata"]["annotations"][delivery::kCreateActorAnnotation] = t_caller;
  } else if (body["metadata"].contains("annotations") &&
             body["metadata"]["annotations"].is_object()) {
    body["metadata"]["annotations"].erase(delivery::kApprovalsAnnotation);
  }
  body["spec"]["steps"] = steps;
  body["spec"]["vars"] = model::ExpressionVariablesToJson(vars);
  if (body["spec"]["vars"].empty()) body["spec"].erase("vars");
  return std::nullopt;
}

// Conditions are compiled at apply, so a typo is refused here and not
// found by the first measurement of a rollout in progress.
std::vector<std::string> ConditionErrors(const model::AnalysisTemplate& t) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < t.spec.metrics.size(); ++i) {
    const auto& m = t.spec.metrics[i];
    for (const auto& [field, cond] :
         {std::pair<const char*, const std::string&>{"successCondition", m.success_condition},
          {"failureCondition", m.failure_condition}}) {
      if (cond.empty()) continue;
      if (auto e = rollout::Expr::Compile(cond); !e)
        errors.push_back(fmt::format("spec.metrics[{}].{}: {}", i, field, e.error().message));
    }
  }
  return errors;
}

// Kargo's expressionFilter (expr-lang) and semverConstraint: checked at
// apply, as conditions are.
std::vector<std::string> WarehouseErrors(const model::Warehouse& w) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < w.spec.subscriptions.size(); ++i) {
    if (const auto& image = w.spec.subscriptions[i].image) {
      if (auto r = images::ParseRepository(image->repo_url); !r) {
        errors.push_back(
            fmt::format("spec.subscriptions[{}].image.repoURL: {}", i, r.error().message));
      }
      if (image->image_selection_strategy == "SemVer" && !image->constraint.empty()) {
        if (auto c = delivery::SemVerConstraint::Parse(image->constraint); !c) {
          errors.push_back(
              fmt::format("spec.subscriptions[{}].image.constraint: {}", i, c.error().message));
        }
      }
      continue;
    }
    const model::GitSubscription& git = w.spec.subscriptions[i].git;
    if (!git.expression_filter.empty()) {
      if (auto e = rollout::Expr::Compile(git.expression_filter); !e) {
        errors.push_back(
            fmt::format("spec.subscriptions[{}].git.expressionFilter: {}", i, e.error().message));
      }
    }
    if (!git.semver_constraint.empty()) {
      if (auto c = delivery::SemVerConstraint::Parse(git.semver_constraint); !c) {
        errors.push_back(
            fmt::format("spec.subscriptions[{}].git.semverConstraint: {}", i, c.error().message));
      }
    }
  }
  return errors;
}

// strake's promotionCriteria, compiled at apply with the functions a
// criterion may call (delivery/criteria.h), and approvalPolicies, read as
// the Promotion reconciler will read them (delivery/approval.h).
std::vector<std::string> GateErrors(const std::vector<model::PromotionCriterion>& criteria,
                                    const std::vector<model::ApprovalPolicy>& policies) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < criteria.size(); ++i) {
    if (auto e = delivery::CompileCriterion(criteria[i].expression); !e) {
      errors.push_back(
          fmt::format("spec.promotionCriteria[{}].expression: {}", i, e.error().message));
    }
  }
  for (size_t i = 0; i < policies.size(); ++i) {
    if (auto c = delivery::ParseApprovalConfig(policies[i].rules); !c)
      errors.push_back(fmt::format("spec.approvalPolicies[{}]: {}", i, c.error().message));
  }
  return errors;
}

// The upstream Stages a stored Stage names (requestedFreight[].sources.stages).
std::vector<std::string> StoredUpstreams(store::Store& store, const std::string& ns,
                                         const std::string& name) {
  std::vector<std::string> out;
  auto got = store.Get({"Stage", ns, name});
  if (!got || !*got) return out;
  const Json spec = (**got).object.value("spec", Json::object());
  for (const auto& req : spec.value("requestedFreight", Json::array())) {
    if (!req.is_object()) continue;
    for (const auto& up : req.value("sources", Json::object()).value("stages", Json::array()))
      if (up.is_string()) out.push_back(up);
  }
  return out;
}

// The path from `from` back to `self` through the stored Stages' upstreams
// ("a → b → self"), or "" when there is none.
std::string PathBack(store::Store& store, const std::string& ns, const std::string& self,
                     const std::string& from) {
  std::map<std::string, std::string> came_from;  // a Stage -> the one that named it
  std::vector<std::string> todo = {from};
  came_from[from] = "";
  while (!todo.empty()) {
    std::string at = todo.back();
    todo.pop_back();
    if (at == self) {
      std::vector<std::string> path;
      for (std::string s = at; !s.empty(); s = came_from[s]) path.insert(path.begin(), s);
      return Join(path, " → ");
    }
    for (const auto& up : StoredUpstreams(store, ns, at)) {
      if (came_from.emplace(up, at).second) todo.push_back(up);
    }
  }
  return "";
}

std::vector<std::string> StageErrors(store::Store& store, const model::Stage& s) {
  auto errors = CheckSteps(s.spec.template_vars, s.spec.steps, "spec.promotionTemplate.spec");
  auto more = delivery::CheckPromotionTemplates(s.spec.vars, {}, "spec");
  errors.insert(errors.end(), more.begin(), more.end());
  // Freight flows downstream only: no Stage may request it from itself.
  for (size_t i = 0; i < s.spec.requested_freight.size(); ++i) {
    const auto& ups = s.spec.requested_freight[i].sources.stages;
    for (size_t j = 0; j < ups.size(); ++j) {
      std::string path =
          ups[j] == s.meta.name ? s.meta.name : PathBack(store, s.meta.ns, s.meta.name, ups[j]);
      if (path.empty()) continue;
      errors.push_back(fmt::format(
          "spec.requestedFreight[{}].sources.stages[{}]: Stage {} would request Freight from "
          "itself: {} → {}",
          i, j, Quote(s.meta.name), s.meta.name, path));
    }
  }
  return errors;
}

// What admission checks beyond the decoder, by kind: expressions compiled,
// Kargo's webhooks (Freight, Promotion).
std::optional<Response> AdmitDecoded(store::Store& store, const model::Resource& r,
                                     const std::string& ns, const std::string& name, Json& body,
                                     const delivery::ProvenanceReader& provenance) {
  std::vector<std::string> errors;
  if (const auto* t = std::get_if<model::AnalysisTemplate>(&r.value)) errors = ConditionErrors(*t);
  if (const auto* w = std::get_if<model::Warehouse>(&r.value)) errors = WarehouseErrors(*w);
  if (const auto* s = std::get_if<model::Stage>(&r.value)) errors = StageErrors(store, *s);
  if (const auto* t = std::get_if<model::PromotionTask>(&r.value))
    errors = CheckSteps(t->vars, t->steps, "spec");
  if (const auto* pc = std::get_if<model::ProjectConfig>(&r.value))
    errors = GateErrors(pc->promotion_criteria, pc->approval_policies);
  if (const auto* cc = std::get_if<model::ClusterConfig>(&r.value))
    errors = GateErrors(cc->promotion_criteria, cc->approval_policies);
  if (!errors.empty()) {
    for (auto& e : errors) e = fmt::format("{} {}: {}", ToLower(r.kind), name, e);
    return ErrorResponse(422, "Invalid", Join(errors, "\n"));
  }
  if (const auto* f = std::get_if<model::Freight>(&r.value))
    return AdmitFreight(store, *f, ns, name, body);
  if (const auto* p = std::get_if<model::Promotion>(&r.value))
    return AdmitPromotion(store, *p, ns, body, provenance);
  return std::nullopt;
}

// Kargo's promotion name: <stage>.<ulid>.<freight[:7]>, all of it lower
// case (the Stage and Freight as the client spelled them, too).
std::string PromotionName(const std::string& stage, const std::string& freight) {
  return ToLower(delivery::KargoChildName(stage, freight,
                                          NewUlid(UnixMillis(std::chrono::system_clock::now()))));
}

}  // namespace

std::optional<Response> Api::Admit(const KindInfo& k, const std::string& ns,
                                   const std::string& path_name, Json& body,
                                   std::map<std::string, std::string>& labels) {
  if (!body.is_object()) return ErrorResponse(400, "BadRequest", "the body must be a JSON object");
  if (!body.contains("metadata") || !body["metadata"].is_object())
    body["metadata"] = Json::object();
  Json& meta = body["metadata"];
  std::string name =
      meta.contains("name") && meta["name"].is_string() ? meta["name"].get<std::string>() : "";
  if (k.kind == "Promotion" && name.empty() && path_name.empty()) {
    // Kargo names a new Promotion itself (and drops a generateName).
    const Json spec = body.value("spec", Json::object());
    if (spec.is_object() && spec.value("stage", Json()).is_string() &&
        spec.value("freight", Json()).is_string()) {
      name = PromotionName(spec["stage"], spec["freight"]);
      meta["name"] = name;
      meta.erase("generateName");
    }
  }
  if (!path_name.empty() && name != path_name) {
    return ErrorResponse(400, "BadRequest",
                         fmt::format("metadata.name {} does not match the path's {}", Quote(name),
                                     Quote(path_name)));
  }
  // An older version the files may use is taken too (v1alpha3 of Istio's
  // VirtualService, v1beta1 of Tekton's kinds): the object is kept as written.
  if (body.value("kind", "") != k.kind || !k.Accepts(body.value("apiVersion", ""))) {
    return ErrorResponse(400, "BadRequest",
                         fmt::format("this path takes {} {}, not {} {}", k.api_version, k.kind,
                                     body.value("apiVersion", "?"), body.value("kind", "?")));
  }
  if (auto size = model::CheckObjectSize(body, fmt::format("{} {}", ToLower(k.kind), name)); !size)
    return ErrorResponse(size.error());
  if (k.kind == "RolloutRevision") {
    return ErrorResponse(405, "MethodNotAllowed", fmt::format("{}s are written by strake", k.kind));
  }
  if (k.kind == "PullRequest") {
    return ErrorResponse(405, "MethodNotAllowed",
                         "PullRequests are opened by the git-open-pr promotion step, and merged "
                         "or closed by POST …/pullrequests/NAME/merge or …/close (strake pr "
                         "merge|close N)");
  }
  if (k.kind == "Artifact") {
    return ErrorResponse(405, "MethodNotAllowed",
                         "Artifacts are recorded by the server from the PipelineRuns that built "
                         "them (their results' type hints), never written: their evidence is "
                         "what gates read");
  }
  if (k.kind == "NotificationState") {
    return ErrorResponse(405, "MethodNotAllowed",
                         "NotificationStates are written by the server as it decides and sends "
                         "notifications (docs/notifications.md), never through the API");
  }
  if (k.kind == "Attestation") {
    return ErrorResponse(405, "MethodNotAllowed",
                         "Attestations are signed by the server when a PipelineRun or TaskRun "
                         "finishes, never written: their provenance is what gates read");
  }
  if (k.namespaced) {
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  if (k.kind == "Secret" && HasRedactedValue(body)) {
    auto stored = store_.Get({k.kind, ns, name});
    if (!stored) return ErrorResponse(stored.error());
    auto kept = KeepRedactedValues(body, *stored ? (**stored).object : Json::object(),
                                   "secret " + Quote(name));
    if (!kept) return ErrorResponse(422, "Invalid", kept.error().message);
  }
  auto decoded = model::DecodeObject(body, fmt::format("{} {}", ToLower(k.kind), name));
  if (!decoded) return ErrorResponse(422, "Invalid", decoded.error().message);
  if (auto refused = AdmitDecoded(store_, *decoded, ns, name, body, provenance_)) return refused;
  if (k.kind == "ConfigMap" &&
      (name == insight::kNotificationsConfigMap || name == insight::kRolloutsConfigMap)) {
    // Notification settings that cannot work are refused whole, each
    // problem with its key and field (insight/notify_config.h).
    auto settings = insight::ParseNotificationConfig(body.value("data", Json::object()), {},
                                                     fmt::format("configmap {}", name));
    if (!settings) return ErrorResponse(422, "Invalid", settings.error().message);
  }
  body.erase("status");
  labels = model::StringMap(meta.value("labels", Json::object()));
  for (const char* f :
       {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}) {
    meta.erase(f);
  }
  // A deletion is the server's to start (DELETE) and no write ends it: the
  // stored deletionTimestamp stays, and one a client sends is dropped.
  meta.erase("deletionTimestamp");
  if (k.kind == "Application") {
    auto stored = store_.Get({k.kind, k.namespaced ? ns : "", name});
    if (!stored) return ErrorResponse(stored.error());
    if (*stored) {
      const Json was = (**stored).object.value("metadata", Json::object());
      if (was.contains("deletionTimestamp")) meta["deletionTimestamp"] = was["deletionTimestamp"];
    }
  }
  return std::nullopt;
}

namespace {

// A create with metadata.generateName and no name is named as Kubernetes
// names it: the prefix and five random characters. (A name taken already is
// then a 409, and the client tries again, as with Kubernetes.)
void NameFromGenerateName(Json& body) {
  if (!body.contains("metadata") || !body["metadata"].is_object()) return;
  Json& meta = body["metadata"];
  bool named =
      meta.contains("name") && meta["name"].is_string() && !meta["name"].get<std::string>().empty();
  if (named || !meta.contains("generateName") || !meta["generateName"].is_string()) return;
  meta["name"] = meta["generateName"].get<std::string>() + RandomSuffix(5);
}

}  // namespace

Response Api::Put(const KindInfo& k, const std::string& ns, const std::string& path_name,
                  const Request& req, bool create_only) {
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return ErrorResponse(400, "BadRequest", "the body must be a JSON object");
  }
  std::map<std::string, std::string> labels;
  if (create_only && k.kind != "Promotion") NameFromGenerateName(body);
  if (auto refused = Admit(k, ns, path_name, body, labels)) return *refused;
  std::string name = body["metadata"]["name"];
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get({k.kind, ns, name});
    if (!got) return ErrorResponse(got.error());
    if (!*got) {
      auto created = Create(k, ns, name, body, labels);
      if (created || !create_only) {
        if (created) return std::move(*created);
        continue;  // created by someone else meanwhile: replace it
      }
    }
    if (create_only) {
      return ErrorResponse(409, "AlreadyExists",
                           fmt::format("{} {} already exists", ToLower(k.kind), Quote(name)));
    }
    if (auto refused = RefuseChangeOfFinishedRun(k, **got, body)) return *refused;
    store::Resource r = **got;
    if (r.object == body && r.labels == labels) {
      // Nothing written: `apply` says "unchanged", as kubectl does.
      Response same = JsonResponse(200, Present(r));
      same.headers.emplace_back("Strake-Result", "unchanged");
      return same;
    }
    r.object = body;
    r.labels = labels;
    auto updated = store_.Update(r, r.resource_version);
    if (updated) return JsonResponse(200, Present(*updated));  // status included
    if (!updated.error().Is(ErrorCode::kConflict)) return ErrorResponse(updated.error());
  }
  return ErrorResponse(409, "Conflict",
                       fmt::format("{} {} kept changing; try again", ToLower(k.kind), name));
}

std::optional<Response> Api::Create(const KindInfo& k, const std::string& ns,
                                    const std::string& name, const Json& body,
                                    const std::map<std::string, std::string>& labels) {
  store::Resource r;
  r.key = {k.kind, ns, name};
  r.labels = labels;
  r.object = body;
  auto created = store_.Create(r, "Created", fmt::format("{} {} created", ToLower(k.kind), name));
  if (created) return JsonResponse(201, Present(*created));
  if (created.error().Is(ErrorCode::kAlreadyExists)) return std::nullopt;
  return ErrorResponse(created.error());
}

Response Api::Patch(const KindInfo& k, const std::string& ns, const std::string& name,
                    const Request& req) {
  std::string type = ToLower(req.Header("Content-Type"));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  PatchMode mode;
  if (type == "application/merge-patch+json") {
    mode = PatchMode::kMerge;
  } else if (type == "application/json-patch+json") {
    mode = PatchMode::kJson;
  } else if (type == "application/apply-patch+yaml" || type == "application/apply-patch+json") {
    mode = PatchMode::kApply;
  } else {
    return ErrorResponse(
        415, "UnsupportedMediaType",
        fmt::format("PATCH takes application/merge-patch+json, application/json-patch+json or "
                    "application/apply-patch+yaml, not {}",
                    Quote(type)));
  }
  Json patch;
  if (mode == PatchMode::kApply) {
    // YAML is a superset of JSON: one document of either.
    auto docs = model::ParseYaml(req.body, "request body");
    if (!docs) return ErrorResponse(400, "BadRequest", docs.error().message);
    if (docs->size() != 1) return ErrorResponse(400, "BadRequest", "apply takes one object");
    patch = model::ToJson((*docs)[0].root);
  } else {
    patch = Json::parse(req.body, nullptr, false);
    if (patch.is_discarded()) return ErrorResponse(400, "BadRequest", "the body must be JSON");
  }
  if (mode != PatchMode::kJson && !patch.is_object()) {
    return ErrorResponse(400, "BadRequest", "the patch must be a JSON object");
  }
  std::string dry_run = req.query.count("dryRun") ? req.query.at("dryRun") : "";
  if (!dry_run.empty() && dry_run != "All") {
    return ErrorResponse(
        400, "BadRequest",
        fmt::format("dryRun: {} is not All, the one value Kubernetes takes", Quote(dry_run)));
  }
  return PatchObject(k, ns, name, mode, std::move(patch), !dry_run.empty());
}

Response Api::DryRun(const KindInfo& k, const std::string& ns, const std::string& name,
                     const store::Resource* live, Json body,
                     const std::map<std::string, std::string>& labels) {
  if (live) {
    if (auto refused = RefuseChangeOfFinishedRun(k, *live, body)) return *refused;
  }
  store::Resource r = live ? *live : store::Resource{};
  r.key = {k.kind, ns, name};
  r.object = std::move(body);
  r.labels = labels;
  Json shown = Present(r);
  if (k.kind == "Secret") {
    // Values stay hidden, but a diff must still see that one changes.
    for (const char* field : {"data", "stringData"}) {
      const Json was = live ? live->object.value(field, Json::object()) : Json::object();
      const Json now = r.object.value(field, Json::object());
      if (!now.is_object() || !shown.contains(field) || !shown[field].is_object()) continue;
      for (const auto& [key, value] : now.items()) {
        if (!was.is_object() || !was.contains(key)) {
          shown[field][key] = "<redacted: added>";
        } else if (was[key] != value) {
          shown[field][key] = "<redacted: changed>";
        }
      }
    }
  }
  return JsonResponse(live ? 200 : 201, shown);
}

Response Api::PatchObject(const KindInfo& k, const std::string& ns, const std::string& name,
                          PatchMode mode, Json patch, bool dry_run) {
  // A resourceVersion in the patch is a precondition, as in Kubernetes.
  std::string precondition;
  if (mode != PatchMode::kJson && patch.contains("metadata") && patch["metadata"].is_object() &&
      patch["metadata"].contains("resourceVersion")) {
    const Json& rv = patch["metadata"]["resourceVersion"];
    precondition = rv.is_string() ? rv.get<std::string>() : rv.dump();
    patch["metadata"].erase("resourceVersion");
  }
  Json applied;
  if (mode == PatchMode::kApply) {
    applied = patch;
    applied.erase("status");
    if (applied.contains("metadata") && applied["metadata"].is_object() &&
        applied["metadata"].contains("annotations") &&
        applied["metadata"]["annotations"].is_object()) {
      applied["metadata"]["annotations"].erase(model::kLastApplied);
    }
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get({k.kind, ns, name});
    if (!got) return ErrorResponse(got.error());
    if (!*got && mode != PatchMode::kApply) {
      return ErrorResponse(404, "NotFound",
                           fmt::format("{} {} not found", ToLower(k.kind), Quote(name)));
    }
    if (*got && !precondition.empty() && precondition != std::to_string((*got)->resource_version)) {
      return ErrorResponse(
          409, "Conflict",
          fmt::format("{} {} is at resourceVersion {}, not {}: read it again and retry",
                      ToLower(k.kind), name, (*got)->resource_version, precondition));
    }
    if (!*got && !precondition.empty()) {
      return ErrorResponse(404, "NotFound",
                           fmt::format("{} {} not found", ToLower(k.kind), Quote(name)));
    }
    Json live = *got ? (*got)->object : Json::object();
    live.erase("status");
    Json body;
    if (mode == PatchMode::kMerge) {
      body = model::MergePatch(live, patch);
    } else if (mode == PatchMode::kJson) {
      auto patched = model::JsonPatch(live, patch);
      if (!patched) {
        if (patched.error().Is(ErrorCode::kTooLarge))
          return ErrorResponse(patched.error().Wrap("json patch"));
        return ErrorResponse(422, "Invalid", "json patch " + patched.error().message);
      }
      body = std::move(*patched);
    } else {
      body = model::ThreeWayApply(live, model::LastApplied(live), applied);
      body["metadata"]["annotations"][model::kLastApplied] = RecordOfApply(k, applied).dump();
    }
    std::map<std::string, std::string> labels;
    if (auto refused = Admit(k, ns, name, body, labels)) return *refused;
    if (dry_run) return DryRun(k, ns, name, *got ? &**got : nullptr, std::move(body), labels);
    if (!*got) {
      if (auto created = Create(k, ns, name, body, labels)) return std::move(*created);
      continue;  // created meanwhile: merge into that one
    }
    if (auto refused = RefuseChangeOfFinishedRun(k, **got, body)) return *refused;
    store::Resource r = **got;
    if (r.object == body && r.labels == labels) {
      // Nothing written: `apply` says "unchanged", as kubectl does.
      Response same = JsonResponse(200, Present(r));
      same.headers.emplace_back("Strake-Result", "unchanged");
      return same;
    }
    r.object = body;
    r.labels = labels;
    auto updated = store_.Update(r, r.resource_version);
    if (updated) return JsonResponse(200, Present(*updated));
    if (!updated.error().Is(ErrorCode::kConflict)) return ErrorResponse(updated.error());
    if (!precondition.empty()) {
      return ErrorResponse(
          409, "Conflict",
          fmt::format("{} {} changed meanwhile: read it again and retry", ToLower(k.kind), name));
    }
  }
  return ErrorResponse(409, "Conflict",
                       fmt::format("{} {} kept changing; try again", ToLower(k.kind), name));
}

namespace {

Status AsStatus(const Response& r) {
  if (r.status < 300) return Ok();
  Json body = Json::parse(r.body, nullptr, false);
  return Fail(body.is_object() ? body.value("message", r.body) : r.body);
}

}  // namespace

namespace {

// Where an object a controller writes goes: its served kind, namespace (""
// for a cluster-scoped kind) and name.
struct Placement {
  const KindInfo* kind;
  std::string ns, name;
};
Result<Placement> PlacementOf(const Json& object) {
  const KindInfo* k = KindOf(object.value("apiVersion", ""), object.value("kind", ""));
  if (!k) {
    std::string av = object.value("apiVersion", ""), kind = object.value("kind", "");
    if (!model::BuiltInGroup(av)) {
      return Failf(
          "no CustomResourceDefinition defines {} in {} (a custom resource is served once "
          "its CRD is applied)",
          kind, av);
    }
    return Failf("{} {} is not served", av, kind);
  }
  const Json meta = object.value("metadata", Json::object());
  return Placement{k, k->namespaced ? meta.value("namespace", "") : "", meta.value("name", "")};
}

}  // namespace

Status Api::ApplyObject(const Json& object) {
  RefreshCustomKinds();
  STRAKE_TRY_ASSIGN(at, PlacementOf(object));
  return AsStatus(PatchObject(*at.kind, at.ns, at.name, PatchMode::kApply, object));
}

Status Api::ReplaceObject(const Json& object) {
  RefreshCustomKinds();
  STRAKE_TRY_ASSIGN(at, PlacementOf(object));
  // Recorded as `kubectl replace --save-config` does, so that the next
  // comparison (a three-way one) sees a field git removed as a difference.
  Json body = object;
  body["metadata"]["annotations"][model::kLastApplied] = object.dump();
  Request req;
  req.method = "PUT";
  req.body = body.dump();
  return AsStatus(Put(*at.kind, at.ns, at.name, req, false));
}

Result<std::string> Api::CreateObject(const Json& object) {
  RefreshCustomKinds();
  STRAKE_TRY_ASSIGN(at, PlacementOf(object));
  Request req;
  req.method = "POST";
  req.body = object.dump();
  struct Internal {  // set for this create only, whatever Put does
    Internal() { t_internal_create = true; }
    ~Internal() { t_internal_create = false; }
    Internal(const Internal&) = delete;
    Internal& operator=(const Internal&) = delete;
  };
  Response r = [&] {
    Internal internal;
    return Put(*at.kind, at.ns, "", req, true);
  }();
  STRAKE_TRY(AsStatus(r));
  Json made = Json::parse(r.body, nullptr, false);
  if (made.is_discarded()) return Fail("the created object is not JSON");
  return made.value("metadata", Json::object()).value("name", "");
}

Status Api::DeleteObject(const store::Key& key) {
  RefreshCustomKinds();
  const KindInfo* k = KindByName(key.kind);
  if (!k) return Failf("{} is not served", key.kind);
  return AsStatus(Delete(*k, key.ns, key.name));
}

void Api::DeleteOwned(const store::Resource& owner) {
  // A Rollout's revisions, analysis runs, Experiments and what it made for
  // its traffic (a canary Ingress, a TrafficSplit) go with it; an
  // Experiment's analysis runs and Services with it; a CronJob's Jobs.
  static const std::map<std::string, std::vector<const char*>> kOwned = {
      {"Rollout", {"RolloutRevision", "AnalysisRun", "Experiment", "Ingress", "TrafficSplit"}},
      {"Experiment", {"AnalysisRun", "Service"}},
      {"CronJob", {"Job"}}};
  auto owned = kOwned.find(owner.key.kind);
  if (owned == kOwned.end()) return;
  for (const char* kind : owned->second) {
    auto children = store_.List(kind, owner.key.ns, owner.uid);
    if (!children) continue;
    for (const auto& c : *children) {
      DeleteOwned(c);
      (void)store_.Delete(c.key);
      if (c.key.kind == "Service" && traffic_) traffic_->RemoveService(c.key.ns, c.key.name);
    }
  }
}

Response Api::Delete(const KindInfo& k, const std::string& ns, const std::string& name) {
  auto got = store_.Get({k.kind, ns, name});
  if (!got) return ErrorResponse(got.error());
  if (!*got)
    return ErrorResponse(404, "NotFound",
                         fmt::format("{} {} not found", ToLower(k.kind), Quote(name)));
  if (k.kind == "Application") {
    // Argo CD's finalizers: the Application controller deletes what they
    // name (its resources, its delete hooks) before the Application goes.
    const Json meta = (*got)->object.value("metadata", Json::object());
    const Json finalizers = meta.value("finalizers", Json::array());
    bool argo = false;
    for (const auto& f : finalizers) {
      argo = argo || (f.is_string() &&
                      f.get<std::string>().find(".argocd.argoproj.io") != std::string::npos);
    }
    if (argo) {
      if (!meta.contains("deletionTimestamp")) {
        store::Resource r = **got;
        r.object["metadata"]["deletionTimestamp"] = FormatRfc3339(std::chrono::system_clock::now());
        auto w = store_.Update(r, r.resource_version);
        if (!w) return ErrorResponse(w.error());
      }
      return JsonResponse(
          202, {{"kind", "Status"},
                {"status", "Success"},
                {"message", fmt::format("application {} is being deleted (finalizers: {})", name,
                                        finalizers.dump())}});
    }
  }
  if (k.kind == "PullRequest") {
    return ErrorResponse(405, "MethodNotAllowed",
                         fmt::format("pull request {} is closed (strake pr close), not deleted: "
                                     "its number stays its own",
                                     name));
  }
  if (k.kind == "Artifact") {
    auto users = delivery::ArtifactUsers(store_, **got);
    if (!users) return ErrorResponse(users.error());
    if (!users->empty()) {
      return ErrorResponse(409, "Conflict",
                           fmt::format("artifact {} is in use: {}", name, Join(*users, ", ")));
    }
  }
  // What a Stage leaves in its Freight goes before it does, so a Stage made
  // again under its name at once starts clean (its reconciler clears it
  // again after a crash between the two).
  if (k.kind == "Stage") {
    if (auto forgot = delivery::ForgetStage(store_, ns, name); !forgot)
      return ErrorResponse(forgot.error());
  }
  DeleteOwned(**got);
  auto st = store_.Delete({k.kind, ns, name});
  if (!st) return ErrorResponse(st.error());
  if (k.kind == "Service" && traffic_) traffic_->RemoveService(ns, name);
  return JsonResponse(200, {{"kind", "Status"},
                            {"status", "Success"},
                            {"message", fmt::format("{} {} deleted", ToLower(k.kind), name)}});
}

Response Api::RolloutAction(const std::string& ns, const std::string& name,
                            const std::string& action, const Request& req) {
  if (action != "promote" && action != "abort" && action != "retry" && action != "undo") {
    return ErrorResponse(
        404, "NotFound",
        fmt::format("unknown rollout action {} (promote, abort, retry, undo)", Quote(action)));
  }
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return ErrorResponse(400, "BadRequest", "the body must be JSON");
  if (!rollouts_) return ErrorResponse(503, "ServiceUnavailable", "rollouts are not served here");
  auto st =
      rollouts_->Act(ns, name, action, body.value("full", false), body.value("toRevision", 0));
  if (!st) return ErrorResponse(st.error(), 409);
  return Get(*KindByPlural("rollouts"), ns, name);
}

Response Api::ApplicationAction(const std::string& ns, const std::string& name,
                                const std::string& action, const Request& req) {
  if (!apps_) return ErrorResponse(503, "ServiceUnavailable", "applications are not served here");
  bool post = req.method == "POST";
  if (!(action == "diff" && req.method == "GET") &&
      !((action == "sync" || action == "rollback") && post)) {
    return ErrorResponse(404, "NotFound",
                         fmt::format("no {} {} for applications (POST sync, GET diff, POST "
                                     "rollback)",
                                     req.method, action));
  }
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return ErrorResponse(400, "BadRequest", "the body must be a JSON object");
  auto failed = [](const Error& e) { return ErrorResponse(e, 409); };
  if (action == "diff") {
    auto diffs = apps_->Diff(ns, name);
    if (!diffs) return failed(diffs.error());
    Json items = Json::array();
    for (const auto& d : *diffs) {
      items.push_back({{"kind", d.key.kind},
                       {"namespace", d.key.ns},
                       {"name", d.key.name},
                       {"apiVersion", d.api_version},
                       {"status", d.status},
                       {"requiresPruning", d.requires_pruning},
                       {"diff", d.diff}});
    }
    return JsonResponse(200, {{"items", items}});
  }
  if (action == "rollback") {
    if (!body.contains("id") || !body["id"].is_number_integer())
      return ErrorResponse(400, "BadRequest", "rollback takes {\"id\": N}, a history id");
    auto st = apps_->Rollback(ns, name, body["id"].get<int64_t>(), body.value("prune", false));
    if (!st) return failed(st.error());
    return Get(*KindByPlural("applications"), ns, name);
  }
  gitops::SyncRequest sr;
  sr.revision = body.value("revision", "");
  sr.prune = body.value("prune", false);
  sr.dry_run = body.value("dryRun", false);
  auto started = apps_->Sync(ns, name, sr);
  if (!started) return failed(started.error());
  if (sr.dry_run) return JsonResponse(200, *started);
  return Get(*KindByPlural("applications"), ns, name);
}

Response Api::StageGates(const std::string& ns, const std::string& name) {
  auto got = store_.Get({"Stage", ns, name});
  if (!got) return ErrorResponse(got.error());
  if (!*got) return ErrorResponse(404, "NotFound", fmt::format("stage {} not found", Quote(name)));
  auto decoded = model::DecodeObject((**got).object, "stage " + name);
  if (!decoded) return ErrorResponse(422, "Invalid", decoded.error().message);
  auto report = delivery::GateReport(store_, std::get<model::Stage>(decoded->value), (**got).status,
                                     UnixMillis(std::chrono::system_clock::now()), provenance_);
  if (!report) return ErrorResponse(report.error());
  return JsonResponse(200, *report);
}

Response Api::PullRequestAction(const std::string& ns, const std::string& name,
                                const std::string& action, const Request& req) {
  if (action != "merge" && action != "close")
    return ErrorResponse(404, "NotFound",
                         fmt::format("no {} for pullrequest (merge, close)", action));
  if (req.method != "POST")
    return ErrorResponse(405, "MethodNotAllowed",
                         fmt::format("{} {}: POST it", req.method, action));
  if (!pull_requests_)
    return ErrorResponse(503, "ServiceUnavailable", "pull requests are not served here");
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() ||
      !body.value("mergeMethod", Json("")).is_string()) {
    return ErrorResponse(400, "BadRequest",
                         action + " takes {} or {\"mergeMethod\": \"merge\"|\"squash\"}");
  }
  auto who = PrincipalOf(req);
  const std::string actor = who ? who->Identity() : "local";
  auto done = pull_requests_(action, ns, name, body.value("mergeMethod", ""), actor);
  if (!done) return ErrorResponse(done.error());
  return Get(*KindByPlural("pullrequests"), ns, name);
}

Response Api::FreightAction(const std::string& ns, const std::string& name,
                            const std::string& action, const Request& req) {
  if (action != "approve" || req.method != "POST") {
    return ErrorResponse(404, "NotFound",
                         fmt::format("no {} {} for freight (POST approve)", req.method, action));
  }
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.value("stage", Json()).is_string())
    return ErrorResponse(400, "BadRequest", "approve takes {\"stage\": NAME}");
  const std::string stage_name = body["stage"];
  auto stage = store_.Get({"Stage", ns, stage_name});
  if (!stage) return ErrorResponse(stage.error());
  if (!*stage) {
    return ErrorResponse(404, "NotFound",
                         fmt::format("stage {} not found in {}", Quote(stage_name), ns));
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get({"Freight", ns, name});
    if (!got) return ErrorResponse(got.error());
    if (!*got)
      return ErrorResponse(404, "NotFound", fmt::format("freight {} not found", Quote(name)));
    const std::string origin = (**got).object.value("origin", Json::object()).value("name", "");
    bool requested = false;
    for (const auto& r :
         (**stage).object.value("spec", Json::object()).value("requestedFreight", Json::array())) {
      requested = requested ||
                  (r.is_object() && r.value("origin", Json::object()).value("name", "") == origin);
    }
    if (!requested) {
      return ErrorResponse(409, "Conflict",
                           fmt::format("stage {} does not request Freight from Warehouse {}",
                                       Quote(stage_name), Quote(origin)));
    }
    Json status = (**got).status.is_object() ? (**got).status : Json::object();
    if (status.value("approvedFor", Json::object()).contains(stage_name))
      return Get(*KindByPlural("freights"), ns, name);  // approved already
    status["approvedFor"][stage_name] = {
        {"approvedAt", FormatRfc3339(std::chrono::system_clock::now())}};
    auto w = store_.UpdateStatus((**got).key, status, (**got).resource_version, "Approved",
                                 fmt::format("approved for stage {}", stage_name));
    if (w) return Get(*KindByPlural("freights"), ns, name);
    if (!w.error().Is(ErrorCode::kConflict)) return ErrorResponse(w.error());
  }
  return ErrorResponse(409, "Conflict", fmt::format("freight {} kept changing; try again", name));
}

Response Api::RolloutLogs(const std::string& ns, const std::string& name, const Request& req) {
  if (!workloads_) return ErrorResponse(503, "ServiceUnavailable", "workloads are not served here");
  auto got = store_.Get({"Rollout", ns, name});
  if (!got) return ErrorResponse(got.error());
  if (!*got)
    return ErrorResponse(404, "NotFound", fmt::format("rollout {} not found", Quote(name)));
  const Json& status = (*got)->status;
  std::string which = req.query.count("revision") ? req.query.at("revision") : "";
  std::string hash;
  if (which == "stable") hash = status.value("stableRS", "");
  if (which == "canary") {
    hash = status.value("currentPodHash", "");
    if (hash == status.value("stableRS", "")) return Response{200, "text/plain", "", nullptr};
  }
  if (!which.empty() && which != "stable" && which != "canary") {
    return ErrorResponse(400, "BadRequest", "revision is stable or canary");
  }
  // A replica writes its log straight to a file (it outlives the server
  // and is adopted again), so its log is masked as it is served: every
  // value of every Secret of the namespace, in every form SecretMasker
  // knows, whichever the workload read.
  auto masker = NamespaceSecrets(ns);
  if (!masker) return ErrorResponse(masker.error());
  std::string out;
  for (const auto& log : workloads_->Logs(ns, name, hash)) {
    out += fmt::format("==> {} <==\n{}", log.source, masker->Mask(log.text));
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return Response{200, "text/plain; charset=utf-8", out, nullptr};
}

namespace {

std::string QueryValue(const Request& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

}  // namespace

Response Api::RunLogs(const KindInfo& k, const std::string& ns, const std::string& name,
                      const Request& req) {
  std::string task = QueryValue(req, "task"), step = QueryValue(req, "step");
  if (!IsDnsSubdomain(name))
    return ErrorResponse(400, "BadRequest", fmt::format("invalid name {}", Quote(name)));
  for (const auto& [field, value] : {std::pair{"task", task}, std::pair{"step", step}}) {
    if (!value.empty() && !IsDnsLabel(value)) {
      return ErrorResponse(400, "BadRequest",
                           fmt::format("{}: invalid name {}", field, Quote(value.substr(0, 300))));
    }
  }
  auto cursor = ParseLogCursor(QueryValue(req, "after"));
  if (!cursor) return ErrorResponse(cursor.error());
  auto got = store_.Get({k.kind, ns, name});
  if (!got) return ErrorResponse(got.error());
  if (!*got) {
    return ErrorResponse(404, "NotFound",
                         fmt::format("{} {} not found", ToLower(k.kind), Quote(name)));
  }
  // Read before the TaskRuns: when the run had ended, their logs are whole.
  bool done = RunEnded((*got)->status);
  std::vector<store::Resource> task_runs;
  std::string pipeline_run = name;
  if (k.kind == "PipelineRun") {
    // Its TaskRuns, and those of the child PipelineRuns its tasks run (pipelines
    // in pipelines), at any depth.
    std::vector<std::string> runs = {(*got)->uid};
    for (size_t r = 0; r < runs.size() && r < 1000; ++r) {
      auto children = store_.List("TaskRun", ns, runs[r]);
      if (!children) return ErrorResponse(children.error());
      for (auto& c : *children) task_runs.push_back(std::move(c));
      auto nested = store_.List("PipelineRun", ns, runs[r]);
      if (!nested) return ErrorResponse(nested.error());
      for (const auto& c : *nested) runs.push_back(c.uid);
    }
  } else {
    auto owner = (*got)->labels.find("tekton.dev/pipelineRun");
    pipeline_run = owner == (*got)->labels.end() ? "" : owner->second;
    task_runs.push_back(std::move(**got));
  }
  // The steps' logs were masked as they were written, with the Secrets the
  // run could read; they are masked again as they are served, as a
  // replica's are, with every Secret of the namespace besides.
  auto masker = RunSecrets(ns, pipeline_run);
  if (!masker) return ErrorResponse(masker.error());
  Json items = Json::array();
  bool more = false;
  size_t used = 0;
  for (const auto& log : StepLogsOf(task_runs, task, step)) {
    size_t budget = kLogAnswerBytes - used;
    if (budget == 0) {
      more = true;
      break;
    }
    uint64_t& sent = (*cursor)[CursorKey(log)];
    auto slice = ReadFileAt(log.path, sent, budget);
    if (!slice) continue;  // not written yet
    more = more || slice->size() >= budget;
    size_t end = SendableEnd(*slice, log.finished, budget);
    if (end == 0) continue;
    sent += end;
    used += end;
    items.push_back({{"task", log.task},
                     {"taskRun", log.task_run},
                     {"step", log.step},
                     {"text", masker->Mask(std::string_view(*slice).substr(0, end))}});
  }
  Json answer = {{"kind", "StepLogs"},
                 {"items", std::move(items)},
                 {"cursor", FormatLogCursor(*cursor)},
                 {"done", done && !more},
                 {"more", more}};
  // A log holds whatever bytes a step wrote: what is not UTF-8 is sent as U+FFFD.
  return Response{200, "application/json",
                  answer.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", nullptr};
}

Result<SecretMasker> Api::RunSecrets(const std::string& ns, const std::string& run) {
  STRAKE_TRY_ASSIGN(masker, NamespaceSecrets(ns));
  if (run.empty()) return masker;
  STRAKE_TRY_ASSIGN(pr, store_.Get({"PipelineRun", ns, run}));
  if (!pr || !pr->status.is_object()) return masker;
  const Json carried = pr->status.value("strake", Json::object());
  if (!carried.is_object() || !carried.contains("secrets") || !carried["secrets"].is_object())
    return masker;
  for (const auto& [secret, data] : carried["secrets"].items()) {
    if (!data.is_object()) continue;
    for (const auto& [key, value] : data.items()) {
      if (value.is_string()) (void)masker.Add(value.get<std::string>());
    }
  }
  return masker;
}

Result<SecretMasker> Api::NamespaceSecrets(const std::string& ns) {
  SecretMasker m;
  STRAKE_TRY_ASSIGN(values, rollout::SecretValues(store_, ns));
  for (const auto& v : values) (void)m.Add(v);
  return m;
}

Response Api::Dora(const std::string& ns, const std::string& what, const Request& req) {
  if (what == "incidents") return IncidentWebhook(ns, req);
  if (what != "metrics")
    return ErrorResponse(404, "NotFound", fmt::format("no route for {}", req.path));
  insight::Ledger* ledger = dora_;
  if (!ledger) {
    std::lock_guard<std::mutex> lock(own_dora_mu_);
    if (!own_dora_) own_dora_ = std::make_unique<insight::Ledger>(store_);
    ledger = own_dora_.get();
  }
  const int64_t today = FloorDiv(UnixMillis(std::chrono::system_clock::now()), 86'400'000);
  return DoraMetrics(*ledger, ns, req, today);
}

Response Api::ProvenanceKey(const std::string& ns, const std::string& what, const Request& req) {
  if (what != "publickey" || ns.empty())
    return ErrorResponse(404, "NotFound", fmt::format("no route for {}", req.path));
  if (req.method != "GET")
    return ErrorResponse(405, "MethodNotAllowed", "the public key is read: GET");
  if (!keys_) return ErrorResponse(404, "NotFound", "this server signs no provenance");
  auto pem = keys_->PublicKeyFor(ns);
  if (!pem) {
    Log(LogLevel::kError, "provenance: the key of {}: {}", ns, pem.error().message);
    return ErrorResponse(500, "InternalError",
                         fmt::format("the signing key of {} cannot be read (the server's log "
                                     "says why)",
                                     ns));
  }
  return Response{200, "application/x-pem-file", *pem, nullptr};
}

Response Api::Events(const Request& req) {
  int64_t since =
      req.query.count("since") ? std::strtoll(req.query.at("since").c_str(), nullptr, 10) : 0;
  std::string kind = req.query.count("kind") ? req.query.at("kind") : "";
  std::string name = req.query.count("name") ? req.query.at("name") : "";
  std::string only_ns = req.query.count("namespace") ? req.query.at("namespace") : "";
  // Among the newest 10,000 changes; selected by the store, so that a poll
  // for one object's changes reads only those.
  int64_t newest = store_.Revision().value_or(0);
  since = std::max<int64_t>(since, newest - 10'000);
  auto changes = store_.ChangesSince(since, 10'000, {kind, only_ns, name});
  if (!changes) return ErrorResponse(changes.error());
  Json items = Json::array();
  for (const auto& c : *changes) {
    items.push_back({{"revision", c.revision},
                     {"kind", c.key.kind},
                     {"namespace", c.key.ns},
                     {"name", c.key.name},
                     {"type", c.type},
                     {"reason", c.reason},
                     {"message", c.message},
                     {"time", FormatRfc3339(FromUnixMillis(c.time_ms))},
                     {"timeMs", c.time_ms}});
  }
  return JsonResponse(200, {{"items", items}});
}

}  // namespace strake::server
