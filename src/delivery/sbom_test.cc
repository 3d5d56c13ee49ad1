#include "delivery/sbom.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "delivery/artifact.h"
#include "images/test_registry.h"
#include "store/temp_store.h"

namespace strake::delivery {
namespace {

const std::string kImage = "sha256:" + std::string(64, 'a');
const std::string kWeb = "sha256:" + std::string(64, 'b');
const std::string kSbomDigest = "sha256:" + std::string(64, 'c');

Json Results(std::initializer_list<std::pair<const char*, Json>> items) {
  Json out = Json::array();
  for (const auto& [name, value] : items) out.push_back({{"name", name}, {"value", value}});
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The CycloneDX 1.6 example of tests/sbom/ (the spec's own).
std::string Example() { return ReadFile(STRAKE_SOURCE_DIR "/tests/sbom/cyclonedx-1.6.json"); }

store::Resource TaskRun(const std::string& name, const Json& results) {
  store::Resource tr;
  tr.key = {"TaskRun", "demo", name};
  tr.status = {{"results", results}};
  return tr;
}

std::optional<SbomReference> Find(const Json& run_results,
                                  const std::vector<store::Resource>& task_runs = {},
                                  size_t which = 0) {
  model::TypeHints hints = model::ReadTypeHints(run_results);
  EXPECT_GT(hints.artifacts.size(), which);
  return FindSbomReference(hints.artifacts.at(which), run_results, hints.artifacts, task_runs);
}

TEST(SbomReference, KonfluxsResultGoesWithTheRunsOnlyArtifact) {
  auto ref = Find(Results({{"IMAGE_URL", "reg:5000/web:v1"},
                           {"IMAGE_DIGEST", kImage},
                           {"SBOM_BLOB_URL", "reg:5000/web@" + kSbomDigest + "\n"}}));
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->problem, "");
  EXPECT_EQ(ref->result, "SBOM_BLOB_URL");
  EXPECT_EQ(ref->task_run, "");
  EXPECT_EQ(ref->repository, "reg:5000/web");
  EXPECT_EQ(ref->digest, kSbomDigest);
  EXPECT_EQ(ref->reference, "reg:5000/web@" + kSbomDigest);
}

TEST(SbomReference, AStemPairsTheSbomWithItsArtifactAmongSeveral) {
  const Json results = Results({{"IMAGE_URL", "reg.example/api"},
                                {"IMAGE_DIGEST", kImage},
                                {"WEB_IMAGE_URL", "reg.example/web"},
                                {"WEB_IMAGE_DIGEST", kWeb},
                                {"WEB_SBOM_BLOB_URL", "reg.example/web@" + kSbomDigest},
                                {"SBOM_BLOB_URL", "reg.example/api@" + kSbomDigest}});
  model::TypeHints hints = model::ReadTypeHints(results);
  ASSERT_EQ(hints.artifacts.size(), 2u);
  for (const auto& a : hints.artifacts) {
    auto ref = FindSbomReference(a, results, hints.artifacts, {});
    if (a.result == "WEB_IMAGE") {
      ASSERT_TRUE(ref);
      EXPECT_EQ(ref->repository, "reg.example/web");
    } else {
      // A bare SBOM_BLOB_URL says nothing of which of two artifacts it is.
      EXPECT_FALSE(ref) << ref->reference;
    }
  }
}

TEST(SbomReference, TheTaskThatBuiltTheArtifactGivesItsSbom) {
  // Konflux's build task: IMAGE_DIGEST and SBOM_BLOB_URL on the TaskRun;
  // the pipeline passes only the image on.
  const Json run = Results({{"IMAGE_URL", "reg.example/web:v1"}, {"IMAGE_DIGEST", kImage}});
  std::vector<store::Resource> trs = {
      TaskRun("build-42-clone", Results({{"commit", "c0ffee"}})),
      TaskRun("build-42-other", Results({{"IMAGE_URL", "reg.example/other"},
                                         {"IMAGE_DIGEST", kWeb},
                                         {"SBOM_BLOB_URL", "reg.example/other@" + kSbomDigest}})),
      TaskRun("build-42-build", Results({{"IMAGE_URL", "reg.example/web:v1"},
                                         {"IMAGE_DIGEST", kImage},
                                         {"SBOM_BLOB_URL", "reg.example/web@" + kSbomDigest}}))};
  auto ref = Find(run, trs);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->task_run, "build-42-build");
  EXPECT_EQ(ref->repository, "reg.example/web");
  EXPECT_FALSE(Find(Results({{"IMAGE_URL", "reg.example/web:v1"}, {"IMAGE_DIGEST", kImage}}),
                    {trs[0], trs[1]}));
}

TEST(SbomReference, AnImagesSbomInAnotherRepositoryIsAProblem) {
  // Any image's clean SBOM would do, were it taken from anywhere.
  auto ref = Find(Results({{"IMAGE_URL", "reg.example/web:v1"},
                           {"IMAGE_DIGEST", kImage},
                           {"SBOM_BLOB_URL", "reg.example/clean@" + kSbomDigest}}));
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->problem, "result SBOM_BLOB_URL: \"reg.example/clean@" + kSbomDigest +
                              "\" is not in the image's repository reg.example/web");
}

TEST(SbomReference, AResultThatIsNoPinnedReferenceIsAProblem) {
  for (const char* bad :
       {"reg.example/web:latest", "not a reference", "oci:/srv/layout@sha256:abc"}) {
    auto ref = Find(Results(
        {{"IMAGE_URL", "reg.example/web"}, {"IMAGE_DIGEST", kImage}, {"SBOM_BLOB_URL", bad}}));
    ASSERT_TRUE(ref) << bad;
    EXPECT_NE(ref->problem.find("is not <repository>@sha256:<digest>"), std::string::npos)
        << ref->problem;
    Json record = SbomRecord(*ref, std::string());
    ASSERT_TRUE(record.contains("sbomProblems"));
    EXPECT_EQ(record["sbomProblems"][0], ref->problem);
  }
}

SbomReference Ref() {
  return {"SBOM_BLOB_URL", "", "reg.example/web@" + kSbomDigest, "reg.example/web", kSbomDigest, "",
          std::nullopt};
}

TEST(SbomRecord, ADocumentIsRecordedAsItsComponents) {
  Json r = SbomRecord(Ref(), Example());
  ASSERT_TRUE(r.contains("sbom")) << r.dump();
  EXPECT_EQ(r["sbom"]["format"], "CycloneDX");
  EXPECT_EQ(r["sbom"]["specVersion"], "1.6");
  EXPECT_EQ(r["sbom"]["reference"], "reg.example/web@" + kSbomDigest);
  EXPECT_EQ(r["sbom"]["digest"], kSbomDigest);
  EXPECT_EQ(r["sbom"]["result"], "SBOM_BLOB_URL");
  EXPECT_FALSE(r["sbom"]["components"].empty());
}

TEST(SbomRecord, WhatIsNoSbomOrWasNotFetchedIsAProblemWithItsFieldPath) {
  Json bad = SbomRecord(Ref(), R"({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                   "components": [{"type": "library"}]})");
  ASSERT_TRUE(bad.contains("sbomProblems")) << bad.dump();
  EXPECT_EQ(bad["sbomProblems"][0],
            "reg.example/web@" + kSbomDigest + ": components[0].name: missing");
  Json gone = SbomRecord(Ref(), Fail(ErrorCode::kNotFound, "the registry has no blob"));
  EXPECT_EQ(gone["sbomProblems"][0],
            "SBOM \"reg.example/web@" + kSbomDigest +
                "\" (SBOM_BLOB_URL): not fetched: the registry has no blob");
}

TEST(SbomRecord, MoreComponentsThanAnArtifactRecordsIsAProblem) {
  Json doc = {{"bomFormat", "CycloneDX"}, {"specVersion", "1.6"}, {"components", Json::array()}};
  for (size_t i = 0; i <= kMaxRecordedSbomComponents; ++i)
    doc["components"].push_back({{"type", "library"}, {"name", "c" + std::to_string(i)}});
  Json r = SbomRecord(Ref(), doc.dump());
  ASSERT_TRUE(r.contains("sbomProblems")) << r.dump().substr(0, 200);
  EXPECT_NE(r["sbomProblems"][0].get<std::string>().find(
                "10001 components: an Artifact records at most 10000"),
            std::string::npos);
}

class SbomRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = store::TempStore::Make("strake-sbom-test");
    ASSERT_TRUE(t) << t.error().message;
    temp_ = std::move(*t);
  }
  store::Store& st() { return temp_.store(); }

  void MakeRun(const std::string& name, const Json& results) {
    store::Resource run;
    run.key = {"PipelineRun", "demo", name};
    run.object = {{"apiVersion", "tekton.dev/v1"}, {"kind", "PipelineRun"}};
    run.status = {{"conditions", Json::array({{{"type", "Succeeded"}, {"status", "True"}}})},
                  {"completionTime", FormatRfc3339(finished_)},
                  {"results", results}};
    ASSERT_TRUE(st().Create(run, "Created", ""));
  }
  std::vector<store::Resource> Artifacts() { return *st().List("Artifact", "demo"); }

  ArtifactRecorder Recorder() {
    ArtifactRecorder rec(st());
    rec.SetSbomFetcher(
        [this](const std::string& ns, const std::string& repo, const std::string& digest,
               size_t max) -> Result<std::string> {
          asked_.push_back(ns + " " + repo + "@" + digest);
          EXPECT_EQ(max, kMaxSbomBytes);
          return answer_;
        },
        clock_);
    return rec;
  }

  const TimePoint finished_ = TimePoint{} + std::chrono::hours(24 * 365 * 50);
  FakeClock clock_{finished_ + std::chrono::seconds(5)};
  Result<std::string> answer_ = Example();
  std::vector<std::string> asked_;
  store::TempStore temp_;
};

