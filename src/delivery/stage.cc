#include "delivery/stage.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "base/duration.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "delivery/approval.h"
#include "delivery/artifact.h"
#include "delivery/conditions.h"
#include "delivery/freight.h"
#include "delivery/promotion.h"
#include "delivery/rollback.h"
#include "delivery/steps.h"
#include "delivery/template.h"
#include "model/decode.h"
#include "rollout/analysis.h"

namespace strake::delivery {

namespace {

constexpr size_t kHistoryKept = 10;  // Kargo's FreightHistory limit

const Json& Field(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() || !it->is_object() ? kEmpty : *it;
}

// A Go duration of whole milliseconds ("1h2m3.5s"), as metav1.Duration writes.
std::string GoDuration(int64_t ms) { return FormatDuration(Millis(ms)); }

// The items of the Stage's current collection (freightHistory[0]); an
// empty object when it has none.
Json CurrentItems(const Json& stage_status) {
  if (!stage_status.is_object()) return Json::object();
  const Json history = stage_status.value("freightHistory", Json::array());
  if (!history.is_array() || history.empty() || !history[0].is_object()) return Json::object();
  return history[0].value("items", Json::object());
}

}  // namespace

int64_t TimeMs(const Json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto t = ParseRfc3339(j.value(key, ""));
  return t ? UnixMillis(*t) : 0;
}

Status UpdateStatusOf(store::Store& store, const store::Key& key,
                      const std::function<Json(const Json&)>& fn, const std::string& reason,
                      const std::string& message) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    STRAKE_TRY_ASSIGN(got, store.Get(key));
    if (!got) return Ok();
    const Json was = got->status.is_object() ? got->status : Json::object();
    Json next = fn(was);
    if (next == was) return Ok();
    auto w = store.UpdateStatus(key, next, got->resource_version, reason, message);
    if (w) return Ok();
    if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  }
  return Failf("{} kept changing; will try again", key.ToString());
}

int64_t LongestSoakMs(const Json& freight_status, const std::string& stage, int64_t now_ms) {
  const Json& verified = Field(freight_status, "verifiedIn");
  if (!verified.contains(stage)) return 0;
  int64_t longest = 0;
  if (verified[stage].is_object()) {
    if (auto d = ParseDuration(verified[stage].value("longestSoak", "")); d) longest = d->count();
  }
  const Json& current = Field(freight_status, "currentlyIn");
  if (current.contains(stage)) {
    int64_t since = TimeMs(current[stage], "since");
    if (since > 0) longest = std::max(longest, now_ms - since);
  }
  return longest;
}

bool IsFreightAvailable(const model::Stage& stage, const model::FreightOrigin& origin,
                        const Json& freight_status, int64_t now_ms) {
  for (const auto& req : stage.spec.requested_freight) {
    if (!(req.origin == origin)) continue;
    if (Field(freight_status, "approvedFor").contains(stage.meta.name)) return true;
    if (req.sources.direct) return true;
    auto ok = [&](const std::string& upstream) {
      return Field(freight_status, "verifiedIn").contains(upstream) &&
             LongestSoakMs(freight_status, upstream, now_ms) >= req.sources.required_soak.count();
    };
    const auto& ups = req.sources.stages;
    if (req.sources.all) return std::all_of(ups.begin(), ups.end(), ok);
    return std::any_of(ups.begin(), ups.end(), ok);
  }
  return false;
}

Json FreightArrived(Json freight_status, const std::string& stage, const std::string& now,
                    bool verified) {
  if (!freight_status.is_object()) freight_status = Json::object();
  Json& current = freight_status["currentlyIn"];
  if (!current.is_object()) current = Json::object();
  if (current.contains(stage)) return freight_status;
  current[stage] = {{"since", now}};
  return verified ? FreightVerified(std::move(freight_status), stage, now) : freight_status;
}

Json FreightVerified(Json freight_status, const std::string& stage, const std::string& now) {
  if (!freight_status.is_object()) freight_status = Json::object();
  Json& verified = freight_status["verifiedIn"];
  if (!verified.is_object()) verified = Json::object();
  if (!verified.contains(stage)) verified[stage] = {{"verifiedAt", now}};
  return freight_status;
}

Json FreightLeft(Json freight_status, const std::string& stage, int64_t now_ms) {
  if (!freight_status.is_object()) return freight_status;
  auto current = freight_status.find("currentlyIn");
  if (current == freight_status.end() || !current->is_object() || !current->contains(stage))
    return freight_status;
  int64_t since = TimeMs((*current)[stage], "since");
  current->erase(stage);
  Json& verified = freight_status["verifiedIn"];
  if (since > 0 && verified.is_object() && verified.contains(stage)) {
    Json& v = verified[stage];
    int64_t soak = now_ms - since;
    auto was = ParseDuration(v.value("longestSoak", ""));
    if (!was || soak > was->count()) v["longestSoak"] = GoDuration(soak);
  }
  return freight_status;
}

