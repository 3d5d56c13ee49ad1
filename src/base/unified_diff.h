// UnifiedDiff: the differences of two texts as `diff -u` prints them, for
// people reading what a sync or an apply would change. Pure.
#pragma once

#include <string>

namespace strake {

// A unified diff of two texts (3 lines of context, hunks 6 lines apart or
// closer joined, as GNU diff), "" if they are equal.
std::string UnifiedDiff(const std::string& from_name, const std::string& from,
                        const std::string& to_name, const std::string& to);

}  // namespace strake
