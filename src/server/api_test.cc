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
  store::Json secret = {{"apiVersion", "v1"},
                        {"kind", "Secret"},
                        {"metadata", {{"name", "creds"}}},
                        {"data", {{"token", Base64Encode(token)}}},
                        {"stringData", {{"pin", pin}}}};
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

}  // namespace
}  // namespace strake::server
