#include "delivery/promotion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include "delivery/approval.h"
#include "delivery/builtin_steps.h"
#include "delivery/stage.h"
#include "store/temp_store.h"

namespace strake::delivery {
namespace {

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

// A step that does what the test says: each call appends its alias and
// config to `calls`, then answers from `script` (Succeeded when empty).
struct Scripted : StepRunner {
  std::vector<std::pair<std::string, Json>>* calls;
  std::vector<StepOutcome> script;
  explicit Scripted(std::vector<std::pair<std::string, Json>>* c) : calls(c) {}
  StepOutcome Run(const StepContext& ctx) override {
    calls->emplace_back(ctx.alias, ctx.config);
    if (script.empty()) {
      StepOutcome out;
      out.output = {{"echo", ctx.config}};
      return out;
    }
    StepOutcome out = script.front();
    script.erase(script.begin());
    return out;
  }
};

class PromotionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = store::TempStore::Make("promotion-test-");
    ASSERT_TRUE(made) << made.error().message;
    temp_ = std::move(*made);
    store_ = &temp_.store();
    dir_ = temp_.dir();
    auto step = std::make_unique<Scripted>(&calls_);
    step_ = step.get();
    steps_.Add("scripted", std::move(step));
    AddBuiltinSteps(steps_, *store_,
                    [this](const std::string& ns, const std::string& name,
                           const gitops::SyncRequest& req) -> Result<Json> {
                      syncs_.push_back({ns + "/" + name, req});
                      return Json::object();
                    });
    reconciler_ = std::make_unique<PromotionReconciler>(*store_, steps_, clock_, dir_ + "/work");
    reconciler_->SetWake([this](const std::string& kind, const std::string& key) {
      woken_.push_back(kind + " " + key);
    });
    Create("Freight", "f1",
           R"({"alias": "one", "origin": {"kind": "Warehouse", "name": "w"},
        "commits": [{"repoURL": "https://git.example.com/app.git", "id": ")" +
               std::string(kCommit) + R"("}]})");
    Create("Freight", "f2", R"({"origin": {"kind": "Warehouse", "name": "w"},
        "commits": [{"repoURL": "https://git.example.com/app.git", "id": "ff"}]})");
    Create("Stage", "dev", R"({"spec": {"requestedFreight": [{"origin": {"kind": "Warehouse",
        "name": "w"}, "sources": {"direct": true}}]}})");
  }
  void Create(const std::string& kind, const std::string& name, const std::string& body) {
    store::Resource r;
    r.key = {kind, "demo", name};
    r.object = Json::parse(body);
    r.object["apiVersion"] = "kargo.akuity.io/v1alpha1";
    r.object["kind"] = kind;
    r.object["metadata"] = {{"name", name}, {"namespace", "demo"}};
    ASSERT_TRUE(store_->Create(r, "Created", "")) << name;
  }

  // A Promotion of `freight` into dev with `steps` (JSON).
  std::string Promote(const std::string& name, const std::string& freight, const std::string& steps,
                      const std::string& vars = "[]") {
    Create("Promotion", name,
           R"({"spec": {"stage": "dev", "freight": ")" + freight + R"(", "vars": )" + vars +
               R"(, "steps": )" + steps + "}}");
    return name;
  }

  controller::ReconcileResult Reconcile(const std::string& name) {
    auto got = reconciler_->Reconcile("demo/" + name);
    EXPECT_TRUE(got) << got.error().message;
    return got ? *got : controller::ReconcileResult{};
  }
  Json StatusOf(const std::string& kind, const std::string& name) {
    return (*store_->Get({kind, "demo", name}))->status;
  }
  std::string Phase(const std::string& promo) {
    return StatusOf("Promotion", promo).value("phase", "");
  }

  store::TempStore temp_;
  store::Store* store_ = nullptr;
  std::string dir_;
  FakeClock clock_{FromUnixMillis(1'800'000'000'000)};
  StepRegistry steps_;
  Scripted* step_ = nullptr;
  std::vector<std::pair<std::string, Json>> calls_;
  std::vector<std::pair<std::string, gitops::SyncRequest>> syncs_;
  std::vector<std::string> woken_;
  std::unique_ptr<PromotionReconciler> reconciler_;
};

