// End-to-end: nothing a pipeline says can reach outside its sandbox. Names
// that would become paths out of the data directory are refused before
// anything runs; a step that plants links in a volume, a result or a cache
// output cannot make strake bind, read or copy a host file through them.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "base/cgroup.h"
#include "base/fs.h"
#include "base/strings.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

constexpr const char* kTemplate = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: {name}, namespace: {ns}}}
spec:
  workspaces:
    - name: data
      persistentVolumeClaim: {{claimName: {claim}}}
      subPath: {sub}
  pipelineSpec:
    workspaces: [{{name: data}}]
    tasks:
      - name: t
        workspaces: [{{name: data, workspace: data, subPath: {tasksub}}}]
        taskSpec:
          workspaces: [{{name: data}}]
          steps:
            - script: echo ran > $(workspaces.data.path)/ran
)";

std::string RunYaml(const std::string& name, const std::string& ns, const std::string& claim,
                    const std::string& sub, const std::string& tasksub) {
  return fmt::format(kTemplate, fmt::arg("name", name), fmt::arg("ns", ns),
                     fmt::arg("claim", claim), fmt::arg("sub", sub), fmt::arg("tasksub", tasksub));
}

// Every directory below dir_ that is not the data directory: a name that
// led a path out of it would have made one.
std::vector<std::string> StrayEntries(const std::string& dir, const std::string& data) {
  auto files = ListFilesRecursive(dir);
  std::vector<std::string> out;
  for (const auto& f : files.value_or(std::vector<std::string>{})) {
    std::string full = dir + "/" + f;
    bool test_file = StartsWith(f, ".") || f.find(".yaml") != std::string::npos;
    if (!StartsWith(full, data + "/") && !test_file) out.push_back(f);
  }
  return out;
}

TEST_F(E2E, NamesThatWouldLeaveTheDataDirectoryAreRefusedBeforeAnythingRuns) {
  struct Case {
    std::string name, ns, claim, sub, tasksub, field;
  };
  const std::vector<Case> cases = {
      {"r", "default", "\"../..\"", "a", "b", "persistentVolumeClaim.claimName"},
      {"r", "default", "\"../../../x\"", "a", "b", "persistentVolumeClaim.claimName"},
      {"r", "\"../../x\"", "c", "a", "b", "metadata.namespace"},
      {"r", "\"a/b\"", "c", "a", "b", "metadata.namespace"},
      {"\"a./../../x\"", "default", "c", "a", "b", "metadata.name"},
      {"r", "default", "c", "\"../../..\"", "b", "spec.workspaces[0].subPath"},
      {"r", "default", "c", "\"/etc\"", "b", "spec.workspaces[0].subPath"},
      {"r", "default", "c", "a", "\"../../../..\"", "tasks[0].workspaces[0].subPath"},
      {"r", "default", "c", "a", "\"x\\u0000y\"", "tasks[0].workspaces[0].subPath"},
      {"r", "default", std::string(300, 'c'), "a", "b", "claimName"},
  };
  for (const auto& c : cases) {
    auto f = File("bad.yaml", RunYaml(c.name, c.ns, c.claim, c.sub, c.tasksub));
    Ran r = Strake({"run", "-f", f});
    EXPECT_NE(r.exit_code, 0) << c.field;
    EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << c.field << ":\n" << r.err;
  }
  EXPECT_TRUE(TaskRuns().empty()) << "nothing ran";
  EXPECT_EQ(StrayEntries(dir_, data_), std::vector<std::string>{});
}

