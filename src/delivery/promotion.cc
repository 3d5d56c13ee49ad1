#include "delivery/promotion.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "base/fs.h"
#include "base/strings.h"
#include "delivery/approval.h"
#include "delivery/artifact.h"
#include "delivery/promotion_task.h"
#include "delivery/rollback.h"
#include "delivery/stage.h"
#include "delivery/template.h"
#include "model/decode.h"

namespace strake::delivery {

namespace {

std::string Time(int64_t ms) { return ms > 0 ? FormatRfc3339(FromUnixMillis(ms)) : ""; }

Json RecordToJson(const StepRecord& r) {
  Json j = {{"alias", r.alias}};
  if (r.started_ms > 0) j["startedAt"] = Time(r.started_ms);
  if (r.finished_ms > 0) j["finishedAt"] = Time(r.finished_ms);
  if (r.error_count > 0) j["errorCount"] = r.error_count;
  if (r.status != StepStatus::kPending) j["status"] = StepStatusName(r.status);
  if (!r.message.empty()) j["message"] = r.message;
  if (r.continue_on_error) j["continueOnError"] = true;
  return j;
}

StepRecord RecordFromJson(const Json& j) {
  StepRecord r;
  if (!j.is_object()) return r;
  r.alias = j.value("alias", "");
  r.started_ms = TimeMs(j, "startedAt");
  r.finished_ms = TimeMs(j, "finishedAt");
  r.error_count = j.value("errorCount", 0);
  r.status = StepStatusFromName(j.value("status", "")).value_or(StepStatus::kPending);
  r.message = j.value("message", "");
  r.continue_on_error = j.value("continueOnError", false);
  return r;
}

// Kargo's kargo.akuity.io/abort annotation: "terminate", or its JSON form
// {"action": "terminate", "actor": ...}; the message the Promotion ends
// with, or nullopt when there is no such request.
std::optional<std::string> AbortRequest(const std::map<std::string, std::string>& annotations) {
  auto it = annotations.find(kAbortAnnotation);
  if (it == annotations.end()) return std::nullopt;
  if (it->second == "terminate") return std::string("Promotion terminated per user request");
  Json req = Json::parse(it->second, nullptr, false);
  if (!req.is_object() || req.value("action", "") != "terminate") return std::nullopt;
  const std::string actor = req.value("actor", "");
  if (actor.empty()) return std::string("Promotion terminated per user request");
  return "Promotion terminated by " + actor;
}

}  // namespace

StepOutcome ErroredStep(std::string error, bool terminal) {
  StepOutcome out;
  out.attempt = {StepStatus::kErrored, "", std::move(error), terminal};
  return out;
}

void StepRegistry::Add(const std::string& uses, std::unique_ptr<StepRunner> runner) {
  runners_[uses] = std::move(runner);
}

StepRunner* StepRegistry::Find(const std::string& uses) const {
  auto it = runners_.find(uses);
  return it == runners_.end() ? nullptr : it->second.get();
}

std::vector<std::string> StepRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [name, r] : runners_) out.push_back(name);
  return out;
}

const std::set<std::string>& PromotionFunctionNames() {
  static const std::set<std::string> kNames = {
      "success",       "failure",       "always",    "status",
      "commitFrom",    "artifactFrom",  "imageFrom", "freightMetadata",
      "stageMetadata", "freightStatus", "now"};
  return kNames;
}

namespace {

void CheckStrings(const Json& j, const std::string& path, std::vector<std::string>& errors) {
  if (j.is_string()) {
    if (auto ok = CheckTemplate(j.get<std::string>(), PromotionFunctionNames()); !ok)
      errors.push_back(path + ": " + ok.error().message);
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) CheckStrings(v, fmt::format("{}.{}", path, k), errors);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      CheckStrings(j[i], fmt::format("{}[{}]", path, i), errors);
  }
}

void CheckVars(const std::vector<model::ExpressionVariable>& vars, const std::string& path,
               std::vector<std::string>& errors) {
  for (size_t i = 0; i < vars.size(); ++i)
    CheckStrings(vars[i].value, fmt::format("{}[{}].value", path, i), errors);
}

}  // namespace

