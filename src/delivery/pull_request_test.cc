#include "delivery/pull_request.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "base/fs.h"
#include "gitops/test_repo.h"
#include "store/sqlite_store.h"

namespace strake::delivery {
namespace {

class PullRequestTest : public gitops::GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st) << st.error().message;
    store_ = std::move(*st);
    Write("app.yaml", "image: v1\n");
    Commit("first");
    Sh("git -C " + work_ + " push -q origin HEAD:refs/heads/stage/dev");
    url_ = "file://" + bare_;
    git_ = {EgressPolicy::Open(),
            [](const std::string&, const std::string&) { return gitops::GitCredentials{}; }};
    AddPullRequestSteps(steps_, *store_, git_);
  }

  // A branch `name` off stage/dev that writes `text` into app.yaml.
  void Branch(const std::string& name, const std::string& text) {
    Sh("git -C " + work_ + " fetch -q origin");
    Sh("git -C " + work_ + " checkout -q -B " + name + " origin/stage/dev");
    Write("app.yaml", text);
    Commit("render " + name + "\n\nwhy it changed", name);
  }
  StepOutcome Run(const std::string& uses, const Json& config, const Json& output = Json()) {
    StepContext ctx;
    ctx.project = "demo";
    ctx.stage = "dev";
    ctx.promotion = "dev.01abc.f00";
    ctx.alias = uses;
    ctx.work_dir = dir_;
    ctx.config = config;
    ctx.output = output;
    return steps_.Find(uses)->Run(ctx);
  }
  StepOutcome Open(const std::string& source) {
    return Run("git-open-pr",
               {{"repoURL", url_}, {"sourceBranch", source}, {"targetBranch", "stage/dev"}});
  }
  Json Status(int64_t number) {
    auto got = store_->Get({"PullRequest", "demo", PullRequestName(number)});
    return got && *got ? (**got).status : Json();
  }

  std::unique_ptr<store::Store> store_;
  StepRegistry steps_;
  PullRequestGit git_;
  std::string url_;
};

TEST_F(PullRequestTest, OpenedWaitedOnAndMergedOnceWithAMergeCommit) {
  Branch("feature", "image: v2\n");
  StepOutcome opened = Open("feature");
  ASSERT_EQ(opened.attempt.status, StepStatus::kSucceeded) << opened.attempt.error;
  EXPECT_EQ(
      opened.output,
      (Json{
          {"pr", {{"id", 1}, {"url", "/apis/strake.dev/v1/namespaces/demo/pullrequests/pr-1"}}}}));
  auto pr = store_->Get({"PullRequest", "demo", "pr-1"});
  ASSERT_TRUE(pr && *pr);
  EXPECT_EQ((**pr).object["spec"]["title"], "render feature");
  EXPECT_EQ((**pr).object["spec"]["description"], "why it changed");
  EXPECT_EQ((**pr).labels.at(kPullRequestPromotionLabel), "dev.01abc.f00");
  EXPECT_EQ(Status(1)["state"], "Open");
  // Run again after a crash that lost its output: the same one is adopted.
  EXPECT_EQ(Open("feature").output["pr"]["id"], 1);
  EXPECT_FALSE(*store_->Get({"PullRequest", "demo", "pr-2"}));

  const Json wait = {{"repoURL", url_}, {"prNumber", 1}};
  StepOutcome waiting = Run("git-wait-for-pr", wait);
  EXPECT_EQ(waiting.attempt.status, StepStatus::kRunning);
  EXPECT_EQ(waiting.retry_after, Millis(30000));
  EXPECT_EQ(waiting.output["pr"]["open"], true);

  const std::string target_before = RemoteRef("refs/heads/stage/dev");
  auto merged = MergePullRequest(*store_, git_, "demo", "pr-1", "", "alice");
  ASSERT_TRUE(merged) << merged.error().message;
  const std::string commit = (*merged)["mergeCommit"];
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), commit);
  EXPECT_EQ(RemoteRef(commit + "^1"), target_before);
  EXPECT_EQ(RemoteRef(commit + "^2"), RemoteRef("refs/heads/feature"));
  EXPECT_EQ((*merged)["mergedBy"], "alice");
  // Again: nothing is merged twice.
  auto again = MergePullRequest(*store_, git_, "demo", "pr-1", "", "bob");
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["mergedBy"], "alice");
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), commit);

  StepOutcome done = Run("git-wait-for-pr", wait);
  EXPECT_EQ(done.attempt.status, StepStatus::kSucceeded);
  EXPECT_EQ(done.output["commit"], commit);
  EXPECT_EQ(done.output["pr"]["merged"], true);
  // Once merged, the same branches open no new one, and nothing is left to merge.
  EXPECT_EQ(Open("feature").output["pr"]["id"], 1);
}

