// Health of a live object, as Argo CD assesses it, and of a set of them.
// Pure.
#pragma once

#include <string>

#include "model/node.h"

namespace strake::gitops {

// In Argo CD's order of severity: a set is as healthy as its worst member.
enum class Health { kHealthy, kSuspended, kProgressing, kMissing, kDegraded, kUnknown };

const char* HealthName(Health h);
Health Worse(Health a, Health b);

// The health of a live object of `kind` from its status and generation.
Health HealthOf(const std::string& kind, const model::Json& status, int64_t generation,
                std::string* message = nullptr);
// The same, with the object's spec at hand (`object`, as stored): a Pod's
// health depends on its restartPolicy, as in Argo CD.
Health ObjectHealth(const std::string& kind, const model::Json& object, const model::Json& status,
                    int64_t generation, std::string* message = nullptr);

}  // namespace strake::gitops
