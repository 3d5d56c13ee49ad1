// Tekton Chains' type hints (docs/slsa-provenance.md of tektoncd/chains):
// what a run's results say it built. The results `<X>IMAGE_URL` with
// `<X>IMAGE_DIGEST`, `<X>ARTIFACT_URI` with `<X>ARTIFACT_DIGEST`, `IMAGES`
// (url@digest, by commas or lines), and object results
// `<X>ARTIFACT_OUTPUTS` ({uri, digest}). A digest is "<algorithm>:<hex>"
// (sha256, sha384, sha512). A hint with no partner, or a digest that is
// not one, builds nothing and is said (Problems). Pure; read by the
// Artifact recorder (delivery/artifact.h) and by provenance's subjects
// (insight/provenance.h).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/core.h"

namespace strake::model {

// One thing a run says it built.
struct BuiltArtifact {
  std::string result;  // the hint's name without its suffix: "IMAGE", "WEB_IMAGE", "ARTIFACT"
  std::string type;    // "image" or "artifact"
  std::string uri;
  std::string digest;
};

struct TypeHints {
  std::vector<BuiltArtifact> artifacts;
  std::vector<std::string> problems;  // hints that build nothing, and why
};

// A run's status.results ([{name, value}]) by name, their values as
// strings where they are strings (trimmed: a step's `echo` ends its result
// with a newline).
std::map<std::string, Json> ResultsByName(const Json& results);

// What a run's status.results ([{name, value}]) say it built, in result
// order, each (uri, digest) once.
TypeHints ReadTypeHints(const Json& results);

// The name of the strake.dev/v1 Artifact recorded for what was built at
// `uri` with `digest`: the first 40 hex digits of sha256("<uri>@<digest>").
std::string ArtifactName(const std::string& uri, const std::string& digest);

// An Artifact's repository and tag, read from its uri as a registry
// reference is written ("reg:5000/web:v1" -> "reg:5000/web", "v1"; a
// "@digest" suffix dropped).
std::pair<std::string, std::string> ImageRepoAndTag(const std::string& uri);

}  // namespace strake::model
