// End-to-end: PipelineRuns and TaskRuns through the API (what it shows of
// them, their step logs, cancelling them), and the CLI's pipeline verbs (get,
// describe, logs, cancel) through it as every other kind's, with -n, -o yaml
// and the server's masking; and the data directory answering them when no
// server runs on it.
#include "base/http.h"
#include "base/net.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

using namespace std::chrono_literals;

// A run in namespace team that reads a Secret (which it carries in its
// status), and whose step prints a value that is also a Secret of the
// namespace which the run does not read (only the API can mask that one).
const char* kTeamRun = R"Y(apiVersion: v1
kind: Secret
metadata: {name: token, namespace: team}
stringData: {value: s3cr3t-token-value}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: shipped, namespace: team}
spec:
  pipelineSpec:
    tasks:
      - name: build
        taskSpec:
          steps:
            - name: compile
              image: busybox
              env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: token, key: value}}}]
              script: "echo compiling; echo key=hunter2-very-secret"
      - name: test
        runAfter: [build]
        taskSpec:
          steps: [{name: unit, image: busybox, script: "echo testing"}]
)Y";

class PipelineCliE2E : public ServerE2E {
 protected:
  // A raw request to the API, with the admin token.
  http::Response Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& type = "") {
    auto url = ParseHttpUrl(server_);
    EXPECT_TRUE(url);
    http::Request req;
    req.method = method;
    req.target = path;
    req.headers = Auth();
    req.body = body;
    if (!type.empty()) req.headers.emplace_back("Content-Type", type);
    auto r = http::Fetch(url->host, url->port, req, 5s);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : http::Response{};
  }
  http::Response Get(const std::string& path) { return Call("GET", path); }

};

const char* kRuns = "/apis/tekton.dev/v1/namespaces/team/pipelineruns/";

TEST_F(PipelineCliE2E, ARunNeverShowsTheSecretsItCarries) {
  StartServer();
  ASSERT_EQ(Strake({"run", "-f", File("p.yaml", kTeamRun)}).exit_code, 0);
  // The Secret the run read travels in its status, for its steps; the API
  // shows neither it nor the rest of the engine's bookkeeping.
  for (const std::string& path : {std::string(kRuns) + "shipped", std::string(kRuns)}) {
    auto got = Get(path);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.body.find("s3cr3t-token-value"), std::string::npos) << got.body;
    EXPECT_EQ(got.body.find("startTimeMs"), std::string::npos) << got.body;
    EXPECT_NE(got.body.find("\"Succeeded\""), std::string::npos) << got.body;
  }
}

TEST_F(PipelineCliE2E, TheLogsApiChecksWhatItIsAskedAndAnswersWithCodes) {
  StartServer();
  ASSERT_EQ(Strake({"run", "-f", File("p.yaml", kTeamRun)}).exit_code, 0);
  std::string runs = kRuns;
  auto whole = Get(runs + "shipped/logs");
  ASSERT_EQ(whole.status, 200) << whole.body;
  Json answer = Json::parse(whole.body);
  ASSERT_EQ(answer["items"].size(), 2u) << whole.body;
  EXPECT_EQ(answer["items"][0]["task"], "build");
  EXPECT_EQ(answer["items"][0]["step"], "compile");
  EXPECT_EQ(answer["items"][0]["text"], "compiling\nkey=hunter2-very-secret\n")
      << "a value of no Secret of the namespace is not masked";
  EXPECT_TRUE(answer["done"]);
  EXPECT_FALSE(answer["more"]);
  // From the cursor on, nothing more: the run has ended.
  auto after =
      Get(runs + "shipped/logs?after=" + http::UrlEncode(answer["cursor"].get<std::string>()));
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_TRUE(Json::parse(after.body)["items"].empty()) << after.body;
  auto one = Get("/apis/tekton.dev/v1/namespaces/team/taskruns/shipped-test/logs?step=unit");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(Json::parse(one.body)["items"][0]["text"], "testing\n");

  EXPECT_EQ(Get(runs + "nope/logs").status, 404);
  EXPECT_EQ(Get(runs + "shipped/logs?after=../../etc:0").status, 400);
  EXPECT_EQ(Get(runs + "shipped/logs?task=Not_A_Name").status, 400);
  EXPECT_EQ(Call("POST", runs + "shipped/logs").status, 405);
}

TEST_F(PipelineCliE2E, AFinishedRunsSpecNoLongerChangesButItsLabelsMay) {
  StartServer();
  ASSERT_EQ(Strake({"run", "-f", File("p.yaml", kTeamRun)}).exit_code, 0);
  std::string run = std::string(kRuns) + "shipped";
  auto cancel =
      Call("PATCH", run, R"({"spec":{"status":"Cancelled"}})", "application/merge-patch+json");
  EXPECT_EQ(cancel.status, 409) << cancel.body;
  EXPECT_NE(cancel.body.find("has already finished"), std::string::npos) << cancel.body;
  auto label = Call("PATCH", run, R"({"metadata":{"labels":{"reviewed":"yes"}}})",
                    "application/merge-patch+json");
  ASSERT_EQ(label.status, 200) << label.body;
  Json pr = Json::parse(label.body);
  EXPECT_EQ(pr["metadata"]["labels"]["reviewed"], "yes");
  EXPECT_FALSE(pr["spec"].contains("status"));
  EXPECT_EQ(Reason(pr), "Succeeded") << "the status is the engine's";
}

}  // namespace
}  // namespace strake::e2e