Json FreightReference(const store::Resource& freight) {
  Json ref = {{"name", freight.key.name},
              {"origin", freight.object.value("origin", Json::object())}};
  for (const char* key : {"commits", "images", "artifacts"}) {
    if (freight.object.contains(key)) ref[key] = freight.object[key];
  }
  return ref;
}

Json RecordFreight(Json stage_status, const Json& freight, const std::string& promotion,
                   const std::string& now, bool verifies) {
  if (!stage_status.is_object()) stage_status = Json::object();
  Json history = stage_status.value("freightHistory", Json::array());
  if (!history.is_array()) history = Json::array();
  if (stage_status.value("lastPromotion", Json::object()).value("name", "") == promotion)
    return stage_status;  // recorded when it ended
  Json items = history.empty() || !history[0].is_object()
                   ? Json::object()
                   : history[0].value("items", Json::object());
  const Json& origin = freight.value("origin", Json::object());
  items[origin.value("kind", "Warehouse") + "/" + origin.value("name", "")] = freight;
  // Kargo's id: the SHA-1 of the sorted Freight names, joined by commas.
  std::vector<std::string> names;
  for (const auto& [k, v] : items.items()) names.push_back(v.value("name", ""));
  std::sort(names.begin(), names.end());
  Json collection = {
      {"id", Sha1Hex(Join(names, ","))}, {"items", items}, {"verificationHistory", Json::array()}};
  if (!verifies) {
    collection["verificationHistory"].push_back({{"phase", "Successful"},
                                                 {"startTime", now},
                                                 {"finishTime", now},
                                                 {"message", "no verification is configured"}});
  }
  history.insert(history.begin(), collection);
  if (history.size() > kHistoryKept) history.erase(history.begin() + kHistoryKept, history.end());
  stage_status["freightHistory"] = history;
  return stage_status;
}

bool VerificationInProgress(const model::Stage& stage, const Json& stage_status) {
  if (!stage.spec.verification || !stage_status.is_object()) return false;
  const Json history = stage_status.value("freightHistory", Json::array());
  if (!history.is_array() || history.empty() || !history[0].is_object()) return false;
  const Json vh = history[0].value("verificationHistory", Json::array());
  if (!vh.is_array() || vh.empty()) return true;  // recorded by a Promotion, not started yet
  const std::string phase = vh[0].is_object() ? vh[0].value("phase", "") : "";
  return phase.empty() || phase == "Pending" || phase == "Running";
}

std::vector<std::string> CurrentFreight(const Json& stage_status) {
  std::vector<std::string> out;
  const Json items = CurrentItems(stage_status);
  for (const auto& [k, v] : items.items()) {
    if (v.is_object()) out.push_back(v.value("name", ""));
  }
  return out;
}

std::vector<std::string> CurrentFreightOf(const Json& stage_status, const std::string& origin) {
  std::vector<std::string> out;
  const Json items = CurrentItems(stage_status);
  auto it = items.find("Warehouse/" + origin);
  if (it != items.end() && it->is_object()) out.push_back(it->value("name", ""));
  return out;
}

std::string FreightSummary(const Json& stage_status, size_t requested) {
  auto current = CurrentFreight(stage_status);
  if (requested <= 1) return current.empty() ? "N/A" : current.front();
  return fmt::format("{}/{} Fulfilled", current.size(), requested);
}

const store::Resource* NewestFreight(const std::vector<const store::Resource*>& freight) {
  const store::Resource* best = nullptr;
  int64_t best_ms = 0;
  for (const store::Resource* f : freight) {
    int64_t at = TimeMs(f->object, "discoveredAt");
    if (at == 0) at = f->created_ms;
    if (!best || at > best_ms || (at == best_ms && f->key.name > best->key.name)) {
      best = f;
      best_ms = at;
    }
  }
  return best;
}

bool AutoPromotionEnabled(const std::optional<model::ProjectConfig>& config,
                          const model::Stage& stage) {
  if (!config) return false;
  for (const auto& p : config->promotion_policies) {
    if (model::SelectsStage(p.selector, stage.meta.name, stage.meta.labels))
      return p.auto_promotion_enabled;
  }
  return false;
}

