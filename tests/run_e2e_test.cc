// End-to-end: `strake run` on real pipelines, real processes, real SQLite.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "base/fs.h"
#include "e2e_support.h"

namespace strake::e2e {
namespace {

std::string ResultOf(const Json& pr, const std::string& name) {
  for (const auto& r : pr["status"].value("results", Json::array())) {
    if (r.value("name", "") == name)
      return r["value"].is_string() ? r["value"].get<std::string>() : r["value"].dump();
  }
  return "<missing>";
}

Json Skipped(const Json& pr, const std::string& task) {
  for (const auto& s : pr["status"].value("skippedTasks", Json::array())) {
    if (s.value("name", "") == task) return s;
  }
  return Json();
}

TEST_F(E2E, SamplePipelineSucceedsWithResultsAndFinally) {
  Json pr = RunJson(std::string(STRAKE_SOURCE_DIR) + "/examples/hello-pipeline.yaml");
  EXPECT_EQ(Reason(pr), "Succeeded");
  EXPECT_EQ(pr["status"]["childReferences"].size(), 5u);
  EXPECT_EQ(ResultOf(pr, "artifact-url").rfind("file:///artifacts/", 0), 0u);
}

TEST_F(E2E, ParamsOfEveryTypeAndResultsBetweenTasks) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: types}
spec:
  params:
    - {name: flags, value: ["-a", "-b c"]}
    - {name: repo, value: {url: "https://example.com/r.git", branch: main}}
  pipelineSpec:
    params:
      - {name: flags, type: array}
      - name: repo
        type: object
        properties: {url: {type: string}, branch: {type: string}}
      - {name: greeting, default: hello}
    tasks:
      - name: produce
        taskSpec:
          params:
            - {name: flags, type: array}
          results:
            - {name: one}
            - {name: list, type: array}
            - {name: obj, type: object, properties: {k: {type: string}}}
          steps:
            - name: args
              image: busybox
              command: [sh, -c, 'printf "%s|" "$@" > $(results.one.path)', sh]
              args: ["$(params.flags[*])", "$(params.flags[1])"]
            - name: json
              image: busybox
              script: |
                printf '["x","y"]' > $(results.list.path)
                printf '{"k":"v"}' > $(results.obj.path)
        params:
          - {name: flags, value: ["$(params.flags[*])"]}
      - name: consume
        params:
          - {name: one, value: "$(tasks.produce.results.one)"}
          - {name: second, value: "$(tasks.produce.results.list[1])"}
          - {name: k, value: "$(tasks.produce.results.obj.k)"}
          - {name: url, value: "$(params.repo.url)"}
        taskSpec:
          params: [{name: one}, {name: second}, {name: k}, {name: url}]
          results: [{name: all}]
          steps:
            - image: busybox
              script: |
                printf '%s %s %s %s %s %s' "$(params.one)" "$(params.second)" "$(params.k)" \
                  "$(params.url)" "$(params.greeting)" "$(context.pipelineRun.name)" > $(results.all.path)
    results:
      - {name: all, value: "$(tasks.consume.results.all)"}
)Y");
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_EQ(ResultOf(pr, "all"), "-a|-b c|-b c| y v https://example.com/r.git hello types");
}

TEST_F(E2E, FailureStopsTheRunSkipsDependentsAndRunsFinally) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: fails}
spec:
  pipelineSpec:
    params: [{name: env, default: dev}]
    tasks:
      - name: guarded
        when: [{input: "$(params.env)", operator: in, values: [prod]}]
        taskSpec: {steps: [{image: busybox, script: "echo never"}]}
      - name: after-guarded
        runAfter: [guarded]
        taskSpec: {steps: [{image: busybox, script: "echo runs"}]}
      - name: broken
        runAfter: [after-guarded]
        taskSpec: {steps: [{name: boom, image: busybox, script: "echo failing; exit 3"}]}
      - name: downstream
        runAfter: [broken]
        taskSpec: {steps: [{image: busybox, script: "echo never"}]}
    finally:
      - name: notify
        params: [{name: s, value: "$(tasks.status)"}, {name: b, value: "$(tasks.broken.status)"}]
        taskSpec:
          params: [{name: s}, {name: b}]
          results: [{name: seen}]
          steps: [{image: busybox, script: "printf '%s/%s' $(params.s) $(params.b) > $(results.seen.path)"}]
    results:
      - {name: seen, value: "$(tasks.notify.results.seen)"}
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  Json pr = Json::parse(r.out);
  EXPECT_EQ(Reason(pr), "Failed");
  EXPECT_EQ(pr["status"]["conditions"][0]["message"],
            "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2");
  EXPECT_EQ(Skipped(pr, "guarded").value("reason", ""), "When Expressions evaluated to false");
  EXPECT_EQ(Skipped(pr, "downstream").value("reason", ""), "PipelineRun was stopping");
  EXPECT_TRUE(Skipped(pr, "after-guarded").is_null())
      << "a when-skipped parent does not skip children";
  EXPECT_EQ(ResultOf(pr, "seen"), "Failed/Failed");
  Ran logs = Strake({"logs", "fails", "--task", "broken"});
  EXPECT_EQ(logs.out, "[broken : boom] failing\n");
  for (const auto& tr : TaskRuns()) {
    if (tr["metadata"]["labels"]["tekton.dev/pipelineTask"] == "broken") {
      EXPECT_EQ(Reason(tr), "Failed");
      EXPECT_EQ(tr["status"]["conditions"][0]["message"], "\"step-boom\" exited with code 3");
      EXPECT_EQ(tr["status"]["steps"][0]["terminated"]["exitCode"], 3);
    }
  }
}

