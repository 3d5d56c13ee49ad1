#include "insight/sources.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "base/clock.h"
#include "insight/dora.h"

namespace strake::insight {

namespace {

using Json = store::Json;

std::optional<int64_t> TimeOf(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return std::nullopt;
  auto t = ParseRfc3339(j[key].get<std::string>());
  if (!t) return std::nullopt;
  return UnixMillis(*t);
}

std::string Str(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

const Json& Field(const Json& j, const char* key) {
  static const Json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

// The Application that applied `r` (its tracking annotation), as
// {namespace, name}; empty when none did.
std::pair<std::string, std::string> TrackedBy(const store::Resource& r) {
  const Json& annotations = Field(Field(r.object, "metadata"), "annotations");
  const std::string id = Str(annotations, kTrackingAnnotation);
  const auto colon = id.find(':');
  const auto under = id.find('_');
  if (colon == std::string::npos || under == std::string::npos || under > colon) return {};
  return {id.substr(0, under), id.substr(under + 1, colon - under - 1)};
}

int64_t MillisOf(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

}  // namespace

Result<Placement> PlacementOf(const store::Resource& r) {
  Placement p;
  p.environment = r.Label(kEnvironmentLabel);
  if (p.environment.empty()) p.environment = r.key.name;
  const std::string tier = r.Label(kTierLabel);
  if (tier.empty()) {
    p.tier = TierName(GuessTier(p.environment));
  } else if (TierFromName(tier)) {
    p.tier = tier;
  } else {
    return Failf(ErrorCode::kInvalid,
                 "{} {}: metadata.labels[{}]: \"{}\" is not a tier (production, staging, "
                 "testing, development, other)",
                 r.key.kind, r.key.name, kTierLabel, tier);
  }
  return p;
}

Result<std::vector<Observed>> FromApplication(const store::Resource& app) {
  std::vector<Observed> out;
  // A Stage's Application: its syncs are that Stage's Promotions, counted
  // once, as those.
  const Json& annotations = Field(Field(app.object, "metadata"), "annotations");
  if (!Str(annotations, kAuthorizedStageAnnotation).empty()) return out;
  const Json& history = Field(app.status, "history");
  if (!history.is_array() || history.empty()) return out;
  STRAKE_TRY_ASSIGN(place, PlacementOf(app));
  std::vector<std::pair<std::string, std::string>> ran;  // (revision, id) of the entries before
  for (const Json& h : history) {
    auto finished = TimeOf(h, "deployedAt");
    const std::string revision = Str(h, "revision");
    if (!finished || revision.empty() || !h.contains("id") || !h["id"].is_number_integer())
      continue;
    Observed o;
    store::DeploymentRecord& d = o.record;
    d.id = fmt::format("Application/{}/{}#{}", app.key.ns, app.key.name, h["id"].get<int64_t>());
    d.ns = app.key.ns;
    d.environment = place.environment;
    d.tier = place.tier;
    d.revision = revision;
    const std::string repo_url = Str(Field(h, "source"), "repoURL");
    if (!repo_url.empty()) d.heads.push_back({repo_url, revision});
    d.finished_ms = *finished;
    if (!ran.empty() && ran.back().first != revision) {
      auto same = [&](const auto& r) { return r.first == revision; };
      if (std::any_of(ran.begin(), ran.end(), same)) {
        o.rollback = d.unplanned = true;
        o.rolled_back = ran.back().second;
        o.started_ms = TimeOf(h, "deployStartedAt").value_or(*finished);
      }
    }
    ran.emplace_back(revision, d.id);
    out.push_back(std::move(o));
  }
  return out;
}

Result<std::optional<Observed>> FromPromotion(const store::Resource& promotion,
                                              const store::Resource& stage) {
  const Json& st = promotion.status;
  auto finished = TimeOf(st, "finishedAt");
  if (Str(st, "phase") != "Succeeded" || !finished) return std::optional<Observed>();
  STRAKE_TRY_ASSIGN(place, PlacementOf(stage));
  Observed o;
  store::DeploymentRecord& d = o.record;
  d.id = fmt::format("Promotion/{}/{}", promotion.key.ns, promotion.key.name);
  d.ns = promotion.key.ns;
  d.environment = place.environment;
  d.tier = place.tier;
  const Json& freight = Field(st, "freight");
  d.revision = Str(freight, "name");
  d.finished_ms = *finished;
  const Json& annotations = Field(Field(promotion.object, "metadata"), "annotations");
  if (Str(annotations, "kargo.akuity.io/rollback") == "true") {
    o.rollback = d.unplanned = true;
    o.started_ms = TimeOf(st, "startedAt").value_or(*finished);
  }
  const Json& commits = Field(freight, "commits");
  if (commits.is_array()) {
    for (const Json& c : commits) {
      const std::string url = Str(c, "repoURL"), sha = Str(c, "id");
      if (!url.empty() && !sha.empty()) d.heads.push_back({url, sha});
    }
  }
  return std::optional<Observed>(std::move(o));
}

std::vector<FailedVerification> FailedVerifications(const store::Resource& stage) {
  std::vector<FailedVerification> out;
  const Json& history = Field(stage.status, "freightHistory");
  if (!history.is_array()) return out;
  for (const Json& collection : history) {
    std::vector<std::string> freight;
    const Json& items = Field(collection, "items");
    if (items.is_object()) {
      for (const auto& [origin, ref] : items.items()) freight.push_back(Str(ref, "name"));
    }
    const Json& verifications = Field(collection, "verificationHistory");
    if (!verifications.is_array()) continue;
    for (const Json& v : verifications) {
      auto finished = TimeOf(v, "finishTime");
      if (Str(v, "phase") != "Failed" || !finished) continue;
      std::string id = Str(v, "id");
      if (id.empty()) id = Str(collection, "id") + "@" + Str(v, "finishTime");
      out.push_back({id, freight, *finished, Str(v, "message")});
    }
  }
  return out;
}

Result<std::optional<Observed>> FromRollout(const store::Resource& rollout) {
  if (!TrackedBy(rollout).second.empty()) return std::optional<Observed>();
  const Json& st = rollout.status;
  const std::string stable = Str(st, "stableRS");
  const int64_t finished = MillisOf(st, "progressedAtMs");
  if (stable.empty() || stable != Str(st, "currentPodHash") || Field(st, "abort") == true ||
      finished <= 0) {
    return std::optional<Observed>();
  }
  STRAKE_TRY_ASSIGN(place, PlacementOf(rollout));
  Observed o;
  store::DeploymentRecord& d = o.record;
  d.id = fmt::format("Rollout/{}/{}@{}", rollout.key.ns, rollout.key.name, stable);
  d.ns = rollout.key.ns;
  d.environment = place.environment;
  d.tier = place.tier;
  d.revision = stable;
  d.finished_ms = finished;
  return std::optional<Observed>(std::move(o));
}

std::optional<AbortedCanary> AbortOf(const store::Resource& rollout) {
  const Json& st = rollout.status;
  const int64_t at = MillisOf(st, "abortedAtMs");
  if (Field(st, "abort") != true || at <= 0) return std::nullopt;
  AbortedCanary a;
  a.revision = Str(st, "currentPodHash");
  a.aborted_ms = at;
  a.message = Str(st, "message");
  std::tie(a.app_ns, a.app) = TrackedBy(rollout);
  return a;
}

}  // namespace strake::insight
