// Merging of objects for apply and patch: pure functions on JSON values.
//
// Three kinds of change reach a stored object:
//   - a JSON merge patch (RFC 7386): objects merge key by key, null deletes,
//     anything else (lists included) replaces;
//   - a JSON patch (RFC 6902): a list of add/remove/replace/move/copy/test;
//   - an apply: the caller's whole intent. strake merges it three ways, as
//     `kubectl apply` does: a field the previous apply set and this one no
//     longer sets is removed; every field of this apply is set (lists
//     replace); a field nobody applied (set by a patch, by another client)
//     is kept. The applied object is remembered in the annotation
//     kLastApplied, where Argo CD's three-way diff also looks for it.
#pragma once

#include <string>

#include "base/result.h"
#include "model/node.h"

namespace strake::model {

inline constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

// RFC 7386.
Json MergePatch(Json target, const Json& patch);

// RFC 6902; an error names the operation that failed (its index and path).
Result<Json> JsonPatch(const Json& target, const Json& patch);

// live (what is stored), last (the previous apply, or null), applied (this
// one): the object to store. Neither input carries kLastApplied; the
// caller stores `applied` under it.
Json ThreeWayApply(const Json& live, const Json& last, const Json& applied);

// The previous apply recorded in `object`'s annotations, or null.
Json LastApplied(const Json& object);

}  // namespace strake::model
