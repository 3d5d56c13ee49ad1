// The API over a store alone (no server, no controllers): what it shows of
// the objects it keeps.
#include "server/api.h"

#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "model/merge.h"
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

}  // namespace
}  // namespace strake::server