std::vector<std::string> CheckPromotionTemplates(const std::vector<model::ExpressionVariable>& vars,
                                                 const std::vector<model::PromotionStepSpec>& steps,
                                                 const std::string& path) {
  std::vector<std::string> errors;
  CheckVars(vars, path + ".vars", errors);
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string at = fmt::format("{}.steps[{}]", path, i);
    CheckVars(steps[i].vars, at + ".vars", errors);
    if (!steps[i].if_expr.empty()) CheckStrings(steps[i].if_expr, at + ".if", errors);
    CheckStrings(steps[i].config, at + ".config", errors);
  }
  return errors;
}

bool RunsBefore(const store::Resource& a, const store::Resource& b) {
  if (a.created_ms != b.created_ms) return a.created_ms < b.created_ms;
  return a.key.name < b.key.name;
}

// One pass over one Promotion.
struct PromotionReconciler::Run {
  store::Resource promo;
  model::Promotion spec;
  std::optional<store::Resource> stage;
  std::optional<store::Resource> freight;
  Json status;
  std::vector<StepRecord> records;
  int64_t now_ms = 0;
  std::string work_dir;

  std::string Now() const { return Time(now_ms); }
  const std::string& ns() const { return promo.key.ns; }
};

PromotionReconciler::PromotionReconciler(store::Store& store, const StepRegistry& steps,
                                         const Clock& clock, std::string work_root)
    : store_(store), steps_(steps), clock_(clock), work_root_(std::move(work_root)) {}

void PromotionReconciler::SetWake(
    std::function<void(const std::string& kind, const std::string& key)> wake) {
  wake_ = std::move(wake);
}

void PromotionReconciler::Record(const Run& run, const std::string& decision,
                                 const std::string& detail) const {
  if (record_)
    record_(fmt::format("promotion {}/{}", run.promo.key.ns, run.promo.key.name), decision, detail);
}

Status PromotionReconciler::WriteStatus(Run& run, const std::string& reason,
                                        const std::string& message) {
  Json steps = Json::array();
  for (const auto& r : run.records) steps.push_back(RecordToJson(r));
  run.status["stepExecutionMetadata"] = steps;
  if (run.status == run.promo.status) return Ok();  // nothing new: no write, no event
  STRAKE_TRY_ASSIGN(written, store_.UpdateStatus(run.promo.key, run.status,
                                                 run.promo.resource_version, reason, message));
  run.promo.resource_version = written.resource_version;
  run.promo.status = run.status;
  return Ok();
}

// Whether this Promotion is first in line for its Stage; writes Pending
// when it is not.
Result<controller::ReconcileResult> PromotionReconciler::Abort(Run& run,
                                                               const std::string& message) {
  // The step running when it was asked is Aborted; nothing after it runs.
  size_t current = run.status.value("currentStep", size_t{0});
  if (current < run.records.size() && run.records[current].status == StepStatus::kRunning) {
    run.records[current].status = StepStatus::kAborted;
    run.records[current].finished_ms = run.now_ms;
  }
  STRAKE_TRY_ASSIGN(stage, store_.Get({"Stage", run.ns(), run.spec.spec.stage}));
  STRAKE_TRY_ASSIGN(freight, store_.Get({"Freight", run.ns(), run.spec.spec.freight}));
  run.stage = std::move(stage);
  run.freight = std::move(freight);
  STRAKE_TRY(Finish(run, "Aborted", message));
  return controller::ReconcileResult{};
}