TEST_F(E2E, RetriesSeeTheRetryCount) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: retries}
spec:
  pipelineSpec:
    tasks:
      - name: flaky
        retries: 3
        taskSpec:
          results: [{name: attempt}]
          steps:
            - image: busybox
              script: |
                printf '$(context.task.retry-count)' > $(results.attempt.path)
                [ "$(context.task.retry-count)" = 2 ]
    results: [{name: attempt, value: "$(tasks.flaky.results.attempt)"}]
)Y");
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded");
  EXPECT_EQ(ResultOf(pr, "attempt"), "2");
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(trs[0]["status"]["retriesStatus"].size(), 2u);
}

TEST_F(E2E, TaskTimeoutKillsTheWholeProcessTree) {
  std::string pidfile = dir_ + "/grandchild.pid";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: slow}
spec:
  pipelineSpec:
    tasks:
      - name: hang
        timeout: 1s
        taskSpec:
          steps:
            - image: busybox
              script: |
                sleep 300 &
                echo $! > )Y" +
                              pidfile + R"Y(
                sh -c 'sleep 300' &
                wait
)Y");
  auto start = std::chrono::steady_clock::now();
  Ran r = Strake({"run", "--no-sandbox", "-f", f, "-o", "json"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_LT(took, std::chrono::seconds(10));
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(Reason(trs[0]), "TaskRunTimeout");
  EXPECT_EQ(trs[0]["status"]["conditions"][0]["message"],
            "TaskRun \"slow-hang\" failed to finish within \"1.0s\"");
  int gc = std::stoi(ReadFile(pidfile).value_or("0"));
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(gc); }, std::chrono::seconds(5))) << "orphan " << gc;
}

