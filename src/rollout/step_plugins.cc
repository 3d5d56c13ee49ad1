#include "rollout/step_plugins.h"

#include <fmt/format.h>

#include "model/node.h"

namespace strake::rollout {

using Json = nlohmann::ordered_json;

Result<std::map<std::string, StepPluginConfig>> ParseStepPlugins(const std::string& yaml) {
  std::map<std::string, StepPluginConfig> plugins;
  auto docs = model::ParseYaml(yaml, "stepPlugins");
  if (!docs) return tl::unexpected(docs.error());
  if (docs->empty()) return plugins;
  Json list = model::ToJson(docs->front().root);
  if (list.is_null()) return plugins;
  if (!list.is_array()) return Fail("stepPlugins: not a list");
  for (const auto& p : list) {
    if (!p.is_object() || !p.contains("name") || !p["name"].is_string())
      return Fail("stepPlugins: an entry without a name");
    if (p.contains("disabled") && !p["disabled"].is_boolean())
      return Failf("stepPlugins: {}: disabled is not a boolean", p["name"].get<std::string>());
    plugins[p["name"].get<std::string>()] = {
        p.contains("location") && p["location"].is_string() ? p["location"].get<std::string>() : "",
        p.value("disabled", false)};
  }
  return plugins;
}

}  // namespace strake::rollout
