// The CLI's client over app/'s LocalApi: server::Api over a data directory's
// store, as `strake get` uses it with no server running.
#include "app/local_api.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "cli/client.h"

namespace strake::app {
namespace {

TEST(LocalApiTest, WithNoServerTheTektonKindsAreAnsweredFromTheDataDirectory) {
  auto dir = MakeTempDir("local-api");
  ASSERT_TRUE(dir);
  ::unsetenv("STRAKE_SERVER");
  cli::Context ctx;
  ctx.data_dir = *dir;
  ctx.local_api = OpenLocalApi;
  cli::Client c(ctx, cli::NoServerFor(*model::KindByName("pipelinerun")));
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
  EXPECT_TRUE(PathExists(PathJoin(*dir, "strake.db")));
  (void)RemoveAll(*dir);
}

}  // namespace
}  // namespace strake::app
