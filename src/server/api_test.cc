// The API over a store alone (no server, no controllers): what it shows of
// the objects it keeps.
#include "server/api.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/merge.h"
#include "model/node.h"
#include "server/auth.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("api");
    ASSERT_TRUE(dir);
    dir_ = *dir;
    auto store = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    api_ = std::make_unique<Api>(*store_);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    (void)RemoveAll(dir_);
  }

  Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& type = "") {
    Request req = MakeRequest(method, target);
    req.body = body;
    if (!type.empty()) req.headers.emplace_back("Content-Type", type);
    return api_->Handle(req);
  }

  // The same, as the Gate passes it on for `user` (server/auth.h).
  Response CallAs(const std::string& user, const std::string& role, const std::string& method,
                  const std::string& target, const std::string& body = "",
                  const store::Json& claims = store::Json::object()) {
    Request req = MakeRequest(method, target);
    req.body = body;
    if (method == "PATCH") req.headers.emplace_back("Content-Type", "application/merge-patch+json");
    req.headers.emplace_back(
        kPrincipalHeader,
        store::Json{{"token", "t-" + user}, {"role", role}, {"user", user}, {"claims", claims}}
            .dump());
    return api_->Handle(req);
  }

  // A Secret "creds": `token` in data, `pin` in stringData.
  static store::Json CredsSecret(const std::string& token, const std::string& pin) {
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", "creds"}}},
            {"data", {{"token", Base64Encode(token)}}},
            {"stringData", {{"pin", pin}}}};
  }

  std::string dir_;
  store::StorePtr store_;
  std::unique_ptr<Api> api_;
};

// kubectl's client-side apply sends the whole object along in the
// annotation kubectl.kubernetes.io/last-applied-configuration: for a Secret,
// every value. The API shows that record's keys, never its values, as it
// shows the Secret's own.
TEST_F(ApiTest, ASecretsValuesNeverShowNotEvenInALastAppliedRecordAClientSent) {
  const std::string token = "s3cr3t-token-value", pin = "hunter2-pin";
  store::Json secret = CredsSecret(token, pin);
  secret["metadata"]["annotations"][model::kLastApplied] = secret.dump();
  const std::string path = "/api/v1/namespaces/default/secrets";
  std::vector<Response> answers;
  answers.push_back(Call("POST", path, secret.dump()));
  EXPECT_EQ(answers.back().status, 201) << answers.back().body;
  secret["metadata"]["labels"]["team"] = "web";
  answers.push_back(Call("PUT", path + "/creds", secret.dump()));
  answers.push_back(Call("PATCH", path + "/creds", R"({"metadata":{"labels":{"team":"api"}}})",
                         "application/merge-patch+json"));
  answers.push_back(Call("GET", path + "/creds"));
  answers.push_back(Call("GET", path));
  for (const auto& a : answers) {
    EXPECT_EQ(a.status / 100, 2) << a.body;
    for (const std::string& value : {token, Base64Encode(token), pin}) {
      EXPECT_EQ(a.body.find(value), std::string::npos) << value << " in " << a.body;
    }
  }
  // The record still says which keys were applied.
  store::Json got = store::Json::parse(answers[3].body);
  store::Json record =
      store::Json::parse(got["metadata"]["annotations"][model::kLastApplied].get<std::string>());
  EXPECT_EQ(record["data"], store::Json::parse(R"({"token":"<redacted>"})"));
  EXPECT_EQ(record["stringData"], store::Json::parse(R"({"pin":"<redacted>"})"));
}

// `get secret -o json`, edited, and written back: each "<redacted>" keeps
// the value strake holds; one for a key it holds no value for is refused,
// and the placeholder is never stored as a value.
// /api/v1/namespaces/NAME is the Namespace itself, as Kubernetes serves
// it; /api/v1/namespaces/NAME/configmaps what is in it.
// A list is served from the texts kept by resourceVersion: the same as each
// object read alone, a changed one shown as changed, a deleted one gone, a
// label selector applied, the second list the same as the first.
TEST_F(ApiTest, AListFromKeptTextsIsWhatEachObjectReadsAsAndFollowsChanges) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  auto cm = [](const std::string& name, const std::string& value, const std::string& tier) {
    return store::Json{{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", name}, {"labels", {{"tier", tier}}}}},
                       {"data", {{"value", value}}}}
        .dump();
  };
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(Call("POST", path, cm(fmt::format("c{:02}", i), "v1", i % 2 ? "web" : "db")).status,
              201);
  }
  auto items = [&](const std::string& query = "") {
    Response r = Call("GET", path + query);
    EXPECT_EQ(r.status, 200) << r.body;
    return store::Json::parse(r.body)["items"];
  };
  store::Json first = items();
  ASSERT_EQ(first.size(), 12u);
  for (const auto& item : first) {
    std::string name = item["metadata"]["name"];
    EXPECT_EQ(nlohmann::json::parse(item.dump()),
              nlohmann::json::parse(Call("GET", path + "/" + name).body))
        << name;
  }
  EXPECT_EQ(items(), first) << "the second list, from kept texts";
  ASSERT_EQ(Call("PUT", path + "/c03", cm("c03", "v2", "web")).status, 200);
  ASSERT_EQ(Call("DELETE", path + "/c04").status, 200);
  store::Json after = items();
  ASSERT_EQ(after.size(), 11u);
  auto named = [&](const std::string& name) {
    for (const auto& item : after)
      if (item["metadata"]["name"] == name) return item;
    return store::Json();
  };
  EXPECT_EQ(named("c03")["data"]["value"], "v2");
  EXPECT_EQ(nlohmann::json::parse(named("c03").dump()),
            nlohmann::json::parse(Call("GET", path + "/c03").body));
  EXPECT_TRUE(named("c04").is_null());
  store::Json web = items("?labelSelector=tier%3Dweb");
  ASSERT_EQ(web.size(), 6u);
  for (const auto& item : web) EXPECT_EQ(item["metadata"]["labels"]["tier"], "web");
}

