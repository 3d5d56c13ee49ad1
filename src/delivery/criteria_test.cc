#include "delivery/criteria.h"

#include <gtest/gtest.h>

#include <string>

#include "delivery/artifact.h"
#include "delivery/gates.h"
#include "model/decode.h"
#include "store/temp_store.h"

namespace strake::delivery {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const int64_t kNow = 1'800'000'000'000;

class CriteriaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("strake-criteria-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
  }
  store::Store& st() { return temp_.store(); }

  // The Artifact the server recorded for build-42: the test task's results.
  void RecordArtifact(const std::string& uri, const std::string& coverage,
                      const std::string& outcome = "Succeeded", const Json& more = Json::object()) {
    store::Resource a;
    a.key = {"Artifact", "demo", ArtifactName(uri, kDigest)};
    a.object = {{"apiVersion", "strake.dev/v1"},
                {"kind", "Artifact"},
                {"spec",
                 {{"type", "image"},
                  {"uri", uri},
                  {"digest", kDigest},
                  {"builtBy", {{"pipelineRun", "build-42"}}},
                  {"evidence",
                   {{"test",
                     {{"taskRun", "build-42-test"},
                      {"status", outcome},
                      {"results", {{"COVERAGE", coverage}, {"SUITE", "unit"}}}}}}}}}};
    for (const auto& [k, v] : more.items()) a.object["spec"][k] = v;
    ASSERT_TRUE(st().Create(a, "Recorded", ""));
  }

  static store::Resource FreightOf(const std::string& uri, Json status = Json::object()) {
    store::Resource f;
    f.key = {"Freight", "demo", std::string(40, 'f')};
    f.object = {{"alias", "brave-otter"},
                {"origin", {{"kind", "Warehouse"}, {"name", "web"}}},
                {"artifacts", Json::array({{{"artifactType", "image"},
                                            {"subscriptionName", "web"},
                                            {"version", kDigest},
                                            {"metadata", {{"uri", uri}}}}})}};
    f.status = std::move(status);
    return f;
  }

  Result<std::optional<std::string>> Deny(const std::string& expression,
                                          const store::Resource& freight) {
    auto expr = CompileCriterion(expression);
    EXPECT_TRUE(expr) << expr.error().message;
    std::vector<Criterion> criteria = {{"coverage", "ProjectConfig demo", *expr, ""}};
    ArtifactReader read = [this](const std::string& name) {
      return st().Get({"Artifact", "demo", name});
    };
    return CriteriaDenial(criteria, freight, "staging", kNow, read, provenance_);
  }

  // What the server's keys would say (insight/provenance.h): verified for
  // build-42's runs, with the repository it was built from.
  ProvenanceReader provenance_ = [this](const std::string& ns, const Json& spec) -> Result<Json> {
    asked_.push_back(ns + " " + spec.value("uri", ""));
    if (spec["builtBy"].value("pipelineRun", "") != "build-42")
      return Json{{"verified", false}, {"reason", "PipelineRun x has no attestation"}};
    return Json{{"verified", true},
                {"source", {{"repo", "http://git/app.git"}, {"commit", "c0ffee"}}},
                {"builder", {{"id", "https://strake.dev/builder/v1"}}}};
  };
  std::vector<std::string> asked_;

  store::TempStore temp_;
};

TEST_F(CriteriaTest, EvidenceBelowTheBarDeniesWithItsValuesAndWhereTheyCameFrom) {
  RecordArtifact("reg/web:v1", "78.3");
  auto denied = Deny("evidence('test').COVERAGE >= 80", FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied) << denied.error().message;
  ASSERT_TRUE(*denied);
  EXPECT_EQ(**denied, "criteria coverage: 78.3 < 80 (PipelineRun build-42, task test)");
}

TEST_F(CriteriaTest, EvidenceThatMeetsTheBarAdmits) {
  RecordArtifact("reg/web:v1", "85");
  auto denied = Deny("evidence('test').COVERAGE >= 80 && evidence('test').SUITE == 'unit'",
                     FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied);
  EXPECT_FALSE(*denied) << **denied;
}

