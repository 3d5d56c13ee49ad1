#include "cli/resources.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "base/fs.h"
#include "base/http.h"
#include "base/strings.h"
#include "base/unified_diff.h"
#include "cli/columns.h"
#include "cli/describe.h"
#include "cli/jsonpath.h"
#include "cli/pipelines.h"
#include "cli/rollouts.h"
#include "cli/table.h"
#include "model/decode.h"
#include "model/merge.h"

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

// The kinds `get all` lists: what runs, and what routes to it.
constexpr const char* kAllKinds[] = {"rollouts",     "deployments", "services",
                                     "jobs",         "experiments", "analysisruns",
                                     "pipelineruns", "taskruns",    "applications"};

// The path of a kind's collection in the context's namespace, or in all.
std::string CollectionFor(const model::KindInfo& k, const Context& ctx, bool all_namespaces) {
  if (!all_namespaces || !k.namespaced) return Collection(k, ctx.ns);
  return (k.api_version == "v1" ? "/api/v1/" : "/apis/" + k.api_version + "/") + k.plural;
}

// What `get` found of one kind: a whole kind listed, or named objects.
struct Found {
  const model::KindInfo* kind = nullptr;
  std::vector<Json> items;
  bool listed = false;
  std::string version;  // the list's resourceVersion
};

Result<Found> Fetch(const Context& ctx, const Target& t, const GetOptions& o) {
  Client c(ctx, NoServerFor(*t.kind));
  std::string path = CollectionFor(*t.kind, ctx, o.all_namespaces);
  if (!t.name.empty()) {
    path += "/" + t.name;
  } else if (!o.selector.empty()) {
    path += "?labelSelector=" + http::UrlEncode(o.selector);
  }
  STRAKE_TRY_ASSIGN(a, c.Call("GET", path));
  Found f{t.kind, {}, t.name.empty(), ""};
  if (!f.listed) {
    f.items.push_back(std::move(a.body));
    return f;
  }
  f.version = a.body.value("metadata", Json::object()).value("resourceVersion", "");
  if (a.body.contains("items") && a.body["items"].is_array()) {
    for (auto& item : a.body["items"]) f.items.push_back(std::move(item));
  }
  return f;
}

// One document of everything found: the object when one was named, the
// kind's list when one kind was listed, else a kubectl List.
Json DocumentOf(const std::vector<Found>& found) {
  if (found.size() == 1 && !found[0].listed && found[0].items.size() == 1) return found[0].items[0];
  Json items = Json::array();
  for (const Found& f : found) {
    for (const Json& item : f.items) items.push_back(item);
  }
  if (found.size() == 1 && found[0].listed) {
    const model::KindInfo& k = *found[0].kind;
    return {{"apiVersion", k.api_version},
            {"kind", k.kind + "List"},
            {"metadata", {{"resourceVersion", found[0].version}}},
            {"items", std::move(items)}};
  }
  return {{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(items)}};
}

std::string NamespaceOf(const Json& obj) {
  return obj.value("metadata", Json::object()).value("namespace", "");
}

std::vector<std::string> TableHeader(const model::KindInfo& k, bool wide, bool all_namespaces) {
  std::vector<std::string> h = Header(k);
  if (wide) {
    auto more = WideHeader(k);
    h.insert(h.end(), more.begin(), more.end());
  }
  if (all_namespaces && k.namespaced) h.insert(h.begin(), "NAMESPACE");
  return h;
}

std::vector<std::string> TableRow(const model::KindInfo& k, const Json& obj, bool wide,
                                  bool all_namespaces, bool qualified) {
  std::vector<std::string> r = Row(k, obj, std::chrono::system_clock::now());
  if (qualified) r[0] = QualifiedName(k, r[0]);
  if (wide) {
    auto more = WideRow(k, obj);
    r.insert(r.end(), more.begin(), more.end());
  }
  if (all_namespaces && k.namespaced) r.insert(r.begin(), NamespaceOf(obj));
  return r;
}

// Prints an object or list as -o json, yaml or jsonpath asks; false for the
// table outputs.
bool PrintAsDocument(const std::string& output, const Json& doc) {
  if (StartsWith(output, "jsonpath=")) {
    auto tmpl = JsonPath::Parse(output.substr(9));  // checked when parsing -o
    if (tmpl) fmt::print("{}", tmpl->Execute(doc));
    return true;
  }
  return PrintDocument(output, doc);
}

