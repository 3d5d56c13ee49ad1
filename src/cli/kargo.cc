#include "cli/kargo.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "base/clock.h"
#include "base/ids.h"
#include "cli/columns.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

constexpr const char* kRefreshAnnotation = "kargo.akuity.io/refresh";

// The Warehouse's Ready condition: "True", or "False: <reason>: <message>".
std::string Ready(const Json& status) {
  const Json c = ConditionOfType(status, "Ready");
  std::string s = c.value("status", "Unknown");
  if (s == "True" || c.empty()) return s;
  return fmt::format("{}: {}: {}", s, c.value("reason", ""), c.value("message", ""));
}

}  // namespace

KargoCommands::KargoCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* refresh = app.add_subcommand(
      "refresh", "ask a Kargo Warehouse to discover now (kargo refresh warehouse)");
  refresh->add_option("kind", kind_, "warehouse")
      ->required()
      ->check(CLI::IsMember({"warehouse", "warehouses"}));
  refresh->add_option("name", name_, "the Warehouse")->required();
  refresh->add_flag("--wait", wait_, "wait until the Warehouse has handled the refresh");
  refresh->add_option("--timeout", timeout_s_, "seconds --wait waits (default 60)");
  AddApiFlags(refresh, ctx);
  table.Add(refresh, [this] { return Refresh(); });
}

int KargoCommands::Refresh() {
  auto k = ServedKind("warehouses");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  // A token no earlier refresh used: the time, and a random tail for two
  // refreshes within one millisecond.
  std::string token = FormatRfc3339(std::chrono::system_clock::now()) + "-" + RandomSuffix(5);
  Json patch = {{"metadata", {{"annotations", {{kRefreshAnnotation, token}}}}}};
  std::string path = Collection(**k, ctx_.ns) + "/" + name_;
  auto a = c.Call("PATCH", path, patch.dump(), "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  if (!wait_) {
    fmt::print("warehouse/{} refresh requested\n", name_);
    return 0;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_);
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = c.Call("GET", path);
    if (!got) return Die(got.error().message);
    const Json status =
        got->body.is_object() ? got->body.value("status", Json::object()) : Json::object();
    if (status.value("lastHandledRefresh", "") == token) {
      fmt::print("warehouse/{} refreshed: Ready {}; last Freight {}\n", name_, Ready(status),
                 status.value("lastFreightID", "<none>"));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Die(
      fmt::format("warehouse/{}: the refresh was not handled within {}s (is strake serve "
                  "running?)",
                  name_, timeout_s_));
}

}  // namespace strake::cli