TEST_F(E2E, LinksAStepPlantsInAVolumeNeverLeadTheNextRunOut) {
  // The first run plants links in a PersistentVolumeClaim, which outlives it.
  auto plant = File("plant.yaml", RunYaml("plant", "default", "cache", "\"\"", "\"\""));
  std::string yaml = *ReadFile(plant);
  yaml.replace(yaml.find("echo ran > $(workspaces.data.path)/ran"), 39,
               "cd $(workspaces.data.path) && ln -s ../../.. up && ln -s " + data_ +
                   " abs && ln -s / root && mkdir -p d && ln -s ../../../.. d/deep");
  Json pr = RunJson(File("plant.yaml", yaml));
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  // Each later run names a link as its subPath: the TaskRun fails, and no
  // step ever sees the data directory or the host root writable.
  int n = 0;
  for (const std::string sub : {"up", "abs", "root", "d/deep", "d/deep/x"}) {  // NOLINT
    for (bool task_level : {false, true}) {
      std::string name = fmt::format("follow-{}", n++);
      auto f =
          File("follow.yaml", RunYaml(name, "default", "cache", task_level ? "\"\"" : Quote(sub),
                                      task_level ? Quote(sub) : "\"\""));
      Json run = RunJson(f);
      EXPECT_EQ(Reason(run), "Failed") << sub << " " << run.dump(2);
      std::string messages;
      for (const auto& tr : TaskRuns()) {
        if (StartsWith(tr["metadata"].value("name", ""), name + "-")) messages += tr.dump();
      }
      EXPECT_NE(messages.find("leads out of the directory"), std::string::npos)
          << sub << " " << messages;
      EXPECT_FALSE(PathExists(data_ + "/ran")) << "a step wrote into the data directory";
      EXPECT_FALSE(PathExists("/ran"));
    }
  }
}

TEST_F(E2E, AStepCannotOpenTheDataDirectoryByAnyPathItCanConstruct) {
  auto f = File("probe.yaml", fmt::format(R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: probe}}
spec:
  workspaces: [{{name: ws, persistentVolumeClaim: {{claimName: probe}}}}]
  pipelineSpec:
    workspaces: [{{name: ws}}]
    tasks:
      - name: probe
        workspaces: [{{name: ws}}]
        taskSpec:
          workspaces: [{{name: ws}}]
          results: [{{name: seen}}]
          steps:
            - env: [{{name: DATA, value: "{data}"}}]
              script: |
                seen=""
                for p in "$DATA/strake.db" "$DATA/../$(basename "$DATA")/strake.db" \
                         /proc/1/root"$DATA"/strake.db /proc/self/root"$DATA"/strake.db \
                         /proc/self/cwd/../../../../../../"$DATA"/strake.db \
                         $(workspaces.ws.path)/../../../strake.db \
                         $(workspaces.ws.path)/../../../../strake.db \
                         /workspace/../"$DATA"/strake.db /tekton/../"$DATA"/strake.db; do
                  head -c 16 "$p" 2>/dev/null | grep -q SQLite && seen="$seen $p"
                done
                find / -xdev -name strake.db 2>/dev/null | grep -q . && seen="$seen find"
                printf 'none%s' "$seen" > $(results.seen.path)
)Y",
                                          fmt::arg("data", data_)));
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(trs[0]["status"]["results"][0]["value"], "none");
}

TEST_F(E2E, AResultThatIsALinkOrAFifoIsRefusedNotRead) {
  ASSERT_TRUE(MakeDirs(data_));
  ASSERT_TRUE(WriteFile(data_ + "/secret.txt", "TOPSECRET"));
  const std::vector<std::string> makes = {"ln -s " + data_ + "/secret.txt $(results.r.path)",
                                          "ln -s /etc/passwd $(results.r.path)",
                                          "mkfifo $(results.r.path)"};
  for (const std::string& make : makes) {
    auto f = File("leak.yaml", fmt::format(R"Y(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{generateName: leak-}}
spec:
  taskSpec:
    results: [{{name: r}}]
    steps:
      - script: {}
)Y",
                                           Quote(make)));
    Ran r = Strake({"run", "-f", f, "-o", "json"}, std::chrono::seconds(30));
    EXPECT_EQ(r.out.find("TOPSECRET"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("root:"), std::string::npos) << r.out;
    Json tr = Json::parse(r.out, nullptr, false);
    ASSERT_TRUE(tr.is_object()) << make << ": " << r.out << r.err;
    EXPECT_EQ(Reason(tr), "Failed") << make << ": " << tr.dump(2);
  }
}