void PrintFound(const Context& ctx, const std::vector<Found>& found, const GetOptions& o,
                bool all) {
  if (PrintAsDocument(ctx.output, DocumentOf(found))) return;
  if (ctx.output == "name") {
    for (const Found& f : found) {
      for (const Json& item : f.items)
        fmt::print("{}\n", QualifiedName(*f.kind, item["metadata"].value("name", "")));
    }
    return;
  }
  bool wide = ctx.output == "wide";
  bool first = true;
  for (const Found& f : found) {
    if (f.items.empty()) {
      if (f.listed && !all) {
        fmt::print("No {} found{}\n", f.kind->plural,
                   o.all_namespaces || !f.kind->namespaced ? "" : " in namespace " + ctx.ns);
      }
      continue;
    }
    std::vector<std::vector<std::string>> rows{TableHeader(*f.kind, wide, o.all_namespaces)};
    for (const Json& item : f.items)
      rows.push_back(TableRow(*f.kind, item, wide, o.all_namespaces, all || found.size() > 1));
    if (!first) fmt::print("\n");
    first = false;
    PrintTable(rows);
  }
}

// `get -w`: the objects again, each time one changes, as kubectl prints
// them (a row under the table's columns, or the object as -o asks). It asks
// once a second, so that it works the same over a data directory and a
// server; Ctrl-C ends it.
int Watch(const Context& ctx, const std::vector<Target>& targets, const GetOptions& o,
          const std::vector<Found>& first) {
  std::map<std::string, std::string> seen;  // namespace/name -> resourceVersion
  auto key = [](const Json& obj) {
    return NamespaceOf(obj) + "/" + obj["metadata"].value("name", "");
  };
  auto version = [](const Json& obj) { return obj["metadata"].value("resourceVersion", ""); };
  for (const Found& f : first) {
    for (const Json& item : f.items) seen[key(item)] = version(item);
  }
  const model::KindInfo& k = *targets[0].kind;
  bool wide = ctx.output == "wide";
  TableColumns columns;  // as the first table printed them, widened by later rows
  columns.Widen(TableHeader(k, wide, o.all_namespaces));
  for (const Found& f : first) {
    for (const Json& item : f.items)
      columns.Widen(TableRow(k, item, wide, o.all_namespaces, first.size() > 1));
  }
  for (;;) {
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (const Target& t : targets) {
      auto now = Fetch(ctx, t, o);
      if (!now && !t.name.empty() && now.error().Is(ErrorCode::kNotFound)) continue;
      if (!now) return Die(now.error().message);
      for (const Json& item : now->items) {
        std::string& was = seen[key(item)];
        if (was == version(item)) continue;
        was = version(item);
        if (PrintAsDocument(ctx.output, item)) continue;
        if (ctx.output == "name") {
          fmt::print("{}\n", QualifiedName(k, item["metadata"].value("name", "")));
          continue;
        }
        fmt::print("{}", columns.Line(TableRow(k, item, wide, o.all_namespaces, first.size() > 1)));
      }
    }
  }
}

// What `describe` shows of an object, before its events.
Result<std::string> DescribeText(Client& c, const Context& ctx, const model::KindInfo& k,
                                 const Json& obj) {
  if (k.kind == "Rollout") return RolloutText(obj);
  if (k.kind == "PipelineRun" || k.kind == "TaskRun") return RunText(c, ctx, k, obj);
  if (k.kind == "Stage") {
    // The gates as the server sees them now (an older server has none).
    auto gates =
        c.Call("GET", Collection(k, ctx.ns) + "/" +
                          obj.value("metadata", Json::object()).value("name", "") + "/gates");
    if (!gates && gates.error().Is(ErrorCode::kNotFound)) return DescribeObject(obj);
    if (!gates) return DescribeObject(obj) + "Gates:  <error: " + gates.error().message + ">\n";
    return DescribeObject(obj) + DescribeStageGates(gates->body);
  }
  return DescribeObject(obj);
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

CLI::Validator OutputValidator() {
  return CLI::Validator(
      [](std::string& v) {
        auto ok = CheckOutput(v);
        return ok ? std::string() : ok.error().message;
      },
      "FORMAT");
}

}  // namespace