Result<bool> PromotionReconciler::WaitInLine(Run& run) {
  if (run.status.value("phase", "") == "Running") return true;  // it keeps its place
  STRAKE_TRY_ASSIGN(all, store_.List("Promotion", run.ns()));
  const store::Resource* first = nullptr;
  for (const auto& p : all) {
    const Json spec = p.object.value("spec", Json::object());
    if (spec.value("stage", "") != run.spec.spec.stage) continue;
    if (IsFinalPhase(p.status.is_object() ? p.status.value("phase", "") : "")) continue;
    if (!first || RunsBefore(p, *first)) first = &p;
  }
  if (!first || first->key.name == run.promo.key.name) return true;
  std::string message =
      fmt::format("waiting for Promotion {} of Stage {}", first->key.name, run.spec.spec.stage);
  if (run.status.value("phase", "") == "Pending" && run.status.value("message", "") == message)
    return false;
  run.status["phase"] = "Pending";
  run.status["message"] = message;
  STRAKE_TRY(WriteStatus(run, "Pending", message));
  return false;
}

Result<std::optional<PromotionReconciler::Hold>> PromotionReconciler::HeldBack(const Run& run,
                                                                               bool verification,
                                                                               bool policies) {
  auto decoded = model::DecodeObject(run.stage->object, "stage " + run.spec.spec.stage);
  if (!decoded) {  // its gates cannot be read: nothing starts (fail closed)
    return std::optional<Hold>(Hold{
        "waiting: Stage " + run.spec.spec.stage + " cannot be read: " + decoded.error().message,
        kGatePoll});
  }
  const auto& stage = std::get<model::Stage>(decoded->value);
  // A Stage that is verifying its Freight runs no other Promotion.
  if (verification && VerificationInProgress(stage, run.stage->status)) {
    return std::optional<Hold>(
        Hold{fmt::format("waiting for the verification of Stage {} to end", stage.meta.name),
             kStepRetry});
  }
  // The gates again, at the moment it would start: admitted while open is
  // not enough when a window has closed since.
  STRAKE_TRY_ASSIGN(gates, ReadGates(store_, stage, run.now_ms, provenance_));
  // The approval policies first: people may sign off while a window is
  // closed, and a rejection ends it at once (responses arrive as an object
  // write, which wakes it; kGatePoll in case).
  const Json meta = run.promo.object.value("metadata", Json::object());
  if (auto policy =
          policies ? gates.ApprovalHold(meta.value("annotations", Json::object())) : std::nullopt) {
    if (policy->status == StepStatus::kFailed)
      return std::optional<Hold>(Hold{policy->message, kGatePoll, true, true});
    return std::optional<Hold>(Hold{"waiting for " + policy->message, kGatePoll, true});
  }
  STRAKE_TRY_ASSIGN(denied, gates.Denial(*run.freight));
  if (denied) {
    int64_t change = gates.NextChangeMs();
    // Looked at again when the gate says it opens, or sooner (kGatePoll).
    Millis retry =
        change > run.now_ms ? std::min<Millis>(Millis(change - run.now_ms), kGatePoll) : kGatePoll;
    return std::optional<Hold>(Hold{"waiting for " + *denied, retry, true});
  }
  return std::optional<Hold>();
}

