// Editing a YAML document in place, keeping every byte the edit does not
// need to change: comments, order, indentation and the quoting of other
// values. The document is read with libyaml's event API for the byte span
// of each node; the new text is spliced in, then read back to check that
// the edited document says what was asked and nothing else changed.
//
// - SetYamlValue, Kargo's yaml-update (pkg/yaml SetValuesInBytes at
//   akuity/kargo 1c764767): the scalar at a key path (json_edit.h's key
//   syntax; numbers index lists) of the first document takes a new value.
//   Only a key that exists can be set, as Kargo's. A string is written
//   plain when it reads back as the same string, else quoted, so "1.2"
//   stays a string and 1.2 a number; a value that was single- or
//   double-quoted keeps its quotes. Unlike Kargo's, which rewrites from
//   the value's column to the end of its line, a comment after the value
//   and the lines of a block scalar are kept or replaced whole. Refused: a
//   path through an alias, a target that is not a scalar, or one with an
//   anchor or a tag (the edit would change every alias of it).
// - SetKustomizeImages, Kargo's kustomize-set-image: the `images` of a
//   kustomization merged as Kargo's mergeImages does (an entry of the same
//   name is replaced; "*" keeps the entry's newName, newTag or digest;
//   entries sorted by name). Only the `images` block is rewritten, and in
//   it an entry that does not change keeps its lines (comments included);
//   the rest of the file is kept byte for byte. A kustomization with no
//   `images` gains one after the first document's last line.
//
// Pure functions on values; thread-safe. Errors are sentences about the
// key or the file, for the caller to prefix with the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "delivery/json_edit.h"
#include "model/node.h"

namespace strake::delivery {

// `text` with the scalar at `path` of its first document set to `value`
// (a string, number, boolean or null).
Result<std::string> SetYamlValue(std::string_view text, const std::vector<KeyPart>& path,
                                 const model::Json& value);

// One entry of a kustomization's `images` (kustomize's types.Image).
struct KustomizeImage {
  std::string name;
  std::string new_name;
  std::string new_tag;
  std::string digest;
  bool operator==(const KustomizeImage&) const = default;
};

// What SetKustomizeImages did: the new text and the entries it holds now.
struct KustomizeEdit {
  std::string text;
  std::vector<KustomizeImage> images;  // sorted by name
};

// `text`, a kustomization, with `targets` set in its `images`.
Result<KustomizeEdit> SetKustomizeImages(std::string_view text,
                                         const std::vector<KustomizeImage>& targets);

// How a value is written in YAML: plain when that reads back as the same
// string (and, in a flow collection, holds no flow indicator), else
// double-quoted; numbers, booleans and null as JSON writes them.
std::string YamlScalar(const model::Json& value, bool flow = false);

}  // namespace strake::delivery