TEST_F(PromotionTest, StepsRunInOrderWithTemplatesAndTheFreightBecomesCurrent) {
  Promote("p1", "f1",
          R"([{"uses": "scripted", "as": "first", "config": {"who": "${{ ctx.stage }}",
                "commit": "${{ commitFrom(vars.repo).ID }}", "alias": "${{ ctx.targetFreight.alias }}"}},
              {"uses": "compose-output", "as": "out", "config": {"url": "${{ vars.repo }}/${{ outputs.first.echo.who }}"}},
              {"uses": "scripted", "config": {"got": "${{ outputs.out.url }}", "n": "${{ 1 + 1 }}"}}])",
          R"([{"name": "repo", "value": "https://git.example.com/app.git"}])");
  Reconcile("p1");
  EXPECT_EQ(Phase("p1"), "Succeeded");
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[0].second,
            (Json{{"who", "dev"}, {"commit", kCommit}, {"alias", ""}}));  // alias: no label here
  EXPECT_EQ(calls_[1].first, "step-3");
  EXPECT_EQ(calls_[1].second, (Json{{"got", "https://git.example.com/app.git/dev"}, {"n", 2}}));
  Json st = StatusOf("Promotion", "p1");
  EXPECT_EQ(st["state"]["out"]["url"], "https://git.example.com/app.git/dev");
  EXPECT_EQ(st["stepExecutionMetadata"].size(), 3u);
  EXPECT_EQ(st["stepExecutionMetadata"][2]["status"], "Succeeded");
  EXPECT_EQ(st["freight"]["name"], "f1");
  // The Freight is in the Stage, and verified there (no verification yet).
  Json f1 = StatusOf("Freight", "f1");
  EXPECT_TRUE(f1["currentlyIn"].contains("dev"));
  EXPECT_TRUE(f1["verifiedIn"].contains("dev"));
  Json dev = StatusOf("Stage", "dev");
  EXPECT_EQ(CurrentFreight(dev), std::vector<std::string>{"f1"});
  EXPECT_EQ(dev["lastPromotion"]["name"], "p1");
  EXPECT_EQ(dev["lastPromotion"]["status"]["phase"], "Succeeded");
  EXPECT_FALSE(dev.contains("currentPromotion"));
  EXPECT_EQ(woken_.front(), "Stage demo/dev");
}

// Steps inflated from a PromotionTask (delivery/promotion_task.h): each sees
// its task's outputs by their own aliases, and what the task composes is
// the output of the task step itself.
TEST_F(PromotionTest, ATasksStepsSeeTheirTasksOutputsAndItsComposedOutput) {
  Promote("p1", "f1",
          R"([{"uses": "compose-output", "as": "t::first", "config": {"a": "1"}},
              {"uses": "compose-output", "as": "u::first", "config": {"a": "other"}},
              {"uses": "scripted", "as": "t::second", "config": {"seen": "${{ task.outputs.first.a }}"}},
              {"uses": "scripted", "as": "after", "config": {"task": "${{ outputs.t.a }}"}}])");
  Reconcile("p1");
  EXPECT_EQ(Phase("p1"), "Succeeded") << StatusOf("Promotion", "p1").dump(2);
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[0].second, (Json{{"seen", 1}}));  // a whole-string template: JSON
  EXPECT_EQ(calls_[1].second, (Json{{"task", 1}}));
  EXPECT_EQ(StatusOf("Promotion", "p1")["state"]["u"]["a"], "other");
}

// Kargo's set-metadata, read back by freightMetadata(), stageMetadata()
// and freightStatus() in a later step.
TEST_F(PromotionTest, SetMetadataIsReadBackByTheMetadataFunctions) {
  Promote("p1", "f1",
          R"([{"uses": "set-metadata", "config": {"updates": [
                {"kind": "Freight", "name": "f1", "values": {"a": 1, "deep": {"x": [1, 2]}}},
                {"kind": "Stage", "name": "dev", "values": {"b": "x"}}]}},
              {"uses": "scripted", "config": {"fm": "${{ freightMetadata('f1').deep.x[1] }}",
                "sm": "${{ stageMetadata(ctx.stage).b }}",
                "fs": "${{ freightStatus('f1').metadata.a }}",
                "none": "${{ stageMetadata('nope') ?? 'default' }}",
                "at": "${{ now() }}"}}])");
  Reconcile("p1");
  EXPECT_EQ(Phase("p1"), "Succeeded") << StatusOf("Promotion", "p1").dump(2);
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].second, (Json{{"fm", 2},
                                    {"sm", "x"},
                                    {"fs", 1},
                                    {"none", "default"},
                                    {"at", FormatRfc3339(clock_.Now())}}));
  EXPECT_EQ(StatusOf("Freight", "f1")["metadata"]["deep"], (Json{{"x", {1, 2}}}));
  EXPECT_TRUE(StatusOf("Freight", "f1")["currentlyIn"].contains("dev"));  // the rest stays
  Promote(
      "p2", "f1",
      R"([{"uses": "set-metadata", "config": {"updates": [{"kind": "Warehouse", "name": "w", "values": {"a": 1}}]}}])");
  Reconcile("p2");
  EXPECT_EQ(Phase("p2"), "Errored");
  EXPECT_NE(StatusOf("Promotion", "p2").dump().find("kind must be Stage or Freight"),
            std::string::npos);
}