Result<std::vector<Target>> TargetsOf(const Context& ctx, const std::vector<std::string>& args) {
  auto targets = ParseTargets(args);
  if (targets || targets.error().code != ErrorCode::kInvalid || !LearnCustomKinds(ctx))
    return targets;
  return ParseTargets(args);
}

Result<std::vector<Target>> ParseTargets(const std::vector<std::string>& args) {
  if (args.empty()) return Fail(ErrorCode::kInvalid, "give a KIND and NAMEs, or KIND/NAME");
  std::vector<Target> out;
  if (args[0].find('/') == std::string::npos) {
    STRAKE_TRY_ASSIGN(kind, ServedKind(args[0]));
    if (args.size() == 1) return std::vector<Target>{{kind, ""}};
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i].find('/') != std::string::npos) {
        return Failf(ErrorCode::kInvalid,
                     "{}: a KIND/NAME needs no kind before it (give {} NAME, or KIND/NAME only)",
                     Quote(args[i]), args[0]);
      }
      out.push_back({kind, args[i]});
    }
    return out;
  }
  for (const auto& a : args) {
    size_t slash = a.find('/');
    if (slash == std::string::npos) {
      return Failf(ErrorCode::kInvalid,
                   "{}: once one argument is KIND/NAME, every one is (as kubectl takes them)",
                   Quote(a));
    }
    STRAKE_TRY_ASSIGN(kind, ServedKind(a.substr(0, slash)));
    std::string name = a.substr(slash + 1);
    if (name.empty() || name.find('/') != std::string::npos)
      return Failf(ErrorCode::kInvalid, "{}: not KIND/NAME", Quote(a));
    out.push_back({kind, std::move(name)});
  }
  return out;
}

Status CheckOutput(const std::string& output) {
  static const std::vector<std::string> kFormats = {"text", "wide", "name", "json", "yaml"};
  if (std::find(kFormats.begin(), kFormats.end(), output) != kFormats.end()) return Ok();
  if (StartsWith(output, "jsonpath=")) {
    auto parsed = JsonPath::Parse(output.substr(9));
    return parsed ? Ok() : Status(tl::unexpected(parsed.error()));
  }
  if (output == "jsonpath")
    return Fail(ErrorCode::kInvalid, "-o jsonpath=TEMPLATE: give the template");
  std::vector<std::string> names = kFormats;
  names.emplace_back("jsonpath");
  return Failf(ErrorCode::kInvalid,
               "unknown output format {}{}: text, wide, name, json, yaml or jsonpath=TEMPLATE",
               Quote(output), DidYouMean(output, names));
}

std::string QualifiedName(const model::KindInfo& k, const std::string& name) {
  size_t slash = k.api_version.find('/');
  std::string group = slash == std::string::npos ? "" : "." + k.api_version.substr(0, slash);
  return ToLower(k.kind) + group + "/" + name;
}

ResourceCommands::ResourceCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* apply = app.add_subcommand(
      "apply",
      "create or update resources from files (merged on the server: fields set by others are "
      "kept, fields the last apply set and these files no longer do are removed)");
  apply->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->required()
      ->type_name("FILE");
  apply->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  AddApiFlags(apply, ctx);
  table.Add(apply, [this] { return Apply(); });

  auto* diff = app.add_subcommand(
      "diff",
      "what `apply -f` would change, as a unified diff of YAML (the server merges without "
      "writing); exit status 1 when something would change");
  diff->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->required()
      ->type_name("FILE");
  diff->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  AddApiFlags(diff, ctx);
  table.Add(diff, [this] { return Diff(); });

  auto* create = app.add_subcommand(
      "create",
      "create resources from files; a run with only metadata.generateName (an AnalysisRun, "
      "an Experiment, a PipelineRun) is named by the server, a new one each time");
  create->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->required()
      ->type_name("FILE");
  create->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  AddApiFlags(create, ctx);
  table.Add(create, [this] { return Create(); });

  auto* get = app.add_subcommand(
      "get", "list resources, or show some: KIND [NAME...], KIND/NAME..., or all");
  get->add_option("what", args_, "KIND [NAME...], KIND/NAME... or all")->required();
  get->add_option("-o,--output", ctx.output, "text, wide, name, json, yaml or jsonpath=TEMPLATE")
      ->check(OutputValidator());
  get->add_option("-l,--selector", selector_, "label selector, e.g. app=web,tier");
  get->add_flag("-A,--all-namespaces", all_namespaces_, "every namespace's");
  get->add_flag("-w,--watch", watch_, "then print each object again when it changes (Ctrl-C ends)");
  AddApiFlags(get, ctx);
  table.Add(get, [this] { return Get(); });

  auto* describe = app.add_subcommand("describe", "show a resource in detail, with its events");
  describe->add_option("what", args_, "KIND NAME... or KIND/NAME...")->required();
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

  auto* del = app.add_subcommand(
      "delete", "delete resources: KIND NAME..., KIND/NAME..., or those of -f FILE");
  del->add_option("what", args_, "KIND NAME... or KIND/NAME...");
  del->add_option("-f,--filename", files_, "YAML or JSON files, directories, or - (stdin)")
      ->type_name("FILE");
  del->add_flag("-R,--recursive", recursive_, "-f DIR: its subdirectories' files too");
  del->add_flag("--ignore-not-found", ignore_not_found_, "a resource already gone is no error");
  AddApiFlags(del, ctx);
  table.Add(del, [this] { return files_.empty() ? Delete() : DeleteFiles(); });

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

