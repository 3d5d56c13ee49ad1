// Tekton's artifacts (alpha, docs/artifacts.md): what a step consumed and
// produced, as provenance JSON it writes to $(step.artifacts.path) (or
// $(artifacts.path)): {"inputs": [{"name", "values": [{"uri", "digest"}]}],
// "outputs": [...]}. A later step reads one category's values as
// $(steps.<step>.inputs.<name>) or $(steps.<step>.outputs.<name>); a later
// task as $(tasks.<task>.inputs.<name>) or $(tasks.<task>.outputs.<name>).
// Each is substituted as the JSON text of the category's `values`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace strake::pipeline {

using Json = nlohmann::ordered_json;

// The file a step writes its artifacts to: <steps>/<container>/artifacts/provenance.json.
std::string StepArtifactsPath(const std::string& steps_dir, const std::string& container);

// Whether a text names a step's artifacts file ($(step.artifacts.path) or
// $(artifacts.path)).
bool WritesArtifacts(std::string_view text);

// The step (or task), direction ("inputs" or "outputs") and category a
// reference's base names: "steps.s.outputs.image" -> {"s", "outputs",
// "image"}; an empty `of` when it names none. `root` is "steps" or "tasks".
struct ArtifactRef {
  std::string of;
  std::string direction;
  std::string name;
};
ArtifactRef ArtifactNamed(std::string_view base, std::string_view root);

// One category's values, as JSON text, from provenance JSON; an error
// naming what is missing.
Result<std::string> ArtifactValues(const Json& provenance, const std::string& direction,
                                   const std::string& name);

// A TaskRun's artifacts: each step's provenance (null when it wrote none)
// merged in step order, categories of the same name joined. Null when no
// step wrote any.
Json MergeArtifacts(const std::vector<Json>& per_step);

}  // namespace strake::pipeline
