#include "insight/ledger.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "base/duration.h"
#include "base/log.h"
#include "base/tz.h"

namespace strake::insight {

namespace {

constexpr int64_t kMillisPerDay = kSecondsPerDay * 1000;

// Whether `d` is rework of incident `i`: another deployment of its
// environment that finished while it was open.
bool InWindow(const IncidentFacts& i, const store::DeploymentRecord& d) {
  return i.ns == d.ns && i.environment == d.environment && i.deployment != d.id &&
         d.finished_ms >= i.opened_ms && (!i.closed_ms || d.finished_ms < *i.closed_ms);
}

void ClearFailure(store::DeploymentRecord& d) {
  d.failed_ms.reset();
  d.restored_ms.reset();
  d.failure.clear();
  d.incident.clear();
}

void ClearRework(store::DeploymentRecord& d) {
  d.unplanned = false;
  d.rework_by.clear();
}

}  // namespace

Deployment ToDeployment(const store::DeploymentRecord& r) {
  Deployment d;
  d.id = r.id;
  d.environment = r.environment;
  d.tier = TierFromName(r.tier).value_or(Tier::kOther);
  d.finished_ms = r.finished_ms;
  d.unplanned = r.unplanned;
  d.failed_ms = r.failed_ms;
  d.restored_ms = r.restored_ms;
  d.changes.reserve(r.changes.size());
  for (const auto& c : r.changes) d.changes.push_back({c.sha, c.committed_ms});
  return d;
}

Status Ledger::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

Status Ledger::LoadLocked() {
  const auto started = std::chrono::steady_clock::now();
  loaded_ = false;
  indexes_.clear();
  totals_.clear();
  STRAKE_TRY(store_.ForEachDeployment({}, [this](store::DeploymentRecord& d) {
    Reindex(std::nullopt, d);
    return true;
  }));
  for (auto& [ns, index] : indexes_) index.Sort();
  loaded_ = true;
  const auto took = std::chrono::steady_clock::now() - started;
  if (took > std::chrono::seconds(1)) {
    Log(LogLevel::kInfo, "dora: deployment records read in {}",
        FormatDuration(std::chrono::duration_cast<Millis>(took)));
  }
  return Ok();
}

Status Ledger::Record(store::DeploymentRecord d) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(EnsureLoadedLocked());
  std::vector<store::DeploymentRecord::Commit> changes;
  for (auto& c : d.changes) {
    auto same = [&](const auto& x) { return x.sha == c.sha; };
    if (std::none_of(changes.begin(), changes.end(), same)) changes.push_back(std::move(c));
  }
  d.changes = std::move(changes);
  d.rework_by.clear();  // unplanned as its source says (a rollback), or planned
  STRAKE_TRY_ASSIGN(was, store_.GetDeployment(d.id));
  if (was) {
    d.failed_ms = was->failed_ms;
    d.restored_ms = was->restored_ms;
    d.failure = was->failure;
    d.incident = was->incident;
    if (!d.unplanned) {
      d.unplanned = was->unplanned;
      d.rework_by = was->rework_by;
    }
  }
  for (const auto& [key, i] : incidents_) {
    if (!d.unplanned && InWindow(i, d)) {
      d.unplanned = true;  // made while an incident was open there: rework
      d.rework_by = key;
    }
  }
  if (was) {
    if (d == *was) return Ok();
    STRAKE_TRY(store_.PutDeployments({d}));
    Reindex(was, d);
    return Ok();
  }
  std::vector<store::DeploymentRecord> writes = {d};
  std::vector<std::optional<store::DeploymentRecord>> before = {std::nullopt};
  STRAKE_TRY_ASSIGN(open, store_.FailuresOpenAt(d.ns, d.environment, d.finished_ms));
  for (store::DeploymentRecord& f : open) {
    before.emplace_back(f);
    f.restored_ms = d.finished_ms;
    writes.push_back(std::move(f));
  }
  STRAKE_TRY(store_.PutDeployments(writes));
  for (size_t i = 0; i < writes.size(); ++i) Reindex(before[i], writes[i]);
  return Ok();
}

Status Ledger::MarkFailed(const std::string& id, int64_t when_ms, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(EnsureLoadedLocked());
  STRAKE_TRY_ASSIGN(was, store_.GetDeployment(id));
  if (!was) return Failf(ErrorCode::kNotFound, "no deployment {} is recorded", id);
  if (was->failed_ms && *was->failed_ms <= when_ms) return Ok();
  store::DeploymentRecord d = *was;
  d.failed_ms = when_ms;
  d.failure = why;
  d.incident.clear();  // found earlier than the incident did: the next deployment restores it
  STRAKE_TRY_ASSIGN(next, store_.FirstDeploymentFrom(d.ns, d.environment, when_ms, id));
  d.restored_ms = next ? std::optional<int64_t>(next->finished_ms) : std::nullopt;
  STRAKE_TRY(store_.PutDeployments({d}));
  Reindex(was, d);
  return Ok();
}

