// End-to-end: `image:` means the image (issue 17). Images the test builds
// from this machine's BusyBox are pushed to Debian's docker-registry on
// loopback; `strake run` pulls them and runs each step in its
// own image, in the sandbox, sharing the TaskRun's workspaces.
#include <dirent.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/fs.h"
#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "base/test_busybox.h"
#include "e2e_support.h"
#include "images/test_layers.h"
#include "images/test_registry.h"

namespace strake::e2e {
namespace {

using images::test_layers::E;
using images::test_layers::Tar;

// The names in `dir` ("." and ".." aside).
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

// BusyBox and the libraries it loads, as an image's base layer.
std::vector<E> BusyboxLayer() {
  std::vector<E> out;
  auto add = [&](const std::string& host, const std::string& in_image) {
    auto data = ReadFile(host);
    EXPECT_TRUE(data) << host;
    out.push_back({'f', in_image, data ? *data : "", 0755});
  };
  for (const auto& host : testing::BusyboxFiles()) {
    add(host, host == "/usr/bin/busybox" ? "bin/busybox" : host.substr(1));
  }
  for (const char* applet :
       {"sh", "cat", "echo", "id", "pwd", "test", "wc", "ls", "true", "umount", "httpd"}) {
    out.push_back({'l', std::string("bin/") + applet, "busybox"});
  }
  out.push_back(
      {'f', "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"});
  out.push_back({'f', "etc/group", "root:x:0:\napp:x:1000:\n"});
  out.push_back({'f', "etc/os-release", "ID=base\n"});
  return out;
}

// Starts the test's registry: one that asks for a password ("puller",
// "s3cret pass") when the test's name says Private. False: not installed.
bool StartRegistry(images::TestRegistry& registry) {
  const bool private_registry =
      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
          .find("Private") != std::string::npos;
  return private_registry ? registry.Start("puller", "s3cret pass") : registry.Start();
}

class Images : public E2E {
 protected:
  void SetUp() override {
    E2E::SetUp();
    run_on_host_.clear();  // images are the point
    if (!StartRegistry(registry_)) GTEST_SKIP() << "docker-registry is not installed";
    if (!PathExists("/usr/bin/bwrap")) GTEST_SKIP() << "bubblewrap is not installed";
  }
  std::string Push(const std::string& repo_tag, const std::vector<std::string>& layers,
                   const std::string& config) {
    std::string args;
    for (size_t i = 0; i < layers.size(); ++i) {
      args += " --layer " +
              File(fmt::format("{}-{}.tar.gz", Split(repo_tag, ':')[0].substr(6), i), layers[i]);
    }
    if (!config.empty()) args += " --config '" + config + "'";
    auto colon = repo_tag.find(':');
    return registry_.Push(repo_tag.substr(0, colon), repo_tag.substr(colon + 1), args);
  }
  std::string Image(const std::string& repo_tag) { return registry_.host() + "/" + repo_tag; }
  std::string Log(const std::string& taskrun, const std::string& step) {
    auto text = ReadFile(fmt::format("{}/logs/default/{}.step-{}.log", data_, taskrun, step));
    return text ? *text : "<no log>";
  }

