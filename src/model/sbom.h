// Software bills of materials as builds write them (syft's
// `-o cyclonedx-json` and `-o spdx-json`): CycloneDX JSON 1.4 to 1.7 and SPDX
// 2.3 JSON, checked for what their specifications require — more than their
// JSON schemas enforce: CycloneDX's specVersion, unique bom-refs and purl
// syntax; SPDX's fixed spdxVersion, dataLicense and document SPDXID, its
// documentNamespace, its creation time and unique SPDXIDs — and their
// components in one shape, whatever the format, for promotion criteria.
//
// CycloneDX components nest (components[].components[]): all are read, to
// a depth of 32; metadata.component (what the SBOM describes) is checked
// but is not one of them. An SPDX package is a component; its purl is its
// PACKAGE-MANAGER/purl external reference, its licenses the declared and
// concluded expressions that are not NOASSERTION or NONE.
//
// Limits: 100,000 components. Every problem is reported with its field path
// ("sbom.json: components[3].name: missing"), at most 20; pure and
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/node.h"

namespace strake::model {

struct SbomComponent {
  std::string name;
  std::string version;  // "" when not given
  std::string group;    // CycloneDX's group (a Maven groupId); SPDX: ""
  std::string purl;     // "" when not given
  std::string type;     // CycloneDX's type ("library"…); SPDX: its primaryPackagePurpose or ""
  std::vector<std::string> licenses;  // ids, names or expressions
};

struct Sbom {
  std::string format;        // "CycloneDX" or "SPDX"
  std::string spec_version;  // "1.6", "SPDX-2.3"
  std::vector<SbomComponent> components;
};

inline constexpr size_t kMaxSbomComponents = 100'000;

// The SBOM in `text` (JSON); `name` (a file, a result) prefixes errors.
Result<Sbom> ParseSbom(std::string_view text, const std::string& name);

// {format, specVersion, components: [{name, version, group, purl, type,
// licenses}]}: what a gate's `sbom` is.
Json SbomToJson(const Sbom& sbom);

}  // namespace strake::model
