#include "delivery/git_steps.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "gitops/test_repo.h"

namespace strake::delivery {
namespace {

class GitStepsTest : public gitops::GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    Write("app/main.py", "v1");
    first_ = Commit("first");
    url_ = "file://" + bare_;
    ASSERT_TRUE(MakeDirs(dir_ + "/promo"));
    AddGitSteps(steps_, EgressPolicy::Open(),
                [](const std::string&, const std::string&) { return gitops::GitCredentials{}; });
  }

  StepOutcome Run(const std::string& uses, const Json& config) {
    StepContext ctx;
    ctx.project = "demo";
    ctx.stage = "dev";
    ctx.promotion = "dev.01abc.f00";
    ctx.alias = uses;
    ctx.work_dir = dir_ + "/promo";
    ctx.config = config;
    return steps_.Find(uses)->Run(ctx);
  }
  Json Clone() {
    StepOutcome out =
        Run("git-clone",
            {{"repoURL", url_},
             {"checkout",
              {{{"branch", "main"}, {"path", "src"}},
               {{"branch", "stage/dev"}, {"create", true}, {"path", "out"}, {"as", "rendered"}}}}});
    EXPECT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
    return out.output;
  }

  StepRegistry steps_;
  std::string first_, url_;
};

TEST_F(GitStepsTest, CloneCommitAndPushAStageBranchEachSafeToRunAgain) {
  Json cloned = Clone();
  EXPECT_EQ(cloned["commits"]["src"], first_);
  EXPECT_EQ(cloned["commits"]["rendered"], "");  // a new orphan branch
  EXPECT_TRUE(PathExists(dir_ + "/promo/src/app/main.py"));
  EXPECT_FALSE(PathExists(dir_ + "/promo/out/app/main.py"));  // orphan: empty
  ASSERT_TRUE(WriteFile(dir_ + "/promo/out/manifest.yaml", "kind: ConfigMap\n"));
  StepOutcome committed =
      Run("git-commit", {{"path", "out"}, {"message", "render ${{ ctx.stage }} $(id)"}});
  ASSERT_EQ(committed.attempt.status, StepStatus::kSucceeded) << committed.attempt.error;
  const std::string commit = committed.output["commit"];
  EXPECT_EQ(commit.size(), 40u);
  // Again (a crash after the commit): nothing new, the same commit.
  EXPECT_EQ(Run("git-commit", {{"path", "out"}, {"message", "again"}}).output["commit"], commit);
  StepOutcome pushed = Run("git-push", {{"path", "out"}});
  ASSERT_EQ(pushed.attempt.status, StepStatus::kSucceeded) << pushed.attempt.error;
  EXPECT_EQ(pushed.output, (Json{{"branch", "stage/dev"}, {"commit", commit}}));
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), commit);
  EXPECT_EQ(Run("git-push", {{"path", "out"}}).attempt.status, StepStatus::kSucceeded);
  // Cloned again: the branch exists now, and is checked out as it is.
  Json again = Clone();
  EXPECT_EQ(again["commits"]["rendered"], commit);
  // git-clear empties the tree but keeps the repository.
  ASSERT_EQ(Run("git-clear", {{"path", "src"}}).attempt.status, StepStatus::kSucceeded);
  EXPECT_FALSE(PathExists(dir_ + "/promo/src/app"));
  EXPECT_TRUE(PathExists(dir_ + "/promo/src/.git"));
}

TEST_F(GitStepsTest, APushThatLostARaceIsRebasedAndAGeneratedBranchIsNamedByThePromotion) {
  Clone();
  ASSERT_TRUE(WriteFile(dir_ + "/promo/src/mine.txt", "mine"));
  ASSERT_EQ(Run("git-commit", {{"path", "src"}, {"message", "mine"}}).attempt.status,
            StepStatus::kSucceeded);
  Write("theirs.txt", "theirs");
  std::string theirs = Commit("theirs");
  StepOutcome pushed = Run("git-push", {{"path", "src"}});
  ASSERT_EQ(pushed.attempt.status, StepStatus::kSucceeded) << pushed.attempt.error;
  EXPECT_EQ(RemoteRef("refs/heads/main"), pushed.output["commit"]);
  EXPECT_EQ(RemoteRef("refs/heads/main~1"), theirs);  // ours replayed on theirs
  StepOutcome generated = Run("git-push", {{"path", "src"}, {"generateTargetBranch", true}});
  ASSERT_EQ(generated.attempt.status, StepStatus::kSucceeded) << generated.attempt.error;
  EXPECT_EQ(generated.output["branch"], "kargo/promotion/dev.01abc.f00");
}