Result<controller::ReconcileResult> PromotionReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Promotion", ns, name}));
  if (!got) return controller::ReconcileResult{};
  auto decoded = model::DecodeObject(got->object, "promotion " + name);
  if (!decoded) {
    // Admitted once but not decodable now: said, and out of the Stage's line.
    Json st = got->status.is_object() ? got->status : Json::object();
    if (IsFinalPhase(st.value("phase", ""))) return controller::ReconcileResult{};
    st["phase"] = "Errored";
    st["message"] = decoded.error().message;
    STRAKE_TRY(store_.UpdateStatus(got->key, st, got->resource_version, "Errored",
                                   decoded.error().message));
    return controller::ReconcileResult{};
  }
  Run run;
  run.promo = std::move(*got);
  run.spec = std::get<model::Promotion>(decoded->value);
  run.status = run.promo.status.is_object() ? run.promo.status : Json::object();
  run.now_ms = UnixMillis(clock_.Now());
  run.work_dir = PathJoin(work_root_, run.promo.uid);
  const std::string phase = run.status.value("phase", "");
  if (IsFinalPhase(phase)) return controller::ReconcileResult{};
  for (const auto& r : run.status.value("stepExecutionMetadata", Json::array()))
    run.records.push_back(RecordFromJson(r));
  if (auto abort = AbortRequest(run.spec.meta.annotations)) return Abort(run, *abort);
  STRAKE_TRY_ASSIGN(first, WaitInLine(run));
  if (!first) return controller::ReconcileResult{};
  STRAKE_TRY_ASSIGN(stage, store_.Get({"Stage", ns, run.spec.spec.stage}));
  STRAKE_TRY_ASSIGN(freight, store_.Get({"Freight", ns, run.spec.spec.freight}));
  run.stage = std::move(stage);
  run.freight = std::move(freight);
  if (!run.stage || !run.freight) {
    std::string missing = !run.stage ? "Stage " + Quote(run.spec.spec.stage)
                                     : "Freight " + Quote(run.spec.spec.freight);
    STRAKE_TRY(Finish(run, "Errored", missing + " no longer exists"));
    return controller::ReconcileResult{};
  }
  if (phase != "Running") {
    STRAKE_TRY_ASSIGN(hold, HeldBack(run));
    if (hold && hold->fail) {
      Record(run, "gate.hold", hold->message);
      STRAKE_TRY(Finish(run, "Failed", hold->message));
      return controller::ReconcileResult{};
    }
    if (hold) {
      if (run.status.value("message", "") != hold->message) {
        run.status["phase"] = "Pending";
        run.status["message"] = hold->message;
        STRAKE_TRY(WriteStatus(run, "Pending", hold->message));
        if (hold->gate) Record(run, "gate.hold", hold->message);
      }
      controller::ReconcileResult later;
      later.requeue_after = hold->retry;
      return later;
    }
    run.status["phase"] = "Running";
    run.status["message"] = "";
    run.status["startedAt"] = run.Now();
    run.status["freight"] = FreightReference(*run.freight);
    run.status["currentStep"] = 0;
    run.records.clear();
    for (size_t i = 0; i < run.spec.spec.steps.size(); ++i) {
      StepRecord r;
      const auto& step = run.spec.spec.steps[i];
      r.alias = step.as.empty() ? DefaultAlias(i, false) : step.as;
      r.continue_on_error = step.continue_on_error;
      run.records.push_back(std::move(r));
    }
    // The Stage shows what it is doing (first: a restart between the two
    // writes finds the Promotion Pending and starts it again).
    const Json current = {{"name", run.promo.key.name}, {"freight", run.status["freight"]}};
    STRAKE_TRY(UpdateStatusOf(
        store_, run.stage->key,
        [&](const Json& was) {
          Json st = was;
          st["currentPromotion"] = current;
          return st;
        },
        "PromotionStarted", fmt::format("promotion {} started", run.promo.key.name)));
    STRAKE_TRY(MakeDirs(run.work_dir));
    STRAKE_TRY(WriteStatus(run, "Running", "promotion started"));
    Record(run, "gate.pass",
           fmt::format("Freight {} into Stage {}: no gate holds it", run.spec.spec.freight,
                       run.spec.spec.stage));
  }
  return RunSteps(run);
}

namespace {

// Whether a wait-for-approval step comes before step `i`.
bool FollowsAnApproval(const std::vector<model::PromotionStepSpec>& steps, size_t i) {
  return std::any_of(
      steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(i),
      [](const model::PromotionStepSpec& s) { return s.uses == kWaitForApprovalStep; });
}

// Kargo's promotion environment for the step `alias`.
// Kargo's freightMetadata(name), freightStatus(name) and
// stageMetadata(name), read from the store when called: `field` of the
// status of the Freight or Stage of the Promotion's namespace ("" = all of
// it); null when there is none.
rollout::HostFunction StatusReader(store::Store& store, std::string ns, std::string kind,
                                   std::string field) {
  return [&store, ns = std::move(ns), kind = std::move(kind), field = std::move(field)](
             const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.size() != 1 || !args[0].is_string())
      return Failf("{} takes the name of a {}", field.empty() ? "freightStatus" : kind, kind);
    STRAKE_TRY_ASSIGN(got, store.Get({kind, ns, args[0].get<std::string>()}));
    if (!got || !got->status.is_object()) return rollout::Value();
    if (field.empty()) return rollout::Value(got->status);
    return got->status.value(field, rollout::Value());
  };
}

