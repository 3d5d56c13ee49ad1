#include "cli/kargo.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/clock.h"
#include "base/ids.h"
#include "base/strings.h"
#include "cli/columns.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

constexpr const char* kRefreshAnnotation = "kargo.akuity.io/refresh";

// The `promotion` positional of `approve|reject|abort promotion NAME`.
CLI::Option* PromotionKind(CLI::App* sub, std::string& kind) {
  return sub->add_option("kind", kind, "promotion")
      ->check(CLI::IsMember({"promotion", "promotions", "promo"}));
}

// The Warehouse's Ready condition: "True", or "False: <reason>: <message>".
std::string Ready(const Json& status) {
  const Json c = ConditionOfType(status, "Ready");
  std::string s = c.value("status", "Unknown");
  if (s == "True" || c.empty()) return s;
  return fmt::format("{}: {}: {}", s, c.value("reason", ""), c.value("message", ""));
}

// "pr-7" of "7" or "pr-7" (as `strake pr merge` takes a number), or "".
std::string PullRequestName(const std::string& arg) {
  std::string_view n = arg;
  if (StartsWith(n, "pr-")) n.remove_prefix(3);
  const bool digits = !n.empty() && n.size() <= 18 && n.front() != '0' &&
                      std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? "pr-" + std::string(n) : "";
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

  auto* promote = app.add_subcommand(
      "promote", "ask for a Promotion of Freight into a Kargo Stage (kargo promote)");
  promote->add_option("--stage", stage_, "the Stage")->required();
  auto* freight = promote->add_option("--freight", freight_, "the Freight's name");
  auto* alias = promote->add_option("--freight-alias", freight_alias_, "the Freight's alias")
                    ->excludes(freight);
  promote->add_option("--warehouse", warehouse_, "the newest Freight of this Warehouse")
      ->excludes(freight)
      ->excludes(alias);
  promote->add_flag("--wait", wait_, "follow the Promotion to its end; fail unless it succeeded");
  promote->add_option("--timeout", timeout_s_, "seconds --wait waits (default 60)");
  AddApiFlags(promote, ctx);
  table.Add(promote, [this] { return Promote(); });

  auto* approve = app.add_subcommand(
      "approve",
      "approve Freight for a Kargo Stage, whatever upstream says (kargo approve --stage S "
      "--freight F); or answer a Promotion's wait-for-approval step (approve promotion NAME)");
  PromotionKind(approve, kind_);
  approve->add_option("name", name_, "the Promotion");
  auto* stage = approve->add_option("--stage", stage_, "the Stage the Freight is approved for");
  auto* af = approve->add_option("--freight", freight_, "the Freight's name");
  approve->add_option("--freight-alias", freight_alias_, "the Freight's alias")->excludes(af);
  approve->add_option("--message", message_, "a Promotion's approval: a comment")->excludes(stage);
  AddApiFlags(approve, ctx);
  table.Add(approve, [this] { return kind_.empty() ? Approve() : Respond("approve"); });

  auto* reject = app.add_subcommand(
      "reject", "reject a Promotion waiting in its wait-for-approval step: it fails");
  PromotionKind(reject, kind_)->required();
  reject->add_option("name", name_, "the Promotion")->required();
  reject->add_option("--message", message_, "why (required)")->required();
  AddApiFlags(reject, ctx);
  table.Add(reject, [this] { return Respond("reject"); });

  auto* verify = app.add_subcommand(
      "verify",
      "run a Kargo Stage's verification of its current Freight again, or --abort the one "
      "running (kargo verify stage); check an artifact's signed provenance (verify provenance)");
  verify->add_option("kind", kind_, "stage or provenance")
      ->required()
      ->check(CLI::IsMember({"stage", "stages", "provenance"}));
  verify
      ->add_option("name", name_,
                   "the Stage; or the artifact: its name, uri@digest, a digest or a file")
      ->required();
  verify->add_flag("--abort", abort_, "stop the verification in progress");
  verify->add_option("--key", provenance_.key_file,
                     "provenance: the public key (PEM) to verify with (default: the server's)");
  verify->add_option("--output-envelope", provenance_.envelope_file,
                     "provenance: write the DSSE envelope here (cosign verify-blob-attestation "
                     "--signature)");
  verify->add_option("-o,--output", ctx.output, "provenance: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  AddApiFlags(verify, ctx);
  table.Add(verify, [this] { return Verify(); });

  auto* pr = app.add_subcommand(
      "pr",
      "strake's own pull requests, opened by the git-open-pr promotion step: list, merge, close");
  pr->require_subcommand(1);
  auto* pr_list = pr->add_subcommand("list", "the open pull requests (--all: every one)");
  pr_list->add_flag("--all", all_, "merged and closed ones too");
  AddApiFlags(pr_list, ctx);
  table.Add(pr_list, [this] { return ListPullRequests(); });
  auto* pr_merge = pr->add_subcommand(
      "merge", "merge a pull request into its target branch (git merge, pushed by the server)");
  pr_merge->add_option("number", name_, "its number (7, or pr-7)")->required();
  pr_merge->add_option("--method", method_, "merge (a merge commit, the default) or squash")
      ->check(CLI::IsMember({"merge", "squash"}));
  AddApiFlags(pr_merge, ctx);
  table.Add(pr_merge, [this] { return PullRequest("merge"); });
  auto* pr_close = pr->add_subcommand("close", "close a pull request without merging it");
  pr_close->add_option("number", name_, "its number (7, or pr-7)")->required();
  AddApiFlags(pr_close, ctx);
  table.Add(pr_close, [this] { return PullRequest("close"); });

  auto* abort = app.add_subcommand(
      "abort", "end a Kargo Promotion that is not finished (kargo abort promotion)");
  PromotionKind(abort, kind_)->required();
  abort->add_option("name", name_, "the Promotion")->required();
  AddApiFlags(abort, ctx);
  table.Add(abort, [this] { return Abort(); });
}

int KargoCommands::Verify() {
  if (kind_ == "provenance") {
    if (abort_) return Die("--abort is for a Stage's verification");
    provenance_.artifact = name_;
    return VerifyProvenance(ctx_, provenance_);
  }
  if (!provenance_.key_file.empty() || !provenance_.envelope_file.empty())
    return Die("--key and --output-envelope are for verify provenance");
  auto k = ServedKind("stages");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  const std::string path = Collection(**k, ctx_.ns) + "/" + name_;
  auto got = c.Call("GET", path);
  if (!got) return Die(got.error().message);
  const Json history = got->body.value("status", Json::object()).value("freightHistory", Json());
  const Json vh = history.is_array() && !history.empty() && history[0].is_object()
                      ? history[0].value("verificationHistory", Json::array())
                      : Json::array();
  if (!vh.is_array() || vh.empty() || !vh[0].is_object()) {
    return Die(fmt::format("stage {} has no verification of its current Freight to {}", name_,
                           abort_ ? "abort" : "run again"));
  }
  const std::string id = vh[0].value("id", "");
  const std::string phase = vh[0].value("phase", "");
  const bool running = phase == "Pending" || phase == "Running" || phase.empty();
  if (abort_ && !running)
    return Die(
        fmt::format("stage {}: no verification in progress (the last one is {})", name_, phase));
  if (!abort_ && running) {
    return Die(fmt::format("stage {}: a verification is in progress ({}); --abort stops it", name_,
                           phase));
  }
  const char* key = abort_ ? "kargo.akuity.io/abort" : "kargo.akuity.io/reverify";
  Json patch = {{"metadata", {{"annotations", {{key, Json{{"id", id}}.dump()}}}}}};
  auto a = c.Call("PATCH", path, patch.dump(), "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  fmt::print("stage/{} {} of verification {} requested\n", name_, abort_ ? "abort" : "re-run", id);
  return 0;
}

int KargoCommands::PullRequest(const std::string& action) {
  auto k = ServedKind("pullrequests");
  if (!k) return Die(k.error().message);
  const std::string name = PullRequestName(name_);
  if (name.empty())
    return Die(fmt::format("{}: not a pull request number (7, or pr-7)", Quote(name_)));
  Client c(ctx_, NoServer::kDefaultAddress);
  Json body = Json::object();
  if (!method_.empty()) body["mergeMethod"] = method_;
  auto a = c.Call("POST", Collection(**k, ctx_.ns) + "/" + name + "/" + action, body.dump());
  if (!a) return Die(fmt::format("pullrequest/{}: {}", name, a.error().message));
  const Json st = a->body.value("status", Json::object());
  if (action == "merge") {
    fmt::print("pullrequest/{} merged: {}\n", name, st.value("mergeCommit", ""));
  } else {
    fmt::print("pullrequest/{} closed\n", name);
  }
  return 0;
}

int KargoCommands::ListPullRequests() {
  auto k = ServedKind("pullrequests");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", Collection(**k, ctx_.ns));
  if (!a) return Die(a.error().message);
  std::vector<std::vector<std::string>> rows = {Header(**k)};
  const Json items = a->body.is_object() ? a->body.value("items", Json::array()) : Json::array();
  for (const auto& pr : items.is_array() ? items : Json::array()) {
    const std::string state = pr.value("status", Json::object()).value("state", "");
    if (state != "Open" && !all_) continue;
    rows.push_back(Row(**k, pr, std::chrono::system_clock::now()));
  }
  if (rows.size() == 1) {
    fmt::print(stderr, "no {}pull requests in {}\n", all_ ? "" : "open ", ctx_.ns);
    return 0;
  }
  PrintTable(rows);
  return 0;
}

int KargoCommands::Abort() {
  auto k = ServedKind("promotions");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  Json patch = {
      {"metadata", {{"annotations", {{"kargo.akuity.io/abort", R"({"action":"terminate"})"}}}}}};
  auto a = c.Call("PATCH", Collection(**k, ctx_.ns) + "/" + name_, patch.dump(),
                  "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  fmt::print("promotion/{} abort requested\n", name_);
  return 0;
}

Result<std::string> KargoCommands::FreightName(Client& c) {
  if (!freight_.empty()) return freight_;
  STRAKE_TRY_ASSIGN(k, ServedKind("freights"));
  if (!warehouse_.empty()) {
    STRAKE_TRY_ASSIGN(all, c.Call("GET", Collection(*k, ctx_.ns)));
    std::string newest, newest_at;
    const Json items = all.body.is_object() ? all.body.value("items", Json::array()) : Json();
    for (const auto& f : items.is_array() ? items : Json::array()) {
      if (f.value("origin", Json::object()).value("name", "") != warehouse_) continue;
      std::string at = f.value("discoveredAt", "");
      if (at.empty()) at = f.value("metadata", Json::object()).value("creationTimestamp", "");
      std::string name = f.value("metadata", Json::object()).value("name", "");
      if (newest.empty() || at > newest_at || (at == newest_at && name > newest)) {
        newest = name;
        newest_at = at;
      }
    }
    if (newest.empty())
      return Failf("no Freight from Warehouse {} in {}", Quote(warehouse_), ctx_.ns);
    return newest;
  }
  if (freight_alias_.empty()) return Fail("give --freight, --freight-alias or --warehouse");
  STRAKE_TRY_ASSIGN(got,
                    c.Call("GET", Collection(*k, ctx_.ns) +
                                      "?labelSelector=kargo.akuity.io/alias=" + freight_alias_));
  const Json items = got.body.is_object() ? got.body.value("items", Json::array()) : Json();
  if (!items.is_array() || items.empty())
    return Failf("no Freight with alias {} in {}", Quote(freight_alias_), ctx_.ns);
  return items[0].value("metadata", Json::object()).value("name", "");
}

int KargoCommands::Promote() {
  auto k = ServedKind("promotions");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  auto freight = FreightName(c);
  if (!freight) return Die(freight.error().message);
  Json promotion = {{"apiVersion", (*k)->api_version},
                    {"kind", "Promotion"},
                    {"metadata", {{"namespace", ctx_.ns}}},
                    {"spec", {{"stage", stage_}, {"freight", *freight}}}};
  auto made = c.Call("POST", Collection(**k, ctx_.ns), promotion.dump());
  if (!made) return Die(made.error().message);
  const std::string name = made->body.value("metadata", Json::object()).value("name", "");
  fmt::print("promotion/{} created: freight {} to stage {}\n", name, *freight, stage_);
  if (!wait_) return 0;
  std::string path = Collection(**k, ctx_.ns) + "/" + name;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_);
  std::string seen;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = c.Call("GET", path);
    if (!got) return Die(got.error().message);
    const Json st = got->body.is_object() ? got->body.value("status", Json::object()) : Json();
    const std::string phase = st.is_object() ? st.value("phase", "") : "";
    if (phase != seen && !phase.empty()) fmt::print("promotion/{}: {}\n", name, phase);
    seen = phase;
    if (phase == "Succeeded") return 0;
    if (phase == "Failed" || phase == "Errored" || phase == "Aborted")
      return Die(fmt::format("promotion/{} {}: {}", name, phase, st.value("message", "")));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Die(fmt::format("promotion/{} did not finish within {}s", name, timeout_s_));
}

int KargoCommands::Respond(const std::string& action) {
  if (name_.empty()) return Die(action + " promotion NAME: the Promotion's name is required");
  auto k = ServedKind("promotions");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  Json body = {{"message", message_}};
  auto a = c.Call("POST", Collection(**k, ctx_.ns) + "/" + name_ + "/" + action, body.dump());
  if (!a) return Die(a.error().message);
  fmt::print("promotion/{} {}\n", name_, action == "approve" ? "approved" : "rejected");
  return 0;
}

int KargoCommands::Approve() {
  if (stage_.empty())
    return Die(
        "approve: --stage S (--freight F | --freight-alias A), or "
        "approve promotion NAME");
  auto k = ServedKind("freights");
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  auto freight = FreightName(c);
  if (!freight) return Die(freight.error().message);
  Json body = {{"stage", stage_}};
  auto a = c.Call("POST", Collection(**k, ctx_.ns) + "/" + *freight + "/approve", body.dump());
  if (!a) return Die(a.error().message);
  fmt::print("freight/{} approved for stage {}\n", *freight, stage_);
  return 0;
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
