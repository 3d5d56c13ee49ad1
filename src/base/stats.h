// Order statistics on samples: pure functions on values, thread-compatible.
#pragma once

#include <vector>

namespace strake {

// Percentile by R's type 7 (NumPy's "linear", SQL's PERCENTILE_CONT),
// p in [0, 100]: the value at rank (n - 1) * p / 100 of the sorted sample,
// interpolated between its neighbours; NaN if empty. The median is p = 50.
double PercentileR7(std::vector<double> v, double p);

}  // namespace strake
