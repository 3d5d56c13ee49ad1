// Identifiers: random UIDs (RFC 4122 v4 form) and short random suffixes for
// generated names, as Kubernetes' generateName does. Thread-safe.
#pragma once

#include <string>

namespace strake {

std::string NewUid();
// Five lower-case alphanumerics, Kubernetes' generateName alphabet.
std::string RandomSuffix(size_t n = 5);

}  // namespace strake
