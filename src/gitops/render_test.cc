#include "gitops/render.h"

#include <gtest/gtest.h>

#include "gitops/test_repo.h"

namespace strake::gitops {
namespace {

const char* kConfig = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
)";

class RenderTest : public GitTest {};

TEST_F(RenderTest, ADirectoryOfManifests) {
  Write("apps/web/cm.yaml", kConfig);
  Write("apps/web/two.yml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n");
  Write("apps/web/list.json",
        R"({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{"name":"from-list"}}]})");
  Write("apps/web/notes.txt", "not a manifest");
  Write("apps/web/prod/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n");
  std::string sha = Commit("apps");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "apps/web";
  auto r = Render(*m, sha, src);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 4u);
  EXPECT_EQ(r->objects[0].object["metadata"]["name"], "settings");
  EXPECT_EQ(r->objects[0].origin, "apps/web/cm.yaml:1:1");
  EXPECT_EQ(r->objects[1].object["metadata"]["name"], "from-list");
  EXPECT_EQ(r->objects[3].origin, "apps/web/two.yml:6:1");
  src.recurse = true;
  EXPECT_EQ(Render(*m, sha, src)->objects.size(), 5u);
  src.exclude = "{list.json,prod/*}";
  EXPECT_EQ(Render(*m, sha, src)->objects.size(), 3u);
  src.exclude = "";
  src.include = "*.yaml";
  auto only = Render(*m, sha, src);
  ASSERT_TRUE(only);
  EXPECT_EQ(only->objects.size(), 2u);  // cm.yaml and prod/extra.yaml
}

TEST_F(RenderTest, BadManifestsAreErrorsWithTheirPlace) {
  Write("app/ok.yaml", kConfig);
  Write("app/bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 99999}]\n");
  std::string sha = Commit("bad");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "app";
  auto r = Render(*m, sha, src);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("app/bad.yaml:5:"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("spec.ports[0].port: must be between 1 and 65535"),
            std::string::npos)
      << r.error().message;
}

// A Helm chart needs a tool strake does not have: refused by name, never
// read as manifests (a chart's Chart.yaml is no object) nor skipped.
TEST_F(RenderTest, AHelmChartIsRefusedByName) {
  Write("chart/Chart.yaml", "apiVersion: v2\nname: guestbook\nversion: 0.1.0\n");
  Write("chart/values.yaml", "replicaCount: 1\n");
  std::string sha = Commit("tools");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "chart";
  auto chart = Render(*m, sha, src);
  ASSERT_FALSE(chart);
  EXPECT_NE(chart.error().message.find(
                "chart/Chart.yaml: a Helm chart: Helm sources are not supported yet"),
            std::string::npos)
      << chart.error().message;
}

TEST_F(RenderTest, OnlyAHookMayBeNamedBySyncWithGenerateName) {
  Write("app/hook.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n"
        "  annotations: {argocd.argoproj.io/hook: PreSync}\n"
        "spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: x, command: "
        "[\"true\"]}]}}}\n");
  std::string sha = Commit("hook");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "app";
  auto r = Render(*m, sha, src);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 1u);
  const auto& meta = r->objects[0].object["metadata"];
  EXPECT_EQ(meta.value("generateName", ""), "migrate-");
  EXPECT_FALSE(meta.contains("name")) << meta.dump();  // named when a sync creates it

  Write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: cm-}\n");
  sha = Commit("not a hook");
  m = Fetched();
  r = Render(*m, sha, src);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("app/cm.yaml:1:1: metadata.name: a ConfigMap needs a name"),
            std::string::npos)
      << r.error().message;
}

TEST_F(RenderTest, AnAliasBombAndAnOversizedFileAreRefused) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    bomb += fmt::format("{}: &{} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n", c,
                        c, fmt::arg("p", std::string(1, static_cast<char>(c - 1))));
  }
  Write("app/bomb.yaml", bomb);
  std::string sha = Commit("bomb");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "app";
  auto r = Render(*m, sha, src);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("app/bomb.yaml"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("alias"), std::string::npos) << r.error().message;

  Write("app/bomb.yaml", kConfig);
  Write("app/huge.yaml", std::string(2048, '#'));
  sha = Commit("huge");
  ASSERT_TRUE(m->Fetch({}, std::chrono::seconds(30)));
  RenderOptions small;
  small.limits.max_bytes = 1024;
  auto huge = Render(*m, sha, src, small);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("app/huge.yaml is 2048 bytes, over the limit of 1024"),
            std::string::npos)
      << huge.error().message;
}

TEST_F(RenderTest, AKustomizationIsBuiltByKustomizesRules) {
  Write("app/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: dev-\n");
  Write("app/cm.yaml", kConfig);
  Write("app/ignored.yaml", "not: [a manifest");  // not in resources: not read
  std::string sha = Commit("k");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "app";
  auto r = Render(*m, sha, src);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->source_type, "Kustomize");
  ASSERT_EQ(r->objects.size(), 1u);
  EXPECT_EQ(r->objects[0].object["metadata"]["name"], "dev-settings");
  EXPECT_EQ(r->objects[0].origin, "app/cm.yaml:1:1");
}

