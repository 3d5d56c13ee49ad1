// Kargo's autoRollback (Kargo Enterprise only; here in the open binary): a
// Stage whose verification fails (or whose Promotion fails, when asked) goes
// back to its stable Freight, per origin the newest Freight verified there,
// through a Promotion like any other: the Stage's steps, its gates (a
// window or a stopped line holds a rollback too), marked
// kargo.akuity.io/rollback: "true" and made by "kargo:auto-rollback".
//
// The origins of a multi-origin Stage go back one at a time, in the order
// of their names (Kargo: in the order they were promoted), and
// auto-promotion holds for the whole Stage (Kargo: for the origin).
//
// As Kargo: only when the Stage is settled (no Promotion of it Pending or
// Running); only for a failure younger than 20 minutes (enabling it on a
// Stage that failed long ago does nothing); never a rollback of a rollback
// (a rollback Promotion that fails is left to a person); nothing when the
// Stage has verified nothing, or its stable Freight is what failed. Once
// rolled back, auto-promotion holds until a person promotes into the Stage
// (Kargo's auto-promotion hold), so the Freight that failed, or the next,
// is not brought back by itself.
//
// Exactly once across kill -9: the decision is read from the store (the
// Stage's history and its Promotions), so a rollback Promotion made just
// before a crash is found, not made again. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

inline constexpr const char* kRollbackAnnotation = "kargo.akuity.io/rollback";
inline constexpr const char* kAutoRollbackActor = "kargo:auto-rollback";
// The failure a rollback answers ("verification <collection>/<id>",
// "promotion <name>"): a rollback is asked for once per failure, whatever
// the clocks say.
inline constexpr const char* kRollbackOfAnnotation = "strake.dev/rollback-of";
// Kargo ignores failures older than this (its "maximum failure age").
inline constexpr int64_t kMaxFailureAgeMs = int64_t{20} * 60 * 1000;

// Per origin ("Warehouse/w"), the Freight of the newest collection in the
// Stage's freightHistory whose newest verification is Successful: Kargo's
// status.metadata.stableFreight.
std::map<std::string, std::string> StableFreight(const Json& stage_status);

// Whether the Promotion was made as a rollback.
bool IsRollback(const store::Resource& promotion);

struct Rollback {
  std::string freight;  // the stable Freight to promote
  std::string origin;   // "Warehouse/w"
  std::string reason;   // "verification of <collection> Failed: back to <freight>"
  std::string of;       // the failure it answers (kRollbackOfAnnotation)
};

// What `policy` asks of a Stage with `stage_status` and the Promotions
// `promotions` (this Stage's, any order) at `now_ms`: a rollback, or none.
std::optional<Rollback> PlanRollback(const model::AutoRollback& policy, const Json& stage_status,
                                     const std::vector<const store::Resource*>& promotions,
                                     int64_t now_ms);

// The rollback that holds auto-promotion: the Stage's newest Promotion when
// it is one (a person's Promotion after it lifts the hold), else null.
const store::Resource* HoldingRollback(const std::vector<const store::Resource*>& promotions);

// The hold `rollback` puts on auto-promotion as Kargo's Stage
// status.autoPromotionHolds says it: keyed by the origin ("Warehouse/w") of
// `freight` (the rollback's Freight), the rollback's Freight, Promotion,
// actor and creation time.
Json RollbackHolds(const store::Resource& rollback, const Json& freight);

// The autoRollback of the first promotion policy that selects the Stage.
std::optional<model::AutoRollback> AutoRollbackFor(
    const std::optional<model::ProjectConfig>& config, const std::string& stage,
    const std::map<std::string, std::string>& labels);

}  // namespace strake::delivery
