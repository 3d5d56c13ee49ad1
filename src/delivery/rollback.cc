#include "delivery/rollback.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/clock.h"
#include "delivery/approval.h"
#include "delivery/stage.h"
#include "delivery/steps.h"

namespace strake::delivery {

namespace {

const Json& Obj(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::string PhaseOf(const store::Resource& p) {
  return p.status.is_object() ? p.status.value("phase", "") : "";
}

bool Listed(const std::vector<std::string>& phases, const std::string& phase) {
  return std::find(phases.begin(), phases.end(), phase) != phases.end();
}

const store::Resource* Newest(const std::vector<const store::Resource*>& promotions) {
  const store::Resource* newest = nullptr;
  for (const auto* p : promotions) {
    if (!newest || p->created_ms > newest->created_ms ||
        (p->created_ms == newest->created_ms && p->key.name > newest->key.name))
      newest = p;
  }
  return newest;
}

// A failure the policy answers: what failed (per origin), when, and why.
struct Failure {
  std::map<std::string, std::string> freight;  // origin -> the Freight that failed
  int64_t at_ms = 0;
  std::string what;
  std::string id;  // kRollbackOfAnnotation's value
};

std::string RollbackOf(const store::Resource& p) {
  return Obj(Obj(p.object, "metadata"), "annotations").value(kRollbackOfAnnotation, "");
}

std::optional<Failure> VerificationFailure(const model::AutoRollback& policy,
                                           const Json& stage_status) {
  const Json history = stage_status.value("freightHistory", Json::array());
  if (!history.is_array() || history.empty() || !history[0].is_object()) return std::nullopt;
  const Json& current = history[0];
  const Json vh = current.value("verificationHistory", Json::array());
  if (!vh.is_array() || vh.empty() || !vh[0].is_object()) return std::nullopt;
  const std::string phase = vh[0].value("phase", "");
  if (!Listed(policy.on_verification, phase)) return std::nullopt;
  Failure f;
  for (const auto& [origin, item] : Obj(current, "items").items())
    f.freight[origin] = item.value("name", "");
  f.at_ms = TimeMs(vh[0], "finishTime");
  f.what = fmt::format("verification of {} {}", current.value("id", ""), phase);
  f.id = fmt::format("verification {}/{}", current.value("id", ""), vh[0].value("id", ""));
  return f;
}

std::optional<Failure> PromotionFailure(const model::AutoRollback& policy,
                                        const store::Resource* newest) {
  if (!newest || IsRollback(*newest)) return std::nullopt;  // no rollback of a rollback
  // One that never started (a gate failed it: an approval policy's
  // rejection) deployed nothing: nothing to roll back.
  if (!newest->status.is_object() || !newest->status.contains("startedAt")) return std::nullopt;
  const std::string phase = PhaseOf(*newest);
  if (!Listed(policy.on_promotion, phase)) return std::nullopt;
  const Json freight = Obj(newest->status, "freight");
  const Json origin = Obj(freight, "origin");
  Failure f;
  f.freight[origin.value("kind", "Warehouse") + "/" + origin.value("name", "")] =
      Obj(newest->object, "spec").value("freight", "");
  f.at_ms = TimeMs(newest->status, "finishedAt");
  f.what = fmt::format("promotion {} {}", newest->key.name, phase);
  f.id = "promotion " + newest->key.name;
  return f;
}

}  // namespace

std::map<std::string, std::string> StableFreight(const Json& stage_status) {
  std::map<std::string, std::string> out;
  const Json history = stage_status.is_object()
                           ? stage_status.value("freightHistory", Json::array())
                           : Json::array();
  for (const auto& c : history) {  // newest first
    if (!c.is_object()) continue;
    // Judged by its newest verification that came to a verdict: one
    // running again (kargo verify), or aborted, does not unmake a success.
    const Json vh = c.value("verificationHistory", Json::array());
    std::string verdict;
    for (const auto& v : vh.is_array() ? vh : Json::array()) {
      const std::string phase = v.is_object() ? v.value("phase", "") : "";
      if (phase == "Successful" || phase == "Failed" || phase == "Error" ||
          phase == "Inconclusive") {
        verdict = phase;
        break;
      }
    }
    if (verdict != "Successful") continue;
    for (const auto& [origin, item] : Obj(c, "items").items())
      out.emplace(origin, item.value("name", ""));  // the newest kept
  }
  return out;
}

bool IsRollback(const store::Resource& promotion) {
  const Json annotations = Obj(Obj(promotion.object, "metadata"), "annotations");
  return annotations.value(kRollbackAnnotation, "") == "true";
}

std::optional<Rollback> PlanRollback(const model::AutoRollback& policy, const Json& stage_status,
                                     const std::vector<const store::Resource*>& promotions,
                                     int64_t now_ms) {
  // Settled: nothing Pending or Running (it may yet mend the failure).
  for (const auto* p : promotions)
    if (!IsFinalPhase(PhaseOf(*p))) return std::nullopt;
  const store::Resource* newest = Newest(promotions);
  std::optional<Failure> failure = VerificationFailure(policy, stage_status);
  if (auto promo = PromotionFailure(policy, newest);
      promo && (!failure || promo->at_ms > failure->at_ms))
    failure = std::move(promo);
  if (!failure || failure->at_ms <= 0 || now_ms - failure->at_ms > kMaxFailureAgeMs)
    return std::nullopt;
  // Asked for once per failure: not again (a restart finds it), whatever
  // the clocks say.
  bool asked = std::any_of(promotions.begin(), promotions.end(), [&](const auto* p) {
    return IsRollback(*p) && RollbackOf(*p) == failure->id;
  });
  if (asked) return std::nullopt;
  const auto stable = StableFreight(stage_status);
  for (const auto& [origin, bad] : failure->freight) {
    auto it = stable.find(origin);
    if (it == stable.end() || it->second == bad) continue;
    return Rollback{
        it->second, origin,
        fmt::format("{}: back to {}, the last Freight verified here", failure->what, it->second),
        failure->id};
  }
  return std::nullopt;
}

const store::Resource* HoldingRollback(const std::vector<const store::Resource*>& promotions) {
  const store::Resource* newest = Newest(promotions);
  return newest && IsRollback(*newest) ? newest : nullptr;
}

Json RollbackHolds(const store::Resource& rollback, const Json& freight) {
  const Json origin = Obj(freight, "origin");
  const std::string kind = origin.value("kind", "Warehouse");
  const std::string name = origin.value("name", "");
  Json hold = {
      {"freightName", Obj(rollback.object, "spec").value("freight", "")},
      {"origin", {{"kind", kind}, {"name", name}}},
      {"promotionName", rollback.key.name},
      {"actor",
       Obj(Obj(rollback.object, "metadata"), "annotations").value(kCreateActorAnnotation, "")},
      {"createdAt", FormatRfc3339(FromUnixMillis(rollback.created_ms))}};
  return {{kind + "/" + name, hold}};
}

std::optional<model::AutoRollback> AutoRollbackFor(
    const std::optional<model::ProjectConfig>& config, const std::string& stage,
    const std::map<std::string, std::string>& labels) {
  if (!config) return std::nullopt;
  for (const auto& p : config->promotion_policies) {
    if (model::SelectsStage(p.selector, stage, labels)) return p.auto_rollback;
  }
  return std::nullopt;
}

}  // namespace strake::delivery