  images::TestRegistry registry_;
};

TEST_F(Images, StepsRunInTheirOwnImagesAndShareTheirWorkspaces) {
  const std::string base = Tar(BusyboxLayer(), "gzip");
  const std::string app_digest =
      Push("tools/app:1", {base},
           R"({"Entrypoint":["/bin/echo"],"Cmd":["from Cmd"],"Env":["PATH=/bin","GREETING=hi"],)"
           R"("WorkingDir":"/srv","User":"app"})");
  // A second image, run as root: the same base, and a layer that replaces
  // a file, deletes another with a whiteout, and puts a symlink where the
  // workspaces are mounted.
  Push("tools/other:2",
       {base, Tar({{'f', "etc/os-release", "ID=other\n"},
                   {'f', "bin/.wh.wc", ""},
                   {'l', "workspace", "/tekton/results"}},
                  "zstd")},
       R"({"Env":["PATH=/bin"]})");
  std::string yaml =
      fmt::format(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: imgs}}
spec:
  workspaces: [{{name: shared, emptyDir: {{}}}}]
  pipelineSpec:
    workspaces: [{{name: shared}}]
    tasks:
      - name: t
        workspaces: [{{name: src, workspace: shared}}]
        taskSpec:
          workspaces: [{{name: src}}]
          params: [{{name: image, default: "{app}"}}]
          steps:
            - name: write
              image: {app}
              script: |
                id -u
                pwd
                echo "pid $$"
                cat /etc/os-release
                echo "$GREETING" > $(workspaces.src.path)/out.txt
                echo layer > /only-here
            - name: entrypoint
              image: $(params.image)
              imagePullPolicy: IfNotPresent
              args: ["args replace Cmd"]
            - name: read
              image: {other}
              script: |
                cat $(workspaces.src.path)/out.txt
                cat /etc/os-release
                test ! -e /bin/wc && echo "no wc"
                test ! -e /only-here && echo "own layer"
                umount /tekton 2>/dev/null && echo unmounted || echo "root cannot unmount"
)",
                  fmt::arg("app", Image("tools/app:1")), fmt::arg("other", Image("tools/other:2")));
  Json pr = RunJson(File("imgs.yaml", yaml));
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_EQ(Log("imgs-t", "write"), "1000\n/srv\npid 1\nID=base\n");
  EXPECT_EQ(Log("imgs-t", "entrypoint"), "args replace Cmd\n");
  EXPECT_EQ(Log("imgs-t", "read"), "hi\nID=other\nno wc\nown layer\nroot cannot unmount\n");
  auto roots = ListFilesRecursive(data_ + "/images/roots");
  ASSERT_TRUE(roots);
  // Nothing a step wrote reached an image's root.
  for (const auto& f : *roots) EXPECT_EQ(f.find("only-here"), std::string::npos) << f;
  auto tr = TaskRuns();
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_FALSE(tr[0]["status"]["strake"].contains("ignoredImages")) << tr[0]["status"].dump(2);
  // Each step says which bytes it ran, as a pod's containers do.
  EXPECT_EQ(tr[0]["status"]["steps"][0].value("imageID", ""),
            registry_.host() + "/tools/app@" + app_digest)
      << tr[0]["status"]["steps"].dump(2);
}

TEST_F(Images, AnImageThatCannotBePulledFailsItsTaskRunAndSaysWhy) {
  Push("tools/evil:1", {Tar({{'f', "fine", "x"}, {'f', "../../outside", "x"}}, "gzip")}, "");
  std::string yaml =
      fmt::format(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: {name}}}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - image: {image}
              script: echo never
)",
                  fmt::arg("name", "missing"), fmt::arg("image", Image("tools/absent:1")));
  Json missing = RunJson(File("missing.yaml", yaml));
  EXPECT_EQ(Reason(missing), "Failed");
  ReplaceAll(yaml, "name: missing", "name: evil");
  ReplaceAll(yaml, "tools/absent:1", "tools/evil:1");
  Json evil = RunJson(File("evil.yaml", yaml));
  EXPECT_EQ(Reason(evil), "Failed");
  std::vector<std::string> messages;
  for (const auto& tr : TaskRuns()) {
    const Json& c = tr["status"]["conditions"][0];
    EXPECT_EQ(c["reason"], "TaskRunImagePullFailed") << c.dump();
    messages.push_back(c["message"].get<std::string>());
  }
  ASSERT_EQ(messages.size(), 2u);
  std::string all = messages[0] + "\n" + messages[1];
  EXPECT_NE(all.find("no such image"), std::string::npos) << all;
  EXPECT_NE(all.find("leaves the root"), std::string::npos) << all;
  EXPECT_FALSE(PathExists(dir_ + "/outside"));
  // Never: only what the data directory has.
  Push("tools/present:1", {Tar({{'f', "x", "x"}})}, "");
  ReplaceAll(yaml, "name: evil", "name: never");
  ReplaceAll(yaml, "tools/evil:1", "tools/present:1\n              imagePullPolicy: Never");
  Json never = RunJson(File("never.yaml", yaml));
  EXPECT_EQ(Reason(never), "Failed");
  bool said = false;
  for (const auto& tr : TaskRuns()) {
    const std::string m = tr["status"]["conditions"][0]["message"].get<std::string>();
    said = said || m.find("is not present and its imagePullPolicy is Never") != std::string::npos;
  }
  EXPECT_TRUE(said);
  auto roots = ListFilesRecursive(data_ + "/images/roots");
  EXPECT_TRUE(!roots || roots->empty());
}

