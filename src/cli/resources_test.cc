#include "cli/resources.h"

#include <gtest/gtest.h>

#include <memory>

namespace strake::cli {
namespace {

std::string Targets(const std::vector<std::string>& args) {
  auto t = ParseTargets(args);
  if (!t) return "error: " + t.error().message;
  std::string out;
  for (const auto& x : *t) out += (out.empty() ? "" : " ") + x.kind->kind + ":" + x.name;
  return out;
}

TEST(ParseTargetsTest, KindAndNamesOrKindSlashNameAsKubectlTakesThem) {
  EXPECT_EQ(Targets({"pr"}), "PipelineRun:");
  EXPECT_EQ(Targets({"svc", "web", "api"}), "Service:web Service:api");
  EXPECT_EQ(Targets({"ro/web", "deploy/api", "ar/web-1"}),
            "Rollout:web Deployment:api AnalysisRun:web-1");
  EXPECT_EQ(Targets({"at", "cm", "cat"}), "AnalysisTemplate:cm AnalysisTemplate:cat");
  EXPECT_EQ(Targets({"ro/web", "web"}),
            "error: \"web\": once one argument is KIND/NAME, every one is (as kubectl takes them)");
  EXPECT_EQ(Targets({"ro", "ro/web"}),
            "error: \"ro/web\": a KIND/NAME needs no kind before it (give ro NAME, or KIND/NAME "
            "only)");
  EXPECT_EQ(Targets({"ro/"}), "error: \"ro/\": not KIND/NAME");
  EXPECT_EQ(Targets({"rollot/web"}), "error: unknown kind \"rollot\" (did you mean \"rollout\"?)");
  EXPECT_EQ(Targets({}), "error: give a KIND and NAMEs, or KIND/NAME");
}

TEST(ParseTargetsTest, KubectlsAndArgosShortNames) {
  for (const auto& [name, kind] :
       std::vector<std::pair<std::string, std::string>>{{"svc", "Service"},
                                                        {"cm", "ConfigMap"},
                                                        {"deploy", "Deployment"},
                                                        {"ro", "Rollout"},
                                                        {"ar", "AnalysisRun"},
                                                        {"at", "AnalysisTemplate"},
                                                        {"cat", "ClusterAnalysisTemplate"},
                                                        {"exp", "Experiment"},
                                                        {"pr", "PipelineRun"},
                                                        {"tr", "TaskRun"},
                                                        {"app", "Application"},
                                                        {"apps", "Application"},
                                                        {"ing", "Ingress"},
                                                        {"ns", "Namespace"},
                                                        {"sa", "ServiceAccount"}}) {
    EXPECT_EQ(Targets({name}), kind + ":") << name;
  }
}

TEST(OutputTest, KubectlsFormatsAndAJsonPathCheckedBeforeAnythingIsAsked) {
  for (const char* ok : {"text", "wide", "name", "json", "yaml", "jsonpath={.metadata.name}"})
    EXPECT_TRUE(CheckOutput(ok)) << ok;
  EXPECT_EQ(CheckOutput("jsn").error().message,
            "unknown output format \"jsn\" (did you mean \"json\"?): text, wide, name, json, "
            "yaml or jsonpath=TEMPLATE");
  EXPECT_EQ(CheckOutput("jsonpath").error().message, "-o jsonpath=TEMPLATE: give the template");
  EXPECT_EQ(CheckOutput("jsonpath={.a").error().message,
            "jsonpath \"{.a\": { at column 1 without }");
}

TEST(OutputTest, NamesAreQualifiedByTheKindsGroupAsKubectlPrintsThem) {
  EXPECT_EQ(QualifiedName(*model::KindByName("svc"), "web"), "service/web");
  EXPECT_EQ(QualifiedName(*model::KindByName("deploy"), "web"), "deployment.apps/web");
  EXPECT_EQ(QualifiedName(*model::KindByName("pr"), "b-1"), "pipelinerun.tekton.dev/b-1");
  EXPECT_EQ(QualifiedName(*model::KindByName("ro"), "web"), "rollout.argoproj.io/web");
}

// The server's errors about a document applied from a file name the line
// of the field they are about (or of the document, for the rest), and the
// server's own "stage dev: " is said once.
TEST(PlaceServerErrorTest, FieldPathsBecomeFileLineCol) {
  auto docs = model::ParseYaml(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: dev}
spec:
  promotionTemplate:
    spec:
      steps:
      - uses: git-clone
      - uses: git-clonee
)",
                               "a.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  model::Resource r;
  r.kind = "Stage";
  r.meta.name = "dev";
  r.origin.file = "a.yaml";
  r.document = std::make_shared<const model::Node>(docs->front().root);
  EXPECT_EQ(PlaceServerError(r,
                             "stage dev: stage dev: spec.promotionTemplate.spec.steps[1].uses: not "
                             "supported yet\nstage dev: spec.requestedFreight: required\nno "
                             "path here"),
            "a.yaml:9:15: stage dev: spec.promotionTemplate.spec.steps[1].uses: not supported "
            "yet\na.yaml:5:3: stage dev: spec.requestedFreight: required\na.yaml:1:1: stage "
            "dev: no path here");
  r.document = nullptr;  // from the API, not a file
  EXPECT_EQ(PlaceServerError(r, "spec.x: bad"), "a.yaml: stage dev: spec.x: bad");
}

}  // namespace
}  // namespace strake::cli