TEST_F(CriteriaTest, EvidenceIsReadFromTheRecordedArtifactNeverFromTheFreight) {
  // Freight that names an artifact nobody built (or applied by hand with
  // made-up metadata): there is no evidence, so it is denied.
  store::Resource forged = FreightOf("reg/web:v9");
  forged.object["artifacts"][0]["metadata"]["evidence"] = {{"test", {{"COVERAGE", "100"}}}};
  auto denied = Deny("evidence('test').COVERAGE >= 80", forged);
  ASSERT_TRUE(denied);
  ASSERT_TRUE(*denied);
  EXPECT_NE((*denied)->find("no Artifact recorded for reg/web:v9@" + kDigest), std::string::npos)
      << **denied;
}

TEST_F(CriteriaTest, MissingEvidenceOrAValueOfTheWrongTypeDeniesFailingClosed) {
  RecordArtifact("reg/web:v1", "not measured");
  auto missing = Deny("evidence('scan').CRITICAL == 0", FreightOf("reg/web:v1"));
  ASSERT_TRUE(missing);
  ASSERT_TRUE(*missing);
  EXPECT_NE((*missing)->find("no evidence of task \"scan\""), std::string::npos) << **missing;
  auto typed = Deny("evidence('test').COVERAGE >= 80", FreightOf("reg/web:v1"));
  ASSERT_TRUE(typed);
  ASSERT_TRUE(*typed);
  EXPECT_NE((*typed)->find("criteria coverage: "), std::string::npos) << **typed;
  auto not_bool = Deny("evidence('test').SUITE", FreightOf("reg/web:v1"));
  ASSERT_TRUE(not_bool);
  ASSERT_TRUE(*not_bool);
  EXPECT_NE((*not_bool)->find("is not a boolean"), std::string::npos) << **not_bool;
}