TemplateEnv StepEnv(const store::Resource& promo, const model::Promotion& spec,
                    const store::Resource& freight, const std::vector<StepRecord>& records,
                    const Json& state, const std::string& alias, const Json& vars) {
  TemplateEnv env;
  const std::string alias_label = [&] {
    auto it = freight.labels.find("kargo.akuity.io/alias");
    return it == freight.labels.end() ? std::string() : it->second;
  }();
  env.vars["ctx"] = rollout::Value{
      {"project", promo.key.ns},
      {"stage", spec.spec.stage},
      {"promotion", promo.key.name},
      {"targetFreight",
       {{"name", freight.key.name},
        {"alias", alias_label},
        {"origin", {{"name", freight.object.value("origin", Json::object()).value("name", "")}}}}},
      {"meta",
       {{"promotion",
         {{"actor", promo.object.value("metadata", Json::object())
                        .value("annotations", Json::object())
                        .value(kCreateActorAnnotation, "")},
          {"rollback", IsRollback(promo)}}}}}};
  env.vars["vars"] = rollout::Value(vars);
  env.vars["outputs"] = rollout::Value(state);
  // A task's step sees its task's outputs by their own aliases
  // (delivery/promotion_task.h); any other step, every output.
  env.vars["task"] = rollout::Value{{"outputs", TaskOutputs(alias, state).value_or(state)}};
  env.functions = StatusFunctions(records, alias);
  env.functions["commitFrom"] = CommitFrom(CommitsOf(freight.object));
  env.functions["artifactFrom"] = ArtifactFrom(freight.object.value("artifacts", Json::array()));
  env.functions["imageFrom"] = ImageFrom(freight.object.value("artifacts", Json::array()),
                                         freight.object.value("images", Json::array()));
  return env;
}

// StepEnv with the functions that read the store.
TemplateEnv StepEnvWithStore(store::Store& store, const store::Resource& promo,
                             const model::Promotion& spec, const store::Resource& freight,
                             const std::vector<StepRecord>& records, const Json& state,
                             const std::string& alias, int64_t now_ms) {
  TemplateEnv env = StepEnv(promo, spec, freight, records, state, alias, Json::object());
  // Kargo's now(): the time, as an RFC 3339 string in UTC.
  env.functions["now"] =
      [now_ms](const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (!args.empty()) return Fail("now takes no arguments");
    return rollout::Value(FormatRfc3339(FromUnixMillis(now_ms)));
  };
  env.functions["freightMetadata"] = StatusReader(store, promo.key.ns, "Freight", "metadata");
  env.functions["freightStatus"] = StatusReader(store, promo.key.ns, "Freight", "");
  env.functions["stageMetadata"] = StatusReader(store, promo.key.ns, "Stage", "metadata");
  return env;
}

// A step's output in the Promotion's state; what a task composes is the
// task's output too (Kargo's task output propagation).
void KeepOutput(Json& state, const std::string& alias, const std::string& uses,
                const Json& output) {
  if (!output.is_object() || output.empty()) return;
  state[alias] = output;
  if (const std::string task = TaskOf(alias); !task.empty() && uses == "compose-output")
    state[task].update(output);
}

// Whether the step is skipped: without `if`, after a failure; with one,
// when it is false (not a boolean: an error).
Result<bool> ShouldSkip(const model::PromotionStepSpec& step,
                        const std::vector<StepRecord>& records, const TemplateEnv& env) {
  if (step.if_expr.empty()) return SkipWithoutCondition(records);
  auto cond = EvaluateTemplate(step.if_expr, env);
  if (!cond) return tl::unexpected(cond.error().Wrap("if"));
  if (!cond->is_boolean()) return Failf("if: {} is not a boolean", cond->dump());
  return !cond->get<bool>();
}

