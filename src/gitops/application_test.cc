#include "gitops/application.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "base/clock.h"
#include "gitops/test_repo.h"
#include "store/sqlite_store.h"

namespace strake::gitops {
namespace {

using model::Json;

// Nothing is synced here (no automated policy): the reconciler only reads.
class ReadOnlyWriter : public ResourceWriter {
 public:
  Status Apply(const Json&) override { return Fail("not expected"); }
  Status Replace(const Json&) override { return Fail("not expected"); }
  Status Delete(const store::Key&) override { return Fail("not expected"); }
  std::optional<bool> Namespaced(const std::string&, const std::string&) override { return true; }
};

class ApplicationIndexTest : public GitTest {
 protected:
  void SetUp() override {
    GitTest::SetUp();
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st) << st.error().message;
    store_ = std::move(*st);
    sources_ = std::make_unique<Sources>(dir_ + "/git", *store_, clock_, EgressPolicy::Open());
    apps_ = std::make_unique<ApplicationReconciler>(*store_, writer_, *sources_, clock_);
  }
  // Creates (or moves) Application `name` reading `path`, and reconciles it.
  void App(const std::string& name, const std::string& path) {
    store::Resource r;
    r.key = {"Application", "default", name};
    r.object = {
        {"apiVersion", "argoproj.io/v1alpha1"},
        {"kind", "Application"},
        {"metadata", {{"name", name}, {"namespace", "default"}}},
        {"spec",
         {{"source", {{"repoURL", Url()}, {"path", path}}}, {"destination", {{"name", "local"}}}}}};
    auto got = store_->Get(r.key);
    ASSERT_TRUE(got);
    if (*got) {
      ASSERT_TRUE(store_->Update(r, (*got)->resource_version));
    } else {
      ASSERT_TRUE(store_->Create(r, "Created", ""));
    }
    auto done = apps_->Reconcile("default/" + name);
    ASSERT_TRUE(done) << done.error().message;
  }
  std::string Url() const { return "file://" + bare_; }