TEST_F(ApiTest, ANamespaceIsServedAtItsOwnPath) {
  const std::string ns = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"hello"}})";
  Response made = Call("POST", "/api/v1/namespaces", ns);
  ASSERT_EQ(made.status, 201) << made.body;
  Response got = Call("GET", "/api/v1/namespaces/hello");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(store::Json::parse(got.body)["metadata"]["name"], "hello");
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/hello/configmaps").status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/namespaces/hello").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/hello").status, 404);
}

// A Warehouse's expressionFilter is compiled at apply, as an analysis
// condition is: a typo is refused with its field, not found at discovery.
TEST_F(ApiTest, AWarehouseWhoseExpressionFilterDoesNotCompileIsRefused) {
  auto warehouse = [](const std::string& filter) {
    store::Json git = {{"repoURL", "https://example.com/app.git"}, {"expressionFilter", filter}};
    return store::Json{{"apiVersion", "kargo.akuity.io/v1alpha1"},
                       {"kind", "Warehouse"},
                       {"metadata", {{"name", "app"}}},
                       {"spec", {{"subscriptions", {{{"git", git}}}}}}}
        .dump();
  };
  const std::string path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/warehouses";
  Response bad = Call("POST", path, warehouse("subject contains"));
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("warehouse app: spec.subscriptions[0].git.expressionFilter: col"),
            std::string::npos)
      << bad.body;
  Response good = Call("POST", path, warehouse("!(subject contains '[skip ci]')"));
  EXPECT_EQ(good.status, 201) << good.body;
  store::Json semver = store::Json::parse(warehouse("true"));
  semver["metadata"]["name"] = "tags";
  semver["spec"]["subscriptions"][0]["git"]["commitSelectionStrategy"] = "SemVer";
  semver["spec"]["subscriptions"][0]["git"]["semverConstraint"] = "^1.x.y";
  Response bad_constraint = Call("POST", path, semver.dump());
  EXPECT_EQ(bad_constraint.status, 422) << bad_constraint.body;
  EXPECT_NE(bad_constraint.body.find("warehouse tags: spec.subscriptions[0].git.semverConstraint: "
                                     "semverConstraint \\\"^1.x.y\\\""),
            std::string::npos)
      << bad_constraint.body;
}