// One attempt of the step: its config evaluated, its runner run (an
// exception, a config of the wrong shape say, errs it for good).
StepOutcome TryStep(const StepRegistry& steps, const model::PromotionStepSpec& step,
                    const TemplateEnv& env, StepContext& ctx) {
  StepRunner* runner = steps.Find(step.uses);
  if (!runner) {
    return ErroredStep(fmt::format("no step {} (this server runs {})", Quote(step.uses),
                                   Join(steps.Names(), ", ")),
                       true);
  }
  auto config = EvaluateConfig(step.config, env);
  if (!config) return ErroredStep(config.error().message);
  ctx.config = std::move(*config);
  try {
    return runner->Run(ctx);
  } catch (const std::exception& e) {
    return ErroredStep(fmt::format("step {}: {}", step.uses, e.what()), true);
  }
}

}  // namespace

Result<std::optional<controller::ReconcileResult>> PromotionReconciler::WaitAfterApproval(
    Run& run, size_t i) {
  if (!FollowsAnApproval(run.spec.spec.steps, i)) return std::nullopt;
  // The gates again after an approval wait: an approval given in a freeze
  // does not carry what follows into it.
  // (Not the approval policies: a gate before the start, met then.)
  STRAKE_TRY_ASSIGN(hold, HeldBack(run, false, false));
  if (!hold) return std::nullopt;
  if (run.status.value("message", "") != hold->message) {
    run.status["message"] = hold->message;
    STRAKE_TRY(WriteStatus(run, "Waiting", hold->message));
    if (hold->gate) Record(run, "gate.hold", hold->message);
  }
  controller::ReconcileResult later;
  later.requeue_after = hold->retry;
  return later;
}

Result<controller::ReconcileResult> PromotionReconciler::RunSteps(Run& run) {
  Json state = run.status.value("state", Json::object());
  size_t i = run.status.value("currentStep", size_t{0});
  for (; i < run.spec.spec.steps.size() && i < run.records.size(); ++i) {
    const auto& step = run.spec.spec.steps[i];
    StepRecord& rec = run.records[i];
    TemplateEnv env = StepEnvWithStore(store_, run.promo, run.spec, *run.freight, run.records,
                                       state, rec.alias, run.now_ms);
    auto vars = EvaluateVars(run.spec.spec.vars, env, Json::object());
    if (vars) vars = EvaluateVars(step.vars, env, *vars);
    StepRunner* runner = steps_.Find(step.uses);
    if (rec.status == StepStatus::kPending) {
      STRAKE_TRY_ASSIGN(wait, WaitAfterApproval(run, i));
      if (wait) return *wait;
    }
    if (rec.status == StepStatus::kPending) {
      bool skip = false;
      if (vars) {  // else decided below as an error of the step
        auto decided = ShouldSkip(step, run.records, env);
        if (decided) {
          skip = *decided;
        } else {
          vars = tl::unexpected(decided.error());
        }
      }
      rec.started_ms = run.now_ms;
      if (skip) {
        rec.status = StepStatus::kSkipped;
        rec.finished_ms = run.now_ms;
        run.status["currentStep"] = i + 1;
        STRAKE_TRY(WriteStatus(run, "StepSkipped", fmt::format("step {} skipped", rec.alias)));
        continue;
      }
      rec.status = StepStatus::kRunning;
      STRAKE_TRY(WriteStatus(run, "StepRunning", fmt::format("step {} started", rec.alias)));
    }
    StepOutcome out;
    if (!vars) {
      out = ErroredStep(vars.error().message, true);
    } else {
      StepContext ctx{run.ns(),
                      run.spec.spec.stage,
                      run.promo.key.name,
                      rec.alias,
                      &*run.freight,
                      run.work_dir,
                      Json(),
                      state.value(rec.alias, Json::object()),
                      &run.promo};
      out = TryStep(steps_, step, env, ctx);
    }
    KeepOutput(state, rec.alias, step.uses, out.output);

    run.status["state"] = state;
    int threshold = step.error_threshold > 0 ? step.error_threshold
                                             : (runner ? runner->DefaultErrorThreshold() : 0);
    int64_t timeout =
        step.timeout ? step.timeout->count() : (runner ? runner->DefaultTimeout().count() : 0);
    run.now_ms = UnixMillis(clock_.Now());
    if (!CompleteStep(rec, out.attempt, threshold, timeout, run.now_ms)) {
      STRAKE_TRY(WriteStatus(run, "StepRunning", rec.message));
      controller::ReconcileResult again;
      again.requeue_after = out.retry_after.value_or(kStepRetry);
      return again;
    }
    run.status["currentStep"] = i + 1;
    STRAKE_TRY(
        WriteStatus(run, "Step" + StepStatusName(rec.status),
                    fmt::format("step {} {}{}", rec.alias, ToLower(StepStatusName(rec.status)),
                                rec.message.empty() ? "" : ": " + rec.message)));
  }
  auto [phase, message] = FinalPhase(run.records);
  STRAKE_TRY(Finish(run, phase, message));
  return controller::ReconcileResult{};
}

