// Identifiers: random UIDs (RFC 4122 v4 form), short random suffixes for
// generated names, as Kubernetes' generateName does, and ULIDs. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace strake {

std::string NewUid();
// Five lower-case alphanumerics, Kubernetes' generateName alphabet.
std::string RandomSuffix(size_t n = 5);
// A ULID (ulid/spec): 26 Crockford base32 characters, upper case, of a
// 48-bit time in milliseconds and 80 random bits; ULIDs of later
// milliseconds sort after earlier ones.
std::string NewUlid(int64_t unix_ms);
}  // namespace strake