  SystemClock clock_;
  store::StorePtr store_;
  ReadOnlyWriter writer_;
  std::unique_ptr<Sources> sources_;
  std::unique_ptr<ApplicationReconciler> apps_;
};

TEST_F(ApplicationIndexTest, APushTouchesTheApplicationsOfTheDirectoriesItChanged) {
  for (const char* dir : {"env/a", "env/b", "env/ab"}) {
    Write(std::string(dir) + "/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  }
  Commit("apps");
  App("a", "env/a");
  App("b", "./env/b/");  // cleaned: the same as env/b
  App("ab", "env/ab");
  App("env", "env");
  App("root", ".");

  SourceChange change;
  change.everything = false;
  change.paths = {"env/a/cm.yaml"};
  EXPECT_EQ(apps_->AppsTouched(Url(), change),
            (std::vector<std::string>{"default/a", "default/env", "default/root"}));
  change.paths = {"env/b/deep/x.yaml", "README.md"};
  EXPECT_EQ(apps_->AppsTouched(Url(), change),
            (std::vector<std::string>{"default/b", "default/env", "default/root"}));
  change.paths = {"env"};  // a file named like the directory: under no path
  EXPECT_EQ(apps_->AppsTouched(Url(), change), (std::vector<std::string>{"default/root"}));
  change.everything = true;
  EXPECT_EQ(apps_->AppsTouched(Url(), change).size(), 5u);
  EXPECT_EQ(apps_->AppsOfRepo(Url()).size(), 5u);
  EXPECT_TRUE(apps_->AppsOfRepo("file:///elsewhere").empty());

  // An Application that moves is found at its new path only; one deleted,
  // nowhere.
  App("a", "env/b");
  change.everything = false;
  change.paths = {"env/a/cm.yaml"};
  EXPECT_EQ(apps_->AppsTouched(Url(), change),
            (std::vector<std::string>{"default/env", "default/root"}));
  ASSERT_TRUE(store_->Delete({"Application", "default", "root"}));
  ASSERT_TRUE(apps_->Reconcile("default/root"));
  EXPECT_EQ(apps_->AppsTouched(Url(), change), (std::vector<std::string>{"default/env"}));
  EXPECT_EQ(apps_->AppsOfRepo(Url()).size(), 4u);
}

// Argo CD's source parameter files: `.argocd-source.yaml`, then the
// Application's own, merged over its source as JSON merge patches; a field
// Argo CD does not take from them, or one strake refuses, is an error with
// its place, never ignored.
TEST_F(ApplicationIndexTest, ArgoCdsSourceParameterFilesOverrideTheSource) {
  const char* cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n";
  auto config_map = [&](const std::string& name) {
    std::string text = cm;
    return text.replace(text.find("%s"), 2, name);
  };
  Write("env/a/top.yaml", config_map("top"));
  Write("env/a/sub/deep.yaml", config_map("deep"));
  Write("env/a/sub/skipped.yaml", config_map("skipped"));
  Write("env/a/.argocd-source.yaml", "directory:\n  recurse: true\n  exclude: sub/deep.yaml\n");
  Write("env/a/.argocd-source-own.yaml", "directory:\n  exclude: 'sub/*'\n");
  Write("env/b/top.yaml", config_map("top"));
  Write("env/b/.argocd-source.yaml", "directory: {recurse: true}\npath: elsewhere\n");
  Write("env/c/top.yaml", config_map("top"));
  Write("env/c/.argocd-source.yaml", "kustomize:\n  components: [../extra]\n");
  Commit("overrides");
  auto names = [&](const std::string& app) {
    auto got = store_->Get({"Application", "default", app});
    std::vector<std::string> out;
    if (!got || !*got) return out;
    for (const Json& r : (*got)->status.value("resources", Json::array()))
      out.push_back(r.value("name", ""));
    std::sort(out.begin(), out.end());
    return out;
  };
  auto conditions = [&](const std::string& app) {
    auto got = store_->Get({"Application", "default", app});
    return got && *got ? (*got)->status.value("conditions", Json::array()).dump() : "";
  };
  App("shared", "env/a");  // .argocd-source.yaml only: recurse, deep.yaml excluded
  EXPECT_EQ(names("shared"), (std::vector<std::string>{"skipped", "top"})) << conditions("shared");
  App("own", "env/a");  // its own file's exclude replaces the shared one
  EXPECT_EQ(names("own"), (std::vector<std::string>{"top"})) << conditions("own");
  // In another namespace, Argo CD's instance name is <namespace>_<name>:
  // `own`'s file is not its.
  {
    store::Resource r;
    r.key = {"Application", "team", "own"};
    r.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "Application"},
                {"metadata", {{"name", "own"}, {"namespace", "team"}}},
                {"spec",
                 {{"source", {{"repoURL", Url()}, {"path", "env/a"}}},
                  {"destination", {{"name", "local"}}}}}};
    ASSERT_TRUE(store_->Create(r, "Created", ""));
    ASSERT_TRUE(apps_->Reconcile("team/own"));
    auto got = store_->Get(r.key);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ((*got)->status.value("resources", Json::array()).size(), 2u) << (*got)->status.dump();
  }
  App("bad", "env/b");
  EXPECT_NE(conditions("bad").find("env/b/.argocd-source.yaml:2:1: path: Argo CD takes only "
                                   "directory, kustomize, helm and plugin from this file"),
            std::string::npos)
      << conditions("bad");
  App("images", "env/c");
  EXPECT_NE(conditions("images").find("env/c/.argocd-source.yaml over the Application's source"),
            std::string::npos)
      << conditions("images");
  EXPECT_NE(conditions("images").find("spec.source.kustomize.components: not supported"),
            std::string::npos)
      << conditions("images");
}

// Applies into the store as the API would (no validation), and counts.
class StoreWriter : public ResourceWriter {
 public:
  explicit StoreWriter(store::Store& store) : store_(store) {}
  Status Apply(const Json& object) override {
    store::Resource r;
    r.key = {object.value("kind", ""), object["metadata"].value("namespace", ""),
             object["metadata"].value("name", "")};
    r.object = object;
    ++applied[r.key.name];
    STRAKE_TRY_ASSIGN(got, store_.Get(r.key));
    auto written = got ? store_.Update(r, got->resource_version) : store_.Create(r, "Created", "");
    if (!written) return tl::unexpected(written.error());
    return Ok();
  }
  Status Replace(const Json& object) override {
    ++replaced[object["metadata"].value("name", "")];
    return Apply(object);
  }
  Status Delete(const store::Key& key) override { return store_.Delete(key); }
  std::optional<bool> Namespaced(const std::string&, const std::string&) override { return true; }

