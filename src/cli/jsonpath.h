// JsonPath: kubectl's `-o jsonpath=TEMPLATE`, as client-go's jsonpath
// package reads it (kubernetes.io/docs/reference/kubectl/jsonpath/).
//
// A template is text with expressions in braces: `{.metadata.name}`,
// `{.items[*].metadata.name}`, `{range .items[*]}{.metadata.name}{"\n"}{end}`.
// An expression starts at `$` (the document) or `.`/`[` (the current
// object: the document, or the element a `range` is at) and takes fields
// (`.name`, `['name']`), `*`, `..name` (recursive descent), indexes and
// slices (`[0]`, `[-1]`, `[1:3]`, `[::2]`), unions (`[0,2]`, `['a','b']`)
// and filters (`[?(@.type=="Ready")]` with == != < <= > >=, or `[?(@.x)]`
// for presence). An expression with several results prints them separated
// by spaces; strings print as they are, everything else as compact JSON.
// A missing key prints nothing, as `kubectl get -o jsonpath` does.
//
// Pure; a parsed template is immutable and may be executed many times.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::cli {

class JsonPath {
 public:
  using Json = nlohmann::ordered_json;
  struct Node;

  // The template, or an error naming what is wrong and where.
  static Result<JsonPath> Parse(std::string_view text);
  // The text the template makes of `doc`.
  std::string Execute(const Json& doc) const;

 private:
  std::shared_ptr<const std::vector<Node>> nodes_;
};

}  // namespace strake::cli