// Argo CD's Validate=false (kubectl apply --validate=false): an object's
// unknown fields are dropped, as the API server drops them, and said;
// a wrong type still refuses it; without the option nothing is dropped.
TEST_F(RenderTest, ValidateFalseDropsUnknownFieldsAndNothingElse) {
  // Argo CD's test/e2e/testdata/sync-options-validate-false/invalid-cm.yaml.
  Write("app/invalid-cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invalid-cm\n  annotations:\n"
        "    argocd.argoproj.io/sync-options: Validate=false\ninvalidKey: this-fails\n");
  Write("app/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n"
        "    argocd.argoproj.io/sync-options: Prune=false, Validate=false\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec:\n      containers:\n      - name: web\n        image: x\n"
        "        command: [sleep, '1']\n        imagePullPolcy: Always\n"
        "      - name: side\n        image: y\n        command: [sleep, '1']\n"
        "        bogus: {deep: 1}\n");
  std::string sha = Commit("validate=false");
  auto m = Fetched();
  model::ApplicationSource src;
  src.path = "app";
  auto r = Render(*m, sha, src);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_FALSE(r->objects[0].object.contains("invalidKey")) << r->objects[0].object.dump();
  const auto& containers = r->objects[1].object["spec"]["template"]["spec"]["containers"];
  EXPECT_FALSE(containers[0].contains("imagePullPolcy")) << containers.dump();
  EXPECT_EQ(containers[0]["image"], "x");
  EXPECT_FALSE(containers[1].contains("bogus")) << containers.dump();
  ASSERT_EQ(r->dropped_fields.size(), 3u);
  EXPECT_EQ(r->dropped_fields[0],
            "app/invalid-cm.yaml:7:1: invalidKey: unknown field \"invalidKey\"");
  EXPECT_NE(
      r->dropped_fields[1].find(
          "app/web.yaml:16:9: spec.template.spec.containers[0].imagePullPolcy: unknown field"),
      std::string::npos)
      << r->dropped_fields[1];

  // Without the option: refused, nothing dropped.
  Write("app/other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\nextra: 1\n");
  sha = Commit("no option");
  m = Fetched();
  auto refused = Render(*m, sha, src);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("app/other.yaml:4:1: extra: unknown field \"extra\""),
            std::string::npos)
      << refused.error().message;
  // The Application's Validate=false drops it from every object.
  RenderOptions off;
  off.validate = false;
  auto all = Render(*m, sha, src, off);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->dropped_fields.size(), 4u);

  // A hook named by generateName, its unknown field before its metadata:
  // dropped, and the hook keeps no stand-in name.
  Write("app/other.yaml",
        "apiVersion: batch/v1\nkind: Job\nbogus: 1\nmetadata:\n  generateName: migrate-\n"
        "  annotations:\n    argocd.argoproj.io/hook: PreSync\n"
        "    argocd.argoproj.io/sync-options: Validate=false\n"
        "spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: x, "
        "command: [\"true\"]}]}}}\n");
  sha = Commit("hook");
  m = Fetched();
  auto hook = Render(*m, sha, src);
  ASSERT_TRUE(hook) << hook.error().message;
  ASSERT_EQ(hook->objects.size(), 3u);
  const auto& job = hook->objects[1].object;  // app/other.yaml, between the other two
  ASSERT_EQ(job.value("kind", ""), "Job");
  EXPECT_FALSE(job.contains("bogus")) << job.dump();
  EXPECT_FALSE(job["metadata"].contains("name")) << job.dump();
  EXPECT_TRUE(job.contains("spec")) << job.dump();

  // A wrong type is no unknown field: still refused (Argo CD's crd-validation).
  Write("app/other.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: other\n  annotations:\n"
        "    argocd.argoproj.io/sync-options: Validate=false\nspec: {ports: [{port: \"80\"}]}\n");
  sha = Commit("wrong type");
  m = Fetched();
  auto typed = Render(*m, sha, src);
  ASSERT_FALSE(typed);
  EXPECT_NE(typed.error().message.find("app/other.yaml:7:"), std::string::npos)
      << typed.error().message;
}

TEST(GlobTest, ArgoCdIncludeAndExclude) {
  EXPECT_TRUE(MatchesGlobs("", "a.yaml", true));
  EXPECT_FALSE(MatchesGlobs("", "a.yaml", false));
  EXPECT_TRUE(MatchesGlobs("*.yaml", "a.yaml", false));
  EXPECT_TRUE(MatchesGlobs("*.yaml", "sub/a.yaml", false));
  EXPECT_FALSE(MatchesGlobs("*.yaml", "a.json", false));
  EXPECT_TRUE(MatchesGlobs("{config.json,env-usw2/*}", "env-usw2/x.yaml", false));
  EXPECT_TRUE(MatchesGlobs("{config.json,env-usw2/*}", "config.json", false));
  EXPECT_FALSE(MatchesGlobs("{config.json,env-usw2/*}", "env-use1/x.yaml", false));
}

}  // namespace
}  // namespace strake::gitops
