// POST .../promotions/NAME/approve|reject: a response to the Promotion's
// running wait-for-approval step (delivery/approval.h), or, before it
// starts, to the approval policies of its Project and of the server that
// hold it (delivery/gates.h), by the caller the Gate names. Recorded in the Promotion's
// strake.dev/approvals annotation (an object write: the reconciler's status writes cannot lose it),
// which wakes the Promotion; the step decides. Every response is in the audit log (the Gate records
// each change).
#include <fmt/format.h>

#include "base/clock.h"
#include "base/strings.h"
#include "delivery/approval.h"
#include "delivery/gates.h"
#include "model/decode.h"
#include "server/api.h"
#include "server/auth.h"

namespace strake::server {

using store::Json;

namespace {

constexpr size_t kMaxMessage = 4096;

// The running wait-for-approval step of `promo`: its index and alias, or why
// the Promotion is not waiting for one.
Result<std::pair<size_t, std::string>> WaitingStep(const store::Resource& promo) {
  const Json st = promo.status.is_object() ? promo.status : Json::object();
  const Json steps = promo.object.value("spec", Json::object()).value("steps", Json::array());
  const Json records = st.value("stepExecutionMetadata", Json::array());
  auto current = static_cast<size_t>(st.value("currentStep", 0));
  std::string phase = st.value("phase", "Pending");
  bool waiting = phase == "Running" && current < steps.size() && current < records.size() &&
                 steps[current].value("uses", "") == delivery::kWaitForApprovalStep &&
                 records[current].value("status", "") == "Running";
  if (!waiting) {
    return Failf(ErrorCode::kConflict, "promotion {} is not waiting for an approval: it is {}{}",
                 promo.key.name, phase,
                 current < steps.size()
                     ? fmt::format(" at step {} ({})", current, steps[current].value("uses", ""))
                     : "");
  }
  return std::make_pair(current, records[current].value("alias", ""));
}

// A response to the approval policies that hold a Promotion before it
// starts (ProjectConfig/ClusterConfig approvalPolicies), written into
// `promo`'s annotations: under each policy the responder may answer.
// Nullopt when written; else the refusal. `waiting` is why the Promotion is
// at no approval step, said when no policy holds it either.
std::optional<Response> PolicyResponse(store::Store& store, store::Resource& promo,
                                       const delivery::Responder& who, const std::string& action,
                                       const std::string& message, const Error& waiting) {
  const Json st = promo.status.is_object() ? promo.status : Json::object();
  const std::string phase = st.value("phase", "Pending");
  if (phase != "Pending" && !phase.empty()) return ErrorResponse(waiting);
  const std::string stage_name = promo.object.value("spec", Json::object()).value("stage", "");
  auto stage_res = store.Get({"Stage", promo.key.ns, stage_name});
  if (!stage_res) return ErrorResponse(stage_res.error());
  if (!*stage_res) return ErrorResponse(waiting);
  auto decoded = model::DecodeObject((**stage_res).object, "stage " + stage_name);
  if (!decoded) return ErrorResponse(422, "Invalid", decoded.error().message);
  // Only the approval policies are read here: no criterion is checked.
  auto gates = delivery::ReadGates(store, std::get<model::Stage>(decoded->value),
                                   UnixMillis(std::chrono::system_clock::now()), nullptr);
  if (!gates) return ErrorResponse(gates.error());
  if (gates->approvals.empty()) return ErrorResponse(waiting);
  Json& annotations = promo.object["metadata"]["annotations"];
  if (!annotations.is_object()) annotations = Json::object();
  Json all = delivery::ApprovalsOf(annotations);
  const std::string creator = annotations.value(delivery::kCreateActorAnnotation, "");
  // A policy counts people: a token that speaks for no user (token:<id>)
  // could be one of several held by one person.
  if (StartsWith(who.user, "token:")) {
    return ErrorResponse(403, "Forbidden",
                         fmt::format("promotion {}: an approval policy counts people, and this "
                                     "token speaks for none (strake token create --user NAME)",
                                     promo.key.name));
  }
  std::vector<std::string> refused;
  bool recorded = false;
  for (const auto& p : gates->approvals) {
    const std::string key = p.Key();
    Json responses = all.value(key, Json::array());
    // Only the policies that still hold it are answered.
    if (delivery::Decide(p.config, responses, creator).status == delivery::StepStatus::kSucceeded)
      continue;
    if (auto why = delivery::RefuseResponse(p.config, who, action, responses, creator)) {
      refused.push_back(fmt::format("approval policy {}: {}", p.name, *why));
      continue;
    }
    responses.push_back(delivery::ResponseRecord(
        who, action, FormatRfc3339(std::chrono::system_clock::now()), message));
    all[key] = responses;
    recorded = true;
  }
  if (!recorded) {
    return ErrorResponse(403, "Forbidden",
                         fmt::format("promotion {}: {}", promo.key.name,
                                     refused.empty() ? "its approval policies are met already"
                                                     : Join(refused, "; ")));
  }
  annotations[delivery::kApprovalsAnnotation] = all.dump();
  return std::nullopt;
}

}  // namespace

Response Api::PromotionAction(const std::string& ns, const std::string& name,
                              const std::string& action, const Request& req) {
  if ((action != "approve" && action != "reject") || req.method != "POST") {
    return ErrorResponse(
        404, "NotFound",
        fmt::format("no {} {} for promotion (POST approve, POST reject)", req.method, action));
  }
  Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.value("message", Json("")).is_string())
    return ErrorResponse(400, "BadRequest", action + " takes {\"message\": TEXT}");
  const std::string message = body.value("message", "");
  if (message.size() > kMaxMessage)
    return ErrorResponse(413, "TooLarge", fmt::format("message: at most {} bytes", kMaxMessage));
  if (action == "reject" && Trim(message).empty())
    return ErrorResponse(422, "Invalid", "a rejection says why: {\"message\": TEXT}");
  auto who = PrincipalOf(req);
  if (!who) return ErrorResponse(401, "Unauthorized", "an approval needs a caller with a token");
  delivery::Responder responder{who->Identity(), RoleName(who->role), who->claims};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = store_.Get({"Promotion", ns, name});
    if (!got) return ErrorResponse(got.error());
    if (!*got)
      return ErrorResponse(404, "NotFound", fmt::format("promotion {} not found", Quote(name)));
    store::Resource promo = std::move(**got);
    auto step = WaitingStep(promo);
    if (!step) {
      // Not at a step: the approval policies that hold it before it starts.
      if (auto refused = PolicyResponse(store_, promo, responder, action, message, step.error()))
        return *refused;
      auto w = store_.Update(promo, promo.resource_version);
      if (w) return Get(*KindByPlural("promotions"), ns, name);
      if (!w.error().Is(ErrorCode::kConflict)) return ErrorResponse(w.error());
      continue;
    }
    const auto& [index, alias] = *step;
    Json raw = promo.object["spec"]["steps"][index].value("config", Json());
    // A config with expressions is checked as the step evaluated it (its
    // output's "rules"), never as written.
    if (raw.dump().find("${{") != std::string::npos) {
      const Json state =
          promo.status.is_object() ? promo.status.value("state", Json::object()) : Json::object();
      const Json out = state.value(alias, Json::object());
      if (!out.is_object() || !out.contains("rules"))
        return ErrorResponse(409, "Conflict",
                             fmt::format("promotion {}: its approval step has not evaluated its "
                                         "rules yet; try again in a moment",
                                         name));
      raw = out["rules"];
    }
    auto config = delivery::ParseApprovalConfig(raw);
    if (!config) return ErrorResponse(422, "Invalid", config.error().message);
    Json& annotations = promo.object["metadata"]["annotations"];
    if (!annotations.is_object()) annotations = Json::object();
    Json all = delivery::ApprovalsOf(annotations);
    Json responses = all.value(alias, Json::array());
    std::string creator = annotations.value(delivery::kCreateActorAnnotation, "");
    if (auto why = delivery::RefuseResponse(*config, responder, action, responses, creator))
      return ErrorResponse(403, "Forbidden", fmt::format("promotion {}: {}", name, *why));
    responses.push_back(delivery::ResponseRecord(
        responder, action, FormatRfc3339(std::chrono::system_clock::now()), message));
    all[alias] = responses;
    annotations[delivery::kApprovalsAnnotation] = all.dump();
    auto w = store_.Update(promo, promo.resource_version);
    if (w) return Get(*KindByPlural("promotions"), ns, name);
    if (!w.error().Is(ErrorCode::kConflict)) return ErrorResponse(w.error());
  }
  return ErrorResponse(409, "Conflict", fmt::format("promotion {} kept changing; try again", name));
}

}  // namespace strake::server
