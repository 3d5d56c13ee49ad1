#include "cli/audit.h"

#include <fmt/format.h>

#include "base/http.h"
#include "cli/table.h"

namespace strake::cli {

AuditCommands::AuditCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* group = app.add_subcommand("audit", "the audit log: who changed what (admin)");
  group->require_subcommand(1);
  auto* log = group->add_subcommand("log", "entries, oldest first");
  log->add_option("--since", since_, "RFC 3339 time (2026-11-22T10:00:00Z)");
  log->add_option("--limit", limit_, "the newest N entries (default 100)");
  log->add_option("-o,--output", ctx.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  AddServerFlags(log, ctx);
  table.Add(log, [this] { return Log(); });

  auto* verify = group->add_subcommand(
      "verify", "check the hash chain: finds an edited, removed or reordered entry");
  AddServerFlags(verify, ctx);
  table.Add(verify, [this] { return Verify(); });
}

int AuditCommands::Log() {
  Client c(ctx_, NoServer::kDefaultAddress);
  std::string q = fmt::format("?limit={}", limit_);
  if (!since_.empty()) q += "&since=" + http::UrlEncode(since_);
  auto a = c.Call("GET", "/apis/strake.dev/v1/audit" + q);
  if (!a) return Die(a.error().message);
  if (ctx_.output == "json") {
    fmt::print("{}\n", a->body.dump(2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}};
  for (const auto& e : a->body.value("items", Json::array())) {
    rows.push_back({fmt::format("{}", e.value("seq", 0)), e.value("time", ""), e.value("actor", ""),
                    e.value("action", ""), e.value("target", ""), e.value("detail", "")});
  }
  PrintTable(rows);
  return 0;
}

int AuditCommands::Verify() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", "/apis/strake.dev/v1/audit/verify");
  if (!a) return Die(a.error().message);
  if (a->body.value("ok", false)) {
    fmt::print("audit log intact: {} entries, each chained to the one before\n",
               a->body.value("entries", 0));
    return 0;
  }
  fmt::print("audit log BROKEN: {}\n", a->body.value("problem", ""));
  return 1;
}

}  // namespace strake::cli