std::string GateState(const Json& stage_status) {
  if (!stage_status.is_object()) return "";
  const Json lines = stage_status.value("stopTheLine", Json::array());
  if (lines.is_array() && !lines.empty() && lines[0].is_object()) {
    return fmt::format("line stopped by {}: {}", lines[0].value("source", ""),
                       lines[0].value("reason", ""));
  }
  const Json window = stage_status.value("promotionWindowStatus", Json::object());
  if (window.is_object() && window.value("closed", false))
    return "promotion window: " + window.value("reason", "");
  return "";
}

namespace {

// Why Freight of `origin` is not available to `stage` (IsFreightAvailable
// said no): the upstream Stages it waits on.
std::string NotAvailableWhy(const model::Stage& stage, const model::FreightOrigin& origin) {
  for (const auto& req : stage.spec.requested_freight) {
    if (!(req.origin == origin)) continue;
    std::string soak = req.sources.required_soak.count() > 0
                           ? " and soaked " + FormatDuration(req.sources.required_soak)
                           : "";
    return fmt::format("not verified{} in {} of {}", soak, req.sources.all ? "all" : "one",
                       Join(req.sources.stages, ", "));
  }
  return "the Stage does not request Freight from " + origin.String();
}

}  // namespace

std::string VerificationRequestId(const std::string& value) {
  std::string v(Trim(value));
  if (v.empty() || v.front() != '{') return v;
  Json j = Json::parse(v, nullptr, false);
  return j.is_object() && j.value("id", Json()).is_string() ? j["id"].get<std::string>() : "";
}

// The maps of a Freight's status keyed by Stage name.
constexpr const char* kStageMaps[] = {"currentlyIn", "verifiedIn", "approvedFor"};

Status ForgetStage(store::Store& store, const std::string& ns, const std::string& name) {
  // The runs first: what is found at a start is the Freight that names it.
  STRAKE_TRY_ASSIGN(runs, store.ListHeads("AnalysisRun", ns));
  for (const auto& r : runs) {
    auto stage = r.labels.find("kargo.akuity.io/stage");
    if (stage == r.labels.end() || stage->second != name) continue;
    auto gone = store.Delete(r.key);
    if (!gone && !gone.error().Is(ErrorCode::kNotFound)) return tl::unexpected(gone.error());
  }
  STRAKE_TRY_ASSIGN(all, store.List("Freight", ns));
  for (const auto& f : all) {
    bool named = false;
    for (const char* m : kStageMaps) named = named || Field(f.status, m).contains(name);
    if (!named) continue;
    STRAKE_TRY(UpdateStatusOf(
        store, f.key,
        [&](const Json& was) {
          Json next = was;
          for (const char* m : kStageMaps) {
            if (next.contains(m) && next[m].is_object()) next[m].erase(name);
          }
          return next;
        },
        "StageDeleted", fmt::format("stage {} was deleted", name)));
  }
  return Ok();
}

Result<std::vector<std::string>> ForgottenStages(store::Store& store) {
  STRAKE_TRY_ASSIGN(stages, store.ListHeads("Stage", ""));
  std::set<std::string> exist;
  for (const auto& s : stages) exist.insert(controller::ObjectKey(s.key.ns, s.key.name));
  STRAKE_TRY_ASSIGN(all, store.List("Freight", ""));
  std::set<std::string> gone;
  for (const auto& f : all) {
    for (const char* m : kStageMaps) {
      for (const auto& [stage, v] : Field(f.status, m).items()) {
        std::string key = controller::ObjectKey(f.key.ns, stage);
        if (!exist.count(key)) gone.insert(key);
      }
    }
  }
  return std::vector<std::string>(gone.begin(), gone.end());
}

