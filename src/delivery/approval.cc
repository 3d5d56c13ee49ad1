#include "delivery/approval.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "base/duration.h"

namespace strake::delivery {

namespace {

int RoleRank(const std::string& role) {
  if (role == "viewer") return 0;
  if (role == "deployer") return 1;
  if (role == "admin") return 2;
  return -1;
}

Result<ApproverRule> ParseRule(const Json& j, const std::string& path) {
  if (!j.is_object()) return Failf(ErrorCode::kInvalid, "{}: must be an object", path);
  ApproverRule r;
  for (const auto& [key, v] : j.items()) {
    bool ok = key == "required" ? v.is_boolean() : v.is_string();
    if (!ok || (key != "claim" && key != "value" && key != "role" && key != "required"))
      return Failf(ErrorCode::kInvalid,
                   "{}.{}: not a field of an approver rule (claim, value, "
                   "role, required) of its type",
                   path, key);
  }
  r.claim = j.value("claim", "");
  r.value = j.value("value", "");
  r.role = j.value("role", "");
  r.required = j.value("required", false);
  if (!r.role.empty() && (!r.claim.empty() || !r.value.empty()))
    return Failf(ErrorCode::kInvalid, "{}: a rule sets either claim and value, or role", path);
  if (r.role.empty() && (r.claim.empty() || r.value.empty()))
    return Failf(ErrorCode::kInvalid, "{}: claim and value, or role, are required", path);
  if (!r.role.empty() && RoleRank(r.role) < 0)
    return Failf(ErrorCode::kInvalid,
                 "{}.role: {:?} is not a strake role (viewer, deployer, admin)", path, r.role);
  return r;
}

std::string RuleText(const ApproverRule& r) {
  return r.role.empty() ? fmt::format("claim {}={}", r.claim, r.value)
                        : fmt::format("role {}", r.role);
}

Responder ResponderOf(const Json& record) {
  Responder r;
  r.user = record.value("user", "");
  r.role = record.value("role", "");
  r.claims = record.value("claims", Json::object());
  return r;
}

// Each user's last response, in the order of their first.
std::vector<Json> LastPerUser(const Json& responses) {
  std::vector<Json> out;
  std::map<std::string, size_t> at;
  if (!responses.is_array()) return out;
  for (const auto& r : responses) {
    if (!r.is_object()) continue;
    std::string user = r.value("user", "");
    auto [it, fresh] = at.emplace(user, out.size());
    if (fresh) {
      out.push_back(r);
    } else {
      out[it->second] = r;
    }
  }
  return out;
}

}  // namespace

Json ApprovalsOf(const Json& annotations) {
  if (!annotations.is_object()) return Json::object();
  Json all = Json::parse(annotations.value(kApprovalsAnnotation, "{}"), nullptr, false);
  return all.is_object() ? all : Json::object();
}

Result<ApprovalConfig> ParseApprovalConfig(const Json& config) {
  ApprovalConfig c;
  if (config.is_null()) return c;
  if (!config.is_object()) return Fail(ErrorCode::kInvalid, "config: must be an object");
  for (const auto& [key, v] : config.items()) {
    if (key == "approvers") {
      if (!v.is_array()) return Fail(ErrorCode::kInvalid, "config.approvers: must be a list");
      for (size_t i = 0; i < v.size(); ++i) {
        STRAKE_TRY_ASSIGN(rule, ParseRule(v[i], fmt::format("config.approvers[{}]", i)));
        c.approvers.push_back(rule);
      }
    } else if (key == "minApprovals") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 100)
        return Fail(ErrorCode::kInvalid, "config.minApprovals: an integer from 1 to 100");
      c.min_approvals = v.get<int>();
    } else if (key == "pollInterval") {
      if (!v.is_string() || !ParseDuration(v.get<std::string>()))
        return Fail(ErrorCode::kInvalid, "config.pollInterval: a duration such as 30s");
    } else if (key == "allowSelfApproval") {
      if (!v.is_boolean()) return Fail(ErrorCode::kInvalid, "config.allowSelfApproval: a boolean");
      c.allow_self_approval = v.get<bool>();
    } else {
      return Failf(ErrorCode::kInvalid,
                   "config.{}: not a field of wait-for-approval (approvers, minApprovals, "
                   "pollInterval, allowSelfApproval)",
                   key);
    }
  }
  return c;
}