Status PromotionReconciler::Finish(Run& run, const std::string& phase, const std::string& message) {
  const std::string& promo = run.promo.key.name;
  const std::string& stage = run.spec.spec.stage;
  const std::string now = run.Now();
  // A Stage that verifies starts that itself (stage.h); one that does not
  // has the Freight verified now.
  bool verifies = false;
  if (run.stage) {
    if (auto d = model::DecodeObject(run.stage->object, "stage " + stage))
      verifies = std::get<model::Stage>(d->value).spec.verification.has_value();
  }
  if (phase == "Succeeded") {
    // The Freight the Stage held leaves it; the new one arrives (verified
    // at once: no verification yet). Each write repeats harmlessly.
    const Json stage_status = run.stage->status.is_object() ? run.stage->status : Json::object();
    const Json origin = run.freight->object.value("origin", Json::object());
    for (const auto& was : CurrentFreightOf(stage_status, origin.value("name", ""))) {
      if (was == run.freight->key.name) continue;
      STRAKE_TRY(UpdateStatusOf(
          store_, {"Freight", run.ns(), was},
          [&](const Json& st) { return FreightLeft(st, stage, run.now_ms); }, "LeftStage",
          fmt::format("left stage {}", stage)));
    }
    STRAKE_TRY(UpdateStatusOf(
        store_, run.freight->key,
        [&](const Json& st) { return FreightArrived(st, stage, now, !verifies); },
        "PromotedToStage", fmt::format("promoted to stage {} by {}", stage, promo)));
  }
  // The Stage: its history, its last Promotion, and nothing current.
  if (run.stage) {
    const Json ref = run.freight ? FreightReference(*run.freight) : Json::object();
    STRAKE_TRY(UpdateStatusOf(
        store_, run.stage->key,
        [&](const Json& was) {
          if (was.value("lastPromotion", Json::object()).value("name", "") == promo) return was;
          Json st = phase == "Succeeded" ? RecordFreight(was, ref, promo, now, verifies) : was;
          st.erase("currentPromotion");
          st["lastPromotion"] = {{"name", promo},
                                 {"freight", ref},
                                 {"status", {{"phase", phase}, {"message", message}}},
                                 {"finishedAt", now}};
          return st;
        },
        "Promotion" + phase, fmt::format("promotion {} {}", promo, ToLower(phase))));
  }
  run.status["phase"] = phase;
  run.status["message"] = message;
  run.status["finishedAt"] = run.Now();
  STRAKE_TRY(WriteStatus(run, phase, message.empty() ? "promotion " + ToLower(phase) : message));
  (void)RemoveAll(run.work_dir);
  if (wake_) {
    wake_("Stage", controller::ObjectKey(run.ns(), run.spec.spec.stage));
    STRAKE_TRY_ASSIGN(all, store_.List("Promotion", run.ns()));
    for (const auto& p : all) {
      if (p.object.value("spec", Json::object()).value("stage", "") != run.spec.spec.stage)
        continue;
      if (!IsFinalPhase(p.status.is_object() ? p.status.value("phase", "") : ""))
        wake_("Promotion", controller::ObjectKey(p.key.ns, p.key.name));
    }
  }
  return Ok();
}

}  // namespace strake::delivery
