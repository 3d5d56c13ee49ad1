#include "model/sbom.h"

#include <gtest/gtest.h>

#include "base/fs.h"

namespace strake::model {
namespace {

Json Doc(const std::string& file) {
  return Json::parse(*ReadFile(std::string(STRAKE_SOURCE_DIR) + "/tests/sbom/" + file));
}

Result<Sbom> Parse(const Json& doc) { return ParseSbom(doc.dump(), "sbom.json"); }

TEST(Sbom, ACycloneDxDocumentGivesItsComponents) {
  auto sbom = Parse(Doc("cyclonedx-1.6.json"));
  ASSERT_TRUE(sbom) << sbom.error().message;
  EXPECT_EQ(sbom->format, "CycloneDX");
  EXPECT_EQ(sbom->spec_version, "1.6");
  ASSERT_EQ(sbom->components.size(), 2U);  // metadata.component is what it describes
  const SbomComponent& log4j = sbom->components[0];
  EXPECT_EQ(log4j.name, "log4j-core");
  EXPECT_EQ(log4j.version, "2.14.1");
  EXPECT_EQ(log4j.group, "org.apache.logging.log4j");
  EXPECT_EQ(log4j.purl, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
  EXPECT_EQ(log4j.licenses, std::vector<std::string>{"Apache-2.0"});
  EXPECT_EQ(sbom->components[1].licenses,
            std::vector<std::string>{"EPL-2.0 OR GPL-2.0 WITH Classpath-exception-2.0"});
  Json j = SbomToJson(*sbom);
  EXPECT_EQ(j["components"][0]["name"], "log4j-core");
  EXPECT_EQ(j["specVersion"], "1.6");
}

TEST(Sbom, NestedComponentsAreComponentsToo) {
  Json doc = Doc("cyclonedx-1.6.json");
  doc["components"][1]["components"] = {{{"type", "library"}, {"name", "inner"}}};
  auto sbom = Parse(doc);
  ASSERT_TRUE(sbom) << sbom.error().message;
  ASSERT_EQ(sbom->components.size(), 3U);
  EXPECT_EQ(sbom->components[2].name, "inner");
}

TEST(Sbom, AnSpdxDocumentGivesItsPackages) {
  auto sbom = Parse(Doc("spdx-2.3.json"));
  ASSERT_TRUE(sbom) << sbom.error().message;
  EXPECT_EQ(sbom->format, "SPDX");
  ASSERT_EQ(sbom->components.size(), 2U);
  EXPECT_EQ(sbom->components[0].name, "log4j-core");
  EXPECT_EQ(sbom->components[0].version, "2.14.1");
  EXPECT_EQ(sbom->components[0].purl, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
  EXPECT_EQ(sbom->components[0].licenses, std::vector<std::string>{"Apache-2.0"});
  EXPECT_TRUE(sbom->components[1].licenses.empty());  // NOASSERTION
}

// What the schemas accept but the specifications do not, and what they
// refuse: each said with its field path.
TEST(Sbom, WhatIsNotOneIsRefusedWithItsFieldPath) {
  Json doc = Doc("cyclonedx-1.6.json");
  auto problem = [&](const std::function<void(Json&)>& change) {
    Json d = doc;
    change(d);
    auto sbom = Parse(d);
    return sbom ? std::string("accepted") : sbom.error().message;
  };
  EXPECT_EQ(problem([](Json& d) { d["specVersion"] = "9.9"; }),
            "sbom.json: specVersion: \"9.9\" is not a CycloneDX version strake reads (1.4 to 1.7)");
  EXPECT_EQ(problem([](Json& d) { d["bomFormat"] = "cyclonedx"; }),
            "sbom.json: bomFormat: not \"CycloneDX\"");
  EXPECT_EQ(problem([](Json& d) { d["components"][0].erase("name"); }),
            "sbom.json: components[0].name: missing");
  EXPECT_EQ(problem([](Json& d) { d["components"][0]["type"] = "gadget"; }),
            "sbom.json: components[0].type: \"gadget\" is not a component type of CycloneDX 1.6");
  EXPECT_EQ(problem([](Json& d) { d["components"][0]["purl"] = "not a purl"; }),
            "sbom.json: components[0].purl: \"not a purl\" is not a package URL");
  EXPECT_EQ(problem([](Json& d) { d["components"][1]["bom-ref"] = d["components"][0]["bom-ref"]; }),
            "sbom.json: components[1].bom-ref: \"pkg:maven/org.apache.logging.log4j/"
            "log4j-core@2.14.1\" is used twice");
  EXPECT_EQ(problem([](Json& d) { d["version"] = "1"; }),
            "sbom.json: version: not a whole number of at least 1");
  EXPECT_EQ(problem([](Json& d) { d["serialNumber"] = "urn:uuid:ABC"; }),
            "sbom.json: serialNumber: not a urn:uuid (lower-case hex)");
  EXPECT_EQ(problem([](Json& d) {
              d["components"][0]["licenses"] = {{{"license", {{"id", "MIT"}, {"name", "m"}}}}};
            }),
            "sbom.json: components[0].licenses[0]: a license has an id or a name (one of them)");
  EXPECT_EQ(problem([](Json& d) {
              d["components"][0]["type"] = "cryptographic-asset";
              d["specVersion"] = "1.5";
            }),
            "sbom.json: components[0].type: \"cryptographic-asset\" is not a component type of "
            "CycloneDX 1.5");
  // Every problem at once, by path.
  std::string both = problem([](Json& d) {
    d["components"][0].erase("name");
    d["components"][1].erase("type");
  });
  EXPECT_EQ(both, "sbom.json: components[0].name: missing\nsbom.json: components[1].type: missing");

  Json spdx = Doc("spdx-2.3.json");
  auto spdx_problem = [&](const std::function<void(Json&)>& change) {
    Json d = spdx;
    change(d);
    auto sbom = Parse(d);
    return sbom ? std::string("accepted") : sbom.error().message;
  };
  EXPECT_EQ(spdx_problem([](Json& d) { d["spdxVersion"] = "SPDX-9"; }),
            "sbom.json: spdxVersion: \"SPDX-9\" is not SPDX-2.3");
  EXPECT_EQ(spdx_problem([](Json& d) { d.erase("documentNamespace"); }),
            "sbom.json: documentNamespace: not an absolute URI without '#'");
  EXPECT_EQ(spdx_problem([](Json& d) { d["packages"][1]["SPDXID"] = d["packages"][0]["SPDXID"]; }),
            "sbom.json: packages[1].SPDXID: \"SPDXRef-Package-log4j-core\" is used twice");
  EXPECT_EQ(spdx_problem([](Json& d) { d["creationInfo"]["created"] = "yesterday"; }),
            "sbom.json: creationInfo.created: not YYYY-MM-DDThh:mm:ssZ");
  EXPECT_EQ(spdx_problem([](Json& d) { d["packages"][0].erase("downloadLocation"); }),
            "sbom.json: packages[0].downloadLocation: missing (NOASSERTION when unknown)");

  EXPECT_EQ(ParseSbom("[]", "x").error().message, "x: not a JSON object");
  EXPECT_EQ(ParseSbom("{}", "x").error().message,
            "x: neither CycloneDX (bomFormat) nor SPDX (spdxVersion) JSON");
}

TEST(Sbom, ItsLimitsHold) {
  // Components nested deeper than 32 and more than 100,000 are refused.
  Json doc = Doc("cyclonedx-1.6.json");
  Json* at = &doc["components"][0];
  for (int i = 0; i < 40; ++i) {
    (*at)["components"] = {{{"type", "library"}, {"name", "n" + std::to_string(i)}}};
    at = &(*at)["components"][0];
  }
  auto deep = Parse(doc);
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nested deeper than 32"), std::string::npos);

  Json many = Doc("cyclonedx-1.6.json");
  many["components"] = Json::array();
  for (size_t i = 0; i <= kMaxSbomComponents; ++i)
    many["components"].push_back({{"type", "library"}, {"name", "c"}});
  auto big = Parse(many);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("more than 100000 components"), std::string::npos)
      << big.error().message.substr(0, 200);
  // Twenty problems are listed, then how many more.
  Json bad = Doc("cyclonedx-1.6.json");
  bad["components"] = Json::array();
  for (int i = 0; i < 25; ++i) bad["components"].push_back({{"type", "library"}});
  auto listed = Parse(bad);
  ASSERT_FALSE(listed);
  EXPECT_NE(listed.error().message.find("sbom.json: and 5 more"), std::string::npos);
}

}  // namespace
}  // namespace strake::model
