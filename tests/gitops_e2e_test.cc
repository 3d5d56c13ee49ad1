// End-to-end: Applications kept equal to real git repositories (a bare
// repository on disk and one served by `git http-backend` on loopback),
// with commits pushed by the git client, through `strake serve`.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "base/canned_server.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/net.h"
#include "base/process.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "e2e_support.h"
#include "images/test_registry.h"

namespace strake::e2e {
namespace {

using namespace std::chrono_literals;

class GitopsE2E : public ServerE2E {
 protected:
  void SetUp() override {
    ServerE2E::SetUp();
    repos_ = dir_ + "/repos";
    work_ = dir_ + "/work";
    Sh("git init -q --bare -b main " + repos_ + "/apps.git");
    Sh("git -C " + repos_ + "/apps.git config http.receivepack true");
    Sh("git init -q -b main " + work_);
    Sh("git -C " + work_ + " config user.email dev@example.com");
    Sh("git -C " + work_ + " config user.name Dev");
    url_ = "file://" + repos_ + "/apps.git";
    push_url_ = repos_ + "/apps.git";
    // In the test's (work) directory: workloads run sandboxed with a private
    // /tmp, and the source tree may be under /tmp.
    app_ = File(
        "server.py",
        ReadFile(std::string(STRAKE_SOURCE_DIR) + "/examples/app/server.py").value_or("missing"));
  }
  void TearDown() override {
    if (http_pid_ > 0) {
      ::kill(http_pid_, SIGTERM);
      ::waitpid(http_pid_, nullptr, 0);
    }
    ServerE2E::TearDown();
  }

  void Sh(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  void Write(const std::string& rel, const std::string& text) {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) {
      ASSERT_TRUE(MakeDirs(work_ + "/" + rel.substr(0, slash)));
    }
    ASSERT_TRUE(WriteFile(work_ + "/" + rel, text));
  }
  // Commits what the work tree holds (committed at `unix_seconds`, 0: now);
  // its SHA.
  std::string Commit(const std::string& msg, int64_t unix_seconds = 0) {
    Sh("git -C " + work_ + " add -A");
    const std::string date =
        unix_seconds ? fmt::format("GIT_COMMITTER_DATE='{} +0000' ", unix_seconds) : "";
    Sh(date + "git -C " + work_ + " commit -q -m '" + msg + "'");
    FILE* p = ::popen(("git -C " + work_ + " rev-parse HEAD").c_str(), "r");
    char buf[64] = {};
    std::string out = fgets(buf, sizeof buf, p) ? buf : "";
    ::pclose(p);
    return std::string(Trim(out));
  }
  std::string Push(const std::string& msg) {
    std::string sha = Commit(msg);
    Sh("git -C " + work_ + " push -q " + push_url_ + " HEAD:main");
    return sha;
  }
  // Serves repos_ over smart HTTP; the Application and pushes use it.
  void ServeOverHttp() {
    uint16_t port = FreePort();
    SpawnOptions o;
    o.argv = {"python3", std::string(STRAKE_SOURCE_DIR) + "/tests/git_http_server.py", repos_,
              std::to_string(port)};
    for (char** e = environ; *e; ++e) o.env.emplace_back(*e);
    auto p = Spawn(o);
    ASSERT_TRUE(p) << p.error().message;
    http_pid_ = p->pid();
    url_ = fmt::format("http://127.0.0.1:{}/apps.git", port);
    port_of_http_ = port;
    push_url_ = url_;
    ASSERT_TRUE(WaitFor(
        [&] { return std::system(("git ls-remote " + url_ + " >/dev/null 2>&1").c_str()) == 0; },
        10s));
    proc_ = std::move(*p);
  }

  std::string ConfigMap(const std::string& name, const std::string& value,
                        const std::string& annotations = "") {
    return fmt::format(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n{}data:\n  value: "
        "\"{}\"\n",
        name, annotations, value);
  }
  void ApplyApp(const std::string& path = "env/dev", const std::string& policy = R"(
  syncPolicy:
    automated: {prune: true, selfHeal: true})") {
    std::string text =
        fmt::format(R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps}}
spec: {{url: "{url}", pollInterval: 1s}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: shop}}
spec:
  source: {{repoURL: "{url}", path: {path}, targetRevision: main}}
  destination: {{name: local, namespace: default}}{policy}
)",
                    fmt::arg("url", url_), fmt::arg("path", path), fmt::arg("policy", policy));
    Ran r = Cli({"apply", "-f", File("app.yaml", text)});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // Wave 0: a Deployment of `replicas` that takes 8 s to be ready (long
  // enough for the checks of a test under the sanitizers, where each CLI
  // call is slow); wave 1, a ConfigMap "after", waits for it.
  void WriteSlowWaves(int replicas) {
    Write("env/dev/deploy.yaml", fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: slow}}
spec:
  replicas: {}
  selector: {{matchLabels: {{app: slow}}}}
  template:
    metadata: {{labels: {{app: slow}}}}
    spec:
      containers:
      - name: slow
        image: slow:v1
        command: [python3, "{}", "{}"]
        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, initialDelaySeconds: 8, periodSeconds: 1}}
        ports: [{{containerPort: 8080}}]
)",
                                             replicas, app_, Marker()));
    Write("env/dev/after.yaml",
          ConfigMap("after", "1", "  annotations: {argocd.argoproj.io/sync-wave: \"1\"}\n"));
  }
  // The Freight of namespace `ns` (Kargo's), as `get freight -o json` lists it.
  // A Warehouse `app` on the repository's app/, an Application web-dev that
  // syncs `app_path` of its stage/dev branch into namespace dev, and a Stage
  // dev (var gitRepo) that promotes with `steps` (the YAML list under
  // `steps:`), all in namespace demo.
  std::string DevStageKargo(const std::string& app_path, const std::string& steps) {
    return fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{url}", branch: main, includePaths: [app]}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web-dev
  namespace: demo
  annotations: {{kargo.akuity.io/authorized-stage: "demo:dev"}}
spec:
  source: {{repoURL: "{url}", path: {path}, targetRevision: stage/dev}}
  destination: {{name: local, namespace: dev}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: demo}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: app}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      vars:
      - {{name: gitRepo, value: "{url}"}}
      steps:
)",
                       fmt::arg("url", url_), fmt::arg("path", app_path)) +
           steps;
  }
  Json FreightIn(const std::string& ns) {
    Ran r = Cli({"get", "freight", "-n", ns, "-o", "json"});
    Json list = r.exit_code == 0 ? Json::parse(r.out, nullptr, false) : Json();
    return list.is_object() ? list.value("items", Json::array()) : Json::array();
  }
  Json Get(const std::string& kind, const std::string& name, const std::string& ns = "") {
    std::vector<std::string> args{"get", kind, name, "-o", "json"};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    Ran r = Cli(args);
    if (r.exit_code != 0) return Json();
    return Json::parse(r.out, nullptr, false);
  }
  Json App() { return Get("application", "shop"); }
  // The Freight of namespace `ns` made of the commit `sha`, or null.
  Json FreightOfCommit(const std::string& ns, const std::string& sha) {
    for (const auto& f : FreightIn(ns))
      if (f["commits"][0].value("id", "") == sha) return f;
    return Json();
  }
  // The Freight of namespace default whose first artifact is `uri`, once
  // a Warehouse made it (null after a minute).
  Json FreightOfArtifact(const std::string& uri) {
    Json found;
    WaitFor(
        [&] {
          for (const auto& f : FreightIn("default")) {
            const Json m = f.value("artifacts", Json::array()).empty()
                               ? Json::object()
                               : f["artifacts"][0].value("metadata", Json::object());
            if (m.value("uri", "") == uri) found = f;
          }
          return found.is_object();
        },
        std::chrono::seconds(60));
    return found;
  }
  // The revision the Application `app` is synced to ("" unless Synced).
  std::string SyncedRevisionOf(const std::string& app, const std::string& ns) {
    Json a = Get("application", app, ns);
    const Json st = a.is_object() ? a.value("status", Json::object()) : Json::object();
    if (st.value("sync", Json::object()).value("status", "") != "Synced") return std::string();
    return st["sync"].value("revision", "");
  }
  std::string AppHealth() {
    Json a = App();
    if (!a.is_object() || !a.contains("status")) return "";
    return a["status"].value("health", Json::object()).value("status", "");
  }
  std::string SyncedRevision() {
    Json a = App();
    if (!a.is_object()) return "";
    const Json st = a.value("status", Json::object());
    if (st.value("sync", Json::object()).value("status", "") != "Synced") return "";
    return st["sync"].value("revision", "");
  }
  bool WaitSynced(const std::string& sha, std::chrono::milliseconds limit = 20s) {
    return WaitFor([&] { return SyncedRevision() == sha; }, limit);
  }
  std::string Value(const std::string& cm) {
    Json j = Get("configmap", cm);
    return j.is_object() ? j["data"].value("value", "") : "<missing>";
  }

  // Pipelines-as-Code: the Repository alone, polled every second.
  void ApplyRepository() {
    Ran r = Cli({"apply", "-f",
                 File("repo.yaml", fmt::format(R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps}}
spec: {{url: "{}", pollInterval: 1s}}
)",
                                               url_))});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  Json Repo() { return Get("repository", "apps"); }
  std::string Branch(const std::string& branch) {
    Json j = Repo();
    if (!j.is_object()) return "";
    return j["status"].value("branches", Json::object()).value(branch, "");
  }
  // The push's record in the Repository's status, once there.
  Json PushRecord(const std::string& branch, const std::string& sha) {
    Json j = Repo();
    if (!j.is_object()) return Json();
    for (const auto& e : j["status"].value("pipelinesAsCode", Json::array())) {
      if (e.value("branch", "") == branch && e.value("sha", "") == sha) return e;
    }
    return Json();
  }
  // The PipelineRun once it has finished (or as it is after 60 s).
  Json FinishedRun(const std::string& name) {
    Json pr;
    WaitFor(
        [&] {
          Ran g = Cli({"get", "pipelinerun", name, "-o", "json"});
          if (g.exit_code != 0) return false;
          pr = Json::parse(g.out, nullptr, false);
          if (!pr.is_object()) return false;
          auto c = pr["status"].value("conditions", Json::array());
          return !c.empty() && c[0].value("status", "") != "Unknown";
        },
        60s);
    return pr;
  }
  static std::string RunResult(const Json& pr, const std::string& name) {
    for (const auto& x : pr["status"].value("results", Json::array())) {
      if (x.value("name", "") == name) return x.value("value", "");
    }
    return "<none>";
  }

  // An argument that tells this test's replica processes from any other.
  std::string Marker() { return fmt::format("gitops-e2e-{}", ::getpid()); }

  std::string repos_, work_, url_, push_url_, app_;
  int http_pid_ = -1;
  uint16_t port_of_http_ = 0;
  Process proc_;
};