// Steps' images from a registry that asks for a password: pulled with the
// run's pod template imagePullSecrets or its ServiceAccount's, as the
// kubelet pulls a TaskRun pod's; without them the pull is refused and the
// TaskRun says so; the Secret's text reaches no status or log.
TEST_F(Images, APrivateRegistrysStepImageIsPulledWithTheRunsPullSecrets) {
  Push("tools/private:1", {Tar(BusyboxLayer(), "gzip")}, R"({"Env":["PATH=/bin"]})");
  const std::string auth = Base64Encode("puller:s3cret pass");
  const std::string config =
      fmt::format(R"({{"auths":{{"{}":{{"auth":"{}"}}}}}})", registry_.host(), auth);
  const std::string secret = fmt::format(R"(apiVersion: v1
kind: Secret
metadata: {{name: regcred}}
type: kubernetes.io/dockerconfigjson
data: {{.dockerconfigjson: {}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: builder}}
imagePullSecrets: [{{name: regcred}}]
---
)",
                                         Base64Encode(config));
  auto run = [&](const std::string& name, const std::string& spec) {
    return RunJson(File(name + ".yaml",
                        secret + fmt::format(
                                     R"(apiVersion: tekton.dev/v1
kind: {kind}
metadata: {{name: {name}}}
spec:
{spec}
)",
                                     fmt::arg("name", name),
                                     fmt::arg("kind", spec.find("pipelineSpec") == std::string::npos
                                                          ? "TaskRun"
                                                          : "PipelineRun"),
                                     fmt::arg("spec", spec))),
                   {});
  };
  const std::string step =
      fmt::format("steps: [{{image: {}, imagePullPolicy: Always, script: 'echo pulled'}}]",
                  Image("tools/private:1"));
  auto pipeline = [&](const std::string& extra) {
    return extra + "  pipelineSpec:\n    tasks:\n      - name: t\n        taskSpec:\n          " +
           step;
  };
  Json anonymous = run("anonymous", pipeline(""));
  EXPECT_EQ(Reason(anonymous), "Failed") << anonymous.dump(2);
  Json by_account = run("account", pipeline("  taskRunTemplate: {serviceAccountName: builder}\n"));
  EXPECT_EQ(Reason(by_account), "Succeeded") << by_account.dump(2);
  EXPECT_EQ(Log("account-t", "unnamed-0"), "pulled\n");
  Json by_template =
      run("template",
          pipeline("  taskRunTemplate: {podTemplate: {imagePullSecrets: [{name: regcred}]}}\n"));
  EXPECT_EQ(Reason(by_template), "Succeeded") << by_template.dump(2);
  Json task_run = run(
      "taskrun", "  podTemplate: {imagePullSecrets: [{name: regcred}]}\n  taskSpec:\n    " + step);
  EXPECT_EQ(Reason(task_run), "Succeeded") << task_run.dump(2);
  std::string said;
  for (const auto& tr : TaskRuns()) {
    said += tr["status"].dump() + "\n";
  }
  EXPECT_NE(said.find("401"), std::string::npos) << said;
  EXPECT_EQ(said.find(auth), std::string::npos);
  EXPECT_EQ(said.find("s3cret"), std::string::npos);
}

// A sidecar's exec probe runs inside the sidecar's container: it sees the
// file the sidecar wrote in its own /tmp, which nothing outside it sees.
TEST_F(Images, ASidecarsExecProbeRunsInItsContainer) {
  Push("tools/side:1", {Tar(BusyboxLayer(), "gzip")}, R"({"Env":["PATH=/bin"]})");
  std::string yaml = fmt::format(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: side}}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          sidecars:
            - name: db
              image: {image}
              script: |
                busybox sleep 1
                echo up > /tmp/ready
                exec busybox sleep 30
              startupProbe:
                exec: {{command: [cat, /tmp/ready]}}
                periodSeconds: 1
                failureThreshold: 20
          steps:
            - name: s
              image: {image}
              script: 'test ! -e /tmp/ready && echo "not here"'
)",
                                 fmt::arg("image", Image("tools/side:1")));
  Json pr = RunJson(File("side.yaml", yaml));
  ASSERT_EQ(Reason(pr), "Succeeded") << TaskRuns().back()["status"].dump(2);
  EXPECT_EQ(Log("side-t", "s"), "not here\n");
}

// An image as skopeo writes it to disk (an OCI layout, an OCI archive, a
// docker archive as `docker save` makes): steps run in each with no
// registry involved.
TEST_F(Images, StepsRunInImagesOnDiskWithNoRegistry) {
  if (!PathExists("/usr/bin/skopeo")) GTEST_SKIP() << "skopeo is not installed";
  Push("tools/built:1", {Tar(BusyboxLayer(), "gzip"), Tar({{'f', "etc/built", "on disk\n"}})},
       R"({"Env":["PATH=/bin"]})");
  const std::map<std::string, std::string> written = {
      {"layout", "oci:" + dir_ + "/layout:v1"},
      {"ociarchive", "oci-archive:" + dir_ + "/image.oci.tar:v1"},
      {"dockerarchive", "docker-archive:" + dir_ + "/image.docker.tar:tools/built:v1"}};
  std::string steps;
  for (const auto& [name, ref] : written) {
    const std::string copy =
        "skopeo copy --quiet --src-tls-verify=false docker://" + Image("tools/built:1") + " " + ref;
    ASSERT_EQ(std::system(copy.c_str()), 0) << copy;
    steps += fmt::format("            - {{name: {}, image: \"{}\", script: cat /etc/built}}\n",
                         name, ref);
  }
  std::string yaml = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: disk}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
)" + steps;
  registry_.Stop();  // no registry from here on
  Json pr = RunJson(File("disk.yaml", yaml));
  ASSERT_EQ(Reason(pr), "Succeeded") << TaskRuns().back()["status"].dump(2);
  for (const auto& [name, ref] : written) EXPECT_EQ(Log("disk-t", name), "on disk\n") << ref;
  // What was unpacked to read the archives is gone.
  for (const auto& f : ListDir(data_ + "/images/roots")) EXPECT_FALSE(f.starts_with(".tmp-")) << f;
}