bool Matches(const ApproverRule& rule, const Responder& who) {
  if (!rule.role.empty()) return RoleRank(who.role) >= RoleRank(rule.role);
  if (!who.claims.is_object() || !who.claims.contains(rule.claim)) return false;
  const Json& v = who.claims[rule.claim];
  if (v.is_string()) return v.get<std::string>() == rule.value;
  return v.is_array() && std::find(v.begin(), v.end(), Json(rule.value)) != v.end();
}

bool Eligible(const ApprovalConfig& config, const Responder& who) {
  if (config.approvers.empty()) return RoleRank(who.role) >= RoleRank("deployer");
  return std::any_of(config.approvers.begin(), config.approvers.end(),
                     [&](const ApproverRule& r) { return Matches(r, who); });
}

Json ResponseRecord(const Responder& who, const std::string& action, const std::string& time,
                    const std::string& message) {
  Json r = {{"user", who.user}, {"action", action}, {"time", time}};
  if (!message.empty()) r["message"] = message;
  r["role"] = who.role;
  if (who.claims.is_object() && !who.claims.empty()) r["claims"] = who.claims;
  return r;
}

std::optional<std::string> RefuseResponse(const ApprovalConfig& config, const Responder& who,
                                          const std::string& action, const Json& responses,
                                          const std::string& creator) {
  if (!Eligible(config, who)) {
    std::string rules;
    for (const auto& r : config.approvers) rules += (rules.empty() ? "" : ", ") + RuleText(r);
    return fmt::format("{} is not an approver of this step (approvers: {})", who.user,
                       rules.empty() ? "anyone who may write in the namespace" : rules);
  }
  if (action == "approve" && who.user == creator && !config.allow_self_approval)
    return fmt::format(
        "{} created this Promotion and cannot approve it (allowSelfApproval: true "
        "in the step's config allows it)",
        who.user);
  for (const auto& r : LastPerUser(responses)) {
    if (r.value("user", "") == who.user && r.value("action", "") == action)
      return fmt::format("{} has given {} already", who.user,
                         action == "approve" ? "an approval" : "a rejection");
  }
  return std::nullopt;
}

Decision Decide(const ApprovalConfig& config, const Json& responses, const std::string& creator) {
  Decision d;
  Json kargo = Json::array();  // Kargo's output: every response, in order
  if (responses.is_array()) {
    for (const auto& r : responses) {
      Json k = {{"user", r.value("user", "")},
                {"action", r.value("action", "")},
                {"time", r.value("time", "")}};
      if (r.contains("message")) k["message"] = r["message"];
      kargo.push_back(std::move(k));
    }
  }
  d.output = {{"responses", kargo}};
  std::vector<Responder> approved;
  bool self = false;
  for (const auto& r : LastPerUser(responses)) {
    Responder who = ResponderOf(r);
    if (!Eligible(config, who)) continue;
    if (r.value("action", "") == "reject") {
      d.status = StepStatus::kFailed;
      std::string message = r.value("message", "");
      d.message = fmt::format("rejected by {}{}", who.user, message.empty() ? "" : ": " + message);
      return d;
    }
    if (who.user == creator && !config.allow_self_approval) {
      self = true;
      continue;
    }
    approved.push_back(who);
  }
  std::vector<std::string> needs;
  auto have = static_cast<int>(approved.size());
  if (have < config.min_approvals) {
    int more = config.min_approvals - have;
    needs.push_back(fmt::format("{} more approver{} needed", more, more == 1 ? "" : "s"));
  }
  for (const auto& rule : config.approvers) {
    bool met = std::any_of(approved.begin(), approved.end(),
                           [&](const Responder& w) { return Matches(rule, w); });
    if (rule.required && !met) needs.push_back("one approval from " + RuleText(rule));
  }
  if (needs.empty()) {
    d.status = StepStatus::kSucceeded;
    d.message = fmt::format("approved by {} of {} needed", have, config.min_approvals);
    return d;
  }
  if (self) needs.emplace_back("the creator cannot approve");
  std::string text;
  for (const auto& n : needs) text += (text.empty() ? "" : "; ") + n;
  d.message = fmt::format("approvals {}/{}: {}", have, config.min_approvals, text);
  return d;
}

}  // namespace strake::delivery
