// The YAML/JSON loader and the decoders of every kind strake knows, as
// `strake apply`, `strake run` and the API read a manifest: ParseYaml with
// the default limits (size, depth, nodes, alias expansion, documents), then
// Decode of each document (model::LoadFiles without the file), then the
// API's path (ToJson, DecodeObject) and `-o yaml` (ToYaml).
//
// Properties beyond memory safety: whatever parses converts to JSON that
// ToYaml writes back as YAML which reads back as the same JSON.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "model/decode.h"
#include "model/diag.h"
#include "model/node.h"

namespace {

using strake::fuzz::Check;
using strake::model::Json;

// NaN is not equal to itself, and -o yaml shows it as JSON does (null).
bool HasNan(const Json& j) {
  if (j.is_number_float()) return std::isnan(j.get<double>());
  if (j.is_structured()) {
    for (const auto& v : j) {
      if (HasNan(v)) return true;
    }
  }
  return false;
}

void CheckYamlRoundTrip(const Json& j) {
  if (HasNan(j)) return;
  std::string yaml = strake::model::ToYaml(j);
  auto back = strake::model::ParseYaml(yaml, "round-trip.yaml");
  Check(back.has_value(), "ToYaml's output parses");
  if (j.is_null() || (j.is_structured() && j.empty())) return;  // an empty document is skipped
  Check(back->size() == 1, "ToYaml writes one document");
  Check(strake::model::ToJson((*back)[0].root) == j, "ToYaml's output reads back the same");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto docs = strake::model::ParseYaml(strake::fuzz::AsText(data, size), "fuzz.yaml");
  if (!docs) return 0;
  strake::model::Diagnostics diags;
  std::vector<strake::model::Resource> resources = strake::model::Decode(*docs, diags);
  (void)diags.ErrorText();
  (void)diags.WarningStrings();
  for (const auto& doc : *docs) {
    Json j = strake::model::ToJson(doc.root);
    (void)strake::model::DecodeObject(j, "fuzz");
    CheckYamlRoundTrip(j);
  }
  return 0;
}
