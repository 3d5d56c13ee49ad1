#include "model/kinds.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

TEST(Kinds, EveryAppliedKindHasADecoderAndEveryNameIsOne) {
  std::set<std::string> names;
  for (const auto& k : Kinds()) {
    EXPECT_EQ(HasDecoder(k.kind), k.applied) << k.kind;
    EXPECT_EQ(KindByName(k.kind), &k);
    EXPECT_EQ(KindByPlural(k.plural), &k);
    EXPECT_EQ(KindOf(k.api_version, k.kind), &k);
    for (const auto& n : k.short_names) EXPECT_EQ(KindByName(n), &k) << n;
  }
  for (const auto& n : KindNames()) EXPECT_TRUE(names.insert(n).second) << n << " names two kinds";
}

TEST(Kinds, NamesAreTakenAsKubectlTakesThem) {
  EXPECT_EQ(KindByName("ro")->kind, "Rollout");
  EXPECT_EQ(KindByName("Rollouts")->kind, "Rollout");
  EXPECT_EQ(KindByName("svc")->kind, "Service");
  EXPECT_EQ(KindByName("pr")->kind, "PipelineRun");
  EXPECT_EQ(KindByName("taskrun")->kind, "TaskRun");
  EXPECT_EQ(KindByName("app")->kind, "Application");
  EXPECT_EQ(KindByName("rollout-ish"), nullptr);
  EXPECT_EQ(KindOf("tekton.dev/v1beta1", "Task")->api_version, "tekton.dev/v1");
  EXPECT_EQ(KindOf("v1", "Deployment"), nullptr);
}

TEST(Kinds, AKindOfAnotherGroupIsNamedInTheError) {
  auto r = DecodeObject(Json::parse(R"({"apiVersion":"v1","kind":"Deployment",
      "metadata":{"name":"a"},"spec":{}})"),
                        "x.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("kind \"Deployment\" is apps/v1, not v1"), std::string::npos)
      << r.error().message;
  auto rev = DecodeObject(Json::parse(R"({"apiVersion":"strake.dev/v1","kind":"RolloutRevision",
      "metadata":{"name":"a"}})"),
                          "x.yaml");
  ASSERT_FALSE(rev);
}

}  // namespace
}  // namespace strake::model
