#include "cli/tokens.h"

#include <fmt/format.h>

#include "base/clock.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

constexpr const char* kTokens = "/apis/strake.dev/v1/tokens";

}  // namespace

TokenCommands::TokenCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* group = app.add_subcommand("token", "API tokens: create, list, revoke (admin)");
  group->require_subcommand(1);
  auto* create = group->add_subcommand("create", "make a token; it is shown this once");
  create->add_option("--role", role_, "admin, deployer or viewer")
      ->required()
      ->check(CLI::IsMember({"admin", "deployer", "viewer"}));
  create->add_option("--namespace", ns_, "limit the token to one namespace");
  create->add_option("--expires", expires_, "e.g. 30d, 12h (default: never)");
  create->add_option("--description", description_, "what it is for");
  create->add_option("--user", user_, "the person it speaks for (approvals count users)");
  create->add_option("--claim", claims_,
                     "NAME=VALUE, repeatable: claims approver rules match (groups=leads)");
  AddServerFlags(create, ctx);
  table.Add(create, [this] { return Create(); });

  auto* list = group->add_subcommand("list", "every token (never their secrets)");
  AddServerFlags(list, ctx);
  table.Add(list, [this] { return List(); });

  auto* revoke = group->add_subcommand("revoke", "revoke a token at once");
  revoke->add_option("id", id_)->required();
  AddServerFlags(revoke, ctx);
  table.Add(revoke, [this] { return Revoke(); });
}

int TokenCommands::Create() {
  Client c(ctx_, NoServer::kDefaultAddress);
  Json body = {
      {"role", role_}, {"namespace", ns_}, {"expires", expires_}, {"description", description_}};
  if (!user_.empty()) body["user"] = user_;
  // A claim given more than once is a list (groups=a --claim groups=b).
  Json claims = Json::object();
  for (const auto& claim : claims_) {
    auto eq = claim.find('=');
    if (eq == std::string::npos || eq == 0) return Die("--claim " + claim + ": NAME=VALUE");
    std::string key = claim.substr(0, eq), value = claim.substr(eq + 1);
    if (!claims.contains(key)) {
      claims[key] = value;
    } else {
      if (claims[key].is_string()) claims[key] = Json::array({claims[key]});
      claims[key].push_back(value);
    }
  }
  if (!claims.empty()) body["claims"] = claims;
  auto a = c.Call("POST", kTokens, body.dump());
  if (!a) return Die(a.error().message);
  fmt::print("token {} ({}{}), shown this once:\n  {}\n", a->body.value("id", ""), role_,
             ns_.empty() ? "" : " in " + ns_, a->body.value("token", ""));
  return 0;
}

int TokenCommands::List() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("GET", kTokens);
  if (!a) return Die(a.error().message);
  std::vector<std::vector<std::string>> rows{
      {"ID", "ROLE", "NAMESPACE", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION"}};
  auto when = [](int64_t ms) { return ms ? FormatRfc3339(FromUnixMillis(ms)) : "never"; };
  for (const auto& t : a->body.value("items", Json::array())) {
    rows.push_back({t.value("id", ""), t.value("role", ""), t.value("namespace", ""),
                    when(t.value("createdAtMs", int64_t{0})),
                    when(t.value("expiresAtMs", int64_t{0})),
                    t.value("revoked", false) ? "yes" : "", t.value("description", "")});
  }
  PrintTable(rows);
  return 0;
}

int TokenCommands::Revoke() {
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("DELETE", std::string(kTokens) + "/" + id_);
  if (!a) return Die(a.error().message);
  fmt::print("token {} revoked\n", id_);
  return 0;
}

}  // namespace strake::cli
