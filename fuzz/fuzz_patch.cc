// The changes a client makes to a stored object: JSON merge patch (RFC
// 7386), JSON patch (RFC 6902, with the limits against patch bombs), the
// three-way merge of apply, and kustomize's strategic merge. The input is a
// JSON array [target, patch] or [target, patch, last applied], nested no
// deeper than the API server accepts a body.
//
// Properties beyond memory safety: a merge patch is idempotent; a JSON
// patch that succeeds gives an object within kMaxObjectBytes; an error
// message is valid UTF-8 (the API answers it in a JSON body).
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/strings.h"
#include "check.h"
#include "gitops/kustomize.h"
#include "model/merge.h"

using strake::fuzz::Check;
using strake::fuzz::JsonSafe;
using strake::model::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = strake::fuzz::AsText(data, size);
  // The API refuses bodies deeper than 256 (server/api.cc); one more for the array.
  if (!strake::JsonDepthWithin(text, 257)) return 0;
  Json input = Json::parse(text, nullptr, false);
  if (input.is_discarded() || !input.is_array() || input.size() < 2 || input.size() > 3) return 0;
  const Json& target = input[0];
  const Json& patch = input[1];
  const Json last = input.size() == 3 ? input[2] : Json();

  Json merged = strake::model::MergePatch(target, patch);
  Check(strake::model::MergePatch(merged, patch) == merged, "a merge patch is idempotent");
  (void)strake::model::CheckObjectSize(merged, "merged");

  auto patched = strake::model::JsonPatch(target, patch);
  if (patched) {
    Check(strake::model::ApproxJsonSize(*patched) <= strake::model::kMaxObjectBytes,
          "a JSON patch stays within kMaxObjectBytes");
  } else {
    Check(JsonSafe(patched.error().message), "a JSON patch error is valid UTF-8");
  }

  (void)strake::model::ThreeWayApply(target, last, patch);
  (void)strake::model::LastApplied(target);
  (void)strake::gitops::StrategicMerge(target, patch);
  return 0;
}
