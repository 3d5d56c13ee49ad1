// The promotion steps strake runs itself (Kargo's built-in steps of the same
// names, pkg/promotion/runner/builtin at akuity/kargo 1c764767):
//
// - compose-output: its config, as its output.
// - fail: fails the Promotion ("failed[: message]"), at once.
// - argocd-update: moves strake's Applications (Argo CD's shape) to the
//   Freight: for each of `apps` (by name, or selector.matchLabels; in the
//   Promotion's namespace unless `namespace` says otherwise; each must
//   carry kargo.akuity.io/authorized-stage: "<project>:<stage>"), each
//   source update (matched by repoURL) sets targetRevision to
//   desiredRevision when updateTargetRevision is true, then a sync to the
//   desired revision starts, marked with the Promotion's name
//   (operation.info kargo.akuity.io/promotion). The step is Running until
//   that sync ends: Succeeded when it synced the desired revision, Errored
//   when the sync failed. Run again (a retry, a restart), it finds its own
//   sync and starts none. Another's sync in progress is waited for.
//   Default timeout 5 minutes, as Kargo's. kustomize and helm updates of a
//   source are refused (not supported yet).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "delivery/promotion.h"
#include "gitops/application.h"
#include "store/store.h"

namespace strake::delivery {

inline constexpr const char* kAuthorizedStageAnnotation = "kargo.akuity.io/authorized-stage";
inline constexpr const char* kPromotionInfoKey = "kargo.akuity.io/promotion";

// Starts a sync of the Application ns/name (gitops::ApplicationReconciler::Sync).
using SyncApplication = std::function<Result<Json>(const std::string& ns, const std::string& name,
                                                   const gitops::SyncRequest& req)>;

// The names AddBuiltinSteps adds, sorted.
const std::vector<std::string>& BuiltinStepNames();

// Adds compose-output, fail and argocd-update to `registry`.
void AddBuiltinSteps(StepRegistry& registry, store::Store& store, SyncApplication sync);

}  // namespace strake::delivery
