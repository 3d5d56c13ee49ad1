// Tekton's remote resolution (docs/resolution.md), for the two resolvers
// that need no service of their own: `git` (git-resolver.md: url,
// revision, pathInRepo; the repository is fetched into a mirror as
// Applications' are, file:// included) and `cluster` (cluster-resolver.md:
// kind, name, namespace; a Task, Pipeline or StepAction given in the same
// files or stored by strake). A step's `ref` may name a resolver too. Each reference is resolved
// once, before validation: the resolved Task or Pipeline joins the resources and the reference is
// rewritten to name it, so validation, the engine and the stored run see a
// plain taskRef or pipelineRef. A resolved Pipeline's own references are
// resolved too (at most kMaxResolveDepth deep).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/egress.h"
#include "base/result.h"
#include "model/resource.h"

namespace strake::gitops {

inline constexpr int kMaxResolveDepth = 5;

struct ResolverContext {
  std::string mirror_root;  // where git mirrors are kept
  EgressPolicy egress;
  std::chrono::milliseconds fetch_timeout{std::chrono::seconds(120)};
  // The cluster resolver's store: a stored Task or Pipeline, or nullopt.
  std::function<Result<std::optional<model::Resource>>(
      const std::string& kind, const std::string& ns, const std::string& name)>
      stored;
};

// True if any resource refers to a resolver.
bool HasResolverRefs(const std::vector<model::Resource>& resources);

// Resolves every resolver reference in `resources` (see above). An error
// names the reference (file:line:col and field path) and what failed.
Status ResolveRemoteRefs(std::vector<model::Resource>& resources, const ResolverContext& ctx);

}  // namespace strake::gitops
