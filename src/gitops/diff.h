// Diff: desired (from git) against live (in the store), pure functions.
//
// An object is in sync when applying the desired one would change nothing:
// the apply is the same three-way merge the API does (model/merge.h), so
// fields that others set and git does not mention (a controller's defaults,
// an operator's annotation) are no difference, and a field git used to set
// and no longer does is one. Status, server-set metadata and strake's own
// bookkeeping annotations are never compared; ignoreDifferences' JSON
// pointers are removed from both sides first.
#pragma once

#include <string>
#include <vector>

#include "model/gitops.h"
#include "model/node.h"

namespace strake::gitops {

using model::Json;

// Argo CD's annotation tracking: "<app-namespace>_<app>:<group>/<kind>:<ns>/<name>".
inline constexpr const char* kTrackingId = "argocd.argoproj.io/tracking-id";
inline constexpr const char* kSyncWave = "argocd.argoproj.io/sync-wave";
inline constexpr const char* kHook = "argocd.argoproj.io/hook";
inline constexpr const char* kHookDeletePolicy = "argocd.argoproj.io/hook-delete-policy";
inline constexpr const char* kSyncOptions = "argocd.argoproj.io/sync-options";
inline constexpr const char* kCompareOptions = "argocd.argoproj.io/compare-options";

std::string AppInstance(const std::string& app_ns, const std::string& app);
std::string TrackingId(const std::string& instance, const Json& object);
// The group of an apiVersion: "apps/v1" -> "apps", "v1" -> "".
std::string GroupOf(const std::string& api_version);

// The pointers of `ignore` that apply to `object`.
std::vector<std::string> IgnoredPointers(const std::vector<model::IgnoreDifference>& ignore,
                                         const Json& object);

// The comparable form of an object.
Json Normalize(const Json& object, const std::vector<std::string>& ignored_pointers);

// RespectIgnoreDifferences: `desired` with what each of `pointers` points at
// in `live` put in its place (an object's member set or removed, an array's
// element replaced), so that a sync leaves ignored fields as they live. A
// pointer whose parent `desired` does not have, or an array index past its
// end, changes nothing.
Json KeepLiveValues(Json desired, const Json& live, const std::vector<std::string>& pointers);

// What an apply of `desired` onto `live` leaves (live may be null).
Json Predict(const Json& live, const Json& desired);

// True if applying `desired` would leave `live` as it is.
bool InSync(const Json& live, const Json& desired, const std::vector<std::string>& ignored);

}  // namespace strake::gitops
