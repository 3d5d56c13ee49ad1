#include "insight/provenance.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "base/fs.h"
#include "base/sha256.h"
#include "insight/dora_test_util.h"

namespace strake::insight {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kTarDigest = "sha256:" + std::string(64, 'b');
const std::string kBusybox = "sha256:" + std::string(64, 'c');

// A finished PipelineRun of a push, whose `build` task built an image
// (the pipeline's result says so) and whose `package` task built a tarball
// that no pipeline result mentions (deep inspection finds it).
store::Resource BuildRun() {
  store::Resource r;
  r.key = {"PipelineRun", "demo", "build-42"};
  r.uid = "11111111-2222-4333-8444-555555555555";
  r.labels = {{"tekton.dev/pipeline", "build"}};
  r.object = {{"apiVersion", "tekton.dev/v1"},
              {"kind", "PipelineRun"},
              {"metadata", {{"name", "build-42"}, {"namespace", "demo"}}},
              {"spec",
               {{"pipelineRef", {{"name", "build"}}},
                {"params", {{{"name", "revision"}, {"value", "main"}}}}}}};
  r.status = {
      {"startTime", "2026-12-07T10:00:00Z"},
      {"completionTime", "2026-12-07T10:01:00Z"},
      {"conditions", {{{"type", "Succeeded"}, {"status", "True"}, {"reason", "Succeeded"}}}},
      {"pipelineSpec",
       {{"params", {{{"name", "revision"}, {"default", "main"}}}},
        {"tasks", {{{"name", "build"}, {"taskSpec", {{"steps", Json::array()}}}}}}}},
      {"results",
       {{{"name", "IMAGE_URL"}, {"value", "127.0.0.1:5000/web:v1\n"}},
        {{"name", "IMAGE_DIGEST"}, {"value", kDigest}}}},
      {"strake",
       {{"pipeline", "build"},
        {"executor", {{"sandbox", true}}},
        {"source",
         {{"repoURL", "http://127.0.0.1:8929/app.git"},
          {"commit", std::string(40, 'e')},
          {"branch", "main"}}}}}};
  return r;
}

store::Resource TaskRun(const std::string& task, Json results) {
  store::Resource r;
  r.key = {"TaskRun", "demo", "build-42-" + task};
  r.uid = "99999999-2222-4333-8444-55555555555" + std::to_string(task.size() % 10);
  r.owner = BuildRun().uid;
  r.labels = {{"tekton.dev/pipelineRun", "build-42"}, {"tekton.dev/pipelineTask", task}};
  r.object = {{"apiVersion", "tekton.dev/v1"},
              {"kind", "TaskRun"},
              {"metadata", {{"name", r.key.name}, {"namespace", "demo"}}},
              {"spec", {{"params", Json::array()}}}};
  r.status = {
      {"startTime", "2026-12-07T10:00:01Z"},
      {"completionTime", "2026-12-07T10:00:30Z"},
      {"steps", {{{"name", "compile"}, {"imageID", "127.0.0.1:5000/busybox:1.36@" + kBusybox}}}},
      {"results", std::move(results)}};
  return r;
}

Json Package() {
  return TaskRun("package", {{{"name", "TAR_ARTIFACT_OUTPUTS"},
                              {"value", {{"uri", "file:///out/app.tar"}, {"digest", kTarDigest}}}},
                             {{"name", "CHAINS-GIT_URL"}, {"value", "http://127.0.0.1:8929/lib"}},
                             {{"name", "CHAINS-GIT_COMMIT"}, {"value", std::string(40, 'f')}}})
      .status;
}

TEST(ProvenanceStatement, APipelineRunsStatementIsChainsSlsaV1WithEverySubjectUnderIt) {
  store::Resource build = TaskRun("build", Json::array());
  store::Resource package = TaskRun("package", Json::array());
  package.status = Package();
  Json st = PipelineRunStatement(BuildRun(), {build, package}, {}, {});
  EXPECT_EQ(st["_type"], "https://in-toto.io/Statement/v1");
  EXPECT_EQ(st["predicateType"], "https://slsa.dev/provenance/v1");
  ASSERT_EQ(st["subject"].size(), 2U) << st["subject"].dump();
  EXPECT_EQ(st["subject"][0]["name"], "127.0.0.1:5000/web");  // the repository, no tag
  EXPECT_EQ(st["subject"][0]["digest"]["sha256"], std::string(64, 'a'));
  EXPECT_EQ(st["subject"][1]["name"], "file:///out/app.tar");  // found in a task's results
  const Json& def = st["predicate"]["buildDefinition"];
  EXPECT_EQ(def["buildType"], "https://tekton.dev/chains/v2/slsa");
  EXPECT_EQ(def["externalParameters"]["runSpec"]["pipelineRef"]["name"], "build");
  EXPECT_EQ(def["internalParameters"]["strake.dev/executor"]["sandbox"], true);
  EXPECT_EQ(def["internalParameters"]["strake.dev/run"]["namespace"], "demo");
  EXPECT_EQ(def["internalParameters"]["strake.dev/run"]["uid"], BuildRun().uid);
  const Json& deps = def["resolvedDependencies"];
  ASSERT_EQ(deps.size(), 4U) << deps.dump(2);
  EXPECT_EQ(deps[0]["name"], "pipeline");
  EXPECT_EQ(deps[0]["uri"], "strake:pipeline/build");
  EXPECT_EQ(deps[0]["digest"]["sha256"], Sha256Hex(BuildRun().status["pipelineSpec"].dump()));
  EXPECT_EQ(deps[1]["name"], "inputs/result");
  EXPECT_EQ(deps[1]["uri"], "git+http://127.0.0.1:8929/app.git@refs/heads/main");
  EXPECT_EQ(deps[1]["digest"]["sha1"], std::string(40, 'e'));
  EXPECT_EQ(deps[1]["annotations"]["strake.dev/source"], "push");  // what the server saw
  EXPECT_FALSE(deps[3].contains("annotations"));                   // what a task claimed
  // The step image once (both tasks used it), by repository.
  EXPECT_EQ(deps[2]["uri"], "oci://127.0.0.1:5000/busybox");
  EXPECT_EQ(deps[2]["digest"]["sha256"], std::string(64, 'c'));
  // A task's CHAINS-GIT_* results: Chains' SPDX form ("git+…", ".git").
  EXPECT_EQ(deps[3]["uri"], "git+http://127.0.0.1:8929/lib.git");
  const Json& run = st["predicate"]["runDetails"];
  EXPECT_EQ(run["builder"]["id"], kDefaultBuilderId);
  EXPECT_EQ(run["metadata"]["invocationId"], BuildRun().uid);
  EXPECT_EQ(run["metadata"]["startedOn"], "2026-12-07T10:00:00Z");
  EXPECT_EQ(run["metadata"]["finishedOn"], "2026-12-07T10:01:00Z");
  ASSERT_EQ(run["byproducts"].size(), 2U);
  EXPECT_EQ(run["byproducts"][0]["name"], "pipelineRunResults/IMAGE_URL");
  EXPECT_EQ(run["byproducts"][0]["mediaType"], "application/json");
  EXPECT_EQ(*Base64Decode(run["byproducts"][0]["content"].get<std::string>()),
            "\"127.0.0.1:5000/web:v1\\n\"");
}

TEST(ProvenanceStatement, ATaskRunsStatementNamesItsTaskAndWhatItBuilt) {
  store::Resource package = TaskRun("package", Json::array());
  package.status = Package();
  Json spec = {{"steps", {{{"name", "tar"}}}}};
  Json st = TaskRunStatement(package, spec, BuildRun().status["strake"]["source"],
                             {"https://builder.example/x"});
  EXPECT_EQ(st["subject"][0]["name"], "file:///out/app.tar");
  EXPECT_EQ(st["subject"][0]["digest"]["sha256"], std::string(64, 'b'));
  const Json& deps = st["predicate"]["buildDefinition"]["resolvedDependencies"];
  EXPECT_EQ(deps[0]["name"], "task");
  EXPECT_EQ(deps[0]["digest"]["sha256"], Sha256Hex(spec.dump()));
  EXPECT_EQ(deps[1]["uri"], "git+http://127.0.0.1:8929/app.git@refs/heads/main");
  EXPECT_EQ(st["predicate"]["buildDefinition"]["internalParameters"]["strake.dev/run"]["name"],
            "build-42-package");
  EXPECT_EQ(st["predicate"]["runDetails"]["builder"]["id"], "https://builder.example/x");
  EXPECT_EQ(st["predicate"]["runDetails"]["byproducts"][0]["name"],
            "taskRunResults/TAR_ARTIFACT_OUTPUTS");
}

TEST(ProvenanceStatement, ARunThatBuiltNothingHasNoSubjectField) {
  store::Resource r = BuildRun();
  r.status["results"] = Json::array();
  Json st = PipelineRunStatement(r, {}, {}, {});
  EXPECT_FALSE(st.contains("subject"));
}

class ProvenanceRecorderTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    keys_ = std::make_unique<Keyring>(temp_.dir() + "/keys");
    recorder_ = std::make_unique<ProvenanceRecorder>(st(), *keys_);
  }
  void Put(store::Resource r) {
    Json status = r.status;
    auto made = st().Create(r, "Created", "");
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_TRUE(st().UpdateStatus(r.key, status, 0, "Updated", ""));
  }
  void Reconcile(const store::Key& k) {
    auto done = recorder_->Reconcile(ProvenanceRecorder::KeyOf(k));
    ASSERT_TRUE(done) << done.error().message;
  }
  // A recorded Artifact's spec, as delivery records it.
  Json ArtifactSpec(const std::string& digest) {
    return {{"uri", "127.0.0.1:5000/web:v1"},
            {"digest", digest},
            {"builtBy", {{"pipelineRun", "build-42"}, {"uid", BuildRun().uid}}}};
  }
  std::unique_ptr<Keyring> keys_;
  std::unique_ptr<ProvenanceRecorder> recorder_;
};

