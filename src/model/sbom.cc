#include "model/sbom.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "base/regex.h"
#include "base/strings.h"
#include "model/json_fields.h"

namespace strake::model {

namespace {

constexpr size_t kMaxProblems = 20;
constexpr int kMaxDepth = 32;

// Collects problems by field path; stops adding past kMaxProblems.
class Problems {
 public:
  void Add(const std::string& path, const std::string& what) {
    if (list_.size() < kMaxProblems) list_.push_back(path + ": " + what);
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  Error ToError(const std::string& name) const {
    std::string more =
        count_ > list_.size() ? fmt::format("\n{}: and {} more", name, count_ - list_.size()) : "";
    std::vector<std::string> lines;
    for (const auto& p : list_) lines.push_back(fmt::format("{}: {}", name, p));
    return Error{Join(lines, "\n") + more, ErrorCode::kInvalid};
  }

 private:
  std::vector<std::string> list_;
  size_t count_ = 0;
};

// purl-spec: "pkg:" type "/" [namespace "/"] name ["@" version] …; the
// type is letters, digits, '.', '+', '-', not starting with a digit.
// Matched by RE2 (base/regex.h): linear in the subject, however long;
// each pattern compiled once.
bool FullMatch(const Result<Regex>& re, const std::string& s) { return re && re->FullMatch(s); }

const Result<Regex>& SerialNumber() {
  static const Result<Regex> kSerial =
      Regex::Compile("urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  return kSerial;
}

const Result<Regex>& SpdxCreated() {
  static const Result<Regex> kCreated = Regex::Compile(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
  return kCreated;
}

bool IsPurl(const std::string& p) {
  static const Result<Regex> kPurl =
      Regex::Compile(R"(pkg:[A-Za-z.+\-][A-Za-z0-9.+\-]*/[^/?#@][^?#]*(\?[^#]*)?(#.*)?)");
  return FullMatch(kPurl, p);
}

// The component types of each CycloneDX version (bom-1.x.schema.json).
bool IsComponentType(const std::string& version, const std::string& type) {
  static const std::set<std::string> k14 = {
      "application",      "framework", "library",  "container",
      "operating-system", "device",    "firmware", "file"};
  static const std::set<std::string> k15 = {"platform", "device-driver", "machine-learning-model",
                                            "data"};
  if (k14.contains(type)) return true;
  if (version != "1.4" && k15.contains(type)) return true;
  return (version == "1.6" || version == "1.7") && type == "cryptographic-asset";
}

class CycloneDxReader {
 public:
  CycloneDxReader(std::string version, Problems& problems)
      : version_(std::move(version)), problems_(problems) {}

  void Components(const Json& list, const std::string& path, int depth,
                  std::vector<SbomComponent>& out) {
    if (list.is_null()) return;
    if (!list.is_array()) return problems_.Add(path, "not a list");
    if (depth > kMaxDepth)
      return problems_.Add(path, fmt::format("nested deeper than {}", kMaxDepth));
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = fmt::format("{}[{}]", path, i);
      if (out.size() >= kMaxSbomComponents)
        return problems_.Add(at, fmt::format("more than {} components", kMaxSbomComponents));
      auto c = Component(list[i], at);
      if (c) out.push_back(std::move(*c));
      Components(FieldOf(list[i], "components"), at + ".components", depth + 1, out);
    }
  }

  std::optional<SbomComponent> Component(const Json& j, const std::string& path) {
    if (!j.is_object()) {
      problems_.Add(path, "not an object");
      return std::nullopt;
    }
    SbomComponent c;
    c.type = TextOf(j, "type");
    if (c.type.empty()) {
      problems_.Add(path + ".type", "missing");
    } else if (!IsComponentType(version_, c.type)) {
      problems_.Add(path + ".type", fmt::format("{} is not a component type of CycloneDX {}",
                                                Quote(c.type), version_));
    }
    c.name = TextOf(j, "name");
    if (c.name.empty()) problems_.Add(path + ".name", "missing");
    c.version = TextOf(j, "version");
    c.group = TextOf(j, "group");
    c.purl = TextOf(j, "purl");
    if (!c.purl.empty() && !IsPurl(c.purl))
      problems_.Add(path + ".purl", fmt::format("{} is not a package URL", Quote(c.purl)));
    const std::string ref = TextOf(j, "bom-ref");
    if (!ref.empty() && !refs_.insert(ref).second)
      problems_.Add(path + ".bom-ref", fmt::format("{} is used twice", Quote(ref)));
    c.licenses = Licenses(FieldOf(j, "licenses"), path + ".licenses");
    return c;
  }

 private:
  // [{license: {id | name}}…] or [{expression}] (one, alone).
  std::vector<std::string> Licenses(const Json& list, const std::string& path) {
    std::vector<std::string> out;
    if (list.is_null()) return out;
    if (!list.is_array()) {
      problems_.Add(path, "not a list");
      return out;
    }
    bool expression = false;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string at = fmt::format("{}[{}]", path, i);
      const Json& l = list[i];
      if (!TextOf(l, "expression").empty()) {
        expression = true;
        out.push_back(TextOf(l, "expression"));
        continue;
      }
      const Json& lic = FieldOf(l, "license");
      const std::string id = TextOf(lic, "id"), name = TextOf(lic, "name");
      if (id.empty() == name.empty()) {
        problems_.Add(at, "a license has an id or a name (one of them)");
        continue;
      }
      out.push_back(id.empty() ? name : id);
    }
    if (expression && list.size() > 1)
      problems_.Add(path, "an expression is the only entry of licenses");
    return out;
  }

  std::string version_;
  Problems& problems_;
  std::set<std::string> refs_;
};

Result<Sbom> CycloneDx(const Json& doc, const std::string& name) {
  Problems problems;
  Sbom out;
  out.format = "CycloneDX";
  out.spec_version = TextOf(doc, "specVersion");
  static const std::set<std::string> kVersions = {"1.4", "1.5", "1.6", "1.7"};
  if (!kVersions.contains(out.spec_version)) {
    return Failf(ErrorCode::kInvalid,
                 "{}: specVersion: {} is not a CycloneDX version strake reads (1.4 to 1.7)", name,
                 Quote(out.spec_version));
  }
  const Json& version = FieldOf(doc, "version");
  if (!version.is_null() && (!version.is_number_integer() || version.get<int64_t>() < 1))
    problems.Add("version", "not a whole number of at least 1");
  const std::string serial = TextOf(doc, "serialNumber");
  if (!FieldOf(doc, "serialNumber").is_null() && !FullMatch(SerialNumber(), serial))
    problems.Add("serialNumber", "not a urn:uuid (lower-case hex)");
  CycloneDxReader reader(out.spec_version, problems);
  const Json& described = FieldOf(FieldOf(doc, "metadata"), "component");
  if (!described.is_null()) (void)reader.Component(described, "metadata.component");
  reader.Components(FieldOf(doc, "components"), "components", 0, out.components);
  if (!problems.empty()) return tl::unexpected(problems.ToError(name));
  return out;
}

// A package's component: its purl reference and its license expressions.
SbomComponent Package(const Json& p, const std::string& path, Problems& problems) {
  SbomComponent c;
  c.name = TextOf(p, "name");
  if (c.name.empty()) problems.Add(path + ".name", "missing");
  if (TextOf(p, "downloadLocation").empty())
    problems.Add(path + ".downloadLocation", "missing (NOASSERTION when unknown)");
  c.version = TextOf(p, "versionInfo");
  c.type = TextOf(p, "primaryPackagePurpose");
  for (const char* field : {"licenseDeclared", "licenseConcluded"}) {
    const std::string l = TextOf(p, field);
    if (!l.empty() && l != "NOASSERTION" && l != "NONE" &&
        std::find(c.licenses.begin(), c.licenses.end(), l) == c.licenses.end())
      c.licenses.push_back(l);
  }
  const Json& refs = FieldOf(p, "externalRefs");
  for (size_t i = 0; refs.is_array() && i < refs.size(); ++i) {
    const std::string at = fmt::format("{}.externalRefs[{}]", path, i);
    const std::string category = TextOf(refs[i], "referenceCategory");
    const std::string type = TextOf(refs[i], "referenceType");
    const std::string locator = TextOf(refs[i], "referenceLocator");
    if (category.empty() || type.empty() || locator.empty()) {
      problems.Add(at, "referenceCategory, referenceType and referenceLocator are required");
      continue;
    }
    if (type != "purl" || !c.purl.empty()) continue;
    if (!IsPurl(locator))
      problems.Add(at + ".referenceLocator",
                   fmt::format("{} is not a package URL", Quote(locator)));
    c.purl = locator;
  }
  return c;
}

Result<Sbom> Spdx(const Json& doc, const std::string& name) {
  Problems problems;
  Sbom out;
  out.format = "SPDX";
  out.spec_version = TextOf(doc, "spdxVersion");
  if (out.spec_version != "SPDX-2.3") {
    return Failf(ErrorCode::kInvalid, "{}: spdxVersion: {} is not SPDX-2.3", name,
                 Quote(out.spec_version));
  }
  if (TextOf(doc, "dataLicense") != "CC0-1.0") problems.Add("dataLicense", "not CC0-1.0");
  if (TextOf(doc, "SPDXID") != "SPDXRef-DOCUMENT") problems.Add("SPDXID", "not SPDXRef-DOCUMENT");
  if (TextOf(doc, "name").empty()) problems.Add("name", "missing");
  const std::string ns = TextOf(doc, "documentNamespace");
  if (ns.find("://") == std::string::npos || ns.find('#') != std::string::npos)
    problems.Add("documentNamespace", "not an absolute URI without '#'");
  const Json& info = FieldOf(doc, "creationInfo");
  if (!FullMatch(SpdxCreated(), TextOf(info, "created")))
    problems.Add("creationInfo.created", "not YYYY-MM-DDThh:mm:ssZ");
  const Json& creators = FieldOf(info, "creators");
  if (!creators.is_array() || creators.empty()) problems.Add("creationInfo.creators", "none");
  const Json& packages = FieldOf(doc, "packages");
  if (!packages.is_null() && !packages.is_array()) problems.Add("packages", "not a list");
  std::set<std::string> ids;
  for (size_t i = 0; packages.is_array() && i < packages.size(); ++i) {
    const std::string at = fmt::format("packages[{}]", i);
    if (out.components.size() >= kMaxSbomComponents) {
      problems.Add(at, fmt::format("more than {} packages", kMaxSbomComponents));
      break;
    }
    const std::string id = TextOf(packages[i], "SPDXID");
    if (!StartsWith(id, "SPDXRef-")) {
      problems.Add(at + ".SPDXID", "not SPDXRef-…");
    } else if (!ids.insert(id).second) {
      problems.Add(at + ".SPDXID", fmt::format("{} is used twice", Quote(id)));
    }
    out.components.push_back(Package(packages[i], at, problems));
  }
  if (!problems.empty()) return tl::unexpected(problems.ToError(name));
  return out;
}

}  // namespace

Result<Sbom> ParseSbom(std::string_view text, const std::string& name) {
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Failf(ErrorCode::kInvalid, "{}: not a JSON object", name);
  if (doc.contains("bomFormat")) {
    if (TextOf(doc, "bomFormat") != "CycloneDX")
      return Failf(ErrorCode::kInvalid, "{}: bomFormat: not \"CycloneDX\"", name);
    return CycloneDx(doc, name);
  }
  if (doc.contains("spdxVersion")) return Spdx(doc, name);
  return Failf(ErrorCode::kInvalid, "{}: neither CycloneDX (bomFormat) nor SPDX (spdxVersion) JSON",
               name);
}

Json SbomToJson(const Sbom& sbom) {
  Json components = Json::array();
  for (const auto& c : sbom.components) {
    components.push_back({{"name", c.name},
                          {"version", c.version},
                          {"group", c.group},
                          {"purl", c.purl},
                          {"type", c.type},
                          {"licenses", c.licenses}});
  }
  return {{"format", sbom.format},
          {"specVersion", sbom.spec_version},
          {"components", std::move(components)}};
}

}  // namespace strake::model
