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

TEST(WorkloadsDecodeTest, AJobNeedsARestartPolicy) {
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
            "(Never or OnFailure)");
}

// spec.clusterIP: a loopback address is the Service's; any other, or a
// headless Service, cannot be served locally and is refused at its field.
// A v1 Pod: restartPolicy Always by default, one of Kubernetes' three;
// what only a cluster reads is reported as ignored, restartPolicy not.
TEST(WorkloadsDecodeTest, APodTakesKubernetesRestartPolicies) {
  const char* ok = R"(apiVersion: v1
kind: Pod
metadata: {name: hook, annotations: {argocd.argoproj.io/hook: Sync}}
spec:
  serviceAccountName: runner
  activeDeadlineSeconds: 30
  containers:
  - {name: main, image: busybox, command: ["true"]}
)";
  Diagnostics diags;
  auto rs = DecodeText(ok, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const auto* pod = std::get_if<Pod>(&rs.at(0).value);
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->restart_policy, "Always");
  EXPECT_EQ(pod->active_deadline_seconds, 30);
  auto w = diags.WarningStrings();
  ASSERT_EQ(w.size(), 1u) << ::testing::PrintToString(w);
  EXPECT_NE(w[0].find("serviceAccountName"), std::string::npos) << w[0];

  const std::string sa = "  serviceAccountName: runner\n";
  std::string never = ok;
  never.replace(never.find(sa), sa.size(), "  restartPolicy: Never\n");
  Diagnostics d2;
  rs = DecodeText(never, d2);
  ASSERT_FALSE(d2.HasErrors()) << d2.ErrorText();
  EXPECT_EQ(std::get<Pod>(rs.at(0).value).restart_policy, "Never");
  EXPECT_TRUE(d2.WarningStrings().empty()) << ::testing::PrintToString(d2.WarningStrings());

  std::string bad = ok;
  bad.replace(bad.find(sa), sa.size(), "  restartPolicy: Sometimes\n");
  Diagnostics d3;
  DecodeText(bad, d3);
  EXPECT_EQ(d3.ErrorText(),
            "r.yaml:5:18: spec.restartPolicy: \"Sometimes\" is not a restart policy (Always, "
            "OnFailure or Never)");

  // Only an image: accepted as Kubernetes accepts it (it runs in its
  // image; one marked to run on the host says why it cannot in its status).
  std::string image = ok;
  image.replace(image.find(R"(, command: ["true"])"), 19, "");
  Diagnostics d4;
  DecodeText(image, d4);
  ASSERT_FALSE(d4.HasErrors()) << d4.ErrorText();
  EXPECT_EQ(::testing::PrintToString(d4.WarningStrings()).find("command"), std::string::npos);
}

// A CronJob: its schedule parsed as cron does, its jobTemplate checked as a
// Job with the field paths of where it is.
TEST(WorkloadsDecodeTest, ACronJobsScheduleAndTemplateAreChecked) {
  const char* ok = R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "*/5 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: hello, image: busybox, command: [sh, -c, date]}
)";
  Diagnostics diags;
  auto rs = DecodeText(ok, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  const auto* cron = std::get_if<CronJob>(&rs.at(0).value);
  ASSERT_TRUE(cron);
  EXPECT_EQ(cron->concurrency_policy, "Forbid");
  EXPECT_EQ(cron->job.restart_policy, "OnFailure");
  EXPECT_EQ(cron->successful_jobs_history_limit, 3);

  std::string bad = ok;
  bad.replace(bad.find("*/5 * * * *"), 11, "61 * * * *");
  bad.replace(bad.find("OnFailure"), 9, "Always");
  Diagnostics d2;
  DecodeText(bad, d2);
  EXPECT_EQ(d2.ErrorText(),
            "r.yaml:5:13: spec.schedule: minute: \"61\" is not a value from 0 to 59\n"
            "r.yaml:11:26: spec.jobTemplate.spec.template.spec.restartPolicy: \"Always\" is not "
            "allowed for a Job (Never or OnFailure)");
}

