// The kinds strake knows, in one table: what the decoder accepts (apiVersion
// and kind), what the API serves (plural, namespaced) and the names the CLI
// takes (kind, plural, short names, as kubectl does). Adding a kind is a row
// here and a decoder in decode.cc; the API and the CLI follow.
//
// And the custom kinds, as a cluster's discovery serves them: those the
// stored CustomResourceDefinitions define (SetCustomKinds, by the server
// when one changes). Their objects are stored, diffed and pruned as written;
// nothing here acts on them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/node.h"

namespace strake::model {

struct KindInfo {
  std::string kind;                         // "PipelineRun"
  std::string plural;                       // "pipelineruns": the API's path segment
  std::string api_version;                  // the version served and stored: "tekton.dev/v1"
  std::vector<std::string> older_versions;  // also read from files: "tekton.dev/v1beta1"
  std::vector<std::string> short_names;     // "pr"
  bool namespaced = true;
  bool served = true;   // by the API (a PersistentVolumeClaim is only read from files)
  bool applied = true;  // read from files (a RolloutRevision is written by strake only)
  bool custom = false;  // defined by a CustomResourceDefinition

  bool Accepts(std::string_view api_version) const;
  bool operator==(const KindInfo&) const = default;
};

const std::vector<KindInfo>& Kinds();
// The kind with this plural; nullptr if none.
const KindInfo* KindByPlural(std::string_view plural);
// By kind, plural, singular or short name, any case ("Rollout", "rollouts",
// "rollout", "ro"); nullptr if none.
const KindInfo* KindByName(std::string_view name);
// The kind `kind` of `api_version` (any version it accepts); nullptr if none.
const KindInfo* KindOf(std::string_view api_version, std::string_view kind);
// Every name KindByName takes, for a did-you-mean.
std::vector<std::string> KindNames();

// Whether a CRD may define `k`: objects are kept by kind name, so not a
// kind or plural of a built-in kind, in any group (Knative's Service).
bool CustomKindAllowed(const KindInfo& k);
// The custom kinds are `kinds` from now on (those CustomKindAllowed refuses,
// and a kind or plural an earlier one took, are left out). KindOf, KindByName
// and KindByPlural find them after the built-in kinds; pointers to them stay
// valid for the life of the process. Thread-safe.
void SetCustomKinds(const std::vector<KindInfo>& kinds);
// The custom kind served at /apis/API_VERSION/SEGMENT: SEGMENT its plural or
// its lower-case kind (what a client that has no discovery sends).
const KindInfo* CustomKindAt(std::string_view api_version, std::string_view segment);
// The kind a CustomResourceDefinition object (apiextensions.k8s.io/v1, or
// v1beta1's `version`) defines: its storage version served, its other served
// versions read; nullopt when it names no group, kind or plural.
std::optional<KindInfo> KindFromCrd(const Json& crd);
// Whether the group of `api_version` is one a built-in kind belongs to
// ("v1": the core group): a kind there that strake does not know is a
// mistake, while one of another group is a custom resource.
bool BuiltInGroup(std::string_view api_version);

}  // namespace strake::model
