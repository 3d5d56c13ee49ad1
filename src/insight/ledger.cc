#include "insight/ledger.h"

#include <fmt/format.h>

#include <algorithm>

namespace strake::insight {

namespace {

constexpr int64_t kMillisPerDay = int64_t{86'400'000};

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
  indexes_.clear();
  envs_.clear();
  totals_.clear();
  STRAKE_TRY(store_.ForEachDeployment({}, [this](store::DeploymentRecord& d) {
    Reindex(std::nullopt, d);
    Track(d);
    return true;
  }));
  for (auto& [ns, index] : indexes_) index.Sort();
  return Ok();
}

std::optional<store::DeploymentRecord> Ledger::Latest(const std::string& ns,
                                                      const std::string& environment) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = envs_.find({ns, environment});
  if (it == envs_.end()) return std::nullopt;
  return it->second.latest;
}

Status Ledger::Record(store::DeploymentRecord d) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY_ASSIGN(was, store_.GetDeployment(d.id));
  if (was) {
    d.failed_ms = was->failed_ms;
    d.restored_ms = was->restored_ms;
    d.failure = was->failure;
    d.unplanned = d.unplanned || was->unplanned;
    if (d.changes.empty()) d.changes = was->changes;
    if (d == *was) return Ok();
    STRAKE_TRY(store_.PutDeployments({d}));
    Reindex(was, d);
    Track(d);
    return Ok();
  }
  std::vector<store::DeploymentRecord> writes = {d};
  std::vector<std::optional<store::DeploymentRecord>> before = {std::nullopt};
  std::vector<std::string> open;
  for (const std::string& id : envs_[{d.ns, d.environment}].open_failures) {
    STRAKE_TRY_ASSIGN(f, store_.GetDeployment(id));
    if (!f || f->restored_ms || !f->failed_ms) continue;
    if (*f->failed_ms > d.finished_ms) {
      open.push_back(id);
      continue;
    }
    before.push_back(f);
    f->restored_ms = d.finished_ms;
    writes.push_back(*f);
  }
  STRAKE_TRY(store_.PutDeployments(writes));
  envs_[{d.ns, d.environment}].open_failures = std::move(open);
  for (size_t i = 0; i < writes.size(); ++i) Reindex(before[i], writes[i]);
  Track(d);
  return Ok();
}

Status Ledger::MarkFailed(const std::string& id, int64_t when_ms, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY_ASSIGN(was, store_.GetDeployment(id));
  if (!was) return Failf(ErrorCode::kNotFound, "no deployment {} is recorded", id);
  if (was->failed_ms && *was->failed_ms <= when_ms) return Ok();
  store::DeploymentRecord d = *was;
  d.failed_ms = when_ms;
  d.failure = why;
  STRAKE_TRY_ASSIGN(next, NextDeployment(d, when_ms));
  d.restored_ms = next;
  STRAKE_TRY(store_.PutDeployments({d}));
  Reindex(was, d);
  Track(d);
  return Ok();
}

std::vector<Bucket> Ledger::Answer(const std::string& ns, const Query& query) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = indexes_.find(ns);
  if (it != indexes_.end()) return it->second.Answer(query);
  DailyIndex empty;
  return empty.Answer(query);
}

Result<Ledger::Explained> Ledger::Explain(const std::string& ns, const Query& query) {
  Explained out;
  store::DeploymentFilter filter{ns, query.start_day * kMillisPerDay,
                                 (query.end_day + 1) * kMillisPerDay - 1};
  std::vector<Deployment> deployments;
  STRAKE_TRY(store_.ForEachDeployment(filter, [&](store::DeploymentRecord& r) {
    deployments.push_back(ToDeployment(r));
    out.records.push_back(std::move(r));
    return true;
  }));
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
    for (const auto& [key, t] : totals_) {
      out += fmt::format("{}{{namespace=\"{}\",tier=\"{}\"}} {}\n", c.name, key.first, key.second,
                         t.*c.field);
    }
  }
  return out;
}

void Ledger::Reindex(const std::optional<store::DeploymentRecord>& was,
                     const store::DeploymentRecord& now) {
  auto count = [this](const store::DeploymentRecord& d, int64_t sign) {
    Totals& t = totals_[{d.ns, d.tier}];
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

void Ledger::Track(const store::DeploymentRecord& d) {
  Env& env = envs_[{d.ns, d.environment}];
  if (env.latest.id.empty() || d.finished_ms >= env.latest.finished_ms || env.latest.id == d.id) {
    env.latest = d;
    env.latest.changes.clear();
  }
  auto& open = env.open_failures;
  const bool is_open = std::find(open.begin(), open.end(), d.id) != open.end();
  if (d.failed_ms && !d.restored_ms && !is_open) open.push_back(d.id);
  if (d.restored_ms && is_open) open.erase(std::find(open.begin(), open.end(), d.id));
}

Result<std::optional<int64_t>> Ledger::NextDeployment(const store::DeploymentRecord& d,
                                                      int64_t after_ms) {
  std::optional<int64_t> first;
  store::DeploymentFilter filter{d.ns, after_ms, INT64_MAX};
  STRAKE_TRY(store_.ForEachDeployment(filter, [&](store::DeploymentRecord& r) {
    if (r.id != d.id && r.environment == d.environment && r.finished_ms >= after_ms &&
        (!first || r.finished_ms < *first))
      first = r.finished_ms;
    return true;
  }));
  return first;
}

}  // namespace strake::insight
