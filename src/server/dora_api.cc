#include "server/dora_api.h"

#include <map>
#include <vector>

#include "base/clock.h"
#include "base/net.h"

namespace strake::server {

namespace {

using Json = nlohmann::json;
using insight::Bucket;
using insight::Metric;
using insight::Sample;

std::string Time(int64_t ms) { return FormatRfc3339(FromUnixMillis(ms)); }

Json DeploymentJson(const store::DeploymentRecord& d) {
  Json j = {{"id", d.id},
            {"namespace", d.ns},
            {"environment", d.environment},
            {"tier", d.tier},
            {"revision", d.revision},
            {"finishedAt", Time(d.finished_ms)},
            {"changes", d.changes.size()}};
  if (!d.heads.empty()) {
    Json heads = Json::array();
    for (const auto& h : d.heads)
      heads.push_back({{"repoURL", RedactUrl(h.repo_url)}, {"commit", h.sha}});
    j["heads"] = std::move(heads);
  }
  if (d.unplanned) j["unplanned"] = true;
  if (d.failed_ms) {
    j["failedAt"] = Time(*d.failed_ms);
    j["failure"] = d.failure;
  }
  if (d.restored_ms) j["restoredAt"] = Time(*d.restored_ms);
  return j;
}

// What one sample of `metric` stands for.
Json SampleJson(Metric metric, const Sample& s, const std::vector<store::DeploymentRecord>& recs) {
  const store::DeploymentRecord& d = recs.at(s.deployment);
  if (metric == Metric::kLeadTimeForChanges && s.change) {
    const auto& c = d.changes.at(*s.change);
    return {{"commit", c.sha},
            {"committedAt", Time(c.committed_ms)},
            {"deployment", d.id},
            {"deployedAt", Time(d.finished_ms)},
            {"seconds", s.seconds.value_or(0)}};
  }
  if (metric == Metric::kTimeToRestoreService) {
    return {{"deployment", d.id},
            {"failure", d.failure},
            {"failedAt", Time(d.failed_ms.value_or(0))},
            {"restoredAt", Time(d.restored_ms.value_or(0))},
            {"seconds", s.seconds.value_or(0)}};
  }
  return DeploymentJson(d);
}

const char* SamplesKey(Metric metric) {
  switch (metric) {
    case Metric::kLeadTimeForChanges:
      return "changes";
    case Metric::kTimeToRestoreService:
      return "failures";
    default:
      return "deployments";
  }
}

Json BucketsJson(Metric metric, const std::vector<Bucket>& buckets,
                 const std::vector<store::DeploymentRecord>* records) {
  Json out = Json::array();
  const bool durations =
      metric == Metric::kLeadTimeForChanges || metric == Metric::kTimeToRestoreService;
  for (const Bucket& b : buckets) {
    Json j = {{"date", b.date ? Json(*b.date) : Json()},
              {"value", b.value ? Json(*b.value) : Json()}};
    if (durations) j["p90"] = b.p90 ? Json(*b.p90) : Json();
    if (records) {
      Json samples = Json::array();
      for (const Sample& s : b.samples) samples.push_back(SampleJson(metric, s, *records));
      j[SamplesKey(metric)] = std::move(samples);
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

Response DoraMetrics(insight::Ledger& ledger, const std::string& ns, const Request& req,
                     int64_t today) {
  if (req.method != "GET")
    return ErrorResponse(405, "MethodNotAllowed", "dora metrics are read: GET");
  std::map<std::string, std::vector<std::string>> params;
  bool explain = false;
  for (const auto& [k, v] : req.query_list) {
    if (k == "explain") {
      explain = v == "1" || v == "true";
      continue;
    }
    params[k].push_back(v);
  }
  auto query = insight::ParseQuery(params, today);
  if (!query) return ErrorResponse(400, "BadRequest", query.error().message);
  if (!explain) {
    auto answer = ledger.Answer(ns, *query);
    if (!answer) return ErrorResponse(answer.error());
    return JsonResponse(200, BucketsJson(query->metric, *answer, nullptr));
  }
  auto explained = ledger.Explain(ns, *query);
  if (!explained) return ErrorResponse(explained.error());
  return JsonResponse(200, BucketsJson(query->metric, explained->buckets, &explained->records));
}

}  // namespace strake::server
