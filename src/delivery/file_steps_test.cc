#include "delivery/file_steps.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/fs.h"
#include "base/strings.h"
#include "delivery/json_edit.h"
#include "delivery/yaml_edit.h"

namespace strake::delivery {
namespace {

std::vector<KeyPart> Key(const std::string& key) {
  auto parts = SplitKey(key);
  EXPECT_TRUE(parts) << parts.error().message;
  return parts ? *parts : std::vector<KeyPart>{};
}

std::string SetYaml(const std::string& text, const std::string& key, const Json& value) {
  auto out = SetYamlValue(text, Key(key), value);
  return out ? *out : "error: " + out.error().message;
}

std::string SetJson(const std::string& text, const std::string& key, const Json& value) {
  auto out = SetJsonValue(text, Key(key), value);
  return out ? *out : "error: " + out.error().message;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(FileStepsKeys, SplitAsKargoDoes) {
  auto parts = Key(R"(a\.b.:1.c\:d.0)");
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].name, "a.b");
  EXPECT_EQ(parts[1].name, "1");
  EXPECT_TRUE(parts[1].forced_key);
  EXPECT_FALSE(IsIndex(parts[1]));
  EXPECT_EQ(parts[2].name, "c:d");
  EXPECT_TRUE(IsIndex(parts[3]));
  EXPECT_EQ(JoinKey(parts, 1), R"(a\.b)");
  for (const char* bad : {"", ".a", "a.", "a..b", R"(a\nb)", "a:b"})
    EXPECT_FALSE(SplitKey(bad)) << bad;
}

TEST(FileStepsYamlEdit, AnUpdateChangesOnlyTheValueItNames) {
  const std::string in =
      "# Values for the app.\n"
      "image:\n"
      "  repository: example/app  # where it comes from\n"
      "  tag: v1.0.0 # the tag\n"
      "  pullPolicy: \"IfNotPresent\"\n"
      "example.com/version: 'v1'\n"
      "replicas: 2\n"
      "containers:\n"
      "- name: app\n"
      "  image: app:v1.0\n"
      "flow: {a: 1, b: [x, y]}\n";
  std::string out = SetYaml(in, "image.tag", "v1.2.3");
  out = SetYaml(out, R"(example\.com/version)", "v2");
  out = SetYaml(out, "containers.0.image", "app:v2.0");
  out = SetYaml(out, "replicas", 3);
  out = SetYaml(out, "flow.b.1", "z,w");
  out = SetYaml(out, "image.pullPolicy", "Always");
  EXPECT_EQ(out,
            "# Values for the app.\n"
            "image:\n"
            "  repository: example/app  # where it comes from\n"
            "  tag: v1.2.3 # the tag\n"
            "  pullPolicy: \"Always\"\n"
            "example.com/version: 'v2'\n"
            "replicas: 3\n"
            "containers:\n"
            "- name: app\n"
            "  image: app:v2.0\n"
            "flow: {a: 1, b: [x, \"z,w\"]}\n");
  EXPECT_EQ(SetYaml(out, "image.tag", "v1.2.3"), out);  // the same again: nothing changes
}

TEST(FileStepsYamlEdit, AValueKeepsTheTypeItWasGiven) {
  const std::string in = "v: x\n";
  EXPECT_EQ(SetYaml(in, "v", "1.2"), "v: \"1.2\"\n");
  EXPECT_EQ(SetYaml(in, "v", 1.2), "v: 1.2\n");
  EXPECT_EQ(SetYaml(in, "v", 7), "v: 7\n");
  EXPECT_EQ(SetYaml(in, "v", true), "v: true\n");
  EXPECT_EQ(SetYaml(in, "v", "true"), "v: \"true\"\n");
  EXPECT_EQ(SetYaml(in, "v", "yes"), "v: \"yes\"\n");
  EXPECT_EQ(SetYaml(in, "v", "~"), "v: \"~\"\n");
  EXPECT_EQ(SetYaml(in, "v", ""), "v: \"\"\n");
  EXPECT_EQ(SetYaml(in, "v", nullptr), "v: null\n");
  EXPECT_EQ(SetYaml(in, "v", "a: b"), "v: \"a: b\"\n");
  EXPECT_EQ(SetYaml(in, "v", "a #b"), "v: \"a #b\"\n");
  EXPECT_EQ(SetYaml(in, "v", "two\nlines"), "v: \"two\\nlines\"\n");
  EXPECT_EQ(SetYaml(in, "v", "-x"), "v: -x\n");
  EXPECT_EQ(SetYaml(in, "v", "- x"), "v: \"- x\"\n");
  EXPECT_EQ(SetYaml(in, "v", "it's"), "v: it's\n");
  EXPECT_EQ(SetYaml("v: 'a'\n", "v", "it's"), "v: 'it''s'\n");
  EXPECT_EQ(SetYaml("v: \"a\"\n", "v", 5), "v: 5\n");  // a number is a number
  EXPECT_TRUE(Has(SetYaml(in, "v", Json::array()), "scalars only"));
}

TEST(FileStepsYamlEdit, BlockScalarsEmptyValuesAndUnicodeAreSplicedWhole) {
  EXPECT_EQ(SetYaml("script: |\n  echo hi\n  echo there\n# after\nnext: 1\n", "script", "run"),
            "script: run\n# after\nnext: 1\n");
  EXPECT_EQ(SetYaml("a:\nb: 1\n", "a", "x"), "a: x\nb: 1\n");
  EXPECT_EQ(SetYaml("long: one\n  two\nz: 1\n", "long", "x"), "long: x\nz: 1\n");
  // libyaml counts characters; the splice is in bytes.
  EXPECT_EQ(SetYaml("n: \"héllo wörld\" # ü\ntag: v1\n", "tag", "v2"),
            "n: \"héllo wörld\" # ü\ntag: v2\n");
  EXPECT_EQ(SetYaml("\xEF\xBB\xBFtag: v1\r\nx: y\r\n", "tag", "v2"),
            "\xEF\xBB\xBFtag: v2\r\nx: y\r\n");
  EXPECT_EQ(SetYaml("a: 1\n---\na: 2\n", "a", 3), "a: 3\n---\na: 2\n");  // the first document
  EXPECT_EQ(SetYaml("a: \"ü€😀\" # €\nb: [x, 😀]\n", "b.1", "z"), "a: \"ü€😀\" # €\nb: [x, z]\n");
}

TEST(FileStepsYamlEdit, OnlyScalarsThatExistAreSet) {
  const std::string in = "image:\n  tag: v1\nlist:\n- a\nbase: &b v1\nother: *b\n";
  EXPECT_TRUE(Has(SetYaml(in, "image.tagg", "x"), R"(has no key "tagg" (did you mean "tag"?))"));
  EXPECT_TRUE(Has(SetYaml(in, "list.3", "x"), "has 1 items: no index 3"));
  EXPECT_TRUE(Has(SetYaml(in, "list.x", "x"), R"("x" is not an index)"));
  EXPECT_TRUE(Has(SetYaml(in, "image", "x"), "is a mapping, not a scalar"));
  EXPECT_TRUE(Has(SetYaml(in, "image.tag.x", "x"), "is a scalar, not a mapping or a list"));
  EXPECT_TRUE(Has(SetYaml(in, "other", "x"), "is an alias, not a scalar"));
  EXPECT_TRUE(Has(SetYaml(in, "base", "x"), "has an anchor or a tag: not supported yet"));
  EXPECT_TRUE(Has(SetYaml("a: [1\n", "a", "x"), "line"));
  EXPECT_TRUE(Has(SetYaml("", "a", "x"), "no YAML document"));
}

TEST(FileStepsJsonEdit, SetsAndAddsKeysKeepingTheFilesFormatting) {
  const std::string in =
      "{\n"
      "  \"image\": {\n"
      "    \"tag\": \"v1.0.0\"\n"
      "  },\n"
      "  \"list\": [1, 2],\n"
      "  \"n\": 5\n"
      "}\n";
  std::string out = SetJson(in, "image.tag", "v2");
  out = SetJson(out, "image.digest", "sha256:abc");
  out = SetJson(out, "list.3", 9);
  out = SetJson(out, "new.deep.0", true);
  out = SetJson(out, "list.0", 1.5);
  EXPECT_EQ(out,
            "{\n"
            "  \"image\": {\n"
            "    \"tag\": \"v2\",\n"
            "    \"digest\": \"sha256:abc\"\n"
            "  },\n"
            "  \"list\": [1.5, 2, null, 9],\n"
            "  \"n\": 5,\n"
            "  \"new\": {\"deep\":[true]}\n"
            "}\n");
  EXPECT_EQ(SetJson("{}", R"(a\.b)", "x"), R"({"a.b":"x"})");
  EXPECT_EQ(SetJson("", "a.:0", 1), R"({"a":{"0":1}})");
  EXPECT_EQ(SetJson("[]", "1", "q\""), R"([null,"q\""])");
  EXPECT_EQ(SetJson("\xEF\xBB\xBF{\"a\": 1}", "a", 2), "\xEF\xBB\xBF{\"a\": 2}");
}