TEST_F(E2E, ACacheOutputThatLinksOutIsNotCopiedIntoTheCache) {
  ASSERT_TRUE(MakeDirs(data_));
  ASSERT_TRUE(WriteFile(data_ + "/secret.txt", "TOPSECRET"));
  auto f = File("cache.yaml", fmt::format(R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{generateName: c-}}
spec:
  workspaces: [{{name: ws, emptyDir: {{}}}}]
  pipelineSpec:
    workspaces: [{{name: ws}}]
    tasks:
      - name: t
        workspaces: [{{name: ws}}]
        taskSpec:
          workspaces: [{{name: ws}}]
          cache: {{outputs: ["ws:out/secret.txt", "ws:dir"]}}
          steps:
            - script: |
                ln -s {data} $(workspaces.ws.path)/out
                mkdir $(workspaces.ws.path)/dir && ln -s {data}/secret.txt $(workspaces.ws.path)/dir/s
)Y",
                                          fmt::arg("data", data_)));
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  // Nothing of the data directory's content is in the cache.
  auto cached = ListFilesRecursive(data_ + "/cache");
  for (const auto& file : cached.value_or(std::vector<std::string>{})) {
    auto text = ReadFile(data_ + "/cache/" + file, 1 << 20);
    EXPECT_FALSE(text && text->find("TOPSECRET") != std::string::npos) << file;
  }
}

}  // namespace
}  // namespace strake::e2e

namespace strake::e2e {
namespace {

// What a command from git sees when `strake serve` runs it: the report it
// prints is read back from its log.
constexpr const char* kProbeScript =
    "r=report:; ls \"$DATA\" 2>/dev/null | grep -q strake.db && r=\"$r sees-data\"; "
    "head -c 16 \"$DATA/strake.db\" 2>/dev/null | grep -q SQLite && r=\"$r reads-db\"; "
    "touch /usr/strake-escape 2>/dev/null && r=\"$r usr-writable\"; "
    "[ $$ -lt 10 ] && r=\"$r own-pid-ns\"; echo \"$r.\"";

std::string ReportIn(const std::string& root) {
  for (const auto& f : ListFilesRecursive(root).value_or(std::vector<std::string>{})) {
    auto text = ReadFile(root + "/" + f, 1 << 20).value_or("");
    auto at = text.find("report:");
    if (at != std::string::npos) return text.substr(at, text.find('.', at) - at);
  }
  return "<no report>";
}

TEST_F(ServerE2E, JobsAndWorkloadsFromGitRunSandboxedAsStepsDo) {
  StartServer();
  Ran r =
      Cli({"apply", "-f",
           File("probe.yaml",
                fmt::format(R"(apiVersion: batch/v1
kind: Job
metadata: {{name: probe}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: probe
        command: [sh, -c, {script}]
        env: [{{name: DATA, value: "{data}"}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: probe}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: probe}}}}
  template:
    metadata: {{labels: {{app: probe}}}}
    spec:
      containers:
      - name: probe
        command: [sh, -c, {loop}]
        env: [{{name: DATA, value: "{data}"}}]
)",
                            fmt::arg("script", Quote(kProbeScript)),
                            fmt::arg("loop", Quote(std::string(kProbeScript) + "; exec sleep 60")),
                            fmt::arg("data", data_)))});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitFor([&] { return ReportIn(data_ + "/logs/jobs") != "<no report>"; },
                      std::chrono::seconds(30)));
  EXPECT_EQ(ReportIn(data_ + "/logs/jobs"), "report: own-pid-ns");
  ASSERT_TRUE(WaitFor([&] { return ReportIn(data_ + "/runtime") != "<no report>"; },
                      std::chrono::seconds(30)));
  EXPECT_EQ(ReportIn(data_ + "/runtime"), "report: own-pid-ns");
  EXPECT_FALSE(PathExists("/usr/strake-escape"));
  // Both are processes that `get pods` lists: the Job's attempt, its
  // Pod's name as the downward API gives it, and the replica.
  auto phases = [&] {
    Json list = Json::parse(Cli({"get", "pods", "-o", "json"}).out, nullptr, false);
    std::map<std::string, std::string> out;
    if (!list.is_object()) return out;
    for (const Json& pod : list["items"]) {
      std::string name = pod["metadata"].value("name", "");
      out[name != "probe-0" && StartsWith(name, "probe-") ? "replica" : name] =
          pod["status"].value("phase", "");
    }
    return out;
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        auto p = phases();
        return p["probe-0"] == "Succeeded" && p["replica"] == "Running";
      },
      std::chrono::seconds(30)))
      << Cli({"get", "pods", "-o", "wide"}).out;
}

}  // namespace
}  // namespace strake::e2e

