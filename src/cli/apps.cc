#include "cli/apps.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "base/duration.h"
#include "cli/resources.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

std::vector<std::vector<std::string>> DryRunRows(const Json& answer) {
  std::vector<std::vector<std::string>> rows{{"KIND", "NAMESPACE", "NAME", "ACTION"}};
  for (const auto& r : answer.value("resources", Json::array())) {
    rows.push_back({r.value("kind", ""), r.value("namespace", ""), r.value("name", ""),
                    r.value("action", "")});
  }
  return rows;
}

std::vector<std::vector<std::string>> SyncResultRows(const Json& op) {
  std::vector<std::vector<std::string>> rows{{"KIND", "NAMESPACE", "NAME", "RESULT", "MESSAGE"}};
  for (const auto& r : op.value("syncResult", Json::object()).value("resources", Json::array())) {
    rows.push_back({r.value("kind", ""), r.value("namespace", ""), r.value("name", ""),
                    r.value("status", ""), r.value("message", "")});
  }
  return rows;
}

}  // namespace

AppCommands::AppCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* group = app.add_subcommand("app", "Argo CD Applications: keep resources equal to git");
  group->require_subcommand(1);
  auto* list = group->add_subcommand("list", "every Application with its sync and health status");
  AddApiFlags(list, ctx);
  table.Add(list, [this] { return GetResources(ctx_, {"applications"}, {}); });

  auto* get = group->add_subcommand("get", "an Application: source, status, and its resources");
  get->add_option("name", name_)->required();
  AddApiFlags(get, ctx);
  table.Add(get, [this] { return Get(); });

  auto* diff = group->add_subcommand(
      "diff", "what a sync would change, per resource (exit 1 when out of sync)");
  diff->add_option("name", name_)->required();
  AddApiFlags(diff, ctx);
  table.Add(diff, [this] { return Diff(); });

  auto* sync = group->add_subcommand("sync", "apply the source's resources now, and wait");
  sync->add_option("name", name_)->required();
  sync->add_flag("--prune", prune_, "delete resources the source no longer declares");
  sync->add_flag("--dry-run", dry_run_, "say what would change, change nothing");
  sync->add_option("--revision", revision_, "branch, tag or commit (default: the target)");
  sync->add_flag("--async", async_, "do not wait for the sync to finish");
  sync->add_option("--timeout", timeout_, "give up waiting after this long (default 10m)");
  AddApiFlags(sync, ctx);
  table.Add(sync, [this] { return Sync(false); });

  auto* history = group->add_subcommand("history", "the revisions synced, newest last");
  history->add_option("name", name_)->required();
  AddApiFlags(history, ctx);
  table.Add(history, [this] { return History(); });

  auto* rollback = group->add_subcommand(
      "rollback", "sync to a history entry again (turns automated sync off, as Argo CD does)");
  rollback->add_option("name", name_)->required();
  rollback->add_option("id", history_id_, "history id (strake app history NAME)")->required();
  rollback->add_flag("--prune", prune_, "delete resources that entry does not declare");
  rollback->add_option("--timeout", timeout_, "give up waiting after this long (default 10m)");
  AddApiFlags(rollback, ctx);
  table.Add(rollback, [this] { return Sync(true); });
}

std::string AppCommands::Path() const {
  return Collection(*model::KindByPlural("applications"), ctx_.ns) + "/" + name_;
}

int AppCommands::Get() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", Path());
  if (!a) return Die(a.error().message);
  fmt::print("{}", AppText(a->body));
  return 0;
}

int AppCommands::Diff() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", Path() + "/diff");
  if (!a) return Die(a.error().message);
  bool differs = false;
  for (const auto& d : a->body.value("items", Json::array())) {
    if (d.value("status", "") == "Synced") continue;
    differs = true;
    fmt::print("===== {} {}/{} ======\n{}", d.value("kind", ""), d.value("namespace", ""),
               d.value("name", ""), d.value("diff", ""));
  }
  return differs ? 1 : 0;
}

