#include "delivery/discovery.h"

#include <gtest/gtest.h>

namespace strake::delivery {
namespace {

CandidateCommit Commit(std::string id, std::vector<std::string> paths, int64_t date = 0) {
  CandidateCommit c;
  c.id = std::move(id);
  c.subject = "change " + c.id;
  c.paths = std::move(paths);
  c.date_ms = date;
  return c;
}

std::vector<std::string> Ids(const std::vector<DiscoveredCommit>& commits) {
  std::vector<std::string> out;
  for (const auto& c : commits) out.push_back(c.tag.empty() ? c.id : c.tag);
  return out;
}

// Kargo's docs: "Git Subscription Path Filtering".
TEST(PathsPass, IncludeAndExcludeAsKargoDocumentsThem) {
  model::GitSubscription sub;
  sub.include_paths = {"apps/guestbook"};
  sub.exclude_paths = {"apps/guestbook/README.md"};
  EXPECT_TRUE(*PathsPass(sub, {"apps/guestbook/deploy.yaml"}));
  EXPECT_FALSE(*PathsPass(sub, {"apps/guestbook/README.md"}));
  EXPECT_TRUE(*PathsPass(sub, {"apps/guestbook/README.md", "apps/guestbook/svc.yaml"}));
  EXPECT_FALSE(*PathsPass(sub, {"apps/guestbook2/x.yaml", "docs/a.md"}));
  sub.include_paths = {"glob:apps/*/values.yaml", "regex:^charts/.*\\.tpl$"};
  sub.exclude_paths = {};
  EXPECT_TRUE(*PathsPass(sub, {"apps/web/values.yaml"}));
  EXPECT_TRUE(*PathsPass(sub, {"charts/web/templates/x.tpl"}));
  EXPECT_FALSE(*PathsPass(sub, {"apps/web/other.yaml"}));
  // A path list cut short might hold a match: the commit is kept.
  EXPECT_TRUE(*PathsPass(sub, {"x"}, /*complete=*/false));
  // No filter: every commit.
  EXPECT_TRUE(*PathsPass(model::GitSubscription{}, {}));
}

TEST(SelectFromBranch, KeepsTheNewestMatchingCommitsUpToTheLimit) {
  model::GitSubscription sub;
  sub.discovery_limit = 2;
  sub.include_paths = {"app"};
  std::vector<CandidateCommit> log = {Commit("c4", {"docs/x"}), Commit("c3", {"app/a"}),
                                      Commit("c2", {"app/b"}), Commit("c1", {"app/c"})};
  auto got = SelectFromBranch(sub, "main", log);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(Ids(*got), (std::vector<std::string>{"c3", "c2"}));
  EXPECT_EQ((*got)[0].branch, "main");
  EXPECT_EQ((*got)[0].subject, "change c3");
}

TEST(SelectFromBranch, ShortensTheSubjectAsKargoDoes) {
  CandidateCommit c = Commit("c1", {});
  c.subject = std::string(100, 'x');
  auto got = SelectFromBranch(model::GitSubscription{}, "", {c});
  ASSERT_TRUE(got);
  EXPECT_EQ((*got)[0].subject, std::string(77, 'x') + "...");
  c.subject = std::string(80, 'y');
  got = SelectFromBranch(model::GitSubscription{}, "", {c});
  EXPECT_EQ((*got)[0].subject, c.subject);
}

TEST(SelectTags, LexicalAndNewestTagOrderAfterTheRegexes) {
  model::GitSubscription sub;
  sub.commit_selection_strategy = "Lexical";
  sub.ignore_tags_regexes = {"-rc"};
  sub.allow_tags_regexes = {"^v"};
  auto tag = [](std::string name, int64_t created) {
    CandidateTag t;
    t.name = std::move(name);
    t.commit = Commit("id-" + t.name, {});
    t.created_ms = created;
    return t;
  };
  std::vector<CandidateTag> tags = {tag("v1.10.0", 100), tag("v1.9.0", 300), tag("v2.0.0-rc", 400),
                                    tag("release", 500), tag("v1.2.0", 200)};
  auto lexical = SelectTags(sub, tags);
  ASSERT_TRUE(lexical);
  // Lexical is lexical: v1.9.0 sorts after v1.10.0.
  EXPECT_EQ(Ids(*lexical), (std::vector<std::string>{"v1.9.0", "v1.2.0", "v1.10.0"}));
  sub.commit_selection_strategy = "NewestTag";
  auto newest = SelectTags(sub, tags);
  ASSERT_TRUE(newest);
  EXPECT_EQ(Ids(*newest), (std::vector<std::string>{"v1.9.0", "v1.2.0", "v1.10.0"}));
  tags[0].created_ms = 1000;
  newest = SelectTags(sub, tags);
  EXPECT_EQ(Ids(*newest).front(), "v1.10.0");
  // Equal dates (lightweight tags of one commit): by name, ascending, as
  // git for-each-ref --sort=-creatordate leaves them.
  tags[1].created_ms = 1000;
  newest = SelectTags(sub, tags);
  EXPECT_EQ(Ids(*newest), (std::vector<std::string>{"v1.10.0", "v1.9.0", "v1.2.0"}));
}

TEST(SelectTags, SemVerTakesTheHighestVersionWithinTheConstraint) {
  model::GitSubscription sub;
  sub.commit_selection_strategy = "SemVer";
  sub.semver_constraint = "^1.2.0";
  auto tag = [](std::string name) {
    CandidateTag t;
    t.name = std::move(name);
    t.commit = Commit("id-" + t.name, {});
    return t;
  };
  std::vector<CandidateTag> tags = {tag("v1.10.0"),      tag("v1.9.3"), tag("v2.0.0"), tag("1.2.0"),
                                    tag("v1.11.0-rc.1"), tag("latest"), tag("v1.3")};
  auto got = SelectTags(sub, tags);
  ASSERT_TRUE(got) << got.error().message;
  // Not lexical: 1.10 above 1.9; the prerelease and 2.0.0 outside ^1.2.0;
  // "v1.3" is not a strict version.
  EXPECT_EQ(Ids(*got), (std::vector<std::string>{"v1.10.0", "v1.9.3", "1.2.0"}));
  sub.strict_semvers = false;
  got = SelectTags(sub, tags);
  ASSERT_TRUE(got);
  EXPECT_EQ(Ids(*got), (std::vector<std::string>{"v1.10.0", "v1.9.3", "v1.3", "1.2.0"}));
  sub.semver_constraint = "";
  got = SelectTags(sub, tags);
  ASSERT_TRUE(got);
  EXPECT_EQ(Ids(*got).front(), "v2.0.0");
  sub.semver_constraint = "^1.x.y";
  EXPECT_FALSE(SelectTags(sub, tags));
}

// Kargo's docs: expressionFilter over a commit's and a tag's fields.
TEST(ExpressionFilter, KeepsWhatTheExpressionSaysOverKargosVariables) {
  model::GitSubscription sub;
  sub.expression_filter = "!(subject contains '[skip ci]') && commitDate > '2026-01-01'";
  CandidateCommit skip = Commit("c3", {}, 1'800'000'000'000);
  skip.subject = "docs [skip ci]";
  CandidateCommit old = Commit("c2", {}, 1'700'000'000'000);   // 2023
  CandidateCommit kept = Commit("c1", {}, 1'800'000'000'000);  // 2027
  auto got = SelectFromBranch(sub, "main", {skip, old, kept});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(Ids(*got), (std::vector<std::string>{"c1"}));
  // A tag strategy sees the tag and its annotation.
  sub.commit_selection_strategy = "Lexical";
  sub.expression_filter = "tag startsWith 'v' && annotation != 'broken'";
  CandidateTag good, bad;
  good.name = "v1.0.0";
  bad.name = "v2.0.0";
  bad.annotation = "broken";
  auto tags = SelectTags(sub, {good, bad});
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(Ids(*tags), (std::vector<std::string>{"v1.0.0"}));
}

TEST(ExpressionFilter, ANonBooleanIsReadAsGoReadsABoolAndAnErrorNamesTheCommit) {
  model::GitSubscription sub;
  sub.expression_filter = "id == 'c1' ? 'true' : 'F'";
  auto got = SelectFromBranch(sub, "", {Commit("c1", {}), Commit("c2", {})});
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(Ids(*got), (std::vector<std::string>{"c1"}));
  sub.expression_filter = "subject";
  auto bad = SelectFromBranch(sub, "", {Commit("c1", {})});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "expressionFilter: the result \"change c1\" is not a boolean");
  sub.expression_filter = "len(nosuch) > 0";
  bad = SelectFromBranch(sub, "", {Commit("c9", {})});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("expressionFilter on commit c9"), std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace strake::delivery
