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

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"
#include "model/node.h"

namespace strake::model {

inline constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

// Limits against patch bombs (Kubernetes' CVE-2019-1002100: 40 `copy`
// operations double an object 40 times). Kubernetes allows 10,000
// operations in one JSON patch; etcd refuses requests over 1.5 MiB, and we
// allow twice that for an object, as serialized JSON.
inline constexpr size_t kMaxPatchOperations = 10'000;
inline constexpr size_t kMaxObjectBytes = size_t{3} << 20;  // 3 MiB

// The length of `j` serialized as compact JSON, estimated without
// serializing (escapes are not counted): O(nodes), no allocation per node.
size_t ApproxJsonSize(const Json& j);

// kTooLarge, naming `what` and the limit, when `j` is over kMaxObjectBytes.
Status CheckObjectSize(const Json& j, std::string_view what);

// RFC 7386. The result is at most the sizes of both inputs together.
Json MergePatch(Json target, const Json& patch);

// RFC 6902; an error names the operation that failed (its index and path).
// More than kMaxPatchOperations operations, or a result over
// kMaxObjectBytes, is kTooLarge, found before the operation that would pass
// the limit runs (each operation's added size is estimated from its value,
// not by serializing the object again). Nothing of a failed patch is
// returned.
Result<Json> JsonPatch(const Json& target, const Json& patch);

// live (what is stored), last (the previous apply, or null), applied (this
// one): the object to store. Neither input carries kLastApplied; the
// caller stores `applied` under it.
Json ThreeWayApply(const Json& live, const Json& last, const Json& applied);

// The previous apply recorded in `object`'s annotations, or null.
Json LastApplied(const Json& object);

}  // namespace strake::model
