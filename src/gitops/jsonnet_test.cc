#include "gitops/jsonnet.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/fs.h"
#include "base/strings.h"
#include "gitops/render.h"
#include "gitops/test_repo.h"

namespace strake::gitops {
namespace {

// This test binary is its own jsonnet evaluator, as strake is (`strake
// __jsonnet`): JsonnetEvaluator runs the running binary.
const bool kIsEvaluator = [] {
  auto cmdline = ReadFile("/proc/self/cmdline", 1 << 16);
  if (!cmdline) return false;
  auto args = Split(*cmdline, '\0');
  if (args.size() >= 2 && args[1] == "__jsonnet") std::exit(JsonnetMain());
  return false;
}();

TEST(ArgoEnvsubst, ExpandsAsGosOsExpand) {
  std::map<std::string, std::string> env{{"ARGOCD_APP_NAME", "web"}, {"A", "x"}};
  EXPECT_EQ(ArgoEnvsubst("$ARGOCD_APP_NAME", env), "web");
  EXPECT_EQ(ArgoEnvsubst("'${ARGOCD_APP_NAME}'-$A.$A", env), "'web'-x.x");
  EXPECT_EQ(ArgoEnvsubst("$UNKNOWN|${UNKNOWN}", env), "|");
  EXPECT_EQ(ArgoEnvsubst("cost: $$5 $", env), "cost: $5 $");
  EXPECT_EQ(ArgoEnvsubst("a $ b", env), "a $ b");  // '$' before no name is kept
  EXPECT_EQ(ArgoEnvsubst("${}x${A", env), "xA");   // bad syntax: "${}" and "${" dropped
  EXPECT_EQ(ArgoEnvsubst("$1$A", env), "x");       // a digit is a (special) name
  EXPECT_EQ(ArgoEnvsubst("no vars", env), "no vars");
}

class JsonnetTest : public GitTest {
 protected:
  Result<Rendered> RenderDir(const std::string& path, const model::ApplicationSource& base = {},
                             const JsonnetLimits& limits = {}) {
    if (!mirror_) mirror_ = Fetched();
    model::ApplicationSource src = base;
    src.path = path;
    RenderOptions o;
    o.jsonnet.limits = limits;
    return Render(*mirror_, Head(), src, o);
  }
  std::unique_ptr<Mirror> mirror_;
};

// Argo CD's test/e2e/testdata/jsonnet-tla: a function of TLAs giving an
// array; TestJsonnetTlaParameterAppliedCorrectly's values.
TEST_F(JsonnetTest, TopLevelArgumentsAndAnArrayOfObjects) {
  Write("tla/guestbook.jsonnet",
        "function(name='guestbook-ui', replicas=1)\n"
        "[{apiVersion: 'v1', kind: 'Service', metadata: {name: name},\n"
        "  spec: {ports: [{port: 80}], selector: {app: name}}},\n"
        " {apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: name},\n"
        "  spec: {replicas: replicas, selector: {matchLabels: {app: name}},\n"
        "    template: {metadata: {labels: {app: name}}, spec: {containers: [\n"
        "      {name: name, image: 'web:1', command: ['sleep', '1']}]}}}}]\n");
  Write("tla/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n");
  Commit("tla");
  auto r = RenderDir("tla");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 3u);  // in the files' order: cm.yaml, then guestbook.jsonnet
  EXPECT_EQ(r->objects[0].object["metadata"]["name"], "plain");
  EXPECT_EQ(r->objects[2].object["metadata"]["name"], "guestbook-ui");
  EXPECT_EQ(r->objects[2].object["spec"]["replicas"], 1);
  EXPECT_EQ(r->objects[1].origin, "tla/guestbook.jsonnet[0]");

  model::ApplicationSource src;
  src.jsonnet_tlas = {{"name", "testing-tla", false}, {"replicas", "0", true}};
  r = RenderDir("tla", src);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->objects[2].object["metadata"]["name"], "testing-tla");
  EXPECT_EQ(r->objects[2].object["spec"]["replicas"], 0);
}

// Argo CD's jsonnet-ext-var: strings and code.
TEST_F(JsonnetTest, ExternalVariables) {
  Write("ext/cm.jsonnet",
        "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'my-map'},\n"
        " data: {foo: std.extVar('foo'), bar: std.extVar('bar')}}\n");
  Commit("ext");
  model::ApplicationSource src;
  src.jsonnet_ext_vars = {{"foo", "a string", false}, {"bar", "'a' + 'b'", true}};
  auto r = RenderDir("ext", src);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 1u);
  EXPECT_EQ(r->objects[0].object["data"]["foo"], "a string");
  EXPECT_EQ(r->objects[0].object["data"]["bar"], "ab");
  EXPECT_EQ(r->objects[0].origin, "ext/cm.jsonnet");

  auto missing = RenderDir("ext");  // no value for foo: jsonnet's own error, with its place
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("ext/cm.jsonnet:2:"), std::string::npos)
      << missing.error().message;
  EXPECT_NE(
      missing.error().message.find("ext/cm.jsonnet: RUNTIME ERROR: undefined external variable:"),
      std::string::npos)
      << missing.error().message;
}

