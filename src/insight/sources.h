// Where DORA's deployments come from: pure readings of the resources that
// record one (docs/dora.md, "Records"). No store, no clock, no I/O.
//
// - An Argo CD Application: each entry of status.history (a sync that
//   succeeded) is a deployment, "Application/ns/name#id", of its revision
//   (a commit of source.repoURL), finished at deployedAt — unless a Kargo
//   Stage drives it (annotation kargo.akuity.io/authorized-stage): then
//   the Stage's Promotions are its deployments, not counted twice.
// - A Kargo Promotion that Succeeded is a deployment, "Promotion/ns/name",
//   of its Freight into its Stage, finished at finishedAt; its commits are
//   the Freight's.
// - A Stage's verification that failed marks the deployment that brought
//   the verified Freight failed (the last of that Freight into the Stage
//   before the verification finished), found when it finished.
//
// - An Argo Rollout that no Application deploys (no tracking annotation):
//   each revision it completed (its stable revision becomes the one it
//   rolled out) is a deployment, "Rollout/ns/name@hash", finished at its
//   last progress; it brings no commit (a Rollout names an image, not a
//   commit). One an Application deploys is counted as that Application's
//   syncs; its canary aborted fails the sync that started it (the
//   Application's last deployment before the abort), found at the abort.
//
// The environment is the `strake.dev/environment` label of the Application,
// Stage or Rollout, else its name; the tier its `strake.dev/tier` label, else the
// tier GitLab would guess from the environment's name.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace strake::insight {

inline constexpr const char* kEnvironmentLabel = "strake.dev/environment";
inline constexpr const char* kTierLabel = "strake.dev/tier";
inline constexpr const char* kAuthorizedStageAnnotation = "kargo.akuity.io/authorized-stage";

// A resource's environment and tier, as above. A tier label that names no
// tier is an error naming the label and the tiers it takes.
struct Placement {
  std::string environment;
  std::string tier;
};
Result<Placement> PlacementOf(const store::Resource& r);

// A deployment as a resource records it, before its changes are known
// (record.changes empty; record.heads what it ran).
struct Observed {
  store::DeploymentRecord record;
  // A rollback (record.unplanned): it took its environment back to what
  // ran before the deployment `rolled_back` ("": to be found, the one
  // before it in its environment), which thereby failed, found when the
  // rollback started (started_ms).
  bool rollback = false;
  std::string rolled_back;
  int64_t started_ms = 0;
};

// The deployments an Application's status.history records. A sync to a
// revision an earlier entry ran, other than the one just before it, is a
// rollback of the entry just before it (Argo CD's `app rollback`, or a
// revert by hand).
Result<std::vector<Observed>> FromApplication(const store::Resource& app);

// The deployment a Succeeded Promotion made into `stage` (nullopt: the
// Promotion has not succeeded). One Kargo made to roll back
// (kargo.akuity.io/rollback: "true") is a rollback of what ran before it.
Result<std::optional<Observed>> FromPromotion(const store::Resource& promotion,
                                              const store::Resource& stage);

// Argo CD's tracking annotation on what an Application applied:
// "<app-namespace>_<app>:<group>/<kind>:<ns>/<name>".
inline constexpr const char* kTrackingAnnotation = "argocd.argoproj.io/tracking-id";

// The deployment a standalone Rollout's completed revision is (nullopt:
// none completed yet, or an Application deploys it).
Result<std::optional<Observed>> FromRollout(const store::Resource& rollout);

// A Rollout's canary aborted, with the Application that deployed it.
struct AbortedCanary {
  std::string revision;  // the aborted pod-template hash
  int64_t aborted_ms = 0;
  std::string message;
  std::string app_ns, app;  // "" when no Application deployed it
};
std::optional<AbortedCanary> AbortOf(const store::Resource& rollout);

// A verification of a Stage's Freight that failed: phase Failed (an Error,
// Inconclusive or Aborted one measured nothing against the deployment).
struct FailedVerification {
  std::string id;                    // the verification's id, unique
  std::vector<std::string> freight;  // the verified collection's Freight names
  int64_t finished_ms = 0;
  std::string message;
};
std::vector<FailedVerification> FailedVerifications(const store::Resource& stage);

}  // namespace strake::insight
