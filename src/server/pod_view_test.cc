#include "server/pod_view.h"

#include <gtest/gtest.h>

namespace strake::server {
namespace {

using model::Json;

const Json kRollout = Json::parse(R"({
  "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
  "metadata": {"name": "web", "namespace": "shop"},
  "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "server", "image": "web:1"}]}}}})");

TEST(PodViewTest, AReplicaIsThePodAClusterWouldShow) {
  rollout::ReplicaProcess r{"shop", "web", "5d8f7c", 1, 4242, 31000, true, 2, "Ready", ""};
  Json pod = ReplicaPod(r, kRollout);
  const Json& meta = pod["metadata"];
  EXPECT_EQ(meta["name"], "web-5d8f7c-1");
  EXPECT_EQ(meta["namespace"], "shop");
  EXPECT_EQ(meta["labels"]["app"], "web");
  EXPECT_EQ(meta["labels"]["pod-template-hash"], "5d8f7c");
  EXPECT_EQ(meta["annotations"][kPortAnnotation], "31000");
  EXPECT_EQ(meta["ownerReferences"][0]["kind"], "Rollout");
  EXPECT_EQ(meta["ownerReferences"][0]["name"], "web");
  const Json& st = pod["status"];
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["pid"], 4242);
  EXPECT_EQ(st["containerStatuses"][0]["name"], "server");
  EXPECT_EQ(st["containerStatuses"][0]["ready"], true);
  EXPECT_EQ(st["containerStatuses"][0]["restartCount"], 2);
  EXPECT_TRUE(st["containerStatuses"][0]["state"].contains("running"));
  EXPECT_EQ(pod["spec"]["containers"].size(), 1u);
}

TEST(PodViewTest, AReplicasStateIsThePodsStatus) {
  rollout::ReplicaProcess r{"shop",       "web", "5d8f7c", 0, -1, 0, false, 5, "CrashLoopBackOff",
                            "exit code 1"};
  Json pod = ReplicaPod(r, kRollout);
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff");
  EXPECT_FALSE(pod["status"].contains("pid"));
  EXPECT_FALSE(pod["metadata"]["annotations"].contains(kPortAnnotation));
  r.state = "Starting";
  EXPECT_EQ(ReplicaPod(r, kRollout)["status"]["phase"], "Pending");
  r.state = "Failed";
  EXPECT_EQ(ReplicaPod(r, kRollout)["status"]["phase"], "Failed");
  r.state = "Terminating";
  EXPECT_EQ(ReplicaPod(r, kRollout)["status"]["reason"], "Terminating");
  // An Experiment's replica, or one whose workload is gone: owned by nothing.
  pod = ReplicaPod(r, Json());
  EXPECT_FALSE(pod["metadata"].contains("ownerReferences"));
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["name"], "main");
}

TEST(PodViewTest, AJobsAttemptsAreItsPods) {
  store::Resource job;
  job.key = {"Job", "shop", "migrate"};
  job.uid = "u-1";
  job.object = Json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "migrate"},
    "spec": {"template": {"spec": {"containers": [{"name": "m", "command": ["true"]}]}}}})");
  job.status = {{"active", 1}, {"failed", 2}, {"pid", 777}};
  auto pods = JobPods(job);
  ASSERT_EQ(pods.size(), 3u);
  EXPECT_EQ(pods[0]["metadata"]["name"], "migrate-0");
  EXPECT_EQ(pods[0]["status"]["phase"], "Failed");
  EXPECT_EQ(pods[2]["metadata"]["name"], "migrate-2");
  EXPECT_EQ(pods[2]["status"]["phase"], "Running");
  EXPECT_EQ(pods[2]["status"]["pid"], 777);
  EXPECT_EQ(pods[2]["metadata"]["labels"]["job-name"], "migrate");
  EXPECT_EQ(pods[2]["metadata"]["ownerReferences"][0]["kind"], "Job");

  job.status = {{"active", 0}, {"failed", 0}, {"succeeded", 1}};
  pods = JobPods(job);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0]["status"]["phase"], "Succeeded");
  EXPECT_EQ(pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed");

  // A template whose metadata is null (`metadata:` with nothing under it).
  job.object["spec"]["template"]["metadata"] = nullptr;
  ASSERT_EQ(JobPods(job).size(), 1u);
  EXPECT_EQ(JobPods(job)[0]["metadata"]["labels"]["job-name"], "migrate");

  job.status = Json();  // not started: no pods
  EXPECT_TRUE(JobPods(job).empty());
}

}  // namespace
}  // namespace strake::server