// Kargo's Promotion admission: a new Promotion is named by Kargo's scheme
// and takes its Stage's steps and vars; Freight must be available to the
// Stage (approval makes it so); the spec never changes. A Stage's steps
// must be ones strake runs, with templates that compile.
TEST_F(ApiTest, APromotionTakesItsStagesStepsAndNeedsAvailableFreight) {
  const std::string kargo = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/";
  auto stage = [](const std::string& name, const std::string& sources, const std::string& step) {
    return store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": ")" +
                              name + R"("}, "spec": {"vars": [{"name": "a", "value": "1"}],
        "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": )" +
                              sources + R"(}], "promotionTemplate": {"spec": {"vars": [{"name":
        "b", "value": "2"}, {"name": "a", "value": "3"}], "steps": [)" +
                              step + "]}}}}")
        .dump();
  };
  Response unknown = Call("POST", kargo + "stages",
                          stage("dev", R"({"direct": true})", R"({"uses": "git-clon"})"));
  EXPECT_EQ(unknown.status, 422) << unknown.body;
  EXPECT_NE(unknown.body.find("stage dev: spec.promotionTemplate.spec.steps[0].uses: not "
                              "supported yet: step \\\"git-clon\\\""),
            std::string::npos)
      << unknown.body;
  Response bad_if =
      Call("POST", kargo + "stages",
           stage("dev", R"({"direct": true})", R"({"uses": "fail", "if": "${{ nope( }}"})"));
  EXPECT_EQ(bad_if.status, 422) << bad_if.body;
  EXPECT_NE(bad_if.body.find("spec.promotionTemplate.spec.steps[0].if: ${{ nope( }}"),
            std::string::npos)
      << bad_if.body;
  const std::string step = R"({"uses": "compose-output", "config": {"x": "${{ vars.a }}"}})";
  ASSERT_EQ(Call("POST", kargo + "stages", stage("dev", R"({"direct": true})", step)).status, 201);
  ASSERT_EQ(Call("POST", kargo + "stages", stage("prod", R"({"stages": ["dev"]})", step)).status,
            201);
  const std::string id(40, '1');
  store::Json freight = {
      {"apiVersion", "kargo.akuity.io/v1alpha1"},
      {"kind", "Freight"},
      {"metadata", {{"name", "c224144ab8a893277e0f4dbbe2191c6e3a340ae7"}}},
      {"origin", {{"kind", "Warehouse"}, {"name", "w"}}},
      {"commits", {{{"repoURL", "https://github.com/example/kargo-demo.git"}, {"id", id}}}}};
  // The name is the fingerprint for origin "kargo-demo" (the study's
  // vector); for origin "w" the server says which it must be.
  Response refused = Call("POST", kargo + "freights", freight.dump());
  std::string msg = store::Json::parse(refused.body).value("message", "");
  const std::string name = msg.substr(msg.size() - 40);
  freight["metadata"]["name"] = name;
  ASSERT_EQ(Call("POST", kargo + "freights", freight.dump()).status, 201);
  auto promote = [&](const std::string& to) {
    return Call("POST", kargo + "promotions",
                store::Json{{"apiVersion", "kargo.akuity.io/v1alpha1"},
                            {"kind", "Promotion"},
                            {"metadata",
                             {{"generateName", "promo-"},
                              {"annotations", {{"kargo.akuity.io/create-actor", "someone"}}}}},
                            {"spec", {{"stage", to}, {"freight", name}}}}
                    .dump());
  };
  Response made = promote("dev");
  ASSERT_EQ(made.status, 201) << made.body;
  store::Json p = store::Json::parse(made.body);
  const std::string pname = p["metadata"]["name"];
  // Kargo's <stage>.<ulid>.<freight[:7]>, lower case.
  EXPECT_EQ(pname.size(), 3 + 1 + 26 + 1 + 7) << pname;
  EXPECT_EQ(pname.substr(0, 4), "dev.");
  EXPECT_EQ(pname.substr(pname.size() - 8), "." + name.substr(0, 7));
  // A client does not say who asked (only the server's auto-promotion does).
  EXPECT_FALSE(p["metadata"]
                   .value("annotations", store::Json::object())
                   .contains("kargo.akuity.io/create-actor"));
  // Each step's alias made explicit, as Kargo's InflateSteps makes it.
  store::Json want = nlohmann::json::parse("[" + step + "]");
  want[0]["as"] = "step-1";
  EXPECT_EQ(nlohmann::json::parse(p["spec"]["steps"].dump()), want);  // key order aside
  // The Stage's vars, then its template's; the template's "a" wins.
  EXPECT_EQ(p["spec"]["vars"],
            store::Json::parse(R"([{"name": "a", "value": "3"}, {"name": "b", "value": "2"}])"));
  // prod takes Freight verified in dev: not yet; approval makes it available.
  Response not_yet = promote("prod");
  EXPECT_EQ(not_yet.status, 422) << not_yet.body;
  EXPECT_NE(not_yet.body.find("spec.freight: Freight is not available to this Stage"),
            std::string::npos)
      << not_yet.body;
  EXPECT_EQ(Call("POST", kargo + "freights/" + name + "/approve", R"({"stage": "nope"})").status,
            404);
  EXPECT_EQ(Call("POST", kargo + "freights/" + name + "/approve", "[]").status, 400);
  Response approve = Call("POST", kargo + "freights/" + name + "/approve", R"({"stage": "prod"})");
  ASSERT_EQ(approve.status, 200) << approve.body;
  EXPECT_TRUE(store::Json::parse(approve.body)["status"]["approvedFor"].contains("prod"));
  // Again: approved already, nothing changes.
  Response again_approved =
      Call("POST", kargo + "freights/" + name + "/approve", R"({"stage": "prod"})");
  EXPECT_EQ(again_approved.status, 200);
  EXPECT_EQ(store::Json::parse(again_approved.body)["status"]["approvedFor"],
            store::Json::parse(approve.body)["status"]["approvedFor"]);
  // A Deny window over prod: refused, naming the gate (dev is not selected).
  store::Json config = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "ProjectConfig", "metadata": {"name": "demo"}, "spec": {"promotionWindows": [
      {"name": "freeze", "kind": "Deny", "stageSelector": {"name": "prod"},
       "dtstart": "20000101T000000Z", "dtend": "21000101T000000Z"}]}})");
  ASSERT_EQ(Call("POST", kargo + "projectconfigs", config.dump()).status, 201);
  Response frozen = promote("prod");
  EXPECT_EQ(frozen.status, 403) << frozen.body;
  EXPECT_NE(frozen.body.find("promotion window: window freeze closed, with no known reopening"),
            std::string::npos)
      << frozen.body;
  EXPECT_EQ(promote("dev").status, 201);
  ASSERT_EQ(Call("DELETE", kargo + "projectconfigs/demo").status, 200);
  EXPECT_EQ(promote("prod").status, 201);
  // A stopped line refuses every Promotion of the Project but those an
  // exception names.
  store::Json line = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "ProjectConfig", "metadata": {"name": "demo"}, "spec": {"stopTheLine": {
      "reason": "INC-42: checkout errors", "exceptions": [
      {"name": "hotfix", "freight": ["0000000000000000000000000000000000000000"],
       "stageSelector": {"name": "dev"}}]}}})");
  ASSERT_EQ(Call("POST", kargo + "projectconfigs", line.dump()).status, 201);
  Response stopped = promote("dev");
  EXPECT_EQ(stopped.status, 403) << stopped.body;
  EXPECT_NE(stopped.body.find(
                "line stopped by ProjectConfig demo: INC-42: checkout errors (exceptions: hotfix)"),
            std::string::npos)
      << stopped.body;
  line["spec"]["stopTheLine"]["exceptions"][0]["freight"].push_back(name);
  ASSERT_EQ(Call("PUT", kargo + "projectconfigs/demo", line.dump()).status, 200);
  EXPECT_EQ(promote("dev").status, 201) << "the hotfix goes through";
  EXPECT_EQ(promote("prod").status, 403) << "only into the Stages its exception selects";
  ASSERT_EQ(Call("DELETE", kargo + "projectconfigs/demo").status, 200);
  // The server's gates: a freeze period in the ClusterConfig, for every Project.
  store::Json cluster = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "ClusterConfig", "metadata": {"name": "cluster"}, "spec": {"freezePeriods": [
      {"name": "for-good", "freezeStart": "0 0 1 1 *", "freezeEnd": "0 0 30 2 *"}]}})");
  const std::string clusterconfigs = "/apis/kargo.akuity.io/v1alpha1/clusterconfigs";
  ASSERT_EQ(Call("POST", clusterconfigs, cluster.dump()).status, 201);
  Response global = promote("dev");
  EXPECT_EQ(global.status, 403) << global.body;
  EXPECT_NE(global.body.find("promotion window: freeze period for-good (ClusterConfig) closed, "
                             "with no known reopening"),
            std::string::npos)
      << global.body;
  ASSERT_EQ(Call("DELETE", clusterconfigs + "/cluster").status, 200);
  EXPECT_EQ(promote("dev").status, 201);
  // The spec stays as made: the same request again changes nothing, a
  // different Freight is refused.
  store::Json again = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
                       {"kind", "Promotion"},
                       {"metadata", {{"name", pname}}},
                       {"spec", {{"stage", "dev"}, {"freight", name}}}};
  EXPECT_EQ(Call("PUT", kargo + "promotions/" + pname, again.dump()).status, 200);
  again["spec"]["freight"] = "other";
  Response changed = Call("PUT", kargo + "promotions/" + pname, again.dump());
  EXPECT_EQ(changed.status, 422) << changed.body;
  EXPECT_NE(changed.body.find("spec is immutable"), std::string::npos) << changed.body;
}

