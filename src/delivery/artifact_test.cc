#include "delivery/artifact.h"

#include <gtest/gtest.h>

#include <string>

#include "store/temp_store.h"

namespace strake::delivery {
namespace {

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

Json Results(std::initializer_list<std::pair<const char*, Json>> items) {
  Json out = Json::array();
  for (const auto& [name, value] : items) out.push_back({{"name", name}, {"value", value}});
  return out;
}

TEST(TypeHints, ChainsHintsAreReadAsWhatTheRunBuilt) {
  TypeHints h = ReadTypeHints(Results({{"IMAGE_URL", "reg:5000/web:v1\n"},
                                       {"IMAGE_DIGEST", kDigestA + "\n"},
                                       {"API_IMAGE_URL", "reg:5000/api"},
                                       {"API_IMAGE_DIGEST", kDigestB},
                                       {"ARTIFACT_URI", "pkg:generic/app.tar"},
                                       {"ARTIFACT_DIGEST", kDigestB},
                                       {"COVERAGE", "78.3"}}));
  EXPECT_TRUE(h.problems.empty()) << h.problems.front();
  ASSERT_EQ(h.artifacts.size(), 3u);
  EXPECT_EQ(h.artifacts[0].result, "API_IMAGE");
  EXPECT_EQ(h.artifacts[0].type, "image");
  EXPECT_EQ(h.artifacts[1].result, "ARTIFACT");
  EXPECT_EQ(h.artifacts[1].type, "artifact");
  EXPECT_EQ(h.artifacts[2].uri, "reg:5000/web:v1");  // trimmed
  EXPECT_EQ(h.artifacts[2].digest, kDigestA);
}

TEST(TypeHints, ArtifactOutputsAndImagesListsAreRead) {
  Json outputs = {{"uri", "pkg:generic/cli"}, {"digest", kDigestA}};
  TypeHints h = ReadTypeHints(
      Results({{"BIN_ARTIFACT_OUTPUTS", outputs},
               {"IMAGES", "reg/a@" + kDigestA + ",\nreg/b@" + kDigestB + "\nreg/a@" + kDigestA}}));
  EXPECT_TRUE(h.problems.empty());
  ASSERT_EQ(h.artifacts.size(), 3u);  // reg/a once
  EXPECT_EQ(h.artifacts[0].result, "BIN_ARTIFACT");
  EXPECT_EQ(h.artifacts[1].uri, "reg/a");
  EXPECT_EQ(h.artifacts[2].uri, "reg/b");
}

TEST(TypeHints, AHintThatBuildsNothingIsSaidAndNotGuessed) {
  TypeHints h = ReadTypeHints(Results({{"IMAGE_URL", "reg/web"},
                                       {"X_IMAGE_URL", "reg/x"},
                                       {"X_IMAGE_DIGEST", "sha256:abc"},
                                       {"Y_ARTIFACT_URI", "u"},
                                       {"Y_ARTIFACT_DIGEST", "md5:" + std::string(32, 'a')},
                                       {"IMAGES", "reg/no-digest"},
                                       {"Z_ARTIFACT_OUTPUTS", "not an object"}}));
  EXPECT_TRUE(h.artifacts.empty());
  ASSERT_EQ(h.problems.size(), 5u);
  std::string all;
  for (const auto& p : h.problems) all += p + "\n";
  EXPECT_NE(all.find("result IMAGE_URL has no IMAGE_DIGEST"), std::string::npos) << all;
  EXPECT_NE(all.find("is not 64 lower-case hex digits"), std::string::npos) << all;
  EXPECT_NE(all.find("is not sha256, sha384 or sha512"), std::string::npos) << all;
  EXPECT_NE(all.find("has no @digest"), std::string::npos) << all;
  EXPECT_NE(all.find("is not an object"), std::string::npos) << all;
}

TEST(ArtifactNames, NamedByTheFingerprintOfUriAndDigest) {
  EXPECT_EQ(ArtifactName("reg/web", kDigestA), ArtifactName("reg/web", kDigestA));
  EXPECT_NE(ArtifactName("reg/web", kDigestA), ArtifactName("reg/web", kDigestB));
  EXPECT_NE(ArtifactName("reg/web", kDigestA), ArtifactName("reg/api", kDigestA));
  EXPECT_EQ(ArtifactName("reg/web", kDigestA).size(), 40u);
}

TEST(ArtifactNames, ImageRepositoryAndTagAreReadAsARegistryWritesThem) {
  EXPECT_EQ(ImageRepoAndTag("reg:5000/web:v1"),
            std::make_pair(std::string("reg:5000/web"), std::string("v1")));
  EXPECT_EQ(ImageRepoAndTag("reg:5000/web"),
            std::make_pair(std::string("reg:5000/web"), std::string()));
  EXPECT_EQ(ImageRepoAndTag("web:v2@" + kDigestA),
            std::make_pair(std::string("web"), std::string("v2")));
}

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("strake-artifact-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
  }
  store::Store& st() { return temp_.store(); }

