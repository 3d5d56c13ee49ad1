#include "gitops/kustomize.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gitops/test_repo.h"

namespace strake::gitops {
namespace {

using model::Json;

class KustomizeTest : public GitTest {
 protected:
  Result<std::vector<KustomizedObject>> Build(const std::string& dir) {
    std::string sha = Commit("k");
    mirror_ = Fetched();
    return Kustomize(*mirror_, sha, dir);
  }
  static const Json* Find(const std::vector<KustomizedObject>& objs, const std::string& kind,
                          const std::string& name) {
    for (const auto& o : objs) {
      if (o.object.value("kind", "") == kind && o.object["metadata"].value("name", "") == name)
        return &o.object;
    }
    return nullptr;
  }
  std::unique_ptr<Mirror> mirror_;
};

const char* kDeploy = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local:5000/web:v1
        envFrom: [{configMapRef: {name: app-config}}]
        env: [{name: A, value: "1"}]
      - name: sidecar
        image: proxy:1.0
)";

const char* kService = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
)";

TEST_F(KustomizeTest, AnOverlayOnABase) {
  Write("base/kustomization.yaml", "resources: [deploy.yaml, svc.yaml]\n");
  Write("base/deploy.yaml", kDeploy);
  Write("base/svc.yaml", kService);
  Write("overlays/dev/kustomization.yaml", R"(apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
namespace: dev
namePrefix: dev-
commonLabels: {env: dev}
commonAnnotations: {team: shop}
images:
- {name: registry.local:5000/web, newTag: v2}
configMapGenerator:
- name: app-config
  literals: [MODE=fast, "GREETING=\"hi there\""]
  files: [settings.ini, renamed.txt=extra.txt]
secretGenerator:
- name: creds
  literals: [password=s3cret]
replicas:
- {name: web, count: 3}
patches:
- patch: |
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      template:
        spec:
          containers:
          - name: web
            env: [{name: B, value: "2"}]
          - name: sidecar
            $patch: delete
- target: {kind: Service, name: web}
  patch: |
    - {op: replace, path: /spec/ports/0/port, value: 8000}
)");
  Write("overlays/dev/settings.ini", "level=3\n");
  Write("overlays/dev/extra.txt", "more");
  auto built = Build("overlays/dev");
  ASSERT_TRUE(built) << built.error().message;
  ASSERT_EQ(built->size(), 4u);

  const Json* cm = nullptr;
  for (const auto& o : *built) {
    if (o.object["kind"] == "ConfigMap") cm = &o.object;
  }
  ASSERT_NE(cm, nullptr);
  std::string cm_name = (*cm)["metadata"]["name"];
  EXPECT_EQ(cm_name.rfind("dev-app-config-", 0), 0u) << cm_name;
  EXPECT_EQ(cm_name.size(), std::string("dev-app-config-").size() + 10);
  EXPECT_EQ((*cm)["data"]["MODE"], "fast");
  EXPECT_EQ((*cm)["data"]["GREETING"], "hi there");
  EXPECT_EQ((*cm)["data"]["settings.ini"], "level=3\n");
  EXPECT_EQ((*cm)["data"]["renamed.txt"], "more");
  EXPECT_EQ((*cm)["metadata"]["namespace"], "dev");

  const Json* d = Find(*built, "Deployment", "dev-web");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ((*d)["metadata"]["namespace"], "dev");
  EXPECT_EQ((*d)["metadata"]["labels"]["env"], "dev");
  EXPECT_EQ((*d)["metadata"]["annotations"]["team"], "shop");
  EXPECT_EQ((*d)["spec"]["selector"]["matchLabels"]["env"], "dev");
  EXPECT_EQ((*d)["spec"]["template"]["metadata"]["labels"]["env"], "dev");
  EXPECT_EQ((*d)["spec"]["replicas"], 3);
  const Json& containers = (*d)["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 1u) << containers.dump();  // sidecar deleted
  EXPECT_EQ(containers[0]["image"], "registry.local:5000/web:v2");
  EXPECT_EQ(containers[0]["env"].size(), 2u) << containers[0].dump();  // merged by name
  EXPECT_EQ(containers[0]["envFrom"][0]["configMapRef"]["name"], cm_name);

  const Json* svc = Find(*built, "Service", "dev-web");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ((*svc)["spec"]["ports"][0]["port"], 8000);
  EXPECT_EQ((*svc)["spec"]["selector"]["env"], "dev");

  const Json* secret = nullptr;
  for (const auto& o : *built) {
    if (o.object["kind"] == "Secret") secret = &o.object;
  }
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ((*secret)["data"]["password"], "czNjcmV0");
  EXPECT_EQ((*secret)["type"], "Opaque");
}

TEST_F(KustomizeTest, GeneratedNamesCarryKustomizesOwnHash) {
  // The values kustomize's hasher tests pin.
  EXPECT_EQ(KustomizeHash(Json::parse(R"({"kind":"ConfigMap","metadata":{"name":""},"data":{}})")),
            "42745tchd9");
  EXPECT_EQ(KustomizeHash(
                Json::parse(R"({"kind":"ConfigMap","metadata":{"name":""},"data":{"one":""}})")),
            "9g67k2htb6");
  EXPECT_EQ(KustomizeHash(Json::parse(
                R"({"kind":"Secret","type":"my-type","metadata":{"name":""},"data":{}})")),
            "t75bgf6ctb");
}

TEST_F(KustomizeTest, GeneratorBehaviourAndOptions) {
  Write("base/kustomization.yaml",
        "configMapGenerator:\n- {name: cfg, literals: [a=1, b=1]}\n"
        "generatorOptions: {disableNameSuffixHash: true}\n");
  Write("app/kustomization.yaml",
        "resources: [../base]\nconfigMapGenerator:\n- {name: cfg, behavior: merge, literals: "
        "[b=2]}\n");
  auto built = Build("app");
  ASSERT_TRUE(built) << built.error().message;
  const Json* cm = Find(*built, "ConfigMap", "cfg");
  ASSERT_NE(cm, nullptr) << (*built)[0].object.dump();
  EXPECT_EQ((*cm)["data"], Json::parse(R"({"a":"1","b":"2"})"));
}

// As kustomize: a ConfigMap's file that is not UTF-8 is binaryData, in
// the object and in its name's hash; a Secret's is data, as every value.
TEST_F(KustomizeTest, AFileThatIsNotUtf8IsBinaryData) {
  Write("app/kustomization.yaml",
        "configMapGenerator:\n- {name: assets, files: [logo.png, notes.txt]}\n"
        "secretGenerator:\n- {name: keys, files: [logo.png]}\n");
  Write("app/logo.png", std::string("\x89PNG\r\n\x1a\n", 8));
  Write("app/notes.txt", "plain\n");
  auto built = Build("app");
  ASSERT_TRUE(built) << built.error().message;
  ASSERT_EQ(built->size(), 2u);
  const Json& cm = (*built)[0].object;
  EXPECT_EQ(cm["binaryData"], Json::parse(R"({"logo.png":"iVBORw0KGgo="})")) << cm.dump();
  EXPECT_EQ(cm["data"], Json::parse(R"({"notes.txt":"plain\n"})")) << cm.dump();
  Json text_only = cm;
  text_only.erase("binaryData");
  EXPECT_NE(KustomizeHash(cm), KustomizeHash(text_only));
  const Json& secret = (*built)[1].object;
  EXPECT_EQ(secret["data"]["logo.png"], "iVBORw0KGgo=");
  EXPECT_FALSE(secret.contains("binaryData"));
}

// A literal without "=" is a mistake worth showing, but a secretGenerator's
// is a Secret's value: the error names where it is, never what it says.
TEST_F(KustomizeTest, ABadSecretLiteralIsPlacedButNeverQuoted) {
  Write("app/kustomization.yaml",
        "secretGenerator:\n- {name: creds, literals: [s3cr3t-token-value]}\n");
  auto built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message,
            "app/kustomization.yaml:2:28: secretGenerator[0].literals: expected KEY=VALUE (the "
            "literal is not shown: it is a Secret's)");
  Write("app/kustomization.yaml", "configMapGenerator:\n- {name: cfg, literals: [loglevel]}\n");
  built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message,
            "app/kustomization.yaml:2:26: configMapGenerator[0].literals: \"loglevel\": expected "
            "KEY=VALUE");
}