// Without the sandbox no PID namespace ends with the task: a descendant that
// left the step's process group (setsid) is found by the TaskRun's marker
// in its environment and killed with the task.
TEST_F(E2E, TaskTimeoutKillsDescendantsThatLeftTheProcessGroup) {
  std::string pidfile = dir_ + "/escaped.pid";
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: escape}
spec:
  pipelineSpec:
    tasks:
      - name: hang
        timeout: 1s
        taskSpec:
          steps:
            - image: busybox
              script: |
                setsid sh -c 'echo $$ > )Y" +
                              pidfile + R"Y(; exec sleep 300' &
                sleep 300
)Y");
  Ran r = Strake({"run", "--no-sandbox", "-f", f, "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(Reason(trs[0]), "TaskRunTimeout");
  int escaped = std::stoi(ReadFile(pidfile).value_or("0"));
  ASSERT_GT(escaped, 0);
  EXPECT_TRUE(WaitFor([&] { return !PidAlive(escaped); }, std::chrono::seconds(5)))
      << "the setsid descendant " << escaped << " outlived its task";
  if (PidAlive(escaped)) ::kill(escaped, SIGKILL);
}

// On the host a script is a sealed memfd the step reads as /dev/fd/N: no
// file to make per task, none a step can rewrite, no length limit; a task
// that keeps nothing else in its run directory works in it, an empty one.
TEST_F(E2E, HostScriptsAreSealedMemfdsAndTasksStartInAnEmptyDirectory) {
  std::string big(200 * 1024, '#');  // a 200 KiB comment: beyond sh -c's argument limit
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: host}
spec:
  pipelineSpec:
    tasks:
      - name: bare
        taskSpec:
          steps:
            - image: busybox
              script: |
                )Y" + big + R"Y(
                echo "entries=$(ls -A | wc -l) home=$([ "$HOME" = "$PWD" ] && echo cwd)"
                case "$0" in /dev/fd/*) echo "script=fd" ;; esac
                if (echo x >> "$0") 2>/dev/null; then echo writable; else echo sealed; fi
            - image: python
              script: |
                #!/usr/bin/env python3
                import os
                print("python", len(os.listdir(".")))
      - name: with-results
        taskSpec:
          results: [{name: n}]
          steps:
            - image: busybox
              script: |
                printf '%s' "$(ls -A | wc -l)" > $(results.n.path)
)Y");
  Ran r = Strake({"run", "--no-sandbox", "-f", f, "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string log = ReadFile(data_ + "/logs/default/host-bare.step-unnamed-0.log").value_or("");
  EXPECT_NE(log.find("entries=0 home=cwd"), std::string::npos) << log;
  EXPECT_NE(log.find("script=fd"), std::string::npos) << log;
  EXPECT_NE(log.find("sealed"), std::string::npos) << log;
  std::string py = ReadFile(data_ + "/logs/default/host-bare.step-unnamed-1.log").value_or("");
  EXPECT_NE(py.find("python 0"), std::string::npos) << py;
  int checked = 0;
  for (const auto& tr : TaskRuns()) {
    if (tr["metadata"].value("name", "") != "host-with-results") continue;
    EXPECT_EQ(tr["status"]["results"][0].value("value", ""), "0") << "work/ is its own, empty";
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

// A file of several PipelineRuns runs them all, sharing the slots; the
// command succeeds only if every one does. A name already taken leaves
// nothing submitted.
TEST_F(E2E, SeveralPipelineRunsInAFileAllRun) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: good}
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{image: busybox, script: "echo good"}]}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: bad}
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{image: busybox, script: "exit 3"}]}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: more-}
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{image: busybox, script: "true"}]}
)Y");
  Ran r = Strake({"run", "--no-sandbox", "-f", f, "-o", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  Json list = Json::parse(r.out, nullptr, false);
  ASSERT_EQ(list.value("kind", ""), "List") << r.out;
  ASSERT_EQ(list["items"].size(), 3u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "good");
  EXPECT_EQ(Reason(list["items"][0]), "Succeeded");
  EXPECT_EQ(list["items"][1]["metadata"]["name"], "bad");
  EXPECT_EQ(Reason(list["items"][1]), "Failed");
  EXPECT_EQ(Reason(list["items"][2]), "Succeeded");
  EXPECT_EQ(TaskRuns().size(), 3u);
  // Again: "good" and "bad" exist, so nothing is submitted, not even the generated one.
  Ran again = Strake({"run", "--no-sandbox", "-f", f});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("PipelineRun good already exists"), std::string::npos) << again.err;
  EXPECT_EQ(TaskRuns().size(), 3u);
}

TEST_F(E2E, StepTimeoutAndOnErrorContinue) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: steps}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          results: [{name: code}]
          stepTemplate:
            env: [{name: GREETING, value: from-template}]
          steps:
            - name: tolerated
              image: busybox
              onError: continue
              script: "exit 4"
            - name: slow
              image: busybox
              onError: continue
              timeout: 200ms
              script: "sleep 5"
            - name: after
              image: busybox
              script: |
                #!/bin/bash
                printf '%s:%s:%s' "$(cat $(steps.step-tolerated.exitCode.path))" "$GREETING" "${BASH_VERSION:+bash}" > $(results.code.path)
    results: [{name: code, value: "$(tasks.t.results.code)"}]
)Y");
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_EQ(ResultOf(pr, "code"), "4:from-template:bash");
  auto trs = TaskRuns();
  EXPECT_EQ(trs[0]["status"]["steps"][1]["terminated"]["reason"], "TimeoutExceeded");
}

TEST_F(E2E, PipelineTimeoutSkipsTheRestAndFinally) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: late}
spec:
  timeouts: {pipeline: 1s}
  pipelineSpec:
    tasks:
      - {name: slow, taskSpec: {steps: [{image: busybox, script: "sleep 30"}]}}
      - {name: next, runAfter: [slow], taskSpec: {steps: [{image: busybox, script: "true"}]}}
    finally:
      - {name: cleanup, taskSpec: {steps: [{image: busybox, script: "true"}]}}
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"}, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  Json pr = Json::parse(r.out);
  EXPECT_EQ(Reason(pr), "PipelineRunTimeout");
  EXPECT_EQ(Skipped(pr, "next").value("reason", ""), "PipelineRun timeout has been reached");
  EXPECT_EQ(Skipped(pr, "cleanup").value("reason", ""), "PipelineRun timeout has been reached");
}

TEST_F(E2E, TasksTimeoutStillRunsFinally) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: tasks-late}
spec:
  timeouts: {pipeline: 1m, tasks: 1s}
  pipelineSpec:
    tasks:
      - {name: slow, taskSpec: {steps: [{image: busybox, script: "sleep 30"}]}}
    finally:
      - {name: cleanup, taskSpec: {steps: [{image: busybox, script: "true"}]}}
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"}, std::chrono::seconds(20));
  Json pr = Json::parse(r.out);
  EXPECT_EQ(Reason(pr), "PipelineRunTimeout");
  EXPECT_TRUE(Skipped(pr, "cleanup").is_null()) << pr["status"].dump(2);
  EXPECT_EQ(pr["status"]["childReferences"].size(), 2u);
}

const char* kCached = R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: cached-}
spec:
  workspaces: [{name: ws, emptyDir: {}}]
  params: [{name: level, value: "3"}]
  pipelineSpec:
    params: [{name: level}]
    workspaces: [{name: ws}]
    tasks:
      - name: seed
        workspaces: [{name: src, workspace: ws}]
        taskSpec:
          workspaces: [{name: src}]
          steps: [{image: busybox, script: "mkdir -p $(workspaces.src.path)/src && echo 'int main(){}' > $(workspaces.src.path)/src/main.c"}]
      - name: compile
        runAfter: [seed]
        params: [{name: level, value: "$(params.level)"}]
        workspaces: [{name: src, workspace: ws}]
        taskSpec:
          params: [{name: level}]
          workspaces: [{name: src}]
          results: [{name: size}]
          cache:
            inputs: ["src:src/**/*.c"]
            params: [level]
            outputs: ["src:bin"]
          steps:
            - image: busybox
              script: |
                mkdir -p $(workspaces.src.path)/bin
                echo "compiled -O$(params.level) $(date +%s%N)" > $(workspaces.src.path)/bin/app
                printf 42 > $(results.size.path)
      - name: check
        runAfter: [compile]
        params: [{name: size, value: "$(tasks.compile.results.size)"}]
        workspaces: [{name: src, workspace: ws}]
        taskSpec:
          params: [{name: size}]
          workspaces: [{name: src}]
          results: [{name: app}]
          steps: [{image: busybox, script: "test $(params.size) = 42 && cat $(workspaces.src.path)/bin/app | tr -d '\\n' > $(results.app.path)"}]
    results: [{name: app, value: "$(tasks.check.results.app)"}]
)Y";