TEST_F(CriteriaTest, ProvenanceIsVerifiedForTheFreightsArtifactAndGatesOnItsSource) {
  RecordArtifact("reg/web:v1", "85");
  const std::string gate = "provenance.verified && provenance.source.repo == 'http://git/app.git'";
  auto ok = Deny(gate, FreightOf("reg/web:v1"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(*ok) << **ok;
  EXPECT_EQ(asked_, std::vector<std::string>{"demo reg/web:v1"});
  auto other = Deny("provenance.verified && provenance.source.repo == 'http://git/fork.git'",
                    FreightOf("reg/web:v1"));
  ASSERT_TRUE(other);
  ASSERT_TRUE(*other);
  EXPECT_NE((*other)->find("\"http://git/app.git\" != \"http://git/fork.git\""), std::string::npos)
      << **other;
  // Read only for a criterion that names it.
  asked_.clear();
  ASSERT_TRUE(Deny("evidence('test').COVERAGE >= 80", FreightOf("reg/web:v1")));
  EXPECT_TRUE(asked_.empty());
}

TEST_F(CriteriaTest, ProvenanceThatIsNotVerifiedDeniesSayingWhy) {
  // An artifact that no recorded Artifact is: nothing to verify.
  auto forged = Deny("provenance.verified", FreightOf("reg/web:v9"));
  ASSERT_TRUE(forged);
  ASSERT_TRUE(*forged);
  EXPECT_NE((*forged)->find("provenance not verified: no Artifact recorded for reg/web:v9"),
            std::string::npos)
      << **forged;
  // Several artifacts: `provenance` is none of them; provenanceOf names one.
  RecordArtifact("reg/web:v1", "85");
  store::Resource two = FreightOf("reg/web:v1");
  Json second = two.object["artifacts"][0];
  second["subscriptionName"] = "api";
  two.object["artifacts"].push_back(second);
  auto several = Deny("provenance.verified", two);
  ASSERT_TRUE(several);
  ASSERT_TRUE(*several);
  EXPECT_NE((*several)->find("the Freight has 2 artifacts: use provenanceOf('subscription')"),
            std::string::npos)
      << **several;
  auto of = Deny("provenanceOf('web').verified && provenanceOf('api').builder.id != ''", two);
  ASSERT_TRUE(of);
  EXPECT_FALSE(*of) << **of;
  // Only provenanceOf named: `provenance` is not read, nor said.
  auto of_false = Deny("provenanceOf('web').builder.id == 'elsewhere'", two);
  ASSERT_TRUE(of_false);
  ASSERT_TRUE(*of_false);
  EXPECT_EQ((*of_false)->find("use provenanceOf"), std::string::npos) << **of_false;
  // A store that fails is an error, not a denial (nothing is decided).
  provenance_ = [](const std::string&, const Json&) -> Result<Json> {
    return Fail(ErrorCode::kUnavailable, "the store is locked");
  };
  auto failed = Deny("provenanceOf('web').verified", two);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  // A server that verifies nothing never admits.
  provenance_ = nullptr;
  auto unset = Deny("provenance.verified", FreightOf("reg/web:v1"));
  ASSERT_TRUE(unset);
  ASSERT_TRUE(*unset);
  EXPECT_NE((*unset)->find("this server verifies no provenance"), std::string::npos) << **unset;
}

TEST_F(CriteriaTest, ImageTagsAndHistoryAreSeen) {
  RecordArtifact("reg/web:latest", "90");
  auto latest = Deny("!(imageFrom('reg/web').Tag endsWith 'latest')", FreightOf("reg/web:latest"));
  ASSERT_TRUE(latest);
  ASSERT_TRUE(*latest);
  EXPECT_EQ(**latest, "criteria coverage: \"latest\" endsWith \"latest\"");
  Json status = {{"verifiedIn", {{"dev", {{"longestSoak", "2h0m0s"}}}}}};
  auto soaked = Deny("verifiedIn('dev') && soakTime('dev') >= 3600 && !approvedFor('staging')",
                     FreightOf("reg/web:latest", status));
  ASSERT_TRUE(soaked);
  EXPECT_FALSE(*soaked) << **soaked;
  auto unsoaked = Deny("soakTime('dev') >= 3 * 3600", FreightOf("reg/web:latest", status));
  ASSERT_TRUE(unsoaked);
  ASSERT_TRUE(*unsoaked);
  EXPECT_EQ(**unsoaked, "criteria coverage: 7200 < 10800");
}

TEST_F(CriteriaTest, ATestTaskThatDidNotSucceedProvesNothing) {
  RecordArtifact("reg/web:v1", "95", "Failed");
  auto denied = Deny("evidence('test').COVERAGE >= 80", FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied);
  ASSERT_TRUE(*denied);
  EXPECT_NE((*denied)->find("task \"test\" of PipelineRun build-42 did not succeed (Failed)"),
            std::string::npos)
      << **denied;
}

TEST_F(CriteriaTest, OneArtifactsEvidenceNeverSpeaksForAnother) {
  RecordArtifact("reg/web:v1", "95");
  store::Resource two = FreightOf("reg/web:v1");
  two.object["artifacts"].push_back({{"artifactType", "image"},
                                     {"subscriptionName", "worker"},
                                     {"version", kDigest},
                                     {"metadata", {{"uri", "reg/worker:v1"}}}});
  auto ambiguous = Deny("evidence('test').COVERAGE >= 80", two);
  ASSERT_TRUE(ambiguous);
  ASSERT_TRUE(*ambiguous);
  EXPECT_NE((*ambiguous)->find("the Freight has 2 artifacts: name the subscription"),
            std::string::npos)
      << **ambiguous;
  // The worker was never recorded: naming it denies, naming web admits.
  auto worker = Deny("evidence('test', 'worker').COVERAGE >= 80", two);
  ASSERT_TRUE(worker);
  ASSERT_TRUE(*worker);
  auto web = Deny("evidence('test', 'web').COVERAGE >= 80", FreightOf("reg/web:v1"));
  ASSERT_TRUE(web);
  EXPECT_FALSE(*web) << **web;
}

TEST_F(CriteriaTest, CommitsAndArtifactsAreTheRecordedOnesNotTheFreights) {
  RecordArtifact("reg/web:v1", "95");
  store::Resource f = FreightOf("reg/web:v1");
  f.object["artifacts"][0]["metadata"]["commit"] = "made-up";
  f.object["artifacts"][0]["metadata"]["pipelineRun"] = "made-up";
  auto denied = Deny("artifactFrom('web').Metadata.pipelineRun == 'build-42'", f);
  ASSERT_TRUE(denied);
  EXPECT_FALSE(*denied) << **denied;
  // No recorded Artifact: artifactFrom and imageFrom fail closed.
  auto unrecorded = Deny("imageFrom('reg/web').Tag == 'v9'", FreightOf("reg/web:v9"));
  ASSERT_TRUE(unrecorded);
  ASSERT_TRUE(*unrecorded);
  EXPECT_NE((*unrecorded)->find("no Artifact recorded"), std::string::npos) << **unrecorded;
}

TEST_F(CriteriaTest, AnUnknownFunctionIsACompileError) {
  auto bad = CompileCriterion("evidenc('test').COVERAGE > 1");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("evidenc"), std::string::npos) << bad.error().message;
}

TEST_F(CriteriaTest, TheProjectConfigsCriteriaAreGatesOfTheStagesTheySelect) {
  RecordArtifact("reg/web:v1", "78.3");
  store::Resource pc;
  pc.key = {"ProjectConfig", "demo", "demo"};
  pc.object = Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "ProjectConfig",
      "metadata": {"name": "demo", "namespace": "demo"},
      "spec": {"promotionCriteria": [{"name": "coverage", "stageSelector": {"name": "staging"},
               "expression": "evidence('test').COVERAGE >= 80"}]}})");
  ASSERT_TRUE(st().Create(pc, "Applied", ""));
  auto stage_of = [](const std::string& name) {
    Json j = {
        {"apiVersion", "kargo.akuity.io/v1alpha1"},
        {"kind", "Stage"},
        {"metadata", {{"name", name}, {"namespace", "demo"}}},
        {"spec",
         {{"requestedFreight", Json::array({{{"origin", {{"kind", "Warehouse"}, {"name", "web"}}},
                                             {"sources", {{"direct", true}}}}})}}}};
    auto d = model::DecodeObject(j, "test");
    EXPECT_TRUE(d) << d.error().message;
    return std::get<model::Stage>(d->value);
  };
  auto staging = ReadGates(st(), stage_of("staging"), kNow, nullptr);
  ASSERT_TRUE(staging);
  auto denied = staging->Denial(FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied);
  ASSERT_TRUE(*denied);
  EXPECT_EQ(**denied, "criteria coverage: 78.3 < 80 (PipelineRun build-42, task test)");
  auto dev = ReadGates(st(), stage_of("dev"), kNow, nullptr);
  ASSERT_TRUE(dev);
  auto admitted = dev->Denial(FreightOf("reg/web:v1"));
  ASSERT_TRUE(admitted);
  EXPECT_FALSE(*admitted);
}