int AppCommands::History() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", Path());
  if (!a) return Die(a.error().message);
  std::vector<std::vector<std::string>> rows{{"ID", "DATE", "REVISION"}};
  for (const auto& h : a->body.value("status", Json::object()).value("history", Json::array())) {
    rows.push_back(
        {fmt::format("{}", h.value("id", 0)), h.value("deployedAt", ""),
         fmt::format("{} ({})", h.value("source", Json::object()).value("targetRevision", ""),
                     h.value("revision", "").substr(0, 12))});
  }
  if (rows.size() == 1) {
    fmt::print("application {} has not been synced yet\n", name_);
    return 0;
  }
  PrintTable(rows);
  return 0;
}

int AppCommands::Sync(bool rollback) {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto started =
      rollback
          ? c.Call("POST", Path() + "/rollback",
                   Json{{"id", history_id_}, {"prune", prune_}}.dump())
          : c.Call("POST", Path() + "/sync",
                   Json{{"revision", revision_}, {"prune", prune_}, {"dryRun", dry_run_}}.dump());
  if (!started) return Die(started.error().message);
  if (dry_run_) {
    fmt::print("dry run at {}:\n", started->body.value("revision", "").substr(0, 12));
    PrintTable(DryRunRows(started->body));
    return 0;
  }
  if (async_) {
    fmt::print("application {}: sync started\n", name_);
    return 0;
  }
  return Wait(c);
}

int AppCommands::Wait(Client& c) {
  auto limit = ParseDuration(timeout_);
  if (!limit) return Die("--timeout: " + limit.error().message);
  auto end = std::chrono::steady_clock::now() + *limit;
  std::string last;
  while (true) {
    auto a = c.Call("GET", Path());
    if (!a) return Die(a.error().message);
    const Json op = a->body.value("status", Json::object()).value("operationState", Json::object());
    std::string phase = op.value("phase", "");
    std::string msg = op.value("message", "");
    if (phase == "Running" && msg != last && !msg.empty()) {
      fmt::print(stderr, "  {}\n", msg);
      last = msg;
    }
    if (phase == "Succeeded" || phase == "Failed" || phase == "Error") {
      PrintTable(SyncResultRows(op));
      fmt::print("{}: {}\n", phase, msg);
      return phase == "Succeeded" ? 0 : 1;
    }
    if (std::chrono::steady_clock::now() > end) return Die("timed out waiting for the sync");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string AppText(const Json& a) {
  const Json spec = a.value("spec", Json::object());
  const Json src = spec.value("source", Json::object());
  const Json st = a.value("status", Json::object());
  const Json sync = st.value("sync", Json::object());
  const Json health = st.value("health", Json::object());
  const Json op = st.value("operationState", Json::object());
  const Json meta = a.value("metadata", Json::object());
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    out += fmt::format("{:<16} {}\n", label, value);
  };
  line("Name:", meta.value("namespace", "") + "/" + meta.value("name", ""));
  line("Project:", spec.value("project", "default"));
  line("Destination:", "local");
  line("Repo:", src.value("repoURL", ""));
  line("Target:", src.value("targetRevision", "HEAD"));
  line("Path:", src.value("path", "."));
  bool automated = spec.value("syncPolicy", Json::object()).contains("automated");
  line("Sync Policy:", automated ? "Automated" : "Manual");
  std::string rev = sync.value("revision", "");
  line("Sync Status:", fmt::format("{}{}", sync.value("status", "Unknown"),
                                   rev.empty() ? "" : " to " + rev.substr(0, 12)));
  std::string health_message = health.value("message", "");
  line("Health Status:", health.value("status", "Unknown") +
                             (health_message.empty() ? "" : " (" + health_message + ")"));
  for (const auto& c : st.value("conditions", Json::array())) {
    line("Condition:", c.value("type", "") + ": " + c.value("message", ""));
  }
  if (!op.empty()) {
    std::string op_message = op.value("message", "");
    line("Operation:", fmt::format("Sync {} {}", op.value("phase", ""),
                                   op_message.empty() ? "" : "(" + op_message + ")"));
  }
  std::vector<std::vector<std::string>> rows{
      {"GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"}};
  for (const auto& r : st.value("resources", Json::array())) {
    const Json h = r.value("health", Json::object());
    std::string status = r.value("status", "");
    if (r.value("requiresPruning", false)) status += " (requires pruning)";
    rows.push_back({r.value("group", ""), r.value("kind", ""), r.value("namespace", ""),
                    r.value("name", ""), status, h.value("status", ""), h.value("message", "")});
  }
  return out + "\n" + TableText(rows);
}

}  // namespace strake::cli