// Freight flows downstream: a Stage that would request it from itself,
// directly or through others, is refused with the path; one that names a
// Stage that does not exist yet is taken (the Stage says so in its status).
// Kargo's own e2e manifests (tests/kargo/e2e_argocd-update_kargo.yaml: a
// PromotionTask of set-metadata, argocd-update and compose-output, run by
// three Stages) apply as written, and a Promotion into one of its Stages
// takes the task's steps, inflated as Kargo's InflateSteps inflates them.
TEST_F(ApiTest, KargosArgoCDUpdateE2eAppliesAndItsTaskIsInflated) {
  auto docs = model::ParseYamlFile(std::string(STRAKE_SOURCE_DIR) +
                                   "/tests/kargo/e2e_argocd-update_kargo.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  const std::string ns = "/apis/kargo.akuity.io/v1alpha1/namespaces/kargo-argocd-update/";
  for (const auto& doc : *docs) {
    store::Json obj = model::ToJson(doc.root);
    const std::string kind = obj.value("kind", "");
    std::string path =
        kind == "Project" ? "/apis/kargo.akuity.io/v1alpha1/projects" : ns + ToLower(kind) + "s";
    if (kind == "Warehouse") continue;  // a GitHub placeholder URL; its decoding is model_test's
    Response r = Call("POST", path, obj.dump());
    EXPECT_EQ(r.status, 201) << kind << ": " << r.body;
  }
  store::Json freight = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
                         {"kind", "Freight"},
                         {"metadata", {{"name", "x"}}},
                         {"origin", {{"kind", "Warehouse"}, {"name", "kargo-demo"}}},
                         {"commits",
                          {{{"repoURL", "https://github.com/example/kargo-demo-gitops.git"},
                            {"id", std::string(40, 'a')}}}}};
  std::string msg =
      store::Json::parse(Call("POST", ns + "freights", freight.dump()).body).value("message", "");
  freight["metadata"]["name"] = msg.substr(msg.size() - 40);
  ASSERT_EQ(Call("POST", ns + "freights", freight.dump()).status, 201);
  Response made =
      Call("POST", ns + "promotions",
           store::Json{{"apiVersion", "kargo.akuity.io/v1alpha1"},
                       {"kind", "Promotion"},
                       {"metadata", {{"generateName", "p-"}}},
                       {"spec", {{"stage", "test"}, {"freight", freight["metadata"]["name"]}}}}
               .dump());
  ASSERT_EQ(made.status, 201) << made.body;
  const store::Json steps = store::Json::parse(made.body)["spec"]["steps"];
  ASSERT_EQ(steps.size(), 4u) << steps.dump(2);
  EXPECT_EQ(steps[0]["as"], "task-1::step-1");
  EXPECT_EQ(steps[0]["uses"], "set-metadata");
  EXPECT_EQ(steps[3]["as"], "task-1::output");
  EXPECT_EQ(steps[2]["vars"][0]["name"], "gitRepo");  // the task's default
}

