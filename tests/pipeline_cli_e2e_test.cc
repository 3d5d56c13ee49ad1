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

const char* kTeamSecret = R"Y(apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: team}
stringData: {key: hunter2-very-secret}
)Y";

// A run that writes a line, waits, writes another.
const char* kSlow = R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: slow, namespace: team}
spec:
  pipelineSpec:
    tasks:
      - name: work
        taskSpec:
          steps: [{name: talk, image: busybox, script: "echo first; sleep 2; echo second"}]
)Y";

const char* kLong = R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: long, namespace: team}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskSpec: {steps: [{image: busybox, script: "echo started; sleep 60"}]}
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

  // Whether a TaskRun of the run in namespace team is running.
  bool Running(const std::string& task) {
    Json list =
        Json::parse(Cli({"get", "taskruns", "-n", "team", "-o", "json"}).out, nullptr, false);
    if (!list.is_object()) return false;
    for (const auto& tr : list.value("items", Json::array())) {
      if (tr["metadata"]["labels"].value("tekton.dev/pipelineTask", "") == task &&
          Reason(tr) == "Running") {
        return true;
      }
    }
    return false;
  }
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

TEST_F(PipelineCliE2E, GetDescribeAndLogsOfARunGoThroughTheServerWithNamespaceAndYaml) {
  StartServer();
  ASSERT_EQ(Cli({"apply", "-f", File("secret.yaml", kTeamSecret)}).exit_code, 0);
  // Run locally in the server's data directory: the server shows it.
  Ran run = Strake({"run", "-f", File("p.yaml", kTeamRun)});
  ASSERT_EQ(run.exit_code, 0) << run.err;

  Ran list = Cli({"get", "pipelineruns", "-n", "team"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("NAME"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("shipped"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("Succeeded"), std::string::npos) << list.out;
  EXPECT_EQ(Cli({"get", "pipelineruns"}).out, "No pipelineruns found in namespace default\n");

  Ran yaml = Cli({"get", "pr", "shipped", "-n", "team", "-o", "yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("kind: PipelineRun"), std::string::npos) << yaml.out;
  EXPECT_NE(yaml.out.find("namespace: team"), std::string::npos) << yaml.out;
  EXPECT_NE(yaml.out.find("reason: Succeeded"), std::string::npos) << yaml.out;
  EXPECT_EQ(yaml.out.find("startTimeMs"), std::string::npos) << "the engine's bookkeeping";
  EXPECT_EQ(yaml.out.find("s3cr3t-token-value"), std::string::npos) << "the Secret it carries";
  Ran json = Cli({"get", "taskrun", "shipped-build", "-n", "team", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out)["metadata"]["labels"]["tekton.dev/pipelineRun"], "shipped");

  Ran described = Cli({"describe", "pipelinerun", "shipped", "-n", "team"});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_NE(described.out.find("Namespace:   team"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Status:      Succeeded"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("shipped-build"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Events:"), std::string::npos) << described.out;
  Ran tr = Cli({"describe", "taskrun", "shipped-test", "-n", "team"});
  EXPECT_NE(tr.out.find("Steps"), std::string::npos) << tr.out;

  // The step printed a value of a Secret it never read: the server masks it.
  Ran logs = Cli({"logs", "shipped", "-n", "team"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out,
            "[build : compile] compiling\n[build : compile] key=***\n[test : unit] testing\n");
  EXPECT_EQ(Cli({"logs", "taskrun/shipped-test", "-n", "team"}).out, "[test : unit] testing\n");
  EXPECT_EQ(Cli({"logs", "shipped", "-n", "team", "--task", "test"}).out,
            "[test : unit] testing\n");
  Ran elsewhere = Cli({"logs", "shipped"});
  EXPECT_EQ(elsewhere.exit_code, 2);
  EXPECT_EQ(elsewhere.err,
            "strake: no pipelinerun or taskrun named \"shipped\" in namespace default\n");

  Ran late = Cli({"cancel", "shipped", "-n", "team"});
  EXPECT_EQ(late.exit_code, 2);
  EXPECT_EQ(late.err,
            "strake: pipelinerun shipped has already finished: its spec no longer changes\n");

  // Without --server, the CLI finds the server of its data directory, which
  // asks for a token like any server.
  Ran no_token = Strake({"get", "pipelineruns", "-n", "team"});
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_NE(no_token.err.find("no token"), std::string::npos) << no_token.err;
}

TEST_F(PipelineCliE2E, FollowPrintsEachLineOnceUntilTheRunEnds) {
  StartServer();
  int pid = StartStrake({"run", "-f", File("slow.yaml", kSlow)});
  ASSERT_TRUE(WaitFor([&] { return Running("work"); }, 10s));
  Ran follow = Cli({"logs", "slow", "-n", "team", "-f"});
  EXPECT_EQ(follow.exit_code, 0) << follow.err;
  EXPECT_EQ(follow.out, "[work : talk] first\n[work : talk] second\n");
  EXPECT_EQ(ReapWithin(pid, 10s), 0);
}

TEST_F(PipelineCliE2E, CancelThroughTheServerStopsARunStrakeRunIsRunning) {
  StartServer();
  int pid = StartStrake({"run", "-f", File("long.yaml", kLong)});
  ASSERT_TRUE(WaitFor([&] { return Running("first"); }, 10s));
  Ran c = Cli({"cancel", "long", "-n", "team"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "pipelinerun long: spec.status set to Cancelled\n");
  EXPECT_EQ(ReapWithin(pid, 10s), 1);
  Json pr = Json::parse(Cli({"get", "pipelinerun", "long", "-n", "team", "-o", "json"}).out);
  EXPECT_EQ(Reason(pr), "Cancelled");
  EXPECT_EQ(pr["spec"]["status"], "Cancelled");
}

TEST_F(E2E, WithNoServerThePipelineVerbsReadTheDataDirectoryAndRolloutsNeedOne) {
  ASSERT_EQ(Strake({"run", "-f", File("p.yaml", kTeamRun)}).exit_code, 0);
  Ran yaml = Strake({"get", "pr", "shipped", "-n", "team", "-o", "yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("namespace: team"), std::string::npos) << yaml.out;
  EXPECT_EQ(Strake({"logs", "shipped", "-n", "team", "--step", "unit"}).out,
            "[test : unit] testing\n");
  EXPECT_EQ(Strake({"get", "pr", "shipped"}).err, "strake: pipelinerun \"shipped\" not found\n");
  // --server means that server, for every kind.
  std::string nobody = "http://127.0.0.1:" + std::to_string(FreePort());
  Ran remote = Strake({"get", "pr", "-n", "team", "--server", nobody});
  EXPECT_EQ(remote.exit_code, 2);
  EXPECT_NE(remote.err.find("cannot reach the strake server at " + nobody), std::string::npos)
      << remote.err;
}

}  // namespace
}  // namespace strake::e2e
