#include "server/pods.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "base/fs.h"
#include "gitops/health.h"
#include "store/sqlite_store.h"

namespace strake::server {
namespace {

using namespace std::chrono_literals;
using store::Json;

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

class PodsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("pods");
    ASSERT_TRUE(dir) << dir.error().message;
    dir_ = *dir;
    auto st = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(st);
    store_ = std::move(*st);
    pods_ = std::make_unique<PodReconciler>(*store_, clock_, AttemptPlace{dir_ + "/logs", dir_},
                                            [this](const std::string&) { ++enqueued_; });
  }
  void TearDown() override {
    pods_.reset();
    (void)RemoveAll(dir_);
  }

  Json PodObject(const std::string& name, const Json& container, const std::string& policy) {
    Json spec = {{"containers", Json::array({container})}};
    if (!policy.empty()) spec["restartPolicy"] = policy;
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec", spec}};
  }

  void Create(const std::string& name, const std::string& script, const std::string& policy) {
    store::Resource r;
    r.key = {"Pod", "default", name};
    r.object = PodObject(
        name, {{"name", "main"}, {"image", "busybox"}, {"command", {"sh", "-c", script}}}, policy);
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }

  store::Resource Get(const std::string& name) {
    auto got = store_->Get({"Pod", "default", name});
    EXPECT_TRUE(got && *got);
    return got && *got ? **got : store::Resource{};
  }

  // Reconciles until `pred` holds of the stored Pod, as the controller's
  // queue would (each ended attempt asks for one).
  bool ReconcileUntil(const std::string& name, const std::function<bool(const Json&)>& pred,
                      std::chrono::milliseconds limit = 15s) {
    return WaitFor(
        [&] {
          EXPECT_TRUE(pods_->Reconcile("default/" + name));
          return pred(Get(name).status);
        },
        limit);
  }

  std::string dir_;
  SystemClock clock_;
  store::StorePtr store_;
  std::atomic<int> enqueued_{0};
  std::unique_ptr<PodReconciler> pods_;
};

Json State(const Json& status) { return status["containerStatuses"][0]["state"]; }