Result<Json> GateReport(store::Store& store, const model::Stage& stage, const Json& stage_status,
                        int64_t now_ms, const ProvenanceReader& provenance, size_t limit) {
  STRAKE_TRY_ASSIGN(gates, ReadGates(store, stage, now_ms, provenance));
  Json out = {{"stage", stage.meta.name}, {"freight", Json::array()}};
  const Json history = Field(stage_status, "freightHistory");
  if (history.is_array() && !history.empty()) {
    for (const auto& [key, f] : Field(history[0], "items").items())
      out["freight"].push_back(f.value("name", ""));
  }
  out["promotionWindowStatus"] = WindowStatusToJson(gates.windows, gates.any_window);
  out["stopTheLine"] = gates.LineStatusToJson();
  out["criteria"] = Json::array();
  for (const auto& c : gates.criteria)
    out["criteria"].push_back(
        {{"name", c.name}, {"source", c.source}, {"expression", c.expression}});
  out["approvals"] = Json::array();
  for (const auto& a : gates.approvals) {
    out["approvals"].push_back({{"name", a.name},
                                {"source", a.source},
                                {"minApprovals", a.config.min_approvals},
                                {"allowSelfApproval", a.config.allow_self_approval}});
  }
  STRAKE_TRY_ASSIGN(all, store.List("Freight", stage.meta.ns));
  std::vector<const store::Resource*> requested;
  for (const auto& f : all) {
    model::FreightOrigin origin;
    const Json o = Field(f.object, "origin");
    origin.kind = o.value("kind", "Warehouse");
    origin.name = o.value("name", "");
    for (const auto& req : stage.spec.requested_freight) {
      if (req.origin == origin) {
        requested.push_back(&f);
        break;
      }
    }
  }
  std::sort(requested.begin(), requested.end(), [](const auto* a, const auto* b) {
    return a->created_ms != b->created_ms ? a->created_ms > b->created_ms
                                          : a->key.name > b->key.name;
  });
  // At most `limit` of each origin: a busy Warehouse does not hide another's.
  std::map<std::string, size_t> per_origin;
  std::erase_if(requested, [&](const store::Resource* f) {
    const Json o = Field(f->object, "origin");
    return ++per_origin[o.value("kind", "Warehouse") + "/" + o.value("name", "")] > limit;
  });
  out["candidates"] = Json::array();
  for (const auto* f : requested) {
    const Json o = Field(f->object, "origin");
    model::FreightOrigin origin{o.value("kind", "Warehouse"), o.value("name", "")};
    Json c = {{"name", f->key.name},
              {"alias", f->object.value("alias", "")},
              {"origin", origin.String()},
              {"current", Field(f->status, "currentlyIn").contains(stage.meta.name)}};
    const bool available = IsFreightAvailable(stage, origin, f->status, now_ms);
    c["available"] = available;
    if (!available) c["why"] = NotAvailableWhy(stage, origin);
    STRAKE_TRY_ASSIGN(denial, gates.Denial(*f));
    c["gate"] = denial ? Json(*denial) : Json();
    out["candidates"].push_back(std::move(c));
  }
  return out;
}

StageReconciler::StageReconciler(store::Store& store, const Clock& clock, CreateObject create)
    : store_(store), clock_(clock), create_(std::move(create)) {}

Result<controller::ReconcileResult> StageReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Stage", ns, name}));
  if (!got) {
    STRAKE_TRY(ForgetStage(store_, ns, name));
    return controller::ReconcileResult{};
  }
  auto decoded = model::DecodeObject(got->object, "stage " + name);
  if (!decoded) return controller::ReconcileResult{};  // refused at the API
  const auto& stage = std::get<model::Stage>(decoded->value);
  const int64_t now_ms = UnixMillis(clock_.Now());
  controller::ReconcileResult result;
  // Not read again: Verify gives the status as it left it. Auto-promotion
  // reads the current Freight there, which Verify does not change (a
  // Promotion that does wakes the Stage again).
  STRAKE_TRY_ASSIGN(verified, Verify(stage, *got, now_ms));
  if (verified.in_progress) result.requeue_after = kVerificationPoll;
  STRAKE_TRY_ASSIGN(gates, ReadGates(store_, stage, now_ms, provenance_));
  // This Stage's Promotions, read when a policy acts on them.
  std::vector<store::Resource> all_promotions;
  std::vector<const store::Resource*> promotions;
  if (AutoPromotionEnabled(gates.config, stage) ||
      AutoRollbackFor(gates.config, stage.meta.name, stage.meta.labels)) {
    STRAKE_TRY_ASSIGN(listed, store_.List("Promotion", ns));
    all_promotions = std::move(listed);
    for (const auto& p : all_promotions)
      if (Field(p.object, "spec").value("stage", "") == name) promotions.push_back(&p);
  }
  STRAKE_TRY_ASSIGN(rolling_back, RollBack(stage, verified.status, gates, promotions, now_ms));
  int64_t wake_ms = 0;
  if (!rolling_back) {
    STRAKE_TRY_ASSIGN(wake, AutoPromote(stage, verified.status, gates, promotions, now_ms));
    wake_ms = wake;
  }
  if (wake_ms > 0 && !verified.in_progress) result.requeue_after = Millis(wake_ms - now_ms);
  // The window status is kept true: looked at again when it changes.
  if (int64_t change = gates.NextChangeMs(); change > now_ms) {
    Millis until(change - now_ms);
    if (!result.requeue_after || *result.requeue_after > until) result.requeue_after = until;
  }
  const Json window_status = WindowStatusToJson(gates.windows, gates.any_window);
  const Json line_status = gates.LineStatusToJson();
  STRAKE_TRY_ASSIGN(hold_status, AutoPromotionHolds(stage, gates, promotions));
  const Json& holds = hold_status;
  const int64_t generation = got->generation;
  const size_t requested = stage.spec.requested_freight.size();
  // An upstream Stage that does not exist (yet): said, not waited on quietly.
  std::vector<std::string> missing;
  for (const auto& req : stage.spec.requested_freight) {
    for (const auto& up : req.sources.stages) {
      STRAKE_TRY_ASSIGN(there, store_.Get({"Stage", ns, up}));
      if (!there) missing.push_back(Quote(up));
    }
  }
  const std::string now = FormatRfc3339(FromUnixMillis(now_ms));
  std::string gate_was, gate_now;  // the Stage's gate state before and after
  STRAKE_TRY(UpdateStatusOf(
      store_, got->key,
      [&](const Json& was) {
        gate_was = GateState(was);
        Json next = was;
        // Kargo's status.metadata.stableFreight: per origin, the newest
        // Freight verified here (what autoRollback goes back to).
        if (auto stable = StableFreight(was); !stable.empty())
          next["metadata"]["stableFreight"] = stable;
        next["observedGeneration"] = generation;
        next["freightSummary"] = FreightSummary(was, requested);
        for (const auto& [field, value] :
             {std::pair{"promotionWindowStatus", &window_status},
              std::pair{"stopTheLine", &line_status}, std::pair{"autoPromotionHolds", &holds},
              std::pair{"effectiveAutoPromotionHolds", &holds}}) {
          if (value->is_null()) {
            next.erase(field);
          } else {
            next[field] = *value;
          }
        }
        Json conditions = next.value("conditions", Json::array());
        if (missing.empty()) {
          SetCondition(conditions, "Ready", true, "Reconciled", "", now, generation);
        } else {
          SetCondition(conditions, "Ready", false, "UpstreamStageNotFound",
                       fmt::format("requests Freight from Stage {} in {}, which does not exist",
                                   Join(missing, ", "), stage.meta.ns),
                       now, generation);
        }
        next["conditions"] = conditions;
        gate_now = GateState(next);
        return next;
      },
      missing.empty() ? "Reconciled" : "UpstreamStageNotFound", ""));
  if (gate_was != gate_now && record_) {
    record_(fmt::format("stage {}/{}", ns, name), gate_now.empty() ? "gate.open" : "gate.closed",
            gate_now.empty() ? "was: " + gate_was : gate_now);
  }
  return result;
}