TEST_F(PromotionTest, OnePromotionOfAStageRunsAtATimeOldestFirst) {
  step_->script = {
      StepOutcome{{StepStatus::kRunning, "busy", "", false}, Json::object(), std::nullopt}};
  Promote("a", "f1", R"([{"uses": "scripted"}])");
  clock_.Advance(std::chrono::milliseconds(1));
  Promote("b", "f2", R"([{"uses": "scripted"}])");
  EXPECT_FALSE(Reconcile("b").requeue_after);  // woken when "a" ends
  EXPECT_EQ(Phase("b"), "Pending");
  EXPECT_EQ(StatusOf("Promotion", "b")["message"], "waiting for Promotion a of Stage dev");
  EXPECT_EQ(Reconcile("a").requeue_after, PromotionReconciler::kStepRetry);  // Running
  EXPECT_EQ(Phase("a"), "Running");
  EXPECT_EQ(StatusOf("Stage", "dev")["currentPromotion"]["name"], "a");
  Reconcile("a");
  EXPECT_EQ(Phase("a"), "Succeeded");
  EXPECT_NE(std::find(woken_.begin(), woken_.end(), "Promotion demo/b"), woken_.end());
  Reconcile("b");
  EXPECT_EQ(Phase("b"), "Succeeded");
  // f1 left dev when f2 arrived: its soak there is kept.
  Json f1 = StatusOf("Freight", "f1");
  EXPECT_FALSE(f1["currentlyIn"].contains("dev"));
  EXPECT_TRUE(f1["verifiedIn"]["dev"].contains("longestSoak"));
  Json history = StatusOf("Stage", "dev")["freightHistory"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["items"]["Warehouse/w"]["name"], "f2");
}

TEST_F(PromotionTest, AStepRecordedRunningWhenTheServerDiedRunsAgainAndNothingBeforeIt) {
  Promote("p", "f1", R"([{"uses": "scripted", "as": "a"}, {"uses": "scripted", "as": "b"}])");
  // What a server killed inside step b left: a done, b Running.
  store::Resource p = **store_->Get({"Promotion", "demo", "p"});
  Json st = {{"phase", "Running"},
             {"currentStep", 1},
             {"freight", {{"name", "f1"}}},
             {"state", {{"a", {{"echo", nullptr}}}}},
             {"stepExecutionMetadata",
              {{{"alias", "a"}, {"status", "Succeeded"}, {"startedAt", "2027-01-15T08:00:00Z"}},
               {{"alias", "b"}, {"status", "Running"}, {"startedAt", "2027-01-15T08:00:01Z"}}}}};
  ASSERT_TRUE(store_->UpdateStatus(p.key, st, p.resource_version, "Running", ""));
  Reconcile("p");
  ASSERT_EQ(calls_.size(), 1u);
  EXPECT_EQ(calls_[0].first, "b");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(StatusOf("Promotion", "p")["stepExecutionMetadata"][1]["startedAt"],
            "2027-01-15T08:00:01Z");  // the same attempt, not a new step
}

TEST_F(PromotionTest, AFailureSkipsWhatFollowsUnlessItsConditionAsksForIt) {
  Promote("p", "f1",
          R"([{"uses": "fail", "as": "stop", "config": {"message": "not today"}},
              {"uses": "scripted", "as": "skipped"},
              {"uses": "scripted", "as": "cleanup", "if": "${{ failure() }}"},
              {"uses": "scripted", "as": "told", "if": "${{ status('stop') == 'Failed' }}"}])");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Failed");
  Json st = StatusOf("Promotion", "p");
  EXPECT_EQ(st["message"], "failed: not today");
  EXPECT_EQ(st["stepExecutionMetadata"][1]["status"], "Skipped");
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[0].first, "cleanup");
  EXPECT_EQ(calls_[1].first, "told");
  // A failed Promotion leaves the Stage as it was, and says so.
  Json dev = StatusOf("Stage", "dev");
  EXPECT_TRUE(CurrentFreight(dev).empty());
  EXPECT_EQ(dev["lastPromotion"]["status"]["phase"], "Failed");
  EXPECT_FALSE(StatusOf("Freight", "f1").contains("currentlyIn"));
}