Status Ledger::ApplyIncident(const IncidentFacts& i) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(EnsureLoadedLocked());
  // Every record this changes, by id: as it was, and as it will be.
  std::map<std::string, std::pair<store::DeploymentRecord, store::DeploymentRecord>> changed;
  auto touch = [&](const store::DeploymentRecord& d) -> store::DeploymentRecord& {
    auto it = changed.find(d.id);
    if (it == changed.end()) it = changed.emplace(d.id, std::make_pair(d, d)).first;
    return it->second.second;
  };
  // What it marked before and marks no longer (it names another
  // deployment, its window moved).
  STRAKE_TRY_ASSIGN(before, store_.MarkedByIncident(i.key));
  for (const store::DeploymentRecord& d : before) {
    store::DeploymentRecord& now = touch(d);
    if (d.incident == i.key && d.id != i.deployment) ClearFailure(now);
    if (d.rework_by == i.key && !InWindow(i, d)) ClearRework(now);
  }
  if (!i.deployment.empty()) {
    STRAKE_TRY_ASSIGN(target, store_.GetDeployment(i.deployment));
    if (!target) return Failf(ErrorCode::kNotFound, "no deployment {} is recorded", i.deployment);
    store::DeploymentRecord& now = touch(*target);
    if (now.rework_by == i.key) ClearRework(now);  // the cause, not rework
    if (now.incident == i.key || !now.failed_ms || *now.failed_ms > i.opened_ms) {
      now.failed_ms = i.opened_ms;
      now.restored_ms = i.closed_ms;
      now.failure = "incident " + i.key.substr(i.key.find('/') + 1) + ": " + i.title;
      now.incident = i.key;
    }
  }
  STRAKE_TRY_ASSIGN(during,
                    store_.DeploymentsFinishedIn(i.ns, i.environment, i.opened_ms,
                                                 i.closed_ms ? *i.closed_ms - 1 : INT64_MAX));
  for (const store::DeploymentRecord& d : during) {
    store::DeploymentRecord& now = touch(d);
    if (!now.unplanned && InWindow(i, now)) {
      now.unplanned = true;
      now.rework_by = i.key;
    }
  }
  STRAKE_TRY(WriteChanged(changed));
  incidents_[i.key] = i;
  return Ok();
}

Status Ledger::ForgetIncident(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(EnsureLoadedLocked());
  STRAKE_TRY_ASSIGN(marked, store_.MarkedByIncident(key));
  std::map<std::string, std::pair<store::DeploymentRecord, store::DeploymentRecord>> changed;
  for (const store::DeploymentRecord& d : marked) {
    store::DeploymentRecord now = d;
    if (now.incident == key) ClearFailure(now);
    if (now.rework_by == key) ClearRework(now);
    changed.emplace(d.id, std::make_pair(d, std::move(now)));
  }
  STRAKE_TRY(WriteChanged(changed));
  incidents_.erase(key);
  return Ok();
}

Status Ledger::WriteChanged(
    const std::map<std::string, std::pair<store::DeploymentRecord, store::DeploymentRecord>>&
        changed) {
  std::vector<store::DeploymentRecord> writes;
  for (const auto& [id, pair] : changed) {
    if (pair.first != pair.second) writes.push_back(pair.second);
  }
  if (writes.empty()) return Ok();
  STRAKE_TRY(store_.PutDeployments(writes));
  for (const auto& [id, pair] : changed) {
    if (pair.first != pair.second) Reindex(pair.first, pair.second);
  }
  return Ok();
}

Result<std::vector<Bucket>> Ledger::Answer(const std::string& ns, const Query& query) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY(EnsureLoadedLocked());
  auto it = indexes_.find(ns);
  if (it != indexes_.end()) return it->second.Answer(query);
  DailyIndex empty;
  return empty.Answer(query);
}

Result<Ledger::Explained> Ledger::Explain(const std::string& ns, const Query& query,
                                          size_t max_records) {
  Explained out;
  store::DeploymentFilter filter{ns, query.start_day * kMillisPerDay,
                                 (query.end_day + 1) * kMillisPerDay - 1};
  std::vector<Deployment> deployments;
  bool too_many = false;
  STRAKE_TRY(store_.ForEachDeployment(filter, [&](store::DeploymentRecord& r) {
    if (out.records.size() == max_records) {
      too_many = true;
      return false;
    }
    deployments.push_back(ToDeployment(r));
    out.records.push_back(std::move(r));
    return true;
  }));
  if (too_many) {
    return Failf(ErrorCode::kInvalid,
                 "explain lists at most {} deployments and this range holds more: ask for a "
                 "shorter one (or without explain)",
                 max_records);
  }
  out.buckets = Compute(query, deployments, true);
  return out;
}

std::string Ledger::PrometheusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  struct Counter {
    const char* name;
    const char* help;
    int64_t Totals::*field;
  };
  static constexpr Counter kCounters[] = {
      {"strake_dora_deployments_total", "Deployments recorded for DORA.", &Totals::deployments},
      {"strake_dora_failed_deployments_total", "Recorded deployments found failed.",
       &Totals::failed},
      {"strake_dora_unplanned_deployments_total", "Recorded deployments made to fix one (rework).",
       &Totals::unplanned},
      {"strake_dora_changes_total", "Commits the recorded deployments brought.", &Totals::changes}};
  std::string out;
  for (const Counter& c : kCounters) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", c.name, c.help, c.name);
    for (const auto& [tier, t] : totals_)
      out += fmt::format("{}{{tier=\"{}\"}} {}\n", c.name, tier, t.*c.field);
  }
  return out;
}

void Ledger::Reindex(const std::optional<store::DeploymentRecord>& was,
                     const store::DeploymentRecord& now) {
  auto count = [this](const store::DeploymentRecord& d, int64_t sign) {
    Totals& t = totals_[d.tier];
    t.deployments += sign;
    t.failed += d.failed_ms ? sign : 0;
    t.unplanned += d.unplanned ? sign : 0;
    t.changes += sign * static_cast<int64_t>(d.changes.size());
  };
  if (was) count(*was, -1);
  count(now, 1);
  for (const std::string& key : {std::string(), now.ns}) {
    DailyIndex& index = indexes_[key];
    if (was) index.Remove(ToDeployment(*was));
    index.Add(ToDeployment(now));
  }
}

}  // namespace strake::insight
