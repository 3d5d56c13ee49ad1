// End-to-end: cancellation, crash and resume, bad input, volumes and the CLI views.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "base/fs.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

const char* kLong = R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: long}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskSpec: {steps: [{image: busybox, script: "echo started; sleep 60"}]}
      - name: second
        runAfter: [first]
        taskSpec: {steps: [{image: busybox, script: "true"}]}
    finally:
      - name: cleanup
        taskSpec: {steps: [{image: busybox, script: "echo cleaning"}]}
)Y";

bool TaskRunning(E2E& t, const std::string& task) {
  for (const auto& tr : t.TaskRuns()) {
    if (tr["metadata"]["labels"].value("tekton.dev/pipelineTask", "") == task &&
        Reason(tr) == "Running") {
      return true;
    }
  }
  return false;
}

TEST_F(E2E, CancelStopsRunningTasksAndSkipsFinally) {
  auto f = File("p.yaml", kLong);
  int pid = StartStrake({"run", "-f", f});
  ASSERT_TRUE(WaitFor([&] { return TaskRunning(*this, "first"); }, std::chrono::seconds(10)))
      << ReadFile(dir_ + "/.bg").value_or("");
  Ran c = Strake({"cancel", "long"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(ReapWithin(pid, std::chrono::seconds(10)), 1);
  Ran pr = Strake({"get", "pipelinerun", "long", "-o", "json"});
  Json j = Json::parse(pr.out);
  EXPECT_EQ(Reason(j), "Cancelled");
  for (const auto& tr : TaskRuns()) {
    EXPECT_EQ(Reason(tr), "TaskRunCancelled");
  }
  bool cleanup_skipped = false;
  for (const auto& s : j["status"]["skippedTasks"]) cleanup_skipped |= s["name"] == "cleanup";
  EXPECT_TRUE(cleanup_skipped);
}

TEST_F(E2E, CancelledRunFinallyRunsFinally) {
  auto f = File("p.yaml", kLong);
  int pid = StartStrake({"run", "-f", f});
  ASSERT_TRUE(WaitFor([&] { return TaskRunning(*this, "first"); }, std::chrono::seconds(10)))
      << ReadFile(dir_ + "/.bg").value_or("");
  ASSERT_EQ(Strake({"cancel", "long", "--mode", "CancelledRunFinally"}).exit_code, 0);
  EXPECT_EQ(ReapWithin(pid, std::chrono::seconds(10)), 1);
  Json j = Json::parse(Strake({"get", "pipelinerun", "long", "-o", "json"}).out);
  EXPECT_EQ(Reason(j), "Cancelled");
  EXPECT_EQ(Strake({"logs", "long", "--task", "cleanup"}).out, "[cleanup : unnamed-0] cleaning\n");
}

TEST_F(E2E, InterruptCancels) {
  auto f = File("p.yaml", kLong);
  int pid = StartStrake({"run", "-f", f});
  ASSERT_TRUE(WaitFor([&] { return TaskRunning(*this, "first"); }, std::chrono::seconds(10)))
      << ReadFile(dir_ + "/.bg").value_or("");
  ::kill(pid, SIGINT);
  EXPECT_EQ(ReapWithin(pid, std::chrono::seconds(10)), 1);
  EXPECT_EQ(Reason(Json::parse(Strake({"get", "pipelinerun", "long", "-o", "json"}).out)),
            "Cancelled");
}

// Ctrl-C twice (a user in a hurry): still Cancelled, processes gone, never
// left Running.
TEST_F(E2E, InterruptTwiceStillEndsCancelledWithItsProcessesGone) {
  std::string pidfile = dir_ + "/sleep.pid";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: hurried}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskSpec:
          steps:
            - image: busybox
              script: |
                sleep 120 &
                echo $! > )Y" +
                              pidfile + R"Y(
                wait
)Y");
  int pid = StartStrake({"run", "--no-sandbox", "-f", f});  // host pids
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(pidfile).value_or("").find('\n') != std::string::npos; },
              std::chrono::seconds(20)))
      << ReadFile(dir_ + "/.bg").value_or("");
  int sleeper = std::atoi(ReadFile(pidfile).value_or("0").c_str());
  ::kill(pid, SIGINT);
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);
  EXPECT_EQ(ReapWithin(pid, std::chrono::seconds(20)), 1) << ReadFile(dir_ + "/.bg").value_or("");
  EXPECT_EQ(Reason(Json::parse(Strake({"get", "pipelinerun", "hurried", "-o", "json"}).out)),
            "Cancelled");
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(sleeper); }, std::chrono::seconds(5)))
      << "the step's process outlived the run";
}

