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

// A LocalApi that answers every call with one status and body, and counts.
class FakeLocalApi : public LocalApi {
 public:
  FakeLocalApi(int status, std::string body, int* calls)
      : status_(status), body_(std::move(body)), calls_(calls) {}
  Result<Answer> Call(const std::string&, const std::string&, const std::string&,
                      const std::string&) override {
    ++*calls_;
    Answer a;
    a.status = status_;
    a.text = body_;
    return a;
  }

 private:
  int status_;
  std::string body_;
  int* calls_;
};

TEST_F(ClientTest, WithNoServerTheTektonKindsAreAnsweredByTheLocalApiOpenedOnce) {
  int opened = 0, calls = 0;
  ctx_.local_api = [&](const std::string& dir) -> Result<std::unique_ptr<LocalApi>> {
    EXPECT_EQ(dir, ctx_.data_dir);
    ++opened;
    return std::unique_ptr<LocalApi>(
        std::make_unique<FakeLocalApi>(200, R"({"kind": "PipelineRunList"})", &calls));
  };
  Client c(ctx_, NoServerFor(*model::KindByName("pipelinerun")));
  EXPECT_EQ(c.server(), "");
  for (int i = 0; i < 2; ++i) {
    auto list = c.Call("GET", "/apis/tekton.dev/v1/namespaces/default/pipelineruns");
    ASSERT_TRUE(list) << list.error().message;
    EXPECT_EQ(list->body["kind"], "PipelineRunList");
  }
  EXPECT_EQ(opened, 1);
  EXPECT_EQ(calls, 2);
}

TEST_F(ClientTest, ALocalApiErrorIsAnErrorWithItsCode) {
  int calls = 0;
  ctx_.local_api = [&](const std::string&) -> Result<std::unique_ptr<LocalApi>> {
    return std::unique_ptr<LocalApi>(std::make_unique<FakeLocalApi>(
        404,
        R"({"kind": "Status", "reason": "NotFound", "message": "pipelinerun \"nope\" not found"})",
        &calls));
  };
  Client c(ctx_, NoServer::kDataDirectory);
  auto missing = c.Call("GET", "/apis/tekton.dev/v1/namespaces/default/pipelineruns/nope");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().Is(ErrorCode::kNotFound)) << missing.error().message;
  EXPECT_EQ(missing.error().message, "pipelinerun \"nope\" not found");
}

TEST_F(ClientTest, WithNoLocalApiTheDataDirectoryKindsAskTheDefaultAddress) {
  EXPECT_EQ(Client(ctx_, NoServer::kDataDirectory).server(), kDefaultServer);
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