// Argo CD's jsonnet-nested-dir-with-imports: imports relative to the
// importing file, out of source.path but inside the repository; libs.
TEST_F(JsonnetTest, ImportsAreReadFromTheRepositoryAtTheCommit) {
  Write("app/apps/root.jsonnet",
        "local common = import '../include/common.libsonnet';\n"
        "{apiVersion: 'v1', kind: 'Namespace', metadata: {name: common.rootname}}\n");
  Write("app/apps/nested/dir/test.jsonnet",
        "local common = import '../../../include/common.libsonnet';\n"
        "local lib = import 'shared.libsonnet';\n"
        "{apiVersion: 'v1', kind: 'Namespace', metadata: {name: common.name + lib.suffix}}\n");
  Write("app/include/common.libsonnet", "{name: 'hello-world', rootname: importstr 'root.txt'}\n");
  Write("app/include/root.txt", "hello-root");
  Write("vendor/a/shared.libsonnet", "{suffix: '-a'}\n");
  Write("vendor/b/shared.libsonnet", "{suffix: '-b'}\n");
  Commit("nested");
  model::ApplicationSource src;
  src.recurse = true;
  auto r = RenderDir("app/apps", src);
  ASSERT_FALSE(r) << "shared.libsonnet is in no search directory";
  EXPECT_NE(r.error().message.find("import \"shared.libsonnet\": no such file in the repository"),
            std::string::npos)
      << r.error().message;

  src.jsonnet_libs = {"vendor/a", "vendor/b"};  // the last given first, as jsonnet -J
  r = RenderDir("app/apps", src);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].object["metadata"]["name"], "hello-world-b");
  EXPECT_EQ(r->objects[1].object["metadata"]["name"], "hello-root");

  // Written to the work tree only, never committed: not there.
  Write("app/include/common.libsonnet", "{name: 'uncommitted', rootname: 'x'}\n");
  r = RenderDir("app/apps", src);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->objects[1].object["metadata"]["name"], "hello-root");
}

TEST_F(JsonnetTest, NothingOutsideTheRepositoryIsRead) {
  std::string host = dir_ + "/host-secret.txt";
  ASSERT_TRUE(WriteFile(host, "secret"));
  Write("app/abs.jsonnet",
        "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'a'}, data: {s: importstr '" +
            host + "'}}\n");
  Write("app/up.jsonnet",
        "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'b'},\n"
        " data: {s: importstr '../../host-secret.txt'}}\n");
  Commit("escape");
  model::ApplicationSource src;
  src.include = "abs.jsonnet";
  auto r = RenderDir("app", src);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("imports are read from the repository, not by absolute path"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("secret\""), std::string::npos);
  src.include = "up.jsonnet";
  r = RenderDir("app", src);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("leaves the repository"), std::string::npos)
      << r.error().message;

  // Leaving the repository from one search directory is no error when a
  // later one has the file (go-jsonnet goes on to the next -J).
  Write("root/main.jsonnet",
        "local x = import '../shared/x.libsonnet';\n"
        "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: x.name}}\n");
  Write("lib/shared/x.libsonnet", "{name: 'from-lib'}\n");
  Commit("lib");
  mirror_.reset();
  model::ApplicationSource libs;
  libs.jsonnet_libs = {"lib/v"};
  r = RenderDir("root", libs);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->objects[0].object["metadata"]["name"], "from-lib");
}

TEST_F(JsonnetTest, OutputThatIsNoObjectIsRefused) {
  Write("app/n.jsonnet", "[{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'a'}}, 42]\n");
  Write("bad/cm.jsonnet", "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'A_B'}}\n");
  Commit("numbers");
  auto r = RenderDir("app");
  ASSERT_FALSE(r);
  EXPECT_NE(
      r.error().message.find("app/n.jsonnet: jsonnet's output [1] is a number, not an object"),
      std::string::npos)
      << r.error().message;
  r = RenderDir("bad");  // checked by the same decoder as any manifest
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad/cm.jsonnet"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("metadata.name"), std::string::npos) << r.error().message;
}

// The limits: a wall-clock deadline and a memory ceiling, each stopping
// the evaluator's process.
TEST_F(JsonnetTest, ARunawayEvaluationIsStopped) {
  Write("loop/forever.jsonnet",
        "local f(n) = if n == 0 then {} else f(n - 1) tailstrict;\nf(1e15)\n");
  Write("memory/big.jsonnet", "std.length(std.makeArray(1e9, function(i) [i]))\n");
  Commit("runaway");
  JsonnetLimits limits;
  limits.timeout = std::chrono::milliseconds(500);
  auto r = RenderDir("loop", {}, limits);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(
                "loop/forever.jsonnet: jsonnet stopped: it ran longer than the limit of 500ms"),
            std::string::npos)
      << r.error().message;
  limits.timeout = std::chrono::seconds(60);
  limits.max_memory = size_t{256} << 20;
  r = RenderDir("memory", {}, limits);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(
                "memory/big.jsonnet: jsonnet stopped: it used more than the limit of 256 MiB"),
            std::string::npos)
      << r.error().message;
  // std.trace writes to stderr: memory of the server's, not the child's.
  Write("trace/flood.jsonnet",
        "local s = std.join('', std.makeArray(10000, function(i) 'x'));\n"
        "std.foldl(function(a, i) std.trace(s, a), std.range(1, 100000), {})\n");
  Commit("trace");
  mirror_.reset();
  // The default memory limit again: this case is about the traces' limit,
  // which a slow (sanitized, busy) run must reach before 256 MiB of memory
  // (it once did not, in CI).
  limits.max_memory = JsonnetLimits{}.max_memory;
  r = RenderDir("trace", {}, limits);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("jsonnet stopped: it wrote more than"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace strake::gitops
