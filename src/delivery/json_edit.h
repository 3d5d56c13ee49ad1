// Editing a JSON document in place, as Kargo's json-update does with
// tidwall/sjson (pkg/promotion/runner/builtin/json_updater.go at
// akuity/kargo 1c764767): the value at a key path is replaced in the text,
// and every other byte of the file stays as it was.
//
// Keys are Kargo's (pkg/sjson SplitKey): parts separated by dots, `\.` a
// literal dot, `\:` a literal colon, and a part that starts with `:` a key
// of an object even when it looks like a number ("labels.:1").
//
// SetJsonValue, as sjson.Set: a number part indexes a list; a key or index
// that is missing is made, with the objects and lists the rest of the path
// needs (an index past the end pads the list with nulls). A new member goes
// after the last one with the same spacing as it (sjson puts it before the
// closing brace), and what is made below it is compact, as sjson's.
// Refused where sjson would do something else: "-1" (sjson appends: a run
// again would append twice), gjson's query characters (| # @ * ?), and a
// path through a string, number, boolean or null (sjson replaces it with
// an object).
//
// Pure functions on values; thread-safe. Errors are sentences about the
// key, for the caller to prefix with the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/node.h"

namespace strake::delivery {

struct KeyPart {
  std::string name;
  bool forced_key = false;  // written ":name": an object's key, never an index
};

// Kargo's key syntax; errors as Kargo's ("empty key part in key ...").
Result<std::vector<KeyPart>> SplitKey(std::string_view key);

// "image.tag" again, for messages (dots in a part escaped).
std::string JoinKey(const std::vector<KeyPart>& path, size_t n);

// Whether `part` is a list index: digits only, not forced, below 10^9.
bool IsIndex(const KeyPart& part);

// `text` (a JSON document, or nothing but white space: then {}) with the
// value at `path` set to `value` (a string, number or boolean).
Result<std::string> SetJsonValue(std::string_view text, const std::vector<KeyPart>& path,
                                 const model::Json& value);

}  // namespace strake::delivery
