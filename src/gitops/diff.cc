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

namespace {

// What `pointer` points at in `object` (null: nothing, or not a pointer).
const Json* At(const Json& object, const std::string& pointer) {
  try {
    Json::json_pointer p(pointer);
    return object.contains(p) ? &object.at(p) : nullptr;
  } catch (const std::exception&) {
    return nullptr;
  }
}

// Sets what `pointer` points at in `object` to `*value`, or removes it when
// `value` is null: only where its parent exists (an object, or an array
// the index is within). False when nothing changed.
bool SetAt(Json& object, const std::string& pointer, const Json* value) {
  try {
    Json::json_pointer p(pointer);
    if (p.empty() || !object.contains(p.parent_pointer())) return false;
    Json& parent = object.at(p.parent_pointer());
    if (parent.is_object()) {
      if (value) {
        parent[p.back()] = *value;
      } else {
        parent.erase(p.back());
      }
      return true;
    }
    if (!parent.is_array()) return false;
    size_t index = std::stoul(p.back());
    if (index >= parent.size()) return false;
    if (value) {
      parent[index] = *value;
    } else {
      parent.erase(index);
    }
    return true;
  } catch (const std::exception&) {
    return false;  // a pointer that does not fit this object's shape
  }
}

}  // namespace

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
  for (const auto& p : ignored_pointers) (void)SetAt(out, p, nullptr);
  return out;
}

Json KeepLiveValues(Json desired, const Json& live, const std::vector<std::string>& pointers) {
  for (const auto& p : pointers) {
    const Json* value = At(live, p);
    (void)SetAt(desired, p, value);
  }
  return desired;
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
