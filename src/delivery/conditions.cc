#include "delivery/conditions.h"

#include <utility>

namespace strake::delivery {

using model::Json;

void DropCondition(Json& conditions, const std::string& type) {
  if (!conditions.is_array()) return;
  Json kept = Json::array();
  for (auto& c : conditions)
    if (!c.is_object() || c.value("type", "") != type) kept.push_back(std::move(c));
  conditions = std::move(kept);
}

void SetCondition(Json& conditions, const std::string& type, bool status, const std::string& reason,
                  const std::string& message, const std::string& now, int64_t generation) {
  if (!conditions.is_array()) conditions = Json::array();
  const std::string value = status ? "True" : "False";
  Json c = {{"type", type},
            {"status", value},
            {"reason", reason},
            {"message", message},
            {"observedGeneration", generation},
            {"lastTransitionTime", now}};
  for (auto& existing : conditions) {
    if (existing.value("type", "") != type) continue;
    if (existing.value("status", "") == value)
      c["lastTransitionTime"] = existing.value("lastTransitionTime", now);
    existing = std::move(c);
    return;
  }
  conditions.push_back(std::move(c));
}

}  // namespace strake::delivery
