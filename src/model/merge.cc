#include "model/merge.h"

#include <fmt/format.h>

namespace strake::model {

Json MergePatch(Json target, const Json& patch) {
  target.merge_patch(patch);
  return target;
}

Result<Json> JsonPatch(const Json& target, const Json& patch) {
  if (!patch.is_array()) return Fail("a JSON patch is a list of operations");
  for (size_t i = 0; i < patch.size(); ++i) {
    const Json& op = patch[i];
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
        !op["path"].is_string()) {
      return Failf("[{}]: an operation needs \"op\" and \"path\" strings", i);
    }
  }
  // Operation by operation, so that an error names the one that failed.
  Json out = target;
  for (size_t i = 0; i < patch.size(); ++i) {
    try {
      out = out.patch(Json::array({patch[i]}));
    } catch (const nlohmann::json::exception& e) {
      std::string what = e.what();
      size_t bracket = what.find("] ");
      if (bracket != std::string::npos) what = what.substr(bracket + 2);
      return Failf("[{}] {} {}: {}", i, patch[i]["op"].get<std::string>(),
                   patch[i]["path"].get<std::string>(), what);
    }
  }
  return out;
}

namespace {

// Removes from `live` what `last` set and `applied` no longer does.
void RemoveDropped(Json& live, const Json& last, const Json& applied) {
  if (!live.is_object() || !last.is_object()) return;
  for (const auto& [key, was] : last.items()) {
    if (!live.contains(key)) continue;
    if (!applied.is_object() || !applied.contains(key)) {
      live.erase(key);
    } else if (was.is_object() && applied[key].is_object()) {
      RemoveDropped(live[key], was, applied[key]);
    }
  }
}

void SetApplied(Json& live, const Json& applied) {
  for (const auto& [key, value] : applied.items()) {
    if (value.is_object() && live.contains(key) && live[key].is_object()) {
      SetApplied(live[key], value);
    } else {
      live[key] = value;
    }
  }
}

}  // namespace

Json ThreeWayApply(const Json& live, const Json& last, const Json& applied) {
  Json out = live.is_object() ? live : Json::object();
  RemoveDropped(out, last, applied);
  if (applied.is_object()) SetApplied(out, applied);
  return out;
}

Json LastApplied(const Json& object) {
  if (!object.is_object() || !object.contains("metadata")) return nullptr;
  const Json& meta = object["metadata"];
  if (!meta.is_object() || !meta.contains("annotations") || !meta["annotations"].is_object())
    return nullptr;
  const Json& a = meta["annotations"];
  if (!a.contains(kLastApplied) || !a[kLastApplied].is_string()) return nullptr;
  Json j = Json::parse(a[kLastApplied].get<std::string>(), nullptr, false);
  return j.is_discarded() || !j.is_object() ? Json(nullptr) : j;
}

}  // namespace strake::model
