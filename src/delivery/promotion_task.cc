#include "delivery/promotion_task.h"

#include <fmt/format.h>

#include <set>

#include "base/strings.h"
#include "delivery/steps.h"
#include "model/decode.h"

namespace strake::delivery {
namespace {

using model::ExpressionVariable;
using model::Json;

// Kargo's promotionTaskVarsToStepVars.
Result<std::vector<ExpressionVariable>> TaskVars(const std::vector<ExpressionVariable>& task_vars,
                                                 const std::vector<ExpressionVariable>& promo_vars,
                                                 const std::vector<ExpressionVariable>& step_vars) {
  std::set<std::string> set_by_promotion, set_by_step;
  for (const auto& v : promo_vars) {
    if (!v.value.empty()) set_by_promotion.insert(v.name);
  }
  for (const auto& v : step_vars) {
    if (!v.value.empty()) set_by_step.insert(v.name);
  }
  std::vector<ExpressionVariable> out;
  for (const auto& v : task_vars) {
    if (set_by_promotion.count(v.name)) continue;
    if (!v.value.empty()) {
      out.push_back(v);
      continue;
    }
    if (!set_by_step.count(v.name)) return Failf("missing value for variable {}", Quote(v.name));
  }
  out.insert(out.end(), step_vars.begin(), step_vars.end());
  return out;
}

}  // namespace

Result<std::vector<model::PromotionStepSpec>> InflateSteps(
    const std::vector<model::PromotionStepSpec>& steps,
    const std::vector<model::ExpressionVariable>& promotion_vars, const TaskLookup& lookup) {
  std::vector<model::PromotionStepSpec> out;
  out.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    model::PromotionStepSpec step = steps[i];
    const bool is_task = !step.task_name.empty();
    step.as = step.as.empty() ? DefaultAlias(i, is_task) : step.as;
    if (!is_task) {
      out.push_back(std::move(step));
      continue;
    }
    auto fail = [&](const std::string& why) {
      return Failf("inflate task steps for task {} ({}): {}", Quote(step.task_name), Quote(step.as),
                   why);
    };
    auto task = lookup(step.task_kind.empty() ? "PromotionTask" : step.task_kind, step.task_name);
    if (!task) return fail(task.error().message);
    if (!*task) {
      return fail(fmt::format("{} {} not found",
                              step.task_kind.empty() ? "PromotionTask" : step.task_kind,
                              Quote(step.task_name)));
    }
    auto vars = TaskVars((*task)->vars, promotion_vars, step.vars);
    if (!vars) return fail(vars.error().message);
    for (size_t j = 0; j < (*task)->steps.size(); ++j) {
      model::PromotionStepSpec inner = (*task)->steps[j];
      inner.as =
          step.as + kTaskAliasSeparator + (inner.as.empty() ? DefaultAlias(j, false) : inner.as);
      std::vector<ExpressionVariable> merged = *vars;
      merged.insert(merged.end(), inner.vars.begin(), inner.vars.end());
      inner.vars = std::move(merged);
      out.push_back(std::move(inner));
    }
  }
  return out;
}

TaskLookup StoreTasks(store::Store& store, const std::string& ns) {
  return [&store, ns](const std::string& kind,
                      const std::string& name) -> Result<std::optional<model::PromotionTask>> {
    STRAKE_TRY_ASSIGN(got, store.Get({kind, kind == "ClusterPromotionTask" ? "" : ns, name}));
    if (!got) return std::optional<model::PromotionTask>();
    auto decoded = model::DecodeObject(got->object, fmt::format("{} {}", ToLower(kind), name));
    if (!decoded) return tl::unexpected(decoded.error());
    return std::optional<model::PromotionTask>(std::get<model::PromotionTask>(decoded->value));
  };
}

std::string TaskOf(const std::string& alias) {
  auto at = alias.find(kTaskAliasSeparator);
  if (at == std::string::npos || alias.find(kTaskAliasSeparator, at + 2) != std::string::npos)
    return "";
  return alias.substr(0, at);
}

std::optional<Json> TaskOutputs(const std::string& alias, const Json& state) {
  const std::string task = TaskOf(alias);
  if (task.empty()) return std::nullopt;
  Json out = Json::object();
  if (!state.is_object()) return out;
  for (const auto& [k, v] : state.items()) {
    if (TaskOf(k) == task) out[k.substr(task.size() + 2)] = v;
  }
  return out;
}

}  // namespace strake::delivery
