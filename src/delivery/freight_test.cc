#include "delivery/freight.h"

#include <gtest/gtest.h>

#include <set>

namespace strake::delivery {
namespace {

TEST(NormalizeGitUrl, AsKargoNormalisesEachForm) {
  using model::NormalizeGitUrl;
  EXPECT_EQ(NormalizeGitUrl("https://github.com/Example/Kargo-Demo.git"),
            "https://github.com/example/kargo-demo");
  EXPECT_EQ(NormalizeGitUrl(" https://user:pw@github.com/example/app/ "),
            "https://github.com/example/app");
  EXPECT_EQ(NormalizeGitUrl("http://127.0.0.1:8080/repo.git/"), "http://127.0.0.1:8080/repo");
  EXPECT_EQ(NormalizeGitUrl("ssh://git@github.com/example/app.git"),
            "ssh://git@github.com/example/app");
  EXPECT_EQ(NormalizeGitUrl("git@github.com:example/app.git"), "ssh://git@github.com/example/app");
  EXPECT_EQ(NormalizeGitUrl("github.com"), "ssh://github.com");
  // A query string is left as it came.
  EXPECT_EQ(NormalizeGitUrl("https://Example.com/repo.git?x=1"),
            "https://Example.com/repo.git?x=1");
}

// The vectors of the study of Kargo's GenerateFreightID (notes: computed
// from its algorithm; Kargo's own test checks only determinism).
TEST(FreightName, IsTheSha1OfTheOriginAndTheSortedParts) {
  model::FreightOrigin origin{"Warehouse", "kargo-demo"};
  model::FreightCommit c;
  c.repo_url = "https://github.com/example/kargo-demo.git";
  c.id = std::string(40, '1');
  EXPECT_EQ(FreightName(origin, {c}), "c224144ab8a893277e0f4dbbe2191c6e3a340ae7");
  c.subscription_name = "src";
  EXPECT_EQ(FreightName(origin, {c}), "5bb82e47d2224ba4786e9867ca2422a60c62948b");
}

TEST(FreightName, TheOrderOfCommitsDoesNotMatterButATagDoes) {
  model::FreightOrigin origin{"Warehouse", "app"};
  model::FreightCommit a, b;
  a.repo_url = "https://example.com/a";
  a.id = std::string(40, 'a');
  b.repo_url = "https://example.com/b";
  b.id = std::string(40, 'b');
  EXPECT_EQ(FreightName(origin, {a, b}), FreightName(origin, {b, a}));
  model::FreightCommit tagged = a;
  tagged.tag = "v1.0.0";
  EXPECT_NE(FreightName(origin, {a}), FreightName(origin, {tagged}));
  EXPECT_NE(FreightName(origin, {a}), FreightName({"Warehouse", "other"}, {a}));
}

TEST(FreightAlias, IsAdjectiveAnimalStableAndSkipsTakenOnes) {
  std::string name(40, 'c');
  std::string first = FreightAlias(name, [](const std::string&) { return false; });
  EXPECT_EQ(first, FreightAlias(name, [](const std::string&) { return false; }));
  EXPECT_NE(first.find('-'), std::string::npos);
  std::string second = FreightAlias(name, [&](const std::string& a) { return a == first; });
  EXPECT_NE(second, first);
  // Every combination taken: the name's first characters tell them apart.
  std::string last = FreightAlias(name, [](const std::string&) { return true; });
  EXPECT_EQ(last.substr(last.size() - 8), "-ccccccc");
}

TEST(KargoChildName, IsPrefixUlidAndIdInAtMost253Bytes) {
  const std::string ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  EXPECT_EQ(KargoChildName("dev", std::string(40, 'f'), ulid),
            "dev.01arz3ndektsv4rrffq69g5fav.fffffff");
  EXPECT_EQ(KargoChildName("dev", "abc", ulid), "dev.01arz3ndektsv4rrffq69g5fav.abc");
  // A long prefix is cut, and a '.' or '-' it is cut at is dropped.
  std::string long_prefix = std::string(216, 'a') + "-.-" + std::string(40, 'b');
  std::string name = KargoChildName(long_prefix, std::string(40, 'f'), ulid);
  EXPECT_EQ(name, std::string(216, 'a') + ".01arz3ndektsv4rrffq69g5fav.fffffff");
  std::string full = KargoChildName(std::string(300, 'a'), std::string(40, 'f'), ulid);
  EXPECT_EQ(full.size(), 253U);
}

}  // namespace
}  // namespace strake::delivery
