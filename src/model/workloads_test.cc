#include "model/workloads.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

std::vector<Resource> DecodeText(const std::string& text, Diagnostics& diags) {
  auto docs = ParseYaml(text, "r.yaml");
  EXPECT_TRUE(docs) << (docs ? "" : docs.error().message);
  return docs ? Decode(*docs, diags) : std::vector<Resource>{};
}

TEST(WorkloadsDecodeTest, AJobNeedsARestartPolicyAndACommand) {
  const char* ok = R"(apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  backoffLimit: 2
  activeDeadlineSeconds: 60
  template:
    spec:
      restartPolicy: OnFailure
      containers:
      - {name: m, image: migrate:1, command: [./migrate], args: [--up]}
)";
  Diagnostics diags;
  auto rs = DecodeText(ok, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const auto* job = std::get_if<Job>(&rs.at(0).value);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->backoff_limit, 2);
  EXPECT_EQ(job->active_deadline_seconds, 60);
  EXPECT_EQ(job->restart_policy, "OnFailure");
  EXPECT_EQ(job->pod.containers[0].command, std::vector<std::string>{"./migrate"});

  std::string bad = ok;
  bad.replace(bad.find("OnFailure"), 9, "Always");
  const std::string cmd = "command: [./migrate], args: [--up]";
  bad.replace(bad.find(cmd), cmd.size(), "ports: []");
  Diagnostics d2;
  DecodeText(bad, d2);
  EXPECT_EQ(d2.ErrorText(),
            "r.yaml:9:22: spec.template.spec.restartPolicy: \"Always\" is not allowed for a Job "
            "(Never or OnFailure)\n"
            "r.yaml:8:5: spec.template.spec.containers[0].command: required on the local target: "
            "it runs this machine's programs, not images");
}

TEST(WorkloadsDecodeTest, IntOrPercentResolvesLikeKubernetes) {
  EXPECT_EQ((IntOrPercent{25, true}).Resolve(10, true), 3);
  EXPECT_EQ((IntOrPercent{25, true}).Resolve(10, false), 2);
  EXPECT_EQ((IntOrPercent{2, false}).Resolve(10, true), 2);
}

}  // namespace
}  // namespace strake::model