  std::map<std::string, int> applied;   // by name
  std::map<std::string, int> replaced;  // by name

 private:
  store::Store& store_;
};

// The same, with a reconciler that syncs into the store.
class ApplicationSyncTest : public ApplicationIndexTest {
 protected:
  void SetUp() override {
    ApplicationIndexTest::SetUp();
    store_writer_ = std::make_unique<StoreWriter>(*store_);
    apps_ = std::make_unique<ApplicationReconciler>(*store_, *store_writer_, *sources_, clock_);
  }
  void Reconcile() {
    auto done = apps_->Reconcile("default/app");
    ASSERT_TRUE(done) << done.error().message;
  }
  // Application "app" reading "app/" with this syncPolicy (and `more` of its spec).
  void CreateApp(const Json& sync_policy, const Json& more = Json::object()) {
    Json spec = {{"source", {{"repoURL", Url()}, {"path", "app"}}},
                 {"destination", {{"name", "local"}}},
                 {"syncPolicy", sync_policy}};
    spec.update(more);
    store::Resource app;
    app.key = {"Application", "default", "app"};
    app.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                  {"kind", "Application"},
                  {"metadata", {{"name", "app"}, {"namespace", "default"}}},
                  {"spec", spec}};
    ASSERT_TRUE(store_->Create(app, "Created", ""));
  }
  Json Operation() {
    auto got = store_->Get({"Application", "default", "app"});
    EXPECT_TRUE(got && *got);
    return got && *got ? (*got)->status.value("operationState", Json::object()) : Json();
  }

  std::unique_ptr<StoreWriter> store_writer_;
};

// The only hook of a sync fails: the retry creates it again rather than
// finding it failed once more (its record was forgotten, not kept).
TEST_F(ApplicationSyncTest, ARetryRunsTheOnlyHookThatFailedAgain) {
  Write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  Write("app/pre.yaml", R"(apiVersion: batch/v1
kind: Job
metadata:
  name: pre
  annotations: {argocd.argoproj.io/hook: PreSync}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: alpine, command: [sh, -c, "exit 3"]}]
)");
  Commit("a hook");
  CreateApp({{"automated", Json::object()},
             {"retry", {{"limit", 3}, {"backoff", {{"duration", "1s"}}}}}});
  Reconcile();  // the operation starts
  Reconcile();  // the PreSync hook is created
  ASSERT_EQ(store_writer_->applied["pre"], 1) << Operation().dump(2);
  auto job = store_->Get({"Job", "default", "pre"});
  ASSERT_TRUE(job && *job);
  Json failed = {{"conditions", {{{"type", "Failed"}, {"status", "True"}, {"message", "exit 3"}}}}};
  ASSERT_TRUE(store_->UpdateStatus((*job)->key, failed, (*job)->resource_version, "Failed", ""));
  Reconcile();
  ASSERT_EQ(Operation().value("retryCount", 0), 1) << Operation().dump(2);
  Reconcile();  // the retry
  EXPECT_EQ(store_writer_->applied["pre"], 2) << Operation().dump(2);
  EXPECT_EQ(Operation()["hooks"]["PreSync:Job/default/pre"].value("phase", ""), "Running")
      << Operation().dump(2);
}

