#include "delivery/warehouse.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "base/duration.h"
#include "base/net.h"
#include "base/strings.h"
#include "delivery/artifact.h"
#include "delivery/freight.h"
#include "model/decode.h"

namespace strake::delivery {

namespace {

constexpr int64_t kRetryMs = 15'000;
// The changed paths of one commit looked at, at most (more: it passes).
constexpr size_t kPathLimit = 10'000;

std::string Signature(const std::string& name, const std::string& email) {
  return email.empty() ? name : fmt::format("{} <{}>", name, email);
}

CandidateCommit Candidate(const gitops::LogEntry& e) {
  CandidateCommit c;
  c.id = e.commit.sha;
  c.subject = e.commit.message;
  c.author = Signature(e.commit.author, e.commit.author_email);
  c.committer = Signature(e.commit.committer, e.commit.committer_email);
  c.date_ms = e.commit.time_ms;
  c.paths = e.paths;
  c.paths_complete = e.paths_complete;
  return c;
}

Json CommitJson(const DiscoveredCommit& c) {
  Json j = {{"id", c.id}};
  if (!c.branch.empty()) j["branch"] = c.branch;
  if (!c.tag.empty()) j["tag"] = c.tag;
  if (!c.subject.empty()) j["subject"] = c.subject;
  if (!c.author.empty()) j["author"] = c.author;
  if (!c.committer.empty()) j["committer"] = c.committer;
  j["creatorDate"] = FormatRfc3339(FromUnixMillis(c.creator_date_ms));
  return j;
}

}  // namespace

int64_t DiscoveryDueInMs(const Json& status, int64_t generation, const std::string& refresh,
                         int64_t interval_ms, int64_t now_ms) {
  if (!status.is_object()) return 0;
  if (status.value("observedGeneration", int64_t{0}) < generation) return 0;
  if (!refresh.empty() && status.value("lastHandledRefresh", "") != refresh) return 0;
  auto artifacts = status.find("discoveredArtifacts");
  if (artifacts == status.end() || !artifacts->is_object()) return 0;
  auto at = ParseRfc3339(artifacts->value("discoveredAt", ""));
  if (!at) return 0;
  int64_t next = UnixMillis(*at) + interval_ms;
  return std::max<int64_t>(0, next - now_ms);
}

std::vector<model::FreightArtifact> SelectArtifacts(const model::ArtifactSubscription& sub,
                                                    const std::string& subscription_name,
                                                    const std::vector<store::Resource>& artifacts) {
  std::vector<const store::Resource*> picked;
  for (const auto& a : artifacts) {
    const Json spec = a.object.value("spec", Json::object());
    const Json by = spec.value("builtBy", Json::object());
    auto wants = [](const std::string& want, const std::string& have) {
      return want.empty() || want == have;
    };
    if (!wants(sub.pipeline, by.value("pipeline", "")) ||
        !wants(sub.branch, by.value("branch", "")) ||
        !wants(sub.result, spec.value("result", "")) || !wants(sub.type, spec.value("type", "")))
      continue;
    if (!sub.repo_url.empty() &&
        model::NormalizeGitUrl(sub.repo_url) != model::NormalizeGitUrl(by.value("repoURL", "")))
      continue;
    picked.push_back(&a);
  }
  auto finished = [](const store::Resource* r) {
    return r->object.value("spec", Json::object())
        .value("builtBy", Json::object())
        .value("finishedAt", "");
  };
  std::sort(picked.begin(), picked.end(), [&](const store::Resource* a, const store::Resource* b) {
    std::string fa = finished(a), fb = finished(b);
    if (fa != fb) return fa > fb;  // RFC 3339 in UTC: text order is time order
    if (a->created_ms != b->created_ms) return a->created_ms > b->created_ms;
    return a->key.name < b->key.name;
  });
  if (picked.size() > static_cast<size_t>(sub.discovery_limit)) picked.resize(sub.discovery_limit);
  std::vector<model::FreightArtifact> out;
  for (const auto* a : picked) {
    const Json spec = a->object.value("spec", Json::object());
    model::FreightArtifact f;
    f.artifact_type = spec.value("type", "");
    f.subscription_name = subscription_name;
    f.version = spec.value("digest", "");
    f.metadata = FreightArtifactMetadata(a->key.name, spec);
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<model::Freight> FreightFromResults(const std::string& warehouse,
                                                 const std::vector<SubscriptionResult>& results) {
  model::Freight f;
  f.origin = {"Warehouse", warehouse};
  for (const auto& r : results) {
    if (r.Empty()) return std::nullopt;
    if (r.artifact) {
      f.artifacts.push_back(r.artifacts.front());
      continue;
    }
    if (r.image) {
      const DiscoveredImage& d = r.images.front();
      f.images.push_back({r.repo_url, d.tag, d.digest, d.annotations, r.subscription_name});
      continue;
    }
    const DiscoveredCommit& d = r.commits.front();
    model::FreightCommit c;
    c.repo_url = r.repo_url;
    c.id = d.id;
    c.branch = d.branch;
    c.tag = d.tag;
    c.message = d.subject;
    c.author = d.author;
    c.committer = d.committer;
    c.subscription_name = r.subscription_name;
    f.commits.push_back(std::move(c));
  }
  f.meta.name = FreightName(f.origin, f.commits, f.artifacts, f.images);
  return f;
}

Json FreightObject(const model::Freight& f, const std::string& discovered_at) {
  Json commits = Json::array();
  for (const auto& c : f.commits) commits.push_back(model::FreightCommitToJson(c));
  Json meta = {{"name", f.meta.name}, {"namespace", f.meta.ns}};
  if (!f.alias.empty()) meta["labels"] = {{kAliasLabel, f.alias}};
  Json o = {{"apiVersion", model::kKargoApiVersion}, {"kind", "Freight"}, {"metadata", meta}};
  if (!f.alias.empty()) o["alias"] = f.alias;
  o["origin"] = {{"kind", f.origin.kind}, {"name", f.origin.name}};
  if (!commits.empty()) o["commits"] = std::move(commits);
  if (!f.images.empty()) {
    Json images = Json::array();
    for (const auto& i : f.images) images.push_back(model::FreightImageToJson(i));
    o["images"] = std::move(images);
  }
  if (!f.artifacts.empty()) {
    Json artifacts = Json::array();
    for (const auto& a : f.artifacts) artifacts.push_back(model::FreightArtifactToJson(a));
    o["artifacts"] = std::move(artifacts);
  }
  o["discoveredAt"] = discovered_at;
  return o;
}

Json DiscoveredGitJson(const std::vector<SubscriptionResult>& results) {
  Json git = Json::array();
  for (const auto& r : results) {
    if (r.artifact || r.image) continue;
    Json commits = Json::array();
    for (const auto& c : r.commits) commits.push_back(CommitJson(c));
    Json entry = {{"repoURL", r.repo_url}, {"commits", std::move(commits)}};
    if (!r.subscription_name.empty()) entry["subscriptionName"] = r.subscription_name;
    git.push_back(std::move(entry));
  }
  return git;
}

Json DiscoveredImagesJsonOf(const std::vector<SubscriptionResult>& results) {
  Json out = Json::array();
  for (const auto& r : results) {
    if (r.image)
      out.push_back(DiscoveredImagesJson(r.repo_url, r.platform, r.subscription_name, r.images));
  }
  return out;
}

Json DiscoveredResultsJson(const std::vector<SubscriptionResult>& results) {
  Json out = Json::array();
  for (const auto& r : results) {
    if (!r.artifact) continue;
    Json refs = Json::array();
    for (const auto& a : r.artifacts) refs.push_back(model::FreightArtifactToJson(a));
    out.push_back({{"name", r.subscription_name}, {"artifactReferences", std::move(refs)}});
  }
  return out;
}

WarehouseReconciler::WarehouseReconciler(store::Store& store, gitops::Sources& sources,
                                         const Clock& clock, EgressPolicy egress)
    : store_(store), sources_(sources), clock_(clock), egress_(std::move(egress)) {}

Result<SubscriptionResult> WarehouseReconciler::DiscoverImages(
    const std::string& ns, const model::WarehouseSubscription& sub) {
  const model::ImageSubscription& im = *sub.image;
  SubscriptionResult out;
  out.repo_url = im.repo_url;
  out.subscription_name = sub.name;
  out.image = true;
  out.platform = im.platform;
  STRAKE_TRY_ASSIGN(repo, images::ParseRepository(im.repo_url));
  STRAKE_TRY_ASSIGN(creds, ImageCredentials(store_, ns, im.repo_url));
  images::RegistryClient client(repo, std::move(creds), egress_, im.insecure_skip_tls_verify);
  std::vector<std::string> tags;
  if (im.image_selection_strategy != "Digest") {
    STRAKE_TRY_ASSIGN(listed, client.Tags());
    tags = std::move(listed);
  }
  STRAKE_TRY_ASSIGN(found, SelectImages(im, tags, [&](const std::string& tag) {
                      return client.ImageByTag(tag);
                    }));
  out.images = std::move(found);
  return out;
}

Result<int64_t> WarehouseReconciler::ArtifactRevision(const std::string& ns) {
  STRAKE_TRY_ASSIGN(heads, store_.ListHeads("Artifact", ns));
  int64_t newest = 0;
  for (const auto& h : heads) newest = std::max(newest, h.resource_version);
  return newest;
}

Result<SubscriptionResult> WarehouseReconciler::Discover(const std::string& ns,
                                                         const model::WarehouseSubscription& sub) {
  if (sub.image) return DiscoverImages(ns, sub);
  if (sub.artifact) {
    SubscriptionResult out;
    out.subscription_name = sub.name;
    out.artifact = true;
    STRAKE_TRY_ASSIGN(all, store_.List("Artifact", ns));
    out.artifacts = SelectArtifacts(*sub.artifact, sub.name, all);
    return out;
  }
  const model::GitSubscription& git = sub.git;
  SubscriptionResult out;
  out.repo_url = git.repo_url;
  out.subscription_name = sub.name;
  gitops::SourceState s = sources_.Get(git.repo_url, /*force=*/true);
  if (!s.error.empty() || !s.mirror) {
    return Failf("fetching {}: {}", RedactUrl(git.repo_url),
                 s.error.empty() ? "no mirror" : s.error);
  }
  const gitops::Mirror& m = *s.mirror;
  if (git.commit_selection_strategy == "NewestFromBranch") {
    // A branch, never a tag of that name (Kargo clones --branch).
    std::string rev = git.branch.empty() ? "HEAD" : "refs/heads/" + git.branch;
    auto tip = m.Resolve(rev);
    if (!tip) {
      return Failf("{}: branch {}: {}", RedactUrl(git.repo_url),
                   git.branch.empty() ? "HEAD" : git.branch, tip.error().message);
    }
    // Kargo pages through the branch until discoveryLimit commits pass the
    // filters or the history ends (`since`: until a commit older than it).
    bool paths = !git.include_paths.empty() || !git.exclude_paths.empty();
    std::optional<TimePoint> since = git.since.empty() ? std::nullopt : ParseRfc3339(git.since);
    STRAKE_TRY_ASSIGN(filters, Filters::Compile(git));
    Status failed = Ok();
    STRAKE_TRY(m.WalkFirstParent(*tip, paths, kPathLimit, [&](gitops::LogEntry& e) {
      if (since && e.commit.time_ms < UnixMillis(*since)) return false;
      auto more = TakeFromBranch(filters, git.branch, Candidate(e), out.commits);
      if (!more) failed = tl::unexpected(more.error());
      return more && *more;
    }));
    STRAKE_TRY(failed);
    return out;
  }
  STRAKE_TRY_ASSIGN(tags, m.Tags());
  std::vector<CandidateTag> candidates;
  for (const auto& t : tags) {
    STRAKE_TRY_ASSIGN(one, m.FirstParentLog(t.commit, 1));
    if (one.empty()) continue;
    candidates.push_back({t.name, Candidate(one.front()), t.tagger, t.annotation, t.created_ms});
  }
  STRAKE_TRY_ASSIGN(selected, SelectTags(git, std::move(candidates)));
  out.commits = std::move(selected);
  return out;
}

Result<bool> WarehouseReconciler::CreateFreight(model::Freight& f,
                                                const std::string& discovered_at) {
  STRAKE_TRY_ASSIGN(existing, store_.Get({"Freight", f.meta.ns, f.meta.name}));
  if (existing) return false;
  STRAKE_TRY_ASSIGN(all, store_.List("Freight", f.meta.ns));
  std::set<std::string> aliases;
  for (const auto& r : all) {
    auto a = r.labels.find(kAliasLabel);
    if (a != r.labels.end()) aliases.insert(a->second);
  }
  f.alias = FreightAlias(f.meta.name, [&](const std::string& a) { return aliases.count(a) > 0; });
  store::Resource r;
  r.key = {"Freight", f.meta.ns, f.meta.name};
  r.labels[kAliasLabel] = f.alias;
  r.object = FreightObject(f, discovered_at);
  r.status = Json::object();
  auto made = store_.Create(
      r, "FreightCreated",
      fmt::format("Freight {} ({}) from Warehouse {}", f.meta.name, f.alias, f.origin.name));
  if (!made) {
    // Made meanwhile by another pass: the same Freight, by its name.
    STRAKE_TRY_ASSIGN(again, store_.Get(r.key));
    if (again) return false;
    return tl::unexpected(made.error());
  }
  return true;
}

Result<controller::ReconcileResult> WarehouseReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Warehouse", ns, name}));
  if (!got) return controller::ReconcileResult{};
  auto decoded = model::DecodeObject(got->object, "warehouse " + name);
  if (!decoded) return controller::ReconcileResult{};  // refused at the API
  const auto& spec = std::get<model::Warehouse>(decoded->value).spec;
  const Json status = got->status.is_object() ? got->status : Json::object();
  const auto& annotations = std::get<model::Warehouse>(decoded->value).meta.annotations;
  auto refresh_it = annotations.find(kRefreshAnnotation);
  const std::string refresh = refresh_it == annotations.end() ? "" : refresh_it->second;
  const int64_t now_ms = UnixMillis(clock_.Now());
  controller::ReconcileResult result;
  int64_t due = DiscoveryDueInMs(status, got->generation, refresh, spec.interval.count(), now_ms);
  const bool artifact_subscriber =
      std::any_of(spec.subscriptions.begin(), spec.subscriptions.end(),
                  [](const model::WarehouseSubscription& s) { return s.artifact.has_value(); });
  int64_t artifact_revision = 0;
  if (artifact_subscriber) {
    STRAKE_TRY_ASSIGN(newest, ArtifactRevision(ns));
    artifact_revision = newest;
    const Json seen = status.value("discoveredArtifacts", Json::object());
    if (seen.value("artifactRevision", int64_t{0}) != newest) due = 0;
  }
  if (due > 0) {
    result.requeue_after = Millis(due);
    return result;
  }
  const std::string now = FormatRfc3339(clock_.Now());
  Json next = status;
  if (!refresh.empty()) next["lastHandledRefresh"] = refresh;
  Json conditions = next.value("conditions", Json::array());
  std::vector<SubscriptionResult> results;
  for (const auto& sub : spec.subscriptions) {
    auto found = Discover(ns, sub);
    if (!found) {
      SetCondition(conditions, "Healthy", false, "DiscoveryFailed", found.error().message, now,
                   got->generation);
      SetCondition(conditions, "Ready", false, "DiscoveryFailure", found.error().message, now,
                   got->generation);
      next["conditions"] = conditions;
      STRAKE_TRY(store_.UpdateStatus(got->key, next, got->resource_version, "DiscoveryFailed",
                                     found.error().message));
      result.requeue_after = Millis(std::min<int64_t>(kRetryMs, spec.interval.count()));
      return result;
    }
    results.push_back(std::move(*found));
  }
  // Observed only once discovered: a spec whose fetch fails is tried again
  // within seconds, not after the interval (Kargo's order too).
  next["observedGeneration"] = got->generation;
  next["discoveredArtifacts"] = {{"discoveredAt", now}, {"git", DiscoveredGitJson(results)}};
  if (Json images = DiscoveredImagesJsonOf(results); !images.empty())
    next["discoveredArtifacts"]["images"] = std::move(images);
  if (artifact_subscriber) {
    next["discoveredArtifacts"]["results"] = DiscoveredResultsJson(results);
    next["discoveredArtifacts"]["artifactRevision"] = artifact_revision;
  }
  DropCondition(conditions, "FreightCreated");  // Kargo: said again by this discovery, or not
  SetCondition(conditions, "Healthy", true, "ReconciliationSucceeded", "", now, got->generation);
  std::string reason = "ArtifactsDiscovered", message;
  auto freight = FreightFromResults(name, results);
  if (!freight) {
    auto empty = std::find_if(results.begin(), results.end(),
                              [](const SubscriptionResult& r) { return r.Empty(); });
    message = empty->artifact ? fmt::format("No artifacts discovered for subscription {}",
                                            Quote(empty->subscription_name))
              : empty->image  ? fmt::format("No images discovered for image repository {}",
                                            Quote(empty->repo_url))
                              : fmt::format("No commits discovered for Git repository {}",
                                            Quote(RedactUrl(empty->repo_url)));
    SetCondition(conditions, "Healthy", false, "NoCommitsDiscovered", message, now,
                 got->generation);
    SetCondition(conditions, "Ready", false, "MissingCommits", message, now, got->generation);
    reason = "MissingCommits";
  } else {
    SetCondition(conditions, "Ready", true, "ArtifactsDiscovered", "", now, got->generation);
    if (!spec.manual) {
      freight->meta.ns = ns;
      STRAKE_TRY_ASSIGN(made, CreateFreight(*freight, now));
      SetCondition(conditions, "FreightCreated", made, made ? "NewFreight" : "AlreadyExists",
                   made ? "Freight " + freight->meta.name + " created" : "", now, got->generation);
      next["lastFreightID"] = freight->meta.name;
      if (made) {
        reason = "FreightCreated";
        message = fmt::format("Freight {} ({})", freight->meta.name, freight->alias);
      }
    }
  }
  next["conditions"] = conditions;
  STRAKE_TRY(store_.UpdateStatus(got->key, next, got->resource_version, reason, message));
  result.requeue_after = spec.interval;
  return result;
}

}  // namespace strake::delivery