  // A run of Pipeline "build" from a push, with a test task's results.
  void MakeRun(const std::string& name, const std::string& outcome, const Json& results) {
    store::Resource run;
    run.key = {"PipelineRun", "demo", name};
    run.labels = {{"tekton.dev/pipeline", "build"}};
    run.object = {{"apiVersion", "tekton.dev/v1"},
                  {"kind", "PipelineRun"},
                  {"metadata",
                   {{"name", name},
                    {"namespace", "demo"},
                    {"annotations",
                     {{"pipelinesascode.tekton.dev/repo-url", "http://127.0.0.1/app.git"},
                      {"pipelinesascode.tekton.dev/sha", std::string(40, 'c')},
                      {"pipelinesascode.tekton.dev/branch", "main"}}}}}};
    // The push as the engine kept it at submission; a later patch of the
    // annotations (here: a branch made up) changes nothing.
    run.object["metadata"]["annotations"]["pipelinesascode.tekton.dev/branch"] = "forged";
    run.status = {{"conditions", Json::array({{{"type", "Succeeded"}, {"status", outcome}}})},
                  {"completionTime", "2026-12-06T10:00:00Z"},
                  {"results", results},
                  {"strake",
                   {{"source",
                     {{"pipeline", "build"},
                      {"repoURL", "http://127.0.0.1/app.git"},
                      {"commit", std::string(40, 'c')},
                      {"branch", "main"}}}}}};
    auto made = st().Create(run, "Created", "");
    ASSERT_TRUE(made) << made.error().message;
    store::Resource tr;
    tr.key = {"TaskRun", "demo", name + "-test"};
    tr.owner = made->uid;
    tr.labels = {{"tekton.dev/pipelineTask", "test"}, {"tekton.dev/pipelineRun", name}};
    tr.object = {{"apiVersion", "tekton.dev/v1"}, {"kind", "TaskRun"}};
    tr.status = {{"conditions", Json::array({{{"type", "Succeeded"}, {"status", "True"}}})},
                 {"results", Results({{"COVERAGE", "78.3\n"}, {"REPORT", "ok"}})}};
    ASSERT_TRUE(st().Create(tr, "Created", ""));
  }

  std::vector<store::Resource> Artifacts() { return *st().List("Artifact", "demo"); }

