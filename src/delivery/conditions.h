// Kubernetes-style status conditions (metav1.Condition) as Kargo writes
// them: type, status "True"/"False", reason, message, observedGeneration,
// lastTransitionTime. Pure.
#pragma once

#include <cstdint>
#include <string>

#include "model/core.h"

namespace strake::delivery {

// Removes condition `type` from `conditions`.
void DropCondition(model::Json& conditions, const std::string& type);

// Sets condition `type` in `conditions` (a JSON array), keeping its
// lastTransitionTime when its status did not change.
void SetCondition(model::Json& conditions, const std::string& type, bool status,
                  const std::string& reason, const std::string& message, const std::string& now,
                  int64_t generation);

}  // namespace strake::delivery
