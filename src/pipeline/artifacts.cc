#include "pipeline/artifacts.h"

#include "base/fs.h"
#include "base/strings.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

std::string StepArtifactsPath(const std::string& steps_dir, const std::string& container) {
  return PathJoin(steps_dir, container + "/artifacts/provenance.json");
}

bool WritesArtifacts(std::string_view text) {
  for (const auto& ref : FindReferences(text)) {
    if (ref.base == "step.artifacts.path" || ref.base == "artifacts.path") return true;
  }
  return false;
}

ArtifactRef ArtifactNamed(std::string_view base, std::string_view root) {
  auto parts = Split(base, '.');
  if (parts.size() != 4 || parts[0] != root) return {};
  if (parts[2] != "inputs" && parts[2] != "outputs") return {};
  return {parts[1], parts[2], parts[3]};
}

Result<std::string> ArtifactValues(const Json& provenance, const std::string& direction,
                                   const std::string& name) {
  if (provenance.is_object()) {
    for (const auto& category : provenance.value(direction, Json::array())) {
      if (category.is_object() && category.value("name", "") == name) {
        return category.value("values", Json::array()).dump();
      }
    }
  }
  return Failf("no {} artifact \"{}\"", direction == "inputs" ? "input" : "output", name);
}

Json MergeArtifacts(const std::vector<Json>& per_step) {
  Json out;
  for (const auto& p : per_step) {
    if (!p.is_object()) continue;
    for (const char* direction : {"inputs", "outputs"}) {
      for (const auto& category : p.value(direction, Json::array())) {
        if (!category.is_object()) continue;
        if (out.is_null()) out = Json::object();
        Json& list = out[direction];
        if (list.is_null()) list = Json::array();
        auto same = std::find_if(list.begin(), list.end(), [&](const Json& c) {
          return c.value("name", "") == category.value("name", "");
        });
        if (same == list.end()) {
          list.push_back(category);
        } else {
          for (const auto& v : category.value("values", Json::array()))
            (*same)["values"].push_back(v);
        }
      }
    }
  }
  return out;
}

}  // namespace strake::pipeline