TEST_F(PromotionTest, AnErringStepIsTriedAgainUpToItsThreshold) {
  step_->script = {
      StepOutcome{{StepStatus::kErrored, "", "flaky", false}, Json::object(), std::nullopt},
      StepOutcome{{StepStatus::kErrored, "", "flaky", false}, Json::object(), std::nullopt}};
  Promote("p", "f1", R"([{"uses": "scripted", "retry": {"errorThreshold": 3}}])");
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kStepRetry);
  EXPECT_EQ(StatusOf("Promotion", "p")["stepExecutionMetadata"][0]["errorCount"], 1);
  Reconcile("p");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(calls_.size(), 3u);
}

TEST_F(PromotionTest, AConditionThatIsNotABooleanErrsTheStep) {
  Promote("p", "f1", R"([{"uses": "scripted", "if": "${{ 'yes please' }}"}])");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Errored");
  EXPECT_TRUE(calls_.empty());
  EXPECT_NE(StatusOf("Promotion", "p")["message"].get<std::string>().find("not a boolean"),
            std::string::npos);
}

TEST_F(PromotionTest, AMissingFreightErrsThePromotion) {
  Promote("p", "gone", R"([{"uses": "scripted"}])");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Errored");
  EXPECT_EQ(StatusOf("Promotion", "p")["message"], "Freight \"gone\" no longer exists");
}

TEST_F(PromotionTest, AStageThatIsVerifyingRunsNoOtherPromotion) {
  Create("Stage", "qa", R"({"spec": {"requestedFreight": [{"origin": {"kind": "Warehouse",
      "name": "w"}, "sources": {"direct": true}}], "verification": {"analysisTemplates":
      [{"name": "smoke"}]}}})");
  auto verification = [&](const std::string& phase) {
    store::Resource qa = **store_->Get({"Stage", "demo", "qa"});
    Json entry = {{"id", "v"}, {"phase", phase}};
    Json collection = {{"id", "x"}, {"verificationHistory", Json::array({entry})}};
    Json st = {{"freightHistory", Json::array({collection})}};
    ASSERT_TRUE(store_->UpdateStatus(qa.key, st, qa.resource_version, "", ""));
  };
  verification("Running");
  Create("Promotion", "p", R"({"spec": {"stage": "qa", "freight": "f1",
      "steps": [{"uses": "scripted"}]}})");
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kStepRetry);
  EXPECT_EQ(Phase("p"), "Pending");
  EXPECT_EQ(StatusOf("Promotion", "p")["message"],
            "waiting for the verification of Stage qa to end");
  EXPECT_TRUE(calls_.empty());
  verification("Failed");  // ended, however it ended
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
}

// A Promotion admitted while the window was open, still queued when a Deny
// window begins, does not start in it: Pending, saying which window and
// until when, and it runs when the window ends.
TEST_F(PromotionTest, AQueuedPromotionDoesNotStartInAClosedWindow) {
  Create("ProjectConfig", "demo", R"({"spec": {"promotionWindows": [{"name": "freeze",
      "kind": "Deny", "dtstart": "20270115T070000Z", "dtend": "20270115T100000Z"}]}})");
  Promote("p", "f1", R"([{"uses": "scripted"}])");
  auto held = Reconcile("p");  // 08:00Z, inside the freeze
  EXPECT_EQ(Phase("p"), "Pending");
  EXPECT_EQ(StatusOf("Promotion", "p")["message"],
            "waiting for promotion window: window freeze closed until 2027-01-15T10:00:00Z");
  EXPECT_EQ(held.requeue_after, PromotionReconciler::kGatePoll);
  EXPECT_TRUE(calls_.empty());
  clock_.Advance(std::chrono::hours(2));  // 10:00Z: the window's end is open
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(calls_.size(), 1u);
}

