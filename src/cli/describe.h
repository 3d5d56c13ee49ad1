// DescribeObject: `strake describe`'s screen for a kind with no screen of
// its own, as kubectl's generic describer prints a custom resource: Name,
// Namespace, Labels and Annotations, then each part of the object (Spec,
// Status, Data...) with its fields as indented "Field Name:  value" lines,
// camelCase names spelt as words, list items marked "-", the keys of a
// ConfigMap's or Secret's data (and of labels and selectors) as written.
// Pure.
#pragma once

#include <string>

#include "cli/client.h"

namespace strake::cli {

std::string DescribeObject(const Json& obj);

}  // namespace strake::cli
