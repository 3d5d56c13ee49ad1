#include "cli/incidents.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

// --at as given (RFC 3339), or now.
Result<std::string> When(const std::string& at) {
  if (at.empty()) return FormatRfc3339(std::chrono::system_clock::now());
  if (!ParseRfc3339(at)) return Failf("--at {}: not an RFC 3339 time (2026-12-07T06:00:00Z)", at);
  return at;
}

}  // namespace

IncidentCommands::IncidentCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* incident = app.add_subcommand(
      "incident", "declare an outage and its end: DORA's failures, recoveries and rework");
  incident->require_subcommand(1);
  auto* open = incident->add_subcommand("open", "open an incident: what caused it failed");
  open->add_option("title", title_, "what is wrong")->required();
  open->add_option("--environment", environment_, "the environment it hit");
  open->add_option("--deployment", deployment_,
                   "the deployment that caused it (an id `strake dora --explain` lists)");
  open->add_option("--commit", commit_, "the commit that caused it");
  open->add_option("--name", name_, "its name (default: incident-XXXXX)");
  open->add_option("--at", at_, "when it began, RFC 3339 (default: now)");
  AddApiFlags(open, ctx);
  table.Add(open, [this] { return Open(); });
  auto* close = incident->add_subcommand("close", "close an incident: service is restored");
  close->add_option("name", name_, "the incident")->required();
  close->add_option("--at", at_, "when service came back, RFC 3339 (default: now)");
  AddApiFlags(close, ctx);
  table.Add(close, [this] { return Close(); });
}

int IncidentCommands::Open() {
  auto k = ServedKind("incidents");
  if (!k) return Die(k.error().message);
  auto at = When(at_);
  if (!at) return Die(at.error().message);
  Json spec = {{"title", title_}, {"source", "cli"}, {"openedAt", *at}};
  if (!environment_.empty()) spec["environment"] = environment_;
  if (!deployment_.empty()) spec["deployment"] = deployment_;
  if (!commit_.empty()) spec["commit"] = commit_;
  Json meta = {{"namespace", ctx_.ns}};
  if (name_.empty()) {
    meta["generateName"] = "incident-";
  } else {
    meta["name"] = name_;
  }
  Json incident = {
      {"apiVersion", (*k)->api_version}, {"kind", "Incident"}, {"metadata", meta}, {"spec", spec}};
  Client c(ctx_, NoServer::kDataDirectory);
  auto made = c.Call("POST", Collection(**k, ctx_.ns), incident.dump());
  if (!made) return Die(made.error().message);
  fmt::print("incident/{} opened at {}\n",
             made->body.value("metadata", Json::object()).value("name", ""), *at);
  return 0;
}

int IncidentCommands::Close() {
  auto k = ServedKind("incidents");
  if (!k) return Die(k.error().message);
  auto at = When(at_);
  if (!at) return Die(at.error().message);
  Json patch = {{"spec", {{"closedAt", *at}}}};
  Client c(ctx_, NoServer::kDataDirectory);
  auto live = c.Call("GET", Collection(**k, ctx_.ns) + "/" + name_);
  if (!live) return Die(live.error().message);
  const Json spec = live->body.is_object() ? live->body.value("spec", Json::object()) : Json();
  if (at_.empty() && spec.is_object() && spec.contains("closedAt")) {
    return Die(fmt::format("incident/{} is closed already (at {}); --at moves its close", name_,
                           spec["closedAt"].dump()));
  }
  auto a = c.Call("PATCH", Collection(**k, ctx_.ns) + "/" + name_, patch.dump(),
                  "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  fmt::print("incident/{} closed at {}\n", name_, *at);
  return 0;
}

}  // namespace strake::cli
