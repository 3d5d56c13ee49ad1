// WarehouseReconciler: Kargo's Warehouse controller
// (pkg/controller/warehouses/warehouses.go at akuity/kargo 1c764767) on
// strake's git mirrors and OCI registries. Each pass that is due (nothing
// discovered yet, the spec changed, a refresh asked for with the
// kargo.akuity.io/refresh annotation, or `interval` since the last
// discovery) fetches every subscription's repository, selects its commits
// (delivery/discovery.h) or images (delivery/image_discovery.h),
// records them in status.discoveredArtifacts, and, unless
// freightCreationPolicy is Manual, makes Freight from the newest of each:
// named by its fingerprint (delivery/freight.h), so a pass repeated after a
// crash makes nothing twice. A subscription that finds nothing leaves the
// Warehouse not Ready (MissingCommits) and makes no Freight; a fetch that
// fails leaves it Healthy=False (DiscoveryFailed) and tries again within
// 15 seconds. Every status change is a store event.
//
// Reconcile is safe to call from several threads for different keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/egress.h"
#include "base/result.h"
#include "controller/controller.h"
#include "delivery/conditions.h"
#include "delivery/discovery.h"
#include "delivery/image_discovery.h"
#include "gitops/sources.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

inline constexpr const char* kRefreshAnnotation = "kargo.akuity.io/refresh";
inline constexpr const char* kAliasLabel = "kargo.akuity.io/alias";

// What a subscription discovered: commits (git), images, or strake's
// Artifacts.
struct SubscriptionResult {
  std::string repo_url;
  std::string subscription_name;
  std::vector<DiscoveredCommit> commits;
  bool artifact = false;  // an artifact subscription: `artifacts`, not `commits`
  std::vector<model::FreightArtifact> artifacts;
  bool image = false;  // an image subscription: `images`, not `commits`
  std::string platform;
  std::vector<DiscoveredImage> images;
  bool Empty() const {
    return artifact ? artifacts.empty() : image ? images.empty() : commits.empty();
  }
};

// The Artifacts (strake.dev/v1, delivery/artifact.h) an artifact
// subscription selects, newest first (by when their run finished, then
// when they were recorded), at most its discoveryLimit, as the Freight
// references them: type, subscription, version (the digest) and metadata
// (artifact, uri, digest, result, pipelineRun, and the commit it was built from).
std::vector<model::FreightArtifact> SelectArtifacts(const model::ArtifactSubscription& sub,
                                                    const std::string& subscription_name,
                                                    const std::vector<store::Resource>& artifacts);

// When the next discovery is due, from the stored status: 0 = now.
int64_t DiscoveryDueInMs(const Json& status, int64_t generation, const std::string& refresh,
                         int64_t interval_ms, int64_t now_ms);

// The Freight made from the first commit of each result (nullopt when a
// result has none), as Kargo's buildFreightFromLatestArtifacts.
std::optional<model::Freight> FreightFromResults(const std::string& warehouse,
                                                 const std::vector<SubscriptionResult>& results);

// The Freight object the store keeps: Kargo's fields beside metadata.
Json FreightObject(const model::Freight& f, const std::string& discovered_at);

// status.discoveredArtifacts.images, as Kargo writes it.
Json DiscoveredImagesJsonOf(const std::vector<SubscriptionResult>& results);
// status.discoveredArtifacts.git, as Kargo writes it.
Json DiscoveredGitJson(const std::vector<SubscriptionResult>& results);
// status.discoveredArtifacts.results (Kargo's generic DiscoveryResults):
// [{name, artifactReferences}] of the artifact subscriptions.
Json DiscoveredResultsJson(const std::vector<SubscriptionResult>& results);

class WarehouseReconciler {
 public:
  // `egress` bounds the image registries it reads (base/egress.h).
  WarehouseReconciler(store::Store& store, gitops::Sources& sources, const Clock& clock,
                      EgressPolicy egress = {});

  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  Result<SubscriptionResult> Discover(const std::string& ns,
                                      const model::WarehouseSubscription& sub);
  // The newest Artifact's revision in `ns` (0: none): a Warehouse with an
  // artifact subscription discovers again, whatever its interval, once it
  // differs from what its last discovery saw (status.discoveredArtifacts.
  // artifactRevision), so a new Artifact becomes Freight at once.
  Result<int64_t> ArtifactRevision(const std::string& ns);
  // Makes `f` unless it exists; returns whether it was made.
  Result<bool> CreateFreight(model::Freight& f, const std::string& discovered_at);

  Result<SubscriptionResult> DiscoverImages(const std::string& ns,
                                            const model::WarehouseSubscription& sub);

  store::Store& store_;
  gitops::Sources& sources_;
  const Clock& clock_;
  EgressPolicy egress_;
};

}  // namespace strake::delivery