const Json kBuilt = Results({{"IMAGE_URL", "reg.example/web:v1"},
                             {"IMAGE_DIGEST", kImage},
                             {"SBOM_BLOB_URL", "reg.example/web@" + kSbomDigest}});

TEST_F(SbomRecorderTest, TheSbomARunNamesIsRecordedWithItsArtifactOnce) {
  MakeRun("build-42", kBuilt);
  ArtifactRecorder rec = Recorder();
  auto done = rec.Reconcile("demo/build-42");
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_FALSE(done->requeue_after);
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  const Json& sbom = all[0].object["spec"]["sbom"];
  EXPECT_EQ(sbom["format"], "CycloneDX");
  EXPECT_EQ(sbom["reference"], "reg.example/web@" + kSbomDigest);
  EXPECT_FALSE(sbom["components"].empty());
  EXPECT_EQ(asked_, std::vector<std::string>{"demo reg.example/web@" + kSbomDigest});
  // Looked at again (a restart): recorded, so not fetched again.
  ASSERT_TRUE(rec.Reconcile("demo/build-42"));
  EXPECT_EQ(asked_.size(), 1u);
}

TEST_F(SbomRecorderTest, ARegistryThatIsDownHoldsTheArtifactBackThenItsProblemIsRecorded) {
  MakeRun("build-42", kBuilt);
  answer_ = Fail(ErrorCode::kUnavailable, "GET http://reg/v2/web/blobs/…: connection refused");
  ArtifactRecorder rec = Recorder();
  auto wait = rec.Reconcile("demo/build-42");
  ASSERT_TRUE(wait) << wait.error().message;
  EXPECT_EQ(wait->requeue_after, std::chrono::milliseconds(kSbomRetry));
  EXPECT_TRUE(Artifacts().empty());
  // Still young: still waiting.
  clock_.Advance(std::chrono::minutes(5));
  ASSERT_TRUE(rec.Reconcile("demo/build-42"));
  EXPECT_TRUE(Artifacts().empty());
  // Past kSbomPatience: recorded, with why it has no SBOM.
  clock_.Advance(kSbomPatience);
  auto done = rec.Reconcile("demo/build-42");
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->requeue_after);
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].object["spec"].contains("sbom"));
  EXPECT_NE(all[0].object["spec"]["sbomProblems"][0].get<std::string>().find(
                "not fetched: GET http://reg/v2/web/blobs/…: connection refused"),
            std::string::npos);
}