TEST_F(PullRequestTest, NothingToMergeIsSkippedAndAMissingBranchIsAnError) {
  Sh("git -C " + work_ + " push -q origin HEAD:refs/heads/same");
  StepOutcome same = Open("same");
  EXPECT_EQ(same.attempt.status, StepStatus::kSkipped) << same.attempt.error;
  EXPECT_FALSE(*store_->Get({"PullRequest", "demo", "pr-1"}));
  StepOutcome missing =
      Run("git-open-pr", {{"repoURL", url_}, {"sourceBranch", "same"}, {"targetBranch", "nope"}});
  EXPECT_NE(missing.attempt.error.find("branch \"nope\" does not exist"), std::string::npos)
      << missing.attempt.error;
  StepOutcome forge =
      Run("git-open-pr", {{"repoURL", url_}, {"sourceBranch", "same"}, {"provider", "github"}});
  EXPECT_NE(forge.attempt.error.find("config.provider: not supported yet"), std::string::npos)
      << forge.attempt.error;
  EXPECT_TRUE(forge.attempt.terminal);
  // The default target is the remote's default branch.
  Branch("f2", "image: v9\n");
  StepOutcome to_main = Run("git-open-pr", {{"repoURL", url_}, {"sourceBranch", "f2"}});
  ASSERT_EQ(to_main.attempt.status, StepStatus::kSucceeded) << to_main.attempt.error;
  auto pr = store_->Get({"PullRequest", "demo", "pr-1"});
  EXPECT_EQ((**pr).object["spec"]["targetBranch"], "main");
  // A number of another repository is not found.
  StepOutcome other =
      Run("git-wait-for-pr", {{"repoURL", "https://example.com/x.git"}, {"prNumber", 1}});
  EXPECT_NE(other.attempt.error.find("no pull request 1 of"), std::string::npos)
      << other.attempt.error;
}

// A merge pushed just before a crash is found in the target and recorded,
// not made again; a squash makes one commit.
TEST_F(PullRequestTest, AMergePushedBeforeACrashIsRecordedAndSquashMakesOneCommit) {
  Branch("feature", "image: v2\n");
  ASSERT_EQ(Open("feature").attempt.status, StepStatus::kSucceeded);
  Sh("git -C " + work_ + " checkout -q -B stage/dev origin/stage/dev");
  Sh("git -C " + work_ + " merge -q --no-ff -m by-hand feature");
  Sh("git -C " + work_ + " push -q origin HEAD:refs/heads/stage/dev");
  const std::string by_hand = Head();
  auto merged = MergePullRequest(*store_, git_, "demo", "pr-1", "", "alice");
  ASSERT_TRUE(merged) << merged.error().message;
  EXPECT_EQ((*merged)["mergeCommit"], by_hand);
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), by_hand);

  Branch("second", "image: v3\n");
  ASSERT_EQ(Open("second").output["pr"]["id"], 2);
  StepOutcome squashed =
      Run("git-merge-pr",
          {{"repoURL", url_}, {"prNumber", "${{ ignored }}"}, {"mergeMethod", "squash"}});
  EXPECT_EQ(squashed.attempt.status, StepStatus::kErrored);  // not a number
  squashed = Run("git-merge-pr", {{"repoURL", url_}, {"prNumber", 2}, {"mergeMethod", "squash"}});
  ASSERT_EQ(squashed.attempt.status, StepStatus::kSucceeded) << squashed.attempt.error;
  const std::string commit = squashed.output["commit"];
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), commit);
  EXPECT_EQ(RemoteRef(commit + "^1"), by_hand);
  EXPECT_EQ(RemoteRef(commit + "^2"), "");  // one parent
  EXPECT_EQ(Status(2)["state"], "Merged");
  // The step's merge after a person's squash (a race, or a crash before
  // the status was written) pushes nothing.
  Branch("third", "image: v4\n");
  ASSERT_EQ(Open("third").output["pr"]["id"], 3);
  Sh("git -C " + work_ + " checkout -q -B stage/dev origin/stage/dev");
  Sh("git -C " + work_ + " merge -q --squash third");
  Sh("git -C " + work_ + " commit -q -m squashed-by-hand");
  Sh("git -C " + work_ + " push -q origin HEAD:refs/heads/stage/dev");
  const std::string squashed_by_hand = Head();
  StepOutcome after = Run("git-merge-pr", {{"repoURL", url_}, {"prNumber", 3}});
  ASSERT_EQ(after.attempt.status, StepStatus::kSucceeded) << after.attempt.error;
  EXPECT_EQ(after.output["commit"], squashed_by_hand);
  EXPECT_EQ(RemoteRef("refs/heads/stage/dev"), squashed_by_hand);
}

