#include "pipeline/executor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/fs.h"

namespace strake::pipeline {
namespace {

class CacheKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/strake-cache-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(MakeDirs(dir_ + "/ws/src"));
    ASSERT_TRUE(WriteFile(dir_ + "/ws/src/main.c", "int main(){}"));
    ASSERT_TRUE(WriteFile(dir_ + "/ws/README", "not an input"));
    ExecutorOptions o;
    o.data_dir = dir_ + "/data";
    o.sandbox = false;
    executor_ = std::make_unique<TaskExecutor>(o);
    job_.ns = "default";
    job_.name = "run-a-compile";
    job_.uid = "uid-a";
    job_.pipeline_run = "run-a";
    model::Step step;
    step.script = "cc -O$(params.level) $(workspaces.src.path)/src/main.c";
    job_.spec.steps.push_back(step);
    job_.spec.params = {{"level", model::ParamType::kString, "", {}, {}, {}, {}},
                        {"note", model::ParamType::kString, "", {}, {}, {}, {}}};
    job_.spec.workspaces = {{"src", "", "/workspace/src", false, false}};
    job_.spec.cache.enabled = true;
    job_.spec.cache.inputs = {"src:src/**/*.c"};
    job_.spec.cache.params = {"level"};
    job_.params = {{"level", model::ParamValue::String("2"), {}},
                   {"note", model::ParamValue::String("x"), {}}};
    job_.workspaces = {{"src", dir_ + "/ws", "", false, ""}};
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  std::string Key(const TaskRunJob& job) {
    auto r = executor_->TryCache(job);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    EXPECT_FALSE(r && r->succeeded) << "nothing is stored yet";
    return r ? r->cache_key : "";
  }
  // The key an executor of another data directory (its own random key)
  // computes for the same job.
  std::string KeyElsewhere(const TaskRunJob& job) {
    ExecutorOptions o = executor_->options();
    o.data_dir = dir_ + "/elsewhere";
    TaskExecutor elsewhere(o);
    auto r = elsewhere.TryCache(job);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? r->cache_key : "";
  }

  std::string dir_;
  std::unique_ptr<TaskExecutor> executor_;
  TaskRunJob job_;
};

TEST_F(CacheKeyTest, IsTheSameInEveryRun) {
  TaskRunJob other = job_;
  other.name = "run-b-compile";
  other.uid = "uid-b";
  other.pipeline_run = "run-b";
  other.workspaces[0].host_path = dir_ + "/ws";  // Host paths never enter the key.
  EXPECT_EQ(Key(job_), Key(other));
  EXPECT_EQ(Key(job_).size(), 64u);
}

TEST_F(CacheKeyTest, FollowsInputContentAndChosenParamsOnly) {
  std::string base = Key(job_);
  ASSERT_TRUE(WriteFile(dir_ + "/ws/README", "changed, but not an input"));
  EXPECT_EQ(Key(job_), base);
  TaskRunJob note = job_;
  note.params[1].value = model::ParamValue::String("y");  // Not in cache.params.
  EXPECT_EQ(Key(note), base);
  TaskRunJob level = job_;
  level.params[0].value = model::ParamValue::String("3");
  EXPECT_NE(Key(level), base);
  ASSERT_TRUE(WriteFile(dir_ + "/ws/src/main.c", "int main(){return 1;}"));
  EXPECT_NE(Key(job_), base);
}

TEST_F(CacheKeyTest, FollowsTheResolvedSteps) {
  std::string base = Key(job_);
  TaskRunJob changed = job_;
  changed.spec.steps[0].script += " -Wall";
  EXPECT_NE(Key(changed), base);
  TaskRunJob env = job_;
  env.spec.steps[0].env.push_back({"CC", "clang", std::nullopt, std::nullopt, ""});
  EXPECT_NE(Key(env), base);
}

// The key is in the TaskRun's status, which anyone who may read the run
// sees, along with everything else that goes into it: a plain digest of a
// Secret a step reads would let them test guesses of it. Its value enters
// the key keyed by this data directory's own random key, so the key still
// follows it.
TEST_F(CacheKeyTest, IsNoDigestAReaderCouldTestGuessesOfASecretAgainst) {
  TaskRunJob job = job_;
  auto secrets = std::make_shared<std::map<std::string, model::ConfigMapData>>();
  (*secrets)["creds"].data["token"] = "hunter2-is-a-password";
  (*secrets)["creds"].is_secret = true;
  job.secrets = secrets;
  job.spec.steps[0].env.push_back({"TOKEN", "", std::nullopt, model::KeyRef{"creds", "token"}, ""});
  std::string base = Key(job);
  EXPECT_EQ(Key(job), base);
  EXPECT_NE(KeyElsewhere(job), base) << "the same key without this data directory's own";
  EXPECT_EQ(KeyElsewhere(job_), Key(job_)) << "a task that reads no Secret keys as before";
  auto changed = std::make_shared<std::map<std::string, model::ConfigMapData>>(*secrets);
  (*changed)["creds"].data["token"] = "hunter3-is-a-password";
  job.secrets = changed;
  EXPECT_NE(Key(job), base);
}

// The same for a cache input in a workspace bound to a Secret: the files
// are its values, so their digests enter the key keyed too.
TEST_F(CacheKeyTest, ASecretWorkspacesFilesEnterTheKeyKeyed) {
  ASSERT_TRUE(WriteFile(dir_ + "/ws/src/token.c", "hunter2-is-a-password"));
  TaskRunJob job = job_;
  std::string as_plain = Key(job);
  job.workspaces[0].secret = true;
  std::string keyed = Key(job);
  EXPECT_NE(keyed, as_plain);
  EXPECT_EQ(Key(job), keyed);
  EXPECT_NE(KeyElsewhere(job), keyed) << "the same key without this data directory's own";
  ASSERT_TRUE(WriteFile(dir_ + "/ws/src/token.c", "hunter3-is-a-password"));
  EXPECT_NE(Key(job), keyed) << "the key still follows the value";
}

}  // namespace
}  // namespace strake::pipeline