TEST_F(KustomizeTest, PathsThatLeaveTheRepositoryAreRefusedWithTheirPlace) {
  Write("app/kustomization.yaml", "resources:\n- ok.yaml\n- ../../../etc\n");
  Write("app/ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
  auto built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message,
            "app/kustomization.yaml:3:3: resources[1]: \"../../../etc\" leaves the repository");

  Write("app/kustomization.yaml",
        "configMapGenerator:\n- name: x\n  files: [../../../../etc/passwd]\n");
  built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("app/kustomization.yaml:3:11: configMapGenerator[0].files: "
                                       "\"../../../../etc/passwd\" leaves the repository"),
            std::string::npos)
      << built.error().message;

  Write("app/kustomization.yaml", "resources: [/etc/passwd]\n");
  built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("an absolute path"), std::string::npos);

  Write("app/kustomization.yaml", "resources: [https://github.com/x/y//base]\n");
  built = Build("app");
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("remote resources are not supported"), std::string::npos);
}

TEST_F(KustomizeTest, CyclesUnknownFieldsAndUnmatchedPatchesAreErrors) {
  Write("a/kustomization.yaml", "resources: [../b]\n");
  Write("b/kustomization.yaml", "resources: [../a]\n");
  auto built = Build("a");
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("a cycle of kustomizations: a -> b -> a"), std::string::npos)
      << built.error().message;

  Write("c/kustomization.yaml", "resourses: [x.yaml]\n");
  built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message,
            "c/kustomization.yaml:1:1: resourses: unknown field (did you mean \"resources\"?)");

  Write("c/kustomization.yaml", "helmCharts: [{name: x}]\n");
  built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message,
            "c/kustomization.yaml:1:1: helmCharts: Helm charts are not supported yet");

  Write("c/kustomization.yaml",
        "resources: [cm.yaml]\npatches:\n- patch: '{kind: ConfigMap, metadata: {name: nope}}'\n");
  Write("c/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n");
  built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("patches[0]: the patch matches no object"),
            std::string::npos)
      << built.error().message;
}