TEST_F(SbomRecorderTest, ABlobThatIsNotItsDigestIsRecordedAsAProblemAtOnce) {
  MakeRun("build-42", kBuilt);
  answer_ = Fail(ErrorCode::kInvalid, "blob does not match its digest");
  auto done = Recorder().Reconcile("demo/build-42");
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->requeue_after);
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_NE(all[0].object["spec"]["sbomProblems"][0].get<std::string>().find("does not match"),
            std::string::npos);
}

TEST_F(SbomRecorderTest, AnSbomGivenAsAResultIsReadFromItWithoutAFetch) {
  // A small SBOM as the build task's object result (Tekton's object
  // results hold JSON), paired with the image that task built.
  const Json doc = Json::parse(Example());
  MakeRun("build-42", Results({{"IMAGE_URL", "reg.example/web:v1"}, {"IMAGE_DIGEST", kImage}}));
  store::Resource tr;
  tr.key = {"TaskRun", "demo", "build-42-build"};
  tr.owner = (*st().Get({"PipelineRun", "demo", "build-42"}))->uid;
  tr.object = {{"kind", "TaskRun"}};
  tr.status = {
      {"results",
       Results({{"IMAGE_URL", "reg.example/web:v1"}, {"IMAGE_DIGEST", kImage}, {"SBOM", doc}})}};
  ASSERT_TRUE(st().Create(tr, "Created", ""));
  ASSERT_TRUE(Recorder().Reconcile("demo/build-42"));
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  const Json& sbom = all[0].object["spec"]["sbom"];
  EXPECT_EQ(sbom["reference"], "result SBOM of TaskRun build-42-build");
  EXPECT_EQ(sbom["digest"], "sha256:" + Sha256Hex(doc.dump()));
  EXPECT_FALSE(sbom["components"].empty());
  EXPECT_TRUE(asked_.empty());
}