// An image marked to run on the host (--run-on-host): its step runs with
// this machine's programs in the sandbox, beside a step in its own image.
TEST_F(Images, AStepWhoseImageIsMarkedRunsOnTheHost) {
  Push("tools/only:1", {Tar(BusyboxLayer(), "gzip"), Tar({{'f', "etc/only", "in the image\n"}})},
       R"({"Env":["PATH=/bin"]})");
  std::string yaml = fmt::format(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{name: mixed}}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - {{name: image, image: "{}", script: cat /etc/only}}
            - name: host
              image: "{}"
              script: |
                #!/bin/sh
                test -e /etc/only && echo "image files"; test -x /usr/bin/python3 && echo host
            - name: none
              script: |
                #!/bin/sh
                test -e /etc/only && echo "image files"; test -x /usr/bin/python3 && echo host
)",
                                 Image("tools/only:1"), Image("tools/absent:1"));
  Json pr = RunJson(File("mixed.yaml", yaml), {"--run-on-host", "**/absent"});
  ASSERT_EQ(Reason(pr), "Succeeded") << TaskRuns().back()["status"].dump(2);
  EXPECT_EQ(Log("mixed-t", "image"), "in the image\n");
  EXPECT_EQ(Log("mixed-t", "host"), "host\n");
  // No image at all: this machine's programs too (a strake extension).
  EXPECT_EQ(Log("mixed-t", "none"), "host\n");
  // The TaskRun names the image it did not use.
  EXPECT_EQ(TaskRuns().back()["status"]["strake"]["ignoredImages"],
            Json::array({Image("tools/absent:1")}));
  // Not marked: the image is pulled, and the registry has no such image.
  yaml.replace(yaml.find("name: mixed}"), 12, "name: mixed2}");
  Json refused = RunJson(File("mixed2.yaml", yaml), {"--run-on-host", "alpine"});
  EXPECT_EQ(Reason(refused), "Failed");
  // --no-sandbox: every step on the host, nothing pulled, and it says so.
  std::string host = yaml;
  host.replace(host.find("name: mixed2}"), 13, "name: mixed3}");
  host.replace(host.find("script: cat /etc/only"), 21, "script: echo on the host");
  Ran r = Strake({"run", "-f", File("mixed3.yaml", host), "--no-sandbox"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("step images are ignored: --no-sandbox runs steps with this machine's"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(Log("mixed3-t", "image"), "on the host\n");
}

// An HTTPS registry with a certificate of its own: refused, unless it is
// named with --insecure-registry (Docker's insecure-registries).
TEST_F(Images, AnInsecureRegistryIsPulledFromOnlyWhenNamedSo) {
  images::TestRegistry tls;
  ASSERT_TRUE(tls.Start("", "", true));
  tls.Push("tools/self-signed", "1", "--content self");
  const std::string ref = tls.host() + "/tools/self-signed:1";
  Ran refused = Strake({"image", "pull", ref});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  Ran pulled = Strake({"image", "pull", ref, "--insecure-registry", tls.host()});
  EXPECT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_NE(pulled.out.find("digest: sha256:"), std::string::npos) << pulled.out;
}

// kill -9 at any moment of a pull (download, check, unpack, records)
// leaves no half-downloaded layer and no half-unpacked root under its
// name; the next pull finds or finishes the whole image.
TEST_F(Images, AKilledPullLeavesNothingHalfDone) {
  std::vector<E> files;
  for (int i = 0; i < 1200; ++i)
    files.push_back({'f', fmt::format("data/{:04}", i), RandomBytes(2048)});
  files.push_back({'f', "data/last", "complete\n"});
  Push("tools/big:1", {Tar(files, "gzip")}, R"({"Env":["PATH=/bin"]})");
  const std::string images = data_ + "/images";
  auto whole = [&] {
    for (const auto& name : ListDir(images + "/roots")) {
      if (name.starts_with(".tmp-")) continue;
      EXPECT_EQ(ReadFile(images + "/roots/" + name + "/data/last").value_or(""), "complete\n")
          << name;
    }
    for (const auto& name : ListDir(images + "/blobs/sha256")) {
      if (name.starts_with(".tmp-")) continue;
      EXPECT_EQ(Sha256Hex(ReadFile(images + "/blobs/sha256/" + name, size_t{1} << 30).value_or("")),
                name);
    }
  };
  for (int delay_ms : {2, 5, 10, 20, 25, 30, 40, 60, 80, 160}) {
    int pid = StartStrake({"image", "pull", Image("tools/big:1")});
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    whole();
  }
  Ran r = Strake({"image", "pull", Image("tools/big:1")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  whole();
  // The leftovers went when the store was opened with no one else in it.
  for (const char* sub : {"/roots", "/blobs/sha256", "/manifests", "/refs"}) {
    for (const auto& name : ListDir(images + sub))
      EXPECT_FALSE(name.starts_with(".tmp-")) << sub << "/" << name;
  }
  EXPECT_EQ(ListDir(images + "/roots").size(), 1u);
}

// The task cache's key holds each step's image digest: the same tag
// pushed again with other bytes misses, the same bytes hit (Always asks
// the registry each run; IfNotPresent would keep the copy here, as a node
// does).
TEST_F(Images, AMovedTagMissesTheTaskCache) {
  const std::string base = Tar(BusyboxLayer(), "gzip");
  auto push = [&](const std::string& text) {
    Push("tools/moving:1", {base, Tar({{'f', "etc/version", text}})}, R"({"Env":["PATH=/bin"]})");
  };
  const std::string yaml = fmt::format(R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {{generateName: moving-}}
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          results: [{{name: version}}]
          cache: {{}}
          steps:
            - image: {}
              imagePullPolicy: Always
              script: cat /etc/version > $(results.version.path)
    results: [{{name: version, value: "$(tasks.t.results.version)"}}]
)Y",
                                       Image("tools/moving:1"));
  auto run = [&] {
    Json pr = RunJson(File("moving.yaml", yaml));
    EXPECT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
    std::string value;
    for (const auto& r : pr["status"].value("results", Json::array())) value = r.value("value", "");
    auto trs = TaskRuns();
    return value + "/" + (trs.empty() ? "" : Reason(trs.back()));
  };
  push("one");
  EXPECT_EQ(run(), "one/Succeeded");
  EXPECT_EQ(run(), "one/Cached");
  push("two");
  EXPECT_EQ(run(), "two/Succeeded");
}

// Workloads in their images: `strake serve` runs a Rollout
// whose container has no command (the image's Entrypoint serves on the
// PORT it is given) and canaries it from one tag to another under load,
// its analysis a job in the canary's image; a tag that cannot be pulled says
// ErrImagePull while the stable serves on.
class ImageWorkloads : public ServerE2E {
 protected:
  void SetUp() override {
    ServerE2E::SetUp();
    run_on_host_.clear();  // images are the point
    if (!StartRegistry(registry_)) GTEST_SKIP() << "docker-registry is not installed";
    if (!PathExists("/usr/bin/bwrap")) GTEST_SKIP() << "bubblewrap is not installed";
  }
  std::string PushWeb(const std::string& tag, const std::string& base,
                      const std::string& text = "") {
    const std::string body = text.empty() ? "hello from " + tag + "\n" : text;
    std::string page = File("web-" + tag + ".tar.gz", Tar({{'f', "www/index.html", body}}, "gzip"));
    std::string config =
        R"({"Entrypoint":["/bin/sh","-c","echo $$ > /www/pid; exec httpd -f -p 127.0.0.1:$PORT -h /www"],)"
        R"("Env":["PATH=/bin"],"WorkingDir":"/www"})";
    return registry_.Push("tools/web", tag,
                          " --layer " + base + " --layer " + page + " --config '" + config + "'");
  }
  std::string Get(const std::string& path) {
    http::Request req;
    req.target = path;
    auto r = http::Fetch("127.0.0.1", port_, req, std::chrono::seconds(5));
    return r ? r->body : "error: " + r.error().message;
  }
  // A Deployment "web" of `replicas` replicas of tools/web:`tag`.
  Ran ApplyWeb(const std::string& tag, int replicas) {
    return Cli(
        {"apply", "-f",
         File("web.yaml", fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /index.html, port: 8080}}, periodSeconds: 1}}
)",
                                      fmt::arg("replicas", replicas),
                                      fmt::arg("image", registry_.host() + "/tools/web:" + tag)))});
  }
  int ReadyWebReplicas() {
    Json j = Json::parse(Cli({"get", "deployment", "web", "-o", "json"}).out, nullptr, false);
    return j.is_object() ? j["status"].value("readyReplicas", 0) : 0;
  }
  Json Rollout() {
    Ran r = Cli({"get", "rollout", "web", "-o", "json"});
    Json j = Json::parse(r.out, nullptr, false);
    return j.is_object() ? j : Json::object();
  }

  images::TestRegistry registry_;
  uint16_t port_ = FreePort();
};

