// Reading fields of JSON that may not have them (objects read from the
// store, from a client, from another tool): a missing key, or a value that
// is not an object, reads as null, and a field that is not a string reads
// as "" — never an exception, as nlohmann's value() and at() throw on a
// value of another type. Pure.
#pragma once

#include <string>

#include "model/node.h"

namespace strake::model {

// j[key], or null when j is not an object or has no such key.
const Json& FieldOf(const Json& j, const char* key);
// j[key] when it is a string, else "".
std::string TextOf(const Json& j, const char* key);

}  // namespace strake::model