int ResourceCommands::Get() {
  return GetResources(ctx_, args_, {selector_, all_namespaces_, watch_});
}

int GetResources(const Context& ctx, const std::vector<std::string>& args, const GetOptions& o) {
  bool all = args.size() == 1 && ToLower(args[0]) == "all";
  std::vector<Target> targets;
  if (all) {
    for (const char* kind : kAllKinds) targets.push_back({model::KindByName(kind), ""});
  } else {
    auto parsed = TargetsOf(ctx, args);
    if (!parsed) return Die(parsed.error().message);
    targets = std::move(*parsed);
  }
  bool named =
      std::any_of(targets.begin(), targets.end(), [](const Target& t) { return !t.name.empty(); });
  if (!o.selector.empty() && named) return Die("a label selector lists: give a kind without names");
  if (o.all_namespaces && named)
    return Die("a resource cannot be fetched by name across all namespaces: drop -A or the name");
  bool one_kind = std::all_of(targets.begin(), targets.end(),
                              [&](const Target& t) { return t.kind == targets[0].kind; });
  if (o.watch && (all || !one_kind)) return Die("-w watches objects of one kind");
  std::vector<Found> found;
  bool failed = false;
  std::string unreachable;  // `get all` without a server: the data directory's kinds only
  int fetched = 0;
  for (const Target& t : targets) {
    auto got = Fetch(ctx, t, o);
    if (!got && all && got.error().Is(ErrorCode::kUnavailable)) {
      if (unreachable.empty()) unreachable = got.error().message;
      continue;
    }
    if (!got) {
      fmt::print(stderr, "strake: {}\n", got.error().message);
      failed = true;
      continue;
    }
    ++fetched;
    // Named objects of one kind in a row share a table.
    if (found.empty() || found.back().kind != t.kind || got->listed || found.back().listed) {
      found.push_back(std::move(*got));
    } else {
      for (auto& item : got->items) found.back().items.push_back(std::move(item));
    }
  }
  if (failed && fetched == 0) return 2;  // nothing to show: as Die
  if (all) {
    std::erase_if(found, [](const Found& f) { return f.items.empty(); });
    if (found.empty() && ctx.output == "text")
      fmt::print("No resources found in namespace {}\n", ctx.ns);
  }
  if (!unreachable.empty())
    fmt::print(stderr, "strake: only the data directory's runs are listed: {}\n", unreachable);
  PrintFound(ctx, found, o, all);
  if (o.watch && !failed) return Watch(ctx, targets, o, found);
  return failed ? 1 : 0;
}

int ResourceCommands::Describe() {
  auto targets = TargetsOf(ctx_, args_);
  if (!targets) return Die(targets.error().message);
  size_t failed = 0;
  for (const Target& t : *targets) {
    if (t.name.empty()) return Die(fmt::format("describe {}: give a name", t.kind->plural));
    Client c(ctx_, NoServerFor(*t.kind));
    auto a = c.Call("GET", Collection(*t.kind, ctx_.ns) + "/" + t.name);
    if (!a) {
      fmt::print(stderr, "strake: {}\n", a.error().message);
      ++failed;
      continue;
    }
    if (PrintDocument(ctx_.output, a->body)) continue;
    auto text = DescribeText(c, ctx_, *t.kind, a->body);
    if (!text) return Die(text.error().message);
    fmt::print("{}", *text);
    PrintEvents(c, ctx_, *t.kind, t.name);
  }
  // As get: 1 when some could not be shown, 2 when none could.
  return failed == 0 ? 0 : failed == targets->size() ? 2 : 1;
}

