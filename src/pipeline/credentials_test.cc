#include "pipeline/credentials.h"

#include <gtest/gtest.h>

namespace strake::pipeline {
namespace {

Json Secret(const std::string& type, Json annotations) {
  return {{"type", type}, {"metadata", {{"annotations", std::move(annotations)}}}};
}

// Tekton's creds-init-only-mounts-provided-credentials.yaml: an ssh-auth
// Secret for git, listed by the ServiceAccount, becomes ~/.ssh/id_<name>,
// an ssh config entry and known_hosts; nothing for docker or basic auth.
TEST(Credentials, AnSshSecretBecomesAKeyAConfigAndKnownHosts) {
  std::map<std::string, Json> secrets = {
      {"phony-ssh-key", Secret("kubernetes.io/ssh-auth", {{"tekton.dev/git-0", "localhost"}})},
      {"unlisted", Secret("kubernetes.io/ssh-auth", {{"tekton.dev/git-0", "example.com"}})},
      {"opaque", Secret("Opaque", {{"tekton.dev/git-0", "example.com"}})}};
  Json account = {{"secrets", {{{"name", "phony-ssh-key"}}, {{"name", "opaque"}}}}};
  auto creds = CredentialsOf(account, secrets);
  ASSERT_EQ(creds.size(), 1u);
  EXPECT_EQ(creds[0].url, "localhost");
  EXPECT_EQ(CredentialsFromJson(ToJson(creds))[0].secret, "phony-ssh-key");

  std::map<std::string, model::ConfigMapData> values;
  values["phony-ssh-key"].data = {{"ssh-privatekey", "KEY\n"},
                                  {"known_hosts", "localhost ssh-rsa AAA"}};
  auto files = CredentialFiles(creds, values, "/tekton/home");
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->size(), 3u);
  EXPECT_EQ(files->at(".ssh/id_phony-ssh-key").content, "KEY\n");
  EXPECT_EQ(files->at(".ssh/id_phony-ssh-key").mode, 0600);
  EXPECT_EQ(files->at(".ssh/config").content,
            "Host localhost\n    HostName localhost\n    IdentityFile "
            "/tekton/home/.ssh/id_phony-ssh-key\n");
  EXPECT_EQ(files->at(".ssh/known_hosts").content, "localhost ssh-rsa AAA\n");
}

TEST(Credentials, BasicAuthGoesToGitOrDockerAndDockerConfigsMerge) {
  std::map<std::string, Json> secrets = {
      {"git", Secret("kubernetes.io/basic-auth", {{"tekton.dev/git-0", "https://github.com"}})},
      {"reg", Secret("kubernetes.io/basic-auth", {{"tekton.dev/docker-0", "https://gcr.io"}})},
      {"cfg", Secret("kubernetes.io/dockerconfigjson", Json::object())}};
  Json account = {{"secrets", {{{"name", "git"}}, {{"name", "reg"}}, {{"name", "cfg"}}}}};
  auto creds = CredentialsOf(account, secrets);
  ASSERT_EQ(creds.size(), 3u);
  std::map<std::string, model::ConfigMapData> values;
  values["git"].data = {{"username", "me"}, {"password", "p@ss word"}};
  values["reg"].data = {{"username", "u"}, {"password", "p"}};
  values["cfg"].data = {{".dockerconfigjson", R"({"auths":{"quay.io":{"auth":"eDp5"}}})"}};
  auto files = CredentialFiles(creds, values, "/home");
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_EQ(files->at(".git-credentials").content, "https://me:p%40ss%20word@github.com\n");
  EXPECT_NE(files->at(".gitconfig").content.find("[credential \"https://github.com\"]"),
            std::string::npos);
  Json docker = Json::parse(files->at(".docker/config.json").content);
  EXPECT_EQ(docker["auths"]["https://gcr.io"]["auth"], "dTpw");
  EXPECT_EQ(docker["auths"]["quay.io"]["auth"], "eDp5");

  values.erase("git");
  auto missing = CredentialFiles(creds, values, "/home");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "credentials: Secret \"git\" not found");
}

}  // namespace
}  // namespace strake::pipeline
