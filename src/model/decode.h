// Decoding of parsed documents into typed resources, with Tekton's defaults.
//
// Decoding is strict: an unknown field is an error (with a near-miss
// suggestion), a documented field that only matters on a cluster is
// accepted and reported once as ignored, and a documented field whose
// meaning strake does not implement is a "not supported" error. All problems
// of all documents are collected in one pass. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "model/diag.h"
#include "model/node.h"
#include "model/resource.h"

namespace strake::model {

// Decodes each document; problems go to diags (resources with errors are
// still returned, best effort, so that validation can go on).
std::vector<Resource> Decode(const std::vector<Document>& docs, Diagnostics& diags);
// The same, each document's diagnostics apart: per_document[i] for docs[i].
std::vector<Resource> DecodeEach(const std::vector<Document>& docs,
                                 std::vector<Diagnostics>& per_document);

// The files `-f` names, as kubectl reads them: a directory gives its
// .yaml, .yml and .json files in name order (its subdirectories' too when
// `recursive`), "-" stays "-" (standard input, read once); any other path
// is itself. An error when a directory holds none of those files.
Result<std::vector<std::string>> ExpandFileArgs(const std::vector<std::string>& args,
                                                bool recursive);

// Reads, parses and decodes files ("-": standard input, named "stdin" in
// errors); returns all resources or every error.
struct Loaded {
  std::vector<Resource> resources;
  std::vector<std::string> warnings;
};
Result<Loaded> LoadFiles(const std::vector<std::string>& files, const ParseLimits& limits = {});

// Decodes one object sent as JSON (an API request); errors name the field
// path, prefixed by `origin` (e.g. "rollout web").
Result<Resource> DecodeObject(const Json& object, const std::string& origin);

// True when files of `kind` can be read (every applied kind of model/kinds.h).
bool HasDecoder(std::string_view kind);

}  // namespace strake::model