TEST_F(GitopsE2E, PushesSyncDriftIsHealedRemovedManifestsArePrunedAndRollbackRestores) {
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  Write("env/dev/b.yaml", ConfigMap("b", "1"));
  Write("README.md", "not a manifest\n");
  std::string first = Push("first");
  StartServer();
  ApplyApp();
  ASSERT_TRUE(WaitSynced(first)) << App().dump(2);
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("b"), "1");
  Json a = Get("configmap", "a");
  EXPECT_EQ(a["metadata"]["annotations"].value("argocd.argoproj.io/tracking-id", ""),
            "default_shop:/ConfigMap:default/a");

  // Drift made through the API is healed.
  Ran r = Cli({"patch", "configmap", "a", "-p", R"({"data":{"value":"drift"}})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(WaitFor([&] { return Value("a") == "1"; }, 10s)) << App().dump(2);

  // A push that changes one manifest and removes another.
  Write("env/dev/a.yaml", ConfigMap("a", "2"));
  ASSERT_TRUE(RemoveAll(work_ + "/env/dev/b.yaml"));
  std::string second = Push("second");
  ASSERT_TRUE(WaitSynced(second)) << App().dump(2);
  EXPECT_EQ(Value("a"), "2");
  EXPECT_TRUE(WaitFor([&] { return Value("b") == "<missing>"; }, 5s));

  // History, then a rollback to the first sync: automated sync goes off.
  r = Cli({"app", "history", "shop"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(first.substr(0, 12)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(second.substr(0, 12)), std::string::npos) << r.out;
  r = Cli({"app", "rollback", "shop", "0", "--prune"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("b"), "1");
  Json app = App();
  EXPECT_FALSE(app["spec"].value("syncPolicy", Json::object()).contains("automated")) << app.dump();
  EXPECT_EQ(app["status"]["sync"].value("status", ""), "OutOfSync");
  // The diff shows what main would change, without secrets, and exits 1.
  r = Cli({"app", "diff", "shop"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("-  value: \"1\"\n+  value: \"2\""), std::string::npos) << r.out;
  // A manual sync brings it back to main.
  r = Cli({"app", "sync", "shop", "--prune"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Pruned"), std::string::npos) << r.out;
  EXPECT_EQ(Value("a"), "2");
  EXPECT_EQ(Value("b"), "<missing>");
}

// DORA (issue 15): each sync of a production Application is a deployment
// whose changes are the commits it brought, with their committer dates; a
// rollback fails what it took back. The API answers in GitLab's shape, the
// CLI with DORA's bands, and a kill -9 forgets and doubles nothing.
TEST_F(GitopsE2E, EachSyncIsADeploymentOfTheCommitsItBroughtAndARollbackFailsOne) {
  const int64_t now_s = static_cast<int64_t>(::time(nullptr));
  // A commit dated `ago_s` seconds before the test began (committer date).
  auto commit = [&](const std::string& msg, int64_t ago_s) { return Commit(msg, now_s - ago_s); };
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  const std::string c1 = commit("one", 3 * 3600);
  Sh("git -C " + work_ + " push -q " + push_url_ + " HEAD:main");
  StartServer();
  Ran r = Cli({"apply", "-f",
               File("app.yaml", fmt::format(R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps}}
spec: {{url: "{url}", pollInterval: 1s}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop
  labels: {{strake.dev/tier: production}}
spec:
  source: {{repoURL: "{url}", path: env/dev, targetRevision: main}}
  destination: {{name: local, namespace: default}}
  syncPolicy: {{automated: {{prune: true}}}}
)",
                                            fmt::arg("url", url_)))});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitSynced(c1)) << App().dump(2);
  Write("env/dev/a.yaml", ConfigMap("a", "2"));
  const std::string c2 = commit("two", 2 * 3600);
  Write("env/dev/a.yaml", ConfigMap("a", "3"));
  const std::string c3 = commit("three", 3600);
  Sh("git -C " + work_ + " push -q " + push_url_ + " HEAD:main");
  ASSERT_TRUE(WaitSynced(c3)) << App().dump(2);

  // What the answers must be, from the Application's own history.
  auto deployed_s = [&](size_t i) {
    Json h = App()["status"]["history"];
    auto t = ParseRfc3339(h.at(i).value("deployedAt", ""));
    return t ? static_cast<double>(UnixMillis(*t)) / 1000 : 0;
  };
  std::vector<double> leads = {deployed_s(0) - static_cast<double>(now_s - 3 * 3600),
                               deployed_s(1) - static_cast<double>(now_s - 2 * 3600),
                               deployed_s(1) - static_cast<double>(now_s - 3600)};
  std::sort(leads.begin(), leads.end());
  const std::string today = FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
  auto ask = [&](const std::string& metric) {
    Ran a = Cli({"dora", metric, "--interval", "all", "--start", today, "--end", today, "-o",
                 "json", "--explain"});
    Json j = a.exit_code == 0 ? Json::parse(a.out, nullptr, false) : Json();
    return j.is_array() && j.size() == 1 ? j[0] : Json();
  };
  ASSERT_TRUE(WaitFor([&] { return ask("deployment_frequency").value("value", 0.0) == 2.0; }, 20s))
      << ask("deployment_frequency").dump(2);
  auto check_lead = [&] {
    Json lead = ask("lead_time_for_changes");
    ASSERT_TRUE(lead.is_object());
    EXPECT_DOUBLE_EQ(lead.value("value", 0.0), leads[1]) << lead.dump(2);
    std::set<std::string> commits;
    for (const auto& c : lead["changes"]) commits.insert(c.value("commit", ""));
    EXPECT_EQ(commits, (std::set<std::string>{c1, c2, c3})) << lead.dump(2);
  };
  check_lead();
  Ran summary = Cli({"dora", "--start", today, "--end", today});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("deployment frequency"), std::string::npos) << summary.out;
  EXPECT_NE(summary.out.find("2.00/day"), std::string::npos) << summary.out;
  EXPECT_NE(summary.out.find("elite"), std::string::npos) << summary.out;

  // kill -9: the records are the store's; the restart (whose recorder
  // looks at every Application again) counts nothing twice.
  StopServer(SIGKILL);
  StartServer();
  EXPECT_EQ(ask("deployment_frequency").value("value", 0.0), 2.0);
  EXPECT_FALSE(WaitFor(
      [&] {
        Json lead = ask("lead_time_for_changes");
        return ask("deployment_frequency").value("value", 0.0) != 2.0 ||
               lead.value("changes", Json::array()).size() != 3;
      },
      4s));
  check_lead();

  // A rollback to the first sync: the second deployment failed, restored
  // when the rollback finished; the rollback itself is rework.
  r = Cli({"app", "rollback", "shop", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitFor([&] { return ask("change_failure_rate").value("value", 0.0) > 0; }, 20s))
      << ask("change_failure_rate").dump(2);
  Json cfr = ask("change_failure_rate");
  EXPECT_NEAR(cfr.value("value", 0.0), 1 / 3.0, 1e-9) << cfr.dump(2);
  Json failed;
  for (const auto& d : cfr["deployments"]) {
    if (d.contains("failure")) failed = d;
  }
  EXPECT_EQ(failed.value("id", ""), "Application/default/shop#1") << cfr.dump(2);
  EXPECT_EQ(failed.value("failure", ""), "rolled back by Application/default/shop#2");
  EXPECT_NEAR(ask("deployment_rework_rate").value("value", 0.0), 1 / 3.0, 1e-9);
  Json restore = ask("time_to_restore_service");
  ASSERT_EQ(restore["failures"].size(), 1u) << restore.dump(2);
  EXPECT_GE(restore.value("value", -1.0), 0.0);
  check_lead();  // the rollback brought no commit: the same three, the same median

  // An incident that names the first commit fails the deployment that
  // brought it, until it closes; a deployment meanwhile is rework.
  r = Cli({"incident", "open", "checkout answers 500", "--commit", c1.substr(0, 8), "--name",
           "c1-down"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto incident = [&](const std::string& name) {
    Ran got = Cli({"get", "incident", name, "-o", "json"});
    Json j = got.exit_code == 0 ? Json::parse(got.out, nullptr, false) : Json();
    return j.is_object() ? j.value("status", Json::object()) : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return incident("c1-down").contains("deployment"); }, 20s))
      << incident("c1-down").dump(2);
  EXPECT_EQ(incident("c1-down").value("deployment", ""), "Application/default/shop#0");
  EXPECT_EQ(incident("c1-down").value("phase", ""), "Open");
  ASSERT_TRUE(WaitFor([&] { return ask("change_failure_rate").value("value", 0.0) > 0.5; }, 20s))
      << ask("change_failure_rate").dump(2);
  EXPECT_NEAR(ask("change_failure_rate").value("value", 0.0), 2 / 3.0, 1e-9);
  r = Cli({"incident", "close", "c1-down"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitFor([&] { return incident("c1-down").value("phase", "") == "Closed"; }, 20s))
      << incident("c1-down").dump(2);
  ASSERT_TRUE(WaitFor([&] { return ask("time_to_restore_service")["failures"].size() == 2; }, 20s))
      << ask("time_to_restore_service").dump(2);
  // Alertmanager's webhook opens an incident in the environment the URL
  // names; it fails the deployment running there (the rollback, #2), and a
  // sync while it is open is rework; its resolution closes it.
  auto server = ParseHttpUrl(server_);
  ASSERT_TRUE(server);
  // Its start a second after the rollback's (times are to the second): an
  // incident opened in the instant a deployment finished blames the one
  // before.
  std::this_thread::sleep_for(1100ms);
  const std::string starts = FormatRfc3339(std::chrono::system_clock::now());
  auto alert = [&](const std::string& status, const std::string& query) {
    http::Request req;
    req.method = "POST";
    req.target = "/apis/strake.dev/v1/namespaces/default/dora/incidents" + query;
    req.headers = Auth();
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = Json{{"version", "4"},
                    {"status", status},
                    {"alerts",
                     {{{"status", status},
                       {"labels", {{"alertname", "HighErrorRate"}}},
                       {"annotations", {{"summary", "5xx above 5%"}}},
                       {"startsAt", starts},  // one firing: the same start
                       {"endsAt", FormatRfc3339(std::chrono::system_clock::now())},
                       {"fingerprint", "c6e2f2d1a0b3e4f5"}}}}}
                   .dump();
    auto got = http::Fetch(server->host, server->port, req, 5s);
    EXPECT_TRUE(got);
    return got ? std::make_pair(got->status, got->body) : std::make_pair(0, std::string());
  };
  auto refused = alert("firing", "");  // nothing says what it hit
  EXPECT_EQ(refused.first, 400) << refused.second;
  EXPECT_NE(refused.second.find("environment"), std::string::npos) << refused.second;
  auto fired = alert("firing", "?environment=shop");
  ASSERT_EQ(fired.first, 200) << fired.second;
  const Json report = Json::parse(fired.second, nullptr, false);
  ASSERT_EQ(report.value("opened", Json::array()).size(), 1u) << fired.second;
  const std::string alert_name = report["opened"][0].get<std::string>();
  ASSERT_TRUE(WaitFor([&] { return incident(alert_name).contains("deployment"); }, 20s))
      << incident(alert_name).dump(2);
  EXPECT_EQ(incident(alert_name).value("deployment", ""), "Application/default/shop#2");
  EXPECT_EQ(alert("firing", "?environment=shop").second.find(alert_name) != std::string::npos,
            true);  // sent again: unchanged
  Write("env/dev/a.yaml", ConfigMap("a", "4"));
  const std::string c4 = commit("four", 0);
  Sh("git -C " + work_ + " push -q " + push_url_ + " HEAD:main");
  // The rollback turned automated sync off: a fix is synced by hand, once
  // the Application has seen the commit.
  ASSERT_TRUE(WaitFor(
      [&] { return App()["status"].value("sync", Json::object()).value("revision", "") == c4; },
      20s))
      << App().dump(2);
  r = Cli({"app", "sync", "shop"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitSynced(c4)) << App().dump(2);
  ASSERT_TRUE(WaitFor([&] { return ask("deployment_rework_rate").value("value", 0.0) > 0.4; }, 20s))
      << ask("deployment_rework_rate").dump(2);
  EXPECT_NEAR(ask("deployment_rework_rate").value("value", 0.0), 2 / 4.0, 1e-9);
  auto resolved = alert("resolved", "");
  ASSERT_EQ(resolved.first, 200) << resolved.second;
  EXPECT_NE(resolved.second.find(alert_name), std::string::npos) << resolved.second;
  ASSERT_TRUE(WaitFor([&] { return incident(alert_name).value("phase", "") == "Closed"; }, 20s))
      << incident(alert_name).dump(2);
  // A namespace's answers are its own.
  Ran other = Cli({"dora", "deployment_frequency", "-n", "elsewhere", "--interval", "all",
                   "--start", today, "--end", today, "-o", "json"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(Json::parse(other.out, nullptr, false)[0].value("value", -1.0), 0.0) << other.out;
  // A bad question is refused with what it takes.
  Ran bad = Cli({"dora", "lead_time", "--start", today});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("metric"), std::string::npos) << bad.err;
}

TEST_F(GitopsE2E, OverHttpACommitThatChangesARolloutStartsACanary) {
  ServeOverHttp();
  uint16_t port = FreePort();
  auto manifests = [&](const std::string& version) {
    return fmt::format(R"(apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: {port}, targetPort: http}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: web:{version}
        command: [python3, "{app}"]
        env: [{{name: VERSION, value: {version}}}]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 1}}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {{}}
)",
                       fmt::arg("port", port), fmt::arg("version", version), fmt::arg("app", app_));
  };
  Write("env/dev/web.yaml", manifests("v1"));
  std::string v1 = Push("v1");
  StartServer();
  ApplyApp();
  ASSERT_TRUE(WaitFor([&] { return SyncedRevision() == v1 && AppHealth() == "Healthy"; }, 30s))
      << App().dump(2);
  Write("env/dev/web.yaml", manifests("v2"));
  std::string v2 = Push("v2");
  // The canary stops at its indefinite pause: the Application is Suspended,
  // as Argo CD shows a paused rollout.
  ASSERT_TRUE(WaitFor([&] { return SyncedRevision() == v2 && AppHealth() == "Suspended"; }, 30s))
      << App().dump(2);
  Json ro = Get("rollout", "web");
  EXPECT_EQ(ro["status"]["canary"].value("weight", 0), 50) << ro.dump(2);
  Ran r = Cli({"rollout", "promote", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(WaitFor([&] { return AppHealth() == "Healthy"; }, 30s)) << App().dump(2);
}

// Repositories are reached only where the server's egress policy allows:
// by default no loopback and no file://, and never by a redirect.
TEST_F(GitopsE2E, TheEgressPolicyKeepsRepositoriesOffLoopbackAndFileAndRedirectsAreNotFollowed) {
  ServeOverHttp();
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  Push("first");
  serve_egress_.clear();
  StartServer();
  auto repo_message = [&] {
    Json repo = Get("repository", "apps");
    return repo["status"].value("phase", "") == "Error" ? repo["status"].value("message", "") : "";
  };
  ApplyApp();
  ASSERT_TRUE(WaitFor([&] { return !repo_message().empty(); }, 15s)) << App().dump(2);
  EXPECT_NE(repo_message().find("is a loopback address, which this server's egress policy refuses"),
            std::string::npos)
      << repo_message();
  url_ = "file://" + repos_ + "/apps.git";
  ApplyApp();
  ASSERT_TRUE(WaitFor([&] { return repo_message().find("file://") != std::string::npos; }, 15s))
      << repo_message();
  EXPECT_NE(repo_message().find("--egress-allow file"), std::string::npos) << repo_message();
  EXPECT_EQ(Value("a"), "<missing>");
  // Allowed loopback, but the repository answers with a redirect: not followed.
  StopServer(SIGTERM);
  serve_egress_ = "loopback";
  StartServer();
  url_ = fmt::format("http://127.0.0.1:{}/moved/apps.git", port_of_http_);
  ApplyApp();
  ASSERT_TRUE(WaitFor([&] { return repo_message().find("moved") != std::string::npos; }, 15s))
      << repo_message();
  EXPECT_NE(repo_message().find("301"), std::string::npos) << repo_message();
  EXPECT_EQ(Value("a"), "<missing>");
}

TEST_F(GitopsE2E, AGitServerThatIsDownDeletesNothing) {
  ServeOverHttp();
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  std::string first = Push("first");
  StartServer();
  ApplyApp();
  ASSERT_TRUE(WaitSynced(first)) << App().dump(2);
  ASSERT_TRUE(WriteFile(repos_ + "/.down", ""));
  ASSERT_TRUE(WaitFor(
      [&] {
        Json a = App();
        for (const auto& c : a["status"].value("conditions", Json::array())) {
          if (c.value("message", "").find("source unavailable") != std::string::npos) return true;
        }
        return false;
      },
      15s))
      << App().dump(2);
  // The Application sees the fetch's failure in memory before the Repository's
  // status is written: wait for that too.
  Json repo;
  EXPECT_TRUE(WaitFor(
      [&] {
        repo = Repo();
        return repo["status"].value("phase", "") == "Error";
      },
      15s))
      << repo.dump(2);
  EXPECT_NE(repo["status"].value("message", "").find("503"), std::string::npos) << repo.dump(2);
  EXPECT_EQ(Value("a"), "1");
  Ran r = Cli({"app", "sync", "shop", "--prune"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(Value("a"), "1");
  // Back up: the next commit syncs.
  ASSERT_TRUE(RemoveAll(repos_ + "/.down"));
  Write("env/dev/a.yaml", ConfigMap("a", "2"));
  std::string second = Push("second");
  ASSERT_TRUE(WaitSynced(second)) << App().dump(2);
  EXPECT_EQ(Value("a"), "2");
}

TEST_F(GitopsE2E, KillNineMidSyncResumesWithoutDuplicatesOrTurningAutoSyncOff) {
  WriteSlowWaves(2);
  std::string sha = Push("waves");
  StartServer();
  ApplyApp();
  ASSERT_TRUE(WaitFor(
      [&] {
        Json a = App();
        return a.is_object() &&
               a["status"]
                       .value("operationState", Json::object())
                       .value("message", "")
                       .find("waiting for healthy state of Deployment/slow") != std::string::npos;
      },
      15s))
      << App().dump(2);
  EXPECT_EQ(Value("after"), "<missing>");  // wave 1 has not started
  StopServer(SIGKILL);
  StartServer();
  ASSERT_TRUE(WaitSynced(sha, 30s)) << App().dump(2);
  Json app = App();
  EXPECT_EQ(app["status"]["operationState"].value("phase", ""), "Succeeded") << app.dump(2);
  EXPECT_TRUE(app["spec"]["syncPolicy"].contains("automated"));
  EXPECT_EQ(Value("after"), "1");
  Json dep = Get("deployment", "slow");
  EXPECT_EQ(dep["status"].value("replicas", 0), 2) << dep.dump(2);
  // Exactly two replica processes of the app run (each in its sandbox, whose
  // bwrap processes carry the same arguments: only the app is counted).
  int running = 0;
  // (The bracket keeps pgrep from counting the shell that runs it.)
  std::string pattern = "^python3 .*[" + Marker().substr(0, 1) + "]" + Marker().substr(1);
  FILE* p = ::popen(("pgrep -f -c -- '" + pattern + "'").c_str(), "r");
  char buf[32] = {};
  if (p && fgets(buf, sizeof buf, p)) running = std::atoi(buf);
  if (p) ::pclose(p);
  EXPECT_EQ(running, 2);
}

TEST_F(GitopsE2E, AWebhookSyncsAtOnceAndAHugeBodyIsRefusedUnread) {
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  std::string first = Push("first");
  StartServer();
  // Polled hourly: only the webhook can make the next commit show.
  std::string text = fmt::format(R"(apiVersion: v1
kind: Secret
metadata: {{name: hook}}
stringData: {{secret: s3cret}}
---
apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps}}
spec: {{url: "{url}", pollInterval: 1h, webhookSecretRef: {{name: hook}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: shop}}
spec:
  source: {{repoURL: "{url}", path: env/dev, targetRevision: main}}
  destination: {{name: local}}
  syncPolicy: {{automated: {{prune: true}}}}
)",
                                 fmt::arg("url", url_));
  Ran r = Cli({"apply", "-f", File("hooked.yaml", text)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitSynced(first)) << App().dump(2);
  Write("env/dev/a.yaml", ConfigMap("a", "2"));
  std::string second = Push("second");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(SyncedRevision(), first);  // no poll picked it up

  auto server = ParseHttpUrl(server_);
  ASSERT_TRUE(server);
  std::string body =
      fmt::format(R"({{"repository":{{"url":"{}"}},"ref":"refs/heads/main"}})", url_);
  auto post = [&](const std::string& signature) {
    http::Request req;
    req.method = "POST";
    req.target = "/webhooks/generic";
    req.headers = {{"Content-Type", "application/json"},
                   {"X-Strake-Signature-256", signature},
                   {"X-Strake-Delivery", "delivery-1"}};
    req.body = body;
    auto got = http::Fetch(server->host, server->port, req, 5s);
    EXPECT_TRUE(got);
    return got ? got->status : 0;
  };
  EXPECT_EQ(post("sha256=" + HmacSha256Hex("wrong", body)), 401);
  EXPECT_EQ(post("sha256=" + HmacSha256Hex("s3cret", body)), 202);
  EXPECT_TRUE(WaitSynced(second, 5s)) << App().dump(2);
  EXPECT_EQ(Value("a"), "2");
  EXPECT_EQ(post("sha256=" + HmacSha256Hex("s3cret", body)), 200);  // a replay: ignored

  // A 2 GB body is refused from its head, before a byte of it is read.
  auto fd = ConnectTcp(server->host, server->port, 5s);
  ASSERT_TRUE(fd) << fd.error().message;
  std::string head =
      "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n"
      "X-Hub-Signature-256: sha256=00\r\n\r\n";
  ASSERT_EQ(::write(fd->get(), head.data(), head.size()), static_cast<ssize_t>(head.size()));
  char buf[512] = {};
  ssize_t n = ::read(fd->get(), buf, sizeof buf - 1);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(StartsWith(buf, "HTTP/1.1 413")) << buf;
}

TEST_F(GitopsE2E, BadInputIsAClearErrorAndNothingIsApplied) {
  // Refused before anything is written, with file:line:col.
  Ran r = Cli({"apply", "-f", File("bad.yaml", R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: evil}
spec:
  source: {repoURL: "file:///srv/x.git", path: ../../../etc}
  destination: {name: local}
)")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:5:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("spec.source.path: \"../../../etc\" leaves the repository"),
            std::string::npos)
      << r.err;
  r = Cli({"apply", "-f", File("scheme.yaml", R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {name: r}
spec: {url: "ext::sh -c touch% /tmp/pwned"}
)")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("spec.url: unsupported repository URL"), std::string::npos) << r.err;

  // In the repository: a symlink out of it, and an invalid manifest.
  Write("env/dev/ok.yaml", ConfigMap("ok", "1"));
  Sh("ln -s /etc/passwd " + work_ + "/env/dev/passwd.yaml");
  std::string sha = Push("evil link");
  StartServer();
  ApplyApp();
  auto condition = [&]() -> std::string {
    Json a = App();
    if (!a.is_object()) return "";
    for (const auto& c : a["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == "ComparisonError") return c.value("message", "");
    }
    return "";
  };
  ASSERT_TRUE(WaitFor([&] { return !condition().empty(); }, 15s)) << App().dump(2);
  EXPECT_NE(condition().find("env/dev/passwd.yaml is a symbolic link to \"/etc/passwd\", outside "
                             "the repository"),
            std::string::npos)
      << condition();
  EXPECT_EQ(Value("ok"), "<missing>");
  Sh("git -C " + work_ + " rm -q env/dev/passwd.yaml");
  Write("env/dev/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 0}]\n");
  Push("bad service");
  ASSERT_TRUE(
      WaitFor([&] { return condition().find("env/dev/svc.yaml:5:") != std::string::npos; }, 15s))
      << condition();
  EXPECT_NE(condition().find("spec.ports[0].port: must be between 1 and 65535"), std::string::npos)
      << condition();
  EXPECT_EQ(Value("ok"), "<missing>");
}

// Pipelines-as-Code: a push to a watched branch runs .tekton/'s PipelineRun
// with the commit checked out; a branch name built to inject shell stays
// data; a pipeline that pastes the branch into a script is refused.
TEST_F(GitopsE2E, APushRunsTheRepositorysPipelinesWithTheCommitCheckedOut) {
  const std::string safe = R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: shop-on-push-
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main, x*]"
spec:
  params:
  - {name: revision, value: "{{revision}}"}
  - {name: branch, value: "{{source_branch}}"}
  workspaces:
  - name: source
    emptyDir: {}
  pipelineSpec:
    params: [{name: revision}, {name: branch}]
    workspaces: [{name: source}]
    results:
    - {name: version, value: $(tasks.build.results.version)}
    - {name: branch, value: $(tasks.build.results.branch)}
    tasks:
    - name: build
      workspaces: [{name: src, workspace: source}]
      params: [{name: branch, value: $(params.branch)}]
      taskSpec:
        params: [{name: branch}]
        workspaces: [{name: src}]
        results: [{name: version}, {name: branch}]
        steps:
        - name: build
          env: [{name: BRANCH, value: $(params.branch)}]
          script: |
            tr -d '\n' < $(workspaces.src.path)/VERSION > $(results.version.path)
            printf '%s' "$BRANCH" > $(results.branch.path)
            test ! -e pwned
)yaml";
  Write(".tekton/push.yaml", safe);
  Write("VERSION", "1.0\n");
  std::string first = Push("first");
  StartServer();
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  EXPECT_FALSE(Repo()["status"].contains("pipelinesAsCode")) << "the first fetch only records";

  Write("VERSION", "1.1\n");
  std::string second = Push("second");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", second).is_object(); }, 20s))
      << Repo().dump(2);
  Json e = PushRecord("main", second);
  ASSERT_EQ(e["pipelineRuns"].size(), 1u) << e.dump();
  std::string name = e["pipelineRuns"][0];
  EXPECT_TRUE(StartsWith(name, "shop-on-push-")) << name;
  Json pr = FinishedRun(name);
  ASSERT_EQ(pr["status"]["conditions"][0].value("status", ""), "True") << pr.dump(2);
  EXPECT_EQ(RunResult(pr, "version"), "1.1") << pr.dump(2);
  EXPECT_EQ(RunResult(pr, "branch"), "main");
  EXPECT_EQ(pr["metadata"]["labels"].value("pipelinesascode.tekton.dev/sha", ""), second);

  // A branch whose name is a command substitution: it reaches the step as a
  // string, and nothing runs it.
  const std::string hostile = "x$(touch${IFS}pwned)";
  Sh("git -C " + work_ + " push -q " + push_url_ + " 'HEAD:refs/heads/" + hostile + "'");
  ASSERT_TRUE(WaitFor([&] { return PushRecord(hostile, second).is_object(); }, 20s))
      << Repo().dump(2);
  e = PushRecord(hostile, second);
  ASSERT_EQ(e["pipelineRuns"].size(), 1u) << e.dump();
  pr = FinishedRun(e["pipelineRuns"][0]);
  ASSERT_EQ(pr["status"]["conditions"][0].value("status", ""), "True") << pr.dump(2);
  EXPECT_EQ(RunResult(pr, "branch"), hostile);

  // A pipeline that pastes the branch into its script is refused, with the
  // safe form, and starts nothing.
  std::string pasted = safe;
  pasted.replace(pasted.find("printf '%s' \"$BRANCH\""), 21, "printf '%s' \"{{source_branch}}\"");
  Write(".tekton/push.yaml", pasted);
  std::string third = Push("paste");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", third).is_object(); }, 20s))
      << Repo().dump(2);
  e = PushRecord("main", third);
  EXPECT_FALSE(e.contains("pipelineRuns")) << e.dump();
  EXPECT_NE(e.value("error", "")
                .find(".tekton/push.yaml:32:19: spec.pipelineSpec.tasks[0]."
                      "taskSpec.steps[0].script: {{source_branch}} is not trusted"),
            std::string::npos)
      << e.dump();
  EXPECT_NE(e.value("error", "").find("value: $(params.source_branch)"), std::string::npos);
}

TEST_F(GitopsE2E, KillNineMidPipelineResumesTheRunOnce) {
  Write(".tekton/push.yaml", R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: slow
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineSpec:
    results: [{name: out, value: $(tasks.slow.results.out)}]
    tasks:
    - name: slow
      taskSpec:
        results: [{name: out}]
        steps:
        - script: |
            sleep 3
            printf done > $(results.out.path)
)yaml");
  std::string first = Push("first");
  StartServer();
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  Write("x", "1");
  std::string second = Push("second");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", second).is_object(); }, 20s))
      << Repo().dump(2);
  std::string name = PushRecord("main", second)["pipelineRuns"][0];
  std::this_thread::sleep_for(1s);  // in the middle of the step
  StopServer(SIGKILL);
  StartServer();
  Json pr = FinishedRun(name);
  ASSERT_EQ(pr["status"]["conditions"][0].value("status", ""), "True") << pr.dump(2);
  EXPECT_EQ(RunResult(pr, "out"), "done");
  // One run for the push, however often the restarted server saw it.
  std::this_thread::sleep_for(2s);
  Ran list = Cli({"get", "pipelineruns", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  int runs = 0;
  const Json all = Json::parse(list.out);
  for (const auto& item : all["items"]) {
    if (item["metadata"]["labels"].value("pipelinesascode.tekton.dev/sha", "") == second) ++runs;
  }
  EXPECT_EQ(runs, 1) << list.out;
}

// Resource hooks: a PreSync Job runs (and is deleted) before the sync's
// resources are applied, a Sync hook between the resources of its wave and
// those of the next, a PostSync Job (named per sync by generateName) after
// they are healthy; a failing PreSync hook fails the sync before anything is
// applied, and starts the SyncFail hook.
TEST_F(GitopsE2E, HooksRunAroundTheSyncAndAFailedPreSyncHookStopsIt) {
  auto job = [](const std::string& name, const std::string& hook, const std::string& annotations,
                const std::string& script) {
    bool generate = name.back() == '-';
    return fmt::format(
        R"(apiVersion: batch/v1
kind: Job
metadata:
  {}: {}
  annotations:
    argocd.argoproj.io/hook: {}
{}spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: alpine
        command: [sh, -c, "{}"]
)",
        generate ? "generateName" : "name", name, hook, annotations, script);
  };
  const std::string succeeded = "    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n";
  Write("env/dev/a.yaml", ConfigMap("a", "1"));
  Write("env/dev/b.yaml",
        ConfigMap("b", "1", "  annotations: {argocd.argoproj.io/sync-wave: \"2\"}\n"));
  Write("env/dev/pre.yaml", job("pre", "PreSync", succeeded, "sleep 1; echo migrated"));
  Write("env/dev/mid.yaml",
        job("mid", "Sync", "    argocd.argoproj.io/sync-wave: \"1\"\n", "sleep 1; echo between"));
  Write("env/dev/post.yaml", job("post-", "PostSync", "", "echo smoke-tested"));
  Write("env/dev/failed.yaml", job("on-fail", "SyncFail", "", "echo cleaning up"));
  std::string sha = Push("hooks");
  StartServer();
  ApplyApp();
  ASSERT_TRUE(WaitSynced(sha, 30s)) << App().dump(2);
  ASSERT_TRUE(WaitFor(
      [&] {
        return App()["status"].value("operationState", Json::object()).value("phase", "") ==
               "Succeeded";
      },
      30s))
      << App().dump(2);
  Json op = App()["status"]["operationState"];
  std::vector<std::string> order;
  std::string post_name;
  for (const auto& r : op["syncResult"]["resources"]) {
    std::string name = r.value("name", "");
    if (name.rfind("post-", 0) == 0) {
      post_name = name;
      name = "post-*";
    }
    order.push_back(r.value("kind", "") + "/" + name + ":" +
                    r.value("hookPhase", r.value("status", "")));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"Job/pre:Succeeded", "ConfigMap/a:Synced",
                                             "Job/mid:Succeeded", "ConfigMap/b:Synced",
                                             "Job/post-*:Succeeded"}))
      << op.dump(2);
  EXPECT_EQ(Value("a"), "1");
  // The wave-1 Sync hook ran after wave 0 was applied and was complete
  // before wave 2 was.
  Json mid = Get("job", "mid");
  ASSERT_TRUE(mid.is_object());
  EXPECT_GE(mid["status"].value("startTime", ""),
            Get("configmap", "a")["metadata"].value("creationTimestamp", "~"));
  EXPECT_GE(Get("configmap", "b")["metadata"].value("creationTimestamp", ""),
            mid["status"].value("completionTime", "~"));
  // HookSucceeded deleted the PreSync Job; the PostSync one is kept (under
  // its generated name), done after the ConfigMaps were made; hooks are not
  // the Application's resources.
  EXPECT_FALSE(Get("job", "pre").is_object());
  ASSERT_EQ(post_name.size(), std::string("post-").size() + 5) << post_name;
  Json post = Get("job", post_name);
  ASSERT_TRUE(post.is_object());
  EXPECT_EQ(post["status"].value("succeeded", 0), 1) << post.dump(2);
  EXPECT_GE(post["status"].value("startTime", ""),
            Get("configmap", "b")["metadata"].value("creationTimestamp", "~"));
  EXPECT_EQ(App()["status"]["resources"].size(), 2u) << App()["status"]["resources"].dump();
  EXPECT_NE(ReadFile(data_ + "/logs/jobs/default/" + post_name + ".log")
                .value_or("")
                .find("smoke-tested"),
            std::string::npos);

  // A PreSync hook that fails: nothing of the new revision is applied.
  Write("env/dev/a.yaml", ConfigMap("a", "2"));
  Write("env/dev/pre.yaml", job("pre", "PreSync", "", "echo no database; exit 3"));
  Write("env/dev/b.yaml",
        ConfigMap("b", "2", "  annotations: {argocd.argoproj.io/sync-wave: \"2\"}\n"));
  std::string bad = Push("failing hook");
  ASSERT_TRUE(WaitFor(
      [&] {
        Json o = App()["status"].value("operationState", Json::object());
        return o.value("phase", "") == "Failed" &&
               o.value("syncResult", Json::object()).value("revision", "") == bad;
      },
      30s))
      << App().dump(2);
  op = App()["status"]["operationState"];
  EXPECT_NE(op.value("message", "").find("PreSync hook Job pre"), std::string::npos) << op.dump(2);
  EXPECT_EQ(Value("a"), "1");
  EXPECT_EQ(Value("b"), "1");
  EXPECT_TRUE(WaitFor([&] { return Get("job", "on-fail").is_object(); }, 10s));
}

}  // namespace
}  // namespace strake::e2e

namespace strake::e2e {
namespace {

// Deleting an Application with Argo CD's finalizers: its PreDelete hooks run,
// then its resources go (a Delete=false one stays), then its PostDelete
// hooks run and go, then the Application. A PreDelete hook that fails holds
// the deletion, and says why.
TEST_F(GitopsE2E, DeletingAnApplicationRunsItsDeleteHooksAndDeletesItsResources) {
  auto hook = [](const std::string& name, const std::string& phase, const std::string& script) {
    return fmt::format(R"(apiVersion: v1
kind: Pod
metadata:
  name: {}
  annotations: {{argocd.argoproj.io/hook: {}}}
spec:
  restartPolicy: Never
  containers:
  - {{name: main, image: busybox, command: [sh, -c, "{}"]}}
)",
                       name, phase, script);
  };
  Write("env/ok/a.yaml", ConfigMap("a", "1"));
  Write("env/ok/b.yaml",
        ConfigMap("b", "1", "  annotations: {argocd.argoproj.io/sync-options: Delete=false}\n"));
  Write("env/ok/pre.yaml", hook("pre", "PreDelete", "echo pre >> order.txt"));
  Write("env/ok/post.yaml", hook("post", "PostDelete", "echo post >> order.txt"));
  Write("env/blocked/c.yaml", ConfigMap("c", "1"));
  Write("env/blocked/pre.yaml", hook("stop", "PreDelete", "exit 3"));
  std::string sha = Push("delete hooks");
  StartServer();
  std::string apps;
  for (const char* app : {"ok", "blocked"}) {
    apps += fmt::format(R"(---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {app}
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  source: {{repoURL: "{url}", path: env/{app}, targetRevision: main}}
  destination: {{name: local, namespace: default}}
  syncPolicy: {{automated: {{prune: true}}}}
)",
                        fmt::arg("app", app), fmt::arg("url", url_));
  }
  Ran r = Cli({"apply", "-f", File("apps.yaml", apps)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* app : {"ok", "blocked"}) {
    ASSERT_TRUE(WaitFor(
        [&] {
          Json a = Get("application", app);
          return a.is_object() &&
                 a["status"].value("sync", Json::object()).value("revision", "") == sha &&
                 a["metadata"]
                         .value("finalizers", Json::array())
                         .dump()
                         .find("pre-delete-finalizer.argocd.argoproj.io") != std::string::npos;
        },
        30s))
        << Get("application", app).dump(2);
  }
  EXPECT_EQ(Value("a"), "1");
  EXPECT_FALSE(Get("pod", "pre").is_object()) << "a delete hook does not run at a sync";

  r = Cli({"delete", "application", "ok", "blocked"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitFor([&] { return !Get("application", "ok").is_object(); }, 30s))
      << Get("application", "ok").dump(2);
  EXPECT_EQ(ReadFile(dir_ + "/order.txt").value_or(""), "pre\npost\n");
  EXPECT_FALSE(Get("configmap", "a").is_object());
  EXPECT_EQ(Value("b"), "1") << "Delete=false keeps it";
  EXPECT_FALSE(Get("pod", "post").is_object()) << "a PostDelete hook goes once done";
  // The failing PreDelete hook holds its Application and its resources.
  ASSERT_TRUE(WaitFor(
      [&] {
        Json a = Get("application", "blocked");
        return a.is_object() &&
               a["status"].value("conditions", Json::array()).dump().find("DeletionError") !=
                   std::string::npos;
      },
      30s))
      << Get("application", "blocked").dump(2);
  EXPECT_EQ(Value("c"), "1");
}

// Argo CD's own test data (tests/argo-cd/, copied unchanged; the list of
// what does not sync yet, and why, is in docs/gitops.md): each source, one
// Application each as Argo CD's e2e tests make them (path = the source, its
// own namespace, automated sync with prune), ends Synced and Healthy with every resource
// it renders, custom resources of its own CRDs and Pods that ran included.
TEST_F(GitopsE2E, ArgoCdsOwnTestDataSyncsAsArgoCdRendersIt) {
  namespace fs = std::filesystem;
  const std::string root = std::string(STRAKE_SOURCE_DIR) + "/tests/argo-cd";
  std::vector<std::string> sources;
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    std::string source = e.path().filename().string();
    sources.push_back(source);
    for (const auto& f : fs::recursive_directory_iterator(e.path())) {
      if (!f.is_regular_file()) continue;
      std::string rel = fs::relative(f.path(), root).string();
      Write("testdata/" + rel, ReadFile(f.path().string()).value_or(""));
    }
  }
  std::sort(sources.begin(), sources.end());
  ASSERT_GE(sources.size(), 28u);
  std::string sha = Push("Argo CD testdata");
  StartServer();
  std::string apps = fmt::format(R"(apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps}}
spec: {{url: "{}", pollInterval: 1s}}
)",
                                 url_);
  // An Application's name and namespace: the source's, as a DNS label.
  auto label = [](std::string name) {
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
  };
  // What Argo CD's own e2e tests give these sources (test/e2e/jsonnet_test.go:
  // --jsonnet-ext-var-str foo=$ARGOCD_APP_NAME, --jsonnet-tla-code ...).
  const std::map<std::string, std::string> kGiven = {
      {"jsonnet-ext-var",
       "directory: {jsonnet: {extVars: [{name: foo, value: $ARGOCD_APP_NAME}, "
       "{name: bar, value: \"'$ARGOCD_APP_NAME'\", code: true}]}}"},
      {"jsonnet-tla-cm",
       "directory: {jsonnet: {tlas: [{name: foo, value: $ARGOCD_APP_NAME}, "
       "{name: bar, value: \"'$ARGOCD_APP_NAME'\", code: true}]}}"},
      {"jsonnet-tla",
       "directory: {jsonnet: {tlas: [{name: name, value: testing-tla}, "
       "{name: replicas, value: '0', code: true}]}}"},
      {"jsonnet-nested-dir-with-imports",
       "path: testdata/jsonnet-nested-dir-with-imports/apps\n"
       "    directory: {recurse: true}"},
  };
  for (const auto& source : sources) {
    auto given = kGiven.find(source);
    std::string extra = given == kGiven.end() ? "" : given->second;
    apps += fmt::format(R"(---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {app}}}
spec:
  source:
    repoURL: "{url}"
    targetRevision: main
    {path}
  destination: {{name: local, namespace: {app}}}
  syncPolicy: {{automated: {{prune: true}}}}
)",
                        fmt::arg("app", label(source)), fmt::arg("url", url_),
                        fmt::arg("path", StartsWith(extra, "path:")
                                             ? extra
                                             : "path: testdata/" + source + "\n    " + extra));
  }
  Ran r = Cli({"apply", "-f", File("apps.yaml", apps)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto state = [&](const std::string& name) {
    Json a = Get("application", name);
    const Json st = a.is_object() ? a.value("status", Json::object()) : Json::object();
    return fmt::format("{}/{}/{}", st.value("sync", Json::object()).value("status", ""),
                       st.value("health", Json::object()).value("status", ""),
                       st.value("sync", Json::object()).value("revision", "") == sha);
  };
  for (const auto& source : sources) {
    std::string app = label(source);
    EXPECT_TRUE(WaitFor([&] { return state(app) == "Synced/Healthy/true"; }, 60s))
        << source << ": " << state(app) << "\n"
        << Get("application", app)["status"].dump(2);
  }
  // A source's own CRDs serve its custom resources, namespaced and not.
  Ran dummies = Cli({"get", "dummies", "-A"});
  EXPECT_NE(dummies.out.find("dummy-crd-instance"), std::string::npos)
      << dummies.out << dummies.err;
  EXPECT_TRUE(Get("clusterdummy", "cluster-dummy-crd-instance").is_object());
  // Jsonnet's variables: Argo CD's $ARGOCD_APP_NAME, as a string and as code.
  for (const std::string app : {"jsonnet-ext-var", "jsonnet-tla-cm"}) {
    Json cm = Get("configmap", "my-map", app);
    ASSERT_TRUE(cm.is_object()) << app;
    EXPECT_EQ(cm["data"].value("foo", ""), app) << cm.dump();
    EXPECT_EQ(cm["data"].value("bar", ""), app) << cm.dump();
  }
  Json tla = Get("deployment", "testing-tla", "jsonnet-tla");
  ASSERT_TRUE(tla.is_object());
  EXPECT_EQ(tla["spec"].value("replicas", -1), 0);
  // Validate=false: the field the API does not know is dropped, and said.
  Json invalid = Get("configmap", "invalid-cm", "sync-options-validate-false");
  ASSERT_TRUE(invalid.is_object());
  EXPECT_FALSE(invalid.contains("invalidKey")) << invalid.dump();
  std::string warning;
  for (const auto& c : Get("application", "sync-options-validate-false")["status"].value(
           "conditions", Json::array())) {
    if (c.value("type", "") == "UnknownFieldWarning") warning = c.value("message", "");
  }
  EXPECT_NE(warning.find("invalid-cm.yaml:8:1: invalidKey: unknown field \"invalidKey\""),
            std::string::npos)
      << warning;
  EXPECT_TRUE(Get("namespace", "hello-world").is_object());
  EXPECT_TRUE(Get("namespace", "hello-root").is_object());
  // Pods ran their command to completion.
  Ran got = Cli({"get", "pod", "pod-1", "-n", "two-nice-pods", "-o", "json"});
  Json pod = Json::parse(got.out, nullptr, false);
  ASSERT_TRUE(pod.is_object()) << got.out << got.err;
  EXPECT_EQ(pod["status"].value("phase", ""), "Succeeded") << pod.dump(2);
}

// The sandbox escape by push: a .tekton/ PipelineRun that names the data
// directory (or any host directory) as its volume is refused with its place,
// and one that plants a link in a claim cannot follow it in the next push.
TEST_F(GitopsE2E, APushCannotMakeTheDataDirectoryAWorkspace) {
  const std::string run = R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: escape-
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  workspaces:
  - name: source
    emptyDir: {}
  - name: loot
    persistentVolumeClaim: {claimName: "CLAIM"}
    subPath: SUB
  pipelineSpec:
    workspaces: [{name: source}, {name: loot}]
    tasks:
    - name: t
      workspaces: [{name: loot}]
      taskSpec:
        workspaces: [{name: loot}]
        steps:
        - script: SCRIPT
)yaml";
  auto with = [&](const std::string& claim, const std::string& sub, const std::string& script) {
    std::string text = run;
    text.replace(text.find("CLAIM"), 5, claim);
    text.replace(text.find("SUB"), 3, sub);
    text.replace(text.find("SCRIPT"), 6, script);
    return text;
  };
  Write(".tekton/escape.yaml", with("cache", "\"\"", "\"true\""));
  std::string first = Push("first");
  StartServer();
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);

  // claimName "../..": refused at its place, nothing started.
  Write(".tekton/escape.yaml", with("../..", "\"\"", "\"ls > leaked\""));
  std::string second = Push("escape");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", second).is_object(); }, 20s))
      << Repo().dump(2);
  Json e = PushRecord("main", second);
  EXPECT_FALSE(e.contains("pipelineRuns")) << e.dump();
  EXPECT_NE(e.value("error", "")
                .find(".tekton/escape.yaml:13:40: "
                      "spec.workspaces[1].persistentVolumeClaim.claimName: "
                      "invalid name \"../..\""),
            std::string::npos)
      << e.dump();

  // A link planted in the claim by one push is not followed by the next.
  Write(".tekton/escape.yaml",
        with("cache", "\"\"", "\"ln -s ../../.. $(workspaces.loot.path)/up\""));
  std::string third = Push("plant");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", third).is_object(); }, 20s));
  Json planted = FinishedRun(PushRecord("main", third)["pipelineRuns"][0]);
  ASSERT_EQ(planted["status"]["conditions"][0].value("status", ""), "True") << planted.dump(2);
  Write(".tekton/escape.yaml", with("cache", "up", "\"ls > $(workspaces.loot.path)/leaked\""));
  std::string fourth = Push("follow");
  ASSERT_TRUE(WaitFor([&] { return PushRecord("main", fourth).is_object(); }, 20s));
  Json followed = FinishedRun(PushRecord("main", fourth)["pipelineRuns"][0]);
  EXPECT_EQ(followed["status"]["conditions"][0].value("status", ""), "False") << followed.dump(2);
  EXPECT_FALSE(PathExists(data_ + "/leaked")) << "a step wrote into the data directory";
}

// Kargo's Warehouse (docs/delivery.md): each new commit on the branch that
// touches an included path becomes Freight, named by its fingerprint, over
// git's smart HTTP as Kargo requires.
TEST_F(GitopsE2E, AWarehouseMakesFreightOfEachNewCommitThatTouchesItsPaths) {
  ServeOverHttp();
  Write("apps/guestbook/main.py", "v1");
  std::string v1 = Push("v1");
  StartServer();
  std::string kargo = fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: kargo-demo
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: guestbook
  namespace: kargo-demo
spec:
  interval: 1h
  subscriptions:
  - git:
      repoURL: {}
      branch: main
      includePaths:
      - apps/guestbook
      excludePaths:
      - apps/guestbook/README.md
)",
                                  url_);
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  auto freight = [&] { return FreightIn("kargo-demo"); };
  auto ids = [&] {
    std::set<std::string> out;
    for (const auto& f : freight()) out.insert(f["commits"][0].value("id", ""));
    return out;
  };
  // The first discovery is at once; later ones every hour, or when asked.
  ASSERT_TRUE(WaitFor([&] { return ids() == std::set<std::string>{v1}; }, 30s))
      << freight().dump(2);
  auto refresh = [&] {
    Ran r = Cli({"refresh", "warehouse", "guestbook", "-n", "kargo-demo", "--wait"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("refreshed: Ready True"), std::string::npos) << r.out;
  };
  // A commit that touches only an excluded path makes nothing.
  Write("apps/guestbook/README.md", "docs");
  Push("readme");
  refresh();
  EXPECT_EQ(ids(), std::set<std::string>{v1});
  Write("apps/guestbook/main.py", "v2");
  std::string v2 = Push("v2");
  refresh();
  ASSERT_EQ(ids(), (std::set<std::string>{v1, v2})) << freight().dump(2);
  Json all = freight();
  EXPECT_NE(all[0].value("alias", ""), all[1].value("alias", ""));
  for (const auto& f : all) {
    EXPECT_EQ(f["origin"], Json({{"kind", "Warehouse"}, {"name", "guestbook"}}));
    EXPECT_EQ(f["commits"][0]["repoURL"], url_);
  }
  Ran table = Cli({"get", "warehouses", "-n", "kargo-demo"});
  EXPECT_NE(table.out.find("True"), std::string::npos) << table.out;
  Json w = Get("warehouse", "guestbook", "kargo-demo");
  EXPECT_EQ(w["status"].value("lastFreightID", "").size(), 40u) << w.dump(2);
  EXPECT_EQ(w["status"]["discoveredArtifacts"]["git"][0]["commits"][0]["id"], v2);
}

// kill -9 and a restart: the Warehouse's schedule is its stored status, so
// the restart neither discovers again before the interval nor loses the
// Freight made; a refresh after it makes the next one, once.
TEST_F(GitopsE2E, AWarehouseKeepsItsScheduleAndFreightAcrossKillNine) {
  ServeOverHttp();
  Write("app/main.py", "v1");
  std::string v1 = Push("v1");
  StartServer();
  std::string kargo = fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: app, namespace: demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{}", branch: main}}
)",
                                  url_);
  Ran applied = Cli({"apply", "-f", File("w.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  auto discovered_at = [&] {
    Json w = Get("warehouse", "app", "demo");
    if (!w.is_object()) return std::string();
    return w.value("status", Json::object())
        .value("discoveredArtifacts", Json::object())
        .value("discoveredAt", "");
  };
  auto freight = [&] { return FreightIn("demo"); };
  ASSERT_TRUE(WaitFor([&] { return freight().size() == 1; }, 30s));
  std::string first = discovered_at();
  ASSERT_FALSE(first.empty());
  Write("app/main.py", "v2");
  std::string v2 = Push("v2");
  StopServer(SIGKILL);
  StartServer();
  // Not due for an hour: nothing is discovered again at start.
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(discovered_at(), first);
  ASSERT_EQ(freight().size(), 1u);
  EXPECT_EQ(freight()[0]["commits"][0]["id"], v1);
  Ran r = Cli({"refresh", "warehouse", "app", "-n", "demo", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Json all = freight();
  ASSERT_EQ(all.size(), 2u) << all.dump(2);
  std::set<std::string> ids;
  for (const auto& f : all) ids.insert(f["commits"][0].value("id", ""));
  EXPECT_EQ(ids, (std::set<std::string>{v1, v2}));
}

// Kargo's delivery loop (docs/delivery.md): a Warehouse makes Freight of
// each commit; `strake promote` moves the dev Stage to it, its argocd-update
// step pointing dev's Application at the commit and syncing it; verified in
// dev, the Freight is promoted into prod by itself (the ProjectConfig's
// auto-promotion), which takes Freight only from dev.
TEST_F(GitopsE2E, FreightIsPromotedThroughStagesByArgoCDUpdateAndAutoPromotion) {
  ServeOverHttp();
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v1"));
  std::string v1 = Push("v1");
  StartServer();
  const char* kVerification = R"(  verification:
    analysisTemplates: [{name: smoke}]
    args: [{name: commit, value: "${{ commitFrom(vars.repo).ID }}"}]
)";
  std::string apps;
  for (const char* stage : {"dev", "prod"}) {
    apps += fmt::format(
        R"(---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-{stage}
  namespace: kargo-demo
  annotations: {{kargo.akuity.io/authorized-stage: "kargo-demo:{stage}"}}
spec:
  source: {{repoURL: "{url}", path: env/dev, targetRevision: main}}
  destination: {{name: local, namespace: {stage}}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {stage}, namespace: kargo-demo}}
spec:
  vars:
  - {{name: repo, value: "{url}"}}
  requestedFreight:
  - origin: {{kind: Warehouse, name: shop}}
    sources: {sources}
  promotionTemplate:
    spec:
      steps:
      - uses: argocd-update
        config:
          apps:
          - name: shop-${{{{ ctx.stage }}}}
            sources:
            - repoURL: ${{{{ vars.repo }}}}
              desiredRevision: ${{{{ commitFrom(vars.repo).ID }}}}
              updateTargetRevision: true
{verification})",
        fmt::arg("stage", stage), fmt::arg("url", url_),
        fmt::arg("sources", std::string(stage) == "dev" ? "{direct: true}" : "{stages: [dev]}"),
        fmt::arg("verification", std::string(stage) == "dev" ? kVerification : ""));
  }
  // dev's verification: a job that checks it was given the commit.
  apps += R"(---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: kargo-demo}
spec:
  args: [{name: commit}]
  metrics:
  - name: commit-given
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: check
                command: [sh, -c, 'test ${#COMMIT} = 40']
                env: [{name: COMMIT, value: "{{args.commit}}"}]
)";
  std::string kargo = fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {{name: kargo-demo}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  promotionPolicies:
  - stageSelector: {{name: prod}}
    autoPromotionEnabled: true
---
apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps, namespace: kargo-demo}}
spec: {{url: "{url}", pollInterval: 1s}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: shop, namespace: kargo-demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{url}", branch: main}}
{apps})",
                                  fmt::arg("url", url_), fmt::arg("apps", apps));
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  auto freight_of = [&](const std::string& sha) { return FreightOfCommit("kargo-demo", sha); };
  ASSERT_TRUE(WaitFor([&] { return freight_of(v1).is_object(); }, 30s));
  auto synced = [&](const std::string& app) { return SyncedRevisionOf(app, "kargo-demo"); };
  // Nothing moves before a person asks (dev has no auto-promotion).
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(synced("shop-dev"), "");
  const std::string f1 = freight_of(v1)["metadata"]["name"];
  Ran promoted = Cli({"promote", "--stage", "dev", "--freight", f1, "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_NE(promoted.out.find("Succeeded"), std::string::npos) << promoted.out;
  EXPECT_EQ(synced("shop-dev"), v1);
  Json dev_app = Get("application", "shop-dev", "kargo-demo");
  EXPECT_EQ(dev_app["spec"]["source"]["targetRevision"], v1);
  Json cm = Get("configmap", "web-config", "dev");
  EXPECT_EQ(cm.is_object() ? cm["data"].value("value", "") : "", "v1");
  // dev verifies it (an AnalysisRun of its template); verified there, prod
  // takes it by itself.
  auto verified_in = [&](const std::string& sha, const std::string& stage) {
    Json fr = freight_of(sha);
    return fr.is_object() &&
           fr.value("status", Json::object()).value("verifiedIn", Json::object()).contains(stage);
  };
  ASSERT_TRUE(WaitFor([&] { return verified_in(v1, "prod"); }, 30s))
      << Get("stage", "dev", "kargo-demo").dump(2) << Get("stage", "prod", "kargo-demo").dump(2);
  EXPECT_EQ(synced("shop-prod"), v1);
  Json f = freight_of(v1);
  EXPECT_TRUE(f["status"]["currentlyIn"].contains("dev")) << f.dump(2);
  EXPECT_TRUE(f["status"]["verifiedIn"].contains("dev")) << f.dump(2);
  EXPECT_TRUE(f["status"]["verifiedIn"].contains("prod")) << f.dump(2);
  Json dev = Get("stage", "dev", "kargo-demo");
  Json verification = dev["status"]["freightHistory"][0]["verificationHistory"][0];
  EXPECT_EQ(verification["phase"], "Successful") << dev.dump(2);
  const std::string run_name = verification["analysisRun"]["name"];
  Json run = Get("analysisrun", run_name, "kargo-demo");
  EXPECT_EQ(run["spec"]["args"][0]["value"], v1) << run.dump(2);

  // The next commit: dev first, prod after it.
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v2"));
  std::string v2 = Push("v2");
  Ran r = Cli({"refresh", "warehouse", "shop", "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(freight_of(v2).is_object());
  const std::string alias = freight_of(v2)["alias"];
  promoted =
      Cli({"promote", "--stage", "dev", "--freight-alias", alias, "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_EQ(synced("shop-dev"), v2);
  ASSERT_TRUE(WaitFor([&] { return verified_in(v2, "prod"); }, 30s));
  EXPECT_EQ(synced("shop-prod"), v2);
  Json old = freight_of(v1);
  EXPECT_FALSE(old["status"].value("currentlyIn", Json::object()).contains("dev"));
  EXPECT_TRUE(old["status"]["verifiedIn"]["dev"].contains("longestSoak"));
  Ran stages = Cli({"get", "stages", "-n", "kargo-demo"});
  EXPECT_NE(stages.out.find(freight_of(v2)["metadata"]["name"].get<std::string>()),
            std::string::npos)
      << stages.out;
  Ran promos = Cli({"get", "promotions", "-n", "kargo-demo"});
  EXPECT_EQ(std::count(promos.out.begin(), promos.out.end(), '\n'), 5) << promos.out;  // 4 + header
  // Freight not verified upstream is refused at prod, and approval lets it in.
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v3"));
  std::string v3 = Push("v3");
  Cli({"refresh", "warehouse", "shop", "-n", "kargo-demo", "--wait"});
  const std::string f3 = freight_of(v3)["metadata"]["name"];
  Ran refused = Cli({"promote", "--stage", "prod", "--freight", f3, "-n", "kargo-demo"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("Freight is not available to this Stage"), std::string::npos)
      << refused.err;
  Ran approved = Cli({"approve", "--stage", "prod", "--freight", f3, "-n", "kargo-demo"});
  ASSERT_EQ(approved.exit_code, 0) << approved.out << approved.err;
  promoted = Cli({"promote", "--stage", "prod", "--warehouse", "shop", "-n", "kargo-demo",
                  "--wait"});  // its newest Freight: f3
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  EXPECT_EQ(synced("shop-prod"), v3);
  EXPECT_EQ(synced("shop-dev"), v2);
}

// kill -9 while a Promotion waits for the sync its argocd-update started
// (wave 1 waits for a Deployment that takes 8 s to be ready): after the
// restart the sync resumes, the step finds it by the Promotion's name and
// starts no other, and the Promotion succeeds with the step's first record.
TEST_F(GitopsE2E, APromotionKilledMidStepResumesItWithoutASecondSync) {
  ServeOverHttp();
  // Wave 1 waits for the Deployment: the sync waits for its health.
  WriteSlowWaves(1);
  std::string v1 = Push("v1");
  StartServer();
  std::string kargo = fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: shop, namespace: demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{url}", branch: main}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop
  namespace: demo
  annotations: {{kargo.akuity.io/authorized-stage: "demo:dev"}}
spec:
  source: {{repoURL: "{url}", path: env/dev, targetRevision: main}}
  destination: {{name: local, namespace: demo}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: demo}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: shop}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: argocd-update
        config:
          apps:
          - name: shop
            sources:
            - repoURL: "{url}"
              desiredRevision: ${{{{ commitFrom("{url}").ID }}}}
)",
                                  fmt::arg("url", url_));
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return FreightIn("demo").size() == 1; }, 30s));
  const std::string freight = FreightIn("demo")[0]["metadata"]["name"];
  Ran promoted = Cli({"promote", "--stage", "dev", "--freight", freight, "-n", "demo"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  const std::string out = promoted.out;
  const std::string name = out.substr(out.find('/') + 1, out.find(' ') - out.find('/') - 1);
  auto promotion = [&] { return Get("promotion", name, "demo"); };
  auto app = [&] { return Get("application", "shop", "demo"); };
  // The step has started the sync and waits for the Deployment.
  ASSERT_TRUE(WaitFor(
      [&] {
        Json a = app();
        return a.is_object() &&
               a["status"].value("operationState", Json::object()).value("phase", "") == "Running";
      },
      20s))
      << promotion().dump(2);
  Json before = promotion();
  ASSERT_EQ(before["status"].value("phase", ""), "Running") << before.dump(2);
  const std::string started = before["status"]["stepExecutionMetadata"][0]["startedAt"];
  StopServer(SIGKILL);
  StartServer();
  ASSERT_TRUE(WaitFor([&] { return promotion()["status"].value("phase", "") == "Succeeded"; }, 40s))
      << promotion().dump(2) << app().dump(2);
  Json after = promotion();
  EXPECT_EQ(after["status"]["stepExecutionMetadata"][0]["startedAt"], started);
  Json a = app();
  EXPECT_EQ(a["status"]["sync"].value("revision", ""), v1);
  // One sync: the one the step started before the kill, recorded once.
  EXPECT_EQ(a["status"].value("history", Json::array()).size(), 1u) << a.dump(2);
  EXPECT_EQ(a["status"]["operationState"]["operation"]["info"][0]["value"], name);
}

// Kargo's rendered-branch flow: the Stage's steps clone the repository,
// write the environment's manifest into its own branch (stage/dev, made on
// the first promotion), commit and push it, and point the Application at
// the pushed commit.
TEST_F(GitopsE2E, AStagePushesARenderedBranchAndSyncsItsApplicationToIt) {
  ServeOverHttp();
  Write("app/main.py", "v1");
  std::string v1 = Push("v1");
  StartServer();
  std::string kargo = DevStageKargo(".", R"(      - uses: git-clone
        config:
          repoURL: ${{ vars.gitRepo }}
          checkout:
          - commit: ${{ commitFrom(vars.gitRepo).ID }}
            path: ./src
          - branch: stage/${{ ctx.stage }}
            create: true
            path: ./out
      - uses: git-clear
        config: {path: ./out}
      - uses: file-write
        config:
          path: ./out/web.yaml
          contents: |
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: web}
            data: {commit: "${{ commitFrom(vars.gitRepo).ID }}"}
      - uses: git-commit
        as: commit
        config:
          path: ./out
          message: render ${{ ctx.targetFreight.name }} for ${{ ctx.stage }}
      - uses: git-push
        config: {path: ./out}
      - uses: argocd-update
        config:
          apps:
          - name: web-dev
            sources:
            - repoURL: ${{ vars.gitRepo }}
              desiredRevision: ${{ outputs.commit.commit }}
)");
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return FreightIn("demo").size() == 1; }, 30s));
  const std::string freight = FreightIn("demo")[0]["metadata"]["name"];
  Ran promoted = Cli({"promote", "--stage", "dev", "--freight", freight, "-n", "demo", "--wait"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  // The branch holds the rendered manifest, and the Application synced it.
  Json cm = Get("configmap", "web", "dev");
  ASSERT_TRUE(cm.is_object()) << Get("application", "web-dev", "demo").dump(2);
  EXPECT_EQ(cm["data"].value("commit", ""), v1);
  Json app = Get("application", "web-dev", "demo");
  const std::string synced = app["status"]["sync"].value("revision", "");
  Json promo = Json::parse(Cli({"get", "promotions", "-n", "demo", "-o", "json"}).out)["items"][0];
  EXPECT_EQ(synced, promo["status"]["state"]["commit"].value("commit", "")) << promo.dump(2);
  EXPECT_NE(synced, v1);
  EXPECT_EQ(promo["status"]["state"]["step-5"].value("branch", ""), "stage/dev");
  // An abort of a finished Promotion changes nothing (as Kargo).
  const std::string pname = promo["metadata"]["name"];
  Ran aborted = Cli({"abort", "promotion", pname, "-n", "demo"});
  EXPECT_EQ(aborted.exit_code, 0) << aborted.out << aborted.err;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Get("promotion", pname, "demo")["status"].value("phase", ""), "Succeeded");
}