namespace {

bool IsTerminalVerification(const std::string& phase) {
  return phase == "Successful" || phase == "Failed" || phase == "Error" ||
         phase == "Inconclusive" || phase == "Aborted";
}

// The Stage status with `entry` as the newest verification of the
// collection `id` (the same entry replaced), unchanged when that collection
// is no longer the current one.
Json WithVerification(const Json& stage_status, const std::string& id, const Json& entry) {
  Json st = stage_status;
  Json& h = st["freightHistory"];
  if (!h.is_array() || h.empty() || h[0].value("id", "") != id) return stage_status;
  Json& vh = h[0]["verificationHistory"];
  if (!vh.is_array()) vh = Json::array();
  if (!vh.empty() && vh[0].value("id", "") == entry.value("id", "")) {
    vh[0] = entry;
  } else {
    vh.insert(vh.begin(), entry);
    if (vh.size() > kVerificationsKept) vh.erase(vh.begin() + kVerificationsKept, vh.end());
  }
  return st;
}

// The commits (those its artifacts were built from too) and the artifacts
// of every Freight of a collection.
Json CollectionCommits(const Json& collection) {
  Json out = Json::array();
  const Json items = collection.value("items", Json::object());
  for (const auto& [origin, f] : items.items()) {
    for (const auto& c : CommitsOf(f)) out.push_back(c);
  }
  return out;
}

// Every `key` list ("artifacts", "images") of the collection's Freight.
Json CollectionList(const Json& collection, const char* key) {
  Json out = Json::array();
  const Json items = collection.value("items", Json::object());
  for (const auto& [origin, f] : items.items()) {
    for (const auto& a : f.value(key, Json::array())) out.push_back(a);
  }
  return out;
}

}  // namespace