// Loads and validates every file first, then calls `write` for each
// resource with its kind (one the API serves) and namespace (the file's, else
// -n); a write is then only refused for a reason the files cannot show (the
// server is gone, a conflict). The first failure ends it, with exit status 1.
int ResourceCommands::WriteEach(
    const std::string& verb,
    const std::function<int(Client&, const model::Resource&, const model::KindInfo&,
                            const std::string&)>& write) {
  auto files = model::ExpandFileArgs(files_, recursive_);
  if (!files) return Die(files.error().message);
  auto loaded = model::LoadFiles(*files);
  if (!loaded) return Die("invalid input:\n" + loaded.error().message);
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  Client c(ctx_, NoServer::kDefaultAddress);
  for (const auto& r : loaded->resources) {
    const model::KindInfo* k = model::KindOf(r.api_version, r.kind);
    // A custom resource: its CRD may be on the server (applied just now).
    if (!k && std::holds_alternative<model::StoredObject>(r.value) && LearnCustomKinds(ctx_))
      k = model::KindOf(r.api_version, r.kind);
    if (!k && std::holds_alternative<model::StoredObject>(r.value)) {
      return Die(
          fmt::format("{}: no CustomResourceDefinition on the server defines {} in {} "
                      "(apply it first)",
                      r.origin.file, r.kind, r.api_version));
    }
    if (!k || !k->served) {
      return Die(fmt::format("{}: {} cannot be {} on a server", r.origin.file, r.kind, verb));
    }
    std::string ns = r.raw["metadata"].contains("namespace") ? r.meta.ns : ctx_.ns;
    if (ns.empty()) ns = ctx_.ns;
    if (int status = write(c, r, *k, ns); status != 0) return status;
  }
  return 0;
}

namespace {

// "spec.steps[0].uses" at the start of `text` (up to ": "), or "".
std::string_view LeadingFieldPath(std::string_view text) {
  size_t end = text.find(": ");
  if (end == std::string_view::npos || end == 0) return {};
  std::string_view path = text.substr(0, end);
  for (char c : path) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '[' && c != ']' &&
        c != '_' && c != '-')
      return {};
  }
  return path;
}

// The error of a write of `r`: the server's message placed in r's file.
int WriteFailed(const model::Resource& r, const Error& e) {
  if (!e.Is(ErrorCode::kInvalid)) {
    const std::string prefix = ToLower(r.kind) + " " + r.meta.name + ": ";
    if (StartsWith(e.message, prefix)) return Die(e.message);
    return Die(prefix + e.message);
  }
  return Die(PlaceServerError(r, e.message));
}

}  // namespace

std::string PlaceServerError(const model::Resource& r, const std::string& message) {
  const std::string prefix = ToLower(r.kind) + " " + r.meta.name + ": ";
  const std::string own = r.document ? model::PlaceOf(r.origin.file, *r.document) : r.origin.file;
  std::string out;
  for (const auto& line : Split(message, '\n')) {
    std::string_view rest = line;
    while (StartsWith(rest, prefix)) rest.remove_prefix(prefix.size());
    std::string_view path = LeadingFieldPath(rest);
    const model::Node* at =
        r.document && !path.empty() ? model::NodeAtPath(*r.document, path) : nullptr;
    std::string place = at ? model::PlaceOf(r.origin.file, *at) : own;
    out += fmt::format("{}{}: {}{}", out.empty() ? "" : "\n", place, prefix, rest);
  }
  return out;
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
    if (!a) return WriteFailed(r, a.error());
    fmt::print("{}/{} {}\n", ToLower(r.kind), r.meta.name,
               a->status == 201 ? "created"
               : a->unchanged   ? "unchanged"
                                : "configured");
    return 0;
  });
}

namespace {

// An object as `diff` compares it: what a person wrote, without the
// server's bookkeeping (versions, uid, times, status, the last apply).
Json Comparable(Json obj) {
  if (!obj.is_object()) return obj;
  obj.erase("status");
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return obj;
  Json& meta = obj["metadata"];
  for (const char* field :
       {"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"})
    meta.erase(field);
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    meta["annotations"].erase(model::kLastApplied);
    if (meta["annotations"].empty()) meta.erase("annotations");
  }
  return obj;
}

}  // namespace

