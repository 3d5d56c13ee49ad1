// Stages and the Freight they hold, as Kargo keeps them
// (api/v1alpha1/stage_types.go, freight_types.go, pkg/api/auto_promotion.go,
// pkg/controller/stages at akuity/kargo 1c764767).
//
// The pure part: which Freight a Stage may take (IsFreightAvailable: approved
// for it, straight from its Warehouse, or verified in upstream Stages and
// soaked there long enough), what a finished Promotion writes into the
// Freight's status (currentlyIn, verifiedIn with the longest soak) and the
// Stage's (freightHistory, newest first, ten kept; lastPromotion), and which
// Freight auto-promotion picks (the newest available by discovery).
//
// StageReconciler: keeps a Stage's status (freightSummary, observed
// generation); verifies the Freight a Promotion brought when the Stage has
// `verification`: an AnalysisRun of its templates (args evaluated as
// `${{ }}` templates with ctx, vars and commitFrom), named
// <stage>.<ulid>.<collection id[:7]> and recorded in the current
// collection's verificationHistory before it is made, so a restart finds it;
// the Freight is verified in the Stage when the run is Successful (Failed,
// Error and Inconclusive leave it unverified). It says in its Ready
// condition when an upstream Stage it names does not exist. And when its
// Project's ProjectConfig enables auto-promotion for it, it asks for a
// Promotion of the newest available Freight of each origin it does not hold
// yet, never for Freight promoted into it before (so a failed one waits for
// a person). The Promotion is made through `create`, which
// applies the API's admission (name, steps from the template, availability).
//
// Reconcile is safe to call from several threads for different keys.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "controller/controller.h"
#include "delivery/gates.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

// The time at j[key] (RFC 3339) in Unix milliseconds; 0 when `j` is not an
// object or the field is absent or not a time.
int64_t TimeMs(const Json& j, const char* key);

// Replaces the status of `key` with fn(status) unless that changes
// nothing (or `key` is gone); a write that lost a race is tried again on
// the fresh status.
Status UpdateStatusOf(store::Store& store, const store::Key& key,
                      const std::function<Json(const Json&)>& fn, const std::string& reason,
                      const std::string& message);

// Whether `freight` (its origin and stored status) may be promoted into
// `stage` at `now_ms`, as Kargo's Stage.IsFreightAvailable.
bool IsFreightAvailable(const model::Stage& stage, const model::FreightOrigin& origin,
                        const Json& freight_status, int64_t now_ms);

// How long the Freight has soaked in `stage`: the longest completed soak,
// or the time since it arrived if it is there now (Kargo's GetLongestSoak).
int64_t LongestSoakMs(const Json& freight_status, const std::string& stage, int64_t now_ms);

// Freight status after it became current in `stage` at `now`, verified
// there at once when the Stage has no verification. Unchanged when it is
// current there already.
Json FreightArrived(Json freight_status, const std::string& stage, const std::string& now,
                    bool verified);
// Freight status after its verification in `stage` succeeded at `now`.
Json FreightVerified(Json freight_status, const std::string& stage, const std::string& now);
// Freight status after it left `stage` (replaced by another), its soak
// there kept as longestSoak when it is the longest.
Json FreightLeft(Json freight_status, const std::string& stage, int64_t now_ms);

// A Freight as Kargo's FreightReference: name, origin, commits.
Json FreightReference(const store::Resource& freight);

// Stage status after `promotion` moved it to `freight` (a FreightReference):
// freightHistory gains a collection of that Freight (replacing the one of
// the same origin, as Kargo's UpdateOrPush), newest first, ten kept; its
// verificationHistory is empty when the Stage verifies (the Stage starts
// one), else one Successful entry at `now`. Unchanged when status.lastPromotion is
// that Promotion already (a finish repeated after a crash).
Json RecordFreight(Json stage_status, const Json& freight, const std::string& promotion,
                   const std::string& now, bool verifies);

// Whether the Stage (with `verification`) is verifying its current
// collection: its newest verification not ended, or not started yet after
// a Promotion.
bool VerificationInProgress(const model::Stage& stage, const Json& stage_status);

// The Freight names of the Stage's current collection.
std::vector<std::string> CurrentFreight(const Json& stage_status);
// Of those, the one from Warehouse `origin` (none or one).
std::vector<std::string> CurrentFreightOf(const Json& stage_status, const std::string& origin);

// Kargo's freightSummary: the one Freight's name, "N/M Fulfilled" when the
// Stage requests several origins, "N/A" when it holds none.
std::string FreightSummary(const Json& stage_status, size_t requested);

// Of `freight` (Freight resources of one origin available to the Stage),
// the one auto-promotion takes: newest discoveredAt (else creation), then
// the greatest name.
const store::Resource* NewestFreight(const std::vector<const store::Resource*>& freight);

// The ProjectConfig's policy for the Stage: whether auto-promotion is on.
bool AutoPromotionEnabled(const std::optional<model::ProjectConfig>& config,
                          const model::Stage& stage);