// After kill -9 of `strake run`, nothing would ever end its run: `strake
// cancel` does, its left-over processes killed; and while a process runs a
// run, a second one cannot resume it.
TEST_F(E2E, CancelEndsARunWhoseProcessDiedAndAResumeOfALiveRunIsRefused) {
  std::string pidfile = dir_ + "/sleep.pid";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: orphaned}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskSpec:
          steps:
            - image: busybox
              script: |
                sleep 120 &
                echo $! > )Y" +
                              pidfile + R"Y(
                wait
)Y");
  int pid = StartStrake({"run", "--no-sandbox", "-f", f});  // host pids
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(pidfile).value_or("").find('\n') != std::string::npos; },
              std::chrono::seconds(20)))
      << ReadFile(dir_ + "/.bg").value_or("");
  Ran deleted = Strake({"delete", "pr", "orphaned"});
  EXPECT_EQ(deleted.exit_code, 2);
  EXPECT_NE(deleted.err.find("is being run by a strake process"), std::string::npos) << deleted.err;
  Ran second = Strake({"run", "--no-sandbox", "--resume", "orphaned"});
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("pipelinerun orphaned is being run by another strake process"),
            std::string::npos)
      << second.err;
  ::kill(pid, SIGKILL);
  ReapWithin(pid, std::chrono::seconds(5));
  int orphan = std::atoi(ReadFile(pidfile).value_or("0").c_str());
  ASSERT_GT(orphan, 0);
  EXPECT_TRUE(PidAlive(orphan)) << "the step outlived strake, as after a real crash";
  EXPECT_EQ(Reason(Json::parse(Strake({"get", "pipelinerun", "orphaned", "-o", "json"}).out)),
            "Running");

  Ran c = Strake({"cancel", "orphaned"});
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("no strake process runs it any more: ending it here"), std::string::npos)
      << c.out;
  EXPECT_EQ(Reason(Json::parse(Strake({"get", "pipelinerun", "orphaned", "-o", "json"}).out)),
            "Cancelled");
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(orphan); }, std::chrono::seconds(5)))
      << "the left-over step is killed";
}

// A run started --no-sandbox and orphaned by kill -9 is ended by `strake
// cancel --mode CancelledRunFinally` the way it was started: its finally
// task runs on the host (it writes beside the test's files, which a
// sandbox's read-only root refuses), not in the sandbox a plain resume uses.
TEST_F(E2E, AnOrphanedRunsFinallyRunsTheWayTheRunWasStarted) {
  std::string pidfile = dir_ + "/sleep.pid";
  std::string marker = dir_ + "/finally-ran";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: unsandboxed}
spec:
  params: [{name: pidfile, value: ")Y" +
                              pidfile + R"Y("}, {name: marker, value: ")Y" + marker +
                              R"Y("}]
  pipelineSpec:
    params: [{name: pidfile}, {name: marker}]
    tasks:
      - name: first
        params: [{name: pidfile, value: $(params.pidfile)}]
        taskSpec:
          params: [{name: pidfile}]
          steps:
            - image: busybox
              env: [{name: PIDFILE, value: $(params.pidfile)}]
              script: |
                sleep 120 &
                echo $! > "$PIDFILE"
                wait
    finally:
      - name: cleanup
        params: [{name: marker, value: $(params.marker)}]
        taskSpec:
          params: [{name: marker}]
          steps:
            - image: busybox
              env: [{name: MARKER, value: $(params.marker)}]
              script: echo cleaned > "$MARKER"
)Y");
  int pid = StartStrake({"run", "--no-sandbox", "-f", f});
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(pidfile).value_or("").find('\n') != std::string::npos; },
              std::chrono::seconds(20)))
      << ReadFile(dir_ + "/.bg").value_or("");
  ::kill(pid, SIGKILL);
  ReapWithin(pid, std::chrono::seconds(5));
  Ran c = Strake({"cancel", "unsandboxed", "--mode", "CancelledRunFinally"});
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  Json j = Json::parse(Strake({"get", "pipelinerun", "unsandboxed", "-o", "json"}).out);
  EXPECT_EQ(Reason(j), "Cancelled") << j.dump(2);
  EXPECT_EQ(ReadFile(marker).value_or(""), "cleaned\n")
      << Strake({"logs", "unsandboxed", "--task", "cleanup"}).out;
}