// What was reviewed is what is merged: a source branch that moved since
// the pull request was opened refuses the merge; a source the target
// already has opens none.
TEST_F(PullRequestTest, ASourceThatMovedIsNotMergedAndOneInTheTargetIsNotOpened) {
  Branch("feature", "image: v2\n");
  ASSERT_EQ(Open("feature").attempt.status, StepStatus::kSucceeded);
  Write("extra.yaml", "sneaked: in\n");
  Commit("after the review", "feature");
  auto moved = MergePullRequest(*store_, git_, "demo", "pr-1", "", "alice");
  ASSERT_FALSE(moved);
  EXPECT_TRUE(moved.error().Is(ErrorCode::kConflict));
  EXPECT_NE(moved.error().message.find("moved from"), std::string::npos) << moved.error().message;
  EXPECT_EQ(Status(1)["state"], "Open");
  EXPECT_NE(Run("git-merge-pr", {{"repoURL", url_}, {"prNumber", 1}, {"mergeMethod", "rebase"}})
                .attempt.message.find("merge with merge (a merge commit) or squash"),
            std::string::npos);

  Branch("old", "image: v5\n");  // then the target moves past it
  const std::string old_head = Head();
  Sh("git -C " + work_ + " push -q origin HEAD:refs/heads/stage/dev");
  Write("app.yaml", "image: v6\n");
  Commit("newer", "stage/dev");
  StepOutcome in_target = Open("old");
  EXPECT_EQ(in_target.attempt.status, StepStatus::kSkipped) << in_target.attempt.error;
  EXPECT_FALSE(*store_->Get({"PullRequest", "demo", "pr-2"}));
  EXPECT_EQ(RemoteRef("refs/heads/old"), old_head);
}

TEST_F(PullRequestTest, AConflictFailsOrWaitsAndAClosedOneFailsTheWait) {
  Branch("feature", "image: v2\n");
  ASSERT_EQ(Open("feature").attempt.status, StepStatus::kSucceeded);
  Sh("git -C " + work_ + " checkout -q -B stage/dev origin/stage/dev");
  Write("app.yaml", "image: hotfix\n");
  Commit("hotfix", "stage/dev");
  const Json merge = {{"repoURL", url_}, {"prNumber", 1}};
  StepOutcome failed = Run("git-merge-pr", merge);
  EXPECT_EQ(failed.attempt.status, StepStatus::kFailed);
  EXPECT_TRUE(failed.attempt.terminal);
  EXPECT_NE(failed.attempt.message.find("cannot be merged: conflicts in app.yaml"),
            std::string::npos)
      << failed.attempt.message;
  Json waiting_config = merge;
  waiting_config["wait"] = true;
  StepOutcome waiting = Run("git-merge-pr", waiting_config);
  EXPECT_EQ(waiting.attempt.status, StepStatus::kRunning);
  EXPECT_EQ(waiting.retry_after, Millis(10000));
  EXPECT_EQ(Status(1)["state"], "Open");
  auto closed = ClosePullRequest(*store_, "demo", "pr-1", "bob");
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ((*closed)["closedBy"], "bob");
  StepOutcome wait = Run("git-wait-for-pr", merge);
  EXPECT_EQ(wait.attempt.status, StepStatus::kFailed);
  EXPECT_EQ(wait.attempt.message, "pull request 1 was closed without being merged");
  auto refused = MergePullRequest(*store_, git_, "demo", "pr-1", "", "alice");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().Is(ErrorCode::kInvalid)) << refused.error().message;
  // A closed one does not stop the same branches from being opened again.
  EXPECT_EQ(Open("feature").output["pr"]["id"], 2);
}

TEST(PullRequestNames, NumbersAndNames) {
  EXPECT_EQ(PullRequestName(7), "pr-7");
  EXPECT_EQ(PullRequestNumber("pr-7"), 7);
  EXPECT_EQ(PullRequestNumber("7"), 7);
  EXPECT_EQ(PullRequestNumber("pr-0"), std::nullopt);
  EXPECT_EQ(PullRequestNumber("pr-7x"), std::nullopt);
  EXPECT_EQ(PullRequestNumber(""), std::nullopt);
}

}  // namespace
}  // namespace strake::delivery