// Kargo's git-tag, then git-push of the tag: each safe to run again; a tag
// on another commit moves only with force.
TEST_F(GitStepsTest, ATagIsMadeAndPushedOnceAndMovesOnlyWithForce) {
  Clone();
  StepOutcome tagged = Run("git-tag", {{"path", "src"}, {"tag", "v1.0.0"}, {"message", "one"}});
  ASSERT_EQ(tagged.attempt.status, StepStatus::kSucceeded) << tagged.attempt.error;
  EXPECT_EQ(tagged.output["commit"], first_);
  EXPECT_EQ(Run("git-tag", {{"path", "src"}, {"tag", "v1.0.0"}}).attempt.status,
            StepStatus::kSucceeded);  // again: already there
  StepOutcome pushed = Run("git-push", {{"path", "src"}, {"tag", "v1.0.0"}});
  ASSERT_EQ(pushed.attempt.status, StepStatus::kSucceeded) << pushed.attempt.error;
  EXPECT_EQ(pushed.output, (Json{{"tag", "v1.0.0"}, {"commit", first_}}));
  EXPECT_EQ(RemoteRef("refs/tags/v1.0.0^{commit}"), first_);
  EXPECT_EQ(Run("git-push", {{"path", "src"}, {"tag", "v1.0.0"}}).attempt.status,
            StepStatus::kSucceeded);
  ASSERT_TRUE(WriteFile(dir_ + "/promo/src/next.txt", "next"));
  const std::string next =
      Run("git-commit", {{"path", "src"}, {"message", "next"}}).output["commit"];
  StepOutcome moved = Run("git-tag", {{"path", "src"}, {"tag", "v1.0.0"}});
  EXPECT_TRUE(moved.attempt.terminal);
  EXPECT_NE(moved.attempt.error.find("exists on another commit"), std::string::npos)
      << moved.attempt.error;
  StepOutcome forced = Run("git-tag", {{"path", "src"}, {"tag", "v1.0.0"}, {"force", true}});
  ASSERT_EQ(forced.attempt.status, StepStatus::kSucceeded) << forced.attempt.error;
  EXPECT_EQ(forced.output["commit"], next);
  // A repository-shaped folder inside the clone (its config and hooks the
  // pusher's) is not a repository the steps work in.
  ASSERT_TRUE(MakeDirs(dir_ + "/promo/src/evil"));
  ASSERT_EQ(std::system(("git init -q --bare " + dir_ + "/promo/src/evil/inner").c_str()), 0);
  StepOutcome nested = Run("git-tag", {{"path", "src/evil/inner"}, {"tag", "v9"}});
  EXPECT_NE(nested.attempt.error.find("not the top of a repository that git-clone made"),
            std::string::npos)
      << nested.attempt.error;
  // Nor does a link lead a file step into .git.
  ASSERT_EQ(::symlink(".git", (dir_ + "/promo/src/g").c_str()), 0);
  StepOutcome linked = Run("file-write", {{"path", "src/g/config"}, {"contents", "x"}});
  EXPECT_NE(linked.attempt.error.find("leads into a .git directory"), std::string::npos)
      << linked.attempt.error;
  for (const char* bad : {"-f", "a..b", "x y"}) {
    StepOutcome refused = Run("git-tag", {{"path", "src"}, {"tag", bad}});
    EXPECT_NE(refused.attempt.error.find("is not a valid tag name"), std::string::npos) << bad;
  }
}

