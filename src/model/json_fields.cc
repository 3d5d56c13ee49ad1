#include "model/json_fields.h"

namespace strake::model {

const Json& FieldOf(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string TextOf(const Json& j, const char* key) {
  const Json& v = FieldOf(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

}  // namespace strake::model