TEST(FileStepsJsonEdit, RefusesWhatSjsonWouldDoDifferentlyOrBadly) {
  const std::string in = R"({"n": 5, "list": [1]})";
  EXPECT_TRUE(Has(SetJson(in, "list.-1", 2), "-1 (append) is not supported"));
  EXPECT_TRUE(Has(SetJson(in, "n.x", 2), R"("n" is a number, not an object or a list)"));
  EXPECT_TRUE(Has(SetJson(in, "list.x", 2), R"("x" is not an index)"));
  EXPECT_TRUE(Has(SetJson(in, "a#b", 2), "query syntax is not supported yet"));
  EXPECT_TRUE(Has(SetJson("{\"a\": ", "a", 2), "not valid JSON"));
  EXPECT_TRUE(Has(SetJson(in, "n", nullptr), "a string, a number or a boolean"));
}

const char* const kKustomization =
    "# The dev overlay.\n"
    "apiVersion: kustomize.config.k8s.io/v1beta1\n"
    "kind: Kustomization\n"
    "resources:\n"
    "- ../base # shared\n"
    "images:\n"
    "- name: nginx # the proxy\n"
    "  newTag: \"1.25\"\n"
    "- name: example/app\n"
    "  newTag: v1\n"
    "# after the images\n"
    "namePrefix: dev-\n";