// A pod's env may read its own fields (the downward API), by the paths
// Kubernetes gives; a Tekton step's may not.
TEST(WorkloadsDecodeTest, TheDownwardApisFieldPathsAreChecked) {
  const char* pod = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: main
    command: ["true"]
    env:
    - {name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: B, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: "metadata.labels['app']"}}}
    - {name: C, valueFrom: {fieldRef: {fieldPath: status.phase}}}
)";
  Diagnostics diags;
  auto rs = DecodeText(pod, diags);
  auto errors = diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 1u) << diags.ErrorText();
  EXPECT_NE(errors[0].find("r.yaml:11:51: spec.containers[0].env[2].valueFrom.fieldRef.fieldPath: "
                           "\"status.phase\" is not a field the downward API gives"),
            std::string::npos)
      << errors[0];

  // A Deployment's replicas share one environment: no name of their own.
  const char* deploy = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        command: [./serve]
        env:
        - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
)";
  Diagnostics d2;
  DecodeText(deploy, d2);
  EXPECT_NE(d2.ErrorText().find("spec.template.spec.containers[0].env[1].valueFrom.fieldRef."
                                "fieldPath: metadata.name is not given to the replicas"),
            std::string::npos)
      << d2.ErrorText();
  EXPECT_EQ(d2.ErrorStrings().size(), 1u) << d2.ErrorText();
}

TEST(WorkloadsDecodeTest, AContainersImagePullPolicyIsKubernetes) {
  auto text = [](const std::string& policy) {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
           "  selector: {matchLabels: {app: web}}\n  template:\n"
           "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
           "      - {name: main, image: web:1, imagePullPolicy: " +
           policy + "}\n";
  };
  Diagnostics ok;
  auto rs = DecodeText(text("Never"), ok);
  ASSERT_FALSE(ok.HasErrors()) << ok.ErrorText();
  EXPECT_EQ(std::get<Deployment>(rs.at(0).value).pod.containers[0].image_pull_policy, "Never");
  for (const auto& w : ok.WarningStrings()) EXPECT_EQ(w.find("imagePullPolicy"), std::string::npos);
  Diagnostics bad;
  DecodeText(text("Sometimes"), bad);
  EXPECT_EQ(bad.ErrorText(),
            "r.yaml:10:53: spec.template.spec.containers[0].imagePullPolicy: must be Always, "
            "IfNotPresent or Never, found \"Sometimes\"");
}

