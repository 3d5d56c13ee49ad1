#include "model/secrets.h"

#include <gtest/gtest.h>

namespace strake::model {
namespace {

TEST(Secrets, StringDataWinsOverDataAsKubernetesMergesThem) {
  Json s = {{"data", {{"a", "b2xk"}, {"b", "Ynl0ZXM="}, {"bad", "%%"}, {"n", 1}}},
            {"stringData", {{"a", "new"}}}};
  EXPECT_EQ(SecretValue(s, "a"), "new");
  EXPECT_EQ(SecretValue(s, "b"), "bytes");
  EXPECT_EQ(SecretValue(s, "bad"), std::nullopt);
  EXPECT_EQ(SecretValue(s, "n"), std::nullopt);
  EXPECT_EQ(SecretValue(s, "missing"), std::nullopt);
  EXPECT_EQ(SecretValue(Json(), "a"), std::nullopt);
  EXPECT_EQ(SecretValues(s), (std::vector<std::string>{"old", "bytes", "new"}));
}

TEST(Secrets, OnlyTheDockerConfigTypesCarryARegistryConfig) {
  EXPECT_EQ(DockerConfigKey("kubernetes.io/dockerconfigjson"), ".dockerconfigjson");
  EXPECT_EQ(DockerConfigKey("kubernetes.io/dockercfg"), ".dockercfg");
  EXPECT_EQ(DockerConfigKey("Opaque"), std::nullopt);
  EXPECT_EQ(DockerConfigKey(""), std::nullopt);
}

}  // namespace
}  // namespace strake::model
