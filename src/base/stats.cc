#include "base/stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace strake {

// By selection, not sorting: linear in the sample (a lead-time median over
// millions of changes).
double PercentileR7(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  double h = (static_cast<double>(v.size()) - 1) * p / 100;
  auto lo = static_cast<size_t>(std::floor(h));
  auto at = v.begin() + static_cast<std::ptrdiff_t>(lo);
  std::nth_element(v.begin(), at, v.end());
  const double low = *at;
  if (lo + 1 >= v.size() || h == static_cast<double>(lo)) return low;
  // The next order statistic: the least of what nth_element left after it.
  const double high = *std::min_element(at + 1, v.end());
  return low + (h - static_cast<double>(lo)) * (high - low);
}

}  // namespace strake
