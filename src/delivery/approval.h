// Approvals of a Promotion: Kargo's `wait-for-approval` step (which Kargo
// runs only on the Akuity Platform) with GitLab's rules. The step waits
// until `minApprovals` distinct eligible users approve (and every rule
// marked `required` has an approval from a user it matches), and fails when
// an eligible user rejects. As in GitLab, one response counts per user
// (a later one replaces the earlier: approve, then reject), and the user who
// created the Promotion cannot approve it unless `allowSelfApproval: true`
// (strake's; a self-rejection counts). Approvers are rules (ORed): a claim of
// the responder's token (`claim` + `value`; a list-valued claim contains it)
// or a strake role (`role`: viewer, deployer or admin, and the roles above
// it). No rules: any user who may write in the namespace.
//
// Responses live in the Promotion's `strake.dev/approvals` annotation
// ({"<step alias>": [response, ...]}), written by the API (an object write,
// never lost to a status write) and read by the step. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "delivery/steps.h"
#include "model/kargo.h"

namespace strake::delivery {

using model::Json;

inline constexpr const char* kWaitForApprovalStep = "wait-for-approval";
inline constexpr const char* kApprovalsAnnotation = "strake.dev/approvals";
inline constexpr const char* kCreateActorAnnotation = "kargo.akuity.io/create-actor";

// Where the responses to an approval policy (ProjectConfig or ClusterConfig
// approvalPolicies) are kept among a Promotion's: beside the steps' aliases.
inline std::string PolicyKey(const std::string& policy) { return "policy:" + policy; }

// The responses recorded in a Promotion's `annotations`, by step alias
// ({} when there are none or the annotation is not an object).
Json ApprovalsOf(const Json& annotations);

struct ApproverRule {
  std::string claim, value, role;
  bool required = false;
};

struct ApprovalConfig {
  std::vector<ApproverRule> approvers;
  int min_approvals = 1;
  bool allow_self_approval = false;
};

// The step's config (evaluated), or an error naming the field.
Result<ApprovalConfig> ParseApprovalConfig(const Json& config);

// Who responds: the identity (a token's user, else "token:<id>"), its
// strake role and its token's claims.
struct Responder {
  std::string user;
  std::string role;
  Json claims = Json::object();
};

bool Matches(const ApproverRule& rule, const Responder& who);
// Whether `who` may respond at all (any rule matches, or there are none).
bool Eligible(const ApprovalConfig& config, const Responder& who);

// A response as recorded: Kargo's fields (user, action, time, message) and
// the responder's role and claims at the time, for eligibility.
Json ResponseRecord(const Responder& who, const std::string& action, const std::string& time,
                    const std::string& message);

// Nullopt when `who` may give `action` ("approve" or "reject") now, given
// the responses so far and the Promotion's creator; else why not.
std::optional<std::string> RefuseResponse(const ApprovalConfig& config, const Responder& who,
                                          const std::string& action, const Json& responses,
                                          const std::string& creator);

// The step's state from its responses: Succeeded (output `responses`, Kargo's
// shape), Failed (rejected), or Running with what is still needed
// ("approvals 1/2: 1 more approver needed; the creator cannot approve").
struct Decision {
  StepStatus status = StepStatus::kRunning;
  std::string message;
  Json output = Json::object();
};
Decision Decide(const ApprovalConfig& config, const Json& responses, const std::string& creator);

}  // namespace strake::delivery
