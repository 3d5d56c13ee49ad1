#include "images/registry.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/canned_server.h"
#include "base/sha256.h"
#include "images/test_registry.h"

namespace strake::images {
namespace {

using strake::testing::CannedServer;

TEST(ImageReference, ReadsRepositoriesAsDockerDoes) {
  auto hub = ParseRepository("nginx");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->registry, "docker.io");
  EXPECT_EQ(hub->repository, "library/nginx");
  EXPECT_EQ(hub->ApiBase(), "https://registry-1.docker.io");
  auto ghcr = ParseRepository("ghcr.io/akuity/guestbook");
  ASSERT_TRUE(ghcr);
  EXPECT_EQ(ghcr->registry, "ghcr.io");
  EXPECT_EQ(ghcr->repository, "akuity/guestbook");
  EXPECT_EQ(ghcr->ApiBase(), "https://ghcr.io");
  auto local = ParseRepository("127.0.0.1:5000/team/app");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->ApiBase(), "http://127.0.0.1:5000");
  EXPECT_EQ(ParseRepository("localhost/app")->ApiBase(), "http://localhost");
  EXPECT_EQ(ParseRepository("bob/app")->repository, "bob/app");
}

TEST(ImageReference, RefusesTagsDigestsSchemesAndBadPaths) {
  for (const char* bad :
       {"nginx:1.25", "ghcr.io/a/b:latest", "ghcr.io/a/b@sha256:00", "https://ghcr.io/a/b",
        "ghcr.io/A/b", "ghcr.io/", "", "ghcr.io/a//b", "ghcr.io/-a"}) {
    auto r = ParseRepository(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_NE(ParseRepository("nginx:1.25").error().message.find("must not include an image tag"),
            std::string::npos);
  // A registry's port is not a tag.
  EXPECT_TRUE(ParseRepository("127.0.0.1:5000/app"));
}

TEST(ImageReference, NormalizesAsKargo) {
  EXPECT_EQ(NormalizeImageUrl("nginx"), "nginx");
  EXPECT_EQ(NormalizeImageUrl("docker.io/library/nginx"), "nginx");
  EXPECT_EQ(NormalizeImageUrl("index.docker.io/bob/App"), "bob/app");
  EXPECT_EQ(NormalizeImageUrl("GHCR.io/akuity/guestbook"), "ghcr.io/akuity/guestbook");
  EXPECT_EQ(NormalizeImageUrl("::not a ref"), "::not a ref");
}

TEST(ImageReference, PlatformsAndTimes) {
  EXPECT_EQ(ParsePlatform("linux/arm64/v8")->String(), "linux/arm64/v8");
  EXPECT_EQ(ParsePlatform("linux/amd64")->variant, "");
  EXPECT_FALSE(ParsePlatform("linux"));
  EXPECT_FALSE(ParsePlatform("linux//v8"));
  EXPECT_EQ(ParseImageTime("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(ParseImageTime("1970-01-01T00:00:01.123456789Z"), 1123);
  EXPECT_EQ(ParseImageTime("1970-01-01T01:00:01+01:00"), 1000);
  EXPECT_EQ(ParseImageTime("1970-01-01T00:00:01.5-00:30"), 1801500);
  EXPECT_FALSE(ParseImageTime("1970-01-01 00:00:01"));
  EXPECT_FALSE(ParseImageTime("yesterday"));
}

std::string Answer(int status, const std::string& headers, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

TEST(ImageReference, DockerConfigCredentialsMatchAsTheKubeletMatches) {
  auto repo = [](const std::string& text) { return ParseRepository(text).value(); };
  // "alice:one", "bob:two", "carol:three"
  const std::string config = R"({"auths": {
    "https://index.docker.io/v1/": {"auth": "YWxpY2U6b25l"},
    "registry.example.com": {"username": "bob", "password": "two"},
    "registry.example.com/team": {"auth": "Y2Fyb2w6dGhyZWU="},
    "*.mirror.example.com": {"username": "dan", "password": "four"}}})";
  auto user = [&](const std::string& r) {
    auto c = DockerConfigCredentials(config, repo(r));
    return c ? c->username : "error: " + c.error().message;
  };
  EXPECT_EQ(user("busybox"), "alice");  // docker.io/library/busybox
  EXPECT_EQ(user("registry.example.com/app"), "bob");
  EXPECT_EQ(user("registry.example.com/team/app"), "carol");  // the longer path
  EXPECT_EQ(user("registry.example.com/teamwork"), "bob");    // a path prefix by segments
  EXPECT_EQ(user("eu.mirror.example.com/app"), "dan");
  EXPECT_EQ(user("a.b.mirror.example.com/app"), "");  // the glob is one label
  EXPECT_EQ(user("ghcr.io/app"), "");
  // .dockercfg's shape: the registries at the top.
  auto cfg = DockerConfigCredentials(R"({"ghcr.io": {"auth": "ZXZlOmZpdmU="}})", repo("ghcr.io/x"));
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->password, "five");
  EXPECT_FALSE(DockerConfigCredentials("[1]", repo("ghcr.io/x")));
  EXPECT_FALSE(
      DockerConfigCredentials(R"({"auths": {"ghcr.io": {"auth": "!!"}}})", repo("ghcr.io/x")));
}

TEST(RegistryClient, AnswersABearerChallengeWithATokenFromItsRealm) {
  std::string base;
  CannedServer server([&](const std::string& head) {
    if (head.starts_with("GET /token?service=reg&scope=repository%3Ateam%2Fapp%3Apull")) {
      // Basic bob:pw
      if (head.find("Authorization: Basic Ym9iOnB3") == std::string::npos) {
        return Answer(401, "", "");
      }
      return Answer(200, "", R"({"token":"t0k"})");
    }
    if (head.find("Authorization: Bearer t0k") == std::string::npos) {
      return Answer(401,
                    "WWW-Authenticate: Bearer realm=\"" + base +
                        "/token\",service=\"reg\",scope=\"repository:team/app:pull\"\r\n",
                    "");
    }
    return Answer(200, "", R"({"name":"team/app","tags":["v1","v2"]})");
  });
  base = server.url("");
  RepositoryRef repo{base.substr(7), "team/app"};
  RegistryClient anonymous(repo, {}, *EgressPolicy::Parse("loopback"));
  auto refused = anonymous.Tags();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("refused anonymous access"), std::string::npos)
      << refused.error().message;
  RegistryClient client(repo, {"bob", "pw"}, *EgressPolicy::Parse("loopback"));
  auto tags = client.Tags();
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(*tags, (std::vector<std::string>{"v1", "v2"}));
}

