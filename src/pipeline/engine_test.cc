// The engine over a real store, steps on the host (no sandbox): what it keeps
// in memory once runs finish.
#include "pipeline/engine.h"

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/fs.h"
#include "model/decode.h"
#include "store/sqlite_store.h"

namespace strake::pipeline {
namespace {

TEST(Engine, FinishedRunsLeaveMemory) {
  auto dir = MakeTempDir("engine");
  ASSERT_TRUE(dir);
  auto store = store::OpenSqliteStore(*dir + "/strake.db");
  ASSERT_TRUE(store) << store.error().message;
  EngineOptions options;
  options.executor.data_dir = *dir;
  options.executor.sandbox = false;
  SystemClock clock;
  Engine engine(**store, options, clock);
  auto docs = model::ParseYaml(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: run-}
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{script: "true"}]}
      - name: b
        runAfter: [a]
        taskSpec: {steps: [{script: "true"}]}
)",
                               "run.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  for (int i = 0; i < 3; ++i) {
    auto name = engine.Submit(resources[0], resources, {});
    ASSERT_TRUE(name) << name.error().message;
    ASSERT_TRUE(engine.Resume("default", *name));
    auto done = engine.Wait("default", *name);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->status["conditions"][0]["reason"], "Succeeded") << done->status.dump(2);
    EXPECT_EQ(engine.RunsInMemory(), 0u) << "a finished run stays in memory";
  }
  (void)RemoveAll(*dir);
}

}  // namespace
}  // namespace strake::pipeline
