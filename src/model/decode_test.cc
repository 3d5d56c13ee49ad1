#include "model/decode.h"

#include <gtest/gtest.h>

namespace strake::model {
namespace {

struct Decoded {
  std::vector<Resource> resources;
  Diagnostics diags;
};

Decoded DecodeText(const std::string& text) {
  Decoded d;
  auto docs = ParseYaml(text, "p.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  if (docs) d.resources = Decode(*docs, d.diags);
  return d;
}

const char* kPipeline = R"(apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: demo
spec:
  params:
    - name: who
      default: world
  tasks:
    - name: build
      taskSpec:
        steps:
          - name: compile
            image: alpine
            script: echo hi
)";

TEST(Decode, ValidPipeline) {
  auto d = DecodeText(kPipeline);
  EXPECT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  ASSERT_EQ(d.resources.size(), 1u);
  const auto& p = std::get<Pipeline>(d.resources[0].value);
  EXPECT_EQ(p.meta.name, "demo");
  ASSERT_EQ(p.spec.tasks.size(), 1u);
  EXPECT_EQ(p.spec.tasks[0].task_spec->steps[0].script, "echo hi");
  EXPECT_EQ(p.spec.params[0].default_value->str, "world");
}

TEST(Decode, UnknownFieldIsAnErrorWithSuggestion) {
  std::string text = kPipeline;
  text.replace(text.find("    - name: build"), 17, "    - name: build\n      runAftr: [x]");
  auto d = DecodeText(text);
  ASSERT_TRUE(d.diags.HasErrors());
  EXPECT_EQ(d.diags.ErrorStrings()[0],
            "p.yaml:11:7: spec.tasks[0].runAftr: unknown field \"runAftr\" (did you mean "
            "\"runAfter\"?)");
}

TEST(Decode, ClusterOnlyFieldIsReportedOnceAsIgnored) {
  std::string text = kPipeline;
  text += "            securityContext: {runAsUser: 0}\n";
  text += "          - name: two\n            script: echo\n            securityContext: {}\n";
  auto d = DecodeText(text);
  EXPECT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  auto w = d.diags.WarningStrings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("\"securityContext\" is ignored"), std::string::npos) << w[0];
}

TEST(Decode, UnimplementedFieldIsNotSupported) {
  std::string text = kPipeline;
  text += "        volumes: [{name: v, hostPath: {path: /x}}]\n";
  auto d = DecodeText(text);
  ASSERT_TRUE(d.diags.HasErrors());
  EXPECT_NE(d.diags.ErrorText().find("spec.tasks[0].taskSpec.volumes[0].hostPath: not "
                                     "supported"),
            std::string::npos)
      << d.diags.ErrorText();
}

// Tekton's isolated workspaces: a step names the task's workspace, with a
// mountPath of its own; Tekton reads `mountpath` as mountPath (its JSON
// field names are not case-sensitive), so strake does too, and says so.
TEST(Decode, StepWorkspacesTakeMountPathInEitherCase) {
  std::string text = kPipeline;
  text += "            workspaces: [{name: w, mountpath: /creds}]\n";
  text += "          - name: two\n            script: echo\n            workspaces: [{name: w}]\n";
  auto d = DecodeText(text);
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  const auto& steps = std::get<Pipeline>(d.resources.at(0).value).spec.tasks[0].task_spec->steps;
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].workspaces.at(0).mount_path, "/creds");
  EXPECT_EQ(steps[1].workspaces.at(0).mount_path, "");
  auto w = d.diags.WarningStrings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("read as mountPath"), std::string::npos) << w[0];
}

TEST(Decode, CollectsEveryError) {
  auto d = DecodeText(R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  params:
    - name: p
      type: strin
  steps:
    - name: Bad_Name
      script: x
      onError: contine
      timeout: 5 minutes
)");
  auto errs = d.diags.ErrorStrings();
  ASSERT_EQ(errs.size(), 4u) << d.diags.ErrorText();
  EXPECT_NE(errs[0].find("spec.params[0].type: unknown type \"strin\""), std::string::npos);
  EXPECT_NE(errs[1].find("spec.steps[0].name: invalid name"), std::string::npos);
  EXPECT_NE(errs[2].find("spec.steps[0].timeout: invalid duration"), std::string::npos);
  EXPECT_NE(errs[3].find("did you mean \"continue\""), std::string::npos);
}