Result<std::string> StageReconciler::StartAnalysis(const model::Stage& stage,
                                                   const Json& collection,
                                                   const std::string& name) {
  const model::Verification& v = *stage.spec.verification;
  TemplateEnv env;
  env.vars["ctx"] = rollout::Value{{"project", stage.meta.ns}, {"stage", stage.meta.name}};
  env.functions["commitFrom"] = CommitFrom(CollectionCommits(collection));
  env.functions["artifactFrom"] = ArtifactFrom(CollectionList(collection, "artifacts"));
  env.functions["imageFrom"] =
      ImageFrom(CollectionList(collection, "artifacts"), CollectionList(collection, "images"));
  auto vars = EvaluateVars(stage.spec.vars, env, Json::object());
  if (!vars) return vars.error().message;
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& arg : v.args) {
    auto value = EvaluateTemplate(arg.value, env);
    if (!value) return fmt::format("args.{}: {}", arg.name, value.error().message);
    values.emplace_back(arg.name, value->is_string() ? value->get<std::string>() : value->dump());
  }
  std::vector<model::RolloutAnalysis::TemplateRef> refs;
  for (const auto& t : v.templates) refs.push_back({t.name, t.cluster});
  auto spec = rollout::AnalysisRunSpec(store_, stage.meta.ns, refs, values);
  if (!spec) return spec.error().message;
  Json labels = Json::object();
  for (const auto& [k, val] : v.run_labels) labels[k] = val;
  labels["kargo.akuity.io/stage"] = stage.meta.name;
  labels["kargo.akuity.io/freight-collection"] = collection.value("id", "");
  Json meta = {{"name", name}, {"namespace", stage.meta.ns}, {"labels", labels}};
  for (const auto& [k, val] : v.run_annotations) meta["annotations"][k] = val;
  Json run = {{"apiVersion", "argoproj.io/v1alpha1"},
              {"kind", "AnalysisRun"},
              {"metadata", meta},
              {"spec", *spec}};
  auto made = create_(run);
  if (!made) {
    STRAKE_TRY_ASSIGN(there, store_.Get({"AnalysisRun", stage.meta.ns, name}));
    if (there) return std::string();  // made by an earlier pass
    // The spec came from stored templates: a refusal here is the store's
    // or a race, tried again with the controller's backoff.
    return tl::unexpected(made.error().Wrap("verification of stage " + stage.meta.name));
  }
  return std::string();
}

Result<StageReconciler::VerifyResult> StageReconciler::Verify(const model::Stage& stage,
                                                              const store::Resource& got,
                                                              int64_t now_ms) {
  VerifyResult out{false, got.status.is_object() ? got.status : Json::object()};
  if (!stage.spec.verification || !got.status.is_object()) return out;
  const Json history = got.status.value("freightHistory", Json::array());
  if (!history.is_array() || history.empty() || !history[0].is_object()) return out;
  const Json& collection = history[0];
  const std::string id = collection.value("id", "");
  const std::string now = FormatRfc3339(FromUnixMillis(now_ms));
  // Records `entry` as the newest verification of the current collection;
  // out.status follows what is written.
  auto record = [&](const Json& entry, const std::string& reason, const std::string& message) {
    return UpdateStatusOf(
        store_, got.key,
        [&](const Json& was) {
          out.status = WithVerification(was, id, entry);
          return out.status;
        },
        reason, message);
  };
  const Json vh = collection.value("verificationHistory", Json::array());
  Json entry = vh.is_array() && !vh.empty() ? vh[0] : Json();
  auto asked = [&](const char* key) {
    auto a = stage.meta.annotations.find(key);
    return entry.is_object() && a != stage.meta.annotations.end() &&
           VerificationRequestId(a->second) == entry.value("id", "");
  };
  // Asked again about the one that ended: a new verification (a new id,
  // so the same request is not acted on twice).
  if (asked(kReverifyAnnotation) && IsTerminalVerification(entry.value("phase", "")))
    entry = Json();
  if (asked(kAbortAnnotation) && !IsTerminalVerification(entry.value("phase", ""))) {
    STRAKE_TRY(AbortVerification(stage, entry));
    entry["phase"] = "Aborted";
    entry["message"] = "verification aborted by request";
    entry["finishTime"] = now;
    STRAKE_TRY(record(entry, "VerificationAborted",
                      fmt::format("verification of {} aborted by request", id)));
    return out;
  }
  if (!entry.is_object()) {
    // The run's name is recorded before the run is made: a restart finds it.
    std::string name = KargoChildName(stage.meta.name, id, NewUlid(now_ms));
    entry = {{"id", NewUid()},
             {"startTime", now},
             {"phase", "Pending"},
             {"analysisRun", {{"namespace", stage.meta.ns}, {"name", name}, {"phase", ""}}}};
    STRAKE_TRY(record(entry, "VerificationPending",
                      fmt::format("verification of {} starts: AnalysisRun {}", id, name)));
  }
  const std::string phase = entry.value("phase", "");
  if (IsTerminalVerification(phase)) return out;
  const std::string run_name = entry.value("analysisRun", Json::object()).value("name", "");
  STRAKE_TRY_ASSIGN(run, store_.Get({"AnalysisRun", stage.meta.ns, run_name}));
  if (!run) {
    STRAKE_TRY_ASSIGN(failed, StartAnalysis(stage, collection, run_name));
    if (failed.empty()) {
      out.in_progress = true;
      return out;
    }
    entry["phase"] = "Error";
    entry["message"] = failed;
    entry["finishTime"] = now;
    STRAKE_TRY(record(entry, "VerificationError", failed));
    return out;
  }
  const Json rs = run->status.is_object() ? run->status : Json::object();
  std::string run_phase = rs.value("phase", "");
  Json next = entry;
  next["analysisRun"]["phase"] = run_phase;
  next["phase"] = IsTerminalVerification(run_phase) ? run_phase : "Running";
  if (!rs.value("message", "").empty()) next["message"] = rs.value("message", "");
  if (!IsTerminalVerification(run_phase)) {
    if (next != entry) STRAKE_TRY(record(next, "VerificationRunning", "verification running"));
    out.in_progress = true;
    return out;
  }
  next["finishTime"] = now;
  if (run_phase == "Successful") {
    // The Freight first: a restart between the two writes repeats both.
    const Json items = collection.value("items", Json::object());
    for (const auto& [origin, f] : items.items()) {
      STRAKE_TRY(UpdateStatusOf(
          store_, {"Freight", stage.meta.ns, f.value("name", "")},
          [&](const Json& st) { return FreightVerified(st, stage.meta.name, now); }, "Verified",
          fmt::format("verified in stage {}", stage.meta.name)));
    }
  }
  STRAKE_TRY(record(next, "Verification" + run_phase,
                    fmt::format("verification of {} {}", id, ToLower(run_phase))));
  return out;
}

