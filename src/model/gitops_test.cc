#include "model/gitops.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

Result<Resource> DecodeOne(const std::string& text) {
  auto docs = ParseYaml(text, "app.yaml");
  if (!docs) return tl::unexpected(docs.error());
  Diagnostics diags;
  auto out = Decode(*docs, diags);
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  if (out.size() != 1) return Fail("not one resource");
  return out[0];
}

TEST(GitopsDecodeTest, AnApplicationGetsArgoCdDefaults) {
  auto r = DecodeOne(R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: strake}
spec:
  source: {repoURL: "file:///srv/git/apps.git", path: guestbook}
  destination: {name: local, namespace: web}
)");
  ASSERT_TRUE(r) << r.error().message;
  const auto& a = std::get<Application>(r->value);
  EXPECT_EQ(a.spec.project, "default");
  EXPECT_EQ(a.spec.source.target_revision, "HEAD");
  EXPECT_EQ(a.spec.source.path, "guestbook");
  EXPECT_FALSE(a.spec.automated);
  EXPECT_EQ(a.spec.revision_history_limit, 10);
  EXPECT_EQ(a.spec.destination_namespace, "web");
  EXPECT_FALSE(a.spec.retry);
}

TEST(GitopsDecodeTest, DirectoryJsonnetAsArgoCdWritesIt) {
  const char* kApp = R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: jsonnet}
