#include "cli/resources.h"

#include <fmt/format.h>

#include "base/http.h"
#include "base/strings.h"
#include "cli/columns.h"
#include "cli/pipelines.h"
#include "cli/rollouts.h"
#include "cli/table.h"
#include "model/decode.h"

namespace strake::cli {

namespace {

// The object or list as -o json or -o yaml asks; false for text.
bool PrintDocument(const std::string& output, const Json& doc) {
  if (output == "json") {
    fmt::print("{}\n", doc.dump(2));
    return true;
  }
  if (output == "yaml") {
    fmt::print("{}", model::ToYaml(doc));
    return true;
  }
  return false;
}

// What `describe` shows of an object, before its events.
Result<std::string> DescribeText(Client& c, const Context& ctx, const model::KindInfo& k,
                                 const Json& obj) {
  if (k.kind == "Rollout") return RolloutText(obj);
  if (k.kind == "PipelineRun" || k.kind == "TaskRun") return RunText(c, ctx, k, obj);
  return model::ToYaml(obj);
}

// The events of an object, oldest first, without status bookkeeping.
void PrintEvents(Client& c, const Context& ctx, const model::KindInfo& k, const std::string& name) {
  std::string ns = k.namespaced ? ctx.ns : "";
  auto ev = c.Call("GET", fmt::format("/apis/strake.dev/v1/events?kind={}&name={}{}", k.kind,
                                      http::UrlEncode(name),
                                      ns.empty() ? "" : "&namespace=" + http::UrlEncode(ns)));
  if (!ev) return;
  fmt::print("Events:\n");
  for (const auto& e : ev->body.value("items", Json::array())) {
    if (e.value("namespace", "") != ns) continue;
    std::string reason = e.value("reason", "");
    if (reason == "Reconciled" || reason == "Measured") continue;
    fmt::print("  {}  {:<20} {}\n", e.value("time", ""), reason, e.value("message", ""));
  }
}

}  // namespace

ResourceCommands::ResourceCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* apply = app.add_subcommand(
      "apply",
      "create or update resources from files (merged on the server: fields set by others are "
      "kept, fields the last apply set and these files no longer do are removed)");
  apply->add_option("-f,--filename", files_, "YAML or JSON files")->required()->type_name("FILE");
  AddApiFlags(apply, ctx);
  table.Add(apply, [this] { return Apply(); });

  auto* create = app.add_subcommand(
      "create",
      "create resources from files; a run with only metadata.generateName (an AnalysisRun, "
      "an Experiment, a PipelineRun) is named by the server, a new one each time");
  create->add_option("-f,--filename", files_, "YAML or JSON files")->required()->type_name("FILE");
  AddApiFlags(create, ctx);
  table.Add(create, [this] { return Create(); });

  auto* get = app.add_subcommand("get", "list resources, or show one: pipelineruns, rollouts...");
  get->add_option("kind", kind_)->required();
  get->add_option("name", name_);
  get->add_option("-o,--output", ctx.output, "text, json or yaml")
      ->check(CLI::IsMember({"text", "json", "yaml"}));
  get->add_option("-l,--selector", selector_, "label selector, e.g. app=web,tier");
  AddApiFlags(get, ctx);
  table.Add(get, [this] { return GetResources(ctx_, kind_, name_, selector_); });

  auto* describe = app.add_subcommand("describe", "show a resource in detail, with its events");
  describe->add_option("kind", kind_)->required();
  describe->add_option("name", name_)->required();
  describe->add_option("-o,--output", ctx.output, "text, json or yaml")
      ->check(CLI::IsMember({"text", "json", "yaml"}));
  AddApiFlags(describe, ctx);
  table.Add(describe, [this] { return Describe(); });

  auto* patch = app.add_subcommand("patch", "change some fields of a resource");
  patch->add_option("kind", kind_)->required();
  patch->add_option("name", name_)->required();
  patch->add_option("-p,--patch", patch_body_, "the patch, as JSON")->required();
  patch->add_option("--type", patch_type_, "merge (RFC 7386, default) or json (RFC 6902)")
      ->check(CLI::IsMember({"merge", "json"}));
  AddApiFlags(patch, ctx);
  table.Add(patch, [this] { return Patch(); });

  auto* del = app.add_subcommand("delete", "delete a resource");
  del->add_option("kind", kind_)->required();
  del->add_option("name", name_)->required();
  AddApiFlags(del, ctx);
  table.Add(del, [this] { return Delete(); });

  auto* logs = app.add_subcommand(
      "logs",
      "print the step logs of a pipelinerun or taskrun (NAME, pipelinerun/NAME, taskrun/NAME), "
      "or a rollout's (rollout/NAME)");
  logs->add_option("name", name_)->required();
  logs->add_option("--task", task_, "runs: only this pipeline task");
  logs->add_option("--step", step_, "runs: only this step");
  logs->add_flag("-f,--follow", follow_, "runs: keep printing until the run ends");
  logs->add_option("--revision", revision_, "rollout/NAME: stable or canary only")
      ->check(CLI::IsMember({"stable", "canary"}));
  AddApiFlags(logs, ctx);
  table.Add(logs, [this] { return Logs(); });
}