TEST_F(ProvenanceRecorderTest, AFinishedRunIsSignedOnceAndOpensslVerifiesIt) {
  store::Resource package = TaskRun("package", Json::array());
  package.status = Package();
  Put(BuildRun());
  Put(package);
  Reconcile(BuildRun().key);
  Reconcile(BuildRun().key);
  Reconcile(package.key);
  auto all = st().List("Attestation", "demo");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2U);
  auto att = st().Get({"Attestation", "demo", "pipelinerun-" + BuildRun().uid});
  ASSERT_TRUE(att && *att);
  const Json& spec = (*att)->object["spec"];
  EXPECT_EQ(spec["run"]["name"], "build-42");
  EXPECT_EQ(spec["subjects"].size(), 2U);
  EXPECT_EQ((*att)->labels.at("tekton.dev/pipelineRun"), "build-42");

  // The namespace's key was made once, readable by its owner only.
  struct stat sb {};
  ASSERT_EQ(::stat((temp_.dir() + "/keys/projects/demo.key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600U);
  ASSERT_EQ(::stat((temp_.dir() + "/keys").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700U);
  EXPECT_NE(*keys_->PublicKeyFor("other"), *keys_->PublicKeyFor("demo"));
  EXPECT_FALSE(keys_->KeyFor("../demo"));
  auto pub = keys_->PublicKeyFor("demo");
  ASSERT_TRUE(pub);
  EXPECT_EQ(spec["keyID"], EcKey::FromPem(*pub, "pub")->KeyId());

  // OpenSSL alone: the signature is ECDSA P-256 over SHA-256 of DSSE's PAE.
  auto env = model::EnvelopeFromJson(spec["envelope"]);
  ASSERT_TRUE(env);
  const std::string dir = temp_.dir();
  ASSERT_TRUE(WriteFile(dir + "/pub.pem", *pub));
  ASSERT_TRUE(WriteFile(dir + "/pae", DssePae(env->payload_type, env->payload)));
  ASSERT_TRUE(WriteFile(dir + "/sig", env->signatures[0].sig));
  std::string cmd = "openssl dgst -sha256 -verify " + dir + "/pub.pem -signature " + dir + "/sig " +
                    dir + "/pae >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST_F(ProvenanceRecorderTest, ARunStillRunningIsNotSigned) {
  store::Resource r = BuildRun();
  r.status.erase("completionTime");
  Put(r);
  Reconcile(r.key);
  auto all = st().List("Attestation", "demo");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_F(ProvenanceRecorderTest, AnArtifactsProvenanceVerifiesOnlyWhenSignedAndItsSubject) {
  Put(BuildRun());
  Json before = *ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kDigest));
  EXPECT_EQ(before["verified"], false);
  EXPECT_NE(before["reason"].get<std::string>().find("has no attestation"), std::string::npos);

  Reconcile(BuildRun().key);
  Json p = *ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kDigest));
  EXPECT_EQ(p["verified"], true) << p.dump();
  EXPECT_EQ(p["source"]["repo"], "http://127.0.0.1:8929/app.git");
  EXPECT_EQ(p["source"]["commit"], std::string(40, 'e'));
  EXPECT_EQ(p["buildType"], kChainsBuildType);
  EXPECT_EQ(p["pipelineRun"], "build-42");

  // A digest it did not build.
  Json other = *ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kTarDigest));
  EXPECT_EQ(other["verified"], false);
  EXPECT_NE(other["reason"].get<std::string>().find("no subject has digest"), std::string::npos);

  // An artifact recorded before Artifacts kept the uid: found by its run,
  // if the run of that name is the one that finished when it says.
  Json old = ArtifactSpec(kDigest);
  old["builtBy"].erase("uid");
  old["builtBy"]["finishedAt"] = "2026-12-07T10:01:00Z";
  EXPECT_EQ((*ArtifactProvenance(st(), *keys_, "demo", old))["verified"], true);
  old["builtBy"]["finishedAt"] = "2026-12-06T10:01:00Z";
  Json remade = *ArtifactProvenance(st(), *keys_, "demo", old);
  EXPECT_EQ(remade["verified"], false);
  EXPECT_NE(remade["reason"].get<std::string>().find("is gone"), std::string::npos);

  // The stored envelope changed behind the server's back: not verified.
  auto att = st().Get({"Attestation", "demo", "pipelinerun-" + BuildRun().uid});
  ASSERT_TRUE(att && *att);
  store::Resource changed = **att;
  auto env = model::EnvelopeFromJson(changed.object["spec"]["envelope"]);
  ASSERT_TRUE(env);
  env->payload.replace(env->payload.find("app.git"), 7, "evil.gi");
  changed.object["spec"]["envelope"] = model::EnvelopeToJson(*env);
  ASSERT_TRUE(st().Update(changed, changed.resource_version));
  Json forged = *ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kDigest));
  EXPECT_EQ(forged["verified"], false);
  EXPECT_NE(forged["reason"].get<std::string>().find("no signature"), std::string::npos)
      << forged.dump();
}