TEST(RegistryClient, FollowsTagPagesOnTheSameRegistryOnlyAndToAnEnd) {
  std::string third = "Link: <http://169.254.169.254/v2/app/tags/list?last=c>; rel=\"next\"\r\n";
  CannedServer server([&](const std::string& head) {
    if (head.starts_with("GET /v2/app/tags/list?n=1000 ")) {
      return Answer(200, "Link: </v2/app/tags/list?last=b&n=1000>; rel=\"next\"\r\n",
                    R"({"tags":["a","b","../x",""]})");
    }
    if (head.starts_with("GET /v2/app/tags/list?last=b&n=1000 ")) {
      return Answer(200, third, R"({"tags":["c"]})");
    }
    return Answer(500, "", "");
  });
  RegistryClient client({server.url("").substr(7), "app"}, {}, *EgressPolicy::Parse("loopback"));
  auto moved = client.Tags();
  ASSERT_FALSE(moved);
  EXPECT_NE(moved.error().message.find("continues on another host"), std::string::npos)
      << moved.error().message;
  third = "";  // the end: only the OCI tags of both pages
  auto tags = client.Tags();
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(*tags, (std::vector<std::string>{"a", "b", "c"}));
  // A page that names itself again never ends.
  third = "Link: </v2/app/tags/list?last=b&n=1000>; rel=\"next\"\r\n";
  auto loop = client.Tags();
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.error().message.find("does not end"), std::string::npos) << loop.error().message;
}

TEST(RegistryClient, CredentialsGoToATokenServiceOverTlsOnly) {
  CannedServer server([&](const std::string&) {
    return Answer(401, "WWW-Authenticate: Bearer realm=\"http://evil.example/token\"\r\n", "");
  });
  RegistryClient client({server.url("").substr(7), "app"}, {"bob", "pw"},
                        *EgressPolicy::Parse("loopback"));
  auto tags = client.Tags();
  ASSERT_FALSE(tags);
  EXPECT_NE(tags.error().message.find("the token service must be https"), std::string::npos)
      << tags.error().message;
  EXPECT_EQ(tags.error().message.find("pw"), std::string::npos);
}