TEST(FileStepsKustomizeEdit, SetsImagesKeepingEveryOtherLine) {
  std::vector<KustomizeImage> targets = {{"example/app", "", "v2", ""},
                                         {"redis", "", "", "sha256:abc"}};
  auto edit = SetKustomizeImages(kKustomization, targets);
  ASSERT_TRUE(edit) << edit.error().message;
  EXPECT_EQ(edit->text,
            "# The dev overlay.\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "- ../base # shared\n"
            "images:\n"
            "- name: example/app\n"
            "  newTag: v2\n"
            "- name: nginx # the proxy\n"
            "  newTag: \"1.25\"\n"
            "- name: redis\n"
            "  digest: sha256:abc\n"
            "# after the images\n"
            "namePrefix: dev-\n");
  ASSERT_EQ(edit->images.size(), 3u);
  EXPECT_EQ(edit->images[1], (KustomizeImage{"nginx", "", "1.25", ""}));
  auto again = SetKustomizeImages(edit->text, targets);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->text, edit->text);
}

TEST(FileStepsKustomizeEdit, AddsImagesAndKeepsFieldsMarkedWithAStar) {
  auto added = SetKustomizeImages("resources:\n  - deploy.yaml\n", {{"nginx", "", "1.26", ""}});
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->text,
            "resources:\n  - deploy.yaml\nimages:\n- name: nginx\n  newTag: \"1.26\"\n");
  auto empty = SetKustomizeImages("kind: Kustomization\nimages: [] # none\n", {{"a", "", "2", ""}});
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->text, "kind: Kustomization\nimages:\n- name: a\n  newTag: \"2\"\n");
  auto star = SetKustomizeImages(
      "images:\n  - name: nginx\n    newName: my/nginx\n    newTag: \"1\"\n  - name: b\n",
      {{"nginx", "*", "2", ""}});
  ASSERT_TRUE(star) << star.error().message;
  EXPECT_EQ(star->text,
            "images:\n  - name: b\n  - name: nginx\n    newName: my/nginx\n    newTag: \"2\"\n");
  EXPECT_FALSE(SetKustomizeImages("- a\n", {{"a", "", "1", ""}}));
  EXPECT_FALSE(SetKustomizeImages("images: 5\n", {{"a", "", "1", ""}}));
  auto anchored = SetKustomizeImages("images: &i\n- name: a\n", {{"a", "", "1", ""}});
  ASSERT_FALSE(anchored);
  EXPECT_TRUE(Has(anchored.error().message, "anchor"));
}

// --- the steps ---------------------------------------------------------------

class FileStepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("file-steps");
    ASSERT_TRUE(dir) << dir.error().message;
    root_ = *dir;
    work_ = root_ + "/promo";
    ASSERT_TRUE(MakeDirs(work_));
    ASSERT_TRUE(MakeDirs(root_ + "/outside"));
    ASSERT_TRUE(WriteFile(root_ + "/outside/secret.yaml", "tag: keep\n"));
    AddFileSteps(steps_);
  }
  void TearDown() override { (void)RemoveAll(root_); }

  StepOutcome Run(const std::string& uses, const Json& config, const std::string& alias = "s") {
    StepContext ctx;
    ctx.project = "demo";
    ctx.stage = "dev";
    ctx.promotion = "dev.01abc.f00";
    ctx.alias = alias;
    ctx.work_dir = work_;
    ctx.config = config;
    ctx.freight = &freight_;
    return steps_.Find(uses)->Run(ctx);
  }
  // The error of a step that must fail ("" if it succeeded).
  std::string Error(const std::string& uses, const Json& config) {
    StepOutcome out = Run(uses, config);
    EXPECT_EQ(out.attempt.status, StepStatus::kErrored) << uses << " " << config.dump();
    return out.attempt.error;
  }
  void Put(const std::string& rel, const std::string& text) {
    std::string path = work_ + "/" + rel;
    ASSERT_TRUE(MakeDirs(path.substr(0, path.rfind('/'))));
    ASSERT_TRUE(WriteFile(path, text));
  }
  std::string Get(const std::string& rel) {
    return ReadFile(work_ + "/" + rel).value_or("<missing>");
  }  // The Promotion's Freight: none of its artifacts is an image unless a
  // test gives it one.
  store::Resource freight_;

  void Link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), (work_ + "/" + rel).c_str()), 0) << rel;
  }

  StepRegistry steps_;
  std::string root_, work_;
};

