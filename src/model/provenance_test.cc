#include "model/provenance.h"

#include <gtest/gtest.h>

#include "base/sha256.h"

namespace strake::model {
namespace {

Json Statement() {
  return Json::parse(R"({
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "127.0.0.1:5000/web", "digest": {"sha256": "ab12"}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
      "buildDefinition": {
        "buildType": "https://tekton.dev/chains/v2/slsa",
        "externalParameters": {"runSpec": {}},
        "resolvedDependencies": [
          {"uri": "git+http://127.0.0.1:1/pipelines.git", "digest": {"sha1": "ff"}, "name": "pipeline"},
          {"uri": "git+http://127.0.0.1:1/app.git@refs/heads/main", "digest": {"sha1": "c0ffee"}, "name": "inputs/result",
           "annotations": {"strake.dev/source": "push"}},
          {"uri": "git+http://127.0.0.1:1/claimed.git", "digest": {"sha1": "bad"}, "name": "inputs/result"},
          {"uri": "oci://127.0.0.1:5000/go", "digest": {"sha256": "77"}}
        ]
      },
      "runDetails": {
        "builder": {"id": "https://strake.dev/builder"},
        "metadata": {"invocationId": "uid-1", "startedOn": "2026-12-07T10:00:00Z",
                     "finishedOn": "2026-12-07T10:01:00Z"}
      }
    }
  })");
}

TEST(Provenance, ASignedStatementVerifiesAndSaysItsFacts) {
  auto key = EcKey::Generate();
  ASSERT_TRUE(key);
  auto env = SignStatement(Statement(), *key);
  ASSERT_TRUE(env) << env.error().message;
  Json j = EnvelopeToJson(*env);
  EXPECT_EQ(j["payloadType"], "application/vnd.in-toto+json");
  EXPECT_EQ(j["signatures"][0]["keyid"], key->KeyId());
  auto back = EnvelopeFromJson(j);
  ASSERT_TRUE(back) << back.error().message;
  auto st = VerifiedStatement(*back, *key);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE(HasSubjectDigest(*st, "sha256:ab12"));
  EXPECT_FALSE(HasSubjectDigest(*st, "sha256:ab1"));
  EXPECT_FALSE(HasSubjectDigest(*st, "sha512:ab12"));
  Json facts = ProvenanceFacts(*st);
  EXPECT_EQ(facts["buildType"], "https://tekton.dev/chains/v2/slsa");
  EXPECT_EQ(facts["builder"]["id"], "https://strake.dev/builder");
  EXPECT_EQ(facts["invocationId"], "uid-1");
  EXPECT_EQ(facts["source"]["repo"], "http://127.0.0.1:1/app.git");
  EXPECT_EQ(facts["source"]["ref"], "refs/heads/main");
  EXPECT_EQ(facts["source"]["commit"], "c0ffee");
  // What the run only claimed is apart: a gate on source.repo never sees it.
  ASSERT_EQ(facts["claimedSources"].size(), 1U);
  EXPECT_EQ(facts["claimedSources"][0]["repo"], "http://127.0.0.1:1/claimed.git");
  EXPECT_EQ(facts["subjects"][0]["digest"], "sha256:ab12");
}

TEST(Provenance, ATamperedOrForeignEnvelopeDoesNotVerify) {
  auto key = EcKey::Generate();
  auto other = EcKey::Generate();
  ASSERT_TRUE(key && other);
  auto env = SignStatement(Statement(), *key);
  ASSERT_TRUE(env);
  EXPECT_FALSE(VerifiedStatement(*env, *other));

  DsseEnvelope changed = *env;
  changed.payload.replace(changed.payload.find("ab12"), 4, "ab13");
  auto bad = VerifiedStatement(changed, *key);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("no signature"), std::string::npos);

  // The type is signed too (PAE): another type is refused before any check.
  DsseEnvelope retyped = *env;
  retyped.payload_type = "application/json";
  EXPECT_FALSE(VerifiedStatement(retyped, *key));

  // A signed payload that is not a Statement is refused.
  DsseEnvelope not_statement;
  not_statement.payload_type = kInTotoPayloadType;
  not_statement.payload = R"({"_type": "x", "subject": [{}], "predicateType": "p"})";
  auto sig = key->Sign(DssePae(not_statement.payload_type, not_statement.payload));
  ASSERT_TRUE(sig);
  not_statement.signatures.push_back({"", *sig});
  auto st = VerifiedStatement(not_statement, *key);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("_type"), std::string::npos) << st.error().message;
}

TEST(Provenance, AnEnvelopeThatIsNotOneSaysWhichField) {
  EXPECT_EQ(EnvelopeFromJson(Json::array()).error().message, "a DSSE envelope is a JSON object");
  auto no_type = EnvelopeFromJson({{"payload", "e30="}, {"signatures", Json::array()}});
  EXPECT_EQ(no_type.error().message, "envelope: payloadType: missing");
  auto no_sigs = EnvelopeFromJson(
      {{"payloadType", kInTotoPayloadType}, {"payload", "e30="}, {"signatures", Json::array()}});
  EXPECT_EQ(no_sigs.error().message, "envelope: signatures: none");
  auto bad_sig = EnvelopeFromJson({{"payloadType", kInTotoPayloadType},
                                   {"payload", "e30="},
                                   {"signatures", {{{"keyid", ""}, {"sig", "!!"}}}}});
  EXPECT_EQ(bad_sig.error().message, "envelope: signatures[0].sig: not base64");
}

TEST(Provenance, ASourceWithoutARefOrWithAUserKeepsItsRepo) {
  Json st = Statement();
  st["predicate"]["buildDefinition"]["resolvedDependencies"] = {
      {{"uri", "git+ssh://git@example.com/app.git"},
       {"digest", {{"sha1", "aa"}}},
       {"annotations", {{"strake.dev/source", "push"}}}}};
  Json facts = ProvenanceFacts(st);
  EXPECT_EQ(facts["source"]["repo"], "ssh://git@example.com/app.git");
  EXPECT_EQ(facts["source"]["ref"], "");
  st["predicate"]["buildDefinition"]["resolvedDependencies"] = Json::array();
  EXPECT_EQ(ProvenanceFacts(st)["source"]["repo"], "");
}

}  // namespace
}  // namespace strake::model
