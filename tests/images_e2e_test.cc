// End-to-end: `image:` means the image (issue 17). Images the test builds
// from this machine's BusyBox are pushed to Debian's docker-registry on
// loopback; `strake run --pull-images` pulls them and runs each step in its
// own image, in the sandbox, sharing the TaskRun's workspaces.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/strings.h"
#include "e2e_support.h"
#include "images/test_layers.h"
#include "images/test_registry.h"

namespace strake::e2e {
namespace {

using images::test_layers::E;
using images::test_layers::Tar;

// BusyBox and the libraries it loads, as an image's base layer.
std::vector<E> BusyboxLayer() {
  std::vector<E> out;
  auto add = [&](const std::string& host, const std::string& in_image) {
    auto data = ReadFile(host);
    EXPECT_TRUE(data) << host;
    out.push_back({'f', in_image, data ? *data : "", 0755});
  };
  add("/usr/bin/busybox", "bin/busybox");
  for (const char* applet :
       {"sh", "cat", "echo", "id", "pwd", "test", "wc", "ls", "true", "umount"}) {
    out.push_back({'l', std::string("bin/") + applet, "busybox"});
  }
  FILE* p = ::popen("ldd /usr/bin/busybox", "r");
  char line[512];
  while (p && fgets(line, sizeof line, p)) {
    std::string l = line;
    auto slash = l.find('/');
    if (slash == std::string::npos) continue;
    std::string path = l.substr(slash, l.find_first_of(" \n(", slash) - slash);
    add(path, path.substr(1));
  }
  if (p) ::pclose(p);
  out.push_back(
      {'f', "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"});
  out.push_back({'f', "etc/group", "root:x:0:\napp:x:1000:\n"});
  out.push_back({'f', "etc/os-release", "ID=base\n"});
  return out;
}

class Images : public E2E {
 protected:
  void SetUp() override {
    E2E::SetUp();
    if (!registry_.Start()) GTEST_SKIP() << "docker-registry is not installed";
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
  Json pr = RunJson(File("imgs.yaml", yaml), {"--pull-images"});
  ASSERT_EQ(Reason(pr), "Succeeded") << pr.dump(2);
  EXPECT_EQ(Log("imgs-t", "write"), "1000\n/srv\nID=base\n");
  EXPECT_EQ(Log("imgs-t", "entrypoint"), "args replace Cmd\n");
  EXPECT_EQ(Log("imgs-t", "read"), "hi\nID=other\nno wc\nown layer\nroot cannot unmount\n");
  auto roots = ListFilesRecursive(data_ + "/images/roots");
  ASSERT_TRUE(roots);
  // Nothing a step wrote reached an image's root.
  for (const auto& f : *roots) EXPECT_EQ(f.find("only-here"), std::string::npos) << f;
  auto tr = TaskRuns();
  ASSERT_EQ(tr.size(), 1u);
  EXPECT_FALSE(tr[0]["status"]["strake"].contains("ignoredImages")) << tr[0]["status"].dump(2);
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
  Json missing = RunJson(File("missing.yaml", yaml), {"--pull-images"});
  EXPECT_EQ(Reason(missing), "Failed");
  ReplaceAll(yaml, "name: missing", "name: evil");
  ReplaceAll(yaml, "tools/absent:1", "tools/evil:1");
  Json evil = RunJson(File("evil.yaml", yaml), {"--pull-images"});
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
  Json never = RunJson(File("never.yaml", yaml), {"--pull-images"});
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

}  // namespace
}  // namespace strake::e2e