TEST_F(ImageWorkloads, ARolloutWithNoCommandRunsItsImageAndCanariesToTheNextTag) {
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("v1", base);
  PushWeb("v2", base);
  auto manifest = [&](const std::string& tag) {
    return fmt::format(R"yaml(apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: in-image}}
spec:
  args: [{{name: tag}}]
  metrics:
  - name: page
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: check
                image: {repo}:{{{{args.tag}}}}
                command: [sh, -c, 'test "$(cat /www/index.html)" = "hello from {{{{args.tag}}}}"']
---
apiVersion: v1
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
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {{duration: 1s}}
      - analysis: {{templates: [{{templateName: in-image}}], args: [{{name: tag, value: {tag}}}]}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {image}
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /index.html, port: http}}, periodSeconds: 1}}
        livenessProbe: {{exec: {{command: [cat, /www/index.html]}}, periodSeconds: 1}}
)yaml",
                       fmt::arg("port", port_), fmt::arg("tag", tag),
                       fmt::arg("repo", registry_.host() + "/tools/web"),
                       fmt::arg("image", registry_.host() + "/tools/web:" + tag));
  };
  auto apply = [&](const std::string& tag) {
    Ran r = Cli({"apply", "-f", File("web.yaml", manifest(tag))});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  };
  auto watch = [&] {
    Ran r = Cli({"rollout", "status", "web", "--watch", "--timeout", "80s"});
    return r.exit_code == 0 ? std::string("Healthy") : r.out + r.err;
  };
  apply("v1");
  ASSERT_EQ(watch(), "Healthy") << Rollout().dump(2);
  ASSERT_TRUE(WaitFor([&] { return Get("/") == "hello from v1\n"; }, std::chrono::seconds(10)))
      << Get("/");
  // Process 1 of its own PID namespace, in its own writable layer.
  EXPECT_EQ(Get("/pid"), "1\n");
  auto pids = ListFilesRecursive(data_ + "/images/roots");
  ASSERT_TRUE(pids);
  for (const auto& f : *pids) EXPECT_EQ(f.find("www/pid"), std::string::npos) << f;

  Load load(port_);
  apply("v2");
  ASSERT_TRUE(WaitFor([&] { return Get("/") == "hello from v2\n"; }, std::chrono::seconds(60)))
      << Rollout().dump(2);
  ASSERT_EQ(watch(), "Healthy") << Rollout().dump(2);
  load.Stop();
  // Its analysis ran a job in the image of the canary's tag (the page it
  // reads is only there).
  Json runs = Json::parse(Cli({"get", "analysisruns", "-o", "json"}).out, nullptr, false);
  ASSERT_TRUE(runs.is_object() && runs["items"].size() == 1) << runs.dump(2);
  EXPECT_EQ(runs["items"][0]["status"].value("phase", ""), "Successful") << runs.dump(2);
  EXPECT_EQ(load.failures(), 0) << load.last_failure() << " of " << load.total();
  EXPECT_GT(load.bodies()["hello from v1\n"], 0);
  EXPECT_GT(load.bodies()["hello from v2\n"], 0);

  // A tag the registry does not have: the canary waits, saying why, and
  // the stable serves on.
  apply("v3");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Rollout()["status"].value("message", "").find("ErrImagePull") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << Rollout().dump(2);
  EXPECT_EQ(Get("/"), "hello from v2\n");

  // A Job runs in its image too: its files, process 1, then Complete.
  Ran job = Cli({"apply", "-f",
                 File("job.yaml", fmt::format(R"(apiVersion: batch/v1
kind: Job
metadata: {{name: check}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: check
        image: {}
        command: [sh, -c, 'cat index.html; echo "pid $$ home $HOME"']
)",
                                              registry_.host() + "/tools/web:v1"))});
  ASSERT_EQ(job.exit_code, 0) << job.out << job.err;
  auto job_json = [&] {
    Json j = Json::parse(Cli({"get", "job", "check", "-o", "json"}).out, nullptr, false);
    return j.is_object() ? j : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return job_json()["status"].value("succeeded", 0) == 1; },
                      std::chrono::seconds(30)))
      << job_json().dump(2);
  EXPECT_EQ(ReadFile(data_ + "/logs/jobs/default/check.log").value_or("<none>"),
            "hello from v1\npid 1 home /root\n");
}