// Argo CD's sync options, honoured: CreateNamespace with its metadata,
// RespectIgnoreDifferences keeping an ignored field's live value, Replace
// writing the object whole.
TEST_F(ApplicationSyncTest, SyncOptionsAreHonoured) {
  Write("app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        "data: {a: '1', b: git}\n");
  Write("app/rep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\n  annotations:\n"
        "    argocd.argoproj.io/sync-options: Replace=true\ndata: {x: '1'}\n");
  Commit("two maps");
  store::Resource live;
  live.key = {"ConfigMap", "team", "c"};
  live.object = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", {{"name", "c"}, {"namespace", "team"}}},
                 {"data", {{"a", "0"}, {"b", "live"}}}};
  ASSERT_TRUE(store_->Create(live, "Created", ""));
  CreateApp({{"automated", Json::object()},
             {"managedNamespaceMetadata", {{"labels", {{"owner", "web"}}}}},
             {"syncOptions", {"CreateNamespace=true", "RespectIgnoreDifferences=true"}}},
            {{"destination", {{"name", "local"}, {"namespace", "team"}}},
             {"ignoreDifferences", {{{"kind", "ConfigMap"}, {"jsonPointers", {"/data/b"}}}}}});
  Reconcile();  // the operation starts
  Reconcile();  // and syncs
  EXPECT_EQ(Operation().value("phase", ""), "Succeeded") << Operation().dump(2);
  auto ns = store_->Get({"Namespace", "", "team"});
  ASSERT_TRUE(ns && *ns) << Operation().dump(2);
  EXPECT_EQ((*ns)->object["metadata"]["labels"]["owner"], "web");
  auto c = store_->Get({"ConfigMap", "team", "c"});
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->object["data"]["a"], "1");
  EXPECT_EQ((*c)->object["data"]["b"], "live") << "ignored, and respected by the sync";
  EXPECT_EQ(store_writer_->replaced["r"], 1);
  EXPECT_EQ(store_writer_->replaced["c"], 0);
}

// Argo CD's compare-options IgnoreExtraneous: a resource git no longer
// declares shows OutOfSync (it needs pruning), the Application stays Synced.
TEST_F(ApplicationSyncTest, IgnoreExtraneousKeepsTheApplicationSynced) {
  Write("app/c.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n"
        "    argocd.argoproj.io/compare-options: IgnoreExtraneous\n");
  Write("app/d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n");
  Write("app/e.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n");
  Commit("three maps");
  CreateApp({{"automated", Json::object()}});
  Reconcile();
  Reconcile();
  ASSERT_EQ(Operation().value("phase", ""), "Succeeded") << Operation().dump(2);
  auto sync_status = [&] {
    auto got = store_->Get({"Application", "default", "app"});
    EXPECT_TRUE(got && *got);
    return (*got)->status["sync"].value("status", "");
  };
  Remove("app/c.yaml");
  Commit("c goes");
  sources_->Get(Url(), /*force=*/true);
  Reconcile();
  EXPECT_EQ(sync_status(), "Synced");
  auto got = store_->Get({"Application", "default", "app"});
  bool shown = false;
  for (const Json& r : (*got)->status["resources"]) {
    if (r.value("name", "") != "c") continue;
    shown = true;
    EXPECT_EQ(r.value("status", ""), "OutOfSync") << r.dump();
    EXPECT_TRUE(r.value("requiresPruning", false)) << r.dump();
  }
  EXPECT_TRUE(shown) << (*got)->status.dump(2);
  Remove("app/d.yaml");  // without the option: the Application is OutOfSync
  Commit("d goes");
  sources_->Get(Url(), /*force=*/true);
  Reconcile();
  EXPECT_EQ(sync_status(), "OutOfSync");

  // An option strake does not know or honour is an error with its place.
  Write("app/e.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: e\n  annotations:\n"
        "    argocd.argoproj.io/compare-options: IgnoreExtranous\n"
        "    argocd.argoproj.io/sync-options: Prune=flase,Force=true\n");
  Commit("bad options");
  sources_->Get(Url(), /*force=*/true);
  Reconcile();
  got = store_->Get({"Application", "default", "app"});
  std::string conditions = (*got)->status.value("conditions", Json::array()).dump();
  for (const char* want :
       {"app/e.yaml:1:1: metadata.annotations[argocd.argoproj.io/sync-options]: Prune takes true "
        "or false, not \\\"flase\\\"",
        "not supported: Force=true",
        "metadata.annotations[argocd.argoproj.io/compare-options]: unknown compare option "
        "\\\"IgnoreExtranous\\\" (did you mean \\\"IgnoreExtraneous\\\"?)"}) {
    EXPECT_NE(conditions.find(want), std::string::npos) << want << "\n" << conditions;
  }
}