// Bytes that are not UTF-8 (a keystore, an image) in a Secret's data and a
// ConfigMap's binaryData reach a step's volumes unchanged; the run carries
// them (and masks the Secret's) without failing on JSON's UTF-8.
TEST_F(E2E, BinarySecretsAndConfigMapsReachTheirVolumes) {
  auto f = File("p.yaml", R"Y(apiVersion: v1
kind: Secret
metadata: {name: keystore}
data: {key.p12: iVBORw0KGgo=}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: assets}
data: {name: logo}
binaryData: {logo.png: iVBORw0KGgo=}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: binary}
spec:
  pipelineSpec:
    tasks:
    - name: t
      taskSpec:
        volumes:
        - {name: s, secret: {secretName: keystore}}
        - {name: c, configMap: {name: assets}}
        steps:
        - image: busybox
          volumeMounts: [{name: s, mountPath: /etc/keystore}, {name: c, mountPath: /etc/assets}]
          script: |
            od -An -tx1 /etc/keystore/key.p12
            od -An -tx1 /etc/assets/logo.png
            cat /etc/assets/name
)Y");
  Json j = RunJson(f);
  ASSERT_EQ(Reason(j), "Succeeded") << j.dump(2);
  std::string logs = Strake({"logs", "binary"}).out;
  EXPECT_EQ(logs,
            "[t : unnamed-0]  89 50 4e 47 0d 0a 1a 0a\n"
            "[t : unnamed-0]  89 50 4e 47 0d 0a 1a 0a\n"
            "[t : unnamed-0] logo\n")
      << logs;
}

TEST_F(E2E, KillNineThenResumeFinishesWithoutRerunningFinishedTasks) {
  // Counts in a PVC workspace, which outlives the process, how often each task ran.
  std::string pidfile = dir_ + "/sleep.pid";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: crashy}
spec:
  workspaces: [{name: ws, persistentVolumeClaim: {claimName: crashy-data}}]
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
      - name: early
        workspaces: [{name: w, workspace: ws}]
        taskSpec:
          workspaces: [{name: w}]
          results: [{name: token}]
          steps: [{image: busybox, script: "echo x >> $(workspaces.w.path)/early; printf tok > $(results.token.path)"}]
      - name: slow
        runAfter: [early]
        params: [{name: token, value: "$(tasks.early.results.token)"}]
        workspaces: [{name: w, workspace: ws}]
        taskSpec:
          params: [{name: token}]
          workspaces: [{name: w}]
          steps:
            - image: busybox
              script: |
                echo x >> $(workspaces.w.path)/slow
                if [ "$(wc -l < $(workspaces.w.path)/slow)" -ge 2 ]; then exit 0; fi
                sleep 120 &
                echo $! > )Y" +
                              pidfile + R"Y(
                wait
      - name: last
        runAfter: [slow]
        params: [{name: token, value: "$(tasks.early.results.token)"}]
        taskSpec:
          params: [{name: token}]
          results: [{name: seen}]
          steps: [{image: busybox, script: "printf '$(params.token)' > $(results.seen.path)"}]
)Y");
  int pid = StartStrake({"run", "--no-sandbox", "-f", f});
  ASSERT_TRUE(WaitFor([&] { return PathExists(pidfile); }, std::chrono::seconds(10)));
  ::kill(pid, SIGKILL);
  ReapWithin(pid, std::chrono::seconds(5));
  int orphan = std::stoi(ReadFile(pidfile).value_or("0"));
  EXPECT_TRUE(PidAlive(orphan)) << "the step outlived strake, as after a real crash";
  EXPECT_TRUE(TaskRunning(*this, "slow")) << "the store says Running after the crash";

  Ran r = Strake({"run", "--no-sandbox", "--resume", "crashy", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json pr = Json::parse(r.out);
  EXPECT_EQ(Reason(pr), "Succeeded");
  EXPECT_EQ(pr["status"]["results"].size(), 0u);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(orphan); }, std::chrono::seconds(5)))
      << "orphan killed";
  std::string vol = data_ + "/volumes/default/crashy-data";
  EXPECT_EQ(ReadFile(vol + "/early").value_or(""), "x\n") << "finished tasks are not re-run";
  EXPECT_EQ(ReadFile(vol + "/slow").value_or(""), "x\nx\n") << "the running task is re-run";
  for (const auto& tr : TaskRuns()) {
    if (tr["metadata"]["labels"]["tekton.dev/pipelineTask"] == "last") {
      EXPECT_EQ(tr["status"]["results"][0]["value"], "tok") << "results survive the crash";
    }
  }
  // A finished run resumes to its final state at once.
  EXPECT_EQ(Strake({"run", "--resume", "crashy"}).exit_code, 0);
}