// A Stage deleted through the API leaves nothing in its Freight, before it
// goes: one made again under its name at once starts clean.
TEST_F(ApiTest, ADeletedStageLeavesNothingInItsFreight) {
  const std::string path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages";
  const std::string stage = R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
      "metadata": {"name": "qa"}, "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse",
      "name": "w"}, "sources": {"direct": true}}]}})";
  ASSERT_EQ(Call("POST", path, stage).status, 201);
  store::Resource f;
  f.key = {"Freight", "demo", "f1"};
  f.object = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
              {"kind", "Freight"},
              {"metadata", {{"name", "f1"}, {"namespace", "demo"}}}};
  f.status = {{"verifiedIn", {{"qa", store::Json::object()}}},
              {"approvedFor", {{"qa", store::Json::object()}, {"prod", store::Json::object()}}}};
  ASSERT_TRUE(store_->Create(f, "Created", ""));
  ASSERT_EQ(Call("DELETE", path + "/qa").status, 200);
  ASSERT_EQ(Call("POST", path, stage).status, 201);
  store::Json st = (*store_->Get({"Freight", "demo", "f1"}))->status;
  EXPECT_EQ(st["verifiedIn"], store::Json::object()) << st.dump();
  EXPECT_EQ(st["approvedFor"], (store::Json{{"prod", store::Json::object()}})) << st.dump();
}

TEST_F(ApiTest, AStageThatWouldRequestFreightFromItselfIsRefused) {
  const std::string path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages";
  auto stage = [](const std::string& name, const std::string& upstream) {
    return store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": ")" +
                              name + R"("}, "spec": {"requestedFreight": [{"origin":
        {"kind": "Warehouse", "name": "w"}, "sources": {"stages": [")" +
                              upstream + R"("]}}]}})")
        .dump();
  };
  Response self = Call("POST", path, stage("a", "a"));
  EXPECT_EQ(self.status, 422) << self.body;
  EXPECT_EQ(Call("POST", path, stage("a", "c")).status, 201);  // c does not exist yet
  EXPECT_EQ(Call("POST", path, stage("b", "a")).status, 201);
  Response cycle = Call("POST", path, stage("c", "b"));
  EXPECT_EQ(cycle.status, 422) << cycle.body;
  EXPECT_NE(cycle.body.find("stage c: spec.requestedFreight[0].sources.stages[0]: Stage \\\"c\\\" "
                            "would request Freight from itself: c → b → a → c"),
            std::string::npos)
      << cycle.body;
}

// Kargo's Freight admission: named by its fingerprint, immutable, its
// alias unique and kept as a label.
TEST_F(ApiTest, FreightIsNamedByItsFingerprintImmutableAndItsAliasIsUnique) {
  auto freight = [](const std::string& name, const std::string& id, const std::string& alias) {
    store::Json f = {
        {"apiVersion", "kargo.akuity.io/v1alpha1"},
        {"kind", "Freight"},
        {"metadata", {{"name", name}}},
        {"origin", {{"kind", "Warehouse"}, {"name", "kargo-demo"}}},
        {"commits", {{{"repoURL", "https://github.com/example/kargo-demo.git"}, {"id", id}}}}};
    if (!alias.empty()) f["alias"] = alias;
    return f.dump();
  };
  const std::string path = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/freights";
  const std::string ones(40, '1'), twos(40, '2');
  // The study's vector: Warehouse/kargo-demo and 40 ones.
  const std::string id = "c224144ab8a893277e0f4dbbe2191c6e3a340ae7";
  Response wrong = Call("POST", path, freight("mine", ones, ""));
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_NE(wrong.body.find(id), std::string::npos) << wrong.body;
  Response made = Call("POST", path, freight(id, ones, "first-one"));
  ASSERT_EQ(made.status, 201) << made.body;
  store::Json got = store::Json::parse(Call("GET", path + "/" + id).body);
  EXPECT_EQ(got["metadata"]["labels"]["kargo.akuity.io/alias"], "first-one");
  Response changed = Call("PUT", path + "/" + id, freight(id, twos, "first-one"));
  EXPECT_EQ(changed.status, 422) << changed.body;
  EXPECT_NE(changed.body.find("Freight is immutable"), std::string::npos) << changed.body;
  // Another Freight may not take the alias; without one it is given one.
  std::string other_id;
  {
    Response refused = Call("POST", path, freight("x", twos, ""));
    store::Json e = store::Json::parse(refused.body, nullptr, false);
    std::string msg = e.is_object() ? e.value("message", "") : refused.body;
    other_id = msg.substr(msg.size() - 40);
  }
  Response taken = Call("POST", path, freight(other_id, twos, "first-one"));
  EXPECT_EQ(taken.status, 409) << taken.body;
  Response named = Call("POST", path, freight(other_id, twos, ""));
  ASSERT_EQ(named.status, 201) << named.body;
  store::Json second = store::Json::parse(Call("GET", path + "/" + other_id).body);
  EXPECT_FALSE(second.value("alias", "").empty());
  EXPECT_EQ(second["metadata"]["labels"]["kargo.akuity.io/alias"], second["alias"]);
}

// Kubernetes' ?dryRun=All on an apply: the object as it would be stored,
// nothing written; any other method refuses it rather than act for real.
TEST_F(ApiTest, ADryRunApplyWritesNothingAndOtherMethodsRefuseIt) {
  const std::string path = "/api/v1/namespaces/default/configmaps";
  const std::string cm =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"b"}})";
  Response dry = Call("PATCH", path + "/x?dryRun=All", cm, "application/apply-patch+yaml");
  ASSERT_EQ(dry.status, 201) << dry.body;
  EXPECT_EQ(store::Json::parse(dry.body)["data"]["a"], "b");
  auto stored = store_->Get({"ConfigMap", "default", "x"});
  ASSERT_TRUE(stored);
  EXPECT_FALSE(*stored) << "a dry run stored it";
  EXPECT_EQ(Call("POST", path + "?dryRun=All", cm).status, 400);
  EXPECT_EQ(Call("PUT", path + "/x?dryRun=All", cm).status, 400);
  EXPECT_EQ(Call("DELETE", path + "/x?dryRun=All").status, 400);
  EXPECT_EQ(Call("PATCH", path + "/x?dryRun=Some", cm, "application/apply-patch+yaml").status, 400);
  ASSERT_FALSE(*store_->Get({"ConfigMap", "default", "x"}));
}