  store::TempStore temp_;
};

TEST_F(RecorderTest, ASucceededRunRecordsWhatItBuiltWithItsEvidenceOnce) {
  MakeRun("build-42", "True", Results({{"IMAGE_URL", "reg/web:v1"}, {"IMAGE_DIGEST", kDigestA}}));
  ArtifactRecorder rec(st());
  ASSERT_TRUE(rec.Reconcile("demo/build-42"));
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  const Json spec = all[0].object["spec"];
  EXPECT_EQ(all[0].key.name, ArtifactName("reg/web:v1", kDigestA));
  EXPECT_EQ(spec["type"], "image");
  EXPECT_EQ(spec["uri"], "reg/web:v1");
  EXPECT_EQ(spec["builtBy"]["pipelineRun"], "build-42");
  EXPECT_EQ(spec["builtBy"]["pipeline"], "build");
  EXPECT_EQ(spec["builtBy"]["commit"], std::string(40, 'c'));
  EXPECT_EQ(spec["builtBy"]["branch"], "main");
  EXPECT_EQ(spec["evidence"]["test"]["results"]["COVERAGE"], "78.3");
  EXPECT_EQ(spec["evidence"]["test"]["taskRun"], "build-42-test");
  EXPECT_EQ(spec["evidence"]["test"]["status"], "Succeeded");
  const int64_t version = all[0].resource_version;
  // Looked at again (a restart): nothing is written.
  ASSERT_TRUE(rec.Reconcile("demo/build-42"));
  ASSERT_EQ(Artifacts().size(), 1u);
  EXPECT_EQ(Artifacts()[0].resource_version, version);
}

TEST_F(RecorderTest, ARunThatDidNotSucceedRecordsNothing) {
  MakeRun("build-43", "False", Results({{"IMAGE_URL", "reg/web:v1"}, {"IMAGE_DIGEST", kDigestA}}));
  ArtifactRecorder rec(st());
  ASSERT_TRUE(rec.Reconcile("demo/build-43"));
  ASSERT_TRUE(rec.Reconcile("demo/missing"));
  EXPECT_TRUE(Artifacts().empty());
}

TEST_F(RecorderTest, TheSameBytesBuiltAgainAreTheSameArtifactNeverRewritten) {
  MakeRun("build-1", "True", Results({{"IMAGE_URL", "reg/web"}, {"IMAGE_DIGEST", kDigestA}}));
  MakeRun("build-2", "True", Results({{"IMAGE_URL", "reg/web"}, {"IMAGE_DIGEST", kDigestA}}));
  ArtifactRecorder rec(st());
  ASSERT_TRUE(rec.Reconcile("demo/build-1"));
  ASSERT_TRUE(rec.Reconcile("demo/build-2"));
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].object["spec"]["builtBy"]["pipelineRun"], "build-1");
}

TEST_F(RecorderTest, AnArtifactInAStageIsInUse) {
  MakeRun("build-42", "True", Results({{"IMAGE_URL", "reg/web"}, {"IMAGE_DIGEST", kDigestA}}));
  ASSERT_TRUE(ArtifactRecorder(st()).Reconcile("demo/build-42"));
  store::Resource artifact = Artifacts()[0];
  store::Resource f;
  f.key = {"Freight", "demo", std::string(40, 'f')};
  f.object = {{"alias", "brave-otter"},
              {"artifacts", Json::array({{{"artifactType", "image"},
                                          {"subscriptionName", "web"},
                                          {"version", kDigestA},
                                          {"metadata", {{"uri", "reg/web"}}}}})}};
  f.status = Json::object();
  auto made = st().Create(f, "Created", "");
  ASSERT_TRUE(made);
  auto users = ArtifactUsers(st(), artifact);
  ASSERT_TRUE(users);
  EXPECT_TRUE(users->empty());  // referenced, but in no Stage
  ASSERT_TRUE(st().UpdateStatus(f.key, {{"currentlyIn", {{"dev", Json::object()}}}},
                                made->resource_version, "Promoted", ""));
  users = ArtifactUsers(st(), artifact);
  ASSERT_TRUE(users);
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0], "Freight " + std::string(40, 'f') + " (brave-otter) in Stage dev");
}

TEST(FreightFunctions, ArtifactFromImageFromAndTheCommitsArtifactsWereBuiltFrom) {
  Json freight = {{"commits", Json::array({{{"repoURL", "http://h/config.git"}, {"id", "1111"}}})},
                  {"artifacts", Json::array({{{"artifactType", "image"},
                                              {"subscriptionName", "web"},
                                              {"version", kDigestA},
                                              {"metadata",
                                               {{"uri", "reg:5000/web:v1"},
                                                {"repoURL", "http://h/app.git"},
                                                {"commit", "2222"},
                                                {"branch", "main"}}}}})}};
  Json commits = CommitsOf(freight);
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[1]["id"], "2222");
  EXPECT_EQ(commits[1]["branch"], "main");
  auto from = ArtifactFrom(freight["artifacts"])({"web"});
  ASSERT_TRUE(from);
  EXPECT_EQ((*from)["Version"], kDigestA);
  EXPECT_EQ((*from)["Metadata"]["commit"], "2222");
  EXPECT_FALSE(ArtifactFrom(freight["artifacts"])({"api"}));
  auto image = ImageFrom(freight["artifacts"])({"reg:5000/web"});
  ASSERT_TRUE(image);
  EXPECT_EQ((*image)["Tag"], "v1");
  EXPECT_EQ((*image)["Digest"], kDigestA);
  EXPECT_FALSE(ImageFrom(freight["artifacts"])({"reg:5000/api"}));
}

}  // namespace
}  // namespace strake::delivery