TEST_F(E2E, CacheRestoresOutputsAndResults) {
  auto f = File("p.yaml", kCached);
  Json first = RunJson(f);
  ASSERT_EQ(Reason(first), "Succeeded") << first.dump(2);
  Json second = RunJson(f);
  ASSERT_EQ(Reason(second), "Succeeded") << second.dump(2);
  EXPECT_EQ(ResultOf(first, "app"), ResultOf(second, "app")) << "output restored from the cache";
  int cached = 0;
  for (const auto& tr : TaskRuns()) cached += Reason(tr) == "Cached";
  EXPECT_EQ(cached, 1);
  // A different param is a different key; --no-cache bypasses.
  Json third = RunJson(f, {"--param", "level=2"});
  EXPECT_NE(ResultOf(third, "app"), ResultOf(first, "app"));
  Json fourth = RunJson(f, {"--no-cache"});
  EXPECT_NE(ResultOf(fourth, "app"), ResultOf(first, "app"));
  cached = 0;
  for (const auto& tr : TaskRuns()) cached += Reason(tr) == "Cached";
  EXPECT_EQ(cached, 1);
}

TEST_F(E2E, SandboxConfinesSteps) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: boxed}
spec:
  workspaces: [{name: ws, emptyDir: {}}]
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
      - name: probe
        workspaces: [{name: source, workspace: ws}]
        taskSpec:
          workspaces: [{name: source}]
          results: [{name: report}]
          steps:
            - image: busybox
              env: [{name: DATA, value: ")Y" +
                              data_ + R"Y("}]
              workingDir: /workspace/source/build
              script: |
                r="$(pwd) "
                touch /usr/strake-escape 2>/dev/null && r="${r}usr-writable " || true
                touch /var/tmp/strake-escape 2>/dev/null && r="${r}var-writable " || true
                ls "$DATA" 2>/dev/null | grep -q strake.db && r="${r}sees-data " || true
                # Run as root, a step keeps no CAP_SYS_ADMIN: it cannot unhide the data.
                umount "$DATA" 2>/dev/null && r="${r}unmounted-data " || true
                ls "$DATA" 2>/dev/null | grep -q strake.db && r="${r}sees-data " || true
                echo hi > /workspace/source/ok && r="${r}workspace-ok " || true
                echo hi > /tmp/x && r="${r}tmp-ok " || true
                [ "$$" -lt 10 ] && r="${r}own-pid-ns " || true
                [ -z "$STRAKE_DATA_DIR$SSH_AUTH_SOCK" ] && r="${r}clean-env" || true
                printf '%s' "$r" > /tekton/results/report
)Y");
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(trs[0]["status"]["results"][0]["value"],
            "/workspace/source/build workspace-ok tmp-ok own-pid-ns clean-env");
  EXPECT_FALSE(PathExists("/usr/strake-escape"));
  EXPECT_FALSE(PathExists("/var/tmp/strake-escape"));
}