TEST(Decode, UnknownKindSuggests) {
  auto d = DecodeText("apiVersion: tekton.dev/v1\nkind: Pipline\nmetadata: {name: x}\nspec: {}\n");
  ASSERT_TRUE(d.diags.HasErrors());
  EXPECT_EQ(d.diags.ErrorStrings()[0],
            "p.yaml:2:7: kind: unknown kind \"Pipline\" for tekton.dev/v1 (did you mean "
            "\"Pipeline\"?)");
}

TEST(Decode, SecretDataIsBase64Decoded) {
  auto d = DecodeText(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {token: aGVsbG8=}\n"
      "stringData: {plain: x}\n");
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  const auto& cm = std::get<ConfigMap>(d.resources[0].value);
  EXPECT_EQ(cm.data.data.at("token"), "hello");
  EXPECT_EQ(cm.data.data.at("plain"), "x");
}

TEST(Decode, AConfigMapsBinaryDataIsItsBytes) {
  auto d = DecodeText(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: text}\n"
      "binaryData: {logo: iVBORw==}\n");
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  const auto& cm = std::get<ConfigMap>(d.resources[0].value);
  EXPECT_EQ(cm.data.data.at("a"), "text");
  EXPECT_EQ(cm.data.data.at("logo"), std::string("\x89PNG"));
  auto twice = DecodeText(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: text}\n"
      "binaryData: {a: iVBORw==}\n");
  EXPECT_NE(twice.diags.ErrorText().find("binaryData.a: key \"a\" is in data too"),
            std::string::npos)
      << twice.diags.ErrorText();
  auto secret =
      DecodeText("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nbinaryData: {a: iVBORw==}\n");
  EXPECT_NE(secret.diags.ErrorText().find("binaryData: unknown field"), std::string::npos)
      << secret.diags.ErrorText();
}

TEST(Decode, ParamValuesOfEveryType) {
  auto d = DecodeText(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: r-}
spec:
  pipelineRef: {name: p}
  params:
    - {name: s, value: 3}
    - {name: a, value: [x, y]}
    - {name: o, value: {k: v}}
  timeouts: {pipeline: 1h, tasks: 30m}
)");
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  const auto& r = std::get<PipelineRun>(d.resources[0].value);
  EXPECT_EQ(r.spec.params[0].value.str, "3");
  EXPECT_EQ(r.spec.params[1].value.arr.size(), 2u);
  EXPECT_EQ(r.spec.params[2].value.obj.at("k"), "v");
  EXPECT_EQ(r.spec.timeouts.pipeline->count(), 3'600'000);
}

TEST(Decode, StoredSpecRoundTrips) {
  auto d = DecodeText(kPipeline);
  const Json& spec = d.resources[0].raw["spec"];
  auto p = DecodePipelineSpec(spec);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->tasks[0].name, "build");
}

}  // namespace
}  // namespace strake::model

namespace strake::model {
namespace {

// Kinds only a cluster acts on (Tekton's examples bring a ServiceAccount, a
// LimitRange or a ClusterRoleBinding beside their runs): stored as written,
// every field kept, and said once, never refused.
TEST(Decode, AKindOnlyAClusterActsOnIsStoredAsWrittenWithAWarning) {
  auto d = DecodeText(R"(apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
secrets: [{name: git-creds}]
imagePullSecrets: [{name: pull}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: robot-admin}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}]
roleRef: {kind: ClusterRole, name: admin, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec: {limits: [{type: Container, max: {cpu: "2"}}]}
)");
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  ASSERT_EQ(d.resources.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<StoredObject>(d.resources[1].value));
  EXPECT_EQ(d.resources[1].raw["roleRef"]["name"], "admin");
  auto w = d.diags.WarningStrings();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_NE(w[0].find("its `secrets` give the Tekton runs that name it their credentials"),
            std::string::npos)
      << w[0];
}

TEST(Decode, AStepWithARefTakesNoBodyOfItsOwn) {
  auto d = DecodeText(R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps:
    - name: a
      ref: {name: act}
      image: alpine
      params: [{name: x, value: y}]
    - name: b
      image: alpine
      params: [{name: x, value: y}]
    - name: c
      ref: {}
)");
  auto errs = d.diags.ErrorStrings();
  ASSERT_EQ(errs.size(), 3u) << d.diags.ErrorText();
  EXPECT_EQ(errs[0],
            "p.yaml:8:14: spec.steps[0].image: image cannot be used with ref (the "
            "StepAction gives it)");
  EXPECT_EQ(errs[1], "p.yaml:12:15: spec.steps[1].params: params are a StepAction's: give ref");
  EXPECT_EQ(errs[2],
            "p.yaml:14:12: spec.steps[2].ref: a step's ref needs the StepAction's name or a "
            "resolver");
}

TEST(Decode, AStepsImagePullPolicyIsKubernetes) {
  const char* yaml = R"(apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  stepTemplate:
    imagePullPolicy: Never
  steps:
    - image: alpine
      imagePullPolicy: IfNotPresent
      script: "true"
    - image: alpine
      imagePullPolicy: sometimes
      script: "true"
)";
  auto d = DecodeText(yaml);
  ASSERT_EQ(d.diags.ErrorStrings().size(), 1u) << d.diags.ErrorText();
  EXPECT_EQ(d.diags.ErrorStrings()[0],
            "p.yaml:12:24: spec.steps[1].imagePullPolicy: must be Always, IfNotPresent or Never, "
            "found \"sometimes\"");
  for (const auto& w : d.diags.WarningStrings()) {
    EXPECT_EQ(w.find("imagePullPolicy"), std::string::npos) << w;  // honoured, not ignored
  }
}

