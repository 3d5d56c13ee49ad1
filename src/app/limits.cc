#include "app/limits.h"

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"

namespace strake {

ResourceLimits OpenResourceLimits(const std::string& data_dir) {
  ResourceLimits out;
  auto opened = Cgroups::Open(Sha256Hex(RealPath(data_dir)).substr(0, 12));
  if (!opened) {
    out.unavailable = opened.error().message;
    Log(LogLevel::kWarn, "resources.limits (and steps' computeResources) are not applied: {}",
        out.unavailable);
    return out;
  }
  out.cgroups = std::move(*opened);
  out.cgroups->SweepEmpty();
  return out;
}

}  // namespace strake
