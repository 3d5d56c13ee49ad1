// Argo Rollouts' step plugins as its controller's configuration names
// them: the argo-rollouts-config ConfigMap's `stepPlugins` list, read from
// the Rollout's namespace, else from Argo's own. strake reads the list to
// pass a disabled plugin's step as Argo does; it does not load the plugins
// (RPC binaries), so an enabled one holds its step saying so (canary.cc).
#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace strake::rollout {

inline constexpr const char* kRolloutsConfigMap = "argo-rollouts-config";
inline constexpr const char* kRolloutsConfigNamespace = "argo-rollouts";

// A step plugin as the `stepPlugins` list names it.
struct StepPluginConfig {
  std::string location;
  bool disabled = false;
};

// The step plugins of a `stepPlugins` value (a YAML list of {name,
// location, disabled, args, sha256}), by name.
Result<std::map<std::string, StepPluginConfig>> ParseStepPlugins(const std::string& yaml);

}  // namespace strake::rollout