// Argo CD's duplicated-resources: an object declared twice is its last
// declaration, with a RepeatedResourceWarning; the sync goes on.
TEST_F(ApplicationSyncTest, ARepeatedResourceIsItsLastDeclarationWithAWarning) {
  Write("app/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {v: first}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n"
        "data: {v: last}\n");
  Write("app/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n");
  Commit("c twice");
  CreateApp({{"automated", Json::object()}});
  Reconcile();  // the operation starts
  Reconcile();  // and syncs
  Reconcile();  // compared again
  EXPECT_EQ(Operation().value("phase", ""), "Succeeded") << Operation().dump(2);
  auto c = store_->Get({"ConfigMap", "default", "c"});
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->object["data"]["v"], "last");
  auto app = store_->Get({"Application", "default", "app"});
  std::string conditions = (*app)->status.value("conditions", Json::array()).dump();
  EXPECT_NE(conditions.find("RepeatedResourceWarning"), std::string::npos) << conditions;
  EXPECT_NE(conditions.find("ConfigMap default/c appeared 2 times among the application's "
                            "resources (app/a.yaml:1:1, app/a.yaml:6:1): the last is used"),
            std::string::npos)
      << conditions;
  EXPECT_EQ((*app)->status["sync"].value("status", ""), "Synced");
}

// argocd-image-updater's write-back: `.argocd-source-<app>.yaml` sets the
// kustomize image, Argo CD's $ARGOCD_APP_* variables expanded; the
// Application's own kustomize overrides apply beneath it.
TEST_F(ApplicationSyncTest, AnImageWrittenBackToGitIsTheImageSynced) {
  Write("app/kustomization.yaml", "resources: [deploy.yaml]\n");
  Write("app/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
        "      - {name: web, image: 'web:v1', command: [sleep, '60']}\n");
  Write("app/.argocd-source-app.yaml",
        "kustomize:\n  images: ['web:v2-${ARGOCD_APP_NAME}']\n  commonLabels: {from: git}\n");
  Commit("image write-back");
  CreateApp({{"automated", Json::object()}},
            {{"source",
              {{"repoURL", Url()},
               {"path", "app"},
               {"kustomize", {{"namePrefix", "dev-"}, {"images", {"web:v0"}}}}}}});
  Reconcile();
  Reconcile();
  Reconcile();
  EXPECT_EQ(Operation().value("phase", ""), "Succeeded") << Operation().dump(2);
  auto d = store_->Get({"Deployment", "default", "dev-web"});
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->object["spec"]["template"]["spec"]["containers"][0]["image"], "web:v2-app");
  EXPECT_EQ((*d)->object["metadata"]["labels"]["from"], "git");
}

TEST_F(ApplicationSyncTest, FailOnSharedResourceFailsBeforeAnythingIsWritten) {
  Write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n");
  Write("app/d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {a: '1'}\n");
  Commit("two maps");
  store::Resource live;
  live.key = {"ConfigMap", "default", "c"};
  live.object = {{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata",
                  {{"name", "c"},
                   {"namespace", "default"},
                   {"annotations",
                    {{"argocd.argoproj.io/tracking-id", "default_other:/ConfigMap:default/c"}}}}},
                 {"data", {{"a", "0"}}}};
  ASSERT_TRUE(store_->Create(live, "Created", ""));
  CreateApp({{"automated", Json::object()}, {"syncOptions", {"FailOnSharedResource=true"}}});
  Reconcile();
  Reconcile();
  EXPECT_EQ(Operation().value("phase", ""), "Failed") << Operation().dump(2);
  EXPECT_NE(Operation()
                .value("message", "")
                .find("ConfigMap c is also managed by default_other (FailOnSharedResource=true)"),
            std::string::npos)
      << Operation().dump(2);
  EXPECT_EQ(store_writer_->applied["d"], 0) << "nothing is written";
}

}  // namespace
}  // namespace strake::gitops