// An approval policy of the ProjectConfig holds every Promotion into the
// Stages it selects before it starts, whatever the Stage's steps say: two
// people other than the one who asked; a rejection fails it.
TEST_F(PromotionTest, AnApprovalPolicyHoldsAPromotionUntilItIsMet) {
  Create("ProjectConfig", "demo", R"({"spec": {"approvalPolicies": [{"name": "two-leads",
      "stageSelector": {"name": "dev"}, "minApprovals": 2}]}})");
  auto respond = [&](const std::string& promo, const std::vector<Json>& responses) {
    store::Resource now = **store_->Get({"Promotion", "demo", promo});
    now.object["metadata"]["annotations"][kCreateActorAnnotation] = "carol";
    Json all = {{PolicyKey("two-leads"), responses}};
    now.object["metadata"]["annotations"][kApprovalsAnnotation] = all.dump();
    ASSERT_TRUE(store_->Update(now, now.resource_version));
  };
  Promote("p", "f1", R"([{"uses": "scripted"}])");
  respond("p", {});
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kGatePoll);
  EXPECT_EQ(Phase("p"), "Pending");
  EXPECT_EQ(StatusOf("Promotion", "p")["message"],
            "waiting for approval policy two-leads: approvals 0/2: 2 more approvers needed");
  Responder carol{"carol", "admin", Json::object()}, dan{"dan", "deployer", Json::object()},
      erin{"erin", "deployer", Json::object()};
  const char* at = "2027-01-15T08:00:00Z";
  respond("p", {ResponseRecord(carol, "approve", at, ""), ResponseRecord(dan, "approve", at, "")});
  Reconcile("p");
  EXPECT_EQ(StatusOf("Promotion", "p")["message"],
            "waiting for approval policy two-leads: approvals 1/2: 1 more approver needed; the "
            "creator cannot approve");
  EXPECT_TRUE(calls_.empty());
  respond("p", {ResponseRecord(dan, "approve", at, ""), ResponseRecord(erin, "approve", at, "")});
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(calls_.size(), 1u);
  // A rejection by one who may respond fails the next one before it starts.
  Promote("q", "f2", R"([{"uses": "scripted"}])");
  respond("q", {ResponseRecord(erin, "reject", at, "not during the sale")});
  Reconcile("q");
  EXPECT_EQ(Phase("q"), "Failed");
  EXPECT_NE(StatusOf("Promotion", "q")["message"].get<std::string>().find(
                "approval policy two-leads: rejected by erin: not during the sale"),
            std::string::npos)
      << StatusOf("Promotion", "q").dump();
  EXPECT_EQ(calls_.size(), 1u);
}

// Each gate decision is recorded once (the server's audit log): held, with
// the gate and its values (not again while it holds the same way), then
// passed when it starts.
TEST_F(PromotionTest, EachGateDecisionIsRecordedOnce) {
  std::vector<std::string> records;
  reconciler_->SetGateRecord(
      [&](const std::string& target, const std::string& decision, const std::string& detail) {
        records.push_back(target + " " + decision + ": " + detail);
      });
  Create("ProjectConfig", "demo", R"({"spec": {"stopTheLine": {"reason": "INC-9"}}})");
  Promote("p", "f1", R"([{"uses": "scripted"}])");
  Reconcile("p");
  Reconcile("p");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0],
            "promotion demo/p gate.hold: waiting for line stopped by ProjectConfig demo: INC-9");
  ASSERT_TRUE(store_->Delete({"ProjectConfig", "demo", "demo"}));
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1], "promotion demo/p gate.pass: Freight f1 into Stage dev: no gate holds it");
}

// Kargo's wait-for-approval: Running until an eligible user approves (the
// response in the Promotion's annotation, as the API writes it), then the
// next step; the responses are the step's output.
TEST_F(PromotionTest, AWaitForApprovalStepWaitsForAnApproval) {
  Create("Promotion", "p", R"({"metadata": {}, "spec": {"stage": "dev", "freight": "f1",
      "steps": [{"uses": "wait-for-approval", "as": "gate"}, {"uses": "scripted"}]}})");
  store::Resource p = **store_->Get({"Promotion", "demo", "p"});
  p.object["metadata"]["annotations"] = {{kCreateActorAnnotation, "carol"}};
  ASSERT_TRUE(store_->Update(p, p.resource_version));
  auto respond = [&](const Responder& who) {
    store::Resource now = **store_->Get({"Promotion", "demo", "p"});
    Json all = {
        {"gate", Json::array({ResponseRecord(who, "approve", "2027-01-15T08:00:00Z", "")})}};
    now.object["metadata"]["annotations"][kApprovalsAnnotation] = all.dump();
    ASSERT_TRUE(store_->Update(now, now.resource_version));
  };
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kStepRetry);
  Json st = StatusOf("Promotion", "p");
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["stepExecutionMetadata"][0]["message"], "approvals 0/1: 1 more approver needed");
  respond({"carol", "admin", Json::object()});  // the creator: not counted
  Reconcile("p");
  EXPECT_EQ(StatusOf("Promotion", "p")["stepExecutionMetadata"][0]["message"],
            "approvals 0/1: 1 more approver needed; the creator cannot approve");
  EXPECT_TRUE(calls_.empty());
  respond({"dan", "deployer", Json::object()});
  Reconcile("p");
  st = StatusOf("Promotion", "p");
  EXPECT_EQ(st["phase"], "Succeeded");
  EXPECT_EQ(calls_.size(), 1u);
  EXPECT_EQ(st["state"]["gate"]["responses"][0]["user"], "dan");
}

