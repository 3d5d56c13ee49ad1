// Every name that becomes a path is checked at decode time, as Kubernetes
// checks it, with its field path: a hostile value is refused before any
// directory is made from it.
#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

std::string Errors(const std::string& text) {
  Diagnostics diags;
  auto docs = ParseYaml(text, "p.yaml");
  EXPECT_TRUE(docs) << docs.error().message;
  if (docs) (void)Decode(*docs, diags);
  return diags.ErrorText();
}

// A PipelineRun whose every path-bearing name is `VALUE` in turn.
const char* kRun = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: @NAME@
  namespace: @NS@
spec:
  workspaces:
    - name: data
      subPath: @RUNSUB@
      persistentVolumeClaim:
        claimName: @CLAIM@
    - name: conf
      secret:
        secretName: @SECRET@
        items:
          - key: @KEY@
            path: @ITEMPATH@
  pipelineSpec:
    workspaces:
      - name: @PWS@
    tasks:
      - name: t
        workspaces:
          - name: data
            workspace: @PWS@
            subPath: @TASKSUB@
        taskSpec:
          workspaces:
            - name: data
          volumes:
            - name: @VOL@
              emptyDir: {}
          steps:
            - name: s
              script: "true"
              volumeMounts:
                - name: @VOL@
                  mountPath: /v
                  subPath: @MOUNTSUB@
)";

std::string With(const std::string& placeholder, const std::string& value) {
  std::map<std::string, std::string> ok = {
      {"NAME", "run"},     {"NS", "default"},  {"RUNSUB", "a/b"},   {"CLAIM", "cache"},
      {"SECRET", "creds"}, {"KEY", "token"},   {"ITEMPATH", "t/k"}, {"PWS", "shared"},
      {"TASKSUB", "c"},    {"VOL", "scratch"}, {"MOUNTSUB", "d"}};
  ok[placeholder] = value;
  std::string text = kRun;
  for (const auto& [k, v] : ok) {
    std::string token = "@" + k + "@";
    for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
      text.replace(at, token.size(), v);
    }
  }
  return text;
}

TEST(Names, TheRunWithGoodNamesDecodes) { EXPECT_EQ(Errors(With("NAME", "run")), ""); }

struct Case {
  const char* placeholder;
  const char* field;  // the field path the error names
};

const Case kCases[] = {
    {"NAME", "metadata.name"},
    {"NS", "metadata.namespace"},
    {"RUNSUB", "spec.workspaces[0].subPath"},
    {"CLAIM", "spec.workspaces[0].persistentVolumeClaim.claimName"},
    {"SECRET", "spec.workspaces[1].secret.secretName"},
    {"KEY", "spec.workspaces[1].secret.items[0].key"},
    {"ITEMPATH", "spec.workspaces[1].secret.items[0].path"},
    {"PWS", "spec.pipelineSpec.workspaces[0].name"},
    {"TASKSUB", "spec.pipelineSpec.tasks[0].workspaces[0].subPath"},
    {"VOL", "spec.pipelineSpec.tasks[0].taskSpec.volumes[0].name"},
    {"MOUNTSUB", "spec.pipelineSpec.tasks[0].taskSpec.steps[0].volumeMounts[0].subPath"},
};

// Values no name or path may take: each leaves its directory, holds a
// separator or NUL, or is longer than Kubernetes allows.
const char* kHostile[] = {"\"..\"",   "\"../..\"",     "\"../../etc\"",
                          "\"/etc\"", "\"a/../../b\"", "\"a\\u0000b\""};

TEST(Names, EveryPathBearingNameRefusesTraversalWithItsFieldPath) {
  for (const auto& c : kCases) {
    for (const char* bad : kHostile) {
      std::string text = With(c.placeholder, bad);
      std::string errors = Errors(text);
      EXPECT_NE(errors.find(std::string(c.field) + ":"), std::string::npos)
          << c.placeholder << " = " << bad << " gave:\n"
          << errors;
    }
  }
}

TEST(Names, NamesWithSlashesOrOverlongAreRefused) {
  // Names (not paths) refuse any '/', and overlong values.
  for (const char* placeholder : {"NAME", "NS", "CLAIM", "SECRET", "KEY", "VOL", "PWS"}) {
    for (const std::string& bad : {std::string("a/b"), std::string(300, 'a')}) {
      std::string errors = Errors(With(placeholder, bad));
      EXPECT_NE(errors, "") << placeholder << " = " << bad.substr(0, 20);
    }
  }
  // A namespace is a DNS label: 63 characters at most, no dots.
  EXPECT_NE(Errors(With("NS", std::string(64, 'a'))), "");
  EXPECT_NE(Errors(With("NS", "a.b")), "");
  EXPECT_EQ(Errors(With("NS", std::string(63, 'a'))), "");
}

TEST(Names, TheErrorHasItsPlaceAndSaysWhy) {
  std::string errors = Errors(With("CLAIM", "\"../..\""));
  EXPECT_NE(errors.find("p.yaml:11:20: spec.workspaces[0].persistentVolumeClaim.claimName: "
                        "invalid name \"../..\": must be a DNS-1123 subdomain"),
            std::string::npos)
      << errors;
  errors = Errors(With("NAME", "\"run.x/../../y\""));
  EXPECT_NE(errors.find("p.yaml:4:9: metadata.name: invalid name"), std::string::npos) << errors;
}

TEST(Names, ConfigMapAndSecretKeysAreFileNames) {
  const char* cm = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  KEY: x
)";
  auto with = [&](const std::string& key) {
    std::string text = cm;
    text.replace(text.find("KEY"), 3, key);
    return Errors(text);
  };
  EXPECT_EQ(with("app.properties"), "");
  EXPECT_EQ(with("_x-y.z"), "");
  for (const char* bad : {"\"..\"", "\"..x\"", "\".\"", "\"a/b\"", "\"../../strake.db\""}) {
    EXPECT_NE(with(bad).find("data."), std::string::npos) << bad;
  }
  const char* secret = R"(apiVersion: v1
kind: Secret
metadata: {name: s}
stringData:
  "../x": y
)";
  EXPECT_NE(Errors(secret).find("stringData.../x: invalid key"), std::string::npos)
      << Errors(secret);
}

TEST(Names, GenerateNameMustStartAName) {
  const char* run = R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: PREFIX
spec:
  pipelineRef: {name: p}
)";
  auto with = [&](const std::string& prefix) {
    std::string text = run;
    text.replace(text.find("PREFIX"), 6, prefix);
    return Errors(text);
  };
  EXPECT_EQ(with("build-"), "");
  EXPECT_NE(with("\"../\"").find("metadata.generateName"), std::string::npos);
  EXPECT_NE(with("\"a/\"").find("metadata.generateName"), std::string::npos);
}

TEST(Names, AnApplicationsDestinationNamespaceIsALabel) {
  const char* app = R"(apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: a}
spec:
  source: {repoURL: "file:///srv/r.git", path: ".", targetRevision: main}
  destination: {name: local, namespace: "../x"}
)";
  EXPECT_NE(Errors(app).find("spec.destination.namespace: invalid name"), std::string::npos)
      << Errors(app);
}

}  // namespace
}  // namespace strake::model