TEST_F(KustomizeTest, TargetNamesAreAnchoredRegularExpressions) {
  Write("c/kustomization.yaml",
        "resources: [cm.yaml]\n"
        "patches:\n"
        "- target: {kind: Config.*, name: 'cm-(a|b)'}\n"
        "  patch: '[{op: add, path: /data, value: {patched: \"yes\"}}]'\n");
  Write("c/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-b}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-ab}\n");
  auto built = Build("c");
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ((*Find(*built, "ConfigMap", "cm-a"))["data"].value("patched", ""), "yes");
  EXPECT_EQ((*Find(*built, "ConfigMap", "cm-b"))["data"].value("patched", ""), "yes");
  EXPECT_FALSE((*Find(*built, "ConfigMap", "cm-ab")).contains("data"));

  // Go's (RE2) syntax, linear in the name: '(a*)*b' against a long name
  // took std::regex exponential time.
  Write("c/kustomization.yaml",
        "resources: [cm.yaml]\n"
        "patches:\n"
        "- target: {kind: ConfigMap, name: '(a*)*b|(?i:CM-A)'}\n"
        "  patch: '[{op: add, path: /data, value: {patched: \"yes\"}}]'\n");
  Write("c/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " +
            std::string(40, 'a') + "-}\n");
  built = Build("c");
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ((*Find(*built, "ConfigMap", "cm-a"))["data"].value("patched", ""), "yes");
  EXPECT_FALSE((*Find(*built, "ConfigMap", std::string(40, 'a') + "-")).contains("data"));

  Write("c/kustomization.yaml",
        "resources: [cm.yaml]\n"
        "patches:\n"
        "- target: {kind: ConfigMap, name: 'cm-(a'}\n"
        "  patch: '[{op: add, path: /data, value: {patched: \"yes\"}}]'\n");
  built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().message.rfind("c/kustomization.yaml:3:35: patches[0].target.name: "
                                        "\"cm-(a\" is not a regular expression",
                                        0),
            0u)
      << built.error().message;
}

TEST_F(KustomizeTest, APatchThatDoublesAnObjectIsRefusedWithItsPlace) {
  std::string ops;
  for (int i = 0; i < 40; ++i) ops += fmt::format("{{op: copy, from: /data, path: /data/k{}}},", i);
  Write("c/kustomization.yaml",
        "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap}\n"
        "  patch: '[" +
            ops + "]'\n");
  Write("c/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: " +
                         std::string(1000, 'a') + "}\n");
  auto built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(built.error().message.rfind("c/kustomization.yaml:3:3: patches[0]: ConfigMap cm: [", 0),
            0u)
      << built.error().message;
  EXPECT_NE(built.error().message.find("over the limit of 3145728 bytes"), std::string::npos)
      << built.error().message;
}

// Found by fuzz/fuzz_kustomize: a patch that made a Deployment's spec a
// string, then labels for its template, threw out of Kustomize (nlohmann's
// type_error) instead of failing the build; so did a name that is a number.
TEST_F(KustomizeTest, AFieldOfTheWrongTypeFailsTheBuild) {
  Write("c/kustomization.yaml",
        "resources: [deploy.yaml]\npatchesStrategicMerge: [patch.yaml]\n"
        "labels:\n- pairs: {tier: web}\n  includeTemplates: true\n");
  Write("c/deploy.yaml", kDeploy);
  Write("c/patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: x\n");
  auto built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(
      built.error().message.rfind("c: a field of an object has a type kustomize cannot use", 0), 0u)
      << built.error().message;

  Write("c/kustomization.yaml", "resources: [cm.yaml]\n");
  Write("c/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 5}\n");
  built = Build("c");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, ErrorCode::kInvalid) << built.error().message;
}

