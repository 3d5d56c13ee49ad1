#include "rollout/workload_ref.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "store/sqlite_store.h"

namespace strake::rollout {
namespace {

using Json = store::Json;
using ScaleDown = model::WorkloadRef::ScaleDown;

const Json kDeployment = Json::parse(R"({
  "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 3},
  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
           "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "command": ["x"]}]}}}})");

TEST(ResolvedSpecTest, TheTemplateIsTheDeploymentsAndTheSelectorTooWhenTheRolloutHasNone) {
  Json spec = {
      {"replicas", 5},
      {"workloadRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
      {"strategy", {{"canary", Json::object()}}}};
  auto r = ResolvedSpec(spec, kDeployment);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["template"], kDeployment["spec"]["template"]);
  EXPECT_EQ((*r)["selector"], kDeployment["spec"]["selector"]);
  EXPECT_EQ((*r)["replicas"], 5);  // the Rollout's own, not the Deployment's
  EXPECT_FALSE(r->contains("workloadRef"));

  spec["selector"] = {{"matchLabels", {{"app", "web"}, {"track", "x"}}}};
  r = ResolvedSpec(spec, kDeployment);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["selector"], spec["selector"]);  // the Rollout's own wins

  Json bare = {{"metadata", {{"name", "web"}}}, {"spec", {{"replicas", 1}}}};
  auto bad = ResolvedSpec(spec, bare);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "deployment \"web\" has no spec.template");
}

TEST(ResolveWorkloadRefTest, ReadsTheDeploymentFromTheStoreOrSaysItIsMissing) {
  auto dir = MakeTempDir("workload-ref");
  ASSERT_TRUE(dir) << dir.error().message;
  auto store = store::OpenSqliteStore(PathJoin(*dir, "strake.db"));
  ASSERT_TRUE(store) << store.error().message;
  store::Resource ro;
  ro.key = {"Rollout", "default", "web"};
  ro.object = {
      {"apiVersion", "argoproj.io/v1alpha1"},
      {"kind", "Rollout"},
      {"spec",
       {{"workloadRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
        {"strategy", {{"canary", Json::object()}}}}}};
  store::Resource copy = ro;
  auto missing = ResolveWorkloadRef(**store, copy);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().Is(ErrorCode::kNotFound));
  EXPECT_EQ(missing.error().message,
            "workloadRef: deployment \"web\" not found in namespace default");

  // Gone after the Rollout took its template: the current revision's record.
  store::Resource record;
  record.key = {kRevisionKind, "default", "web-abc"};
  record.owner = "uid-1";
  record.object = {{"spec", {{"hash", "abc"}, {"template", kDeployment["spec"]["template"]}}}};
  ASSERT_TRUE((*store)->Create(record, "Created", ""));
  store::Resource running = ro;
  running.uid = "uid-1";
  running.status = {{"currentPodHash", "abc"}};
  auto recorded = ResolveWorkloadRef(**store, running);
  ASSERT_TRUE(recorded) << recorded.error().message;
  ASSERT_TRUE(recorded->has_value());
  EXPECT_FALSE((**recorded).deployment);
  EXPECT_EQ((**recorded).missing, "workloadRef: deployment \"web\" not found in namespace default");
  EXPECT_EQ(running.object["spec"]["template"], kDeployment["spec"]["template"]);
  EXPECT_EQ(running.object["spec"]["selector"], Json::parse(R"({"matchLabels": {"app": "web"}})"));
  store::Resource other = ro;  // a record of another Rollout of that name is not its
  other.uid = "another";
  other.status = running.status;
  EXPECT_FALSE(ResolveWorkloadRef(**store, other));

  store::Resource dep;
  dep.key = {"Deployment", "default", "web"};
  dep.object = kDeployment;
  ASSERT_TRUE((*store)->Create(dep, "Created", ""));
  auto found = ResolveWorkloadRef(**store, ro);
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(found->has_value());
  ASSERT_TRUE((**found).deployment);
  EXPECT_EQ((**found).deployment->key.name, "web");
  EXPECT_EQ((**found).missing, "");
  EXPECT_EQ((**found).ref.scale_down, ScaleDown::kNever);
  EXPECT_FALSE(ro.object["spec"].contains("workloadRef"));
  EXPECT_EQ(ro.object["spec"]["template"], kDeployment["spec"]["template"]);
  EXPECT_TRUE(ReferencesDeployment(copy.object, "web"));
  EXPECT_FALSE(ReferencesDeployment(copy.object, "other"));

  store::Resource plain;
  plain.key = {"Rollout", "default", "plain"};
  plain.object = {{"spec", {{"template", Json::object()}}}};
  auto none = ResolveWorkloadRef(**store, plain);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  store->reset();
  (void)RemoveAll(*dir);
}

TEST(DeploymentScaleForTest, AsArgoScalesTheDeploymentOfTheFirstRevision) {
  // never: left alone.
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kNever, 1, "Healthy", 5, 5, 5), std::nullopt);
  // onsuccess: 0 once Healthy, not before.
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kOnSuccess, 1, "Progressing", 5, 3, 5), std::nullopt);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kOnSuccess, 1, "Healthy", 5, 5, 5), 0);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kOnSuccess, 1, "Healthy", 5, 5, 0), std::nullopt);
  // progressively: what the Rollout's ready replicas leave of its count.
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Progressing", 5, 0, 5), std::nullopt);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Progressing", 5, 2, 5), 3);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Progressing", 5, 7, 3), 0);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Healthy", 5, 5, 1), 0);
  // ... and up again when the Rollout fails and its replicas go.
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Degraded", 5, 1, 2), 4);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 1, "Degraded", 5, 0, 2), 5);
  // A later revision never scales it (the migration was the first).
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kOnSuccess, 2, "Healthy", 5, 5, 5), std::nullopt);
  EXPECT_EQ(DeploymentScaleFor(ScaleDown::kProgressively, 2, "Progressing", 5, 2, 5), std::nullopt);
}

}  // namespace
}  // namespace strake::rollout