// The SBOM an Artifact recorded (delivery/sbom.h): log4j-core 2.14.1 and zlib.
Json Sbom(const std::string& log4j_version) {
  Json components =
      Json::array({{{"name", "log4j-core"},
                    {"version", log4j_version},
                    {"group", "org.apache.logging.log4j"},
                    {"purl", "pkg:maven/org.apache.logging.log4j/log4j-core@" + log4j_version},
                    {"type", "library"},
                    {"licenses", Json::array({"Apache-2.0"})}},
                   {{"name", "zlib"},
                    {"version", "1.2.13"},
                    {"group", ""},
                    {"purl", "pkg:deb/debian/zlib@1.2.13"},
                    {"type", "library"},
                    {"licenses", Json::array({"Zlib"})}}});
  return {{"sbom",
           {{"format", "CycloneDX"},
            {"specVersion", "1.6"},
            {"reference", "reg/web@sha256:" + std::string(64, 'b')},
            {"components", std::move(components)}}}};
}

TEST_F(CriteriaTest, AnSbomGateNamesTheComponentThatDeniesIt) {
  RecordArtifact("reg/web:v1", "85", "Succeeded", Sbom("2.14.1"));
  const std::string gate =
      "none(sbom.components, {.name == 'log4j-core' && semverMatches(.version, '<2.17.1')})";
  auto denied = Deny(gate, FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied) << denied.error().message;
  ASSERT_TRUE(*denied);
  EXPECT_NE((*denied)->find("is false: [0] {"), std::string::npos) << **denied;
  EXPECT_NE((*denied)->find("\"version\":\"2.14.1\""), std::string::npos) << **denied;
  EXPECT_NE((*denied)->find("matches"), std::string::npos) << **denied;
  // The same gate over sbomOf, and a license rule over every component.
  auto by_sub =
      Deny("none(sbomOf('web').components, {.name == 'log4j-core'})", FreightOf("reg/web:v1"));
  ASSERT_TRUE(by_sub);
  EXPECT_TRUE(*by_sub);
  auto licenses = Deny("all(sbom.components, {len(.licenses) > 0}) && sbom.format == 'CycloneDX'",
                       FreightOf("reg/web:v1"));
  ASSERT_TRUE(licenses);
  EXPECT_FALSE(*licenses) << **licenses;
}