TEST_F(ApiTest, ASecretReadBackWithItsRedactedValuesCanBeWrittenAgain) {
  const std::string token = "s3cr3t-token-value", pin = "hunter2-pin";
  store::Json secret = CredsSecret(token, pin);
  const std::string path = "/api/v1/namespaces/default/secrets";
  ASSERT_EQ(Call("POST", path, secret.dump()).status, 201);
  store::Json shown = store::Json::parse(Call("GET", path + "/creds").body);
  ASSERT_EQ(shown["data"]["token"], "<redacted>");
  shown["metadata"]["labels"]["team"] = "web";
  shown["data"]["extra"] = Base64Encode("new-value");
  Response put = Call("PUT", path + "/creds", shown.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body.find(token), std::string::npos);
  auto stored = store_->Get({"Secret", "default", "creds"});
  ASSERT_TRUE(stored && *stored);
  const store::Json& data = (**stored).object["data"];
  EXPECT_EQ(data["token"], Base64Encode(token));
  EXPECT_EQ(data["pin"], Base64Encode(pin));
  EXPECT_EQ(data["extra"], Base64Encode("new-value"));
  EXPECT_EQ((**stored).object.dump().find("<redacted>"), std::string::npos);

  // Server-side apply of the same shown object keeps them too.
  shown["metadata"].erase("resourceVersion");
  Response applied =
      Call("PATCH", path + "/creds?fieldManager=t", shown.dump(), "application/apply-patch+yaml");
  ASSERT_EQ(applied.status / 100, 2) << applied.body;
  stored = store_->Get({"Secret", "default", "creds"});
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((**stored).object["data"]["token"], Base64Encode(token));

  store::Json unknown = shown;
  unknown["stringData"]["never-set"] = "<redacted>";
  Response refused = Call("PUT", path + "/creds", unknown.dump());
  EXPECT_EQ(refused.status, 422);
  EXPECT_NE(refused.body.find("stringData.never-set"), std::string::npos) << refused.body;
  store::Json fresh = shown;
  fresh["metadata"]["name"] = "fresh";
  EXPECT_EQ(Call("POST", path, fresh.dump()).status, 422);
}

// Argo CD's Replace=true: the object becomes what was sent, whole (a field
// another writer added is gone), and the record of what was sent is kept, so
// that a later three-way comparison sees a field removed from git.
TEST_F(ApiTest, AReplaceWritesTheObjectWholeAndRecordsWhatWasSent) {
  store::Json cm = {{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", {{"name", "c"}, {"namespace", "default"}}},
                    {"data", {{"a", "1"}}}};
  ASSERT_TRUE(api_->ApplyObject(cm));
  auto got = store_->Get({"ConfigMap", "default", "c"});
  ASSERT_TRUE(got && *got);
  store::Resource changed = **got;
  changed.object["data"]["extra"] = "someone else's";
  ASSERT_TRUE(store_->Update(changed, 0));
  cm["data"] = {{"b", "2"}};
  ASSERT_TRUE(api_->ReplaceObject(cm));
  got = store_->Get({"ConfigMap", "default", "c"});
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((**got).object["data"], store::Json::parse(R"({"b":"2"})"));
  EXPECT_EQ(model::LastApplied((**got).object), cm);
}

// An approval policy answered through the API before the Promotion starts:
// the creator cannot, a token of no user cannot, an eligible user can once;
// a policy met takes no more; a Promotion that has started takes none.
TEST_F(ApiTest, AnApprovalPolicyTakesResponsesBeforeThePromotionStarts) {
  const std::string kargo = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/";
  store::Resource pc;
  pc.key = {"ProjectConfig", "demo", "demo"};
  pc.object = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "ProjectConfig", "metadata": {"name": "demo", "namespace": "demo"},
      "spec": {"approvalPolicies": [{"name": "sign-off", "stageSelector": {"name": "prod"},
      "approvers": [{"claim": "groups", "value": "leads"}]}]}})");
  ASSERT_TRUE(store_->Create(pc, "", ""));
  ASSERT_EQ(Call("POST", kargo + "stages", R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "Stage", "metadata": {"name": "prod"}, "spec": {"requestedFreight": [{"origin":
      {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}], "promotionTemplate":
      {"spec": {"steps": [{"uses": "compose-output"}]}}}})")
                .status,
            201);
  store::Resource f;
  f.key = {"Freight", "demo", "f1"};
  f.object = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
      "metadata": {"name": "f1", "namespace": "demo"}, "origin": {"kind": "Warehouse",
      "name": "w"}, "commits": [{"repoURL": "https://x/y", "id": "1"}]})");
  ASSERT_TRUE(store_->Create(f, "", ""));
  Response made = CallAs("carol", "deployer", "POST", kargo + "promotions",
                         R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
      "metadata": {"name": "p1"}, "spec": {"stage": "prod", "freight": "f1"}})",
                         {{"groups", {"leads"}}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string approve = kargo + "promotions/p1/approve";
  Response self = CallAs("carol", "deployer", "POST", approve, "", {{"groups", {"leads"}}});
  EXPECT_EQ(self.status, 403);
  EXPECT_NE(self.body.find("approval policy sign-off: carol created this Promotion"),
            std::string::npos)
      << self.body;
  Response anonymous = CallAs("", "admin", "POST", approve, "", {{"groups", {"leads"}}});
  EXPECT_EQ(anonymous.status, 403);
  EXPECT_NE(anonymous.body.find("this token speaks for none"), std::string::npos) << anonymous.body;
  Response lead = CallAs("lee", "viewer", "POST", approve, "", {{"groups", {"leads"}}});
  ASSERT_EQ(lead.status, 200) << lead.body;
  store::Json all = store::Json::parse(
      store::Json::parse(lead.body)["metadata"]["annotations"]["strake.dev/approvals"]
          .get<std::string>());
  ASSERT_EQ(all["policy:sign-off"].size(), 1u);
  EXPECT_EQ(all["policy:sign-off"][0]["user"], "lee");
  Response again = CallAs("lou", "viewer", "POST", approve, "", {{"groups", {"leads"}}});
  EXPECT_EQ(again.status, 403);
  EXPECT_NE(again.body.find("its approval policies are met already"), std::string::npos)
      << again.body;
  store::Resource p = **store_->Get({"Promotion", "demo", "p1"});
  ASSERT_TRUE(store_->UpdateStatus(p.key, store::Json::parse(R"({"phase": "Running",
      "currentStep": 0, "stepExecutionMetadata": [{"alias": "step-1", "status": "Running"}]})"),
                                   p.resource_version, "", ""));
  EXPECT_EQ(CallAs("lou", "viewer", "POST", approve, "", {{"groups", {"leads"}}}).status, 409);
}