// CHAINS-GIT_URL is what a run says; only the push the server saw is a
// source a gate can trust.
TEST_F(ProvenanceRecorderTest, AClaimedSourceIsNeverTheSource) {
  store::Resource r = BuildRun();
  r.status["strake"].erase("source");
  r.object["spec"]["params"] = {{{"name", "CHAINS-GIT_URL"}, {"value", "http://git/trusted.git"}},
                                {{"name", "CHAINS-GIT_COMMIT"}, {"value", std::string(40, '1')}}};
  Put(r);
  Reconcile(r.key);
  Json p = *ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kDigest));
  EXPECT_EQ(p["verified"], true);
  EXPECT_EQ(p["source"]["repo"], "");
  EXPECT_EQ(p["claimedSources"][0]["repo"], "http://git/trusted.git");
}

// An envelope copied into another run's Attestation verifies, but is
// about the other run.
TEST_F(ProvenanceRecorderTest, AnotherRunsSignedStatementIsNotThisRunsProvenance) {
  store::Resource a = BuildRun();
  store::Resource b = BuildRun();
  b.key.name = "build-43";
  b.uid = "22222222-2222-4333-8444-555555555555";
  Put(a);
  Put(b);
  Reconcile(a.key);
  Reconcile(b.key);
  auto att_a = st().Get({"Attestation", "demo", "pipelinerun-" + a.uid});
  auto att_b = st().Get({"Attestation", "demo", "pipelinerun-" + b.uid});
  ASSERT_TRUE(att_a && *att_a && att_b && *att_b);
  store::Resource swapped = **att_b;
  swapped.object["spec"]["envelope"] = (*att_a)->object["spec"]["envelope"];
  ASSERT_TRUE(st().Update(swapped, swapped.resource_version));
  Json spec = ArtifactSpec(kDigest);
  spec["builtBy"]["uid"] = b.uid;
  Json p = *ArtifactProvenance(st(), *keys_, "demo", spec);
  EXPECT_EQ(p["verified"], false);
  EXPECT_NE(p["reason"].get<std::string>().find("is about run " + a.uid), std::string::npos)
      << p.dump();
}