TEST_F(FileStepsTest, NamesAreSortedAndRegistered) {
  const auto& names = FileStepNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& n : names) EXPECT_NE(steps_.Find(n), nullptr) << n;
  EXPECT_EQ(steps_.Names(), names);
}

TEST_F(FileStepsTest, YamlParseAndJsonParseEvaluateTheirExpressions) {
  Put("src/values.yaml", "image:\n  tag: \"v1.2.3\"\nreplicas: 3\nports: [80, 443]\n");
  StepOutcome y = Run("yaml-parse", {{"path", "./src/values.yaml"},
                                     {"outputs",
                                      {{{"name", "imageTag"}, {"fromExpression", "image.tag"}},
                                       {{"name", "more"}, {"fromExpression", "replicas + 1"}},
                                       {{"name", "ports"}, {"fromExpression", "len(ports)"}}}}});
  ASSERT_EQ(y.attempt.status, StepStatus::kSucceeded) << y.attempt.error;
  EXPECT_EQ(y.output, (Json{{"imageTag", "v1.2.3"}, {"more", 4}, {"ports", 2}}));
  Put("src/config.json", R"({"image": {"tag": "v9"}})");
  StepOutcome j =
      Run("json-parse", {{"path", "src/config.json"},
                         {"outputs", {{{"name", "t"}, {"fromExpression", "image.tag"}}}}});
  ASSERT_EQ(j.attempt.status, StepStatus::kSucceeded) << j.attempt.error;
  EXPECT_EQ(j.output, (Json{{"t", "v9"}}));
  EXPECT_TRUE(Has(Error("yaml-parse", {{"path", "src/values.yaml"},
                                       {"outputs", {{{"name", "x"}, {"fromExpression", "imag"}}}}}),
                  R"(config.outputs[0].fromExpression: "imag": col 1: unknown name "imag")"));
  StepOutcome bad = Run("json-parse", {{"path", "src/config.json"},
                                       {"outputs", {{{"name", "x"}, {"fromExpression", "(("}}}}});
  EXPECT_TRUE(bad.attempt.terminal);
  EXPECT_TRUE(Has(bad.attempt.error, "config.outputs[0].fromExpression:")) << bad.attempt.error;
  EXPECT_TRUE(Has(Error("json-parse", {{"path", "src/values.yaml"},
                                       {"outputs", {{{"name", "x"}, {"fromExpression", "a"}}}}}),
                  "is not valid JSON"));
  EXPECT_TRUE(Has(Error("yaml-parse", {{"path", "src/nope.yaml"},
                                       {"outputs", {{{"name", "x"}, {"fromExpression", "a"}}}}}),
                  R"(config.path: "src/nope.yaml" does not exist)"));
}