TEST(Decode, APipelineTasksOnErrorIsContinueOrStopAndFailWithoutRetries) {
  std::string text = kPipeline;
  text.replace(text.find("    - name: build\n"), 18,
               "    - name: build\n      onError: continue\n      retries: 2\n");
  auto d = DecodeText(text);
  ASSERT_EQ(d.diags.ErrorStrings().size(), 1u) << d.diags.ErrorText();
  EXPECT_EQ(d.diags.ErrorStrings()[0],
            "p.yaml:12:16: spec.tasks[0].retries: retries and onError: continue cannot be used "
            "together");
  text = kPipeline;
  text.replace(text.find("    - name: build\n"), 18, "    - name: build\n      onError: contine\n");
  d = DecodeText(text);
  EXPECT_NE(d.diags.ErrorText().find("spec.tasks[0].onError: must be \"continue\" or "
                                     "\"stopAndFail\", found \"contine\" (did you mean "
                                     "\"continue\"?)"),
            std::string::npos)
      << d.diags.ErrorText();
}

}  // namespace
}  // namespace strake::model

namespace strake::model {
namespace {

// A PipelineRun's taskRunSpecs carry compute resources to its task's
// TaskRuns: the TaskRun's whole, or its steps' and sidecars' by name, never
// both (Tekton's validation), each name once.
TEST(Decode, TaskRunSpecsCarryComputeResources) {
  auto text = [](const std::string& entry) {
    return "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: r}\nspec:\n"
           "  pipelineRef: {name: p}\n  taskRunSpecs:\n  - pipelineTaskName: build\n" +
           entry;
  };
  auto d = DecodeText(
      text("    stepSpecs:\n    - {name: compile, computeResources: {limits: {memory: 1Gi}}}\n"
           "    sidecarSpecs:\n    - {name: db, computeResources: {limits: {cpu: 250m}}}\n"));
  ASSERT_FALSE(d.diags.HasErrors()) << d.diags.ErrorText();
  const auto& spec = std::get<PipelineRun>(d.resources.at(0).value).spec.task_run_specs.at(0);
  EXPECT_EQ(spec.compute.steps.at("compile").memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(spec.compute.sidecars.at("db").cpu_limit_millis, 250);
  EXPECT_TRUE(spec.compute.task.empty());
  EXPECT_TRUE(d.diags.WarningStrings().empty()) << d.diags.WarningStrings()[0];

  auto both = DecodeText(
      text("    computeResources: {limits: {memory: 2Gi}}\n"
           "    stepSpecs:\n    - {name: compile, computeResources: {limits: {memory: 1Gi}}}\n"));
  EXPECT_EQ(both.diags.ErrorText(),
            "p.yaml:10:41: spec.taskRunSpecs[0].stepSpecs[0].computeResources: a step's "
            "computeResources cannot be given beside the TaskRun's own computeResources");
  auto twice =
      DecodeText(text("    stepSpecs:\n    - {name: a, computeResources: {limits: {memory: 1Gi}}}\n"
                      "    - {name: a, computeResources: {limits: {memory: 2Gi}}}\n"));
  EXPECT_NE(twice.diags.ErrorText().find("stepSpecs[1].name: \"a\" is given twice"),
            std::string::npos)
      << twice.diags.ErrorText();
}

}  // namespace
}  // namespace strake::model
