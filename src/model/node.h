// Node: a parsed YAML/JSON value that remembers where it came from.
//
// ParseYaml reads multi-document YAML (JSON is a subset) with libyaml and
// builds Nodes with 1-based line:col marks, so every later error can name the
// file, line, column and field. Limits are enforced while parsing, before
// memory is spent: input size, nesting depth, total nodes (alias expansion
// counted as copies, so an alias bomb fails fast with bounded memory) and the
// number of documents. Nodes are plain values; thread-safe once built.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace strake::model {

using Json = nlohmann::ordered_json;

struct Mark {
  int line = 0;  // 1-based; 0 when the node was not read from a file
  int col = 0;
};

struct MapEntry;

struct Node {
  enum class Kind { kNull, kScalar, kSeq, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;   // text of a scalar
  bool quoted = false;  // a quoted or block scalar is always a string
  Mark mark;
  std::vector<Node> seq;
  std::vector<MapEntry> map;  // in document order

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSeq() const { return kind == Kind::kSeq; }
  bool IsMap() const { return kind == Kind::kMap; }
  // The value at `key` of a mapping, or nullptr.
  const Node* Get(std::string_view key) const;
  // "mapping", "sequence", "string", "null"...: for error messages.
  std::string TypeName() const;
  // Number of nodes in this tree (for limits).
  size_t Count() const;
};

struct MapEntry {
  Node key;
  Node value;
};

struct Document {
  std::string file;
  Node root;
};

struct ParseLimits {
  size_t max_bytes = 8u << 20;   // 8 MiB per file
  size_t max_nodes = 2'000'000;  // after alias expansion
  size_t max_depth = 100;
  size_t max_documents = 1000;
  size_t max_alias_expansions = 10'000;
  size_t max_alias_nodes = 100'000;  // nodes copied by alias expansion, all told
};

// Parses every document of `text`; empty documents are skipped. Errors read
// "file:line:col: message".
Result<std::vector<Document>> ParseYaml(std::string_view text, const std::string& file,
                                        const ParseLimits& limits = {});
Result<std::vector<Document>> ParseYamlFile(const std::string& path,
                                            const ParseLimits& limits = {});

// "file:line:col" of `n`, the prefix of every error about it.
std::string PlaceOf(const std::string& file, const Node& n);

// The node a field path names ("spec.steps[0].uses", as errors spell
// them), or the deepest one on the way when the rest is not there (a
// field the server added); nullptr when not even the first key is there.
const Node* NodeAtPath(const Node& root, std::string_view path);

// Converts with YAML 1.2 core-schema typing of plain scalars (null, bools,
// integers, floats), as Kubernetes' YAML-to-JSON does.
Json ToJson(const Node& n);
// Block-style YAML of a JSON value (for people: -o yaml, diffs); strings
// that would read as another type or need escaping are quoted.
std::string ToYaml(const Json& j);
// The inverse, for documents read back from the store (marks are zero).
Node FromJson(const Json& j);

// A JSON object's string values (labels, annotations) as a map; other
// values and anything but an object give nothing.
std::map<std::string, std::string> StringMap(const Json& object);

}  // namespace strake::model