namespace strake::e2e {
namespace {

// GET ...?watch=true streams the changes of one kind as they happen, woken
// by the store's change feed.
TEST_F(ServerE2E, AWatchStreamsTheChangesOfItsKindAsTheyHappen) {
  StartServer();
  std::string collection = server_ + "/api/v1/namespaces/default/configmaps";
  std::string auth = Auth()[0].first + ": " + Auth()[0].second;
  // From the list's resourceVersion, as a Kubernetes client watches: the
  // changes after it stream however late the watch connects (a busy
  // machine may start curl after the apply below).
  auto list = File("list.json", "");
  ASSERT_EQ(std::system(fmt::format("curl -s -H '{}' '{}' > {}", auth, collection, list).c_str()),
            0);
  Json listed = Json::parse(ReadFile(list).value_or(""), nullptr, false);
  ASSERT_TRUE(listed.is_object()) << ReadFile(list).value_or("");
  std::string rv = listed["metadata"].value("resourceVersion", "");
  ASSERT_FALSE(rv.empty());
  std::string url = collection + "?watch=true&resourceVersion=" + rv;
  auto out = File("watch.out", "");
  std::string cmd = fmt::format("curl -sN --max-time 15 -H '{}' '{}' > {} 2>&1 &", auth, url, out);
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Ran r = Cli({"apply", "-f", File("cm.yaml", R"(apiVersion: v1
kind: ConfigMap
metadata: {name: watched}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: unwatched}
stringData: {a: "1"}
)")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(out).value_or("").find("watched") != std::string::npos; },
              std::chrono::seconds(12)))
      << ReadFile(out).value_or("");
  std::string text = ReadFile(out).value_or("");
  EXPECT_NE(text.find("\"type\":\"ADDED\""), std::string::npos) << text;
  EXPECT_EQ(text.find("unwatched"), std::string::npos) << "another kind's change: " << text;
}

}  // namespace
}  // namespace strake::e2e

namespace strake::e2e {
namespace {

// A Secret a step prints, in any form, never reaches the log.
TEST_F(E2E, SecretsAreMaskedInStepLogsInEveryForm) {
  auto f = File("masked.yaml", R"Y(apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: "hunter2-is-a-password/x", pin: "42"}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: leaky}
spec:
  taskSpec:
    steps:
      - name: leak
        env:
          - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
          - {name: PIN, valueFrom: {secretKeyRef: {name: creds, key: pin}}}
        script: |
          echo "raw $TOKEN"
          printf 'b64 %s\n' "$(printf 'xy%s' "$TOKEN" | base64 -w0)"
          echo "url hunter2-is-a-password%2Fx"
          printf 'split hunter2-is'; sleep 0.3; printf -- '-a-password/x\n'
          echo "stderr $TOKEN" >&2
          echo "pin $PIN"
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string logs;
  for (const auto& file :
       ListFilesRecursive(data_ + "/logs").value_or(std::vector<std::string>{})) {
    logs += ReadFile(data_ + "/logs/" + file, 1 << 20).value_or("");
  }
  EXPECT_EQ(logs.find("hunter2"), std::string::npos) << logs;
  EXPECT_EQ(logs.find("password"), std::string::npos) << logs;
  auto b64 = logs.find("b64 ");
  ASSERT_NE(b64, std::string::npos) << logs;
  EXPECT_NE(logs.substr(b64, logs.find('\n', b64) - b64).find("***"), std::string::npos) << logs;
  for (const char* line : {"raw ***", "url ***", "split ***", "stderr ***"}) {
    EXPECT_NE(logs.find(line), std::string::npos) << line << " in:\n" << logs;
  }
  EXPECT_NE(logs.find("env PIN (Secret creds key pin) is shorter than 8 characters and cannot "
                      "be masked"),
            std::string::npos)
      << logs;
}

// A step that writes a Secret into a result: the value is masked in the
// result wherever it goes (the TaskRun, the run's results, a later task's
// params), as in the step's log.
TEST_F(E2E, ASecretAStepWritesToAResultIsMaskedWhereverTheResultGoes) {
  auto f = File("result.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: passes}
spec:
  pipelineSpec:
    results: [{name: token, value: $(tasks.read.results.token)}]
    tasks:
      - name: read
        taskSpec:
          results: [{name: token}]
          steps:
            - env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}]
              script: printf 'token=%s' "$TOKEN" > $(results.token.path)
      - name: use
        params: [{name: got, value: $(tasks.read.results.token)}]
        taskSpec:
          params: [{name: got}]
          steps: [{script: "true"}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: "hunter2-is-a-password"}
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("token=***"), std::string::npos) << r.out;
  Ran trs = Strake({"get", "taskruns", "-o", "json"});
  ASSERT_EQ(trs.exit_code, 0) << trs.out << trs.err;
  EXPECT_EQ(trs.out.find("hunter2"), std::string::npos) << trs.out;
  EXPECT_NE(trs.out.find("token=***"), std::string::npos) << trs.out;
}

}  // namespace
}  // namespace strake::e2e