TEST_F(E2E, MatrixFansOutAndAggregatesResults) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: mx}
spec:
  pipelineSpec:
    tasks:
      - name: build
        matrix:
          params:
            - {name: os, value: [linux, mac]}
            - {name: arch, value: [amd64, arm64]}
          include:
            - {name: extra, params: [{name: os, value: linux}, {name: flavour, value: musl}]}
        taskSpec:
          params: [{name: os}, {name: arch}, {name: flavour, default: glibc}]
          results: [{name: id}]
          steps: [{image: busybox, script: "printf '%s-%s-%s' $(params.os) $(params.arch) $(params.flavour) > $(results.id.path)"}]
      - name: collect
        params: [{name: ids, value: ["$(tasks.build.results.id[*])"]}]
        taskSpec:
          params: [{name: ids, type: array}]
          results: [{name: all}]
          steps:
            - image: busybox
              command: [sh, -c, 'echo "$@" | tr " " "\n" | sort | tr "\n" " " > $(results.all.path)', sh]
              args: ["$(params.ids[*])"]
    results: [{name: all, value: "$(tasks.collect.results.all)"}]
)Y");
  Json pr = RunJson(f);
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_EQ(ResultOf(pr, "all"),
            "linux-amd64-musl linux-arm64-musl mac-amd64-glibc mac-arm64-glibc ");
  EXPECT_EQ(TaskRuns().size(), 5u);
}

