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

// The "Gates:" part of `describe stage`, from the server's gate report of
// the Stage (GET …/stages/NAME/gates, delivery::GateReport): the Freight
// there, the promotion windows, a stopped line, the criteria and approval
// policies that select it, and what holds each of the newest Freight it
// may take.
std::string DescribeStageGates(const Json& report);

}  // namespace strake::cli
