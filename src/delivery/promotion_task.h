// Kargo's PromotionTasks inflated into a Promotion's steps
// (pkg/api/promotion.go InflateSteps at akuity/kargo 1c764767), when the
// Promotion is made:
//
//   - A step with `task` becomes the task's steps, each aliased
//     "<task step's alias>::<its own alias>" (a task step's alias is its
//     `as`, else "task-N"; a step's "step-N", N from 1 in its list); every
//     other step keeps its place with its alias made explicit.
//   - Each inflated step's vars: the task's defaults (those the Promotion's
//     vars do not set), then the task step's vars, then its own. A task var
//     with no default that neither the Promotion's vars nor the task step's
//     set is an error naming it.
//   - At run time, a step aliased "t::s" sees `task.outputs` as the outputs
//     of t's steps keyed by their own aliases, and what compose-output
//     writes in a task is also the output of `t` itself
//     (TaskOutputs, PropagatesToTask).
//
// Pure over a task lookup; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

inline constexpr const char* kTaskAliasSeparator = "::";

// The task `name` of `kind` ("PromotionTask" or "ClusterPromotionTask"), or
// nullopt when there is none.
using TaskLookup = std::function<Result<std::optional<model::PromotionTask>>(
    const std::string& kind, const std::string& name)>;

Result<std::vector<model::PromotionStepSpec>> InflateSteps(
    const std::vector<model::PromotionStepSpec>& steps,
    const std::vector<model::ExpressionVariable>& promotion_vars, const TaskLookup& lookup);

// A lookup of the tasks of namespace `ns` (and the ClusterPromotionTasks).
TaskLookup StoreTasks(store::Store& store, const std::string& ns);

// The task part of an inflated alias ("t" of "t::s"), "" when it has none.
std::string TaskOf(const std::string& alias);

// `task.outputs` for the step `alias`: the outputs (the Promotion's state)
// of its task's steps, keyed by their own aliases; nullopt when the step is
// not a task's.
std::optional<model::Json> TaskOutputs(const std::string& alias, const model::Json& state);

}  // namespace strake::delivery