TEST_F(E2E, MatrixOverTheLimitFails) {
  std::string values;
  for (int i = 0; i < 17; ++i) values += (i ? "," : "") + std::to_string(i);
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: big}
spec:
  pipelineSpec:
    tasks:
      - name: t
        matrix:
          params: [{name: a, value: [)Y" +
                              values + R"Y(]}, {name: b, value: [)Y" + values + R"Y(]}]
        taskSpec:
          params: [{name: a}, {name: b}]
          steps: [{image: busybox, script: "true"}]
)Y");
  Ran r = Strake({"run", "-f", f, "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  Json pr = Json::parse(r.out);
  EXPECT_NE(pr["status"]["conditions"][0]["message"].get<std::string>().find("more than 256"),
            std::string::npos);
  EXPECT_TRUE(TaskRuns().empty());
}

TEST_F(E2E, ResultOverTheLimitFailsClearly) {
  auto f = File("p.yaml", R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: huge}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          results: [{name: blob}]
          steps: [{image: busybox, script: "head -c 5000 /dev/zero | tr '\\0' x > $(results.blob.path)"}]
)Y");
  Ran r = Strake({"run", "-f", f});
  EXPECT_EQ(r.exit_code, 1);
  auto trs = TaskRuns();
  ASSERT_EQ(trs.size(), 1u);
  EXPECT_EQ(Reason(trs[0]), "TaskRunResultLargerThanAllowedLimit");
  EXPECT_NE(trs[0]["status"]["conditions"][0]["message"].get<std::string>().find("4096-byte limit"),
            std::string::npos);
}

// Tekton's own examples (tests/tekton/, copied unchanged): each runs to the
// outcome Tekton's CI expects, and the output is what Tekton's docs show.
// In three tests, so that the e2e shards share them.
class TektonExamples : public E2E {
 protected:
  // file, the TaskRun's pipeline task, text its log must hold
  using Case = std::tuple<std::string, std::string, std::string>;
  void Check(const std::vector<Case>& cases) {
    // What a step whose `when` does not hold must not have printed.
    const std::vector<std::pair<std::string, std::string>> skipped = {
        {"stepaction-when.yaml", "skipskipskip"}, {"stepaction-when.yaml", "wooooooo"}};
    std::map<std::string, Json> ran;  // a file with two checks runs once
    for (const auto& [file, task, text] : cases) {
      SCOPED_TRACE(file);
      if (!ran.count(file))
        ran[file] = RunJson(std::string(STRAKE_SOURCE_DIR) + "/tests/tekton/" + file);
      const Json& pr = ran[file];
      // Completed: succeeded with tasks skipped (Tekton's CI counts both).
      EXPECT_TRUE(Reason(pr) == "Succeeded" || Reason(pr) == "Completed") << pr["status"].dump(2);
      std::string child;
      for (const auto& c : pr["status"].value("childReferences", Json::array())) {
        if (c.value("pipelineTaskName", "") == task) child = c.value("name", "");
      }
      ASSERT_FALSE(child.empty()) << pr["status"].dump(2);
      Ran logs = Strake({"logs", child});
      EXPECT_NE(logs.out.find(text), std::string::npos) << logs.out << logs.err;
      for (const auto& [skipped_file, never] : skipped) {
        if (skipped_file == file) {
          EXPECT_EQ(logs.out.find(never), std::string::npos) << logs.out;
        }
      }
      if (file == "stepaction-results.yaml") {
        Json tr = Json::parse(Strake({"get", "tr", child, "-o", "json"}).out, nullptr, false);
        Json want = {
            {"name", "step-result"}, {"type", "string"}, {"value", "I am a Step Action!!!\n"}};
        EXPECT_EQ(tr["status"].value("results", Json::array()), Json::array({want})) << tr.dump(2);
      }
    }
  }
};

TEST_F(TektonExamples, PropagationParamsResultsAndImagesRunAsTektonsDocsSay) {
  Check({
      {"propagated-object-parameters.yaml", "task", "--url=xyz.com --commit=sha123"},
      {"propagated-pipeline-object-param.yaml", "task1",
       "--url=xyz.com --commit=sha123 --branch=main"},
      {"propagating_params_implicit.yaml", "task", "hello world!"},
      {"propagating_params_implicit_parameters.yaml", "echo-hello", "Pipeline Hello World!"},
      {"propagating_params_in_pipeline.yaml", "echo-hello", "Hello from pipeline run"},
      {"propagating_params_with_scope_precedence.yaml", "echo-hello", "Task Hello World!"},
      {"propagating_params_with_scope_precedence_default_only.yaml", "echo-hello",
       "Pipeline Hello World!"},
      // show-uid reads add-uid's result directly: it must wait for it.
      {"propagating_results_implicit_resultref.yaml", "show-uid", "1001"},
      {"propagating-workspaces.yaml", "print-the-recipe", "Bake in greased pan"},
      {"propagating_workspaces.yaml", "task", "/tr-workspace"},
      {"propagating-workspaces-in-pipelines.yaml", "t1", ""},
      {"propagating_workspaces_with_referenced_resources.yaml", "print-the-recipe", "hi"},
      {"entrypoint-resolution.yaml", "task", ""},
      // envFrom a Secret: its values reach the step, masked in the log.
      {"secret-env-from.yaml", "task", "password env variable = ***"},
      // Volume names from params.
      {"task-volume-args.yaml", "task", ""},
      {"secret-volume-params.yaml", "task", ""},
      // The legacy $(inputs.params.x): 100 + 500 and 100 * 500.
      {"pipelinerun-with-params.yaml", "sum-params", "600"},
      {"pipelinerun-with-params.yaml", "multiply-params", "50000"},
      // `#!/usr/bin/env sh` in alpine is BusyBox's sh (`==` in `[`).
      {"using-retries-and-retry-count-variables.yaml", "retry-me", "This is the last retry."},
      // A matrix's results gathered in Tekton's order (the consumer checks it).
      {"pipelinerun-with-matrix-emitting-results.yaml", "task-consuming-results",
       "Done validating the url: https://api.example/get-report/windows-firefox"},
  });
}

TEST_F(TektonExamples, StepActionsRunAsTektonsDocsSay) {
  Check({
      // StepActions: a step's ref, its params (string, array, object merged
      // over defaults), step results passed to a later step's params, a
      // task result from a step result, the stepTemplate, a step's when.
      {"stepaction.yaml", "task", "I am a Step Action!!!"},
      {"stepaction-params.yaml", "task", "Got expected: step-action default key3"},
      {"stepaction-params-pipelinerun.yaml", "run-action",
       "pipelinerun array param pipelinerun stringparam step-action default key1 pipelinerun "
       "key2"},
      {"stepaction-passing-results.yaml", "task", "\"IMAGE_DIGEST\":\"sha234\"}"},
      {"stepaction-results.yaml", "task", ""},
      {"stepactions-steptemplate.yaml", "task", "foo=bar"},
      {"stepaction-when.yaml", "task", "I am a Step Action!!!"},
  });
}

TEST_F(TektonExamples, StreamsOnErrorWorkspacesAndSidecarsRunAsTektonsDocsSay) {
  Check({
      // stdoutConfig/stderrConfig: each stream to its own file, or both to one.
      {"step-stream-volumes.yaml", "task", "[task : cat] hello world"},
      {"step-stream-volumes.yaml", "task",
       "[task : log-data] /tekton/scripts/script-2: line 3: nonsense: not found"},
      // onError: continue on pipeline tasks: the run succeeds, the task after
      // the failed one runs, and finally checks $(tasks.t.reason) is
      // FailureIgnored.
      {"ignore-task-error.yaml", "echo", "this is a success task"},
      // A projected workspace: a Secret's and a ConfigMap's keys in one directory.
      {"workspaces-projected.yaml", "print-the-recipe", "Bake in greased pan"},
      // A TaskRun's podTemplate volumes, mounted by its steps.
      {"template-volume.yaml", "task", "some stuff"},
      // A sidecar's startup and readiness probes hold the step back until
      // the file it reads is there.
      {"sidecar-ready.yaml", "task", ""},
      // A sidecar mounts the workspace's volume by $(workspaces.w.volume).
      {"workspace-in-sidecar.yaml", "task", "Sidecar responded: good day"},
  });
}

TEST_F(TektonExamples, IsolationMatrixLengthsAndSubPathsRunAsTektonsDocsSay) {
  Check({
      // A step's own volumeMount over /tekton/home or /workspace hides what
      // the other steps wrote there (the examples' last steps check it).
      {"home-volume.yaml", "task", "[task : read] some stuff"},
      {"workspace-volume.yaml", "task", "[task : read] some stuff"},
      // Isolated workspaces: only the steps and sidecars that name one see it.
      {"isolated-workspaces.yaml", "test-isolation", ""},
      {"workspace-isolation.yaml", "task", "Saw ready file"},
      // onError: continue, and the exit code by name and by index.
      {"ignore-step-error.yaml", "task", "the symlink exists"},
      // A binding's subPath from a param.
      {"pipelinerun-using-parameterized-subpath-of-workspace.yaml", "read-all",
       "[read-all : read-2] bar"},
      // An include-only matrix runs each entry; matrix.<result>.length.
      {"pipelinerun-with-matrix-context-variables.yaml", "matrixed-echo-results-length",
       "The length of the matrix results are 3 and 1"},
  });
}

TEST_F(TektonExamples, LargeResultsCredentialsArtifactsAndCelRunAsTektonsDocsSay) {
  Check({
      // Results of about 3.4 KB each, several from one step: the limit is
      // a result's, as with Tekton's results-from: sidecar-logs.
      {"large-task-result.yaml", "task", ""},
      {"pipelinerun-large-results.yaml", "verify-results", ""},
      // creds-init: the ServiceAccount's ssh-auth Secret as ~/.ssh/id_<name>, nothing else.
      {"creds-init-only-mounts-provided-credentials.yaml", "task",
       "test -f /tekton/home/.ssh/id_phony-ssh-key"},
      // Artifacts: a step's provenance read by a later step (in a Python
      // script too) and by a later task.
      {"task-artifacts.yaml", "task", ""},
      {"produce-consume-artifacts.yaml", "task",
       "pkg:github/package-url/purl-spec@244fd47e07d1004f0aed9c"},
      {"consume-artifacts-from-task.yaml", "consume-artifacts", ""},
      // CEL when expressions, with the references bound as values.
      {"pipelinerun-with-cel-when-expressions.yaml", "finally-task-should-be-executed",
       "finally done"},
  });
}

// Pipelines in pipelines (Tekton's alpha examples): a task that runs a
// Pipeline makes a child PipelineRun, owned by the run, listed in its
// childReferences, whose own tasks print what the examples say; the complex
// one nests two levels and passes params and both workspaces down.
TEST_F(TektonExamples, PipelinesInPipelinesRunAsTektonsDocsSay) {
  const std::vector<std::tuple<std::string, std::vector<std::string>, std::string>> cases = {
      {"pipelines-in-pipelines.yaml", {"child", "hello"}, "hello from the inline child Pipeline"},
      {"pipelines-in-pipelines-ref.yaml",
       {"child", "hello"},
       "hello from the referenced child Pipeline"},
      {"pipelines-in-pipelines-ref-complex.yaml",
       {"child", "grandchild", "show"},
       "hello, pipelines-in-pipelines!"},
  };
  for (const auto& [file, path, text] : cases) {
    SCOPED_TRACE(file);
    Json run = RunJson(std::string(STRAKE_SOURCE_DIR) + "/tests/tekton/" + file);
    EXPECT_EQ(Reason(run), "Succeeded") << run["status"].dump(2);
    // Down the tree: each level's child by its pipeline task.
    std::string name = run["metadata"]["name"];
    Json status = run["status"];
    for (size_t level = 0; level < path.size(); ++level) {
      std::string child, kind;
      for (const auto& c : status.value("childReferences", Json::array())) {
        if (c.value("pipelineTaskName", "") != path[level]) continue;
        child = c.value("name", "");
        kind = c.value("kind", "");
      }
      ASSERT_FALSE(child.empty()) << status.dump(2);
      const bool last = level + 1 == path.size();
      EXPECT_EQ(kind, last ? "TaskRun" : "PipelineRun");
      if (last) {
        Ran logs = Strake({"logs", child});
        EXPECT_NE(logs.out.find(text), std::string::npos) << logs.out << logs.err;
        break;
      }
      Json pr =
          Json::parse(Strake({"get", "pipelinerun", child, "-o", "json"}).out, nullptr, false);
      ASSERT_TRUE(pr.is_object());
      EXPECT_EQ(pr["metadata"]["ownerReferences"][0]["name"], name);
      EXPECT_EQ(Reason(pr), "Succeeded");
      name = child;
      status = pr["status"];
    }
    // The run's logs hold its descendants' steps too.
    Ran all = Strake({"logs", run["metadata"]["name"]});
    EXPECT_NE(all.out.find(text), std::string::npos) << all.out << all.err;
  }
}

// Kubernetes' gitRepo volume (taskruns/no-ci/git-volume.yaml's form): the
// repository cloned when the TaskRun starts, at the revision given, into a
// directory named after it.
TEST_F(E2E, AGitRepoVolumeIsClonedAtItsRevision) {
  std::string repo = dir_ + "/rules.git";
  ASSERT_TRUE(MakeDirs(repo, 0755));
  ASSERT_EQ(std::system(("cd " + repo +
                         " && git init -q -b main . && echo one > file && git add -A && git -c "
                         "user.name=t -c user.email=t@example.com commit -q -m one && git tag "
                         "first && echo two > file && git -c user.name=t -c "
                         "user.email=t@example.com commit -q -am two")
                            .c_str()),
            0);
  auto f = File("git-volume.yaml", R"Y(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: git-volume}
spec:
  taskSpec:
    steps:
    - name: read
      image: alpine
      workingDir: /path/to/git/rules
      script: cat file
      volumeMounts: [{name: source, mountPath: /path/to/git}]
    volumes:
    - name: source
      gitRepo: {repository: "file://)Y" +
                                       repo + R"Y(", revision: first}
)Y");
  Json pr = RunJson(f);
  EXPECT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  std::string child = pr["status"]["childReferences"][0].value("name", "");
  Ran logs = Strake({"logs", child});
  EXPECT_NE(logs.out.find("read] one"), std::string::npos) << logs.out << logs.err;
}

// Tekton's git and cluster resolvers (docs/resolution.md): a Pipeline from
// a git repository (file://, as a catalog checkout would be) whose tasks
// come from the same repository and from the files given.
TEST_F(E2E, GitAndClusterResolversFetchWhatTheRunNames) {
  std::string repo = dir_ + "/catalog";
  ASSERT_TRUE(MakeDirs(repo + "/task/hello", 0755));
  ASSERT_TRUE(MakeDirs(repo + "/pipeline", 0755));
  File("catalog/task/hello/hello.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: hello}
spec:
  params: [{name: who}]
  steps: [{name: say, image: alpine, script: 'echo "hello $(params.who) from git"'}]
)Y");
  File("catalog/pipeline/greet.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: greet}
spec:
  tasks:
  - name: from-git
    params: [{name: who, value: world}]
    taskRef:
      resolver: git
      params:
      - {name: url, value: "file://)Y" + repo +
                                          R"Y("}
      - {name: pathInRepo, value: task/hello/hello.yaml}
  - name: from-cluster
    runAfter: [from-git]
    taskRef:
      resolver: cluster
      params: [{name: kind, value: task}, {name: name, value: local}]
)Y");
  ASSERT_EQ(std::system(("cd " + repo +
                         " && git init -q -b main . && git add -A && git -c user.name=t "
                         "-c user.email=t@example.com commit -q -m catalog")
                            .c_str()),
            0);
  auto f = File("run.yaml", R"Y(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: local}
spec:
  steps: [{name: say, image: alpine, script: echo local task}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: resolved}
spec:
  pipelineRef:
    resolver: git
    params:
    - {name: url, value: "file://)Y" +
                                repo + R"Y("}
    - {name: revision, value: main}
    - {name: pathInRepo, value: pipeline/greet.yaml}
)Y");
  Json pr = RunJson(f);
  EXPECT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_NE(Strake({"logs", "resolved-from-git"}).out.find("hello world from git"),
            std::string::npos);
  EXPECT_NE(Strake({"logs", "resolved-from-cluster"}).out.find("local task"), std::string::npos);

  // A path the repository does not have: refused before anything runs.
  auto bad = File("bad.yaml", R"Y(apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: bad}
spec:
  taskRef:
    resolver: git
    params: [{name: url, value: "file://)Y" +
                                  repo + R"Y("}, {name: pathInRepo, value: nope.yaml}]
)Y");
  Ran r = Strake({"run", "-f", bad});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.yaml:6:15: spec.taskRef.resolver: git file://"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("no file nope.yaml"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strake::e2e