// Kargo's pull-request flow against strake's own pull requests: the Stage
// pushes a generated branch, opens a pull request into stage/dev and waits;
// a person lists and merges it with the CLI; the Promotion goes on at once
// and syncs the Application to the merge commit.
TEST_F(GitopsE2E, APromotionOpensAPullRequestAndRunsOnOnceAPersonMergesIt) {
  ServeOverHttp();
  Write("app/main.py", "v1");
  std::string v1 = Push("v1");
  Sh("git -C " + work_ + " push -q " + push_url_ + " HEAD:refs/heads/stage/dev");
  StartServer();
  std::string kargo = DevStageKargo("out", R"(      - uses: git-clone
        config:
          repoURL: ${{ vars.gitRepo }}
          checkout:
          - branch: stage/${{ ctx.stage }}
            path: ./repo
      - uses: file-write
        config:
          path: ./repo/out/web.yaml
          contents: |
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: web}
            data: {commit: "${{ commitFrom(vars.gitRepo).ID }}"}
      - uses: git-commit
        config: {path: ./repo, message: "render ${{ ctx.targetFreight.name }}"}
      - uses: git-push
        as: push
        config: {path: ./repo, generateTargetBranch: true}
      - uses: git-open-pr
        as: open-pr
        config:
          repoURL: ${{ vars.gitRepo }}
          sourceBranch: ${{ outputs.push.branch }}
          targetBranch: stage/${{ ctx.stage }}
          title: Deploy to ${{ ctx.stage }}
      - uses: git-wait-for-pr
        as: wait-for-pr
        config:
          repoURL: ${{ vars.gitRepo }}
          prNumber: ${{ outputs['open-pr'].pr.id }}
      - uses: argocd-update
        config:
          apps:
          - name: web-dev
            sources:
            - repoURL: ${{ vars.gitRepo }}
              desiredRevision: ${{ outputs['wait-for-pr'].commit }}
)");
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return FreightIn("demo").size() == 1; }, 30s));
  const std::string freight = FreightIn("demo")[0]["metadata"]["name"];
  ASSERT_EQ(Cli({"promote", "--stage", "dev", "--freight", freight, "-n", "demo"}).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Cli({"pr", "list", "-n", "demo"}).out.find("pr-1") != std::string::npos;
      },
      60s))
      << Cli({"get", "promotions", "-n", "demo", "-o", "yaml"}).out;
  Ran listed = Cli({"pr", "list", "-n", "demo"});
  EXPECT_NE(listed.out.find("Open"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("Deploy to dev"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("kargo/promotion/"), std::string::npos) << listed.out;
  std::this_thread::sleep_for(1s);
  Json promo = Json::parse(Cli({"get", "promotions", "-n", "demo", "-o", "json"}).out)["items"][0];
  EXPECT_EQ(promo["status"].value("phase", ""), "Running") << promo.dump(2);
  EXPECT_EQ(Get("configmap", "web", "dev"), Json()) << "synced before the merge";
  // Only a change can merge it: a viewer's token is refused.
  Ran viewer = Cli({"token", "create", "--role", "viewer"});
  ASSERT_EQ(viewer.exit_code, 0) << viewer.err;
  const size_t at = viewer.out.rfind("strk_");
  ASSERT_NE(at, std::string::npos) << viewer.out;
  const std::string viewer_token = viewer.out.substr(at, viewer.out.find('\n', at) - at);
  Ran refused =
      Strake({"pr", "merge", "1", "-n", "demo", "--server", server_, "--token", viewer_token}, 60s);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("a viewer token cannot POST"), std::string::npos) << refused.err;

  Ran merged = Cli({"pr", "merge", "1", "-n", "demo"});
  ASSERT_EQ(merged.exit_code, 0) << merged.out << merged.err;
  ASSERT_NE(merged.out.find("pullrequest/pr-1 merged: "), std::string::npos) << merged.out;
  const std::string merge_commit = std::string(Trim(merged.out.substr(merged.out.rfind(' ') + 1)));
  ASSERT_EQ(merge_commit.size(), 40u) << merged.out;
  // Woken by the merge, not by its 30s poll.
  ASSERT_TRUE(WaitFor(
      [&] {
        promo = Json::parse(Cli({"get", "promotions", "-n", "demo", "-o", "json"}).out)["items"][0];
        return promo["status"].value("phase", "") == "Succeeded";
      },
      20s))
      << promo.dump(2);
  EXPECT_EQ(promo["status"]["state"]["wait-for-pr"].value("commit", ""), merge_commit);
  Json cm = Get("configmap", "web", "dev");
  ASSERT_TRUE(cm.is_object()) << Get("application", "web-dev", "demo").dump(2);
  EXPECT_EQ(cm["data"].value("commit", ""), v1);
  EXPECT_EQ(Get("application", "web-dev", "demo")["status"]["sync"].value("revision", ""),
            merge_commit);
  Ran again = Cli({"pr", "close", "1", "-n", "demo"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("merged already"), std::string::npos) << again.err;
  EXPECT_NE(Cli({"pr", "list", "--all", "-n", "demo"}).out.find("Merged"), std::string::npos);
}

}  // namespace
// The gates of issue 14 through the server and the CLI: a Deny window
// refuses a Promotion (the reason named, the Stage's promotionWindowStatus
// says it); once it is gone, the Promotion waits in Kargo's
// wait-for-approval step until a second person approves (its creator cannot,
// one who is not an approver cannot), and each response is in the audit log.
TEST_F(GitopsE2E, AWindowRefusesAPromotionAndASecondPersonsApprovalLetsItRun) {
  ServeOverHttp();
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v1"));
  std::string v1 = Push("v1");
  StartServer();
  auto token = [&](const std::vector<std::string>& args) {
    std::vector<std::string> all = {"token", "create", "--role", "deployer"};
    all.insert(all.end(), args.begin(), args.end());
    Ran r = Cli(all);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.out.substr(r.out.rfind("strk_"),
                        r.out.find('\n', r.out.rfind("strk_")) - r.out.rfind("strk_"));
  };
  const std::string alice = token({"--user", "alice", "--claim", "groups=leads"});
  const std::string bob = token({"--user", "bob", "--claim", "groups=leads"});
  const std::string carl = token({"--user", "carl"});
  auto as = [&](const std::string& who, std::vector<std::string> args) {
    args.insert(args.end(), {"--server", server_, "--token", who, "-n", "kargo-demo"});
    return Strake(args, 60s);
  };
  auto kargo = [&](const std::string& windows) {
    return fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {{name: kargo-demo}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
{windows}---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: shop, namespace: kargo-demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{url}", branch: main}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: prod, namespace: kargo-demo}}
spec:
  requestedFreight:
  - origin: {{kind: Warehouse, name: shop}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: wait-for-approval
        as: sign-off
        config:
          approvers: [{{claim: groups, value: leads}}]
      - uses: compose-output
        as: done
        config: {{by: "${{{{ outputs['sign-off'].responses[0].user }}}}"}}
)",
                       fmt::arg("windows", windows), fmt::arg("url", url_));
  };
  const std::string freeze = R"(  promotionWindows:
  - name: freeze
    kind: Deny
    stageSelector: {name: prod}
    dtstart: "20000101T000000Z"
    dtend: "21000101T000000Z"
)";
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo(freeze))});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ASSERT_TRUE(WaitFor([&] { return FreightIn("kargo-demo").size() == 1; }, 30s));
  const std::string f1 = FreightIn("kargo-demo")[0]["metadata"]["name"];
  Ran frozen = as(alice, {"promote", "--stage", "prod", "--freight", f1});
  EXPECT_NE(frozen.exit_code, 0);
  EXPECT_NE(frozen.err.find("promotion window: window freeze closed, with no known reopening"),
            std::string::npos)
      << frozen.out << frozen.err;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json st = Get("stage", "prod", "kargo-demo").value("status", Json::object());
        return st.value("promotionWindowStatus", Json::object()).value("closed", false);
      },
      20s));
  // describe says which gate holds which Freight, and why.
  Ran described = Cli({"describe", "stage", "prod", "-n", "kargo-demo"});
  EXPECT_EQ(described.exit_code, 0) << described.err;
  EXPECT_NE(described.out.find("Gates:\n  Freight Here:       <none>\n  Promotion Window:   "
                               "closed: window freeze closed, with no known reopening"),
            std::string::npos)
      << described.out;
  EXPECT_NE(described.out.find("  Candidates (newest first):\n    " + f1.substr(0, 12)),
            std::string::npos)
      << described.out;
  EXPECT_NE(described.out.find("held: promotion window: window freeze closed"), std::string::npos)
      << described.out;
  // The freeze lifted: alice asks, the step waits for an approver.
  applied = Cli({"apply", "-f", File("kargo.yaml", kargo("  promotionPolicies: []\n"))});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  Ran asked = as(alice, {"promote", "--stage", "prod", "--freight", f1});
  ASSERT_EQ(asked.exit_code, 0) << asked.out << asked.err;
  const std::string promo = asked.out.substr(10, asked.out.find(' ') - 10);
  auto step_message = [&] {
    Json p = Get("promotion", promo, "kargo-demo");
    const Json st = p.value("status", Json::object());
    return st.value("stepExecutionMetadata", Json::array()).empty()
               ? std::string()
               : st["stepExecutionMetadata"][0].value("message", "");
  };
  ASSERT_TRUE(
      WaitFor([&] { return step_message() == "approvals 0/1: 1 more approver needed"; }, 20s))
      << Get("promotion", promo, "kargo-demo").dump(2);
  Ran self = as(alice, {"approve", "promotion", promo});
  EXPECT_NE(self.exit_code, 0);
  EXPECT_NE(self.err.find("alice created this Promotion and cannot approve it"), std::string::npos)
      << self.err;
  Ran outsider = as(carl, {"approve", "promotion", promo});
  EXPECT_NE(outsider.exit_code, 0);
  EXPECT_NE(outsider.err.find("carl is not an approver of this step"), std::string::npos)
      << outsider.err;
  Ran approved = as(bob, {"approve", "promotion", promo, "--message", "looks good"});
  ASSERT_EQ(approved.exit_code, 0) << approved.out << approved.err;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get("promotion", promo, "kargo-demo")
                   .value("status", Json::object())
                   .value("phase", "") == "Succeeded";
      },
      20s))
      << Get("promotion", promo, "kargo-demo").dump(2);
  Json p = Get("promotion", promo, "kargo-demo");
  EXPECT_EQ(p["status"]["state"]["done"]["by"], "bob") << p.dump(2);
  EXPECT_EQ(p["status"]["state"]["sign-off"]["responses"][0]["message"], "looks good");
  Ran audit = Cli({"audit", "log"});
  EXPECT_NE(audit.out.find("bob (token:"), std::string::npos) << audit.out << audit.err;
  EXPECT_NE(audit.out.find("/promotions/" + promo + "/approve"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("message: looks good"), std::string::npos) << audit.out;
  // The gate's decisions: the refusal with its reason, the Stage closed and
  // open again, the Promotion let through.
  EXPECT_NE(audit.out.find("refused: promotion"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("window freeze closed, with no known reopening"), std::string::npos)
      << audit.out;
  EXPECT_NE(audit.out.find("gate.closed"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("gate.open"), std::string::npos) << audit.out;
  EXPECT_NE(audit.out.find("gate.pass"), std::string::npos) << audit.out;
}

// Kargo's autoRollback: a Freight whose verification fails in dev sends dev
// back to the last Freight verified there, by a Promotion marked as a
// rollback, through the same steps (the Application syncs back).
TEST_F(GitopsE2E, AFailedVerificationRollsTheStageBackToItsStableFreight) {
  ServeOverHttp();
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v1"));
  std::string v1 = Push("good");
  StartServer();
  std::string kargo = fmt::format(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {{name: kargo-demo}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {{name: kargo-demo, namespace: kargo-demo}}
spec:
  promotionPolicies:
  - stageSelector: {{name: dev}}
    autoRollback: {{}}
---
apiVersion: strake.dev/v1
kind: Repository
metadata: {{name: apps, namespace: kargo-demo}}
spec: {{url: "{url}", pollInterval: 1s}}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {{name: shop, namespace: kargo-demo}}
spec:
  interval: 1h
  subscriptions:
  - git: {{repoURL: "{url}", branch: main}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop-dev
  namespace: kargo-demo
  annotations: {{kargo.akuity.io/authorized-stage: "kargo-demo:dev"}}
spec:
  source: {{repoURL: "{url}", path: env/dev, targetRevision: main}}
  destination: {{name: local, namespace: dev}}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: smoke, namespace: kargo-demo}}
spec:
  args: [{{name: message}}]
  metrics:
  - name: not-bad
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: check
                command: [sh, -c, 'case "$MESSAGE" in bad*) exit 1;; esac']
                env: [{{name: MESSAGE, value: "{{{{args.message}}}}"}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: dev, namespace: kargo-demo}}
spec:
  vars:
  - {{name: repo, value: "{url}"}}
  requestedFreight:
  - origin: {{kind: Warehouse, name: shop}}
    sources: {{direct: true}}
  promotionTemplate:
    spec:
      steps:
      - uses: argocd-update
        config:
          apps:
          - name: shop-dev
            sources:
            - repoURL: ${{{{ vars.repo }}}}
              desiredRevision: ${{{{ commitFrom(vars.repo).ID }}}}
              updateTargetRevision: true
  verification:
    analysisTemplates: [{{name: smoke}}]
    args: [{{name: message, value: "${{{{ commitFrom(vars.repo).Message }}}}"}}]
)",
                                  fmt::arg("url", url_));
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", kargo)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  auto freight_of = [&](const std::string& sha) { return FreightOfCommit("kargo-demo", sha); };
  auto synced = [&] { return SyncedRevisionOf("shop-dev", "kargo-demo"); };
  auto verified = [&](const std::string& sha) {
    Json f = freight_of(sha);
    return f.is_object() &&
           f.value("status", Json::object()).value("verifiedIn", Json::object()).contains("dev");
  };
  ASSERT_TRUE(WaitFor([&] { return freight_of(v1).is_object(); }, 30s));
  Ran promoted = Cli({"promote", "--stage", "dev", "--freight", freight_of(v1)["metadata"]["name"],
                      "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  ASSERT_TRUE(WaitFor([&] { return verified(v1); }, 30s)) << Get("stage", "dev", "kargo-demo");
  // The bad commit: promoted by hand, its verification fails, and dev goes
  // back to v1 by itself.
  Write("env/dev/cm.yaml", ConfigMap("web-config", "v2"));
  std::string v2 = Push("bad release");
  Ran r = Cli({"refresh", "warehouse", "shop", "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string bad = freight_of(v2)["metadata"]["name"];
  promoted = Cli({"promote", "--stage", "dev", "--freight", bad, "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  auto rollback = [&] {
    Ran l = Cli({"get", "promotions", "-n", "kargo-demo", "-o", "json"});
    Json items = Json::parse(l.out, nullptr, false);
    if (!items.is_object()) return Json();
    for (const auto& p : items.value("items", Json::array())) {
      if (p["metadata"]
              .value("annotations", Json::object())
              .value("kargo.akuity.io/rollback", "") == "true")
        return p;
    }
    return Json();
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        Json p = rollback();
        return p.is_object() && p.value("status", Json::object()).value("phase", "") == "Succeeded";
      },
      60s))
      << Get("stage", "dev", "kargo-demo").dump(2);
  Json p = rollback();
  EXPECT_EQ(p["spec"]["freight"], freight_of(v1)["metadata"]["name"]);
  EXPECT_EQ(p["metadata"]["annotations"]["kargo.akuity.io/create-actor"], "kargo:auto-rollback");
  ASSERT_TRUE(WaitFor([&] { return synced() == v1; }, 30s));
  Json cm = Get("configmap", "web-config", "dev");
  EXPECT_EQ(cm.is_object() ? cm["data"].value("value", "") : "", "v1");
  Json dev = Get("stage", "dev", "kargo-demo");
  EXPECT_EQ(dev["status"]["metadata"]["stableFreight"]["Warehouse/shop"],
            freight_of(v1)["metadata"]["name"])
      << dev.dump(2);
  Ran audit = Cli({"audit", "log"});
  EXPECT_NE(audit.out.find("auto-rollback"), std::string::npos) << audit.out;
  // kargo verify: the current Freight's verification runs again, once.
  auto verifications = [&] {
    Json st = Get("stage", "dev", "kargo-demo").value("status", Json::object());
    Json h = st.value("freightHistory", Json::array());
    return h.empty() ? Json::array() : h[0].value("verificationHistory", Json::array());
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        Json vh = verifications();
        return !vh.empty() && vh[0].value("phase", "") == "Successful";
      },
      30s));
  const size_t before = verifications().size();
  Ran none = Cli({"verify", "stage", "dev", "-n", "kargo-demo", "--abort"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("no verification in progress"), std::string::npos) << none.err;
  Ran again = Cli({"verify", "stage", "dev", "-n", "kargo-demo"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("re-run of verification"), std::string::npos) << again.out;
  ASSERT_TRUE(WaitFor(
      [&] {
        Json vh = verifications();
        return vh.size() == before + 1 && vh[0].value("phase", "") == "Successful";
      },
      30s))
      << verifications().dump(2);
  // DORA (issue 15): three deployments into dev (a development tier, by
  // its name), the bad one failed by its verification and restored by the
  // rollback, which is rework; shop-dev's syncs are the Stage's, not
  // counted again.
  const std::string today = FormatRfc3339(std::chrono::system_clock::now()).substr(0, 10);
  auto ask = [&](const std::string& metric) {
    Ran a = Cli({"dora", metric, "-n", "kargo-demo", "--tier", "development", "--interval", "all",
                 "--start", today, "--end", today, "-o", "json", "--explain"});
    Json j = a.exit_code == 0 ? Json::parse(a.out, nullptr, false) : Json();
    return j.is_array() && j.size() == 1 ? j[0] : Json();
  };
  ASSERT_TRUE(WaitFor([&] { return ask("deployment_frequency").value("value", 0.0) == 3.0; }, 20s))
      << ask("deployment_frequency").dump(2);
  Json cfr = ask("change_failure_rate");
  EXPECT_NEAR(cfr.value("value", 0.0), 1 / 3.0, 1e-9) << cfr.dump(2);
  Json failed;
  for (const auto& d : cfr["deployments"]) {
    if (d.contains("failure")) failed = d;
  }
  EXPECT_EQ(failed.value("revision", ""), bad) << cfr.dump(2);
  EXPECT_EQ(failed.value("failure", "").rfind("verification failed", 0), 0u) << cfr.dump(2);
  EXPECT_TRUE(failed.contains("restoredAt")) << cfr.dump(2);
  EXPECT_NEAR(ask("deployment_rework_rate").value("value", 0.0), 1 / 3.0, 1e-9);
}

// GitLab's CI_DEPLOY_FREEZE: a step of a Project in a freeze period sees it
// set (and can skip its deploy); once the freeze is gone, it does not.
TEST_F(GitopsE2E, StepsInADeployFreezeSeeCiDeployFreeze) {
  Write(".tekton/push.yaml", R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: deploy
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  pipelineSpec:
    results: [{name: freeze, value: $(tasks.deploy.results.freeze)}]
    tasks:
    - name: deploy
      taskSpec:
        results: [{name: freeze}]
        steps:
        - script: printf '%s' "${CI_DEPLOY_FREEZE:-none}" > $(results.freeze.path)
)yaml");
  std::string first = Push("first");
  StartServer();
  Ran applied = Cli({"apply", "-f", File("freeze.yaml", R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: default, namespace: default}
spec:
  freezePeriods:
  - {name: year-end, freezeStart: "0 0 1 1 *", freezeEnd: "0 0 30 2 *", cronTimezone: Europe/Berlin}
)")});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  auto run_of = [&](const std::string& sha) {
    EXPECT_TRUE(WaitFor([&] { return PushRecord("main", sha).is_object(); }, 20s))
        << Repo().dump(2);
    Json pr = FinishedRun(PushRecord("main", sha)["pipelineRuns"][0]);
    return RunResult(pr, "freeze");
  };
  Write("x", "1");
  EXPECT_EQ(run_of(Push("frozen")), "true");
  ASSERT_EQ(Cli({"delete", "projectconfig", "default"}).exit_code, 0);
  Write("x", "2");
  EXPECT_EQ(run_of(Push("thawed")), "none");
}

// What a pipeline built becomes an Artifact with its evidence, the
// Warehouse makes Freight of it, and a criterion over the evidence gates
// the Promotion: refused with the values, admitted once the evidence meets
// it; an Artifact in a Stage cannot be deleted, nor written by hand.
TEST_F(GitopsE2E, WhatAPipelineBuiltIsFreightAndItsEvidenceIsAGate) {
  Write(".tekton/build.yaml", R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  workspaces:
  - name: source
    emptyDir: {}
  pipelineSpec:
    workspaces: [{name: source}]
    results:
    - {name: IMAGE_URL, value: $(tasks.build.results.IMAGE_URL)}
    - {name: IMAGE_DIGEST, value: $(tasks.build.results.IMAGE_DIGEST)}
    tasks:
    - name: build
      workspaces: [{name: src, workspace: source}]
      taskSpec:
        workspaces: [{name: src}]
        results: [{name: IMAGE_URL}, {name: IMAGE_DIGEST}]
        steps:
        - script: |
            read -r v < $(workspaces.src.path)/VERSION
            printf '127.0.0.1:5000/web:%s' "$v" > $(results.IMAGE_URL.path)
            d=`sha256sum < $(workspaces.src.path)/VERSION | cut -c1-64`
            printf 'sha256:%s' "$d" > $(results.IMAGE_DIGEST.path)
    - name: test
      workspaces: [{name: src, workspace: source}]
      taskSpec:
        workspaces: [{name: src}]
        results: [{name: COVERAGE}]
        steps:
        - script: cat $(workspaces.src.path)/COVERAGE > $(results.COVERAGE.path)
)yaml");
  Write("VERSION", "1.0\n");
  Write("COVERAGE", "78.3\n");
  std::string first = Push("first");
  StartServer();
  // The second criterion: the artifact's provenance is signed by the
  // server and says it was built from this repository.
  const std::string criteria = fmt::format(R"(
  - name: provenance
    stageSelector: {{name: staging}}
    expression: provenance.verified && provenance.source.repo == '{}'
)",
                                           url_);
  Ran applied = Cli({"apply", "-f", File("kargo.yaml", R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: web, namespace: default}
spec:
  interval: 1h
  subscriptions:
  - name: web
    artifact:
      config: {pipeline: build, branch: main, type: image}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: staging, namespace: default}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: web}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        config:
          image: ${{ imageFrom('127.0.0.1:5000/web').Tag }}
          commit: ${{ artifactFrom('web').Metadata.commit }}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: default, namespace: default}
spec:
  promotionCriteria:
  - name: coverage
    stageSelector: {name: staging}
    expression: evidence('test').COVERAGE >= 80)" + criteria)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  // A push: the run builds "1.0" with 78.3% coverage.
  auto freight_of = [&](const std::string& tag) {
    return FreightOfArtifact("127.0.0.1:5000/web:" + tag);
  };
  Write("x", "1");
  std::string low = Push("low coverage");
  Json f1 = freight_of("1.0");
  ASSERT_TRUE(f1.is_object()) << Get("warehouse", "web", "default").dump(2);
  EXPECT_EQ(f1["artifacts"][0]["metadata"]["commit"], low);
  const std::string run = f1["artifacts"][0]["metadata"]["pipelineRun"];
  Ran refused =
      Cli({"promote", "--stage", "staging", "--freight", f1["metadata"]["name"], "-n", "default"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("criteria coverage: 78.3 < 80 (PipelineRun " + run + ", task test)"),
            std::string::npos)
      << refused.out << refused.err;
  // The Artifact: recorded by the server, with its evidence; nobody writes one.
  Ran arts = Cli({"get", "artifacts", "-o", "json"});
  ASSERT_EQ(arts.exit_code, 0) << arts.err;
  Json items = Json::parse(arts.out)["items"];
  ASSERT_EQ(items.size(), 1u) << arts.out;
  EXPECT_EQ(items[0]["spec"]["evidence"]["test"]["results"]["COVERAGE"], "78.3");
  EXPECT_EQ(items[0]["spec"]["builtBy"]["commit"], low);
  Json forged = items[0];
  forged["spec"]["evidence"]["test"]["results"]["COVERAGE"] = "99";
  Ran written = Cli({"apply", "-f", File("forged.json", forged.dump())});
  EXPECT_NE(written.exit_code, 0) << written.out;
  // Better tests, a new version: admitted, promoted, and its Artifact is in use.
  Write("VERSION", "1.1\n");
  Write("COVERAGE", "91.5\n");
  std::string good = Push("good coverage");
  Json f2 = freight_of("1.1");
  ASSERT_TRUE(f2.is_object()) << Get("warehouse", "web", "default").dump(2);
  // Its run is signed (an Attestation, Chains' name for it) once it ends.
  const std::string run2 = f2["artifacts"][0]["metadata"]["pipelineRun"];
  const std::string uid2 = Get("pipelinerun", run2, "default")["metadata"]["uid"];
  ASSERT_TRUE(WaitFor(
      [&] { return Get("attestation", "pipelinerun-" + uid2, "default").is_object(); }, 30s));
  Ran promoted =
      Cli({"promote", "--stage", "staging", "--freight", f2["metadata"]["name"], "-n", "default"});
  ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
  const std::string out = promoted.out;
  const std::string name = out.substr(out.find('/') + 1, out.find(' ') - out.find('/') - 1);
  ASSERT_TRUE(WaitFor(
      [&] { return Get("promotion", name, "default")["status"].value("phase", "") == "Succeeded"; },
      30s))
      << Get("promotion", name, "default").dump(2);
  Json state = Get("promotion", name, "default")["status"]["state"];
  // Kargo reads a whole-string template's text as JSON: the tag "1.1" is a number.
  EXPECT_EQ(state["step-1"]["image"].dump(), "1.1") << state.dump(2);
  EXPECT_EQ(state["step-1"]["commit"], good);
  // Named by the fingerprint of what it is (delivery/artifact.h ArtifactName).
  const std::string in_use =
      Sha256Hex("127.0.0.1:5000/web:1.1@" + f2["artifacts"][0]["version"].get<std::string>())
          .substr(0, 40);
  Ran deleted = Cli({"delete", "artifact", in_use});
  EXPECT_NE(deleted.exit_code, 0);
  EXPECT_NE(deleted.err.find("in use: Freight " + f2["metadata"]["name"].get<std::string>()),
            std::string::npos)
      << deleted.err;

  // Provenance: verified on this machine with the server's public key, by
  // the Artifact's name and by its digest; the TaskRuns are signed too.
  auto server = ParseHttpUrl(server_);
  ASSERT_TRUE(server);
  http::Request req;
  req.target = "/apis/strake.dev/v1/namespaces/default/provenance/publickey";
  req.headers = Auth();
  auto key = http::Fetch(server->host, server->port, req, 5s);
  ASSERT_TRUE(key && key->status == 200) << (key ? key->body : key.error().message);
  EXPECT_EQ(key->body.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << key->body;
  EXPECT_EQ(key->body.find("PRIVATE"), std::string::npos);
  const std::string pub = File("cosign.pub", key->body);
  const std::string envelope = dir_ + "/envelope.json";
  Ran verified = Cli({"verify", "provenance", in_use, "--key", pub, "--output-envelope", envelope});
  ASSERT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("source     " + url_ + " @ " + good), std::string::npos)
      << verified.out;
  EXPECT_NE(verified.out.find("buildType  https://tekton.dev/chains/v2/slsa"), std::string::npos);
  Ran by_digest = Cli({"verify", "provenance", f2["artifacts"][0]["version"], "-o", "json"});
  ASSERT_EQ(by_digest.exit_code, 0) << by_digest.out << by_digest.err;
  EXPECT_EQ(Json::parse(by_digest.out)["source"]["commit"], good);
  // Another key: not verified.
  const std::string other = dir_ + "/other.pub";
  const std::string make_other =
      "openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout -out " + other +
      " >/dev/null 2>&1";
  ASSERT_EQ(std::system(make_other.c_str()), 0);
  Ran foreign = Cli({"verify", "provenance", in_use, "--key", other});
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_NE(foreign.err.find("NOT verified"), std::string::npos) << foreign.err;
  // The envelope as cosign reads it, its signature checked by openssl alone.
  Json env = Json::parse(ReadFile(envelope).value_or("{}"));
  ASSERT_EQ(env.value("payloadType", ""), "application/vnd.in-toto+json") << env.dump();
  const std::string payload = Base64Decode(env["payload"].get<std::string>()).value_or("");
  File("pae", fmt::format("DSSEv1 28 application/vnd.in-toto+json {} {}", payload.size(), payload));
  File("sig", Base64Decode(env["signatures"][0]["sig"].get<std::string>()).value_or(""));
  const std::string check = "openssl dgst -sha256 -verify " + pub + " -signature " + dir_ +
                            "/sig " + dir_ + "/pae >/dev/null 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0);
  EXPECT_EQ(Json::parse(payload)["predicate"]["runDetails"]["metadata"]["invocationId"], uid2);
  Ran atts = Cli({"get", "attestations", "-o", "json"});
  ASSERT_EQ(atts.exit_code, 0) << atts.err;
  size_t task_runs = 0;
  const Json listed = Json::parse(atts.out);
  for (const auto& a : listed["items"])
    if (a["spec"]["run"]["kind"] == "TaskRun") ++task_runs;
  EXPECT_GE(task_runs, 4u) << atts.out;  // build and test of each of the two runs
  // Nobody writes one.
  Json forged_att = Get("attestation", "pipelinerun-" + uid2, "default");
  forged_att["metadata"]["name"] = "pipelinerun-forged";
  Ran att_written = Cli({"apply", "-f", File("att.json", forged_att.dump())});
  EXPECT_NE(att_written.exit_code, 0) << att_written.out;
}

// A build that pushes its SBOM as a blob (as `cosign attach sbom` does) and
// names it in a task's SBOM_BLOB_URL, as Konflux's build task does: the
// server fetches it into the Artifact, and a criterion over its
// components holds a vulnerable library out of a Stage, naming it.
TEST_F(GitopsE2E, AnSbomTheBuildPushedGatesAStageByItsComponents) {
  images::TestRegistry registry;
  if (!registry.Start()) GTEST_SKIP() << "docker-registry is not installed (scripts/setup.sh)";
  // The SBOM of each version, pushed to the registry by "the build".
  auto push_sbom = [&](const std::string& log4j) {
    const Json doc = {
        {"bomFormat", "CycloneDX"},
        {"specVersion", "1.6"},
        {"version", 1},
        {"components",
         Json::array({{{"type", "library"},
                       {"group", "org.apache.logging.log4j"},
                       {"name", "log4j-core"},
                       {"version", log4j},
                       {"purl", "pkg:maven/org.apache.logging.log4j/log4j-core@" + log4j}},
                      {{"type", "library"}, {"name", "zlib"}, {"version", "1.2.13"}}})}};
    const std::string text = log4j.empty() ? R"({"bomFormat": "CycloneDX", "specVersion": "1.6",
        "components": [{"type": "library"}]})"
                                           : doc.dump();
    const std::string file = File("sbom-" + log4j + ".json", text);
    registry.Push("team/web", "sbom-" + (log4j.empty() ? std::string("bad") : log4j),
                  "--layer " + file);
    return registry.host() + "/team/web@sha256:" + Sha256Hex(text);
  };
  const std::string image = registry.host() + "/team/web";
  auto with_image = [&](std::string text) {
    for (size_t at; (at = text.find("IMAGE_REPO")) != std::string::npos;)
      text.replace(at, 10, image);
    return text;
  };
  Write(".tekton/build.yaml", with_image(R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
spec:
  workspaces:
  - name: source
    emptyDir: {}
  pipelineSpec:
    workspaces: [{name: source}]
    results:
    - {name: IMAGE_URL, value: $(tasks.build.results.IMAGE_URL)}
    - {name: IMAGE_DIGEST, value: $(tasks.build.results.IMAGE_DIGEST)}
    tasks:
    - name: build
      workspaces: [{name: src, workspace: source}]
      taskSpec:
        workspaces: [{name: src}]
        results: [{name: IMAGE_URL}, {name: IMAGE_DIGEST}, {name: SBOM_BLOB_URL}]
        steps:
        - script: |
            read -r v < $(workspaces.src.path)/VERSION
            printf 'IMAGE_REPO:%s' "$v" > $(results.IMAGE_URL.path)
            d=`sha256sum < $(workspaces.src.path)/VERSION | cut -c1-64`
            printf 'sha256:%s' "$d" > $(results.IMAGE_DIGEST.path)
            cat $(workspaces.src.path)/SBOM > $(results.SBOM_BLOB_URL.path)
)yaml"));
  Write("VERSION", "1.0\n");
  Write("SBOM", push_sbom("2.14.1"));
  std::string first = Push("first");
  StartServer();
  Ran applied =
      Cli({"apply", "-f", File("kargo.yaml", with_image(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: web, namespace: default}
spec:
  interval: 1h
  subscriptions:
  - name: web
    artifact:
      config: {pipeline: build, branch: main, type: image}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: prod, namespace: default}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: web}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        config: {image: "${{ imageFrom('IMAGE_REPO').Tag }}"}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: default, namespace: default}
spec:
  promotionCriteria:
  - name: no-vulnerable-log4j
    stageSelector: {name: prod}
    expression: >-
      none(sbom.components, {.name == 'log4j-core' && semverMatches(.version, '<2.17.1')})
)"))});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  auto freight_of = [&](const std::string& tag) { return FreightOfArtifact(image + ":" + tag); };
  auto artifact_of = [&](const Json& freight) {
    const std::string name =
        Sha256Hex(freight["artifacts"][0]["metadata"]["uri"].get<std::string>() + "@" +
                  freight["artifacts"][0]["version"].get<std::string>())
            .substr(0, 40);
    return Get("artifact", name, "default");
  };
  auto promote = [&](const Json& freight) {
    return Cli(
        {"promote", "--stage", "prod", "--freight", freight["metadata"]["name"], "-n", "default"});
  };
  // 1.0 carries log4j-core 2.14.1: recorded from the registry, and held out.
  Write("x", "1");
  Push("1.0");
  Json f1 = freight_of("1.0");
  ASSERT_TRUE(f1.is_object()) << Get("warehouse", "web", "default").dump(2);
  Json a1 = artifact_of(f1);
  ASSERT_TRUE(a1["spec"].contains("sbom")) << a1.dump(2);
  EXPECT_EQ(a1["spec"]["sbom"]["format"], "CycloneDX");
  EXPECT_EQ(a1["spec"]["sbom"]["components"].size(), 2u);
  EXPECT_EQ(a1["spec"]["sbom"]["taskRun"].get<std::string>().find(
                f1["artifacts"][0]["metadata"]["pipelineRun"].get<std::string>()),
            0u);
  Ran refused = promote(f1);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("criteria no-vulnerable-log4j: none(sbom.components"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find(R"("version":"2.14.1"} matches)"), std::string::npos) << refused.err;
  // A document that is not an SBOM: recorded as a problem, and held out.
  Write("VERSION", "1.1\n");
  Write("SBOM", push_sbom(""));
  Push("1.1");
  Json f2 = freight_of("1.1");
  ASSERT_TRUE(f2.is_object());
  Json a2 = artifact_of(f2);
  EXPECT_FALSE(a2["spec"].contains("sbom"));
  EXPECT_NE(a2["spec"]["sbomProblems"].dump().find("components[0].name: missing"),
            std::string::npos)
      << a2.dump(2);
  Ran problem = promote(f2);
  EXPECT_NE(problem.exit_code, 0);
  EXPECT_NE(problem.err.find("was not recorded"), std::string::npos) << problem.err;
  // The fixed version: admitted.
  Write("VERSION", "1.2\n");
  Write("SBOM", push_sbom("2.17.1"));
  Push("1.2");
  Json f3 = freight_of("1.2");
  ASSERT_TRUE(f3.is_object());
  Ran promoted = promote(f3);
  EXPECT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err;
}