TEST_F(GitStepsTest, PathsStayInTheWorkingDirectoryAndUrlsAreUrls) {
  StepOutcome escape =
      Run("git-clone", {{"repoURL", url_}, {"checkout", {{{"path", "../../etc"}}}}});
  EXPECT_EQ(escape.attempt.status, StepStatus::kErrored);
  EXPECT_NE(escape.attempt.error.find("must name a path inside the working directory"),
            std::string::npos)
      << escape.attempt.error;
  StepOutcome option = Run(
      "git-clone", {{"repoURL", "--upload-pack=touch /tmp/x"}, {"checkout", {{{"path", "a"}}}}});
  EXPECT_EQ(option.attempt.status, StepStatus::kErrored);
  StepOutcome typed = Run("git-commit", {{"path", "src"}, {"message", 7}});
  EXPECT_NE(typed.attempt.error.find("config.message must be a string"), std::string::npos);
  StepOutcome tag = Run("git-push", {{"path", "src"}, {"tag", "v1"}, {"force", true}});
  EXPECT_NE(tag.attempt.error.find("config.tag is mutually exclusive"), std::string::npos);
  // A server whose egress policy refuses file:// refuses it here too.
  StepRegistry strict;
  AddGitSteps(strict, EgressPolicy(),
              [](const std::string&, const std::string&) { return gitops::GitCredentials{}; });
  StepContext ctx;
  ctx.work_dir = dir_ + "/promo";
  ctx.config = {{"repoURL", url_}, {"checkout", {{{"path", "x"}}}}};
  StepOutcome refused = strict.Find("git-clone")->Run(ctx);
  EXPECT_NE(refused.attempt.error.find("refused by this server's egress policy"), std::string::npos)
      << refused.attempt.error;
}

// A cloned repository may hold symbolic links: a step's path is followed
// through them only while it stays in the working directory.
TEST_F(GitStepsTest, ALinkInAClonedRepositoryLeadsNowhereOutside) {
  ASSERT_EQ(::symlink("/", (work_ + "/root").c_str()), 0);
  ASSERT_EQ(::symlink("app", (work_ + "/inside").c_str()), 0);
  Commit("links");
  Clone();
  ASSERT_TRUE(MakeDirs(dir_ + "/victim"));
  ASSERT_TRUE(WriteFile(dir_ + "/victim/keep", "x"));
  const std::string through = "src/root" + dir_ + "/victim";
  StepOutcome clone = Run("git-clone", {{"repoURL", url_}, {"checkout", {{{"path", through}}}}});
  EXPECT_EQ(clone.attempt.status, StepStatus::kErrored);
  EXPECT_TRUE(PathExists(dir_ + "/victim/keep")) << "a step deleted outside its directory";
  StepOutcome write = Run("file-write", {{"path", "src/root/tmp/x"}, {"contents", "x"}});
  EXPECT_EQ(write.attempt.status, StepStatus::kErrored);
  StepOutcome link = Run("git-clear", {{"path", "src/root"}});
  EXPECT_NE(link.attempt.error.find("is a symbolic link"), std::string::npos) << link.attempt.error;
  // A link that stays inside is followed.
  StepOutcome inside = Run("file-write", {{"path", "src/inside/new.txt"}, {"contents", "ok"}});
  EXPECT_EQ(inside.attempt.status, StepStatus::kSucceeded) << inside.attempt.error;
  EXPECT_EQ(ReadFile(dir_ + "/promo/src/app/new.txt", 100).value_or(""), "ok");
}

TEST_F(GitStepsTest, FileWriteWritesOnceWithSafePermissions) {
  Clone();
  Json cfg = {{"path", "out/values.yaml"}, {"contents", "tag: v2\n"}};
  ASSERT_EQ(Run("file-write", cfg).attempt.status, StepStatus::kSucceeded);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/promo/out/values.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);                                      // Kargo's default
  EXPECT_EQ(Run("file-write", cfg).attempt.status, StepStatus::kSucceeded);  // the same again
  cfg["contents"] = "tag: v3\n";
  StepOutcome exists = Run("file-write", cfg);
  EXPECT_NE(exists.attempt.error.find("exists and overwrite is false"), std::string::npos);
  cfg["overwrite"] = true;
  cfg["permissions"] = "0644";
  ASSERT_EQ(Run("file-write", cfg).attempt.status, StepStatus::kSucceeded);
  EXPECT_EQ(ReadFile(dir_ + "/promo/out/values.yaml", 100).value_or(""), "tag: v3\n");
  cfg["permissions"] = "0755";
  EXPECT_NE(Run("file-write", cfg).attempt.error.find("no executable"), std::string::npos);
  EXPECT_NE(Run("file-write", {{"path", "out/.git/config"}, {"contents", ""}})
                .attempt.error.find("inside a .git directory"),
            std::string::npos);
}

}  // namespace
}  // namespace strake::delivery