TEST_F(FileStepsTest, YamlUpdateWritesInPlaceAndIsSafeToRunAgain) {
  const std::string values = "# chart values\nimage:\n  tag: v1 # pinned\n  repo: app\n";
  Put("src/values.yaml", values);
  ASSERT_EQ(::chmod((work_ + "/src/values.yaml").c_str(), 0644), 0);
  Json cfg = {
      {"path", "./src/values.yaml"},
      {"updates",
       {{{"key", "image.tag"}, {"value", "1.2"}}, {{"key", "image.repo"}, {"value", "x/app"}}}}};
  for (int run = 0; run < 2; ++run) {
    StepOutcome out = Run("yaml-update", cfg);
    ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
    EXPECT_EQ(out.output["commitMessage"],
              "Updated ./src/values.yaml\n\n- image.tag: \"1.2\"\n- image.repo: x/app");
    EXPECT_EQ(Get("src/values.yaml"),
              "# chart values\nimage:\n  tag: \"1.2\" # pinned\n  repo: x/app\n");
  }
  struct stat st {};
  ASSERT_EQ(::stat((work_ + "/src/values.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // the file keeps its mode
  EXPECT_FALSE(PathExists(work_ + "/src/.values.yaml.strake-tmp"));
  cfg["updates"][1]["key"] = "image.repoo";
  StepOutcome missing = Run("yaml-update", cfg);
  EXPECT_TRUE(Has(missing.attempt.error, R"(config.updates[1].key: "image.repoo": )"))
      << missing.attempt.error;
  EXPECT_TRUE(Has(missing.attempt.error, R"(did you mean "repo"?)"));
  EXPECT_EQ(Get("src/values.yaml"),
            "# chart values\nimage:\n  tag: \"1.2\" # pinned\n  repo: x/app\n");
}

TEST_F(FileStepsTest, JsonUpdateSetsAndMakesKeys) {
  Put("cfg/settings.json", "{\n  \"image\": {\n    \"tag\": \"v1\"\n  }\n}\n");
  Json cfg = {
      {"path", "cfg/settings.json"},
      {"updates", {{{"key", "image.tag"}, {"value", "v2"}}, {{"key", "replicas"}, {"value", 3}}}}};
  for (int run = 0; run < 2; ++run) {
    StepOutcome out = Run("json-update", cfg);
    ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
    EXPECT_EQ(out.output["commitMessage"],
              "Updated cfg/settings.json\n\n- image.tag: \"v2\"\n- replicas: 3");
  }
  EXPECT_EQ(Get("cfg/settings.json"),
            "{\n  \"image\": {\n    \"tag\": \"v2\"\n  },\n  \"replicas\": 3\n}\n");
  cfg["updates"][0]["value"] = Json::object();
  StepOutcome typed = Run("json-update", cfg);
  EXPECT_TRUE(typed.attempt.terminal);
  EXPECT_TRUE(
      Has(typed.attempt.error, "config.updates[0].value must be a string, a number or a boolean"))
      << typed.attempt.error;
}

TEST_F(FileStepsTest, CopyCopiesFilesAndTreesButNotLinksGitOrIgnoredFiles) {
  Put("src/app/a.yaml", "a\n");
  Put("src/app/sub/b.yaml", "b\n");
  Put("src/app/notes.md", "n\n");
  Put("src/app/.git/config", "secret\n");
  Put("src/app/tmp/x", "x\n");
  ASSERT_EQ(::chmod((work_ + "/src/app/a.yaml").c_str(), 0755), 0);
  Link(root_ + "/outside/secret.yaml", "src/app/leak.yaml");
  Json cfg = {{"inPath", "src/app"}, {"outPath", "out/app"}, {"ignore", "# docs\n*.md\ntmp/\n"}};
  for (int run = 0; run < 2; ++run) {
    StepOutcome out = Run("copy", cfg);
    ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
  }
  EXPECT_EQ(Get("out/app/a.yaml"), "a\n");
  EXPECT_EQ(Get("out/app/sub/b.yaml"), "b\n");
  EXPECT_FALSE(PathExists(work_ + "/out/app/notes.md"));
  EXPECT_FALSE(PathExists(work_ + "/out/app/tmp"));
  EXPECT_FALSE(PathExists(work_ + "/out/app/.git"));
  EXPECT_FALSE(PathExists(work_ + "/out/app/leak.yaml"));
  struct stat st {};
  ASSERT_EQ(::stat((work_ + "/out/app/a.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  StepOutcome file = Run("copy", {{"inPath", "src/app/a.yaml"}, {"outPath", "out/one/a.yaml"}});
  ASSERT_EQ(file.attempt.status, StepStatus::kSucceeded) << file.attempt.error;
  EXPECT_EQ(Get("out/one/a.yaml"), "a\n");
  EXPECT_TRUE(Has(Error("copy", {{"inPath", "src"}, {"outPath", "src/inner"}}),
                  "config.outPath: \"src/inner\" is inside config.inPath"));
  EXPECT_TRUE(Has(Error("copy", {{"inPath", "nope"}, {"outPath", "x"}}),
                  R"(config.inPath: "nope" does not exist)"));
}

TEST_F(FileStepsTest, DeleteRemovesPathsAndGlobsAndStrictIsSafeToRunAgain) {
  Put("out/a.yaml", "a");
  Put("out/keep.txt", "k");
  Put("out/sub/b.yaml", "b");
  Put("out/.git/HEAD", "ref");
  Put("old/x", "x");
  Json strict = {{"paths", {"old", "out/keep.txt"}}, {"strict", true}};
  ASSERT_EQ(Run("delete", strict).attempt.status, StepStatus::kSucceeded);
  EXPECT_FALSE(PathExists(work_ + "/old"));
  EXPECT_FALSE(PathExists(work_ + "/out/keep.txt"));
  // Run again (a crash before its end was recorded): it did find them.
  StepOutcome again = Run("delete", strict);
  EXPECT_EQ(again.attempt.status, StepStatus::kSucceeded) << again.attempt.error;
  // Another step (another alias) is strict about them.
  StepOutcome other = Run("delete", strict, "other");
  EXPECT_TRUE(Has(other.attempt.error, R"(config.paths[0]: "old" does not exist (strict))"))
      << other.attempt.error;
  EXPECT_EQ(Run("delete", {{"path", "old"}}).attempt.status, StepStatus::kSucceeded);
  StepOutcome globs = Run("delete", {{"path", "./out/**/*.yaml"}, {"pathsAreGlobs", true}});
  ASSERT_EQ(globs.attempt.status, StepStatus::kSucceeded) << globs.attempt.error;
  EXPECT_FALSE(PathExists(work_ + "/out/a.yaml"));
  EXPECT_FALSE(PathExists(work_ + "/out/sub/b.yaml"));
  EXPECT_TRUE(PathExists(work_ + "/out/sub"));
  EXPECT_TRUE(PathExists(work_ + "/out/.git/HEAD"));
  EXPECT_TRUE(Has(Error("delete", {{"path", "*.none"}, {"pathsAreGlobs", true}, {"strict", true}}),
                  R"("*.none" matches nothing (strict))"));
  EXPECT_TRUE(
      Has(Error("delete", {{"path", "a"}, {"paths", {"b"}}}), "exactly one of path and paths"));
  EXPECT_TRUE(Has(Error("delete", {{"path", "out/.git"}}), "inside a .git directory"));
}

TEST_F(FileStepsTest, KustomizeSetImageKeepsTheKustomizationsOtherBytes) {
  Put("src/base/kustomization.yaml", kKustomization);
  Json cfg = {{"path", "./src/base"},
              {"images",
               {{{"image", "example/app"}, {"tag", "v2"}},
                {{"image", "docker.io/redis"}, {"name", "redis"}, {"digest", "sha256:abc"}}}}};
  for (int run = 0; run < 2; ++run) {
    StepOutcome out = Run("kustomize-set-image", cfg);
    ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
    EXPECT_EQ(out.output["commitMessage"],
              "Updated ./src/base to use new images\n\n- example/app:v2\n- nginx:1.25\n"
              "- redis@sha256:abc");
  }
  const std::string text = Get("src/base/kustomization.yaml");
  EXPECT_TRUE(Has(text,
                  "- ../base # shared\nimages:\n- name: example/app\n  newTag: v2\n"
                  "- name: nginx # the proxy\n  newTag: \"1.25\"\n- name: redis\n"
                  "  digest: sha256:abc\n# after the images\nnamePrefix: dev-\n"))
      << text;
  EXPECT_TRUE(StartsWith(text, "# The dev overlay.\n"));
  // The lookup forms take the Freight's image artifacts: none here.
  StepOutcome lookup =
      Run("kustomize-set-image", {{"path", "src/base"}, {"images", {{{"image", "a"}}}}});
  EXPECT_TRUE(lookup.attempt.terminal);
  EXPECT_TRUE(
      Has(lookup.attempt.error, "config.images[0].image: the Freight has no image of \"a\""))
      << lookup.attempt.error;
  EXPECT_TRUE(Has(Error("kustomize-set-image", {{"path", "src/base"}}),
                  "config.images: none given, and the Freight has no images"));
  // With an image built by a pipeline: its tag, or with useDigest its digest.
  const std::string digest = "sha256:" + std::string(64, 'd');
  freight_.object = {{"origin", {{"kind", "Warehouse"}, {"name", "web"}}},
                     {"artifacts",
                      {{{"artifactType", "image"},
                        {"subscriptionName", "web"},
                        {"version", digest},
                        {"metadata", {{"uri", "127.0.0.1:5000/web:1.4"}}}}}}};
  StepOutcome tagged = Run("kustomize-set-image",
                           {{"path", "src/base"}, {"images", {{{"image", "127.0.0.1:5000/web"}}}}});
  ASSERT_EQ(tagged.attempt.status, StepStatus::kSucceeded) << tagged.attempt.error;
  EXPECT_TRUE(Has(Get("src/base/kustomization.yaml"),
                  "- name: \"127.0.0.1:5000/web\"\n  newTag: \"1.4\"\n"))
      << Get("src/base/kustomization.yaml");
  StepOutcome every = Run("kustomize-set-image", {{"path", "src/base"}});
  ASSERT_EQ(every.attempt.status, StepStatus::kSucceeded) << every.attempt.error;
  StepOutcome pinned = Run(
      "kustomize-set-image",
      {{"path", "src/base"}, {"images", {{{"image", "127.0.0.1:5000/web"}, {"useDigest", true}}}}});
  ASSERT_EQ(pinned.attempt.status, StepStatus::kSucceeded) << pinned.attempt.error;
  EXPECT_TRUE(Has(Get("src/base/kustomization.yaml"),
                  "- name: \"127.0.0.1:5000/web\"\n  digest: " + digest + "\n"))
      << Get("src/base/kustomization.yaml");
  EXPECT_TRUE(Has(Error("kustomize-set-image",
                        {{"path", "src/base"},
                         {"images",
                          {{{"image", "127.0.0.1:5000/web"},
                            {"fromOrigin", {{"kind", "Warehouse"}, {"name", "other"}}}}}}}),
                  "config.images[0].fromOrigin: the Promotion's Freight comes from Warehouse "
                  "\"web\", not \"other\""));
  // With an image a Warehouse's image subscription found (Kargo's Freight
  // images): the same lookups.
  const std::string found = "sha256:" + std::string(64, 'e');
  freight_.object = {
      {"origin", {{"kind", "Warehouse"}, {"name", "web"}}},
      {"images", {{{"repoURL", "ghcr.io/team/api"}, {"tag", "v3.1.0"}, {"digest", found}}}}};
  StepOutcome from_images = Run("kustomize-set-image", {{"path", "src/base"}});
  ASSERT_EQ(from_images.attempt.status, StepStatus::kSucceeded) << from_images.attempt.error;
  EXPECT_TRUE(Has(Get("src/base/kustomization.yaml"),
                  "- name: ghcr.io/team/api\n  newTag: v3.1.0\n  digest: " + found + "\n"))
      << Get("src/base/kustomization.yaml");
  EXPECT_TRUE(Has(Error("kustomize-set-image",
                        {{"path", "src/base"},
                         {"images", {{{"image", "a"}, {"tag", "1"}, {"digest", "sha256:x"}}}}}),
                  "config.images[0].tag and digest are mutually exclusive"));
  EXPECT_TRUE(Has(
      Error("kustomize-set-image", {{"path", "src"}, {"images", {{{"image", "a"}, {"tag", "1"}}}}}),
      "config.path: no kustomization.yaml"));
}

TEST_F(FileStepsTest, KustomizeBuildWritesOneFileOrAFilePerObject) {
  Put("src/base/kustomization.yaml", "resources:\n- deploy.yaml\n- ns.yaml\nnamespace: prod\n");
  Put("src/base/deploy.yaml",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n");
  Put("src/base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n");
  Put("src/dev/kustomization.yaml", "resources:\n- ../base\nnamePrefix: dev-\n");
  for (int run = 0; run < 2; ++run) {
    StepOutcome out = Run("kustomize-build", {{"path", "src/dev"}, {"outPath", "out/all.yaml"}});
    ASSERT_EQ(out.attempt.status, StepStatus::kSucceeded) << out.attempt.error;
  }
  const std::string all = Get("out/all.yaml");
  EXPECT_TRUE(Has(all, "kind: Deployment\nmetadata:\n  name: dev-app\n  namespace: prod\n")) << all;
  EXPECT_TRUE(Has(all, "---\n")) << all;
  StepOutcome dir = Run("kustomize-build", {{"path", "src/dev"}, {"outPath", "out/dir"}});
  ASSERT_EQ(dir.attempt.status, StepStatus::kSucceeded) << dir.attempt.error;
  EXPECT_TRUE(PathExists(work_ + "/out/dir/prod-deployment-dev-app.yaml"));
  EXPECT_TRUE(PathExists(work_ + "/out/dir/namespace-prod.yaml"));
  StepOutcome kz = Run("kustomize-build",
                       {{"path", "src/dev"}, {"outPath", "out/kz"}, {"outputFormat", "kustomize"}});
  ASSERT_EQ(kz.attempt.status, StepStatus::kSucceeded) << kz.attempt.error;
  EXPECT_TRUE(PathExists(work_ + "/out/kz/apps_v1_deployment_dev-app.yaml"));
  EXPECT_TRUE(PathExists(work_ + "/out/kz/v1_namespace_prod.yaml"));
  StepOutcome plugin =
      Run("kustomize-build",
          {{"path", "src/dev"}, {"outPath", "o.yaml"}, {"plugin", {{"helm", Json::object()}}}});
  EXPECT_TRUE(plugin.attempt.terminal);
  EXPECT_TRUE(Has(plugin.attempt.error, "config.plugin: not supported yet"))
      << plugin.attempt.error;
  EXPECT_TRUE(
      Has(Error("kustomize-build", {{"path", "src/dev"}, {"outPath", "o"}, {"outputFormat", "x"}}),
          "config.outputFormat"));
}

// Every path stays in the working directory: no "..", no absolute path, no
// link that leads out, read or written.
// A clone may hold a link into its own .git (`g -> .git`): no file step
// writes through it (a clone's config names the commands git runs).
TEST_F(FileStepsTest, NoFileStepWritesIntoAGitDirectoryThroughALink) {
  Put("src/.git/config", "core: v\n");  // YAML, so that only the write can refuse it
  Put("src/app.yaml", "tag: v1\n");
  Link(".git", "src/g");
  const Json one_update = {{{"key", "core"}, {"value", "x"}}};
  EXPECT_TRUE(Has(Error("yaml-update", {{"path", "src/g/config"}, {"updates", one_update}}),
                  "leads into a .git directory"));
  EXPECT_TRUE(Has(Error("copy", {{"inPath", "src/app.yaml"}, {"outPath", "src/g/hooks/x"}}),
                  "leads into a .git directory"));
  EXPECT_TRUE(Has(Error("delete", {{"path", "src/g/config"}}), "leads into a .git directory"));
  EXPECT_EQ(Get("src/.git/config"), "core: v\n");
}

TEST_F(FileStepsTest, NoPathLeavesTheWorkingDirectory) {
  Link(root_ + "/outside", "out");
  Link(root_ + "/outside/secret.yaml", "secret.yaml");
  const Json one_output = {{{"name", "x"}, {"fromExpression", "tag"}}};
  const Json one_update = {{{"key", "tag"}, {"value", "stolen"}}};
  for (const std::string bad : {"../outside/secret.yaml", "/etc/passwd", "a/../../x"}) {
    EXPECT_TRUE(Has(Error("yaml-update", {{"path", bad}, {"updates", one_update}}),
                    "must name a path inside the working directory"))
        << bad;
    EXPECT_TRUE(Has(Error("copy", {{"inPath", "x"}, {"outPath", bad}}), "config.outPath")) << bad;
    EXPECT_TRUE(Has(Error("delete", {{"path", bad}}), "config.path")) << bad;
  }
  EXPECT_TRUE(Has(Error("yaml-parse", {{"path", "out/secret.yaml"}, {"outputs", one_output}}),
                  "leads out of the working directory"));
  EXPECT_TRUE(Has(Error("yaml-update", {{"path", "secret.yaml"}, {"updates", one_update}}),
                  "leads out of the working directory"));
  EXPECT_TRUE(Has(Error("json-update", {{"path", "out/secret.yaml"}, {"updates", one_update}}),
                  "leads out of the working directory"));
  Put("src/values.yaml", "tag: mine\n");
  EXPECT_FALSE(Run("copy", {{"inPath", "src/values.yaml"}, {"outPath", "out/x.yaml"}})
                   .attempt.error.empty());
  EXPECT_FALSE(Run("copy", {{"inPath", "out"}, {"outPath", "mine"}}).attempt.error.empty());
  EXPECT_FALSE(
      Run("kustomize-build", {{"path", "src"}, {"outPath", "out/x.yaml"}}).attempt.error.empty());
  EXPECT_FALSE(PathExists(root_ + "/outside/x.yaml"));
  EXPECT_FALSE(Run("delete", {{"path", "out/secret.yaml"}}).attempt.error.empty());
  // A link itself is deleted as a link; its target stays.
  ASSERT_EQ(Run("delete", {{"path", "secret.yaml"}}).attempt.status, StepStatus::kSucceeded);
  EXPECT_FALSE(PathExists(work_ + "/secret.yaml"));
  EXPECT_EQ(ReadFile(root_ + "/outside/secret.yaml").value_or(""), "tag: keep\n");
  ASSERT_EQ(Run("delete", {{"path", "**"}, {"pathsAreGlobs", true}}).attempt.status,
            StepStatus::kSucceeded);
  EXPECT_FALSE(PathExists(work_ + "/out"));
  EXPECT_EQ(ReadFile(root_ + "/outside/secret.yaml").value_or(""), "tag: keep\n");
  Put("k/kustomization.yaml", "resources:\n- leak.yaml\n");
  Link(root_ + "/outside/secret.yaml", "k/leak.yaml");
  EXPECT_TRUE(Has(Error("kustomize-build", {{"path", "k"}, {"outPath", "o.yaml"}}),
                  "leads out of the directory"));
}

TEST_F(FileStepsTest, ConfigErrorsNameTheFieldAndEndTheStep) {
  StepOutcome unknown =
      Run("yaml-update", {{"path", "v.yaml"}, {"updates", {{{"key", "a"}, {"vaule", 1}}}}});
  EXPECT_TRUE(unknown.attempt.terminal);
  EXPECT_TRUE(Has(unknown.attempt.error,
                  R"(config.updates[0].vaule: unknown field (did you mean "value"?))"))
      << unknown.attempt.error;
  EXPECT_TRUE(
      Has(Error("yaml-update",
                {{"path", "v.yaml"},
                 {"updates", {{{"key", "a"}, {"value", 1}}, {{"key", "a..b"}, {"value", 1}}}}}),
          "config.updates[1].key: empty key part"));
  EXPECT_TRUE(Has(Error("yaml-update", {{"path", "v.yaml"}, {"updates", Json::array()}}),
                  "config.updates: at least one is required"));
  EXPECT_TRUE(Has(Error("copy", {{"inPath", "a"}}), "config.outPath is required"));
  EXPECT_TRUE(Has(Error("delete", {{"path", "a"}, {"strict", "yes"}}),
                  "config.strict must be true or false"));
  EXPECT_TRUE(Has(Error("json-parse", {{"path", 3}, {"outputs", Json::array()}}),
                  "config.path must be a string"));
}

}  // namespace
}  // namespace strake::delivery