TEST_F(CriteriaTest, AnSbomGateAdmitsAFixedVersion) {
  RecordArtifact("reg/web:v1", "85", "Succeeded", Sbom("2.17.1"));
  auto denied =
      Deny("none(sbom.components, {.name == 'log4j-core' && semverMatches(.version, '<2.17.1')})",
           FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied) << denied.error().message;
  EXPECT_FALSE(*denied) << **denied;
}

TEST_F(CriteriaTest, NoSbomOrOneThatWasNotRecordedDeniesFailingClosed) {
  // A deny-list must not pass because there was nothing to look at.
  RecordArtifact("reg/web:v1", "85");
  const std::string gate = "none(sbom.components, {.name == 'log4j-core'})";
  auto none = Deny(gate, FreightOf("reg/web:v1"));
  ASSERT_TRUE(none) << none.error().message;
  ASSERT_TRUE(*none);
  EXPECT_NE((*none)->find("has no SBOM: PipelineRun build-42 gave no SBOM_BLOB_URL result"),
            std::string::npos)
      << **none;
  auto of = Deny("none(sbomOf('web').components, {.name == 'x'})", FreightOf("reg/web:v1"));
  ASSERT_TRUE(of);
  ASSERT_TRUE(*of);
  EXPECT_NE((*of)->find("has no SBOM"), std::string::npos) << **of;

  RecordArtifact("reg/web:v2", "85", "Succeeded",
                 {{"sbomProblems", Json::array({"sbom.json: components[0].name: missing"})}});
  auto bad = Deny(gate, FreightOf("reg/web:v2"));
  ASSERT_TRUE(bad);
  ASSERT_TRUE(*bad);
  EXPECT_NE((*bad)->find("was not recorded: sbom.json: components[0].name: missing"),
            std::string::npos)
      << **bad;
}

TEST_F(CriteriaTest, AWordInAStringOrAFunctionsNameReadsNoSbomOrProvenance) {
  // No SBOM recorded: a criterion that only mentions the word is not denied
  // for want of one.
  RecordArtifact("reg/web:v1", "85");
  auto denied =
      Deny("evidence('test').SUITE != 'sbom' && \"provenance\" != 'x'", FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied) << denied.error().message;
  EXPECT_FALSE(*denied) << **denied;
  EXPECT_TRUE(asked_.empty());
}

TEST_F(CriteriaTest, SemverMatchesWantsAVersionAndAConstraint) {
  RecordArtifact("reg/web:v1", "85", "Succeeded", Sbom("not-a-version"));
  auto denied =
      Deny("none(sbom.components, {semverMatches(.version, '<2.17.1')})", FreightOf("reg/web:v1"));
  ASSERT_TRUE(denied);
  ASSERT_TRUE(*denied);
  EXPECT_NE((*denied)->find("\"not-a-version\" is not a semantic version"), std::string::npos)
      << **denied;
  auto constraint = Deny("semverMatches('1.2.3', '^1.x.y')", FreightOf("reg/web:v1"));
  ASSERT_TRUE(constraint);
  ASSERT_TRUE(*constraint);
  EXPECT_NE((*constraint)->find("1.x.y"), std::string::npos) << **constraint;
  auto yes = Deny("semverMatches('v1.4.0', '^1.2') && !semverMatches('2.0.0', '^1.2')",
                  FreightOf("reg/web:v1"));
  ASSERT_TRUE(yes);
  EXPECT_FALSE(*yes) << **yes;
}

}  // namespace
}  // namespace strake::delivery