// Stops the AnalysisRun of `entry` (Argo Rollouts' spec.terminate), if
// it was made.
Status StageReconciler::AbortVerification(const model::Stage& stage, const Json& entry) {
  const std::string run_name = entry.value("analysisRun", Json::object()).value("name", "");
  for (int attempt = 0; attempt < 5 && !run_name.empty(); ++attempt) {
    STRAKE_TRY_ASSIGN(run, store_.Get({"AnalysisRun", stage.meta.ns, run_name}));
    if (!run || run->object["spec"].value("terminate", false)) return Ok();
    run->object["spec"]["terminate"] = true;
    auto w = store_.Update(*run, run->resource_version);
    if (w) return Ok();
    if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
  }
  return Ok();
}

Result<Json> StageReconciler::AutoPromotionHolds(
    const model::Stage& stage, const ProjectGates& gates,
    const std::vector<const store::Resource*>& promotions) {
  if (!AutoPromotionEnabled(gates.config, stage)) return Json();
  const store::Resource* rollback = HoldingRollback(promotions);
  if (!rollback) return Json();
  STRAKE_TRY_ASSIGN(freight, store_.Get({"Freight", stage.meta.ns,
                                         Field(rollback->object, "spec").value("freight", "")}));
  return RollbackHolds(*rollback, freight ? freight->object : Json::object());
}

Result<bool> StageReconciler::RollBack(const model::Stage& stage, const Json& status,
                                       const ProjectGates& gates,
                                       const std::vector<const store::Resource*>& promotions,
                                       int64_t now_ms) {
  auto policy = AutoRollbackFor(gates.config, stage.meta.name, stage.meta.labels);
  if (!policy || stage.spec.steps.empty()) return false;
  auto plan = PlanRollback(*policy, status, promotions, now_ms);
  if (!plan) return false;
  // Made whatever the gates say (the API lets the server's rollback
  // through): it waits, Pending, for them to open, so one wanted in a
  // freeze is not lost to the 20-minute limit.
  const std::string& ns = stage.meta.ns;
  Json promotion = {{"apiVersion", model::kKargoApiVersion},
                    {"kind", "Promotion"},
                    {"metadata",
                     {{"namespace", ns},
                      {"annotations",
                       {{kCreateActorAnnotation, kAutoRollbackActor},
                        {kRollbackAnnotation, "true"},
                        {kRollbackOfAnnotation, plan->of}}}}},
                    {"spec", {{"stage", stage.meta.name}, {"freight", plan->freight}}}};
  const std::string target = fmt::format("stage {}/{}", ns, stage.meta.name);
  auto made = create_(promotion);
  if (!made) {
    // Refused (the stable Freight gone, or no longer available here): said,
    // and the rest of the Stage's work goes on.
    Log(LogLevel::kWarn, "{}: auto-rollback to {} refused: {}", target, plan->freight,
        made.error().message);
    return true;
  }
  if (record_)
    record_(target, "auto-rollback", fmt::format("Promotion {}: {}", *made, plan->reason));
  return true;
}

