#include "insight/recorder.h"

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "insight/kind_key.h"
#include "model/incidents.h"

namespace strake::insight {

namespace {

using Json = store::Json;

std::string StageOf(const store::Resource& promotion) {
  const Json spec = promotion.object.value("spec", Json::object());
  return spec.is_object() && spec.contains("stage") && spec["stage"].is_string()
             ? spec["stage"].get<std::string>()
             : "";
}

}  // namespace

bool Recorder::Watches(const std::string& kind) {
  return kind == "Application" || kind == "Promotion" || kind == "Stage" || kind == "Incident" ||
         kind == "Rollout";
}

std::string Recorder::KeyOf(const store::Key& key) { return KindKey(key); }

Result<controller::ReconcileResult> Recorder::Reconcile(const std::string& key) {
  STRAKE_TRY_ASSIGN(k, ParseKindKey(key, "dora"));
  STRAKE_TRY_ASSIGN(got, store_.Get(k));
  if (!got) {
    if (k.kind == "Incident") {
      STRAKE_TRY(ledger_.ForgetIncident(k.ns + "/" + k.name));
      STRAKE_TRY(Rederive(k.ns));
    }
    return controller::ReconcileResult{};
  }
  if (k.kind == "Incident") return RecordIncident(*got);
  if (k.kind == "Application") {
    STRAKE_TRY(RecordApplication(*got));
  } else if (k.kind == "Promotion") {
    STRAKE_TRY(RecordPromotion(*got));
  } else if (k.kind == "Stage") {
    STRAKE_TRY(RecordFailures(*got));
  } else if (k.kind == "Rollout") {
    STRAKE_TRY(RecordRollout(*got));
  }
  return controller::ReconcileResult{};
}

void Recorder::Warn(const std::string& key, const std::string& message) {
  auto [it, fresh] = warned_.try_emplace(key, message);
  if (!fresh && it->second == message) return;
  it->second = message;
  Log(LogLevel::kWarn, "dora: {}", message);
}

Status Recorder::RecordApplication(const store::Resource& app) {
  auto observed = FromApplication(app);
  if (!observed) {
    // The object's own mistake, not retried: said once.
    Warn(KeyOf(app.key), observed.error().message);
    return Ok();
  }
  return RecordObserved(std::move(*observed));
}

Status Recorder::RecordPromotion(const store::Resource& promotion) {
  const std::string stage_name = StageOf(promotion);
  STRAKE_TRY_ASSIGN(stage, store_.Get({"Stage", promotion.key.ns, stage_name}));
  store::Resource gone;  // a Stage deleted since: its name, no labels
  gone.key = {"Stage", promotion.key.ns, stage_name};
  auto observed = FromPromotion(promotion, stage ? *stage : gone);
  if (!observed) {
    Warn(KeyOf(promotion.key), observed.error().message);
    return Ok();
  }
  if (!*observed) return Ok();
  Observed& o = **observed;
  if (o.rollback) {
    // What the rollback took back: what finished last in the Stage before it.
    STRAKE_TRY_ASSIGN(before, store_.LastDeploymentAt(o.record.ns, o.record.environment,
                                                      o.record.finished_ms, o.record.id));
    if (before) o.rolled_back = before->id;
  }
  std::vector<Observed> one;
  one.push_back(std::move(o));
  STRAKE_TRY(RecordObserved(std::move(one)));
  // A verification that failed before this was recorded names it now.
  return stage ? RecordFailures(*stage) : Ok();
}

Status Recorder::RecordRollout(const store::Resource& rollout) {
  auto observed = FromRollout(rollout);
  if (!observed) {
    Warn(KeyOf(rollout.key), observed.error().message);
    return Ok();
  }
  if (*observed) {
    // Finished when first seen complete: its later progress (a scale) is
    // not another finish.
    STRAKE_TRY_ASSIGN(known, store_.GetDeployment((*observed)->record.id));
    if (known) (*observed)->record.finished_ms = known->finished_ms;
    std::vector<Observed> one;
    one.push_back(std::move(**observed));
    STRAKE_TRY(RecordObserved(std::move(one)));
  }
  auto aborted = AbortOf(rollout);
  if (!aborted || aborted->app.empty()) return Ok();
  // The sync of the Application that started the canary: its last
  // deployment before the abort.
  STRAKE_TRY_ASSIGN(app, store_.Get({"Application", aborted->app_ns, aborted->app}));
  if (!app) return Ok();
  auto place = PlacementOf(*app);
  if (!place) return Ok();  // said when the Application is recorded
  STRAKE_TRY_ASSIGN(
      sync, store_.LastDeploymentAt(aborted->app_ns, place->environment, aborted->aborted_ms, ""));
  if (!sync || (sync->failed_ms && *sync->failed_ms <= aborted->aborted_ms)) return Ok();
  std::string why = "canary of rollout " + rollout.key.name + " aborted";
  if (!aborted->message.empty()) why += ": " + aborted->message;
  return ledger_.MarkFailed(sync->id, aborted->aborted_ms, why);
}

Status Recorder::RecordFailures(const store::Resource& stage) {
  std::vector<FailedVerification> failed = FailedVerifications(stage);
  if (failed.empty()) return Ok();
  auto place = PlacementOf(stage);
  if (!place) {
    Warn(KeyOf(stage.key), place.error().message);
    return Ok();
  }
  for (const FailedVerification& f : failed) {
    // The deployment that brought the verified Freight: the last before
    // the verification finished.
    STRAKE_TRY_ASSIGN(target, store_.LastDeploymentAt(stage.key.ns, place->environment,
                                                      f.finished_ms, "", f.freight));
    if (!target || (target->failed_ms && *target->failed_ms <= f.finished_ms)) continue;
    std::string why = "verification failed";
    if (!f.message.empty()) why += ": " + f.message;
    STRAKE_TRY(ledger_.MarkFailed(target->id, f.finished_ms, why));
  }
  return Ok();
}

Result<controller::ReconcileResult> Recorder::RecordIncident(const store::Resource& incident) {
  const store::Key& k = incident.key;
  controller::ReconcileResult result;
  Json status = {{"phase", "Open"}, {"observedGeneration", incident.generation}};
  auto spec = model::IncidentSpecFromJson(incident.object.value("spec", Json::object()));
  if (!spec) {
    status["message"] = spec.error().message;
  } else {
    IncidentFacts facts;
    facts.key = k.ns + "/" + k.name;
    facts.ns = k.ns;
    facts.environment = spec->environment;
    facts.title = spec->title;
    facts.opened_ms = spec->opened_ms.value_or(incident.created_ms);
    facts.closed_ms = spec->closed_ms;
    if (facts.closed_ms && *facts.closed_ms < facts.opened_ms) {
      // Closed before it was created, with no openedAt: open no time.
      status["message"] = "spec.closedAt is before it opened (its creation): taken as its opening";
      facts.closed_ms = facts.opened_ms;
    }
    std::optional<store::DeploymentRecord> target;
    std::string why;
    if (!spec->deployment.empty()) {
      STRAKE_TRY_ASSIGN(d, store_.GetDeployment(spec->deployment));
      if (d && d->ns == k.ns) target = std::move(d);
      if (!target) why = "no deployment " + spec->deployment + " is recorded in namespace " + k.ns;
    } else if (!spec->commit.empty()) {
      STRAKE_TRY_ASSIGN(d, store_.FirstBringing(k.ns, spec->environment, spec->commit));
      target = std::move(d);
      if (!target) {
        why = "no deployment recorded in " +
              (spec->environment.empty() ? "namespace " + k.ns : spec->environment) +
              " brought commit " + spec->commit;
      }
    } else {
      // Running when it opened: finished before it (one finished in the
      // same instant came too late to cause it).
      STRAKE_TRY_ASSIGN(d,
                        store_.LastDeploymentAt(k.ns, spec->environment, facts.opened_ms - 1, ""));
      target = std::move(d);
      if (!target) why = "no deployment to " + spec->environment + " is recorded before it opened";
    }
    if (target) {
      facts.deployment = target->id;
      if (facts.environment.empty()) facts.environment = target->environment;
      status["deployment"] = target->id;
      status["environment"] = facts.environment;
    } else {
      status["message"] = why + ": it fails no deployment (looked for again)";
      // The deployment may be recorded later (a sync the recorder has not
      // seen yet); an incident's link is worth a look a minute on.
      result.requeue_after = std::chrono::minutes(1);
    }
    STRAKE_TRY(ledger_.ApplyIncident(facts));
    // It named another deployment before: what that one's failure had
    // replaced is found again by its source.
    const std::string named = incident.status.is_object() && incident.status.contains("deployment")
                                  ? incident.status.value("deployment", "")
                                  : "";
    if (!named.empty() && named != facts.deployment) STRAKE_TRY(Rederive(k.ns));
    if (facts.closed_ms) status["phase"] = "Closed";
    status["openedAt"] = FormatRfc3339(FromUnixMillis(facts.opened_ms));
    if (facts.closed_ms) status["closedAt"] = FormatRfc3339(FromUnixMillis(*facts.closed_ms));
  }
  if (incident.status == status) return result;
  const std::string reason = status.value("phase", "Open");
  auto wrote = store_.UpdateStatus(k, status, incident.resource_version, reason,
                                   status.value("message", status.value("deployment", "")));
  // Changed meanwhile: the change wakes this again.
  if (!wrote && !wrote.error().Is(ErrorCode::kConflict)) return tl::unexpected(wrote.error());
  return result;
}

Status Recorder::Rederive(const std::string& ns) {
  // Once: the incidents it looks at again may ask for it too (their
  // statuses are written after).
  if (rederiving_) return Ok();
  rederiving_ = true;
  Status done = Ok();
  for (const char* kind : {"Application", "Promotion", "Stage", "Rollout", "Incident"}) {
    auto all = store_.ListHeads(kind, ns);
    if (!all) {
      done = tl::unexpected(all.error());
      break;
    }
    for (const store::Resource& r : *all) {
      if (auto looked = Reconcile(KeyOf(r.key)); !looked) done = tl::unexpected(looked.error());
    }
  }
  rederiving_ = false;
  return done;
}

Status Recorder::RecordObserved(std::vector<Observed> observed) {
  std::sort(observed.begin(), observed.end(), [](const Observed& a, const Observed& b) {
    return a.record.finished_ms < b.record.finished_ms;
  });
  for (Observed& o : observed) {
    STRAKE_TRY_ASSIGN(known, store_.GetDeployment(o.record.id));
    if (known && known->changes_known) {
      o.record.changes = known->changes;
    } else {
      auto changes = ChangesOf(o.record);
      o.record.changes_known = changes.has_value();
      if (changes) {
        o.record.changes = std::move(*changes);
      } else {
        // Recorded without its changes; a later look tries again.
        Warn(o.record.id, "the commits of " + o.record.id + ": " + changes.error().message);
      }
    }
    const std::string id = o.record.id;
    const store::DeploymentRecord recorded = o.record;
    STRAKE_TRY(ledger_.Record(std::move(o.record)));
    // Recorded after a later deployment of its environment (out of
    // order): that one's changes now start from this one.
    if (!known) STRAKE_TRY(RereadNext(recorded));
    // Level-based: what a rollback took back is derived from the
    // resources each time, and an earlier finding stands.
    if (o.rollback && !o.rolled_back.empty()) {
      auto failed = ledger_.MarkFailed(o.rolled_back, o.started_ms, "rolled back by " + id);
      // Not recorded (made before strake kept records): nothing to fail.
      if (!failed && !failed.error().Is(ErrorCode::kNotFound)) return failed;
    }
  }
  return Ok();
}

Status Recorder::RereadNext(const store::DeploymentRecord& d) {
  STRAKE_TRY_ASSIGN(next, store_.FirstDeploymentFrom(d.ns, d.environment, d.finished_ms + 1, d.id));
  if (!next) return Ok();
  auto changes = ChangesOf(*next);
  next->changes_known = changes.has_value();
  next->changes = changes ? std::move(*changes) : std::vector<store::DeploymentRecord::Commit>{};
  return ledger_.Record(std::move(*next));
}

Result<std::vector<store::DeploymentRecord::Commit>> Recorder::ChangesOf(
    const store::DeploymentRecord& d) {
  STRAKE_TRY_ASSIGN(prev, store_.LastDeploymentAt(d.ns, d.environment, d.finished_ms, d.id));
  std::vector<store::DeploymentRecord::Commit> out;
  for (const store::DeploymentRecord::Head& head : d.heads) {
    std::string from;
    if (prev) {
      for (const auto& h : prev->heads) {
        if (h.repo_url == head.repo_url) from = h.sha;
      }
    }
    STRAKE_TRY_ASSIGN(brought, history_.Brought(head.repo_url, from, head.sha));
    for (auto& b : brought) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace strake::insight
