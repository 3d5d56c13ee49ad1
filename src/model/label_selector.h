// Kubernetes label selectors in their string form, as `kubectl -l` and
// Argo CD Notifications' subscriptions write them: comma-separated
// requirements, all of which must hold — `key=value`, `key==value`,
// `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (exists) and
// `!key` (does not exist). A `!=` or `notin` holds for a label that is
// absent, as in Kubernetes. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::model {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;
};

// The requirements of `selector`; an error names the one that is not one.
Result<std::vector<LabelRequirement>> ParseLabelSelector(std::string_view selector);

bool LabelsMatch(const std::vector<LabelRequirement>& selector,
                 const std::map<std::string, std::string>& labels);

// Parses and matches; a selector that does not parse matches nothing.
bool LabelSelectorMatches(std::string_view selector,
                          const std::map<std::string, std::string>& labels);

}  // namespace strake::model