namespace {

// The newest of `available` that `gates` admit (nullptr: none).
Result<const store::Resource*> NewestAdmitted(const ProjectGates& gates,
                                              std::vector<const store::Resource*> available) {
  while (const store::Resource* pick = NewestFreight(available)) {
    STRAKE_TRY_ASSIGN(denied, gates.Denial(*pick));
    if (!denied) return pick;
    available.erase(std::find(available.begin(), available.end(), pick));
  }
  return nullptr;
}

}  // namespace

Result<int64_t> StageReconciler::AutoPromote(const model::Stage& stage, const Json& status,
                                             const ProjectGates& gates,
                                             const std::vector<const store::Resource*>& promotions,
                                             int64_t now_ms) {
  const std::string& ns = stage.meta.ns;
  if (!AutoPromotionEnabled(gates.config, stage) || stage.spec.steps.empty()) return 0;
  // A closed gate: nothing asked for now; the Stage wakes when it opens.
  if (gates.DenialForAll()) return gates.NextChangeMs();
  // Rolled back: held until a person promotes into the Stage (Kargo's
  // auto-promotion hold), so what failed is not brought back by itself.
  if (HoldingRollback(promotions)) return 0;
  // Freight this Stage was asked to take already: not asked for again
  // (running, done, or failed — a failed one waits for a person).
  std::set<std::string> asked;
  for (const auto* p : promotions) {
    asked.insert(Field(p->object, "spec").value("freight", ""));
    if (!IsFinalPhase(p->status.is_object() ? p->status.value("phase", "") : ""))
      return 0;  // one at a time: the next is chosen when this one ends
  }
  auto current = CurrentFreight(status);
  STRAKE_TRY_ASSIGN(all, store_.List("Freight", ns));
  int64_t wake_ms = 0;
  for (const auto& req : stage.spec.requested_freight) {
    std::vector<const store::Resource*> available;
    for (const auto& f : all) {
      model::FreightOrigin origin{"Warehouse", Field(f.object, "origin").value("name", "")};
      if (!(origin == req.origin)) continue;
      bool upstream_now = !req.sources.match_upstream || req.sources.stages.empty() ||
                          Field(f.status, "currentlyIn").contains(req.sources.stages[0]);
      if (IsFreightAvailable(stage, origin, f.status, now_ms)) {
        // MatchUpstream: what the upstream Stage holds now (Kargo's CurrentlyIn).
        if (upstream_now) available.push_back(&f);
      } else if (req.sources.required_soak.count() > 0) {
        for (const auto& up : req.sources.stages) {
          if (!Field(f.status, "currentlyIn").contains(up)) continue;
          int64_t at =
              now_ms + req.sources.required_soak.count() - LongestSoakMs(f.status, up, now_ms);
          if (wake_ms == 0 || at < wake_ms) wake_ms = at;
        }
      }
    }
    if (req.sources.match_upstream && available.size() > 1) continue;  // Kargo: transient
    // Forward only: never Freight older than what the Stage has of this
    // origin (a criterion that its current Freight fails is no rollback).
    const store::Resource* have = nullptr;
    for (const auto& f : all) {
      if (std::find(current.begin(), current.end(), f.key.name) == current.end()) continue;
      if (Field(f.object, "origin").value("name", "") != req.origin.name) continue;
      if (!have || NewestFreight({&f, have}) == &f) have = &f;
    }
    if (have) {
      std::erase_if(available, [&](const store::Resource* f) {
        return f == have || NewestFreight({f, have}) == have;
      });
    }
    // The newest that the gates let through (on a stopped line, what an
    // exception names; what meets the criteria).
    STRAKE_TRY_ASSIGN(pick, NewestAdmitted(gates, available));
    if (!pick || asked.count(pick->key.name)) continue;
    if (std::find(current.begin(), current.end(), pick->key.name) != current.end()) continue;
    Json promotion = {
        {"apiVersion", model::kKargoApiVersion},
        {"kind", "Promotion"},
        {"metadata",
         {{"namespace", ns}, {"annotations", {{kCreateActorAnnotation, "kargo:auto-promotion"}}}}},
        {"spec", {{"stage", stage.meta.name}, {"freight", pick->key.name}}}};
    STRAKE_TRY_ASSIGN(made, create_(promotion));
    if (record_) {
      record_(fmt::format("stage {}/{}", ns, stage.meta.name), "auto-promotion",
              fmt::format("Promotion {} of Freight {}: no gate holds it", made, pick->key.name));
    }
    return 0;  // one Promotion at a time
  }
  return wake_ms;
}

}  // namespace strake::delivery