spec:
  source:
    repoURL: "file:///srv/git/apps.git"
    path: jsonnet-tla
    directory:
      jsonnet:
        extVars: [{name: foo, value: $ARGOCD_APP_NAME}, {name: bar, value: "'x'", code: true}]
        tlas: [{name: replicas, value: "0", code: true}, {name: empty, value: ""}]
        libs: [vendor, lib/jsonnet]
  destination: {name: local, namespace: web}
)";
  auto r = DecodeOne(kApp);
  ASSERT_TRUE(r) << r.error().message;
  const auto& s = std::get<Application>(r->value).spec.source;
  ASSERT_EQ(s.jsonnet_ext_vars.size(), 2u);
  EXPECT_EQ(s.jsonnet_ext_vars[0].value, "$ARGOCD_APP_NAME");  // expanded when rendered
  EXPECT_FALSE(s.jsonnet_ext_vars[0].code);
  EXPECT_TRUE(s.jsonnet_ext_vars[1].code);
  ASSERT_EQ(s.jsonnet_tlas.size(), 2u);
  EXPECT_EQ(s.jsonnet_tlas[0].name, "replicas");
  EXPECT_EQ(s.jsonnet_libs, (std::vector<std::string>{"vendor", "lib/jsonnet"}));

  std::string bad = kApp;
  bad.replace(bad.find("{name: empty"), 12, "{name: replicas");
  bad.replace(bad.find("lib/jsonnet"), 11, "../shared");
  bad.replace(bad.find("code: true}]\n        tlas"), 10, "kode: true");
  r = DecodeOne(bad);
  ASSERT_FALSE(r);
  const std::string& e = r.error().message;
  EXPECT_NE(e.find("spec.source.directory.jsonnet.tlas[1].name: \"replicas\" is given twice"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("spec.source.directory.jsonnet.libs[1]: \"../shared\" leaves the repository"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("spec.source.directory.jsonnet.extVars[1].kode: unknown field"),
            std::string::npos)
      << e;
}

TEST(GitopsDecodeTest, SyncPolicyRetryAndIgnoreDifferences) {
  auto r = DecodeOne(R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a}
spec:
  source: {repoURL: "https://git.example/a.git", targetRevision: main, directory: {recurse: true, exclude: "*.md"}}
  destination: {server: "https://kubernetes.default.svc"}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [PruneLast=true, ApplyOutOfSyncOnly=true]
    retry: {limit: 3, backoff: {duration: 1s, factor: 3, maxDuration: 1m}}
  ignoreDifferences:
  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
)");
  ASSERT_TRUE(r) << r.error().message;
  const auto& a = std::get<Application>(r->value).spec;
  EXPECT_TRUE(a.automated && a.prune && a.self_heal && !a.allow_empty);
  EXPECT_TRUE(a.SyncOption("PruneLast"));
  EXPECT_FALSE(a.SyncOption("Replace"));
  ASSERT_TRUE(a.retry);
  EXPECT_EQ(a.retry->limit, 3);
  EXPECT_EQ(a.retry->duration, Millis(1000));
  EXPECT_EQ(a.retry->factor, 3);
  EXPECT_EQ(a.retry->max_duration, Millis(60'000));
  ASSERT_EQ(a.ignore_differences.size(), 1u);
  EXPECT_EQ(a.ignore_differences[0].json_pointers[0], "/spec/replicas");
  EXPECT_TRUE(a.source.recurse);
}

TEST(GitopsDecodeTest, KustomizeOverridesAsArgoCdWritesThem) {
  auto r = DecodeOne(R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a}
spec:
  source:
    repoURL: "file:///r"
    kustomize:
      namePrefix: dev-
      images: [web:v2, "db=mirror/db@sha256:ab"]
      replicas: [{name: web, count: 3}, {name: db, count: "2"}]
      commonLabels: {tier: front}
      commonAnnotations: {rev: $ARGOCD_APP_REVISION}
      commonAnnotationsEnvsubst: true
      forceCommonLabels: true
      patches: [{target: {kind: Deployment}, patch: "- op: remove\n  path: /spec/x"}]
  destination: {name: local}
)");
  ASSERT_TRUE(r) << r.error().message;
  const KustomizeOverrides& o = std::get<Application>(r->value).spec.source.kustomize_overrides;
  EXPECT_EQ(o.name_prefix, "dev-");
  EXPECT_EQ(o.images, (std::vector<std::string>{"web:v2", "db=mirror/db@sha256:ab"}));
  EXPECT_EQ(o.replicas, (std::vector<std::pair<std::string, int>>{{"web", 3}, {"db", 2}}));
  EXPECT_EQ(o.common_labels.at("tier"), "front");
  EXPECT_EQ(o.common_annotations.at("rev"), "$ARGOCD_APP_REVISION");  // expanded when rendered
  EXPECT_TRUE(o.common_annotations_envsubst);
  EXPECT_TRUE(o.force_common_labels);
  ASSERT_EQ(o.patches.size(), 1u);
  EXPECT_EQ(o.patches[0]["target"]["kind"], "Deployment");
  EXPECT_FALSE(o.Empty());
}

TEST(GitopsDecodeTest, BadApplicationsNameTheField) {
  struct Case {
    const char* spec;
    const char* want;
  };
  const Case cases[] = {
      {"source: {repoURL: \"ftp://x/y\"}\n  destination: {name: local}",
       "spec.source.repoURL: unsupported repository URL \"ftp://x/y\""},
      {"source: {repoURL: \"git://x/y\"}\n  destination: {name: local}",
       "spec.source.repoURL: unsupported repository URL \"git://x/y\""},
      // Credentials written into the URL are not repeated in the error.
      {"source: {repoURL: \"ftp://bob:s3cret@x/y\"}\n  destination: {name: local}",
       "spec.source.repoURL: unsupported repository URL \"ftp://<redacted>@x/y\""},
      {"source: {repoURL: \"ext::sh -c id\"}\n  destination: {name: local}",
       "spec.source.repoURL: unsupported repository URL"},
      {"source: {repoURL: \"host:path\"}\n  destination: {name: local}",
       "spec.source.repoURL: unsupported repository URL"},
      {"source: {repoURL: \"file:///r\", path: ../../etc}\n  destination: {name: local}",
       "spec.source.path: \"../../etc\" leaves the repository"},
      {"source: {repoURL: \"file:///r\", path: /etc}\n  destination: {name: local}",
       "spec.source.path: \"/etc\" must be relative"},
      {"source: {repoURL: \"file:///r\", kustomize: {replicas: [{name: w, count: lots}]}}\n"
       "  destination: {name: local}",
       "spec.source.kustomize.replicas[0].count: expected an integer"},
      {"source: {repoURL: \"file:///r\", kustomize: {components: [c]}}\n"
       "  destination: {name: local}",
       "spec.source.kustomize.components: not supported: kustomize components"},
      {"source: {repoURL: \"file:///r\", helm: {}}\n  destination: {name: local}",
       "spec.source.helm: not supported: Helm charts are not supported yet"},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: prod-eu}",
       "spec.destination.name: unknown destination \"prod-eu\""},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  syncPolicy: "
       "{syncOptions: [PruneLats=true]}",
       "unknown sync option \"PruneLats=true\" (did you mean \"PruneLast\"?)"},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  syncPolicy: "
       "{syncOptions: [Validate=no]}",
       "spec.syncPolicy.syncOptions[0]: Validate takes true or false, not \"no\""},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  syncPolicy: "
       "{syncOptions: [PrunePropagationPolicy=orphan]}",
       "not supported: PrunePropagationPolicy=orphan: a pruned object's dependents"},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  syncPolicy: "
       "{syncOptions: [CreateNamespace=yes]}",
       "CreateNamespace takes true or false, not \"yes\""},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  ignoreDifferences: "
       "[{kind: Deployment, jsonPointers: [spec/replicas]}]",
       "spec.ignoreDifferences[0].jsonPointers[0]: a JSON pointer starts with \"/\""},
      {"source: {repoURL: \"file:///r\"}\n  destination: {name: local}\n  syncPolicy: "
       "{automated: {selfHeel: true}}",
       "spec.syncPolicy.automated.selfHeel: unknown field"},
  };
  for (const auto& c : cases) {
    std::string text = std::string(
                           "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
                           "metadata: {name: a}\nspec:\n  ") +
                       c.spec + "\n";
    auto r = DecodeOne(text);
    ASSERT_FALSE(r) << c.spec;
    EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("app.yaml:"), std::string::npos) << r.error().message;
  }
}