// Found by fuzz/fuzz_patch: a `$patch` that is not a string threw
// (nlohmann's type_error) out of StrategicMerge. It directs nothing.
// Found while fuzzing kustomize (fuzz_kustomize times out on it): a
// 900-byte repository where each kustomization includes the next directory
// four times, twelve deep, asked for 4^12 kustomizations and as many
// objects (gigabytes, and an hour or more of the controller). A build
// counts the kustomizations it builds and the bytes it reads.
TEST_F(KustomizeTest, ADiamondOfResourcesIsRefusedNotBuiltForHours) {
  const int levels = 12;
  for (int i = 0; i < levels - 1; ++i) {
    std::string next = fmt::format("../d{}", i + 1);
    Write(fmt::format("d{}/kustomization.yaml", i),
          fmt::format("resources: [{0}, {0}, {0}, {0}]\n", next));
  }
  Write(fmt::format("d{}/kustomization.yaml", levels - 1), "resources: [cm.yaml]\n");
  Write(fmt::format("d{}/cm.yaml", levels - 1),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
  auto built = Build("d0");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(built.error().message.find("more than 1000 kustomizations built"), std::string::npos)
      << built.error().message;

  // The same large file listed again and again is counted each time.
  std::string big = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {a: " +
                    std::string(size_t{1} << 20, 'a') + "}\n";
  Write("f/big.yaml", big);
  std::string list = "resources: [";
  for (int i = 0; i < 70; ++i) list += i ? ", big.yaml" : "big.yaml";
  Write("f/kustomization.yaml", list + "]\n");
  built = Build("f");
  ASSERT_FALSE(built);
  EXPECT_EQ(built.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(built.error().message.find("the build has read more than 67108864 bytes"),
            std::string::npos)
      << built.error().message;
}

// An Application's spec.source.kustomize, as Argo CD's `kustomize edit`
// commands change the kustomization before the build.
TEST_F(KustomizeTest, AnApplicationsOverridesEditTheKustomizationAsArgoCdDoes) {
  Write("app/kustomization.yaml",
        "resources: [deploy.yaml, svc.yaml]\nnamePrefix: old-\ncommonLabels: {team: a}\n"
        "images:\n- {name: proxy, newTag: '2.0'}\n");
  Write("app/deploy.yaml", kDeploy);
  Write("app/svc.yaml", kService);
  Write("app/patch.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec: {minReadySeconds: 5}\n");
  std::string sha = Commit("k");
  mirror_ = Fetched();
  model::KustomizeOverrides o;
  o.name_prefix = "dev-";
  o.name_suffix = "-x";
  o.ns = "staging";
  o.images = {"registry.local:5000/web=mirror.local/web:v2", "proxy:*", "busybox@sha256:0123"};
  o.replicas = {{"web", 3}};
  o.common_labels = {{"tier", "front"}};
  o.common_annotations = {{"owner", "ops"}};
  o.patches = Json::array({{{"path", "patch.yaml"}}});
  auto built = Kustomize(*mirror_, sha, "app", {}, &o);
  ASSERT_TRUE(built) << built.error().message;
  const Json* d = Find(*built, "Deployment", "dev-web-x");
  ASSERT_NE(d, nullptr) << (*built)[0].object.dump();
  EXPECT_EQ((*d)["metadata"]["namespace"], "staging");
  EXPECT_EQ((*d)["spec"]["replicas"], 3);
  EXPECT_EQ((*d)["spec"]["minReadySeconds"], 5);
  const Json& containers = (*d)["spec"]["template"]["spec"]["containers"];
  EXPECT_EQ(containers[0]["image"], "mirror.local/web:v2");
  EXPECT_EQ(containers[1]["image"], "proxy:2.0");  // "*" keeps the kustomization's tag
  EXPECT_EQ((*d)["metadata"]["labels"]["team"], "a");
  EXPECT_EQ((*d)["metadata"]["labels"]["tier"], "front");
  EXPECT_EQ((*d)["spec"]["selector"]["matchLabels"]["tier"], "front");
  EXPECT_EQ((*d)["metadata"]["annotations"]["owner"], "ops");
  const Json* svc = Find(*built, "Service", "dev-web-x");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ((*svc)["spec"]["selector"]["tier"], "front");

  // A label the kustomization has is replaced only with forceCommonLabels.
  model::KustomizeOverrides clash;
  clash.common_labels = {{"team", "b"}};
  auto refused = Kustomize(*mirror_, sha, "app", {}, &clash);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("label \"team\" is already in the kustomization "
                                         "(forceCommonLabels lets"),
            std::string::npos)
      << refused.error().message;
  clash.force_common_labels = true;
  auto forced = Kustomize(*mirror_, sha, "app", {}, &clash);
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_EQ((*Find(*forced, "Deployment", "old-web"))["metadata"]["labels"]["team"], "b");
  // Without the selector: the labels are not added to selectors.
  model::KustomizeOverrides plain;
  plain.common_labels = {{"tier", "front"}};
  plain.label_without_selector = true;
  auto unselected = Kustomize(*mirror_, sha, "app", {}, &plain);
  ASSERT_TRUE(unselected) << unselected.error().message;
  const Json* u = Find(*unselected, "Deployment", "old-web");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ((*u)["metadata"]["labels"]["tier"], "front");
  EXPECT_FALSE((*u)["spec"]["selector"]["matchLabels"].contains("tier"));
  // A second edit of the same labels entry: refused without force.
  Write("app/kustomization.yaml",
        "resources: [deploy.yaml, svc.yaml]\nlabels:\n- pairs: {tier: back}\n"
        "  includeSelectors: false\n");
  std::string sha2 = Commit("labels");
  mirror_ = Fetched();
  auto clashing = Kustomize(*mirror_, sha2, "app", {}, &plain);
  ASSERT_FALSE(clashing);
  EXPECT_NE(clashing.error().message.find("label \"tier\" is already in the kustomization"),
            std::string::npos)
      << clashing.error().message;
  plain.force_common_labels = true;
  auto replaced = Kustomize(*mirror_, sha2, "app", {}, &plain);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ((*Find(*replaced, "Deployment", "web"))["metadata"]["labels"]["tier"], "front");
  // An image argument kustomize would refuse.
  for (const char* wrong : {"web=", "a=b=c:1", "web:v1+x"}) {
    model::KustomizeOverrides refused_image;
    refused_image.images = {wrong};
    EXPECT_FALSE(Kustomize(*mirror_, sha, "app", {}, &refused_image)) << wrong;
  }
  model::KustomizeOverrides bad;
  bad.images = {"web"};
  auto no_tag = Kustomize(*mirror_, sha, "app", {}, &bad);
  ASSERT_FALSE(no_tag);
  EXPECT_NE(no_tag.error().message.find("app/kustomization.yaml: spec.source.kustomize.images: "
                                        "\"web\": an image needs a tag or a digest"),
            std::string::npos)
      << no_tag.error().message;
}

TEST(StrategicMerge, ADirectiveThatIsNotAStringIsIgnored) {
  Json target = Json::parse(R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"a"}]}})");
  Json patch = Json::parse(R"({"metadata":{"$patch":{"c":"3"},"labels":{"a":"1"}},
      "spec":{"containers":[{"name":"b","$patch":7}]}})");
  Json out = StrategicMerge(target, patch);
  EXPECT_EQ(out["metadata"], Json::parse(R"({"name":"web","labels":{"a":"1"}})"));
  EXPECT_EQ(out["spec"]["containers"].size(), 2u) << out.dump();
}

TEST(StrategicMerge, MergesKnownListsByKeyAndReplacesOthers) {
  Json target = Json::parse(R"({"spec":{"containers":[{"name":"a","image":"x","args":["1","2"]},
      {"name":"b","image":"y"}],"ports":[{"containerPort":80,"name":"http"}]}})");
  Json patch = Json::parse(R"({"spec":{"containers":[{"name":"a","args":["3"]},
      {"name":"c","image":"z"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}})");
  Json out = StrategicMerge(target, patch);
  EXPECT_EQ(out["spec"]["containers"].size(), 3u);
  EXPECT_EQ(out["spec"]["containers"][0]["args"],
            Json::parse(R"(["3"])"));  // lists of strings replace
  EXPECT_EQ(out["spec"]["containers"][0]["image"], "x");
  EXPECT_EQ(out["spec"]["ports"][0],
            Json::parse(R"({"containerPort":80,"name":"http","protocol":"TCP"})"));
  EXPECT_EQ(StrategicMerge(Json::parse(R"({"a":1,"b":2})"), Json::parse(R"({"a":null})")),
            Json::parse(R"({"b":2})"));
}

}  // namespace
}  // namespace strake::gitops