// Creates an object as the API does (a Promotion: admission fills its name
// and steps; an AnalysisRun: validated). Returns its name.
using CreateObject = std::function<Result<std::string>(const Json& object)>;

// The gate state a Stage's status says ("" when open): its first stopped
// line, else its closed promotion window.
std::string GateState(const Json& stage_status);

// What the gates of `stage` (its stored status `stage_status`) say at
// `now_ms`, for people (`strake describe stage`, GET …/stages/NAME/gates):
//   {"stage", "freight": [the names there now], "promotionWindowStatus"
//    (Kargo's, or null), "stopTheLine" (or null), "criteria": [{name,
//    source, expression}], "approvals": [{name, source, minApprovals,
//    allowSelfApproval}], "candidates": [{name, alias, origin, current,
//    available, why (when not available), gate (what holds it, or null)}]}
// The candidates are the newest `limit` Freight of each origin the Stage
// requests, newest first. Only a store failure is an error.
Result<Json> GateReport(store::Store& store, const model::Stage& stage, const Json& stage_status,
                        int64_t now_ms, const ProvenanceReader& provenance, size_t limit = 10);

// Kargo's requests about a Stage's verification (api/v1alpha1
// annotations.go): kargo.akuity.io/reverify runs the verification of the
// current Freight again, kargo.akuity.io/abort (promotion.h's key, on a
// Stage) stops one in progress. Each names the verification it is about
// (status.freightHistory[0].verificationHistory[0].id) as a plain string or
// as Kargo's VerificationRequest {"id", "actor", "controlPlane"}; a request
// about another verification (an older one, handled already) does nothing.
inline constexpr const char* kReverifyAnnotation = "kargo.akuity.io/reverify";
// The verification id a request's annotation value names ("" if none).
std::string VerificationRequestId(const std::string& value);
// Verifications kept per Freight collection (a reverify adds one).
inline constexpr size_t kVerificationsKept = 10;

// What a deleted Stage leaves, cleared as Kargo's Stage finalizer does:
// its name in the Freight of `ns` (currentlyIn, verifiedIn, approvedFor)
// and its verifications' AnalysisRuns (labelled kargo.akuity.io/stage).
// Safe to run again; nothing to do when nothing names it.
Status ForgetStage(store::Store& store, const std::string& ns, const std::string& name);
// The Stages that Freight statuses name and that do not exist (a server
// that died between a Stage's deletion and ForgetStage): their keys.
Result<std::vector<std::string>> ForgottenStages(store::Store& store);

// How often a running verification's AnalysisRun is looked at, beside the
// wake its changes give.
inline constexpr Millis kVerificationPoll{5000};

class StageReconciler {
 public:
  StageReconciler(store::Store& store, const Clock& clock, CreateObject create);

  Result<controller::ReconcileResult> Reconcile(const std::string& key);
  // Where the Stage's gate decisions are recorded: its gate closing or
  // opening (with the gate and its values), and each Promotion it asks for.
  void SetGateRecord(GateRecord record) { record_ = std::move(record); }
  // How its criteria read provenance (unset: never verified).
  void SetProvenance(ProvenanceReader read) { provenance_ = std::move(read); }

 private:
  // Asks for the Promotions auto-promotion wants; returns the soonest time
  // a soak would make another Freight available (0 = none).
  Result<int64_t> AutoPromote(const model::Stage& stage, const Json& status,
                              const ProjectGates& gates,
                              const std::vector<const store::Resource*>& promotions,
                              int64_t now_ms);
  // Kargo's status.autoPromotionHolds: the hold a rollback put on
  // auto-promotion (null when none).
  Result<Json> AutoPromotionHolds(const model::Stage& stage, const ProjectGates& gates,
                                  const std::vector<const store::Resource*>& promotions);
  // autoRollback (rollback.h): asks for the rollback the Stage's policy
  // wants, through its gates. True while one is wanted (auto-promotion
  // waits).
  Result<bool> RollBack(const model::Stage& stage, const Json& status, const ProjectGates& gates,
                        const std::vector<const store::Resource*>& promotions, int64_t now_ms);
  // What Verify leaves: whether the verification is in progress, and the
  // Stage's status after its writes (as given when it wrote none).
  struct VerifyResult {
    bool in_progress = false;
    Json status;
  };
  // Verifies the current Freight of `got` (the Stage as read), as the
  // opening comment says.
  // Stops the AnalysisRun of verification `entry` (spec.terminate).
  Status AbortVerification(const model::Stage& stage, const Json& entry);
  Result<VerifyResult> Verify(const model::Stage& stage, const store::Resource& got,
                              int64_t now_ms);
  // Starts the AnalysisRun `name` of the Stage's verification; an error
  // that trying again cannot mend is returned as the text to record.
  Result<std::string> StartAnalysis(const model::Stage& stage, const Json& collection,
                                    const std::string& name);

  store::Store& store_;
  const Clock& clock_;
  CreateObject create_;
  GateRecord record_;
  ProvenanceReader provenance_;
};

}  // namespace strake::delivery