// Notifications from Argo CD Notifications' own settings (docs/
// notifications.md): a run that a push started, and that succeeded, is
// sent to a webhook receiver of the test's own, signed, once — also
// across a kill -9 of the server.
TEST_F(GitopsE2E, ARunThatSucceededIsNotifiedOnceEvenAcrossAKill9) {
  strake::testing::CannedServer hook([](const std::string&) {
    return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  });
  Write(".tekton/build.yaml", R"yaml(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[push]"
    pipelinesascode.tekton.dev/on-target-branch: "[main]"
    notifications.argoproj.io/subscribe.on-run-succeeded.hook: ""
spec:
  pipelineSpec:
    tasks:
    - name: build
      taskSpec:
        steps:
        - script: echo compiling
)yaml");
  std::string first = Push("first");
  StartServer();
  // Settings that cannot work are refused whole, with the field at fault.
  Ran bad = Cli({"apply", "-f", File("bad.yaml", R"Y(apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-notifications-cm, namespace: default}
data:
  service.teams: |
    recipientUrls: {}
  trigger.on-x: |
    - when: pipelineRun.status.conditions[0].reason == 'Succeeded'
      send: [nothing]
)Y")});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("data.service.teams: service type \"teams\" is not sent by strake"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("data.trigger.on-x[0].send: no template \"nothing\""), std::string::npos)
      << bad.err;
  std::string settings = R"Y(apiVersion: v1
kind: Secret
metadata: {name: argocd-notifications-secret, namespace: default}
stringData: {hook-secret: hmac-k3y-for-tests}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-notifications-cm, namespace: default}
data:
  service.webhook.hook: |
    url: {URL}
    signingSecret: $hook-secret
  trigger.on-run-succeeded: |
    - when: pipelineRun.status.conditions[0].reason == 'Succeeded'
      oncePer: pipelineRun.metadata.uid
      send: [run-done]
  template.run-done: |
    message: Run {{.pipelineRun.metadata.name}} succeeded.
    webhook:
      hook:
        method: POST
        path: /runs
        body: '{"reason": "{{(index .pipelineRun.status.conditions 0).reason}}"}'
)Y";
  settings.replace(settings.find("{URL}"), 5, hook.url("/hooks"));
  Ran applied = Cli({"apply", "-f", File("settings.yaml", settings)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  ApplyRepository();
  ASSERT_TRUE(WaitFor([&] { return Branch("main") == first; }, 15s)) << Repo().dump(2);
  Write("x", "1");
  Push("a push: a run");
  ASSERT_TRUE(WaitFor([&] { return !hook.Received().empty(); }, 60s))
      << Cli({"get", "pipelineruns", "-o", "yaml"}).out;
  std::vector<std::string> got = hook.Received();
  ASSERT_EQ(got.size(), 1u);
  const std::string& req = got[0];
  const std::string body = R"({"reason": "Succeeded"})";
  EXPECT_EQ(req.rfind("POST /hooks/runs HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_TRUE(req.ends_with(body)) << req;
  EXPECT_NE(req.find("X-Strake-Signature-256: sha256=" + HmacSha256Hex("hmac-k3y-for-tests", body)),
            std::string::npos)
      << req;
  EXPECT_NE(req.find("X-Strake-Delivery: "), std::string::npos);
  // What was decided and sent is the run's NotificationState (read-only).
  Ran states = Cli({"get", "notificationstates", "-o", "json"});
  ASSERT_EQ(states.exit_code, 0) << states.err;
  const Json listed = Json::parse(states.out);
  ASSERT_EQ(listed["items"].size(), 1u) << states.out;
  EXPECT_TRUE(listed["items"][0]["status"]["outbox"].empty()) << states.out;
  EXPECT_EQ(listed["items"][0]["status"]["notified"].size(), 1u) << states.out;
  Ran written = Cli({"apply", "-f", File("state.json", listed["items"][0].dump())});
  EXPECT_NE(written.exit_code, 0) << written.out;
  // kill -9, and a new server: it decides again from what the store holds,
  // and sends nothing twice.
  StopServer(SIGKILL);
  StartServer();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(hook.Received().size(), 1u);
}

// Kargo's quickstart, applied as its guide applies it (tests/kargo/
// docs_quickstart.yaml): a Warehouse subscribed to an image repository (a
// real OCI registry on loopback, images pushed by the test), a
// PromotionTask that clones the GitOps repository, sets the image with
// kustomize-set-image, renders stages/<stage> with kustomize-build,
// commits and pushes stage/<stage> with the guide's git credential Secret,
// and points the Stage's Application at it; three Stages, test → uat → prod.
TEST_F(GitopsE2E, KargosQuickstartCarriesAnImageThroughThreeStages) {
  images::TestRegistry registry;
  if (!registry.Start()) GTEST_SKIP() << "docker-registry is not installed (scripts/setup.sh)";
  const std::string image = registry.host() + "/nginx/nginx";
  registry.Push("nginx/nginx", "1.28.0", "--content old");
  registry.Push("nginx/nginx", "1.29.1", "--content new");
  registry.Push("nginx/nginx", "2.0.0", "--content next");  // outside ^1.29.0
  ServeOverHttp();
  Write("base/kustomization.yaml", "resources:\n- deploy.yaml\n");
  Write("base/deploy.yaml", fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: kargo-demo}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: kargo-demo}}}}
  template:
    metadata: {{labels: {{app: kargo-demo}}}}
    spec:
      containers:
      - name: nginx
        image: {}:placeholder
)",
                                        image));
  for (const char* stage : {"test", "uat", "prod"})
    Write(fmt::format("stages/{}/kustomization.yaml", stage), "resources:\n- ../../base\n");
  Push("gitops");
  // Pushes need the guide's credentials from here on.
  ASSERT_TRUE(WriteFile(repos_ + "/.auth", "kargo-user:s3cret-pat\n"));
  StartServer();
  std::string apps;
  for (const char* stage : {"test", "uat", "prod"}) {
    // The guide's ApplicationSet, one Application per Stage (in the
    // Project's namespace, where strake's argocd-update looks).
    apps += fmt::format(R"(---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: kargo-demo-{stage}
  namespace: kargo-demo
  annotations: {{kargo.akuity.io/authorized-stage: "kargo-demo:{stage}"}}
spec:
  project: default
  source: {{repoURL: "{url}", targetRevision: stage/{stage}, path: .}}
  destination: {{server: "https://kubernetes.default.svc", namespace: kargo-demo-{stage}}}
  syncPolicy: {{syncOptions: [CreateNamespace=true]}}
)",
                        fmt::arg("stage", stage), fmt::arg("url", url_));
  }
  std::string guide =
      *ReadFile(std::string(STRAKE_SOURCE_DIR) + "/tests/kargo/docs_quickstart.yaml");
  ReplaceAll(guide, "${GITOPS_REPO_URL}", url_);
  ReplaceAll(guide, "${GITHUB_USERNAME}", "kargo-user");
  ReplaceAll(guide, "${GITHUB_PAT}", "s3cret-pat");
  ReplaceAll(guide, "public.ecr.aws/nginx/nginx", image);
  Ran applied = Cli({"apply", "-f", File("quickstart.yaml", guide)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  applied = Cli({"apply", "-f", File("apps.yaml", apps)});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;

  auto freight_with_tag = [&](const std::string& tag) {
    for (const auto& f : FreightIn("kargo-demo"))
      if (f.value("images", Json::array()).size() == 1 && f["images"][0].value("tag", "") == tag)
        return f;
    return Json();
  };
  ASSERT_TRUE(WaitFor([&] { return freight_with_tag("1.29.1").is_object(); }, 30s))
      << Get("warehouse", "kargo-demo", "kargo-demo").dump(2);
  EXPECT_EQ(FreightIn("kargo-demo").size(), 1u);
  const std::string first = freight_with_tag("1.29.1")["metadata"]["name"];
  auto deployed_image = [&](const std::string& stage) {
    Json d = Get("deployment", "kargo-demo", "kargo-demo-" + stage);
    if (!d.is_object()) return std::string();
    return d["spec"]["template"]["spec"]["containers"][0].value("image", "");
  };
  for (const char* stage : {"test", "uat", "prod"}) {
    Ran promoted =
        Cli({"promote", "--stage", stage, "--freight", first, "-n", "kargo-demo", "--wait"});
    ASSERT_EQ(promoted.exit_code, 0) << stage << ": " << promoted.out << promoted.err;
    ASSERT_TRUE(WaitFor([&] { return deployed_image(stage) == image + ":1.29.1"; }, 30s))
        << stage << ": " << Get("application", std::string("kargo-demo-") + stage, "kargo-demo");
  }
  // The task's steps ran under the task step's alias, and the commit the
  // Application synced is the one the task pushed to stage/prod.
  Json promos = Json::parse(Cli({"get", "promotions", "-n", "kargo-demo", "-o", "json"}).out);
  Json prod_promo;
  for (const auto& p : promos["items"])
    if (p["spec"].value("stage", "") == "prod") prod_promo = p;
  ASSERT_TRUE(prod_promo.is_object());
  const Json state = prod_promo["status"]["state"];
  const std::string pushed = state["promo-process::commit"].value("commit", "");
  EXPECT_FALSE(pushed.empty()) << state.dump(2);
  EXPECT_EQ(SyncedRevisionOf("kargo-demo-prod", "kargo-demo"), pushed);
  EXPECT_EQ(state["promo-process::update"].value("commitMessage", ""),
            "Updated ./src/base to use new image\n\n- " + image + ":1.29.1");

  // A new version within the constraint is new Freight; the same bytes
  // under a tag it already knows are not.
  registry.Push("nginx/nginx", "1.29.2", "--content newer");
  registry.Push("nginx/nginx", "1.29.1", "--content new");
  Ran refreshed = Cli({"refresh", "warehouse", "kargo-demo", "-n", "kargo-demo", "--wait"});
  ASSERT_EQ(refreshed.exit_code, 0) << refreshed.out << refreshed.err;
  ASSERT_TRUE(WaitFor([&] { return freight_with_tag("1.29.2").is_object(); }, 30s));
  EXPECT_EQ(FreightIn("kargo-demo").size(), 2u);

  // Without the guide's Secret the push is refused, and says so without
  // the password.
  Ran gone = Cli({"delete", "secret", "kargo-demo-repo", "-n", "kargo-demo"});
  ASSERT_EQ(gone.exit_code, 0) << gone.out << gone.err;
  const std::string second = freight_with_tag("1.29.2")["metadata"]["name"];
  Ran refused =
      Cli({"promote", "--stage", "test", "--freight", second, "-n", "kargo-demo", "--wait"});
  EXPECT_NE(refused.exit_code, 0) << refused.out << refused.err;
  EXPECT_EQ((refused.out + refused.err).find("s3cret"), std::string::npos);
  EXPECT_NE(refused.err.find("step \"promo-process::step-6\""), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("could not read Username"), std::string::npos) << refused.err;
  EXPECT_EQ(deployed_image("test"), image + ":1.29.1");
}

}  // namespace strake::e2e