// Kargo's wait-for-approval answered through the API: the creator (the
// caller who made the Promotion) cannot approve, an eligible user can, once;
// a rejection needs a message; a Promotion not waiting says so.
TEST_F(ApiTest, APromotionWaitingForApprovalTakesResponsesFromEligibleUsers) {
  const std::string kargo = "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/";
  ASSERT_EQ(Call("POST", kargo + "stages", R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "Stage", "metadata": {"name": "prod"}, "spec": {"requestedFreight": [{"origin":
      {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}}], "promotionTemplate":
      {"spec": {"steps": [{"uses": "wait-for-approval", "as": "gate", "config": {"approvers":
      [{"claim": "groups", "value": "leads"}, {"role": "admin"}]}}]}}}})")
                .status,
            201);
  store::Resource f;
  f.key = {"Freight", "demo", "f1"};
  f.object = store::Json::parse(R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Freight",
      "metadata": {"name": "f1", "namespace": "demo"}, "origin": {"kind": "Warehouse",
      "name": "w"}, "commits": [{"repoURL": "https://x/y", "id": "1"}]})");
  ASSERT_TRUE(store_->Create(f, "", ""));
  Response made = CallAs("carol", "deployer", "POST", kargo + "promotions",
                         R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
      "metadata": {"name": "p1", "annotations": {"kargo.akuity.io/create-actor": "mallory"}},
      "spec": {"stage": "prod", "freight": "f1"}})");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(
      store::Json::parse(made.body)["metadata"]["annotations"]["kargo.akuity.io/create-actor"],
      "carol");  // the caller, never the client's claim
  const std::string approve = kargo + "promotions/p1/approve";
  Response early = CallAs("ann", "admin", "POST", approve);
  EXPECT_EQ(early.status, 409) << early.body;
  EXPECT_NE(early.body.find("promotion p1 is not waiting for an approval: it is Pending"),
            std::string::npos)
      << early.body;
  // The reconciler's part: Running at the step.
  store::Resource p = **store_->Get({"Promotion", "demo", "p1"});
  ASSERT_TRUE(store_->UpdateStatus(p.key, store::Json::parse(R"({"phase": "Running",
      "currentStep": 0, "stepExecutionMetadata": [{"alias": "gate", "status": "Running"}]})"),
                                   p.resource_version, "", ""));
  Response self = CallAs("carol", "admin", "POST", approve);
  EXPECT_EQ(self.status, 403);
  EXPECT_NE(self.body.find("carol created this Promotion and cannot approve it"), std::string::npos)
      << self.body;
  Response stranger = CallAs("dev", "deployer", "POST", approve);
  EXPECT_EQ(stranger.status, 403);
  EXPECT_NE(stranger.body.find("dev is not an approver of this step (approvers: claim "
                               "groups=leads, role admin)"),
            std::string::npos)
      << stranger.body;
  Response lead = CallAs("lee", "deployer", "POST", approve, R"({"message": "ship it"})",
                         {{"groups", {"leads"}}});
  ASSERT_EQ(lead.status, 200) << lead.body;
  store::Json all = store::Json::parse(
      store::Json::parse(lead.body)["metadata"]["annotations"]["strake.dev/approvals"]
          .get<std::string>());
  ASSERT_EQ(all["gate"].size(), 1u);
  EXPECT_EQ(all["gate"][0]["user"], "lee");
  EXPECT_EQ(all["gate"][0]["message"], "ship it");
  EXPECT_EQ(CallAs("lee", "deployer", "POST", approve, "", {{"groups", {"leads"}}}).status, 403);
  // The responses and the creator are the server's: a PATCH cannot forge
  // an approval or change who asked (the stored ones stay).
  Response forged =
      CallAs("carol", "deployer", "PATCH", kargo + "promotions/p1",
             R"({"metadata": {"annotations": {"strake.dev/approvals": "{\"gate\": []}",
          "kargo.akuity.io/create-actor": "nobody", "note": "kept"}}})");
  ASSERT_EQ(forged.status, 200) << forged.body;
  store::Json kept = store::Json::parse(forged.body)["metadata"]["annotations"];
  EXPECT_EQ(kept["kargo.akuity.io/create-actor"], "carol");
  EXPECT_EQ(store::Json::parse(kept["strake.dev/approvals"].get<std::string>())["gate"].size(), 1u);
  EXPECT_EQ(kept["note"], "kept");
  Response why = CallAs("ann", "admin", "POST", kargo + "promotions/p1/reject", "{}");
  EXPECT_EQ(why.status, 422);
  EXPECT_NE(why.body.find("a rejection says why"), std::string::npos);
  EXPECT_EQ(
      CallAs("ann", "admin", "POST", kargo + "promotions/p1/reject", R"({"message": "not today"})")
          .status,
      200);
  EXPECT_EQ(Call("POST", approve).status, 401);  // not through the Gate: nobody

  // A config with expressions is checked as the step evaluated it (its
  // output's "rules"), never against defaults.
  ASSERT_EQ(Call("POST", kargo + "stages", R"({"apiVersion": "kargo.akuity.io/v1alpha1",
      "kind": "Stage", "metadata": {"name": "qa"}, "spec": {"vars": [{"name": "who",
      "value": "admin"}], "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"},
      "sources": {"direct": true}}], "promotionTemplate": {"spec": {"steps": [{"uses":
      "wait-for-approval", "as": "gate", "config": {"approvers": [{"role": "${{ vars.who }}"}]}}]}}}})")
                .status,
            201);
  ASSERT_EQ(CallAs("carol", "deployer", "POST", kargo + "promotions",
                   R"({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
      "metadata": {"name": "p2"}, "spec": {"stage": "qa", "freight": "f1"}})")
                .status,
            201);
  auto running = [&](const store::Json& state) {
    store::Resource q = **store_->Get({"Promotion", "demo", "p2"});
    store::Json st = store::Json::parse(R"({"phase": "Running", "currentStep": 0,
        "stepExecutionMetadata": [{"alias": "gate", "status": "Running"}]})");
    if (!state.is_null()) st["state"] = state;
    ASSERT_TRUE(store_->UpdateStatus(q.key, st, q.resource_version, "", ""));
  };
  const std::string approve2 = kargo + "promotions/p2/approve";
  running(nullptr);
  Response not_yet = CallAs("dan", "deployer", "POST", approve2);
  EXPECT_EQ(not_yet.status, 409) << not_yet.body;
  EXPECT_NE(not_yet.body.find("has not evaluated its rules yet"), std::string::npos);
  running(
      {{"gate",
        {{"responses", store::Json::array()}, {"rules", {{"approvers", {{{"role", "admin"}}}}}}}}});
  EXPECT_EQ(CallAs("dan", "deployer", "POST", approve2).status, 403);  // needs admin
  EXPECT_EQ(CallAs("root", "admin", "POST", approve2).status, 200);
}

}  // namespace
}  // namespace strake::server