// `strake image gc` between two servers never takes the image of a
// replica that outlived the first (kill -9): its root is an overlay's
// lower directory in the replica's mounts. An image nothing runs goes.
TEST_F(ImageWorkloads, CollectionKeepsTheImageOfAReplicaThatOutlivedItsServer) {
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("v1", base);
  PushWeb("v2", base);
  Ran r = ApplyWeb("v1", 1);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto ready = [&] { return ReadyWebReplicas() == 1; };
  ASSERT_TRUE(WaitFor(ready, std::chrono::seconds(30)));
  Ran pulled = Strake({"image", "pull", registry_.host() + "/tools/web:v2"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  auto roots = [&] { return ListDir(data_ + "/images/roots"); };
  ASSERT_EQ(roots().size(), 2u);
  StopServer(SIGKILL);  // the replica runs on
  Ran gc = Strake({"image", "gc", "--max-size", "1"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_NE(gc.out.find("removed 1 references"), std::string::npos) << gc.out;
  ASSERT_EQ(roots().size(), 1u);
  // The next server adopts the replica, which still serves its files.
  StartServer();
  ASSERT_TRUE(WaitFor(ready, std::chrono::seconds(30)));
}

// The image roots the running replicas of this test's server run on: the
// lower directory of each httpd's overlay.
std::set<std::string> ReplicaRoots(const std::string& roots_dir) {
  std::set<std::string> out;
  for (const auto& pid : ListDir("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = ReadFile("/proc/" + pid + "/cmdline", 4096).value_or("");
    if (cmd.find("httpd") == std::string::npos) continue;
    for (const auto& line : Split(ReadFile("/proc/" + pid + "/mountinfo").value_or(""), '\n')) {
      size_t at = line.find("lowerdir=" + roots_dir + "/");
      if (at == std::string::npos) continue;
      std::string rest = line.substr(at + 10 + roots_dir.size());
      out.insert(rest.substr(0, rest.find_first_of(",/ ")));
    }
  }
  return out;
}

// A revision is pinned to its image's digest, and stays pinned across a
// restart: its tag moved meanwhile (and the new bytes are on this machine,
// pulled by someone else), the replica it starts next still runs the bytes
// its first replica runs.
TEST_F(ImageWorkloads, ARevisionKeepsItsImageAcrossARestartWhenItsTagMoves) {
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("latest", base, "first\n");
  ASSERT_EQ(ApplyWeb("latest", 1).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return ReadyWebReplicas() == 1; }, std::chrono::seconds(30)));
  const std::string roots_dir = data_ + "/images/roots";
  const auto first = ReplicaRoots(roots_dir);
  ASSERT_EQ(first.size(), 1u);
  StopServer(SIGKILL);
  PushWeb("latest", base, "second\n");
  Ran pulled = Strake({"image", "pull", registry_.host() + "/tools/web:latest"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  ASSERT_EQ(ListDir(roots_dir).size(), 2u);
  StartServer();
  ASSERT_EQ(ApplyWeb("latest", 2).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return ReadyWebReplicas() == 2; }, std::chrono::seconds(30)));
  EXPECT_EQ(ReplicaRoots(roots_dir), first);
}

// An image marked to run on the host (--run-on-host): its replicas run
// their command with this machine's programs, and nothing is pulled (the
// registry has no such image); one with no command says why it cannot run.
TEST_F(ImageWorkloads, AMarkedImageRunsItsCommandOnTheHost) {
  serve_args_ = {"--run-on-host", "**/absent"};
  StartServer();
  const std::string image = registry_.host() + "/tools/absent:1";
  auto deployment = [&](const std::string& name, const std::string& command) {
    return fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: {image}
        {command}
        ports: [{{containerPort: 8080}}]
)",
                       fmt::arg("name", name), fmt::arg("image", image),
                       fmt::arg("command", command));
  };
  Ran r = Cli({"apply", "-f",
               File("host.yaml", deployment("host",
                                            "command: [python3, -m, http.server, "
                                            "$(PORT), --bind, 127.0.0.1]") +
                                     "---\n" + deployment("bare", "workingDir: /"))});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto status = [&](const std::string& name) {
    Json j = Json::parse(Cli({"get", "deployment", name, "-o", "json"}).out, nullptr, false);
    return j.is_object() ? j["status"] : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return status("host").value("readyReplicas", 0) == 1; },
                      std::chrono::seconds(30)))
      << status("host").dump(2);
  ASSERT_TRUE(WaitFor(
      [&] {
        return status("bare").dump().find("runs with this machine's programs") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << status("bare").dump(2);
  EXPECT_TRUE(ListDir(data_ + "/images/roots").empty());
}

// `strake image gc` keeps what a stopped server's revisions are pinned to:
// a server stopped with its workloads starts them again on those bytes.
TEST_F(ImageWorkloads, CollectionKeepsTheImageAStoppedServersRevisionIsPinnedTo) {
  serve_args_ = {"--stop-workloads"};
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("v1", base);
  ASSERT_EQ(ApplyWeb("v1", 1).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return ReadyWebReplicas() == 1; }, std::chrono::seconds(30)));
  StopServer(SIGTERM);
  Ran pulled = Strake({"image", "pull", registry_.host() + "/tools/web:v1"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  ASSERT_EQ(ListDir(data_ + "/images/roots").size(), 1u);
  Ran gc = Strake({"image", "gc", "--max-size", "1"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(ListDir(data_ + "/images/roots").size(), 1u) << gc.out;
  // With no pin left, the same collection takes it.
  ASSERT_TRUE(WriteFile(data_ + "/runtime/image-pins.json", "{}"));
  gc = Strake({"image", "gc", "--max-size", "1"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_TRUE(ListDir(data_ + "/images/roots").empty()) << gc.out;
}

// A server with --image-store-max-size collects its store itself: an
// image nothing of it uses (pulled by another process) goes, the image its
// Deployment's revision is pinned to and runs on stays.
TEST_F(ImageWorkloads, AServerKeepsItsStoreUnderItsSizeAndWhatItsRevisionsUse) {
  serve_args_ = {"--image-store-max-size", "1", "--image-gc-interval", "1s"};
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("v1", base);
  PushWeb("v2", base);
  Ran r = ApplyWeb("v1", 1);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto ready = [&] { return ReadyWebReplicas() == 1; };
  ASSERT_TRUE(WaitFor(ready, std::chrono::seconds(30)));
  Ran pulled = Strake({"image", "pull", registry_.host() + "/tools/web:v2"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  auto roots = [&] { return ListDir(data_ + "/images/roots").size(); };
  ASSERT_TRUE(WaitFor([&] { return roots() == 1; }, std::chrono::seconds(15)))
      << ReadFile(dir_ + "/.bg").value_or("");
  // Its replica still runs, and a replica started now finds its image.
  EXPECT_TRUE(ready());
  r = ApplyWeb("v1", 2);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitFor([&] { return ReadyWebReplicas() == 2; }, std::chrono::seconds(30)));
}

// A registry that asks for a password: the pod's imagePullSecrets name a
// kubernetes.io/dockerconfigjson Secret that has it; without it the pull
// is refused, and the Deployment says so; neither the password nor the
// Secret's text reaches a status, event or log.
TEST_F(ImageWorkloads, APrivateRegistrysImageIsPulledWithThePodsImagePullSecrets) {
  StartServer();
  const std::string base = File("base.tar.gz", Tar(BusyboxLayer(), "gzip"));
  PushWeb("v1", base);
  const std::string auth = Base64Encode("puller:s3cret pass");
  const std::string config =
      fmt::format(R"({{"auths":{{"http://{}/v1/":{{"auth":"{}"}}}}}})", registry_.host(), auth);
  // `without` asks the registry every time (Always): an image one pod
  // pulled with credentials is on this machine for IfNotPresent pods, as on
  // a Kubernetes node.
  auto deployment = [&](const std::string& name, const std::string& secrets) {
    return fmt::format(R"(apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
{secrets}      containers:
      - name: web
        image: {image}
        imagePullPolicy: {policy}
        ports: [{{containerPort: 8080}}]
)",
                       fmt::arg("name", name), fmt::arg("secrets", secrets),
                       fmt::arg("policy", secrets.empty() ? "Always" : "IfNotPresent"),
                       fmt::arg("image", registry_.host() + "/tools/web:v1"));
  };
  std::string yaml = fmt::format(R"(apiVersion: v1
kind: Secret
metadata: {{name: regcred}}
type: kubernetes.io/dockerconfigjson
data: {{.dockerconfigjson: {}}}
---
{}---
{})",
                                 Base64Encode(config),
                                 deployment("with", "      imagePullSecrets: [{name: regcred}]\n"),
                                 deployment("without", ""));
  Ran r = Cli({"apply", "-f", File("private.yaml", yaml)});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto status = [&](const std::string& name) {
    Json j = Json::parse(Cli({"get", "deployment", name, "-o", "json"}).out, nullptr, false);
    return j.is_object() ? j["status"] : Json::object();
  };
  ASSERT_TRUE(WaitFor([&] { return status("with").value("readyReplicas", 0) == 1; },
                      std::chrono::seconds(30)))
      << status("with").dump(2);
  ASSERT_TRUE(WaitFor(
      [&] {
        return status("without").value("message", "").find("ErrImagePull") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << status("without").dump(2);
  const std::string said = status("without").value("message", "");
  EXPECT_NE(said.find("401"), std::string::npos) << said;
  Ran events = Cli({"get", "events", "-o", "json"});
  for (const std::string& text : {said, events.out, ReadFile(dir_ + "/.bg").value_or("")}) {
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
    EXPECT_EQ(text.find(auth), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace strake::e2e