// A rejection ends the Promotion at once (it does not sit Running at a
// Failed step).
TEST_F(PromotionTest, ARejectionFailsThePromotion) {
  Create("Promotion", "p", R"({"spec": {"stage": "dev", "freight": "f1",
      "steps": [{"uses": "wait-for-approval", "as": "gate"}, {"uses": "scripted"}]}})");
  Reconcile("p");
  store::Resource now = **store_->Get({"Promotion", "demo", "p"});
  Json all = {{"gate", Json::array({ResponseRecord({"dan", "deployer", Json::object()}, "reject",
                                                   "2027-01-15T08:00:00Z", "not today")})}};
  now.object["metadata"]["annotations"][kApprovalsAnnotation] = all.dump();
  ASSERT_TRUE(store_->Update(now, now.resource_version));
  Reconcile("p");
  Json st = StatusOf("Promotion", "p");
  EXPECT_EQ(st["phase"], "Failed") << st.dump(2);
  EXPECT_EQ(st["stepExecutionMetadata"][0]["status"], "Failed");
  EXPECT_NE(st["stepExecutionMetadata"][0]["message"].get<std::string>().find(
                "rejected by dan: not today"),
            std::string::npos);
  EXPECT_TRUE(calls_.empty());
}

// An approval given while a Deny window is active does not carry the next
// steps into it: the Promotion waits, Running, until the window ends.
TEST_F(PromotionTest, StepsAfterAnApprovalWaitForAClosedWindow) {
  Create("Promotion", "p", R"({"spec": {"stage": "dev", "freight": "f1",
      "steps": [{"uses": "wait-for-approval", "as": "gate"}, {"uses": "scripted"}]}})");
  Reconcile("p");  // 08:00Z: Running, waiting for an approval
  Create("ProjectConfig", "demo", R"({"spec": {"promotionWindows": [{"name": "freeze",
      "kind": "Deny", "dtstart": "20270115T080000Z", "dtend": "20270115T090000Z"}]}})");
  store::Resource now = **store_->Get({"Promotion", "demo", "p"});
  Json all = {{"gate", Json::array({ResponseRecord({"dan", "deployer", Json::object()}, "approve",
                                                   "2027-01-15T08:00:00Z", "")})}};
  now.object["metadata"]["annotations"][kApprovalsAnnotation] = all.dump();
  ASSERT_TRUE(store_->Update(now, now.resource_version));
  auto held = Reconcile("p");
  Json st = StatusOf("Promotion", "p");
  EXPECT_EQ(st["phase"], "Running");
  EXPECT_EQ(st["message"],
            "waiting for promotion window: window freeze closed until 2027-01-15T09:00:00Z");
  EXPECT_EQ(st["stepExecutionMetadata"][0]["status"], "Succeeded");
  EXPECT_TRUE(held.requeue_after);
  EXPECT_TRUE(calls_.empty());
  clock_.Advance(std::chrono::hours(1));
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(calls_.size(), 1u);
}

// Kargo's abort annotation ends a Promotion that waits; the next in line
// runs.
TEST_F(PromotionTest, AnAbortRequestEndsTheRunningStepAndThePromotion) {
  step_->script = {
      StepOutcome{{StepStatus::kRunning, "busy", "", false}, Json::object(), std::nullopt}};
  Promote("a", "f1", R"([{"uses": "scripted"}, {"uses": "scripted"}])");
  clock_.Advance(std::chrono::milliseconds(1));
  Promote("b", "f2", R"([{"uses": "scripted"}])");
  Reconcile("a");
  ASSERT_EQ(Phase("a"), "Running");
  store::Resource a = **store_->Get({"Promotion", "demo", "a"});
  a.object["metadata"]["annotations"][kAbortAnnotation] =
      R"({"action": "terminate", "actor": "admin"})";
  ASSERT_TRUE(store_->Update(a, a.resource_version));
  Reconcile("a");
  Json st = StatusOf("Promotion", "a");
  EXPECT_EQ(st["phase"], "Aborted");
  EXPECT_EQ(st["message"], "Promotion terminated by admin");
  EXPECT_EQ(st["stepExecutionMetadata"][0]["status"], "Aborted");
  EXPECT_FALSE(st["stepExecutionMetadata"][1].contains("status"));  // never started
  Json dev = StatusOf("Stage", "dev");
  EXPECT_EQ(dev["lastPromotion"]["status"]["phase"], "Aborted");
  EXPECT_TRUE(CurrentFreight(dev).empty());
  EXPECT_EQ(calls_.size(), 1u);
  Reconcile("b");
  EXPECT_EQ(Phase("b"), "Succeeded");
}