TEST_F(SbomRecorderTest, ARunWithoutAnSbomIsRecordedWithoutOne) {
  MakeRun("build-42", Results({{"IMAGE_URL", "reg.example/web:v1"}, {"IMAGE_DIGEST", kImage}}));
  ASSERT_TRUE(Recorder().Reconcile("demo/build-42"));
  auto all = Artifacts();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_FALSE(all[0].object["spec"].contains("sbom"));
  EXPECT_FALSE(all[0].object["spec"].contains("sbomProblems"));
  EXPECT_TRUE(asked_.empty());
}

TEST(RegistrySbomFetcher, FetchesTheBlobFromARegistryAndChecksItsDigest) {
  images::TestRegistry registry;
  if (!registry.Start()) GTEST_SKIP() << "docker-registry is not installed";
  auto dir = MakeTempDir("sbom-blob");
  ASSERT_TRUE(dir);
  const std::string doc = Example();
  const std::string file = PathJoin(*dir, "sbom.json");
  ASSERT_TRUE(WriteFileAtomic(file, doc));
  // As `cosign attach sbom` does: the document is a blob of the repository.
  registry.Push("team/web", "sha256-abc.sbom", "--layer " + file);
  auto t = store::TempStore::Make("strake-sbom-fetch");
  ASSERT_TRUE(t);
  SbomFetcher fetch = RegistrySbomFetcher(t->store(), EgressPolicy::Open(), {});
  const std::string repo = registry.host() + "/team/web";
  const std::string digest = "sha256:" + Sha256Hex(doc);
  auto got = fetch("demo", repo, digest, kMaxSbomBytes);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, doc);
  auto small = fetch("demo", repo, digest, 100);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, ErrorCode::kInvalid);
  auto missing = fetch("demo", repo, "sha256:" + std::string(64, 'd'), kMaxSbomBytes);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(SbomFetchMayPass(missing.error()));
  registry.Stop();
  auto down = fetch("demo", repo, digest, kMaxSbomBytes);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(SbomFetchMayPass(down.error()));
  (void)RemoveAll(*dir);
}

}  // namespace
}  // namespace strake::delivery
