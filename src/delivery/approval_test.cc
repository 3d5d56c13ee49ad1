#include "delivery/approval.h"

#include <gtest/gtest.h>

namespace strake::delivery {
namespace {

Responder Who(const std::string& user, const std::string& role = "deployer",
              const Json& claims = Json::object()) {
  return {user, role, claims};
}

Json Respond(Json responses, const Responder& who, const std::string& action,
             const std::string& message = "") {
  responses.push_back(ResponseRecord(who, action, "2027-01-15T08:00:00Z", message));
  return responses;
}

ApprovalConfig Config(const std::string& json) {
  auto c = ParseApprovalConfig(Json::parse(json));
  EXPECT_TRUE(c) << c.error().message;
  return c ? *c : ApprovalConfig{};
}

// Kargo's docs: "Quorum With a Required Approver" — two distinct approvals,
// one of them from platform-leads.
TEST(Approval, AQuorumWithARequiredApprover) {
  ApprovalConfig c = Config(R"({"minApprovals": 2, "approvers": [
      {"claim": "groups", "value": "platform-leads", "required": true},
      {"role": "admin"}]})");
  Json leads = {{"groups", Json::array({"platform-leads", "dev"})}};
  Json r = Json::array();
  EXPECT_EQ(Decide(c, r, "carol").message,
            "approvals 0/2: 2 more approvers needed; one approval from claim "
            "groups=platform-leads");
  r = Respond(r, Who("ann", "admin"), "approve");
  Decision d = Decide(c, r, "carol");
  EXPECT_EQ(d.status, StepStatus::kRunning);
  EXPECT_EQ(d.message,
            "approvals 1/2: 1 more approver needed; one approval from claim groups=platform-leads");
  r = Respond(r, Who("ann", "admin"), "approve");  // the same user again: still one
  EXPECT_EQ(Decide(c, r, "carol").status, StepStatus::kRunning);
  r = Respond(r, Who("lee", "viewer", leads), "approve", "ship it");
  d = Decide(c, r, "carol");
  EXPECT_EQ(d.status, StepStatus::kSucceeded);
  ASSERT_EQ(d.output["responses"].size(), 3u);
  EXPECT_EQ(
      d.output["responses"][2].dump(),
      R"({"user":"lee","action":"approve","time":"2027-01-15T08:00:00Z","message":"ship it"})");
}

// GitLab's rules: the creator cannot approve (unless allowed), any eligible
// rejection fails, one who is not an approver is refused and not counted.
TEST(Approval, TheCreatorCannotApproveAndARejectionFails) {
  ApprovalConfig c = Config("{}");
  Json r = Respond(Json::array(), Who("carol"), "approve");
  EXPECT_EQ(Decide(c, r, "carol").message,
            "approvals 0/1: 1 more approver needed; the creator cannot approve");
  EXPECT_EQ(*RefuseResponse(c, Who("carol"), "approve", r, "carol"),
            "carol created this Promotion and cannot approve it (allowSelfApproval: true in the "
            "step's config allows it)");
  ApprovalConfig self = Config(R"({"allowSelfApproval": true})");
  EXPECT_EQ(Decide(self, r, "carol").status, StepStatus::kSucceeded);
  // A viewer is no approver when no rule names one.
  EXPECT_EQ(*RefuseResponse(c, Who("vic", "viewer"), "approve", r, "carol"),
            "vic is not an approver of this step (approvers: anyone who may write in the "
            "namespace)");
  r = Respond(r, Who("dan"), "reject", "not on a Friday");
  Decision d = Decide(c, r, "carol");
  EXPECT_EQ(d.status, StepStatus::kFailed);
  EXPECT_EQ(d.message, "rejected by dan: not on a Friday");
  EXPECT_EQ(*RefuseResponse(c, Who("dan"), "reject", r, "carol"),
            "dan has given a rejection already");
  // An approval after a rejection replaces it (one response per user).
  r = Respond(r, Who("dan"), "approve");
  EXPECT_EQ(Decide(c, r, "carol").status, StepStatus::kSucceeded);
}

TEST(Approval, ARejectionByOneWhoIsNotAnApproverCountsForNothing) {
  ApprovalConfig c = Config(R"({"approvers": [{"role": "admin"}]})");
  Json r = Respond(Json::array(), Who("dev1"), "reject", "no");
  EXPECT_EQ(Decide(c, r, "").status, StepStatus::kRunning);
  EXPECT_TRUE(RefuseResponse(c, Who("dev1"), "reject", Json::array(), ""));
  EXPECT_FALSE(RefuseResponse(c, Who("root", "admin"), "reject", Json::array(), ""));
}

TEST(Approval, BadConfigsSayWhichField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"minApprovals": 0})", "config.minApprovals: an integer from 1 to 100"},
      {R"({"approvers": [{"role": "release-manager"}]})",
       "config.approvers[0].role: \"release-manager\" is not a strake role"},
      {R"({"approvers": [{"claim": "groups"}]})",
       "config.approvers[0]: claim and value, or role, are required"},
      {R"({"approvers": [{"claim": "g", "value": "v", "role": "admin"}]})",
       "config.approvers[0]: a rule sets either claim and value, or role"},
      {R"({"approvers": [{"group": "x"}]})", "config.approvers[0].group: not a field"},
      {R"({"pollInterval": "soon"})", "config.pollInterval: a duration"},
      {R"({"quorum": 2})", "config.quorum: not a field of wait-for-approval"},
  };
  for (const auto& [json, want] : cases) {
    auto c = ParseApprovalConfig(Json::parse(json));
    ASSERT_FALSE(c) << json;
    EXPECT_NE(c.error().message.find(want), std::string::npos) << c.error().message;
  }
}

}  // namespace
}  // namespace strake::delivery
