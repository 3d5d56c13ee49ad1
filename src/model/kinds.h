// The kinds strake knows, in one table: what the decoder accepts (apiVersion
// and kind), what the API serves (plural, namespaced) and the names the CLI
// takes (kind, plural, short names, as kubectl does). Adding a kind is a row
// here and a decoder in decode.cc; the API and the CLI follow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

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

  bool Accepts(std::string_view api_version) const;
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

}  // namespace strake::model
