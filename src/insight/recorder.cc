#include "insight/recorder.h"

#include <algorithm>

#include "base/log.h"
#include "base/strings.h"

namespace strake::insight {

namespace {

using Json = store::Json;

std::string Str(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

bool Recorder::Watches(const std::string& kind) {
  return kind == "Application" || kind == "Promotion" || kind == "Stage";
}

std::string Recorder::KeyOf(const store::Key& key) {
  return key.kind + "/" + key.ns + "/" + key.name;
}

Result<controller::ReconcileResult> Recorder::Reconcile(const std::string& key) {
  const auto first = key.find('/');
  const auto second = key.find('/', first + 1);
  if (first == std::string::npos || second == std::string::npos)
    return Failf(ErrorCode::kInvalid, "dora: bad key {}", key);
  store::Key k{key.substr(0, first), key.substr(first + 1, second - first - 1),
               key.substr(second + 1)};
  STRAKE_TRY_ASSIGN(got, store_.Get(k));
  if (!got) return controller::ReconcileResult{};
  if (k.kind == "Application") {
    STRAKE_TRY(RecordApplication(*got));
  } else if (k.kind == "Promotion") {
    STRAKE_TRY(RecordPromotion(*got));
  } else if (k.kind == "Stage") {
    STRAKE_TRY(RecordFailures(*got));
  }
  return controller::ReconcileResult{};
}

Status Recorder::RecordApplication(const store::Resource& app) {
  auto observed = FromApplication(app);
  if (!observed) {
    // The object's own mistake: said once per change, not retried.
    Log(LogLevel::kWarn, "dora: {}", observed.error().message);
    return Ok();
  }
  return RecordObserved(std::move(*observed));
}

Status Recorder::RecordPromotion(const store::Resource& promotion) {
  const std::string stage_name = Str(promotion.object.value("spec", Json::object()), "stage");
  STRAKE_TRY_ASSIGN(stage, store_.Get({"Stage", promotion.key.ns, stage_name}));
  store::Resource gone;  // a Stage deleted since: its name, no labels
  gone.key = {"Stage", promotion.key.ns, stage_name};
  auto observed = FromPromotion(promotion, stage ? *stage : gone);
  if (!observed) {
    Log(LogLevel::kWarn, "dora: {}", observed.error().message);
    return Ok();
  }
  if (!*observed) return Ok();
  if ((*observed)->rollback) {
    // What the rollback took back: the Promotion into the Stage that
    // finished last before it.
    STRAKE_TRY_ASSIGN(promotions, store_.List("Promotion", promotion.key.ns));
    auto before = PromotionOf(promotions, stage_name, {}, (*observed)->record.finished_ms,
                              promotion.key.name);
    if (before) (*observed)->rolled_back = *before;
  }
  std::vector<Observed> one;
  one.push_back(std::move(**observed));
  STRAKE_TRY(RecordObserved(std::move(one)));
  // A verification that failed before this was recorded names it now.
  return stage ? RecordFailures(*stage) : Ok();
}

Status Recorder::RecordFailures(const store::Resource& stage) {
  std::vector<FailedVerification> failed = FailedVerifications(stage);
  if (failed.empty()) return Ok();
  STRAKE_TRY_ASSIGN(promotions, store_.List("Promotion", stage.key.ns));
  for (const FailedVerification& f : failed) {
    auto id = PromotionOf(promotions, stage.key.name, f.freight, f.finished_ms);
    if (!id) continue;  // not promoted by a Promotion strake saw
    STRAKE_TRY_ASSIGN(recorded, store_.GetDeployment(*id));
    if (!recorded) continue;  // recorded with the Promotion, which looks here again
    std::string why = "verification failed";
    if (!f.message.empty()) why += ": " + f.message;
    STRAKE_TRY(ledger_.MarkFailed(*id, f.finished_ms, why));
  }
  return Ok();
}

Status Recorder::RecordObserved(std::vector<Observed> observed) {
  std::sort(observed.begin(), observed.end(), [](const Observed& a, const Observed& b) {
    return a.record.finished_ms < b.record.finished_ms;
  });
  for (Observed& o : observed) {
    STRAKE_TRY_ASSIGN(known, store_.GetDeployment(o.record.id));
    if (!known || (known->changes.empty() && !o.commits.empty())) {
      auto changes = ChangesOf(o);
      if (changes) {
        o.record.changes = std::move(*changes);
      } else {
        // Recorded without its changes; a later look tries again.
        Log(LogLevel::kWarn, "dora: the commits of {}: {}", o.record.id, changes.error().message);
      }
    }
    const std::string id = o.record.id;
    STRAKE_TRY(ledger_.Record(std::move(o.record)));
    // Level-based: the rolled-back deployment is derived from the resources
    // each time, and an earlier finding stands.
    if (o.rollback && !o.rolled_back.empty()) {
      auto failed = ledger_.MarkFailed(o.rolled_back, o.started_ms, "rolled back by " + id);
      // Not recorded (made before strake kept records): nothing to fail.
      if (!failed && !failed.error().Is(ErrorCode::kNotFound)) return failed;
    }
  }
  return Ok();
}

Result<std::vector<store::DeploymentRecord::Commit>> Recorder::ChangesOf(const Observed& o) {
  std::map<std::string, std::string> heads;
  auto prev = ledger_.Latest(o.record.ns, o.record.environment);
  if (prev && prev->id != o.record.id && prev->finished_ms <= o.record.finished_ms) {
    STRAKE_TRY_ASSIGN(h, HeadsOf(*prev));
    heads = std::move(h);
  }
  std::vector<store::DeploymentRecord::Commit> out;
  for (const Observed::Commit& c : o.commits) {
    auto from = heads.find(c.repo_url);
    STRAKE_TRY_ASSIGN(brought,
                      history_.Brought(c.repo_url, from == heads.end() ? "" : from->second, c.sha));
    for (auto& b : brought) {
      auto same = [&](const store::DeploymentRecord::Commit& x) { return x.sha == b.sha; };
      if (std::none_of(out.begin(), out.end(), same)) out.push_back(std::move(b));
    }
  }
  return out;
}

Result<std::map<std::string, std::string>> Recorder::HeadsOf(const store::DeploymentRecord& d) {
  std::map<std::string, std::string> heads;
  if (StartsWith(d.id, "Application/")) {
    if (!d.repo_url.empty()) heads[d.repo_url] = d.revision;
    return heads;
  }
  // "Promotion/ns/name": the commits of the Freight it promoted.
  const auto slash = d.id.find('/', std::string_view("Promotion/").size());
  STRAKE_TRY_ASSIGN(p, store_.Get({"Promotion", d.ns, d.id.substr(slash + 1)}));
  if (!p) return heads;
  const Json freight = p->status.value("freight", Json::object());
  const Json commits = freight.value("commits", Json::array());
  if (!commits.is_array()) return heads;
  for (const Json& c : commits) {
    if (!Str(c, "repoURL").empty() && !Str(c, "id").empty())
      heads[Str(c, "repoURL")] = Str(c, "id");
  }
  return heads;
}

}  // namespace strake::insight