TEST_F(PromotionTest, AStepConfigOfTheWrongShapeErrsTheStepAndEndsThePromotion) {
  Promote("p", "f1", R"([{"uses": "fail", "config": {"message": 42}}])");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Errored");
  EXPECT_NE(StatusOf("Promotion", "p")["message"].get<std::string>().find("step fail:"),
            std::string::npos)
      << StatusOf("Promotion", "p").dump();
}

// A Stage of two origins: Freight of one origin replaces only the Freight
// of that origin; the other stays current.
TEST_F(PromotionTest, AMultiOriginStageKeepsTheOtherOriginsFreight) {
  Create("Stage", "multi", R"({"spec": {"requestedFreight": [
      {"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": true}},
      {"origin": {"kind": "Warehouse", "name": "x"}, "sources": {"direct": true}}]}})");
  Create("Freight", "g1", R"({"origin": {"kind": "Warehouse", "name": "x"},
      "commits": [{"repoURL": "https://git.example.com/other.git", "id": "aa"}]})");
  for (const char* f : {"f1", "g1"}) {
    store::Resource r = **store_->Get({"Freight", "demo", f});
    ASSERT_TRUE(store_->UpdateStatus(
        r.key, FreightArrived(Json::object(), "multi", "2027-01-15T08:00:00Z", true),
        r.resource_version, "", ""));
  }
  store::Resource m = **store_->Get({"Stage", "demo", "multi"});
  Json collection = {{"id", "x"},
                     {"items",
                      {{"Warehouse/w", {{"name", "f1"}, {"origin", {{"name", "w"}}}}},
                       {"Warehouse/x", {{"name", "g1"}, {"origin", {{"name", "x"}}}}}}}};
  ASSERT_TRUE(store_->UpdateStatus(m.key, {{"freightHistory", Json::array({collection})}},
                                   m.resource_version, "", ""));
  Create("Promotion", "p", R"({"spec": {"stage": "multi", "freight": "f2",
      "steps": [{"uses": "scripted"}]}})");
  Reconcile("p");
  ASSERT_EQ(Phase("p"), "Succeeded");
  EXPECT_FALSE(StatusOf("Freight", "f1")["currentlyIn"].contains("multi"));
  EXPECT_TRUE(StatusOf("Freight", "g1")["currentlyIn"].contains("multi"));
  auto current = CurrentFreight(StatusOf("Stage", "multi"));
  std::sort(current.begin(), current.end());
  EXPECT_EQ(current, (std::vector<std::string>{"f2", "g1"}));
}

class ArgoCDUpdateTest : public PromotionTest {
 protected:
  void App(const std::string& annotation) {
    store::Resource r;
    r.key = {"Application", "demo", "web"};
    r.object = Json::parse(R"({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "demo", "annotations": {}},
        "spec": {"source": {"repoURL": "https://git.example.com/app.git", "path": "k8s",
                            "targetRevision": "main"},
                 "destination": {"namespace": "demo"}}})");
    if (!annotation.empty())
      r.object["metadata"]["annotations"][kAuthorizedStageAnnotation] = annotation;
    ASSERT_TRUE(store_->Create(r, "Created", ""));
  }
  void SetOperation(const std::string& phase, const std::string& promotion,
                    const std::string& revision) {
    store::Resource a = **store_->Get({"Application", "demo", "web"});
    Json op = {{"phase", phase},
               {"operation",
                {{"sync", {{"revision", revision}}},
                 {"info", {{{"name", kPromotionInfoKey}, {"value", promotion}}}}}},
               {"syncResult", {{"revision", revision}}}};
    ASSERT_TRUE(store_->UpdateStatus(a.key, {{"operationState", op}}, a.resource_version, "", ""));
  }
  const char* kSteps = R"([{"uses": "argocd-update", "config": {"apps": [{"name": "web",
      "sources": [{"repoURL": "https://git.example.com/app",
                   "desiredRevision": "${{ commitFrom('https://git.example.com/app.git').ID }}",
                   "updateTargetRevision": true}]}]}}])";
};