// restartPolicy Never: the container runs once; exit 0 is Succeeded (Argo
// CD: Healthy), else Failed (Degraded) with the exit code.
TEST_F(PodsTest, NeverRunsOnceAndEndsByItsExitCode) {
  Create("ok", "echo hello", "Never");
  Create("bad", "exit 3", "Never");
  ASSERT_TRUE(
      ReconcileUntil("ok", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  ASSERT_TRUE(
      ReconcileUntil("bad", [](const Json& s) { return s.value("phase", "") == "Failed"; }));
  store::Resource ok = Get("ok"), bad = Get("bad");
  EXPECT_EQ(State(ok.status)["terminated"]["exitCode"], 0);
  EXPECT_EQ(State(ok.status)["terminated"]["reason"], "Completed");
  EXPECT_EQ(State(bad.status)["terminated"]["exitCode"], 3);
  EXPECT_EQ(bad.status["containerStatuses"][0]["restartCount"], 0);
  EXPECT_FALSE(ok.status.contains("marker"));
  std::string msg;
  EXPECT_EQ(gitops::ObjectHealth("Pod", ok.object, ok.status, 1), gitops::Health::kHealthy);
  EXPECT_EQ(gitops::ObjectHealth("Pod", bad.object, bad.status, 1, &msg),
            gitops::Health::kDegraded);
  EXPECT_EQ(msg, "container \"main\" failed with exit code 3");
  EXPECT_NE(ReadFile(dir_ + "/logs/default/ok.log").value_or("").find("hello"), std::string::npos);
}

// Always (the default) restarts after any exit, with a back-off shown as
// CrashLoopBackOff and counted in restartCount; Argo CD calls it Degraded.
TEST_F(PodsTest, AlwaysRestartsWithABackOff) {
  Create("loop", "exit 0", "");
  ASSERT_TRUE(ReconcileUntil("loop", [](const Json& s) {
    return s["containerStatuses"][0].value("restartCount", 0) >= 2;
  }));
  store::Resource p = Get("loop");
  EXPECT_EQ(p.status["phase"], "Running");
  EXPECT_EQ(p.status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 0);
  if (State(p.status).contains("waiting")) {
    EXPECT_EQ(State(p.status)["waiting"]["reason"], "CrashLoopBackOff");
    EXPECT_EQ(gitops::ObjectHealth("Pod", p.object, p.status, 1), gitops::Health::kDegraded);
  }
}

// OnFailure restarts a failed container and ends Succeeded once it exits 0.
TEST_F(PodsTest, OnFailureRestartsUntilItSucceeds) {
  std::string flag = dir_ + "/second";
  Create("retry", "test -e " + flag + " && exit 0; touch " + flag + "; exit 1", "OnFailure");
  ASSERT_TRUE(
      ReconcileUntil("retry", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  store::Resource p = Get("retry");
  EXPECT_EQ(p.status["containerStatuses"][0]["restartCount"], 1);
  EXPECT_EQ(p.status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
}

// A running Pod that ends on its own: healthy while it runs under Always
// (ready), progressing under Never (a hook's finite life).
TEST_F(PodsTest, ARunningPodsHealthDependsOnItsPolicy) {
  Create("serve", "sleep 30", "Always");
  Create("hook", "sleep 30", "Never");
  ASSERT_TRUE(pods_->Reconcile("default/serve"));
  ASSERT_TRUE(pods_->Reconcile("default/hook"));
  store::Resource serve = Get("serve"), hook = Get("hook");
  EXPECT_EQ(serve.status["phase"], "Running");
  EXPECT_TRUE(State(serve.status).contains("running"));
  EXPECT_EQ(gitops::ObjectHealth("Pod", serve.object, serve.status, 1), gitops::Health::kHealthy);
  EXPECT_EQ(gitops::ObjectHealth("Pod", hook.object, hook.status, 1), gitops::Health::kProgressing);
  // Deleted: the process goes with it.
  pid_t pid = serve.status.value("pid", 0);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(store_->Delete({"Pod", "default", "serve"}));
  ASSERT_TRUE(pods_->Reconcile("default/serve"));
  EXPECT_TRUE(WaitFor([&] { return ::kill(pid, 0) != 0; }, 10s));
}

// A container with only an image, or an env key that is missing, cannot
// start: the Pod stays Pending and its container's waiting state says why.
TEST_F(PodsTest, WhatCannotStartSaysWhy) {
  store::Resource r;
  r.key = {"Pod", "default", "image-only"};
  r.object = PodObject("image-only", {{"name", "main"}, {"image", "nginx:1.27"}}, "");
  ASSERT_TRUE(store_->Create(r, "Created", ""));
  r.key = {"Pod", "default", "no-key"};
  r.object = PodObject(
      "no-key",
      {{"name", "main"},
       {"image", "busybox"},
       {"command", {"true"}},
       {"env",
        Json::array({{{"name", "X"},
                      {"valueFrom", {{"configMapKeyRef", {{"name", "absent"}, {"key", "k"}}}}}}})}},
      "Never");
  ASSERT_TRUE(store_->Create(r, "Created", ""));
  ASSERT_TRUE(pods_->Reconcile("default/image-only"));
  auto again = pods_->Reconcile("default/no-key");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->requeue_after.has_value());
  store::Resource image = Get("image-only"), key = Get("no-key");
  EXPECT_EQ(image.status["phase"], "Pending");
  EXPECT_EQ(State(image.status)["waiting"]["reason"], "CreateContainerError");
  EXPECT_NE(State(image.status)["waiting"]["message"].get<std::string>().find(
                "runs with this machine's programs"),
            std::string::npos);
  // Always: Argo CD calls a container waiting on an error Degraded.
  EXPECT_EQ(gitops::ObjectHealth("Pod", image.object, image.status, 1), gitops::Health::kDegraded);
  EXPECT_EQ(State(key.status)["waiting"]["reason"], "CreateContainerConfigError");
  EXPECT_EQ(gitops::ObjectHealth("Pod", key.object, key.status, 1), gitops::Health::kProgressing);
  // Nothing changed: no new write (no event per reconcile).
  int64_t version = image.resource_version;
  ASSERT_TRUE(pods_->Reconcile("default/image-only"));
  EXPECT_EQ(Get("image-only").resource_version, version);
}

// A server killed during an attempt: the next one kills what carries the
// attempt's marker and counts it as a failed exit (Never: Failed).
TEST_F(PodsTest, AnAttemptLeftByAKilledServerEndsAndCounts) {
  std::string pidfile = dir_ + "/pid";
  Create("lost", "echo $$ > " + pidfile + "; exec sleep 300", "Never");
  ASSERT_TRUE(pods_->Reconcile("default/lost"));
  pid_t pid = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        pid = std::atoi(ReadFile(pidfile).value_or("0").c_str());
        return pid > 0;
      },
      10s));
  // A new reconciler, as after a restart, with the old attempt still running
  // (the old one is released without killing it: its runner is gone with it
  // in a real crash).
  PodReconciler again(*store_, clock_, AttemptPlace{dir_ + "/logs", dir_},
                      [](const std::string&) {});
  ASSERT_TRUE(again.Reconcile("default/lost"));
  EXPECT_TRUE(WaitFor([&] { return ::kill(pid, 0) != 0; }, 10s));
  store::Resource p = Get("lost");
  EXPECT_EQ(p.status["phase"], "Failed");
  EXPECT_EQ(State(p.status)["terminated"]["message"], "the server restarted during the attempt");
}

// A new spec: the Pod is made again from it (Kubernetes refuses the change).
TEST_F(PodsTest, ANewSpecRecreatesThePod) {
  Create("v", "exit 0", "Never");
  ASSERT_TRUE(
      ReconcileUntil("v", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  store::Resource p = Get("v");
  p.object["spec"]["containers"][0]["command"] = {"sh", "-c", "exit 4"};
  ASSERT_TRUE(store_->Update(p, p.resource_version));
  ASSERT_TRUE(ReconcileUntil("v", [](const Json& s) { return s.value("phase", "") == "Failed"; }));
  EXPECT_EQ(State(Get("v").status)["terminated"]["exitCode"], 4);
  EXPECT_EQ(Get("v").status["observedGeneration"], 2);
}

// A running Pod whose spec changes, or that is deleted and made again under
// its name, runs the new one: the old attempt's end is not the new one's.
TEST_F(PodsTest, ARunningPodMadeAgainRunsTheNewSpec) {
  Create("v", "sleep 300", "Never");
  ASSERT_TRUE(pods_->Reconcile("default/v"));
  store::Resource p = Get("v");
  ASSERT_EQ(p.status["phase"], "Running");
  p.object["spec"]["containers"][0]["command"] = {"sh", "-c", "echo second"};
  ASSERT_TRUE(store_->Update(p, p.resource_version));
  ASSERT_TRUE(
      ReconcileUntil("v", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  EXPECT_EQ(Get("v").status["observedGeneration"], 2);

  Create("w", "sleep 300", "Never");
  ASSERT_TRUE(pods_->Reconcile("default/w"));
  pid_t old_pid = Get("w").status.value("pid", 0);
  ASSERT_GT(old_pid, 0);
  ASSERT_TRUE(store_->Delete({"Pod", "default", "w"}));
  Create("w", "echo made again", "Never");  // before any reconcile saw the delete
  ASSERT_TRUE(
      ReconcileUntil("w", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  EXPECT_TRUE(WaitFor([&] { return ::kill(old_pid, 0) != 0; }, 10s)) << "the old one is gone";
}

// activeDeadlineSeconds ends the Pod Failed with Kubernetes' reason.
TEST_F(PodsTest, ItsDeadlineEndsIt) {
  store::Resource r;
  r.key = {"Pod", "default", "slow"};
  r.object = PodObject(
      "slow", {{"name", "main"}, {"image", "busybox"}, {"command", {"sleep", "300"}}}, "Always");
  r.object["spec"]["activeDeadlineSeconds"] = 1;
  ASSERT_TRUE(store_->Create(r, "Created", ""));
  ASSERT_TRUE(
      ReconcileUntil("slow", [](const Json& s) { return s.value("phase", "") == "Failed"; }));
  store::Resource p = Get("slow");
  EXPECT_EQ(p.status["reason"], "DeadlineExceeded");
  EXPECT_EQ(gitops::ObjectHealth("Pod", p.object, p.status, 1), gitops::Health::kDegraded);
}

// The downward API: env valueFrom.fieldRef gives the Pod's own fields.
TEST_F(PodsTest, TheDownwardApiGivesThePodsFields) {
  auto ref = [](const char* name, const char* path) {
    return Json{{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", path}}}}}};
  };
  store::Resource r;
  r.key = {"Pod", "default", "self"};
  r.object = PodObject(
      "self",
      {{"name", "main"},
       {"image", "busybox"},
       {"command", {"sh", "-c", "echo $POD_NAME/$POD_NAMESPACE/$APP/$IP/$SA"}},
       {"env",
        Json::array({ref("POD_NAME", "metadata.name"), ref("POD_NAMESPACE", "metadata.namespace"),
                     ref("APP", "metadata.labels['app']"), ref("IP", "status.podIP"),
                     ref("SA", "spec.serviceAccountName")})}},
      "Never");
  r.object["metadata"]["labels"] = {{"app", "web"}};
  ASSERT_TRUE(store_->Create(r, "Created", ""));
  ASSERT_TRUE(
      ReconcileUntil("self", [](const Json& s) { return s.value("phase", "") == "Succeeded"; }));
  EXPECT_EQ(ReadFile(dir_ + "/logs/default/self.log").value_or(""),
            "self/default/web/127.0.0.1/default\n");
}

}  // namespace
}  // namespace strake::server
