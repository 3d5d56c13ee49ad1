// The cgroups containers' resource limits go in (base/cgroup.h), one tree
// per data directory, for steps, replicas and Jobs alike.
#pragma once

#include <memory>
#include <string>

#include "base/cgroup.h"

namespace strake {

struct ResourceLimits {
  std::unique_ptr<Cgroups> cgroups;  // null: limits are not applied here
  std::string unavailable;           // why not
};

// Opens them for `data_dir` (what an earlier process left empty swept);
// where this machine offers none, says why, logged once as a warning.
ResourceLimits OpenResourceLimits(const std::string& data_dir);

}  // namespace strake