TEST(RegistryClient, AnIndexInsideAnIndexIsNotRead) {
  std::string inner =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  std::string inner_digest = "sha256:" + Sha256Hex(inner);
  std::string outer =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":")" +
      inner_digest + R"(","platform":{"os":"linux","architecture":"amd64"}}]})";
  CannedServer server([&](const std::string& head) {
    if (head.find("/manifests/" + inner_digest) != std::string::npos) return Answer(200, "", inner);
    return Answer(200, "", outer);
  });
  RegistryClient client({server.url("").substr(7), "app"}, {}, *EgressPolicy::Parse("loopback"));
  auto image = client.ImageByTag("v1");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("an index inside an index is not read"), std::string::npos)
      << image.error().message;
}

TEST(RegistryClient, RefusesAManifestThatIsNotWhatItsDigestSays) {
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:00"}})";
  CannedServer server([&](const std::string&) {
    return Answer(200,
                  "Docker-Content-Digest: sha256:"
                  "1111111111111111111111111111111111111111111111111111111111111111\r\n",
                  manifest);
  });
  RegistryClient client({server.url("").substr(7), "app"}, {}, *EgressPolicy::Parse("loopback"));
  auto image = client.ImageByTag("v1");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("does not match"), std::string::npos)
      << image.error().message;
}

class RealRegistry : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!registry_.Start()) {
      GTEST_SKIP() << "docker-registry is not installed (scripts/setup.sh installs it)";
    }
  }
  std::string Push(const std::string& repo, const std::string& tag, const std::string& args) {
    return registry_.Push(repo, tag, args);
  }
  RegistryClient Client(const std::string& repo) {
    return RegistryClient({registry_.host(), repo}, {}, *EgressPolicy::Parse("loopback"));
  }
  TestRegistry registry_;
};

TEST_F(RealRegistry, ListsTagsAndReadsWhatEachNames) {
  std::string v1 = Push("team/app", "v1.0.0", "--content one --created 2026-03-01T10:00:00.5Z");
  std::string again = Push("team/app", "stable", "--content one --created 2026-03-01T10:00:00.5Z");
  EXPECT_EQ(v1, again);  // a re-tag: the same bytes
  std::string multi = Push("team/app", "multi",
                           "--platforms linux/amd64,linux/arm64/v8 --annotation "
                           "org.opencontainers.image.created=2026-04-01T00:00:00Z");
  auto client = Client("team/app");
  auto tags = client.Tags();
  ASSERT_TRUE(tags) << tags.error().message;
  std::sort(tags->begin(), tags->end());
  EXPECT_EQ(*tags, (std::vector<std::string>{"multi", "stable", "v1.0.0"}));

  auto one = client.ImageByTag("v1.0.0");
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(*one);
  EXPECT_EQ((*one)->digest, v1);
  EXPECT_EQ((*one)->created_ms, *ParseImageTime("2026-03-01T10:00:00.5Z"));
  ASSERT_EQ((*one)->platforms.size(), 1u);
  EXPECT_EQ((*one)->platforms[0].String(), "linux/amd64");

  auto index = client.ImageByTag("multi");
  ASSERT_TRUE(index) << index.error().message;
  ASSERT_TRUE(*index);
  EXPECT_EQ((*index)->digest, multi);
  EXPECT_EQ((*index)->created_ms, *ParseImageTime("2026-04-01T00:00:00Z"));
  ASSERT_EQ((*index)->platforms.size(), 2u);
  EXPECT_EQ((*index)->platforms[1].String(), "linux/arm64/v8");

  auto missing = client.ImageByTag("nope");
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(*missing);
  auto no_repo = Client("team/none").Tags();
  ASSERT_FALSE(no_repo);
  EXPECT_EQ(no_repo.error().code, ErrorCode::kNotFound);
}

TEST_F(RealRegistry, TheDefaultEgressPolicyKeepsTheServerOffLoopback) {
  Push("app", "v1", "");
  RegistryClient client({registry_.host(), "app"}, {}, EgressPolicy());
  auto tags = client.Tags();
  ASSERT_FALSE(tags);
  EXPECT_EQ(tags.error().code, ErrorCode::kForbidden);
}

}  // namespace
}  // namespace strake::images