TEST(QuantityTest, KubernetesQuantitiesRoundedUp) {
  EXPECT_EQ(ParseQuantity("250m", 1000).value_or(-1), 250);
  EXPECT_EQ(ParseQuantity("0.5", 1000).value_or(-1), 500);
  EXPECT_EQ(ParseQuantity("2", 1000).value_or(-1), 2000);
  EXPECT_EQ(ParseQuantity("1.0005", 1000).value_or(-1),
            1001);  // rounded up, as the API server does
  EXPECT_EQ(ParseQuantity("100u", 1000).value_or(-1), 1);
  EXPECT_EQ(ParseQuantity("128Mi", 1).value_or(-1), 128 << 20);
  EXPECT_EQ(ParseQuantity("1Gi", 1).value_or(-1), 1 << 30);
  EXPECT_EQ(ParseQuantity("1.5Gi", 1).value_or(-1), 3 << 29);
  EXPECT_EQ(ParseQuantity("2G", 1).value_or(-1), 2'000'000'000);
  EXPECT_EQ(ParseQuantity("129e6", 1).value_or(-1), 129'000'000);
  EXPECT_EQ(ParseQuantity("1E3", 1).value_or(-1), 1000);  // an exponent, not exa
  EXPECT_EQ(ParseQuantity("1E", 1).value_or(-1), 1'000'000'000'000'000'000);
  EXPECT_EQ(ParseQuantity("+64Ki", 1).value_or(-1), 65536);
  EXPECT_EQ(ParseQuantity("1e+3", 1).value_or(-1), 1000);
  EXPECT_EQ(ParseQuantity("0e5000", 1).value_or(-1), -1);  // not a NaN cast
  for (const char* bad : {"", "m", "1.2.3", "12MB", "1Mi ", "-1", "1e", "abc", "100E", "1e+"}) {
    EXPECT_FALSE(ParseQuantity(bad, 1)) << bad;
  }
}

TEST(WorkloadsDecodeTest, AContainersResourcesBecomeItsLimits) {
  auto text = [](const std::string& resources) {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
           "  selector: {matchLabels: {app: web}}\n  template:\n"
           "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
           "      - name: main\n        image: web:1\n        resources: " +
           resources + "\n";
  };
  Diagnostics ok;
  auto rs = DecodeText(
      text("{limits: {cpu: 500m, memory: 64Mi}, requests: {cpu: 250m, memory: 32Mi}}"), ok);
  ASSERT_FALSE(ok.HasErrors()) << ok.ErrorText();
  const auto& r = std::get<Deployment>(rs.at(0).value).pod.containers[0].resources;
  EXPECT_EQ(r.cpu_limit_millis, 500);
  EXPECT_EQ(r.memory_bytes, 64 << 20);
  EXPECT_EQ(r.cpu_request_millis, 250);
  // What is not applied is said, with its place.
  ASSERT_EQ(ok.WarningStrings().size(), 1u);
  EXPECT_NE(ok.WarningStrings()[0].find(
                "r.yaml:12:86: spec.template.spec.containers[0].resources.requests.memory"),
            std::string::npos)
      << ok.WarningStrings()[0];
  Diagnostics bad;
  DecodeText(text("{limits: {cpu: 1x, memory: 1Gi}, requests: {cpu: \"2\"}}"), bad);
  EXPECT_NE(bad.ErrorText().find("resources.limits.cpu: \"1x\" is not a quantity"),
            std::string::npos)
      << bad.ErrorText();
  Diagnostics over;
  DecodeText(text("{limits: {cpu: 500m}, requests: {cpu: \"1\"}}"), over);
  EXPECT_NE(
      over.ErrorText().find("resources.requests.cpu: must be less than or equal to the cpu limit"),
      std::string::npos)
      << over.ErrorText();
}

TEST(WorkloadsDecodeTest, AServiceClusterIpMustBeALoopbackAddress) {
  auto text = [](const std::string& ip) {
    return "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  clusterIP: " + ip +
           "\n  ports: [{port: 80}]\n";
  };
  Diagnostics ok;
  auto rs = DecodeText(text("127.1.2.3"), ok);
  ASSERT_FALSE(ok.HasErrors()) << ok.ErrorText();
  EXPECT_EQ(std::get<Service>(rs.at(0).value).cluster_ip, "127.1.2.3");
  Diagnostics other;
  DecodeText(text("10.96.0.10"), other);
  EXPECT_EQ(other.ErrorText(),
            "r.yaml:5:14: spec.clusterIP: \"10.96.0.10\" is not a loopback address (127.0.0.0/8): "
            "the local target serves a Service on loopback; leave clusterIP out to have one "
            "allocated");
  Diagnostics headless;
  DecodeText(text("None"), headless);
  EXPECT_NE(headless.ErrorText().find("spec.clusterIP: None (a headless Service) is not supported"),
            std::string::npos)
      << headless.ErrorText();
  EXPECT_FALSE(IsLoopbackIpv4("127.1"));
  EXPECT_FALSE(IsLoopbackIpv4("128.0.0.1"));
}

TEST(WorkloadsDecodeTest, IntOrPercentResolvesLikeKubernetes) {
  EXPECT_EQ((IntOrPercent{25, true}).Resolve(10, true), 3);
  EXPECT_EQ((IntOrPercent{25, true}).Resolve(10, false), 2);
  EXPECT_EQ((IntOrPercent{2, false}).Resolve(10, true), 2);
}

}  // namespace
}  // namespace strake::model