namespace strake::e2e {
namespace {

// Whether this machine lets strake apply limits (base/cgroup.h); the tests
// below check the limits where it does and the notice saying they are not
// applied where it does not.
std::string CgroupsUnavailable() {
  auto c = Cgroups::Open("e2e-probe-" + std::to_string(::getpid()));
  return c ? "" : c.error().message;
}

// A step's computeResources hold: inside its own cgroup, a step within its
// memory limit runs, one over it is killed and reported OOMKilled, as a
// kubelet reports it; the stepTemplate's limits reach the steps.
TEST_F(E2E, AStepOverItsMemoryLimitIsOomKilled) {
  const std::string unavailable = CgroupsUnavailable();
  auto f = File("hog.yaml", R"(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: hog}
spec:
  taskSpec:
    stepTemplate:
      computeResources: {limits: {cpu: 500m}}
    steps:
      - name: small
        computeResources: {limits: {memory: 32Mi}}
        script: |
          #!/bin/sh
          grep -c strake- /proc/self/cgroup
          x=$(head -c 1000000 /dev/zero | tr '\0' a); echo "held ${#x}"
          n=$(for f in /proc/$$/fd/*; do readlink $f; done | grep -c cgroup)
          echo "cgroup fds: $n"
      - name: hog
        computeResources: {limits: {memory: 32Mi}}
        script: |
          #!/bin/sh
          x=$(head -c 100000000 /dev/zero | tr '\0' a); echo "held ${#x}"
)");
  Ran r = Strake({"run", "-f", f});
  auto runs = TaskRuns();
  ASSERT_EQ(runs.size(), 1u) << r.err;
  const Json& steps = runs[0]["status"]["steps"];
  ASSERT_EQ(steps.size(), 2u) << runs[0].dump(2);
  std::string small_log = ReadFile(steps[0].value("log", "")).value_or("");
  EXPECT_NE(small_log.find("held 1000000"), std::string::npos) << small_log;
  // No step keeps a descriptor of any cgroup (it could move itself there).
  EXPECT_NE(small_log.find("cgroup fds: 0"), std::string::npos) << small_log;
  if (!unavailable.empty()) {
    // Not silently dropped: each limited step's log says why they do not hold.
    EXPECT_NE(small_log.find("computeResources are not applied"), std::string::npos) << small_log;
    GTEST_SKIP() << "limits are not applied on this machine: " << unavailable;
  }
  // cpu (the template's) and memory: both hierarchies on v1, one on v2.
  EXPECT_EQ(small_log.find("not applied"), std::string::npos) << small_log;
  EXPECT_TRUE(StartsWith(small_log, "1\n") || StartsWith(small_log, "2\n")) << small_log;
  EXPECT_EQ(steps[0]["terminated"].value("reason", ""), "Completed");
  EXPECT_EQ(steps[1]["terminated"].value("reason", ""), "OOMKilled") << steps[1].dump(2);
  EXPECT_NE(r.err.find("(OOMKilled)"), std::string::npos) << r.err;
}

// A TaskRun's own computeResources hold for all its steps (each inside the
// TaskRun's cgroup), and stepSpecs replace a step's; a stepSpecs entry that
// names no step fails the TaskRun before anything runs.
TEST_F(E2E, ATaskRunsComputeResourcesAndStepSpecsHold) {
  const std::string unavailable = CgroupsUnavailable();
  if (!unavailable.empty()) GTEST_SKIP() << "limits are not applied here: " << unavailable;
  const std::string hog = R"(
    steps:
      - name: show
        script: |
          #!/bin/sh
          cat /proc/self/cgroup
      - name: hog
        script: |
          #!/bin/sh
          x=$(head -c 100000000 /dev/zero | tr '\0' a); echo "held ${#x}"
)";
  auto whole = File("whole.yaml",
                    "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: "
                    "whole}\nspec:\n  computeResources: {limits: {memory: 48Mi}}\n"
                    "  taskSpec:" +
                        hog);
  Ran r = Strake({"run", "-f", whole});
  EXPECT_NE(r.err.find("\"step-hog\" exited with code 137 (OOMKilled)"), std::string::npos)
      << r.err;
  auto by_step = File("bystep.yaml",
                      "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: bystep}\nspec:\n"
                      "  stepSpecs:\n  - {name: hog, computeResources: {limits: {memory: 32Mi}}}\n"
                      "  taskSpec:" +
                          hog);
  r = Strake({"run", "-f", by_step});
  EXPECT_NE(r.err.find("(OOMKilled)"), std::string::npos) << r.err;
  auto runs = TaskRuns();
  ASSERT_EQ(runs.size(), 2u);
  for (const Json& tr : runs) {
    const Json& steps = tr["status"]["steps"];
    ASSERT_EQ(steps.size(), 2u) << tr.dump(2);
    std::string shown = ReadFile(steps[0].value("log", "")).value_or("");
    // The TaskRun's own limits are every step's (Tekton's rule): the step
    // with none of its own runs in a cgroup of its own only then.
    const std::string uid = tr["metadata"].value("uid", "");
    bool limited = shown.find("-tr-" + uid + "-") != std::string::npos;
    EXPECT_EQ(limited, tr["metadata"].value("name", "").find("whole") == 0) << shown;
    EXPECT_EQ(steps[1]["terminated"].value("reason", ""), "OOMKilled") << tr.dump(2);
  }
  auto missing = File("missing.yaml",
                      "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: missing}\n"
                      "spec:\n  stepSpecs:\n  - {name: nosuch, computeResources: {limits: {cpu: "
                      "\"1\"}}}\n  taskSpec:" +
                          hog);
  r = Strake({"run", "-f", missing});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("stepSpecs: the task has no step named \"nosuch\""), std::string::npos)
      << r.err;
}

// A Job's container over its resources.limits.memory fails its attempt as
// OOMKilled, and the Job says so.
TEST_F(ServerE2E, AJobOverItsMemoryLimitFailsOomKilled) {
  const std::string unavailable = CgroupsUnavailable();
  if (!unavailable.empty()) GTEST_SKIP() << "limits are not applied here: " << unavailable;
  StartServer();
  Ran r = Cli({"apply", "-f", File("job.yaml", R"(apiVersion: batch/v1
kind: Job
metadata: {name: hog}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: hog
        command: [sh, -c, "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}"]
        resources: {limits: {memory: 32Mi, cpu: "1"}}
)")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string message;
  EXPECT_TRUE(WaitFor(
      [&] {
        Json job = Json::parse(Cli({"get", "job", "hog", "-o", "json"}).out, nullptr, false);
        if (!job.is_object()) return false;
        for (const Json& c : job["status"].value("conditions", Json::array())) {
          if (c.value("type", "") == "Failed") message = c.value("message", "");
        }
        return !message.empty();
      },
      std::chrono::seconds(30)));
  EXPECT_NE(message.find("OOMKilled"), std::string::npos) << message;
}

}  // namespace
}  // namespace strake::e2e
