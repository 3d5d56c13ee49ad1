// PromotionReconciler: runs a Promotion's steps, as Kargo's Promotion
// controller and local orchestrator do (pkg/controller/promotions,
// pkg/promotion/local_orchestrator.go at akuity/kargo 1c764767), with every
// step's record durable before the step acts.
//
// - One Promotion per Stage runs at a time: the oldest (by creation, then
//   name) of those not finished; the others wait as Pending.
// - Each step: decided (skip, or `if`), then its record written Running
//   with startedAt, then run; its output is kept in status.state[alias] and
//   the record completed (delivery/steps.h: thresholds, timeouts). A step
//   that answers Running, or errs below its threshold, is tried again after
//   a short wait. kill -9 at any instant: the restarted server finds the
//   record and runs that step again — the built-in steps are written so that
//   a second run of a finished step changes nothing (argocd-update finds its
//   sync by the Promotion's name).
// - At the end the phase is the steps' (steps.h FinalPhase). A Succeeded
//   Promotion makes its Freight current (and verified) in the Stage, the
//   one before leaves, and the Stage's freightHistory gains it; these
//   writes come before the Promotion's own, and repeat harmlessly.
//
// Templates (`${{ }}`) in vars, `if` and config see Kargo's environment:
// ctx (project, stage, promotion, targetFreight{name, alias, origin{name}},
// meta.promotion.actor), vars, outputs (by alias) and task.outputs (the
// same), and the functions commitFrom(repoURL[, origin]), warehouse(name),
// success(), failure(), always(), status(alias).
//
// Reconcile is safe to call from several threads for different keys.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/duration.h"
#include "base/result.h"
#include "controller/controller.h"
#include "delivery/gates.h"
#include "delivery/steps.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

// What one step is given.
struct StepContext {
  std::string project;  // the namespace
  std::string stage;
  std::string promotion;
  std::string alias;
  const store::Resource* freight = nullptr;           // the target Freight
  std::string work_dir;                               // the Promotion's, kept until it ends
  Json config;                                        // evaluated
  Json output;                                        // this step's output of an earlier attempt
  const store::Resource* promotion_object = nullptr;  // as read for this attempt
};

// What one attempt of a step gives back: its status (steps.h Attempt) and
// output (an object; kept as status.state[alias]).
struct StepOutcome {
  Attempt attempt;
  Json output = Json::object();
  // Running: when to look again (kStepRetry when not set).
  std::optional<Millis> retry_after;
};

// An attempt that erred with `error` (`terminal`: trying again cannot
// mend it), with no output.
StepOutcome ErroredStep(std::string error, bool terminal = false);

// One kind of step (`uses`).
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual StepOutcome Run(const StepContext& ctx) = 0;
  // retry.errorThreshold when the step has none (0 = Kargo's system default 1).
  virtual int DefaultErrorThreshold() const { return 0; }
  // retry.timeout when the step has none (0 = none).
  virtual Millis DefaultTimeout() const { return Millis(0); }
};

// Kargo's request to end a Promotion that is not finished: "terminate",
// or {"action": "terminate", "actor": ...}. The step running is Aborted,
// the Promotion too; the Stage keeps its Freight.
inline constexpr const char* kAbortAnnotation = "kargo.akuity.io/abort";

// The step kinds a server runs, by `uses`.
class StepRegistry {
 public:
  void Add(const std::string& uses, std::unique_ptr<StepRunner> runner);
  StepRunner* Find(const std::string& uses) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, std::unique_ptr<StepRunner>> runners_;
};

// The functions a promotion's templates may call beside quote, unsafeQuote
// and asJSON (StepEnv gives them).
const std::set<std::string>& PromotionFunctionNames();

// Compiles a promotion's templates: its vars, each step's vars, `if` and
// config strings; errors name the field ("steps[1].config.apps[0].name").
std::vector<std::string> CheckPromotionTemplates(const std::vector<model::ExpressionVariable>& vars,
                                                 const std::vector<model::PromotionStepSpec>& steps,
                                                 const std::string& path);

// The Promotion's ordering key: Promotions of a Stage run in this order.
bool RunsBefore(const store::Resource& a, const store::Resource& b);

class PromotionReconciler {
 public:
  // `work_root`: where each Promotion's working directory lives (by uid).
  PromotionReconciler(store::Store& store, const StepRegistry& steps, const Clock& clock,
                      std::string work_root);

  // Called with a Promotion's or Stage's key ("Promotion ns/name") when a
  // Promotion ends, for the next in line and the Stage.
  void SetWake(std::function<void(const std::string& kind, const std::string& key)> wake);
  // How the criteria it checks again read provenance (unset: never verified).
  void SetProvenance(ProvenanceReader read) { provenance_ = std::move(read); }
  // Where each gate decision on a Promotion is recorded: held (the gate and
  // its values) or passed (it starts), and held again after an approval.
  void SetGateRecord(GateRecord record) { record_ = std::move(record); }

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

  // How long a Running step waits before it is tried again.
  static constexpr Millis kStepRetry{2000};
  // How often a Promotion held by a closed gate looks again at most (a
  // ProjectConfig changed wakes the Stages, not the queued Promotions).
  static constexpr Millis kGatePoll{10000};

 private:
  struct Run;
  // Why a Promotion that has its turn may not start yet, and when to look again.
  struct Hold {
    std::string message;
    Millis retry;
    bool gate = false;  // held by a gate (a window, a freeze, a stopped line)
    bool fail = false;  // not held but ended: an approval policy rejected it
  };
  // `verification`: a Stage verifying holds it too; `policies`: the
  // approval policies too (both before it starts).
  Result<std::optional<Hold>> HeldBack(const Run& run, bool verification = true,
                                       bool policies = true);
  // Before step `i` starts, if an approval step came before it: a closed
  // gate holds it (the result to return), else nullopt.
  Result<std::optional<controller::ReconcileResult>> WaitAfterApproval(Run& run, size_t i);
  Result<bool> WaitInLine(Run& run);
  // Ends a Promotion that is not finished, as Kargo's terminatePromotion.
  Result<controller::ReconcileResult> Abort(Run& run, const std::string& message);
  Result<controller::ReconcileResult> RunSteps(Run& run);
  Status Finish(Run& run, const std::string& phase, const std::string& message);
  Status WriteStatus(Run& run, const std::string& reason, const std::string& message);
  void Record(const Run& run, const std::string& decision, const std::string& detail) const;

  store::Store& store_;
  const StepRegistry& steps_;
  const Clock& clock_;
  std::string work_root_;
  std::function<void(const std::string&, const std::string&)> wake_;
  ProvenanceReader provenance_;
  GateRecord record_;
};

}  // namespace strake::delivery
