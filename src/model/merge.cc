#include "model/merge.h"

#include <fmt/format.h>

#include <cstdint>
#include <vector>

namespace strake::model {

size_t ApproxJsonSize(const Json& j) {
  // Iterative: a deep document must not overflow the stack here.
  size_t size = 0;
  std::vector<const Json*> todo{&j};
  while (!todo.empty()) {
    const Json* v = todo.back();
    todo.pop_back();
    switch (v->type()) {
      case Json::value_t::object:
        size += 2 + (v->empty() ? 0 : v->size() - 1);  // braces, commas
        for (const auto& [key, value] : v->items()) {
          size += key.size() + 3;  // quotes, colon
          todo.push_back(&value);
        }
        break;
      case Json::value_t::array:
        size += 2 + (v->empty() ? 0 : v->size() - 1);
        for (const auto& e : *v) todo.push_back(&e);
        break;
      case Json::value_t::string:
        size += v->get_ref<const std::string&>().size() + 2;
        break;
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
        size += v->is_number_unsigned() ? fmt::formatted_size("{}", v->get<uint64_t>())
                                        : fmt::formatted_size("{}", v->get<int64_t>());
        break;
      case Json::value_t::number_float:
        size += 24;  // the longest round-trip double
        break;
      case Json::value_t::boolean:
        size += v->get<bool>() ? 4 : 5;
        break;
      default:
        size += 4;  // null
        break;
    }
  }
  return size;
}

Status CheckObjectSize(const Json& j, std::string_view what) {
  size_t size = ApproxJsonSize(j);
  if (size <= kMaxObjectBytes) return Ok();
  return Failf(ErrorCode::kTooLarge, "{} is about {} bytes, over the limit of {} bytes", what, size,
               kMaxObjectBytes);
}

Json MergePatch(Json target, const Json& patch) {
  target.merge_patch(patch);
  return target;
}

namespace {

// The change in ApproxJsonSize(doc) that `op` makes, from the sizes of the
// values it adds and removes: as cheap as the operation itself.
int64_t SizeDelta(const Json& doc, const Json& op) {
  using Ptr = Json::json_pointer;
  const std::string& name = op["op"].get_ref<const std::string&>();
  Ptr path(op["path"].get<std::string>());
  auto size_of = [](const Json& v) { return static_cast<int64_t>(ApproxJsonSize(v)); };
  auto size_at = [&](const Ptr& p) { return doc.contains(p) ? size_of(doc.at(p)) : 0; };
  // A member added to an object costs its key, quotes, colon and comma;
  // the key is at most as long as the path.
  auto member = static_cast<int64_t>(op["path"].get_ref<const std::string&>().size()) + 4;
  // "add" and "copy" to an object's existing key replace its value.
  auto replaced = [&]() -> int64_t {
    if (path.empty() || !doc.contains(path)) return 0;
    return doc.at(path.parent_pointer()).is_object() ? size_at(path) + member : 0;
  };
  // A malformed operation (no value, no from) adds nothing: it fails.
  if (name == "add" && op.contains("value")) return member + size_of(op["value"]) - replaced();
  if (name == "copy" && op.contains("from") && op["from"].is_string()) {
    Ptr from(op["from"].get<std::string>());
    return doc.contains(from) ? member + size_of(doc.at(from)) - replaced() : 0;
  }
  if (name == "replace" && op.contains("value")) return size_of(op["value"]) - size_at(path);
  if (name == "remove") return -size_at(path);
  return 0;  // move, test
}

// RFC 6902 4.1: the value an "add" (so a "copy" or "move") goes to is a
// member of an object or an element of an array. nlohmann asserts when the
// parent is a scalar (a release build silently does nothing).
bool AddsUnderAScalar(const Json& doc, const Json& op) {
  const std::string& name = op["op"].get_ref<const std::string&>();
  if (name != "add" && name != "copy" && name != "move") return false;
  Json::json_pointer path(op["path"].get<std::string>());
  if (path.empty()) return false;  // the whole document
  Json::json_pointer parent = path.parent_pointer();
  return doc.contains(parent) && !doc.at(parent).is_structured();
}

}  // namespace

Result<Json> JsonPatch(const Json& target, const Json& patch) {
  if (!patch.is_array()) return Fail(ErrorCode::kInvalid, "a JSON patch is a list of operations");
  if (patch.size() > kMaxPatchOperations) {
    return Failf(ErrorCode::kTooLarge, "{} operations, over the limit of {}", patch.size(),
                 kMaxPatchOperations);
  }
  for (size_t i = 0; i < patch.size(); ++i) {
    const Json& op = patch[i];
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
        !op["path"].is_string()) {
      return Failf(ErrorCode::kInvalid, "[{}]: an operation needs \"op\" and \"path\" strings", i);
    }
  }
  // Operation by operation, so that an error names the one that failed; in
  // place, so that a long patch does not copy the object per operation.
  Json out = target;
  auto size = static_cast<int64_t>(ApproxJsonSize(out));
  for (size_t i = 0; i < patch.size(); ++i) {
    const Json& op = patch[i];
    const std::string& name = op["op"].get_ref<const std::string&>();
    const std::string& path = op["path"].get_ref<const std::string&>();
    try {
      if (AddsUnderAScalar(out, op)) {
        return Failf(ErrorCode::kInvalid, "[{}] {} {}: its parent is not an object or an array", i,
                     name, path);
      }
      int64_t delta = SizeDelta(out, op);
      if (delta > 0 && size + delta > static_cast<int64_t>(kMaxObjectBytes)) {
        return Failf(ErrorCode::kTooLarge,
                     "[{}] {} {}: the object would be about {} bytes, over the limit of {} bytes",
                     i, name, path, size + delta, kMaxObjectBytes);
      }
      out.patch_inplace(Json::array({op}));
      size += delta;
    } catch (const nlohmann::json::exception& e) {
      std::string what = e.what();
      size_t bracket = what.find("] ");
      if (bracket != std::string::npos) what = what.substr(bracket + 2);
      return Failf(ErrorCode::kInvalid, "[{}] {} {}: {}", i, name, path, what);
    }
  }
  STRAKE_TRY(CheckObjectSize(out, "the patched object"));
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
