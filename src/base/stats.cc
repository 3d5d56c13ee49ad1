#include "base/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace strake {

double PercentileR7(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  double h = (static_cast<double>(v.size()) - 1) * p / 100;
  auto lo = static_cast<size_t>(std::floor(h));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace strake