// A run started with images marked to run on the host keeps the marks when
// resumed without them (`strake cancel` resumes an orphaned run with no
// flags): the rest of the run pulls nothing (this test's registry does not
// exist).
TEST_F(E2E, AResumedRunKeepsItsImagesMarkedToRunOnTheHost) {
  if (!PathExists("/usr/bin/bwrap")) GTEST_SKIP() << "bubblewrap is not installed";
  run_on_host_.clear();
  auto f = File("marked.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: marked}
spec:
  workspaces: [{name: ws, persistentVolumeClaim: {claimName: marked-data}}]
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
      - name: first
        workspaces: [{name: w, workspace: ws}]
        taskSpec:
          workspaces: [{name: w}]
          steps:
            - image: registry.invalid/tools/sh:1
              script: |
                #!/bin/sh
                if [ -e $(workspaces.w.path)/ran ]; then exit 0; fi
                touch $(workspaces.w.path)/ran
                sleep 120
      - name: second
        runAfter: [first]
        taskSpec:
          steps: [{image: "registry.invalid/tools/sh:1", script: "echo second"}]
)Y");
  int pid = StartStrake({"run", "-f", f, "--run-on-host", "registry.invalid/**"});
  const std::string ran = data_ + "/volumes/default/marked-data/ran";
  ASSERT_TRUE(WaitFor([&] { return PathExists(ran); }, std::chrono::seconds(20)))
      << ReadFile(dir_ + "/.bg").value_or("");
  ::kill(pid, SIGKILL);
  ReapWithin(pid, std::chrono::seconds(5));
  Ran r = Strake({"run", "--resume", "marked", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json pr = Json::parse(r.out, nullptr, false);
  EXPECT_EQ(Reason(pr), "Succeeded") << r.out;
  for (const auto& tr : TaskRuns()) {
    EXPECT_EQ(tr["status"]["strake"]["ignoredImages"], Json::array({"registry.invalid/tools/sh:1"}))
        << tr["status"].dump(2);
  }
}

TEST_F(E2E, BadInputIsAClearErrorAndNothingRuns) {
  auto pipeline = File("pipeline.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: demo
spec:
  tasks:
    - name: build
      taskSpec:
        steps: [{image: busybox, script: "true"}]
    - name: test
      runAfter: [build]
      taskSpec:
        steps: [{image: busybox, script: "true"}]
    - name: deploy
      runAfter:
        - biuld
      taskSpec:
        steps: [{image: busybox, scrpit: "true"}]
)Y");
  Ran r = Strake({"run", "-f", pipeline});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(pipeline + ":18:34: spec.tasks[2].taskSpec.steps[0].scrpit: unknown field "
                                  "\"scrpit\" (did you mean \"script\"?)"),
            std::string::npos)
      << r.err;
  Ran v = Strake({"validate", "-f", pipeline});
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_TRUE(TaskRuns().empty());

  auto typo = File("typo.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: demo}
spec:
  tasks:
    - {name: build, taskSpec: {steps: [{script: "true"}]}}
    - name: deploy
      runAfter:
        - biuld
      taskSpec: {steps: [{script: "true"}]}
)Y");
  r = Strake({"validate", "-f", typo});
  EXPECT_EQ(
      r.err,
      "strake: invalid input:\n" + typo +
          ":9:11: spec.tasks[1].runAfter[0]: unknown task \"biuld\" (did you mean \"build\"?)\n");

  auto cycle = File("cycle.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: c}
spec:
  tasks:
    - {name: a, runAfter: [c], taskSpec: {steps: [{script: "true"}]}}
    - {name: b, runAfter: [a], taskSpec: {steps: [{script: "true"}]}}
    - {name: c, runAfter: [b], taskSpec: {steps: [{script: "true"}]}}
)Y");
  r = Strake({"validate", "-f", cycle});
  EXPECT_NE(r.err.find("cycle detected: a -> b -> c -> a"), std::string::npos) << r.err;

  std::string bomb =
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: &a "
      "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string("  ") + c + ": &" + c + " [*" + prev + ",*" + prev + ",*" + prev + ",*" +
            prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n";
    prev = std::string(1, c);
  }
  r = Strake({"validate", "-f", File("bomb.yaml", bomb)});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("aliases expand to more than 100000 nodes (YAML alias bomb?)"),
            std::string::npos)
      << r.err;

  r = Strake({"validate", "-f", File("big.yaml", "a: \"" + std::string(9 << 20, 'x') + "\"\n")});
  EXPECT_NE(r.err.find("larger than the limit of 8388608 bytes"), std::string::npos)
      << r.err.substr(0, 300);

  r = Strake({"validate", "-f", File("unsupported.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps:
    - name: s
      image: busybox
      script: "true"
      securityContext: {runAsUser: 1000}
  volumes: [{name: v, hostPath: {path: /etc}}]
)Y")});
  EXPECT_NE(r.err.find("spec.volumes[0].hostPath: not supported: hostPath volumes"),
            std::string::npos)
      << r.err;
  r = Strake({"validate", "-f", File("ignored.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps:
    - {name: a, image: busybox, script: "true", securityContext: {runAsUser: 1000}}
    - {name: b, image: busybox, script: "true", securityContext: {runAsUser: 1000}}
)Y")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err.find("warning"), r.err.rfind("warning")) << "reported once: " << r.err;
  EXPECT_NE(r.err.find("spec.steps[0].securityContext: warning: \"securityContext\" is ignored: it "
                       "only matters on a cluster"),
            std::string::npos)
      << r.err;

  r = Strake({"run", "-f", File("missing.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: needs}
spec:
  params: [{name: version}]
  tasks: [{name: t, taskSpec: {steps: [{script: "true"}]}}]
)Y"),
              "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("missing value for param \\\"version\\\""), std::string::npos) << r.out;
  EXPECT_TRUE(TaskRuns().empty());

  r = Strake({"run", "-f", File("nocmd.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: nocmd}
spec:
  steps: [{name: x, command: [no-such-command-strake]}]
)Y")});
  EXPECT_EQ(r.exit_code, 1);
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_NE(trs[0]["status"]["conditions"][0]["message"].get<std::string>().find(
                "no-such-command-strake: command not found"),
            std::string::npos)
      << trs[0].dump(2);
}

TEST_F(E2E, VolumesConfigMapsSecretsAndSidecars) {
  auto f = File("p.yaml", R"Y(apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, "app.conf": "level=3"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {token: c2VjcmV0LXRva2Vu}
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: uses-everything}
spec:
  workspaces:
    - {name: config, readOnly: true}
    - {name: creds, mountPath: /etc/creds}
    - {name: scratch, optional: true}
  results: [{name: report}]
  volumes:
    - {name: cache, emptyDir: {}}
    - {name: conf, configMap: {name: settings}}
  sidecars:
    - name: server
      image: busybox
      volumeMounts: [{name: cache, mountPath: /cache}]
      script: |
        echo ready > /cache/sidecar
        sleep 60
  steps:
    - name: write
      image: busybox
      volumeMounts: [{name: cache, mountPath: /cache}]
      script: |
        for i in $(seq 50); do [ -f /cache/sidecar ] && break; sleep 0.05; done
        echo shared > /cache/file
    - name: read
      image: busybox
      env:
        - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
        - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
      volumeMounts:
        - {name: cache, mountPath: /cache}
        - {name: conf, mountPath: /etc/app}
      script: |
        touch $(workspaces.config.path)/x 2>/dev/null && echo config-writable
        printf '%s %s %s %s %s %s %s' "$MODE" "$TOKEN" "$(cat /cache/file)" "$(cat /etc/app/app.conf)" \
          "$(cat $(workspaces.config.path)/mode)" "$(cat /etc/creds/token)" "$(cat /cache/sidecar)" > $(results.report.path)
        echo "bound=$(workspaces.scratch.bound)"
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: everything}
spec:
  taskRef: {name: uses-everything}
  workspaces:
    - {name: config, configMap: {name: settings}}
    - {name: creds, secret: {secretName: creds}}
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  // The env and the file both held the Secret's value: the result, which
  // the TaskRun shows, has it masked, as only that exact value would be.
  EXPECT_EQ(trs[0]["status"]["results"][0]["value"], "fast *** shared level=3 fast *** ready");
  Ran logs = Strake({"logs", Json::parse(r.out)["metadata"]["name"]});
  EXPECT_NE(logs.out.find("[uses-everything : read] bound=false"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("config-writable"), std::string::npos);
}

TEST_F(E2E, LoneTaskWithParamsAndCliViews) {
  auto f = File("t.yaml", R"Y(apiVersion: tekton.dev/v1beta1
kind: Task
metadata: {name: greet}
spec:
  params:
    - {name: who, default: world, enum: [world, strake]}
    - {name: tags, type: array, default: []}
  results: [{name: greeting}]
  steps:
    - name: say
      image: busybox
      command: [sh, -c, 'printf "hello %s" "$0" "$@" | tee $(results.greeting.path)']
      args: ["$(params.who)", "$(params.tags[*])"]
)Y");
  Ran r = Strake({"run", "-f", f, "--param", "who=strake", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json pr = Json::parse(r.out);
  std::string name = pr["metadata"]["name"];
  EXPECT_EQ(name.rfind("greet-run-", 0), 0u);
  EXPECT_EQ(pr["status"]["results"][0]["value"], "hello strake");

  r = Strake({"run", "-f", f, "--param", "who=nobody"});
  EXPECT_EQ(r.exit_code, 1);
  auto trs = TaskRuns();
  bool enum_error = false;
  for (const auto& tr : trs) {
    enum_error |= tr["status"]["conditions"][0]["message"].get<std::string>().find(
                      "not one of the allowed values") != std::string::npos;
  }
  EXPECT_TRUE(enum_error);

  Ran get = Strake({"get", "pipelineruns"});
  EXPECT_NE(get.out.find("NAME"), std::string::npos);
  EXPECT_NE(get.out.find(name), std::string::npos);
  EXPECT_NE(get.out.find("Succeeded"), std::string::npos);
  Ran describe = Strake({"describe", "pipelinerun", name});
  EXPECT_NE(describe.out.find("Status:      Succeeded"), std::string::npos) << describe.out;
  EXPECT_NE(describe.out.find(name + "-greet"), std::string::npos);
  Ran logs = Strake({"logs", name, "--step", "say"});
  EXPECT_EQ(logs.out, "[greet : say] hello strake\n");
  Ran tasks = Strake({"get", "tasks"});
  EXPECT_NE(tasks.out.find("greet"), std::string::npos);
  EXPECT_EQ(Strake({"get", "pipelinrun"}).err,
            "strake: unknown kind \"pipelinrun\" (did you mean \"pipelinerun\"?)\n");
  EXPECT_EQ(Strake({"version"}).out.rfind("strake ", 0), 0u);
}

}  // namespace
}  // namespace strake::e2e
