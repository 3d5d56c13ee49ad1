#include "model/tekton.h"

namespace strake::model {

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "string";
    case ParamType::kArray:
      return "array";
    case ParamType::kObject:
      return "object";
  }
  return "?";
}

Json ParamValue::ToJson() const {
  switch (type) {
    case ParamType::kString:
      return str;
    case ParamType::kArray:
      return arr;
    case ParamType::kObject: {
      Json o = Json::object();
      for (const auto& [k, v] : obj) o[k] = v;
      return o;
    }
  }
  return nullptr;
}

ParamValue ParamValue::FromJson(const Json& j) {
  ParamValue v;
  if (j.is_array()) {
    v.type = ParamType::kArray;
    for (const auto& e : j) v.arr.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  } else if (j.is_object()) {
    v.type = ParamType::kObject;
    for (const auto& [k, e] : j.items()) v.obj[k] = e.is_string() ? e.get<std::string>() : e.dump();
  } else {
    v.str = j.is_string() ? j.get<std::string>() : j.dump();
  }
  return v;
}

}  // namespace strake::model