TEST(GitopsDecodeTest, ScpLikeRepositoryUrlsAreTakenAsArgoCdTakesThem) {
  auto r = DecodeOne(R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a}
spec:
  source: {repoURL: "git@github.com:argoproj/argocd-example-apps.git", path: guestbook}
  destination: {name: local}
)");
  ASSERT_TRUE(r) << r.error().message;
}

TEST(GitopsDecodeTest, Repository) {
  auto r = DecodeOne(R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {name: apps}
spec: {url: "http://127.0.0.1:9/apps.git", pollInterval: 30s, secretRef: {name: git-creds}}
)");
  ASSERT_TRUE(r) << r.error().message;
  const auto& repo = std::get<Repository>(r->value).spec;
  EXPECT_EQ(repo.poll_interval, Millis(30'000));
  EXPECT_EQ(repo.secret_ref, "git-creds");
  auto bad = DecodeOne(
      "apiVersion: strake.dev/v1\nkind: Repository\nmetadata: {name: r}\nspec: {url: "
      "\"/srv/x\", pollInterval: 10ms}\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.url: unsupported repository URL"), std::string::npos);
  EXPECT_NE(bad.error().message.find("spec.pollInterval: must be at least 1s"), std::string::npos);
  auto default_poll = DecodeOne(
      "apiVersion: strake.dev/v1\nkind: Repository\nmetadata: {name: r}\nspec: {url: "
      "\"file:///srv/x.git\"}\n");
  ASSERT_TRUE(default_poll);
  EXPECT_EQ(std::get<Repository>(default_poll->value).spec.poll_interval, Millis(60'000));
}

}  // namespace
}  // namespace strake::model