int ResourceCommands::Diff() {
  bool differs = false;
  int status = WriteEach("diffed", [&](Client& c, const model::Resource& r,
                                       const model::KindInfo& k, const std::string& ns) {
    if (r.meta.name.empty()) {
      return Die(fmt::format("{}: {} has only metadata.generateName: there is nothing to diff",
                             r.origin.file, ToLower(r.kind)));
    }
    std::string path = Collection(k, ns) + "/" + r.meta.name;
    auto live = c.Call("GET", path);
    if (!live && !live.error().Is(ErrorCode::kNotFound)) return Die(live.error().message);
    auto merged =
        c.Call("PATCH", path + "?dryRun=All", r.raw.dump(), "application/apply-patch+yaml");
    if (!merged)
      return Die(fmt::format("{} {}: {}", ToLower(r.kind), r.meta.name, merged.error().message));
    std::string name = QualifiedName(k, r.meta.name);
    std::string text =
        UnifiedDiff("live/" + name, live ? model::ToYaml(Comparable(live->body)) : "",
                    "merged/" + name, model::ToYaml(Comparable(merged->body)));
    fmt::print("{}", text);
    differs = differs || !text.empty();
    return 0;
  });
  return status != 0 ? status : differs ? 1 : 0;
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
    if (!a && !r.meta.name.empty()) return WriteFailed(r, a.error());
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

namespace {

// Deletes one; a resource already gone is only an error without --ignore-not-found.
// A PipelineRun a `strake run` is running on the data directory is not
// deleted under it (its steps would go on unrecorded): cancel it first.
int DeleteOne(Client& c, const Context& ctx, const model::KindInfo& k, const std::string& ns,
              const std::string& name, bool ignore_not_found) {
  if (k.kind == "PipelineRun" && c.server().empty()) {
    auto lock = TryLockFile(RunLockPath(ctx.data_dir, ns, name));
    if (!lock && lock.error().Is(ErrorCode::kConflict)) {
      fmt::print(stderr,
                 "strake: pipelinerun {} is being run by a strake process: `strake cancel {}` "
                 "first\n",
                 name, name);
      return 1;
    }
  }
  auto a = c.Call("DELETE", Collection(k, ns) + "/" + name);
  if (!a && ignore_not_found && a.error().Is(ErrorCode::kNotFound)) return 0;
  if (!a) {
    fmt::print(stderr, "strake: {}\n", a.error().message);
    return 1;
  }
  fmt::print("{}/{} deleted\n", ToLower(k.kind), name);
  return 0;
}

}  // namespace

int ResourceCommands::Delete() {
  if (args_.empty()) return Die("delete: give KIND NAME, KIND/NAME or -f FILE");
  auto targets = TargetsOf(ctx_, args_);
  if (!targets) return Die(targets.error().message);
  size_t failed = 0;
  for (const Target& t : *targets) {
    if (t.name.empty())
      return Die(fmt::format("delete {}: give a name (strake deletes nothing by kind alone)",
                             t.kind->plural));
  }
  for (const Target& t : *targets) {
    Client c(ctx_, NoServerFor(*t.kind));
    failed += DeleteOne(c, ctx_, *t.kind, ctx_.ns, t.name, ignore_not_found_) != 0 ? 1 : 0;
  }
  return failed == 0 ? 0 : failed == targets->size() ? 2 : 1;
}

// Every resource of the files, deleted in the order written; each one that
// cannot be is said, and the others are still deleted (exit status 1).
int ResourceCommands::DeleteFiles() {
  if (!args_.empty()) return Die("delete: give names or -f FILE, not both");
  int status = 0;
  int written = WriteEach("deleted", [&](Client&, const model::Resource& r,
                                         const model::KindInfo& k, const std::string& ns) {
    if (r.meta.name.empty()) {
      fmt::print(stderr, "strake: {}: {} has no name to delete by\n", r.origin.file,
                 ToLower(r.kind));
      status = 1;
      return 0;
    }
    Client c(ctx_, NoServerFor(k));
    status = std::max(status, DeleteOne(c, ctx_, k, ns, r.meta.name, ignore_not_found_));
    return 0;
  });
  return std::max(status, written);
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