// Kargo's argocd-wait: no annotation needed in the Promotion's namespace;
// Running until Healthy, Synced and no operation; a fall into Degraded
// fails it at once.
TEST_F(ArgoCDUpdateTest, ArgoCDWaitWaitsForHealthSyncAndNoOperation) {
  App("");
  auto set = [&](const std::string& health, const std::string& sync, const std::string& phase) {
    store::Resource a = **store_->Get({"Application", "demo", "web"});
    Json st = {{"health", {{"status", health}}}, {"sync", {{"status", sync}}}};
    if (!phase.empty()) st["operationState"] = {{"phase", phase}};
    ASSERT_TRUE(store_->UpdateStatus(a.key, st, a.resource_version, "", ""));
  };
  set("Progressing", "Synced", "Running");
  Promote("p", "f1", R"([{"uses": "argocd-wait", "config": {"apps": [{"name": "web"}]}}])");
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kStepRetry);
  EXPECT_EQ(Phase("p"), "Running");
  EXPECT_EQ(StatusOf("Promotion", "p")["stepExecutionMetadata"][0]["message"], "waiting for web");
  set("Healthy", "Synced", "Succeeded");
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(StatusOf("Promotion", "p")["state"]["step-1"]["apps"][0]["health"], "Healthy");

  set("Healthy", "OutOfSync", "");
  clock_.Advance(std::chrono::milliseconds(1));
  Promote("q", "f1", R"([{"uses": "argocd-wait", "config": {"apps": [{"name": "web"}]}}])");
  Reconcile("q");
  EXPECT_EQ(Phase("q"), "Running");
  set("Degraded", "Synced", "");
  Reconcile("q");
  EXPECT_EQ(Phase("q"), "Failed");
  EXPECT_NE(StatusOf("Promotion", "q").dump().find("became Degraded (was Healthy)"),
            std::string::npos);
  clock_.Advance(std::chrono::milliseconds(1));
  Promote(
      "r", "f1",
      R"([{"uses": "argocd-wait", "config": {"apps": [{"name": "web"}], "waitFor": ["degraded"]}}])");
  Reconcile("r");
  EXPECT_EQ(Phase("r"), "Succeeded");
  clock_.Advance(std::chrono::milliseconds(1));
  Promote(
      "s", "f1",
      R"([{"uses": "argocd-wait", "config": {"apps": [{"name": "web"}], "waitFor": ["soon"]}}])");
  Reconcile("s");
  EXPECT_EQ(Phase("s"), "Errored");
}

TEST_F(ArgoCDUpdateTest, AnApplicationThatDoesNotAuthorizeTheStageIsNotTouched) {
  App("demo:prod");
  Promote("p", "f1", kSteps);
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Errored");
  EXPECT_TRUE(syncs_.empty());
  EXPECT_NE(StatusOf("Promotion", "p")["message"].get<std::string>().find(
                "does not permit mutation by Kargo Stage dev"),
            std::string::npos);
}

TEST_F(ArgoCDUpdateTest, TheSyncIsStartedOnceAndTheStepWaitsForIt) {
  App("demo:dev");
  Promote("p", "f1", kSteps);
  EXPECT_EQ(Reconcile("p").requeue_after, PromotionReconciler::kStepRetry);
  ASSERT_EQ(syncs_.size(), 1u);
  EXPECT_EQ(syncs_[0].first, "demo/web");
  EXPECT_EQ(syncs_[0].second.revision, kCommit);
  EXPECT_EQ(syncs_[0].second.info[0]["value"], "p");
  Json app = (*store_->Get({"Application", "demo", "web"}))->object;
  EXPECT_EQ(app["spec"]["source"]["targetRevision"], kCommit);
  // The sync runs: the step waits and starts nothing more.
  SetOperation("Running", "p", kCommit);
  Reconcile("p");
  EXPECT_EQ(syncs_.size(), 1u);
  EXPECT_EQ(Phase("p"), "Running");
  SetOperation("Succeeded", "p", kCommit);
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Succeeded");
  EXPECT_EQ(syncs_.size(), 1u);
  EXPECT_EQ(StatusOf("Promotion", "p")["state"]["step-1"]["apps"][0]["name"], "web");
}

TEST_F(ArgoCDUpdateTest, AFailedSyncErrsTheStepAndAnotherPromotionsSyncIsWaitedFor) {
  App("demo:dev");
  SetOperation("Running", "someone-else", "abc");
  Promote("p", "f1", kSteps);
  Reconcile("p");
  EXPECT_TRUE(syncs_.empty());  // waits for the other sync
  SetOperation("Succeeded", "someone-else", "abc");
  Reconcile("p");
  ASSERT_EQ(syncs_.size(), 1u);
  SetOperation("Failed", "p", kCommit);
  Reconcile("p");
  EXPECT_EQ(Phase("p"), "Errored");
  EXPECT_NE(StatusOf("Promotion", "p")["message"].get<std::string>().find("failed with"),
            std::string::npos);
}

}  // namespace
}  // namespace strake::delivery