namespace strake::server {
namespace {

// Attestations are the server's (insight/provenance.h): nobody writes one,
// and only the public half of a key is served, from the keyring given.
TEST_F(ApiTest, AttestationsAreNeverWrittenAndOnlyThePublicKeyIsServed) {
  const std::string att =
      R"({"apiVersion":"strake.dev/v1","kind":"Attestation","metadata":{"name":"pipelinerun-x"},"spec":{}})";
  Response written = Call("POST", "/apis/strake.dev/v1/namespaces/default/attestations", att);
  EXPECT_EQ(written.status, 405) << written.body;
  const std::string key_path = "/apis/strake.dev/v1/namespaces/default/provenance/publickey";
  EXPECT_EQ(Call("GET", key_path).status, 404);  // no keyring: this server signs nothing
  insight::Keyring keys(dir_ + "/keys");
  api_->SetKeyring(&keys);
  Response pub = Call("GET", key_path);
  ASSERT_EQ(pub.status, 200) << pub.body;
  EXPECT_EQ(pub.body.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << pub.body;
  EXPECT_EQ(pub.body.find("PRIVATE"), std::string::npos);
  EXPECT_EQ(pub.body, *keys.PublicKeyFor("default"));
  EXPECT_EQ(Call("POST", key_path).status, 405);
  EXPECT_EQ(Call("GET", "/apis/strake.dev/v1/namespaces/default/provenance/privatekey").status,
            404);
  // A key that cannot be read is said in the log, not in the answer.
  ASSERT_TRUE(MakeDirs(dir_ + "/keys/projects"));
  ASSERT_TRUE(WriteFile(dir_ + "/keys/projects/team.key", "-----BEGIN PRIVATE KEY-----\nx\n"));
  Response broken = Call("GET", "/apis/strake.dev/v1/namespaces/team/provenance/publickey");
  EXPECT_EQ(broken.status, 500);
  EXPECT_EQ(broken.body.find("BEGIN"), std::string::npos) << broken.body;
}

}  // namespace
}  // namespace strake::server