TEST_F(ProvenanceRecorderTest, AProjectsOwnKeySignsItsRuns) {
  auto own = EcKey::Generate();
  ASSERT_TRUE(own);
  ASSERT_TRUE(MakeDirs(temp_.dir() + "/keys/projects"));
  ASSERT_TRUE(WriteFile(temp_.dir() + "/keys/projects/demo.key", *own->PrivatePem(), 0600));
  Put(BuildRun());
  Reconcile(BuildRun().key);
  auto att = st().Get({"Attestation", "demo", "pipelinerun-" + BuildRun().uid});
  ASSERT_TRUE(att && *att);
  EXPECT_EQ((*att)->object["spec"]["keyID"], own->KeyId());
  EXPECT_EQ(*keys_->PublicKeyFor("demo"), own->PublicPem());
  EXPECT_NE(*keys_->PublicKeyFor("other"), own->PublicPem());
  EXPECT_EQ((*ArtifactProvenance(st(), *keys_, "demo", ArtifactSpec(kDigest)))["verified"], true);

  // A key file that is not one is an error naming it, not a silent default.
  ASSERT_TRUE(WriteFile(temp_.dir() + "/keys/projects/demo.key", "junk", 0600));
  auto bad = keys_->KeyFor("demo");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("projects/demo.key"), std::string::npos);
}

}  // namespace
}  // namespace strake::insight
