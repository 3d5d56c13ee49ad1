// The work-queue keys of insight's controllers (the DORA recorder, the
// provenance recorder), which watch several kinds: "Kind/namespace/name".
#pragma once

#include <string>

#include "base/result.h"
#include "store/store.h"

namespace strake::insight {

inline std::string KindKey(const store::Key& key) {
  return key.kind + "/" + key.ns + "/" + key.name;
}

// The store key of a KindKey; `who` names the controller in the error.
inline Result<store::Key> ParseKindKey(const std::string& key, const char* who) {
  const auto first = key.find('/');
  const auto second = first == std::string::npos ? first : key.find('/', first + 1);
  if (second == std::string::npos) return Failf(ErrorCode::kInvalid, "{}: bad key {}", who, key);
  return store::Key{key.substr(0, first), key.substr(first + 1, second - first - 1),
                    key.substr(second + 1)};
}

}  // namespace strake::insight