int GetResources(const Context& ctx, const std::string& kind, const std::string& name,
                 const std::string& selector) {
  auto k = ServedKind(kind);
  if (!k) return Die(k.error().message);
  std::string path = Collection(**k, ctx.ns) + (name.empty() ? "" : "/" + name);
  if (!selector.empty()) {
    if (!name.empty()) return Die("a label selector lists: give a kind without a name");
    path += "?labelSelector=" + http::UrlEncode(selector);
  }
  Client c(ctx, NoServerFor(**k));
  auto a = c.Call("GET", path);
  if (!a) return Die(a.error().message);
  if (PrintDocument(ctx.output, a->body)) return 0;
  auto now = std::chrono::system_clock::now();
  std::vector<std::vector<std::string>> rows{Header(**k)};
  if (name.empty()) {
    for (const auto& item : a->body.value("items", Json::array()))
      rows.push_back(Row(**k, item, now));
    if (rows.size() == 1) {
      fmt::print("No {} found in namespace {}\n", (*k)->plural, ctx.ns);
      return 0;
    }
  } else {
    rows.push_back(Row(**k, a->body, now));
  }
  PrintTable(rows);
  return 0;
}

int ResourceCommands::Describe() {
  auto k = ServedKind(kind_);
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServerFor(**k));
  auto a = c.Call("GET", Collection(**k, ctx_.ns) + "/" + name_);
  if (!a) return Die(a.error().message);
  if (PrintDocument(ctx_.output, a->body)) return 0;
  auto text = DescribeText(c, ctx_, **k, a->body);
  if (!text) return Die(text.error().message);
  fmt::print("{}", *text);
  PrintEvents(c, ctx_, **k, name_);
  return 0;
}

// Loads and validates every file first, then calls `write` for each
// resource with its kind (one the API serves) and namespace (the file's, else
// -n); a write is then only refused for a reason the files cannot show (the
// server is gone, a conflict). The first failure ends it, with exit status 1.
int ResourceCommands::WriteEach(
    const std::string& verb,
    const std::function<int(Client&, const model::Resource&, const model::KindInfo&,
                            const std::string&)>& write) {
  auto loaded = model::LoadFiles(files_);
  if (!loaded) return Die("invalid input:\n" + loaded.error().message);
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  Client c(ctx_, NoServer::kDefaultAddress);
  for (const auto& r : loaded->resources) {
    const model::KindInfo* k = model::KindOf(r.api_version, r.kind);
    if (!k || !k->served) {
      return Die(fmt::format("{}: {} cannot be {} on a server", r.origin.file, r.kind, verb));
    }
    std::string ns = r.raw["metadata"].contains("namespace") ? r.meta.ns : ctx_.ns;
    if (ns.empty()) ns = ctx_.ns;
    if (int status = write(c, r, *k, ns); status != 0) return status;
  }
  return 0;
}

int ResourceCommands::Apply() {
  return WriteEach("applied", [](Client& c, const model::Resource& r, const model::KindInfo& k,
                                 const std::string& ns) {
    if (r.meta.name.empty()) {
      return Die(
          fmt::format("{}: {} has only metadata.generateName: `strake create -f` makes it "
                      "(apply needs a name to find it again)",
                      r.origin.file, ToLower(r.kind)));
    }
    auto a = c.Call("PATCH", Collection(k, ns) + "/" + r.meta.name, r.raw.dump(),
                    "application/apply-patch+yaml");
    if (!a) return Die(fmt::format("{} {}: {}", ToLower(r.kind), r.meta.name, a.error().message));
    fmt::print("{}/{} {}\n", ToLower(r.kind), r.meta.name,
               a->status == 201 ? "created" : "configured");
    return 0;
  });
}

int ResourceCommands::Create() {
  return WriteEach("created", [](Client& c, const model::Resource& r, const model::KindInfo& k,
                                 const std::string& ns) {
    // A generated name that is taken already (one in 60 million) is tried
    // again with another, as kubectl's server does.
    Result<Answer> a = Fail("not tried");
    for (int attempt = 0; attempt < 3; ++attempt) {
      a = c.Call("POST", Collection(k, ns), r.raw.dump());
      if (a || !r.meta.name.empty() || !a.error().Is(ErrorCode::kAlreadyExists)) break;
    }
    std::string shown = r.meta.name.empty() ? r.meta.generate_name + "*" : r.meta.name;
    if (!a) return Die(fmt::format("{} {}: {}", ToLower(r.kind), shown, a.error().message));
    fmt::print("{}/{} created\n", ToLower(r.kind), a->body["metadata"].value("name", r.meta.name));
    return 0;
  });
}

int ResourceCommands::Patch() {
  auto k = ServedKind(kind_);
  if (!k) return Die(k.error().message);
  if (Json::parse(patch_body_, nullptr, false).is_discarded())
    return Die("--patch: not valid JSON");
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call(
      "PATCH", Collection(**k, ctx_.ns) + "/" + name_, patch_body_,
      patch_type_ == "json" ? "application/json-patch+json" : "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  fmt::print("{}/{} patched\n", ToLower((*k)->kind), name_);
  return 0;
}

int ResourceCommands::Delete() {
  auto k = ServedKind(kind_);
  if (!k) return Die(k.error().message);
  Client c(ctx_, NoServer::kDefaultAddress);
  auto a = c.Call("DELETE", Collection(**k, ctx_.ns) + "/" + name_);
  if (!a) return Die(a.error().message);
  fmt::print("{}/{} deleted\n", ToLower((*k)->kind), name_);
  return 0;
}

int ResourceCommands::Logs() {
  RunLogOptions o{task_, step_, follow_};
  auto slash = name_.find('/');
  if (slash == std::string::npos) return RunLogs(ctx_, nullptr, name_, o);
  auto k = ServedKind(name_.substr(0, slash));
  if (!k) return Die(k.error().message);
  std::string name = name_.substr(slash + 1);
  if ((*k)->kind == "Rollout") return RolloutLogs(ctx_, name, revision_);
  if ((*k)->kind == "PipelineRun" || (*k)->kind == "TaskRun") return RunLogs(ctx_, *k, name, o);
  return Die(fmt::format(
      "logs of {}: give a run's NAME, pipelinerun/NAME, taskrun/NAME or rollout/NAME", name_));
}

}  // namespace strake::cli
