#include "cli/client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"

namespace strake::cli {
namespace {

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = MakeTempDir("client");
    ASSERT_TRUE(d);
    ctx_.data_dir = *d;
    ::unsetenv("STRAKE_SERVER");
  }
  void TearDown() override { (void)RemoveAll(ctx_.data_dir); }

  Context ctx_;
};

TEST_F(ClientTest, WithNoServerTheTektonKindsAreAnsweredFromTheDataDirectory) {
  Client c(ctx_, NoServerFor(*model::KindByName("pipelinerun")));
  EXPECT_EQ(c.server(), "");
  auto list = c.Call("GET", "/apis/tekton.dev/v1/namespaces/default/pipelineruns");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->body["kind"], "PipelineRunList");
  auto missing = c.Call("GET", "/apis/tekton.dev/v1/namespaces/default/pipelineruns/nope/logs");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().Is(ErrorCode::kNotFound)) << missing.error().message;
  EXPECT_EQ(missing.error().message, "pipelinerun \"nope\" not found");
  auto rollout = c.Call("POST", "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/w/promote");
  ASSERT_FALSE(rollout);
  EXPECT_TRUE(rollout.error().Is(ErrorCode::kUnavailable)) << "no controllers in process";
}

TEST_F(ClientTest, TheOtherKindsAskTheDefaultAddress) {
  EXPECT_EQ(NoServerFor(*model::KindByName("rollout")), NoServer::kDefaultAddress);
  Client c(ctx_, NoServer::kDefaultAddress);
  EXPECT_EQ(c.server(), kDefaultServer);
}

TEST_F(ClientTest, TheServerNamedWinsOverTheOneRecordedAndThatOverTheDataDirectory) {
  ASSERT_TRUE(RecordServer(ctx_.data_dir, "http://127.0.0.1:9"));
  EXPECT_EQ(RecordedServer(ctx_.data_dir), "http://127.0.0.1:9");
  EXPECT_EQ(Client(ctx_, NoServer::kDataDirectory).server(), "http://127.0.0.1:9");
  ::setenv("STRAKE_SERVER", "http://127.0.0.1:8", 1);
  EXPECT_EQ(Client(ctx_, NoServer::kDataDirectory).server(), "http://127.0.0.1:8");
  ctx_.server = "http://127.0.0.1:7";
  EXPECT_EQ(Client(ctx_, NoServer::kDataDirectory).server(), "http://127.0.0.1:7");
  ::unsetenv("STRAKE_SERVER");
  ForgetServer(ctx_.data_dir);
  EXPECT_EQ(RecordedServer(ctx_.data_dir), "");
}

TEST_F(ClientTest, TheRecordOfAServerThatIsGoneIsIgnored) {
  // What a server killed with -9 leaves: a pid that no longer runs.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(WriteFile(ctx_.data_dir + "/server.json",
                        fmt::format(R"({{"url":"http://127.0.0.1:9","pid":{}}})", child)));
  EXPECT_EQ(RecordedServer(ctx_.data_dir), "");
  ForgetServer(ctx_.data_dir);
  EXPECT_TRUE(PathExists(ctx_.data_dir + "/server.json")) << "only a server forgets its own";
  ASSERT_TRUE(WriteFile(ctx_.data_dir + "/server.json", "not json"));
  EXPECT_EQ(RecordedServer(ctx_.data_dir), "");
}

TEST(CodeOfStatus, TheAnswersStatusIsTheErrorsCode) {
  EXPECT_EQ(CodeOfStatus(404, "NotFound"), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOfStatus(409, "Conflict"), ErrorCode::kConflict);
  EXPECT_EQ(CodeOfStatus(409, "AlreadyExists"), ErrorCode::kAlreadyExists);
  EXPECT_EQ(CodeOfStatus(422, "Invalid"), ErrorCode::kInvalid);
  EXPECT_EQ(CodeOfStatus(401, ""), ErrorCode::kUnauthenticated);
  EXPECT_EQ(CodeOfStatus(503, ""), ErrorCode::kUnavailable);
  EXPECT_EQ(CodeOfStatus(500, ""), ErrorCode::kUnknown);
}

TEST(ServedKind, AKindByAnyOfItsNamesOrADidYouMean) {
  EXPECT_EQ((*ServedKind("pr"))->kind, "PipelineRun");
  EXPECT_EQ((*ServedKind("Rollouts"))->kind, "Rollout");
  auto typo = ServedKind("pipelinrun");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message, "unknown kind \"pipelinrun\" (did you mean \"pipelinerun\"?)");
  EXPECT_EQ(Collection(**ServedKind("pr"), "team"),
            "/apis/tekton.dev/v1/namespaces/team/pipelineruns");
  EXPECT_EQ(Collection(**ServedKind("configmap"), "default"),
            "/api/v1/namespaces/default/configmaps");
}

}  // namespace
}  // namespace strake::cli
