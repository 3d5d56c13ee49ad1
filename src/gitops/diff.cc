#include "gitops/diff.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"
#include "model/merge.h"

namespace strake::gitops {

std::string AppInstance(const std::string& app_ns, const std::string& app) {
  return app_ns + "_" + app;
}

std::string GroupOf(const std::string& api_version) {
  auto slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

std::string TrackingId(const std::string& instance, const Json& object) {
  const Json& meta = object.value("metadata", Json::object());
  return fmt::format("{}:{}/{}:{}/{}", instance, GroupOf(object.value("apiVersion", "")),
                     object.value("kind", ""), meta.value("namespace", ""), meta.value("name", ""));
}

std::vector<std::string> IgnoredPointers(const std::vector<model::IgnoreDifference>& ignore,
                                         const Json& object) {
  std::vector<std::string> out;
  const Json& meta = object.value("metadata", Json::object());
  for (const auto& d : ignore) {
    if (d.kind != object.value("kind", "")) continue;
    if (d.group != GroupOf(object.value("apiVersion", ""))) continue;
    if (!d.name.empty() && d.name != meta.value("name", "")) continue;
    if (!d.ns.empty() && d.ns != meta.value("namespace", "")) continue;
    out.insert(out.end(), d.json_pointers.begin(), d.json_pointers.end());
  }
  return out;
}

Json Normalize(const Json& object, const std::vector<std::string>& ignored_pointers) {
  if (!object.is_object()) return object;
  Json out = object;
  out.erase("status");
  if (out.contains("metadata") && out["metadata"].is_object()) {
    Json& meta = out["metadata"];
    for (const char* f : {"uid", "resourceVersion", "generation", "creationTimestamp",
                          "managedFields", "selfLink"}) {
      meta.erase(f);
    }
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      meta["annotations"].erase(model::kLastApplied);
      meta["annotations"].erase(kTrackingId);
      if (meta["annotations"].empty()) meta.erase("annotations");
    }
    if (meta.contains("labels") && meta["labels"].is_object() && meta["labels"].empty())
      meta.erase("labels");
  }
  for (const auto& p : ignored_pointers) {
    try {
      Json::json_pointer ptr(p);
      if (!out.contains(ptr)) continue;
      Json& parent = out.at(ptr.parent_pointer());
      if (parent.is_object()) {
        parent.erase(ptr.back());
      } else if (parent.is_array()) {
        parent.erase(static_cast<size_t>(std::stoul(ptr.back())));
      }
    } catch (const std::exception&) {
      // A pointer that does not fit this object's shape ignores nothing.
    }
  }
  return out;
}

Json Predict(const Json& live, const Json& desired) {
  Json applied = desired;
  applied.erase("status");
  if (live.is_null()) return applied;
  Json base = live;
  base.erase("status");
  return model::ThreeWayApply(base, model::LastApplied(live), applied);
}

bool InSync(const Json& live, const Json& desired, const std::vector<std::string>& ignored) {
  if (live.is_null()) return false;
  return Normalize(Predict(live, desired), ignored) == Normalize(live, ignored);
}

}  // namespace strake::gitops
